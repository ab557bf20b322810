"""Value checks shared by the option parsers: int-like, bool-like, paths, schedule, tp_mode, layout, mem_flags.

Each check names the option, shows the offending value's ``repr`` and type, says what was expected, and
raises :class:`~.errors.InvalidOptionError`.  The accepted spellings (and where they deliberately differ
from the peer's) are documented in :mod:`.options`; the type aliases below name them.
"""
from __future__ import annotations

import difflib
import operator
import os
import re
from collections.abc import Iterable as _AbcIterable
from collections.abc import Mapping as _AbcMapping
from collections.abc import Set as _AbcSet
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union, cast

from typing_extensions import Final, Literal, SupportsIndex

from .errors import InvalidOptionError

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


_LAYOUT_ALIASES: Final[Mapping[str, Layout]] = {
    "nchw": "nchw",
    "original": "nchw",
    "nchw_software": "nchw_software",
    "original_software": "nchw_software",
    "nhwc": "nhwc",
    "any": "any",
}
LAYOUTS: Final[Tuple[Layout, ...]] = ("nchw", "nchw_software", "nhwc", "any")
ZERO_COPY_LAYOUTS: Final[Mapping[str, ZeroCopyLayout]] = {"nhwc": "nhwc", "native": "native"}

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

# Upper bound of every timeout in ms.
MAX_TIMEOUT_MS: Final = 2**31 - 1  # about 24.8 days; fits a C int and threading's timeout range
_MAX_MEM_FLAGS: Final = 2**64 - 1


# ----------------------------------------------------------------------------------------------------------
# Small validators: each names the option, shows the value's repr and type, and says what was expected
# ----------------------------------------------------------------------------------------------------------


def describe(value: object) -> str:
    """``repr`` of *value* (shortened) and its type name, for error messages."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = "<unrepresentable>"
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{text} (type {type(value).__name__})"


def closest(key: str, choices: Sequence[str]) -> str:
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


def as_int(value: object) -> Optional[int]:
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


def check_int(value: object, name: str, *, minimum: int = 1, maximum: int) -> int:
    """Validate an int-like option (``bool`` rejected) and its bounds."""
    number = as_int(value)
    if number is None:
        if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):  # incl. numpy booleans
            raise InvalidOptionError(
                f"{name} must be an integer; booleans are not accepted for numeric options, got {describe(value)}"
            )
        raise InvalidOptionError(
            f"{name} must be an integer (an int or a base-10 integer string), got {describe(value)}"
        )
    if number < minimum:
        # "> 0" is the peer's wording for the positive options.
        bound = "> 0" if minimum == 1 else f">= {minimum}"
        raise InvalidOptionError(f"{name} must be {bound}, got {describe(value)}")
    if number > maximum:
        raise InvalidOptionError(f"{name} must be <= {maximum}, got {describe(value)}")
    return number


def check_optional_int(value: object, name: str, *, maximum: int) -> Optional[int]:
    """Like :func:`check_int` (``> 0``), with ``None`` accepted as "unset"."""
    if value is None:
        return None
    return check_int(value, name, maximum=maximum)


def check_bool(value: object, name: str) -> bool:
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
        number = as_int(value)
        if number in (0, 1):
            return bool(number)
    raise InvalidOptionError(
        f"{name} must be a boolean (True/False, 0/1, or one of the strings "
        f"{', '.join(_TRUE_STRINGS)} / {', '.join(_FALSE_STRINGS)}), got {describe(value)}"
    )


def _check_choice(value: object, name: str, table: Mapping[str, _T], *, unknown: Callable[[object], str]) -> _T:
    """Validate a case-insensitive, trimmed string choice; *unknown* builds the message for a bad string."""
    if not isinstance(value, str):
        raise InvalidOptionError(
            f"{name} must be a string, one of: {', '.join(table)}; got {describe(value)}"
        )
    key = value.strip().lower()
    if key not in table:
        raise InvalidOptionError(unknown(value))
    return table[key]


def check_layout(value: object, name: str = "layout") -> Layout:
    # The peer's message names the original string ("Unknown layout: X"); the accepted values are added.
    return _check_choice(
        value,
        name,
        _LAYOUT_ALIASES,
        unknown=lambda v: f"Unknown layout: {v}, expected one of: {', '.join(_LAYOUT_ALIASES)}",
    )


def check_zero_copy_layout(value: object, name: str = "zero_copy_layout") -> ZeroCopyLayout:
    return _check_choice(
        value,
        name,
        ZERO_COPY_LAYOUTS,
        unknown=lambda v: f"Unknown zero_copy_layout: {v}, expected 'nhwc' or 'native'",
    )


def check_tp_mode(value: object, name: str = "tp_mode") -> str:
    table = {mode: mode for mode in TP_MODE_CORE_MASKS}
    return _check_choice(
        value,
        name,
        table,
        unknown=lambda v: (
            f"invalid tp_mode: '{str(v).strip().lower()}', expected one of: {', '.join(TP_MODE_CORE_MASKS)}"
        ),
    )


def is_bytes_like(value: object) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview))


def as_items(value: object, name: str) -> Optional[List[object]]:
    """The items of *value* if it is a sequence-like container, else ``None``.

    Strings, bytes, mappings and sets are not sequences here; other iterables (lists, tuples, ranges,
    numpy arrays, iterators) are, and are read once.
    """
    if isinstance(value, (str, _AbcMapping, _AbcSet)) or is_bytes_like(value):
        return None
    if not isinstance(value, _AbcIterable):
        return None
    try:
        return list(value)
    except TypeError:  # e.g. a 0-d numpy array: not a sequence
        return None
    except Exception as exc:  # noqa: BLE001 - a failing iterator is reported as a bad option
        raise InvalidOptionError(f"{name}: reading the items of {describe(value)} failed: {exc!r}") from exc


def check_schedule(value: object, name: str = "schedule") -> Tuple[int, ...]:
    """Validate a data-parallel schedule into a non-empty tuple of core indices."""
    expected = "an integer, a string such as '0,1,2', or a sequence of integers"
    items: List[Tuple[object, int]] = []  # (original item, parsed value)
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise InvalidOptionError(
            f"{name} must be {expected}; booleans are not accepted, got {describe(value)}"
        )
    if isinstance(value, str):
        tokens = value.replace("[", " ").replace("]", " ").replace(",", " ").split()
        for token in tokens:
            if _INT_RE.fullmatch(token) is None:
                raise InvalidOptionError(
                    f"{name} must contain integers, got the token {token!r} in {describe(value)}"
                )
            items.append((token, _int_from_text(token)))
    elif is_bytes_like(value):
        raise InvalidOptionError(f"{name} must be {expected}; bytes are not accepted, got {describe(value)}")
    else:
        single = as_int(value)
        if single is not None:
            items.append((value, single))
        else:
            sequence = as_items(value, name)
            if sequence is None:
                raise InvalidOptionError(f"{name} must be {expected}, got {describe(value)}")
            for index, item in enumerate(sequence):
                number = as_int(item)
                if number is None:
                    raise InvalidOptionError(
                        f"{name} must contain integers (ints or base-10 integer strings), "
                        f"got {describe(item)} at index {index}"
                    )
                items.append((item, number))
    if not items:
        raise InvalidOptionError(f"{name} must not be empty, got {describe(value)}")
    for item, number in items:
        if number < 0:
            raise InvalidOptionError(f"{name} values must be >= 0, got {describe(item)}")
        if number >= MAX_NPU_CORES:
            raise InvalidOptionError(
                f"{name} values must be NPU core indices 0, 1 or 2 (RKNPU2 SoCs have at most "
                f"{MAX_NPU_CORES} cores), got {describe(item)}"
            )
    return tuple(number for _, number in items)


def _check_path(value: object, name: str) -> str:
    """Validate one path: ``str`` or ``os.PathLike[str]``, non-empty, without NUL."""
    if is_bytes_like(value):
        raise InvalidOptionError(
            f"{name} must be a str or os.PathLike path; bytes paths are not supported "
            f"(decode them with os.fsdecode()), got {describe(value)}"
        )
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidOptionError(f"{name} must be a path-like object or string, got {describe(value)}")
    try:
        path = os.fspath(value)
    except Exception as exc:  # noqa: BLE001 - a broken __fspath__ is reported as a bad option
        raise InvalidOptionError(f"{name}: os.fspath() failed for {describe(value)}: {exc}") from exc
    if not isinstance(path, str):
        raise InvalidOptionError(
            f"{name} must be a str or os.PathLike path; bytes paths are not supported "
            f"(decode them with os.fsdecode()), got {describe(value)} whose __fspath__ returned {describe(path)}"
        )
    if not path:
        raise InvalidOptionError(f"{name} must not be an empty path, got {describe(value)}")
    if "\x00" in path:
        raise InvalidOptionError(f"{name} must not contain a NUL character, got {describe(value)}")
    return path


def check_paths(value: object, name: str) -> Tuple[str, ...]:
    """Validate a path or a sequence of paths."""
    if isinstance(value, (str, os.PathLike)) or is_bytes_like(value):
        return (_check_path(value, name),)
    sequence = as_items(value, name)
    if sequence is None:
        raise InvalidOptionError(
            f"{name} must be a path-like object or sequence of path-like objects, got {describe(value)}"
        )
    return tuple(_check_path(item, f"{name}[{index}]") for index, item in enumerate(sequence))


def check_runtime_library(value: object, name: str = "runtime_library") -> Optional[str]:
    if value is None:
        return None
    return _check_path(value, name)


def check_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidOptionError(f"{name} must be a string, got {describe(value)}")
    return value


def check_option_keys(options: Mapping[Any, object], what: str, accepted: Sequence[str]) -> None:
    """Reject non-``str`` and unknown keys, naming the closest accepted key and listing all of them."""
    for key in options:
        if not isinstance(key, str):
            raise InvalidOptionError(f"{what} keys must be strings, got the key {describe(key)}")
        if key not in accepted:
            raise InvalidOptionError(
                f"Unknown {what} key: {key}.{closest(key, accepted)} Supported keys: {', '.join(accepted)}"
            )


def check_log_severity(value: object, name: str) -> int:
    # -1 is ONNX Runtime's "use the default" value.
    return check_int(value, name, minimum=-1, maximum=4)


def check_non_negative(value: object, name: str, maximum: int = 2**31 - 1) -> int:
    return check_int(value, name, minimum=0, maximum=maximum)


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
                f"(aliases: non-cacheable, uncached, sram), got {describe(value)}"
            )
        return MEM_FLAGS[key]
    if isinstance(value, bool) or as_int(value) is None:
        raise InvalidOptionError(f"{name} must be a string, integer, or None, got {describe(value)}")
    return check_int(value, name, minimum=0, maximum=_MAX_MEM_FLAGS)
