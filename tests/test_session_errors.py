"""Every user mistake and runtime failure gives a clear exception (and leaks nothing)."""
from __future__ import annotations

import pathlib
from typing import Any, List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

SIM = {"runtime_library": "simulator"}
INS = [TensorSpec("image", (1, 3, 4, 4), "int8", scale=0.05), TensorSpec("scale", (1, 2), "float32")]
OUTS = [TensorSpec("y", (1, 3, 4, 4), "float32")]


@pytest.fixture()
def model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model(INS, OUTS, latency_us=0)
    return path


@pytest.fixture()
def sess(model: pathlib.Path) -> Any:
    s = InferenceSession(model, provider_options=SIM)
    yield s
    s.close()


def good() -> dict:  # type: ignore[type-arg]
    return {"image": np.zeros((1, 3, 4, 4), np.float32), "scale": np.zeros((1, 2), np.float32)}


@pytest.mark.parametrize("feed, expect", [
    ({"image": np.zeros((1, 3, 4, 4), np.float32)}, r"Required inputs \(\['scale'\]\) are missing"),
    ({"image": np.zeros((1, 3, 4, 4), np.float32), "scale": np.zeros((1, 2), np.float32),
      "bias": np.zeros(1, np.float32)}, r"Unknown inputs: 'bias'"),
    ({"imgae": np.zeros((1, 3, 4, 4), np.float32), "scale": np.zeros((1, 2), np.float32)},
     r"'imgae' \(did you mean 'image'\?\)"),
    ([np.zeros((1, 3, 4, 4), np.float32)], r"Input list size mismatch: expected 2, got 1"),
    (np.zeros((1, 3, 4, 4), np.float32), r"Model expects 2 inputs, but a single array was given"),
    ({"image": np.zeros((1, 4, 4, 3), np.float32), "scale": np.zeros((1, 2), np.float32)},
     r"Input 'image' shape mismatch: expected \[1, 3, 4, 4\], got \[1, 4, 4, 3\]"),
    ({"image": np.zeros((1, 3, 4, 4)), "scale": np.zeros((1, 2), np.float32)},
     r"Input 'image' has dtype float64, which is not accepted; accepted dtypes: float32, float16, uint8, int8"),
    ({"image": np.zeros((1, 3, 4, 4), np.int32), "scale": np.zeros((1, 2), np.float32)}, r"dtype int32"),
    ({"image": np.zeros((1, 3, 4, 4), np.float32), "scale": [[0.5, 0.5]]}, r"'scale' has dtype float64"),
    ({"image": "abc", "scale": np.zeros((1, 2), np.float32)}, r"'image' has dtype <U3"),
    (None, r"input_feed must be"),
])
def test_bad_feeds(sess: Any, feed: Any, expect: str) -> None:
    for call in (lambda: sess.run(None, feed), lambda: sess.run_async(None, feed, lambda *a: None),
                 lambda: sess.submit(None, feed), lambda: sess.run_pipeline(feed)):
        with pytest.raises(ez.InvalidArgumentError, match=expect) as ei:
            call()
        assert isinstance(ei.value, ValueError) and isinstance(ei.value, RuntimeError)
    msg = str(ei.value)
    if "missing" in expect or "Unknown" in expect or "mean" in expect:
        assert "'image' [1, 3, 4, 4]" in msg and "'scale' [1, 2]" in msg  # names the expected inputs


def test_all_problems_in_one_error(sess: Any) -> None:
    with pytest.raises(ez.InvalidArgumentError) as ei:
        sess.run(None, {"image": np.zeros((2, 3, 4, 4), np.float32), "scale": np.zeros((1, 2), np.float64)})
    assert "2 problems" in str(ei.value) and "shape mismatch" in str(ei.value) and "float64" in str(ei.value)


def test_bad_output_names(sess: Any) -> None:
    with pytest.raises(ez.InvalidArgumentError, match=r"Unknown output name: 'z'\. The model's outputs are: 'y'"):
        sess.run(["z"], good())
    with pytest.raises(ez.InvalidArgumentError, match="did you mean"):
        sess.run("y", good())


def test_bad_callback_and_batch_flags(sess: Any) -> None:
    with pytest.raises(ez.InvalidArgumentError, match="callback must be callable"):
        sess.run_async(None, good(), None)
    with pytest.raises(ez.InvalidArgumentError, match="ztu_modelrt_dispatch_batch"):
        sess.run_async(None, good(), lambda *a: None, None, {"ztu_modelrt_dispatch_batch": True})
    with pytest.raises(ez.InvalidArgumentError, match="ztu_modelrt_dispatch_batch"):
        sess.submit(None, good(), {"ztu_modelrt_dispatch_batch": True})
    with pytest.raises(ez.InvalidOptionError):
        sess.run(None, good(), {"ztu_modelrt_dispatch_batch": "maybe"})
    with pytest.raises(ez.InvalidOptionError):
        sess.run(None, good(), {"no_such_key": 1})
    with pytest.raises(ez.InvalidArgumentError, match="depth must be > 0"):
        sess.run_pipeline(good(), depth=0)
    with pytest.raises(ez.InvalidArgumentError, match="max_in_flight"):
        sess.imap([good()], max_in_flight=0)


def test_batch_dispatch_errors(sess: Any, native_model: Any) -> None:
    feed = {"image": np.zeros((3, 3, 4, 4), np.float32), "scale": np.zeros((2, 2), np.float32)}
    with pytest.raises(ez.InvalidArgumentError, match="Batch size mismatch"):
        sess.run(None, feed, {"ztu_modelrt_dispatch_batch": True})
    path = native_model([TensorSpec("x", (2, 4))], [TensorSpec("y", (2, 4))], latency_us=0)
    with InferenceSession(path, provider_options=SIM) as s2:
        with pytest.raises(ez.InvalidArgumentError, match="batch dimension to be 1"):
            s2.run(None, [np.zeros((4, 4), np.float32)], {"ztu_modelrt_dispatch_batch": True})


def test_closed_session(model: pathlib.Path) -> None:
    s = InferenceSession(model, provider_options=SIM)
    s.close()
    for call in (lambda: s.run(None, good()), lambda: s.run_async(None, good(), lambda *a: None),
                 lambda: s.submit(None, good()), lambda: s.imap([good()]), lambda: s.run_pipeline(good()),
                 lambda: s.get_stats(), lambda: s.get_native_inputs()):
        with pytest.raises(ez.SessionClosedError):
            call()


@pytest.mark.parametrize("po, expect", [
    ({"layout": "nchwx"}, "layout"),
    ({"max_queue_size": 0}, "max_queue_size"),
    ({"threads_per_core": "two"}, "threads_per_core"),
    ({"schedule": [0], "tp_mode": "all"}, "conflicts"),
    ({"tp_mode": "0, 1"}, "tp_mode"),
    ({"no_such_option": 1}, "no_such_option"),
    ({"runtime_library": "relative/librknnrt.so"}, "absolute"),
])
def test_bad_options_checked_before_model(tmp_path: pathlib.Path, po: dict, expect: str) -> None:  # type: ignore[type-arg]
    # the model does not even exist: option errors win
    with pytest.raises(ez.InvalidOptionError, match=expect) as ei:
        InferenceSession(tmp_path / "missing.rknn", provider_options=dict(SIM, **po))
    assert isinstance(ei.value, ValueError)


def test_bad_providers_and_session_options(model: pathlib.Path) -> None:
    with pytest.raises(ez.InvalidOptionError, match="CUDAExecutionProvider"):
        InferenceSession(model, providers=["CUDAExecutionProvider"], provider_options=[SIM])
    with pytest.raises(ez.InvalidOptionError, match="sess_options"):
        InferenceSession(model, sess_options={"x": 1}, provider_options=SIM)


def test_model_source_errors(tmp_path: pathlib.Path, model: pathlib.Path, sim_library: str) -> None:
    with pytest.raises(FileNotFoundError, match="model file not found") as ei:
        InferenceSession(tmp_path / "nope.rknn", provider_options=SIM)
    assert "nope.rknn" in str(ei.value)
    with pytest.raises(IsADirectoryError, match="directory"):
        InferenceSession(tmp_path, provider_options=SIM)
    with pytest.raises(TypeError, match="path_or_bytes must be"):
        InferenceSession(12, provider_options=SIM)
    with pytest.raises(ez.InvalidArgumentError, match="empty"):
        InferenceSession(b"", provider_options=SIM)
    with pytest.raises(ez.RknnModelInvalidError, match=r"rknn_init failed for model <15 bytes>.*-6"):
        InferenceSession(b"this is no rknn", provider_options=SIM)
    corrupt = tmp_path / "corrupt.rknn"
    corrupt.write_bytes(b"RKNN" + bytes(range(256)) * 4)
    with pytest.raises(ez.RknnModelInvalidError, match="corrupt.rknn"):
        InferenceSession(corrupt, provider_options=SIM)
    truncated = tmp_path / "truncated.rknn"
    truncated.write_bytes(model.read_bytes()[:-10])
    with pytest.raises(ez.RknnModelInvalidError):
        InferenceSession(truncated, provider_options=SIM)
    with pytest.raises(ez.InvalidArgumentError, match="use_weight_from"):
        InferenceSession(model, provider_options=SIM, use_weight_from="master")  # type: ignore[arg-type]


def test_missing_library(model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "lib" / "librknnrt.so")
    with pytest.raises(ez.RuntimeLibraryNotFoundError) as ei:
        InferenceSession(model, provider_options={"runtime_library": missing})
    assert missing in str(ei.value) and isinstance(ei.value, OSError)


@pytest.mark.parametrize("func", ["rknn_inputs_set", "rknn_run", "rknn_outputs_get"])
def test_runtime_failures_surface_and_session_recovers(sess: Any, sim: Any, func: str) -> None:
    sim.inject_fault(func, nth=1, code=-1)
    with pytest.raises(ez.RknnError, match=func + r" failed: RKNN_ERR_FAIL \(-1\)"):
        sess.run(None, good())
    assert sess.run(None, good())[0].shape == (1, 3, 4, 4)
    sim.inject_fault(func, nth=1, code=-8)
    results: List[Any] = []
    sess.run_async(None, good(), lambda r, u, e: results.append((r, u, e)), "ud")
    sess.run_async(None, good(), lambda r, u, e: results.append((r, u, e)), "ud2")
    fut = sess.submit(None, good())
    fut.result()
    assert results[0][0] == [] and results[0][1] == "ud"
    assert results[0][2].startswith(func + " failed: RKNN_ERR_INPUT_INVALID (-8)")
    assert results[1][2] == "" and len(results[1][0]) == 1


def test_failed_outputs_get_still_releases(sess: Any, sim: Any) -> None:
    before = sim.counter("calls:rknn_outputs_release")
    sim.inject_fault("rknn_outputs_get", nth=1, code=-9)
    with pytest.raises(ez.RknnError, match="RKNN_ERR_OUTPUT_INVALID"):
        sess.run(None, good())
    assert sim.counter("calls:rknn_outputs_release") == before + 1


@pytest.mark.parametrize("func, nth, po", [
    ("rknn_dup_context", 2, {"threads_per_core": 3}),
    ("rknn_set_core_mask", 2, {"schedule": [0, 1, 2]}),
    ("rknn_init", 3, {"threads_per_core": 3, "disable_dup_context": True}),
    ("rknn_query", 2, {}),
])
def test_construction_failure_cleans_up(model: pathlib.Path, sim: Any, func: str, nth: int, po: dict) -> None:  # type: ignore[type-arg]
    sim.inject_fault(func, nth=nth, code=-4)
    if func == "rknn_dup_context":
        # a refused dup falls back to rknn_init for the remaining workers
        with InferenceSession(model, provider_options=dict(SIM, **po)) as s:
            assert [x["created_by"] for x in s.get_stats()["slots"]] == ["dup", "init", "init"]
            assert s.run(None, good())[0].shape == (1, 3, 4, 4)
        return
    with pytest.raises(ez.RknnMallocError):
        InferenceSession(model, provider_options=dict(SIM, **po))
    # the autouse leak check asserts every context created before the failure was destroyed


_dtypes = st.sampled_from([np.float32, np.float16, np.uint8, np.int8, np.float64, np.int64, np.bool_])


@settings(max_examples=60)
@given(
    keys=st.lists(st.sampled_from(["image", "scale", "img", ""]), max_size=3, unique=True),
    shapes=st.lists(st.lists(st.integers(0, 4), max_size=5), min_size=3, max_size=3),
    dtypes=st.lists(_dtypes, min_size=3, max_size=3),
    layout=st.sampled_from(["nchw", "nchw_software", "nhwc", "any"]),
    strided=st.booleans(),
    mode=st.sampled_from(["run", "async", "submit"]),
)
def test_random_feeds_never_crash(model: pathlib.Path, keys: List[str], shapes: List[List[int]],
                                  dtypes: List[Any], layout: str, strided: bool, mode: str) -> None:
    arrays = []
    for shape, dt in zip(shapes, dtypes):
        a = np.ones([d * 2 if strided else d for d in shape], dt)
        if strided and a.ndim:
            a = a[(slice(None, None, 2),) * a.ndim]
        arrays.append(a)
    feed = dict(zip(keys, arrays))
    with InferenceSession(model, provider_options=dict(SIM, layout=layout)) as s:
        try:
            if mode == "run":
                out = s.run(None, feed)
            elif mode == "submit":
                out = s.submit(None, feed).result(timeout=30)
            else:
                box: List[Any] = []
                s.run_async(None, feed, lambda r, u, e: box.append((r, e)))
                s.close()
                assert len(box) == 1 and box[0][1] == ""
                out = box[0][0]
        except ez.InvalidArgumentError as exc:
            assert "expect" in str(exc) or "accepted" in str(exc) or "must be" in str(exc)
            return
    assert out[0].shape == (1, 3, 4, 4) and np.isfinite(out[0]).all()


def test_weight_sharing_with_custom_ops_is_refused(model: pathlib.Path) -> None:
    with InferenceSession(model, provider_options=SIM) as master:
        with pytest.raises(ez.InvalidOptionError, match="use_weight_from cannot be combined with custom-op"):
            InferenceSession(model, provider_options=dict(SIM, custom_op_paths=["/nonexistent/librkcst_x.so"]),
                             use_weight_from=master)
        master.close()
        with pytest.raises(ez.InvalidArgumentError, match="open InferenceSession"):
            InferenceSession(model, provider_options=SIM, use_weight_from=master)
