//! The deadlines every runtime is measured against, computed (not stored) from a seed so
//! that each runtime sees exactly the same schedule and no runtime pays for holding it.

use std::time::Duration;

/// How deadlines are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Deadlines uniform over a window that starts after the lead time.
    Spread,
    /// Every deadline identical: the end of the lead time.
    Burst,
    /// Each task ticks every period, for a duration, starting at a random phase.
    Periodic,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Spread => "spread",
            Mode::Burst => "burst",
            Mode::Periodic => "periodic",
        }
    }
}

/// The schedule of one latency run. Offsets are measured from the run's base instant
/// (the moment spawning starts); the first deadline is `lead` after it.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub mode: Mode,
    pub tasks: u64,
    pub lead: Duration,
    /// Spread: width of the window deadlines fall in.
    pub window: Duration,
    /// Periodic: time between ticks.
    pub period: Duration,
    /// Periodic: how long each task keeps ticking.
    pub duration: Duration,
    pub seed: u64,
}

impl Schedule {
    /// Offset of task `i`'s deadline (spread and burst), or of its first tick (periodic).
    pub fn first_offset(&self, i: u64) -> Duration {
        let jitter = |span: Duration| {
            let nanos = span.as_nanos() as u64;
            if nanos == 0 {
                0
            } else {
                mix(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % nanos
            }
        };
        match self.mode {
            Mode::Spread => self.lead + Duration::from_nanos(jitter(self.window)),
            Mode::Burst => self.lead,
            Mode::Periodic => self.lead + Duration::from_nanos(jitter(self.period)),
        }
    }

    /// Ticks each task waits for: 1, or for periodic mode the ticks within the duration.
    pub fn ticks_per_task(&self) -> u64 {
        match self.mode {
            Mode::Spread | Mode::Burst => 1,
            Mode::Periodic => {
                (self.duration.as_nanos() / self.period.as_nanos().max(1)).max(1) as u64
            }
        }
    }

    /// Every deadline of task `i`, in order.
    pub fn offsets(&self, i: u64) -> impl Iterator<Item = Duration> + '_ {
        let first = self.first_offset(i);
        (0..self.ticks_per_task()).map(move |k| first + self.period * k as u32)
    }

    /// Wakes the whole run must record.
    pub fn expected_wakes(&self) -> u64 {
        self.tasks * self.ticks_per_task()
    }

    /// The earliest deadline any task can have.
    pub fn first_offset_min(&self) -> Duration {
        self.lead
    }

    /// The latest deadline of the run.
    pub fn last_offset(&self) -> Duration {
        match self.mode {
            Mode::Spread => self.lead + self.window,
            Mode::Burst => self.lead,
            Mode::Periodic => self.lead + self.period * self.ticks_per_task() as u32,
        }
    }
}

/// SplitMix64's finaliser: a well-spread hash of a counter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(mode: Mode) -> Schedule {
        Schedule {
            mode,
            tasks: 10_000,
            lead: Duration::from_secs(1),
            window: Duration::from_secs(1),
            period: Duration::from_millis(100),
            duration: Duration::from_secs(1),
            seed: 7,
        }
    }

    #[test]
    fn spread_deadlines_cover_the_window_uniformly() {
        let s = schedule(Mode::Spread);
        let mut buckets = [0u32; 10];
        for i in 0..s.tasks {
            let d = s.first_offset(i);
            assert!(d >= s.lead && d < s.lead + s.window);
            let bucket = ((d - s.lead).as_nanos() * 10 / s.window.as_nanos()) as usize;
            buckets[bucket] += 1;
        }
        for (k, &n) in buckets.iter().enumerate() {
            assert!((800..1200).contains(&n), "bucket {k} holds {n} of 10000");
        }
        assert_eq!(s.expected_wakes(), s.tasks);
    }

    #[test]
    fn deadlines_are_the_same_for_every_runtime_and_depend_on_the_seed() {
        let a = schedule(Mode::Spread);
        let b = Schedule { seed: 8, ..a };
        let same: Vec<_> = (0..100).map(|i| a.first_offset(i)).collect();
        let again: Vec<_> = (0..100).map(|i| a.first_offset(i)).collect();
        let other: Vec<_> = (0..100).map(|i| b.first_offset(i)).collect();
        assert_eq!(same, again);
        assert_ne!(same, other);
    }

    #[test]
    fn burst_deadlines_are_identical() {
        let s = schedule(Mode::Burst);
        assert!((0..1000).all(|i| s.first_offset(i) == s.lead));
        assert_eq!(s.last_offset(), s.lead);
    }

    #[test]
    fn periodic_ticks_are_one_period_apart_within_the_duration() {
        let s = schedule(Mode::Periodic);
        assert_eq!(s.ticks_per_task(), 10);
        assert_eq!(s.expected_wakes(), 100_000);
        let ticks: Vec<_> = s.offsets(3).collect();
        assert_eq!(ticks.len(), 10);
        assert!(ticks[0] >= s.lead && ticks[0] < s.lead + s.period);
        for pair in ticks.windows(2) {
            assert_eq!(pair[1] - pair[0], s.period);
        }
        assert!(*ticks.last().unwrap() < s.last_offset());
    }
}
