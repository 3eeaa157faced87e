//! The chunked decoder on arbitrary bytes: no panic, and the same result whether the input
//! comes whole, byte by byte or in reads of a length its own length picks (so that the corpus
//! files are fuzzed as they are).
#![no_main]

use gantry_core::http::{ChunkedDecoder, ChunkedError, ChunkedLimits};
use libfuzzer_sys::fuzz_target;

/// Payload and end of `parts` fed in turn, or the error.
fn decode(parts: &[&[u8]]) -> Result<(Vec<u8>, Option<usize>), ChunkedError> {
    let mut decoder = ChunkedDecoder::new(ChunkedLimits {
        max_line: 64,
        max_trailers: 256,
    });
    let (mut payload, mut offset, mut end) = (Vec::new(), 0, None);
    for part in parts {
        let feed = decoder.feed(part)?;
        payload.extend(feed.payload(part));
        if end.is_none() {
            end = feed.end.map(|at| offset + at);
        }
        offset += part.len();
    }
    Ok((payload, end))
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(&[data]);
    if let Ok((payload, end)) = &whole {
        assert!(payload.len() <= data.len() && end.is_none_or(|end| end <= data.len()));
    }
    for step in [1, data.len() % 13 + 2] {
        let parts: Vec<&[u8]> = data.chunks(step).collect();
        assert_eq!(decode(&parts), whole);
    }
});
