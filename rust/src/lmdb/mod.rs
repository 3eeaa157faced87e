//! The LMDB reader: the worker side of the config cache written by `dataplane/lmdb_cache/`.
//!
//! Layout and settings are in docs/internals.md and `layout`. `Store::load` reads one config in
//! a single read transaction, so a concurrent writer is never seen half-way; the router and
//! balancers are compiled after that transaction has ended, to keep it short. `load_since`
//! compares the stored bytes with the previous snapshot's (`records`) and compiles only what
//! changed (`compile`).
//!
//! Never open a `Store` in the process that writes the environment (the supervisor): the two
//! LMDB copies (py-lmdb's and this crate's) would each take the process's fcntl locks on the
//! same lock file, and one closing would release the other's.

mod compile;
mod config;
mod delta;
mod env;
mod error;
mod layout;
mod records;
mod snapshot;

#[cfg(test)]
mod tests;

pub use compile::BalancerUpdate;
pub use config::Config;
pub use error::StoreError;
pub use layout::FORMAT;
pub use records::{Changes, Diff, Record, Records};
pub use snapshot::{Previous, Snapshot};

use delta::DeltaNote;
use layout::{KEY_DELTA, KEY_FORMAT, KEY_HASH, KEY_HASHES, KEY_VERSION};
use lmdb::{Cursor, Database, RoTransaction, Transaction};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// A read-only handle on the environment in one directory.
#[derive(Debug)]
pub struct Store {
    /// Always Some until dropped; taken in `Drop` to close under the registry lock.
    shared: Option<Arc<env::SharedEnv>>,
}

impl Store {
    /// Opens the environment read-only and checks its format tag when one is stored.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let store = Store { shared: Some(env::open(path.as_ref())?) };
        store.meta()?;
        Ok(store)
    }

    /// (version, hash) of the committed config, or None when none is stored.
    pub fn meta(&self) -> Result<Option<(u64, String)>, StoreError> {
        let shared = self.shared();
        let Some(dbs) = shared.dbs()? else { return Ok(None) };
        let txn = shared.env.begin_ro_txn().map_err(|e| shared.lmdb_error(e))?;
        let Some(version) = self.committed_version(&txn, dbs.meta)? else { return Ok(None) };
        let config = Config::from_meta(version, self.required(&txn, dbs.meta, KEY_HASH)?, b"{}")?;
        Ok(Some((config.version, config.hash)))
    }

    /// Reads the committed config in one read transaction, without compiling it, against the
    /// snapshot before (none: everything is new): values equal to its records are shared, not
    /// copied, and the config tells what changed. When the last delta was applied to exactly
    /// that snapshot's config, only the entities it changed are read.
    pub fn read(&self, previous: Option<Previous<'_>>) -> Result<Config, StoreError> {
        let shared = self.shared();
        let no_config = || StoreError::NoConfiguration { path: shared.path.clone() };
        let dbs = shared.dbs()?.ok_or_else(no_config)?;
        let txn = shared.env.begin_ro_txn().map_err(|e| shared.lmdb_error(e))?;
        let version = self.committed_version(&txn, dbs.meta)?.ok_or_else(no_config)?;
        let mut config = Config::from_meta(
            version,
            self.required(&txn, dbs.meta, KEY_HASH)?,
            self.required(&txn, dbs.meta, KEY_HASHES)?,
        )?;
        let note = self.get(&txn, dbs.meta, KEY_DELTA)?.map(DeltaNote::parse).transpose()?;
        (config.records, config.changes) = match (previous, note) {
            (Some(previous), Some(note)) if note.applies_to(previous.version, previous.hash) => {
                let changed =
                    note.keys.iter().map(|key| Ok((key.as_bytes(), self.get(&txn, dbs.entities, key.as_bytes())?)));
                Records::patch(previous.records, changed)?
            }
            _ => {
                let mut cursor = txn.open_ro_cursor(dbs.entities).map_err(|e| shared.lmdb_error(e))?;
                let entries = cursor.iter_start().map(|item| item.map_err(|e| shared.lmdb_error(e)));
                Records::read(entries, previous.map_or(&Records::default(), |p| p.records))?
            }
        };
        if previous.is_some() {
            // Without a previous snapshot every route is compiled anyway.
            config.service_routes = self.service_routes(&txn, dbs.refs, &config)?;
        }
        Ok(config)
    }

    /// The stored routes, themselves unchanged, of every service added, changed or removed,
    /// found by key range in the writer's `refs` index rather than by decoding every route.
    fn service_routes(
        &self,
        txn: &RoTransaction<'_>,
        refs: Database,
        config: &Config,
    ) -> Result<Vec<Arc<Record>>, StoreError> {
        let (services, routes) = (config.changes.of("services"), config.changes.of("routes"));
        let changed = services.upserted.iter().map(|s| &s.id).chain(&services.removed);
        let changed_routes: HashSet<&str> = routes.upserted.iter().map(|r| &*r.id).collect();
        let mut found = Vec::new();
        let mut cursor = txn.open_ro_cursor(refs).map_err(|e| self.shared().lmdb_error(e))?;
        for service_id in changed {
            let prefix = format!("services|{service_id}|routes|");
            for item in cursor.iter_from(prefix.as_bytes()) {
                let (key, _) = item.map_err(|e| self.shared().lmdb_error(e))?;
                let Some(route_id) = key.strip_prefix(prefix.as_bytes()) else { break };
                let route_id =
                    std::str::from_utf8(route_id).map_err(|e| StoreError::corrupt(format!("refs|{prefix}"), e))?;
                if changed_routes.contains(route_id) {
                    continue;
                }
                if let Some(route) = config.records.get("routes", route_id) {
                    found.push(Arc::clone(route));
                }
            }
        }
        Ok(found)
    }

    /// Reads the committed config and compiles it whole.
    pub fn load(&self, cache_size: usize) -> Result<Snapshot, StoreError> {
        Snapshot::compile(self.read(None)?, None, cache_size)
    }

    /// Reads the committed config and compiles what changed since `previous`; the parts left
    /// None in the result are `previous`'s to keep serving.
    pub fn load_since(&self, cache_size: usize, previous: Previous<'_>) -> Result<Snapshot, StoreError> {
        Snapshot::compile(self.read(Some(previous))?, Some(previous), cache_size)
    }

    fn shared(&self) -> &env::SharedEnv {
        self.shared.as_deref().expect("present until dropped")
    }

    /// The stored `version`, after checking the format tag; None when no config is stored.
    fn committed_version<'t>(
        &self,
        txn: &'t RoTransaction<'_>,
        meta: Database,
    ) -> Result<Option<&'t [u8]>, StoreError> {
        let format = self.get(txn, meta, KEY_FORMAT)?;
        let version = self.get(txn, meta, KEY_VERSION)?;
        match (format, version) {
            (Some(tag), _) if tag == FORMAT.as_bytes() => Ok(version),
            (Some(tag), _) => Err(StoreError::IncompatibleFormat { found: Some(layout::show_key(tag)) }),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(StoreError::IncompatibleFormat { found: None }),
        }
    }

    fn required<'t>(&self, txn: &'t RoTransaction<'_>, meta: Database, key: &[u8]) -> Result<&'t [u8], StoreError> {
        self.get(txn, meta, key)?
            .ok_or_else(|| StoreError::corrupt(format!("meta|{}", layout::show_key(key)), "missing"))
    }

    fn get<'t>(&self, txn: &'t RoTransaction<'_>, db: Database, key: &[u8]) -> Result<Option<&'t [u8]>, StoreError> {
        match txn.get(db, &key) {
            Ok(value) => Ok(Some(value)),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(self.shared().lmdb_error(e)),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            env::release(shared);
        }
    }
}
