//! A second, always-registered dispatcher that wants nothing (registered when the first
//! `SimLayer` is created), so that tracing-core never takes its single-dispatcher shortcut.
//!
//! While exactly one dispatcher is registered, tracing-core computes a newly reached
//! callsite's interest from the default of the thread that reached it, not from the registered
//! dispatcher (tokio-rs/tracing#3611, tracing-core 0.1.36). A test thread with no subscriber
//! that reaches a callsite first caches "never" for it for the life of the process, and a
//! simulation traced on another thread loses those lines. With two dispatchers registered the
//! interest is combined over every live registered dispatcher, which is right.

use std::sync::OnceLock;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, LevelFilter, Metadata, Subscriber};

/// Registers the bystander once per process (it is never installed as anyone's default).
pub(crate) fn keep_interest_general() {
    static BYSTANDER: OnceLock<Dispatch> = OnceLock::new();
    BYSTANDER.get_or_init(|| Dispatch::new(Bystander));
}

/// Enables nothing, so it never changes what another dispatcher records.
struct Bystander;

impl Subscriber for Bystander {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::never()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::OFF)
    }

    // Never called: nothing is enabled.
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(u64::MAX)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
