//! RPC: framing and codec round trips, multiplexing with out-of-order responses, deadlines
//! and cancellation, error frames, heartbeats, a server restart — in the simulator.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Net, Runtime};
use testbed_protocols::rpc::example::{self, Add, KvGet, KvPut, Pair, Sub};
use testbed_protocols::rpc::frame::{decode_header, encode, FrameError, FrameHeader, HEADER_LEN};
use testbed_protocols::rpc::{
    codec, serve, CallError, CodecId, ErrorCode, Kind, Method, RpcClient, ServerError,
};
use testbed_sim::{Host, Sim, SimConfig};

fn cfg(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x49C),
        failure_persistence: None,
        ..Config::default()
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Request),
        Just(Kind::Response),
        Just(Kind::Error),
        Just(Kind::Heartbeat),
        Just(Kind::Cancel)
    ]
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn frames_round_trip(k in kind(), bin: bool, id: u64, method: u32, deadline: u32, payload in prop::collection::vec(any::<u8>(), 0..300)) {
        let h = FrameHeader { kind: k, codec: if bin { CodecId::Binary } else { CodecId::Json }, flags: 0, message_id: id, method_id: method, deadline_ms: deadline, payload_len: payload.len() as u32 };
        let mut out = Vec::new();
        encode(&mut out, &h, &payload);
        prop_assert_eq!(out.len(), HEADER_LEN + payload.len());
        for cut in 0..HEADER_LEN {
            prop_assert_eq!(decode_header(&out[..cut], 1 << 20), Ok(None));
        }
        prop_assert_eq!(decode_header(&out, 1 << 20), Ok(Some(h)));
        prop_assert_eq!(&out[HEADER_LEN..], payload.as_slice());
    }

    #[test]
    fn codecs_round_trip(a: i64, b: i64, key in ".{0,20}", val in proptest::option::of(".{0,40}")) {
        for c in [CodecId::Json, CodecId::Binary] {
            prop_assert_eq!(codec::decode::<Pair>(c, &codec::encode(c, &Pair { a, b })), Ok(Pair { a, b }));
            prop_assert_eq!(codec::decode::<(String, Option<String>)>(c, &codec::encode(c, &(key.clone(), val.clone()))), Ok((key.clone(), val.clone())));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_header_decoder(raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_header(&raw, 1024);
    }
}

#[test]
fn malformed_headers_are_typed_errors() {
    let h = FrameHeader {
        kind: Kind::Request,
        codec: CodecId::Json,
        flags: 0,
        message_id: 1,
        method_id: 1,
        deadline_ms: 0,
        payload_len: 10,
    };
    let mut good = Vec::new();
    encode(&mut good, &h, &[0; 10]);
    let with = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        decode_header(&b, 1 << 20)
    };
    assert_eq!(with(0, b'X'), Err(FrameError::BadMagic));
    assert_eq!(
        decode_header(b"X", 1 << 20),
        Err(FrameError::BadMagic),
        "rejected from the first byte"
    );
    assert_eq!(with(2, 2), Err(FrameError::BadVersion(2)));
    assert_eq!(with(3, 9), Err(FrameError::BadKind(9)));
    assert_eq!(with(4, 7), Err(FrameError::BadCodec(7)));
    assert_eq!(with(5, 1), Err(FrameError::Reserved));
    assert_eq!(with(7, 1), Err(FrameError::Reserved));
    assert_eq!(
        decode_header(&good, 9),
        Err(FrameError::TooLarge(10)),
        "checked before the payload is read"
    );
}

/// A method that sleeps for its argument (milliseconds) and returns it.
struct Nap;
impl Method for Nap {
    const ID: u32 = 100;
    const NAME: &'static str = "nap";
    type Req = u64;
    type Resp = u64;
}

/// `Add`'s id with an empty request: the server cannot decode it as a `Pair` in either codec
/// (postcard is not self-describing, so a wrong but non-empty type might decode).
struct WrongAdd;
impl Method for WrongAdd {
    const ID: u32 = 1;
    const NAME: &'static str = "add?";
    type Req = ();
    type Resp = i64;
}

struct Missing;
impl Method for Missing {
    const ID: u32 = 999;
    const NAME: &'static str = "missing";
    type Req = ();
    type Resp = ();
}

fn rpc_sim(seed: u64, completed: Rc<Cell<u64>>) -> Sim {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    sim.host("server", move |h| {
        let completed = completed.clone();
        async move {
            let h2 = h.clone();
            let server = example::server().register::<Nap, _, _>(move |ms: u64| {
                let (h, done) = (h2.clone(), completed.clone());
                async move {
                    h.sleep(Duration::from_millis(ms)).await;
                    done.set(done.get() + 1);
                    Ok::<_, ServerError>(ms)
                }
            });
            let l = h.listen("0.0.0.0:7000".parse().unwrap()).unwrap();
            serve(h, l, Rc::new(server)).await
        }
    });
    sim
}

fn addr(h: &Host) -> SocketAddr {
    SocketAddr::new(h.lookup("server").unwrap(), 7000)
}

#[test]
fn typed_calls_over_both_codecs() {
    let mut sim = rpc_sim(1, Rc::default());
    sim.client("client", |h| async move {
        for codec in [CodecId::Json, CodecId::Binary] {
            let c = RpcClient::connect(&h, addr(&h), codec).await?;
            let t = Duration::from_secs(1);
            assert_eq!(c.call::<Add, _>(&h, &Pair { a: 2, b: 40 }, t).await, Ok(42));
            assert_eq!(
                c.call::<Sub, _>(&h, &Pair { a: 2, b: 40 }, t).await,
                Ok(-38)
            );
            let overflow = c.call::<Add, _>(&h, &Pair { a: i64::MAX, b: 1 }, t).await;
            assert!(
                matches!(
                    overflow,
                    Err(CallError::Remote {
                        code: ErrorCode::BadRequest,
                        ..
                    })
                ),
                "{overflow:?}"
            );
            let k = format!("k-{codec:?}"); // one store serves both codecs
            assert_eq!(
                c.call::<KvPut, _>(&h, &(k.clone(), "v1".into()), t).await,
                Ok(None)
            );
            assert_eq!(
                c.call::<KvPut, _>(&h, &(k.clone(), "v2".into()), t).await,
                Ok(Some("v1".into()))
            );
            assert_eq!(c.call::<KvGet, _>(&h, &k, t).await, Ok(Some("v2".into())));
            assert!(matches!(
                c.call::<Missing, _>(&h, &(), t).await,
                Err(CallError::Remote {
                    code: ErrorCode::UnknownMethod,
                    ..
                })
            ));
            assert!(matches!(
                c.call::<WrongAdd, _>(&h, &(), t).await,
                Err(CallError::Remote {
                    code: ErrorCode::BadRequest,
                    ..
                })
            ));
            assert_eq!(
                c.heartbeat(&h, t).await,
                Ok(Duration::from_millis(2)),
                "one RTT over 1 ms links"
            );
        }
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn calls_are_multiplexed_and_answered_out_of_order() {
    let mut sim = rpc_sim(2, Rc::default());
    sim.client("client", |h| async move {
        let c = Rc::new(RpcClient::connect(&h, addr(&h), CodecId::Binary).await?);
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let t0 = h.now();
        let calls: Vec<_> = [50u64, 10, 30, 20, 40]
            .into_iter()
            .map(|ms| {
                let (c, h2, order) = (c.clone(), h.clone(), order.clone());
                h.spawn(async move {
                    let r = c
                        .call::<Nap, _>(&h2, &ms, Duration::from_secs(1))
                        .await
                        .unwrap();
                    order.borrow_mut().push(r);
                })
            })
            .collect();
        for t in calls {
            t.await?;
        }
        assert_eq!(
            *order.borrow(),
            vec![10, 20, 30, 40, 50],
            "answers in completion order, not request order"
        );
        assert_eq!(
            h.now() - t0,
            Duration::from_millis(52),
            "all five ran concurrently on one connection"
        );
        assert_eq!(c.in_flight(), 0);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn deadlines_expire_on_time_and_cancel_the_server_side_call() {
    let completed = Rc::new(Cell::new(0));
    let mut sim = rpc_sim(3, completed.clone());
    sim.client("client", |h| async move {
        let c = RpcClient::connect(&h, addr(&h), CodecId::Json).await?;
        let t0 = h.now();
        assert_eq!(
            c.call::<Nap, _>(&h, &1000, Duration::from_millis(100))
                .await,
            Err(CallError::DeadlineExceeded)
        );
        assert_eq!(h.now() - t0, Duration::from_millis(100));
        h.sleep(Duration::from_secs(2)).await;
        assert_eq!(
            c.call::<Nap, _>(&h, &1, Duration::from_secs(1)).await,
            Ok(1),
            "the connection still works"
        );
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(
        completed.get(),
        1,
        "the expired call was cancelled on the server, not run to the end"
    );
}

#[test]
fn a_server_restart_surfaces_as_typed_errors_and_reconnecting_works() {
    let mut sim = rpc_sim(4, Rc::default());
    sim.client("client", |h| async move {
        let c = RpcClient::connect(&h, addr(&h), CodecId::Binary).await?;
        assert_eq!(
            c.call::<Add, _>(&h, &Pair { a: 1, b: 1 }, Duration::from_secs(1))
                .await,
            Ok(2)
        );
        h.control().restart("server");
        let t0 = h.now();
        let r = c
            .call::<Add, _>(&h, &Pair { a: 1, b: 1 }, Duration::from_millis(500))
            .await;
        assert!(
            matches!(
                r,
                Err(CallError::Disconnected) | Err(CallError::DeadlineExceeded)
            ),
            "{r:?}"
        );
        assert!(
            h.now() - t0 <= Duration::from_millis(500),
            "never later than the deadline"
        );
        let c = RpcClient::connect(&h, addr(&h), CodecId::Binary).await?;
        assert_eq!(
            c.call::<KvGet, _>(&h, &"k".into(), Duration::from_secs(1))
                .await,
            Ok(None),
            "fresh state after restart"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn same_seed_same_trace() {
    let run = |seed| {
        let mut sim = rpc_sim(seed, Rc::default());
        sim.client("client", |h| async move {
            let c = RpcClient::connect(&h, addr(&h), CodecId::Json).await?;
            for i in 0..50 {
                c.call::<Add, _>(&h, &Pair { a: i, b: i }, Duration::from_secs(1))
                    .await?;
            }
            Ok(())
        });
        sim.run().unwrap().trace_hash
    };
    assert_eq!(run(5), run(5));
}

#[test]
fn rpc_over_real_sockets() {
    testbed_kernel::block_on(7, |w| async move {
        let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = testbed_model::Listener::local_addr(&l);
        let srv = w.spawn(serve(w.clone(), l, Rc::new(example::server())));
        for codec in [CodecId::Json, CodecId::Binary] {
            let c = RpcClient::connect(&w, addr, codec).await.unwrap();
            let mut results = Vec::new();
            for i in 0..50 {
                results.push(
                    c.call::<Add, _>(&w, &Pair { a: i, b: 1 }, Duration::from_secs(5))
                        .await
                        .unwrap(),
                );
            }
            assert_eq!(results, (1..=50).collect::<Vec<i64>>());
            assert!(c.heartbeat(&w, Duration::from_secs(5)).await.is_ok());
        }
        srv.abort();
    });
}
