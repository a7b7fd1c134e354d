//! bpffs, the filesystem pins live on: mounted at /sys/fs/bpf when missing, as bpftool does
//! (`mount -t bpf bpf /sys/fs/bpf`). A fresh machine often has no bpffs mounted.

use crate::XdpError;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Where bpffs is mounted and where every pin of this crate lives.
pub const BPFFS_ROOT: &str = "/sys/fs/bpf";

/// `statfs(2)`'s f_type of bpffs.
const BPF_FS_MAGIC: u64 = 0xcafe_4a11;

/// Whether `path` is on a bpffs mount (false when it does not exist).
pub fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path that outlives the call; `st` points to a writable
    // `statfs` the kernel fills in and that we read only when the call succeeds.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } == 0;
    // SAFETY: zero-initialised, and filled in by statfs when `ok`; every bit pattern is valid.
    #[allow(unsafe_code)]
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    let magic = (st.f_type as u64) & 0xffff_ffff;
    ok && magic == BPF_FS_MAGIC
}

/// Makes sure bpffs is mounted at [`BPFFS_ROOT`]: mounts it (creating the directory) when it
/// is not. The error names the mount command to run by hand.
pub fn ensure_mounted() -> Result<(), XdpError> {
    let root = Path::new(BPFFS_ROOT);
    if is_bpffs(root) {
        return Ok(());
    }
    let fail = |why: String| XdpError::BpffsMount {
        path: BPFFS_ROOT.into(),
        why,
    };
    std::fs::create_dir_all(root).map_err(|e| fail(e.to_string()))?;
    let (src, dst, fstype) = (c"bpf", CString::new(BPFFS_ROOT).expect("no NUL"), c"bpf");
    // SAFETY: all three strings are NUL-terminated and outlive the call; `data` may be null
    // for bpffs (no mount options).
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(fail(std::io::Error::last_os_error().to_string()));
    }
    Ok(())
}

/// Mounts bpffs first when `dir` is to live under [`BPFFS_ROOT`] and it is not mounted.
pub(crate) fn ensure_for(dir: &Path) -> Result<(), XdpError> {
    if dir.starts_with(BPFFS_ROOT) {
        ensure_mounted()
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_directory_is_not_bpffs() {
        assert!(!is_bpffs(Path::new("/")));
        assert!(!is_bpffs(Path::new("/no/such/path/anywhere")));
    }
}
