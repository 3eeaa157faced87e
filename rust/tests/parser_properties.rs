//! Property tests of the native HTTP parsers: the request head, the response head and the
//! chunked body decoder, on arbitrary bytes and on inputs built from a grammar of valid and
//! invalid pieces (mostly valid, so that accepted inputs and near misses are both frequent).
//!
//! What the proxy relies on: no input panics; a chunked body decodes the same whatever the
//! reads it arrives in; a valid message decodes to its payload and ends at its last byte, and
//! no truncation of it completes; an accepted head ends at its blank line, is read the same
//! without what follows it, and no truncation of it is accepted.
//!
//! Every case found to break one of these is kept in `tests/fuzz_corpus/` and replayed by
//! `corpus_replay.rs`.

use gantry_core::http::chunked::{decode_reads, Decoded, FORBIDDEN_TRAILERS};
use gantry_core::http::{parse_response_head, ChunkedError, ChunkedLimits, Limits, RequestHeadParser};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// 512 cases per property (well under a second each), or `PROPTEST_CASES` for longer runs;
/// nothing written to disk: what a run finds goes into the corpus by hand.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig { failure_persistence: None, ..ProptestConfig::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 512;
    }
    config
}

/// What a chunked input comes to in these reads, compared across splits.
fn decode_parts(parts: &[&[u8]]) -> Result<Decoded, ChunkedError> {
    decode_reads(ChunkedLimits::default(), parts.iter().copied())
}

/// `data` cut at the given points (any order, repeats allowed).
fn split<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(data.len() + 1)).collect();
    at.sort_unstable();
    let mut parts = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for cut in at {
        parts.push(&data[start..cut]);
        start = cut;
    }
    parts.push(&data[start..]);
    parts
}

const TCHAR: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";

fn bytes_of(alphabet: &'static [u8], size: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    vec(select(alphabet), size)
}

fn token() -> impl Strategy<Value = Vec<u8>> {
    bytes_of(TCHAR, 1..8)
}

/// A quoted string: qdtext and quoted pairs.
fn quoted() -> impl Strategy<Value = Vec<u8>> {
    let qdtext = (0u8..=255).prop_filter(
        "qdtext",
        |b| matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..),
    );
    let escaped = (0u8..=255).prop_filter("quoted-pair", |b| matches!(b, b'\t' | b' '..=0x7e | 0x80..));
    let piece = prop_oneof![3 => qdtext.prop_map(|b| vec![b]), 1 => escaped.prop_map(|b| vec![b'\\', b])];
    vec(piece, 0..6).prop_map(|pieces| [&b"\""[..], &pieces.concat(), b"\""].concat())
}

/// `;name` or `;name=value`.
fn extension() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![Just(None), token().prop_map(Some), quoted().prop_map(Some)];
    (token(), value).prop_map(|(name, value)| match value {
        Some(value) => [&b";"[..], &name, b"=", &value].concat(),
        None => [&b";"[..], &name].concat(),
    })
}

/// A chunk-size of `size`, in either case, with a few leading zeros (16 digits at most).
fn size_line(size: usize, upper: bool, zeros: usize, extensions: &[Vec<u8>]) -> Vec<u8> {
    let digits = if upper {
        format!("{size:X}")
    } else {
        format!("{size:x}")
    };
    let zeros = zeros.min(16 - digits.len());
    let mut line = [&"0".repeat(zeros), digits.as_str()].concat().into_bytes();
    line.extend(extensions.concat());
    line.extend_from_slice(b"\r\n");
    line
}

/// What may separate a field name from its value.
const COLONS: &[&[u8]] = &[b":", b": ", b":\t", b":  ", b": \t"];

/// A trailer field line the decoder accepts, its name and its value (the value's ends are not
/// whitespace, as the decoder reads it trimmed).
fn trailer() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>)> {
    let name = token().prop_filter("not a forbidden trailer", |name| {
        !FORBIDDEN_TRAILERS.iter().any(|forbidden| forbidden.as_bytes().eq_ignore_ascii_case(name))
    });
    let edge = (0u8..=255).prop_filter("VCHAR or obs-text", |b| matches!(b, 0x21..=0x7e | 0x80..));
    let inner = (0u8..=255).prop_filter(
        "VCHAR, obs-text, SP or HTAB",
        |b| matches!(b, b'\t' | 0x20..=0x7e | 0x80..),
    );
    let value = prop_oneof![
        Just(Vec::new()),
        (edge.clone(), vec(inner, 0..8), edge).prop_map(|(a, middle, b)| [vec![a], middle, vec![b]].concat()),
    ];
    let colon = select(COLONS);
    (name, colon, value).prop_map(|(name, colon, value)| ([&name[..], colon, &value].concat(), name, value))
}

/// A valid chunked message, its payload and its trailers.
#[derive(Debug, Clone)]
struct Message {
    bytes: Vec<u8>,
    payload: Vec<u8>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

fn message() -> impl Strategy<Value = Message> {
    let chunk = (
        vec(any::<u8>(), 1..48),
        any::<bool>(),
        0usize..3,
        vec(extension(), 0..3),
    );
    let last = (1usize..3, vec(extension(), 0..2));
    (vec(chunk, 0..5), last, vec(trailer(), 0..3)).prop_map(|(chunks, (zeros, last_extensions), trailers)| {
        let mut message = Message { bytes: Vec::new(), payload: Vec::new(), trailers: Vec::new() };
        for (data, upper, zeros, extensions) in chunks {
            message.bytes.extend(size_line(data.len(), upper, zeros, &extensions));
            message.bytes.extend(&data);
            message.bytes.extend_from_slice(b"\r\n");
            message.payload.extend(data);
        }
        message.bytes.extend(size_line(0, false, zeros - 1, &last_extensions));
        for (line, name, value) in trailers {
            message.trailers.push((name, value));
            message.bytes.extend(line);
            message.bytes.extend_from_slice(b"\r\n");
        }
        message.bytes.extend_from_slice(b"\r\n");
        message
    })
}

/// Pieces of chunked bodies, valid and not: sizes, extension parts, line ends, odd bytes.
const CHUNKED_PIECES: &[&[u8]] = &[
    b"0",
    b"1",
    b"5",
    b"a",
    b"F",
    b"10",
    b"00",
    b"ffffffffffffffff",
    b"10000000000000000",
    b"0x",
    b"+",
    b"-",
    b" ",
    b"\t",
    b";",
    b";a",
    b"=",
    b"=b",
    b"\"",
    b"\\",
    b"\"q\"",
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\r",
    b"\n",
    b"\x00",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"hello",
    b"x",
    b"0\r\n\r\n",
    b"0\r\n",
    b"X: y\r\n",
    b"Content-Length: 1\r\n",
    b":",
    b"X",
    b"Host: a\r\n",
    b" X: y\r\n",
    b"X : y\r\n",
    b"1\r\nx\r\n",
    b"3;e=\"v\"\r\nabc\r\n",
];

/// How chunked-looking input starts.
const NOISE_STARTS: &[&[u8]] = &[b"", b"1", b"5", b"a", b"0", b"1\r\n", b"3;e"];

/// Chunked-looking input: mostly pieces from the list, some arbitrary bytes, usually after a
/// valid start (else nearly everything fails at the first byte).
fn chunked_noise() -> impl Strategy<Value = Vec<u8>> {
    let start = select(NOISE_STARTS);
    let piece = prop_oneof![4 => select(CHUNKED_PIECES).prop_map(<[u8]>::to_vec), 1 => vec(any::<u8>(), 0..4)];
    (start, vec(piece, 0..32)).prop_map(|(start, pieces)| [start.to_vec(), pieces.concat()].concat())
}

/// A valid message with one byte changed, inserted or removed.
fn mutated_message() -> impl Strategy<Value = Vec<u8>> {
    (message(), any::<Index>(), any::<u8>(), 0..3u8).prop_map(|(message, at, byte, how)| {
        let mut bytes = message.bytes;
        let at = at.index(bytes.len());
        match how {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ => {
                bytes.remove(at);
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_decode_alike_in_any_reads(data in vec(any::<u8>(), 0..64), cuts in vec(any::<Index>(), 0..4)) {
        prop_assert_eq!(decode_parts(&split(&data, &cuts)), decode_parts(&[&data]));
    }

    #[test]
    fn chunked_looking_input_decodes_alike_in_any_reads(data in chunked_noise(), cuts in vec(any::<Index>(), 0..6)) {
        prop_assert_eq!(decode_parts(&split(&data, &cuts)), decode_parts(&[&data]));
    }

    #[test]
    fn mutated_messages_decode_alike_in_any_reads(data in mutated_message(), cuts in vec(any::<Index>(), 0..6)) {
        let whole = decode_parts(&[&data]);
        prop_assert_eq!(decode_parts(&split(&data, &cuts)), whole.clone());
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        prop_assert_eq!(decode_parts(&bytes), whole);
    }

    #[test]
    fn valid_messages_decode_to_their_payload_and_end_at_their_length(
        message in message(),
        tail in vec(any::<u8>(), 0..8),
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let data = [&message.bytes[..], &tail].concat();
        let expected = Decoded { payload: message.payload, end: Some(message.bytes.len()), trailers: message.trailers };
        prop_assert_eq!(decode_parts(&[&data]), Ok(expected));
        let whole = decode_parts(&[&data]);
        prop_assert_eq!(decode_parts(&split(&data, &cuts)), whole);
    }

    #[test]
    fn truncated_valid_messages_never_complete(message in message(), cut in any::<Index>()) {
        let cut = cut.index(message.bytes.len());
        let decoded = decode_parts(&[&message.bytes[..cut]]);
        prop_assert!(matches!(&decoded, Ok(Decoded { end: None, .. })), "{:?}", decoded);
        let payload = decoded.map(|decoded| decoded.payload).unwrap_or_default();
        prop_assert!(message.payload.starts_with(&payload));
    }
}

// -- heads --------------------------------------------------------------------------------------

fn request_parser() -> RequestHeadParser {
    let dropped = [
        "Keep-Alive",
        "Trailer",
        "Proxy",
        "X-Real-IP",
        "X-Forwarded-Proto",
        "X-Kong-Request-Id",
    ];
    RequestHeadParser::new(
        Limits { request_line: 8192, header_line: 8192, head: 32768, body: 1 << 20 },
        dropped.iter().map(|name| name.as_bytes().to_vec()).collect(),
        false,
    )
}

/// Pieces of heads, valid and not.
const HEAD_PIECES: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"get",
    b"CONNECT",
    b" ",
    b"  ",
    b"\t",
    b"/",
    b"/a?b=c",
    b"*",
    b"http://a/",
    b"#",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2",
    b"HTTP/1.1 200 OK",
    b"HTTP/1.0 204 No Content",
    b"HTTP/1.1 100 Continue",
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b"Host: a",
    b"Host:",
    b"Content-Length: 5",
    b"Content-Length: +1",
    b"Content-Length: 1, 1",
    b"Transfer-Encoding: chunked",
    b"Connection: close",
    b"Connection: keep-alive, X",
    b"X: y",
    b"X:y",
    b"X : y",
    b" folded",
    b":",
    b"\x00",
    b"\x7f",
    b"\x80",
    b"\xc3\xa9",
    b"Upgrade: websocket",
    b"Proxy-Connection: close",
    b"TE: trailers",
    b"Via: 1.1 a",
    b"hello",
];

fn head_noise() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![6 => select(HEAD_PIECES).prop_map(<[u8]>::to_vec), 1 => vec(any::<u8>(), 0..3)];
    vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

const PCHAR: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%";
const VALUE: &[u8] =
    b" \tabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Fields that the parsers read, frame or drop.
const SPECIAL_FIELDS: &[&[u8]] = &[
    b"Content-Length: 3",
    b"Content-Length: 0",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Via: 1.1 a",
    b"X-Forwarded-For: 10.0.0.1",
    b"TE: trailers",
    b"Keep-Alive: 5",
    b"Server: s",
    b"Transfer-Encoding: chunked",
];

/// Fields of a plain head: a few ordinary ones and some the parsers treat specially.
fn head_fields() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let special = select(SPECIAL_FIELDS).prop_map(<[u8]>::to_vec);
    let ordinary = (token(), select(COLONS), bytes_of(VALUE, 0..12))
        .prop_map(|(name, colon, value)| [&name[..], colon, &value].concat());
    vec(prop_oneof![special, ordinary], 0..5)
}

fn with_fields(start: Vec<u8>, fields: Vec<Vec<u8>>, tail: Vec<u8>) -> Vec<u8> {
    let mut head = start;
    head.extend_from_slice(b"\r\n");
    for field in fields {
        head.extend(field);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head.extend(tail);
    head
}

fn valid_request_head() -> impl Strategy<Value = Vec<u8>> {
    let method = select(&["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"][..]);
    let version = select(&["HTTP/1.1", "HTTP/1.0"][..]);
    let host = prop_oneof![Just(None), bytes_of(b"abcxyz.-0123456789", 1..10).prop_map(Some)];
    (
        method,
        bytes_of(PCHAR, 0..16),
        version,
        host,
        head_fields(),
        vec(any::<u8>(), 0..6),
    )
        .prop_map(|(method, target, version, host, mut fields, tail)| {
            if let Some(host) = host {
                fields.insert(0, [&b"Host: "[..], &host].concat());
            }
            let line = [method.as_bytes(), b" /", &target, b" ", version.as_bytes()].concat();
            with_fields(line, fields, tail)
        })
}

/// `head` with one byte changed.
fn mutated(head: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (head, any::<Index>(), any::<u8>()).prop_map(|(mut head, at, byte)| {
        let at = at.index(head.len());
        head[at] = byte;
        head
    })
}

fn request_heads() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![2 => valid_request_head(), 1 => mutated(valid_request_head()), 1 => head_noise()]
}

fn valid_response_head() -> impl Strategy<Value = Vec<u8>> {
    let version = select(&["HTTP/1.1", "HTTP/1.0"][..]);
    let status = prop_oneof![select(&[200u16, 204, 304, 101, 100, 404, 500][..]), 100u16..1000];
    (
        version,
        status,
        bytes_of(VALUE, 0..10),
        head_fields(),
        vec(any::<u8>(), 0..6),
    )
        .prop_map(|(version, status, reason, fields, tail)| {
            let line = [version.as_bytes(), format!(" {status} ").as_bytes(), &reason].concat();
            with_fields(line, fields, tail)
        })
}

fn response_heads() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![2 => valid_response_head(), 1 => mutated(valid_response_head()), 1 => head_noise()]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_heads_never_panic(data in vec(any::<u8>(), 0..96)) {
        let _ = request_parser().parse(&data);
    }

    #[test]
    fn an_accepted_request_head_ends_at_its_blank_line_whatever_follows(data in request_heads()) {
        let parser = request_parser();
        if let Ok(Some(head)) = parser.parse(&data) {
            let length = head.length;
            prop_assert!(length <= data.len() && data[..length].ends_with(b"\r\n\r\n"));
            prop_assert_eq!(data.windows(4).position(|w| w == b"\r\n\r\n"), Some(length - 4));
            prop_assert_eq!(parser.parse(&data[..length]), Ok(Some(head)));
            for cut in 0..length {
                prop_assert!(!matches!(parser.parse(&data[..cut]), Ok(Some(_))), "a truncation accepted: {:?}", &data[..cut]);
            }
        }
    }

    #[test]
    fn response_heads_never_panic(data in vec(any::<u8>(), 0..96)) {
        let _ = parse_response_head(&data);
    }

    #[test]
    fn a_response_head_ends_at_its_blank_line_whatever_follows(data in response_heads()) {
        match parse_response_head(&data) {
            Ok(Some(head)) => {
                let length = head.length;
                prop_assert!(length <= data.len() && data[..length].ends_with(b"\n"));
                prop_assert_eq!(parse_response_head(&data[..length]), Ok(Some(head.clone())));
                for cut in 0..length {
                    prop_assert_eq!(parse_response_head(&data[..cut]), Ok(None), "cut at {}", cut);
                }
                // empty lines before the status line are part of the head, as llhttp reads it
                // (so the first blank line need not end it)
                if head.plain {
                    prop_assert!(data[..length].ends_with(b"\r\n\r\n"));
                }
            }
            Ok(None) => {
                for cut in 0..data.len() {
                    prop_assert_eq!(parse_response_head(&data[..cut]), Ok(None), "cut at {}", cut);
                }
            }
            Err(_) => {}
        }
    }
}
