//! The monoio echo server of `echo --compare`: monoio's own runtime on its io_uring
//! driver, thread per core, with the same echo loop as the ringtide and tokio servers
//! (read into an owned buffer, write all of it back, repeat; `TCP_NODELAY` set).
//!
//! monoio has no work stealing: each worker thread runs its own runtime and its own
//! listener on the shared port (`SO_REUSEPORT`, monoio's default), and the kernel spreads
//! the connections. With one worker (the comparison's default) that is one runtime on the
//! main thread.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use ringtide_examples::{ServerStats, Shutdown};

use crate::serve::{announce, Protocol, ServeConfig};

/// Submission queue entries of each monoio ring: monoio's default.
const RING_ENTRIES: u32 = 1024;

/// Listen backlog: as many as the kernel allows (`somaxconn` caps it), so that a load
/// that opens thousands of connections at once is not turned away.
const BACKLOG: i32 = 65_535;

/// Serves echo on monoio until shut down.
pub fn serve(config: ServeConfig, shutdown: &Shutdown, stats: Arc<ServerStats>) -> io::Result<()> {
    if config.protocol != Protocol::Echo {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the monoio server speaks echo only",
        ));
    }
    let opts = ListenerOpts::new().backlog(BACKLOG);
    // The first listener picks the port (the address may ask for any); the others share it.
    let (first, addr) = {
        let std_listener = bind_std(config.addr)?;
        let addr = std_listener.local_addr()?;
        (std_listener, addr)
    };
    let mut threads = Vec::new();
    for _ in 1..config.workers {
        let (shutdown, stats) = (shutdown.clone(), stats.clone());
        threads.push(std::thread::spawn(move || -> io::Result<()> {
            run_worker(config, &shutdown, stats, move || {
                TcpListener::bind_with_config(addr, &opts)
            })
        }));
    }
    announce(addr)?;
    let served = run_worker(config, shutdown, stats, move || {
        TcpListener::from_std(first)
    });
    for thread in threads {
        thread
            .join()
            .map_err(|_| io::Error::other("a monoio worker panicked"))??;
    }
    served
}

/// A listening socket with `SO_REUSEPORT`, so that other workers may listen on its port.
fn bind_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// One monoio runtime on this thread, accepting on the listener `listen` makes until
/// shut down.
fn run_worker(
    config: ServeConfig,
    shutdown: &Shutdown,
    stats: Arc<ServerStats>,
    listen: impl FnOnce() -> io::Result<TcpListener>,
) -> io::Result<()> {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(RING_ENTRIES)
        .enable_timer()
        .build()
        .map_err(|e| io::Error::new(e.kind(), format!("monoio's io_uring runtime: {e}")))?;
    rt.block_on(async move {
        let listener = listen()?;
        loop {
            let accepted = monoio::select! {
                _ = shutdown.wait() => return Ok(()),
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    stats.count_accept();
                    let _ = stream.set_nodelay(true);
                    let stats = stats.clone();
                    monoio::spawn(async move {
                        let (bytes, result) = echo(stream, config.read_buffer).await;
                        stats.count_end(bytes, result.is_ok());
                    });
                }
                Err(e) => {
                    stats.count_accept_error();
                    eprintln!("accept failed: {e}");
                    monoio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    })
}

/// Reads into an owned buffer of `capacity` bytes and writes back what came, until the
/// peer closes; returns the bytes echoed.
async fn echo(mut stream: TcpStream, capacity: usize) -> (u64, io::Result<()>) {
    let mut buf = Vec::with_capacity(capacity);
    let mut bytes = 0;
    loop {
        buf.clear();
        let (read, back) = stream.read(buf).await;
        buf = back;
        let n = match read {
            Ok(0) => return (bytes, Ok(())),
            Ok(n) => n,
            Err(e) => return (bytes, Err(e)),
        };
        let (written, back) = stream.write_all(buf).await;
        buf = back;
        if let Err(e) = written {
            return (bytes, Err(e));
        }
        bytes += n as u64;
    }
}
