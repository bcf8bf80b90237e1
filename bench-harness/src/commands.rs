//! The subcommands: their options, the checks clap cannot make, and running them.

pub mod echo;
pub mod fs;
pub mod http;
pub mod latency;
pub mod serve;
mod values;

use ringtide::Driver;

use crate::drivers::NotMeasured;

/// Most worker threads any runtime is given: far more than the CPUs of any machine the
/// harness runs on, and few enough that a typo cannot start a million threads.
const MAX_WORKERS: usize = 1024;

/// The drivers `--driver` lists, in order, or `auto` when it lists none.
fn drivers(given: &[Driver]) -> Result<Vec<Driver>, String> {
    let mut drivers = Vec::new();
    for &driver in given {
        if drivers.contains(&driver) {
            return Err(format!("--driver lists {driver} twice"));
        }
        drivers.push(driver);
    }
    if drivers.is_empty() {
        drivers.push(Driver::Auto);
    }
    Ok(drivers)
}

/// Says on stderr which ringtide drivers were left out of a run, after its figures;
/// returns whether any was (the run then fails).
fn any_not_measured(not_measured: &[NotMeasured]) -> bool {
    for skipped in not_measured {
        eprintln!(
            "error: {} was not measured: {}",
            skipped.name, skipped.reason
        );
    }
    !not_measured.is_empty()
}
