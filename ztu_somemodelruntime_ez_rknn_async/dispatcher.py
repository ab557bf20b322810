"""Worker slots per NPU core: the task queue, weighted assignment, back-pressure, pacing, statistics.

The dispatcher knows nothing about RKNN.  A :class:`WorkerSlot` carries an opaque ``context``; a job is
a callable that receives the slot it runs on and has exclusive use of it for the duration of the call
(its worker thread or a :meth:`Dispatcher.run_inline` borrower, never both).

Assignment: one shared queue, weighted by a bounded lead
---------------------------------------------------------

The peer fixes each task's core at submission (``schedule[ticket % len(schedule)]``) and its workers only
take the *head* of one FIFO, so one slow task on a busy core idles every other core (head-of-line
blocking, peer-behavior.md §11.3).  Here every idle slot pulls from one shared FIFO, and the weights are
enforced by a stride/credit rule instead of by pre-assignment:

* core ``k`` with weight ``w_k`` advances a *pass* value by ``stride_k = S / w_k`` (``S`` = lcm of the
  weights) every time it takes a task, so ``pass_k / S`` is the number of schedule rounds it consumed;
* an idle slot of core ``k`` may take the head task only while ``pass_k < min_j(pass_j) + max_lead * S``,
  i.e. while its core is less than ``max_lead`` rounds ahead of the most lagging core; among several idle
  eligible slots the core with the smallest pass wins (ties: longest idle), which reproduces the
  round-robin schedule exactly when latencies are equal.

``max_lead`` therefore bounds how far the per-core counts can drift from the weights: every core's
rounds ``count_k / w_k`` stay within ``max_lead + 1 / w_k`` of the most lagging core, hence
``|count_k - n * w_k / W| < w_k * (max_lead + 1)`` (``<= max_lead`` with equal weights), while
jitter inside that bound never leaves a core idle.  ``max_lead=1`` is a strict lock-step schedule.

Measured with ``benchmarks/dispatch_overhead.py --simulate-only`` (a deterministic virtual-time
simulation of the policies: 3 equal cores, equal weights, 6000 tasks, queue of 6, producer always
ahead; fraction of the ideal ``total work / 3``):

=====================================  ========  ===========  ============  ===============
policy                                  +/-20 %   5 % of jobs  exponential   core 2 is 30 %
                                        jitter    4x longer    latencies     slower (+/-20 %)
=====================================  ========  ===========  ============  ===============
peer: fixed core + head-of-line FIFO     0.980      0.835         0.638          0.836
per-core queues, fixed round robin       0.994      0.926         0.808          0.836
shared queue, ``max_lead=1`` (strict)    0.993      0.861         0.707          0.836
shared queue, ``max_lead=2`` (default)   0.994      0.918         0.790          0.836
shared queue, ``max_lead=4``             0.998      0.955         0.844          0.837
shared queue, ``max_lead`` unbounded     1.000      1.000         0.999          1.000
=====================================  ========  ===========  ============  ===============

Every bounded policy loses the same 16 % in the last column: the weights say "equal shares", so
the slower core paces the others; only the unbounded queue recovers it, by ignoring the weights
(skew of 498 tasks out of 6000).

With real threads and sleep jobs (``dispatch_overhead.py --policies --repeat 3``, same scenario, on
this 2-CPU machine shared with other jobs) the default reached 0.74-0.75 of ideal at 0.5 ms, 0.90-0.92
at 2 ms and 0.96-0.98 at 10 ms, with or without 20 % jitter; the measured slot utilisation was
0.96-0.995 throughout, i.e. the gap to ideal at 0.5 ms is mostly ``time.sleep`` overshoot and GIL
contention, not idle slots.  Between policies the real-thread numbers differ by less than the run-to-run
noise (about +/-5 %; the benchmark's peer and per-core baselines have no callback thread at all, so they
are optimistic), which is why the choice rests on the deterministic simulation.

Choice: the shared queue with ``max_lead`` defaulting to two rounds per slot of a core.  It keeps the
peer's meaning of the weights (counts within ``w_k * (max_lead + 1)`` tasks of the schedule,
exactly the schedule when every slot is idle), removes head-of-line blocking (better than the peer
in every scenario), and with the moderate jitter of a real NPU it is within 0.6 % of work-conserving.
A larger lead buys throughput only with heavy-tailed latencies, at the price of a larger count skew;
``max_lead`` is a constructor argument for that case.  Per-core queues with a fixed assignment land
close to ``max_lead=2`` (a little better with heavy tails at a queue of 6, worse at a queue of 3:
0.893 vs 0.918), while ``max_lead=3`` already beats them everywhere; they were rejected because a task
bound to a core at submission can never move to an idle core, so their behaviour depends on the
queue size, and the producer blocks on one core's full queue while other cores idle.

Zero-latency dispatch rate (trivial jobs, 3 slots, one producer, submit of the first task to delivery
of the last): 37 000-63 000 tasks/s with ``max_queue_size=3`` and 64 000-111 000 with 64, ordered or
not, on this machine (the C++ peer: ~17 000), because an idle worker is handed its task directly, a
busy worker takes the next one without sleeping, and the callback thread delivers contiguous results
in batches.

Back-pressure and re-entrancy
-----------------------------

``submit`` accepts at once while fewer than ``max_queue_size`` tasks are *waiting* (not yet started) and
fewer than ``backlog_limit`` results are completed but undelivered; otherwise it waits on one condition
(woken by a worker taking a task, by the callback thread taking results, and by :meth:`close`) for up
to ``submit_timeout_s``, then raises :class:`~.errors.SubmitTimeoutError`.  A submit made *from the
callback thread* ignores ``backlog_limit``: only the callback thread can shrink the backlog, so waiting
for it would be waiting for ourselves (the peer times out there and loses the submission).  It still
respects ``max_queue_size``, which the workers drain on their own.  Nothing is lost; the backlog may
briefly exceed the limit by what that callback submits.

``run_inline`` borrows any idle slot (preferring the core most behind its weighted share; the run counts
toward that share) on the caller's thread.  Borrowers are served before queued tasks when a slot frees up,
so a synchronous ``run()`` cannot be starved by a stream of ``run_async``.  It never involves the
callback thread, so it is safe inside a deliver callback.

Shutdown
--------

:meth:`Dispatcher.close` stops accepting, resolves every waiting task with
:class:`~.errors.SessionClosedError` through its ``deliver`` (on the callback thread, in ticket order),
lets running jobs finish and waits (bounded by ``close_timeout_s``) for every thread to leave.  The last
thread to leave (worker, callback thread or inline borrower) calls ``on_closed`` exactly once, so the
owner can destroy the contexts knowing no thread uses them any more, even when ``close`` is called
from a deliver callback or a job (it then only signals, never joins itself) or when a hung job
outlives the close timeout (``on_closed`` then runs whenever that job returns; :meth:`busy_slots`
tells which slots are still in use).  Threads only reference the internal engine, never the
:class:`Dispatcher` object, so dropping the owner closes the dispatcher (via :func:`weakref.finalize`,
without blocking the collecting thread).  At interpreter exit an :mod:`atexit` hook over a weak set of
live dispatchers closes each with ``wait=True`` (bounded by ``close_timeout_s``), so pending outcomes
are delivered and ``on_closed`` runs while the interpreter is still intact; the threads are daemons,
so a hung job cannot block exit beyond that bound.
"""
from __future__ import annotations

import atexit
import collections
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from functools import reduce
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)

from .errors import SessionClosedError, SubmitTimeoutError
from .sequencer import Sequencer, report_unraisable

__all__ = ["Dispatcher", "DispatcherStats", "LatencySummary", "WorkerSlot"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Samples kept for the latency percentiles (a ring buffer: the most recent ones).
RESERVOIR_SIZE = 2048

# Worker states (plain ints: compared on the hot path).
_IDLE = 0  # in the idle list, sleeping on its wake lock
_BUSY = 1  # running (or about to run) a task
_LENT = 2  # its slot is borrowed by run_inline; the thread sleeps on its wake lock
_STOPPED = 3

# (job, deliver, ticket, accept time); a tuple because it is built once per submit on the hot path.
_Task = Tuple[Callable[[Any], Any], Callable[[Any, Optional[BaseException]], None], int, float]


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


class _Ring:
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

    def summary(self) -> LatencySummary:
        values = sorted(self._data if self._full else self._data[: self._pos])
        n = len(values)
        if n == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0)

        def pct(q: float) -> float:
            # Nearest-rank percentile.
            return values[min(n - 1, max(0, math.ceil(q * n) - 1))]

        return LatencySummary(n, pct(0.50), pct(0.90), pct(0.99), math.fsum(values) / n)


class _Core:
    """Per-core scheduling state (guarded by the engine lock)."""

    __slots__ = ("core", "weight", "stride", "passv", "tasks", "busy", "nslots")

    def __init__(self, core: int, weight: int, stride: int) -> None:
        self.core = core
        self.weight = weight
        self.stride = stride
        self.passv = 0  # stride * tasks taken: schedule rounds consumed, in units of 1/S
        self.tasks = 0
        self.busy = 0.0
        self.nslots = 0


class _Worker:
    """One slot and the thread that serves it (fields guarded by the engine lock)."""

    __slots__ = ("slot", "core", "state", "task", "wake", "thread", "tasks", "busy")

    def __init__(self, slot: WorkerSlot, core: _Core) -> None:
        self.slot = slot
        self.core = core
        self.state = _IDLE
        self.task: Optional[_Task] = None
        # Binary semaphore the thread sleeps on; released exactly once per sleep by whoever moves the
        # worker out of _IDLE/_LENT (a raw lock is the cheapest blocking primitive in CPython).
        self.wake = threading.Lock()
        self.wake.acquire()
        self.thread: Optional[threading.Thread] = None
        self.tasks = 0
        self.busy = 0.0


class _InlineWaiter:
    """A run_inline caller waiting for a free slot."""

    __slots__ = ("worker", "wake")

    def __init__(self) -> None:
        self.worker: Optional[_Worker] = None
        self.wake = threading.Lock()
        self.wake.acquire()


def _worker_main(engine: _Engine, worker: _Worker) -> None:
    """Worker thread body.  Holds the engine only (never the Dispatcher or its owner)."""
    lock = engine.lock
    clock = engine.clock
    slot = worker.slot
    task: Optional[_Task] = None
    try:
        while True:
            if task is None:
                worker.wake.acquire()
                task = worker.task
                worker.task = None
                if task is None:  # woken to stop
                    return
            job, deliver, ticket, accepted = task
            task = None
            error: Optional[BaseException] = None
            result: Any = None
            start = clock()
            try:
                result = job(slot)
            except BaseException as exc:  # noqa: B902 - delivered to the caller, never raised here
                error = exc
            end = clock()
            with lock:
                task = engine.finish_locked(worker, ticket, deliver, result, error, accepted, start, end)
                stop = worker.state == _STOPPED
            # Break the traceback -> frame -> error cycle and drop the user's objects promptly.
            del job, deliver, result, error
            if stop:
                return
    finally:
        engine.leave()


class _Engine:
    """The dispatcher's shared state; the only object the threads reference."""

    def __init__(
        self,
        slots: Sequence[WorkerSlot],
        schedule_weights: Mapping[int, int],
        max_queue_size: int,
        submit_timeout_s: float,
        sequential: bool,
        pacing: bool,
        backlog_limit: int,
        name: str,
        max_lead: Optional[int],
        close_timeout_s: float,
        on_closed: Optional[Callable[[], None]],
        clock: Callable[[], float],
    ) -> None:
        self.lock = threading.Lock()
        self.space = threading.Condition(self.lock)  # submitters waiting for capacity or pacing
        self.clock = clock
        self.name = name
        self.max_queue_size = max_queue_size
        self.submit_timeout_s = submit_timeout_s
        self.backlog_limit = backlog_limit
        self.pacing = pacing
        self.close_timeout_s = close_timeout_s
        self.on_closed = on_closed

        scale = reduce(_lcm, schedule_weights.values(), 1)
        self.cores: Dict[int, _Core] = {
            core: _Core(core, weight, scale // weight) for core, weight in sorted(schedule_weights.items())
        }
        self.core_list = list(self.cores.values())
        self.weighted = len(self.core_list) > 1
        if max_lead is None:
            # Default measured in benchmarks/dispatch_overhead.py: two rounds per slot of a core.
            max_lead = 2 * max(1, max(sum(1 for s in slots if s.core == c) for c in self.cores))
        self.lead_units = max_lead * scale

        self.workers: List[_Worker] = []
        for slot in slots:
            core = self.cores[slot.core]
            core.nslots += 1
            self.workers.append(_Worker(slot, core))
        self.idle: List[_Worker] = list(self.workers)
        self.queue: Deque[_Task] = collections.deque()
        self.waiters: Deque[_InlineWaiter] = collections.deque()
        self.space_waiters = 0
        self.closed = False
        self.finalized = threading.Event()
        self.internal_idents: Set[int] = set()
        self.borrowers: Dict[int, int] = {}  # thread ident -> slots it currently borrows
        self.users = 0  # live threads + active inline borrowers; the one that reaches 0 finalizes

        # Pacing state (peer §11.7, with the timer moved only by accepted submissions).
        self.ema = 0.0
        self.last_accept = clock()
        self.paced_submits = 0

        # Statistics.
        self.started_at = clock()
        self.submitted = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.running = 0
        self.inline_runs = 0
        self.inline_failed = 0
        self.wait_ring = _Ring(RESERVOIR_SIZE)
        self.run_ring = _Ring(RESERVOIR_SIZE)

        self.sequencer = Sequencer(
            self.lock,
            ordered=sequential,
            name=f"{name}-callback",
            on_taken=self._on_taken_locked,
            on_exit=self.leave,
        )
        self.users = 1
        self.internal_idents.add(self.sequencer.thread.ident or 0)
        try:
            for worker in self.workers:
                slot = worker.slot
                thread = threading.Thread(
                    target=_worker_main,
                    args=(self, worker),
                    name=f"{name}-core{slot.core}-{slot.index}",
                    daemon=True,  # a hung job must never block interpreter exit
                )
                with self.lock:
                    self.users += 1
                try:
                    thread.start()
                except BaseException:
                    with self.lock:
                        self.users -= 1  # this thread will never call leave()
                    raise
                worker.thread = thread
                self.internal_idents.add(thread.ident or 0)
        except BaseException:
            self.close(wait=False)
            raise

    # -- scheduling (lock held) --------------------------------------------------------------------------

    def _eligible_locked(self, core: _Core) -> bool:
        if not self.weighted:
            return True
        return core.passv < min(c.passv for c in self.core_list) + self.lead_units

    def _pick_idle_locked(self) -> Optional[_Worker]:
        """The idle worker that should take the next task, or None if no idle core may run ahead."""
        idle = self.idle
        if not idle:
            return None
        if not self.weighted:
            return idle[0]
        limit = min(c.passv for c in self.core_list) + self.lead_units
        best: Optional[_Worker] = None
        best_pass = limit
        for worker in idle:  # idle is in idle-since order, so ties go to the longest idle slot
            p = worker.core.passv
            if p < best_pass:
                best, best_pass = worker, p
        return best

    def _assign_locked(self, worker: _Worker, task: _Task) -> None:
        core = worker.core
        core.passv += core.stride
        core.tasks += 1
        self.running += 1
        worker.state = _BUSY
        worker.task = task
        worker.wake.release()

    def _dispatch_locked(self) -> None:
        """Hand queued tasks to idle eligible workers (restores 'no eligible idle worker while queued')."""
        queue = self.queue
        freed = 0
        while queue and self.idle:
            worker = self._pick_idle_locked()
            if worker is None:
                break
            self.idle.remove(worker)
            self._assign_locked(worker, queue.popleft())
            freed += 1
        if freed and self.space_waiters:
            self.space.notify(freed)

    def _next_for_locked(self, worker: _Worker) -> Optional[_Task]:
        """A worker's slot is free again: lend it, give it the next task, or park it (lock held)."""
        if self.closed:
            worker.state = _STOPPED
            return None
        core = worker.core
        if self.waiters:
            # Synchronous callers first: a stream of async submissions must not starve run().
            waiter = self.waiters.popleft()
            worker.state = _LENT
            core.passv += core.stride
            core.tasks += 1
            waiter.worker = worker
            waiter.wake.release()
            if self.queue and self.idle:
                self._dispatch_locked()
            return None
        queue = self.queue
        if queue and (not self.weighted or self._eligible_locked(core)):
            core.passv += core.stride
            core.tasks += 1
            self.running += 1
            worker.state = _BUSY
            task = queue.popleft()
            if self.space_waiters:
                self.space.notify()
            if queue and self.idle:
                self._dispatch_locked()  # our take may have raised the minimum pass
            return task
        worker.state = _IDLE
        self.idle.append(worker)
        return None

    def finish_locked(
        self,
        worker: _Worker,
        ticket: int,
        deliver: Callable[[Any, Optional[BaseException]], None],
        result: Any,
        error: Optional[BaseException],
        accepted: float,
        start: float,
        end: float,
    ) -> Optional[_Task]:
        """Record a finished task, queue its outcome for delivery, and return the worker's next task."""
        elapsed = end - start
        worker.core.busy += elapsed
        worker.busy += elapsed
        worker.tasks += 1
        self.run_ring.add(elapsed)
        self.wait_ring.add(start - accepted)
        self.running -= 1
        if error is None:
            self.completed += 1
            self._update_ema_locked(elapsed)
        else:
            self.failed += 1
        self.sequencer.complete_locked(ticket, deliver, result, error)
        return self._next_for_locked(worker)

    def _update_ema_locked(self, elapsed: float) -> None:
        if self.pacing:
            self.ema = elapsed if self.ema == 0.0 else 0.95 * self.ema + 0.05 * elapsed

    def _on_taken_locked(self, count: int) -> None:
        if self.space_waiters:
            self.space.notify(count)

    # -- submission --------------------------------------------------------------------------------------

    def submit(self, job: Callable[[Any], Any], deliver: Callable[[Any, Optional[BaseException]], None]) -> None:
        with self.lock:
            if (
                self.closed
                or self.pacing
                or len(self.queue) >= self.max_queue_size
                or self.sequencer.backlog >= self.backlog_limit
            ):
                self._admit_slow_locked()
            ticket = self.sequencer.issue_locked()
            self.submitted += 1
            task: _Task = (job, deliver, ticket, self.clock())
            if self.idle and not self.queue:
                worker = self._pick_idle_locked()
                if worker is not None:
                    self.idle.remove(worker)
                    self._assign_locked(worker, task)
                    return
            self.queue.append(task)

    def _admit_slow_locked(self) -> None:
        """Wait (lock held) until a submission may be accepted; raise on close or timeout."""
        on_callback_thread = self.sequencer.is_callback_thread()
        deadline: Optional[float] = None
        paced = False
        try:
            while True:
                if self.closed:
                    raise SessionClosedError(f"{self.name}: the dispatcher is closed; submission rejected")
                reason: Optional[str] = None
                wait: Optional[float] = None
                now: Optional[float] = None
                if len(self.queue) >= self.max_queue_size:
                    reason = f"the task queue is full (max_queue_size={self.max_queue_size} waiting tasks)"
                elif not on_callback_thread and self.sequencer.backlog >= self.backlog_limit:
                    reason = (
                        f"the callback pipeline is saturated (backlog_limit={self.backlog_limit} "
                        "completed results not yet delivered)"
                    )
                elif self.pacing:
                    now = self.clock()
                    if self.ema > 0.0:
                        due = self.last_accept + self.ema / len(self.core_list)
                        if now < due:
                            reason = "the pacing interval has not elapsed"
                            wait = due - now
                            if not paced:
                                paced = True
                                self.paced_submits += 1
                    if reason is None:
                        self.last_accept = now  # only accepted submissions move the pacing timer
                        return
                else:
                    return
                if now is None:
                    now = self.clock()
                if deadline is None:
                    deadline = now + self.submit_timeout_s
                remaining = deadline - now
                if remaining <= 0.0:
                    raise SubmitTimeoutError(
                        f"{self.name}: submit timed out after {self.submit_timeout_s:g} s "
                        f"(submit_timeout_s): {reason}"
                    )
                self.space_waiters += 1
                try:
                    self.space.wait(remaining if wait is None else min(wait, remaining))
                finally:
                    self.space_waiters -= 1
        finally:
            # Pass the wake-up on: another waiter may be able to proceed too (or instead of us).
            if self.space_waiters:
                self.space.notify()

    # -- inline runs -------------------------------------------------------------------------------------

    def run_inline(self, job: Callable[[Any], Any], timeout_s: float) -> Any:
        ident = threading.get_ident()
        waiter: Optional[_InlineWaiter] = None
        with self.lock:
            if self.closed:
                raise SessionClosedError(f"{self.name}: the dispatcher is closed; run rejected")
            worker: Optional[_Worker] = None
            if self.idle and not self.waiters:
                worker = self._pick_inline_locked()
            if worker is None:
                waiter = _InlineWaiter()
                self.waiters.append(waiter)
            else:
                self._borrow_locked(worker)
            self.users += 1
            self.borrowers[ident] = self.borrowers.get(ident, 0) + 1
        try:
            if waiter is not None:
                if timeout_s > 0:
                    waiter.wake.acquire(timeout=timeout_s)
                with self.lock:
                    worker = waiter.worker
                    if worker is None:
                        try:
                            self.waiters.remove(waiter)
                        except ValueError:
                            pass
                        if self.closed:
                            raise SessionClosedError(f"{self.name}: the dispatcher was closed while waiting")
                        raise SubmitTimeoutError(
                            f"{self.name}: no free slot within {timeout_s:g} s: every slot is busy"
                        )
            assert worker is not None
            return self._run_borrowed(worker, job)
        finally:
            self._borrow_done(ident)

    def _pick_inline_locked(self) -> Optional[_Worker]:
        # Any idle slot; prefer the core most behind its weighted share (ties: longest idle).
        best: Optional[_Worker] = None
        for worker in self.idle:
            if best is None or worker.core.passv < best.core.passv:
                best = worker
        return best

    def _borrow_locked(self, worker: _Worker) -> None:
        self.idle.remove(worker)
        worker.state = _LENT
        core = worker.core
        core.passv += core.stride
        core.tasks += 1
        if self.queue and self.idle:
            self._dispatch_locked()

    def _run_borrowed(self, worker: _Worker, job: Callable[[Any], Any]) -> Any:
        clock = self.clock
        error: Optional[BaseException] = None
        start = clock()
        try:
            return job(worker.slot)
        except BaseException as exc:
            error = exc
            raise
        finally:
            end = clock()
            elapsed = end - start
            with self.lock:
                worker.core.busy += elapsed
                worker.busy += elapsed
                worker.tasks += 1
                self.run_ring.add(elapsed)
                self.inline_runs += 1
                if error is None:
                    self._update_ema_locked(elapsed)
                else:
                    self.inline_failed += 1
                task = self._next_for_locked(worker)
                if task is not None or worker.state == _STOPPED:
                    # The worker thread sleeps while its slot is lent: hand it the task or the stop.
                    worker.task = task
                    worker.wake.release()
            del error

    def _borrow_done(self, ident: int) -> None:
        with self.lock:
            count = self.borrowers[ident] - 1
            if count:
                self.borrowers[ident] = count
            else:
                del self.borrowers[ident]
        self.leave()

    # -- shutdown ----------------------------------------------------------------------------------------

    def leave(self) -> None:
        """A thread or borrower is done with its slot for good; the last one out finalizes."""
        with self.lock:
            self.users -= 1
            last = self.users == 0 and self.closed
        if last:
            self._finalize()

    def _finalize(self) -> None:
        try:
            if self.on_closed is not None:
                self.on_closed()
        except BaseException as exc:  # noqa: B902 - nobody to raise to on an internal thread
            report_unraisable(exc, self.on_closed, "Exception ignored in dispatcher on_closed hook")
        finally:
            self.on_closed = None
            self.finalized.set()

    def close(self, wait: bool) -> None:
        ident = threading.get_ident()
        with self.lock:
            if not self.closed:
                self.closed = True
                cancelled = list(self.queue)
                self.queue.clear()
                for _job, deliver, ticket, _accepted in cancelled:
                    self.cancelled += 1
                    self.sequencer.complete_locked(
                        ticket,
                        deliver,
                        None,
                        SessionClosedError(f"{self.name}: closed before the task started"),
                    )
                del cancelled
                for worker in self.idle:
                    worker.state = _STOPPED
                    worker.task = None
                    worker.wake.release()
                self.idle.clear()
                for waiter in self.waiters:
                    waiter.wake.release()
                self.waiters.clear()
                self.sequencer.close_locked()
                self.space.notify_all()
                last = self.users == 0
            else:
                last = False
            internal = ident in self.internal_idents or ident in self.borrowers
        if last:  # only possible when thread creation failed before any thread started
            self._finalize()
        if not wait or internal:
            # Never join ourselves (peer bug: self-join abort); the last thread out finalizes.
            return
        if not self.finalized.wait(self.close_timeout_s):
            busy = self.busy_slots()
            logger.warning(
                "%s: close() gave up waiting after %g s; still busy: %s. Their threads are left running "
                "as daemons and on_closed will run when they finish.",
                self.name,
                self.close_timeout_s,
                ", ".join(f"core{s.core}-{s.index}" for s in busy) or "callback thread",
            )
            return
        for worker in self.workers:
            if worker.thread is not None and worker.thread.ident is not None:
                worker.thread.join()
        self.sequencer.join()

    def busy_slots(self) -> Tuple[WorkerSlot, ...]:
        with self.lock:
            return tuple(w.slot for w in self.workers if w.state == _BUSY or w.state == _LENT)

    # -- statistics --------------------------------------------------------------------------------------

    def stats(self) -> DispatcherStats:
        with self.lock:
            uptime = max(self.clock() - self.started_at, 1e-12)
            seq = self.sequencer
            return DispatcherStats(
                submitted=self.submitted,
                completed=self.completed,
                failed=self.failed,
                cancelled=self.cancelled,
                delivered=seq.delivered,
                callback_errors=seq.callback_errors,
                inline_runs=self.inline_runs,
                inline_failed=self.inline_failed,
                queue_depth=len(self.queue),
                running=self.running,
                backlog=seq.backlog,
                tasks_per_core={c.core: c.tasks for c in self.core_list},
                busy_s_per_core={c.core: c.busy for c in self.core_list},
                utilisation_per_core={
                    c.core: (c.busy / (uptime * c.nslots) if c.nslots else 0.0) for c in self.core_list
                },
                tasks_per_slot=tuple(w.tasks for w in self.workers),
                busy_s_per_slot=tuple(w.busy for w in self.workers),
                queue_wait=self.wait_ring.summary(),
                run_latency=self.run_ring.summary(),
                paced_submits=self.paced_submits,
                pacing_interval_s=self.ema / len(self.core_list) if self.ema else 0.0,
                uptime_s=uptime,
            )


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def _close_engine(engine: _Engine) -> None:
    # Garbage collection can run on any thread at any point: never block there.
    engine.close(wait=False)


# Engines that may still have threads (a weak set: the threads, not this set, keep an engine alive).
_live_engines: weakref.WeakSet[_Engine] = weakref.WeakSet()


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
            ``None`` picks two rounds per slot of the largest core.
        close_timeout_s: Bound on the joins done by ``close(wait=True)``.
        on_closed: Called exactly once, without arguments, by the last thread to stop using a slot
            after ``close`` (the owner destroys its contexts there).  It must not reference the owner
            strongly, or the owner's threads would keep it alive.
        clock: Monotonic clock in seconds used for job timing, pacing and submit deadlines
            (injectable for tests).

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
    ) -> None:
        slots = tuple(slots)
        _validate(slots, schedule_weights, max_queue_size, submit_timeout_s, backlog_limit, max_lead,
                  close_timeout_s)
        self._slots = slots
        self._engine = _Engine(
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
    ) -> None:
        """Queue ``job`` to run on a worker slot; ``deliver`` receives its outcome.

        ``job(slot)`` runs on a worker thread with exclusive use of ``slot``.  ``deliver(result, None)``
        or ``deliver(None, exception)`` then runs on the callback thread, exactly once per accepted
        submission, in submission order when ``sequential``.

        Args:
            job: The work.
            deliver: The completion callback; exceptions it raises go to ``sys.unraisablehook``.

        Raises:
            SubmitTimeoutError: No capacity (queue, callback backlog or pacing) within
                ``submit_timeout_s``.
            SessionClosedError: The dispatcher is (or got) closed.
        """
        self._engine.submit(job, deliver)

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
        and ``on_closed`` has run, or after ``close_timeout_s`` with a warning.
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
