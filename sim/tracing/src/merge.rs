//! One JSONL file from a run: the simulator's trace events with captured `tracing` lines placed
//! exactly where they happened among them (each line knows how many trace events preceded it).

use crate::capture::Line;
use std::io::{self, Write};
use testbed_sim::trace::{write_jsonl, Event};

/// Writes `events` as [`testbed_sim::trace::write_jsonl`] does, with each of `lines` (JSON
/// lines from a [`SimLayer`](crate::SimLayer) in [`Format::Jsonl`](crate::Format::Jsonl))
/// after the trace events that came before it. A line without a position (emitted outside the
/// run) keeps the position of the line before it.
pub fn write_jsonl_merged(
    events: &[Event],
    hosts: &[String],
    lines: &[Line],
    mut out: impl Write,
) -> io::Result<()> {
    let mut done = 0usize;
    for line in lines {
        let upto = line
            .trace_events
            .map_or(done, |n| usize::try_from(n).unwrap_or(usize::MAX))
            .clamp(done, events.len());
        write_jsonl(&events[done..upto], hosts, &mut out)?;
        done = upto;
        writeln!(out, "{}", line.text)?;
    }
    write_jsonl(&events[done..], hosts, &mut out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_model::Instant;
    use testbed_sim::trace::{DropReason, Kind};

    fn ev(t: u64) -> Event {
        Event {
            time: Instant::from_nanos(t),
            kind: Kind::Timer,
            reason: DropReason::None,
            src: 0,
            dst: u32::MAX,
            a: t,
            b: 0,
        }
    }

    fn line(n: Option<u64>, text: &str) -> Line {
        Line {
            t_ns: None,
            trace_events: n,
            text: text.into(),
        }
    }

    #[test]
    fn lines_go_after_the_events_that_preceded_them() {
        let events = [ev(1), ev(2), ev(3)];
        let lines = [
            line(Some(0), "L0"),
            line(Some(2), "L2"),
            line(None, "Lnone"),
            line(Some(1), "Lback"), // never moves backwards
            line(Some(9), "Lpast"), // clamped to the end
        ];
        let mut out = Vec::new();
        write_jsonl_merged(&events, &["h".into()], &lines, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let order: Vec<&str> = text
            .lines()
            .map(|l| {
                if l.starts_with('L') {
                    l
                } else if l.contains("\"a\":1,") {
                    "E1"
                } else if l.contains("\"a\":2,") {
                    "E2"
                } else {
                    "E3"
                }
            })
            .collect();
        assert_eq!(
            order,
            ["L0", "E1", "E2", "L2", "Lnone", "Lback", "E3", "Lpast"]
        );
    }
}
