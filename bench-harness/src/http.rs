//! `ringtide-bench http --compare`: the same HTTP service (`ringtide_examples::route`
//! behind hyper-util's auto builder) served by ringtide (on each I/O driver asked for)
//! and by tokio, loaded by wrk (HTTP/1.1) and h2load (h2c) side by side.
//!
//! * `tools.rs`: finding and running the tools, pinned to the load CPU.
//! * `parse.rs`: reading their reports (and h2load's per-request log).
//! * `compare.rs`: the rounds of servers and loads, and the server's CPU time.
//!
//! The servers are those of `serve.rs` (`serve --protocol http`), in child processes.

pub mod compare;
pub mod parse;
pub mod tools;
