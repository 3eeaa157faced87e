//! `InflightTable`: the requests in flight on each balancer target, counted for the whole node.
//!
//! The least-connections balancer of every worker reads and adds to the same counts, so a
//! target busy with one worker's requests is seen as busy by the others. A target's counter is
//! found by a key (its upstream's id and its address) once, when a balancer is built for a
//! config version; per request there is one atomic add when a request goes to the target and
//! one when it ends, plus a load per live target to pick.
//!
//! Each worker also keeps its own share of every count in a column of its own. A worker that
//! dies takes its in-flight requests with it but not their counts: its successor (the worker
//! started in the same slot) gives them back (`recover`) before it serves, so a crash never
//! leaves a target looking busy forever.
//!
//! The same slots hold each target's passive health word (`crate::balancer::health`), under
//! a key of its own (the upstream, the address and the health check settings), so that a
//! target marked down by one worker gets no request from any.
//!
//! Layout, in 64-bit words: a header of 8 (magic, slot count, worker columns, the hash key,
//! reserved), `slots` triples of (key hash, count, health), then `workers` columns of `slots`
//! words.
//! A slot is claimed for a key by a compare and swap of its key word from `EMPTY`, and never
//! given back: the table holds as many targets as it has slots over the life of the node
//! (a full table leaves a new target counted by its worker alone, see `Counter`).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::region::Region;
use super::siphash::siphash24;
use super::ShmError;

/// Slots of the node's table: distinct (upstream, target) pairs over the node's life.
pub const INFLIGHT_SLOTS: u64 = 16384;
/// Worker columns the node's table is made with when none is said.
pub const INFLIGHT_WORKERS: u64 = 64;

const MAGIC: u64 = u64::from_le_bytes(*b"GTINFLT2");
const HEADER_WORDS: usize = 8;
/// Per slot: the key's hash, the in-flight count, the passive health word.
const SLOT_WORDS: u64 = 3;
const EMPTY: u64 = 0;
const PROBES: usize = 64;

/// The in-flight counts of one region.
pub struct InflightTable {
    region: Region,
    slots: u64,
    workers: u64,
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for InflightTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InflightTable({}, {} slots)", self.region.path(), self.slots)
    }
}

fn words_for(slots: u64, workers: u64) -> Option<usize> {
    let per_slot = workers.checked_add(SLOT_WORDS)?;
    let words = slots.checked_mul(per_slot)?.checked_add(HEADER_WORDS as u64)?;
    usize::try_from(words).ok()?.checked_mul(8)
}

impl InflightTable {
    /// Makes the table's file at `path` afresh (one there is replaced).
    pub fn create(path: &Path, slots: u64, workers: u64) -> Result<InflightTable, ShmError> {
        let shown = path.display().to_string();
        let bytes = Self::bytes(slots, workers, &shown)?;
        Self::initialise(Region::create(path, bytes)?, slots, workers)
    }

    /// A table of this process alone.
    pub fn anonymous(slots: u64, workers: u64) -> Result<InflightTable, ShmError> {
        let bytes = Self::bytes(slots, workers, "anonymous")?;
        Self::initialise(Region::anonymous(bytes)?, slots, workers)
    }

    /// Maps the table another process made at `path`.
    pub fn open(path: &Path) -> Result<InflightTable, ShmError> {
        let region = Region::open(path)?;
        let layout = |message: String| ShmError::Layout { path: region.path().to_string(), message };
        let word = |i: usize| region.word(i).map(|w| w.load(Ordering::Acquire));
        if word(0) != Some(MAGIC) {
            return Err(layout("not an in-flight table (or not initialised yet)".into()));
        }
        let (Some(slots), Some(workers), Some(k0), Some(k1)) = (word(1), word(2), word(3), word(4)) else {
            return Err(layout("truncated header".into()));
        };
        match words_for(slots, workers) {
            Some(bytes) if slots > 0 && region.len() >= bytes => {}
            _ => {
                return Err(layout(format!(
                    "{slots} slots and {workers} workers announced, {} bytes mapped",
                    region.len()
                )))
            }
        }
        Ok(InflightTable { region, slots, workers, k0, k1 })
    }

    fn bytes(slots: u64, workers: u64, path: &str) -> Result<usize, ShmError> {
        words_for(slots, workers).filter(|_| slots > 0).ok_or_else(|| ShmError::Layout {
            path: path.into(),
            message: format!("cannot hold {slots} slots for {workers} workers"),
        })
    }

    fn initialise(region: Region, slots: u64, workers: u64) -> Result<InflightTable, ShmError> {
        let seed = RandomState::new();
        let (k0, k1) = (seed.hash_one(0x1f_u64), seed.hash_one(0x2f_u64));
        for (i, value) in [(1, slots), (2, workers), (3, k0), (4, k1)] {
            region
                .word(i)
                .ok_or_else(|| ShmError::Layout { path: region.path().into(), message: "too small".into() })?
                .store(value, Ordering::Relaxed);
        }
        if let Some(magic) = region.word(0) {
            magic.store(MAGIC, Ordering::Release);
        }
        Ok(InflightTable { region, slots, workers, k0, k1 })
    }

    /// The number of slots.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// The number of worker columns.
    pub fn workers(&self) -> u64 {
        self.workers
    }

    /// The region's file, or "anonymous".
    pub fn path(&self) -> &str {
        self.region.path()
    }

    fn word(&self, index: u64) -> Result<&AtomicU64, ShmError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.region.word(i))
            .ok_or_else(|| ShmError::Layout { path: self.path().into(), message: format!("no word {index}") })
    }

    fn key_word(&self, slot: u64) -> Result<&AtomicU64, ShmError> {
        self.word(HEADER_WORDS as u64 + slot * SLOT_WORDS)
    }

    fn count_word(&self, slot: u64) -> Result<&AtomicU64, ShmError> {
        self.word(HEADER_WORDS as u64 + slot * SLOT_WORDS + 1)
    }

    fn ledger_word(&self, worker: u64, slot: u64) -> Option<&AtomicU64> {
        if worker >= self.workers || slot >= self.slots {
            return None;
        }
        self.word(HEADER_WORDS as u64 + self.slots * SLOT_WORDS + worker * self.slots + slot).ok()
    }

    /// The slot counting `key`, claimed for it when no slot has it yet.
    pub fn resolve(&self, key: &[u8]) -> Result<u64, ShmError> {
        let mut h = siphash24(self.k0, self.k1, key);
        if h == EMPTY {
            h = 1;
        }
        let probes = PROBES.min(self.slots as usize) as u64;
        for i in 0..probes {
            let slot = (h % self.slots + i) % self.slots;
            let word = self.key_word(slot)?;
            match word.compare_exchange(EMPTY, h, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(slot),
                Err(seen) if seen == h => return Ok(slot),
                Err(_) => continue,
            }
        }
        Err(ShmError::Full { slots: self.slots, probes })
    }

    /// The node's in-flight count of a slot.
    pub fn count(&self, slot: u64) -> u64 {
        self.count_word(slot).map(|w| w.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// The health word of a slot (see `crate::balancer::health`); 0, healthy, for a new one.
    pub fn health(&self, slot: u64) -> u64 {
        self.word(HEADER_WORDS as u64 + slot * SLOT_WORDS + 2)
            .map(|w| w.load(Ordering::Acquire))
            .unwrap_or(0)
    }

    /// Changes the health word of a slot by `f`, atomically (retried if another process
    /// changed it meanwhile); returns the word before and after.
    pub fn update_health(&self, slot: u64, f: impl Fn(u64) -> u64) -> (u64, u64) {
        match self.word(HEADER_WORDS as u64 + slot * SLOT_WORDS + 2) {
            Ok(word) => {
                let before = match word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(f(v))) {
                    Ok(v) | Err(v) => v,
                };
                (before, f(before))
            }
            Err(_) => (0, 0),
        }
    }

    /// One more request in flight on `slot`, by `worker`.
    pub fn acquire(&self, slot: u64, worker: u64) {
        if let Ok(count) = self.count_word(slot) {
            count.fetch_add(1, Ordering::Relaxed);
            if let Some(mine) = self.ledger_word(worker, slot) {
                mine.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A request of `worker` on `slot` ended.
    pub fn release(&self, slot: u64, worker: u64) {
        if let Ok(count) = self.count_word(slot) {
            let mine = self.ledger_word(worker, slot);
            // a recover() may have taken this worker's counts back already: never below zero
            if mine.is_none_or(|m| saturating_sub(m, 1) == 1) {
                saturating_sub(count, 1);
            }
        }
    }

    /// Gives back every count `worker`'s column holds (a worker that died in that column):
    /// returns how many requests were given back.
    pub fn recover(&self, worker: u64) -> u64 {
        let mut given = 0;
        for slot in 0..self.slots {
            if let Some(mine) = self.ledger_word(worker, slot) {
                let held = mine.swap(0, Ordering::AcqRel);
                if held > 0 {
                    if let Ok(count) = self.count_word(slot) {
                        saturating_sub(count, held);
                    }
                    given += held;
                }
            }
        }
        given
    }
}

/// The table this process's balancers count in, and the worker column it counts in.
static NODE: RwLock<Option<(Arc<InflightTable>, u64)>> = RwLock::new(None);

/// Makes `table` the one the balancers built from now on count in, as `worker`'s column.
pub fn install(table: Arc<InflightTable>, worker: u64) {
    let mut node = NODE.write().unwrap_or_else(|e| e.into_inner());
    *node = Some((table, worker));
}

/// The table installed, else one of this process alone (made on first use): a process that
/// never mapped the node's table (a test, an in-process check) still counts its own requests.
pub fn node_table() -> Result<(Arc<InflightTable>, u64), ShmError> {
    if let Some(found) = NODE.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok((found.0.clone(), found.1));
    }
    let mut node = NODE.write().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = node.as_ref() {
        return Ok((found.0.clone(), found.1));
    }
    let table = Arc::new(InflightTable::anonymous(INFLIGHT_SLOTS, 1)?);
    *node = Some((table.clone(), 0));
    Ok((table, 0))
}

/// Subtracts up to `n` without going below zero; returns what was subtracted.
fn saturating_sub(word: &AtomicU64, n: u64) -> u64 {
    match word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_sub(n))
    }) {
        Ok(previous) | Err(previous) => previous.min(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_keeps_its_slot_and_counts_are_shared_between_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inflight");
        let one = InflightTable::create(&path, 128, 4).unwrap();
        let two = InflightTable::open(&path).unwrap();
        let slot = one.resolve(b"u1\0a:80").unwrap();
        assert_eq!(two.resolve(b"u1\0a:80").unwrap(), slot);
        assert_ne!(two.resolve(b"u1\0b:80").unwrap(), slot);
        one.acquire(slot, 0);
        two.acquire(slot, 1);
        assert_eq!(one.count(slot), 2);
        two.release(slot, 1);
        assert_eq!(one.count(slot), 1);
    }

    #[test]
    fn a_dead_workers_counts_are_given_back_by_its_successor() {
        let table = InflightTable::anonymous(64, 2).unwrap();
        let a = table.resolve(b"a").unwrap();
        let b = table.resolve(b"b").unwrap();
        table.acquire(a, 0);
        table.acquire(a, 0);
        table.acquire(b, 0);
        table.acquire(a, 1);
        assert_eq!(table.recover(0), 3);
        assert_eq!((table.count(a), table.count(b)), (1, 0));
        // a late release of a request the successor gave back does not go below zero
        table.release(b, 0);
        assert_eq!(table.count(b), 0);
        table.release(a, 1);
        assert_eq!(table.count(a), 0);
    }

    #[test]
    fn a_worker_beyond_the_columns_still_counts() {
        let table = InflightTable::anonymous(8, 1).unwrap();
        let slot = table.resolve(b"k").unwrap();
        table.acquire(slot, 5);
        assert_eq!(table.count(slot), 1);
        table.release(slot, 5);
        assert_eq!(table.count(slot), 0);
    }

    #[test]
    fn a_full_table_refuses_new_keys() {
        let table = InflightTable::anonymous(4, 1).unwrap();
        for key in 0..4u8 {
            table.resolve(&[key]).unwrap();
        }
        assert!(matches!(table.resolve(b"more"), Err(ShmError::Full { .. })));
        assert!(table.resolve(&[2]).is_ok(), "a known key keeps its slot");
    }

    #[test]
    fn another_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        assert!(matches!(
            InflightTable::open(&path),
            Err(ShmError::Layout { .. })
        ));
    }
}
