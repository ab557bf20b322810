"""End to end: real .rknn files through the whole simulated librknnrt (ctypes, no binding layers).

For each of the five RK3588 files in shared/models/rknn/, rknn_init (by path with size 0, and from
memory) followed by rknn_query IN_OUT_NUM / INPUT_ATTR / OUTPUT_ATTR / CUSTOM_STRING must return what
ground_truth.json lists under "expected_rknn_query (predicted, NOT observed on hardware)".  Those values
are predictions from rknn-file-format.md §5, not hardware observations; the simulator follows them,
including the "(uncertain)" w_stride and size_with_stride.
"""
from __future__ import annotations

import ctypes
import json
import shutil
import struct
import subprocess
from ctypes import POINTER, Structure, byref, c_char, c_float, c_int, c_int8, c_int32, c_uint8, c_uint32, c_uint64
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS = SHARED / "models"
RKNN_DIR = MODELS / "rknn"
GROUND_TRUTH = MODELS / "ground_truth.json"
EXPECTED_KEY = "expected_rknn_query (predicted, NOT observed on hardware)"
REAL_FILES = ["add_i8.rknn", "add_fp16.rknn", "conv_i8.rknn", "two_out_i8.rknn", "fc_i8.rknn"]

RKNN_QUERY_IN_OUT_NUM, RKNN_QUERY_INPUT_ATTR, RKNN_QUERY_OUTPUT_ATTR, RKNN_QUERY_CUSTOM_STRING = 0, 1, 2, 7
RKNN_QUERY_NATIVE_OUTPUT_ATTR = 9
RKNN_TENSOR_FORMATS = {"RKNN_TENSOR_NCHW": 0, "RKNN_TENSOR_NHWC": 1, "RKNN_TENSOR_NC1HWC2": 2, "RKNN_TENSOR_UNDEFINED": 3}
RKNN_SUCC, RKNN_ERR_PARAM_INVALID, RKNN_ERR_MODEL_INVALID = 0, -5, -6

try:  # the project's ABI declarations (names exactly as the C typedefs), when present
    from ztu_somemodelruntime_ez_rknn_async._abi import (  # type: ignore[attr-defined]
        rknn_custom_string,
        rknn_input_output_num,
        rknn_tensor_attr,
    )
except ImportError:  # pragma: no cover - only before _abi.py exists

    class rknn_input_output_num(Structure):  # type: ignore[no-redef]
        _fields_ = [("n_input", c_uint32), ("n_output", c_uint32)]

    class rknn_tensor_attr(Structure):  # type: ignore[no-redef]
        _fields_ = [
            ("index", c_uint32), ("n_dims", c_uint32), ("dims", c_uint32 * 16), ("name", c_char * 256),
            ("n_elems", c_uint32), ("size", c_uint32), ("fmt", c_int), ("type", c_int), ("qnt_type", c_int),
            ("fl", c_int8), ("zp", c_int32), ("scale", c_float), ("w_stride", c_uint32),
            ("size_with_stride", c_uint32), ("pass_through", c_uint8), ("h_stride", c_uint32),
        ]

    class rknn_custom_string(Structure):  # type: ignore[no-redef]
        _fields_ = [("string", c_char * 1024)]


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


# --------------------------------------------------------------------------------------------------
# the library


def _build_ourselves(out_dir: Path) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the simulator")
    out = out_dir / "librknnrt.so"
    cmd = [cc, "-std=c11", "-O2", "-shared", "-fPIC", "-pthread", "-Wall", "-Wextra", "-Werror",
           "-Wl,-soname,librknnrt.so", "-o", str(out), *sorted(str(p) for p in (REPO / "stubs").glob("*.c")), "-lm"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if proc.returncode != 0:
        pytest.fail("the simulator (stubs/*.c) does not build:\n" + proc.stderr.decode(errors="replace")[-4000:])
    return str(out)


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    try:
        from ztu_somemodelruntime_ez_rknn_async import simulator
    except ImportError:  # pragma: no cover
        simulator = None  # type: ignore[assignment]
    if simulator is not None and hasattr(simulator, "library_path"):
        try:
            path = simulator.library_path()
        except simulator.SimulatorBuildError as exc:
            if "no C compiler" in str(exc) or "was not found on PATH" in str(exc):
                pytest.skip(str(exc))
            pytest.fail(f"the simulator (stubs/*.c) does not build: {exc}")
    else:  # pragma: no cover - only before simulator.py exists
        path = _build_ourselves(tmp_path_factory.mktemp("sim"))
    cdll = ctypes.CDLL(path)
    missing = [n for n in ("rknn_init", "rknn_query", "rknn_destroy") if not hasattr(cdll, n)]
    if missing:
        pytest.fail(f"the simulator at {path} does not export {', '.join(missing)} yet "
                    "(stubs/sim_api.c, which turns the parsed sim_model into rknn_query answers, has not landed)")
    # private function objects (item access), so the binding's argtypes on the same library are untouched
    init = cdll["rknn_init"]
    init.argtypes = [POINTER(c_uint64), ctypes.c_void_p, c_uint32, c_uint32, ctypes.c_void_p]
    init.restype = c_int
    query = cdll["rknn_query"]
    query.argtypes = [c_uint64, c_int, ctypes.c_void_p, c_uint32]
    query.restype = c_int
    destroy = cdll["rknn_destroy"]
    destroy.argtypes = [c_uint64]
    destroy.restype = c_int
    cdll.t_init, cdll.t_query, cdll.t_destroy = init, query, destroy  # type: ignore[attr-defined]
    return cdll


@pytest.fixture(scope="module")
def ground_truth() -> Dict[str, Any]:
    if not GROUND_TRUTH.is_file():
        pytest.skip(f"shared model data not found at {MODELS}")
    with open(GROUND_TRUTH, encoding="utf-8") as f:
        return json.load(f)


def live_contexts(lib: ctypes.CDLL) -> int:
    if not hasattr(lib, "rknn_sim_get_counter"):
        return 0
    fn = lib["rknn_sim_get_counter"]
    fn.argtypes = [ctypes.c_char_p, POINTER(ctypes.c_int64)]
    fn.restype = c_int
    value = ctypes.c_int64(0)
    assert fn(b"live_contexts", byref(value)) == 0
    return value.value


def init_model(lib: ctypes.CDLL, path: Path, from_memory: bool) -> Tuple[int, Any]:
    """rknn_init by path (size 0) or from a buffer; returns (ctx, keep-alive buffer)."""
    ctx = c_uint64(0)
    if from_memory:
        data = path.read_bytes()
        buf: Any = ctypes.create_string_buffer(data, len(data))
        rc = lib.t_init(byref(ctx), ctypes.cast(buf, ctypes.c_void_p), len(data), 0, None)
    else:
        buf = ctypes.create_string_buffer(str(path).encode())
        rc = lib.t_init(byref(ctx), ctypes.cast(buf, ctypes.c_void_p), 0, 0, None)
    assert rc == RKNN_SUCC, f"rknn_init({path.name}, {'memory' if from_memory else 'path, size 0'}) = {rc}"
    assert ctx.value != 0
    return ctx.value, buf


def query_attr(lib: ctypes.CDLL, ctx: int, cmd: int, index: int) -> Any:
    attr = rknn_tensor_attr()
    attr.index = index
    rc = lib.t_query(ctx, cmd, byref(attr), ctypes.sizeof(attr))
    assert rc == RKNN_SUCC, f"rknn_query(cmd {cmd}, index {index}) = {rc}"
    return attr


def attr_fields(attr: Any) -> Dict[str, Any]:
    return {
        "index": attr.index,
        "name": attr.name.decode("utf-8", "replace"),
        "n_dims": attr.n_dims,
        "dims": list(attr.dims[: attr.n_dims]),
        "n_elems": attr.n_elems,
        "size": attr.size,
        "fmt_value": attr.fmt,
        "type_value": attr.type,
        "qnt_type_value": attr.qnt_type,
        "zp": attr.zp,
        "scale": f32(attr.scale),
        "w_stride (uncertain)": attr.w_stride,
        "size_with_stride (uncertain)": attr.size_with_stride,
    }


def expected_fields(exp: Dict[str, Any]) -> Dict[str, Any]:
    out = {k: exp[k] for k in ("index", "name", "n_dims", "dims", "n_elems", "size", "fmt_value", "type_value",
                                "qnt_type_value", "zp", "w_stride (uncertain)", "size_with_stride (uncertain)")}
    out["scale"] = f32(exp["scale"])
    return out


# --------------------------------------------------------------------------------------------------
# tests


def test_struct_sizes() -> None:
    assert ctypes.sizeof(rknn_tensor_attr) == 376
    assert ctypes.sizeof(rknn_input_output_num) == 8
    assert ctypes.sizeof(rknn_custom_string) == 1024


@pytest.mark.parametrize("from_memory", [False, True], ids=["path", "memory"])
@pytest.mark.parametrize("name", REAL_FILES)
def test_query_matches_predictions(lib: ctypes.CDLL, ground_truth: Dict[str, Any], name: str,
                                   from_memory: bool) -> None:
    expected = ground_truth[name][EXPECTED_KEY]
    start = live_contexts(lib)
    ctx, keep = init_model(lib, RKNN_DIR / name, from_memory)
    try:
        io = rknn_input_output_num()
        assert lib.t_query(ctx, RKNN_QUERY_IN_OUT_NUM, byref(io), ctypes.sizeof(io)) == RKNN_SUCC
        assert (io.n_input, io.n_output) == (expected["RKNN_QUERY_IN_OUT_NUM"]["n_input"],
                                             expected["RKNN_QUERY_IN_OUT_NUM"]["n_output"])

        cs = rknn_custom_string()
        assert lib.t_query(ctx, RKNN_QUERY_CUSTOM_STRING, byref(cs), ctypes.sizeof(cs)) == RKNN_SUCC
        assert cs.string.decode("utf-8") == expected["RKNN_QUERY_CUSTOM_STRING"]

        mismatches: List[str] = []
        for cmd, key, count in ((RKNN_QUERY_INPUT_ATTR, "RKNN_QUERY_INPUT_ATTR", io.n_input),
                                (RKNN_QUERY_OUTPUT_ATTR, "RKNN_QUERY_OUTPUT_ATTR", io.n_output)):
            assert len(expected[key]) == count
            for i, exp in enumerate(expected[key]):
                got = attr_fields(query_attr(lib, ctx, cmd, i))
                want = expected_fields(exp)
                for field, value in want.items():
                    if got[field] != value:
                        mismatches.append(f"{key}[{i}] ({exp['name']}).{field}: got {got[field]!r}, "
                                          f"predicted {value!r}")
        assert not mismatches, f"{name}:\n  " + "\n  ".join(mismatches)
    finally:
        assert lib.t_destroy(ctx) == RKNN_SUCC
        del keep
    assert live_contexts(lib) == start


@pytest.mark.parametrize("name", REAL_FILES)
def test_native_output_attr_matches_predictions(lib: ctypes.CDLL, ground_truth: Dict[str, Any], name: str) -> None:
    """Best effort ("(uncertain)" in ground_truth.json): NATIVE_OUTPUT_ATTR of 4-D outputs is NC1HWC2."""
    expected = ground_truth[name][EXPECTED_KEY]["RKNN_QUERY_OUTPUT_ATTR"]
    ctx, keep = init_model(lib, RKNN_DIR / name, from_memory=True)
    try:
        for i, exp in enumerate(expected):
            native = exp.get("native_output_attr (uncertain)")
            if native is None:
                continue
            attr = query_attr(lib, ctx, RKNN_QUERY_NATIVE_OUTPUT_ATTR, i)
            assert (list(attr.dims[: attr.n_dims]), attr.fmt, attr.size) == (
                native["dims"], RKNN_TENSOR_FORMATS[native["fmt"]], native["size"]), f"{name} {exp['name']}"
    finally:
        assert lib.t_destroy(ctx) == RKNN_SUCC
        del keep


def test_corrupt_models_are_rejected(lib: ctypes.CDLL, ground_truth: Dict[str, Any]) -> None:
    data = (RKNN_DIR / "conv_i8.rknn").read_bytes()
    start = live_contexts(lib)
    for bad in (data[:100], data[:64 + 1000], b"RKNX" + data[4:], data[:16] + struct.pack("<Q", 2**40) + data[24:]):
        ctx = c_uint64(0)
        buf = ctypes.create_string_buffer(bad, len(bad))
        rc = lib.t_init(byref(ctx), ctypes.cast(buf, ctypes.c_void_p), len(bad), 0, None)
        if rc == RKNN_SUCC:  # pragma: no cover - reported as a failure below
            lib.t_destroy(ctx.value)
        assert rc == RKNN_ERR_MODEL_INVALID, f"rknn_init on corrupt data returned {rc}"
    assert live_contexts(lib) == start


def test_attr_query_rejects_pre_1_3_struct_size(lib: ctypes.CDLL, ground_truth: Dict[str, Any]) -> None:
    """rknn-file-format.md §7: a 372-byte rknn_tensor_attr (pre-1.3 header) gets RKNN_ERR_PARAM_INVALID."""
    ctx, keep = init_model(lib, RKNN_DIR / "add_i8.rknn", from_memory=True)
    try:
        attr = rknn_tensor_attr()
        assert lib.t_query(ctx, RKNN_QUERY_INPUT_ATTR, byref(attr), 372) == RKNN_ERR_PARAM_INVALID
    finally:
        assert lib.t_destroy(ctx) == RKNN_SUCC
        del keep
