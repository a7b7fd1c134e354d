//! The seed's l2fwd (§2.1) with MAC rewriting: forwards between two DPDK ports for N frames
//! or T seconds and prints the rate.
//!
//! Usage: `dpdk-l2fwd [--seconds T] [--packets N] [--io] [--burst B] [--dst0 MAC] [--dst1 MAC]
//! [--ports NAME0,NAME1] [--json] [-- EAL ARGS...]`. Without EAL arguments it runs on two
//! net_null ports without hugepages. `--io` forwards untouched (testpmd's io mode); otherwise
//! the source MAC becomes the output port's and the destination `--dst0`/`--dst1` (frames
//! leaving port 0/1; default 02:00:00:00:00:00 and :01, testpmd's default peers). With
//! `--json` the last line is one JSON object.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use testbed_dpdk::{
    l2fwd, Eal, MacAddr, Mempool, MempoolConfig, Port, PortConfig, PortId, EAL_ARGS_VIRTUAL,
};

struct Args {
    seconds: Option<f64>,
    packets: Option<u64>,
    io: bool,
    burst: usize,
    dst: [MacAddr; 2],
    ports: Option<[String; 2]>,
    json: bool,
    eal: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        seconds: None,
        packets: None,
        io: false,
        burst: 32,
        dst: [MacAddr::local(0), MacAddr::local(1)],
        ports: None,
        json: false,
        eal: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--seconds" => a.seconds = Some(val()?.parse().map_err(|e| format!("--seconds: {e}"))?),
            "--packets" => a.packets = Some(val()?.parse().map_err(|e| format!("--packets: {e}"))?),
            "--burst" => a.burst = val()?.parse().map_err(|e| format!("--burst: {e}"))?,
            "--dst0" => a.dst[0] = val()?.parse().map_err(|e| format!("--dst0: {e}"))?,
            "--dst1" => a.dst[1] = val()?.parse().map_err(|e| format!("--dst1: {e}"))?,
            "--ports" => {
                let v = val()?;
                let (x, y) = v.split_once(',').ok_or("--ports NAME0,NAME1")?;
                a.ports = Some([x.to_owned(), y.to_owned()]);
            }
            "--io" => a.io = true,
            "--json" => a.json = true,
            "--" => a.eal.extend(it.by_ref()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.seconds.is_none_or(|s| !(s > 0.0 && s < 86_400.0)) && a.packets.is_none() {
        a.seconds = Some(a.seconds.map_or(5.0, |s| s.clamp(0.001, 86_400.0)));
    }
    if a.eal.is_empty() {
        a.eal = EAL_ARGS_VIRTUAL
            .iter()
            .map(|s| s.to_string())
            .chain(["--vdev=net_null0".into(), "--vdev=net_null1".into()])
            .collect();
    }
    Ok(a)
}

fn run(a: &Args) -> Result<l2fwd::Report, String> {
    let eal = Eal::init(&a.eal).map_err(|e| e.to_string())?;
    let names = match &a.ports {
        Some(p) => p.clone(),
        None => {
            let all = eal.port_names();
            match all.as_slice() {
                [x, y, ..] => [x.clone(), y.clone()],
                _ => return Err(format!("need two ports, the EAL has {all:?}")),
            }
        }
    };
    let pool = Mempool::new(&eal, "l2fwd", MempoolConfig::default()).map_err(|e| e.to_string())?;
    let open = |n: &str| -> Result<Port<'_>, String> {
        let id = PortId::by_name(&eal, n).map_err(|e| e.to_string())?;
        Port::open(id, &pool, PortConfig::default()).map_err(|e| format!("{n}: {e}"))
    };
    let mut ports = [open(&names[0])?, open(&names[1])?];
    let cfg = l2fwd::Config {
        dst: a.dst,
        rewrite: !a.io,
        burst: a.burst,
        packets_max: a.packets,
        duration_max: a.seconds.map(Duration::from_secs_f64),
    };
    let r = l2fwd::run(&mut ports, &cfg, &AtomicBool::new(false)).map_err(|e| e.to_string())?;
    Ok(r)
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dpdk-l2fwd: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(r) => {
            println!(
                "l2fwd ({}): forwarded {} frames in {:.3} s: {:.2} Mpps (rx {:?}, tx {:?}, unsent {:?}, runts {:?})",
                if a.io { "io" } else { "mac rewrite" },
                r.forwarded(),
                r.elapsed.as_secs_f64(),
                r.mpps(),
                r.rx,
                r.tx,
                r.dropped_unsent,
                r.dropped_runt
            );
            if a.json {
                println!(
                    "{{\"mode\":\"{}\",\"forwarded\":{},\"seconds\":{:.6},\"mpps\":{:.4},\"unsent\":{},\"runts\":{}}}",
                    if a.io { "io" } else { "mac" },
                    r.forwarded(),
                    r.elapsed.as_secs_f64(),
                    r.mpps(),
                    r.dropped_unsent[0] + r.dropped_unsent[1],
                    r.dropped_runt[0] + r.dropped_runt[1]
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dpdk-l2fwd: {e}");
            ExitCode::FAILURE
        }
    }
}
