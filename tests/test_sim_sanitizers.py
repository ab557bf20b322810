"""The simulator under AddressSanitizer + UndefinedBehaviorSanitizer.

tests/c/sim_control_unit.c checks sim_control.c alone through its internal interface (faults, masks,
latency, core occupancy and reservation, counters), under ASan+UBSan and TSan.
tests/c/sanitizer_scenario.c is compiled together with every stubs/*.c into one sanitized executable
(no LD_PRELOAD of the sanitizer runtime into Python needed) and run in a subprocess: init from a path
and from a buffer, queries, three threads on three duplicated contexts with core masks 1/2/4 against a
multi-core run, prealloc and runtime-allocated outputs, zero-copy memories, faults, teardown; it runs
under ASan+UBSan and again under TSan.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
from typing import Dict, List, Tuple

import pytest

from ztu_somemodelruntime_ez_rknn_async import simulator
from ztu_somemodelruntime_ez_rknn_async.simulator import SimulatorBuildError, TensorSpec

REPO = pathlib.Path(__file__).resolve().parent.parent
SCENARIO = REPO / "tests" / "c" / "sanitizer_scenario.c"
UNIT = REPO / "tests" / "c" / "sim_control_unit.c"
# -O1 with TSan instrumentation makes GCC's maybe-uninitialized analysis report false positives that the
# normal -O2 -Werror build does not; keep them visible as warnings.
TSAN_FLAGS = ["-fsanitize=thread", "-O1", "-g", "-Wno-error=maybe-uninitialized"]
TSAN_ENV = {"TSAN_OPTIONS": "halt_on_error=1:second_deadlock_stack=1"}
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined",
             "-O1", "-g"]
SAN_ENV = {
    "ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
REPORT_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer",
                  "SUMMARY: ")


def _compiler() -> List[str]:
    try:
        return simulator._compiler()
    except SimulatorBuildError as exc:
        pytest.skip(f"no C compiler: {exc}")
        raise


def _clean_env(extra: Dict[str, str]) -> Dict[str, str]:
    env = dict(os.environ, **extra)
    for var in ("LD_PRELOAD", "RKNN_SIM_FAULTS", "RKNN_SIM_DELAYS", "RKNN_SIM_SOC", "RKNN_SIM_LATENCY_US",
                "RKNN_SIM_JITTER", "RKNN_SIM_LOG"):
        env.pop(var, None)
    return env


@pytest.fixture(scope="module")
def tsan_env(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """Skips unless the compiler can build and run a ThreadSanitizer program."""
    cc = _compiler()
    work = tmp_path_factory.mktemp("tsan-probe")
    (work / "probe.c").write_text(
        "#include <pthread.h>\nstatic void *f(void *a) { return a; }\n"
        "int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }\n"
    )
    exe = work / "probe"
    build = subprocess.run(cc + TSAN_FLAGS + ["-pthread", "-o", str(exe), str(work / "probe.c")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if build.returncode != 0:
        pytest.skip("the compiler cannot build with -fsanitize=thread: " + build.stdout.decode()[-500:])
    env = _clean_env(TSAN_ENV)
    run = subprocess.run([str(exe)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if run.returncode != 0:
        pytest.skip("ThreadSanitizer programs do not run here: " + run.stderr.decode()[-500:])
    return env


def _build_and_run(cc: List[str], flags: List[str], env: Dict[str, str], exe: pathlib.Path,
                   sources: List[pathlib.Path], args: List[str]) -> Tuple[str, str]:
    src = simulator.source_dir()
    argv = (cc + ["-std=c11", "-pthread", "-Wall", "-Wextra", "-Werror"] + flags
            + ["-I", str(src), "-o", str(exe)] + [str(p) for p in sources] + ["-lm"])
    build = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert build.returncode == 0, build.stdout.decode()
    run = subprocess.run([str(exe)] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err = run.stderr.decode(errors="replace")
    assert run.returncode == 0, err[-4000:]
    assert not [m for m in REPORT_MARKERS if m in err], err[-4000:]
    return run.stdout.decode(), err


@pytest.fixture(scope="module")
def san_env(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """Skips unless the compiler can build and run an ASan+UBSan program (leak checks when they work)."""
    cc = _compiler()
    work = tmp_path_factory.mktemp("asan-probe")
    (work / "probe.c").write_text("#include <stdlib.h>\nint main(void){void *p = malloc(4); free(p); return 0;}\n")
    exe = work / "probe"
    build = subprocess.run(cc + SAN_FLAGS + ["-o", str(exe), str(work / "probe.c")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if build.returncode != 0:
        pytest.skip("the compiler cannot build with -fsanitize=address,undefined: " + build.stdout.decode()[-500:])
    env = _clean_env(SAN_ENV)
    run = subprocess.run([str(exe)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if run.returncode != 0 and b"LeakSanitizer" in run.stderr:
        # LSan needs ptrace-like stop-the-world, which some sandboxes forbid; keep ASan/UBSan.
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
        run = subprocess.run([str(exe)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if run.returncode != 0:
        pytest.skip("sanitized programs do not run here: " + run.stderr.decode()[-500:])
    return env


def test_sanitized_library_builds(tmp_path: pathlib.Path, san_env: Dict[str, str]) -> None:
    out = simulator.build(tmp_path, sanitize=True)
    assert out.is_file() and out.name == "librknnrt.so"


def _scenario_model(tmp_path: pathlib.Path) -> pathlib.Path:
    return simulator.write_model(
        tmp_path / "scenario.rknn",
        [TensorSpec("x", (1, 3, 4, 4), "int8", scale=0.05, zero_point=-3), TensorSpec("b", (5,))],
        [TensorSpec("y", (1, 3, 4, 4), "int8", scale=0.1, zero_point=2), TensorSpec("z", (5,), "float16")],
        latency_us=2000,
        custom_string="sanitizer run",
    )


def _all_sources() -> List[pathlib.Path]:
    src = simulator.source_dir()
    if not (src / "sim_api.c").is_file():
        pytest.skip("stubs/sim_api.c (the rknn_* functions) is not there yet")
    return [SCENARIO] + sorted(src.glob("*.c"))


def test_scenario_is_clean_under_asan_ubsan(tmp_path: pathlib.Path, san_env: Dict[str, str]) -> None:
    sources = _all_sources()
    out, _ = _build_and_run(_compiler(), SAN_FLAGS, san_env, tmp_path / "scenario", sources,
                            [str(_scenario_model(tmp_path))])
    assert "sanitizer scenario: ok" in out


def test_scenario_is_clean_under_tsan(tmp_path: pathlib.Path, tsan_env: Dict[str, str]) -> None:
    sources = _all_sources()
    out, _ = _build_and_run(_compiler(), TSAN_FLAGS, tsan_env, tmp_path / "scenario", sources,
                            [str(_scenario_model(tmp_path))])
    assert "sanitizer scenario: ok" in out


def test_sim_control_unit_under_asan_ubsan(tmp_path: pathlib.Path, san_env: Dict[str, str]) -> None:
    src = simulator.source_dir()
    env = dict(san_env, RKNN_SIM_LOG="1")
    out, err = _build_and_run(_compiler(), SAN_FLAGS, env, tmp_path / "unit", [UNIT, src / "sim_control.c"], [])
    assert "sim_control unit: ok" in out
    assert "ztu-sim: violation: unit test" in err  # RKNN_SIM_LOG makes misuse visible


def test_sim_control_unit_under_tsan(tmp_path: pathlib.Path, tsan_env: Dict[str, str]) -> None:
    src = simulator.source_dir()
    out, err = _build_and_run(_compiler(), TSAN_FLAGS, tsan_env, tmp_path / "unit", [UNIT, src / "sim_control.c"], [])
    assert "sim_control unit: ok" in out
    assert "violation" not in err  # silent without RKNN_SIM_LOG
