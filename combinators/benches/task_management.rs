//! Graceful shutdown and bounded gathering, against what a tokio program writes for each.
//!
//! * `shutdown`: 100,000 children that wait on their group's cancellation token, a
//!   tenth of which (`stubborn`) ignore it. Timed from the start of the shutdown until
//!   every child is reported: `TaskGroup::shutdown(grace)` against tokio's `JoinSet` with
//!   a tokio-util `CancellationToken`, draining `join_next` under `tokio::time::timeout`
//!   for the grace period, then `abort_all` and draining the rest. `cooperative` has no
//!   stubborn children (the grace period never runs out); `stubborn` uses a 250 ms grace
//!   period, which both sides wait out (long enough for either to collect every
//!   well-behaved child first: with 10 ms, tokio's side aborts a third of them), so the
//!   summary also compares the time past the grace period. Both runtimes get the same
//!   number of workers.
//! * `gather`: 1,000,000 children made lazily from a range, at most 1,000 at once, each
//!   yielding once: `gather_limited` against `futures::stream::iter(..)` with
//!   `buffer_unordered(1000)` (and `buffered(1000)`, which keeps input order as
//!   `gather_limited` does), collected into a `Vec` on `futures::executor::block_on`.
//!   Wall time and peak RSS (`VmHWM`); `baseline` is the peak RSS of a run that does
//!   nothing.
//!
//! Every run is a process of its own (this binary, re-executed with `--case NAME`), so
//! that peak RSS is the case's alone and no runtime outlives its case. Each case runs
//! `RUNS` times (default 5); the table gives the median and the best.
//!
//! `cargo bench -p ringtide-combinators --bench task_management`

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::StreamExt;
use ringtide::task::yield_now;
use ringtide_combinators::{gather_limited, TaskGroup};

const SHUTDOWN_CHILDREN: usize = 100_000;
const GATHER_CHILDREN: usize = 1_000_000;
const LIMIT: usize = 1_000;
const STUBBORN_GRACE: Duration = Duration::from_millis(250);
const COOPERATIVE_GRACE: Duration = Duration::from_secs(60);

const CASES: [&str; 8] = [
    "shutdown/cooperative/ringtide",
    "shutdown/cooperative/tokio",
    "shutdown/stubborn/ringtide",
    "shutdown/stubborn/tokio",
    "gather/baseline",
    "gather/ringtide_gather_limited",
    "gather/buffer_unordered",
    "gather/buffered",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--case") {
        let case = args.get(at + 1).expect("--case NAME");
        let wall = run_case(case);
        println!("RESULT {} {}", wall.as_nanos(), peak_rss_kib());
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(5);
    let workers = workers();
    println!("{workers} workers for both runtimes; {runs} runs a case, each in its own process");
    println!(
        "{:<32} {:>12} {:>12} {:>16}",
        "case", "median ms", "best ms", "peak RSS MiB"
    );
    let mut medians = Vec::new();
    for case in CASES {
        let mut walls = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..runs {
            let (wall, kib) = run_child(case);
            walls.push(wall);
            rss.push(kib);
        }
        walls.sort();
        rss.sort();
        let median = walls[walls.len() / 2];
        let median_rss = rss[rss.len() / 2];
        println!(
            "{case:<32} {:>12.2} {:>12.2} {:>16.1}",
            ms(median),
            ms(walls[0]),
            median_rss as f64 / 1024.0
        );
        medians.push((case, median, median_rss));
    }
    let find = |name: &str| {
        *medians
            .iter()
            .find(|(case, _, _)| *case == name)
            .expect("every case ran")
    };
    println!();
    for kind in ["cooperative", "stubborn"] {
        let ours = find(&format!("shutdown/{kind}/ringtide"));
        let theirs = find(&format!("shutdown/{kind}/tokio"));
        println!(
            "shutdown/{kind}: ringtide / tokio wall time = {:.2}x",
            ours.1.as_secs_f64() / theirs.1.as_secs_f64()
        );
    }
    let past_grace = |case: &str| find(case).1.saturating_sub(STUBBORN_GRACE).as_secs_f64();
    println!(
        "shutdown/stubborn: ringtide / tokio time past the grace period = {:.2}x",
        past_grace("shutdown/stubborn/ringtide") / past_grace("shutdown/stubborn/tokio")
    );
    let ours = find("gather/ringtide_gather_limited");
    for other in ["gather/buffer_unordered", "gather/buffered"] {
        let theirs = find(other);
        println!(
            "gather_limited / {}: wall time = {:.2}x, peak RSS = {:.2}x",
            other.trim_start_matches("gather/"),
            ours.1.as_secs_f64() / theirs.1.as_secs_f64(),
            ours.2 as f64 / theirs.2 as f64
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `case` in a new process of this binary: its wall time and peak RSS in KiB.
fn run_child(case: &str) -> (Duration, u64) {
    let exe = std::env::current_exe().expect("the bench binary has a path");
    let output = Command::new(exe)
        .args(["--case", case])
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{case} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("{case} printed no result: {stdout}"));
    let mut fields = line.split(' ').map(|field| field.parse::<u64>().unwrap());
    let wall = Duration::from_nanos(fields.next().unwrap());
    (wall, fields.next().unwrap())
}

/// `VmHWM` of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs is mounted");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM is in /proc/self/status")
}

fn run_case(case: &str) -> Duration {
    match case {
        "shutdown/cooperative/ringtide" => shutdown_ringtide(false),
        "shutdown/cooperative/tokio" => shutdown_tokio(false),
        "shutdown/stubborn/ringtide" => shutdown_ringtide(true),
        "shutdown/stubborn/tokio" => shutdown_tokio(true),
        "gather/baseline" => Duration::ZERO,
        "gather/ringtide_gather_limited" => {
            time_gather(|| block_on(gather_limited((0..GATHER_CHILDREN).map(child), LIMIT)))
        }
        "gather/buffer_unordered" => time_gather(|| {
            let children = futures::stream::iter((0..GATHER_CHILDREN).map(child));
            block_on(children.buffer_unordered(LIMIT).collect::<Vec<_>>())
        }),
        "gather/buffered" => time_gather(|| {
            let children = futures::stream::iter((0..GATHER_CHILDREN).map(child));
            block_on(children.buffered(LIMIT).collect::<Vec<_>>())
        }),
        _ => panic!("no case {case}"),
    }
}

/// A gathered child: pending once, then its input position.
async fn child(i: usize) -> usize {
    yield_now().await;
    i
}

fn time_gather(gather: impl FnOnce() -> Vec<usize>) -> Duration {
    let start = Instant::now();
    let outputs = gather();
    let wall = start.elapsed();
    assert_eq!(outputs.len(), GATHER_CHILDREN);
    assert_eq!(outputs.iter().sum::<usize>(), (0..GATHER_CHILDREN).sum());
    wall
}

/// Whether child `i` of a shutdown ignores the token.
fn ignores_the_token(stubborn: bool, i: usize) -> bool {
    stubborn && i % 10 == 0
}

fn grace(stubborn: bool) -> Duration {
    if stubborn {
        STUBBORN_GRACE
    } else {
        COOPERATIVE_GRACE
    }
}

/// Waits, with the runtime's `sleep`, until every child has started, and a little
/// longer for them to park.
async fn settle<F: Future>(started: &AtomicUsize, sleep: impl Fn(Duration) -> F) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while started.load(Ordering::SeqCst) < SHUTDOWN_CHILDREN {
        assert!(Instant::now() < give_up, "the children never started");
        sleep(Duration::from_millis(1)).await;
    }
    sleep(Duration::from_millis(50)).await;
}

fn shutdown_ringtide(stubborn: bool) -> Duration {
    let rt = ringtide::Builder::new()
        .worker_threads(workers())
        .build()
        .expect("io_uring is available");
    rt.block_on(async {
        let group = TaskGroup::<usize, ()>::new();
        let started = Arc::new(AtomicUsize::new(0));
        for i in 0..SHUTDOWN_CHILDREN {
            let (token, started) = (group.token(), started.clone());
            group
                .spawn(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    if ignores_the_token(stubborn, i) {
                        ringtide::time::sleep(Duration::from_secs(3600)).await;
                    } else {
                        token.cancelled().await;
                    }
                    Ok(i)
                })
                .unwrap();
        }
        settle(&started, ringtide::time::sleep).await;
        let start = Instant::now();
        let report = group.shutdown(grace(stubborn)).await;
        let wall = start.elapsed();
        let aborted = (0..SHUTDOWN_CHILDREN)
            .filter(|&i| ignores_the_token(stubborn, i))
            .count();
        assert_eq!(report.aborted.len(), aborted);
        assert_eq!(report.cancelled.len(), SHUTDOWN_CHILDREN - aborted);
        wall
    })
}

fn shutdown_tokio(stubborn: bool) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_time()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let token = tokio_util::sync::CancellationToken::new();
        let mut set = tokio::task::JoinSet::new();
        let started = Arc::new(AtomicUsize::new(0));
        for i in 0..SHUTDOWN_CHILDREN {
            let (token, started) = (token.clone(), started.clone());
            set.spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                if ignores_the_token(stubborn, i) {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                } else {
                    token.cancelled().await;
                }
                i
            });
        }
        settle(&started, tokio::time::sleep).await;
        let start = Instant::now();
        token.cancel();
        let mut cancelled = Vec::with_capacity(SHUTDOWN_CHILDREN);
        let drain = async {
            while let Some(outcome) = set.join_next().await {
                cancelled.push(outcome.expect("no child panics"));
            }
        };
        let _ = tokio::time::timeout(grace(stubborn), drain).await;
        set.abort_all();
        let mut aborted = Vec::new();
        while let Some(outcome) = set.join_next_with_id().await {
            match outcome {
                Ok((_, i)) => cancelled.push(i),
                Err(error) if error.is_cancelled() => aborted.push(error.id()),
                Err(error) => panic!("a child failed: {error}"),
            }
        }
        let wall = start.elapsed();
        let expected = (0..SHUTDOWN_CHILDREN)
            .filter(|&i| ignores_the_token(stubborn, i))
            .count();
        assert_eq!(aborted.len(), expected);
        assert_eq!(cancelled.len(), SHUTDOWN_CHILDREN - expected);
        wall
    })
}
