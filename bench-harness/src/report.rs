//! What one latency run measured, and the ways it is reported: a terminal table, JSON,
//! HdrHistogram `.hgrm` files and an SVG percentile plot.
//!
//! Lateness is recorded in nanoseconds; every report shows it in microseconds.

pub mod echo;
mod hgrm;
mod plot;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

pub use hgrm::write_hgrm;
pub use plot::write_plot;

/// The settings of a latency run, echoed into every report.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// `spread`, `burst` or `periodic`.
    pub mode: String,
    /// Number of sleeping tasks.
    pub tasks: u64,
    /// Worker threads of every runtime.
    pub workers: usize,
    /// Whether worker threads were pinned to CPUs.
    pub pin: bool,
    /// Spread: deadlines are uniform over this window. Periodic: the tick period.
    pub window_us: u64,
    /// Time between the start of spawning and the first deadline.
    pub lead_us: u64,
    /// Periodic: how long each task keeps ticking.
    pub duration_us: u64,
    /// glibc's `M_TOP_PAD` as set for the run (MiB), or `None` for glibc's default.
    pub malloc_top_pad_mib: Option<u32>,
}

/// Everything measured for one runtime.
#[derive(Debug, Clone)]
pub struct RuntimeResult {
    /// `ringtide`, `tokio` or `floor`.
    pub name: String,
    /// Lateness of every wake (`now - deadline`), in nanoseconds.
    pub lateness: Histogram<u64>,
    /// Wakes observed before their deadline (must be zero).
    pub early_wakes: u64,
    /// Wall time from the first spawn to the last wake.
    pub wall: Duration,
    /// Tasks (or, for the floor, deadlines) handed out per second while spawning.
    pub spawn_rate: f64,
    /// Resident set size before spawning, in bytes.
    pub baseline_rss: u64,
    /// Highest resident set size seen while the tasks were alive, in bytes.
    pub peak_rss: u64,
    /// Number of tasks (floor: deadlines) that took part.
    pub tasks: u64,
    /// Burst mode: time from the shared deadline to the last wake.
    pub drain: Option<Duration>,
}

impl RuntimeResult {
    /// Memory the tasks cost, per task.
    pub fn bytes_per_task(&self) -> f64 {
        self.peak_rss.saturating_sub(self.baseline_rss) as f64 / self.tasks.max(1) as f64
    }
}

/// The histograms hold nanoseconds; reports speak microseconds.
const NS_PER_US: f64 = 1_000.0;

/// The runtime every other one is compared with.
const REFERENCE: &str = "ringtide";

/// Lateness figures of one runtime, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
struct Lateness {
    p50: f64,
    p90: f64,
    p99: f64,
    #[serde(rename = "p99.9")]
    p99_9: f64,
    #[serde(rename = "p99.99")]
    p99_99: f64,
    max: f64,
    min: f64,
    mean: f64,
    stdev: f64,
}

impl Lateness {
    fn of(hist: &Histogram<u64>) -> Lateness {
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
fn mean_and_stdev(hist: &Histogram<u64>) -> (f64, f64) {
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
struct Figures {
    lateness: Lateness,
    count: u64,
    early_wakes: u64,
    wall_s: f64,
    /// Tasks per second.
    spawn_rate: f64,
    peak_rss: u64,
    bytes_per_task: f64,
    drain_ms: Option<f64>,
}

impl Figures {
    fn of(result: &RuntimeResult) -> Figures {
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

/// Creates `path`, and the directories above it: a missing output directory should not
/// throw away a run that took minutes.
fn create(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    File::create(path)
}

/// The result others are divided by: ringtide's, or the first one when ringtide did not run.
fn reference(results: &[RuntimeResult]) -> Option<&RuntimeResult> {
    results
        .iter()
        .find(|r| r.name == REFERENCE)
        .or_else(|| results.first())
}

/// `value / reference`, or `None` where that is no number (a zero or missing reference).
fn ratio(value: Option<f64>, reference: Option<f64>) -> Option<f64> {
    let (value, reference) = (value?, reference?);
    if reference == 0.0 {
        return None;
    }
    Some(value / reference).filter(|r| r.is_finite())
}

/// Describes a run in one line, naming only the settings its mode uses.
fn describe(config: &RunConfig) -> String {
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
fn thousands(n: u64) -> String {
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

// ---------------------------------------------------------------------------------------
// Terminal table
// ---------------------------------------------------------------------------------------

/// One column of the table: its two header lines, its width (separator included), how to
/// read its figure from a row's figures `F` and how to show it.
struct Column<F = Figures> {
    group: &'static str,
    head: &'static str,
    width: usize,
    value: fn(&F) -> Option<f64>,
    show: fn(f64) -> String,
}

const LATENESS_GROUP: &str = "lateness, µs";

fn columns(with_drain: bool) -> Vec<Column> {
    let lateness = |head, value: fn(&Figures) -> Option<f64>| Column {
        group: LATENESS_GROUP,
        head,
        width: 8,
        value,
        show: show_lateness,
    };
    let mut columns = vec![
        lateness("p50", |f| Some(f.lateness.p50)),
        lateness("p90", |f| Some(f.lateness.p90)),
        lateness("p99", |f| Some(f.lateness.p99)),
        lateness("p99.9", |f| Some(f.lateness.p99_9)),
        lateness("max", |f| Some(f.lateness.max)),
        lateness("mean", |f| Some(f.lateness.mean)),
        Column {
            group: "early",
            head: "wakes",
            width: 6,
            value: |f| Some(f.early_wakes as f64),
            show: |v| format!("{v:.0}"),
        },
        Column {
            group: "wall",
            head: "s",
            width: 7,
            value: |f| Some(f.wall_s),
            show: |v| format!("{v:.2}"),
        },
        Column {
            group: "spawn",
            head: "Mtask/s",
            width: 8,
            value: |f| Some(f.spawn_rate / 1e6),
            show: |v| format!("{v:.3}"),
        },
        Column {
            group: "RSS",
            head: "MiB",
            width: 8,
            value: |f| Some(f.peak_rss as f64 / (1024.0 * 1024.0)),
            show: |v| format!("{v:.1}"),
        },
        Column {
            group: "bytes",
            head: "/task",
            width: 7,
            value: |f| Some(f.bytes_per_task),
            show: |v| format!("{v:.0}"),
        },
    ];
    if with_drain {
        columns.push(Column {
            group: "drain",
            head: "ms",
            width: 8,
            value: |f| f.drain_ms,
            show: |v| format!("{v:.2}"),
        });
    }
    columns
}

/// Lateness with as many decimals as fit a column: sub-microsecond detail matters for
/// small figures, not for large ones.
fn show_lateness(us: f64) -> String {
    let magnitude = us.abs();
    if magnitude < 100.0 {
        format!("{us:.2}")
    } else if magnitude < 10_000.0 {
        format!("{us:.1}")
    } else if magnitude < 10_000_000.0 {
        format!("{us:.0}")
    } else {
        format!("{us:.2e}")
    }
}

fn show_ratio(r: f64) -> String {
    if r.abs() < 1_000.0 {
        format!("{r:.2}")
    } else {
        format!("{r:.0}")
    }
}

fn show(value: Option<f64>, show: fn(f64) -> String) -> String {
    match value {
        Some(v) if v.is_finite() => show(v),
        _ => "-".to_string(),
    }
}

/// Prints the results as a fixed-width table: one row per runtime with lateness
/// percentiles, max and mean (µs), early wakes, wall time (s), spawn rate (million
/// tasks/s), peak RSS (MiB), bytes per task and, for burst runs, the drain time (ms);
/// then the same figures divided by ringtide's (or by the first runtime's when ringtide
/// did not run).
pub fn print_table(
    config: &RunConfig,
    results: &[RuntimeResult],
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "latency: {}", describe(config))?;
    writeln!(out, "lateness = wake time - deadline")?;
    if results.is_empty() {
        return writeln!(out, "no results");
    }
    let figures: Vec<Figures> = results.iter().map(Figures::of).collect();
    let with_drain = config.mode == "burst" || figures.iter().any(|f| f.drain_ms.is_some());
    let columns = columns(with_drain);
    let name_width = name_width(results.iter().map(|r| r.name.as_str()));
    writeln!(out)?;
    let rows = results.iter().map(|r| r.name.as_str()).zip(&figures);
    write_figures(out, name_width, &columns, rows)?;

    let Some(reference) = reference(results) else {
        return Ok(());
    };
    let base = Figures::of(reference);
    writeln!(out)?;
    writeln!(out, "ratio to {} (below 1: less than {0})", reference.name)?;
    write_heads(out, name_width, &columns)?;
    for (result, f) in results.iter().zip(&figures) {
        let cells = columns
            .iter()
            .map(|c| show(ratio((c.value)(f), (c.value)(&base)), show_ratio));
        write_row(out, name_width, &result.name, &columns, cells)?;
    }
    Ok(())
}

/// Width of the name column: the longest name, and at least the heading's.
fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names
        .map(|name| name.chars().count())
        .chain(["runtime".len()])
        .max()
        .unwrap_or(0)
}

/// Writes the header lines, then one row per name and figures.
fn write_figures<'a, F: 'a>(
    out: &mut impl Write,
    name_width: usize,
    columns: &[Column<F>],
    rows: impl Iterator<Item = (&'a str, &'a F)>,
) -> io::Result<()> {
    write_heads(out, name_width, columns)?;
    for (name, f) in rows {
        let cells = columns.iter().map(|c| show((c.value)(f), c.show));
        write_row(out, name_width, name, columns, cells)?;
    }
    Ok(())
}

/// Writes the two header lines; neighbouring columns of one group share a label, and
/// columns of the empty group have none.
fn write_heads<F>(
    out: &mut impl Write,
    name_width: usize,
    columns: &[Column<F>],
) -> io::Result<()> {
    let mut top = format!("{:name_width$}", "");
    let mut i = 0;
    while i < columns.len() {
        let group = columns[i].group;
        let run = columns[i..].iter().take_while(|c| c.group == group).count();
        let width: usize = columns[i..i + run].iter().map(|c| c.width).sum();
        if group.is_empty() {
            top.push_str(&" ".repeat(width));
        } else if run == 1 {
            top.push_str(&format!("{group:>width$}"));
        } else {
            let inner = width - 2;
            top.push_str(&format!("  {:-^inner$}", format!(" {group} ")));
        }
        i += run;
    }
    writeln!(out, "{}", top.trim_end())?;
    let mut head = format!("{:name_width$}", "runtime");
    for c in columns {
        head.push_str(&format!("{:>w$}", c.head, w = c.width));
    }
    writeln!(out, "{head}")
}

fn write_row<F>(
    out: &mut impl Write,
    name_width: usize,
    name: &str,
    columns: &[Column<F>],
    cells: impl Iterator<Item = String>,
) -> io::Result<()> {
    let mut line = format!("{name:name_width$}");
    for (c, cell) in columns.iter().zip(cells) {
        line.push_str(&format!("{cell:>w$}", w = c.width));
    }
    writeln!(out, "{line}")
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

#[derive(Serialize)]
struct JsonReport<'a> {
    config: &'a RunConfig,
    /// Unit of every lateness figure.
    lateness_unit: &'static str,
    /// Name of the runtime the `ratio_to_ringtide` figures divide by.
    ratio_reference: Option<&'a str>,
    results: Vec<JsonRuntime<'a>>,
}

#[derive(Serialize)]
struct JsonRuntime<'a> {
    name: &'a str,
    #[serde(flatten)]
    lateness: Lateness,
    count: u64,
    tasks: u64,
    early_wakes: u64,
    wall_s: f64,
    spawn_rate: f64,
    baseline_rss: u64,
    peak_rss: u64,
    bytes_per_task: f64,
    drain_ms: Option<f64>,
    ratio_to_ringtide: JsonRatios,
}

/// The main figures divided by the reference runtime's; `null` where the reference is 0.
#[derive(Serialize)]
struct JsonRatios {
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    #[serde(rename = "p99.9")]
    p99_9: Option<f64>,
    #[serde(rename = "p99.99")]
    p99_99: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    wall_s: Option<f64>,
    spawn_rate: Option<f64>,
    peak_rss: Option<f64>,
    bytes_per_task: Option<f64>,
    drain_ms: Option<f64>,
}

impl JsonRatios {
    fn of(f: &Figures, base: &Figures) -> JsonRatios {
        let r = |value: fn(&Figures) -> Option<f64>| ratio(value(f), value(base));
        JsonRatios {
            p50: r(|f| Some(f.lateness.p50)),
            p90: r(|f| Some(f.lateness.p90)),
            p99: r(|f| Some(f.lateness.p99)),
            p99_9: r(|f| Some(f.lateness.p99_9)),
            p99_99: r(|f| Some(f.lateness.p99_99)),
            max: r(|f| Some(f.lateness.max)),
            mean: r(|f| Some(f.lateness.mean)),
            wall_s: r(|f| Some(f.wall_s)),
            spawn_rate: r(|f| Some(f.spawn_rate)),
            peak_rss: r(|f| Some(f.peak_rss as f64)),
            bytes_per_task: r(|f| Some(f.bytes_per_task)),
            drain_ms: r(|f| f.drain_ms),
        }
    }
}

/// Writes the run's settings and every figure of every runtime to `path` as JSON,
/// creating its directory if needed.
///
/// The top level holds `config`, `lateness_unit` (`"us"`), `ratio_reference` (the runtime
/// ratios divide by) and `results`, one object per runtime in order, with `name`; lateness
/// `p50`, `p90`, `p99`, `p99.9`, `p99.99`, `max`, `min`, `mean` and `stdev` in
/// microseconds; `count`, `tasks`, `early_wakes`, `wall_s`, `spawn_rate` (tasks/s),
/// `baseline_rss` and `peak_rss` (bytes), `bytes_per_task`, `drain_ms` (`null` outside
/// burst runs); and `ratio_to_ringtide`, the main figures divided by ringtide's (by the
/// first runtime's when ringtide did not run), `null` where ringtide's figure is 0.
pub fn write_json(path: &Path, config: &RunConfig, results: &[RuntimeResult]) -> io::Result<()> {
    let figures: Vec<Figures> = results.iter().map(Figures::of).collect();
    let base = reference(results).map(Figures::of);
    let report = JsonReport {
        config,
        lateness_unit: "us",
        ratio_reference: reference(results).map(|r| r.name.as_str()),
        results: results
            .iter()
            .zip(&figures)
            .map(|(r, f)| JsonRuntime {
                name: &r.name,
                lateness: f.lateness,
                count: f.count,
                tasks: r.tasks,
                early_wakes: r.early_wakes,
                wall_s: f.wall_s,
                spawn_rate: f.spawn_rate,
                baseline_rss: r.baseline_rss,
                peak_rss: r.peak_rss,
                bytes_per_task: f.bytes_per_task,
                drain_ms: f.drain_ms,
                ratio_to_ringtide: JsonRatios::of(f, base.as_ref().unwrap_or(f)),
            })
            .collect(),
    };
    write_json_file(path, &report)
}

/// Writes `value` to `path` as pretty JSON with a final newline, creating its directory.
fn write_json_file(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let mut out = BufWriter::new(create(path)?);
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    // BufWriter's drop would swallow a failed final write.
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram holding `count` values spread evenly over `1..=top_us` microseconds.
    pub(super) fn spread_histogram(top_us: u64, count: u64) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 600_000_000_000, 3).unwrap();
        for i in 1..=count {
            h.record(i * top_us * 1_000 / count).unwrap();
        }
        h
    }

    /// A result whose lateness runs evenly up to `top_us` over 1,000 wakes.
    pub(super) fn result(name: &str, top_us: u64) -> RuntimeResult {
        RuntimeResult {
            name: name.to_string(),
            lateness: spread_histogram(top_us, 1_000),
            early_wakes: 0,
            wall: Duration::from_millis(1_500),
            spawn_rate: 2.5e6,
            baseline_rss: 8 << 20,
            peak_rss: (8 << 20) + 1_000 * 512,
            tasks: 1_000,
            drain: None,
        }
    }

    pub(super) fn config(mode: &str) -> RunConfig {
        RunConfig {
            mode: mode.to_string(),
            tasks: 1_000,
            workers: 4,
            pin: true,
            window_us: 1_000_000,
            lead_us: 200_000,
            duration_us: 0,
            malloc_top_pad_mib: None,
        }
    }

    pub(super) fn three() -> Vec<RuntimeResult> {
        vec![
            result("ringtide", 1_000),
            result("tokio", 2_000),
            result("floor", 500),
        ]
    }

    pub(super) fn scratch_dir(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ringtide-report-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn table(config: &RunConfig, results: &[RuntimeResult]) -> String {
        let mut out = Vec::new();
        print_table(config, results, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The cells of `name`'s row in the block that starts with `block`.
    fn row<'a>(text: &'a str, block: &str, name: &str) -> Vec<&'a str> {
        let start = text.find(block).unwrap_or_else(|| panic!("no {block:?}"));
        let line = text[start..]
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} after {block:?}"));
        line.split_whitespace().collect()
    }

    #[test]
    fn table_has_every_runtime_and_the_ratio_block() {
        let text = table(&config("spread"), &three());
        let first = text.lines().next().unwrap();
        for part in [
            "mode spread",
            "1,000 tasks",
            "4 workers",
            "pinned",
            "window 1s",
            "lead 200ms",
        ] {
            assert!(first.contains(part), "{part:?} missing from {first:?}");
        }
        assert!(!first.contains("duration"), "{first}");
        for name in ["ringtide", "tokio", "floor"] {
            assert_eq!(text.matches(&format!("\n{name} ")).count(), 2, "{text}");
        }
        assert!(text.contains("ratio to ringtide"), "{text}");
        assert!(!text.contains("drain"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "too wide: {line:?}");
        }

        // runtime, p50, p90, p99, p99.9, max, mean, early, wall, spawn, rss, bytes
        let ringtide = row(&text, "runtime", "ringtide");
        assert_eq!(ringtide.len(), 12, "{ringtide:?}");
        assert_eq!(ringtide[1], "500.2", "p50 of 1..=1000 µs: {ringtide:?}");
        assert_eq!(&ringtide[7..], ["0", "1.50", "2.500", "8.5", "512"]);

        let ratios = row(&text, "ratio to", "ringtide");
        assert!(ratios[1..7].iter().all(|r| *r == "1.00"), "{ratios:?}");
        assert_eq!(ratios[7], "-", "no early wakes to divide by");
        let tokio = row(&text, "ratio to", "tokio");
        assert_eq!(&tokio[1..7], ["2.00"; 6], "{tokio:?}");
        let floor = row(&text, "ratio to", "floor");
        assert_eq!(&floor[1..7], ["0.50"; 6], "{floor:?}");
    }

    #[test]
    fn table_compares_with_the_first_runtime_without_ringtide() {
        let results = vec![result("tokio", 2_000), result("floor", 1_000)];
        let text = table(&config("spread"), &results);
        assert!(text.contains("ratio to tokio"), "{text}");
        assert!(!text.contains("ringtide"), "{text}");
        assert_eq!(row(&text, "ratio to", "floor")[1], "0.50", "{text}");
    }

    #[test]
    fn ringtide_is_the_reference_wherever_it_stands() {
        let results = vec![result("tokio", 2_000), result("ringtide", 1_000)];
        let text = table(&config("spread"), &results);
        assert!(text.contains("ratio to ringtide"), "{text}");
        assert_eq!(row(&text, "ratio to", "tokio")[1], "2.00", "{text}");
        assert_eq!(row(&text, "ratio to", "ringtide")[1], "1.00", "{text}");

        let value = json(&config("spread"), &results, "json-order");
        assert_eq!(value["ratio_reference"], "ringtide");
        assert_eq!(value["results"][1]["ratio_to_ringtide"]["p99"], 1.0);
        let tokio = value["results"][0]["ratio_to_ringtide"]["p99"].as_f64();
        assert!((tokio.unwrap() - 2.0).abs() < 1e-3, "{tokio:?}");
    }

    #[test]
    fn burst_table_has_a_drain_column() {
        let mut results = three();
        for (r, ms) in results.iter_mut().zip([4, 8, 2]) {
            r.drain = Some(Duration::from_millis(ms));
        }
        let text = table(&config("burst"), &results);
        assert!(text.lines().next().unwrap().contains("lead 200ms"));
        assert!(!text.lines().next().unwrap().contains("window"));
        assert!(text.contains("drain"), "{text}");
        assert_eq!(row(&text, "runtime", "tokio").last(), Some(&"8.00"));
        assert_eq!(row(&text, "ratio to", "tokio").last(), Some(&"2.00"));
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "too wide: {line:?}");
        }
    }

    #[test]
    fn periodic_header_names_period_and_duration() {
        let mut config = config("periodic");
        config.window_us = 100_000;
        config.duration_us = 2_500;
        let text = table(&config, &three());
        let first = text.lines().next().unwrap();
        assert!(first.contains("period 100ms"), "{first}");
        assert!(first.contains("duration 2500µs"), "{first}");
    }

    #[test]
    fn table_survives_empty_input() {
        assert!(table(&config("spread"), &[]).contains("no results"));
        let mut empty = result("ringtide", 1_000);
        empty.lateness.reset();
        let text = table(&config("spread"), &[empty, result("tokio", 1_000)]);
        assert_eq!(row(&text, "ratio to", "tokio")[1], "-", "{text}");
    }

    fn json(config: &RunConfig, results: &[RuntimeResult], tag: &str) -> serde_json::Value {
        let dir = scratch_dir(tag);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latency.json");
        write_json(&path, config, results).unwrap();
        let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        value
    }

    #[test]
    fn json_has_every_figure_and_ratios() {
        let value = json(&config("spread"), &three(), "json");
        assert_eq!(value["config"]["mode"], "spread");
        assert_eq!(value["config"]["tasks"], 1_000);
        assert_eq!(value["config"]["window_us"], 1_000_000);
        assert_eq!(value["ratio_reference"], "ringtide");
        let results = value["results"].as_array().unwrap();
        let names: Vec<&str> = results
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ringtide", "tokio", "floor"]);

        let keys = [
            "name",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "p99.99",
            "max",
            "min",
            "mean",
            "stdev",
            "count",
            "tasks",
            "early_wakes",
            "wall_s",
            "spawn_rate",
            "baseline_rss",
            "peak_rss",
            "bytes_per_task",
            "drain_ms",
            "ratio_to_ringtide",
        ];
        for r in results {
            let object = r.as_object().unwrap();
            let mut have: Vec<&str> = object.keys().map(String::as_str).collect();
            let mut want = keys.to_vec();
            have.sort_unstable();
            want.sort_unstable();
            assert_eq!(have, want);
            assert!(r["drain_ms"].is_null());
            for key in ["p50", "p99.9", "max", "mean", "stdev"] {
                assert!(r[key].is_f64(), "{key} is {}", r[key]);
            }
        }

        let ringtide = &results[0];
        let close = |v: &serde_json::Value, want: f64| {
            let v = v.as_f64().unwrap();
            assert!((v - want).abs() <= want * 1e-3, "{v} is not {want}");
        };
        close(&ringtide["p50"], 500.0);
        close(&ringtide["p90"], 900.0);
        close(&ringtide["max"], 1_000.0);
        close(&ringtide["min"], 1.0);
        close(&ringtide["mean"], 500.5);
        close(&ringtide["stdev"], 288.7);
        close(&ringtide["wall_s"], 1.5);
        close(&ringtide["bytes_per_task"], 512.0);
        assert_eq!(ringtide["count"], 1_000);
        assert_eq!(ringtide["peak_rss"], (8 << 20) + 512_000);

        for (r, want) in results.iter().zip([1.0, 2.0, 0.5]) {
            let ratios = &r["ratio_to_ringtide"];
            for key in ["p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"] {
                close(&ratios[key], want);
            }
            close(&ratios["wall_s"], 1.0);
            assert!(ratios["drain_ms"].is_null());
        }
    }

    #[test]
    fn json_carries_drain_and_falls_back_to_the_first_runtime() {
        let mut results = vec![result("tokio", 2_000), result("floor", 1_000)];
        results[0].drain = Some(Duration::from_micros(2_500));
        results[1].drain = Some(Duration::from_micros(5_000));
        let value = json(&config("burst"), &results, "json-burst");
        assert_eq!(value["ratio_reference"], "tokio");
        let floor = &value["results"][1];
        assert_eq!(floor["drain_ms"], 5.0);
        assert_eq!(floor["ratio_to_ringtide"]["drain_ms"], 2.0);
        assert_eq!(floor["ratio_to_ringtide"]["wall_s"], 1.0);
    }

    #[test]
    fn json_creates_its_directory_and_reports_errors() {
        let dir = scratch_dir("json-dirs");
        let path = dir.join("nested").join("x.json");
        write_json(&path, &config("spread"), &three()).unwrap();
        assert!(path.is_file());
        // A directory where the file should go cannot be written over.
        assert!(write_json(&dir, &config("spread"), &three()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
