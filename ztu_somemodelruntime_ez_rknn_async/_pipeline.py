"""The state behind ``InferenceSession.run_pipeline`` / ``flush_pipeline`` (peer-behavior.md §10).

Pending results are internal futures (resolved on the worker threads). Discarding them cancels the tasks that
have not started; running ones finish and their results are dropped, so nothing is ever left unresolved.
"""
from __future__ import annotations

import collections
import concurrent.futures
import operator
import threading
from typing import Any, Deque, List, Optional

from ._tasks import discard, wait
from .errors import InvalidArgumentError

__all__ = ["Pipeline", "check_depth"]

Future = concurrent.futures.Future


def check_depth(depth: object) -> int:
    """``depth`` as an int > 0 (bools and numpy ints accepted, like the peer's ``size_t``).

    Raises:
        InvalidArgumentError: not an integer, or < 1.
    """
    try:
        d = operator.index(depth)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgumentError("pipeline depth must be an int > 0, got {!r}".format(depth)) from None
    if d <= 0:
        raise InvalidArgumentError("pipeline depth must be > 0, got {}".format(d))
    return d


class Pipeline:
    """Pending pipeline results, oldest first (thread-safe; meant for one thread, like the peer's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Deque[Future] = collections.deque()  # type: ignore[type-arg]
        self._depth = 0

    def push(self, fut: Future, depth: int, reset: bool) -> Optional[Future]:  # type: ignore[type-arg]
        """Add ``fut``; return the oldest pending future once more than ``depth`` are pending.

        ``reset`` or a depth different from the previous call's discards what was pending first.
        """
        with self._lock:
            if reset or depth != self._depth:
                discard(self._pending)
                self._depth = depth
            self._pending.append(fut)
            if len(self._pending) <= depth:
                return None
            return self._pending.popleft()

    def flush(self, timeout_s: Optional[float]) -> List[Any]:
        """Wait for every pending result, oldest first; on the first failure discard the rest and raise."""
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        results: List[Any] = []
        for i, f in enumerate(pending):
            try:
                results.append(wait(f, timeout_s))
            except BaseException:
                discard(collections.deque(pending[i + 1:]))
                raise
        return results
