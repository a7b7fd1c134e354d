//! Opening a file strictly beneath a directory with `openat2(2)` (Linux ≥ 5.6):
//! `RESOLVE_BENEATH` makes the kernel refuse, during the one path walk of the open itself,
//! any `..`, absolute symlink or symlink whose target lies outside the directory, and
//! `RESOLVE_NO_MAGICLINKS` refuses `/proc/*/fd`-style links. There is no window between a
//! check and the open for someone to swap a path component for a symlink.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Why [`open_beneath`] did not open a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeneathError {
    /// The kernel has no `openat2` (before 5.6, or filtered by seccomp): use another check.
    #[error("openat2 is not available")]
    Unsupported,
    /// The path leaves the directory (`..`, an absolute path or a symlink out of it, or a
    /// magic link).
    #[error("the path leaves the directory")]
    Escapes,
    /// Any other failure of the open (not found, permission, ...).
    #[error("open: {0}")]
    Io(#[from] io::Error),
}

impl PartialEq for BeneathError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BeneathError::Io(a), BeneathError::Io(b)) => a.kind() == b.kind(),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

/// `struct open_how` of `linux/openat2.h` (libc's is non-exhaustive, so not buildable here).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `rel` (relative) read-only beneath the directory `dir` — without following it
/// anywhere outside `dir` — and without blocking on a FIFO (`O_NONBLOCK`; it has no effect
/// on regular files).
pub fn open_beneath(dir: &File, rel: &Path) -> Result<File, BeneathError> {
    let mut c = rel.as_os_str().as_bytes().to_vec();
    if c.contains(&0) {
        return Err(BeneathError::Escapes);
    }
    c.push(0);
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `c` is a NUL-terminated buffer that outlives the call, `how` is a valid
    // `open_how` whose size is passed alongside, and `dir`'s descriptor is open for the
    // call's duration (borrowed). The kernel writes nothing into our memory.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr().cast::<libc::c_char>(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            // No openat2 in this kernel (a seccomp filter answering EPERM is not told apart
            // from a real permission error, and is reported as one).
            Some(libc::ENOSYS) => BeneathError::Unsupported,
            Some(libc::EXDEV) | Some(libc::ELOOP) => BeneathError::Escapes,
            _ => BeneathError::Io(e),
        });
    }
    let fd = i32::try_from(fd).map_err(|_| BeneathError::Io(io::ErrorKind::Other.into()))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_inside_and_refuses_every_way_out() {
        let base = std::env::temp_dir().join(format!("tb-beneath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("www/sub")).unwrap();
        std::fs::write(base.join("www/sub/f"), b"in").unwrap();
        std::fs::write(base.join("secret"), b"out").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), base.join("www/abs")).unwrap();
        std::os::unix::fs::symlink("../secret", base.join("www/rel")).unwrap();
        std::os::unix::fs::symlink("sub/f", base.join("www/inner")).unwrap();
        let dir = File::open(base.join("www")).unwrap();
        match open_beneath(&dir, Path::new("sub/f")) {
            Err(BeneathError::Unsupported) => {
                let _ = std::fs::remove_dir_all(&base);
                return testbed_testkit::skip("openat2 (Linux >= 5.6)");
            }
            r => {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut r.unwrap(), &mut s).unwrap();
                assert_eq!(s, "in");
            }
        }
        assert!(
            open_beneath(&dir, Path::new("inner")).is_ok(),
            "a link inside"
        );
        for bad in ["abs", "rel", "../secret", "/etc/passwd", "sub/../../secret"] {
            assert_eq!(
                open_beneath(&dir, Path::new(bad)).unwrap_err(),
                BeneathError::Escapes,
                "{bad}"
            );
        }
        assert!(matches!(
            open_beneath(&dir, Path::new("nope")),
            Err(BeneathError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
