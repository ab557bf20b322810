"""The .rknn parser of the simulator (stubs/rknn_format.c), tested through tests/c/parse_rknn_driver.c.

* The five real RK3588 files in shared/models/rknn/ must parse to exactly what ground_truth.json says
  they hold ("inputs_in_file", "outputs_in_file", "model").
* Synthetic containers built here (a tiny forward FlatBuffer writer) cover the rules of
  shared/reference/rknn-file-format.md that the real files do not exercise: layouts, ranks, dtypes,
  custom ops, missing trailer, escaped names, names without a terminating NUL, limits.
* A seeded fuzzer feeds thousands of mutants to the driver built with ASan+UBSan: no crash, no
  sanitizer report, and every result is either INVALID or a sane model.  The long run is marked slow.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS = SHARED / "models"
RKNN_DIR = MODELS / "rknn"
GROUND_TRUTH = MODELS / "ground_truth.json"
STUBS = REPO / "stubs"
DRIVER_SRC = REPO / "tests" / "c" / "parse_rknn_driver.c"

REAL_FILES = ["add_i8.rknn", "add_fp16.rknn", "conv_i8.rknn", "two_out_i8.rknn", "fc_i8.rknn"]
DTYPES = {
    "float32": 0, "float16": 1, "int8": 2, "uint8": 3, "int16": 4,
    "uint16": 5, "int32": 6, "uint32": 7, "int64": 8, "bool": 9,
}
ELEM_SIZE = {0: 4, 1: 2, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 8, 9: 1}
FMT_NCHW, FMT_NHWC, FMT_UNDEFINED = 0, 1, 3
SAN_ENV = {
    "ASAN_OPTIONS": "abort_on_error=0:halt_on_error=1:exitcode=99:detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=98",
}


def _need_shared() -> None:
    if not GROUND_TRUTH.is_file() or not RKNN_DIR.is_dir():
        pytest.skip(f"shared model data not found at {MODELS}")


# --------------------------------------------------------------------------------------------------
# building and running the driver
# --------------------------------------------------------------------------------------------------


@dataclass
class Driver:
    path: Path
    sanitized: bool

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        if self.sanitized:
            env.update(SAN_ENV)
        return env

    def run(self, args: Sequence[str], stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(self.path), *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env(), timeout=timeout,
        )
        if proc.returncode != 0 or proc.stderr:
            raise AssertionError(
                f"driver {self.path.name} {' '.join(args)} exited {proc.returncode}\n"
                f"stderr:\n{proc.stderr.decode(errors='replace')[-6000:]}"
            )
        return proc

    def parse(self, data: bytes) -> Optional[Dict[str, Any]]:
        """Parses one buffer through --stream (no temporary file); None for INVALID."""
        return decode_result(self.stream([data])[0])

    def stream(self, blobs: Sequence[bytes], timeout: float = 300) -> List[str]:
        payload = b"".join(struct.pack("<Q", len(b)) + b for b in blobs)
        out = self.run(["--stream"], stdin=payload, timeout=timeout).stdout.decode("ascii")
        lines = out.split("\n")
        assert lines[-1] == "", "output must end with a newline"
        lines = lines[:-1]
        assert len(lines) == len(blobs), f"{len(blobs)} records in, {len(lines)} results out"
        return lines


def decode_result(line: str) -> Optional[Dict[str, Any]]:
    if line == "INVALID":
        return None
    assert not line.startswith("INSANE"), line
    model = json.loads(line)
    check_sane(model)
    return model


def check_sane(model: Dict[str, Any]) -> None:
    """Independent re-check (the driver checks the C struct too) of the limits of sim_internal.h."""
    assert model["source"] == 1 and model["latency_us"] == -1
    assert 1 <= len(model["inputs"]) <= 256 and 1 <= len(model["outputs"]) <= 256
    assert len(model["custom_string"]) <= 1023 and len(model["target"]) <= 31
    assert len(model["compiler"]) <= 255 and len(model["custom_op"]) <= 255
    for is_input, tensors in ((True, model["inputs"]), (False, model["outputs"])):
        for t in tensors:
            assert len(t["name"]) <= 255
            assert t["n_dims"] == len(t["dims"]) <= 16
            assert t["file_native_n_dims"] == len(t["file_native_dims"]) <= 16
            assert t["type"] in ELEM_SIZE
            expected_fmt = {FMT_NCHW, FMT_NHWC, FMT_UNDEFINED} if (is_input and t["n_dims"] == 4) else (
                {FMT_NCHW} if t["n_dims"] == 4 else {FMT_UNDEFINED})
            assert t["fmt"] in expected_fmt
            assert t["n_shapes"] == 0
            if t["qnt_type"] == 2:
                assert math.isfinite(t["scale"]) and t["scale"] > 0
            else:
                assert t["qnt_type"] == 0 and t["scale"] == 1.0 and t["zp"] == 0
            assert math.prod(t["dims"]) * ELEM_SIZE[t["type"]] <= 0xFFFFFFFF


def _compile(out: Path, extra: Sequence[str]) -> Optional[str]:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return "no C compiler (gcc/cc) on PATH"
    cmd = [
        cc, "-std=c11", "-Wall", "-Wextra", "-Werror", *extra, f"-I{STUBS}", "-o", str(out),
        str(DRIVER_SRC), str(STUBS / "rknn_format.c"), str(STUBS / "sim_model.c"), "-lm",
    ]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if proc.returncode != 0:
        return f"{' '.join(cmd)}\n{proc.stderr.decode(errors='replace')}"
    return None


@pytest.fixture(scope="session")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    out = tmp_path_factory.mktemp("rknn_driver") / "parse_rknn_driver"
    err = _compile(out, ["-O2"])
    if err is not None and err.startswith("no C compiler"):
        pytest.skip(err)
    assert err is None, f"the driver does not build warning-free:\n{err}"
    return Driver(out, sanitized=False)


@pytest.fixture(scope="session")
def san_driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    tmp = tmp_path_factory.mktemp("rknn_driver_san")
    probe_src = tmp / "probe.c"
    probe_src.write_text("int main(void) { return 0; }\n")
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (gcc/cc) on PATH")
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer",
             "-g", "-O1"]
    probe = subprocess.run([cc, *flags, "-o", str(tmp / "probe"), str(probe_src)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"{cc} cannot build with -fsanitize=address,undefined: "
                    f"{probe.stderr.decode(errors='replace')[:300]}")
    env = dict(os.environ, **SAN_ENV)
    ran = subprocess.run([str(tmp / "probe")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         timeout=60)
    if ran.returncode != 0:
        pytest.skip(f"sanitized programs do not run here: {ran.stderr.decode(errors='replace')[:300]}")
    out = tmp / "parse_rknn_driver_san"
    err = _compile(out, flags)
    assert err is None, f"the sanitized driver does not build:\n{err}"
    return Driver(out, sanitized=True)


@pytest.fixture(scope="session")
def ground_truth() -> Dict[str, Any]:
    _need_shared()
    with open(GROUND_TRUTH, encoding="utf-8") as f:
        return json.load(f)


def real_bytes(name: str) -> bytes:
    _need_shared()
    return (RKNN_DIR / name).read_bytes()


def raw_name(s: str) -> bytes:
    """The driver writes every byte outside printable ASCII as one \\u00XX code point."""
    return s.encode("latin-1")


# --------------------------------------------------------------------------------------------------
# the real files against ground_truth.json
# --------------------------------------------------------------------------------------------------


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def expected_tensor(t: Dict[str, Any], is_input: bool, layout: str) -> Dict[str, Any]:
    n_dims = len(t["shape"])
    if n_dims != 4:
        fmt = FMT_UNDEFINED
    elif not is_input:
        fmt = FMT_NCHW
    else:
        fmt = FMT_NCHW if layout == "NCHW" else FMT_NHWC
    quantized = len(t["scale"]) > 0
    return {
        "name": t["name"],
        "n_dims": n_dims,
        "dims": t["shape"],
        "fmt": fmt,
        "qnt_type": 2 if quantized else 0,
        "zp": t["zero_point"][0] if quantized and t["zero_point"] else 0,
        "scale_bits": f32_bits(t["scale"][0]) if quantized else f32_bits(1.0),
        "file_native_n_dims": len(t["native_shape"]),
        "file_native_dims": t["native_shape"],
        "file_native_size": t["size_bytes"],
        "n_shapes": 0,
    }


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_file_matches_ground_truth(driver: Driver, ground_truth: Dict[str, Any], name: str) -> None:
    gt = ground_truth[name]
    model = driver.parse(real_bytes(name))
    assert model is not None, f"{name} was rejected"
    gm = gt["model"]
    assert model["custom_string"] == gm["custom_string"]
    assert model["target"] == gm["target"]
    assert model["compiler"] == gm["compiler"]
    assert model["custom_op"] == ""  # graph_ops holds no cst* op in these files
    assert not any(op.startswith("cst") for op in gt["graph_ops"])
    for key, is_input, json_key in (("inputs", True, "input_json"), ("outputs", False, "output_json")):
        file_tensors = gt[f"{key}_in_file"]
        got = model[key]
        assert [t["name"] for t in got] == [t["name"] for t in file_tensors]
        for g, t in zip(got, file_tensors):
            io = gm[json_key][t["name"]]
            exp = expected_tensor(t, is_input, io["layout"])
            exp["type"] = DTYPES[io["dtype"]]
            sub = {k: g[k] for k in exp}
            assert sub == exp, f"{name} {t['name']}"
            assert f32(g["scale"]) == f32(t["scale"][0] if t["scale"] else 1.0)


def test_real_files_match_predicted_query_basics(driver: Driver, ground_truth: Dict[str, Any]) -> None:
    """The parsed model also agrees with the predicted rknn_query answers that depend on it alone."""
    for name in REAL_FILES:
        q = ground_truth[name]["expected_rknn_query (predicted, NOT observed on hardware)"]
        model = driver.parse(real_bytes(name))
        assert model is not None
        assert len(model["inputs"]) == q["RKNN_QUERY_IN_OUT_NUM"]["n_input"]
        assert len(model["outputs"]) == q["RKNN_QUERY_IN_OUT_NUM"]["n_output"]
        assert model["custom_string"] == q["RKNN_QUERY_CUSTOM_STRING"]
        for key, qkey in (("inputs", "RKNN_QUERY_INPUT_ATTR"), ("outputs", "RKNN_QUERY_OUTPUT_ATTR")):
            for t, a in zip(model[key], q[qkey]):
                assert t["name"] == a["name"]
                assert t["fmt"] == a["fmt_value"] and t["type"] == a["type_value"]
                assert t["qnt_type"] == a["qnt_type_value"] and t["zp"] == a["zp"]
                assert f32(t["scale"]) == f32(a["scale"])
                dims = t["dims"]
                if t["fmt"] == FMT_NHWC:
                    dims = [dims[0], dims[2], dims[3], dims[1]]
                assert dims == a["dims"] and math.prod(dims) == a["n_elems"]
                assert a["n_elems"] * ELEM_SIZE[t["type"]] == a["size"]


def test_real_files_under_sanitizers(san_driver: Driver, driver: Driver) -> None:
    blobs = [real_bytes(n) for n in REAL_FILES]
    assert san_driver.stream(blobs) == driver.stream(blobs)


def test_driver_modes(driver: Driver, tmp_path: Path) -> None:
    _need_shared()
    one = driver.run([str(RKNN_DIR / "conv_i8.rknn")]).stdout.decode()
    from_stdin = driver.run(["-"], stdin=real_bytes("conv_i8.rknn")).stdout.decode()
    assert one == from_stdin and json.loads(one)["custom_string"] == "conv test"
    (tmp_path / "junk.bin").write_bytes(b"not a model")
    shutil.copy(RKNN_DIR / "fc_i8.rknn", tmp_path / "fc_i8.rknn")
    lines = driver.run(["--batch", str(tmp_path), str(RKNN_DIR / "add_i8.rknn")]).stdout.decode().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [
        str(tmp_path / "fc_i8.rknn"), str(tmp_path / "junk.bin"), str(RKNN_DIR / "add_i8.rknn")]
    results = [ln.split("\t", 1)[1] for ln in lines]
    assert results[1] == "INVALID"
    assert json.loads(results[0])["inputs"][0]["name"] == "feat"
    assert json.loads(results[2])["custom_string"] == "model=add;ver=1"


# --------------------------------------------------------------------------------------------------
# a forward FlatBuffer writer for synthetic .rknn files
# --------------------------------------------------------------------------------------------------


class Table:
    """fields: slot -> (kind, value).  kinds: i8, i32, f32 (inline); str (NUL-terminated), strraw (no
    NUL), vi32, vf32, vtab (list of Table), tab (Table)."""

    def __init__(self, fields: Optional[Dict[int, Tuple[str, Any]]] = None) -> None:
        self.fields: Dict[int, Tuple[str, Any]] = dict(fields or {})


class LastString:
    """A string emitted after everything else, without a NUL: its last byte ends the FlatBuffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def serialize(root: Table, ident: bytes = b"RKNN") -> bytes:
    buf = bytearray(8)
    buf[4:8] = ident
    pending: List[Tuple[int, str, Any]] = []
    last: List[Tuple[int, bytes]] = []

    def align4() -> None:
        while len(buf) % 4:
            buf.append(0)

    def emit_table(t: Table) -> int:
        slots = sorted(t.fields)
        n_fields = (slots[-1] + 1) if slots else 0
        layout = []
        off = 4
        for k in slots:
            kind, val = t.fields[k]
            size = 1 if kind == "i8" else 4
            if size == 4:
                off = (off + 3) & ~3
            layout.append((k, off, kind, val))
            off += size
        tsize = (off + 3) & ~3
        vt = bytearray(struct.pack("<HH", 4 + 2 * n_fields, tsize)) + bytes(2 * n_fields)
        for k, o, _, _ in layout:
            struct.pack_into("<H", vt, 4 + 2 * k, o)
        align4()
        vt_pos = len(buf)
        buf.extend(vt)
        align4()
        tpos = len(buf)
        buf.extend(bytes(tsize))
        struct.pack_into("<i", buf, tpos, tpos - vt_pos)
        for k, o, kind, val in layout:
            p = tpos + o
            if kind == "i8":
                struct.pack_into("<b", buf, p, val)
            elif kind == "i32":
                struct.pack_into("<i", buf, p, val)
            elif kind == "f32":
                struct.pack_into("<f", buf, p, val)
            elif isinstance(val, LastString):
                last.append((p, val.data))
            else:
                pending.append((p, kind, val))
        return tpos

    def emit(kind: str, val: Any) -> int:
        align4()
        pos = len(buf)
        if kind in ("str", "strraw"):
            data = val.encode() if isinstance(val, str) else bytes(val)
            buf.extend(struct.pack("<I", len(data)) + data + (b"\0" if kind == "str" else b""))
        elif kind == "vi32":
            buf.extend(struct.pack(f"<I{len(val)}i", len(val), *val))
        elif kind == "vf32":
            buf.extend(struct.pack(f"<I{len(val)}f", len(val), *val))
        elif kind == "vtab":
            buf.extend(struct.pack("<I", len(val)) + bytes(4 * len(val)))
            for i, t in enumerate(val):
                pending.append((pos + 4 + 4 * i, "tab", t))
        elif kind == "tab":
            pos = emit_table(val)
        else:
            raise ValueError(kind)
        return pos

    struct.pack_into("<I", buf, 0, emit_table(root))
    while pending:
        p, kind, val = pending.pop(0)
        struct.pack_into("<I", buf, p, emit(kind, val) - p)
    for p, data in last:
        align4()
        pos = len(buf)
        buf.extend(struct.pack("<I", len(data)) + data)
        struct.pack_into("<I", buf, p, pos - p)
    return bytes(buf)


@dataclass
class Spec:
    name: Any  # str or bytes (or LastString)
    shape: List[int]
    dtype: Optional[str] = "int8"  # None: not listed in the JSON
    layout: Optional[str] = None  # None: default (NHWC for inputs, NCHW for outputs)
    native: Optional[List[int]] = None
    scale: Optional[List[float]] = field(default_factory=lambda: [0.5])
    zp: Optional[List[int]] = field(default_factory=lambda: [3])
    size: Optional[int] = 64
    code: int = 3  # internal dtype code (Tensor field 0)

    def json_name(self) -> str:
        n = self.name.data if isinstance(self.name, LastString) else self.name
        return n.decode("utf-8", "surrogateescape") if isinstance(n, bytes) else n

    def table(self, kind: int) -> Table:
        f: Dict[int, Tuple[str, Any]] = {0: ("i8", self.code), 1: ("i8", 64), 2: ("i8", kind),
                                         4: ("vi32", self.shape)}
        f[5] = ("str", self.name)  # a LastString is emitted last, without a NUL
        if self.native is not None:
            f[3] = ("vi32", self.native)
        if self.scale is not None:
            f[10] = ("vf32", self.scale)
        if self.zp is not None:
            f[11] = ("vi32", self.zp)
        if self.size is not None:
            f[12] = ("i32", self.size)
        return Table(f)


def io_json(specs: Sequence[Spec]) -> str:
    out = {}
    for s in specs:
        if s.dtype is None:
            continue
        entry: Dict[str, Any] = {"dtype": s.dtype}
        if s.layout is not None:
            entry["layout"] = s.layout
        out[s.json_name()] = entry
    return json.dumps(out)


def make_rknn(
    inputs: Sequence[Spec],
    outputs: Sequence[Spec],
    *,
    custom_string: Any = "hello",
    ops: Sequence[str] = ("InputOperator", "Conv", "OutputOperator"),
    input_json: Any = "auto",  # str, bytes, None (field absent) or "auto"
    output_json: Any = "auto",
    version: int = 6,
    trailer: Optional[bytes] = b'{"name": "rknn model"}',
    ident: bytes = b"RKNN",
    target: str = "rk3588",
    compiler: str = "synthetic 1.0",
    input_idx: Optional[List[int]] = None,
    output_idx: Optional[List[int]] = None,
) -> bytes:
    internal = Spec("internal", [1, 2], code=3)
    tensors = [internal.table(3)] + [s.table(1) for s in inputs] + [s.table(2) for s in outputs]
    if input_idx is None:
        input_idx = list(range(1, 1 + len(inputs)))
    if output_idx is None:
        output_idx = list(range(1 + len(inputs), 1 + len(inputs) + len(outputs)))
    nodes = [Table({1: ("str", op), 2: ("str", f"{op}:{i}")}) for i, op in enumerate(ops)]
    graph = Table({0: ("vtab", tensors), 1: ("vtab", nodes), 2: ("vi32", input_idx), 3: ("vi32", output_idx)})
    fields: Dict[int, Tuple[str, Any]] = {
        0: ("i32", 6), 1: ("str", "RKNPU v2"), 2: ("vtab", [graph]), 7: ("str", compiler), 8: ("str", target),
        9: ("str", "ONNX"),
    }
    if custom_string is not None:
        fields[11] = ("str", custom_string)
    for slot, js, specs in ((12, input_json, inputs), (13, output_json, outputs)):
        if isinstance(js, str) and js == "auto":
            js = io_json(specs)
        if js is not None:
            fields[slot] = ("str", js)
    fb = serialize(Table(fields), ident)
    head = b"RKNN" + bytes(4) + struct.pack("<QQ", version, len(fb)) + bytes(40)
    tail = b"" if trailer is None else struct.pack("<Q", len(trailer)) + trailer
    return head + fb + tail


def simple(**kw: Any) -> bytes:
    return make_rknn([Spec("in_a", [1, 3, 4, 4])], [Spec("out", [1, 2, 4, 4])], **kw)


# --------------------------------------------------------------------------------------------------
# synthetic files: the rules
# --------------------------------------------------------------------------------------------------


def test_synthetic_baseline(driver: Driver) -> None:
    m = driver.parse(make_rknn(
        [Spec("in_a", [1, 3, 4, 4], native=[1, 1, 4, 4, 3], scale=[0.25, 9.0], zp=[-7, 1], size=192)],
        [Spec("out", [1, 2, 4, 4], native=[1, 2, 4, 4, 16], scale=[0.125], zp=[5], size=512)],
        custom_string="model=syn", target="rk3576", compiler="c 9"))
    assert m is not None
    assert (m["custom_string"], m["target"], m["compiler"], m["custom_op"]) == ("model=syn", "rk3576", "c 9", "")
    i, o = m["inputs"][0], m["outputs"][0]
    assert (i["name"], i["dims"], i["fmt"], i["type"], i["qnt_type"], i["zp"], i["scale"]) == (
        "in_a", [1, 3, 4, 4], FMT_NHWC, 2, 2, -7, 0.25)
    assert (i["file_native_dims"], i["file_native_size"]) == ([1, 1, 4, 4, 3], 192)
    assert (o["name"], o["dims"], o["fmt"], o["zp"], o["scale"]) == ("out", [1, 2, 4, 4], FMT_NCHW, 5, 0.125)
    assert (o["file_native_dims"], o["file_native_size"]) == ([1, 2, 4, 4, 16], 512)


@pytest.mark.parametrize(
    "shape, layout, is_input, fmt",
    [
        ([1, 3, 4, 4], "NHWC", True, FMT_NHWC),
        ([1, 3, 4, 4], None, True, FMT_NHWC),  # the toolkit default for 4-D inputs
        ([1, 3, 4, 4], "NCHW", True, FMT_NCHW),
        ([1, 3, 4, 4], "nchw", True, FMT_NCHW),
        ([1, 3, 4, 4], "UNDEFINED", True, FMT_UNDEFINED),  # not covered by §5.4: as the file says
        ([1, 3, 4, 4], "NC1HWC2", True, FMT_NHWC),
        ([1, 3, 4, 4], "NHWC", False, FMT_NCHW),  # 4-D outputs are always reported NCHW
        ([1, 3, 4, 4], None, False, FMT_NCHW),
        ([1, 8], "NHWC", True, FMT_UNDEFINED),
        ([1, 8], "NCHW", False, FMT_UNDEFINED),
        ([2, 3, 4], "NHWC", True, FMT_UNDEFINED),
        ([1, 2, 3, 4, 5], "UNDEFINED", False, FMT_UNDEFINED),
        ([], None, True, FMT_UNDEFINED),
    ],
)
def test_reported_format(driver: Driver, shape: List[int], layout: Optional[str], is_input: bool, fmt: int) -> None:
    t = Spec("t", shape, layout=layout)
    other = Spec("o", [1, 4])
    m = driver.parse(make_rknn([t], [other]) if is_input else make_rknn([other], [t]))
    assert m is not None
    got = (m["inputs"] if is_input else m["outputs"])[0]
    assert (got["fmt"], got["dims"], got["n_dims"]) == (fmt, shape, len(shape))


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_every_dtype(driver: Driver, dtype: str) -> None:
    m = driver.parse(make_rknn([Spec("x", [1, 4], dtype=dtype)], [Spec("y", [2], dtype=dtype)]))
    assert m is not None
    assert m["inputs"][0]["type"] == m["outputs"][0]["type"] == DTYPES[dtype]


@pytest.mark.parametrize("bad", ["int4", "float64", "INT8", "", "bfloat16x", "int8 "])
def test_unknown_dtype_is_invalid(driver: Driver, bad: str) -> None:
    assert driver.parse(make_rknn([Spec("x", [1, 4], dtype=bad)], [Spec("y", [2])])) is None
    assert driver.parse(make_rknn([Spec("x", [1, 4])], [Spec("y", [2], dtype=bad)])) is None


def test_json_lookup_rules(driver: Driver) -> None:
    ins, outs = [Spec("x", [1, 4])], [Spec("y", [2])]
    # a tensor missing from the JSON, or a JSON without a dtype for it, is invalid
    assert driver.parse(make_rknn([Spec("x", [1, 4], dtype=None)], outs)) is None
    assert driver.parse(make_rknn(ins, outs, input_json='{"x": {"layout": "NHWC"}}')) is None
    assert driver.parse(make_rknn(ins, outs, input_json='{"x": {"dtype": 2}}')) is None
    # malformed JSON is invalid
    for bad in ['{"x": {"dtype": "int8"}', '{"x": {"dtype": "int8"}} x', '{"x" {"dtype": "int8"}}', "", "[]",
                '{"x": {"dtype": "int8"},}', '{"x": {"dtype": "in\\q8"}}', '{"x": {"dtype": "int8"}}}']:
        assert driver.parse(make_rknn(ins, outs, input_json=bad)) is None, bad
    # other keys, nested values, whitespace and key order are fine; the first entry of a name wins
    ok = ('  {"z": [1, {"a": [true, null, -1.5e3]}], "x" :\n{"mean": [0, 0], "layout": "NCHW", '
          '"extra": {"k": "v"}, "dtype": "uint8", "dtype": "int32"}, "x": {"dtype": "int16"}}\n')
    m = driver.parse(make_rknn([Spec("x", [1, 3, 2, 2])], outs, input_json=ok))
    assert m is not None and (m["inputs"][0]["type"], m["inputs"][0]["fmt"]) == (3, FMT_NCHW)
    # nesting deeper than the scanner's limit is rejected, not recursed into
    deep = '{"z": ' + "[" * 200 + "]" * 200 + ', "x": {"dtype": "int8"}}'
    assert driver.parse(make_rknn(ins, outs, input_json=deep)) is None
    # the scanner runs once per tensor, so each JSON is capped at 4 MiB
    pad = " " * ((4 << 20) - len('{"x": {"dtype": "int8"}}'))
    assert driver.parse(make_rknn(ins, outs, input_json='{"x": {"dtype": "int8"}}' + pad)) is not None
    assert driver.parse(make_rknn(ins, outs, input_json='{"x": {"dtype": "int8"}}' + pad + " ")) is None


def test_json_absent_falls_back_to_internal_dtype_code(driver: Driver) -> None:
    m = driver.parse(make_rknn([Spec("x", [1, 3, 4, 4], code=10)], [Spec("y", [2], code=7)],
                               input_json=None, output_json=None))
    assert m is not None
    assert (m["inputs"][0]["type"], m["inputs"][0]["fmt"], m["outputs"][0]["type"]) == (1, FMT_NHWC, 8)
    assert driver.parse(make_rknn([Spec("x", [1, 4], code=13)], [Spec("y", [2])], input_json=None)) is None


@pytest.mark.parametrize(
    "name",
    ['in"quote', "back\\slash", "tab\there", "caf\u00e9", "emoji \U0001F600", "slash/ok", " ", "x" * 255],
)
def test_escaped_names(driver: Driver, name: str) -> None:
    # json.dumps escapes quotes, backslashes, control and non-ASCII characters (\uXXXX, surrogate pairs)
    m = driver.parse(make_rknn([Spec(name, [1, 4])], [Spec("y", [2])]))
    assert m is not None
    assert raw_name(m["inputs"][0]["name"]) == name.encode()
    # and the raw (unescaped) UTF-8 form in the JSON works too, except for what JSON requires escaped
    if not any(c in name for c in '"\\\t'):
        js = '{"%s": {"dtype": "uint8"}}' % name
        m = driver.parse(make_rknn([Spec(name, [1, 4])], [Spec("y", [2])], input_json=js.encode()))
        assert m is not None and m["inputs"][0]["type"] == 3


def test_long_names_and_strings_are_truncated(driver: Driver) -> None:
    long = "n" * 300
    m = driver.parse(make_rknn([Spec(long, [1, 4])], [Spec("y", [2])], custom_string="c" * 2000,
                               target="t" * 40, compiler="v" * 400))
    assert m is not None
    assert m["inputs"][0]["name"] == "n" * 255  # the JSON lookup uses the full name
    assert m["custom_string"] == "c" * 1023 and m["target"] == "t" * 31 and m["compiler"] == "v" * 255


def test_name_without_terminating_nul_at_the_end_of_the_buffer(driver: Driver, request: pytest.FixtureRequest) -> None:
    # The name string is the last object of the FlatBuffer, has no NUL, and no trailer follows: its last
    # byte is the last byte of the file (the driver's heap copy is exact, so ASan sees any overread).
    drivers = [driver]
    try:
        drivers.append(request.getfixturevalue("san_driver"))
    except pytest.skip.Exception:  # pragma: no cover - no sanitizer support: the plain build still runs
        pass
    for n in (1, 4, 255, 256, 300):
        name = "q" * n
        data = make_rknn([Spec(LastString(name.encode()), [1, 4])], [Spec("y", [2])], trailer=None)
        assert data.endswith(name.encode())
        for d in drivers:
            m = d.parse(data)
            assert m is not None and m["inputs"][0]["name"] == name[:255]
            # one byte less: the string's length now runs past the end
            assert d.parse(data[:-1]) is None


def test_embedded_nul_ends_the_name(driver: Driver) -> None:
    m = driver.parse(make_rknn([Spec(b"ab\0cd", [1, 4])], [Spec("y", [2])],
                               input_json='{"ab": {"dtype": "int16"}}'))
    assert m is not None and m["inputs"][0]["name"] == "ab" and m["inputs"][0]["type"] == 4


def test_quantization_fields(driver: Driver) -> None:
    def one(**kw: Any) -> Optional[Dict[str, Any]]:
        m = driver.parse(make_rknn([Spec("x", [1, 4], **kw)], [Spec("y", [2])]))
        return None if m is None else m["inputs"][0]

    t = one(scale=None, zp=None)
    assert t is not None and (t["qnt_type"], t["scale"], t["zp"]) == (0, 1.0, 0)
    t = one(scale=[], zp=[])
    assert t is not None and (t["qnt_type"], t["scale"], t["zp"]) == (0, 1.0, 0)
    t = one(scale=None, zp=[9])  # a zero point without a scale means nothing
    assert t is not None and (t["qnt_type"], t["scale"], t["zp"]) == (0, 1.0, 0)
    t = one(scale=[0.75], zp=None)
    assert t is not None and (t["qnt_type"], t["scale"], t["zp"]) == (2, 0.75, 0)
    t = one(scale=[0.1, 0.2], zp=[-128, 4])
    assert t is not None and (t["qnt_type"], t["scale_bits"], t["zp"]) == (2, f32_bits(0.1), -128)
    for bad in (0.0, -1.0, float("nan"), float("inf"), -0.0):
        assert one(scale=[bad]) is None, bad


def test_custom_op_detection(driver: Driver) -> None:
    for ops, expected in [
        (("InputOperator", "cstDualResidual", "cstOther", "OutputOperator"), "cstDualResidual"),
        (("InputOperator", "Conv", "OutputOperator"), ""),
        (("cst",), ""),
        (("Cst_upper",), ""),
        ((), ""),
        (("cst" + "y" * 300,), ("cst" + "y" * 300)[:255]),
    ]:
        m = driver.parse(simple(ops=ops))
        assert m is not None and m["custom_op"] == expected, ops


def test_trailer_is_optional_but_must_fit(driver: Driver) -> None:
    assert driver.parse(simple(trailer=None)) is not None
    assert driver.parse(simple(trailer=b"")) is not None
    full = simple(trailer=b'{"name": "rknn model"}')
    assert driver.parse(full) is not None
    assert driver.parse(full[:-1]) is None  # json_len now runs past the end
    no_trailer = simple(trailer=None)
    for extra in range(1, 8):  # a partial length word
        assert driver.parse(no_trailer + bytes(extra)) is None
    assert driver.parse(no_trailer + struct.pack("<Q", 2**64 - 1)) is None


@pytest.mark.parametrize(
    "version, ok",
    [(6, True), (2, True), (0x1006, True), (0xFF, True), (0, False), (1, False), (0x1001, False),
     (0x206, False), (0x10006, False), (2**63 + 6, False), (0x103, False)],
)
def test_header_version(driver: Driver, version: int, ok: bool) -> None:
    assert (driver.parse(simple(version=version)) is not None) == ok


def test_container_framing(driver: Driver) -> None:
    good = simple()
    assert driver.parse(good) is not None
    assert driver.parse(simple(ident=b"RKNM")) is None
    assert driver.parse(b"RKNX" + good[4:]) is None
    fb_len = struct.unpack_from("<Q", good, 16)[0]
    for bad_len in (0, 7, fb_len + 1, len(good), 2**63, 2**64 - 1, 2**64 - 64):
        assert driver.parse(good[:16] + struct.pack("<Q", bad_len) + good[24:]) is None, bad_len
    for n in (0, 1, 4, 8, 63, 64, 65, 72):
        assert driver.parse(good[:n]) is None
    assert driver.parse(b"RKNN-SIM 1\ninput x int8 1,4\noutput y int8 4\nend\n") is None


def test_dims_limits(driver: Driver) -> None:
    def parse_in(**kw: Any) -> Optional[Dict[str, Any]]:
        return driver.parse(make_rknn([Spec("x", **kw)], [Spec("y", [2])]))

    m = parse_in(shape=[1] * 16, native=[2] * 16)
    assert m is not None and m["inputs"][0]["n_dims"] == 16 and m["inputs"][0]["file_native_n_dims"] == 16
    assert parse_in(shape=[1] * 17) is None
    assert parse_in(shape=[1, 4], native=[1] * 17) is None
    assert parse_in(shape=[1, -1]) is None
    assert parse_in(shape=[1, 4], native=[1, -4]) is None
    assert parse_in(shape=[1, 4], size=-1) is None
    m = parse_in(shape=[0, 7])
    assert m is not None and m["inputs"][0]["dims"] == [0, 7]
    assert parse_in(shape=[65536, 65536]) is None  # 2^32 elements do not fit rknn_tensor_attr.n_elems
    m = parse_in(shape=[65536, 65535])
    assert m is not None
    assert driver.parse(make_rknn([Spec("x", [65536, 32768], dtype="int16")], [Spec("y", [2])])) is None
    m = driver.parse(make_rknn([Spec("x", [1, 4], native=None, size=None)], [Spec("y", [2])]))
    assert m is not None and (m["inputs"][0]["file_native_n_dims"], m["inputs"][0]["file_native_size"]) == (0, 0)


def test_io_lists(driver: Driver) -> None:
    ins, outs = [Spec("x", [1, 4])], [Spec("y", [2])]
    assert driver.parse(make_rknn(ins, outs, input_idx=[])) is None
    assert driver.parse(make_rknn(ins, outs, output_idx=[])) is None
    assert driver.parse(make_rknn(ins, outs, input_idx=[3])) is None  # 3 tensors: 0..2
    assert driver.parse(make_rknn(ins, outs, input_idx=[-1])) is None
    # the same tensor may be listed twice; the index order is the I/O order
    both = io_json(ins + outs)
    assert driver.parse(make_rknn(ins, outs, input_idx=[1, 1], output_idx=[2, 1])) is None  # x: no output_json
    m = driver.parse(make_rknn(ins, outs, input_idx=[1, 1], output_idx=[2, 1], output_json=both))
    assert m is not None
    assert [t["name"] for t in m["inputs"]] == ["x", "x"]
    assert [t["name"] for t in m["outputs"]] == ["y", "x"]
    many = [Spec(f"i{k}", [1]) for k in range(256)]
    m = driver.parse(make_rknn(many, outs))
    assert m is not None and [t["name"] for t in m["inputs"]] == [f"i{k}" for k in range(256)]
    assert driver.parse(make_rknn(many + [Spec("i256", [1])], outs)) is None


def test_missing_required_fields(driver: Driver) -> None:
    good = make_rknn([Spec("x", [1, 4])], [Spec("y", [2])], custom_string=None)
    m = driver.parse(good)
    assert m is not None and m["custom_string"] == ""
    # no graph vector / empty graph vector / no tensor name / no logical shape
    fb = serialize(Table({0: ("i32", 6)}))
    head = b"RKNN" + bytes(4) + struct.pack("<QQ", 6, len(fb)) + bytes(40)
    assert driver.parse(head + fb) is None
    fb = serialize(Table({2: ("vtab", [])}))
    assert driver.parse(b"RKNN" + bytes(4) + struct.pack("<QQ", 6, len(fb)) + bytes(40) + fb) is None
    t = Spec("x", [1, 4]).table(1)
    del t.fields[5]
    graph = Table({0: ("vtab", [t, Spec("y", [2]).table(2)]), 2: ("vi32", [0]), 3: ("vi32", [1])})
    fb = serialize(Table({2: ("vtab", [graph]), 12: ("str", io_json([Spec("", [1])]))}))
    assert driver.parse(b"RKNN" + bytes(4) + struct.pack("<QQ", 6, len(fb)) + bytes(40) + fb) is None


# --------------------------------------------------------------------------------------------------
# fuzzing
# --------------------------------------------------------------------------------------------------


class Landmarks:
    """Offsets worth mutating in a (well-formed) file, found by a lenient Python walk."""

    def __init__(self, data: bytes) -> None:
        self.points: List[int] = [0, 4, 8, 16, 24, 63, 64, 68, 72]
        self.offset_words: List[int] = []  # u32 uoffsets and soffsets
        self.length_words: List[int] = []  # u32 lengths of vectors and strings
        self.vtables: List[int] = []
        self.strings: List[Tuple[int, int]] = []  # (start, length) of string bytes
        try:
            self._walk(data)
        except (struct.error, IndexError):
            pass

    def _walk(self, d: bytes) -> None:
        fb_len = struct.unpack_from("<Q", d, 16)[0]
        base = 64
        end = base + fb_len
        self.points += [end - 1, end, end + 8, len(d) - 1]

        def u32(o: int) -> int:
            return struct.unpack_from("<I", d, o)[0]

        def table(pos: int) -> List[int]:
            vt = pos - struct.unpack_from("<i", d, pos)[0]
            self.offset_words.append(pos)
            self.vtables.append(vt)
            self.points += [pos, vt]
            vs = struct.unpack_from("<H", d, vt)[0]
            return [struct.unpack_from("<H", d, vt + 4 + 2 * k)[0] for k in range((vs - 4) // 2)]

        def ref(pos: int, fields: List[int], k: int) -> Optional[int]:
            if k >= len(fields) or fields[k] == 0:
                return None
            at = pos + fields[k]
            self.offset_words.append(at)
            target = at + u32(at)
            self.length_words.append(target)
            self.points += [at, target, target + 4]
            return target

        def string(pos: int, fields: List[int], k: int) -> None:
            s = ref(pos, fields, k)
            if s is not None:
                self.strings.append((s + 4, u32(s)))
                self.points.append(s + 4 + u32(s))

        self.offset_words.append(base)
        root = base + u32(base)
        rf = table(root)
        for k in (7, 8, 11, 12, 13):
            string(root, rf, k)
        gv = ref(root, rf, 2)
        assert gv is not None
        g = gv + 4 + u32(gv + 4)
        self.offset_words.append(gv + 4)
        gf = table(g)
        tv = ref(g, gf, 0)
        nv = ref(g, gf, 1)
        idx: List[int] = []
        for k in (2, 3):
            v = ref(g, gf, k)
            if v is not None:
                idx += [struct.unpack_from("<i", d, v + 4 + 4 * i)[0] for i in range(u32(v))]
                self.points += [v + 4 + 4 * i for i in range(u32(v))]
        assert tv is not None
        for i in idx:
            e = tv + 4 + 4 * i
            self.offset_words.append(e)
            t = e + u32(e)
            tf = table(t)
            for k in (3, 4, 10, 11):
                ref(t, tf, k)
            string(t, tf, 5)
            for k in range(len(tf)):
                if tf[k]:
                    self.points.append(t + tf[k])
        if nv is not None:
            for i in range(min(u32(nv), 8)):
                e = nv + 4 + 4 * i
                self.offset_words.append(e)
                n = e + u32(e)
                string(n, table(n), 1)
        self.points = sorted({p for p in self.points if 0 <= p <= len(d)})


HUGE32 = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFC, 0x40000000, 0x10000, 0]
HUGE64 = [2**64 - 1, 2**63, 2**32, 2**32 + 100, 0xFFFFFFFF, 2**64 - 64]


SOUP_NAMES = ["in_a", 'q"x', "b\\s", "caf\u00e9", "\U0001F600", ""]
SOUP_TOKENS = ['{', '}', '[', ']', ':', ',', ' ', '"', '\\', '\\u00e9', '\\ud83d\\ude00', '\\ud800', '\\udc00',
               '\\u12', '"dtype"', '"layout"', '"int8"', '"NCHW"', '"in_a"', '1', '-2.5e3', 'true', 'null', '\x00',
               '\\"', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\x', '"\\u0041"']


def json_soup_model(rng: random.Random) -> bytes:
    name = rng.choice(SOUP_NAMES)

    def value(depth: int) -> Any:
        r = rng.random()
        if depth > 3 or r < 0.3:
            return rng.choice([1, -2.5, True, None, "s", rng.choice(SOUP_NAMES)])
        if r < 0.6:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {rng.choice(SOUP_NAMES + ["dtype", "layout"]): value(depth + 1) for _ in range(rng.randrange(3))}

    if rng.random() < 0.5:
        obj: Dict[str, Any] = {rng.choice(SOUP_NAMES): value(0) for _ in range(rng.randrange(3))}
        entry: Dict[str, Any] = {"x": value(1)} if rng.random() < 0.3 else {}
        entry["dtype"] = rng.choice(list(DTYPES) + ["int4", 7])
        entry["layout"] = rng.choice(["NHWC", "NCHW", "UNDEFINED", "nhwc", 3])
        obj[name] = entry
        js: Any = json.dumps(obj, ensure_ascii=rng.random() < 0.5).encode()
    else:
        js = "".join(rng.choice(SOUP_TOKENS) for _ in range(rng.randrange(1, 40))).encode("utf-8", "surrogatepass")
    return make_rknn([Spec(name, rng.choice([[1, 3, 2, 2], [4], []]))], [Spec("y", [2])], input_json=js)


def mutants(seed: int, count: int) -> Iterator[bytes]:
    """`count` seeded mutants of the real files and of synthetic ones."""
    rng = random.Random(seed)
    _need_shared()
    bases = [real_bytes(n) for n in REAL_FILES]
    bases.append(make_rknn([Spec("in_a", [1, 3, 4, 4], native=[1, 1, 4, 4, 3])], [Spec("o", [1, 2, 4, 4])],
                           ops=("InputOperator", "cstDualResidual", "OutputOperator")))
    bases.append(make_rknn([Spec(LastString(b"tail"), [1, 4])], [Spec("y", [2])], trailer=None))
    bases.append(make_rknn([Spec('q"\\\u00e9', [2, 2, 2, 2])], [Spec("y", [2]), Spec("z", [1, 1, 1, 1])]))
    bases.append(make_rknn([Spec("x", [1, 3, 4, 4], code=10)], [Spec("y", [2], code=7)], input_json=None,
                           output_json=None))
    marks = [Landmarks(b) for b in bases]

    def put32(buf: bytearray, at: int, v: int) -> None:
        if 0 <= at <= len(buf) - 4:
            struct.pack_into("<I", buf, at, v & 0xFFFFFFFF)

    yield b""
    yield b"RKNN"
    yield bytes(64)
    yield b"RKNN" + bytes(60)
    yield b"RKNN-SIM 1\nend\n"
    n = 5
    while n < count:
        k = rng.randrange(len(bases))
        src, lm = bases[k], marks[k]
        buf = bytearray(src)
        op = rng.randrange(13)
        if op == 0:  # truncation at an interesting boundary (or one byte around it)
            p = rng.choice(lm.points) + rng.choice((-1, 0, 1))
            buf = buf[: max(0, p)]
        elif op == 1:  # random byte flips anywhere in the header
            for _ in range(rng.randint(1, 3)):
                buf[rng.randrange(64)] ^= 1 << rng.randrange(8)
        elif op == 2:  # byte flips near landmarks of the FlatBuffer
            for _ in range(rng.randint(1, 4)):
                p = min(len(buf) - 1, rng.choice(lm.points) + rng.randrange(-4, 8))
                buf[max(0, p)] ^= rng.randrange(1, 256)
        elif op == 3:  # vtable damage
            vt = rng.choice(lm.vtables) if lm.vtables else 64
            p = min(len(buf) - 1, vt + rng.randrange(0, 48))
            buf[p] = rng.choice((0, 1, 2, 3, 0xFF, 0x80, 0x7F, rng.randrange(256)))
        elif op == 4:  # huge or odd vector/string lengths
            if lm.length_words:
                put32(buf, rng.choice(lm.length_words), rng.choice(HUGE32 + [len(buf), rng.randrange(1 << 16)]))
        elif op == 5:  # huge header lengths
            at = rng.choice((16, 16 + 0, 64 + struct.unpack_from("<Q", src, 16)[0]))
            if at <= len(buf) - 8:
                struct.pack_into("<Q", buf, at, rng.choice(HUGE64 + [rng.randrange(len(buf) + 64)]))
        elif op == 6:  # swapped offsets
            if len(lm.offset_words) >= 2:
                a, b = rng.sample(lm.offset_words, 2)
                if a <= len(buf) - 4 and b <= len(buf) - 4:
                    buf[a:a + 4], buf[b:b + 4] = buf[b:b + 4], buf[a:a + 4]
        elif op == 7:  # offsets pointing at themselves, backwards, or far away
            if lm.offset_words:
                put32(buf, rng.choice(lm.offset_words), rng.choice((0, 4, -4, -8, 1, 3) + tuple(HUGE32)))
        elif op == 8:  # JSON damage (input_json, output_json and other strings)
            if lm.strings:
                s, ln = rng.choice(lm.strings)
                for _ in range(rng.randint(1, 3)):
                    if ln:
                        p = s + rng.randrange(ln)
                        if p < len(buf):
                            buf[p] = ord(rng.choice('{}[]":,\\u0"x \x00\x7f\xff'))
        elif op == 9:  # random bytes after a valid header / entirely random data
            tail = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
            buf = bytearray(src[:64] + tail) if rng.random() < 0.5 else bytearray(b"RKNN" + tail)
        elif op == 10:  # many random flips across the whole file
            for _ in range(rng.randint(1, 16)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 12:  # a synthetic model whose input_json is random JSON, or random JSON tokens
            buf = bytearray(json_soup_model(rng))
        else:  # splice two files / a shifted FlatBuffer
            other = bases[rng.randrange(len(bases))]
            cut = rng.randrange(64, len(buf))
            buf = buf[:cut] + bytearray(other[cut:]) if rng.random() < 0.5 else buf[:64] + buf[68:]
        yield bytes(buf)
        n += 1


def run_fuzz(san_driver: Driver, driver: Driver, seed: int, count: int, chunk: int = 2000) -> Dict[str, int]:
    stats = {"valid": 0, "invalid": 0}
    batch: List[bytes] = []

    def flush() -> None:
        san = san_driver.stream(batch)
        plain = driver.stream(batch)
        for i, (a, b) in enumerate(zip(san, plain)):
            assert a == b, f"sanitized and optimised builds disagree on mutant {i}: {a[:200]} / {b[:200]}"
            stats["valid" if decode_result(a) is not None else "invalid"] += 1
        batch.clear()

    for blob in mutants(seed, count):
        batch.append(blob)
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return stats


def test_truncation_at_every_landmark(san_driver: Driver) -> None:
    """Every prefix of small synthetic files, and prefixes of the real files at every landmark +-1."""
    blobs: List[bytes] = []
    for data in (simple(), simple(trailer=None),
                 make_rknn([Spec(LastString(b"nul-less"), [1, 4])], [Spec("y", [2])], trailer=None)):
        blobs += [data[:n] for n in range(len(data))]
    for name in REAL_FILES:
        data = real_bytes(name)
        cuts = {p + d for p in Landmarks(data).points for d in (-1, 0, 1)} | set(range(0, 130))
        blobs += [data[:n] for n in sorted(cuts) if 0 <= n < len(data)]
    results = san_driver.stream(blobs)
    valid = [i for i, line in enumerate(results) if decode_result(line) is not None]
    # a (strict) prefix is valid exactly when it ends where the FlatBuffer ends: the trailer is optional,
    # but a partial one is not accepted
    for i in valid:
        assert len(blobs[i]) == 64 + struct.unpack_from("<Q", blobs[i], 16)[0]
    assert len(valid) == 1 + len(REAL_FILES)  # simple() and the five real files, cut before their trailers


def test_fuzz_quick(san_driver: Driver, driver: Driver) -> None:
    stats = run_fuzz(san_driver, driver, seed=20261129, count=16000)
    # the mutators must exercise both outcomes, or they are not testing much
    assert stats["valid"] > 100 and stats["invalid"] > 1000, stats


@pytest.mark.slow
def test_fuzz_long(san_driver: Driver, driver: Driver) -> None:
    for seed in range(1, 11):
        stats = run_fuzz(san_driver, driver, seed=seed, count=100000)
        assert stats["valid"] > 0 and stats["invalid"] > 0, stats
