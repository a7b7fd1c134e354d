//! Models of the XDP programs in `backends/xdp/bpf/`: the same decisions as their eBPF twins,
//! as `model::PacketFilter`s the simulator runs. The differential tests
//! (`scenarios/tests/xdp_twins.rs`, `scenarios/tests/xdp_lb_twins.rs`) run generated frames
//! through both and require the same verdict, the same bytes out and the same counter changes.

pub mod filter;
pub mod frame;
pub mod lb;
pub mod sampler;

pub use filter::{FilterLimits, XdpFilter, FILTER_COUNTERS};
pub use lb::{XdpLb, LB_COUNTERS};
pub use sampler::Sampler;
