//! One EAL per test binary (DPDK starts once per process), shared by its tests; tests skip
//! (testbed-testkit: saying why, or failing under TESTBED_REQUIRE_ALL=1) when it cannot start here.
#![allow(dead_code)]

use std::sync::OnceLock;
use testbed_dpdk::{Eal, EAL_ARGS_VIRTUAL};

static EAL: OnceLock<Result<Eal, String>> = OnceLock::new();

/// The binary's EAL, started with the virtual base arguments plus `extra`; `None` (after
/// skipping: see testbed-testkit) when it cannot start.
pub fn eal(extra: &[&str]) -> Option<&'static Eal> {
    let r = EAL.get_or_init(|| {
        let args: Vec<&str> = EAL_ARGS_VIRTUAL.iter().chain(extra).copied().collect();
        Eal::init(&args).map_err(|e| e.to_string())
    });
    match r {
        Ok(e) => Some(e),
        Err(e) => {
            testbed_testkit::skip(format_args!("the DPDK EAL does not start here: {e}"));
            None
        }
    }
}

/// A 60-byte Ethernet frame: given addresses, EtherType 0x88b5 (local experimental), payload
/// `tag` then a counting pattern.
pub fn frame(dst: [u8; 6], src: [u8; 6], tag: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&tag.to_be_bytes());
    while f.len() < 60 {
        f.push(f.len() as u8);
    }
    f
}
