//! Runtimes where `io_uring_setup(2)` is denied by seccomp.
//!
//! Docker's default seccomp profile (and many other sandboxes) makes
//! `io_uring_setup` fail with `EPERM`; gVisor and some others answer `ENOSYS`.
//! A default runtime must then start on the epoll driver and work: serve TCP
//! byte-exact and fire timers on time. A runtime that asks for io_uring
//! explicitly must fail with an error whose message names the failing
//! syscall, the likely cause and what to do about it.
//!
//! A seccomp filter cannot be removed once installed, so the test
//! re-executes this test binary, filtered down to that one test, with
//! `CHILD_ENV` set to the errno to fake. The child installs the filter and
//! runs the checks; the parent checks that the child really ran them and
//! that they passed.

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

use std::io;
use std::mem::offset_of;
use std::process::Command;

/// Set in the environment of the re-executed child test process.
const CHILD_ENV: &str = "RINGTIDE_TEST_SECCOMP_CHILD";

/// Every line the child prints about a check it passed starts with this.
const MARKER: &str = "checked: ";

/// The checks the child reports, one marker line each.
const CHECKS: usize = 4;

/// Name of the test that installs the filter, as libtest matches it with
/// `--exact` (integration tests at the crate root have no module path).
const DENIED_TEST: &str = "a_default_runtime_runs_on_epoll_when_seccomp_denies_io_uring_setup";

/// Connections the echo check serves at once.
const CONNECTIONS: usize = 100;

/// Bytes each connection sends and must get back.
const BYTES_PER_CONNECTION: usize = 64 * 1024;

// `<linux/audit.h>`: `AUDIT_ARCH_*` = ELF machine | `__AUDIT_ARCH_64BIT`
// (0x8000_0000) | `__AUDIT_ARCH_LE` (0x4000_0000). Not exported by libc.

/// `AUDIT_ARCH_X86_64`: `EM_X86_64` (62) | 64-bit | little-endian.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E;

/// `AUDIT_ARCH_AARCH64`: `EM_AARCH64` (183) | 64-bit | little-endian.
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7;

/// Size in bytes of `struct io_uring_params` (`<linux/io_uring.h>`): ten
/// `u32` fields followed by `struct io_sqring_offsets` and
/// `struct io_cqring_offsets`, 40 bytes each. Not exported by libc.
const IO_URING_PARAMS_SIZE: usize = 120;

/// Classic BPF statement with no jump targets (`BPF_STMT` in
/// `<linux/filter.h>`).
const fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Classic BPF conditional jump (`BPF_JUMP` in `<linux/filter.h>`): skip `jt`
/// instructions if the condition holds, `jf` otherwise.
const fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Installs, for every thread of this process and everything it later
/// spawns, a seccomp filter under which `io_uring_setup` fails with `errno`
/// and every other syscall is allowed, which is what Docker's default
/// profile does (with `EPERM`).
fn deny_io_uring_setup(errno: i32) {
    let arch_offset = offset_of!(libc::seccomp_data, arch) as u32;
    let nr_offset = offset_of!(libc::seccomp_data, nr) as u32;
    let setup_nr = u32::try_from(libc::SYS_io_uring_setup).expect("syscall number fits in u32");

    let mut filter = [
        // A = seccomp_data.arch
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, arch_offset),
        // Syscall numbers below are only meaningful for the native ABI.
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_NATIVE,
            1,
            0,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        // A = seccomp_data.nr
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, nr_offset),
        jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, setup_nr, 0, 1),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).expect("filter length fits in u16"),
        filter: filter.as_mut_ptr(),
    };

    // SAFETY: PR_SET_NO_NEW_PRIVS takes only integer arguments and touches no
    // memory of ours. It is required so that an unprivileged process may
    // install a seccomp filter.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "prctl(PR_SET_NO_NEW_PRIVS) failed: {}",
        io::Error::last_os_error()
    );

    // SAFETY: `prog` points to `filter`, an initialised array of `prog.len`
    // `sock_filter`s. Both outlive the call, and the kernel copies the
    // program before returning, so nothing keeps the pointer afterwards. The
    // program only ever allows a syscall or fails `io_uring_setup` with an
    // errno; it never kills or traps, so the rest of this process (including
    // the test harness) keeps working.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &prog as *const libc::sock_fprog,
        )
    };
    assert_eq!(
        rc,
        0,
        "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) failed: rc={rc}, {}",
        io::Error::last_os_error()
    );
}

/// Body of `DENIED_TEST` in the re-executed child process, with
/// `io_uring_setup` failing with `errno`.
fn seccomp_child(errno: i32) {
    // libtest has already printed "test <name> ... " without a newline; end
    // that line so each marker starts a line of its own.
    println!();
    deny_io_uring_setup(errno);

    // The filter itself must work before the runtime's reaction to it means
    // anything: a raw io_uring_setup now fails with `errno`.
    let mut params = [0u64; IO_URING_PARAMS_SIZE / 8];
    // SAFETY: `params` is a zeroed, 8-byte aligned, writable buffer of
    // `size_of::<struct io_uring_params>()` bytes, which is what
    // io_uring_setup expects as its second argument; it lives across the
    // call. If the filter were not in effect and the call succeeded, the
    // returned ring fd is closed below.
    let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    let raw_error = io::Error::last_os_error();
    if rc >= 0 {
        // SAFETY: `rc` is a file descriptor that io_uring_setup just created
        // and that nothing else owns.
        unsafe { libc::close(rc as libc::c_int) };
    }
    assert_eq!(rc, -1, "raw io_uring_setup was not blocked by the filter");
    assert_eq!(
        raw_error.raw_os_error(),
        Some(errno),
        "raw io_uring_setup failed with the wrong errno: {raw_error}"
    );

    // Asked for explicitly, io_uring fails with an error that explains itself.
    let err = ringtide::Builder::new()
        .worker_threads(1)
        .driver(ringtide::Driver::IoUring)
        .build()
        .expect_err("an io_uring runtime built although io_uring_setup is blocked");
    let msg = err.to_string();
    let (kind, words): (io::ErrorKind, &[&str]) = if errno == libc::EPERM {
        (
            io::ErrorKind::PermissionDenied,
            &[
                "io_uring_setup",
                "EPERM",
                "seccomp",
                "kernel.io_uring_disabled",
                "epoll",
            ],
        )
    } else {
        (
            io::ErrorKind::Unsupported,
            &["io_uring_setup", "ENOSYS", "epoll"],
        )
    };
    assert_eq!(err.kind(), kind, "wrong error kind for {err:?}");
    for word in words {
        assert!(
            msg.contains(word),
            "the error does not mention `{word}`: {msg:?}"
        );
    }
    println!("{MARKER}Driver::IoUring fails: {msg}");

    // By default the runtime starts anyway, on epoll, and says why.
    let rt = ringtide::Builder::new()
        .worker_threads(2)
        .pin_workers(false)
        .build()
        .expect("a default runtime starts although io_uring_setup is blocked");
    assert_eq!(rt.driver(), ringtide::Driver::Epoll);
    let why = rt
        .io_uring_error()
        .expect("the runtime says why io_uring was not used");
    assert!(why.contains("io_uring_setup"), "unexpected reason: {why}");
    let debug = format!("{rt:?}");
    // The park timeout reaches the kernel with nanosecond resolution, never
    // rounded up to a millisecond.
    assert!(
        debug.contains("epoll_pwait2") || debug.contains("timerfd"),
        "no precise timer source in {debug}"
    );
    println!("{MARKER}Runtime::new() runs on {debug}");

    let echoed = rt.block_on(echo_many());
    assert_eq!(echoed, CONNECTIONS * BYTES_PER_CONNECTION);
    println!("{MARKER}{CONNECTIONS} connections echoed {echoed} bytes byte-exact");

    let lateness = rt.block_on(timer_lateness());
    println!(
        "{MARKER}200 sleeps of 1 ms, none early; lateness p50 {:?}, p99 {:?}",
        lateness[lateness.len() / 2],
        lateness[lateness.len() * 99 / 100]
    );
}

/// The byte at `offset` of what connection `connection` sends.
fn pattern(connection: usize, offset: usize) -> u8 {
    (connection.wrapping_mul(31) + offset.wrapping_mul(7) + offset / 251) as u8
}

/// An echo server and `CONNECTIONS` clients at once; each client checks every
/// byte that comes back. Returns the bytes echoed.
async fn echo_many() -> usize {
    use ringtide::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
    let addr = listener.local_addr().expect("listener address");
    let server = ringtide::spawn(async move {
        for _ in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await.expect("accept");
            drop(ringtide::spawn(async move {
                let mut buf = Vec::with_capacity(16 * 1024);
                loop {
                    let (n, back) = stream.read(buf).await;
                    if n.expect("server read") == 0 {
                        return;
                    }
                    let (res, back) = stream.write_all(back).await;
                    res.expect("server write");
                    buf = back;
                }
            }));
        }
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            ringtide::spawn(async move {
                let stream = std::sync::Arc::new(TcpStream::connect(addr).await.expect("connect"));
                let writer = stream.clone();
                let send = ringtide::spawn(async move {
                    let data: Vec<u8> = (0..BYTES_PER_CONNECTION).map(|i| pattern(c, i)).collect();
                    let (res, _) = writer.write_all(data).await;
                    res.expect("client write");
                    writer
                        .shutdown(std::net::Shutdown::Write)
                        .expect("shutdown");
                });
                let mut received = 0;
                let mut buf = Vec::with_capacity(8 * 1024);
                loop {
                    let (n, back) = stream.read(buf).await;
                    let n = n.expect("client read");
                    if n == 0 {
                        break;
                    }
                    for (i, byte) in back[..n].iter().enumerate() {
                        assert_eq!(
                            *byte,
                            pattern(c, received + i),
                            "connection {c}, byte {}",
                            received + i
                        );
                    }
                    received += n;
                    buf = back;
                }
                send.await.expect("the sender does not panic");
                received
            })
        })
        .collect();
    let mut total = 0;
    for client in clients {
        let received = client.await.expect("a client does not panic");
        assert_eq!(received, BYTES_PER_CONNECTION, "a connection lost bytes");
        total += received;
    }
    server.await.expect("the server does not panic");
    total
}

/// 200 sleeps of 1 ms, one after the other: none fires early. Returns each
/// one's lateness, sorted.
async fn timer_lateness() -> Vec<std::time::Duration> {
    use std::time::{Duration, Instant};
    let mut lateness = Vec::new();
    for _ in 0..200 {
        let deadline = Instant::now() + Duration::from_millis(1);
        ringtide::time::sleep_until(deadline).await;
        let now = Instant::now();
        assert!(now >= deadline, "a timer fired early");
        lateness.push(now - deadline);
    }
    lateness.sort();
    lateness
}

#[test]
fn a_default_runtime_runs_on_epoll_when_seccomp_denies_io_uring_setup() {
    if let Some(errno) = std::env::var_os(CHILD_ENV) {
        let errno = errno
            .to_str()
            .and_then(|e| e.parse().ok())
            .expect("an errno number");
        seccomp_child(errno);
        return;
    }

    for (name, errno) in [("EPERM", libc::EPERM), ("ENOSYS", libc::ENOSYS)] {
        let exe = std::env::current_exe().expect("path of the running test binary");
        let output = Command::new(exe)
            .args(["--exact", DENIED_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, errno.to_string())
            // The child checks what each driver choice does: no override.
            .env_remove("RINGTIDE_DRIVER")
            .output()
            .expect("failed to re-execute the test binary");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let report = format!(
            "{name} child {}\n--- child stdout ---\n{stdout}\n--- child stderr ---\n{stderr}",
            output.status
        );

        assert!(output.status.success(), "seccomp child failed: {report}");
        // libtest exits 0 after "running 0 tests" if the filter matched nothing,
        // so success alone proves nothing: require every line the child prints.
        let checked = stdout
            .lines()
            .filter(|line| line.starts_with(MARKER))
            .count();
        assert_eq!(
            checked, CHECKS,
            "seccomp child did not report every check: {report}"
        );
        print!("--- seccomp child ({name}) stdout ---\n{stdout}");
    }
}

#[test]
fn builder_succeeds_when_io_uring_is_allowed() {
    // Guards against the denied path firing on a healthy kernel. Not affected
    // by the other test: its filter is only ever installed in a child
    // process.
    if let Err(err) = ringtide::Builder::new().worker_threads(1).build() {
        panic!("building a runtime failed although io_uring is not blocked: {err} ({err:?})");
    }
}
