//! Unix signals as something to await: [`ctrl_c`] and [`signal`].
//!
//! # How
//!
//! The first listener for a signal installs a handler for it (`sigaction`, with
//! `SA_RESTART`), which stays for the life of the process. The handler does only what is
//! safe in signal context: it marks the signal pending and writes to an eventfd. One
//! thread of the process (`ringtide-signal`, started with the first listener) waits on
//! that eventfd; for each pending signal it advances the signal's count and wakes every
//! listener. A listener yields once for each time it finds the count moved, so signals
//! that arrive faster than it looks are merged into one, as the kernel itself merges
//! pending signals.
//!
//! Nothing here belongs to a runtime: several runtimes, and code outside any, may listen
//! to the same signal, each listener seeing every delivery after it was created.
//!
//! # Caveats
//!
//! A handler replaces the signal's default action for good: once anything has listened
//! for SIGINT, Ctrl-C no longer kills the process, even with no listener left. A
//! signal that arrives while nobody listens is seen by nobody (listeners only see
//! signals delivered after they were created). The handler replaces any other handler
//! for that signal (of another library); it does not chain to it.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// A kind of signal to listen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// Any signal by number, such as `libc::SIGRTMIN() + 1`.
    pub const fn from_raw(signum: libc::c_int) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw(self) -> libc::c_int {
        self.0
    }

    /// SIGINT: Ctrl-C at a terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// SIGTERM: the polite request to stop (`kill`, `docker stop`, systemd).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// SIGHUP: the terminal went away; by convention also "reload the configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// SIGQUIT: Ctrl-\ at a terminal.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// SIGUSR1, for an application's own use.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// SIGUSR2, for an application's own use.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// SIGCHLD: a child process stopped or ended.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// SIGPIPE: a write to a pipe or socket whose reader is gone.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// SIGALRM: a timer set with `alarm(2)` or `setitimer(2)` expired.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// SIGWINCH: the terminal's window changed size.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

/// Listens for a signal: [`recv`](Signal::recv) completes once for each delivery (or
/// burst of deliveries) after the listener was created.
///
/// ```no_run
/// use ringtide::signal::{signal, SignalKind};
///
/// ringtide::Runtime::new()?.block_on(async {
///     let mut hangups = signal(SignalKind::hangup())?;
///     while hangups.recv().await.is_some() {
///         println!("reloading the configuration");
///     }
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signal {
    kind: SignalKind,
    listener: Arc<Listener>,
    /// The signal's count when this listener last yielded (or was created).
    seen: u64,
}

/// Listens for `kind` from now on (see [`Signal`]).
///
/// # Errors
///
/// `InvalidInput` for a signal that cannot be handled (SIGKILL, SIGSTOP) or that
/// reports a fault in the thread it hits (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP), or
/// a number that is no signal; the OS error if the handler or the signal thread cannot
/// be set up.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signum = kind.0;
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
    ];
    if signum <= 0 || signum as usize >= SIGNALS || forbidden.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be listened for: it is not a signal, cannot be caught, or reports a fault"),
        ));
    }
    let globals = globals()?;
    let slot = &globals.slots[signum as usize];
    let listener = Arc::new(Listener {
        waker: AtomicWaker::new(),
    });
    let seen = {
        let mut listeners = slot.listeners.lock().unwrap_or_else(|p| p.into_inner());
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(Arc::downgrade(&listener));
        slot.count.load(Ordering::Acquire)
    };
    slot.install(signum)?;
    Ok(Signal {
        kind,
        listener,
        seen,
    })
}

/// Completes at the next SIGINT (Ctrl-C): `signal(SignalKind::interrupt())`, awaited
/// once.
///
/// ```no_run
/// ringtide::Runtime::new()?.block_on(async {
///     ringtide::signal::ctrl_c().await?;
///     println!("stopping");
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::interrupt())?.recv().await;
    Ok(())
}

impl Signal {
    /// Waits for the next delivery. Always `Some(())`: the signal never stops (the
    /// `Option` matches the shape of a stream).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery, registering the task to be woken by it.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let slot = &GLOBALS
            .get()
            .and_then(|g| g.as_ref().ok())
            .expect("a Signal exists only once the globals are set up")
            .slots[self.kind.0 as usize];
        // Registered before the count is read: a delivery after the read wakes us.
        self.listener.waker.register(cx.waker());
        let count = slot.count.load(Ordering::Acquire);
        if count != self.seen {
            self.seen = count;
            return Poll::Ready(Some(()));
        }
        Poll::Pending
    }

    /// The signal this listens for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// One past the highest signal number (Linux has 64).
const SIGNALS: usize = 65;

struct Listener {
    waker: AtomicWaker,
}

/// One signal's state.
struct Slot {
    /// Set by the handler; taken by the signal thread.
    pending: AtomicBool,
    /// Deliveries the signal thread has passed on.
    count: AtomicU64,
    /// The handler is installed.
    installed: Mutex<bool>,
    listeners: Mutex<Vec<Weak<Listener>>>,
}

impl Slot {
    /// Installs the handler for `signum`, once.
    fn install(&self, signum: libc::c_int) -> io::Result<()> {
        let mut installed = self.installed.lock().unwrap_or_else(|p| p.into_inner());
        if *installed {
            return Ok(());
        }
        // SAFETY: a zeroed sigaction is valid; the fields set are the handler, its
        // flags and an empty mask.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid sigset to fill.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: `action` is a valid sigaction whose handler is async-signal-safe.
        if unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) } < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("installing a handler for signal {signum}: {e}"),
            ));
        }
        *installed = true;
        Ok(())
    }
}

struct Globals {
    /// Written by the handler, read by the signal thread.
    eventfd: OwnedFd,
    slots: [Slot; SIGNALS],
}

static GLOBALS: OnceLock<io::Result<Globals>> = OnceLock::new();

/// The process's signal state and thread, set up on first use.
fn globals() -> io::Result<&'static Globals> {
    let globals = GLOBALS.get_or_init(|| {
        let eventfd = crate::driver::new_eventfd()
            .map_err(|e| io::Error::new(e.kind(), format!("creating the signal eventfd: {e}")))?;
        Ok(Globals {
            eventfd,
            slots: std::array::from_fn(|_| Slot {
                pending: AtomicBool::new(false),
                count: AtomicU64::new(0),
                installed: Mutex::new(false),
                listeners: Mutex::new(Vec::new()),
            }),
        })
    });
    let globals = globals
        .as_ref()
        .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
    static THREAD: OnceLock<io::Result<()>> = OnceLock::new();
    THREAD
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("ringtide-signal".into())
                .spawn(|| dispatch(globals))
                .map(drop)
        })
        .as_ref()
        .map_err(|e| io::Error::new(e.kind(), format!("starting the signal thread: {e}")))?;
    Ok(globals)
}

/// The signal handler: async-signal-safe stores and one `write(2)`, with `errno` kept.
extern "C" fn handler(signum: libc::c_int) {
    let Some(Ok(globals)) = GLOBALS.get() else {
        return;
    };
    // SAFETY: reading errno's location is async-signal-safe.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(slot) = globals.slots.get(signum as usize) {
        slot.pending.store(true, Ordering::Release);
    }
    crate::driver::wake_eventfd(globals.eventfd.as_raw_fd());
    // SAFETY: as above; restores what the interrupted code may be about to read.
    unsafe { *libc::__errno_location() = errno };
}

/// The signal thread: passes each pending signal on to its listeners.
fn dispatch(globals: &'static Globals) {
    let fd = globals.eventfd.as_raw_fd();
    loop {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a valid local.
        let n = unsafe { libc::read(fd, (&mut count as *mut u64).cast(), 8) };
        if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // A broken eventfd: nothing more will be delivered. Say so once.
            eprintln!(
                "ringtide: the signal thread cannot read its eventfd ({}); signals are no longer delivered",
                io::Error::last_os_error()
            );
            return;
        }
        for slot in &globals.slots {
            if !slot.pending.swap(false, Ordering::Acquire) {
                continue;
            }
            slot.count.fetch_add(1, Ordering::Release);
            let listeners = slot.listeners.lock().unwrap_or_else(|p| p.into_inner());
            for listener in listeners.iter().filter_map(Weak::upgrade) {
                listener.waker.wake();
            }
        }
    }
}
