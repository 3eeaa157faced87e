//! SipHash-2-4 with a 128-bit key: where a shared table places a key.
//!
//! Keys come from requests (a header's value, a client address), so placement must not be
//! predictable: colliding keys would lengthen probe sequences until the table refuses new
//! keys. The key is drawn when a region is created and stored in its header, so every process
//! mapping the region hashes alike (std's hashers are keyed per process, so unusable here).

struct State {
    v: [u64; 4],
}

impl State {
    fn new(k0: u64, k1: u64) -> State {
        State {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    fn round(&mut self) {
        let v = &mut self.v;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    fn absorb(&mut self, word: u64) {
        self.v[3] ^= word;
        self.round();
        self.round();
        self.v[0] ^= word;
    }
}

/// The 64-bit SipHash-2-4 of `data` under the key `(k0, k1)`.
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut state = State::new(k0, k1);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        state.absorb(u64::from_le_bytes(word));
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    state.absorb(u64::from_le_bytes(last));
    state.v[2] ^= 0xff;
    for _ in 0..4 {
        state.round();
    }
    state.v[0] ^ state.v[1] ^ state.v[2] ^ state.v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(deprecated)]
    use std::hash::{Hasher, SipHasher};

    fn reference(k0: u64, k1: u64, data: &[u8]) -> u64 {
        // std's own SipHash-2-4 (deprecated as a public API, still a reference to test against)
        #[allow(deprecated)]
        let mut hasher = SipHasher::new_with_keys(k0, k1);
        hasher.write(data);
        hasher.finish()
    }

    #[test]
    fn agrees_with_std_for_every_length_around_the_word_size() {
        let data: Vec<u8> = (0u8..40).collect();
        for len in 0..data.len() {
            assert_eq!(
                siphash24(1, 2, &data[..len]),
                reference(1, 2, &data[..len]),
                "length {len}"
            );
        }
    }

    #[test]
    fn the_key_changes_the_hash() {
        assert_ne!(siphash24(1, 2, b"ratelimit"), siphash24(3, 4, b"ratelimit"));
    }
}
