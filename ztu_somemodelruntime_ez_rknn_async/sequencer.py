"""Ticket ordering, the reorder buffer and the single callback thread.

Every accepted submission gets a ticket from :func:`itertools.count` while the owner's lock is held, so
tickets follow acceptance order exactly.  Workers hand their outcome to :meth:`Sequencer.complete_locked`
(again under the lock); the one callback thread takes every deliverable outcome out of the buffer in one
batch and calls the ``deliver`` callbacks *outside* the lock:

* ``ordered=True``: the contiguous run of tickets starting at the next expected one (the reorder buffer
  of ``Executor.map``), so results come out in submission order whatever the completion order;
* ``ordered=False``: everything completed so far, in completion order.

An ordered sequencer also takes *unordered* tickets (``issue_locked(ordered=False)``) for outcomes that
nobody observes in order, such as the session's internal futures: they are delivered as soon as they
complete, so a long or hung internal task never holds back the ordered callbacks issued after it.
Tickets issued with ``errors_only=True`` are unordered too, and a *successful* outcome of theirs is not
delivered at all (the job already handed its result to its waiter): the callback thread is not woken for
it, which saves a thread switch per task for those internal futures.

Why one dedicated thread rather than "whoever completes the next ticket delivers" (style.md §3.12): a
user callback must never run on a worker thread, because a slow callback would then hold an NPU core
idle, and callbacks must never overlap each other (the peer's contract, peer-behavior.md §9).

Guarantees:

* every ticket handed to :meth:`complete_locked` is delivered exactly once, even during shutdown: the
  thread only exits once every issued ticket has been delivered (peer bug §21.1.7 dropped them);
* an exception raised by a ``deliver`` callback is reported through :data:`sys.unraisablehook` (as
  ``PyErr_WriteUnraisable`` does for the peer) and delivery goes on;
* the thread holds a reference to the :class:`Sequencer` only, never to the session or dispatcher that
  owns it, and drops each batch (callbacks, results) before it sleeps again.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import sys
import threading
from types import TracebackType
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Type

from ._wakeups import wake_soon

__all__ = ["Deliver", "Sequencer", "report_unraisable"]

logger = logging.getLogger(__name__)

#: ``deliver(result, error)``: exactly one of the two is meaningful; ``error`` is ``None`` on success.
Deliver = Callable[[Any, Optional[BaseException]], None]

# The ticket of an outcome delivered in completion order even by an ordered sequencer.
_UNORDERED = -1
# An unordered ticket whose successful outcome is not delivered at all (its job handed the result over
# itself): only a failure reaches the callback thread, so a success costs that thread no wake-up.
_ERRORS_ONLY = -2

# (deliver, result, error) waiting in the buffer.
_Entry = Tuple[Deliver, Any, Optional[BaseException]]


# --------------------------------------------------------------------------------------------------------
# sys.unraisablehook helper
# --------------------------------------------------------------------------------------------------------

_hook_args_type: Optional[Type[Any]] = None
_hook_args_lock = threading.Lock()


class _HookArgs:
    """Stand-in for ``sys.UnraisableHookArgs`` when the genuine type could not be obtained."""

    __slots__ = ("exc_type", "exc_value", "exc_traceback", "err_msg", "object")

    def __init__(
        self,
        exc_type: Type[BaseException],
        exc_value: BaseException,
        exc_traceback: Optional[TracebackType],
        err_msg: Optional[str],
        obj: object,
    ) -> None:
        self.exc_type = exc_type
        self.exc_value = exc_value
        self.exc_traceback = exc_traceback
        self.err_msg = err_msg
        self.object = obj


def _probe_hook_args_type() -> Optional[Type[Any]]:
    """Return the interpreter's ``UnraisableHookArgs`` type.

    The type is not exposed by ``sys``, and the default hook rejects look-alike objects, so it is
    captured once by provoking a genuine unraisable exception (a failing ``__del__``) under a
    temporary hook.  Anything else reported during that instant is forwarded to the previous hook,
    so nothing is lost.
    """
    captured: List[Type[Any]] = []

    class _Probe:
        def __del__(self) -> None:
            raise RuntimeError("ztu unraisablehook probe")

    previous = sys.unraisablehook
    probe_del = _Probe.__del__

    def capture(args: Any) -> None:
        if args.object is probe_del and not captured:
            captured.append(type(args))
        else:
            previous(args)

    sys.unraisablehook = capture
    try:
        _Probe()  # dropped at once: __del__ raises, the interpreter reports it
    finally:
        if sys.unraisablehook is capture:
            sys.unraisablehook = previous
    return captured[0] if captured else None


def report_unraisable(exc: BaseException, obj: object, message: str) -> None:
    """Report an exception that cannot be raised to anyone through :data:`sys.unraisablehook`.

    Args:
        exc: The exception (its traceback is taken from ``exc.__traceback__``).
        obj: The object the exception is attributed to (e.g. the user callback).
        message: The ``err_msg`` text, e.g. ``"Exception ignored in deliver callback"``.
    """
    global _hook_args_type
    if _hook_args_type is None:
        with _hook_args_lock:
            if _hook_args_type is None:
                try:
                    _hook_args_type = _probe_hook_args_type() or _HookArgs
                except Exception:  # pragma: no cover - exotic interpreters
                    _hook_args_type = _HookArgs
    hook = sys.unraisablehook
    args_type: Any = _hook_args_type
    try:
        if args_type is _HookArgs:
            args: Any = _HookArgs(type(exc), exc, exc.__traceback__, message, obj)
        else:
            args = args_type((type(exc), exc, exc.__traceback__, message, obj))
        hook(args)
    except Exception:
        # A broken hook must not take the callback thread down with it.
        logger.exception("%s: %r (sys.unraisablehook failed)", message, obj)


# --------------------------------------------------------------------------------------------------------
# Scheduling policy of the callback thread
# --------------------------------------------------------------------------------------------------------


def _avoid_wakeup_preemption() -> bool:
    """Put the calling thread under ``SCHED_BATCH`` (Linux); whether it worked.

    A dispatcher worker wakes the callback thread right before it enters ``rknn_run``.  Under the normal
    policy the woken thread may preempt the worker on its own CPU, so the worker reaches the runtime only
    once the callback thread has run its Python and blocked: measured on this project's 2-CPU machine at
    0.5 ms per run, that delay averaged 12 us per task (p90 28 us) and the gap between two runs of a core
    54 us; under ``SCHED_BATCH`` it is 2.5 us and 39 us.  ``SCHED_BATCH`` keeps the thread's nice value and
    CPU share: it only stops the scheduler from preempting the running thread in its favour when it
    wakes.  Unprivileged (priority 0); anything that refuses it (another OS, a seccomp profile) leaves the
    thread as it was.
    """
    policy = getattr(os, "SCHED_BATCH", None)
    setter = getattr(os, "sched_setscheduler", None)
    if policy is None or setter is None:
        return False
    try:
        # Only from the default policy: a real-time or idle policy the process was started with is the
        # user's choice (and threads started from this one inherit whatever it runs under).
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            return False
        setter(0, policy, os.sched_param(0))  # pid 0: the calling thread
    except (OSError, ValueError) as exc:
        logger.debug("callback thread keeps the default scheduling policy: %s", exc)
        return False
    return True


# --------------------------------------------------------------------------------------------------------
# Sequencer
# --------------------------------------------------------------------------------------------------------


class Sequencer:
    """Reorder buffer plus the callback thread that delivers outcomes.

    The sequencer shares its owner's lock: methods ending in ``_locked`` must be called with that lock
    held, which lets the owner read :attr:`backlog` consistently with its own queue state and saves a
    second lock on the hot path.

    Args:
        lock: The owner's lock (a plain :class:`threading.Lock`).
        ordered: Deliver in ticket order (``True``) or completion order (``False``).
        name: Name of the callback thread.
        on_taken: Called with the lock held and the batch size each time the callback thread takes a
            batch out of the buffer (the owner wakes submitters waiting for backlog space).
        on_exit: Called (without the lock) by the callback thread as the very last thing it does.
        no_wakeup_preemption: Run the callback thread under Linux's ``SCHED_BATCH`` policy (same CPU
            share, but waking it never preempts the thread that woke it); see :func:`_avoid_wakeup_preemption`.
    """

    def __init__(
        self,
        lock: threading.Lock,
        *,
        ordered: bool,
        name: str,
        on_taken: Optional[Callable[[int], None]] = None,
        on_exit: Optional[Callable[[], None]] = None,
        no_wakeup_preemption: bool = False,
    ) -> None:
        self._lock = lock
        self._no_wakeup_preemption = no_wakeup_preemption
        self._ordered = ordered
        self._tickets = itertools.count()
        self._issued = 0
        self._taken = 0  # tickets taken out of the buffer by the callback thread
        self._next = 0  # ordered mode: next ticket to deliver
        self._by_ticket: Dict[int, _Entry] = {}
        self._fifo: Deque[_Entry] = collections.deque()
        self._delivered = 0
        self._callback_errors = 0
        self._closing = False
        self._on_taken = on_taken
        self._on_exit = on_exit
        # The callback thread sleeps on this lock used as a binary semaphore: it is released exactly
        # once per sleep (``_sleeping`` guards that), which is cheaper than a Condition's per-wait lock.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._sleeping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ident: Optional[int] = None
        self._thread.start()
        self._ident = self._thread.ident

    # -- owner API (lock held) ---------------------------------------------------------------------------

    def issue_locked(self, ordered: bool = True, errors_only: bool = False) -> int:
        """Return the next ticket (lock held); ``ordered=False`` gives one outside the delivery order,
        ``errors_only=True`` one (also unordered) whose outcome is delivered only if it is a failure."""
        self._issued += 1
        if errors_only:
            return _ERRORS_ONLY
        if ordered and self._ordered:
            return next(self._tickets)
        return _UNORDERED

    def complete_locked(self, ticket: int, deliver: Deliver, result: Any, error: Optional[BaseException]) -> None:
        """Store the outcome of ``ticket`` and wake the callback thread if it can deliver (lock held)."""
        if ticket == _ERRORS_ONLY and error is None:
            # Nothing to deliver: account for it as taken and delivered at once.
            self._taken += 1
            self._delivered += 1
            if self._closing and self._sleeping and self._taken == self._issued:
                self._sleeping = False  # it was the last one: let the closing thread exit
                wake_soon(self._wake.release)
            return
        entry: _Entry = (deliver, result, error)
        if self._ordered and ticket >= 0:
            self._by_ticket[ticket] = entry
            ready = ticket == self._next
        else:
            self._fifo.append(entry)
            ready = True
        if ready and self._sleeping:
            self._sleeping = False
            wake_soon(self._wake.release)  # a worker defers it until it is back in the runtime

    def close_locked(self) -> None:
        """Let the callback thread exit once every issued ticket has been delivered (lock held)."""
        if not self._closing:
            self._closing = True
            if self._sleeping and self._taken == self._issued:
                self._sleeping = False
                self._wake.release()

    @property
    def backlog(self) -> int:
        """Completed outcomes not yet taken by the callback thread (read with the lock held)."""
        return len(self._by_ticket) + len(self._fifo)

    @property
    def issued(self) -> int:
        """Number of tickets issued so far."""
        return self._issued

    @property
    def delivered(self) -> int:
        """Number of deliver callbacks that have returned (or raised)."""
        return self._delivered

    @property
    def callback_errors(self) -> int:
        """Number of deliver callbacks that raised."""
        return self._callback_errors

    def is_callback_thread(self) -> bool:
        """Whether the caller is the callback thread."""
        return threading.get_ident() == self._ident

    @property
    def thread(self) -> threading.Thread:
        """The callback thread."""
        return self._thread

    def join(self, timeout: Optional[float] = None) -> bool:
        """Join the callback thread; return whether it has exited."""
        if not self.is_callback_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- callback thread ---------------------------------------------------------------------------------

    def _take_locked(self) -> List[_Entry]:
        if self._ordered:
            by_ticket = self._by_ticket
            nxt = self._next
            batch: List[_Entry] = []
            entry = by_ticket.pop(nxt, None)
            while entry is not None:
                batch.append(entry)
                nxt += 1
                entry = by_ticket.pop(nxt, None)
            self._next = nxt
            if self._fifo:
                batch.extend(self._fifo)
                self._fifo.clear()
        else:
            batch = list(self._fifo)
            self._fifo.clear()
        self._taken += len(batch)
        return batch

    def _run(self) -> None:
        self._ident = threading.get_ident()
        if self._no_wakeup_preemption:
            _avoid_wakeup_preemption()
        lock = self._lock
        try:
            while True:
                with lock:
                    batch = self._take_locked()
                    if not batch:
                        if self._closing and self._taken == self._issued:
                            return
                        self._sleeping = True
                    elif self._on_taken is not None:
                        self._on_taken(len(batch))
                if not batch:
                    self._wake.acquire()
                    continue
                errors = 0
                for deliver, result, error in batch:
                    try:
                        deliver(result, error)
                    except BaseException as exc:  # noqa: B902 - user code: report, never stall the order
                        errors += 1
                        report_unraisable(exc, deliver, "Exception ignored in deliver callback")
                        del exc
                # Drop callbacks and results before sleeping: they may reference the session.
                del deliver, result, error
                n = len(batch)
                del batch
                with lock:
                    self._delivered += n
                    self._callback_errors += errors
        finally:
            if self._on_exit is not None:
                self._on_exit()
