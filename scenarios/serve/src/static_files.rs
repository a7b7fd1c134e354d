//! Static files under a root directory that no request path can leave: the path is
//! percent-decoded once, every component must be a plain name (no `..`, `.`, empty, NUL or
//! backslash), and the file is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
//! relative to the root's descriptor, so the kernel itself refuses any symlink out of the root
//! in the same walk that opens the file. Where openat2 is missing (Linux < 5.6) the fallback
//! canonicalises the path (every symlink resolved), checks it still lies under the canonical
//! root, then opens it — which leaves a window between check and open.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use testbed_kernel::beneath::{open_beneath, BeneathError};

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

/// How [`StaticRoot::open`] keeps to the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confinement {
    /// `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from the root's descriptor.
    Openat2,
    /// Canonicalise, check the prefix, then open (kernels without openat2).
    Canonicalise,
}

/// A root directory, canonicalised and opened once.
#[derive(Clone, Debug)]
pub struct StaticRoot {
    root: PathBuf,
    dir: Arc<File>,
    confinement: Confinement,
}

/// An opened static file.
#[derive(Debug)]
pub struct StaticFile {
    /// The open file (a regular file).
    pub file: File,
    /// Its path under the root (for logs).
    pub path: PathBuf,
    /// Its length in bytes.
    pub len: u64,
}

impl StaticRoot {
    /// `dir` as a root (it must exist), confined by openat2 when the kernel has it.
    pub fn new(dir: &Path) -> std::io::Result<StaticRoot> {
        let root = dir.canonicalize()?;
        let dir = Arc::new(File::open(&root)?);
        // Probe: openat2 of "." beneath the root itself succeeds wherever openat2 exists.
        let confinement = match open_beneath(&dir, Path::new(".")) {
            Err(BeneathError::Unsupported) => Confinement::Canonicalise,
            _ => Confinement::Openat2,
        };
        Ok(StaticRoot {
            root,
            dir,
            confinement,
        })
    }

    /// `self`, confined by `c` instead (tests compare both; `Openat2` on a kernel without it
    /// makes every open fail with 404).
    pub fn with_confinement(mut self, c: Confinement) -> StaticRoot {
        self.confinement = c;
        self
    }

    /// How opens keep to the root.
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// The canonical root.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Opens the regular file that the request path `path` (as sent: percent-encoded, no
    /// query) names under the root, confined as [`StaticRoot::confinement`] says.
    pub fn open(&self, path: &str) -> Result<StaticFile, StaticError> {
        let (file, path) = match self.confinement {
            Confinement::Openat2 => {
                let rel = relative(path)?;
                let file = open_beneath(&self.dir, &rel).map_err(|e| match e {
                    BeneathError::Escapes => StaticError::Forbidden,
                    _ => StaticError::NotFound,
                })?;
                (file, self.root.join(rel))
            }
            Confinement::Canonicalise => {
                let real = self.resolve(path)?;
                (File::open(&real).map_err(|_| StaticError::NotFound)?, real)
            }
        };
        match file.metadata() {
            Ok(m) if m.is_file() => Ok(StaticFile {
                file,
                path,
                len: m.len(),
            }),
            _ => Err(StaticError::NotFound), // a directory, a FIFO, a device
        }
    }

    /// The fallback check: the regular file that the request path `path` names under the
    /// root, as a canonical path with no symlink left in it (open it soon: a component
    /// swapped for a symlink after this check is not seen).
    pub fn resolve(&self, path: &str) -> Result<PathBuf, StaticError> {
        let p = self.root.join(relative(path)?);
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

/// The request path `path` percent-decoded, as a relative path of plain names.
fn relative(path: &str) -> Result<PathBuf, StaticError> {
    let decoded = percent_decode(path)?;
    let rel = decoded.strip_prefix('/').unwrap_or(&decoded);
    let mut p = PathBuf::new();
    for part in rel.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains(['\0', '\\']) {
            return Err(StaticError::Forbidden);
        }
        p.push(part);
    }
    Ok(p)
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
        std::os::unix::fs::symlink("a/f.txt", dir.join("inrel")).unwrap();
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
        // The same verdicts from open, under both confinements.
        for c in [Confinement::Openat2, Confinement::Canonicalise] {
            if c == Confinement::Openat2 && root.confinement() != c {
                testbed_testkit::skip("openat2 (Linux >= 5.6)");
                continue;
            }
            let root = root.clone().with_confinement(c);
            let f = root
                .open("/inrel")
                .expect("a relative symlink within the root");
            assert_eq!(f.len, 1, "{c:?}");
            // An absolute symlink is refused by RESOLVE_BENEATH even when it points inside.
            let abs = root.open("/in").map(|f| f.len);
            match c {
                Confinement::Openat2 => assert_eq!(abs, Err(StaticError::Forbidden)),
                Confinement::Canonicalise => assert_eq!(abs, Ok(1)),
            }
            assert!(root.open("/a/sp%20ace.txt").is_ok(), "{c:?}");
            for bad in [
                "/out",
                "/updir/secret",
                "/../secret",
                "/a%2f..%2f..%2fsecret",
            ] {
                assert_eq!(
                    root.open(bad).unwrap_err(),
                    StaticError::Forbidden,
                    "{c:?} {bad}"
                );
            }
            assert_eq!(root.open("/a").unwrap_err(), StaticError::NotFound, "{c:?}");
            assert_eq!(
                root.open("/nope").unwrap_err(),
                StaticError::NotFound,
                "{c:?}"
            );
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Opens `/d/f` 20 000 times under `c` while another thread keeps swapping the directory
    /// `d` for a symlink out of the root and back; the opens that read the file outside.
    fn escapes_during_swaps(c: Confinement) -> u32 {
        let base = tmp(&format!("swap-{c:?}"));
        let dir = base.join("www");
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(dir.join("d/f"), b"in").unwrap();
        std::fs::write(base.join("outside/f"), b"out").unwrap();
        let root = StaticRoot::new(&dir).unwrap().with_confinement(c);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, dir, base) = (stop.clone(), dir.clone(), base.clone());
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::fs::rename(dir.join("d"), dir.join("d.real")).unwrap();
                    std::os::unix::fs::symlink(base.join("outside"), dir.join("d")).unwrap();
                    std::fs::remove_file(dir.join("d")).unwrap();
                    std::fs::rename(dir.join("d.real"), dir.join("d")).unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let mut escaped = 0u32;
        for _ in 0..20_000 {
            match root.open("/d/f") {
                Ok(mut f) => {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut f.file, &mut s).unwrap();
                    escaped += u32::from(s == "out");
                }
                Err(StaticError::Forbidden | StaticError::NotFound) => {}
                Err(e) => panic!("{e}"),
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(swapper.join().unwrap() > 0, "the swapper ran");
        std::fs::remove_dir_all(&base).unwrap();
        escaped
    }

    /// A directory component swapped for a symlink out of the root between the check and the
    /// open: openat2 never reads outside; the canonicalise fallback can (printed, not
    /// asserted: it depends on scheduling).
    #[test]
    fn a_component_swapped_for_a_symlink_never_escapes_openat2() {
        if StaticRoot::new(&std::env::temp_dir())
            .unwrap()
            .confinement()
            != Confinement::Openat2
        {
            return testbed_testkit::skip("openat2 (Linux >= 5.6)");
        }
        assert_eq!(
            escapes_during_swaps(Confinement::Openat2),
            0,
            "openat2 escaped"
        );
        let fallback = escapes_during_swaps(Confinement::Canonicalise);
        eprintln!("canonicalise fallback: {fallback} of 20000 opens read the file outside");
    }
}
