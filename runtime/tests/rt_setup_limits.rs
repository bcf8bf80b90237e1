//! Building a runtime when the process may not have another descriptor or thread: the
//! error says what was being created, for which worker, and what to do, and keeps the
//! OS error's kind and number for callers.
//!
//! Each limit is lowered in a child process (this test binary, re-executed and filtered
//! down to one test, with `CHILD_ENV` set), so that the limits of the tests running
//! here are untouched.

mod support;

use std::io;
use std::time::Duration;

use ringtide::{SetupError, SetupErrorKind};

/// Set in the environment of the re-executed child test process.
const CHILD_ENV: &str = "RINGTIDE_TEST_LIMITS_CHILD";

/// The child prints the error it got after this, for the parent to find.
const MARKER: &str = "limit error: ";

/// How long a child may take: it builds one runtime that fails.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

fn builder() -> ringtide::Builder {
    let mut builder = ringtide::Builder::new();
    builder.worker_threads(2).pin_workers(false);
    builder
}

/// The soft and hard limits of `resource`.
fn rlimit(resource: libc::__rlimit_resource_t) -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut lim) }, 0);
    lim
}

fn set_rlimit(resource: libc::__rlimit_resource_t, lim: libc::rlimit) {
    // SAFETY: `lim` is a valid rlimit.
    let rc = unsafe { libc::setrlimit(resource, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
}

/// Runs `build` with the soft limit of `resource` at `soft`, then puts the limit back.
fn with_soft_limit<T>(
    resource: libc::__rlimit_resource_t,
    soft: u64,
    build: impl FnOnce() -> T,
) -> T {
    let old = rlimit(resource);
    set_rlimit(
        resource,
        libc::rlimit {
            rlim_cur: soft,
            rlim_max: old.rlim_max,
        },
    );
    let result = build();
    set_rlimit(resource, old);
    result
}

/// Checks the error of a build that ran out of `what`, and prints it for the parent.
fn assert_limit_error(
    result: io::Result<ringtide::Runtime>,
    os_error: i32,
    kind: SetupErrorKind,
    words: &[&str],
) {
    let err = match result {
        Ok(_) => panic!("the runtime was built although the limit leaves no room"),
        Err(err) => err,
    };
    let msg = err.to_string();
    println!("{MARKER}{msg}");
    assert_eq!(
        err.kind(),
        io::Error::from_raw_os_error(os_error).kind(),
        "the OS error's kind is kept: {err:?}"
    );
    let setup = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<SetupError>())
        .unwrap_or_else(|| panic!("not a SetupError: {err:?}"));
    assert_eq!(setup.kind(), kind, "{err:?}");
    assert_eq!(setup.raw_os_error(), Some(os_error), "{err:?}");
    for word in words {
        assert!(msg.contains(word), "{word:?} missing from {msg:?}");
    }
}

/// Runs `test` in a child process, where it lowers a limit and checks the error.
fn run_child(test: &str) {
    let run = support::run_test_in_child(test, CHILD_ENV, CHILD_LIMIT);
    assert!(run.passed_with(MARKER, 1), "{}", run.report());
    print!("--- child stdout ---\n{}", run.stdout);
}

fn too_many_open_files_child() {
    // End the line libtest started ("test ... "), so the marker starts a line.
    println!();
    // The lowest free descriptor: every one below it is open, so with the limit just
    // above it, worker 0's eventfd takes it and worker 1's finds none.
    let lowest_free = {
        let probe = std::fs::File::open("/dev/null").expect("open /dev/null");
        std::os::fd::AsRawFd::as_raw_fd(&probe) as u64
    };
    let before = support::fd_count();
    let result = with_soft_limit(libc::RLIMIT_NOFILE, lowest_free + 1, || builder().build());
    assert_limit_error(
        result,
        libc::EMFILE,
        SetupErrorKind::TooManyOpenFiles,
        &[
            "creating the wake-up eventfd of worker 1",
            "Too many open files (os error 24)",
            "ulimit -n",
            "fewer workers",
        ],
    );
    assert_eq!(support::fd_count(), before, "worker 0's eventfd was closed");
}

#[test]
fn running_out_of_descriptors_names_the_eventfd_and_the_worker() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return too_many_open_files_child();
    }
    run_child("running_out_of_descriptors_names_the_eventfd_and_the_worker");
}

/// This process's address space in bytes (`VmSize`).
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmSize line");
    kib * 1024
}

fn no_room_for_a_thread_child() {
    println!();
    // Room for the eventfds and small allocations, none for a thread's 2 MiB stack.
    let soft = address_space() + (1 << 20);
    let result = with_soft_limit(libc::RLIMIT_AS, soft, || builder().build());
    assert_limit_error(
        result,
        libc::EAGAIN,
        SetupErrorKind::ThreadLimit,
        &[
            "creating the thread of worker 0",
            "(os error 11)",
            "ulimit -v",
            "fewer workers",
        ],
    );
}

#[test]
fn running_out_of_address_space_names_the_thread_and_the_worker() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return no_room_for_a_thread_child();
    }
    run_child("running_out_of_address_space_names_the_thread_and_the_worker");
}
