//! The XDP filter and sampler against their models: generated frame sequences (valid TCP/UDP/ICMP, SYNs,
//! truncated headers, IP options, bad header lengths, fragments, IPv6, ARP, up to three VLAN
//! tags) go through the real eBPF program (BPF_PROG_TEST_RUN, its clock set to the model's)
//! and through `distributed::xdp::XdpFilter`; both must give the same verdict, the same
//! bytes and the same counter changes, frame by frame. Skips, saying why, without root or
//! clang.

use proptest::prelude::*;
use std::net::Ipv4Addr;
use testbed_distributed::xdp::{FilterLimits, XdpFilter as Model};
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::Instant;
use testbed_xdp::{FilterConfig, XdpFilter};

fn available() -> bool {
    testbed_testkit::require(testbed_xdp::available()).is_some()
}

/// What a generated frame is made of.
#[derive(Clone, Debug)]
struct Spec {
    vlans: Vec<u16>,
    ethertype: u16,
    version: u8,
    ihl: u8,
    src: [u8; 4],
    proto: u8,
    frag: u16,
    tcp_flags: u8,
    payload: usize,
    cut: Option<usize>,
    dt_ns: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    let src = prop_oneof![
        Just([192, 0, 2, 9]),
        Just([198, 51, 100, 7]),
        Just([198, 51, 100, 8]),
        Just([10, 1, 2, 3]),
        Just([203, 0, 113, 1]),
        Just([203, 0, 113, 2]),
        any::<[u8; 4]>(),
    ];
    let ethertype =
        prop_oneof![8 => Just(0x0800u16), 1 => Just(0x86dd), 1 => Just(0x0806), 1 => any::<u16>()];
    let vlans = prop::collection::vec(prop_oneof![Just(0x8100u16), Just(0x88a8)], 0..=3);
    let proto = prop_oneof![4 => Just(6u8), 2 => Just(17), 1 => Just(1), 1 => any::<u8>()];
    let flags = prop_oneof![
        Just(0x02u8),
        Just(0x12),
        Just(0x10),
        Just(0x18),
        Just(0x01),
        Just(0x04),
        any::<u8>()
    ];
    let frag =
        prop_oneof![6 => Just(0u16), 1 => Just(0x2000), 1 => 1u16..0x1fff, 1 => Just(0x4000)];
    (
        vlans,
        ethertype,
        prop_oneof![9 => Just(4u8), 1 => 0u8..16],
        prop_oneof![6 => Just(5u8), 2 => 6u8..=15, 1 => 0u8..5],
        src,
        proto,
        frag,
        flags,
        0usize..64,
        prop::option::weighted(0.15, 0usize..120),
        prop_oneof![Just(0u64), 1u64..500_000, 500_000u64..5_000_000],
    )
        .prop_map(
            |(vlans, ethertype, version, ihl, src, proto, frag, tcp_flags, payload, cut, dt_ns)| {
                Spec {
                    vlans,
                    ethertype,
                    version,
                    ihl,
                    src,
                    proto,
                    frag,
                    tcp_flags,
                    payload,
                    cut,
                    dt_ns,
                }
            },
        )
}

fn build(s: &Spec) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for t in &s.vlans {
        f.extend_from_slice(&t.to_be_bytes());
        f.extend_from_slice(&[0x00, 0x07]); // TCI
    }
    f.extend_from_slice(&s.ethertype.to_be_bytes());
    let l4_len = match s.proto {
        6 => 20,
        17 => 8,
        _ => 8,
    };
    let hl = s.ihl.max(5) as usize * 4;
    let total = hl + l4_len + s.payload;
    let mut ip = vec![0u8; hl];
    ip[0] = (s.version << 4) | s.ihl;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[6..8].copy_from_slice(&s.frag.to_be_bytes());
    ip[8] = 64;
    ip[9] = s.proto;
    ip[12..16].copy_from_slice(&s.src);
    ip[16..20].copy_from_slice(&[10, 0, 0, 1]);
    for (i, b) in ip[20..].iter_mut().enumerate() {
        *b = if i == 0 { 1 } else { 0 }; // NOP option, then end-of-list
    }
    f.extend_from_slice(&ip);
    let mut l4 = vec![0u8; l4_len];
    l4[0..2].copy_from_slice(&40000u16.to_be_bytes());
    l4[2..4].copy_from_slice(&80u16.to_be_bytes());
    if s.proto == 6 {
        l4[12] = 5 << 4;
        l4[13] = s.tcp_flags;
    }
    f.extend_from_slice(&l4);
    f.extend((0..s.payload).map(|i| i as u8));
    if let Some(c) = s.cut {
        f.truncate(c.max(14)); // BPF_PROG_TEST_RUN needs a whole Ethernet header
    }
    f
}

fn action(v: Verdict) -> u32 {
    match v {
        Verdict::Drop => 1,
        Verdict::Pass => 2,
        Verdict::Tx => 3,
        Verdict::Redirect(_) => 4,
        _ => u32::MAX,
    }
}

const LIMITS: FilterLimits = FilterLimits {
    cost_ns: 1_000_000,
    cap_ns: 3_000_000,
    syn_cost_ns: 4_000_000,
    syn_cap_ns: 8_000_000,
};

fn blocklist() -> [(Ipv4Addr, u8); 3] {
    [
        (Ipv4Addr::new(192, 0, 2, 0), 24),
        (Ipv4Addr::new(198, 51, 100, 7), 32),
        (Ipv4Addr::new(10, 0, 0, 0), 8),
    ]
}

/// Runs `specs` through both; the first difference, if any.
fn compare(specs: &[Spec], limits: FilterLimits) -> Result<(), String> {
    let mut real = XdpFilter::load().map_err(|e| e.to_string())?;
    let mut model = Model::new();
    for (net, len) in blocklist() {
        real.maps.block(net, len).map_err(|e| e.to_string())?;
        model.block(net, len);
    }
    model.set_limits(limits);
    let mut now = 1u64; // zero would mean "the kernel clock" to the program
    for (i, s) in specs.iter().enumerate() {
        now += s.dt_ns;
        real.maps
            .configure(FilterConfig {
                cost_ns: limits.cost_ns,
                cap_ns: limits.cap_ns,
                syn_cost_ns: limits.syn_cost_ns,
                syn_cap_ns: limits.syn_cap_ns,
                now_ns: now,
            })
            .map_err(|e| e.to_string())?;
        let frame = build(s);
        let before = real.maps.counters().map_err(|e| e.to_string())?;
        let mbefore = model.counters();
        let (got, out) = real.test_run(&frame).map_err(|e| e.to_string())?;
        let mut mframe = frame.clone();
        let want = action(model.on_packet(Instant::from_nanos(now), &mut mframe));
        let after = real.maps.counters().map_err(|e| e.to_string())?;
        let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        let mdelta: Vec<u64> = model
            .counters()
            .iter()
            .zip(mbefore)
            .map(|(a, b)| a - b)
            .collect();
        if got != want || out != mframe || delta != mdelta {
            return Err(format!(
                "frame {i} {s:?} ({} bytes): eBPF action {got}, model {want}; bytes equal: {}; counter deltas eBPF {delta:?} model {mdelta:?}",
                frame.len(),
                out == mframe
            ));
        }
    }
    Ok(())
}

#[test]
fn the_filter_and_its_model_agree_frame_by_frame() {
    if !available() {
        return;
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(spec(), 1..48), |specs| {
            compare(&specs, LIMITS).map_err(TestCaseError::fail)
        })
        .unwrap();
    // And with the limits off (the early pass path).
    runner
        .run(&prop::collection::vec(spec(), 1..16), |specs| {
            compare(&specs, FilterLimits::default()).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn a_planted_difference_is_caught() {
    if !available() {
        return;
    }
    // The model with a different SYN limit must disagree somewhere on a SYN burst: the test
    // above can fail.
    let syn = Spec {
        vlans: vec![],
        ethertype: 0x0800,
        version: 4,
        ihl: 5,
        src: [203, 0, 113, 50],
        proto: 6,
        frag: 0,
        tcp_flags: 0x02,
        payload: 0,
        cut: None,
        dt_ns: 0,
    };
    let specs = vec![syn; 5];
    assert!(compare(&specs, LIMITS).is_ok());
    let mut real = XdpFilter::load().unwrap();
    real.maps
        .configure(FilterConfig {
            cost_ns: LIMITS.cost_ns,
            cap_ns: LIMITS.cap_ns,
            syn_cost_ns: LIMITS.syn_cost_ns,
            syn_cap_ns: LIMITS.syn_cap_ns,
            now_ns: 1,
        })
        .unwrap();
    let mut model = Model::new();
    model.set_limits(FilterLimits {
        syn_cap_ns: LIMITS.syn_cap_ns * 2,
        ..LIMITS
    });
    let frame = build(&specs[0]);
    let differs = (0..5).any(|_| {
        let (got, _) = real.test_run(&frame).unwrap();
        got != action(model.decide(1, &frame.clone()))
    });
    assert!(
        differs,
        "a model with twice the SYN burst disagrees on a SYN burst"
    );
}

#[test]
fn the_sampler_and_its_model_agree() {
    if !available() {
        return;
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(prop::collection::vec(spec(), 1..64), 0u64..5),
            |(specs, every)| {
                let mut real = testbed_xdp::XdpSampler::load(every)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut model = testbed_distributed::xdp::Sampler::new(every, 4096);
                for s in &specs {
                    let frame = build(s);
                    let got = real
                        .test_run(&frame)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let want = action(model.on_packet(Instant::ZERO, &mut frame.clone()));
                    prop_assert_eq!(got, want);
                }
                let real_samples: Vec<(u64, u32, Vec<u8>)> = real
                    .drain()
                    .into_iter()
                    .map(|s| (s.seq, s.len, s.data))
                    .collect();
                let model_samples: Vec<(u64, u32, Vec<u8>)> = model
                    .drain()
                    .into_iter()
                    .map(|s| (s.seq, s.len, s.data))
                    .collect();
                prop_assert_eq!(&real_samples, &model_samples);
                let st = real
                    .stats()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!((st.seen, st.sampled, st.lost), model.stats());
                if every == 1 {
                    prop_assert_eq!(real_samples.len(), specs.len(), "every packet sampled");
                }
                Ok(())
            },
        )
        .unwrap();
}
