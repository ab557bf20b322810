"""Soak: N inferences at latency 0 mixing run / run_async / submit, RSS growth per 10k runs (issue #7).

One session (``schedule "0,1,2"``, simulated rk3588, a small int8 ``[1,3,32,32]`` model with latency 0) runs
``--runs`` inferences (default 100 000), interleaving the three APIs in the ratio ``--mix`` (default
``1:1:1`` = run : run_async : submit). Every ``--interval`` runs (default 10 000) the in-flight work is
drained and ``VmRSS`` (``/proc/self/status``) is sampled. After the warm-up (the first interval) the
growth per 10k runs is the least-squares slope of RSS over the run count (also shown: last - first).

At the end the session is closed and the simulator's live counters (``live_contexts``, ``live_mems``,
``unreleased_outputs``) must be back to 0.

Exit status: 0 when the growth per 10k runs is at most ``--limit-kb`` (default 100, the issue's target), the
live counters are 0 after close and no run failed; 1 otherwise (so CI can use it).

Usage::

    python benchmarks/soak.py [--runs 100000] [--mix 1:1:1] [--interval 10000] [--limit-kb 100] [--json]
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import sys
import tempfile
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import _common as C
from _common import np

from ztu_somemodelruntime_ez_rknn_async import InferenceSession

SHAPE = (1, 3, 32, 32)
LIVE = ("live_contexts", "live_mems", "unreleased_outputs")
KINDS = ("run", "run_async", "submit")


def parse_mix(text: str) -> List[int]:
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("--mix needs three weights run:run_async:submit, e.g. 1:1:1")
    try:
        weights = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError("--mix weights must be integers") from None
    if any(w < 0 for w in weights) or sum(weights) == 0:
        raise argparse.ArgumentTypeError("--mix weights must be >= 0 and not all 0")
    return weights


def schedule(weights: Sequence[int]) -> List[str]:
    """One round of the mix, interleaved (1:2:1 -> run, run_async, submit, run_async)."""
    out: List[str] = []
    left = list(weights)
    while any(left):
        for k, kind in enumerate(KINDS):
            if left[k]:
                out.append(kind)
                left[k] -= 1
    return out


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx = sum(xs) / n
    my = sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


class _Async:
    """Counts run_async callbacks; lets the main thread wait until everything submitted was delivered."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.done = 0
        self.errors: List[str] = []

    def __call__(self, results: List[np.ndarray], user_data: Any, err: str) -> None:
        with self.cond:
            if err:
                self.errors.append(err)
            self.done += 1
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.done >= n, timeout):
                raise RuntimeError("run_async callbacks stalled: {} of {} delivered".format(self.done, n))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100000, help="inferences in total (default 100000)")
    ap.add_argument("--mix", type=parse_mix, default=[1, 1, 1], help="run:run_async:submit weights (default 1:1:1)")
    ap.add_argument("--interval", type=int, default=10000, help="runs between RSS samples (default 10000)")
    ap.add_argument("--limit-kb", type=float, default=100.0, help="max RSS growth per 10k runs (default 100)")
    ap.add_argument("--max-pending", type=int, default=64, help="submit() futures kept before waiting on the oldest")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the text report")
    args = ap.parse_args(argv)
    if args.runs < 2 * args.interval:
        ap.error("--runs must be at least 2 x --interval (warm-up + one measured interval)")

    def log(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    sim = C.sim_setup("rk3588")
    env = C.environment()
    live_before = {k: sim.counter(k) for k in LIVE}
    pattern = schedule(args.mix)
    log("soak: {} runs, mix run:run_async:submit = {}, RSS every {} runs; simulator {}, {} CPUs, load {}".format(
        args.runs, ":".join(map(str, args.mix)), args.interval, env["simulator"], env["cpus"], env["loadavg_1m"]))

    samples: List[Tuple[int, int]] = []  # (runs so far, VmRSS kB)
    counts = collections.Counter()  # type: collections.Counter[str]
    failures: List[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ez-rknn-soak-") as tmp:
        path = C.write_model(tmp, "soak.rknn", latency_us=0)
        x = C.feed_for(SHAPE)
        feed = {"x": x}
        sess = InferenceSession(path, provider_options=dict(C.SIM_PROVIDER, schedule="0,1,2"))
        try:
            cb = _Async()
            pending: Deque["concurrent.futures.Future[Any]"] = collections.deque()
            submitted_async = 0
            samples.append((0, C.rss_kb()))
            plen = len(pattern)
            for i in range(args.runs):
                kind = pattern[i % plen]
                if kind == "run":
                    sess.run(None, feed)
                elif kind == "run_async":
                    sess.run_async(None, feed, cb)
                    submitted_async += 1
                else:
                    pending.append(sess.submit(None, feed))
                    if len(pending) > args.max_pending:
                        pending.popleft().result()
                counts[kind] += 1
                if (i + 1) % args.interval == 0:
                    # Drain, then sample: every sample sees the same (empty) pipeline.
                    while pending:
                        pending.popleft().result()
                    cb.wait_for(submitted_async)
                    rss = C.rss_kb()
                    samples.append((i + 1, rss))
                    log("  {:>8} runs  VmRSS {:>8} kB  ({:+.0f} kB since the previous sample)".format(
                        i + 1, rss, rss - samples[-2][1]))
            while pending:
                pending.popleft().result()
            cb.wait_for(submitted_async)
            failures.extend(cb.errors)
        except Exception as exc:  # noqa: BLE001 - reported, exit status 1
            failures.append("{}: {}".format(type(exc).__name__, exc))
        finally:
            sess.close()
    elapsed = time.perf_counter() - t0
    live_after = {k: sim.counter(k) for k in LIVE}
    leaked = {k: live_after[k] - live_before[k] for k in LIVE}

    measured = [s for s in samples if s[0] >= args.interval]  # from the end of the warm-up on
    per_10k = slope([s[0] for s in measured], [s[1] for s in measured]) * 10000
    span = measured[-1][0] - measured[0][0] if len(measured) > 1 else 0
    total_growth = measured[-1][1] - measured[0][1] if len(measured) > 1 else 0
    per_10k_endpoints = total_growth * 10000.0 / span if span else 0.0
    ok_growth = per_10k <= args.limit_kb
    ok_live = all(v == 0 for v in leaked.values())
    ok = ok_growth and ok_live and not failures
    runs_done = sum(counts.values())

    log("warm-up {} runs; RSS growth after warm-up: {:+.1f} kB per 10k runs (least squares; last-first: {:+.1f}) "
        "-> {} (limit {:.0f} kB)".format(args.interval, per_10k, per_10k_endpoints, C.verdict(ok_growth),
                                         args.limit_kb))
    log("live counters after close: {} -> {}".format(
        ", ".join("{} {}".format(k, v) for k, v in leaked.items()), C.verdict(ok_live)))
    log("{} runs ({}) in {:.1f} s ({:.0f} runs/s); failures: {}".format(
        runs_done, ", ".join("{} {}".format(k, counts[k]) for k in KINDS), elapsed, runs_done / elapsed,
        len(failures)))
    for f in failures[:5]:
        log("  failure: {}".format(f))
    if args.json:
        C.emit_json({
            "benchmark": "soak", "environment": env,
            "config": {"runs": args.runs, "mix": args.mix, "interval": args.interval, "limit_kb": args.limit_kb},
            "samples": [{"runs": r, "rss_kb": k} for r, k in samples],
            "growth_kb_per_10k": per_10k, "growth_kb_per_10k_endpoints": per_10k_endpoints,
            "live_after_close": leaked, "counts": dict(counts), "failures": failures[:20],
            "elapsed_s": elapsed, "ok": ok,
        })
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
