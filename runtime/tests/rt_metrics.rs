//! `Runtime::metrics`: the I/O counters follow the requests a worker makes, and a worker
//! enters the kernel at most once per scheduler round.

use std::io::{Read, Write};
use std::time::Duration;

use ringtide::metrics::WorkerMetrics;
use ringtide::net::TcpListener;
use ringtide::Driver;

mod support;

/// Messages of the ping-pong (override with RINGTIDE_TEST_METRICS_MESSAGES).
fn messages() -> usize {
    support::env_usize("RINGTIDE_TEST_METRICS_MESSAGES", 100)
}

/// How long the client waits before each message: long enough that the server's read
/// is always waiting for it, so every message costs the server the same rounds however
/// fast either side runs.
const PAUSE: Duration = Duration::from_millis(1);

/// Echoes `messages` messages of 64 bytes between a blocking client thread and one task
/// on a one-worker runtime on `driver`; returns the driver that ran and what the worker
/// counted over the exchange (the connection's setup excluded).
fn ping_pong(driver: Driver, messages: usize) -> (Driver, WorkerMetrics) {
    let rt = ringtide::Builder::new()
        .worker_threads(1)
        .pin_workers(false)
        .driver(driver)
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut buf = Vec::with_capacity(64);
        loop {
            buf.clear();
            let (read, back) = stream.read(buf).await;
            let n = read?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            let (written, back) = stream.write_all(back).await;
            written?;
            buf = back;
        }
    });
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // One exchange first, so that the accept and the first waits are behind us.
    let mut echo = |round: usize| {
        std::thread::sleep(PAUSE);
        let message = [round as u8; 64];
        client.write_all(&message).unwrap();
        let mut back = [0u8; 64];
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, message);
    };
    echo(0);
    // The worker publishes after each park; the server has just parked or is about to.
    std::thread::sleep(Duration::from_millis(20));
    let before = rt.metrics().total();
    for round in 1..=messages {
        echo(round);
    }
    std::thread::sleep(Duration::from_millis(20));
    let after = rt.metrics();
    assert_eq!(after.num_workers(), 1);
    let counted = after.total().since(&before);
    drop(client);
    rt.block_on(server).unwrap().unwrap();
    (rt.driver(), counted)
}

#[test]
fn counters_follow_a_ping_pong_with_one_enter_per_round() {
    let messages = messages();
    for driver in [Driver::IoUring, Driver::Epoll] {
        let (ran, io) = ping_pong(driver, messages);
        let per_message = |n: u64| n as f64 / messages as f64;
        eprintln!(
            "{ran}: per message: {:.2} enters, {:.2} submitted, {:.2} completions, \
             {:.2} syscalls",
            per_message(io.io_enters),
            per_message(io.io_submitted),
            per_message(io.io_completions),
            per_message(io.io_syscalls)
        );
        let m = messages as u64;
        // Each message is one read and one write, each a request and a completion.
        assert!(io.io_submitted >= 2 * m, "{ran}: {io:?}");
        assert!(io.io_completions >= 2 * m, "{ran}: {io:?}");
        // On epoll each read and each write is a system call of its own; a ring with
        // every opcode makes none besides its enters.
        match ran {
            Driver::Epoll => assert!(io.io_syscalls >= io.io_enters + 2 * m, "{ran}: {io:?}"),
            _ => assert_eq!(io.io_syscalls, io.io_enters, "{ran}: {io:?}"),
        }
        // The worker waits for every message (the client pauses before each), so it
        // enters at least once per message. Per message it runs two rounds on io_uring
        // (one ends with the write submitted, the next with the read waiting), one on
        // epoll (whose write completes inline); submitting without waiting and then
        // parking in the same round would give 3 and 2. A few spare enters for wake-ups
        // the test does not make.
        let most = match ran {
            Driver::Epoll => m,
            _ => 2 * m,
        };
        assert!(io.io_enters >= m, "{ran}: {io:?}");
        assert!(
            io.io_enters <= most + m / 10 + 5,
            "{ran}: {} enters for {m} messages, more than one per round: {io:?}",
            io.io_enters
        );
    }
}

#[test]
fn every_worker_is_reported_and_totals_add_up() {
    for rt in support::runtimes_on_each_driver() {
        // A task, so that a worker wakes to run it and then waits for its timer (a
        // sleep in `block_on` could be fired without a worker waking).
        rt.block_on(rt.spawn(ringtide::time::sleep(Duration::from_millis(2))))
            .unwrap();
        let metrics = rt.metrics();
        assert_eq!(metrics.num_workers(), rt.worker_threads());
        assert_eq!(metrics.driver(), rt.driver());
        assert!(metrics.worker(rt.worker_threads()).is_none());
        let total = metrics.total();
        let workers = metrics.workers();
        assert_eq!(
            total.io_enters,
            workers.iter().map(|w| w.io_enters).sum::<u64>()
        );
        assert_eq!(
            total.io_syscalls,
            workers.iter().map(|w| w.io_syscalls).sum::<u64>()
        );
        // Some worker has waited in the kernel for the timer (a worker still in its
        // first wait has not published it yet).
        assert!(total.io_enters >= 1, "{metrics:?}");
        assert_eq!(total.since(&total), WorkerMetrics::default());
    }
}
