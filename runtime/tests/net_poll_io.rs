//! Poll-style I/O on `TcpStream`: tokio's and futures' traits, codecs over them, and no
//! byte lost or duplicated by a poll abandoned mid-flight. Each test runs on io_uring
//! and on epoll.

mod support;

use std::future::{poll_fn, Future};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringtide::net::TcpStream;
use support::pattern;
use support::runtimes_on_each_driver as runtimes;
use support::streams;
use support::tcp_pair;

#[test]
fn tokio_util_lines_codec_round_trips_a_mebibyte() {
    for rt in runtimes() {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            streams::lines_codec_round_trips_a_mebibyte(client, server).await;
        });
    }
}

#[test]
fn futures_io_read_to_end_and_write_all_are_byte_exact() {
    for rt in runtimes() {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            streams::futures_io_round_trips_a_mebibyte(client, server).await;
        });
    }
}

/// Polls `future` once, then drops it: the shape of a `select!` branch that lost.
fn poll_once<F: Future>(future: F, cx: &mut Context<'_>) -> Poll<F::Output> {
    pin!(future).poll(cx)
}

/// Reads abandoned after one poll, 10,000 times over, while the peer keeps sending:
/// every byte still arrives once and in order.
#[test]
fn a_read_poll_dropped_mid_flight_loses_no_byte() {
    use tokio::io::AsyncReadExt;
    let drops = support::env_usize("RINGTIDE_POLL_DROPS", 10_000);
    for rt in runtimes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sender = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let (mut peer, _) = listener.accept().unwrap();
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let chunk: Vec<u8> = (sent..sent + 700).map(byte_at).collect();
                    peer.write_all(&chunk).unwrap();
                    sent += chunk.len() as u64;
                    std::thread::sleep(Duration::from_micros(20));
                }
                sent // dropping `peer` ends the stream
            }
        });
        let received = rt
            .block_on(rt.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let mut buf = vec![0u8; 4096];
                let (mut received, mut dropped) = (0u64, 0usize);
                loop {
                    if dropped < drops {
                        let read = poll_fn(|cx| {
                            Poll::Ready(poll_once(AsyncReadExt::read(&mut stream, &mut buf), cx))
                        })
                        .await;
                        match read {
                            Poll::Ready(n) => {
                                let n = n.unwrap();
                                check(&buf[..n], received);
                                received += n as u64;
                            }
                            Poll::Pending => {
                                dropped += 1;
                                if dropped == drops {
                                    stop.store(true, Ordering::Relaxed);
                                }
                                ringtide::task::yield_now().await;
                            }
                        }
                    } else {
                        let n = AsyncReadExt::read(&mut stream, &mut buf).await.unwrap();
                        if n == 0 {
                            return received;
                        }
                        check(&buf[..n], received);
                        received += n as u64;
                    }
                }
            }))
            .unwrap();
        assert_eq!(received, sender.join().unwrap());
    }
}

fn byte_at(offset: u64) -> u8 {
    (offset.wrapping_mul(0x9E37_79B9) >> 13) as u8
}

fn check(bytes: &[u8], from: u64) {
    for (i, &b) in bytes.iter().enumerate() {
        let at = from + i as u64;
        assert_eq!(
            b,
            byte_at(at),
            "byte {at} differs: lost, repeated or reordered"
        );
    }
}

/// Writes into a peer that does not read, until the send buffer is full: what
/// `poll_write` reported written is exactly what the peer then reads, and a write that
/// returned `Pending` and was dropped wrote nothing.
#[test]
fn a_write_reported_done_is_on_the_socket() {
    for rt in runtimes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut all = Vec::new();
            peer.read_to_end(&mut all).unwrap();
            all
        });
        let written = rt
            .block_on(rt.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let chunk = pattern(3, 64 * 1024);
                let mut written = Vec::new();
                let mut pending = 0;
                // Until the peer's receive buffer and our send buffer are full.
                while pending < 3 {
                    let polled = stream.poll_write(&mut Context::from_waker(Waker::noop()), &chunk);
                    match polled {
                        Poll::Ready(n) => written.extend_from_slice(&chunk[..n.unwrap()]),
                        Poll::Pending => {
                            pending += 1;
                            ringtide::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                written
            }))
            .unwrap();
        let read = reader.join().unwrap();
        assert!(!written.is_empty());
        assert!(
            read == written,
            "{} read, {} written",
            read.len(),
            written.len()
        );
    }
}

/// Poll-style I/O from `block_on`, where no worker runs the task: the readiness waits
/// go to a worker's driver.
#[test]
fn poll_io_works_from_block_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for rt in runtimes() {
        rt.block_on(async {
            let (mut client, mut server) = tcp_pair().await;
            let echo = ringtide::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    let n = AsyncReadExt::read(&mut server, &mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    AsyncWriteExt::write_all(&mut server, &buf[..n])
                        .await
                        .unwrap();
                }
            });
            for round in 0..200u64 {
                let message = pattern(round, 1 + (round as usize * 37) % 3000);
                AsyncWriteExt::write_all(&mut client, &message)
                    .await
                    .unwrap();
                let mut back = vec![0u8; message.len()];
                client.read_exact(&mut back).await.unwrap();
                assert_eq!(back, message);
            }
            AsyncWriteExt::shutdown(&mut client).await.unwrap();
            echo.await.unwrap();
        });
    }
}

/// Bytes and the end of stream that arrived together, their readiness reported before
/// the first read: a read shorter than its buffer returns the bytes, and the next read
/// the end of stream instead of waiting for an edge that already came. Likewise for a
/// reset behind the bytes.
#[test]
fn a_short_read_before_the_end_of_stream_does_not_wait_for_more() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for rt in runtimes() {
        for reset in [false, true] {
            let outcome = rt.block_on(rt.spawn(async move {
                let (mut client, mut server) = tcp_pair().await;
                AsyncWriteExt::write_all(&mut server, b"last words")
                    .await
                    .unwrap();
                if reset {
                    server.set_linger(Some(Duration::ZERO)).unwrap();
                }
                drop(server);
                // Let the worker's driver take the readiness (data and end together)
                // before the first read.
                ringtide::time::sleep(Duration::from_millis(20)).await;
                let mut buf = [0u8; 4096];
                let first = AsyncReadExt::read(&mut client, &mut buf).await;
                let second = ringtide::time::timeout(
                    Duration::from_secs(10),
                    AsyncReadExt::read(&mut client, &mut buf),
                )
                .await;
                (first.map(|n| buf[..n].to_vec()), second)
            }));
            let (first, second) = outcome.unwrap();
            let second = second.expect("the second read waited for an edge that came before");
            if reset {
                // The reset may discard the bytes; either way the reads end.
                assert!(
                    first.is_err() || second.is_err() || second.as_ref().is_ok_and(|&n| n == 0)
                );
            } else {
                assert_eq!(first.unwrap(), b"last words");
                assert_eq!(second.unwrap(), 0);
            }
        }
    }
}
