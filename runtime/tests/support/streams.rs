//! Checks that any byte stream passes, whatever its socket family: the poll-style
//! traits end to end.

use futures::{SinkExt, StreamExt};

use super::pattern;

const MIB: usize = 1 << 20;

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
