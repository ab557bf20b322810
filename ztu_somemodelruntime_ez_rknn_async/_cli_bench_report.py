"""What ``ez-rknn bench`` reports: per-core utilisation, the report dict, its rendering, the trace file.

Utilisation comes from the session's ``get_stats()`` (worker busy time) and, on the simulator, from its
``busy_us_core<k>`` counters (NPU busy time); both are cumulative, so a report uses the difference across
the timed run. :func:`write_bench_trace` writes the session's own profile when it recorded one, else coarse
submit -> result events.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ._cli_bench_run import BenchResult
from ._cli_format import as_dict, format_kv, format_table, heading, jsonable, percentiles_ms
from ._cli_session import runtime_description, session_sdk_version
from .profiling import SUBMIT_TRACK, TraceRecorder

__all__ = [
    "build_bench_report", "record_coarse_trace", "render_bench", "render_bench_all", "session_stats",
    "session_utilisation", "simulator_counters", "simulator_utilisation", "write_bench_trace",
]

_logger = logging.getLogger(__name__)


def simulator_counters() -> Optional[Dict[str, int]]:
    try:
        from . import simulator

        counters = simulator.control().counters()
    except Exception as exc:  # noqa: BLE001 - optional information
        _logger.debug("simulator counters unavailable: %s", exc)
        return None
    return {str(k): int(v) for k, v in counters.items()}


def simulator_utilisation(before: Mapping[str, int], after: Mapping[str, int],
                          elapsed_s: float) -> Dict[str, Dict[str, float]]:
    """Per core: busy fraction and runs, from the simulator's ``busy_us_core<k>``/``runs_core<k>``."""
    out: Dict[str, Dict[str, float]] = {}
    for k in range(8):
        busy_key, runs_key = f"busy_us_core{k}", f"runs_core{k}"
        if busy_key not in after:
            continue
        busy_us = after[busy_key] - before.get(busy_key, 0)
        runs = after.get(runs_key, 0) - before.get(runs_key, 0)
        out[str(k)] = {
            "busy": (busy_us / 1e6) / elapsed_s if elapsed_s > 0 else 0.0,
            "runs": float(runs),
        }
    return out


def session_utilisation(stats: Mapping[str, Any], elapsed_s: float,
                        slots_per_core: int = 1) -> Dict[str, Dict[str, float]]:
    """Per core from (a delta of) ``get_stats()``.

    The dispatcher's shape: ``busy_s_per_core``/``tasks_per_core`` mappings (busy seconds summed over the
    core's slots, so divided by ``slots_per_core``); also accepted: ``{"cores": {core: {...}}}`` or
    ``{"slots": [...]}``.
    """
    out: Dict[str, Dict[str, float]] = {}
    busy_map = stats.get("busy_s_per_core")
    if isinstance(busy_map, Mapping):
        tasks_map = stats.get("tasks_per_core")
        tasks = tasks_map if isinstance(tasks_map, Mapping) else {}
        slots = max(1, int(slots_per_core))
        for core, busy in busy_map.items():
            if not isinstance(busy, (int, float)):
                continue
            runs = tasks.get(core, 0)
            out[str(core)] = {
                "busy": float(busy) / (elapsed_s * slots) if elapsed_s > 0 else 0.0,
                "runs": float(runs) if isinstance(runs, (int, float)) else 0.0,
            }
        return out
    per_core: Dict[str, Dict[str, float]] = {}
    cores = stats.get("cores") or stats.get("per_core")
    if isinstance(cores, Mapping):
        items = list(cores.items())
    elif isinstance(cores, list):
        items = [(c.get("core", i), c) for i, c in enumerate(cores) if isinstance(c, Mapping)]
    else:
        slot_list = stats.get("slots") or stats.get("workers") or []
        items = [(e.get("core", i), e) for i, e in enumerate(slot_list) if isinstance(e, Mapping)]
    for core, entry in items:
        if not isinstance(entry, Mapping):
            continue
        agg = per_core.setdefault(str(core), {"busy_s": 0.0, "runs": 0.0, "slots": 0.0})
        agg["slots"] += float(entry.get("slots", 1) or 1)
        for key in ("busy_s", "busy_seconds", "busy_time_s"):
            if isinstance(entry.get(key), (int, float)):
                agg["busy_s"] += float(entry[key])
                break
        else:
            for key in ("busy_us",):
                if isinstance(entry.get(key), (int, float)):
                    agg["busy_s"] += float(entry[key]) / 1e6
        for key in ("runs", "completed", "tasks", "count"):
            if isinstance(entry.get(key), (int, float)):
                agg["runs"] += float(entry[key])
                break
        for key in ("utilisation", "utilization", "busy_fraction"):
            if isinstance(entry.get(key), (int, float)):
                agg["reported"] = float(entry[key])
    for core, agg in per_core.items():
        if "reported" in agg:
            busy = agg["reported"]
        else:
            busy = agg["busy_s"] / elapsed_s if elapsed_s > 0 else 0.0
        out[core] = {"busy": busy, "runs": agg["runs"]}
    return out


def session_stats(session: Any) -> Optional[Dict[str, Any]]:
    get_stats = getattr(session, "get_stats", None)
    if not callable(get_stats):
        return None
    try:
        return as_dict(get_stats())
    except Exception as exc:  # noqa: BLE001
        _logger.debug("get_stats() failed: %s", exc)
        return None


def render_bench_all(report: Mapping[str, Any], *, markdown: bool = False) -> str:
    runtime = report.get("runtime", {})
    rt = str(runtime.get("path", "librknnrt.so")) + (" (simulator: timings are simulated)"
                                                      if runtime.get("is_simulator") else "")
    cfg = report["config"]
    cores = ("schedule " + ",".join(str(c) for c in cfg["schedule"]) if cfg.get("schedule")
             else f"tp_mode {cfg['tp_mode']}" if cfg.get("tp_mode") else "default core mask (auto)")
    modes: Mapping[str, Any] = report["modes"]
    base = modes.get("sync", {}).get("throughput_per_s") or 0.0
    rows = []
    for mode, r in modes.items():
        lat = r["latency_ms"]
        rows.append([mode, f"{r['throughput_per_s']:.1f}",
                     f"{r['throughput_per_s'] / base:.2f}x" if base else "-",
                     f"{lat['p50']:.3f}", f"{lat['p90']:.3f}", f"{lat['p99']:.3f}", r["errors"]])
    lines = ["### ez-rknn bench (all modes)", ""] if markdown else []
    lines += [
        format_kv([("model", report["model"]), ("runtime", rt), ("cores", cores),
                   ("inferences", f"{report['iterations']} per mode")], markdown=markdown),
        "",
        format_table(["mode", "inferences/s", "vs sync", "p50 ms", "p90 ms", "p99 ms", "errors"], rows,
                     markdown=markdown),
    ]
    if report.get("trace"):
        lines += ["", f"trace written to {report['trace']} (open in chrome://tracing or ui.perfetto.dev)"]
    return "\n".join(lines)


def _stats_delta(before: Optional[Mapping[str, Any]], after: Optional[Mapping[str, Any]]) -> Optional[
        Dict[str, Any]]:
    """Numeric leaves of ``after`` minus ``before`` (counters are cumulative)."""
    if after is None:
        return None
    if before is None:
        return dict(after)

    def sub(a: Any, b: Any) -> Any:
        if isinstance(a, bool) or isinstance(b, bool):
            return a
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a - b
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            return {k: sub(v, b.get(k, 0 if isinstance(v, (int, float)) else None)) for k, v in a.items()}
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            return [sub(x, y) for x, y in zip(a, b)]
        return a

    result = sub(after, before)
    return result if isinstance(result, dict) else dict(after)


def build_bench_report(*, model: str, mode: str, schedule: Optional[Tuple[int, ...]], tp_mode: Optional[str],
                       threads_per_core: Optional[int], result: BenchResult, session: Any, is_simulator: bool,
                       stats_before: Optional[Mapping[str, Any]], stats_after: Optional[Mapping[str, Any]],
                       sim_before: Optional[Mapping[str, int]], sim_after: Optional[Mapping[str, int]]
                       ) -> Dict[str, Any]:
    utilisation: Dict[str, Any] = {"session": None, "simulator": None}
    delta = _stats_delta(stats_before, stats_after)
    if delta is not None:
        per_core = session_utilisation(delta, result.elapsed_s, threads_per_core or 1)
        utilisation["session"] = per_core or None
    if sim_before is not None and sim_after is not None:
        utilisation["simulator"] = simulator_utilisation(sim_before, sim_after, result.elapsed_s) or None
    return {
        "model": os.path.abspath(model),
        "mode": mode,
        "config": {"schedule": list(schedule) if schedule is not None else None, "tp_mode": tp_mode,
                   "threads_per_core": threads_per_core},
        "runtime": dict(runtime_description(session), is_simulator=is_simulator),
        "sdk_version": session_sdk_version(session),
        "iterations": result.n,
        "errors": result.errors,
        "elapsed_s": result.elapsed_s,
        "throughput_per_s": result.throughput,
        "latency_ms": percentiles_ms(result.latencies_s),
        "utilisation": utilisation,
        "session_stats": jsonable(stats_after) if stats_after is not None else None,
    }


def render_bench(report: Mapping[str, Any], *, markdown: bool = False) -> str:
    cfg = report["config"]
    if cfg.get("schedule"):
        cores = "schedule " + ",".join(str(c) for c in cfg["schedule"])
    elif cfg.get("tp_mode"):
        cores = f"tp_mode {cfg['tp_mode']}"
    else:
        cores = "default core mask (auto)"
    if cfg.get("threads_per_core"):
        cores += f", {cfg['threads_per_core']} contexts per core"
    runtime = report.get("runtime", {})
    rt = str(runtime.get("path", "librknnrt.so"))
    if report["runtime"].get("is_simulator"):
        rt += " (simulator: timings are simulated)"
    lat = report["latency_ms"]
    lines = ["### ez-rknn bench", ""] if markdown else []
    lines += [
        format_kv([
            ("model", report["model"]),
            ("runtime", rt),
            ("mode", f"{report['mode']} ({cores})"),
            ("inferences", f"{report['iterations']} in {report['elapsed_s']:.3f} s"
                           + (f", {report['errors']} failed" if report["errors"] else "")),
            ("throughput", f"{report['throughput_per_s']:.1f} inferences/s"),
        ] + ([("SDK version", ", ".join(f"{k}={v}" for k, v in report.get("sdk_version", {}).items()))]
             if markdown and report.get("sdk_version") else []), markdown=markdown),
        "",
        heading("latency (ms, submit -> result)", markdown),
        format_table(["mean", "min", "p50", "p90", "p99", "max"],
                     [[f"{lat[k]:.3f}" for k in ("mean", "min", "p50", "p90", "p99", "max")]], indent="  ",
                     markdown=markdown),
    ]
    util = report.get("utilisation", {})
    cores_seen = sorted(set((util.get("session") or {}).keys()) | set((util.get("simulator") or {}).keys()),
                        key=lambda c: (len(c), c))
    if cores_seen:
        rows = []
        for core in cores_seen:
            s = (util.get("session") or {}).get(core)
            m = (util.get("simulator") or {}).get(core)
            if m is not None and not m.get("runs") and s is None:
                continue  # a core this session does not use (or the SoC does not have)
            if s and not s.get("runs") and not s.get("busy"):
                s = None  # e.g. zero-copy runs, which do not go through the worker slots
            runs = (m or s or {}).get("runs", 0.0)  # the simulator counts every NPU run
            rows.append([core, f"{int(runs)}",
                         f"{s['busy'] * 100:.1f}%" if s else "-",
                         f"{m['busy'] * 100:.1f}%" if m else "-"])
        lines += ["", heading("per-core utilisation", markdown),
                  format_table(["core", "runs", "workers busy (session)", "NPU busy (simulator)"], rows,
                               indent="  ", markdown=markdown)]
    else:
        lines += ["", "per-core utilisation: not available (session has no get_stats())"]
    if report.get("trace"):
        lines += ["", f"trace written to {report['trace']} (open in chrome://tracing or ui.perfetto.dev)"]
    return "\n".join(lines)


def write_bench_trace(session: Any, path: str, result: BenchResult, wall_start: float,
                      profile_prefix: Optional[str], report: Mapping[str, Any]) -> str:
    """The session's own profile when it has one with events; else coarse submit → result events."""
    end_profiling = getattr(session, "end_profiling", None)
    if profile_prefix is not None and callable(end_profiling):
        try:
            produced = end_profiling()
        except Exception as exc:  # noqa: BLE001 - fall back to coarse events
            _logger.info("end_profiling() failed: %s", exc)
            produced = None
        if isinstance(produced, str) and produced and os.path.isfile(produced) and _has_complete_events(produced):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            shutil.move(produced, path)
            return os.path.abspath(path)
    recorder = TraceRecorder(process_name=f"ez-rknn bench ({result.mode})", origin_s=wall_start)
    record_coarse_trace(recorder, result, wall_start)
    recorder.add_instant("report", "bench", recorder.now(), track="bench",
                         args={"throughput_per_s": report["throughput_per_s"], "latency_ms": report["latency_ms"]})
    return os.path.abspath(recorder.write(path))


def _has_complete_events(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    events = data.get("traceEvents", data) if isinstance(data, dict) else data
    return isinstance(events, list) and any(isinstance(e, dict) and e.get("ph") == "X" for e in events)


def record_coarse_trace(recorder: TraceRecorder, result: BenchResult, wall_start: float) -> None:
    """One ``inference`` event per task on the lowest free "in flight #k" lane (greedy interval colouring)."""
    end = max((b for _, b in result.spans), default=wall_start)
    recorder.add_complete(f"bench {result.mode}", "bench", wall_start, end - wall_start, track="bench",
                          args={"n": result.n})
    lane_free_at: List[float] = []
    for i, (start, done) in enumerate(result.spans):
        lane = next((k for k, free in enumerate(lane_free_at) if free <= start), None)
        if lane is None:
            lane = len(lane_free_at)
            lane_free_at.append(done)
        else:
            lane_free_at[lane] = done
        recorder.add_instant("submit", "submit", start, track=SUBMIT_TRACK, args={"task": i})
        recorder.add_complete("inference", "task", start, done - start, track=f"in flight #{lane}",
                              args={"task": i, "latency_ms": round((done - start) * 1e3, 3)})
