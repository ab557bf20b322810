"""Loading the runtime: laziness, resolution order, the env var, "simulator", errors, missing symbols.

Small stand-in libraries are compiled into a temporary directory: ``partial`` exports only a few
``rknn_*`` functions, ``fakesim`` additionally exports ``rknn_sim_version``, ``foreign`` exports
nothing of RKNN. They get their own sonames so that loading them never shadows ``librknnrt.so``
inside the test process.
"""
from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import threading
from typing import Dict, Iterator, List

import pytest

from ztu_somemodelruntime_ez_rknn_async import _library
from ztu_somemodelruntime_ez_rknn_async._library import RuntimeLibrary, load_runtime
from ztu_somemodelruntime_ez_rknn_async.errors import (
    InvalidOptionError,
    RknnNotSupportedError,
    RuntimeLibraryNotFoundError,
)

REPO = pathlib.Path(__file__).resolve().parents[1]
# Captured before the autouse fixture replaces them for every test.
_ORIGINAL_SONAME = _library.SONAME
_ORIGINAL_LOCATIONS = _library.STANDARD_LOCATIONS

_PARTIAL_C = r"""
#include <stdint.h>
int rknn_init(uint64_t *ctx, void *model, uint32_t size, uint32_t flag, void *extend)
{ (void)model; (void)size; (void)flag; (void)extend; *ctx = 7; return 0; }
int rknn_destroy(uint64_t ctx) { (void)ctx; return 0; }
int rknn_query(uint64_t ctx, int cmd, void *info, uint32_t size)
{ (void)ctx; (void)cmd; (void)info; (void)size; return -5; }
/* Echoes the handle so a test can see the 64-bit argument arrived intact. */
int64_t rknn_run(uint64_t ctx, void *extend) { (void)extend; return (int64_t)(ctx & 0x7fffffff); }
#ifdef WITH_SIM
const char *rknn_sim_version(void) { return "fake"; }
#endif
"""

_FOREIGN_C = "int not_rknn(void) { return 0; }\n"


def _compile(src: str, out: pathlib.Path, soname: str, defines: List[str]) -> pathlib.Path:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the stand-in libraries")
    out.parent.mkdir(parents=True, exist_ok=True)
    c_file = out.with_suffix(".c")
    c_file.write_text(src)
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O0", "-Wl,-soname," + soname, *defines, "-o", str(out), str(c_file)],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    root = tmp_path_factory.mktemp("libs")
    return {
        "partial": str(_compile(_PARTIAL_C, root / "partial" / "librknnrt.so", "libztu_partial.so", [])),
        "fakesim": str(_compile(_PARTIAL_C, root / "fakesim" / "librknnrt.so", "libztu_fakesim.so", ["-DWITH_SIM"])),
        "foreign": str(_compile(_FOREIGN_C, root / "foreign" / "librknnrt.so", "libztu_foreign.so", [])),
        "missing": str(root / "missing" / "librknnrt.so"),
        "root": str(root),
    }


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with an empty cache, no env override, and no reachable default library."""
    monkeypatch.delenv(_library.ENV_VAR, raising=False)
    monkeypatch.setattr(_library, "SONAME", "libztu_no_such_runtime_for_tests.so")
    monkeypatch.setattr(_library, "STANDARD_LOCATIONS", ())
    _library.clear_cache()
    yield
    _library.clear_cache()


# --------------------------------------------------------------------------------------------- laziness


def test_importing_the_package_loads_no_runtime() -> None:
    code = textwrap.dedent(
        """
        import ctypes, importlib, pkgutil
        opened = []
        original = ctypes.CDLL.__init__
        def recording(self, name, *args, **kwargs):
            opened.append(name)
            original(self, name, *args, **kwargs)
        ctypes.CDLL.__init__ = recording
        import ztu_somemodelruntime_ez_rknn_async as pkg
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name != "__main__":
                importlib.import_module(pkg.__name__ + "." + info.name)
        assert not [n for n in opened if n is not None and "rknn" in str(n)], opened
        with open("/proc/self/maps") as maps:
            assert "librknnrt" not in maps.read()
        print("ok")
        """
    )
    env = dict(os.environ)
    env.pop(_library.ENV_VAR, None)
    result = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --------------------------------------------------------------------------------------------- explicit spec


def test_explicit_path(libs: Dict[str, str]) -> None:
    lib = load_runtime(libs["partial"])
    assert isinstance(lib, RuntimeLibrary)
    assert lib.path == libs["partial"]
    assert not lib.is_simulator
    assert isinstance(lib.cdll, ctypes.CDLL)
    assert load_runtime(libs["partial"]) is lib  # cached
    assert load_runtime(pathlib.Path(libs["partial"])) is lib  # PathLike, same resolved file


def test_explicit_path_through_symlink_shares_the_cache(libs: Dict[str, str], tmp_path: pathlib.Path) -> None:
    link = tmp_path / "librknnrt.so"
    link.symlink_to(libs["partial"])
    assert load_runtime(str(link)) is load_runtime(libs["partial"])


def test_explicit_missing_path_does_not_fall_back(libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_library, "STANDARD_LOCATIONS", (libs["partial"],))  # would work if tried
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime(libs["missing"])
    assert info.value.candidates == ((libs["missing"], "not found"),)
    assert "no fallback" in str(info.value)


@pytest.mark.parametrize("spec", ["librknnrt.so", "lib/librknnrt.so", "./librknnrt.so", "../x.so"])
def test_relative_path_rejected(spec: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        load_runtime(spec)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "relative" in message and repr(spec) in message and "absolute" in message


def test_empty_spec_rejected() -> None:
    with pytest.raises(InvalidOptionError):
        load_runtime("  ")


def test_not_an_rknn_library(libs: Dict[str, str]) -> None:
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime(libs["foreign"])
    ((candidate, reason),) = info.value.candidates
    assert candidate == libs["foreign"]
    assert "not an RKNN runtime" in reason and "rknn_init" in reason


def test_unloadable_file(tmp_path: pathlib.Path) -> None:
    bogus = tmp_path / "librknnrt.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime(str(bogus))
    assert info.value.candidates[0][1].startswith("dlopen failed")
    assert isinstance(info.value, OSError)


# --------------------------------------------------------------------------------------------- environment


def test_env_var_path(libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_library.ENV_VAR, libs["partial"])
    assert load_runtime().path == libs["partial"]


def test_explicit_spec_beats_env(libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_library.ENV_VAR, libs["missing"])
    assert load_runtime(libs["partial"]).path == libs["partial"]


def test_env_var_relative_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_library.ENV_VAR, "librknnrt.so")
    with pytest.raises(InvalidOptionError) as info:
        load_runtime()
    assert _library.ENV_VAR in str(info.value)


def test_env_var_missing_path_does_not_fall_back(libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_library.ENV_VAR, libs["missing"])
    monkeypatch.setattr(_library, "STANDARD_LOCATIONS", (libs["partial"],))
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime()
    assert _library.ENV_VAR in str(info.value)
    assert [c for c, _ in info.value.candidates] == [libs["missing"]]


def test_blank_env_var_means_unset(libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_library.ENV_VAR, "")
    monkeypatch.setattr(_library, "STANDARD_LOCATIONS", (libs["partial"],))
    assert load_runtime().path == libs["partial"]


@pytest.mark.parametrize("word", ["simulator", "SIMULATOR", " Simulator "])
def test_env_var_simulator(word: str, libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from ztu_somemodelruntime_ez_rknn_async import simulator

    monkeypatch.setattr(simulator, "library_path", lambda **_kw: libs["fakesim"])
    monkeypatch.setenv(_library.ENV_VAR, word)
    lib = load_runtime()
    assert lib.is_simulator and lib.path == libs["fakesim"]


def test_simulator_build_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from ztu_somemodelruntime_ez_rknn_async import simulator

    def fail(**_kw: object) -> str:
        raise simulator.SimulatorBuildError("no compiler")

    monkeypatch.setattr(simulator, "library_path", fail)
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime("simulator")
    assert "no compiler" in str(info.value)


def test_real_simulator(sim_library: str) -> None:
    lib = load_runtime("simulator")
    assert lib.is_simulator
    assert os.path.realpath(lib.path) == os.path.realpath(sim_library)
    assert load_runtime(sim_library) is lib  # one RuntimeLibrary per file, whatever the route
    assert lib.api.missing == frozenset()


# --------------------------------------------------------------------------------------------- default search


def test_standard_locations_are_absolute_board_paths() -> None:
    assert _ORIGINAL_SONAME == "librknnrt.so"
    assert _ORIGINAL_LOCATIONS == (
        "/usr/lib/librknnrt.so",
        "/usr/lib64/librknnrt.so",
        "/usr/lib/aarch64-linux-gnu/librknnrt.so",
        "/usr/local/lib/librknnrt.so",
        "/vendor/lib64/librknnrt.so",
        "/vendor/lib/librknnrt.so",
    )


def test_default_search_order(libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    second = str(pathlib.Path(libs["root"]) / "second" / "librknnrt.so")
    _compile(_PARTIAL_C, pathlib.Path(second), "libztu_second.so", [])
    monkeypatch.setattr(_library, "STANDARD_LOCATIONS", (libs["missing"], libs["partial"], second))
    assert load_runtime().path == libs["partial"]
    assert load_runtime() is load_runtime()


def test_error_lists_every_candidate(libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    locations = (libs["missing"], libs["foreign"], libs["fakesim"])
    monkeypatch.setattr(_library, "STANDARD_LOCATIONS", locations)
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime()
    exc = info.value
    tried = [c for c, _ in exc.candidates]
    assert tried[0].startswith("libztu_no_such_runtime_for_tests.so (dynamic linker search")
    assert tried[1:] == list(locations)
    reasons = [r for _, r in exc.candidates]
    assert reasons[0].startswith("dlopen failed")
    assert reasons[1] == "not found"
    assert "not an RKNN runtime" in reasons[2]
    assert "is the simulator" in reasons[3]  # never picked silently by the default search
    message = str(exc)
    for candidate, reason in exc.candidates:
        assert candidate in message and reason in message
    assert "runtime_library" in message and _library.ENV_VAR in message and "simulator" in message


def test_soname_search_never_returns_an_already_loaded_simulator(
    sim_library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator's SONAME is librknnrt.so, so once it is mapped, dlopen("librknnrt.so") finds it.
    load_runtime(sim_library)
    monkeypatch.setattr(_library, "SONAME", "librknnrt.so")
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime()
    assert "is the simulator" in info.value.candidates[0][1]


def test_default_search_skips_a_simulator_loaded_explicitly(
    libs: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_runtime(libs["fakesim"]).is_simulator  # now cached under its path
    monkeypatch.setattr(_library, "STANDARD_LOCATIONS", (libs["fakesim"],))
    with pytest.raises(RuntimeLibraryNotFoundError) as info:
        load_runtime()
    assert "is the simulator" in info.value.candidates[-1][1]


def test_soname_search_uses_the_dynamic_linker(libs: Dict[str, str], tmp_path: pathlib.Path) -> None:
    # A fresh process, because the linker reads LD_LIBRARY_PATH only at start-up.
    libdir = tmp_path / "ld"
    _compile(_PARTIAL_C, libdir / "librknnrt.so", "librknnrt.so", [])
    code = textwrap.dedent(
        """
        from ztu_somemodelruntime_ez_rknn_async import _library
        _library.STANDARD_LOCATIONS = ()
        lib = _library.load_runtime()
        print(lib.path)
        """
    )
    env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    env.pop(_library.ENV_VAR, None)
    result = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.path.realpath(result.stdout.strip()) == os.path.realpath(str(libdir / "librknnrt.so"))


# --------------------------------------------------------------------------------------------- binding


def test_missing_symbols_raise_only_when_called(libs: Dict[str, str]) -> None:
    lib = load_runtime(libs["partial"])
    api = lib.api
    assert api.has("rknn_run") and api.has("rknn_init")
    assert not api.has("rknn_set_core_mask") and "rknn_set_core_mask" in api.missing
    assert not api.has("rknn_create_mem_from_mb_blk")  # never bound
    with pytest.raises(RknnNotSupportedError) as info:
        api.rknn_set_core_mask(7, 0)
    assert "rknn_set_core_mask" in str(info.value) and "1.2" in str(info.value)
    # Present symbols are typed: the 64-bit handle argument goes through intact.
    assert api.rknn_run(0x1_2345_6789, None) == 0x2345_6789


def test_bind_never_raises_for_an_empty_library(libs: Dict[str, str]) -> None:
    from ztu_somemodelruntime_ez_rknn_async import _abi

    api = _abi.bind(ctypes.CDLL(libs["foreign"]))
    assert len(api.missing) == len(_abi._FUNCDEFS)
    with pytest.raises(RknnNotSupportedError):
        api.rknn_init(None, None, 0, 0, None)


def test_injected_cdll(libs: Dict[str, str]) -> None:
    cdll = ctypes.CDLL(libs["fakesim"])
    lib = RuntimeLibrary.from_cdll(cdll)
    assert lib.cdll is cdll and lib.is_simulator
    assert os.path.realpath(lib.path) == os.path.realpath(libs["fakesim"])


def test_concurrent_first_load_yields_one_instance(libs: Dict[str, str]) -> None:
    results: List[RuntimeLibrary] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(load_runtime(libs["partial"]))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is results[0] for r in results)
