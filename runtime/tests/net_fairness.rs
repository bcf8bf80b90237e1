//! A task whose socket always has data must still let the other tasks of its worker run:
//! on the epoll driver a receive on a ready socket completes without suspending, so only
//! the task's budget makes it yield.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ringtide::net::TcpStream;
use ringtide::Driver;

/// Bytes waiting in the socket before the reader starts: far more than one budget of
/// 16-byte reads.
const PENDING: usize = 64 * 1024;

fn reader_shares_its_worker(driver: Driver) {
    let rt = ringtide::Builder::new()
        .worker_threads(1)
        .pin_workers(false)
        .driver(driver)
        .build()
        .expect("a one-worker runtime");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (written, all_written) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(&vec![7u8; PENDING]).unwrap();
        written.send(()).unwrap();
        peer // keep the connection open until the reader is done
    });
    let read_before_other_ran = rt.block_on(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        // On loopback a write returns once the data is in the receiver's buffer: from
        // here on every read finds the socket ready. (Blocking here holds only the
        // block_on thread, not the worker.)
        all_written.recv().unwrap();
        // Both tasks are spawned from a task on the worker, so both go to its own queue.
        let both = ringtide::spawn(async move {
            let other_ran = Arc::new(AtomicBool::new(false));
            let reader = ringtide::spawn({
                let other_ran = other_ran.clone();
                async move {
                    let mut total = 0;
                    let mut buf = Vec::with_capacity(16);
                    while total < PENDING && !other_ran.load(Ordering::SeqCst) {
                        let (n, back) = stream.read(buf).await;
                        total += n.unwrap();
                        buf = back;
                    }
                    total
                }
            });
            // Spawned after the reader, on the same worker: runs only if the reader yields.
            let other = ringtide::spawn(async move { other_ran.store(true, Ordering::SeqCst) });
            let total = reader.await.unwrap();
            other.await.unwrap();
            total
        });
        both.await.unwrap()
    });
    drop(writer.join().unwrap());
    assert!(
        read_before_other_ran < PENDING,
        "{driver}: the reader took all {PENDING} bytes before the other task ran"
    );
}

#[test]
fn a_reader_that_always_finds_data_yields_on_epoll() {
    if std::env::var_os("RINGTIDE_DRIVER").is_some() {
        // The variable overrides the builder's choice; the other test covers this one.
        return;
    }
    reader_shares_its_worker(Driver::Epoll);
}

#[test]
fn a_reader_that_always_finds_data_yields_on_the_default_driver() {
    reader_shares_its_worker(Driver::Auto);
}
