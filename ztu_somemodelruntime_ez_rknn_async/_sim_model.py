"""Simulator-native model files: ``TensorSpec``, ``write_model`` and the format's percent-encoding.

The ``RKNN-SIM 1`` format is specified in ``docs/DESIGN.md``; every limit it sets is checked here, so a
file this module writes is one the simulator accepts.  Re-exported by :mod:`.simulator`.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__all__ = [
    "DTypeLike",
    "OpAttrValue",
    "TensorLike",
    "TensorSpec",
    "as_specs",
    "percent_encode",
    "type_range",
    "write_model",
]

# Model types of the native format, with the rknn_tensor_type value each maps to.
_TYPE_CODES: Mapping[str, int] = {
    "float32": 0,
    "float16": 1,
    "int8": 2,
    "uint8": 3,
    "int16": 4,
    "uint16": 5,
    "int32": 6,
    "uint32": 7,
    "int64": 8,
    "bool": 9,
}
_QUANTISABLE = ("int8", "uint8", "int16")
_LAYOUTS = ("nchw", "nhwc", "undefined")
_MAX_DIMS = 16
_MAX_IO = 256
_MAX_SHAPES = 512
_MAX_NAME_BYTES = 255
_MAX_CUSTOM_STRING_BYTES = 1023
_MAX_OP_ATTRS = 64
_UINT32_MAX = 2**32 - 1
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")

DTypeLike = Union[str, "np.dtype[Any]", type]


def _canonical_dtype(dtype: object, what: str) -> str:
    if isinstance(dtype, str) and dtype in _TYPE_CODES:
        return dtype
    try:
        name = str(np.dtype(dtype).name)  # type: ignore[call-overload]
    except TypeError as exc:
        raise ValueError(f"{what}: {dtype!r} is not a dtype") from exc
    if name not in _TYPE_CODES:
        raise ValueError(f"{what}: dtype {name!r} is not supported; use one of {', '.join(_TYPE_CODES)}")
    return name


def _check_dims(value: object, what: str) -> Tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        else:
            raise ValueError(f"{what} must be a sequence of non-negative integers, got {value!r}")
    assert isinstance(value, Sequence)
    dims: List[int] = []
    for d in value:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ValueError(f"{what} must hold integers, got {d!r} in {value!r}")
        if not 0 <= int(d) <= _UINT32_MAX:
            raise ValueError(f"{what}: dimension {d} is out of range 0..{_UINT32_MAX}")
        dims.append(int(d))
    if len(dims) > _MAX_DIMS:
        raise ValueError(f"{what} has {len(dims)} dimensions; at most {_MAX_DIMS} are allowed")
    return tuple(dims)


def _check_text(value: object, what: str, max_bytes: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters: {value!r}")
    size = len(value.encode("utf-8"))
    if size == 0 and not allow_empty:
        raise ValueError(f"{what} must not be empty")
    if size > max_bytes:
        raise ValueError(f"{what} is {size} bytes in UTF-8; at most {max_bytes} are allowed")
    return value


def type_range(dtype: str) -> Tuple[int, int]:
    info = np.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output of a simulator-native model.

    After construction ``shape`` is a tuple of ints, ``dtype`` the canonical type name (``"float32"``,
    ``"int8"``, ...), ``layout`` ``None`` or lower case, and ``shapes`` ``None`` or a tuple of tuples.

    Attributes:
        name: tensor name (non-empty, at most 255 UTF-8 bytes, no NUL).
        shape: logical (ONNX-order) dims; for dynamic tensors row 0 of ``shapes``.
        dtype: the type the model holds: float32 float16 int8 uint8 int16 uint16 int32 uint32 int64 bool
            (a numpy dtype or type works too).
        scale: affine quantisation scale (int8/uint8/int16 only); ``None`` = not quantised.
        zero_point: affine zero point (needs ``scale``).
        layout: ``"nchw"``, ``"nhwc"`` (4-D only) or ``"undefined"``; ``None`` = the format's default
            (4-D inputs NHWC, 4-D outputs NCHW, other ranks UNDEFINED).
        shapes: the rows of a dynamic-shape tensor (row 0 must equal ``shape``), or ``None``.
    """

    name: str
    shape: Sequence[int]
    dtype: DTypeLike = "float32"
    scale: Optional[float] = None
    zero_point: int = 0
    layout: Optional[str] = None
    shapes: Optional[Sequence[Sequence[int]]] = None

    def __post_init__(self) -> None:
        _check_text(self.name, "TensorSpec.name", _MAX_NAME_BYTES)
        what = f"TensorSpec {self.name!r}"
        shape = _check_dims(self.shape, f"{what}: shape")
        dtype = _canonical_dtype(self.dtype, f"{what}: dtype")
        scale = self.scale
        if scale is not None:
            if dtype not in _QUANTISABLE:
                raise ValueError(f"{what}: scale is only valid for {'/'.join(_QUANTISABLE)} tensors, not {dtype}")
            if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)):
                raise ValueError(f"{what}: scale must be a number, got {scale!r}")
            scale32 = float(np.float32(scale))
            if not math.isfinite(scale32) or scale32 <= 0.0:
                raise ValueError(f"{what}: scale must be finite and > 0 (as float32), got {scale!r}")
            scale = scale32
        zp = self.zero_point
        if isinstance(zp, bool) or not isinstance(zp, (int, np.integer)):
            raise ValueError(f"{what}: zero_point must be an int, got {zp!r}")
        zp = int(zp)
        if scale is None and zp != 0:
            raise ValueError(f"{what}: zero_point needs scale (only affine-quantised tensors have one)")
        if scale is not None:
            lo, hi = type_range(dtype)
            if not lo <= zp <= hi:
                raise ValueError(f"{what}: zero_point {zp} is outside the {dtype} range {lo}..{hi}")
        layout = self.layout
        if layout is not None:
            if not isinstance(layout, str) or layout.lower() not in _LAYOUTS:
                raise ValueError(f"{what}: layout must be one of {', '.join(_LAYOUTS)} or None, got {layout!r}")
            layout = layout.lower()
            if layout == "nhwc" and len(shape) != 4:
                raise ValueError(f"{what}: layout 'nhwc' needs a 4-D shape, got {shape}")
        shapes: Optional[Tuple[Tuple[int, ...], ...]] = None
        if self.shapes is not None:
            if isinstance(self.shapes, (str, bytes)) or not isinstance(self.shapes, Sequence):
                raise ValueError(f"{what}: shapes must be a sequence of shapes, got {self.shapes!r}")
            rows = tuple(_check_dims(r, f"{what}: shapes[{i}]") for i, r in enumerate(self.shapes))
            if not rows:
                raise ValueError(f"{what}: shapes must have at least one row (or be None for a static tensor)")
            if len(rows) > _MAX_SHAPES:
                raise ValueError(f"{what}: {len(rows)} shape rows; at most {_MAX_SHAPES} are allowed")
            if not shape:
                raise ValueError(f"{what}: a scalar tensor cannot have dynamic shapes")
            for i, row in enumerate(rows):
                if len(row) != len(shape):
                    raise ValueError(f"{what}: shapes[{i}] {row} has {len(row)} dims, shape has {len(shape)}")
            if rows[0] != shape:
                raise ValueError(f"{what}: shapes[0] {rows[0]} must equal shape {shape}")
            shapes = rows
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "shapes", shapes)

    @property
    def type_name(self) -> str:
        """The canonical type name (``dtype`` as a ``str``)."""
        return str(self.dtype)

    @property
    def dims(self) -> Tuple[int, ...]:
        """``shape`` as a tuple."""
        return tuple(self.shape)

    @property
    def rows(self) -> Optional[Tuple[Tuple[int, ...], ...]]:
        """``shapes`` as a tuple of tuples (``None`` for a static tensor)."""
        return None if self.shapes is None else tuple(tuple(r) for r in self.shapes)


TensorLike = Union[TensorSpec, Mapping[str, Any]]


def _as_spec(obj: TensorLike, what: str) -> TensorSpec:
    if isinstance(obj, TensorSpec):
        return obj
    if isinstance(obj, Mapping):
        known = {f.name for f in dataclasses.fields(TensorSpec)}
        unknown = sorted(str(k) for k in obj if k not in known)
        if unknown:
            raise ValueError(f"{what}: unknown keys {unknown}; TensorSpec takes {sorted(known)}")
        missing = [k for k in ("name", "shape") if k not in obj]
        if missing:
            raise ValueError(f"{what}: missing keys {missing}")
        return TensorSpec(**{str(k): v for k, v in obj.items()})
    raise ValueError(f"{what} must be a TensorSpec or a mapping, got {type(obj).__name__}")


def as_specs(objs: Sequence[TensorLike], what: str) -> List[TensorSpec]:
    if isinstance(objs, (str, bytes, Mapping, TensorSpec)) or not isinstance(objs, Sequence):
        raise ValueError(f"{what} must be a sequence of TensorSpec or mappings, got {type(objs).__name__}")
    return [_as_spec(o, f"{what}[{i}]") for i, o in enumerate(objs)]


def percent_encode(text: str) -> str:
    """Percent-encodes `text` as the native format wants: bytes outside ``[A-Za-z0-9._~-]`` → ``%XX``."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def _dims_token(dims: Sequence[int]) -> str:
    return ",".join(str(d) for d in dims) if dims else "scalar"


def _float_token(value: float) -> str:
    return repr(float(value))  # shortest text that strtod/strtof read back to the same value


def _tensor_line(kind: str, spec: TensorSpec) -> str:
    parts = [kind, percent_encode(spec.name), spec.type_name, _dims_token(spec.dims)]
    if spec.layout is not None:
        parts.append(f"fmt={spec.layout}")
    if spec.scale is not None:
        parts.append(f"scale={_float_token(spec.scale)}")
        parts.append(f"zp={spec.zero_point}")
    rows = spec.rows
    if rows is not None:
        parts.append("shapes=" + ";".join(_dims_token(r) for r in rows))
    return " ".join(parts)


OpAttrValue = Union[
    "npt.NDArray[Any]", int, float, Sequence[Union[int, float]], Tuple[DTypeLike, Sequence[Union[int, float]]]
]


def _op_attr_line(name: object, value: object) -> str:
    what = f"op_attrs[{name!r}]"
    _check_text(name, f"{what}: name", _MAX_NAME_BYTES)
    assert isinstance(name, str)
    dtype: str
    values: List[Union[int, float]]
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (str, np.dtype, type)):
        dtype = _canonical_dtype(value[0], what)
        arr = np.asarray(value[1]).reshape(-1)
        values = arr.tolist()
    elif isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value).reshape(-1)
        dtype = _canonical_dtype(arr.dtype, what)
        values = arr.tolist()
    else:
        seq: Sequence[object] = value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in seq):
            raise ValueError(f"{what}: values must be numbers, got {value!r}")
        is_float = any(isinstance(v, (float, np.floating)) for v in seq)
        dtype = "float32" if is_float else "int64"
        values = [float(v) if is_float else int(v) for v in seq]  # type: ignore[arg-type,call-overload]
    if not values:
        raise ValueError(f"{what}: needs at least one value")
    tokens: List[str] = []
    for v in values:
        if dtype in ("float32", "float16"):
            f = float(v)
            if not math.isfinite(f):
                raise ValueError(f"{what}: values must be finite, got {v!r}")
            tokens.append(_float_token(float(np.dtype(dtype).type(f))))
        elif dtype == "bool":
            tokens.append("1" if v else "0")
        else:
            if isinstance(v, float) and not v.is_integer():
                raise ValueError(f"{what}: {dtype} values must be integers, got {v!r}")
            iv = int(v)
            lo, hi = type_range(dtype)
            if not lo <= iv <= hi:
                raise ValueError(f"{what}: {iv} is outside the {dtype} range {lo}..{hi}")
            tokens.append(str(iv))
    return f"op_attr {percent_encode(name)} {dtype} {','.join(tokens)}"


def write_model(
    path: Union[str, "os.PathLike[str]"],
    inputs: Sequence[TensorLike],
    outputs: Sequence[TensorLike],
    *,
    latency_us: int = 1000,
    custom_string: str = "",
    custom_op: Optional[str] = None,
    op_attrs: Optional[Mapping[str, OpAttrValue]] = None,
    weights_id: Optional[str] = None,
    weights_from: Optional[str] = None,
) -> pathlib.Path:
    """Writes a simulator-native model (``RKNN-SIM 1`` text format, see docs/DESIGN.md) to `path`.

    Args:
        path: file to write (overwritten).
        inputs: the model inputs, as TensorSpec or mappings with the same keys (1..256).
        outputs: the model outputs, likewise (1..256).
        latency_us: time one run takes on one core (>= 0).
        custom_string: what ``RKNN_QUERY_CUSTOM_STRING`` returns (at most 1023 UTF-8 bytes).
        custom_op: op_type of a custom op that computes the outputs instead of the default sum.
        op_attrs: constant attributes of the custom op, name → numpy array / scalar / list of numbers /
            ``(dtype, values)``; plain ints become int64 and floats float32.
        weights_id: id of the weights this model carries (for weight sharing).
        weights_from: id of the weights this weight-less model takes from another context.

    Returns:
        The path written, as a ``pathlib.Path``.

    Raises:
        ValueError: any argument the format cannot represent, with the reason.
    """
    ins = as_specs(inputs, "inputs")
    outs = as_specs(outputs, "outputs")
    for what, specs in (("inputs", ins), ("outputs", outs)):
        if not specs:
            raise ValueError(f"a model needs at least one of its {what}")
        if len(specs) > _MAX_IO:
            raise ValueError(f"{len(specs)} {what}; at most {_MAX_IO} are allowed")
        names = [s.name for s in specs]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"duplicate {what[:-1]} names: {dups}")
    dynamic_rows = {len(s.rows or ()) for s in ins}
    if dynamic_rows != {0}:
        if 0 in dynamic_rows or len(dynamic_rows) != 1:
            raise ValueError("in a dynamic-shape model every input needs `shapes`, all with the same number of rows")
        n_rows = dynamic_rows.pop()
        for s in outs:
            if s.rows is not None and len(s.rows) != n_rows:
                raise ValueError(f"output {s.name!r} has {len(s.rows)} shape rows; the inputs have {n_rows}")
    elif any(s.rows is not None for s in outs):
        raise ValueError("outputs may only have `shapes` when the inputs have them (dynamic-shape model)")
    if isinstance(latency_us, bool) or not isinstance(latency_us, (int, np.integer)) or latency_us < 0:
        raise ValueError(f"latency_us must be an int >= 0, got {latency_us!r}")
    _check_text(custom_string, "custom_string", _MAX_CUSTOM_STRING_BYTES, allow_empty=True)
    if custom_op is not None:
        _check_text(custom_op, "custom_op", _MAX_NAME_BYTES)
    if op_attrs is not None and not isinstance(op_attrs, Mapping):
        raise ValueError(f"op_attrs must be a mapping of name to values, got {type(op_attrs).__name__}")
    if op_attrs and custom_op is None:
        raise ValueError("op_attrs are only valid together with custom_op")
    if op_attrs is not None and len(op_attrs) > _MAX_OP_ATTRS:
        raise ValueError(f"{len(op_attrs)} op_attrs; at most {_MAX_OP_ATTRS} are allowed")
    if weights_id is not None:
        _check_text(weights_id, "weights_id", _MAX_NAME_BYTES)
    if weights_from is not None:
        _check_text(weights_from, "weights_from", _MAX_NAME_BYTES)
    if weights_id is not None and weights_from is not None:
        raise ValueError("a model either carries weights (weights_id) or takes them (weights_from), not both")

    lines = ["RKNN-SIM 1", f"latency_us {int(latency_us)}"]
    if custom_string:
        lines.append(f"custom_string {percent_encode(custom_string)}")
    if custom_op is not None:
        lines.append(f"op custom {percent_encode(custom_op)}")
        for name, value in (op_attrs or {}).items():
            lines.append(_op_attr_line(name, value))
    if weights_id is not None:
        lines.append(f"weights {percent_encode(weights_id)}")
    if weights_from is not None:
        lines.append(f"weights_from {percent_encode(weights_from)}")
    lines.extend(_tensor_line("input", s) for s in ins)
    lines.extend(_tensor_line("output", s) for s in outs)
    lines.append("end")
    target = pathlib.Path(path)
    target.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return target
