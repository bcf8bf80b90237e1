//! Receive and incoming streams dropped while armed: idle, with received buffers queued
//! and not handed out, on another thread, and with connections accepted and not handed
//! out. Afterwards, while the runtime still runs, the process has exactly the
//! descriptors it had before, and (on io_uring) every buffer is back in its ring.
//!
//! `RINGTIDE_MULTISHOT_CANCEL` sets the number of connections (default 400; CI also runs
//! it under valgrind). One test per binary, so that no other test opens descriptors
//! while this one counts them.

mod support;

use std::time::{Duration, Instant};

use ringtide::net::{RecvStream, TcpListener, TcpStream};
use support::recv::multishot_expected;
use support::{env_usize, fd_count, PollOnce};

/// Arms `stream`'s request: polls `next` once, which must find nothing yet.
async fn arm(stream: &mut RecvStream) {
    let next = Box::pin(stream.next());
    assert!(PollOnce(Some(next)).await.is_err(), "nothing was sent yet");
}

#[test]
fn dropped_armed_streams_release_descriptors_and_buffers() {
    let conns = env_usize("RINGTIDE_MULTISHOT_CANCEL", 400);
    let baseline = fd_count();
    {
        // One worker, so that every request uses the one ring whose buffers are counted
        // at the end; other threads drop streams and buffers too.
        let rt = ringtide::Builder::new()
            .worker_threads(1)
            .pin_workers(false)
            .recv_buffer_size(256)
            .recv_buffers(4, 16)
            .build()
            .unwrap();
        let multishot = multishot_expected(&rt);
        let (to_other_thread, other_thread) = std::sync::mpsc::channel::<RecvStream>();
        let dropper = std::thread::spawn(move || {
            for stream in other_thread {
                drop(stream);
            }
        });
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let running = fd_count();
            let mut keep = Vec::new();
            for i in 0..conns {
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                let mut stream = server.recv_stream();
                match i % 4 {
                    // Armed and idle.
                    0 => {
                        arm(&mut stream).await;
                        drop(stream);
                    }
                    // Data received into ring buffers, not handed out.
                    1 => {
                        arm(&mut stream).await;
                        client.write_all(vec![7u8; 600]).await.0.unwrap();
                        ringtide::time::sleep(Duration::from_micros(300)).await;
                        drop(stream);
                    }
                    // One buffer handed out, more queued; dropped on another thread.
                    2 => {
                        client.write_all(vec![9u8; 900]).await.0.unwrap();
                        let first = stream.next().await.unwrap().unwrap();
                        assert!(first.iter().all(|&b| b == 9));
                        to_other_thread.send(stream).unwrap();
                        drop(first);
                    }
                    // Armed in a task that a timeout ends.
                    _ => {
                        let waited = ringtide::spawn(async move {
                            let next = stream.next();
                            ringtide::time::timeout(Duration::from_micros(200), next)
                                .await
                                .is_err()
                        });
                        assert!(waited.await.unwrap(), "nothing was sent");
                    }
                }
                // The clients stay open: a request that was not cancelled would go on
                // waiting for them, holding its socket.
                keep.push(client);
                drop(server);
            }
            // An incoming stream dropped with connections accepted and not handed out.
            let clients: Vec<_> = (0..32)
                .map(|_| ringtide::spawn(TcpStream::connect(addr)))
                .collect();
            let mut incoming = listener.incoming();
            let first = incoming.next().await.unwrap().unwrap();
            for client in clients {
                keep.push(client.await.unwrap().unwrap());
            }
            ringtide::time::sleep(Duration::from_millis(2)).await;
            drop(incoming);
            drop(first);
            drop(listener);
            // Cancelled while the runtime runs, not only drained by its shutdown: what
            // is left open is the clients, less the listener.
            let expected = running - 1 + keep.len();
            let deadline = Instant::now() + Duration::from_secs(5);
            while fd_count() != expected && Instant::now() < deadline {
                ringtide::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(fd_count(), expected, "descriptors held by dropped streams");
            drop(keep);

            if multishot {
                every_buffer_is_back().await;
            }
        });
        // The sender went with the block_on future: the thread ends.
        dropper.join().unwrap();
        drop(rt);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while fd_count() != baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fd_count(), baseline, "descriptors leaked");
}

/// Holds as many buffers as the ring has, one message each: every one comes from the
/// ring, so none was lost to a dropped stream, and none was lent twice.
async fn every_buffer_is_back() {
    let stats = ringtide::Handle::current().recv_buffer_stats();
    let (client, server) = support::tcp_pair().await;
    let mut stream = server.recv_stream();
    let mut held = Vec::new();
    for i in 0..stats.buffers {
        client.write_all(vec![i as u8; 100]).await.0.unwrap();
        let buf = stream.next().await.unwrap().unwrap();
        assert_eq!(buf.len(), 100);
        assert!(
            buf.is_ring_buffer(),
            "buffer {i} of {} was not in the ring: {stats:?}",
            stats.buffers
        );
        held.push(buf);
    }
    // A buffer given back twice would have been lent twice, its first message
    // overwritten by a later one.
    for (i, buf) in held.iter().enumerate() {
        assert!(
            buf.iter().all(|&b| b == i as u8),
            "buffer {i} was lent again while held"
        );
    }
}
