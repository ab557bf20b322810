"""The simulator's compute rule in numpy: what its default (sum) op returns for given feeds.

The same arithmetic as ``stubs/sim_compute.c`` (see "Compute" in ``docs/DESIGN.md``), for tests to
compare against.  Re-exported by :mod:`.simulator`.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np
import numpy.typing as npt

from ._sim_model import TensorLike, TensorSpec, as_specs, type_range

__all__ = ["expected_outputs"]


def _to_model(values: "npt.NDArray[np.float32]", spec: TensorSpec) -> "npt.NDArray[np.float32]":
    """Converts float32 values into `spec`'s type as the simulator stores them, and back to float32."""
    dtype = spec.type_name
    result: "npt.NDArray[np.float32]"
    with np.errstate(all="ignore"):  # overflow to inf and NaN are part of the rule (saturation, NaN -> 0)
        if dtype == "float32":
            result = values.astype(np.float32)
        elif dtype == "float16":
            result = values.astype(np.float16).astype(np.float32)
        elif dtype == "bool":
            result = ((values != 0) & ~np.isnan(values)).astype(np.float32)
        elif spec.scale is not None:
            lo, hi = type_range(dtype)
            scale = np.float32(spec.scale)
            q = np.rint(values / scale) + np.float32(spec.zero_point)
            q = np.clip(np.nan_to_num(q, nan=0.0), lo, hi)
            result = ((q - np.float32(spec.zero_point)) * scale).astype(np.float32)
        else:
            lo, hi = type_range(dtype)
            q64 = np.clip(np.nan_to_num(np.rint(values.astype(np.float64)), nan=0.0), lo, hi)
            result = q64.astype(np.float32)
    return result


def _select_row(ins: Sequence[TensorSpec], feeds: Sequence["npt.NDArray[Any]"]) -> Optional[int]:
    rows = [s.rows for s in ins]
    if any(r is None for r in rows):
        return None
    n_rows = len(rows[0] or ())
    for s in range(n_rows):
        if all(tuple(f.shape) == (r or ())[s] for f, r in zip(feeds, rows)):
            return s
    return None


def expected_outputs(
    inputs: Sequence[TensorLike],
    outputs: Sequence[TensorLike],
    feeds: Sequence["npt.ArrayLike"],
) -> List["npt.NDArray[np.float32]"]:
    """What the simulator's default (sum) op computes for `feeds`.

    Each feed (logical order, any real dtype; converted to float32 as the binding does) is stored as
    its input holds it (affine-quantised with round-half-to-even and saturation, float16, ...; the same
    arithmetic as ``stubs/sim_compute.c``: float32 ``x / scale``, ``rint``, ``+ zp``, clamp, NaN -> 0), then
    ``out_j[i] = sum_k x_k[i mod n_k] + j`` is accumulated in float32, stored in output j's type and
    returned dequantised as a float32 array in the output's logical shape.  For dynamic-shape models
    the output shape is the row matching the feeds' shapes.
    """
    ins = as_specs(inputs, "inputs")
    outs = as_specs(outputs, "outputs")
    if isinstance(feeds, (np.ndarray, str, bytes)) or len(feeds) != len(ins):
        raise ValueError(f"feeds must be a sequence of {len(ins)} arrays, one per input")
    arrays = [np.asarray(f) for f in feeds]
    held: List["npt.NDArray[np.float32]"] = []
    for spec, arr in zip(ins, arrays):
        flat = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
        held.append(_to_model(flat, spec))
    row = _select_row(ins, arrays)
    results: List["npt.NDArray[np.float32]"] = []
    for j, out in enumerate(outs):
        rows = out.rows
        shape = rows[row] if (row is not None and rows is not None) else out.dims
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        acc = np.zeros(n, dtype=np.float32)
        index = np.arange(n, dtype=np.int64)
        for x in held:
            if x.size:
                acc = (acc + x[index % x.size]).astype(np.float32)
        acc = (acc + np.float32(j)).astype(np.float32)
        results.append(_to_model(acc, out).reshape(shape))
    return results
