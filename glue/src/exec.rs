//! [`Exec`]: hyper's `rt::Executor` over a model runtime's `spawn`.

use std::future::Future;
use testbed_model::Runtime;

/// Spawns hyper's background tasks (HTTP/2 connection and stream tasks, client pool
/// connections) on the model runtime `R` instead of `tokio::spawn`.
///
/// hyper's HTTP/1 server, HTTP/2 server and hyper-util's auto server accept it as is. Clients
/// and tonic need a `Send + Sync` executor: that holds when `R` is (the simulator's `Host`).
#[derive(Clone, Debug)]
pub struct Exec<R> {
    rt: R,
}

impl<R: Runtime> Exec<R> {
    /// An executor spawning on `rt`.
    pub fn new(rt: R) -> Exec<R> {
        Exec { rt }
    }
}

impl<R, F> hyper::rt::Executor<F> for Exec<R>
where
    R: Runtime,
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        // Detached: hyper's tasks end on their own (connection closed or peer gone).
        drop(self.rt.spawn(fut));
    }
}
