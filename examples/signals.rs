//! Signals and a bounded shutdown: reload on SIGHUP, stop on Ctrl-C or SIGTERM, and give
//! the work in flight at most two seconds to finish.
//!
//! ```text
//! cargo run --example signals
//! # in another terminal:
//! kill -HUP <pid>     # "reloading"
//! kill -TERM <pid>    # stops
//! ```

use std::time::Duration;

use ringtide::signal::{signal, SignalKind};

fn main() -> std::io::Result<()> {
    let rt = ringtide::Runtime::new()?;
    println!(
        "pid {}: SIGHUP reloads, Ctrl-C or SIGTERM stops",
        std::process::id()
    );
    let stopped_by = rt.block_on(async {
        let mut hangups = signal(SignalKind::hangup())?;
        let mut interrupts = signal(SignalKind::interrupt())?;
        let mut terminates = signal(SignalKind::terminate())?;
        // Work that would still be running at the stop.
        drop(ringtide::spawn(ringtide::time::sleep(Duration::from_secs(
            3600,
        ))));
        loop {
            let which = std::future::poll_fn(|cx| {
                for (name, listener) in [
                    ("SIGHUP", &mut hangups),
                    ("SIGINT", &mut interrupts),
                    ("SIGTERM", &mut terminates),
                ] {
                    if listener.poll_recv(cx).is_ready() {
                        return std::task::Poll::Ready(name);
                    }
                }
                std::task::Poll::Pending
            })
            .await;
            if which == "SIGHUP" {
                println!("SIGHUP: reloading");
                continue;
            }
            return Ok::<_, std::io::Error>(which);
        }
    })?;
    println!("{stopped_by}: stopping");
    // Timers and sockets are cancelled at once; only blocking jobs and busy task code
    // could hold the shutdown up, and they get two seconds.
    let finished = rt.shutdown_timeout(Duration::from_secs(2));
    println!(
        "stopped{}",
        if finished {
            ""
        } else {
            " (some work left behind)"
        }
    );
    Ok(())
}
