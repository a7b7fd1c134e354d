//! The compiled XDP objects, embedded at build time.

use crate::XdpError;

static FILTER: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/filter.o"));
static SAMPLER: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sampler.o"));
static TXGEN: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/txgen.o"));
static XSK: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xsk.o"));
static LB: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lb.o"));

/// The ELF object of program `name`, or why it is missing.
pub(crate) fn object(name: &str) -> Result<&'static [u8], XdpError> {
    let obj = match name {
        "filter" => FILTER,
        "sampler" => SAMPLER,
        "txgen" => TXGEN,
        "xsk" => XSK,
        "lb" => LB,
        other => return Err(XdpError::NotBuilt(other.into())),
    };
    if obj.is_empty() {
        return Err(XdpError::NotBuilt(name.into()));
    }
    Ok(obj)
}
