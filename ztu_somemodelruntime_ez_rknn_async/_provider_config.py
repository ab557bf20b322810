"""``ProviderConfig``: the frozen, canonical provider options, the ``RknnProviderOptions`` keys, and their bounds.

Built by :func:`.options.parse_providers` (which validates raw values); constructing it directly only
checks that every field is already canonical.  Part of the options layer: :mod:`.options` re-exports it.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Optional, Sequence, Tuple, Union, cast

from typing_extensions import Final, TypedDict

from ._providers import PROVIDER_ALIASES, PROVIDER_NAME
from ._validators import (
    LAYOUTS,
    MAX_NPU_CORES,
    MAX_TIMEOUT_MS,
    TP_MODE_CORE_MASKS,
    ZERO_COPY_LAYOUTS,
    Layout,
    LayoutLike,
    PathLikeStr,
    ScheduleLike,
    TpModeLike,
    ZeroCopyLayout,
    ZeroCopyLayoutLike,
    describe,
)
from .errors import InvalidOptionError

__all__ = [
    "MAX_CALLBACK_BACKLOG",
    "MAX_QUEUE_SIZE",
    "MAX_THREADS_PER_CORE",
    "PROVIDER_OPTION_KEYS",
    "ProviderConfig",
    "RknnProviderOptions",
]

_CORE_MASK_AUTO: Final = 0

# Upper bounds: generous, but they catch unit mistakes (seconds given as a huge int, a typo'd extra digit).
MAX_THREADS_PER_CORE: Final = 16
MAX_QUEUE_SIZE: Final = 1_000_000
MAX_CALLBACK_BACKLOG: Final = 1_000_000

PROVIDER_OPTION_KEYS: Final[Tuple[str, ...]] = (
    "layout",
    "zero_copy_layout",
    "max_queue_size",
    "threads_per_core",
    "submit_timeout_ms",
    "sequential_callbacks",
    "schedule",
    "tp_mode",
    "enable_pacing",
    "disable_dup_context",
    "custom_op_path",
    "custom_op_paths",
    "custom_op_default_path",
    "load_custom_ops_from_default_path",
    "runtime_library",
    "native_outputs",
    "run_timeout_ms",
    "callback_backlog",
)
"""Every key accepted in ``provider_options`` (the peer's 14 keys, then this project's additions)."""


class RknnProviderOptions(TypedDict, total=False):
    """The ``provider_options`` dict of this runtime (every key optional).

    The peer's keys and aliases, plus ``zero_copy_layout`` (accepted but not listed by the peer),
    ``runtime_library``, ``native_outputs``, ``run_timeout_ms`` and ``callback_backlog``.  Values may also
    be given in the looser spellings described in :mod:`.options` (numeric strings, ``"true"``, ...).
    """

    layout: LayoutLike
    """Copy-path input layout; default ``"nchw"``."""
    zero_copy_layout: ZeroCopyLayoutLike
    """Layout of zero-copy tensors; default ``"nhwc"``."""
    max_queue_size: int
    """Maximum number of waiting tasks (``1 .. 1_000_000``); default 3."""
    threads_per_core: int
    """Worker contexts per selected core (``1 .. 16``); default 1."""
    submit_timeout_ms: int
    """How long a submission waits for queue capacity, in ms (> 0); default 10000."""
    sequential_callbacks: bool
    """Deliver results in submission order; default True."""
    schedule: ScheduleLike
    """Data-parallel core list (weights by repetition), e.g. ``"0,1,2"``; exclusive with ``tp_mode``."""
    tp_mode: TpModeLike
    """Tensor-parallel core set for every context; exclusive with ``schedule``; default AUTO."""
    enable_pacing: bool
    """Pace submissions to the measured service rate; default False."""
    disable_dup_context: bool
    """Create every worker context with ``rknn_init`` instead of ``rknn_dup_context``; default False."""
    custom_op_path: Union[PathLikeStr, Sequence[PathLikeStr]]
    """Custom-op plugin ``.so`` path(s); appends to the same list as ``custom_op_paths``."""
    custom_op_paths: Union[PathLikeStr, Sequence[PathLikeStr]]
    """Custom-op plugin ``.so`` path(s); appends to the same list as ``custom_op_path``."""
    custom_op_default_path: bool
    """Load every plugin of the default plugin directory; default False (alias below, last one wins)."""
    load_custom_ops_from_default_path: bool
    """Alias of ``custom_op_default_path``."""
    runtime_library: Optional[PathLikeStr]
    """Path of ``librknnrt.so`` to load, or ``"simulator"``; default None (automatic search)."""
    native_outputs: bool
    """Return outputs in the model's native dtype (int8, float16, ...) instead of float32; default False."""
    run_timeout_ms: Optional[int]
    """Bound on how long one run is waited for, in ms (> 0); default None (wait until close)."""
    callback_backlog: int
    """Maximum number of delivered results whose callbacks have not been called yet (> 0); default 8."""


@dataclasses.dataclass(frozen=True)
class ProviderConfig:
    """Validated, normalised provider options.  Produced by :func:`parse_provider_options` /
    :func:`parse_providers`; every field is already in canonical form.

    Constructing it directly (or with :func:`dataclasses.replace`) checks that the fields are canonical
    (no alias resolution, no string parsing) and raises :class:`InvalidOptionError` otherwise.

    Attributes:
        layout: ``"nchw" | "nchw_software" | "nhwc" | "any"`` (aliases resolved).
        zero_copy_layout: ``"nhwc" | "native"``.
        max_queue_size: Maximum number of waiting tasks.
        threads_per_core: Worker contexts per selected core.
        submit_timeout_ms: How long a submission waits for queue capacity.
        sequential_callbacks: Deliver results in submission order.
        schedule: Data-parallel core list (repetitions are weights), or ``None`` for tensor-parallel mode.
        tp_mode: Canonical tensor-parallel text (``"auto"``, ``"0,1"``, ...) or ``None`` when not given.
        core_mask: The ``rknn_core_mask`` for every context in tensor-parallel mode (``0`` = AUTO when
            ``tp_mode`` is not given; also ``0`` in data-parallel mode, where each worker's mask is
            ``1 << core``).
        enable_pacing: Pace submissions.
        disable_dup_context: Create worker contexts with ``rknn_init`` instead of ``rknn_dup_context``.
        custom_op_paths: Custom-op plugin paths (``custom_op_path`` and ``custom_op_paths`` together).
        custom_op_default_path: Load plugins from the default plugin directory.
        runtime_library: ``librknnrt.so`` path, ``"simulator"``, or ``None`` for the automatic search.
        native_outputs: Return outputs in the model's native dtype instead of float32.
        run_timeout_ms: Bound on one run's wait, or ``None`` (wait until the session closes).
        callback_backlog: Maximum number of delivered results whose callbacks have not run yet.
        providers: The normalised provider list, as ``InferenceSession.get_providers()`` reports it.
    """

    layout: Layout = "nchw"
    zero_copy_layout: ZeroCopyLayout = "nhwc"
    max_queue_size: int = 3
    threads_per_core: int = 1
    submit_timeout_ms: int = 10000
    sequential_callbacks: bool = True
    schedule: Optional[Tuple[int, ...]] = None
    tp_mode: Optional[str] = None
    core_mask: int = _CORE_MASK_AUTO
    enable_pacing: bool = False
    disable_dup_context: bool = False
    custom_op_paths: Tuple[str, ...] = ()
    custom_op_default_path: bool = False
    runtime_library: Optional[str] = None
    native_outputs: bool = False
    run_timeout_ms: Optional[int] = None
    callback_backlog: int = 8
    providers: Tuple[str, ...] = (PROVIDER_NAME,)

    def __post_init__(self) -> None:
        _check_canonical_config(self)

    @property
    def provider_name(self) -> str:
        """The name this runtime is reported under (``providers[0]``)."""
        return self.providers[0]

    @property
    def uses_custom_ops(self) -> bool:
        """Whether custom-op loading was requested (explicit paths or the default directory)."""
        return bool(self.custom_op_paths) or self.custom_op_default_path

    def to_provider_options(self) -> RknnProviderOptions:
        """The options as a canonical :class:`RknnProviderOptions` dict; parsing it gives this config back."""
        options: RknnProviderOptions = {
            "layout": self.layout,
            "zero_copy_layout": self.zero_copy_layout,
            "max_queue_size": self.max_queue_size,
            "threads_per_core": self.threads_per_core,
            "submit_timeout_ms": self.submit_timeout_ms,
            "sequential_callbacks": self.sequential_callbacks,
            "enable_pacing": self.enable_pacing,
            "disable_dup_context": self.disable_dup_context,
            "custom_op_default_path": self.custom_op_default_path,
            "native_outputs": self.native_outputs,
            "callback_backlog": self.callback_backlog,
        }
        if self.schedule is not None:
            options["schedule"] = list(self.schedule)
        if self.tp_mode is not None:
            options["tp_mode"] = cast(TpModeLike, self.tp_mode)  # canonical text, checked in __post_init__
        if self.custom_op_paths:
            options["custom_op_paths"] = list(self.custom_op_paths)
        if self.runtime_library is not None:
            options["runtime_library"] = self.runtime_library
        if self.run_timeout_ms is not None:
            options["run_timeout_ms"] = self.run_timeout_ms
        return options

    def provider_options_dict(self) -> Dict[str, Dict[str, str]]:
        """The options the way ONNX Runtime's ``InferenceSession.get_provider_options()`` returns them.

        Returns:
            ``{provider_name: {key: str(value)}}``.  Booleans are ``"1"``/``"0"``, a schedule is
            ``"0,1,2"``, several custom-op paths are joined with :data:`os.pathsep`; unset optional values
            (schedule, tp_mode, custom_op_paths, runtime_library, run_timeout_ms) are left out.
        """
        text: Dict[str, str] = {}
        for key, value in self.to_provider_options().items():
            if isinstance(value, bool):
                text[key] = "1" if value else "0"
            elif key == "schedule":
                text[key] = ",".join(str(core) for core in self.schedule or ())
            elif key == "custom_op_paths":
                text[key] = os.pathsep.join(self.custom_op_paths)
            else:
                text[key] = str(value)
        return {self.provider_name: text}


def _check_canonical_config(config: ProviderConfig) -> None:
    """Check that every field of a directly built :class:`ProviderConfig` is canonical."""

    def fail(field: str, expected: str) -> InvalidOptionError:
        return InvalidOptionError(
            f"ProviderConfig.{field} must be {expected}, got {describe(getattr(config, field))}"
        )

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if config.layout not in LAYOUTS:
        raise fail("layout", f"one of: {', '.join(LAYOUTS)}")
    if config.zero_copy_layout not in ZERO_COPY_LAYOUTS:
        raise fail("zero_copy_layout", "'nhwc' or 'native'")
    for field, maximum in (
        ("max_queue_size", MAX_QUEUE_SIZE),
        ("threads_per_core", MAX_THREADS_PER_CORE),
        ("submit_timeout_ms", MAX_TIMEOUT_MS),
        ("callback_backlog", MAX_CALLBACK_BACKLOG),
    ):
        value = getattr(config, field)
        if not is_int(value) or not 0 < value <= maximum:
            raise fail(field, f"an int in 1..{maximum}")
    if config.run_timeout_ms is not None and (
        not is_int(config.run_timeout_ms) or not 0 < config.run_timeout_ms <= MAX_TIMEOUT_MS
    ):
        raise fail("run_timeout_ms", f"None or an int in 1..{MAX_TIMEOUT_MS}")
    for field in (
        "sequential_callbacks",
        "enable_pacing",
        "disable_dup_context",
        "custom_op_default_path",
        "native_outputs",
    ):
        if not isinstance(getattr(config, field), bool):
            raise fail(field, "a bool")
    if config.schedule is not None and (
        not isinstance(config.schedule, tuple)
        or not config.schedule
        or not all(is_int(core) and 0 <= core < MAX_NPU_CORES for core in config.schedule)
    ):
        raise fail("schedule", "None or a non-empty tuple of core indices 0, 1, 2")
    if config.tp_mode is not None and config.tp_mode not in TP_MODE_CORE_MASKS:
        raise fail("tp_mode", f"None or one of: {', '.join(TP_MODE_CORE_MASKS)}")
    if config.schedule is not None and config.tp_mode is not None:
        raise InvalidOptionError("provider_options 'tp_mode' conflicts with 'schedule'; set only one.")
    expected_mask = _CORE_MASK_AUTO if config.tp_mode is None else TP_MODE_CORE_MASKS[config.tp_mode]
    if config.core_mask != expected_mask or not is_int(config.core_mask):
        raise fail("core_mask", f"{expected_mask} (the mask of tp_mode={config.tp_mode!r})")
    if not isinstance(config.custom_op_paths, tuple) or not all(
        isinstance(path, str) and path and "\x00" not in path for path in config.custom_op_paths
    ):
        raise fail("custom_op_paths", "a tuple of non-empty str paths")
    if config.runtime_library is not None and (
        not isinstance(config.runtime_library, str) or not config.runtime_library
    ):
        raise fail("runtime_library", "None or a non-empty str")
    if (
        not isinstance(config.providers, tuple)
        or len(config.providers) != 1
        or config.providers[0] not in PROVIDER_ALIASES
    ):
        raise fail("providers", f"a 1-tuple holding one of: {', '.join(PROVIDER_ALIASES)}")
