"""Tensor descriptions, numpy ↔ RKNN type mapping and NCHW/NHWC helpers.

This module is pure numpy: it knows the RKNN enum *values* (they are part of the stable C ABI, see
``rknn-abi.md`` §4.3) but never touches the runtime library.

The public classes mirror ONNX Runtime:

* :class:`NodeArg` — ``name``, ``shape``, ``type`` of one input or output, where ``type`` is an ONNX
  type string such as ``"tensor(float)"``.
* :class:`ModelMetadata` — the fields of ORT's ``ModelMetadata``; the RKNN custom string, when present,
  is exposed as ``custom_metadata_map["rknn_custom_string"]``.

Example:
    >>> import numpy as np
    >>> NodeArg("x", [1, 3, 4, 4], ort_type_string(RKNN_TENSOR_INT8))
    NodeArg(name='x', type='tensor(int8)', shape=[1, 3, 4, 4])
    >>> nhwc_to_nchw_dims((1, 4, 4, 3))
    (1, 3, 4, 4)
    >>> rknn_type_for_dtype(np.dtype(np.float16)) == RKNN_TENSOR_FLOAT16
    True
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "ModelMetadata",
    "NodeArg",
    "RKNN_TENSOR_BFLOAT16",
    "RKNN_TENSOR_BOOL",
    "RKNN_TENSOR_FLOAT16",
    "RKNN_TENSOR_FLOAT32",
    "RKNN_TENSOR_INT16",
    "RKNN_TENSOR_INT32",
    "RKNN_TENSOR_INT4",
    "RKNN_TENSOR_INT64",
    "RKNN_TENSOR_INT8",
    "RKNN_TENSOR_NC1HWC2",
    "RKNN_TENSOR_NCHW",
    "RKNN_TENSOR_NHWC",
    "RKNN_TENSOR_UINT16",
    "RKNN_TENSOR_UINT32",
    "RKNN_TENSOR_UINT8",
    "RKNN_TENSOR_UNDEFINED",
    "Dim",
    "dynamic_shape",
    "format_name",
    "format_shape",
    "nchw_to_nhwc",
    "nchw_to_nhwc_dims",
    "nhwc_to_nchw",
    "nhwc_to_nchw_dims",
    "numpy_dtype_for_rknn",
    "ort_type_string",
    "rknn_type_for_dtype",
    "type_name",
]

# The ABI values come from the raw layer (rknn_api.h); they are never re-declared here.
from ._abi_consts import (  # noqa: E402
    RKNN_TENSOR_FLOAT32,
    RKNN_TENSOR_FLOAT16,
    RKNN_TENSOR_INT8,
    RKNN_TENSOR_UINT8,
    RKNN_TENSOR_INT16,
    RKNN_TENSOR_UINT16,
    RKNN_TENSOR_INT32,
    RKNN_TENSOR_UINT32,
    RKNN_TENSOR_INT64,
    RKNN_TENSOR_BOOL,
    RKNN_TENSOR_INT4,
    RKNN_TENSOR_BFLOAT16,
    RKNN_TENSOR_NCHW,
    RKNN_TENSOR_NHWC,
    RKNN_TENSOR_NC1HWC2,
    RKNN_TENSOR_UNDEFINED,
)

#: One dimension of a :class:`NodeArg` shape: a size, a symbolic name (dynamic axis) or ``None``.
Dim = Union[int, str, None]

_TYPE_NAMES: Dict[int, str] = {
    RKNN_TENSOR_FLOAT32: "float32",
    RKNN_TENSOR_FLOAT16: "float16",
    RKNN_TENSOR_INT8: "int8",
    RKNN_TENSOR_UINT8: "uint8",
    RKNN_TENSOR_INT16: "int16",
    RKNN_TENSOR_UINT16: "uint16",
    RKNN_TENSOR_INT32: "int32",
    RKNN_TENSOR_UINT32: "uint32",
    RKNN_TENSOR_INT64: "int64",
    RKNN_TENSOR_BOOL: "bool",
    RKNN_TENSOR_INT4: "int4",
    RKNN_TENSOR_BFLOAT16: "bfloat16",
}

_ORT_TYPES: Dict[int, str] = {
    RKNN_TENSOR_FLOAT32: "tensor(float)",
    RKNN_TENSOR_FLOAT16: "tensor(float16)",
    RKNN_TENSOR_INT8: "tensor(int8)",
    RKNN_TENSOR_UINT8: "tensor(uint8)",
    RKNN_TENSOR_INT16: "tensor(int16)",
    RKNN_TENSOR_UINT16: "tensor(uint16)",
    RKNN_TENSOR_INT32: "tensor(int32)",
    RKNN_TENSOR_UINT32: "tensor(uint32)",
    RKNN_TENSOR_INT64: "tensor(int64)",
    RKNN_TENSOR_BOOL: "tensor(bool)",
}

_NUMPY_TYPES: Dict[int, np.dtype] = {
    RKNN_TENSOR_FLOAT32: np.dtype(np.float32),
    RKNN_TENSOR_FLOAT16: np.dtype(np.float16),
    RKNN_TENSOR_INT8: np.dtype(np.int8),
    RKNN_TENSOR_UINT8: np.dtype(np.uint8),
    RKNN_TENSOR_INT16: np.dtype(np.int16),
    RKNN_TENSOR_UINT16: np.dtype(np.uint16),
    RKNN_TENSOR_INT32: np.dtype(np.int32),
    RKNN_TENSOR_UINT32: np.dtype(np.uint32),
    RKNN_TENSOR_INT64: np.dtype(np.int64),
    RKNN_TENSOR_BOOL: np.dtype(np.bool_),
}

# Keyed by (kind, itemsize) so that lookups ignore byte order; callers check byte order separately.
_RKNN_BY_KIND: Dict[Tuple[str, int], int] = {
    (dt.kind, dt.itemsize): t for t, dt in _NUMPY_TYPES.items()
}

_FORMAT_NAMES: Dict[int, str] = {
    RKNN_TENSOR_NCHW: "NCHW",
    RKNN_TENSOR_NHWC: "NHWC",
    RKNN_TENSOR_NC1HWC2: "NC1HWC2",
    RKNN_TENSOR_UNDEFINED: "UNDEFINED",
}


def type_name(rknn_type: int) -> str:
    """Return a short readable name for an ``rknn_tensor_type`` value (``"int8"``, ``"type(42)"``)."""
    return _TYPE_NAMES.get(rknn_type, "type({})".format(rknn_type))


def format_name(fmt: int) -> str:
    """Return the readable name of an ``rknn_tensor_format`` value (``"NHWC"``, ``"fmt(9)"``)."""
    return _FORMAT_NAMES.get(fmt, "fmt({})".format(fmt))


def ort_type_string(rknn_type: int) -> str:
    """Return the ONNX Runtime type string of an ``rknn_tensor_type``.

    FLOAT32 is ``"tensor(float)"`` as in ORT; INT4, BFLOAT16 and unknown values give
    ``"tensor(unknown)"`` (the peer's spelling).
    """
    return _ORT_TYPES.get(rknn_type, "tensor(unknown)")


def numpy_dtype_for_rknn(rknn_type: int) -> Optional[np.dtype]:
    """Return the native-byte-order numpy dtype holding ``rknn_type``, or ``None`` (INT4, BFLOAT16...)."""
    return _NUMPY_TYPES.get(rknn_type)


def rknn_type_for_dtype(dtype: np.dtype) -> Optional[int]:
    """Return the ``rknn_tensor_type`` of a numpy dtype, or ``None`` when RKNN has no such type.

    Byte order is ignored here (``>f4`` maps to FLOAT32); callers convert non-native arrays first.
    Structured, object, string, float64 and complex dtypes have no RKNN type.
    """
    if dtype.fields is not None or dtype.subdtype is not None:
        return None
    return _RKNN_BY_KIND.get((dtype.kind, dtype.itemsize))


def nhwc_to_nchw_dims(dims: Sequence[int]) -> Tuple[int, ...]:
    """Reorder 4-D dims ``(N, H, W, C)`` to ``(N, C, H, W)``; other ranks are returned unchanged."""
    if len(dims) != 4:
        return tuple(dims)
    return (dims[0], dims[3], dims[1], dims[2])


def nchw_to_nhwc_dims(dims: Sequence[int]) -> Tuple[int, ...]:
    """Reorder 4-D dims ``(N, C, H, W)`` to ``(N, H, W, C)``; other ranks are returned unchanged."""
    if len(dims) != 4:
        return tuple(dims)
    return (dims[0], dims[2], dims[3], dims[1])


def nchw_to_nhwc(array: np.ndarray) -> np.ndarray:
    """Return a C-contiguous NHWC copy of a 4-D NCHW array (other ranks: the array itself)."""
    if array.ndim != 4:
        return array
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1))


def nhwc_to_nchw(array: np.ndarray) -> np.ndarray:
    """Return a C-contiguous NCHW copy of a 4-D NHWC array (other ranks: the array itself)."""
    if array.ndim != 4:
        return array
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2))


def format_shape(shape: Iterable[object]) -> str:
    """Format a shape the way error messages show it: ``[1, 3, 224, 224]``."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def dynamic_shape(rows: Sequence[Sequence[int]]) -> List[Dim]:
    """Summarise the shape rows of a dynamic tensor ORT-style.

    Axes equal in every row keep their size; an axis that varies becomes the symbolic name
    ``"dim_<axis>"``. Rows of different ranks cannot be summarised per axis, so every axis of the first
    row becomes ``None``.

    Args:
        rows: the shape rows, all in the order the user sees (e.g. NCHW).

    Returns:
        A list with one entry per axis.

    Example:
        >>> dynamic_shape([(1, 3, 224, 224), (1, 3, 320, 320)])
        [1, 3, 'dim_2', 'dim_3']
    """
    if not rows:
        return []
    first = tuple(rows[0])
    if any(len(r) != len(first) for r in rows):
        return [None] * len(first)
    out: List[Dim] = []
    for axis, size in enumerate(first):
        if all(r[axis] == size for r in rows):
            out.append(int(size))
        else:
            out.append("dim_{}".format(axis))
    return out


class NodeArg:
    """Name, shape and type of one model input or output (ONNX Runtime's ``NodeArg``).

    Instances are created by the session; attributes are read-only and ``shape`` returns a new list.

    Attributes:
        name: tensor name (``"input_<i>"`` / ``"output_<i>"`` when the model has none).
        shape: dims in the order the session's ``run`` uses; a dynamic axis is a ``str`` or ``None``.
        type: ONNX type string, e.g. ``"tensor(float)"``.
    """

    __slots__ = ("_name", "_shape", "_type")

    def __init__(self, name: str, shape: Sequence[Dim], type: str) -> None:  # noqa: A002 (ORT name)
        self._name = str(name)
        self._shape: Tuple[Dim, ...] = tuple(shape)
        self._type = str(type)

    @property
    def name(self) -> str:
        """The tensor name."""
        return self._name

    @property
    def shape(self) -> List[Dim]:
        """The dims, as a new list each time (ints, or ``str``/``None`` for dynamic axes)."""
        return list(self._shape)

    @property
    def type(self) -> str:
        """The ONNX type string (``"tensor(float)"``, ``"tensor(int8)"``, ...)."""
        return self._type

    def __repr__(self) -> str:
        return "NodeArg(name={!r}, type={!r}, shape={!r})".format(self._name, self._type, list(self._shape))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeArg):
            return NotImplemented
        return (self._name, self._shape, self._type) == (other._name, other._shape, other._type)

    def __hash__(self) -> int:
        return hash((self._name, self._shape, self._type))


class ModelMetadata:
    """Model metadata with ONNX Runtime's field names.

    RKNN files carry no producer, graph name or version for the runtime to report, so those fields hold
    neutral values; the custom string set at conversion time is in ``custom_metadata_map``.

    Attributes:
        producer_name: producer of the model (``""`` when unknown).
        graph_name: name of the graph (``""`` when unknown).
        domain: ``""``.
        description: ``""`` unless given.
        graph_description: ``""`` unless given.
        version: ``0`` unless given.
        custom_metadata_map: new ``dict`` on every access; ``{"rknn_custom_string": s}`` when the model
            has a non-empty custom string.
    """

    __slots__ = ("_producer_name", "_graph_name", "_domain", "_description", "_graph_description",
                 "_version", "_custom")

    def __init__(
        self,
        *,
        producer_name: str = "",
        graph_name: str = "",
        domain: str = "",
        description: str = "",
        graph_description: str = "",
        version: int = 0,
        custom_metadata_map: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._producer_name = producer_name
        self._graph_name = graph_name
        self._domain = domain
        self._description = description
        self._graph_description = graph_description
        self._version = int(version)
        self._custom: Dict[str, str] = dict(custom_metadata_map or {})

    @classmethod
    def from_custom_string(cls, custom_string: str, *, producer_name: str = "",
                           graph_name: str = "", description: str = "") -> ModelMetadata:
        """Build metadata whose map holds ``rknn_custom_string`` when ``custom_string`` is non-empty."""
        custom = {"rknn_custom_string": custom_string} if custom_string else {}
        return cls(producer_name=producer_name, graph_name=graph_name, description=description,
                   custom_metadata_map=custom)

    @property
    def producer_name(self) -> str:
        """Producer of the model (``""`` when the file does not say)."""
        return self._producer_name

    @property
    def graph_name(self) -> str:
        """Graph name (``""`` when the file does not say)."""
        return self._graph_name

    @property
    def domain(self) -> str:
        """Model domain (always ``""`` for RKNN files)."""
        return self._domain

    @property
    def description(self) -> str:
        """Model description."""
        return self._description

    @property
    def graph_description(self) -> str:
        """Graph description."""
        return self._graph_description

    @property
    def version(self) -> int:
        """Model version number (``0`` when unknown)."""
        return self._version

    @property
    def custom_metadata_map(self) -> Dict[str, str]:
        """Custom key/value metadata, as a new dict."""
        return dict(self._custom)

    def __repr__(self) -> str:
        return (
            "ModelMetadata(producer_name={!r}, graph_name={!r}, domain={!r}, description={!r}, "
            "graph_description={!r}, version={!r}, custom_metadata_map={!r})".format(
                self._producer_name, self._graph_name, self._domain, self._description,
                self._graph_description, self._version, self._custom,
            )
        )
