//! Spreading periodic work (lease renewals, node heartbeats) evenly over its period, so 5,000
//! nodes renewing every 10 s make a steady 500 requests a second instead of a burst.

use std::ops::Range;
use std::time::Duration;

/// The most ticks per period: at 10 s that is one tick every 100 ms.
const MAX_TICKS: usize = 100;

/// `n` items spread over `ticks` equal ticks of one period: tick `k` handles the items in
/// `slot(k)`, every item exactly once per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wheel {
    n: usize,
    ticks: usize,
    tick: Duration,
}

impl Wheel {
    /// A wheel for `n` items over `period`, with one tick per item up to `MAX_TICKS`.
    pub fn new(n: usize, period: Duration) -> Self {
        let ticks = n.clamp(1, MAX_TICKS);
        Self {
            n,
            ticks,
            tick: period / ticks as u32,
        }
    }

    /// How many ticks make one period.
    pub fn ticks(&self) -> usize {
        self.ticks
    }

    /// The time between two ticks.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// The items tick `k` (taken modulo `ticks`) handles.
    pub fn slot(&self, k: usize) -> Range<usize> {
        let k = k % self.ticks;
        (k * self.n / self.ticks)..((k + 1) * self.n / self.ticks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_per_period_evenly() {
        for n in [0, 1, 3, 99, 100, 101, 5_000, 5_003] {
            let w = Wheel::new(n, Duration::from_secs(10));
            let mut seen = vec![0; n];
            let (mut min, mut max) = (usize::MAX, 0);
            for k in 0..w.ticks() {
                let s = w.slot(k);
                min = min.min(s.len());
                max = max.max(s.len());
                for i in s {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "n={n}");
            assert!(max - min <= 1, "n={n}: slots from {min} to {max}");
            let period = w.tick() * w.ticks() as u32;
            assert!(
                Duration::from_secs(10) - period < Duration::from_micros(1),
                "n={n}"
            );
        }
    }

    #[test]
    fn ticks_and_slots() {
        let w = Wheel::new(5_000, Duration::from_secs(10));
        assert_eq!(w.ticks(), 100);
        assert_eq!(w.tick(), Duration::from_millis(100));
        assert_eq!(w.slot(0), 0..50);
        assert_eq!(w.slot(99), 4_950..5_000);
        assert_eq!(w.slot(100), 0..50, "wraps around");
        let small = Wheel::new(3, Duration::from_millis(300));
        assert_eq!(small.tick(), Duration::from_millis(100));
        assert_eq!(small.slot(1), 1..2);
    }
}
