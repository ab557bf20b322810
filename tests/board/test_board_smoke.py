"""Smoke test on a real board (RK3588 / RK3576 / RK356x): every mode on every core, plus a report.

Run it on the board, with the real ``librknnrt.so`` installed and any ``.rknn`` model made for that SoC::

    EZ_RKNN_BOARD_MODEL=/path/model.rknn python -m pytest tests/board -m board -s

Optional: ``EZ_RKNN_BOARD_ITERATIONS`` (timed inferences per mode, default 60) and
``EZ_RKNN_BOARD_REPORT=/path/report.md`` (also write the report there).

Everything is skipped unless a real runtime loads (the simulator does not count: ``is_simulator`` must be
False) and a model path is given.  This file never imports the simulator.  (To check this file itself without
a board: ``ZTU_RKNPU2_RUNTIME_LIBRARY=simulator EZ_RKNN_BOARD_ALLOW_SIMULATOR=1 EZ_RKNN_BOARD_MODEL=...``.)  At the end a Markdown report
(SDK version, SoC guess from which core masks work, per-mode throughput) is printed; paste it into an
issue.
"""
from __future__ import annotations

import concurrent.futures
import os
import platform
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pytest

pytestmark = pytest.mark.board

MODEL_ENV = "EZ_RKNN_BOARD_MODEL"
#: Only for developing this file without a board: also accept the simulator (never set it on a board).
ALLOW_SIM_ENV = "EZ_RKNN_BOARD_ALLOW_SIMULATOR"
ITERATIONS = int(os.environ.get("EZ_RKNN_BOARD_ITERATIONS", "60") or "60")
TP_MODES = ("auto", "0", "1", "2", "0,1", "0,1,2", "all")
#: NPU cores per SoC family (RK3588: 3, RK3576: 2, RK3566/RK3568/RK3562: 1).
SOC_BY_CORES = {3: "RK3588/RK3588S (3 NPU cores)", 2: "RK3576 (2 NPU cores)", 1: "RK3566/RK3568/RK3562 (1 NPU core)"}


@dataclass
class Board:
    model: str
    runtime: Any  # the RuntimeInfo of the loaded librknnrt
    report: "Report"
    working_cores: List[int] = field(default_factory=list)


@dataclass
class Report:
    lines: Dict[str, str] = field(default_factory=dict)
    core_results: Dict[int, str] = field(default_factory=dict)
    tp_results: Dict[str, str] = field(default_factory=dict)
    rows: List[Tuple[str, str, str, str, str]] = field(default_factory=list)  # mode, cores, n, inf/s, p50 ms
    problems: List[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_row(self, mode: str, cores: str, n: int, throughput: float, p50_ms: float) -> None:
        with self.lock:
            self.rows.append((mode, cores, str(n), f"{throughput:.1f}", f"{p50_ms:.2f}"))

    def render(self) -> str:
        out = ["### ez-rknn board smoke report", ""]
        for k, v in self.lines.items():
            out.append(f"- **{k}**: {v}")
        if self.core_results:
            out.append("- **single-core masks** (schedule=[k]): "
                       + ", ".join(f"core {k}: {v}" for k, v in sorted(self.core_results.items())))
        if self.tp_results:
            out.append("- **tp_mode**: " + ", ".join(f"`{k}`: {v}" for k, v in self.tp_results.items()))
        ok = sorted(k for k, v in self.core_results.items() if v == "ok")
        if ok:
            out.append(f"- **SoC guess**: {SOC_BY_CORES.get(len(ok), f'{len(ok)} cores')} (from the core masks that work)")
        if self.rows:
            out += ["", "| mode | cores | inferences | inferences/s | latency p50 (ms) |", "|---|---|---|---|---|"]
            out += [f"| {' | '.join(r)} |" for r in self.rows]
        if self.problems:
            out += ["", "Problems:"] + [f"- {p}" for p in self.problems]
        return "\n".join(out)


def _one_line(exc: BaseException) -> str:
    code_name = getattr(exc, "code_name", None)
    if code_name:  # RknnError: the status name says it all
        return f"fails ({getattr(exc, 'function', '?')}: {code_name})"
    text = " ".join(str(exc).split())
    return f"fails ({type(exc).__name__}: {text})"[:200]


@pytest.fixture(scope="module")
def board() -> Iterator[Board]:
    model = os.environ.get(MODEL_ENV, "").strip()
    if not model:
        pytest.skip(f"set {MODEL_ENV}=/path/model.rknn to run the board smoke test")
    if not os.path.isfile(model):
        pytest.fail(f"{MODEL_ENV}={model!r} is not a file")
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession
    from ztu_somemodelruntime_ez_rknn_async.errors import RuntimeLibraryNotFoundError

    try:
        with InferenceSession(model) as probe:  # the runtime the other sessions get (loaded once)
            runtime = probe.runtime
    except RuntimeLibraryNotFoundError as exc:
        pytest.skip(f"no real librknnrt.so: {' '.join(str(exc).split())[:160]}...")
    if runtime.is_simulator and os.environ.get(ALLOW_SIM_ENV) != "1":
        pytest.skip("the loaded runtime is the simulator; board tests need a real librknnrt.so "
                    "(unset ZTU_RKNPU2_RUNTIME_LIBRARY)")
    report = Report()
    report.lines["runtime"] = runtime.library_path + (" (SIMULATOR: not a board)" if runtime.is_simulator else "")
    report.lines["model"] = f"{os.path.basename(model)} ({os.path.getsize(model)} bytes)"
    report.lines["host"] = f"{platform.machine()}, Linux {platform.release()}, Python {platform.python_version()}"
    report.lines["device tree model"] = _device_tree_model()
    from ztu_somemodelruntime_ez_rknn_async import __version__

    report.lines["package"] = __version__
    b = Board(model=model, runtime=runtime, report=report)
    yield b
    text = report.render()
    print("\n\n" + text + "\n")
    target = os.environ.get("EZ_RKNN_BOARD_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def _device_tree_model() -> str:
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            with open(path, "rb") as fh:
                return fh.read().rstrip(b"\0").decode(errors="replace").strip() or "?"
        except OSError:
            continue
    return "unknown"


def _session(board: Board, **provider: Any) -> Any:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession
    from ztu_somemodelruntime_ez_rknn_async.options import PROVIDER_NAME

    return InferenceSession(board.model, providers=[PROVIDER_NAME], provider_options=[provider])


def _feed(session: Any, seed: int = 0) -> Dict[str, np.ndarray]:
    from ztu_somemodelruntime_ez_rknn_async import cli

    return cli.random_feed(session, np.random.default_rng(seed))


def _assert_same(a: Sequence[np.ndarray], b: Sequence[np.ndarray], what: str) -> None:
    assert len(a) == len(b), what
    for i, (x, y) in enumerate(zip(a, b)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, f"{what}: output {i} {x.shape}/{x.dtype} vs {y.shape}/{y.dtype}"
        np.testing.assert_allclose(x.astype(np.float64), y.astype(np.float64), rtol=1e-3, atol=1e-3,
                                   err_msg=f"{what}: output {i} differs")


# ---------------------------------------------------------------------------------------------------


def test_01_attributes_are_sane(board: Board) -> None:
    with _session(board) as sess:
        inputs, outputs = sess.get_inputs(), sess.get_outputs()
        assert inputs and outputs
        for arg in list(inputs) + list(outputs):
            assert isinstance(arg.name, str) and arg.name
            assert re.fullmatch(r"tensor\([a-z0-9]+\)", arg.type), arg.type
            assert all((isinstance(d, int) and d > 0) or isinstance(d, str) or d is None for d in arg.shape), arg.shape
        assert len({a.name for a in inputs}) == len(inputs)
        assert len({a.name for a in outputs}) == len(outputs)
        from ztu_somemodelruntime_ez_rknn_async import cli

        info = cli.collect_info(sess, board.model)
        sdk = info.get("sdk_version") or {}
        board.report.lines["SDK version"] = ", ".join(f"{k}={v}" for k, v in sdk.items()) or "?"
        api = str(sdk.get("api_version", "")) or " ".join(str(v) for v in sdk.values())
        assert re.search(r"\d+\.\d+\.\d+", api), f"no X.Y.Z in the SDK version: {sdk}"
        board.report.lines["inputs"] = "; ".join(f"{a.name} {a.type} {list(a.shape)}" for a in inputs)
        board.report.lines["outputs"] = "; ".join(f"{a.name} {a.type} {list(a.shape)}" for a in outputs)
        board.report.lines["custom string"] = repr(info.get("custom_string", ""))
        out = sess.run(None, _feed(sess))
        assert len(out) == len(outputs)
        for arr, arg in zip(out, outputs):
            assert np.all(np.isfinite(np.asarray(arr, dtype=np.float64))), f"{arg.name} has NaN/inf"


def test_02_every_core_alone(board: Board) -> None:
    reference: Optional[List[np.ndarray]] = None
    for core in (0, 1, 2):
        try:
            with _session(board, schedule=str(core)) as sess:
                feed = _feed(sess)
                out = sess.run(None, feed)
                from ztu_somemodelruntime_ez_rknn_async import cli

                r = cli.run_benchmark(sess, "sync", feed, ITERATIONS)
        except Exception as exc:  # noqa: BLE001 - a missing core is information, not a failure
            board.report.core_results[core] = _one_line(exc)
            continue
        board.report.core_results[core] = "ok"
        board.working_cores.append(core)
        board.report.add_row("sync run()", str(core), r.n, r.throughput, cli.percentiles_ms(r.latencies_s)["p50"])
        if reference is None:
            reference = out
        else:
            _assert_same(reference, out, f"core {core} vs core {board.working_cores[0]}")
    assert 0 in board.working_cores, f"core 0 does not work: {board.report.core_results.get(0)}"


def test_03_tp_modes(board: Board) -> None:
    from ztu_somemodelruntime_ez_rknn_async import cli

    for tp in TP_MODES:
        try:
            with _session(board, tp_mode=tp) as sess:
                feed = _feed(sess)
                r = cli.run_benchmark(sess, "sync", feed, max(10, ITERATIONS // 2))
        except Exception as exc:  # noqa: BLE001
            board.report.tp_results[tp] = _one_line(exc)
            continue
        board.report.tp_results[tp] = "ok"
        board.report.add_row(f"sync run(), tp_mode={tp}", tp, r.n, r.throughput,
                             cli.percentiles_ms(r.latencies_s)["p50"])
    assert board.report.tp_results.get("auto") == "ok", board.report.tp_results.get("auto")
    n_cores = len(board.working_cores) or 1
    expected_ok = {1: ("auto", "0"), 2: ("auto", "0", "1", "0,1"), 3: TP_MODES}.get(n_cores, ("auto",))
    for tp in expected_ok:
        if board.report.tp_results.get(tp) != "ok":
            board.report.problems.append(f"tp_mode={tp} failed on a {n_cores}-core NPU: {board.report.tp_results.get(tp)}")


@pytest.mark.parametrize("mode", ["sync", "async", "submit", "imap", "pipeline", "zero-copy"])
def test_04_every_mode_on_all_cores(board: Board, mode: str) -> None:
    from ztu_somemodelruntime_ez_rknn_async import cli

    cores = board.working_cores or [0]
    schedule = ",".join(str(c) for c in cores)
    with _session(board, schedule=schedule) as sess:
        feed = _feed(sess)
        if mode == "zero-copy":
            if not callable(getattr(sess, "io_binding", None)):
                pytest.skip("this build has no InferenceSession.io_binding()")
            # Zero-copy outputs are in the native dtype, like run() with native_outputs.
            expected = sess.run(None, feed, {"native_outputs": True})
        else:
            expected = sess.run(None, feed)
        _check_results_match(sess, mode, feed, expected)
        r = cli.run_benchmark(sess, mode, feed, ITERATIONS, depth=3)
        assert r.errors == 0, r.first_error
        board.report.add_row(mode, schedule, r.n, r.throughput, cli.percentiles_ms(r.latencies_s)["p50"])
        stats = getattr(sess, "get_stats", None)
        if callable(stats) and mode == "async":
            st = stats()
            keys = ("tasks_per_core", "utilisation_per_core")
            shown = {k: st[k] for k in keys if k in st} if isinstance(st, dict) else st
            board.report.lines["get_stats() after async"] = " ".join(str(shown).split())[:300]


def _check_results_match(sess: Any, mode: str, feed: Mapping[str, np.ndarray], expected: List[np.ndarray]) -> None:
    """A few results of ``mode`` equal the plain run() result (same inputs, every core)."""
    k = 6
    got: List[List[np.ndarray]] = []
    if mode == "sync":
        got = [sess.run(None, feed) for _ in range(k)]
    elif mode == "async":
        done = threading.Event()
        results: List[Tuple[int, Any, str]] = []
        lock = threading.Lock()

        def cb(res: Any, user_data: Any, err: str) -> None:
            with lock:
                results.append((int(user_data), res, err))
                if len(results) == k:
                    done.set()

        for i in range(k):
            sess.run_async(None, feed, cb, i)
        assert done.wait(60), "run_async callbacks did not arrive"
        assert [i for i, _, _ in results] == list(range(k)), "callbacks out of order"
        assert all(err == "" for _, _, err in results), [e for _, _, e in results if e]
        got = [res for _, res, _ in results]
    elif mode == "submit":
        futures: List["concurrent.futures.Future[Any]"] = [sess.submit(None, feed) for _ in range(k)]
        got = [f.result(timeout=60) for f in futures]
    elif mode == "imap":
        got = list(sess.imap(feed for _ in range(k)))
    elif mode == "pipeline":
        depth = 3
        outs = [sess.run_pipeline(feed, depth=depth, reset=(i == 0)) for i in range(k + depth)]
        assert all(o is None for o in outs[:depth]), "run_pipeline returned early results"
        got = [o for o in outs[depth:] if o is not None]
    elif mode == "zero-copy":
        binding = sess.io_binding()
        for name, arr in feed.items():
            binding.bind_cpu_input(name, arr)
        for out in sess.get_outputs():
            binding.bind_output(out.name)
        for _ in range(k):
            sess.run_with_iobinding(binding)
            got.append(binding.copy_outputs_to_cpu())
    assert len(got) == k
    for i, res in enumerate(got):
        _assert_same(expected, list(res), f"{mode} result {i}")


def test_05_batch_dispatch(board: Board) -> None:
    cores = board.working_cores or [0]
    with _session(board, schedule=",".join(str(c) for c in cores)) as sess:
        inputs = sess.get_inputs()
        if any(not arg.shape or arg.shape[0] != 1 for arg in inputs):
            pytest.skip("batch dispatch needs a model whose inputs all have batch dimension 1")
        single = _feed(sess)
        batch = 2 * len(cores)
        feed = {k: np.concatenate([v] * batch, axis=0) for k, v in single.items()}
        expected = sess.run(None, single)
        t0 = time.perf_counter()
        out = sess.run(None, feed, {"ztu_modelrt_dispatch_batch": True})
        elapsed = time.perf_counter() - t0
        for i, (o, e) in enumerate(zip(out, expected)):
            assert np.asarray(o).shape[0] == batch * np.asarray(e).shape[0], f"output {i} batch size"
            for b in range(batch):
                part = np.asarray(o)[b * e.shape[0]:(b + 1) * e.shape[0]]
                np.testing.assert_allclose(part.astype(np.float64), np.asarray(e, dtype=np.float64),
                                           rtol=1e-3, atol=1e-3)
        board.report.add_row(f"run() batch={batch} dispatched", ",".join(map(str, cores)), batch,
                             batch / elapsed if elapsed > 0 else 0.0, elapsed * 1e3)
