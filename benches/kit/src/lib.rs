//! What the bench binaries share: reading `--name value` arguments and flags, answering
//! `--help` with the binary's usage line instead of running the bench, selecting rows from a
//! comma-separated environment variable, medians, and the patterned test file the file
//! benches serve. Nothing here reads a clock.
#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::io::Write;
use std::path::Path;

/// The value after `name` on the command line (`--runs 5` → `Some("5")`).
pub fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

/// `name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// With `--help` or `-h` on the command line: prints `usage` and exits (a bench runs for
/// minutes; asking how to call it must not start it).
pub fn help(usage: &str) {
    if flag("--help") || flag("-h") {
        println!("{}", usage.trim());
        std::process::exit(0);
    }
}

/// Whether row `key` runs: always when `var` is unset, otherwise when `var` lists it among
/// its comma-separated keys (`PATHS=warm-sendfile,cold-sendfile`).
pub fn selected(var: &str, key: &str) -> bool {
    selected_in(std::env::var(var).ok().as_deref(), key)
}

fn selected_in(only: Option<&str>, key: &str) -> bool {
    only.is_none_or(|o| o.split(',').any(|k| k.trim() == key))
}

/// The median of `v` (the upper one of an even count); NaN for an empty `v`.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Makes `path` a file of `size` bytes of a fixed pattern (byte `i % 251` at offset `i` of each
/// MiB, so no page is all zeros and no two neighbouring pages are equal) and flushes it to disk
/// (a cold-cache run drops clean pages only), unless it already has that size.
pub fn ensure_pattern_file(path: &Path, size: u64) -> std::io::Result<()> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == size {
        return Ok(());
    }
    let mut f = std::fs::File::create(path)?;
    let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_selected_by_exact_key() {
        assert!(selected_in(None, "warm-send"));
        assert!(selected_in(Some("warm-send,cold-zc"), "cold-zc"));
        assert!(!selected_in(Some("warm-send"), "warm-sendfile"));
        assert!(!selected_in(Some(""), "warm-send"));
    }

    #[test]
    fn median_takes_the_middle_of_the_sorted_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn the_pattern_file_has_the_size_and_pattern_asked_for() {
        let dir = std::env::temp_dir().join(format!("benchkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.bin");
        ensure_pattern_file(&p, (1 << 20) + 7).unwrap();
        let data = std::fs::read(&p).unwrap();
        assert_eq!(data.len(), (1 << 20) + 7);
        assert_eq!(data[251], 0);
        assert_eq!(
            data[(1 << 20) + 6],
            6,
            "the pattern restarts with every MiB"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
