//! The small path of [`gather`](crate::gather()): up to 64 children in one allocation.
//!
//! For a few children, the cost of [`FutureSet`](crate::set::FutureSet) is its
//! allocations, not its polls: the slots, the `Arc<ReadyQueue>` and its nodes, the
//! outputs and the result make five. A [`SmallGather`] makes two, the one below and the
//! result `Vec`, and keeps one waker per child, so a wake-up still costs O(1) and only
//! woken children are polled.
//!
//! # Layout
//!
//! One `Shared<F, N>` for `N` (4, 16 or 64) slots, the smallest that fits the input's
//! size hint. Slot `i` holds child `i` while it runs and, if it finished out of input
//! order, its output until the others are done; slots past the input's length are never
//! initialised. Beside the slots: `refs`, `mask`, `parent`, the gather's own bookkeeping
//! (`state` and `outputs`, kept here so that the `SmallGather` is one pointer and a
//! `Gather` two words, passed in registers rather than copied through memory), and
//! `ids`.
//!
//! A child's waker is the address of byte `i` of `ids`, an array whose byte `i` holds
//! `i`: reading that byte says which child, and stepping back by it (and by the offset
//! of `ids`) gives the allocation. (Aligning the allocation to 64 bytes and keeping the
//! index in the address's low bits would save the bytes, but an over-aligned allocation
//! costs more than the rest of a small gather.)
//!
//! # The reference count
//!
//! `refs` counts the `SmallGather` and every waker made by cloning a child's waker (the
//! waker a child is polled with is borrowed from the gather and counts nothing), as an
//! `Arc`'s strong count would: cloning a waker is an increment (`Relaxed`: it is made
//! from a count the caller holds, so the count cannot reach zero meanwhile), dropping one
//! a `Release` decrement, and whoever takes the count to zero frees the allocation after
//! an `Acquire` fence, so that the free comes after every other holder's last access.
//! Wakers may therefore outlive the gather, on any thread. An increment past `isize::MAX`
//! aborts, as `Arc`'s does: only wakers leaked by the billion get there.
//!
//! The count is hand-made rather than an `Arc` so that the gather, when it finds itself
//! the last holder (an `Acquire` load of 1: nobody else can make a waker, so the count
//! cannot grow), frees the allocation without a locked instruction: a gather whose
//! children are all ready at once, the commonest small gather, then touches no atomic
//! read-modify-write at all.
//!
//! The outputs of children that finish in input order (child 0, then 1, ...) go
//! straight into the result `Vec`, made on the first poll; only one that finishes while
//! an earlier sibling still runs waits in its slot.
//!
//! # The mask
//!
//! Bit `i` of `mask` is set while child `i` has been woken and not yet polled. Wakers
//! set bits (`fetch_or`); only the `SmallGather` clears them, all at once (`swap(0)`).
//! Bits of children that have finished may be set by late wake-ups; they are ignored.
//!
//! # Protocol
//!
//! 1. `mask` starts empty: before the first poll nobody has a waker. The first poll
//!    polls every child in index order without looking at the mask.
//! 2. A later poll registers the awaiting task's waker in `parent` *before* it takes the
//!    mask (`swap(0)`), then polls each child whose bit it took, once, in index order.
//! 3. A wake-up whose `fetch_or` finds the mask empty wakes `parent`; one that finds it
//!    non-empty does not, because the wake-up that made it non-empty already did (or
//!    step 5 stands in for it). Nothing is lost: both are read-modify-writes of `mask`,
//!    so either the poll's swap sees the bit, or the wake-up comes after the swap, reads
//!    what the swap wrote, finds the mask empty, and wakes the waker registered before
//!    the swap.
//! 4. A bit is cleared before its child is polled, so a wake-up during or after that
//!    poll sets it again, and the child is polled on the next poll, not this one: a poll
//!    of the gather polls each child at most once.
//! 5. The first poll is the exception to step 2: it registers `parent` *after* polling
//!    the children, and only if some are still running, so a gather whose children are
//!    all ready at once never touches the awaiting task's waker. Until then nobody but
//!    the children has a waker, and their wake-ups find `parent` empty; so after
//!    registering, the first poll reads the mask with a read-modify-write
//!    (`fetch_or(0)`), and wakes the awaiting task itself if any bit is set. A wake-up
//!    whose `fetch_or` comes after that one reads what it wrote and so sees the
//!    registration, as in step 3; one that comes before it is seen by it.
//!
//! # Who touches what
//!
//! Wakers touch only `refs`, `mask`, `parent` and `ids` (which is never written after
//! the gather is made). The slots, `state` and `outputs` are touched only through the
//! `SmallGather`, which is not `Clone` and needs `&mut self` to do so; its `Drop` drops
//! every child and output still in a slot, in place, and leaves the slot
//! [`Slot::Taken`]. The slots are `MaybeUninit`, so when the last waker later frees the
//! allocation nothing of `F` is dropped again, or touched at all: `F` may borrow from the
//! awaiting task and be gone by then (the argument futures-rs's `FuturesUnordered` makes
//! for its own tasks).
//!
//! # Panics
//!
//! No `catch_unwind`: it would cost a gather of ready children a sixth of its time. A
//! child that panics in its poll is dropped in place as the panic unwinds through the
//! gather (and leaves its slot [`Slot::Taken`]), and the gather stays poisoned, so that
//! its `Drop` drops exactly the children and outputs still in their slots (and the
//! outputs already in the result). A child whose `Drop` panics is never dropped again:
//! every drop goes through [`vacate`]. A child that panics in its poll *and* in its
//! `Drop` is a panic during a panic, which aborts the process.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{self, offset_of, ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use atomic_waker::AtomicWaker;

use crate::set::vacate;
use crate::tuple::Slot;

/// The most children a [`SmallGather`] holds: one bit of `mask` per child.
pub(crate) const MAX: usize = 64;

/// The allocation a [`SmallGather`] and its children's wakers share.
struct Shared<F: Future, const N: usize> {
    /// One for the `SmallGather`, one per waker made by `clone_waker` (module docs, "The
    /// reference count").
    refs: AtomicUsize,
    /// Bit `i`: child `i` was woken and has not been polled since (module docs).
    mask: AtomicU64,
    /// The waker of the task that awaits the gather.
    parent: AtomicWaker,
    /// Only the `SmallGather` touches this (module docs, "Who touches what").
    state: UnsafeCell<State>,
    /// The result, made on the first poll: the outputs of children `0..outputs.len()`,
    /// which finished in input order, go straight here rather than through their slots.
    /// Only the `SmallGather` touches it, and its `Drop` drops it (not the allocation's:
    /// outputs may borrow from the awaiting task, as children may).
    outputs: UnsafeCell<ManuallyDrop<Vec<F::Output>>>,
    /// `ids[i] == i`; a child's waker points at its byte (module docs, "Layout").
    ids: [u8; N],
    /// Only the `SmallGather` touches these (module docs, "Who touches what").
    /// Slots `0..len` are initialised, the rest never are (nor touched).
    slots: [UnsafeCell<MaybeUninit<Slot<F>>>; N],
}

impl<F: Future, const N: usize> Shared<F, N> {
    /// Slot `index`.
    ///
    /// # Safety
    ///
    /// `index` must be below the gather's `len`, and the caller must be the gather
    /// (module docs, "Who touches what"), holding no other reference to that slot.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slot(&self, index: usize) -> &mut Slot<F> {
        // SAFETY: slots below `len` were initialised by `SmallGather::new`; the
        // `UnsafeCell` allows the gather's unique access (guaranteed by the caller).
        unsafe { (*self.slots[index].get()).assume_init_mut() }
    }
}

/// [`gather`](crate::gather()) for at most `N` children, `N <= 64`.
pub(crate) struct SmallGather<F: Future, const N: usize> {
    /// Owns the children and outputs in the slots, and one count of `refs`.
    shared: NonNull<Shared<F, N>>,
    /// The gather owns `F`s and outputs (for the drop check).
    _owns: PhantomData<Slot<F>>,
}

/// The gather's own bookkeeping. It lives in the shared allocation, touched only through
/// the `SmallGather` (as the slots are), so that the `SmallGather` is one pointer: moving
/// it (into `Gather`, into the task) is one word, not several small fields that the next
/// wide load must wait for.
struct State {
    /// How many children the gather was made with (slots `0..len`).
    len: u8,
    /// How many children have not finished.
    live: u8,
    /// Whether the result was returned.
    finished: bool,
    /// Whether a child panicked while polled or dropped.
    poisoned: bool,
    /// Whether the gather has been polled (module docs, "Protocol", step 5).
    polled: bool,
    /// Whether `parent` may hold a waker.
    registered: bool,
}

impl<F: Future, const N: usize> SmallGather<F, N> {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::clone_waker,
        Self::wake_waker,
        Self::wake_by_ref_waker,
        Self::drop_waker,
    );

    fn shared(&self) -> &Shared<F, N> {
        // SAFETY: the gather holds a count on the allocation until its `Drop` ends.
        unsafe { self.shared.as_ref() }
    }

    fn state(&self) -> &State {
        // SAFETY: only the gather touches the state (module docs), and `&self` excludes
        // its `&mut self` uses.
        unsafe { &*self.shared().state.get() }
    }

    fn state_mut(&mut self) -> &mut State {
        // SAFETY: only the gather touches the state (module docs), through `&mut self`.
        unsafe { &mut *self.shared().state.get() }
    }

    /// A gather of the first `N` futures `iter` yields; the caller checks for more when
    /// it gets `N`.
    ///
    /// If `iter` panics, the futures it yielded so far are dropped and the allocation is
    /// freed, by the gather's `Drop`.
    #[inline]
    pub(crate) fn new<I>(iter: &mut I) -> Self
    where
        I: Iterator<Item = F>,
    {
        const { assert!(N <= MAX) };
        let shared = NonNull::from(Box::leak(Box::<Shared<F, N>>::new_uninit())).cast();
        let raw: *mut Shared<F, N> = shared.as_ptr();
        // SAFETY: `raw` is the only pointer to a fresh, uninitialised allocation for a
        // `Shared<F, N>`. Every field but the slots is written once, without reading or
        // dropping what was there; the slots are `MaybeUninit`, and `len` (0) says none
        // of them is initialised yet.
        unsafe {
            ptr::addr_of_mut!((*raw).refs).write(AtomicUsize::new(1));
            ptr::addr_of_mut!((*raw).state).write(UnsafeCell::new(State {
                len: 0,
                live: 0,
                finished: false,
                poisoned: false,
                polled: false,
                registered: false,
            }));
            ptr::addr_of_mut!((*raw).mask).write(AtomicU64::new(0));
            ptr::addr_of_mut!((*raw).outputs).write(UnsafeCell::new(ManuallyDrop::new(Vec::new())));
            ptr::addr_of_mut!((*raw).parent).write(AtomicWaker::new());
            ptr::addr_of_mut!((*raw).ids).write(std::array::from_fn(|i| i as u8));
        }
        // Every field is initialised as far as `len` says, and the gather owns the one
        // count `refs` starts with.
        let mut gather = SmallGather {
            shared,
            _owns: PhantomData,
        };
        /// Counts the slots written so far, and tells the gather on return and on
        /// unwind: from then on a panic in `iter` drops the gather, which drops slots
        /// `0..len`.
        struct Filling<'a, F: Future, const N: usize> {
            gather: &'a mut SmallGather<F, N>,
            len: u8,
        }
        impl<F: Future, const N: usize> Drop for Filling<'_, F, N> {
            fn drop(&mut self) {
                let state = self.gather.state_mut();
                state.len = self.len;
                state.live = self.len;
            }
        }
        let mut filling = Filling {
            gather: &mut gather,
            len: 0,
        };
        for index in 0..N {
            let Some(future) = iter.next() else {
                break;
            };
            // SAFETY: slot `index` is below `N`, and it is not initialised yet (`len` is
            // `index`), so nothing refers to it; writing it drops nothing.
            unsafe {
                ptr::addr_of_mut!((*raw).slots[index])
                    .write(UnsafeCell::new(MaybeUninit::new(Slot::Running(future))));
            }
            filling.len += 1;
        }
        drop(filling);
        gather
    }

    /// The children, unpolled, in order: for an input that turned out longer than `N`.
    ///
    /// # Panics
    ///
    /// If the gather has been polled.
    pub(crate) fn into_unpolled(mut self) -> Vec<F> {
        assert!(
            !self.state().polled,
            "only an unpolled gather gives its children back"
        );
        // The children were never polled, so they may move.
        (0..self.len())
            .filter_map(|i| self.take_unpolled(i))
            .collect()
    }

    /// How many children the gather was made with.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.state().len)
    }

    /// How many children have not finished.
    pub(crate) fn live(&self) -> usize {
        usize::from(self.state().live)
    }

    /// Polls the woken children (module docs, "Protocol"), and returns every output in
    /// index order once all have finished.
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        // SAFETY: the gather holds a count on the allocation until its `Drop` ends.
        let shared = unsafe { self.shared.as_ref() };
        // SAFETY: only the gather touches the state (module docs), and it is borrowed
        // mutably here.
        let state = unsafe { &mut *shared.state.get() };
        // SAFETY: as for the state.
        let outputs: &mut Vec<F::Output> = unsafe { &mut *shared.outputs.get() };
        assert!(
            !state.poisoned,
            "a combinator was polled again after one of its children panicked"
        );
        assert!(!state.finished, "Gather polled after it completed");
        if state.live > 0 {
            let first = !state.polled;
            state.polled = true;
            let len = usize::from(state.len);
            if first {
                *outputs = Vec::with_capacity(len);
            } else {
                // Step 2: register before taking the mask.
                shared.parent.register(cx.waker());
            }
            // Until the round ends: a child that panics, in its poll or in its `Drop`
            // once finished, leaves the gather poisoned.
            state.poisoned = true;
            let mut round = Round {
                shared: self.shared,
                filled: outputs.len(),
                outputs,
                finished: 0,
            };
            if first {
                // Step 1 (`min`: the compiler does not know that `len <= N`).
                for index in 0..len.min(N) {
                    // SAFETY: `index` is below `len`, and this is the gather polling.
                    unsafe { round.poll_child(index) };
                }
            } else {
                let mut due = shared.mask.swap(0, Ordering::AcqRel);
                while due != 0 {
                    // SAFETY: only children below `len` have wakers to set bits with.
                    unsafe { round.poll_child(due.trailing_zeros() as usize) };
                    due &= due - 1;
                }
            }
            let finished = round.finished;
            drop(round);
            state.poisoned = false;
            state.live -= finished;
            if state.live > 0 {
                state.registered = true;
                if first {
                    // Step 5: register now, then look at the mask with a
                    // read-modify-write, as the swap of step 2 would.
                    shared.parent.register(cx.waker());
                    if shared.mask.fetch_or(0, Ordering::AcqRel) != 0 {
                        cx.waker().wake_by_ref();
                    }
                }
                return Poll::Pending;
            }
        }
        state.finished = true;
        let mut outputs = mem::take(outputs);
        // A range's `map` has an exact length: no capacity checks.
        let rest = (outputs.len()..usize::from(state.len)).map(|index| {
            // SAFETY: `index` is below `len`; this is the gather, with no other slot
            // reference.
            let slot = unsafe { shared.slot(index) };
            // Moving the output out leaves a slot with nothing to drop.
            match mem::replace(slot, Slot::Taken) {
                Slot::Done(output) => output,
                _ => unreachable!("every child finished, so every output is present"),
            }
        });
        outputs.extend(rest);
        Poll::Ready(outputs)
    }

    /// Polls the child in `slot` (child `index`) if it is still running, and returns its
    /// output if it finished in this poll, leaving the slot [`Slot::Taken`]. If the
    /// child's poll panics, the child is dropped in place as the panic unwinds.
    #[inline]
    fn poll_child(
        shared: NonNull<Shared<F, N>>,
        slot: &mut Slot<F>,
        index: usize,
    ) -> Option<F::Output> {
        /// Drops the child in place when dropped: on unwind, and once it is ready.
        struct Finish<'a, F: Future>(&'a mut Slot<F>);
        impl<F: Future> Drop for Finish<'_, F> {
            fn drop(&mut self) {
                vacate(self.0, Slot::Taken);
            }
        }
        let finish = Finish(slot);
        let Slot::Running(future) = &mut *finish.0 else {
            // Finished: a late wake-up.
            mem::forget(finish);
            return None;
        };
        // SAFETY: the child lives in the shared allocation, which never moves, and it is
        // only moved out of its slot before its first poll (`take_unpolled`); afterwards
        // it is dropped in place (`vacate`).
        let future = unsafe { Pin::new_unchecked(future) };
        let waker = Self::waker(shared, index);
        match future.poll(&mut Context::from_waker(&waker)) {
            Poll::Pending => {
                mem::forget(finish);
                None
            }
            Poll::Ready(output) => {
                // If the child's `Drop` panics, the slot is left empty all the same and
                // `output` is dropped as the panic unwinds.
                drop(finish);
                Some(output)
            }
        }
    }

    /// Moves child `index` out of its slot; only before its first poll.
    fn take_unpolled(&mut self, index: usize) -> Option<F> {
        // SAFETY: the callers pass indices below `len`; this is the gather, through
        // `&mut self`.
        let taken = mem::replace(unsafe { self.shared().slot(index) }, Slot::Taken);
        self.state_mut().live -= 1;
        match taken {
            Slot::Running(future) => Some(future),
            _ => None,
        }
    }

    /// The waker of child `index`, borrowed for one poll: creating it touches no
    /// reference count, and clones of it are ordinary counted wakers.
    ///
    /// `shared` is the gather's own pointer, not one made from a reference: the last
    /// waker frees the allocation through it.
    fn waker(shared: NonNull<Shared<F, N>>, index: usize) -> ManuallyDrop<Waker> {
        let data = shared
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(offset_of!(Shared<F, N>, ids) + index);
        // SAFETY: `data` is the address of `ids[index]` in a live `Shared<F, N>`, which
        // is what the vtable expects; the gather holds a count on it for as long as this
        // waker is used. The waker is never dropped (`ManuallyDrop`), so it releases no
        // count it did not take.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data.cast(), &Self::VTABLE)) })
    }

    /// The allocation and the child's bit that a waker's data stands for.
    ///
    /// # Safety
    ///
    /// `data` must come from [`SmallGather::waker`] or a clone of it, and the allocation
    /// it names must be alive.
    unsafe fn unpack(data: *const ()) -> (*const Shared<F, N>, u64) {
        // SAFETY: `data` points at `ids[index]` of a live allocation (guaranteed by the
        // caller), a byte written before the allocation was shared and never again.
        let index = unsafe { *data.cast::<u8>() } as usize;
        let shared = data
            .cast::<u8>()
            .wrapping_sub(offset_of!(Shared<F, N>, ids) + index)
            .cast::<Shared<F, N>>();
        (shared, 1 << index)
    }

    /// # Safety
    ///
    /// `data` must come from [`SmallGather::waker`] or a clone of it, and the allocation
    /// it names must be kept alive by a count the caller holds.
    unsafe fn clone_waker(data: *const ()) -> RawWaker {
        // SAFETY: guaranteed by the caller.
        let (shared, _) = unsafe { Self::unpack(data) };
        // SAFETY: the caller's count keeps the allocation alive; only `refs` is touched.
        let refs = unsafe { &(*shared).refs };
        // Relaxed, as in `Arc::clone` (module docs). The new waker owns the count.
        if refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        RawWaker::new(data, &Self::VTABLE)
    }

    /// # Safety
    ///
    /// `data` must be the data of a waker made by [`SmallGather::clone_waker`], which this
    /// call consumes.
    unsafe fn wake_waker(data: *const ()) {
        // SAFETY: the waker's own count keeps the allocation alive until `drop_waker`.
        unsafe {
            Self::wake_by_ref_waker(data);
            Self::drop_waker(data);
        }
    }

    /// # Safety
    ///
    /// As for [`SmallGather::clone_waker`].
    unsafe fn wake_by_ref_waker(data: *const ()) {
        // SAFETY: guaranteed by the caller.
        let (shared, bit) = unsafe { Self::unpack(data) };
        // SAFETY: guaranteed by the caller; only the atomic fields are touched.
        let shared = unsafe { &*shared };
        if shared.mask.fetch_or(bit, Ordering::AcqRel) == 0 {
            // Step 3: the wake-up that makes the mask non-empty wakes the parent.
            shared.parent.wake();
        }
    }

    /// # Safety
    ///
    /// `data` must be the data of a waker made by [`SmallGather::clone_waker`], which this
    /// call consumes.
    unsafe fn drop_waker(data: *const ()) {
        // SAFETY: guaranteed by the caller.
        let (shared, _) = unsafe { Self::unpack(data) };
        // SAFETY: the waker owns the count it gives back here.
        unsafe { release(shared) };
    }
}

/// Gives back one count of `refs`, and frees the allocation if it was the last.
///
/// # Safety
///
/// `shared` must point at a live `Shared<F, N>` on which the caller owns a count, which
/// this call consumes.
unsafe fn release<F: Future, const N: usize>(shared: *const Shared<F, N>) {
    // SAFETY: the caller's count keeps the allocation alive until this decrement.
    let refs = unsafe { &(*shared).refs };
    // Release, then Acquire for the one that frees (module docs, "The reference count").
    if refs.fetch_sub(1, Ordering::Release) == 1 {
        fence(Ordering::Acquire);
        // SAFETY: the last count is gone, so nothing else points at the allocation, which
        // `SmallGather::new` made with `Box`. Dropping it drops no `F` or output: the
        // slots are `MaybeUninit` and the outputs `ManuallyDrop` (and emptied by the
        // `SmallGather`'s `Drop`).
        drop(unsafe { Box::from_raw(shared.cast_mut()) });
    }
}

impl<F: Future, const N: usize> Drop for SmallGather<F, N> {
    fn drop(&mut self) {
        /// Gives back the gather's count last, also as a panicking `Drop` unwinds.
        struct Owner<F: Future, const N: usize>(NonNull<Shared<F, N>>);
        impl<F: Future, const N: usize> Drop for Owner<F, N> {
            fn drop(&mut self) {
                // SAFETY: the gather owns one count; it is given back here, once.
                let shared = unsafe { self.0.as_ref() };
                // With no waker left (module docs, "The reference count"), free without
                // a locked instruction. Acquire: see the accesses of wakers that released
                // their counts.
                if shared.refs.load(Ordering::Acquire) == 1 {
                    // SAFETY: as in `release`: nothing else points at the allocation.
                    drop(unsafe { Box::from_raw(self.0.as_ptr()) });
                } else {
                    // SAFETY: the gather's count is consumed here, once.
                    unsafe { release(self.0.as_ptr().cast_const()) };
                }
            }
        }
        let _owner = Owner(self.shared);
        if self.state().registered {
            // Wakers that outlive the gather must not keep the awaiting task alive.
            drop(self.shared().parent.take());
        }
        if self.state().finished {
            // Every output was moved out, and every child dropped as it finished.
            return;
        }
        // SAFETY: only the gather touches the outputs, and it is being dropped. Moved out,
        // they are dropped (after the slots' contents) also if a `Drop` below panics.
        let _outputs: Vec<F::Output> = mem::take(unsafe { &mut **self.shared().outputs.get() });
        /// Empties the slots from `next` on, also as a panicking `Drop` unwinds.
        struct Rest<'a, F: Future, const N: usize> {
            shared: &'a Shared<F, N>,
            next: usize,
            len: usize,
        }
        impl<F: Future, const N: usize> Drop for Rest<'_, F, N> {
            fn drop(&mut self) {
                while self.next < self.len {
                    let index = self.next;
                    self.next += 1;
                    // SAFETY: `index` is below `len`, and the gather is being dropped:
                    // nothing else touches the slots (module docs).
                    vacate(unsafe { self.shared.slot(index) }, Slot::Taken);
                }
            }
        }
        let mut rest = Rest {
            shared: self.shared(),
            next: 0,
            len: self.len(),
        };
        // On return `rest` has nothing left to do; if a `Drop` panics, `rest` goes on
        // from the next slot as the panic unwinds.
        while rest.next < rest.len {
            let index = rest.next;
            rest.next += 1;
            // SAFETY: `index` is below `len`, and the gather is being dropped: nothing
            // else touches the slots (module docs).
            vacate(unsafe { rest.shared.slot(index) }, Slot::Taken);
        }
    }
}

// SAFETY: the gather owns the children and outputs in the slots, so sending it sends
// them: they must be `Send`. Wakers, on any thread, touch only `refs`, `mask`, `parent`
// and `ids` (atomics, an `AtomicWaker`, and bytes never written again), and the last of
// them may free the allocation there, which drops no `F` or output (the slots are
// `MaybeUninit`, and emptied by the gather's `Drop`).
unsafe impl<F: Future + Send, const N: usize> Send for SmallGather<F, N> where F::Output: Send {}
// SAFETY: `&SmallGather` reaches only `len` and `live`; the slots and outputs are touched
// only through `&mut self`, as with a `Mutex`, which is `Sync` when its contents are
// `Send`.
unsafe impl<F: Future + Send, const N: usize> Sync for SmallGather<F, N> where F::Output: Send {}

impl<F: Future, const N: usize> fmt::Debug for SmallGather<F, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmallGather")
            .field("children", &self.len())
            .field("running", &self.live())
            .finish()
    }
}

/// One poll of a gather's children. The outputs of children that finish in input order
/// go straight into `outputs`, written past its length with the length kept in
/// `filled`; the length is set when the round ends, also if a child panics (so those
/// outputs are dropped with the gather).
struct Round<'a, F: Future, const N: usize> {
    shared: NonNull<Shared<F, N>>,
    outputs: &'a mut Vec<F::Output>,
    filled: usize,
    /// How many children finished in this round.
    finished: u8,
}

impl<F: Future, const N: usize> Round<'_, F, N> {
    /// Polls child `index` if it is still running, and keeps its output if it finishes.
    ///
    /// # Safety
    ///
    /// `index` must be below the gather's `len`, and the gather must be polling: nothing
    /// else refers to the slot.
    #[inline(always)]
    unsafe fn poll_child(&mut self, index: usize) {
        // SAFETY: the gather holds a count on the allocation while it polls; slot `index`
        // is below `len` and nothing else refers to it (guaranteed by the caller).
        let slot = unsafe { self.shared.as_ref().slot(index) };
        let Some(output) = SmallGather::poll_child(self.shared, slot, index) else {
            return;
        };
        self.finished += 1;
        if index == self.filled {
            // SAFETY: the first poll reserved room for every child's output, and `index`
            // is below `len`; the length is set when the round is dropped.
            unsafe { self.outputs.as_mut_ptr().add(index).write(output) };
            self.filled += 1;
        } else {
            *slot = Slot::Done(output);
        }
    }
}

impl<F: Future, const N: usize> Drop for Round<'_, F, N> {
    fn drop(&mut self) {
        // SAFETY: outputs `..filled` were written by the round (those below the old length
        // were there already), within the capacity reserved on the first poll.
        unsafe { self.outputs.set_len(self.filled) };
    }
}
