//! Benchmarks behind `barge bench`. Each one prints figures, and where a reference exists it is
//! measured in the same run on the same machine and disk (for the store: a real etcd), so the
//! comparison holds even though absolute numbers vary between machines.

pub mod api;
pub mod https;
pub mod network;
pub mod pods;
mod report;
pub mod scheduler;
mod server;
pub mod store;

use std::time::Duration;

/// The `p`-th percentile (0.0–1.0) of a set of samples (zero when empty).
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    // Nearest rank: the sample at or above the fraction p of the set.
    let rank = (p * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        s.reverse();
        assert_eq!(percentile(&mut s, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&mut s, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&mut s, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&mut [], 0.5), Duration::ZERO);
    }
}
