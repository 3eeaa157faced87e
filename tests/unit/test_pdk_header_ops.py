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
