//! Streams beyond the basics: a `TcpSocket` set up before it listens, a client that
//! connects by host name, and a connection split into halves that two tasks use at once.
//!
//! ```text
//! cargo run --example streams
//! ```

use std::time::Duration;

use ringtide::net::{TcpSocket, TcpStream};

#[ringtide::main(worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    // A listener with SO_REUSEPORT and a backlog of our choosing.
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseport(true)?;
    socket.bind("127.0.0.1:0".parse().unwrap())?;
    let listener = socket.listen(64)?;
    let port = listener.local_addr()?.port();

    // The server: reads in one task, writes a heartbeat and the echo in another.
    let server = ringtide::spawn(async move {
        let (stream, peer) = listener.accept().await?;
        println!("server: {peer} connected");
        let (reader, writer) = stream.into_split();
        let (lines, to_send) = async_channel::bounded::<Vec<u8>>(8);
        let reading = ringtide::spawn(async move {
            loop {
                let (n, buf) = reader.read(Vec::with_capacity(1024)).await;
                if n? == 0 {
                    return Ok::<_, std::io::Error>(());
                }
                if lines.send(buf).await.is_err() {
                    return Ok(());
                }
            }
        });
        while let Ok(buf) = to_send.recv().await {
            let (res, _) = writer.write_all(buf).await;
            res?;
        }
        reading.await.expect("the reader does not panic")?;
        Ok::<_, std::io::Error>(())
        // Dropping `writer` here shuts the write side: the client reads the end.
    });

    // "localhost" is looked up on a blocking thread, not on a worker.
    let client = TcpStream::connect(("localhost", port)).await?;
    for word in ["split", "halves", "reunite"] {
        let (res, _) = client.write_all(word.as_bytes().to_vec()).await;
        res?;
        let (n, buf) = client.read(vec![0; 64]).await;
        println!(
            "client: echoed {:?}",
            std::str::from_utf8(&buf[..n?]).unwrap()
        );
        ringtide::time::sleep(Duration::from_millis(10)).await;
    }
    client.shutdown(std::net::Shutdown::Write)?;
    let (n, _) = client.read(vec![0; 64]).await;
    assert_eq!(n?, 0, "the server closed after the client did");
    server.await.expect("the server does not panic")
}
