//! The chunked decoder on arbitrary bytes: no panic, and the same result whether the input
//! comes whole, byte by byte or in reads of a length its own length picks (so that the corpus
//! files are fuzzed as they are).
#![no_main]

use gantry_core::http::chunked::{decode_reads, Decoded};
use gantry_core::http::{ChunkedError, ChunkedLimits};
use libfuzzer_sys::fuzz_target;

/// What `parts` fed in turn decode to (small limits, to reach them).
fn decode(parts: &[&[u8]]) -> Result<Decoded, ChunkedError> {
    decode_reads(
        ChunkedLimits { max_line: 64, max_trailers: 256 },
        parts.iter().copied(),
    )
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(&[data]);
    if let Ok(decoded) = &whole {
        assert!(decoded.payload.len() <= data.len() && decoded.end.is_none_or(|end| end <= data.len()));
    }
    for step in [1, data.len() % 13 + 2] {
        let parts: Vec<&[u8]> = data.chunks(step).collect();
        assert_eq!(decode(&parts), whole);
    }
});
