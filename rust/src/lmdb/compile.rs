//! Compiling a read config: the router from the routes and services that changed, the
//! balancers of the upstreams that changed or whose targets did.

use super::config::Config;
use super::error::StoreError;
use super::records::{Record, Records};
use crate::balancer::Balancer;
use crate::entities::{Route, Service, Target, Upstream};
use crate::router::{Changes, Router};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The router of `config`, derived from `previous` (the router of the records `config` was
/// read against) by compiling only the routes that changed or whose service did; None when no
/// route or service changed and `previous` serves as it is. Without `previous`, everything
/// counts as changed: a full compile.
pub fn router(config: &Config, previous: Option<&Router>, cache_size: usize) -> Result<Option<Router>, StoreError> {
    let (routes, services) = (config.changes.of("routes"), config.changes.of("services"));
    if previous.is_some() && !config.changes.touch(&["routes", "services"]) {
        return Ok(None);
    }
    let compiled: Vec<Route> = routes
        .upserted
        .iter()
        .chain(&config.service_routes)
        .map(|r| decode("routes", r))
        .collect::<Result<_, _>>()?;
    let mut needed: Vec<Service> = services.upserted.iter().map(|s| decode("services", s)).collect::<Result<_, _>>()?;
    let Some(previous) = previous else {
        return Router::new(compiled, &needed, cache_size).map(Some).map_err(StoreError::Router);
    };
    // The unchanged services the compiled routes point at, decoded from their stored JSON.
    let changed: HashSet<&str> =
        services.upserted.iter().map(|s| &*s.id).chain(services.removed.iter().map(|id| &**id)).collect();
    let unchanged: HashSet<&str> = compiled
        .iter()
        .filter_map(|r| r.service.as_ref().map(|s| s.id.as_str()))
        .filter(|id| !changed.contains(id))
        .collect();
    for id in unchanged {
        if let Some(record) = config.records.get("services", id) {
            needed.push(decode("services", record)?);
        }
    }
    let changes = Changes {
        routes: compiled,
        removed_routes: routes.removed.iter().map(|id| &**id).collect(),
        services: needed.iter().map(|s| (s.id.as_str(), s)).collect(),
    };
    previous.update(changes, cache_size).map(Some).map_err(StoreError::Router)
}

/// The balancers a load compiles, and which of the previous snapshot's no longer serve.
#[derive(Debug, Default)]
pub struct BalancerUpdate {
    /// By upstream name: every upstream's without a previous snapshot; else those of the
    /// upstreams that changed or whose targets did. They replace the previous ones of that name.
    pub compiled: BTreeMap<String, Balancer>,
    /// The names the changed upstreams had in the previous snapshot (removed and renamed ones
    /// included): those balancers stop serving, before `compiled` is merged in. Sorted, so a
    /// load's outcome does not depend on hash order.
    pub dropped: BTreeSet<String>,
}

/// The balancers of the upstreams that changed since `previous` (the records `config` was read
/// against), or whose targets did; every upstream's without `previous`. The other upstreams'
/// balancers (and their state) stay the previous snapshot's. Targets of an upstream that is not
/// stored are ignored: a validated config has none.
pub fn balancers(config: &Config, previous: Option<&Records>) -> Result<BalancerUpdate, StoreError> {
    let mut update = BalancerUpdate::default();
    let changed = match previous {
        Some(previous) => {
            let changed = changed_upstreams(config, previous)?;
            for id in &changed {
                if let Some(record) = previous.get("upstreams", id) {
                    update.dropped.insert(decode::<Upstream>("upstreams", record)?.name);
                }
            }
            Some(changed)
        }
        None => None,
    };
    if changed.as_ref().is_some_and(HashSet::is_empty) {
        return Ok(update);
    }
    let wanted = |upstream_id: &str| changed.as_ref().is_none_or(|ids| ids.contains(upstream_id));
    let mut targets_by_upstream: HashMap<String, Vec<Target>> = HashMap::new();
    for record in config.records.of("targets") {
        let target: Target = decode("targets", record)?;
        if wanted(&target.upstream.id) {
            targets_by_upstream.entry(target.upstream.id.clone()).or_default().push(target);
        }
    }
    for record in config.records.of("upstreams").iter().filter(|r| wanted(&r.id)) {
        let upstream: Upstream = decode("upstreams", record)?;
        let targets = targets_by_upstream.remove(&upstream.id).unwrap_or_default();
        let balancer = Balancer::new(&upstream, targets)
            .map_err(|error| StoreError::Balancer { upstream: upstream.name.clone(), error })?;
        update.compiled.insert(upstream.name, balancer);
    }
    Ok(update)
}

/// Ids of the upstreams added, changed or removed since `previous`, and of those a changed
/// target belongs (or belonged) to.
fn changed_upstreams(config: &Config, previous: &Records) -> Result<HashSet<String>, StoreError> {
    let (upstreams, targets) = (config.changes.of("upstreams"), config.changes.of("targets"));
    let mut ids: HashSet<String> = upstreams
        .upserted
        .iter()
        .map(|u| &*u.id)
        .chain(upstreams.removed.iter().map(|id| &**id))
        .map(str::to_owned)
        .collect();
    for record in &targets.upserted {
        ids.insert(decode::<Target>("targets", record)?.upstream.id);
    }
    // A target moved to another upstream or removed also changes the upstream it was in.
    for id in targets.upserted.iter().map(|t| &*t.id).chain(targets.removed.iter().map(|id| &**id)) {
        if let Some(record) = previous.get("targets", id) {
            ids.insert(decode::<Target>("targets", record)?.upstream.id);
        }
    }
    Ok(ids)
}

fn decode<T: DeserializeOwned>(entity_type: &str, record: &Record) -> Result<T, StoreError> {
    serde_json::from_slice(&record.json).map_err(|e| StoreError::corrupt(format!("{entity_type}|{}", record.id), e))
}
