//! Workers that spin before parking (`Builder::spin_before_park`) still run timers,
//! I/O, cross-thread wakes and shutdown as parking workers do.

mod support;

use std::time::Duration;

use ringtide::net::{TcpListener, TcpStream};
use ringtide::time::{sleep, Instant};
use support::echo;

fn spinning(workers: usize) -> ringtide::Runtime {
    ringtide::Builder::new()
        .worker_threads(workers)
        .pin_workers(false)
        .spin_before_park(Duration::from_micros(500))
        .build()
        .unwrap()
}

#[test]
fn spinning_workers_run_timers_io_and_wakes() {
    for workers in [1, 2] {
        let rt = spinning(workers);
        // Timers: never early, while the worker spins rather than waiting in the kernel.
        rt.block_on(async {
            for ms in [0u64, 1, 3] {
                let start = Instant::now();
                sleep(Duration::from_millis(ms)).await;
                assert!(start.elapsed() >= Duration::from_millis(ms));
            }
        });
        // I/O completions reach a spinning worker.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(rt.spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = echo(stream).await;
        }));
        let echoed = rt.block_on(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (res, _) = stream.write_all(&b"spin"[..]).await;
            res.unwrap();
            let (n, buf) = stream.read(vec![0; 8]).await;
            buf[..n.unwrap()].to_vec()
        });
        assert_eq!(echoed, b"spin");
        // A wake from a thread outside the runtime.
        let (tx, rx) = futures::channel::oneshot::channel();
        let waiter = rt.spawn(async move { rx.await.unwrap() });
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(9).unwrap();
        });
        assert_eq!(rt.block_on(waiter).unwrap(), 9);
        // Shutdown ends the spinning.
        drop(rt);
    }
}
