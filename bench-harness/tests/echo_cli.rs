//! End-to-end runs of `ringtide-bench echo`: a short load on the ringtide echo server
//! (a `serve` child process) checked through the JSON, short comparisons (one with
//! ringtide on each driver), the echo server on epoll, the refusals of bad arguments and
//! of a server that is not there, and the failed runs against servers (on threads of the
//! test) that do not echo or that stop mid-run.

mod common;
mod server;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::assert_refused_in_one_line;
use server::{bench, check, harness, read_json, scratch, Server};

impl Server {
    /// An echo server on `runtime`, its stderr shown.
    fn start(runtime: &str) -> Server {
        Server::spawn(&["--runtime", runtime], Stdio::inherit())
    }
}

#[test]
fn a_short_load_is_echoed_and_verified_byte_for_byte() {
    let server = Server::start("ringtide");
    let dir = scratch("load");
    let json = dir.join("out.json");
    let addr = server.addr.to_string();
    let pid = server.child.id().to_string();
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "--connections",
        "4",
        "--size",
        "1000",
        "--duration",
        "1s",
        "--warmup",
        "100ms",
        "--server-pid",
        &pid,
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let (stdout, _) = check(&out);
    assert!(stdout.contains("round trip"), "{stdout}");
    let report = read_json(&json);
    let run = &report["results"][0];
    let requests = run["requests"].as_u64().unwrap();
    assert!(requests > 0, "{run}");
    assert_eq!(run["errors"], 0, "{run}");
    assert_eq!(
        run["bytes_verified"].as_u64(),
        Some(requests * 1000),
        "{run}"
    );
    assert_eq!(run["connections"], 4);
    assert!(run["p99_us"].as_f64().unwrap() > 0.0, "{run}");
    assert!(
        run["server_cpu_s"].is_number(),
        "server CPU was read: {run}"
    );
    server.stop();
}

#[test]
fn a_fixed_rate_load_sends_about_that_rate() {
    let server = Server::start("tokio");
    let dir = scratch("rate");
    let json = dir.join("out.json");
    let addr = server.addr.to_string();
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "--connections",
        "3",
        "--size",
        "64",
        "--duration",
        "500ms",
        "--warmup",
        "0s",
        "--rate",
        "600",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    check(&out);
    let run = &read_json(&json)["results"][0];
    // 600/s for 0.5 s is 300 requests on schedule; the count depends only on the
    // schedule, not on speed, but allow for the edges of the window.
    let requests = run["requests"].as_u64().unwrap();
    assert!((250..=310).contains(&requests), "{run}");
    assert_eq!(run["errors"], 0, "{run}");
    server.stop();
}

#[test]
fn compare_measures_every_server_and_the_ratios() {
    let (out, report) = short_compare(&[], &[]);
    let (stdout, _) = check(&out);
    assert!(stdout.contains("ringtide / tokio"), "{stdout}");
    assert!(stdout.contains("server costs per request"), "{stdout}");
    let results = report["results"].as_array().unwrap();
    let servers: Vec<_> = results
        .iter()
        .map(|r| r["server"].as_str().unwrap())
        .collect();
    assert_eq!(servers, ["ringtide", "tokio", "monoio"]);
    assert!(results[0]["driver"].is_string(), "the driver auto picked");
    assert!(results[1]["driver"].is_null());
    for run in results {
        assert!(run["requests"].as_u64().unwrap() > 0, "{run}");
        assert_eq!(run["errors"], 0, "{run}");
        assert!(run["server_cpu_s"].is_number(), "{run}");
        // User and system time apart, per request in ns too (either may be 0 ticks in
        // a run this short).
        let costs = &run["costs"];
        for mode in ["user", "system"] {
            assert!(run[format!("server_{mode}_cpu_s")].is_number(), "{run}");
            let key = format!("server_{mode}_ns_per_request");
            assert!(costs[key].as_f64().unwrap() >= 0.0, "{run}");
        }
    }
    // Only ringtide reports its I/O counters: every echo is a receive and a send
    // request, each with a completion. (The server answers for its counters a moment
    // after the window opens, so a short window counts somewhat fewer than 2 each.)
    let io = &results[0]["server_io"];
    let requests = results[0]["requests"].as_u64().unwrap();
    assert!(io["submitted"].as_u64().unwrap() >= requests, "{io}");
    assert!(io["completions"].as_u64().unwrap() >= requests, "{io}");
    assert!(io["enters"].as_u64().unwrap() > 0, "{io}");
    let enters = results[0]["costs"]["enters_per_request"].as_f64().unwrap();
    assert!(enters > 0.0 && enters <= 2.0, "{io}");
    assert!(results[1]["server_io"].is_null() && results[2]["server_io"].is_null());
    assert_eq!(
        report["ratios_ringtide_to_tokio"].as_array().unwrap().len(),
        1
    );
}

/// A short comparison with `extra` options, in `env`; its output and its JSON.
fn short_compare(extra: &[&str], env: &[(&str, &str)]) -> (Output, serde_json::Value) {
    let dir = scratch(&format!("compare-{}-{}", extra.join("-"), env.len()));
    let json = dir.join("out.json");
    let quick = "--connections 2 --size 64 --duration 300ms --warmup 0s --quiet";
    let out = harness()
        .envs(env.iter().copied())
        .args(["echo", "--compare"])
        .args(quick.split(' '))
        .args(extra)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let report = read_json(&json);
    let _ = std::fs::remove_dir_all(&dir);
    (out, report)
}

fn servers(report: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["server"].as_str().unwrap().to_string(),
                r["driver"].clone(),
            )
        })
        .collect()
}

#[test]
fn compare_runs_ringtide_on_each_driver_next_to_tokio() {
    let (out, report) = short_compare(&["--driver", "io_uring,epoll"], &[]);
    let (stdout, stderr) = check(&out);
    assert_eq!(
        servers(&report),
        [
            ("ringtide-io_uring".to_string(), "io_uring".into()),
            ("ringtide-epoll".to_string(), "epoll".into()),
            ("tokio".to_string(), serde_json::Value::Null),
            ("monoio".to_string(), serde_json::Value::Null),
        ]
    );
    for run in report["results"].as_array().unwrap() {
        assert!(run["requests"].as_u64().unwrap() > 0, "{run}");
        assert_eq!(run["errors"], 0, "{run}");
    }
    assert_eq!(
        report["ratios_ringtide_to_tokio"].as_array().unwrap().len(),
        2
    );
    let between = &report["ratios_between_drivers"];
    assert_eq!(between.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(between[0]["server"], "ringtide-epoll");
    assert_eq!(between[0]["versus"], "ringtide-io_uring");
    for line in [
        "epoll: CPU/req <= 1.05",
        "\nringtide-epoll ",
        "ringtide drivers / ringtide-io_uring",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    // Each server's summary names its driver.
    for driver in ["io_uring", "epoll"] {
        let summary = format!("ringtide echo server on {driver}: ");
        assert!(stderr.contains(&summary), "{summary:?} missing:\n{stderr}");
    }
}

#[test]
fn compare_reports_a_driver_that_cannot_be_used_and_measures_the_rest() {
    let (out, report) = short_compare(
        &["--driver", "io_uring,epoll"],
        &[("RINGTIDE_DRIVER", "epoll")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("error: ringtide-io_uring was not measured"),
        "{stderr}"
    );
    assert!(
        stdout.contains("\nnot measured: ringtide-io_uring: "),
        "{stdout}"
    );
    let names: Vec<String> = servers(&report).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["ringtide-epoll", "tokio", "monoio"]);
    assert_eq!(report["not_measured"][0]["driver"], "io_uring");
}

#[test]
fn idle_connections_are_charged_to_each_server() {
    let dir = scratch("idle");
    let json = dir.join("idle.json");
    let out = harness()
        .args([
            "echo",
            "--compare",
            "--idle",
            "200",
            "--recv",
            "owned,multishot",
        ])
        .args(["--quiet", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let (stdout, _) = check(&out);
    assert!(
        stdout.contains("idle connections: 200 to each server"),
        "{stdout}"
    );
    let report = read_json(&json);
    let _ = std::fs::remove_dir_all(&dir);
    let names: Vec<String> = servers(&report).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["ringtide", "ringtide-multishot", "tokio", "monoio"]);
    let results = report["results"].as_array().unwrap();
    for run in results {
        assert_eq!(run["connections"], 200, "{run}");
        assert!(run["baseline_rss_bytes"].as_u64().unwrap() > 0, "{run}");
        assert!(run["idle_rss_bytes"].as_u64().unwrap() > 0, "{run}");
    }
    // The multishot server holds no buffer per connection; tokio's and monoio's
    // connections read into 4 KiB.
    assert_eq!(results[1]["read_buffer"], 0);
    assert_eq!(results[2]["read_buffer"], 4096);
    assert_eq!(results[3]["read_buffer"], 4096);
}

#[test]
fn the_echo_server_on_epoll_echoes_and_says_so() {
    let args = ["--runtime", "ringtide", "--driver", "epoll"];
    let server = Server::spawn(&args, Stdio::piped());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"over epoll").unwrap();
    let mut echoed = [0u8; 10];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"over epoll");
    drop(stream);
    let stderr = server.stop();
    assert!(
        stderr.starts_with("ringtide echo server on epoll: 1 connections accepted"),
        "{stderr}"
    );
}

#[test]
fn a_server_that_is_not_there_is_a_clear_error() {
    // Bind and drop a listener to find a port that nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = bench(&["echo", "--addr", &addr, "--duration", "1s", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(2), "not a usage error: {stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_arguments_exit_with_2_and_never_panic() {
    for args in [
        &["echo", "--addr", "127.0.0.1:7000", "--connections", "0"][..],
        &["echo", "--addr", "127.0.0.1:7000", "--driver", "epoll"],
        &["echo", "--addr", "127.0.0.1:7000", "--size", "0"],
        &["echo", "--addr", "127.0.0.1:7000", "--duration", "0s"],
        &["echo", "--addr", "not an address"],
        &["echo", "--addr", "127.0.0.1:7000", "--size", "lots"],
        &["echo"],
    ] {
        let out = bench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A TCP server on threads of the test, on loopback: each connection answers what it
/// reads with `answer` applied to it. It stops accepting (later connections are refused)
/// and closes every connection `open_for` after its first accept, when dropped, or after
/// `LIMIT` in any case.
struct ThreadServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The longest a `ThreadServer` runs, whatever happens to the test.
const LIMIT: Duration = Duration::from_secs(10);

impl ThreadServer {
    fn start(answer: fn(&mut [u8]), open_for: Duration) -> ThreadServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            let limit = Instant::now() + LIMIT;
            let mut close_at = limit;
            let mut connections = Vec::new();
            while !stopped.load(Ordering::Relaxed) && Instant::now() < close_at {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if connections.is_empty() {
                            close_at = close_at.min(Instant::now() + open_for);
                        }
                        let stopped = stopped.clone();
                        connections.push(thread::spawn(move || {
                            answer_until(stream, answer, &stopped, close_at)
                        }));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
            drop(listener);
            for connection in connections {
                connection.join().unwrap();
            }
        });
        ThreadServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer_until(mut stream: TcpStream, answer: fn(&mut [u8]), stop: &AtomicBool, end: Instant) {
    stream.set_nonblocking(false).unwrap();
    // Short reads keep the stop and the end in sight while the client is quiet.
    stream
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                answer(&mut buf[..n]);
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// A short closed-loop load on `addr`, with the figures as JSON in `json`.
fn short_load(addr: SocketAddr, duration: &str, json: &std::path::Path) -> Output {
    let addr = addr.to_string();
    bench(&[
        "echo",
        "--addr",
        &addr,
        "--connections",
        "2",
        "--size",
        "64",
        "--duration",
        duration,
        "--warmup",
        "0s",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ])
}

/// Asserts that the run failed (status 1, not a usage error) for `reason`, after
/// printing and writing its figures.
fn assert_failed_for(out: &Output, json: &std::path::Path, reason: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains(reason), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stdout.contains("round trip"),
        "the figures are printed: {stdout}"
    );
    assert!(read_json(&json.to_path_buf())["results"][0].is_object());
}

#[test]
fn a_server_that_answers_with_other_bytes_fails_the_run() {
    let server = ThreadServer::start(|bytes| bytes.iter_mut().for_each(|b| *b = !*b), LIMIT);
    let json = scratch("wrong-bytes").join("out.json");
    let out = short_load(server.addr, "300ms", &json);
    assert_failed_for(&out, &json, "echoes differed from what was sent");
    assert!(read_json(&json)["results"][0]["errors_by_kind"]["mismatch"].as_u64() > Some(0));
}

#[test]
fn a_server_that_stops_mid_run_fails_the_run() {
    let server = ThreadServer::start(|_| {}, Duration::from_millis(100));
    let json = scratch("stops").join("out.json");
    let out = short_load(server.addr, "400ms", &json);
    assert_failed_for(&out, &json, "could not reconnect by the end of the window");
}

#[test]
fn values_out_of_range_are_refused_in_one_line_before_connecting() {
    // Connections to this listener would wait in its backlog: none may be there after.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let day = "at most 86400s (a day)";
    let rates = "from 0.001 to 1e9";
    for (extra, needles) in [
        (&["--rate", "1e-300"][..], &["--rate", rates][..]),
        (&["--rate", "1e10"], &["--rate", rates]),
        (&["--duration", "1e20"], &["--duration", day]),
        (&["--warmup", "100000000000000000000"], &["--warmup", day]),
        (&["--client-spin", "1e20"], &["--client-spin", day]),
        (
            &["--size", "99999999999999999999999"],
            &["--size", "at most 16 MiB"],
        ),
        (
            &["--connections", "2,60000"],
            &["--connections", "at most 50000"],
        ),
    ] {
        let args = [&["echo", "--addr", &addr, "--quiet"][..], extra].concat();
        assert_refused_in_one_line(&bench(&args), &args, needles);
    }
    listener.set_nonblocking(true).unwrap();
    let accepted = listener.accept().map(|_| ()).map_err(|e| e.kind());
    assert_eq!(accepted, Err(io::ErrorKind::WouldBlock));
}

#[test]
fn an_unknown_driver_is_refused_in_one_line_that_names_the_drivers() {
    for args in [
        &["echo", "--compare", "--driver", "io_uring,kqueue"][..],
        &["serve", "--runtime", "ringtide", "--driver", "kqueue"],
    ] {
        let needles = ["--driver", "`kqueue`", "io_uring, epoll or auto"];
        assert_refused_in_one_line(&bench(args), args, &needles);
    }
    let args = &["serve", "--runtime", "tokio", "--driver", "epoll"];
    let needles = ["--driver", "--runtime ringtide only"];
    assert_refused_in_one_line(&bench(args), args, &needles);
}

#[test]
fn a_cpu_out_of_reach_is_refused_with_what_to_do() {
    // CPU_SETSIZE is 1024: no machine offers CPU 4095 to pin to.
    for (args, what, option) in [
        (
            &["echo", "--addr", "127.0.0.1:7000", "--client-cpu", "4095"][..],
            "the load generator",
            "--client-cpu",
        ),
        (
            &["serve", "--runtime", "ringtide", "--cpu", "4095"],
            "the echo server",
            "--cpu",
        ),
    ] {
        let needles = [
            &format!("cannot pin {what} to CPU 4095")[..],
            "the CPUs available here are ",
            &format!("give {option} one of those"),
        ];
        assert_refused_in_one_line(&bench(args), args, &needles);
    }
}
