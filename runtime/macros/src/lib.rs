//! The `#[ringtide::main]` and `#[ringtide::test]` attributes.
//!
//! Use them through the `ringtide` crate, which re-exports both; this crate is its
//! implementation detail and needs no dependency of its own. The expansion names
//! `::ringtide`, so the crate that uses the attributes must depend on ringtide under
//! that name.
//!
//! ```
//! #[ringtide::main(worker_threads = 2)]
//! async fn main() {
//!     let answer = ringtide::spawn(async { 6 * 7 }).await.expect("task panicked");
//!     assert_eq!(answer, 42);
//! }
//! ```

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod entry;
mod options;

use proc_macro::TokenStream;

use entry::Entry;

/// Runs an `async fn` on a new ringtide runtime: the function becomes a plain `fn` that
/// builds a `ringtide::Runtime` and passes its body to `Runtime::block_on`.
///
/// Written on `async fn main()`, it gives a program its runtime. The runtime lives as
/// long as `main`: dropping it at the end cancels the tasks still running and waits for
/// their I/O to finish.
///
/// ```
/// #[ringtide::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = ringtide::net::TcpListener::bind("127.0.0.1:0")?;
///     println!("listening on {}", listener.local_addr()?);
///     Ok(())
/// }
/// ```
///
/// # Options
///
/// | option | value | `Builder` call | default |
/// |---|---|---|---|
/// | `worker_threads` | an integer literal, at least 1 | `worker_threads(N)` | one per CPU |
/// | `pin` | `true` or `false` | `pin_workers(..)` | `true` |
/// | `driver` | `"auto"`, `"io_uring"` or `"epoll"` | `driver(Driver::..)` | `"auto"` |
///
/// The defaults are `Builder::new()`'s. The environment variable `RINGTIDE_DRIVER`
/// overrides `driver`, as it does for any runtime.
///
/// ```
/// #[ringtide::main(worker_threads = 2, pin = false, driver = "auto")]
/// async fn main() {
///     let start = ringtide::time::Instant::now();
///     ringtide::time::sleep(std::time::Duration::from_millis(1)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_millis(1));
/// }
/// ```
///
/// # Panics
///
/// If the runtime cannot be built (for instance `driver = "io_uring"` where io_uring is
/// blocked), with a message that starts `failed to build the ringtide runtime` and goes
/// on with the error's own message, which names the cause and what to do.
///
/// # Errors at compile time
///
/// The function must be `async`, take no arguments and have no generic parameters;
/// options must be known, given once, and have values of the right type. Each mistake
/// is reported at the token that is wrong, with what to write instead:
///
/// ```compile_fail
/// #[ringtide::main(worker_threads = 0)] // `worker_threads` must be at least 1
/// async fn main() {}
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Entry::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on its own ringtide runtime: the function becomes a `#[test]`
/// function that builds a runtime and passes its body to `Runtime::block_on`.
///
/// ```
/// #[ringtide::test]
/// async fn sleeps() {
///     let start = ringtide::time::Instant::now();
///     ringtide::time::sleep(std::time::Duration::from_millis(2)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_millis(2));
/// }
/// # fn main() {}
/// ```
///
/// Other attributes stay on the test (`#[should_panic]`, `#[ignore]`, `#[cfg(..)]`), and
/// the test may return a `Result`, as a `#[test]` function may:
///
/// ```
/// #[ringtide::test(worker_threads = 2)]
/// async fn binds() -> std::io::Result<()> {
///     let listener = ringtide::net::TcpListener::bind("127.0.0.1:0")?;
///     assert!(listener.local_addr()?.port() != 0);
///     Ok(())
/// }
///
/// #[ringtide::test]
/// #[should_panic(expected = "boom")]
/// async fn panics() {
///     ringtide::spawn(async {}).await.unwrap();
///     panic!("boom");
/// }
/// # fn main() {}
/// ```
///
/// # Options
///
/// The same as `#[ringtide::main]`'s, with other defaults: one worker, not pinned. The
/// test harness runs tests in parallel, each on its own thread and with its own runtime;
/// a worker per CPU for each would start (tests running) x (CPUs) threads, and pinning
/// them would put every runtime's first worker on the same CPU. Ask for more where a
/// test needs tasks to run in parallel (`worker_threads = 4`), and run the tests on both
/// drivers, with `RINGTIDE_DRIVER=epoll` as well as without.
///
/// # Errors at compile time
///
/// As for `#[ringtide::main]`; and a `#[test]` of its own on the function is an error,
/// since this attribute already adds one.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Entry::Test, args.into(), item.into()).into()
}
