//! `spawn_blocking`: results and panics through the `JoinHandle`, the pool's bound, its
//! FIFO queue and keep-alive, aborting, the runtime context inside a job, and shutdown.

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ringtide::task::spawn_blocking;
use ringtide::time::sleep;
use ringtide::Handle;
use support::panic_message;

/// Longest any wait in these tests may take before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(30);

fn builder(max_blocking_threads: usize) -> ringtide::Builder {
    let mut builder = ringtide::Builder::new();
    builder
        .worker_threads(2)
        .pin_workers(false)
        .max_blocking_threads(max_blocking_threads);
    builder
}

fn runtime(max_blocking_threads: usize) -> ringtide::Runtime {
    builder(max_blocking_threads)
        .build()
        .expect("io_uring runtime with 2 workers")
}

/// Where jobs wait until the test lets them go.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    /// Waits for the gate to open; panics after `LIMIT` (the job then fails instead of
    /// hanging the test).
    fn wait(&self) {
        let (open, cond) = &*self.0;
        let (open, timeout) = cond
            .wait_timeout_while(open.lock().unwrap(), LIMIT, |open| !*open)
            .unwrap();
        assert!(*open && !timeout.timed_out(), "the gate never opened");
    }
}

/// Polls `cond` every millisecond until it holds; `false` if it did not within `LIMIT`.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < LIMIT {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Drops `rt` on another thread and waits for the drop to return, failing after `LIMIT`.
fn drop_within_limit(rt: ringtide::Runtime) {
    let (dropped, wait) = mpsc::channel();
    thread::spawn(move || {
        drop(rt);
        let _ = dropped.send(());
    });
    wait.recv_timeout(LIMIT)
        .expect("dropping the runtime did not return");
}

#[test]
fn ten_thousand_jobs_over_four_threads_all_complete() {
    const JOBS: u64 = 10_000;
    let rt = runtime(4);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let job = |i: u64, threads: &Arc<Mutex<HashSet<String>>>| {
        let threads = threads.clone();
        move || {
            let name = thread::current().name().unwrap_or_default().to_string();
            threads.lock().unwrap().insert(name);
            i * 3
        }
    };
    // Spawned from inside the runtime, awaited in order.
    let run = |range: std::ops::Range<u64>, threads: Arc<Mutex<HashSet<String>>>| async move {
        let jobs: Vec<_> = range.map(|i| spawn_blocking(job(i, &threads))).collect();
        let mut results = Vec::new();
        for job in jobs {
            results.push(job.await.unwrap());
        }
        results
    };
    // Half spawned from a task (on a worker), half from `block_on`'s thread.
    let from_task = rt.block_on(rt.spawn(run(0..JOBS / 2, threads.clone())));
    let from_block_on = rt.block_on(run(JOBS / 2..JOBS, threads.clone()));
    let results: Vec<u64> = from_task
        .unwrap()
        .into_iter()
        .chain(from_block_on)
        .collect();
    let expected: Vec<u64> = (0..JOBS).map(|i| i * 3).collect();
    assert_eq!(results, expected, "every job's own result, in its handle");
    let threads = threads.lock().unwrap();
    assert!(
        (1..=4).contains(&threads.len()),
        "jobs ran on {} threads: {threads:?}",
        threads.len()
    );
    assert!(
        threads
            .iter()
            .all(|name| name.starts_with("ringtide-blocking-")),
        "{threads:?}"
    );
}

#[test]
fn a_panicking_job_comes_back_as_a_join_error_with_its_payload() {
    let rt = runtime(1);
    let err = rt
        .block_on(rt.spawn_blocking(|| -> u32 { panic!("job failed on purpose") }))
        .unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert!(err.to_string().contains("job failed on purpose"), "{err}");
    assert_eq!(
        *err.into_panic().downcast::<&str>().unwrap(),
        "job failed on purpose"
    );
    let code = std::hint::black_box(9);
    let err = rt
        .block_on(rt.spawn_blocking(move || panic!("code {code}")))
        .unwrap_err();
    assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "code 9");
    // The pool's one thread survived both panics and runs the next job.
    let name = rt.block_on(rt.spawn_blocking(|| thread::current().name().map(String::from)));
    assert_eq!(name.unwrap().as_deref(), Some("ringtide-blocking-0"));
}

#[test]
fn the_pool_never_exceeds_its_bound() {
    const BOUND: usize = 3;
    const JOBS: usize = 20;
    let rt = runtime(BOUND);
    let gate = Gate::default();
    let running = Arc::new(AtomicUsize::new(0));
    let high_water = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..JOBS)
        .map(|i| {
            let (gate, running, high_water, started) = (
                gate.clone(),
                running.clone(),
                high_water.clone(),
                started.clone(),
            );
            rt.spawn_blocking(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                high_water.fetch_max(now, Ordering::SeqCst);
                gate.wait();
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })
        })
        .collect();
    assert!(
        eventually(|| running.load(Ordering::SeqCst) == BOUND),
        "the pool never ran {BOUND} jobs at once"
    );
    // Saturated: give a pool that would start more threads the time to do it.
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        started.load(Ordering::SeqCst),
        BOUND,
        "the rest wait queued"
    );
    gate.open();
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(rt.block_on(job).unwrap(), i);
    }
    assert_eq!(started.load(Ordering::SeqCst), JOBS);
    assert_eq!(high_water.load(Ordering::SeqCst), BOUND);
}

#[test]
fn queued_jobs_start_in_the_order_they_were_spawned() {
    let rt = runtime(1);
    let gate = Gate::default();
    let first = rt.spawn_blocking({
        let gate = gate.clone();
        move || gate.wait()
    });
    let order = Arc::new(Mutex::new(Vec::new()));
    let jobs: Vec<_> = (0..100)
        .map(|i| {
            let order = order.clone();
            rt.spawn_blocking(move || order.lock().unwrap().push(i))
        })
        .collect();
    gate.open();
    rt.block_on(first).unwrap();
    for job in jobs {
        rt.block_on(job).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn aborting_a_queued_job_means_it_never_runs() {
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = runtime(1);
    let gate = Gate::default();
    let busy = rt.spawn_blocking({
        let gate = gate.clone();
        move || gate.wait()
    });
    let ran = Arc::new(AtomicBool::new(false));
    let drops = Arc::new(AtomicUsize::new(0));
    let queued = rt.spawn_blocking({
        let ran = ran.clone();
        let guard = CountDrop(drops.clone());
        move || {
            let _guard = guard;
            ran.store(true, Ordering::SeqCst);
        }
    });
    queued.abort();
    gate.open();
    rt.block_on(busy).unwrap();
    let err = rt.block_on(queued).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the closure was dropped");
    // The next job runs on the same thread, after the aborted one's turn.
    assert_eq!(rt.block_on(rt.spawn_blocking(|| 4)).unwrap(), 4);
    assert!(!ran.load(Ordering::SeqCst), "the aborted job ran");
}

#[test]
fn aborting_a_running_job_does_not_interrupt_it() {
    let rt = runtime(2);
    let gate = Gate::default();
    let (started, start) = mpsc::channel();
    let job = rt.spawn_blocking({
        let gate = gate.clone();
        move || {
            started.send(()).unwrap();
            gate.wait();
            "finished"
        }
    });
    start.recv_timeout(LIMIT).unwrap();
    job.abort();
    gate.open();
    assert_eq!(rt.block_on(job).unwrap(), "finished");
}

#[test]
fn the_runtime_context_works_inside_a_job() {
    let rt = runtime(4);
    let (spawned, nested, slept) = rt
        .block_on(rt.spawn_blocking(move || {
            let current = Handle::current();
            let task = ringtide::spawn(async { 7 });
            let spawned = current.block_on(task).unwrap();
            let nested = current.block_on(spawn_blocking(|| 8)).unwrap();
            let slept = current.block_on(async {
                let start = Instant::now();
                sleep(Duration::from_millis(2)).await;
                start.elapsed()
            });
            (spawned, nested, slept)
        }))
        .unwrap();
    assert_eq!((spawned, nested), (7, 8));
    assert!(slept >= Duration::from_millis(2));
}

#[test]
fn spawn_blocking_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| drop(spawn_blocking(|| ()))).unwrap_err();
    let msg = panic_message(&*err);
    assert!(
        msg.contains("spawn_blocking called outside a ringtide runtime"),
        "{msg}"
    );
}

#[test]
fn zero_blocking_threads_is_rejected_at_build() {
    let err = builder(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("max_blocking_threads must be at least 1"),
        "{err}"
    );
}

#[test]
fn dropping_the_runtime_waits_for_a_running_job_and_cancels_queued_ones() {
    let rt = runtime(1);
    let (started, start) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let running = rt.spawn_blocking({
        let finished = finished.clone();
        move || {
            started.send(()).unwrap();
            thread::sleep(Duration::from_millis(100));
            finished.store(true, Ordering::SeqCst);
            "done"
        }
    });
    let ran = Arc::new(AtomicBool::new(false));
    let queued = rt.spawn_blocking({
        let ran = ran.clone();
        move || ran.store(true, Ordering::SeqCst)
    });
    start.recv_timeout(LIMIT).unwrap();
    drop_within_limit(rt);
    assert!(
        finished.load(Ordering::SeqCst),
        "the drop returned before the job"
    );
    assert_eq!(futures::executor::block_on(running).unwrap(), "done");
    assert!(futures::executor::block_on(queued)
        .unwrap_err()
        .is_cancelled());
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued job ran after the drop"
    );
}

/// While the drop waits for a job, the tasks are cancelled, but the timers and I/O still
/// work for the job.
#[test]
fn a_job_running_through_the_drop_keeps_timers_and_io() {
    let rt = runtime(2);
    let (cancelled_tx, cancelled) = mpsc::channel::<()>();
    // Holds the sender until the drop cancels it.
    drop(rt.spawn(async move {
        let _sender = cancelled_tx;
        sleep(Duration::from_secs(3600)).await;
    }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).unwrap();
        stream.write_all(&buf).unwrap();
    });
    let (started, start) = mpsc::channel();
    let job = rt.spawn_blocking(move || {
        started.send(()).unwrap();
        // Returns once the drop has cancelled the task holding the sender.
        assert_eq!(
            cancelled.recv_timeout(LIMIT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        let handle = Handle::current();
        let slept = handle.block_on(async {
            let start = Instant::now();
            sleep(Duration::from_millis(5)).await;
            start.elapsed()
        });
        let echoed = handle.block_on(async {
            let stream = ringtide::net::TcpStream::connect(addr).await?;
            let (res, _) = stream.write_all(b"hello".to_vec()).await;
            res?;
            let mut echoed = Vec::new();
            while echoed.len() < 5 {
                let (n, buf) = stream.read(Vec::with_capacity(5)).await;
                if n? == 0 {
                    break;
                }
                echoed.extend_from_slice(&buf);
            }
            std::io::Result::Ok(echoed)
        });
        let task = handle.block_on(handle.spawn(async { 1 }));
        let nested = handle.block_on(handle.spawn_blocking(|| 2));
        let cancelled =
            |result: Result<i32, ringtide::JoinError>| result.is_err_and(|e| e.is_cancelled());
        (slept, echoed.unwrap(), cancelled(task), cancelled(nested))
    });
    start.recv_timeout(LIMIT).unwrap();
    drop_within_limit(rt);
    // The drop waited for the job: its handle is ready.
    let (slept, echoed, task_cancelled, nested_cancelled) =
        futures::executor::block_on(job).unwrap();
    server.join().unwrap();
    assert!(slept >= Duration::from_millis(5));
    assert_eq!(echoed, b"hello");
    assert!(task_cancelled, "a task spawned during the drop ran");
    assert!(nested_cancelled, "a job spawned during the drop ran");
}

#[test]
fn a_runtime_dropped_in_its_own_job_does_not_wait_for_it() {
    let rt = Arc::new(runtime(1));
    let (dropped, wait) = mpsc::channel();
    let (go, ready) = mpsc::channel::<()>();
    let job_rt = rt.clone();
    drop(rt.spawn_blocking(move || {
        ready.recv_timeout(LIMIT).unwrap();
        // The last reference: the drop cannot wait for this very job.
        drop(job_rt);
        dropped.send(()).unwrap();
    }));
    drop(rt);
    go.send(()).unwrap();
    wait.recv_timeout(LIMIT)
        .expect("a runtime dropped in its own job waited for it");
}

/// Set in the environment of the re-executed child test process.
const CHILD_ENV: &str = "RINGTIDE_TEST_BLOCKING_CHILD";

/// The child prints this once every check passed, for the parent to find.
const MARKER: &str = "pool threads checked";

/// Live threads of this process named as blocking-pool threads (the kernel keeps the
/// first 15 bytes of a name).
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task is readable")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("ringtide-blocki"))
        .count()
}

/// Runs `n` jobs at once (each waits until all have started), so that `n` threads start.
fn saturate(rt: &ringtide::Runtime, n: usize) {
    let started = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let started = started.clone();
            rt.spawn_blocking(move || {
                started.fetch_add(1, Ordering::SeqCst);
                assert!(eventually(|| started.load(Ordering::SeqCst) == n));
            })
        })
        .collect();
    for job in jobs {
        rt.block_on(job).unwrap();
    }
}

fn pool_threads_child() {
    // End the line libtest started ("test ... "), so the marker starts a line.
    println!();
    let rt = builder(4)
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(pool_threads(), 0, "a thread started before the first job");
    saturate(&rt, 4);
    assert_eq!(pool_threads(), 4);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        pool_threads(),
        4,
        "idle threads left before their keep-alive"
    );
    drop(rt);
    assert!(
        eventually(|| pool_threads() == 0),
        "threads outlived the runtime"
    );

    let rt = builder(4)
        .thread_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    saturate(&rt, 4);
    assert!(
        eventually(|| pool_threads() == 0),
        "idle threads never exited"
    );
    // The next job starts a new thread (counted while the job runs on it: once idle,
    // it may exit at any time).
    let (name, threads) = rt
        .block_on(
            rt.spawn_blocking(|| (thread::current().name().map(String::from), pool_threads())),
        )
        .unwrap();
    assert_eq!(name.as_deref(), Some("ringtide-blocking-4"));
    assert_eq!(threads, 1);
    println!("{MARKER}");
}

/// Counts the pool's threads in `/proc`, so it runs alone in a child process: the
/// pools of tests running beside it would be counted too.
#[test]
fn threads_start_on_demand_and_idle_ones_exit_after_the_keep_alive() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return pool_threads_child();
    }
    let run = support::run_test_in_child(
        "threads_start_on_demand_and_idle_ones_exit_after_the_keep_alive",
        CHILD_ENV,
        Duration::from_secs(120),
    );
    assert!(run.passed_with(MARKER, 1), "{}", run.report());
}
