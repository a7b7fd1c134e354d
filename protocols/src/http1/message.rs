//! Owned requests and responses as handlers and clients see them.

use super::head::Version;

/// A request with its whole body read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Version.
    pub version: Version,
    /// Header fields in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Request {
    /// A GET for `target` (HTTP/1.1, no headers yet).
    pub fn get(target: &str) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    /// The path part of the target (before `?`). For an absolute-form target
    /// (`http://host/path`, RFC 9112 §3.2.2, which a server MUST accept) the path after the
    /// authority, `/` when there is none.
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        let after_scheme = ["http://", "https://"].iter().find_map(|s| {
            t.get(..s.len())
                .filter(|p| p.eq_ignore_ascii_case(s))
                .map(|_| &t[s.len()..])
        });
        let t = match after_scheme {
            Some(rest) => match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
                _ => "/",
            },
            None => t,
        };
        t.split('?').next().unwrap_or("")
    }
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields (Content-Length and Connection are added by the server).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
    /// A file to send as the body instead of `body` (through the server's [`FileSender`]
    /// hook: a plain copy loop, or sendfile on the kernel backend).
    ///
    /// [`FileSender`]: super::FileSender
    pub file: Option<FileBody>,
}

/// A file body: its path and length (sent as Content-Length before the file is streamed),
/// and the file already opened when the handler opened it (senders use that descriptor
/// rather than opening the path again, so the file sent is the one the handler checked).
#[derive(Clone, Debug)]
pub struct FileBody {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its length in bytes.
    pub len: u64,
    /// The open file, if the handler opened it.
    pub opened: Option<std::sync::Arc<std::fs::File>>,
}

impl FileBody {
    /// The open file: the handler's descriptor, or `path` opened now.
    pub fn open(&self) -> std::io::Result<std::sync::Arc<std::fs::File>> {
        match &self.opened {
            Some(f) => Ok(f.clone()),
            None => std::fs::File::open(&self.path).map(std::sync::Arc::new),
        }
    }
}

impl PartialEq for FileBody {
    fn eq(&self, o: &Self) -> bool {
        let same_file = match (&self.opened, &o.opened) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.path == o.path && self.len == o.len && same_file
    }
}

impl Eq for FileBody {}

impl Response {
    /// `status` with a plain-text body.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), b"text/plain; charset=utf-8".to_vec())],
            body: body.into(),
            file: None,
        }
    }
    /// An empty response with `status`.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            file: None,
        }
    }
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    /// A 200 whose body is the file at `path` (`len` bytes), sent through the server's file
    /// hook.
    pub fn file(path: std::path::PathBuf, len: u64) -> Response {
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), b"application/octet-stream".to_vec())],
            body: Vec::new(),
            file: Some(FileBody {
                path,
                len,
                opened: None,
            }),
        }
    }
    /// A 200 whose body is `file`, already open (`path` names it in logs; `len` bytes).
    pub fn opened_file(file: std::fs::File, path: std::path::PathBuf, len: u64) -> Response {
        let mut r = Response::file(path, len);
        if let Some(f) = &mut r.file {
            f.opened = Some(std::sync::Arc::new(file));
        }
        r
    }
}

/// The canonical reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
