//! Descriptor limits: 10,000 connections open at once, and an accept loop that runs
//! out of descriptors. Both run the side being limited in a child process (this test
//! binary, re-executed), so that limits and descriptor counts are its own.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringtide::net::TcpListener;
use support::{echo, env_usize, fd_count, raise_nofile};

const CHILD_ENV: &str = "RINGTIDE_LIMITS_CHILD";

/// Re-executes this binary to run `test` with `env` set; returns its stdout.
fn run_child(test: &str, env: &str, stdin_lines: impl FnOnce(&mut std::process::Child)) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    stdin_lines(&mut child);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child {}:\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Raises the descriptor limit (the hard one too, where allowed) to hold `conns`
/// connections plus headroom; returns how many connections fit.
fn room_for(conns: usize) -> usize {
    let want = (conns + 256) as u64;
    let mut lim = libc::rlimit {
        rlim_cur: want,
        rlim_max: want,
    };
    let mut current = lim;
    // SAFETY: valid rlimit out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
    if current.rlim_max < want {
        // Needs CAP_SYS_RESOURCE; without it the soft limit goes as high as allowed.
        // SAFETY: valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    lim.rlim_cur = raise_nofile(want);
    (lim.rlim_cur as usize).saturating_sub(256).min(conns)
}

#[test]
fn ten_thousand_connections_open_at_once() {
    let wanted = env_usize("RINGTIDE_OPEN_CONNECTIONS", 10_000);
    if let Ok(addr) = std::env::var(CHILD_ENV) {
        // The clients: every connection opened before any is used or closed.
        let addr: SocketAddr = addr.parse().unwrap();
        let conns = room_for(wanted);
        let mut streams: Vec<_> = (0..conns)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        for (i, s) in streams.iter_mut().enumerate() {
            s.write_all(&(i as u64).to_le_bytes()).unwrap();
        }
        for (i, s) in streams.iter_mut().enumerate() {
            let mut back = [0u8; 8];
            s.read_exact(&mut back).unwrap();
            assert_eq!(u64::from_le_bytes(back), i as u64);
        }
        println!("CLIENTS {conns}");
        return;
    }
    let conns = room_for(wanted);
    let rt = ringtide::Builder::new().worker_threads(2).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let server = {
        let (live, peak) = (live.clone(), peak.clone());
        rt.spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.unwrap();
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let live = live.clone();
                handlers.push(ringtide::spawn(async move {
                    let echoed = echo(stream).await;
                    live.fetch_sub(1, Ordering::SeqCst);
                    echoed
                }));
            }
            for h in handlers {
                assert_eq!(h.await.unwrap().unwrap(), 8);
            }
        })
    };
    let stdout = run_child(
        "ten_thousand_connections_open_at_once",
        &addr.to_string(),
        |_| {},
    );
    assert!(stdout.contains(&format!("CLIENTS {conns}")), "{stdout}");
    rt.block_on(server).unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), conns);
    assert_eq!(live.load(Ordering::SeqCst), 0);
    if conns < wanted {
        println!("note: the descriptor limit allowed {conns} of {wanted} connections");
    }
}

const EMFILE_CONNS: usize = 24;

#[test]
fn an_accept_loop_out_of_descriptors_pauses_then_serves_again() {
    if std::env::var(CHILD_ENV).is_ok() {
        emfile_child();
        return;
    }
    let stdout = run_child(
        "an_accept_loop_out_of_descriptors_pauses_then_serves_again",
        "emfile",
        |child| {
            // Connect once the child says where, and keep the connections open.
            let mut lines = BufReader::new(child.stdout.as_mut().unwrap()).lines();
            let addr: SocketAddr = loop {
                let line = lines.next().unwrap().unwrap();
                if let Some(addr) = line.strip_prefix("ADDR ") {
                    break addr.parse().unwrap();
                }
            };
            let clients: Vec<_> = (0..EMFILE_CONNS)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            // Everything after ADDR is read by `wait_with_output`; keep the clients
            // alive until the child is done with them.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(30));
                drop(clients);
            });
        },
    );
    let report = stdout
        .lines()
        .find(|l| l.starts_with("EMFILE "))
        .unwrap_or_else(|| panic!("no report in {stdout}"));
    println!("{report}");
}

fn emfile_child() {
    println!();
    let rt = ringtide::Builder::new().worker_threads(1).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("ADDR {}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    let held = Arc::new(Mutex::new(Some(Vec::new())));
    let attempts = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicUsize::new(0));
    // Room for a few connections only.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = fd_count() as u64 + 6;
    // SAFETY: a valid rlimit, within the hard limit just read.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);

    let accept_loop = {
        let (held, attempts, exhausted) = (held.clone(), attempts.clone(), exhausted.clone());
        rt.spawn(async move {
            let mut accepted = 0;
            while accepted < EMFILE_CONNS {
                attempts.fetch_add(1, Ordering::SeqCst);
                match listener.accept().await {
                    Ok((stream, _)) => {
                        // Held while the test exhausts descriptors, closed afterwards.
                        if let Some(held) = held.lock().unwrap().as_mut() {
                            held.push(stream);
                        }
                        accepted += 1;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                        exhausted.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
            accepted
        })
    };
    // Wait for the first EMFILE, then watch the loop for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while exhausted.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "never ran out of descriptors"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let before = attempts.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    let during = attempts.load(Ordering::SeqCst) - before;
    // A loop retrying at once would make tens of thousands of attempts in 500 ms; with
    // the pauses (1 ms doubling to 100 ms) it makes about ten.
    assert!(
        during < 100,
        "{during} accept attempts in 500 ms while out of descriptors"
    );
    // Free the descriptors (and close each new connection from now on): the loop
    // serves every remaining connection.
    let released = held.lock().unwrap().take();
    drop(released);
    let accepted = rt.block_on(accept_loop).unwrap();
    assert_eq!(accepted, EMFILE_CONNS);
    println!(
        "EMFILE attempts_in_500ms={during} exhausted={} accepted={accepted}",
        exhausted.load(Ordering::SeqCst)
    );
}
