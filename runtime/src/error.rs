//! Typed errors for problems in the environment rather than in the program.
//!
//! Building a [`Runtime`](crate::Runtime) returns an [`io::Error`] so that callers can use
//! `?` in any `io::Result` context; when the cause is the environment (io_uring missing,
//! blocked or starved of locked memory, no descriptor or thread left for a worker) the
//! error wraps a [`SetupError`] that names the cause and what to do, and can be inspected
//! with [`io::Error::get_ref`].

use std::fmt;
use std::io;

/// What stopped the runtime from setting up its workers: their io_uring rings, wake-up
/// eventfds or threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupErrorKind {
    /// `io_uring_setup` failed with `EPERM`: a seccomp filter (Docker's default profile),
    /// an LSM policy or `kernel.io_uring_disabled` forbids io_uring for this process.
    Denied,
    /// `io_uring_setup` failed with `ENOSYS`: the kernel (or sandbox, such as gVisor) has no
    /// io_uring.
    Unsupported,
    /// `io_uring_setup` failed with `ENOMEM`: on kernels before 5.12 ring memory is charged
    /// to `RLIMIT_MEMLOCK`, and the limit is too low for the requested ring size.
    MemlockLimit,
    /// The process or the system ran out of file descriptors.
    TooManyOpenFiles,
    /// A worker thread could not be created (`EAGAIN`): the process or user reached a
    /// limit on threads (`RLIMIT_NPROC`, a cgroup's `pids.max`, `kernel.threads-max`) or
    /// on the memory for their stacks (`RLIMIT_AS`).
    ThreadLimit,
    /// The kernel has io_uring but lacks an operation the runtime needs.
    MissingOpcode,
    /// Any other failure; the message carries the OS error.
    Other,
}

/// An environment problem found while building a runtime.
///
/// Its message says what happened and what to do about it.
///
/// # Examples
///
/// ```
/// match ringtide::Runtime::new() {
///     Ok(_runtime) => {}
///     Err(err) => {
///         if let Some(setup) = err.get_ref().and_then(|e| e.downcast_ref::<ringtide::SetupError>()) {
///             eprintln!("io_uring is not usable here ({:?}): {setup}", setup.kind());
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct SetupError {
    kind: SetupErrorKind,
    message: String,
    source: Option<io::Error>,
}

impl SetupError {
    /// The category of the problem.
    pub fn kind(&self) -> SetupErrorKind {
        self.kind
    }

    /// The OS error behind the problem (as [`io::Error::raw_os_error`] gives it), if
    /// it came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.as_ref().and_then(io::Error::raw_os_error)
    }

    pub(crate) fn missing_opcode(name: &str) -> io::Error {
        let err = SetupError {
            kind: SetupErrorKind::MissingOpcode,
            message: format!(
                "the kernel's io_uring does not support {name}, which ringtide needs; \
                 upgrade to a newer kernel (5.6 or later has every operation ringtide uses)"
            ),
            source: None,
        };
        io::Error::new(io::ErrorKind::Unsupported, err)
    }

    /// Turns the error returned by `io_uring_setup` into one that explains itself.
    pub(crate) fn from_ring_setup(err: io::Error, entries: u32) -> io::Error {
        let errno = err.raw_os_error().unwrap_or(0);
        let (kind, io_kind, message) = match errno {
            libc::EPERM => (
                SetupErrorKind::Denied,
                io::ErrorKind::PermissionDenied,
                denied_message(),
            ),
            libc::ENOSYS => (
                SetupErrorKind::Unsupported,
                io::ErrorKind::Unsupported,
                "io_uring_setup failed with ENOSYS: this kernel has no io_uring (it is older \
                 than 5.1, was built without CONFIG_IO_URING, or is a sandbox such as gVisor \
                 that does not implement it); run on Linux 5.6 or later with io_uring enabled, or \
                 use the epoll driver (Driver::Auto, the default, or Driver::Epoll)"
                    .to_string(),
            ),
            libc::ENOMEM => (
                SetupErrorKind::MemlockLimit,
                io::ErrorKind::OutOfMemory,
                memlock_message(entries),
            ),
            libc::EMFILE | libc::ENFILE => (
                SetupErrorKind::TooManyOpenFiles,
                io::ErrorKind::Other,
                "io_uring_setup failed: too many open files (each worker needs a ring fd and \
                 an eventfd); raise the limit with `ulimit -n` or use fewer worker threads"
                    .to_string(),
            ),
            _ => (
                SetupErrorKind::Other,
                err.kind(),
                format!("io_uring_setup failed with {entries} entries: {err}"),
            ),
        };
        io::Error::new(
            io_kind,
            SetupError {
                kind,
                message,
                source: Some(err),
            },
        )
    }
}

/// A resource every worker needs, created by `Builder::build`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WorkerResource {
    /// The eventfd that wakes the worker when it sleeps in its ring.
    Eventfd,
    /// The worker's thread.
    Thread,
}

impl SetupError {
    /// Turns the error of creating `resource` for worker `worker` into one that says
    /// what was being created, for which worker, and what to do. The returned error has
    /// `err`'s kind, and `err` as its source.
    pub(crate) fn creating(resource: WorkerResource, worker: usize, err: io::Error) -> io::Error {
        let what = match resource {
            WorkerResource::Eventfd => "the wake-up eventfd",
            WorkerResource::Thread => "the thread",
        };
        let (kind, advice) = match (resource, err.raw_os_error()) {
            (_, Some(libc::EMFILE)) => (
                SetupErrorKind::TooManyOpenFiles,
                "raise the open-file limit (ulimit -n) or build fewer workers",
            ),
            (_, Some(libc::ENFILE)) => (
                SetupErrorKind::TooManyOpenFiles,
                "the whole system is out of file descriptors: raise fs.file-max, close \
                 files elsewhere, or build fewer workers",
            ),
            (WorkerResource::Thread, Some(libc::EAGAIN)) => (
                SetupErrorKind::ThreadLimit,
                "the process reached a limit on threads or on memory for their stacks: \
                 raise it (ulimit -u, ulimit -v, the cgroup's pids.max, \
                 kernel.threads-max) or build fewer workers",
            ),
            (_, Some(libc::ENOMEM)) => (
                SetupErrorKind::Other,
                "the system is short of memory: free some or build fewer workers",
            ),
            _ => (
                SetupErrorKind::Other,
                "check the process's resource limits (ulimit -a), or build fewer workers",
            ),
        };
        io::Error::new(
            err.kind(),
            SetupError {
                kind,
                message: format!("creating {what} of worker {worker}: {err}; {advice}"),
                source: Some(err),
            },
        )
    }
}

fn denied_message() -> String {
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let cause = match sysctl {
        Some(2) => "the sysctl kernel.io_uring_disabled is 2, which disables io_uring for \
                    every process; set it to 0 (`sysctl kernel.io_uring_disabled=0`)"
            .to_string(),
        Some(1) => "the sysctl kernel.io_uring_disabled is 1, which allows io_uring only for \
                    members of kernel.io_uring_group; add this user to that group or set \
                    kernel.io_uring_disabled=0"
            .to_string(),
        _ => "kernel.io_uring_disabled allows io_uring, so a seccomp filter or security \
              policy is blocking it (Docker's default seccomp profile does); run the \
              container with a profile that allows io_uring_setup, io_uring_enter and \
              io_uring_register (for example `--security-opt seccomp=unconfined`)"
            .to_string(),
    };
    format!(
        "io_uring_setup failed with EPERM (operation not permitted): {cause}. \
         Causes to check: a seccomp filter (Docker's default profile blocks io_uring), \
         the sysctl kernel.io_uring_disabled, or an LSM policy. To run without io_uring, \
         build the runtime with Driver::Auto (the default) or Driver::Epoll, or set \
         RINGTIDE_DRIVER=epoll"
    )
}

fn memlock_message(entries: u32) -> String {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid, properly aligned struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } == 0;
    let current = if ok {
        if limit.rlim_cur == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            format!("{} KiB", limit.rlim_cur / 1024)
        }
    } else {
        "unknown".to_string()
    };
    format!(
        "io_uring_setup failed with ENOMEM for a ring of {entries} entries: kernels before \
         5.12 charge ring memory to RLIMIT_MEMLOCK (currently {current}); raise it with \
         `ulimit -l`, systemd's LimitMEMLOCK=, or Docker's `--ulimit memlock=-1`, or build \
         the runtime with smaller `ring_entries`"
    )
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup_error(err: &io::Error) -> &SetupError {
        err.get_ref()
            .and_then(|e| e.downcast_ref::<SetupError>())
            .expect("wraps a SetupError")
    }

    #[test]
    fn a_thread_limit_names_the_worker_and_the_limits() {
        let os = io::Error::from_raw_os_error(libc::EAGAIN);
        let err = SetupError::creating(WorkerResource::Thread, 3, os);
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "the OS error's kind");
        let setup = setup_error(&err);
        assert_eq!(setup.kind(), SetupErrorKind::ThreadLimit);
        assert_eq!(setup.raw_os_error(), Some(libc::EAGAIN));
        let msg = err.to_string();
        for words in [
            "creating the thread of worker 3",
            "os error 11",
            "ulimit -u",
            "fewer workers",
        ] {
            assert!(msg.contains(words), "{words:?} missing from {msg:?}");
        }
    }

    #[test]
    fn running_out_of_descriptors_says_to_raise_the_limit() {
        let os = io::Error::from_raw_os_error(libc::EMFILE);
        let os_kind = os.kind();
        let err = SetupError::creating(WorkerResource::Eventfd, 1, os);
        assert_eq!(err.kind(), os_kind);
        let setup = setup_error(&err);
        assert_eq!(setup.kind(), SetupErrorKind::TooManyOpenFiles);
        assert_eq!(setup.raw_os_error(), Some(libc::EMFILE));
        assert_eq!(
            err.to_string(),
            "creating the wake-up eventfd of worker 1: Too many open files (os error 24); \
             raise the open-file limit (ulimit -n) or build fewer workers"
        );
    }
}
