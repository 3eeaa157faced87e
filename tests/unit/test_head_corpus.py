"""Replays the head cases of ``tests/fuzz_corpus/`` (``request_head/``, ``response_head/``)
through the fast-lane differential checks against httptools; the verdict is the first word of
each file's name (see the corpus README). ``rust/tests/corpus_replay.rs`` replays the same files
against the native parsers alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_fast_lane_differential import check_request, check_response

from dataplane._core import HttpHeadError, parse_response_head

CORPUS = Path(__file__).resolve().parents[1] / "fuzz_corpus"


def cases(parser: str) -> list[Path]:
    return sorted((CORPUS / parser).glob("*.bin"))


def verdict(path: Path) -> str:
    return path.stem.partition("-")[0]


@pytest.mark.parametrize("path", cases("request_head"), ids=lambda path: path.stem)
def test_request_head_cases(path: Path) -> None:
    assert verdict(path) in {"accept", "decline"}, path
    assert check_request(path.read_bytes()) == (verdict(path) == "accept")


def response_verdict(data: bytes) -> str:
    try:
        head = parse_response_head(data)
    except HttpHeadError:
        return "invalid"
    if head is None:
        return "partial"
    return "fast" if head.plain and head.body_length is not None else "general"


@pytest.mark.parametrize("path", cases("response_head"), ids=lambda path: path.stem)
def test_response_head_cases(path: Path) -> None:
    data = path.read_bytes()
    assert response_verdict(data) == verdict(path)
    assert check_response(data) == (verdict(path) == "fast")


def test_every_verdict_has_cases() -> None:
    assert {verdict(path) for path in cases("request_head")} == {"accept", "decline"}
    assert {verdict(path) for path in cases("response_head")} == {"fast", "general", "partial", "invalid"}
