//! The HTTP service of the `http_server` example, shared with `ringtide-bench http` so
//! that ringtide and tokio serve with exactly the same code. Only the timer differs,
//! passed in as a function.
//!
//! Routes:
//!
//! | Request           | Response                                          |
//! |-------------------|---------------------------------------------------|
//! | `GET /`           | 200 `Hello, world!\n` (`text/plain`)              |
//! | `POST /echo`      | 200, the request body streamed back unchanged     |
//! | `GET /sleep?ms=N` | 200 `slept N\n` after waiting N ms on the timer   |
//! | a bad `ms`        | 400, saying what is wrong                         |
//! | anything else     | 404                                               |

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Body;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::rt::ReadBufCursor;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::server::conn::auto;
use ringtide::hyper::{RingtideExecutor, RingtideTimer};
use ringtide::net::{TcpListener, TcpStream};
use ringtide::time::Sleep;

use crate::echo::{accept_loop, ServerStats};

/// The longest `/sleep` accepted: an hour.
pub const MAX_SLEEP_MS: u64 = 3_600_000;

/// The body of every response: a fixed one, or the request's own (for `/echo`).
pub type HttpBody<B> = Either<Full<Bytes>, B>;

/// Answers one request; `sleep` is the runtime's timer (`ringtide::time::sleep`,
/// `tokio::time::sleep`).
///
/// ```
/// use http_body_util::{BodyExt, Empty};
/// use hyper::body::Bytes;
/// use hyper::Request;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let request = Request::get("/sleep?ms=2").body(Empty::<Bytes>::new()).unwrap();
///     let response = ringtide_examples::route(request, ringtide::time::sleep).await.unwrap();
///     assert_eq!(response.status(), 200);
///     let body = response.into_body().collect().await.unwrap().to_bytes();
///     assert_eq!(body, "slept 2\n");
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn route<B, S, F>(
    request: Request<B>,
    sleep: S,
) -> Result<Response<HttpBody<B>>, Infallible>
where
    B: Body<Data = Bytes>,
    S: FnOnce(Duration) -> F,
    F: Future<Output = ()>,
{
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => text(StatusCode::OK, "Hello, world!\n"),
        (&Method::POST, "/echo") => Response::new(Either::Right(request.into_body())),
        (&Method::GET, "/sleep") => match sleep_ms(request.uri().query()) {
            Ok(ms) => {
                sleep(Duration::from_millis(ms)).await;
                text(StatusCode::OK, format!("slept {ms}\n"))
            }
            Err(why) => text(StatusCode::BAD_REQUEST, why),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(response)
}

/// Settings of [`serve_http`].
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// How long a client may take to send a request's headers before the connection is
    /// closed (hyper's `header_read_timeout`, HTTP/1.1). The time between two requests
    /// of a keep-alive connection counts too.
    ///
    /// The same bound applies to a connection's opening bytes, before hyper knows
    /// which protocol it speaks (hyper-util's detection of HTTP/1.1 versus HTTP/2 has no
    /// timeout of its own): a client that connects and sends nothing, or stops inside
    /// the HTTP/2 preface and first SETTINGS frame, is cut too. An HTTP/2 connection
    /// that has opened is not: idle HTTP/2 connections are normal.
    pub header_read_timeout: Duration,
    /// Log every connection's end to stderr.
    pub verbose: bool,
}

impl Default for HttpOptions {
    /// A 30 s header timeout, quiet.
    fn default() -> HttpOptions {
        HttpOptions {
            header_read_timeout: Duration::from_secs(30),
            verbose: false,
        }
    }
}

/// Serves [`route`] over HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the same
/// listener, hyper on ringtide, until `stop` resolves (then stops accepting and returns;
/// connections still open are left to the runtime). Each connection runs in its own
/// task; failed accepts are handled as by [`serve`](crate::serve).
///
/// ```
/// use std::sync::Arc;
/// use ringtide::net::TcpListener;
/// use ringtide_examples::{serve_http, HttpOptions, ServerStats};
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let stats = Arc::new(ServerStats::default());
///     let stop = ringtide::time::sleep(std::time::Duration::from_millis(10));
///     serve_http(listener, stop, stats, HttpOptions::default()).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn serve_http(
    listener: TcpListener,
    stop: impl Future<Output = ()>,
    stats: Arc<ServerStats>,
    options: HttpOptions,
) -> io::Result<()> {
    let counters = stats.clone();
    accept_loop(listener, stop, &counters, move |stream, peer| {
        let stats = stats.clone();
        async move {
            let mut builder = auto::Builder::new(RingtideExecutor);
            builder
                .http1()
                .timer(RingtideTimer)
                .header_read_timeout(options.header_read_timeout);
            builder.http2().timer(RingtideTimer);
            let service = service_fn(|request| route(request, ringtide::time::sleep));
            let stream = Opening::new(stream, options.header_read_timeout);
            let served = builder.serve_connection(stream, service).await;
            stats.count_end(0, served.is_ok());
            if options.verbose {
                match served {
                    Ok(()) => eprintln!("{peer}: closed"),
                    Err(e) => eprintln!("{peer}: {e}"),
                }
            }
        }
    })
    .await
}

/// The bytes a connection must send within the header timeout before hyper's own
/// timeouts take over: the HTTP/2 preface (24) and a SETTINGS frame's header (9). An
/// HTTP/1.1 request's head is at least this long, or complete (and timed by hyper).
const OPENING_BYTES: usize = 33;

/// A connection whose first [`OPENING_BYTES`] must arrive within a deadline; then it is
/// the stream itself, at the cost of one branch per read.
struct Opening {
    stream: TcpStream,
    /// Until the opening bytes are in.
    deadline: Option<(Pin<Box<Sleep>>, usize)>,
}

impl Opening {
    fn new(stream: TcpStream, within: Duration) -> Opening {
        Opening {
            stream,
            deadline: Some((Box::pin(ringtide::time::sleep(within)), OPENING_BYTES)),
        }
    }
}

impl hyper::rt::Read for Opening {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some((deadline, missing)) = &mut this.deadline else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client sent no request within the header read timeout",
            )));
        }
        // SAFETY: only initialized bytes are written into the cursor's room, which is
        // zeroed first so that `poll_read` may take it as a byte slice.
        let room = unsafe { buf.as_mut() };
        room.fill(MaybeUninit::new(0));
        // SAFETY: just initialized, every byte of it.
        let bytes = unsafe { &mut *(room as *mut [MaybeUninit<u8>] as *mut [u8]) };
        let n = ready!(this.stream.poll_read(cx, bytes))?;
        // SAFETY: `n` bytes were read into the room's start (all of it is initialized).
        unsafe { buf.advance(n) };
        if n == 0 || n >= *missing {
            this.deadline = None;
        } else {
            *missing -= n;
        }
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for Opening {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The `ms` of `/sleep?ms=N`, or why it is unusable.
fn sleep_ms(query: Option<&str>) -> Result<u64, String> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("ms="))
        .ok_or_else(|| "missing ms: use /sleep?ms=N\n".to_string())?;
    match value.parse::<u64>() {
        Ok(ms) if ms <= MAX_SLEEP_MS => Ok(ms),
        Ok(_) => Err(format!("ms={value} is over the limit of {MAX_SLEEP_MS}\n")),
        Err(_) => Err(format!(
            "ms={value} is not a whole number of milliseconds\n"
        )),
    }
}

fn text<B>(status: StatusCode, body: impl Into<Bytes>) -> Response<HttpBody<B>> {
    let mut response = Response::new(Either::Left(Full::new(body.into())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    use super::sleep_ms;

    #[test]
    fn the_sleep_query_is_read_or_refused_with_a_reason() {
        assert_eq!(sleep_ms(Some("ms=25")), Ok(25));
        assert_eq!(sleep_ms(Some("x=1&ms=0")), Ok(0));
        assert!(sleep_ms(None).unwrap_err().contains("missing ms"));
        assert!(sleep_ms(Some("ms=-3"))
            .unwrap_err()
            .contains("whole number"));
        assert!(sleep_ms(Some("ms=99999999999"))
            .unwrap_err()
            .contains("limit"));
    }
}
