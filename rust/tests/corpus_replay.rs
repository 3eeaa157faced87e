//! Replays `tests/fuzz_corpus/`: every case the parser properties and the differential tests
//! found, and seeds, one file each, its expected verdict the first word of its name (see the
//! corpus README). The Python differential tests replay the same files against llhttp.

use std::fs;
use std::path::{Path, PathBuf};

use gantry_core::http::chunked::{decode_reads, Decoded};
use gantry_core::http::{parse_response_head, ChunkedLimits, Limits, RequestHeadParser};

/// `(verdict, bytes, file name)` of every case of one parser.
fn cases(parser: &str) -> Vec<(String, Vec<u8>, String)> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fuzz_corpus", parser].iter().collect();
    let mut found: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "bin"))
        .map(|path| {
            let name = file_name(&path);
            let verdict = name.split('-').next().unwrap_or_default().to_owned();
            (verdict, fs::read(&path).expect("a corpus file"), name)
        })
        .collect();
    found.sort_by(|a, b| a.2.cmp(&b.2));
    assert!(!found.is_empty(), "no case in {}", dir.display());
    found
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The verdict of the chunked decoder fed `parts`, and what it decoded.
fn chunked_verdict(parts: &[&[u8]]) -> (&'static str, Option<Decoded>) {
    match decode_reads(ChunkedLimits::default(), parts.iter().copied()) {
        Err(_) => ("error", None),
        Ok(decoded) if decoded.end.is_some() => ("complete", Some(decoded)),
        Ok(decoded) => ("partial", Some(decoded)),
    }
}

#[test]
fn chunked_cases_keep_their_verdict_in_any_reads() {
    for (verdict, data, name) in cases("chunked") {
        let whole = chunked_verdict(&[&data]);
        assert_eq!(whole.0, verdict, "{name}");
        for cut in 0..=data.len() {
            assert_eq!(
                chunked_verdict(&[&data[..cut], &data[cut..]]),
                whole,
                "{name} cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(chunked_verdict(&bytes), whole, "{name} byte by byte");
    }
}

#[test]
fn response_head_cases_keep_their_verdict() {
    for (verdict, data, name) in cases("response_head") {
        let found = match parse_response_head(&data) {
            Ok(Some(head)) if head.plain && head.body_length.is_some() => "fast",
            Ok(Some(_)) => "general",
            Ok(None) => "partial",
            Err(_) => "invalid",
        };
        assert_eq!(found, verdict, "{name}");
    }
}

#[test]
fn request_head_cases_keep_their_verdict() {
    let parser = RequestHeadParser::new(
        Limits { request_line: 8192, header_line: 8192, head: 32768, body: 1 << 20 },
        Vec::new(),
        false,
    );
    for (verdict, data, name) in cases("request_head") {
        let found = match parser.parse(&data) {
            Ok(Some(head)) if head.plain => "accept",
            _ => "decline",
        };
        assert_eq!(found, verdict, "{name}");
    }
}
