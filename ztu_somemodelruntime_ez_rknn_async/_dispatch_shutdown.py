"""Closing the dispatcher engine: stop accepting, resolve what waits, join, and give up on hung jobs.

Part of the dispatcher engine: :mod:`._dispatch_engine` holds the state and ``Engine.leave``, which the
last thread out calls to run ``on_closed``.

:meth:`Dispatcher.close <.dispatcher.Dispatcher.close>` stops accepting, resolves every waiting task with
:class:`~.errors.SessionClosedError` through its ``deliver`` (on the callback thread, in ticket order),
lets running jobs finish and waits (bounded by ``close_timeout_s``) for every thread to leave; the tasks
still running when that bound expires are resolved with :class:`~.errors.SessionClosedError` at that point
(their late outcome is dropped), so no waiter and no later ordered delivery depends on a hung job.  The last
thread to leave (worker, callback thread or inline borrower) calls ``on_closed`` exactly once, so the
owner can destroy the contexts knowing no thread uses them any more, even when ``close`` is called
from a deliver callback or a job (it then only signals, never joins itself) or when a hung job
outlives the close timeout (``on_closed`` then runs whenever that job returns; ``Engine.busy_slots``
tells which slots are still in use).  A ``close`` reached from one of the dispatcher's own threads that
cannot take the lock (a garbage-collector finalizer run inside one of its locked sections) is handed to a
short-lived helper thread instead of dead-locking.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from . import _dispatch_deadlines
from ._dispatch_worker import STOPPED
from .errors import SessionClosedError

if TYPE_CHECKING:
    from ._dispatch_engine import Engine

__all__ = ["abandon_running_locked", "close"]

# Logged under the public module's name (what users configure).
logger = logging.getLogger(__name__.rpartition(".")[0] + ".dispatcher")


def close(engine: Engine, wait: bool) -> None:
    ident = threading.get_ident()
    # The deadline timer thread runs our _expire inside the lock too.
    internal = ident in engine.internal_idents or ident in engine.borrowers or _dispatch_deadlines.on_timer_thread()
    if internal:
        # The garbage collector may run a finalizer that closes us (an InferenceSession in a reference cycle)
        # on one of our own threads while it holds the lock in a locked section: never block on it there.
        if not engine.lock.acquire(timeout=0.1):
            threading.Thread(target=engine.close, args=(False,), name=f"{engine.name}-close", daemon=True).start()
            return
    else:
        engine.lock.acquire()
    try:
        if not engine.closed:
            engine.closed = True
            cancelled = list(engine.queue)
            engine.queue.clear()
            for _job, deliver, ticket, _accepted in cancelled:
                engine.cancelled += 1
                engine.sequencer.complete_locked(
                    ticket,
                    deliver,
                    None,
                    SessionClosedError(f"{engine.name}: closed before the task started"),
                )
            del cancelled
            for worker in engine.idle:
                worker.state = STOPPED
                worker.task = None
                worker.wake.release()
            engine.idle.clear()
            for waiter in engine.waiters:
                waiter.wake.release()
            engine.waiters.clear()
            engine.sequencer.close_locked()
            engine.space.notify_all()
            last = engine.users == 0
        else:
            last = False
    finally:
        engine.lock.release()
    if last:  # only possible when thread creation failed before any thread started
        engine.finalize()
    if not wait or internal:
        # Never join ourselves (peer bug: self-join abort); the last thread out finalizes.
        return
    if not engine.finalized.wait(engine.close_timeout_s):
        busy = engine.busy_slots()
        logger.warning(
            "%s: close() gave up waiting after %g s; still busy: %s. Their threads are left running "
            "as daemons and on_closed will run when they finish; their tasks are resolved as closed.",
            engine.name,
            engine.close_timeout_s,
            ", ".join(f"core{s.core}-{s.index}" for s in busy) or "callback thread",
        )
        with engine.lock:
            abandon_running_locked(engine)
        # Let the callback thread deliver what is now deliverable (bounded: a callback may hang too).
        engine.sequencer.join(engine.close_timeout_s)
        return
    for worker in engine.workers:
        if worker.thread is not None and worker.thread.ident is not None:
            worker.thread.join()
    engine.sequencer.join()


def abandon_running_locked(engine: Engine) -> None:
    """close() gave up on the running tasks: resolve each with SessionClosedError now (exactly once: the
    outcome of the job, if it ever returns, is dropped), so that their waiters wake up and the ordered
    delivery of every later task is not held back by a job stuck in the runtime."""
    for worker in engine.workers:
        task = worker.current
        if task is None:
            continue
        worker.current = None
        _job, deliver, ticket, _accepted = task
        engine.sequencer.complete_locked(
            ticket,
            deliver,
            None,
            SessionClosedError(
                f"{engine.name}: closed while the task was still running (it did not finish within "
                f"close_timeout_s={engine.close_timeout_s:g}); its result is dropped"
            ),
        )
