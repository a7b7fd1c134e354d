//! The message layer: reassembles fragments (control frames may interleave), validates UTF-8
//! incrementally (fail fast, also across fragments), enforces size limits, inflates
//! compressed messages, checks close frames, and maps every violation to its close code.

use super::deflate::Deflate;
use super::frame::{apply_mask, decode_frame, FrameError, OpCode};

/// Which end we are: servers require masked frames, clients require unmasked ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepted the connection.
    Server,
    /// Opened the connection.
    Client,
}

/// Close status codes (RFC 6455 §7.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// Normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// Protocol error.
    pub const PROTOCOL: CloseCode = CloseCode(1002);
    /// Invalid payload data (bad UTF-8).
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// Policy violation (also: a peer that stopped answering pings).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// Message too big.
    pub const TOO_BIG: CloseCode = CloseCode(1009);

    /// Whether a peer may send this code in a close frame.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

/// Size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest frame payload.
    pub max_frame: u64,
    /// Largest message (after inflation).
    pub max_message: usize,
}

impl Default for WsLimits {
    /// 16 MiB frames and messages.
    fn default() -> Self {
        WsLimits {
            max_frame: 16 << 20,
            max_message: 16 << 20,
        }
    }
}

/// What arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete text message.
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A ping (answer with a pong carrying the same data).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// The peer's close frame: its code and reason, if it sent one.
    Close(Option<(u16, String)>),
}

struct Partial {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    utf8_ok: usize,
}

/// Checks `data[*ok..]` as UTF-8: `Err` on an invalid sequence, else advances `*ok` past the
/// valid prefix (an incomplete sequence at the end may still be completed later).
fn utf8_step(data: &[u8], ok: &mut usize) -> Result<(), ()> {
    match std::str::from_utf8(&data[*ok..]) {
        Ok(_) => {
            *ok = data.len();
            Ok(())
        }
        Err(e) if e.error_len().is_some() => Err(()),
        Err(e) => {
            *ok += e.valid_up_to();
            Ok(())
        }
    }
}

/// Turns bytes into [`Event`]s for one end of a connection.
pub struct MessageLayer {
    role: Role,
    limits: WsLimits,
    deflate: Option<Deflate>,
    partial: Option<Partial>,
}

impl std::fmt::Debug for MessageLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageLayer")
            .field("role", &self.role)
            .finish()
    }
}

type Violation = (CloseCode, &'static str);

fn frame_violation(e: FrameError) -> Violation {
    match e {
        FrameError::TooLarge(_) => (CloseCode::TOO_BIG, "frame too large"),
        _ => (CloseCode::PROTOCOL, "protocol error"),
    }
}

impl MessageLayer {
    /// A layer for `role`, with permessage-deflate if `deflate` is given.
    pub fn new(role: Role, limits: WsLimits, deflate: Option<Deflate>) -> Self {
        MessageLayer {
            role,
            limits,
            deflate,
            partial: None,
        }
    }

    /// Consumes one frame from the start of `buf` if it is complete: `Ok(None)` means read
    /// more; `Ok(Some((event, n)))` consumed `n` bytes (event `None` for a non-final fragment);
    /// `Err` gives the close code to fail the connection with.
    #[allow(clippy::type_complexity)]
    pub fn handle(&mut self, buf: &[u8]) -> Result<Option<(Option<Event>, usize)>, Violation> {
        let Some((head, hlen)) = decode_frame(buf, self.limits.max_frame, self.deflate.is_some())
            .map_err(frame_violation)?
        else {
            return Ok(None);
        };
        match (self.role, head.mask) {
            (Role::Server, None) => {
                return Err((CloseCode::PROTOCOL, "client frames must be masked"))
            }
            (Role::Client, Some(_)) => {
                return Err((CloseCode::PROTOCOL, "server frames must not be masked"))
            }
            _ => {}
        }
        let total = hlen + head.len as usize;
        if buf.len() < total {
            return Ok(None);
        }
        let mut payload = buf[hlen..total].to_vec();
        if let Some(m) = head.mask {
            apply_mask(&mut payload, m, 0);
        }
        let event = match head.opcode {
            OpCode::Ping => Some(Event::Ping(payload)),
            OpCode::Pong => Some(Event::Pong(payload)),
            OpCode::Close => Some(Event::Close(close_payload(&payload)?)),
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Err((
                        CloseCode::PROTOCOL,
                        "new message before the previous one ended",
                    ));
                }
                let p = Partial {
                    text: head.opcode == OpCode::Text,
                    compressed: head.rsv1,
                    data: Vec::new(),
                    utf8_ok: 0,
                };
                self.partial = Some(p);
                self.append(payload, head.fin)?
            }
            OpCode::Continuation => {
                if self.partial.is_none() {
                    return Err((CloseCode::PROTOCOL, "continuation without a message"));
                }
                if head.rsv1 {
                    return Err((CloseCode::PROTOCOL, "RSV1 on a continuation frame"));
                }
                self.append(payload, head.fin)?
            }
        };
        Ok(Some((event, total)))
    }

    fn append(&mut self, payload: Vec<u8>, fin: bool) -> Result<Option<Event>, Violation> {
        let p = self.partial.as_mut().expect("checked by caller");
        if p.data.len() + payload.len() > self.limits.max_message {
            return Err((CloseCode::TOO_BIG, "message too large"));
        }
        p.data.extend_from_slice(&payload);
        if p.text && !p.compressed && utf8_step(&p.data, &mut p.utf8_ok).is_err() {
            return Err((CloseCode::INVALID_DATA, "invalid UTF-8"));
        }
        if !fin {
            return Ok(None);
        }
        let mut p = self.partial.take().expect("present");
        if p.compressed {
            let d = self
                .deflate
                .as_mut()
                .ok_or((CloseCode::PROTOCOL, "compressed without permessage-deflate"))?;
            p.data = d
                .decompress(&p.data, self.limits.max_message)
                .ok_or((CloseCode::TOO_BIG, "inflated message invalid or too large"))?;
            p.utf8_ok = 0;
        }
        if p.text {
            return match String::from_utf8(p.data) {
                Ok(s) => Ok(Some(Event::Text(s))),
                Err(_) => Err((CloseCode::INVALID_DATA, "invalid UTF-8")),
            };
        }
        Ok(Some(Event::Binary(p.data)))
    }

    /// Compresses an outgoing message payload if deflate is on: (payload, rsv1).
    pub fn outgoing(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        match &mut self.deflate {
            Some(d) => (d.compress(data), true),
            None => (data.to_vec(), false),
        }
    }
}

fn close_payload(p: &[u8]) -> Result<Option<(u16, String)>, Violation> {
    match p.len() {
        0 => Ok(None),
        1 => Err((CloseCode::PROTOCOL, "one-byte close payload")),
        _ => {
            let code = u16::from_be_bytes([p[0], p[1]]);
            if !CloseCode(code).is_valid_on_wire() {
                return Err((CloseCode::PROTOCOL, "invalid close code"));
            }
            let reason = std::str::from_utf8(&p[2..])
                .map_err(|_| (CloseCode::INVALID_DATA, "invalid UTF-8 in close reason"))?;
            Ok(Some((code, reason.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::encode_frame;

    fn frames(list: &[(bool, OpCode, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (fin, op, data) in list {
            encode_frame(&mut out, *fin, false, *op, Some([1, 2, 3, 4]), data);
        }
        out
    }

    fn run(buf: &[u8]) -> Result<Vec<Event>, CloseCode> {
        let mut m = MessageLayer::new(
            Role::Server,
            WsLimits {
                max_frame: 1000,
                max_message: 2000,
            },
            None,
        );
        let mut at = 0;
        let mut out = Vec::new();
        while let Some((e, n)) = m.handle(&buf[at..]).map_err(|(c, _)| c)? {
            at += n;
            out.extend(e);
        }
        Ok(out)
    }

    #[test]
    fn fragments_with_an_interleaved_ping() {
        let b = frames(&[
            (false, OpCode::Text, b"Hel"),
            (true, OpCode::Ping, b"p"),
            (true, OpCode::Continuation, b"lo"),
        ]);
        assert_eq!(
            run(&b).unwrap(),
            vec![Event::Ping(b"p".to_vec()), Event::Text("Hello".into())]
        );
    }

    #[test]
    fn utf8_fails_fast_even_mid_message() {
        // "κ" is ce ba; split across fragments is fine, an invalid byte is not (1007 at once).
        assert_eq!(
            run(&frames(&[
                (false, OpCode::Text, b"\xce"),
                (true, OpCode::Continuation, b"\xba")
            ]))
            .unwrap(),
            vec![Event::Text("κ".into())]
        );
        assert_eq!(
            run(&frames(&[(false, OpCode::Text, b"ok\xff")])),
            Err(CloseCode::INVALID_DATA)
        );
        assert_eq!(
            run(&frames(&[(true, OpCode::Text, b"\xce")])),
            Err(CloseCode::INVALID_DATA)
        );
    }

    #[test]
    fn violations_map_to_close_codes() {
        assert_eq!(
            run(&frames(&[(true, OpCode::Continuation, b"x")])),
            Err(CloseCode::PROTOCOL)
        );
        assert_eq!(
            run(&frames(&[
                (false, OpCode::Text, b"a"),
                (true, OpCode::Text, b"b")
            ])),
            Err(CloseCode::PROTOCOL)
        );
        assert_eq!(
            run(&frames(&[(true, OpCode::Close, &[0x03, 0xED])])),
            Err(CloseCode::PROTOCOL),
            "1005 is not for the wire"
        );
        assert_eq!(
            run(&frames(&[(true, OpCode::Close, &[0x03])])),
            Err(CloseCode::PROTOCOL)
        );
        assert_eq!(
            run(&frames(&[(true, OpCode::Close, &[0x03, 0xE8, 0xff])])),
            Err(CloseCode::INVALID_DATA)
        );
        assert_eq!(
            run(&frames(&[
                (false, OpCode::Binary, &[0; 900]),
                (false, OpCode::Continuation, &[0; 900]),
                (true, OpCode::Continuation, &[0; 900])
            ])),
            Err(CloseCode::TOO_BIG)
        );
        let mut unmasked = Vec::new();
        encode_frame(&mut unmasked, true, false, OpCode::Text, None, b"hi");
        assert_eq!(
            run(&unmasked),
            Err(CloseCode::PROTOCOL),
            "a server must get masked frames"
        );
        assert_eq!(
            run(&frames(&[(
                true,
                OpCode::Close,
                &[0x03, 0xE8, b'b', b'y', b'e']
            )]))
            .unwrap(),
            vec![Event::Close(Some((1000, "bye".into())))]
        );
    }
}
