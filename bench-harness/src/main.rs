//! `ringtide-bench`: the project's measurement harness.
//!
//! The runtime's micro-benchmarks against tokio are criterion benches:
//! `cargo bench -p ringtide-bench --bench runtime`.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "ringtide-bench has no subcommands yet.\n\
         Runtime micro-benchmarks (ringtide vs tokio): cargo bench -p ringtide-bench --bench runtime"
    );
    ExitCode::from(2)
}
