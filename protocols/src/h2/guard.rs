//! A frame-layer guard in front of the `h2` server: it checks the frame-size and SETTINGS
//! rules of RFC 9113 that h2 0.4 answers with the wrong error code (PROTOCOL_ERROR where the
//! RFC requires FRAME_SIZE_ERROR or FLOW_CONTROL_ERROR), and answers those itself with a
//! GOAWAY carrying the right code, then ends the connection.
//!
//! [`FrameCheck`] is the sans-IO part: it follows the client's byte stream (preface, then
//! frames) and reports the first violation. [`Guarded`] wraps the transport: bytes up to the
//! offending frame reach h2, then h2 sees end of stream; the GOAWAY is written between two of
//! h2's own frames (the guard follows h2's output framing too, so it never splits a frame).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE_LEN: usize = 24;
/// FRAME_SIZE_ERROR.
pub(crate) const FRAME_SIZE_ERROR: u32 = 0x6;
/// FLOW_CONTROL_ERROR.
pub(crate) const FLOW_CONTROL_ERROR: u32 = 0x3;
/// STREAM_CLOSED.
pub(crate) const STREAM_CLOSED: u32 = 0x5;
/// Client streams whose END_STREAM the guard remembers (the oldest are forgotten).
const ENDED_MEMORY: usize = 4096;

/// A rule the peer broke: answer GOAWAY(`code`) naming `last_stream`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) code: u32,
    pub(crate) last_stream: u32,
    /// Bytes of the input before the offending frame (what h2 may still see).
    pub(crate) clean: usize,
}

/// Follows a client→server HTTP/2 byte stream.
#[derive(Debug)]
pub(crate) struct FrameCheck {
    max_frame: u32,
    preface_left: usize,
    head: [u8; 9],
    head_len: usize,
    /// Payload bytes of the current frame still to come.
    remaining: u32,
    ftype: u8,
    /// SETTINGS payload collected so far (to check values).
    settings: Vec<u8>,
    highest_stream: u32,
    /// Streams the client ended (END_STREAM): more DATA or HEADERS on them is STREAM_CLOSED
    /// (RFC 9113 5.1, half-closed (remote) and closed; h2 0.4 says PROTOCOL_ERROR).
    ended: std::collections::BTreeSet<u32>,
    /// Complete frames seen (the first is the client's SETTINGS).
    frames: u64,
}

impl FrameCheck {
    /// A check for a server that announced `max_frame` as SETTINGS_MAX_FRAME_SIZE.
    pub(crate) fn new(max_frame: u32) -> FrameCheck {
        FrameCheck {
            max_frame,
            preface_left: PREFACE_LEN,
            head: [0; 9],
            head_len: 0,
            remaining: 0,
            ftype: 0,
            settings: Vec::new(),
            highest_stream: 0,
            ended: std::collections::BTreeSet::new(),
            frames: 0,
        }
    }

    /// Scans `data` (the next bytes from the client).
    pub(crate) fn scan(&mut self, data: &[u8]) -> Result<(), Violation> {
        let mut i = 0;
        while i < data.len() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(data.len() - i);
                self.preface_left -= n;
                i += n;
                continue;
            }
            if self.remaining == 0 && self.head_len < 9 {
                let frame_start = i - self.head_len.min(i);
                let n = (9 - self.head_len).min(data.len() - i);
                self.head[self.head_len..self.head_len + n].copy_from_slice(&data[i..i + n]);
                self.head_len += n;
                i += n;
                if self.head_len == 9 {
                    if let Err(code) = self.on_header() {
                        return Err(self.violation(code, frame_start));
                    }
                    if self.remaining == 0 {
                        self.finish_frame()
                            .map_err(|c| self.violation(c, frame_start))?;
                    }
                }
                continue;
            }
            let n = (self.remaining as usize).min(data.len() - i);
            if self.ftype == 0x4 {
                self.settings.extend_from_slice(&data[i..i + n]);
            }
            self.remaining -= n as u32;
            i += n;
            if self.remaining == 0 {
                let start = i.saturating_sub(n + 9);
                self.finish_frame().map_err(|c| self.violation(c, start))?;
            }
        }
        Ok(())
    }

    fn violation(&self, code: u32, clean: usize) -> Violation {
        Violation {
            code,
            last_stream: self.highest_stream,
            clean,
        }
    }

    /// Checks a complete frame header; `Err(code)` on a size violation.
    fn on_header(&mut self) -> Result<(), u32> {
        let h = &self.head;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let (ftype, flags) = (h[3], h[4]);
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7FFF_FFFF;
        if len > self.max_frame {
            return Err(FRAME_SIZE_ERROR);
        }
        let fixed = match ftype {
            0x2 => Some(5),                     // PRIORITY
            0x3 | 0x8 => Some(4),               // RST_STREAM, WINDOW_UPDATE
            0x6 => Some(8),                     // PING
            0x4 if flags & 0x1 != 0 => Some(0), // SETTINGS ACK
            _ => None,
        };
        if fixed.is_some_and(|f| f != len) || (ftype == 0x4 && len % 6 != 0) {
            return Err(FRAME_SIZE_ERROR);
        }
        if ftype == 0x1 && stream % 2 == 1 {
            self.highest_stream = self.highest_stream.max(stream);
        }
        if matches!(ftype, 0x0 | 0x1) && stream != 0 {
            if self.ended.contains(&stream) {
                return Err(STREAM_CLOSED);
            }
            if flags & 0x1 != 0 {
                self.ended.insert(stream);
                if self.ended.len() > ENDED_MEMORY {
                    self.ended.pop_first();
                }
            }
        }
        self.ftype = ftype;
        self.remaining = len;
        self.settings.clear();
        Ok(())
    }

    /// A frame ended: checks SETTINGS values and readies for the next header.
    fn finish_frame(&mut self) -> Result<(), u32> {
        self.head_len = 0;
        self.frames += 1;
        if self.ftype == 0x4 {
            for s in self.settings.chunks_exact(6) {
                let id = u16::from_be_bytes([s[0], s[1]]);
                let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                if id == 0x4 && v > 0x7FFF_FFFF {
                    return Err(FLOW_CONTROL_ERROR);
                }
            }
            self.settings.clear();
        }
        Ok(())
    }
}

/// Follows a server→client frame stream to know where frames end.
#[derive(Debug, Default)]
struct OutFrames {
    head: [u8; 9],
    head_len: usize,
    remaining: usize,
}

impl OutFrames {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining == 0 {
                let n = (9 - self.head_len).min(data.len());
                self.head[self.head_len..self.head_len + n].copy_from_slice(&data[..n]);
                self.head_len += n;
                data = &data[n..];
                if self.head_len == 9 {
                    self.remaining =
                        u32::from_be_bytes([0, self.head[0], self.head[1], self.head[2]]) as usize;
                    self.head_len = 0;
                }
            } else {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
            }
        }
    }
    fn at_boundary(&self) -> bool {
        self.remaining == 0 && self.head_len == 0
    }
}

enum GuardState {
    Open,
    /// GOAWAY bytes to write (from `.1`), then end.
    GoAway(Vec<u8>, usize),
    Done,
}

/// A transport wrapped by the guard (see the module docs).
pub(crate) struct Guarded<S> {
    inner: S,
    check: FrameCheck,
    out: OutFrames,
    state: GuardState,
    /// Complete client frames so far, for the connection's deadlines.
    frames: std::rc::Rc<std::cell::Cell<u64>>,
    /// How the server's writes fare, for the connection's send deadline.
    writes: std::rc::Rc<WriteProgress>,
}

/// Bytes the server wrote to the transport, and whether its last write is waiting for the
/// client to read (the transport said "pending"). A connection whose writes wait a whole send
/// deadline without a byte going out has a client that does not read.
#[derive(Debug, Default)]
pub(crate) struct WriteProgress {
    pub(crate) written: std::cell::Cell<u64>,
    pub(crate) blocked: std::cell::Cell<bool>,
}

impl<S> Guarded<S> {
    pub(crate) fn new(inner: S, max_frame: u32) -> Guarded<S> {
        Guarded {
            inner,
            check: FrameCheck::new(max_frame),
            out: OutFrames::default(),
            state: GuardState::Open,
            frames: Default::default(),
            writes: Default::default(),
        }
    }
    /// The server's write progress, updated as h2 writes.
    pub(crate) fn write_progress(&self) -> std::rc::Rc<WriteProgress> {
        self.writes.clone()
    }
    /// A counter of the client's complete frames, updated as they are read.
    pub(crate) fn frame_counter(&self) -> std::rc::Rc<std::cell::Cell<u64>> {
        self.frames.clone()
    }
}

fn goaway(v: &Violation) -> Vec<u8> {
    let mut f = vec![0, 0, 8, 0x7, 0, 0, 0, 0, 0];
    f.extend_from_slice(&v.last_stream.to_be_bytes());
    f.extend_from_slice(&v.code.to_be_bytes());
    f
}

impl<S: AsyncWrite + Unpin> Guarded<S> {
    /// Writes the pending GOAWAY (between h2's frames), then shuts the write side.
    fn poll_goaway(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                GuardState::Open | GuardState::Done => return Poll::Ready(Ok(())),
                GuardState::GoAway(bytes, at) => {
                    if *at == 0 && !self.out.at_boundary() {
                        // h2 is mid-frame: let it finish first.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    while *at < bytes.len() {
                        let n = std::task::ready!(
                            Pin::new(&mut self.inner).poll_write(cx, &bytes[*at..])
                        )?;
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        *at += n;
                    }
                    std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
                    self.state = GuardState::Done;
                    let _ = Pin::new(&mut self.inner).poll_shutdown(cx);
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !matches!(this.state, GuardState::Open) {
            std::task::ready!(this.poll_goaway(cx))?;
            return Poll::Ready(Ok(())); // end of stream for h2
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        let scanned = this.check.scan(new);
        this.frames.set(this.check.frames);
        if let Err(v) = scanned {
            // h2 sees the bytes before the offending frame, then end of stream.
            buf.set_filled(before + v.clean.min(new.len()));
            this.state = GuardState::GoAway(goaway(&v), 0);
            if buf.filled().len() == before {
                std::task::ready!(this.poll_goaway(cx))?;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.state {
            GuardState::Open => {}
            GuardState::GoAway(_, 0) if !this.out.at_boundary() => {}
            _ => {
                std::task::ready!(this.poll_goaway(cx))?;
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
        }
        let Poll::Ready(n) = Pin::new(&mut this.inner).poll_write(cx, data) else {
            this.writes.blocked.set(true);
            return Poll::Pending;
        };
        let n = n?;
        this.writes.blocked.set(false);
        this.writes
            .written
            .set(this.writes.written.get() + n as u64);
        this.out.feed(&data[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.writes.blocked.set(r.is_pending());
        r
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if matches!(this.state, GuardState::GoAway(..)) {
            std::task::ready!(this.poll_goaway(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(ftype: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let n = payload.len() as u32;
        let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, ftype, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn scan_bytewise(input: &[u8]) -> Result<(), Violation> {
        let mut c = FrameCheck::new(16_384);
        for b in input {
            c.scan(std::slice::from_ref(b))?;
        }
        Ok(())
    }

    #[test]
    fn valid_streams_pass_whole_or_byte_by_byte() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        input.extend(frame(0x6, 0, 0, b"12345678"));
        input.extend(frame(0x1, 0x4, 1, b"\x82\x86\x84"));
        input.extend(frame(0x0, 0x1, 1, &vec![7u8; 16_384]));
        assert_eq!(FrameCheck::new(16_384).scan(&input), Ok(()));
        assert_eq!(scan_bytewise(&input), Ok(()));
    }

    #[test]
    fn size_rules_give_frame_size_error_at_the_offending_frame() {
        let bad = [
            frame(0x6, 0, 0, b"1234567"),
            frame(0x8, 0, 0, b"\0\0\x01"),
            frame(0x3, 0, 1, b"\0\0\x08"),
            frame(0x2, 0, 1, b"\0\0\0\x03"),
            frame(0x4, 0x1, 0, &[0, 3, 0, 0, 0, 1]),
            frame(0x4, 0, 0, &[0, 3, 0, 0, 0]),
            frame(0x0, 0, 1, &vec![0u8; 16_385]),
        ];
        for b in bad {
            let mut input = PREFACE.to_vec();
            input.extend(frame(0x4, 0, 0, &[]));
            let clean = input.len();
            input.extend(&b);
            let v = FrameCheck::new(16_384).scan(&input).unwrap_err();
            assert_eq!(
                (v.code, v.clean),
                (FRAME_SIZE_ERROR, clean),
                "{:?}",
                &b[..9]
            );
            assert_eq!(scan_bytewise(&input).unwrap_err().code, FRAME_SIZE_ERROR);
        }
    }

    #[test]
    fn frames_after_end_stream_are_stream_closed() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x1, 0x5, 1, b"\x82"));
        input.extend(frame(0x0, 0x0, 3, b"other stream is fine"));
        assert_eq!(FrameCheck::new(16_384).scan(&input), Ok(()));
        input.extend(frame(0x0, 0x0, 1, b"late"));
        assert_eq!(
            FrameCheck::new(16_384).scan(&input).unwrap_err().code,
            STREAM_CLOSED
        );
    }

    #[test]
    fn an_initial_window_above_2_31_is_a_flow_control_error() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x1, 0x5, 3, b"\x82"));
        input.extend(frame(0x4, 0, 0, &[0, 4, 0x80, 0, 0, 0]));
        let v = FrameCheck::new(16_384).scan(&input).unwrap_err();
        assert_eq!((v.code, v.last_stream), (FLOW_CONTROL_ERROR, 3));
    }
}
