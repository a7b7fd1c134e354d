//! A `kv` client, generic over model's `Net` and `Runtime`: follows the service through
//! discovery, sends each get or put to the replica it believes is primary, moves to the
//! next listed replica when refused or unreachable, and records every operation with
//! simulated times. A put is retried only when it surely had no effect (refused, or no
//! connection); one that may have reached a replica is recorded indeterminate.

use super::replica::{Get, Put, NOT_PRIMARY};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::discovery::{follow, Discovery, ServiceView};
use testbed_distributed::history::models::{KvInput, KvOp, KvOutput};
use testbed_distributed::history::Recorder;
use testbed_model::{timeout, Duration, Instant, Net, Rng, Runtime};
use testbed_protocols::rpc::{CallError, CodecId, RpcClient};

/// The service's name in the registry.
pub const SERVICE: &str = "kv";

/// Client workload settings.
#[derive(Clone, Debug)]
pub struct ClientCfg {
    /// Keys to use.
    pub keys: Vec<String>,
    /// Pause between operations.
    pub interval: Duration,
    /// Deadline of one attempt (connect included).
    pub op_timeout: Duration,
    /// Attempts per operation.
    pub attempts: u32,
    /// Wait before retrying discovery.
    pub retry: Duration,
}

/// What a client counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientTally {
    /// Operations completed with an answer.
    pub ok: u64,
    /// Operations that surely had no effect (refused everywhere).
    pub failed: u64,
    /// Operations whose effect is unknown.
    pub indeterminate: u64,
}

enum Attempt {
    Ok(KvOutput),
    /// Surely no effect: try the next replica.
    Refused,
    /// Maybe applied.
    Unknown,
}

struct Conns {
    addrs: Vec<SocketAddr>,
    target: usize,
    conn: Option<(SocketAddr, Rc<RpcClient>)>,
}

impl Conns {
    fn next(&mut self) {
        self.target = self.target.wrapping_add(1);
        self.conn = None;
    }
}

async fn attempt<H: Net + Runtime>(
    h: &H,
    conns: &RefCell<Conns>,
    cfg: &ClientCfg,
    input: &KvInput,
) -> Attempt {
    let addr = {
        let c = conns.borrow();
        if c.addrs.is_empty() {
            return Attempt::Refused;
        }
        c.addrs[c.target % c.addrs.len()]
    };
    let cached = conns
        .borrow()
        .conn
        .as_ref()
        .filter(|(a, _)| *a == addr)
        .map(|(_, c)| c.clone());
    let t0 = h.now();
    let client = match cached {
        Some(c) => c,
        None => match timeout(
            h,
            cfg.op_timeout,
            RpcClient::connect(h, addr, CodecId::Binary),
        )
        .await
        {
            Ok(Ok(c)) => {
                let c = Rc::new(c);
                conns.borrow_mut().conn = Some((addr, c.clone()));
                c
            }
            _ => return Attempt::Refused,
        },
    };
    let left = cfg.op_timeout.saturating_sub(h.now() - t0);
    let result = match &input.op {
        KvOp::Get => client
            .call::<Get, _>(h, &input.key, left)
            .await
            .map(KvOutput::Value),
        KvOp::Put(v) => client
            .call::<Put, _>(h, &(input.key.clone(), v.clone()), left)
            .await
            .map(|()| KvOutput::Done),
        KvOp::Append(_) => return Attempt::Refused,
    };
    match result {
        Ok(out) => Attempt::Ok(out),
        Err(CallError::Remote { message, .. }) if message == NOT_PRIMARY => Attempt::Refused,
        Err(_) => Attempt::Unknown,
    }
}

/// Runs client `id` from `start` until `until`, recording into `rec`.
#[allow(clippy::too_many_arguments)]
pub async fn client<H: Net + Runtime, D: Discovery + 'static>(
    h: H,
    d: D,
    id: u32,
    cfg: ClientCfg,
    rec: Recorder<KvInput, KvOutput>,
    start: Instant,
    until: Instant,
) -> ClientTally {
    let conns = Rc::new(RefCell::new(Conns {
        addrs: Vec::new(),
        target: id as usize,
        conn: None,
    }));
    let (c2, h2, retry) = (conns.clone(), h.clone(), cfg.retry);
    let follower = h.spawn(async move {
        let view = RefCell::new(ServiceView::default());
        follow(&d, &h2, SERVICE, retry, &view, |v| {
            let mut c = c2.borrow_mut();
            c.addrs = v.instances().map(|i| i.addr).collect();
            c.conn = None;
        })
        .await
    });
    let mut rng = h.rng();
    let mut tally = ClientTally::default();
    let mut n = 0u64;
    h.sleep_until(start).await;
    while h.now() < until {
        let t0 = h.now();
        let key = cfg.keys[rng.below(cfg.keys.len() as u64) as usize].clone();
        let op = if rng.chance(0.5) {
            KvOp::Get
        } else {
            n += 1;
            KvOp::Put(format!("{id}.{n}"))
        };
        let input = KvInput { key, op };
        let Ok(op_id) = rec.invoke(id, input.clone(), t0) else {
            break; // the recorder is full: stop issuing
        };
        let mut done = false;
        for _ in 0..cfg.attempts {
            match attempt(&h, &conns, &cfg, &input).await {
                Attempt::Ok(out) => {
                    let _ = rec.ok(op_id, out, h.now());
                    tally.ok += 1;
                    done = true;
                    break;
                }
                Attempt::Unknown if matches!(input.op, KvOp::Put(_)) => {
                    let _ = rec.indeterminate(op_id);
                    tally.indeterminate += 1;
                    conns.borrow_mut().next();
                    done = true;
                    break;
                }
                Attempt::Refused | Attempt::Unknown => {
                    conns.borrow_mut().next();
                    h.sleep(cfg.interval).await;
                }
            }
        }
        if !done {
            let _ = rec.fail(op_id);
            tally.failed += 1;
        }
        h.sleep_until(t0.max(h.now()) + cfg.interval).await;
    }
    follower.abort();
    tally
}
