"""Argument checks of the zero-copy API, with the peer's message texts (peer-behavior.md §13).

``OrtValue``'s factories, ``IOBinding``'s bind methods and the engine's ``run`` accept the same loosely
typed arguments (device types, shapes, numpy element types) and compare a value against the tensor it is
bound to. The checks live here, apart from the classes, so that every entry point refuses the same input
with the same message; none of them calls the runtime.
"""
from __future__ import annotations

import numbers
from typing import List, Sequence, Tuple

import numpy as np

from ._context import TensorAttr
from ._layouts import format_is_4d_image
from .errors import InvalidArgumentError
from .tensors import RKNN_TENSOR_NHWC, format_shape, rknn_type_for_dtype, type_name

__all__ = [
    "DEVICE_TYPES", "IO_KINDS", "NATIVE_FIELDS", "check_device_type", "check_dmabuf_args", "check_shape",
    "check_type", "layout_mismatch", "native_mismatches", "needs_all", "parse_element_type", "parse_shape",
]

DEVICE_TYPES = ("cpu", "rknpu2")
IO_KINDS = ("input", "output")


def check_device_type(device_type: object) -> str:
    if isinstance(device_type, bytes):
        device_type = device_type.decode("utf-8", "replace")
    if not isinstance(device_type, str):
        raise TypeError("device_type must be a str, got {}".format(type(device_type).__name__))
    if device_type not in DEVICE_TYPES:
        raise InvalidArgumentError("device_type must be 'cpu' or 'rknpu2'")
    return device_type


def parse_shape(shape: object) -> Tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray)):
        raise InvalidArgumentError("shape must be a sequence of integers")
    dims: List[int] = []
    for d in shape:
        if isinstance(d, (bool, np.bool_)):
            raise InvalidArgumentError("shape dim must be an integer")
        try:
            v = int(d) if isinstance(d, (numbers.Integral, str, bytes)) else None
        except ValueError:
            v = None
        if v is None:
            raise InvalidArgumentError("shape dim must be an integer")
        if v < 0:
            raise InvalidArgumentError("shape dims must be >= 0")
        dims.append(v)
    return tuple(dims)


def parse_element_type(element_type: object) -> int:
    try:
        dtype = np.dtype(element_type)  # type: ignore[call-overload]
    except TypeError:
        dtype = None
    rknn = rknn_type_for_dtype(dtype) if dtype is not None and element_type is not None else None
    if rknn is None:
        raise InvalidArgumentError("Unsupported numpy dtype for RKNN input: {!r}".format(element_type))
    return rknn


def check_shape(context: str, expected: Sequence[int], got: Sequence[int]) -> None:
    if tuple(expected) != tuple(got):
        raise InvalidArgumentError("{} shape mismatch: expected {}, got {}".format(
            context, format_shape(expected), format_shape(got)))


def check_type(context: str, expected: int, got: int) -> None:
    if expected != got:
        raise InvalidArgumentError("{} element type mismatch: expected {}, got {}".format(
            context, type_name(expected), type_name(got)))


def check_dmabuf_args(fd: object, size: object, offset: object, virt_addr: object) -> None:
    """The numbers ``ortvalue_from_dmabuf`` passes on to ``rknn_create_mem_from_fd`` and ``mmap``."""
    for what, v, lo, hi in (("fd", fd, 0, 2**31 - 1), ("size", size, 1, 2**32 - 1),
                            ("offset", offset, 0, 2**31 - 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not lo <= int(v) <= hi:
            raise InvalidArgumentError("{} must be an int in [{}, {}], got {!r}".format(what, lo, hi, v))
    if virt_addr is not None and (isinstance(virt_addr, bool) or not isinstance(virt_addr, numbers.Integral)
                                  or int(virt_addr) <= 0):
        raise InvalidArgumentError("virt_addr must be a positive int or None, got {!r}".format(virt_addr))


def needs_all(session: object, name: object, io_kind: object) -> bool:
    return session is not None and name is not None and io_kind is not None


NATIVE_FIELDS = ("type", "n_dims", "dims", "fmt", "n_elems", "size", "size_with_stride", "qnt_type", "fl", "zp",
                  "scale")


def native_mismatches(expected: TensorAttr, got: TensorAttr) -> List[str]:
    items: List[str] = []
    for f in NATIVE_FIELDS:
        e, g = getattr(expected, f), getattr(got, f)
        if f == "dims":
            e, g = list(e), list(g)
        if e != g:
            items.append("{} expected {}, got {}".format(f, e, g))
    if format_is_4d_image(expected) or format_is_4d_image(got):
        # 0 means "no padding": compare the implied pitch.
        def pitch(a: TensorAttr, field: str) -> int:
            v = int(getattr(a, field))
            if v or a.n_dims != 4:
                return v
            axis = {"w_stride": 2 if a.fmt == RKNN_TENSOR_NHWC else 3,
                    "h_stride": 1 if a.fmt == RKNN_TENSOR_NHWC else 2}[field]
            return int(a.dims[axis])
        for f in ("w_stride", "h_stride"):
            if pitch(expected, f) != pitch(got, f):
                items.append("{} expected {}, got {}".format(f, pitch(expected, f), pitch(got, f)))
    return items


def layout_mismatch(context: str, items: Sequence[str]) -> InvalidArgumentError:
    """The peer's "native zero-copy layout mismatch" error listing each differing field."""
    return InvalidArgumentError(
        "{} native zero-copy layout mismatch: {}. The OrtValue buffer was written using a different RKNN native "
        "layout than this model input expects. Create the OrtValue with this consumer session/name/io_kind, or use "
        "a copy/transpose path instead of binding the dmabuf directly.".format(context, "; ".join(items)))
