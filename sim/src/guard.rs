//! Guards against the two ways tokio silently breaks a simulation: running `Sim::run` inside a
//! tokio runtime (its timers and reactor run on real time beside the virtual clock), and a task
//! calling tokio's timer, reactor or spawner (which panics with "no reactor running").

/// What to use instead of tokio under the simulator; appended to both guards' messages.
pub(crate) const INSTEAD: &str = "under the simulator use the host's runtime instead of tokio: \
     `h.sleep(d)` / `h.sleep_until(t)` for tokio::time::sleep, `testbed_model::timeout(&h, d, f)` \
     for tokio::time::timeout, `h.spawn(f)` for tokio::spawn, `h.listen`/`h.connect` for \
     tokio::net, and testbed-glue's `serve`/`Connector`/`Exec`/`Timer` for axum::serve, tonic's \
     Server/Endpoint::connect and hyper-util's TokioExecutor/TokioTimer";

/// `Some(flavor)` when the current thread is inside a tokio runtime.
pub(crate) fn tokio_runtime_flavor() -> Option<String> {
    let h = tokio::runtime::Handle::try_current().ok()?;
    Some(format!("{:?}", h.runtime_flavor()))
}

/// Whether a panic payload is tokio complaining that no runtime (reactor, timer) is running.
pub(crate) fn is_tokio_context_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.contains("no reactor running") || msg.contains("Tokio 1.x runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokio_outside_a_runtime_is_recognised() {
        let p = std::panic::catch_unwind(|| drop(tokio::spawn(async {}))).expect_err("no runtime");
        assert!(is_tokio_context_panic(&*p));
        let other = std::panic::catch_unwind(|| panic!("unrelated")).expect_err("panics");
        assert!(!is_tokio_context_panic(&*other));
        assert_eq!(tokio_runtime_flavor(), None);
    }
}
