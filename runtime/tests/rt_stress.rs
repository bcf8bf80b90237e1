//! Many tasks that yield, sleep for random microsecond-to-millisecond durations and wake
//! each other across workers. Every task must complete and every output must be seen
//! exactly once.
//!
//! Bounds: `RINGTIDE_STRESS_TASKS` (default 100,000) and `RINGTIDE_STRESS_ROUNDS`
//! (default 2) raise the load locally.

mod support;

use std::time::Duration;

use futures::channel::oneshot;
use ringtide::task::yield_now;
use ringtide::time::sleep;
use support::{env_usize, Rng};

fn stress(rt: ringtide::Runtime) {
    let tasks = env_usize("RINGTIDE_STRESS_TASKS", 100_000);
    let rounds = env_usize("RINGTIDE_STRESS_ROUNDS", 2);
    let seen = rt.block_on(async move {
        // Round r: task i sends to task (i * step + r) % n, a permutation when `step` is
        // coprime with `n`, so every task receives exactly one message per round.
        let step = (1..tasks)
            .rev()
            .find(|s| gcd(*s, tasks) == 1 && *s > tasks / 3)
            .unwrap_or(1);
        let mut senders: Vec<Vec<Option<oneshot::Sender<usize>>>> =
            (0..tasks).map(|_| Vec::new()).collect();
        let mut receivers: Vec<Vec<oneshot::Receiver<usize>>> =
            (0..tasks).map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for i in 0..tasks {
                let (tx, rx) = oneshot::channel();
                senders[i].push(Some(tx));
                receivers[(i * step + round) % tasks].push(rx);
            }
        }
        let handles: Vec<_> = senders
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(i, (mut outbox, inbox))| {
                ringtide::spawn(async move {
                    let mut rng = Rng::new(i as u64);
                    let mut received = 0usize;
                    for (round, rx) in inbox.into_iter().enumerate() {
                        yield_now().await;
                        // 1 µs to 2 ms, skewed towards short sleeps.
                        let micros = if rng.below(4) == 0 {
                            rng.below(2000)
                        } else {
                            rng.below(50)
                        } + 1;
                        sleep(Duration::from_micros(micros)).await;
                        outbox[round].take().unwrap().send(i).unwrap();
                        let from = rx.await.expect("every sender sends");
                        received += from;
                    }
                    (i, received)
                })
            })
            .collect();
        let mut seen = vec![0u8; tasks];
        let mut received_total = 0usize;
        for h in handles {
            let (i, received) = h.await.expect("no task panicked");
            seen[i] += 1;
            received_total += received;
        }
        let expected_total = rounds * tasks * (tasks - 1) / 2;
        assert_eq!(
            received_total, expected_total,
            "every message arrived exactly once"
        );
        seen
    });
    assert!(
        seen.iter().all(|&n| n == 1),
        "every output is seen exactly once"
    );
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[test]
fn stress_one_worker() {
    stress(support::one_worker());
}

#[test]
fn stress_two_workers_pinned() {
    stress(support::two_workers_pinned());
}

#[test]
fn stress_four_workers() {
    stress(support::four_workers());
}
