"""Shared fixtures for the test suite.

* ``sim_library``: path of the compiled simulator (session-scoped; built once per cache key).
* ``sim``: the simulator's control API (counters, faults, SoC profile); resets faults/SoC after a test.
* leak check (autouse): for every test that touches the simulator, ``live_contexts``, ``live_mems`` and
  ``unreleased_outputs`` must be back to their start values and ``violations`` must not grow. A test that
  provokes misuse on purpose is marked ``@pytest.mark.allow_violations``.
* ``shared_dir``: the read-only ``shared/`` tree next to the repository (real .rknn models, references).
* ``native_model``: factory writing a simulator-native model into ``tmp_path``.

Tests that need the simulator request ``sim_library`` (directly or through ``sim`` / ``native_model``);
pure-Python tests never build or load it.
"""
from __future__ import annotations

import gc
import os
import pathlib
import time
from typing import Any, Callable, Iterator, Optional, Sequence

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ztu", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    max_examples=50,
)
settings.load_profile(os.environ.get("ZTU_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "ztu"))

_LEAK_COUNTERS = ("live_contexts", "live_mems", "unreleased_outputs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_violations: the test provokes simulator violations on purpose")


@pytest.fixture(scope="session")
def sim_library() -> str:
    """The compiled simulator's path (skips the test when no C compiler is available)."""
    from ztu_somemodelruntime_ez_rknn_async import simulator

    try:
        return simulator.library_path()
    except simulator.SimulatorBuildError as exc:  # pragma: no cover - depends on the machine
        pytest.skip("simulator cannot be built: {}".format(exc))
        raise


@pytest.fixture()
def sim(sim_library: str) -> Iterator[Any]:
    """The simulator control API; faults, delays, latency override and SoC are reset afterwards."""
    from ztu_somemodelruntime_ez_rknn_async import simulator

    control = simulator.control()
    control.clear_faults()
    yield control
    control.clear_faults()
    control.set_latency_override(None)
    control.set_jitter(0.0)
    control.set_soc("rk3588")


def _counters(control: Any) -> dict:  # type: ignore[type-arg]
    return {name: control.counter(name) for name in _LEAK_COUNTERS + ("violations",)}


@pytest.fixture(autouse=True)
def _simulator_leak_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """Resources created by a test must be released by its end; no misuse may be recorded."""
    if "sim_library" not in request.fixturenames:
        yield
        return
    from ztu_somemodelruntime_ez_rknn_async import simulator

    request.getfixturevalue("sim_library")
    control = simulator.control()
    gc.collect()
    before = _counters(control)
    yield
    after = before
    # Sessions dropped at the end of a test are finalised by gc; worker threads may need a moment.
    deadline = time.monotonic() + 10.0
    while True:
        gc.collect()
        after = _counters(control)
        settled = all(after[k] == before[k] for k in _LEAK_COUNTERS)
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    for name in _LEAK_COUNTERS:
        assert after[name] == before[name], "simulator counter {} went {} -> {}".format(name, before[name], after[name])
    # ``violations`` is cumulative: a test calling reset_counters() may lower it, never raise it.
    if request.node.get_closest_marker("allow_violations") is None:
        assert after["violations"] <= before["violations"], "simulator recorded {} violation(s)".format(
            after["violations"] - before["violations"])


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """``shared/`` next to the repository: real .rknn models and reference data."""
    path = pathlib.Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():  # pragma: no cover - depends on the checkout
        pytest.skip("shared/ not found at {}".format(path))
    return path


NativeModelFactory = Callable[..., pathlib.Path]


@pytest.fixture()
def native_model(tmp_path: pathlib.Path, sim_library: str) -> NativeModelFactory:
    """Factory: ``native_model(inputs, outputs, name="m.rknn", **write_model_kwargs) -> path``.

    ``inputs``/``outputs`` are sequences of ``simulator.TensorSpec`` (or dicts of its fields).
    """
    from ztu_somemodelruntime_ez_rknn_async import simulator

    counter = [0]

    def make(inputs: Sequence[Any], outputs: Sequence[Any], name: Optional[str] = None,
             **kwargs: Any) -> pathlib.Path:
        counter[0] += 1
        path = tmp_path / (name or "model{}.rknn".format(counter[0]))
        return pathlib.Path(simulator.write_model(path, inputs, outputs, **kwargs))

    return make
