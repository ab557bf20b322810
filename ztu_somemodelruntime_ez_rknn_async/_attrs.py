"""Python copies of the structs the runtime returns: decoding, and rejecting values no valid runtime produces.

:class:`TensorAttr` (with the reverse ``to_c`` for the calls that take an attribute), :class:`MemSize`,
and the decoders of the other query results (fixed ``char[]`` fields, dynamic-shape ranges, the
performance text).  No calls into the runtime here: :mod:`._context` makes the queries.
"""
from __future__ import annotations

import ctypes
import dataclasses
from typing import List, Sequence, Tuple

from . import _abi
from ._abi import RKNN_MAX_DIMS, RKNN_MAX_DYNAMIC_SHAPE_NUM, RKNN_MAX_NAME_LEN, rknn_tensor_attr
from .errors import InvalidArgumentError, error_for

__all__ = [
    "UINT32_MAX",
    "MemSize",
    "TensorAttr",
    "custom_string",
    "decode",
    "dynamic_range",
    "perf_detail",
    "sdk_version",
]

UINT32_MAX = 0xFFFFFFFF


def _field_offset(struct_type: type, field: str) -> int:
    # The class attribute is ctypes' field descriptor; the TYPE_CHECKING annotations describe instances.
    return int(getattr(struct_type, field).offset)


_NAME_OFFSET = _field_offset(rknn_tensor_attr, "name")
_API_VERSION_OFFSET = _field_offset(_abi.rknn_sdk_version, "api_version")
_DRV_VERSION_OFFSET = _field_offset(_abi.rknn_sdk_version, "drv_version")
# PERF_DETAIL text is runtime-owned; a length beyond this is treated as garbage rather than copied.
_PERF_DETAIL_LIMIT = 64 * 1024 * 1024


def _c_string(struct: ctypes.Structure, offset: int, size: int) -> bytes:
    """The bytes of a char[size] field up to its first NUL, or all of them when there is none."""
    raw = ctypes.string_at(ctypes.addressof(struct) + offset, size)
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


def decode(raw: bytes) -> str:
    """Runtime text as ``str`` (invalid UTF-8 replaced, never an error)."""
    return raw.decode("utf-8", errors="replace")


@dataclasses.dataclass(frozen=True)
class TensorAttr:
    """An immutable copy of one ``rknn_tensor_attr``.

    ``fmt``, ``type`` and ``qnt_type`` stay plain ints (not enums) so that a value this package does
    not know (a newer runtime) is carried through instead of failing. ``raw_name`` keeps the exact
    bytes for round-tripping names that are not valid UTF-8.
    """

    index: int
    name: str
    n_dims: int
    dims: Tuple[int, ...]
    n_elems: int
    size: int
    fmt: int
    type: int
    qnt_type: int
    fl: int
    zp: int
    scale: float
    w_stride: int
    size_with_stride: int
    pass_through: int
    h_stride: int
    raw_name: bytes = dataclasses.field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.n_dims != len(self.dims) or self.n_dims > RKNN_MAX_DIMS:
            raise InvalidArgumentError(
                "TensorAttr {!r}: n_dims={} must equal len(dims)={} and be at most RKNN_MAX_DIMS ({})".format(
                    self.name, self.n_dims, len(self.dims), RKNN_MAX_DIMS
                )
            )

    @classmethod
    def from_c(cls, c: rknn_tensor_attr, *, function: str = "rknn_query") -> TensorAttr:
        """Copy a C attribute, rejecting values no valid runtime produces.

        Raises:
            RknnModelInvalidError: ``n_dims`` exceeds ``RKNN_MAX_DIMS`` (the dims array has 16 slots).
        """
        n_dims = int(c.n_dims)
        if n_dims > RKNN_MAX_DIMS:
            raise error_for(
                _abi.RKNN_ERR_MODEL_INVALID,
                function,
                description="the runtime reported a tensor attribute (index {}) with n_dims={}, more than "
                "RKNN_MAX_DIMS ({}); the model or the runtime is corrupt".format(int(c.index), n_dims, RKNN_MAX_DIMS),
            )
        raw_name = _c_string(c, _NAME_OFFSET, RKNN_MAX_NAME_LEN)
        return cls(
            index=int(c.index),
            name=decode(raw_name),
            n_dims=n_dims,
            dims=tuple(int(d) for d in c.dims[:n_dims]),
            n_elems=int(c.n_elems),
            size=int(c.size),
            fmt=int(c.fmt),
            type=int(c.type),
            qnt_type=int(c.qnt_type),
            fl=int(c.fl),
            zp=int(c.zp),
            scale=float(c.scale),
            w_stride=int(c.w_stride),
            size_with_stride=int(c.size_with_stride),
            pass_through=int(c.pass_through),
            h_stride=int(c.h_stride),
            raw_name=raw_name,
        )

    def to_c(self) -> rknn_tensor_attr:
        """A fresh C struct with every field of this attribute (for set_io_mem / set_input_shapes)."""
        name = self.raw_name or self.name.encode("utf-8")
        if len(name) >= RKNN_MAX_NAME_LEN or b"\0" in name:
            raise InvalidArgumentError(
                "tensor name {!r} does not fit rknn_tensor_attr.name (at most {} bytes, no NUL)".format(
                    self.name, RKNN_MAX_NAME_LEN - 1
                )
            )
        for d in self.dims:
            if not 0 <= d <= UINT32_MAX:
                raise InvalidArgumentError("dimension {} of {!r} is outside uint32".format(d, self.name))
        c = rknn_tensor_attr()
        c.index = self.index
        c.n_dims = self.n_dims
        for i, d in enumerate(self.dims):
            c.dims[i] = d
        c.name = name
        c.n_elems = self.n_elems
        c.size = self.size
        c.fmt = self.fmt
        c.type = self.type
        c.qnt_type = self.qnt_type
        c.fl = self.fl
        c.zp = self.zp
        c.scale = self.scale
        c.w_stride = self.w_stride
        c.size_with_stride = self.size_with_stride
        c.pass_through = self.pass_through
        c.h_stride = self.h_stride
        return c

    def with_dims(self, dims: Sequence[int]) -> TensorAttr:
        """The same attribute with another shape (for rknn_set_input_shapes)."""
        return dataclasses.replace(self, n_dims=len(dims), dims=tuple(int(d) for d in dims))


@dataclasses.dataclass(frozen=True)
class MemSize:
    """``RKNN_QUERY_MEM_SIZE``: bytes of weights, internal tensors, DMA, and SRAM (RK3588 only)."""

    total_weight_size: int
    total_internal_size: int
    total_dma_allocated_size: int
    total_sram_size: int
    free_sram_size: int

    @classmethod
    def from_c(cls, info: _abi.rknn_mem_size) -> MemSize:
        """Copy a C ``rknn_mem_size``."""
        return cls(
            int(info.total_weight_size),
            int(info.total_internal_size),
            int(info.total_dma_allocated_size),
            int(info.total_sram_size),
            int(info.free_sram_size),
        )


def dynamic_range(info: _abi.rknn_input_range, function: str, where: str) -> List[Tuple[int, ...]]:
    """The shape rows of a filled ``rknn_input_range`` (``shape_number`` > 0).

    Raises:
        RknnModelInvalidError: more rows or dims than the struct holds (a corrupt model or runtime).
    """
    rows, n_dims = int(info.shape_number), int(info.n_dims)
    if rows > RKNN_MAX_DYNAMIC_SHAPE_NUM or n_dims > RKNN_MAX_DIMS:
        raise error_for(
            _abi.RKNN_ERR_MODEL_INVALID,
            function,
            description="the runtime reported shape_number={} (max {}) and n_dims={} (max {})".format(
                rows, RKNN_MAX_DYNAMIC_SHAPE_NUM, n_dims, RKNN_MAX_DIMS
            ),
            where=where,
        )
    return [tuple(int(d) for d in info.dyn_range[r][:n_dims]) for r in range(rows)]


def sdk_version(info: _abi.rknn_sdk_version) -> Tuple[str, str]:
    """``(api_version, drv_version)`` of a filled ``rknn_sdk_version``."""
    return (
        decode(_c_string(info, _API_VERSION_OFFSET, 256)),
        decode(_c_string(info, _DRV_VERSION_OFFSET, 256)),
    )


def custom_string(info: _abi.rknn_custom_string) -> str:
    """The text of a filled ``rknn_custom_string``."""
    return decode(_c_string(info, 0, 1024))


def perf_detail(info: _abi.rknn_perf_detail) -> str:
    """A copy of the runtime-owned text of a filled ``rknn_perf_detail`` (bounded, up to its NUL)."""
    if not info.perf_data or info.data_len == 0:
        return ""
    length = min(int(info.data_len), _PERF_DETAIL_LIMIT)
    return decode(ctypes.string_at(info.perf_data, length).split(b"\0", 1)[0])
