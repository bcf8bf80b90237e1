//! The I/O counters of a server process, asked for over its standard input.
//!
//! The harness cannot see inside a server process, so it asks: it writes `io` on the
//! server's stdin, and the server answers with one line on stdout, `io ENTERS SUBMITTED
//! COMPLETIONS SYSCALLS` for a ringtide server (its [`ringtide::Runtime::metrics`] added
//! up over its workers), `io none` for a server whose runtime counts nothing. The
//! counters only grow, so the difference of the answers at the two edges of a measured
//! window ([`ServerIo::since`]) is what the server did in it, as with its CPU time from
//! `/proc/PID/stat`. A server busy on its CPU answers a moment late (its stdin thread
//! waits for the scheduler), so the counters cover a window shifted by that moment:
//! a few milliseconds in seconds-long windows.

use std::io::{self, BufRead, Write};
use std::process::ChildStdin;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// What a ringtide server's drivers did (see [`ringtide::metrics::WorkerMetrics`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerIo {
    /// `io_uring_enter` calls (epoll: `epoll_wait` calls).
    pub enters: u64,
    /// Submission queue entries (epoll: requests started).
    pub submitted: u64,
    /// Completion queue entries (epoll: requests completed).
    pub completions: u64,
    /// Every system call of the drivers, enters included.
    pub syscalls: u64,
}

impl ServerIo {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: ServerIo) -> ServerIo {
        ServerIo {
            enters: self.enters.saturating_sub(earlier.enters),
            submitted: self.submitted.saturating_sub(earlier.submitted),
            completions: self.completions.saturating_sub(earlier.completions),
            syscalls: self.syscalls.saturating_sub(earlier.syscalls),
        }
    }

    fn of(metrics: &ringtide::metrics::RuntimeMetrics) -> ServerIo {
        let total = metrics.total();
        ServerIo {
            enters: total.io_enters,
            submitted: total.io_submitted,
            completions: total.io_completions,
            syscalls: total.io_syscalls,
        }
    }
}

/// What a server asks for its counters: `io` on a line of its own.
const REQUEST: &str = "io";
/// How an answer starts.
const ANSWER: &str = "io ";
/// How long the harness waits for an answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer line for `io` (`None`: the server counts nothing).
fn answer(io: Option<ServerIo>) -> String {
    match io {
        Some(io) => format!(
            "{ANSWER}{} {} {} {}",
            io.enters, io.submitted, io.completions, io.syscalls
        ),
        None => format!("{ANSWER}none"),
    }
}

/// Reads an answer line: `Ok(None)` for `io none`, `Err` for anything else.
fn parse_answer(line: &str) -> Result<Option<ServerIo>, String> {
    let rest = line
        .strip_prefix(ANSWER)
        .ok_or_else(|| format!("`{line}` is not an answer to `{REQUEST}`"))?;
    if rest.trim() == "none" {
        return Ok(None);
    }
    let numbers: Vec<u64> = rest
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{line}`: {e}"))?;
    match numbers[..] {
        [enters, submitted, completions, syscalls] => Ok(Some(ServerIo {
            enters,
            submitted,
            completions,
            syscalls,
        })),
        _ => Err(format!("`{line}` does not hold four counters")),
    }
}

/// Server side: answers `io` requests on stdin for as long as the process runs, reading
/// the counters of `runtime` while it exists (`None`: a runtime that counts nothing).
/// The thread holds no strong reference, so the runtime is dropped where it always was.
pub fn answer_requests(runtime: Option<Weak<ringtide::Runtime>>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("io-requests".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if line.trim() != REQUEST {
                    continue;
                }
                let io = runtime
                    .as_ref()
                    .and_then(Weak::upgrade)
                    .map(|rt| ServerIo::of(&rt.metrics()));
                let mut stdout = io::stdout().lock();
                if writeln!(stdout, "{}", answer(io))
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return;
                }
            }
        })
        .map(drop)
}

/// Harness side: asks one server process for its counters. Cloned handles ask the same
/// server, one at a time.
#[derive(Debug, Clone)]
pub struct IoProbe {
    inner: Arc<Mutex<ProbeInner>>,
}

#[derive(Debug)]
struct ProbeInner {
    stdin: ChildStdin,
    /// The server's stdout lines after its address.
    lines: Receiver<String>,
}

impl IoProbe {
    /// Asks through `stdin`, reads the answers from `lines`.
    pub fn new(stdin: ChildStdin, lines: Receiver<String>) -> IoProbe {
        IoProbe {
            inner: Arc::new(Mutex::new(ProbeInner { stdin, lines })),
        }
    }

    /// The server's counters now (`None`: it counts nothing).
    pub fn read(&self) -> io::Result<Option<ServerIo>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(inner.stdin, "{REQUEST}")?;
        inner.stdin.flush()?;
        loop {
            let line = inner.lines.recv_timeout(ANSWER_TIMEOUT).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the server did not answer `{REQUEST}` within {} s",
                        ANSWER_TIMEOUT.as_secs()
                    ),
                )
            })?;
            // Anything else the server prints is not for us.
            if line.starts_with(ANSWER) {
                return parse_answer(&line)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_back_as_written() {
        let io = ServerIo {
            enters: 10,
            submitted: 25,
            completions: 24,
            syscalls: 12,
        };
        assert_eq!(parse_answer(&answer(Some(io))), Ok(Some(io)));
        assert_eq!(parse_answer(&answer(None)), Ok(None));
        assert!(parse_answer("io 1 2 3").unwrap_err().contains("four"));
        assert!(parse_answer("io 1 2 x 4").is_err());
        assert!(parse_answer("127.0.0.1:80").is_err());
    }

    #[test]
    fn differences_never_go_below_zero() {
        let later = ServerIo {
            enters: 10,
            submitted: 20,
            completions: 30,
            syscalls: 40,
        };
        let earlier = ServerIo {
            enters: 4,
            submitted: 5,
            completions: 6,
            syscalls: 50,
        };
        assert_eq!(
            later.since(earlier),
            ServerIo {
                enters: 6,
                submitted: 15,
                completions: 24,
                syscalls: 0
            }
        );
    }

    #[test]
    fn a_runtime_is_asked_for_its_counters() {
        let rt = ringtide::Builder::new().worker_threads(1).build().unwrap();
        rt.block_on(ringtide::time::sleep(Duration::from_millis(1)));
        let io = ServerIo::of(&rt.metrics());
        assert_eq!(io.enters, rt.metrics().total().io_enters);
        assert!(io.syscalls >= io.enters);
    }
}
