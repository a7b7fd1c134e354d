//! `chat-room`: WebSocket clients join one room; every text message a client sends is
//! broadcast to every other member. Invariant: each client receives every other client's
//! messages exactly once, in the order they were sent, and never its own.

use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use testbed_model::{Duration, Listener, Net, Runtime};
use testbed_protocols::ws::{accept_within, connect, CloseCode, Event, Next, WsLimits};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct ChatRoom;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "6",
        kind: Kind::Int { min: 2, max: 200 },
        help: "room members",
    },
    ParamSpec {
        name: "messages",
        default: "50",
        kind: Kind::Int {
            min: 1,
            max: 10_000,
        },
        help: "messages each member sends",
    },
    ParamSpec {
        name: "latency",
        default: "1ms",
        kind: Kind::Duration,
        help: "one-way link latency",
    },
    ParamSpec {
        name: "loss",
        default: "0.01",
        kind: Kind::Real { min: 0.0, max: 0.5 },
        help: "packet loss (costs retransmission delay)",
    },
];

/// Messages waiting to be sent to one member.
#[derive(Default)]
struct Mailbox {
    queue: RefCell<VecDeque<String>>,
    waker: RefCell<Option<Waker>>,
}

impl Mailbox {
    fn push(&self, m: String) {
        self.queue.borrow_mut().push_back(m);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
    /// The next message; takes it only when it is returned, so dropping the future loses none.
    async fn next(&self) -> String {
        std::future::poll_fn(|cx| match self.queue.borrow_mut().pop_front() {
            Some(m) => Poll::Ready(m),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

type Room = Rc<RefCell<BTreeMap<u64, Rc<Mailbox>>>>;

async fn member<R: Runtime, S: testbed_model::Stream>(rt: R, s: S, id: u64, room: Room) {
    let upgrade = testbed_protocols::bounded::ServerLimits::default().ws_upgrade;
    let Ok(mut ws) = accept_within(&rt, s, WsLimits::default(), upgrade).await else {
        return;
    };
    let mailbox = Rc::new(Mailbox::default());
    room.borrow_mut().insert(id, mailbox.clone());
    loop {
        let next = mailbox.next();
        match ws.recv_or(&rt, std::pin::pin!(next)).await {
            Ok(Next::Event(Event::Text(t))) => {
                for (other, mb) in room.borrow().iter() {
                    if *other != id {
                        mb.push(t.clone());
                    }
                }
            }
            Ok(Next::Other(msg)) => {
                if ws.send_text(&msg).await.is_err() {
                    break;
                }
            }
            Ok(Next::Event(Event::Close(_))) | Err(_) => break,
            Ok(Next::Event(_)) => {}
        }
    }
    room.borrow_mut().remove(&id);
}

#[derive(Default)]
struct Tally {
    received: u64,
    errors: Vec<String>,
}

impl ChatRoom {
    fn run_sim(&self, ctx: &RunCtx<'_>, out: &mut Outcome) {
        let p: &Params = &ctx.params;
        let (clients, messages) = (p.int("clients"), p.int("messages"));
        let link = LinkConfig {
            latency: Latency::Fixed(p.duration("latency")),
            loss: p.real("loss"),
            ..LinkConfig::default()
        };
        let cfg = SimConfig {
            default_link: link,
            ..ctx.sim_config()
        };
        let mut sim = Sim::new(cfg);
        sim.host("server", |h| async move {
            let l = h
                .listen("0.0.0.0:80".parse().expect("literal"))
                .expect("fresh host");
            let room: Room = Rc::default();
            let mut id = 0;
            let gate = testbed_protocols::bounded::ConnGate::new(
                testbed_protocols::bounded::ServerLimits::default().max_connections,
            );
            while let Ok((s, _)) = l.accept().await {
                let Some(permit) = gate.try_enter() else {
                    continue; // over the cap: closed at once
                };
                id += 1;
                let m = member(h.clone(), s, id, room.clone());
                drop(h.spawn(async move {
                    m.await;
                    drop(permit);
                }));
            }
        });
        let tally = Rc::new(RefCell::new(Tally::default()));
        let joined = Rc::new(std::cell::Cell::new(0u64));
        for c in 0..clients {
            let (tally, joined) = (tally.clone(), joined.clone());
            sim.client(&format!("member-{c}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server"), 80);
                let mut ws = connect(&h, server, "/room", false, WsLimits::default()).await?;
                // Everyone joins before anyone speaks (a lost SYN can delay a join by seconds).
                joined.set(joined.get() + 1);
                while joined.get() < clients {
                    h.sleep(Duration::from_millis(10)).await;
                }
                for i in 0..messages {
                    ws.send_text(&format!("{c}:{i}")).await?;
                }
                let mut next_from: BTreeMap<u64, u64> = BTreeMap::new();
                let want = (clients - 1) * messages;
                let mut got = 0;
                while got < want {
                    match testbed_model::timeout(&h, Duration::from_secs(60), ws.recv(&h)).await {
                        Ok(Ok(Event::Text(t))) => {
                            got += 1;
                            let (from, i) = t
                                .split_once(':')
                                .map(|(a, b)| {
                                    (
                                        a.parse::<u64>().unwrap_or(u64::MAX),
                                        b.parse::<u64>().unwrap_or(u64::MAX),
                                    )
                                })
                                .unwrap_or((u64::MAX, 0));
                            let expect = next_from.entry(from).or_insert(0);
                            if from == c || from >= clients || i != *expect {
                                tally.borrow_mut().errors.push(format!(
                                    "member {c} got {t:?} (expected {from}:{expect})"
                                ));
                            }
                            *expect = i + 1;
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            tally.borrow_mut().errors.push(format!("member {c}: {e}"));
                            break;
                        }
                        Err(_) => {
                            tally.borrow_mut().errors.push(format!(
                                "member {c}: only {got} of {want} messages within 60 s"
                            ));
                            break;
                        }
                    }
                }
                tally.borrow_mut().received += got;
                let _ = ws.close(CloseCode::NORMAL, "bye").await;
                Ok(())
            });
        }
        let run = sim.run();
        out.sim_run(&run, sim.trace_hash());
        let t = std::mem::take(&mut *tally.borrow_mut());
        out.invariants.push(Invariant::count(
            "everyone_got_every_other_message",
            t.received,
            clients * (clients - 1) * messages,
            "broadcast messages received",
        ));
        out.invariants.push(Invariant::no_errors(
            "exactly_once_in_order_never_own",
            &t.errors,
            "every member saw every other member's messages once, in order",
        ));
        out.metric("received", t.received);
    }
}

impl Scenario for ChatRoom {
    fn name(&self) -> &'static str {
        "chat-room"
    }
    fn summary(&self) -> &'static str {
        "WebSocket members broadcast through one room; everyone gets every other message once, in order"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "clients", "messages", 200_000)?;
        let mut out = Outcome::start(self.name(), ctx);
        self.run_sim(ctx, &mut out);
        Ok(out)
    }
}
