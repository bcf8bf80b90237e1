//! The latency report as JSON.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::summary::{compares_drivers, ratio, reference, Figures, Lateness};
use super::{create, RunConfig, RuntimeResult};
use crate::drivers::NotMeasured;

#[derive(Serialize)]
struct JsonReport<'a> {
    config: &'a RunConfig,
    /// Unit of every lateness figure.
    lateness_unit: &'static str,
    /// Name of the runtime the `ratio_to_ringtide` figures divide by.
    ratio_reference: Option<&'a str>,
    results: Vec<JsonRuntime<'a>>,
    not_measured: &'a [NotMeasured],
}

#[derive(Serialize)]
struct JsonRuntime<'a> {
    name: &'a str,
    driver: Option<String>,
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
    /// Drivers compared: a ringtide result's figures divided by each other runtime's.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    ratio_to: BTreeMap<&'a str, JsonRatios>,
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
/// ratios divide by), `results`, one object per runtime in order, and `not_measured`, the
/// ringtide drivers left out (`name`, `driver`, `reason`). Each result has `name`;
/// `driver`, the I/O driver ringtide ran on (`null` for the other runtimes); lateness
/// `p50`, `p90`, `p99`, `p99.9`, `p99.99`, `max`, `min`, `mean` and `stdev` in
/// microseconds; `count`, `tasks`, `early_wakes`, `wall_s`, `spawn_rate` (tasks/s),
/// `baseline_rss` and `peak_rss` (bytes), `bytes_per_task`, `drain_ms` (`null` outside
/// burst runs); and `ratio_to_ringtide`, the main figures divided by ringtide's (by the
/// first driver's when drivers were chosen, by the first runtime's when ringtide did not
/// run), `null` where that figure is 0. When drivers were chosen, each ringtide result
/// also has `ratio_to`: its figures divided by each other runtime's, by name.
pub fn write_json(
    path: &Path,
    config: &RunConfig,
    results: &[RuntimeResult],
    not_measured: &[NotMeasured],
) -> io::Result<()> {
    let figures: Vec<Figures> = results.iter().map(Figures::of).collect();
    let base = reference(results).map(Figures::of);
    let others: Vec<(&str, Figures)> = if compares_drivers(results) {
        results
            .iter()
            .zip(&figures)
            .filter(|(r, _)| r.driver.is_none())
            .map(|(r, f)| (r.name.as_str(), *f))
            .collect()
    } else {
        Vec::new()
    };
    let report = JsonReport {
        config,
        lateness_unit: "us",
        ratio_reference: reference(results).map(|r| r.name.as_str()),
        results: results
            .iter()
            .zip(&figures)
            .map(|(r, f)| JsonRuntime {
                name: &r.name,
                driver: r.driver.map(|d| d.to_string()),
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
                ratio_to: others
                    .iter()
                    .filter(|_| r.driver.is_some())
                    .map(|(name, other)| (*name, JsonRatios::of(f, other)))
                    .collect(),
            })
            .collect(),
        not_measured,
    };
    write_json_file(path, &report)
}

/// Writes `value` to `path` as pretty JSON with a final newline, creating its directory.
pub(super) fn write_json_file(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let mut out = BufWriter::new(create(path)?);
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    // BufWriter's drop would swallow a failed final write.
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::{
        config, json, json_with, not_measured, result, scratch_dir, three, with_drivers,
    };
    use super::*;

    /// Asserts that `v` is `want`, to the histograms' precision.
    fn close(v: &serde_json::Value, want: f64) {
        let v = v.as_f64().unwrap();
        assert!((v - want).abs() <= want * 1e-3, "{v} is not {want}");
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
            "driver",
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
    fn json_names_each_driver_and_divides_each_by_the_other_runtimes() {
        let value = json_with(
            &config("spread"),
            &with_drivers(),
            &[not_measured("kqueue")],
            "json-drivers",
        );
        assert_eq!(value["ratio_reference"], "ringtide-io_uring");
        let results = value["results"].as_array().unwrap();
        let drivers: Vec<&serde_json::Value> = results.iter().map(|r| &r["driver"]).collect();
        assert_eq!(
            serde_json::json!(drivers),
            serde_json::json!(["io_uring", "epoll", null, null])
        );
        let epoll = &results[1];
        close(&epoll["ratio_to_ringtide"]["p99"], 1.5);
        close(&epoll["ratio_to"]["tokio"]["p99"], 0.75);
        close(&epoll["ratio_to"]["floor"]["p99"], 3.0);
        close(&results[0]["ratio_to"]["floor"]["p99"], 2.0);
        for other in &results[2..] {
            assert!(other.get("ratio_to").is_none(), "{other}");
        }
        assert_eq!(
            value["not_measured"],
            serde_json::json!([{
                "name": "ringtide-kqueue",
                "driver": "kqueue",
                "reason": "no kqueue here"
            }])
        );
        // Without chosen drivers: the plain name, the driver it ran on, nothing left out.
        let value = json(&config("spread"), &three(), "json-auto");
        assert_eq!(value["results"][0]["name"], "ringtide");
        assert_eq!(value["results"][0]["driver"], "io_uring");
        assert_eq!(value["not_measured"], serde_json::json!([]));
        assert_eq!(value["config"]["drivers"], serde_json::json!(["auto"]));
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
        write_json(&path, &config("spread"), &three(), &[]).unwrap();
        assert!(path.is_file());
        // A directory where the file should go cannot be written over.
        assert!(write_json(&dir, &config("spread"), &three(), &[]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
