"""Issue #7, shutdown and hangs: no wait in the package is unbounded.

A hung run (the simulator's ``hang_next_run``) surfaces as :class:`RunTimeoutError` within ``run_timeout_ms``
on every API that waits for a result, the session keeps serving on its other slots, ``close()`` during a hung
run returns within its bound, and every thread blocked in the package (waiting for a slot, for queue space, or
for the result of a queued task) is woken by ``close()`` with :class:`SessionClosedError`.

Audit of the blocking calls in the package (``.wait(``/``.join(``/``.acquire(``/``.result(`` without a
timeout) and the test that proves each one bounded or woken by close:

* dispatcher worker/callback threads sleeping on their wake locks: released by ``close()``
  (``test_close_wakes_every_blocked_caller``: every thread leaves, ``on_closed`` runs, counters drop to 0);
* ``Dispatcher.submit`` back-pressure (``space.wait``): bounded by ``submit_timeout_ms`` and notified by close
  (the ``submit-backpressure`` caller of ``test_close_wakes_every_blocked_caller``);
* ``run_inline`` waiting for a slot: bounded by ``submit_timeout_ms``, released by close
  (its ``run-waiting-for-a-slot`` caller);
* futures of queued tasks (``submit().result()``, ``imap``, ``run_pipeline``/``flush_pipeline``, ``run_coro``,
  batch ``run``): resolved by close with SessionClosedError (its other callers);
* futures of a *running* task: bounded by ``run_timeout_ms`` (``test_hung_run_surfaces_as_run_timeout_...``);
  without it, the documented contract is "wait until the session closes": close() resolves a task still stuck
  in the runtime after ``close_timeout_s`` (``test_close_wakes_a_waiter_on_a_hung_running_task``);
  ``run_async`` callbacks get the timeout in their place in the callback order
  (``test_run_async_callback_gets_run_timeout``);
* ``Dispatcher.close`` waiting for the threads: ``finalized.wait(close_timeout_s)`` then, once the bound
  expired, ``sequencer.join(close_timeout_s)``; the unbounded joins run only after every thread has signalled
  it is leaving (``test_close_during_a_hung_run_returns_within_its_bound``, and at interpreter exit
  ``test_interpreter_exit_with_a_hung_run_is_bounded``);
* ``Dispatcher.close`` taking the engine lock: from one of its own threads or the deadline timer thread (a gc
  finalizer inside a locked section) it hands the close to a helper thread
  (``test_a_session_collected_on_its_own_worker_...``, ``test_a_session_collected_on_the_deadline_timer_...``);
* the deadline timer (``_dispatch_deadlines``): sleeps at most until the next deadline or ``IDLE_EXIT_S``;
* ``imap``'s ``finally``: no longer waits for its running tasks (it made a worker wait for itself when gc
  finalized the generator there: ``test_an_abandoned_imap_generator_collected_on_a_worker_...``);
* ``RknnContext.destroy`` waiting for a call in flight (``with self._guard``): the session destroys contexts
  only from ``on_closed``, i.e. after the last thread using them has left (close does not block on the hung
  call, the contexts are destroyed when it returns: ``test_close_during_a_hung_run_...``,
  ``test_dropping_a_session_with_a_hung_run_never_blocks_the_collector``);
* zero copy ``ContextOwner.locked()`` (``_lock.acquire()``): held only around calls on the zero-copy context, by
  the caller's own thread; a second caller waits at most for that call (``run_with_iobinding`` runs on the
  caller's thread like ORT's, so a hung runtime blocks it exactly as it blocks the C call itself); close()
  never takes it (``test_close_during_a_hung_zero_copy_run``).
"""
from __future__ import annotations

import asyncio
import functools
import gc
import os
import pathlib
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pytest

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession, _core
from ztu_somemodelruntime_ez_rknn_async.dispatcher import Dispatcher
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

from _identity import feed, ident, live, opts

HANG_US = 2_500_000  # one hung run
BOUND_S = 30.0  # hang detector only


def wait_until(pred: Callable[[], bool], timeout: float = BOUND_S) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def hang_started(sim: Any, runs_before: int) -> None:
    """Wait until the hung rknn_run has been entered."""
    assert wait_until(lambda: sim.counter("calls:rknn_run") > runs_before), "the hung run never started"


@pytest.fixture()
def model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    return path


@pytest.fixture()
def short_close(monkeypatch: pytest.MonkeyPatch) -> float:
    """Sessions built in this test give up waiting in close() after 0.5 s (default 10 s)."""
    bound = 0.5
    monkeypatch.setattr(_core, "Dispatcher", functools.partial(Dispatcher, close_timeout_s=bound))
    return bound


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------- run_timeout_ms

WAITING_APIS = ("run", "submit", "run_coro", "imap", "pipeline", "flush_pipeline", "batch")


def _call(sess: InferenceSession, api: str, i: int) -> Any:
    if api == "run":
        return sess.run(None, [feed(i)])
    if api == "submit":
        return sess.submit(None, [feed(i)]).result()  # no timeout given: run_timeout_ms applies
    if api == "run_coro":
        return asyncio.run(sess.run_coro(None, [feed(i)]))
    if api == "imap":
        return list(sess.imap([[feed(i)]]))
    if api == "pipeline":
        sess.run_pipeline([feed(i)], depth=1)
        return sess.run_pipeline([feed(i + 1)], depth=1)  # returns (waits for) task i
    if api == "flush_pipeline":
        sess.run_pipeline([feed(i)], depth=2)
        return sess.flush_pipeline()
    if api == "batch":
        return sess.run(None, [np.concatenate([feed(i), feed(i + 1)])], {"ztu_modelrt_dispatch_batch": True})
    raise AssertionError(api)


def test_hung_run_surfaces_as_run_timeout_on_every_waiting_api(model: pathlib.Path, sim: Any) -> None:
    """One session, one hung slot per API: each call raises RunTimeoutError long before its hang ends, and the
    remaining slots keep serving."""
    hang_us = HANG_US
    with InferenceSession(model, provider_options=opts(schedule=[0, 1, 2], threads_per_core=3,
                                                       run_timeout_ms=250)) as sess:
        for k, api in enumerate(WAITING_APIS):
            runs = sim.counter("calls:rknn_run")
            sim.hang_next_run(hang_us)
            t0 = time.monotonic()
            with pytest.raises(ez.RunTimeoutError) as ei:
                _call(sess, api, 100 * k)
            elapsed = time.monotonic() - t0
            assert sim.counter("calls:rknn_run") > runs
            assert isinstance(ei.value, TimeoutError) and "run_timeout_ms=250" in str(ei.value)
            assert elapsed < hang_us / 1e6 - 1.0, (api, elapsed)  # did not wait for the hung run
        # the session keeps serving (on the simulated cores, a run queues behind a hung run of its core)
        for i in range(6):
            assert ident(sess.run(None, [feed(1000 + i)], {"run_timeout_ms": int(BOUND_S * 1000)})) == 1000 + i
    # close() waited for the hung slots, then destroyed every context (autouse leak check)


def test_run_async_callback_gets_run_timeout(model: pathlib.Path, sim: Any) -> None:
    got: List[str] = []
    first = threading.Event()
    with InferenceSession(model, provider_options=opts(threads_per_core=2, run_timeout_ms=250)) as sess:
        runs = sim.counter("calls:rknn_run")
        sim.hang_next_run(HANG_US)
        t0 = time.monotonic()
        sess.run_async(None, [feed(1)], lambda r, u, e: (got.append(e), first.set()))
        hang_started(sim, runs)
        assert first.wait(BOUND_S)
        elapsed = time.monotonic() - t0
        assert elapsed < HANG_US / 1e6 - 1.0, elapsed
        assert "run_timeout_ms" in got[0]
    assert len(got) == 1  # not called again when the hung run eventually returns


# ---------------------------------------------------------------------------------------------- close


def test_close_during_a_hung_run_returns_within_its_bound(model: pathlib.Path, sim: Any, short_close: float) -> None:
    base = live(sim)
    outcomes: Dict[int, List[str]] = {}
    sess = InferenceSession(model, provider_options=opts(threads_per_core=1, max_queue_size=8))
    runs = sim.counter("calls:rknn_run")
    sim.hang_next_run(HANG_US)
    for i in range(4):  # the first hangs, three wait in the queue behind it
        sess.run_async(None, [feed(i)], lambda r, u, e: outcomes.setdefault(u, []).append(e), i)
    hang_started(sim, runs)
    elapsed = _timed(sess.close)
    assert elapsed < HANG_US / 1e6 - 1.0, elapsed  # gave up after close_timeout_s, not after the hang
    with pytest.raises(ez.SessionClosedError):
        sess.run(None, [feed(9)])
    # every task is resolved exactly once, as closed: the queued ones at once, the hung one when close() gave up
    # on it (not when the runtime returns, and not a second time then); the last thread out destroys the contexts
    assert len(outcomes) == 4, outcomes  # close() returned after the callbacks were delivered
    assert wait_until(lambda: live(sim) == base), (outcomes, live(sim))
    assert all(len(v) == 1 for v in outcomes.values()), outcomes
    assert all("session closed" in outcomes[i][0] for i in range(4)), outcomes
    assert "still running" in outcomes[0][0]


def test_dropping_a_session_with_a_hung_run_never_blocks_the_collector(model: pathlib.Path, sim: Any) -> None:
    base = live(sim)
    done: List[str] = []
    sess = InferenceSession(model, provider_options=opts(threads_per_core=1))
    runs = sim.counter("calls:rknn_run")
    sim.hang_next_run(HANG_US)
    sess.run_async(None, [feed(1)], lambda r, u, e: done.append(e))
    hang_started(sim, runs)
    del sess
    assert _timed(gc.collect) < HANG_US / 1e6 - 1.0
    assert wait_until(lambda: len(done) == 1 and live(sim) == base)
    assert done == [""]  # the running task finished and was delivered normally


def test_close_wakes_a_waiter_on_a_hung_running_task(model: pathlib.Path, sim: Any, short_close: float) -> None:
    """Without run_timeout_ms a result waits "until the session closes" (RknnProviderOptions.run_timeout_ms):
    close() must wake a waiter whose task is stuck in the runtime, not leave it blocked until the runtime
    returns."""
    sess = InferenceSession(model, provider_options=opts(threads_per_core=1))
    runs = sim.counter("calls:rknn_run")
    sim.hang_next_run(HANG_US)
    fut = sess.submit(None, [feed(1)])
    hang_started(sim, runs)
    woke: List[float] = []
    outcome: List[Any] = []

    def waiter() -> None:
        try:
            outcome.append(fut.result())
        except BaseException as exc:  # noqa: B902
            outcome.append(exc)
        woke.append(time.monotonic())

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    sess.close()
    th.join(BOUND_S)
    assert woke and woke[0] - t0 < 2.0, "the waiter slept until the hung run returned"
    assert isinstance(outcome[0], ez.SessionClosedError), outcome
    wait_until(lambda: sim.counter("live_contexts") == 0)


BLOCKED = ("run-waiting-for-a-slot", "submit-result", "imap", "pipeline", "run_coro", "batch",
           "submit-backpressure")


def test_close_wakes_every_blocked_caller(model: pathlib.Path, sim: Any, short_close: float) -> None:
    """The only slot is hung; one thread per kind of wait is blocked behind it (waiting for a slot, for the
    result of a queued task through every API, for queue space). close() wakes every one of them with
    SessionClosedError long before the hang ends (no run_timeout_ms, generous submit_timeout_ms)."""
    base = live(sim)
    # 1 + 1 + 2 + 1 + 2 tasks queue behind the hung one: the queue is then full, the last submit blocks
    sess = InferenceSession(model, provider_options=opts(threads_per_core=1, max_queue_size=7,
                                                         submit_timeout_ms=60000))
    runs = sim.counter("calls:rknn_run")
    sim.hang_next_run(HANG_US)
    hung = sess.submit(None, [feed(0)])
    hang_started(sim, runs)
    results: Dict[str, List[Any]] = {what: [] for what in BLOCKED}

    def blocked(what: str) -> None:
        out = results[what]
        try:
            if what == "run-waiting-for-a-slot":
                out.append(sess.run(None, [feed(2)]))
            elif what == "submit-result":
                out.append(sess.submit(None, [feed(2)]).result())
            elif what == "imap":
                out.append(list(sess.imap([[feed(2)]])))
            elif what == "pipeline":
                sess.run_pipeline([feed(2)], depth=1)
                out.append(sess.run_pipeline([feed(3)], depth=1))
            elif what == "run_coro":
                out.append(asyncio.run(sess.run_coro(None, [feed(2)])))
            elif what == "batch":
                out.append(sess.run(None, [np.concatenate([feed(2), feed(3)])], {"ztu_modelrt_dispatch_batch": True}))
            else:
                while sess.get_stats()["queue_depth"] < 7:
                    time.sleep(0.005)
                out.append(sess.submit(None, [feed(2)]))  # the queue is full: blocks
                out.append(sess.submit(None, [feed(2)]))
        except BaseException as exc:  # noqa: B902
            out.append(exc)

    threads = {what: threading.Thread(target=blocked, args=(what,)) for what in BLOCKED}
    for what in BLOCKED[:-1]:
        threads[what].start()
    assert wait_until(lambda: sess.get_stats()["queue_depth"] == 7), sess.get_stats()
    threads[BLOCKED[-1]].start()
    time.sleep(0.2)
    assert all(not r for r in results.values()), results  # really blocked behind the hung slot
    t0 = time.monotonic()
    sess.close()
    for th in threads.values():
        th.join(BOUND_S)
    assert not any(th.is_alive() for th in threads.values())
    assert time.monotonic() - t0 < HANG_US / 1e6 - 1.0, "a blocked caller waited for the hung run"
    for what, r in results.items():
        assert len(r) == 1 and isinstance(r[0], ez.SessionClosedError), (what, r)
    # close() gave up on the hung task after close_timeout_s: resolved as closed (its late result is dropped);
    # the contexts are destroyed once the runtime returns
    assert isinstance(hung.exception(timeout=BOUND_S), ez.SessionClosedError)
    assert "still running" in str(hung.exception())
    assert wait_until(lambda: live(sim) == base), live(sim)


def test_interpreter_exit_with_a_hung_run_is_bounded(model: pathlib.Path, sim_library: str) -> None:
    """At exit the atexit hook closes live sessions with wait=True, bounded by the close timeout: a run hung
    for a minute does not keep the process alive, and the queued task is still resolved (callback called)."""
    code = (
        "import functools, sys, time, numpy as np\n"
        "from ztu_somemodelruntime_ez_rknn_async import InferenceSession, _core, simulator\n"
        "from ztu_somemodelruntime_ez_rknn_async.dispatcher import Dispatcher\n"
        "_core.Dispatcher = functools.partial(Dispatcher, close_timeout_s=0.5)\n"
        "s = InferenceSession(sys.argv[1], provider_options={'runtime_library': 'simulator',\n"
        "                                                   'threads_per_core': 1})\n"
        "c = simulator.control()\n"
        "c.hang_next_run(60000000)\n"
        "x = [np.zeros((1, 4), np.float32)]\n"
        "s.run_async(None, x, lambda r, u, e: None)\n"
        "s.run_async(None, x, lambda r, u, e: print('QUEUED', repr(e[:14]), flush=True))\n"
        "while c.counter('calls:rknn_run') == 0: time.sleep(0.01)\n"
        "print('EXITING', flush=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(ez.__file__).resolve().parents[1]) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, str(model)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert time.monotonic() - t0 < 45
    assert proc.returncode == 0, proc.stderr
    assert "EXITING" in proc.stdout and "QUEUED 'session closed'" in proc.stdout, proc.stdout + proc.stderr


def test_close_during_a_hung_zero_copy_run(model: pathlib.Path, sim: Any) -> None:
    """run_with_iobinding runs on the caller's thread holding the zero-copy context: close() from another
    thread neither waits for it nor destroys the context under it; the context and its memories go once the
    run returns and the values are dropped."""
    base = live(sim)
    sess = InferenceSession(model, provider_options=opts(threads_per_core=1))
    binding = sess.io_binding()
    binding.bind_cpu_input("x", feed(1))
    binding.bind_output("y", "rknpu2")
    sess.run_with_iobinding(binding)
    assert ident(binding.copy_outputs_to_cpu()) == 1
    runs = sim.counter("calls:rknn_run")
    sim.hang_next_run(HANG_US)
    outcome: List[Any] = []

    def hung() -> None:
        try:
            sess.run_with_iobinding(binding)
            outcome.append("ok")
        except BaseException as exc:  # noqa: B902
            outcome.append(exc)

    th = threading.Thread(target=hung)
    th.start()
    hang_started(sim, runs)
    elapsed = _timed(sess.close)
    assert elapsed < HANG_US / 1e6 - 1.0, elapsed
    th.join(BOUND_S)
    assert outcome == ["ok"], outcome  # the run that was in flight completed normally
    with pytest.raises(ez.SessionClosedError):
        sess.run_with_iobinding(binding)
    del binding
    gc.collect()
    assert wait_until(lambda: live(sim) == base), live(sim)


def test_an_abandoned_imap_generator_collected_on_a_worker_never_deadlocks(model: pathlib.Path,
                                                                           sim_library: str) -> None:
    code = (
        "import gc, sys, time, numpy as np\n"
        "from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator, _runner\n"
        "# a collection triggered by the task's own allocations, made deterministic: the next run collects\n"
        "flag = []\n"
        "orig = _runner.SlotRunner.run\n"
        "def run(self, *a, **k):\n"
        "    if flag:\n"
        "        flag.clear()\n"
        "        gc.collect()\n"
        "    return orig(self, *a, **k)\n"
        "_runner.SlotRunner.run = run\n"
        "s = InferenceSession(sys.argv[1], provider_options={'runtime_library': 'simulator', 'threads_per_core': 1})\n"
        "simulator.control().set_latency_override(20000)\n"
        "x = {'x': np.zeros((1, 4), np.float32)}\n"
        "gen = s.imap((x for _ in range(100)), max_in_flight=4)\n"
        "next(gen)\n"
        "holder = [gen]; holder.append(holder)  # the generator is now only reachable through a cycle\n"
        "gc.disable()\n"
        "del gen, holder\n"
        "flag.append(1)\n"
        "try:\n"
        "    print('SERVES', len(s.submit(None, x).result(timeout=5)), flush=True)\n"
        "except Exception as e:\n"
        "    print('STUCK', repr(e), flush=True)\n"
        "    import os; os._exit(3)  # the slot is stuck: do not wait for it at exit either\n"
        "s.close()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(ez.__file__).resolve().parents[1]) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code, str(model)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "SERVES 1" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_a_session_collected_on_its_own_worker_never_deadlocks(model: pathlib.Path, sim_library: str) -> None:
    code = (
        "import gc, sys, threading, time, numpy as np\n"
        "from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator, sequencer\n"
        "# a collection triggered by an allocation under the engine lock, made deterministic\n"
        "flag = []\n"
        "orig = sequencer.Sequencer.complete_locked\n"
        "def complete_locked(self, *a, **k):\n"
        "    if flag:\n"
        "        flag.clear()\n"
        "        gc.collect()\n"
        "    return orig(self, *a, **k)\n"
        "sequencer.Sequencer.complete_locked = complete_locked\n"
        "c = simulator.control()\n"
        "c.set_latency_override(50000)\n"
        "done = threading.Event()\n"
        "sess = InferenceSession(sys.argv[1], provider_options={'runtime_library': 'simulator', 'threads_per_core': 1})\n"
        "sess.run_async(None, [np.zeros((1, 4), np.float32)], lambda r, u, e: done.set())\n"
        "sess.cycle = sess  # only reachable through a cycle once dropped\n"
        "gc.disable()\n"
        "del sess\n"
        "flag.append(1)\n"
        "delivered = done.wait(5)\n"
        "t0 = time.monotonic()\n"
        "while c.counter('live_contexts') and time.monotonic() - t0 < 5:\n"
        "    time.sleep(0.02)\n"
        "print('DELIVERED', delivered, 'LIVE', c.counter('live_contexts'), flush=True)\n"
        "import os; os._exit(0)  # a dead-locked dispatcher would also block the atexit hook\n"
    )
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(ez.__file__).resolve().parents[1]) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code, str(model)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert "DELIVERED True LIVE 0" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_a_session_collected_on_the_deadline_timer_never_deadlocks(model: pathlib.Path, sim_library: str) -> None:
    """Same as above on the process-wide deadline timer thread (run_timeout_ms of run_async), which expires a
    task inside the engine's lock: a session finalized by gc there must not dead-lock its dispatcher, nor stop
    the timer that serves every other session's deadlines."""
    code = (
        "import gc, sys, threading, time, numpy as np\n"
        "from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator, sequencer\n"
        "orig = sequencer.Sequencer.complete_locked\n"
        "def complete_locked(self, *a, **k):\n"
        "    if threading.current_thread().name == 'ez-rknn-deadlines':\n"
        "        gc.collect()  # what an allocation under the engine lock on the timer thread may trigger\n"
        "    return orig(self, *a, **k)\n"
        "sequencer.Sequencer.complete_locked = complete_locked\n"
        "c = simulator.control()\n"
        "po = {'runtime_library': 'simulator', 'threads_per_core': 1, 'run_timeout_ms': 200}\n"
        "x = [np.zeros((1, 4), np.float32)]\n"
        "errs = []\n"
        "done = threading.Event()\n"
        "sess = InferenceSession(sys.argv[1], provider_options=po)\n"
        "c.hang_next_run(1500000)\n"
        "sess.run_async(None, x, lambda r, u, e: (errs.append(e), done.set()))\n"
        "sess.cycle = sess  # only reachable through a cycle once dropped\n"
        "gc.disable()\n"
        "del sess\n"
        "delivered = done.wait(1.0)\n"
        "t0 = time.monotonic()\n"
        "while c.counter('live_contexts') and time.monotonic() - t0 < 5:\n"
        "    time.sleep(0.02)\n"
        "print('DELIVERED', delivered, 'TIMEOUT', 'run_timeout_ms' in ''.join(errs), 'LIVE', c.counter('live_contexts'),\n"
        "      flush=True)\n"
        "# the timer still serves other sessions\n"
        "s2 = InferenceSession(sys.argv[1], provider_options=po)\n"
        "c.hang_next_run(1500000)\n"
        "ev = threading.Event(); e2 = []\n"
        "s2.run_async(None, x, lambda r, u, e: (e2.append(e), ev.set()))\n"
        "print('SECOND', ev.wait(1.0) and 'run_timeout_ms' in e2[0], flush=True)\n"
        "import os; os._exit(0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(ez.__file__).resolve().parents[1]) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code, str(model)], env=env, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr[-2000:]
    assert "DELIVERED True TIMEOUT True LIVE 0" in proc.stdout and "SECOND True" in proc.stdout, out
