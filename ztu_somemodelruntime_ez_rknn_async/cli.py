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

This module is the entry point (argument parsing, error handling, dispatch). The commands live in
``_cli_info`` (info), ``_cli_bench`` with ``_cli_bench_run`` and ``_cli_bench_report`` (bench) and
``_cli_demo`` (demo); ``_cli_session`` opens sessions and makes random inputs, ``_cli_format`` renders
tables and messages. The helpers tests and scripts use stay importable from here.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import traceback
from typing import Callable, NoReturn, Optional, Sequence, Tuple

from . import __version__
from ._cli_bench import cmd_bench
from ._cli_bench_report import (
    build_bench_report, record_coarse_trace, render_bench, render_bench_all, session_utilisation,
    simulator_utilisation, write_bench_trace,
)
from ._cli_bench_run import MODES, BenchResult, run_benchmark
from ._cli_demo import cmd_demo
from ._cli_format import (
    PROG, CliError, ProgressBar, describe_error, err_line, format_kv, format_table, one_line, percentiles_ms,
)
from ._cli_info import cmd_info, collect_info, render_info
from ._cli_session import (
    SessionConfig, concrete_shape, dtype_from_ort_type, open_session, random_array, random_feed,
    runtime_description, session_sdk_version,
)

# The entry point, plus the helpers tests and scripts use (implemented in the _cli_* modules).
__all__ = [
    "main", "build_parser", "CliError", "cmd_sim_path", "PROG", "MODES", "TP_MODES", "parse_schedule",
    "BenchResult", "ProgressBar", "SessionConfig", "build_bench_report", "cmd_bench", "cmd_demo", "cmd_info",
    "collect_info", "concrete_shape", "describe_error", "dtype_from_ort_type", "format_kv", "format_table",
    "one_line", "open_session", "percentiles_ms", "random_array", "random_feed", "record_coarse_trace",
    "render_bench", "render_bench_all", "render_info", "run_benchmark", "runtime_description",
    "session_sdk_version", "session_utilisation", "simulator_utilisation", "write_bench_trace",
]

TP_MODES = ("auto", "all", "0", "1", "2", "0,1", "0,1,2")


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
                                        "synthetic model. The model is in the simulator's format, so the demo always runs on the "
                                        "simulator (built from its C sources on first use); it says whether a real "
                                        "librknnrt.so was found.")
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
        err_line("interrupted")
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
        err_line(f"error: {describe_error(exc)}")
        return 1


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
# sim
# ---------------------------------------------------------------------------------------------------


def cmd_sim_path(args: argparse.Namespace) -> int:
    """``ez-rknn sim path``: print the simulated librknnrt.so (built from the C sources when needed)."""
    from . import simulator

    print(simulator.library_path(rebuild=bool(args.rebuild)))
    return 0
