//! `ringtide-bench echo --compare --idle N`: the memory an echo server holds for each
//! connection that is open and quiet.
//!
//! For each server (ringtide on each driver asked for, tokio, monoio), in a fresh
//! process pinned as in the load comparison:
//!
//! 1. One connection is opened, echoes one message and is closed, so that what a server
//!    sets up on its first connection is not charged to the idle ones; after a pause the
//!    server's resident set (`/proc/PID/statm`) is the baseline.
//! 2. `N` connections are opened one after the other, from the source addresses
//!    127.0.0.1 to 127.0.0.4 in turn (each has its own ephemeral ports, so `N` may
//!    exceed one address's range; the port is picked at `connect`, see
//!    [`no_port_at_bind`]), and each echoes one [`MESSAGE`]-byte message, so
//!    that the server has run its connection code and is waiting in its read.
//! 3. After a pause the resident set is read again: what grew, divided by `N`, is the
//!    cost of one idle connection. Socket buffers are the kernel's and not in it.
//!
//! The connections are plain blocking sockets of this process, so the harness needs `N`
//! descriptors, and each server as many: [`check_fits`] says so before anything starts.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use ringtide::Driver;

use crate::compare::{self, Placement};
use crate::drivers::NotMeasured;
use crate::echo::fill_message;
use crate::serve::{Protocol, Recv, ServerProcess, ServerRuntime, ServerSpec, StartOptions};
use crate::sys;

/// Bytes of the one message each idle connection echoes.
pub const MESSAGE: usize = 128;
/// Read buffer of each tokio and monoio connection in this mode: the 4 KiB a typical
/// echo server reads into (ringtide's example server reads into a 16 KiB buffer it only
/// reserves: pages the kernel never writes are never resident).
pub const READ_BUFFER: usize = 4096;
/// Source addresses the connections take in turn.
const SOURCES: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
];
/// Descriptors a process needs besides the connections (listener, rings, eventfds,
/// pipes, files of the runtime).
const DESCRIPTOR_RESERVE: u64 = 100;
/// Pause before reading a resident set, for freed memory and late tasks to settle.
const SETTLE: Duration = Duration::from_millis(300);
/// Longest wait for one connection's connect or echo.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of an idle-connection run.
#[derive(Debug, Clone)]
pub struct IdleConfig {
    /// Idle connections to each server.
    pub connections: usize,
    pub workers: usize,
    pub drivers: Vec<Driver>,
    /// How ringtide's echo receives: its server runs once per way on each driver.
    pub recvs: Vec<Recv>,
    pub placement: Placement,
    pub progress: bool,
}

/// One server's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleRun {
    pub server: String,
    pub driver: Option<Driver>,
    pub connections: usize,
    /// Read buffer of each connection, as the server was set up; 0 where it holds none
    /// (buffers lent by the runtime as bytes arrive).
    pub read_buffer: usize,
    /// Resident set before the idle connections, in bytes.
    pub baseline_rss: u64,
    /// Resident set with them open, in bytes.
    pub idle_rss: u64,
}

impl IdleRun {
    /// Resident bytes each idle connection added.
    pub fn per_connection(&self) -> f64 {
        (self.idle_rss as f64 - self.baseline_rss as f64) / self.connections.max(1) as f64
    }
}

/// Checks that `connections` idle connections fit this machine: descriptors in this
/// process (whose soft limit has been raised to the hard one; a server raises its own
/// alike) and ephemeral ports over the source addresses. The error says what to change.
pub fn check_fits(connections: usize) -> Result<(), String> {
    let need = (connections as u64).saturating_add(DESCRIPTOR_RESERVE);
    if let Some((soft, hard)) = sys::descriptor_limits() {
        if need > soft.max(hard) {
            return Err(format!(
                "--idle {connections} needs about {need} open descriptors in the harness and \
                 as many in each server process, but the hard limit here is {hard} per \
                 process: give at most {}, or raise the hard limit (`ulimit -Hn`, \
                 `prlimit --nofile`, LimitNOFILE=) on a machine that allows it",
                hard.saturating_sub(DESCRIPTOR_RESERVE)
            ));
        }
    }
    if let Some(ports) = ephemeral_ports() {
        let most = ports * SOURCES.len() as u64;
        if connections as u64 > most {
            return Err(format!(
                "--idle {connections} needs more ephemeral ports than the {ports} of \
                 net.ipv4.ip_local_port_range on each of the {} source addresses \
                 ({most} in all)",
                SOURCES.len()
            ));
        }
    }
    Ok(())
}

/// Ports in `net.ipv4.ip_local_port_range`.
fn ephemeral_ports() -> Option<u64> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = range.split_whitespace().map(|b| b.parse::<u64>());
    let (low, high) = (bounds.next()?.ok()?, bounds.next()?.ok()?);
    Some(high.saturating_sub(low) + 1)
}

/// Measures every server; returns the runs and the ringtide drivers left out.
pub fn run(config: &IdleConfig) -> io::Result<(Vec<IdleRun>, Vec<NotMeasured>)> {
    if let Some(cpu) = config.placement.client_cpu {
        // Where the load generator runs in a load comparison, so the report's placement
        // holds here too.
        sys::pin_current_thread(cpu)?;
    }
    let (servers, not_measured) = compare::servers(
        &config.drivers,
        &config.recvs,
        Protocol::Echo,
        config.progress,
    );
    let mut runs = Vec::new();
    for spec in &servers {
        runs.push(measure(config, spec)?);
    }
    Ok((runs, not_measured))
}

fn measure(config: &IdleConfig, spec: &ServerSpec) -> io::Result<IdleRun> {
    let read_buffer = (spec.runtime != ServerRuntime::Ringtide).then_some(READ_BUFFER);
    let options = StartOptions {
        workers: config.workers,
        cpu: config.placement.server_cpu,
        read_buffer,
    };
    let server = ServerProcess::start(spec, Protocol::Echo, options)?;
    let (addr, pid) = (server.addr(), server.pid());
    let rss = || {
        sys::rss_bytes(pid).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("reading {}'s resident set: {e}", spec.name),
            )
        })
    };
    drop(open(addr, 0)?);
    std::thread::sleep(SETTLE);
    let baseline_rss = rss()?;
    if config.progress {
        eprintln!(
            "{}: opening {} idle connections to {addr} (resident before: {:.1} MiB)",
            spec.name,
            config.connections,
            baseline_rss as f64 / (1 << 20) as f64
        );
    }
    let mut idle = Vec::with_capacity(config.connections);
    for index in 0..config.connections {
        idle.push(open(addr, index)?);
    }
    std::thread::sleep(SETTLE);
    let idle_rss = rss()?;
    drop(idle);
    server.finish(&spec.name);
    Ok(IdleRun {
        server: spec.name.clone(),
        driver: spec.driver,
        connections: config.connections,
        read_buffer: match spec.recv {
            Recv::Multishot => 0,
            Recv::Owned => read_buffer.unwrap_or(ringtide_examples::ECHO_BUFFER),
        },
        baseline_rss,
        idle_rss,
    })
}

/// Opens connection `index` to `addr` from its source address and echoes one message
/// on it.
fn open(addr: SocketAddr, index: usize) -> io::Result<TcpStream> {
    let source = SOURCES[index % SOURCES.len()];
    let context = |what: &str, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("idle connection {index} from {source} to {addr}: {what}: {e}"),
        )
    };
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| context("socket", e))?;
    no_port_at_bind(&socket).map_err(|e| context("IP_BIND_ADDRESS_NO_PORT", e))?;
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())
        .map_err(|e| context("bind", e))?;
    socket
        .connect_timeout(&addr.into(), IO_TIMEOUT)
        .map_err(|e| context("connect", e))?;
    let mut stream: TcpStream = socket.into();
    stream
        .set_nodelay(true)
        .map_err(|e| context("nodelay", e))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| context("timeout", e))?;
    let mut message = [0u8; MESSAGE];
    fill_message(&mut message, index as u64, 0);
    stream.write_all(&message).map_err(|e| context("send", e))?;
    let mut back = [0u8; MESSAGE];
    stream
        .read_exact(&mut back)
        .map_err(|e| context("echo", e))?;
    if back != message {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("idle connection {index}: the echo differs from the message"),
        ));
    }
    Ok(stream)
}

/// Leaves the choice of the source port to `connect`, which needs it unique only for the
/// whole address pair: a `bind` to port 0 would need a port free on the source address
/// for any peer, and the connections of earlier servers (closed by this side, so in
/// TIME_WAIT here for a minute) hold thousands of those.
fn no_port_at_bind(socket: &socket2::Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: passes a pointer to a live c_int and its size; the descriptor is open.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_connections_than_descriptors_are_refused_with_the_limit() {
        crate::sys::raise_descriptor_limit();
        let (_, hard) = sys::descriptor_limits().unwrap();
        let why = check_fits(hard.min(1 << 40) as usize).unwrap_err();
        assert!(why.contains("hard limit here is"), "{why}");
        assert!(check_fits(10).is_ok());
    }

    #[test]
    fn idle_connections_come_from_each_source_address_and_are_echoed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut peers = Vec::new();
            for _ in 0..SOURCES.len() {
                let (mut stream, peer) = listener.accept().unwrap();
                let mut buf = [0u8; MESSAGE];
                stream.read_exact(&mut buf).unwrap();
                stream.write_all(&buf).unwrap();
                peers.push(peer.ip());
            }
            peers
        });
        let streams: Vec<_> = (0..SOURCES.len()).map(|i| open(addr, i).unwrap()).collect();
        let peers = server.join().unwrap();
        assert_eq!(peers, SOURCES.map(std::net::IpAddr::V4));
        drop(streams);
    }

    #[test]
    fn per_connection_memory_is_the_growth_over_the_baseline() {
        let run = IdleRun {
            server: "tokio".into(),
            driver: None,
            connections: 1000,
            read_buffer: 4096,
            baseline_rss: 4 << 20,
            idle_rss: (4 << 20) + 8_192_000,
        };
        assert_eq!(run.per_connection(), 8192.0);
    }
}
