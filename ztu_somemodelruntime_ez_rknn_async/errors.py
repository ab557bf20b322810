"""Exceptions raised by the package, and the one gate that turns RKNN status codes into them.

The tree (every class is also a ``RuntimeError``, the peer's only exception type, so code written
against the peer keeps catching everything)::

    RuntimeError
     ├── RknnError(code, code_name, function, description)
     │    │        "<function> failed: <NAME> (<code>): <description>"
     │    ├── RknnTimeoutError(RknnError, TimeoutError)          code -2
     │    ├── RknnMallocError(RknnError, MemoryError)            code -4
     │    ├── RknnModelInvalidError                              code -6
     │    ├── RknnContextInvalidError                            code -7
     │    ├── RknnInputInvalidError                              code -8
     │    ├── RknnPlatformMismatchError                          code -13
     │    └── (other codes, and unknown negative codes: RknnError itself)
     ├── RknnNotSupportedError                                   a symbol missing from the loaded librknnrt
     ├── RuntimeLibraryNotFoundError(RuntimeError, OSError)      lists every candidate tried
     ├── InvalidOptionError(RuntimeError, ValueError)            provider/run/session option validation
     ├── InvalidArgumentError(RuntimeError, ValueError)          bad feeds, names, shapes, dtypes
     ├── SubmitTimeoutError(RuntimeError, TimeoutError)          back-pressure wait expired
     ├── RunTimeoutError(RuntimeError, TimeoutError)             a run exceeded run_timeout_ms
     └── SessionClosedError                                      use after close()

``check(code, function)`` is the only place that maps a negative status to an exception; every
call into librknnrt goes through it.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple, Type

__all__ = [
    "RKNN_ERROR_DESCRIPTIONS",
    "RKNN_ERROR_NAMES",
    "InvalidArgumentError",
    "InvalidOptionError",
    "RknnContextInvalidError",
    "RknnError",
    "RknnInputInvalidError",
    "RknnMallocError",
    "RknnModelInvalidError",
    "RknnNotSupportedError",
    "RknnPlatformMismatchError",
    "RknnTimeoutError",
    "RunTimeoutError",
    "RuntimeLibraryNotFoundError",
    "SessionClosedError",
    "SubmitTimeoutError",
    "check",
    "error_class_for",
    "error_for",
    "status_text",
]

# Names and values are Rockchip's (rknn-abi.md §5), including the "INCOMPATILE" spelling.
# Kept here rather than imported from _abi so that this public module has no ctypes dependency.
RKNN_ERROR_NAMES: Mapping[int, str] = {
    0: "RKNN_SUCC",
    -1: "RKNN_ERR_FAIL",
    -2: "RKNN_ERR_TIMEOUT",
    -3: "RKNN_ERR_DEVICE_UNAVAILABLE",
    -4: "RKNN_ERR_MALLOC_FAIL",
    -5: "RKNN_ERR_PARAM_INVALID",
    -6: "RKNN_ERR_MODEL_INVALID",
    -7: "RKNN_ERR_CTX_INVALID",
    -8: "RKNN_ERR_INPUT_INVALID",
    -9: "RKNN_ERR_OUTPUT_INVALID",
    -10: "RKNN_ERR_DEVICE_UNMATCH",
    -11: "RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL",
    -12: "RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION",
    -13: "RKNN_ERR_TARGET_PLATFORM_UNMATCH",
}

# Same texts as the peer's status strings (peer-behavior.md §16.2), so logs read alike.
RKNN_ERROR_DESCRIPTIONS: Mapping[int, str] = {
    0: "execute succeed.",
    -1: "execute failed.",
    -2: "execute timeout.",
    -3: "device is unavailable.",
    -4: "memory malloc fail.",
    -5: "parameter is invalid.",
    -6: "model is invalid.",
    -7: "context is invalid.",
    -8: "input is invalid.",
    -9: "output is invalid.",
    -10: "the device is unmatch, please update rknn sdk and npu driver/firmware.",
    -11: "pre_compile model is not compatible with current driver.",
    -12: "model optimization level is not compatible with current driver.",
    -13: "model target platform is not compatible with current platform.",
}

_UNKNOWN_NAME = "RKNN_ERR_UNKNOWN"
_UNKNOWN_DESCRIPTION = "unknown RKNN error."


def status_text(code: int) -> str:
    """Return ``"<NAME> (<code>): <description>"`` for any status code, known or not."""
    name = RKNN_ERROR_NAMES.get(code, _UNKNOWN_NAME)
    description = RKNN_ERROR_DESCRIPTIONS.get(code, _UNKNOWN_DESCRIPTION)
    return "{} ({}): {}".format(name, code, description)


class RknnError(RuntimeError):
    """A librknnrt function returned a negative status.

    Attributes:
        code: the status as returned (negative).
        code_name: the RKNN name of the code, ``"RKNN_ERR_UNKNOWN"`` for codes this package does not know.
        function: the C function (optionally with a detail such as the query command) that failed.
        description: a short explanation of the code, or a more specific one supplied by the caller.
        where: optional detail such as ``"input attr index 0"``; part of the message when set.
    """

    code: int
    code_name: str
    function: str
    description: str
    where: Optional[str]

    def __init__(
        self,
        code: int,
        function: str,
        description: Optional[str] = None,
        where: Optional[str] = None,
    ) -> None:
        self.code = code
        self.code_name = RKNN_ERROR_NAMES.get(code, _UNKNOWN_NAME)
        self.function = function
        self.description = (
            description if description is not None else RKNN_ERROR_DESCRIPTIONS.get(code, _UNKNOWN_DESCRIPTION)
        )
        self.where = where
        super().__init__(self._format())

    def _format(self) -> str:
        head = self.function if self.where is None else "{} failed for {}".format(self.function, self.where)
        if self.where is None:
            head += " failed"
        return "{}: {} ({}): {}".format(head, self.code_name, self.code, self.description)

    def __str__(self) -> str:
        # Explicit because the OSError bases of some subclasses would otherwise format errno/strerror.
        return self._format()

    def __reduce__(self) -> Tuple[object, ...]:
        # The default reduce would call cls(message), which does not match __init__.
        return (type(self), (self.code, self.function, self.description, self.where))


class RknnTimeoutError(RknnError, TimeoutError):
    """``RKNN_ERR_TIMEOUT`` (-2)."""


class RknnMallocError(RknnError, MemoryError):
    """``RKNN_ERR_MALLOC_FAIL`` (-4), and NULL returns of the ``rknn_create_mem*`` family."""


class RknnModelInvalidError(RknnError):
    """``RKNN_ERR_MODEL_INVALID`` (-6): corrupt model, model newer than the runtime, or NPU memory exhausted."""


class RknnContextInvalidError(RknnError):
    """``RKNN_ERR_CTX_INVALID`` (-7)."""


class RknnInputInvalidError(RknnError):
    """``RKNN_ERR_INPUT_INVALID`` (-8)."""


class RknnPlatformMismatchError(RknnError):
    """``RKNN_ERR_TARGET_PLATFORM_UNMATCH`` (-13); also what single-core SoCs return for rknn_set_core_mask."""


class _MessageError(RuntimeError):
    """Base for the message-only errors: pickles by message, formats without OSError's errno tuple."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Tuple[object, ...]:
        return (type(self), (self.message,))


class RknnNotSupportedError(_MessageError):
    """The loaded librknnrt does not export a function this operation needs (older or mini runtime)."""


class RuntimeLibraryNotFoundError(_MessageError, OSError):
    """No librknnrt could be loaded.

    Attributes:
        candidates: ``(candidate, reason)`` for every location tried, in order.
    """

    candidates: Tuple[Tuple[str, str], ...]

    def __init__(self, message: str, candidates: Sequence[Tuple[str, str]] = ()) -> None:
        self.candidates = tuple((str(c), str(r)) for c, r in candidates)
        super().__init__(message)

    def __reduce__(self) -> Tuple[object, ...]:
        return (type(self), (self.message, self.candidates))


class InvalidOptionError(_MessageError, ValueError):
    """A provider, run or session option is invalid."""


class InvalidArgumentError(_MessageError, ValueError):
    """An argument (feed, name, shape, dtype, model) is invalid."""


class SubmitTimeoutError(_MessageError, TimeoutError):
    """The queue stayed full for longer than the submit timeout."""


class RunTimeoutError(_MessageError, TimeoutError):
    """A run took longer than ``run_timeout_ms``."""


class SessionClosedError(_MessageError):
    """The session (or the context underneath it) was used after ``close()``."""


_CLASS_BY_CODE: Dict[int, Type[RknnError]] = {
    -2: RknnTimeoutError,
    -4: RknnMallocError,
    -6: RknnModelInvalidError,
    -7: RknnContextInvalidError,
    -8: RknnInputInvalidError,
    -13: RknnPlatformMismatchError,
}


def error_class_for(code: int) -> Type[RknnError]:
    """Return the exception class used for a (negative) status code."""
    return _CLASS_BY_CODE.get(code, RknnError)


def error_for(
    code: int, function: str, *, description: Optional[str] = None, where: Optional[str] = None
) -> RknnError:
    """Build (not raise) the exception for a negative status ``code`` returned by ``function``."""
    return _CLASS_BY_CODE.get(code, RknnError)(code, function, description, where)


def check(code: int, function: str, *, where: Optional[str] = None) -> int:
    """Return ``code`` unchanged when it is >= 0, else raise the matching :class:`RknnError`.

    Args:
        code: the status returned by a librknnrt function.
        function: the C function name (optionally with a detail, e.g. ``"rknn_query(RKNN_QUERY_INPUT_ATTR)"``).
        where: optional detail appended as ``"<function> failed for <where>: ..."``.
    """
    if code >= 0:
        return code
    raise _CLASS_BY_CODE.get(code, RknnError)(code, function, None, where)
