//! Owned halves of a stream: used from two tasks on any workers, dropped one at a time,
//! put back together; over TCP and Unix sockets, on both drivers.

mod support;

use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use ringtide::net::{TcpStream, UnixStream};
use ringtide::time::timeout;
use support::pattern;
use support::runtimes_on_each_driver as both_drivers;
use support::tcp_pair;

/// Reads `len` bytes with owned buffers.
async fn read_exactly(stream: &TcpStream, len: usize) -> Vec<u8> {
    let mut all = Vec::with_capacity(len);
    while all.len() < len {
        let (n, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        let n = n.unwrap();
        assert!(n > 0, "end of stream after {} of {len} bytes", all.len());
        all.extend_from_slice(&buf[..n]);
    }
    all
}

/// The server's halves in two tasks: one reads and hands each chunk over a channel, the
/// other writes it back. A mebibyte comes back byte-exact.
#[test]
fn halves_in_two_tasks_echo_a_mebibyte() {
    for rt in both_drivers() {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            let (reader, writer) = server.into_split();
            let (chunks, mut to_write) = mpsc::channel::<Vec<u8>>(4);
            let reading = ringtide::spawn(async move {
                let mut chunks = chunks;
                loop {
                    let (n, buf) = reader.read(Vec::with_capacity(16 * 1024)).await;
                    if n.unwrap() == 0 {
                        return reader;
                    }
                    chunks.send(buf).await.unwrap();
                }
            });
            let writing = ringtide::spawn(async move {
                while let Some(chunk) = to_write.next().await {
                    let (res, _) = writer.write_all(chunk).await;
                    res.unwrap();
                }
                writer
            });
            let data = pattern(11, 1 << 20);
            let (res, _) = client.write_all(data.clone()).await;
            res.unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            assert!(read_exactly(&client, data.len()).await == data);
            let reader = reading.await.unwrap();
            let writer = writing.await.unwrap();
            let server = reader.reunite(writer).expect("halves of one stream");
            assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        });
    }
}

/// Dropping the writing half ends the stream for the peer; the reading half goes on
/// reading what the peer sends.
#[test]
fn dropping_the_write_half_while_the_other_reads() {
    for rt in both_drivers() {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            let (reader, writer) = server.into_split();
            let reading = ringtide::spawn(async move {
                let (n, buf) = reader.read(vec![0u8; 64]).await;
                buf[..n.unwrap()].to_vec()
            });
            drop(writer);
            let (n, _) = client.read(vec![0u8; 8]).await;
            assert_eq!(n.unwrap(), 0, "the peer sees the end of the stream");
            let (res, _) = client.write_all(&b"still open"[..]).await;
            res.unwrap();
            assert_eq!(reading.await.unwrap(), b"still open");
        });
    }
}

/// Dropping the reading half leaves the writing half working; `forget` drops the
/// writing half without ending the stream, which closes once both are gone.
#[test]
fn dropping_the_read_half_and_forgetting_the_write_half() {
    for rt in both_drivers() {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            let (reader, writer) = server.into_split();
            drop(reader);
            let (res, _) = writer.write_all(&b"from the writer"[..]).await;
            res.unwrap();
            assert_eq!(read_exactly(&client, 15).await, b"from the writer");

            let (client, server) = tcp_pair().await;
            let (reader, writer) = server.into_split();
            writer.forget();
            let read = timeout(Duration::from_millis(50), client.read(vec![0u8; 8])).await;
            assert!(read.is_err(), "forgetting the write half ended the stream");
            drop(reader);
            let (n, _) = client.read(vec![0u8; 8]).await;
            assert_eq!(n.unwrap(), 0, "the stream closes with its last half");
        });
    }
}

#[test]
fn halves_of_two_streams_do_not_reunite() {
    for rt in both_drivers() {
        rt.block_on(async {
            let (a, _a_peer) = tcp_pair().await;
            let (b, _b_peer) = tcp_pair().await;
            let (a_read, a_write) = a.into_split();
            let (b_read, b_write) = b.into_split();
            let err = a_read.reunite(b_write).unwrap_err();
            assert!(err.to_string().contains("not from the same stream"));
            let (a_read, b_write) = (err.0, err.1);
            assert!(a_read.reunite(a_write).is_ok());
            assert!(b_read.reunite(b_write).is_ok());
        });
    }
}

/// The halves implement tokio's traits: `tokio::io::copy` from one half to the other
/// echoes a Unix socket pair.
#[test]
fn unix_halves_echo_through_tokio_copy() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for rt in both_drivers() {
        rt.block_on(async {
            let (mut client, server) = UnixStream::pair().unwrap();
            let echo = ringtide::spawn(async move {
                let (mut reader, mut writer) = server.into_split();
                tokio::io::copy(&mut reader, &mut writer).await.unwrap()
            });
            let data = pattern(5, 256 * 1024);
            let (mut client_read, mut client_write) = {
                let (r, w) = client.into_split();
                (r, w)
            };
            let sending = ringtide::spawn({
                let data = data.clone();
                async move {
                    AsyncWriteExt::write_all(&mut client_write, &data)
                        .await
                        .unwrap();
                    AsyncWriteExt::shutdown(&mut client_write).await.unwrap();
                    client_write
                }
            });
            let mut back = Vec::new();
            AsyncReadExt::read_to_end(&mut client_read, &mut back)
                .await
                .unwrap();
            assert!(back == data);
            assert_eq!(echo.await.unwrap(), data.len() as u64);
            client = client_read.reunite(sending.await.unwrap()).unwrap();
            drop(client);
        });
    }
}
