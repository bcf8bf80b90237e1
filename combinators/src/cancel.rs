//! [`CancellationToken`]: cooperative cancellation in a tree of tokens, level-triggered
//! like trio's cancel scopes.
//!
//! # Layout
//!
//! A token is an `Arc<Node>`, shared by its clones. A node holds its `cancelled` flag, a
//! strong pointer to its parent, and under a mutex two [`Slab`]s: the wakers of the
//! futures waiting for it (one entry per waiting future, made on its first pending poll
//! and removed when it is dropped) and weak pointers to its child nodes (one entry per
//! child, removed when the child node is freed). A waiter costs one slab entry, not a
//! channel receiver, and cancelling a token with n waiters wakes them in one O(n) pass.
//!
//! # Protocol
//!
//! 1. A node's flag is set under its lock, and its waiters and children are taken out in
//!    the same critical section; neither slab is used again, since waiting on a cancelled
//!    node, or deriving a child from it, finds the flag first. The waiters are woken and
//!    the children cancelled after the lock is released (no wake-up runs under a lock),
//!    descendants from an explicit stack rather than by recursion.
//! 2. [`CancellationToken::is_cancelled`] reads the flags of the node and its ancestors,
//!    so a token reads as cancelled from the moment any ancestor's flag is set, before
//!    step 1 has reached it: no thread can see a parent cancelled and its child not.
//! 3. A waiting future reads the flags, then takes its node's lock and reads the node's
//!    own flag again before it registers its waker. Either it sees the flag, or the
//!    cancellation (which sets the flag under that lock) comes later and finds the waker.
//! 4. A child is linked into its parent under the parent's lock, and only if the parent
//!    does not read as cancelled (step 2); otherwise it is made cancelled. So every child
//!    is either reached by its parent's step 1 or cancelled already.
//! 5. A parent links its children weakly. A child node is freed when its last token,
//!    waiting future and child node are gone (a grandchild keeps its parent node alive,
//!    so the parent stays linked and a cancellation still reaches the grandchild's
//!    waiters); it then removes its entry from its parent, unless the parent is cancelled
//!    (its slab is no longer used). So a long-lived parent holds one entry per live child
//!    and no more.

use std::borrow::Borrow;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use crate::slab::Slab;

/// A cancellation signal that tasks check, or wait for, to stop cleanly: the cooperative
/// half of cancellation (a [`JoinHandle::abort`](ringtide::JoinHandle::abort) is the
/// forceful half).
///
/// Clones share one token. [`cancel`](CancellationToken::cancel) cancels it for good:
/// [`is_cancelled`](CancellationToken::is_cancelled) reads `true` from then on, and every
/// [`cancelled`](CancellationToken::cancelled) future, waiting or not yet made, completes.
/// It is level-triggered, like trio's cancel scopes: a task that checks the token after
/// it was cancelled always sees it, however late it looks.
///
/// Tokens form a tree: a [`child_token`](CancellationToken::child_token) is cancelled
/// with its parent (and with every ancestor), but cancelling a child leaves its parent
/// alone. A [`TaskGroup`](crate::TaskGroup) owns one and cancels it on
/// [`cancel`](crate::TaskGroup::cancel), at its deadline or on
/// [`shutdown`](crate::TaskGroup::shutdown).
///
/// Waiting costs one slab entry per waiting future, and cancelling a token wakes all of
/// its waiters in one pass. A child token takes one entry in its parent, given back when
/// the child token (with its clones, waiting futures and own children) is dropped, so a
/// long-lived parent does not grow with the children it has had.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::CancellationToken;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let token = CancellationToken::new();
///     let worker = ringtide::spawn({
///         let token = token.child_token();
///         async move {
///             let mut ticks = 0u32;
///             while !token.is_cancelled() {
///                 sleep(Duration::from_millis(1)).await;
///                 ticks += 1;
///             }
///             ticks // ends cleanly, with what it has done
///         }
///     });
///     sleep(Duration::from_millis(10)).await;
///     token.cancel();
///     assert!(worker.await.unwrap() >= 1);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct CancellationToken {
    node: Arc<Node>,
}

struct Node {
    cancelled: AtomicBool,
    /// The parent and this node's key in its `children`; `None` for a root, and for a
    /// node made cancelled (step 4), which its parent never needs to reach.
    parent: Option<(Arc<Node>, usize)>,
    state: Mutex<State>,
}

struct State {
    waiters: Slab<Waker>,
    children: Slab<Weak<Node>>,
}

impl Node {
    fn new(cancelled: bool, parent: Option<(Arc<Node>, usize)>) -> Node {
        Node {
            cancelled: AtomicBool::new(cancelled),
            parent,
            state: Mutex::new(State {
                waiters: Slab::new(),
                children: Slab::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held but an allocation failure; the slabs stay
        // consistent either way.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Step 2: this node's flag or an ancestor's.
    fn reads_cancelled(&self) -> bool {
        let mut node = self;
        loop {
            if node.cancelled.load(Ordering::Acquire) {
                return true;
            }
            match &node.parent {
                Some((parent, _)) => node = parent,
                None => return false,
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Step 5.
        if let Some((parent, key)) = &self.parent {
            let mut state = parent.lock();
            if !parent.cancelled.load(Ordering::Relaxed) {
                state.children.remove(*key);
            }
        }
    }
}

impl CancellationToken {
    /// A new token, not cancelled, with no parent.
    pub fn new() -> CancellationToken {
        CancellationToken {
            node: Arc::new(Node::new(false, None)),
        }
    }

    /// Cancels this token and every token derived from it; cancelling again does
    /// nothing.
    ///
    /// On return, every clone and descendant reads as cancelled, and every future
    /// waiting on one of them has been woken.
    ///
    /// ```
    /// use ringtide_combinators::CancellationToken;
    ///
    /// let parent = CancellationToken::new();
    /// let child = parent.child_token();
    /// let grandchild = child.child_token();
    ///
    /// child.cancel(); // down the tree, not up
    /// assert!(grandchild.is_cancelled());
    /// assert!(!parent.is_cancelled());
    ///
    /// parent.cancel();
    /// assert!(parent.child_token().is_cancelled()); // born cancelled
    /// ```
    pub fn cancel(&self) {
        let mut pending = vec![self.node.clone()];
        while let Some(node) = pending.pop() {
            // Step 1.
            let (waiters, children) = {
                let mut state = node.lock();
                if node.cancelled.load(Ordering::Relaxed) {
                    continue;
                }
                node.cancelled.store(true, Ordering::Release);
                (
                    std::mem::replace(&mut state.waiters, Slab::new()),
                    std::mem::replace(&mut state.children, Slab::new()),
                )
            };
            for waker in waiters.into_values() {
                waker.wake();
            }
            pending.extend(children.into_values().filter_map(|child| child.upgrade()));
        }
    }

    /// Whether this token, or any token it was derived from, has been cancelled.
    ///
    /// ```
    /// use ringtide_combinators::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// let clone = token.clone();
    /// assert!(!clone.is_cancelled());
    /// token.cancel();
    /// assert!(clone.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.node.reads_cancelled()
    }

    /// A new token that is cancelled when this one is (or already is), and that can be
    /// cancelled on its own without cancelling this one.
    ///
    /// ```
    /// use ringtide_combinators::CancellationToken;
    ///
    /// let request = CancellationToken::new();
    /// let query = request.child_token();
    /// query.cancel();
    /// assert!(!request.is_cancelled());
    ///
    /// let other_query = request.child_token();
    /// request.cancel();
    /// assert!(other_query.is_cancelled());
    /// ```
    pub fn child_token(&self) -> CancellationToken {
        let parent = &self.node;
        let mut state = parent.lock();
        // Step 4.
        let node = if parent.reads_cancelled() {
            Arc::new(Node::new(true, None))
        } else {
            Arc::new_cyclic(|weak| {
                let key = state.children.insert(weak.clone());
                Node::new(false, Some((parent.clone(), key)))
            })
        };
        drop(state);
        CancellationToken { node }
    }

    /// Completes once the token is cancelled (at once if it already is).
    ///
    /// ```
    /// use ringtide_combinators::CancellationToken;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let token = CancellationToken::new();
    ///     let waiter = ringtide::spawn({
    ///         let token = token.clone();
    ///         async move {
    ///             token.cancelled().await;
    ///             "stopped"
    ///         }
    ///     });
    ///     token.cancel();
    ///     assert_eq!(waiter.await.unwrap(), "stopped");
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled {
            wait: Wait::new(self),
        }
    }

    /// [`cancelled`](CancellationToken::cancelled), owning the token: a `'static` future
    /// to move into a task or to keep in a struct.
    ///
    /// ```
    /// use ringtide_combinators::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// let cancelled = token.clone().cancelled_owned();
    /// token.cancel();
    /// futures::executor::block_on(cancelled);
    /// ```
    pub fn cancelled_owned(self) -> CancelledOwned {
        CancelledOwned {
            wait: Wait::new(self),
        }
    }

    /// Runs `future` until it completes (`Some(output)`) or the token is cancelled
    /// (`None`; `future` is dropped with the returned future). The token is checked first, so a future
    /// given a cancelled token is never polled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringtide::time::sleep;
    /// use ringtide_combinators::CancellationToken;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let token = CancellationToken::new();
    ///     assert_eq!(token.run_until_cancelled(async { 7 }).await, Some(7));
    ///     let slow = token.run_until_cancelled(sleep(Duration::from_secs(3600)));
    ///     token.cancel();
    ///     assert_eq!(slow.await, None);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run_until_cancelled<F: IntoFuture>(
        &self,
        future: F,
    ) -> RunUntilCancelled<'_, F::IntoFuture> {
        RunUntilCancelled {
            future: future.into_future(),
            cancelled: self.cancelled(),
        }
    }
}

impl Default for CancellationToken {
    fn default() -> Self {
        CancellationToken::new()
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The registration of one waiting future: its key in the node's `waiters` once it has
/// been pending (protocol step 3).
struct Wait<R: Borrow<CancellationToken>> {
    token: R,
    key: Option<usize>,
}

impl<R: Borrow<CancellationToken>> Wait<R> {
    fn new(token: R) -> Wait<R> {
        Wait { token, key: None }
    }

    fn poll(&mut self, cx: &Context<'_>) -> Poll<()> {
        let node = &self.token.borrow().node;
        if node.reads_cancelled() {
            return Poll::Ready(());
        }
        let mut state = node.lock();
        if node.cancelled.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        match self.key {
            Some(key) => {
                let waker = state
                    .waiters
                    .get_mut(key)
                    .expect("a waiter stays registered until its node is cancelled");
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
            }
            None => self.key = Some(state.waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl<R: Borrow<CancellationToken>> Drop for Wait<R> {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let node = &self.token.borrow().node;
        // A cancelled node's waiters were taken out with the flag set (step 1); reading
        // it set here spares the lock, which every waiter woken by a cancellation would
        // otherwise take once more.
        if node.cancelled.load(Ordering::Acquire) {
            return;
        }
        let mut state = node.lock();
        if !node.cancelled.load(Ordering::Relaxed) {
            state.waiters.remove(key);
        }
    }
}

/// The future returned by [`CancellationToken::cancelled`].
#[must_use = "futures do nothing unless awaited"]
pub struct Cancelled<'a> {
    wait: Wait<&'a CancellationToken>,
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().wait.poll(cx)
    }
}

impl fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("token", &self.wait.token)
            .finish()
    }
}

/// The future returned by [`CancellationToken::cancelled_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct CancelledOwned {
    wait: Wait<CancellationToken>,
}

impl Future for CancelledOwned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().wait.poll(cx)
    }
}

impl fmt::Debug for CancelledOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelledOwned")
            .field("token", &self.wait.token)
            .finish()
    }
}

pin_project! {
    /// The future returned by [`CancellationToken::run_until_cancelled`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct RunUntilCancelled<'a, F> {
        #[pin]
        future: F,
        cancelled: Cancelled<'a>,
    }
}

impl<F: Future> Future for RunUntilCancelled<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if Pin::new(this.cancelled).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        this.future.poll(cx).map(Some)
    }
}

impl<F> fmt::Debug for RunUntilCancelled<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelled")
            .field("token", &self.cancelled.wait.token)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(token: &CancellationToken) -> usize {
        token.node.lock().children.len()
    }

    fn waiters(token: &CancellationToken) -> usize {
        token.node.lock().waiters.len()
    }

    #[test]
    fn dropped_children_leave_their_parent() {
        let parent = CancellationToken::new();
        for _ in 0..1000 {
            let child = parent.child_token();
            let grandchild = child.child_token();
            drop(child);
            // The grandchild keeps its parent linked, so a cancellation still reaches it.
            assert_eq!(children(&parent), 1);
            drop(grandchild);
            assert_eq!(children(&parent), 0);
        }
        let kept: Vec<_> = (0..3).map(|_| parent.child_token()).collect();
        assert_eq!(children(&parent), 3);
        parent.cancel();
        assert_eq!(children(&parent), 0);
        assert!(kept.iter().all(CancellationToken::is_cancelled));
    }

    #[test]
    fn dropped_waiters_leave_their_token() {
        let token = CancellationToken::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..1000 {
            let mut first = Box::pin(token.cancelled());
            let mut second = Box::pin(token.clone().cancelled_owned());
            assert!(first.as_mut().poll(&mut cx).is_pending());
            assert!(second.as_mut().poll(&mut cx).is_pending());
            // Polled again: still one entry each.
            assert!(first.as_mut().poll(&mut cx).is_pending());
            assert_eq!(waiters(&token), 2);
        }
        assert_eq!(waiters(&token), 0);
    }

    #[test]
    fn a_waiter_of_a_child_is_woken_by_the_root() {
        let root = CancellationToken::new();
        let leaf = root.child_token().child_token().child_token();
        let woken = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Flag(woken.clone())));
        let mut waiting = Box::pin(leaf.cancelled());
        assert!(waiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        root.cancel();
        assert!(woken.load(Ordering::SeqCst));
        assert!(waiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready());
    }
}
