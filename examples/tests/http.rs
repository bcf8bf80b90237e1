//! HTTP over ringtide, end to end: the `serve_http` server driven by hyper clients on
//! tokio (keep-alive, h2 streams, streamed bodies, clients that vanish or stall), hyper
//! clients on ringtide (HTTP/1.1 against a hand-written server, h2c against
//! `serve_http`), and the routes. Every test runs on io_uring and on epoll.
//!
//! The test that counts the process's descriptors runs alone (it takes [`FD_GATE`] for
//! writing); the others share it, so their sockets never blur its count.

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, BufRead, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ringtide::hyper::{RingtideExecutor, RingtideTimer};
use ringtide::net::{TcpListener, TcpStream};
use ringtide::{Builder, Driver};
use ringtide_examples::{serve_http, HttpOptions, ServerStats, Shutdown, Summary};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest any one test's client side may take before the test fails. Generous: the
/// tests also run under valgrind.
const BOUND: Duration = Duration::from_secs(120);

/// Longest wait for the server to notice a connection's end, or for a descriptor to
/// close, after the client has gone.
const SETTLE: Duration = Duration::from_secs(10);

const MIB: usize = 1 << 20;

static FD_GATE: RwLock<()> = RwLock::new(());

/// For tests that open sockets: many may run at once.
fn sockets_open() -> RwLockReadGuard<'static, ()> {
    FD_GATE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// For the test that counts descriptors: it runs alone.
fn descriptors_counted() -> RwLockWriteGuard<'static, ()> {
    FD_GATE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const DRIVERS: [Driver; 2] = [Driver::IoUring, Driver::Epoll];

fn ringtide_runtime(driver: Driver) -> ringtide::Runtime {
    Builder::new()
        .worker_threads(2)
        .pin_workers(false)
        .driver(driver)
        .build()
        .unwrap_or_else(|e| panic!("a ringtide runtime on {driver}: {e}"))
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `client` on a fresh tokio runtime, failing the test past [`BOUND`].
fn on_tokio<F: Future>(client: F) -> F::Output {
    bounded(&tokio_runtime(), client)
}

/// Runs `client` on `rt`, failing the test past [`BOUND`].
fn bounded<F: Future>(rt: &tokio::runtime::Runtime, client: F) -> F::Output {
    rt.block_on(async { tokio::time::timeout(BOUND, client).await })
        .expect("the client finished within the bound")
}

/// `serve_http` on its own ringtide runtime, stopped (and its accept loop checked) when
/// dropped.
struct Server {
    driver: Driver,
    addr: SocketAddr,
    stats: Arc<ServerStats>,
    stop: Shutdown,
    accept: Option<ringtide::JoinHandle<io::Result<()>>>,
    rt: ringtide::Runtime,
}

impl Server {
    fn start(driver: Driver, options: HttpOptions) -> Server {
        let rt = ringtide_runtime(driver);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ServerStats::default());
        let stop = Shutdown::new();
        let waiter = stop.clone();
        let accept = rt.spawn(serve_http(
            listener,
            async move { waiter.wait().await },
            stats.clone(),
            options,
        ));
        Server {
            driver,
            addr,
            stats,
            stop,
            accept: Some(accept),
            rt,
        }
    }

    /// Waits (up to [`SETTLE`]) until every connection accepted so far has ended.
    fn settled(&self) -> Summary {
        let settled = eventually(|| self.stats.summary().open == 0);
        let summary = self.stats.summary();
        assert!(
            settled,
            "connections still open after {SETTLE:?}: {summary}"
        );
        summary
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.trigger();
        let accept = self.accept.take().expect("the accept loop");
        let served = self.rt.block_on(accept);
        if !thread::panicking() {
            served
                .expect("the accept loop does not panic")
                .expect("the accept loop stops without an error");
        }
    }
}

/// Runs `test` against a fresh server on each driver.
fn each_server(options: HttpOptions, mut test: impl FnMut(&Server)) {
    for driver in DRIVERS {
        test(&Server::start(driver, options));
    }
}

/// Whether `condition` holds within [`SETTLE`], checked every few milliseconds.
fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SETTLE;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A request body of either kind the tests send: fixed, or streamed with no length.
type ClientBody = UnsyncBoxBody<Bytes, Infallible>;

fn empty() -> ClientBody {
    Empty::new().boxed_unsync()
}

fn full(bytes: impl Into<Bytes>) -> ClientBody {
    Full::new(bytes.into()).boxed_unsync()
}

/// `len` bytes of a pattern whose period (251) is prime, so a misplaced chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn body_of(response: Response<Incoming>) -> Bytes {
    response
        .into_body()
        .collect()
        .await
        .expect("the whole response body")
        .to_bytes()
}

/// A hyper client connection on tokio, over HTTP/1.1 or HTTP/2 with prior knowledge.
enum TokioClient {
    Http1(http1::SendRequest<ClientBody>),
    Http2(http2::SendRequest<ClientBody>),
}

impl TokioClient {
    /// Connects to `addr`; the connection runs in a tokio task, whose handle is returned
    /// (to abort it, or to see how it ended).
    async fn connect(
        addr: SocketAddr,
        http2: bool,
    ) -> (TokioClient, tokio::task::JoinHandle<hyper::Result<()>>) {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let io = TokioIo::new(stream);
        if http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("HTTP/2 handshake");
            (TokioClient::Http2(sender), tokio::spawn(connection))
        } else {
            let (sender, connection) = http1::handshake(io).await.expect("HTTP/1.1 handshake");
            (TokioClient::Http1(sender), tokio::spawn(connection))
        }
    }

    /// Sends `request` once the connection can take it; its response's head.
    async fn send(&mut self, request: Request<ClientBody>) -> Response<Incoming> {
        let response = match self {
            TokioClient::Http1(sender) => {
                sender.ready().await.expect("the connection stays usable");
                sender.send_request(request).await
            }
            TokioClient::Http2(sender) => {
                sender.ready().await.expect("the connection stays usable");
                sender.send_request(request).await
            }
        };
        response.expect("a response")
    }
}

/// `GET /` on a connection of its own, closed cleanly once answered.
async fn hello_once(addr: SocketAddr) {
    let (mut client, connection) = TokioClient::connect(addr, false).await;
    let response = client.send(get("/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_of(response).await, "Hello, world!\n");
    drop(client);
    connection.await.unwrap().expect("a clean close");
}

fn get(path: &str) -> Request<ClientBody> {
    Request::get(path).body(empty()).unwrap()
}

fn post(path: &str, body: ClientBody) -> Request<ClientBody> {
    Request::post(path).body(body).unwrap()
}

#[test]
fn http1_keep_alive_serves_a_thousand_requests_on_one_connection() {
    let _gate = sockets_open();
    each_server(HttpOptions::default(), |server| {
        let driver = server.driver;
        on_tokio(async {
            let (mut client, connection) = TokioClient::connect(server.addr, false).await;
            for i in 0..1000 {
                let (request, expected) = if i % 2 == 0 {
                    (get("/"), Bytes::from("Hello, world!\n"))
                } else {
                    let body = format!("request {i} on {driver}");
                    (post("/echo", full(body.clone())), Bytes::from(body))
                };
                let response = client.send(request).await;
                assert_eq!(response.status(), StatusCode::OK, "request {i}");
                assert_eq!(body_of(response).await, expected, "request {i}");
            }
            drop(client);
            connection.await.unwrap().expect("a clean close");
        });
        let summary = server.settled();
        assert_eq!(
            summary.accepted, 1,
            "{driver}: one connection served them all"
        );
        assert_eq!(summary.failed, 0, "{driver}: {summary}");
    });
}

#[test]
fn http2_serves_a_hundred_concurrent_streams_on_one_connection() {
    let _gate = sockets_open();
    each_server(HttpOptions::default(), |server| {
        let driver = server.driver;
        on_tokio(async {
            let (client, connection) = TokioClient::connect(server.addr, true).await;
            let TokioClient::Http2(sender) = client else {
                unreachable!("asked for HTTP/2")
            };
            let streams = (0..100).map(|i| {
                let mut client = TokioClient::Http2(sender.clone());
                async move {
                    let (request, expected) = match i % 3 {
                        0 => (get("/"), Bytes::from("Hello, world!\n")),
                        1 => (get("/sleep?ms=20"), Bytes::from("slept 20\n")),
                        _ => {
                            let body = Bytes::from(pattern(1000 + i * 100));
                            (post("/echo", full(body.clone())), body)
                        }
                    };
                    let response = client.send(request).await;
                    assert_eq!(response.version(), hyper::Version::HTTP_2);
                    assert_eq!(response.status(), StatusCode::OK, "stream {i}");
                    assert_eq!(body_of(response).await, expected, "stream {i}");
                }
            });
            // All in flight at once, on the one connection.
            futures::future::join_all(streams).await;
            drop(sender);
            connection.await.unwrap().expect("a clean close");
        });
        let summary = server.settled();
        assert_eq!(
            summary.accepted, 1,
            "{driver}: one connection carried every stream"
        );
    });
}

#[test]
fn an_8_mib_chunked_body_is_echoed_byte_exact() {
    let _gate = sockets_open();
    let sent = pattern(8 * MIB);
    each_server(HttpOptions::default(), |server| {
        let driver = server.driver;
        for http2 in [false, true] {
            let echoed = on_tokio(async {
                let (body, request) = streamed_post("/echo");
                let (mut client, _connection) = TokioClient::connect(server.addr, http2).await;
                // The body goes out while its echo comes back.
                let exchange = async {
                    let response = client.send(request).await;
                    assert_eq!(response.status(), StatusCode::OK);
                    body_of(response).await
                };
                let ((), echoed) = futures::join!(feed(body, &sent), exchange);
                echoed
            });
            assert!(
                echoed == sent[..],
                "{driver}, http2 {http2}: {} bytes back for {} sent, first difference at {:?}",
                echoed.len(),
                sent.len(),
                echoed.iter().zip(&sent).position(|(a, b)| a != b)
            );
        }
        assert_eq!(server.settled().accepted, 2, "{driver}");
    });
}

/// A POST to `path` whose body is fed through the returned sender, with no declared
/// length (so HTTP/1.1 sends it chunked).
fn streamed_post(path: &str) -> (mpsc::Sender<Bytes>, Request<ClientBody>) {
    let (sender, chunks) = mpsc::channel::<Bytes>(4);
    let body = StreamBody::new(chunks.map(|chunk| Ok(Frame::data(chunk))));
    assert!(body.size_hint().exact().is_none(), "no content-length");
    (sender, post(path, body.boxed_unsync()))
}

/// Sends `data` through `body` in 64 KiB chunks, then ends the body.
async fn feed(mut body: mpsc::Sender<Bytes>, data: &[u8]) {
    for chunk in data.chunks(64 * 1024) {
        body.send(Bytes::copy_from_slice(chunk))
            .await
            .expect("the connection takes the body");
    }
}

/// The descriptors this process has open.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[test]
fn a_client_gone_mid_body_ends_its_connection_and_leaks_no_descriptor() {
    let _gate = descriptors_counted();
    each_server(HttpOptions::default(), |server| {
        let driver = server.driver;
        // One whole exchange first, so that whatever the server sets up on first use is
        // there before the count. Each client has a tokio runtime of its own, gone
        // (with its sockets) before the count.
        on_tokio(hello_once(server.addr));
        server.settled();
        let before = open_descriptors();

        on_tokio(declared_length_then_close(server.addr));
        for http2 in [false, true] {
            let tokio = tokio_runtime();
            let unfinished = bounded(&tokio, streamed_then_left(server.addr, http2));
            // The client vanishes as a process would: its runtime first, with the
            // connection's tasks and socket, then the request whose body never ended.
            drop(tokio);
            drop(unfinished);
        }

        let summary = server.settled();
        assert_eq!(summary.accepted, 4, "{driver}: {summary}");
        let mut after = 0;
        let closed = eventually(|| {
            after = open_descriptors();
            after <= before
        });
        assert!(
            closed,
            "{driver}: {before} descriptors open before the clients left, {after} after"
        );
    });
}

/// Declares an 8 MiB body, sends 64 KiB of it, waits for the echo to begin, and closes.
async fn declared_length_then_close(addr: SocketAddr) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n\r\n",
        8 * MIB
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&pattern(64 * 1024)).await.unwrap();
    // The echo has begun: the server is inside the body.
    let mut status = [0; 12];
    stream.read_exact(&mut status).await.expect("a response");
    assert_eq!(&status, b"HTTP/1.1 200");
}

/// Streams 64 KiB of a body of no declared length to `/echo` and reads that much echo
/// back; returns the unfinished exchange (client, echo, body sender) for the caller to
/// abandon. Hyper's HTTP/2 client runs the connection in a task of its own, so the
/// socket closes only with the client's runtime.
async fn streamed_then_left(
    addr: SocketAddr,
    http2: bool,
) -> (TokioClient, Incoming, mpsc::Sender<Bytes>) {
    let (mut body, request) = streamed_post("/echo");
    let (mut client, _connection) = TokioClient::connect(addr, http2).await;
    let chunk = Bytes::from(pattern(64 * 1024));
    body.send(chunk.clone()).await.unwrap();
    let response = client.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut echo = response.into_body();
    let mut echoed = 0;
    while echoed < chunk.len() {
        let frame = echo
            .frame()
            .await
            .expect("more echo")
            .expect("an echo frame");
        echoed += frame.data_ref().map_or(0, Bytes::len);
    }
    (client, echo, body)
}

/// Clients that stall before their request is whole are cut by the header timeout:
/// one inside its headers (hyper's own timeout), one that sends nothing, and one that
/// stops inside the HTTP/2 preface (before hyper knows the protocol).
#[test]
fn a_client_stalled_before_its_request_is_whole_is_cut_by_the_header_timeout() {
    let _gate = sockets_open();
    let timeout = Duration::from_millis(200);
    let options = HttpOptions {
        header_read_timeout: timeout,
        verbose: false,
    };
    let openings: [&[u8]; 3] = [b"GET / HTTP/1.1\r\nHost: exam", b"", b"PRI * HTTP/2.0\r\n"];
    each_server(options, |server| {
        let driver = server.driver;
        for (i, opening) in openings.iter().enumerate() {
            let (waited, outcome) = on_tokio(async {
                let started = Instant::now();
                let mut stream = tokio::net::TcpStream::connect(server.addr)
                    .await
                    .expect("connect");
                stream.write_all(opening).await.unwrap();
                let mut received = Vec::new();
                let outcome = tokio::time::timeout(
                    Duration::from_secs(10),
                    stream.read_to_end(&mut received),
                )
                .await
                .expect("the server cuts the stalled client within 10 s");
                (started.elapsed(), outcome.map(|_| received))
            });
            let what = String::from_utf8_lossy(opening);
            match outcome {
                Ok(received) => assert!(
                    received.is_empty() || received.starts_with(b"HTTP/1.1 408"),
                    "{driver}, after {what:?}: {:?}",
                    String::from_utf8_lossy(&received)
                ),
                Err(e) => assert_eq!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset,
                    "{driver}, after {what:?}: {e}"
                ),
            }
            assert!(waited >= timeout, "{driver}: cut after {waited:?}");
            let summary = server.settled();
            let ended = i as u64 + 1;
            assert_eq!(
                (summary.accepted, summary.failed),
                (ended, ended),
                "{driver}, after {what:?}: {summary}"
            );
        }

        // A request that comes whole in time is served as usual.
        on_tokio(hello_once(server.addr));
    });
}

#[test]
fn the_routes_sleep_refuse_bad_input_and_say_not_found() {
    let _gate = sockets_open();
    each_server(HttpOptions::default(), |server| {
        let driver = server.driver;
        on_tokio(async {
            let (mut client, _connection) = TokioClient::connect(server.addr, false).await;
            let started = Instant::now();
            let response = client.send(get("/sleep?ms=20")).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(body_of(response).await, "slept 20\n");
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(20), "{driver}: {waited:?}");

            for (request, status, says) in [
                (
                    get("/sleep?ms=soon"),
                    StatusCode::BAD_REQUEST,
                    "whole number",
                ),
                (get("/sleep"), StatusCode::BAD_REQUEST, "missing ms"),
                (get("/nowhere"), StatusCode::NOT_FOUND, "not found"),
                (post("/", full("x")), StatusCode::NOT_FOUND, "not found"),
            ] {
                let what = format!("{driver}: {} {}", request.method(), request.uri());
                let response = client.send(request).await;
                assert_eq!(response.status(), status, "{what}");
                let body = body_of(response).await;
                let body = String::from_utf8_lossy(&body);
                assert!(body.contains(says), "{what}: {body:?}");
            }
        });
    });
}

/// A hand-written HTTP/1.1 server on a plain thread: it serves one keep-alive
/// connection, answers each request with its method, path and body length (every
/// second answer chunked), and returns how many requests it served once the client
/// closes.
fn hand_written_server() -> (SocketAddr, thread::JoinHandle<usize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(BOUND)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut served = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("a request line") == 0 {
                return served;
            }
            let mut words = line.split_whitespace();
            let (method, path) = (words.next().unwrap(), words.next().unwrap());
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).expect("a header");
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').expect("name: value");
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a length");
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("the request body");
            let answer = format!("{method} {path} {length}");
            let response = if served % 2 == 0 {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{answer}\r\n0\r\n\r\n",
                    answer.len()
                )
            };
            writer.write_all(response.as_bytes()).expect("send");
            served += 1;
        }
    });
    (addr, server)
}

#[test]
fn a_ringtide_http1_client_keeps_a_connection_to_a_plain_server() {
    let _gate = sockets_open();
    for driver in DRIVERS {
        let (addr, server) = hand_written_server();
        let rt = ringtide_runtime(driver);
        rt.block_on(ringtide::time::timeout(BOUND, async {
            let stream = TcpStream::connect(addr).await.expect("connect");
            let (mut sender, connection) =
                http1::handshake(stream).await.expect("HTTP/1.1 handshake");
            let connection = ringtide::spawn(connection);
            for i in 0..6 {
                let (request, expected) = if i % 3 == 2 {
                    let length = 10_000 + i;
                    let body = full(pattern(length));
                    (
                        post(&format!("/up/{i}"), body),
                        format!("POST /up/{i} {length}"),
                    )
                } else {
                    (get(&format!("/down/{i}")), format!("GET /down/{i} 0"))
                };
                sender.ready().await.expect("the connection stays usable");
                let response = sender.send_request(request).await.expect("a response");
                assert_eq!(response.status(), StatusCode::OK, "{driver}: request {i}");
                assert_eq!(body_of(response).await, expected, "{driver}: request {i}");
            }
            drop(sender);
            connection
                .await
                .expect("the connection task does not panic")
                .expect("a clean close");
        }))
        .expect("the client finished within the bound");
        let served = server.join().expect("the plain server does not panic");
        assert_eq!(served, 6, "{driver}: every request on the one connection");
    }
}

#[test]
fn a_ringtide_http2_client_multiplexes_and_pings_over_serve_http() {
    let _gate = sockets_open();
    each_server(HttpOptions::default(), |server| {
        let driver = server.driver;
        let addr = server.addr;
        server
            .rt
            .block_on(ringtide::time::timeout(BOUND, async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                let (sender, connection) = http2::Builder::new(RingtideExecutor)
                    .timer(RingtideTimer)
                    .keep_alive_interval(Duration::from_millis(20))
                    .keep_alive_timeout(Duration::from_secs(10))
                    .keep_alive_while_idle(true)
                    .handshake::<_, ClientBody>(stream)
                    .await
                    .expect("HTTP/2 handshake");
                let connection = ringtide::spawn(connection);
                let streams = (0..50).map(|i| {
                    let mut sender = sender.clone();
                    async move {
                        let body = Bytes::from(pattern(100 + i * 1000));
                        let response = sender
                            .send_request(post("/echo", full(body.clone())))
                            .await
                            .expect("a response");
                        assert_eq!(response.status(), StatusCode::OK, "stream {i}");
                        assert_eq!(body_of(response).await, body, "stream {i}");
                    }
                });
                futures::future::join_all(streams).await;
                // Idle for a while: keep-alive pings go out and come back on
                // ringtide's timer, and the connection stays up.
                ringtide::time::sleep(Duration::from_millis(200)).await;
                let mut sender = sender;
                let response = sender.send_request(get("/")).await.expect("a response");
                assert_eq!(body_of(response).await, "Hello, world!\n");
                drop(sender);
                connection
                    .await
                    .expect("the connection task does not panic")
                    .expect("a clean close");
            }))
            .expect("the client finished within the bound");
        assert_eq!(server.settled().accepted, 1, "{driver}");
    });
}
