//! A runtime whose last reference is dropped inside one of its own tasks, on one of its
//! own workers (an `Arc<Runtime>` captured by a task, after `main` dropped its copy):
//! the drop returns at once instead of hanging on the workers or joining its own thread,
//! and the workers still cancel every task, drain their rings and release every
//! descriptor on their own.
//!
//! The failure this guards against is a hang, so the scenario runs in a child process
//! (this test binary re-executed, filtered down to one test, with `CHILD_ENV` set) that
//! is killed if it runs too long. It is repeated, on 1, 2 and 4 workers and for each way
//! a task can drop the reference, because which worker ends up dropping it is a race.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringtide::net::UdpSocket;
use ringtide::time::sleep;
use support::Probe;

/// Set in the environment of the re-executed child test process.
const CHILD_ENV: &str = "RINGTIDE_TEST_DROP_IN_TASK_CHILD";

/// The child prints this once per round that passed.
const MARKER: &str = "round passed: ";

/// Rounds of the scenario; each takes milliseconds when nothing is wrong.
const ROUNDS: usize = 24;

/// How long one round may wait for anything (the drop, the cancellations, the
/// descriptors), and how long the whole child may run.
const ROUND_LIMIT: Duration = Duration::from_secs(20);
const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// Tasks left idle for the shutdown to cancel, in each round.
const IDLE_TASKS: usize = 8;

/// Where the last reference to the runtime is dropped.
#[derive(Debug, Clone, Copy)]
enum LastDrop {
    /// In the middle of a poll, by the task's own code.
    InPoll,
    /// With the task's future, when it completes.
    WhenTheTaskEnds,
    /// With the task's future, when the task is aborted while idle.
    WhenAborted,
    /// With the task's output, which the worker drops because the handle is gone.
    WithTheOutput,
}

const LAST_DROPS: [LastDrop; 4] = [
    LastDrop::InPoll,
    LastDrop::WhenTheTaskEnds,
    LastDrop::WhenAborted,
    LastDrop::WithTheOutput,
];

/// Holds a reference to the runtime; once its drop has returned, says so.
struct LastRef {
    rt: Option<Arc<ringtide::Runtime>>,
    dropped: mpsc::Sender<()>,
}

impl Drop for LastRef {
    fn drop(&mut self) {
        drop(self.rt.take());
        // Not reached if dropping the runtime panicked.
        let _ = self.dropped.send(());
    }
}

/// Waits, bounded, until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + ROUND_LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn round(workers: usize, last_drop: LastDrop) {
    let fds = support::fd_count();
    let rt = Arc::new(
        ringtide::Builder::new()
            .worker_threads(workers)
            .pin_workers(false)
            .build()
            .expect("a runtime"),
    );
    let probe = Probe::default();
    for _ in 0..IDLE_TASKS {
        drop(rt.spawn(probe.wrap(sleep(Duration::from_secs(3600)))));
    }
    // A receive in flight in a ring, which the shutdown must cancel and wait for.
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
    drop(rt.spawn(probe.wrap(async move {
        let _ = socket.recv(vec![0u8; 64]).await;
    })));

    let (dropped_tx, dropped_rx) = mpsc::channel();
    let last = LastRef {
        rt: Some(rt.clone()),
        dropped: dropped_tx,
    };
    let main_dropped = Arc::new(AtomicBool::new(false));
    let main_has_dropped = {
        let main_dropped = main_dropped.clone();
        // Bounded: a round that never sees it fails on the wait below.
        async move {
            for _ in 0..ROUND_LIMIT.as_millis() {
                if main_dropped.load(Ordering::SeqCst) {
                    return;
                }
                sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let handle = rt.spawn(async move {
        let mut last = Some(last);
        match last_drop {
            LastDrop::InPoll => {
                main_has_dropped.await;
                drop(last.take());
                // Cancelled here: the runtime is shutting down.
                ringtide::task::yield_now().await;
            }
            LastDrop::WhenTheTaskEnds => main_has_dropped.await,
            LastDrop::WhenAborted => std::future::pending::<()>().await,
            LastDrop::WithTheOutput => main_has_dropped.await,
        }
        last
    });
    while probe.polls() < IDLE_TASKS + 1 {
        std::thread::yield_now();
    }
    drop(rt);
    if let LastDrop::WhenAborted = last_drop {
        handle.abort();
    }
    // With the handle gone, the worker drops the output as the task completes.
    drop(handle);
    main_dropped.store(true, Ordering::SeqCst);

    dropped_rx
        .recv_timeout(ROUND_LIMIT)
        .unwrap_or_else(|e| panic!("dropping the runtime on its worker did not return: {e}"));
    wait_until("the shutdown did not cancel every task", || {
        probe.drops() == IDLE_TASKS + 1
    });
    wait_until("the workers did not release every descriptor", || {
        support::fd_count() <= fds
    });
}

fn rounds() {
    // End the line libtest started ("test ... "), so each marker starts a line.
    println!();
    for i in 0..ROUNDS {
        let workers = [2, 1, 4][i % 3];
        let last_drop = LAST_DROPS[i % LAST_DROPS.len()];
        round(workers, last_drop);
        println!("{MARKER}{i}: {workers} workers, {last_drop:?}");
    }
}

#[test]
fn dropping_the_last_reference_on_a_worker_shuts_down_without_hanging() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return rounds();
    }
    let run = support::run_test_in_child(
        "dropping_the_last_reference_on_a_worker_shuts_down_without_hanging",
        CHILD_ENV,
        CHILD_LIMIT,
    );
    assert!(run.passed_with(MARKER, ROUNDS), "{}", run.report());
    // Such as a ring dropped with its eventfd read still in flight, because the eventfd
    // was closed before it.
    assert!(
        !run.stderr.contains("ringtide:"),
        "the runtime reported a problem: {}",
        run.report()
    );
}
