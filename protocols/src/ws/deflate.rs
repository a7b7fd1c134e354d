//! permessage-deflate (RFC 7692): raw DEFLATE per message, sync-flushed with the trailing
//! `00 00 ff ff` removed; contexts kept across messages unless "no context takeover" was
//! agreed. Inflation is bounded (no decompression bombs).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compressor and decompressor of one connection.
pub struct Deflate {
    comp: Compress,
    decomp: Decompress,
    reset_comp: bool,
    reset_decomp: bool,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deflate")
    }
}

impl Deflate {
    /// `own_no_takeover`: reset our compressor per message; `peer_no_takeover`: the peer
    /// resets, so we reset our decompressor.
    pub fn new(own_no_takeover: bool, peer_no_takeover: bool) -> Deflate {
        Deflate {
            comp: Compress::new(Compression::default(), false),
            decomp: Decompress::new(false),
            reset_comp: own_no_takeover,
            reset_decomp: peer_no_takeover,
        }
    }

    /// Compresses one message payload.
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut input = data;
        // Feed all input, then keep flushing until the sync marker is out: a flush that ran
        // out of room leaves bytes inside the compressor, which would otherwise end up at the
        // start of the next message (Autobahn 12.2.9 caught exactly that).
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let before_in = self.comp.total_in();
            self.comp
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("in-memory deflate cannot fail");
            input = &input[(self.comp.total_in() - before_in) as usize..];
            if input.is_empty() && out.len() < out.capacity() && out.ends_with(&[0, 0, 0xff, 0xff])
            {
                break;
            }
        }
        out.truncate(out.len() - 4);
        if self.reset_comp {
            self.comp.reset();
        }
        out
    }

    /// Inflates one message payload; `None` if it is invalid or would exceed `max` bytes.
    pub fn decompress(&mut self, data: &[u8], max: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity((data.len() * 3).min(max) + 64);
        for input in [data, &[0, 0, 0xff, 0xff][..]] {
            let mut input = input;
            // Call until a call neither consumes input nor produces output: the inflater may
            // hold decoded bytes back even with room in `out`, and they belong to this message.
            loop {
                if out.capacity() - out.len() < 1024 {
                    if out.len() >= max {
                        return None;
                    }
                    let room = (max + 1).saturating_sub(out.len()).max(1);
                    out.reserve(out.capacity().max(4096).min(room));
                }
                let (in0, out0) = (self.decomp.total_in(), self.decomp.total_out());
                let st = self
                    .decomp
                    .decompress_vec(input, &mut out, FlushDecompress::Sync)
                    .ok()?;
                input = &input[(self.decomp.total_in() - in0) as usize..];
                if out.len() > max {
                    return None;
                }
                let progressed = self.decomp.total_in() != in0 || self.decomp.total_out() != out0;
                if st == Status::StreamEnd || (input.is_empty() && !progressed) {
                    break;
                }
            }
        }
        if self.reset_decomp {
            self.decomp.reset(false);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7692_section_7_2_3_hello() {
        let mut d = Deflate::new(false, false);
        assert_eq!(
            d.compress(b"Hello"),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        let mut i = Deflate::new(false, false);
        assert_eq!(
            i.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100)
                .unwrap(),
            b"Hello"
        );
        // With context takeover the second "Hello" refers back to the first.
        let second = d.compress(b"Hello");
        assert!(second.len() < 7, "{second:x?}");
        assert_eq!(i.decompress(&second, 100).unwrap(), b"Hello");
    }

    #[test]
    fn large_messages_flush_completely_with_context_takeover() {
        // Incompressible and compressible 64 KiB messages, back to back on one context.
        let mut rng = testbed_model::SeededRng::new(9);
        let (mut c, mut d) = (Deflate::new(false, false), Deflate::new(false, false));
        for i in 0..50u64 {
            let mut msg = vec![0u8; 65536];
            if i % 2 == 0 {
                testbed_model::Rng::fill_bytes(&mut rng, &mut msg);
            } else {
                msg.iter_mut()
                    .enumerate()
                    .for_each(|(j, b)| *b = (j % 251) as u8);
            }
            let z = c.compress(&msg);
            assert_eq!(d.decompress(&z, 1 << 20).unwrap(), msg, "message {i}");
        }
    }

    #[test]
    fn inflation_is_bounded() {
        let mut d = Deflate::new(false, false);
        let bomb = d.compress(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 2048);
        assert!(Deflate::new(false, false)
            .decompress(&bomb, 64 * 1024)
            .is_none());
        assert_eq!(
            Deflate::new(false, false)
                .decompress(&bomb, 2 << 20)
                .unwrap()
                .len(),
            1 << 20
        );
    }
}
