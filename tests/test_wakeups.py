"""Deferred wake-ups (``_wakeups``) and errors-only tickets: the bounds that keep them from delaying anyone.

Timing is controlled with Events; every wait is bounded by a limit that only turns a hang into a failure.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, List, Optional

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import InferenceSession, _wakeups
from ztu_somemodelruntime_ez_rknn_async.dispatcher import Dispatcher, WorkerSlot
from ztu_somemodelruntime_ez_rknn_async.errors import SessionClosedError
from ztu_somemodelruntime_ez_rknn_async.sequencer import Sequencer
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

from _identity import feed, ident, opts
from test_dispatcher import LONG, Recorder, closing, make, wait_until  # noqa: F401 - fixture


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a fresh thread (thread-local state must not leak into the test thread)."""
    out: List[Any] = []
    errors: List[BaseException] = []

    def body() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: B902
            errors.append(exc)

    t = threading.Thread(target=body)
    t.start()
    t.join(LONG)
    assert not t.is_alive()
    if errors:
        raise errors[0]
    return out[0]


# -- the thread-local primitive -------------------------------------------------------------------------


def test_a_thread_that_does_not_defer_runs_the_call_at_once() -> None:
    calls: List[int] = []

    def body() -> List[int]:
        _wakeups.wake_soon(lambda: calls.append(1))
        return list(calls)

    assert in_thread(body) == [1]  # ran inside wake_soon, before it returned


def test_a_deferring_thread_holds_calls_until_issue_then_runs_them_in_order() -> None:
    calls: List[int] = []

    def body() -> List[int]:
        _wakeups.start()
        _wakeups.wake_soon(lambda: calls.append(1))
        _wakeups.wake_soon(lambda: calls.append(2))
        before = list(calls)
        _wakeups.issue()
        _wakeups.issue()  # nothing left: runs nothing twice
        _wakeups.stop()
        return before

    assert in_thread(body) == []
    assert calls == [1, 2]


def test_stop_issues_what_is_pending_and_ends_deferral() -> None:
    calls: List[str] = []

    def body() -> List[str]:
        _wakeups.start()
        _wakeups.wake_soon(lambda: calls.append("pending"))
        _wakeups.stop()
        _wakeups.wake_soon(lambda: calls.append("after stop"))
        return list(calls)

    assert in_thread(body) == ["pending", "after stop"]  # the second one ran at once


def test_armed_is_cleared_by_issue_only() -> None:
    def body() -> List[bool]:
        state = _wakeups.start()
        seen = [state.armed]
        state.armed = True
        _wakeups.wake_soon(lambda: None)
        seen.append(state.armed)
        _wakeups.issue()
        seen.append(state.armed)
        _wakeups.stop()
        return seen

    assert in_thread(body) == [False, True, False]


def test_a_failing_deferred_call_is_reported_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    calls: List[str] = []

    def broken() -> None:
        raise ValueError("boom in a wake-up")

    def body() -> None:
        _wakeups.start()
        _wakeups.wake_soon(broken)
        _wakeups.wake_soon(lambda: calls.append("second"))
        _wakeups.stop()

    in_thread(body)
    assert calls == ["second"]
    assert len(seen) == 1 and isinstance(seen[0].exc_value, ValueError)
    assert "deferred dispatcher wake-up" in seen[0].err_msg


# -- the dispatcher with defer_wakeups=True ---------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = LONG) -> bool:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not done.is_set():
            if predicate():
                return True
            done.wait(0.002)
        return False
    finally:
        deadline.cancel()


def test_deferred_delivery_happens_when_the_next_job_issues_before_it_blocks(closing: List[Dispatcher]) -> None:
    """Task 1's callback is held while task 2 prepares, and delivered once task 2 issues, while task 2 still
    blocks (as a session job does right before rknn_run)."""
    d = make(cores=[0], defer_wakeups=True)
    closing.append(d)
    rec = Recorder()
    release = threading.Event()
    delivered_while_blocked = threading.Event()

    def second(slot: WorkerSlot) -> str:
        _wakeups.issue()
        if wait_for(lambda: rec.count() == 1):
            delivered_while_blocked.set()
        assert release.wait(LONG)
        return "second"

    d.submit(lambda slot: "first", rec("first"))
    d.submit(second, rec("second"))
    assert delivered_while_blocked.wait(LONG), "task 1's callback was still held while task 2 blocked after issue()"
    release.set()
    wait_until(lambda: rec.count() == 2, "both deliveries")
    assert rec.outcomes == [("first", "first"), ("second", "second")]


def test_a_job_that_never_issues_gets_the_callbacks_out_when_it_returns(closing: List[Dispatcher]) -> None:
    """The bound for jobs that do not reach the runtime (a failing feed, a cancelled future): the worker
    issues right after such a job returns, before recording its outcome."""
    d = make(cores=[0], defer_wakeups=True)
    closing.append(d)
    rec = Recorder()

    def failing(slot: WorkerSlot) -> None:
        raise RuntimeError("failed before the runtime")

    d.submit(lambda slot: 1, rec(1))
    d.submit(failing, rec(2))
    d.submit(lambda slot: 3, rec(3))
    wait_until(lambda: rec.count() == 3, "every delivery")
    assert [k for k, _ in rec.outcomes] == [1, 2, 3]
    assert isinstance(rec.outcomes[1][1], RuntimeError)


def test_an_idle_worker_issues_before_it_sleeps(closing: List[Dispatcher]) -> None:
    d = make(cores=[0, 1], defer_wakeups=True)
    closing.append(d)
    rec = Recorder()
    for i in range(20):
        d.submit(lambda slot, i=i: i, rec(i))
    wait_until(lambda: rec.count() == 20, "every delivery with the workers idle afterwards")
    assert rec.keys == list(range(20))


def test_without_defer_wakeups_a_blocking_job_does_not_hold_earlier_callbacks(closing: List[Dispatcher]) -> None:
    """The default, for arbitrary jobs: the callback of task 1 arrives while task 2 blocks without issuing."""
    d = make(cores=[0])
    closing.append(d)
    rec = Recorder()
    release = threading.Event()
    d.submit(lambda slot: "first", rec("first"))
    d.submit(lambda slot: release.wait(LONG), rec("second"))
    wait_until(lambda: rec.count() == 1, "the first delivery while the second job blocks")
    release.set()
    wait_until(lambda: rec.count() == 2, "the second delivery")


# -- errors-only tickets -----------------------------------------------------------------------------------


def test_errors_only_success_is_not_delivered_but_counted(closing: List[Dispatcher]) -> None:
    d = make(cores=[0, 1])
    closing.append(d)
    rec = Recorder()
    results: List[int] = []
    lock = threading.Lock()

    def job(i: int) -> Callable[[WorkerSlot], None]:
        def run(slot: WorkerSlot) -> None:
            with lock:
                results.append(i)
        return run

    for i in range(50):
        d.submit(job(i), rec(i), errors_only=True)
    d.submit(lambda slot: "ordered", rec("ordered"))
    wait_until(lambda: rec.count() == 1, "the ordered delivery")
    wait_until(lambda: d.stats().delivered == 51, "every ticket accounted for")
    assert rec.keys == ["ordered"]
    assert sorted(results) == list(range(50))


def test_errors_only_failures_and_cancellations_are_delivered(closing: List[Dispatcher]) -> None:
    d = make(cores=[0], max_queue_size=8)
    closing.append(d)
    rec = Recorder()
    release = threading.Event()
    started = threading.Event()

    def blocker(slot: WorkerSlot) -> None:
        started.set()
        assert release.wait(LONG)

    def failing(slot: WorkerSlot) -> None:
        raise KeyError("job failed")

    d.submit(failing, rec("failed"), errors_only=True)
    wait_until(lambda: rec.count() == 1, "the failure")
    d.submit(blocker, rec("running"), errors_only=True)
    assert started.wait(LONG)
    d.submit(lambda slot: None, rec("queued"), errors_only=True)
    closer = threading.Thread(target=d.close, kwargs={"wait": True})
    closer.start()
    wait_until(lambda: rec.count() == 2, "the queued task resolved as closed")
    release.set()
    closer.join(LONG)
    assert not closer.is_alive()
    outcomes = dict(rec.outcomes)
    assert isinstance(outcomes["failed"], KeyError)
    assert isinstance(outcomes["queued"], SessionClosedError)
    assert "running" not in outcomes  # it succeeded: nothing to deliver


def test_the_callback_thread_exits_after_the_last_errors_only_ticket_completes() -> None:
    lock = threading.Lock()
    seq = Sequencer(lock, ordered=True, name="t-seq")
    with lock:
        ticket = seq.issue_locked(errors_only=True)
        seq.close_locked()  # one ticket outstanding: the thread must stay
    assert not seq.join(0.05)
    with lock:
        seq.complete_locked(ticket, lambda r, e: None, "ok", None)
    assert seq.join(LONG)
    assert seq.delivered == 1


# -- sessions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["run_async", "imap", "submit", "run_timeout"])
def test_session_results_reach_their_callers_with_deferral(api: str, native_model: Callable[..., Any]) -> None:
    """Every session API still delivers each result to its own caller (no wake-up is lost when it is
    deferred), including the tail of a stream whose workers then go idle."""
    path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=200)
    extra = {"run_timeout_ms": 60000} if api == "run_timeout" else {}
    n = 60
    with InferenceSession(str(path), provider_options=opts(schedule="0,1,2", **extra)) as sess:
        if api == "run_async":
            got: List[Optional[Any]] = [None] * n
            done = threading.Event()
            count = [0]

            def cb(results: List[np.ndarray], i: int, err: str) -> None:
                assert err == ""
                got[i] = results
                count[0] += 1
                if count[0] == n:
                    done.set()

            for i in range(n):
                sess.run_async(None, {"x": feed(i)}, cb, i)
            assert done.wait(LONG)
            outs: List[Any] = got
        elif api == "imap":
            outs = list(sess.imap({"x": feed(i)} for i in range(n)))
        elif api == "submit":
            futs = [sess.submit(None, {"x": feed(i)}) for i in range(n)]
            outs = [fut.result(LONG) for fut in futs]
        else:
            outs = [sess.run(None, {"x": feed(i)}) for i in range(n)]
    assert [ident(out) for out in outs] == list(range(n))


# -- the callback thread's scheduling policy -------------------------------------------------------------


def _sched_batch_allowed() -> bool:
    if not hasattr(os, "SCHED_BATCH") or not hasattr(os, "sched_setscheduler"):
        return False
    return bool(in_thread(lambda: _try_batch()))


def _try_batch() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        return False
    return True


def _callback_thread_policy(prefix: str) -> int:
    threads = [t for t in threading.enumerate() if t.name == prefix + "-callback"]
    assert len(threads) == 1, [t.name for t in threading.enumerate()]
    native_id = threads[0].native_id
    assert native_id is not None
    return os.sched_getscheduler(native_id)


@pytest.mark.skipif(not _sched_batch_allowed(), reason="SCHED_BATCH is not available to this process")
def test_the_deferring_dispatchers_callback_thread_runs_under_sched_batch(closing: List[Dispatcher]) -> None:
    def dispatcher(name: str, **kw: Any) -> Dispatcher:
        d = Dispatcher([WorkerSlot(0, 0, None)], schedule_weights={0: 1}, max_queue_size=4, submit_timeout_s=LONG,
                       sequential=True, pacing=False, name=name, **kw)
        closing.append(d)
        return d

    plain = dispatcher("plain")
    deferring = dispatcher("deferring", defer_wakeups=True)
    rec = Recorder()
    for d in (plain, deferring):  # the policy is set by the thread itself: make sure it ran
        d.submit(lambda slot: None, rec(d))
    wait_until(lambda: rec.count() == 2, "a delivery from each dispatcher")
    assert _callback_thread_policy("deferring") == os.SCHED_BATCH
    assert _callback_thread_policy("plain") == os.SCHED_OTHER


@pytest.mark.skipif(not _sched_batch_allowed() or not hasattr(os, "SCHED_IDLE"),
                    reason="SCHED_BATCH/SCHED_IDLE not available to this process")
def test_a_policy_chosen_by_the_user_is_kept(closing: List[Dispatcher]) -> None:
    """Threads inherit the policy of the thread that starts them: a dispatcher made on a thread the user put
    under SCHED_IDLE keeps SCHED_IDLE for its callback thread (it is never raised to SCHED_BATCH)."""
    made: List[Dispatcher] = []

    def build() -> None:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # lowering is always allowed
        d = Dispatcher([WorkerSlot(0, 0, None)], schedule_weights={0: 1}, max_queue_size=4, submit_timeout_s=LONG,
                       sequential=True, pacing=False, name="idle-user", defer_wakeups=True)
        made.append(d)

    in_thread(build)
    closing.extend(made)
    rec = Recorder()
    made[0].submit(lambda slot: None, rec("one"))
    wait_until(lambda: rec.count() == 1, "a delivery")
    assert _callback_thread_policy("idle-user") == os.SCHED_IDLE
