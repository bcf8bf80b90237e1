//! The readiness driver: one epoll instance per worker, for where io_uring is missing or
//! blocked.
//!
//! # Running a request
//!
//! 1. [`Poller::submit`] tries the request's system call at once, without blocking
//!    ([`Operation::attempt`](super::op::Operation::attempt)). Most receives on a busy
//!    connection and most sends finish here, with no epoll call at all. (A descriptor
//!    this driver watches and last found not ready in that direction is not tried: the
//!    call could only fail with `EAGAIN` until the next edge. A stream read or write
//!    shorter than asked for counts as finding it not ready: it emptied the socket's
//!    receive buffer, or filled its send buffer.)
//! 2. If the descriptor is not ready (`EAGAIN`), the request joins its descriptor's
//!    readers or writers, and the descriptor is registered with this epoll instance if it
//!    is not yet: edge-triggered, for reading and writing at once, for as long as it is
//!    open (one `epoll_ctl` per descriptor and worker, not one per request).
//! 3. When epoll reports the descriptor ready, the waiting requests of that direction are
//!    tried again in the order they came, until one finds it not ready; the others wait
//!    for the next edge.
//!
//! # Why no readiness is lost
//!
//! An edge is reported when data (or room, or a connection) arrives after the last
//! report. A request that found the descriptor not ready joins the list on this thread
//! before the thread next waits, so whatever arrived after its attempt is an edge that
//! wait reports; and registering a descriptor that is already ready reports it at once.
//! An edge reported while no request waits marks the direction ready, so the next
//! request tries before it waits; only an attempt that fails with `EAGAIN` marks it not
//! ready, and every arrival after that attempt is an edge still to be reported.
//!
//! A caller may find a descriptor not ready with its own system call (the poll-style
//! reads and writes do: an `EAGAIN`, or a stream read or write shorter than asked for)
//! and then submit a wait that takes nothing
//! ([`Operation::WAIT_ONLY`](super::op::Operation::WAIT_ONLY)). If it read the driver's
//! [epoch](Poller::epoch) before that call and no wait has ended since, the same
//! argument holds for its call, and the wait is queued without an attempt; otherwise
//! the wait's attempt is a `poll(2)` of the descriptor. A short read proves less than an
//! `EAGAIN`: the peer's end of stream may already be queued behind the bytes it
//! returned, its edge reported with theirs. So a direction once reported closed is
//! always tried. An edge completes every wait
//! queued in its direction, with no system call, and goes on to the requests behind them.
//!
//! # Descriptor numbers
//!
//! A closed descriptor leaves its epoll registrations by itself, and its number may be
//! reused for a new socket. Each descriptor carries a key that is never reused
//! ([`Readiness::key`](super::op::Readiness)); a request whose key differs from the one
//! registered under its number registers the new descriptor.
//!
//! # Cancellation and memory
//!
//! A request's buffer is touched only during its system calls, on this driver's thread.
//! Cancelling a request takes it off its list and completes it with `ECANCELED`, so the
//! future's side of the protocol ([`op_state`](super::op_state)) is the same as with
//! io_uring. A request whose future is gone is never tried again (a retried accept would
//! take a connection nobody receives).
//!
//! # Timers
//!
//! The park timeout has nanosecond resolution: `epoll_pwait2` (5.11+) takes a timespec;
//! on older kernels a timerfd in the epoll set is armed with the timeout, and the wait
//! itself has none.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::time::Duration;

use super::counts::IoCounts;
use super::op::{Completion, Interest, OpRef, Readiness};

/// Epoll data of the worker's eventfd; every other value is a descriptor number.
const EVENTFD_TOKEN: u64 = u64::MAX;
/// Epoll data of the timerfd (kernels without `epoll_pwait2`).
const TIMERFD_TOKEN: u64 = u64::MAX - 1;
/// Events taken per wait.
const EVENTS_PER_WAIT: usize = 256;

/// Checks that this process can create an epoll instance.
pub(crate) fn probe() -> io::Result<()> {
    new_epoll().map(drop)
}

fn new_epoll() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("epoll_create1: {e}")));
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// How a park's timeout reaches the kernel.
enum Timer {
    /// `epoll_pwait2` with a timespec (5.11+).
    Pwait2,
    /// A timerfd in the epoll set, armed before each wait with a timeout.
    Timerfd(OwnedFd),
}

/// The requests waiting for one descriptor.
#[derive(Default)]
struct Registration {
    /// Key of the descriptor registered under this number; 0: none.
    key: u64,
    /// Whether an attempt to read (write) may find the descriptor ready: cleared when
    /// one finds it not ready, set by the next edge. A request that would only get
    /// `EAGAIN` waits without trying.
    read_ready: bool,
    write_ready: bool,
    /// The peer closed its side, or the socket failed: every later read (write) ends at
    /// once, with the end of stream or the error, and no further edge will say so, so
    /// the direction stays ready for good.
    read_closed: bool,
    write_closed: bool,
    readers: Vec<OpRef>,
    writers: Vec<OpRef>,
}

impl Registration {
    fn is_ready(&self, interest: Interest) -> bool {
        match interest {
            Interest::Read => self.read_ready,
            Interest::Write => self.write_ready,
        }
    }

    /// Whether an end of stream or an error was reported in this direction.
    fn is_closed(&self, interest: Interest) -> bool {
        match interest {
            Interest::Read => self.read_closed,
            Interest::Write => self.write_closed,
        }
    }

    /// Records whether `interest` may find the descriptor ready; a closed direction
    /// stays ready.
    fn set_ready(&mut self, interest: Interest, ready: bool) {
        match interest {
            Interest::Read => self.read_ready = ready || self.read_closed,
            Interest::Write => self.write_ready = ready || self.write_closed,
        }
    }

    fn waiting(&mut self, interest: Interest) -> &mut Vec<OpRef> {
        match interest {
            Interest::Read => &mut self.readers,
            Interest::Write => &mut self.writers,
        }
    }
}

/// One worker's epoll instance and the requests waiting in it.
pub(crate) struct Poller {
    epoll: OwnedFd,
    timer: Timer,
    /// By descriptor number.
    registrations: Vec<Registration>,
    /// Requests on the lists.
    waiting: usize,
    events: Vec<libc::epoll_event>,
    /// Wakers of requests that completed, for the worker to wake once the driver is no
    /// longer borrowed (a woken future may submit or cancel requests).
    woken: Vec<Waker>,
    /// Longest single wait (see [`super::longest_wait`]).
    max_wait: Option<Duration>,
    /// Names the last wait that ended (see [`epoch`](Self::epoch)).
    epoch: Epoch,
    counts: IoCounts,
}

/// A moment in one poller's life: the wait it ended last, named by a number no other
/// wait of any poller in the process has. A caller may carry one from one poll of a
/// future to the next, which may run on another worker; there it never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Epoch(u64);

impl Epoch {
    /// A number no poller has used: one atomic add per wait, beside the system call
    /// that ended it.
    fn next() -> Epoch {
        static WAITS: AtomicU64 = AtomicU64::new(0);
        Epoch(WAITS.fetch_add(1, Ordering::Relaxed))
    }
}

impl Poller {
    /// An epoll instance that watches `eventfd` (whose writes end a park).
    pub(crate) fn new(eventfd: RawFd) -> io::Result<Poller> {
        Poller::with_timerfd(eventfd, false)
    }

    /// As [`new`](Self::new); `timerfd` makes it time parks with a timerfd even where
    /// `epoll_pwait2` exists, as on kernels before 5.11.
    fn with_timerfd(eventfd: RawFd, timerfd: bool) -> io::Result<Poller> {
        let epoll = new_epoll()?;
        add(
            &epoll,
            eventfd,
            libc::EPOLLIN | libc::EPOLLET,
            EVENTFD_TOKEN,
        )?;
        let timer = if !timerfd && has_epoll_pwait2(&epoll) {
            Timer::Pwait2
        } else {
            // SAFETY: timerfd_create takes no pointers.
            let fd = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
                )
            };
            if fd < 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(e.kind(), format!("timerfd_create: {e}")));
            }
            // SAFETY: a fresh descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            add(
                &epoll,
                fd.as_raw_fd(),
                libc::EPOLLIN | libc::EPOLLET,
                TIMERFD_TOKEN,
            )?;
            Timer::Timerfd(fd)
        };
        Ok(Poller {
            epoll,
            timer,
            registrations: Vec::new(),
            waiting: 0,
            events: Vec::with_capacity(EVENTS_PER_WAIT),
            woken: Vec::new(),
            max_wait: super::longest_wait(),
            epoch: Epoch::next(),
            counts: IoCounts::default(),
        })
    }

    /// How park timeouts reach the kernel, for `Debug` output.
    pub(crate) fn timer_kind(&self) -> &'static str {
        match self.timer {
            Timer::Pwait2 => "epoll_pwait2",
            Timer::Timerfd(_) => "timerfd",
        }
    }

    /// The last wait that ended: readiness found between two reads of the same epoch
    /// has not been taken from the kernel yet, so it is still to be reported. A caller
    /// that reads the epoch, then finds a descriptor not ready with a system call of its
    /// own, tells the driver so with [`Readiness::seen_not_ready`].
    pub(crate) fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// What this driver has counted since it was built.
    pub(crate) fn counts(&self) -> IoCounts {
        self.counts
    }

    /// Takes what is ready without blocking; no system call when no request waits.
    pub(crate) fn poll(&mut self) -> io::Result<()> {
        if self.waiting == 0 {
            return Ok(());
        }
        self.wait(Some(Duration::ZERO))
    }

    /// Blocks until a descriptor a request waits for is ready, the eventfd is written,
    /// or `timeout` passes (`None`: no timeout).
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = match (timeout, self.max_wait) {
            (Some(t), Some(max)) => Some(t.min(max)),
            (t, max) => t.or(max),
        };
        self.wait(timeout)
    }

    /// Moves the wakers of requests completed since the last call into `into`.
    pub(crate) fn take_woken(&mut self, into: &mut Vec<Waker>) {
        into.append(&mut self.woken);
    }

    /// Starts a request: tries it now, and waits for its descriptor if it is not ready.
    /// A descriptor this driver already watches and last found not ready is not tried
    /// again before its next edge.
    pub(crate) fn submit(&mut self, op: OpRef) -> io::Result<()> {
        // SAFETY: the request was just handed to this driver, on its thread.
        let readiness = unsafe { op.readiness() };
        self.counts.submitted += 1;
        // The caller found it not ready with no wait ended since: every arrival after
        // that is an edge the next wait reports (or, for a descriptor registered now, is
        // reported by the registration).
        // A descriptor found closed in this direction (an end of stream or an error
        // reported) stays ready: a caller's short read or write before it proves
        // nothing, and no further edge would come.
        let seen_not_ready = readiness.seen_not_ready == Some(self.epoch);
        let known_not_ready = match self.registrations.get(readiness.fd as usize) {
            Some(r) if r.key == readiness.key => {
                !r.is_ready(readiness.interest)
                    || (seen_not_ready && !r.is_closed(readiness.interest))
            }
            _ => seen_not_ready,
        };
        if !known_not_ready {
            self.counts.syscall();
            // SAFETY: as above; the request is not completed.
            let result = unsafe { op.attempt() };
            if result != -libc::EAGAIN {
                // SAFETY: right after the attempt, as above.
                if unsafe { op.exhausted(result) } {
                    self.mark_not_ready(readiness);
                }
                self.complete(op, result);
                return Ok(());
            }
        }
        if let Err(e) = self.register(readiness) {
            self.complete(op, -e.raw_os_error().unwrap_or(libc::EIO));
            return Ok(());
        }
        let registration = &mut self.registrations[readiness.fd as usize];
        registration.set_ready(readiness.interest, false);
        registration.waiting(readiness.interest).push(op);
        self.waiting += 1;
        Ok(())
    }

    /// Takes a request whose future was dropped off its list and completes it as
    /// cancelled; nothing if it already completed.
    pub(crate) fn cancel(&mut self, op: &OpRef) {
        if op.is_completed() {
            return;
        }
        // SAFETY: the request is with this driver (or was never submitted: its future
        // dropped it on the way here) and not completed, so its data is still there.
        let readiness = unsafe { op.readiness() };
        let Some(registration) = self.registrations.get_mut(readiness.fd as usize) else {
            return;
        };
        let list = registration.waiting(readiness.interest);
        if let Some(at) = list.iter().position(|o| o.user_data() == op.user_data()) {
            let op = list.remove(at);
            self.waiting -= 1;
            self.complete(op, -libc::ECANCELED);
        }
    }

    /// Records that the descriptor has nothing more in `readiness`'s direction until its
    /// next edge, if this driver watches it.
    fn mark_not_ready(&mut self, readiness: Readiness) {
        if let Some(registration) = self.registrations.get_mut(readiness.fd as usize) {
            if registration.key == readiness.key {
                registration.set_ready(readiness.interest, false);
            }
        }
    }

    /// Closes a descriptor no request uses any more.
    pub(crate) fn close(&mut self, fd: RawFd) {
        if let Some(registration) = self.registrations.get_mut(fd as usize) {
            registration.key = 0;
        }
        self.counts.syscall();
        // SAFETY: the caller gives up the descriptor.
        unsafe { libc::close(fd) };
    }

    /// Registers the request's descriptor with epoll unless it already is.
    fn register(&mut self, readiness: Readiness) -> io::Result<()> {
        let index = readiness.fd as usize;
        if index >= self.registrations.len() {
            self.registrations
                .resize_with(index + 1, Registration::default);
        }
        let registration = &mut self.registrations[index];
        if registration.key == readiness.key {
            return Ok(());
        }
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        self.counts.syscall();
        match add(&self.epoll, readiness.fd, events, readiness.fd as u64) {
            // Still registered under an earlier descriptor of that number that is open
            // elsewhere (a duplicate): take the registration over.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.counts.syscall();
                ctl(
                    &self.epoll,
                    libc::EPOLL_CTL_MOD,
                    readiness.fd,
                    events,
                    readiness.fd as u64,
                )?
            }
            result => result?,
        }
        *registration = Registration {
            key: readiness.key,
            read_ready: true,
            write_ready: true,
            read_closed: false,
            write_closed: false,
            readers: std::mem::take(&mut registration.readers),
            writers: std::mem::take(&mut registration.writers),
        };
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.events.clear();
        let capacity = self.events.capacity() as libc::c_int;
        let events = self.events.as_mut_ptr();
        self.counts.enter();
        let n = match &self.timer {
            Timer::Pwait2 => {
                let spec = timeout.map(timespec);
                let spec_ptr = spec
                    .as_ref()
                    .map_or(std::ptr::null(), |s| s as *const libc::timespec);
                // SAFETY: `events` has room for `capacity` entries; the timespec lives on
                // the stack for the call; no signal mask is passed.
                unsafe {
                    libc::syscall(
                        libc::SYS_epoll_pwait2,
                        self.epoll.as_raw_fd(),
                        events,
                        capacity,
                        spec_ptr,
                        std::ptr::null::<libc::sigset_t>(),
                        0usize,
                    ) as libc::c_int
                }
            }
            Timer::Timerfd(timerfd) => {
                let wait_ms = match timeout {
                    Some(d) if d.is_zero() => 0,
                    Some(d) => {
                        self.counts.syscall();
                        arm_timerfd(timerfd, d)?;
                        -1
                    }
                    None => -1,
                };
                // SAFETY: `events` has room for `capacity` entries.
                unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events, capacity, wait_ms) }
            }
        };
        self.epoch = Epoch::next();
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EINTR) => Ok(()),
                _ => Err(e),
            };
        }
        // SAFETY: the kernel filled the first `n` entries.
        unsafe { self.events.set_len(n as usize) };
        for i in 0..self.events.len() {
            let event = self.events[i];
            let (token, flags) = (event.u64, event.events as libc::c_int);
            if token >= TIMERFD_TOKEN {
                continue; // a wake-up or a timeout: ending the wait was its purpose
            }
            let fd = token as usize;
            if let Some(registration) = self.registrations.get_mut(fd) {
                if flags & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
                    registration.read_closed = true;
                }
                if flags & (libc::EPOLLHUP | libc::EPOLLERR) != 0 {
                    registration.write_closed = true;
                }
            }
            if flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
                self.drive(fd, Interest::Read);
            }
            if flags & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
                self.drive(fd, Interest::Write);
            }
        }
        Ok(())
    }

    /// An edge on `fd` in direction `interest`: retries the requests waiting there, in
    /// order, until one finds it not ready.
    fn drive(&mut self, fd: usize, interest: Interest) {
        let Some(registration) = self.registrations.get_mut(fd) else {
            return;
        };
        registration.set_ready(interest, true);
        loop {
            let registration = &mut self.registrations[fd];
            let list = registration.waiting(interest);
            let Some(op) = list.first() else { return };
            let result = if op.is_dropped() {
                -libc::ECANCELED
            } else if op.wait_only() {
                0 // ready, and it takes nothing: the next one goes on too
            } else {
                self.counts.syscall();
                // SAFETY: the request is on this driver's list, so not completed.
                unsafe { op.attempt() }
            };
            // SAFETY: right after the attempt, on a request not completed.
            let exhausted = result == -libc::EAGAIN || unsafe { op.exhausted(result) };
            if result == -libc::EAGAIN {
                registration.set_ready(interest, false);
                return;
            }
            let op = list.remove(0);
            if exhausted {
                registration.set_ready(interest, false);
            }
            // The next waiter would only find it not ready (unless it is closed).
            let stop = !registration.is_ready(interest);
            self.waiting -= 1;
            self.complete(op, result);
            if stop {
                return;
            }
        }
    }

    fn complete(&mut self, op: OpRef, result: i32) {
        self.counts.completions += 1;
        if let Some(waker) = op.complete(Completion { result, flags: 0 }) {
            self.woken.push(waker);
        }
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("timer", &self.timer_kind())
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

impl Drop for Poller {
    /// Completes every waiting request as cancelled; their futures outlived the runtime.
    fn drop(&mut self) {
        let mut waiting = Vec::new();
        for registration in &mut self.registrations {
            waiting.append(&mut registration.readers);
            waiting.append(&mut registration.writers);
        }
        for op in waiting {
            self.complete(op, -libc::ECANCELED);
        }
        for waker in self.woken.drain(..) {
            waker.wake();
        }
    }
}

fn ctl(
    epoll: &OwnedFd,
    op: libc::c_int,
    fd: RawFd,
    events: libc::c_int,
    token: u64,
) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: events as u32,
        u64: token,
    };
    // SAFETY: `event` is a valid local for the call.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn add(epoll: &OwnedFd, fd: RawFd, events: libc::c_int, token: u64) -> io::Result<()> {
    ctl(epoll, libc::EPOLL_CTL_ADD, fd, events, token)
}

/// Whether the kernel has `epoll_pwait2` (5.11+): a wait that times out at once.
fn has_epoll_pwait2(epoll: &OwnedFd) -> bool {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut event = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: one event of room, a valid timespec, no signal mask.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epoll.as_raw_fd(),
            &mut event as *mut libc::epoll_event,
            1 as libc::c_int,
            &zero as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    rc >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// Arms `timerfd` to expire once, `d` from now.
fn arm_timerfd(timerfd: &OwnedFd, d: Duration) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: timespec(Duration::ZERO),
        // A zero value would disarm the timer instead.
        it_value: timespec(d.max(Duration::from_nanos(1))),
    };
    // SAFETY: `spec` is a valid local; the old value is not wanted.
    if unsafe { libc::timerfd_settime(timerfd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    use super::Poller;

    fn pollers(eventfd: &std::os::fd::OwnedFd) -> Vec<Poller> {
        let fd = eventfd.as_raw_fd();
        vec![
            Poller::new(fd).expect("epoll with the best timer"),
            Poller::with_timerfd(fd, true).expect("epoll with a timerfd"),
        ]
    }

    #[test]
    fn a_park_lasts_at_least_its_timeout_with_either_timer() {
        let eventfd = crate::driver::new_eventfd().unwrap();
        for mut poller in pollers(&eventfd) {
            for timeout in [Duration::from_micros(300), Duration::from_millis(2)] {
                let start = Instant::now();
                poller.park(Some(timeout)).unwrap();
                // A wait can end early only for a wake-up or an event, and there is none.
                assert!(
                    start.elapsed() >= timeout,
                    "{} woke early",
                    poller.timer_kind()
                );
            }
        }
    }

    #[test]
    fn a_write_to_the_eventfd_ends_a_park_without_timeout() {
        let eventfd = crate::driver::new_eventfd().unwrap();
        for mut poller in pollers(&eventfd) {
            let fd = eventfd.as_raw_fd();
            let waker = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                crate::driver::wake_eventfd(fd);
            });
            poller.park(None).unwrap();
            waker.join().unwrap();
            // The eventfd is never read: each write is an edge of its own.
            crate::driver::wake_eventfd(fd);
            poller.park(None).unwrap();
        }
    }

    #[test]
    fn a_poll_with_nothing_waiting_reports_nothing() {
        let eventfd = crate::driver::new_eventfd().unwrap();
        let mut poller = Poller::new(eventfd.as_raw_fd()).unwrap();
        crate::driver::wake_eventfd(eventfd.as_raw_fd());
        poller.poll().unwrap();
        let mut woken = Vec::new();
        poller.take_woken(&mut woken);
        assert!(woken.is_empty());
        assert_eq!(poller.waiting, 0);
    }
}
