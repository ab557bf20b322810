"""Tests for the reorder buffer and the callback thread (no C, no wall-clock thresholds)."""
from __future__ import annotations

import sys
import threading
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ztu_somemodelruntime_ez_rknn_async.sequencer import Sequencer, report_unraisable

JOIN_S = 30.0  # generous bound for joins: the tests assert on orders and counts, never on speed


class Harness:
    """A sequencer plus what its callbacks saw."""

    def __init__(self, ordered: bool) -> None:
        self.lock = threading.Lock()
        self.delivered: List[Tuple[Any, Optional[BaseException]]] = []
        self.threads: List[str] = []
        self.lock_held: List[bool] = []
        self.taken: List[int] = []
        self.exits = 0
        self.seq = Sequencer(
            self.lock,
            ordered=ordered,
            name="test-callback",
            on_taken=self.taken.append,
            on_exit=self._on_exit,
        )

    def _on_exit(self) -> None:
        self.exits += 1

    def deliver(self, result: Any, error: Optional[BaseException]) -> None:
        self.delivered.append((result, error))
        self.threads.append(threading.current_thread().name)
        self.lock_held.append(self.lock.locked())

    def issue(self, n: int) -> List[int]:
        with self.lock:
            return [self.seq.issue_locked() for _ in range(n)]

    def complete(self, ticket: int, result: Any = None, error: Optional[BaseException] = None) -> None:
        with self.lock:
            self.seq.complete_locked(ticket, self.deliver, result, error)

    def close(self) -> None:
        with self.lock:
            self.seq.close_locked()
        assert self.seq.join(JOIN_S), "callback thread did not exit"


@pytest.fixture()
def ordered() -> Iterator[Harness]:
    h = Harness(ordered=True)
    yield h
    h.close()


@given(st.permutations(list(range(12))))
def test_ordered_delivery_follows_tickets_whatever_the_completion_order(order: List[int]) -> None:
    h = Harness(ordered=True)
    tickets = h.issue(len(order))
    assert tickets == list(range(len(order)))
    for t in order:
        h.complete(t, result=t)
    h.close()
    assert [r for r, _ in h.delivered] == tickets
    assert h.seq.delivered == len(order)
    assert h.exits == 1


@given(st.permutations(list(range(12))))
def test_unordered_delivery_follows_completion_order(order: List[int]) -> None:
    h = Harness(ordered=False)
    h.issue(len(order))
    for t in order:
        h.complete(t, result=t)
    h.close()
    assert [r for r, _ in h.delivered] == order


def test_delivery_runs_on_the_callback_thread_outside_the_lock(ordered: Harness) -> None:
    ordered.issue(3)
    for t in (2, 0, 1):
        ordered.complete(t, result=t)
    ordered.close()
    assert ordered.threads == ["test-callback"] * 3
    assert ordered.lock_held == [False] * 3
    assert sum(ordered.taken) == 3


def test_errors_are_delivered_as_outcomes() -> None:
    h = Harness(ordered=True)
    h.issue(2)
    boom = ValueError("boom")
    h.complete(1, error=boom)
    h.complete(0, result="ok")
    h.close()
    assert h.delivered == [("ok", None), (None, boom)]


def test_thread_waits_for_every_issued_ticket_before_exiting() -> None:
    h = Harness(ordered=True)
    h.issue(3)
    h.complete(1, result=1)
    with h.lock:
        h.seq.close_locked()
    # Closing with tickets outstanding must not drop them (peer bug §21.1.7).
    assert h.seq.thread.is_alive()
    h.complete(2, result=2)
    h.complete(0, result=0)
    assert h.seq.join(JOIN_S)
    assert [r for r, _ in h.delivered] == [0, 1, 2]
    assert h.exits == 1


def test_backlog_counts_completed_but_untaken_results() -> None:
    h = Harness(ordered=True)
    h.issue(3)
    h.complete(2)
    h.complete(1)
    with h.lock:
        assert h.seq.backlog == 2  # ticket 0 still missing: nothing is deliverable
    h.complete(0)
    h.close()
    with h.lock:
        assert h.seq.backlog == 0
        assert h.seq.issued == 3


def test_callback_exception_goes_to_unraisablehook_and_delivery_continues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    h = Harness(ordered=True)
    h.issue(3)
    boom = RuntimeError("callback failed")

    def bad(result: Any, error: Optional[BaseException]) -> None:
        raise boom

    with h.lock:
        h.seq.complete_locked(0, h.deliver, 0, None)
        h.seq.complete_locked(1, bad, 1, None)
        h.seq.complete_locked(2, h.deliver, 2, None)
    h.close()
    assert [r for r, _ in h.delivered] == [0, 2]
    assert len(seen) == 1
    assert seen[0].exc_value is boom
    assert seen[0].exc_type is RuntimeError
    assert seen[0].object is bad
    assert "deliver callback" in seen[0].err_msg
    assert h.seq.callback_errors == 1


def test_report_unraisable_builds_genuine_hook_args(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    try:
        raise KeyError("k")
    except KeyError as exc:
        report_unraisable(exc, len, "Exception ignored in test")
    assert type(seen[0]).__name__ == "UnraisableHookArgs"
    assert seen[0].exc_traceback is not None
    assert seen[0].err_msg == "Exception ignored in test"


def test_report_unraisable_works_with_the_default_hook(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default hook rejects look-alike objects; the helper must hand it the genuine type.
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    report_unraisable(ValueError("shown"), len, "Exception ignored in test")
    err = capsys.readouterr().err
    assert "Exception ignored in test" in err
    assert "ValueError: shown" in err


def test_a_broken_hook_does_not_kill_the_callback_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: Any) -> None:
        raise OSError("hook broken")

    monkeypatch.setattr(sys, "unraisablehook", broken)
    h = Harness(ordered=False)
    h.issue(2)

    def bad(result: Any, error: Optional[BaseException]) -> None:
        raise RuntimeError("x")

    with h.lock:
        h.seq.complete_locked(0, bad, 0, None)
        h.seq.complete_locked(1, h.deliver, 1, None)
    h.close()
    assert [r for r, _ in h.delivered] == [1]


def test_unordered_tickets_in_an_ordered_sequencer_never_wait_or_block() -> None:
    """An internal outcome (unordered ticket) is delivered at once, even while an ordered gap is open,
    and a still-running unordered task does not hold back the ordered tickets issued after it."""
    h = Harness(ordered=True)
    with h.lock:
        first = h.seq.issue_locked()
        hung = h.seq.issue_locked(ordered=False)  # an internal task that never finishes in this test
        internal = h.seq.issue_locked(ordered=False)
        after = h.seq.issue_locked()
    assert (first, after) == (0, 1)
    h.complete(after, result="after")
    h.complete(internal, result="internal")  # delivered although ticket 0 is still missing
    with h.lock:
        h.seq.close_locked()
    for _ in range(int(JOIN_S / 0.01)):  # wait (bounded) for the callback thread to deliver
        if h.delivered:
            break
        threading.Event().wait(0.01)
    assert [r for r, _ in h.delivered] == ["internal"]
    assert h.seq.thread.is_alive()  # still owed ticket 0 and the unordered "hung" one
    h.complete(first, result="first")
    h.complete(hung, result="hung")
    assert h.seq.join(JOIN_S)
    assert [r for r, _ in h.delivered] == ["internal", "first", "after", "hung"]
