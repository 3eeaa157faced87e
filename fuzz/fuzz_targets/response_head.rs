//! The response head parser on arbitrary bytes: no panic, and a head is read the same without
//! what follows it, and not before its end.
#![no_main]

use gantry_core::http::parse_response_head;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_response_head(data) {
        assert!(head.length <= data.len());
        assert_eq!(parse_response_head(&data[..head.length]), Ok(Some(head.clone())));
        assert_eq!(parse_response_head(&data[..head.length - 1]), Ok(None));
    }
});
