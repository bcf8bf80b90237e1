//! A cancellation storm: reads and accepts dropped at random points (before their first
//! poll, right after submission, by a timeout, on another task, while shutting down).
//! Afterwards every buffer has been dropped exactly once and the process has exactly
//! the descriptors it started with.
//!
//! `RINGTIDE_CANCEL_STORM` sets the number of dropped operations (default 100,000; CI
//! also runs a smaller count under valgrind). One test per binary, so that no other test
//! opens descriptors while this one counts them.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringtide::net::{TcpListener, TcpStream};
use support::{env_usize, fd_count, CountedBuf, PollOnce, Rng};

#[derive(Default)]
struct Counters {
    made: AtomicUsize,
    drops: Arc<AtomicUsize>,
    cancelled: AtomicUsize,
    completed: AtomicUsize,
}

impl Counters {
    fn buf(&self) -> CountedBuf {
        self.made.fetch_add(1, Ordering::SeqCst);
        // Zeroed, so that tools that track initialized memory see the bytes as defined
        // whether or not the kernel wrote them.
        CountedBuf {
            bytes: vec![0; 64],
            drops: self.drops.clone(),
        }
    }
}

type Dropped = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Drops one operation at a point chosen by `how` (see `drop_one_local`), or, for
/// `how == 3`, submits it here and hands it to another thread that drops it; counts
/// whether it was cancelled in flight or completed first.
async fn drop_one<F>(
    fut: F,
    how: u64,
    rng: &mut Rng,
    counters: &Counters,
    dropper: &std::sync::mpsc::Sender<Dropped>,
) where
    F: std::future::Future + Send + 'static,
{
    if how < 3 {
        return drop_one_local(fut, how, rng, counters).await;
    }
    let mut fut = Box::pin(fut);
    if PollOnce(Some(fut.as_mut())).await.is_ok() {
        counters.completed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let erased: Dropped = Box::pin(async move {
        let _ = fut.await;
    });
    dropper.send(erased).unwrap();
    counters.cancelled.fetch_add(1, Ordering::Relaxed);
}

async fn connected_pair(listener: &TcpListener, addr: SocketAddr) -> (TcpStream, TcpStream) {
    let connect = ringtide::spawn(TcpStream::connect(addr));
    let (server, _) = listener.accept().await.unwrap();
    (connect.await.unwrap().unwrap(), server)
}

#[test]
fn cancellation_storm_leaks_no_buffer_and_no_descriptor() {
    let total = env_usize("RINGTIDE_CANCEL_STORM", 100_000);
    let tasks = 16usize;
    let baseline = fd_count();
    let counters = Arc::new(Counters::default());
    {
        let rt = ringtide::Builder::new()
            .worker_threads(2)
            .pin_workers(false)
            .build()
            .unwrap();
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();

        // Dropped operations handed to a thread outside the runtime; it drops them
        // there, or a moment later, racing their completions.
        let (dropper, dropped) = std::sync::mpsc::channel();
        let dropper_thread = std::thread::spawn(move || {
            let mut rng = Rng::new(99);
            for fut in dropped {
                if rng.below(2) == 0 {
                    std::thread::sleep(Duration::from_micros(rng.below(20)));
                }
                drop(fut);
            }
        });

        let pairs: Vec<_> = rt.block_on(async {
            let mut pairs = Vec::new();
            for _ in 0..tasks {
                pairs.push(connected_pair(&listener, addr).await);
            }
            pairs
        });
        // Connections arrive now and then, so some accepts complete as they are dropped
        // (their new descriptors must be closed) and some stay queued in the backlog.
        let stop = Arc::new(AtomicBool::new(false));
        let connector = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut made = 0;
                while !stop.load(Ordering::Relaxed) && made < 20_000 {
                    if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                        let _ = s.write_all(b"x");
                        made += 1;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        };
        rt.block_on(async {
            let handles: Vec<_> = pairs
                .into_iter()
                .enumerate()
                .map(|(i, (client, server))| {
                    let counters = counters.clone();
                    let listener = listener.clone();
                    let dropper = dropper.clone();
                    ringtide::spawn(async move {
                        let mut rng = Rng::new(i as u64);
                        for n in 0..total / tasks {
                            let how = rng.below(4);
                            match rng.below(4) {
                                0 => {
                                    let fut = listener.accept();
                                    // `accept` borrows the listener: keep it on this task.
                                    let how = how.min(2);
                                    drop_one_local(fut, how, &mut rng, &counters).await;
                                }
                                1 => {
                                    // Data in flight, so reads race their cancellation.
                                    let (res, _) = client.write(vec![n as u8; 1 + n % 32]).await;
                                    res.unwrap();
                                    let fut = server.read(counters.buf());
                                    drop_one(fut, how, &mut rng, &counters, &dropper).await;
                                }
                                _ => {
                                    let fut = client.read(counters.buf());
                                    drop_one(fut, how, &mut rng, &counters, &dropper).await;
                                }
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });

        // Operations still in flight when the runtime shuts down: a read on a quiet
        // socket and an accept, in tasks that are cancelled by the shutdown.
        let (quiet_client, _quiet_server) = rt.block_on(connected_pair(&listener, addr));
        let quiet_client = Arc::new(quiet_client);
        for _ in 0..8 {
            let c = quiet_client.clone();
            let counters = counters.clone();
            drop(rt.spawn(async move {
                let _ = c.read(counters.buf()).await;
            }));
        }
        let l = listener.clone();
        drop(rt.spawn(async move {
            let _ = l.accept().await;
        }));
        std::thread::sleep(Duration::from_millis(10));
        stop.store(true, Ordering::Relaxed);
        connector.join().unwrap();
        drop(dropper);
        dropper_thread.join().unwrap();
        drop(rt);
    }
    let cancelled = counters.cancelled.load(Ordering::Relaxed);
    let completed = counters.completed.load(Ordering::Relaxed);
    println!("dropped in flight: {cancelled}, completed first: {completed}");
    assert!(
        cancelled >= total / 4,
        "only {cancelled} operations were dropped in flight"
    );
    assert_eq!(
        counters.drops.load(Ordering::SeqCst),
        counters.made.load(Ordering::SeqCst),
        "every buffer is dropped exactly once"
    );
    assert_eq!(fd_count(), baseline, "descriptors leaked");
}

/// Drops one operation: before its first poll (`how == 0`), right after submission,
/// before the ring has seen it (1), or by a timeout of a few microseconds that races its
/// completion (2).
async fn drop_one_local<F: std::future::Future>(
    fut: F,
    how: u64,
    rng: &mut Rng,
    counters: &Counters,
) {
    let mut fut = Box::pin(fut);
    match how {
        0 => drop(fut),
        1 => {
            let counter = match PollOnce(Some(fut.as_mut())).await {
                Ok(_) => &counters.completed,
                Err(_) => &counters.cancelled,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            let d = Duration::from_micros(rng.below(50));
            match ringtide::time::timeout(d, fut).await {
                Ok(_) => counters.completed.fetch_add(1, Ordering::Relaxed),
                Err(_) => counters.cancelled.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}
