"""Issue #7, load: many Python threads mixing every submission API under random runtime faults, then close()
in the middle of it all.

Every task carries an identity (``feed(i)``: the copy model returns ``i + [0, .25, .5, .75]``), so the checks
are exact:

* no result is lost: every accepted task has exactly one outcome (a result, an error naming an injected call,
  or SessionClosedError once the session closes); every ``run_async`` callback and every future is resolved
  exactly once;
* no result is duplicated or given to the wrong caller: a result always carries the identity of its own input;
* faults: only the injected calls fail (errors name them and an injected code), and no more tasks fail than
  faults were injected;
* ``close()`` in the middle leaves nothing behind: right after it returns, the simulator shows the same live
  contexts, memories and unreleased outputs as before the session, and no violation was recorded.

The default run keeps a short version (about two seconds of load); ``-m slow`` runs a long one with several
sessions opened and closed under load.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import pathlib
import random
import threading
import time
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np
import pytest

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

from _identity import SIM, feed, live
from _identity import ident_array as ident

WAIT_S = 60.0  # hang detector only
FAULT_CALLS = ("rknn_inputs_set", "rknn_run", "rknn_outputs_get", "rknn_outputs_release")
FAULT_CODES = (-1, -2, -4, -8, -9)
KINDS = ("run", "run_timeout", "run_async", "submit", "imap", "batch", "run_coro")


@pytest.fixture()
def model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    return path


class Ledger:
    """Outcomes per task identity; every accepted task must end with exactly one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outcomes: Dict[int, List[Tuple[str, Any]]] = {}
        self.accepted: Set[int] = set()
        self.problems: List[str] = []

    def accept(self, ids: List[int]) -> None:
        with self.lock:
            self.accepted.update(ids)

    def record(self, i: int, kind: str, value: Any) -> None:
        """``value``: the identity a result carried, or the exception / err string."""
        with self.lock:
            self.outcomes.setdefault(i, []).append((kind, value))

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


def _classify(ledger: Ledger, i: int, kind: str, exc: BaseException) -> bool:
    """Record an error outcome; returns True when the session is closed (the thread should stop)."""
    if isinstance(exc, ez.SessionClosedError):
        ledger.record(i, kind, "closed")
        return True
    if isinstance(exc, ez.RknnError) and exc.function in FAULT_CALLS and exc.code in FAULT_CODES:
        ledger.record(i, kind, "fault:" + exc.function)
        return False
    ledger.problem("task {} ({}): unexpected {!r}".format(i, kind, exc))
    ledger.record(i, kind, "unexpected")
    return False


def _async_error(ledger: Ledger, i: int, err: str) -> None:
    if err.startswith("session closed") or "closed before the task started" in err or "closed while" in err:
        ledger.record(i, "run_async", "closed")
    elif any(err.startswith(f + " failed") for f in FAULT_CALLS):
        ledger.record(i, "run_async", "fault:" + err.split(" ", 1)[0])
    else:
        ledger.problem("task {} (run_async): unexpected err {!r}".format(i, err))
        ledger.record(i, "run_async", "unexpected")


def client(sess: InferenceSession, ledger: Ledger, ids: "itertools.count[int]", seed: int, stop: threading.Event,
           pending: List[Tuple[int, concurrent.futures.Future]]) -> None:  # type: ignore[type-arg]
    """One client thread: random APIs until the session closes (or ``stop``)."""
    rng = random.Random(seed)
    while not stop.is_set():
        kind = rng.choice(KINDS)
        n = 3 if kind in ("imap", "batch") else 1
        task = [next(ids) for _ in range(n)]
        try:
            if kind in ("run", "run_timeout"):
                ro = {"run_timeout_ms": int(WAIT_S * 1000)} if kind == "run_timeout" else None
                ledger.accept(task)
                [y] = sess.run(None, {"x": feed(task[0])}, ro)
                ledger.record(task[0], kind, ident(y))
            elif kind == "run_async":
                def cb(r: List[np.ndarray], u: int, e: str) -> None:
                    if e:
                        _async_error(ledger, u, e)
                    else:
                        ledger.record(u, "run_async", ident(r[0]))

                ledger.accept(task)  # before: the callback may run before run_async returns
                try:
                    sess.run_async(None, [feed(task[0])], cb, task[0])
                except BaseException:
                    with ledger.lock:
                        ledger.accepted.discard(task[0])  # refused: no callback will come
                    raise
            elif kind == "submit":
                fut = sess.submit(None, {"x": feed(task[0])})
                ledger.accept(task)
                pending.append((task[0], fut))
            elif kind == "imap":
                ledger.accept(task)
                got = []
                gen = sess.imap([{"x": feed(i)} for i in task])
                try:
                    for out in gen:
                        got.append(ident(out[0]))
                finally:
                    gen.close()
                for i, v in zip(task, got):
                    ledger.record(i, kind, v)
            elif kind == "batch":
                ledger.accept(task)
                [y] = sess.run(None, [np.concatenate([feed(i) for i in task])], {"ztu_modelrt_dispatch_batch": True})
                for k, i in enumerate(task):
                    ledger.record(i, kind, ident(y[k:k + 1]))
            else:
                ledger.accept(task)
                [y] = asyncio.run(asyncio.wait_for(sess.run_coro(None, [feed(task[0])]), WAIT_S))
                ledger.record(task[0], kind, ident(y))
        except BaseException as exc:  # noqa: B902
            if kind in ("imap", "batch"):
                # one error for the whole group: the tasks without their own outcome share it
                with ledger.lock:
                    rest = [i for i in task if i not in ledger.outcomes]
                for i in rest[1:]:
                    ledger.record(i, kind, "group")
                i = rest[0] if rest else task[0]
            else:
                i = task[0]
            if isinstance(exc, AssertionError):
                ledger.problem("task {} ({}): {}".format(i, kind, exc))
                return
            if kind in ("run_async", "submit"):  # refused at submission: nothing to record
                if isinstance(exc, ez.SessionClosedError):
                    return
                ledger.problem("{} {} refused: {!r}".format(kind, i, exc))
                return
            if _classify(ledger, i, kind, exc):
                return


def pipeline_client(sess: InferenceSession, ledger: Ledger, ids: "itertools.count[int]",
                    stop: threading.Event) -> None:
    """run_pipeline is for one thread: this one owns it. Results come back in submission order, so the one
    returned (or the run error raised) belongs to the oldest pending task."""
    order: List[int] = []
    while not stop.is_set():
        i = next(ids)
        ledger.accept([i])
        order.append(i)
        try:
            out = sess.run_pipeline({"x": feed(i)}, depth=3)
            if out is not None:
                ledger.record(order.pop(0), "pipeline", ident(out[0]))
        except AssertionError as exc:
            ledger.problem("pipeline: {}".format(exc))
            return
        except ez.SessionClosedError:
            for k in order:  # closed: pending results are discarded (or this task was refused)
                ledger.record(k, "pipeline", "closed")
            return
        except BaseException as exc:  # noqa: B902
            _classify(ledger, order.pop(0), "pipeline", exc)


def faulter(sim: Any, seed: int, stop: threading.Event, injected: List[Tuple[str, int, int]]) -> None:
    rng = random.Random(seed)
    while not stop.wait(0.02):
        func = rng.choice(FAULT_CALLS)
        nth = rng.randint(1, 40)
        code = rng.choice(FAULT_CODES)
        sim.inject_fault(func, nth=nth, code=code)
        injected.append((func, nth, code))


def run_stress(model: pathlib.Path, sim: Any, *, threads: int, load_s: float, seed: int,
               po: Dict[str, Any]) -> Dict[str, int]:
    base = live(sim)
    violations = sim.counter("violations")
    sim.set_latency_override(200)
    sim.set_jitter(0.8)
    ledger = Ledger()
    ids = itertools.count(1)
    stop = threading.Event()
    injected: List[Tuple[str, int, int]] = []
    pending: List[Tuple[int, concurrent.futures.Future]] = []  # type: ignore[type-arg]
    sess = InferenceSession(model, provider_options=dict(SIM, max_queue_size=8, submit_timeout_ms=int(WAIT_S * 1000),
                                                         **po))
    workers = [threading.Thread(target=client, args=(sess, ledger, ids, seed * 100 + t, stop, pending),
                                name="client-{}".format(t)) for t in range(threads)]
    workers.append(threading.Thread(target=pipeline_client, args=(sess, ledger, ids, stop), name="pipeline"))
    chaos = threading.Thread(target=faulter, args=(sim, seed, stop, injected), name="faulter")
    for th in workers + [chaos]:
        th.start()
    time.sleep(load_s)
    t0 = time.monotonic()
    sess.close()  # in the middle of everything
    closed_in = time.monotonic() - t0
    stop.set()
    for th in workers + [chaos]:
        th.join(WAIT_S)
    assert not any(th.is_alive() for th in workers + [chaos]), "a client thread hung"
    sim.clear_faults()
    assert closed_in < WAIT_S
    # close() returned: nothing left behind, no settling needed (except clients still unwinding their calls,
    # which hold no context: the counters are already final)
    assert live(sim) == base, (live(sim), base)
    assert sim.counter("violations") == violations
    for i, fut in pending:
        assert fut.done(), "future of task {} unresolved after close".format(i)
        exc = fut.exception()
        if exc is None:
            ledger.record(i, "submit", ident(fut.result()[0]))
        else:
            _classify(ledger, i, "submit", exc)
    assert not ledger.problems, ledger.problems[:5]
    # exactly one outcome per accepted task; results carry their own identity
    lost = sorted(ledger.accepted - set(ledger.outcomes))
    assert not lost, "tasks without an outcome: {}".format(lost[:10])
    stray = sorted(set(ledger.outcomes) - ledger.accepted)
    assert not stray, "outcomes for tasks never accepted: {}".format([(i, ledger.outcomes[i]) for i in stray[:10]])
    counts: Dict[str, int] = {}
    for i, outs in ledger.outcomes.items():
        assert len(outs) == 1, "task {} resolved {} times: {}".format(i, len(outs), outs)
        kind, value = outs[0]
        if isinstance(value, int):
            assert value == i, "task {} got the result of task {} ({})".format(i, value, kind)
            counts["ok"] = counts.get("ok", 0) + 1
        else:
            key = value.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
    assert counts.get("fault", 0) <= len(injected), (counts, len(injected))
    assert counts.get("unexpected", 0) == 0
    return counts


def test_stress_short(model: pathlib.Path, sim: Any) -> None:
    counts = run_stress(model, sim, threads=8, load_s=1.5, seed=7, po={"schedule": [0, 1, 2], "threads_per_core": 2})
    print(counts)
    # the load really mixed outcomes: many results, some injected faults, a clean close
    assert counts.get("ok", 0) > 100 and counts.get("fault", 0) > 0, counts


def test_stress_short_unordered_single_core(model: pathlib.Path, sim: Any) -> None:
    sim.set_soc("rk3566")
    counts = run_stress(model, sim, threads=8, load_s=1.0, seed=11,
                        po={"threads_per_core": 3, "sequential_callbacks": False})
    assert counts.get("ok", 0) > 50, counts


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 6))
@pytest.mark.parametrize("po", [
    {"schedule": [0, 1, 2], "threads_per_core": 2},
    {"schedule": [0, 0, 1], "threads_per_core": 3, "sequential_callbacks": False},
    {"tp_mode": "all", "threads_per_core": 2, "enable_pacing": True},
    {"threads_per_core": 4, "disable_dup_context": True},
])
def test_stress_long(model: pathlib.Path, sim: Any, seed: int, po: Dict[str, Any]) -> None:
    counts = run_stress(model, sim, threads=16, load_s=8.0, seed=seed, po=po)
    assert counts.get("ok", 0) > 500, counts
