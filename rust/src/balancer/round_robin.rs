//! Smooth weighted round-robin (the interleaving nginx uses).
//!
//! Over one cycle of `sum(weight / gcd)` picks every target is chosen exactly `weight / gcd`
//! times, as on Kong's round-robin wheel; Kong shuffles its wheel at random, this interleaves
//! deterministically (weights 100/50 give a, b, a, a, b, a, ...: never a long run of one target).

use std::sync::Mutex;

#[derive(Debug)]
pub struct RoundRobin {
    /// Weights divided by their gcd, one per balanced slot; all above zero.
    weights: Vec<i64>,
    total: i64,
    /// The running "current weight" of each slot.
    current: Mutex<Vec<i64>>,
}

impl RoundRobin {
    /// `weights` must all be above zero; an empty list never picks.
    pub fn new(weights: &[u32]) -> Self {
        let divisor = weights.iter().fold(0, |g, &w| gcd(g, w)).max(1);
        let weights: Vec<i64> = weights.iter().map(|&w| i64::from(w / divisor)).collect();
        let total = weights.iter().sum();
        let current = Mutex::new(vec![0; weights.len()]);
        RoundRobin { weights, total, current }
    }

    /// Picks in one turn of the wheel (weights over their gcd).
    pub fn cycle(&self) -> usize {
        usize::try_from(self.total).unwrap_or(usize::MAX)
    }

    /// Index of the next slot, or None when there is none.
    pub fn next(&self) -> Option<usize> {
        // A poisoned lock only means another pick panicked mid-update; the counters stay usable.
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut best: Option<(usize, i64)> = None;
        for (i, (c, w)) in current.iter_mut().zip(&self.weights).enumerate() {
            *c += w;
            // Strictly greater: ties go to the earlier slot, which keeps the order stable.
            if best.is_none_or(|(_, value)| *c > value) {
                best = Some((i, *c));
            }
        }
        let (index, _) = best?;
        current[index] -= self.total;
        Some(index)
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(weights: &[u32], n: usize) -> Vec<usize> {
        let rr = RoundRobin::new(weights);
        (0..n).map(|_| rr.next().unwrap()).collect()
    }

    #[test]
    fn two_to_one_is_interleaved() {
        assert_eq!(sequence(&[100, 50], 6), [0, 1, 0, 0, 1, 0]);
    }

    #[test]
    fn each_cycle_honours_the_weights_exactly() {
        let weights = [30, 20, 10, 40];
        let cycle = 10; // sum / gcd
        let picks = sequence(&weights, cycle * 3);
        for chunk in picks.chunks(cycle) {
            let counts: Vec<usize> = (0..4).map(|i| chunk.iter().filter(|&&p| p == i).count()).collect();
            assert_eq!(counts, [3, 2, 1, 4]);
        }
    }

    #[test]
    fn equal_weights_alternate() {
        assert_eq!(sequence(&[7, 7, 7], 6), [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn empty_never_picks() {
        assert_eq!(RoundRobin::new(&[]).next(), None);
    }
}
