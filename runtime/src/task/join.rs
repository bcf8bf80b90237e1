//! [`JoinHandle`] and [`JoinError`]: how a spawned task's outcome gets back to its owner.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::task::{Context, Poll};

use super::raw::RawJoinHandle;
use super::TaskMeta;

/// An owned permission to await a spawned task's output, or to abort it.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] if the task panicked or was
/// cancelled. Dropping it *detaches* the task: the task keeps running and its output is
/// dropped when it completes.
///
/// # Examples
///
/// ```
/// let rt = ringtide::Runtime::new()?;
/// let answer = rt.block_on(async {
///     let handle = ringtide::spawn(async { 6 * 7 });
///     handle.await.expect("the task did not panic")
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "dropping a JoinHandle detaches the task; await it to get its output"]
pub struct JoinHandle<T> {
    inner: Inner<T>,
}

/// Where the task's outcome is.
enum Inner<T> {
    /// In the task's memory, once it finishes.
    Task(RawJoinHandle<T>),
    /// Here: an eager task that finished in its first poll, whose memory is gone.
    Output(InlineOutput<T>),
    /// Here: an eager task that panicked in its first poll.
    Panicked(Box<dyn Any + Send + 'static>),
    /// Returned by the last poll.
    Taken,
}

// SAFETY: the handle holds a counted reference to the task, whose shared parts are
// atomics and `TaskMeta` (which is `Sync`), or the outcome itself; it only moves or drops
// the output, which is `Send` here, or the panic payload, which is `Send`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: shared access to a handle only reads `TaskMeta` and the task's atomic state;
// an outcome held here is touched only through `&mut self` or by value.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawJoinHandle<T>) -> Self {
        JoinHandle {
            inner: Inner::Task(raw),
        }
    }

    /// The handle of an eager task that finished in its first poll, with its outcome:
    /// the output, or the panic's payload.
    pub(crate) fn finished(
        outcome: Result<InlineOutput<T>, Box<dyn Any + Send + 'static>>,
    ) -> Self {
        let inner = match outcome {
            Ok(output) => Inner::Output(output),
            Err(payload) => Inner::Panicked(payload),
        };
        JoinHandle { inner }
    }

    /// Cancels the task.
    ///
    /// The task's future is dropped the next time the runtime would have polled it (at
    /// once if it is idle, after its current poll if it is running), and awaiting this
    /// handle then yields a [`JoinError`] for which [`JoinError::is_cancelled`] is true.
    /// A task that already completed keeps its output. Aborting twice is harmless.
    ///
    /// A [`spawn_blocking`](super::spawn_blocking) job is cancelled only if it has not
    /// started yet; a running job cannot be interrupted, and keeps its output.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let handle = ringtide::spawn(ringtide::time::sleep(Duration::from_secs(3600)));
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn abort(&self) {
        // Anything but a task is already finished.
        let Inner::Task(raw) = &self.inner else {
            return;
        };
        let meta: &TaskMeta = raw.metadata();
        // Step 2 of the handshake in `crate::task`: flag first, then the key.
        meta.aborted.store(true, Ordering::SeqCst);
        let key = meta.key.load(Ordering::SeqCst);
        if let Some(waker) = meta.shared.registry.waker(key) {
            waker.wake();
        }
    }

    /// Whether the task has finished: completed, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Task(raw) => raw.is_finished(),
            Inner::Output(_) | Inner::Panicked(_) | Inner::Taken => true,
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Inner::Task(raw) = &mut self.inner {
            let output = std::task::ready!(raw.poll(cx));
            // Lets go of the task now rather than when the handle is dropped.
            self.inner = Inner::Taken;
            return Poll::Ready(output);
        }
        Poll::Ready(match std::mem::replace(&mut self.inner, Inner::Taken) {
            Inner::Output(output) => Ok(output.into_inner()),
            Inner::Panicked(payload) => Err(JoinError::panic(payload)),
            Inner::Taken => panic!("JoinHandle polled after it returned its output"),
            Inner::Task(_) => unreachable!("handled above"),
        })
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Room for an output in the handle itself: two words, enough for `()`, integers,
/// `io::Result<usize>`, a `Box` or an `Arc`, without making every handle as large as
/// its output type (handles are moved a lot, and most outputs are small).
type Words = [usize; 2];

/// An output held by the handle, in place of its task: see [`Words`].
pub(crate) struct InlineOutput<T> {
    words: MaybeUninit<Words>,
    _output: PhantomData<T>,
}

impl<T> InlineOutput<T> {
    /// Whether a `T` fits: a constant for each output type.
    const FITS: bool =
        size_of::<T>() <= size_of::<Words>() && align_of::<T>() <= align_of::<Words>();

    /// Stores `output`, or gives it back if it does not fit.
    pub(crate) fn new(output: T) -> Result<Self, T> {
        if !Self::FITS {
            return Err(output);
        }
        let mut words = MaybeUninit::<Words>::uninit();
        // SAFETY: a `T` fits in `Words`, in size and in alignment.
        unsafe { words.as_mut_ptr().cast::<T>().write(output) };
        Ok(InlineOutput {
            words,
            _output: PhantomData,
        })
    }

    fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: `new` stored a `T`, which is read once: `this` is never dropped.
        unsafe { this.words.as_ptr().cast::<T>().read() }
    }
}

impl<T> Drop for InlineOutput<T> {
    fn drop(&mut self) {
        // SAFETY: `new` stored a `T`, which `into_inner` did not take (it forgets `self`).
        unsafe { self.words.as_mut_ptr().cast::<T>().drop_in_place() }
    }
}

/// Why a task did not produce its output.
///
/// # Examples
///
/// ```
/// let rt = ringtide::Runtime::new()?;
/// let err = rt.block_on(rt.spawn(async { panic!("boom") })).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    // The mutex makes the error `Sync` (so it fits `Box<dyn Error + Send + Sync>`); it
    // is only ever locked by `into_panic`, which owns the error.
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Mutex::new(payload)),
        }
    }

    /// The task was cancelled: aborted, or dropped at runtime shutdown.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to inspect or to re-raise with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// Panics if the task was cancelled rather than panicking; check
    /// [`is_panic`](Self::is_panic) or use [`try_into_panic`](Self::try_into_panic).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a cancelled task's error")
    }

    /// The panic payload, or the error itself if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.into_inner().unwrap_or_else(|e| e.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<String> {
        let Repr::Panic(p) = &self.repr else {
            return None;
        };
        let payload = p.lock().unwrap_or_else(|e| e.into_inner());
        payload
            .downcast_ref::<&'static str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(_) => match self.panic_message() {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(_) => match self.panic_message() {
                Some(msg) => write!(f, "JoinError::Panic({msg:?})"),
                None => f.write_str("JoinError::Panic(..)"),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        let kind = if err.is_cancelled() {
            std::io::ErrorKind::Interrupted
        } else {
            std::io::ErrorKind::Other
        };
        std::io::Error::new(kind, err)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_handle_is_three_words_whatever_its_output() {
        let words = 3 * size_of::<usize>();
        assert_eq!(size_of::<JoinHandle<()>>(), words);
        assert_eq!(size_of::<JoinHandle<u64>>(), words);
        assert_eq!(size_of::<JoinHandle<std::io::Result<usize>>>(), words);
        assert_eq!(size_of::<JoinHandle<[u64; 512]>>(), words);
    }

    #[test]
    fn outputs_of_two_words_fit_in_the_handle() {
        assert!(InlineOutput::new(()).is_ok());
        let read: std::io::Result<usize> = Ok(4096);
        let fits = InlineOutput::new(read).map_err(drop).unwrap();
        assert_eq!(fits.into_inner().unwrap(), 4096);
        let payload: Box<dyn Any + Send> = Box::new(7u8);
        assert!(InlineOutput::new(payload).is_ok());
        // Too long, or aligned too strictly.
        assert_eq!(InlineOutput::new(String::from("x")).err().unwrap(), "x");
        assert!(InlineOutput::new([0u8; 17]).is_err());
        #[repr(align(32))]
        #[derive(Debug, PartialEq)]
        struct Aligned(u8);
        assert_eq!(InlineOutput::new(Aligned(1)).err(), Some(Aligned(1)));
    }
}
