//! End-to-end runs of `ringtide-bench http` and of its servers: the ringtide (on each
//! driver) and tokio HTTP servers answer HTTP/1.1 and h2c alike, missing load tools are
//! named with the command that installs them, and, where wrk and h2load are installed, a
//! short comparison runs and alternates the server order.

mod server;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use server::{bench, check, harness, read_json, scratch, Server};

/// What a server answered.
#[derive(Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Bytes,
}

/// Sends one request over a fresh connection, HTTP/2 with prior knowledge when `h2`,
/// HTTP/1.1 otherwise.
fn ask(addr: SocketAddr, h2: bool, method: Method, path: &str, body: &'static str) -> Answer {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let request = |uri: String| {
        Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(HOST, addr.to_string())
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    };
    let exchange = async {
        let io = TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
        let response = if h2 {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(connection);
            sender
                .send_request(request(format!("http://{addr}{path}")))
                .await
        } else {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(connection);
            sender.send_request(request(path.to_string())).await
        };
        let response = response.unwrap();
        Answer {
            status: response.status(),
            content_type: response
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_string()),
            body: response.into_body().collect().await.unwrap().to_bytes(),
        }
    };
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), exchange).await })
        .expect("the server answers within 10 s")
}

fn answers_alike(args: &[&str], summary: &str) {
    let server = Server::spawn(args, Stdio::piped());
    for h2 in [false, true] {
        let hello = ask(server.addr, h2, Method::GET, "/", "");
        assert_eq!(
            hello,
            Answer {
                status: StatusCode::OK,
                content_type: Some("text/plain".into()),
                body: Bytes::from_static(b"Hello, world!\n"),
            },
            "{args:?}, h2: {h2}"
        );
        let echoed = ask(server.addr, h2, Method::POST, "/echo", "ping pong");
        assert_eq!(echoed.status, StatusCode::OK);
        assert_eq!(echoed.body, "ping pong", "{args:?}, h2: {h2}");
        let slept = ask(server.addr, h2, Method::GET, "/sleep?ms=5", "");
        assert_eq!(slept.body, "slept 5\n", "{args:?}, h2: {h2}");
        let missing = ask(server.addr, h2, Method::GET, "/nowhere", "");
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{args:?}, h2: {h2}");
    }
    let stderr = server.stop();
    assert!(stderr.contains(summary), "{args:?}: {stderr}");
    assert!(
        stderr.contains("8 connections accepted"),
        "{args:?}: {stderr}"
    );
}

#[test]
fn every_server_answers_http1_and_h2c_alike() {
    let http = ["--protocol", "http"];
    answers_alike(
        &[&http[..], &["--runtime", "tokio"]].concat(),
        "tokio http server",
    );
    answers_alike(
        &[&http[..], &["--runtime", "tokio", "--workers", "2"]].concat(),
        "tokio http server",
    );
    answers_alike(
        &[&http[..], &["--runtime", "ringtide", "--driver", "epoll"]].concat(),
        "ringtide http server on epoll",
    );
    answers_alike(
        &[&http[..], &["--runtime", "ringtide"]].concat(),
        "ringtide http server on",
    );
}

#[test]
fn http_without_compare_or_with_a_bad_option_is_refused_in_one_line() {
    let out = bench(&["http"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "error: http measures the servers it starts: give --compare (see --help)"
    );
    let out = bench(&["http", "--compare", "--duration", "2500ms"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("whole number of seconds"));
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_tools_are_named_with_the_install_command_and_fail_the_run() {
    let empty = scratch("no-tools");
    let out = harness()
        .env("PATH", &empty)
        .args(["http", "--compare", "--runs", "1", "--duration", "1s"])
        .args(["--warmup", "0s", "--driver", "epoll", "--quiet"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&empty);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let install = "install it with `sudo apt-get install wrk nghttp2-client`";
    for tool in ["wrk", "h2load"] {
        let said = format!("not run: {tool} is not installed");
        assert!(stdout.contains(&said), "{stdout}");
        assert!(
            stderr.contains(&format!("error: {tool} was not run")),
            "{stderr}"
        );
    }
    assert!(stdout.contains(install), "{stdout}");
    assert!(stdout.contains("no results"), "{stdout}");
}

/// Whether `tool` is on this process's PATH.
fn installed(tool: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join(tool).is_file())
}

#[test]
fn a_short_comparison_measures_both_servers_with_both_tools() {
    if !(installed("wrk") && installed("h2load")) {
        eprintln!("wrk or h2load is not installed: the short comparison is not run");
        return;
    }
    let dir = scratch("http-compare");
    let json = dir.join("out.json");
    let out = harness()
        .args(["http", "--compare", "--driver", "epoll", "--runs", "2"])
        .args(["--duration", "1s", "--warmup", "0s", "--connections", "4"])
        .args([
            "--h2-connections",
            "2",
            "--streams",
            "2",
            "--h2load-log",
            "--quiet",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let (stdout, _) = check(&out);
    let report = read_json(&json);
    let _ = std::fs::remove_dir_all(&dir);
    let runs = report["runs"].as_array().unwrap();
    let order: Vec<(&str, &str, u64)> = runs
        .iter()
        .map(|r| {
            (
                r["load"].as_str().unwrap(),
                r["server"].as_str().unwrap(),
                r["round"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("wrk -c4", "ringtide-epoll", 1),
            ("wrk -c4", "tokio", 1),
            ("wrk -c4", "tokio", 2),
            ("wrk -c4", "ringtide-epoll", 2),
            ("h2load -c2 -m2", "ringtide-epoll", 1),
            ("h2load -c2 -m2", "tokio", 1),
            ("h2load -c2 -m2", "tokio", 2),
            ("h2load -c2 -m2", "ringtide-epoll", 2),
        ]
    );
    for run in runs {
        assert!(run["requests"].as_u64().unwrap() > 0, "{run}");
        assert_eq!(run["errors"]["total"], 0, "{run}");
        // With --h2load-log, both tools give percentiles.
        assert!(run["p99_us"].as_f64().unwrap() > 0.0, "{run}");
        assert!(run["server_user_s"].is_number(), "{run}");
        assert!(run["server_system_s"].is_number(), "{run}");
    }
    assert_eq!(
        report["ratios_ringtide_to_tokio"].as_array().unwrap().len(),
        2
    );
    assert!(stdout.contains("ringtide / tokio, medians"), "{stdout}");
}
