//! [`GroupError`] and [`ChildError`]: how the children of a [`TaskGroup`](crate::TaskGroup)
//! failed.

use std::fmt;

use ringtide::JoinError;

/// Every failure in a [`TaskGroup`](crate::TaskGroup): asyncio's `ExceptionGroup`.
#[derive(Debug)]
pub struct GroupError<E> {
    /// The failed children, in spawn order.
    pub errors: Vec<ChildError<E>>,
}

/// How one child of a [`TaskGroup`](crate::TaskGroup) failed.
#[derive(Debug)]
pub enum ChildError<E> {
    /// The child returned `Err(error)`.
    Failed {
        /// The child's index (its spawn order).
        index: usize,
        /// What it returned.
        error: E,
    },
    /// The child panicked; `error.into_panic()` gives the payload.
    Panicked {
        /// The child's index (its spawn order).
        index: usize,
        /// The task's error, which carries the panic.
        error: JoinError,
    },
    /// The child was cancelled while no sibling had failed (the runtime shut down).
    Cancelled {
        /// The child's index (its spawn order).
        index: usize,
        /// The task's error.
        error: JoinError,
    },
}

impl<E> ChildError<E> {
    /// The failed child's index (its spawn order).
    pub fn index(&self) -> usize {
        match self {
            ChildError::Failed { index, .. }
            | ChildError::Panicked { index, .. }
            | ChildError::Cancelled { index, .. } => *index,
        }
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} child task(s) failed", self.errors.len())?;
        for error in &self.errors {
            match error {
                ChildError::Failed { index, error } => write!(f, "; child {index}: {error}")?,
                ChildError::Panicked { index, .. } => write!(f, "; child {index} panicked")?,
                ChildError::Cancelled { index, .. } => write!(f, "; child {index} was cancelled")?,
            }
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}
