//! End-to-end runs of `ringtide-bench echo`: a short load on the ringtide echo server
//! (a `serve` child process) checked through the JSON, a short comparison, and the
//! refusals of bad arguments and of a server that is not there.

mod common;

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use common::assert_refused_in_one_line;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringtide-bench"))
        .args(args)
        .output()
        .expect("the harness binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtide-echo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `ringtide-bench serve` child, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(runtime: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringtide-bench"))
            .args(["serve", "--runtime", runtime, "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().parse().expect("the server prints its address");
        Server { child, addr }
    }

    /// Stops the server with SIGTERM, as a person would, and checks it exits cleanly.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the server exits cleanly on SIGTERM: {status}"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn read_json(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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
fn compare_measures_both_servers_and_their_ratios() {
    let dir = scratch("compare");
    let json = dir.join("out.json");
    let out = bench(&[
        "echo",
        "--compare",
        "--connections",
        "2",
        "--size",
        "64",
        "--duration",
        "300ms",
        "--warmup",
        "0s",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let (stdout, _) = check(&out);
    assert!(stdout.contains("ringtide / tokio"), "{stdout}");
    let report = read_json(&json);
    let results = report["results"].as_array().unwrap();
    let servers: Vec<_> = results
        .iter()
        .map(|r| r["server"].as_str().unwrap())
        .collect();
    assert_eq!(servers, ["ringtide", "tokio"]);
    for run in results {
        assert!(run["requests"].as_u64().unwrap() > 0, "{run}");
        assert_eq!(run["errors"], 0, "{run}");
        assert!(run["server_cpu_s"].is_number(), "{run}");
    }
    assert_eq!(
        report["ratios_ringtide_to_tokio"].as_array().unwrap().len(),
        1
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
