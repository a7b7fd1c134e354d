//! The same glue on the kernel backend (real loopback sockets): an axum router served by
//! `serve`, called by a hyper-util client through `Connector`, HTTP/1.1 and h2, then a
//! graceful shutdown. Shows the glue is backend-neutral.

use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use testbed_glue::{serve, Connector, Exec, ServeConfig, ShutdownTrigger, Timer};
use testbed_model::{Listener, Net, Runtime};

#[test]
fn axum_on_kernel_sockets_http1_and_h2() {
    testbed_kernel::block_on(0, |w| async move {
        let l = w
            .listen("127.0.0.1:0".parse().unwrap())
            .expect("listen on loopback");
        let port = l.local_addr().port();
        let app = axum::Router::new().route("/", get(|| async { "hi" }));
        let stop = ShutdownTrigger::new();
        let server = w.spawn(serve(
            w.clone(),
            l,
            app,
            ServeConfig::default(),
            stop.signal().wait(),
        ));
        for http2 in [false, true] {
            let client: Client<_, Full<Bytes>> = Client::builder(Exec::new(w.clone()))
                .timer(Timer::new(w.clone()))
                .http2_only(http2)
                .build(Connector::new(w.clone(), w.clone()));
            let res = client
                .get(format!("http://127.0.0.1:{port}/").parse().unwrap())
                .await
                .expect("response");
            assert_eq!(res.status(), 200);
            assert_eq!(
                res.headers()["date"].to_str().unwrap().len(),
                "Mon, 01 Jan 2024 00:00:00 GMT".len()
            );
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"hi");
        }
        stop.trigger();
        let stats = server.await.expect("server task").expect("serve");
        assert_eq!(stats.accepted, 2);
        assert!(stats.drained);
    });
}
