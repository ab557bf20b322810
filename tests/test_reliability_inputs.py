"""Issue #7, bad input: options and feeds.

What ``test_options_properties.py`` already proves at the parser level (every valid spelling normalises the
same way, junk only ever raises InvalidOptionError) is not repeated; this file adds what only the session can
show:

* every invalid provider/run/session option raises the documented error *and never reaches the runtime*: the
  simulator's ``calls:rknn_init`` (construction) or ``calls:rknn_inputs_set``/``calls:rknn_run`` (run options)
  counters do not move;
* valid spellings reach the session normalised: two spellings of one configuration give sessions with the same
  ``provider_config`` and the same ``get_provider_options()``;
* random feeds (names, containers, shapes incl. zero-size and huge ones like ``(1 << 40,)`` as cheap
  broadcast views, dtypes, byte orders, layouts, non-contiguous/negative/zero strides, unaligned buffers,
  Python objects) through every submission API never crash or hang: either the documented
  InvalidArgumentError, raised before anything reaches the runtime, or the correct result
  (``ZTU_FEED_EXAMPLES=<n>`` runs more examples than the default 200).
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import pathlib
import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator
from ztu_somemodelruntime_ez_rknn_async.errors import InvalidArgumentError, InvalidOptionError
from ztu_somemodelruntime_ez_rknn_async.options import PROVIDER_OPTION_KEYS, parse_providers
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

SIM = {"runtime_library": "simulator"}
WAIT_S = 30.0
SETTINGS = settings(deadline=None, max_examples=60,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FEED_SETTINGS = settings(SETTINGS, max_examples=int(os.environ.get("ZTU_FEED_EXAMPLES", "200")))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory, sim_library: str) -> pathlib.Path:
    return pathlib.Path(simulator.write_model(tmp_path_factory.mktemp("inputs") / "m.rknn",
                                              [TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))], latency_us=0))


@pytest.fixture(scope="module")
def image_model_path(tmp_path_factory: pytest.TempPathFactory, sim_library: str) -> pathlib.Path:
    """Two inputs: an NHWC-reported uint8 image and a float16 vector; a 4-D and a scalar output."""
    return pathlib.Path(simulator.write_model(
        tmp_path_factory.mktemp("inputs-img") / "img.rknn",
        [TensorSpec("image", (1, 3, 4, 4), "uint8"), TensorSpec("scale", (1, 2), "float16")],
        [TensorSpec("out", (1, 3, 4, 4)), TensorSpec("s", ())], latency_us=0))


def _calls(sim: Any, *funcs: str) -> Tuple[int, ...]:
    return tuple(int(sim.counter("calls:" + f)) for f in funcs)


# ---------------------------------------------------------------------------------------------- options

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-3, 20), st.floats(allow_nan=True), st.text(max_size=8),
    st.sampled_from(["auto", "ALL", "0,1", " 2 ", "true", "Off", "nchw", "native", "x.so", "", "-1", "1e3",
                     "0x10", "3.0", "nhwc ", "[0,1]", "0,,1", "9"]),
    st.binary(max_size=4), st.builds(object), st.lists(st.integers(-2, 4), max_size=4),
)
option_keys = st.one_of(st.sampled_from([k for k in PROVIDER_OPTION_KEYS
                                         if k not in ("runtime_library", "custom_op_path", "custom_op_paths",
                                                      "custom_op_default_path", "load_custom_ops_from_default_path")]),
                        st.text(max_size=10))


@SETTINGS
@given(options=st.dictionaries(option_keys, scalars, min_size=1, max_size=4))
def test_invalid_provider_options_never_reach_the_runtime(model_path: pathlib.Path, sim: Any,
                                                          options: Dict[str, Any]) -> None:
    options = dict(options, runtime_library="simulator")
    try:
        expected = parse_providers(None, options)
    except InvalidOptionError:
        expected = None
    before = _calls(sim, "rknn_init", "rknn_query")
    if expected is None:
        with pytest.raises(InvalidOptionError) as ei:
            InferenceSession(str(model_path), provider_options=options)
        assert isinstance(ei.value, ValueError) and str(ei.value)
        assert _calls(sim, "rknn_init", "rknn_query") == before  # rejected before anything was loaded
        return
    # valid after all: the session reports exactly the parsed configuration
    if expected.threads_per_core * len(set(expected.schedule or (0,))) > 12:
        return  # valid, but too many contexts for a quick property test
    try:
        sess = InferenceSession(str(model_path), provider_options=options)
    except (ez.RknnError, ez.SubmitTimeoutError) as exc:  # e.g. a core mask this SoC refuses: named, cleaned up
        assert "rknn_" in str(exc)
        return
    with sess:
        assert sess.provider_config == expected
        x = np.arange(4, dtype=np.float32).reshape(1, 4)
        np.testing.assert_array_equal(sess.run(None, {"x": x})[0], x)


SPELLINGS: List[Tuple[Dict[str, Any], Dict[str, Any]]] = [
    ({"layout": "NCHW"}, {"layout": " original "}),
    ({"layout": "nchw_software"}, {"layout": "Original_Software"}),
    ({"sequential_callbacks": True, "enable_pacing": "off"}, {"sequential_callbacks": "YES", "enable_pacing": 0}),
    ({"schedule": [0, 1, 2], "threads_per_core": 2}, {"schedule": "0, 1,2", "threads_per_core": " +2 "}),
    ({"schedule": (1,)}, {"schedule": "1"}),
    ({"tp_mode": "all"}, {"tp_mode": " ALL"}),
    ({"max_queue_size": 5, "submit_timeout_ms": 100}, {"max_queue_size": "5", "submit_timeout_ms": " 100"}),
    ({"native_outputs": False, "run_timeout_ms": 1000}, {"native_outputs": "false", "run_timeout_ms": "1000"}),
]


@pytest.mark.parametrize("a, b", SPELLINGS)
def test_spellings_reach_the_session_normalised(model_path: pathlib.Path, sim: Any, a: Dict[str, Any],
                                                b: Dict[str, Any]) -> None:
    with InferenceSession(str(model_path), provider_options=dict(SIM, **a)) as s1, \
            InferenceSession(str(model_path), providers=[("RKNNExecutionProvider", dict(SIM, **b))]) as s2:
        # equal except for the provider name as written (RKNNExecutionProvider is an alias)
        c1, c2 = dataclasses.asdict(s1.provider_config), dataclasses.asdict(s2.provider_config)
        c1.pop("providers"), c2.pop("providers")
        assert c1 == c2
        assert s1.get_provider_options() == s2.get_provider_options()
        assert [x["mask"] for x in s1.get_stats()["slots"]] == [x["mask"] for x in s2.get_stats()["slots"]]


run_option_values = st.dictionaries(
    st.one_of(st.sampled_from(["ztu_modelrt_dispatch_batch", "native_outputs", "run_timeout_ms", "tag"]),
              st.text(max_size=8)), scalars, min_size=1, max_size=3)


@SETTINGS
@given(run_options=run_option_values, api=st.sampled_from(["run", "run_async", "submit", "imap", "run_coro"]))
def test_invalid_run_options_never_reach_the_runtime(model_path: pathlib.Path, sim: Any,
                                                     run_options: Dict[str, Any], api: str) -> None:
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    with InferenceSession(str(model_path), provider_options=SIM) as sess:
        before = _calls(sim, "rknn_inputs_set", "rknn_run")
        try:
            if api == "run":
                out = sess.run(None, {"x": x}, run_options)
            elif api == "submit":
                out = sess.submit(None, {"x": x}, run_options).result(timeout=WAIT_S)
            elif api == "imap":
                [out] = list(sess.imap([{"x": x}], run_options=run_options))
            elif api == "run_coro":
                out = asyncio.run(sess.run_coro(None, {"x": x}, run_options))
            else:
                box: List[Any] = []
                done = threading.Event()
                sess.run_async(None, {"x": x}, lambda r, u, e: (box.append((r, e)), done.set()),
                               run_options=run_options)
                assert done.wait(WAIT_S)
                assert box[0][1] == "", box
                out = box[0][0]
        except (InvalidOptionError, InvalidArgumentError) as exc:
            assert str(exc)
            assert _calls(sim, "rknn_inputs_set", "rknn_run") == before
            return
        except ez.RunTimeoutError:
            return  # a valid but tiny run_timeout_ms on a loaded machine
        assert out[0].shape == (1, 4)


@SETTINGS
@given(attrs=st.dictionaries(st.sampled_from(["enable_profiling", "profile_file_prefix", "log_severity_level",
                                              "intra_op_num_threads", "graph_optimization_level", "execution_mode"]),
                             scalars, min_size=1, max_size=3))
def test_invalid_session_options_never_reach_the_runtime(model_path: pathlib.Path, sim: Any,
                                                         attrs: Dict[str, Any]) -> None:
    class Foreign:  # an onnxruntime.SessionOptions look-alike: attributes set without validation
        pass

    so = Foreign()
    for k, v in attrs.items():
        setattr(so, k, v)
    before = _calls(sim, "rknn_init")
    try:
        sess = InferenceSession(str(model_path), sess_options=so, provider_options=SIM)
    except (InvalidOptionError, InvalidArgumentError) as exc:
        assert str(exc)
        assert _calls(sim, "rknn_init") == before
        return
    sess.close()


# ---------------------------------------------------------------------------------------------- feeds

DTYPES = [np.float32, np.float16, np.float64, np.uint8, np.int8, np.int16, np.int32, np.int64, np.bool_,
          np.complex64, ">f4", "<f4", ">f2", ">u2", object, "U3", "S2", [("a", "<f4"), ("b", "<i2")], "datetime64[s]"]
# _feeds.prepare_feed copies (ascontiguousarray / byte-order astype) before checking the shape, so a huge
# zero-stride view raises MemoryError (4 TiB) instead of InvalidArgumentError: test_huge_logical_shapes_... below
# is a strict xfail until that is fixed; the random feeds include huge views once it is.
HUGE_FEEDS_FIXED = True
HUGE = [(1 << 40,), (1 << 30, 1 << 30), (1, 1 << 40), (1 << 20, 1 << 20, 1 << 20)]  # never allocatable


@st.composite
def arrays(draw: st.DrawFn) -> Any:
    """Arrays of every kind (or Python objects), small in memory whatever their logical size."""
    kind = draw(st.sampled_from(["plain", "plain", "huge", "python", "junk"] if HUGE_FEEDS_FIXED else
                                ["plain", "plain", "python", "junk"]))
    if kind == "junk":
        return draw(st.sampled_from([None, 1.5, "x", b"\x00" * 16, {"a": 1}, {1, 2}, object(), [[1, 2], [3]],
                                     [[1.0, 2.0, 3.0, 4.0]], [[[np.float32(1)] * 4]], float("nan"), memoryview(b"abcd"),
                                     range(4)]))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))  # type: ignore[call-overload]
    if kind == "huge":
        shape = draw(st.sampled_from(HUGE))
        base = np.zeros((), dtype)
        try:
            return np.lib.stride_tricks.as_strided(base, shape=shape, strides=(0,) * len(shape), writeable=False)
        except ValueError:  # more bytes than numpy can even describe
            return np.lib.stride_tricks.as_strided(base, shape=(1 << 40,), strides=(0,), writeable=False)
    shape = draw(st.sampled_from([(1, 4), (4,), (1, 4, 1), (2, 4), (0, 4), (1, 0), (), (1, 3, 4, 4), (1, 4, 4, 3),
                                  (1, 2), (2, 2), (1, 1, 4), (0, 1 << 40)]))
    if kind == "python":
        return np.zeros(shape).tolist()
    layout = draw(st.sampled_from(["c", "f", "strided", "reversed", "broadcast", "unaligned", "readonly"]))
    n = int(np.prod(shape, dtype=np.int64))
    try:
        if layout == "strided":
            a = np.zeros(tuple(d * 2 for d in shape), dtype)[tuple(slice(None, None, 2) for _ in shape)]
        elif layout == "reversed":
            a = np.zeros(shape, dtype)[tuple(slice(None, None, -1) for _ in shape)]
        elif layout == "f":
            a = np.asfortranarray(np.zeros(shape, dtype))
        elif layout == "broadcast":
            a = np.broadcast_to(np.zeros((), dtype), shape)
        elif layout == "unaligned" and dtype.itemsize > 1 and dtype != object:
            raw = np.zeros(n * dtype.itemsize + 1, np.uint8)
            a = raw[1:].view(dtype).reshape(shape)
        else:
            a = np.zeros(shape, dtype)
            if layout == "readonly":
                a.flags.writeable = False
    except (ValueError, TypeError):
        a = np.zeros(shape, dtype)
    if not isinstance(a, np.ndarray):  # indexing a 0-d array with () gives a scalar
        a = np.zeros(shape, dtype)
    if a.dtype.kind in "fiu" and a.size and a.flags.writeable:
        a[...] = np.arange(a.size).reshape(a.shape) % 7
    return a


feeds = st.one_of(
    st.dictionaries(st.sampled_from(["x", "X", "x ", "", "y", "image"]), arrays(), max_size=3),
    st.dictionaries(st.one_of(st.integers(0, 2), st.none(), st.binary(max_size=2)), arrays(), max_size=2),
    st.lists(arrays(), max_size=3),
    st.lists(arrays(), max_size=3).map(tuple),
    arrays(),
)

APIS = ["run", "run_async", "submit", "imap", "pipeline", "batch", "run_coro"]


def _expected(value: Any) -> Optional[np.ndarray]:
    """What the copy model should return for an accepted feed value (None: cannot tell cheaply)."""
    if isinstance(value, dict):
        value = value.get("x")
    elif isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    try:
        arr = np.asarray(value)
        if arr.dtype.kind in "fiub" and arr.size <= 64:
            return arr.astype(np.float32)
    except Exception:  # noqa: BLE001
        pass
    return None


def _through(sess: InferenceSession, api: str, feed: Any) -> List[np.ndarray]:
    if api == "run":
        return sess.run(None, feed)
    if api == "batch":
        return sess.run(None, feed, {"ztu_modelrt_dispatch_batch": True})
    if api == "submit":
        out: List[np.ndarray] = sess.submit(None, feed).result(timeout=WAIT_S)
        return out
    if api == "imap":
        outs = list(sess.imap([feed]))
        assert len(outs) == 1
        return outs[0]
    if api == "pipeline":
        assert sess.run_pipeline(feed, depth=1) is None
        [out] = sess.flush_pipeline()
        return out
    if api == "run_coro":
        async def main() -> List[np.ndarray]:
            return await asyncio.wait_for(sess.run_coro(None, feed), WAIT_S)
        return asyncio.run(main())
    box: List[Any] = []
    done = threading.Event()
    sess.run_async(None, feed, lambda r, u, e: (box.append((r, e)), done.set()))
    assert done.wait(WAIT_S), "run_async callback never came"
    assert box[0][1] == "", box[0][1]
    return box[0][0]


def _exercise(sess: InferenceSession, sim: Any, api: str, feed: Any) -> Optional[List[np.ndarray]]:
    before = _calls(sim, "rknn_inputs_set", "rknn_run")
    try:
        return _through(sess, api, feed)
    except InvalidArgumentError as exc:
        assert str(exc)
        assert _calls(sim, "rknn_inputs_set", "rknn_run") == before, "a rejected feed reached the runtime"
        return None


@FEED_SETTINGS
@given(feed=feeds, api=st.sampled_from(APIS), layout=st.sampled_from(["nchw", "nhwc", "any", "nchw_software"]))
def test_random_feeds_never_crash_or_hang(model_path: pathlib.Path, sim: Any, feed: Any, api: str,
                                          layout: str) -> None:
    with InferenceSession(str(model_path), provider_options=dict(SIM, layout=layout, threads_per_core=2)) as sess:
        out = _exercise(sess, sim, api, feed)
        if out is not None:
            assert len(out) == 1 and out[0].dtype == np.float32
            want = _expected(feed)
            if want is not None and api != "batch":
                np.testing.assert_array_equal(out[0], want.reshape(1, 4))
            assert np.isfinite(out[0]).all()
        # whatever happened, the session still serves
        x = np.arange(4, dtype=np.float32).reshape(1, 4)
        np.testing.assert_array_equal(sess.run(None, {"x": x})[0], x)


image_feeds = st.one_of(
    st.dictionaries(st.sampled_from(["image", "scale", "Image", "x"]), arrays(), max_size=3),
    st.lists(arrays(), min_size=2, max_size=2),
    st.fixed_dictionaries({"image": arrays(), "scale": arrays()}),
)


@FEED_SETTINGS
@given(feed=image_feeds, api=st.sampled_from(APIS), layout=st.sampled_from(["nchw", "nhwc", "any", "nchw_software"]))
def test_random_feeds_for_a_two_input_image_model(image_model_path: pathlib.Path, sim: Any, feed: Any, api: str,
                                                  layout: str) -> None:
    with InferenceSession(str(image_model_path), provider_options=dict(SIM, layout=layout)) as sess:
        out = _exercise(sess, sim, api, feed)
        if out is not None:
            assert len(out) == 2 and np.isfinite(out[0]).all()


@pytest.mark.parametrize("how", ["broadcast", "byteswapped-broadcast", "list-of-broadcasts"])
def test_huge_logical_shapes_are_refused_before_any_copy(model_path: pathlib.Path, sim: Any, how: str) -> None:
    """A (1 << 40,)-element view costs nothing to make; validating it must not cost 4 TiB either (a copy before
    the shape check would raise MemoryError, or with overcommit fill the machine)."""
    dtype = ">f4" if how == "byteswapped-broadcast" else "<f4"
    with InferenceSession(str(model_path), provider_options=SIM) as sess:
        for shape in HUGE:
            huge = np.lib.stride_tricks.as_strided(np.zeros((), dtype), shape=shape, strides=(0,) * len(shape))
            feed: Any = [huge] if how == "list-of-broadcasts" else {"x": huge}
            for api in ("run", "submit", "run_async", "imap", "batch"):
                before = _calls(sim, "rknn_inputs_set")
                with pytest.raises(InvalidArgumentError, match="shape"):
                    if api == "run_async":
                        sess.run_async(None, feed, lambda r, u, e: None)
                    else:
                        _through(sess, api, feed)
                assert _calls(sim, "rknn_inputs_set") == before
