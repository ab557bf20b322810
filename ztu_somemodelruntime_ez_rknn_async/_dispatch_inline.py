"""Inline runs: a caller borrows an idle worker slot and runs its job on its own thread.

Part of the dispatcher engine (:mod:`._dispatch_engine` holds the state; these functions run under its
lock where their names say so).

``run_inline`` borrows any idle slot (preferring the core most behind its weighted share; the run counts
toward that share) on the caller's thread.  Borrowers are served before queued tasks when a slot frees up,
so a synchronous ``run()`` cannot be starved by a stream of ``run_async``.  It never involves the
callback thread, so it is safe inside a deliver callback.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._dispatch_worker import CHECK, IDLE, LENT, STOPPED, InlineWaiter, Worker
from .errors import SessionClosedError, SubmitTimeoutError

if TYPE_CHECKING:
    from ._dispatch_engine import Engine

__all__ = ["borrow_locked", "run_inline"]


def run_inline(engine: Engine, job: Callable[[Any], Any], timeout_s: float) -> Any:
    ident = threading.get_ident()
    waiter: Optional[InlineWaiter] = None
    with engine.lock:
        if engine.closed:
            raise SessionClosedError(f"{engine.name}: the dispatcher is closed; run rejected")
        worker: Optional[Worker] = None
        if engine.idle and not engine.waiters:
            worker = engine.schedule.pick_inline(engine.idle)
        if worker is None:
            waiter = InlineWaiter()
            engine.waiters.append(waiter)
        else:
            borrow_locked(engine, worker)
        engine.users += 1
        engine.borrowers[ident] = engine.borrowers.get(ident, 0) + 1
    try:
        if waiter is not None:
            if timeout_s > 0:
                waiter.wake.acquire(timeout=timeout_s)
            with engine.lock:
                worker = waiter.worker
                if worker is None:
                    try:
                        engine.waiters.remove(waiter)
                    except ValueError:
                        pass
                    if engine.closed:
                        raise SessionClosedError(f"{engine.name}: the dispatcher was closed while waiting")
                    raise SubmitTimeoutError(
                        f"{engine.name}: no free slot within {timeout_s:g} s: every slot is busy"
                    )
        assert worker is not None
        return _run_borrowed(engine, worker, job)
    finally:
        _borrow_done(engine, ident)


def borrow_locked(engine: Engine, worker: Worker) -> None:
    engine.idle.remove(worker)
    worker.state = LENT
    worker.core.take()
    if engine.queue and engine.idle:
        engine.dispatch_locked()
        if engine.queue and engine.idle:  # the borrowed slot may have been the timed sleeper: keep one
            engine.arm_locked()


def _run_borrowed(engine: Engine, worker: Worker, job: Callable[[Any], Any]) -> Any:
    clock = engine.clock
    error: Optional[BaseException] = None
    start = clock()
    worker.started = start
    try:
        return job(worker.slot)
    except BaseException as exc:
        error = exc
        raise
    finally:
        elapsed = clock() - start
        with engine.lock:
            engine.account_run_locked(worker, elapsed, error is None)
            engine.inline_runs += 1
            if error is not None:
                engine.inline_failed += 1
            task = engine.next_for_locked(worker)
            if task is not None or worker.state == STOPPED:
                # The worker thread sleeps while its slot is lent: hand it the task or the stop.
                worker.task = task
                worker.wake.release()
            elif worker.state == IDLE and worker.timeout >= 0.0:
                # Parked by the lead while tasks wait, but its thread sleeps without a timeout: kick it
                # to re-park itself as a timed sleeper.
                engine.idle.remove(worker)
                worker.state = CHECK
                worker.wake.release()
        del error


def _borrow_done(engine: Engine, ident: int) -> None:
    with engine.lock:
        count = engine.borrowers[ident] - 1
        if count:
            engine.borrowers[ident] = count
        else:
            del engine.borrowers[ident]
    engine.leave()
