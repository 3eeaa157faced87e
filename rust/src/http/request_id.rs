//! Request ids: 32 hex digits, the shape of Kong's `$kong_request_id`.
//!
//! A process-wide 128-bit sequence: the high half drawn at random when the process (or a
//! forked worker) seeds it, the low half counting. Unique across workers and restarts without
//! a random draw per request.

use std::sync::atomic::{AtomicU64, Ordering};

static PREFIX: AtomicU64 = AtomicU64::new(0);
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Starts a new sequence under `prefix` (a random number the caller drew).
pub fn seed(prefix: u64) {
    PREFIX.store(prefix, Ordering::Relaxed);
    COUNTER.store(0, Ordering::Relaxed);
}

/// The next id, as ASCII hex digits.
pub fn next() -> [u8; 32] {
    let low = COUNTER.fetch_add(1, Ordering::Relaxed);
    let value = (u128::from(PREFIX.load(Ordering::Relaxed)) << 64) | u128::from(low);
    let mut out = [0u8; 32];
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[((value >> (124 - 4 * i)) & 15) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_seeded_sequence() {
        seed(0xfeed);
        let first = next();
        assert_eq!(&first, b"000000000000feed0000000000000000");
        assert_eq!(&next(), b"000000000000feed0000000000000001");
    }
}
