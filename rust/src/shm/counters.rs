//! `CounterTable`: a fixed-size table of windowed counters in a shared region, lock-free.
//!
//! It backs the rate-limiting plugin's `local` policy: every worker of a node counts into
//! the same table, so a limit holds for the node, as Kong's `kong_rate_limiting_counters`
//! shared dict makes it. A counter belongs to one key and one window: the caller's key names
//! the window (Kong's key holds the window's start), and `expires_at` is when the window
//! ends, after which the slot may be taken by another key.
//!
//! Layout, in 64-bit words: a header of 8 words (magic, slot count, the hash key, reserved),
//! then 2 words per slot:
//!
//! - `key`: the key's hash; `EMPTY` (0) never used, `BUSY` (1) while a process claims it;
//! - `state`: the window's end (unix seconds, high 32 bits) and the count (low 32 bits), in
//!   one word so that a count is only ever added to the window it was checked against.
//!
//! A key lives in the first slot of its probe sequence (at most `MAX_PROBES` slots from its
//! hash) that was empty or expired when it was claimed. Claims go through a `BUSY` compare
//! and swap on `key`, so two processes never take one slot for two keys; a count is added by
//! a compare and swap on `state` that checks the limit, so two workers never both get the
//! last request of a window. Counts that race a slot's reclaim belong to a window already
//! over. A slot never returns to `EMPTY`, so an empty slot ends every probe sequence.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::region::Region;
use super::siphash::siphash24;
use super::ShmError;

/// The region's size: the size of Kong's `kong_rate_limiting_counters` shared dict (12m),
/// which holds 786,428 slots here.
pub const COUNTERS_BYTES: usize = 12 * 1024 * 1024;
/// How many slots from its hash a key may be placed in; past that the table is full for it.
pub const MAX_PROBES: usize = 64;

const MAGIC: u64 = u64::from_le_bytes(*b"GTRLCNT1");
const HEADER_WORDS: usize = 8;
const SLOT_WORDS: usize = 2;
const EMPTY: u64 = 0;
const BUSY: u64 = 1;
// A claim is two stores; a slot BUSY for this many looks is held by a process that died.
const SPIN_LIMIT: u32 = 1 << 20;
// Restarts after losing a race for a slot; each means another process made progress.
const MAX_RESTARTS: u32 = 64;

/// What `increment` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Increment {
    /// Counted: the window's count now.
    Counted(u64),
    /// Not counted, as it would pass the limit: the window's count, unchanged.
    Refused(u64),
}

/// The counters of one region.
pub struct CounterTable {
    region: Region,
    slots: u64,
    k0: u64,
    k1: u64,
}

fn pack(expires_at: u32, count: u32) -> u64 {
    (u64::from(expires_at) << 32) | u64::from(count)
}

fn expiry(state: u64) -> u64 {
    state >> 32
}

fn count(state: u64) -> u64 {
    state & 0xffff_ffff
}

impl CounterTable {
    /// The number of slots a region of `bytes` holds.
    pub fn slots_for(bytes: usize) -> u64 {
        (bytes.saturating_sub(HEADER_WORDS * 8) / (SLOT_WORDS * 8)) as u64
    }

    /// Creates (or truncates) the table's file at `path`, with `slots` slots.
    pub fn create(path: &Path, slots: u64) -> Result<CounterTable, ShmError> {
        let region = Region::create(path, Self::bytes_for(slots, &path.display().to_string())?)?;
        Self::initialise(region, slots)
    }

    /// A table private to this process (and children it forks), with `slots` slots.
    pub fn anonymous(slots: u64) -> Result<CounterTable, ShmError> {
        let region = Region::anonymous(Self::bytes_for(slots, "anonymous")?)?;
        Self::initialise(region, slots)
    }

    /// Opens the table another process created at `path`.
    pub fn open(path: &Path) -> Result<CounterTable, ShmError> {
        let region = Region::open(path)?;
        let layout = |message: String| ShmError::Layout { path: region.path().to_string(), message };
        let word = |i: usize| region.word(i).map(|w| w.load(Ordering::Acquire));
        if word(0) != Some(MAGIC) {
            return Err(layout("not a counter table (or not initialised yet)".into()));
        }
        let (Some(slots), Some(k0), Some(k1)) = (word(1), word(2), word(3)) else {
            return Err(layout("truncated header".into()));
        };
        let expected = HEADER_WORDS as u64 + slots.saturating_mul(SLOT_WORDS as u64);
        if slots == 0 || (region.words() as u64) < expected {
            return Err(layout(format!(
                "{slots} slots announced, {} bytes mapped",
                region.len()
            )));
        }
        Ok(CounterTable { region, slots, k0, k1 })
    }

    fn bytes_for(slots: u64, path: &str) -> Result<usize, ShmError> {
        usize::try_from(slots)
            .ok()
            .filter(|&s| s > 0)
            .and_then(|s| s.checked_mul(SLOT_WORDS * 8))
            .and_then(|b| b.checked_add(HEADER_WORDS * 8))
            .ok_or_else(|| ShmError::Layout { path: path.into(), message: format!("cannot hold {slots} slots") })
    }

    fn initialise(region: Region, slots: u64) -> Result<CounterTable, ShmError> {
        // the hash key: random per region, from the seed std draws from the system per process
        let seed = RandomState::new();
        let (k0, k1) = (seed.hash_one(0x6b30_u64), seed.hash_one(0x6b31_u64));
        let store = |i: usize, value: u64| {
            region
                .word(i)
                .ok_or_else(|| ShmError::Layout { path: region.path().into(), message: "too small".into() })
                .map(|w| w.store(value, Ordering::Relaxed))
        };
        store(1, slots)?;
        store(2, k0)?;
        store(3, k1)?;
        // published last: an opener that sees the magic sees the rest of the header
        if let Some(magic) = region.word(0) {
            magic.store(MAGIC, Ordering::Release);
        }
        Ok(CounterTable { region, slots, k0, k1 })
    }

    /// The number of slots.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// The region's file, or "anonymous".
    pub fn path(&self) -> &str {
        self.region.path()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        let h = siphash24(self.k0, self.k1, key);
        if h <= BUSY {
            h + 2
        } else {
            h
        }
    }

    fn slot(&self, index: u64) -> Result<(&AtomicU64, &AtomicU64), ShmError> {
        let base = HEADER_WORDS + (index as usize) * SLOT_WORDS;
        match (self.region.word(base), self.region.word(base + 1)) {
            (Some(key), Some(state)) => Ok((key, state)),
            // `open` checked that the region holds every slot: only a bug gets here
            _ => Err(ShmError::Layout { path: self.path().into(), message: format!("no slot {index}") }),
        }
    }

    fn probe(&self, h: u64, i: usize) -> u64 {
        (h % self.slots + i as u64) % self.slots
    }

    fn probes(&self) -> usize {
        MAX_PROBES.min(self.slots as usize)
    }

    /// The slot's key once no claim is in progress on it.
    fn settled_key(&self, index: u64) -> Result<u64, ShmError> {
        let key = self.slot(index)?.0;
        for spin in 0..SPIN_LIMIT {
            let seen = key.load(Ordering::Acquire);
            if seen != BUSY {
                return Ok(seen);
            }
            if spin % 64 == 63 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        Err(ShmError::Busy { slot: index })
    }

    /// The slot holding `h`'s counter for the window ending at `expires_at`, if any, among the
    /// first `upto` of its probe sequence.
    fn find(&self, h: u64, expires_at: u64, upto: usize) -> Result<Option<u64>, ShmError> {
        for i in 0..upto {
            let index = self.probe(h, i);
            let key = self.settled_key(index)?;
            if key == EMPTY {
                return Ok(None);
            }
            if key == h && expiry(self.slot(index)?.1.load(Ordering::Acquire)) == expires_at {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    /// The slot of `h`'s counter for this window, claimed for it when it has none.
    fn find_or_claim(&self, h: u64, expires_at: u64, now: u64) -> Result<u64, ShmError> {
        let mut last = 0;
        for _ in 0..MAX_RESTARTS {
            let mut free = None; // (position in the sequence, slot, key seen there)
            for i in 0..self.probes() {
                let index = self.probe(h, i);
                let key = self.settled_key(index)?;
                if key == EMPTY {
                    free = free.or(Some((i, index, key)));
                    break;
                }
                let state = self.slot(index)?.1.load(Ordering::Acquire);
                if key == h && expiry(state) == expires_at {
                    return Ok(index);
                }
                if free.is_none() && expiry(state) <= now {
                    free = Some((i, index, key));
                }
            }
            let Some((position, index, seen)) = free else {
                return Err(ShmError::Full { slots: self.slots, probes: self.probes() as u64 });
            };
            last = index;
            let (key, state) = self.slot(index)?;
            if key.compare_exchange(seen, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue; // taken meanwhile: look again
            }
            let fresh = pack(expires_at as u32, 0);
            state.store(fresh, Ordering::Release);
            key.store(h, Ordering::Release);
            // Another process may have claimed `h` in an earlier slot, one that was live for
            // us and expired for it: the earlier one is the one every lookup finds first.
            if let Some(earlier) = self.find(h, expires_at, position)? {
                let moved = state.swap(pack(0, 0), Ordering::AcqRel);
                if count(moved) > 0 {
                    self.add_unchecked(earlier, expires_at, count(moved))?;
                }
                return Ok(earlier);
            }
            return Ok(index);
        }
        Err(ShmError::Busy { slot: last })
    }

    fn add_unchecked(&self, index: u64, expires_at: u64, n: u64) -> Result<(), ShmError> {
        let state = self.slot(index)?.1;
        let mut current = state.load(Ordering::Acquire);
        while expiry(current) == expires_at {
            let next = pack(
                expires_at as u32,
                count(current).saturating_add(n).min(u64::from(u32::MAX)) as u32,
            );
            match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
        Ok(())
    }

    /// Adds `n` to `key`'s count in the window ending at `expires_at` (unix seconds), unless
    /// the count would pass `limit`; `now` judges which other windows are over.
    pub fn increment(&self, key: &[u8], n: u64, limit: u64, expires_at: u64, now: u64) -> Result<Increment, ShmError> {
        let n = check_count(n)?;
        let expires_at = check_window(expires_at, now)?;
        let limit = limit.min(u64::from(u32::MAX));
        let h = self.hash(key);
        for _ in 0..MAX_RESTARTS {
            let index = self.find_or_claim(h, expires_at, now)?;
            let state = self.slot(index)?.1;
            let mut current = state.load(Ordering::Acquire);
            while expiry(current) == expires_at {
                let counted = count(current) + n;
                if counted > limit {
                    return Ok(Increment::Refused(count(current)));
                }
                let next = pack(expires_at as u32, counted as u32);
                match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Ok(Increment::Counted(counted)),
                    Err(seen) => current = seen,
                }
            }
            // the slot was handed back to an earlier one meanwhile: find the key again
        }
        Err(ShmError::Busy { slot: self.probe(h, 0) })
    }

    /// `key`'s count in the window ending at `expires_at` (0 when it has none).
    pub fn get(&self, key: &[u8], expires_at: u64) -> Result<u64, ShmError> {
        let h = self.hash(key);
        Ok(match self.find(h, expires_at, self.probes())? {
            Some(index) => count(self.slot(index)?.1.load(Ordering::Acquire)),
            None => 0,
        })
    }

    /// Takes `n` back from `key`'s count in the window ending at `expires_at` (not below 0):
    /// undoes an increment that a later check refused.
    pub fn decrement(&self, key: &[u8], n: u64, expires_at: u64) -> Result<(), ShmError> {
        let h = self.hash(key);
        let Some(index) = self.find(h, expires_at, self.probes())? else {
            return Ok(());
        };
        let state = self.slot(index)?.1;
        let mut current = state.load(Ordering::Acquire);
        while expiry(current) == expires_at {
            let next = pack(expires_at as u32, count(current).saturating_sub(n) as u32);
            match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
        Ok(())
    }

    /// How many slots hold a window not over at `now`.
    pub fn live(&self, now: u64) -> u64 {
        (0..self.slots)
            .filter(|&index| {
                self.slot(index).is_ok_and(|(key, state)| {
                    key.load(Ordering::Acquire) > BUSY && expiry(state.load(Ordering::Acquire)) > now
                })
            })
            .count() as u64
    }
}

fn check_count(n: u64) -> Result<u64, ShmError> {
    if n == 0 || n > u64::from(u32::MAX) {
        return Err(ShmError::Argument(format!(
            "cannot count {n} at once (1 to {})",
            u32::MAX
        )));
    }
    Ok(n)
}

fn check_window(expires_at: u64, now: u64) -> Result<u64, ShmError> {
    if expires_at > u64::from(u32::MAX) {
        return Err(ShmError::Argument(format!(
            "window end {expires_at} is past 2106"
        )));
    }
    if expires_at <= now {
        return Err(ShmError::Argument(format!(
            "window ending at {expires_at} is over at {now}"
        )));
    }
    Ok(expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn counts_up_to_the_limit_then_refuses_without_counting() {
        let table = CounterTable::anonymous(1024).unwrap();
        for expected in 1..=3 {
            assert_eq!(
                table.increment(b"k", 1, 3, NOW + 60, NOW).unwrap(),
                Increment::Counted(expected)
            );
        }
        assert_eq!(
            table.increment(b"k", 1, 3, NOW + 60, NOW).unwrap(),
            Increment::Refused(3)
        );
        assert_eq!(table.get(b"k", NOW + 60).unwrap(), 3);
        assert_eq!(
            table.increment(b"k", 2, 4, NOW + 60, NOW).unwrap(),
            Increment::Refused(3)
        );
        assert_eq!(
            table.increment(b"k", 1, 4, NOW + 60, NOW).unwrap(),
            Increment::Counted(4)
        );
    }

    #[test]
    fn keys_and_windows_count_apart() {
        let table = CounterTable::anonymous(1024).unwrap();
        table.increment(b"a", 5, 10, NOW + 60, NOW).unwrap();
        table.increment(b"b", 1, 10, NOW + 60, NOW).unwrap();
        table.increment(b"a", 1, 10, NOW + 120, NOW).unwrap();
        assert_eq!(table.get(b"a", NOW + 60).unwrap(), 5);
        assert_eq!(table.get(b"b", NOW + 60).unwrap(), 1);
        assert_eq!(table.get(b"a", NOW + 120).unwrap(), 1);
        assert_eq!(table.get(b"c", NOW + 60).unwrap(), 0);
    }

    #[test]
    fn decrement_undoes_an_increment_and_stops_at_zero() {
        let table = CounterTable::anonymous(64).unwrap();
        table.increment(b"k", 2, 10, NOW + 1, NOW).unwrap();
        table.decrement(b"k", 1, NOW + 1).unwrap();
        assert_eq!(table.get(b"k", NOW + 1).unwrap(), 1);
        table.decrement(b"k", 5, NOW + 1).unwrap();
        assert_eq!(table.get(b"k", NOW + 1).unwrap(), 0);
        table.decrement(b"absent", 1, NOW + 1).unwrap();
    }

    #[test]
    fn a_full_table_refuses_new_keys_with_an_error_and_reuses_expired_slots() {
        let table = CounterTable::anonymous(4).unwrap();
        for key in [b"a", b"b", b"c", b"d"] {
            table.increment(key, 1, 10, NOW + 1, NOW).unwrap();
        }
        assert_eq!(table.live(NOW), 4);
        let err = table.increment(b"e", 1, 10, NOW + 1, NOW).unwrap_err();
        assert_eq!(err, ShmError::Full { slots: 4, probes: 4 });
        assert!(err.to_string().contains("full"), "{err}");
        // the keys already there still count
        assert_eq!(
            table.increment(b"a", 1, 10, NOW + 1, NOW).unwrap(),
            Increment::Counted(2)
        );
        // a second later their windows are over: every slot may be taken again
        for key in [b"e", b"f", b"g", b"h"] {
            assert_eq!(
                table.increment(key, 1, 10, NOW + 2, NOW + 1).unwrap(),
                Increment::Counted(1)
            );
        }
        assert_eq!(table.live(NOW + 1), 4);
        assert_eq!(table.get(b"a", NOW + 1).unwrap(), 0);
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        let table = CounterTable::anonymous(8).unwrap();
        assert!(matches!(
            table.increment(b"k", 0, 1, NOW + 1, NOW),
            Err(ShmError::Argument(_))
        ));
        assert!(matches!(
            table.increment(b"k", 1, 1, NOW, NOW),
            Err(ShmError::Argument(_))
        ));
        assert!(matches!(
            table.increment(b"k", 1, 1, u64::MAX, NOW),
            Err(ShmError::Argument(_))
        ));
        assert!(matches!(
            CounterTable::anonymous(0),
            Err(ShmError::Layout { .. })
        ));
        assert!(matches!(
            CounterTable::anonymous(u64::MAX),
            Err(ShmError::Layout { .. })
        ));
        // a limit past what a slot holds counts up to that
        assert_eq!(
            table.increment(b"k", 1, u64::MAX, NOW + 1, NOW).unwrap(),
            Increment::Counted(1)
        );
    }

    #[test]
    fn threads_counting_together_never_pass_the_limit() {
        let table = Arc::new(CounterTable::anonymous(4096).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let table = Arc::clone(&table);
                std::thread::spawn(move || {
                    (0..5000)
                        .filter(|i| {
                            let key = format!("key{}", i % 16);
                            matches!(
                                table.increment(key.as_bytes(), 1, 1000, NOW + 60, NOW),
                                Ok(Increment::Counted(_))
                            )
                        })
                        .count()
                })
            })
            .collect();
        let counted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(counted, 16 * 1000);
        for i in 0..16 {
            assert_eq!(table.get(format!("key{i}").as_bytes(), NOW + 60).unwrap(), 1000);
        }
    }

    #[test]
    fn two_mappings_of_one_file_count_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counters");
        let created = CounterTable::create(&path, 128).unwrap();
        let opened = CounterTable::open(&path).unwrap();
        assert_eq!(opened.slots(), 128);
        created.increment(b"k", 1, 2, NOW + 60, NOW).unwrap();
        assert_eq!(
            opened.increment(b"k", 1, 2, NOW + 60, NOW).unwrap(),
            Increment::Counted(2)
        );
        assert_eq!(
            created.increment(b"k", 1, 2, NOW + 60, NOW).unwrap(),
            Increment::Refused(2)
        );
    }

    #[test]
    fn open_refuses_a_file_that_is_not_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stray");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        assert!(matches!(CounterTable::open(&path), Err(ShmError::Layout { .. })));
        let short = dir.path().join("short");
        CounterTable::create(&short, 128).unwrap();
        std::fs::OpenOptions::new().write(true).open(&short).unwrap().set_len(256).unwrap();
        assert!(matches!(
            CounterTable::open(&short),
            Err(ShmError::Layout { .. })
        ));
    }

    #[test]
    fn the_default_size_is_kongs_twelve_megabytes() {
        assert_eq!(CounterTable::slots_for(COUNTERS_BYTES), 786_428);
    }
}
