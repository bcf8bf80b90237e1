//! `ringtide-bench fs`: 4 KiB random reads and writes on one file at several queue
//! depths and worker counts, page cache warm and `O_DIRECT`; with `--compare`, tokio::fs,
//! tokio's blocking pool with `pread`, and fio's io_uring engine under the same loads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::values;
use super::MAX_WORKERS;
use crate::fs_load::{self, Access, Cache, Cell, Figures, Setup};

#[derive(Debug, Args)]
pub struct FsArgs {
    /// Also run tokio::fs (tokio::fs::File, seek then read), tokio-pread (one
    /// spawn_blocking with pread or pwrite per operation: what a tokio::fs call costs at
    /// best) and fio's io_uring engine, with the same depth, size and file.
    #[arg(long)]
    compare: bool,
    /// The file to read and write (made, with data, if it is not SIZE bytes already);
    /// default ringtide-bench-fs.dat in the current directory, removed afterwards.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// The file's size: 1G, 256M, 65536k.
    #[arg(long, default_value = "1G", value_parser = parse_file_size)]
    size: u64,
    /// Queue depths (operations in flight: that many tasks), comma-separated.
    #[arg(long = "depth", value_delimiter = ',', default_value = "1,32,128",
          value_parser = values::count(1usize, 4096))]
    depths: Vec<usize>,
    /// Worker threads of each runtime (fio: jobs), comma-separated.
    #[arg(long = "workers", value_delimiter = ',', default_value = "1,2",
          value_parser = values::count(1usize, MAX_WORKERS))]
    workers: Vec<usize>,
    /// Page cache warm (buffered I/O) and/or O_DIRECT, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "warm,direct")]
    cache: Vec<CacheArg>,
    /// Reads and/or writes, comma-separated.
    #[arg(long = "access", value_delimiter = ',', default_value = "read,write")]
    accesses: Vec<AccessArg>,
    /// Time each load runs before it is measured.
    #[arg(long, default_value = "500ms", value_parser = values::duration())]
    warmup: Duration,
    /// Time each load is measured.
    #[arg(long, default_value = "2s", value_parser = values::positive_duration())]
    duration: Duration,
    /// Runs of each runtime per configuration, taken in turns; the one with the median
    /// IOPS is reported.
    #[arg(long, default_value_t = 1, value_parser = values::count(1usize, 99))]
    rounds: usize,
    /// Do not pin ringtide's workers to CPUs.
    #[arg(long)]
    no_pin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CacheArg {
    Warm,
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AccessArg {
    Read,
    Write,
}

/// Parses `1G`, `256M`, `512k`, `4096` as a byte count, a multiple of the block size.
fn parse_file_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; use e.g. 1G, 256M"))?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return Err(format!("unknown unit in `{text}`; use K, M or G")),
    };
    let size = value
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    let block = fs_load::BLOCK as u64;
    if size < block || size % block != 0 {
        return Err(format!("the size must be a multiple of {block} bytes"));
    }
    Ok(size)
}

/// The runtimes of one run, in the order of the table.
const RUNTIMES: [&str; 4] = ["ringtide", "tokio-fs", "tokio-pread", "fio"];

/// The statement of the targets the issue sets at queue depth 32.
const TARGETS: &str = "IOPS >= 3x tokio-fs and >= 0.8x fio; CPU per op <= 1.25x fio's";

pub fn run(args: &FsArgs) -> ExitCode {
    let (path, remove_after) = match &args.file {
        Some(path) => (path.clone(), false),
        None => (PathBuf::from("ringtide-bench-fs.dat"), true),
    };
    match run_on(args, &path) {
        Ok(code) => {
            if remove_after {
                let _ = std::fs::remove_file(&path);
            }
            code
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_on(args: &FsArgs, path: &Path) -> Result<ExitCode, String> {
    check_space(path, args.size)?;
    eprintln!("preparing {} ({} MiB)...", path.display(), args.size >> 20);
    fs_load::prepare_file(path, args.size).map_err(|e| format!("{}: {e}", path.display()))?;
    let setup = Setup {
        path: path.to_path_buf(),
        size: args.size,
        warmup: args.warmup,
        duration: args.duration,
        pin: !args.no_pin,
    };
    let direct_refused = direct_refused(path);
    println!(
        "fs: 4 KiB random I/O on {} ({} MiB, file system {}); warm-up {:?}, {:?} measured \
         per run, median of {} run(s) each",
        path.display(),
        args.size >> 20,
        file_system(path),
        args.warmup,
        args.duration,
        args.rounds,
    );
    println!(
        "    CPU: user+sys of the whole process over the window, io_uring worker threads \
         included (fio: of all its processes and threads over its run, from wait4, as its \
         own usr_cpu/sys_cpu leave the io_uring workers out); fio runs with \
         --invalidate=0 (page cache kept warm); ringtide's workers {}",
        if setup.pin {
            "pinned to CPUs (--no-pin: not)"
        } else {
            "not pinned, like fio's and tokio's threads"
        }
    );
    let mut failed = false;
    let mut rows = Vec::new();
    let mut fio_example = None;
    for &cache in &args.cache {
        let cache = match cache {
            CacheArg::Warm => Cache::Warm,
            CacheArg::Direct => Cache::Direct,
        };
        if cache == Cache::Direct {
            if let Some(why) = &direct_refused {
                println!("direct: skipped, {why}");
                continue;
            }
        }
        for &access in &args.accesses {
            let access = match access {
                AccessArg::Read => Access::Read,
                AccessArg::Write => Access::Write,
            };
            for &depth in &args.depths {
                for &workers in &args.workers {
                    let cell = Cell {
                        cache,
                        access,
                        depth,
                        workers,
                    };
                    fio_example.get_or_insert_with(|| fs_load::fio_command(cell, &setup));
                    let row = run_cell(cell, &setup, args.compare, args.rounds);
                    failed |= row
                        .results
                        .iter()
                        .any(|r| r.1.is_err() && r.0 == "ringtide");
                    print_row(&row);
                    rows.push(row);
                }
            }
        }
    }
    print_targets(&rows);
    if let Some(fio) = fio_example {
        println!(
            "fio, e.g. the first cell (--rw, --iodepth, --numjobs, --direct vary per cell; \
             jobs = workers, at most the depth):\n    {}",
            fio.join(" ")
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One cell's figures for each runtime run.
struct Row {
    cell: Cell,
    /// The driver ringtide ran on.
    driver: Option<String>,
    results: Vec<(&'static str, Result<Figures, String>)>,
}

fn run_cell(cell: Cell, setup: &Setup, compare: bool, rounds: usize) -> Row {
    let names: Vec<&'static str> = RUNTIMES
        .into_iter()
        .filter(|&name| name == "ringtide" || compare)
        .collect();
    let mut driver = None;
    let mut runs: Vec<Vec<Result<Figures, String>>> = vec![Vec::new(); names.len()];
    // Round after round, each runtime in turn: a burst of load from elsewhere on the
    // machine then lands on one run of each rather than on every run of one.
    for _ in 0..rounds {
        for (name, runs) in names.iter().zip(&mut runs) {
            // Each runtime starts from the same state: no dirty page (rewriting a page
            // that an earlier run left dirty costs the kernel less than dirtying a
            // clean one), and for buffered runs the whole file in the page cache.
            if let Err(e) = fs_load::settle_file(&setup.path, cell.cache) {
                runs.push(Err(format!("{}: {e}", setup.path.display())));
                continue;
            }
            runs.push(match *name {
                "ringtide" => fs_load::ringtide(cell, setup).map(|(figures, on)| {
                    driver = Some(on);
                    figures
                }),
                "tokio-fs" => fs_load::tokio_fs(cell, setup),
                "tokio-pread" => fs_load::tokio_pread(cell, setup),
                _ => fs_load::fio(cell, setup),
            });
        }
    }
    let results = names
        .into_iter()
        .zip(runs)
        .map(|(name, runs)| (name, median_run(runs)))
        .collect();
    Row {
        cell,
        driver,
        results,
    }
}

/// The run with the median IOPS (the lower middle one of an even count); the first
/// error if any run failed.
fn median_run(runs: Vec<Result<Figures, String>>) -> Result<Figures, String> {
    let mut done = runs.into_iter().collect::<Result<Vec<Figures>, String>>()?;
    done.sort_by(|a, b| a.iops.total_cmp(&b.iops));
    done.get((done.len().max(1) - 1) / 2)
        .copied()
        .ok_or_else(|| "no run".to_string())
}

fn figures<'a>(row: &'a Row, name: &str) -> Option<&'a Figures> {
    row.results
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, r)| r.as_ref().ok())
}

fn print_row(row: &Row) {
    let cell = row.cell;
    let cache = match cell.cache {
        Cache::Warm => "warm",
        Cache::Direct => "direct",
    };
    let access = match cell.access {
        Access::Read => "read",
        Access::Write => "write",
    };
    println!(
        "\n{cache} {access}, QD {}, {} worker{} (ringtide on {}):",
        cell.depth,
        cell.workers,
        if cell.workers == 1 { "" } else { "s" },
        row.driver.as_deref().unwrap_or("-"),
    );
    println!(
        "  {:<12} {:>10} {:>9} {:>9} {:>11}   ringtide's ratio to it",
        "runtime", "IOPS", "p50 µs", "p99 µs", "CPU µs/op"
    );
    let ours = figures(row, "ringtide");
    for (name, result) in &row.results {
        match result {
            Ok(f) => {
                let ratio = match (ours, *name) {
                    (Some(o), n) if n != "ringtide" => format!(
                        "{:.2}x IOPS, {:.2}x CPU/op",
                        o.iops / f.iops,
                        o.cpu_us_per_op / f.cpu_us_per_op
                    ),
                    _ => String::new(),
                };
                println!(
                    "  {:<12} {:>10.0} {:>9.1} {:>9.1} {:>11.2}   {ratio}",
                    name, f.iops, f.p50_us, f.p99_us, f.cpu_us_per_op
                );
            }
            Err(why) => println!("  {name:<12} not measured: {why}"),
        }
    }
}

/// Says, for each cell at queue depth 32, whether ringtide met the targets.
fn print_targets(rows: &[Row]) {
    let at_32: Vec<&Row> = rows.iter().filter(|r| r.cell.depth == 32).collect();
    if at_32.is_empty() {
        return;
    }
    println!("\ntargets at QD 32 ({TARGETS}):");
    for row in at_32 {
        let Some(ours) = figures(row, "ringtide") else {
            continue;
        };
        let versus = |name: &str, check: &dyn Fn(&Figures) -> (f64, bool)| match figures(row, name)
        {
            Some(f) => {
                let (ratio, met) = check(f);
                format!("{ratio:.2}x {name} {}", if met { "met" } else { "MISSED" })
            }
            None => format!("{name} n/a"),
        };
        println!(
            "  {:?} {:?} W{}: IOPS {}; IOPS {}; CPU/op {}",
            row.cell.cache,
            row.cell.access,
            row.cell.workers,
            versus("tokio-fs", &|f| (
                ours.iops / f.iops,
                ours.iops >= 3.0 * f.iops
            )),
            versus("fio", &|f| (ours.iops / f.iops, ours.iops >= 0.8 * f.iops)),
            versus("fio", &|f| {
                let r = ours.cpu_us_per_op / f.cpu_us_per_op;
                (r, r <= 1.25)
            }),
        );
    }
}

/// Refuses a file that would not fit, with room to spare, on its file system.
fn check_space(path: &Path, size: u64) -> Result<(), String> {
    let existing = std::fs::metadata(path).map_or(0, |m| m.len());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(free) = free_bytes(dir) else {
        return Ok(());
    };
    let needed = size.saturating_sub(existing) + (1 << 30);
    if free < needed {
        return Err(format!(
            "{} has {} MiB free, and a {} MiB file needs {} MiB with 1 GiB to spare: \
             pass a smaller --size or another --file",
            dir.display(),
            free >> 20,
            size >> 20,
            needed >> 20
        ));
    }
    Ok(())
}

fn c_path(path: &Path) -> Option<std::ffi::CString> {
    std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).ok()
}

fn free_bytes(dir: &Path) -> Option<u64> {
    let c = c_path(dir)?;
    // SAFETY: all-zero is a valid statvfs.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a writable struct.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The name of the file system `path` is on, for the common ones.
fn file_system(path: &Path) -> String {
    let Some(c) = c_path(path) else {
        return "unknown".to_string();
    };
    // SAFETY: all-zero is a valid statfs.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a writable struct.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "unknown".to_string();
    }
    match st.f_type as u64 {
        0xEF53 => "ext4".to_string(),
        0x5846_5342 => "xfs".to_string(),
        0x9123_683E => "btrfs".to_string(),
        0x0102_1994 => "tmpfs".to_string(),
        0x794C_7630 => "overlayfs".to_string(),
        other => format!("type {other:#x}"),
    }
}

/// Why `O_DIRECT` cannot be used on `path`, if it cannot.
fn direct_refused(path: &Path) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the file system of {} refuses O_DIRECT ({e}); pass --file on another one",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_units() {
        assert_eq!(parse_file_size("1G"), Ok(1 << 30));
        assert_eq!(parse_file_size("256M"), Ok(256 << 20));
        assert_eq!(parse_file_size("64k"), Ok(64 << 10));
        assert!(parse_file_size("100").is_err(), "not whole blocks");
        assert!(parse_file_size("1T").is_err());
        assert!(parse_file_size("99999999999G").is_err());
    }

    #[test]
    fn the_median_run_is_reported() {
        let run = |iops| {
            Ok(Figures {
                iops,
                p50_us: iops,
                p99_us: 0.0,
                cpu_us_per_op: 0.0,
            })
        };
        let median = median_run(vec![run(3.0), run(1.0), run(2.0)]).unwrap();
        assert_eq!((median.iops, median.p50_us), (2.0, 2.0));
        assert_eq!(median_run(vec![run(2.0), run(1.0)]).unwrap().iops, 1.0);
        assert!(median_run(vec![run(1.0), Err("broke".into())]).is_err());
    }
}
