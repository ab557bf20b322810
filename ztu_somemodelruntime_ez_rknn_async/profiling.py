"""A small, thread-safe recorder of Chrome Trace Event files (``chrome://tracing``, Perfetto).

The session records into a :class:`TraceRecorder` when ``SessionOptions.enable_profiling`` is set, and
``InferenceSession.end_profiling()`` writes ``<profile_file_prefix>_<timestamp>.json`` (ONNX Runtime's
convention) with :func:`profile_file_name` + :meth:`TraceRecorder.write`.  ``ez-rknn bench --trace FILE``
uses the same recorder.

Times are seconds on the recorder's clock (:func:`time.perf_counter` unless another is given); the file
holds microseconds relative to the recorder's creation.  Every event lands on a named *track* (a Chrome
"thread"): ``"core 0 / slot 1"`` for a worker slot (:func:`slot_track`), ``"submit"`` for the caller
side, ``"tasks"`` for the (overlapping) lifetimes and queue waits of tasks, ``"callbacks"`` for the
callback thread.  Serial work is written as complete events (``ph: "X"``); intervals that overlap on one
track as nestable async spans (``ph: "b"``/``"e"``).  Memory is bounded: past ``max_events`` new events
are dropped and counted (:attr:`TraceRecorder.dropped`); the count is written into the file's
``otherData``.

How a session records one asynchronous task (``rec`` is its recorder)::

    trace = TaskTrace(ticket, submitted_s=rec.now(), name="run_async")     # submitting thread
    trace.set_slot(slot.core, slot.index)                                  # worker, slot acquired
    with trace.phase("inputs_set", rec.now): ...                           # worker
    with trace.phase("run", rec.now): ...
    with trace.phase("outputs_get", rec.now): ...
    with trace.phase("callback", rec.now): ...                             # callback thread
    rec.record_task(trace)                                                 # once, when finished
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ._profiling_task import TASK_PHASES, TaskTrace

__all__ = [
    "TraceRecorder",
    "TaskTrace",
    "TASK_PHASES",
    "SUBMIT_TRACK",
    "CALLBACK_TRACK",
    "TASKS_TRACK",
    "slot_track",
    "profile_file_name",
    "DEFAULT_MAX_EVENTS",
]

_logger = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS = 200_000
SUBMIT_TRACK = "submit"
CALLBACK_TRACK = "callbacks"
TASKS_TRACK = "tasks"

Track = Union[str, int]
JsonDict = Dict[str, Any]


def slot_track(core: int, slot: int) -> str:
    """The track name of one worker slot: ``"core 0 / slot 1"``."""
    return f"core {int(core)} / slot {int(slot)}"


def profile_file_name(prefix: str, when: Optional[datetime.datetime] = None) -> str:
    """``<prefix>_<YYYY-mm-dd_HH-MM-SS>.json`` like ONNX Runtime; ``_1``, ``_2`` ... if the file exists."""
    stamp = (when or datetime.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    base = f"{prefix}_{stamp}"
    candidate = base + ".json"
    n = 0
    while os.path.exists(candidate):
        n += 1
        candidate = f"{base}_{n}.json"
    return candidate


def _sort_index(name: str, tid: int) -> int:
    """Display order: submit, then worker slots by core and slot, then others, callbacks last."""
    if name == SUBMIT_TRACK:
        return 0
    if name == TASKS_TRACK:
        return 1
    if name == CALLBACK_TRACK:
        return 1_000_000
    if name.startswith("core "):
        parts = name.replace("/", " ").split()
        # "core C / slot S" -> ["core", "C", "slot", "S"]
        if len(parts) == 4 and parts[1].isdigit() and parts[3].isdigit():
            return 1000 + int(parts[1]) * 1000 + int(parts[3])
    return 100_000 + tid


def _jsonable(value: Any) -> Any:
    """Args values as JSON: numbers, strings, bools, None, lists and dicts of those; ``str()`` else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


class TraceRecorder:
    """Collects Chrome Trace Events from any thread; :meth:`write` produces the JSON file.

    ``add_complete``/``add_instant`` return ``False`` when the event was dropped (cap reached).

    Args:
        max_events: events kept at most (metadata not counted); later ones are dropped and counted.
        process_name: the name shown for the process.
        pid: the ``pid`` written (default: this process's).
        clock: the time source, in seconds; every ``*_s`` argument is on this clock.
        origin_s: the clock reading written as timestamp 0 (default: now).
    """

    def __init__(
        self,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        process_name: str = "ez-rknn",
        pid: Optional[int] = None,
        clock: Callable[[], float] = time.perf_counter,
        origin_s: Optional[float] = None,
    ) -> None:
        if max_events < 0:
            raise ValueError("max_events must be >= 0")
        self._lock = threading.Lock()
        self._clock = clock
        now = clock()
        # origin_s: an earlier reading of `clock` that becomes timestamp 0 (events recorded after the fact).
        self._origin_s = now if origin_s is None else float(origin_s)
        self._start_time_ns = time.time_ns() - int(max(0.0, now - self._origin_s) * 1e9)
        self._max_events = int(max_events)
        self._events: List[JsonDict] = []
        self._dropped = 0
        self._tracks: Dict[str, int] = {}
        self._pid = os.getpid() if pid is None else int(pid)
        self._process_name = process_name

    # -- clock -------------------------------------------------------------------------------------

    def now(self) -> float:
        """The recorder's clock, in seconds (the time base of every ``*_s`` argument)."""
        return self._clock()

    @property
    def origin_s(self) -> float:
        """Clock reading at creation; written as timestamp 0."""
        return self._origin_s

    @property
    def start_time_ns(self) -> int:
        """Wall-clock ``time.time_ns()`` at creation (ORT's ``get_profiling_start_time_ns``)."""
        return self._start_time_ns

    # -- state -------------------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        with self._lock:
            return self._dropped

    @property
    def max_events(self) -> int:
        return self._max_events

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def clear(self) -> None:
        """Forget every event (tracks keep their ids) and restart the drop count."""
        with self._lock:
            self._events.clear()
            self._dropped = 0

    def track_id(self, track: Track) -> int:
        """The Chrome ``tid`` of a named track (allocated on first use); an ``int`` is used as is."""
        if isinstance(track, int):
            return track
        with self._lock:
            return self._track_id_locked(track)

    def _track_id_locked(self, name: str) -> int:
        tid = self._tracks.get(name)
        if tid is None:
            tid = len(self._tracks) + 1
            self._tracks[name] = tid
        return tid

    def _append(self, event: JsonDict, track: Track) -> bool:
        with self._lock:
            if len(self._events) >= self._max_events:
                self._dropped += 1
                return False
            event["tid"] = track if isinstance(track, int) else self._track_id_locked(track)
            self._events.append(event)
            return True

    def _append_all(self, events: Sequence[JsonDict], track: Track) -> bool:
        """All of ``events`` or none (a begin without its end would confuse the viewers)."""
        with self._lock:
            if len(self._events) + len(events) > self._max_events:
                self._dropped += len(events)
                return False
            tid = track if isinstance(track, int) else self._track_id_locked(track)
            for event in events:
                event["tid"] = tid
                self._events.append(event)
            return True

    def _us(self, t_s: float) -> float:
        return round((t_s - self._origin_s) * 1e6, 3)

    # -- events ------------------------------------------------------------------------------------

    def add_complete(
        self,
        name: str,
        category: str,
        start_s: float,
        duration_s: float,
        *,
        track: Track = "main",
        args: Optional[Mapping[str, Any]] = None,
    ) -> bool:
        """A ``ph: "X"`` event from ``start_s`` (recorder clock) lasting ``duration_s`` (>= 0)."""
        event: JsonDict = {
            "name": str(name),
            "cat": str(category),
            "ph": "X",
            "ts": self._us(start_s),
            "dur": round(max(0.0, duration_s) * 1e6, 3),
            "pid": self._pid,
        }
        if args:
            event["args"] = _jsonable(args)
        return self._append(event, track)

    def add_instant(
        self,
        name: str,
        category: str,
        ts_s: Optional[float] = None,
        *,
        track: Track = "main",
        args: Optional[Mapping[str, Any]] = None,
        scope: str = "t",
    ) -> bool:
        """A ``ph: "i"`` event at ``ts_s`` (default: now); ``scope`` is ``"t"``, ``"p"`` or ``"g"``."""
        if scope not in ("t", "p", "g"):
            raise ValueError("scope must be 't', 'p' or 'g'")
        event: JsonDict = {
            "name": str(name),
            "cat": str(category),
            "ph": "i",
            "s": scope,
            "ts": self._us(self.now() if ts_s is None else ts_s),
            "pid": self._pid,
        }
        if args:
            event["args"] = _jsonable(args)
        return self._append(event, track)

    def add_async(
        self,
        name: str,
        category: str,
        start_s: float,
        end_s: float,
        *,
        async_id: int,
        track: Track = "main",
        args: Optional[Mapping[str, Any]] = None,
    ) -> bool:
        """A nestable async span (``ph: "b"`` + ``ph: "e"``, same ``id``): for intervals that overlap on one
        track, such as tasks waiting in the queue.  Spans with the same category and id nest."""
        begin: JsonDict = {
            "name": str(name), "cat": str(category), "ph": "b", "id": int(async_id),
            "ts": self._us(start_s), "pid": self._pid,
        }
        if args:
            begin["args"] = _jsonable(args)
        end: JsonDict = {
            "name": str(name), "cat": str(category), "ph": "e", "id": int(async_id),
            "ts": self._us(max(start_s, end_s)), "pid": self._pid,
        }
        return self._append_all([begin, end], track)

    def add_counter(
        self, name: str, ts_s: float, values: Mapping[str, float], *, category: str = "counter"
    ) -> bool:
        """A ``ph: "C"`` counter sample (e.g. queue depth); drawn as a graph per process."""
        event: JsonDict = {
            "name": str(name),
            "cat": category,
            "ph": "C",
            "ts": self._us(ts_s),
            "pid": self._pid,
            "args": {str(k): float(v) for k, v in values.items()},
        }
        return self._append(event, 0)

    def span(
        self,
        name: str,
        category: str,
        *,
        track: Track = "main",
        args: Optional[Mapping[str, Any]] = None,
    ) -> "_Span":
        """``with recorder.span("load", "Session"): ...`` records a complete event around the block."""
        return _Span(self, name, category, track, args)

    def record_task(self, task: "TaskTrace") -> int:
        """Record the phases of one finished task; returns how many events were kept.

        Events:

        * an instant ``<task.name>`` on the ``"submit"`` track at submission;
        * on the ``"tasks"`` track, nestable async spans (they overlap, so not ``X`` events): ``<task.name>``
          from submission to the end of its last phase, and inside it ``queue_wait`` from submission to the
          first worker phase (or ``started_s``);
        * ``X`` events ``inputs_set``, ``run``, ``outputs_get`` (and any other worker phase) on the slot's
          track ``"core C / slot S"``, and ``callback`` on the ``"callbacks"`` track.

        Each event's args carry the task id, core and slot (and ``error`` when the task failed).  An async
        pair counts as one kept event.
        """
        args: JsonDict = {"task": task.task_id}
        if task.core is not None:
            args["core"] = task.core
        if task.slot is not None:
            args["slot"] = task.slot
        if task.error is not None:
            args["error"] = task.error
        if task.args:
            args.update(task.args)
        worker_track: Track
        if task.core is not None:
            worker_track = slot_track(task.core, task.slot if task.slot is not None else 0)
        else:
            worker_track = "worker"
        kept = 0
        worker_phases = [(n, s, e) for (n, s, e) in task.phases if n != "callback"]
        first_start = task.started_s
        if first_start is None and worker_phases:
            first_start = min(s for (_, s, _) in worker_phases)
        if task.submitted_s is not None:
            kept += self.add_instant(task.name, "submit", task.submitted_s, track=SUBMIT_TRACK, args=args)
            last_end = max((e for (_, _, e) in task.phases), default=first_start)
            if last_end is not None:
                kept += self.add_async(task.name, "task", task.submitted_s, last_end, async_id=task.task_id,
                                       track=TASKS_TRACK, args=args)
            if first_start is not None:
                kept += self.add_async("queue_wait", "task", task.submitted_s, first_start,
                                       async_id=task.task_id, track=TASKS_TRACK, args=args)
        for phase, start, end in task.phases:
            track = CALLBACK_TRACK if phase == "callback" else worker_track
            kept += self.add_complete(phase, "task", start, end - start, track=track, args=args)
        return kept

    # -- output ------------------------------------------------------------------------------------

    def to_dict(self) -> JsonDict:
        """The trace as a JSON-ready dict ``{"traceEvents": [...], "displayTimeUnit": "ms", ...}``."""
        with self._lock:
            events = list(self._events)
            tracks = dict(self._tracks)
            dropped = self._dropped
        meta: List[JsonDict] = [
            {"name": "process_name", "ph": "M", "pid": self._pid, "tid": 0,
             "args": {"name": self._process_name}},
        ]
        for name, tid in sorted(tracks.items(), key=lambda kv: kv[1]):
            meta.append({"name": "thread_name", "ph": "M", "pid": self._pid, "tid": tid,
                         "args": {"name": name}})
            meta.append({"name": "thread_sort_index", "ph": "M", "pid": self._pid, "tid": tid,
                         "args": {"sort_index": _sort_index(name, tid)}})
        return {
            "traceEvents": meta + events,
            "displayTimeUnit": "ms",
            "otherData": {
                "recorder": "ztu_somemodelruntime_ez_rknn_async.profiling",
                "start_time_ns": self._start_time_ns,
                "dropped_events": dropped,
                "max_events": self._max_events,
            },
        }

    def write(self, path: Union[str, "os.PathLike[str]"]) -> str:
        """Write the trace as JSON to ``path`` (atomically: temp file + rename); returns the path."""
        target = os.fspath(path)
        data = self.to_dict()
        directory = os.path.dirname(os.path.abspath(target))
        os.makedirs(directory, exist_ok=True)
        tmp = f"{target}.tmp{os.getpid()}.{threading.get_ident()}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        dropped = data["otherData"]["dropped_events"]
        if dropped:
            _logger.warning("trace %s: %d events dropped (max_events=%d)", target, dropped, self._max_events)
        _logger.debug("trace written to %s (%d events)", target, len(data["traceEvents"]))
        return target


class _Span:
    def __init__(
        self, recorder: TraceRecorder, name: str, category: str, track: Track,
        args: Optional[Mapping[str, Any]],
    ) -> None:
        self._recorder = recorder
        self._name = name
        self._category = category
        self._track = track
        self._args = args
        self._start = 0.0

    def __enter__(self) -> "_Span":
        self._start = self._recorder.now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._recorder.now()
        self._recorder.add_complete(self._name, self._category, self._start, end - self._start,
                                    track=self._track, args=self._args)
