//! Outcome classes: io errors as the errno names a Linux programmer expects, in one place.

use std::io;

/// An outcome class ("ETIMEDOUT", "ECONNRESET", "EOF", "ok", …), as rows report it.
pub type Class = &'static str;

/// The class of a socket error.
pub fn classify(e: &io::Error) -> Class {
    if e.raw_os_error() == Some(90) || e.to_string().contains("EMSGSIZE") {
        return "EMSGSIZE";
    }
    match e.kind() {
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        io::ErrorKind::ConnectionReset => "ECONNRESET",
        io::ErrorKind::BrokenPipe => "EPIPE",
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::ConnectionAborted => "ECONNABORTED",
        io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
        io::ErrorKind::AddrInUse => "EADDRINUSE",
        io::ErrorKind::HostUnreachable => "EHOSTUNREACH",
        io::ErrorKind::NetworkUnreachable => "ENETUNREACH",
        io::ErrorKind::NotConnected => "ENOTCONN",
        io::ErrorKind::UnexpectedEof => "EOF",
        io::ErrorKind::InvalidInput => "EINVAL",
        _ => "error",
    }
}

/// The class for "no error and no answer before the row's deadline".
pub const DEADLINE: Class = "deadline";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names() {
        let e = |k| io::Error::new(k, "x");
        assert_eq!(classify(&e(io::ErrorKind::TimedOut)), "ETIMEDOUT");
        assert_eq!(classify(&e(io::ErrorKind::ConnectionReset)), "ECONNRESET");
        assert_eq!(classify(&e(io::ErrorKind::BrokenPipe)), "EPIPE");
        assert_eq!(classify(&io::Error::from_raw_os_error(90)), "EMSGSIZE");
        assert_eq!(
            classify(&io::Error::new(
                io::ErrorKind::InvalidInput,
                "too long (EMSGSIZE)"
            )),
            "EMSGSIZE"
        );
        assert_eq!(classify(&e(io::ErrorKind::Other)), "error");
    }
}
