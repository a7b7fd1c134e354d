//! A lab's control thread. Fault verbs are called by the client's workload, on a thread
//! that entered the client namespace; commands and threads started from there would
//! inherit that namespace, but a crash and restart must create links and AF_XDP ports in
//! the root namespace. So those verbs run here, on a thread created from the root
//! namespace with the lab.

use super::error::LabError;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// How long one control job may take.
const JOB_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

type Job<S> = Box<dyn FnOnce(&S) + Send>;

/// Runs jobs on shared state `S` on a thread of the namespace it was created in.
pub(crate) struct Control<S: Send + Sync + 'static> {
    tx: Mutex<Option<mpsc::Sender<Job<S>>>>,
    thread: Option<JoinHandle<()>>,
}

impl<S: Send + Sync + 'static> Control<S> {
    /// Starts the thread (in the caller's namespace) with `state`.
    pub(crate) fn start(state: Arc<S>) -> Result<Control<S>, LabError> {
        let (tx, rx) = mpsc::channel::<Job<S>>();
        let thread = std::thread::Builder::new()
            .name("fid-lab-control".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&state);
                }
            })
            .map_err(|e| LabError::Setup(format!("spawn the control thread: {e}")))?;
        Ok(Control {
            tx: Mutex::new(Some(tx)),
            thread: Some(thread),
        })
    }

    /// Runs `f` on the control thread and returns its result.
    pub(crate) fn run(
        &self,
        f: impl FnOnce(&S) -> Result<(), LabError> + Send + 'static,
    ) -> Result<(), LabError> {
        let (rtx, rrx) = mpsc::channel();
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|tx| {
                tx.send(Box::new(move |s: &S| {
                    let _ = rtx.send(f(s));
                }))
            });
        match sent {
            Some(Ok(())) => rrx
                .recv_timeout(JOB_LIMIT)
                .map_err(|_| LabError::Fault("the control job did not finish".into()))?,
            _ => Err(LabError::Fault("the control thread is gone".into())),
        }
    }
}

impl<S: Send + Sync + 'static> Drop for Control<S> {
    fn drop(&mut self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
