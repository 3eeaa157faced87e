"""The header changes plugins record, applied to a head's field lines in one pass: the same
lines as applying each operation in turn (the definition), whatever the operations."""

from __future__ import annotations

from hypothesis import given, strategies as st

from dataplane.pdk.headers import ADD, CLEAR, SET, apply


def one_at_a_time(lines: list[bytes], ops: list[tuple[int, bytes, bytes]]) -> list[bytes]:
    for kind, name, value in ops:
        if kind != ADD:
            lines = [line for line in lines if line.partition(b":")[0].strip().lower() != name.lower()]
        if kind != CLEAR:
            lines.append(b"%s: %s" % (name, value))
    return lines


NAMES = st.sampled_from([b"X-Consumer-ID", b"x-consumer-id", b"Host", b"X-A", b"x-a", b"Via"])
VALUES = st.sampled_from([b"", b"1", b"two", b"a b"])
LINES = st.lists(st.builds(lambda n, v: b"%s: %s" % (n, v), NAMES, VALUES), max_size=8)
OPS = st.lists(st.tuples(st.sampled_from([SET, ADD, CLEAR]), NAMES, VALUES), max_size=8)


@given(LINES, OPS)
def test_one_pass_equals_each_operation_in_turn(lines, ops):
    assert apply(list(lines), ops) == one_at_a_time(list(lines), ops)


def test_the_head_lines_are_not_changed_in_place():
    lines = [b"X-A: 1", b"Host: h"]
    assert apply(lines, [(SET, b"X-A", b"2")]) == [b"Host: h", b"X-A: 2"]
    assert apply(lines, [(ADD, b"X-B", b"3")]) == [b"X-A: 1", b"Host: h", b"X-B: 3"]
    assert lines == [b"X-A: 1", b"Host: h"]


def test_a_later_clear_drops_what_an_earlier_op_added():
    ops = [(ADD, b"X-A", b"1"), (SET, b"X-B", b"2"), (CLEAR, b"x-a", b"")]
    assert apply([b"X-A: 0"], ops) == [b"X-B: 2"]


# -- the native pass the upstream head takes (dataplane._core.apply_header_ops) ---------------

OP_NAMES = st.sampled_from([b"X-Consumer-ID", b"x-consumer-id", b"X-A", b"x-a", b"Via"])
NATIVE_OPS = st.lists(st.tuples(st.sampled_from([SET, ADD, CLEAR]), OP_NAMES, VALUES), max_size=8)


def _part(lines: list[bytes]) -> bytes:
    return b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


@given(st.lists(st.builds(lambda n, v: b"%s: %s" % (n, v), OP_NAMES, VALUES), min_size=1, max_size=8), NATIVE_OPS)
def test_the_native_pass_equals_the_python_one(lines, ops):
    from dataplane._core import apply_header_ops

    assert apply_header_ops(_part(lines), ops) == _part(apply(list(lines), ops))


def test_the_native_pass_frames_a_replaced_body():
    from dataplane._core import apply_header_ops

    part = _part([b"Content-Length: 3", b"Transfer-Encoding: chunked", b"X-A: 1"])
    assert apply_header_ops(part, [(SET, b"X-B", b"2")], 5) == _part([b"X-A: 1", b"X-B: 2", b"Content-Length: 5"])


def test_the_native_pass_refuses_what_the_pdk_refuses():
    import pytest

    from dataplane._core import apply_header_ops

    part = _part([b"X-A: 1"])
    bad = [
        (SET, b"X A", b"v"),
        (SET, b"", b"v"),
        (SET, b"X\r\nEvil", b"v"),
        (ADD, b"X-A", b"v\r\nX-Evil: 1"),
        (ADD, b"X-A", b"v\nw"),
        (ADD, b"X-A", b"v\x00"),
        (SET, b"Content-Length", b"0"),
        (SET, b"transfer-encoding", b"chunked"),
        (CLEAR, b"Connection", b""),
        (SET, b"Host", b"evil"),
        (3, b"X-A", b"v"),
    ]
    for op in bad:
        with pytest.raises(ValueError):
            apply_header_ops(part, [(SET, b"X-Ok", b"1"), op])
    with pytest.raises(ValueError):
        apply_header_ops(b"X-A: 1\r\n\r\n", [])
    with pytest.raises(TypeError):
        apply_header_ops(part, [(SET, "X-A", "v")])  # type: ignore[list-item]


@given(st.lists(st.builds(lambda n, v: b"%s: %s" % (n, v), NAMES, VALUES), max_size=8), OPS)
def test_the_native_pass_on_a_response_head_equals_the_python_one(lines, ops):
    """The client's response head (kong.response.set_header): any token, Host and framing too."""
    from dataplane._core import apply_header_ops

    assert apply_header_ops(_part(lines), ops, None, True) == _part(apply(list(lines), ops))


def test_the_native_pass_on_a_response_head_refuses_split_heads():
    import pytest

    from dataplane._core import apply_header_ops

    for op in [(SET, b"X-A", b"v\r\nX-Evil: 1"), (ADD, b"X A", b"v"), (SET, b"X-A", b"\x7f")]:
        with pytest.raises(ValueError):
            apply_header_ops(_part([b"X-A: 1"]), [op], None, True)
