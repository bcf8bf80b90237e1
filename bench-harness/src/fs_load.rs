//! The load of `ringtide-bench fs`: 4 KiB reads or writes at random block-aligned
//! offsets of one file, with a fixed number of them in flight (the queue depth), run
//! by ringtide, by tokio::fs, by tokio's blocking pool with `pread`/`pwrite` (what
//! tokio::fs costs at best), or by fio's io_uring engine.
//!
//! # What is measured
//!
//! Each load runs for a warm-up, then for the measured window: operations that complete
//! inside the window are counted and their latencies (start of the call to its result,
//! in the task that made it) recorded, in a histogram per task merged at the end, so
//! that no counter is shared between the tasks. CPU time is the whole process's user
//! plus system time over the window (`/proc/self/stat`), the kernel's io_uring worker
//! threads included; for fio, that of its processes from `wait4` (see [`fio`]).

use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringtide::buf::AlignedBuf;

use crate::sys;

/// The size of every operation, and the alignment of its offset and buffer.
pub const BLOCK: usize = 4096;

/// Page cache or `O_DIRECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Buffered I/O on a file whose pages are all in the page cache.
    Warm,
    /// `O_DIRECT`: every operation goes to the device.
    Direct,
}

/// Reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One configuration of the load.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub cache: Cache,
    pub access: Access,
    /// Operations in flight at once: that many tasks, each with one at a time.
    pub depth: usize,
    /// Worker threads of the runtime (fio: jobs, up to the depth).
    pub workers: usize,
}

/// What a load is run on, for how long.
#[derive(Debug, Clone)]
pub struct Setup {
    pub path: PathBuf,
    pub size: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub pin: bool,
}

/// The figures of one load.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub iops: f64,
    /// Latency percentiles, in microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    /// CPU time per operation, in microseconds.
    pub cpu_us_per_op: f64,
}

/// Where the tasks of a load are.
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// What one task counted in the window.
struct TaskTally {
    ops: u64,
    latency_ns: Histogram<u64>,
}

impl TaskTally {
    fn new() -> TaskTally {
        TaskTally {
            ops: 0,
            latency_ns: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds"),
        }
    }

    fn record(&mut self, phase: &AtomicU8, started: Instant) {
        if phase.load(Ordering::Relaxed) == MEASURE {
            self.ops += 1;
            let ns = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
            let _ = self.latency_ns.record(ns.max(1));
        }
    }
}

/// A small deterministic PRNG (xorshift64*), one per task.
struct Offsets {
    state: u64,
    blocks: u64,
}

impl Offsets {
    fn new(task: usize, size: u64) -> Offsets {
        Offsets {
            state: (task as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            blocks: (size / BLOCK as u64).max(1),
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) % self.blocks) * BLOCK as u64
    }
}

/// Runs the warm-up and the window around loads that tasks started already, then sums
/// what they counted: the shared part of the in-process loads.
fn measure(
    setup: &Setup,
    phase: &AtomicU8,
    collect: impl FnOnce() -> Result<Vec<TaskTally>, String>,
) -> Result<Figures, String> {
    std::thread::sleep(setup.warmup);
    let cpu_before = sys::cpu_seconds(None).map_err(|e| e.to_string())?;
    let started = Instant::now();
    phase.store(MEASURE, Ordering::Relaxed);
    std::thread::sleep(setup.duration);
    phase.store(STOP, Ordering::Relaxed);
    let window = started.elapsed().as_secs_f64();
    let cpu = sys::cpu_seconds(None).map_err(|e| e.to_string())? - cpu_before;
    let tallies = collect()?;
    let mut ops = 0;
    let mut latency = TaskTally::new().latency_ns;
    for tally in tallies {
        ops += tally.ops;
        latency.add(&tally.latency_ns).map_err(|e| e.to_string())?;
    }
    if ops == 0 {
        return Err("no operation completed in the measured window".to_string());
    }
    Ok(Figures {
        iops: ops as f64 / window,
        p50_us: latency.value_at_quantile(0.50) as f64 / 1e3,
        p99_us: latency.value_at_quantile(0.99) as f64 / 1e3,
        cpu_us_per_op: cpu * 1e6 / ops as f64,
    })
}

fn open_flags(cache: Cache) -> i32 {
    match cache {
        Cache::Warm => 0,
        Cache::Direct => libc::O_DIRECT,
    }
}

/// ringtide: `depth` tasks, each with one `read_at`/`write_at` of an aligned buffer in
/// flight, on one shared `ringtide::fs::File`.
pub fn ringtide(cell: Cell, setup: &Setup) -> Result<(Figures, String), String> {
    let rt = ringtide::Builder::new()
        .worker_threads(cell.workers)
        .pin_workers(setup.pin)
        .build()
        .map_err(|e| e.to_string())?;
    let driver = rt.driver().to_string();
    let file = rt
        .block_on(
            ringtide::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(open_flags(cell.cache))
                .open(&setup.path),
        )
        .map_err(|e| e.to_string())?;
    let file = Arc::new(file);
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tasks: Vec<_> = (0..cell.depth)
        .map(|task| {
            let (file, phase, size) = (file.clone(), phase.clone(), setup.size);
            rt.spawn(async move {
                let mut tally = TaskTally::new();
                let mut offsets = Offsets::new(task, size);
                let mut buf = AlignedBuf::zeroed(BLOCK, BLOCK);
                while phase.load(Ordering::Relaxed) != STOP {
                    let pos = offsets.next();
                    let started = Instant::now();
                    let (result, back) = match cell.access {
                        Access::Read => file.read_at(buf, pos).await,
                        Access::Write => file.write_at(buf, pos).await,
                    };
                    buf = back;
                    match result {
                        Ok(BLOCK) => tally.record(&phase, started),
                        Ok(n) => return Err(format!("a short operation: {n} bytes")),
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok(tally)
            })
        })
        .collect();
    let figures = measure(setup, &phase, || {
        rt.block_on(async {
            let mut tallies = Vec::new();
            for task in tasks {
                tallies.push(task.await.map_err(|e| e.to_string())??);
            }
            Ok(tallies)
        })
    })?;
    Ok((figures, driver))
}

fn tokio_runtime(cell: Cell) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cell.workers)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// The tallies of a tokio load's tasks, once they have stopped.
fn join_tokio(
    rt: &tokio::runtime::Runtime,
    tasks: Vec<tokio::task::JoinHandle<io::Result<TaskTally>>>,
) -> Result<Vec<TaskTally>, String> {
    rt.block_on(async {
        let mut tallies = Vec::new();
        for task in tasks {
            let tally = task.await.map_err(|e| e.to_string())?;
            tallies.push(tally.map_err(|e| e.to_string())?);
        }
        Ok(tallies)
    })
}

/// tokio::fs: `depth` tasks, each with its own `tokio::fs::File` on the file, seeking
/// and reading (or writing and flushing) 4 KiB at a time. tokio::fs::File moves the
/// bytes through a buffer of its own, which `O_DIRECT` refuses: buffered only.
pub fn tokio_fs(cell: Cell, setup: &Setup) -> Result<Figures, String> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    if cell.cache == Cache::Direct {
        return Err("tokio::fs::File reads through its own unaligned buffer, \
                    which O_DIRECT refuses"
            .to_string());
    }
    let rt = tokio_runtime(cell)?;
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tasks: Vec<_> = (0..cell.depth)
        .map(|task| {
            let (phase, size, path) = (phase.clone(), setup.size, setup.path.clone());
            rt.spawn(async move {
                let mut file = tokio::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .await?;
                let mut tally = TaskTally::new();
                let mut offsets = Offsets::new(task, size);
                let mut buf = vec![0u8; BLOCK];
                while phase.load(Ordering::Relaxed) != STOP {
                    let pos = offsets.next();
                    let started = Instant::now();
                    file.seek(io::SeekFrom::Start(pos)).await?;
                    match cell.access {
                        Access::Read => {
                            file.read_exact(&mut buf).await?;
                        }
                        Access::Write => {
                            file.write_all(&buf).await?;
                            file.flush().await?;
                        }
                    }
                    tally.record(&phase, started);
                }
                Ok::<_, io::Error>(tally)
            })
        })
        .collect();
    measure(setup, &phase, || join_tokio(&rt, tasks))
}

/// tokio's blocking pool with one `pread`/`pwrite` per operation on a shared
/// `std::fs::File`: one `spawn_blocking` per operation, what every tokio::fs call costs
/// at the least (tokio::fs::File's seek and read are two).
pub fn tokio_pread(cell: Cell, setup: &Setup) -> Result<Figures, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(open_flags(cell.cache))
        .open(&setup.path)
        .map_err(|e| e.to_string())?;
    let file = Arc::new(file);
    let rt = tokio_runtime(cell)?;
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tasks: Vec<_> = (0..cell.depth)
        .map(|task| {
            let (file, phase, size) = (file.clone(), phase.clone(), setup.size);
            rt.spawn(async move {
                let mut tally = TaskTally::new();
                let mut offsets = Offsets::new(task, size);
                let mut buf = AlignedBuf::zeroed(BLOCK, BLOCK);
                while phase.load(Ordering::Relaxed) != STOP {
                    let pos = offsets.next();
                    let started = Instant::now();
                    let file = file.clone();
                    let (result, back) = tokio::task::spawn_blocking(move || {
                        let result = match cell.access {
                            Access::Read => file.read_at(&mut buf, pos),
                            Access::Write => file.write_at(&buf, pos),
                        };
                        (result, buf)
                    })
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))?;
                    buf = back;
                    match result? {
                        BLOCK => tally.record(&phase, started),
                        n => return Err(io::Error::other(format!("a short operation: {n}"))),
                    }
                }
                Ok::<_, io::Error>(tally)
            })
        })
        .collect();
    measure(setup, &phase, || join_tokio(&rt, tasks))
}

/// fio's jobs and depth per job for a cell: one job per worker (never more jobs than
/// operations in flight), the depth shared among them.
fn fio_jobs(cell: Cell) -> (usize, usize) {
    let jobs = cell.workers.min(cell.depth).max(1);
    (jobs, cell.depth / jobs)
}

/// The fio command line for a cell.
pub fn fio_command(cell: Cell, setup: &Setup) -> Vec<String> {
    let (jobs, depth) = fio_jobs(cell);
    let rw = match cell.access {
        Access::Read => "randread",
        Access::Write => "randwrite",
    };
    let direct = u8::from(cell.cache == Cache::Direct);
    vec![
        "fio".to_string(),
        "--name=ringtide-bench".to_string(),
        format!("--filename={}", setup.path.display()),
        format!("--size={}", setup.size),
        format!("--bs={BLOCK}"),
        format!("--rw={rw}"),
        "--ioengine=io_uring".to_string(),
        format!("--iodepth={depth}"),
        format!("--numjobs={jobs}"),
        format!("--direct={direct}"),
        // fio otherwise drops the file's pages before each job: a warm page cache
        // is what the buffered runs measure.
        "--invalidate=0".to_string(),
        "--randrepeat=0".to_string(),
        "--time_based".to_string(),
        format!("--ramp_time={}ms", setup.warmup.as_millis()),
        format!("--runtime={}ms", setup.duration.as_millis()),
        "--group_reporting".to_string(),
        "--lat_percentiles=1".to_string(),
        "--output-format=json".to_string(),
    ]
}

/// fio with its io_uring engine at the cell's depth; `Err` says why it did not run.
///
/// Its CPU time is that of all its processes and their threads over the whole run,
/// from `wait4` (the kernel's io_uring workers, which run buffered writes, are threads of
/// the process that made the ring): fio's own `usr_cpu`/`sys_cpu` are those of each
/// job's submitting thread only. Per operation, it is divided by the operations of the
/// warm-up and the window, at the rate fio measured in the window.
pub fn fio(cell: Cell, setup: &Setup) -> Result<Figures, String> {
    let args = fio_command(cell, setup);
    let mut child = Command::new(&args[0])
        .args(&args[1..])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                "fio is not installed (Debian: apt-get install -y fio)".to_string()
            }
            _ => format!("fio: {e}"),
        })?;
    let mut stderr = child.stderr.take().expect("piped");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut stdout = String::new();
    let _ = io::Read::read_to_string(child.stdout.as_mut().expect("piped"), &mut stdout);
    let (status, cpu) = wait_with_cpu(child.id())?;
    let stderr = stderr.join().unwrap_or_default();
    if status != 0 {
        return Err(format!(
            "fio failed (wait status {status}): {}",
            stderr.trim()
        ));
    }
    // fio may print notes before its JSON.
    let json = stdout.find('{').map(|i| &stdout[i..]).unwrap_or(&stdout);
    let mut figures = parse_fio(json, cell.access)?;
    let ops = figures.iops * (setup.warmup + setup.duration).as_secs_f64();
    figures.cpu_us_per_op = cpu * 1e6 / ops;
    Ok(figures)
}

/// Waits for the child `pid` (not waited for otherwise); returns its wait status and the
/// user plus system CPU seconds of it and every descendant it waited for.
fn wait_with_cpu(pid: u32) -> Result<(i32, f64), String> {
    let mut status = 0;
    // SAFETY: all-zero is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is this process's child, waited for once; both out-pointers are
    // valid.
    let rc = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    if rc < 0 {
        return Err(format!("waiting for fio: {}", io::Error::last_os_error()));
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((status, seconds(usage.ru_utime) + seconds(usage.ru_stime)))
}

/// The figures of fio's JSON report (one group-reported job).
fn parse_fio(json: &str, access: Access) -> Result<Figures, String> {
    let report: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("fio's report: {e}"))?;
    let job = &report["jobs"][0];
    let side = match access {
        Access::Read => &job["read"],
        Access::Write => &job["write"],
    };
    let number = |v: &serde_json::Value, what: &str| {
        v.as_f64()
            .ok_or_else(|| format!("fio's report has no {what}"))
    };
    let iops = number(&side["iops"], "iops")?;
    let ops = number(&side["total_ios"], "total_ios")?;
    let percentile = |p: &str| number(&side["lat_ns"]["percentile"][p], "latency percentiles");
    let runtime_s = number(&job["job_runtime"], "job_runtime")? / 1e3;
    let cpu_percent = number(&job["usr_cpu"], "usr_cpu")? + number(&job["sys_cpu"], "sys_cpu")?;
    if ops <= 0.0 {
        return Err("fio completed no operation".to_string());
    }
    Ok(Figures {
        iops,
        p50_us: percentile("50.000000")? / 1e3,
        p99_us: percentile("99.000000")? / 1e3,
        cpu_us_per_op: cpu_percent / 100.0 * runtime_s * 1e6 / ops,
    })
}

/// Makes `path` a file of `size` bytes of data (not a sparse one, whose holes would read
/// without touching any page), unless it is one already.
pub fn prepare_file(path: &Path, size: u64) -> io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size && m.blocks() * 512 >= size) {
        return Ok(());
    }
    let file = std::fs::File::create(path)?;
    let chunk: Vec<u8> = (0..1usize << 20).map(|i| (i * 131 % 251) as u8).collect();
    let mut pos = 0;
    while pos < size {
        let n = chunk.len().min((size - pos) as usize);
        file.write_all_at(&chunk[..n], pos)?;
        pos += n as u64;
    }
    file.sync_all()
}

use std::os::unix::fs::MetadataExt;

/// Writes back the file's dirty pages and, for buffered runs, reads the whole file once,
/// so that every page is cached and clean.
pub fn settle_file(path: &Path, cache: Cache) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    file.sync_all()?;
    if cache == Cache::Direct {
        return Ok(());
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0;
    loop {
        let n = file.read_at(&mut buf, pos)?;
        if n == 0 {
            return Ok(());
        }
        pos += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_aligned_and_inside_the_file() {
        let mut offsets = Offsets::new(3, 1 << 20);
        for _ in 0..10_000 {
            let pos = offsets.next();
            assert_eq!(pos % BLOCK as u64, 0);
            assert!(pos + BLOCK as u64 <= 1 << 20);
        }
    }

    #[test]
    fn fio_shares_the_depth_among_its_jobs() {
        let cell = |depth, workers| Cell {
            cache: Cache::Warm,
            access: Access::Read,
            depth,
            workers,
        };
        assert_eq!(fio_jobs(cell(1, 2)), (1, 1));
        assert_eq!(fio_jobs(cell(32, 2)), (2, 16));
        assert_eq!(fio_jobs(cell(128, 1)), (1, 128));
    }

    #[test]
    fn a_fio_report_is_read() {
        let json = r#"{"jobs":[{"job_runtime":2000,"usr_cpu":10.0,"sys_cpu":40.0,
            "read":{"iops":100000.0,"total_ios":200000,
              "lat_ns":{"percentile":{"50.000000":5000,"99.000000":20000}}}}]}"#;
        let f = parse_fio(json, Access::Read).unwrap();
        assert_eq!(f.iops, 100000.0);
        assert_eq!((f.p50_us, f.p99_us), (5.0, 20.0));
        // 50 % of one CPU for 2 s over 200,000 operations: 5 µs each.
        assert!((f.cpu_us_per_op - 5.0).abs() < 1e-9);
        assert!(parse_fio(json, Access::Write).is_err());
    }
}
