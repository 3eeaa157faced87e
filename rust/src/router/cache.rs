//! A bounded map from request keys to router results (matches and misses alike).
//!
//! Two generations of at most `capacity / 2` entries each: lookups that hit the old
//! generation move the entry to the current one, and when the current generation is full it
//! becomes the old one and the previous old one is dropped. Recently used keys therefore
//! survive, the size never exceeds `capacity`, and every operation is O(1) with no list
//! bookkeeping on a hit.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct MatchCache<V> {
    half: usize,
    generations: Mutex<Generations<V>>,
}

struct Generations<V> {
    current: HashMap<Box<str>, V>,
    old: HashMap<Box<str>, V>,
}

impl<V: Clone> MatchCache<V> {
    /// A cache holding at most `capacity` entries; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        let half = if capacity == 0 {
            0
        } else {
            capacity.div_ceil(2)
        };
        MatchCache { half, generations: Mutex::new(Generations { current: HashMap::new(), old: HashMap::new() }) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        if self.half == 0 {
            return None;
        }
        let mut g = self.lock();
        if let Some(v) = g.current.get(key) {
            return Some(v.clone());
        }
        let (k, v) = g.old.remove_entry(key)?;
        self.insert_locked(&mut g, k, v.clone());
        Some(v)
    }

    pub fn insert(&self, key: Box<str>, value: V) {
        if self.half == 0 {
            return;
        }
        let mut g = self.lock();
        self.insert_locked(&mut g, key, value);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.old.len()
    }

    fn insert_locked(&self, g: &mut Generations<V>, key: Box<str>, value: V) {
        if g.current.len() >= self.half && !g.current.contains_key(&key) {
            g.old = std::mem::take(&mut g.current);
        }
        g.current.insert(key, value);
    }

    /// A poisoned lock only means another thread panicked mid-operation; the maps are still
    /// consistent (every operation is a single insert/remove), so keep using them.
    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<V>> {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_hits_and_misses() {
        let c: MatchCache<Option<u32>> = MatchCache::new(8);
        c.insert("a".into(), Some(1));
        c.insert("b".into(), None);
        assert_eq!(c.get("a"), Some(Some(1)));
        assert_eq!(c.get("b"), Some(None));
        assert_eq!(c.get("c"), None);
    }

    #[test]
    fn stays_bounded_and_keeps_recent_keys() {
        let c: MatchCache<u32> = MatchCache::new(4);
        for i in 0..100 {
            c.insert(i.to_string().into(), i);
            // Key "0" is used all the time, so it survives every rotation.
            assert_eq!(c.get("0"), Some(0));
            assert!(c.len() <= 4);
        }
        assert_eq!(c.get("99"), Some(99));
        assert_eq!(c.get("50"), None);
    }

    #[test]
    fn zero_capacity_disables() {
        let c: MatchCache<u32> = MatchCache::new(0);
        c.insert("a".into(), 1);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.len(), 0);
    }
}
