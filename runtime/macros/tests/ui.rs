//! Compile-time behaviour of the attributes: each misuse fails with the message in its
//! `.stderr` file, and real programs using `#[ringtide::main]` build and run.
//!
//! Regenerate the expected messages with `TRYBUILD=overwrite cargo test -p
//! ringtide-macros --test ui` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/pass/*.rs");
}
