//! `#[ringtide::test]`: the generated tests run on a ringtide runtime, keep their other
//! attributes, and may return a `Result`.

use std::sync::mpsc;
use std::time::Duration;

#[ringtide::test]
async fn runs_on_a_ringtide_runtime() {
    // Only a runtime's context has a current handle; spawned tasks run on its workers,
    // here on the one worker a test gets by default.
    assert!(ringtide::Handle::try_current().is_ok());
    let name = ringtide::spawn(async { std::thread::current().name().map(str::to_owned) })
        .await
        .expect("task panicked");
    assert_eq!(name.as_deref(), Some("ringtide-worker-0"));
    let start = ringtide::time::Instant::now();
    ringtide::time::sleep(Duration::from_millis(2)).await;
    assert!(start.elapsed() >= Duration::from_millis(2));
}

#[ringtide::test]
async fn returns_ok() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "12".parse()?;
    assert_eq!(n, 12);
    Ok(())
}

#[ringtide::test]
#[should_panic(expected = "the task's panic")]
async fn keeps_should_panic() {
    ringtide::time::sleep(Duration::from_millis(1)).await;
    panic!("the task's panic");
}

#[ringtide::test]
#[ignore = "proves that #[ignore] stays on the test: it fails if run"]
async fn keeps_ignore() {
    panic!("an ignored test ran");
}

/// Two workers: a task that blocks its worker until another task has run can finish only
/// if a second worker runs that other task.
#[ringtide::test(worker_threads = 2, pin = false)]
async fn worker_threads_option_starts_that_many_workers() {
    let (tx, rx) = mpsc::channel();
    let blocked = ringtide::spawn(async move { rx.recv_timeout(Duration::from_secs(10)) });
    let sender = ringtide::spawn(async move { tx.send(()).expect("receiver gone") });
    sender.await.expect("sender panicked");
    assert_eq!(blocked.await.expect("task panicked"), Ok(()));
}

#[ringtide::test(driver = "auto")]
async fn driver_option() -> std::io::Result<()> {
    let listener = ringtide::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = ringtide::spawn(ringtide::net::TcpStream::connect(addr));
    let (_server, peer) = listener.accept().await?;
    let client = client.await.expect("connect panicked")?;
    assert_eq!(client.local_addr()?, peer);
    Ok(())
}

mod imported_as_test {
    //! With `use ringtide::test;` a plain `#[test]` means `#[ringtide::test]`; the test
    //! it generates must still be the built-in one, not this macro again.
    use ringtide::test;

    #[test]
    async fn plain_test_attribute_means_ringtide_test() {
        ringtide::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
