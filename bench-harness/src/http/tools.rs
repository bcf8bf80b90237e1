//! Running the HTTP load tools: wrk (HTTP/1.1, one request in flight per connection)
//! and h2load (HTTP/2 with prior knowledge, several streams per connection).
//!
//! * `wrk -t1 -cC -dDs --latency http://ADDR/`
//! * `h2load -cC -mM -D D [--log-file=PATH] http://ADDR/` (h2c with prior knowledge is
//!   what h2load speaks to an `http://` address)
//!
//! A tool is started from a scratch thread pinned to the load CPU, so that the tool and
//! every thread it starts inherit the pinning (as `taskset -c CPU` would do).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::parse::{self, ToolReport};
use crate::sys;

/// The command that installs both tools (Debian, Ubuntu).
pub const INSTALL: &str = "sudo apt-get install wrk nghttp2-client";

/// The HTTP load tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// wrk: HTTP/1.1 with keep-alive.
    Wrk,
    /// h2load (nghttp2): HTTP/2 over cleartext with prior knowledge.
    H2load,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Wrk => "wrk",
            Tool::H2load => "h2load",
        }
    }

    /// The protocol the tool speaks to the server.
    pub fn protocol(self) -> &'static str {
        match self {
            Tool::Wrk => "HTTP/1.1",
            Tool::H2load => "h2c",
        }
    }

    /// The tool's path on `PATH`, or why it cannot be run, with the command that
    /// installs it.
    pub fn locate(self) -> Result<PathBuf, String> {
        self.locate_in(&std::env::var_os("PATH").unwrap_or_default())
    }

    /// [`locate`](Self::locate) with `path` for `PATH`.
    fn locate_in(self, path: &OsStr) -> Result<PathBuf, String> {
        std::env::split_paths(path)
            .map(|dir| dir.join(self.name()))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| {
                format!(
                    "{} is not installed (no executable `{0}` on PATH); install it with `{INSTALL}`",
                    self.name()
                )
            })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One load: a tool, its connections and, for h2load, the streams each connection keeps
/// in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Load {
    pub tool: Tool,
    pub connections: usize,
    /// h2load's `-m`; `None` for wrk, which has one request in flight per connection.
    pub streams: Option<usize>,
}

impl Load {
    /// `wrk -c50`, `h2load -c50 -m10`.
    pub fn label(&self) -> String {
        match self.streams {
            Some(streams) => format!("{} -c{} -m{streams}", self.tool.name(), self.connections),
            None => format!("{} -c{}", self.tool.name(), self.connections),
        }
    }

    /// The tool's arguments for a run of `seconds` against `addr`, logging each request
    /// to `log` (h2load only).
    pub fn args(&self, addr: SocketAddr, seconds: u64, log: Option<&Path>) -> Vec<String> {
        let url = format!("http://{addr}/");
        let connections = self.connections.to_string();
        let mut args: Vec<String> = match self.tool {
            Tool::Wrk => vec![
                "-t1".into(),
                format!("-c{connections}"),
                format!("-d{seconds}s"),
                "--latency".into(),
            ],
            Tool::H2load => {
                let mut args = vec![
                    "-c".into(),
                    connections,
                    "-m".into(),
                    self.streams.unwrap_or(1).to_string(),
                    "-D".into(),
                    seconds.to_string(),
                ];
                if let Some(log) = log {
                    args.push(format!("--log-file={}", log.display()));
                }
                args
            }
        };
        args.push(url);
        args
    }
}

/// How much longer than asked a tool may run before it is killed: connecting and
/// tearing down hundreds of connections takes a moment, a hung tool forever.
const OVERRUN: Duration = Duration::from_secs(30);

/// Runs `load` from `program` against `addr` for `seconds`, pinned to `cpu`, and reads
/// its report; with `log` (h2load), the percentiles come from its per-request log,
/// which is removed afterwards.
pub fn run(
    program: &Path,
    load: &Load,
    addr: SocketAddr,
    seconds: u64,
    cpu: Option<usize>,
    log: Option<&Path>,
) -> io::Result<ToolReport> {
    let log = log.filter(|_| load.tool == Tool::H2load);
    if let Some(log) = log {
        // h2load appends to its log.
        match std::fs::remove_file(log) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let mut command = Command::new(program);
    command.args(load.args(addr, seconds, log));
    let deadline = Duration::from_secs(seconds) + OVERRUN;
    let output = run_pinned(command, cpu, deadline)?;
    let label = load.label();
    if !output.status_ok {
        return Err(io::Error::other(format!(
            "`{label}` failed ({}): {}",
            output.status,
            tail(&output.stderr, &output.stdout)
        )));
    }
    let parsed = match load.tool {
        Tool::Wrk => parse::wrk(&output.stdout),
        Tool::H2load => parse::h2load(&output.stdout),
    };
    let mut report = parsed.map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "reading `{label}`'s output: {why}; it said: {}",
                tail(&output.stdout, &output.stderr)
            ),
        )
    })?;
    if let Some(log) = log {
        let text = std::fs::read_to_string(log)?;
        std::fs::remove_file(log)?;
        let times = parse::h2load_log(&text)
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
        parse::with_percentiles(&mut report.latency, &times);
    }
    Ok(report)
}

/// What a finished tool left.
struct Output {
    status_ok: bool,
    status: String,
    stdout: String,
    stderr: String,
}

/// Runs `command` from a thread pinned to `cpu` (so that the process inherits the
/// pinning), killing it after `deadline`.
fn run_pinned(mut command: Command, cpu: Option<usize>, deadline: Duration) -> io::Result<Output> {
    let spawn = move || -> io::Result<Output> {
        if let Some(cpu) = cpu {
            sys::pin_current_thread(cpu).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot pin the load tool to CPU {cpu}: {e}"),
                )
            })?;
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the load tool ran for more than {deadline:?} and was killed"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let joined = |h: std::thread::JoinHandle<String>| h.join().unwrap_or_default();
        Ok(Output {
            status_ok: status.success(),
            status: status.to_string(),
            stdout: joined(stdout),
            stderr: joined(stderr),
        })
    };
    std::thread::Builder::new()
        .name("load-tool".into())
        .spawn(spawn)?
        .join()
        .map_err(|_| io::Error::other("the thread running the load tool panicked"))?
}

/// The last few lines of `first` (or of `second` when `first` is empty), on one line.
fn tail(first: &str, second: &str) -> String {
    let text = if first.trim().is_empty() {
        second
    } else {
        first
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = &lines[lines.len().saturating_sub(4)..];
    if last.is_empty() {
        "(no output)".to_string()
    } else {
        last.join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }

    #[test]
    fn each_tool_gets_the_command_line_of_the_issue() {
        let wrk = Load {
            tool: Tool::Wrk,
            connections: 256,
            streams: None,
        };
        assert_eq!(
            wrk.args(addr(), 10, None),
            [
                "-t1",
                "-c256",
                "-d10s",
                "--latency",
                "http://127.0.0.1:8080/"
            ]
        );
        assert_eq!(wrk.label(), "wrk -c256");
        let h2load = Load {
            tool: Tool::H2load,
            connections: 50,
            streams: Some(10),
        };
        assert_eq!(
            h2load.args(addr(), 10, None),
            ["-c", "50", "-m", "10", "-D", "10", "http://127.0.0.1:8080/"]
        );
        assert_eq!(
            h2load.args(addr(), 3, Some(Path::new("/tmp/x.tsv")))[6],
            "--log-file=/tmp/x.tsv"
        );
        assert_eq!(h2load.label(), "h2load -c50 -m10");
    }

    #[test]
    fn a_tool_is_found_on_path_or_named_with_the_install_command() {
        let dir = std::env::temp_dir().join(format!("http-tools-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), &dir]).unwrap();
        let why = Tool::Wrk.locate_in(&path).unwrap_err();
        assert!(why.contains("wrk is not installed"), "{why}");
        assert!(why.contains(INSTALL), "{why}");
        // Found only once it is executable.
        let wrk = dir.join("wrk");
        std::fs::write(&wrk, "#!/bin/sh\n").unwrap();
        assert!(Tool::Wrk.locate_in(&path).is_err());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrk, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(Tool::Wrk.locate_in(&path), Ok(wrk));
        assert!(Tool::H2load.locate_in(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_tool_is_quoted_by_its_last_lines() {
        assert_eq!(tail("", "a\nb\n\nc\nd\ne\n"), "b / c / d / e");
        assert_eq!(tail("only\n", "other"), "only");
        assert_eq!(tail(" ", ""), "(no output)");
    }

    #[test]
    fn a_command_runs_pinned_and_its_output_comes_back() {
        let cpu = sys::core_ids().first().copied();
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let output = run_pinned(command, cpu, Duration::from_secs(20)).unwrap();
        assert!(!output.status_ok);
        assert_eq!(
            (output.stdout.as_str(), output.stderr.as_str()),
            ("out\n", "err\n")
        );
        let mut stuck = Command::new("sleep");
        stuck.arg("30");
        let why = run_pinned(stuck, None, Duration::from_millis(100))
            .err()
            .unwrap();
        assert_eq!(why.kind(), io::ErrorKind::TimedOut);
    }
}
