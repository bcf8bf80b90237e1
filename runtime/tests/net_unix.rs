//! Unix sockets: streams over paths, abstract names and pairs, byte-exact at 1 MiB; the
//! peer's credentials; the errors for a stale socket file, a missing path and a path
//! too long; half-close; datagrams; the poll-style traits; reads dropped mid-flight; a
//! connect that waits for room in a full backlog. Each test runs on io_uring and on
//! epoll.

mod support;

use std::future::{poll_fn, Future};
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringtide::net::{UnixDatagram, UnixListener, UnixStream};
use ringtide::time::timeout;
use support::pattern;
use support::streams;
use support::{runtimes_on_each_driver as runtimes, CountedBuf};

const MIB: usize = 1 << 20;

/// Every test's bound: far above what any takes, so that a hang fails instead of stalling.
const LIMIT: Duration = Duration::from_secs(20);

/// A fresh directory under the system's temp dir, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ringtide-unix-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the test's temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An abstract name no other test (or test run) uses.
fn abstract_addr(what: &str) -> SocketAddr {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("ringtide-test-{what}-{}-{n}", std::process::id());
    SocketAddr::from_abstract_name(name).unwrap()
}

/// Runs `test` to completion within [`LIMIT`].
fn run<F: Future<Output = ()> + Send + 'static>(rt: &ringtide::Runtime, test: F) {
    rt.block_on(async move {
        timeout(LIMIT, ringtide::spawn(test))
            .await
            .expect("the test ran past its limit")
            .expect("the test task panicked")
    });
}

/// Echoes a connection until its peer closes its write side.
async fn echo(stream: UnixStream) -> io::Result<usize> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut total = 0;
    loop {
        let (n, back) = stream.read(buf).await;
        let n = n?;
        if n == 0 {
            return Ok(total);
        }
        let (res, back) = stream.write_all(back).await;
        res?;
        buf = back;
        total += n;
    }
}

/// Sends 1 MiB through `client` to an echo on `server` and checks it comes back whole.
async fn echo_mebibyte(client: UnixStream, server: UnixStream) {
    let echo = ringtide::spawn(echo(server));
    let data = pattern(1, MIB);
    let client = Arc::new(client);
    let writer = ringtide::spawn({
        let (client, data) = (client.clone(), data.clone());
        async move {
            let (res, _) = client.write_all(data).await;
            res.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        }
    });
    let mut back = Vec::with_capacity(MIB);
    loop {
        let (n, buf) = client.read(vec![0; 64 * 1024]).await;
        let n = n.unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    writer.await.unwrap();
    assert_eq!(echo.await.unwrap().unwrap(), MIB);
    assert!(back == data, "the echo of {} bytes differs", back.len());
}

#[test]
fn echo_over_a_path_socket_is_byte_exact() {
    for rt in runtimes() {
        let dir = TempDir::new();
        let path = dir.path("echo.sock");
        run(&rt, async move {
            let listener = UnixListener::bind(&path).unwrap();
            assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(&*path));
            let client = UnixStream::connect(&path).await.unwrap();
            let (server, peer) = listener.accept().await.unwrap();
            assert!(peer.is_unnamed(), "an unbound client is unnamed: {peer:?}");
            assert!(client.local_addr().unwrap().is_unnamed());
            assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(&*path));
            assert_eq!(server.local_addr().unwrap().as_pathname(), Some(&*path));
            echo_mebibyte(client, server).await;
        });
    }
}

#[test]
fn echo_over_an_abstract_address_is_byte_exact() {
    for rt in runtimes() {
        run(&rt, async {
            let addr = abstract_addr("echo");
            let listener = UnixListener::bind_addr(&addr).unwrap();
            let name = listener.local_addr().unwrap();
            assert_eq!(name.as_abstract_name(), addr.as_abstract_name());
            let client = UnixStream::connect_addr(&addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            assert_eq!(
                client.peer_addr().unwrap().as_abstract_name(),
                addr.as_abstract_name()
            );
            echo_mebibyte(client, server).await;
        });
    }
}

#[test]
fn a_pair_echoes_byte_exact() {
    for rt in runtimes() {
        run(&rt, async {
            let (a, b) = UnixStream::pair().unwrap();
            echo_mebibyte(a, b).await;
        });
    }
}

#[test]
fn peer_cred_is_this_process() {
    for rt in runtimes() {
        let dir = TempDir::new();
        let path = dir.path("cred.sock");
        run(&rt, async move {
            let listener = UnixListener::bind(&path).unwrap();
            let client = UnixStream::connect(&path).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (pair, _other) = UnixStream::pair().unwrap();
            // SAFETY: getuid and getgid cannot fail.
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            for stream in [&client, &server, &pair] {
                let cred = stream.peer_cred().unwrap();
                assert_eq!(cred.pid(), Some(std::process::id() as libc::pid_t));
                assert_eq!((cred.uid(), cred.gid()), (uid, gid));
            }
        });
    }
}

#[test]
fn binding_over_a_stale_socket_file_says_so_and_keeps_the_file() {
    let dir = TempDir::new();
    let path = dir.path("stale.sock");
    // A server that went away without removing its socket file.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    for rt in runtimes() {
        let stale = path.clone();
        run(&rt, async move {
            let path = stale;
            let err = UnixListener::bind(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
            let message = err.to_string();
            assert!(message.contains(&format!("{path:?}")), "{message}");
            assert!(message.contains("previous server"), "{message}");
            let source = std::error::Error::source(err.get_ref().unwrap()).unwrap();
            let os = source.downcast_ref::<io::Error>().unwrap();
            assert_eq!(os.raw_os_error(), Some(libc::EADDRINUSE));
            // Nothing listens there: connecting is refused, and says why.
            let err = UnixStream::connect(&path).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
            assert!(err.to_string().contains(&format!("{path:?}")), "{err}");
            let err = UnixDatagram::bind(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        });
        assert!(path.exists(), "the stale file must not be removed");
    }
}

#[test]
fn connecting_to_a_missing_path_names_it() {
    let dir = TempDir::new();
    let path = dir.path("nobody-here.sock");
    for rt in runtimes() {
        let path = path.clone();
        run(&rt, async move {
            let err = UnixStream::connect(&path).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            assert!(err.to_string().contains(&format!("{path:?}")), "{err}");

            let socket = UnixDatagram::unbound().unwrap();
            let (sent, _) = socket.send_to(&b"lost"[..], &path).await;
            let err = sent.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            assert!(err.to_string().contains(&format!("{path:?}")), "{err}");
            let err = socket.connect(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        });
    }
}

#[test]
fn a_path_too_long_names_the_limit() {
    let long = Path::new("/tmp").join("x".repeat(120));
    for rt in runtimes() {
        let long = long.clone();
        run(&rt, async move {
            let errors = [
                UnixListener::bind(&long).unwrap_err(),
                UnixStream::connect(&long).await.unwrap_err(),
                UnixDatagram::bind(&long).unwrap_err(),
                UnixDatagram::unbound()
                    .unwrap()
                    .send_to(&b"x"[..], &long)
                    .await
                    .0
                    .unwrap_err(),
            ];
            for err in errors {
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
                assert!(err.to_string().contains("limit of 107"), "{err}");
            }
        });
    }
}

/// One side shuts its write side: the other reads the end of the stream, and can still
/// send; the first reads that.
#[test]
fn a_half_close_ends_one_direction_only() {
    for rt in runtimes() {
        run(&rt, async {
            let (a, b) = UnixStream::pair().unwrap();
            let (res, _) = a.write_all(&b"last words"[..]).await;
            res.unwrap();
            a.shutdown(Shutdown::Write).unwrap();

            let (n, buf) = b.read(vec![0; 64]).await;
            assert_eq!(&buf[..n.unwrap()], b"last words");
            let (n, _) = b.read(vec![0; 64]).await;
            assert_eq!(n.unwrap(), 0, "end of stream after the half-close");

            let reply = pattern(2, 256 * 1024);
            let writer = ringtide::spawn({
                let reply = reply.clone();
                async move {
                    let (res, _) = b.write_all(reply).await;
                    res.unwrap();
                }
            });
            let mut got = Vec::new();
            while got.len() < reply.len() {
                let (n, buf) = a.read(vec![0; 32 * 1024]).await;
                let n = n.unwrap();
                assert!(n > 0, "early end of stream");
                got.extend_from_slice(&buf[..n]);
            }
            writer.await.unwrap();
            assert!(got == reply);
            let (n, _) = a.read(vec![0; 64]).await;
            assert_eq!(n.unwrap(), 0, "the writer closed its socket");
        });
    }
}

#[test]
fn datagrams_go_to_paths_and_come_from_them() {
    for rt in runtimes() {
        let dir = TempDir::new();
        let (server_path, client_path) = (dir.path("server.sock"), dir.path("client.sock"));
        run(&rt, async move {
            let server = UnixDatagram::bind(&server_path).unwrap();
            let client = UnixDatagram::bind(&client_path).unwrap();
            for i in 0..20u64 {
                let message = pattern(i, 1 + i as usize * 500);
                let (sent, _) = client.send_to(message.clone(), &server_path).await;
                assert_eq!(sent.unwrap(), message.len());
                let (got, buf) = server.recv_from(Vec::with_capacity(16 * 1024)).await;
                let (n, from) = got.unwrap();
                assert_eq!(n, message.len());
                assert!(buf == message, "datagram {i} differs");
                assert_eq!(from.as_pathname(), Some(&*client_path));
                // Answer through the address the datagram came from.
                let (sent, _) = server.send_to_addr(&b"ack"[..], &from).await;
                sent.unwrap();
                let (got, buf) = client.recv_from(vec![0; 16]).await;
                let (n, from) = got.unwrap();
                assert_eq!(&buf[..n], b"ack");
                assert_eq!(from.as_pathname(), Some(&*server_path));
            }
            // An unbound sender is unnamed.
            let anonymous = UnixDatagram::unbound().unwrap();
            let (sent, _) = anonymous.send_to(&b"hi"[..], &server_path).await;
            sent.unwrap();
            let (got, _) = server.recv_from(vec![0; 16]).await;
            assert!(got.unwrap().1.is_unnamed());
            // Connected: send and recv.
            client.connect(&server_path).unwrap();
            assert_eq!(
                client.peer_addr().unwrap().as_pathname(),
                Some(&*server_path)
            );
            let (sent, _) = client.send(&b"connected"[..]).await;
            sent.unwrap();
            let (got, buf) = server.recv_from(vec![0; 16]).await;
            assert_eq!(&buf[..got.unwrap().0], b"connected");
        });
    }
}

#[test]
fn datagram_pairs_and_abstract_names_keep_messages_whole() {
    for rt in runtimes() {
        run(&rt, async {
            let (a, b) = UnixDatagram::pair().unwrap();
            for i in 0..50u64 {
                let message = pattern(i, 1 + (i as usize * 997) % 60_000);
                let (sent, _) = a.send(message.clone()).await;
                assert_eq!(sent.unwrap(), message.len());
                let (n, buf) = b.recv(Vec::with_capacity(64 * 1024)).await;
                assert_eq!(n.unwrap(), message.len());
                assert!(buf == message, "datagram {i} differs");
            }
            let addr = abstract_addr("dgram");
            let server = UnixDatagram::bind_addr(&addr).unwrap();
            let client = UnixDatagram::unbound().unwrap();
            let (sent, _) = client.send_to_addr(&b"to a name"[..], &addr).await;
            sent.unwrap();
            let (got, buf) = server.recv_from(vec![0; 64]).await;
            let (n, from) = got.unwrap();
            assert_eq!(&buf[..n], b"to a name");
            assert!(from.is_unnamed());
        });
    }
}

#[test]
fn futures_io_read_to_end_and_write_all_are_byte_exact() {
    for rt in runtimes() {
        run(&rt, async {
            let (client, server) = UnixStream::pair().unwrap();
            streams::futures_io_round_trips_a_mebibyte(client, server).await;
        });
    }
}

#[test]
fn tokio_util_lines_codec_over_a_path_socket() {
    for rt in runtimes() {
        let dir = TempDir::new();
        let path = dir.path("lines.sock");
        run(&rt, async move {
            let listener = UnixListener::bind(&path).unwrap();
            let client = UnixStream::connect(&path).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            streams::lines_codec_round_trips_a_mebibyte(client, server).await;
        });
    }
}

/// Waits (yielding to the runtime) until `count` reaches `want`, within [`LIMIT`].
async fn until(count: &AtomicUsize, want: usize) {
    let deadline = Instant::now() + LIMIT;
    while count.load(Ordering::SeqCst) != want {
        assert!(Instant::now() < deadline, "still {count:?}, want {want}");
        ringtide::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Reads dropped while waiting (owned-buffer and poll-style): each buffer is released
/// once the kernel is done with it, the socket goes on working with no byte lost, and
/// dropping the stream then closes it (the peer reads the end).
#[test]
fn a_read_dropped_mid_flight_leaks_nothing_and_breaks_nothing() {
    use tokio::io::AsyncReadExt;
    for rt in runtimes() {
        run(&rt, async {
            let (mut a, b) = UnixStream::pair().unwrap();
            let drops = Arc::new(AtomicUsize::new(0));
            for round in 0..20 {
                let buf = CountedBuf {
                    bytes: vec![0; 4096],
                    drops: drops.clone(),
                };
                let read = timeout(Duration::from_millis(2), a.read(buf)).await;
                assert!(read.is_err(), "nothing was sent, so the read waits");
                // The buffer is released once the cancelled request is over, so no
                // request of this round can take the bytes sent next.
                until(&drops, round + 1).await;

                {
                    let mut small = [0u8; 64];
                    let mut polled = pin!(AsyncReadExt::read(&mut a, &mut small));
                    let first = poll_fn(|cx| Poll::Ready(polled.as_mut().poll(cx))).await;
                    assert!(first.is_pending(), "nothing was sent, so the poll waits");
                }

                let message = pattern(round as u64, 1000);
                let (res, _) = b.write_all(message.clone()).await;
                res.unwrap();
                let mut got = Vec::new();
                while got.len() < message.len() {
                    let (n, buf) = a.read(vec![0; 4096]).await;
                    got.extend_from_slice(&buf[..n.unwrap()]);
                }
                assert!(got == message, "round {round}: bytes lost or changed");
            }
            let fd = a.as_raw_fd();
            drop(a);
            let (n, _) = b.read(vec![0; 16]).await;
            assert_eq!(n.unwrap(), 0, "descriptor {fd} was not closed");
        });
    }
}

/// A listener whose backlog is full: a connect waits (on epoll, by trying again after
/// a pause) and completes once an accept makes room.
#[test]
fn a_connect_to_a_full_backlog_waits_for_room() {
    use socket2::{Domain, Socket, Type};
    for rt in runtimes() {
        let dir = TempDir::new();
        let path = dir.path("backlog.sock");
        run(&rt, async move {
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
            socket
                .bind(&socket2::SockAddr::unix(&path).unwrap())
                .unwrap();
            socket.listen(0).unwrap();
            let listener = UnixListener::from_std(socket.into()).unwrap();
            // Fill the backlog with connects that are not accepted.
            let mut queued = Vec::new();
            let waiting = loop {
                let mut connect = Box::pin(UnixStream::connect(&path));
                match timeout(Duration::from_millis(50), connect.as_mut()).await {
                    Ok(stream) => queued.push(stream.unwrap()),
                    Err(_) => break connect,
                }
                assert!(queued.len() < 64, "the backlog never filled");
            };
            let waiting = ringtide::spawn(waiting);
            let (first, _) = listener.accept().await.unwrap();
            let late = waiting.await.unwrap().unwrap();
            let mut all = queued;
            all.push(late);
            for (i, client) in all.iter().enumerate() {
                let (res, _) = client.write_all(vec![i as u8; 3]).await;
                res.unwrap();
            }
            let mut seen = Vec::new();
            let mut server = Some(first);
            for _ in 0..all.len() {
                let stream = match server.take() {
                    Some(stream) => stream,
                    None => listener.accept().await.unwrap().0,
                };
                let (n, buf) = stream.read(vec![0; 3]).await;
                assert_eq!(n.unwrap(), 3);
                seen.push(buf[0]);
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..all.len() as u8).collect::<Vec<_>>());
        });
    }
}

#[test]
fn from_std_takes_over_sockets() {
    for rt in runtimes() {
        run(&rt, async {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = UnixStream::from_std(a).unwrap();
            let b = UnixStream::from_std(b).unwrap();
            let (res, _) = a.write_all(&b"std"[..]).await;
            res.unwrap();
            let (n, buf) = b.read(vec![0; 8]).await;
            assert_eq!(&buf[..n.unwrap()], b"std");

            let (x, y) = std::os::unix::net::UnixDatagram::pair().unwrap();
            let (x, y) = (
                UnixDatagram::from_std(x).unwrap(),
                UnixDatagram::from_std(y).unwrap(),
            );
            let (sent, _) = x.send(&b"dgram"[..]).await;
            sent.unwrap();
            let (n, buf) = y.recv(vec![0; 8]).await;
            assert_eq!(&buf[..n.unwrap()], b"dgram");
        });
    }
}

#[allow(dead_code)]
fn unix_types_are_send_and_sync() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<UnixListener>();
    is_send_sync::<UnixStream>();
    is_send_sync::<UnixDatagram>();
    is_send_sync::<ringtide::net::UCred>();
}
