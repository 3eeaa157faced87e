//! Consistent hashing on Kong's ring (its `consistent-hashing` algorithm, a Ketama continuum).
//!
//! The ring has `slots` positions (Kong's wheel size: the upstream's `slots`, or 1000 when
//! that is below 1000). Each target takes `floor(weight / total weight * targets * 160)`
//! positions (at least one when its weight is above 0), placed at `xxhash32("<host>::<port>
//! <i>") % slots` for i = 1, 2, ...; a position already taken moves the target's entry to its
//! next i. Targets are placed in the order of their host then port, so the ring is the same
//! whatever the order of the config, in every worker and every node. A request's value lands
//! at `xxhash32(value) % slots`; the target is the first entry found from there going down
//! the ring (wrapping round). Removing a target frees only its own entries: the keys that
//! landed on the others stay where they were, about 1/N of the keys move.
//!
//! Kong's names are `ip::port i` (a second colon before the port): kept, so a ring of IP
//! targets places keys where Kong's does.

use super::error::BalancerError;
use super::Address;

/// Kong's wheel size when `slots` is below it.
const MIN_POINTS: u32 = 1000;
/// Kong's entries per target when every target has the same weight.
const SERVER_POINTS: f64 = 160.0;
/// Marks a ring position that no target holds.
const FREE: u16 = u16::MAX;

/// The ring of one balancer: position -> index of a live target.
#[derive(Debug)]
pub struct Ring {
    positions: Vec<u16>,
}

impl Ring {
    /// Places `targets` (the live ones, weight above 0, indexed as given) on a ring of
    /// `slots` positions. Fails when they need more entries than the ring has room for.
    pub fn new(targets: &[(&Address, u32)], slots: u32) -> Result<Ring, BalancerError> {
        let points = if slots >= MIN_POINTS {
            slots
        } else {
            MIN_POINTS
        };
        if targets.len() >= usize::from(FREE) {
            return Err(BalancerError::upstream(format!(
                "consistent-hashing balances at most {} targets, {} given",
                FREE - 1,
                targets.len()
            )));
        }
        let mut positions = vec![FREE; points as usize];
        let total: f64 = targets.iter().map(|&(_, w)| f64::from(w)).sum();
        let count = targets.len() as f64;
        let mut order: Vec<usize> = (0..targets.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (targets[a].0, targets[b].0);
            x.host.cmp(&y.host).then(x.port.cmp(&y.port))
        });
        let mut free = points as usize;
        let mut name = String::new();
        for index in order {
            let (address, weight) = targets[index];
            let mut entries = (f64::from(weight) / total * count * SERVER_POINTS).floor() as u64;
            if weight > 0 && entries == 0 {
                entries = 1;
            }
            let mut i: u64 = 1;
            while i <= entries {
                if free == 0 || i > u64::from(points) {
                    return Err(BalancerError::upstream(format!(
                        "consistent-hashing: the ring of {points} slots has no room for the entries of {} targets \
                         (each takes about 160 times its share of the weight times the number of targets): \
                         raise the upstream's slots",
                        targets.len()
                    )));
                }
                name.clear();
                use std::fmt::Write;
                let _ = write!(name, "{}::{} {}", address.host, address.port, i);
                let at = (xxhash32(name.as_bytes()) % points) as usize;
                if positions[at] == FREE {
                    positions[at] = index as u16;
                    free -= 1;
                } else {
                    entries += 1; // Kong moves the problem forward: one more entry to place
                }
                i += 1;
            }
        }
        Ok(Ring { positions })
    }

    #[cfg(test)]
    /// The number of positions.
    pub fn points(&self) -> u32 {
        self.positions.len() as u32
    }

    /// The live target for `value`: the first entry at or below the value's position, going
    /// down and wrapping round, skipping the targets `skip` says to (those tried already).
    /// None when the ring holds no target that is not skipped.
    pub fn find(&self, value: &[u8], skip: impl Fn(usize) -> bool) -> Option<usize> {
        let points = self.positions.len();
        if points == 0 {
            return None;
        }
        let start = (xxhash32(value) as usize) % points;
        let (below, above) = self.positions.split_at(start + 1);
        below.iter().rev().chain(above.iter().rev()).find_map(|&slot| {
            let slot = usize::from(slot);
            (slot != usize::from(FREE) && !skip(slot)).then_some(slot)
        })
    }

    #[cfg(test)]
    /// How many positions each live target holds (by index, `len` of them).
    pub fn shares(&self, len: usize) -> Vec<usize> {
        let mut shares = vec![0; len];
        for &slot in &self.positions {
            if let Some(share) = shares.get_mut(usize::from(slot)) {
                *share += 1;
            }
        }
        shares
    }
}

const PRIME1: u32 = 0x9E37_79B1;
const PRIME2: u32 = 0x85EB_CA77;
const PRIME3: u32 = 0xC2B2_AE3D;
const PRIME4: u32 = 0x27D4_EB2F;
const PRIME5: u32 = 0x1656_67B1;

fn read32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn lane(acc: u32, input: u32) -> u32 {
    acc.wrapping_add(input.wrapping_mul(PRIME2)).rotate_left(13).wrapping_mul(PRIME1)
}

/// XXH32 with seed 0: the hash Kong's ring uses (`luaxxhash`).
pub fn xxhash32(input: &[u8]) -> u32 {
    let len = input.len();
    let mut rest = input;
    let mut h = if len >= 16 {
        let mut v = [PRIME1.wrapping_add(PRIME2), PRIME2, 0, 0u32.wrapping_sub(PRIME1)];
        while rest.len() >= 16 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = lane(*acc, read32(&rest[i * 4..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        PRIME5
    };
    h = h.wrapping_add(len as u32);
    while rest.len() >= 4 {
        h = h.wrapping_add(read32(rest).wrapping_mul(PRIME3)).rotate_left(17).wrapping_mul(PRIME4);
        rest = &rest[4..];
    }
    for &byte in rest {
        h = h.wrapping_add(u32::from(byte).wrapping_mul(PRIME5)).rotate_left(11).wrapping_mul(PRIME1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(PRIME2);
    h ^= h >> 13;
    h = h.wrapping_mul(PRIME3);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(n: usize) -> Vec<Address> {
        (0..n).map(|i| Address { host: format!("10.0.0.{}", i + 1), port: 80 }).collect()
    }

    fn ring(addresses: &[Address], weights: &[u32], slots: u32) -> Ring {
        let targets: Vec<(&Address, u32)> = addresses.iter().zip(weights.iter().copied()).collect();
        Ring::new(&targets, slots).unwrap()
    }

    #[test]
    fn xxhash32_known_values() {
        assert_eq!(xxhash32(b""), 0x02CC_5D05);
        assert_eq!(xxhash32(b"a"), 0x550D_7456);
        assert_eq!(xxhash32(b"abc"), 0x32D1_53FF);
        assert_eq!(xxhash32(b"Nobody inspects the spammish repetition"), 0xE229_3B2F);
    }

    #[test]
    fn a_key_always_lands_on_the_same_target_whatever_the_config_order() {
        let a = addresses(4);
        let mut reversed = a.clone();
        reversed.reverse();
        let first = ring(&a, &[100; 4], 10000);
        let second = ring(&reversed, &[100; 4], 10000);
        for key in 0..500 {
            let key = format!("client-{key}");
            let x = first.find(key.as_bytes(), |_| false).unwrap();
            let y = second.find(key.as_bytes(), |_| false).unwrap();
            assert_eq!(a[x], reversed[y], "{key}");
        }
    }

    #[test]
    fn shares_follow_the_weights() {
        let a = addresses(3);
        let r = ring(&a, &[100, 100, 200], 10000);
        // 3 targets: 120, 120 and 240 entries
        assert_eq!(r.shares(3), [120, 120, 240]);
        let mut hits = [0usize; 3];
        for key in 0..20000 {
            hits[r.find(format!("k{key}").as_bytes(), |_| false).unwrap()] += 1;
        }
        // the heavier target gets about half the keys
        assert!((8000..12000).contains(&hits[2]), "{hits:?}");
        assert!(hits[0] > 3000 && hits[1] > 3000, "{hits:?}");
    }

    #[test]
    fn removing_a_target_moves_only_its_keys() {
        let a = addresses(5);
        let full = ring(&a, &[100; 5], 10000);
        let fewer = ring(&a[..4], &[100; 4], 10000);
        let keys = 10000;
        let mut moved = 0;
        for key in 0..keys {
            let key = format!("user-{key}");
            let before = full.find(key.as_bytes(), |_| false).unwrap();
            let after = fewer.find(key.as_bytes(), |_| false).unwrap();
            if before != 4 {
                // keys of the remaining targets stay... unless a collision placed an entry
                // differently, which moves only a few
                if a[before] != a[after] {
                    moved += 1;
                }
            }
        }
        // with 5 targets, 1/5 of the keys were on the removed one; the others move rarely
        assert!(moved < keys / 50, "{moved} keys of the remaining targets moved");
    }

    #[test]
    fn skipped_targets_give_the_next_entry_down_the_ring() {
        let a = addresses(3);
        let r = ring(&a, &[100; 3], 1000);
        for key in 0..200 {
            let key = format!("{key}");
            let first = r.find(key.as_bytes(), |_| false).unwrap();
            let second = r.find(key.as_bytes(), |i| i == first).unwrap();
            assert_ne!(first, second);
            let third = r.find(key.as_bytes(), |i| i == first || i == second).unwrap();
            assert!(third != first && third != second);
            assert_eq!(r.find(key.as_bytes(), |_| true), None);
        }
    }

    #[test]
    fn a_small_slots_value_is_kongs_minimum() {
        let a = addresses(2);
        assert_eq!(ring(&a, &[1, 1], 10).points(), 1000);
        assert_eq!(ring(&a, &[1, 1], 65536).points(), 65536);
    }

    #[test]
    fn too_many_targets_for_the_ring_is_an_error() {
        let a = addresses(100);
        let targets: Vec<(&Address, u32)> = a.iter().map(|x| (x, 100)).collect();
        let err = Ring::new(&targets, 10000).unwrap_err();
        assert!(err.to_string().contains("raise the upstream's slots"), "{err}");
        assert!(Ring::new(&targets, 65536).is_ok());
    }

    #[test]
    fn an_empty_ring_finds_nothing() {
        let r = Ring::new(&[], 1000).unwrap();
        assert_eq!(r.find(b"x", |_| false), None);
    }
}
