//! Spawning onto the runtime the current thread belongs to: [`spawn`], [`spawn_eager`]
//! and [`spawn_local`].

use std::future::Future;

use crate::context::{self, Current};
use crate::task::{self, JoinHandle, ANY_WORKER};

/// Spawns a task onto the current runtime.
///
/// # Panics
///
/// Panics when called outside a ringtide runtime: call it from a task, inside
/// [`Runtime::block_on`](crate::Runtime::block_on) or a [`spawn_blocking`](crate::task::spawn_blocking) job, or use
/// [`Runtime::spawn`](crate::Runtime::spawn) or [`Handle::spawn`](crate::Handle::spawn).
///
/// # Examples
///
/// ```
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let handle = ringtide::spawn(async { "from a task" });
///     assert_eq!(handle.await.unwrap(), "from a task");
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    context::with_current(|current| match current {
        Current::Worker(core) => task::spawn(&core.shared, future, ANY_WORKER),
        Current::BlockOn(shared) => task::spawn(shared, future, ANY_WORKER),
        Current::None => panic!(
            "ringtide::spawn called outside a ringtide runtime: call it from a task, inside \
             block_on or a blocking job, or use Runtime::spawn or Handle::spawn"
        ),
    })
}

/// Spawns a task and polls it once right away, on the calling thread, before returning
/// its handle: asyncio's eager tasks. A task that finishes in that first poll (a cache
/// hit, a ready channel) is never queued; one that waits is then like any other task.
/// The [`JoinHandle`] behaves the same either way, and a panic in the first poll is
/// caught into it, as for [`spawn`].
///
/// A task that finishes in its first poll costs far less than a spawned one: unless it
/// kept a clone of its waker, its memory is given back before `spawn_eager` returns, and
/// an output of up to two words (`()`, an integer, an `io::Result<usize>`, a `Box`)
/// waits in the handle itself; a larger one waits in the task's memory, as for [`spawn`].
/// A waker the first poll handed out (to a timer, a socket, a channel) wakes the task
/// whenever it is used, during that poll or after.
///
/// The first poll runs on the spawner's stack, before `spawn_eager` returns. An eager
/// task that spawns eagerly nests; past 16 levels the spawn is queued instead. Called
/// from [`Runtime::block_on`](crate::Runtime::block_on) (or a blocking job), where no worker runs, the task is
/// queued as by [`spawn`].
///
/// # Panics
///
/// Panics when called outside a ringtide runtime, as [`spawn`] does.
///
/// # Examples
///
/// ```
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(rt.spawn(async {
///     // Finished before `spawn_eager` returns: nothing was queued.
///     let ready = ringtide::spawn_eager(async { 6 * 7 });
///     assert!(ready.is_finished());
///     assert_eq!(ready.await.unwrap(), 42);
///
///     // A task that waits goes on like any other.
///     let later = ringtide::spawn_eager(async {
///         ringtide::time::sleep(std::time::Duration::from_millis(1)).await;
///         "later"
///     });
///     assert_eq!(later.await.unwrap(), "later");
/// }))
/// .unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_eager<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    context::with_current(|current| match current {
        // The first poll runs inside this closure, which holds no borrow of the context
        // on a worker: the future may use the context itself.
        Current::Worker(core) => task::spawn_eager(&core.shared, future),
        Current::BlockOn(shared) => task::spawn(shared, future, ANY_WORKER),
        Current::None => panic!(
            "ringtide::spawn_eager called outside a ringtide runtime: call it from a task \
             or inside Runtime::block_on"
        ),
    })
}

/// Spawns a `!Send` task that stays on the current worker thread: it is never stolen,
/// and is polled and dropped only there.
///
/// # Panics
///
/// Panics unless called from a task running on a ringtide worker (a `block_on` thread is
/// not a worker: spawn a task first, and call `spawn_local` from it).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let rt = ringtide::Runtime::new()?;
/// let len = rt.block_on(rt.spawn(async {
///     // The `Rc` never leaves this worker thread.
///     let local = ringtide::spawn_local(async {
///         let shared = Rc::new(String::from("not Send"));
///         let reader = ringtide::spawn_local({
///             let shared = shared.clone();
///             async move { shared.len() }
///         });
///         reader.await.unwrap()
///     });
///     local.await.unwrap()
/// }));
/// assert_eq!(len.unwrap(), 8);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with_current(|current| match current {
        Current::Worker(core) => task::spawn(&core.shared, future, core.index),
        _ => panic!(
            "ringtide::spawn_local must be called from a task running on a ringtide worker \
             thread (block_on's thread is not one): spawn a task and call it from there"
        ),
    })
}
