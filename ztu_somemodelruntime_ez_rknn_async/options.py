"""Provider, run and session options: the only module that sees raw option values.

Everything a user can pass to :class:`~ztu_somemodelruntime_ez_rknn_async.InferenceSession` as
``providers`` / ``provider_options`` / ``run_options`` / ``sess_options`` is validated here, once, into
frozen normalised objects (:class:`ProviderConfig`, :class:`RunConfig`, :class:`SessionConfig`).  Code
downstream reads their fields and never parses a raw value again.

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

import dataclasses
import difflib
import enum
import operator
import os
import re
from collections.abc import Iterable as _AbcIterable
from collections.abc import Mapping as _AbcMapping
from collections.abc import Sequence as _AbcSequence
from collections.abc import Set as _AbcSet
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
    cast,
    overload,
)

from typing_extensions import Final, Literal, SupportsIndex, TypedDict

from .errors import InvalidOptionError

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

_T = TypeVar("_T")

# ----------------------------------------------------------------------------------------------------------
# Type aliases (the peer's names, plus ours)
# ----------------------------------------------------------------------------------------------------------

PathLikeStr = Union[str, "os.PathLike[str]"]
"""A filesystem path: ``str`` or an :class:`os.PathLike` whose ``__fspath__`` returns ``str``."""
IntLike = Union[int, str]
"""An integer or a string holding a base-10 integer (``bool`` is rejected)."""
BoolLike = Union[bool, int, str]
"""``True``/``False``, 0/1, or ``1/true/on/yes`` / ``0/false/off/no`` (case-insensitive, trimmed)."""
ScheduleLike = Union[int, str, Sequence[Union[int, str]]]
"""A core index, a string such as ``"0,1,2"`` / ``"[0, 1, 2]"`` / ``"0 1 2"``, or a sequence of int-likes."""
TpModeLike = Literal["auto", "all", "0", "1", "2", "0,1", "0,1,2"]
"""A tensor-parallel core set (case-insensitive, trimmed)."""
LayoutLike = Literal["nchw", "original", "nchw_software", "original_software", "nhwc", "any"]
"""Copy-path input layout (case-insensitive, trimmed); ``original*`` are aliases of ``nchw*``."""
ZeroCopyLayoutLike = Literal["nhwc", "native"]
"""Zero-copy tensor layout (case-insensitive, trimmed)."""
Layout = Literal["nchw", "nchw_software", "nhwc", "any"]
"""A canonical copy-path layout (:attr:`ProviderConfig.layout`)."""
ZeroCopyLayout = Literal["nhwc", "native"]
"""A canonical zero-copy layout (:attr:`ProviderConfig.zero_copy_layout`)."""
MemFlagsLike = Union[None, int, str]
"""Zero-copy allocation flags: a name from :data:`MEM_FLAGS`, a non-negative integer, or ``None``."""

# ----------------------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------------------

PROVIDER_NAME: Final = "RKNPU2ExecutionProvider"
"""The canonical execution-provider name reported by ``InferenceSession.get_providers()``."""
PROVIDER_ALIASES: Final[Tuple[str, ...]] = (PROVIDER_NAME, "RKNNExecutionProvider")
"""Provider names that select this runtime in ``providers``."""
CPU_PROVIDER_NAME: Final = "CPUExecutionProvider"
"""ONNX Runtime's CPU provider: accepted in ``providers`` and ignored (this runtime only runs on the NPU)."""

MAX_NPU_CORES: Final = 3
"""RKNPU2 SoCs have at most three NPU cores (RK3588); valid core indices are ``0 .. MAX_NPU_CORES - 1``."""

TP_MODE_CORE_MASKS: Final[Mapping[str, int]] = {
    "auto": 0,  # RKNN_NPU_CORE_AUTO
    "all": 0xFFFF,  # RKNN_NPU_CORE_ALL
    "0": 1,  # RKNN_NPU_CORE_0
    "1": 2,  # RKNN_NPU_CORE_1
    "2": 4,  # RKNN_NPU_CORE_2
    "0,1": 3,  # RKNN_NPU_CORE_0_1
    "0,1,2": 7,  # RKNN_NPU_CORE_0_1_2
}
"""Canonical ``tp_mode`` text → ``rknn_core_mask`` value."""
_CORE_MASK_AUTO: Final = 0

_LAYOUT_ALIASES: Final[Mapping[str, Layout]] = {
    "nchw": "nchw",
    "original": "nchw",
    "nchw_software": "nchw_software",
    "original_software": "nchw_software",
    "nhwc": "nhwc",
    "any": "any",
}
_LAYOUTS: Final[Tuple[Layout, ...]] = ("nchw", "nchw_software", "nhwc", "any")
_ZERO_COPY_LAYOUTS: Final[Mapping[str, ZeroCopyLayout]] = {"nhwc": "nhwc", "native": "native"}

MEM_FLAGS: Final[Mapping[str, int]] = {
    "default": 0,  # RKNN_FLAG_MEMORY_CACHEABLE
    "cacheable": 0,
    "non_cacheable": 2,  # RKNN_FLAG_MEMORY_NON_CACHEABLE
    "non-cacheable": 2,
    "uncached": 2,
    "try_sram": 4,  # RKNN_FLAG_MEMORY_TRY_ALLOC_SRAM
    "sram": 4,
}
"""``mem_flags`` names → ``RKNN_FLAG_MEMORY_*`` values."""

_TRUE_STRINGS: Final = ("1", "true", "on", "yes")
_FALSE_STRINGS: Final = ("0", "false", "off", "no")

# Upper bounds: generous, but they catch unit mistakes (seconds given as a huge int, a typo'd extra digit).
_MAX_THREADS_PER_CORE: Final = 16
_MAX_QUEUE_SIZE: Final = 1_000_000
_MAX_CALLBACK_BACKLOG: Final = 1_000_000
_MAX_TIMEOUT_MS: Final = 2**31 - 1  # about 24.8 days; fits a C int and threading's timeout range
_MAX_MEM_FLAGS: Final = 2**64 - 1

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

DISPATCH_BATCH_KEY: Final = "ztu_modelrt_dispatch_batch"
RUN_OPTION_KEYS: Final[Tuple[str, ...]] = (DISPATCH_BATCH_KEY, "native_outputs", "run_timeout_ms", "tag")
"""Every key accepted in a ``run_options`` dict (and read from a ``RunOptions`` object's config entries)."""


# ----------------------------------------------------------------------------------------------------------
# Small validators: each names the option, shows the value's repr and type, and says what was expected
# ----------------------------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    """``repr`` of *value* (shortened) and its type name, for error messages."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = "<unrepresentable>"
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{text} (type {type(value).__name__})"


def _closest(key: str, choices: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice, or ``""``."""
    matches = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_MAX_INT_DIGITS: Final = 40  # beyond every bound here; also keeps int() clear of its 4300-digit limit
_SATURATED: Final[int] = 10**40


def _int_from_text(text: str) -> int:
    """The value of a string matching :data:`_INT_RE`; absurdly long numbers saturate at ±10**40."""
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > _MAX_INT_DIGITS:
        return -_SATURATED if text.startswith("-") else _SATURATED
    return int(text)


def _as_int(value: object) -> Optional[int]:
    """*value* as an int if it is int-like (never for ``bool``), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.fullmatch(text) is None:
            return None
        return _int_from_text(text)
    if isinstance(value, (float, complex, bytes, bytearray)) or type(value).__name__ in ("bool", "bool_"):
        # Floats are refused even when integral; numpy booleans are booleans.
        return None
    if hasattr(type(value), "__index__"):
        try:
            return operator.index(cast(SupportsIndex, value))  # numpy integers and the like
        except Exception:  # noqa: BLE001 - any failing __index__ means "not an integer"
            return None
    return None


def _check_int(value: object, name: str, *, minimum: int = 1, maximum: int) -> int:
    """Validate an int-like option (``bool`` rejected) and its bounds."""
    number = _as_int(value)
    if number is None:
        if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):  # incl. numpy booleans
            raise InvalidOptionError(
                f"{name} must be an integer; booleans are not accepted for numeric options, got {_describe(value)}"
            )
        raise InvalidOptionError(
            f"{name} must be an integer (an int or a base-10 integer string), got {_describe(value)}"
        )
    if number < minimum:
        # "> 0" is the peer's wording for the positive options.
        bound = "> 0" if minimum == 1 else f">= {minimum}"
        raise InvalidOptionError(f"{name} must be {bound}, got {_describe(value)}")
    if number > maximum:
        raise InvalidOptionError(f"{name} must be <= {maximum}, got {_describe(value)}")
    return number


def _check_optional_int(value: object, name: str, *, maximum: int) -> Optional[int]:
    """Like :func:`_check_int` (``> 0``), with ``None`` accepted as "unset"."""
    if value is None:
        return None
    return _check_int(value, name, maximum=maximum)


def _check_bool(value: object, name: str) -> bool:
    """Validate a bool-like option."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_STRINGS:
            return True
        if text in _FALSE_STRINGS:
            return False
    elif type(value).__name__ in ("bool", "bool_") and hasattr(value, "item"):
        try:
            item = value.item()  # numpy booleans
        except Exception:  # noqa: BLE001 - not a numpy boolean after all
            item = None
        if isinstance(item, bool):
            return item
    else:
        number = _as_int(value)
        if number in (0, 1):
            return bool(number)
    raise InvalidOptionError(
        f"{name} must be a boolean (True/False, 0/1, or one of the strings "
        f"{', '.join(_TRUE_STRINGS)} / {', '.join(_FALSE_STRINGS)}), got {_describe(value)}"
    )


def _check_choice(value: object, name: str, table: Mapping[str, _T], *, unknown: Callable[[object], str]) -> _T:
    """Validate a case-insensitive, trimmed string choice; *unknown* builds the message for a bad string."""
    if not isinstance(value, str):
        raise InvalidOptionError(
            f"{name} must be a string, one of: {', '.join(table)}; got {_describe(value)}"
        )
    key = value.strip().lower()
    if key not in table:
        raise InvalidOptionError(unknown(value))
    return table[key]


def _check_layout(value: object, name: str = "layout") -> Layout:
    # The peer's message names the original string ("Unknown layout: X"); the accepted values are added.
    return _check_choice(
        value,
        name,
        _LAYOUT_ALIASES,
        unknown=lambda v: f"Unknown layout: {v}, expected one of: {', '.join(_LAYOUT_ALIASES)}",
    )


def _check_zero_copy_layout(value: object, name: str = "zero_copy_layout") -> ZeroCopyLayout:
    return _check_choice(
        value,
        name,
        _ZERO_COPY_LAYOUTS,
        unknown=lambda v: f"Unknown zero_copy_layout: {v}, expected 'nhwc' or 'native'",
    )


def _check_tp_mode(value: object, name: str = "tp_mode") -> str:
    table = {mode: mode for mode in TP_MODE_CORE_MASKS}
    return _check_choice(
        value,
        name,
        table,
        unknown=lambda v: (
            f"invalid tp_mode: '{str(v).strip().lower()}', expected one of: {', '.join(TP_MODE_CORE_MASKS)}"
        ),
    )


def _is_bytes_like(value: object) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview))


def _as_items(value: object, name: str) -> Optional[List[object]]:
    """The items of *value* if it is a sequence-like container, else ``None``.

    Strings, bytes, mappings and sets are not sequences here; other iterables (lists, tuples, ranges,
    numpy arrays, iterators) are, and are read once.
    """
    if isinstance(value, (str, _AbcMapping, _AbcSet)) or _is_bytes_like(value):
        return None
    if not isinstance(value, _AbcIterable):
        return None
    try:
        return list(value)
    except TypeError:  # e.g. a 0-d numpy array: not a sequence
        return None
    except Exception as exc:  # noqa: BLE001 - a failing iterator is reported as a bad option
        raise InvalidOptionError(f"{name}: reading the items of {_describe(value)} failed: {exc!r}") from exc


def _check_schedule(value: object, name: str = "schedule") -> Tuple[int, ...]:
    """Validate a data-parallel schedule into a non-empty tuple of core indices."""
    expected = "an integer, a string such as '0,1,2', or a sequence of integers"
    items: List[Tuple[object, int]] = []  # (original item, parsed value)
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise InvalidOptionError(
            f"{name} must be {expected}; booleans are not accepted, got {_describe(value)}"
        )
    if isinstance(value, str):
        tokens = value.replace("[", " ").replace("]", " ").replace(",", " ").split()
        for token in tokens:
            if _INT_RE.fullmatch(token) is None:
                raise InvalidOptionError(
                    f"{name} must contain integers, got the token {token!r} in {_describe(value)}"
                )
            items.append((token, _int_from_text(token)))
    elif _is_bytes_like(value):
        raise InvalidOptionError(f"{name} must be {expected}; bytes are not accepted, got {_describe(value)}")
    else:
        single = _as_int(value)
        if single is not None:
            items.append((value, single))
        else:
            sequence = _as_items(value, name)
            if sequence is None:
                raise InvalidOptionError(f"{name} must be {expected}, got {_describe(value)}")
            for index, item in enumerate(sequence):
                number = _as_int(item)
                if number is None:
                    raise InvalidOptionError(
                        f"{name} must contain integers (ints or base-10 integer strings), "
                        f"got {_describe(item)} at index {index}"
                    )
                items.append((item, number))
    if not items:
        raise InvalidOptionError(f"{name} must not be empty, got {_describe(value)}")
    for item, number in items:
        if number < 0:
            raise InvalidOptionError(f"{name} values must be >= 0, got {_describe(item)}")
        if number >= MAX_NPU_CORES:
            raise InvalidOptionError(
                f"{name} values must be NPU core indices 0, 1 or 2 (RKNPU2 SoCs have at most "
                f"{MAX_NPU_CORES} cores), got {_describe(item)}"
            )
    return tuple(number for _, number in items)


def _check_path(value: object, name: str) -> str:
    """Validate one path: ``str`` or ``os.PathLike[str]``, non-empty, without NUL."""
    if _is_bytes_like(value):
        raise InvalidOptionError(
            f"{name} must be a str or os.PathLike path; bytes paths are not supported "
            f"(decode them with os.fsdecode()), got {_describe(value)}"
        )
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidOptionError(f"{name} must be a path-like object or string, got {_describe(value)}")
    try:
        path = os.fspath(value)
    except Exception as exc:  # noqa: BLE001 - a broken __fspath__ is reported as a bad option
        raise InvalidOptionError(f"{name}: os.fspath() failed for {_describe(value)}: {exc}") from exc
    if not isinstance(path, str):
        raise InvalidOptionError(
            f"{name} must be a str or os.PathLike path; bytes paths are not supported "
            f"(decode them with os.fsdecode()), got {_describe(value)} whose __fspath__ returned {_describe(path)}"
        )
    if not path:
        raise InvalidOptionError(f"{name} must not be an empty path, got {_describe(value)}")
    if "\x00" in path:
        raise InvalidOptionError(f"{name} must not contain a NUL character, got {_describe(value)}")
    return path


def _check_paths(value: object, name: str) -> Tuple[str, ...]:
    """Validate a path or a sequence of paths."""
    if isinstance(value, (str, os.PathLike)) or _is_bytes_like(value):
        return (_check_path(value, name),)
    sequence = _as_items(value, name)
    if sequence is None:
        raise InvalidOptionError(
            f"{name} must be a path-like object or sequence of path-like objects, got {_describe(value)}"
        )
    return tuple(_check_path(item, f"{name}[{index}]") for index, item in enumerate(sequence))


def _check_runtime_library(value: object, name: str = "runtime_library") -> Optional[str]:
    if value is None:
        return None
    return _check_path(value, name)


def _check_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidOptionError(f"{name} must be a string, got {_describe(value)}")
    return value


def _check_option_keys(options: Mapping[Any, object], what: str, accepted: Sequence[str]) -> None:
    """Reject non-``str`` and unknown keys, naming the closest accepted key and listing all of them."""
    for key in options:
        if not isinstance(key, str):
            raise InvalidOptionError(f"{what} keys must be strings, got the key {_describe(key)}")
        if key not in accepted:
            raise InvalidOptionError(
                f"Unknown {what} key: {key}.{_closest(key, accepted)} Supported keys: {', '.join(accepted)}"
            )


# ----------------------------------------------------------------------------------------------------------
# Provider options
# ----------------------------------------------------------------------------------------------------------


class RknnProviderOptions(TypedDict, total=False):
    """The ``provider_options`` dict of this runtime (every key optional).

    The peer's keys and aliases, plus ``zero_copy_layout`` (accepted but not listed by the peer),
    ``runtime_library``, ``native_outputs``, ``run_timeout_ms`` and ``callback_backlog``.  Values may also
    be given in the looser spellings described in the module docstring (numeric strings, ``"true"``, ...).
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
            f"ProviderConfig.{field} must be {expected}, got {_describe(getattr(config, field))}"
        )

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if config.layout not in _LAYOUTS:
        raise fail("layout", f"one of: {', '.join(_LAYOUTS)}")
    if config.zero_copy_layout not in _ZERO_COPY_LAYOUTS:
        raise fail("zero_copy_layout", "'nhwc' or 'native'")
    for field, maximum in (
        ("max_queue_size", _MAX_QUEUE_SIZE),
        ("threads_per_core", _MAX_THREADS_PER_CORE),
        ("submit_timeout_ms", _MAX_TIMEOUT_MS),
        ("callback_backlog", _MAX_CALLBACK_BACKLOG),
    ):
        value = getattr(config, field)
        if not is_int(value) or not 0 < value <= maximum:
            raise fail(field, f"an int in 1..{maximum}")
    if config.run_timeout_ms is not None and (
        not is_int(config.run_timeout_ms) or not 0 < config.run_timeout_ms <= _MAX_TIMEOUT_MS
    ):
        raise fail("run_timeout_ms", f"None or an int in 1..{_MAX_TIMEOUT_MS}")
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


def _parse_option_dict(options: Mapping[Any, object], providers: Tuple[str, ...]) -> ProviderConfig:
    """Validate one ``provider_options`` dict (keys in iteration order; the first bad key raises)."""
    _check_option_keys(options, "provider_options", PROVIDER_OPTION_KEYS)
    values: Dict[str, Any] = {}
    custom_op_paths: List[str] = []
    for key, value in options.items():
        if key == "layout":
            values["layout"] = _check_layout(value)
        elif key == "zero_copy_layout":
            values["zero_copy_layout"] = _check_zero_copy_layout(value)
        elif key == "max_queue_size":
            values[key] = _check_int(value, key, maximum=_MAX_QUEUE_SIZE)
        elif key == "threads_per_core":
            values[key] = _check_int(value, key, maximum=_MAX_THREADS_PER_CORE)
        elif key == "submit_timeout_ms":
            values[key] = _check_int(value, key, maximum=_MAX_TIMEOUT_MS)
        elif key == "callback_backlog":
            values[key] = _check_int(value, key, maximum=_MAX_CALLBACK_BACKLOG)
        elif key == "run_timeout_ms":
            values[key] = _check_optional_int(value, key, maximum=_MAX_TIMEOUT_MS)
        elif key in ("sequential_callbacks", "enable_pacing", "disable_dup_context", "native_outputs"):
            values[key] = _check_bool(value, key)
        elif key in ("custom_op_default_path", "load_custom_ops_from_default_path"):
            values["custom_op_default_path"] = _check_bool(value, key)  # aliases: the last one wins
        elif key in ("custom_op_path", "custom_op_paths"):
            if value is not None:  # None = nothing to add
                custom_op_paths.extend(_check_paths(value, key))  # aliases: both append
        elif key == "schedule":
            values[key] = None if value is None else _check_schedule(value)
        elif key == "tp_mode":
            values[key] = None if value is None else _check_tp_mode(value)
        else:  # key == "runtime_library" (the key check above leaves nothing else)
            values["runtime_library"] = _check_runtime_library(value)
    if values.get("schedule") is not None and values.get("tp_mode") is not None:
        raise InvalidOptionError("provider_options 'tp_mode' conflicts with 'schedule'; set only one.")
    if values.get("tp_mode") is not None:
        values["core_mask"] = TP_MODE_CORE_MASKS[values["tp_mode"]]
    values["custom_op_paths"] = tuple(custom_op_paths)
    return ProviderConfig(providers=providers, **values)


def _as_option_dict(value: object, what: str) -> Mapping[Any, object]:
    if value is None:
        return {}
    if not isinstance(value, _AbcMapping):
        raise InvalidOptionError(f"{what} must be a dict of options, got {_describe(value)}")
    return value


def _normalise_providers(providers: object) -> Tuple[Optional[int], Optional[str], Mapping[Any, object], int]:
    """Read ORT-style ``providers``.

    Returns:
        ``(index of our provider or None, its name or None, options from its (name, dict) tuple,
        number of entries)``.
    """
    if isinstance(providers, str) or _is_bytes_like(providers):
        raise InvalidOptionError(
            f"providers must be a list of provider names or (name, options dict) tuples, "
            f"not a single string; got {_describe(providers)} (did you mean [{providers!r}]?)"
        )
    if isinstance(providers, (_AbcMapping, _AbcSet)):
        raise InvalidOptionError(
            f"providers must be a list of provider names or (name, options dict) tuples, got {_describe(providers)}"
        )
    entries = _as_items(providers, "providers")
    if entries is None:
        raise InvalidOptionError(
            f"providers must be a list of provider names or (name, options dict) tuples, got {_describe(providers)}"
        )
    accepted = ", ".join((*PROVIDER_ALIASES, CPU_PROVIDER_NAME))
    ours: Optional[int] = None
    our_name: Optional[str] = None
    our_options: Mapping[Any, object] = {}
    seen: List[str] = []
    count = 0
    for index, entry in enumerate(entries):
        count += 1
        options: Mapping[Any, object] = {}
        if isinstance(entry, str):
            name = entry
        elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
            name = entry[0]
            options = _as_option_dict(entry[1], f"the options of providers[{index}] ({name!r})")
        else:
            raise InvalidOptionError(
                f"providers[{index}] must be a provider name or a (name, options dict) tuple, got {_describe(entry)}"
            )
        if name not in PROVIDER_ALIASES and name != CPU_PROVIDER_NAME:
            raise InvalidOptionError(
                f"Unknown execution provider: {name!r}.{_closest(name, (*PROVIDER_ALIASES, CPU_PROVIDER_NAME))} "
                f"Accepted providers: {accepted}"
            )
        canonical = PROVIDER_NAME if name in PROVIDER_ALIASES else name
        if canonical in seen:
            raise InvalidOptionError(
                f"providers lists the {canonical} provider more than once (providers[{index}] = {name!r})"
            )
        seen.append(canonical)
        if canonical == PROVIDER_NAME:
            ours, our_name, our_options = index, name, options
        # CPUExecutionProvider options are accepted and ignored, like the provider itself.
    return ours, our_name, our_options, count


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
    our_index: Optional[int] = None
    our_name: Optional[str] = None
    tuple_options: Mapping[Any, object] = {}
    provider_count: Optional[int] = None
    if providers is not None:
        our_index, our_name, tuple_options, provider_count = _normalise_providers(providers)

    options: Mapping[Any, object]
    if provider_options is None:
        options = {}
    elif isinstance(provider_options, _AbcMapping):
        options = provider_options
    else:
        entries = _as_items(provider_options, "provider_options")
        if entries is None:
            raise InvalidOptionError(
                "provider_options must be a dict or a sequence whose first element is a dict, "
                f"got {_describe(provider_options)}"
            )
        for index, entry in enumerate(entries):
            if not isinstance(entry, _AbcMapping):
                raise InvalidOptionError(
                    "provider_options must be a dict or a sequence whose first element is a dict; "
                    f"provider_options[{index}] is {_describe(entry)}"
                )
        if provider_count is None:
            if len(entries) > 1:
                raise InvalidOptionError(
                    f"provider_options has {len(entries)} dicts but providers is not given; pass a single dict, "
                    "or a providers list of the same length"
                )
            options = cast(Mapping[Any, object], entries[0]) if entries else {}
        else:
            if len(entries) != provider_count:
                raise InvalidOptionError(
                    f"provider_options has {len(entries)} entries but providers has {provider_count}; "
                    "they must have the same length"
                )
            options = cast(Mapping[Any, object], entries[our_index]) if our_index is not None else {}

    if tuple_options and options:
        for key in options:
            if key in tuple_options:
                raise InvalidOptionError(
                    f"provider option {key!r} is given both in providers and in provider_options; give it once"
                )
    merged: Dict[Any, object] = dict(tuple_options)
    merged.update(options)
    return _parse_option_dict(merged, (our_name or PROVIDER_NAME,))


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
            items = _as_items(custom_op_paths, "custom_op_paths")
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


# ----------------------------------------------------------------------------------------------------------
# Run options
# ----------------------------------------------------------------------------------------------------------


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


def _check_log_severity(value: object, name: str) -> int:
    # -1 is ONNX Runtime's "use the default" value.
    return _check_int(value, name, minimum=-1, maximum=4)


def _check_non_negative(value: object, name: str, maximum: int = 2**31 - 1) -> int:
    return _check_int(value, name, minimum=0, maximum=maximum)


class _ConfigEntries:
    """ORT's ``add_*_config_entry`` / ``get_*_config_entry`` pair over a dict of strings."""

    __slots__ = ()
    _entries: Dict[str, str]
    _entry_owner: str = "Options"

    def _add_entry(self, key: object, value: object, method: str) -> None:
        if not isinstance(key, str):
            raise TypeError(f"{method}: key must be a str, got {_describe(key)}")
        if not isinstance(value, str):
            raise TypeError(f"{method}: value must be a str, got {_describe(value)}")
        self._entries[key] = value

    def _get_entry(self, key: object, method: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"{method}: key must be a str, got {_describe(key)}")
        try:
            return self._entries[key]
        except KeyError:
            # ONNX Runtime raises a RuntimeError with this text for a missing entry.
            raise InvalidOptionError(
                f"{self._entry_owner} does not have configuration with key: {key}"
            ) from None


class _Checked(Generic[_T]):
    """A validated attribute: stored in ``_<name>``, every assignment goes through ``check(value, name)``."""

    def __init__(self, check: Callable[[object, str], _T], doc: str) -> None:
        self._check = check
        self._name = ""
        self._attr = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._attr = "_" + name

    @overload
    def __get__(self, obj: None, owner: Optional[type] = None) -> "_Checked[_T]": ...

    @overload
    def __get__(self, obj: object, owner: Optional[type] = None) -> _T: ...

    def __get__(self, obj: object, owner: Optional[type] = None) -> "Union[_T, _Checked[_T]]":
        if obj is None:
            return self
        value: _T = getattr(obj, self._attr)
        return value

    def __set__(self, obj: object, value: object) -> None:
        object.__setattr__(obj, self._attr, self._check(value, self._name))


class RunOptions(_ConfigEntries):
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

    log_severity_level = _Checked(_check_log_severity, "0 (verbose) .. 4 (fatal); -1 = default.")
    log_verbosity_level = _Checked(_check_non_negative, "VLOG level (>= 0).")
    logid = _Checked(_check_str, "Log id; used as the run's profiling tag.")
    terminate = _Checked(_check_bool, "Accepted for compatibility; no effect.")
    only_execute_path_to_fetches = _Checked(
        _check_bool, "Accepted for compatibility; no effect."
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
        dispatch_batch=False if batch is None else _check_bool(batch, DISPATCH_BATCH_KEY),
        native_outputs=None if native is None else _check_bool(native, "native_outputs"),
        run_timeout_ms=_check_optional_int(timeout, "run_timeout_ms", maximum=_MAX_TIMEOUT_MS),
        tag=None if tag is None else _check_str(tag, "tag"),
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
        _check_option_keys(obj, "run_options", RUN_OPTION_KEYS)
        return _run_config_from_values(obj)
    getter = getattr(obj, "get_run_config_entry", None)
    if getter is None or not callable(getter):
        raise InvalidOptionError(
            f"run_options must be None, a dict or a RunOptions object, got {_describe(obj)}"
        )
    if isinstance(obj, RunOptions):
        for key in obj._entries:  # noqa: SLF001 - same module
            if key.startswith("ztu_") and key not in RUN_OPTION_KEYS:
                raise InvalidOptionError(
                    f"Unknown run config entry: {key}.{_closest(key, RUN_OPTION_KEYS)} "
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


# ----------------------------------------------------------------------------------------------------------
# Session options
# ----------------------------------------------------------------------------------------------------------


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
    number = _as_int(value) if not isinstance(value, str) else None
    if number is None:
        raw = getattr(value, "value", None)  # e.g. onnxruntime's pybind enums
        number = _as_int(raw) if not isinstance(raw, str) else None
    members = ", ".join(f"{member.name} ({int(member)})" for member in enum_type)
    if number is not None:
        try:
            return enum_type(number)
        except ValueError:
            pass
    raise InvalidOptionError(f"{name} must be one of {enum_type.__name__}: {members}; got {_describe(value)}")


def _check_graph_level(value: object, name: str) -> GraphOptimizationLevel:
    return _check_enum(GraphOptimizationLevel, value, name)


def _check_execution_mode(value: object, name: str) -> ExecutionMode:
    return _check_enum(ExecutionMode, value, name)


def _check_threads(value: object, name: str) -> int:
    return _check_int(value, name, minimum=0, maximum=1024)


class SessionOptions(_ConfigEntries):
    """A stand-in for ``onnxruntime.SessionOptions`` with its commonly used attributes.

    Attributes are type-checked on assignment (:class:`InvalidOptionError`, which is also a
    :class:`ValueError`; a misspelt attribute raises :class:`AttributeError`).  ``enable_profiling``,
    ``profile_file_prefix``, ``log_severity_level`` and ``logid`` are used by the session; the others are
    accepted for compatibility and have no effect (RKNN models are compiled ahead of time, and the worker
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

    enable_profiling = _Checked(_check_bool, "Record a profile (see end_profiling).")
    profile_file_prefix = _Checked(
        _check_str, "Prefix of the profile file written by end_profiling()."
    )
    log_severity_level = _Checked(_check_log_severity, "0 (verbose) .. 4 (fatal); -1 = default.")
    log_verbosity_level = _Checked(_check_non_negative, "VLOG level (>= 0).")
    logid = _Checked(_check_str, "Log id (the session's logger name suffix).")
    intra_op_num_threads = _Checked(_check_threads, "Accepted; no effect.")
    inter_op_num_threads = _Checked(_check_threads, "Accepted; no effect.")
    graph_optimization_level = _Checked(
        _check_graph_level, "Accepted; no effect."
    )
    execution_mode = _Checked(_check_execution_mode, "Accepted; no effect.")
    enable_cpu_mem_arena = _Checked(_check_bool, "Accepted; no effect.")
    enable_mem_pattern = _Checked(_check_bool, "Accepted; no effect.")
    enable_mem_reuse = _Checked(_check_bool, "Accepted; no effect.")
    use_deterministic_compute = _Checked(_check_bool, "Accepted; no effect.")
    optimized_model_filepath = _Checked(_check_str, "Accepted; no effect.")

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
            f"sess_options must be None or a SessionOptions object, got {_describe(obj)}"
        )
    default = SessionConfig()

    def read(attr: str, check: Callable[[object, str], _T], fallback: _T) -> _T:
        value = getattr(obj, attr, None)
        return fallback if value is None else check(value, f"sess_options.{attr}")

    return SessionConfig(
        enable_profiling=read("enable_profiling", _check_bool, default.enable_profiling),
        profile_file_prefix=read("profile_file_prefix", _check_str, default.profile_file_prefix),
        log_severity_level=read("log_severity_level", _check_log_severity, default.log_severity_level),
        logid=read("logid", _check_str, default.logid),
    )


# ----------------------------------------------------------------------------------------------------------
# Zero-copy memory flags (peer §13.2)
# ----------------------------------------------------------------------------------------------------------


def parse_mem_flags(value: object, name: str = "mem_flags") -> int:
    """Validate zero-copy allocation flags.

    Args:
        value: ``None`` (0), a name from :data:`MEM_FLAGS` (case-insensitive, trimmed), or a non-negative
            integer (``bool`` rejected) taken as is.
        name: The argument name used in error messages.

    Returns:
        The ``RKNN_FLAG_MEMORY_*`` value.

    Raises:
        InvalidOptionError: for an unknown name, a negative or too large integer, or another type.
    """
    if value is None:
        return 0
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in MEM_FLAGS:
            raise InvalidOptionError(
                f"{name} must be one of: default, cacheable, non_cacheable, try_sram "
                f"(aliases: non-cacheable, uncached, sram), got {_describe(value)}"
            )
        return MEM_FLAGS[key]
    if isinstance(value, bool) or _as_int(value) is None:
        raise InvalidOptionError(f"{name} must be a string, integer, or None, got {_describe(value)}")
    return _check_int(value, name, minimum=0, maximum=_MAX_MEM_FLAGS)
