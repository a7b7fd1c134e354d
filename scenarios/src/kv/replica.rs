//! One replica of `kv`, generic over model's `Net` and `Runtime`: the client API (get, put)
//! and the peer API (replicate, heartbeat, sync) on one RPC port, a heartbeat loop and a
//! promotion watch.
//!
//! Safety argument. Every epoch has one primary and at most one synced backup. A paired
//! primary serves only under a lease: `send time of the last acknowledged peer message +
//! lease`, and applies a put only after the backup stored it. The backup promises, on every
//! message it accepts, not to promote before `receive time + promise` (promise > lease
//! plus drift), so the old primary has stopped serving before the new one starts. A primary
//! whose peer answers "not my synced backup" serves solo (no lease needed: the peer cannot
//! promote without a sync) until it sends a sync, after which it needs a lease again; the
//! generation number in every message keeps a delayed, older sync from landing after that.
//! A replica that sees a higher epoch becomes stale: it serves nothing and never promotes
//! until the new primary syncs it. State marked durable survives a crash (an fsync'd log).

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{timeout, Duration, Instant, Net, Runtime};
use testbed_protocols::rpc::{CodecId, ErrorCode, Method, RpcClient, RpcServer, ServerError};

/// A value's version: (epoch, the writing primary's counter). Later writes have larger ones.
pub type Version = (u64, u64);

/// Reads a key (`""` when absent).
pub struct Get;
impl Method for Get {
    const ID: u32 = 20;
    const NAME: &'static str = "kv.get";
    type Req = String;
    type Resp = String;
}

/// Writes a key.
pub struct Put;
impl Method for Put {
    const ID: u32 = 21;
    const NAME: &'static str = "kv.put";
    type Req = (String, String);
    type Resp = ();
}

/// Primary → backup: a heartbeat, one write, or the whole store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerReq {
    /// The sender's epoch.
    pub epoch: u64,
    /// The sender's generation (bumped each time it goes solo).
    pub gen: u64,
    /// One write to store.
    pub write: Option<(String, Version, String)>,
    /// The whole store, replacing the receiver's (makes it this epoch's backup).
    pub sync: Option<Vec<(String, Version, String)>>,
}

/// Backup → primary.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct PeerResp {
    /// The receiver's epoch (after handling the message).
    pub epoch: u64,
    /// Whether it is the sender's synced backup and stored what was sent.
    pub ok: bool,
}

/// The peer method.
pub struct Peer;
impl Method for Peer {
    const ID: u32 = 22;
    const NAME: &'static str = "kv.peer";
    type Req = PeerReq;
    type Resp = PeerResp;
}

/// The message a replica that is not the serving primary answers with: the request had no
/// effect, the client may try elsewhere.
pub const NOT_PRIMARY: &str = "not primary";

/// A replica's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Primary of its epoch; `solo` when its peer is known not to be its synced backup.
    Primary {
        /// Serving without a backup.
        solo: bool,
    },
    /// Synced backup of its epoch.
    Backup,
    /// Saw a higher epoch; waits for that epoch's primary to sync it.
    Stale,
}

/// What survives a crash.
#[derive(Clone, Debug)]
pub struct Durable {
    /// Current epoch.
    pub epoch: u64,
    /// Current role.
    pub role: Role,
    /// Generation (primary) or the generation synced at (backup).
    pub gen: u64,
    /// Syncs with a lower generation are refused (set when answering "not synced").
    pub min_sync_gen: u64,
    /// Counter for versions of this replica's writes.
    pub counter: u64,
    /// The store.
    pub store: BTreeMap<String, (Version, String)>,
}

impl Durable {
    /// Replica 0 starts as primary of epoch 1, replica 1 as its backup, both empty.
    pub fn initial(index: usize) -> Durable {
        Durable {
            epoch: 1,
            role: if index == 0 {
                Role::Primary { solo: false }
            } else {
                Role::Backup
            },
            gen: 0,
            min_sync_gen: 0,
            counter: 0,
            store: BTreeMap::new(),
        }
    }
}

/// Replica timing and the planted bug.
#[derive(Clone, Copy, Debug)]
pub struct ReplicaCfg {
    /// A paired primary serves until this long after sending its last acknowledged message.
    pub lease: Duration,
    /// A backup does not promote until this long after the last message it accepted
    /// (greater than `lease` plus clock drift).
    pub promise: Duration,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Deadline of one peer call (connect included).
    pub peer_timeout: Duration,
    /// Plant the stale read: a primary (or a stale ex-primary) serves gets from its local
    /// store without checking its lease.
    pub stale_read_bug: bool,
}

/// Counters of what a replica did (kept across crashes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Promotions (backup → primary).
    pub promotions: u64,
    /// Times it stepped down (saw a higher epoch).
    pub step_downs: u64,
    /// Syncs it accepted.
    pub syncs: u64,
    /// Client requests refused with [`NOT_PRIMARY`].
    pub refused: u64,
}

struct Volatile {
    lease_until: Option<Instant>,
    promise_until: Instant,
}

/// A replica on one host incarnation (rebuilt after a restart; `durable` and `stats` persist).
pub struct Replica<H> {
    h: H,
    cfg: ReplicaCfg,
    peer: SocketAddr,
    durable: Rc<RefCell<Durable>>,
    stats: Rc<RefCell<ReplicaStats>>,
    vol: RefCell<Volatile>,
    conn: RefCell<Option<Rc<RpcClient>>>,
}

fn err(code: ErrorCode, message: &str) -> ServerError {
    ServerError {
        code,
        message: message.into(),
    }
}

fn not_primary() -> ServerError {
    err(ErrorCode::Overloaded, NOT_PRIMARY)
}

impl<H: Net + Runtime> Replica<H> {
    /// A replica whose peer serves at `peer`. After a (re)start no lease is held and no
    /// promotion happens for `promise` (promises given before a crash still hold).
    pub fn new(
        h: H,
        cfg: ReplicaCfg,
        peer: SocketAddr,
        durable: Rc<RefCell<Durable>>,
        stats: Rc<RefCell<ReplicaStats>>,
    ) -> Rc<Self> {
        let promise_until = h.now() + cfg.promise;
        Rc::new(Replica {
            h,
            cfg,
            peer,
            durable,
            stats,
            vol: RefCell::new(Volatile {
                lease_until: None,
                promise_until,
            }),
            conn: RefCell::new(None),
        })
    }

    /// Whether this replica may serve a client now.
    fn serving(&self) -> bool {
        let d = self.durable.borrow();
        match d.role {
            Role::Primary { solo: true } => true,
            Role::Primary { solo: false } => self
                .vol
                .borrow()
                .lease_until
                .is_some_and(|t| self.h.now() < t),
            _ => false,
        }
    }

    fn get(&self, key: &str) -> Result<String, ServerError> {
        let stale_ok = self.cfg.stale_read_bug
            && matches!(
                self.durable.borrow().role,
                Role::Primary { .. } | Role::Stale
            );
        if !(stale_ok || self.serving()) {
            self.stats.borrow_mut().refused += 1;
            return Err(not_primary());
        }
        let d = self.durable.borrow();
        Ok(d.store.get(key).map(|(_, v)| v.clone()).unwrap_or_default())
    }

    async fn put(self: Rc<Self>, key: String, value: String) -> Result<(), ServerError> {
        if !self.serving() {
            self.stats.borrow_mut().refused += 1;
            return Err(not_primary());
        }
        let (epoch, gen, solo, version) = {
            let mut d = self.durable.borrow_mut();
            d.counter += 1;
            let solo = d.role == Role::Primary { solo: true };
            (d.epoch, d.gen, solo, (d.epoch, d.counter))
        };
        if solo {
            apply(&mut self.durable.borrow_mut().store, key, version, value);
            return Ok(());
        }
        let req = PeerReq {
            epoch,
            gen,
            write: Some((key.clone(), version, value.clone())),
            sync: None,
        };
        if !self.send(req).await {
            return Err(err(ErrorCode::Internal, "not replicated"));
        }
        // Stored on the backup; apply here only while still serving this epoch.
        let still = {
            let d = self.durable.borrow();
            d.epoch == epoch && d.gen == gen && matches!(d.role, Role::Primary { .. })
        };
        if !(still && self.serving()) {
            return Err(err(ErrorCode::Internal, "lease lost while replicating"));
        }
        apply(&mut self.durable.borrow_mut().store, key, version, value);
        Ok(())
    }

    /// Sends `req` to the peer and handles the answer; true if the peer stored it as this
    /// epoch's synced backup.
    async fn send(&self, req: PeerReq) -> bool {
        let sent = self.h.now();
        let (epoch, gen) = (req.epoch, req.gen);
        let Some(resp) = self.call_peer(&req).await else {
            return false;
        };
        let mut d = self.durable.borrow_mut();
        if resp.epoch > d.epoch {
            d.epoch = resp.epoch;
            d.role = Role::Stale;
            d.min_sync_gen = 0;
            self.vol.borrow_mut().lease_until = None;
            self.stats.borrow_mut().step_downs += 1;
            return false;
        }
        let current =
            d.epoch == epoch && d.gen == gen && matches!(d.role, Role::Primary { solo: false });
        if !current {
            return false;
        }
        if resp.ok {
            let mut v = self.vol.borrow_mut();
            let until = sent + self.cfg.lease;
            v.lease_until = Some(v.lease_until.map_or(until, |t| t.max(until)));
            true
        } else {
            // The peer is not our synced backup and refuses older syncs: serve solo.
            d.role = Role::Primary { solo: true };
            d.gen += 1;
            self.vol.borrow_mut().lease_until = None;
            false
        }
    }

    async fn call_peer(&self, req: &PeerReq) -> Option<PeerResp> {
        let attempt = async {
            let existing = self.conn.borrow().clone();
            let c = match existing {
                Some(c) => c,
                None => {
                    let c = Rc::new(
                        RpcClient::connect(&self.h, self.peer, CodecId::Binary)
                            .await
                            .ok()?,
                    );
                    *self.conn.borrow_mut() = Some(c.clone());
                    c
                }
            };
            Some(c.call::<Peer, _>(&self.h, req, self.cfg.peer_timeout).await)
        };
        match timeout(&self.h, self.cfg.peer_timeout, attempt).await {
            Ok(Some(Ok(r))) => Some(r),
            Ok(Some(Err(_))) | Ok(None) | Err(_) => {
                *self.conn.borrow_mut() = None;
                None
            }
        }
    }

    /// The peer API: what a replica does with a primary's message.
    fn on_peer(&self, req: PeerReq) -> PeerResp {
        let mut d = self.durable.borrow_mut();
        if req.epoch < d.epoch {
            return PeerResp {
                epoch: d.epoch,
                ok: false,
            };
        }
        if req.epoch > d.epoch {
            if matches!(d.role, Role::Primary { .. }) {
                self.stats.borrow_mut().step_downs += 1;
            }
            d.epoch = req.epoch;
            d.role = Role::Stale;
            d.min_sync_gen = 0;
            self.vol.borrow_mut().lease_until = None;
        }
        // Same epoch from here on; the sender is that epoch's primary.
        if let Some(all) = req.sync {
            if d.role != Role::Stale || req.gen < d.min_sync_gen {
                return PeerResp {
                    epoch: d.epoch,
                    ok: false,
                };
            }
            d.store = all.into_iter().map(|(k, ver, v)| (k, (ver, v))).collect();
            d.role = Role::Backup;
            d.gen = req.gen;
            self.stats.borrow_mut().syncs += 1;
        } else if d.role != Role::Backup || req.gen < d.gen {
            d.min_sync_gen = d.min_sync_gen.max(req.gen + 1);
            return PeerResp {
                epoch: d.epoch,
                ok: false,
            };
        }
        if let Some((k, ver, v)) = req.write {
            apply(&mut d.store, k, ver, v);
        }
        let mut vol = self.vol.borrow_mut();
        vol.promise_until = vol.promise_until.max(self.h.now() + self.cfg.promise);
        PeerResp {
            epoch: d.epoch,
            ok: true,
        }
    }

    /// Heartbeats (or syncs, when solo) every `heartbeat` while primary.
    pub async fn heartbeat_loop(self: Rc<Self>) {
        loop {
            let msg = {
                let mut d = self.durable.borrow_mut();
                match d.role {
                    Role::Primary { solo } => {
                        let sync = solo.then(|| {
                            d.store
                                .iter()
                                .map(|(k, (ver, v))| (k.clone(), *ver, v.clone()))
                                .collect()
                        });
                        // Once a sync is out, the peer may become our backup: lease again.
                        d.role = Role::Primary { solo: false };
                        Some(PeerReq {
                            epoch: d.epoch,
                            gen: d.gen,
                            write: None,
                            sync,
                        })
                    }
                    _ => None,
                }
            };
            if let Some(m) = msg {
                let me = self.clone();
                drop(self.h.spawn(async move {
                    me.send(m).await;
                }));
            }
            self.h.sleep(self.cfg.heartbeat).await;
        }
    }

    /// Promotes this backup when its promise has run out.
    pub async fn promotion_loop(self: Rc<Self>) {
        loop {
            self.h.sleep(self.cfg.heartbeat / 4).await;
            let now = self.h.now();
            let mut d = self.durable.borrow_mut();
            if d.role == Role::Backup && now >= self.vol.borrow().promise_until {
                d.epoch += 1;
                d.gen = 0;
                d.role = Role::Primary { solo: true };
                self.stats.borrow_mut().promotions += 1;
            }
        }
    }

    /// The RPC server with the client and peer APIs.
    pub fn server(self: &Rc<Self>) -> RpcServer {
        let (a, b, c) = (self.clone(), self.clone(), self.clone());
        RpcServer::new()
            .register::<Get, _, _>(move |k: String| {
                let r = a.get(&k);
                async move { r }
            })
            .register::<Put, _, _>(move |(k, v): (String, String)| b.clone().put(k, v))
            .register::<Peer, _, _>(move |req: PeerReq| {
                let r = c.on_peer(req);
                async move { Ok(r) }
            })
    }
}

/// Stores `value` unless the store holds a later version.
fn apply(
    store: &mut BTreeMap<String, (Version, String)>,
    key: String,
    ver: Version,
    value: String,
) {
    match store.get(&key) {
        Some((have, _)) if *have >= ver => {}
        _ => {
            store.insert(key, (ver, value));
        }
    }
}
