//! HdrHistogram's percentile distribution text (`.hgrm`), as written by the Java
//! library's `outputPercentileDistribution(out, 5, 1000.0)`: HdrHistogram's plotter and
//! the scripts built around it read this format.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use super::summary::mean_and_stdev;
use super::{RuntimeResult, NS_PER_US};

/// Percentile steps per halving of the distance to 100%, the Java library's default.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `dir/<runtime>.hgrm` for every result (creating `dir` if needed) and returns
/// the paths written, in the order of `results`. Each file holds the runtime's lateness
/// distribution in HdrHistogram's percentile text format, values in microseconds.
pub fn write_hgrm(dir: &Path, results: &[RuntimeResult]) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut paths = Vec::with_capacity(results.len());
    for result in results {
        let path = dir.join(format!("{}.hgrm", file_stem(&result.name)));
        let mut out = BufWriter::new(File::create(&path)?);
        percentile_distribution(&result.lateness, &mut out)?;
        // BufWriter's drop would swallow a failed final write.
        out.flush()?;
        paths.push(path);
    }
    Ok(paths)
}

/// A runtime name made safe to use as a file name.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.trim_start_matches('.') {
        "" => "runtime".to_string(),
        _ => stem,
    }
}

/// One row of a percentile distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Step {
    /// Highest value of the bucket reached, in nanoseconds.
    pub(super) value: u64,
    /// Percentile level iterated to, 0 to 100.
    pub(super) percentile: f64,
    /// Values at or below this bucket.
    pub(super) total_count: u64,
}

/// The steps of the Java library's `PercentileIterator`: 5 evenly spaced levels in each
/// halving of the distance to 100% (0, 10, ..., 50, 55, ..., 75, 77.5, ...), each at the
/// first bucket whose cumulative count reaches it, then a last step at 100%.
///
/// The `hdrhistogram` crate's `iter_quantiles` walks the same levels as fractions, where
/// adding 0.1 three times overshoots 0.3 and lands a row one bucket late; levels kept in
/// percent are sums of exact binary fractions, so the rows match Java's to the digit.
pub(super) fn percentile_steps(hist: &Histogram<u64>) -> Vec<Step> {
    let total = hist.len();
    let mut steps = Vec::new();
    if total == 0 {
        return steps;
    }
    let mut level = 0.0_f64;
    let mut running = 0u64;
    let mut last_value = 0;
    for bucket in hist.iter_recorded() {
        running += bucket.count_at_value();
        last_value = bucket.value_iterated_to();
        let reached = 100.0 * running as f64 / total as f64;
        while reached >= level {
            steps.push(Step {
                value: last_value,
                percentile: level,
                total_count: running,
            });
            // Java truncates the halving count and computes the tick count in integers.
            let halvings = ((100.0 / (100.0 - level)).ln() / 2.0_f64.ln()) as u32;
            let ticks = u64::from(TICKS_PER_HALF_DISTANCE)
                .saturating_mul(1u64.checked_shl(halvings + 1).unwrap_or(u64::MAX));
            let next = level + 100.0 / ticks as f64;
            // Past float resolution next to 100% a level can stop moving; it would loop.
            level = if next > level { next } else { 100.0 };
            // The bucket holding the maximum gets one row before the 100% row.
            if running == total {
                break;
            }
        }
        if running == total {
            break;
        }
    }
    steps.push(Step {
        value: last_value,
        percentile: 100.0,
        total_count: total,
    });
    steps
}

/// Writes `hist` (nanoseconds) as a percentile distribution in microseconds.
///
/// Java prints values with as many decimals as the histogram has significant digits; the
/// values here are nanoseconds over 1000, so three decimals show them exactly.
fn percentile_distribution(hist: &Histogram<u64>, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    for step in percentile_steps(hist) {
        let value = java_fixed(step.value as f64 / NS_PER_US, 3);
        let quantile = step.percentile / 100.0;
        let shown = java_fixed(quantile, 12);
        let count = step.total_count;
        if step.percentile < 100.0 {
            let inverse = java_fixed(1.0 / (1.0 - quantile), 2);
            writeln!(out, "{value:>12} {shown:>2} {count:10} {inverse:>14}")?;
        } else {
            // Java leaves out the infinite 1/(1-Percentile) of the 100% line, which also
            // keeps the plotter (it wants four numbers a line) from drawing it.
            writeln!(out, "{value:>12} {shown:>2} {count:10}")?;
        }
    }
    let (mean, stdev) = mean_and_stdev(hist);
    writeln!(
        out,
        "#[Mean    = {:>12}, StdDeviation   = {:>12}]",
        java_fixed(mean / NS_PER_US, 3),
        java_fixed(stdev / NS_PER_US, 3)
    )?;
    writeln!(
        out,
        "#[Max     = {:>12}, Total count    = {:12}]",
        java_fixed(hist.max() as f64 / NS_PER_US, 3),
        hist.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_bucket_count(hist.sigfig())
    )
}

/// `v` with `decimals` digits after the point, rounded as Java's `Formatter` rounds `%f`:
/// half up, starting from the shortest decimal that reads back as `v`. Rust's `{:.N}`
/// rounds the exact binary value instead, which differs on ties such as the level
/// 99.97802734375% (exact in binary) or a mean of 33.7335.
fn java_fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let sign = if v.is_sign_negative() && v != 0.0 {
        "-"
    } else {
        ""
    };
    // `{:e}` gives the shortest round-trip digits, as in `1.2345e-3`.
    let scientific = format!("{:e}", v.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();

    // Lay the digits out at fixed point: `whole` digits before it, the rest after.
    let whole = exponent + 1;
    let mut fixed: Vec<u8> = Vec::new();
    let mut int_len = whole.max(1) as usize;
    if whole <= 0 {
        fixed.push(0);
        fixed.extend(std::iter::repeat_n(0, whole.unsigned_abs() as usize));
    }
    fixed.extend(&digits);
    while fixed.len() < int_len + decimals + 1 {
        fixed.push(0);
    }
    let round_up = fixed[int_len + decimals] >= 5;
    fixed.truncate(int_len + decimals);
    if round_up {
        let mut i = fixed.len();
        loop {
            if i == 0 {
                fixed.insert(0, 1);
                int_len += 1;
                break;
            }
            i -= 1;
            if fixed[i] == 9 {
                fixed[i] = 0;
            } else {
                fixed[i] += 1;
                break;
            }
        }
    }

    let text = |d: &[u8]| d.iter().map(|d| char::from(b'0' + d)).collect::<String>();
    let (int_part, fraction) = fixed.split_at(int_len);
    if decimals == 0 {
        format!("{sign}{}", text(int_part))
    } else {
        format!("{sign}{}.{}", text(int_part), text(fraction))
    }
}

/// Sub-buckets per bucket: the smallest power of two that resolves `2 * 10^sigfig`
/// distinct values, as both the Java and the Rust library size them (the Rust one does
/// not expose the figure).
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest_single_unit = 2 * 10u64.pow(u32::from(sigfig));
    largest_single_unit.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{result, scratch_dir, spread_histogram};
    use super::*;

    fn text(hist: &Histogram<u64>) -> String {
        let mut out = Vec::new();
        percentile_distribution(hist, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Data rows as (value, percentile, total count, 1/(1-percentile) when present).
    fn rows(text: &str) -> Vec<(f64, f64, u64, Option<f64>)> {
        text.lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                assert!(cells.len() == 3 || cells.len() == 4, "{l:?}");
                (
                    cells[0].parse().unwrap(),
                    cells[1].parse().unwrap(),
                    cells[2].parse().unwrap(),
                    cells.get(3).map(|c| c.parse().unwrap()),
                )
            })
            .collect()
    }

    /// A footer figure, e.g. `footer(text, "Mean")`.
    fn footer(text: &str, name: &str) -> f64 {
        let start = text.find(&format!("{name} ")).unwrap() + name.len();
        let rest = text[start..].trim_start_matches([' ', '=']);
        let end = rest.find([',', ']']).unwrap();
        rest[..end].trim().parse().unwrap()
    }

    /// Bounds as the harness's recorder uses; they decide the `Buckets` footer figure.
    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 600_000_000_000, 3).unwrap()
    }

    /// Line by line, so that a failure shows the first row that differs.
    fn assert_same(got: &str, want: &str) {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "line {}", i + 1);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn matches_java_for_one_to_a_thousand_microseconds() {
        // What HdrHistogram 2.1.11 (Java) writes for the same values with
        // outputPercentileDistribution(out, 5, 1000.0).
        let java = include_str!("testdata/java-uniform.hgrm");
        let mut hist = histogram();
        for us in 1..=1_000 {
            hist.record(us * 1_000).unwrap();
        }
        assert_same(&text(&hist), java);
    }

    #[test]
    fn matches_java_for_a_long_tail() {
        // Reaches levels such as 99.97802734375%, a tie when rounded to 12 decimals.
        let java = include_str!("testdata/java-longtail.hgrm");
        let mut hist = histogram();
        hist.record(1).unwrap();
        hist.record_n(2_000, 999_998).unwrap();
        hist.record(5_000_000).unwrap();
        assert_same(&text(&hist), java);
    }

    #[test]
    fn rows_and_footer_of_one_to_a_thousand_microseconds() {
        let hist = spread_histogram(1_000, 1_000);
        let text = text(&hist);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));

        let rows = rows(&text);
        assert!(rows.len() > 30, "{} rows", rows.len());
        assert_eq!(rows[0], (1.0, 0.0, 1, Some(1.0)));
        for pair in rows.windows(2) {
            assert!(pair[1].0 >= pair[0].0, "value fell: {pair:?}");
            assert!(pair[1].1 >= pair[0].1, "percentile fell: {pair:?}");
            assert!(pair[1].2 >= pair[0].2, "count fell: {pair:?}");
        }
        let (init, last) = rows.split_at(rows.len() - 1);
        for &(value, p, count, inverse) in init {
            let inverse = inverse.expect("every row but the last has four columns");
            assert!((inverse - 1.0 / (1.0 - p)).abs() < 0.01 + inverse * 1e-6);
            // Each row sits at the first value whose share reaches its level, and values
            // are 1..=1000 µs, so the count is the level's share rounded up.
            assert_eq!(count, (p * 1_000.0 - 1e-9).ceil().max(1.0) as u64, "at {p}");
            assert!(
                (value - count as f64).abs() <= count as f64 * 1e-3,
                "{value} at {p}"
            );
        }
        let (value, p, count, inverse) = last[0];
        assert_eq!((p, count, inverse), (1.0, 1_000, None));
        assert!((value - 1_000.0).abs() <= 1.0, "last value {value}");

        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + rows.len() + 3);
        let tail = &lines[lines.len() - 3..];
        assert!(tail[0].starts_with("#[Mean    = ") && tail[0].contains(", StdDeviation   = "));
        assert!(tail[1].starts_with("#[Max     = ") && tail[1].contains(", Total count    = "));
        assert_eq!(
            tail[2],
            format!(
                "#[Buckets = {:>12}, SubBuckets     =         2048]",
                hist.buckets()
            )
        );
        let mean = footer(&text, "Mean");
        assert!((mean - 500.5).abs() < 0.5, "mean {mean}");
        let stdev = footer(&text, "StdDeviation");
        assert!((stdev - 288.675).abs() < 0.5, "stdev {stdev}");
        let max = footer(&text, "Max");
        assert!((max - 1_000.0).abs() <= 1.0, "max {max}");
        assert_eq!(footer(&text, "Total count"), 1_000.0);
        assert!(text.ends_with("]\n"));
    }

    #[test]
    fn fixed_point_rounds_like_java() {
        assert_eq!(java_fixed(0.9997802734375, 12), "0.999780273438");
        assert_eq!(java_fixed(33.7335, 3), "33.734");
        assert_eq!(java_fixed(2.5, 0), "3");
        assert_eq!(java_fixed(1.25, 1), "1.3");
        assert_eq!(java_fixed(1.24, 1), "1.2");
        assert_eq!(java_fixed(9.9996, 3), "10.000");
        assert_eq!(java_fixed(999.9999, 2), "1000.00");
        assert_eq!(java_fixed(0.0, 3), "0.000");
        assert_eq!(java_fixed(0.0004, 3), "0.000");
        assert_eq!(java_fixed(0.0005, 3), "0.001");
        assert_eq!(java_fixed(0.05, 12), "0.050000000000");
        assert_eq!(java_fixed(1e21, 2), "1000000000000000000000.00");
        assert_eq!(java_fixed(123_456.789, 3), "123456.789");
        assert_eq!(java_fixed(-1.25, 1), "-1.3");
    }

    /// Reads a file the way HdrHistogram's plotter page does: trimmed lines not starting
    /// with `#` that split on spaces into exactly four fields, the first and the last of
    /// them numbers.
    fn plotter_points(text: &str) -> Vec<(f64, f64)> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(' ').filter(|f| !f.is_empty()).collect::<Vec<_>>())
            .filter(|fields| fields.len() == 4)
            .filter_map(|f| Some((f[3].parse().ok()?, f[0].parse().ok()?)))
            .collect()
    }

    #[test]
    fn the_plotter_reads_every_row_but_the_last() {
        let hist = spread_histogram(1_000, 1_000);
        let text = text(&hist);
        let points = plotter_points(&text);
        assert_eq!(points.len(), rows(&text).len() - 1);
        assert_eq!(points[0], (1.0, 1.0));
        assert!(!text.contains('\t'));
    }

    #[test]
    fn an_empty_histogram_has_header_and_footer_only() {
        let mut hist = spread_histogram(1, 10);
        hist.reset();
        let text = text(&hist);
        assert!(rows(&text).is_empty(), "{text}");
        assert!(text.contains("Total count    =            0]"), "{text}");
    }

    #[test]
    fn a_long_tail_reaches_fine_percentiles() {
        let mut hist = spread_histogram(1, 1);
        hist.record_n(2_000, 999_998).unwrap();
        hist.record(5_000_000).unwrap();
        let rows = rows(&text(&hist));
        let finest = rows.iter().filter_map(|r| r.3).fold(0.0, f64::max);
        assert!(finest > 500_000.0, "finest 1/(1-p) {finest}");
        assert_eq!(rows.last().unwrap().2, 1_000_000);
    }

    #[test]
    fn files_land_in_a_new_directory() {
        let dir = scratch_dir("hgrm").join("nested");
        let results = [result("ringtide", 1_000), result("to/kio", 2_000)];
        let paths = write_hgrm(&dir, &results).unwrap();
        assert_eq!(
            paths,
            [dir.join("ringtide.hgrm"), dir.join("to_kio.hgrm")].to_vec()
        );
        for (path, r) in paths.iter().zip(&results) {
            assert_eq!(std::fs::read_to_string(path).unwrap(), text(&r.lateness));
        }
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn sub_buckets_match_the_library() {
        for sigfig in 0..=5 {
            let hist = Histogram::<u64>::new(sigfig).unwrap();
            let count = sub_bucket_count(sigfig);
            // Values below the sub-bucket count are exact; just above it, pairs share a slot.
            assert_eq!(
                hist.lowest_equivalent(count - 1),
                count - 1,
                "sigfig {sigfig}"
            );
            assert_eq!(hist.lowest_equivalent(count + 1), count, "sigfig {sigfig}");
        }
        assert_eq!(sub_bucket_count(3), 2048);
        assert_eq!(file_stem("..."), "runtime");
        assert_eq!(file_stem("a b"), "a_b");
    }
}
