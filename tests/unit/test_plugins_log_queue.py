"""Kong's plugin queue (kong/tools/queue.lua semantics; Kong's spec/01-unit/27-queue_spec.lua):
batching and coalescing, exponential back-off and max_retry_time (on a fake clock), the bounds
(max_entries drops the oldest, max_bytes), concurrency_limit -1, and the queue going away once
empty."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from dataplane.plugins import background
from dataplane.plugins.bundled._queue import Clock, Params, Queues


class FakeClock(Clock):
    """Time moves only when the queue sleeps: a retry's delays are recorded, not waited for."""

    def __init__(self) -> None:
        self.time = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)


class Collector:
    """A handler recording its batches, failing its first ``failures`` calls, held while
    ``gate`` is clear."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[bytes]] = []
        self.calls = 0
        self.failures = failures
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, batch: list[bytes]) -> None:
        self.calls += 1
        await self.gate.wait()
        if self.calls <= self.failures:
            raise RuntimeError(f"request to collector returned status code 500 (call {self.calls})")
        self.batches.append(batch)


def run(test: Callable[[], object]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


async def settle(queues: Queues, name: str = "q") -> None:
    """Until the queue has sent everything and gone."""
    for _ in range(1000):
        if queues.get(name) is None:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the queue never emptied")


def messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "gantry.plugins"]


def test_entries_go_in_batches_of_max_batch_size():
    async def test():
        queues, collector = Queues(), Collector()
        params = Params(max_batch_size=3, max_coalescing_delay=0.2)
        for i in range(7):
            assert queues.enqueue("q", "tag", params, collector, b"%d" % i) is None
        await settle(queues)
        assert collector.batches == [[b"0", b"1", b"2"], [b"3", b"4", b"5"], [b"6"]]

    run(test)


def test_a_batch_waits_for_more_entries_up_to_max_coalescing_delay():
    async def test():
        queues, collector = Queues(), Collector()
        params = Params(max_batch_size=10, max_coalescing_delay=0.5)
        queues.enqueue("q", "tag", params, collector, b"a")
        await asyncio.sleep(0.05)
        queues.enqueue("q", "tag", params, collector, b"b")
        await asyncio.sleep(0.05)
        assert collector.batches == []  # still coalescing
        await settle(queues)
        assert collector.batches == [[b"a", b"b"]]

    run(test)


def test_a_batch_size_of_one_sends_at_once():
    async def test():
        queues, collector = Queues(), Collector()
        queues.enqueue("q", "tag", Params(max_coalescing_delay=30), collector, b"a")
        await asyncio.sleep(0.05)
        assert collector.batches == [[b"a"]]

    run(test)


def test_a_failed_batch_is_retried_with_exponential_back_off(caplog):
    async def test():
        clock = FakeClock()
        queues, collector = Queues(clock), Collector(failures=5)
        params = Params(initial_retry_delay=0.01, max_retry_delay=0.05, max_retry_time=60)
        queues.enqueue("q", "http-log plugin 1", params, collector, b"a")
        await settle(queues)
        assert collector.batches == [[b"a"]] and collector.calls == 6
        assert clock.slept == pytest.approx([0.01, 0.02, 0.04, 0.05, 0.05])

    with caplog.at_level(logging.WARNING, "gantry.plugins"):
        run(test)
    warned = [m for m in messages(caplog) if "handler could not process entries" in m]
    assert len(warned) == 5
    assert warned[0] == (
        "[http-log plugin 1] queue q: handler could not process entries: "
        "request to collector returned status code 500 (call 1)"
    )


def test_a_batch_failing_past_max_retry_time_is_dropped_and_counted(caplog):
    async def test():
        clock = FakeClock()
        queues, collector = Queues(clock), Collector(failures=1000)
        params = Params(
            max_batch_size=2, max_coalescing_delay=0, initial_retry_delay=1, max_retry_delay=4, max_retry_time=10
        )
        queues.enqueue("q", "tag", params, collector, b"a")
        queues.enqueue("q", "tag", params, collector, b"b")
        await settle(queues)
        assert collector.batches == []
        assert clock.slept == [1, 2, 4, 4]  # 11 seconds after the first try, past max_retry_time

    with caplog.at_level(logging.WARNING, "gantry.plugins"):
        run(test)
    assert "[tag] queue q: could not send entries due to max_retry_time exceeded. 2 queue entries were lost" in (
        messages(caplog)
    )


def test_a_full_queue_drops_its_oldest_entries_and_says_so_once(caplog):
    async def test():
        queues, collector = Queues(), Collector()
        params = Params(max_entries=3, max_coalescing_delay=0)
        collector.gate.clear()  # the collector hangs
        queues.enqueue("q", "tag", params, collector, b"0")
        await asyncio.sleep(0.01)  # "0" is being sent
        for i in range(1, 8):
            assert queues.enqueue("q", "tag", params, collector, b"%d" % i) is None
        assert queues.get("q").count() == 3  # bounded
        collector.gate.set()
        await settle(queues)
        assert collector.batches == [[b"0"], [b"5"], [b"6"], [b"7"]]

    with caplog.at_level(logging.INFO, "gantry.plugins"):
        run(test)
    logged = messages(caplog)
    assert logged.count("[tag] queue q: queue full, dropping old entries until processing is successful again") == 1
    assert "[tag] queue q: queue at 80% capacity" in logged
    assert "[tag] queue q: queue resumed processing" in logged


def test_max_bytes_bounds_the_bytes_waiting():
    async def test():
        queues, collector = Queues(), Collector()
        params = Params(max_bytes=10, max_coalescing_delay=0)
        collector.gate.clear()
        assert queues.enqueue("q", "tag", params, collector, b"first") is None
        await asyncio.sleep(0.01)
        assert queues.enqueue("q", "tag", params, collector, b"x" * 11) == (
            "string to be queued is longer (11 bytes) than the queue's max_bytes (10 bytes)"
        )
        for entry in (b"aaaa", b"bbbb", b"cccc"):
            assert queues.enqueue("q", "tag", params, collector, entry) is None
        assert queues.get("q").count() == 2  # "aaaa" dropped to make room for "cccc"
        collector.gate.set()
        await settle(queues)
        assert collector.batches == [[b"first"], [b"bbbb"], [b"cccc"]]

    run(test)


def test_no_retry_below_zero(caplog):
    async def test():
        clock = FakeClock()
        queues, collector = Queues(clock), Collector(failures=1)
        queues.enqueue("q", "tag", Params(max_retry_time=-1, max_coalescing_delay=0), collector, b"a")
        await settle(queues)
        assert collector.calls == 1 and clock.slept == []

    with caplog.at_level(logging.WARNING, "gantry.plugins"):
        run(test)
    assert (
        "[tag] queue q: could not process entries: request to collector returned status code 500 (call 1). "
        "1 queue entries were lost"
    ) in messages(caplog)


def test_concurrency_limit_minus_one_sends_each_entry_alone_within_max_entries():
    async def test():
        queues, collector = Queues(), Collector()
        params = Params(concurrency_limit=-1, max_batch_size=10, max_entries=2)
        collector.gate.clear()
        assert queues.enqueue("q", "tag", params, collector, b"a") is None
        assert queues.enqueue("q", "tag", params, collector, b"b") is None
        assert queues.enqueue("q", "tag", params, collector, b"c") == "too many entries being sent"
        await asyncio.sleep(0.01)
        collector.gate.set()
        for _ in range(100):
            if len(collector.batches) == 2:
                break
            await asyncio.sleep(0.005)
        assert sorted(collector.batches) == [[b"a"], [b"b"]]

    run(test)


def test_a_queue_goes_away_once_empty_and_the_next_entry_makes_a_new_one():
    async def test():
        queues, first, second = Queues(), Collector(), Collector()
        queues.enqueue("q", "tag", Params(), first, b"a")
        await settle(queues)
        queues.enqueue("q", "tag", Params(max_batch_size=2, max_coalescing_delay=0.05), second, b"b")
        queues.enqueue("q", "tag", Params(), second, b"c")  # the existing queue keeps its parameters
        await settle(queues)
        assert first.batches == [[b"a"]] and second.batches == [[b"b", b"c"]]

    run(test)


def test_entries_named_alike_share_a_queue_sent_by_the_latest_handler():
    async def test():
        queues, old, new = Queues(), Collector(), Collector()
        params = Params(max_batch_size=2, max_coalescing_delay=0.2)
        queues.enqueue("q", "tag", params, old, b"a")
        queues.enqueue("q", "tag", params, new, b"b")
        await settle(queues)
        assert old.batches == [] and new.batches == [[b"a", b"b"]]

    run(test)


def test_no_event_loop_no_queue():
    assert Queues().enqueue("q", "tag", Params(), Collector(), b"a") == "no event loop runs here to send entries from"


def test_a_stopping_worker_counts_what_it_loses(caplog):
    async def test():
        queues, collector = Queues(), Collector()
        collector.gate.clear()
        params = Params(max_coalescing_delay=0)
        for entry in (b"a", b"b", b"c"):
            queues.enqueue("q", "tag", params, collector, entry)
        await asyncio.sleep(0.01)
        queues.get("q").task.cancel()
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, "gantry.plugins"):
        run(test)
    assert "[tag] queue q: worker stopping: 2 queue entries were lost" in messages(caplog)


def test_a_draining_worker_sends_a_coalescing_batch_at_once():
    async def test():
        queues, collector = Queues(), Collector()
        params = Params(max_batch_size=10, max_coalescing_delay=30)
        queues.enqueue("q", "tag", params, collector, b"a")
        queues.enqueue("q", "tag", params, collector, b"b")
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        assert background.pending(loop) and collector.batches == []
        background.drain(loop)
        await settle(queues)
        assert collector.batches == [[b"a", b"b"]]
        assert not background.pending(loop)

    run(test)


def test_a_draining_worker_makes_no_more_retries(caplog):
    async def test():
        queues, collector = Queues(), Collector(failures=1000)
        params = Params(max_coalescing_delay=0, initial_retry_delay=0.05, max_retry_delay=30, max_retry_time=600)
        queues.enqueue("q", "tag", params, collector, b"a")
        await asyncio.sleep(0.3)  # a few retries, the delays growing
        tries = collector.calls
        background.drain(asyncio.get_running_loop())
        await settle(queues)
        assert collector.calls <= tries + 1  # at most the last one

    with caplog.at_level(logging.ERROR, "gantry.plugins"):
        run(test)
    assert "[tag] queue q: worker stopping: 1 queue entries were lost" in messages(caplog)
