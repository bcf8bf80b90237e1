//! A runtime that cannot be built panics with a message that says so and carries the
//! builder's error. In a file of its own: it sets `RINGTIDE_DRIVER` for the process.

#[ringtide::main]
async fn program() {}

#[test]
fn build_failure_panics_with_the_cause() {
    // Test binaries start no other thread that reads the environment before this runs.
    std::env::set_var("RINGTIDE_DRIVER", "floppy");
    let panic = std::panic::catch_unwind(program).expect_err("the runtime was built");
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.starts_with("failed to build the ringtide runtime for `#[ringtide::main]`: "),
        "{message}"
    );
    assert!(message.contains("RINGTIDE_DRIVER=floppy"), "{message}");
}
