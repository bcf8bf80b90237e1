//! `gather` against `futures::future::join_all`, `futures::stream::FuturesUnordered` and
//! futures-concurrency's `Join`, for 10 to 1,000,000 children that are either ready at
//! once (`ready`) or pending once and then woken (`woken`: each child yields once, waking
//! itself). Every competitor builds its children from the same iterator, collects every
//! output into a `Vec`, and runs on `futures::executor::block_on`.
//!
//! `cargo bench -p ringtide-combinators`; criterion's report lists the median per
//! competitor, per size, per group.

use std::future::Future;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::executor::block_on;
use futures::stream::{FuturesUnordered, StreamExt};
use futures_concurrency::future::Join;
use ringtide::task::yield_now;
use ringtide_combinators::gather;

const SIZES: [usize; 5] = [10, 1_000, 10_000, 100_000, 1_000_000];

async fn ready(i: usize) -> usize {
    i
}

async fn woken(i: usize) -> usize {
    yield_now().await;
    i
}

fn compare<F, Fut>(c: &mut Criterion, group_name: &str, child: F)
where
    F: Fn(usize) -> Fut + Copy,
    Fut: Future<Output = usize>,
{
    let mut group = c.benchmark_group(group_name);
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(3));
        } else {
            group.sample_size(50);
            group.warm_up_time(Duration::from_millis(300));
            group.measurement_time(Duration::from_secs(1));
        }
        group.bench_with_input(BenchmarkId::new("ringtide_gather", n), &n, |b, &n| {
            b.iter(|| block_on(gather((0..n).map(child))))
        });
        group.bench_with_input(BenchmarkId::new("join_all", n), &n, |b, &n| {
            b.iter(|| block_on(futures::future::join_all((0..n).map(child))))
        });
        group.bench_with_input(BenchmarkId::new("futures_unordered", n), &n, |b, &n| {
            b.iter(|| {
                block_on(async {
                    let mut set: FuturesUnordered<_> = (0..n).map(child).collect();
                    let mut outputs = Vec::with_capacity(n);
                    while let Some(output) = set.next().await {
                        outputs.push(output);
                    }
                    outputs
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("concurrency_join", n), &n, |b, &n| {
            b.iter(|| block_on((0..n).map(child).collect::<Vec<_>>().join()))
        });
    }
    group.finish();
}

fn gather_ready(c: &mut Criterion) {
    compare(c, "ready", ready);
}

fn gather_woken(c: &mut Criterion) {
    compare(c, "woken", woken);
}

criterion_group!(benches, gather_ready, gather_woken);
criterion_main!(benches);
