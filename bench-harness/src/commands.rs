//! The subcommands: their options, the checks clap cannot make, and running them.

pub mod echo;
pub mod latency;
pub mod serve;
mod values;

/// Most worker threads any runtime is given: far more than the CPUs of any machine the
/// harness runs on, and few enough that a typo cannot start a million threads.
const MAX_WORKERS: usize = 1024;
