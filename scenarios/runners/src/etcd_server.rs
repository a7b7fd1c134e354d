//! A throwaway etcd server for tests and real-backend runs: loopback only, free ports, a
//! temporary data directory; stopped and removed on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running etcd.
pub struct EtcdServer {
    child: Child,
    dir: PathBuf,
    client: SocketAddr,
}

/// Where the etcd binary is, if installed (Debian: `apt-get install etcd-server`).
pub fn etcd_binary() -> Option<PathBuf> {
    let from_env = std::env::var_os("ETCD_BIN").map(PathBuf::from);
    let path = std::env::var_os("PATH").unwrap_or_default();
    from_env
        .into_iter()
        .chain(std::env::split_paths(&path).map(|d| d.join("etcd")))
        .chain([PathBuf::from("/usr/bin/etcd")])
        .find(|p| p.is_file())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdServer {
    /// Starts etcd and waits (up to about 20 s) until it accepts client connections.
    /// `Err` says why not (no binary, spawn failed, never ready).
    pub fn start() -> Result<EtcdServer, String> {
        let bin = etcd_binary().ok_or("etcd not installed (apt-get install etcd-server)")?;
        let (cp, pp) = (
            free_port().map_err(|e| e.to_string())?,
            free_port().map_err(|e| e.to_string())?,
        );
        let dir = std::env::temp_dir().join(format!("testbed-etcd-{}-{cp}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = std::fs::File::create(dir.join("etcd.log")).map_err(|e| e.to_string())?;
        let (curl, purl) = (
            format!("http://127.0.0.1:{cp}"),
            format!("http://127.0.0.1:{pp}"),
        );
        let child = Command::new(&bin)
            .args(["--name", "testbed", "--data-dir"])
            .arg(dir.join("data"))
            .args([
                "--listen-client-urls",
                &curl,
                "--advertise-client-urls",
                &curl,
            ])
            .args([
                "--listen-peer-urls",
                &purl,
                "--initial-advertise-peer-urls",
                &purl,
            ])
            .args(["--initial-cluster", &format!("testbed={purl}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let mut s = EtcdServer {
            child,
            dir,
            client: SocketAddr::from(([127, 0, 0, 1], cp)),
        };
        for _ in 0..200 {
            if let Ok(Some(status)) = s.child.try_wait() {
                return Err(format!("etcd exited at start ({status}); see {}", s.log()));
            }
            if TcpStream::connect(s.client).is_ok() {
                return Ok(s);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(format!("etcd not ready after 20 s; see {}", s.log()))
    }

    /// The client URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.client)
    }

    fn log(&self) -> String {
        self.dir.join("etcd.log").display().to_string()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
