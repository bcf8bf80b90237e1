//! `#[ringtide::main]`: the runtime set up by an attribute instead of by hand. A server
//! task upper-cases what a client sends it over loopback, on a two-worker runtime.
//!
//! Run it with `cargo run --release --example main_macro`.

use std::io;

use ringtide::net::{TcpListener, TcpStream};

#[ringtide::main(worker_threads = 2)]
async fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("upper-casing server on {addr}");

    let server = ringtide::spawn(async move {
        let (stream, peer) = listener.accept().await?;
        let (read, buf) = stream.read(vec![0u8; 1024]).await;
        let text = &buf[..read?];
        println!("server: {} bytes from {peer}", text.len());
        let (written, _) = stream.write_all(text.to_ascii_uppercase()).await;
        written
    });

    let client = TcpStream::connect(addr).await?;
    let (sent, _) = client.write_all(b"hello from a macro".to_vec()).await;
    sent?;
    let (read, reply) = client.read(vec![0u8; 1024]).await;
    let reply = String::from_utf8_lossy(&reply[..read?]).into_owned();
    println!("client: got {reply:?}");

    server.await.expect("server task panicked")?;
    assert_eq!(reply, "HELLO FROM A MACRO");
    Ok(())
}
