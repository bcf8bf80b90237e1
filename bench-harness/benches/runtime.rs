//! Side-by-side scheduler and timer benchmarks: ringtide vs tokio's multi-thread runtime.
//!
//! Every group contains a `ringtide` and a `tokio` function so criterion reports them
//! next to each other. Both runtimes get the same number of worker threads (2 by default,
//! overridable with the `RINGTIDE_BENCH_WORKERS` environment variable); ringtide workers are
//! not pinned, because tokio workers are not pinned either. Each runtime is built once per
//! group, right before its function runs, and shut down right after it, so an idle runtime
//! never competes for CPU with the one being measured.
//!
//! Groups:
//!
//! * `spawn_join_1m`: from inside `block_on`, spawn 1,000,000 trivial tasks (each returns a
//!   small integer), collect their `JoinHandle`s into a `Vec`, then await them in order and
//!   check the sum of the outputs. Measures task allocation, scheduling, cross-thread
//!   wakeups and join overhead.
//! * `yield_pingpong`: two spawned tasks (free to land on different workers) hand a turn
//!   back and forth through an `AtomicUsize`, calling `yield_now().await` between checks,
//!   for 10,000 round trips per iteration. Measures the cost of `yield_now` and of
//!   re-scheduling a yielded task.
//! * `timers_register_cancel_100k`: inside a spawned task (so the timers live on a worker),
//!   create 100,000 `sleep` futures with deadlines scattered between 1 s and 100 s ahead,
//!   poll each once so it is registered with the timer driver, then drop them all. Measures
//!   timer registration plus cancellation.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p ringtide-bench --bench runtime
//! RINGTIDE_BENCH_WORKERS=4 cargo bench -p ringtide-bench --bench runtime
//! cargo bench -p ringtide-bench --bench runtime -- yield_pingpong
//! ```
//!
//! `spawn_join_1m` sets its own measurement time (10 s, 10 flat samples), which takes
//! precedence over `--measurement-time` on the command line.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

const DEFAULT_WORKERS: usize = 2;
const SPAWN_TASKS: usize = 1_000_000;
const ROUND_TRIPS: usize = 10_000;
const TIMERS: usize = 100_000;

fn worker_threads() -> usize {
    std::env::var("RINGTIDE_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_WORKERS)
}

fn ringtide_runtime(workers: usize) -> ringtide::Runtime {
    ringtide::Builder::new()
        .worker_threads(workers)
        .pin_workers(false)
        .build()
        .expect("failed to build ringtide runtime")
}

fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("failed to build tokio runtime")
}

fn task_value(i: usize) -> u64 {
    (i % 16) as u64
}

fn expected_spawn_sum() -> u64 {
    (0..SPAWN_TASKS).map(task_value).sum()
}

/// A group of 1,000,000-task spawn benchmarks: ten samples of about a second each.
fn spawn_group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(SPAWN_TASKS as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    group
}

fn spawn_join_1m(c: &mut Criterion) {
    let workers = worker_threads();
    let expected = expected_spawn_sum();

    let mut group = spawn_group(c, "spawn_join_1m");

    {
        let rt = ringtide_runtime(workers);
        group.bench_function("ringtide", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut handles = Vec::with_capacity(SPAWN_TASKS);
                    for i in 0..SPAWN_TASKS {
                        handles.push(ringtide::spawn(async move { task_value(i) }));
                    }
                    let mut sum = 0u64;
                    for handle in handles {
                        sum += handle.await.expect("ringtide task failed");
                    }
                    assert_eq!(sum, expected);
                })
            })
        });
    }

    {
        let rt = tokio_runtime(workers);
        group.bench_function("tokio", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut handles = Vec::with_capacity(SPAWN_TASKS);
                    for i in 0..SPAWN_TASKS {
                        handles.push(tokio::spawn(async move { task_value(i) }));
                    }
                    let mut sum = 0u64;
                    for handle in handles {
                        sum += handle.await.expect("tokio task failed");
                    }
                    assert_eq!(sum, expected);
                })
            })
        });
    }

    group.finish();
}

/// Awaits every handle in order and sums the outputs.
async fn sum_outputs<H, E>(handles: Vec<H>) -> u64
where
    H: std::future::Future<Output = Result<u64, E>>,
    E: std::fmt::Debug,
{
    let mut sum = 0u64;
    for handle in handles {
        sum += handle.await.expect("a task failed");
    }
    sum
}

/// Spawns `SPAWN_TASKS` tasks that finish in their first poll, from a task on a worker,
/// and joins them: with `ringtide::spawn`, `ringtide::spawn_eager` (polled inline, never
/// queued) and `tokio::spawn`.
fn spawn_join_ready_1m(c: &mut Criterion) {
    let workers = worker_threads();
    let expected = expected_spawn_sum();

    let mut group = spawn_group(c, "spawn_join_ready_1m");

    {
        let rt = ringtide_runtime(workers);
        for (name, eager) in [("ringtide", false), ("ringtide_eager", true)] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let sum = rt
                        .block_on(rt.spawn(async move {
                            let mut handles = Vec::with_capacity(SPAWN_TASKS);
                            for i in 0..SPAWN_TASKS {
                                let task = async move { task_value(i) };
                                handles.push(if eager {
                                    ringtide::spawn_eager(task)
                                } else {
                                    ringtide::spawn(task)
                                });
                            }
                            sum_outputs(handles).await
                        }))
                        .expect("the spawning task does not panic");
                    assert_eq!(sum, expected);
                })
            });
        }
    }

    {
        let rt = tokio_runtime(workers);
        group.bench_function("tokio", |b| {
            b.iter(|| {
                let sum = rt
                    .block_on(rt.spawn(async move {
                        let mut handles = Vec::with_capacity(SPAWN_TASKS);
                        for i in 0..SPAWN_TASKS {
                            handles.push(tokio::spawn(async move { task_value(i) }));
                        }
                        sum_outputs(handles).await
                    }))
                    .expect("the spawning task does not panic");
                assert_eq!(sum, expected);
            })
        });
    }

    group.finish();
}

/// One side of the ping-pong: moves the turn counter forward whenever its parity matches
/// `parity`, yielding to the scheduler between unsuccessful checks, until the counter
/// reaches `2 * round_trips`.
async fn pingpong_player<Y, F>(
    turn: Arc<AtomicUsize>,
    parity: usize,
    round_trips: usize,
    yield_now: Y,
) where
    Y: Fn() -> F,
    F: Future<Output = ()>,
{
    let last = 2 * round_trips;
    loop {
        let current = turn.load(Ordering::Acquire);
        if current >= last {
            break;
        }
        if current % 2 == parity {
            turn.store(current + 1, Ordering::Release);
        } else {
            yield_now().await;
        }
    }
}

fn yield_pingpong(c: &mut Criterion) {
    let workers = worker_threads();

    let mut group = c.benchmark_group("yield_pingpong");
    group.throughput(Throughput::Elements(ROUND_TRIPS as u64));

    {
        let rt = ringtide_runtime(workers);
        group.bench_function("ringtide", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let turn = Arc::new(AtomicUsize::new(0));
                    let ping = ringtide::spawn(pingpong_player(
                        Arc::clone(&turn),
                        0,
                        ROUND_TRIPS,
                        ringtide::task::yield_now,
                    ));
                    let pong = ringtide::spawn(pingpong_player(
                        Arc::clone(&turn),
                        1,
                        ROUND_TRIPS,
                        ringtide::task::yield_now,
                    ));
                    ping.await.expect("ringtide ping task failed");
                    pong.await.expect("ringtide pong task failed");
                    assert_eq!(turn.load(Ordering::Acquire), 2 * ROUND_TRIPS);
                })
            })
        });
    }

    {
        let rt = tokio_runtime(workers);
        group.bench_function("tokio", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let turn = Arc::new(AtomicUsize::new(0));
                    let ping = tokio::spawn(pingpong_player(
                        Arc::clone(&turn),
                        0,
                        ROUND_TRIPS,
                        tokio::task::yield_now,
                    ));
                    let pong = tokio::spawn(pingpong_player(
                        Arc::clone(&turn),
                        1,
                        ROUND_TRIPS,
                        tokio::task::yield_now,
                    ));
                    ping.await.expect("tokio ping task failed");
                    pong.await.expect("tokio pong task failed");
                    assert_eq!(turn.load(Ordering::Acquire), 2 * ROUND_TRIPS);
                })
            })
        });
    }

    group.finish();
}

/// Deadline offset for the `i`-th timer: scattered (not monotonic) over [1 s, 100 s).
fn timer_delay(i: usize) -> Duration {
    Duration::from_millis(1_000 + (i as u64).wrapping_mul(7_919) % 99_000)
}

/// Creates `TIMERS` sleep futures, polls each once so it registers with the timer driver,
/// then drops them all. Returns the number of timers that were registered.
async fn register_and_cancel<S, F>(make_sleep: F) -> usize
where
    F: Fn(Duration) -> S,
    S: Future,
{
    let mut sleeps = Vec::with_capacity(TIMERS);
    for i in 0..TIMERS {
        let mut sleep = Box::pin(make_sleep(timer_delay(i)));
        assert!(futures::poll!(sleep.as_mut()).is_pending());
        sleeps.push(sleep);
    }
    let registered = sleeps.len();
    drop(sleeps);
    registered
}

fn timers_register_cancel_100k(c: &mut Criterion) {
    let workers = worker_threads();

    let mut group = c.benchmark_group("timers_register_cancel_100k");
    group.throughput(Throughput::Elements(TIMERS as u64));

    {
        let rt = ringtide_runtime(workers);
        group.bench_function("ringtide", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let registered = ringtide::spawn(register_and_cancel(ringtide::time::sleep))
                        .await
                        .expect("ringtide timer task failed");
                    assert_eq!(registered, TIMERS);
                })
            })
        });
    }

    {
        let rt = tokio_runtime(workers);
        group.bench_function("tokio", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let registered = tokio::spawn(register_and_cancel(tokio::time::sleep))
                        .await
                        .expect("tokio timer task failed");
                    assert_eq!(registered, TIMERS);
                })
            })
        });
    }

    group.finish();
}

criterion_group!(
    benches,
    spawn_join_1m,
    spawn_join_ready_1m,
    yield_pingpong,
    timers_register_cancel_100k
);
criterion_main!(benches);
