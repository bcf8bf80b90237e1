//! `ringtide-bench latency`: many tasks sleep until a deadline, and each wake records how
//! late it was. The same deadlines are measured on ringtide (once per I/O driver asked
//! for), on tokio's multi-thread runtime with the same worker count, and on the OS floor
//! (plain threads sleeping with `clock_nanosleep(TIMER_ABSTIME)`, timer slack 1 ns), one
//! after the other.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ringtide::Driver;

use crate::deadlines::{Mode, Schedule};
use crate::drivers::{self, NotMeasured};
use crate::recorder::{Collector, Merged};
use crate::report::RuntimeResult;
use crate::sys::{core_ids, pin_current_thread};

/// The runtimes the harness can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    Ringtide,
    Tokio,
    Floor,
}

impl RuntimeKind {
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Ringtide => "ringtide",
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::Floor => "floor",
        }
    }
}

/// One latency run's settings.
#[derive(Debug, Clone)]
pub struct LatencyRun {
    pub schedule: Schedule,
    pub workers: usize,
    pub pin: bool,
    pub runtimes: Vec<RuntimeKind>,
    /// ringtide's I/O drivers: ringtide is measured once per driver, in this order.
    pub drivers: Vec<Driver>,
    /// Print progress to stderr.
    pub progress: bool,
}

/// What a latency run measured, and the ringtide drivers it could not measure.
#[derive(Debug)]
pub struct Measured {
    pub results: Vec<RuntimeResult>,
    pub not_measured: Vec<NotMeasured>,
}

/// Measures every selected runtime in turn, ringtide once per driver that runs here.
pub fn run(config: &LatencyRun) -> io::Result<Measured> {
    let (ringtide, not_measured) = if config.runtimes.contains(&RuntimeKind::Ringtide) {
        drivers::check_all(drivers::entries(&config.drivers))
    } else {
        Default::default()
    };
    for skipped in &not_measured {
        progress(
            config,
            format_args!("{}: not measured: {}", skipped.name, skipped.reason),
        );
    }
    let mut results = Vec::new();
    for &kind in &config.runtimes {
        match kind {
            RuntimeKind::Ringtide => {
                for usable in &ringtide {
                    let driver = usable.entry.driver;
                    results.push(measure(config, &usable.entry.name, |base, collector| {
                        run_ringtide(config, driver, base, collector)
                    })?);
                }
            }
            RuntimeKind::Tokio => results.push(measure(config, kind.name(), |base, collector| {
                run_tokio(config, base, collector)
            })?),
            RuntimeKind::Floor => results.push(measure(config, kind.name(), |base, collector| {
                run_floor(config, base, collector)
            })?),
        }
    }
    Ok(Measured {
        results,
        not_measured,
    })
}

/// What a runner reports back.
struct Spawned {
    /// Time taken to hand out every task (or prepare every deadline).
    spawn_time: Duration,
    /// The driver ringtide runs on (`None` for the other runtimes).
    driver: Option<Driver>,
    /// Keeps the runtime alive until the waiting is over; dropped afterwards.
    keep_alive: Box<dyn Send>,
}

fn measure(
    config: &LatencyRun,
    name: &str,
    runner: impl FnOnce(Instant, &'static Collector) -> io::Result<Spawned>,
) -> io::Result<RuntimeResult> {
    // Give memory freed by the previous runtime back to the OS, so that each runtime's
    // RSS growth is its own.
    trim_memory();
    thread::sleep(Duration::from_millis(100));
    let schedule = config.schedule;
    // A collector lives as long as the tasks that record into it, which may outlive a
    // runtime's shutdown by a little; leaking it (a few dozen bytes per run, a handful
    // of runs per process) is simpler than reference-counting it on every wake.
    let collector: &'static Collector = Box::leak(Box::new(Collector::new()));
    let sampler = RssSampler::start();
    let baseline = sampler.current();
    progress(
        config,
        format_args!("{name}: spawning {} tasks", schedule.tasks),
    );
    let base = Instant::now();
    let spawned = runner(base, collector)?;
    let spawn_rate = schedule.tasks as f64 / spawned.spawn_time.as_secs_f64().max(1e-9);
    progress(
        config,
        format_args!(
            "{name}: spawned in {:.3} s ({:.2} M/s){}; waiting for {} wakes",
            spawned.spawn_time.as_secs_f64(),
            spawn_rate / 1e6,
            spawned
                .driver
                .map_or_else(String::new, |driver| format!(" on {driver}")),
            schedule.expected_wakes()
        ),
    );
    wait_for_wakes(config, name, base, collector)?;
    drop(spawned.keep_alive);
    let peak_rss = sampler.stop();
    let merged = collector.merge();
    let last_deadline = base + schedule.last_offset();
    Ok(RuntimeResult {
        driver: spawned.driver,
        ..result_of(
            name,
            config,
            base,
            merged,
            spawn_rate,
            baseline,
            peak_rss,
            last_deadline,
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn result_of(
    name: &str,
    config: &LatencyRun,
    base: Instant,
    merged: Merged,
    spawn_rate: f64,
    baseline_rss: u64,
    peak_rss: u64,
    last_deadline: Instant,
) -> RuntimeResult {
    let last_wake = merged.last_wake.unwrap_or(base);
    let drain = (config.schedule.mode == Mode::Burst)
        .then(|| last_wake.saturating_duration_since(last_deadline));
    RuntimeResult {
        name: name.to_string(),
        driver: None,
        early_wakes: merged.early,
        wall: last_wake.saturating_duration_since(base),
        spawn_rate,
        baseline_rss,
        peak_rss,
        tasks: config.schedule.tasks,
        drain,
        lateness: merged.lateness,
    }
}

/// Waits until every expected wake is recorded, showing progress; fails (rather than
/// hang) when wakes stop arriving long after the last deadline.
fn wait_for_wakes(
    config: &LatencyRun,
    name: &str,
    base: Instant,
    collector: &Collector,
) -> io::Result<()> {
    let expected = config.schedule.expected_wakes();
    let give_up = base + config.schedule.last_offset() + Duration::from_secs(30);
    let mut last_report = Instant::now();
    loop {
        let woken = collector.wakes();
        if woken >= expected {
            progress(
                config,
                format_args!("{name}: all {expected} wakes recorded"),
            );
            return Ok(());
        }
        let now = Instant::now();
        if now > give_up {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{name}: only {woken} of {expected} wakes arrived within 30 s of the last \
                     deadline; the runtime is stuck or overloaded"
                ),
            ));
        }
        if now.duration_since(last_report) >= Duration::from_millis(500) {
            let phase = if now < base + config.schedule.first_offset_min() {
                "waiting for the first deadline"
            } else {
                "draining"
            };
            progress(
                config,
                format_args!("{name}: {phase}: {woken}/{expected} woken"),
            );
            last_report = now;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn progress(config: &LatencyRun, message: std::fmt::Arguments<'_>) {
    if config.progress {
        let _ = writeln!(io::stderr(), "{message}");
    }
}

fn run_ringtide(
    config: &LatencyRun,
    driver: Driver,
    base: Instant,
    collector: &'static Collector,
) -> io::Result<Spawned> {
    let rt = ringtide::Builder::new()
        .worker_threads(config.workers)
        .pin_workers(config.pin)
        .driver(driver)
        .build()?;
    let schedule = config.schedule;
    // Spawn from a task on a worker, as a server spawning connections would.
    let spawn_time = rt
        .block_on(rt.spawn(async move {
            let start = Instant::now();
            for i in 0..schedule.tasks {
                let ticks = Ticks::of(&schedule, base, i);
                drop(ringtide::spawn(ringtide_task(ticks, collector)));
            }
            start.elapsed()
        }))
        .map_err(io::Error::from)?;
    Ok(Spawned {
        spawn_time,
        driver: Some(rt.driver()),
        keep_alive: Box::new(rt),
    })
}

/// What one task waits for: computed by the spawner, so that the task itself carries only
/// what it needs (its size is part of what the memory figures measure).
#[derive(Debug, Clone, Copy)]
struct Ticks {
    first: Instant,
    /// `Some` in periodic mode.
    period: Option<Duration>,
    count: u32,
}

impl Ticks {
    fn of(schedule: &Schedule, base: Instant, i: u64) -> Ticks {
        let periodic = schedule.mode == Mode::Periodic;
        Ticks {
            first: base + schedule.first_offset(i),
            period: periodic.then_some(schedule.period),
            count: schedule.ticks_per_task() as u32,
        }
    }
}

async fn ringtide_task(ticks: Ticks, collector: &'static Collector) {
    match ticks.period {
        Some(period) => {
            let mut interval = ringtide::time::interval_at(ticks.first, period);
            for _ in 0..ticks.count {
                collector.record(interval.tick().await);
            }
        }
        None => {
            ringtide::time::sleep_until(ticks.first).await;
            collector.record(ticks.first);
        }
    }
}

fn run_tokio(
    config: &LatencyRun,
    base: Instant,
    collector: &'static Collector,
) -> io::Result<Spawned> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(config.workers).enable_time();
    if config.pin {
        let cores = core_ids();
        let next = AtomicUsize::new(0);
        builder.on_thread_start(move || {
            if !cores.is_empty() {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let _ = pin_current_thread(cores[i % cores.len()]);
            }
        });
    }
    let rt = builder.build()?;
    let schedule = config.schedule;
    let spawn_time = rt
        .block_on(rt.spawn(async move {
            let start = Instant::now();
            for i in 0..schedule.tasks {
                let ticks = Ticks::of(&schedule, base, i);
                drop(tokio::spawn(tokio_task(ticks, collector)));
            }
            start.elapsed()
        }))
        .map_err(io::Error::other)?;
    Ok(Spawned {
        spawn_time,
        driver: None,
        keep_alive: Box::new(rt),
    })
}

async fn tokio_task(ticks: Ticks, collector: &'static Collector) {
    match ticks.period {
        Some(period) => {
            let start = tokio::time::Instant::from_std(ticks.first);
            let mut interval = tokio::time::interval_at(start, period);
            for _ in 0..ticks.count {
                collector.record(interval.tick().await.into_std());
            }
        }
        None => {
            tokio::time::sleep_until(tokio::time::Instant::from_std(ticks.first)).await;
            collector.record(ticks.first);
        }
    }
}

/// The floor: one OS thread per worker, each sleeping with `clock_nanosleep` to an
/// absolute deadline, in deadline order, for its share of the tasks.
fn run_floor(
    config: &LatencyRun,
    base: Instant,
    collector: &'static Collector,
) -> io::Result<Spawned> {
    let workers = config.workers as u64;
    let schedule = config.schedule;
    let base_ts = monotonic_now();
    // `base` and `base_ts` are read back to back; the nanoseconds between them make the
    // floor's deadlines at most that much early on the kernel's clock, and the lateness
    // is measured against `Instant` like every other runtime's.
    let cores = if config.pin { core_ids() } else { Vec::new() };
    let prepared = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut threads = Vec::new();
    for t in 0..workers {
        let core = (!cores.is_empty()).then(|| cores[t as usize % cores.len()]);
        let (prepared, ready, stop) = (prepared.clone(), ready.clone(), stop.clone());
        threads.push(
            thread::Builder::new()
                .name(format!("floor-{t}"))
                .spawn(move || {
                    if let Some(core) = core {
                        let _ = pin_current_thread(core);
                    }
                    set_timer_slack_to_1ns();
                    let mut offsets: Vec<u64> = (t..schedule.tasks)
                        .step_by(workers as usize)
                        .flat_map(|i| schedule.offsets(i).map(|d| d.as_nanos() as u64))
                        .collect();
                    offsets.sort_unstable();
                    prepared.fetch_add(offsets.len() as u64, Ordering::Relaxed);
                    ready.fetch_add(1, Ordering::Release);
                    for offset in offsets {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let deadline = base + Duration::from_nanos(offset);
                        // A deadline already passed needs no sleep: entering the kernel
                        // to arm a timer that has expired costs microseconds on a VM.
                        if Instant::now() < deadline {
                            sleep_until_monotonic(add_nanos(base_ts, offset));
                        }
                        collector.record(deadline);
                    }
                })?,
        );
    }
    while ready.load(Ordering::Acquire) < workers as usize {
        thread::yield_now();
    }
    let spawn_time = start.elapsed();
    struct Floor {
        threads: Vec<thread::JoinHandle<()>>,
        stop: Arc<AtomicBool>,
    }
    impl Drop for Floor {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }
    Ok(Spawned {
        spawn_time,
        driver: None,
        keep_alive: Box::new(Floor { threads, stop }),
    })
}

fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

fn add_nanos(ts: libc::timespec, nanos: u64) -> libc::timespec {
    let total = ts.tv_nsec as u64 + nanos % 1_000_000_000;
    libc::timespec {
        tv_sec: ts.tv_sec
            + (nanos / 1_000_000_000) as libc::time_t
            + (total / 1_000_000_000) as libc::time_t,
        tv_nsec: (total % 1_000_000_000) as libc::c_long,
    }
}

fn sleep_until_monotonic(deadline: libc::timespec) {
    loop {
        // SAFETY: the timespec is valid; with TIMER_ABSTIME the remainder is not written.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &deadline,
                std::ptr::null_mut(),
            )
        };
        if rc != libc::EINTR {
            return;
        }
    }
}

fn set_timer_slack_to_1ns() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer and affects only the calling thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
}

/// Returns memory that glibc keeps cached to the OS.
/// Sets glibc's `M_TOP_PAD` (see `--malloc-top-pad`) for the rest of the process.
pub fn set_malloc_top_pad(mib: u32) -> io::Result<()> {
    let bytes = i32::try_from(u64::from(mib) << 20)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "malloc top pad too large"))?;
    // SAFETY: mallopt has no preconditions; it returns 0 when it refuses the setting.
    if unsafe { libc::mallopt(libc::M_TOP_PAD, bytes) } == 0 {
        return Err(io::Error::other("glibc refused M_TOP_PAD"));
    }
    Ok(())
}

fn trim_memory() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
}

/// Samples the process's resident set size in the background and keeps the peak.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let peak = Arc::new(AtomicU64::new(current_rss()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            thread::Builder::new()
                .name("rss-sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        peak.fetch_max(current_rss(), Ordering::Relaxed);
                        thread::sleep(Duration::from_millis(50));
                    }
                })
                .ok()
        };
        RssSampler { peak, stop, thread }
    }

    fn current(&self) -> u64 {
        current_rss()
    }

    /// Stops sampling and returns the peak.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed).max(current_rss())
    }
}

/// Resident set size in bytes, from /proc/self/statm (0 if unavailable).
fn current_rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}
