"""The dispatcher engine: worker threads, the shared task queue, scheduling and back-pressure.

This is the state behind :class:`~.dispatcher.Dispatcher` and the only object its threads reference.
Which idle slot takes a task is decided by :mod:`._dispatch_policy`; the counters are summarised with
:mod:`._dispatch_stats`; outcomes go through the :class:`~.sequencer.Sequencer`.

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

Inline runs (``run_inline``, a caller borrowing an idle slot) live in :mod:`._dispatch_inline`, closing in
:mod:`._dispatch_shutdown`; both work on this engine's state under its lock.
"""
from __future__ import annotations

import collections
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from . import _dispatch_deadlines, _dispatch_inline, _dispatch_shutdown
from ._dispatch_policy import NOT_RUNNING, Schedule
from ._dispatch_stats import RESERVOIR_SIZE, DispatcherStats, Ring
from ._dispatch_worker import BUSY, CHECK, IDLE, LENT, STOPPED, InlineWaiter, Task, Worker, worker_main
from .errors import SessionClosedError, SubmitTimeoutError
from .sequencer import Sequencer, report_unraisable

if TYPE_CHECKING:
    from .dispatcher import WorkerSlot

__all__ = ["Engine"]

# Logged under the public module's name (what users configure).
logger = logging.getLogger(__name__.rpartition(".")[0] + ".dispatcher")

class Engine:
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
        stall_factor: float,
        stall_floor_s: float,
        defer_wakeups: bool = False,
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
        self.defer_wakeups = defer_wakeups  # workers defer wake-ups until their job enters the runtime

        self.run_ring = Ring(RESERVOIR_SIZE)
        self.schedule = Schedule(
            schedule_weights, (s.core for s in slots), max_lead, clock, self.run_ring.recent, stall_factor,
            stall_floor_s,
        )
        cores = self.schedule.cores
        self.workers: List[Worker] = [Worker(slot, cores[slot.core]) for slot in slots]
        for worker in self.workers:
            worker.core.members.append(worker)
        self.idle: List[Worker] = list(self.workers)
        self.queue: Deque[Task] = collections.deque()
        self.waiters: Deque[InlineWaiter] = collections.deque()
        self.space_waiters = 0
        self.closed = False
        self.finalized = threading.Event()
        self.internal_idents: Set[int] = set()
        self.borrowers: Dict[int, int] = {}  # thread ident -> slots it currently borrows
        self.users = 0  # live threads + active inline borrowers; the one that reaches 0 finalizes
        # id(task) -> its deadline, for tasks submitted with expire_after_s until they are resolved.
        self.deadlines: Dict[int, _dispatch_deadlines.Deadline] = {}

        # Pacing state (peer §11.7, with the timer moved only by accepted submissions).
        self.ema = 0.0
        self.last_accept = clock()
        self.paced_submits = 0
        self.rechecks = 0  # parked slots that woke up to apply the lead rule again (tests)

        # Statistics.
        self.started_at = clock()
        self.submitted = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.running = 0
        self.inline_runs = 0
        self.inline_failed = 0
        self.wait_ring = Ring(RESERVOIR_SIZE)

        self.sequencer = Sequencer(
            self.lock,
            ordered=sequential,
            name=f"{name}-callback",
            on_taken=self._on_taken_locked,
            on_exit=self.leave,
            no_wakeup_preemption=defer_wakeups,  # the same owners: the workers wake it before rknn_run
        )
        self.users = 1
        self.internal_idents.add(self.sequencer.thread.ident or 0)
        try:
            for worker in self.workers:
                slot = worker.slot
                thread = threading.Thread(
                    target=worker_main,
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

    def _assign_locked(self, worker: Worker, task: Task) -> None:
        worker.core.take()
        self.running += 1
        worker.state = BUSY
        worker.task = task
        worker.current = task
        worker.wake.release()

    def dispatch_locked(self) -> None:
        """Hand queued tasks to idle eligible workers (restores 'no eligible idle worker while queued')."""
        queue = self.queue
        freed = 0
        while queue and self.idle:
            worker = self.schedule.pick_idle(self.idle)
            if worker is None:
                break
            self.idle.remove(worker)
            self._assign_locked(worker, queue.popleft())
            freed += 1
        if freed:
            self._space_freed_locked()
            if queue and self.idle:  # the timed sleeper may have been among those assigned
                self.arm_locked()

    def _space_freed_locked(self) -> None:
        """Wake submitters waiting for queue space, in bursts (lock held).

        A blocked producer is woken only once the queue has drained to half its size, and then as many
        as there is room for: waking it for every single free place costs two thread switches per task,
        and on a 2-CPU board those switches are what keeps a core idle between two runs (measured in
        benchmarks/README.md).  A queue of 1 or 2 still wakes on every free place.
        """
        if self.space_waiters and len(self.queue) <= self.max_queue_size // 2:
            # Not deferred (see _wakeups): a producer woken late lets the queue run dry (measured).
            self.space.notify(self.max_queue_size - len(self.queue))

    def arm_locked(self) -> None:
        """Tasks wait while the lead parks every idle slot (lock held).  A core can stall without any event
        that would run the assignment again, so one parked slot must look again after a bounded time: if
        none sleeps with a timeout, kick one (it re-parks itself as a timed sleeper).

        Invariant: while tasks are queued and slots idle, one idle slot sleeps with a timeout.  It is
        restored where it can break: a task queued while slots idle (``submit``), idle slots assigned,
        lent or re-checked while tasks stay queued (``dispatch_locked``, ``_borrow_locked``,
        ``resume_locked``), a slot parked by an inline borrower (``_run_borrowed``); a slot that parks
        itself with tasks queued sleeps with a timeout."""
        if not self.schedule.detect:
            return
        idle = self.idle
        for worker in idle:
            if worker.timeout >= 0.0:
                return
        worker = idle.pop()
        worker.state = CHECK
        worker.task = None
        worker.wake.release()

    def resume_locked(self, worker: Worker) -> Optional[Task]:
        """A worker's thread woke without a task (kicked, or its timed sleep ended while still IDLE): apply
        the assignment rules to it again, now that a core may have stalled (lock held)."""
        self.rechecks += 1
        if worker.state == IDLE:
            self.idle.remove(worker)
        task = self.next_for_locked(worker)
        if self.queue and self.idle:  # it may have been the timed sleeper: keep one
            self.arm_locked()
        return task

    def next_for_locked(self, worker: Worker) -> Optional[Task]:
        """A worker's slot is free again: lend it, give it the next task, or park it (lock held)."""
        if self.closed:
            worker.state = STOPPED
            return None
        core = worker.core
        if self.waiters:
            # Synchronous callers first: a stream of async submissions must not starve run().
            waiter = self.waiters.popleft()
            worker.state = LENT
            worker.timeout = -1.0  # its thread sleeps until the borrower hands the slot back
            core.take()
            waiter.worker = worker
            waiter.wake.release()
            if self.queue and self.idle:
                self.dispatch_locked()
            return None
        queue = self.queue
        schedule = self.schedule
        if queue and (not schedule.weighted or schedule.eligible(core)):
            core.take()
            self.running += 1
            worker.state = BUSY
            task = queue.popleft()
            worker.current = task
            self._space_freed_locked()
            if queue and self.idle:
                self.dispatch_locked()  # our take may have raised the minimum pass
            return task
        worker.state = IDLE
        self.idle.append(worker)
        if queue and schedule.detect:
            # Parked by the lead while tasks wait: sleep with a timeout, to notice a core that stalls.
            worker.timeout = schedule.recheck_s
            if schedule.newly_stalled:  # the stall just found may make other parked slots eligible
                schedule.newly_stalled = False
                self.dispatch_locked()
        else:
            worker.timeout = -1.0
        return None

    def finish_locked(
        self,
        worker: Worker,
        ticket: int,
        deliver: Callable[[Any, Optional[BaseException]], None],
        result: Any,
        error: Optional[BaseException],
        accepted: float,
        start: float,
        end: float,
    ) -> Optional[Task]:
        """Record a finished task, queue its outcome for delivery, and return the worker's next task."""
        self.account_run_locked(worker, end - start, error is None)
        self.wait_ring.add(start - accepted)
        self.running -= 1
        if error is None:
            self.completed += 1
        else:
            self.failed += 1
        task = worker.current
        if task is not None:
            worker.current = None
            if self.deadlines:
                self._drop_deadline_locked(task)
            self.sequencer.complete_locked(ticket, deliver, result, error)
        else:  # its deadline passed, or close() gave up on it: resolved already, exactly once
            logger.debug("%s: dropped the late outcome of a task on core%d-%d that was already resolved (its "
                         "deadline passed, or close() gave up on it)", self.name, worker.slot.core, worker.slot.index)
        return self.next_for_locked(worker)

    def account_run_locked(self, worker: Worker, elapsed: float, ok: bool) -> None:
        """A job ended on ``worker``'s slot (queued or inline): its core and slot counters, the run-time
        reservoir, pacing, and the stall rule's rejoin (lock held)."""
        core = worker.core
        worker.started = NOT_RUNNING
        if core.stalled:
            self.schedule.rejoin(core)
        core.busy += elapsed
        worker.busy += elapsed
        worker.tasks += 1
        self.run_ring.add(elapsed)
        if ok and self.pacing:  # moving average of successful run times (peer §11.7)
            self.ema = elapsed if self.ema == 0.0 else 0.95 * self.ema + 0.05 * elapsed

    def _on_taken_locked(self, count: int) -> None:
        if self.space_waiters:
            self.space.notify(count)

    # -- submission --------------------------------------------------------------------------------------

    def submit(
        self,
        job: Callable[[Any], Any],
        deliver: Callable[[Any, Optional[BaseException]], None],
        ordered: bool = True,
        block: bool = True,
        expire_after_s: Optional[float] = None,
        expired_error: Optional[Callable[[], BaseException]] = None,
        errors_only: bool = False,
    ) -> None:
        with self.lock:
            if (
                self.closed
                or self.pacing
                or len(self.queue) >= self.max_queue_size
                or self.sequencer.backlog >= self.backlog_limit
            ):
                self._admit_slow_locked(self.submit_timeout_s if block else 0.0)
            ticket = self.sequencer.issue_locked(ordered, errors_only)
            self.submitted += 1
            task: Task = (job, deliver, ticket, self.clock())
            if expire_after_s is not None:
                self._set_deadline_locked(task, expire_after_s, expired_error)
            if self.idle and not self.queue:
                worker = self.schedule.pick_idle(self.idle)
                if worker is not None:
                    self.idle.remove(worker)
                    self._assign_locked(worker, task)
                    return
            queue = self.queue
            queue.append(task)
            if self.idle and len(queue) == 1:  # the lead parks them (already armed if tasks were queued)
                self.arm_locked()

    def _admit_slow_locked(self, timeout_s: float) -> None:
        """Wait (lock held) up to ``timeout_s`` until a submission may be accepted; raise on close or timeout."""
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
                        due = self.last_accept + self.ema / len(self.schedule.core_list)
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
                    deadline = now + timeout_s
                remaining = deadline - now
                if remaining <= 0.0:
                    raise SubmitTimeoutError(
                        f"{self.name}: submit timed out after {timeout_s:g} s "
                        f"(submit_timeout_s={self.submit_timeout_s:g}): {reason}"
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

    # -- deadlines (submit(expire_after_s=...)) ----------------------------------------------------------

    def _set_deadline_locked(self, task: Task, after_s: float,
                             make_error: Optional[Callable[[], BaseException]]) -> None:
        error: Callable[[], BaseException] = make_error or (
            lambda: TimeoutError(f"{self.name}: the task did not finish within {after_s:g} s"))
        self.deadlines[id(task)] = _dispatch_deadlines.schedule(after_s, lambda: self._expire(task, error))

    def _drop_deadline_locked(self, task: Task) -> None:
        deadline = self.deadlines.pop(id(task), None)
        if deadline is not None:
            _dispatch_deadlines.cancel(deadline)

    def _expire(self, task: Task, make_error: Callable[[], BaseException]) -> None:
        """The deadline of ``task`` passed (on the timer thread): resolve it now with ``make_error()``, in its
        place in the delivery order, unless it is resolved already.  Still queued, it is removed (it never
        runs); running, its late outcome is dropped by :meth:`finish_locked` (as for ``close`` giving up on
        a hung job, :meth:`_abandon_running_locked`)."""
        with self.lock:
            if self.deadlines.pop(id(task), None) is None:
                return
            for worker in self.workers:
                if worker.current is task:
                    worker.current = None
                    break
            else:
                queue = self.queue
                for i, queued in enumerate(queue):
                    if queued is task:
                        del queue[i]
                        self.cancelled += 1
                        self._space_freed_locked()
                        break
                else:
                    return  # resolved already (closed)
            _job, deliver, ticket, _accepted = task
            self.sequencer.complete_locked(ticket, deliver, None, make_error())

    # -- inline runs (_dispatch_inline) -------------------------------------------------------------------

    def run_inline(self, job: Callable[[Any], Any], timeout_s: float) -> Any:
        return _dispatch_inline.run_inline(self, job, timeout_s)

    # -- shutdown ----------------------------------------------------------------------------------------

    def leave(self) -> None:
        """A thread or borrower is done with its slot for good; the last one out finalizes."""
        with self.lock:
            self.users -= 1
            last = self.users == 0 and self.closed
        if last:
            self.finalize()

    def finalize(self) -> None:
        try:
            if self.on_closed is not None:
                self.on_closed()
        except BaseException as exc:  # noqa: B902 - nobody to raise to on an internal thread
            report_unraisable(exc, self.on_closed, "Exception ignored in dispatcher on_closed hook")
        finally:
            self.on_closed = None
            self.finalized.set()

    def close(self, wait: bool) -> None:
        _dispatch_shutdown.close(self, wait)

    def busy_slots(self) -> Tuple[WorkerSlot, ...]:
        with self.lock:
            return tuple(w.slot for w in self.workers if w.state == BUSY or w.state == LENT)

    # -- statistics --------------------------------------------------------------------------------------

    def stats(self) -> DispatcherStats:
        with self.lock:
            uptime = max(self.clock() - self.started_at, 1e-12)
            seq = self.sequencer
            cores = self.schedule.core_list
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
                tasks_per_core={c.core: c.tasks for c in cores},
                busy_s_per_core={c.core: c.busy for c in cores},
                utilisation_per_core={c.core: (c.busy / (uptime * c.nslots) if c.nslots else 0.0) for c in cores},
                tasks_per_slot=tuple(w.tasks for w in self.workers),
                busy_s_per_slot=tuple(w.busy for w in self.workers),
                queue_wait=self.wait_ring.summary(),
                run_latency=self.run_ring.summary(),
                paced_submits=self.paced_submits,
                pacing_interval_s=self.ema / len(cores) if self.ema else 0.0,
                uptime_s=uptime,
            )

