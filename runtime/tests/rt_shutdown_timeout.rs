//! `Runtime::shutdown_timeout` and `shutdown_background` with timers, reads and blocking
//! jobs pending; a panic in the runtime's own code stops the process instead of hanging.

mod support;

use std::future::Future;
use std::sync::{mpsc, Mutex, MutexGuard};
use std::task::{Context, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use ringtide::net::{TcpListener, TcpStream};
use ringtide::time::sleep;
use ringtide::{Builder, Driver};
use support::{env_usize, fd_count, raise_nofile, run_test_in_child};

/// The tests of this binary run one at a time: one counts the process's descriptors.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` on a thread of its own and gives back its result, or fails the test if it
/// has not returned after a minute: a hang guard, not a speed check.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} did not return"))
}

/// Thousands of sleeping timers and a thousand reads waiting on silent connections (as
/// many as `RINGTIDE_SHUTDOWN_TIMERS` and `RINGTIDE_SHUTDOWN_READS` say): the shutdown
/// finishes within its timeout, on each driver, and every socket is closed.
#[test]
fn a_shutdown_with_timers_and_reads_pending_finishes_and_closes_everything() {
    let _serial = serial();
    let timers = env_usize("RINGTIDE_SHUTDOWN_TIMERS", 10_000);
    let reads = env_usize("RINGTIDE_SHUTDOWN_READS", 1_000);
    raise_nofile(2 * reads as u64 + 256);
    for driver in [Driver::IoUring, Driver::Epoll] {
        let before = fd_count();
        let rt = Builder::new()
            .worker_threads(2)
            .pin_workers(false)
            .driver(driver)
            .build()
            .unwrap();
        for i in 0..timers {
            drop(rt.spawn(sleep(Duration::from_secs(3600 + i as u64))));
        }
        let clients = rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut clients = Vec::with_capacity(reads);
            for _ in 0..reads {
                clients.push(TcpStream::connect(addr).await.unwrap());
                let (server, _) = listener.accept().await.unwrap();
                // Waits for a byte that never comes.
                drop(ringtide::spawn(async move {
                    let _ = server.read(vec![0u8; 64]).await;
                }));
            }
            clients
        });
        let finished = returns("shutdown_timeout", move || {
            rt.shutdown_timeout(Duration::from_secs(30))
        });
        assert!(
            finished,
            "{driver}: the workers did not finish within the timeout"
        );
        drop(clients);
        // At most as many as before: threads that earlier tests left to finish alone
        // may close theirs meanwhile.
        let after = fd_count();
        assert!(
            after <= before,
            "{driver}: {} descriptors left open",
            after - before
        );
    }
}

/// A blocking job that outlasts the timeout: `shutdown_timeout` gives up on it and says
/// so; the job still runs to its end on its own thread.
#[test]
fn a_shutdown_timeout_leaves_a_long_job_to_finish_alone() {
    let _serial = serial();
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let (started, start) = mpsc::channel();
    let (finished, finish) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    drop(rt.spawn_blocking(move || {
        started.send(()).unwrap();
        let _ = released.recv(); // until the test lets it go
        finished.send(()).unwrap();
    }));
    start.recv().unwrap();
    let done = returns("shutdown_timeout", move || {
        rt.shutdown_timeout(Duration::from_millis(20))
    });
    assert!(
        !done,
        "the job was still running, yet the shutdown said it finished"
    );
    release.send(()).unwrap();
    finish
        .recv_timeout(Duration::from_secs(60))
        .expect("the job ran to its end");
}

/// `shutdown_background` does not wait for a running job.
#[test]
fn a_background_shutdown_returns_while_a_job_runs() {
    let _serial = serial();
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let (started, start) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    drop(rt.spawn(sleep(Duration::from_secs(3600))));
    drop(rt.spawn_blocking(move || {
        started.send(()).unwrap();
        let _ = released.recv();
    }));
    start.recv().unwrap();
    returns("shutdown_background", move || rt.shutdown_background());
    release.send(()).unwrap();
}

fn panicking_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn wake(_: *const ()) {
        panic!("a waker that panics when the runtime wakes it");
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: the vtable's functions ignore the data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// The child half of the test below: a timer whose waker panics when the worker fires
/// it, in the runtime's code rather than a task's.
#[test]
fn child_panics_in_runtime_code() {
    if std::env::var_os("RINGTIDE_CHILD_PANIC").is_none() {
        return;
    }
    let rt = Builder::new().worker_threads(2).build().unwrap();
    rt.block_on(rt.spawn(async {
        let mut timer = Box::pin(sleep(Duration::from_millis(1)));
        let waker = panicking_waker();
        let _ = timer.as_mut().poll(&mut Context::from_waker(&waker));
        std::mem::forget(timer); // stays registered
    }))
    .unwrap();
    std::thread::sleep(Duration::from_secs(30));
    println!("survived");
}

/// A worker that panics outside any task aborts the process with a message saying so,
/// instead of leaving the runtime's drop waiting for it.
#[test]
fn a_panic_in_runtime_code_aborts_with_a_message() {
    let _serial = serial();
    let run = run_test_in_child(
        "child_panics_in_runtime_code",
        "RINGTIDE_CHILD_PANIC",
        Duration::from_secs(60),
    );
    let status = run.status.expect("the child ended by itself");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGABRT),
        "{}",
        run.report()
    );
    assert!(
        run.stderr.contains("panicked in runtime code"),
        "{}",
        run.report()
    );
    assert!(!run.stdout.contains("survived"), "{}", run.report());
}
