//! Processes of the lab's hosts: a server "process" is a thread that entered the server
//! namespace and runs a kernel-backend worker until it is stopped (stopping drops every
//! socket it owns, as the exit of a process does); the client runs on the caller's behalf
//! in the client namespace.

use super::error::LabError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use testbed_kernel::{Kernel, Worker};
use testbed_model::{Duration, Runtime};
use testbed_xdp::netns::Netns;

/// A server's body once its sockets are bound.
pub type ServeFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Starts a server on a worker: binds synchronously (an `Err` is reported to the starter),
/// then returns the future that serves. Called again on every restart.
pub type Serve = Arc<dyn Fn(Worker) -> Result<ServeFuture, String> + Send + Sync>;

/// How long a server may take to bind.
const START_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a started server runs before its start counts as done (its first poll binds).
const BIND_GRACE: Duration = Duration::from_millis(20);
/// How often a running server checks whether it was stopped.
const STOP_POLL: Duration = Duration::from_millis(2);

/// A running server process; [`ServerProc::stop`] (or drop) ends it and closes its sockets.
pub(crate) struct ServerProc {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServerProc {
    /// Starts `serve` in `ns`; returns once its sockets are bound.
    pub(crate) fn start(ns: Arc<Netns>, serve: Serve) -> Result<ServerProc, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fid-server-{}", ns.name()))
            .spawn(move || {
                let tx2 = tx.clone();
                let ran = ns.run_in(move || {
                    Kernel::builder()
                        .workers(1)
                        .build()
                        .block_on(|w| async move {
                            let fut = match serve(w.clone()) {
                                Ok(f) => f,
                                Err(e) => {
                                    let _ = tx2.send(Err(e));
                                    return;
                                }
                            };
                            let task = w.spawn(fut);
                            // Let the server run up to its first wait (it binds there) before
                            // the client is told it may start.
                            w.sleep(BIND_GRACE).await;
                            let _ = tx2.send(Ok(()));
                            while !stop2.load(Ordering::Relaxed) && !task.is_finished() {
                                w.sleep(STOP_POLL).await;
                            }
                            while !stop2.load(Ordering::Relaxed) {
                                w.sleep(STOP_POLL).await;
                            }
                            task.abort();
                        })
                });
                if let Err(e) = ran {
                    let _ = tx.send(Err(e.to_string()));
                }
            })
            .map_err(|e| LabError::Server(format!("spawn: {e}")))?;
        let mut proc = ServerProc {
            stop,
            thread: Some(thread),
        };
        match rx.recv_timeout(START_LIMIT) {
            Ok(Ok(())) => Ok(proc),
            Ok(Err(e)) => {
                proc.stop();
                Err(LabError::Server(e))
            }
            Err(_) => {
                proc.stop();
                Err(LabError::Server("did not bind within 10 s".into()))
            }
        }
    }

    /// Ends the process: its tasks are dropped and its sockets closed (unread data makes
    /// the kernel answer RST, as on a process exit). Returns once the thread is gone.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `f` on a fresh single-worker kernel backend in `ns` (on a thread that entered it),
/// with `connect_timeout` for `Net::connect`.
pub(crate) fn run_in<T, Fut, F>(ns: &Netns, connect_timeout: Duration, f: F) -> Result<T, LabError>
where
    T: Send,
    Fut: Future<Output = T>,
    F: FnOnce(Worker) -> Fut + Send,
{
    ns.run_in(move || {
        Kernel::builder()
            .workers(1)
            .connect_timeout(connect_timeout)
            .build()
            .block_on(f)
    })
    .map_err(LabError::setup)
}
