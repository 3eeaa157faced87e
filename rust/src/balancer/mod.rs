//! Balancers: spread the requests for one upstream over its targets.
//!
//! A `Balancer` is built once per config version from an upstream and its targets and then only
//! picks. Targets are resolved the way Kong resolves them: ordered by `created_at` (then id),
//! one entry per address with the latest entry winning, and weight 0 taking an address out.
//!
//! Kong's four algorithms: `round-robin` (smooth weighted, `round_robin.rs`),
//! `consistent-hashing` (Kong's ring, `hashing.rs`: the caller computes the value to hash
//! from the request, as the upstream's `hash_on` fields say), `least-connections` (in-flight
//! counts shared by the node's workers, `least_connections.rs`) and `latency` (EWMA of
//! response times, `latency.rs`). A pick names a live target by its slot (its index among
//! the targets with a weight above 0); a retry passes the slots tried already so that it goes
//! to another target. Health checks are not run: an upstream configured to run them is
//! refused (`Balancer::new`), never served as if it had them.

pub mod active;
mod address;
mod error;
mod hashing;
pub mod health;
mod latency;
mod least_connections;
mod probe_tls;
mod round_robin;

pub use address::{parse as parse_target, Address, DEFAULT_PORT};
pub use error::BalancerError;
pub use hashing::xxhash32;

use crate::entities::{Target, Upstream};
use crate::shm::{inflight, InflightTable};
use hashing::Ring;
use health::{Outcome, Rules};
use latency::Latency;
use least_connections::LeastConnections;
use round_robin::RoundRobin;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One target after resolution: where it points and its weight (0 = out of rotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancedTarget {
    /// Where it points, normalised (`a` and `a:8000` are one address).
    pub address: Address,
    /// Its share of the picks; 0 takes it out of rotation.
    pub weight: u32,
}

/// How picks are made; one variant per algorithm.
#[derive(Debug)]
enum Strategy {
    RoundRobin(RoundRobin),
    Hashing(Ring),
    LeastConnections(LeastConnections),
    Latency(Latency),
}

/// Where a target's passive health word lives.
#[derive(Debug)]
enum HealthWord {
    /// A slot of the node's table: every worker reads and reports it.
    Shared(u64),
    /// This worker's own (the node's table was full).
    Local(AtomicU64),
}

/// The health checks of a balancer: the passive settings (None when only active probes run)
/// and each live target's word.
#[derive(Debug)]
struct Checks {
    passive: Option<Rules>,
    table: Arc<InflightTable>,
    words: Vec<HealthWord>,
    weights: Vec<u32>,
    threshold: f64,
}

impl Checks {
    fn word(&self, slot: usize) -> u64 {
        match self.words.get(slot) {
            Some(HealthWord::Shared(s)) => self.table.health(*s),
            Some(HealthWord::Local(w)) => w.load(Ordering::Acquire),
            None => 0,
        }
    }

    fn up(&self, slot: usize) -> bool {
        health::is_healthy(self.word(slot))
    }

    fn report(&self, slot: usize, outcome: Outcome) {
        let Some(passive) = &self.passive else {
            return;
        };
        match self.words.get(slot) {
            Some(HealthWord::Shared(s)) => {
                self.table.update_health(*s, |w| passive.report(w, outcome));
            }
            Some(HealthWord::Local(word)) => {
                let _ = word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                    Some(passive.report(w, outcome))
                });
            }
            None => {}
        }
    }

    /// Kong's balancer health: the healthy share of the weight strictly above the threshold.
    fn balancer_healthy(&self) -> bool {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let available: u64 = (0..self.weights.len()).filter(|&s| self.up(s)).map(|s| u64::from(self.weights[s])).sum();
        total > 0 && (available as f64) / (total as f64) * 100.0 > self.threshold
    }
}

/// The algorithms, as Kong names them.
pub const ALGORITHMS: [&str; 4] = ["round-robin", "consistent-hashing", "least-connections", "latency"];

/// The targets of one upstream, resolved once per config version, and the picks among them.
#[derive(Debug)]
pub struct Balancer {
    name: String,
    algorithm: String,
    targets: Vec<BalancedTarget>,
    /// Indices into `targets` of those with a weight above 0, in strategy slot order.
    live: Vec<usize>,
    strategy: Strategy,
    /// Kong's balancer health without health checks: some weight, and all of it (no target
    /// is marked down) strictly above `healthchecks.threshold`.
    healthy: bool,
    /// Rules health checks, when the upstream runs them.
    checks: Option<Checks>,
}

impl Balancer {
    /// Resolves `targets` (every target of `upstream`) as Kong does; fails on the first one whose
    /// `target` is not a valid address, on an algorithm that is not Kong's, on a ring too small
    /// for its targets, and on what the upstream asks for that is not done (health checks,
    /// SRV names).
    pub fn new(upstream: &Upstream, targets: Vec<Target>) -> Result<Self, BalancerError> {
        refuse_unsupported(upstream)?;
        let targets = resolve(targets)?;
        let live: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].weight > 0).collect();
        let weights: Vec<u32> = live.iter().map(|&i| targets[i].weight).collect();
        let strategy = match upstream.algorithm.as_str() {
            "round-robin" => Strategy::RoundRobin(RoundRobin::new(&weights)),
            "consistent-hashing" => {
                let placed: Vec<(&Address, u32)> =
                    live.iter().map(|&i| (&targets[i].address, targets[i].weight)).collect();
                Strategy::Hashing(Ring::new(&placed, upstream.slots)?)
            }
            "least-connections" => {
                let (table, worker) =
                    inflight::node_table().map_err(|e| BalancerError::upstream(format!("least-connections: {e}")))?;
                let keyed: Vec<(Vec<u8>, u32)> = live
                    .iter()
                    .map(|&i| {
                        let a = &targets[i].address;
                        (
                            format!("{}\0{}:{}", upstream.id, a.host, a.port).into_bytes(),
                            targets[i].weight,
                        )
                    })
                    .collect();
                Strategy::LeastConnections(LeastConnections::new(&keyed, table, worker))
            }
            "latency" => Strategy::Latency(Latency::new(&weights)),
            other => {
                return Err(BalancerError::upstream(format!(
                    "algorithm {other:?} is not one of {}",
                    ALGORITHMS.join(", ")
                )))
            }
        };
        let threshold = upstream
            .healthchecks
            .as_ref()
            .and_then(|h| h.get("threshold"))
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0);
        let healthy = !weights.is_empty() && 100.0 > threshold;
        let passive = Rules::from_healthchecks(upstream.healthchecks.as_ref());
        let checks = match passive.is_some() || active::active_on(upstream.healthchecks.as_ref()) {
            true => {
                let (table, _) = inflight::node_table()
                    .map_err(|e| BalancerError::upstream(format!("healthchecks.passive: {e}")))?;
                // the settings are part of the key: a reload that changes them starts afresh
                let settings = upstream.healthchecks.as_ref().map(|c| c.to_string()).unwrap_or_default();
                let words = live
                    .iter()
                    .map(|&i| {
                        let a = &targets[i].address;
                        let key = health::key(&upstream.id, &a.host, a.port, &settings);
                        match table.resolve(key.as_bytes()) {
                            Ok(slot) => HealthWord::Shared(slot),
                            Err(_) => HealthWord::Local(AtomicU64::new(0)),
                        }
                    })
                    .collect();
                Some(Checks { passive, table, words, weights: weights.clone(), threshold })
            }
            false => None,
        };
        Ok(Balancer {
            name: upstream.name.clone(),
            algorithm: upstream.algorithm.clone(),
            strategy,
            targets,
            live,
            healthy,
            checks,
        })
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm, as configured on the upstream.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// Every resolved target, weight-0 ones included, oldest first.
    pub fn targets(&self) -> &[BalancedTarget] {
        &self.targets
    }

    /// Kong's balancer health: a weight above 0 whose healthy share (100%: health checks are
    /// not run) is strictly above `healthchecks.threshold`. An unhealthy balancer picks nothing.
    pub fn healthy(&self) -> bool {
        match &self.checks {
            Some(checks) => checks.balancer_healthy(),
            None => self.healthy,
        }
    }

    /// Whether the upstream runs (passive) health checks.
    pub fn checks_health(&self) -> bool {
        self.checks.is_some()
    }

    /// A live slot's health: None without health checks, else whether it takes requests.
    pub fn target_healthy(&self, slot: usize) -> Option<bool> {
        self.checks.as_ref().map(|c| c.up(slot))
    }

    /// How many targets have a weight above 0 (the slots a pick names).
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// The address of a live slot.
    pub fn address(&self, slot: usize) -> Option<&Address> {
        self.live.get(slot).map(|&i| &self.targets[i].address)
    }

    /// The next address to send a request to, with nothing recorded (no in-flight count, an
    /// empty value to hash); None when no target has a weight above 0.
    pub fn pick(&self) -> Option<&Address> {
        let slot = match &self.strategy {
            Strategy::RoundRobin(rr) if self.checks.is_none() => {
                if !self.healthy {
                    return None;
                }
                rr.next()?
            }
            _ => self.choose(b"", &[], false)?,
        };
        self.address(slot)
    }

    /// The slot of the target for one try of a request: `value` is what the upstream hashes
    /// on (consistent-hashing only), `tried` the slots of the earlier tries of the request,
    /// which are passed over while another target is left (least-connections goes back to the
    /// least loaded once all were tried; the others have no peer then). A least-connections
    /// pick counts the request in flight until `release`.
    pub fn peer(&self, value: &[u8], tried: &[usize]) -> Option<usize> {
        self.choose(value, tried, true)
    }

    fn choose(&self, value: &[u8], tried: &[usize], track: bool) -> Option<usize> {
        if let Some(checks) = &self.checks {
            // with a threshold of 0 (Kong's default), healthy means some healthy weight, which
            // a pick finding a healthy target shows: no sum over the targets then
            if checks.threshold > 0.0 && !checks.balancer_healthy() {
                return None;
            }
            let skip = |slot: usize| (!tried.is_empty() && tried.contains(&slot)) || !checks.up(slot);
            // a tried target is passed over while another is left; an unhealthy one, always
            return self.choose_with(value, &skip, track, &|slot| !checks.up(slot));
        }
        if !self.healthy {
            return None;
        }
        let skip = |slot: usize| !tried.is_empty() && tried.contains(&slot);
        self.choose_with(value, &skip, track, &|_| false)
    }

    /// `skip`: what this pick passes over; `down`: what it never takes, even once every
    /// target was tried (least-connections then goes back to the least loaded of the others).
    fn choose_with(
        &self,
        value: &[u8],
        skip: &dyn Fn(usize) -> bool,
        track: bool,
        down: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        match &self.strategy {
            Strategy::RoundRobin(rr) => {
                // the wheel's next slot not tried yet, at most one turn of it
                let first = rr.next()?;
                if !skip(first) {
                    return Some(first);
                }
                (1..rr.cycle()).map(|_| rr.next()).find_map(|s| s.filter(|&s| !skip(s)))
            }
            Strategy::Hashing(ring) => ring.find(value, skip),
            Strategy::LeastConnections(lc) => lc.next(skip, down, track),
            Strategy::Latency(lat) => lat.next(skip),
        }
    }

    /// A try sent to `slot` ended: least-connections stops counting it; with `rtt` (seconds
    /// from the connect to the response's end), latency takes it into the slot's average.
    pub fn release(&self, slot: usize, rtt: Option<f64>, outcome: Option<Outcome>) {
        if let (Some(checks), Some(outcome)) = (&self.checks, outcome) {
            checks.report(slot, outcome);
        }
        match &self.strategy {
            Strategy::LeastConnections(lc) => lc.release(slot),
            Strategy::Latency(lat) => {
                if let Some(rtt) = rtt {
                    lat.record(slot, rtt, latency::now());
                }
            }
            _ => {}
        }
    }

    /// Requests in flight on a live slot, node-wide (least-connections; 0 for the others).
    pub fn in_flight(&self, slot: usize) -> u64 {
        match &self.strategy {
            Strategy::LeastConnections(lc) => lc.in_flight(slot),
            _ => 0,
        }
    }

    /// Takes over what `previous` (this upstream's balancer in the config before) learnt:
    /// latency's averages, for the addresses both have. Least-connections counts need nothing:
    /// they are found by upstream and address in the node's table.
    pub fn inherit(&self, previous: &Balancer) {
        if let (Strategy::Latency(new), Strategy::Latency(old)) = (&self.strategy, &previous.strategy) {
            let before: HashMap<&Address, usize> =
                previous.live.iter().enumerate().map(|(slot, &i)| (&previous.targets[i].address, slot)).collect();
            let map: Vec<Option<usize>> =
                self.live.iter().map(|&i| before.get(&self.targets[i].address).copied()).collect();
            new.inherit(old, &map);
        }
    }
}

/// What setting a target's health by hand did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// The upstream runs no health checks (Kong: it has no healthchecker).
    NoChecks,
    /// The address named is not one of the target's: nothing changed (Kong logs it and
    /// answers as done).
    NotTheTarget,
    /// The target's word in the node's table now says it.
    Set,
}

/// Kong's `PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy` on this node: the
/// target's word in the node's health table set to healthy or unhealthy, its counters
/// cleared, so every worker's balancer sees it at its next pick. Health is kept per target
/// (its host and port), so an `address` (`ip[:port]` or a name, port 8000 when not given, as
/// Kong) names the target when its port is the target's and, for an IP address and an IP
/// target, its IP is the target's; a host name target's addresses share its word.
pub fn force_health(
    upstream: &Upstream,
    target: &str,
    address: Option<&str>,
    healthy: bool,
) -> Result<Forced, BalancerError> {
    let checks = upstream.healthchecks.as_ref();
    if Rules::from_healthchecks(checks).is_none() && !active::active_on(checks) {
        return Ok(Forced::NoChecks);
    }
    let at = address::parse(target)?;
    if let Some(named) = address {
        let named = address::parse(named)?;
        let ip = |host: &str| host.parse::<std::net::IpAddr>().ok();
        let same_host = match (ip(&at.host), ip(&named.host)) {
            (Some(a), Some(b)) => a == b,
            _ => true, // a name on either side: the target's word
        };
        if named.port != at.port || !same_host {
            return Ok(Forced::NotTheTarget);
        }
    }
    let (table, _) = inflight::node_table().map_err(|e| BalancerError::upstream(format!("healthchecks: {e}")))?;
    let settings = checks.map(|c| c.to_string()).unwrap_or_default();
    let key = health::key(&upstream.id, &at.host, at.port, &settings);
    let slot = table.resolve(key.as_bytes()).map_err(|e| BalancerError::upstream(format!("healthchecks: {e}")))?;
    table.update_health(slot, |_| health::forced(healthy));
    Ok(Forced::Set)
}

/// What an upstream may ask for that this balancer does not do: refused, never ignored.
fn refuse_unsupported(upstream: &Upstream) -> Result<(), BalancerError> {
    if upstream.use_srv_name {
        return Err(BalancerError::upstream(
            "use_srv_name: SRV records are not resolved by Gantry yet; set it to false",
        ));
    }
    match active::refusal(upstream.healthchecks.as_ref()) {
        Some(message) => Err(BalancerError::upstream(message)),
        None => Ok(()),
    }
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
        Upstream {
            id: "u1".into(),
            name: "backend".into(),
            algorithm: algorithm.into(),
            slots: 10000,
            healthchecks: None,
            use_srv_name: false,
            host_header: None,
        }
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

    fn two(algorithm: &str) -> Balancer {
        Balancer::new(
            &upstream(algorithm),
            vec![target("1", "a:1", 1, 1.0), target("2", "b:1", 1, 2.0)],
        )
        .unwrap()
    }

    #[test]
    fn every_algorithm_of_kong_is_built_and_picks_live_targets() {
        for algorithm in ALGORITHMS {
            let b = two(algorithm);
            assert_eq!(b.algorithm(), algorithm);
            let slot = b.peer(b"key", &[]).unwrap();
            assert!(slot < 2);
            b.release(slot, Some(0.01), None);
            assert!(b.pick().is_some());
        }
    }

    #[test]
    fn an_unknown_algorithm_is_refused() {
        let err = Balancer::new(&upstream("random"), vec![]).unwrap_err();
        assert!(err.to_string().contains("algorithm \"random\""), "{err}");
    }

    #[test]
    fn retries_go_to_another_target_with_every_algorithm() {
        for algorithm in ALGORITHMS {
            let b = two(algorithm);
            let first = b.peer(b"key", &[]).unwrap();
            let second = b.peer(b"key", &[first]).unwrap();
            assert_ne!(first, second, "{algorithm}");
            b.release(first, None, None);
            b.release(second, None, None);
        }
        // all tried: no peer, but least-connections goes back to the least loaded (Kong's heap)
        assert!(two("round-robin").peer(b"", &[0, 1]).is_none());
        assert!(two("consistent-hashing").peer(b"", &[0, 1]).is_none());
        assert!(two("latency").peer(b"", &[0, 1]).is_none());
        assert!(two("least-connections").peer(b"", &[0, 1]).is_some());
    }

    #[test]
    fn hashing_is_stable_and_weight_zero_takes_a_target_off_the_ring() {
        let b = Balancer::new(
            &upstream("consistent-hashing"),
            vec![
                target("1", "a:1", 100, 1.0),
                target("2", "b:1", 0, 2.0),
                target("3", "c:1", 100, 3.0),
            ],
        )
        .unwrap();
        assert_eq!(b.live(), 2);
        for key in 0..100 {
            let key = format!("{key}");
            let slot = b.peer(key.as_bytes(), &[]).unwrap();
            assert_eq!(b.peer(key.as_bytes(), &[]), Some(slot));
            assert_ne!(b.address(slot).unwrap().host, "b");
        }
    }

    #[test]
    fn latency_averages_survive_a_new_config() {
        let old = two("latency");
        old.release(0, Some(1.0), None);
        old.release(1, Some(0.001), None);
        let new = two("latency");
        new.inherit(&old);
        for _ in 0..5 {
            assert_eq!(new.address(new.peer(b"", &[]).unwrap()).unwrap().host, "b");
        }
    }

    fn passive(algorithm: &str, threshold: f64) -> Balancer {
        let mut up = upstream(algorithm);
        up.id = format!("passive-{algorithm}-{threshold}");
        up.healthchecks = Some(serde_json::json!({
            "passive": {"unhealthy": {"http_failures": 2, "tcp_failures": 1}, "healthy": {"successes": 1}},
            "threshold": threshold,
        }));
        Balancer::new(
            &up,
            vec![target("1", "a:1", 100, 1.0), target("2", "b:1", 100, 2.0)],
        )
        .unwrap()
    }

    #[test]
    fn a_target_marked_down_by_one_worker_gets_nothing_from_another() {
        for algorithm in ALGORITHMS {
            // two balancers of one upstream over the same node table: two workers
            let (one, two) = (passive(algorithm, 0.0), passive(algorithm, 0.0));
            let a = (0..2).find(|&s| one.address(s).unwrap().host == "a").unwrap();
            one.release(a, None, Some(Outcome::Status(500)));
            assert_eq!(two.target_healthy(a), Some(true), "mostly healthy still serves");
            one.release(a, None, Some(Outcome::Status(503)));
            assert_eq!(two.target_healthy(a), Some(false));
            for _ in 0..10 {
                let slot = two.peer(b"k", &[]).unwrap();
                assert_ne!(slot, a, "{algorithm}");
                two.release(slot, None, None);
            }
            // one success (the limit) brings it back, for every worker
            two.release(a, None, Some(Outcome::Status(200)));
            assert_eq!(one.target_healthy(a), Some(true));
            // all down: no peer, whatever the retries
            one.release(0, None, Some(Outcome::TcpFailure));
            one.release(1, None, Some(Outcome::TcpFailure));
            assert!(
                two.peer(b"k", &[]).is_none() && two.pick().is_none() && !two.healthy(),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn the_threshold_counts_the_healthy_weight() {
        let b = passive("round-robin", 50.0);
        assert!(b.healthy());
        b.release(0, None, Some(Outcome::TcpFailure));
        // half the weight healthy: 50 is not strictly above 50
        assert!(!b.healthy() && b.pick().is_none());
        let c = passive("least-connections", 49.0);
        c.release(0, None, Some(Outcome::TcpFailure));
        assert!(c.healthy() && c.peer(b"", &[]) == Some(1));
        c.release(1, None, None);
    }

    #[test]
    fn a_threshold_of_100_makes_the_balancer_unhealthy_as_kongs_comparison_does() {
        let mut up = upstream("round-robin");
        up.healthchecks = Some(serde_json::json!({"threshold": 99.5}));
        let b = Balancer::new(&up, vec![target("1", "a:1", 1, 1.0)]).unwrap();
        assert!(b.healthy() && b.pick().is_some());
        up.healthchecks = Some(serde_json::json!({"threshold": 100}));
        let b = Balancer::new(&up, vec![target("1", "a:1", 1, 1.0)]).unwrap();
        assert!(!b.healthy() && b.pick().is_none() && b.peer(b"", &[]).is_none());
        // no weight at all: unhealthy too
        assert!(!Balancer::new(&upstream("latency"), vec![target("1", "a:1", 0, 1.0)]).unwrap().healthy());
    }

    #[test]
    fn health_set_by_hand_is_seen_by_the_balancers_of_the_upstream() {
        let mut up = upstream("round-robin");
        up.id = "u-forced".into();
        let targets = vec![target("1", "127.0.0.1:1", 100, 1.0), target("2", "b:2", 100, 2.0)];
        assert_eq!(
            force_health(&up, "127.0.0.1:1", None, false).unwrap(),
            Forced::NoChecks
        );
        up.healthchecks = Some(serde_json::json!({"passive": {"unhealthy": {"tcp_failures": 3}}}));
        let balancer = Balancer::new(&up, targets.clone()).unwrap();
        assert_eq!(
            force_health(&up, "127.0.0.1:1", None, false).unwrap(),
            Forced::Set
        );
        assert_eq!(balancer.target_healthy(0), Some(false));
        assert_eq!(picks(&balancer, 4), ["b:2"; 4]);
        // a balancer built afterwards (another worker, a reload) reads the same word
        assert_eq!(
            Balancer::new(&up, targets.clone()).unwrap().target_healthy(0),
            Some(false)
        );
        // the address forms: the target's own address, else nothing changes
        for other in ["127.0.0.2:1", "127.0.0.1", "127.0.0.1:2"] {
            assert_eq!(
                force_health(&up, "127.0.0.1:1", Some(other), true).unwrap(),
                Forced::NotTheTarget,
                "{other}"
            );
        }
        assert_eq!(balancer.target_healthy(0), Some(false));
        assert_eq!(
            force_health(&up, "127.0.0.1:1", Some("127.0.0.1:1"), true).unwrap(),
            Forced::Set
        );
        assert_eq!(balancer.target_healthy(0), Some(true));
        // a host name's addresses share its word
        assert_eq!(
            force_health(&up, "b:2", Some("10.1.2.3:2"), false).unwrap(),
            Forced::Set
        );
        assert_eq!(picks(&balancer, 3), ["127.0.0.1:1"; 3]);
        assert_eq!(
            force_health(&up, "b:2", Some("b.example:2"), true).unwrap(),
            Forced::Set
        );
        assert_eq!(balancer.target_healthy(1), Some(true));
        assert!(force_health(&up, "b:99999", None, true).is_err());
    }

    #[test]
    fn health_checks_and_srv_names_are_refused_not_ignored() {
        let mut up = upstream("round-robin");
        up.healthchecks = Some(serde_json::json!({"active": {"type": "grpcs", "healthy": {"interval": 5}}}));
        let err = Balancer::new(&up, vec![]).unwrap_err().to_string();
        assert!(err.contains("healthchecks.active.type: grpcs"), "{err}");
        up.healthchecks = Some(serde_json::json!({"active": {"type": "https", "healthy": {"interval": 5}}}));
        assert!(
            Balancer::new(&up, vec![]).unwrap().checks_health(),
            "active https probes run"
        );
        up.healthchecks = Some(serde_json::json!({"active": {"healthy": {"interval": 5}}}));
        assert!(
            Balancer::new(&up, vec![]).unwrap().checks_health(),
            "active http probes run"
        );
        up.healthchecks = Some(serde_json::json!({"passive": {"unhealthy": {"timeouts": 3}}}));
        assert!(
            Balancer::new(&up, vec![]).unwrap().checks_health(),
            "passive checks run"
        );
        // Kong's defaults: everything off
        up.healthchecks = Some(serde_json::json!({
            "active": {"healthy": {"interval": 0, "successes": 0}, "unhealthy": {"interval": 0}},
            "passive": {"healthy": {"successes": 0}, "unhealthy": {"timeouts": 0}},
            "threshold": 0
        }));
        assert!(Balancer::new(&up, vec![]).is_ok());
        up.use_srv_name = true;
        assert!(Balancer::new(&up, vec![]).unwrap_err().to_string().contains("use_srv_name"));
    }

    #[test]
    fn a_bad_target_is_a_typed_error() {
        let err = Balancer::new(&upstream("round-robin"), vec![target("1", "a:99999", 1, 1.0)]).unwrap_err();
        assert_eq!(err.target, "a:99999");
    }
}
