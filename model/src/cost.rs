//! Cost accounting: what an I/O path costs in syscalls, copies and context switches.
//!
//! Backends and the simulator fill these in; benches and scenarios report them, so the copy
//! arithmetic of the guide 网络编程进阶主题 (4 copies for read+write, 2 for sendfile) is
//! measured, not asserted.

use core::ops::{Add, AddAssign, Sub};

/// Counters of the work an I/O path did. All fields count events or bytes since some start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CostCounters {
    /// System calls made.
    pub syscalls: u64,
    /// Copies made by the CPU (user↔kernel or within memory).
    pub cpu_copies: u64,
    /// Bytes the CPU copied.
    pub cpu_copy_bytes: u64,
    /// Copies made by DMA engines (disk→memory, memory→NIC).
    pub dma_copies: u64,
    /// Bytes moved by DMA.
    pub dma_copy_bytes: u64,
    /// Voluntary context switches (blocked in the kernel).
    pub context_switches_voluntary: u64,
    /// Involuntary context switches (preempted).
    pub context_switches_involuntary: u64,
}

impl CostCounters {
    /// Records one CPU copy of `bytes`.
    pub fn cpu_copy(&mut self, bytes: u64) {
        self.cpu_copies += 1;
        self.cpu_copy_bytes += bytes;
    }
    /// Records one DMA copy of `bytes`.
    pub fn dma_copy(&mut self, bytes: u64) {
        self.dma_copies += 1;
        self.dma_copy_bytes += bytes;
    }
    /// Records `n` syscalls.
    pub fn syscall(&mut self, n: u64) {
        self.syscalls += n;
    }
    /// Name/value pairs in a fixed order, for reports.
    pub fn fields(&self) -> [(&'static str, u64); 7] {
        [
            ("syscalls", self.syscalls),
            ("cpu_copies", self.cpu_copies),
            ("cpu_copy_bytes", self.cpu_copy_bytes),
            ("dma_copies", self.dma_copies),
            ("dma_copy_bytes", self.dma_copy_bytes),
            (
                "context_switches_voluntary",
                self.context_switches_voluntary,
            ),
            (
                "context_switches_involuntary",
                self.context_switches_involuntary,
            ),
        ]
    }
}

macro_rules! fieldwise {
    ($self:ident, $o:ident, $op:ident) => {
        CostCounters {
            syscalls: $self.syscalls.$op($o.syscalls),
            cpu_copies: $self.cpu_copies.$op($o.cpu_copies),
            cpu_copy_bytes: $self.cpu_copy_bytes.$op($o.cpu_copy_bytes),
            dma_copies: $self.dma_copies.$op($o.dma_copies),
            dma_copy_bytes: $self.dma_copy_bytes.$op($o.dma_copy_bytes),
            context_switches_voluntary: $self
                .context_switches_voluntary
                .$op($o.context_switches_voluntary),
            context_switches_involuntary: $self
                .context_switches_involuntary
                .$op($o.context_switches_involuntary),
        }
    };
}

impl Add for CostCounters {
    type Output = CostCounters;
    fn add(self, o: CostCounters) -> CostCounters {
        fieldwise!(self, o, saturating_add)
    }
}
impl AddAssign for CostCounters {
    fn add_assign(&mut self, o: CostCounters) {
        *self = *self + o;
    }
}
impl Sub for CostCounters {
    type Output = CostCounters;
    /// The difference between a later and an earlier reading (saturating at zero).
    fn sub(self, o: CostCounters) -> CostCounters {
        fieldwise!(self, o, saturating_sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_path_is_four_copies() {
        // The guide's §1.1 arithmetic (网络编程进阶主题), expressed in counters: disk→kernel (DMA),
        // kernel→user (CPU), user→socket (CPU), socket→NIC (DMA).
        let mut c = CostCounters::default();
        c.dma_copy(4096);
        c.cpu_copy(4096);
        c.cpu_copy(4096);
        c.dma_copy(4096);
        c.syscall(2);
        assert_eq!(c.cpu_copies + c.dma_copies, 4);
        let later = c + c;
        assert_eq!(later - c, c);
        assert_eq!(c.fields()[0], ("syscalls", 2));
    }
}
