"""Run options: ``RunOptions`` (ONNX Runtime's stand-in) and the ``run_options`` dict, validated into ``RunConfig``.

Part of the options layer (see :mod:`.options`, which re-exports every name here).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping as _AbcMapping
from typing import TYPE_CHECKING, Dict, Mapping, Optional, Tuple

from typing_extensions import Final, TypedDict

from ._ort_options import Checked, ConfigEntries
from ._validators import (
    MAX_TIMEOUT_MS,
    BoolLike,
    IntLike,
    check_bool,
    check_log_severity,
    check_non_negative,
    check_option_keys,
    check_optional_int,
    check_str,
    closest,
    describe,
)
from .errors import InvalidOptionError

if TYPE_CHECKING:
    from .options import ProviderConfig

__all__ = [
    "RknnRunOptions",
    "RunOptions",
    "RunConfig",
    "parse_run_options",
    "RUN_OPTION_KEYS",
    "DISPATCH_BATCH_KEY",
]

DISPATCH_BATCH_KEY: Final = "ztu_modelrt_dispatch_batch"
RUN_OPTION_KEYS: Final[Tuple[str, ...]] = (DISPATCH_BATCH_KEY, "native_outputs", "run_timeout_ms", "tag")
"""Every key accepted in a ``run_options`` dict (and read from a ``RunOptions`` object's config entries)."""


class RknnRunOptions(TypedDict, total=False):
    """The ``run_options`` dict of this runtime (every key optional; ``None`` means "not given")."""

    ztu_modelrt_dispatch_batch: BoolLike
    """``run`` only: split a batched input into single-sample tasks spread over the workers."""
    native_outputs: Optional[BoolLike]
    """Per-run override of the provider option of the same name."""
    run_timeout_ms: Optional[IntLike]
    """Per-run override of the provider option of the same name (> 0)."""
    tag: Optional[str]
    """A label for this run, shown in profiles."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Validated per-run options, produced by :func:`parse_run_options`.

    Attributes:
        dispatch_batch: Batch dispatch (``ztu_modelrt_dispatch_batch``).
        native_outputs: Override of ``ProviderConfig.native_outputs``, or ``None`` to keep the session's.
        run_timeout_ms: Override of ``ProviderConfig.run_timeout_ms``, or ``None`` to keep the session's.
        tag: A label for profiles, or ``None``.
    """

    dispatch_batch: bool = False
    native_outputs: Optional[bool] = None
    run_timeout_ms: Optional[int] = None
    tag: Optional[str] = None

    def resolve_native_outputs(self, config: ProviderConfig) -> bool:
        """This run's ``native_outputs``: the override, else the session's."""
        return config.native_outputs if self.native_outputs is None else self.native_outputs

    def resolve_run_timeout_ms(self, config: ProviderConfig) -> Optional[int]:
        """This run's timeout in ms: the override, else the session's (``None`` = no bound)."""
        return config.run_timeout_ms if self.run_timeout_ms is None else self.run_timeout_ms


class RunOptions(ConfigEntries):
    """A stand-in for ``onnxruntime.RunOptions``.

    Attributes are type-checked on assignment (:class:`InvalidOptionError` on a bad value); only the config
    entries in :data:`RUN_OPTION_KEYS` and ``logid`` (the run's tag, when no ``tag`` entry is set) have an
    effect; the other attributes exist so that ONNX Runtime code keeps working.

    Example:
        >>> ro = RunOptions()
        >>> ro.add_run_config_entry("ztu_modelrt_dispatch_batch", "1")
        >>> parse_run_options(ro).dispatch_batch
        True
    """

    __slots__ = (
        "_entries",
        "_log_severity_level",
        "_log_verbosity_level",
        "_logid",
        "_terminate",
        "_only_execute_path_to_fetches",
    )
    _entry_owner = "RunOptions"

    log_severity_level = Checked(check_log_severity, "0 (verbose) .. 4 (fatal); -1 = default.")
    log_verbosity_level = Checked(check_non_negative, "VLOG level (>= 0).")
    logid = Checked(check_str, "Log id; used as the run's profiling tag.")
    terminate = Checked(check_bool, "Accepted for compatibility; no effect.")
    only_execute_path_to_fetches = Checked(
        check_bool, "Accepted for compatibility; no effect."
    )

    def __init__(self) -> None:
        self._entries = {}
        self.log_severity_level = 2
        self.log_verbosity_level = 0
        self.logid = ""
        self.terminate = False
        self.only_execute_path_to_fetches = False

    def add_run_config_entry(self, key: str, value: str) -> None:
        """Set a run config entry (both ``str``, as in ONNX Runtime)."""
        self._add_entry(key, value, "add_run_config_entry")

    def get_run_config_entry(self, key: str) -> str:
        """Return a run config entry.

        Raises:
            InvalidOptionError: (a :class:`RuntimeError`, as in ONNX Runtime) if the entry is not set.
        """
        return self._get_entry(key, "get_run_config_entry")

    def __repr__(self) -> str:
        return f"RunOptions(logid={self.logid!r}, entries={self._entries!r})"


def _run_config_from_values(values: Mapping[str, object]) -> RunConfig:
    batch = values.get(DISPATCH_BATCH_KEY)
    native = values.get("native_outputs")
    timeout = values.get("run_timeout_ms")
    tag = values.get("tag")
    return RunConfig(
        dispatch_batch=False if batch is None else check_bool(batch, DISPATCH_BATCH_KEY),
        native_outputs=None if native is None else check_bool(native, "native_outputs"),
        run_timeout_ms=check_optional_int(timeout, "run_timeout_ms", maximum=MAX_TIMEOUT_MS),
        tag=None if tag is None else check_str(tag, "tag"),
    )


def parse_run_options(obj: object = None) -> RunConfig:
    """Validate ``run_options`` into a :class:`RunConfig`.

    Accepted forms:

    * ``None``: defaults.
    * a dict with keys from :data:`RUN_OPTION_KEYS` (``None`` values mean "not given").  *[fix]* unknown
      keys are rejected (the peer ignores them).
    * an object with ``get_run_config_entry`` (:class:`RunOptions`, or ``onnxruntime.RunOptions``): each key
      of :data:`RUN_OPTION_KEYS` is read with ``get_run_config_entry``; a key whose lookup raises is not
      set (ONNX Runtime raises for missing entries).  Other config entries and attributes (log levels,
      ``terminate``, ...) are ignored, except that an unknown ``ztu_*`` entry of a :class:`RunOptions` is
      rejected as a probable typo.  ``logid`` is the tag when no ``tag`` entry is set.

    Args:
        obj: The ``run_options`` argument.

    Returns:
        The validated per-run options.

    Raises:
        InvalidOptionError: for a malformed value, an unknown dict key or any other type of ``obj``.
    """
    if obj is None:
        return RunConfig()
    if isinstance(obj, _AbcMapping):
        check_option_keys(obj, "run_options", RUN_OPTION_KEYS)
        return _run_config_from_values(obj)
    getter = getattr(obj, "get_run_config_entry", None)
    if getter is None or not callable(getter):
        raise InvalidOptionError(
            f"run_options must be None, a dict or a RunOptions object, got {describe(obj)}"
        )
    if isinstance(obj, RunOptions):
        for key in obj._entries:  # noqa: SLF001 - same module
            if key.startswith("ztu_") and key not in RUN_OPTION_KEYS:
                raise InvalidOptionError(
                    f"Unknown run config entry: {key}.{closest(key, RUN_OPTION_KEYS)} "
                    f"Supported keys: {', '.join(RUN_OPTION_KEYS)}"
                )
    values: Dict[str, object] = {}
    for key in RUN_OPTION_KEYS:
        try:
            value = getter(key)
        except Exception:  # noqa: BLE001 - ORT raises for a missing entry: treat as not set (peer behaviour)
            continue
        if value is not None:
            values[key] = value
    if "tag" not in values:
        logid = getattr(obj, "logid", None)
        if isinstance(logid, str) and logid:
            values["tag"] = logid
    return _run_config_from_values(values)
