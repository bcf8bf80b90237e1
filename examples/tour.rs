//! A tour of the runtime: spawning, joining, sleeping, timeouts, intervals, aborting,
//! and a panic that stays inside its task.
//!
//! Run it with `cargo run --release --example tour`.

use std::time::Duration;

use ringtide::time::{interval, sleep, timeout, Instant};

fn main() -> std::io::Result<()> {
    let rt = ringtide::Runtime::new()?;
    println!("started {} workers", rt.worker_threads());

    rt.block_on(async {
        let start = Instant::now();

        // Two tasks run concurrently: the pair takes as long as the slower one.
        let one = ringtide::spawn(async {
            sleep(Duration::from_millis(200)).await;
            "one"
        });
        let two = ringtide::spawn(async {
            sleep(Duration::from_millis(300)).await;
            "two"
        });
        let (one, two) = (one.await.unwrap(), two.await.unwrap());
        println!("joined {one} and {two} after {:?}", start.elapsed());

        // A deadline around a future that would take too long.
        let slow = sleep(Duration::from_secs(10));
        match timeout(Duration::from_millis(50), slow).await {
            Ok(()) => println!("the slow sleep finished?"),
            Err(elapsed) => println!("timeout: {elapsed}"),
        }

        // Ticks that keep their schedule however late each one is observed.
        let mut ticks = interval(Duration::from_millis(10));
        let first = ticks.tick().await;
        for _ in 0..5 {
            let at = ticks.tick().await;
            let late = Instant::now() - at;
            println!("tick at +{:?}, observed {:?} late", at - first, late);
        }

        // Aborting a task drops its future; awaiting the handle reports the cancellation.
        let forever = ringtide::spawn(std::future::pending::<()>());
        forever.abort();
        println!("aborted task: {}", forever.await.unwrap_err());

        // A panic is caught and handed to whoever awaits the task.
        let crashing = ringtide::spawn(async move {
            if Instant::now() > start {
                panic!("something went wrong inside a task");
            }
        });
        println!("panicked task: {}", crashing.await.unwrap_err());
    });
    Ok(())
}
