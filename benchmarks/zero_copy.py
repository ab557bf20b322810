"""Zero-copy (IOBinding) vs the copy path (run()) per inference (issue #5).

One session per model on the simulated runtime (rk3588, one slot per core, ``schedule "0,1,2"``). For each
input size (default: a small int8 ``[1,3,32,32]`` and a realistically larger uint8 ``[1,3,224,224]``, one
output ``[1,1000]`` of the same type) and model latency 0 by default (so that the binding/copy overhead
dominates), the per-run wall time of

* **copy path**: ``sess.run(None, {"x": x})`` (validate the feed, ``rknn_inputs_set`` converts NCHW ->
  NHWC into the runtime's input buffer, ``rknn_run``, ``rknn_outputs_get`` into a fresh float32 array);
* **zero copy**: ``sess.run_with_iobinding(io)`` with the input written ONCE
  (``OrtValue.ortvalue_from_numpy(x, "rknpu2", ...)`` + ``bind_ortvalue_input``) and the output bound with
  ``bind_output`` (stays in NPU memory);
* **zero copy + read**: the same plus ``io.copy_outputs_to_cpu()`` each run (a fair comparison when the
  caller needs the output on the CPU every time),

measured in interleaved chunks (``--reps``) and printed as ratios (zero copy time / copy time, and the
speed-up). The simulator counters confirm that the zero-copy runs made no ``rknn_inputs_set`` and no
``rknn_outputs_get`` calls (and show the ``rknn_set_io_mem``/``rknn_mem_sync`` calls made per run).

Next to them, the bare-ctypes FLOOR of each path (``_common.BareLoops`` with one pinned context, and
``_common.BareZeroCopy``: input/output bound once, then a bare ``rknn_run`` loop) separates what the
binding adds (``binding overhead`` = session time - floor) from what the simulator's C code costs. Read
the large case with that in mind: the simulator does on the CPU, inside ``rknn_run``, the work a real NPU
does itself -- for a bound NHWC input it transposes the memory back to NCHW on every run -- while the copy
path fed NCHW needs no transpose in the simulator. So on the simulator zero copy cannot win on big inputs;
on a board it removes the ``rknn_inputs_set`` copy/convert (1.8 ms of 4.5 ms for mobilenet_v2 in
/work/shared/reference/ecosystem.md 4.3). The binding overhead is the number this script is for.

Usage::

    python benchmarks/zero_copy.py [--json] [--seconds 6] [--reps 4] [--latency-us 0]

Exit status 1 if a zero-copy run called rknn_inputs_set/rknn_outputs_get or returned different values.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import _common as C
from _common import np

from ztu_somemodelruntime_ez_rknn_async import InferenceSession, OrtValue, simulator

CASES: Tuple[Tuple[str, Tuple[int, ...], str], ...] = (
    ("small int8 [1,3,32,32]", (1, 3, 32, 32), "int8"),
    ("large uint8 [1,3,224,224]", (1, 3, 224, 224), "uint8"),
)
OUT_SHAPE = (1, 1000)
COUNTERS = ("calls:rknn_inputs_set", "calls:rknn_outputs_get", "calls:rknn_run", "calls:rknn_set_io_mem",
            "calls:rknn_mem_sync")


def timed(fn: Callable[[], Any], seconds: float) -> Tuple[int, float]:
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    n = 0
    while clock() < deadline:
        fn()
        n += 1
    return n, clock() - start


def counted(sim: simulator.Simulator, fn: Callable[[], Any], seconds: float) -> Tuple[int, float, Dict[str, int]]:
    before = {k: sim.counter(k) for k in COUNTERS}
    n, elapsed = timed(fn, seconds)
    return n, elapsed, {k: sim.counter(k) - before[k] for k in COUNTERS}


def measure_case(sim: simulator.Simulator, tmp: str, label: str, shape: Tuple[int, ...], dtype: str,
                 latency_us: int, seconds: float, reps: int, log: Callable[[str], None]) -> Dict[str, Any]:
    path = "{}/zc_{}.rknn".format(tmp, "x".join(map(str, shape)))
    simulator.write_model(path, [simulator.TensorSpec("x", shape, dtype)],
                          [simulator.TensorSpec("y", OUT_SHAPE, dtype)], latency_us=latency_us)
    x = C.feed_for(shape, dtype)
    feed = {"x": x}
    sess = InferenceSession(path, provider_options=dict(C.SIM_PROVIDER, schedule="0,1,2"))
    try:
        io = sess.io_binding()
        value = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=sess, name="x", io_kind="input")
        io.bind_ortvalue_input("x", value)
        io.bind_output("y", "rknpu2")
        run_zc = sess.run_with_iobinding

        def zero_copy() -> None:
            run_zc(io)

        def zero_copy_read() -> None:
            run_zc(io)
            io.copy_outputs_to_cpu()

        def copy_path() -> None:
            sess.run(None, feed)

        # Same values both ways (the zero-copy output stays in the model's native type).
        [ref] = sess.run(None, feed)
        run_zc(io)
        [got] = io.copy_outputs_to_cpu()
        same = bool(np.array_equal(ref, got.astype(np.float32)))
        for _ in range(20):
            copy_path()
            zero_copy_read()

        variants: List[Tuple[str, Callable[[], None]]] = [
            ("copy", copy_path), ("zero_copy", zero_copy), ("zero_copy_read", zero_copy_read)]
        chunks: Dict[str, List[Tuple[int, float, Dict[str, int]]]] = {k: [] for k, _ in variants}
        floors: Dict[str, List[Tuple[int, float]]] = {"copy": [], "zero_copy": []}
        bare_copy = C.BareLoops(path, x, OUT_SHAPE, masks=(1,))
        bare_zc = C.BareZeroCopy(path)
        try:
            for r in range(reps):
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for name, fn in order:
                    chunks[name].append(counted(sim, fn, seconds / reps))
                floors["copy"].append(bare_copy.measure(seconds=seconds / reps / 2))
                floors["zero_copy"].append(bare_zc.measure(seconds / reps / 2))
        finally:
            bare_copy.close()
            bare_zc.close()
    finally:
        sess.close()
    per_run = {k: sum(c[1] for c in v) / sum(c[0] for c in v) for k, v in chunks.items()}
    floor = {k: sum(c[1] for c in v) / sum(c[0] for c in v) for k, v in floors.items()}
    calls = {k: {c: sum(ch[2][c] for ch in v) for c in COUNTERS} for k, v in chunks.items()}
    runs = {k: sum(c[0] for c in v) for k, v in chunks.items()}
    paired = [(z[1] / z[0]) / (c[1] / c[0]) for z, c in zip(chunks["zero_copy"], chunks["copy"])]
    no_copy_calls = all(calls[k]["calls:rknn_inputs_set"] == 0 and calls[k]["calls:rknn_outputs_get"] == 0
                        for k in ("zero_copy", "zero_copy_read"))
    result = {
        "case": label, "shape": list(shape), "dtype": dtype, "input_bytes": int(x.nbytes), "latency_us": latency_us,
        "per_run_us": {k: v * 1e6 for k, v in per_run.items()},
        "runs": runs,
        "zero_copy_over_copy": per_run["zero_copy"] / per_run["copy"],
        "zero_copy_read_over_copy": per_run["zero_copy_read"] / per_run["copy"],
        "speedup": per_run["copy"] / per_run["zero_copy"],
        "speedup_with_read": per_run["copy"] / per_run["zero_copy_read"],
        "zero_copy_over_copy_chunks": paired,
        "calls_per_run": {k: {c: calls[k][c] / runs[k] for c in COUNTERS} for k in calls},
        "bare_ctypes_per_run_us": {k: v * 1e6 for k, v in floor.items()},
        "bare_zero_copy_over_copy": floor["zero_copy"] / floor["copy"],
        "binding_overhead_us": {"copy": (per_run["copy"] - floor["copy"]) * 1e6,
                                "zero_copy": (per_run["zero_copy"] - floor["zero_copy"]) * 1e6},
        "zero_copy_made_no_inputs_set": no_copy_calls,
        "same_values": same,
    }
    zc_calls = result["calls_per_run"]["zero_copy"]
    over = result["binding_overhead_us"]
    log("{} ({} kB input, latency {} us):".format(label, x.nbytes // 1024, latency_us))
    log("  copy path       {:>8.1f} us/run".format(result["per_run_us"]["copy"]))
    log("  zero copy       {:>8.1f} us/run   {:.3f} of the copy time ({:.2f}x faster) [chunks {:.3f}-{:.3f}]".format(
        result["per_run_us"]["zero_copy"], result["zero_copy_over_copy"], result["speedup"], min(paired),
        max(paired)))
    log("  zero copy+read  {:>8.1f} us/run   {:.3f} of the copy time ({:.2f}x faster)".format(
        result["per_run_us"]["zero_copy_read"], result["zero_copy_read_over_copy"], result["speedup_with_read"]))
    log("  bare ctypes floor: copy loop {:.1f} us, zero-copy rknn_run {:.1f} us ({:.3f}); binding overhead above "
        "the floor: copy {:.1f} us, zero copy {:.1f} us".format(
            result["bare_ctypes_per_run_us"]["copy"], result["bare_ctypes_per_run_us"]["zero_copy"],
            result["bare_zero_copy_over_copy"], over["copy"], over["zero_copy"]))
    log("  zero-copy calls per run: inputs_set {:.0f}, outputs_get {:.0f}, run {:.2f}, set_io_mem {:.2f}, "
        "mem_sync {:.2f}  -> {}; same values as run(): {}".format(
            zc_calls["calls:rknn_inputs_set"], zc_calls["calls:rknn_outputs_get"], zc_calls["calls:rknn_run"],
            zc_calls["calls:rknn_set_io_mem"], zc_calls["calls:rknn_mem_sync"],
            "no inputs_set: PASS" if no_copy_calls else "inputs_set/outputs_get called: FAIL", same))
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the text report")
    ap.add_argument("--seconds", type=float, default=6.0, help="measured seconds per variant and case (default 6)")
    ap.add_argument("--reps", type=int, default=4, help="interleaved chunks per variant (default 4)")
    ap.add_argument("--latency-us", type=int, default=0, help="model latency (default 0: overhead only)")
    args = ap.parse_args(argv)

    def log(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    sim = C.sim_setup("rk3588")
    env = C.environment()
    log("zero_copy: simulator {}, {} s x {} chunks per variant; {} CPUs, load {}".format(
        env["simulator"], args.seconds, args.reps, env["cpus"], env["loadavg_1m"]))
    results = []
    with tempfile.TemporaryDirectory(prefix="ez-rknn-bench-") as tmp:
        for label, shape, dtype in CASES:
            results.append(measure_case(sim, tmp, label, shape, dtype, args.latency_us, args.seconds, args.reps,
                                        log))
    ok = all(r["zero_copy_made_no_inputs_set"] and r["same_values"] for r in results)
    if args.json:
        C.emit_json({"benchmark": "zero_copy", "environment": env,
                     "config": {"seconds": args.seconds, "reps": args.reps, "latency_us": args.latency_us},
                     "cases": results, "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
