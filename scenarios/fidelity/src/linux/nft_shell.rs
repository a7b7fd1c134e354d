//! A long-lived `nft -i` inside a namespace: the fault verbs and the counter probes write
//! one line to it instead of starting `ip netns exec … nft` (a fork, exec and a remount of
//! /sys each), which on a loaded machine can take seconds and would shift the very times
//! the rows measure. Each command is followed by a listing, read back up to its closing
//! brace: the listing both confirms that nft got that far and shows the resulting state,
//! which the caller checks.

use super::error::LabError;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Lines a listing may have at most.
const LISTING_MAX: usize = 256;

/// An `nft -i` process in one namespace.
pub(crate) struct NftShell {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl NftShell {
    /// Starts `nft -i` in the namespace named `ns`.
    pub(crate) fn start(ns: &str) -> Result<NftShell, LabError> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::Setup(format!("nft -i in {ns}: {e}")))?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        match (stdin, stdout) {
            (Some(i), Some(o)) => Ok(NftShell {
                child,
                stdin: Some(i),
                out: BufReader::new(o),
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(LabError::Setup(format!("nft -i in {ns}: no pipes")))
            }
        }
    }

    /// Runs `cmd` (may be empty), then `list` (an nft `list …` command), and returns the
    /// listing.
    pub(crate) fn run(&mut self, cmd: &str, list: &str) -> Result<String, LabError> {
        let broken = |e: std::io::Error| LabError::Fault(format!("nft -i: {e}"));
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| LabError::Fault("nft -i: closed".into()))?;
        let mut script = String::new();
        if !cmd.is_empty() {
            script.push_str(cmd);
            script.push('\n');
        }
        script.push_str(list);
        script.push('\n');
        stdin.write_all(script.as_bytes()).map_err(broken)?;
        stdin.flush().map_err(broken)?;
        let mut listing = String::new();
        for _ in 0..LISTING_MAX {
            let mut line = String::new();
            if self.out.read_line(&mut line).map_err(broken)? == 0 {
                return Err(LabError::Fault(format!(
                    "nft -i exited (after `{cmd}`; listing so far: {listing:?})"
                )));
            }
            let done = line == "}\n";
            listing.push_str(&line);
            if done {
                return Ok(listing);
            }
        }
        Err(LabError::Fault(format!(
            "nft -i: listing longer than {LISTING_MAX} lines"
        )))
    }
}

impl Drop for NftShell {
    fn drop(&mut self) {
        // End of input ends nft; kill it if it lingers.
        self.stdin.take();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
