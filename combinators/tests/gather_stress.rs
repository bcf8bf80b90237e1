//! gather's wakers under threads: children hand clones of their wakers to other threads,
//! which wake them (by value, by reference, through more clones) while the gather is
//! polled, after it completed, and after it was dropped half-way, and drop the last
//! clones whenever they like. Every run checks the outputs and that each child was
//! dropped exactly once; under valgrind or Miri it also checks that no waker touches
//! freed memory and that the last one frees the gather's allocation.
//!
//! `RINGTIDE_GATHER_STRESS=<rounds>` raises the number of gathers (default 200). Under
//! valgrind (`.ci/run`'s runner line):
//! `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="valgrind --error-exitcode=1
//! --leak-check=full --errors-for-leak-kinds=definite" cargo test -p ringtide-combinators
//! --test gather_stress`.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use common::{Counted, Counters};
use futures::executor::block_on;
use ringtide_combinators::gather;

/// How many gathers each test runs.
fn rounds() -> usize {
    std::env::var("RINGTIDE_GATHER_STRESS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if cfg!(miri) { 12 } else { 200 })
}

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound
    }
}

/// Threads that receive wakers and wake each of them at least once, in different ways;
/// some clones they keep for a while and drop without waking, possibly long after the
/// gather they belong to is gone.
struct Wakers {
    sender: Sender<Waker>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Wakers {
    fn start(count: u64) -> Wakers {
        let (sender, receiver) = mpsc::channel::<Waker>();
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        let threads = (0..count)
            .map(|seed| {
                let receiver = receiver.clone();
                thread::spawn(move || wake_all(&receiver, Rng(seed * 7919 + 1)))
            })
            .collect();
        Wakers { sender, threads }
    }

    /// Waits until every child that could send a waker is gone, and every thread has
    /// dropped what it kept.
    fn finish(self) {
        drop(self.sender);
        for thread in self.threads {
            thread.join().expect("a waker thread panicked");
        }
    }
}

fn wake_all(receiver: &std::sync::Mutex<Receiver<Waker>>, mut rng: Rng) {
    let mut kept: Vec<Waker> = Vec::new();
    loop {
        let received = receiver.lock().unwrap().recv();
        let Ok(waker) = received else {
            break;
        };
        match rng.below(5) {
            0 => waker.wake(),
            1 => {
                waker.wake_by_ref();
                drop(waker);
            }
            2 => {
                let clone = waker.clone();
                waker.wake();
                clone.wake_by_ref();
                kept.push(clone);
            }
            3 => {
                // The original goes first, unwoken; its clone wakes.
                let clone = waker.clone();
                drop(waker);
                clone.wake();
            }
            _ => {
                kept.push(waker.clone());
                waker.wake_by_ref();
                kept.push(waker);
            }
        }
        if kept.len() > 16 {
            // Dropped, not woken: the gather these belong to may be gone by now.
            let keep = rng.below(kept.len());
            kept.truncate(keep);
        }
    }
}

/// Pending `bounces` times, handing a clone of its waker to the waker threads each time;
/// then ready with `value`.
struct Bouncer {
    bounces: usize,
    value: usize,
    sender: Sender<Waker>,
}

impl Future for Bouncer {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if self.bounces == 0 {
            return Poll::Ready(self.value);
        }
        self.bounces -= 1;
        // The threads may be gone at the very end of a test; then nobody wakes it.
        let _ = self.sender.send(cx.waker().clone());
        Poll::Pending
    }
}

/// `n` counted bouncers, child `i` ready with `i`, each with `bounces()` bounces.
fn bouncers(
    n: usize,
    counters: &Counters,
    wakers: &Wakers,
    mut bounces: impl FnMut() -> usize,
) -> Vec<Counted<Bouncer>> {
    (0..n)
        .map(|value| {
            counters.wrap(Bouncer {
                bounces: bounces(),
                value,
                sender: wakers.sender.clone(),
            })
        })
        .collect()
}

/// The sizes a round picks from: every bucket of the small path, and the large path.
fn size(rng: &mut Rng) -> usize {
    match rng.below(8) {
        0 => 1 + rng.below(4),
        1..=3 => 5 + rng.below(12),
        4..=6 => 17 + rng.below(48),
        _ => 65 + rng.below(40),
    }
}

/// Runs `body` on another thread and fails if it takes longer than `limit`: a lost
/// wake-up shows as a gather that never completes.
fn within(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => runner.join().unwrap(),
        Err(RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(runner.join().unwrap_err())
        }
        Err(RecvTimeoutError::Timeout) => panic!("a gather never completed: a wake-up was lost"),
    }
}

#[test]
fn gathers_run_to_completion_while_other_threads_wake_their_children() {
    within(Duration::from_secs(300), run_to_completion);
}

fn run_to_completion() {
    let wakers = Wakers::start(2);
    let mut rng = Rng(42);
    for _ in 0..rounds() {
        let n = size(&mut rng);
        let counters = Counters::new();
        let children = bouncers(n, &counters, &wakers, || rng.below(3));
        assert_eq!(block_on(gather(children)), (0..n).collect::<Vec<_>>());
        assert_eq!(counters.drops(), n);
    }
    wakers.finish();
}

/// The awaiting task's waker: counts nothing, wakes nothing.
struct Ignore;

impl Wake for Ignore {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn gathers_dropped_half_way_leave_their_wakers_working() {
    let wakers = Wakers::start(2);
    let mut rng = Rng(7);
    let parent = Waker::from(Arc::new(Ignore));
    for _ in 0..rounds() {
        let n = size(&mut rng);
        let counters = Counters::new();
        let children = bouncers(n, &counters, &wakers, || 1 + rng.below(4));
        let mut gathered = Box::pin(gather(children));
        for _ in 0..rng.below(4) {
            // Polled while the threads wake its children: which are due depends on them.
            let poll = gathered.as_mut().poll(&mut Context::from_waker(&parent));
            if let Poll::Ready(outputs) = poll {
                assert_eq!(outputs, (0..n).collect::<Vec<_>>());
                break;
            }
            thread::yield_now();
        }
        drop(gathered);
        assert_eq!(counters.drops(), n);
    }
    wakers.finish();
}
