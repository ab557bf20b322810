"""The public introspection accessors of InferenceSession beyond ONNX Runtime's API.

``get_input_attrs``/``get_output_attrs`` (the runtime's raw ``TensorAttr``s), ``get_dynamic_input_shapes``
(the declared shape rows, in the layout ``run`` takes) and ``runtime`` (a frozen ``RuntimeInfo``): what the
``ez-rknn`` command and the board smoke test use instead of the session's internals.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import pathlib
from typing import Any, Dict

import numpy as np
import pytest

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession, RuntimeInfo, TensorAttr, simulator
from ztu_somemodelruntime_ez_rknn_async.tensors import RKNN_TENSOR_NCHW, RKNN_TENSOR_NHWC, format_name, type_name

TS = simulator.TensorSpec
SIM: Dict[str, Any] = {"runtime_library": "simulator"}

#: The methods and attributes of onnxruntime.InferenceSession (1.16 .. 1.22): ours must not reuse a name.
ORT_NAMES = {
    "run", "run_async", "run_with_ort_values", "run_with_ortvaluevector", "run_with_iobinding", "io_binding",
    "get_inputs", "get_outputs", "get_overridable_initializers", "get_modelmeta", "get_providers",
    "get_provider_options", "get_session_options", "set_providers", "disable_fallback", "enable_fallback",
    "end_profiling", "get_profiling_start_time_ns", "get_tuning_results", "set_tuning_results",
    "get_input_memory_infos", "get_output_memory_infos", "get_input_epdevices",
}
ACCESSORS = ("get_input_attrs", "get_output_attrs", "get_dynamic_input_shapes", "runtime")


@pytest.fixture()
def quant_model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model(
        [TS("img", (1, 3, 4, 5), "int8", scale=0.25, zero_point=-3), TS("vec", (2, 6), "float16")],
        [TS("out", (1, 3, 4, 5), "uint8", scale=0.5, zero_point=7), TS("flat", (1, 60), "float32")],
        latency_us=0)
    return path


def test_public_names_and_signatures() -> None:
    assert {"TensorAttr", "RuntimeInfo"} <= set(ez.__all__)
    assert ez.TensorAttr is TensorAttr and ez.RuntimeInfo is RuntimeInfo
    assert not set(ACCESSORS) & ORT_NAMES
    for name in ("get_input_attrs", "get_output_attrs", "get_dynamic_input_shapes"):
        assert list(inspect.signature(getattr(InferenceSession, name)).parameters) == ["self"], name
        assert getattr(InferenceSession, name).__doc__, name
    assert isinstance(InferenceSession.runtime, property) and InferenceSession.runtime.__doc__
    assert [f.name for f in dataclasses.fields(RuntimeInfo)] == [
        "library_path", "is_simulator", "api_version", "driver_version"]


def test_attrs_are_the_runtime_query(quant_model: pathlib.Path) -> None:
    with InferenceSession(quant_model, provider_options=SIM) as sess:
        ins, outs = sess.get_input_attrs(), sess.get_output_attrs()
        assert all(isinstance(a, TensorAttr) for a in ins + outs)
        assert [a.name for a in ins] == sess.input_names and [a.name for a in outs] == sess.output_names
        assert [a.index for a in ins] == [0, 1] and [a.index for a in outs] == [0, 1]
        img, vec = ins
        # As the runtime reports it (NHWC dims for a 4-D input), not as run() takes it (NCHW).
        assert img.dims == (1, 4, 5, 3) and img.fmt == RKNN_TENSOR_NHWC and format_name(img.fmt) == "NHWC"
        assert sess.get_inputs()[0].shape == [1, 3, 4, 5]
        assert type_name(img.type) == "int8" and img.qnt_type == 2 and img.scale == 0.25 and img.zp == -3
        assert img.n_elems == 60 and img.size == 60
        assert vec.dims == (2, 6) and type_name(vec.type) == "float16" and vec.qnt_type == 0
        out, flat = outs
        assert out.dims == (1, 3, 4, 5) and out.fmt == RKNN_TENSOR_NCHW
        assert type_name(out.type) == "uint8" and out.scale == 0.5 and out.zp == 7
        assert flat.dims == (1, 60) and type_name(flat.type) == "float32"
        # A new list each call; the attributes themselves are immutable.
        ins.clear()
        assert len(sess.get_input_attrs()) == 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            img.dims = (1,)  # type: ignore[misc]
    # Queried at construction: still there after close().
    assert sess.get_output_attrs() == outs


def test_attrs_follow_the_layout_option_only_in_get_inputs(quant_model: pathlib.Path) -> None:
    with InferenceSession(quant_model, provider_options=dict(SIM, layout="nhwc")) as sess:
        assert sess.get_inputs()[0].shape == [1, 4, 5, 3]
        assert sess.get_input_attrs()[0].dims == (1, 4, 5, 3)


def test_static_model_has_no_dynamic_shapes(quant_model: pathlib.Path) -> None:
    with InferenceSession(quant_model, provider_options=SIM) as sess:
        assert sess.get_dynamic_input_shapes() == [None, None]


IMG_ROWS = [(1, 3, 4, 4), (1, 3, 8, 6), (2, 3, 4, 4)]
VEC_ROWS = [(1, 5), (2, 5), (4, 5)]


@pytest.fixture()
def dynamic_model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model(
        [TS("img", IMG_ROWS[0], "float16", shapes=IMG_ROWS), TS("vec", VEC_ROWS[0], shapes=VEC_ROWS),
         TS("fixed", (2, 2), shapes=[(2, 2)] * 3)],
        [TS("out", IMG_ROWS[0], "float16", shapes=IMG_ROWS)], latency_us=0)
    return path


def test_dynamic_shapes_in_the_layout_run_takes(dynamic_model: pathlib.Path) -> None:
    with InferenceSession(dynamic_model, provider_options=SIM) as sess:
        shapes = sess.get_dynamic_input_shapes()
        assert shapes == [IMG_ROWS, VEC_ROWS, None]
        # None means one fixed shape: get_inputs() then gives it without symbolic axes.
        assert sess.get_inputs()[2].shape == [2, 2]
        assert sess.get_inputs()[0].shape == ["dim_0", 3, "dim_2", "dim_3"]
        # Row k of every listed input is one shape set the model accepts.
        img_rows, vec_rows = shapes[0], shapes[1]
        assert img_rows is not None and vec_rows is not None
        for k in range(len(IMG_ROWS)):
            feed = {"img": np.zeros(img_rows[k], np.float16), "vec": np.zeros(vec_rows[k], np.float32),
                    "fixed": np.zeros((2, 2), np.float32)}
            assert sess.run(None, feed)[0].shape == IMG_ROWS[k]
        shapes[0] = None
        assert sess.get_dynamic_input_shapes()[0] == IMG_ROWS  # a new list each call
    with InferenceSession(dynamic_model, provider_options=dict(SIM, layout="nhwc")) as sess:
        nhwc = [(n, h, w, c) for n, c, h, w in IMG_ROWS]
        assert sess.get_dynamic_input_shapes() == [nhwc, VEC_ROWS, None]


def test_runtime_info(quant_model: pathlib.Path, sim_library: str) -> None:
    sess = InferenceSession(quant_model, provider_options=SIM)
    try:
        info = sess.runtime
        assert isinstance(info, RuntimeInfo)
        assert info.is_simulator is True
        assert os.path.realpath(info.library_path) == os.path.realpath(sim_library)
        sdk = sess.get_sdk_version()
        assert info.api_version == sess.runtime_version == sdk["api_version"] and info.api_version
        assert info.driver_version == sdk["drv_version"] and info.driver_version
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.is_simulator = False  # type: ignore[misc]
        assert info == sess.runtime  # a value, equal on every call
    finally:
        sess.close()
    assert sess.runtime == info  # also after close()
