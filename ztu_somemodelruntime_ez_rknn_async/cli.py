"""The ``ez-rknn`` command line: ``info``, ``bench``, ``demo`` and ``sim path``.

``python -m ztu_somemodelruntime_ez_rknn_async ...`` is the same program::

    ez-rknn info MODEL [--json | --markdown] [--runtime-library PATH|simulator]
    ez-rknn bench MODEL [--schedule 0,1,2 | --tp-mode MODE] [--mode sync|async|submit|imap|pipeline|zero-copy|all]
                        [-n N] [--threads-per-core K] [--json | --markdown] [--trace FILE] [--runtime-library ...]
    ez-rknn demo [--seconds S]
    ez-rknn sim path

Errors are reported as one line on stderr (``ez-rknn: error: ...``) with exit status 1; usage errors exit
with 2 and Ctrl-C with 130; ``-vv`` adds the traceback.  Results go to stdout as plain aligned tables (or
JSON / Markdown); notes and the progress bar (only on a terminal) go to stderr.  No dependency beyond numpy.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import (
    IO, TYPE_CHECKING, Any, Callable, Deque, Dict, Iterator, List, Mapping, NoReturn, Optional, Sequence, Tuple, Union,
)

import numpy as np

from . import __version__
from .profiling import SUBMIT_TRACK, TraceRecorder

if TYPE_CHECKING:
    from .session import InferenceSession

__all__ = ["main", "build_parser", "CliError"]

PROG = "ez-rknn"
MODES = ("sync", "async", "submit", "imap", "pipeline", "zero-copy")
TP_MODES = ("auto", "all", "0", "1", "2", "0,1", "0,1,2")

_logger = logging.getLogger(__name__)


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


# ---------------------------------------------------------------------------------------------------
# Small formatting helpers
# ---------------------------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Collapse a (possibly multi-line) message to one line."""
    parts = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "; ".join(parts) if parts else ""


def describe_error(exc: BaseException) -> str:
    """``ClassName: message`` on one line, without the class name for plain CLI errors."""
    message = one_line(str(exc))
    if isinstance(exc, CliError):
        return message
    candidates = getattr(exc, "candidates", None)
    if type(exc).__name__ == "RuntimeLibraryNotFoundError" and isinstance(candidates, tuple) and candidates:
        tried = ", ".join(str(c[0]) for c in candidates if isinstance(c, tuple) and c)
        return (f"no usable librknnrt.so (tried {tried}); give --runtime-library /path/to/librknnrt.so, "
                f"or --runtime-library simulator to use the simulated runtime")
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return f"no such file: {exc.filename}"
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, indent: str = "",
                 markdown: bool = False) -> str:
    """A plain aligned table: left-aligned text, right-aligned numbers (or a Markdown table)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    ncols = max(len(r) for r in cells)
    for r in cells:
        r.extend([""] * (ncols - len(r)))
    if markdown:
        def md_row(r: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"
        return "\n".join([md_row(cells[0]), "|" + "---|" * ncols] + [md_row(r) for r in cells[1:]])
    numeric = [
        all(_looks_numeric(r[i]) for r in cells[1:] if r[i] not in ("", "-"))
        and any(r[i] not in ("", "-") for r in cells[1:])
        for i in range(ncols)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(ncols)]
    lines = []
    for k, r in enumerate(cells):
        parts = []
        for i, c in enumerate(r):
            right = numeric[i] and k > 0
            parts.append(c.rjust(widths[i]) if right else c.ljust(widths[i]))
        lines.append(indent + "  ".join(parts).rstrip())
        if k == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _looks_numeric(text: str) -> bool:
    t = text.rstrip("%x").replace(",", "")
    try:
        float(t)
    except ValueError:
        return False
    return True


def format_kv(pairs: Sequence[Tuple[str, object]], *, indent: str = "", markdown: bool = False) -> str:
    if markdown:
        return "\n".join(f"- **{k}**: {v}" for k, v in pairs)
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{indent}{k + ':':<{width + 1}} {v}" for k, v in pairs)


def percentiles_ms(latencies_s: Sequence[float]) -> Dict[str, float]:
    """mean/min/p50/p90/p99/max in milliseconds (linear interpolation); empty input gives NaN-free zeros."""
    if not latencies_s:
        return {k: 0.0 for k in ("mean", "min", "p50", "p90", "p99", "max")}
    arr = np.asarray(latencies_s, dtype=np.float64) * 1e3
    p50, p90, p99 = (float(v) for v in np.percentile(arr, [50, 90, 99]))
    return {
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "p50": p50,
        "p90": p90,
        "p99": p99,
        "max": float(arr.max()),
    }


class ProgressBar:
    """A one-line progress bar on a stream, drawn only when that stream is a TTY."""

    def __init__(self, total: int, *, label: str = "", stream: Optional[IO[str]] = None,
                 enabled: Optional[bool] = None, width: int = 30, min_interval_s: float = 0.1) -> None:
        self._stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self._stream, "isatty", None)
            enabled = bool(isatty()) if callable(isatty) else False
        self.enabled = enabled
        self._total = max(1, int(total))
        self._label = label
        self._width = width
        self._min_interval = min_interval_s
        self._start = time.perf_counter()
        self._last = 0.0
        self._count = 0
        self._lock = threading.Lock()
        self._drawn = False

    def update(self, count: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._count = count
            now = time.perf_counter()
            if count < self._total and now - self._last < self._min_interval:
                return
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(1.0, self._count / self._total)
        filled = int(round(frac * self._width))
        rate = self._count / max(1e-9, now - self._start)
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\r{self._label}[{bar}] {self._count}/{self._total} {rate:8.1f}/s")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            with self._lock:
                self._stream.write("\r\x1b[2K")
                self._stream.flush()


# ---------------------------------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------------------------------


def parse_schedule(text: str) -> Tuple[int, ...]:
    """``"0,1,2"`` → ``(0, 1, 2)``; a core may repeat (weights); cores are 0..2."""
    items = [t.strip() for t in text.split(",")]
    if not items or any(not t for t in items):
        raise argparse.ArgumentTypeError(f"invalid schedule {text!r}: expected core numbers like 0,1,2")
    cores = []
    for t in items:
        if not t.isdigit():
            raise argparse.ArgumentTypeError(f"invalid schedule {text!r}: {t!r} is not a core number")
        core = int(t)
        if core > 2:
            raise argparse.ArgumentTypeError(f"invalid schedule {text!r}: core {core} does not exist (0..2)")
        cores.append(core)
    return tuple(cores)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr (and exit 2) rather than the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


def _add_runtime_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runtime-library", metavar="PATH|simulator", default=None,
        help="librknnrt.so to load, or 'simulator' for the simulated runtime "
             "(default: $ZTU_RKNPU2_RUNTIME_LIBRARY, then the system locations)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Inspect and benchmark RKNN models with ztu_somemodelruntime_ez_rknn_async.",
        epilog="Without a board, try: ez-rknn demo",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log to stderr (-v info, -vv debug); -vv also shows tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p_info = sub.add_parser("info", help="show a model's inputs, outputs, attributes and custom string",
                            description="Show a model's inputs, outputs, native attributes, custom string "
                                        "and the runtime's SDK version.")
    p_info.add_argument("model", metavar="MODEL", help="path to a .rknn model")
    fmt_info = p_info.add_mutually_exclusive_group()
    fmt_info.add_argument("--json", action="store_true", help="machine-readable output")
    fmt_info.add_argument("--markdown", action="store_true", help="Markdown output, to paste into an issue")
    _add_runtime_option(p_info)
    p_info.set_defaults(func=cmd_info)

    p_bench = sub.add_parser("bench", help="measure throughput, latency and per-core utilisation",
                             description="Run a model on random inputs of the right dtype and shape and report "
                                         "throughput, latency p50/p90/p99 and per-core utilisation.")
    p_bench.add_argument("model", metavar="MODEL", help="path to a .rknn model")
    cores = p_bench.add_mutually_exclusive_group()
    cores.add_argument("--schedule", type=parse_schedule, default=None, metavar="0,1,2",
                       help="data-parallel: one context per listed core (default for async modes: 0,1,2)")
    cores.add_argument("--tp-mode", choices=TP_MODES, default=None, metavar="MODE",
                       help="tensor-parallel core mask for one context: " + ", ".join(TP_MODES))
    p_bench.add_argument("--mode", choices=MODES + ("all",), default="async",
                         help="how to drive the session (default: async = run_async with callbacks); "
                              "'all' compares every mode on one session")
    p_bench.add_argument("-n", "--iterations", type=_positive_int, default=200, metavar="N",
                         help="number of timed inferences (default 200)")
    p_bench.add_argument("--warmup", type=_non_negative_int, default=3, metavar="W",
                         help="untimed inferences first (default 3)")
    p_bench.add_argument("--threads-per-core", type=_positive_int, default=None, metavar="K",
                         help="contexts (worker threads) per scheduled core")
    p_bench.add_argument("--depth", type=_positive_int, default=3, metavar="D",
                         help="run_pipeline depth for --mode pipeline (default 3)")
    fmt_bench = p_bench.add_mutually_exclusive_group()
    fmt_bench.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    fmt_bench.add_argument("--markdown", action="store_true", help="Markdown output, to paste into an issue")
    p_bench.add_argument("--trace", metavar="FILE", default=None,
                         help="write a Chrome trace (chrome://tracing, ui.perfetto.dev) of the run")
    p_bench.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    _add_runtime_option(p_bench)
    p_bench.set_defaults(func=cmd_bench)

    p_demo = sub.add_parser("demo", help="a self-contained demo of multi-core throughput (no board needed)",
                            description="Compare plain sequential run() with three-core imap/run_async on a "
                                        "synthetic model; uses the simulator when no librknnrt.so is found.")
    p_demo.add_argument("--seconds", type=_positive_float, default=3.0, metavar="S",
                        help="approximate running time (default 3)")
    p_demo.set_defaults(func=cmd_demo)

    p_sim = sub.add_parser("sim", help="the simulated runtime", description="Simulated runtime helpers.")
    sim_sub = p_sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", parser_class=_Parser)
    sim_sub.required = True
    p_sim_path = sim_sub.add_parser("path", help="print the path of the simulated librknnrt.so (builds it)")
    p_sim_path.add_argument("--rebuild", action="store_true", help="rebuild from the C sources")
    p_sim_path.set_defaults(func=cmd_sim_path)
    return parser


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``ez-rknn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    _setup_logging(args.verbose)
    try:
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. `| head`): not an error worth a message.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: one line, never a traceback
        if args.verbose >= 2:
            traceback.print_exc(file=sys.stderr)
        _err(f"error: {describe_error(exc)}")
        return 1


def _err(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def _note(message: str) -> None:
    """Progress/status notes go to stderr so that stdout stays clean for --json."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def _setup_logging(verbose: int) -> None:
    if verbose <= 0:
        return
    level = logging.DEBUG if verbose >= 2 else logging.INFO
    root = logging.getLogger("ztu_somemodelruntime_ez_rknn_async")
    if any(getattr(h, "_ez_rknn_cli", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, "_ez_rknn_cli", True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


# ---------------------------------------------------------------------------------------------------
# Session plumbing (kept in one place: the session API is ONNX Runtime's plus this project's extensions)
# ---------------------------------------------------------------------------------------------------


def _check_model_path(path: str) -> str:
    if not os.path.exists(path):
        raise CliError(f"no such model file: {path}")
    if os.path.isdir(path):
        raise CliError(f"model path is a directory, not a file: {path}")
    if not os.access(path, os.R_OK):
        raise CliError(f"model file is not readable: {path}")
    return path


@dataclass
class SessionConfig:
    runtime_library: Optional[str] = None
    schedule: Optional[Tuple[int, ...]] = None
    tp_mode: Optional[str] = None
    threads_per_core: Optional[int] = None
    max_queue_size: Optional[int] = None
    profile_prefix: Optional[str] = None

    def provider_options(self) -> Dict[str, Any]:
        opts: Dict[str, Any] = {}
        if self.runtime_library is not None:
            lib = self.runtime_library
            # The library accepts only absolute paths (or "simulator"); a CLI user types relative ones.
            if lib.strip().lower() != "simulator" and not os.path.isabs(lib):
                lib = os.path.abspath(lib)
            opts["runtime_library"] = lib
        if self.schedule is not None:
            opts["schedule"] = ",".join(str(c) for c in self.schedule)
        if self.tp_mode is not None:
            opts["tp_mode"] = self.tp_mode
        if self.threads_per_core is not None:
            opts["threads_per_core"] = self.threads_per_core
        if self.max_queue_size is not None:
            opts["max_queue_size"] = self.max_queue_size
        return opts


def open_session(model: Union[str, bytes], config: SessionConfig) -> "InferenceSession":
    """An ``InferenceSession`` for ``model`` with ``config`` (imported lazily: ``sim path`` needs none)."""
    from .options import PROVIDER_NAME, SessionOptions
    from .session import InferenceSession

    so: Optional[SessionOptions] = None
    if config.profile_prefix is not None:
        so = SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = config.profile_prefix
    return InferenceSession(model, so, providers=[PROVIDER_NAME], provider_options=[config.provider_options()])


def runtime_description(session: "InferenceSession") -> Dict[str, Any]:
    """``{"path": ..., "is_simulator": ...}`` of the runtime library the session loaded."""
    runtime = session.runtime
    return {"path": runtime.library_path, "is_simulator": runtime.is_simulator}


def session_sdk_version(session: Any) -> Dict[str, Any]:
    for name in ("get_sdk_version", "sdk_version"):
        value = getattr(session, name, None)
        if callable(value):
            value = value()
        if value is None:
            continue
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
        if isinstance(value, str):
            return {"api_version": value}
        d = _as_dict(value)
        if d:
            return d
    return {}


def _as_dict(obj: Any) -> Dict[str, Any]:
    """Best-effort conversion of a stats/attribute object to a JSON-ready dict."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    to_dict = getattr(obj, "to_dict", None) or getattr(obj, "_asdict", None)
    if callable(to_dict):
        value = to_dict()
        if isinstance(value, Mapping):
            return {str(k): _jsonable(v) for k, v in value.items()}
    fields_ = getattr(obj, "__dataclass_fields__", None)
    if fields_ is not None:
        return {name: _jsonable(getattr(obj, name)) for name in fields_}
    slots = getattr(obj, "__slots__", None)
    names = list(slots) if isinstance(slots, (list, tuple)) else [
        n for n in dir(obj) if not n.startswith("_")
    ]
    out: Dict[str, Any] = {}
    for n in names:
        try:
            v = getattr(obj, n)
        except Exception:  # noqa: BLE001
            continue
        if not callable(v):
            out[n] = _jsonable(v)
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__") or hasattr(value, "_asdict"):
        return _as_dict(value)
    return str(value)


_ORT_DTYPES: Mapping[str, str] = {
    "float": "float32", "float32": "float32", "float16": "float16", "double": "float64",
    "int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16", "int32": "int32",
    "uint32": "uint32", "int64": "int64", "uint64": "uint64", "bool": "bool",
}


def dtype_from_ort_type(type_string: str) -> np.dtype:
    """``'tensor(float)'`` → ``float32`` etc.; unknown → float32."""
    inner = type_string
    if inner.startswith("tensor(") and inner.endswith(")"):
        inner = inner[len("tensor("):-1]
    return np.dtype(_ORT_DTYPES.get(inner, "float32"))


def concrete_shape(shape: Sequence[object]) -> Tuple[int, ...]:
    """Symbolic or unknown dims (``str``/``None``/negative) become 1."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) and int(d) >= 0 else 1 for d in shape)


def random_feed(session: Any, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """A random input of the right dtype and shape for every model input (from ``get_inputs()``)."""
    feed: Dict[str, np.ndarray] = {}
    for arg, rows in zip(session.get_inputs(), session.get_dynamic_input_shapes()):
        dtype = dtype_from_ort_type(str(arg.type))
        # A dynamic input: its first declared shape row (row 0 of every input is one valid shape set).
        shape = concrete_shape(arg.shape) if rows is None else tuple(rows[0])
        feed[arg.name] = random_array(shape, dtype, rng)
    return feed


def random_array(shape: Tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        lo, hi = max(int(info.min), -128), min(int(info.max), 127)
        return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


# ---------------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------------


def _node_dict(arg: Any) -> Dict[str, Any]:
    return {"name": str(arg.name), "type": str(arg.type), "shape": _jsonable(list(arg.shape))}


_QNT_NAMES = {0: "none", 1: "dfp", 2: "affine"}


def _attr_dict(attr: Any) -> Dict[str, Any]:
    if hasattr(attr, "qnt_type") and hasattr(attr, "fmt") and hasattr(attr, "dims"):
        from .tensors import format_name, type_name

        qnt = int(attr.qnt_type)
        out: Dict[str, Any] = {
            "name": str(attr.name),
            "dims": [int(d) for d in attr.dims],
            "fmt": format_name(int(attr.fmt)),
            "type": type_name(int(attr.type)),
            "qnt": _QNT_NAMES.get(qnt, str(qnt)),
        }
        if qnt == 2:
            out["scale"] = float(attr.scale)
            out["zp"] = int(attr.zp)
        elif qnt == 1:
            out["fl"] = int(attr.fl)
        for k in ("size", "size_with_stride", "w_stride", "h_stride"):
            if hasattr(attr, k):
                out[k] = int(getattr(attr, k))
        return out
    if isinstance(attr, Mapping):
        return {str(k): _jsonable(v) for k, v in attr.items()}
    if hasattr(attr, "name") and hasattr(attr, "type") and hasattr(attr, "shape") and not hasattr(
        attr, "__dataclass_fields__"
    ):
        return _node_dict(attr)
    return _as_dict(attr)


def _call_list(session: Any, name: str) -> Optional[List[Any]]:
    method = getattr(session, name, None)
    if not callable(method):
        return None
    try:
        return list(method())
    except Exception as exc:  # noqa: BLE001 - optional extras must not break `info`
        _logger.debug("%s() failed: %s", name, exc)
        return None


def collect_info(session: Any, model: str) -> Dict[str, Any]:
    info: Dict[str, Any] = {"model": os.path.abspath(model)}
    info["inputs"] = [_node_dict(a) for a in session.get_inputs()]
    info["outputs"] = [_node_dict(a) for a in session.get_outputs()]
    for key, method in (("native_inputs", "get_native_inputs"), ("native_outputs", "get_native_outputs"),
                        ("input_attrs", "get_input_attrs"), ("output_attrs", "get_output_attrs")):
        items = _call_list(session, method)
        if items is not None:
            info[key] = [_attr_dict(a) for a in items]
    custom = ""
    meta_fn = getattr(session, "get_modelmeta", None)
    if callable(meta_fn):
        meta = meta_fn()
        cmap = dict(getattr(meta, "custom_metadata_map", {}) or {})
        custom = str(cmap.get("rknn_custom_string", ""))
        info["custom_metadata_map"] = {str(k): str(v) for k, v in cmap.items()}
    if not custom:
        value = getattr(session, "custom_string", None)
        if callable(value):
            value = value()
        if isinstance(value, str):
            custom = value
    info["custom_string"] = custom
    info["sdk_version"] = session_sdk_version(session)
    info["runtime"] = runtime_description(session)
    return info


def _title(text: str, markdown: bool) -> str:
    return f"**{text}**" + ("\n" if markdown else "") if markdown else f"{text}:"


def _fmt_shape(shape: object) -> str:
    if isinstance(shape, (list, tuple)):
        return "[" + ",".join(str(d) for d in shape) + "]"
    return str(shape)


def render_info(info: Mapping[str, Any], *, markdown: bool = False) -> str:
    out: List[str] = ["### ez-rknn info", ""] if markdown else []
    runtime = info.get("runtime", {})
    sdk = info.get("sdk_version", {})
    pairs: List[Tuple[str, object]] = [("model", info["model"])]
    if runtime:
        label = str(runtime.get("path", "?"))
        if runtime.get("is_simulator"):
            label += " (simulator)"
        pairs.append(("runtime", label))
    for k, v in sdk.items():
        pairs.append((k.replace("_", " "), v))
    pairs.append(("custom string", repr(info.get("custom_string", ""))))
    out.append(format_kv(pairs, markdown=markdown))
    for title, key in (("inputs", "inputs"), ("outputs", "outputs")):
        rows = [[i, a["name"], a["type"], _fmt_shape(a["shape"])] for i, a in enumerate(info[key])]
        out.append("")
        out.append(_title(f"{title} (as the session accepts/returns them)", markdown))
        out.append(format_table(["#", "name", "type", "shape"], rows, indent="  ", markdown=markdown))
    for title, key in (("native inputs (zero-copy form)", "native_inputs"),
                       ("native outputs (zero-copy form)", "native_outputs"),
                       ("input attributes (rknn_query INPUT_ATTR)", "input_attrs"),
                       ("output attributes (rknn_query OUTPUT_ATTR)", "output_attrs")):
        items = info.get(key)
        if not items:
            continue
        cols = [c for c in _preferred_columns(items)]
        rows = [[i] + [_fmt_cell(a.get(c)) for c in cols] for i, a in enumerate(items)]
        out.append("")
        out.append(_title(title, markdown))
        out.append(format_table(["#"] + cols, rows, indent="  ", markdown=markdown))
    return "\n".join(out)


_ATTR_ORDER = ("name", "type", "dtype", "shape", "dims", "fmt", "layout", "qnt", "qnt_type", "scale", "zp", "fl",
               "zero_point", "size", "size_with_stride", "w_stride", "h_stride")


def _preferred_columns(items: Sequence[Mapping[str, Any]]) -> List[str]:
    keys: List[str] = []
    for item in items:
        for k in item:
            if k not in keys and k not in ("index", "n_dims", "n_elems"):
                keys.append(k)
    ordered = [k for k in _ATTR_ORDER if k in keys] + [k for k in keys if k not in _ATTR_ORDER]
    return ordered


def _fmt_cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return _fmt_shape(value)
    return "" if value is None else str(value)


def cmd_info(args: argparse.Namespace) -> int:
    model = _check_model_path(args.model)
    session = open_session(model, SessionConfig(runtime_library=args.runtime_library))
    try:
        info = collect_info(session, model)
    finally:
        _close(session)
    if args.json:
        sys.stdout.write(json.dumps(info, indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write(render_info(info, markdown=args.markdown) + "\n")
    return 0


def _close(session: Any) -> None:
    close = getattr(session, "close", None)
    if callable(close):
        close()


# ---------------------------------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------------------------------


@dataclass
class BenchResult:
    mode: str
    n: int
    elapsed_s: float
    latencies_s: List[float]
    errors: int = 0
    first_error: str = ""
    # (submit_s, done_s) per inference on the perf_counter clock, for the coarse trace
    spans: List[Tuple[float, float]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return (self.n - self.errors) / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Collector:
    """Thread-safe bookkeeping of completed inferences (callbacks arrive on another thread)."""

    def __init__(self, n: int, progress: ProgressBar) -> None:
        self.n = n
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.count = 0
        self.errors = 0
        self.first_error = ""
        self.spans: List[Tuple[float, float]] = []
        self.progress = progress

    def complete(self, submitted_s: float, error: str = "") -> None:
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            self.spans.append((submitted_s, now))
            if error:
                self.errors += 1
                if not self.first_error:
                    self.first_error = one_line(error)
            count = self.count
        self.progress.update(count)
        if count >= self.n:
            self.done.set()


def _bench_sync(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            session.run(None, feed)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            col.complete(t0, describe_error(exc))
        else:
            col.complete(t0)


def _bench_async(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    def callback(results: Any, user_data: Any, err: Any) -> None:
        col.complete(float(user_data), str(err) if err else "")

    for _ in range(n):
        session.run_async(None, feed, callback, time.perf_counter())
    _wait(col)


def _bench_submit(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    submit = getattr(session, "submit", None)
    if not callable(submit):
        raise CliError("submit mode needs InferenceSession.submit(), which this session does not have")

    def done_cb(t0: float) -> Callable[[Any], None]:
        def cb(fut: Any) -> None:
            exc = fut.exception()
            col.complete(t0, describe_error(exc) if exc is not None else "")
        return cb

    for _ in range(n):
        t0 = time.perf_counter()
        fut = submit(None, feed)
        fut.add_done_callback(done_cb(t0))
    _wait(col)


def _bench_imap(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    imap = getattr(session, "imap", None)
    if not callable(imap):
        raise CliError("imap mode needs InferenceSession.imap(), which this session does not have")
    starts: Deque[float] = collections.deque()

    def feeds() -> Iterator[Mapping[str, np.ndarray]]:
        for _ in range(n):
            starts.append(time.perf_counter())
            yield feed

    for _ in imap(feeds()):
        col.complete(starts.popleft())


def _bench_pipeline(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector, depth: int) -> None:
    run_pipeline = getattr(session, "run_pipeline", None)
    if not callable(run_pipeline):
        raise CliError("pipeline mode needs InferenceSession.run_pipeline(), which this session does not have")
    flush = getattr(session, "flush_pipeline", None)
    starts: Deque[float] = collections.deque()
    # run_pipeline returns the result of the call made `depth` calls earlier (None while filling).
    for i in range(n):
        starts.append(time.perf_counter())
        out = run_pipeline(feed, depth=depth, reset=(i == 0))
        if out is not None:
            col.complete(starts.popleft())
    if callable(flush):
        for _ in flush():
            col.complete(starts.popleft())
    else:  # no flush API: keep feeding until every counted input has come back
        extra = 0
        while starts:
            extra += 1
            if extra > depth + 1:
                raise CliError("run_pipeline did not return the pending results")
            if run_pipeline(feed, depth=depth) is not None:
                col.complete(starts.popleft())


def _bench_zero_copy(session: Any, feed: Mapping[str, np.ndarray], n: int, col: _Collector) -> None:
    io_binding = getattr(session, "io_binding", None)
    run_with = getattr(session, "run_with_iobinding", None)
    if not callable(io_binding) or not callable(run_with):
        raise CliError("zero-copy mode needs InferenceSession.io_binding(), which this version does not have yet")
    binding = io_binding()
    for name, arr in feed.items():
        binding.bind_cpu_input(name, arr)
    for out in session.get_outputs():
        binding.bind_output(out.name)
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            run_with(binding)
        except Exception as exc:  # noqa: BLE001
            col.complete(t0, describe_error(exc))
        else:
            col.complete(t0)


def _wait(col: _Collector) -> None:
    # Wake up regularly so that Ctrl-C is honoured.
    while not col.done.wait(0.2):
        pass


def run_benchmark(session: Any, mode: str, feed: Mapping[str, np.ndarray], n: int, *, depth: int = 3,
                  progress: Optional[ProgressBar] = None) -> BenchResult:
    """Drive ``session`` ``n`` times in ``mode``; returns timing per inference (submit → result)."""
    bar = progress or ProgressBar(n, enabled=False)
    col = _Collector(n, bar)
    t0 = time.perf_counter()
    try:
        if mode == "sync":
            _bench_sync(session, feed, n, col)
        elif mode == "async":
            _bench_async(session, feed, n, col)
        elif mode == "submit":
            _bench_submit(session, feed, n, col)
        elif mode == "imap":
            _bench_imap(session, feed, n, col)
        elif mode == "pipeline":
            _bench_pipeline(session, feed, n, col, depth)
        elif mode == "zero-copy":
            _bench_zero_copy(session, feed, n, col)
        else:
            raise CliError(f"unknown mode {mode!r}")
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    with col.lock:
        spans = sorted(col.spans)
        return BenchResult(mode=mode, n=n, elapsed_s=elapsed, latencies_s=[b - a for a, b in spans],
                           errors=col.errors, first_error=col.first_error, spans=spans)


def _simulator_counters() -> Optional[Dict[str, int]]:
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


def _session_stats(session: Any) -> Optional[Dict[str, Any]]:
    get_stats = getattr(session, "get_stats", None)
    if not callable(get_stats):
        return None
    try:
        return _as_dict(get_stats())
    except Exception as exc:  # noqa: BLE001
        _logger.debug("get_stats() failed: %s", exc)
        return None


def _default_schedule(mode: str, tp_mode: Optional[str], schedule: Optional[Tuple[int, ...]]) -> Optional[
        Tuple[int, ...]]:
    if schedule is not None or tp_mode is not None:
        return schedule
    if mode in ("async", "submit", "imap", "pipeline", "all"):
        return (0, 1, 2)
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    model = _check_model_path(args.model)
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
            _close(session)
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
            _note(f"{PROG}: core {schedule[-1]} is not available on this NPU ({exc.code_name}); "
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
    before_sim = _simulator_counters() if is_sim else None
    before_stats = _session_stats(session)
    wall_start = time.perf_counter()
    progress = ProgressBar(args.iterations, label=f"{args.mode} ")
    result = run_benchmark(session, args.mode, feed, args.iterations, depth=args.depth, progress=progress)
    after_stats = _session_stats(session)
    after_sim = _simulator_counters() if is_sim else None

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
        _err(f"error: {result.errors} of {result.n} inferences failed; first: {result.first_error}")
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
        before_sim = _simulator_counters() if is_sim else None
        before_stats = _session_stats(session)
        result = run_benchmark(session, mode, feed, args.iterations, depth=args.depth,
                               progress=ProgressBar(args.iterations, label=f"{mode:<9} "))
        results.append(result)
        reports[mode] = build_bench_report(
            model=model, mode=mode, schedule=schedule, tp_mode=args.tp_mode,
            threads_per_core=args.threads_per_core, result=result, session=session, is_simulator=is_sim,
            stats_before=before_stats, stats_after=_session_stats(session),
            sim_before=before_sim, sim_after=_simulator_counters() if is_sim else None,
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
        _err(f"error: {sum(x.errors for _, x in failed)} inferences failed; first ({mode}): {r.first_error}")
        return 1
    return 0


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
        "session_stats": _jsonable(stats_after) if stats_after is not None else None,
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
        _title("latency (ms, submit -> result)", markdown),
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
        lines += ["", _title("per-core utilisation", markdown),
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


# ---------------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------------

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
        _note(f"No real librknnrt.so found ({reason}).")
    else:
        _note(f"Found a real runtime at {real}; the demo model is synthetic, so the demo uses the simulator "
              f"(benchmark your own model with: {PROG} bench MODEL.rknn).")
    _note("Using the simulated runtime instead (compiled from its C sources on first use, then cached)...")
    t0 = time.perf_counter()
    lib_path = simulator.library_path()
    took = time.perf_counter() - t0
    _note(f"Simulator {'built' if took > 0.5 else 'ready'}: {lib_path}"
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
            _close(single)
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
            _close(multi)

    shape = ",".join(str(d) for d in DEMO_INPUT_SHAPE)
    print(f"Demo model: int8 image [{shape}] -> logits [1,1000], {DEMO_LATENCY_US / 1000:g} ms per inference "
          f"on one simulated NPU core (RK3588: 3 cores).")
    print()
    print(format_table(["how", "cores", "inferences", "seconds", "inferences/s", "speed-up"], rows))
    print()
    print(DEMO_EXPLANATION, end="")
    return 0


# ---------------------------------------------------------------------------------------------------
# sim
# ---------------------------------------------------------------------------------------------------


def cmd_sim_path(args: argparse.Namespace) -> int:
    from . import simulator

    print(simulator.library_path(rebuild=bool(args.rebuild)))
    return 0


