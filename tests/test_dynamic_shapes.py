"""Dynamic-shape models through the public API: every declared shape row on every execution path.

The model has an NHWC-reported image input with three shape rows (the batch and the spatial size vary) and
a 2-D input whose rows follow along; an output takes the current shapes, another keeps its dims. Feeds of a
row must be accepted by ``run``/``run_async``/``submit``/``imap``, with outputs in that row's shapes;
shapes outside the rows (or rows mixed across inputs) are refused before anything reaches the runtime.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator
from ztu_somemodelruntime_ez_rknn_async.errors import InvalidArgumentError
from ztu_somemodelruntime_ez_rknn_async.zero_copy import OrtValue

TS = simulator.TensorSpec
SIM = {"runtime_library": "simulator"}

IMG_ROWS = [(1, 3, 4, 4), (1, 3, 8, 6), (2, 3, 4, 4)]
VEC_ROWS = [(1, 5), (2, 5), (4, 5)]
INPUTS = [TS("img", IMG_ROWS[0], "float16", shapes=IMG_ROWS), TS("vec", VEC_ROWS[0], shapes=VEC_ROWS)]
OUTPUTS = [TS("out", IMG_ROWS[0], "float16", shapes=IMG_ROWS), TS("fixed", (2, 2))]


@pytest.fixture()
def model(native_model: Any) -> Any:
    return native_model(INPUTS, OUTPUTS, name="dyn.rknn", latency_us=0)


def _feed(row: int, seed: int = 0, nhwc: bool = False) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 10 * row)
    img = rng.uniform(-3, 3, IMG_ROWS[row]).astype(np.float16)
    vec = rng.uniform(-3, 3, VEC_ROWS[row]).astype(np.float32)
    return {"img": np.ascontiguousarray(img.transpose(0, 2, 3, 1)) if nhwc else img, "vec": vec}


def _expected(row: int, seed: int = 0) -> List[np.ndarray]:
    f = _feed(row, seed)
    return simulator.expected_outputs(INPUTS, OUTPUTS, [f["img"], f["vec"]])


def _check(outputs: Sequence[np.ndarray], row: int, seed: int = 0) -> None:
    expected = _expected(row, seed)
    assert [o.shape for o in outputs] == [IMG_ROWS[row], (2, 2)]
    for got, want in zip(outputs, expected):
        np.testing.assert_array_equal(got, want)


def test_node_args_show_dynamic_axes(sim: Any, model: Any) -> None:
    with InferenceSession(str(model), provider_options=SIM) as sess:
        img, vec = sess.get_inputs()
        assert img.name == "img" and img.type == "tensor(float16)"
        # Varying axes are symbolic (str) or unknown (None); fixed axes keep their size.
        assert img.shape[1] == 3 and all(isinstance(d, (str, type(None))) for d in (img.shape[0], img.shape[2],
                                                                                     img.shape[3]))
        assert isinstance(vec.shape[0], (str, type(None))) and vec.shape[1] == 5
        out, fixed = sess.get_outputs()
        assert out.shape[1] == 3 and all(isinstance(d, (str, type(None))) for d in (out.shape[0], out.shape[2],
                                                                                     out.shape[3]))
        assert fixed.shape == [2, 2]


@pytest.mark.parametrize("row", range(len(IMG_ROWS)))
def test_run_accepts_every_row(sim: Any, model: Any, row: int) -> None:
    with InferenceSession(str(model), provider_options=SIM) as sess:
        _check(sess.run(None, _feed(row)), row)
        _check(sess.run(["out", "fixed"], _feed(row, 1)), row, 1)


def test_run_async_submit_and_imap_accept_every_row(sim: Any, model: Any) -> None:
    with InferenceSession(str(model), provider_options=dict(SIM, threads_per_core=2)) as sess:
        rows = [0, 1, 2, 2, 1, 0, 1]
        # submit: shapes change from one task to the next, on whichever worker takes it.
        futures = [sess.submit(None, _feed(r, k)) for k, r in enumerate(rows)]
        for k, (r, f) in enumerate(zip(rows, futures)):
            _check(f.result(10), r, k)
        # run_async: results in submission order through the callback.
        got: List[Tuple[Any, str, List[np.ndarray]]] = []
        done = threading.Event()

        def callback(results: List[np.ndarray], user_data: Any, err: str) -> None:
            got.append((user_data, err, results))
            if len(got) == len(rows):
                done.set()

        for k, r in enumerate(rows):
            sess.run_async(None, _feed(r, 100 + k), callback, (k, r))
        assert done.wait(20)
        for (k, r), err, results in got:
            assert err == ""
            _check(results, r, 100 + k)
        # imap: ordered results for a stream of mixed shapes.
        for k, (r, outs) in enumerate(zip(rows, sess.imap(_feed(r, 200 + k) for k, r in enumerate(rows)))):
            _check(outs, r, 200 + k)


def test_alternating_shapes_on_one_worker(sim: Any, model: Any) -> None:
    with InferenceSession(str(model), provider_options=SIM) as sess:
        for k in range(6):
            row = k % len(IMG_ROWS)
            _check(sess.run(None, _feed(row, k)), row, k)


def test_nhwc_layout_takes_every_row_in_nhwc(sim: Any, model: Any) -> None:
    with InferenceSession(str(model), provider_options=dict(SIM, layout="nhwc")) as sess:
        for row in range(len(IMG_ROWS)):
            _check(sess.run(None, _feed(row, nhwc=True)), row)


def test_shapes_outside_the_rows_are_refused(sim: Any, model: Any) -> None:
    runs = sim.counter("calls:rknn_run")
    with InferenceSession(str(model), provider_options=SIM) as sess:
        bad = _feed(0)
        bad["img"] = np.zeros((1, 3, 8, 8), np.float16)
        with pytest.raises(InvalidArgumentError, match="img") as info:
            sess.run(None, bad)
        assert "1, 3, 8, 6" in str(info.value)  # the accepted shapes are listed
        mixed = {"img": _feed(0)["img"], "vec": _feed(1)["vec"]}  # rows may not be combined across inputs
        with pytest.raises(InvalidArgumentError):
            sess.run(None, mixed)
        with pytest.raises(InvalidArgumentError):
            sess.submit(None, mixed).result(10)
        # The session still serves every row afterwards.
        _check(sess.run(None, _feed(2)), 2)
    assert sim.counter("calls:rknn_run") == runs + 1


def test_zero_copy_of_a_dynamic_model_uses_the_first_row(sim: Any, model: Any) -> None:
    with InferenceSession(str(model), provider_options=SIM) as sess:
        shapes_set = sim.counter("calls:rknn_set_input_shapes")
        binding = sess.io_binding()
        assert sim.counter("calls:rknn_set_input_shapes") == shapes_set + 1  # the engine's context gets row 0
        feed = _feed(0)
        binding.bind_ortvalue_input("img", OrtValue.ortvalue_from_numpy(feed["img"], "rknpu2", session=sess,
                                                                        name="img", io_kind="input"))
        binding.bind_cpu_input("vec", feed["vec"])
        binding.bind_output("out", "rknpu2")
        binding.bind_output("fixed", "rknpu2")
        sess.run_with_iobinding(binding)
        outs = binding.copy_outputs_to_cpu()
        _check([o.astype(np.float32) for o in outs], 0)
        with pytest.raises(InvalidArgumentError, match="shape mismatch"):
            OrtValue.ortvalue_from_numpy(_feed(1)["img"], "rknpu2", session=sess, name="img", io_kind="input")
        del binding, outs
