"""Driving a session for ``ez-rknn bench``: one loop per mode, timing every inference (submit -> result).

:func:`run_benchmark` runs ``n`` inferences in one of :data:`MODES` and returns a :class:`BenchResult`
(latencies, failures, the ``(submit, done)`` span of each inference). Failed inferences are counted, not
raised. Nothing is printed here but the progress bar.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from ._cli_format import CliError, ProgressBar, describe_error, one_line

__all__ = ["MODES", "BenchResult", "run_benchmark"]

MODES = ("sync", "async", "submit", "imap", "pipeline", "zero-copy")


@dataclass
class BenchResult:
    mode: str
    n: int
    elapsed_s: float
    latencies_s: List[float]
    errors: int = 0
    first_error: str = ""
    # (submit_s, done_s) per inference on the perf_counter clock, for the coarse trace
    spans: List[Tuple[float, float]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return (self.n - self.errors) / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Collector:
    """Thread-safe bookkeeping of completed inferences (callbacks arrive on another thread)."""

    def __init__(self, n: int, progress: ProgressBar) -> None:
        self.n = n
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.count = 0
        self.errors = 0
        self.first_error = ""
        self.spans: List[Tuple[float, float]] = []
        self.progress = progress

    def complete(self, submitted_s: float, error: str = "") -> None:
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            self.spans.append((submitted_s, now))
            if error:
                self.errors += 1
                if not self.first_error:
                    self.first_error = one_line(error)
            count = self.count
        self.progress.update(count)
        if count >= self.n:
            self.done.set()


def _bench_sync(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            session.run(None, feed)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            col.complete(t0, describe_error(exc))
        else:
            col.complete(t0)


def _bench_async(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    def callback(results: Any, user_data: Any, err: Any) -> None:
        col.complete(float(user_data), str(err) if err else "")

    for _ in range(n):
        session.run_async(None, feed, callback, time.perf_counter())
    _wait(col)


def _bench_submit(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    submit = getattr(session, "submit", None)
    if not callable(submit):
        raise CliError("submit mode needs InferenceSession.submit(), which this session does not have")

    def done_cb(t0: float) -> Callable[[Any], None]:
        def cb(fut: Any) -> None:
            exc = fut.exception()
            col.complete(t0, describe_error(exc) if exc is not None else "")
        return cb

    for _ in range(n):
        t0 = time.perf_counter()
        fut = submit(None, feed)
        fut.add_done_callback(done_cb(t0))
    _wait(col)


def _bench_imap(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    imap = getattr(session, "imap", None)
    if not callable(imap):
        raise CliError("imap mode needs InferenceSession.imap(), which this session does not have")
    starts: Deque[float] = collections.deque()

    def feeds() -> Iterator[Mapping[str, np.ndarray]]:
        for _ in range(n):
            starts.append(time.perf_counter())
            yield feed

    for _ in imap(feeds()):
        col.complete(starts.popleft())


def _bench_pipeline(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector, depth: int) -> None:
    run_pipeline = getattr(session, "run_pipeline", None)
    if not callable(run_pipeline):
        raise CliError("pipeline mode needs InferenceSession.run_pipeline(), which this session does not have")
    flush = getattr(session, "flush_pipeline", None)
    starts: Deque[float] = collections.deque()
    # run_pipeline returns the result of the call made `depth` calls earlier (None while filling).
    for i in range(n):
        starts.append(time.perf_counter())
        out = run_pipeline(feed, depth=depth, reset=(i == 0))
        if out is not None:
            col.complete(starts.popleft())
    if callable(flush):
        for _ in flush():
            col.complete(starts.popleft())
    else:  # no flush API: keep feeding until every counted input has come back
        extra = 0
        while starts:
            extra += 1
            if extra > depth + 1:
                raise CliError("run_pipeline did not return the pending results")
            if run_pipeline(feed, depth=depth) is not None:
                col.complete(starts.popleft())


def _bench_zero_copy(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    io_binding = getattr(session, "io_binding", None)
    run_with = getattr(session, "run_with_iobinding", None)
    if not callable(io_binding) or not callable(run_with):
        raise CliError("zero-copy mode needs InferenceSession.io_binding(), which this version does not have yet")
    binding = io_binding()
    for name, arr in feed.items():
        binding.bind_cpu_input(name, arr)
    for out in session.get_outputs():
        binding.bind_output(out.name)
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            run_with(binding)
        except Exception as exc:  # noqa: BLE001
            col.complete(t0, describe_error(exc))
        else:
            col.complete(t0)


def _wait(col: _Collector) -> None:
    # Wake up regularly so that Ctrl-C is honoured.
    while not col.done.wait(0.2):
        pass


def run_benchmark(session: Any, mode: str, feed: Mapping[str, np.ndarray], n: int, *, depth: int = 3,
                  progress: Optional[ProgressBar] = None) -> BenchResult:
    """Drive ``session`` ``n`` times in ``mode``; returns timing per inference (submit → result)."""
    bar = progress or ProgressBar(n, enabled=False)
    col = _Collector(n, bar)
    t0 = time.perf_counter()
    try:
        if mode == "sync":
            _bench_sync(session, feed, n, col)
        elif mode == "async":
            _bench_async(session, feed, n, col)
        elif mode == "submit":
            _bench_submit(session, feed, n, col)
        elif mode == "imap":
            _bench_imap(session, feed, n, col)
        elif mode == "pipeline":
            _bench_pipeline(session, feed, n, col, depth)
        elif mode == "zero-copy":
            _bench_zero_copy(session, feed, n, col)
        else:
            raise CliError(f"unknown mode {mode!r}")
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    with col.lock:
        spans = sorted(col.spans)
        return BenchResult(mode=mode, n=n, elapsed_s=elapsed, latencies_s=[b - a for a, b in spans],
                           errors=col.errors, first_error=col.first_error, spans=spans)
