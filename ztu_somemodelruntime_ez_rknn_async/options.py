"""Provider options (``providers``/``provider_options`` to ``ProviderConfig``); the options layer's public face.

Everything a user can pass to :class:`~ztu_somemodelruntime_ez_rknn_async.InferenceSession` as
``providers`` / ``provider_options`` / ``run_options`` / ``sess_options`` is validated once, by the
options layer, into frozen normalised objects (:class:`ProviderConfig`, :class:`RunConfig`,
:class:`SessionConfig`).  Code downstream reads their fields and never parses a raw value again.  This
module handles the provider options and re-exports every public name of the layer:

* :mod:`.run_options` (``RunOptions``, ``parse_run_options``) and :mod:`.session_options`
  (``SessionOptions``, ``parse_session_options``);
* private helpers: :mod:`._validators` (the value checks below), :mod:`._providers` (ONNX Runtime's
  ``providers`` list), :mod:`._provider_config` (``ProviderConfig`` itself), :mod:`._ort_options`
  (config entries and checked attributes of the ORT-style objects).

Every validation failure raises :class:`~ztu_somemodelruntime_ez_rknn_async.errors.InvalidOptionError`,
which is both a :class:`RuntimeError` (what the peer project raises) and a :class:`ValueError` (what
ONNX Runtime and ``make_provider_options`` raise).  Messages name the option, show the offending value's
``repr`` and type, and say what was expected.

Accepted spellings (the peer's, with the deliberate differences marked *[fix]*):

* **int-like** (``max_queue_size``, ``threads_per_core``, ``submit_timeout_ms``, ``run_timeout_ms``,
  ``callback_backlog``, schedule entries): an ``int`` (or any object with ``__index__``, e.g. a numpy
  integer) or a ``str`` holding a base-10 integer, surrounding whitespace allowed (``" 5 "``, ``"+5"``).
  *[fix]* ``bool`` is rejected: ``max_queue_size=True`` is almost certainly a mistake, while the peer
  silently reads it as 1.  Each option also has a sane upper bound.
* **bool-like**: ``True``/``False``, the integers 0 and 1, or a string ``1/true/on/yes`` or
  ``0/false/off/no`` (case-insensitive, trimmed).  *[fix]* other integers (the peer reads any non-zero
  integer as True) are rejected.
* **paths** (``custom_op_path``, ``custom_op_paths``, ``runtime_library``): ``str`` or
  :class:`os.PathLike` resolving to ``str``, or (custom ops only) a sequence of them.  *[fix]* ``bytes``
  is rejected with a clear message (the peer iterates it as integers); empty paths and paths containing
  NUL are rejected.
* **schedule**: *[fix]* core indices above 2 are rejected up front (RKNPU2 SoCs have at most three NPU
  cores); the peer fails later, inside ``rknn_set_core_mask``.
* **zero_copy_layout**: *[fix]* validated with every other option, before the model is loaded.
* **containers**: *[fix]* a ``str`` is never treated as a sequence of option dicts, and entries of a
  ``provider_options`` list that are not used are not dropped silently.
* **unknown keys**: rejected, naming the closest accepted key and listing all of them.
"""
from __future__ import annotations

import os
from collections.abc import Sequence as _AbcSequence
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union, cast

from ._provider_config import (
    MAX_CALLBACK_BACKLOG,
    MAX_QUEUE_SIZE,
    MAX_THREADS_PER_CORE,
    PROVIDER_OPTION_KEYS,
    ProviderConfig,
    RknnProviderOptions,
)
from ._providers import CPU_PROVIDER_NAME, PROVIDER_ALIASES, PROVIDER_NAME, select_provider_options
from ._validators import (
    MAX_NPU_CORES,
    MAX_TIMEOUT_MS,
    MEM_FLAGS,
    TP_MODE_CORE_MASKS,
    BoolLike,
    IntLike,
    Layout,
    LayoutLike,
    MemFlagsLike,
    PathLikeStr,
    ScheduleLike,
    TpModeLike,
    ZeroCopyLayout,
    ZeroCopyLayoutLike,
    as_items,
    check_bool,
    check_int,
    check_layout,
    check_option_keys,
    check_optional_int,
    check_paths,
    check_runtime_library,
    check_schedule,
    check_tp_mode,
    check_zero_copy_layout,
    parse_mem_flags,
)
from .errors import InvalidOptionError
from .run_options import (
    DISPATCH_BATCH_KEY,
    RUN_OPTION_KEYS,
    RknnRunOptions,
    RunConfig,
    RunOptions,
    parse_run_options,
)
from .session_options import (
    ExecutionMode,
    GraphOptimizationLevel,
    SessionConfig,
    SessionOptions,
    parse_session_options,
)

__all__ = [
    # Type aliases of accepted spellings.
    "PathLikeStr",
    "IntLike",
    "BoolLike",
    "ScheduleLike",
    "TpModeLike",
    "LayoutLike",
    "ZeroCopyLayoutLike",
    "Layout",
    "ZeroCopyLayout",
    "MemFlagsLike",
    # Provider options.
    "RknnProviderOptions",
    "make_provider_options",
    "ProviderConfig",
    "parse_provider_options",
    "parse_providers",
    "PROVIDER_NAME",
    "PROVIDER_ALIASES",
    "CPU_PROVIDER_NAME",
    "PROVIDER_OPTION_KEYS",
    "TP_MODE_CORE_MASKS",
    "MAX_NPU_CORES",
    # Run options.
    "RknnRunOptions",
    "RunOptions",
    "RunConfig",
    "parse_run_options",
    "RUN_OPTION_KEYS",
    "DISPATCH_BATCH_KEY",
    # Session options.
    "SessionOptions",
    "SessionConfig",
    "parse_session_options",
    "GraphOptimizationLevel",
    "ExecutionMode",
    # Zero-copy memory flags.
    "parse_mem_flags",
    "MEM_FLAGS",
]


# ----------------------------------------------------------------------------------------------------------
# Provider options
# ----------------------------------------------------------------------------------------------------------


def _parse_option_dict(options: Mapping[Any, object], providers: Tuple[str, ...]) -> ProviderConfig:
    """Validate one ``provider_options`` dict (keys in iteration order; the first bad key raises)."""
    check_option_keys(options, "provider_options", PROVIDER_OPTION_KEYS)
    values: Dict[str, Any] = {}
    custom_op_paths: List[str] = []
    for key, value in options.items():
        if key == "layout":
            values["layout"] = check_layout(value)
        elif key == "zero_copy_layout":
            values["zero_copy_layout"] = check_zero_copy_layout(value)
        elif key == "max_queue_size":
            values[key] = check_int(value, key, maximum=MAX_QUEUE_SIZE)
        elif key == "threads_per_core":
            values[key] = check_int(value, key, maximum=MAX_THREADS_PER_CORE)
        elif key == "submit_timeout_ms":
            values[key] = check_int(value, key, maximum=MAX_TIMEOUT_MS)
        elif key == "callback_backlog":
            values[key] = check_int(value, key, maximum=MAX_CALLBACK_BACKLOG)
        elif key == "run_timeout_ms":
            values[key] = check_optional_int(value, key, maximum=MAX_TIMEOUT_MS)
        elif key in ("sequential_callbacks", "enable_pacing", "disable_dup_context", "native_outputs"):
            values[key] = check_bool(value, key)
        elif key in ("custom_op_default_path", "load_custom_ops_from_default_path"):
            values["custom_op_default_path"] = check_bool(value, key)  # aliases: the last one wins
        elif key in ("custom_op_path", "custom_op_paths"):
            if value is not None:  # None = nothing to add
                custom_op_paths.extend(check_paths(value, key))  # aliases: both append
        elif key == "schedule":
            values[key] = None if value is None else check_schedule(value)
        elif key == "tp_mode":
            values[key] = None if value is None else check_tp_mode(value)
        else:  # key == "runtime_library" (the key check above leaves nothing else)
            values["runtime_library"] = check_runtime_library(value)
    if values.get("schedule") is not None and values.get("tp_mode") is not None:
        raise InvalidOptionError("provider_options 'tp_mode' conflicts with 'schedule'; set only one.")
    if values.get("tp_mode") is not None:
        values["core_mask"] = TP_MODE_CORE_MASKS[values["tp_mode"]]
    values["custom_op_paths"] = tuple(custom_op_paths)
    return ProviderConfig(providers=providers, **values)


def parse_providers(providers: object = None, provider_options: object = None) -> ProviderConfig:
    """Validate ``providers`` and ``provider_options`` the way ``InferenceSession`` receives them.

    ONNX Runtime conventions, with the peer's shortcuts:

    * ``providers``: ``None``, or a sequence of provider names or ``(name, options dict)`` tuples.
      ``"RKNPU2ExecutionProvider"`` and ``"RKNNExecutionProvider"`` select this runtime (at most one
      of them); ``"CPUExecutionProvider"`` is accepted and ignored (there is no CPU fallback); any other
      name is rejected.  An empty list, or a list holding only the CPU provider, selects this runtime
      with default options.
    * ``provider_options``: ``None``; a dict (the peer's form: the options of this runtime); or a
      sequence of dicts.  When ``providers`` is given, a sequence must have the same length (ONNX
      Runtime's rule) and its entry aligned with this runtime is used.  Without ``providers``, the
      sequence must hold at most one dict (the peer silently ignored the rest).
    * Options from a ``(name, dict)`` tuple and from ``provider_options`` are merged; a key given in
      both is an error.

    Args:
        providers: The ``providers`` argument of ``InferenceSession``.
        provider_options: The ``provider_options`` argument of ``InferenceSession``.

    Returns:
        The validated configuration; ``providers`` holds the name this runtime was selected under.

    Raises:
        InvalidOptionError: if anything is malformed, unknown or out of range.
    """
    name, options = select_provider_options(providers, provider_options)
    return _parse_option_dict(options, (name,))


def parse_provider_options(obj: object = None) -> ProviderConfig:
    """Validate a ``provider_options`` value (no ``providers`` list) into a :class:`ProviderConfig`.

    Args:
        obj: ``None``, an options dict, or a sequence holding one options dict (see :func:`parse_providers`).

    Returns:
        The validated configuration.

    Raises:
        InvalidOptionError: if the container, a key or a value is invalid; unknown keys are reported with the
            closest accepted key and the list of all of them.
    """
    return parse_providers(None, obj)


def make_provider_options(
    *,
    layout: LayoutLike = "original",
    max_queue_size: int = 3,
    threads_per_core: int = 1,
    submit_timeout_ms: int = 10000,
    sequential_callbacks: bool = True,
    schedule: Optional[ScheduleLike] = None,
    tp_mode: Optional[TpModeLike] = None,
    enable_pacing: bool = False,
    disable_dup_context: bool = False,
    custom_op_paths: Optional[Union[PathLikeStr, Iterable[PathLikeStr]]] = None,
    custom_op_default_path: bool = False,
    zero_copy_layout: Optional[ZeroCopyLayoutLike] = None,
    runtime_library: Optional[PathLikeStr] = None,
    native_outputs: Optional[bool] = None,
    run_timeout_ms: Optional[int] = None,
    callback_backlog: Optional[int] = None,
) -> RknnProviderOptions:
    """Build a ``provider_options`` dict (keyword arguments only), like the peer's helper.

    The result always holds ``layout, max_queue_size, threads_per_core, submit_timeout_ms,
    sequential_callbacks, enable_pacing, disable_dup_context, custom_op_default_path``; ``schedule``,
    ``tp_mode``, ``custom_op_paths`` and this project's additions (``zero_copy_layout``,
    ``runtime_library``, ``native_outputs``, ``run_timeout_ms``, ``callback_backlog``) only when not
    ``None``.  Values are stored as given.  Unlike the peer, every value is validated here too, so a
    mistake is reported at the call that made it.

    Args:
        layout: Copy-path input layout.
        max_queue_size: Maximum number of waiting tasks.
        threads_per_core: Worker contexts per selected core.
        submit_timeout_ms: How long a submission waits for queue capacity.
        sequential_callbacks: Deliver results in submission order.
        schedule: Data-parallel core list; exclusive with ``tp_mode``.
        tp_mode: Tensor-parallel core set; exclusive with ``schedule``.
        enable_pacing: Pace submissions.
        disable_dup_context: Create worker contexts with ``rknn_init``.
        custom_op_paths: Custom-op plugin path(s).
        custom_op_default_path: Load plugins from the default plugin directory.
        zero_copy_layout: Layout of zero-copy tensors.
        runtime_library: ``librknnrt.so`` path or ``"simulator"``.
        native_outputs: Return outputs in the model's native dtype.
        run_timeout_ms: Bound on one run's wait.
        callback_backlog: Maximum number of pending callbacks.

    Returns:
        A plain dict (typed as :class:`RknnProviderOptions`).

    Raises:
        InvalidOptionError: (a :class:`ValueError`) if both ``schedule`` and ``tp_mode`` are given, or a
            value is invalid.
    """
    if schedule is not None and tp_mode is not None:
        raise InvalidOptionError("provider options 'tp_mode' conflicts with 'schedule'; set only one.")
    options: RknnProviderOptions = {
        "layout": layout,
        "max_queue_size": max_queue_size,
        "threads_per_core": threads_per_core,
        "submit_timeout_ms": submit_timeout_ms,
        "sequential_callbacks": sequential_callbacks,
        "enable_pacing": enable_pacing,
        "disable_dup_context": disable_dup_context,
        "custom_op_default_path": custom_op_default_path,
    }
    if schedule is not None:
        options["schedule"] = schedule
    if tp_mode is not None:
        options["tp_mode"] = tp_mode
    if custom_op_paths is not None:
        # A one-shot iterator would be consumed by the validation below; keep a list instead.
        if isinstance(custom_op_paths, (str, os.PathLike, _AbcSequence)):
            options["custom_op_paths"] = custom_op_paths
        else:
            items = as_items(custom_op_paths, "custom_op_paths")
            options["custom_op_paths"] = cast(List[PathLikeStr], custom_op_paths if items is None else items)
    if zero_copy_layout is not None:
        options["zero_copy_layout"] = zero_copy_layout
    if runtime_library is not None:
        options["runtime_library"] = runtime_library
    if native_outputs is not None:
        options["native_outputs"] = native_outputs
    if run_timeout_ms is not None:
        options["run_timeout_ms"] = run_timeout_ms
    if callback_backlog is not None:
        options["callback_backlog"] = callback_backlog
    parse_provider_options(options)
    return options
