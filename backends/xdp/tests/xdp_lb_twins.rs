//! The XDP load balancer against its model: generated frame sequences (TCP/UDP to the VIP and
//! elsewhere, ICMP, other ports, fragments, VLAN tags, IP options, bad header lengths, truncated
//! frames, valid, zero and garbage checksums) go through the real eBPF program
//! (BPF_PROG_TEST_RUN) and through `distributed::xdp::XdpLb`, both loaded with the same Maglev
//! table from `distributed::balance::Maglev`. Halfway through each sequence the backend set
//! changes (a new table into both; removed backends drained or emptied) and the sequence goes
//! on. Both must give the same verdict, the same bytes and the same counter changes, frame by
//! frame. Beyond agreement, the eBPF output is held to the balancer's contract: a flow seen
//! before the change keeps its backend unless that backend's slot was emptied, a new flow
//! lands on the new table's pick, and a frame that came in with valid checksums leaves with
//! valid checksums. Skips, saying why, without root or clang.

use proptest::prelude::*;
use proptest::test_runner::{TestRng, TestRunner};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use testbed_distributed::balance::{Balancer, Maglev};
use testbed_distributed::xdp::lb::{csum_replace4, Flow};
use testbed_distributed::xdp::XdpLb as Model;
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::Instant;
use testbed_xdp::XdpLb;

fn available() -> bool {
    testbed_testkit::require(testbed_xdp::available()).is_some()
}

const VIP: [u8; 4] = [10, 0, 0, 100];
const VIP_PORT: u16 = 80;
const LB_MAC: [u8; 6] = [0x02, 0x1b, 0, 0, 0, 0x01];
/// Backends the sequences draw from; backend `i` is node `i` of the Maglev table.
const BACKENDS: usize = 6;

fn backend(i: usize) -> (Ipv4Addr, [u8; 6]) {
    (
        Ipv4Addr::new(10, 1, 0, 10 + i as u8),
        [0x02, 0xbe, 0, 0, 0, i as u8],
    )
}

/// How a generated frame's checksums are set.
#[derive(Clone, Copy, Debug)]
enum Csum {
    Valid,
    /// UDP: "no checksum"; others: zero in the L4 checksum field.
    Zero,
    Garbage(u16, u16),
}

/// What a generated frame is made of.
#[derive(Clone, Debug)]
struct Spec {
    vlans: Vec<u16>,
    ethertype: u16,
    version: u8,
    ihl: u8,
    src: [u8; 4],
    dst: [u8; 4],
    /// `None`: the VIP's protocol.
    proto: Option<u8>,
    frag: u16,
    sport: u16,
    dport: u16,
    csum: Csum,
    payload: usize,
    cut: Option<usize>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let src = prop_oneof![
        Just([198, 51, 100, 1]),
        Just([198, 51, 100, 2]),
        Just([203, 0, 113, 7]),
        Just([192, 0, 2, 200]),
        any::<[u8; 4]>(),
    ];
    let dst = prop_oneof![8 => Just(VIP), 1 => Just([10, 0, 0, 101]), 1 => any::<[u8; 4]>()];
    let ethertype =
        prop_oneof![10 => Just(0x0800u16), 1 => Just(0x86dd), 1 => Just(0x0806), 1 => any::<u16>()];
    let tag = || prop_oneof![Just(0x8100u16), Just(0x88a8)];
    let vlans = prop_oneof![
        6 => Just(vec![]),
        3 => prop::collection::vec(tag(), 1..=2),
        1 => prop::collection::vec(tag(), 3..=3)
    ];
    let proto = prop_oneof![
        10 => Just(None),
        2 => Just(Some(6u8)),
        2 => Just(Some(17)),
        1 => Just(Some(1)),
        1 => any::<u8>().prop_map(Some)
    ];
    let frag = prop_oneof![
        8 => Just(0u16),
        2 => Just(0x4000), // don't fragment: balanced
        1 => Just(0x2000),
        1 => 1u16..0x1fff
    ];
    let sport = prop_oneof![4 => 40000u16..40003, 1 => any::<u16>()];
    let dport = prop_oneof![8 => Just(VIP_PORT), 1 => Just(81), 1 => any::<u16>()];
    let csum = prop_oneof![
        6 => Just(Csum::Valid),
        2 => Just(Csum::Zero),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Csum::Garbage(a, b))
    ];
    (
        (vlans, ethertype, prop_oneof![12 => Just(4u8), 1 => 0u8..16]),
        (
            prop_oneof![6 => Just(5u8), 2 => 6u8..=15, 1 => 0u8..5],
            src,
            dst,
            proto,
            frag,
        ),
        (sport, dport, csum, 0usize..64),
        prop::option::weighted(0.1, 0usize..120),
    )
        .prop_map(
            |(
                (vlans, ethertype, version),
                (ihl, src, dst, proto, frag),
                (sport, dport, csum, payload),
                cut,
            )| Spec {
                vlans,
                ethertype,
                version,
                ihl,
                src,
                dst,
                proto,
                frag,
                sport,
                dport,
                csum,
                payload,
                cut,
            },
        )
}

/// The one's complement sum of `bytes` (16-bit big-endian words) added to `sum`, folded.
fn ones_sum(bytes: &[u8], mut sum: u32) -> u16 {
    for c in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The pseudo-header plus segment sum of the IPv4 packet at `ip` with an `ihl`-byte header.
fn l4_sum(f: &[u8], ip: usize, ihl: usize) -> u16 {
    let seg = &f[ip + ihl..];
    let mut pseudo = f[ip + 12..ip + 20].to_vec();
    pseudo.extend_from_slice(&[0, f[ip + 9]]);
    pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    ones_sum(seg, u32::from(ones_sum(&pseudo, 0)))
}

/// A frame and where its IPv4 header is.
struct Built {
    frame: Vec<u8>,
    ip: usize,
    ihl: usize,
    /// Not truncated.
    whole: bool,
}

fn build(s: &Spec, vip_proto: u8) -> Built {
    let proto = s.proto.unwrap_or(vip_proto);
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for t in &s.vlans {
        f.extend_from_slice(&t.to_be_bytes());
        f.extend_from_slice(&[0x00, 0x07]); // TCI
    }
    f.extend_from_slice(&s.ethertype.to_be_bytes());
    let at = f.len();
    let l4_len = if proto == 6 { 20 } else { 8 };
    let hl = s.ihl.max(5) as usize * 4;
    let total = hl + l4_len + s.payload;
    let mut ip = vec![0u8; hl];
    ip[0] = (s.version << 4) | s.ihl;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6..8].copy_from_slice(&s.frag.to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&s.src);
    ip[16..20].copy_from_slice(&s.dst);
    for (i, b) in ip[20..].iter_mut().enumerate() {
        *b = if i == 0 { 1 } else { 0 }; // NOP option, then end-of-list
    }
    f.extend_from_slice(&ip);
    let mut l4 = vec![0u8; l4_len];
    l4[0..2].copy_from_slice(&s.sport.to_be_bytes());
    l4[2..4].copy_from_slice(&s.dport.to_be_bytes());
    if proto == 6 {
        l4[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = 0x02; // SYN
        l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
    } else {
        l4[4..6].copy_from_slice(&((8 + s.payload) as u16).to_be_bytes());
    }
    f.extend_from_slice(&l4);
    f.extend((0..s.payload).map(|i| (i as u8).wrapping_mul(37)));
    let check_at = at + hl + if proto == 6 { 16 } else { 6 };
    match s.csum {
        Csum::Valid | Csum::Zero => {
            let c = !ones_sum(&f[at..at + hl], 0);
            f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
            let c = match s.csum {
                Csum::Zero => 0,
                _ => match !l4_sum(&f, at, hl) {
                    0 if proto == 17 => 0xffff,
                    c => c,
                },
            };
            f[check_at..check_at + 2].copy_from_slice(&c.to_be_bytes());
        }
        Csum::Garbage(a, b) => {
            f[at + 10..at + 12].copy_from_slice(&a.to_be_bytes());
            f[check_at..check_at + 2].copy_from_slice(&b.to_be_bytes());
        }
    }
    let len = f.len();
    if let Some(c) = s.cut {
        f.truncate(c.max(14)); // BPF_PROG_TEST_RUN needs a whole Ethernet header
    }
    Built {
        whole: f.len() == len,
        frame: f,
        ip: at,
        ihl: hl,
    }
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

/// One generated run: the VIP's protocol, where rewritten frames go, the Maglev table size,
/// the backends before and after the change (bit `i`: backend `i`), whether backends that
/// left are emptied (their flows pick again) or drained (their flows stay), and the frames
/// before and after the change.
#[derive(Clone, Debug)]
struct Case {
    vip_proto: u8,
    redirect: Option<u32>,
    table_size: u64,
    members_before: u8,
    members_after: u8,
    empty_removed: bool,
    before: Vec<Spec>,
    after: Vec<Spec>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(6u8), Just(17)],
        prop_oneof![3 => Just(None), 1 => Just(Some(7u32))],
        prop_oneof![4 => Just(251u64), 1 => Just(4099)],
        1u8..64,
        prop_oneof![12 => 1u8..64, 1 => Just(0)],
        any::<bool>(),
        prop::collection::vec(spec(), 1..32),
        prop::collection::vec(spec(), 1..32),
    )
        .prop_map(
            |(vip_proto, redirect, table_size, before, after, empty_removed, b, a)| Case {
                vip_proto,
                redirect,
                table_size,
                members_before: before,
                members_after: after,
                empty_removed,
                before: b,
                after: a,
            },
        )
}

fn maglev(size: u64, members: u8) -> Maglev {
    let mut m = Maglev::new(size);
    for i in 0..BACKENDS {
        if members & (1 << i) != 0 {
            m.add(i as u32, 1);
        }
    }
    m
}

/// Which backend has address `a`.
fn backend_of(a: [u8; 4]) -> Option<usize> {
    (0..BACKENDS).find(|&i| backend(i).0.octets() == a)
}

/// The backend slots: every backend, or with those that left `members_before` emptied.
fn slots(c: &Case, after: bool) -> Vec<(Ipv4Addr, [u8; 6])> {
    (0..BACKENDS)
        .map(|i| {
            let left = c.members_before & (1 << i) != 0 && c.members_after & (1 << i) == 0;
            if after && c.empty_removed && left {
                (Ipv4Addr::UNSPECIFIED, [0; 6])
            } else {
                backend(i)
            }
        })
        .collect()
}

/// What the runs showed of the balancer's contract (summed over cases).
#[derive(Default)]
struct Seen {
    frames: Cell<usize>,
    balanced: Cell<usize>,
    /// Flows that kept their backend after the change although the new table picks another.
    stuck: Cell<usize>,
    /// Flows whose backend was emptied and that moved to the new table's pick.
    moved: Cell<usize>,
}

/// How to make the model differ from the program (for the planted-difference test).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plant {
    None,
    /// The model's Maglev table is shifted by one slot.
    ShiftedTable,
}

/// Runs `c` through both; the first difference (or broken contract), if any.
fn compare(c: &Case, plant: Plant, seen: &Seen) -> Result<(), String> {
    let e = |e: testbed_xdp::XdpError| e.to_string();
    let mut real = XdpLb::load().map_err(e)?;
    let mut model = Model::new();
    let vip = Ipv4Addr::from(VIP);
    real.set_vip(vip, VIP_PORT, c.vip_proto, LB_MAC, c.redirect)
        .map_err(e)?;
    model.set_vip(vip, VIP_PORT, c.vip_proto, LB_MAC, c.redirect);
    let load = |real: &mut XdpLb, model: &mut Model, after: bool| -> Result<Vec<u32>, String> {
        let members = if after {
            c.members_after
        } else {
            c.members_before
        };
        let table = maglev(c.table_size, members).table().to_vec();
        let slots = slots(c, after);
        real.set_backends(&slots).map_err(e)?;
        real.set_table(&table).map_err(e)?;
        model.set_backends(&slots).map_err(|e| e.to_string())?;
        let mut mtable = table.clone();
        if plant == Plant::ShiftedTable {
            mtable.rotate_left(1);
        }
        model.set_table(&mtable).map_err(|e| e.to_string())?;
        Ok(table)
    };
    load(&mut real, &mut model, false)?;
    // Backend address per flow, as the eBPF program chose it before the change.
    let mut first: BTreeMap<Flow, [u8; 4]> = BTreeMap::new();
    let mut later: BTreeMap<Flow, [u8; 4]> = BTreeMap::new();
    let mut table_after = Vec::new();
    for (phase, specs) in [(0, &c.before), (1, &c.after)] {
        if phase == 1 {
            table_after = load(&mut real, &mut model, true)?;
        }
        for (i, s) in specs.iter().enumerate() {
            let b = build(s, c.vip_proto);
            let before = real.counters().map_err(e)?;
            let mbefore = model.counters();
            let (got, out) = real.test_run(&b.frame).map_err(e)?;
            let mut mframe = b.frame.clone();
            let want = action(model.on_packet(Instant::from_nanos(0), &mut mframe));
            let after = real.counters().map_err(e)?;
            let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
            let mdelta: Vec<u64> = model
                .counters()
                .iter()
                .zip(mbefore)
                .map(|(a, b)| a - b)
                .collect();
            seen.frames.set(seen.frames.get() + 1);
            if got != want || out != mframe || delta != mdelta {
                return Err(format!(
                    "phase {phase} frame {i} {s:?} ({} bytes): eBPF action {got}, model {want}; bytes equal: {}; counter deltas eBPF {delta:?} model {mdelta:?}",
                    b.frame.len(),
                    out == mframe
                ));
            }
            if got == 3 || got == 4 {
                seen.balanced.set(seen.balanced.get() + 1);
                check_contract(
                    c,
                    s,
                    &b,
                    &out,
                    phase,
                    &mut first,
                    &mut later,
                    &table_after,
                    seen,
                )
                .map_err(|why| format!("phase {phase} frame {i} {s:?}: {why}"))?;
            }
        }
    }
    Ok(())
}

/// The balancer's contract on one balanced frame `out` (built from `s` as `b`).
#[allow(clippy::too_many_arguments)]
fn check_contract(
    c: &Case,
    s: &Spec,
    b: &Built,
    out: &[u8],
    phase: u8,
    first: &mut BTreeMap<Flow, [u8; 4]>,
    later: &mut BTreeMap<Flow, [u8; 4]>,
    table_after: &[u32],
    seen: &Seen,
) -> Result<(), String> {
    let ip = b.ip;
    let mut dst = [0u8; 4];
    dst.copy_from_slice(&out[ip + 16..ip + 20]);
    let flow = Flow {
        src: u32::from_be_bytes(s.src),
        dst: u32::from_be_bytes(VIP),
        sport: s.sport,
        dport: VIP_PORT,
        proto: c.vip_proto,
    };
    let pick = |table: &[u32]| {
        let slot = (flow.hash() as usize).checked_rem(table.len())?;
        Some(backend(table[slot] as usize).0.octets())
    };
    let Some(node) = backend_of(dst) else {
        return Err(format!("sent to {dst:?}, not a backend"));
    };
    if out[0..6] != backend(node).1 || out[6..12] != LB_MAC {
        return Err(format!("MACs not rewritten: {:?}", &out[0..12]));
    }
    if matches!(s.csum, Csum::Valid) && b.whole {
        if ones_sum(&out[ip..ip + b.ihl], 0) != 0xffff {
            return Err("IPv4 checksum invalid after rewrite".into());
        }
        if l4_sum(out, ip, b.ihl) != 0xffff {
            return Err("L4 checksum invalid after rewrite".into());
        }
    }
    if matches!(s.csum, Csum::Zero)
        && c.vip_proto == 17
        && out[ip + b.ihl + 6..ip + b.ihl + 8] != [0, 0]
    {
        return Err("a zero UDP checksum did not stay zero".into());
    }
    if phase == 0 {
        let held = *first.entry(flow).or_insert(dst);
        if held != dst {
            return Err(format!(
                "flow moved from {held:?} to {dst:?} with no change"
            ));
        }
        return Ok(());
    }
    if let Some(&held) = later.get(&flow) {
        return if held == dst {
            Ok(())
        } else {
            Err(format!(
                "flow moved from {held:?} to {dst:?} after its pick"
            ))
        };
    }
    later.insert(flow, dst);
    let new_pick = pick(table_after);
    match first.get(&flow) {
        None if Some(dst) != new_pick => {
            Err(format!("new flow went to {dst:?}, table says {new_pick:?}"))
        }
        None => Ok(()),
        Some(&held) => {
            let node = backend_of(held).ok_or("held flow on no backend")?;
            let emptied = slots(c, true)[node].0.is_unspecified();
            if emptied {
                if Some(dst) != new_pick {
                    return Err(format!(
                        "flow of emptied backend went to {dst:?}, table says {new_pick:?}"
                    ));
                }
                seen.moved.set(seen.moved.get() + 1);
            } else {
                if dst != held {
                    return Err(format!("existing flow left {held:?} for {dst:?}"));
                }
                if Some(held) != new_pick {
                    seen.stuck.set(seen.stuck.get() + 1);
                }
            }
            Ok(())
        }
    }
}

#[test]
fn the_balancer_and_its_model_agree_frame_by_frame() {
    if !available() {
        return;
    }
    let seen = Seen::default();
    // A fixed seed: the same sequences every run, so the coverage assertions below hold or
    // fail reproducibly.
    let config = ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner
        .run(&case(), |c| {
            compare(&c, Plant::None, &seen).map_err(TestCaseError::fail)
        })
        .unwrap();
    eprintln!(
        "{} frames compared, {} balanced; {} flows stuck to their backend across a table change, {} moved off an emptied backend",
        seen.frames.get(),
        seen.balanced.get(),
        seen.stuck.get(),
        seen.moved.get()
    );
    assert!(seen.balanced.get() > 0, "some frames were balanced");
    assert!(
        seen.stuck.get() > 0,
        "some flow kept its backend although the new table picks another"
    );
    assert!(
        seen.moved.get() > 0,
        "some flow moved off an emptied backend"
    );
}

#[test]
fn a_planted_difference_is_caught() {
    if !available() {
        return;
    }
    // SYNs from 32 sources to the VIP: a model whose table is shifted by one slot must send
    // some of them elsewhere, so the comparison above can fail.
    let syn = |n: u8| Spec {
        vlans: vec![],
        ethertype: 0x0800,
        version: 4,
        ihl: 5,
        src: [198, 51, 100, n],
        dst: VIP,
        proto: None,
        frag: 0,
        sport: 40000,
        dport: VIP_PORT,
        csum: Csum::Valid,
        payload: 0,
        cut: None,
    };
    let c = Case {
        vip_proto: 6,
        redirect: None,
        table_size: 251,
        members_before: 0b111,
        members_after: 0b111,
        empty_removed: false,
        before: (0..32).map(syn).collect(),
        after: vec![syn(0)],
    };
    let seen = Seen::default();
    assert_eq!(compare(&c, Plant::None, &seen), Ok(()));
    let err = compare(&c, Plant::ShiftedTable, &seen).unwrap_err();
    assert!(err.contains("bytes equal: false"), "{err}");
}

#[test]
fn a_udp_checksum_computed_as_zero_leaves_as_all_ones_in_both() {
    if !available() {
        return;
    }
    // Random frames almost never make the incremental update compute zero (about 1 in 65,535),
    // so plant the one incoming UDP checksum that does: every slot names backend 0.
    let from = u32::from_be_bytes(VIP);
    let to = u32::from(backend(0).0);
    let check = (0..=u16::MAX)
        .find(|&c| c != 0 && csum_replace4(c, from, to) == 0)
        .expect("some checksum updates to zero");
    let spec = Spec {
        vlans: vec![0x8100],
        ethertype: 0x0800,
        version: 4,
        ihl: 6,
        src: [198, 51, 100, 3],
        dst: VIP,
        proto: None,
        frag: 0,
        sport: 5353,
        dport: VIP_PORT,
        csum: Csum::Garbage(0x4242, check),
        payload: 3,
        cut: None,
    };
    let frame = build(&spec, 17).frame;
    let mut real = XdpLb::load().unwrap();
    let mut model = Model::new();
    let vip = Ipv4Addr::from(VIP);
    real.set_vip(vip, VIP_PORT, 17, LB_MAC, None).unwrap();
    model.set_vip(vip, VIP_PORT, 17, LB_MAC, None);
    real.set_backends(&[backend(0)]).unwrap();
    model.set_backends(&[backend(0)]).unwrap();
    real.set_table(&[0; 251]).unwrap();
    model.set_table(&[0; 251]).unwrap();
    let (got, out) = real.test_run(&frame).unwrap();
    let mut mframe = frame.clone();
    let want = model.decide(&mut mframe);
    assert_eq!((got, want), (3, Verdict::Tx));
    let at = 14 + 4 + 24 + 6;
    assert_eq!(&out[at..at + 2], &[0xff, 0xff], "eBPF: all ones, not zero");
    assert_eq!(out, mframe, "the model rewrote the same bytes");
}
