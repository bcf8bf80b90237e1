//! ringtide: a thread-per-core async runtime for Linux, built on io_uring.
//!
//! One worker thread per core, each pinned, each with its own io_uring ring, run queue
//! and timer queue; idle workers steal from busy ones, so no core idles while another has
//! work queued. Workers park inside `io_uring_enter` with their nearest timer deadline as
//! the timeout, which gives timers microsecond precision instead of a millisecond wheel.
//! A panicking task never takes its worker down: the panic comes back through its
//! [`JoinHandle`]. Where io_uring is blocked, the same runtime runs on epoll (see
//! [`Driver`]).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use ringtide::time::{sleep, Instant};
//!
//! let rt = ringtide::Runtime::new()?;
//! let elapsed = rt.block_on(async {
//!     let start = Instant::now();
//!     let tasks: Vec<_> = (1..=3u64)
//!         .map(|i| ringtide::spawn(async move {
//!             sleep(Duration::from_millis(i)).await;
//!             i
//!         }))
//!         .collect();
//!     let mut total = 0;
//!     for task in tasks {
//!         total += task.await.expect("task panicked");
//!     }
//!     assert_eq!(total, 6);
//!     start.elapsed()
//! });
//! assert!(elapsed >= Duration::from_millis(3));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Requirements
//!
//! Linux. On 5.6 or later with io_uring allowed for the process, the workers use
//! io_uring. Where it is missing or blocked (Docker's and containerd's default seccomp
//! profiles, gVisor, `kernel.io_uring_disabled`, a low `RLIMIT_MEMLOCK` on kernels before
//! 5.12), [`Runtime::new`] starts the workers on epoll instead, with the same API and
//! timers as precise; [`Runtime::driver`] says which one runs and
//! [`Runtime::io_uring_error`] why. Asking for io_uring explicitly
//! ([`Driver::IoUring`]) returns an error that names the cause; see [`SetupError`].

#![cfg_attr(loom, allow(dead_code, unused_imports))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    clippy::undocumented_unsafe_blocks
)]

pub(crate) mod loom;

#[cfg(not(loom))]
mod block_on;
#[cfg(not(loom))]
pub mod buf;
#[cfg(not(loom))]
mod compat;
#[cfg(not(loom))]
mod context;
#[cfg(not(loom))]
mod coop;
#[cfg(not(loom))]
mod driver;
#[cfg(loom)]
mod driver {
    //! Only the pure state machines, for model checking.
    pub(crate) mod op_state;
}
#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
pub mod fs;
#[cfg(not(loom))]
mod handle;
#[cfg(all(feature = "hyper", not(loom)))]
pub mod hyper {
    //! hyper 1.x on ringtide (cargo feature `hyper`): an executor and a timer for hyper's
    //! builders; [`TcpStream`](crate::net::TcpStream) implements `hyper::rt::Read` and
    //! `hyper::rt::Write`.
    //!
    //! ```
    //! use std::convert::Infallible;
    //! use std::time::Duration;
    //! use http_body_util::Full;
    //! use hyper::body::Bytes;
    //! use hyper::server::conn::http1;
    //! use hyper::service::service_fn;
    //! use hyper::{Request, Response};
    //! use ringtide::hyper::RingtideTimer;
    //! use ringtide::net::TcpListener;
    //!
    //! async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    //!     Ok(Response::new(Full::new(Bytes::from("Hello, world!\n"))))
    //! }
    //!
    //! let rt = ringtide::Runtime::new()?;
    //! rt.block_on(async {
    //!     let listener = TcpListener::bind("127.0.0.1:0")?;
    //!     # let addr = listener.local_addr()?;
    //!     # ringtide::spawn(async move {
    //!     #     let stream = ringtide::net::TcpStream::connect(addr).await.unwrap();
    //!     #     let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
    //!     #     ringtide::spawn(conn);
    //!     #     let req = Request::get("/").body(http_body_util::Empty::<Bytes>::new()).unwrap();
    //!     #     assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
    //!     # });
    //!     # for _ in 0..1 {
    //!     let (stream, _) = listener.accept().await?;
    //!     ringtide::spawn(async move {
    //!         let served = http1::Builder::new()
    //!             .timer(RingtideTimer)
    //!             .header_read_timeout(Duration::from_secs(5))
    //!             .serve_connection(stream, service_fn(hello))
    //!             .await;
    //!         if let Err(e) = served {
    //!             eprintln!("connection ended: {e}");
    //!         }
    //!     })
    //!     # .await.unwrap();
    //!     # }
    //!     # Ok::<_, std::io::Error>(())
    //! })?;
    //! # Ok::<(), std::io::Error>(())
    //! ```
    pub use crate::compat::hyper::{RingtideExecutor, RingtideTimer};
}
#[cfg(not(loom))]
mod builder;
#[cfg(not(loom))]
pub mod metrics;
#[cfg(not(loom))]
pub mod net;
#[cfg(not(loom))]
mod op;
#[cfg(not(loom))]
mod prefetch;
#[cfg(not(loom))]
mod runtime;
#[cfg(not(loom))]
pub mod signal;
#[cfg(not(loom))]
mod spawn;
#[cfg(not(loom))]
pub mod task;
#[cfg(loom)]
pub(crate) mod task {
    //! Only the pure state machines, for model checking.
    pub(crate) mod state;
}

#[cfg(not(loom))]
pub(crate) mod scheduler;
#[cfg(loom)]
pub(crate) mod scheduler {
    //! Only the pure state machines, for model checking.
    pub(crate) mod idle;
    pub(crate) mod park;
}

#[cfg(not(loom))]
pub mod time;
#[cfg(loom)]
pub(crate) mod time {
    //! Only the pure state machines, for model checking.
    pub(crate) mod entry;
}

#[cfg(not(loom))]
pub use builder::Builder;
#[cfg(not(loom))]
pub use driver::Driver;
#[cfg(not(loom))]
pub use error::{SetupError, SetupErrorKind};
#[cfg(not(loom))]
pub use handle::{Handle, TryCurrentError};
#[cfg(not(loom))]
pub use runtime::Runtime;
#[cfg(not(loom))]
pub use spawn::{spawn, spawn_eager, spawn_local};
#[cfg(not(loom))]
pub use task::{JoinError, JoinHandle};
// `test` here does not replace the built-in `#[test]` in this crate: only this module
// (which has no tests) sees the re-export, and the generated code names the built-in
// attribute by its full path.
#[cfg(not(loom))]
#[doc(inline)]
pub use ringtide_macros::{main, test};
