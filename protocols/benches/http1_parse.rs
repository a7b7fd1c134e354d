//! HTTP/1.1 request-head parsing throughput: ours against httparse on the same inputs in the
//! same process (alternating batches; median of 15). Prints MB/s and, last, a JSON line.
//! Run: `cargo bench -p testbed-protocols --bench http1_parse`.
//! The server-vs-hyper half of the http1 bench comes with the server.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::hint::black_box;
use std::time::Instant as Wall;
use testbed_benchkit::median;
use testbed_protocols::http1::{parse_request, Header, Limits, Status};

const REQS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    b"GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\nHost: www.kittyhell.com\r\nUser-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: ja,en-us;q=0.7,en;q=0.3\r\nAccept-Encoding: gzip,deflate\r\nAccept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\nKeep-Alive: 115\r\nConnection: keep-alive\r\nCookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral\r\n\r\n",
];

fn main() {
    let limits = Limits::default();
    let bytes: usize = REQS.iter().map(|r| r.len()).sum();
    let iters = 200_000;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Wall::now();
        for _ in 0..iters {
            for r in REQS {
                let mut h = [Header::default(); 32];
                let s = parse_request(black_box(r), &mut h, &limits).unwrap();
                assert!(matches!(s, Status::Complete(_)));
                black_box(&s);
            }
        }
        ours.push((bytes * iters) as f64 / t.elapsed().as_secs_f64() / 1e6);
        let t = Wall::now();
        for _ in 0..iters {
            for r in REQS {
                let mut h = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut h);
                let s = req.parse(black_box(r)).unwrap();
                assert!(s.is_complete());
                black_box(&req);
            }
        }
        theirs.push((bytes * iters) as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    let (o, t) = (median(ours), median(theirs));
    println!(
        "request head parse: ours {o:.0} MB/s, httparse {t:.0} MB/s, ratio {:.2}",
        o / t
    );
    println!("{{\"bench\":\"http1\",\"parse_vs_httparse\":{:.3},\"server_vs_hyper\":null,\"ours_mb_s\":{o:.1},\"httparse_mb_s\":{t:.1}}}", o / t);
}
