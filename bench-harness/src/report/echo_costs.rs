//! What each echo request cost the server, in the echo report: user and system CPU time
//! (from `/proc/PID/stat`, for every server the harness started) and, for ringtide, the
//! calls into the kernel and the requests its I/O drivers made (its
//! `Runtime::metrics`, asked for over the server's stdin at the window's edges).

use std::io::{self, Write};

use serde::Serialize;

use super::echo::EchoRun;
use super::table::{name_width, write_figures, Column};

/// One run's costs per request (one echoed message).
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Costs {
    connections: usize,
    size: usize,
    /// Server user CPU time per request, in nanoseconds.
    pub(super) server_user_ns_per_request: Option<f64>,
    /// Server system CPU time per request, in nanoseconds.
    pub(super) server_system_ns_per_request: Option<f64>,
    /// `io_uring_enter` calls (epoll: `epoll_wait` calls) per request.
    pub(super) enters_per_request: Option<f64>,
    /// Submission queue entries (epoll: requests started) per request.
    pub(super) submitted_per_request: Option<f64>,
    /// Completion queue entries (epoll: requests completed) per request.
    pub(super) completions_per_request: Option<f64>,
    /// System calls of the I/O drivers per request, enters included.
    pub(super) syscalls_per_request: Option<f64>,
}

impl Costs {
    pub(super) fn of(run: &EchoRun) -> Costs {
        let r = &run.result;
        let requests = (r.requests > 0).then_some(r.requests as f64);
        let per = |n: Option<f64>| n.zip(requests).map(|(n, requests)| n / requests);
        let ns = |s: Option<f64>| per(s.map(|s| s * 1e9));
        let io = |count: fn(&crate::server_io::ServerIo) -> u64| {
            per(r.server_io.as_ref().map(|io| count(io) as f64))
        };
        Costs {
            connections: run.connections,
            size: run.size,
            server_user_ns_per_request: ns(r.server_cpu.map(|c| c.user)),
            server_system_ns_per_request: ns(r.server_cpu.map(|c| c.system)),
            enters_per_request: io(|io| io.enters),
            submitted_per_request: io(|io| io.submitted),
            completions_per_request: io(|io| io.completions),
            syscalls_per_request: io(|io| io.syscalls),
        }
    }
}

fn columns() -> Vec<Column<Costs>> {
    let whole = |v: f64| format!("{v:.0}");
    let count = |head, value: fn(&Costs) -> Option<f64>| Column {
        group: "server I/O per request",
        head,
        width: 11,
        value,
        show: |v| format!("{v:.2}"),
    };
    vec![
        Column {
            group: "",
            head: "conns",
            width: 7,
            value: |c| Some(c.connections as f64),
            show: whole,
        },
        Column {
            group: "",
            head: "size",
            width: 7,
            value: |c| Some(c.size as f64),
            show: |v| format!("{v:.0}"),
        },
        Column {
            group: "server CPU, ns/req",
            head: "user",
            width: 9,
            value: |c| c.server_user_ns_per_request,
            show: whole,
        },
        Column {
            group: "server CPU, ns/req",
            head: "system",
            width: 9,
            value: |c| c.server_system_ns_per_request,
            show: whole,
        },
        count("enters", |c| c.enters_per_request),
        count("submitted", |c| c.submitted_per_request),
        count("completed", |c| c.completions_per_request),
        count("syscalls", |c| c.syscalls_per_request),
    ]
}

/// Writes the costs block: a row per run with the server's user and system CPU time
/// per request and, for ringtide, its drivers' enters, submissions, completions and
/// system calls per request; nothing when no run has any of them.
pub(super) fn write_costs(out: &mut impl Write, runs: &[EchoRun]) -> io::Result<()> {
    if runs
        .iter()
        .all(|r| r.result.server_cpu.is_none() && r.result.server_io.is_none())
    {
        return Ok(());
    }
    let costs: Vec<Costs> = runs.iter().map(Costs::of).collect();
    let names = || runs.iter().map(|r| r.server.as_str());
    writeln!(out)?;
    writeln!(
        out,
        "server costs per request: CPU from /proc/PID/stat; I/O from ringtide's \
         Runtime::metrics (io_uring: io_uring_enter calls, SQEs, CQEs; epoll: epoll_wait \
         calls, requests started and completed; syscalls include the enters); size in bytes"
    )?;
    write_figures(out, name_width(names()), &columns(), names().zip(&costs))
}
