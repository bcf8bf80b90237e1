//! The kinds of option values clap has no parser for: durations, rates, sizes, counts
//! and ringtide's I/O drivers.
//!
//! Each kind has one reader, and every option of that kind is parsed by a [`Ranged`]
//! that holds the range the option accepts. A value out of range is refused while clap
//! reads the command line, before any work starts, with one line that names the option
//! and the range: ``error: --window must be at most 86400s (a day); got `1e20` ``.
//!
//! A reader refuses only malformed text. A well-formed value too large for its type
//! saturates there, so that the range check refuses it with the same message as any
//! other value out of range.

use std::ffi::OsStr;
use std::fmt::Display;
use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use ringtide::Driver;

/// The longest duration any option takes. A day is long enough for a soak run, and
/// deadlines built from a few such durations stay far from where an `Instant` overflows.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The slowest `--rate`, in requests per second: one request every 1000 s. It keeps the
/// time between one connection's requests (connections / rate) to a few years at most.
pub const MIN_RATE: f64 = 1e-3;

/// The fastest `--rate`: above it, one connection's requests would be due less than a
/// nanosecond apart, a gap no `Duration` holds.
pub const MAX_RATE: f64 = 1e9;

/// The parser of one option's values: reads the text as a value of the option's kind
/// and refuses values outside the option's range.
#[derive(Debug, Clone)]
pub struct Ranged<T> {
    read: fn(&str) -> Result<T, String>,
    min: T,
    max: T,
    /// The range in words, as the error says it: `at least 1 and at most 50000`.
    accepted: String,
}

impl<T: Copy + PartialOrd> Ranged<T> {
    /// `text` as a value of option `name`, or the one-line reason it is refused.
    pub fn check(&self, name: &str, text: &str) -> Result<T, String> {
        let value = (self.read)(text).map_err(|reason| one_line(&format!("{name}: {reason}")))?;
        // Written so that a NaN, which compares false with everything, is refused.
        if self.min <= value && value <= self.max {
            Ok(value)
        } else {
            Err(one_line(&format!(
                "{name} must be {}; got `{}`",
                self.accepted,
                text.trim()
            )))
        }
    }
}

impl<T: Copy + PartialOrd + Send + Sync + 'static> TypedValueParser for Ranged<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        parse_option_value(arg, value, |name, text| self.check(name, text))
    }
}

/// Reads `value` of option `arg` with `check` (given the option's name and the text),
/// refusing it in one line as clap refuses a usage error.
fn parse_option_value<T>(
    arg: Option<&clap::Arg>,
    value: &OsStr,
    check: impl FnOnce(&str, &str) -> Result<T, String>,
) -> Result<T, clap::Error> {
    let name = arg
        .and_then(clap::Arg::get_long)
        .map_or_else(|| "a value".to_string(), |long| format!("--{long}"));
    let checked = match value.to_str() {
        Some(text) => check(&name, text),
        None => Err(one_line(&format!(
            "{name}: `{}` is not UTF-8 text",
            value.to_string_lossy()
        ))),
    };
    // A raw error prints as the one line `error: MESSAGE`, and exits with clap's status
    // for usage errors, 2, like clap's own refusals.
    checked.map_err(|message| clap::Error::raw(ErrorKind::ValueValidation, message + "\n"))
}

/// The parser of ringtide I/O drivers: `io_uring`, `epoll` or `auto`.
#[derive(Debug, Clone, Copy)]
pub struct DriverName;

impl DriverName {
    /// `text` as a driver for option `name`, or the one-line reason it is refused.
    pub fn check(name: &str, text: &str) -> Result<Driver, String> {
        text.parse()
            .map_err(|e: std::io::Error| one_line(&format!("{name}: {e}")))
    }
}

impl TypedValueParser for DriverName {
    type Value = Driver;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Driver, clap::Error> {
        parse_option_value(arg, value, DriverName::check)
    }
}

/// `message` with its control characters escaped, so that text quoted from the command
/// line cannot break it over lines.
fn one_line(message: &str) -> String {
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Durations from zero to [`MAX_DURATION`].
pub fn duration() -> Ranged<Duration> {
    Ranged {
        read: parse_duration,
        min: Duration::ZERO,
        max: MAX_DURATION,
        accepted: format!("at most {}", show_max_duration()),
    }
}

/// Durations longer than zero, up to [`MAX_DURATION`].
pub fn positive_duration() -> Ranged<Duration> {
    Ranged {
        min: Duration::from_nanos(1),
        accepted: format!("longer than zero and at most {}", show_max_duration()),
        ..duration()
    }
}

fn show_max_duration() -> String {
    format!("{}s (a day)", MAX_DURATION.as_secs())
}

/// Requests per second, from [`MIN_RATE`] to [`MAX_RATE`].
pub fn rate() -> Ranged<f64> {
    Ranged {
        read: parse_rate,
        min: MIN_RATE,
        max: MAX_RATE,
        accepted: format!(
            "a positive number of requests per second, from {MIN_RATE} to {MAX_RATE:e}"
        ),
    }
}

/// Byte counts from `min` to `max`.
pub fn size(min: usize, max: usize) -> Ranged<usize> {
    Ranged {
        read: parse_size,
        min,
        max,
        accepted: format!("at least {} and at most {}", show_size(min), show_size(max)),
    }
}

/// A byte count in the largest unit that keeps it whole, as `--size` reads it back.
fn show_size(bytes: usize) -> String {
    match bytes {
        1 => "1 byte".to_string(),
        _ if bytes >= 1 << 20 && bytes % (1 << 20) == 0 => format!("{} MiB", bytes >> 20),
        _ if bytes >= 1 << 10 && bytes % (1 << 10) == 0 => format!("{} KiB", bytes >> 10),
        _ => format!("{bytes} bytes"),
    }
}

/// The integer types counts are read into.
pub trait Count:
    Copy + PartialOrd + Display + FromStr<Err = ParseIntError> + Send + Sync + 'static
{
    /// Where a count too large to read saturates.
    const MAX: Self;
}

impl Count for u32 {
    const MAX: u32 = u32::MAX;
}

impl Count for u64 {
    const MAX: u64 = u64::MAX;
}

impl Count for usize {
    const MAX: usize = usize::MAX;
}

/// Whole numbers from `min` to `max`.
pub fn count<T: Count>(min: T, max: T) -> Ranged<T> {
    Ranged {
        read: parse_count::<T>,
        min,
        max,
        accepted: format!("at least {min} and at most {max}"),
    }
}

/// A number of MiB, from zero to `max`.
pub fn mebibytes(max: u32) -> Ranged<u32> {
    Ranged {
        accepted: format!("at most {max} (MiB)"),
        ..count(0, max)
    }
}

/// Parses `1s`, `1.5s`, `250ms`, `40us`, `100ns`, `1e-3s` (a bare number is seconds),
/// to the nearest nanosecond. Durations past what a `u64` of nanoseconds holds (584
/// years) saturate there.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    // The unit is the letters at the end, so that an exponent (`1e-3s`, `1e20`) stays
    // with the number.
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 1s, 500ms, 250us"))?;
    let nanos_per_unit = match unit {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        "ns" => 1.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use s, ms, us or ns"
            ))
        }
    };
    let nanos = value * nanos_per_unit;
    if nanos.is_nan() || nanos < 0.0 {
        return Err(format!("`{text}` is not a non-negative duration"));
    }
    // `as` saturates: anything past u64::MAX nanoseconds, infinity included, reads as
    // u64::MAX, which every range refuses.
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Parses a number of requests per second: `600`, `2.5`, `1e6`. Infinity reads as
/// infinity, for the range to refuse; NaN is no number.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(rate) if !rate.is_nan() => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a number of requests per second; use e.g. 1000, 2.5e4"
        )),
    }
}

/// Parses `128`, `4k`, `4K`, `4KiB`, `1m`, `1MiB` as a byte count. Counts past
/// `usize::MAX` saturate there.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value = parse_count::<usize>(number)
        .map_err(|_| format!("`{text}` is not a size; use e.g. 128, 4k, 4KiB"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("unknown unit in `{text}`; use B, KiB or MiB")),
    };
    Ok(value.saturating_mul(scale))
}

/// Parses a whole number; one too large for `T` saturates at `T::MAX`.
pub fn parse_count<T: Count>(text: &str) -> Result<T, String> {
    let text = text.trim();
    match text.parse::<T>() {
        Ok(n) => Ok(n),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Ok(T::MAX),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("40us"), Ok(Duration::from_micros(40)));
        assert_eq!(parse_duration("40µs"), Ok(Duration::from_micros(40)));
        assert_eq!(parse_duration("100ns"), Ok(Duration::from_nanos(100)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("1h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes_parse_in_bytes_kib_and_mib() {
        assert_eq!(parse_size("128"), Ok(128));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64B"), Ok(64));
        assert!(parse_size("4x").unwrap_err().contains("unknown unit"));
        assert!(parse_size("big").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn exponents_stay_with_the_number() {
        assert_eq!(parse_duration("1e-3s"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_duration("2.5e2ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1e3"), Ok(Duration::from_secs(1000)));
        assert!(parse_duration("1e")
            .unwrap_err()
            .contains("unknown unit `e`"));
        assert_eq!(parse_rate("2.5e4"), Ok(25_000.0));
    }

    #[test]
    fn values_too_large_for_their_type_saturate_for_the_range_to_refuse() {
        let most = Duration::from_nanos(u64::MAX);
        assert_eq!(parse_duration("1e20"), Ok(most));
        assert_eq!(parse_duration("100000000000000000000"), Ok(most));
        assert_eq!(parse_duration("1e400s"), Ok(most));
        assert_eq!(parse_size("99999999999999999999999"), Ok(usize::MAX));
        assert_eq!(parse_size(&format!("{}m", usize::MAX / 2)), Ok(usize::MAX));
        assert_eq!(parse_count::<u32>("4294967296"), Ok(u32::MAX));
        assert_eq!(parse_rate("1e400"), Ok(f64::INFINITY));
        assert!(parse_rate("NaN").is_err());
    }

    #[test]
    fn refusals_name_the_option_and_its_range_on_one_line() {
        let refused = |ranged: Ranged<Duration>, text| ranged.check("--window", text).unwrap_err();
        assert_eq!(
            refused(duration(), "1e20"),
            "--window must be at most 86400s (a day); got `1e20`"
        );
        assert_eq!(
            refused(positive_duration(), " 0s "),
            "--window must be longer than zero and at most 86400s (a day); got `0s`"
        );
        assert_eq!(
            duration().check("--lead", "86400.000000001"),
            Err("--lead must be at most 86400s (a day); got `86400.000000001`".into())
        );
        assert_eq!(duration().check("--lead", "86400"), Ok(MAX_DURATION));
        assert_eq!(
            rate().check("--rate", "1e-300").unwrap_err(),
            "--rate must be a positive number of requests per second, from 0.001 to 1e9; \
             got `1e-300`"
        );
        assert!(rate().check("--rate", "1e9").is_ok());
        assert_eq!(
            size(1, 16 << 20).check("--size", "17m").unwrap_err(),
            "--size must be at least 1 byte and at most 16 MiB; got `17m`"
        );
        assert_eq!(
            count(1u64, 50).check("--tasks", "51").unwrap_err(),
            "--tasks must be at least 1 and at most 50; got `51`"
        );
        assert_eq!(
            mebibytes(1024)
                .check("--malloc-top-pad", "1025")
                .unwrap_err(),
            "--malloc-top-pad must be at most 1024 (MiB); got `1025`"
        );
        assert_eq!(
            count(1usize, 9)
                .check("--workers", "two\nthree")
                .unwrap_err(),
            "--workers: `two\\nthree` is not a whole number"
        );
    }

    #[test]
    fn drivers_parse_by_name_and_refusals_name_the_choices() {
        assert_eq!(DriverName::check("--driver", "epoll"), Ok(Driver::Epoll));
        assert_eq!(
            DriverName::check("--driver", " io_uring"),
            Ok(Driver::IoUring)
        );
        assert_eq!(DriverName::check("--driver", "auto"), Ok(Driver::Auto));
        let refused = DriverName::check("--driver", "kqueue\nx").unwrap_err();
        assert!(refused.starts_with("--driver: "), "{refused}");
        assert!(refused.contains("io_uring, epoll or auto"), "{refused}");
        assert!(!refused.contains('\n'), "{refused:?}");
    }

    /// Text shaped like the values options take, edges included: signs, exponents, units
    /// known and unknown, digit strings too long for any integer.
    fn value_like() -> impl Strategy<Value = String> {
        "[ +-]{0,2}[0-9]{0,30}([.][0-9]{0,12})?([eE][+-]?[0-9]{1,4})?[ ]?\
         (s|ms|us|µs|ns|h|k|KiB|m|MiB|B|e|inf|NaN)?[ ]?"
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), value_like()]
    }

    /// Proptest's settings for these tests: enough cases to find an edge, few enough to
    /// take well under a second; nothing written to the source tree.
    fn cases() -> ProptestConfig {
        ProptestConfig {
            cases: 1_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    const MAX_SIZE: usize = 16 << 20;

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn no_text_panics_a_parser_and_what_it_accepts_is_in_range(text in any_text()) {
            let name = "--option";
            let mut refusals = Vec::new();
            match duration().check(name, &text) {
                Ok(d) => prop_assert!(d <= MAX_DURATION),
                Err(e) => refusals.push(e),
            }
            match positive_duration().check(name, &text) {
                Ok(d) => prop_assert!(!d.is_zero() && d <= MAX_DURATION),
                Err(e) => refusals.push(e),
            }
            match rate().check(name, &text) {
                Ok(r) => prop_assert!((MIN_RATE..=MAX_RATE).contains(&r)),
                Err(e) => refusals.push(e),
            }
            match size(1, MAX_SIZE).check(name, &text) {
                Ok(n) => prop_assert!((1..=MAX_SIZE).contains(&n)),
                Err(e) => refusals.push(e),
            }
            match count(1u64, 50_000).check(name, &text) {
                Ok(n) => prop_assert!((1..=50_000).contains(&n)),
                Err(e) => refusals.push(e),
            }
            for refusal in refusals {
                prop_assert!(refusal.starts_with(name), "{}", refusal);
                prop_assert!(!refusal.contains('\n'), "{:?}", refusal);
            }
        }

        #[test]
        fn durations_read_back_as_written(nanos in 0..=MAX_DURATION.as_nanos() as u64) {
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(duration().check("--lead", &format!("{nanos}ns")), Ok(d));
            prop_assert_eq!(duration().check("--lead", &format!("{}s", d.as_secs_f64())), Ok(d));
            let micros = format!("{}us", nanos as f64 / 1e3);
            prop_assert_eq!(duration().check("--lead", &micros), Ok(d));
            let millis = nanos / 1_000_000;
            prop_assert_eq!(
                duration().check("--lead", &format!("{millis}ms")),
                Ok(Duration::from_millis(millis))
            );
        }

        #[test]
        fn sizes_read_back_as_written(bytes in 1..=MAX_SIZE) {
            let sizes = size(1, MAX_SIZE);
            prop_assert_eq!(sizes.check("--size", &bytes.to_string()), Ok(bytes));
            let kib = bytes >> 10;
            prop_assert_eq!(parse_size(&format!("{kib}KiB")), Ok(kib << 10));
            prop_assert_eq!(parse_size(&format!("{kib}k")), Ok(kib << 10));
            let mib = bytes >> 20;
            prop_assert_eq!(parse_size(&format!("{mib} MiB")), Ok(mib << 20));
        }

        #[test]
        fn rates_read_back_as_written(r in MIN_RATE..=MAX_RATE) {
            prop_assert_eq!(rate().check("--rate", &r.to_string()), Ok(r));
            prop_assert_eq!(rate().check("--rate", &format!("{r:e}")), Ok(r));
        }

        #[test]
        fn counts_read_back_as_written_and_out_of_range_is_refused(n: u64) {
            prop_assert_eq!(parse_count::<u64>(&n.to_string()), Ok(n));
            let checked = count(1u64, 50_000).check("--connections", &n.to_string());
            prop_assert_eq!(checked.is_ok(), (1..=50_000).contains(&n));
        }
    }
}
