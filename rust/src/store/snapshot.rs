//! A stored config compiled for serving: router, balancers, and the raw entities.

use super::config::Config;
use super::error::StoreError;
use crate::balancer::Balancer;
use crate::entities::{Target, Upstream};
use crate::router::Router;
use std::collections::{BTreeMap, HashMap};

pub struct Snapshot {
    pub version: u64,
    pub hash: String,
    pub hashes: BTreeMap<String, String>,
    /// None: routes and services are those of the previous snapshot, whose router still serves.
    pub router: Option<Router>,
    /// By upstream name. None: upstreams and targets are those of the previous snapshot.
    pub balancers: Option<BTreeMap<String, Balancer>>,
    /// The JSON of every entity by type, in key order.
    pub entities: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Snapshot {
    /// Compiles the router (which skips the routes of disabled services itself) and one
    /// balancer per upstream. Targets of an upstream that is not stored are ignored: a
    /// validated config has none. Parts `config.reuse` names are left to the previous snapshot.
    pub fn compile(config: Config, cache_size: usize) -> Result<Self, StoreError> {
        let router = if config.reuse.router {
            None
        } else {
            Some(Router::new(config.routes, &config.services, cache_size).map_err(StoreError::Router)?)
        };
        let balancers = if config.reuse.balancers { None } else { Some(balancers(config.upstreams, config.targets)?) };
        Ok(Snapshot {
            version: config.version,
            hash: config.hash,
            hashes: config.hashes,
            router,
            balancers,
            entities: config.entities,
        })
    }

    /// The JSON of every entity of a type, in key order; empty for a type with none.
    pub fn entities(&self, entity_type: &str) -> &[Vec<u8>] {
        self.entities.get(entity_type).map_or(&[], Vec::as_slice)
    }
}

fn balancers(upstreams: Vec<Upstream>, targets: Vec<Target>) -> Result<BTreeMap<String, Balancer>, StoreError> {
    let mut targets_by_upstream: HashMap<String, Vec<_>> = HashMap::new();
    for target in targets {
        targets_by_upstream.entry(target.upstream.id.clone()).or_default().push(target);
    }
    let mut balancers = BTreeMap::new();
    for upstream in &upstreams {
        let targets = targets_by_upstream.remove(&upstream.id).unwrap_or_default();
        let balancer = Balancer::new(upstream, targets)
            .map_err(|error| StoreError::Balancer { upstream: upstream.name.clone(), error })?;
        balancers.insert(upstream.name.clone(), balancer);
    }
    Ok(balancers)
}

/// Summarises: the compiled router has no useful textual form.
impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("hash", &self.hash)
            .field("routes", &self.router.as_ref().map(Router::len))
            .field("upstreams", &self.balancers.as_ref().map(|b| b.keys().collect::<Vec<_>>()))
            .finish_non_exhaustive()
    }
}
