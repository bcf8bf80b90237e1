//! Where a file operation runs, and how its errors name what failed.
//!
//! # Ring or blocking pool
//!
//! A regular file is always "ready" to `poll` and epoll, so a readiness driver cannot
//! make file I/O asynchronous; only a ring that runs the operation's opcode can. So the
//! decision is made here, before a request is built, once per operation:
//!
//! 1. [`context::ring_runs`] says whether the current runtime's rings have the opcode
//!    (probed once when the runtime was built, less what `RINGTIDE_IO_URING_WITHOUT`
//!    names). If so, the operation becomes an [`Op`] on the ring of the worker that
//!    polls it, with its buffers owned by the request until the completion.
//! 2. Otherwise (the epoll driver, an older kernel) it runs as one blocking system call
//!    ([`Operation::attempt`]) on the runtime's blocking pool, as tokio::fs does, and its
//!    output is built from that call's result exactly as from a completion.
//!
//! Either way a file operation never reaches a driver's readiness path: its
//! [`Operation::readiness`] is never asked for, and its `attempt` runs only on a
//! blocking-pool thread, where blocking is what the thread is for.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::context;
use crate::driver::op::{Completion, Interest, Operation, Readiness};
use crate::op::Op;
use crate::task::spawn_blocking;

/// Runs `op` on the current runtime's ring if the ring has its opcode, else on the
/// blocking pool (see the module docs).
pub(crate) async fn run<T>(op: T) -> T::Output
where
    T: Operation,
    T::Output: Send + 'static,
{
    if context::ring_runs(T::OPCODE) {
        return Op::new(op).await;
    }
    run_blocking(op).await
}

/// Runs `op` as one blocking system call on the blocking pool.
async fn run_blocking<T>(op: T) -> T::Output
where
    T: Operation,
    T::Output: Send + 'static,
{
    if context::with_runtime(|shared| shared.is_none()) {
        return op.complete(Err(outside_runtime()));
    }
    // The operation stays reachable from here until the job takes it: a job cancelled
    // before it starts (the runtime is shutting down) gives it back, buffer and all.
    let slot = Arc::new(Mutex::new(Some(op)));
    let job_slot = slot.clone();
    let job = spawn_blocking(move || {
        let mut op = job_slot
            .lock()
            .unwrap()
            .take()
            .expect("a file operation runs once");
        let result = loop {
            let result = op.attempt();
            if result != -libc::EINTR {
                break result;
            }
        };
        op.complete(Ok(Completion { result, flags: 0 }))
    });
    match job.await {
        Ok(output) => output,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => {
            let op = slot
                .lock()
                .unwrap()
                .take()
                .expect("a cancelled job never took its operation");
            op.complete(Err(io::Error::other(
                "the ringtide runtime is shutting down: the file operation did not run",
            )))
        }
    }
}

fn outside_runtime() -> io::Error {
    io::Error::other(
        "ringtide I/O used outside a ringtide runtime: \
         await it inside a task or inside Runtime::block_on",
    )
}

/// What a file operation waits for under a readiness driver: nothing, since the `fs`
/// layer never gives it one (see the module docs). `fd` is the file's descriptor, or -1
/// for an operation on a path.
pub(crate) fn no_readiness(fd: i32, key: u64) -> Readiness {
    Readiness {
        fd,
        key,
        interest: Interest::Read,
        seen_not_ready: None,
    }
}

/// A system call's return as a completion carries it: the count or descriptor, or the
/// negated errno.
pub(crate) fn syscall_result(rc: i64) -> i32 {
    if rc < 0 {
        -io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        rc.min(i32::MAX as i64) as i32
    }
}

/// Largest length one request takes: a completion's count is an `i32`, and Linux moves
/// at most `0x7fff_f000` bytes per call anyway.
pub(crate) fn max_len(len: usize) -> usize {
    len.min(0x7fff_f000)
}

/// An OS error with what was being done when it happened: `open /x/y: No such file or
/// directory (os error 2)`. The [`io::ErrorKind`] is the OS error's; the OS error itself
/// is this error's [`source`](std::error::Error::source).
#[derive(Debug)]
struct PathError {
    what: String,
    source: io::Error,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `error`, saying that it came from `op` on `path`.
pub(crate) fn path_error(error: io::Error, op: &str, path: &Path) -> io::Error {
    annotate(error, format!("{op} {}", path.display()))
}

/// `error`, saying that it came from `op` from `from` to `to` (rename, link).
pub(crate) fn two_path_error(error: io::Error, op: &str, from: &Path, to: &Path) -> io::Error {
    annotate(
        error,
        format!("{op} {} to {}", from.display(), to.display()),
    )
}

/// `error`, saying that it came from `what`.
pub(crate) fn annotate(error: io::Error, what: String) -> io::Error {
    io::Error::new(
        error.kind(),
        PathError {
            what,
            source: error,
        },
    )
}

/// The OS error a file error carries: its own, or that of the error it annotates.
#[cfg(test)]
pub(crate) fn raw_os_error(error: &io::Error) -> Option<i32> {
    error.raw_os_error().or_else(|| {
        let inner = error.get_ref()?.downcast_ref::<PathError>()?;
        inner.source.raw_os_error()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_annotated_error_keeps_its_kind_and_source() {
        let e = path_error(
            io::Error::from_raw_os_error(libc::ENOENT),
            "open",
            Path::new("/x/y"),
        );
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            format!("open /x/y: {}", io::Error::from_raw_os_error(libc::ENOENT))
        );
        assert_eq!(raw_os_error(&e), Some(libc::ENOENT));
        let source = std::error::Error::source(e.get_ref().unwrap()).unwrap();
        assert!(source.to_string().contains("os error 2"));
    }

    #[test]
    fn a_two_path_error_names_both() {
        let e = two_path_error(
            io::Error::from_raw_os_error(libc::EXDEV),
            "rename",
            Path::new("/a"),
            Path::new("/b"),
        );
        assert!(e.to_string().starts_with("rename /a to /b: "), "{e}");
    }

    #[test]
    fn syscall_results_carry_the_errno() {
        assert_eq!(syscall_result(5), 5);
        assert_eq!(syscall_result(i64::MAX), i32::MAX);
        // SAFETY: close of an invalid descriptor touches no memory.
        let rc = unsafe { libc::close(-1) };
        assert_eq!(syscall_result(rc.into()), -libc::EBADF);
    }
}
