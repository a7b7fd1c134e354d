//! The frame codec (RFC 6455 §5.2): 7/16/64-bit lengths (minimal encoding required), masking,
//! reserved bits, opcodes, control-frame rules, a maximum payload size.

/// Frame opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// Continuation of a fragmented message.
    Continuation,
    /// First frame of a text message.
    Text,
    /// First frame of a binary message.
    Binary,
    /// Close.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

impl OpCode {
    fn from_u8(b: u8) -> Option<OpCode> {
        Some(match b {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }
    fn to_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
        }
    }
    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// Final fragment.
    pub fin: bool,
    /// RSV1 (compressed, with permessage-deflate).
    pub rsv1: bool,
    /// Opcode.
    pub opcode: OpCode,
    /// Masking key, if masked.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

/// A frame that breaks RFC 6455 (close with 1002, or 1009 for size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// RSV bits set without an extension that defines them.
    #[error("reserved bits set")]
    ReservedBits,
    /// An undefined opcode.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u8),
    /// A control frame with FIN clear.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame longer than 125 bytes.
    #[error("control frame longer than 125 bytes")]
    ControlTooLong,
    /// A length not in its shortest form.
    #[error("non-minimal payload length")]
    NonMinimalLength,
    /// A 64-bit length with the top bit set.
    #[error("payload length with the most significant bit set")]
    LengthHighBit,
    /// Longer than the configured maximum frame.
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(u64),
}

/// Decodes the header at the start of `buf`: `Ok(None)` until it is complete, then the header
/// and its length in bytes. The payload follows.
pub fn decode_frame(
    buf: &[u8],
    max_payload: u64,
    rsv1_allowed: bool,
) -> Result<Option<(FrameHead, usize)>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x30 != 0 || (b0 & 0x40 != 0 && !rsv1_allowed) {
        return Err(FrameError::ReservedBits);
    }
    let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(FrameError::UnknownOpcode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            let l = u16::from_be_bytes([buf[2], buf[3]]) as u64;
            if l < 126 {
                return Err(FrameError::NonMinimalLength);
            }
            (l, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let l = u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes"));
            if l >> 63 != 0 {
                return Err(FrameError::LengthHighBit);
            }
            if l <= 0xFFFF {
                return Err(FrameError::NonMinimalLength);
            }
            (l, 10)
        }
        l => (l as u64, 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::FragmentedControl);
        }
        if len > 125 {
            return Err(FrameError::ControlTooLong);
        }
        if rsv1 {
            return Err(FrameError::ReservedBits);
        }
    }
    if len > max_payload {
        return Err(FrameError::TooLarge(len));
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    Ok(Some((
        FrameHead {
            fin,
            rsv1,
            opcode,
            mask,
            len,
        },
        at,
    )))
}

/// XORs `data` with `mask`, starting `offset` bytes into the payload.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[(offset + i) & 3];
    }
}

/// Appends a frame carrying `payload` (masked with `mask` if given).
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    out.push((fin as u8) << 7 | (rsv1 as u8) << 6 | opcode.to_u8());
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], k, 0);
        }
        None => out.extend_from_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_section_5_7_examples() {
        let hello = b"Hello";
        let mut out = Vec::new();
        encode_frame(&mut out, true, false, OpCode::Text, None, hello);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode_frame(
            &mut out,
            true,
            false,
            OpCode::Text,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            hello,
        );
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        let (h, n) = decode_frame(&out, 1 << 20, false).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.len, n),
            (true, OpCode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), 5, 6)
        );
        // Fragmented unmasked text "Hel" + "lo".
        assert!(
            !decode_frame(&[0x01, 0x03, 0x48, 0x65, 0x6c], 99, false)
                .unwrap()
                .unwrap()
                .0
                .fin
        );
        assert_eq!(
            decode_frame(&[0x80, 0x02, 0x6c, 0x6f], 99, false)
                .unwrap()
                .unwrap()
                .0
                .opcode,
            OpCode::Continuation
        );
        // Unmasked ping "Hello" and a 256-byte binary with a 16-bit length.
        assert_eq!(
            decode_frame(&[0x89, 0x05], 99, false)
                .unwrap()
                .unwrap()
                .0
                .opcode,
            OpCode::Ping
        );
        out.clear();
        encode_frame(&mut out, true, false, OpCode::Binary, None, &[0u8; 256]);
        assert_eq!(&out[..4], [0x82, 0x7E, 0x01, 0x00]);
        out.clear();
        encode_frame(
            &mut out,
            true,
            false,
            OpCode::Binary,
            None,
            &vec![0u8; 65536],
        );
        assert_eq!(
            &out[..10],
            [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
    }

    #[test]
    fn protocol_violations() {
        assert_eq!(
            decode_frame(&[0x91, 0x00], 99, false),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(
            decode_frame(&[0xC1, 0x00], 99, false),
            Err(FrameError::ReservedBits)
        );
        assert!(decode_frame(&[0xC1, 0x00], 99, true).is_ok());
        assert_eq!(
            decode_frame(&[0x83, 0x00], 99, false),
            Err(FrameError::UnknownOpcode(3))
        );
        assert_eq!(
            decode_frame(&[0x09, 0x00], 99, false),
            Err(FrameError::FragmentedControl)
        );
        assert_eq!(
            decode_frame(&[0x89, 0x7E, 0x00, 0x7E], 999, false),
            Err(FrameError::ControlTooLong)
        );
        assert_eq!(
            decode_frame(&[0x82, 0x7E, 0x00, 0x05], 999, false),
            Err(FrameError::NonMinimalLength)
        );
        assert_eq!(
            decode_frame(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], u64::MAX, false),
            Err(FrameError::LengthHighBit)
        );
        assert_eq!(
            decode_frame(&[0x82, 0x7E, 0x10, 0x00], 1000, false),
            Err(FrameError::TooLarge(4096))
        );
        assert_eq!(decode_frame(&[0x82], 1000, false), Ok(None));
    }
}
