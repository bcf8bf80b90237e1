//! Reads of a file dropped while in flight: before their first poll, right after it
//! (the request queued or in the kernel), by a timeout, and on another thread, while a
//! thread keeps evicting the file from the page cache so that many reads wait for the
//! disk in the kernel's workers when they are cancelled. Afterwards every buffer has
//! been dropped exactly once and the process has the descriptors it started with.
//!
//! `RINGTIDE_FS_DROPPED_READS` sets the number of dropped reads (default 10,000; CI
//! also runs a smaller count under valgrind, and 100,000 by hand). One test per binary,
//! so that no other test opens descriptors while this one counts them.

mod fs_support;
mod support;

use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fs_support::{pattern, TempDir};
use ringtide::fs::File;
use support::{env_usize, fd_count, CountedBuf, PollOnce};

const FILE_SIZE: usize = 8 << 20;

#[test]
fn dropped_reads_free_every_buffer_once() {
    let total = env_usize("RINGTIDE_FS_DROPPED_READS", 10_000);
    let tasks = 16;
    let dir = TempDir::new("fs-cancel");
    let path = dir.join("data");
    std::fs::write(&path, pattern(FILE_SIZE, 4)).unwrap();
    let baseline = fd_count();
    let made = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    {
        // A small blocking pool (the epoll driver reads files there): jobs also wait in
        // its queue when dropped, and valgrind, which caps a process's threads near
        // 500, can follow every thread.
        let rt = ringtide::Builder::new()
            .worker_threads(2)
            .pin_workers(false)
            .max_blocking_threads(32)
            .build()
            .unwrap();
        let file = Arc::new(rt.block_on(File::open(&path)).unwrap());
        // Evicts the file's pages now and then, so that reads miss the cache and wait
        // for the disk in the kernel when they are dropped.
        let evictor = {
            let stop = stop.clone();
            let evict = std::fs::File::open(&path).unwrap();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: advice on a descriptor this thread owns.
                    unsafe {
                        libc::posix_fadvise(evict.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED)
                    };
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let (dropper, dropped) =
            std::sync::mpsc::channel::<Pin<Box<dyn Future<Output = ()> + Send>>>();
        let dropper_thread = std::thread::spawn(move || {
            for fut in dropped {
                drop(fut);
            }
        });
        rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let (file, made, drops, finished, dropper) = (
                        file.clone(),
                        made.clone(),
                        drops.clone(),
                        finished.clone(),
                        dropper.clone(),
                    );
                    ringtide::spawn(async move {
                        for i in 0..total / tasks {
                            let n = t * 1_000_003 + i * 7919;
                            let pos = ((n * 4096) % (FILE_SIZE - 65536)) as u64;
                            made.fetch_add(1, Ordering::Relaxed);
                            // Zeroed, so that memory checkers see defined bytes whether
                            // or not the kernel wrote them.
                            let buf = CountedBuf {
                                bytes: vec![0; 4096 * (1 + n % 16)],
                                drops: drops.clone(),
                            };
                            let read = file.read_at(buf, pos);
                            match n % 4 {
                                0 => drop(read),
                                1 => {
                                    if PollOnce(Some(Box::pin(read))).await.is_ok() {
                                        finished.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                                2 => {
                                    let limit = Duration::from_micros((n % 50) as u64);
                                    if ringtide::time::timeout(limit, read).await.is_ok() {
                                        finished.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                                _ => match PollOnce(Some(Box::pin(read))).await {
                                    Ok(_) => {
                                        finished.fetch_add(1, Ordering::Relaxed);
                                    }
                                    Err(read) => {
                                        dropper.send(Box::pin(async move { drop(read) })).unwrap()
                                    }
                                },
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
        // Some reads are still in flight here: the runtime's drop waits for them.
        drop(dropper);
        drop(file);
        drop(rt);
        dropper_thread.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        evictor.join().unwrap();
    }
    let made = made.load(Ordering::SeqCst);
    eprintln!(
        "{made} reads made, {} finished before they were dropped",
        finished.load(Ordering::SeqCst)
    );
    assert_eq!(made, total / tasks * tasks);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        made,
        "each buffer dropped exactly once"
    );
    assert_eq!(fd_count(), baseline, "the file's descriptor was closed");
}
