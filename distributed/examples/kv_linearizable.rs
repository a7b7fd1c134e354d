//! Check your own service for linearizability: a small key-value server written against
//! `testbed_model::{Net, Runtime}` (one line per request: `GET k` → `VAL v`, `PUT k v` →
//! `OK`), four clients recording every operation into a history `Recorder` with simulated
//! times, all in the simulator over lossy links (2% loss) with a partition and a server crash
//! and restart. Then the linearizability checker runs on the history (key-value model, per key).
//!
//!     cargo run --release -p testbed-distributed --example kv_linearizable [-- --seed N]
//!     cargo run --release -p testbed-distributed --example kv_linearizable -- --plant-stale-read
//!
//! The server's store survives the crash (think: written to disk before replying). With
//! `--plant-stale-read` each connection answers gets from a cache it never invalidates, the
//! checker finds a stale read, the counterexample is printed and the exit code is 1.
//! The last line of a clean run is `trace_hash=<hex>`: the same seed prints the same line in
//! every process.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::history::models::{KvInput, KvModel, KvOp, KvOutput};
use testbed_distributed::history::{check, CheckOptions, Recorder, Verdict};
use testbed_model::{timeout, Duration, Instant, Listener, Net, Rng, Runtime};
use testbed_sim::{Host, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

const PORT: u16 = 6379;
/// Longest request or reply line.
const LINE_MAX: u64 = 256;

type Store = Rc<RefCell<BTreeMap<String, String>>>;

/// The server: accepts connections and answers requests, one line each.
async fn serve<H: Net + Runtime>(h: H, store: Store, plant_stale_read: bool) {
    let l = h
        .listen(SocketAddr::new(h.local_ip(), PORT))
        .expect("fresh host");
    while let Ok((s, _)) = l.accept().await {
        drop(h.spawn(connection(s, store.clone(), plant_stale_read)));
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(s: S, store: Store, plant: bool) {
    let (r, mut w) = tokio::io::split(s);
    let mut r = BufReader::new(r);
    // The planted bug: a per-connection read cache that writes never invalidate.
    let mut cache: BTreeMap<String, String> = BTreeMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut r).take(LINE_MAX).read_line(&mut line).await {
            Ok(n) if n > 0 && line.ends_with('\n') => {}
            _ => return, // closed, failed, or a line past the limit
        }
        let words: Vec<&str> = line.trim_end().split(' ').collect();
        let reply = match words[..] {
            ["GET", k] => {
                let cached = if plant { cache.get(k).cloned() } else { None };
                let v =
                    cached.unwrap_or_else(|| store.borrow().get(k).cloned().unwrap_or_default());
                if plant {
                    cache.insert(k.into(), v.clone());
                }
                format!("VAL {v}\n")
            }
            ["PUT", k, v] => {
                store.borrow_mut().insert(k.into(), v.into());
                "OK\n".to_string()
            }
            _ => return, // not our protocol: hang up
        };
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

type Conn = (
    BufReader<tokio::io::ReadHalf<<Host as Net>::Stream>>,
    tokio::io::WriteHalf<<Host as Net>::Stream>,
);

/// One request on `conn` (connecting first if needed); `None` if anything failed.
async fn request(
    h: &Host,
    server: SocketAddr,
    conn: &mut Option<Conn>,
    req: &str,
) -> Option<String> {
    if conn.is_none() {
        let s = h.connect(server).await.ok()?;
        let (r, w) = tokio::io::split(s);
        *conn = Some((BufReader::new(r), w));
    }
    let (r, w) = conn.as_mut()?;
    w.write_all(req.as_bytes()).await.ok()?;
    let mut line = String::new();
    r.take(LINE_MAX).read_line(&mut line).await.ok()?;
    line.strip_suffix('\n').map(str::to_string)
}

/// A client: `ops` random gets and puts on two keys, each with a 200 ms deadline.
async fn client(h: Host, id: u32, ops: u32, rec: Recorder<KvInput, KvOutput>) {
    let server = SocketAddr::new(h.lookup("server").expect("server host"), PORT);
    let mut rng = h.rng();
    let mut conn = None;
    for n in 0..ops {
        let key = ["x", "y"][rng.below(2) as usize].to_string();
        let (op, req) = if rng.chance(0.5) {
            (KvOp::Get, format!("GET {key}\n"))
        } else {
            let v = format!("{id}.{n}");
            (KvOp::Put(v.clone()), format!("PUT {key} {v}\n"))
        };
        let is_get = op == KvOp::Get;
        let op_id = rec
            .invoke(id, KvInput { key, op }, h.now())
            .expect("recorder has room");
        let reply = timeout(
            &h,
            Duration::from_millis(200),
            request(&h, server, &mut conn, &req),
        )
        .await
        .ok()
        .flatten();
        let recorded = match reply.as_deref() {
            Some("OK") if !is_get => rec.ok(op_id, KvOutput::Done, h.now()),
            Some(r) if is_get && r.starts_with("VAL ") => {
                rec.ok(op_id, KvOutput::Value(r[4..].to_string()), h.now())
            }
            // No (valid) answer: a put may or may not have happened; a get changed nothing.
            _ => {
                conn = None;
                if is_get {
                    rec.fail(op_id)
                } else {
                    rec.indeterminate(op_id)
                }
            }
        };
        recorded.expect("each operation completes once");
        h.sleep(Duration::from_millis(20)).await;
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let plant = args.iter().any(|a| a == "--plant-stale-read");
    let seed = args
        .iter()
        .skip_while(|a| *a != "--seed")
        .nth(1)
        .map(|s| s.parse().expect("--seed takes a number"))
        .unwrap_or(1);
    let mut sim = Sim::new(SimConfig {
        seed,
        default_link: LinkConfig {
            loss: 0.02,
            ..LinkConfig::default()
        },
        ..SimConfig::default()
    });
    let store = Store::default();
    sim.host("server", move |h: Host| serve(h, store.clone(), plant));
    let rec: Recorder<KvInput, KvOutput> = Recorder::new(10_000);
    for id in 0..4 {
        let rec = rec.clone();
        sim.client(&format!("client-{id}"), move |h: Host| async move {
            client(h, id, 60, rec).await;
            Ok(())
        });
    }
    sim.at(Instant::from_millis(300), |c| {
        c.partition("client-0", "server")
    });
    sim.at(Instant::from_millis(800), |c| {
        c.repair("client-0", "server")
    });
    sim.at(Instant::from_millis(1000), |c| c.crash("server"));
    sim.at(Instant::from_millis(1300), |c| c.restart("server"));
    let report = match sim.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kv_linearizable: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let history = rec.history();
    let answered = history.ops.iter().filter(|o| o.output.is_some()).count();
    println!(
        "seed={seed} end_time={} operations={} answered={answered}",
        report.end_time,
        history.len()
    );
    let checked = match check(&KvModel, &history, &CheckOptions::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kv_linearizable: history not checkable: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match &checked.verdict {
        Verdict::Linearizable => println!(
            "linearizable ({} keys, {} model steps)",
            checked.partitions, checked.steps
        ),
        Verdict::NotLinearizable(cx) => {
            println!("{cx}");
            return std::process::ExitCode::FAILURE;
        }
        other => {
            eprintln!("kv_linearizable: no verdict: {other:?}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("trace_hash={:016x}", report.trace_hash);
    std::process::ExitCode::SUCCESS
}
