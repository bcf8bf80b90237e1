//! What the CLI tests share.

use std::process::Output;

/// Asserts that a run was refused as a usage error, before doing anything: exit status 2
/// and one line on stderr that holds every one of `needles` (the option, its range).
pub fn assert_refused_in_one_line(out: &Output, args: &[&str], needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: no {needle:?} in {stderr}"
        );
    }
    assert!(out.stdout.is_empty(), "{args:?}: nothing measured");
}
