//! [`Captured`]: the lines a layer wrote, kept in memory (bounded) with their stamps, for tests
//! that compare outputs and for merging into the simulator's JSONL trace.

use std::sync::{Arc, Mutex, MutexGuard};

/// One rendered span or event, with where it happened in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Line {
    /// Simulated time in nanoseconds (`None` outside a run or when unreadable).
    pub t_ns: Option<u64>,
    /// How many simulator trace events came before it (`None` as for `t_ns`).
    pub trace_events: Option<u64>,
    /// The line, without its newline.
    pub text: String,
}

#[derive(Debug)]
struct State {
    lines: Vec<Line>,
    max: usize,
    dropped: u64,
}

/// A bounded in-memory sink, shared between a [`SimLayer`](crate::SimLayer) and its reader.
/// Past `max_lines` further lines are counted in [`Captured::dropped`], not kept.
#[derive(Clone, Debug)]
pub struct Captured(Arc<Mutex<State>>);

impl Captured {
    pub(crate) fn new(max_lines: usize) -> Captured {
        Captured(Arc::new(Mutex::new(State {
            lines: Vec::new(),
            max: max_lines,
            dropped: 0,
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, line: Line) {
        let mut s = self.state();
        if s.lines.len() < s.max {
            s.lines.push(line);
        } else {
            s.dropped += 1;
        }
    }

    /// The lines kept so far.
    pub fn lines(&self) -> Vec<Line> {
        self.state().lines.clone()
    }

    /// The lines kept so far, each followed by a newline.
    pub fn text(&self) -> String {
        let s = self.state();
        let mut out = String::with_capacity(s.lines.iter().map(|l| l.text.len() + 1).sum());
        for l in &s.lines {
            out.push_str(&l.text);
            out.push('\n');
        }
        out
    }

    /// Removes and returns the lines kept so far.
    pub fn take(&self) -> Vec<Line> {
        std::mem::take(&mut self.state().lines)
    }

    /// How many lines were not kept because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_max_lines_and_counts_the_rest() {
        let c = Captured::new(2);
        for i in 0..5 {
            c.push(Line {
                t_ns: Some(i),
                trace_events: Some(0),
                text: format!("l{i}"),
            });
        }
        assert_eq!(c.text(), "l0\nl1\n");
        assert_eq!(c.dropped(), 3);
        assert_eq!(c.take().len(), 2);
        assert!(c.lines().is_empty());
    }
}
