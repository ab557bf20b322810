"""Tests of simulator.py: finding and caching the C sources' build, the model writer, the numpy rule."""
from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
from typing import Any, Dict, List

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ztu_somemodelruntime_ez_rknn_async import simulator
from ztu_somemodelruntime_ez_rknn_async.simulator import SimulatorBuildError, TensorSpec

REPO = pathlib.Path(__file__).resolve().parent.parent


def _has_compiler() -> bool:
    try:
        simulator._compiler()
    except SimulatorBuildError:
        return False
    return True


needs_cc = pytest.mark.skipif(not _has_compiler(), reason="no C compiler available")


# --------------------------------------------------------------------------------------------------
# source_dir / library_path / build


def test_source_dir_is_the_checkout_stubs() -> None:
    src = simulator.source_dir()
    assert src.is_dir()
    assert (src / "sim_internal.h").is_file()
    assert any(src.glob("*.c"))
    if not (pathlib.Path(simulator.__file__).parent / "_sim_src").is_dir():
        assert src == REPO / "stubs"


def test_source_dir_prefers_package_copy(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "_sim_src").mkdir(parents=True)
    (pkg / "_sim_src" / "a.c").write_text("int x;\n")
    monkeypatch.setattr(simulator, "_PACKAGE_DIR", pkg)
    assert simulator.source_dir() == pkg / "_sim_src"


def test_source_dir_missing_is_a_clear_error(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator, "_PACKAGE_DIR", tmp_path / "nowhere" / "pkg")
    with pytest.raises(SimulatorBuildError, match="sources were not found"):
        simulator.source_dir()


def test_missing_compiler_named_in_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "definitely-not-a-compiler-4711")
    with pytest.raises(SimulatorBuildError, match="definitely-not-a-compiler-4711"):
        simulator.library_path()
    monkeypatch.delenv("CC")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SimulatorBuildError, match="no C compiler found.*cc/gcc"):
        simulator.library_path()
    assert isinstance(SimulatorBuildError("x"), RuntimeError)


def _copy_sources(dst: pathlib.Path) -> pathlib.Path:
    dst.mkdir(parents=True)
    for f in simulator.source_dir().iterdir():
        if f.suffix in (".c", ".h"):
            shutil.copy2(f, dst / f.name)
    return dst


@needs_cc
def test_cache_is_keyed_by_source_hash(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _copy_sources(tmp_path / "src")
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZTU_RKNN_SIM_CACHE", str(cache))
    monkeypatch.setattr(simulator, "source_dir", lambda: src)

    first = simulator.library_path()
    assert os.path.isabs(first) and first.endswith("/librknnrt.so")
    dirname = pathlib.Path(first).parent.name
    assert dirname.startswith("sim-") and len(dirname) == 4 + 16
    int(dirname[4:], 16)

    # Fast path: no compile at all when the library exists.
    def no_compile(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compiled although the cached library exists")

    monkeypatch.setattr(simulator, "_compile", no_compile)
    assert simulator.library_path() == first
    monkeypatch.setattr(simulator, "_path_memo", {})  # the on-disk fast path, not just the memo
    assert simulator.library_path() == first
    monkeypatch.undo()
    monkeypatch.setenv("ZTU_RKNN_SIM_CACHE", str(cache))
    monkeypatch.setattr(simulator, "source_dir", lambda: src)

    # Within this process the first path sticks, even when a source changes (one library instance).
    victim = sorted(src.glob("*.c"))[0]
    victim.write_text(victim.read_text() + "\n/* edited */\n")
    assert simulator.library_path() == first

    # A fresh process (no memo) gets a new key and a new library for the changed source; the old one stays.
    monkeypatch.setattr(simulator, "_path_memo", {})
    second = simulator.library_path()
    assert second != first
    assert os.path.exists(first) and os.path.exists(second)

    # rebuild=True recompiles in place.
    before = os.stat(second).st_ino
    assert simulator.library_path(rebuild=True) == second
    assert os.stat(second).st_ino != before

    # rebuild=True also picks up edited sources and makes that path the sticky one.
    victim.write_text(victim.read_text() + "\n/* edited again */\n")
    third = simulator.library_path(rebuild=True)
    assert third not in (first, second)
    assert simulator.library_path() == third
    leftovers = [p.name for p in pathlib.Path(second).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_cache_root_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.delenv("ZTU_RKNN_SIM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert simulator._cache_root() == tmp_path / "xdg" / "ztu_somemodelruntime_ez_rknn_async"
    monkeypatch.setenv("ZTU_RKNN_SIM_CACHE", str(tmp_path / "explicit"))
    assert simulator._cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("ZTU_RKNN_SIM_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert simulator._cache_root() == pathlib.Path.home() / ".cache" / "ztu_somemodelruntime_ez_rknn_async"


@needs_cc
def test_two_processes_build_into_empty_cache(tmp_path: pathlib.Path) -> None:
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        """
        import hashlib, sys
        from ztu_somemodelruntime_ez_rknn_async import simulator
        path = simulator.library_path()
        with open(path, "rb") as fh:
            print(path, hashlib.sha256(fh.read()).hexdigest())
        """
    )
    env = dict(os.environ, ZTU_RKNN_SIM_CACHE=str(cache), PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()
    lines = {o.decode().strip() for o, _ in outs}
    assert len(lines) == 1, lines  # same path, same bytes
    path = pathlib.Path(lines.pop().split()[0])
    assert [d.name for d in cache.iterdir()] == [path.parent.name]
    assert sorted(p.name for p in path.parent.iterdir()) == [".lock", "librknnrt.so"]
    lib = ctypes.CDLL(str(path))
    lib.rknn_sim_version.restype = ctypes.c_char_p
    assert lib.rknn_sim_version().startswith(b"ztu-sim")


@needs_cc
def test_build_reports_compiler_output(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken.c").write_text("int broken(void) { return undeclared_identifier_4711; }\n")
    monkeypatch.setattr(simulator, "source_dir", lambda: src)
    with pytest.raises(SimulatorBuildError) as info:
        simulator.build(tmp_path / "out")
    text = str(info.value)
    assert "undeclared_identifier_4711" in text and "exit code" in text
    assert not (tmp_path / "out" / "librknnrt.so").exists()
    assert [p for p in (tmp_path / "out").iterdir()] == []  # the temp file is gone too


@needs_cc
def test_build_elsewhere_with_soname(tmp_path: pathlib.Path) -> None:
    out = simulator.build(tmp_path / "b", cflags=["-DZTU_SIM_TEST_FLAG=1"])
    assert out == (tmp_path / "b" / "librknnrt.so").resolve()
    readelf = shutil.which("readelf")
    if readelf:
        dyn = subprocess.run([readelf, "-d", str(out)], stdout=subprocess.PIPE, check=True).stdout.decode()
        assert "[librknnrt.so]" in dyn
    with pytest.raises(TypeError):
        simulator.build(tmp_path / "c", cflags="-O0")


def test_build_flags() -> None:
    plain = simulator._build_flags(False, ())
    assert "-O2" in plain and "-Werror" in plain and "-Wl,-soname,librknnrt.so" in plain
    san = simulator._build_flags(True, ("-DX",))
    assert "-O2" not in san and "-O1" in san and "-fsanitize=address,undefined" in san and san[-1] == "-DX"


# --------------------------------------------------------------------------------------------------
# TensorSpec and write_model


def _x() -> TensorSpec:
    return TensorSpec("x", (1, 4))


def test_tensorspec_normalises() -> None:
    spec = TensorSpec("a", [1, 3, 2, 2], np.int8, scale=np.float64(0.1), zero_point=np.int64(-3),  # type: ignore[arg-type]
                      layout="NCHW", shapes=[[1, 3, 2, 2], [1, 3, 4, 4]])
    assert spec.shape == (1, 3, 2, 2)
    assert spec.dtype == "int8"
    assert spec.scale == float(np.float32(0.1))
    assert spec.zero_point == -3 and type(spec.zero_point) is int
    assert spec.layout == "nchw"
    assert spec.shapes == ((1, 3, 2, 2), (1, 3, 4, 4))
    assert TensorSpec("b", (), np.dtype("float16")).dtype == "float16"
    assert TensorSpec("c", (2,), bool).dtype == "bool"
    hash(spec)  # frozen and hashable


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="", shape=(1,)), "must not be empty"),
        (dict(name="a\x00b", shape=(1,)), "NUL"),
        (dict(name="n" * 256, shape=(1,)), "at most 255"),
        (dict(name=3, shape=(1,)), "must be a str"),
        (dict(name="a", shape=(-1,)), "out of range"),
        (dict(name="a", shape=(1.5,)), "integers"),
        (dict(name="a", shape="12"), "sequence"),
        (dict(name="a", shape=(1,) * 17), "at most 16"),
        (dict(name="a", shape=(1,), dtype="complex64"), "not supported"),
        (dict(name="a", shape=(1,), dtype="float64"), "not supported"),
        (dict(name="a", shape=(1,), dtype="nonsense"), "dtype"),
        (dict(name="a", shape=(1,), dtype="float32", scale=0.5), "only valid for"),
        (dict(name="a", shape=(1,), dtype="int8", scale=0.0), "> 0"),
        (dict(name="a", shape=(1,), dtype="int8", scale=float("nan")), "finite"),
        (dict(name="a", shape=(1,), dtype="int8", scale=1e-60), "> 0"),
        (dict(name="a", shape=(1,), dtype="int8", zero_point=1), "needs scale"),
        (dict(name="a", shape=(1,), dtype="int8", scale=1.0, zero_point=128), "outside"),
        (dict(name="a", shape=(1,), dtype="uint8", scale=1.0, zero_point=-1), "outside"),
        (dict(name="a", shape=(1,), dtype="int8", scale=1.0, zero_point=1.0), "must be an int"),
        (dict(name="a", shape=(1, 2), layout="nhwc"), "4-D"),
        (dict(name="a", shape=(1, 2), layout="nc1hwc2"), "layout must be"),
        (dict(name="a", shape=(1, 2), shapes=[]), "at least one row"),
        (dict(name="a", shape=(1, 2), shapes=[(1, 3)]), "must equal shape"),
        (dict(name="a", shape=(1, 2), shapes=[(1, 2), (1,)]), "has 1 dims"),
        (dict(name="a", shape=(), shapes=[()]), "scalar"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_tensorspec_invalid(kwargs: Dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TensorSpec(**kwargs)


@pytest.mark.parametrize(
    "inputs, outputs, kwargs, match",
    [
        ([], [_x()], {}, "at least one"),
        ([_x()], [], {}, "at least one"),
        ([_x()] * 257, [_x()], {}, "at most 256"),
        ([_x(), _x()], [_x()], {}, "duplicate input names"),
        ([_x()], [TensorSpec("y", (1,)), TensorSpec("y", (2,))], {}, "duplicate output names"),
        ([{"name": "x"}], [_x()], {}, "missing keys"),
        ([{"name": "x", "shape": (1,), "colour": 1}], [_x()], {}, "unknown keys"),
        (["x"], [_x()], {}, "TensorSpec or a mapping"),
        (_x(), [_x()], {}, "sequence"),
        ([_x()], [_x()], {"latency_us": -1}, "latency_us"),
        ([_x()], [_x()], {"latency_us": 1.5}, "latency_us"),
        ([_x()], [_x()], {"custom_string": "s" * 1024}, "at most 1023"),
        ([_x()], [_x()], {"custom_string": "é" * 512}, "at most 1023"),
        ([_x()], [_x()], {"custom_string": b"bytes"}, "must be a str"),
        ([_x()], [_x()], {"custom_op": ""}, "must not be empty"),
        ([_x()], [_x()], {"op_attrs": {"a": 1}}, "only valid together with custom_op"),
        ([_x()], [_x()], {"custom_op": "Op", "op_attrs": {"a": []}}, "at least one value"),
        ([_x()], [_x()], {"custom_op": "Op", "op_attrs": {"a": "text"}}, "numbers"),
        ([_x()], [_x()], {"custom_op": "Op", "op_attrs": {"a": ("int8", [300])}}, "outside"),
        ([_x()], [_x()], {"custom_op": "Op", "op_attrs": {"a": ("int32", [1.5])}}, "integers"),
        ([_x()], [_x()], {"custom_op": "Op", "op_attrs": {"a": [float("inf")]}}, "finite"),
        ([_x()], [_x()], {"custom_op": "Op", "op_attrs": {"": [1]}}, "must not be empty"),
        ([_x()], [_x()], {"custom_op": "Op", "op_attrs": {f"a{i}": 1 for i in range(65)}}, "at most 64"),
        ([_x()], [_x()], {"weights_id": "a", "weights_from": "b"}, "not both"),
        ([_x()], [_x()], {"weights_from": ""}, "must not be empty"),
        (
            [TensorSpec("a", (1,), shapes=[(1,), (2,)]), TensorSpec("b", (1,))],
            [_x()],
            {},
            "every input needs",
        ),
        (
            [TensorSpec("a", (1,), shapes=[(1,), (2,)]), TensorSpec("b", (1,), shapes=[(1,)])],
            [_x()],
            {},
            "same number of rows",
        ),
        (
            [TensorSpec("a", (1,), shapes=[(1,), (2,)])],
            [TensorSpec("y", (1,), shapes=[(1,), (2,), (3,)])],
            {},
            "3 shape rows",
        ),
        ([_x()], [TensorSpec("y", (1,), shapes=[(1,), (2,)])], {}, "only have `shapes` when the inputs"),
    ],
)
def test_write_model_invalid(
    tmp_path: pathlib.Path, inputs: Any, outputs: Any, kwargs: Dict[str, Any], match: str
) -> None:
    path = tmp_path / "m.rknn"
    with pytest.raises(ValueError, match=match):
        simulator.write_model(path, inputs, outputs, **kwargs)
    assert not path.exists()


def test_write_model_text(tmp_path: pathlib.Path) -> None:
    path = simulator.write_model(
        str(tmp_path / "m.rknn"),
        [
            TensorSpec("in put/é", (1, 3, 4, 4), "int8", scale=0.5, zero_point=-3, layout="nchw"),
            {"name": "s", "shape": (), "dtype": np.float16},
        ],
        [TensorSpec("out", (2, 3), "uint8", scale=0.25, zero_point=7)],
        latency_us=2500,
        custom_string="hi there 100%\n",
        custom_op="My.Op",
        op_attrs={"k": [1, 2], "f": 0.1, "u": ("uint8", [3]), "arr": np.array([1.5, 2.5], dtype=np.float32)},
        weights_id="w-1",
    )
    assert isinstance(path, pathlib.Path)
    assert path.read_bytes().endswith(b"\nend\n")
    assert path.read_text().splitlines() == [
        "RKNN-SIM 1",
        "latency_us 2500",
        "custom_string hi%20there%20100%25%0A",
        "op custom My.Op",
        "op_attr k int64 1,2",
        f"op_attr f float32 {float(np.float32(0.1))!r}",
        "op_attr u uint8 3",
        "op_attr arr float32 1.5,2.5",
        "weights w-1",
        "input in%20put%2F%C3%A9 int8 1,3,4,4 fmt=nchw scale=0.5 zp=-3",
        "input s float16 scalar",
        "output out uint8 2,3 scale=0.25 zp=7",
        "end",
    ]


def test_write_model_dynamic(tmp_path: pathlib.Path) -> None:
    path = simulator.write_model(
        tmp_path / "d.rknn",
        [TensorSpec("a", (1, 2), shapes=[(1, 2), (1, 4)])],
        [TensorSpec("y", (1, 2), shapes=[(1, 2), (1, 4)]), TensorSpec("z", (3,))],
        weights_from="w-1",
    )
    lines = path.read_text().splitlines()
    assert "input a float32 1,2 shapes=1,2;1,4" in lines
    assert "output y float32 1,2 shapes=1,2;1,4" in lines
    assert "output z float32 3" in lines
    assert "weights_from w-1" in lines


@given(st.text(min_size=0, max_size=40))
@settings(deadline=None, max_examples=200)
def test_percent_encode_round_trip(text: str) -> None:
    from urllib.parse import unquote

    enc = simulator.percent_encode(text)
    assert all(c.isascii() and (c.isalnum() or c in "._~-%") for c in enc)
    assert " " not in enc and "\n" not in enc
    assert unquote(enc, errors="strict") == text
    assert all(enc[i + 1 : i + 3] == enc[i + 1 : i + 3].upper() for i, c in enumerate(enc) if c == "%")


# --------------------------------------------------------------------------------------------------
# expected_outputs


def test_expected_outputs_sum_rule() -> None:
    ins = [TensorSpec("a", (2, 3)), TensorSpec("b", (3,)), TensorSpec("c", (0,))]
    outs = [TensorSpec("y", (2, 3)), TensorSpec("z", (4,))]
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([10, 20, 30], dtype=np.float32)
    y, z = simulator.expected_outputs(ins, outs, [a, b, np.zeros(0)])
    assert y.dtype == np.float32 and y.shape == (2, 3)
    np.testing.assert_array_equal(y, a + np.tile(b, 2).reshape(2, 3))
    np.testing.assert_array_equal(z, np.array([0 + 10, 1 + 20, 2 + 30, 3 + 10], dtype=np.float32) + 1)


def test_expected_outputs_quantisation_rounds_half_to_even_and_saturates() -> None:
    ins = [TensorSpec("a", (6,), "int8", scale=0.5, zero_point=0)]
    outs = [TensorSpec("y", (6,), "uint8", scale=1.0, zero_point=10), TensorSpec("z", (6,), "int16", scale=2.0)]
    feed = np.array([0.25, 0.75, -0.25, 1000.0, -1000.0, np.nan], dtype=np.float32)
    y, z = simulator.expected_outputs(ins, outs, [feed])
    # a holds rint(x / 0.5): 0.5->0, 1.5->2, -0.5->-0, 2000->127, -2000->-128, nan->0
    held = np.array([0.0, 1.0, 0.0, 63.5, -64.0, 0.0], dtype=np.float32)
    # y = held (+0): uint8 with zp 10 -> q = rint(v)+10 clamped to 0..255 -> dequantised
    np.testing.assert_array_equal(y, np.clip(np.rint(held) + 10, 0, 255) - 10)
    # z = held + 1, int16 scale 2: rint((v+1)/2)*2
    np.testing.assert_array_equal(z, np.rint((held + 1) / 2) * 2)


def test_expected_outputs_other_types() -> None:
    ins = [TensorSpec("a", (4,), "float16"), TensorSpec("b", (4,), "int32"), TensorSpec("c", (4,), "bool")]
    outs = [TensorSpec("y", (4,), "uint8"), TensorSpec("z", (2, 2), "float16")]
    a = np.array([0.1, 1e6, -2.5, 3.0])
    b = np.array([0.5, 1.5, 2.5, -7.7])
    c = np.array([0.0, 2.0, np.nan, -1.0])
    y, z = simulator.expected_outputs(ins, outs, [a, b, c])
    with np.errstate(over="ignore"):
        ah = a.astype(np.float32).astype(np.float16).astype(np.float32)  # 1e6 -> inf
    held = ah + np.array([0, 2, 2, -8], dtype=np.float32) + np.array([0, 1, 0, 1], dtype=np.float32)
    np.testing.assert_array_equal(y, np.clip(np.rint(held), 0, 255))
    np.testing.assert_array_equal(z, (held + 1).astype(np.float16).astype(np.float32).reshape(2, 2))


def test_expected_outputs_dynamic_row() -> None:
    ins = [TensorSpec("a", (1, 2), shapes=[(1, 2), (1, 4)])]
    outs = [TensorSpec("y", (1, 2), shapes=[(1, 2), (1, 4)])]
    (y,) = simulator.expected_outputs(ins, outs, [np.ones((1, 4))])
    assert y.shape == (1, 4)
    with pytest.raises(ValueError, match="one per input"):
        simulator.expected_outputs(ins, outs, [])


# --------------------------------------------------------------------------------------------------
# Against the simulated runtime itself (needs the rknn_* functions of stubs/sim_api.c)


@pytest.fixture(scope="module")
def sim_lib() -> ctypes.CDLL:
    if not _has_compiler():
        pytest.skip("no C compiler available")
    lib = ctypes.CDLL(simulator.library_path())
    try:
        lib["rknn_init"]
    except AttributeError:
        pytest.skip("the simulator does not export rknn_* functions yet (stubs/sim_api.c missing)")
    return lib


def _api(lib: ctypes.CDLL) -> Any:
    from ztu_somemodelruntime_ez_rknn_async import _abi

    return _abi, _abi.bind(lib)


def _init(api: Any, abi: Any, path: pathlib.Path) -> int:
    ctx = abi.rknn_context() if hasattr(abi, "rknn_context") else ctypes.c_uint64()
    raw = str(path).encode()
    rc = api.rknn_init(ctypes.byref(ctx), ctypes.c_char_p(raw), 0, 0, None)
    assert rc == 0, f"rknn_init failed with {rc}"
    return int(ctx.value)


name_chars = st.characters(codec="utf-8", exclude_characters="\x00")


@given(
    name=st.text(name_chars, min_size=1, max_size=60).filter(lambda s: len(s.encode()) <= 255),
    custom=st.text(name_chars, min_size=0, max_size=200).filter(lambda s: len(s.encode()) <= 1023),
)
@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_percent_encoding_round_trips_through_the_runtime(
    sim_lib: ctypes.CDLL, tmp_path: pathlib.Path, name: str, custom: str
) -> None:
    abi, api = _api(sim_lib)
    path = simulator.write_model(
        tmp_path / "pe.rknn", [TensorSpec(name, (1, 2))], [TensorSpec(name + "!", (1, 2))], custom_string=custom
    )
    ctx = _init(api, abi, path)
    try:
        cs = abi.rknn_custom_string()
        assert api.rknn_query(ctx, abi.RKNN_QUERY_CUSTOM_STRING, ctypes.byref(cs), ctypes.sizeof(cs)) == 0
        assert bytes(cs.string).split(b"\0", 1)[0] == custom.encode()
        attr = abi.rknn_tensor_attr()
        attr.index = 0
        assert api.rknn_query(ctx, abi.RKNN_QUERY_INPUT_ATTR, ctypes.byref(attr), ctypes.sizeof(attr)) == 0
        assert bytes(attr.name).split(b"\0", 1)[0] == name.encode()
        attr = abi.rknn_tensor_attr()
        attr.index = 0
        assert api.rknn_query(ctx, abi.RKNN_QUERY_OUTPUT_ATTR, ctypes.byref(attr), ctypes.sizeof(attr)) == 0
        assert bytes(attr.name).split(b"\0", 1)[0] == (name + "!").encode()
    finally:
        assert api.rknn_destroy(ctx) == 0


def _run_model(lib: ctypes.CDLL, path: pathlib.Path, feeds: List[np.ndarray], n_out: int) -> List[np.ndarray]:
    """inputs_set (float32, logical order: NCHW for 4-D) -> run -> outputs_get(want_float) on one context."""
    abi, api = _api(lib)
    ctx = _init(api, abi, path)
    try:
        arrays = [np.ascontiguousarray(f, dtype=np.float32) for f in feeds]
        inputs = (abi.rknn_input * len(arrays))()
        for i, arr in enumerate(arrays):
            inputs[i].index = i
            inputs[i].buf = arr.ctypes.data_as(ctypes.c_void_p)
            inputs[i].size = arr.nbytes
            inputs[i].pass_through = 0
            inputs[i].type = abi.RKNN_TENSOR_FLOAT32
            inputs[i].fmt = abi.RKNN_TENSOR_NCHW if arr.ndim == 4 else abi.RKNN_TENSOR_UNDEFINED
        assert api.rknn_inputs_set(ctx, len(arrays), inputs) == 0
        assert api.rknn_run(ctx, None) == 0
        outputs = (abi.rknn_output * n_out)()
        for j in range(n_out):
            outputs[j].index = j
            outputs[j].want_float = 1
        assert api.rknn_outputs_get(ctx, n_out, outputs, None) == 0
        try:
            result = []
            for j in range(n_out):
                buf = (ctypes.c_float * (outputs[j].size // 4)).from_address(outputs[j].buf)
                result.append(np.array(buf, dtype=np.float32))
        finally:
            assert api.rknn_outputs_release(ctx, n_out, outputs) == 0
        return result
    finally:
        assert api.rknn_destroy(ctx) == 0


@pytest.mark.parametrize(
    "ins, outs",
    [
        ([TensorSpec("a", (2, 3)), TensorSpec("b", (3,))], [TensorSpec("y", (2, 3)), TensorSpec("z", (5,))]),
        (
            [TensorSpec("a", (1, 2, 2, 2), "int8", scale=0.05, zero_point=-4)],
            [TensorSpec("y", (1, 2, 2, 2), "int8", scale=0.1, zero_point=3), TensorSpec("z", (8,), "float16")],
        ),
        (
            [TensorSpec("a", (7,), "uint8", scale=0.5, zero_point=100), TensorSpec("b", (2,), "float16")],
            [TensorSpec("y", (7,), "uint8", scale=2.0, zero_point=0), TensorSpec("z", (3,), "int16", scale=0.01)],
        ),
    ],
    ids=["float", "int8", "uint8-mixed"],
)
def test_expected_outputs_match_the_simulator(
    sim_lib: ctypes.CDLL, tmp_path: pathlib.Path, ins: List[TensorSpec], outs: List[TensorSpec]
) -> None:
    rng = np.random.default_rng(1234)
    feeds = [rng.uniform(-10, 10, size=s.shape).astype(np.float32) for s in ins]
    # exact .5 steps exercise the rounding rule
    feeds[0].reshape(-1)[:3] = [0.025, -0.075, 0.25]
    path = simulator.write_model(tmp_path / "m.rknn", ins, outs)
    got = _run_model(sim_lib, path, feeds, len(outs))
    want = simulator.expected_outputs(ins, outs, feeds)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w.reshape(-1))
