//! The registry's wire format: length-prefixed binary frames,
//! `[u32 BE length][u8 tag][body]`, where the length counts the tag and the body.
//!
//! Strict and bounded: the length is checked against [`FRAME_BYTES_MAX`] before a body byte
//! is buffered, strings are `u16`-length-prefixed UTF-8 of at most [`STRING_BYTES_MAX`],
//! lists are counted and capped, unknown tags and trailing bytes are errors. Integers are
//! big-endian; durations travel as milliseconds.

use super::types::{Change, DiscoveryError, Instance, Revision, WatchEvent};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Largest frame (tag and body) either side accepts.
pub const FRAME_BYTES_MAX: u32 = 1 << 20;
/// Largest string.
pub const STRING_BYTES_MAX: usize = 1024;
/// Most metadata entries on the wire.
pub const METADATA_ENTRIES_MAX: usize = 64;
/// Most instances in one resolve answer.
pub const INSTANCES_MAX: usize = 1024;

/// Every message, both directions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Client: grant a lease of `ttl_ms`.
    Grant {
        /// TTL in milliseconds.
        ttl_ms: u64,
    },
    /// Client: renew a lease.
    KeepAlive {
        /// The lease.
        lease: u64,
    },
    /// Client: register an instance under a lease.
    Put {
        /// The lease.
        lease: u64,
        /// The instance.
        instance: Instance,
    },
    /// Client: deregister an instance.
    Delete {
        /// Service.
        service: String,
        /// Instance id.
        id: String,
    },
    /// Client: revoke a lease.
    Revoke {
        /// The lease.
        lease: u64,
    },
    /// Client: list a service's instances.
    Resolve {
        /// Service.
        service: String,
    },
    /// Client: stream a service's changes after a revision (the connection then carries
    /// only events and progress notes).
    Watch {
        /// Service.
        service: String,
        /// Changes after this revision.
        after: u64,
    },
    /// Server: a lease was granted.
    Granted {
        /// The lease.
        lease: u64,
        /// Its TTL in milliseconds.
        ttl_ms: u64,
        /// The revision at grant time.
        revision: u64,
    },
    /// Server: a lease was renewed.
    KeptAlive {
        /// Its TTL in milliseconds.
        ttl_ms: u64,
    },
    /// Server: a change was made; the revision after it.
    Done {
        /// Revision.
        revision: u64,
    },
    /// Server: a service's instances.
    Resolved {
        /// Revision they are current at.
        revision: u64,
        /// Instances.
        instances: Vec<Instance>,
    },
    /// Server: one change on a watch.
    Event(WatchEvent),
    /// Server: a watch is alive and nothing changed up to `revision`.
    Progress {
        /// Revision.
        revision: u64,
    },
    /// Server: the request failed.
    Error(DiscoveryError),
}

/// Why bytes are not a valid frame (the connection is then closed: framing is lost).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Length 0 (no tag) or above [`FRAME_BYTES_MAX`].
    #[error("frame length {0} outside 1..={FRAME_BYTES_MAX}")]
    BadLength(u32),
    /// Unknown message or sub-message tag.
    #[error("unknown tag {0}")]
    UnknownTag(u8),
    /// The body ended inside a field.
    #[error("body truncated")]
    Truncated,
    /// Bytes left after the message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// A string was not UTF-8.
    #[error("string is not UTF-8")]
    BadUtf8,
    /// A string or list over its cap (which is named).
    #[error("{0} over its limit")]
    TooLong(&'static str),
    /// An address family other than 4 or 6.
    #[error("unknown address family {0}")]
    BadFamily(u8),
}

/// Appends `m` as one frame.
///
/// # Panics
/// If the encoding exceeds [`FRAME_BYTES_MAX`] or a string [`STRING_BYTES_MAX`] (a bug:
/// callers keep within [`super::Limits`], which are far below).
pub fn encode(out: &mut Vec<u8>, m: &Msg) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut w = Writer(out);
    match m {
        Msg::Grant { ttl_ms } => w.tag(1).u64(*ttl_ms),
        Msg::KeepAlive { lease } => w.tag(2).u64(*lease),
        Msg::Put { lease, instance } => w.tag(3).u64(*lease).instance(instance),
        Msg::Delete { service, id } => w.tag(4).str(service).str(id),
        Msg::Revoke { lease } => w.tag(5).u64(*lease),
        Msg::Resolve { service } => w.tag(6).str(service),
        Msg::Watch { service, after } => w.tag(7).str(service).u64(*after),
        Msg::Granted {
            lease,
            ttl_ms,
            revision,
        } => w.tag(0x81).u64(*lease).u64(*ttl_ms).u64(*revision),
        Msg::KeptAlive { ttl_ms } => w.tag(0x82).u64(*ttl_ms),
        Msg::Done { revision } => w.tag(0x83).u64(*revision),
        Msg::Resolved {
            revision,
            instances,
        } => {
            assert!(instances.len() <= INSTANCES_MAX, "too many instances");
            let w = w.tag(0x86).u64(*revision).u32(instances.len() as u32);
            for i in instances {
                w.instance(i);
            }
            w
        }
        Msg::Event(e) => w.tag(0x87).u64(e.revision.0).change(&e.change),
        Msg::Progress { revision } => w.tag(0x88).u64(*revision),
        Msg::Error(e) => w.tag(0x8f).error(e),
    };
    let len = u32::try_from(out.len() - start - 4).expect("frame fits u32");
    assert!(len <= FRAME_BYTES_MAX, "frame over FRAME_BYTES_MAX");
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Decodes the frame at the start of `buf`: `Ok(None)` until it is all there, else the
/// message and the bytes it used. The length is checked before the body is awaited.
pub fn decode(buf: &[u8]) -> Result<Option<(Msg, usize)>, CodecError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
    if len == 0 || len > FRAME_BYTES_MAX {
        return Err(CodecError::BadLength(len));
    }
    let end = 4 + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let mut r = Reader(&buf[4..end]);
    let m = r.msg()?;
    if !r.0.is_empty() {
        return Err(CodecError::Trailing(r.0.len()));
    }
    Ok(Some((m, end)))
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn tag(&mut self, t: u8) -> &mut Self {
        self.0.push(t);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        assert!(s.len() <= STRING_BYTES_MAX, "string over STRING_BYTES_MAX");
        self.u16(s.len() as u16);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn instance(&mut self, i: &Instance) -> &mut Self {
        assert!(
            i.metadata.len() <= METADATA_ENTRIES_MAX,
            "metadata over cap"
        );
        self.str(&i.service).str(&i.id);
        match i.addr.ip() {
            IpAddr::V4(a) => {
                self.tag(4);
                self.0.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.tag(6);
                self.0.extend_from_slice(&a.octets());
            }
        }
        self.u16(i.addr.port()).u16(i.metadata.len() as u16);
        for (k, v) in &i.metadata {
            self.str(k).str(v);
        }
        self
    }
    fn change(&mut self, c: &Change) -> &mut Self {
        match c {
            Change::Put(i) => self.tag(0).instance(i),
            Change::Delete { service, id } => self.tag(1).str(service).str(id),
        }
    }
    fn error(&mut self, e: &DiscoveryError) -> &mut Self {
        let ms = |d: &testbed_model::Duration| d.as_millis() as u64;
        match e {
            DiscoveryError::TtlTooShort { asked, min } => self.tag(1).u64(ms(asked)).u64(ms(min)),
            DiscoveryError::TtlTooLong { asked, max } => self.tag(2).u64(ms(asked)).u64(ms(max)),
            DiscoveryError::LeaseNotFound => self.tag(3),
            DiscoveryError::NotFound => self.tag(4),
            DiscoveryError::Limit(what) => self.tag(5).str(truncate(what)),
            DiscoveryError::Compacted { asked, oldest } => self.tag(6).u64(asked.0).u64(oldest.0),
            DiscoveryError::Unavailable(why) => self.tag(7).str(truncate(why)),
            DiscoveryError::Protocol(why) => self.tag(8).str(truncate(why)),
        }
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(STRING_BYTES_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CodecError> {
        if self.0.len() < n {
            return Err(CodecError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn str(&mut self) -> Result<String, CodecError> {
        let n = self.u16()? as usize;
        if n > STRING_BYTES_MAX {
            return Err(CodecError::TooLong("string"));
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| CodecError::BadUtf8)
    }
    fn instance(&mut self) -> Result<Instance, CodecError> {
        let (service, id) = (self.str()?, self.str()?);
        let ip = match self.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(self.take(4)?).expect("4"),
            )),
            6 => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(self.take(16)?).expect("16"),
            )),
            f => return Err(CodecError::BadFamily(f)),
        };
        let port = self.u16()?;
        let n = self.u16()? as usize;
        if n > METADATA_ENTRIES_MAX {
            return Err(CodecError::TooLong("metadata"));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n {
            let (k, v) = (self.str()?, self.str()?);
            metadata.insert(k, v);
        }
        Ok(Instance {
            service,
            id,
            addr: SocketAddr::new(ip, port),
            metadata,
        })
    }
    fn change(&mut self) -> Result<Change, CodecError> {
        match self.u8()? {
            0 => Ok(Change::Put(self.instance()?)),
            1 => Ok(Change::Delete {
                service: self.str()?,
                id: self.str()?,
            }),
            t => Err(CodecError::UnknownTag(t)),
        }
    }
    fn error(&mut self) -> Result<DiscoveryError, CodecError> {
        let ms = testbed_model::Duration::from_millis;
        Ok(match self.u8()? {
            1 => DiscoveryError::TtlTooShort {
                asked: ms(self.u64()?),
                min: ms(self.u64()?),
            },
            2 => DiscoveryError::TtlTooLong {
                asked: ms(self.u64()?),
                max: ms(self.u64()?),
            },
            3 => DiscoveryError::LeaseNotFound,
            4 => DiscoveryError::NotFound,
            5 => DiscoveryError::Limit(self.str()?),
            6 => DiscoveryError::Compacted {
                asked: Revision(self.u64()?),
                oldest: Revision(self.u64()?),
            },
            7 => DiscoveryError::Unavailable(self.str()?),
            8 => DiscoveryError::Protocol(self.str()?),
            t => return Err(CodecError::UnknownTag(t)),
        })
    }
    fn msg(&mut self) -> Result<Msg, CodecError> {
        Ok(match self.u8()? {
            1 => Msg::Grant {
                ttl_ms: self.u64()?,
            },
            2 => Msg::KeepAlive { lease: self.u64()? },
            3 => Msg::Put {
                lease: self.u64()?,
                instance: self.instance()?,
            },
            4 => Msg::Delete {
                service: self.str()?,
                id: self.str()?,
            },
            5 => Msg::Revoke { lease: self.u64()? },
            6 => Msg::Resolve {
                service: self.str()?,
            },
            7 => Msg::Watch {
                service: self.str()?,
                after: self.u64()?,
            },
            0x81 => Msg::Granted {
                lease: self.u64()?,
                ttl_ms: self.u64()?,
                revision: self.u64()?,
            },
            0x82 => Msg::KeptAlive {
                ttl_ms: self.u64()?,
            },
            0x83 => Msg::Done {
                revision: self.u64()?,
            },
            0x86 => {
                let revision = self.u64()?;
                let n = self.u32()? as usize;
                if n > INSTANCES_MAX {
                    return Err(CodecError::TooLong("instances"));
                }
                let instances = (0..n).map(|_| self.instance()).collect::<Result<_, _>>()?;
                Msg::Resolved {
                    revision,
                    instances,
                }
            }
            0x87 => Msg::Event(WatchEvent {
                revision: Revision(self.u64()?),
                change: self.change()?,
            }),
            0x88 => Msg::Progress {
                revision: self.u64()?,
            },
            0x8f => Msg::Error(self.error()?),
            t => return Err(CodecError::UnknownTag(t)),
        })
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;

/// The `discovery_codec` fuzz target's body (shared with the stable seed replays): decodes
/// `data` as a stream of frames; each decoded message must re-encode to bytes that decode to
/// the same message, and a registry server must answer it without panicking. Returns how
/// many frames decoded.
#[doc(hidden)]
pub fn fuzz_stream(data: &[u8]) -> usize {
    use super::{RegistryServer, ServerConfig};
    use testbed_model::Instant;
    let server = RegistryServer::new(Instant::ZERO, ServerConfig::default());
    let mut rest = data;
    let (mut now, mut decoded) = (0u64, 0);
    while let Ok(Some((m, used))) = decode(rest) {
        let mut again = Vec::new();
        encode(&mut again, &m);
        assert_eq!(decode(&again), Ok(Some((m.clone(), again.len()))));
        now += 100_000_000;
        let _ = server.handle(Instant::from_nanos(now), m);
        decoded += 1;
        rest = &rest[used..];
    }
    decoded
}
