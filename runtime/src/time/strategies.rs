//! Inputs for the property tests of time arithmetic: durations of every scale, offsets
//! from now that `Instant` can hold, and how many cases to run.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// 256 cases, enough for arithmetic to meet its edges in well under a second, unless
/// `PROPTEST_CASES` asks for another number (a longer search, say).
pub(crate) fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

/// Any `Duration`, up to `Duration::MAX`, with the small ones (where rounding to ticks
/// happens) and the largest (where sums overflow `Instant`) well represented.
pub(crate) fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0..NANOS_PER_SEC).prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
        (u64::MAX - 1000.., 0..NANOS_PER_SEC).prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
        Just(Duration::MAX),
    ]
}

/// Any `Duration` but zero (an interval's period).
pub(crate) fn any_period() -> impl Strategy<Value = Duration> {
    any_duration().prop_filter("a period is not zero", |period| !period.is_zero())
}

/// An offset from now that `Instant` can hold: below 2^62 seconds, where the monotonic
/// clock's `Instant` counts seconds since boot in an `i64`.
pub(crate) fn offset() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        (0u64..1 << 62, 0..NANOS_PER_SEC).prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
    ]
}
