//! Latency: the target with the lowest decayed average response time for its weight (Kong's
//! `latency` algorithm, kong/runloop/balancer/latency.lua).
//!
//! Each target keeps an exponentially weighted moving average of its round trips (connect to
//! the response's end, in seconds): a sample at `now` makes it `ewma * w + rtt * (1 - w)` with
//! `w = exp(-(now - last sample) / 10 s)`, and a pick scores each target by its average decayed
//! to now, divided by its weight, the lowest winning. A target never sampled scores 0, so each
//! new target is tried early. Retries skip the targets tried already; once all were, there is
//! no peer. The averages are this worker's, as Kong's are per worker.
//!
//! Decaying every average to `now` multiplies them all by the same `exp(-now / 10)`, which
//! leaves their order unchanged: each target's score is kept as `ln(ewma / weight) +
//! last / 10`, updated when it is sampled, so a pick is a comparison of numbers, with no
//! exponential per target.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Kong's DECAY_TIME, seconds.
const DECAY: f64 = 10.0;

#[derive(Debug, Clone, Copy)]
struct Average {
    ewma: f64,
    /// Seconds since `epoch()` of the last sample; -inf before the first.
    last: f64,
    /// `ln(ewma / weight) + last / DECAY`; -inf while `ewma` is 0.
    score: f64,
}

impl Average {
    const NEW: Average = Average { ewma: 0.0, last: f64::NEG_INFINITY, score: f64::NEG_INFINITY };
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Seconds since this process's first use of the latency balancer.
pub fn now() -> f64 {
    epoch().elapsed().as_secs_f64()
}

#[derive(Debug)]
pub struct Latency {
    weights: Vec<f64>,
    averages: Mutex<Vec<Average>>,
    cursor: AtomicUsize,
}

impl Latency {
    /// `weights`: one per live target, all above zero.
    pub fn new(weights: &[u32]) -> Self {
        Latency {
            weights: weights.iter().map(|&w| f64::from(w.max(1))).collect(),
            averages: Mutex::new(vec![Average::NEW; weights.len()]),
            cursor: AtomicUsize::new(0),
        }
    }

    /// The lowest-scoring slot among those `skip` lets through; None when it lets none.
    pub fn next(&self, skip: impl Fn(usize) -> bool) -> Option<usize> {
        let averages = self.averages.lock().unwrap_or_else(|e| e.into_inner());
        let n = averages.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        let mut best: Option<(usize, f64)> = None;
        for slot in (start..n).chain(0..start) {
            let score = averages[slot].score;
            // `skip` only for a slot that would be the best
            if best.is_none_or(|(_, lowest)| score < lowest) && !skip(slot) {
                best = Some((slot, score));
            }
        }
        best.map(|(slot, _)| slot)
    }

    /// A round trip of `rtt` seconds to `slot`, ended at `at` (seconds, `now()`).
    pub fn record(&self, slot: usize, rtt: f64, at: f64) {
        if !rtt.is_finite() || rtt < 0.0 {
            return;
        }
        let mut averages = self.averages.lock().unwrap_or_else(|e| e.into_inner());
        let (Some(average), Some(&weight)) = (averages.get_mut(slot), self.weights.get(slot)) else {
            return;
        };
        let elapsed = (at - average.last).max(0.0);
        let keep = (-elapsed / DECAY).exp();
        average.ewma = average.ewma * keep + rtt * (1.0 - keep);
        average.last = at;
        average.score = if average.ewma > 0.0 {
            (average.ewma / weight).ln() + at / DECAY
        } else {
            f64::NEG_INFINITY
        };
    }

    #[cfg(test)]
    /// The average of a slot decayed to `at` (what Kong's score divides by the weight).
    pub fn average(&self, slot: usize, at: f64) -> f64 {
        let averages = self.averages.lock().unwrap_or_else(|e| e.into_inner());
        averages.get(slot).map_or(0.0, |a| a.ewma * (-(at - a.last).max(0.0) / DECAY).exp())
    }

    /// Takes over the averages of `previous` (the balancer of the config before) for the
    /// targets both have (`map[slot]` = the slot in `previous`); a new target starts from the
    /// mean of all (Kong's slow start: new ones count as 0 in it), sampled now.
    pub fn inherit(&self, previous: &Latency, map: &[Option<usize>]) {
        if std::ptr::eq(self, previous) {
            return;
        }
        let old = previous.averages.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut averages = self.averages.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0.0;
        for (slot, from) in map.iter().enumerate() {
            if let (Some(average), Some(before)) = (averages.get_mut(slot), from.and_then(|i| old.get(i))) {
                let weight = self.weights[slot];
                *average = *before;
                average.score = if before.ewma > 0.0 {
                    (before.ewma / weight).ln() + before.last / DECAY
                } else {
                    f64::NEG_INFINITY
                };
                total += before.ewma;
            }
        }
        if averages.is_empty() || total == 0.0 {
            return;
        }
        let start = total / averages.len() as f64;
        let at = now();
        for (slot, from) in map.iter().enumerate() {
            if from.is_none() {
                if let Some(average) = averages.get_mut(slot) {
                    average.ewma = start;
                    average.last = at;
                    average.score = (start / self.weights[slot]).ln() + at / DECAY;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsampled_targets_are_tried_first_then_the_fastest_wins() {
        let lat = Latency::new(&[100, 100, 100]);
        let mut seen = vec![];
        for _ in 0..3 {
            let slot = lat.next(|_| false).unwrap();
            seen.push(slot);
            let rtt = [0.050, 0.010, 0.200][slot];
            lat.record(slot, rtt, 1.0);
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2], "every new target gets a request");
        for _ in 0..10 {
            assert_eq!(lat.next(|_| false), Some(1));
        }
    }

    #[test]
    fn the_average_follows_kongs_decay() {
        let lat = Latency::new(&[1]);
        lat.record(0, 0.1, 5.0);
        assert!(
            (lat.average(0, 5.0) - 0.1).abs() < 1e-12,
            "a first sample is the average"
        );
        lat.record(0, 0.3, 15.0);
        let keep = (-1.0f64).exp();
        let expected = 0.1 * keep + 0.3 * (1.0 - keep);
        assert!((lat.average(0, 15.0) - expected).abs() < 1e-12);
        assert!((lat.average(0, 25.0) - expected * keep).abs() < 1e-12);
    }

    #[test]
    fn scores_compare_as_kongs_decayed_averages_over_weights() {
        // a slow target sampled long ago against a fast one sampled now: Kong compares the
        // averages decayed to now, divided by the weights
        let lat = Latency::new(&[100, 100]);
        lat.record(0, 1.0, 0.0);
        lat.record(1, 0.2, 30.0);
        let (a, b) = (lat.average(0, 30.0), lat.average(1, 30.0));
        assert!(a < b, "{a} {b}");
        assert_eq!(lat.next(|_| false), Some(0));
        // weights divide the score
        let weighted = Latency::new(&[1000, 100]);
        weighted.record(0, 0.5, 1.0);
        weighted.record(1, 0.1, 1.0);
        assert_eq!(weighted.next(|_| false), Some(0));
    }

    #[test]
    fn retries_skip_tried_targets_and_end_when_all_were() {
        let lat = Latency::new(&[1, 1]);
        lat.record(0, 0.01, 1.0);
        lat.record(1, 0.5, 1.0);
        assert_eq!(lat.next(|s| s == 0), Some(1));
        assert_eq!(lat.next(|_| true), None);
    }

    #[test]
    fn a_new_config_keeps_the_averages_and_starts_new_targets_at_the_mean() {
        let old = Latency::new(&[1, 1]);
        old.record(0, 0.2, 1.0);
        old.record(1, 0.4, 1.0);
        let new = Latency::new(&[1, 1, 1]);
        new.inherit(&old, &[Some(1), None, Some(0)]);
        assert!((new.average(0, 1.0) - 0.4).abs() < 1e-12);
        assert!((new.average(2, 1.0) - 0.2).abs() < 1e-12);
        let started = new.averages.lock().unwrap()[1].ewma;
        assert!((started - 0.2).abs() < 1e-12, "{started}"); // (0.4 + 0 + 0.2) / 3
    }

    #[test]
    fn bad_samples_are_ignored() {
        let lat = Latency::new(&[1]);
        lat.record(0, f64::NAN, 1.0);
        lat.record(0, -1.0, 1.0);
        lat.record(7, 1.0, 1.0);
        assert_eq!(lat.average(0, 1.0), 0.0);
    }
}
