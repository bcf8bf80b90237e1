//! asyncio's `gather` and `wait`, rewritten with ringtide:
//!
//! ```text
//! results = await asyncio.gather(task_one(), task_two())
//! done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
//! ```
//!
//! `task_one` sleeps 2 s and `task_two` 3 s. `gather` returns both results after about
//! 3 s (they run concurrently, so not 5); `wait` with `FirstCompleted` returns after
//! about 2 s with `task_two` still pending.
//!
//! Run it with `cargo run --release --example gather_wait`.

use std::time::Duration;

use ringtide::time::{sleep, Instant};
use ringtide_combinators::{gather, wait, ReturnWhen};

async fn task_one() -> &'static str {
    sleep(Duration::from_secs(2)).await;
    "one"
}

async fn task_two() -> &'static str {
    sleep(Duration::from_secs(3)).await;
    "two"
}

fn main() -> std::io::Result<()> {
    let rt = ringtide::Runtime::new()?;
    rt.block_on(async {
        // results = await asyncio.gather(task_one(), task_two())
        let start = Instant::now();
        let results = gather!(task_one(), task_two()).await;
        println!("gather: {results:?} after {:.2?}", start.elapsed());

        // done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
        let start = Instant::now();
        let tasks = [ringtide::spawn(task_one()), ringtide::spawn(task_two())];
        let result = wait(tasks, ReturnWhen::FirstCompleted)
            .await
            .expect("two tasks to wait for");
        let elapsed = start.elapsed();
        for (index, output) in &result.done {
            println!("wait: done    task {index}: {output:?} after {elapsed:.2?}");
        }
        for (index, _) in &result.pending {
            println!("wait: pending task {index} after {elapsed:.2?}");
        }
        // Like asyncio, the pending task was not cancelled: wait for it too.
        for (index, task) in result.pending {
            let output = task.await.expect("task_two does not panic");
            println!(
                "then: task {index}: {output:?} after {:.2?}",
                start.elapsed()
            );
        }
    });
    Ok(())
}
