"""Session options: ``SessionOptions`` (ONNX Runtime's stand-in), its enums, and ``SessionConfig``.

Part of the options layer (see :mod:`.options`, which re-exports every name here).
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping as _AbcMapping
from typing import Callable, Type, TypeVar

from ._ort_options import Checked, ConfigEntries
from ._validators import as_int, check_bool, check_int, check_log_severity, check_non_negative, check_str, describe
from .errors import InvalidOptionError

__all__ = [
    "SessionOptions",
    "SessionConfig",
    "parse_session_options",
    "GraphOptimizationLevel",
    "ExecutionMode",
]

_T = TypeVar("_T")


class GraphOptimizationLevel(enum.IntEnum):
    """ONNX Runtime's graph optimisation levels (accepted for compatibility; RKNN models are compiled)."""

    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1
    ORT_ENABLE_EXTENDED = 2
    ORT_ENABLE_ALL = 99


class ExecutionMode(enum.IntEnum):
    """ONNX Runtime's execution modes (accepted for compatibility)."""

    ORT_SEQUENTIAL = 0
    ORT_PARALLEL = 1


_E = TypeVar("_E", bound=enum.IntEnum)


def _check_enum(enum_type: Type[_E], value: object, name: str) -> _E:
    """An :class:`enum.IntEnum` member from a member, an int, or a foreign enum with the same value."""
    if isinstance(value, enum_type):
        return value
    number = as_int(value) if not isinstance(value, str) else None
    if number is None:
        raw = getattr(value, "value", None)  # e.g. onnxruntime's pybind enums
        number = as_int(raw) if not isinstance(raw, str) else None
    members = ", ".join(f"{member.name} ({int(member)})" for member in enum_type)
    if number is not None:
        try:
            return enum_type(number)
        except ValueError:
            pass
    raise InvalidOptionError(f"{name} must be one of {enum_type.__name__}: {members}; got {describe(value)}")


def _check_graph_level(value: object, name: str) -> GraphOptimizationLevel:
    return _check_enum(GraphOptimizationLevel, value, name)


def _check_execution_mode(value: object, name: str) -> ExecutionMode:
    return _check_enum(ExecutionMode, value, name)


def _check_threads(value: object, name: str) -> int:
    return check_int(value, name, minimum=0, maximum=1024)


class SessionOptions(ConfigEntries):
    """A stand-in for ``onnxruntime.SessionOptions`` with its commonly used attributes.

    Attributes are type-checked on assignment (:class:`InvalidOptionError`, which is also a
    :class:`ValueError`; a misspelt attribute raises :class:`AttributeError`).  ``enable_profiling``,
    ``profile_file_prefix`` are used by the session; the others (``log_severity_level`` and ``logid``
    included: the package logs through :mod:`logging`, configure its loggers instead) are accepted for
    compatibility and have no effect (RKNN models are compiled ahead of time, and the worker
    threads are set by the provider options).
    """

    __slots__ = (
        "_entries",
        "_enable_profiling",
        "_profile_file_prefix",
        "_log_severity_level",
        "_log_verbosity_level",
        "_logid",
        "_intra_op_num_threads",
        "_inter_op_num_threads",
        "_graph_optimization_level",
        "_execution_mode",
        "_enable_cpu_mem_arena",
        "_enable_mem_pattern",
        "_enable_mem_reuse",
        "_use_deterministic_compute",
        "_optimized_model_filepath",
    )
    _entry_owner = "SessionOptions"

    enable_profiling = Checked(check_bool, "Record a profile (see end_profiling).")
    profile_file_prefix = Checked(
        check_str, "Prefix of the profile file written by end_profiling()."
    )
    log_severity_level = Checked(check_log_severity, "0 (verbose) .. 4 (fatal); -1 = default. Accepted; no effect.")
    log_verbosity_level = Checked(check_non_negative, "VLOG level (>= 0).")
    logid = Checked(check_str, "Log id. Accepted; no effect (configure the package's loggers instead).")
    intra_op_num_threads = Checked(_check_threads, "Accepted; no effect.")
    inter_op_num_threads = Checked(_check_threads, "Accepted; no effect.")
    graph_optimization_level = Checked(
        _check_graph_level, "Accepted; no effect."
    )
    execution_mode = Checked(_check_execution_mode, "Accepted; no effect.")
    enable_cpu_mem_arena = Checked(check_bool, "Accepted; no effect.")
    enable_mem_pattern = Checked(check_bool, "Accepted; no effect.")
    enable_mem_reuse = Checked(check_bool, "Accepted; no effect.")
    use_deterministic_compute = Checked(check_bool, "Accepted; no effect.")
    optimized_model_filepath = Checked(check_str, "Accepted; no effect.")

    def __init__(self) -> None:
        self._entries = {}
        self.enable_profiling = False
        self.profile_file_prefix = "onnxruntime_profile_"
        self.log_severity_level = 2
        self.log_verbosity_level = 0
        self.logid = ""
        self.intra_op_num_threads = 0
        self.inter_op_num_threads = 0
        self.graph_optimization_level = GraphOptimizationLevel.ORT_ENABLE_ALL
        self.execution_mode = ExecutionMode.ORT_SEQUENTIAL
        self.enable_cpu_mem_arena = True
        self.enable_mem_pattern = True
        self.enable_mem_reuse = True
        self.use_deterministic_compute = False
        self.optimized_model_filepath = ""

    def add_session_config_entry(self, key: str, value: str) -> None:
        """Set a session config entry (both ``str``, as in ONNX Runtime; accepted, no effect)."""
        self._add_entry(key, value, "add_session_config_entry")

    def get_session_config_entry(self, key: str) -> str:
        """Return a session config entry.

        Raises:
            InvalidOptionError: (a :class:`RuntimeError`, as in ONNX Runtime) if the entry is not set.
        """
        return self._get_entry(key, "get_session_config_entry")

    def __repr__(self) -> str:
        return (
            f"SessionOptions(enable_profiling={self.enable_profiling!r}, "
            f"profile_file_prefix={self.profile_file_prefix!r}, logid={self.logid!r})"
        )


@dataclasses.dataclass(frozen=True)
class SessionConfig:
    """The session options the session uses, produced by :func:`parse_session_options`.

    Attributes:
        enable_profiling: Record a profile.
        profile_file_prefix: Prefix of the profile file.
        log_severity_level: 0 (verbose) .. 4 (fatal).
        logid: Log id, ``""`` when not set.
    """

    enable_profiling: bool = False
    profile_file_prefix: str = "onnxruntime_profile_"
    log_severity_level: int = 2
    logid: str = ""


def parse_session_options(obj: object = None) -> SessionConfig:
    """Read ``sess_options``: ``None``, a :class:`SessionOptions`, or any object with the same attributes
    (e.g. ``onnxruntime.SessionOptions``); missing attributes keep their defaults.

    Raises:
        InvalidOptionError: if ``obj`` is of another kind (a dict, a string, ...) or an attribute is invalid.
    """
    if obj is None:
        return SessionConfig()
    if isinstance(obj, (str, bytes, _AbcMapping)) or not hasattr(obj, "enable_profiling"):
        raise InvalidOptionError(
            f"sess_options must be None or a SessionOptions object, got {describe(obj)}"
        )
    default = SessionConfig()

    def read(attr: str, check: Callable[[object, str], _T], fallback: _T) -> _T:
        value = getattr(obj, attr, None)
        return fallback if value is None else check(value, f"sess_options.{attr}")

    return SessionConfig(
        enable_profiling=read("enable_profiling", check_bool, default.enable_profiling),
        profile_file_prefix=read("profile_file_prefix", check_str, default.profile_file_prefix),
        log_severity_level=read("log_severity_level", check_log_severity, default.log_severity_level),
        logid=read("logid", check_str, default.logid),
    )
