//! What every latency report shows of a run: its figures in the reports' units, their
//! ratios to a reference runtime (and, when ringtide ran on chosen drivers, each driver's
//! ratios to the other runtimes), and a one-line description of the run's settings.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{RunConfig, RuntimeResult, NS_PER_US};
use crate::drivers::PLAIN_NAME;

/// The name of the OS floor's result.
pub(super) const FLOOR: &str = "floor";
/// Lateness figures of one runtime, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Lateness {
    pub(super) p50: f64,
    pub(super) p90: f64,
    pub(super) p99: f64,
    #[serde(rename = "p99.9")]
    pub(super) p99_9: f64,
    #[serde(rename = "p99.99")]
    pub(super) p99_99: f64,
    pub(super) max: f64,
    pub(super) min: f64,
    pub(super) mean: f64,
    pub(super) stdev: f64,
}

impl Lateness {
    pub(super) fn of(hist: &Histogram<u64>) -> Lateness {
        let (mean, stdev) = mean_and_stdev(hist);
        let at = |q: f64| hist.value_at_quantile(q) as f64 / NS_PER_US;
        Lateness {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p99_9: at(0.999),
            p99_99: at(0.9999),
            // Both are 0 for an empty histogram, which keeps empty runs printable.
            max: hist.max() as f64 / NS_PER_US,
            min: hist.min() as f64 / NS_PER_US,
            mean: mean / NS_PER_US,
            stdev: stdev / NS_PER_US,
        }
    }
}

/// Mean and standard deviation of `hist`, summed in the Java library's order (each bucket
/// counted at its median value) so that `.hgrm` footers match Java's to the last digit.
pub(super) fn mean_and_stdev(hist: &Histogram<u64>) -> (f64, f64) {
    let total = hist.len();
    if total == 0 {
        return (0.0, 0.0);
    }
    let buckets = || {
        hist.iter_recorded().map(|b| {
            (
                hist.median_equivalent(b.value_iterated_to()) as f64,
                b.count_at_value() as f64,
            )
        })
    };
    let mean = buckets().map(|(v, n)| v * n).sum::<f64>() / total as f64;
    let deviation = buckets()
        .map(|(v, n)| (v - mean) * (v - mean) * n)
        .sum::<f64>();
    (mean, (deviation / total as f64).sqrt())
}

/// Every figure of one runtime in the units the reports use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Figures {
    pub(super) lateness: Lateness,
    pub(super) count: u64,
    pub(super) early_wakes: u64,
    pub(super) wall_s: f64,
    /// Tasks per second.
    pub(super) spawn_rate: f64,
    pub(super) peak_rss: u64,
    pub(super) bytes_per_task: f64,
    pub(super) drain_ms: Option<f64>,
}

impl Figures {
    pub(super) fn of(result: &RuntimeResult) -> Figures {
        Figures {
            lateness: Lateness::of(&result.lateness),
            count: result.lateness.len(),
            early_wakes: result.early_wakes,
            wall_s: result.wall.as_secs_f64(),
            spawn_rate: result.spawn_rate,
            peak_rss: result.peak_rss,
            bytes_per_task: result.bytes_per_task(),
            drain_ms: result.drain.map(|d| d.as_secs_f64() * 1e3),
        }
    }
}

/// The result others are divided by: ringtide's (the first driver's, when several ran),
/// or the first one when ringtide did not run.
pub(super) fn reference(results: &[RuntimeResult]) -> Option<&RuntimeResult> {
    results
        .iter()
        .find(|r| r.driver.is_some())
        .or_else(|| results.first())
}

/// Whether ringtide ran on drivers chosen with `--driver` (its results are then named
/// after their drivers), so that each driver's figures are also divided by every other
/// runtime's.
pub(super) fn compares_drivers(results: &[RuntimeResult]) -> bool {
    results
        .iter()
        .any(|r| r.driver.is_some() && r.name != PLAIN_NAME)
}

/// `value / reference`, or `None` where that is no number (a zero or missing reference).
pub(super) fn ratio(value: Option<f64>, reference: Option<f64>) -> Option<f64> {
    let (value, reference) = (value?, reference?);
    if reference == 0.0 {
        return None;
    }
    Some(value / reference).filter(|r| r.is_finite())
}

/// Describes a run in one line, naming only the settings its mode uses.
pub(super) fn describe(config: &RunConfig) -> String {
    let mut parts = vec![
        format!("mode {}", config.mode),
        format!("{} tasks", thousands(config.tasks)),
        format!("{} workers", config.workers),
        (if config.pin { "pinned" } else { "unpinned" }).to_string(),
    ];
    let window = format!("window {}", span(config.window_us));
    let period = format!("period {}", span(config.window_us));
    let lead = format!("lead {}", span(config.lead_us));
    let duration = format!("duration {}", span(config.duration_us));
    match config.mode.as_str() {
        "spread" => parts.extend([window, lead]),
        "burst" => parts.push(lead),
        "periodic" => parts.extend([period, lead, duration]),
        _ => parts.extend([window, lead, duration]),
    }
    if let Some(mib) = config.malloc_top_pad_mib {
        parts.push(format!("malloc top pad {mib} MiB"));
    }
    parts.join(", ")
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A microsecond count in the largest unit that keeps it whole.
fn span(us: u64) -> String {
    match us {
        0 => "0".to_string(),
        _ if us % 1_000_000 == 0 => format!("{}s", us / 1_000_000),
        _ if us % 1_000 == 0 => format!("{}ms", us / 1_000),
        _ => format!("{us}µs"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::show_lateness;
    use super::*;

    #[test]
    fn helpers_format_as_intended() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(span(0), "0");
        assert_eq!(span(3_000_000), "3s");
        assert_eq!(span(1_500_000), "1500ms");
        assert_eq!(span(250), "250µs");
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(Some(3.0), Some(1.5)), Some(2.0));
        assert_eq!(ratio(None, Some(1.5)), None);
        assert_eq!(show_lateness(1.234), "1.23");
        assert_eq!(show_lateness(1_234.56), "1234.6");
        assert_eq!(show_lateness(123_456.7), "123457");
    }
}
