//! The chunked transfer coding (RFC 9112 section 7.1), decoded incrementally and strictly.
//!
//! The proxy reads chunked bodies (upstream responses it relays, client requests) and must know
//! exactly where such a message ends: a byte after the end belongs to no message of this
//! exchange (a pipelined request, or an upstream connection that cannot be reused). The decoder accepts a
//! strict subset of what llhttp in strict mode accepts, so a message it accepts is framed the
//! same way by both, whichever of them reads it:
//!
//! * chunk-size: 1 to 16 hex digits, nothing else (no sign, no `0x`, no whitespace);
//! * chunk extensions: `;name` or `;name=value`, a token name and a token or quoted-string
//!   value, with no whitespace anywhere (llhttp refuses it around `;` and `=`);
//! * CRLF exactly after the size line, after the data and after each trailer line;
//! * trailer fields: a token name, `:`, a value of VCHAR, SP, HTAB or obs-text, and none of the
//!   fields that frame the message, route it or manage the connection.
//!
//! Memory is bounded: a size line is never buffered (it is read byte by byte, up to a length
//! limit), and the trailer section is kept only up to its own limit.
//!
//! `httparse::parse_chunk_size` is not used for the size line: it takes whitespace after the
//! size, an empty size (read as 0) and any octet inside extensions (bare LF, NUL, unbalanced
//! quotes), all of which llhttp refuses, and it needs the whole line in one buffer. What is
//! left once the strict grammar is checked here is a hex number of at most 16 digits. Nor is
//! `httparse::parse_headers` used for trailers: it reads whole blocks, and a bad trailer byte
//! must be an error as soon as it arrives (llhttp refuses it there, so a prefix this decoder
//! reads without error is one llhttp does too).

use std::fmt;
use std::ops::Range;

use super::headers::is_tchar;

/// Hex digits of a chunk size beyond this are an error: 16 digits cannot overflow a `u64`.
pub const MAX_SIZE_DIGITS: u8 = 16;

/// Trailer fields refused, compared case-insensitively. RFC 9110 section 6.5.1 lists what a
/// trailer must not carry; these are the fields that change how the message or the connection
/// is handled: llhttp reads `Content-Length` and `Transfer-Encoding` in a trailer section as in
/// a head (it refuses some of them, not all), and `Connection` and `Proxy-Connection` there
/// change its keep-alive verdict after the body. `Host` routes the request, `Trailer`, `TE`,
/// `Keep-Alive` and `Upgrade` have no meaning once the message is over.
pub const FORBIDDEN_TRAILERS: [&str; 9] = [
    "Content-Length",
    "Transfer-Encoding",
    "Host",
    "Connection",
    "Proxy-Connection",
    "Keep-Alive",
    "Upgrade",
    "TE",
    "Trailer",
];

/// Bounds on what one message may make the decoder scan or keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// Most bytes of a chunk-size line, extensions included, its CRLF not.
    pub max_line: usize,
    /// Most bytes of the trailer field lines, their CRLFs included, the final CRLF not.
    pub max_trailers: usize,
}

impl Default for ChunkedLimits {
    fn default() -> Self {
        ChunkedLimits { max_line: 4096, max_trailers: 16384 }
    }
}

/// What one `ChunkedDecoder::feed` call found in its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feed {
    /// The chunk data in the input, as ranges of it, in order.
    pub data: Vec<Range<usize>>,
    /// Once the message is complete: the offset in the input just past its final CRLF (0 when
    /// it ended in an earlier input). Whatever follows is not part of the message.
    pub end: Option<usize>,
}

impl Feed {
    /// Bytes of chunk data found in the input.
    pub fn payload_len(&self) -> usize {
        self.data.iter().map(Range::len).sum()
    }

    /// The chunk data found in `input` (the slice this feed was made from), joined.
    pub fn payload(&self, input: &[u8]) -> Vec<u8> {
        let mut payload = Vec::with_capacity(self.payload_len());
        for span in &self.data {
            payload.extend_from_slice(&input[span.clone()]);
        }
        payload
    }
}

/// Why a chunked body is malformed. Once one is returned, the decoder returns it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkedError {
    /// The size is not 1*HEXDIG followed by `;` or CRLF.
    InvalidChunkSize,
    /// The size has more than `MAX_SIZE_DIGITS` digits.
    ChunkSizeTooLong,
    /// A chunk extension is not `;token` or `;token=(token|quoted-string)`.
    InvalidExtension,
    /// The size line is longer than `ChunkedLimits::max_line`.
    SizeLineTooLong(usize),
    /// The size line ends otherwise than with CRLF (a bare CR or LF).
    SizeLineNotCrlf,
    /// The chunk data is not followed by CRLF.
    DataNotCrlf,
    /// A trailer line ends otherwise than with CRLF, or holds a bare CR or LF.
    TrailerLineNotCrlf,
    /// A trailer line does not start with a token followed by `:` (no whitespace before it,
    /// no obs-fold).
    InvalidTrailerName,
    /// A trailer value holds a byte other than VCHAR, SP, HTAB or obs-text.
    InvalidTrailerValue,
    /// The trailer section is longer than `ChunkedLimits::max_trailers`.
    TrailersTooLong(usize),
    /// A field in `FORBIDDEN_TRAILERS`, named as sent.
    ForbiddenTrailer(String),
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkedError::InvalidChunkSize => write!(f, "invalid chunk size"),
            ChunkedError::ChunkSizeTooLong => {
                write!(f, "chunk size of more than {MAX_SIZE_DIGITS} hex digits")
            }
            ChunkedError::InvalidExtension => write!(f, "invalid chunk extension"),
            ChunkedError::SizeLineTooLong(limit) => {
                write!(f, "chunk size line longer than {limit} bytes")
            }
            ChunkedError::SizeLineNotCrlf => write!(f, "chunk size line not ended by CRLF"),
            ChunkedError::DataNotCrlf => write!(f, "chunk data not followed by CRLF"),
            ChunkedError::TrailerLineNotCrlf => write!(f, "trailer line not ended by CRLF"),
            ChunkedError::InvalidTrailerName => write!(f, "invalid trailer field name"),
            ChunkedError::InvalidTrailerValue => write!(f, "invalid trailer field value"),
            ChunkedError::TrailersTooLong(limit) => {
                write!(f, "trailer section longer than {limit} bytes")
            }
            ChunkedError::ForbiddenTrailer(name) => write!(f, "forbidden trailer field {name}"),
        }
    }
}

impl std::error::Error for ChunkedError {}

/// Where a chunk extension is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extension {
    /// After `;`: a name must start.
    NameStart,
    Name,
    /// After `=`: a token or a quoted string must start.
    ValueStart,
    Token,
    Quoted,
    /// After a backslash inside a quoted string.
    QuotedPair,
    /// After the closing quote: `;` or CR only.
    QuotedEnd,
}

/// Where a trailer line is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trailer {
    /// At the start of a line: a field name or the section's final CRLF.
    LineStart,
    Name,
    Value,
    /// A field line's CR is read: its LF must follow.
    Lf,
    /// The final CR is read: its LF ends the message.
    EndLf,
}

/// Where a trailer field's name and value are in the section.
type FieldSpan = (Range<usize>, Range<usize>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading the size's hex digits: how many so far.
    Size(u8),
    Extension(Extension),
    /// The size line's CR is read: its LF must follow.
    SizeLf,
    /// Inside chunk data (`remaining` bytes of it left).
    Data,
    DataCr,
    DataLf,
    Trailer(Trailer),
    Done,
    Failed(ChunkedError),
}

/// One chunked message, decoded as its bytes arrive (split anywhere).
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    limits: ChunkedLimits,
    state: State,
    /// The current chunk size while its line is read; then the data bytes still to come.
    remaining: u64,
    /// Bytes of the current size line so far.
    line: usize,
    /// The trailer field lines as received, once the last chunk is read.
    trailers: Vec<u8>,
    /// Each trailer field, as ranges of `trailers`.
    fields: Vec<FieldSpan>,
    /// Where the current trailer line starts in `trailers`, and where its colon is.
    field: usize,
    colon: usize,
}

/// RFC 9110 qdtext: what a quoted string holds unescaped.
fn is_qdtext(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

/// RFC 9110 quoted-pair: what may follow a backslash.
fn is_escapable(byte: u8) -> bool {
    matches!(byte, b'\t' | b' '..=0x7e | 0x80..=0xff)
}

fn hex_value(byte: u8) -> Option<u64> {
    (byte as char).to_digit(16).map(u64::from)
}

impl ChunkedDecoder {
    /// A decoder for one message, at the start of its first chunk-size line.
    pub fn new(limits: ChunkedLimits) -> Self {
        ChunkedDecoder {
            limits,
            state: State::Size(0),
            remaining: 0,
            line: 0,
            trailers: Vec::new(),
            fields: Vec::new(),
            field: 0,
            colon: 0,
        }
    }

    /// The message ended (in this input or an earlier one).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The trailer fields, names as sent and values without surrounding whitespace; empty
    /// until the message is complete.
    pub fn trailers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|(name, value)| (&self.trailers[name.clone()], &self.trailers[value.clone()]))
    }

    /// Decodes the next bytes of the message. An error leaves the decoder failed, and the
    /// chunk data of this input is then not returned (the message is bad as a whole).
    pub fn feed(&mut self, input: &[u8]) -> Result<Feed, ChunkedError> {
        let mut feed = Feed::default();
        match self.run(input, &mut feed) {
            Ok(()) => Ok(feed),
            Err(error) => {
                self.state = State::Failed(error.clone());
                Err(error)
            }
        }
    }

    fn run(&mut self, input: &[u8], feed: &mut Feed) -> Result<(), ChunkedError> {
        let mut pos = 0;
        loop {
            match &self.state {
                State::Failed(error) => return Err(error.clone()),
                State::Done => {
                    feed.end = Some(pos);
                    return Ok(());
                }
                State::Data => {
                    // whole runs of data at once, not byte by byte
                    let left = input.len() - pos;
                    let take = usize::try_from(self.remaining).map_or(left, |remaining| remaining.min(left));
                    if take > 0 {
                        feed.data.push(pos..pos + take);
                        pos += take;
                        self.remaining -= take as u64;
                    }
                    if self.remaining > 0 {
                        return Ok(());
                    }
                    self.state = State::DataCr;
                }
                _ => {
                    let Some(&byte) = input.get(pos) else {
                        return Ok(());
                    };
                    pos += 1;
                    self.step(byte)?;
                }
            }
        }
    }

    /// One byte outside chunk data.
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match self.state {
            State::Size(digits) => {
                if let Some(digit) = hex_value(byte) {
                    if digits == MAX_SIZE_DIGITS {
                        return Err(ChunkedError::ChunkSizeTooLong);
                    }
                    self.remaining = self.remaining << 4 | digit;
                    self.count_line()?;
                    State::Size(digits + 1)
                } else if digits == 0 {
                    return Err(ChunkedError::InvalidChunkSize);
                } else if byte == b';' {
                    self.count_line()?;
                    State::Extension(Extension::NameStart)
                } else if byte == b'\r' {
                    State::SizeLf
                } else if byte == b'\n' {
                    return Err(ChunkedError::SizeLineNotCrlf);
                } else {
                    return Err(ChunkedError::InvalidChunkSize);
                }
            }
            State::Extension(at) => {
                if byte == b'\r' && matches!(at, Extension::Name | Extension::Token | Extension::QuotedEnd) {
                    State::SizeLf
                } else {
                    self.count_line()?;
                    State::Extension(extension_step(at, byte)?)
                }
            }
            State::SizeLf => {
                if byte != b'\n' {
                    return Err(ChunkedError::SizeLineNotCrlf);
                }
                self.line = 0;
                if self.remaining == 0 {
                    State::Trailer(Trailer::LineStart)
                } else {
                    State::Data
                }
            }
            State::DataCr if byte == b'\r' => State::DataLf,
            State::DataLf if byte == b'\n' => State::Size(0),
            State::DataCr | State::DataLf => return Err(ChunkedError::DataNotCrlf),
            State::Trailer(at) => self.trailer_step(at, byte)?,
            // `run` handles these without calling here
            State::Data | State::Done | State::Failed(_) => return Ok(()),
        };
        Ok(())
    }

    fn count_line(&mut self) -> Result<(), ChunkedError> {
        self.line += 1;
        if self.line > self.limits.max_line {
            return Err(ChunkedError::SizeLineTooLong(self.limits.max_line));
        }
        Ok(())
    }

    fn keep_trailer(&mut self, byte: u8) -> Result<(), ChunkedError> {
        if self.trailers.len() >= self.limits.max_trailers {
            return Err(ChunkedError::TrailersTooLong(self.limits.max_trailers));
        }
        self.trailers.push(byte);
        Ok(())
    }

    /// One byte of the trailer section. Field lines are kept (CRLF included) and checked as
    /// they arrive; a field's name and value are noted when its line ends.
    fn trailer_step(&mut self, at: Trailer, byte: u8) -> Result<State, ChunkedError> {
        let next = match at {
            Trailer::LineStart if byte == b'\r' => return Ok(State::Trailer(Trailer::EndLf)),
            Trailer::EndLf if byte == b'\n' => return Ok(State::Done),
            Trailer::LineStart if is_tchar(&byte) => {
                self.field = self.trailers.len();
                Trailer::Name
            }
            Trailer::Name if is_tchar(&byte) => Trailer::Name,
            Trailer::Name if byte == b':' => {
                let name = &self.trailers[self.field..];
                if FORBIDDEN_TRAILERS.iter().any(|known| known.as_bytes().eq_ignore_ascii_case(name)) {
                    return Err(ChunkedError::ForbiddenTrailer(
                        String::from_utf8_lossy(name).into_owned(),
                    ));
                }
                self.colon = self.trailers.len();
                Trailer::Value
            }
            Trailer::Value if byte == b'\r' => Trailer::Lf,
            Trailer::Value if matches!(byte, b'\t' | b' '..=0x7e | 0x80..=0xff) => Trailer::Value,
            Trailer::Lf if byte == b'\n' => {
                // the value: after the colon, before the CR (the last byte kept), trimmed
                let (start, end) = (self.colon + 1, self.trailers.len() - 1);
                let value = &self.trailers[start..end];
                let lead = value.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
                let trail = value[lead..].iter().rev().take_while(|b| matches!(b, b' ' | b'\t')).count();
                self.fields.push((self.field..self.colon, start + lead..end - trail));
                Trailer::LineStart
            }
            Trailer::Lf | Trailer::EndLf => return Err(ChunkedError::TrailerLineNotCrlf),
            _ if byte == b'\n' => return Err(ChunkedError::TrailerLineNotCrlf),
            Trailer::LineStart | Trailer::Name => return Err(ChunkedError::InvalidTrailerName),
            Trailer::Value => return Err(ChunkedError::InvalidTrailerValue),
        };
        self.keep_trailer(byte)?;
        Ok(State::Trailer(next))
    }
}

/// A chunked message decoded from the reads it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The chunk data, joined.
    pub payload: Vec<u8>,
    /// Once complete: the offset just past the message in the reads joined.
    pub end: Option<usize>,
    /// The trailer fields, values trimmed.
    pub trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Decodes a message from `reads` fed in turn, up to its end (later reads are not fed).
pub fn decode_reads<'a>(
    limits: ChunkedLimits,
    reads: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Decoded, ChunkedError> {
    let mut decoder = ChunkedDecoder::new(limits);
    let (mut payload, mut offset, mut end) = (Vec::new(), 0, None);
    for read in reads {
        let feed = decoder.feed(read)?;
        payload.extend(feed.payload(read));
        if let Some(at) = feed.end {
            end = Some(offset + at);
            break;
        }
        offset += read.len();
    }
    let trailers = decoder.trailers().map(|(name, value)| (name.to_vec(), value.to_vec())).collect();
    Ok(Decoded { payload, end, trailers })
}

fn extension_step(at: Extension, byte: u8) -> Result<Extension, ChunkedError> {
    let next = match at {
        Extension::NameStart if is_tchar(&byte) => Extension::Name,
        Extension::Name if is_tchar(&byte) => Extension::Name,
        Extension::Name if byte == b'=' => Extension::ValueStart,
        Extension::ValueStart if byte == b'"' => Extension::Quoted,
        Extension::ValueStart | Extension::Token if is_tchar(&byte) => Extension::Token,
        Extension::Quoted if byte == b'"' => Extension::QuotedEnd,
        Extension::Quoted if byte == b'\\' => Extension::QuotedPair,
        Extension::Quoted if is_qdtext(byte) => Extension::Quoted,
        Extension::QuotedPair if is_escapable(byte) => Extension::Quoted,
        Extension::Name | Extension::Token | Extension::QuotedEnd if byte == b';' => Extension::NameStart,
        _ if byte == b'\n' => return Err(ChunkedError::SizeLineNotCrlf),
        _ => return Err(ChunkedError::InvalidExtension),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_parts(parts: &[&[u8]], limits: ChunkedLimits) -> Result<Decoded, ChunkedError> {
        decode_reads(limits, parts.iter().copied())
    }

    fn decode(data: &[u8]) -> Result<Decoded, ChunkedError> {
        decode_parts(&[data], ChunkedLimits::default())
    }

    fn complete(data: &[u8]) -> Decoded {
        let decoded = decode(data).unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(data)));
        assert_eq!(
            decoded.end,
            Some(data.len()),
            "{:?}",
            String::from_utf8_lossy(data)
        );
        decoded
    }

    /// Valid messages and their payloads.
    const VALID: &[(&[u8], &[u8])] = &[
        (b"0\r\n\r\n", b""),
        (b"000\r\n\r\n", b""),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (
            b"a\r\n\r\n\r\n\r\n\r\n\r\n\r\n0\r\n\r\n",
            b"\r\n\r\n\r\n\r\n\r\n",
        ),
        (b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3;a\r\nabc\r\n0;b\r\n\r\n", b"abc"),
        (b"3;a=b;c;d=\"e f\"\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3;a=\"q\\\"uo\\\\te\\\x80\"\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3;a=\"\t \x80\xff!#[]~\"\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3\r\n\x00\r\n\r\n0\r\n\r\n", b"\x00\r\n"),
        (b"0\r\nX-Checksum: abc\r\n\r\n", b""),
        (
            b"1\r\nz\r\n0\r\nA: 1\r\nb:2\r\nC: \t\x80 x \t\r\nD:\r\n\r\n",
            b"z",
        ),
    ];

    #[test]
    fn valid_messages_decode_to_their_payload_and_end_at_their_last_byte() {
        for (data, payload) in VALID {
            assert_eq!(
                complete(data).payload,
                *payload,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn trailers_are_kept_trimmed() {
        let decoded = complete(b"1\r\nz\r\n0\r\nA: 1\r\nb:2\r\nC: \t\x80 x \t\r\nD:\r\n\r\n");
        let expected: Vec<(Vec<u8>, Vec<u8>)> = [(&b"A"[..], &b"1"[..]), (b"b", b"2"), (b"C", b"\x80 x"), (b"D", b"")]
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(decoded.trailers, expected);
        assert!(complete(b"0\r\n\r\n").trailers.is_empty());
    }

    #[test]
    fn the_end_is_where_the_message_ends_not_where_the_input_does() {
        for tail in [&b"x"[..], b"\r\n", b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"] {
            let data = [&b"2\r\nab\r\n0\r\nX: y\r\n\r\n"[..], tail].concat();
            let decoded = decode(&data).expect("valid");
            assert_eq!(decoded.payload, b"ab");
            assert_eq!(decoded.end, Some(data.len() - tail.len()));
        }
    }

    /// Malformed messages (possibly truncated after the error) and why.
    const INVALID: &[(&[u8], ChunkedError)] = &[
        (b"\r\n", ChunkedError::InvalidChunkSize),
        (b"x\r\n", ChunkedError::InvalidChunkSize),
        (b" 1\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"1 \r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"1\t\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"0x1\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"+1\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"-1\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"1g\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"1\x00\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b";a\r\n", ChunkedError::InvalidChunkSize),
        (b"00000000000000001\r\na\r\n", ChunkedError::ChunkSizeTooLong),
        (b"10000000000000000\r\n", ChunkedError::ChunkSizeTooLong),
        (b"1\na\r\n0\r\n\r\n", ChunkedError::SizeLineNotCrlf),
        (b"1\r\ra\r\n", ChunkedError::SizeLineNotCrlf),
        (b"1\r\r\na\r\n", ChunkedError::SizeLineNotCrlf),
        (b"1;a\na\r\n", ChunkedError::SizeLineNotCrlf),
        (b"1;a=\"b\n\"\r\n", ChunkedError::SizeLineNotCrlf),
        (b"1 ;a\r\na\r\n", ChunkedError::InvalidChunkSize),
        (b"1; a\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a =b\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a= b\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=b \r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;;a\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a;\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;=b\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=b=c\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\x80\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a\x00\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\"b\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\"b\"c\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\"b\" \r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\"\x01\"\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\"\\\x01\"\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=\"\x7f\"\r\na\r\n", ChunkedError::InvalidExtension),
        (b"1;a=b\rc\r\na\r\n", ChunkedError::SizeLineNotCrlf),
        (b"1\r\nab\r\n", ChunkedError::DataNotCrlf),
        (b"1\r\na\n0\r\n\r\n", ChunkedError::DataNotCrlf),
        (b"1\r\na\r0\r\n\r\n", ChunkedError::DataNotCrlf),
        (b"1\r\na0\r\n\r\n", ChunkedError::DataNotCrlf),
        (b"0\r\n\n", ChunkedError::TrailerLineNotCrlf),
        (b"0\r\n\r\r\n", ChunkedError::TrailerLineNotCrlf),
        (b"0\r\nX: y\n\r\n", ChunkedError::TrailerLineNotCrlf),
        (b"0\r\nX: y\r\n\n", ChunkedError::TrailerLineNotCrlf),
        (b"0\r\nX: a\rb\r\n\r\n", ChunkedError::TrailerLineNotCrlf),
        (b"0\r\nX: a\nb\r\n\r\n", ChunkedError::TrailerLineNotCrlf),
        (b"0\r\nX\n\r\n", ChunkedError::TrailerLineNotCrlf),
        (b"0\r\nX: a\x01\r\n\r\n", ChunkedError::InvalidTrailerValue),
        (b"0\r\nX : y\r\n\r\n", ChunkedError::InvalidTrailerName),
        (b"0\r\n:y\r\n\r\n", ChunkedError::InvalidTrailerName),
        (b"0\r\nX\r\n\r\n", ChunkedError::InvalidTrailerName),
        (b"0\r\nX y: z\r\n\r\n", ChunkedError::InvalidTrailerName),
        (b"0\r\nX: y\r\n z\r\n\r\n", ChunkedError::InvalidTrailerName),
        (b"0\r\n X: y\r\n\r\n", ChunkedError::InvalidTrailerName),
        (b"0\r\nX: a\x00\r\n\r\n", ChunkedError::InvalidTrailerValue),
        (b"0\r\nX: \x7f\r\n\r\n", ChunkedError::InvalidTrailerValue),
        (b"0\r\n\xc3\xa9: y\r\n\r\n", ChunkedError::InvalidTrailerName),
        (
            b"0\r\nContent-Length: 5\r\n\r\n",
            ChunkedError::ForbiddenTrailer(String::new()),
        ),
        (
            b"0\r\ntransfer-encoding: chunked\r\n\r\n",
            ChunkedError::ForbiddenTrailer(String::new()),
        ),
        (
            b"0\r\nX: 1\r\nHOST: a\r\n\r\n",
            ChunkedError::ForbiddenTrailer(String::new()),
        ),
        (
            b"0\r\nConnection: close\r\n\r\n",
            ChunkedError::ForbiddenTrailer(String::new()),
        ),
        (
            b"0\r\nProxy-Connection: close\r\n\r\n",
            ChunkedError::ForbiddenTrailer(String::new()),
        ),
        (
            b"0\r\nTrailer: X\r\n\r\n",
            ChunkedError::ForbiddenTrailer(String::new()),
        ),
    ];

    /// Errors of the same kind (the reasons and names they carry aside).
    fn same_kind(a: &ChunkedError, b: &ChunkedError) -> bool {
        std::mem::discriminant(a) == std::mem::discriminant(b)
    }

    #[test]
    fn malformed_messages_are_errors_of_their_kind() {
        for (data, expected) in INVALID {
            match decode(data) {
                Err(error) => assert!(
                    same_kind(&error, expected),
                    "{error:?}: {:?}",
                    String::from_utf8_lossy(data)
                ),
                Ok(decoded) => panic!("accepted {decoded:?}: {:?}", String::from_utf8_lossy(data)),
            }
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let message = |data: &[u8]| decode(data).expect_err("invalid").to_string();
        assert_eq!(message(b"0x1\r\n"), "invalid chunk size");
        assert_eq!(message(b"1\r\nab"), "chunk data not followed by CRLF");
        assert_eq!(
            message(b"0\r\nContent-Length: 0\r\n\r\n"),
            "forbidden trailer field Content-Length"
        );
        assert_eq!(message(b"1;a b\r\n"), "invalid chunk extension");
        assert_eq!(message(b"1\n"), "chunk size line not ended by CRLF");
        assert_eq!(
            message(b"11111111111111111\r\n"),
            "chunk size of more than 16 hex digits"
        );
    }

    #[test]
    fn a_failed_decoder_stays_failed() {
        let mut decoder = ChunkedDecoder::new(ChunkedLimits::default());
        assert_eq!(decoder.feed(b"1\r\nab"), Err(ChunkedError::DataNotCrlf));
        assert_eq!(decoder.feed(b"\r\n0\r\n\r\n"), Err(ChunkedError::DataNotCrlf));
        assert!(!decoder.is_done());
    }

    /// Every message of both corpora, cut at every point (and at every pair of points for the
    /// shorter ones), decodes as it does whole.
    #[test]
    fn every_split_gives_the_whole_result() {
        let messages = VALID.iter().map(|(data, _)| *data).chain(INVALID.iter().map(|(data, _)| *data));
        for data in messages {
            let whole = decode(data);
            for i in 0..=data.len() {
                let (a, b) = data.split_at(i);
                assert_eq!(
                    decode_parts(&[a, b], ChunkedLimits::default()),
                    whole,
                    "{i} {data:?}"
                );
                if data.len() <= 40 {
                    for j in i..=data.len() {
                        let parts = [&data[..i], &data[i..j], &data[j..]];
                        assert_eq!(
                            decode_parts(&parts, ChunkedLimits::default()),
                            whole,
                            "{i} {j} {data:?}"
                        );
                    }
                }
            }
            let bytes: Vec<&[u8]> = data.chunks(1).collect();
            assert_eq!(decode_parts(&bytes, ChunkedLimits::default()), whole, "{data:?}");
        }
    }

    #[test]
    fn truncated_messages_never_complete() {
        for (data, _) in VALID {
            for cut in 0..data.len() {
                let decoded = decode(&data[..cut]).expect("a prefix of a valid message is no error");
                assert_eq!(decoded.end, None, "{cut} {data:?}");
            }
        }
    }

    const SMALL: ChunkedLimits = ChunkedLimits { max_line: 8, max_trailers: 16 };

    fn small_error(parts: &[&[u8]]) -> ChunkedError {
        decode_parts(parts, SMALL).expect_err("over a limit")
    }

    #[test]
    fn size_lines_are_bounded() {
        let at_limit = b"3;a=bcde\r\nabc\r\n0\r\n\r\n"; // 8 bytes before the CRLF
        assert!(decode_parts(&[at_limit], SMALL).expect("within").end.is_some());
        assert_eq!(
            small_error(&[b"3;a=bcdef\r\n"]),
            ChunkedError::SizeLineTooLong(8)
        );
        // no CRLF ever: an error once the limit is passed, whatever the split
        let endless = [b"1;a=\"".as_slice(), &[b'x'; 100]].concat();
        let parts: Vec<&[u8]> = endless.chunks(3).collect();
        assert_eq!(small_error(&parts), ChunkedError::SizeLineTooLong(8));
    }

    #[test]
    fn trailer_sections_are_bounded() {
        let at_limit = b"0\r\nAbcdefghij: kl\r\n\r\n"; // 16 bytes of field lines
        assert_eq!(
            decode_parts(&[at_limit], SMALL).expect("within").end,
            Some(at_limit.len())
        );
        assert_eq!(
            small_error(&[b"0\r\nAbcdefghij: klm\r\n\r\n"]),
            ChunkedError::TrailersTooLong(16)
        );
        let endless = [b"0\r\nX: ".as_slice(), &[b'x'; 100]].concat();
        assert_eq!(small_error(&[&endless]), ChunkedError::TrailersTooLong(16));
        // fields are bounded by bytes, not by count
        let many = [b"0\r\n".as_slice(), &b"X: y\r\n".repeat(2000), b"\r\n"].concat();
        assert_eq!(complete(&many).trailers.len(), 2000);
    }

    #[test]
    fn huge_chunks_are_counted_not_buffered() {
        let mut decoder = ChunkedDecoder::new(ChunkedLimits::default());
        let feed = decoder.feed(b"FFFFFFFFFFFFFFFF\r\nabc").expect("valid so far");
        assert_eq!((feed.data, feed.end), (vec![Range { start: 18, end: 21 }], None));
        assert_eq!(decoder.remaining, u64::MAX - 3);
    }

    #[test]
    fn data_spans_point_into_the_input() {
        let mut decoder = ChunkedDecoder::new(ChunkedLimits::default());
        let data = b"2\r\nab\r\n3;x=y\r\ncde\r\n1\r\nf";
        let feed = decoder.feed(data).expect("valid");
        assert_eq!(feed.data, vec![3..5, 14..17, 22..23]);
        assert_eq!(feed.payload(data), b"abcdef");
        assert_eq!(feed.payload_len(), 6);
        let feed = decoder.feed(b"\r\n0\r\n\r\n").expect("valid");
        assert_eq!((feed.data, feed.end), (vec![], Some(7)));
        assert!(decoder.is_done());
        // once done, nothing more is part of the message
        let feed = decoder.feed(b"1\r\nx\r\n").expect("done");
        assert_eq!((feed.data, feed.end), (vec![], Some(0)));
    }
}
