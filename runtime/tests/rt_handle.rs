//! `Handle`: spawning and `block_on` from threads the runtime did not start,
//! `Handle::current`, and what a handle does once its runtime is gone.

mod support;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringtide::net::{TcpListener, TcpStream};
use ringtide::time::sleep;
use ringtide::Handle;
use support::{echo, panic_message, pattern, rt_test};

/// Longest any wait in these tests may take before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `f` on a thread of its own and returns what it returned, or its panic message;
/// fails the test if it takes longer than `LIMIT` (a hang).
fn on_a_thread_within_limit<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (done, wait) = mpsc::channel();
    thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = done.send(result.map_err(|payload| panic_message(&*payload)));
    });
    wait.recv_timeout(LIMIT)
        .expect("the thread did not finish: a hang")
}

/// Connects to `addr`, sends a pattern and reads it back.
async fn round_trip(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    let stream = TcpStream::connect(addr).await?;
    let data = pattern(1, 4096);
    let (res, _) = stream.write_all(data.clone()).await;
    res?;
    let mut received = Vec::new();
    while received.len() < data.len() {
        let (n, buf) = stream.read(Vec::with_capacity(4096)).await;
        if n? == 0 {
            break;
        }
        received.extend_from_slice(&buf);
    }
    Ok(received)
}

rt_test! {
    fn spawn_and_block_on_from_a_thread_the_runtime_did_not_start(rt) {
        let handle = rt.handle();
        let result = on_a_thread_within_limit(move || {
            let task = handle.spawn(async { 6 * 7 });
            let answer = handle.block_on(task).unwrap();
            let (slept, echoed) = handle.block_on(async {
                let start = Instant::now();
                sleep(Duration::from_millis(5)).await;
                let slept = start.elapsed();
                let listener = TcpListener::bind("127.0.0.1:0")?;
                let addr = listener.local_addr()?;
                let server = ringtide::spawn(async move {
                    let (stream, _) = listener.accept().await?;
                    echo(stream).await
                });
                let echoed = round_trip(addr).await?;
                drop(server);
                std::io::Result::Ok((slept, echoed))
            })
            .unwrap();
            (answer, slept, echoed)
        })
        .unwrap();
        let (answer, slept, echoed) = result;
        assert_eq!(answer, 42);
        assert!(slept >= Duration::from_millis(5));
        assert_eq!(echoed, pattern(1, 4096));
    }

    fn current_in_a_task_and_in_block_on_is_that_runtime(rt) {
        let other = support::one_worker();
        let from_block_on = rt.block_on(async { Handle::current() });
        let from_task = rt.block_on(rt.spawn(async { Handle::current() })).unwrap();
        let from_other = other.block_on(async { Handle::current() });
        // Both work while the runtime lives...
        assert_eq!(from_block_on.block_on(from_task.spawn(async { 1 })).unwrap(), 1);
        drop(rt);
        // ...and both reach it, not the other runtime: now they cancel.
        for handle in [from_block_on, from_task] {
            let late = on_a_thread_within_limit(move || {
                futures::executor::block_on(handle.spawn(async { 2 }))
            });
            assert!(late.unwrap().unwrap_err().is_cancelled());
        }
        assert_eq!(other.block_on(from_other.spawn(async { 3 })).unwrap(), 3);
    }

    fn handles_are_cheap_clones_that_work_from_many_threads(rt) {
        let handle = rt.handle();
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let handle = handle.clone();
                thread::spawn(move || handle.block_on(handle.spawn(async move { i * 10 })).unwrap())
            })
            .collect();
        let sum: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(sum, 60);
        assert!(format!("{handle:?}").starts_with("Handle"));
    }
}

#[test]
fn current_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(Handle::current).unwrap_err();
    let msg = panic_message(&*err);
    assert!(msg.starts_with("no ringtide runtime: "), "{msg}");
    assert!(msg.contains("Runtime::handle"), "{msg}");
    let err = Handle::try_current().unwrap_err();
    assert_eq!(err.to_string(), msg);
}

#[test]
fn block_on_through_a_handle_inside_the_runtime_panics() {
    let rt = support::one_worker();
    let handle = rt.handle();
    let err = rt
        .block_on(rt.spawn(async move { handle.block_on(async {}) }))
        .unwrap_err();
    let msg = panic_message(&*err.into_panic());
    assert!(
        msg.contains("Handle::block_on called from inside a ringtide runtime"),
        "{msg}"
    );
}

#[test]
fn spawning_through_a_handle_after_the_runtime_dropped_is_cancelled() {
    let rt = support::one_worker();
    let handle = rt.handle();
    drop(rt);
    let (task, job) = on_a_thread_within_limit(move || {
        let task = futures::executor::block_on(handle.spawn(async { 1 }));
        let job = handle.block_on(handle.spawn_blocking(|| 2));
        (task, job)
    })
    .unwrap();
    assert!(task.unwrap_err().is_cancelled());
    assert!(job.unwrap_err().is_cancelled());
}

#[test]
fn a_timer_through_a_handle_after_the_runtime_dropped_panics() {
    let rt = support::one_worker();
    let handle = rt.handle();
    drop(rt);
    let err = on_a_thread_within_limit(move || {
        handle.block_on(sleep(Duration::from_millis(1)));
    })
    .unwrap_err();
    assert!(err.contains("after its runtime shut down"), "{err}");
}

#[test]
fn a_thread_waiting_on_a_timer_in_block_on_is_woken_when_the_runtime_drops() {
    let rt = support::four_workers();
    let handle = rt.handle();
    let (polled, first_poll) = mpsc::channel();
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle.block_on(async {
                polled.send(()).unwrap();
                sleep(Duration::from_secs(3600)).await;
            })
        }));
        let _ = done.send(outcome.map_err(|payload| panic_message(&*payload)));
    });
    first_poll.recv_timeout(LIMIT).unwrap();
    drop(rt);
    let err = result
        .recv_timeout(LIMIT)
        .expect("block_on still waits on a timer of a runtime that is gone")
        .unwrap_err();
    assert!(err.contains("after its runtime shut down"), "{err}");
}
