"""Zero-copy buffer layouts: where each element of a logical tensor lives in an NPU buffer.

A zero-copy buffer holds a tensor in the form the runtime binds (``rknn_set_io_mem`` with a native
attribute), which is rarely the plain logical array the caller sees:

* ``dense``: the buffer is the logical array itself (non-4-D tensors, matching 4-D orders);
* ``nchw``: a 4-D tensor the caller sees as NHWC, stored NCHW;
* ``nhwc``: a 4-D tensor stored NHWC with padded rows (``w_stride`` pixels per row) and, for multi-batch
  inputs, padded heights (``h_stride`` rows per image);
* ``nc1hwc2``: the NPU's native blocked layout: ``N, C1, H, W(stride), C2`` with ``C1 = ceil(C / C2)``,
  C2 fastest (rknn-abi.md §4.3); channels past ``C`` are padding.

:func:`layout_for` derives a :class:`BufferLayout` from an attribute, :func:`write_logical` and
:func:`read_logical` convert in both directions with numpy (the peer memcpy'd NC1HWC2 buffers into NCHW
arrays, which scrambles the element order: peer bug §21.1-12). :func:`quantize` is the affine/DFP
quantisation the simulator and the runtime apply, so a float array written into an int8 buffer holds
the values ``rknn_inputs_set`` would have produced (peer bug §21.1-11 was a plain ``astype``).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ._context import TensorAttr
from .errors import InvalidArgumentError
from .tensors import (
    RKNN_TENSOR_NC1HWC2,
    RKNN_TENSOR_NCHW,
    RKNN_TENSOR_NHWC,
    format_name,
    numpy_dtype_for_rknn,
    type_name,
)

__all__ = [
    "BufferLayout",
    "QNT_AFFINE",
    "QNT_DFP",
    "alloc_bytes",
    "dense_bytes",
    "elem_size",
    "layout_for",
    "quantize",
    "read_logical",
    "write_logical",
]

Shape = Tuple[int, ...]
QNT_DFP = 1
QNT_AFFINE = 2


def elem_size(rknn_type: int) -> int:
    """Bytes per element of an ``rknn_tensor_type``.

    Raises:
        InvalidArgumentError: a type without a numpy equivalent (INT4, BFLOAT16, unknown values).
    """
    dtype = numpy_dtype_for_rknn(rknn_type)
    if dtype is None:
        raise InvalidArgumentError("Unsupported RKNN tensor type: {}".format(type_name(rknn_type)))
    return int(dtype.itemsize)


def dense_bytes(attr: TensorAttr) -> int:
    """``n_elems * element size``: the bytes of the attribute's elements without any padding."""
    return int(attr.n_elems) * elem_size(attr.type)


def alloc_bytes(attr: TensorAttr) -> int:
    """The bytes a buffer bound with ``attr`` must hold.

    The largest of the dense size, ``size`` and ``size_with_stride``: the runtime checks the memory
    against ``size_with_stride`` for padded layouts and against ``size`` otherwise, and some runtimes
    report an ``n_elems`` that already includes NC1HWC2 channel padding.
    """
    return max(dense_bytes(attr), int(attr.size), int(attr.size_with_stride))


@dataclasses.dataclass(frozen=True)
class BufferLayout:
    """How a logical tensor is laid out in a buffer.

    Attributes:
        kind: ``"dense"``, ``"nchw"``, ``"nhwc"`` or ``"nc1hwc2"`` (see the module docstring).
        shape: the logical shape the caller sees.
        logical_nhwc: for 4-D tensors, whether the caller's axes are NHWC (else NCHW).
        dtype: the buffer's element type (native byte order).
        nchw: ``(N, C, H, W)`` of 4-D tensors, ``()`` otherwise.
        w_stride: row pitch in pixels (``nhwc``/``nc1hwc2``); equals W without padding.
        h_stride: rows per image (``nhwc``); equals H without padding.
        c2: channels per block (``nc1hwc2``), 0 otherwise.
        c1: channel blocks (``nc1hwc2``), 0 otherwise.
        nbytes: bytes of the buffer the layout touches (padding included).
    """

    kind: str
    shape: Shape
    logical_nhwc: bool
    dtype: np.dtype
    nchw: Shape = ()
    w_stride: int = 0
    h_stride: int = 0
    c1: int = 0
    c2: int = 0
    nbytes: int = 0


def _prod(dims: Sequence[int]) -> int:
    return int(math.prod(int(d) for d in dims)) if dims else 1


def layout_for(shape: Sequence[int], logical_nhwc: bool, attr: TensorAttr) -> BufferLayout:
    """The layout of a buffer described by ``attr`` holding a logical tensor of ``shape``.

    Args:
        shape: the logical shape (the caller's axes).
        logical_nhwc: for 4-D shapes, the caller's axes are NHWC.
        attr: the attribute the buffer is bound with (its ``fmt``, ``dims``, strides and type).

    Raises:
        InvalidArgumentError: the attribute cannot hold the shape (element counts or dims disagree), or
            its type has no numpy equivalent.
    """
    shape = tuple(int(d) for d in shape)
    dtype = numpy_dtype_for_rknn(attr.type)
    if dtype is None:
        raise InvalidArgumentError("Unsupported RKNN tensor type: {}".format(type_name(attr.type)))
    es = int(dtype.itemsize)
    dims = tuple(int(d) for d in attr.dims)
    nhwc4 = logical_nhwc and len(shape) == 4
    nchw: Shape = ()
    if len(shape) == 4:
        nchw = (shape[0], shape[3], shape[1], shape[2]) if nhwc4 else shape
    n, c, h, w = nchw if nchw else (0, 0, 0, 0)
    if nchw and attr.fmt == RKNN_TENSOR_NC1HWC2 and len(dims) == 5:
        dn, c1, dh, dw, c2 = dims
        # Some runtimes report the padded width in dims[3]; w_stride (when set) is the row pitch.
        ws = max(int(attr.w_stride), dw)
        if dn == n and dh == h and dw in (w, ws) and c2 > 0 and c1 * c2 >= c:
            return BufferLayout("nc1hwc2", shape, nhwc4, dtype, nchw, w_stride=ws, h_stride=h, c1=c1, c2=c2,
                                nbytes=n * c1 * h * ws * c2 * es)
    elif nchw and attr.fmt == RKNN_TENSOR_NHWC and len(dims) == 4:
        if dims == (n, h, w, c):
            ws = max(int(attr.w_stride), w)
            hs = max(int(attr.h_stride), h)
            return BufferLayout("nhwc", shape, nhwc4, dtype, nchw, w_stride=ws, h_stride=hs,
                                nbytes=n * hs * ws * c * es)
    elif nchw and attr.fmt == RKNN_TENSOR_NCHW and len(dims) == 4 and dims == nchw:
        kind = "nchw" if nhwc4 else "dense"
        return BufferLayout(kind, shape, nhwc4, dtype, nchw, w_stride=w, h_stride=h, nbytes=_prod(shape) * es)
    elif attr.fmt not in (RKNN_TENSOR_NC1HWC2, RKNN_TENSOR_NHWC) and _prod(dims) == _prod(shape):
        # Same element order (UNDEFINED/NCHW of matching rank, or a tensor the runtime keeps as is).
        return BufferLayout("dense", shape, nhwc4, dtype, nchw, nbytes=_prod(shape) * es)
    raise InvalidArgumentError(
        "a {} buffer with dims {} (fmt {}) cannot hold a logical tensor of shape {}{}".format(
            type_name(attr.type), list(dims), format_name(attr.fmt), list(shape),
            " (NHWC axes)" if nhwc4 else ""))


def _as_nchw(layout: BufferLayout, array: np.ndarray) -> np.ndarray:
    return array.transpose(0, 3, 1, 2) if layout.logical_nhwc else array


def _from_nchw(layout: BufferLayout, array: np.ndarray) -> np.ndarray:
    return array.transpose(0, 2, 3, 1) if layout.logical_nhwc else array


def write_logical(layout: BufferLayout, buffer: np.ndarray, array: np.ndarray) -> None:
    """Store ``array`` (logical shape, buffer dtype) into ``buffer`` (a uint8 view of the buffer bytes).

    Padding (stride columns/rows, NC1HWC2 channels past C) is zeroed, so the NPU never reads stale data.

    Raises:
        InvalidArgumentError: wrong shape/dtype, or ``buffer`` smaller than ``layout.nbytes``.
    """
    if tuple(array.shape) != layout.shape or array.dtype != layout.dtype:
        raise InvalidArgumentError("internal: array {} {} does not match layout {} {}".format(
            array.dtype, list(array.shape), layout.dtype, list(layout.shape)))
    if buffer.nbytes < layout.nbytes:
        raise InvalidArgumentError("buffer of {} bytes is smaller than the {} bytes the layout needs".format(
            buffer.nbytes, layout.nbytes))
    dst = buffer[:layout.nbytes].view(layout.dtype)
    kind = layout.kind
    if kind == "dense":
        dst[...] = array.reshape(-1)
        return
    n, c, h, w = layout.nchw
    nchw = _as_nchw(layout, array)
    if kind == "nchw":
        dst.reshape(n, c, h, w)[...] = nchw
    elif kind == "nhwc":
        out = dst.reshape(n, layout.h_stride, layout.w_stride, c)
        if layout.h_stride != h or layout.w_stride != w:
            out[...] = 0
        out[:, :h, :w, :] = nchw.transpose(0, 2, 3, 1)
    else:  # nc1hwc2
        c1, c2 = layout.c1, layout.c2
        out = dst.reshape(n, c1, h, layout.w_stride, c2)
        if c1 * c2 != c or layout.w_stride != w:
            out[...] = 0
        for g in range(c1):
            lo, hi = g * c2, min(c, (g + 1) * c2)
            if lo < hi:
                out[:, g, :, :w, :hi - lo] = nchw[:, lo:hi].transpose(0, 2, 3, 1)


def read_logical(layout: BufferLayout, buffer: np.ndarray) -> np.ndarray:
    """A new C-contiguous array (logical shape, buffer dtype) read from ``buffer`` (uint8 view)."""
    if buffer.nbytes < layout.nbytes:
        raise InvalidArgumentError("buffer of {} bytes is smaller than the {} bytes the layout needs".format(
            buffer.nbytes, layout.nbytes))
    src = buffer[:layout.nbytes].view(layout.dtype)
    kind = layout.kind
    if kind == "dense":
        return np.array(src.reshape(layout.shape), copy=True)
    n, c, h, w = layout.nchw
    if kind == "nchw":
        nchw = src.reshape(n, c, h, w)
    elif kind == "nhwc":
        nchw = src.reshape(n, layout.h_stride, layout.w_stride, c)[:, :h, :w, :].transpose(0, 3, 1, 2)
    else:
        blocks = src.reshape(n, layout.c1, h, layout.w_stride, layout.c2)[:, :, :, :w, :]
        # (N, C1, H, W, C2) -> (N, C1, C2, H, W) -> (N, C1*C2, H, W), then drop the padding channels.
        nchw = blocks.transpose(0, 1, 4, 2, 3).reshape(n, layout.c1 * layout.c2, h, w)[:, :c]
    return np.ascontiguousarray(_from_nchw(layout, nchw))


def quantize(array: np.ndarray, dtype: np.dtype, qnt_type: int, scale: float,
             zero_point: int, fl: int = 0) -> Optional[np.ndarray]:
    """Quantise a float array into an integer ``dtype`` the way the runtime does, or None if not quantised.

    Affine: ``q = clip(rint(x / scale) + zp)`` in float32 with NaN → 0 (rknn-abi.md §4.3, the simulator's
    rule); DFP: ``q = clip(rint(x * 2**fl))``. Returns None when ``qnt_type`` is neither, the target is
    not an integer type, or ``array`` is not floating point.
    """
    if array.dtype.kind != "f" or dtype.kind not in "iu":
        return None
    info = np.iinfo(dtype)
    with np.errstate(all="ignore"):
        x = array.astype(np.float32)
        if qnt_type == QNT_AFFINE and scale != 0.0:
            q: Any = np.rint(x / np.float32(scale)) + np.float32(zero_point)
        elif qnt_type == QNT_DFP:
            q = np.rint(x.astype(np.float64) * (2.0 ** int(fl)))
        else:
            return None
        q = np.clip(np.nan_to_num(q, nan=0.0), float(info.min), float(info.max))
        return np.asarray(q).astype(dtype)


def format_is_4d_image(attr: TensorAttr) -> bool:
    """Whether the attribute is a 4-D NCHW/NHWC tensor (strides are meaningful for it)."""
    return attr.n_dims == 4 and attr.fmt in (RKNN_TENSOR_NCHW, RKNN_TENSOR_NHWC)

