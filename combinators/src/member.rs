//! [`Member`]: a child's future as its [`TaskGroup`](crate::TaskGroup) runs it.
//!
//! The wrapper waits for the child's place in a limited group, fails the group when the
//! child fails (step 1 of the failure protocol in [`crate::task_group`]), notes whether
//! the child ended before or after the group's token was cancelled, gives its place
//! back as soon as the child ends, and keeps the group's count of running children.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Weak;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use crate::admission::Admission;
use crate::task_group::Shared;

/// What a child's task returns: the child's own result, and when it came.
#[derive(Debug)]
pub(crate) struct Ended<T, E> {
    pub(crate) result: Result<T, E>,
    /// The group's token was cancelled when the child returned.
    pub(crate) after_cancel: bool,
}

pin_project! {
    /// A child's future, wrapped for its group.
    pub(crate) struct Member<F, T, E> {
        #[pin]
        future: F,
        group: Weak<Shared<T, E>>,
        index: usize,
        admission: Admission,
        ended: bool,
    }

    impl<F, T, E> PinnedDrop for Member<F, T, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.ended {
                // Aborted, or dropped with the runtime: no longer running.
                if let Some(group) = this.group.upgrade() {
                    group.child_ended();
                }
            }
        }
    }
}

impl<F, T, E> Member<F, T, E> {
    pub(crate) fn new(
        future: F,
        group: Weak<Shared<T, E>>,
        index: usize,
        admission: Admission,
    ) -> Member<F, T, E> {
        Member {
            future,
            group,
            index,
            admission,
            ended: false,
        }
    }
}

impl<F, T, E> Future for Member<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Ended<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        ready!(this.admission.poll_admitted(cx));
        let future = this.future;
        let outcome = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        if let Ok(Poll::Pending) = outcome {
            return Poll::Pending;
        }
        *this.ended = true;
        let group = this.group.upgrade();
        let failed = !matches!(outcome, Ok(Poll::Ready(Ok(_))));
        let after_cancel = group
            .as_ref()
            .is_none_or(|group| group.token.is_cancelled());
        if let (Some(group), true) = (&group, failed) {
            // Before the place is given back, so no child waiting for it starts.
            group.fail(*this.index);
        }
        this.admission.leave();
        if let Some(group) = &group {
            group.child_ended();
        }
        match outcome {
            Ok(Poll::Ready(result)) => Poll::Ready(Ended {
                result,
                after_cancel,
            }),
            Ok(Poll::Pending) => unreachable!("returned above"),
            Err(panic) => resume_unwind(panic),
        }
    }
}
