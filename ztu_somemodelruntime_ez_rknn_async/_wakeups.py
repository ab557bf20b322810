"""Wake-ups a worker thread defers until it blocks in the runtime.

Why: between two inferences a worker runs a little Python (fetch the outputs, record the outcome, take
the next task, set the inputs), releasing the GIL for every short runtime call on the way.  When it
finishes a task it wakes other threads: the callback thread (a result is deliverable) or a thread
waiting on an internal future (``imap``, ``run`` with a timeout).  Woken at once, such a thread takes
the GIL at the worker's next short call (``rknn_inputs_set``) and runs its own Python chunk there, and
the worker waits for it: the core idles for the length of that chunk.  Issued just before the worker
enters ``rknn_run``, the same wake-ups run while the NPU works.  On this project's 2-CPU benchmark
machine that cut the mean gap between two runs of a core from 48 us to 36 us at 0.5 ms per run
(benchmarks/README.md).  A producer blocked on a full queue is still woken at once: woken late, it let
the queue run dry (measured worse).

Rules (each bounds the delay of a deferred wake-up):

* only a thread that called :func:`start` defers; everywhere else :func:`wake_soon` calls at once;
* :func:`issue` runs the deferred calls: the session's slot runner calls it right before ``rknn_run``,
  the worker loop before it sleeps (idle, stopping) and after every job that returned without calling
  it (:attr:`Deferral.armed`), so a wake-up is never held longer than the next job's way to the runtime;
* the deferred calls only release locks and resolve futures; an exception from one is reported through
  :data:`sys.unraisablehook` and the others still run.

The dispatcher enables this only for owners whose jobs issue before blocking (``defer_wakeups=True``):
an arbitrary job that blocks without issuing would hold the wake-ups of the previous task meanwhile.
"""
from __future__ import annotations

import threading
from typing import Callable, List, Optional

__all__ = ["Deferral", "issue", "start", "stop", "wake_soon"]

_local = threading.local()


class Deferral:
    """One thread's deferred calls, and whether its current job has issued yet."""

    __slots__ = ("calls", "armed")

    def __init__(self) -> None:
        self.calls: List[Callable[[], None]] = []
        # Set by the worker loop when a job starts, cleared by issue(): still set when the job returns
        # means the job never reached the runtime, and the loop issues for it.
        self.armed = False


def start() -> Deferral:
    """Make the calling thread defer its wake-ups (a dispatcher worker, at thread start)."""
    state = Deferral()
    _local.state = state
    return state


def stop() -> None:
    """Issue what is pending and stop deferring on the calling thread (worker exit)."""
    issue()
    _local.state = None


def wake_soon(call: Callable[[], None]) -> None:
    """Run ``call`` now, or at the calling thread's next :func:`issue` if it defers."""
    state: Optional[Deferral] = getattr(_local, "state", None)
    if state is None:
        call()
    else:
        state.calls.append(call)


def issue() -> None:
    """Run the calling thread's deferred wake-ups, in the order they were deferred."""
    state: Optional[Deferral] = getattr(_local, "state", None)
    if state is None:
        return
    state.armed = False
    calls = state.calls
    if not calls:
        return
    state.calls = []
    for call in calls:
        try:
            call()
        except BaseException as exc:  # noqa: B902 - a wake-up must not stop the others
            from .sequencer import report_unraisable  # here: the sequencer imports this module

            report_unraisable(exc, call, "Exception ignored in a deferred dispatcher wake-up")
            del exc
