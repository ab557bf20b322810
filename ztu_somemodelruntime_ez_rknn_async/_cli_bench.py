"""``ez-rknn bench``: open the session (falling back to the cores the SoC has), warm up, run, report.

The default schedule of the async modes is ``0,1,2``; when the NPU lacks a core, the command drops it with
a note rather than failing (an explicit ``--schedule`` is never changed). ``--mode all`` runs every mode on
one session. Running is :mod:`._cli_bench_run`, reporting :mod:`._cli_bench_report`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ._cli_bench_report import (
    build_bench_report, render_bench, render_bench_all, session_stats, simulator_counters, write_bench_trace,
)
from ._cli_bench_run import MODES, BenchResult, run_benchmark
from ._cli_format import PROG, CliError, ProgressBar, err_line, note
from ._cli_session import SessionConfig, check_model_path, close_session, open_session, random_feed

if TYPE_CHECKING:
    from .session import InferenceSession

__all__ = ["cmd_bench"]


def _default_schedule(mode: str, tp_mode: Optional[str], schedule: Optional[Tuple[int, ...]]) -> Optional[
        Tuple[int, ...]]:
    if schedule is not None or tp_mode is not None:
        return schedule
    if mode in ("async", "submit", "imap", "pipeline", "all"):
        return (0, 1, 2)
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    model = check_model_path(args.model)
    schedule = _default_schedule(args.mode, args.tp_mode, args.schedule)
    trace_path: Optional[str] = args.trace
    profile_dir: Optional[str] = None
    config = SessionConfig(runtime_library=args.runtime_library, schedule=schedule, tp_mode=args.tp_mode,
                           threads_per_core=args.threads_per_core)
    if trace_path is not None:
        profile_dir = tempfile.mkdtemp(prefix="ez-rknn-trace-")
        config.profile_prefix = os.path.join(profile_dir, "session")
    try:
        session = _open_with_core_fallback(model, config, defaulted=args.schedule is None and args.tp_mode is None)
        schedule = config.schedule
        try:
            return _bench_with_session(args, session, model, schedule, trace_path, config.profile_prefix)
        finally:
            close_session(session)
    finally:
        if profile_dir is not None:
            shutil.rmtree(profile_dir, ignore_errors=True)


def _open_with_core_fallback(model: str, config: SessionConfig, *, defaulted: bool) -> "InferenceSession":
    """Open the session; when the schedule was the CLI's default (0,1,2), fall back to the cores the SoC
    has (RK3576: 0,1; RK356x: 0) instead of failing on ``rknn_set_core_mask``."""
    from .errors import RknnError

    while True:
        try:
            return open_session(model, config)
        except RknnError as exc:
            schedule = config.schedule
            if not defaulted or schedule is None or len(schedule) <= 1 or exc.function != "rknn_set_core_mask":
                raise
            config.schedule = schedule[:-1]
            note(f"{PROG}: core {schedule[-1]} is not available on this NPU ({exc.code_name}); "
                  f"using schedule {','.join(str(c) for c in config.schedule)}")


def _bench_with_session(args: argparse.Namespace, session: Any, model: str, schedule: Optional[Tuple[int, ...]],
                        trace_path: Optional[str], profile_prefix: Optional[str]) -> int:
    rng = np.random.default_rng(args.seed)
    feed = random_feed(session, rng)
    is_sim = session.runtime.is_simulator
    if args.mode == "zero-copy" and not callable(getattr(session, "io_binding", None)):
        raise CliError("zero-copy mode needs InferenceSession.io_binding(), which this version does not have yet")
    for _ in range(args.warmup):
        session.run(None, feed)
    if args.mode == "all":
        return _bench_all_modes(args, session, model, schedule, feed, is_sim, trace_path, profile_prefix)
    before_sim = simulator_counters() if is_sim else None
    before_stats = session_stats(session)
    wall_start = time.perf_counter()
    progress = ProgressBar(args.iterations, label=f"{args.mode} ")
    result = run_benchmark(session, args.mode, feed, args.iterations, depth=args.depth, progress=progress)
    after_stats = session_stats(session)
    after_sim = simulator_counters() if is_sim else None

    report = build_bench_report(
        model=model, mode=args.mode, schedule=schedule, tp_mode=args.tp_mode,
        threads_per_core=args.threads_per_core, result=result, session=session, is_simulator=is_sim,
        stats_before=before_stats, stats_after=after_stats, sim_before=before_sim, sim_after=after_sim,
    )
    if trace_path is not None:
        report["trace"] = write_bench_trace(session, trace_path, result, wall_start, profile_prefix, report)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(render_bench(report, markdown=args.markdown) + "\n")
    if result.errors:
        err_line(f"error: {result.errors} of {result.n} inferences failed; first: {result.first_error}")
        return 1
    return 0


def _bench_all_modes(args: argparse.Namespace, session: Any, model: str, schedule: Optional[Tuple[int, ...]],
                     feed: Mapping[str, np.ndarray], is_sim: bool, trace_path: Optional[str],
                     profile_prefix: Optional[str]) -> int:
    """``--mode all``: every mode this session supports, one after the other, on the same session."""
    modes = [m for m in MODES if m != "zero-copy" or callable(getattr(session, "io_binding", None))]
    reports: Dict[str, Dict[str, Any]] = {}
    results: List[BenchResult] = []
    wall_start = time.perf_counter()
    for mode in modes:
        before_sim = simulator_counters() if is_sim else None
        before_stats = session_stats(session)
        result = run_benchmark(session, mode, feed, args.iterations, depth=args.depth,
                               progress=ProgressBar(args.iterations, label=f"{mode:<9} "))
        results.append(result)
        reports[mode] = build_bench_report(
            model=model, mode=mode, schedule=schedule, tp_mode=args.tp_mode,
            threads_per_core=args.threads_per_core, result=result, session=session, is_simulator=is_sim,
            stats_before=before_stats, stats_after=session_stats(session),
            sim_before=before_sim, sim_after=simulator_counters() if is_sim else None,
        )
    first = reports[modes[0]]
    combined: Dict[str, Any] = {
        key: first[key] for key in ("model", "config", "runtime", "sdk_version", "iterations")
    }
    combined["mode"] = "all"
    combined["modes"] = {
        mode: {k: r[k] for k in ("errors", "elapsed_s", "throughput_per_s", "latency_ms", "utilisation")}
        for mode, r in reports.items()
    }
    if trace_path is not None:
        merged = BenchResult(mode="all", n=sum(r.n for r in results), elapsed_s=time.perf_counter() - wall_start,
                             latencies_s=[], spans=sorted(sp for r in results for sp in r.spans))
        combined["trace"] = write_bench_trace(session, trace_path, merged, wall_start, profile_prefix,
                                              {"throughput_per_s": None, "latency_ms": None})
    if args.json:
        sys.stdout.write(json.dumps(combined, indent=2) + "\n")
    else:
        sys.stdout.write(render_bench_all(combined, markdown=args.markdown) + "\n")
    failed = [(m, r) for m, r in zip(modes, results) if r.errors]
    if failed:
        mode, r = failed[0]
        err_line(f"error: {sum(x.errors for _, x in failed)} inferences failed; first ({mode}): {r.first_error}")
        return 1
    return 0
