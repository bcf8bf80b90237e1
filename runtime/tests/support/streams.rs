//! Checks that any byte stream passes, whatever its socket family: the poll-style
//! traits end to end, and a buffer that counts its drops for cancellation tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use ringtide::buf::{IoBuf, IoBufMut};

use super::pattern;

const MIB: usize = 1 << 20;

/// A 2-worker runtime on each driver, so that a test body runs on both every time.
pub fn both_drivers() -> Vec<ringtide::Runtime> {
    [ringtide::Driver::IoUring, ringtide::Driver::Epoll]
        .into_iter()
        .map(|driver| {
            ringtide::Builder::new()
                .worker_threads(2)
                .pin_workers(false)
                .driver(driver)
                .build()
                .expect("runtime")
        })
        .collect()
}

/// 1 MiB each way through tokio-util's `LinesCodec` (16,384 lines of 63 characters and
/// a newline), echoed line by line by `server`: every line comes back, in order.
pub async fn lines_codec_round_trips_a_mebibyte<S>(client: S, server: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio_util::codec::{Framed, LinesCodec};
    let echo = ringtide::spawn(async move {
        let mut lines = Framed::new(server, LinesCodec::new());
        while let Some(line) = lines.next().await {
            lines.send(line.unwrap()).await.unwrap();
        }
    });
    let sent: Vec<String> = (0..MIB / 64)
        .map(|i| format!("{i:08}-{}", "x".repeat(54)))
        .collect();
    let (mut sink, mut stream) = Framed::new(client, LinesCodec::new()).split();
    let writer = ringtide::spawn({
        let sent = sent.clone();
        async move {
            for line in sent {
                sink.feed(line).await.unwrap();
            }
            sink.close().await.unwrap();
        }
    });
    let mut received = Vec::with_capacity(sent.len());
    while let Some(line) = stream.next().await {
        received.push(line.unwrap());
    }
    writer.await.unwrap();
    echo.await.unwrap();
    assert_eq!(received, sent);
}

/// 1 MiB written with futures' `write_all` and closed; `server` reads it to the end and
/// sends it back the same way: byte-exact both ways.
pub async fn futures_io_round_trips_a_mebibyte<S>(mut client: S, mut server: S)
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin + Send + 'static,
{
    use futures::{AsyncReadExt, AsyncWriteExt};
    let data = pattern(7, MIB);
    let reply = ringtide::spawn(async move {
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        AsyncWriteExt::write_all(&mut server, &got).await.unwrap();
        server.close().await.unwrap();
        got.len()
    });
    AsyncWriteExt::write_all(&mut client, &data).await.unwrap();
    client.close().await.unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    assert_eq!(reply.await.unwrap(), MIB);
    assert!(back == data, "the echo differs from what was sent");
}

/// A buffer that counts its drops, to prove the runtime releases each exactly once.
pub struct CountedBuf {
    pub bytes: Vec<u8>,
    pub drops: Arc<AtomicUsize>,
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: delegates to the Vec, whose heap bytes do not move with the struct.
unsafe impl IoBuf for CountedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.bytes_total()
    }
}

// SAFETY: as above.
unsafe impl IoBufMut for CountedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.bytes.set_init(pos) }
    }
}
