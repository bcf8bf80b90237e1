//! The ringtide I/O drivers one run measures (`--driver`): the entry each is reported
//! under, and the check, before anything is measured, that a runtime on it runs here.
//!
//! The check matters because a driver may be missing (io_uring blocked by a seccomp
//! profile, or disabled by sysctl) and because `RINGTIDE_DRIVER` overrides the driver a
//! builder asks for, for the whole process: without the check, an entry named
//! `ringtide-epoll` could measure io_uring.

use ringtide::Driver;
use serde::Serialize;

/// The name of the one ringtide entry when `--driver` is `auto` alone, as it was before
/// the driver could be chosen.
pub const PLAIN_NAME: &str = "ringtide";

/// One ringtide entry of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingtideEntry {
    /// The driver asked for.
    pub driver: Driver,
    /// [`PLAIN_NAME`] when `auto` alone was asked for, else `ringtide-DRIVER`.
    pub name: String,
}

/// The ringtide entries for `drivers` (the values of `--driver`, in order).
pub fn entries(drivers: &[Driver]) -> Vec<RingtideEntry> {
    drivers
        .iter()
        .map(|&driver| RingtideEntry {
            driver,
            name: if drivers == [Driver::Auto] {
                PLAIN_NAME.to_string()
            } else {
                format!("{PLAIN_NAME}-{driver}")
            },
        })
        .collect()
}

/// A ringtide entry whose driver runs here.
#[derive(Debug, Clone)]
pub struct Usable {
    pub entry: RingtideEntry,
    /// The driver a runtime built for the entry runs on: the one asked for, or for
    /// `auto`, the one it picked.
    pub runs_on: Driver,
}

/// A ringtide entry left out of a run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotMeasured {
    /// The entry's name.
    pub name: String,
    /// The driver asked for.
    pub driver: String,
    /// Why no runtime runs on it here.
    pub reason: String,
}

/// Splits `entries` into those whose driver runs here and those left out, in order.
pub fn check_all(entries: Vec<RingtideEntry>) -> (Vec<Usable>, Vec<NotMeasured>) {
    let mut usable = Vec::new();
    let mut not_measured = Vec::new();
    for entry in entries {
        match check(entry.driver) {
            Ok(runs_on) => usable.push(Usable { entry, runs_on }),
            Err(reason) => not_measured.push(NotMeasured {
                name: entry.name,
                driver: entry.driver.to_string(),
                reason,
            }),
        }
    }
    (usable, not_measured)
}

/// Builds a one-worker runtime on `driver` and returns the driver it runs on, or why it
/// cannot be built or runs on another driver.
fn check(driver: Driver) -> Result<Driver, String> {
    let runtime = ringtide::Builder::new()
        .worker_threads(1)
        .pin_workers(false)
        .driver(driver)
        .build()
        .map_err(|e| format!("no ringtide runtime on {driver} here: {e}"))?;
    let runs_on = runtime.driver();
    if driver != Driver::Auto && runs_on != driver {
        let setting = std::env::var("RINGTIDE_DRIVER").unwrap_or_default();
        return Err(format!(
            "a runtime built for {driver} runs on {runs_on}: RINGTIDE_DRIVER={setting} \
             overrides --driver for the whole process (unset it)"
        ));
    }
    Ok(runs_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(drivers: &[Driver]) -> Vec<String> {
        entries(drivers).into_iter().map(|e| e.name).collect()
    }

    #[test]
    fn auto_alone_keeps_the_plain_name_and_lists_name_each_driver() {
        assert_eq!(names(&[Driver::Auto]), ["ringtide"]);
        assert_eq!(
            names(&[Driver::IoUring, Driver::Epoll]),
            ["ringtide-io_uring", "ringtide-epoll"]
        );
        assert_eq!(names(&[Driver::Epoll]), ["ringtide-epoll"]);
        assert_eq!(
            names(&[Driver::Epoll, Driver::Auto]),
            ["ringtide-epoll", "ringtide-auto"]
        );
    }

    #[test]
    fn epoll_runs_everywhere_and_auto_picks_a_driver() {
        // RINGTIDE_DRIVER would make the entries run elsewhere (checked by the CLI tests).
        if std::env::var_os("RINGTIDE_DRIVER").is_some() {
            return;
        }
        let (usable, not_measured) = check_all(entries(&[Driver::Epoll, Driver::Auto]));
        assert_eq!(not_measured, []);
        assert_eq!(usable[0].runs_on, Driver::Epoll);
        assert_ne!(usable[1].runs_on, Driver::Auto);
    }
}
