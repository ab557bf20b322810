"""The simulator-native model format (docs/DESIGN.md) as parsed by stubs/sim_native.c, through rknn_init.

Valid files are checked through the queries they answer; invalid ones must give RKNN_ERR_MODEL_INVALID
(-6).  A seeded fuzz (thousands of mutated and truncated files) runs in a subprocess, so a crash of the
parser fails the test instead of killing pytest.
"""
from __future__ import annotations

import ctypes
import pathlib
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import _abi, simulator
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec as T

HEAD = "RKNN-SIM 1\n"
MINIMAL_IO = "input x float32 1,4\noutput y float32 1,4\n"


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


class Loaded:
    def __init__(self, api: Any, handle: int) -> None:
        self.api = api
        self.h = handle

    def io(self) -> Tuple[int, int]:
        io = _abi.rknn_input_output_num()
        assert self.api.rknn_query(self.h, _abi.RKNN_QUERY_IN_OUT_NUM, ctypes.byref(io), ctypes.sizeof(io)) == 0
        return io.n_input, io.n_output

    def attr(self, cmd: int, index: int) -> Any:
        a = _abi.rknn_tensor_attr()
        a.index = index
        assert self.api.rknn_query(self.h, cmd, ctypes.byref(a), ctypes.sizeof(a)) == 0
        return a

    def custom_string(self) -> bytes:
        cs = _abi.rknn_custom_string()
        assert self.api.rknn_query(self.h, _abi.RKNN_QUERY_CUSTOM_STRING, ctypes.byref(cs), ctypes.sizeof(cs)) == 0
        return bytes(cs.string)


def init_rc(api: Any, data: bytes, flags: int = 0, extend: Any = None) -> Tuple[int, int]:
    ctx = ctypes.c_uint64(0)
    rc = api.rknn_init(ctypes.byref(ctx), data, len(data), flags, ctypes.byref(extend) if extend is not None else None)
    return rc, ctx.value


@pytest.fixture()
def load(api: Any) -> Iterator[Any]:
    handles: List[int] = []

    def do(text: str) -> Loaded:
        rc, h = init_rc(api, text.encode("utf-8"))
        assert rc == 0, "rknn_init returned {} for:\n{}".format(rc, text)
        handles.append(h)
        return Loaded(api, h)

    yield do
    for h in handles:
        assert api.rknn_destroy(h) == 0


# --------------------------------------------------------------------------------------------------
# Valid files


def test_minimal_file_and_blank_lines_comments_and_missing_final_newline(load: Any) -> None:
    m = load(HEAD + MINIMAL_IO + "end\n")
    assert m.io() == (1, 1)
    m = load(HEAD + "\n# a comment\n\n" + MINIMAL_IO + "# another\nend\n\n\n")
    assert m.io() == (1, 1)
    m = load(HEAD + MINIMAL_IO + "end")
    assert m.io() == (1, 1)


def test_every_directive(load: Any) -> None:
    text = HEAD + textwrap.dedent("""\
        latency_us 0
        custom_string model%3Dx%3B%20ver%3D%C3%BC
        op custom cst%2FOp
        op_attr a%20b float32 1.5,-2.25e-3
        op_attr i int64 -9223372036854775807,7
        op_attr f float16 0.5
        op_attr bits bool 0,1,1
        op_attr u8 uint8 0,255
        op_attr i8 int8 -128,127
        op_attr i16 int16 -32768
        op_attr u16 uint16 65535
        op_attr i32 int32 -2147483648
        op_attr u32 uint32 4294967295
        weights my%20weights
        input img int8 1,3,4,5 scale=0.5 zp=-3
        input v uint8 7 fmt=undefined scale=0.25 zp=255
        input s float16 scalar
        input n16 int16 2,2 scale=2 zp=-32768
        output o float32 1,3,4,5 fmt=nhwc
        output p int64 2,1,1,1,1
        output q bool 3
        output r uint32 1,2,3,4 fmt=nchw
        end
        """)
    m = load(text)
    assert m.io() == (4, 4)
    assert m.custom_string().decode("utf-8") == "model=x; ver=ü"
    img = m.attr(_abi.RKNN_QUERY_INPUT_ATTR, 0)
    assert img.name == b"img" and list(img.dims[:4]) == [1, 4, 5, 3] and img.fmt == 1
    assert (img.type, img.qnt_type, img.zp, img.scale) == (2, 2, -3, 0.5)
    v = m.attr(_abi.RKNN_QUERY_INPUT_ATTR, 1)
    assert (v.type, v.zp, v.scale, v.fmt, v.n_dims) == (3, 255, 0.25, 3, 1)
    s = m.attr(_abi.RKNN_QUERY_INPUT_ATTR, 2)
    assert (s.n_dims, s.n_elems, s.size, s.type, s.qnt_type) == (0, 1, 2, 1, 0)
    n16 = m.attr(_abi.RKNN_QUERY_INPUT_ATTR, 3)
    assert (n16.type, n16.zp, n16.scale) == (4, -32768, 2.0)
    o = m.attr(_abi.RKNN_QUERY_OUTPUT_ATTR, 0)
    assert o.fmt == 1 and list(o.dims[:4]) == [1, 4, 5, 3]
    p = m.attr(_abi.RKNN_QUERY_OUTPUT_ATTR, 1)
    assert (p.type, p.n_dims, p.size, p.fmt) == (8, 5, 16, 3)
    r = m.attr(_abi.RKNN_QUERY_OUTPUT_ATTR, 3)
    assert r.fmt == 0 and r.type == 7 and r.size_with_stride == 1 * 1 * 3 * 4 * 4 * 4  # C2 = 4 for 4-byte types


def test_op_attrs_reach_the_custom_op(api: Any) -> None:
    text = HEAD + textwrap.dedent("""\
        op custom cstAttrs
        op_attr f32 float32 1.5,-2.25e-3
        op_attr i64 int64 -9223372036854775807,7
        op_attr f16 float16 0.5
        op_attr b bool 0,1,1
        op_attr u8 uint8 0,255
        input x float32 2
        output y float32 2
        end
        """)
    rc, h = init_rc(api, text.encode())
    assert rc == 0
    seen: Dict[str, Tuple[int, int, bytes]] = {}

    def compute(ctx: Any, ins: Any, n_in: int, outs: Any, n_out: int) -> int:
        for name in ("f32", "i64", "f16", "b", "u8", "nope"):
            a = _abi.rknn_custom_op_attr()
            api.rknn_custom_op_get_op_attr(ctx, name.encode(), ctypes.byref(a))
            size = {0: 4, 1: 2, 3: 1, 8: 8, 9: 1}.get(a.dtype, 0) * a.n_elems
            seen[name] = (a.dtype, a.n_elems, ctypes.string_at(a.data, size) if a.n_elems else b"")
        return 0

    cb = _abi.rknn_custom_op_callback(compute)
    op = _abi.rknn_custom_op()
    op.op_type, op.target, op.compute = b"cstAttrs", 1, cb
    try:
        assert api.rknn_register_custom_ops(h, ctypes.byref(op), 1) == 0
        x = np.zeros(2, np.float32)
        inp = (_abi.rknn_input * 1)()
        inp[0].buf, inp[0].size, inp[0].type, inp[0].fmt = x.ctypes.data, 8, 0, 3
        assert api.rknn_inputs_set(h, 1, inp) == 0
        assert api.rknn_run(h, None) == 0
    finally:
        assert api.rknn_destroy(h) == 0
    assert seen["f32"] == (0, 2, np.array([1.5, -2.25e-3], np.float32).tobytes())
    assert seen["i64"] == (8, 2, np.array([-9223372036854775807, 7], np.int64).tobytes())
    assert seen["f16"] == (1, 1, np.array([0.5], np.float16).tobytes())
    assert seen["b"] == (9, 3, bytes([0, 1, 1]))
    assert seen["u8"] == (3, 2, bytes([0, 255]))
    assert seen["nope"][1] == 0


def test_nchw_is_accepted_for_any_rank(load: Any) -> None:
    m = load(HEAD + _io(" fmt=nchw") + "end\n")
    a = m.attr(_abi.RKNN_QUERY_INPUT_ATTR, 0)
    assert a.fmt == 0 and list(a.dims[:2]) == [1, 4] and a.w_stride == 0


def test_long_names_are_truncated_to_255_bytes(load: Any) -> None:
    m = load(HEAD + "input {} float32 2\noutput y float32 2\nend\n".format("n" * 300))
    assert m.attr(_abi.RKNN_QUERY_INPUT_ATTR, 0).name == b"n" * 255


def test_dynamic_shapes_and_defaults(load: Any) -> None:
    m = load(HEAD + "input x float32 1,3,2,2 shapes=1,3,2,2;1,3,4,4\ninput z int8 2 scale=1 shapes=2;3\n"
             "output y float32 1,3,2,2 shapes=1,3,2,2;1,3,4,4\noutput w float32 5\nend\n")
    rng = _abi.rknn_input_range()
    assert m.api.rknn_query(m.h, _abi.RKNN_QUERY_INPUT_DYNAMIC_RANGE, ctypes.byref(rng), ctypes.sizeof(rng)) == 0
    assert rng.shape_number == 2 and list(rng.dyn_range[1][:4]) == [1, 4, 4, 3]


def test_write_model_round_trip(load: Any, tmp_path: pathlib.Path) -> None:
    path = simulator.write_model(
        tmp_path / "m.rknn", [T("in 1/ü", (1, 2, 3, 4), "int8", scale=0.1, zero_point=-5), T("b", (3,), "uint16")],
        [T("o", (2, 2))], latency_us=5, custom_string="a b%c", custom_op="x y", op_attrs={"k": [1, 2]},
        weights_id="w")
    m = load(path.read_text())
    assert m.attr(_abi.RKNN_QUERY_INPUT_ATTR, 0).name == "in 1/ü".encode()
    assert m.custom_string() == b"a b%c"


# --------------------------------------------------------------------------------------------------
# Invalid files


def _io(extra_in: str = "", extra_out: str = "") -> str:
    return "input x float32 1,4{}\noutput y float32 1,4{}\n".format(extra_in, extra_out)


INVALID: List[Tuple[str, str]] = [
    ("empty", ""),
    ("magic-only", "RKNN-SIM 1"),
    ("wrong-version", "RKNN-SIM 2\n" + _io() + "end\n"),
    ("magic-crlf", "RKNN-SIM 1\r\n" + _io() + "end\n"),
    ("crlf-line", HEAD + "input x float32 1,4\r\noutput y float32 1,4\nend\n"),
    ("no-end", HEAD + _io()),
    ("text-after-end", HEAD + _io() + "end\nlatency_us 5\n"),
    ("comment-after-end", HEAD + _io() + "end\n# late\n"),
    ("end-with-args", HEAD + _io() + "end now\n"),
    ("no-inputs", HEAD + "output y float32 1\nend\n"),
    ("no-outputs", HEAD + "input x float32 1\nend\n"),
    ("unknown-directive", HEAD + _io() + "speed 3\nend\n"),
    ("directive-case", HEAD + _io() + "END\n"),
    ("double-space", HEAD + "input x  float32 1,4\noutput y float32 1,4\nend\n"),
    ("trailing-space", HEAD + "input x float32 1,4 \noutput y float32 1,4\nend\n"),
    ("leading-space", HEAD + " input x float32 1,4\noutput y float32 1,4\nend\n"),
    ("space-only-line", HEAD + _io() + " \nend\n"),
    ("tab", HEAD + "input\tx float32 1,4\noutput y float32 1,4\nend\n"),
    ("nul-byte", HEAD + "input x\0 float32 1,4\noutput y float32 1,4\nend\n"),
    ("latency-twice", HEAD + "latency_us 1\nlatency_us 2\n" + _io() + "end\n"),
    ("latency-negative", HEAD + "latency_us -1\n" + _io() + "end\n"),
    ("latency-plus", HEAD + "latency_us +1\n" + _io() + "end\n"),
    ("latency-float", HEAD + "latency_us 1.5\n" + _io() + "end\n"),
    ("latency-overflow", HEAD + "latency_us 99999999999999999999\n" + _io() + "end\n"),
    ("latency-missing", HEAD + "latency_us\n" + _io() + "end\n"),
    ("custom-string-twice", HEAD + "custom_string a\ncustom_string b\n" + _io() + "end\n"),
    ("custom-string-1024", HEAD + "custom_string " + "a" * 1024 + "\n" + _io() + "end\n"),
    ("custom-string-raw-space", HEAD + "custom_string a b\n" + _io() + "end\n"),
    ("pct-lowercase", HEAD + "custom_string %c3%bc\n" + _io() + "end\n"),
    ("pct-short", HEAD + "custom_string ab%4\n" + _io() + "end\n"),
    ("pct-bad-hex", HEAD + "custom_string %G0\n" + _io() + "end\n"),
    ("pct-nul", HEAD + "custom_string a%00b\n" + _io() + "end\n"),
    ("raw-reserved-char", HEAD + "input x/y float32 1,4\noutput y float32 1,4\nend\n"),
    ("raw-utf8", HEAD + "input xü float32 1,4\noutput y float32 1,4\nend\n"),
    ("op-twice", HEAD + "op sum\nop sum\n" + _io() + "end\n"),
    ("op-unknown", HEAD + "op mul\n" + _io() + "end\n"),
    ("op-custom-no-name", HEAD + "op custom\n" + _io() + "end\n"),
    ("op-sum-with-name", HEAD + "op sum x\n" + _io() + "end\n"),
    ("op-attr-without-custom", HEAD + "op_attr k int64 1\n" + _io() + "end\n"),
    ("op-attr-with-sum", HEAD + "op sum\nop_attr k int64 1\n" + _io() + "end\n"),
    ("op-attr-bad-type", HEAD + "op custom c\nop_attr k double 1\n" + _io() + "end\n"),
    ("op-attr-no-values", HEAD + "op custom c\nop_attr k int64\n" + _io() + "end\n"),
    ("op-attr-empty-value", HEAD + "op custom c\nop_attr k int64 1,,2\n" + _io() + "end\n"),
    ("op-attr-int-range", HEAD + "op custom c\nop_attr k int8 128\n" + _io() + "end\n"),
    ("op-attr-float-for-int", HEAD + "op custom c\nop_attr k int32 1.5\n" + _io() + "end\n"),
    ("op-attr-nan", HEAD + "op custom c\nop_attr k float32 nan\n" + _io() + "end\n"),
    ("op-attr-inf", HEAD + "op custom c\nop_attr k float32 1e39\n" + _io() + "end\n"),
    ("op-attr-hex-float", HEAD + "op custom c\nop_attr k float32 0x1p3\n" + _io() + "end\n"),
    ("op-attr-bool-2", HEAD + "op custom c\nop_attr k bool 2\n" + _io() + "end\n"),
    ("op-attr-duplicate", HEAD + "op custom c\nop_attr k int64 1\nop_attr k int64 2\n" + _io() + "end\n"),
    ("op-attr-65", HEAD + "op custom c\n" + "".join("op_attr k{} int64 1\n".format(i) for i in range(65))
     + _io() + "end\n"),
    ("weights-twice", HEAD + "weights a\nweights b\n" + _io() + "end\n"),
    ("weights-and-from", HEAD + "weights a\nweights_from b\n" + _io() + "end\n"),
    ("weights-empty", HEAD + "weights\n" + _io() + "end\n"),
    ("tensor-too-few-tokens", HEAD + "input x float32\noutput y float32 1\nend\n"),
    ("tensor-bad-type", HEAD + "input x float64 1\noutput y float32 1\nend\n"),
    ("tensor-bfloat16", HEAD + "input x bfloat16 1\noutput y float32 1\nend\n"),
    ("dims-negative", HEAD + "input x float32 1,-4\noutput y float32 1\nend\n"),
    ("dims-empty-entry", HEAD + "input x float32 1,,4\noutput y float32 1\nend\n"),
    ("dims-trailing-comma", HEAD + "input x float32 1,4,\noutput y float32 1\nend\n"),
    ("dims-overflow", HEAD + "input x float32 4294967296\noutput y float32 1\nend\n"),
    ("dims-17", HEAD + "input x float32 " + ",".join(["1"] * 17) + "\noutput y float32 1\nend\n"),
    ("dims-too-many-elements", HEAD + "input x float32 65536,65536\noutput y float32 1\nend\n"),
    ("dims-word", HEAD + "input x float32 four\noutput y float32 1\nend\n"),
    ("key-unknown", HEAD + _io(" mean=1") + "end\n"),
    ("key-no-equals", HEAD + _io(" nhwc") + "end\n"),
    ("key-twice", HEAD + _io(" fmt=undefined fmt=undefined") + "end\n"),
    ("fmt-unknown", HEAD + _io(" fmt=nc1hwc2") + "end\n"),
    ("fmt-upper", HEAD + "input x float32 1,2,3,4 fmt=NHWC\noutput y float32 1\nend\n"),
    ("nhwc-not-4d", HEAD + _io(" fmt=nhwc") + "end\n"),
    ("scale-on-float", HEAD + _io(" scale=0.5") + "end\n"),
    ("scale-on-int32", HEAD + "input x int32 4 scale=0.5\noutput y float32 1\nend\n"),
    ("scale-zero", HEAD + "input x int8 4 scale=0\noutput y float32 1\nend\n"),
    ("scale-negative", HEAD + "input x int8 4 scale=-1\noutput y float32 1\nend\n"),
    ("scale-nan", HEAD + "input x int8 4 scale=nan\noutput y float32 1\nend\n"),
    ("scale-underflow", HEAD + "input x int8 4 scale=1e-50\noutput y float32 1\nend\n"),
    ("scale-overflow", HEAD + "input x int8 4 scale=1e39\noutput y float32 1\nend\n"),
    ("zp-without-scale", HEAD + "input x int8 4 zp=1\noutput y float32 1\nend\n"),
    ("zp-out-of-int8", HEAD + "input x int8 4 scale=1 zp=128\noutput y float32 1\nend\n"),
    ("zp-negative-uint8", HEAD + "input x uint8 4 scale=1 zp=-1\noutput y float32 1\nend\n"),
    ("zp-float", HEAD + "input x int8 4 scale=1 zp=1.0\noutput y float32 1\nend\n"),
    ("shapes-row0-differs", HEAD + "input x float32 2 shapes=3;2\noutput y float32 1\nend\n"),
    ("shapes-rank-differs", HEAD + "input x float32 2 shapes=2;2,2\noutput y float32 1\nend\n"),
    ("shapes-empty-row", HEAD + "input x float32 2 shapes=2;;3\noutput y float32 1\nend\n"),
    ("shapes-empty", HEAD + "input x float32 2 shapes=\noutput y float32 1\nend\n"),
    ("shapes-one-input-only", HEAD + "input x float32 2 shapes=2;3\ninput z float32 2\noutput y float32 1\nend\n"),
    ("shapes-row-count-differs", HEAD + "input x float32 2 shapes=2;3\ninput z float32 2 shapes=2;3;4\n"
     "output y float32 1\nend\n"),
    ("shapes-output-rows-differ", HEAD + "input x float32 2 shapes=2;3\noutput y float32 2 shapes=2;3;4\nend\n"),
    ("shapes-output-on-static", HEAD + "input x float32 2\noutput y float32 2 shapes=2;3\nend\n"),
    ("shapes-513-rows", HEAD + "input x float32 1 shapes=" + ";".join(["1"] * 513) + "\noutput y float32 1\nend\n"),
    ("duplicate-input-names", HEAD + "input x float32 1\ninput x float32 1\noutput y float32 1\nend\n"),
    ("input-output-same-name", HEAD + "input x float32 1\noutput x float32 1\nend\n"),
    ("empty-name", HEAD + "input  float32 1\noutput y float32 1\nend\n"),
    ("257-inputs", HEAD + "".join("input i{} float32 1\n".format(i) for i in range(257))
     + "output y float32 1\nend\n"),
]


@pytest.mark.parametrize("text", [t for _, t in INVALID], ids=[i for i, _ in INVALID])
def test_invalid_files_are_model_invalid(api: Any, text: str) -> None:
    rc, h = init_rc(api, text.encode("utf-8"))
    if rc == 0:
        api.rknn_destroy(h)
    assert rc == -6


def test_limits_are_inclusive(load: Any) -> None:
    load(HEAD + "".join("input i{} float32 1\n".format(i) for i in range(256)) + "output y float32 1\nend\n")
    load(HEAD + "input x float32 " + ",".join(["1"] * 16) + "\noutput y float32 1\nend\n")
    load(HEAD + "custom_string " + "a" * 1023 + "\n" + _io() + "end\n")
    load(HEAD + "op custom c\n" + "".join("op_attr k{} int64 1\n".format(i) for i in range(64)) + _io() + "end\n")
    load(HEAD + "input x float32 1 shapes=" + ";".join(["1"] * 512) + "\noutput y float32 1\nend\n")
    load(HEAD + "input x float32 8192,8192\noutput y float32 0,4294967295\nend\n")  # 2^26 elements; empty


# --------------------------------------------------------------------------------------------------
# Fuzz (subprocess)

FUZZ_SCRIPT = r'''
import ctypes, random, sys
lib = ctypes.CDLL(sys.argv[1])
seed, count = int(sys.argv[2]), int(sys.argv[3])
lib.rknn_init.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
lib.rknn_destroy.argtypes = [ctypes.c_uint64]
lib.rknn_query.argtypes = [ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
lib.rknn_inputs_set.argtypes = [ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p]
lib.rknn_run.argtypes = [ctypes.c_uint64, ctypes.c_void_p]
lib.rknn_outputs_get.argtypes = [ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p]
lib.rknn_outputs_release.argtypes = [ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p]
lib.rknn_sim_set_latency_override.argtypes = [ctypes.c_int64]
lib.rknn_sim_set_latency_override(0)

class Input(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("buf", ctypes.c_void_p), ("size", ctypes.c_uint32),
                ("pass_through", ctypes.c_uint8), ("type", ctypes.c_int), ("fmt", ctypes.c_int)]
class Output(ctypes.Structure):
    _fields_ = [("want_float", ctypes.c_uint8), ("is_prealloc", ctypes.c_uint8), ("index", ctypes.c_uint32),
                ("buf", ctypes.c_void_p), ("size", ctypes.c_uint32)]

CORPUS = sys.stdin.read().split("\n=====\n")
TOKENS = ["input", "output", "end", "op", "custom", "sum", "op_attr", "weights", "weights_from", "latency_us",
          "custom_string", "scalar", "fmt=nhwc", "fmt=nchw", "fmt=undefined", "scale=0.5", "zp=-1", "zp=300",
          "shapes=1;2", "shapes=1,2,3,4;1,2,5,5", "0", "1", "-1", "4294967295", "4294967296", "1e40", "nan",
          "99999999999999999999", "1,2,3,4", "%41", "%4", "%zz", "%00", "int8", "float16", "bool", "int64",
          "uint32", "a,b", ",", ";", "=", "65536,65536", ",".join(["2"] * 17)]
rng = random.Random(seed)
ok = bad = ran = 0
for case in range(count):
    data = bytearray(rng.choice(CORPUS).encode())
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.randrange(8)
        if kind == 0 and data:
            del data[rng.randrange(len(data)):]
        elif kind == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2:
            data[rng.randint(0, len(data)):rng.randint(0, len(data))] = bytes([rng.choice(b" \n%,;=-0123456789Ae\0\r\xff")])
        elif kind == 3 and data:
            a = rng.randrange(len(data)); del data[a:a + rng.randint(1, 12)]
        elif kind in (4, 5):
            lines = bytes(data).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if kind == 4:
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        else:
            words = bytes(data).split(b" ")
            words[rng.randrange(len(words))] = rng.choice(TOKENS).encode()
            data = bytearray(b" ".join(words))
    buf = bytes(data)
    ctx = ctypes.c_uint64(0)
    rc = lib.rknn_init(ctypes.byref(ctx), buf, len(buf), 0, None) if buf else -6
    if rc not in (0, -6):
        print("unexpected rc", rc, repr(buf)); sys.exit(3)
    if rc != 0:
        bad += 1
        continue
    ok += 1
    io = (ctypes.c_uint32 * 2)()
    assert lib.rknn_query(ctx.value, 0, io, 8) == 0
    attr = ctypes.create_string_buffer(376)
    sizes = []
    for cmd, n in ((1, io[0]), (2, io[1]), (8, io[0]), (9, io[1]), (10, io[0]), (11, io[1]), (14, io[0]), (15, io[1])):
        for k in range(n):
            ctypes.memset(attr, 0, 376)
            ctypes.c_uint32.from_buffer(attr, 0).value = k
            assert lib.rknn_query(ctx.value, cmd, attr, 376) == 0
            if cmd == 1:
                n_dims = ctypes.c_uint32.from_buffer(attr, 4).value
                sizes.append((ctypes.c_uint32.from_buffer(attr, 328).value, n_dims))
    total = sum(s for s, _ in sizes)
    if total <= 4096 and io[1] <= 16:
        bufs = [ctypes.create_string_buffer(max(4 * s, 1)) for s, _ in sizes]
        ins = (Input * io[0])()
        for k, (s, nd) in enumerate(sizes):
            ins[k].index, ins[k].buf, ins[k].size, ins[k].fmt = k, ctypes.addressof(bufs[k]), 4 * s, 0 if nd == 4 else 3
        if lib.rknn_inputs_set(ctx.value, io[0], ins) == 0 and lib.rknn_run(ctx.value, None) == 0:
            outs = (Output * io[1])()
            for k in range(io[1]):
                outs[k].index, outs[k].want_float = k, 1
            if lib.rknn_outputs_get(ctx.value, io[1], outs, None) == 0:
                ran += 1
                assert lib.rknn_outputs_release(ctx.value, io[1], outs) == 0
    assert lib.rknn_destroy(ctx.value) == 0
print("ok", ok, "invalid", bad, "ran", ran)
'''


def _corpus(tmp_path: pathlib.Path) -> str:
    texts = [
        HEAD + MINIMAL_IO + "end\n",
        HEAD + "latency_us 7\ncustom_string hi%20there\ninput a int8 1,3,4,4 scale=0.1 zp=-2\n"
        "input b float16 4\noutput s int8 1,3,4,4 scale=0.2 zp=1\noutput t float32 2,2\nend\n",
        HEAD + "op custom cstX\nop_attr k float32 1.5,2\nop_attr n int64 3\ninput x float32 scalar\n"
        "output y bool 3\nend\n",
        HEAD + "input x uint8 1,2,2,3 fmt=nchw shapes=1,2,2,3;1,2,4,6\ninput z int16 2 scale=0.5 zp=3 shapes=2;5\n"
        "output y float16 1,2,2,3 shapes=1,2,2,3;1,2,4,6\noutput w int64 1,1,1,1,1\nend\n",
        HEAD + "weights w1\ninput x float32 1,8 fmt=undefined\noutput y uint16 8\nend\n",
    ]
    texts.append(simulator.write_model(
        tmp_path / "fuzz_seed.rknn", [T("in ü", (1, 3, 2, 2), "int8", scale=0.05, zero_point=4), T("v", (5,))],
        [T("o", (1, 5, 2, 2), "uint8", scale=0.1, zero_point=7, layout="nhwc")], latency_us=3,
        custom_string="seed").read_text())
    return "\n=====\n".join(texts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_native_parser_in_subprocess(api_library: str, tmp_path: pathlib.Path, seed: int) -> None:
    proc = subprocess.run([sys.executable, "-c", FUZZ_SCRIPT, api_library, str(seed), "2500"],
                          input=_corpus(tmp_path).encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=600)
    text = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, "fuzz subprocess failed (rc {}):\n{}".format(proc.returncode, text[-4000:])
    fields = text.split()
    ok, bad, ran = int(fields[fields.index("ok") + 1]), int(fields[fields.index("invalid") + 1]), int(fields[-1])
    assert ok > 50 and bad > 500 and ran > 10, text
