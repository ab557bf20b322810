"""Dispatcher statistics: the :class:`DispatcherStats` snapshot, latency percentiles and their reservoir.

The counters themselves live on the dispatcher engine (bumped under its lock on the hot path); this
module only defines what a snapshot looks like and how the latency percentiles are taken.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Mapping, Tuple

__all__ = ["DispatcherStats", "LatencySummary", "RESERVOIR_SIZE", "Ring"]

#: Samples kept for the latency percentiles (a ring buffer: the most recent ones).
RESERVOIR_SIZE = 2048


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles over the most recent :data:`RESERVOIR_SIZE` samples, in seconds.

    Attributes:
        count: Number of samples summarised (0: the percentiles are 0.0).
        p50: Median.
        p90: 90th percentile.
        p99: 99th percentile.
        mean: Mean of the samples.
    """

    count: int
    p50: float
    p90: float
    p99: float
    mean: float


@dataclass(frozen=True)
class DispatcherStats:
    """A consistent snapshot of the dispatcher counters.

    For asynchronous tasks ``submitted == completed + failed + cancelled + queue_depth + running``
    at every snapshot.  Per-core and per-slot counts include inline runs.

    Attributes:
        submitted: Accepted ``submit`` calls.
        completed: Tasks whose job returned.
        failed: Tasks whose job raised.
        cancelled: Tasks resolved with ``SessionClosedError`` by ``close`` before they started.
        delivered: Deliver callbacks that have run.
        callback_errors: Deliver callbacks that raised (reported through ``sys.unraisablehook``).
        inline_runs: ``run_inline`` jobs that ran (returned or raised).
        inline_failed: ``run_inline`` jobs that raised.
        queue_depth: Tasks waiting for a slot.
        running: Tasks handed to a worker and not finished yet.
        backlog: Completed results not yet taken by the callback thread.
        tasks_per_core: Jobs started per core.
        busy_s_per_core: Seconds spent inside jobs per core (summed over its slots).
        utilisation_per_core: ``busy_s / (uptime_s * slots on that core)``.
        tasks_per_slot: Jobs run per slot, in the order the slots were given.
        busy_s_per_slot: Seconds spent inside jobs per slot, same order.
        queue_wait: Time from acceptance to job start (asynchronous tasks).
        run_latency: Job execution time (asynchronous and inline).
        paced_submits: Submissions that waited for the pacing interval.
        pacing_interval_s: Current pacing interval (EMA of run time / cores; 0 without samples).
        uptime_s: Seconds since the dispatcher was created.
    """

    submitted: int
    completed: int
    failed: int
    cancelled: int
    delivered: int
    callback_errors: int
    inline_runs: int
    inline_failed: int
    queue_depth: int
    running: int
    backlog: int
    tasks_per_core: Mapping[int, int]
    busy_s_per_core: Mapping[int, float]
    utilisation_per_core: Mapping[int, float]
    tasks_per_slot: Tuple[int, ...]
    busy_s_per_slot: Tuple[float, ...]
    queue_wait: LatencySummary
    run_latency: LatencySummary
    paced_submits: int
    pacing_interval_s: float
    uptime_s: float


class Ring:
    """Fixed-size ring buffer of floats (most recent samples)."""

    __slots__ = ("_data", "_pos", "_full")

    def __init__(self, size: int) -> None:
        self._data = [0.0] * size
        self._pos = 0
        self._full = False

    def add(self, value: float) -> None:
        data = self._data
        pos = self._pos
        data[pos] = value
        pos += 1
        if pos == len(data):
            pos = 0
            self._full = True
        self._pos = pos

    def recent(self, k: int) -> List[float]:
        """The last ``k`` samples (fewer if there are not as many), oldest first."""
        data = self._data
        pos = self._pos
        if pos >= k:
            return data[pos - k : pos]
        if not self._full:
            return data[:pos]
        return data[max(pos, len(data) - (k - pos)) :] + data[:pos]

    def summary(self) -> LatencySummary:
        values = sorted(self._data if self._full else self._data[: self._pos])
        n = len(values)
        if n == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0)

        def pct(q: float) -> float:
            # Nearest-rank percentile.
            return values[min(n - 1, max(0, math.ceil(q * n) - 1))]

        return LatencySummary(n, pct(0.50), pct(0.90), pct(0.99), math.fsum(values) / n)

