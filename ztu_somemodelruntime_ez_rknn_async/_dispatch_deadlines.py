"""Task deadlines (``Dispatcher.submit(expire_after_s=...)``): one process-wide timer thread for all dispatchers.

:func:`schedule` puts an action on a heap ordered by due time; the timer thread sleeps until the earliest
one is due and calls it (outside the timer's lock; the dispatcher's action takes its own lock, never the
other way round while this one is held).  A deadline cancelled before it is due drops its action (and so
every reference it holds) at once; the empty husk is skipped when due, and the heap is rebuilt when husks
are the majority, so a stream of tasks that finish long before their deadline keeps the heap small.

There is never more than one thread, whatever the number of tasks or dispatchers: it starts on first use
and exits after :data:`IDLE_EXIT_S` without anything scheduled (a daemon: it never blocks exit).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, List, Optional, Tuple

from .sequencer import report_unraisable

__all__ = ["Deadline", "IDLE_EXIT_S", "cancel", "on_timer_thread", "schedule"]

logger = logging.getLogger(__name__.rpartition(".")[0] + ".dispatcher")

#: The timer thread exits after this long with nothing scheduled (it is restarted on demand).
IDLE_EXIT_S = 5.0
_COMPACT_MIN = 64  # cancelled husks tolerated before a rebuild is considered


class Deadline:
    """A scheduled action; ``action`` is ``None`` once it was cancelled or has fired."""

    __slots__ = ("action",)

    def __init__(self, action: Callable[[], None]) -> None:
        self.action: Optional[Callable[[], None]] = action


_cond = threading.Condition(threading.Lock())
_heap: List[Tuple[float, int, Deadline]] = []
_seq = itertools.count()
_cancelled = 0  # husks in the heap
_running = False
_timer_ident: Optional[int] = None  # the timer thread's ident while it runs


def on_timer_thread() -> bool:
    """Whether the caller is the timer thread (an action runs there, inside the dispatcher's lock)."""
    return threading.get_ident() == _timer_ident


def schedule(delay_s: float, action: Callable[[], None]) -> Deadline:
    """Call ``action()`` on the timer thread in ``delay_s`` seconds unless :func:`cancel` is called first."""
    global _running
    deadline = Deadline(action)
    entry = (time.monotonic() + delay_s, next(_seq), deadline)
    with _cond:
        heapq.heappush(_heap, entry)
        if not _running:
            thread = threading.Thread(target=_run, name="ez-rknn-deadlines", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: the deadline cannot fire
                logger.warning("the deadline timer thread could not be started; task deadlines are not enforced")
            else:
                _running = True
        elif _heap[0] is entry:
            _cond.notify()  # the thread sleeps until a later deadline
    return deadline


def cancel(deadline: Deadline) -> None:
    """Drop ``deadline``'s action now (it will not fire); no-op when it has fired or was cancelled."""
    global _cancelled, _heap
    with _cond:
        if deadline.action is None:
            return
        deadline.action = None
        _cancelled += 1
        if _cancelled > _COMPACT_MIN and 2 * _cancelled > len(_heap):
            _heap = [e for e in _heap if e[2].action is not None]
            heapq.heapify(_heap)
            _cancelled = 0


def _next_due() -> Optional[Callable[[], None]]:
    """Wait (lock held) for the next due action; ``None`` when idle for IDLE_EXIT_S (the thread then exits)."""
    global _cancelled, _running
    while True:
        if not _heap:
            if not _cond.wait(IDLE_EXIT_S) and not _heap:
                _running = False
                return None
            continue
        when, _n, deadline = _heap[0]
        if deadline.action is None:
            heapq.heappop(_heap)
            _cancelled -= 1
            continue
        delay = when - time.monotonic()
        if delay > 0.0:
            _cond.wait(delay)
            continue
        heapq.heappop(_heap)
        action, deadline.action = deadline.action, None
        return action


def _run() -> None:
    global _timer_ident
    _timer_ident = threading.get_ident()
    while True:
        with _cond:
            action = _next_due()
            if action is None:
                _timer_ident = None  # idents are reused: another thread must not pass for the timer
        if action is None:
            return
        try:
            action()
        except BaseException as exc:  # noqa: B902 - nobody to raise to on the timer thread
            report_unraisable(exc, action, "Exception ignored in a dispatcher deadline")
            del exc
        del action
