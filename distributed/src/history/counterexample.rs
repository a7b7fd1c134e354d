//! What the checker shows when a history is not linearizable.

use std::fmt;

/// Evidence of non-linearizability in one partition: the longest linearizable prefix the
/// search found, and the operation that could not be placed after it (every order that
/// respects real time reaches a point where that operation must already have taken effect
/// but its output contradicts the state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The partition (e.g. the key), as the model's `Debug` prints it.
    pub partition: String,
    /// History indices of every operation in the partition.
    pub partition_ops: Vec<usize>,
    /// History indices of the longest linearizable prefix, in linearization order.
    pub prefix: Vec<usize>,
    /// The prefix, described by the model.
    pub prefix_described: Vec<String>,
    /// History index of the operation that cannot be placed.
    pub stuck: usize,
    /// That operation, described by the model.
    pub stuck_described: String,
    /// The model state after the prefix.
    pub state_after_prefix: String,
}

/// How many prefix operations the text form shows (the last ones).
const SHOWN: usize = 12;

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "not linearizable (partition {}, {} operations): longest linearizable prefix has {} operations",
            self.partition,
            self.partition_ops.len(),
            self.prefix.len()
        )?;
        let skip = self.prefix.len().saturating_sub(SHOWN);
        if skip > 0 {
            writeln!(f, "  ... {skip} earlier operations")?;
        }
        for (i, (idx, d)) in self
            .prefix
            .iter()
            .zip(&self.prefix_described)
            .enumerate()
            .skip(skip)
        {
            writeln!(f, "  {:>4}. op #{idx}: {d}", i + 1)?;
        }
        writeln!(f, "  state after prefix: {}", self.state_after_prefix)?;
        write!(
            f,
            "  cannot place op #{}: {}",
            self.stuck, self.stuck_described
        )
    }
}
