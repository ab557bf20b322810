"""Output selection, allocation and joining for the copy path.

Outputs are read with ``rknn_outputs_get(is_prealloc=1)`` into numpy arrays this module allocates:
float32 (``want_float=1``) by default, or the model's own type (``want_float=0``) with native outputs.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from .errors import InvalidArgumentError
from .tensors import (
    RKNN_TENSOR_FLOAT32,
    NodeArg,
    dynamic_shape,
    numpy_dtype_for_rknn,
    ort_type_string,
    rknn_type_for_dtype,
)

__all__ = ["OutputBuffers", "OutputPlan", "build_output_plans", "join_batches", "output_node_args",
           "preallocate", "resolve_output_names", "select_outputs"]

Shape = Tuple[int, ...]

_F32 = np.dtype(np.float32)


class OutputPlan:
    """How one model output is read.

    Attributes:
        index: output index.
        name: output name.
        model_type: ``rknn_tensor_type`` the model holds.
        rows: output shape rows (one row for static models), in the reported order.
        dtype: numpy dtype of the arrays ``run`` returns.
        want_float: ``rknn_output.want_float`` (1 = dequantised float32).
    """

    __slots__ = ("index", "name", "model_type", "rows", "dtype", "want_float", "itemsize")

    def __init__(self, index: int, name: str, model_type: int, rows: Sequence[Sequence[int]],
                 native: bool) -> None:
        self.index = index
        self.name = name
        self.model_type = model_type
        self.rows: Tuple[Shape, ...] = tuple(tuple(int(d) for d in r) for r in rows)
        native_dtype = numpy_dtype_for_rknn(model_type)
        if native and native_dtype is not None:
            self.dtype = native_dtype
            self.want_float = 1 if model_type == RKNN_TENSOR_FLOAT32 else 0
        else:
            # INT4/BFLOAT16 have no numpy type: such outputs are always returned as float32.
            self.dtype = _F32
            self.want_float = 1
        self.itemsize = self.dtype.itemsize

    @property
    def node_arg(self) -> NodeArg:
        """The NodeArg describing what ``run`` returns for this output."""
        rt = rknn_type_for_dtype(self.dtype)
        return NodeArg(self.name, dynamic_shape(self.rows), ort_type_string(RKNN_TENSOR_FLOAT32 if rt is None else rt))

    def __repr__(self) -> str:
        return "OutputPlan({!r}, rows={}, dtype={}, want_float={})".format(self.name, self.rows, self.dtype,
                                                                          self.want_float)


class OutputBuffers:
    """The arrays one run's outputs will be written into, allocated ahead of the run.

    Attributes:
        plans: the plans they were made for; dims: the shapes (default: each plan's only row).
        arrays: one array per output, in model order (what the run returns).
        addresses: the data address of each array; sizes: its byte size.
    """

    __slots__ = ("plans", "arrays", "addresses", "sizes")

    def __init__(self, plans: Sequence[OutputPlan], dims: Optional[Sequence[Shape]] = None) -> None:
        self.plans = plans
        shapes = dims if dims is not None else [p.rows[0] for p in plans]
        self.arrays: List[np.ndarray] = [np.empty(shape, p.dtype) for p, shape in zip(plans, shapes)]
        # ``.ctypes.data``, not ``__array_interface__``: as fast, and the latter made numpy build a ~1 MB
        # internal table after some 10^4 calls, which the short soak test saw as growth mid-run.
        self.addresses: List[int] = [a.ctypes.data for a in self.arrays]
        self.sizes: List[int] = [a.nbytes for a in self.arrays]


def preallocate(plans: Sequence[OutputPlan]) -> Optional[OutputBuffers]:
    """Output arrays for one run, or ``None`` when a shape depends on the inputs (dynamic models).

    Called on the submitting thread: allocating there keeps it off a worker's path between two runs
    (measured after a 0.5 ms run: fetching into fresh arrays took 9 us, into these about 4 us).
    """
    for p in plans:
        if len(p.rows) != 1:
            return None
    return OutputBuffers(plans)


def build_output_plans(names: Sequence[str], types: Sequence[int], rows: Sequence[Sequence[Sequence[int]]],
                       native: bool) -> List[OutputPlan]:
    """Build one :class:`OutputPlan` per model output."""
    return [OutputPlan(i, names[i], types[i], rows[i], native) for i in range(len(names))]


def output_node_args(plans: Sequence[OutputPlan]) -> List[NodeArg]:
    """NodeArgs for ``get_outputs()``: the type is what ``run`` returns (ORT contract)."""
    return [p.node_arg for p in plans]


def resolve_output_names(plans: Sequence[OutputPlan], output_names: Any) -> Optional[List[int]]:
    """Map ``output_names`` to output indices.

    Args:
        plans: the output plans.
        output_names: ``None`` or an empty sequence for all outputs, else a sequence of names (duplicates
            allowed, order kept).

    Returns:
        ``None`` for "all outputs in model order", else the indices in requested order.

    Raises:
        InvalidArgumentError: unknown names (all listed), a bare ``str``, or a non-sequence.
    """
    if output_names is None:
        return None
    if isinstance(output_names, (str, bytes)):
        raise InvalidArgumentError(
            "output_names must be a list of output names or None, not a {} ({!r}); did you mean [{!r}]?".format(
                type(output_names).__name__, output_names, output_names))
    try:
        names = list(output_names)
    except TypeError:
        raise InvalidArgumentError("output_names must be a sequence of output names or None, got {}".format(
            type(output_names).__name__)) from None
    if not names:
        return None  # ORT: empty means all outputs
    by_name: Dict[str, int] = {}
    for p in plans:
        by_name.setdefault(p.name, p.index)
    unknown = [n for n in names if not isinstance(n, str) or n not in by_name]
    if unknown:
        raise InvalidArgumentError("Unknown output name{}: {}. The model's outputs are: {}".format(
            "s" if len(unknown) > 1 else "", ", ".join(repr(u) for u in unknown),
            ", ".join(repr(p.name) for p in plans)))
    return [by_name[n] for n in names]


def select_outputs(arrays: List[np.ndarray], indices: Optional[List[int]]) -> List[np.ndarray]:
    """Pick the requested outputs; a name requested twice gives two array objects sharing memory."""
    if indices is None:
        return arrays
    seen: Set[int] = set()
    out: List[np.ndarray] = []
    for i in indices:
        a = arrays[i]
        if i in seen:
            a = a.view()
        seen.add(i)
        out.append(a)
    return out


def join_batches(per_sample: Sequence[List[np.ndarray]]) -> List[np.ndarray]:
    """Concatenate per-sample outputs along axis 0 (batch dispatch).

    Each sample's output of shape ``(d0, ...)`` contributes ``d0`` rows, so outputs whose first dim is
    not 1 are joined correctly (the peer overflowed there); 0-d outputs are stacked into shape ``(k,)``.
    """
    if not per_sample:
        return []
    joined = []
    for j in range(len(per_sample[0])):
        parts = [s[j] for s in per_sample]
        if parts[0].ndim == 0:
            joined.append(np.stack(parts))
        else:
            joined.append(np.concatenate(parts, axis=0))
    return joined
