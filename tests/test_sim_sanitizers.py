"""The simulator under AddressSanitizer + UndefinedBehaviorSanitizer.

tests/c/sanitizer_scenario.c is compiled together with every stubs/*.c into one sanitized executable
(no LD_PRELOAD of the sanitizer runtime into Python needed) and run in a subprocess: init from a path
and from a buffer, queries, three threads on three duplicated contexts with core masks 1/2/4 against a
multi-core run, prealloc and runtime-allocated outputs, zero-copy memories, faults, teardown.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
from typing import List

import pytest

from ztu_somemodelruntime_ez_rknn_async import simulator
from ztu_somemodelruntime_ez_rknn_async.simulator import SimulatorBuildError, TensorSpec

REPO = pathlib.Path(__file__).resolve().parent.parent
SCENARIO = REPO / "tests" / "c" / "sanitizer_scenario.c"
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined",
             "-O1", "-g"]
SAN_ENV = {
    "ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
REPORT_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: ")


def _compiler() -> List[str]:
    try:
        return simulator._compiler()
    except SimulatorBuildError as exc:
        pytest.skip(f"no C compiler: {exc}")
        raise


@pytest.fixture(scope="module")
def san_env(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """Skips unless the compiler can build and run an ASan+UBSan program (leak checks when they work)."""
    cc = _compiler()
    work = tmp_path_factory.mktemp("asan-probe")
    (work / "probe.c").write_text("#include <stdlib.h>\nint main(void){void *p = malloc(4); free(p); return 0;}\n")
    exe = work / "probe"
    build = subprocess.run(cc + SAN_FLAGS + ["-o", str(exe), str(work / "probe.c")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if build.returncode != 0:
        pytest.skip("the compiler cannot build with -fsanitize=address,undefined: " + build.stdout.decode()[-500:])
    env = dict(os.environ, **SAN_ENV)
    env.pop("LD_PRELOAD", None)
    run = subprocess.run([str(exe)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if run.returncode != 0 and b"LeakSanitizer" in run.stderr:
        # LSan needs ptrace-like stop-the-world, which some sandboxes forbid; keep ASan/UBSan.
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
        run = subprocess.run([str(exe)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if run.returncode != 0:
        pytest.skip("sanitized programs do not run here: " + run.stderr.decode()[-500:])
    return env


def test_sanitized_library_builds(tmp_path: pathlib.Path, san_env: dict) -> None:  # type: ignore[type-arg]
    out = simulator.build(tmp_path, sanitize=True)
    assert out.is_file() and out.name == "librknnrt.so"


def test_scenario_is_clean_under_asan_ubsan(tmp_path: pathlib.Path, san_env: dict) -> None:  # type: ignore[type-arg]
    src = simulator.source_dir()
    if not (src / "sim_api.c").is_file():
        pytest.skip("stubs/sim_api.c (the rknn_* functions) is not there yet")
    exe = tmp_path / "sanitizer_scenario"
    argv = (_compiler() + ["-std=c11", "-pthread", "-Wall", "-Wextra", "-Werror"] + SAN_FLAGS
            + ["-I", str(src), "-o", str(exe), str(SCENARIO)] + [str(p) for p in sorted(src.glob("*.c"))] + ["-lm"])
    build = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert build.returncode == 0, build.stdout.decode()

    model = simulator.write_model(
        tmp_path / "scenario.rknn",
        [TensorSpec("x", (1, 3, 4, 4), "int8", scale=0.05, zero_point=-3), TensorSpec("b", (5,))],
        [TensorSpec("y", (1, 3, 4, 4), "int8", scale=0.1, zero_point=2), TensorSpec("z", (5,), "float16")],
        latency_us=2000,
        custom_string="sanitizer run",
    )
    env = dict(san_env)
    for var in ("RKNN_SIM_FAULTS", "RKNN_SIM_DELAYS", "RKNN_SIM_SOC", "RKNN_SIM_LATENCY_US", "RKNN_SIM_JITTER"):
        env.pop(var, None)
    run = subprocess.run([str(exe), str(model)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=300)
    err = run.stderr.decode(errors="replace")
    assert run.returncode == 0, err[-4000:]
    assert not [m for m in REPORT_MARKERS if m in err], err[-4000:]
    assert b"sanitizer scenario: ok" in run.stdout
