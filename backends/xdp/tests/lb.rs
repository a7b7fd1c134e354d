//! The XDP load balancer for real: loaded and verified, frames through BPF_PROG_TEST_RUN. A
//! TCP SYN for the VIP leaves rewritten to a backend (XDP_TX) with checksums that verify from
//! scratch; the flow sticks; other traffic passes. Skips, saying why, without root or clang.

use std::net::Ipv4Addr;
use testbed_xdp::{XdpError, XdpLb, LB_TABLE_MAX};

fn available() -> bool {
    testbed_testkit::require(testbed_xdp::available()).is_some()
}

const VIP: [u8; 4] = [10, 0, 0, 100];
const LB_MAC: [u8; 6] = [0x02, 0x1b, 0, 0, 0, 0x01];

fn backends() -> Vec<(Ipv4Addr, [u8; 6])> {
    (0..3u8)
        .map(|i| {
            (
                Ipv4Addr::new(10, 1, 0, 10 + i),
                [0x02, 0xbe, 0, 0, 0, 10 + i],
            )
        })
        .collect()
}

/// The one's complement sum of `bytes` as 16-bit big-endian words, folded.
fn ones_sum(bytes: &[u8], mut sum: u32) -> u16 {
    for c in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Sums the TCP/UDP pseudo-header and segment of the IPv4 packet at `ip` (checksum included):
/// 0xffff when the checksum is right.
fn l4_sum(f: &[u8], ip: usize) -> u16 {
    let ihl = (f[ip] & 0x0f) as usize * 4;
    let seg = &f[ip + ihl..];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[ip + 12..ip + 20]);
    pseudo.extend_from_slice(&[0, f[ip + 9]]);
    pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    ones_sum(seg, u32::from(ones_sum(&pseudo, 0)))
}

/// Ethernet + IPv4 + TCP SYN (or UDP) with 6 payload bytes and correct checksums.
fn frame(src: [u8; 4], sport: u16, dport: u16, proto: u8) -> Vec<u8> {
    let l4 = if proto == 6 { 20 } else { 8 };
    let mut f = vec![0u8; 14 + 20 + l4 + 6];
    f[0..6].copy_from_slice(&LB_MAC);
    f[6..12].copy_from_slice(&[0x02, 0xc1, 0, 0, 0, 0x07]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((20 + l4 + 6) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = proto;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&VIP);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    if proto == 6 {
        f[38..42].copy_from_slice(&7u32.to_be_bytes()); // sequence number
        f[46] = 5 << 4;
        f[47] = 0x02; // SYN
        f[48..50].copy_from_slice(&64240u16.to_be_bytes());
    } else {
        f[38..40].copy_from_slice(&((8 + 6) as u16).to_be_bytes());
    }
    f[14 + 20 + l4..].copy_from_slice(b"hello!");
    let ip = !ones_sum(&f[14..34], 0);
    f[24..26].copy_from_slice(&ip.to_be_bytes());
    let at = if proto == 6 { 50 } else { 40 };
    let l4c = !l4_sum(&f, 14);
    f[at..at + 2].copy_from_slice(&l4c.to_be_bytes());
    assert_eq!(ones_sum(&f[14..34], 0), 0xffff);
    assert_eq!(l4_sum(&f, 14), 0xffff);
    f
}

#[test]
fn a_vip_syn_is_rewritten_to_a_backend_with_valid_checksums() {
    if !available() {
        return;
    }
    let mut lb = XdpLb::load().unwrap();
    lb.set_vip(Ipv4Addr::from(VIP), 80, 6, LB_MAC, None)
        .unwrap();
    lb.set_backends(&backends()).unwrap();
    // Every slot of a 251-slot table names backend 1.
    lb.set_table(&[1; 251]).unwrap();

    let syn = frame([198, 51, 100, 7], 40000, 80, 6);
    let (action, out) = lb.test_run(&syn).unwrap();
    assert_eq!(action, 3, "XDP_TX");
    assert_eq!(out.len(), syn.len());
    assert_eq!(
        &out[0..6],
        &backends()[1].1,
        "destination MAC := backend 1's"
    );
    assert_eq!(&out[6..12], &LB_MAC, "source MAC := the LB's");
    assert_eq!(
        &out[30..34],
        &[10, 1, 0, 11],
        "destination IPv4 := backend 1's"
    );
    assert_eq!(&out[26..30], &[198, 51, 100, 7], "source untouched");
    assert_ne!(out[24..26], syn[24..26], "the IPv4 checksum changed");
    assert_eq!(ones_sum(&out[14..34], 0), 0xffff, "IPv4 checksum verifies");
    assert_eq!(l4_sum(&out, 14), 0xffff, "TCP checksum verifies");
    assert_eq!(
        &out[34..50],
        &syn[34..50],
        "TCP header untouched but for its checksum"
    );
    assert_eq!(&out[52..], &syn[52..], "payload untouched");

    // The flow sticks when the table moves everything to backend 2; a new flow follows it.
    lb.set_table(&[2; 251]).unwrap();
    let (_, again) = lb.test_run(&syn).unwrap();
    assert_eq!(&again[30..34], &[10, 1, 0, 11], "conntrack keeps the flow");
    let (_, other) = lb
        .test_run(&frame([198, 51, 100, 8], 40000, 80, 6))
        .unwrap();
    assert_eq!(
        &other[30..34],
        &[10, 1, 0, 12],
        "a new flow follows the table"
    );

    // Not the VIP's port, or not its protocol: passed untouched.
    let web = frame([198, 51, 100, 7], 40000, 443, 6);
    assert_eq!(lb.test_run(&web).unwrap(), (2, web.clone()));
    let dns = frame([198, 51, 100, 7], 40000, 80, 17);
    assert_eq!(lb.test_run(&dns).unwrap(), (2, dns.clone()));

    let c = lb.counters().unwrap();
    assert_eq!(c[2], 3, "tx: {c:?}");
    assert_eq!(c[4], 2, "new_flow: {c:?}");
    assert_eq!(c[5], 1, "existing_flow: {c:?}");
    assert_eq!(c[1], 2, "pass_not_vip: {c:?}");
}

#[test]
fn udp_to_the_vip_is_redirected_and_a_zero_checksum_stays_zero() {
    if !available() {
        return;
    }
    let mut lb = XdpLb::load().unwrap();
    lb.set_vip(Ipv4Addr::from(VIP), 53, 17, LB_MAC, Some(1))
        .unwrap();
    lb.set_backends(&backends()).unwrap();
    lb.set_table(&[0; 251]).unwrap();
    let dns = frame([198, 51, 100, 7], 5353, 53, 17);
    let (action, out) = lb.test_run(&dns).unwrap();
    assert_eq!(action, 4, "XDP_REDIRECT");
    assert_eq!(&out[30..34], &[10, 1, 0, 10]);
    assert_eq!(ones_sum(&out[14..34], 0), 0xffff, "IPv4 checksum verifies");
    assert_eq!(l4_sum(&out, 14), 0xffff, "UDP checksum verifies");
    let mut bare = frame([198, 51, 100, 9], 5353, 53, 17);
    bare[40..42].copy_from_slice(&[0, 0]);
    let (_, out) = lb.test_run(&bare).unwrap();
    assert_eq!(&out[40..42], &[0, 0], "no UDP checksum stays none");
    assert_eq!(ones_sum(&out[14..34], 0), 0xffff);
    // No backends: dropped.
    lb.set_backends(&[]).unwrap();
    let (action, _) = lb.test_run(&frame([198, 51, 100, 10], 1, 53, 17)).unwrap();
    assert_eq!(action, 1, "XDP_DROP without a backend");
    assert_eq!(lb.counters().unwrap()[6], 1, "drop_no_backend");
}

#[test]
fn a_table_larger_than_the_map_is_refused() {
    if !available() {
        return;
    }
    let mut lb = XdpLb::load().unwrap();
    let err = lb.set_table(&vec![0; LB_TABLE_MAX + 1]).unwrap_err();
    assert!(
        matches!(err, XdpError::TooLarge { len, max, .. } if len == LB_TABLE_MAX + 1 && max == LB_TABLE_MAX),
        "{err}"
    );
}
