"""The timestamps of one task, as the session collects them for :mod:`.profiling`.

:class:`TaskTrace` is filled in piece by piece by whoever holds the task (submitting thread, worker,
callback thread) and handed, once finished, to :meth:`.profiling.TraceRecorder.record_task`, which
turns it into trace events. It is a plain record with no reference to a recorder, so the hot path
touches only this object, never the recorder's lock, until the task is done.

Import these names from :mod:`.profiling`; this module only keeps the record apart from the recorder.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ["TaskTrace", "TASK_PHASES"]

#: The phases of one task, in order.  ``queue_wait`` is derived (submit → first worker phase).
TASK_PHASES: Tuple[str, ...] = ("queue_wait", "inputs_set", "run", "outputs_get", "callback")


class TaskTrace:
    """Timestamps of one task, filled in by whoever runs it, then given to
    :meth:`~.profiling.TraceRecorder.record_task`.

    Not thread-safe on its own: the session hands one task from the submitting thread to one worker to the
    callback thread, which is a happens-before chain (queue/lock hand-offs), so no lock is needed.

    Typical use (times from ``recorder.now()``)::

        t = TaskTrace(task_id, submitted_s=rec.now())          # caller, at submit
        t.set_slot(slot.core, slot.index)                      # worker, when it gets the slot
        with t.phase("inputs_set", rec.now): ...               # worker
        with t.phase("run", rec.now): ...
        with t.phase("outputs_get", rec.now): ...
        with t.phase("callback", rec.now): ...                 # callback thread
        rec.record_task(t)
    """

    __slots__ = ("task_id", "name", "submitted_s", "started_s", "core", "slot", "phases", "error", "args")

    def __init__(self, task_id: int, *, submitted_s: Optional[float] = None, name: str = "task") -> None:
        self.task_id = int(task_id)
        self.name = name
        self.submitted_s = submitted_s
        self.started_s: Optional[float] = None
        self.core: Optional[int] = None
        self.slot: Optional[int] = None
        self.phases: List[Tuple[str, float, float]] = []
        self.error: Optional[str] = None
        self.args: Dict[str, Any] = {}

    def set_slot(self, core: int, slot: int, started_s: Optional[float] = None) -> None:
        """The worker slot that ran the task; ``started_s`` ends the queue wait (default: first phase)."""
        self.core = int(core)
        self.slot = int(slot)
        if started_s is not None:
            self.started_s = started_s

    def add_phase(self, name: str, start_s: float, end_s: float) -> None:
        self.phases.append((name, start_s, end_s))

    def phase(self, name: str, clock: Callable[[], float]) -> "_Phase":
        """Context manager timing one phase with ``clock`` (pass ``recorder.now``)."""
        return _Phase(self, name, clock)

    def fail(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"

    def phase_names(self) -> Sequence[str]:
        return [p[0] for p in self.phases]


class _Phase:
    def __init__(self, task: TaskTrace, name: str, clock: Callable[[], float]) -> None:
        self._task = task
        self._name = name
        self._clock = clock
        self._start = 0.0

    def __enter__(self) -> "_Phase":
        self._start = self._clock()
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: object) -> None:
        self._task.add_phase(self._name, self._start, self._clock())
        if exc is not None and self._task.error is None:
            self._task.fail(exc)
