//! A stored config compiled for serving: router, balancers, and the raw entities.

use super::compile::{self, BalancerUpdate};
use super::config::Config;
use super::error::StoreError;
use super::records::{Changes, Record, Records};
use crate::router::Router;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One config version compiled for serving, with the records a later load compares against.
pub struct Snapshot {
    /// The config version.
    pub version: u64,
    /// The config hash.
    pub hash: String,
    /// Kong's per-type hashes: routes, services, plugins, upstreams, targets, rest.
    pub hashes: BTreeMap<String, String>,
    /// None: no route or service changed since the previous snapshot, whose router serves.
    pub router: Option<Router>,
    /// The balancers compiled: all of them, or those that changed since the previous snapshot,
    /// whose other balancers serve on.
    pub balancers: BalancerUpdate,
    /// Every entity's JSON by type; a later load compares against it.
    pub records: Records,
    /// What changed since the previous snapshot, entity by entity; None when loaded without
    /// one, so that everything is new.
    pub changes: Option<Changes>,
}

/// What a load derives its snapshot from: the snapshot before it, as far as it still serves.
#[derive(Clone, Copy)]
pub struct Previous<'a> {
    /// The previous snapshot's config version: the writer's delta note must lead from it (and
    /// `hash`) for a load to read only what the delta names.
    pub version: u64,
    /// The previous snapshot's config hash.
    pub hash: &'a str,
    /// Its records: what the new ones are compared with, or patched into.
    pub records: &'a Records,
    /// The router compiled from `records`.
    pub router: &'a Router,
}

impl Snapshot {
    /// Compiles `config`, read against `previous`'s records when given: the router from what
    /// changed (the routes of disabled services are left out by the router itself) and the
    /// balancers of the upstreams that changed or whose targets did. What is not compiled is
    /// `previous`'s.
    pub fn compile(config: Config, previous: Option<Previous<'_>>, cache_size: usize) -> Result<Self, StoreError> {
        let router = compile::router(&config, previous.map(|p| p.router), cache_size)?;
        let balancers = compile::balancers(&config, previous.map(|p| p.records))?;
        Ok(Snapshot {
            version: config.version,
            hash: config.hash,
            hashes: config.hashes,
            router,
            balancers,
            records: config.records,
            changes: previous.map(|_| config.changes),
        })
    }

    /// The stored entities of a type, in key order; empty for a type with none.
    pub fn entities(&self, entity_type: &str) -> &[Arc<Record>] {
        self.records.of(entity_type)
    }
}

/// Summarises: the compiled router has no useful textual form.
impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("hash", &self.hash)
            .field("routes", &self.router.as_ref().map(Router::len))
            .field("balancers", &self.balancers.compiled.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
