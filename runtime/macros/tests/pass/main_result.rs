//! `main` returning a `Result`, with every option, `?` and an early `return`.

use std::error::Error;

#[ringtide::main(worker_threads = 2, pin = false, driver = "auto")]
async fn main() -> Result<(), Box<dyn Error>> {
    let n: u64 = "3".parse()?;
    let doubled = ringtide::spawn(async move { n * 2 }).await?;
    if doubled == 6 {
        return Ok(());
    }
    Err(format!("3 * 2 gave {doubled}").into())
}
