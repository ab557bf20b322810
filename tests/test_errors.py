"""The exception tree, the code -> class map, message formats, and the check() gate."""
from __future__ import annotations

import pickle
from typing import Tuple, Type

import pytest

from ztu_somemodelruntime_ez_rknn_async import errors
from ztu_somemodelruntime_ez_rknn_async.errors import (
    InvalidArgumentError,
    InvalidOptionError,
    RknnContextInvalidError,
    RknnError,
    RknnInputInvalidError,
    RknnMallocError,
    RknnModelInvalidError,
    RknnNotSupportedError,
    RknnPlatformMismatchError,
    RknnTimeoutError,
    RunTimeoutError,
    RuntimeLibraryNotFoundError,
    SessionClosedError,
    SubmitTimeoutError,
    check,
)

# code -> (class, NAME, description) per peer-behavior.md §16.2 and DESIGN.md.
CODES = [
    (-1, RknnError, "RKNN_ERR_FAIL", "execute failed."),
    (-2, RknnTimeoutError, "RKNN_ERR_TIMEOUT", "execute timeout."),
    (-3, RknnError, "RKNN_ERR_DEVICE_UNAVAILABLE", "device is unavailable."),
    (-4, RknnMallocError, "RKNN_ERR_MALLOC_FAIL", "memory malloc fail."),
    (-5, RknnError, "RKNN_ERR_PARAM_INVALID", "parameter is invalid."),
    (-6, RknnModelInvalidError, "RKNN_ERR_MODEL_INVALID", "model is invalid."),
    (-7, RknnContextInvalidError, "RKNN_ERR_CTX_INVALID", "context is invalid."),
    (-8, RknnInputInvalidError, "RKNN_ERR_INPUT_INVALID", "input is invalid."),
    (-9, RknnError, "RKNN_ERR_OUTPUT_INVALID", "output is invalid."),
    (-10, RknnError, "RKNN_ERR_DEVICE_UNMATCH",
     "the device is unmatch, please update rknn sdk and npu driver/firmware."),
    (-11, RknnError, "RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL",
     "pre_compile model is not compatible with current driver."),
    (-12, RknnError, "RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION",
     "model optimization level is not compatible with current driver."),
    (-13, RknnPlatformMismatchError, "RKNN_ERR_TARGET_PLATFORM_UNMATCH",
     "model target platform is not compatible with current platform."),
]


@pytest.mark.parametrize("code,cls,name,description", CODES, ids=[c[2] for c in CODES])
def test_code_maps_to_class_and_message(code: int, cls: Type[RknnError], name: str, description: str) -> None:
    with pytest.raises(RknnError) as info:
        check(code, "rknn_init")
    exc = info.value
    assert type(exc) is cls
    assert (exc.code, exc.code_name, exc.function, exc.description) == (code, name, "rknn_init", description)
    assert str(exc) == "rknn_init failed: {} ({}): {}".format(name, code, description)
    assert isinstance(exc, RuntimeError)
    assert errors.error_class_for(code) is cls


def test_message_with_where() -> None:
    with pytest.raises(RknnError) as info:
        check(-6, "rknn_query(RKNN_QUERY_INPUT_ATTR)", where="input attr index 0")
    assert str(info.value) == (
        "rknn_query(RKNN_QUERY_INPUT_ATTR) failed for input attr index 0: RKNN_ERR_MODEL_INVALID (-6): "
        "model is invalid."
    )


@pytest.mark.parametrize("code", [-14, -15, -100, -(2 ** 31)])
def test_unknown_negative_code_keeps_number(code: int) -> None:
    with pytest.raises(RknnError) as info:
        check(code, "rknn_run")
    exc = info.value
    assert type(exc) is RknnError
    assert exc.code == code
    assert exc.code_name == "RKNN_ERR_UNKNOWN"
    assert str(exc) == "rknn_run failed: RKNN_ERR_UNKNOWN ({}): unknown RKNN error.".format(code)


@pytest.mark.parametrize("code", [0, 1, 7, 2 ** 31 - 1])
def test_non_negative_codes_pass_through(code: int) -> None:
    assert check(code, "rknn_query") == code


def test_status_text() -> None:
    assert errors.status_text(0) == "RKNN_SUCC (0): execute succeed."
    assert errors.status_text(-42) == "RKNN_ERR_UNKNOWN (-42): unknown RKNN error."


def test_custom_description() -> None:
    exc = errors.error_for(-4, "rknn_create_mem", description="the runtime returned NULL")
    assert isinstance(exc, RknnMallocError) and isinstance(exc, MemoryError)
    assert str(exc) == "rknn_create_mem failed: RKNN_ERR_MALLOC_FAIL (-4): the runtime returned NULL"


BASES: list = [  # type: ignore[type-arg]
    (RknnError, (RuntimeError,)),
    (RknnTimeoutError, (RknnError, TimeoutError, RuntimeError)),
    (RknnMallocError, (RknnError, MemoryError)),
    (RknnModelInvalidError, (RknnError,)),
    (RknnContextInvalidError, (RknnError,)),
    (RknnInputInvalidError, (RknnError,)),
    (RknnPlatformMismatchError, (RknnError,)),
    (RknnNotSupportedError, (RuntimeError,)),
    (RuntimeLibraryNotFoundError, (RuntimeError, OSError)),
    (InvalidOptionError, (RuntimeError, ValueError)),
    (InvalidArgumentError, (RuntimeError, ValueError)),
    (SubmitTimeoutError, (RuntimeError, TimeoutError)),
    (RunTimeoutError, (RuntimeError, TimeoutError)),
    (SessionClosedError, (RuntimeError,)),
]


@pytest.mark.parametrize("cls,bases", BASES, ids=[c.__name__ for c, _ in BASES])
def test_builtin_bases(cls: type, bases: Tuple[type, ...]) -> None:
    for base in bases:
        assert issubclass(cls, base), base
    if cls not in (RknnTimeoutError, RknnMallocError) and issubclass(cls, RknnError):
        assert not issubclass(cls, (TimeoutError, MemoryError, ValueError))
    if not issubclass(cls, RknnError):
        assert not issubclass(cls, RknnError)


def test_tree_is_exactly_the_documented_one() -> None:
    documented = {cls.__name__ for cls, _ in BASES}
    public = {name for name in errors.__all__ if isinstance(getattr(errors, name), type)}
    assert public == documented


@pytest.mark.parametrize("code", [c[0] for c in CODES] + [-99])
def test_rknn_errors_pickle(code: int) -> None:
    exc = errors.error_for(code, "rknn_run", where="thread 1")
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is type(exc)
    assert (clone.code, clone.code_name, clone.function, clone.description, clone.where) == (
        exc.code, exc.code_name, exc.function, exc.description, exc.where)
    assert str(clone) == str(exc)


@pytest.mark.parametrize("cls", [RknnNotSupportedError, InvalidOptionError, InvalidArgumentError,
                                 SubmitTimeoutError, RunTimeoutError, SessionClosedError])
def test_message_errors_format_and_pickle(cls: type) -> None:
    exc = cls("something went wrong")
    assert str(exc) == "something went wrong"
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is cls and str(clone) == str(exc)


def test_library_not_found_carries_candidates() -> None:
    exc = RuntimeLibraryNotFoundError("nothing loaded", [("/usr/lib/librknnrt.so", "not found")])
    assert exc.candidates == (("/usr/lib/librknnrt.so", "not found"),)
    assert str(exc) == "nothing loaded"  # not OSError's "[Errno ...]" form
    clone = pickle.loads(pickle.dumps(exc))
    assert clone.candidates == exc.candidates and str(clone) == str(exc)


def test_timeout_errors_are_caught_as_builtin_timeout() -> None:
    with pytest.raises(TimeoutError):
        check(-2, "rknn_run")
    with pytest.raises(MemoryError):
        check(-4, "rknn_create_mem")
