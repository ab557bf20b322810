"""Zero copy on the simulator: OrtValue / IOBinding / ZeroCopyEngine, layouts, validation, memory lifetime.

Most tests drive :class:`ZeroCopyEngine` directly with a context factory over ``RknnContext.init`` (the
session builds the same engine with its own factory). Session-level tests at the end use
``session.io_binding()`` / ``run_with_iobinding``.

The autouse leak check of ``conftest.py`` also verifies, for every test here, that ``live_mems`` and
``live_contexts`` return to their start values and that the simulator recorded no violation.
"""
from __future__ import annotations

import dataclasses
import gc
import itertools
import mmap
import os
import pathlib
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ztu_somemodelruntime_ez_rknn_async import simulator
from ztu_somemodelruntime_ez_rknn_async._context import RknnContext, TensorAttr
from ztu_somemodelruntime_ez_rknn_async._layouts import layout_for, quantize, read_logical, write_logical
from ztu_somemodelruntime_ez_rknn_async._library import load_runtime
from ztu_somemodelruntime_ez_rknn_async.errors import (
    InvalidArgumentError,
    InvalidOptionError,
    RknnError,
    RknnMallocError,
    SessionClosedError,
)
from ztu_somemodelruntime_ez_rknn_async.zero_copy import IOBinding, OrtValue, SessionIOBinding, ZeroCopyEngine

TS = simulator.TensorSpec
NHWC, NCHW, NC1HWC2, UNDEFINED = 1, 0, 2, 3

# x: an NHWC-reported float16 image, y: a 2-D float32 tensor; z = x + y[i mod 12], w = z + 1.
IMG_IN = [TS("x", (1, 3, 4, 5), "float16"), TS("y", (2, 6))]
IMG_OUT = [TS("z", (1, 3, 4, 5), "float16"), TS("w", (2, 6))]

EngineFactory = Callable[..., ZeroCopyEngine]


@pytest.fixture()
def make_engine(sim: Any) -> Iterator[EngineFactory]:
    """``make_engine(model_path, **engine_kwargs)``; every engine is closed at the end of the test."""
    lib = load_runtime("simulator")
    engines: List[ZeroCopyEngine] = []

    def make(path: pathlib.Path, **kwargs: Any) -> ZeroCopyEngine:
        engine = ZeroCopyEngine(lambda: RknnContext.init(lib, str(path)), name=str(path), **kwargs)
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.close()


def _write(tmp_path: pathlib.Path, inputs: Sequence[Any], outputs: Sequence[Any], name: str = "m.rknn",
           **kwargs: Any) -> pathlib.Path:
    kwargs.setdefault("latency_us", 0)
    return simulator.write_model(tmp_path / name, inputs, outputs, **kwargs)


def _feeds(seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (1, 3, 4, 5)).astype(np.float16)
    y = rng.uniform(-4, 4, (2, 6)).astype(np.float32)
    return x, y


def _raw(address: int, dtype: Any, count: int) -> np.ndarray:
    """A copy of ``count`` elements at ``address`` (the bytes of a bound buffer, as the NPU sees them)."""
    import ctypes

    dt = np.dtype(dtype)
    return np.frombuffer(bytes((ctypes.c_ubyte * (count * dt.itemsize)).from_address(address)), dtype=dt).copy()


def _bound(engine: ZeroCopyEngine, feeds: Dict[str, np.ndarray]) -> IOBinding:
    binding = IOBinding(engine)
    for name, arr in feeds.items():
        binding.bind_ortvalue_input(name, OrtValue.ortvalue_from_numpy(arr, "rknpu2", session=engine, name=name,
                                                                       io_kind="input"))
    for port in engine.output_ports:
        binding.bind_output(port.name, "rknpu2")
    return binding


def _run_calls(sim: Any, engine: ZeroCopyEngine, binding: IOBinding) -> Tuple[int, int]:
    """Run once; the (rknn_set_io_mem, rknn_mem_sync) calls the run made."""
    before = sim.counter("calls:rknn_set_io_mem"), sim.counter("calls:rknn_mem_sync")
    engine.run(binding)
    return sim.counter("calls:rknn_set_io_mem") - before[0], sim.counter("calls:rknn_mem_sync") - before[1]


# ------------------------------------------------------------------------------------------ basic runs


def test_write_inputs_once_run_many_times(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, IMG_IN, IMG_OUT)
    engine = make_engine(path)
    x, y = _feeds()
    binding = _bound(engine, {"x": x, "y": y})
    expected = simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])
    before = sim.counters()
    runs = []
    for _ in range(5):
        runs.append(_run_calls(sim, engine, binding))
        z, w = binding.copy_outputs_to_cpu()
        assert z.dtype == np.float16 and z.shape == (1, 3, 4, 5) and w.dtype == np.float32
        np.testing.assert_array_equal(z.astype(np.float32), expected[0])
        np.testing.assert_array_equal(w, expected[1])
    after = sim.counters()
    assert after["calls:rknn_inputs_set"] == before["calls:rknn_inputs_set"]
    assert after["calls:rknn_outputs_get"] == before["calls:rknn_outputs_get"]
    assert after["calls:rknn_run"] == before["calls:rknn_run"] + 5
    # The first run binds the 4 tensors; the inputs were synced when written (ortvalue_from_numpy), so no run
    # syncs them, and later runs with unchanged bindings call neither rknn_set_io_mem nor rknn_mem_sync.
    assert runs == [(4, 0)] + [(0, 0)] * 4


def test_results_equal_the_copy_path(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _write(tmp_path, IMG_IN, IMG_OUT)
    x, y = _feeds(3)
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        copy = sess.run(None, {"x": x, "y": y})
    engine = make_engine(path)
    binding = _bound(engine, {"x": x, "y": y})
    engine.run(binding)
    zc = binding.copy_outputs_to_cpu()
    for a, b in zip(zc, copy):
        np.testing.assert_array_equal(a.astype(np.float32), b)


def test_update_inplace_between_runs(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, IMG_IN, IMG_OUT)
    engine = make_engine(path)
    x, y = _feeds()
    binding = _bound(engine, {"x": x, "y": y})
    xv = binding._inputs["x"]
    for k in range(3):
        xk = (x + k).astype(np.float16)
        xv.update_inplace(xk)
        engine.run(binding)
        expected = simulator.expected_outputs(IMG_IN, IMG_OUT, [xk, y])
        np.testing.assert_array_equal(binding.get_outputs()[0].numpy().astype(np.float32), expected[0])


def test_bind_cpu_input_and_generic_output(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    ins, outs = [TS("a", (3, 7), "float32")], [TS("b", (3, 7), "float32")]
    engine = make_engine(_write(tmp_path, ins, outs))
    a = np.arange(21, dtype=np.float32).reshape(3, 7)
    binding = IOBinding(engine)
    binding.bind_cpu_input("a", a)
    out = OrtValue.ortvalue_from_shape_and_type((3, 7), np.float32, "rknpu2")
    assert out.memory_info()["import_count"] == 0 and out.memory_info()["dmabuf_backed"]
    binding.bind_ortvalue_output("b", out)
    engine.run(binding)
    np.testing.assert_array_equal(out.numpy(), a)
    assert out.memory_info()["import_count"] == 1  # imported into the engine's context when first bound


def test_session_layout_nhwc_keeps_nhwc_inputs(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, IMG_IN, IMG_OUT)
    engine = make_engine(path, layout="nhwc")
    x, y = _feeds(5)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    assert engine.port("input", "x").shape == (1, 4, 5, 3)
    binding = _bound(engine, {"x": x_nhwc, "y": y})
    xv = binding._inputs["x"]
    assert xv.shape() == [1, 4, 5, 3] and xv.memory_info()["fmt"] == NHWC
    np.testing.assert_array_equal(xv.numpy(), x_nhwc)
    engine.run(binding)
    expected = simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])
    np.testing.assert_array_equal(binding.get_outputs()[0].numpy().astype(np.float32), expected[0])


# ------------------------------------------------------------------------------------------ native layouts


@pytest.mark.parametrize("channels,dtype,scale", [(3, "float16", None), (8, "float16", None), (20, "float16", None),
                                                  (20, "int8", 0.25), (5, "float32", None)])
def test_nc1hwc2_outputs_read_back_in_logical_order(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path,
                                                    channels: int, dtype: str, scale: Optional[float]) -> None:
    shape = (2, channels, 3, 4)
    ins = [TS("x", shape, "float32")]
    outs = [TS("z", shape, dtype, scale=scale)]
    engine = make_engine(_write(tmp_path, ins, outs), zero_copy_layout="native")
    z_port = engine.port("output", "z")
    assert z_port.native.fmt == NC1HWC2 and z_port.layout.kind == "nc1hwc2"
    x = np.random.default_rng(channels).uniform(-8, 8, shape).astype(np.float32)
    binding = _bound(engine, {"x": x})
    engine.run(binding)
    z = binding.get_outputs()[0]
    assert z.memory_info()["fmt"] == NC1HWC2
    expected = simulator.expected_outputs(ins, outs, [x])[0]
    got = z.numpy()
    assert got.shape == shape and got.dtype == np.dtype(dtype)
    if scale is not None:  # zero-copy outputs are the raw quantised values
        raw = quantize(expected, np.dtype(dtype), 2, scale, 0)
        assert raw is not None
        np.testing.assert_array_equal(got, raw)
    else:
        np.testing.assert_array_equal(got.astype(np.float32), expected)
    # The buffer really is N, C1, H, W, C2 (a memcpy into NCHW, the peer's bug, would not pass above).
    n, c1, h, w, c2 = z_port.native.dims
    raw_buf = _raw(z.data_ptr(), dtype, n * c1 * h * w * c2).reshape(n, c1, h, w, c2)
    for c in (0, channels - 1, channels // 2):
        np.testing.assert_array_equal(raw_buf[:, c // c2, :, :, c % c2], got[:, c])
    if c1 * c2 > channels:
        assert not raw_buf[:, -1, :, :, channels % c2 or c2:].any()  # padding channels are zero


def test_default_mode_binds_nhwc_native_outputs(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    shape = (1, 8, 4, 4)
    path = _write(tmp_path, [TS("x", shape, "float16")], [TS("z", shape, "float16")])
    engine = make_engine(path)
    binding = IOBinding(engine)
    binding.bind_output("z", "rknpu2")
    assert binding.get_outputs()[0].memory_info()["fmt"] == NHWC
    native = make_engine(path, zero_copy_layout="native")
    nb = IOBinding(native)
    nb.bind_output("z", "rknpu2")
    assert nb.get_outputs()[0].memory_info()["fmt"] == NC1HWC2


@pytest.fixture()
def padded_strides(monkeypatch: pytest.MonkeyPatch) -> int:
    """NHWC native attributes with 3 pixels of row padding (w_stride = W + 3), as some runtimes report."""
    pad = 3

    def padded(original: Callable[[RknnContext, int], TensorAttr]) -> Callable[[RknnContext, int], TensorAttr]:
        def query(self: RknnContext, index: int) -> TensorAttr:
            a = original(self, index)
            if a.n_dims != 4 or a.fmt != NHWC:
                return a
            n, h, w, c = a.dims
            es = a.size // max(a.n_elems, 1)
            return dataclasses.replace(a, w_stride=w + pad, size_with_stride=n * h * (w + pad) * c * es)
        return query

    monkeypatch.setattr(RknnContext, "native_nhwc_input_attr", padded(RknnContext.native_nhwc_input_attr))
    monkeypatch.setattr(RknnContext, "native_nhwc_output_attr", padded(RknnContext.native_nhwc_output_attr))
    return pad


def test_w_stride_padding_round_trip(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path,
                                     padded_strides: int) -> None:
    path = _write(tmp_path, IMG_IN, IMG_OUT)
    engine = make_engine(path)
    x, y = _feeds(7)
    binding = _bound(engine, {"x": x, "y": y})
    xv = binding._inputs["x"]
    info = xv.memory_info()
    assert info["w_stride"] == 5 + padded_strides and info["size_with_stride"] == 4 * 8 * 3 * 2
    raw = _raw(xv.data_ptr(), np.float16, 4 * 8 * 3).reshape(1, 4, 8, 3)
    np.testing.assert_array_equal(raw[:, :, :5, :], x.transpose(0, 2, 3, 1))
    assert not raw[:, :, 5:, :].any()  # padding zeroed
    np.testing.assert_array_equal(xv.numpy(), x)
    engine.run(binding)
    expected = simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])
    zv = binding.get_outputs()[0]
    assert zv.memory_info()["w_stride"] == 5 + padded_strides
    np.testing.assert_array_equal(zv.numpy().astype(np.float32), expected[0])


def _attr(dims: Sequence[int], fmt: int, rknn_type: int = 1, w_stride: int = 0, h_stride: int = 0) -> TensorAttr:
    n = int(np.prod(dims))
    es = {0: 4, 1: 2, 2: 1}[rknn_type]
    return TensorAttr(index=0, name="t", n_dims=len(dims), dims=tuple(dims), n_elems=n, size=n * es, fmt=fmt,
                      type=rknn_type, qnt_type=0, fl=0, zp=0, scale=1.0, w_stride=w_stride,
                      size_with_stride=0, pass_through=0, h_stride=h_stride)


@pytest.mark.parametrize("n,c,h,w,c2,ws", [(1, 3, 2, 5, 8, 5), (2, 20, 3, 4, 8, 6), (1, 16, 1, 1, 16, 1),
                                           (3, 1, 2, 2, 4, 3)])
def test_nc1hwc2_layout_matches_the_index_formula(n: int, c: int, h: int, w: int, c2: int, ws: int) -> None:
    c1 = -(-c // c2)
    attr = _attr((n, c1, h, w, c2), NC1HWC2, w_stride=ws)
    for nhwc in (False, True):
        shape = (n, h, w, c) if nhwc else (n, c, h, w)
        layout = layout_for(shape, nhwc, attr)
        assert layout.kind == "nc1hwc2" and layout.nbytes == n * c1 * h * ws * c2 * 2
        arr = np.random.default_rng(c).uniform(-1, 1, shape).astype(np.float16)
        buf = np.full(layout.nbytes, 0xAB, np.uint8)
        write_logical(layout, buf, arr)
        blocks = buf.view(np.float16).reshape(n, c1, h, ws, c2)
        nchw = arr.transpose(0, 3, 1, 2) if nhwc else arr
        for idx in itertools.product(range(n), range(c), range(h), range(w)):
            b, ch, y, x = idx
            assert blocks[b, ch // c2, y, x, ch % c2] == nchw[idx]
        assert not blocks[:, :, :, w:, :].any()  # stride padding zeroed
        flat = blocks.transpose(0, 1, 4, 2, 3).reshape(n, c1 * c2, h, ws)
        assert not flat[:, c:].any()  # channel padding zeroed
        np.testing.assert_array_equal(read_logical(layout, buf), arr)


@pytest.mark.parametrize("ws,hs", [(0, 0), (7, 0), (5, 6), (9, 8)])
def test_nhwc_layout_with_w_and_h_stride(ws: int, hs: int) -> None:
    n, c, h, w = 2, 3, 4, 5
    attr = _attr((n, h, w, c), NHWC, w_stride=ws, h_stride=hs)
    layout = layout_for((n, c, h, w), False, attr)
    W, H = max(ws, w), max(hs, h)
    assert (layout.kind, layout.w_stride, layout.h_stride) == ("nhwc", W, H)
    arr = np.arange(n * c * h * w, dtype=np.float16).reshape(n, c, h, w)
    buf = np.full(layout.nbytes, 0xCD, np.uint8)
    write_logical(layout, buf, arr)
    img = buf.view(np.float16).reshape(n, H, W, c)
    np.testing.assert_array_equal(img[:, :h, :w], arr.transpose(0, 2, 3, 1))
    assert not img[:, h:].any() and not img[:, :, w:].any()
    np.testing.assert_array_equal(read_logical(layout, buf), arr)


def test_layout_refuses_an_attribute_that_cannot_hold_the_shape() -> None:
    with pytest.raises(InvalidArgumentError, match="cannot hold a logical tensor of shape"):
        layout_for((1, 3, 4, 5), False, _attr((1, 4, 4, 3), NHWC))
    assert layout_for((2, 6), False, _attr((12,), UNDEFINED)).kind == "dense"
    assert layout_for((1, 4, 5, 3), True, _attr((1, 3, 4, 5), NCHW)).kind == "nchw"


# ------------------------------------------------------------------------------------------ quantisation


def test_float_array_for_int8_input_is_quantised(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    ins = [TS("q", (1, 2, 3, 4), "int8", scale=0.1, zero_point=-3)]
    outs = [TS("o", (1, 2, 3, 4), "float32")]
    path = _write(tmp_path, ins, outs)
    x = np.linspace(-20, 20, 24, dtype=np.float32).reshape(1, 2, 3, 4)  # saturates at both ends
    engine = make_engine(path)
    value = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=engine, name="q", io_kind="input")
    expected_q = np.clip(np.rint(x / np.float32(0.1)) - 3, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(value.numpy(), expected_q)  # quantised, not x.astype(int8)
    assert not np.array_equal(value.numpy(), x.astype(np.int8))
    binding = IOBinding(engine)
    binding.bind_ortvalue_input("q", value)
    binding.bind_output("o", "rknpu2")
    engine.run(binding)
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        [copy] = sess.run(None, {"q": x})
    np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], copy)
    np.testing.assert_array_equal(copy, simulator.expected_outputs(ins, outs, [x])[0])


def test_dtype_conversions_are_value_preserving(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    ins = [TS("a", (4,), "int32"), TS("f", (4,), "float16")]
    engine = make_engine(_write(tmp_path, ins, [TS("o", (4,), "float32")]))
    with pytest.raises(InvalidArgumentError, match="cannot convert float32 to int32 .*not quantised"):
        OrtValue.ortvalue_from_numpy(np.ones(4, np.float32), "rknpu2", session=engine, name="a", io_kind="input")
    v = OrtValue.ortvalue_from_numpy(np.arange(4, dtype=np.int16), "rknpu2", session=engine, name="a",
                                     io_kind="input")
    np.testing.assert_array_equal(v.numpy(), np.arange(4, dtype=np.int32))
    f = OrtValue.ortvalue_from_numpy(np.array([0.5, 1, 2, 3]), "rknpu2", session=engine, name="f", io_kind="input")
    assert f.numpy().dtype == np.float16 and f.element_type() == "tensor(float16)"
    assert f.data_type() == "tensor(float16)"


def test_quantize_rules() -> None:
    x = np.array([-1.0, 0.04, 0.05, 0.06, np.nan, 1e9], np.float32)
    q = quantize(x, np.dtype(np.int8), 2, 0.1, 0)
    assert q is not None and q.tolist() == [-10, 0, 0, 1, 0, 127]
    d = quantize(np.array([0.5, -0.25], np.float32), np.dtype(np.int16), 1, 1.0, 0, fl=4)
    assert d is not None and d.tolist() == [8, -4]
    assert quantize(x, np.dtype(np.int8), 0, 1.0, 0) is None  # not quantised
    assert quantize(np.arange(3), np.dtype(np.int8), 2, 0.1, 0) is None  # not a float source


# ------------------------------------------------------------------------------------------ validation messages


@pytest.fixture()
def img_engine(make_engine: EngineFactory, tmp_path: pathlib.Path) -> ZeroCopyEngine:
    return make_engine(_write(tmp_path, IMG_IN, IMG_OUT))


def test_factory_argument_errors(img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, _ = _feeds()
    with pytest.raises(TypeError, match="numpy.ndarray"):
        OrtValue.ortvalue_from_numpy([1, 2], "rknpu2", session=e, name="x", io_kind="input")
    with pytest.raises(InvalidArgumentError, match="device_type must be 'cpu' or 'rknpu2'"):
        OrtValue.ortvalue_from_numpy(x, "gpu")
    with pytest.raises(InvalidArgumentError, match="device_type must be 'cpu' or 'rknpu2'"):
        OrtValue.ortvalue_from_numpy(x, "RKNPU2")  # case-sensitive like the peer
    with pytest.raises(TypeError, match="device_type must be a str"):
        OrtValue.ortvalue_from_numpy(x, 3)  # type: ignore[arg-type]
    for kwargs in ({}, {"session": e}, {"session": e, "name": "x"}, {"name": "x", "io_kind": "input"}):
        with pytest.raises(InvalidArgumentError, match="session, name, and io_kind are required for RKNN OrtValue"):
            OrtValue.ortvalue_from_numpy(x, "rknpu2", **kwargs)
    with pytest.raises(InvalidArgumentError, match="io_kind must be 'input' or 'output'"):
        OrtValue.ortvalue_from_numpy(x, "rknpu2", session=e, name="x", io_kind="in")
    with pytest.raises(InvalidArgumentError, match="Unknown input name: nope"):
        OrtValue.ortvalue_from_numpy(x, "rknpu2", session=e, name="nope", io_kind="input")
    with pytest.raises(InvalidArgumentError, match="Unknown output name: x"):
        OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 5), np.float16, "rknpu2", session=e, name="x",
                                              io_kind="output")
    with pytest.raises(InvalidArgumentError, match=r"OrtValue for input 'x' shape mismatch: expected \[1, 3, 4, 5\], "
                                                   r"got \[1, 4, 5, 3\]"):
        OrtValue.ortvalue_from_numpy(x.transpose(0, 2, 3, 1).copy(), "rknpu2", session=e, name="x", io_kind="input")
    with pytest.raises(InvalidArgumentError, match=r"OrtValue for input 'x' shape mismatch: expected \[1, 3, 4, 5\], "
                                                   r"got \[1, 3, 4, 6\]"):
        OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 6), np.float16, "rknpu2", session=e, name="x",
                                              io_kind="input")
    with pytest.raises(InvalidArgumentError, match="OrtValue for input 'x' element type mismatch: expected float16, "
                                                   "got float32"):
        OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 5), np.float32, "rknpu2", session=e, name="x",
                                              io_kind="input")
    with pytest.raises(TypeError, match="session must be an InferenceSession, got object"):
        OrtValue.ortvalue_from_numpy(x, "rknpu2", session=object(), name="x", io_kind="input")


@pytest.mark.parametrize("shape,message", [(5, "shape must be a sequence of integers"),
                                           ("123", "shape must be a sequence of integers"),
                                           ([1.5, 2], "shape dim must be an integer"),
                                           ([1, "x"], "shape dim must be an integer"),
                                           ([True], "shape dim must be an integer"),
                                           ([2, -1], "shape dims must be >= 0")])
def test_shape_parsing_errors(shape: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cpu")


def test_shape_and_element_type_parsing() -> None:
    v = OrtValue.ortvalue_from_shape_and_type(["2", np.int64(3)], "float16")
    assert v.shape() == [2, 3] and v.numpy().dtype == np.float16 and not v.numpy().any()
    for bad in (None, np.float64, "complex64", object):
        with pytest.raises(InvalidArgumentError, match="Unsupported numpy dtype for RKNN input"):
            OrtValue.ortvalue_from_shape_and_type((2,), bad, "rknpu2")
    with pytest.raises(InvalidOptionError, match="mem_flags must be one of"):
        OrtValue.ortvalue_from_shape_and_type((2,), np.float32, "rknpu2", mem_flags="fast")


def test_binding_errors(img_engine: ZeroCopyEngine, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    e = img_engine
    b = IOBinding(e)
    generic = OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 5), np.float16, "rknpu2")
    with pytest.raises(InvalidArgumentError) as info:
        b.bind_ortvalue_input("x", generic)
    text = str(info.value)
    assert "OrtValue for input 'x' native zero-copy layout mismatch: " in text
    assert "dims expected [1, 4, 5, 3], got [1, 3, 4, 5]" in text and "fmt expected 1, got 0" in text
    assert "Create the OrtValue with this consumer session/name/io_kind" in text
    with pytest.raises(InvalidArgumentError, match="bind_ortvalue_input requires an RKNN OrtValue"):
        b.bind_ortvalue_input("x", OrtValue.ortvalue_from_numpy(np.zeros((1, 3, 4, 5), np.float16)))
    with pytest.raises(InvalidArgumentError, match="bind_ortvalue_output requires an RKNN OrtValue"):
        b.bind_ortvalue_output("z", OrtValue.ortvalue_from_numpy(np.zeros((1, 3, 4, 5), np.float16)))
    wrong = OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 6), np.float16, "rknpu2")
    with pytest.raises(InvalidArgumentError, match="OrtValue for output 'z' shape mismatch"):
        b.bind_ortvalue_output("z", wrong)
    with pytest.raises(InvalidArgumentError, match="OrtValue for output 'z' element type mismatch: expected float16, "
                                                   "got float32"):
        b.bind_ortvalue_output("z", OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 5), np.float32, "rknpu2"))
    with pytest.raises(InvalidArgumentError, match="OrtValue for output 'z' shape mismatch"):
        b.bind_output("z", "rknpu2", shape=(1, 3, 4, 6))
    with pytest.raises(InvalidArgumentError, match="OrtValue for output 'z' element type mismatch"):
        b.bind_output("z", "rknpu2", element_type=np.float32)
    with pytest.raises(NotImplementedError, match="bind_output with raw buffer_ptr is not implemented"):
        b.bind_output("z", "rknpu2", buffer_ptr=1234)
    with pytest.raises(NotImplementedError, match="bind_input with raw buffer_ptr is not supported .* dma-buf fd"):
        b.bind_input("x", "rknpu2", 0, np.float16, (1, 3, 4, 5), 1234)
    with pytest.raises(TypeError):
        b.bind_cpu_input("x", [1, 2, 3])
    with pytest.raises(InvalidArgumentError, match="update_inplace source element type mismatch: expected float16, "
                                                   "got float32"):
        b.bind_cpu_input("x", np.zeros((1, 3, 4, 5), np.float32))  # strict dtype, unlike ortvalue_from_numpy
    # A generic buffer too small for the NC1HWC2 output of native mode.
    native = make_engine(_write(tmp_path, IMG_IN, IMG_OUT, name="n.rknn"), zero_copy_layout="native")
    with pytest.raises(InvalidArgumentError, match=r"OrtValue buffer is too small for bound tensor: required 320 bytes, "
                                                   r"got 120 bytes \(n_dims=5, fmt=2, size=320, size_with_stride=320\)"):
        IOBinding(native).bind_ortvalue_output("z", generic)


def test_run_errors(img_engine: ZeroCopyEngine, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    e = img_engine
    x, y = _feeds()
    b = IOBinding(e)
    with pytest.raises(InvalidArgumentError, match=r"All model inputs must be bound before run_with_iobinding "
                                                   r"\(missing: x, y\)"):
        e.run(b)
    b.bind_cpu_input("x", x)
    b.bind_cpu_input("y", y)
    b.bind_output("w", "rknpu2")
    with pytest.raises(InvalidArgumentError, match=r"All model outputs must be bound before run_with_iobinding "
                                                   r"\(missing: z\)"):
        e.run(b)
    other = make_engine(_write(tmp_path, IMG_IN, IMG_OUT, name="other.rknn"))
    with pytest.raises(InvalidArgumentError, match="IOBinding belongs to a different session"):
        other.run(b)
    b.clear_binding_inputs()
    with pytest.raises(InvalidArgumentError, match="All model inputs must be bound"):
        e.run(b)


def test_update_inplace_errors(img_engine: ZeroCopyEngine) -> None:
    v = OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 5), np.float16, "rknpu2", session=img_engine, name="x",
                                              io_kind="input")
    with pytest.raises(TypeError):
        v.update_inplace([1.0])
    with pytest.raises(InvalidArgumentError, match=r"update_inplace source shape mismatch: expected \[1, 3, 4, 5\], "
                                                   r"got \[3, 4, 5\]"):
        v.update_inplace(np.zeros((3, 4, 5), np.float16))
    with pytest.raises(InvalidArgumentError, match="update_inplace source element type mismatch: expected float16, "
                                                   "got float64"):
        v.update_inplace(np.zeros((1, 3, 4, 5)))
    cpu = OrtValue.ortvalue_from_numpy(np.zeros((2, 2), np.float32))
    with pytest.raises(InvalidArgumentError, match=r"update_inplace source shape mismatch: expected \[2, 2\], "
                                                   r"got \[4\]"):
        cpu.update_inplace(np.zeros(4, np.float32))
    with pytest.raises(InvalidArgumentError, match="update_inplace source element type mismatch"):
        cpu.update_inplace(np.zeros((2, 2), np.float64))


def test_cpu_values_wrap_the_array() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    v = OrtValue.ortvalue_from_numpy(a)
    assert v.numpy() is a and v.data_ptr() == a.ctypes.data
    v.update_inplace(np.ones((2, 3), np.float32))
    assert (a == 1).all()  # shared with the caller, as in ORT and the peer
    assert (v.device_name(), v.device_type(), v.device_id(), v.is_tensor(), v.has_value()) == ("cpu", "cpu", 0,
                                                                                             True, True)
    assert v.memory_info() == {"device_type": "cpu", "device_id": 0}
    assert v.element_type() == "tensor(float)" and v.shape() == [2, 3]
    assert v.data_type() == "tensor(float)"
    v.sync_to_device()
    v.sync_from_device()
    strided = np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2]
    assert OrtValue.ortvalue_from_numpy(strided).numpy().flags["C_CONTIGUOUS"]


def test_rknn_value_introspection(sim: Any, img_engine: ZeroCopyEngine) -> None:
    x, _ = _feeds()
    v = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=img_engine, name="x", io_kind="input")
    info = v.memory_info()
    assert info["device_type"] == "rknpu2" and info["device_id"] == 0 and info["dmabuf_backed"]
    assert info["size"] >= 120 and info["offset"] == 0 and info["import_count"] == 1 and info["fd"] >= 0
    assert info["fmt"] == NHWC and info["pass_through"] is False and info["attr_size"] == 120
    assert v.data_ptr() == info["virt_addr"] + info["offset"]
    assert (v.device_name(), v.element_type(), v.shape(), v.has_value()) == ("rknpu2", "tensor(float16)",
                                                                             [1, 3, 4, 5], True)
    assert "rknpu2" in repr(v) and repr(IOBinding(img_engine)).startswith("<IOBinding")
    assert SessionIOBinding is IOBinding


def test_outputs_keep_first_bind_order(img_engine: ZeroCopyEngine) -> None:
    b = IOBinding(img_engine)
    b.bind_output("w", "rknpu2")
    b.bind_output("z", "rknpu2")
    first_w = b.get_outputs()[0]
    b.bind_output("w", "rknpu2")  # rebinding keeps the position, replaces the value
    outs = b.get_outputs()
    assert [o.shape() for o in outs] == [[2, 6], [1, 3, 4, 5]] and outs[0] is not first_w
    b.clear_binding_outputs()
    assert b.get_outputs() == [] and b.copy_outputs_to_cpu() == []


def test_synchronize_calls_mem_sync(sim: Any, img_engine: ZeroCopyEngine) -> None:
    x, y = _feeds()
    b = _bound(img_engine, {"x": x, "y": y})
    before = sim.counter("calls:rknn_mem_sync")
    b.synchronize_inputs()
    b.synchronize_outputs()
    assert sim.counter("calls:rknn_mem_sync") == before + 4
    img_engine.run(b)  # the inputs were synced since the CPU last wrote them: the run does not sync them again
    assert sim.counter("calls:rknn_mem_sync") == before + 4


def test_runtime_failures_name_the_call_and_tensor(sim: Any, img_engine: ZeroCopyEngine) -> None:
    x, y = _feeds()
    b = _bound(img_engine, {"x": x, "y": y})
    sim.inject_fault("rknn_set_io_mem", nth=2, code=-5)
    with pytest.raises(RknnError, match=r"rknn_set_io_mem failed for input index 1: RKNN_ERR_PARAM_INVALID \(-5\)"):
        img_engine.run(b)
    assert _run_calls(sim, img_engine, b) == (3, 0)  # x stayed bound; y and the outputs are bound now
    b._inputs["x"].data_ptr()  # x may now be written behind our back: synced before every run
    sim.inject_fault("rknn_mem_sync", nth=1, code=-5)
    with pytest.raises(RknnError, match=r"rknn_mem_sync\(TO_DEVICE\) failed for input index 0"):
        img_engine.run(b)
    assert _run_calls(sim, img_engine, b) == (0, 1)
    sim.inject_fault("rknn_mem_sync", nth=1, code=-1)
    with pytest.raises(RknnError, match=r"rknn_mem_sync\(FROM_DEVICE\) failed"):
        b.get_outputs()[0].numpy()
    sim.inject_fault("rknn_run", nth=1, code=-1)
    with pytest.raises(RknnError, match="rknn_run failed"):
        img_engine.run(b)
    assert _run_calls(sim, img_engine, b) == (4, 1)  # after a failed run every tensor is bound again
    sim.inject_fault("rknn_create_mem", nth=1, code=-4)
    with pytest.raises(RknnMallocError):
        b.bind_output("z", "rknpu2")
    img_engine.run(b)  # still usable after every failure


# ------------------------------------------------------------------------------------------ dma-buf values


def _memfd(size: int) -> int:
    fd = os.memfd_create("test-dmabuf", os.MFD_CLOEXEC)
    os.ftruncate(fd, size)
    return fd


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd_create (Linux)")
@pytest.mark.parametrize("offset", [0, 64, 4096 + 8])
@pytest.mark.parametrize("own_mapping", [False, True])
def test_ortvalue_from_dmabuf_with_offset(sim: Any, img_engine: ZeroCopyEngine, offset: int,
                                          own_mapping: bool) -> None:
    x, y = _feeds(11)
    e = img_engine
    nbytes = e.port("input", "x").nbytes
    size = offset + nbytes + 16
    fd = _memfd(size)
    mapping: Optional[mmap.mmap] = None
    try:
        os.pwrite(fd, b"\xee" * size, 0)
        os.pwrite(fd, np.ascontiguousarray(x.transpose(0, 2, 3, 1)).tobytes(), offset)  # the native NHWC form
        virt = None
        if own_mapping:
            mapping = mmap.mmap(fd, size)
            import ctypes
            anchor = ctypes.c_char.from_buffer(mapping)
            virt = ctypes.addressof(anchor)
            del anchor
        before = sim.counter("calls:rknn_create_mem_from_fd")
        xv = OrtValue.ortvalue_from_dmabuf(fd, (1, 3, 4, 5), np.float16, size=size, offset=offset, virt_addr=virt,
                                           session=e, name="x", io_kind="input")
        assert sim.counter("calls:rknn_create_mem_from_fd") == before + 1  # imported at once
        info = xv.memory_info()
        assert (info["offset"], info["size"], info["dmabuf_backed"], info["import_count"]) == (offset, size, True, 1)
        assert info["fd"] != fd  # a dup the value owns
        if virt is not None:
            assert xv.data_ptr() == virt + offset
        np.testing.assert_array_equal(xv.numpy(), x)  # CPU access honours the offset
        os.close(fd)  # the caller's fd is not needed any more
        fd = -1
        b = IOBinding(e)
        b.bind_ortvalue_input("x", xv)
        b.bind_cpu_input("y", y)
        b.bind_output("z", "rknpu2")
        b.bind_output("w", "rknpu2")
        e.run(b)
        expected = simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])
        np.testing.assert_array_equal(b.get_outputs()[0].numpy().astype(np.float32), expected[0])
        x2 = (x * 2).astype(np.float16)
        xv.update_inplace(x2)  # writes at the offset, not at the mapping start
        e.run(b)
        np.testing.assert_array_equal(b.get_outputs()[0].numpy().astype(np.float32),
                                      simulator.expected_outputs(IMG_IN, IMG_OUT, [x2, y])[0])
        if mapping is not None:
            assert mapping[:offset] == b"\xee" * offset  # the bytes before the offset are untouched
        del b, xv
        gc.collect()
    finally:
        if fd >= 0:
            os.close(fd)
        if mapping is not None:
            mapping.close()


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd_create (Linux)")
def test_dmabuf_output_is_written_at_the_offset(sim: Any, img_engine: ZeroCopyEngine) -> None:
    x, y = _feeds(2)
    e = img_engine
    offset, nbytes = 32, e.port("output", "w").nbytes
    fd = _memfd(offset + nbytes)
    try:
        wv = OrtValue.ortvalue_from_dmabuf(fd, [2, 6], "float32", size=offset + nbytes, offset=offset, session=e,
                                           name="w", io_kind="output")
        b = _bound(e, {"x": x, "y": y})
        b.bind_ortvalue_output("w", wv)
        e.run(b)
        expected = simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1]
        np.testing.assert_array_equal(np.frombuffer(os.pread(fd, nbytes, offset), np.float32).reshape(2, 6), expected)
        assert os.pread(fd, offset, 0) == b"\0" * offset
        np.testing.assert_array_equal(wv.numpy(), expected)
        del b, wv
        gc.collect()
    finally:
        os.close(fd)


def test_dmabuf_argument_errors(img_engine: ZeroCopyEngine, tmp_path: pathlib.Path) -> None:
    e = img_engine
    with pytest.raises(InvalidArgumentError, match="session, name, and io_kind are required for dma-buf OrtValue"):
        OrtValue.ortvalue_from_dmabuf(3, (2, 6), np.float32, size=48)
    with pytest.raises(InvalidArgumentError, match="fd must be an int"):
        OrtValue.ortvalue_from_dmabuf(-1, (2, 6), np.float32, size=48, session=e, name="y", io_kind="input")
    with pytest.raises(InvalidArgumentError, match="offset must be an int"):
        OrtValue.ortvalue_from_dmabuf(3, (2, 6), np.float32, size=48, offset=-4, session=e, name="y", io_kind="input")
    with pytest.raises(InvalidArgumentError, match=r"OrtValue from dmabuf for input 'y' shape mismatch"):
        OrtValue.ortvalue_from_dmabuf(3, (2, 7), np.float32, size=56, session=e, name="y", io_kind="input")
    with pytest.raises(InvalidArgumentError, match=r"OrtValue from dmabuf for input 'y' element type mismatch"):
        OrtValue.ortvalue_from_dmabuf(3, (2, 6), np.float16, size=48, session=e, name="y", io_kind="input")
    with pytest.raises(InvalidArgumentError, match="holds 40 bytes after offset 8 .* needs 48"):
        OrtValue.ortvalue_from_dmabuf(3, (2, 6), np.float32, size=48, offset=8, session=e, name="y", io_kind="input")
    unused = 1000
    while True:
        try:
            os.fstat(unused)
            unused += 1
        except OSError:
            break
    with pytest.raises(InvalidArgumentError, match="dup dma-buf fd failed"):
        OrtValue.ortvalue_from_dmabuf(unused, (2, 6), np.float32, size=48, session=e, name="y", io_kind="input")
    f = tmp_path / "small"
    f.write_bytes(b"")
    with open(f, "rb") as fh:  # read-only: a shared writable mapping is refused
        with pytest.raises(InvalidArgumentError, match="mmap dma-buf fd failed"):
            OrtValue.ortvalue_from_dmabuf(fh.fileno(), (2, 6), np.float32, size=48, session=e, name="y",
                                          io_kind="input")


# ------------------------------------------------------------------------------------------ cross-session buffers


def test_output_of_one_engine_feeds_another(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    shape = (1, 8, 4, 4)
    path = _write(tmp_path, [TS("x", shape, "float16")], [TS("z", shape, "float16")])
    first, second = make_engine(path), make_engine(path)
    x = np.arange(128, dtype=np.float16).reshape(shape) / 16
    b1 = _bound(first, {"x": x})
    first.run(b1)
    z1 = b1.get_outputs()[0]
    b2 = IOBinding(second)
    before = sim.counter("calls:rknn_create_mem_from_fd")
    b2.bind_ortvalue_input("x", z1)  # same native NHWC attr: no copy, imported into the second context
    b2.bind_output("z", "rknpu2")
    second.run(b2)
    assert sim.counter("calls:rknn_create_mem_from_fd") == before + 1
    assert z1.memory_info()["import_count"] == 2
    np.testing.assert_array_equal(b2.get_outputs()[0].numpy(), x)  # the sum rule with one input is the identity
    # The same engine can also take its own output as input.
    b1.bind_ortvalue_input("x", z1)
    first.run(b1)


def test_anonymous_memory_cannot_be_imported(sim: Any, img_engine: ZeroCopyEngine,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from ztu_somemodelruntime_ez_rknn_async import _zc_memory

    monkeypatch.setattr(_zc_memory, "_memfd_alloc", lambda size: -1)
    monkeypatch.setattr(_zc_memory, "_dma_heap_alloc", lambda size: -1)
    v = OrtValue.ortvalue_from_shape_and_type((2, 6), np.float32, "rknpu2")
    assert not v.has_value() and not v.memory_info()["dmabuf_backed"]
    x, y = _feeds()
    b = _bound(img_engine, {"x": x, "y": y})
    b.bind_ortvalue_output("w", v)
    with pytest.raises(InvalidArgumentError, match="allocated without dma-buf backing and cannot be imported"):
        img_engine.run(b)


# ------------------------------------------------------------------------------------------ bind/sync only what changed
#
# A run calls rknn_set_io_mem only for ports whose buffer/attribute changed (or that an IOBinding bound or
# cleared), and rknn_mem_sync(TO_DEVICE) only for inputs the CPU may have written since their last sync in
# the engine's context (see the _zc_engine docstring). The simulator's memory is coherent, so each test
# checks both the call counts and that the run used the current bytes.


def _check_img_outputs(binding: IOBinding, feeds: Sequence[np.ndarray]) -> None:
    expected = simulator.expected_outputs(IMG_IN, IMG_OUT, list(feeds))
    z, w = binding.copy_outputs_to_cpu()
    np.testing.assert_array_equal(z.astype(np.float32), expected[0])
    np.testing.assert_array_equal(w, expected[1])


def _x_native(x: np.ndarray) -> np.ndarray:
    """The bytes of IMG_IN's x as bound (native NHWC, no padding on the simulator)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def test_rebinding_a_port_binds_that_port_only(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, y = _feeds(1)
    b = _bound(e, {"x": x, "y": y})
    assert [_run_calls(sim, e, b) for _ in range(3)] == [(4, 0), (0, 0), (0, 0)]
    first_x = b._inputs["x"]
    x2 = (x * 3).astype(np.float16)
    b.bind_ortvalue_input("x", OrtValue.ortvalue_from_numpy(x2, "rknpu2", session=e, name="x", io_kind="input"))
    assert _run_calls(sim, e, b) == (1, 0)  # x only; the new value was synced when it was written
    _check_img_outputs(b, [x2, y])
    assert _run_calls(sim, e, b) == (0, 0)
    b.bind_ortvalue_input("x", first_x)  # back to the first value
    assert _run_calls(sim, e, b) == (1, 0)
    _check_img_outputs(b, [x, y])
    b.bind_ortvalue_input("x", first_x)  # the very same value again: bound again all the same (conservative)
    assert _run_calls(sim, e, b) == (1, 0)
    old_w = b.get_outputs()[1]
    b.bind_output("w", "rknpu2")  # a new output buffer
    assert _run_calls(sim, e, b) == (1, 0)
    _check_img_outputs(b, [x, y])
    assert b.get_outputs()[1] is not old_w
    b.bind_cpu_input("y", y + 1)
    assert _run_calls(sim, e, b) == (1, 0)
    _check_img_outputs(b, [x, y + 1])


def test_clear_and_bind_binds_again(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, y = _feeds(2)
    b = _bound(e, {"x": x, "y": y})
    assert _run_calls(sim, e, b) == (4, 0)
    xv, yv = b._inputs["x"], b._inputs["y"]
    b.clear_binding_inputs()
    with pytest.raises(InvalidArgumentError, match="missing: x, y"):
        e.run(b)
    x2, y2 = _feeds(9)
    b.bind_ortvalue_input("x", OrtValue.ortvalue_from_numpy(x2, "rknpu2", session=e, name="x", io_kind="input"))
    b.bind_cpu_input("y", y2)
    assert _run_calls(sim, e, b) == (2, 0)
    _check_img_outputs(b, [x2, y2])
    b.clear_binding_outputs()
    b.bind_output("z", "rknpu2")
    b.bind_output("w", "rknpu2")
    assert _run_calls(sim, e, b) == (2, 0)
    _check_img_outputs(b, [x2, y2])
    b.clear_binding_inputs()  # the first values again, cleared and bound anew
    b.bind_ortvalue_input("x", xv)
    b.bind_ortvalue_input("y", yv)
    assert _run_calls(sim, e, b) == (2, 0)
    _check_img_outputs(b, [x, y])
    assert _run_calls(sim, e, b) == (0, 0)


def test_update_inplace_syncs_once_and_the_run_sees_it(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, y = _feeds(3)
    b = _bound(e, {"x": x, "y": y})
    assert _run_calls(sim, e, b) == (4, 0)
    for k in range(3):
        yk = (y + k + 1).astype(np.float32)
        xk = (x - k).astype(np.float16)
        before = sim.counter("calls:rknn_mem_sync")
        b._inputs["y"].update_inplace(yk)
        b._inputs["x"].update_inplace(xk)
        assert sim.counter("calls:rknn_mem_sync") == before + 2  # each syncs in its one context
        assert _run_calls(sim, e, b) == (0, 0)  # already synced: the run neither syncs nor binds
        _check_img_outputs(b, [xk, yk])


def test_a_value_written_through_data_ptr_is_synced_before_every_run(sim: Any, img_engine: ZeroCopyEngine) -> None:
    import ctypes

    e = img_engine
    x, y = _feeds(4)
    b = _bound(e, {"x": x, "y": y})
    assert _run_calls(sim, e, b) == (4, 0)
    xv, yv = b._inputs["x"], b._inputs["y"]
    assert e.port("input", "x").layout.kind == "nhwc" and e.port("input", "x").nbytes == x.nbytes
    ptr = xv.data_ptr()
    assert _run_calls(sim, e, b) == (0, 1)  # x synced from now on, y still not
    for k in range(2):
        xk = (x + (2 * k + 1)).astype(np.float16)
        native = _x_native(xk)
        ctypes.memmove(ptr, native.ctypes.data, native.nbytes)  # a CPU write the package cannot see
        assert _run_calls(sim, e, b) == (0, 1)
        _check_img_outputs(b, [xk, y])
    # memory_info() hands out virt_addr and fd: the same rule.
    info = yv.memory_info()
    y2 = (y - 1).astype(np.float32)
    ctypes.memmove(info["virt_addr"] + info["offset"], y2.ctypes.data, y2.nbytes)
    assert _run_calls(sim, e, b) == (0, 2)
    _check_img_outputs(b, [xk, y2])
    assert _run_calls(sim, e, b) == (0, 2)


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd_create (Linux)")
def test_an_external_dmabuf_written_through_its_mapping_is_synced(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, y = _feeds(5)
    nbytes = e.port("input", "x").nbytes
    fd = _memfd(nbytes)
    mapping = mmap.mmap(fd, nbytes)
    try:
        xv = OrtValue.ortvalue_from_dmabuf(fd, (1, 3, 4, 5), np.float16, size=nbytes, session=e, name="x",
                                           io_kind="input")
        b = IOBinding(e)
        b.bind_ortvalue_input("x", xv)
        b.bind_cpu_input("y", y)
        b.bind_output("z", "rknpu2")
        b.bind_output("w", "rknpu2")
        for k in range(3):
            xk = (x + k).astype(np.float16)
            mapping[:] = _x_native(xk).tobytes()  # the dma-buf's owner writes behind our back
            assert _run_calls(sim, e, b) == (4 if k == 0 else 0, 1)  # x synced before every run, y never
            _check_img_outputs(b, [xk, y])
        del b, xv
        gc.collect()
    finally:
        mapping.close()
        os.close(fd)


def test_numpy_returns_a_copy_not_a_view_of_the_buffer(sim: Any, make_engine: EngineFactory,
                                                       tmp_path: pathlib.Path) -> None:
    # Session layout "nhwc": x is NHWC for the caller and in the buffer, so the bytes read back as a view.
    engine = make_engine(_write(tmp_path, IMG_IN, IMG_OUT), layout="nhwc")
    x, y = _feeds(6)
    b = _bound(engine, {"x": _x_native(x), "y": y})
    assert _run_calls(engine=engine, sim=sim, binding=b) == (4, 0)
    values = [b._inputs["x"], b._inputs["y"]] + b.get_outputs()
    for v in values:
        arr = v.numpy()
        assert arr.flags.owndata and arr.flags.writeable
        arr[...] = 0  # writes the copy only: the buffer stays clean and unchanged
    assert _run_calls(sim, engine, b) == (0, 0)
    np.testing.assert_array_equal(b._inputs["x"].numpy(), _x_native(x))
    _check_img_outputs(b, [x, y])


def test_a_buffer_new_to_a_context_is_synced_once_there(sim: Any, make_engine: EngineFactory,
                                                        tmp_path: pathlib.Path) -> None:
    shape = (1, 8, 4, 4)
    path = _write(tmp_path, [TS("x", shape, "float16")], [TS("z", shape, "float16")])
    first, second = make_engine(path), make_engine(path)
    x = (np.arange(128, dtype=np.float16) / 16).reshape(shape)
    b1 = _bound(first, {"x": x})
    assert _run_calls(sim, first, b1) == (2, 0)
    z1 = b1.get_outputs()[0]
    b2 = IOBinding(second)
    b2.bind_ortvalue_input("x", z1)
    b2.bind_output("z", "rknpu2")
    assert _run_calls(sim, second, b2) == (2, 1)  # imported into the second context: no sync recorded there
    assert _run_calls(sim, second, b2) == (0, 0)
    # The first engine writes z1 again: an NPU write, nothing to flush; the second engine reads the new bytes.
    x2 = (x * 2).astype(np.float16)
    b1._inputs["x"].update_inplace(x2)
    assert _run_calls(sim, first, b1) == (0, 0)
    assert _run_calls(sim, second, b2) == (0, 0)
    np.testing.assert_array_equal(b2.get_outputs()[0].numpy(), x2)
    # A CPU write to a buffer held by two contexts syncs in both, so neither run syncs it again.
    before = sim.counter("calls:rknn_mem_sync")
    z1.update_inplace(x)
    assert sim.counter("calls:rknn_mem_sync") == before + 2
    assert _run_calls(sim, second, b2) == (0, 0)
    np.testing.assert_array_equal(b2.get_outputs()[0].numpy(), x)


def test_generic_value_and_failed_sync_are_synced_by_the_next_run(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, y = _feeds(7)
    b = _bound(e, {"x": x, "y": y})
    assert _run_calls(sim, e, b) == (4, 0)
    g = OrtValue.ortvalue_from_shape_and_type((2, 6), np.float32, "rknpu2")  # no context holds it yet
    g.update_inplace(y * 2)
    b.bind_ortvalue_input("y", g)
    sim.inject_fault("rknn_mem_sync", nth=1, code=-1)
    with pytest.raises(RknnError, match=r"rknn_mem_sync\(TO_DEVICE\) failed for input index 1"):
        e.run(b)
    assert _run_calls(sim, e, b) == (1, 1)  # the failed sync was not recorded: synced (and bound) now
    _check_img_outputs(b, [x, y * 2])
    assert _run_calls(sim, e, b) == (0, 0)


def test_an_update_whose_sync_failed_is_synced_by_the_next_run(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, y = _feeds(8)
    b = _bound(e, {"x": x, "y": y})
    assert _run_calls(sim, e, b) == (4, 0)
    y2 = (y + 2).astype(np.float32)
    sim.inject_fault("rknn_mem_sync", nth=1, code=-1)
    with pytest.raises(RknnError, match=r"rknn_mem_sync\(TO_DEVICE\) failed"):
        b._inputs["y"].update_inplace(y2)  # the bytes are written, the flush failed
    assert _run_calls(sim, e, b) == (0, 1)  # the write made y dirty again, whatever was synced before
    _check_img_outputs(b, [x, y2])
    assert _run_calls(sim, e, b) == (0, 0)


def test_two_bindings_alternating_on_one_engine(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    feeds1, feeds2 = _feeds(11), _feeds(12)
    b1 = _bound(e, {"x": feeds1[0], "y": feeds1[1]})
    b2 = _bound(e, {"x": feeds2[0], "y": feeds2[1]})
    for _ in range(3):
        assert _run_calls(sim, e, b1) == (4, 0)  # every port holds the other binding's buffer
        _check_img_outputs(b1, feeds1)
        assert _run_calls(sim, e, b2) == (4, 0)
        _check_img_outputs(b2, feeds2)


def test_a_value_freed_and_replaced_behind_the_binding_is_bound_again(sim: Any, img_engine: ZeroCopyEngine) -> None:
    e = img_engine
    x, y = _feeds(13)
    b = _bound(e, {"x": x, "y": y})
    assert _run_calls(sim, e, b) == (4, 0)
    # Bypass IOBinding (no forget_port): only the record's identity test can notice. The old memory is freed
    # first, so the new memory object may well reuse its address.
    del b._inputs["y"]
    gc.collect()
    y2 = (y - 7).astype(np.float32)
    b._inputs["y"] = OrtValue.ortvalue_from_numpy(y2, "rknpu2", session=e, name="y", io_kind="input")
    assert _run_calls(sim, e, b) == (1, 0)
    _check_img_outputs(b, [x, y2])


def test_setting_shapes_drops_every_binding_record(sim: Any, make_engine: EngineFactory,
                                                   tmp_path: pathlib.Path) -> None:
    rows = [(1, 5), (2, 5)]
    ins, outs = [TS("v", rows[0], shapes=rows)], [TS("o", rows[0], shapes=rows)]
    engine = make_engine(_write(tmp_path, ins, outs))
    v = np.arange(5, dtype=np.float32).reshape(rows[0])
    b = _bound(engine, {"v": v})
    assert [_run_calls(sim, engine, b) for _ in range(2)] == [(2, 0), (0, 0)]
    with engine.owner.locked() as ctx:
        engine._set_input_shapes_locked(ctx, [ctx.input_attr(0)])  # the engine's only way to set shapes
    assert _run_calls(sim, engine, b) == (2, 0)
    np.testing.assert_array_equal(b.copy_outputs_to_cpu()[0], simulator.expected_outputs(ins, outs, [v])[0])


# ------------------------------------------------------------------------------------------ concurrency


def test_concurrent_zero_copy_and_copy_path_runs(sim: Any, make_engine: EngineFactory, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _write(tmp_path, IMG_IN, IMG_OUT, latency_us=500)
    violations = sim.counter("violations")
    engine = make_engine(path)
    errors: List[BaseException] = []

    with InferenceSession(str(path), provider_options={"runtime_library": "simulator",
                                                       "threads_per_core": 2}) as sess:
        def copy_path(seed: int) -> None:
            try:
                for k in range(8):
                    x, y = _feeds(seed * 100 + k)
                    got = sess.run(None, {"x": x, "y": y})
                    np.testing.assert_array_equal(got[1], simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        def zero_copy(seed: int) -> None:
            try:
                x, y = _feeds(seed)
                b = _bound(engine, {"x": x, "y": y})
                for k in range(8):
                    yk = (y + k).astype(np.float32)
                    b._inputs["y"].update_inplace(yk)
                    engine.run(b)
                    np.testing.assert_array_equal(b.get_outputs()[1].numpy(),
                                                  simulator.expected_outputs(IMG_IN, IMG_OUT, [x, yk])[1])
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=copy_path, args=(i,)) for i in range(2)]
        threads += [threading.Thread(target=zero_copy, args=(10 + i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert sim.counter("violations") == violations


def test_free_during_a_run_is_deferred_not_blocking(sim: Any, make_engine: EngineFactory,
                                                    tmp_path: pathlib.Path) -> None:
    engine = make_engine(_write(tmp_path, IMG_IN, IMG_OUT))
    x, y = _feeds()
    b = _bound(engine, {"x": x, "y": y})
    spare = OrtValue.ortvalue_from_shape_and_type((2, 6), np.float32, "rknpu2", session=engine, name="y",
                                                  io_kind="input")
    live = sim.counter("live_mems")
    sim.hang_next_run(1_000_000)
    runs = sim.counter("calls:rknn_run")
    runner = threading.Thread(target=engine.run, args=(b,))
    runner.start()
    deadline = time.monotonic() + 5
    while sim.counter("calls:rknn_run") == runs and time.monotonic() < deadline:
        time.sleep(0.002)
    assert runner.is_alive()
    t0 = time.monotonic()
    del spare
    gc.collect()
    assert time.monotonic() - t0 < 0.6  # did not wait for the (1 s) run
    if runner.is_alive():
        assert sim.counter("live_mems") == live  # queued: the run's thread frees it on its way out
    runner.join(10)
    assert sim.counter("live_mems") == live - 1


# ------------------------------------------------------------------------------------------ lifetime


@pytest.mark.parametrize("order", list(itertools.permutations(["engine", "binding", "values"])))
def test_memory_freed_exactly_once_in_every_drop_order(sim: Any, tmp_path: pathlib.Path, order: Tuple[str, ...]) -> None:
    path = _write(tmp_path, IMG_IN, IMG_OUT)
    lib = load_runtime("simulator")
    counters = ("live_mems", "live_contexts", "calls:rknn_destroy_mem", "calls:rknn_create_mem",
                "calls:rknn_create_mem_from_fd", "violations")
    start = {k: sim.counter(k) for k in counters}
    engine: Optional[ZeroCopyEngine] = ZeroCopyEngine(lambda: RknnContext.init(lib, str(path)))
    assert engine is not None
    x, y = _feeds()
    held: Dict[str, Any] = {"binding": _bound(engine, {"x": x, "y": y})}
    held["binding"].bind_ortvalue_output("w", OrtValue.ortvalue_from_shape_and_type((2, 6), np.float32, "rknpu2"))
    engine.run(held["binding"])
    held["values"] = held["binding"].get_outputs() + list(held["binding"]._inputs.values())
    gc.collect()
    # x, y, z, and the generic w's import (the w first allocated by bind_output was replaced and freed).
    assert sim.counter("live_mems") - start["live_mems"] == 4
    expected_w = simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1]
    for what in order:
        if what == "engine":
            assert engine is not None
            engine.close()
            engine = None
        else:
            del held[what]
        gc.collect()
        if "values" in held:  # values stay usable whatever else is gone
            np.testing.assert_array_equal(held["values"][1].numpy(), expected_w)
    gc.collect()
    assert sim.counter("live_mems") == start["live_mems"]
    assert sim.counter("live_contexts") == start["live_contexts"]
    made = (sim.counter("calls:rknn_create_mem") - start["calls:rknn_create_mem"]
            + sim.counter("calls:rknn_create_mem_from_fd") - start["calls:rknn_create_mem_from_fd"])
    assert made == 5
    assert sim.counter("calls:rknn_destroy_mem") == start["calls:rknn_destroy_mem"] + made
    assert sim.counter("violations") == start["violations"]


def test_closed_engine_refuses_work_but_values_stay_readable(sim: Any, make_engine: EngineFactory,
                                                             tmp_path: pathlib.Path) -> None:
    engine = make_engine(_write(tmp_path, IMG_IN, IMG_OUT))
    x, y = _feeds()
    b = _bound(engine, {"x": x, "y": y})
    engine.run(b)
    contexts = sim.counter("live_contexts")
    engine.close()
    engine.close()
    assert engine.closed and sim.counter("live_contexts") == contexts  # values still hold memory
    with pytest.raises(SessionClosedError):
        engine.run(b)
    with pytest.raises(SessionClosedError):
        b.bind_output("z", "rknpu2")
    np.testing.assert_array_equal(b.get_outputs()[1].numpy(), simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1])
    b._inputs["x"].update_inplace(x)  # syncs in a context that is closing but alive
    del b
    gc.collect()
    assert sim.counter("live_contexts") == contexts - 1  # the last memory took the context with it


def test_engine_collected_without_close(sim: Any, tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, IMG_IN, IMG_OUT)
    lib = load_runtime("simulator")
    contexts = sim.counter("live_contexts")
    engine = ZeroCopyEngine(lambda: RknnContext.init(lib, str(path)))
    value = OrtValue.ortvalue_from_shape_and_type((2, 6), np.float32, "rknpu2", session=engine, name="y",
                                                  io_kind="input")
    cycle: List[Any] = [value]
    cycle.append(cycle)
    del engine, value, cycle
    gc.collect()
    assert sim.counter("live_contexts") == contexts


def test_values_alive_at_interpreter_exit(sim_library: str, tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, IMG_IN, IMG_OUT)
    script = """
import numpy as np
from ztu_somemodelruntime_ez_rknn_async._context import RknnContext
from ztu_somemodelruntime_ez_rknn_async._library import load_runtime
from ztu_somemodelruntime_ez_rknn_async.zero_copy import IOBinding, OrtValue, ZeroCopyEngine
lib = load_runtime("simulator")
engine = ZeroCopyEngine(lambda: RknnContext.init(lib, {path!r}))
b = IOBinding(engine)
b.bind_cpu_input("x", np.zeros((1, 3, 4, 5), np.float16))
b.bind_cpu_input("y", np.zeros((2, 6), np.float32))
b.bind_output("z", "rknpu2")
b.bind_output("w", "rknpu2")
engine.run(b)
keep = [b, engine, b.get_outputs()[0]]
print("ran")
""".format(path=str(path))
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ran" and "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------ session integration

def test_session_io_binding_end_to_end(sim: Any, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _write(tmp_path, IMG_IN, IMG_OUT)
    x, y = _feeds(21)
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        copy = sess.run(None, {"x": x, "y": y})
        binding = sess.io_binding()
        assert isinstance(binding, IOBinding) and sess.io_binding() is not binding
        xv = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=sess, name="x", io_kind="input")
        binding.bind_ortvalue_input("x", xv)
        binding.bind_cpu_input("y", y)
        binding.bind_output("z", "rknpu2")
        binding.bind_output("w", "cpu")
        inputs_set = sim.counter("calls:rknn_inputs_set")
        for _ in range(3):
            sess.run_with_iobinding(binding)
        assert sim.counter("calls:rknn_inputs_set") == inputs_set
        for a, b in zip(binding.copy_outputs_to_cpu(), copy):
            np.testing.assert_array_equal(a.astype(np.float32), b)
        with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as other:
            with pytest.raises(RuntimeError, match="IOBinding belongs to a different session"):
                other.run_with_iobinding(binding)


@pytest.mark.parametrize("explicit_close", [False, True])
@pytest.mark.parametrize("order", list(itertools.permutations(["session", "binding", "values"])))
def test_session_drop_orders_free_everything(sim: Any, tmp_path: pathlib.Path, order: Tuple[str, ...],
                                             explicit_close: bool) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _write(tmp_path, IMG_IN, IMG_OUT)
    start = {k: sim.counter(k) for k in ("live_mems", "live_contexts")}
    x, y = _feeds()
    held: Dict[str, Any] = {"session": InferenceSession(str(path), provider_options={"runtime_library": "simulator"})}
    held["binding"] = held["session"].io_binding()
    held["binding"].bind_cpu_input("x", x)
    held["binding"].bind_cpu_input("y", y)
    held["binding"].bind_output("z", "rknpu2")
    held["binding"].bind_output("w", "rknpu2")
    held["session"].run_with_iobinding(held["binding"])
    held["values"] = held["binding"].get_outputs()
    for what in order:
        if what == "session" and explicit_close:
            held["session"].close()
        del held[what]
        gc.collect()
        if "values" in held:
            np.testing.assert_array_equal(held["values"][1].numpy(),
                                          simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1])
    gc.collect()
    assert {k: sim.counter(k) for k in start} == start


def test_session_zero_copy_runs_next_to_copy_path_runs(sim: Any, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _write(tmp_path, IMG_IN, IMG_OUT, latency_us=300)
    violations = sim.counter("violations")
    errors: List[BaseException] = []
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        def zero_copy() -> None:
            try:
                x, y = _feeds(1)
                b = sess.io_binding()
                b.bind_cpu_input("x", x)
                b.bind_cpu_input("y", y)
                b.bind_output("z", "rknpu2")
                b.bind_output("w", "rknpu2")
                for _ in range(10):
                    sess.run_with_iobinding(b)
                    np.testing.assert_array_equal(b.copy_outputs_to_cpu()[1],
                                                  simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1])
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=zero_copy)
        t.start()
        futures = [sess.submit(None, {"x": _feeds(k)[0], "y": _feeds(k)[1]}) for k in range(10)]
        for k, f in enumerate(futures):
            x, y = _feeds(k)
            np.testing.assert_array_equal(f.result()[1], simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1])
        t.join(60)
    assert not errors, errors
    assert sim.counter("violations") == violations


def test_rebinding_a_value_in_another_layout_is_caught_before_the_run(sim: Any, make_engine: EngineFactory,
                                                                      tmp_path: pathlib.Path) -> None:
    shape = (1, 8, 4, 4)  # 256 bytes both as NHWC and as NC1HWC2 (C2 = 8 for float16)
    path = _write(tmp_path, [TS("x", shape, "float16")], [TS("z", shape, "float16")])
    engine = make_engine(path, zero_copy_layout="native")
    x = (np.arange(128, dtype=np.float16) / 8).reshape(shape)
    v = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=engine, name="x", io_kind="input")
    as_input = IOBinding(engine)
    as_input.bind_ortvalue_input("x", v)
    as_input.bind_output("z", "rknpu2")
    engine.run(as_input)
    as_output = IOBinding(engine)
    as_output.bind_cpu_input("x", x)
    as_output.bind_ortvalue_output("z", v)  # v now holds NC1HWC2 data after a run
    assert v.memory_info()["fmt"] == NC1HWC2
    engine.run(as_output)
    np.testing.assert_array_equal(v.numpy(), x)  # read back through the NC1HWC2 layout
    with pytest.raises(InvalidArgumentError, match="OrtValue for input 'x' native zero-copy layout mismatch: "
                                                   "n_dims expected 4, got 5"):
        engine.run(as_input)


# ------------------------------------------------------------------------------------------ layout properties


@given(n=st.integers(1, 3), c=st.integers(1, 20), h=st.integers(1, 5), w=st.integers(1, 6),
       pad=st.integers(0, 4), hpad=st.integers(0, 2), kind=st.sampled_from(["nhwc", "nc1hwc2"]),
       c2=st.sampled_from([2, 4, 8, 16]), dtype=st.sampled_from(["float16", "float32", "int8"]),
       user_nhwc=st.booleans(), seed=st.integers(0, 2**16))
def test_layout_positions_match_the_reference_formula(n: int, c: int, h: int, w: int, pad: int, hpad: int, kind: str,
                                                      c2: int, dtype: str, user_nhwc: bool, seed: int) -> None:
    rknn_type = {"float32": 0, "float16": 1, "int8": 2}[dtype]
    ws = w + pad
    if kind == "nhwc":
        hs = h + hpad
        attr = _attr((n, h, w, c), NHWC, rknn_type, w_stride=ws, h_stride=hs)
    else:
        hs = h
        c1 = -(-c // c2)
        attr = _attr((n, c1, h, w, c2), NC1HWC2, rknn_type, w_stride=ws)
    shape = (n, h, w, c) if user_nhwc else (n, c, h, w)
    layout = layout_for(shape, user_nhwc, attr)
    arr = (np.random.default_rng(seed).integers(-100, 100, shape)).astype(dtype)
    buf = np.full(layout.nbytes, 0x5A, np.uint8)
    write_logical(layout, buf, arr)
    flat = buf.view(np.dtype(dtype))
    nchw = arr.transpose(0, 3, 1, 2) if user_nhwc else arr
    bi, ci, yi, xi = np.indices((n, c, h, w))
    if kind == "nhwc":
        pos = ((bi * hs + yi) * ws + xi) * c + ci
    else:
        pos = ((((bi * c1 + ci // c2) * h + yi) * ws + xi) * c2 + ci % c2)
    np.testing.assert_array_equal(flat[pos], nchw)
    mask = np.ones(flat.size, bool)
    mask[pos.reshape(-1)] = False
    assert not flat[mask].any()  # every byte that is not an element is zero padding
    np.testing.assert_array_equal(read_logical(layout, buf), arr)


def test_mem_flags_select_rknn_create_mem2(sim: Any, img_engine: ZeroCopyEngine) -> None:
    x, y = _feeds()
    b = _bound(img_engine, {"x": x, "y": y})
    before = (sim.counter("calls:rknn_create_mem"), sim.counter("calls:rknn_create_mem2"))
    b.bind_output("w", "rknpu2", mem_flags="non_cacheable")
    b.bind_ortvalue_output("z", OrtValue.ortvalue_from_shape_and_type((1, 3, 4, 5), np.float16, "rknpu2",
                                                                      session=img_engine, name="z", io_kind="output",
                                                                      mem_flags="try_sram"))
    b.bind_output("z", "rknpu2", mem_flags="cacheable")  # the default: plain rknn_create_mem
    assert (sim.counter("calls:rknn_create_mem"), sim.counter("calls:rknn_create_mem2")) == (before[0] + 1,
                                                                                             before[1] + 2)
    img_engine.run(b)
    np.testing.assert_array_equal(b.get_outputs()[1].numpy(), simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1])


@pytest.mark.parametrize("dtype", ["float16", "float32", "int32", "int64"])
@pytest.mark.parametrize("shape", [(4, 8, 8), (1, 2, 3, 4, 5), (1, 1, 6, 5), (1, 3, 6, 5), (1, 4, 6, 5),
                                   (1, 8, 6, 5)])
def test_session_zero_copy_matches_copy_path_for_ranks_and_dtypes(sim: Any, tmp_path: pathlib.Path, dtype: str,
                                                                  shape: Tuple[int, ...]) -> None:
    """The peer's acceptance matrix (§20.3) at simulator size: Add of two inputs, every rank/channel/dtype."""
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    ins = [TS("x", shape, dtype), TS("y", shape, dtype)]
    path = _write(tmp_path, ins, [TS("z", shape, dtype)])
    rng = np.random.default_rng(len(shape) * 10 + shape[1])
    x = rng.integers(-50, 50, shape).astype(dtype)
    y = rng.integers(-50, 50, shape).astype(dtype)
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        [baseline] = sess.run(None, {"x": x, "y": y})
        xv = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=sess, name="x", io_kind="input")
        yv = OrtValue.ortvalue_from_numpy(y, "rknpu2", session=sess, name="y", io_kind="input")
        binding = sess.io_binding()
        binding.bind_ortvalue_input("x", xv)
        binding.bind_ortvalue_input("y", yv)
        binding.bind_output("z", "rknpu2")
        sess.run_with_iobinding(binding)
        z = binding.get_outputs()[0]
        info = z.memory_info()
        assert z.numpy().shape == shape and z.numpy().dtype == np.dtype(dtype)
        assert info["device_type"] == "rknpu2" and info["dmabuf_backed"] and info["size"] >= x.nbytes
        np.testing.assert_array_equal(z.numpy().astype(np.float32), baseline)
        np.testing.assert_array_equal(z.numpy(), x + y)
        xv.update_inplace((x + 1).astype(dtype))
        yv.update_inplace((y - 2).astype(dtype))
        sess.run_with_iobinding(binding)
        np.testing.assert_array_equal(z.numpy(), (x + 1) + (y - 2))
        del binding, xv, yv, z


def test_values_created_and_dropped_on_many_threads(sim: Any, make_engine: EngineFactory,
                                                    tmp_path: pathlib.Path) -> None:
    engine = make_engine(_write(tmp_path, IMG_IN, IMG_OUT, latency_us=200))
    start = sim.counter("live_mems")
    errors: List[BaseException] = []

    def runner(seed: int) -> None:
        try:
            for k in range(6):
                x, y = _feeds(seed + k)
                b = _bound(engine, {"x": x, "y": y})  # fresh values every iteration; the old ones are dropped
                engine.run(b)
                np.testing.assert_array_equal(b.get_outputs()[1].numpy(),
                                              simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[1])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def churn(seed: int) -> None:
        try:
            for k in range(20):
                v = OrtValue.ortvalue_from_numpy(_feeds(seed + k)[1], "rknpu2", session=engine, name="y",
                                                 io_kind="input")
                v.numpy()
                cycle: List[Any] = [v]
                cycle.append(cycle)  # some go through the cyclic collector, on whichever thread runs it
                del v, cycle
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i * 100,)) for i in range(2)]
    threads += [threading.Thread(target=churn, args=(1000 + i * 100,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    gc.collect()
    assert not errors, errors
    assert sim.counter("live_mems") == start


def test_nc1hwc2_native_input_gets_a_synthesised_nhwc_attribute(sim: Any, make_engine: EngineFactory,
                                                                tmp_path: pathlib.Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtimes that report an NC1HWC2 native input and no NHWC form: zero copy binds an NHWC attr it builds."""
    original = RknnContext.native_input_attr

    def nc1hwc2(self: RknnContext, index: int) -> TensorAttr:
        a = original(self, index)
        if a.n_dims != 4:
            return a
        n, h, w, c = a.dims
        c2 = 8
        c1 = -(-c // c2)
        elems = n * c1 * h * w * c2
        return dataclasses.replace(a, n_dims=5, dims=(n, c1, h, w, c2), fmt=NC1HWC2, n_elems=elems, size=elems * 2,
                                   size_with_stride=elems * 2, w_stride=0)

    def no_nhwc(self: RknnContext, index: int) -> TensorAttr:
        raise RknnError(-5, "rknn_query(RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR)")

    monkeypatch.setattr(RknnContext, "native_input_attr", nc1hwc2)
    monkeypatch.setattr(RknnContext, "native_nhwc_input_attr", no_nhwc)
    engine = make_engine(_write(tmp_path, IMG_IN, IMG_OUT))
    port = engine.port("input", "x")
    assert (port.native.fmt, port.native.dims, port.native.pass_through) == (NHWC, (1, 4, 5, 3), 0)
    assert (port.native.w_stride, port.native.size, port.native.size_with_stride) == (5, 120, 120)
    x, y = _feeds(9)
    b = _bound(engine, {"x": x, "y": y})
    engine.run(b)
    np.testing.assert_array_equal(b.get_outputs()[0].numpy().astype(np.float32),
                                  simulator.expected_outputs(IMG_IN, IMG_OUT, [x, y])[0])
    native = make_engine(_write(tmp_path, IMG_IN, IMG_OUT, name="n.rknn"), zero_copy_layout="native")
    nport = native.port("input", "x")
    assert (nport.native.fmt, nport.native.pass_through, nport.layout.kind) == (NC1HWC2, 1, "nc1hwc2")
    v = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=native, name="x", io_kind="input")
    assert v.memory_info()["fmt"] == NC1HWC2 and v.memory_info()["pass_through"] is True
    np.testing.assert_array_equal(v.numpy(), x)  # NCHW -> NC1HWC2 -> NCHW
