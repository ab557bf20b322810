"""``ez-rknn demo``: sequential ``run()`` against three-core ``imap``/``run_async`` on a synthetic model.

Needs no board: the model is written in the simulator's format and runs on the simulated runtime (built
from its C sources on first use). A real ``librknnrt.so``, when found, is only mentioned.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ._cli_bench_run import run_benchmark
from ._cli_format import PROG, CliError, describe_error, format_table, note
from ._cli_session import SessionConfig, close_session, open_session, random_feed

__all__ = ["DEMO_EXPLANATION", "DEMO_INPUT_SHAPE", "DEMO_LATENCY_US", "cmd_demo"]


DEMO_LATENCY_US = 2000
#: Image-like but small: the simulator converts inputs on the CPU, and a 224x224 image costs ~1 ms of
#: CPU per inference, which on a small shared CI machine hides the NPU-side scaling the demo is about.
DEMO_INPUT_SHAPE = (1, 3, 128, 128)
DEMO_EXPLANATION = """\
What you are seeing:
  * run() sends one inference at a time to the NPU and waits for it: one core works, the others idle.
  * With schedule 0,1,2 the session holds three contexts (duplicated from one, sharing the weights),
    one per NPU core, each driven by its own worker thread. imap()/run_async() keep all three busy.
  * The GIL is released inside every runtime call (ctypes), so the three workers really overlap;
    the Python side only queues work and collects results.
  * Results still come back in submission order: imap() yields them in order and run_async()
    callbacks are delivered in order (sequential_callbacks), so frame N never overtakes frame N-1.
  * Hence about 3x the throughput of run(): three cores work instead of one (a little more than 3x
    when the CPU-side work of one inference also overlaps with the NPU work of the others).
"""


def _find_real_runtime() -> Tuple[Optional[str], str]:
    """``(path, "")`` of a real librknnrt.so, or ``(None, reason)`` when none is found."""
    from . import _library
    from .errors import RuntimeLibraryNotFoundError

    try:
        lib = _library.load_runtime(None)
    except RuntimeLibraryNotFoundError:
        return None, "no librknnrt.so in the usual places; this is expected on a PC"
    except Exception as exc:  # noqa: BLE001 - e.g. a bad ZTU_RKNPU2_RUNTIME_LIBRARY: the demo still runs
        return None, describe_error(exc)
    if getattr(lib, "is_simulator", False):
        return None, "the configured runtime is the simulator"
    return str(getattr(lib, "path", "librknnrt.so")), ""


def _demo_model(directory: str) -> str:
    from . import simulator

    path = os.path.join(directory, "demo_classifier.rknn")
    simulator.write_model(
        path,
        inputs=[simulator.TensorSpec("image", DEMO_INPUT_SHAPE, dtype="int8", scale=1.0 / 128, zero_point=0)],
        outputs=[simulator.TensorSpec("logits", (1, 1000), dtype="float16")],
        latency_us=DEMO_LATENCY_US,
        custom_string="ez-rknn demo: int8 image -> logits [1,1000], ~2 ms per inference",
    )
    return path


def _timed_loop(seconds: float, step: Callable[[], object], *, min_count: int = 3) -> Tuple[int, float]:
    count = 0
    t0 = time.perf_counter()
    while True:
        step()
        count += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and count >= min_count:
            return count, elapsed


def _n_for(seconds: float, per_second_estimate: float) -> int:
    return max(6, int(seconds * per_second_estimate))


def cmd_demo(args: argparse.Namespace) -> int:
    from . import simulator

    seconds = float(args.seconds)
    real, reason = _find_real_runtime()
    if real is None:
        note(f"No real librknnrt.so found ({reason}).")
    else:
        note(f"Found a real runtime at {real}; the demo model is synthetic, so the demo uses the simulator "
              f"(benchmark your own model with: {PROG} bench MODEL.rknn).")
    note("Using the simulated runtime instead (compiled from its C sources on first use, then cached)...")
    t0 = time.perf_counter()
    lib_path = simulator.library_path()
    took = time.perf_counter() - t0
    note(f"Simulator {'built' if took > 0.5 else 'ready'}: {lib_path}"
          + (f" ({took:.1f} s)" if took > 0.5 else ""))

    rows: List[List[object]] = []
    results: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ez-rknn-demo-") as tmp:
        model = _demo_model(tmp)
        phase_s = seconds / 3.0
        rng = np.random.default_rng(0)

        # 1. plain sequential run() on one context (default core mask).
        single = open_session(model, SessionConfig(runtime_library="simulator"))
        try:
            feed = random_feed(single, rng)
            single.run(None, feed)
            count, elapsed = _timed_loop(phase_s, lambda: single.run(None, feed))
        finally:
            close_session(single)
        base = count / elapsed
        results["sequential_run"] = {"inferences": count, "seconds": elapsed, "throughput_per_s": base}
        rows.append(["run(), one context", 1, count, f"{elapsed:.2f}", f"{base:.1f}", "1.00x"])

        # 2./3. three contexts on cores 0,1,2.
        multi = open_session(model, SessionConfig(runtime_library="simulator", schedule=(0, 1, 2)))
        try:
            multi.run(None, feed)
            n = _n_for(phase_s, base * 3)
            r = run_benchmark(multi, "imap", feed, n)
            results["imap_3_cores"] = {"inferences": r.n, "seconds": r.elapsed_s, "throughput_per_s": r.throughput}
            rows.append(["imap(), schedule 0,1,2", 3, r.n, f"{r.elapsed_s:.2f}", f"{r.throughput:.1f}",
                         f"{r.throughput / base:.2f}x"])
            r = run_benchmark(multi, "async", feed, n)
            if r.errors:
                raise CliError(f"run_async failed: {r.first_error}")
            results["run_async_3_cores"] = {"inferences": r.n, "seconds": r.elapsed_s,
                                            "throughput_per_s": r.throughput}
            rows.append(["run_async(), schedule 0,1,2", 3, r.n, f"{r.elapsed_s:.2f}", f"{r.throughput:.1f}",
                         f"{r.throughput / base:.2f}x"])
        finally:
            close_session(multi)

    shape = ",".join(str(d) for d in DEMO_INPUT_SHAPE)
    print(f"Demo model: int8 image [{shape}] -> logits [1,1000], {DEMO_LATENCY_US / 1000:g} ms per inference "
          f"on one simulated NPU core (RK3588: 3 cores).")
    print()
    print(format_table(["how", "cores", "inferences", "seconds", "inferences/s", "speed-up"], rows))
    print()
    print(DEMO_EXPLANATION, end="")
    return 0
