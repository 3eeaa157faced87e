//! Least connections: the target with the fewest requests in flight for its weight, counted
//! for the whole node.
//!
//! Kong's score: `(in flight + 1) / weight`, lowest first. The counts live in the node's
//! shared memory (`crate::shm::inflight`), so every worker sees the requests of the others;
//! each target's counter is found once, when the balancer is built. Ties go to the first
//! target found from a cursor that moves on at each pick, so an idle upstream is walked round
//! rather than always given to its first target. A target whose counter the node's table has
//! no room for is counted by this worker alone.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::shm::InflightTable;

#[derive(Debug)]
enum Counter {
    /// A slot of the node's table.
    Shared(u64),
    /// This worker's own count (the node's table was full).
    Local(AtomicU64),
}

#[derive(Debug)]
pub struct LeastConnections {
    weights: Vec<u64>,
    counters: Vec<Counter>,
    table: Arc<InflightTable>,
    worker: u64,
    cursor: AtomicUsize,
}

impl LeastConnections {
    /// `targets`: the counter key and weight (above 0) of each live target, in slot order.
    pub fn new(targets: &[(Vec<u8>, u32)], table: Arc<InflightTable>, worker: u64) -> Self {
        let counters = targets
            .iter()
            .map(|(key, _)| match table.resolve(key) {
                Ok(slot) => Counter::Shared(slot),
                Err(_) => Counter::Local(AtomicU64::new(0)),
            })
            .collect();
        LeastConnections {
            weights: targets.iter().map(|&(_, w)| u64::from(w.max(1))).collect(),
            counters,
            table,
            worker,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The requests in flight on a slot, node-wide.
    pub fn in_flight(&self, slot: usize) -> u64 {
        match self.counters.get(slot) {
            Some(Counter::Shared(s)) => self.table.count(*s),
            Some(Counter::Local(n)) => n.load(Ordering::Relaxed),
            None => 0,
        }
    }

    /// The slot with the lowest score among those `skip` lets through; when it lets none
    /// through (every target tried), the lowest of those not `down`, as Kong's heap gives its
    /// top then.
    /// With `track`, the request is counted on it until `release`.
    pub fn next(&self, skip: impl Fn(usize) -> bool, down: impl Fn(usize) -> bool, track: bool) -> Option<usize> {
        let n = self.weights.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        let best = self.lowest(start, &skip).or_else(|| self.lowest(start, &down))?;
        debug_assert!(best < n);
        if track {
            match &self.counters[best] {
                Counter::Shared(s) => self.table.acquire(*s, self.worker),
                Counter::Local(count) => {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Some(best)
    }

    fn lowest(&self, start: usize, skip: &impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.weights.len();
        let mut best: Option<(usize, u64, u64)> = None; // (slot, in flight + 1, weight)
        for slot in (start..n).chain(0..start) {
            let (load, weight) = (self.in_flight(slot) + 1, self.weights[slot]);
            // load / weight < best_load / best_weight, without division (weights < 2^16, so
            // the products of counts below 2^47 fit); `skip` (a health word read, say) only
            // for a slot that would be the best
            if best.is_none_or(|(_, l, w)| load.saturating_mul(w) < l.saturating_mul(weight)) && !skip(slot) {
                best = Some((slot, load, weight));
            }
        }
        best.map(|(slot, _, _)| slot)
    }

    /// A request counted on `slot` ended.
    pub fn release(&self, slot: usize) {
        match self.counters.get(slot) {
            Some(Counter::Shared(s)) => self.table.release(*s, self.worker),
            Some(Counter::Local(count)) => {
                let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(1))
                });
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(weights: &[u32], table: &Arc<InflightTable>, worker: u64) -> LeastConnections {
        let targets: Vec<(Vec<u8>, u32)> =
            weights.iter().enumerate().map(|(i, &w)| (format!("u\0t{i}").into_bytes(), w)).collect();
        LeastConnections::new(&targets, table.clone(), worker)
    }

    #[test]
    fn idle_targets_are_walked_round() {
        let table = Arc::new(InflightTable::anonymous(64, 2).unwrap());
        let lc = balancer(&[100, 100, 100], &table, 0);
        let picks: Vec<usize> = (0..6)
            .map(|_| {
                let slot = lc.next(|_| false, |_| false, true).unwrap();
                lc.release(slot);
                slot
            })
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn held_requests_send_the_next_ones_elsewhere() {
        let table = Arc::new(InflightTable::anonymous(64, 2).unwrap());
        let lc = balancer(&[100, 100], &table, 0);
        let first = lc.next(|_| false, |_| false, true).unwrap();
        for _ in 0..5 {
            let other = lc.next(|_| false, |_| false, true).unwrap();
            assert_ne!(other, first, "the busy target is passed over");
            lc.release(other);
        }
        assert_eq!(lc.in_flight(first), 1);
    }

    #[test]
    fn counts_are_shared_by_the_balancers_of_every_worker() {
        let table = Arc::new(InflightTable::anonymous(64, 2).unwrap());
        let one = balancer(&[100, 100], &table, 0);
        let two = balancer(&[100, 100], &table, 1);
        let held = one.next(|_| false, |_| false, true).unwrap();
        for _ in 0..4 {
            let slot = two.next(|_| false, |_| false, true).unwrap();
            assert_ne!(slot, held);
            two.release(slot);
        }
    }

    #[test]
    fn weights_scale_the_load_each_target_takes() {
        let table = Arc::new(InflightTable::anonymous(64, 1).unwrap());
        let lc = balancer(&[300, 100], &table, 0);
        // held requests: the heavier target takes three for each one the other takes
        let mut held = [0usize; 2];
        for _ in 0..40 {
            held[lc.next(|_| false, |_| false, true).unwrap()] += 1;
        }
        assert_eq!(held, [30, 10]);
    }

    #[test]
    fn retries_skip_the_tried_targets_until_all_were() {
        let table = Arc::new(InflightTable::anonymous(64, 1).unwrap());
        let lc = balancer(&[100, 100], &table, 0);
        assert_eq!(lc.next(|s| s == 0, |_| false, false), Some(1));
        assert_eq!(lc.next(|s| s == 1, |_| false, false), Some(0));
        assert!(
            lc.next(|_| true, |_| false, false).is_some(),
            "all tried: Kong's heap top again"
        );
    }

    #[test]
    fn a_full_table_counts_locally() {
        let table = Arc::new(InflightTable::anonymous(1, 1).unwrap());
        let lc = balancer(&[100, 100], &table, 0);
        let a = lc.next(|_| false, |_| false, true).unwrap();
        let b = lc.next(|_| false, |_| false, true).unwrap();
        assert_ne!(a, b);
        lc.release(a);
        lc.release(b);
        assert_eq!((lc.in_flight(0), lc.in_flight(1)), (0, 0));
    }

    #[test]
    fn empty_picks_nothing() {
        let table = Arc::new(InflightTable::anonymous(4, 1).unwrap());
        assert_eq!(balancer(&[], &table, 0).next(|_| false, |_| false, true), None);
    }
}
