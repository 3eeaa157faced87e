//! A fast non-cryptographic hasher for the index maps and the ids an update drops (the multiply-rotate scheme of rustc's
//! FxHash), several times cheaper than the default SipHash on short strings.
//!
//! SipHash guards a map against keys chosen to collide. The keys here come only from the
//! configuration; requests only look keys up, and a lookup costs one probe sequence whatever
//! the string, so there is nothing for a client to flood.

use std::hash::{BuildHasherDefault, Hasher};

pub type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<FastHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_differ_only_in_their_tail_hash_apart() {
        let mut map: FastMap<Box<str>, u32> = FastMap::default();
        for (i, key) in ["/api/v1", "/api/v2", "/api/v1/", "/", "", "/abcdefgh", "/abcdefgh1"].iter().enumerate() {
            map.insert((*key).into(), i as u32);
        }
        assert_eq!(map.len(), 7);
        assert_eq!(map.get("/api/v1/"), Some(&2));
        assert_eq!(map.get("/abcdefgh1"), Some(&6));
        assert_eq!(map.get("/api/v3"), None);
    }
}
