//! Balancers: spread the requests for one upstream over its targets.
//!
//! A `Balancer` is built once per config version from an upstream and its targets and then only
//! picks. Targets are resolved the way Kong resolves them: ordered by `created_at` (then id),
//! one entry per address with the latest entry winning, and weight 0 taking an address out.
//!
//! Only round-robin is implemented. Kong's other algorithms (`consistent-hashing`,
//! `least-connections`, `latency`) are accepted, reported as configured by `algorithm()`, and
//! balanced round-robin over the same weights: a config that uses them still serves traffic.

mod address;
mod error;
mod round_robin;

pub use address::{parse as parse_target, Address, DEFAULT_PORT};
pub use error::BalancerError;

use crate::entities::{Target, Upstream};
use round_robin::RoundRobin;
use std::collections::HashMap;

/// One target after resolution: where it points and its weight (0 = out of rotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancedTarget {
    /// Where it points, normalised (`a` and `a:8000` are one address).
    pub address: Address,
    /// Its share of the picks; 0 takes it out of rotation.
    pub weight: u32,
}

/// How picks are made; one variant per implemented algorithm.
#[derive(Debug)]
enum Strategy {
    RoundRobin(RoundRobin),
}

/// The targets of one upstream, resolved once per config version, and the picks among them.
#[derive(Debug)]
pub struct Balancer {
    name: String,
    algorithm: String,
    targets: Vec<BalancedTarget>,
    /// Indices into `targets` of those with a weight above 0, in strategy slot order.
    live: Vec<usize>,
    strategy: Strategy,
}

impl Balancer {
    /// Resolves `targets` (every target of `upstream`) as Kong does; fails on the first one whose
    /// `target` is not a valid address.
    pub fn new(upstream: &Upstream, targets: Vec<Target>) -> Result<Self, BalancerError> {
        let targets = resolve(targets)?;
        let live: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].weight > 0).collect();
        let weights: Vec<u32> = live.iter().map(|&i| targets[i].weight).collect();
        Ok(Balancer {
            name: upstream.name.clone(),
            algorithm: upstream.algorithm.clone(),
            strategy: strategy_for(&upstream.algorithm, &weights),
            targets,
            live,
        })
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm as configured on the upstream (see the module doc for what runs).
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// Every resolved target, weight-0 ones included, oldest first.
    pub fn targets(&self) -> &[BalancedTarget] {
        &self.targets
    }

    /// The next address to send a request to; None when no target has a weight above 0.
    pub fn pick(&self) -> Option<&Address> {
        let slot = match &self.strategy {
            Strategy::RoundRobin(rr) => rr.next()?,
        };
        Some(&self.targets[self.live[slot]].address)
    }
}

/// Every algorithm is served by round-robin until its own strategy exists (see module doc).
fn strategy_for(_algorithm: &str, weights: &[u32]) -> Strategy {
    Strategy::RoundRobin(RoundRobin::new(weights))
}

/// Kong's view of an upstream's targets: sorted by (created_at, id), the latest entry for an
/// address replacing earlier ones in place of the first.
fn resolve(mut targets: Vec<Target>) -> Result<Vec<BalancedTarget>, BalancerError> {
    targets.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    let mut resolved: Vec<BalancedTarget> = Vec::with_capacity(targets.len());
    let mut index: HashMap<Address, usize> = HashMap::with_capacity(targets.len());
    for target in targets {
        let address = address::parse(&target.target)?;
        let entry = BalancedTarget { address: address.clone(), weight: target.weight };
        match index.get(&address) {
            Some(&i) => resolved[i] = entry,
            None => {
                index.insert(address, resolved.len());
                resolved.push(entry);
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::ForeignKey;

    fn upstream(algorithm: &str) -> Upstream {
        Upstream { id: "u1".into(), name: "backend".into(), algorithm: algorithm.into(), slots: 10000 }
    }

    fn target(id: &str, address: &str, weight: u32, created_at: f64) -> Target {
        Target {
            id: id.into(),
            target: address.into(),
            weight,
            upstream: ForeignKey { id: "u1".into() },
            created_at,
        }
    }

    fn picks(b: &Balancer, n: usize) -> Vec<String> {
        (0..n).map(|_| b.pick().map(|a| format!("{}:{}", a.host, a.port)).unwrap()).collect()
    }

    #[test]
    fn weights_give_exact_counts_per_cycle() {
        let b = Balancer::new(
            &upstream("round-robin"),
            vec![target("1", "a:80", 100, 1.0), target("2", "b:80", 50, 2.0)],
        )
        .unwrap();
        assert_eq!(picks(&b, 6), ["a:80", "b:80", "a:80", "a:80", "b:80", "a:80"]);
    }

    #[test]
    fn weight_zero_takes_a_target_out_but_keeps_it_listed() {
        let b = Balancer::new(
            &upstream("round-robin"),
            vec![
                target("1", "a:80", 10, 1.0),
                target("2", "b:80", 0, 2.0),
                target("3", "c", 10, 3.0),
            ],
        )
        .unwrap();
        assert_eq!(picks(&b, 4), ["a:80", "c:8000", "a:80", "c:8000"]);
        assert_eq!(b.targets().len(), 3);
        assert_eq!(b.targets()[1].weight, 0);
    }

    #[test]
    fn all_zero_picks_nothing() {
        let b = Balancer::new(&upstream("round-robin"), vec![target("1", "a:80", 0, 1.0)]).unwrap();
        assert!(b.pick().is_none());
        let empty = Balancer::new(&upstream("round-robin"), vec![]).unwrap();
        assert!(empty.pick().is_none());
    }

    #[test]
    fn latest_entry_for_an_address_wins() {
        // Given out of order; "a" and "a:8000" are the same address once normalised.
        let b = Balancer::new(
            &upstream("round-robin"),
            vec![
                target("3", "a:8000", 0, 3.0),
                target("1", "a", 100, 1.0),
                target("2", "b:80", 5, 2.0),
            ],
        )
        .unwrap();
        let listed: Vec<(String, u32)> = b.targets().iter().map(|t| (t.address.host.clone(), t.weight)).collect();
        assert_eq!(listed, [("a".to_owned(), 0), ("b".to_owned(), 5)]);
        assert_eq!(picks(&b, 2), ["b:80", "b:80"]);
    }

    #[test]
    fn equal_created_at_is_ordered_by_id() {
        let b = Balancer::new(
            &upstream("round-robin"),
            vec![target("b", "x:1", 7, 1.0), target("a", "x:1", 3, 1.0)],
        )
        .unwrap();
        assert_eq!(b.targets()[0].weight, 7);
    }

    #[test]
    fn ipv6_targets_pick_bare_hosts() {
        let b = Balancer::new(&upstream("round-robin"), vec![target("1", "[::1]:9000", 1, 1.0)]).unwrap();
        let a = b.pick().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 9000));
    }

    #[test]
    fn other_algorithms_are_reported_and_balanced_round_robin() {
        let b = Balancer::new(
            &upstream("least-connections"),
            vec![target("1", "a:1", 1, 1.0), target("2", "b:1", 1, 2.0)],
        )
        .unwrap();
        assert_eq!(b.algorithm(), "least-connections");
        assert_eq!(picks(&b, 4), ["a:1", "b:1", "a:1", "b:1"]);
    }

    #[test]
    fn a_bad_target_is_a_typed_error() {
        let err = Balancer::new(&upstream("round-robin"), vec![target("1", "a:99999", 1, 1.0)]).unwrap_err();
        assert_eq!(err.target, "a:99999");
    }
}
