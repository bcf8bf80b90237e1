//! Helpers shared by the integration tests: futures that count their polls and drops,
//! gates opened by hand, and a poll-by-hand harness.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Counts polls and drops of the futures made by [`Counters::wrap`].
#[derive(Debug, Clone, Default)]
pub struct Counters {
    polls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Counters {
    pub fn new() -> Counters {
        Counters::default()
    }

    pub fn wrap<F: Future>(&self, inner: F) -> Counted<F> {
        Counted {
            inner: Box::pin(inner),
            counters: self.clone(),
        }
    }

    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }
}

/// A future that counts its polls and its drop.
#[derive(Debug)]
pub struct Counted<F> {
    inner: Pin<Box<F>>,
    counters: Counters,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.counters.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

impl<F> Drop for Counted<F> {
    fn drop(&mut self) {
        self.counters.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A gate that futures wait on until it is opened (from any thread).
#[derive(Debug, Clone, Default)]
pub struct Gate {
    state: Arc<Mutex<(bool, Vec<Waker>)>>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    pub fn open(&self) {
        let wakers = {
            let mut state = self.state.lock().unwrap();
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// A future that completes with `value` once the gate is open.
    pub fn pass<T: Unpin>(&self, value: T) -> Pass<T> {
        Pass {
            gate: self.clone(),
            value: Some(value),
        }
    }
}

#[derive(Debug)]
pub struct Pass<T> {
    gate: Gate,
    value: Option<T>,
}

impl<T: Unpin> Future for Pass<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let open = {
            let mut state = self.gate.state.lock().unwrap();
            if !state.0 {
                state.1.push(cx.waker().clone());
            }
            state.0
        };
        if open {
            Poll::Ready(self.value.take().expect("polled after completion"))
        } else {
            Poll::Pending
        }
    }
}

/// Wakes itself on every poll, counting its polls, and never finishes.
pub struct Spinner {
    pub polls: Arc<AtomicUsize>,
}

impl Future for Spinner {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Ready with `output` on its first poll if it has one, pending otherwise; its `Drop`
/// panics after counting itself in `drops`.
pub struct PanicsOnDrop<T> {
    pub drops: Arc<AtomicUsize>,
    pub output: Option<T>,
}

impl<T: Unpin> Future for PanicsOnDrop<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        match self.output.take() {
            Some(output) => Poll::Ready(output),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for PanicsOnDrop<T> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        panic!("drop failed");
    }
}

/// A waker that counts its wake-ups, to poll combinators by hand.
#[derive(Debug, Default)]
pub struct WakeCounter(AtomicUsize);

impl std::task::Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls a future by hand, with a waker that counts wake-ups.
pub struct Harness<F> {
    pub future: Pin<Box<F>>,
    pub wakes: Arc<WakeCounter>,
}

impl<F: Future> Harness<F> {
    pub fn new(future: F) -> Harness<F> {
        Harness {
            future: Box::pin(future),
            wakes: Arc::new(WakeCounter::default()),
        }
    }

    pub fn poll(&mut self) -> Poll<F::Output> {
        let waker = Waker::from(self.wakes.clone());
        self.future.as_mut().poll(&mut Context::from_waker(&waker))
    }

    pub fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }
}

/// A ringtide runtime with two workers (the size of the CI machine).
pub fn runtime() -> ringtide::Runtime {
    ringtide::Builder::new()
        .worker_threads(2)
        .build()
        .expect("io_uring is available to the tests")
}

/// How many children the scaling tests use: `RINGTIDE_COMBINATOR_CHILDREN`, or `default`.
pub fn children(default: usize) -> usize {
    std::env::var("RINGTIDE_COMBINATOR_CHILDREN")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Spawns a task that waits on a gate, hands its `JoinHandle` to `combine`, drops what
/// `combine` made, opens the gate, and checks that the task still ran to the end: a
/// combinator dropped with `JoinHandle` children detaches their tasks.
pub fn assert_dropping_detaches<C>(combine: impl FnOnce(ringtide::JoinHandle<()>) -> C) {
    runtime().block_on(async {
        let gate = Gate::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let task = ringtide::spawn({
            let gate = gate.clone();
            async move {
                gate.pass(()).await;
                tx.send("finished").unwrap();
            }
        });
        drop(combine(task));
        gate.open();
        let finished = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(finished, Ok("finished"));
    });
}

/// Sets a flag when dropped: shows a future was dropped (cancelled).
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Waits inside a ringtide runtime, a bounded while, until `done` holds.
pub async fn until(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        ringtide::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits, as [`until`] does, until `flag` is set.
pub async fn until_set(what: &str, flag: &AtomicBool) {
    until(what, || flag.load(Ordering::SeqCst)).await;
}
