//! Per-thread lateness recording, merged at the end.
//!
//! A harness can dominate what it measures: a counter shared by every waking task turns
//! into a contended cache line. Each thread that records gets its own histogram (behind a
//! lock that only that thread takes while the run is going), found through a
//! thread-local; the collector merges them once the run is over.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;

/// Highest lateness a histogram tracks exactly (10 minutes, in nanoseconds); later wakes
/// are clamped to it.
const MAX_TRACKED_NANOS: u64 = 600_000_000_000;

/// What one thread saw.
#[derive(Debug)]
pub struct ThreadRecord {
    pub lateness: Histogram<u64>,
    pub early: u64,
    pub last_wake: Option<Instant>,
}

impl ThreadRecord {
    fn new() -> ThreadRecord {
        ThreadRecord {
            lateness: Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, 3)
                .expect("valid histogram bounds"),
            early: 0,
            last_wake: None,
        }
    }

    fn record(&mut self, deadline: Instant, now: Instant) {
        match now.checked_duration_since(deadline) {
            Some(late) => {
                self.lateness
                    .saturating_record((late.as_nanos() as u64).min(MAX_TRACKED_NANOS));
            }
            None => self.early += 1,
        }
        if self.last_wake.is_none_or(|last| now > last) {
            self.last_wake = Some(now);
        }
    }
}

/// The merged view of every thread's record.
#[derive(Debug)]
pub struct Merged {
    pub lateness: Histogram<u64>,
    pub early: u64,
    pub last_wake: Option<Instant>,
}

/// One thread's record, and its wake count readable without the record's lock (so that
/// progress output never makes a recording thread wait).
#[derive(Debug)]
struct Slot {
    record: Mutex<ThreadRecord>,
    wakes: AtomicU64,
}

/// Hands out per-thread records for one run and merges them.
#[derive(Debug)]
pub struct Collector {
    id: u64,
    records: Mutex<Vec<Arc<Slot>>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static LOCAL: RefCell<Option<(u64, Arc<Slot>)>> = const { RefCell::new(None) };
}

impl Collector {
    pub fn new() -> Collector {
        Collector {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            records: Mutex::new(Vec::new()),
        }
    }

    /// Records one wake for `deadline`, observed now, on the calling thread's record.
    pub fn record(&self, deadline: Instant) {
        let now = Instant::now();
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if !matches!(&*local, Some((id, _)) if *id == self.id) {
                let slot = Arc::new(Slot {
                    record: Mutex::new(ThreadRecord::new()),
                    wakes: AtomicU64::new(0),
                });
                self.records.lock().unwrap().push(slot.clone());
                *local = Some((self.id, slot));
            }
            if let Some((_, slot)) = &*local {
                slot.record.lock().unwrap().record(deadline, now);
                // Only this thread writes the count: a load and a store, no RMW.
                let wakes = slot.wakes.load(Ordering::Relaxed);
                slot.wakes.store(wakes + 1, Ordering::Relaxed);
            }
        });
    }

    /// Wakes recorded so far, read without taking any thread's record lock.
    pub fn wakes(&self) -> u64 {
        let records = self.records.lock().unwrap();
        records
            .iter()
            .map(|r| r.wakes.load(Ordering::Relaxed))
            .sum()
    }

    /// Merges every thread's record, releasing them (call once the threads are done).
    pub fn merge(&self) -> Merged {
        let mut merged = Merged {
            lateness: ThreadRecord::new().lateness,
            early: 0,
            last_wake: None,
        };
        let records = std::mem::take(&mut *self.records.lock().unwrap());
        for slot in &records {
            let record = slot.record.lock().unwrap();
            merged
                .lateness
                .add(&record.lateness)
                .expect("histograms with identical bounds merge");
            merged.early += record.early;
            merged.last_wake = match (merged.last_wake, record.last_wake) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn records_from_many_threads_merge_into_one_histogram() {
        let collector = Collector::new();
        let base = Instant::now() - Duration::from_millis(50);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let collector = &collector;
                scope.spawn(move || {
                    for i in 0..1000u64 {
                        collector.record(base + Duration::from_micros(t * 1000 + i));
                    }
                });
            }
        });
        assert_eq!(collector.wakes(), 4000);
        let merged = collector.merge();
        assert_eq!(merged.lateness.len(), 4000);
        assert_eq!(merged.early, 0);
        assert!(merged.lateness.min() > 0);
        assert!(merged.last_wake.is_some());
    }

    #[test]
    fn early_wakes_are_counted_apart() {
        let collector = Collector::new();
        collector.record(Instant::now() + Duration::from_secs(60));
        collector.record(Instant::now() - Duration::from_micros(5));
        let merged = collector.merge();
        assert_eq!(merged.early, 1);
        assert_eq!(merged.lateness.len(), 1);
    }

    #[test]
    fn a_new_collector_does_not_reuse_an_old_threads_record() {
        let first = Collector::new();
        first.record(Instant::now());
        let second = Collector::new();
        second.record(Instant::now());
        assert_eq!(first.merge().lateness.len(), 1);
        assert_eq!(second.merge().lateness.len(), 1);
    }
}
