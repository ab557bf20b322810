"""The tensors zero copy binds: :class:`Port`, and the native attribute chosen for each.

For every model input and output the engine needs two attributes: the *logical* one the caller's arrays
have (``RKNN_QUERY_INPUT/OUTPUT_ATTR``; 4-D NHWC-reported inputs shown NCHW exactly when the copy path
shows them so) and the *native* one passed to ``rknn_set_io_mem``, which decides how the buffer is laid
out. Choosing the native attribute follows the peer (peer-behavior.md §13.1) and depends only on the
queries of one context and the ``layout``/``zero_copy_layout`` options, so it lives here, apart from the
engine's binding and run logic in :mod:`._zc_engine`. :func:`generic_attr` is the dense attribute of a
value made without a session tensor.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Optional, Tuple

from ._context import RknnContext, TensorAttr
from ._layouts import BufferLayout, alloc_bytes, elem_size, layout_for
from .errors import InvalidArgumentError, RknnError
from .tensors import (
    RKNN_TENSOR_FLOAT16,
    RKNN_TENSOR_FLOAT32,
    RKNN_TENSOR_INT8,
    RKNN_TENSOR_NC1HWC2,
    RKNN_TENSOR_NCHW,
    RKNN_TENSOR_NHWC,
    RKNN_TENSOR_UINT8,
    RKNN_TENSOR_UNDEFINED,
    nhwc_to_nchw_dims,
)

__all__ = ["Port", "generic_attr", "input_port", "output_port"]

logger = logging.getLogger(__name__)

#: Types the peer asks the NHWC native queries for (others keep NATIVE_*_ATTR).
_NHWC_TYPES = (RKNN_TENSOR_FLOAT32, RKNN_TENSOR_FLOAT16, RKNN_TENSOR_INT8, RKNN_TENSOR_UINT8)


@dataclasses.dataclass(frozen=True)
class Port:
    """One model input or output as zero copy binds it."""

    io_kind: str
    index: int
    name: str
    logical: TensorAttr  # RKNN_QUERY_INPUT/OUTPUT_ATTR, 4-D inputs swapped to NCHW per the session layout
    shape: Tuple[int, ...]
    logical_nhwc: bool
    native: TensorAttr  # the attribute passed to rknn_set_io_mem
    layout: BufferLayout
    nbytes: int  # alloc_bytes(native)

    @property
    def label(self) -> str:
        """``input 'x'`` / ``output 'y'``, as messages name the tensor."""
        return "{} '{}'".format(self.io_kind, self.name)


def _try_query(fn: Callable[[int], TensorAttr], index: int) -> Optional[TensorAttr]:
    try:
        return fn(index)
    except RknnError as exc:
        logger.debug("%s(%d) failed: %s", getattr(fn, "__name__", "query"), index, exc)
        return None


def _synth_nhwc(logical: TensorAttr, native: TensorAttr) -> TensorAttr:
    """An NHWC attribute for an input whose native form is NC1HWC2 (peer §13.1)."""
    if logical.fmt == RKNN_TENSOR_NHWC:
        n, h, w, c = logical.dims
    else:
        n, c, h, w = logical.dims
    es = elem_size(native.type)
    ws = native.w_stride or w
    elems = n * h * w * c
    return dataclasses.replace(
        native, n_dims=4, dims=(n, h, w, c), fmt=RKNN_TENSOR_NHWC, n_elems=elems, size=elems * es, w_stride=ws,
        size_with_stride=n * (native.h_stride or h) * ws * c * es, pass_through=0)


def input_port(ctx: RknnContext, i: int, layout: str, zero_copy_layout: str) -> Port:
    """Input ``i`` of ``ctx``; ``layout`` and ``zero_copy_layout`` are the session's options of those names."""
    a = ctx.input_attr(i)
    logical = a
    if a.n_dims == 4 and a.fmt == RKNN_TENSOR_NHWC and layout in ("nchw", "nchw_software"):
        logical = dataclasses.replace(a, dims=nhwc_to_nchw_dims(a.dims), fmt=RKNN_TENSOR_NCHW)
    native = _try_query(ctx.native_input_attr, i)
    if native is None or logical.n_dims != 4:
        native = logical
    elif zero_copy_layout == "nhwc" and logical.type in _NHWC_TYPES:
        nhwc = _try_query(ctx.native_nhwc_input_attr, i)
        if nhwc is not None and nhwc.n_dims == 4:
            native = nhwc
        if native.fmt == RKNN_TENSOR_NC1HWC2 and not native.pass_through:
            native = _synth_nhwc(logical, native)
    elif zero_copy_layout == "native" and native.fmt == RKNN_TENSOR_NC1HWC2:
        native = dataclasses.replace(native, pass_through=1)
    return _port("input", i, logical, native)


def output_port(ctx: RknnContext, j: int, zero_copy_layout: str) -> Port:
    """Output ``j`` of ``ctx``; ``zero_copy_layout`` is the session's option of that name."""
    logical = ctx.output_attr(j)
    native = _try_query(ctx.native_output_attr, j)
    if native is None or logical.n_dims != 4:
        native = logical
    elif zero_copy_layout == "nhwc" and logical.type in _NHWC_TYPES:
        nhwc = _try_query(ctx.native_nhwc_output_attr, j)
        if nhwc is not None and nhwc.n_dims == 4:
            native = nhwc
    return _port("output", j, logical, native)


def _port(io_kind: str, index: int, logical: TensorAttr, native: TensorAttr) -> Port:
    shape = tuple(logical.dims)
    nhwc = logical.n_dims == 4 and logical.fmt == RKNN_TENSOR_NHWC
    native = dataclasses.replace(native, index=index)
    try:
        layout = layout_for(shape, nhwc, native)
    except InvalidArgumentError as exc:
        # A native form this package cannot address: bind the logical form instead (the runtime converts).
        logger.info("%s '%s': native attribute not usable for zero copy (%s); binding the logical form",
                    io_kind, logical.name, exc)
        native = dataclasses.replace(logical, index=index)
        layout = layout_for(shape, nhwc, native)
    return Port(io_kind, index, logical.name, logical, shape, nhwc, native, layout, alloc_bytes(native))


def generic_attr(shape: Tuple[int, ...], rknn_type: int) -> TensorAttr:
    n = 1
    for d in shape:
        n *= d
    size = n * elem_size(rknn_type)
    return TensorAttr(index=0, name="", n_dims=len(shape), dims=shape, n_elems=n, size=size,
                      fmt=RKNN_TENSOR_NCHW if len(shape) == 4 else RKNN_TENSOR_UNDEFINED, type=rknn_type,
                      qnt_type=0, fl=0, zp=0, scale=1.0, w_stride=0, size_with_stride=size, pass_through=0,
                      h_stride=0)
