//! The errors of the combinators: [`EmptyInput`], [`TimedOut`].

use std::fmt;

/// The error of [`wait`](crate::wait()) and [`race`](crate::race()) given no futures.
///
/// With nothing to wait for, neither has an answer: asyncio raises `ValueError` here, and
/// these return this error rather than panic or never complete.
///
/// ```
/// use ringtide_combinators::{race, EmptyInput};
///
/// let nothing: Vec<std::future::Ready<u8>> = Vec::new();
/// assert_eq!(futures::executor::block_on(race(nothing)), Err(EmptyInput));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmptyInput;

impl fmt::Display for EmptyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no futures to wait for: the input was empty")
    }
}

impl std::error::Error for EmptyInput {}

/// The error of [`wait_for`](crate::wait_for()) and of
/// [`AsCompletedUntil`](crate::AsCompletedUntil) once their deadline has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline passed first")
    }
}

impl std::error::Error for TimedOut {}

impl From<TimedOut> for std::io::Error {
    fn from(err: TimedOut) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, err)
    }
}
