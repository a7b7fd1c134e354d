//! tracing-core caches a callsite's interest process-wide the first time any thread reaches
//! it. While one dispatcher is registered it asks the *reaching thread's* default, so a thread
//! without a subscriber that reaches a callsite first would cache "never" for it and the
//! thread whose subscriber wanted the line would lose it (tokio-rs/tracing#3611: in this
//! crate's own tests, parallel runs lost the fault lines in 21 of 40 runs). [`subscriber`]
//! prevents that (creating a `SimLayer` registers a bystander dispatcher). This file is its own process so that no other test's dispatcher hides it.

use testbed_tracing::{filter, subscriber, Format, SimLayer};

fn reach() {
    tracing::info!("reached");
}

#[test]
fn a_callsite_reached_first_on_an_untraced_thread_still_reaches_the_traced_one() {
    let (layer, lines) = SimLayer::captured(Format::Human, 10);
    tracing::subscriber::with_default(subscriber(layer, filter("info").unwrap()), || {
        std::thread::spawn(reach).join().unwrap();
        reach();
    });
    assert_eq!(lines.text(), "[          ? -]  INFO interest: reached\n");
}
