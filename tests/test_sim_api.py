"""The simulator's exported rknn_* API (stubs/sim_api.c, sim_mem.c, sim_compute.c), driven through ctypes.

Everything goes through the raw ABI (``_abi.bind``) so that the C behaviour is tested on its own, without
the Python session layers.  Misuse counters are read as deltas of the process-wide ``violations`` counter,
so these tests do not use the ``sim_library`` fixture (whose autouse leak check forbids violations); they
clean up every context/memory they create and check ``live_*`` counters themselves where it matters.
"""
from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import _abi, simulator
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec as T

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RKNN_MODELS = SHARED / "models" / "rknn"

FMT_NCHW, FMT_NHWC, FMT_NC1HWC2, FMT_UNDEFINED = 0, 1, 2, 3
F32, F16, I8, U8, I16, U16, I32, U32, I64, BOOL = range(10)
NP_TYPES = {F32: np.float32, F16: np.float16, I8: np.int8, U8: np.uint8, I16: np.int16, U16: np.uint16,
            I32: np.int32, U32: np.uint32, I64: np.int64, BOOL: np.uint8}
TYPE_CODES = {"float32": F32, "float16": F16, "int8": I8, "uint8": U8, "int16": I16, "uint16": U16,
              "int32": I32, "uint32": U32, "int64": I64, "bool": BOOL}

# The rknn-abi.md §2.1 set (rknn_create_mem_from_mb_blk is not exported by real libraries either).
EXPORTED = {
    "rknn_init", "rknn_dup_context", "rknn_destroy", "rknn_query", "rknn_inputs_set", "rknn_set_batch_core_num",
    "rknn_set_core_mask", "rknn_run", "rknn_wait", "rknn_outputs_get", "rknn_outputs_release",
    "rknn_create_mem_from_phys", "rknn_create_mem_from_fd", "rknn_create_mem", "rknn_create_mem2",
    "rknn_destroy_mem", "rknn_set_weight_mem", "rknn_set_internal_mem", "rknn_set_io_mem", "rknn_set_input_shape",
    "rknn_set_input_shapes", "rknn_mem_sync", "rknn_register_custom_ops", "rknn_custom_op_get_op_attr",
}


# --------------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="session")
def api_library() -> str:
    try:
        return simulator.library_path()
    except simulator.SimulatorBuildError as exc:  # pragma: no cover - depends on the machine
        pytest.skip("simulator cannot be built: {}".format(exc))
        raise


@pytest.fixture(scope="session")
def api(api_library: str) -> Any:
    # The very library instance the control API uses, so counters and faults are the same ones even if
    # the sources change (and library_path() rebuilds) while the session runs.
    return _abi.bind(simulator.control().library)


@pytest.fixture()
def ctl(api_library: str) -> Iterator[Any]:
    control = simulator.control()
    control.clear_faults()
    yield control
    control.clear_faults()
    control.set_latency_override(None)
    control.set_soc("rk3588")


class Rt:
    """Thin helpers over the raw API; every context and memory made here is freed at teardown."""

    def __init__(self, api: Any, ctl: Any, tmp: pathlib.Path) -> None:
        self.api = api
        self.ctl = ctl
        self.tmp = tmp
        self.handles: List[int] = []
        self.mems: List[Any] = []
        self.n = 0
        self.keep: List[Any] = []

    # models and contexts
    def model(self, inputs: Sequence[Any], outputs: Sequence[Any], **kw: Any) -> pathlib.Path:
        self.n += 1
        kw.setdefault("latency_us", 0)
        return simulator.write_model(self.tmp / "m{}.rknn".format(self.n), inputs, outputs, **kw)

    def init_rc(self, model: Any, flags: int = 0, extend: Any = None) -> Tuple[int, int]:
        ctx = ctypes.c_uint64(0)
        ext = ctypes.byref(extend) if extend is not None else None
        if isinstance(model, (bytes, bytearray)):
            data = bytes(model)
            rc = self.api.rknn_init(ctypes.byref(ctx), data, len(data), flags, ext)
        else:
            rc = self.api.rknn_init(ctypes.byref(ctx), str(model).encode() + b"\0", 0, flags, ext)
        if rc == 0:
            self.handles.append(ctx.value)
        return rc, ctx.value

    def init(self, model: Any, flags: int = 0, extend: Any = None) -> int:
        rc, h = self.init_rc(model, flags, extend)
        assert rc == 0, "rknn_init returned {}".format(rc)
        return h

    def open(self, inputs: Sequence[Any], outputs: Sequence[Any], **kw: Any) -> int:
        return self.init(self.model(inputs, outputs, **kw))

    def destroy(self, h: int) -> int:
        rc = self.api.rknn_destroy(h)
        if rc == 0 and h in self.handles:
            self.handles.remove(h)
        return rc

    def dup(self, h: int) -> int:
        a, b = ctypes.c_uint64(h), ctypes.c_uint64(0)
        assert self.api.rknn_dup_context(ctypes.byref(a), ctypes.byref(b)) == 0
        self.handles.append(b.value)
        return b.value

    # queries
    def query(self, h: int, cmd: int, info: Any, size: Optional[int] = None) -> int:
        return self.api.rknn_query(h, cmd, ctypes.byref(info), ctypes.sizeof(info) if size is None else size)

    def attr(self, h: int, cmd: int, index: int) -> Any:
        a = _abi.rknn_tensor_attr()
        a.index = index
        rc = self.query(h, cmd, a)
        assert rc == 0, "rknn_query({}) returned {}".format(cmd, rc)
        return a

    def io_num(self, h: int) -> Tuple[int, int]:
        io = _abi.rknn_input_output_num()
        assert self.query(h, _abi.RKNN_QUERY_IN_OUT_NUM, io) == 0
        return io.n_input, io.n_output

    # inputs / outputs
    def set_inputs(self, h: int, arrays: Sequence[np.ndarray], types: Optional[Sequence[int]] = None,
                   fmts: Optional[Sequence[int]] = None, pass_through: int = 0,
                   indices: Optional[Sequence[int]] = None, sizes: Optional[Sequence[int]] = None) -> int:
        n = len(arrays)
        ins = (_abi.rknn_input * max(n, 1))()
        bufs = []
        for k, arr in enumerate(arrays):
            arr = np.ascontiguousarray(arr)
            bufs.append(arr)
            ins[k].index = k if indices is None else indices[k]
            ins[k].buf = arr.ctypes.data if arr.size else ctypes.cast(ctypes.create_string_buffer(1), ctypes.c_void_p)
            ins[k].size = arr.nbytes if sizes is None else sizes[k]
            ins[k].pass_through = pass_through
            ins[k].type = types[k] if types is not None else F32
            ins[k].fmt = fmts[k] if fmts is not None else (FMT_NCHW if arr.ndim == 4 else FMT_UNDEFINED)
        return self.api.rknn_inputs_set(h, n, ins)

    def run(self, h: int) -> int:
        return self.api.rknn_run(h, None)

    def outputs(self, h: int, shapes: Sequence[Sequence[int]], want_float: bool = True,
                types: Optional[Sequence[int]] = None) -> List[np.ndarray]:
        n = len(shapes)
        outs = (_abi.rknn_output * n)()
        for k in range(n):
            outs[k].index = k
            outs[k].want_float = 1 if want_float else 0
        rc = self.api.rknn_outputs_get(h, n, outs, None)
        assert rc == 0, "rknn_outputs_get returned {}".format(rc)
        result = []
        for k in range(n):
            dtype = np.float32 if want_float else NP_TYPES[types[k] if types else F32]
            count = int(np.prod(shapes[k], dtype=np.int64)) if len(shapes[k]) else 1
            assert outs[k].size == count * np.dtype(dtype).itemsize
            raw = ctypes.string_at(outs[k].buf, outs[k].size)
            result.append(np.frombuffer(raw, dtype=dtype).reshape(shapes[k]).copy())
        assert self.api.rknn_outputs_release(h, n, outs) == 0
        return result

    def infer(self, h: int, feeds: Sequence[np.ndarray], out_shapes: Sequence[Sequence[int]], **kw: Any) -> List[np.ndarray]:
        assert self.set_inputs(h, [np.asarray(f, dtype=np.float32) for f in feeds], **kw) == 0
        assert self.run(h) == 0
        return self.outputs(h, out_shapes)

    # memory
    def mem(self, h: int, size: int) -> Any:
        m = self.api.rknn_create_mem(h, size)
        assert m, "rknn_create_mem returned NULL"
        self.mems.append((h, m))
        return m

    def close(self) -> None:
        for h, m in reversed(self.mems):
            owner = h if h in self.handles else (self.handles[0] if self.handles else 0)
            assert self.api.rknn_destroy_mem(owner, m) == 0
        self.mems.clear()
        for h in reversed(self.handles):
            assert self.api.rknn_destroy(h) == 0
        self.handles.clear()


@pytest.fixture()
def rt(api: Any, ctl: Any, tmp_path: pathlib.Path) -> Iterator[Rt]:
    live = (ctl.counter("live_contexts"), ctl.counter("live_mems"), ctl.counter("unreleased_outputs"))
    r = Rt(api, ctl, tmp_path)
    yield r
    r.close()
    assert (ctl.counter("live_contexts"), ctl.counter("live_mems"), ctl.counter("unreleased_outputs")) == live


def violations(ctl: Any) -> int:
    return int(ctl.counter("violations"))


def rng_values(shape: Sequence[int], seed: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, size=tuple(shape)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Exported symbols and basics


def test_exported_rknn_symbols_are_exactly_the_abi_set(api_library: str) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm not available")
    out = subprocess.run([nm, "-D", "--defined-only", api_library], stdout=subprocess.PIPE, check=True).stdout
    names = {line.split()[-1] for line in out.decode().splitlines() if line.strip()}
    rknn = {n for n in names if n.startswith("rknn_") and not n.startswith("rknn_sim_")}
    assert rknn == EXPORTED
    assert "rknn_sim_struct_layout" in names
    # everything else is internal: nothing but rknn_* / rknn_sim_* is exported
    assert [n for n in names if not n.startswith("rknn_") and not n.startswith("_")] == []


def test_init_from_bytes_and_path_and_bad_models(rt: Rt) -> None:
    path = rt.model([T("x", (1, 4))], [T("y", (1, 4))])
    h1 = rt.init(path)
    h2 = rt.init(path.read_bytes())
    assert h1 != h2 and h1 != 0 and h2 != 0
    assert rt.io_num(h1) == rt.io_num(h2) == (1, 1)
    assert rt.init_rc(b"garbage that is no model")[0] == -6
    assert rt.init_rc(b"RKNN" + b"\0" * 60)[0] == -6
    assert rt.init_rc(rt.tmp / "does-not-exist.rknn")[0] == -6
    ctx = ctypes.c_uint64(0)
    assert rt.api.rknn_init(None, b"x", 1, 0, None) == -5
    assert rt.api.rknn_init(ctypes.byref(ctx), None, 1, 0, None) == -5
    assert rt.init_rc(path, flags=0x40000)[0] == -5  # unknown flag bit
    assert rt.init_rc(path, flags=0x3)[0] == -5  # priority value 3 does not exist


def test_init_extend_real_model_window(rt: Rt) -> None:
    path = rt.model([T("x", (1, 4))], [T("y", (1, 4))], custom_string="inner")
    inner = path.read_bytes()
    packed = rt.tmp / "packed.bin"
    packed.write_bytes(b"HEADER--" + inner + b"trailer that is no model")
    ext = _abi.rknn_init_extend()
    ext.real_model_offset, ext.real_model_size = 8, len(inner)
    for model in (packed, packed.read_bytes()):
        h = rt.init(model, 0, ext)
        cs = _abi.rknn_custom_string()
        assert rt.query(h, _abi.RKNN_QUERY_CUSTOM_STRING, cs) == 0 and cs.string == b"inner"
    ext.real_model_size = 0  # to the end: the trailer makes it invalid
    assert rt.init_rc(packed, 0, ext)[0] == -6
    ext.real_model_offset, ext.real_model_size = 8, 10**6
    assert rt.init_rc(packed, 0, ext)[0] == -5
    ext.real_model_offset, ext.real_model_size = -1, 0
    assert rt.init_rc(packed, 0, ext)[0] == -5


def test_handles_are_checked(rt: Rt) -> None:
    h = rt.open([T("x", (2,))], [T("y", (2,))])
    assert rt.destroy(h) == 0
    info = _abi.rknn_input_output_num()
    for bad in (h, 0, 12345, 2**64 - 1):
        assert rt.query(bad, _abi.RKNN_QUERY_IN_OUT_NUM, info) == -7
        assert rt.api.rknn_run(bad, None) == -7
        assert rt.api.rknn_destroy(bad) == -7
        assert rt.api.rknn_set_core_mask(bad, 1) == -7
        assert not rt.api.rknn_create_mem(bad, 16)


def test_wait_and_set_input_shape_are_unimplemented(rt: Rt) -> None:
    h = rt.open([T("x", (2,))], [T("y", (2,))])
    assert rt.api.rknn_wait(h, None) == -1
    assert rt.api.rknn_set_input_shape(h, None) == -1


def test_core_mask_and_batch_core_num(rt: Rt) -> None:
    h = rt.open([T("x", (2,))], [T("y", (2,))])
    for mask in (0, 1, 2, 4, 3, 7, 0xFFFF):
        assert rt.api.rknn_set_core_mask(h, mask) == 0
    assert rt.api.rknn_set_core_mask(h, 5) == -5
    assert rt.api.rknn_set_batch_core_num(h, 2) == 0
    assert rt.api.rknn_set_batch_core_num(h, 0) == -5
    assert rt.api.rknn_set_batch_core_num(h, 4) == -5
    rt.ctl.set_soc("rk3566")
    assert rt.api.rknn_set_core_mask(h, 0) == -13
    assert rt.api.rknn_set_batch_core_num(h, 1) == -1


def test_fault_injection_reaches_every_entry_point(rt: Rt) -> None:
    h = rt.open([T("x", (2,))], [T("y", (2,))])
    rt.ctl.inject_fault("rknn_run", nth=1, code=-4, count=1)
    assert rt.set_inputs(h, [np.ones(2, np.float32)]) == 0
    assert rt.run(h) == -4
    assert rt.run(h) == 0
    rt.ctl.inject_fault("rknn_create_mem", nth=1, code=-4, count=1)
    assert not rt.api.rknn_create_mem(h, 64)
    rt.ctl.inject_fault("rknn_query", nth=1, code=-2, count=1)
    assert rt.query(h, _abi.RKNN_QUERY_IN_OUT_NUM, _abi.rknn_input_output_num()) == -2


def test_every_entry_point_calls_sim_enter_first(rt: Rt) -> None:
    """An injected fault is returned (NULL for rknn_create_mem*) before anything else happens."""
    path = rt.model([T("x", (4,))], [T("y", (4,))])
    h = rt.init(path)
    m = rt.mem(h, 64)
    attr = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0)
    buf = ctypes.create_string_buffer(64)
    op = _abi.rknn_custom_op()
    cb = _abi.rknn_custom_op_callback(lambda *a: 0)
    op.op_type, op.target, op.compute = b"cstX", 1, cb
    op_ctx = _abi.rknn_custom_op_context()
    op_ctx.internal_ctx = h
    shapes = (_abi.rknn_tensor_attr * 1)()
    outs = (_abi.rknn_output * 1)()
    api = rt.api
    calls = {
        "rknn_init": lambda: rt.init_rc(path)[0],
        "rknn_dup_context": lambda: api.rknn_dup_context(ctypes.byref(ctypes.c_uint64(h)),
                                                         ctypes.byref(ctypes.c_uint64(0))),
        "rknn_destroy": lambda: api.rknn_destroy(h),
        "rknn_query": lambda: rt.query(h, _abi.RKNN_QUERY_IN_OUT_NUM, _abi.rknn_input_output_num()),
        "rknn_inputs_set": lambda: rt.set_inputs(h, [np.ones(4, np.float32)]),
        "rknn_set_batch_core_num": lambda: api.rknn_set_batch_core_num(h, 1),
        "rknn_set_core_mask": lambda: api.rknn_set_core_mask(h, 1),
        "rknn_run": lambda: api.rknn_run(h, None),
        "rknn_wait": lambda: api.rknn_wait(h, None),
        "rknn_outputs_get": lambda: api.rknn_outputs_get(h, 1, outs, None),
        "rknn_outputs_release": lambda: api.rknn_outputs_release(h, 0, None),
        "rknn_destroy_mem": lambda: api.rknn_destroy_mem(h, m),
        "rknn_set_weight_mem": lambda: api.rknn_set_weight_mem(h, m),
        "rknn_set_internal_mem": lambda: api.rknn_set_internal_mem(h, m),
        "rknn_set_io_mem": lambda: api.rknn_set_io_mem(h, m, ctypes.byref(attr)),
        "rknn_set_input_shape": lambda: api.rknn_set_input_shape(h, ctypes.byref(attr)),
        "rknn_set_input_shapes": lambda: api.rknn_set_input_shapes(h, 1, shapes),
        "rknn_mem_sync": lambda: api.rknn_mem_sync(h, m, 1),
        "rknn_register_custom_ops": lambda: api.rknn_register_custom_ops(h, ctypes.byref(op), 1),
    }
    for name, call in calls.items():
        before = rt.ctl.counter("calls:" + name)
        rt.ctl.inject_fault(name, nth=1, code=-3, count=1)
        assert call() == -3, name
        assert rt.ctl.counter("calls:" + name) == before + 1, name
    assert rt.io_num(h) == (1, 1)  # the faulted rknn_destroy destroyed nothing
    assert rt.api.rknn_mem_sync(h, m, 1) == 0  # nor did the faulted rknn_destroy_mem
    mem_calls = {
        "rknn_create_mem": lambda: api.rknn_create_mem(h, 64),
        "rknn_create_mem2": lambda: api.rknn_create_mem2(h, 64, 0),
        "rknn_create_mem_from_fd": lambda: api.rknn_create_mem_from_fd(h, m.contents.fd, None, 64, 0),
        "rknn_create_mem_from_phys": lambda: api.rknn_create_mem_from_phys(h, 1, ctypes.cast(buf, ctypes.c_void_p), 64),
    }
    for name, call in mem_calls.items():
        rt.ctl.inject_fault(name, nth=1, code=-3, count=1)
        assert not call(), name
        made = call()
        assert made, name
        assert api.rknn_destroy_mem(h, made) == 0
    oa = _abi.rknn_custom_op_attr()
    oa.name, oa.n_elems = b"sentinel", 7
    rt.ctl.inject_fault("rknn_custom_op_get_op_attr", nth=1, code=-3, count=1)
    api.rknn_custom_op_get_op_attr(ctypes.byref(op_ctx), b"k", ctypes.byref(oa))
    assert (oa.name, oa.n_elems) == (b"sentinel", 7)
    api.rknn_custom_op_get_op_attr(ctypes.byref(op_ctx), b"k", ctypes.byref(oa))
    assert (oa.name, oa.n_elems) == (b"k", 0)


def test_disable_flush_flags_with_the_general_api_are_violations(rt: Rt) -> None:
    path = rt.model([T("x", (4,))], [T("y", (4,))])
    h = rt.init(path, flags=_abi.RKNN_FLAG_DISABLE_FLUSH_INPUT_MEM_CACHE | _abi.RKNN_FLAG_DISABLE_FLUSH_OUTPUT_MEM_CACHE)
    before = violations(rt.ctl)
    np.testing.assert_array_equal(rt.infer(h, [np.ones(4)], [(4,)])[0], np.ones(4, np.float32))
    assert violations(rt.ctl) == before + 2  # still works


# --------------------------------------------------------------------------------------------------
# Queries


def _expected_c2(type_code: int) -> int:
    return 16 // np.dtype(NP_TYPES[type_code]).itemsize


SHAPES = [(), (5,), (2, 3), (2, 3, 4), (1, 3, 4, 5), (2, 20, 3, 2), (1, 2, 3, 4, 2)]
DTYPES = ["float32", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "bool"]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)) or "scalar")
@pytest.mark.parametrize("dtype", DTYPES)
def test_attr_queries_every_rank_and_type(rt: Rt, shape: Tuple[int, ...], dtype: str) -> None:
    quant = {"scale": 0.5, "zero_point": 3} if dtype in ("int8", "uint8", "int16") else {}
    h = rt.open([T("in put", shape, dtype, **quant)], [T("out", shape, dtype, **quant)])
    code = TYPE_CODES[dtype]
    es = np.dtype(NP_TYPES[code]).itemsize
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    four = len(shape) == 4
    a = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0)
    assert a.name == b"in put" and a.index == 0 and a.type == code
    assert a.n_elems == n and a.size == n * es and a.n_dims == len(shape)
    assert (a.qnt_type, a.zp, a.scale) == ((2, 3, 0.5) if quant else (0, 0, 1.0))
    if four:
        N, C, H, W = shape
        assert list(a.dims[:4]) == [N, H, W, C] and a.fmt == FMT_NHWC
        assert a.w_stride == W and a.size_with_stride == a.size
    else:
        assert list(a.dims[: len(shape)]) == list(shape) and a.fmt == FMT_UNDEFINED
        assert a.w_stride == 0 and a.size_with_stride == a.size
    o = rt.attr(h, _abi.RKNN_QUERY_OUTPUT_ATTR, 0)
    assert o.name == b"out" and o.type == code and o.n_elems == n and o.size == n * es
    assert list(o.dims[: len(shape)]) == list(shape) and o.w_stride == 0
    if four:
        N, C, H, W = shape
        c2 = _expected_c2(code)
        c1 = -(-C // c2)
        assert o.fmt == FMT_NCHW and o.size_with_stride == N * c1 * H * W * c2 * es
        native = rt.attr(h, _abi.RKNN_QUERY_NATIVE_OUTPUT_ATTR, 0)
        assert native.fmt == FMT_NC1HWC2 and native.n_dims == 5
        assert list(native.dims[:5]) == [N, c1, H, W, c2] and native.type == code
        assert native.size == native.size_with_stride == N * c1 * H * W * c2 * es
        nhwc = rt.attr(h, _abi.RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR, 0)
        assert nhwc.fmt == FMT_NHWC and list(nhwc.dims[:4]) == [N, H, W, C] and nhwc.size == n * es
        for cmd in (_abi.RKNN_QUERY_NATIVE_INPUT_ATTR, _abi.RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR):
            ni = rt.attr(h, cmd, 0)
            assert ni.fmt == FMT_NHWC and list(ni.dims[:4]) == [N, H, W, C] and ni.type == code
            assert ni.size == ni.size_with_stride == n * es and ni.w_stride == W
    else:
        assert o.fmt == FMT_UNDEFINED and o.size_with_stride == o.size
        for cmd, idx in ((_abi.RKNN_QUERY_NATIVE_INPUT_ATTR, "i"), (_abi.RKNN_QUERY_NATIVE_OUTPUT_ATTR, "o"),
                         (_abi.RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR, "i"), (_abi.RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR, "o")):
            native = rt.attr(h, cmd, 0)
            base = a if idx == "i" else o
            assert bytes(native) == bytes(base)
    # static model: CURRENT_* equal the plain queries
    pairs = [(_abi.RKNN_QUERY_CURRENT_INPUT_ATTR, _abi.RKNN_QUERY_INPUT_ATTR),
             (_abi.RKNN_QUERY_CURRENT_OUTPUT_ATTR, _abi.RKNN_QUERY_OUTPUT_ATTR),
             (_abi.RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR, _abi.RKNN_QUERY_NATIVE_INPUT_ATTR),
             (_abi.RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR, _abi.RKNN_QUERY_NATIVE_OUTPUT_ATTR)]
    for cur, plain in pairs:
        assert bytes(rt.attr(h, cur, 0)) == bytes(rt.attr(h, plain, 0))


def test_explicit_layouts_are_reported(rt: Rt) -> None:
    h = rt.open([T("a", (1, 3, 4, 5), layout="nchw"), T("b", (1, 3, 4, 5), layout="undefined")],
                [T("c", (1, 3, 4, 5), layout="nhwc")])
    a = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0)
    assert a.fmt == FMT_NCHW and list(a.dims[:4]) == [1, 3, 4, 5]
    b = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 1)
    assert b.fmt == FMT_UNDEFINED and list(b.dims[:4]) == [1, 3, 4, 5] and b.w_stride == 0
    c = rt.attr(h, _abi.RKNN_QUERY_OUTPUT_ATTR, 0)
    assert c.fmt == FMT_NHWC and list(c.dims[:4]) == [1, 4, 5, 3]


def test_non_4d_tensors_labelled_nchw(rt: Rt) -> None:
    ins, outs = [T("x", (2, 3), layout="nchw")], [T("y", (2, 3), layout="nchw")]
    h = rt.open(ins, outs)
    a, o = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0), rt.attr(h, _abi.RKNN_QUERY_OUTPUT_ATTR, 0)
    assert a.fmt == o.fmt == FMT_NCHW and a.w_stride == o.w_stride == 0
    x = rng_values((2, 3), 50)
    for fmt in (FMT_UNDEFINED, FMT_NCHW):
        np.testing.assert_array_equal(rt.infer(h, [x], [(2, 3)], fmts=[fmt])[0], x)
    assert rt.set_inputs(h, [x], fmts=[FMT_NHWC]) == -8
    m_in, m_out = rt.mem(h, a.size), rt.mem(h, o.size)
    _write(m_in, x)
    assert rt.api.rknn_set_io_mem(h, m_in, ctypes.byref(a)) == 0
    assert rt.api.rknn_set_io_mem(h, m_out, ctypes.byref(o)) == 0
    assert rt.run(h) == 0
    np.testing.assert_array_equal(_read(m_out, o.size, np.float32).reshape(2, 3), x)


def test_other_queries(rt: Rt) -> None:
    path = rt.model([T("x", (1, 4)), T("z", (2,))], [T("y", (1, 4))], custom_string="model=a b;ver=ü")
    h = rt.init(path)
    assert rt.io_num(h) == (2, 1)
    cs = _abi.rknn_custom_string()
    assert rt.query(h, _abi.RKNN_QUERY_CUSTOM_STRING, cs) == 0
    assert cs.string.decode() == "model=a b;ver=ü"
    v = _abi.rknn_sdk_version()
    assert rt.query(h, _abi.RKNN_QUERY_SDK_VERSION, v) == 0
    assert v.api_version.startswith(b"2.3.2 (sim ") and v.drv_version == b"0.9.8"
    assert rt.ctl.version().encode() in v.api_version
    ms = _abi.rknn_mem_size()
    assert rt.query(h, _abi.RKNN_QUERY_MEM_SIZE, ms) == 0
    assert ms.total_weight_size > 0 and ms.total_dma_allocated_size >= ms.total_weight_size + ms.total_internal_size
    old = (ctypes.c_uint32 * 2)()
    assert rt.api.rknn_query(h, _abi.RKNN_QUERY_MEM_SIZE, old, 8) == 0 and old[0] == ms.total_weight_size
    assert rt.api.rknn_query(h, _abi.RKNN_QUERY_MEM_SIZE, old, 7) == -5
    pd = _abi.rknn_perf_detail()
    assert rt.query(h, _abi.RKNN_QUERY_PERF_DETAIL, pd) == -1  # needs RKNN_FLAG_COLLECT_PERF_MASK
    assert rt.query(h, _abi.RKNN_QUERY_DEVICE_MEM_INFO, _abi.rknn_tensor_mem()) == -1
    rng = _abi.rknn_input_range()
    assert rt.query(h, _abi.RKNN_QUERY_INPUT_DYNAMIC_RANGE, rng) == -6  # static model, like 2.3.2
    h2 = rt.init(path, flags=_abi.RKNN_FLAG_COLLECT_PERF_MASK)
    rt.infer(h2, [np.ones((1, 4)), np.ones(2)], [(1, 4)])
    assert rt.query(h2, _abi.RKNN_QUERY_PERF_DETAIL, pd) == 0
    assert pd.data_len > 0 and ctypes.string_at(pd.perf_data, pd.data_len)
    pr = _abi.rknn_perf_run()
    assert rt.query(h2, _abi.RKNN_QUERY_PERF_RUN, pr) == 0 and pr.run_duration >= 0


def test_query_argument_checks(rt: Rt) -> None:
    h = rt.open([T("x", (1, 4))], [T("y", (1, 4))])
    a = _abi.rknn_tensor_attr()
    assert rt.query(h, _abi.RKNN_QUERY_INPUT_ATTR, a, 372) == -5  # a <=1.2 header's struct
    assert rt.query(h, _abi.RKNN_QUERY_INPUT_ATTR, a, 376) == 0
    assert rt.query(h, _abi.RKNN_QUERY_INPUT_ATTR, a, 400) == 0  # larger is accepted
    assert rt.api.rknn_query(h, _abi.RKNN_QUERY_INPUT_ATTR, None, 376) == -5
    assert rt.query(h, _abi.RKNN_QUERY_IN_OUT_NUM, _abi.rknn_input_output_num(), 7) == -5
    assert rt.query(h, _abi.RKNN_QUERY_SDK_VERSION, _abi.rknn_sdk_version(), 511) == -5
    assert rt.query(h, _abi.RKNN_QUERY_CUSTOM_STRING, _abi.rknn_custom_string(), 1023) == -5
    assert rt.query(h, 18, a) == -5 and rt.query(h, -1, a) == -5
    for cmd in (_abi.RKNN_QUERY_INPUT_ATTR, _abi.RKNN_QUERY_OUTPUT_ATTR, _abi.RKNN_QUERY_NATIVE_OUTPUT_ATTR):
        a.index = 1
        assert rt.query(h, cmd, a) == -5


# --------------------------------------------------------------------------------------------------
# Inputs, conversions, compute


def expected(ins: Sequence[Any], outs: Sequence[Any], feeds: Sequence[np.ndarray]) -> List[np.ndarray]:
    return simulator.expected_outputs(ins, outs, feeds)


def test_sum_rule_float32_multi_io(rt: Rt) -> None:
    ins = [T("a", (2, 3)), T("b", (4,)), T("c", ())]
    outs = [T("y0", (3, 4)), T("y1", (5,))]
    h = rt.open(ins, outs)
    feeds = [rng_values((2, 3), 1), rng_values((4,), 2), np.array(0.25, np.float32)]
    got = rt.infer(h, feeds, [(3, 4), (5,)])
    for g, e in zip(got, expected(ins, outs, feeds)):
        np.testing.assert_array_equal(g, e)
    # by hand for one element: out_1[4] = a[4 % 6] + b[4 % 4] + c + 1
    assert got[1][4] == np.float32(feeds[0].reshape(-1)[4] + feeds[1][0] + np.float32(0.25) + 1)


QUANT_CASES = [("int8", 0.1, -3), ("uint8", 0.5, 10), ("int16", 0.25, 7), ("int8", 1.0, 0), ("float16", None, 0),
               ("float32", None, 0), ("int32", None, 0), ("uint16", None, 0), ("bool", None, 0), ("int64", None, 0)]


@pytest.mark.parametrize("dtype,scale,zp", QUANT_CASES, ids=["{}-{}".format(c[0], c[1]) for c in QUANT_CASES])
def test_conversions_match_the_numpy_rule(rt: Rt, dtype: str, scale: Optional[float], zp: int) -> None:
    """Seeded random values with ties, saturation, NaN and inf, through every conversion of the model."""
    q = {"scale": scale, "zero_point": zp} if scale is not None else {}
    ins = [T("x", (4096,), dtype, **q)]
    outs = [T("y", (4096,), dtype, **q), T("f", (4096,)), T("h", (4096,), "float16")]
    h = rt.open(ins, outs)
    rng = np.random.default_rng(zlib.crc32("{}-{}".format(dtype, scale).encode()))
    x = rng.uniform(-300, 300, 4096).astype(np.float32)
    x[:512] = (rng.integers(-600, 600, 512) + 0.5).astype(np.float32) * np.float32(scale or 1.0)  # ties
    x[512:520] = [np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0, 3e-39]
    x[520:1024] = rng.uniform(-2, 2, 504).astype(np.float32)
    got = rt.infer(h, [x], [(4096,)] * 3)
    exp = expected(ins, outs, [x])
    for g, e in zip(got, exp):
        np.testing.assert_array_equal(g, e)


def test_nchw_vs_nhwc_sources(rt: Rt) -> None:
    ins, outs = [T("x", (1, 3, 2, 4))], [T("y", (1, 3, 2, 4))]
    h = rt.open(ins, outs)
    x = np.arange(24, dtype=np.float32).reshape(1, 3, 2, 4)
    via_nchw = rt.infer(h, [x], [(1, 3, 2, 4)], fmts=[FMT_NCHW])[0]
    np.testing.assert_array_equal(via_nchw, x)
    via_nhwc = rt.infer(h, [x.transpose(0, 2, 3, 1)], [(1, 3, 2, 4)], fmts=[FMT_NHWC])[0]
    np.testing.assert_array_equal(via_nhwc, x)
    mislabelled = rt.infer(h, [x], [(1, 3, 2, 4)], fmts=[FMT_NHWC])[0]
    assert not np.array_equal(mislabelled, x)
    np.testing.assert_array_equal(mislabelled, x.reshape(1, 2, 4, 3).transpose(0, 3, 1, 2))


def test_swapped_inputs_give_different_sums(rt: Rt) -> None:
    ins = [T("a", (8,), "int8", scale=0.1, zero_point=0), T("b", (8,), "int8", scale=0.01, zero_point=5)]
    outs = [T("y", (8,))]
    h = rt.open(ins, outs)
    a, b = rng_values((8,), 3), rng_values((8,), 4)
    straight = rt.infer(h, [a, b], [(8,)])[0]
    swapped = rt.infer(h, [b, a], [(8,)])[0]
    np.testing.assert_array_equal(straight, expected(ins, outs, [a, b])[0])
    assert not np.array_equal(straight, swapped)
    by_index = rt.infer(h, [b, a], [(8,)], indices=[1, 0])[0]
    np.testing.assert_array_equal(by_index, straight)


def test_int8_saturation_and_rounding(rt: Rt) -> None:
    ins = [T("x", (6,), "int8", scale=0.1, zero_point=-3)]
    outs = [T("y", (6,), "int8", scale=0.05, zero_point=10), T("f", (6,))]
    h = rt.open(ins, outs)
    x = np.array([100.0, -100.0, 0.25, 0.35, -0.05, 1.0], np.float32)
    got = rt.infer(h, [x], [(6,), (6,)])
    exp = expected(ins, outs, [x])
    np.testing.assert_array_equal(got[0], exp[0])
    np.testing.assert_array_equal(got[1], exp[1])
    # saturation of the input: 100 -> q=127 -> (127+3)*0.1 = 13.0; -100 -> q=-128 -> -12.5
    assert got[1][0] == np.float32((127 + 3) * np.float32(0.1)) + 1
    assert got[1][1] == np.float32((-128 + 3) * np.float32(0.1)) + 1
    # the int8 output saturates at (127 - 10) * 0.05
    assert got[0][0] == np.float32((127 - 10) * np.float32(0.05))
    raw = rt.outputs(h, [(6,), (6,)], want_float=False, types=[I8, F32])
    assert raw[0].dtype == np.int8 and raw[0][0] == 127 and raw[0][1] == -128


def test_float16_models(rt: Rt) -> None:
    ins, outs = [T("x", (2, 5), "float16")], [T("y", (2, 5), "float16")]
    h = rt.open(ins, outs)
    x = rng_values((2, 5), 5, -300, 300)
    got = rt.infer(h, [x], [(2, 5)])[0]
    np.testing.assert_array_equal(got, expected(ins, outs, [x])[0])
    np.testing.assert_array_equal(got, x.astype(np.float16).astype(np.float32))
    raw = rt.outputs(h, [(2, 5)], want_float=False, types=[F16])[0]
    np.testing.assert_array_equal(raw, x.astype(np.float16))
    # float16 and uint8 sources
    assert rt.set_inputs(h, [x.astype(np.float16)], types=[F16]) == 0 and rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(2, 5)])[0], x.astype(np.float16).astype(np.float32))
    u = np.arange(10, dtype=np.uint8).reshape(2, 5) * 25
    assert rt.set_inputs(h, [u], types=[U8]) == 0 and rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(2, 5)])[0], u.astype(np.float32))


def test_float16_conversion_edge_values(rt: Rt) -> None:
    h = rt.open([T("x", (12,), "float16")], [T("y", (12,))])
    x = np.array([0.0, -0.0, 1e-8, 6e-8, 5.96e-8, 65504.0, 65520.0, 1e6, -1e6, np.inf, 2049.0, 1.0 / 3], np.float32)
    got = rt.infer(h, [x], [(12,)])[0]
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, x.astype(np.float16).astype(np.float32))


def test_source_types_into_int8_model(rt: Rt) -> None:
    ins, outs = [T("x", (1, 2, 2, 3), "int8", scale=0.02, zero_point=4)], [T("y", (1, 2, 2, 3))]
    h = rt.open(ins, outs)
    x = rng_values((1, 2, 2, 3), 6)
    exp = expected(ins, outs, [x])[0]
    np.testing.assert_array_equal(rt.infer(h, [x], [(1, 2, 2, 3)])[0], exp)
    # float16 source: converted to float, then quantised
    assert rt.set_inputs(h, [x.astype(np.float16)], types=[F16]) == 0 and rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(1, 2, 2, 3)])[0],
                                  expected(ins, outs, [x.astype(np.float16).astype(np.float32)])[0])
    # uint8 source: values 0..255 quantised (saturating at 127 + ...)
    u = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
    assert rt.set_inputs(h, [u], types=[U8]) == 0 and rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(1, 2, 2, 3)])[0], expected(ins, outs, [u.astype(np.float32)])[0])
    # int8 source for an int8 model: already quantised with the model's parameters
    q = np.arange(-6, 6, dtype=np.int8).reshape(1, 2, 2, 3)
    assert rt.set_inputs(h, [q], types=[I8]) == 0 and rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(1, 2, 2, 3)])[0],
                                  ((q.astype(np.float32) - 4) * np.float32(0.02)).astype(np.float32))
    # pass_through: the native form (NHWC int8 for a 4-D input)
    assert rt.set_inputs(h, [q.transpose(0, 2, 3, 1)], types=[I8], fmts=[FMT_NHWC], pass_through=1) == 0
    assert rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(1, 2, 2, 3)])[0],
                                  ((q.astype(np.float32) - 4) * np.float32(0.02)).astype(np.float32))


def test_uint8_source_into_quantised_uint8_model_is_quantised(rt: Rt) -> None:
    ins, outs = [T("x", (4,), "uint8", scale=0.5, zero_point=10)], [T("y", (4,))]
    h = rt.open(ins, outs)
    u = np.array([0, 4, 7, 255], np.uint8)
    assert rt.set_inputs(h, [u], types=[U8]) == 0 and rt.run(h) == 0
    got = rt.outputs(h, [(4,)])[0]
    np.testing.assert_array_equal(got, expected(ins, outs, [u.astype(np.float32)])[0])
    assert got[3] == np.float32((255 - 10) * 0.5)  # 255 / 0.5 + 10 saturates at 255
    assert got[1] == np.float32(4.0)  # a raw copy would have given (4 - 10) * 0.5


@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "uint32", "int64", "bool"])
def test_same_type_sources_for_other_model_types(rt: Rt, dtype: str) -> None:
    ins, outs = [T("x", (5,), dtype)], [T("y", (5,), dtype), T("f", (5,))]
    h = rt.open(ins, outs)
    code = TYPE_CODES[dtype]
    values = np.array([0, 1, 1, 0, 1] if dtype == "bool" else [0, 1, 7, 100, 1], dtype=NP_TYPES[code])
    assert rt.set_inputs(h, [values], types=[code]) == 0 and rt.run(h) == 0
    got = rt.outputs(h, [(5,), (5,)])
    np.testing.assert_array_equal(got[1], expected(ins, outs, [values.astype(np.float32)])[1])
    raw = rt.outputs(h, [(5,), (5,)], want_float=False, types=[code, F32])[0]
    np.testing.assert_array_equal(raw, values)
    other = I32 if code != I32 else I16
    assert rt.set_inputs(h, [values.astype(NP_TYPES[other])], types=[other]) == -8


def test_inputs_set_rejections(rt: Rt) -> None:
    h = rt.open([T("img", (1, 3, 2, 2)), T("vec", (4,))], [T("y", (4,))])
    img, vec = np.ones((1, 3, 2, 2), np.float32), np.ones(4, np.float32)
    assert rt.set_inputs(h, [img, vec]) == 0
    assert rt.set_inputs(h, [img]) == -8  # count != model input count
    assert rt.set_inputs(h, [img, vec], indices=[0, 0]) == -8  # index set twice
    assert rt.set_inputs(h, [img, vec], indices=[0, 2]) == -8  # index out of range
    assert rt.set_inputs(h, [img, vec], sizes=[img.nbytes - 1, vec.nbytes]) == -8
    assert rt.set_inputs(h, [img.astype(np.int32), vec], types=[I32, F32]) == -8
    assert rt.set_inputs(h, [img, vec], fmts=[FMT_NC1HWC2, FMT_UNDEFINED]) == -8
    assert rt.set_inputs(h, [img, vec], fmts=[FMT_UNDEFINED, FMT_UNDEFINED]) == -8  # 4-D reported NHWC
    assert rt.set_inputs(h, [img, vec], fmts=[FMT_NCHW, FMT_NCHW]) == -8  # non-4-D takes UNDEFINED only
    ins = (_abi.rknn_input * 2)()
    ins[0].index, ins[0].size, ins[0].fmt = 0, img.nbytes, FMT_NCHW
    ins[1].index, ins[1].buf, ins[1].size, ins[1].fmt = 1, vec.ctypes.data, vec.nbytes, FMT_UNDEFINED
    assert rt.api.rknn_inputs_set(h, 2, ins) == -8  # NULL buf
    assert rt.api.rknn_inputs_set(h, 2, None) == -5
    # a failed inputs_set leaves the context without inputs
    assert rt.run(h) == -1


def test_runs_are_counted_once_and_only_when_successful(rt: Rt) -> None:
    h = rt.open([T("x", (2,))], [T("y", (2,))])
    start = rt.ctl.counter("runs")
    assert rt.run(h) == -1  # no inputs
    assert rt.set_inputs(h, [np.ones(2, np.float32)]) == 0
    for _ in range(3):
        assert rt.run(h) == 0
    assert rt.ctl.counter("runs") == start + 3


def test_run_requires_inputs_and_refuses_info_only(rt: Rt) -> None:
    path = rt.model([T("x", (2,))], [T("y", (2,))])
    h = rt.init(path)
    assert rt.run(h) == -1
    ext = _abi.rknn_run_extend()
    ext.non_block = 1
    assert rt.set_inputs(h, [np.ones(2, np.float32)]) == 0
    assert rt.api.rknn_run(h, ctypes.byref(ext)) == -1
    ext.non_block = 0
    assert rt.api.rknn_run(h, ctypes.byref(ext)) == 0
    info = rt.init(path, flags=_abi.RKNN_FLAG_COLLECT_MODEL_INFO_ONLY)
    assert rt.set_inputs(info, [np.ones(2, np.float32)]) == 0
    assert rt.run(info) == -1
    ms = _abi.rknn_mem_size()
    assert rt.query(info, _abi.RKNN_QUERY_MEM_SIZE, ms) == 0 and ms.total_internal_size > 0


# --------------------------------------------------------------------------------------------------
# Outputs


def test_outputs_get_modes_and_release_accounting(rt: Rt) -> None:
    ins, outs = [T("x", (3,), "int8", scale=0.1, zero_point=0)], [T("y", (3,), "int8", scale=0.1, zero_point=0), T("z", (2,))]
    h = rt.open(ins, outs)
    out = (_abi.rknn_output * 2)()
    out[0].index, out[1].index = 0, 1
    assert rt.api.rknn_outputs_get(h, 2, out, None) == -1  # before any run
    assert rt.set_inputs(h, [np.array([0.1, 0.2, 0.3], np.float32)]) == 0 and rt.run(h) == 0
    assert rt.api.rknn_outputs_get(h, 1, out, None) == -9
    assert rt.api.rknn_outputs_get(h, 3, out, None) == -9
    out[1].index = 5
    assert rt.api.rknn_outputs_get(h, 2, out, None) == -9
    out[1].index = 0
    assert rt.api.rknn_outputs_get(h, 2, out, None) == -9  # index twice
    out[1].index = 1
    start = rt.ctl.counter("unreleased_outputs")
    assert rt.api.rknn_outputs_get(h, 2, out, None) == 0
    assert rt.ctl.counter("unreleased_outputs") == start + 2
    assert out[0].size == 3 and out[1].size == 8
    assert list(ctypes.cast(out[0].buf, ctypes.POINTER(ctypes.c_int8))[:3]) == [1, 2, 3]
    before = violations(rt.ctl)
    assert rt.api.rknn_outputs_release(h, 2, out) == 0
    assert rt.ctl.counter("unreleased_outputs") == start
    assert violations(rt.ctl) == before
    assert rt.api.rknn_outputs_release(h, 2, out) == 0  # releasing again: a violation, not a crash
    assert violations(rt.ctl) == before + 2
    foreign = ctypes.create_string_buffer(16)
    bogus = (_abi.rknn_output * 1)()
    bogus[0].buf = ctypes.cast(foreign, ctypes.c_void_p)
    assert rt.api.rknn_outputs_release(h, 1, bogus) == 0
    assert violations(rt.ctl) == before + 3
    # preallocated buffers: written in place, too small -> -9, release is a no-op
    pre = (_abi.rknn_output * 2)()
    bufs = [ctypes.create_string_buffer(12), ctypes.create_string_buffer(8)]
    for k in range(2):
        pre[k].index, pre[k].is_prealloc, pre[k].want_float = k, 1, 1
        pre[k].buf, pre[k].size = ctypes.cast(bufs[k], ctypes.c_void_p), len(bufs[k])
    pre[1].size = 7
    assert rt.api.rknn_outputs_get(h, 2, pre, None) == -9
    pre[1].size = 8
    assert rt.api.rknn_outputs_get(h, 2, pre, None) == 0
    np.testing.assert_allclose(np.frombuffer(bufs[0].raw, np.float32), [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(np.frombuffer(bufs[1].raw, np.float32), [1.1, 1.2], rtol=1e-6)
    assert rt.api.rknn_outputs_release(h, 2, pre) == 0
    assert rt.ctl.counter("unreleased_outputs") == start and violations(rt.ctl) == before + 3


def test_destroy_with_unreleased_outputs_frees_them_and_counts_a_violation(rt: Rt) -> None:
    h = rt.open([T("x", (3,))], [T("y", (3,))])
    assert rt.set_inputs(h, [np.ones(3, np.float32)]) == 0 and rt.run(h) == 0
    out = (_abi.rknn_output * 1)()
    start, before = rt.ctl.counter("unreleased_outputs"), violations(rt.ctl)
    assert rt.api.rknn_outputs_get(h, 1, out, None) == 0
    assert rt.ctl.counter("unreleased_outputs") == start + 1
    assert rt.destroy(h) == 0
    assert rt.ctl.counter("unreleased_outputs") == start
    assert violations(rt.ctl) == before + 1


# --------------------------------------------------------------------------------------------------
# Zero copy


def _write(mem: Any, data: np.ndarray, offset: int = 0) -> None:
    m = mem.contents
    ctypes.memmove(m.virt_addr + m.offset + offset, np.ascontiguousarray(data).ctypes.data, data.nbytes)


def _read(mem: Any, nbytes: int, dtype: Any) -> np.ndarray:
    m = mem.contents
    return np.frombuffer(ctypes.string_at(m.virt_addr + m.offset, nbytes), dtype=dtype).copy()


def test_zero_copy_native_and_converted_bindings(rt: Rt) -> None:
    ins = [T("img", (1, 3, 4, 5), "int8", scale=0.05, zero_point=2), T("vec", (7,), "float16")]
    outs = [T("o4", (1, 20, 4, 5), "int8", scale=0.1, zero_point=-1), T("o2", (3, 7), "float16")]
    h = rt.open(ins, outs)
    x_img, x_vec = rng_values((1, 3, 4, 5), 10), rng_values((7,), 11)
    exp = expected(ins, outs, [x_img, x_vec])
    # inputs: native attrs (NHWC int8; float16 vector)
    a_img = rt.attr(h, _abi.RKNN_QUERY_NATIVE_INPUT_ATTR, 0)
    a_vec = rt.attr(h, _abi.RKNN_QUERY_NATIVE_INPUT_ATTR, 1)
    m_img, m_vec = rt.mem(h, a_img.size_with_stride), rt.mem(h, a_vec.size)
    q_img = np.clip(np.rint(x_img / np.float32(0.05)) + 2, -128, 127).astype(np.int8)
    _write(m_img, q_img.transpose(0, 2, 3, 1))
    _write(m_vec, x_vec.astype(np.float16))
    assert rt.api.rknn_set_io_mem(h, m_img, ctypes.byref(a_img)) == 0
    assert rt.api.rknn_set_io_mem(h, m_vec, ctypes.byref(a_vec)) == 0
    # outputs: native NC1HWC2 int8 and a float16 vector
    o4 = rt.attr(h, _abi.RKNN_QUERY_NATIVE_OUTPUT_ATTR, 0)
    o2 = rt.attr(h, _abi.RKNN_QUERY_NATIVE_OUTPUT_ATTR, 1)
    assert list(o4.dims[:5]) == [1, 2, 4, 5, 16]
    m_o4, m_o2 = rt.mem(h, o4.size_with_stride), rt.mem(h, o2.size)
    assert rt.api.rknn_set_io_mem(h, m_o4, ctypes.byref(o4)) == 0
    assert rt.api.rknn_set_io_mem(h, m_o2, ctypes.byref(o2)) == 0
    before = violations(rt.ctl)
    assert rt.run(h) == 0
    native = _read(m_o4, o4.size, np.int8).reshape(1, 2, 4, 5, 16)
    logical = native.transpose(0, 1, 4, 2, 3).reshape(1, 32, 4, 5)[:, :20]
    np.testing.assert_array_equal((logical.astype(np.float32) + 1) * np.float32(0.1), exp[0])
    assert not native[:, 1, :, :, 4:].any()  # channel padding is zero
    np.testing.assert_array_equal(_read(m_o2, o2.size, np.float16).astype(np.float32).reshape(3, 7), exp[1])
    # outputs_get still works after a zero-copy run
    np.testing.assert_array_equal(rt.outputs(h, [(1, 20, 4, 5), (3, 7)])[0], exp[0])
    # re-bind the 4-D output as NHWC int8 and as float32 NCHW
    nhwc = rt.attr(h, _abi.RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR, 0)
    m_nhwc = rt.mem(h, nhwc.size)
    assert rt.api.rknn_set_io_mem(h, m_nhwc, ctypes.byref(nhwc)) == 0
    assert rt.run(h) == 0
    got = _read(m_nhwc, nhwc.size, np.int8).reshape(1, 4, 5, 20).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal((got.astype(np.float32) + 1) * np.float32(0.1), exp[0])
    f32 = rt.attr(h, _abi.RKNN_QUERY_OUTPUT_ATTR, 0)
    f32.type = F32
    m_f32 = rt.mem(h, f32.n_elems * 4)
    assert rt.api.rknn_set_io_mem(h, m_f32, ctypes.byref(f32)) == 0
    assert rt.run(h) == 0
    np.testing.assert_array_equal(_read(m_f32, f32.n_elems * 4, np.float32).reshape(1, 20, 4, 5), exp[0])
    assert violations(rt.ctl) == before


def test_zero_copy_float_input_with_row_stride(rt: Rt) -> None:
    ins, outs = [T("x", (1, 2, 3, 4))], [T("y", (1, 2, 3, 4))]
    h = rt.open(ins, outs)
    x = rng_values((1, 2, 3, 4), 12)
    a = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0)  # NHWC float32
    a.w_stride = 6  # rows padded to 6 pixels
    m = rt.mem(h, 1 * 3 * 6 * 2 * 4)
    padded = np.full((1, 3, 6, 2), 99.0, np.float32)
    padded[:, :, :4, :] = x.transpose(0, 2, 3, 1)
    _write(m, padded)
    assert rt.api.rknn_set_io_mem(h, m, ctypes.byref(a)) == 0
    assert rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(1, 2, 3, 4)])[0], x)
    a.w_stride = 3  # narrower than W
    assert rt.api.rknn_set_io_mem(h, m, ctypes.byref(a)) == -5
    a.w_stride, a.h_stride = 2**31, 2**31  # absurd strides: no buffer is big enough, no overflow
    assert rt.api.rknn_set_io_mem(h, m, ctypes.byref(a)) == -5


def test_zero_copy_multi_batch_row_and_image_padding(rt: Rt) -> None:
    ins, outs = [T("x", (2, 3, 2, 4), "int8", scale=0.5, zero_point=1)], [T("y", (2, 3, 2, 4), "int8", scale=0.5, zero_point=1)]
    h = rt.open(ins, outs)
    q = np.arange(48, dtype=np.int8).reshape(2, 3, 2, 4)
    a = rt.attr(h, _abi.RKNN_QUERY_NATIVE_INPUT_ATTR, 0)
    a.w_stride, a.h_stride = 5, 3
    padded = np.full((2, 3, 5, 3), 99, np.int8)  # N, h_stride, w_stride, C
    padded[:, :2, :4, :] = q.transpose(0, 2, 3, 1)
    m = rt.mem(h, padded.nbytes)
    _write(m, padded)
    small = rt.mem(h, padded.nbytes - 1)
    assert rt.api.rknn_set_io_mem(h, small, ctypes.byref(a)) == -5
    assert rt.api.rknn_set_io_mem(h, m, ctypes.byref(a)) == 0
    o = rt.attr(h, _abi.RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR, 0)
    o.w_stride, o.h_stride = 6, 4
    mo = rt.mem(h, 2 * 4 * 6 * 3)
    assert rt.api.rknn_set_io_mem(h, mo, ctypes.byref(o)) == 0
    assert rt.run(h) == 0
    out = _read(mo, 2 * 4 * 6 * 3, np.int8).reshape(2, 4, 6, 3)
    np.testing.assert_array_equal(out[:, :2, :4, :].transpose(0, 3, 1, 2), q)
    assert not out[:, 2:].any() and not out[:, :, 4:].any()  # padding zero-filled


def test_zero_copy_buffer_in_model_type_is_native(rt: Rt) -> None:
    ins, outs = [T("x", (4,), "uint8", scale=0.5, zero_point=10)], [T("y", (4,))]
    h = rt.open(ins, outs)
    a = rt.attr(h, _abi.RKNN_QUERY_NATIVE_INPUT_ATTR, 0)
    assert a.type == U8 and a.pass_through == 0
    m = rt.mem(h, a.size)
    q = np.array([10, 12, 0, 255], np.uint8)
    _write(m, q)
    assert rt.api.rknn_set_io_mem(h, m, ctypes.byref(a)) == 0
    assert rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(4,)])[0], (q.astype(np.float32) - 10) * np.float32(0.5))


def test_set_io_mem_checks(rt: Rt) -> None:
    h = rt.open([T("x", (1, 3, 2, 2))], [T("y", (8,))])
    a = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0)
    small = rt.mem(h, a.size - 1)
    assert rt.api.rknn_set_io_mem(h, small, ctypes.byref(a)) == -5
    big = rt.mem(h, a.size)
    for field, value in (("name", b"nope"), ("name", b""), ("index", 1), ("fmt", FMT_NC1HWC2), ("type", I32)):
        bad = _abi.rknn_tensor_attr.from_buffer_copy(a)
        setattr(bad, field, value)
        assert rt.api.rknn_set_io_mem(h, big, ctypes.byref(bad)) == -5, field
    assert rt.api.rknn_set_io_mem(h, None, ctypes.byref(a)) == -5
    assert rt.api.rknn_set_io_mem(h, big, None) == -5
    o = rt.attr(h, _abi.RKNN_QUERY_OUTPUT_ATTR, 0)
    o.fmt = FMT_NCHW  # non-4-D outputs are UNDEFINED
    assert rt.api.rknn_set_io_mem(h, big, ctypes.byref(o)) == -5
    # a bound memory destroyed before the run: the run fails (and counts a violation), no crash
    before = violations(rt.ctl)
    m = rt.api.rknn_create_mem(h, a.size)
    assert rt.api.rknn_set_io_mem(h, m, ctypes.byref(a)) == 0
    assert rt.api.rknn_destroy_mem(h, m) == 0
    assert rt.run(h) == -1
    assert violations(rt.ctl) == before + 1


def test_mixing_inputs_set_and_set_io_mem_is_a_violation(rt: Rt) -> None:
    ins, outs = [T("x", (4,))], [T("y", (4,))]
    h = rt.open(ins, outs)
    a = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0)
    m = rt.mem(h, a.size)
    _write(m, np.full(4, 2.0, np.float32))
    before = violations(rt.ctl)
    assert rt.set_inputs(h, [np.ones(4, np.float32)]) == 0
    assert rt.api.rknn_set_io_mem(h, m, ctypes.byref(a)) == 0
    assert violations(rt.ctl) == before + 1
    assert rt.run(h) == 0  # the later (zero-copy) mode wins
    np.testing.assert_array_equal(rt.outputs(h, [(4,)])[0], np.full(4, 2.0, np.float32))
    assert rt.set_inputs(h, [np.ones(4, np.float32)]) == 0
    assert violations(rt.ctl) == before + 2
    assert rt.run(h) == 0
    np.testing.assert_array_equal(rt.outputs(h, [(4,)])[0], np.ones(4, np.float32))


def test_memory_objects(rt: Rt) -> None:
    h = rt.open([T("x", (4,))], [T("y", (4,))])
    live = rt.ctl.counter("live_mems")
    assert not rt.api.rknn_create_mem(h, 0)
    m = rt.api.rknn_create_mem(h, 64)
    assert m and rt.ctl.counter("live_mems") == live + 1
    mc = m.contents
    assert mc.size == 64 and mc.flags == 1 and mc.offset == 0 and mc.virt_addr
    assert ctypes.string_at(mc.virt_addr, 64) == b"\0" * 64
    for mode in (1, 2, 3):
        assert rt.api.rknn_mem_sync(h, m, mode) == 0
    assert rt.api.rknn_mem_sync(h, m, 0) == -5 and rt.api.rknn_mem_sync(h, m, 4) == -5
    # the memfd can be imported like a dma-buf, with or without a mapping
    if mc.fd >= 0:
        ctypes.memmove(mc.virt_addr, b"hello", 5)
        imp = rt.api.rknn_create_mem_from_fd(h, mc.fd, None, 64, 8)
        assert imp and imp.contents.flags == 2 and imp.contents.offset == 8 and imp.contents.fd == mc.fd
        assert ctypes.string_at(imp.contents.virt_addr, 5) == b"hello"
        wrapped = rt.api.rknn_create_mem_from_fd(h, mc.fd, mc.virt_addr, 64, 0)
        assert wrapped and wrapped.contents.virt_addr == mc.virt_addr
        assert rt.api.rknn_destroy_mem(h, imp) == 0 and rt.api.rknn_destroy_mem(h, wrapped) == 0
    assert not rt.api.rknn_create_mem_from_fd(h, -1, None, 64, 0)
    if mc.fd >= 0:
        assert not rt.api.rknn_create_mem_from_fd(h, mc.fd, None, 128, 0)  # beyond the end of the memfd
    assert not rt.api.rknn_create_mem_from_fd(h, 0, None, 64, 64)
    buf = ctypes.create_string_buffer(32)
    phys = rt.api.rknn_create_mem_from_phys(h, 0x1000, ctypes.cast(buf, ctypes.c_void_p), 32)
    assert phys and phys.contents.flags == 3 and phys.contents.phys_addr == 0x1000
    assert not rt.api.rknn_create_mem_from_phys(h, 0x1000, None, 32)
    assert rt.api.rknn_destroy_mem(h, phys) == 0
    # create_mem2: flags, and ALLOC_NO_CONTEXT allows context 0
    assert not rt.api.rknn_create_mem2(0, 64, 0)
    assert not rt.api.rknn_create_mem2(h, 64, 0x1000)
    free_mem = rt.api.rknn_create_mem2(0, 64, _abi.RKNN_MEM_FLAG_ALLOC_NO_CONTEXT | 1)
    assert free_mem
    c2 = rt.api.rknn_create_mem2(h, 128, 2)
    assert c2 and c2.contents.size == 128
    assert rt.api.rknn_destroy_mem(0, c2) == -7  # only NO_CONTEXT memory may be destroyed without a context
    assert rt.api.rknn_destroy_mem(h, c2) == 0
    assert rt.api.rknn_destroy_mem(0, free_mem) == 0
    assert rt.api.rknn_destroy_mem(h, m) == 0
    assert rt.ctl.counter("live_mems") == live
    before = violations(rt.ctl)
    assert rt.api.rknn_destroy_mem(h, m) == -5  # double destroy: no crash
    assert rt.api.rknn_mem_sync(h, m, 1) == -5
    fake = _abi.rknn_tensor_mem()
    assert rt.api.rknn_destroy_mem(h, ctypes.byref(fake)) == -5
    assert violations(rt.ctl) == before + 2


def test_weight_and_internal_memory_need_alloc_outside(rt: Rt) -> None:
    path = rt.model([T("x", (4,))], [T("y", (4,))])
    plain = rt.init(path)
    m = rt.mem(plain, 1 << 16)
    assert rt.api.rknn_set_weight_mem(plain, m) == -1
    assert rt.api.rknn_set_internal_mem(plain, m) == -1
    h = rt.init(path, flags=_abi.RKNN_FLAG_MEM_ALLOC_OUTSIDE)
    ms = _abi.rknn_mem_size()
    assert rt.query(h, _abi.RKNN_QUERY_MEM_SIZE, ms) == 0
    assert rt.set_inputs(h, [np.ones(4, np.float32)]) == 0
    assert rt.run(h) == -1  # weight and internal memory missing
    small = rt.mem(h, max(ms.total_weight_size - 1, 1))
    assert rt.api.rknn_set_weight_mem(h, small) == -5
    assert rt.api.rknn_set_weight_mem(h, m) == 0
    assert rt.run(h) == -1
    assert rt.api.rknn_set_internal_mem(h, m) == 0
    assert rt.run(h) == 0
    i_only = rt.init(path, flags=_abi.RKNN_FLAG_INTERNAL_ALLOC_OUTSIDE)
    assert rt.api.rknn_set_weight_mem(i_only, m) == -1
    assert rt.set_inputs(i_only, [np.ones(4, np.float32)]) == 0 and rt.run(i_only) == -1
    assert rt.api.rknn_set_internal_mem(i_only, m) == 0 and rt.run(i_only) == 0


# --------------------------------------------------------------------------------------------------
# Contexts: dup, concurrency, weight sharing


def test_dup_context_shares_the_model_with_fresh_state(rt: Rt) -> None:
    ins, outs = [T("x", (4,))], [T("y", (4,))]
    h = rt.open(ins, outs, custom_string="dup")
    assert rt.api.rknn_set_core_mask(h, 2) == 0
    d = rt.dup(h)
    assert d != h and rt.io_num(d) == (1, 1)
    cs = _abi.rknn_custom_string()
    assert rt.query(d, _abi.RKNN_QUERY_CUSTOM_STRING, cs) == 0 and cs.string == b"dup"
    assert rt.run(d) == -1  # no inputs of its own
    np.testing.assert_array_equal(rt.infer(d, [np.arange(4)], [(4,)])[0], np.arange(4, dtype=np.float32))
    assert rt.destroy(h) == 0  # destroying the original first is fine
    np.testing.assert_array_equal(rt.infer(d, [np.ones(4)], [(4,)])[0], np.ones(4, np.float32))
    a, b = ctypes.c_uint64(d), ctypes.c_uint64(0)
    assert rt.api.rknn_dup_context(None, ctypes.byref(b)) == -5
    assert rt.api.rknn_dup_context(ctypes.byref(a), None) == -5
    a.value = 999
    assert rt.api.rknn_dup_context(ctypes.byref(a), ctypes.byref(b)) == -7


def test_two_threads_on_one_context_are_refused(rt: Rt) -> None:
    h = rt.open([T("x", (4,))], [T("y", (4,))], latency_us=200_000)
    assert rt.set_inputs(h, [np.ones(4, np.float32)]) == 0
    before = violations(rt.ctl)
    result: Dict[str, int] = {}
    started = threading.Event()

    def runner() -> None:
        started.set()
        rc = -1
        while rc == -1:  # the querying thread may hold the context first: then this call is the refused one
            rc = rt.run(h)
        result["run"] = rc

    t = threading.Thread(target=runner)
    t.start()
    started.wait()
    codes = set()
    info = _abi.rknn_input_output_num()
    while t.is_alive():
        codes.add(rt.query(h, _abi.RKNN_QUERY_IN_OUT_NUM, info))
    t.join()
    assert result["run"] == 0
    assert -1 in codes
    assert violations(rt.ctl) > before
    # the refused calls had no effect: the context still works
    assert rt.query(h, _abi.RKNN_QUERY_IN_OUT_NUM, info) == 0


def test_different_contexts_run_concurrently(rt: Rt) -> None:
    h = rt.open([T("x", (4,))], [T("y", (4,))], latency_us=100_000)
    d = rt.dup(h)
    for ctx, mask in ((h, 1), (d, 2)):
        assert rt.api.rknn_set_core_mask(ctx, mask) == 0
        assert rt.set_inputs(ctx, [np.ones(4, np.float32)]) == 0
    before = violations(rt.ctl)
    codes: List[int] = []
    threads = [threading.Thread(target=lambda c=c: codes.append(rt.run(c))) for c in (h, d)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [0, 0] and violations(rt.ctl) == before


def test_weight_sharing_rules(rt: Rt) -> None:
    ins, outs = [T("x", (4,))], [T("y", (4,))]
    master_path = rt.model(ins, outs, weights_id="w1")
    slave_path = rt.model([T("x", (2,))], [T("y", (2,))], weights_from="w1")
    wrong_path = rt.model([T("x", (2,))], [T("y", (2,))], weights_from="w2")
    other_weights = rt.model(ins, outs, weights_id="w2")
    master = rt.init(master_path)
    ext = _abi.rknn_init_extend()
    ext.ctx = master
    share = _abi.RKNN_FLAG_SHARE_WEIGHT_MEM
    assert rt.init_rc(slave_path)[0] == -6  # weight-less model without the flag
    assert rt.init_rc(slave_path, share)[0] == -5  # flag without extend
    assert rt.init_rc(wrong_path, share, ext)[0] == -6
    assert rt.init_rc(other_weights, share, ext)[0] == -6
    dead = _abi.rknn_init_extend()
    dead.ctx = 77
    assert rt.init_rc(slave_path, share, dead)[0] == -7
    slave = rt.init(slave_path, share, ext)
    same = rt.init(master_path, share, ext)  # a model with the same weights may share too
    ms = _abi.rknn_mem_size()
    assert rt.query(slave, _abi.RKNN_QUERY_MEM_SIZE, ms) == 0 and ms.total_weight_size == 0
    assert rt.destroy(same) == 0
    d = rt.dup(master)
    before = violations(rt.ctl)
    assert rt.destroy(master) == 0
    assert violations(rt.ctl) == before  # the duplicate still runs the master's model
    assert rt.destroy(d) == 0
    assert violations(rt.ctl) == before + 1  # the weights' owner is gone while `slave` lives
    np.testing.assert_array_equal(rt.infer(slave, [np.ones(2)], [(2,)])[0], np.ones(2, np.float32))


# --------------------------------------------------------------------------------------------------
# Dynamic shapes


def test_dynamic_shapes(rt: Rt) -> None:
    ins = [T("img", (1, 3, 4, 4), shapes=[(1, 3, 4, 4), (1, 3, 8, 6), (2, 3, 2, 2)]),
           T("v", (4,), shapes=[(4,), (6,), (2,)])]
    outs = [T("o", (1, 3, 4, 4), shapes=[(1, 3, 4, 4), (1, 3, 8, 6), (2, 3, 2, 2)]), T("s", (5,))]
    h = rt.open(ins, outs)
    rng = _abi.rknn_input_range()
    rng.index = 0
    assert rt.query(h, _abi.RKNN_QUERY_INPUT_DYNAMIC_RANGE, rng) == 0
    assert rng.shape_number == 3 and rng.n_dims == 4 and rng.fmt == FMT_NHWC and rng.name == b"img"
    assert [list(rng.dyn_range[s][:4]) for s in range(3)] == [[1, 4, 4, 3], [1, 8, 6, 3], [2, 2, 2, 3]]
    rng.index = 1
    assert rt.query(h, _abi.RKNN_QUERY_INPUT_DYNAMIC_RANGE, rng) == 0
    assert [list(rng.dyn_range[s][:1]) for s in range(3)] == [[4], [6], [2]] and rng.fmt == FMT_UNDEFINED
    rng.index = 2
    assert rt.query(h, _abi.RKNN_QUERY_INPUT_DYNAMIC_RANGE, rng) == -5

    def shapes_attrs(img: Sequence[int], v: Sequence[int], img_fmt: int = FMT_NHWC) -> Any:
        attrs = (_abi.rknn_tensor_attr * 2)()
        attrs[0].index, attrs[0].n_dims, attrs[0].fmt = 0, 4, img_fmt
        attrs[0].dims[:4] = list(img)
        attrs[1].index, attrs[1].n_dims, attrs[1].fmt = 1, 1, FMT_UNDEFINED
        attrs[1].dims[0] = v[0]
        return attrs

    assert rt.api.rknn_set_input_shapes(h, 2, shapes_attrs((1, 8, 6, 3), (6,))) == 0
    cur = rt.attr(h, _abi.RKNN_QUERY_CURRENT_INPUT_ATTR, 0)
    assert list(cur.dims[:4]) == [1, 8, 6, 3] and cur.n_elems == 144
    assert list(rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, 0).dims[:4]) == [1, 4, 4, 3]
    co = rt.attr(h, _abi.RKNN_QUERY_CURRENT_OUTPUT_ATTR, 0)
    assert list(co.dims[:4]) == [1, 3, 8, 6]
    assert list(rt.attr(h, _abi.RKNN_QUERY_CURRENT_OUTPUT_ATTR, 1).dims[:1]) == [5]
    cn = rt.attr(h, _abi.RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR, 0)
    assert list(cn.dims[:5]) == [1, 1, 8, 6, 4]
    feeds = [rng_values((1, 3, 8, 6), 20), rng_values((6,), 21)]
    got = rt.infer(h, feeds, [(1, 3, 8, 6), (5,)])
    for g, e in zip(got, expected(ins, outs, feeds)):
        np.testing.assert_array_equal(g, e)
    # the old shape's buffer no longer fits
    assert rt.set_inputs(h, [rng_values((1, 3, 4, 4), 1), rng_values((4,), 2)]) == -8
    # UNDEFINED takes model-order dims
    assert rt.api.rknn_set_input_shapes(h, 2, shapes_attrs((2, 3, 2, 2), (2,), FMT_UNDEFINED)) == 0
    assert list(rt.attr(h, _abi.RKNN_QUERY_CURRENT_INPUT_ATTR, 0).dims[:4]) == [2, 2, 2, 3]
    assert rt.run(h) == -1  # new shapes need new inputs
    # rejections: cross-combination of rows, NCHW, wrong counts, unknown shape
    assert rt.api.rknn_set_input_shapes(h, 2, shapes_attrs((1, 8, 6, 3), (4,))) == -5
    assert rt.api.rknn_set_input_shapes(h, 2, shapes_attrs((1, 3, 8, 6), (6,), FMT_NCHW)) == -5
    assert rt.api.rknn_set_input_shapes(h, 1, shapes_attrs((1, 8, 6, 3), (6,))) == -5
    assert rt.api.rknn_set_input_shapes(h, 2, shapes_attrs((1, 9, 6, 3), (6,))) == -5
    dup_in, dup_out = ctypes.c_uint64(h), ctypes.c_uint64(0)
    assert rt.api.rknn_dup_context(ctypes.byref(dup_in), ctypes.byref(dup_out)) == -1


def test_set_input_shapes_on_static_model_fails(rt: Rt) -> None:
    h = rt.open([T("x", (4,))], [T("y", (4,))])
    attrs = (_abi.rknn_tensor_attr * 1)()
    attrs[0].n_dims, attrs[0].dims[0], attrs[0].fmt = 1, 4, FMT_UNDEFINED
    assert rt.api.rknn_set_input_shapes(h, 1, attrs) == -1


# --------------------------------------------------------------------------------------------------
# Custom ops


class Op:
    """A custom op implemented in Python: y_j = x_0 * attr("gain") + j, recording its calls."""

    def __init__(self, op_type: bytes, get_attr: Any = None, with_init: bool = True, init_rc: int = 0) -> None:
        self.get_attr = get_attr
        self.calls: Dict[str, int] = {"init": 0, "prepare": 0, "compute": 0, "destroy": 0}
        self.attrs: Dict[str, Any] = {}
        self.seen_priv: List[int] = []
        self.init_rc = init_rc
        cb, db = _abi.rknn_custom_op_callback, _abi.rknn_custom_op_destroy_callback
        self.c_init = cb(self._init)
        self.c_prepare = cb(self._prepare)
        self.c_compute = cb(self._compute)
        self.c_destroy = db(self._destroy)
        self.struct = _abi.rknn_custom_op()
        self.struct.version = 1
        self.struct.target = _abi.RKNN_TARGET_TYPE_CPU
        self.struct.op_type = op_type
        if with_init:
            self.struct.init = self.c_init
        self.struct.prepare = self.c_prepare
        self.struct.compute = self.c_compute
        self.struct.destroy = self.c_destroy

    def _init(self, ctx: Any, ins: Any, n_in: int, outs: Any, n_out: int) -> int:
        self.calls["init"] += 1
        ctx.contents.priv_data = 0x1234
        return self.init_rc

    def _prepare(self, ctx: Any, ins: Any, n_in: int, outs: Any, n_out: int) -> int:
        self.calls["prepare"] += 1
        return 0

    def _compute(self, ctx: Any, ins: Any, n_in: int, outs: Any, n_out: int) -> int:
        self.calls["compute"] += 1
        self.seen_priv.append(ctx.contents.priv_data or 0)
        for name in ("gain", "missing"):
            a = _abi.rknn_custom_op_attr()
            self.get_attr(ctx, name.encode(), ctypes.byref(a))
            self.attrs[name] = (a.dtype, a.n_elems, a.name,
                                np.ctypeslib.as_array(ctypes.cast(a.data, ctypes.POINTER(ctypes.c_float)), (a.n_elems,)).copy()
                                if a.n_elems else None)
        gain = float(self.attrs["gain"][3][0])
        x = ins[0]
        assert x.attr.type == F32
        n = x.attr.n_elems
        xin = np.ctypeslib.as_array(ctypes.cast(x.mem.virt_addr + x.mem.offset, ctypes.POINTER(ctypes.c_float)), (n,))
        for j in range(n_out):
            o = outs[j]
            arr = np.ctypeslib.as_array(ctypes.cast(o.mem.virt_addr + o.mem.offset, ctypes.POINTER(ctypes.c_float)),
                                        (o.attr.n_elems,))
            arr[:] = xin[: o.attr.n_elems] * gain + j
        return 0

    def _destroy(self, ctx: Any) -> int:
        self.calls["destroy"] += 1
        return 0


def test_custom_op_registered_and_called(rt: Rt) -> None:
    ins, outs = [T("x", (1, 2, 2, 2))], [T("y", (1, 2, 2, 2), "int8", scale=0.1, zero_point=0), T("z", (3,))]
    path = rt.model(ins, outs, custom_op="cstGain", op_attrs={"gain": ("float32", [2.5]), "ks": [3, 3]})
    h = rt.init(path)
    x = rng_values((1, 2, 2, 2), 30)
    assert rt.set_inputs(h, [x]) == 0
    assert rt.run(h) == -1  # "Unsupport CPU op ... register custom op"
    op = Op(b"cstGain", rt.api.rknn_custom_op_get_op_attr)
    unrelated = Op(b"cstOther", with_init=False)
    arr = (_abi.rknn_custom_op * 2)(op.struct, unrelated.struct)
    assert rt.api.rknn_register_custom_ops(h, arr, 2) == 0
    assert op.calls["init"] == 1
    start = rt.ctl.counter("custom_op_compute_calls")
    assert rt.run(h) == 0 and rt.run(h) == 0
    assert op.calls["compute"] == 2 and op.calls["prepare"] == 2 and unrelated.calls["compute"] == 0
    assert rt.ctl.counter("custom_op_compute_calls") == start + 2
    assert op.seen_priv == [0x1234, 0x1234]
    dtype, n, name, values = op.attrs["gain"]
    assert (dtype, n, name) == (F32, 1, b"gain") and values[0] == np.float32(2.5)
    assert op.attrs["missing"][1] == 0
    got = rt.outputs(h, [(1, 2, 2, 2), (3,)])
    y = x.reshape(-1) * np.float32(2.5)
    np.testing.assert_array_equal(got[0].reshape(-1), (np.clip(np.rint(y / np.float32(0.1)), -128, 127) * np.float32(0.1)).astype(np.float32))
    np.testing.assert_array_equal(got[1], y[:3] + 1)
    # registration errors
    assert rt.api.rknn_register_custom_ops(h, arr, 1) == -5  # same op type twice
    assert rt.api.rknn_register_custom_ops(h, None, 1) == -5
    assert rt.api.rknn_register_custom_ops(h, arr, 0) == -5
    no_compute = _abi.rknn_custom_op()
    no_compute.op_type = b"cstNoCompute"
    no_compute.target = 1
    assert rt.api.rknn_register_custom_ops(h, ctypes.byref(no_compute), 1) == -5
    # a duplicated context has no custom ops registered
    d = rt.dup(h)
    assert rt.set_inputs(d, [x]) == 0 and rt.run(d) == -1
    assert rt.destroy(d) == 0
    assert op.calls["destroy"] == 0
    assert rt.destroy(h) == 0
    assert op.calls["destroy"] == 1 and unrelated.calls["destroy"] == 1


def test_custom_op_init_failure_and_skip(rt: Rt) -> None:
    ins, outs = [T("x", (4,))], [T("y", (4,))]
    path = rt.model(ins, outs, custom_op="cstAdd")
    h = rt.init(path)
    failing = Op(b"cstAdd", init_rc=-1)
    assert rt.api.rknn_register_custom_ops(h, ctypes.byref(failing.struct), 1) == -1
    assert rt.set_inputs(h, [np.ones(4, np.float32)]) == 0
    assert rt.run(h) == -1  # still unregistered
    skip = Op(b"cstAdd", init_rc=_abi.RKNN_WARNING_SKIP_CUSTOM_OP_COMPUTE)
    assert rt.api.rknn_register_custom_ops(h, ctypes.byref(skip.struct), 1) == 0
    assert rt.run(h) == 0 and skip.calls["compute"] == 0  # the built-in (sum) implementation
    np.testing.assert_array_equal(rt.outputs(h, [(4,)])[0], np.ones(4, np.float32))


# --------------------------------------------------------------------------------------------------
# Misuse fuzz: random call sequences with bad handles, sizes, indices, formats and pointers

MISUSE_SCRIPT = r'''
import ctypes, random, sys
sys.path.insert(0, sys.argv[4])
from ztu_somemodelruntime_ez_rknn_async import _abi
lib = ctypes.CDLL(sys.argv[1])
api = _abi.bind(lib)
lib.rknn_sim_set_latency_override.argtypes = [ctypes.c_int64]
lib.rknn_sim_set_latency_override(0)
rng = random.Random(int(sys.argv[2]))
models = sys.stdin.read().split("\n=====\n")
KNOWN = {0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -13}
handles, dead, mems, outs_given = [], [], [], []
keep = []
cb = _abi.rknn_custom_op_callback(lambda *a: 0)
def pick_handle():
    pool = handles + dead + [0, 12345, 2**64 - 1]
    return rng.choice(pool)
def check(rc, what):
    if rc not in KNOWN:
        print("unexpected", rc, what); sys.exit(3)
for step in range(int(sys.argv[3])):
    op = rng.randrange(15)
    if op == 0 or not handles:
        data = rng.choice(models).encode()
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data) + 1)]
        ctx = ctypes.c_uint64(0)
        flags = rng.choice([0, 0, 0, 0x8, 0x10, 0x20, 0x100, 0x200, 0x4000, 0x40000])
        ext = _abi.rknn_init_extend()
        ext.ctx = pick_handle()
        rc = api.rknn_init(ctypes.byref(ctx), data, len(data), flags, ctypes.byref(ext) if rng.random() < 0.5 else None)
        check(rc, "init")
        if rc == 0:
            handles.append(ctx.value)
    elif op == 1:
        h = pick_handle()
        rc = api.rknn_destroy(h)
        check(rc, "destroy")
        if rc == 0:
            handles.remove(h); dead.append(h)
    elif op == 2:
        a, b = ctypes.c_uint64(pick_handle()), ctypes.c_uint64(0)
        rc = api.rknn_dup_context(ctypes.byref(a), ctypes.byref(b))
        check(rc, "dup")
        if rc == 0:
            handles.append(b.value)
    elif op == 3:
        size = rng.choice([0, 7, 8, 372, 376, 511, 512, 1024, 33040, 40000])
        buf = ctypes.create_string_buffer(max(size, 1))
        if size >= 4:
            ctypes.c_uint32.from_buffer(buf, 0).value = rng.choice([0, 1, 2, 300, 2**32 - 1])
        check(api.rknn_query(pick_handle(), rng.randrange(-2, 21), buf, size), "query")
    elif op == 4:
        n = rng.randrange(0, 4)
        ins = (_abi.rknn_input * max(n, 1))()
        for k in range(n):
            size = rng.choice([0, 1, 16, 64, 4096])
            b = ctypes.create_string_buffer(max(size, 1)); keep.append(b)
            ins[k].index = rng.choice([0, 1, 2, 7])
            ins[k].buf = ctypes.addressof(b) if rng.random() < 0.9 else None
            ins[k].size = size
            ins[k].pass_through = rng.choice([0, 0, 1])
            ins[k].type = rng.randrange(-1, 13)
            ins[k].fmt = rng.randrange(-1, 5)
        check(api.rknn_inputs_set(pick_handle(), n, ins), "inputs_set")
    elif op == 5:
        if handles and rng.random() < 0.7:
            # a well-formed inference on a live context (zero-copy bindings sometimes), mixed with misuse
            h = rng.choice(handles)
            io = _abi.rknn_input_output_num()
            if api.rknn_query(h, 0, ctypes.byref(io), 8) == 0:
                ins = (_abi.rknn_input * io.n_input)()
                for k in range(io.n_input):
                    a = _abi.rknn_tensor_attr(); a.index = k
                    api.rknn_query(h, 14, ctypes.byref(a), 376)
                    b = ctypes.create_string_buffer(max(4 * a.n_elems, 1)); keep.append(b)
                    ins[k].index, ins[k].buf, ins[k].size, ins[k].type = k, ctypes.addressof(b), 4 * a.n_elems, 0
                    ins[k].fmt = 0 if a.n_dims == 4 else 3
                    if rng.random() < 0.2:
                        api.rknn_query(h, 16, ctypes.byref(a), 376)
                        m = api.rknn_create_mem(h, max(a.size_with_stride, a.size, 1))
                        if m:
                            mems.append(m)
                            check(api.rknn_set_io_mem(h, m, ctypes.byref(a)), "set_io_mem valid")
                check(api.rknn_inputs_set(h, io.n_input, ins), "inputs_set valid")
                check(api.rknn_run(h, None), "run valid")
                outs = (_abi.rknn_output * io.n_output)()
                for k in range(io.n_output):
                    outs[k].index, outs[k].want_float = k, rng.choice([0, 1])
                rc = api.rknn_outputs_get(h, io.n_output, outs, None)
                check(rc, "outputs_get valid")
                if rc == 0:
                    outs_given.append((h, io.n_output, outs))
        else:
            check(api.rknn_run(pick_handle(), None), "run")
    elif op == 6:
        n = rng.randrange(0, 4)
        outs = (_abi.rknn_output * max(n, 1))()
        for k in range(n):
            outs[k].index = rng.choice([0, 1, 5])
            outs[k].want_float = rng.choice([0, 1])
            if rng.random() < 0.3:
                size = rng.choice([0, 4, 64, 4096])
                b = ctypes.create_string_buffer(max(size, 1)); keep.append(b)
                outs[k].is_prealloc, outs[k].buf, outs[k].size = 1, ctypes.addressof(b), size
        h = pick_handle()
        rc = api.rknn_outputs_get(h, n, outs, None)
        check(rc, "outputs_get")
        if rc == 0:
            outs_given.append((h, n, outs))
    elif op == 7:
        if outs_given and rng.random() < 0.8:
            h, n, outs = rng.choice(outs_given)  # possibly released already: a violation, never a crash
            check(api.rknn_outputs_release(rng.choice([h, pick_handle()]), n, outs), "release")
        else:
            check(api.rknn_outputs_release(pick_handle(), 0, None), "release0")
    elif op == 8:
        m = rng.choice([lambda: api.rknn_create_mem(pick_handle(), rng.choice([0, 1, 64, 4096])),
                        lambda: api.rknn_create_mem2(pick_handle(), rng.choice([0, 64]), rng.choice([0, 1, 2, 3, 0x20000, 8]))])()
        if m:
            mems.append(m)
    elif op == 9:
        if mems and rng.random() < 0.8:
            m = rng.choice(mems)  # possibly destroyed already
        else:
            fake = _abi.rknn_tensor_mem(); keep.append(fake); m = ctypes.pointer(fake)
        check(api.rknn_destroy_mem(pick_handle(), m), "destroy_mem")
    elif op == 10:
        a = _abi.rknn_tensor_attr()
        h = pick_handle()
        a.index = rng.randrange(0, 3)
        api.rknn_query(h, rng.choice([1, 2, 8, 9, 10, 11]), ctypes.byref(a), ctypes.sizeof(a))
        field = rng.choice(["index", "fmt", "type", "w_stride", "h_stride", "pass_through", "none"])
        if field != "none":
            setattr(a, field, rng.randrange(0, 20))
        if mems and rng.random() < 0.8:
            m = rng.choice(mems)
        else:
            fake = _abi.rknn_tensor_mem(); keep.append(fake); m = ctypes.pointer(fake)
        check(api.rknn_set_io_mem(h, m, ctypes.byref(a)), "set_io_mem")
    elif op == 11:
        n = rng.randrange(0, 3)
        attrs = (_abi.rknn_tensor_attr * max(n, 1))()
        for k in range(n):
            attrs[k].index = rng.randrange(0, 3)
            attrs[k].n_dims = rng.randrange(0, 17)
            attrs[k].fmt = rng.randrange(0, 4)
            for d in range(16):
                attrs[k].dims[d] = rng.choice([0, 1, 2, 3, 4, 2**32 - 1])
        check(api.rknn_set_input_shapes(pick_handle(), n, attrs), "set_input_shapes")
    elif op == 12:
        if mems:
            check(api.rknn_mem_sync(pick_handle(), rng.choice(mems), rng.randrange(-1, 5)), "mem_sync")
        check(api.rknn_set_core_mask(pick_handle(), rng.choice([0, 1, 2, 3, 4, 5, 7, 8, 0xFFFF, 0x10000])), "mask")
    elif op == 13:
        n = rng.randrange(0, 3)
        ops = (_abi.rknn_custom_op * max(n, 1))()
        for k in range(n):
            ops[k].op_type = rng.choice([b"cstA", b"cstB", b""])
            ops[k].target = rng.choice([0, 1, 2])
            if rng.random() < 0.8:
                ops[k].compute = cb
        check(api.rknn_register_custom_ops(pick_handle(), ops if rng.random() < 0.9 else None, n), "register")
    else:
        for m in list(mems):
            if rng.random() < 0.3:
                check(api.rknn_destroy_mem(rng.choice(handles) if handles else 0, m), "destroy_mem2")
for m in mems:
    api.rknn_destroy_mem(handles[0] if handles else 0, m)
for h in list(handles):
    check(api.rknn_destroy(h), "final destroy")
print("steps done")
'''


@pytest.mark.parametrize("seed", [7, 8])
def test_random_misuse_never_crashes(api_library: str, tmp_path: pathlib.Path, seed: int) -> None:
    models = "\n=====\n".join([
        "RKNN-SIM 1\ninput x float32 1,3,2,2\ninput z int8 4 scale=0.5\noutput y int8 1,2,2,2 scale=0.1 zp=3\nend\n",
        "RKNN-SIM 1\nweights w\ninput x float16 4\noutput y float32 4\noutput w uint8 2,2\nend\n",
        "RKNN-SIM 1\nweights_from w\ninput x float32 2\noutput y float32 2\nend\n",
        "RKNN-SIM 1\nop custom cstA\nop_attr k int64 1\ninput x float32 2\noutput y float32 2\nend\n",
        "RKNN-SIM 1\ninput x float32 1,3,2,2 shapes=1,3,2,2;1,3,4,4\ninput v int8 2 scale=1 shapes=2;3\n"
        "output y float32 1,3,2,2 shapes=1,3,2,2;1,3,4,4\nend\n",
    ])
    proc = subprocess.run([sys.executable, "-c", MISUSE_SCRIPT, api_library, str(seed), "3000", str(REPO)],
                          input=models.encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    text = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0 and "steps done" in text, text[-4000:]


# --------------------------------------------------------------------------------------------------
# Real .rknn files and the independent C consumer


def _real_models() -> List[pathlib.Path]:
    return sorted(RKNN_MODELS.glob("*.rknn")) if RKNN_MODELS.is_dir() else []


def test_real_files_run_with_the_sum_rule(rt: Rt) -> None:
    models = _real_models()
    if not models:
        pytest.skip("shared models not found at {}".format(RKNN_MODELS))
    rc, h = rt.init_rc(models[0])
    if rc == -6:
        pytest.skip("sim_parse_rknn does not parse real .rknn files yet")
    for path in models:
        h = rt.init(path)
        n_in, n_out = rt.io_num(h)
        ins, outs, feeds = [], [], []
        for i in range(n_in):
            a = rt.attr(h, _abi.RKNN_QUERY_INPUT_ATTR, i)
            dims = list(a.dims[: a.n_dims])
            shape = [dims[0], dims[3], dims[1], dims[2]] if a.fmt == FMT_NHWC else dims
            dtype = {F16: "float16", I8: "int8"}[a.type]
            ins.append(T(a.name.decode(), shape, dtype, scale=a.scale if a.qnt_type == 2 else None,
                         zero_point=a.zp if a.qnt_type == 2 else 0))
            feeds.append(rng_values(shape, 40 + i))
        for j in range(n_out):
            a = rt.attr(h, _abi.RKNN_QUERY_OUTPUT_ATTR, j)
            dtype = {F16: "float16", I8: "int8"}[a.type]
            outs.append(T(a.name.decode(), list(a.dims[: a.n_dims]), dtype, scale=a.scale if a.qnt_type == 2 else None,
                          zero_point=a.zp if a.qnt_type == 2 else 0))
        got = rt.infer(h, feeds, [o.shape for o in outs])
        for g, e in zip(got, expected(ins, outs, feeds)):
            np.testing.assert_array_equal(g, e)


def test_real_files_native_attrs_match_ground_truth(rt: Rt) -> None:
    import json

    truth_path = SHARED / "models" / "ground_truth.json"
    if not truth_path.is_file():
        pytest.skip("ground_truth.json not found")
    truth = json.loads(truth_path.read_text())
    rc, h = rt.init_rc(RKNN_MODELS / "add_i8.rknn")
    if rc == -6:
        pytest.skip("sim_parse_rknn does not parse real .rknn files yet")
    fmts = {"RKNN_TENSOR_NCHW": 0, "RKNN_TENSOR_NHWC": 1, "RKNN_TENSOR_NC1HWC2": 2, "RKNN_TENSOR_UNDEFINED": 3}
    for file_name, entry in truth.items():
        q = entry["expected_rknn_query (predicted, NOT observed on hardware)"]
        h = rt.init(RKNN_MODELS / file_name)
        for kind, cmd, native_cmd in (("RKNN_QUERY_INPUT_ATTR", 1, 8), ("RKNN_QUERY_OUTPUT_ATTR", 2, 9)):
            for exp in q[kind]:
                a = rt.attr(h, cmd, exp["index"])
                assert a.w_stride == exp["w_stride (uncertain)"], (file_name, exp["name"])
                assert a.size_with_stride == exp["size_with_stride (uncertain)"], (file_name, exp["name"])
                native = exp.get("native_output_attr (uncertain)")
                if native is not None:
                    n = rt.attr(h, native_cmd, exp["index"])
                    assert list(n.dims[: n.n_dims]) == native["dims"], (file_name, exp["name"])
                    assert n.fmt == fmts[native["fmt"]] and n.size == native["size"], (file_name, exp["name"])


def test_abi_consumer_c_program(api_library: str, tmp_path: pathlib.Path) -> None:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "abi_consumer"
    subprocess.run([cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
                    str(REPO / "tests" / "c" / "abi_consumer.c"), "-ldl", "-lm"], check=True)
    native = simulator.write_model(
        tmp_path / "native.rknn",
        [T("a", (1, 3, 4, 5), "int8", scale=0.02, zero_point=-3), T("b", (6,), "float16")],
        [T("o1", (1, 5, 2, 2), "int8", scale=0.05, zero_point=1), T("o2", (2, 3)), T("o3", (7,), "float16")],
        latency_us=0)
    proc = subprocess.run([str(exe), api_library, str(native)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "OK native.rknn" in text
    models = _real_models()
    if not models:
        pytest.skip("shared models not found at {}".format(RKNN_MODELS))
    proc = subprocess.run([str(exe), api_library] + [str(m) for m in models], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    text = proc.stdout.decode(errors="replace")
    if "rknn_init failed: -6" in text and proc.returncode == 2:
        pytest.skip("sim_parse_rknn does not parse real .rknn files yet:\n" + text)
    assert proc.returncode == 0, text
    for m in models:
        assert "OK {}".format(m.name) in text
