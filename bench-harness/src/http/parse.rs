//! Readers of what the HTTP load tools print: wrk's report (with `--latency`), h2load's
//! report, and h2load's per-request log (`--log-file`).
//!
//! Each reader takes the tool's whole stdout and returns the figures of the run, or a
//! line that says what was missing. Both tools write times with a unit (`404.00us`,
//! `1.60ms`, `2.00s`) and wrk writes counts with a metric suffix (`56.62k`); the readers
//! turn them into microseconds and plain numbers.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Request latency of a run, in microseconds. Each tool reports a different set: wrk
/// its mean, standard deviation and maximum over all requests and the 50th, 75th, 90th
/// and 99th percentiles; h2load its minimum, maximum, mean and standard deviation, and
/// percentiles only from its per-request log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50_us: Option<f64>,
    pub p90_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub mean_us: Option<f64>,
    pub stdev_us: Option<f64>,
    pub min_us: Option<f64>,
    pub max_us: Option<f64>,
}

/// Requests that did not get a good answer, as the tool counts them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Errors {
    /// wrk: socket errors (connect + read + write + timeout) plus responses whose status
    /// is not 2xx or 3xx. h2load: failed requests (ended by an error, timed out, or
    /// answered 4xx or 5xx).
    pub total: u64,
    /// Responses whose status is not 2xx (wrk: not 2xx or 3xx).
    pub non_2xx: u64,
    /// The tool's own breakdown, in its words (`connect 0, read 50, write 3, timeout 0`;
    /// `failed 2, errored 2, timeout 0`); empty when wrk saw no socket error.
    pub detail: String,
}

/// What one run of a load tool measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolReport {
    /// Responses completed in the run (wrk: every response; h2load: requests done).
    pub requests: u64,
    /// How long the tool says the run took, in seconds.
    pub duration_s: f64,
    /// The tool's own requests per second.
    pub requests_per_s: f64,
    pub latency: Latency,
    pub errors: Errors,
}

/// Reads wrk's report, run with `--latency`.
pub fn wrk(output: &str) -> Result<ToolReport, String> {
    let mut requests = None;
    let mut requests_per_s = None;
    let mut latency = Latency::default();
    let mut socket = None;
    let mut non_2xx = 0;
    let mut in_distribution = false;
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["Latency", mean, stdev, max, _] => {
                latency.mean_us = Some(time_us(mean)?);
                latency.stdev_us = Some(time_us(stdev)?);
                latency.max_us = Some(time_us(max)?);
            }
            ["Latency", "Distribution"] => in_distribution = true,
            [percent, time] if in_distribution && percent.ends_with('%') => {
                let slot = match percent {
                    "50%" => &mut latency.p50_us,
                    "90%" => &mut latency.p90_us,
                    "99%" => &mut latency.p99_us,
                    _ => continue,
                };
                *slot = Some(time_us(time)?);
            }
            [count, "requests", "in", duration, ..] => {
                let duration = time_us(duration.trim_end_matches(','))? / 1e6;
                requests = Some((whole(count)?, duration));
                in_distribution = false;
            }
            ["Socket", "errors:", ..] => {
                socket = Some(line["Socket errors:".len()..].trim().to_string());
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => non_2xx = whole(count)?,
            ["Requests/sec:", rate] => requests_per_s = Some(number(rate)?),
            _ => {}
        }
    }
    let (requests, duration_s) =
        requests.ok_or("wrk printed no `N requests in T` line (did the run start?)")?;
    let requests_per_s = requests_per_s.ok_or("wrk printed no `Requests/sec:` line")?;
    if latency.p99_us.is_none() {
        return Err("wrk printed no latency distribution (was it run with --latency?)".into());
    }
    let mut total = non_2xx;
    let detail = match socket {
        Some(detail) => {
            total += counts(&detail, &["connect", "read", "write", "timeout"])?;
            detail
        }
        None => String::new(),
    };
    Ok(ToolReport {
        requests,
        duration_s,
        requests_per_s,
        latency,
        errors: Errors {
            total,
            non_2xx,
            detail,
        },
    })
}

/// Reads h2load's report. Its latency figures are the minimum, maximum, mean and
/// standard deviation of `time for request`; the percentiles are left out (see
/// [`h2load_log`]).
pub fn h2load(output: &str) -> Result<ToolReport, String> {
    let mut finished = None;
    let mut requests = None;
    let mut status = None;
    let mut latency = Latency::default();
    for line in output.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("finished in ") {
            // finished in 2.01s, 118235.00 req/s, 4.51MB/s
            let parts: Vec<&str> = rest.split(", ").collect();
            let [duration, rate, ..] = parts[..] else {
                return Err(format!("h2load's `{line}` has no duration and rate"));
            };
            let rate = rate
                .strip_suffix(" req/s")
                .ok_or_else(|| format!("h2load's `{line}` has no req/s"))?;
            finished = Some((time_us(duration)? / 1e6, number(rate)?));
        } else if let Some(rest) = line.strip_prefix("requests: ") {
            // 236470 total, 236970 started, 236470 done, 236470 succeeded, 0 failed,
            // 0 errored, 0 timeout
            let done = count_of(rest, "done")?;
            let failed = count_of(rest, "failed")?;
            let errored = count_of(rest, "errored")?;
            let timeout = count_of(rest, "timeout")?;
            requests = Some((done, failed, errored, timeout));
        } else if let Some(rest) = line.strip_prefix("status codes: ") {
            // 236470 2xx, 0 3xx, 0 4xx, 0 5xx
            status = Some(counts(rest, &["3xx", "4xx", "5xx"])?);
        } else if let Some(rest) = line.strip_prefix("time for request:") {
            let times: Vec<&str> = rest.split_whitespace().collect();
            let [min, max, mean, sd, _] = times[..] else {
                return Err(format!(
                    "h2load's `{line}` is not min, max, mean, sd, +/- sd"
                ));
            };
            latency.min_us = Some(time_us(min)?);
            latency.max_us = Some(time_us(max)?);
            latency.mean_us = Some(time_us(mean)?);
            latency.stdev_us = Some(time_us(sd)?);
        }
    }
    let (duration_s, requests_per_s) =
        finished.ok_or("h2load printed no `finished in` line (did the run start?)")?;
    let (done, failed, errored, timeout) = requests.ok_or("h2load printed no `requests:` line")?;
    let non_2xx = status.ok_or("h2load printed no `status codes:` line")?;
    Ok(ToolReport {
        requests: done,
        duration_s,
        requests_per_s,
        latency,
        errors: Errors {
            total: failed,
            non_2xx,
            detail: format!("failed {failed}, errored {errored}, timeout {timeout}"),
        },
    })
}

/// Reads h2load's per-request log (`--log-file`: start time in µs since the epoch,
/// status code, µs until the end of the response, tab-separated, one request a line)
/// into a histogram of response times in microseconds. Failed requests (status -1) are
/// left out, as h2load leaves them out of `time for request`.
pub fn h2load_log(log: &str) -> Result<Histogram<u64>, String> {
    let mut times = Histogram::new(3).expect("valid histogram");
    for (index, line) in log.lines().enumerate() {
        let columns: Vec<&str> = line.split('\t').collect();
        let (Some(status), Some(elapsed)) = (columns.get(1), columns.get(2)) else {
            return Err(format!(
                "line {} of h2load's log is not `start<TAB>status<TAB>time`: `{line}`",
                index + 1
            ));
        };
        if status.trim() == "-1" {
            continue;
        }
        let us: u64 = elapsed.trim().parse().map_err(|_| {
            format!(
                "line {} of h2load's log has `{elapsed}` for a time in µs",
                index + 1
            )
        })?;
        times.record(us).map_err(|e| format!("h2load's log: {e}"))?;
    }
    Ok(times)
}

/// Sets the percentiles of `latency` from h2load's per-request response times (µs).
pub fn with_percentiles(latency: &mut Latency, times: &Histogram<u64>) {
    if times.is_empty() {
        return;
    }
    let at = |q: f64| Some(times.value_at_quantile(q) as f64);
    latency.p50_us = at(0.5);
    latency.p90_us = at(0.9);
    latency.p99_us = at(0.99);
}

/// `404.00us`, `1.60ms`, `2.00s`, `1.00m`, `1.00h` (and h2load's `220us`) in µs.
fn time_us(text: &str) -> Result<f64, String> {
    let units = [
        ("us", 1.0),
        ("ms", 1e3),
        ("s", 1e6),
        ("m", 60e6),
        ("h", 3600e6),
    ];
    for (unit, scale) in units {
        if let Some(value) = text.strip_suffix(unit) {
            // `ms` ends in `s` too: only a number before the unit will do.
            if let Ok(value) = value.parse::<f64>() {
                return Ok(value * scale);
            }
        }
    }
    Err(format!("`{text}` is not a time such as 404.00us or 1.60ms"))
}

/// A plain number: `118235.00`.
fn number(text: &str) -> Result<f64, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

/// A count: `112828`.
fn whole(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("`{text}` is not a count"))
}

/// The count before `name` in `236470 total, 0 failed, ...`.
fn count_of(list: &str, name: &str) -> Result<u64, String> {
    for item in list.split(',') {
        let words: Vec<&str> = item.split_whitespace().collect();
        match words[..] {
            [count, word] if word == name => return whole(count),
            // wrk puts the name first: `connect 0, read 50`.
            [word, count] if word == name => return whole(count),
            _ => {}
        }
    }
    Err(format!("`{list}` has no count for {name}"))
}

/// The sum of the counts of `names` in a comma-separated list.
fn counts(list: &str, names: &[&str]) -> Result<u64, String> {
    names.iter().map(|name| count_of(list, name)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_HELLO: &str = include_str!("testdata/wrk-hello.txt");
    const WRK_NOT_FOUND: &str = include_str!("testdata/wrk-not-found.txt");
    const WRK_SERVER_STOPPED: &str = include_str!("testdata/wrk-server-stopped.txt");
    const H2LOAD_HELLO: &str = include_str!("testdata/h2load-hello.txt");
    const H2LOAD_NOT_FOUND: &str = include_str!("testdata/h2load-not-found.txt");

    fn close(value: Option<f64>, want: f64) {
        let value = value.expect("a value");
        assert!(
            (value - want).abs() < 1e-6 * want.abs().max(1.0),
            "{value} != {want}"
        );
    }

    #[test]
    fn wrk_figures_are_read_in_microseconds() {
        let report = wrk(WRK_HELLO).unwrap();
        assert_eq!(report.requests, 112_828);
        assert!((report.duration_s - 2.0).abs() < 1e-9);
        assert!((report.requests_per_s - 56_294.94).abs() < 1e-6);
        let l = report.latency;
        close(l.p50_us, 533.0);
        close(l.p90_us, 2_960.0);
        close(l.p99_us, 11_460.0);
        close(l.mean_us, 1_310.0);
        close(l.stdev_us, 2_230.0);
        close(l.max_us, 27_990.0);
        assert_eq!(l.min_us, None);
        assert_eq!(report.errors, Errors::default());
    }

    #[test]
    fn wrk_socket_errors_and_bad_statuses_count_as_errors() {
        let stopped = wrk(WRK_SERVER_STOPPED).unwrap();
        assert_eq!(stopped.requests, 34_032);
        assert!((stopped.duration_s - 2.1).abs() < 1e-9);
        assert_eq!(stopped.errors.total, 50 + 47_256);
        assert_eq!(stopped.errors.non_2xx, 0);
        assert_eq!(
            stopped.errors.detail,
            "connect 0, read 50, write 47256, timeout 0"
        );

        let not_found = wrk(WRK_NOT_FOUND).unwrap();
        assert_eq!(not_found.requests, 28_154);
        assert_eq!(not_found.errors.total, 28_154);
        assert_eq!(not_found.errors.non_2xx, 28_154);
        close(not_found.latency.p50_us, 385.0);
    }

    #[test]
    fn wrk_without_a_distribution_or_a_total_is_refused() {
        let without_latency: String = WRK_HELLO
            .lines()
            .filter(|l| {
                !l.trim_start()
                    .starts_with(|c: char| c.is_ascii_digit() && l.contains('%'))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let why = wrk(&without_latency).unwrap_err();
        assert!(why.contains("--latency"), "{why}");
        let why = wrk("unable to connect to 127.0.0.1:1 Connection refused\n").unwrap_err();
        assert!(why.contains("requests in"), "{why}");
        let garbled = WRK_HELLO.replace("11.46ms", "11.46parsecs");
        assert!(wrk(&garbled).unwrap_err().contains("11.46parsecs"));
    }

    #[test]
    fn h2load_figures_are_its_min_max_mean_and_sd() {
        let report = h2load(H2LOAD_HELLO).unwrap();
        assert_eq!(report.requests, 236_470);
        assert!((report.duration_s - 2.01).abs() < 1e-9);
        assert!((report.requests_per_s - 118_235.0).abs() < 1e-6);
        let l = report.latency;
        close(l.min_us, 310.0);
        close(l.max_us, 32_010.0);
        close(l.mean_us, 3_900.0);
        close(l.stdev_us, 2_730.0);
        assert_eq!((l.p50_us, l.p90_us, l.p99_us), (None, None, None));
        assert_eq!(report.errors.total, 0);
        assert_eq!(report.errors.detail, "failed 0, errored 0, timeout 0");
    }

    #[test]
    fn h2load_failures_and_bad_statuses_count_as_errors() {
        let not_found = h2load(H2LOAD_NOT_FOUND).unwrap();
        assert_eq!(not_found.requests, 43_880);
        assert_eq!(not_found.errors.total, 43_880);
        assert_eq!(not_found.errors.non_2xx, 43_880);

        let reset = H2LOAD_HELLO.replace(
            "236470 succeeded, 0 failed, 0 errored, 0 timeout",
            "236460 succeeded, 10 failed, 10 errored, 4 timeout",
        );
        let report = h2load(&reset).unwrap();
        assert_eq!(report.errors.total, 10);
        assert_eq!(report.errors.non_2xx, 0);
        assert_eq!(report.errors.detail, "failed 10, errored 10, timeout 4");
    }

    #[test]
    fn h2load_without_its_summary_is_refused() {
        let why = h2load("starting benchmark...\nclient could not connect to host\n").unwrap_err();
        assert!(why.contains("finished in"), "{why}");
        let without_status: String = H2LOAD_HELLO
            .lines()
            .filter(|l| !l.starts_with("status codes"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(h2load(&without_status)
            .unwrap_err()
            .contains("status codes"));
    }

    #[test]
    fn h2load_log_gives_percentiles_and_skips_failed_streams() {
        let mut log = String::new();
        for us in 1..=1000 {
            log.push_str(&format!("1796538182687688\t200\t{us}\n"));
        }
        log.push_str("1796538182687688\t-1\t99999999\n");
        let times = h2load_log(&log).unwrap();
        assert_eq!(times.len(), 1000);
        let mut latency = Latency::default();
        with_percentiles(&mut latency, &times);
        close(latency.p50_us, 500.0);
        close(latency.p90_us, 900.0);
        close(latency.p99_us, 990.0);
        assert!(h2load_log("12\t200\n").unwrap_err().contains("line 1"));
        assert!(h2load_log("12\t200\tsoon\n").unwrap_err().contains("soon"));
        let mut untouched = Latency::default();
        with_percentiles(&mut untouched, &h2load_log("").unwrap());
        assert_eq!(untouched, Latency::default());
    }

    #[test]
    fn times_take_every_unit_the_tools_print() {
        assert_eq!(time_us("220us"), Ok(220.0));
        assert_eq!(time_us("1.60ms"), Ok(1_600.0));
        assert_eq!(time_us("2.00s"), Ok(2_000_000.0));
        assert_eq!(time_us("1.50m"), Ok(90_000_000.0));
        assert_eq!(time_us("1.00h"), Ok(3_600_000_000.0));
        assert!(time_us("12").is_err());
        assert!(time_us("ms").is_err());
    }
}
