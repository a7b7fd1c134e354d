//! WebSocket in the simulator: echo with and without permessage-deflate, control frames,
//! the close handshake, handshake refusals.

use std::net::SocketAddr;
use testbed_model::{Listener, Net, Runtime};
use testbed_protocols::ws::{accept, connect, CloseCode, Event, WsError, WsLimits};
use testbed_sim::{Host, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn echo_sim(seed: u64) -> Sim {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
        while let Ok((s, _)) = l.accept().await {
            let h2 = h.clone();
            h.spawn(async move {
                let Ok(mut ws) = accept(&h2, s, WsLimits::default()).await else {
                    return;
                };
                loop {
                    match ws.recv(&h2).await {
                        Ok(Event::Text(t)) => ws.send_text(&t).await.unwrap(),
                        Ok(Event::Binary(b)) => ws.send_binary(&b).await.unwrap(),
                        Ok(Event::Ping(_)) | Ok(Event::Pong(_)) => {}
                        Ok(Event::Close(_)) | Err(_) => return,
                    }
                }
            });
        }
    });
    sim
}

fn server(h: &Host) -> SocketAddr {
    SocketAddr::new(h.lookup("server").unwrap(), 80)
}

#[test]
fn echo_with_and_without_deflate_then_close() {
    for deflate in [false, true] {
        let mut sim = echo_sim(1);
        sim.client("client", move |h| async move {
            let mut ws = connect(&h, server(&h), "/chat", deflate, WsLimits::default()).await?;
            let big = "κόσμε ".repeat(5000);
            for msg in ["hello", "", big.as_str()] {
                ws.send_text(msg).await?;
                assert_eq!(ws.recv(&h).await?, Event::Text(msg.to_string()));
            }
            ws.send_binary(&[0, 1, 2, 255]).await?;
            assert_eq!(ws.recv(&h).await?, Event::Binary(vec![0, 1, 2, 255]));
            ws.ping(b"are you there").await?;
            assert_eq!(
                ws.recv(&h).await?,
                Event::Pong(b"are you there".to_vec()),
                "the server answers pings"
            );
            ws.close(CloseCode::NORMAL, "bye").await?;
            assert_eq!(
                ws.recv(&h).await?,
                Event::Close(Some((1000, String::new()))),
                "close echoed"
            );
            Ok(())
        });
        sim.run().unwrap();
    }
}

#[test]
fn bad_upgrades_are_refused_with_http_errors() {
    let mut sim = echo_sim(2);
    sim.client("client", |h| async move {
        for (req, want) in [
            ("GET / HTTP/1.1\r\nHost: s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost: s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n", "426"),
            ("POST / HTTP/1.1\r\nHost: s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "400"),
        ] {
            let mut s = h.connect(server(&h)).await?;
            s.write_all(req.as_bytes()).await?;
            let mut out = String::new();
            s.read_to_string(&mut out).await?;
            assert!(out.starts_with(&format!("HTTP/1.1 {want} ")), "{out}");
        }
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn an_unmasked_client_frame_is_closed_with_1002() {
    let mut sim = Sim::new(SimConfig {
        seed: 3,
        ..SimConfig::default()
    });
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let mut ws = accept(&h, s, WsLimits::default()).await.unwrap();
        assert!(matches!(
            ws.recv(&h).await,
            Err(WsError::Protocol(CloseCode::PROTOCOL, _))
        ));
    });
    sim.client("client", |h| async move {
        let mut s = h.connect(server(&h)).await?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x02hi").await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        assert!(out.ends_with(&[0x88, 0x02, 0x03, 0xEA]), "close frame with 1002: {out:x?}");
        Ok(())
    });
    sim.run().unwrap();
}
