//! Runtime construction when `io_uring_setup(2)` is denied by seccomp.
//!
//! Docker's default seccomp profile (and many other sandboxes) makes
//! `io_uring_setup` fail with `EPERM`. `Runtime::new()` must then return a
//! `PermissionDenied` error whose message names the failing syscall, the
//! likely cause and what to do about it, instead of panicking or returning
//! an opaque `Operation not permitted`.
//!
//! A seccomp filter cannot be removed once installed, so the denial test
//! re-executes this test binary, filtered down to that one test, with
//! `CHILD_ENV` set. The child installs the filter and checks the errors; the
//! parent checks that the child really ran the test and that it passed.

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

use std::io;
use std::mem::offset_of;
use std::process::Command;

/// Set in the environment of the re-executed child test process.
const CHILD_ENV: &str = "RINGTIDE_TEST_SECCOMP_CHILD";

/// Every line the child prints about a denied runtime starts with this.
const MARKER: &str = "denied error: ";

/// Name of the test that installs the filter, as libtest matches it with
/// `--exact` (integration tests at the crate root have no module path).
const DENIED_TEST: &str = "runtime_new_fails_cleanly_when_seccomp_denies_io_uring_setup";

/// Words the error message must contain: the syscall that failed, the errno,
/// the usual cause, and the sysctl to check.
const REQUIRED_WORDS: [&str; 4] = [
    "io_uring_setup",
    "EPERM",
    "seccomp",
    "kernel.io_uring_disabled",
];

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
/// spawns, a seccomp filter under which `io_uring_setup` fails with `EPERM`
/// and every other syscall is allowed, which is what Docker's default
/// profile does.
fn deny_io_uring_setup() {
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
            libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA),
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

/// Asserts that `result` is the runtime's "io_uring denied" error, and prints
/// its message after `MARKER` for the parent to find.
fn assert_denied<T>(what: &str, result: io::Result<T>) {
    let err = match result {
        Ok(_) => panic!("{what} succeeded although io_uring_setup is blocked by seccomp"),
        Err(err) => err,
    };
    let msg = err.to_string();
    println!("{MARKER}{what}: {msg}");
    assert_eq!(
        err.kind(),
        io::ErrorKind::PermissionDenied,
        "{what}: wrong error kind for {err:?}"
    );
    for word in REQUIRED_WORDS {
        assert!(
            msg.contains(word),
            "{what}: error message does not mention `{word}`: {msg:?}"
        );
    }
}

/// Body of `DENIED_TEST` in the re-executed child process.
fn seccomp_child() {
    // libtest has already printed "test <name> ... " without a newline; end
    // that line so each marker starts a line of its own.
    println!();
    deny_io_uring_setup();

    // The filter itself must work before the runtime's reaction to it means
    // anything: a raw io_uring_setup now fails with EPERM.
    let mut params = [0u64; IO_URING_PARAMS_SIZE / 8];
    // SAFETY: `params` is a zeroed, 8-byte aligned, writable buffer of
    // `size_of::<struct io_uring_params>()` bytes, which is what
    // io_uring_setup expects as its second argument; it lives across the
    // call. If the filter were not in effect and the call succeeded, the
    // returned ring fd is closed below.
    let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    let errno = io::Error::last_os_error();
    if rc >= 0 {
        // SAFETY: `rc` is a file descriptor that io_uring_setup just created
        // and that nothing else owns.
        unsafe { libc::close(rc as libc::c_int) };
    }
    assert_eq!(rc, -1, "raw io_uring_setup was not blocked by the filter");
    assert_eq!(
        errno.raw_os_error(),
        Some(libc::EPERM),
        "raw io_uring_setup failed with the wrong errno: {errno}"
    );

    assert_denied("Runtime::new()", ringtide::Runtime::new());
    assert_denied(
        "Builder::new().worker_threads(1).build()",
        ringtide::Builder::new().worker_threads(1).build(),
    );
}

#[test]
fn runtime_new_fails_cleanly_when_seccomp_denies_io_uring_setup() {
    if std::env::var_os(CHILD_ENV).is_some() {
        seccomp_child();
        return;
    }

    let exe = std::env::current_exe().expect("path of the running test binary");
    let output = Command::new(exe)
        .args(["--exact", DENIED_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("failed to re-execute the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!(
        "child {}\n--- child stdout ---\n{stdout}\n--- child stderr ---\n{stderr}",
        output.status
    );

    assert!(output.status.success(), "seccomp child failed: {report}");
    // libtest exits 0 after "running 0 tests" if the filter matched nothing,
    // so success alone proves nothing: require both lines the child prints.
    let denied = stdout
        .lines()
        .filter(|line| line.starts_with(MARKER))
        .count();
    assert_eq!(
        denied, 2,
        "seccomp child did not report both denied errors: {report}"
    );
    print!("--- seccomp child stdout ---\n{stdout}");
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
