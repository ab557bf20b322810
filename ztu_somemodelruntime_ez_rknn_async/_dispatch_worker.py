"""One worker slot: its state, the wake semaphore it sleeps on, and the thread loop that runs its jobs.

The fields are guarded by the engine lock; :mod:`._dispatch_engine` moves workers between the states
and hands them tasks, :func:`worker_main` runs them.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple

from . import _wakeups
from ._dispatch_policy import NOT_RUNNING, CoreState

if TYPE_CHECKING:
    from ._dispatch_engine import Engine
    from .dispatcher import WorkerSlot

__all__ = ["BUSY", "CHECK", "IDLE", "LENT", "STOPPED", "InlineWaiter", "Task", "Worker", "worker_main"]

# Worker states (plain ints: compared on the hot path).
IDLE = 0  # in the idle list, sleeping on its wake lock
BUSY = 1  # running (or about to run) a task
LENT = 2  # its slot is borrowed by run_inline; the thread sleeps on its wake lock
STOPPED = 3
CHECK = 4  # woken (out of the idle list) to re-check the lead rule and re-park itself as a timed sleeper

# (job, deliver, ticket, accept time); a tuple because it is built once per submit on the hot path.
Task = Tuple[Callable[[Any], Any], Callable[[Any, Optional[BaseException]], None], int, float]


class Worker:
    """One slot and the thread that serves it (fields guarded by the engine lock)."""

    __slots__ = ("slot", "core", "state", "task", "current", "wake", "thread", "tasks", "busy", "started",
                 "timeout")

    def __init__(self, slot: WorkerSlot, core: CoreState) -> None:
        self.slot = slot
        self.core = core
        self.state = IDLE
        self.task: Optional[Task] = None
        # The task its thread is running; None once finished, or once close() gave up on it (abandoned: its
        # outcome was delivered as SessionClosedError and the late one is dropped).
        self.current: Optional[Task] = None
        # Binary semaphore the thread sleeps on; released exactly once per sleep by whoever moves the
        # worker out of IDLE/LENT (a raw lock is the cheapest blocking primitive in CPython).
        self.wake = threading.Lock()
        self.wake.acquire()
        self.thread: Optional[threading.Thread] = None
        self.tasks = 0
        self.busy = 0.0
        # clock() at the start of the job on this slot (written by the thread running it, just before the
        # call); NOT_RUNNING otherwise (reset under the lock when the job ends).  Read by the stall rule.
        self.started = NOT_RUNNING
        # How its thread sleeps while IDLE: < 0 untimed; else re-check the lead rule every `timeout`
        # seconds (parked by the lead while tasks wait: only a stalled core can change that unannounced).
        self.timeout = -1.0


class InlineWaiter:
    """A run_inline caller waiting for a free slot."""

    __slots__ = ("worker", "wake")

    def __init__(self) -> None:
        self.worker: Optional[Worker] = None
        self.wake = threading.Lock()
        self.wake.acquire()


def worker_main(engine: Engine, worker: Worker) -> None:
    """Worker thread body.  Holds the engine only (never the Dispatcher or its owner)."""
    lock = engine.lock
    clock = engine.clock
    slot = worker.slot
    wake = worker.wake
    task: Optional[Task] = None
    deferral = _wakeups.start() if engine.defer_wakeups else None
    try:
        while True:
            if task is None:
                if deferral is not None:
                    _wakeups.issue()  # nothing may wait on us while we sleep
                timeout = worker.timeout  # set under the lock when it parked (only its own thread re-parks it)
                if timeout < 0.0:
                    wake.acquire()
                elif not wake.acquire(timeout=timeout):
                    with lock:
                        # Parked by the lead while tasks wait: look again (a core may have stalled since),
                        # unless it was moved out of IDLE meanwhile (its wake is, or once lent will be, released).
                        resumed = worker.state == IDLE
                        if resumed:
                            task = engine.resume_locked(worker)
                            stop = worker.state == STOPPED
                    if resumed:
                        if stop:
                            return
                        continue  # run the task, or sleep again as the state says
                    wake.acquire()
                task = worker.task
                worker.task = None
                if task is None:  # woken to stop, or kicked to look again (CHECK)
                    with lock:
                        if worker.state != STOPPED:
                            task = engine.resume_locked(worker)
                        stop = worker.state == STOPPED
                    if stop:
                        return
                    continue
            job, deliver, ticket, accepted = task
            task = None
            error: Optional[BaseException] = None
            result: Any = None
            start = clock()
            worker.started = start
            if deferral is not None:
                deferral.armed = True
            try:
                result = job(slot)
            except BaseException as exc:  # noqa: B902 - delivered to the caller, never raised here
                error = exc
            end = clock()
            if deferral is not None and deferral.armed:
                _wakeups.issue()  # the job never reached the runtime: wake the others now
            with lock:
                task = engine.finish_locked(worker, ticket, deliver, result, error, accepted, start, end)
                stop = worker.state == STOPPED
            # Break the traceback -> frame -> error cycle and drop the user's objects promptly.
            del job, deliver, result, error
            if stop:
                return
    finally:
        if deferral is not None:
            _wakeups.stop()
        engine.leave()
