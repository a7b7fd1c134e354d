//! `testbed report --quick` renders in headless Chromium: the screenshot is a real picture,
//! the DOM has the claim table and one <svg> per plot the report says it drew, and the browser
//! logs no console message (the page has no scripts, so any message is an error: a failed
//! load, a parse error). Skips, saying why, when Chromium is not installed (a failure under
//! TESTBED_REQUIRE_ALL=1; scripts/test installs Debian's `chromium`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create test dir");
    d
}

/// Runs `testbed report --quick` into `dir/out`, reading claims from `dir/claims`.
fn build_report(dir: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["report", "--quick", "--out"])
        .arg(dir.join("out"))
        .arg("--from")
        .arg(dir.join("claims"))
        .output()
        .expect("run testbed report");
    assert!(
        out.status.success(),
        "testbed report failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(dir.join("out/report.json")).expect("report.json");
    serde_json::from_str(&json).expect("report.json is JSON")
}

/// Runs Chromium headless on `page` with `extra` flags; returns (stdout, stderr). Kills it
/// after two minutes.
fn run_chromium(bin: &Path, profile: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let (mut so, mut se) = (child.stdout.take(), child.stderr.take());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = so.as_mut() {
            let _ = std::io::Read::read_to_string(o, &mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = se.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut s);
        }
        s
    });
    let mut waited_ms = 0;
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if waited_ms >= 120_000 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not exit in 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited_ms += 100;
    }
    (out.join().expect("stdout"), err.join().expect("stderr"))
}

/// Console messages and uncaught errors in Chromium's log.
fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// Pixels of an 8-bit PNG as RGB triples, with its size.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let f = std::fs::File::open(path).expect("open screenshot");
    let mut reader = png::Decoder::new(f).read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit screenshot");
    let bpp = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(info.line_size)
        .flat_map(|row| row.chunks(bpp).take(info.width as usize))
        .map(|p| match bpp {
            1 | 2 => [p[0]; 3],
            _ => [p[0], p[1], p[2]],
        })
        .collect();
    (info.width, info.height, px)
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        testbed_testkit::skip("no chromium on PATH (apt-get install chromium)");
        return;
    };
    let dir = out_dir("report-browser");
    let report = build_report(&dir);
    let page = dir.join("out/index.html");
    let claims = report["claims"].as_array().expect("claims").len();
    let plots = report["plots"].as_array().expect("plots");
    let drawn: Vec<&str> = plots
        .iter()
        .filter(|p| p["drawn"] == true)
        .filter_map(|p| p["id"].as_str())
        .collect();
    // These four need nothing but the simulator and the distributed cores.
    for id in ["http-versions", "limiter", "hashing", "drop-rate"] {
        assert!(drawn.contains(&id), "plot {id} not drawn: {plots:?}");
    }
    assert!(claims >= 25, "only {claims} claims");

    // The check below must be able to fail: a page with a script error is caught.
    let bad = dir.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><p>x</p><script>throw new Error('planted')</script>",
    )
    .expect("write bad page");
    let (_, bad_log) = run_chromium(&bin, &dir.join("profile-bad"), &bad, &["--dump-dom"]);
    assert!(
        console_errors(&bad_log)
            .iter()
            .any(|l| l.contains("planted")),
        "the console check misses a planted error; log:\n{bad_log}"
    );

    let shot = dir.join("shot.png");
    let (_, log) = run_chromium(
        &bin,
        &dir.join("profile-shot"),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,4000",
        ],
    );
    assert_eq!(console_errors(&log), Vec::<&str>::new(), "console errors");
    let size = std::fs::metadata(&shot).expect("screenshot written").len();
    assert!(size > 50_000, "screenshot only {size} bytes");
    let (w, h, px) = decode_png(&shot);
    assert_eq!((w, h), (1280, 4000));
    let white = px.iter().filter(|p| **p == [255, 255, 255]).count();
    let mut colours: Vec<[u8; 3]> = px.iter().step_by(7).copied().collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 50, "only {} colours", colours.len());
    assert!(
        white < px.len() * 97 / 100,
        "{white} of {} pixels white",
        px.len()
    );

    let (dom, log) = run_chromium(&bin, &dir.join("profile-dom"), &page, &["--dump-dom"]);
    assert_eq!(console_errors(&log), Vec::<&str>::new(), "console errors");
    assert_eq!(
        dom.matches("<svg").count(),
        drawn.len(),
        "one <svg> per drawn plot"
    );
    assert!(dom.contains("<table id=\"claims\""));
    assert_eq!(dom.matches("<tr id=\"claim-").count(), claims);
    for p in plots {
        let id = p["id"].as_str().expect("plot id");
        assert!(
            dom.contains(&format!("<figure id=\"plot-{id}\"")),
            "figure {id}"
        );
    }
    for p in plots.iter().filter(|p| p["drawn"] == false) {
        let reason = p["reason"].as_str().expect("reason for an undrawn plot");
        assert!(!reason.is_empty());
    }
    assert!(!dom.contains("<script"), "the page has no scripts");
    assert!(!dom.contains("src=\"http") && !dom.contains("href=\"http"));
    println!(
        "rendered {} ({size} B screenshot, {} colours sampled); {claims} claims, plots drawn: {}",
        page.display(),
        colours.len(),
        drawn.join(", ")
    );
}

#[test]
fn bench_records_are_read_and_missing_ones_say_how_to_measure_them() {
    let dir = out_dir("report-claims");
    std::fs::create_dir_all(dir.join("claims")).expect("claims dir");
    // One record as scripts/bench-xdp writes it, plus a broken line.
    std::fs::write(
        dir.join("claims/xdp.jsonl"),
        concat!(
            r#"{"id":"xdp.drop-rate","section":"2.3","claim":"XDP drops 20-30 Mpps","seed_value":"20-30 Mpps","measured":"4.25 Mpps","unit":"packets dropped per second","backend":"xdp","verdict":"does-not-hold-here","detail":"test record (skb mode 1.50 Mpps)"}"#,
            "\n{not json\n"
        ),
    )
    .expect("write claims");
    let report = build_report(&dir);
    let claims = report["claims"].as_array().expect("claims");
    let get = |id: &str| {
        claims
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no claim {id}"))
    };
    assert_eq!(get("xdp.drop-rate")["measured"], "4.25 Mpps");
    assert!(get("xdp.drop-rate")["source"]
        .as_str()
        .is_some_and(|s| s.contains("xdp.jsonl")));
    let missing = get("xdp.iptables-rate");
    assert_eq!(missing["verdict"], "not-run-here");
    assert!(missing["detail"]
        .as_str()
        .is_some_and(|d| d.contains("scripts/bench-xdp")));
    assert!(report["notes"].as_array().is_some_and(|n| n
        .iter()
        .any(|x| x.as_str().is_some_and(|s| s.contains("line 2")))));
    // The drop-rate plot now comes from the record, not the simulator.
    let drop = report["plots"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == "drop-rate"))
        .expect("drop-rate plot");
    assert!(drop["caption"]
        .as_str()
        .is_some_and(|c| c.contains("xdp.jsonl")));
    let svg = std::fs::read_to_string(dir.join("out/drop-rate.svg")).expect("drop-rate.svg");
    assert!(
        svg.contains("4.25") && svg.contains("1.50"),
        "bars from the record"
    );
    let md = std::fs::read_to_string(dir.join("out/report.md")).expect("report.md");
    assert!(md.contains("| 2.3 | XDP drops 20-30 Mpps | 20-30 Mpps | 4.25 Mpps |"));
}
