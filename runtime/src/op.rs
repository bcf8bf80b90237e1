//! An I/O request as a future: submitted on its first poll to the driver of the worker
//! polling it, and cancelled there if dropped in flight.
//!
//! The request and its memory belong to the driver layer ([`OpCell`], or [`MultiCell`]
//! for a multishot request); these futures add only the routing, which needs the
//! scheduler: which worker the current thread is, and how to reach that worker's driver
//! from another thread once the task has moved.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context::{self, Current};
use crate::coop;
use crate::driver::multishot::{MultiCell, MultishotOperation, Shot};
use crate::driver::op::{OpCell, OpRef, Operation};
use crate::scheduler::WorkerShared;

/// The future of one operation. Submitted on its first poll, to the driver of the worker
/// polling it (from `block_on` or a thread outside the runtime, to a worker's driver
/// through its inbox).
pub(crate) struct Op<T: Operation> {
    cell: OpCell<T>,
    /// The worker whose driver has the request; `None` before submission.
    owner: Option<Arc<WorkerShared>>,
    /// The output was taken.
    done: bool,
}

// The operation's data lives in the shared allocation and is never pinned.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            cell: OpCell::new(data),
            owner: None,
            done: false,
        }
    }

    /// Hands the request to a driver. Returns an error when there is no runtime to run
    /// it.
    fn submit(&mut self) -> io::Result<()> {
        self.owner = Some(route(self.cell.submit())?);
        Ok(())
    }
}

/// Hands a request to the driver of the worker polling it (from `block_on` or a thread
/// outside the runtime, to a worker's driver through its inbox); the worker it went to.
fn route(op: OpRef) -> io::Result<Arc<WorkerShared>> {
    context::with_current(|current| match current {
        Current::Worker(core) => Ok(core.submit_op(op)),
        Current::BlockOn(shared) => {
            let worker = shared.workers[shared.next_timer_worker()].clone();
            worker.send_submit(op);
            Ok(worker)
        }
        Current::None => Err(io::Error::other(
            "ringtide I/O used outside a ringtide runtime: \
             await it inside a task or inside Runtime::block_on",
        )),
    })
}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        assert!(!this.done, "operation polled after completion");
        if this.owner.is_none() {
            // A readiness driver completes a request on a ready socket at once, so a
            // task whose socket stays ready would never suspend: each request spends
            // one unit of the task's budget, and once that is gone the task yields
            // before it starts another.
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            if let Err(e) = this.submit() {
                this.done = true;
                return Poll::Ready(this.cell.fail_submit(e));
            }
        }
        let output = this.cell.poll(cx.waker());
        this.done = output.is_ready();
        output
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(owner) = self.owner.take() else {
            return; // never submitted: the data is dropped with the allocation
        };
        if !self.done && self.cell.abandon() {
            owner.cancel(self.cell.op_ref());
        }
    }
}

impl<T: Operation> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("cell", &self.cell)
            .field("done", &self.done)
            .finish()
    }
}

/// A multishot request, armed on its first poll (as [`Op`] is submitted), whose
/// completions [`poll_next`](MultiOp::poll_next) takes one at a time; cancelled on its
/// driver if dropped while still armed.
pub(crate) struct MultiOp<T: MultishotOperation> {
    cell: MultiCell<T>,
    /// The worker whose driver has the request; `None` before submission.
    owner: Option<Arc<WorkerShared>>,
    /// No completion will come any more (the last was taken, or submission failed).
    done: bool,
}

impl<T: MultishotOperation> MultiOp<T> {
    pub(crate) fn new(data: T) -> MultiOp<T> {
        MultiOp {
            cell: MultiCell::new(data),
            owner: None,
            done: false,
        }
    }

    /// The next completion; `None` after the last one (the one without
    /// `IORING_CQE_F_MORE`) was taken; an error when there is no runtime to run the
    /// request. Each poll spends a unit of the task's budget, so a task whose request
    /// keeps completing still yields.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Shot>>> {
        if self.done {
            return Poll::Ready(None);
        }
        std::task::ready!(coop::poll_proceed(cx));
        if self.owner.is_none() {
            match route(self.cell.submit()) {
                Ok(owner) => self.owner = Some(owner),
                Err(e) => {
                    self.cell.fail_submit();
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
        let next = std::task::ready!(self.cell.poll_next(cx.waker()));
        self.done = next.is_none();
        Poll::Ready(next.map(Ok))
    }
}

impl<T: MultishotOperation> Drop for MultiOp<T> {
    fn drop(&mut self) {
        let Some(owner) = self.owner.take() else {
            return; // never submitted
        };
        if self.cell.abandon() {
            owner.cancel(self.cell.op_ref());
        }
    }
}

impl<T: MultishotOperation> std::fmt::Debug for MultiOp<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiOp")
            .field("cell", &self.cell)
            .field("done", &self.done)
            .finish()
    }
}
