"""Issue #7, security: what the binding loads, and what hostile input can do to it.

* Library and plugin search never uses the current directory or a relative path: a *planted* library (its ELF
  constructor writes a marker file the moment anything dlopens it) sits in the current directory under every
  name the search could use; relative spellings in the provider options and in the environment give clear
  errors and the marker never appears. Covers the dynamic linker route too (``LD_LIBRARY_PATH`` with an empty
  or relative entry, which glibc resolves against the current directory) and the simulator's build cache
  (``ZTU_RKNN_SIM_CACHE`` / ``XDG_CACHE_HOME``).
* Plugins in group/world-writable places are refused *before* they are loaded (marker absent), through the
  session's provider options (the loader-level checks are in ``test_plugins.py``).
* A hostile model file can only produce an error: mutated real ``.rknn`` files and mutated simulator-native
  models go through ``InferenceSession`` (construction, introspection, a run, zero copy) in a subprocess, so a
  crash fails the test instead of killing pytest.
* Hostile runtime answers: tensor attributes with names lacking a terminating NUL, ``n_dims`` above 16, absurd
  dims, unterminated version/custom strings, crafted at the ctypes level and fed through ``TensorAttr.from_c``
  and through the session's attribute handling (a wrapped ``rknn_query``) -> clear errors, no crash.
"""
from __future__ import annotations

import ctypes
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import textwrap
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession, _abi, _library, session as session_module
from ztu_somemodelruntime_ez_rknn_async import simulator
from ztu_somemodelruntime_ez_rknn_async._context import TensorAttr
from ztu_somemodelruntime_ez_rknn_async.errors import (
    InvalidArgumentError,
    InvalidOptionError,
    RknnError,
    RknnModelInvalidError,
    RuntimeLibraryNotFoundError,
)
from ztu_somemodelruntime_ez_rknn_async.plugins import PluginPermissionError
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

SIM = {"runtime_library": "simulator"}
ROOT = str(pathlib.Path(ez.__file__).resolve().parents[1])
REAL_MODELS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "models" / "rknn"

PLANTED_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void)
{
    const char *m = getenv("ZTU_PLANTED_MARKER");
    if (m != NULL) {
        FILE *f = fopen(m, "a");
        if (f != NULL) { fputs(PLANTED_NAME "\n", f); fclose(f); }
    }
}
int rknn_init(void) { return -1; }
int rknn_destroy(void) { return -1; }
int rknn_query(void) { return -1; }
void *get_rknn_custom_op(void) { return NULL; }
"""


def _cc() -> str:
    for cc in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    pytest.skip("no C compiler")
    raise AssertionError


@pytest.fixture(scope="module")
def planted_build(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("planted-build")
    src = d / "planted.c"
    src.write_text(PLANTED_C)
    out = d / "planted.so"
    subprocess.run([_cc(), "-shared", "-fPIC", "-DPLANTED_NAME=\"planted\"", "-o", str(out), str(src)], check=True,
                   capture_output=True)
    return out


@pytest.fixture()
def trap(planted_build: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """The current directory is full of planted libraries; ``marker`` appears if any of them is ever loaded."""
    cwd = tmp_path / "cwd"
    for rel in ("librknnrt.so", "lib/librknnrt.so", "librkcst_evil.so", "plugins/librkcst_evil.so",
                "ztu_somemodelruntime_ez_rknn_async/librknnrt.so"):
        dest = cwd / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(planted_build, dest)
        os.chmod(dest, 0o755)
    os.chmod(cwd, 0o755)
    marker = tmp_path / "LOADED"
    monkeypatch.setenv("ZTU_PLANTED_MARKER", str(marker))
    monkeypatch.chdir(cwd)
    return {"cwd": cwd, "marker": marker}


def _not_loaded(trap: Dict[str, Any]) -> None:
    marker: pathlib.Path = trap["marker"]
    assert not marker.exists(), "a planted library was loaded: " + marker.read_text()


@pytest.fixture()
def model(native_model: Any) -> pathlib.Path:
    path: pathlib.Path = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    return path


RELATIVE = ["librknnrt.so", "./librknnrt.so", "lib/librknnrt.so", "lib/../librknnrt.so",
            "ztu_somemodelruntime_ez_rknn_async/librknnrt.so"]


@pytest.mark.parametrize("spec", RELATIVE)
def test_relative_runtime_library_in_provider_options_never_loads_from_cwd(trap: Dict[str, Any], model: pathlib.Path,
                                                                           spec: str) -> None:
    with pytest.raises(InvalidOptionError) as ei:
        InferenceSession(str(model), provider_options={"runtime_library": spec})
    assert "relative" in str(ei.value) and repr(spec) in str(ei.value)
    _not_loaded(trap)


@pytest.mark.parametrize("spec", RELATIVE)
def test_relative_runtime_library_in_the_environment_never_loads_from_cwd(trap: Dict[str, Any],
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          model: pathlib.Path, spec: str) -> None:
    monkeypatch.setenv(_library.ENV_VAR, spec)
    with pytest.raises(InvalidOptionError) as ei:
        InferenceSession(str(model))
    assert _library.ENV_VAR in str(ei.value) and "relative" in str(ei.value)
    _not_loaded(trap)


@pytest.mark.parametrize("paths", [["librkcst_evil.so"], ["./librkcst_evil.so"], ["plugins/librkcst_evil.so"],
                                   "librkcst_evil.so"])
@pytest.mark.filterwarnings("ignore:Custom op loading requested")
def test_relative_plugin_paths_never_load_from_cwd(trap: Dict[str, Any], model: pathlib.Path, paths: Any) -> None:
    with pytest.raises(InvalidOptionError):
        InferenceSession(str(model), provider_options=dict(SIM, custom_op_paths=paths))
    _not_loaded(trap)


@pytest.mark.filterwarnings("ignore:Custom op loading requested")
@pytest.mark.parametrize("mode, what", [(0o777, "dir"), (0o775, "dir"), (0o757, "dir"), (0o666, "file"),
                                        (0o775, "file")])
def test_plugin_in_a_writable_place_is_refused_before_loading(trap: Dict[str, Any], model: pathlib.Path,
                                                              tmp_path: pathlib.Path, mode: int, what: str) -> None:
    d = tmp_path / "open"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    lib = d / "librkcst_evil.so"
    shutil.copyfile(trap["cwd"] / "librkcst_evil.so", lib)
    os.chmod(lib, 0o755)
    os.chmod(d if what == "dir" else lib, mode)
    with pytest.raises(PluginPermissionError, match="writable by group or others"):
        InferenceSession(str(model), provider_options=dict(SIM, custom_op_paths=[str(lib)]))
    _not_loaded(trap)
    os.chmod(d, 0o755)
    os.chmod(lib, 0o755)
    # the control: the same file in a safe place IS loaded (so the marker does detect loading)
    with pytest.raises(ez.plugins.CustomOpPluginError, match="returned null"):  # type: ignore[attr-defined]
        InferenceSession(str(model), provider_options=dict(SIM, custom_op_paths=[str(lib)]))
    assert trap["marker"].read_text().split() == ["planted"]


def _run_py(code: str, cwd: pathlib.Path, env: Dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    full.pop(_library.ENV_VAR, None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=str(cwd), env=full,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("ld_path", [":", "::", ".", "lib", "/nonexistent:", ":/nonexistent", "/nonexistent::/x"])
def test_default_search_ignores_cwd_entries_of_ld_library_path(trap: Dict[str, Any], ld_path: str) -> None:
    """glibc reads an empty or relative LD_LIBRARY_PATH entry as the current directory: a stray ':' would let
    the soname search load ./librknnrt.so. The default search must refuse that route, not load it."""
    proc = _run_py("""
        from ztu_somemodelruntime_ez_rknn_async._library import load_runtime
        from ztu_somemodelruntime_ez_rknn_async.errors import RuntimeLibraryNotFoundError
        try:
            lib = load_runtime()
        except RuntimeLibraryNotFoundError as e:
            print("NOTFOUND", e.candidates[0][1])
        else:
            print("LOADED", lib.path)
        """, trap["cwd"], {"LD_LIBRARY_PATH": ld_path, "ZTU_PLANTED_MARKER": str(trap["marker"])})
    assert proc.returncode == 0, proc.stderr
    _not_loaded(trap)
    assert proc.stdout.startswith("NOTFOUND"), proc.stdout
    assert "current directory" in proc.stdout or "relative" in proc.stdout, proc.stdout


@pytest.mark.parametrize("env", [{"ZTU_RKNN_SIM_CACHE": "cache"}, {"ZTU_RKNN_SIM_CACHE": "./cache"},
                                 {"XDG_CACHE_HOME": "xdg"}])
def test_simulator_cache_never_relative_to_cwd(trap: Dict[str, Any], env: Dict[str, str],
                                               sim_library: str) -> None:
    """The simulator's build cache decides which file is dlopened for runtime_library='simulator': a relative
    cache directory would load whatever sits under the current directory. ZTU_RKNN_SIM_CACHE relative ->
    a clear error; XDG_CACHE_HOME relative -> ignored, as the XDG spec requires."""
    cwd: pathlib.Path = trap["cwd"]
    # plant a library exactly where a relative cache would be looked up
    planted_key = pathlib.Path(sim_library).parent.name
    for base in ("cache", "xdg/ztu_somemodelruntime_ez_rknn_async"):
        dest = cwd / base / planted_key / "librknnrt.so"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cwd / "librknnrt.so", dest)
    proc = _run_py("""
        from ztu_somemodelruntime_ez_rknn_async._library import load_runtime
        from ztu_somemodelruntime_ez_rknn_async.errors import RuntimeLibraryNotFoundError
        try:
            lib = load_runtime("simulator")
        except RuntimeLibraryNotFoundError as e:
            print("NOTFOUND", e)
        else:
            print("LOADED", lib.path, lib.is_simulator)
        """, cwd, dict(env, ZTU_PLANTED_MARKER=str(trap["marker"])))
    assert proc.returncode == 0, proc.stderr
    _not_loaded(trap)
    if "ZTU_RKNN_SIM_CACHE" in env:
        assert proc.stdout.startswith("NOTFOUND") and "relative" in proc.stdout, proc.stdout
    else:
        assert proc.stdout.startswith("LOADED") and proc.stdout.split()[1].startswith("/"), proc.stdout
        assert not proc.stdout.split()[1].startswith(str(cwd)), proc.stdout


# ---------------------------------------------------------------------------------------------- hostile models

FUZZ_SCRIPT = r"""
import json, os, random, sys, traceback
import numpy as np
import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator
from ztu_somemodelruntime_ez_rknn_async.zero_copy import OrtValue

seed, count, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
rng = random.Random(seed)
bases = [open(p, "rb").read() for p in paths]
ALLOWED = (ez.RknnError, ez.InvalidArgumentError, ez.SessionClosedError)
stats = {"rejected": 0, "accepted": 0, "ran": 0, "run_errors": 0}

def mutate(data):
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        op = rng.random()
        if op < 0.4 and b:
            i = rng.randrange(len(b)); b[i] = rng.randrange(256)
        elif op < 0.55 and b:
            i = rng.randrange(len(b)); b[i] ^= 1 << rng.randrange(8)
        elif op < 0.7 and len(b) > 8:
            i = rng.randrange(len(b) - 4)
            b[i:i + 4] = rng.choice((b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\x00\x00\x00\x00",
                                     b"\x11\x00\x00\x00", b"\x10\x00\x00\x00"))
        elif op < 0.8 and b:
            del b[rng.randrange(len(b)):]
        elif op < 0.9 and b:
            i = rng.randrange(len(b)); j = min(len(b), i + rng.randrange(64)); del b[i:j]
        else:
            i = rng.randrange(len(b) + 1); b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32)))
    return bytes(b)

def exercise(sess):
    ins = sess.get_inputs(); sess.get_outputs(); sess.get_modelmeta(); sess.get_native_inputs()
    feeds = {}
    for a in ins:
        shape = [d if isinstance(d, int) else 1 for d in a.shape]
        if int(np.prod(shape, dtype=np.int64)) > 1 << 20:
            return
        dt = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8,
              "tensor(int8)": np.int8}.get(a.type, np.float32)
        feeds[a.name] = np.zeros(shape, dt)
    try:
        sess.run(None, feeds)
        stats["ran"] += 1
    except ALLOWED:
        stats["run_errors"] += 1
    try:
        b = sess.io_binding()
        for a in ins:
            b.bind_cpu_input(a.name, feeds[a.name])
        for o in sess.get_outputs():
            b.bind_output(o.name, "rknpu2")
        sess.run_with_iobinding(b)
        b.copy_outputs_to_cpu()
    except ALLOWED:
        pass

for n in range(count):
    data = mutate(rng.choice(bases))
    if not data:
        continue
    try:
        sess = InferenceSession(data, provider_options={"runtime_library": "simulator", "threads_per_core": 1})
    except ALLOWED:
        stats["rejected"] += 1
        continue
    except Exception:
        print("UNEXPECTED", n, traceback.format_exc(), flush=True)
        sys.exit(3)
    stats["accepted"] += 1
    try:
        exercise(sess)
    except Exception:
        print("UNEXPECTED-RUN", n, traceback.format_exc(), flush=True)
        sys.exit(4)
    finally:
        sess.close()
c = simulator.control()
stats["live"] = [c.counter("live_contexts"), c.counter("live_mems"), c.counter("unreleased_outputs")]
print("STATS", json.dumps(stats), flush=True)
"""


def _fuzz(seed: int, count: int, paths: List[str], cwd: pathlib.Path) -> Dict[str, Any]:
    script = cwd / "fuzz_binding.py"
    script.write_text(FUZZ_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, str(script), str(seed), str(count)] + paths, env=env, cwd=str(cwd),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, "fuzzing the binding crashed (rc {}):\n{}\n{}".format(
        proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
    line = [x for x in proc.stdout.splitlines() if x.startswith("STATS ")][-1]
    stats: Dict[str, Any] = json.loads(line[6:])
    assert stats["live"] == [0, 0, 0], stats
    return stats


def _fuzz_inputs(tmp_path: pathlib.Path) -> List[str]:
    paths = sorted(str(p) for p in REAL_MODELS.glob("*.rknn"))
    if not paths:
        pytest.skip(f"the real .rknn models are not beside the repository ({REAL_MODELS})")
    native = [
        simulator.write_model(tmp_path / "n1.rknn", [TensorSpec("x", (1, 3, 4, 4)), TensorSpec("v", (5,), "int8",
                                                                                                scale=0.5)],
                              [TensorSpec("y", (1, 3, 4, 4), "float16")], latency_us=0, custom_string="hello"),
        simulator.write_model(tmp_path / "n2.rknn", [TensorSpec("x", (1, 4), shapes=[(1, 4), (2, 4)])],
                              [TensorSpec("y", (1, 4), shapes=[(1, 4), (2, 4)]), TensorSpec("z", ())],
                              latency_us=0),
    ]
    return paths + [str(p) for p in native]


def test_hostile_model_files_only_produce_errors(tmp_path: pathlib.Path, sim_library: str) -> None:
    paths = _fuzz_inputs(tmp_path)
    assert len(paths) >= 3
    stats = _fuzz(20261129, 1000, paths, tmp_path)
    # the mutators reach both outcomes, or they are not testing much
    print(stats)
    assert stats["rejected"] > 50 and stats["accepted"] > 50 and stats["ran"] > 20, stats


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 6))
def test_hostile_model_files_only_produce_errors_long(tmp_path: pathlib.Path, sim_library: str, seed: int) -> None:
    stats = _fuzz(seed, 3000, _fuzz_inputs(tmp_path), tmp_path)
    assert stats["rejected"] > 0 and stats["accepted"] > 0, stats


# ---------------------------------------------------------------------------------------------- hostile runtime

_ATTR_SIZE = ctypes.sizeof(_abi.rknn_tensor_attr)
_NAME_OFF = _abi.rknn_tensor_attr.name.offset  # type: ignore[attr-defined]


@settings(max_examples=300)
@given(raw=st.binary(min_size=_ATTR_SIZE, max_size=_ATTR_SIZE))
def test_tensor_attr_from_c_on_arbitrary_bytes(raw: bytes) -> None:
    """Any bytes a runtime could leave in an rknn_tensor_attr: a TensorAttr or RknnModelInvalidError."""
    c = _abi.rknn_tensor_attr.from_buffer_copy(raw)
    try:
        attr = TensorAttr.from_c(c, function="rknn_query(RKNN_QUERY_INPUT_ATTR)")
    except RknnModelInvalidError as exc:
        assert "n_dims" in str(exc) and c.n_dims > 16
        return
    assert c.n_dims <= 16 and attr.n_dims == len(attr.dims) == c.n_dims
    assert len(attr.raw_name) <= 256 and b"\0" not in attr.raw_name
    assert attr.raw_name == raw[_NAME_OFF:_NAME_OFF + 256].split(b"\0", 1)[0]
    try:
        back = attr.to_c()
    except InvalidArgumentError:
        assert len(attr.raw_name) == 256  # an unterminated name cannot be written back
    else:
        assert TensorAttr.from_c(back) == attr


Corruptor = Callable[[int, Any], None]  # (query cmd, the struct the runtime just filled) -> None


def _hostile_runtime(monkeypatch: pytest.MonkeyPatch, corrupt: Corruptor) -> None:
    """Sessions made from now on talk to the simulator through an rknn_query that corrupts its answers."""
    real_lib = _library.load_runtime("simulator")
    lib = _library.RuntimeLibrary.from_cdll(real_lib.cdll, real_lib.path)
    real_query = real_lib.api.rknn_query

    def query(ctx: Any, cmd: int, info: Any, size: int) -> int:
        ret = int(real_query(ctx, cmd, info, size))
        if ret == 0:
            corrupt(int(cmd), info._obj)
        return ret

    lib.api.rknn_query = query  # type: ignore[assignment]
    monkeypatch.setattr(session_module, "load_runtime", lambda spec=None: lib)


ATTR_CMDS = {int(_abi.rknn_query_cmd.RKNN_QUERY_INPUT_ATTR), int(_abi.rknn_query_cmd.RKNN_QUERY_OUTPUT_ATTR),
             int(_abi.rknn_query_cmd.RKNN_QUERY_NATIVE_INPUT_ATTR),
             int(_abi.rknn_query_cmd.RKNN_QUERY_NATIVE_OUTPUT_ATTR),
             int(_abi.rknn_query_cmd.RKNN_QUERY_CURRENT_OUTPUT_ATTR)}


def _fill_name(attr: Any, byte: int = ord("n")) -> None:
    ctypes.memset(ctypes.addressof(attr) + _NAME_OFF, byte, 256)  # no terminating NUL anywhere


def test_attribute_names_without_nul_through_the_session(monkeypatch: pytest.MonkeyPatch, model: pathlib.Path,
                                                         sim: Any) -> None:
    def corrupt(cmd: int, info: Any) -> None:
        if cmd in ATTR_CMDS:
            _fill_name(info, ord("i") if cmd == int(_abi.rknn_query_cmd.RKNN_QUERY_INPUT_ATTR) else ord("o"))

    _hostile_runtime(monkeypatch, corrupt)
    with InferenceSession(str(model), provider_options=SIM) as sess:
        assert sess.input_names == ["i" * 256] and sess.output_names == ["o" * 256]
        x = np.arange(4, dtype=np.float32).reshape(1, 4)
        np.testing.assert_array_equal(sess.run(None, {"i" * 256: x})[0], x)
        np.testing.assert_array_equal(sess.run(["o" * 256], [x])[0], x)
        # zero copy must write names back into rknn_tensor_attr: an unterminated one is a clear error
        try:
            binding = sess.io_binding()
            binding.bind_cpu_input("i" * 256, x)
            binding.bind_output("o" * 256, "rknpu2")
            sess.run_with_iobinding(binding)
            np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], x)
        except (InvalidArgumentError, RknnError) as exc:
            assert "name" in str(exc)
        binding = None  # type: ignore[assignment]


@pytest.mark.parametrize("n_dims", [17, 64, 0xFFFFFFFF])
@pytest.mark.parametrize("cmd", ["RKNN_QUERY_INPUT_ATTR", "RKNN_QUERY_OUTPUT_ATTR"])
def test_attribute_with_too_many_dims_through_the_session(monkeypatch: pytest.MonkeyPatch, model: pathlib.Path,
                                                          sim: Any, n_dims: int, cmd: str) -> None:
    target = int(getattr(_abi.rknn_query_cmd, cmd))

    def corrupt(c: int, info: Any) -> None:
        if c == target:
            info.n_dims = n_dims

    _hostile_runtime(monkeypatch, corrupt)
    base = sim.counter("live_contexts")
    with pytest.raises(RknnModelInvalidError) as ei:
        InferenceSession(str(model), provider_options=SIM)
    assert cmd in str(ei.value) and "n_dims={}".format(n_dims) in str(ei.value)
    assert sim.counter("live_contexts") == base


def test_native_attribute_with_too_many_dims_is_an_error_later(monkeypatch: pytest.MonkeyPatch,
                                                               model: pathlib.Path, sim: Any) -> None:
    def corrupt(c: int, info: Any) -> None:
        if c == int(_abi.rknn_query_cmd.RKNN_QUERY_NATIVE_INPUT_ATTR):
            info.n_dims = 200

    _hostile_runtime(monkeypatch, corrupt)
    with InferenceSession(str(model), provider_options=SIM) as sess:
        with pytest.raises(RknnModelInvalidError, match="n_dims=200"):
            sess.get_native_inputs()
        x = np.ones((1, 4), np.float32)
        np.testing.assert_array_equal(sess.run(None, [x])[0], x)  # the session still serves


@pytest.mark.parametrize("dims", [(1 << 31, 1 << 31, 4), (0xFFFFFFFF,) * 16, (0, 4), (1 << 40,)])
def test_absurd_dims_through_the_session(monkeypatch: pytest.MonkeyPatch, model: pathlib.Path, sim: Any,
                                         dims: Any) -> None:
    def corrupt(c: int, info: Any) -> None:
        if c in ATTR_CMDS:
            info.n_dims = len(dims)
            for k, d in enumerate(dims):
                info.dims[k] = d & 0xFFFFFFFF

    _hostile_runtime(monkeypatch, corrupt)
    try:
        sess = InferenceSession(str(model), provider_options=SIM)
    except (RknnError, InvalidArgumentError):
        return
    with sess:
        shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
        for feed in (np.ones((1, 4), np.float32), np.ones((0,), np.float32)):
            with pytest.raises((InvalidArgumentError, RknnError, MemoryError, ValueError)):
                sess.run(None, [feed])
        if int(np.prod(shape, dtype=object)) <= 1 << 20:
            try:
                sess.run(None, [np.ones(shape, np.float32)])
            except (InvalidArgumentError, RknnError, MemoryError, ValueError):
                pass


def test_unterminated_version_and_custom_strings(monkeypatch: pytest.MonkeyPatch, model: pathlib.Path,
                                                 sim: Any) -> None:
    sdk = int(_abi.rknn_query_cmd.RKNN_QUERY_SDK_VERSION)
    custom = int(_abi.rknn_query_cmd.RKNN_QUERY_CUSTOM_STRING)

    def corrupt(c: int, info: Any) -> None:
        if c in (sdk, custom):
            ctypes.memset(ctypes.addressof(info), 0xFF, ctypes.sizeof(info))  # invalid UTF-8, no NUL

    _hostile_runtime(monkeypatch, corrupt)
    with InferenceSession(str(model), provider_options=SIM) as sess:
        versions = sess.get_sdk_version()
        assert len(versions["api_version"]) == 256 and len(versions["drv_version"]) == 256
        assert set(versions["api_version"]) == {"\ufffd"}
        meta = sess.get_modelmeta()
        assert isinstance(meta.custom_metadata_map, dict)
        x = np.ones((1, 4), np.float32)
        np.testing.assert_array_equal(sess.run(None, [x])[0], x)


def test_absurd_io_counts(monkeypatch: pytest.MonkeyPatch, model: pathlib.Path, sim: Any) -> None:
    io_num = int(_abi.rknn_query_cmd.RKNN_QUERY_IN_OUT_NUM)

    def corrupt(c: int, info: Any) -> None:
        if c == io_num:
            info.n_input = 0xFFFFFFFF
            info.n_output = 0xFFFFFFFF

    _hostile_runtime(monkeypatch, corrupt)
    base = sim.counter("live_contexts")
    with pytest.raises((RknnError, InvalidArgumentError)):
        InferenceSession(str(model), provider_options=SIM)
    assert sim.counter("live_contexts") == base


def _set(cmds: Any, **fields: Any) -> Corruptor:
    wanted = {int(getattr(_abi.rknn_query_cmd, c)) for c in cmds}

    def corrupt(cmd: int, info: Any) -> None:
        if cmd in wanted:
            for k, v in fields.items():
                setattr(info, k, v)

    return corrupt


_ATTRS = ("RKNN_QUERY_INPUT_ATTR", "RKNN_QUERY_OUTPUT_ATTR")
_NATIVE = ("RKNN_QUERY_NATIVE_INPUT_ATTR", "RKNN_QUERY_NATIVE_OUTPUT_ATTR", "RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR",
           "RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR")
HOSTILE: Dict[str, Corruptor] = {
    "unknown type": _set(_ATTRS, type=99),
    "unknown format": _set(_ATTRS, fmt=77),
    "unknown quantisation, nan scale": _set(_ATTRS, qnt_type=9, scale=float("nan")),
    "int8 with scale 0": _set(_ATTRS, qnt_type=2, scale=0.0, type=2),
    "native sizes 4 GiB": _set(_NATIVE, size=0xFFFFFFFF, size_with_stride=0xFFFFFFFF, n_elems=0xFFFFFFFF),
    "native sizes 1 byte": _set(_NATIVE, size=1, size_with_stride=1, n_elems=1),
    "native strides 4 G": _set(_NATIVE, w_stride=0xFFFFFFFF, h_stride=0xFFFFFFFF),
    "native scalar": _set(_NATIVE, n_dims=0),
    "native unknown type": _set(_NATIVE, type=99),
    "no inputs": _set(["RKNN_QUERY_IN_OUT_NUM"], n_input=0),
    "no outputs": _set(["RKNN_QUERY_IN_OUT_NUM"], n_output=0),
    "dynamic range 4 G rows": _set(["RKNN_QUERY_INPUT_DYNAMIC_RANGE"], shape_number=0xFFFFFFFF),
    "dynamic range of scalars": _set(["RKNN_QUERY_INPUT_DYNAMIC_RANGE"], n_dims=0),
    "current output 1 element": _set(["RKNN_QUERY_CURRENT_OUTPUT_ATTR"], n_dims=1, dims=(ctypes.c_uint32 * 16)(1)),
    "current output 4 EiB": _set(["RKNN_QUERY_CURRENT_OUTPUT_ATTR"], n_dims=2,
                                 dims=(ctypes.c_uint32 * 16)(1 << 30, 1 << 30)),
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_other_hostile_answers_only_produce_errors(monkeypatch: pytest.MonkeyPatch, native_model: Any, sim: Any,
                                                   what: str) -> None:
    """Answers no sane runtime gives, through construction, introspection, a run and zero copy: the session
    either works or raises a clear Python error; nothing crashes and nothing leaks (autouse leak check)."""
    allowed = (RknnError, InvalidArgumentError, MemoryError)
    static = native_model([TensorSpec("x", (1, 3, 4, 4))], [TensorSpec("y", (1, 3, 4, 4))], latency_us=0)
    dynamic = native_model([TensorSpec("x", (1, 4), shapes=[(1, 4), (2, 4)])],
                           [TensorSpec("y", (1, 4), shapes=[(1, 4), (2, 4)])], latency_us=0)
    _hostile_runtime(monkeypatch, HOSTILE[what])
    for path, x in ((static, np.zeros((1, 3, 4, 4), np.float32)), (dynamic, np.zeros((2, 4), np.float32))):
        try:
            sess = InferenceSession(str(path), provider_options=dict(SIM, threads_per_core=1))
        except allowed:
            continue
        with sess:
            sess.get_inputs(), sess.get_outputs(), sess.get_modelmeta()
            for call in (lambda: sess.get_native_inputs(), lambda: sess.get_native_outputs(),
                         lambda: sess.run(None, [x]), lambda: sess.submit(None, [x]).result(timeout=30)):
                try:
                    call()
                except allowed:
                    pass
            try:
                binding = sess.io_binding()
                binding.bind_cpu_input("x", x)
                binding.bind_output("y", "rknpu2")
                sess.run_with_iobinding(binding)
                binding.copy_outputs_to_cpu()
            except allowed:
                pass
            binding = None  # type: ignore[assignment]
