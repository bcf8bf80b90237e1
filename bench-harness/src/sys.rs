//! The few operating-system facts and knobs the harness needs: which CPUs it may use,
//! pinning, the CPU time a process has used, and the descriptor limit.

use std::io;

/// The CPUs this thread may run on, in ascending order (empty if unknown).
pub fn core_ids() -> Vec<usize> {
    let mut set = empty_cpu_set();
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into `set`.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the size of the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// The CPUs a thread of this process may be pinned to: those its cpuset allows and that
/// are online (empty if unknown). Not the caller's own CPUs, which may be fewer: a pinned
/// thread, or a process started by one, may still be pinned elsewhere. The kernel says
/// which when a thread asks for every CPU, so a scratch thread asks.
fn usable_cpus() -> Vec<usize> {
    let widen = || {
        let mut all = empty_cpu_set();
        for cpu in 0..libc::CPU_SETSIZE as usize {
            // SAFETY: `cpu` is below CPU_SETSIZE, the size of the set.
            unsafe { libc::CPU_SET(cpu, &mut all) };
        }
        // SAFETY: the set is valid and its size is passed along; it changes only this
        // scratch thread, which ends right after.
        let rc =
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &all) };
        if rc == 0 {
            core_ids()
        } else {
            Vec::new()
        }
    };
    std::thread::Builder::new()
        .spawn(widen)
        .ok()
        .and_then(|scratch| scratch.join().ok())
        .unwrap_or_default()
}

/// Checks that a thread of this process may be pinned to `cpu`; the error names the
/// CPUs it may be pinned to. Passes when they cannot be read: pinning then says what the
/// kernel says.
pub fn check_cpu(cpu: usize) -> Result<(), String> {
    let cpus = usable_cpus();
    if cpus.is_empty() || cpus.contains(&cpu) {
        Ok(())
    } else {
        Err(format!("the CPUs available here are {}", cpu_list(&cpus)))
    }
}

/// Ascending CPU numbers as the kernel writes CPU lists: `0-3,8,10-11`.
fn cpu_list(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == cpu => *last = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(first, last)| {
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect();
    parts.join(",")
}

fn empty_cpu_set() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array for which all-zero is the empty set.
    unsafe { std::mem::zeroed() }
}

/// Pins the calling thread to `cpu`. Threads it starts afterwards inherit the pinning.
/// When the kernel refuses, the error also names the CPUs it would accept.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let refused = |os: io::Error| match check_cpu(cpu) {
        Err(why) => io::Error::new(os.kind(), format!("{why} ({os})")),
        Ok(()) => os,
    };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(refused(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is out of range"),
        )));
    }
    let mut set = empty_cpu_set();
    // SAFETY: `cpu` is below CPU_SETSIZE, the size of the set.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the set is valid and its size is passed along.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(refused(io::Error::last_os_error()))
    }
}

/// CPU time a process has used, in seconds, by mode.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// Time spent running the process's own code (`utime`).
    pub user: f64,
    /// Time the kernel spent on the process's behalf: system calls, page faults
    /// (`stime`).
    pub system: f64,
}

impl CpuTimes {
    /// User plus system time.
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    /// The time used between `earlier` and `self`.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// User and system CPU time that process `pid` has used (`None` for the calling
/// process), from `/proc/PID/stat`, in clock ticks (`sysconf(_SC_CLK_TCK)`) converted to
/// seconds.
pub fn cpu_times(pid: Option<u32>) -> io::Result<CpuTimes> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path)?;
    let (utime, stime) = parse_cpu_ticks(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path} has no utime and stime fields"),
        )
    })?;
    let per_second = clock_ticks_per_second();
    Ok(CpuTimes {
        user: utime as f64 / per_second,
        system: stime as f64 / per_second,
    })
}

/// User plus system CPU time, in seconds, that process `pid` has used (`None` for the
/// calling process).
pub fn cpu_seconds(pid: Option<u32>) -> io::Result<f64> {
    cpu_times(pid).map(CpuTimes::total)
}

/// utime and stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The
/// command name (field 2) is in parentheses and may itself hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Resident set size of process `pid`, in bytes (`/proc/PID/statm`'s second field, in
/// pages).
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let path = format!("/proc/{pid}/statm");
    let statm = std::fs::read_to_string(&path)?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{path} has no resident field"),
            )
        })?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * u64::try_from(page).unwrap_or(4096))
}

/// The soft and hard limits on open descriptors of this process.
pub fn descriptor_limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then_some((limit.rlim_cur, limit.rlim_max))
}

/// Raises the soft limit on open descriptors to the hard limit: hundreds of connections
/// on each side should not fail for want of descriptors. Best effort.
pub fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
        && limit.rlim_cur < limit.rlim_max
    {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: the struct is initialized; raising the soft limit to the hard one is
        // always allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_an_awkward_command_name() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some((250, 75)));
        assert_eq!(parse_cpu_ticks("1234 (x) S 1"), None);
        assert_eq!(parse_cpu_ticks("no name here"), None);
    }

    #[test]
    fn cpu_lists_read_like_the_kernels() {
        assert_eq!(cpu_list(&[0, 1]), "0-1");
        assert_eq!(cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(cpu_list(&[5]), "5");
        assert_eq!(cpu_list(&[]), "");
    }

    #[test]
    fn a_cpu_this_process_may_not_use_is_refused_with_the_ones_it_may() {
        let cpus = usable_cpus();
        assert!(core_ids().iter().all(|cpu| cpus.contains(cpu)), "{cpus:?}");
        assert!(check_cpu(cpus[0]).is_ok());
        let beyond = cpus.last().unwrap() + 1;
        let why = check_cpu(beyond).unwrap_err();
        assert!(why.contains(&cpu_list(&cpus)), "{why}");
        let pinned = pin_current_thread(beyond).unwrap_err().to_string();
        assert!(pinned.contains(&cpu_list(&cpus)), "{pinned}");
    }

    #[test]
    fn a_pinned_thread_may_still_pin_to_every_usable_cpu() {
        let cpus = usable_cpus();
        let first = cpus[0];
        let seen = std::thread::spawn(move || {
            pin_current_thread(first).unwrap();
            (core_ids(), usable_cpus())
        })
        .join()
        .unwrap();
        assert_eq!(seen, (vec![first], cpus));
    }

    #[test]
    fn this_process_has_a_resident_set_and_a_descriptor_limit() {
        let rss = rss_bytes(std::process::id()).unwrap();
        assert!(rss > 0 && rss % 4096 == 0, "{rss}");
        let (soft, hard) = descriptor_limits().unwrap();
        assert!(soft <= hard && soft > 0, "{soft} {hard}");
        assert!(rss_bytes(u32::MAX).is_err());
    }

    #[test]
    fn this_process_has_used_some_cpu_and_may_run_somewhere() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {}
        let used = cpu_times(None).unwrap();
        assert!(used.user > 0.0, "{used:?}");
        assert!(cpu_seconds(None).unwrap() >= used.total());
        assert!(!core_ids().is_empty());
    }
}
