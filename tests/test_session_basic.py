"""InferenceSession against simulator-native models: introspection, run values, layouts, dtypes, options."""
from __future__ import annotations

import gc
import inspect
import pathlib
import weakref
from typing import Any, Dict, List

import numpy as np
import pytest

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession, NodeArg
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec, expected_outputs

SIM = {"runtime_library": "simulator"}


def opts(**kw: Any) -> Dict[str, Any]:
    d: Dict[str, Any] = dict(SIM)
    d.update(kw)
    return d


def rng_input(shape: Any, seed: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)


IMG_IN = [TensorSpec("in_a", (1, 3, 4, 5), "int8", scale=0.01, zero_point=-3),
          TensorSpec("in_b", (1, 3, 4, 5), "float16")]
IMG_OUT = [TensorSpec("out0", (1, 3, 4, 5), "int8", scale=0.03, zero_point=2),
           TensorSpec("out1", (1, 60), "float32")]


@pytest.fixture()
def img_model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model(IMG_IN, IMG_OUT, latency_us=0, custom_string="hello=1")
    return path


def test_public_surface() -> None:
    for name in ez.__all__:
        assert hasattr(ez, name), name
    assert ez.get_available_providers() == ["RKNPU2ExecutionProvider"]
    assert isinstance(ez.__version__, str) and ez.__version__ and ez.__version__ != "0+unknown"
    sig = inspect.signature(InferenceSession.__init__)
    assert list(sig.parameters)[1:5] == ["path_or_bytes", "sess_options", "providers", "provider_options"]
    assert sig.parameters["use_weight_from"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(InferenceSession.run).parameters) == ["self", "output_names", "input_feed",
                                                                      "run_options"]
    assert list(inspect.signature(InferenceSession.run_async).parameters) == [
        "self", "output_names", "input_feed", "callback", "user_data", "run_options"]


def test_introspection(img_model: pathlib.Path) -> None:
    with InferenceSession(str(img_model), provider_options=SIM) as sess:
        assert sess.get_inputs() == [NodeArg("in_a", [1, 3, 4, 5], "tensor(int8)"),
                                     NodeArg("in_b", [1, 3, 4, 5], "tensor(float16)")]
        # outputs describe what run() returns: float32
        assert sess.get_outputs() == [NodeArg("out0", [1, 3, 4, 5], "tensor(float)"),
                                      NodeArg("out1", [1, 60], "tensor(float)")]
        names = sess.input_names
        names.append("junk")
        assert sess.input_names == ["in_a", "in_b"] and sess.output_names == ["out0", "out1"]
        meta = sess.get_modelmeta()
        assert meta.custom_metadata_map == {"rknn_custom_string": "hello=1"}
        assert sess.get_providers() == ["RKNPU2ExecutionProvider"]
        po = sess.get_provider_options()
        assert po["RKNPU2ExecutionProvider"]["layout"] == "nchw"
        assert isinstance(sess.get_session_options(), ez.SessionOptions)
        assert sess.get_overridable_initializers() == []
        sess.disable_fallback()
        sess.enable_fallback()
        assert sess.runtime_version.startswith("2.") and set(sess.get_sdk_version()) == {"api_version", "drv_version"}
        native_in = sess.get_native_inputs()
        assert [a.name for a in native_in] == ["in_a", "in_b"]
        assert all(isinstance(a, NodeArg) for a in sess.get_native_outputs())
        with pytest.raises(AttributeError):
            sess.input_names = []  # type: ignore[misc]
    with InferenceSession(img_model, provider_options=opts(layout="nhwc", native_outputs=True)) as sess:
        assert [a.shape for a in sess.get_inputs()] == [[1, 4, 5, 3], [1, 4, 5, 3]]
        assert [a.type for a in sess.get_outputs()] == ["tensor(int8)", "tensor(float)"]


@pytest.mark.parametrize("layout", ["nchw", "nchw_software", "nhwc", "any", "original", "original_software"])
def test_run_values_every_layout(img_model: pathlib.Path, layout: str) -> None:
    a = rng_input((1, 3, 4, 5), 1)
    b = rng_input((1, 3, 4, 5), 2)
    want = expected_outputs(IMG_IN, IMG_OUT, [a, b])
    with InferenceSession(img_model, provider_options=opts(layout=layout)) as sess:
        if layout in ("nhwc", "any"):
            feed = {"in_a": a.transpose(0, 2, 3, 1), "in_b": b.transpose(0, 2, 3, 1)}
        else:
            feed = {"in_a": a, "in_b": b}
        got = sess.run(None, feed)
    assert [g.dtype for g in got] == [np.float32, np.float32]
    assert [g.shape for g in got] == [(1, 3, 4, 5), (1, 60)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=0.031)


def test_layout_mislabel_gives_wrong_numbers(img_model: pathlib.Path) -> None:
    # Feeding NHWC data to an nchw session (same element count, reshaped) must not reproduce the sums:
    # catches a binding that ignores the layout.
    a = rng_input((1, 3, 4, 5), 3)
    b = rng_input((1, 3, 4, 5), 4)
    want = expected_outputs(IMG_IN, IMG_OUT, [a, b])
    with InferenceSession(img_model, provider_options=SIM) as sess:
        wrong = sess.run(None, {"in_a": np.ascontiguousarray(a.transpose(0, 2, 3, 1)).reshape(1, 3, 4, 5),
                                "in_b": np.ascontiguousarray(b.transpose(0, 2, 3, 1)).reshape(1, 3, 4, 5)})
    assert not np.allclose(wrong[0], want[0], atol=0.031)


def test_swapped_inputs_differ(native_model: Any) -> None:
    # in_a is quantised coarsely, in_b is float32: swapping them changes the sums.
    ins = [TensorSpec("in_a", (1, 6), "int8", scale=0.1), TensorSpec("in_b", (1, 6), "float32")]
    outs = [TensorSpec("y", (1, 6), "float32")]
    path = native_model(ins, outs, latency_us=0)
    a = np.full((1, 6), 0.04, np.float32)  # quantises to 0
    b = np.full((1, 6), 0.5, np.float32)  # quantises to 0.5
    with InferenceSession(path, provider_options=SIM) as sess:
        r1 = sess.run(None, {"in_a": a, "in_b": b})[0]
        r2 = sess.run(None, [a, b])[0]
        r3 = sess.run(None, {"in_b": a, "in_a": b})[0]
    np.testing.assert_allclose(r1, expected_outputs(ins, outs, [a, b])[0], atol=1e-6)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_allclose(r3, expected_outputs(ins, outs, [b, a])[0], atol=1e-6)
    assert not np.allclose(r1, r3)


def test_output_names_selection(img_model: pathlib.Path) -> None:
    a = rng_input((1, 3, 4, 5), 5)
    with InferenceSession(img_model, provider_options=SIM) as sess:
        full = sess.run(None, [a, a])
        sel = sess.run(["out1", "out0", "out1"], [a, a])
        assert sess.run([], [a, a])[0].shape == full[0].shape
    np.testing.assert_array_equal(sel[0], full[1])
    np.testing.assert_array_equal(sel[1], full[0])
    np.testing.assert_array_equal(sel[2], full[1])
    assert np.shares_memory(sel[0], sel[2]) and sel[0] is not sel[2]


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8, np.int8])
def test_input_dtypes(native_model: Any, dtype: type) -> None:
    ins = [TensorSpec("x", (2, 3), "float32")]
    outs = [TensorSpec("y", (2, 3), "float32")]
    path = native_model(ins, outs, latency_us=0)
    x = (np.arange(6).reshape(2, 3) * 3).astype(dtype)
    with InferenceSession(path, provider_options=SIM) as sess:
        y = sess.run(None, {"x": x})[0]
    np.testing.assert_allclose(y, x.astype(np.float32))


@pytest.mark.parametrize("rank_shape", [(), (5,), (2, 3), (1, 2, 3), (1, 2, 3, 2), (1, 1, 2, 1, 3)])
@pytest.mark.parametrize("dtype, scale", [("float32", None), ("float16", None), ("int8", 0.05), ("uint8", 0.02)])
def test_native_models_ranks_dtypes(native_model: Any, rank_shape: tuple, dtype: str, scale: Any) -> None:
    zp = 128 if dtype == "uint8" else 0
    ins = [TensorSpec("x", rank_shape, dtype, scale=scale, zero_point=zp if scale else 0)]
    outs = [TensorSpec("y", rank_shape, dtype, scale=scale, zero_point=zp if scale else 0),
            TensorSpec("z", (3,), "float32")]
    path = native_model(ins, outs, latency_us=0)
    x = rng_input(rank_shape, 7)
    want = expected_outputs(ins, outs, [x])
    with InferenceSession(path, provider_options=opts(layout="nhwc")) as sess:
        feed = x if len(rank_shape) != 4 else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        got = sess.run(None, feed)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=(scale or 0.001) * 1.01)


def test_native_outputs_option_and_run_option(native_model: Any) -> None:
    ins = [TensorSpec("x", (1, 8), "float32")]
    outs = [TensorSpec("q", (1, 8), "int8", scale=0.5, zero_point=1), TensorSpec("h", (1, 8), "float16")]
    path = native_model(ins, outs, latency_us=0)
    x = np.arange(8, dtype=np.float32).reshape(1, 8) - 4
    with InferenceSession(path, provider_options=SIM) as sess:
        f = sess.run(None, {"x": x})
        n = sess.run(None, {"x": x}, {"native_outputs": True})
    assert [a.dtype for a in f] == [np.float32, np.float32]
    assert [a.dtype for a in n] == [np.int8, np.float16]
    np.testing.assert_array_equal(n[0], np.clip(np.rint(x / 0.5) + 1, -128, 127).astype(np.int8))
    np.testing.assert_allclose((n[0].astype(np.float32) - 1) * 0.5, f[0])
    np.testing.assert_allclose(n[1].astype(np.float32), f[1] - 1 + 1)
    with InferenceSession(path, provider_options=opts(native_outputs=True)) as sess:
        assert [a.dtype for a in sess.run(None, {"x": x})] == [np.int8, np.float16]


def test_float_and_native_outputs_alternate_on_one_slot(native_model: Any) -> None:
    """One worker slot keeps its rknn_output array between runs (want_float is rewritten only when the
    plans change) and queued tasks carry output arrays allocated at submission: alternating float32 and
    native runs through every API must give each run its own dtype and values."""
    ins = [TensorSpec("x", (1, 8), "float32")]
    outs = [TensorSpec("q", (1, 8), "int8", scale=0.5, zero_point=1), TensorSpec("h", (1, 8), "float16")]
    path = native_model(ins, outs, latency_us=200)
    xs = [np.arange(8, dtype=np.float32).reshape(1, 8) - 4 + i for i in range(24)]
    native = [{"native_outputs": True} if i % 2 else None for i in range(24)]
    with InferenceSession(path, provider_options=opts(schedule="0")) as sess:
        futures = [sess.submit(None, {"x": x}, ro) for x, ro in zip(xs[:8], native[:8])]
        got: Dict[int, List[np.ndarray]] = {}

        def cb(results: List[np.ndarray], i: int, err: str) -> None:
            assert err == ""
            got[i] = results

        for i in range(8, 16):
            sess.run_async(None, {"x": xs[i]}, cb, i, native[i])
        results = [f.result(30) for f in futures]
        results += [sess.run(None, {"x": xs[i]}, native[i]) for i in range(16, 24)]
    with InferenceSession(path, provider_options=SIM) as ref:
        expected = [ref.run(None, {"x": x}, ro) for x, ro in zip(xs, native)]
    results[8:8] = [got[i] for i in range(8, 16)]
    for i, (res, exp) in enumerate(zip(results, expected)):
        assert [a.dtype for a in res] == ([np.int8, np.float16] if i % 2 else [np.float32, np.float32]), i
        for a, b in zip(res, exp):
            np.testing.assert_array_equal(a, b)


def test_nchw_reported_4d_input_not_swapped(native_model: Any) -> None:
    # peer bug §21.1-1: a 4-D input reported as NCHW keeps its shape in every layout.
    ins = [TensorSpec("x", (1, 2, 3, 4), "float32", layout="nchw")]
    outs = [TensorSpec("y", (1, 2, 3, 4), "float32")]
    path = native_model(ins, outs, latency_us=0)
    x = rng_input((1, 2, 3, 4), 9)
    for layout in ("nchw", "nchw_software", "nhwc", "any"):
        with InferenceSession(path, provider_options=opts(layout=layout)) as sess:
            assert sess.get_inputs()[0].shape == [1, 2, 3, 4]
            np.testing.assert_allclose(sess.run(None, {"x": x})[0], x, atol=1e-6)


def test_bytes_model_and_pathlike(img_model: pathlib.Path) -> None:
    data = img_model.read_bytes()
    a = rng_input((1, 3, 4, 5), 11)
    outs: List[np.ndarray] = []
    for src in (data, bytearray(data), memoryview(data), img_model, str(img_model)):
        with InferenceSession(src, provider_options=SIM) as sess:
            outs.append(sess.run(["out1"], [a, a])[0])
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


@pytest.mark.parametrize("providers, provider_options", [
    (["RKNPU2ExecutionProvider"], [SIM]),
    (["RKNNExecutionProvider", "CPUExecutionProvider"], [SIM, {}]),
    ([("RKNPU2ExecutionProvider", SIM)], None),
    (None, [SIM]),
])
def test_ort_provider_forms(img_model: pathlib.Path, providers: Any, provider_options: Any) -> None:
    with InferenceSession(img_model, providers=providers, provider_options=provider_options) as sess:
        assert sess.get_providers() == ["RKNPU2ExecutionProvider"]  # the alias selects it; ours is reported
        assert list(sess.get_provider_options()) == ["RKNPU2ExecutionProvider"]


def test_dynamic_shape_model(native_model: Any, sim: Any) -> None:
    rows = [(1, 3, 4, 4), (1, 3, 8, 8), (1, 3, 2, 6)]
    ins = [TensorSpec("x", rows[0], "float16", shapes=rows), TensorSpec("s", (1, 2), "float32",
                                                                       shapes=[(1, 2), (1, 2), (1, 2)])]
    outs = [TensorSpec("y", rows[0], "float32", shapes=rows)]
    path = native_model(ins, outs, latency_us=0)
    for layout in ("nchw", "nchw_software", "nhwc"):
        with InferenceSession(path, provider_options=opts(layout=layout)) as sess:
            shp = sess.get_inputs()[0].shape
            assert shp[:2] == [1, 3] if layout != "nhwc" else shp[-1] == 3
            assert sess.get_outputs()[0].shape == [1, 3, "dim_2", "dim_3"]
            for r in (1, 0, 2, 2, 1):
                x = rng_input(rows[r], r)
                s = rng_input((1, 2), 10 + r)
                feed_x = x if layout != "nhwc" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
                got = sess.run(None, {"x": feed_x, "s": s})[0]
                assert got.shape == rows[r]
                np.testing.assert_allclose(got, expected_outputs(ins, outs, [x, s])[0], atol=2e-3)
            with pytest.raises(ez.InvalidArgumentError, match="one of"):
                sess.run(None, {"x": rng_input((1, 3, 5, 5), 0) if layout != "nhwc" else rng_input((1, 5, 5, 3), 0),
                                "s": rng_input((1, 2), 0)})


def test_batch_dispatch(native_model: Any, sim: Any) -> None:
    ins = [TensorSpec("x", (1, 3, 2, 2), "float32"), TensorSpec("v", (1, 4), "float32")]
    outs = [TensorSpec("y", (1, 12), "float32"), TensorSpec("w", (2, 3), "float32"),
            TensorSpec("s", (), "float32")]
    path = native_model(ins, outs, latency_us=200)
    k = 7
    x = rng_input((k, 3, 2, 2), 1)
    v = rng_input((k, 4), 2)
    sim.reset_counters()
    with InferenceSession(path, provider_options=opts(schedule=[0, 1, 2])) as sess:
        got = sess.run(None, {"x": x, "v": v}, {"ztu_modelrt_dispatch_batch": True})
        only_w = sess.run(["w"], [x, v], {"ztu_modelrt_dispatch_batch": "1"})
    assert [g.shape for g in got] == [(k, 12), (2 * k, 3), (k,)]
    for b in range(k):
        want = expected_outputs(ins, outs, [x[b:b + 1], v[b:b + 1]])
        np.testing.assert_allclose(got[0][b:b + 1], want[0], atol=1e-5)
        np.testing.assert_allclose(got[1][2 * b:2 * b + 2], want[1], atol=1e-5)  # dim0 = 2 joins correctly
        np.testing.assert_allclose(got[2][b], want[2], atol=1e-5)
    np.testing.assert_array_equal(only_w[0], got[1])
    assert sum(sim.counter("runs_core{}".format(c)) for c in range(3)) == 2 * k
    assert all(sim.counter("runs_core{}".format(c)) > 0 for c in range(3))


def test_schedule_and_threads_per_core_slots(native_model: Any, sim: Any) -> None:
    path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    with InferenceSession(path, provider_options=opts(schedule="0,2", threads_per_core=2)) as sess:
        st = sess.get_stats()
        assert [(s["core"], s["index"], s["mask"]) for s in st["slots"]] == [(0, 0, 1), (0, 1, 1), (2, 0, 4),
                                                                            (2, 1, 4)]
        assert {s["created_by"] for s in st["slots"]} == {"dup"}
    with InferenceSession(path, provider_options=opts(tp_mode="all", disable_dup_context=True)) as sess:
        st = sess.get_stats()
        assert [(s["mask"], s["created_by"]) for s in st["slots"]] == [(0xFFFF, "init")]


def test_single_core_soc_tolerates_core_mask(native_model: Any, sim: Any) -> None:
    path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    sim.set_soc("rk3566")
    x = np.ones((1, 4), np.float32)
    for po in (SIM, opts(tp_mode="0"), opts(schedule=[0], threads_per_core=2)):
        with InferenceSession(path, provider_options=po) as sess:
            np.testing.assert_array_equal(sess.run(None, [x])[0], x)
    with pytest.raises(ez.RknnError, match="rknn_set_core_mask"):
        InferenceSession(path, provider_options=opts(schedule=[1]))


def test_two_core_profile(native_model: Any, sim: Any) -> None:
    path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    sim.set_soc("rk3576")
    with InferenceSession(path, provider_options=opts(schedule=[0, 1])) as sess:
        assert sess.run(None, [np.ones((1, 4), np.float32)])[0].sum() == 4
    with pytest.raises(ez.RknnError, match="rknn_set_core_mask"):
        InferenceSession(path, provider_options=opts(schedule=[0, 2]))


def test_weight_sharing(native_model: Any) -> None:
    master_path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0,
                               weights_id="w1")
    slave_path = native_model([TensorSpec("x", (1, 6))], [TensorSpec("y", (1, 6))], latency_us=0,
                              weights_from="w1")
    master = InferenceSession(master_path, provider_options=opts(threads_per_core=2))
    slave = InferenceSession(slave_path, provider_options=SIM, use_weight_from=master)
    ref = weakref.ref(master)
    del master
    gc.collect()
    assert ref() is not None  # the slave keeps its master alive
    np.testing.assert_array_equal(slave.run(None, [np.ones((1, 6), np.float32)])[0], np.ones((1, 6)))
    assert {s["created_by"] for s in slave.get_stats()["slots"]} == {"init"}
    slave.close()
    del slave
    gc.collect()
    assert ref() is None
    with pytest.raises(ez.RknnError):
        InferenceSession(slave_path, provider_options=SIM)  # weight-less model alone is refused


def test_session_collected_without_close(img_model: pathlib.Path) -> None:
    sess = InferenceSession(img_model, provider_options=opts(threads_per_core=2))
    sess.run(None, [rng_input((1, 3, 4, 5), 0)] * 2)
    ref = weakref.ref(sess)
    del sess
    gc.collect()
    assert ref() is None  # no thread keeps the session alive; the leak check verifies the contexts


def test_repr_and_closed(img_model: pathlib.Path) -> None:
    sess = InferenceSession(img_model, provider_options=SIM)
    assert "slots=1" in repr(sess) and not sess.closed
    sess.close()
    sess.close()
    assert sess.closed and "closed" in repr(sess)
    assert sess.input_names == ["in_a", "in_b"]  # introspection stays available


@pytest.mark.parametrize("module", ["ztu_somemodelruntime_ez_rknn_async",
                                    "ztu_somemodelruntime_ez_rknn_async.session",
                                    "ztu_somemodelruntime_ez_rknn_async.tensors"])
def test_docstring_examples_run(module: str, sim_library: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_import_loads_no_native_library() -> None:
    import subprocess
    import sys

    code = ("import ztu_somemodelruntime_ez_rknn_async as ez, ctypes\n"
            "ez.get_available_providers(); ez.make_provider_options()\n"
            "maps = open('/proc/self/maps').read()\n"
            "assert 'librknnrt' not in maps, [l for l in maps.splitlines() if 'rknn' in l]\n")
    root = pathlib.Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(root))


def test_run_executes_inline_on_the_callers_thread(img_model: pathlib.Path) -> None:
    a = rng_input((1, 3, 4, 5), 0)
    with InferenceSession(img_model, provider_options=opts(schedule=[0, 1], threads_per_core=2)) as sess:
        for _ in range(3):
            sess.run(None, [a, a])
        st = sess.get_stats()
        assert st["inline_runs"] == 3 and st["submitted"] == 0  # no task went through the worker queue
        sess.run(None, [a, a], {"run_timeout_ms": 5000})  # a bounded run goes to a worker instead
        st = sess.get_stats()
        assert st["inline_runs"] == 3 and st["submitted"] == 1
