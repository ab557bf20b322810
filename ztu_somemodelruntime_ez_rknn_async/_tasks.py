"""Building the jobs the session hands to the dispatcher, and the futures and waits around them.

A *job* ``job(slot)`` runs one inference on ``slot.context`` (a :class:`~._runner.SlotRunner`); it never
references the ``InferenceSession``, so a session can be collected while its tasks are in flight.

Two kinds of futures:

* internal ones (:func:`submit_internal`: run with a timeout, batch dispatch, imap, run_coro, the pipeline)
  are resolved **on the worker thread** inside the job: nobody else's code runs there, and the waiter does
  not depend on the callback thread (so these are safe from inside callbacks, and not held back by the
  ordered delivery of other tasks);
* the public :meth:`InferenceSession.submit` future is resolved on the callback thread (see session.py).
"""
from __future__ import annotations

import collections
import concurrent.futures
import functools
import itertools
import threading
from typing import Any, Callable, Deque, Iterator, List, Optional

import numpy as np

from . import _wakeups
from ._core import SessionCore
from ._feeds import PreparedFeed, prepare_feed
from ._outputs import OutputPlan, preallocate, select_outputs
from .errors import RunTimeoutError, SessionClosedError
from .profiling import TaskTrace, TraceRecorder, profile_file_name

__all__ = ["Profiler", "TimedFuture", "discard", "error_text", "fail_future", "finished_within", "imap", "make_job",
           "run_timeout", "submit_internal", "wait"]

Outputs = List[np.ndarray]
Future = concurrent.futures.Future
Job = Callable[[Any], Any]


def error_text(exc: BaseException) -> str:
    """The ``err`` string of a ``run_async`` callback (``"session closed: ..."`` when closed first)."""
    if isinstance(exc, SessionClosedError):
        text = str(exc)
        return text if "session closed" in text.lower() else "session closed: {}".format(text)
    return str(exc) or type(exc).__name__


def run_timeout(timeout_s: float) -> RunTimeoutError:
    return RunTimeoutError(
        "the run did not finish within run_timeout_ms={:g}; its worker slot stays busy until the runtime returns, "
        "the session keeps serving on the other slots".format(timeout_s * 1000.0))


def finished_within(fut: Future, timeout_s: Optional[float]) -> bool:  # type: ignore[type-arg]
    """Wait up to ``timeout_s`` for ``fut``; whether it finished (``CancelledError`` if it was cancelled).

    ``Future.exception()`` *returns* the task's exception, so the only ``TimeoutError`` it raises is the wait's
    own. (``fut.result(timeout)`` cannot tell them apart: since Python 3.11 ``concurrent.futures.TimeoutError``
    is the builtin ``TimeoutError``, which the runtime's :class:`~.errors.RknnTimeoutError` subclasses.)
    """
    try:
        concurrent.futures.Future.exception(fut, timeout_s)
    except concurrent.futures.TimeoutError:
        return fut.done()
    return True


def wait(fut: Future, timeout_s: Optional[float]) -> Any:  # type: ignore[type-arg]
    """``fut.result(timeout_s)``; on expiry cancel the task if it has not started and raise RunTimeoutError.

    The task's own exceptions (also a ``TimeoutError`` such as RknnTimeoutError) are raised unchanged.
    """
    if not finished_within(fut, timeout_s):
        fut.cancel()
        assert timeout_s is not None
        raise run_timeout(timeout_s)
    return fut.result()


def fail_future(fut: Future, exc: BaseException) -> None:  # type: ignore[type-arg]
    """Resolve ``fut`` with ``exc`` unless it is already resolved or was cancelled before it started."""
    if fut.done():
        return
    if fut.running() or fut.set_running_or_notify_cancel():
        fut.set_exception(exc)


class TimedFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """A Future whose ``result()``/``exception()`` without a timeout wait at most ``run_timeout_ms``
    (then :class:`~.errors.RunTimeoutError`); an explicit timeout keeps the standard behaviour."""

    def __init__(self, default_timeout_s: Optional[float]) -> None:
        super().__init__()
        self._default_timeout_s = default_timeout_s

    def result(self, timeout: Optional[float] = None) -> Any:
        if timeout is not None or self._default_timeout_s is None:
            return super().result(timeout)
        if not finished_within(self, self._default_timeout_s):  # not result(t): the task's TimeoutError is kept
            raise run_timeout(self._default_timeout_s)
        return super().result()

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if timeout is not None or self._default_timeout_s is None:
            return super().exception(timeout)
        try:
            return super().exception(self._default_timeout_s)  # returns the task's exception: this is the wait's
        except concurrent.futures.TimeoutError:
            raise run_timeout(self._default_timeout_s) from None


class Profiler:
    """The session's trace recorder plus task numbering (``SessionOptions.enable_profiling``)."""

    def __init__(self, prefix: str) -> None:
        self.recorder = TraceRecorder()
        self.prefix = prefix
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def new(self, name: str, tag: Optional[str] = None) -> TaskTrace:
        """A trace for one task; ``tag`` (the run option) goes into its events' args."""
        with self._lock:
            task_id = next(self._ids)
        trace = TaskTrace(task_id, submitted_s=self.recorder.now(), name=name)
        if tag is not None:
            trace.args["tag"] = tag
        return trace

    def record(self, trace: TaskTrace) -> None:
        self.recorder.record_task(trace)

    def write(self) -> str:
        return self.recorder.write(profile_file_name(self.prefix))


def make_job(feed: PreparedFeed, plans: List[OutputPlan], trace: Optional[TaskTrace],
             profiler: Optional[Profiler]) -> Callable[[Any], Outputs]:
    """``job(slot) -> outputs`` (all outputs in model order), traced when ``trace`` is given.

    The output arrays of static models are allocated here, on the submitting thread (see
    :func:`~._outputs.preallocate`).
    """
    buffers = preallocate(plans)
    if trace is None or profiler is None:
        def job(slot: Any) -> Outputs:
            outs: Outputs = slot.context.run(feed, plans, None, None, buffers)
            return outs
        return job
    clock = profiler.recorder.now

    def traced(slot: Any) -> Outputs:
        trace.set_slot(slot.core, slot.index, clock())
        outs: Outputs = slot.context.run(feed, plans, trace, clock, buffers)
        return outs
    return traced


def submit_internal(core: SessionCore, feed: PreparedFeed, plans: List[OutputPlan],
                    profiler: Optional[Profiler] = None, name: str = "task",
                    block: bool = True, tag: Optional[str] = None) -> Future:  # type: ignore[type-arg]
    """Submit a task whose Future (of all outputs) is resolved on the worker thread.

    Nobody observes these futures through the callback thread, so they are submitted outside the
    delivery order: a long or hung internal task never holds back the ordered callbacks after it.
    """
    fut: Future = concurrent.futures.Future()  # type: ignore[type-arg]
    trace = profiler.new(name, tag) if profiler is not None else None
    run = make_job(feed, plans, trace, profiler)

    def job(slot: Any) -> None:
        if not fut.set_running_or_notify_cancel():
            return
        outs: Any = None
        error: Optional[BaseException] = None
        try:
            outs = run(slot)
        except BaseException as exc:  # noqa: B902 - handed to the waiter
            error = exc
        # Record before resolving, so a waiter that calls end_profiling() at once sees this task.
        if trace is not None and profiler is not None:
            profiler.record(trace)
        # Resolved once this worker is back in the runtime (or idle): see _wakeups.
        _wakeups.wake_soon(functools.partial(_resolve, fut, outs, error))
        del error

    def deliver(_result: Any, exc: Optional[BaseException]) -> None:
        if exc is not None:
            fail_future(fut, exc)

    assert core.dispatcher is not None
    # The job resolves the future itself: only failures from outside it (closed, expired) need `deliver`.
    core.dispatcher.submit(job, deliver, block=block, errors_only=True)
    return fut


def _resolve(fut: Future, outs: Any, error: Optional[BaseException]) -> None:  # type: ignore[type-arg]
    try:
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(outs)
    except concurrent.futures.InvalidStateError:
        pass  # close() gave up on the task meanwhile and resolved it already: exactly once


def discard(pending: Deque[Future]) -> None:  # type: ignore[type-arg]
    """Drop pending results quietly: cancel what has not started; running ones finish and are dropped."""
    while pending:
        pending.popleft().cancel()


def imap(core: SessionCore, feeds: Iterator[Any], plans: List[OutputPlan], indices: Optional[List[int]],
         limit: int, timeout_s: Optional[float], profiler: Optional[Profiler],
         tag: Optional[str] = None) -> Iterator[Outputs]:
    """The generator behind ``InferenceSession.imap`` (arguments already validated; closing it never blocks)."""
    pending: Deque[Future] = collections.deque()  # type: ignore[type-arg]
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    item = next(feeds)
                except StopIteration:
                    exhausted = True
                    break
                if core.closed:
                    raise SessionClosedError("this InferenceSession is closed")
                feed = prepare_feed(core.inputs, item, copy=True)
                pending.append(submit_internal(core, feed, plans, profiler, "imap", tag=tag))
            if not pending:
                return
            outs = wait(pending.popleft(), timeout_s)
            yield select_outputs(outs, indices)
    finally:
        # Never block here: an abandoned generator may be finalized by gc on a worker thread that is running
        # one of these tasks (it would wait for itself). Running tasks finish and their results are dropped;
        # the dispatcher resolves every future, so nothing leaks.
        discard(pending)
