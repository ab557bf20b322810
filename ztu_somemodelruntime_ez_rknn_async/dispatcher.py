"""Worker slots per NPU core: the public :class:`Dispatcher` over its engine, slots and statistics.

The dispatcher knows nothing about RKNN.  A :class:`WorkerSlot` carries an opaque ``context``; a job is
a callable that receives the slot it runs on and has exclusive use of it for the duration of the call
(its worker thread or a :meth:`Dispatcher.run_inline` borrower, never both).

Where the parts live:

* :mod:`._dispatch_engine`: the task queue, back-pressure, pacing, inline runs and shutdown (with the
  notes on re-entrancy and on which thread runs ``on_closed``);
* :mod:`._dispatch_policy`: which idle slot takes the next task (the weighted shared queue with a
  bounded lead, and the measurements behind that choice);
* :mod:`._dispatch_worker`: one slot's worker thread; :mod:`._dispatch_stats`: :class:`DispatcherStats`.

Lifetime
--------

Threads only reference the internal engine, never the :class:`Dispatcher` object, so dropping the
owner closes the dispatcher (via :func:`weakref.finalize`, without blocking the collecting thread).  At
interpreter exit an :mod:`atexit` hook over a weak set of live dispatchers closes each with
``wait=True`` (bounded by ``close_timeout_s``), so pending outcomes are delivered and ``on_closed``
runs while the interpreter is still intact; the threads are daemons, so a hung job cannot block exit
beyond that bound.
"""
from __future__ import annotations

import atexit
import logging
import math
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Set, Tuple, TypeVar

from ._dispatch_engine import Engine
from ._dispatch_policy import STALL_FACTOR, STALL_FLOOR_S
from ._dispatch_stats import DispatcherStats, LatencySummary

__all__ = ["Dispatcher", "DispatcherStats", "LatencySummary", "WorkerSlot"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class WorkerSlot:
    """One execution slot: a context bound to an NPU core.

    Attributes:
        core: The NPU core this slot runs on (the key of ``schedule_weights``).
        index: Index of the slot within its core (``threads_per_core`` slots per core).
        context: Opaque to the dispatcher (the session puts its RKNN context wrapper here).
    """

    core: int
    index: int
    context: object


def _close_engine(engine: Engine) -> None:
    # Garbage collection can run on any thread at any point: never block there.
    engine.close(wait=False)


# Engines that may still have threads (a weak set: the threads, not this set, keep an engine alive).
_live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    # The public replacement for threading._register_atexit: at interpreter exit, give every dispatcher
    # the chance to deliver its pending outcomes and run on_closed (destroy its contexts) while the
    # interpreter is still intact, each bounded by its close_timeout_s.  Daemon threads would otherwise
    # be frozen mid-call during finalisation.
    for engine in list(_live_engines):
        try:
            engine.close(wait=True)
        except Exception:  # pragma: no cover - defensive: exit must go on
            logger.exception("%s: close at exit failed", engine.name)


class Dispatcher:
    """Runs jobs on worker slots (one thread per slot) and delivers their outcomes in order.

    Args:
        slots: The slots; one worker thread is started per slot, named ``"<name>-core<k>-<i>"``.
        schedule_weights: Core -> weight (>= 1); every slot's core must appear, and every core must
            have a slot.  ``{0: 2, 1: 1}`` sends two thirds of the tasks to core 0.
        max_queue_size: Tasks allowed to wait for a slot before ``submit`` blocks (>= 1).
        submit_timeout_s: How long ``submit`` waits for capacity before raising
            :class:`~.errors.SubmitTimeoutError` (0: never wait).
        sequential: Deliver in submission order (``True``) or completion order.
        pacing: Space submissions by the measured per-core job time (peer ``enable_pacing``).
        backlog_limit: Completed-but-undelivered results allowed before ``submit`` blocks.
        name: Prefix of the thread names and of error messages.
        max_lead: How many schedule rounds a core may run ahead of the most lagging core (>= 1);
            ``None`` picks four rounds per slot of the largest core.
        close_timeout_s: Bound on the joins done by ``close(wait=True)``.
        on_closed: Called exactly once, without arguments, by the last thread to stop using a slot
            after ``close`` (the owner destroys its contexts there).  It must not reference the owner
            strongly, or the owner's threads would keep it alive.
        clock: Monotonic clock in seconds used for job timing, pacing, submit deadlines and the stall
            rule (injectable for tests).
        stall_factor: With ``stall_floor_s``, when a core counts as stalled and stops pacing the others
            (see the ``_dispatch_policy`` docstring): once every slot of the core has been running its
            job for longer than ``max(stall_floor_s, stall_factor * p90 of the recent run times)``.
            >= 1; default 8.
        stall_floor_s: See ``stall_factor``; > 0, default 0.25 s; ``math.inf`` disables the rule (a
            hung job then parks the other cores once they are ``max_lead`` rounds ahead).
        defer_wakeups: Workers hold the wake-ups they cause (callback thread, blocked submitters,
            :func:`~._wakeups.wake_soon` calls of their jobs) until their next job calls
            :func:`~._wakeups.issue` right before it blocks, or until that job returns or they go
            idle (see :mod:`._wakeups`).  Only for jobs that issue before any long wait.  The callback
            thread then also runs under Linux's ``SCHED_BATCH`` policy, so that the wake-up issued right
            before a runtime call does not preempt the worker issuing it (``sequencer``).

    Raises:
        ValueError: Inconsistent slots, weights or limits.
    """

    def __init__(
        self,
        slots: Sequence[WorkerSlot],
        *,
        schedule_weights: Mapping[int, int],
        max_queue_size: int,
        submit_timeout_s: float,
        sequential: bool,
        pacing: bool,
        backlog_limit: int = 8,
        name: str = "ez-rknn",
        max_lead: Optional[int] = None,
        close_timeout_s: float = 10.0,
        on_closed: Optional[Callable[[], None]] = None,
        clock: Callable[[], float] = time.perf_counter,
        stall_factor: float = STALL_FACTOR,
        stall_floor_s: float = STALL_FLOOR_S,
        defer_wakeups: bool = False,
    ) -> None:
        slots = tuple(slots)
        _validate(slots, schedule_weights, max_queue_size, submit_timeout_s, backlog_limit, max_lead,
                  close_timeout_s)
        if not (isinstance(stall_factor, (int, float)) and stall_factor >= 1 and math.isfinite(stall_factor)):
            raise ValueError(f"stall_factor={stall_factor!r} must be a finite number >= 1")
        if not (isinstance(stall_floor_s, (int, float)) and stall_floor_s > 0):
            raise ValueError(f"stall_floor_s={stall_floor_s!r} must be > 0 (math.inf disables the stall rule)")
        self._slots = slots
        self._engine = Engine(
            slots,
            dict(schedule_weights),
            max_queue_size,
            float(submit_timeout_s),
            bool(sequential),
            bool(pacing),
            backlog_limit,
            name,
            max_lead,
            float(close_timeout_s),
            on_closed,
            clock,
            float(stall_factor),
            float(stall_floor_s),
            bool(defer_wakeups),
        )
        # Dropping the Dispatcher (e.g. with its session) closes it; the threads only hold the engine.
        self._finalizer = weakref.finalize(self, _close_engine, self._engine)
        _live_engines.add(self._engine)

    @property
    def slots(self) -> Tuple[WorkerSlot, ...]:
        """The slots, in the order given."""
        return self._slots

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._engine.closed

    def submit(
        self,
        job: Callable[[WorkerSlot], T],
        deliver: Callable[[Optional[T], Optional[BaseException]], None],
        *,
        ordered: bool = True,
        block: bool = True,
        expire_after_s: Optional[float] = None,
        expired_error: Optional[Callable[[], BaseException]] = None,
        errors_only: bool = False,
    ) -> None:
        """Queue ``job`` to run on a worker slot; ``deliver`` receives its outcome.

        ``job(slot)`` runs on a worker thread with exclusive use of ``slot``.  ``deliver(result, None)``
        or ``deliver(None, exception)`` then runs on the callback thread, exactly once per accepted
        submission, in submission order when ``sequential``.

        Args:
            job: The work.
            deliver: The completion callback; exceptions it raises go to ``sys.unraisablehook``.
            ordered: ``False`` takes this submission out of the delivery order: its ``deliver`` runs as
                soon as it completes and never waits for, or holds back, the ordered ones.
            block: ``False`` never waits for capacity: without it, :class:`SubmitTimeoutError` is raised
                at once (for callers that must not block, such as an asyncio event loop).
            expire_after_s: A deadline, in seconds from acceptance: if the task has not completed by then,
                ``deliver(None, expired_error())`` is called at that point (in the task's place in the order;
                ``TimeoutError`` when ``expired_error`` is ``None``) and the job's late outcome is dropped; a
                task still waiting is removed and never runs.  One shared timer thread serves every deadline.
            expired_error: Makes the exception delivered when the deadline passes.
            errors_only: ``deliver`` runs only with an exception (the job raised, the deadline passed,
                or the dispatcher closed first); a successful outcome is dropped without waking the
                callback thread, for jobs that hand their result over themselves.  Implies
                ``ordered=False``.

        Raises:
            SubmitTimeoutError: No capacity (queue, callback backlog or pacing) within
                ``submit_timeout_s``.
            SessionClosedError: The dispatcher is (or got) closed.
        """
        self._engine.submit(job, deliver, ordered, block, expire_after_s, expired_error, errors_only)

    def run_inline(self, job: Callable[[WorkerSlot], T], timeout_s: float) -> T:
        """Run ``job`` on the caller's thread on a borrowed idle slot and return its result.

        Waits up to ``timeout_s`` for a slot when all are busy; a waiting caller is served before the
        queued tasks.  Safe to call from a deliver callback.  Called from inside a job of the same
        dispatcher it may wait for the slot that job itself holds (bounded by ``timeout_s``).

        Args:
            job: The work; its exception propagates to the caller.
            timeout_s: Bound on the wait for a free slot (not on the job itself).

        Raises:
            SubmitTimeoutError: No slot became free within ``timeout_s``.
            SessionClosedError: The dispatcher is (or got) closed.
        """
        result: T = self._engine.run_inline(job, timeout_s)
        return result

    def close(self, *, wait: bool = True) -> None:
        """Stop accepting work and shut the threads down.  Idempotent.

        Waiting tasks are resolved with :class:`~.errors.SessionClosedError` through their ``deliver``;
        running jobs finish and are delivered normally.  With ``wait`` (and when not called from a
        worker, the callback thread or a ``run_inline`` job) this returns once every thread has left
        and ``on_closed`` has run, or after ``close_timeout_s`` with a warning; the jobs still running
        then are delivered :class:`~.errors.SessionClosedError` at once (exactly once: their late outcome
        is dropped) and the callback thread gets up to ``close_timeout_s`` more to deliver.
        """
        self._engine.close(wait)

    def busy_slots(self) -> Tuple[WorkerSlot, ...]:
        """Slots whose job (worker or inline) is still in progress; after a timed-out close, the
        contexts the owner must not destroy yet."""
        return self._engine.busy_slots()

    def stats(self) -> DispatcherStats:
        """A consistent snapshot of the counters."""
        return self._engine.stats()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _validate(
    slots: Tuple[WorkerSlot, ...],
    weights: Mapping[int, int],
    max_queue_size: int,
    submit_timeout_s: float,
    backlog_limit: int,
    max_lead: Optional[int],
    close_timeout_s: float,
) -> None:
    if not slots:
        raise ValueError("Dispatcher needs at least one WorkerSlot")
    if not weights:
        raise ValueError("schedule_weights must not be empty")
    for core, weight in weights.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            raise ValueError(f"schedule_weights[{core!r}]={weight!r} must be an int >= 1")
    seen: Set[Tuple[int, int]] = set()
    for slot in slots:
        if slot.core not in weights:
            raise ValueError(f"slot core{slot.core}-{slot.index}: core {slot.core} has no schedule weight")
        if (slot.core, slot.index) in seen:
            raise ValueError(f"duplicate slot core{slot.core}-{slot.index}")
        seen.add((slot.core, slot.index))
    missing = sorted(set(weights) - {s.core for s in slots})
    if missing:
        raise ValueError(f"schedule_weights names cores without slots: {missing}")
    if max_queue_size < 1:
        raise ValueError(f"max_queue_size={max_queue_size!r} must be >= 1")
    if submit_timeout_s < 0 or close_timeout_s < 0:
        raise ValueError("submit_timeout_s and close_timeout_s must be >= 0")
    if backlog_limit < 1:
        raise ValueError(f"backlog_limit={backlog_limit!r} must be >= 1")
    if max_lead is not None and max_lead < 1:
        raise ValueError(f"max_lead={max_lead!r} must be >= 1")
