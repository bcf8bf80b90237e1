//! [`gather!`](crate::gather!): gather futures of different types into a tuple.
//!
//! The macro builds a [`GatherTuple`] over a tuple of [`Slot`]s, one per future. Each slot
//! has its own waker in a [`ReadyQueue`], as in [`FutureSet`](crate::set::FutureSet); a
//! poll turns the woken children into a bit mask and polls only those.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::queue::{ReadyQueue, EMPTY};

/// Runs futures of different types concurrently inside the awaiting task and resolves to
/// the tuple of their outputs, in argument order: asyncio's `gather(a(), b())`.
///
/// Takes 1 to 12 futures (anything `IntoFuture`). Like [`gather`](crate::gather()), each
/// child is polled once at first and then only when its own waker fires, and a child's
/// panic resumes in the awaiting task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::gather;
///
/// let rt = ringtide::Runtime::new()?;
/// let (name, answer, ()) = rt.block_on(gather!(
///     async { "ringtide" },
///     async {
///         sleep(Duration::from_millis(5)).await;
///         42
///     },
///     sleep(Duration::from_millis(3)),
/// ));
/// assert_eq!((name, answer), ("ringtide", 42));
/// # Ok::<(), std::io::Error>(())
/// ```
#[macro_export]
macro_rules! gather {
    ($($future:expr),+ $(,)?) => {
        $crate::__private::GatherTuple::new((
            $($crate::__private::Slot::new(::core::future::IntoFuture::into_future($future)),)+
        ))
    };
}

/// One child of a [`GatherTuple`]: running, finished with its output, or emptied.
#[doc(hidden)]
#[derive(Debug)]
pub enum Slot<F: Future> {
    /// Still running.
    Running(F),
    /// Finished; the output waits to be collected.
    Done(F::Output),
    /// The output was collected.
    Taken,
}

impl<F: Future> Slot<F> {
    /// A slot for a child that has not been polled yet.
    pub fn new(future: F) -> Slot<F> {
        Slot::Running(future)
    }

    fn poll_slot(mut self: Pin<&mut Self>, waker: &Waker) {
        // SAFETY: the running future is pinned along with its slot: it is never moved
        // out, and `Pin::set` below drops it in place.
        let Slot::Running(future) = (unsafe { self.as_mut().get_unchecked_mut() }) else {
            return;
        };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(future) };
        if let Poll::Ready(output) = future.poll(&mut Context::from_waker(waker)) {
            self.set(Slot::Done(output));
        }
    }

    fn is_running(&self) -> bool {
        matches!(self, Slot::Running(_))
    }

    fn take_output(self: Pin<&mut Self>) -> F::Output {
        // SAFETY: only a finished slot is taken from, and its output is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        match std::mem::replace(this, Slot::Taken) {
            Slot::Done(output) => output,
            _ => unreachable!("outputs are taken once every child has finished"),
        }
    }
}

/// A tuple of [`Slot`]s that [`GatherTuple`] can drive (implemented for 1 to 12).
#[doc(hidden)]
pub trait Slots {
    /// How many children the tuple has.
    const LEN: usize;
}

/// The future returned by [`gather!`](crate::gather!).
#[doc(hidden)]
#[must_use = "futures do nothing unless awaited"]
pub struct GatherTuple<T> {
    slots: T,
    queue: Arc<ReadyQueue>,
    started: bool,
    /// Set while children are being polled: still set on a later poll means a child
    /// panicked mid-poll, and the queue may have lost track of woken children.
    polling: bool,
}

impl<T: Slots> GatherTuple<T> {
    /// Gathers the children in `slots`.
    pub fn new(slots: T) -> GatherTuple<T> {
        GatherTuple {
            slots,
            queue: ReadyQueue::new(T::LEN),
            started: false,
            polling: false,
        }
    }
}

impl<T> GatherTuple<T> {
    /// Registers the waker and returns the mask of children to poll in this round.
    fn due(&mut self, cx: &Context<'_>, len: usize) -> u32 {
        assert!(
            !std::mem::replace(&mut self.polling, true),
            "gather! was polled again after one of its children panicked"
        );
        self.queue.register(cx.waker());
        let mut mask = 0;
        if !self.started {
            self.started = true;
            mask = (1u32 << len) - 1;
        }
        if let Some(batch) = self.queue.take_all() {
            let mut index = batch.head;
            while index != EMPTY {
                mask |= 1 << index;
                index = self.queue.next_in_batch(index);
            }
        }
        // Step 3 of `crate::queue`: after reading the batch's links, before polling.
        for index in 0..len {
            if mask & (1 << index) != 0 {
                self.queue.unqueue(index);
            }
        }
        mask
    }
}

impl<T> fmt::Debug for GatherTuple<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherTuple")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

macro_rules! gather_tuple {
    ($len:literal; $($F:ident $index:tt),+) => {
        impl<$($F: Future),+> Slots for ($(Slot<$F>,)+) {
            const LEN: usize = $len;
        }

        impl<$($F: Future),+> Future for GatherTuple<($(Slot<$F>,)+)> {
            type Output = ($($F::Output,)+);

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                // SAFETY: the slots are structurally pinned: never moved while `self` is
                // pinned (outputs are moved out only once finished, which `Slot` allows).
                let this = unsafe { self.get_unchecked_mut() };
                let due = this.due(cx, $len);
                let mut running = false;
                $(
                    // SAFETY: as above.
                    let mut slot = unsafe { Pin::new_unchecked(&mut this.slots.$index) };
                    if due & (1 << $index) != 0 {
                        slot.as_mut().poll_slot(&this.queue.waker($index));
                    }
                    running |= slot.is_running();
                )+
                this.polling = false;
                if running {
                    return Poll::Pending;
                }
                Poll::Ready(($(
                    // SAFETY: as above.
                    unsafe { Pin::new_unchecked(&mut this.slots.$index) }.take_output(),
                )+))
            }
        }
    };
}

gather_tuple!(1; A 0);
gather_tuple!(2; A 0, B 1);
gather_tuple!(3; A 0, B 1, C 2);
gather_tuple!(4; A 0, B 1, C 2, D 3);
gather_tuple!(5; A 0, B 1, C 2, D 3, E 4);
gather_tuple!(6; A 0, B 1, C 2, D 3, E 4, G 5);
gather_tuple!(7; A 0, B 1, C 2, D 3, E 4, G 5, H 6);
gather_tuple!(8; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7);
gather_tuple!(9; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8);
gather_tuple!(10; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8, K 9);
gather_tuple!(11; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8, K 9, L 10);
gather_tuple!(12; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8, K 9, L 10, M 11);
