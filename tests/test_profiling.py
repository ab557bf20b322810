"""The Chrome-trace recorder: event shapes, tracks, bounds, threads, task phases, file naming."""
from __future__ import annotations

import datetime
import json
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest

from ztu_somemodelruntime_ez_rknn_async.profiling import (
    CALLBACK_TRACK,
    SUBMIT_TRACK,
    TASKS_TRACK,
    TaskTrace,
    TraceRecorder,
    profile_file_name,
    slot_track,
)


class FakeClock:
    def __init__(self, start: float = 100.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def _load(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: Dict[str, Any] = json.load(fh)
    return data


def _by_ph(data: Dict[str, Any], ph: str) -> List[Dict[str, Any]]:
    return [e for e in data["traceEvents"] if e["ph"] == ph]


def _thread_names(data: Dict[str, Any]) -> Dict[int, str]:
    return {e["tid"]: e["args"]["name"] for e in _by_ph(data, "M") if e["name"] == "thread_name"}


def test_complete_event_shape_in_microseconds(tmp_path: Path) -> None:
    clock = FakeClock(10.0)
    rec = TraceRecorder(clock=clock, pid=42, process_name="proc")
    assert rec.add_complete("run", "task", 10.5, 0.002, track=slot_track(1, 0), args={"core": 1})
    path = rec.write(tmp_path / "t.json")
    assert path == str(tmp_path / "t.json")
    data = _load(path)
    assert set(data) >= {"traceEvents", "displayTimeUnit"}
    assert data["displayTimeUnit"] == "ms"
    (x,) = _by_ph(data, "X")
    assert x["name"] == "run" and x["cat"] == "task" and x["pid"] == 42
    assert x["ts"] == pytest.approx(500_000.0)
    assert x["dur"] == pytest.approx(2000.0)
    assert x["args"] == {"core": 1}
    assert _thread_names(data)[x["tid"]] == "core 1 / slot 0"
    procs = [e for e in _by_ph(data, "M") if e["name"] == "process_name"]
    assert procs and procs[0]["args"]["name"] == "proc" and procs[0]["pid"] == 42
    assert data["otherData"]["dropped_events"] == 0


def test_instant_and_counter_events(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    rec = TraceRecorder(clock=clock)
    clock.t = 0.25
    rec.add_instant("submit", "submit", track=SUBMIT_TRACK)  # default timestamp: now
    rec.add_counter("queue", 0.5, {"depth": 3})
    data = _load(rec.write(tmp_path / "t.json"))
    (i,) = _by_ph(data, "i")
    assert i["ts"] == pytest.approx(250_000.0) and i["s"] == "t"
    assert _thread_names(data)[i["tid"]] == "submit"
    (c,) = _by_ph(data, "C")
    assert c["args"] == {"depth": 3.0}
    with pytest.raises(ValueError):
        rec.add_instant("x", "y", 0.0, scope="bogus")


def test_negative_duration_clamped_and_args_made_jsonable(tmp_path: Path) -> None:
    rec = TraceRecorder(clock=FakeClock(0.0))
    rec.add_complete("a", "c", 1.0, -5.0, args={"obj": object(), "t": (1, 2), "m": {"k": None}})
    data = _load(rec.write(tmp_path / "t.json"))
    (x,) = _by_ph(data, "X")
    assert x["dur"] == 0
    assert isinstance(x["args"]["obj"], str) and x["args"]["t"] == [1, 2] and x["args"]["m"] == {"k": None}


def test_bounded_memory_counts_dropped(tmp_path: Path) -> None:
    rec = TraceRecorder(max_events=3, clock=FakeClock())
    kept = [rec.add_complete(f"e{i}", "c", 100.0, 0.001) for i in range(5)]
    assert kept == [True, True, True, False, False]
    assert len(rec) == 3 and rec.dropped == 2
    data = _load(rec.write(tmp_path / "t.json"))
    assert len(_by_ph(data, "X")) == 3
    assert data["otherData"]["dropped_events"] == 2 and data["otherData"]["max_events"] == 3
    rec.clear()
    assert len(rec) == 0 and rec.dropped == 0
    with pytest.raises(ValueError):
        TraceRecorder(max_events=-1)


def test_tracks_get_stable_ids_and_sort_order(tmp_path: Path) -> None:
    rec = TraceRecorder(clock=FakeClock())
    names = [CALLBACK_TRACK, slot_track(2, 0), SUBMIT_TRACK, slot_track(0, 1), slot_track(0, 0), "other",
             TASKS_TRACK]
    ids = [rec.track_id(n) for n in names]
    assert len(set(ids)) == len(ids)
    assert rec.track_id(slot_track(2, 0)) == ids[1]
    assert rec.track_id(7) == 7
    for n in names:
        rec.add_instant("x", "c", 100.0, track=n)
    data = _load(rec.write(tmp_path / "t.json"))
    sort = {e["tid"]: e["args"]["sort_index"] for e in _by_ph(data, "M") if e["name"] == "thread_sort_index"}
    by_name = {v: sort[k] for k, v in _thread_names(data).items()}
    order = sorted(by_name, key=lambda n: by_name[n])
    assert order == [SUBMIT_TRACK, TASKS_TRACK, "core 0 / slot 0", "core 0 / slot 1", "core 2 / slot 0", "other",
                     CALLBACK_TRACK]


def test_thread_safe_recording(tmp_path: Path) -> None:
    rec = TraceRecorder(max_events=10_000)
    n_threads, per_thread = 8, 300

    def work(k: int) -> None:
        for i in range(per_thread):
            t0 = rec.now()
            rec.add_complete("w", "c", t0, 0.0, track=slot_track(k % 3, k // 3), args={"i": i})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rec) == n_threads * per_thread and rec.dropped == 0
    data = _load(rec.write(tmp_path / "t.json"))
    assert len(_by_ph(data, "X")) == n_threads * per_thread
    assert len(_thread_names(data)) == n_threads


def test_bounded_under_threads() -> None:
    rec = TraceRecorder(max_events=100)

    def work() -> None:
        for _ in range(100):
            rec.add_instant("i", "c")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rec) == 100 and rec.dropped == 300


def test_record_task_phases(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    rec = TraceRecorder(clock=clock)
    task = TaskTrace(7, submitted_s=1.0)
    task.set_slot(2, 1)
    clock.t = 1.010
    with task.phase("inputs_set", clock):
        clock.t = 1.011
    with task.phase("run", clock):
        clock.t = 1.013
    with task.phase("outputs_get", clock):
        clock.t = 1.014
    with task.phase("callback", clock):
        clock.t = 1.015
    assert task.phase_names() == ["inputs_set", "run", "outputs_get", "callback"]
    assert rec.record_task(task) == 7  # submit, task span, queue_wait span, 4 phases
    data = _load(rec.write(tmp_path / "t.json"))
    names = _thread_names(data)
    xs = {e["name"]: e for e in _by_ph(data, "X")}
    assert set(xs) == {"inputs_set", "run", "outputs_get", "callback"}
    assert xs["inputs_set"]["ts"] == pytest.approx(1_010_000) and xs["inputs_set"]["dur"] == pytest.approx(1000)
    assert xs["run"]["dur"] == pytest.approx(2000)
    for phase in ("inputs_set", "run", "outputs_get"):
        assert names[xs[phase]["tid"]] == "core 2 / slot 1"
        assert xs[phase]["args"] == {"task": 7, "core": 2, "slot": 1}
    assert names[xs["callback"]["tid"]] == "callbacks"
    (sub,) = _by_ph(data, "i")
    assert names[sub["tid"]] == "submit" and sub["ts"] == pytest.approx(1e6)
    # Overlapping intervals are nestable async spans: task (submit -> last phase end) > queue_wait.
    begins = {e["name"]: e for e in _by_ph(data, "b")}
    ends = {e["name"]: e for e in _by_ph(data, "e")}
    assert set(begins) == set(ends) == {"task", "queue_wait"}
    assert all(e["id"] == 7 and e["cat"] == "task" for e in list(begins.values()) + list(ends.values()))
    assert begins["task"]["ts"] == pytest.approx(1e6) and ends["task"]["ts"] == pytest.approx(1_015_000)
    assert begins["queue_wait"]["ts"] == pytest.approx(1e6) and ends["queue_wait"]["ts"] == pytest.approx(1_010_000)
    assert names[begins["task"]["tid"]] == "tasks"
    # In the file, a span's begin precedes its end, and the outer span opens first.
    order = [(e["name"], e["ph"]) for e in data["traceEvents"] if e["ph"] in ("b", "e")]
    assert order == [("task", "b"), ("task", "e"), ("queue_wait", "b"), ("queue_wait", "e")]


def test_record_task_with_explicit_start_and_error() -> None:
    clock = FakeClock(0.0)
    rec = TraceRecorder(clock=clock)
    task = TaskTrace(1, submitted_s=0.0)
    task.set_slot(0, 0, started_s=0.5)
    with pytest.raises(RuntimeError):
        with task.phase("run", clock):
            clock.t = 0.75
            raise RuntimeError("boom")
    assert task.error == "RuntimeError: boom"
    rec.record_task(task)
    events = rec.to_dict()["traceEvents"]
    xs = {e["name"]: e for e in events if e["ph"] == "X"}
    qw = [e["ts"] for e in events if e["name"] == "queue_wait"]
    assert qw == [pytest.approx(0.0), pytest.approx(500_000)]
    assert xs["run"]["args"]["error"] == "RuntimeError: boom"


def test_async_pair_is_all_or_nothing() -> None:
    rec = TraceRecorder(max_events=3, clock=FakeClock(0.0))
    assert rec.add_async("a", "c", 0.0, 1.0, async_id=1)
    assert not rec.add_async("b", "c", 0.0, 1.0, async_id=2)  # would need 2 more slots, 1 left
    assert len(rec) == 2 and rec.dropped == 2
    assert rec.add_instant("i", "c", 0.5)


def test_record_task_without_slot_or_submit() -> None:
    rec = TraceRecorder(clock=FakeClock(0.0))
    task = TaskTrace(3)
    task.add_phase("run", 0.1, 0.2)
    assert rec.record_task(task) == 1
    data = rec.to_dict()
    assert [e["name"] for e in data["traceEvents"] if e["ph"] == "X"] == ["run"]


def test_span_context_manager() -> None:
    clock = FakeClock(0.0)
    rec = TraceRecorder(clock=clock)
    with rec.span("model_loading", "Session", track="session", args={"path": "m.rknn"}):
        clock.t = 0.003
    (x,) = [e for e in rec.to_dict()["traceEvents"] if e["ph"] == "X"]
    assert x["name"] == "model_loading" and x["dur"] == pytest.approx(3000)


def test_profile_file_name_ort_style(tmp_path: Path) -> None:
    when = datetime.datetime(2026, 11, 29, 18, 5, 7)
    prefix = str(tmp_path / "onnxruntime_profile")
    first = profile_file_name(prefix, when)
    assert first == prefix + "_2026-11-29_18-05-07.json"
    Path(first).write_text("{}")
    second = profile_file_name(prefix, when)
    assert second == prefix + "_2026-11-29_18-05-07_1.json"


def test_write_creates_directories_and_leaves_no_temp(tmp_path: Path) -> None:
    rec = TraceRecorder()
    rec.add_instant("x", "c")
    target = tmp_path / "a" / "b" / "trace.json"
    rec.write(target)
    assert target.is_file()
    assert [p.name for p in target.parent.iterdir()] == ["trace.json"]
    assert rec.start_time_ns > 0 and rec.origin_s <= rec.now()


def test_origin_for_events_recorded_after_the_fact() -> None:
    clock = FakeClock(10.0)
    rec = TraceRecorder(clock=clock, origin_s=8.0)
    rec.add_complete("early", "c", 8.5, 0.5)
    (x,) = [e for e in rec.to_dict()["traceEvents"] if e["ph"] == "X"]
    assert x["ts"] == pytest.approx(500_000)
    assert rec.origin_s == 8.0


# ---------------------------------------------------------------------------------------------------
# The session's use of the recorder (ORT semantics); skipped while the session has no end_profiling().
# ---------------------------------------------------------------------------------------------------


def _session_has_profiling() -> bool:
    try:
        from ztu_somemodelruntime_ez_rknn_async import InferenceSession
    except ImportError:
        return False
    return callable(getattr(InferenceSession, "end_profiling", None))


@pytest.mark.skipif(not _session_has_profiling(), reason="InferenceSession.end_profiling() not available yet")
def test_session_end_profiling_writes_chrome_trace(native_model: Any, tmp_path: Path) -> None:
    import re

    import numpy as np

    from ztu_somemodelruntime_ez_rknn_async import InferenceSession
    from ztu_somemodelruntime_ez_rknn_async.options import SessionOptions
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    model = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=200)
    so = SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "prof")
    feed = {"x": np.zeros((1, 4), np.float32)}
    done = threading.Event()
    with InferenceSession(str(model), so, provider_options={"runtime_library": "simulator", "schedule": "0,1,2"}) as s:
        s.run(None, feed)
        s.run_async(None, feed, lambda res, ud, err: done.set(), None)
        assert done.wait(10)
        list(s.imap([feed] * 4))
        path = getattr(s, "end_profiling")()  # getattr: typed once session.py has it
    assert re.fullmatch(re.escape(str(tmp_path / "prof")) + r"_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(_\d+)?\.json", path)
    data = _load(path)
    assert data["displayTimeUnit"] == "ms"
    names = _thread_names(data)
    xs = _by_ph(data, "X")
    assert {"inputs_set", "run", "outputs_get"} <= {e["name"] for e in xs}
    assert any(names.get(e["tid"], "").startswith("core ") for e in xs if e["name"] == "run")
    assert any(e["name"] == "callback" and names.get(e["tid"]) == CALLBACK_TRACK for e in xs)
    for e in xs:
        assert isinstance(e["ts"], (int, float)) and e["dur"] >= 0 and "pid" in e and "tid" in e


@pytest.mark.skipif(not _session_has_profiling(), reason="InferenceSession.end_profiling() not available yet")
def test_session_end_profiling_without_profiling_returns_empty(native_model: Any) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    model = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0)
    with InferenceSession(str(model), provider_options={"runtime_library": "simulator"}) as s:
        assert getattr(s, "end_profiling")() == ""  # ORT: "" when profiling was not enabled


@pytest.mark.skipif(not _session_has_profiling(), reason="InferenceSession.end_profiling() not available yet")
def test_the_run_tag_is_written_into_each_task_of_the_profile(native_model: Any, tmp_path: Path) -> None:
    """The ``tag`` run option (or an ORT ``RunOptions.logid``) labels every event of that call's tasks, through
    every API; calls without one carry no tag."""
    import numpy as np

    from ztu_somemodelruntime_ez_rknn_async import InferenceSession, RunOptions
    from ztu_somemodelruntime_ez_rknn_async.options import SessionOptions
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    model = native_model([TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=100)
    so = SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "prof")
    feed = {"x": np.zeros((1, 4), np.float32)}
    batch = {"x": np.zeros((3, 4), np.float32)}
    ort_options = RunOptions()
    ort_options.logid = "from-logid"
    done = threading.Event()
    with InferenceSession(str(model), so, provider_options={"runtime_library": "simulator", "schedule": "0,1,2"}) as s:
        s.run(None, feed, {"tag": "run"})
        s.run(None, feed, {"tag": "run-timeout", "run_timeout_ms": 60000})
        s.run(None, batch, {"tag": "batch", "ztu_modelrt_dispatch_batch": True})
        s.run_async(None, feed, lambda res, ud, err: done.set(), None, {"tag": "async"})
        assert done.wait(10)
        s.submit(None, feed, {"tag": "submit"}).result(10)
        list(s.imap([feed] * 2, run_options={"tag": "imap"}))
        s.run(None, feed, ort_options)
        s.run(None, feed)
        path = s.end_profiling()
    data = _load(path)
    tags_by_name: Dict[str, set] = {}  # type: ignore[type-arg]
    phase_tags = set()
    for e in data["traceEvents"]:
        args = e.get("args") or {}
        if e.get("cat") == "submit":  # one instant per task, named after the API
            tags_by_name.setdefault(e["name"], set()).add(args.get("tag"))
        elif e.get("ph") == "X" and "task" in args:
            phase_tags.add(args.get("tag"))
    assert tags_by_name["run"] == {"run", "run-timeout", "from-logid", None}
    assert phase_tags == {"run", "run-timeout", "batch", "async", "submit", "imap", "from-logid", None}
    assert tags_by_name["batch"] == {"batch"}
    assert tags_by_name["run_async"] == {"async"}
    assert tags_by_name["submit"] == {"submit"}
    assert tags_by_name["imap"] == {"imap"}
