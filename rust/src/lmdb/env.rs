//! One read-only LMDB environment per data file per process.
//!
//! LMDB's locks are POSIX fcntl locks, owned by the (process, file) pair: a second
//! `mdb_env_open` of the same files in one process would re-initialise the lock file under the
//! first, and closing either would drop the other's reader locks. So every `Store` on the same
//! files shares one environment, and the last one closes it while no other open can race it.

use super::error::StoreError;
use super::layout::{ENTITIES_DB, MAX_DBS, MAX_READERS, META_DB, REFS_DB};
use lmdb::{Database, Environment, EnvironmentFlags};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The named databases, opened once they exist (the writer may create them after we open).
#[derive(Debug, Clone, Copy)]
pub struct Dbs {
    pub meta: Database,
    pub entities: Database,
    pub refs: Database,
}

#[derive(Debug)]
pub struct SharedEnv {
    pub env: Environment,
    pub path: String,
    dbs: OnceLock<Dbs>,
}

/// Keyed by the (device, inode) of the data file, so two spellings of one path share.
type Registry = HashMap<(u64, u64), Weak<SharedEnv>>;

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock_registry() -> std::sync::MutexGuard<'static, Registry> {
    // The map stays consistent even if a holder panicked: every update is a single insert.
    registry().lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens (or joins) the environment in the directory `path`.
pub fn open(path: &Path) -> Result<Arc<SharedEnv>, StoreError> {
    let shown = path.display().to_string();
    let data = match std::fs::metadata(path.join("data.mdb")) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::NoConfiguration { path: shown }),
        Err(e) => return Err(StoreError::Lmdb { path: shown, message: e.to_string() }),
    };
    let id = (data.dev(), data.ino());

    let mut registry = lock_registry();
    registry.retain(|_, weak| weak.strong_count() > 0);
    if let Some(shared) = registry.get(&id).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    let env = Environment::new()
        // NO_TLS: read transactions are tied to themselves, not to the OS thread that began them.
        .set_flags(EnvironmentFlags::READ_ONLY | EnvironmentFlags::NO_TLS)
        .set_max_dbs(MAX_DBS)
        .set_max_readers(MAX_READERS)
        .open(path)
        .map_err(|e| StoreError::Lmdb { path: shown.clone(), message: e.to_string() })?;
    let shared = Arc::new(SharedEnv { env, path: shown, dbs: OnceLock::new() });
    registry.insert(id, Arc::downgrade(&shared));
    Ok(shared)
}

/// Drops a handle; the environment closes with the last one, under the registry lock.
pub fn release(shared: Arc<SharedEnv>) {
    let _registry = lock_registry();
    drop(shared);
}

impl SharedEnv {
    /// The named databases, or None while the writer has not created them.
    pub fn dbs(&self) -> Result<Option<Dbs>, StoreError> {
        if let Some(dbs) = self.dbs.get() {
            return Ok(Some(*dbs));
        }
        let meta = match self.open_db(META_DB)? {
            Some(db) => db,
            None => return Ok(None),
        };
        let entities = match self.open_db(ENTITIES_DB)? {
            Some(db) => db,
            None => return Ok(None),
        };
        let refs = match self.open_db(REFS_DB)? {
            Some(db) => db,
            None => return Ok(None),
        };
        Ok(Some(*self.dbs.get_or_init(|| Dbs { meta, entities, refs })))
    }

    fn open_db(&self, name: &str) -> Result<Option<Database>, StoreError> {
        match self.env.open_db(Some(name)) {
            Ok(db) => Ok(Some(db)),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(self.lmdb_error(e)),
        }
    }

    pub fn lmdb_error(&self, error: lmdb::Error) -> StoreError {
        StoreError::Lmdb { path: self.path.clone(), message: error.to_string() }
    }
}
