//! The latency report's terminal table, and the column layout the echo table shares.

use std::io::{self, Write};

use ringtide::Driver;

use super::summary::{compares_drivers, describe, ratio, reference, Figures, FLOOR};
use super::{RunConfig, RuntimeResult};
use crate::drivers::NotMeasured;

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

/// A ratio, followed by ` ok` or ` X` where `met` says whether it meets its target.
fn marked(ratio: Option<f64>, met: Option<bool>) -> String {
    match (ratio, met) {
        (Some(r), Some(met)) => format!("{} {}", show_ratio(r), if met { "ok" } else { "X" }),
        _ => show(ratio, show_ratio),
    }
}

/// A ratio marked against a lower bound, where there is one: `1.05 ok`, `0.92 X`.
pub(super) fn at_least(ratio: Option<f64>, bound: Option<f64>) -> String {
    marked(ratio, ratio.zip(bound).map(|(r, b)| r >= b))
}

/// A ratio marked against an upper bound, where there is one: `0.70 ok`, `1.10 X`.
pub(super) fn at_most(ratio: Option<f64>, bound: Option<f64>) -> String {
    marked(ratio, ratio.zip(bound).map(|(r, b)| r <= b))
}

/// The most an epoll runtime's p99 lateness may be, in multiples of the floor's, in
/// spread mode.
const EPOLL_P99_TO_FLOOR: f64 = 2.0;

/// Prints the results as a fixed-width table: one row per runtime with lateness
/// percentiles, max and mean (µs), early wakes, wall time (s), spawn rate (million
/// tasks/s), peak RSS (MiB), bytes per task and, for burst runs, the drain time (ms);
/// then the same figures divided by ringtide's (by the first driver's when drivers were
/// chosen, by the first runtime's when ringtide did not run). When drivers were chosen,
/// then each driver's figures divided by each other runtime's, and in spread mode the
/// epoll target. Last, the ringtide drivers that were not measured, and why.
pub fn print_table(
    config: &RunConfig,
    results: &[RuntimeResult],
    not_measured: &[NotMeasured],
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "latency: {}", describe(config))?;
    writeln!(out, "lateness = wake time - deadline")?;
    if let Some(reference) = reference(results) {
        let figures: Vec<Figures> = results.iter().map(Figures::of).collect();
        let with_drain = config.mode == "burst" || figures.iter().any(|f| f.drain_ms.is_some());
        let columns = columns(with_drain);
        let name_width = name_width(results.iter().map(|r| r.name.as_str()));
        writeln!(out)?;
        let rows = results.iter().map(|r| r.name.as_str()).zip(&figures);
        write_figures(out, name_width, &columns, rows)?;

        let all = results.iter().zip(&figures);
        write_ratios(out, name_width, &columns, reference, all)?;
        if compares_drivers(results) {
            let ringtide = || {
                results
                    .iter()
                    .zip(&figures)
                    .filter(|(r, _)| r.driver.is_some())
            };
            for other in results.iter().filter(|r| r.driver.is_none()) {
                write_ratios(out, name_width, &columns, other, ringtide())?;
            }
            if config.mode == "spread" {
                write_epoll_target(out, results)?;
            }
        }
    } else {
        writeln!(out, "no results")?;
    }
    write_not_measured(out, not_measured)
}

/// Writes a line for each ringtide driver left out of the run, after a blank line.
pub(super) fn write_not_measured(
    out: &mut impl Write,
    not_measured: &[NotMeasured],
) -> io::Result<()> {
    for (i, skipped) in not_measured.iter().enumerate() {
        if i == 0 {
            writeln!(out)?;
        }
        writeln!(out, "not measured: {}: {}", skipped.name, skipped.reason)?;
    }
    Ok(())
}

/// Writes the figures of `rows` divided by `reference`'s.
fn write_ratios<'a>(
    out: &mut impl Write,
    name_width: usize,
    columns: &[Column],
    reference: &RuntimeResult,
    rows: impl Iterator<Item = (&'a RuntimeResult, &'a Figures)>,
) -> io::Result<()> {
    let base = Figures::of(reference);
    writeln!(out)?;
    writeln!(out, "ratio to {} (below 1: less than {0})", reference.name)?;
    write_heads(out, name_width, columns)?;
    for (result, f) in rows {
        let cells = columns
            .iter()
            .map(|c| show(ratio((c.value)(f), (c.value)(&base)), show_ratio));
        write_row(out, name_width, &result.name, columns, cells)?;
    }
    Ok(())
}

/// Writes, for each ringtide result on epoll, its p99 lateness over the floor's against
/// [`EPOLL_P99_TO_FLOOR`].
fn write_epoll_target(out: &mut impl Write, results: &[RuntimeResult]) -> io::Result<()> {
    let Some(floor) = results.iter().find(|r| r.name == FLOOR) else {
        return Ok(());
    };
    let p99 = |r: &RuntimeResult| Some(Figures::of(r).lateness.p99);
    let on_epoll = results.iter().filter(|r| r.driver == Some(Driver::Epoll));
    for (i, epoll) in on_epoll.enumerate() {
        if i == 0 {
            writeln!(out)?;
        }
        let cell = match ratio(p99(epoll), p99(floor)) {
            Some(r) => format!(
                "{} {}",
                show_ratio(r),
                if r <= EPOLL_P99_TO_FLOOR { "ok" } else { "X" }
            ),
            None => show(None, show_ratio),
        };
        writeln!(
            out,
            "target: p99 on epoll <= {EPOLL_P99_TO_FLOOR:.2} × the floor's: {} {cell}",
            epoll.name
        )?;
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

    use super::super::tests::{
        block, config, not_measured, result, row, table, table_with, three, with_drivers,
    };

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
    fn each_driver_is_divided_by_every_other_runtime_and_epoll_meets_its_target_or_not() {
        let mut results = with_drivers();
        let text = table_with(&config("spread"), &results, &[not_measured("kqueue")]);
        // Every runtime divided by the first driver: epoll by io_uring among them.
        let first = block(&text, "ratio to ringtide-io_uring (below 1");
        assert_eq!(first.len(), 7, "{text}");
        assert_eq!(
            row(&text, "ratio to ringtide-io_uring", "ringtide-epoll")[3],
            "1.50"
        );
        // Each driver divided by tokio and by the floor: their blocks hold only ringtide.
        for (other, io_uring, epoll) in [("tokio", "0.50", "0.75"), ("floor", "2.00", "3.00")] {
            let heading = format!("ratio to {other} (below 1: less than {other})");
            let lines = block(&text, &heading);
            let names: Vec<&str> = lines[3..]
                .iter()
                .map(|l| l.split_whitespace().next().unwrap())
                .collect();
            assert_eq!(names, ["ringtide-io_uring", "ringtide-epoll"], "{text}");
            assert_eq!(row(&text, &heading, "ringtide-io_uring")[3], io_uring);
            assert_eq!(row(&text, &heading, "ringtide-epoll")[3], epoll);
        }
        let target = "target: p99 on epoll <= 2.00 × the floor's: ringtide-epoll";
        assert!(text.contains(&format!("\n{target} 3.00 X\n")), "{text}");
        assert!(
            text.ends_with("\n\nnot measured: ringtide-kqueue: no kqueue here\n"),
            "{text}"
        );

        results[3] = result("floor", 1_000);
        let text = table(&config("spread"), &results);
        assert!(text.contains(&format!("\n{target} 1.50 ok\n")), "{text}");
        // The target is set for spread deadlines.
        assert!(!table(&config("burst"), &results).contains("target"));
    }

    #[test]
    fn a_run_with_nothing_measured_says_why() {
        let text = table_with(&config("spread"), &[], &[not_measured("epoll")]);
        assert!(
            text.ends_with("no results\n\nnot measured: ringtide-epoll: no epoll here\n"),
            "{text}"
        );
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
