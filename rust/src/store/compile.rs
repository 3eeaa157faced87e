//! Compiling a read config: the router from the routes and services that changed, the
//! balancers from every upstream and target when any of them changed.

use super::config::Config;
use super::error::StoreError;
use super::records::Record;
use crate::balancer::Balancer;
use crate::entities::{Route, Service, Target, Upstream};
use crate::router::{Changes, Router};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The router of `config`, derived from `previous` (the router of the records `config` was
/// read against) by compiling only the routes that changed or whose service did; None when no
/// route or service changed and `previous` serves as it is. Without `previous`, everything
/// counts as changed: a full compile.
pub fn router(config: &Config, previous: Option<&Router>, cache_size: usize) -> Result<Option<Router>, StoreError> {
    let (routes, services) = (config.changes.of("routes"), config.changes.of("services"));
    if previous.is_some() && !config.changes.touch(&["routes", "services"]) {
        return Ok(None);
    }
    let compiled: Vec<Route> =
        routes.upserted.iter().chain(&config.service_routes).map(|r| decode("routes", r)).collect::<Result<_, _>>()?;
    let mut needed: Vec<Service> = services.upserted.iter().map(|s| decode("services", s)).collect::<Result<_, _>>()?;
    let Some(previous) = previous else {
        return Router::new(compiled, &needed, cache_size).map(Some).map_err(StoreError::Router);
    };
    // The unchanged services the compiled routes point at, decoded from their stored JSON.
    let changed: HashSet<&str> = services.upserted.iter().map(|s| &*s.id).chain(services.removed.iter().map(|id| &**id)).collect();
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

/// One balancer per upstream, by name; None when no upstream or target changed since a
/// previous snapshot, whose balancers (and their health) then stay. Targets of an upstream
/// that is not stored are ignored: a validated config has none.
pub fn balancers(config: &Config, has_previous: bool) -> Result<Option<BTreeMap<String, Balancer>>, StoreError> {
    if has_previous && !config.changes.touch(&["upstreams", "targets"]) {
        return Ok(None);
    }
    let mut targets_by_upstream: HashMap<String, Vec<Target>> = HashMap::new();
    for record in config.records.of("targets") {
        let target: Target = decode("targets", record)?;
        targets_by_upstream.entry(target.upstream.id.clone()).or_default().push(target);
    }
    let mut balancers = BTreeMap::new();
    for record in config.records.of("upstreams") {
        let upstream: Upstream = decode("upstreams", record)?;
        let targets = targets_by_upstream.remove(&upstream.id).unwrap_or_default();
        let balancer = Balancer::new(&upstream, targets)
            .map_err(|error| StoreError::Balancer { upstream: upstream.name.clone(), error })?;
        balancers.insert(upstream.name, balancer);
    }
    Ok(Some(balancers))
}

fn decode<T: DeserializeOwned>(entity_type: &str, record: &Record) -> Result<T, StoreError> {
    serde_json::from_slice(&record.json).map_err(|e| StoreError::corrupt(format!("{entity_type}|{}", record.id), e))
}
