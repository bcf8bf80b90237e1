//! The subcommands: their options, the checks clap cannot make, and running them.

pub mod echo;
pub mod latency;
pub mod serve;
mod values;
