"""Weight sharing through the public API: ``InferenceSession(slave, use_weight_from=master)``.

The master model carries weights (``weights_id``); the slave is weight-less (``weights_from``) and has another
input shape, as in the peer's acceptance test (``(3, 4, 16)`` vs ``(3, 4, 20)``). The simulator checks that the
slave's contexts are created with ``RKNN_FLAG_SHARE_WEIGHT_MEM`` and the master's context, and refuses models
that do not fit together.
"""
from __future__ import annotations

import gc
import pathlib
import threading
from typing import Any, List, Optional, Tuple

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator
from ztu_somemodelruntime_ez_rknn_async.errors import (
    InvalidArgumentError,
    InvalidOptionError,
    RknnModelInvalidError,
    SessionClosedError,
)
from ztu_somemodelruntime_ez_rknn_async.zero_copy import OrtValue

TS = simulator.TensorSpec
SIM = {"runtime_library": "simulator"}
MASTER_SHAPE = (3, 4, 16)
SLAVE_SHAPE = (3, 4, 20)


def _specs(shape: Tuple[int, ...]) -> Tuple[List[Any], List[Any]]:
    return [TS("x", shape, "float16")], [TS("y", shape, "float16")]


@pytest.fixture()
def models(native_model: Any) -> Tuple[pathlib.Path, pathlib.Path]:
    ins, outs = _specs(MASTER_SHAPE)
    master = native_model(ins, outs, name="master.rknn", latency_us=0, weights_id="scale")
    ins, outs = _specs(SLAVE_SHAPE)
    slave = native_model(ins, outs, name="slave.rknn", latency_us=0, weights_from="scale")
    return master, slave


def _x(shape: Tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(np.float16)


def _check(sess: InferenceSession, shape: Tuple[int, ...], seed: int = 0) -> None:
    x = _x(shape, seed)
    [y] = sess.run(None, {"x": x})
    assert y.shape == shape
    np.testing.assert_array_equal(y, simulator.expected_outputs(*_specs(shape), [x])[0])


def test_master_and_slave_with_different_shapes(sim: Any, models: Tuple[pathlib.Path, pathlib.Path]) -> None:
    master_path, slave_path = models
    with InferenceSession(str(master_path), provider_options=SIM) as master:
        with InferenceSession(str(slave_path), provider_options=SIM, use_weight_from=master) as slave:
            assert slave.get_inputs()[0].shape == list(SLAVE_SHAPE)
            assert master.get_inputs()[0].shape == list(MASTER_SHAPE)
            _check(master, MASTER_SHAPE)
            _check(slave, SLAVE_SHAPE, 1)
            # Every execution path of the slave.
            x = _x(SLAVE_SHAPE, 2)
            expected = simulator.expected_outputs(*_specs(SLAVE_SHAPE), [x])[0]
            np.testing.assert_array_equal(slave.submit(None, {"x": x}).result(10)[0], expected)
            done = threading.Event()
            got: List[Any] = []

            def callback(results: List[np.ndarray], user_data: Any, err: str) -> None:
                got.append((results, user_data, err))
                done.set()

            slave.run_async(None, {"x": x}, callback, "tag")
            assert done.wait(10)
            results, user_data, err = got[0]
            assert err == "" and user_data == "tag"
            np.testing.assert_array_equal(results[0], expected)


def test_slave_keeps_working_after_the_master_is_dropped(sim: Any,
                                                         models: Tuple[pathlib.Path, pathlib.Path]) -> None:
    master_path, slave_path = models
    contexts = sim.counter("live_contexts")
    master: Optional[InferenceSession] = InferenceSession(str(master_path), provider_options=SIM)
    slave = InferenceSession(str(slave_path), provider_options=SIM, use_weight_from=master)
    _check(slave, SLAVE_SHAPE)
    del master
    gc.collect()
    for seed in range(3):  # new data after the master is gone
        _check(slave, SLAVE_SHAPE, seed + 10)
    assert sim.counter("live_contexts") > contexts  # the master's weights are still held for the slave
    slave.close()
    del slave
    gc.collect()
    assert sim.counter("live_contexts") == contexts  # ... and released with it


def test_slave_keeps_working_after_the_master_is_closed(sim: Any, models: Tuple[pathlib.Path, pathlib.Path]) -> None:
    master_path, slave_path = models
    master = InferenceSession(str(master_path), provider_options=SIM)
    with InferenceSession(str(slave_path), provider_options=SIM, use_weight_from=master) as slave:
        master.close()
        with pytest.raises(SessionClosedError):
            master.run(None, {"x": _x(MASTER_SHAPE)})
        _check(slave, SLAVE_SHAPE, 3)
        with pytest.raises(InvalidArgumentError, match="open InferenceSession"):
            InferenceSession(str(slave_path), provider_options=SIM, use_weight_from=master)


def test_several_slaves_share_one_master(sim: Any, models: Tuple[pathlib.Path, pathlib.Path]) -> None:
    master_path, slave_path = models
    with InferenceSession(str(master_path), provider_options=SIM) as master:
        slaves = [InferenceSession(str(slave_path), provider_options=SIM, use_weight_from=master) for _ in range(2)]
        try:
            for k, s in enumerate(slaves):
                _check(s, SLAVE_SHAPE, k)
        finally:
            for s in slaves:
                s.close()
        _check(master, MASTER_SHAPE)


def test_slave_contexts_are_initialised_not_duplicated(sim: Any, models: Tuple[pathlib.Path, pathlib.Path]) -> None:
    master_path, slave_path = models
    with InferenceSession(str(master_path), provider_options=SIM) as master:
        inits, dups = sim.counter("calls:rknn_init"), sim.counter("calls:rknn_dup_context")
        options = dict(SIM, threads_per_core=3)
        with InferenceSession(str(slave_path), provider_options=options, use_weight_from=master) as slave:
            assert sim.counter("calls:rknn_dup_context") == dups
            assert sim.counter("calls:rknn_init") == inits + 1 + 3  # the slave's master context + 3 workers
            futures = [slave.submit(None, {"x": _x(SLAVE_SHAPE, k)}) for k in range(6)]
            for k, f in enumerate(futures):
                np.testing.assert_array_equal(
                    f.result(10)[0], simulator.expected_outputs(*_specs(SLAVE_SHAPE), [_x(SLAVE_SHAPE, k)])[0])


def test_models_that_do_not_fit_together(sim: Any, native_model: Any, models: Tuple[pathlib.Path, pathlib.Path]) -> None:
    master_path, slave_path = models
    other = native_model(*_specs(SLAVE_SHAPE), name="other.rknn", latency_us=0, weights_from="other-weights")
    plain = native_model(*_specs(MASTER_SHAPE), name="plain.rknn", latency_us=0)
    dynamic = native_model([TS("x", (1, 4), shapes=[(1, 4), (2, 4)])], [TS("y", (1, 4))], name="dyn.rknn",
                           latency_us=0, weights_from="scale")
    with InferenceSession(str(master_path), provider_options=SIM) as master:
        with pytest.raises(RknnModelInvalidError, match="rknn_init"):
            InferenceSession(str(other), provider_options=SIM, use_weight_from=master)
        with pytest.raises(RknnModelInvalidError):
            InferenceSession(str(dynamic), provider_options=SIM, use_weight_from=master)
        with InferenceSession(str(plain), provider_options=SIM) as weightless_master:
            # The master carries no weights with the id the slave asks for.
            with pytest.raises(RknnModelInvalidError):
                InferenceSession(str(slave_path), provider_options=SIM, use_weight_from=weightless_master)
    # A weight-less model on its own.
    with pytest.raises(RknnModelInvalidError, match="rknn_init"):
        InferenceSession(str(slave_path), provider_options=SIM)


def test_use_weight_from_argument_errors(sim: Any, models: Tuple[pathlib.Path, pathlib.Path],
                                         tmp_path: pathlib.Path) -> None:
    master_path, slave_path = models
    with pytest.raises(InvalidArgumentError, match="use_weight_from must be an InferenceSession"):
        InferenceSession(str(slave_path), provider_options=SIM, use_weight_from="master")  # type: ignore[arg-type]
    plugin = tmp_path / "librkcst_x.so"
    plugin.write_bytes(b"")
    with InferenceSession(str(master_path), provider_options=SIM) as master:
        with pytest.raises(InvalidOptionError, match="custom"):
            InferenceSession(str(slave_path), provider_options=dict(SIM, custom_op_paths=[str(plugin)]),
                             use_weight_from=master)


@pytest.mark.parametrize("drop_master", [False, True])
def test_slave_supports_zero_copy(sim: Any, models: Tuple[pathlib.Path, pathlib.Path], drop_master: bool) -> None:
    master_path, slave_path = models
    master: Optional[InferenceSession] = InferenceSession(str(master_path), provider_options=SIM)
    slave = InferenceSession(str(slave_path), provider_options=SIM, use_weight_from=master)
    try:
        if drop_master:
            master = None
            gc.collect()
        x = _x(SLAVE_SHAPE, 5)
        [baseline] = slave.run(None, {"x": x})
        binding = slave.io_binding()
        xv = OrtValue.ortvalue_from_numpy(x, "rknpu2", session=slave, name="x", io_kind="input")
        binding.bind_ortvalue_input("x", xv)
        binding.bind_output("y", "rknpu2")
        slave.run_with_iobinding(binding)
        y = binding.get_outputs()[0]
        info = y.memory_info()
        assert y.numpy().shape == SLAVE_SHAPE and info["device_type"] == "rknpu2" and info["dmabuf_backed"]
        np.testing.assert_array_equal(y.numpy().astype(np.float32), baseline)
        x2 = (x + np.float16(0.25)).astype(np.float16)
        xv.update_inplace(x2)
        slave.run_with_iobinding(binding)
        np.testing.assert_array_equal(y.numpy().astype(np.float32),
                                      simulator.expected_outputs(*_specs(SLAVE_SHAPE), [x2])[0])
        del binding, xv, y
    finally:
        slave.close()
        if master is not None:
            master.close()
