"""Unit tests of tensors.py, _feeds.py and _outputs.py (pure numpy, no runtime library)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ztu_somemodelruntime_ez_rknn_async import tensors as T
from ztu_somemodelruntime_ez_rknn_async._feeds import InputPlan, build_input_plans, prepare_feed
from ztu_somemodelruntime_ez_rknn_async._outputs import (
    build_output_plans,
    join_batches,
    output_node_args,
    resolve_output_names,
    select_outputs,
)
from ztu_somemodelruntime_ez_rknn_async.errors import InvalidArgumentError

NHWC, NCHW, UNDEF = T.RKNN_TENSOR_NHWC, T.RKNN_TENSOR_NCHW, T.RKNN_TENSOR_UNDEFINED


# ---------------------------------------------------------------- tensors.py


@pytest.mark.parametrize(
    "rknn_type, ort, dtype",
    [
        (T.RKNN_TENSOR_FLOAT32, "tensor(float)", np.float32),
        (T.RKNN_TENSOR_FLOAT16, "tensor(float16)", np.float16),
        (T.RKNN_TENSOR_INT8, "tensor(int8)", np.int8),
        (T.RKNN_TENSOR_UINT8, "tensor(uint8)", np.uint8),
        (T.RKNN_TENSOR_INT16, "tensor(int16)", np.int16),
        (T.RKNN_TENSOR_UINT16, "tensor(uint16)", np.uint16),
        (T.RKNN_TENSOR_INT32, "tensor(int32)", np.int32),
        (T.RKNN_TENSOR_UINT32, "tensor(uint32)", np.uint32),
        (T.RKNN_TENSOR_INT64, "tensor(int64)", np.int64),
        (T.RKNN_TENSOR_BOOL, "tensor(bool)", np.bool_),
    ],
)
def test_type_maps_round_trip(rknn_type: int, ort: str, dtype: type) -> None:
    assert T.ort_type_string(rknn_type) == ort
    assert T.numpy_dtype_for_rknn(rknn_type) == np.dtype(dtype)
    assert T.rknn_type_for_dtype(np.dtype(dtype)) == rknn_type
    # byte order is ignored by the map itself
    assert T.rknn_type_for_dtype(np.dtype(dtype).newbyteorder(">")) == rknn_type


@pytest.mark.parametrize("t", [T.RKNN_TENSOR_INT4, T.RKNN_TENSOR_BFLOAT16, 12, 99, -1])
def test_unknown_types(t: int) -> None:
    assert T.ort_type_string(t) == "tensor(unknown)"
    assert T.numpy_dtype_for_rknn(t) is None


@pytest.mark.parametrize("dtype", [np.float64, np.complex64, np.object_, "U3", "S2", np.int64, [("a", "i4")]])
def test_dtypes_without_rknn_type(dtype: object) -> None:
    dt = np.dtype(dtype)  # type: ignore[call-overload]
    if dt == np.int64:
        assert T.rknn_type_for_dtype(dt) == T.RKNN_TENSOR_INT64
    else:
        assert T.rknn_type_for_dtype(dt) is None


def test_dims_helpers() -> None:
    assert T.nhwc_to_nchw_dims((1, 224, 320, 3)) == (1, 3, 224, 320)
    assert T.nchw_to_nhwc_dims((1, 3, 224, 320)) == (1, 224, 320, 3)
    assert T.nhwc_to_nchw_dims((1, 8)) == (1, 8)
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    y = T.nchw_to_nhwc(x)
    assert y.shape == (2, 4, 5, 3) and y.flags.c_contiguous
    assert y[1, 2, 3, 0] == x[1, 0, 2, 3]
    np.testing.assert_array_equal(T.nhwc_to_nchw(y), x)
    v = np.zeros(3)
    assert T.nchw_to_nhwc(v) is v


def test_dynamic_shape_summary() -> None:
    assert T.dynamic_shape([(1, 3, 4, 4)]) == [1, 3, 4, 4]
    assert T.dynamic_shape([(1, 3, 4, 4), (1, 3, 8, 4)]) == [1, 3, "dim_2", 4]
    assert T.dynamic_shape([(1, 3), (1, 3, 1)]) == [None, None]
    assert T.dynamic_shape([]) == []


def test_node_arg() -> None:
    a = T.NodeArg("x", [1, None, "dim_2"], "tensor(float)")
    assert a.name == "x" and a.type == "tensor(float)" and a.shape == [1, None, "dim_2"]
    s = a.shape
    s.append(5)
    assert a.shape == [1, None, "dim_2"]  # new list each time
    assert repr(a) == "NodeArg(name='x', type='tensor(float)', shape=[1, None, 'dim_2'])"
    assert a == T.NodeArg("x", (1, None, "dim_2"), "tensor(float)")
    assert hash(a) == hash(T.NodeArg("x", (1, None, "dim_2"), "tensor(float)"))
    with pytest.raises(AttributeError):
        a.name = "y"  # type: ignore[misc]


def test_model_metadata() -> None:
    m = T.ModelMetadata.from_custom_string("model=add;ver=1")
    assert m.custom_metadata_map == {"rknn_custom_string": "model=add;ver=1"}
    m.custom_metadata_map["x"] = "y"
    assert m.custom_metadata_map == {"rknn_custom_string": "model=add;ver=1"}
    assert (m.producer_name, m.graph_name, m.domain, m.description, m.graph_description, m.version) == (
        "", "", "", "", "", 0)
    assert T.ModelMetadata.from_custom_string("").custom_metadata_map == {}
    assert "custom_metadata_map" in repr(m)


# ---------------------------------------------------------------- _feeds.py


def plan(rows, layout="nchw", fmt=NHWC, model_type=T.RKNN_TENSOR_INT8, name="x", index=0):  # type: ignore[no-untyped-def]
    return InputPlan(index, name, model_type, fmt, rows, layout)


@pytest.mark.parametrize(
    "layout, user, pass_fmt, transpose",
    [
        ("nchw", (1, 3, 4, 5), NCHW, False),
        ("nchw_software", (1, 3, 4, 5), NHWC, True),
        ("nhwc", (1, 4, 5, 3), NHWC, False),
        ("any", (1, 4, 5, 3), NHWC, False),
    ],
)
def test_layout_policy_nhwc_input(layout: str, user: tuple, pass_fmt: int, transpose: bool) -> None:
    p = plan([(1, 4, 5, 3)], layout)
    assert p.user_rows == (user,)
    assert p.pass_fmt == pass_fmt and p.transpose is transpose


@pytest.mark.parametrize("layout", ["nchw", "nchw_software", "nhwc", "any"])
def test_layout_policy_never_swaps_nchw_reported_input(layout: str) -> None:
    # peer bug §21.1-1: an input reported as NCHW (e.g. int64) must not be swapped
    p = plan([(1, 3, 4, 5)], layout, fmt=NCHW, model_type=T.RKNN_TENSOR_INT64)
    assert p.user_rows == ((1, 3, 4, 5),)
    assert p.pass_fmt == NCHW and not p.transpose


@pytest.mark.parametrize("layout", ["nchw", "nchw_software", "nhwc", "any"])
def test_layout_policy_non_4d(layout: str) -> None:
    p = plan([(1, 8)], layout, fmt=UNDEF)
    assert p.user_rows == ((1, 8),) and p.pass_fmt == UNDEF and not p.transpose


def test_software_transpose_values() -> None:
    p = plan([(1, 4, 5, 3)], "nchw_software")
    x = np.arange(60, dtype=np.float32).reshape(1, 3, 4, 5)
    f = prepare_feed([p], x)
    assert f.arrays[0].shape == (1, 4, 5, 3) and f.arrays[0].flags.c_contiguous
    np.testing.assert_array_equal(f.arrays[0], x.transpose(0, 2, 3, 1))


def two_inputs(layout="nchw"):  # type: ignore[no-untyped-def]
    return build_input_plans(["in_a", "in_b"], [T.RKNN_TENSOR_INT8] * 2, [NHWC] * 2,
                             [[(1, 4, 4, 3)], [(1, 4, 4, 3)]], layout)


def test_feed_forms() -> None:
    plans = two_inputs()
    a = np.zeros((1, 3, 4, 4), np.float32)
    b = np.ones((1, 3, 4, 4), np.float32)
    for feed in ({"in_a": a, "in_b": b}, [a, b], (a, b)):
        f = prepare_feed(plans, feed)
        assert f.arrays[0] is a and f.arrays[1] is b  # no copy when not needed
        assert f.types == [T.RKNN_TENSOR_FLOAT32] * 2 and f.row == 0 and f.batch is None
    one = [plan([(1, 8)], fmt=UNDEF)]
    v = np.zeros((1, 8), np.float16)
    assert prepare_feed(one, v).arrays[0] is v
    with pytest.raises(InvalidArgumentError, match="single array"):
        prepare_feed(plans, a)


def test_missing_and_unknown_names_all_reported() -> None:
    plans = two_inputs()
    a = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(InvalidArgumentError) as ei:
        prepare_feed(plans, {"in_a": a, "in_c": a, "zzz": a})
    msg = str(ei.value)
    assert "Required inputs (['in_b']) are missing from input feed" in msg
    assert "'in_c' (did you mean 'in_b'?)" in msg and "'zzz'" in msg
    assert "'in_a' [1, 3, 4, 4]" in msg and "'in_b' [1, 3, 4, 4]" in msg
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, RuntimeError)
    with pytest.raises(InvalidArgumentError, match=r"\['in_a', 'in_b'\]"):
        prepare_feed(plans, {})
    with pytest.raises(InvalidArgumentError, match="Input list size mismatch: expected 2, got 1"):
        prepare_feed(plans, [a])
    with pytest.raises(InvalidArgumentError, match="input_feed must be"):
        prepare_feed(plans, "abc")
    with pytest.raises(InvalidArgumentError, match="missing"):
        prepare_feed(plans, {"in_a": a, "in_b": None})


def test_shape_and_dtype_problems_listed_together() -> None:
    plans = two_inputs()
    with pytest.raises(InvalidArgumentError) as ei:
        prepare_feed(plans, {"in_a": np.zeros((1, 4, 4, 3), np.float32), "in_b": np.zeros((1, 3, 4, 4))})
    msg = str(ei.value)
    assert "2 problems" in msg
    assert "Input 'in_a' shape mismatch: expected [1, 3, 4, 4], got [1, 4, 4, 3]" in msg
    assert "Input 'in_b' has dtype float64" in msg and "float32, float16, uint8, int8" in msg


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32, np.bool_, np.complex64, np.uint16])
def test_dtypes_rejected_for_int8_model(dtype: type) -> None:
    with pytest.raises(InvalidArgumentError, match="accepted dtypes: float32, float16, uint8, int8"):
        prepare_feed(two_inputs(), [np.zeros((1, 3, 4, 4), dtype)] * 2)


@pytest.mark.parametrize("dtype, mt", [(np.int64, T.RKNN_TENSOR_INT64), (np.bool_, T.RKNN_TENSOR_BOOL),
                                       (np.int32, T.RKNN_TENSOR_INT32), (np.int16, T.RKNN_TENSOR_INT16)])
def test_same_type_dtypes_accepted(dtype: type, mt: int) -> None:
    p = plan([(2, 3)], fmt=UNDEF, model_type=mt)
    f = prepare_feed([p], np.ones((2, 3), dtype))
    assert f.types == [mt]
    assert p.accepted_names().startswith(T.type_name(mt))


def test_byte_order_converted() -> None:
    p = plan([(1, 8)], fmt=UNDEF)
    x = np.arange(8, dtype=">f4").reshape(1, 8)
    f = prepare_feed([p], x)
    assert f.arrays[0].dtype == np.float32 and f.arrays[0].dtype.isnative
    np.testing.assert_array_equal(f.arrays[0], np.arange(8, dtype=np.float32).reshape(1, 8))
    with pytest.raises(InvalidArgumentError, match="dtype >f8"):
        prepare_feed([p], x.astype(">f8"))


def test_lists_and_non_contiguous() -> None:
    p = plan([(1, 8)], fmt=UNDEF)
    with pytest.raises(InvalidArgumentError, match="float64"):
        prepare_feed([p], [[0.5] * 8])  # python floats are float64: refused, never narrowed
    with pytest.raises(InvalidArgumentError, match="int64"):
        prepare_feed([p], [[1] * 8])
    with pytest.raises(InvalidArgumentError, match="cannot convert|dtype"):
        prepare_feed([p], [[[1, 2], [3]]])
    x = np.arange(16, dtype=np.float32).reshape(1, 16)[:, ::2]
    assert not x.flags.c_contiguous
    f = prepare_feed([p], x)
    assert f.arrays[0].flags.c_contiguous
    np.testing.assert_array_equal(f.arrays[0], x)


def test_copy_flag_detaches_from_caller() -> None:
    p = plan([(1, 8)], fmt=UNDEF)
    x = np.zeros((1, 8), np.float32)
    f = prepare_feed([p], x, copy=True)
    assert f.arrays[0] is not x and not np.shares_memory(f.arrays[0], x)
    x[:] = 7
    assert f.arrays[0].sum() == 0


def test_dynamic_rows() -> None:
    rows_a = [(1, 4, 4, 3), (1, 8, 8, 3)]
    rows_b = [(1, 5), (1, 6)]
    plans = [InputPlan(0, "a", T.RKNN_TENSOR_FLOAT16, NHWC, rows_a, "nchw"),
             InputPlan(1, "b", T.RKNN_TENSOR_FLOAT16, UNDEF, rows_b, "nchw")]
    f = prepare_feed(plans, [np.zeros((1, 3, 8, 8), np.float32), np.zeros((1, 6), np.float32)])
    assert f.row == 1
    with pytest.raises(InvalidArgumentError, match="same row"):
        prepare_feed(plans, [np.zeros((1, 3, 8, 8), np.float32), np.zeros((1, 5), np.float32)])
    with pytest.raises(InvalidArgumentError, match=r"one of \[1, 3, 4, 4\], \[1, 3, 8, 8\]"):
        prepare_feed(plans, [np.zeros((1, 3, 9, 9), np.float32), np.zeros((1, 5), np.float32)])


def test_batch_mode() -> None:
    plans = two_inputs("nchw_software")
    a = np.arange(5 * 48, dtype=np.float32).reshape(5, 3, 4, 4)
    f = prepare_feed(plans, [a, a], batch=True)
    assert f.batch == 5 and f.arrays[0].shape == (5, 4, 4, 3)
    s = f.sample(2)
    assert s.arrays[0].shape == (1, 4, 4, 3) and s.arrays[0].flags.c_contiguous
    np.testing.assert_array_equal(s.arrays[0], a[2:3].transpose(0, 2, 3, 1))
    with pytest.raises(InvalidArgumentError, match="Batch size mismatch"):
        prepare_feed(plans, [a, a[:4]], batch=True)
    with pytest.raises(InvalidArgumentError, match="greater than 0"):
        prepare_feed(plans, [a[:0], a[:0]], batch=True)
    with pytest.raises(InvalidArgumentError, match="Batch input 'in_b' shape mismatch"):
        prepare_feed(plans, [a, a[:, :2]], batch=True)
    p2 = [plan([(2, 8)], fmt=UNDEF)]
    with pytest.raises(InvalidArgumentError, match="batch dimension to be 1"):
        prepare_feed(p2, np.zeros((4, 8), np.float32), batch=True)


_dtypes = st.sampled_from([np.float32, np.float16, np.uint8, np.int8, np.float64, np.int64, np.bool_, np.int16])


@given(
    names=st.lists(st.sampled_from(["in_a", "in_b", "in_c", "x", ""]), max_size=4),
    shapes=st.lists(st.lists(st.integers(0, 5), max_size=5), min_size=4, max_size=4),
    dtypes=st.lists(_dtypes, min_size=4, max_size=4),
    layout=st.sampled_from(["nchw", "nchw_software", "nhwc", "any"]),
    strided=st.booleans(),
    as_list=st.booleans(),
)
def test_feed_fuzz_never_crashes(names, shapes, dtypes, layout, strided, as_list) -> None:  # type: ignore[no-untyped-def]
    plans = build_input_plans(["in_a", "in_b"], [T.RKNN_TENSOR_INT8] * 2, [NHWC] * 2,
                              [[(1, 4, 4, 3)], [(1, 4, 4, 3)]], layout)
    arrays = []
    for shape, dt in zip(shapes, dtypes):
        full = [d * 2 if strided else d for d in shape]
        a = np.zeros(full, dt)
        if strided and a.ndim:
            a = a[(slice(None, None, 2),) * a.ndim]
        arrays.append(a)
    feed = arrays[:len(names)] if as_list else dict(zip(names, arrays))
    try:
        f = prepare_feed(plans, feed, copy=strided)
    except InvalidArgumentError as exc:
        assert str(exc)
        return
    for arr, p in zip(f.arrays, plans):
        assert arr.flags.c_contiguous and arr.dtype.isnative
        assert arr.shape == (p.reported_rows[0] if p.transpose or layout in ("nhwc", "any") else p.user_rows[0])


# ---------------------------------------------------------------- _outputs.py


def test_output_plans_and_node_args() -> None:
    plans = build_output_plans(["o1", "o2"], [T.RKNN_TENSOR_INT8, T.RKNN_TENSOR_FLOAT16],
                               [[(1, 3, 4, 4)], [(1, 4), (2, 4)]], native=False)
    assert [p.dtype for p in plans] == [np.float32, np.float32] and all(p.want_float == 1 for p in plans)
    assert output_node_args(plans) == [T.NodeArg("o1", [1, 3, 4, 4], "tensor(float)"),
                                       T.NodeArg("o2", ["dim_0", 4], "tensor(float)")]
    native = build_output_plans(["o1", "o2", "o3"], [T.RKNN_TENSOR_INT8, T.RKNN_TENSOR_FLOAT16, T.RKNN_TENSOR_INT4],
                                [[(1,)], [(1,)], [(1,)]], native=True)
    assert [p.dtype for p in native] == [np.int8, np.float16, np.float32]
    assert [p.want_float for p in native] == [0, 0, 1]
    assert [a.type for a in output_node_args(native)] == ["tensor(int8)", "tensor(float16)", "tensor(float)"]


def test_resolve_output_names() -> None:
    plans = build_output_plans(["a", "b"], [0, 0], [[(1,)], [(1,)]], native=False)
    assert resolve_output_names(plans, None) is None
    assert resolve_output_names(plans, []) is None
    assert resolve_output_names(plans, ["b", "a", "b"]) == [1, 0, 1]
    assert resolve_output_names(plans, ("a",)) == [0]
    with pytest.raises(InvalidArgumentError, match=r"Unknown output names: 'c', 3\. The model's outputs are: 'a', 'b'"):
        resolve_output_names(plans, ["c", "a", 3])
    with pytest.raises(InvalidArgumentError, match=r"did you mean \['a'\]"):
        resolve_output_names(plans, "a")
    with pytest.raises(InvalidArgumentError, match="sequence"):
        resolve_output_names(plans, 5)


def test_select_outputs_duplicates_share_memory() -> None:
    arrays = [np.zeros(2, np.float32), np.ones(2, np.float32)]
    assert select_outputs(arrays, None) is arrays
    out = select_outputs(arrays, [1, 0, 1])
    assert out[0] is arrays[1] and out[2] is not out[0] and np.shares_memory(out[0], out[2])


def test_join_batches_first_dim_not_one() -> None:
    # peer bug §21.1-4: outputs whose dim 0 is > 1 must join along axis 0 without overflow
    s1 = [np.full((2, 3), 1.0, np.float32), np.float32(1.0) * np.ones((), np.float32)]
    s2 = [np.full((2, 3), 2.0, np.float32), np.float32(2.0) * np.ones((), np.float32)]
    j = join_batches([s1, s2])
    assert j[0].shape == (4, 3)
    np.testing.assert_array_equal(j[0][:2], 1.0)
    np.testing.assert_array_equal(j[0][2:], 2.0)
    assert j[1].shape == (2,) and list(j[1]) == [1.0, 2.0]
    assert join_batches([]) == []
