"""Differential test of the native chunked body decoder against httptools (llhttp, strict mode).

The proxy relays chunked upstream bodies with ``ChunkedDecoder`` and closes the upstream
connection when a byte follows the end it reports. That is safe only if what the decoder
accepts, llhttp accepts too, with the same payload and the same end: otherwise the gateway and
llhttp (the general lane, or another hop) would frame one message two ways.

The properties tested, for generated bodies (valid messages, and valid messages with one or two
pieces replaced by an odd one: sizes, extensions, line ends, data lengths, trailers, stray bytes,
truncations, bytes after the end):

* the decoder gives the same result whatever the reads the body arrives in;
* a message it completes, a fresh strict ``HttpResponseParser`` (after a
  ``Transfer-Encoding: chunked`` response head) and a fresh strict ``HttpRequestParser`` (after
  a chunked POST head) both complete without error, exactly at the same byte, with the same
  payload and trailers, and still keep the connection alive;
* a body it reads without error but not to the end, neither parser refuses or completes;
* a message built valid, it completes, with its payload, at its last byte.

Cases in ``tests/fuzz_corpus/chunked/`` (every one this test or the Rust properties ever found,
and seeds) are replayed with their verdict in the name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import httptools
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dataplane._core import ChunkedBodyError, ChunkedDecoder

RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
REQUEST_HEAD = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
CORPUS = Path(__file__).resolve().parents[1] / "fuzz_corpus" / "chunked"

# A few seconds on two cores; CHUNKED_EXAMPLES for longer runs.
EXAMPLES = int(os.environ.get("CHUNKED_EXAMPLES", 1500))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DIGITS = b"0123456789"
ALPHA = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TCHAR = ALPHA + DIGITS + b"!#$%&'*+-.^_`|~"
QDTEXT = bytes([0x09, 0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F), *range(0x80, 0x100)])
ESCAPABLE = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
VCHAR_OBS = bytes([*range(0x21, 0x7F), *range(0x80, 0x100)])
FORBIDDEN = {b"content-length", b"transfer-encoding", b"host", b"connection", b"proxy-connection", b"keep-alive",
             b"upgrade", b"te", b"trailer"}


def chars(alphabet: bytes, min_size: int = 0, max_size: int = 8) -> st.SearchStrategy[bytes]:
    """Byte strings over `alphabet` (drawn as latin-1 text: cheaper than lists of bytes)."""
    return st.text(alphabet.decode("latin-1"), min_size=min_size, max_size=max_size).map(
        lambda text: text.encode("latin-1"))


# -- valid pieces -------------------------------------------------------------------------------

tokens = chars(TCHAR, 1, 6)
quoted = st.lists(st.one_of(chars(QDTEXT, 1, 1), chars(ESCAPABLE, 1, 1).map(b"\\".__add__)), max_size=5).map(
    lambda pieces: b'"' + b"".join(pieces) + b'"')
extensions = st.lists(
    st.tuples(tokens, st.one_of(st.none(), tokens, quoted)).map(
        lambda ext: b";" + ext[0] + (b"" if ext[1] is None else b"=" + ext[1])),
    max_size=2,
).map(b"".join)
trailer_names = tokens.filter(lambda name: name.lower() not in FORBIDDEN)
trailer_values = st.one_of(
    st.just(b""),
    st.tuples(chars(VCHAR_OBS, 1, 1), chars(VCHAR_OBS + b" \t", 0, 8), chars(VCHAR_OBS, 1, 1)).map(b"".join),
    chars(VCHAR_OBS, 1, 1),
)
colons = st.sampled_from([b":", b": ", b":\t", b":  "])


class Piece(NamedTuple):
    """A piece of a message: `kind` says which odd pieces may replace it."""

    kind: str
    data: bytes


@st.composite
def size_line(draw: st.DrawFn, size: int) -> list[Piece]:
    digits = b"%x" % size
    if draw(st.booleans()):
        digits = digits.upper()
    digits = b"0" * draw(st.integers(0, min(2, 16 - len(digits)))) + digits
    return [Piece("size", digits), Piece("ext", draw(extensions)), Piece("crlf", b"\r\n")]


class Message(NamedTuple):
    pieces: list[Piece]
    payload: bytes
    trailers: list[tuple[bytes, bytes]]


@st.composite
def messages(draw: st.DrawFn) -> Message:
    pieces: list[Piece] = []
    payload = b""
    for data in draw(st.lists(st.binary(min_size=1, max_size=40), max_size=4)):
        pieces += draw(size_line(len(data)))
        pieces += [Piece("data", data), Piece("crlf", b"\r\n")]
        payload += data
    pieces += draw(size_line(0))
    trailers = []
    for name, colon, value in draw(st.lists(st.tuples(trailer_names, colons, trailer_values), max_size=3)):
        pieces += [Piece("trailer", name + colon + value), Piece("crlf", b"\r\n")]
        trailers.append((name, value))
    pieces.append(Piece("crlf", b"\r\n"))
    return Message(pieces, payload, trailers)


# -- odd pieces ---------------------------------------------------------------------------------

ODD: dict[str, st.SearchStrategy[bytes]] = {
    "size": st.sampled_from([b"", b" 1", b"1 ", b"1\t", b"0x1", b"+1", b"-1", b"g", b"1g", b"1\x00",
                             b"00000000000000001", b"10000000000000000", b"ffffffffffffffff", b"1" * 17,
                             b"\xd9\xa1", b"1_0", b"0", b"ff"]),
    "ext": st.sampled_from([b" ;a", b"; a", b";a =b", b";a= b", b";a=b ", b";", b";;", b";=b", b";a=", b";a=\"b",
                            b";a=\"b\"c", b";a=\x80", b";a=\"\x80\"", b";a=\"\\\x01\"", b";a=\"\x01\"", b";a\x00",
                            b";a=\"\x7f\"", b";a;", b";a=b=c", b";a\tb", b";a=\"\\\"", b";\xc3\xa9", b";a\rb",
                            b";a\nb", b";a=\"\n\"", b";a=\"\r\"", b";a=\"\t\"", b";a=\"\\\x80\""]),
    "crlf": st.sampled_from([b"\n", b"\r", b"\r\r\n", b"", b"\n\r", b"\r\n\r\n", b" \r\n", b"\r\n ", b"\x00\r\n"]),
    "trailer": st.one_of(
        st.sampled_from([b"Content-Length: 0", b"content-length: 5", b"Transfer-Encoding: chunked", b"Host: a",
                         b"Connection: close", b"Proxy-Connection: close", b"Keep-Alive: 1", b"Upgrade: x",
                         b"TE: trailers", b"Trailer: X", b"X : y", b" X: y", b"\tX: y", b"X", b":y", b"X: a\x00",
                         b"X: \x7f", b"X: a\rb", b"X: a\nb", b"X: \x80", b"\xc3\xa9: y", b"X y: z", b"X: y\r\n z",
                         b"X: y\r\n\tz", b"X:\x01", b"X\x00: y", b"X: \"unbalanced"]),
        st.tuples(tokens, colons, chars(bytes(range(256)), 0, 6)).map(b"".join),
    ),
}


@st.composite
def odd_data(draw: st.DrawFn, data: bytes) -> bytes:
    """Chunk data one byte longer or shorter than its size says."""
    if draw(st.booleans()) or len(data) == 0:
        return data + draw(st.binary(min_size=1, max_size=1))
    return data[:-1]


tails = st.sampled_from([b"x", b"\r\n", b"\n", b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", b"\x00"])


class Body(NamedTuple):
    data: bytes
    # the message as built, when it is valid (nothing replaced, cut or inserted before its end)
    valid: Message | None
    # bytes of `data` after the message, for a valid one
    tail: int


@st.composite
def bodies(draw: st.DrawFn) -> Body:
    message = draw(messages())
    pieces = list(message.pieces)
    changes = draw(st.integers(0, 2))
    for _ in range(changes):
        if draw(st.integers(0, 3)) == 0:
            # an odd trailer line of its own (messages have few trailers to replace)
            pieces[-1:-1] = [Piece("trailer", draw(ODD["trailer"])), Piece("crlf", b"\r\n")]
            continue
        at = draw(st.integers(0, len(pieces) - 1))
        piece = pieces[at]
        if piece.kind == "data":
            pieces[at] = Piece("data", draw(odd_data(piece.data)))
        else:
            pieces[at] = Piece(piece.kind, draw(ODD[piece.kind]))
    data = b"".join(piece.data for piece in pieces)
    how = draw(st.sampled_from(["as is", "as is", "cut", "insert", "tail"]))
    valid = message if changes == 0 else None
    if how == "cut" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
        valid = None
    elif how == "insert":
        at = draw(st.integers(0, len(data)))
        stray = draw(st.sampled_from([b"\x00", b"\r", b"\n", b" ", b";", b"\x80", b"0", b"\r\n"]))
        data = data[:at] + stray + data[at:]
        valid = None
    tail = draw(tails) if how == "tail" else b""
    return Body(data + tail, valid, len(tail))


# -- both decoders --------------------------------------------------------------------------------


class Native(NamedTuple):
    verdict: str  # "complete", "partial" or "error"
    payload: bytes
    end: int
    trailers: list[tuple[bytes, bytes]]
    error: str


def native(parts: list[bytes]) -> Native:
    decoder = ChunkedDecoder()
    payload, offset, end = b"", 0, -1
    try:
        for part in parts:
            data, at = decoder.feed(part)
            payload += data
            if end < 0 and at >= 0:
                end = offset + at
            elif end >= 0:
                assert (data, at) == (b"", 0), "a done decoder takes nothing more"
            offset += len(part)
    except ChunkedBodyError as err:
        return Native("error", b"", -1, [], str(err))
    assert decoder.done == (end >= 0)
    return Native("complete" if end >= 0 else "partial", payload, end, decoder.trailers, "")


class Recorder:
    """httptools protocol object keeping the body, the trailers and when the message ended."""

    def __init__(self) -> None:
        self.parser: httptools.HttpRequestParser | httptools.HttpResponseParser | None = None
        self.in_trailers = False
        self.body = b""
        self.trailers: list[tuple[bytes, bytes]] = []
        self.completed = 0
        self.keep_alive_at_end: bool | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_trailers:
            self.trailers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_trailers = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.completed += 1
        assert self.parser is not None
        self.keep_alive_at_end = self.parser.should_keep_alive()


PARSERS = [(httptools.HttpResponseParser, RESPONSE_HEAD), (httptools.HttpRequestParser, REQUEST_HEAD)]


def llhttp(parser_class: type, head: bytes) -> tuple[Recorder, httptools.HttpRequestParser]:
    recorder = Recorder()
    parser = parser_class(recorder)  # strict: no leniency flag
    recorder.parser = parser
    parser.feed_data(head)
    return recorder, parser


def check(data: bytes, cut: int = 0) -> Native:
    """Asserts the properties of the module docstring for `data` (`cut`: where a second read
    starts, besides byte by byte); returns the native verdict."""
    found = native([data])
    assert native([data[:cut], data[cut:]]) == found, data
    assert native([data[i:i + 1] for i in range(len(data))]) == found, data
    if found.verdict == "complete":
        body = data[:found.end]
        for parser_class, head in PARSERS:
            recorder, parser = llhttp(parser_class, head)
            try:
                parser.feed_data(body[:-1])
                assert recorder.completed == 0, f"{parser_class.__name__} ends {body!r} before its last byte"
                parser.feed_data(body[-1:])
            except httptools.HttpParserError as err:
                raise AssertionError(f"native decoder accepts {body!r}, {parser_class.__name__} refuses it: "
                                     f"{err!r}") from err
            assert recorder.completed == 1, f"{parser_class.__name__} does not end {body!r} at its last byte"
            assert recorder.body == found.payload, body
            assert [(name, value.rstrip(b" \t")) for name, value in recorder.trailers] == found.trailers, body
            assert recorder.keep_alive_at_end, f"{parser_class.__name__} closes the connection after {body!r}"
    elif found.verdict == "partial":
        for parser_class, head in PARSERS:
            recorder, parser = llhttp(parser_class, head)
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as err:
                raise AssertionError(f"native decoder reads {data!r} so far, {parser_class.__name__} refuses it: "
                                     f"{err!r}") from err
            assert recorder.completed == 0, f"{parser_class.__name__} completes {data!r}, the native decoder not"
    return found


# -- properties ---------------------------------------------------------------------------------


@SETTINGS
@given(bodies(), st.integers(0, 1 << 16))
def test_what_the_native_decoder_accepts_llhttp_frames_the_same_way(body: Body, cut: int) -> None:
    found = check(body.data, cut % (len(body.data) + 1))
    if body.valid is not None:
        assert found.verdict == "complete", (body.data, found.error)
        assert found.end == len(body.data) - body.tail, body.data
        assert found.payload == body.valid.payload and found.trailers == body.valid.trailers, body.data
    event(found.verdict if found.verdict != "error" else found.error.partition(" field")[0])


# -- the corpus ---------------------------------------------------------------------------------


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.bin"))


@pytest.mark.parametrize("path", corpus(), ids=lambda path: path.stem)
def test_corpus_cases_keep_their_verdict(path: Path) -> None:
    verdict = path.stem.partition("-")[0]
    assert verdict in {"complete", "partial", "error"}, path
    data = path.read_bytes()
    assert check(data, len(data) // 2).verdict == verdict


def test_the_corpus_is_there() -> None:
    assert {path.stem.partition("-")[0] for path in corpus()} == {"complete", "partial", "error"}


def test_the_decoder_api() -> None:
    decoder = ChunkedDecoder(max_line=16, max_trailers=64)
    assert decoder.feed(b"5;a=b\r\nhel") == (b"hel", -1)
    assert decoder.feed(b"lo\r\n3\r\nabc\r\n0\r\nX-Sum: 1 \r\n\r\nnext") == (b"loabc", 28)
    assert decoder.done and decoder.trailers == [(b"X-Sum", b"1")]
    assert decoder.feed(b"more") == (b"", 0)
    with pytest.raises(ChunkedBodyError, match="chunk size line longer than 16 bytes"):
        ChunkedDecoder(max_line=16).feed(b"1;a=" + b"b" * 20)
    with pytest.raises(ValueError, match="forbidden trailer field Content-Length"):
        ChunkedDecoder().feed(b"0\r\nContent-Length: 1\r\n\r\n")
    failed = ChunkedDecoder()
    with pytest.raises(ChunkedBodyError, match="chunk data not followed by CRLF"):
        failed.feed(b"1\r\nab\r\n")
    with pytest.raises(ChunkedBodyError, match="chunk data not followed by CRLF"):
        failed.feed(b"0\r\n\r\n")
