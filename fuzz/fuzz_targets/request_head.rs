//! The request head reader on arbitrary bytes: no panic, and an accepted head is read the same
//! without what follows it.
#![no_main]

use gantry_core::http::{Limits, RequestHeadParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { request_line: 8192, header_line: 8192, head: 32768, body: 1 << 20 };
    let parser = RequestHeadParser::new(limits, vec![b"keep-alive".to_vec()], false);
    if let Ok(Some(head)) = parser.parse(data) {
        assert!(head.length <= data.len());
        assert_eq!(parser.parse(&data[..head.length]), Ok(Some(head)));
    }
});
