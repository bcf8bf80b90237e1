//! What a worker's driver counts: its calls into the kernel, the requests it hands over
//! and the completions it takes back.
//!
//! Plain integers in the driver, which only its worker thread touches: counting costs an
//! add, never an atomic. The worker publishes a copy for other threads once per round
//! (see [`crate::metrics`]).

/// Counters of one driver since it was built. What each counts on either driver is said
/// on [`WorkerMetrics`](crate::metrics::WorkerMetrics), which carries them out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IoCounts {
    /// `io_uring_enter` calls; `epoll_wait` (or `epoll_pwait2`) calls.
    pub(crate) enters: u64,
    /// Submission queue entries pushed; requests started on epoll.
    pub(crate) submitted: u64,
    /// Completion queue entries reaped; requests completed on epoll.
    pub(crate) completions: u64,
    /// Every system call the driver made, `enters` included.
    pub(crate) syscalls: u64,
}

impl IoCounts {
    /// Counts one call into the kernel that waits for or collects completions.
    #[inline]
    pub(crate) fn enter(&mut self) {
        self.enters += 1;
        self.syscalls += 1;
    }

    /// Counts a system call that is not an enter (a direct attempt, `epoll_ctl`, a
    /// close).
    #[inline]
    pub(crate) fn syscall(&mut self) {
        self.syscalls += 1;
    }
}
