"""Issue #7, soak (short, default run): a few thousand tasks over every submission API, measured per block of
1 000 after a warm-up.

* Python memory (``tracemalloc``, which counts every allocation made through Python's allocators, numpy
  buffers included) and the number of gc-tracked objects do not grow with the task count: the growth over
  two blocks stays far below one small allocation per task;
* the simulator counters show nothing outstanding between blocks: no unreleased outputs, the same live
  contexts and memories as after the warm-up, and none at all after ``close()``.

The long soak is ``benchmarks/soak.py``; ``tests/test_session_async.py::test_soak_memory_is_stable`` (slow)
runs 20 000 tasks with ``sys.getallocatedblocks``.
"""
from __future__ import annotations

import gc
import pathlib
import threading
import tracemalloc
from typing import Any, Dict, List

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import InferenceSession
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

from _identity import SIM, feed, ident

WAIT_S = 60.0
BLOCK = 1000


@pytest.fixture()
def model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    return path


def block(sess: InferenceSession, n: int, base: int) -> None:
    """``n`` tasks: a fifth each through run, run_async, submit, imap and run_pipeline (plus a batch run)."""
    k = n // 5
    done = threading.Event()
    left = [k]
    lock = threading.Lock()
    bad: List[str] = []

    def cb(r: List[np.ndarray], u: int, e: str) -> None:
        if e or ident(r) != u:
            bad.append(e or "wrong result for {}".format(u))
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    for i in range(base, base + k):
        sess.run_async(None, [feed(i)], cb, i)
    futs = [sess.submit(None, [feed(i)]) for i in range(base + k, base + 2 * k)]
    for i in range(base + 2 * k, base + 3 * k):
        assert ident(sess.run(None, {"x": feed(i)})) == i
    ids = list(range(base + 3 * k, base + 4 * k))
    assert [ident(o) for o in sess.imap([feed(i)] for i in ids)] == ids
    got = []
    for i in range(base + 4 * k, base + 5 * k - 2):
        out = sess.run_pipeline({"x": feed(i)}, depth=4)
        if out is not None:
            got.append(ident(out))
    got += [ident(o) for o in sess.flush_pipeline()]
    assert got == list(range(base + 4 * k, base + 5 * k - 2))
    [y] = sess.run(None, [np.concatenate([feed(base + 5 * k - 2), feed(base + 5 * k - 1)])],
                   {"ztu_modelrt_dispatch_batch": True})
    assert ident([y[:1]]) == base + 5 * k - 2 and ident([y[1:]]) == base + 5 * k - 1
    assert [ident(f.result(timeout=WAIT_S)) for f in futs] == list(range(base + k, base + 2 * k))
    assert done.wait(WAIT_S)
    assert not bad, bad[:3]
    del futs


def test_soak_short_memory_and_counters_stay_flat(model: pathlib.Path, sim: Any) -> None:
    before_session = {k: sim.counter(k) for k in ("live_contexts", "live_mems", "unreleased_outputs")}
    with InferenceSession(model, provider_options=dict(SIM, schedule=[0, 1, 2], max_queue_size=16)) as sess:
        # warm-up: free lists, numpy caches, and the dispatcher's latency reservoirs (2 048 samples each, filled
        # with fresh floats until they wrap)
        block(sess, 2500, 0)
        gc.collect()
        steady = {k: sim.counter(k) for k in ("live_contexts", "live_mems")}
        tracemalloc.start(1)
        try:
            samples: List[Dict[str, int]] = []
            for b in range(3):
                block(sess, BLOCK, 100000 * (b + 1))
                gc.collect()
                samples.append({"traced": tracemalloc.get_traced_memory()[0], "objects": len(gc.get_objects())})
                # nothing outstanding in the runtime between blocks
                assert sim.counter("unreleased_outputs") == 0
                assert {k: sim.counter(k) for k in steady} == steady
        finally:
            tracemalloc.stop()
        stats = sess.get_stats()
        assert stats["failed"] == 0 and stats["inline_failed"] == 0
        assert stats["completed"] + stats["inline_runs"] >= 3500
    # growth over the last two blocks (2 000 tasks), after the first measured block settled the caches
    traced_growth = samples[2]["traced"] - samples[0]["traced"]
    object_growth = samples[2]["objects"] - samples[0]["objects"]
    assert traced_growth < 64 * 1024, (traced_growth, samples)  # < 32 bytes per task
    assert object_growth < 200, (object_growth, samples)  # < one object per 10 tasks
    after = {k: sim.counter(k) for k in before_session}
    assert after == before_session  # close() returned: nothing left
