//! End-to-end runs of `ringtide-bench latency`: one small run per mode and one on each
//! ringtide driver, checked through the JSON they write, a driver that cannot be used,
//! and the refusals of bad arguments.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::assert_refused_in_one_line;

fn bench(args: &[&str]) -> Output {
    harness()
        .args(args)
        .output()
        .expect("the harness binary runs")
}

/// `ringtide-bench latency`, with no `RINGTIDE_DRIVER` to override `--driver`.
fn harness() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringtide-bench"));
    command.arg("latency").env_remove("RINGTIDE_DRIVER");
    command
}

/// The runtimes of a default run.
const RUNTIMES: [&str; 3] = ["ringtide", "tokio", "floor"];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtide-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs one small measurement of every runtime and checks that the output is complete:
/// every runtime reports every wake, none early, and every output file exists.
fn check_mode(mode: &str, extra: &[&str], wakes_per_task: u64) {
    check_run(mode, extra, wakes_per_task, &RUNTIMES);
}

/// Like [`check_mode`], for a run whose results are named `names`; returns its JSON.
fn check_run(
    mode: &str,
    extra: &[&str],
    wakes_per_task: u64,
    names: &[&str],
) -> (String, serde_json::Value) {
    let dir = scratch(&format!("{mode}-{}", names.len()));
    let json = dir.join("out.json");
    let hgrm = dir.join("hgrm");
    let plot = dir.join("plot.svg");
    let tasks = 2000u64;
    let mut args = vec![
        "--mode",
        mode,
        "--tasks",
        "2000",
        "--workers",
        "2",
        "--no-pin",
        "--lead",
        "150ms",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = bench(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for name in names {
        assert!(stdout.contains(name), "table lists {name}:\n{stdout}");
        assert!(
            hgrm.join(format!("{name}.hgrm")).is_file(),
            "{name}.hgrm written"
        );
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let text = report.to_string();
    for name in names {
        let runtime =
            find_runtime(&report, name).unwrap_or_else(|| panic!("{name} in JSON: {text}"));
        assert_eq!(
            runtime["early_wakes"], 0,
            "{name}: no wake before its deadline"
        );
        assert_eq!(
            runtime["count"].as_u64(),
            Some(tasks * wakes_per_task),
            "{name}: every wake recorded: {runtime}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    (stdout.into_owned(), report)
}

fn find_runtime<'a>(report: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    let runtimes = report.get("runtimes").or_else(|| report.get("results"))?;
    match runtimes {
        serde_json::Value::Array(list) => list.iter().find(|r| r["name"] == name),
        serde_json::Value::Object(map) => map.get(name),
        _ => None,
    }
}

#[test]
fn spread_run_is_complete() {
    check_mode("spread", &["--window", "100ms"], 1);
}

#[test]
fn each_driver_is_measured_next_to_tokio_and_the_floor_in_one_run() {
    let names = ["ringtide-io_uring", "ringtide-epoll", "tokio", "floor"];
    let extra = ["--window", "50ms", "--driver", "io_uring,epoll"];
    let (stdout, report) = check_run("spread", &extra, 1, &names);
    let results = report["results"].as_array().unwrap();
    let order: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, names);
    let drivers: Vec<&serde_json::Value> = results.iter().map(|r| &r["driver"]).collect();
    assert_eq!(
        serde_json::json!(drivers),
        serde_json::json!(["io_uring", "epoll", null, null])
    );
    assert_eq!(report["ratio_reference"], "ringtide-io_uring");
    assert_eq!(
        report["config"]["drivers"],
        serde_json::json!(["io_uring", "epoll"])
    );
    for ringtide in &results[..2] {
        let others: Vec<&String> = ringtide["ratio_to"].as_object().unwrap().keys().collect();
        assert_eq!(others, ["floor", "tokio"], "{ringtide}");
        assert!(
            ringtide["ratio_to"]["floor"]["p99"].is_number(),
            "{ringtide}"
        );
    }
    for other in &results[2..] {
        assert!(other.get("ratio_to").is_none(), "{other}");
    }
    for block in [
        "ratio to ringtide-io_uring",
        "ratio to tokio",
        "ratio to floor",
        "target: p99 on epoll <= 2.00 × the floor's: ringtide-epoll",
    ] {
        assert!(stdout.contains(block), "{block:?} missing:\n{stdout}");
    }
}

#[test]
fn a_driver_that_cannot_be_used_is_reported_and_the_rest_measured() {
    // RINGTIDE_DRIVER makes every runtime of the process run on epoll: a runtime asked
    // for io_uring would measure epoll under io_uring's name.
    let dir = scratch("unusable-driver");
    let json = dir.join("out.json");
    let out = harness()
        .env("RINGTIDE_DRIVER", "epoll")
        .args(["--mode", "burst", "--tasks", "200", "--lead", "50ms"])
        .args([
            "--runtimes",
            "ringtide",
            "--driver",
            "io_uring,epoll",
            "--quiet",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("error: ringtide-io_uring was not measured")
            && stderr.contains("RINGTIDE_DRIVER=epoll"),
        "{stderr}"
    );
    assert!(
        stdout.contains("\nnot measured: ringtide-io_uring: "),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["results"][0]["name"], "ringtide-epoll");
    assert_eq!(report["results"][0]["driver"], "epoll");
    assert_eq!(report["results"][0]["count"], 200);
    assert_eq!(report["not_measured"][0]["name"], "ringtide-io_uring");
    assert_eq!(report["not_measured"][0]["driver"], "io_uring");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn burst_run_is_complete() {
    check_mode("burst", &[], 1);
}

#[test]
fn a_malloc_top_pad_is_applied_and_reported() {
    let out = bench(&[
        "--mode",
        "burst",
        "--tasks",
        "100",
        "--lead",
        "50ms",
        "--runtimes",
        "ringtide",
        "--malloc-top-pad",
        "16",
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("malloc top pad 16 MiB"), "{stdout}");
    assert!(stdout.contains("ringtide"), "{stdout}");
}

#[test]
fn periodic_run_is_complete() {
    check_mode("periodic", &["--period", "20ms", "--duration", "100ms"], 5);
}

#[test]
fn bad_arguments_exit_non_zero_with_a_message_and_no_panic() {
    for (args, needle) in [
        (vec!["--tasks", "0"], "--tasks must be at least 1"),
        (vec!["--runtimes", "ringtide,nope"], "nope"),
        (vec!["--mode", "sideways"], "sideways"),
        (vec!["--window", "0s"], "--window must be longer than zero"),
        (vec!["--lead", "soon"], "not a duration"),
        (
            vec!["--malloc-top-pad", "4096"],
            "--malloc-top-pad must be at most",
        ),
    ] {
        let out = bench(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn values_out_of_range_are_refused_in_one_line_that_names_the_range() {
    let day = "at most 86400s (a day)";
    for (args, needles) in [
        (&["--window", "1e20"][..], &["--window", day][..]),
        (&["--window", "100000000000000000000"], &["--window", day]),
        (&["--lead", "99999999999999999999s"], &["--lead", day]),
        (&["--duration", "1e20"], &["--duration", day]),
        (&["--period", "1e30ms"], &["--period", day]),
        (&["--tasks", "20000000"], &["--tasks", "at most 10000000"]),
        (
            &["--tasks", "99999999999999999999999"],
            &["--tasks", "at most 10000000"],
        ),
        (&["--workers", "5000"], &["--workers", "at most 1024"]),
        (
            &["--malloc-top-pad", "4096"],
            &["--malloc-top-pad", "at most 1024"],
        ),
        (
            &["--driver", "io_uring,kqueue"],
            &["--driver", "`kqueue`", "io_uring, epoll or auto"],
        ),
        (
            &["--driver", "epoll,epoll"],
            &["--driver lists epoll twice"],
        ),
        (
            &["--runtimes", "tokio", "--driver", "epoll"],
            &["--driver", "leaves ringtide out"],
        ),
        // A deadline for every nanosecond of a day: more wakes than a run can hold.
        (
            &[
                "--mode",
                "periodic",
                "--period",
                "1ns",
                "--duration",
                "86400",
                "--tasks",
                "1",
                "--runtimes",
                "floor",
            ],
            &["--period", "at most 100000000 wakes"],
        ),
    ] {
        assert_refused_in_one_line(&bench(args), args, needles);
    }
}
