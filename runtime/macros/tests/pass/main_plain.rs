//! `main` with the defaults, returning nothing.

#[ringtide::main]
async fn main() {
    let answer = ringtide::spawn(async { 6 * 7 }).await.expect("task panicked");
    assert_eq!(answer, 42);
}
