//! The latency report's terminal table, and the column layout the echo table shares.

use std::io::{self, Write};

use super::summary::{describe, ratio, reference, Figures};
use super::{RunConfig, RuntimeResult};

/// One column of the table: its two header lines, its width (separator included), how to
/// read its figure from a row's figures `F` and how to show it.
pub(super) struct Column<F = Figures> {
    pub(super) group: &'static str,
    pub(super) head: &'static str,
    pub(super) width: usize,
    pub(super) value: fn(&F) -> Option<f64>,
    pub(super) show: fn(f64) -> String,
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
pub(super) fn show_lateness(us: f64) -> String {
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

pub(super) fn show_ratio(r: f64) -> String {
    if r.abs() < 1_000.0 {
        format!("{r:.2}")
    } else {
        format!("{r:.0}")
    }
}

pub(super) fn show(value: Option<f64>, show: fn(f64) -> String) -> String {
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
pub(super) fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names
        .map(|name| name.chars().count())
        .chain(["runtime".len()])
        .max()
        .unwrap_or(0)
}

/// Writes the header lines, then one row per name and figures.
pub(super) fn write_figures<'a, F: 'a>(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::{config, result, row, table, three};

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
}
