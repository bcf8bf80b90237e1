//! `#[ringtide::main]` on functions other than `main`, so that the test harness can call
//! them: options, `Result` returns, `?` and early returns.

use std::time::Duration;

#[ringtide::main(worker_threads = 2, pin = false)]
async fn sum_on_two_workers() -> u64 {
    let tasks: Vec<_> = (1..=4u64)
        .map(|i| {
            ringtide::spawn(async move {
                ringtide::time::sleep(Duration::from_millis(i)).await;
                i
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task panicked");
    }
    total
}

#[test]
fn main_returns_the_body_value() {
    assert_eq!(sum_on_two_workers(), 10);
}

#[ringtide::main(worker_threads = 1, driver = "auto")]
async fn parses() -> Result<u32, Box<dyn std::error::Error>> {
    let n: u32 = ringtide::spawn(async { "12".parse() }).await??;
    Ok(n)
}

#[ringtide::main(worker_threads = 1)]
async fn fails_to_parse() -> Result<u32, Box<dyn std::error::Error>> {
    let n: u32 = "twelve".parse()?;
    Ok(n)
}

/// An early `return` leaves the body, not the generated function's setup.
#[ringtide::main(pin = false)]
async fn returns_early() -> &'static str {
    if ringtide::Handle::try_current().is_ok() {
        return "inside the runtime";
    }
    "outside"
}

#[test]
fn main_returns_results_and_question_mark_converts_errors() {
    assert_eq!(parses().unwrap(), 12);
    let err = fails_to_parse().unwrap_err();
    assert_eq!(err.to_string(), "invalid digit found in string");
    assert_eq!(returns_early(), "inside the runtime");
}
