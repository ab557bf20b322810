"""The simulator's control side (stubs/sim_control.c): counters, faults, delays, SoC profiles, cores.

Parallelism is proven with the simulator's own counters (max_concurrent_runs, per-core runs and busy
time), never with wall-clock thresholds.
"""
from __future__ import annotations

import ctypes
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from ztu_somemodelruntime_ez_rknn_async import simulator
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

REPO = pathlib.Path(__file__).resolve().parent.parent

AUTO, CORE_0, CORE_1, CORE_2, CORE_0_1, CORE_0_1_2, CORE_ALL = 0, 1, 2, 4, 3, 7, 0xFFFF
ERR_PARAM, ERR_PLATFORM = -5, -13


# --------------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="module")
def lib(sim_library: str) -> ctypes.CDLL:
    return ctypes.CDLL(sim_library)


@pytest.fixture(scope="module")
def api(lib: ctypes.CDLL) -> Any:
    try:
        lib["rknn_init"]
    except AttributeError:
        pytest.skip("the simulator does not export rknn_* functions yet (stubs/sim_api.c missing)")
    from ztu_somemodelruntime_ez_rknn_async import _abi

    return _abi.bind(lib)


@pytest.fixture()
def model(native_model: Callable[..., pathlib.Path]) -> pathlib.Path:
    return native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=1000)


class Contexts:
    """Creates contexts and destroys them all at the end of the test."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.handles: List[int] = []

    def init(self, path: pathlib.Path, expect: int = 0) -> int:
        ctx = ctypes.c_uint64()
        rc = self.api.rknn_init(ctypes.byref(ctx), ctypes.c_char_p(str(path).encode()), 0, 0, None)
        assert rc == expect, f"rknn_init returned {rc}, expected {expect}"
        if rc == 0:
            self.handles.append(int(ctx.value))
        return int(ctx.value)

    def close(self) -> None:
        for h in reversed(self.handles):
            assert self.api.rknn_destroy(h) == 0
        self.handles.clear()


@pytest.fixture()
def contexts(api: Any) -> Iterator[Contexts]:
    c = Contexts(api)
    yield c
    c.close()


def query_io_num(api: Any, ctx: int) -> int:
    from ztu_somemodelruntime_ez_rknn_async import _abi

    num = _abi.rknn_input_output_num()
    return int(api.rknn_query(ctx, _abi.RKNN_QUERY_IN_OUT_NUM, ctypes.byref(num), ctypes.sizeof(num)))


def run_once(api: Any, ctx: int) -> None:
    """inputs_set + run + outputs_get + outputs_release on a (1, 4) float32 model."""
    from ztu_somemodelruntime_ez_rknn_async import _abi

    data = (ctypes.c_float * 4)(1.0, 2.0, 3.0, 4.0)
    inp = (_abi.rknn_input * 1)()
    inp[0].index = 0
    inp[0].buf = ctypes.addressof(data)
    inp[0].size = ctypes.sizeof(data)
    inp[0].type = _abi.RKNN_TENSOR_FLOAT32
    inp[0].fmt = _abi.RKNN_TENSOR_UNDEFINED
    assert api.rknn_inputs_set(ctx, 1, inp) == 0
    assert api.rknn_run(ctx, None) == 0
    out = (_abi.rknn_output * 1)()
    out[0].index = 0
    out[0].want_float = 1
    assert api.rknn_outputs_get(ctx, 1, out, None) == 0
    assert api.rknn_outputs_release(ctx, 1, out) == 0


def run_in_threads(api: Any, ctxs: Sequence[int], rounds: int) -> None:
    """Each context runs `rounds` times on its own thread; a barrier lines the threads up per round."""
    barrier = threading.Barrier(len(ctxs))
    errors: List[BaseException] = []

    def work(ctx: int) -> None:
        try:
            for _ in range(rounds):
                barrier.wait(timeout=60)
                run_once(api, ctx)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(c,)) for c in ctxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def core_counters(sim: Any) -> Tuple[List[int], List[int]]:
    return ([sim.counter(f"runs_core{k}") for k in range(3)], [sim.counter(f"busy_us_core{k}") for k in range(3)])


# --------------------------------------------------------------------------------------------------
# Counters and argument checking (no rknn_* calls needed)


def test_version_and_counter_names(sim: Any) -> None:
    assert sim.version() == "ztu-sim 1"
    names = sim.counter_names()
    expected = [
        "live_contexts", "live_mems", "unreleased_outputs", "violations", "runs", "max_concurrent_runs",
        "custom_op_compute_calls",
    ]
    expected += [f"{kind}_core{k}" for k in range(3) for kind in ("runs", "busy_us")]
    expected += [f"calls:{f}" for f in simulator.FUNCTIONS]
    assert names == expected
    values = sim.counters()
    assert list(values) == expected and all(isinstance(v, int) for v in values.values())


def test_raw_counter_api(lib: ctypes.CDLL) -> None:
    get = lib["rknn_sim_get_counter"]
    get.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)]
    get.restype = ctypes.c_int
    value = ctypes.c_int64(-1)
    assert get(b"runs", ctypes.byref(value)) == 0 and value.value >= 0
    assert get(b"calls:rknn_run", ctypes.byref(value)) == 0
    for bad in (b"nope", b"calls:", b"calls:rknn_nothing", b"runs_core3", b"RUNS", b""):
        assert get(bad, ctypes.byref(value)) == ERR_PARAM, bad
    assert get(None, ctypes.byref(value)) == ERR_PARAM
    assert get(b"runs", None) == ERR_PARAM

    lst = lib["rknn_sim_list_counters"]
    lst.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
    lst.restype = ctypes.c_int
    buf = ctypes.create_string_buffer(4096)
    assert lst(buf, 4096) == 0
    full = buf.value
    assert not full.endswith(b"\n") and full.split(b"\n")[0] == b"live_contexts"
    exact = len(full) + 1
    assert lst(buf, exact) == 0 and buf.value == full
    assert lst(buf, exact - 1) == ERR_PARAM and buf.value == b""
    assert lst(buf, 0) == ERR_PARAM
    assert lst(None, 100) == ERR_PARAM


def test_control_rejects_bad_arguments(lib: ctypes.CDLL, sim: Any) -> None:
    inject = lib["rknn_sim_inject_fault"]
    inject.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_int64]
    delay = lib["rknn_sim_set_delay"]
    delay.argtypes = [ctypes.c_char_p, ctypes.c_int64]
    hang = lib["rknn_sim_hang_next_run"]
    hang.argtypes = [ctypes.c_int64]
    soc = lib["rknn_sim_set_soc"]
    soc.argtypes = [ctypes.c_char_p]
    jitter = lib["rknn_sim_set_jitter"]
    jitter.argtypes = [ctypes.c_double]
    override = lib["rknn_sim_set_latency_override"]
    override.argtypes = [ctypes.c_int64]

    assert inject(b"rknn_nothing", 1, -1, 1) == ERR_PARAM
    assert inject(None, 1, -1, 1) == ERR_PARAM
    assert inject(b"rknn_run", 0, -1, 1) == ERR_PARAM
    assert inject(b"rknn_run", 1, -1, -1) == ERR_PARAM
    assert inject(b"rknn_run", 1, 0, 1) == ERR_PARAM
    assert delay(b"rknn_nothing", 10) == ERR_PARAM
    assert delay(b"rknn_run", -1) == ERR_PARAM
    assert hang(-1) == ERR_PARAM
    assert soc(b"rk9999") == ERR_PARAM and soc(None) == ERR_PARAM and soc(b"RK3588") == ERR_PARAM
    for bad in (1.0, -0.01, float("nan"), float("inf")):
        assert jitter(bad) == ERR_PARAM, bad
    assert jitter(0.0) == 0 and jitter(0.999) == 0 and jitter(0.0) == 0
    assert override(-5) == 0 and override(0) == 0 and override(-1) == 0

    with pytest.raises(ValueError, match="unknown rknn function"):
        sim.inject_fault("rknn_nothing")
    with pytest.raises(ValueError, match="nth"):
        sim.inject_fault("rknn_run", nth=0)
    with pytest.raises(ValueError, match="count"):
        sim.inject_fault("rknn_run", count=-1)
    with pytest.raises(ValueError, match="code"):
        sim.inject_fault("rknn_run", code=0)
    with pytest.raises(ValueError, match="delay"):
        sim.set_delay("rknn_run", -1)
    with pytest.raises(ValueError, match="unknown rknn function"):
        sim.set_delay("run", 1)
    with pytest.raises(ValueError, match="hang"):
        sim.hang_next_run(-1)
    with pytest.raises(ValueError, match="unknown SoC"):
        sim.set_soc("rk1234")
    with pytest.raises(ValueError, match="jitter"):
        sim.set_jitter(1.0)
    with pytest.raises(ValueError, match="latency override"):
        sim.set_latency_override(-1)
    with pytest.raises(ValueError, match="unknown simulator counter"):
        sim.counter("nope")


def test_fault_table_is_bounded(sim: Any) -> None:
    for _ in range(64):
        sim.inject_fault("rknn_wait", nth=1_000_000)
    with pytest.raises(ValueError, match="table full"):
        sim.inject_fault("rknn_wait", nth=1_000_000)
    sim.clear_faults()
    sim.inject_fault("rknn_wait", nth=1_000_000)  # room again
    sim.clear_faults()


def test_control_is_a_singleton_over_the_cached_library(sim_library: str) -> None:
    a = simulator.control()
    assert a is simulator.control()
    assert os.path.realpath(a.library._name) == os.path.realpath(sim_library)


# --------------------------------------------------------------------------------------------------
# Call counting and faults


def test_calls_are_counted_and_reset(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    ctx = contexts.init(model)
    sim.reset_counters()
    for _ in range(3):
        assert query_io_num(api, ctx) == 0
    assert sim.counter("calls:rknn_query") == 3
    assert sim.counter("calls:rknn_init") == 0
    run_once(api, ctx)
    assert sim.counter("runs") == 1 and sim.counter("calls:rknn_run") == 1
    live = sim.counter("live_contexts")
    assert live >= 1
    sim.reset_counters()
    after = sim.counters()
    assert after["calls:rknn_query"] == 0 and after["runs"] == 0 and after["max_concurrent_runs"] == 0
    assert after["runs_core0"] == after["busy_us_core0"] == 0
    assert after["live_contexts"] == live  # live counters are not cumulative: never reset


def test_fault_nth_and_count(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    ctx = contexts.init(model)
    for _ in range(5):  # calls made before the injection do not count
        assert query_io_num(api, ctx) == 0
    sim.inject_fault("rknn_query", nth=2, code=-9, count=2)
    assert [query_io_num(api, ctx) for _ in range(6)] == [0, -9, -9, 0, 0, 0]

    sim.inject_fault("rknn_query", nth=1, code=-2)  # count defaults to 1
    assert [query_io_num(api, ctx) for _ in range(3)] == [-2, 0, 0]

    sim.inject_fault("rknn_query", nth=3, code=-4, count=0)  # forever from the 3rd call on
    sim.reset_counters()  # resetting counters does not renumber calls for faults
    assert [query_io_num(api, ctx) for _ in range(6)] == [0, 0, -4, -4, -4, -4]
    assert sim.counter("calls:rknn_query") == 6  # failed calls are counted too
    sim.clear_faults()
    assert query_io_num(api, ctx) == 0


def test_several_faults_at_once(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    ctx = contexts.init(model)
    sim.inject_fault("rknn_query", nth=1, code=-1, count=1)
    sim.inject_fault("rknn_query", nth=3, code=-2, count=2)
    sim.inject_fault("rknn_run", nth=1, code=-3)  # another function is untouched by rknn_query calls
    assert [query_io_num(api, ctx) for _ in range(5)] == [-1, 0, -2, -2, 0]
    assert api.rknn_run(ctx, None) == -3


def test_fault_on_init_has_no_side_effects(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    before = sim.counter("live_contexts")
    sim.inject_fault("rknn_init", nth=1, code=-6)
    contexts.init(model, expect=-6)
    assert sim.counter("live_contexts") == before
    contexts.init(model)
    assert sim.counter("live_contexts") == before + 1


def test_fault_on_create_mem_returns_null(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    ctx = contexts.init(model)
    mems = sim.counter("live_mems")
    sim.inject_fault("rknn_create_mem", nth=1, code=-4)
    assert not api.rknn_create_mem(ctx, 64)
    assert sim.counter("live_mems") == mems
    mem = api.rknn_create_mem(ctx, 64)
    assert mem
    assert api.rknn_destroy_mem(ctx, mem) == 0


def test_faults_from_several_threads_fire_exactly_count_times(
    api: Any, sim: Any, contexts: Contexts, model: pathlib.Path
) -> None:
    ctxs = [contexts.init(model) for _ in range(4)]
    sim.inject_fault("rknn_query", nth=10, code=-9, count=25)
    results: List[int] = []
    lock = threading.Lock()

    def work(ctx: int) -> None:
        local = [query_io_num(api, ctx) for _ in range(50)]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=work, args=(c,)) for c in ctxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200 and results.count(-9) == 25 and results.count(0) == 175


def test_delay_is_added_to_every_call(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    ctx = contexts.init(model)
    sim.set_delay("rknn_query", 30_000)
    for _ in range(2):
        start = time.monotonic()
        assert query_io_num(api, ctx) == 0
        assert time.monotonic() - start >= 0.029  # a sleep never ends early
    sim.set_delay("rknn_query", 0)
    sim.set_delay("rknn_run", 20_000)
    sim.clear_faults()  # clears delays too; nothing left to measure but the call still works
    assert query_io_num(api, ctx) == 0


# --------------------------------------------------------------------------------------------------
# SoC profiles and core masks

_MASKS = [AUTO, CORE_0, CORE_1, CORE_2, CORE_0_1, CORE_0_1_2, CORE_ALL, 5, 6, 8, 0x10000, -1]
_EXPECTED_MASK_RESULTS: Dict[str, List[int]] = {
    "rk3588": [0, 0, 0, 0, 0, 0, 0, ERR_PARAM, ERR_PARAM, ERR_PARAM, ERR_PARAM, ERR_PARAM],
    # CORE_2 and CORE_0_1_2 name a core RK3576 lacks: refused (toolkit-lite2 would remap them)
    "rk3576": [0, 0, 0, ERR_PARAM, 0, ERR_PARAM, 0, ERR_PARAM, ERR_PARAM, ERR_PARAM, ERR_PARAM, ERR_PARAM],
    # single-core SoCs refuse every mask, AUTO included, as real RK3566 boards do
    "rk3566": [ERR_PLATFORM] * len(_MASKS),
    "rk3568": [ERR_PLATFORM] * len(_MASKS),
    "rk3562": [ERR_PLATFORM] * len(_MASKS),
}


@pytest.mark.parametrize("soc", list(_EXPECTED_MASK_RESULTS))
def test_core_mask_rules(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path, soc: str) -> None:
    sim.set_soc(soc)
    ctx = contexts.init(model)
    got = [api.rknn_set_core_mask(ctx, m) for m in _MASKS]
    assert got == _EXPECTED_MASK_RESULTS[soc]
    assert simulator.SOCS[soc] == {"rk3588": 3, "rk3576": 2}.get(soc, 1)


@pytest.mark.parametrize("soc", ["rk3566", "rk3568", "rk3562"])
def test_single_core_soc_runs_in_auto(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path, soc: str) -> None:
    sim.set_soc(soc)
    ctxs = [contexts.init(model) for _ in range(3)]
    for c in ctxs:
        assert api.rknn_set_core_mask(c, AUTO) == ERR_PLATFORM  # fails, the context stays AUTO
    sim.set_latency_override(2000)
    sim.reset_counters()
    run_in_threads(api, ctxs, rounds=2)
    runs, busy = core_counters(sim)
    assert runs == [6, 0, 0] and busy == [12000, 0, 0]
    assert sim.counter("max_concurrent_runs") == 1
    assert sim.counter("runs") == 6


# --------------------------------------------------------------------------------------------------
# Simulated cores: parallelism, exclusion, multi-core masks, timing


def _masked_contexts(api: Any, contexts: Contexts, model: pathlib.Path, masks: Sequence[int]) -> List[int]:
    ctxs = []
    for m in masks:
        c = contexts.init(model)
        assert api.rknn_set_core_mask(c, m) == 0
        ctxs.append(c)
    return ctxs


def test_three_cores_run_in_parallel(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    ctxs = _masked_contexts(api, contexts, model, [CORE_0, CORE_1, CORE_2])
    sim.set_latency_override(150_000)
    sim.reset_counters()
    # A barrier lines the three threads up before every round and each run takes 150 ms, so the runs of a
    # round overlap; the simulator's own high-water mark proves it.  More rounds only on a very busy host.
    rounds = 0
    while rounds < 6 and (rounds < 2 or sim.counter("max_concurrent_runs") < 3):
        run_in_threads(api, ctxs, rounds=1)
        rounds += 1
    assert sim.counter("max_concurrent_runs") == 3
    runs, busy = core_counters(sim)
    assert runs == [rounds] * 3
    assert busy == [150_000 * rounds] * 3


def test_one_core_never_runs_two_jobs(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    ctxs = _masked_contexts(api, contexts, model, [CORE_0, CORE_0])
    sim.set_latency_override(20_000)
    sim.reset_counters()
    run_in_threads(api, ctxs, rounds=4)
    runs, busy = core_counters(sim)
    assert runs == [8, 0, 0] and busy == [160_000, 0, 0]
    assert sim.counter("max_concurrent_runs") == 1


def test_auto_takes_the_lowest_idle_core(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    (ctx,) = _masked_contexts(api, contexts, model, [AUTO])
    sim.set_latency_override(1000)
    sim.reset_counters()
    for _ in range(3):
        run_once(api, ctx)
    assert core_counters(sim)[0] == [3, 0, 0]
    # four AUTO contexts at once never exceed the three cores
    ctxs = [contexts.init(model) for _ in range(4)]
    sim.set_latency_override(30_000)
    sim.reset_counters()
    run_in_threads(api, ctxs, rounds=2)
    runs, _ = core_counters(sim)
    assert sum(runs) == 8
    assert sim.counter("max_concurrent_runs") <= 3


@pytest.mark.parametrize(
    "soc, mask, held, speedup",
    [
        ("rk3588", CORE_0_1, [1, 1, 0], 1.13),
        ("rk3588", CORE_0_1_2, [1, 1, 1], 1.26),
        ("rk3588", CORE_ALL, [1, 1, 1], 1.26),
        ("rk3576", CORE_0_1, [1, 1, 0], 1.13),
        ("rk3576", CORE_ALL, [1, 1, 0], 1.13),
    ],
)
def test_multi_core_mask_holds_all_its_cores(
    api: Any, sim: Any, contexts: Contexts, model: pathlib.Path, soc: str, mask: int, held: List[int], speedup: float
) -> None:
    sim.set_soc(soc)
    (multi,) = _masked_contexts(api, contexts, model, [mask])
    sim.set_latency_override(126_000)
    sim.reset_counters()
    run_once(api, multi)
    runs, busy = core_counters(sim)
    assert runs == held
    assert busy == [round(126_000 / speedup) * h for h in held]

    # A run on core 1 and the multi-core run never overlap.
    (single,) = _masked_contexts(api, contexts, model, [CORE_1])
    sim.set_latency_override(40_000)
    sim.reset_counters()
    run_in_threads(api, [multi, single], rounds=3)
    assert sim.counter("max_concurrent_runs") == 1
    assert core_counters(sim)[0][1] == 6


def test_multi_core_run_is_not_starved(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    """Waiting runs reserve their cores: a CORE_0_1_2 run gets through between busy single-core runs."""
    ctxs = _masked_contexts(api, contexts, model, [CORE_0, CORE_1, CORE_2, CORE_0_1_2])
    sim.set_latency_override(10_000)
    sim.reset_counters()
    run_in_threads(api, ctxs, rounds=3)
    runs, _ = core_counters(sim)
    assert runs == [6, 6, 6] and sim.counter("runs") == 12


def test_model_latency_override_and_hang(
    api: Any, sim: Any, contexts: Contexts, native_model: Callable[..., pathlib.Path]
) -> None:
    path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=3210)
    (ctx,) = _masked_contexts(api, contexts, path, [CORE_2])
    sim.reset_counters()
    run_once(api, ctx)
    assert core_counters(sim)[1] == [0, 0, 3210]
    sim.set_latency_override(777)
    run_once(api, ctx)
    assert core_counters(sim)[1] == [0, 0, 3210 + 777]
    sim.set_latency_override(None)
    sim.hang_next_run(50_000)
    run_once(api, ctx)
    run_once(api, ctx)  # the hang applies to exactly one run
    assert core_counters(sim)[1] == [0, 0, 3210 + 777 + 3210 + 50_000 + 3210]
    sim.hang_next_run(50_000)
    sim.clear_faults()  # also drops a pending hang
    run_once(api, ctx)
    assert core_counters(sim)[1][2] == 3210 * 4 + 777 + 50_000


def test_jitter_spreads_latency(api: Any, sim: Any, contexts: Contexts, model: pathlib.Path) -> None:
    (ctx,) = _masked_contexts(api, contexts, model, [CORE_0])
    sim.set_latency_override(10_000)
    sim.set_jitter(0.5)
    sim.reset_counters()
    seen = []
    for _ in range(8):
        before = sim.counter("busy_us_core0")
        run_once(api, ctx)
        seen.append(sim.counter("busy_us_core0") - before)
    assert all(5000 <= s <= 15000 for s in seen), seen
    assert len(set(seen)) > 1, seen
    sim.set_jitter(0.0)
    before = sim.counter("busy_us_core0")
    run_once(api, ctx)
    assert sim.counter("busy_us_core0") - before == 10_000


# --------------------------------------------------------------------------------------------------
# Environment read at load time (fresh process)

_ENV_SCRIPT = textwrap.dedent(
    """
    import ctypes, json, sys
    from ztu_somemodelruntime_ez_rknn_async import _abi
    lib = ctypes.CDLL(sys.argv[1])
    api = _abi.bind(lib)
    get = lib["rknn_sim_get_counter"]
    get.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)]
    def counter(name):
        v = ctypes.c_int64()
        assert get(name.encode(), ctypes.byref(v)) == 0
        return v.value
    ctx = ctypes.c_uint64()
    out = {}
    out["init1"] = api.rknn_init(ctypes.byref(ctx), ctypes.c_char_p(sys.argv[2].encode()), 0, 0, None)
    out["init2"] = api.rknn_init(ctypes.byref(ctx), ctypes.c_char_p(sys.argv[2].encode()), 0, 0, None)
    num = _abi.rknn_input_output_num()
    out["query"] = [api.rknn_query(ctx.value, 0, ctypes.byref(num), ctypes.sizeof(num)) for _ in range(5)]
    out["masks"] = [api.rknn_set_core_mask(ctx.value, m) for m in (0, 4, 3)]
    data = (ctypes.c_float * 4)()
    inp = (_abi.rknn_input * 1)()
    inp[0].buf = ctypes.cast(data, ctypes.c_void_p); inp[0].size = 16; inp[0].type = 0; inp[0].fmt = 3
    api.rknn_inputs_set(ctx.value, 1, inp)
    out["run"] = api.rknn_run(ctx.value, None)
    out["busy"] = [counter("busy_us_core%d" % k) for k in range(3)]
    out["calls"] = counter("calls:rknn_query")
    api.rknn_destroy(ctx.value)
    print(json.dumps(out))
    """
)


def test_environment_configures_the_library(sim_library: str, model: pathlib.Path, api: Any) -> None:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        RKNN_SIM_SOC="rk3576",
        RKNN_SIM_LATENCY_US="4321",
        RKNN_SIM_JITTER="0",
        RKNN_SIM_FAULTS="rknn_query:2:-9:2, rknn_init:1:-6 ,bogus:1:-1,rknn_run:x:-1,rknn_run:1:0",
        RKNN_SIM_DELAYS="rknn_query:1000,rknn_nothing:5",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _ENV_SCRIPT, sim_library, str(model)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert out["init1"] == -6 and out["init2"] == 0
    assert out["query"] == [0, -9, -9, 0, 0]
    assert out["masks"] == [0, ERR_PARAM, 0]  # rk3576: no core 2
    assert out["run"] == 0
    assert out["busy"] == [round(4321 / 1.13), round(4321 / 1.13), 0]  # CORE_0_1 on 2 cores
    assert out["calls"] == 5
    # bad entries are reported, not silently dropped
    assert "bogus:1:-1" in err and "rknn_run:x:-1" in err and "rknn_run:1:0" in err and "rknn_nothing:5" in err


def test_bad_environment_values_are_reported(sim_library: str) -> None:
    script = "import ctypes, sys; ctypes.CDLL(sys.argv[1]); print('loaded')"
    env = dict(os.environ, RKNN_SIM_SOC="rk9", RKNN_SIM_LATENCY_US="fast", RKNN_SIM_JITTER="2")
    proc = subprocess.run([sys.executable, "-c", script, sim_library], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == b"loaded"
    err = proc.stderr.decode()
    assert "RKNN_SIM_SOC=rk9" in err and "RKNN_SIM_LATENCY_US=fast" in err and "RKNN_SIM_JITTER=2" in err


_SEED_SCRIPT = textwrap.dedent(
    """
    import ctypes, json, sys
    from ztu_somemodelruntime_ez_rknn_async import _abi
    lib = ctypes.CDLL(sys.argv[1])
    api = _abi.bind(lib)
    get = lib["rknn_sim_get_counter"]
    get.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)]
    def busy():
        v = ctypes.c_int64()
        assert get(b"busy_us_core0", ctypes.byref(v)) == 0
        return v.value
    ctx = ctypes.c_uint64()
    assert api.rknn_init(ctypes.byref(ctx), ctypes.c_char_p(sys.argv[2].encode()), 0, 0, None) == 0
    data = (ctypes.c_float * 4)()
    inp = (_abi.rknn_input * 1)()
    inp[0].buf = ctypes.addressof(data); inp[0].size = 16; inp[0].type = 0; inp[0].fmt = 3
    seen = []
    for _ in range(6):
        assert api.rknn_inputs_set(ctx.value, 1, inp) == 0
        before = busy()
        assert api.rknn_run(ctx.value, None) == 0
        seen.append(busy() - before)
    api.rknn_destroy(ctx.value)
    print(json.dumps(seen))
    """
)


def test_seed_makes_jitter_reproducible(sim_library: str, model: pathlib.Path, api: Any) -> None:
    def durations(seed: str) -> List[int]:
        env = dict(os.environ, PYTHONPATH=str(REPO), RKNN_SIM_JITTER="0.4", RKNN_SIM_SEED=seed,
                   RKNN_SIM_LATENCY_US="1000")
        for var in ("RKNN_SIM_FAULTS", "RKNN_SIM_DELAYS", "RKNN_SIM_SOC"):
            env.pop(var, None)
        proc = subprocess.run([sys.executable, "-c", _SEED_SCRIPT, sim_library, str(model)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()
        values: List[int] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        return values

    first = durations("42")
    assert all(600 <= v <= 1400 for v in first), first
    assert durations("42") == first
    assert durations("43") != first
