//! Task-management combinators for ringtide, after Python's asyncio: `gather`, `wait`,
//! `as_completed`, `race` and `TaskGroup`.
//!
//! This crate has no items yet; the combinators land here as they are built.
