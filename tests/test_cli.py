"""The ``ez-rknn`` command line: parsing, formatting, and end-to-end runs on the simulator."""
from __future__ import annotations

import importlib
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import cli

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_MODELS = SHARED / "models" / "rknn"

HAVE_SESSION = importlib.util.find_spec("ztu_somemodelruntime_ez_rknn_async.session") is not None

needs_session = pytest.mark.skipif(not HAVE_SESSION, reason="session.py not available yet")


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ZTU_RKNPU2_RUNTIME_LIBRARY", None)
    return env


def run_cli_subprocess(args: Sequence[str], timeout: float = 120) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-m", "ztu_somemodelruntime_ez_rknn_async", *args],
        cwd=str(REPO), env=_env(), capture_output=True, text=True, timeout=timeout,
    )


# ---------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------


def test_parser_bench_defaults() -> None:
    args = cli.build_parser().parse_args(["bench", "m.rknn"])
    assert args.mode == "async" and args.iterations == 200 and args.schedule is None and args.tp_mode is None
    assert args.json is False and args.trace is None and args.runtime_library is None


def test_parser_bench_all_options() -> None:
    args = cli.build_parser().parse_args([
        "bench", "m.rknn", "--schedule", "0,1,2,2", "--mode", "imap", "-n", "7", "--threads-per-core", "2",
        "--json", "--trace", "t.json", "--runtime-library", "simulator", "--depth", "4", "--warmup", "0",
    ])
    assert args.schedule == (0, 1, 2, 2) and args.mode == "imap" and args.iterations == 7
    assert args.threads_per_core == 2 and args.json and args.trace == "t.json"
    assert args.runtime_library == "simulator" and args.depth == 4 and args.warmup == 0


@pytest.mark.parametrize("tp", cli.TP_MODES)
def test_parser_tp_modes(tp: str) -> None:
    assert cli.build_parser().parse_args(["bench", "m", "--tp-mode", tp]).tp_mode == tp


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["bench", "m", "--schedule", "0,3"], "core 3 does not exist"),
        (["bench", "m", "--schedule", "a"], "not a core number"),
        (["bench", "m", "--schedule", "0,,1"], "invalid schedule"),
        (["bench", "m", "--schedule", "0", "--tp-mode", "all"], "not allowed with"),
        (["bench", "m", "--tp-mode", "7"], "invalid choice"),
        (["bench", "m", "--mode", "turbo"], "invalid choice"),
        (["bench", "m", "-n", "0"], "positive integer"),
        (["bench", "m", "--threads-per-core", "x"], "positive integer"),
        (["demo", "--seconds", "-1"], "positive number"),
        (["demo", "--seconds", "inf"], "positive number"),
        (["info"], "required"),
        ([], "required"),
        (["sim"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv: List[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ez-rknn") and "error:" in lines[0] and fragment in lines[0]


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("info", "bench", "demo", "sim"):
        assert command in out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("ez-rknn ")
    assert cli.main(["bench", "--help"]) == 0
    assert "--threads-per-core" in capsys.readouterr().out


def test_provider_options_from_config(tmp_path: Path) -> None:
    cfg = cli.SessionConfig(runtime_library="lib/librknnrt.so", schedule=(0, 2), threads_per_core=2)
    opts = cli.SessionConfig.provider_options(cfg)
    assert opts["schedule"] == "0,2" and opts["threads_per_core"] == 2
    assert os.path.isabs(opts["runtime_library"])
    assert cli.SessionConfig(runtime_library="simulator").provider_options() == {"runtime_library": "simulator"}
    assert cli.SessionConfig(tp_mode="0,1").provider_options() == {"tp_mode": "0,1"}


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def test_format_table_aligns_numbers_right() -> None:
    text = cli.format_table(["name", "value"], [["a", "1.5"], ["bbb", "10.25"]])
    lines = text.splitlines()
    assert lines[0].startswith("name") and set(lines[1]) <= {"-", " "}
    assert lines[2].endswith(" 1.5") and lines[3].endswith("10.25")
    assert len(lines[2]) == len(lines[3])


def test_percentiles() -> None:
    p = cli.percentiles_ms([0.001 * i for i in range(1, 101)])
    assert p["min"] == pytest.approx(1.0) and p["max"] == pytest.approx(100.0)
    assert p["p50"] == pytest.approx(50.5) and p["p99"] == pytest.approx(99.01)
    assert cli.percentiles_ms([])["p50"] == 0.0


def test_dtype_and_shape_helpers() -> None:
    assert cli.dtype_from_ort_type("tensor(float)") == np.float32
    assert cli.dtype_from_ort_type("tensor(float16)") == np.float16
    assert cli.dtype_from_ort_type("tensor(int8)") == np.int8
    assert cli.dtype_from_ort_type("tensor(bool)") == np.bool_
    assert cli.concrete_shape([1, "batch", None, 224, -1]) == (1, 1, 1, 224, 1)
    rng = np.random.default_rng(0)
    a = cli.random_array((2, 3), np.dtype(np.int8), rng)
    assert a.dtype == np.int8 and a.shape == (2, 3)
    b = cli.random_array((4,), np.dtype(np.float16), rng)
    assert b.dtype == np.float16 and float(np.abs(b).max()) <= 1.0
    assert cli.random_array((3,), np.dtype(np.bool_), rng).dtype == np.bool_


def test_one_line_and_describe_error() -> None:
    assert cli.one_line("a\n  b\n\nc") == "a; b; c"
    assert cli.describe_error(cli.CliError("plain")) == "plain"
    assert cli.describe_error(ValueError("x\ny")) == "ValueError: x; y"
    assert cli.describe_error(FileNotFoundError(2, "nope", "/m.rknn")) == "no such file: /m.rknn"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_tty() -> None:
    piped = io.StringIO()
    bar = cli.ProgressBar(10, stream=piped)
    for i in range(1, 11):
        bar.update(i)
    bar.close()
    assert piped.getvalue() == ""
    tty = _Tty()
    bar = cli.ProgressBar(10, stream=tty, min_interval_s=0.0)
    for i in range(1, 11):
        bar.update(i)
    bar.close()
    assert "10/10" in tty.getvalue() and "\r" in tty.getvalue()


def test_session_utilisation_shapes() -> None:
    by_core = cli.session_utilisation({"cores": {"0": {"busy_s": 0.5, "runs": 10}, "1": {"busy_us": 250000}}}, 1.0)
    assert by_core["0"] == {"busy": 0.5, "runs": 10.0} and by_core["1"]["busy"] == pytest.approx(0.25)
    by_slot = cli.session_utilisation(
        {"slots": [{"core": 0, "busy_s": 0.2, "completed": 3}, {"core": 0, "busy_s": 0.3, "completed": 4}]}, 1.0)
    assert by_slot["0"]["busy"] == pytest.approx(0.5) and by_slot["0"]["runs"] == 7
    assert cli.session_utilisation({}, 1.0) == {}
    dispatcher_shape = {"busy_s_per_core": {"0": 1.0, "2": 0.5}, "tasks_per_core": {"0": 8, "2": 4}}
    u = cli.session_utilisation(dispatcher_shape, 1.0, slots_per_core=2)
    assert u == {"0": {"busy": 0.5, "runs": 8.0}, "2": {"busy": 0.25, "runs": 4.0}}


def test_simulator_utilisation() -> None:
    before = {"busy_us_core0": 100, "runs_core0": 1, "busy_us_core1": 0, "runs_core1": 0}
    after = {"busy_us_core0": 500_100, "runs_core0": 11, "busy_us_core1": 250_000, "runs_core1": 5}
    u = cli.simulator_utilisation(before, after, 1.0)
    assert u["0"] == {"busy": pytest.approx(0.5), "runs": 10.0} and u["1"]["busy"] == pytest.approx(0.25)


def test_coarse_trace_lanes(tmp_path: Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async.profiling import TraceRecorder

    rec = TraceRecorder()
    t = rec.now()
    result = cli.BenchResult(mode="async", n=3, elapsed_s=0.1, latencies_s=[0.05, 0.05, 0.05],
                             spans=[(t, t + 0.05), (t + 0.01, t + 0.06), (t + 0.055, t + 0.1)])
    cli.record_coarse_trace(rec, result, t)
    data = json.loads(Path(rec.write(tmp_path / "t.json")).read_text())
    names = {e["tid"]: e["args"]["name"] for e in data["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    lanes = [names[e["tid"]] for e in data["traceEvents"] if e["ph"] == "X" and e["name"] == "inference"]
    assert lanes == ["in flight #0", "in flight #1", "in flight #0"]


# ---------------------------------------------------------------------------------------------------
# Errors: one line, no traceback, exit 1
# ---------------------------------------------------------------------------------------------------


def test_invalid_model_path_in_process(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.rknn"
    assert cli.main(["info", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"ez-rknn: error: no such model file: {missing}"]
    assert cli.main(["bench", str(tmp_path), "--runtime-library", "simulator"]) == 1
    assert "is a directory" in capsys.readouterr().err


def test_invalid_model_path_subprocess(tmp_path: Path) -> None:
    proc = run_cli_subprocess(["info", str(tmp_path / "missing.rknn"), "--runtime-library", "simulator"])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("ez-rknn: error: ")
    assert proc.stdout == ""


def test_unexpected_exception_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom(args: Any) -> int:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(cli, "cmd_sim_path", boom)
    assert cli.main(["sim", "path"]) == 1
    assert capsys.readouterr().err == "ez-rknn: error: RuntimeError: first line; second line\n"


def test_keyboard_interrupt_exit_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_sim_path", interrupted)
    assert cli.main(["sim", "path"]) == 130
    assert "interrupted" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------
# sim path
# ---------------------------------------------------------------------------------------------------


def test_sim_path(sim_library: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ztu_somemodelruntime_ez_rknn_async import simulator

    assert cli.main(["sim", "path"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == simulator.library_path() and os.path.isfile(out)


# ---------------------------------------------------------------------------------------------------
# End to end on the simulator (need session.py)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture()
def small_model(native_model: Any) -> Path:
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    path: Path = native_model([TensorSpec("x", (1, 3, 8, 8), dtype="int8", scale=0.05)],
                              [TensorSpec("y", (1, 10), dtype="float32")],
                              latency_us=300, custom_string="bench-test")
    return path


@needs_session
def test_info_json_on_real_model(sim_library: str, capsys: pytest.CaptureFixture[str]) -> None:
    model = REAL_MODELS / "add_i8.rknn"
    if not model.is_file():
        pytest.skip(f"{model} not available")
    assert cli.main(["info", str(model), "--json", "--runtime-library", "simulator"]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert info["custom_string"] == "model=add;ver=1"
    assert [a["name"] for a in info["inputs"]] and [a["name"] for a in info["outputs"]]
    for arg in info["inputs"] + info["outputs"]:
        assert arg["type"].startswith("tensor(") and isinstance(arg["shape"], list)
    assert info["sdk_version"], info
    attrs = info["input_attrs"]
    assert [a["name"] for a in attrs] == [a["name"] for a in info["inputs"]]
    assert all(a["qnt"] == "affine" and isinstance(a["scale"], float) and "zp" in a for a in attrs)
    assert info["native_inputs"] and info["native_outputs"]


@needs_session
def test_info_text(sim_library: str, capsys: pytest.CaptureFixture[str]) -> None:
    model = REAL_MODELS / "conv_i8.rknn"
    if not model.is_file():
        pytest.skip(f"{model} not available")
    assert cli.main(["info", str(model), "--runtime-library", "simulator"]) == 0
    out = capsys.readouterr().out
    assert "custom string" in out and "'conv test'" in out
    assert "inputs" in out and "outputs" in out


@needs_session
@pytest.mark.parametrize("mode", ["sync", "async", "submit", "imap", "pipeline"])
def test_bench_json_every_mode(mode: str, small_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", str(small_model), "--mode", mode, "-n", "12", "--json", "--runtime-library", "simulator"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["mode"] == mode and report["iterations"] == 12 and report["errors"] == 0
    assert report["throughput_per_s"] > 0
    assert set(report["latency_ms"]) >= {"p50", "p90", "p99"}
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert "utilisation" in report
    sim_util = report["utilisation"]["simulator"]
    assert sim_util is not None and set(sim_util) >= {"0"}
    assert sum(v["runs"] for v in sim_util.values()) >= 12
    if mode != "sync":  # the async modes default to schedule 0,1,2
        assert report["config"]["schedule"] == [0, 1, 2]
    # Progress bar only on a TTY: capsys' stderr is not one.
    assert "\r" not in captured.err and "[#" not in captured.err


@needs_session
def test_bench_text_table_and_schedule(small_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", str(small_model), "--schedule", "0,1", "--threads-per-core", "2", "-n", "10",
            "--runtime-library", "simulator"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "throughput" in out and "p50" in out and "p99" in out
    assert "per-core utilisation" in out and "schedule 0,1" in out


@needs_session
def test_bench_tp_mode(small_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", str(small_model), "--tp-mode", "0,1,2", "--mode", "sync", "-n", "5", "--json",
            "--runtime-library", "simulator"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["tp_mode"] == "0,1,2" and report["config"]["schedule"] is None


@needs_session
def test_bench_zero_copy_clear_error_or_result(small_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session_cls = importlib.import_module("ztu_somemodelruntime_ez_rknn_async.session").InferenceSession
    argv = ["bench", str(small_model), "--mode", "zero-copy", "-n", "5", "--json", "--runtime-library", "simulator"]
    code = cli.main(argv)
    captured = capsys.readouterr()
    if hasattr(session_cls, "io_binding"):
        assert code == 0, captured.err
        assert json.loads(captured.out)["mode"] == "zero-copy"
    else:
        assert code == 1
        assert captured.err.strip().splitlines() == [
            "ez-rknn: error: zero-copy mode needs InferenceSession.io_binding(), which this version does not have yet"]


@needs_session
def test_bench_trace_file(small_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.json"
    argv = ["bench", str(small_model), "-n", "9", "--json", "--trace", str(trace), "--runtime-library", "simulator"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trace"] == str(trace)
    with open(trace, encoding="utf-8") as fh:
        data = json.load(fh)
    assert data["displayTimeUnit"] == "ms"
    events = data["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) >= 9
    for e in complete:
        assert {"name", "ph", "ts", "dur", "pid", "tid"} <= set(e) and e["dur"] >= 0
    assert any(e["ph"] == "M" and e["name"] == "thread_name" for e in events)


@needs_session
def test_bench_json_subprocess_stdout_is_pure_json(small_model: Path, sim_library: str) -> None:
    proc = run_cli_subprocess(["bench", str(small_model), "-n", "6", "--json", "--runtime-library", "simulator"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert {"throughput_per_s", "latency_ms", "utilisation"} <= set(report)
    assert "\r" not in proc.stderr  # stderr is a pipe: no progress bar


@needs_session
def test_bench_corrupt_model_one_line_error(tmp_path: Path, sim_library: str) -> None:
    bad = tmp_path / "bad.rknn"
    bad.write_bytes(b"this is not a model\n")
    proc = run_cli_subprocess(["bench", str(bad), "-n", "2", "--runtime-library", "simulator"])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ez-rknn: error: "), proc.stderr


@needs_session
def test_demo_one_second(sim_library: str, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZTU_RKNPU2_RUNTIME_LIBRARY", raising=False)
    assert cli.main(["demo", "--seconds", "1"]) == 0
    captured = capsys.readouterr()
    assert "simulat" in captured.err
    out = captured.out
    assert "run(), one context" in out and "imap(), schedule 0,1,2" in out and "run_async(), schedule 0,1,2" in out
    assert "inferences/s" in out and "What you are seeing" in out
    rows = [line for line in out.splitlines() if line.startswith(("run()", "imap()", "run_async()"))]
    assert len(rows) == 3
    for row in rows:
        assert float(row.split()[-2]) > 0  # the throughput column


@needs_session
def test_bench_dynamic_shape_model(native_model: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    model = native_model([TensorSpec("x", (1, 3, 8, 8), shapes=[(1, 3, 8, 8), (1, 3, 16, 16)])],
                         [TensorSpec("y", (1, 4))], latency_us=100)
    assert cli.main(["bench", str(model), "-n", "4", "--json", "--runtime-library", "simulator"]) == 0
    assert json.loads(capsys.readouterr().out)["errors"] == 0


@needs_session
def test_bench_progress_bar_on_a_tty(small_model: Path, sim_library: str) -> None:
    import pty
    import select

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ztu_somemodelruntime_ez_rknn_async", "bench", str(small_model), "-n", "40",
             "--json", "--runtime-library", "simulator"],
            cwd=str(REPO), env=_env(), stdout=subprocess.PIPE, stderr=slave, text=True,
        )
        os.close(slave)
        slave = -1
        out, _ = proc.communicate(timeout=120)
        chunks = []
        while select.select([master], [], [], 0.5)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, err
    assert "\r" in err and "/40" in err  # the bar, on the terminal only
    assert json.loads(out)["iterations"] == 40  # stdout untouched by the bar


@needs_session
def test_bench_default_schedule_falls_back_to_the_cores_the_soc_has(
        small_model: Path, sim: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_soc("rk3576")  # two NPU cores
    assert cli.main(["bench", str(small_model), "-n", "8", "--json", "--runtime-library", "simulator"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["config"]["schedule"] == [0, 1]
    assert "core 2 is not available" in captured.err
    # An explicit schedule is the user's choice: no fallback, one-line error.
    assert cli.main(["bench", str(small_model), "-n", "8", "--schedule", "0,1,2", "--runtime-library", "simulator"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ez-rknn: error: ") and "rknn_set_core_mask" in err[0]


def test_markdown_table_and_kv() -> None:
    assert cli.format_table(["a", "b"], [["x|y", 1]], markdown=True).splitlines() == [
        "| a | b |", "|---|---|", "| x\\|y | 1 |"]
    assert cli.format_kv([("k", "v")], markdown=True) == "- **k**: v"


def test_json_and_markdown_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info", "m.rknn", "--json", "--markdown"]) == 2
    assert "not allowed with" in capsys.readouterr().err


@needs_session
def test_info_and_bench_markdown(small_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info", str(small_model), "--markdown", "--runtime-library", "simulator"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### ez-rknn info") and "- **custom string**: 'bench-test'" in out
    assert "| # | name | type | shape |" in out
    assert cli.main(["bench", str(small_model), "-n", "5", "--markdown", "--runtime-library", "simulator"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### ez-rknn bench") and "| mean | min | p50 | p90 | p99 | max |" in out
    assert "| core | runs |" in out


@needs_session
@pytest.mark.parametrize("mode", ["sync", "async", "submit"])
def test_bench_counts_failed_inferences(mode: str, small_model: Path, sim: Any,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    sim.inject_fault("rknn_run", nth=6, code=-1, count=2)  # after the 3 warm-up runs
    argv = ["bench", str(small_model), "--mode", mode, "-n", "12", "--json", "--runtime-library", "simulator"]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # the report is still printed
    assert report["errors"] == 2 and report["iterations"] == 12
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ez-rknn: error: 2 of 12 inferences failed; first: ")
    assert "rknn_run" in err[0]


@needs_session
def test_bench_imap_failure_is_one_line(small_model: Path, sim: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sim.inject_fault("rknn_run", nth=6, code=-1, count=1)
    assert cli.main(["bench", str(small_model), "--mode", "imap", "-n", "12", "--runtime-library", "simulator"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ez-rknn: error: ") and "rknn_run" in err[0]


@needs_session
def test_bench_all_modes(small_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "all.json"
    argv = ["bench", str(small_model), "--mode", "all", "-n", "6", "--json", "--trace", str(trace),
            "--runtime-library", "simulator"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "all" and report["config"]["schedule"] == [0, 1, 2]
    assert {"sync", "async", "submit", "imap", "pipeline"} <= set(report["modes"])
    for entry in report["modes"].values():
        assert entry["errors"] == 0 and entry["throughput_per_s"] > 0 and "p99" in entry["latency_ms"]
        assert "utilisation" in entry
    with open(trace, encoding="utf-8") as fh:
        assert any(e["ph"] == "X" for e in json.load(fh)["traceEvents"])
    assert cli.main(["bench", str(small_model), "--mode", "all", "-n", "4", "--runtime-library", "simulator"]) == 0
    out = capsys.readouterr().out
    assert "vs sync" in out and "pipeline" in out
