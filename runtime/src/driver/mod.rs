//! The I/O edge of a worker: an io_uring ring, or an epoll instance where io_uring is
//! missing or blocked, behind one type the scheduler calls ([`IoDriver`]).
//!
//! Everything else is shared by both: the workers, their queues and stealing, the timer
//! wheels, the task pools. A worker hands its driver requests ([`OpRef`]s) to run,
//! requests to cancel and descriptors to close; it polls the driver for completions
//! between tasks, and parks in it with its nearest timer deadline as the timeout. A write
//! to the worker's eventfd, from any thread, ends the park. Both drivers keep every
//! request's memory alive until the request is finished with (see [`op`]).
//!
//! This layer imports nothing from the scheduler or the task context: the scheduler owns
//! the drivers and calls them, and the future that routes a request to a worker's driver
//! lives above ([`crate::op`]).

pub(crate) mod buf_ring;
mod counts;
pub(crate) mod epoll;
pub(crate) mod multishot;
pub(crate) mod op;
pub(crate) mod op_state;
mod op_table;
pub(crate) mod uring;

use std::fmt;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::task::Waker;
use std::time::Duration;

pub(crate) use counts::IoCounts;
use op::OpRef;

/// Which I/O driver a runtime uses; set with
/// [`Builder::driver`](crate::Builder::driver), read with
/// [`Runtime::driver`](crate::Runtime::driver).
///
/// The environment variable `RINGTIDE_DRIVER` (`io_uring`, `epoll` or `auto`) overrides
/// the builder's choice for every runtime of the process.
///
/// ```
/// use ringtide::{Builder, Driver};
///
/// // Auto (the default) picks io_uring where the kernel allows it, epoll elsewhere.
/// let rt = Builder::new().worker_threads(1).build()?;
/// assert_ne!(rt.driver(), Driver::Auto);
///
/// // epoll works everywhere: as in a container whose seccomp profile blocks io_uring.
/// # if std::env::var_os("RINGTIDE_DRIVER").is_none() {
/// let rt = Builder::new().worker_threads(1).driver(Driver::Epoll).build()?;
/// assert_eq!(rt.driver(), Driver::Epoll);
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Driver {
    /// io_uring where this process may set up a ring with the operations ringtide needs,
    /// else epoll (Docker's and containerd's default seccomp profiles, gVisor,
    /// `kernel.io_uring_disabled`, kernels before 5.6). Fails only if neither works, with
    /// an error naming both causes.
    #[default]
    Auto,
    /// io_uring only: building the runtime fails, naming the cause, where it is not
    /// available.
    IoUring,
    /// epoll (readiness) only, with timers as precise as io_uring's (`epoll_pwait2` on
    /// 5.11+, else a timerfd).
    Epoll,
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::Auto => "auto",
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        })
    }
}

impl std::str::FromStr for Driver {
    type Err = io::Error;

    /// Reads `auto`, `io_uring` (or `io-uring`, `uring`) and `epoll`, in any case.
    fn from_str(s: &str) -> io::Result<Driver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Driver::Auto),
            "io_uring" | "io-uring" | "iouring" | "uring" => Ok(Driver::IoUring),
            "epoll" => Ok(Driver::Epoll),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown ringtide driver `{other}`: expected io_uring, epoll or auto"),
            )),
        }
    }
}

/// The driver a runtime will use, and why io_uring was passed over if it was.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    /// `IoUring` or `Epoll`, never `Auto`.
    pub(crate) driver: Driver,
    /// Under `Auto`, why io_uring was not used.
    pub(crate) io_uring_error: Option<String>,
    /// The opcodes the rings run themselves (as in
    /// [`Features::opcodes`](uring::Features)); 0 on epoll.
    pub(crate) ring_opcodes: u64,
    /// Which multishot requests the rings run (none on epoll).
    pub(crate) multishot: Multishot,
    /// How each ring's receive buffers are sized; set by the builder.
    pub(crate) recv_buffers: buf_ring::RecvBufferConfig,
}

/// Which multishot requests a runtime's rings run themselves, as probed once when it is
/// built; where one is missing, its callers use one-shot requests instead.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Multishot {
    /// Multishot receive into provided buffers (6.0+).
    pub(crate) recv: bool,
    /// Multishot accept (5.19+).
    pub(crate) accept: bool,
}

impl Multishot {
    fn of(features: &uring::Features) -> Multishot {
        Multishot {
            recv: features.recv_multishot,
            accept: features.accept_multishot,
        }
    }
}

/// Resolves `requested` (or `RINGTIDE_DRIVER`, which overrides it) to the driver the
/// workers will build, checking that it works here.
pub(crate) fn select(requested: Driver, ring_entries: u32) -> io::Result<Selection> {
    let requested = match std::env::var("RINGTIDE_DRIVER") {
        Ok(value) if !value.trim().is_empty() => value.parse().map_err(|e: io::Error| {
            io::Error::new(e.kind(), format!("RINGTIDE_DRIVER={value}: {e}"))
        })?,
        _ => requested,
    };
    match requested {
        Driver::IoUring => {
            let features = uring::probe(ring_entries)?;
            Ok(Selection {
                driver: Driver::IoUring,
                io_uring_error: None,
                ring_opcodes: features.opcodes,
                multishot: Multishot::of(&features),
                recv_buffers: Default::default(),
            })
        }
        Driver::Epoll => {
            epoll::probe()?;
            Ok(Selection {
                driver: Driver::Epoll,
                io_uring_error: None,
                ring_opcodes: 0,
                multishot: Multishot::default(),
                recv_buffers: Default::default(),
            })
        }
        Driver::Auto => match uring::probe(ring_entries) {
            Ok(features) => Ok(Selection {
                driver: Driver::IoUring,
                io_uring_error: None,
                ring_opcodes: features.opcodes,
                multishot: Multishot::of(&features),
                recv_buffers: Default::default(),
            }),
            Err(ring_error) => match epoll::probe() {
                Ok(()) => Ok(Selection {
                    driver: Driver::Epoll,
                    io_uring_error: Some(ring_error.to_string()),
                    ring_opcodes: 0,
                    multishot: Multishot::default(),
                    recv_buffers: Default::default(),
                }),
                Err(epoll_error) => Err(io::Error::new(
                    ring_error.kind(),
                    format!(
                        "no I/O driver works here: io_uring: {ring_error}; \
                         epoll: {epoll_error}"
                    ),
                )),
            },
        },
    }
}

/// One worker's I/O driver.
// One per worker, built once and kept in place: boxing the larger variant would only add
// an indirection to every call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum IoDriver {
    Uring(uring::Ring),
    Epoll(epoll::Poller),
}

impl IoDriver {
    /// Builds the driver `selection` chose, watching `eventfd`; on the worker's thread.
    pub(crate) fn new(
        selection: &Selection,
        ring_entries: u32,
        eventfd: RawFd,
    ) -> io::Result<IoDriver> {
        match selection.driver {
            Driver::Epoll => epoll::Poller::new(eventfd).map(IoDriver::Epoll),
            _ => uring::Ring::new(ring_entries, eventfd, &selection.recv_buffers)
                .map(IoDriver::Uring),
        }
    }

    /// What the driver has counted since it was built (system calls, requests,
    /// completions).
    pub(crate) fn counts(&self) -> IoCounts {
        match self {
            IoDriver::Uring(ring) => ring.counts(),
            IoDriver::Epoll(poller) => poller.counts(),
        }
    }

    /// How the driver was set up, for `Runtime`'s `Debug` output.
    pub(crate) fn description(&self) -> String {
        match self {
            IoDriver::Uring(ring) => format!("io_uring ({})", ring.features().setup),
            IoDriver::Epoll(poller) => format!("epoll ({})", poller.timer_kind()),
        }
    }

    /// Submits what is queued and takes what has completed, without blocking.
    pub(crate) fn poll(&mut self) -> io::Result<()> {
        match self {
            IoDriver::Uring(ring) => ring.poll(),
            IoDriver::Epoll(poller) => poller.poll(),
        }
    }

    /// As [`poll`](Self::poll) without any system call (but the one that flushes a
    /// completion queue the kernel overflowed): takes the completions a ring already has
    /// in its (shared memory) completion queue, and nothing on epoll, which can only be
    /// asked with a system call. For a worker about to park, whose park asks
    /// anyway, and submits what is queued in the same call.
    pub(crate) fn poll_if_free(&mut self) -> io::Result<()> {
        match self {
            IoDriver::Uring(ring) => {
                ring.reap_ready();
                Ok(())
            }
            IoDriver::Epoll(_) => Ok(()),
        }
    }

    /// Hands the kernel what is queued (a ring's submission queue, and the completions
    /// it defers until asked), for a worker that will not park this round; nothing on
    /// epoll, which starts each request as it is submitted.
    pub(crate) fn submit_queued(&mut self) -> io::Result<()> {
        match self {
            IoDriver::Uring(ring) => ring.poll(),
            IoDriver::Epoll(_) => Ok(()),
        }
    }

    /// Blocks until a completion, a wake-up on the eventfd, or `timeout` (`None`: none).
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            IoDriver::Uring(ring) => ring.park(timeout),
            IoDriver::Epoll(poller) => poller.park(timeout),
        }
    }

    /// Moves the wakers of requests completed since the last call into `into`.
    pub(crate) fn take_woken(&mut self, into: &mut Vec<Waker>) {
        match self {
            IoDriver::Uring(ring) => ring.take_woken(into),
            IoDriver::Epoll(poller) => poller.take_woken(into),
        }
    }

    /// Starts a request; the driver holds `op` until the request is finished.
    pub(crate) fn submit(&mut self, op: OpRef) -> io::Result<()> {
        match self {
            IoDriver::Uring(ring) => ring.submit(op),
            IoDriver::Epoll(poller) => poller.submit(op),
        }
    }

    /// The readiness driver's [epoch](epoll::Poller::epoch); `None` for a ring, which
    /// checks readiness itself when a wait is armed.
    pub(crate) fn readiness_epoch(&self) -> Option<epoll::Epoch> {
        match self {
            IoDriver::Uring(_) => None,
            IoDriver::Epoll(poller) => Some(poller.epoch()),
        }
    }

    /// Cancels a request of this driver whose future was dropped, if it is still running.
    pub(crate) fn cancel(&mut self, op: &OpRef) -> io::Result<()> {
        match self {
            IoDriver::Uring(ring) => ring.cancel(op),
            IoDriver::Epoll(poller) => {
                poller.cancel(op);
                Ok(())
            }
        }
    }

    /// Closes a descriptor that no request uses any more.
    pub(crate) fn close(&mut self, fd: RawFd) -> io::Result<()> {
        match self {
            IoDriver::Uring(ring) => ring.close(fd),
            IoDriver::Epoll(poller) => {
                poller.close(fd);
                Ok(())
            }
        }
    }
}

impl fmt::Debug for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoDriver::Uring(ring) => ring.fmt(f),
            IoDriver::Epoll(poller) => poller.fmt(f),
        }
    }
}

/// A cap on each wait in the kernel, needed under valgrind (found through the
/// `LD_PRELOAD` of its preload libraries): valgrind runs one thread at a time and does
/// not know that `io_uring_enter` or `epoll_wait` blocks, so a thread waiting there would
/// keep every other thread of the process from running. Short waits let them take turns.
fn longest_wait() -> Option<Duration> {
    let preload = std::env::var_os("LD_PRELOAD")?;
    preload
        .to_string_lossy()
        .contains("vgpreload")
        .then_some(Duration::from_millis(1))
}

/// Creates the eventfd that wakes a parked worker.
///
/// It is blocking on purpose: io_uring then arms a poll for the read instead of failing
/// it with `EAGAIN`. (The epoll driver never reads it.)
pub(crate) fn new_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Makes a parked worker's driver wait return.
pub(crate) fn wake_eventfd(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid local. The result is ignored on purpose: the
    // only failure for a valid eventfd is EAGAIN at a counter near u64::MAX, which still
    // leaves it readable, so the wake-up is delivered either way.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}
