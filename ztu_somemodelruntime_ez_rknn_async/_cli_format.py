"""What the ``ez-rknn`` command prints, and how: tables, JSON-ready values, percentiles, stderr lines.

Plain aligned tables or Markdown (:func:`format_table`, :func:`format_kv`), conversion of stats and
attribute objects to JSON-ready values (:func:`jsonable`), latency percentiles, the progress bar (drawn only
on a terminal), and the one-line error and note messages on stderr (stdout stays clean for ``--json``).
Nothing here knows about sessions.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "PROG", "CliError", "ProgressBar", "as_dict", "describe_error", "err_line", "fmt_shape", "format_kv",
    "format_table", "heading", "jsonable", "note", "one_line", "percentiles_ms",
]

PROG = "ez-rknn"


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


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


def heading(text: str, markdown: bool) -> str:
    return f"**{text}**" + ("\n" if markdown else "") if markdown else f"{text}:"


def fmt_shape(shape: object) -> str:
    if isinstance(shape, (list, tuple)):
        return "[" + ",".join(str(d) for d in shape) + "]"
    return str(shape)


def as_dict(obj: Any) -> Dict[str, Any]:
    """Best-effort conversion of a stats/attribute object to a JSON-ready dict."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    to_dict = getattr(obj, "to_dict", None) or getattr(obj, "_asdict", None)
    if callable(to_dict):
        value = to_dict()
        if isinstance(value, Mapping):
            return {str(k): jsonable(v) for k, v in value.items()}
    fields_ = getattr(obj, "__dataclass_fields__", None)
    if fields_ is not None:
        return {name: jsonable(getattr(obj, name)) for name in fields_}
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
            out[n] = jsonable(v)
    return out


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__") or hasattr(value, "_asdict"):
        return as_dict(value)
    return str(value)


def err_line(message: str) -> None:
    """One ``ez-rknn: <message>`` line on stderr."""
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def note(message: str) -> None:
    """Progress/status notes go to stderr so that stdout stays clean for --json."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()
