//! TCP through the ring: echo correctness, resets, half-closes, backpressure, requests
//! that move between workers, and I/O from `block_on`.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringtide::net::{TcpListener, TcpStream};
use support::{echo, env_usize, pattern, rt_test, used_buffer, Rng};

/// Starts an echo server on the runtime; returns its address.
fn serve_echo(rt: &ringtide::Runtime) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Detached: the server lives as long as the runtime.
    drop(rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            drop(ringtide::spawn(async move {
                let _ = echo(stream).await;
            }));
        }
    }));
    addr
}

/// Sends `len` pattern bytes for `conn` in random chunks while reading the echo back;
/// returns whether every byte came back in order.
async fn check_echo(addr: SocketAddr, conn: u64, len: usize) -> io::Result<bool> {
    let stream = Arc::new(TcpStream::connect(addr).await?);
    stream.set_nodelay(true)?;
    let data = pattern(conn, len);
    let writer = {
        let stream = stream.clone();
        let data = data.clone();
        ringtide::spawn(async move {
            let mut rng = Rng::new(conn);
            let mut sent = 0;
            while sent < data.len() {
                let chunk = (1 + rng.below(4096) as usize).min(data.len() - sent);
                let (res, _) = stream.write_all(data[sent..sent + chunk].to_vec()).await;
                res?;
                sent += chunk;
            }
            stream.shutdown(Shutdown::Write)
        })
    };
    let mut received = Vec::with_capacity(len);
    let mut buf = Vec::with_capacity(8192);
    loop {
        buf.clear();
        let (n, back) = stream.read(buf).await;
        buf = back;
        if n? == 0 {
            break;
        }
        received.extend_from_slice(&buf);
    }
    writer.await.unwrap()?;
    Ok(received == data)
}

rt_test! {
    fn echo_is_byte_exact_for_a_thousand_concurrent_connections(rt) {
        let conns = env_usize("RINGTIDE_ECHO_CONNECTIONS", 1000) as u64;
        let addr = serve_echo(&rt);
        let ok = rt.block_on(async move {
            let clients: Vec<_> = (0..conns)
                .map(|conn| {
                    let len = 1 + (conn as usize * 7919) % 40_000;
                    ringtide::spawn(check_echo(addr, conn, len))
                })
                .collect();
            let mut ok = 0;
            for client in clients {
                if client.await.unwrap().unwrap() {
                    ok += 1;
                }
            }
            ok
        });
        assert_eq!(ok, conns);
    }

    fn half_close_gets_pending_data_then_end_of_stream(rt) {
        let addr = serve_echo(&rt);
        // A blocking std client: write, shut down the write side, read to the end.
        let data = pattern(7, 200_000);
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let writer = {
            let mut client = client.try_clone().unwrap();
            let data = data.clone();
            std::thread::spawn(move || {
                client.write_all(&data).unwrap();
                client.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == data, "echoed {} of {} bytes", back.len(), data.len());
    }

    fn a_peer_reset_mid_message_ends_only_that_connection(rt) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let results = rt.spawn(async move {
            let mut results = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                results.push(echo(stream).await);
            }
            results
        });
        // First client: half a message, then a reset (SO_LINGER 0) without reading.
        let reset = std::net::TcpStream::connect(addr).unwrap();
        socket_linger_zero(&reset);
        (&reset).write_all(&[1; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        drop(reset);
        // Second client: a normal exchange on the same server.
        let mut ok = std::net::TcpStream::connect(addr).unwrap();
        ok.write_all(b"still here").unwrap();
        ok.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        ok.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"still here");
        let results = rt.block_on(results).unwrap();
        // The reset connection ends in an error or an early end of stream, never a panic
        // or SIGPIPE; the other one echoes everything.
        match &results[0] {
            Ok(n) => assert!(*n <= 1000),
            Err(e) => assert!(
                matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe),
                "unexpected error {e}"
            ),
        }
        assert_eq!(results[1].as_ref().unwrap(), &10);
    }

    fn a_client_that_never_reads_is_held_back_by_the_server(rt) {
        let addr = serve_echo(&rt);
        let client = std::net::TcpStream::connect(addr).unwrap();
        client.set_nonblocking(true).unwrap();
        // Push for a while without reading. The server echoes into its send buffer, our
        // receive buffer fills, its write then waits, it stops reading, and our writes
        // start failing with WouldBlock: what we could send is bounded by the socket
        // buffers, not by how long we push.
        let chunk = vec![0x5a; 64 * 1024];
        let mut pushed = 0usize;
        let mut blocked_since = None;
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < give_up {
            match (&client).write(&chunk) {
                Ok(n) => {
                    pushed += n;
                    blocked_since = None;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let since = *blocked_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > Duration::from_millis(300) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("write failed: {e}"),
            }
        }
        assert!(blocked_since.is_some(), "writes never blocked after {pushed} bytes");
        assert!(pushed < 256 << 20, "the server took {pushed} bytes without backpressure");
        // Reading now lets everything through: nothing was lost while held back.
        client.set_nonblocking(false).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        (&client).read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), pushed);
        assert!(back.iter().all(|&b| b == 0x5a));
    }

    fn a_request_completes_and_cancels_on_another_worker(rt) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(async move { listener.accept().await.unwrap().0 });
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        let stream = Arc::new(rt.block_on(server).unwrap());
        // Submit a read on one task, then finish it on another (which may run on any
        // worker): the completion arrives on the first ring and wakes the second task.
        let read = submitted_read(&rt, &stream);
        let done = rt.spawn(read);
        peer.write_all(b"moved").unwrap();
        let (n, buf) = rt.block_on(done).unwrap();
        assert_eq!(&buf[..n.unwrap()], b"moved");
        // The same for a cancellation: the read is dropped by another task.
        let read = submitted_read(&rt, &stream);
        rt.block_on(rt.spawn(async move { drop(read) })).unwrap();
        // The socket still works afterwards. The cancellation reaches the kernel a moment
        // after the drop, and a receive the kernel was already completing may still take
        // the next bytes with it (they are lost with the cancelled read): so send until a
        // new read gets them, a bounded number of times.
        let s = stream.clone();
        let got = rt.block_on(rt.spawn(async move {
            for _ in 0..10 {
                peer.write_all(b"after").unwrap();
                let read = s.read(vec![0u8; 16]);
                if let Ok((n, buf)) = ringtide::time::timeout(Duration::from_secs(1), read).await {
                    return buf[..n.unwrap()].to_vec();
                }
            }
            panic!("no read got the bytes sent after the cancellation");
        }));
        assert_eq!(got.unwrap(), b"after");
    }

    fn io_runs_from_block_on_too(rt) {
        let addr = serve_echo(&rt);
        let back = rt.block_on(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (res, _) = stream.write_all(&b"from block_on"[..]).await;
            res.unwrap();
            // Dropping a pending read in block_on cancels it on the worker's ring.
            let pending = ringtide::time::timeout(Duration::from_millis(1), async {
                std::future::pending::<()>().await
            });
            let _ = pending.await;
            let (n, buf) = stream.read(vec![0u8; 64]).await;
            buf[..n.unwrap()].to_vec()
        });
        assert_eq!(back, b"from block_on");
    }

    fn a_busy_worker_still_completes_io(rt) {
        // The workers never run out of tasks, so they never park, and nothing else is
        // submitted while the reads wait: completions must still be reaped.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = rt.block_on(listener.accept()).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..rt.worker_threads())
            .map(|_| {
                let done = done.clone();
                rt.spawn(async move {
                    while !done.load(Ordering::Acquire) {
                        ringtide::task::yield_now().await;
                    }
                })
            })
            .collect();
        let d = done.clone();
        let reader = rt.spawn(async move {
            // Until all three writes are in: a reader delayed past a write's gap gets two
            // of them in one read.
            let mut got = 0;
            while got < 3 * b"tick".len() {
                let (n, _) = stream.read(vec![0u8; 64]).await;
                let n = n.unwrap();
                assert!(n > 0, "the peer closed early");
                got += n;
            }
            d.store(true, Ordering::Release);
            got
        });
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(20));
            peer.write_all(b"tick").unwrap();
            peer.flush().unwrap();
        }
        assert_eq!(rt.block_on(reader).unwrap(), 3 * b"tick".len());
        for s in spinners {
            rt.block_on(s).unwrap();
        }
    }

    fn connecting_to_a_closed_port_fails_cleanly(rt) {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = rt.block_on(TcpStream::connect(addr)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    fn many_tasks_share_connections_across_workers(rt) {
        // Tasks yield between requests so that the scheduler moves them around.
        let addr = serve_echo(&rt);
        let count = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64u64)
            .map(|conn| {
                let count = count.clone();
                rt.spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    for round in 0..50u64 {
                        let msg = pattern(conn * 1000 + round, 100);
                        let (res, _) = stream.write_all(msg.clone()).await;
                        res.unwrap();
                        ringtide::task::yield_now().await;
                        let mut got = Vec::new();
                        while got.len() < msg.len() {
                            let (n, buf) = stream.read(vec![0u8; 100 - got.len()]).await;
                            got.extend_from_slice(&buf[..n.unwrap()]);
                        }
                        assert_eq!(got, msg);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        rt.block_on(async move {
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 64 * 50);
    }
}

type PendingRead =
    std::pin::Pin<Box<dyn std::future::Future<Output = (io::Result<usize>, Vec<u8>)> + Send>>;

/// A read of `stream` polled once inside a task (so it is submitted to that task's
/// worker's ring) and handed back still pending: the task returning a future is the point.
#[allow(clippy::async_yields_async)]
fn submitted_read(rt: &ringtide::Runtime, stream: &Arc<TcpStream>) -> PendingRead {
    let stream = stream.clone();
    rt.block_on(rt.spawn(async move {
        let mut read: PendingRead = Box::pin(stream.read(vec![0u8; 16]));
        assert!(futures::poll!(read.as_mut()).is_pending());
        read
    }))
    .unwrap()
}

fn socket_linger_zero(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a valid `linger` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

#[test]
fn io_outside_a_runtime_is_an_error_not_a_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = futures::executor::block_on(listener.accept()).unwrap_err();
    assert!(
        err.to_string().contains("outside a ringtide runtime"),
        "{err}"
    );
}

#[test]
fn reading_after_the_peer_resets_reports_the_reset() {
    let rt = support::one_worker();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let (stream, _) = rt.block_on(listener.accept()).unwrap();
    socket_linger_zero(&client);
    drop(client);
    let (res, _) = rt.block_on(stream.read(vec![0u8; 8]));
    assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    // Writing to it gives an error (EPIPE or ECONNRESET), not SIGPIPE.
    let (res, _) = rt.block_on(stream.write_all(vec![0u8; 1 << 20]));
    assert!(res.is_err());
}

#[test]
fn a_read_leaves_exactly_the_bytes_read_in_a_vec() {
    let rt = support::one_worker();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = rt.block_on(listener.accept()).unwrap();

    // Shorter than what the Vec held: the old bytes do not stay behind.
    peer.write_all(b"hi").unwrap();
    let (n, buf) = rt.block_on(stream.read(used_buffer()));
    assert_eq!((n.unwrap(), &buf[..]), (2, &b"hi"[..]));

    // Longer than its length: filled up to the capacity, from the start.
    peer.write_all(b"0123456789").unwrap();
    let (n, buf) = rt.block_on(stream.read(used_buffer()));
    assert_eq!((n.unwrap(), &buf[..]), (10, &b"0123456789"[..]));

    // Reused without clearing, it holds only the last read.
    peer.write_all(b"xyz").unwrap();
    let (n, buf) = rt.block_on(stream.read(buf));
    assert_eq!((n.unwrap(), &buf[..]), (3, &b"xyz"[..]));

    // A full `vec![0; N]` still reads N bytes, not 0 (which would mean end of stream).
    peer.write_all(b"12345678").unwrap();
    let (n, buf) = rt.block_on(stream.read(vec![0u8; 8]));
    assert_eq!((n.unwrap(), &buf[..]), (8, &b"12345678"[..]));

    // A boxed slice keeps its length; the data is at its start.
    peer.write_all(b"ok").unwrap();
    let boxed: Box<[u8]> = vec![b'.'; 4].into_boxed_slice();
    let (n, buf) = rt.block_on(stream.read(boxed));
    assert_eq!((n.unwrap(), &buf[..]), (2, &b"ok.."[..]));

    // End of stream reads 0 and leaves the Vec empty.
    drop(peer);
    let (n, buf) = rt.block_on(stream.read(used_buffer()));
    assert_eq!((n.unwrap(), buf.len()), (0, 0));
}
