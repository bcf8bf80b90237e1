//! Runnable examples for ringtide, and the code they share with the benchmark harness.
//!
//! Run one with `cargo run --release --example <name>`:
//!
//! * `tour`: spawning, joining, sleeping, timeouts, intervals, aborting, panics.
//! * `gather_wait`: asyncio's `gather` and `wait` snippets with ringtide's combinators.
//! * `echo_server`: a TCP echo server (`--addr`, `--workers`, `--verbose`) that stops
//!   cleanly on Ctrl-C or SIGTERM.
//! * `http_server`: hyper on ringtide, HTTP/1.1 and h2c on one port (`--addr`,
//!   `--workers`, `--driver`, `--header-read-timeout`), serving [`route`] with
//!   [`serve_http`]; try it with curl, wrk or h2load, stop it with Ctrl-C or SIGTERM.
//!
//! The echo server's parts live here so that `ringtide-bench echo --compare` serves with
//! exactly the same code:
//!
//! ```no_run
//! use std::sync::Arc;
//! use ringtide::net::TcpListener;
//! use ringtide_examples::{serve, ServeOptions, ServerStats, Shutdown};
//!
//! let shutdown = Shutdown::on_signals()?; // before any thread starts
//! let rt = ringtide::Runtime::new()?;
//! let listener = TcpListener::bind("127.0.0.1:7000")?;
//! let stats = Arc::new(ServerStats::default());
//! let stop = shutdown.clone();
//! let server = serve(listener, async move { stop.wait().await }, stats.clone(), ServeOptions::default());
//! rt.block_on(rt.spawn(server)).expect("the accept loop does not panic")?;
//! println!("{}", stats.summary());
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    clippy::undocumented_unsafe_blocks
)]

mod echo;
mod http;
mod shutdown;

// The Rust in the README and in docs/ compiles and runs as doc tests of this crate,
// which depends on every crate it uses.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../combinators/README.md")]
struct CombinatorsReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/ARCHITECTURE.md")]
struct ArchitectureDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/ASYNCIO.md")]
struct AsyncioDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/ECOSYSTEM.md")]
struct EcosystemDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/BENCHMARKS.md")]
struct BenchmarksDoctests;

pub use echo::{echo, echo_lent, serve, Echoed, ServeOptions, ServerStats, Summary, ECHO_BUFFER};
pub use http::{route, serve_http, HttpBody, HttpOptions, MAX_SLEEP_MS};
pub use shutdown::{Shutdown, Wait};
