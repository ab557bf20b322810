"""Input feed validation and conversion for the copy path (run / run_async / submit / imap / pipeline).

The session turns every model input into an :class:`InputPlan` once (at construction, per layout
option). Each call then goes through :func:`prepare_feed`, which

1. matches the feed to the inputs (a dict by name, a list/tuple by position, or one array for a
   one-input model), reporting every missing, unknown or misnamed input in one error;
2. checks each value's dtype (no silent narrowing: float64 and friends are refused with the list of
   accepted dtypes) and its exact shape against the declared shape rows (one row for static models, every
   row of ``RKNN_QUERY_INPUT_DYNAMIC_RANGE`` for dynamic ones, the same row for all inputs) — before any
   copy, so a huge zero-stride view is refused without allocating its logical size;
3. converts each value to a C-contiguous, native-byte-order array;
4. applies the layout policy (software NCHW→NHWC transpose for ``nchw_software``);
5. copies arrays still owned by the caller when asked to (asynchronous paths).

Every problem is an :class:`~.errors.InvalidArgumentError` (``RuntimeError`` + ``ValueError``).
"""
from __future__ import annotations

import difflib
from typing import Any, FrozenSet, List, Optional, Sequence, Set, Tuple

import numpy as np

from .errors import InvalidArgumentError
from .tensors import (
    RKNN_TENSOR_BOOL,
    RKNN_TENSOR_FLOAT16,
    RKNN_TENSOR_FLOAT32,
    RKNN_TENSOR_INT8,
    RKNN_TENSOR_INT16,
    RKNN_TENSOR_INT32,
    RKNN_TENSOR_INT64,
    RKNN_TENSOR_NCHW,
    RKNN_TENSOR_NHWC,
    RKNN_TENSOR_UINT8,
    RKNN_TENSOR_UINT16,
    RKNN_TENSOR_UINT32,
    RKNN_TENSOR_UNDEFINED,
    format_shape,
    nhwc_to_nchw_dims,
    numpy_dtype_for_rknn,
    rknn_type_for_dtype,
    type_name,
)

__all__ = ["InputPlan", "PreparedFeed", "build_input_plans", "describe_inputs", "prepare_feed"]

Shape = Tuple[int, ...]

#: Source types ``rknn_inputs_set`` (pass_through 0) converts/quantises into any model type.
_ALWAYS_ACCEPTED: Tuple[int, ...] = (RKNN_TENSOR_FLOAT32, RKNN_TENSOR_FLOAT16, RKNN_TENSOR_UINT8,
                                      RKNN_TENSOR_INT8)
#: Types accepted only when the model input holds exactly that type.
_SAME_TYPE_ONLY: FrozenSet[int] = frozenset(
    {RKNN_TENSOR_INT16, RKNN_TENSOR_UINT16, RKNN_TENSOR_INT32, RKNN_TENSOR_UINT32, RKNN_TENSOR_INT64,
     RKNN_TENSOR_BOOL}
)

LAYOUTS = ("nchw", "nchw_software", "nhwc", "any")


class InputPlan:
    """How one model input is fed on the copy path, for one layout option.

    Attributes:
        index: input index in the model.
        name: input name.
        model_type: ``rknn_tensor_type`` the model holds.
        reported_fmt: format ``RKNN_QUERY_INPUT_ATTR`` reports.
        reported_rows: shape rows in the reported format (one row for static models).
        user_rows: shape rows the caller must give (NCHW for swapped 4-D inputs).
        transpose: the binding transposes NCHW→NHWC in numpy (``nchw_software``).
        pass_fmt: ``rknn_input.fmt`` passed to ``rknn_inputs_set``.
        accepted: accepted source ``rknn_tensor_type`` values, preferred first.
    """

    __slots__ = ("index", "name", "model_type", "reported_fmt", "reported_rows", "user_rows", "transpose",
                 "pass_fmt", "accepted", "accepted_dtypes", "accepted_map", "dynamic")

    def __init__(self, index: int, name: str, model_type: int, reported_fmt: int,
                 reported_rows: Sequence[Sequence[int]], layout: str) -> None:
        if layout not in LAYOUTS:
            raise ValueError("unknown layout {!r}".format(layout))
        self.index = index
        self.name = name
        self.model_type = model_type
        self.reported_fmt = reported_fmt
        self.reported_rows: Tuple[Shape, ...] = tuple(tuple(int(d) for d in r) for r in reported_rows)
        self.dynamic = len(self.reported_rows) > 1
        four_d = bool(self.reported_rows) and len(self.reported_rows[0]) == 4
        swap = four_d and reported_fmt == RKNN_TENSOR_NHWC and layout in ("nchw", "nchw_software")
        # Only a 4-D input the runtime reports as NHWC is shown as NCHW (peer bug §21.1-1 fixed: the peer
        # swapped every 4-D input whatever its fmt).
        self.user_rows: Tuple[Shape, ...] = (
            tuple(nhwc_to_nchw_dims(r) for r in self.reported_rows) if swap else self.reported_rows
        )
        self.transpose = swap and layout == "nchw_software"
        # A plain int: it is written into rknn_input.fmt on every run.
        self.pass_fmt: int
        if not four_d:
            self.pass_fmt = int(RKNN_TENSOR_UNDEFINED)
        elif swap and layout == "nchw":
            self.pass_fmt = int(RKNN_TENSOR_NCHW)  # the runtime transposes
        elif reported_fmt in (RKNN_TENSOR_NHWC, RKNN_TENSOR_NCHW):
            self.pass_fmt = int(reported_fmt)  # data already in the reported order (peer bug §21.1-2 fixed)
        else:
            self.pass_fmt = int(RKNN_TENSOR_UNDEFINED)
        accepted = list(_ALWAYS_ACCEPTED)
        if model_type in _SAME_TYPE_ONLY:
            accepted.insert(0, model_type)
        self.accepted: Tuple[int, ...] = tuple(accepted)
        self.accepted_dtypes = tuple(numpy_dtype_for_rknn(t) for t in self.accepted)
        #: native-order dtype -> rknn type, for the fast path of prepare_feed
        self.accepted_map = {d: t for d, t in zip(self.accepted_dtypes, self.accepted) if d is not None}

    @property
    def user_shape(self) -> Shape:
        """The first (default) shape row the caller gives."""
        return self.user_rows[0] if self.user_rows else ()

    def accepted_names(self) -> str:
        """Comma-separated accepted dtype names, for messages."""
        return ", ".join(type_name(t) for t in self.accepted)

    def expected_shapes_text(self) -> str:
        """The accepted shapes, for messages."""
        if len(self.user_rows) == 1:
            return format_shape(self.user_rows[0])
        return "one of " + ", ".join(format_shape(r) for r in self.user_rows)

    def __repr__(self) -> str:
        return "InputPlan({!r}, shape={}, type={}, pass_fmt={}, transpose={})".format(
            self.name, self.expected_shapes_text(), type_name(self.model_type), self.pass_fmt, self.transpose)


def build_input_plans(
    names: Sequence[str],
    types: Sequence[int],
    fmts: Sequence[int],
    rows: Sequence[Sequence[Sequence[int]]],
    layout: str,
) -> List[InputPlan]:
    """Build one :class:`InputPlan` per model input (all sequences are indexed by input)."""
    return [InputPlan(i, names[i], types[i], fmts[i], rows[i], layout) for i in range(len(names))]


def describe_inputs(plans: Sequence[InputPlan]) -> str:
    """``'a' [1, 3, 4, 4], 'b' [1, 8]`` — the expected inputs, for error messages."""
    return ", ".join("{!r} {}".format(p.name, p.expected_shapes_text()) for p in plans)


class PreparedFeed:
    """A validated feed ready for ``rknn_inputs_set``.

    Attributes:
        arrays: one C-contiguous native-order array per model input, in the passed layout.
        types: ``rknn_tensor_type`` of each array.
        row: index of the dynamic shape row all inputs match (0 for static models).
        batch: number of samples in batch-dispatch mode (``None`` otherwise).
        addresses: the data address of each array; sizes: its byte size.  Worked out here, on the
            submitting thread, so that the worker only copies them into its ``rknn_input`` array.
    """

    __slots__ = ("arrays", "types", "row", "batch", "addresses", "sizes")

    def __init__(self, arrays: List[np.ndarray], types: List[int], row: int, batch: Optional[int]) -> None:
        self.arrays = arrays
        self.types = types
        self.row = row
        self.batch = batch
        # ``.ctypes.data``, not ``__array_interface__``: as fast, and the latter made numpy build a ~1 MB
        # internal table after some 10^4 calls, which the short soak test saw as growth mid-run.
        self.addresses: List[int] = [a.ctypes.data for a in arrays]
        self.sizes: List[int] = [a.nbytes for a in arrays]

    def sample(self, b: int) -> PreparedFeed:
        """Sample ``b`` of a batch-dispatch feed (views of one leading row each)."""
        return PreparedFeed([a[b:b + 1] for a in self.arrays], self.types, self.row, None)


def _order_feed(plans: Sequence[InputPlan], input_feed: Any) -> List[Any]:
    """Match the feed to the model inputs; raises one error naming every problem."""
    n = len(plans)
    if isinstance(input_feed, dict):
        names = [p.name for p in plans]
        missing = [nm for nm in names if input_feed.get(nm) is None]
        unknown = [k for k in input_feed if k not in names]
        if missing or unknown:
            parts = []
            given = list(input_feed)
            if missing:
                parts.append("Required inputs ({!r}) are missing from input feed ({!r}).".format(missing, given))
            if unknown:
                hints = []
                for k in unknown:
                    close = difflib.get_close_matches(str(k), missing or names, n=1)
                    hints.append("{!r}{}".format(k, " (did you mean {!r}?)".format(close[0]) if close else ""))
                parts.append("Unknown inputs: {}.".format(", ".join(hints)))
            parts.append("The model expects {} input{}: {}.".format(n, "" if n == 1 else "s", describe_inputs(plans)))
            raise InvalidArgumentError(" ".join(parts))
        return [input_feed[p.name] for p in plans]
    if isinstance(input_feed, np.ndarray):
        if n != 1:
            raise InvalidArgumentError(
                "Model expects {} inputs, but a single array was given; pass a dict or a list. "
                "Expected inputs: {}.".format(n, describe_inputs(plans)))
        return [input_feed]
    if isinstance(input_feed, (list, tuple)):
        if len(input_feed) != n:
            raise InvalidArgumentError(
                "Input list size mismatch: expected {}, got {}. Expected inputs, in order: {}.".format(
                    n, len(input_feed), describe_inputs(plans)))
        missing_pos = [plans[i].name for i, v in enumerate(input_feed) if v is None]
        if missing_pos:
            raise InvalidArgumentError(
                "Required inputs ({!r}) are missing from input feed (None given). Expected inputs: {}.".format(
                    missing_pos, describe_inputs(plans)))
        return list(input_feed)
    raise InvalidArgumentError(
        "input_feed must be a dict of name -> array, a list/tuple in input order, or a numpy array for a "
        "one-input model; got {}. Expected inputs: {}.".format(type(input_feed).__name__, describe_inputs(plans)))


def _as_array(plan: InputPlan, value: Any) -> Tuple[np.ndarray, bool]:
    """``value`` as an array of an accepted dtype (maybe non-native order); returns (array, fresh copy?).

    An ndarray is not copied here: the shape is checked before :func:`_native_contiguous` copies, so a huge
    zero-stride view is refused without allocating its logical size.
    """
    fresh = False
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.array(value)
        except Exception as exc:  # ragged lists and other objects numpy refuses
            raise InvalidArgumentError("Input {!r}: cannot convert {} to a numpy array ({}); expected an array "
                                       "of shape {}".format(plan.name, type(value).__name__, exc,
                                                            plan.expected_shapes_text())) from None
        fresh = True
    dt = arr.dtype
    if dt not in plan.accepted_dtypes:
        rt = rknn_type_for_dtype(dt)
        if rt is None or rt not in plan.accepted or dt.isnative:
            raise InvalidArgumentError(
                "Input {!r} has dtype {}, which is not accepted; accepted dtypes: {} (convert explicitly, "
                "e.g. arr.astype(np.float32); values are never narrowed silently)".format(
                    plan.name, dt, plan.accepted_names()))
    return arr, fresh


def _native_contiguous(arr: np.ndarray, fresh: bool) -> Tuple[np.ndarray, bool]:
    """``arr`` (of an accepted dtype, shape checked) in native byte order, C-contiguous and aligned."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
        fresh = True
    if not arr.flags.c_contiguous or not arr.flags.aligned:
        arr = np.ascontiguousarray(arr)
        fresh = True
    return arr, fresh


def _fast_path(plans: Sequence[InputPlan], input_feed: Any, copy: bool) -> Optional[PreparedFeed]:
    """The common case, checked cheaply: exact names, ndarrays of accepted dtypes, contiguous, static shapes.

    Returns ``None`` whenever anything is unusual; the general path then decides (and reports problems).
    """
    kind = type(input_feed)
    if kind is dict:
        if len(input_feed) != len(plans):
            return None
        values = []
        for p in plans:
            v = input_feed.get(p.name)
            if v is None:
                return None
            values.append(v)
    elif kind is list or kind is tuple:
        if len(input_feed) != len(plans):
            return None
        values = input_feed
    elif kind is np.ndarray and len(plans) == 1:
        values = [input_feed]
    else:
        return None
    arrays: List[np.ndarray] = []
    types: List[int] = []
    for p, v in zip(plans, values):
        if type(v) is not np.ndarray or p.dynamic:
            return None
        t = p.accepted_map.get(v.dtype)
        if t is None or v.shape != p.user_rows[0]:
            return None
        flags = v.flags
        if not (flags.c_contiguous and flags.aligned):
            return None
        if p.transpose:
            v = np.ascontiguousarray(v.transpose(0, 2, 3, 1))  # a fresh array: no extra copy needed
        elif copy:
            v = v.copy()
        arrays.append(v)
        types.append(t)
    return PreparedFeed(arrays, types, 0, None)


def prepare_feed(plans: Sequence[InputPlan], input_feed: Any, *, copy: bool = False,
                 batch: bool = False) -> PreparedFeed:
    """Validate and convert a feed (see the module docstring).

    Args:
        plans: the session's input plans, in model order.
        input_feed: dict by name, list/tuple in order, or one ndarray.
        copy: return arrays that do not share memory with the caller's objects.
        batch: batch dispatch: the leading dim of every input is a multiple ``k`` of the model's batch 1.

    Returns:
        The prepared feed.

    Raises:
        InvalidArgumentError: any problem; the message lists every problem found and what was expected.
    """
    if not batch:
        fast = _fast_path(plans, input_feed, copy)
        if fast is not None:
            return fast
    values = _order_feed(plans, input_feed)
    problems: List[str] = []
    arrays: List[np.ndarray] = []
    types: List[int] = []
    fresh_flags: List[bool] = []
    candidates: Optional[Set[int]] = None
    batch_sizes: List[int] = []
    for plan, value in zip(plans, values):
        try:
            arr, fresh = _as_array(plan, value)
        except InvalidArgumentError as exc:
            problems.append(str(exc))
            continue
        shape = arr.shape
        if batch:
            if arr.ndim < 1:
                problems.append("Input {!r}: batch dispatch needs arrays with a leading batch axis, got a 0-d "
                                "array".format(plan.name))
                continue
            rows = [i for i, r in enumerate(plan.user_rows)
                    if len(r) == len(shape) and len(r) > 0 and r[0] == 1 and tuple(r[1:]) == shape[1:]]
            if not any(len(r) > 0 and r[0] == 1 for r in plan.user_rows):
                problems.append("Input {!r}: batch dispatch requires the model input's batch dimension to be 1, "
                                "the model declares {}".format(plan.name, plan.expected_shapes_text()))
                continue
            if not rows:
                problems.append("Batch input {!r} shape mismatch: expected [k, ...] with per-sample shape {}, got "
                                "{}".format(plan.name, plan.expected_shapes_text(), format_shape(shape)))
                continue
            batch_sizes.append(shape[0])
        else:
            if plan.dynamic:
                rows = [i for i, r in enumerate(plan.user_rows) if r == shape]
            else:
                rows = [0] if plan.user_rows[0] == shape else []
            if not rows:
                problems.append("Input {!r} shape mismatch: expected {}, got {}".format(
                    plan.name, plan.expected_shapes_text(), format_shape(shape)))
                continue
        candidates = set(rows) if candidates is None else candidates & set(rows)
        arr, fresh = _native_contiguous(arr, fresh)
        if plan.transpose:
            arr = np.ascontiguousarray(arr.transpose(0, 2, 3, 1))
            fresh = True
        arrays.append(arr)
        types.append(int(rknn_type_for_dtype(arr.dtype) or 0))
        fresh_flags.append(fresh)
    if not problems and candidates is not None and not candidates:
        problems.append("the input shapes match different shape rows of the dynamic model; all inputs must use "
                        "the same row: {}".format(describe_inputs(plans)))
    nbatch: Optional[int] = None
    if batch and not problems:
        if len(set(batch_sizes)) > 1:
            problems.append("Batch size mismatch across inputs: leading dims {}".format(batch_sizes))
        elif batch_sizes and batch_sizes[0] == 0:
            problems.append("Batch size must be greater than 0")
        else:
            nbatch = batch_sizes[0] if batch_sizes else 0
    if problems:
        if len(problems) == 1:
            raise InvalidArgumentError(problems[0])
        raise InvalidArgumentError("{} problems with input_feed: {}".format(len(problems), "; ".join(problems)))
    if copy:
        arrays = [a if f else a.copy() for a, f in zip(arrays, fresh_flags)]
    row = min(candidates) if candidates else 0
    return PreparedFeed(arrays, types, row, nbatch)
