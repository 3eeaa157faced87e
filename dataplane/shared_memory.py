"""The node's shared memory regions (rust/src/shm/), one file each under the prefix.

The supervisor makes every region afresh when the node starts (``create``), before it starts
any worker: counters start at zero on a restart, as Kong's nginx shared dicts do. Each worker
maps them (``attach``) once, at its start; plugins then find them here. A process that never
attached (a test running plugins in-process, ``dataplane.plugins.testing``) gets a private
table instead, which counts correctly within that process.
"""

from __future__ import annotations

import logging
import os

from dataplane._core import InflightCounts, SharedCounters, SharedMemoryError

log = logging.getLogger("gantry.shm")

# rate-limiting's local policy (Kong's kong_rate_limiting_counters shared dict, 12m):
# SharedCounters.DEFAULT_BYTES, 786,428 counters
RATE_LIMITING_COUNTERS = "rate_limiting_counters.shm"

# least-connections: the requests in flight on each upstream target, a column per worker
# (InflightCounts.DEFAULT_SLOTS (upstream, target) pairs over the node's life)
BALANCER_INFLIGHT = "balancer_inflight.shm"

_counters: SharedCounters | None = None
_attach_error: SharedMemoryError | None = None


def counters_path(prefix: str) -> str:
    return os.path.join(prefix, RATE_LIMITING_COUNTERS)


def inflight_path(prefix: str) -> str:
    return os.path.join(prefix, BALANCER_INFLIGHT)


def create(prefix: str, workers: int = 1) -> None:
    """The supervisor, at start, before any worker: every region made afresh (the in-flight
    counts with a column for each of the ``workers``). Raises OSError (the prefix is not
    writable, say), which stops the start."""
    try:
        SharedCounters.create(counters_path(prefix))
        inflight = InflightCounts.create(inflight_path(prefix), workers=max(workers, 1))
        # the supervisor's balancers (the status API's health) read the node's table, in no
        # worker's column
        inflight.install(max(workers, 1))
    except SharedMemoryError as err:
        raise OSError(f"cannot make the node's shared memory: {err}") from None


def attach(prefix: str, worker: int = 0) -> None:
    """A worker, at start: map the regions the supervisor made. A failure is logged and kept:
    the plugins using the region then meet it per request (and apply their fault tolerance).

    The in-flight counts are mapped before any balancer is built, so that every
    least-connections balancer of this worker counts in them, in column ``worker`` (its slot);
    what a dead predecessor in that slot left counted is given back first. Unmapped, a
    least-connections balancer counts this worker's requests alone (logged)."""
    try:
        inflight = InflightCounts.open(inflight_path(prefix))
        given = inflight.recover(worker)
        if given:
            log.warning("gave back %d in-flight request counts of the previous worker %d", given, worker)
        inflight.install(worker)
    except SharedMemoryError as err:
        log.error("cannot map the node's in-flight counts, least-connections counts per worker: %s", err)
    global _counters, _attach_error
    try:
        _counters = SharedCounters.open(counters_path(prefix))
        _attach_error = None
    except SharedMemoryError as err:
        _counters, _attach_error = None, err
        log.error("cannot map the node's rate-limiting counters, the local policy cannot count: %s", err)


def rate_limiting_counters() -> SharedCounters:
    """The node's rate-limiting counters. Raises SharedMemoryError when this worker could not
    map them."""
    global _counters
    if _attach_error is not None:
        raise _attach_error
    if _counters is None:
        _counters = SharedCounters.private()
    return _counters
