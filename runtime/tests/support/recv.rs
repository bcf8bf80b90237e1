//! Echo through receive streams (`TcpStream::recv_stream`) and incoming streams
//! (`TcpListener::incoming`), shared by the multishot tests and their fallback twins.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use ringtide::net::{TcpListener, TcpStream};

/// Message sizes: the edges of a 4 KiB buffer, and 1 B to 64 KiB.
pub const SIZES: [usize; 10] = [1, 2, 100, 1000, 4095, 4096, 4097, 16384, 65535, 65536];

/// The largest message.
pub const MAX_MESSAGE: usize = 65536;

/// Random bytes, 256 longer than the largest message: connection `c`'s messages start
/// at offset `c % 256`, so a byte sent on the wrong connection is noticed.
fn bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| super::pattern(7, MAX_MESSAGE + 256))
}

/// Message `i` of connection `conn`.
pub fn message(conn: usize, i: usize) -> &'static [u8] {
    let len = SIZES[(conn + i * 3) % SIZES.len()];
    let start = conn % 256;
    &bytes()[start..start + len]
}

/// Whether this kernel has multishot receive and accept (6.0+), and nothing turns them
/// off: then an io_uring runtime must use them.
pub fn multishot_expected(rt: &ringtide::Runtime) -> bool {
    if rt.driver() != ringtide::Driver::IoUring
        || std::env::var_os("RINGTIDE_IO_URING_WITHOUT").is_some()
    {
        return false;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    major >= 6
}

/// What a server saw: buffers from the ring (multishot) and from the pool (one-shot).
#[derive(Debug, Default, Clone, Copy)]
pub struct Received {
    pub ring: usize,
    pub pooled: usize,
    pub bytes: usize,
}

impl std::ops::AddAssign for Received {
    fn add_assign(&mut self, other: Received) {
        self.ring += other.ring;
        self.pooled += other.pooled;
        self.bytes += other.bytes;
    }
}

/// Echoes what `stream` receives, from the very buffers the receive stream lends, until
/// the peer closes its side.
pub async fn echo_lent(stream: TcpStream) -> std::io::Result<Received> {
    let mut received = Received::default();
    let mut incoming = stream.recv_stream();
    while let Some(buf) = incoming.next().await {
        let buf = buf?;
        assert!(!buf.is_empty(), "an empty buffer before the end of stream");
        if buf.is_ring_buffer() {
            received.ring += 1;
        } else {
            received.pooled += 1;
        }
        received.bytes += buf.len();
        let (result, _) = stream.write_all(buf).await;
        result?;
    }
    // Closed with a reset once the client has shut its side down: neither end keeps a
    // TIME_WAIT socket, so thousands of connections per test do not use up the
    // ephemeral ports of the other tests that run within the minute.
    stream.set_linger(Some(Duration::ZERO))?;
    Ok(received)
}

/// Sends `messages` messages on a new connection to `addr`, each read back whole and
/// compared byte for byte before the next is sent.
pub async fn echo_client(addr: SocketAddr, conn: usize, messages: usize) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let mut buf = Vec::with_capacity(MAX_MESSAGE);
    for i in 0..messages {
        let sent = message(conn, i);
        let (result, _) = stream.write_all(sent).await;
        result?;
        let mut got = 0;
        while got < sent.len() {
            let (n, back) = stream.read(buf).await;
            buf = back;
            let n = n?;
            assert!(n > 0, "connection {conn}: end of stream after {got} bytes");
            assert!(
                buf[..n] == sent[got..got + n],
                "connection {conn}, message {i}: bytes {got}..{} differ",
                got + n
            );
            got += n;
        }
    }
    // The server sees the end of stream, and resets the connection (see `echo_lent`).
    stream.shutdown(std::net::Shutdown::Write)
}

/// `conns` connections, each sending `messages` messages to an echo server that takes
/// them through `listener.incoming()` and echoes through receive streams. Returns what
/// the server received. Fails the test on any lost, extra or changed byte, or after
/// `limit`.
pub fn run_echo(
    rt: &ringtide::Runtime,
    conns: usize,
    messages: usize,
    limit: Duration,
) -> Received {
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringtide::spawn(async move {
            let mut incoming = listener.incoming();
            let mut echoes = Vec::with_capacity(conns);
            for _ in 0..conns {
                let stream = incoming.next().await.expect("never ends").expect("accept");
                echoes.push(ringtide::spawn(echo_lent(stream)));
            }
            let mut total = Received::default();
            for echo in echoes {
                total += echo.await.unwrap().expect("echo");
            }
            total
        });
        let clients: Vec<_> = (0..conns)
            .map(|conn| ringtide::spawn(echo_client(addr, conn, messages)))
            .collect();
        let run = async move {
            for (conn, client) in clients.into_iter().enumerate() {
                if let Err(e) = client.await.unwrap() {
                    panic!("connection {conn}: {e}");
                }
            }
            server.await.unwrap()
        };
        ringtide::time::timeout(limit, run)
            .await
            .unwrap_or_else(|_| panic!("{conns} echoes not done after {limit:?}"))
    })
}

/// Bytes the echo of `conns` connections with `messages` messages each carries one way.
pub fn echo_bytes(conns: usize, messages: usize) -> usize {
    (0..conns)
        .flat_map(|c| (0..messages).map(move |i| message(c, i).len()))
        .sum()
}
