//! A Unix-socket echo server and its client in one program.
//!
//! The server binds a socket file in the temp dir, echoes each connection until the
//! client closes its write side, and stops after one client. The client sends a few
//! messages, reads each echo back, checks who the server is (`peer_cred`), then closes.
//! The socket file is removed at the end: Unix sockets leave their file behind, and a
//! later bind to the same path would fail.
//!
//! Run it with `cargo run --release --example unix_echo` (`RINGTIDE_DRIVER=epoll` for the
//! readiness driver).

use std::io;
use std::net::Shutdown;
use std::path::{Path, PathBuf};

use ringtide::net::{UnixListener, UnixStream};

const MESSAGES: [&str; 3] = ["hello", "over a Unix socket", "goodbye"];

/// Accepts one connection and echoes it until the client closes its side.
async fn serve(listener: UnixListener) -> io::Result<usize> {
    let (stream, _peer) = listener.accept().await?;
    let cred = stream.peer_cred()?;
    println!("server: client pid {:?}, uid {}", cred.pid(), cred.uid());
    let mut buf = Vec::with_capacity(4096);
    let mut echoed = 0;
    loop {
        let (n, back) = stream.read(buf).await;
        let n = n?;
        if n == 0 {
            return Ok(echoed);
        }
        let (res, back) = stream.write_all(back).await;
        res?;
        buf = back;
        echoed += n;
    }
}

/// Sends each message and reads its echo back.
async fn client(path: &Path) -> io::Result<()> {
    let stream = UnixStream::connect(path).await?;
    for message in MESSAGES {
        let (res, _) = stream.write_all(message.as_bytes()).await;
        res?;
        let mut echo = Vec::new();
        while echo.len() < message.len() {
            let (n, buf) = stream.read(vec![0; 4096]).await;
            match n? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => echo.extend_from_slice(&buf[..n]),
            }
        }
        println!(
            "client: sent {message:?}, got {:?}",
            String::from_utf8_lossy(&echo)
        );
    }
    stream.shutdown(Shutdown::Write)
}

fn main() -> io::Result<()> {
    let path: PathBuf =
        std::env::temp_dir().join(format!("ringtide-unix-echo-{}.sock", std::process::id()));
    let rt = ringtide::Runtime::new()?;
    let result = rt.block_on(async {
        let listener = UnixListener::bind(&path)?;
        println!("server: listening on {}", path.display());
        let server = ringtide::spawn(serve(listener));
        client(&path).await?;
        let echoed = server.await.expect("the server task does not panic")?;
        println!("server: echoed {echoed} bytes");
        Ok(())
    });
    // Whether or not the echo went well: the file would block the next bind.
    let _ = std::fs::remove_file(&path);
    result
}
