//! Static files under a root directory that no request path can leave: the path is
//! percent-decoded once, every component must be a plain name (no `..`, `.`, empty, NUL or
//! backslash), and the file found is canonicalised (every symlink resolved) and must still
//! lie under the canonical root — a symlink inside the root that points outside is refused.

use std::path::{Path, PathBuf};

/// Why a path is not served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StaticError {
    /// Nothing there, or not a regular file (404).
    #[error("not found")]
    NotFound,
    /// A path that tries to leave the root, or resolves outside it (403).
    #[error("forbidden")]
    Forbidden,
    /// A malformed percent-encoding, or one that decodes to invalid bytes (400).
    #[error("bad path encoding")]
    BadEncoding,
}

impl StaticError {
    /// The HTTP status to answer with.
    pub fn status(self) -> u16 {
        match self {
            StaticError::NotFound => 404,
            StaticError::Forbidden => 403,
            StaticError::BadEncoding => 400,
        }
    }
}

/// `%XX`-decodes `s` once (RFC 3986 §2.1); `+` stays `+` (it is not a space in a path).
pub fn percent_decode(s: &str) -> Result<String, StaticError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(StaticError::BadEncoding);
            };
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| StaticError::BadEncoding)
}

/// A root directory, canonicalised once.
#[derive(Clone, Debug)]
pub struct StaticRoot {
    root: PathBuf,
}

impl StaticRoot {
    /// `dir` as a root (it must exist).
    pub fn new(dir: &Path) -> std::io::Result<StaticRoot> {
        Ok(StaticRoot {
            root: dir.canonicalize()?,
        })
    }

    /// The canonical root.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The regular file that the request path `path` (as sent: percent-encoded, no query)
    /// names under the root, as a canonical path with no symlink left in it.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, StaticError> {
        let decoded = percent_decode(path)?;
        let rel = decoded.strip_prefix('/').unwrap_or(&decoded);
        let mut p = self.root.clone();
        for part in rel.split('/') {
            if part.is_empty() || part == "." || part == ".." || part.contains(['\0', '\\']) {
                return Err(StaticError::Forbidden);
            }
            p.push(part);
        }
        let real = match p.canonicalize() {
            Ok(r) => r,
            Err(_) => return Err(StaticError::NotFound),
        };
        if !real.starts_with(&self.root) {
            return Err(StaticError::Forbidden); // a symlink out of the root
        }
        match std::fs::metadata(&real) {
            Ok(m) if m.is_file() => Ok(real),
            _ => Err(StaticError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("testbed-static-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn paths_cannot_escape_the_root() {
        let base = tmp("escape");
        let dir = base.join("www");
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/f.txt"), b"x").unwrap();
        std::fs::write(dir.join("a/sp ace.txt"), b"y").unwrap();
        std::fs::write(base.join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), dir.join("out")).unwrap();
        std::os::unix::fs::symlink(&base, dir.join("updir")).unwrap();
        std::os::unix::fs::symlink(dir.join("a/f.txt"), dir.join("in")).unwrap();
        let root = StaticRoot::new(&dir).unwrap();
        let ok = root.path().join("a/f.txt");
        assert_eq!(root.resolve("/a/f.txt"), Ok(ok.clone()));
        assert_eq!(
            root.resolve("/a/%66.txt"),
            Ok(ok.clone()),
            "percent-decoded"
        );
        assert_eq!(
            root.resolve("/in"),
            Ok(ok),
            "a symlink within the root is fine"
        );
        assert_eq!(
            root.resolve("/a/sp%20ace.txt"),
            Ok(root.path().join("a/sp ace.txt"))
        );
        for bad in [
            "/a/../a/f.txt",
            "/../secret",
            "/%2e%2e/secret",
            "/a/%2E%2E/%2e%2e/secret",
            "/a%2f..%2f..%2fsecret",
            "/a//f.txt",
            "/out",
            "/updir/secret",
            "/a/f.txt%00",
            "/..%5csecret",
        ] {
            assert_eq!(root.resolve(bad), Err(StaticError::Forbidden), "{bad}");
        }
        assert_eq!(
            root.resolve("/a"),
            Err(StaticError::NotFound),
            "a directory"
        );
        assert_eq!(root.resolve("/nope"), Err(StaticError::NotFound));
        assert_eq!(root.resolve("/%zz"), Err(StaticError::BadEncoding));
        assert_eq!(root.resolve("/%ff"), Err(StaticError::BadEncoding));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
