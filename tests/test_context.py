"""RknnContext against the simulator, and TensorAttr against hostile C data."""
from __future__ import annotations

import ctypes
import gc
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

from ztu_somemodelruntime_ez_rknn_async import _abi, _library
from ztu_somemodelruntime_ez_rknn_async._context import MemSize, RknnContext, TensorAttr
from ztu_somemodelruntime_ez_rknn_async._library import RuntimeLibrary
from ztu_somemodelruntime_ez_rknn_async.errors import (
    InvalidArgumentError,
    RknnError,
    RknnModelInvalidError,
    RknnPlatformMismatchError,
    RknnTimeoutError,
    SessionClosedError,
)

REPO = pathlib.Path(__file__).resolve().parents[1]
REAL_MODELS = REPO.parents[0] / "shared" / "models" / "rknn"


# --------------------------------------------------------------------------------------------- TensorAttr (no C)


def _c_attr(**fields: Any) -> _abi.rknn_tensor_attr:
    c = _abi.rknn_tensor_attr()
    for key, value in fields.items():
        setattr(c, key, value)
    return c


def test_from_c_copies_every_field() -> None:
    c = _c_attr(index=3, n_dims=4, name=b"images", n_elems=48, size=192, fmt=1, type=0, qnt_type=2, fl=-3, zp=-128,
                scale=0.5, w_stride=8, size_with_stride=256, pass_through=1, h_stride=6)
    for i, d in enumerate((1, 4, 4, 3)):
        c.dims[i] = d
    c.dims[4] = 99  # beyond n_dims: must be ignored
    attr = TensorAttr.from_c(c)
    assert attr == TensorAttr(index=3, name="images", n_dims=4, dims=(1, 4, 4, 3), n_elems=48, size=192, fmt=1, type=0,
                              qnt_type=2, fl=-3, zp=-128, scale=0.5, w_stride=8, size_with_stride=256,
                              pass_through=1, h_stride=6)
    back = attr.to_c()
    assert bytes(back) == bytes(TensorAttr.from_c(back).to_c())
    assert TensorAttr.from_c(back) == attr


def test_from_c_rejects_too_many_dims() -> None:
    c = _c_attr(index=1, n_dims=17)
    with pytest.raises(RknnModelInvalidError) as info:
        TensorAttr.from_c(c, function="rknn_query(RKNN_QUERY_INPUT_ATTR)")
    assert "n_dims=17" in str(info.value) and "RKNN_MAX_DIMS" in str(info.value)
    with pytest.raises(RknnError):
        TensorAttr.from_c(_c_attr(n_dims=0xFFFFFFFF))


def test_from_c_name_without_nul() -> None:
    c = _abi.rknn_tensor_attr()
    ctypes.memset(ctypes.addressof(c) + _abi.rknn_tensor_attr.name.offset, ord("a"), 256)  # type: ignore[attr-defined]
    c.n_elems = 0x01020304  # the bytes right after name must not leak into it
    attr = TensorAttr.from_c(c)
    assert attr.name == "a" * 256
    with pytest.raises(InvalidArgumentError):
        attr.to_c()  # 256 bytes cannot be written back with a terminator


def test_from_c_name_invalid_utf8_is_replaced_and_round_trips() -> None:
    c = _c_attr(name=b"in\xffput")
    attr = TensorAttr.from_c(c)
    assert attr.name == "in\ufffdput"
    assert attr.raw_name == b"in\xffput"
    assert attr.to_c().name == b"in\xffput"


def test_tensor_attr_validates_dims() -> None:
    with pytest.raises(InvalidArgumentError):
        TensorAttr(index=0, name="x", n_dims=2, dims=(1,), n_elems=1, size=4, fmt=0, type=0, qnt_type=0, fl=0, zp=0,
                   scale=1.0, w_stride=0, size_with_stride=4, pass_through=0, h_stride=0)
    attr = TensorAttr.from_c(_c_attr(n_dims=1))
    assert attr.with_dims((2, 3)).dims == (2, 3) and attr.with_dims((2, 3)).n_dims == 2


# --------------------------------------------------------------------------------------------- simulator fixtures


@pytest.fixture()
def lib(sim_library: str) -> RuntimeLibrary:
    return _library.load_runtime(sim_library)


@pytest.fixture()
def spec() -> Any:
    from ztu_somemodelruntime_ez_rknn_async import simulator

    return simulator.TensorSpec


@pytest.fixture()
def model(native_model: Callable[..., pathlib.Path], spec: Any) -> pathlib.Path:
    return native_model([spec("x", (1, 3, 4, 4)), spec("v", (5,))], [spec("y", (1, 3, 4, 4))],
                        custom_string="hello", latency_us=50)


@pytest.fixture()
def ctx(lib: RuntimeLibrary, model: pathlib.Path) -> Iterator[RknnContext]:
    context = RknnContext.init(lib, str(model))
    yield context
    context.destroy()


def _live(sim: Any) -> int:
    return int(sim.counter("live_contexts"))


# --------------------------------------------------------------------------------------------- init and queries


def test_init_from_path_and_bytes(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    start = _live(sim)
    a = RknnContext.init(lib, str(model))
    b = RknnContext.init(lib, model)  # PathLike
    c = RknnContext.init(lib, model.read_bytes())
    d = RknnContext.init(lib, bytearray(model.read_bytes()))
    assert _live(sim) == start + 4
    assert len({x.handle for x in (a, b, c, d)}) == 4
    for x in (a, b, c, d):
        assert x.query_io_num() == (2, 1)
        x.destroy()
    assert _live(sim) == start


def test_queries(ctx: RknnContext) -> None:
    assert ctx.query_io_num() == (2, 1)
    x = ctx.input_attr(0)
    assert (x.index, x.name, x.fmt, x.dims, x.n_elems, x.type) == (0, "x", _abi.RKNN_TENSOR_NHWC, (1, 4, 4, 3), 48,
                                                                    _abi.RKNN_TENSOR_FLOAT32)
    v = ctx.input_attr(1)
    assert (v.name, v.dims, v.fmt) == ("v", (5,), _abi.RKNN_TENSOR_UNDEFINED)
    y = ctx.output_attr(0)
    assert (y.name, y.fmt, y.dims) == ("y", _abi.RKNN_TENSOR_NCHW, (1, 3, 4, 4))
    for native in (ctx.native_input_attr(0), ctx.native_output_attr(0)):
        assert native.n_elems >= 48 and native.size_with_stride >= native.size > 0
    api, drv = ctx.sdk_version()
    assert api[:1].isdigit() and drv
    assert ctx.custom_string() == "hello"
    assert isinstance(ctx.mem_size(), MemSize)
    assert ctx.input_dynamic_range(0) is None  # static model


def test_query_index_out_of_range_names_the_index(ctx: RknnContext) -> None:
    with pytest.raises(RknnError) as info:
        ctx.input_attr(5)
    message = str(info.value)
    assert message.startswith("rknn_query(RKNN_QUERY_INPUT_ATTR) failed for input attr index 5: ")
    with pytest.raises(InvalidArgumentError):
        ctx.output_attr(-1)


def test_init_rejects_bad_models(lib: RuntimeLibrary, tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidArgumentError):
        RknnContext.init(lib, b"")  # size 0 would make the runtime read the bytes as a path
    with pytest.raises(InvalidArgumentError):
        RknnContext.init(lib, str(tmp_path / "missing.rknn"))
    with pytest.raises(InvalidArgumentError):
        RknnContext.init(lib, "bad\0path")
    with pytest.raises(InvalidArgumentError):
        RknnContext.init(lib, 42)  # type: ignore[arg-type]
    with pytest.raises(RknnModelInvalidError) as info:
        RknnContext.init(lib, b"definitely not a model")
    assert str(info.value).startswith("rknn_init failed: RKNN_ERR_MODEL_INVALID (-6)")
    with pytest.raises(InvalidArgumentError):
        RknnContext.init(lib, b"x", flags=_abi.RKNN_FLAG_SHARE_WEIGHT_MEM)


def test_dynamic_range(lib: RuntimeLibrary, native_model: Callable[..., pathlib.Path], spec: Any) -> None:
    path = native_model([spec("x", (1, 3, 8, 8), shapes=[(1, 3, 8, 8), (1, 3, 16, 16)])], [spec("y", (1, 3, 8, 8))])
    with RknnContext.init(lib, path) as ctx:
        rows = ctx.input_dynamic_range(0)
        assert rows is not None and len(rows) == 2
        assert [len(r) for r in rows] == [4, 4]
        first = ctx.input_attr(0)
        ctx.set_input_shapes([first.with_dims(rows[1])])
        assert ctx.current_input_attr(0).dims == rows[1]


# --------------------------------------------------------------------------------------------- lifetime


def test_destroy_is_idempotent_and_exactly_once(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    start, calls = _live(sim), sim.counter("calls:rknn_destroy")
    ctx = RknnContext.init(lib, model)
    ctx.destroy()
    ctx.destroy()
    del ctx
    gc.collect()
    assert _live(sim) == start
    assert sim.counter("calls:rknn_destroy") == calls + 1


def test_use_after_destroy_raises(lib: RuntimeLibrary, model: pathlib.Path) -> None:
    ctx = RknnContext.init(lib, model)
    ctx.destroy()
    assert ctx.destroyed
    for call in (ctx.query_io_num, ctx.run, ctx.dup, lambda: ctx.handle, lambda: ctx.input_attr(0)):
        with pytest.raises(SessionClosedError):
            call()


def test_garbage_collected_context_is_destroyed(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    start = _live(sim)
    ctx = RknnContext.init(lib, model)
    child = ctx.dup()
    assert _live(sim) == start + 2
    del ctx, child
    gc.collect()
    assert _live(sim) == start


def test_dup_keeps_parent_until_children_are_gone(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    start = _live(sim)
    parent = RknnContext.init(lib, model)
    child = parent.dup()
    grandchild = child.dup()
    assert grandchild.parent is child and child.parent is parent
    assert child.query_io_num() == (2, 1)
    parent.destroy()  # deferred: dups still use the model
    child.destroy()
    assert _live(sim) == start + 3 - 0  # nothing destroyed while the grandchild lives
    assert grandchild.query_io_num() == (2, 1)
    with pytest.raises(SessionClosedError):
        parent.query_io_num()
    grandchild.destroy()
    assert _live(sim) == start


def test_dup_then_child_destroyed_first(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    start = _live(sim)
    parent = RknnContext.init(lib, model)
    child = parent.dup()
    child.destroy()
    assert _live(sim) == start + 1
    parent.destroy()
    assert _live(sim) == start


def test_weight_sharing(lib: RuntimeLibrary, native_model: Callable[..., pathlib.Path], spec: Any, sim: Any) -> None:
    start = _live(sim)
    full = native_model([spec("x", (1, 4))], [spec("y", (1, 4))], weights_id="w1")
    light = native_model([spec("x", (1, 8))], [spec("y", (1, 8))], weights_from="w1")
    master = RknnContext.init(lib, full)
    dependent = RknnContext.init(lib, light, share_weights_with=master)
    assert dependent.parent is master
    assert dependent.input_attr(0).dims == (1, 8)
    master.destroy()
    assert _live(sim) == start + 2
    dependent.destroy()
    assert _live(sim) == start


def test_finalizers_run_at_interpreter_exit(sim_library: str, model: pathlib.Path) -> None:
    # The atexit reporter is registered before any context exists, so it runs after the finalizers.
    code = textwrap.dedent(
        """
        import atexit, ctypes, sys
        from ztu_somemodelruntime_ez_rknn_async import _library
        from ztu_somemodelruntime_ez_rknn_async._context import RknnContext
        lib = _library.load_runtime(sys.argv[1])
        get = lib.cdll["rknn_sim_get_counter"]
        get.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)]
        def report():
            for name in (b"live_contexts", b"violations", b"calls:rknn_destroy"):
                value = ctypes.c_int64(-1)
                get(name, ctypes.byref(value))
                print(name.decode(), value.value, flush=True)
        atexit.register(report)
        parent = RknnContext.init(lib, sys.argv[2])
        child = parent.dup()
        other = RknnContext.init(lib, sys.argv[2])
        keep = [parent, child, other]   # alive until exit
        parent.query_io_num()
        """
    )
    result = subprocess.run([sys.executable, "-c", code, sim_library, str(model)], cwd=str(REPO),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    counters = dict(line.split() for line in result.stdout.split("\n") if line.strip())
    assert counters == {"live_contexts": "0", "violations": "0", "calls:rknn_destroy": "3"}, result.stdout


# --------------------------------------------------------------------------------------------- threads


def _wait_until_busy(ctx: RknnContext) -> None:
    """Wait until another thread is inside a call on ``ctx`` (its guard is taken)."""
    deadline = time.monotonic() + 10
    while not ctx._guard.locked():
        assert time.monotonic() < deadline, "the other thread never entered the context"
        time.sleep(0.001)


def test_concurrent_use_is_refused(ctx: RknnContext, sim: Any) -> None:
    sim.set_delay("rknn_query", 300_000)
    errors: List[BaseException] = []
    entered = threading.Event()

    def slow() -> None:
        entered.set()
        try:
            ctx.query_io_num()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=slow)
    t.start()
    entered.wait()
    _wait_until_busy(ctx)
    with pytest.raises(RuntimeError) as info:
        ctx.query_io_num()
    assert "in use by another thread" in str(info.value)
    t.join()
    sim.set_delay("rknn_query", 0)
    assert not errors
    assert ctx.query_io_num() == (2, 1)  # usable again once the other call returned


def test_destroy_waits_for_a_call_in_flight(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    ctx = RknnContext.init(lib, model)
    sim.set_delay("rknn_query", 200_000)
    t = threading.Thread(target=ctx.query_io_num)
    t.start()
    _wait_until_busy(ctx)
    ctx.destroy()  # must not destroy the handle under the running query (the simulator would count a violation)
    t.join()
    sim.set_delay("rknn_query", 0)
    assert ctx.destroyed


def test_calls_release_the_gil(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    a = RknnContext.init(lib, model)
    b = a.dup()
    sim.set_delay("rknn_query", 200_000)
    try:
        threads = [threading.Thread(target=c.query_io_num) for c in (a, b)]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
    finally:
        sim.set_delay("rknn_query", 0)
        b.destroy()
        a.destroy()
    assert elapsed < 0.38, "two contexts did not run their calls concurrently ({:.3f}s)".format(elapsed)


# --------------------------------------------------------------------------------------------- run path


def test_inputs_run_outputs(ctx: RknnContext, spec: Any) -> None:
    import numpy as np

    from ztu_somemodelruntime_ez_rknn_async import simulator

    x = np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4)
    v = np.linspace(-1, 1, 5, dtype=np.float32)
    inputs = (_abi.rknn_input * 2)()
    for i, (arr, fmt) in enumerate(((x, _abi.RKNN_TENSOR_NCHW), (v, _abi.RKNN_TENSOR_UNDEFINED))):
        inputs[i].index = i
        inputs[i].buf = arr.ctypes.data
        inputs[i].size = arr.nbytes
        inputs[i].type = _abi.RKNN_TENSOR_FLOAT32
        inputs[i].fmt = fmt
    out = np.empty((1, 3, 4, 4), dtype=np.float32)
    outputs = (_abi.rknn_output * 1)()
    outputs[0].want_float = 1
    outputs[0].is_prealloc = 1
    outputs[0].buf = out.ctypes.data
    outputs[0].size = out.nbytes
    ctx.inputs_set(inputs, 2)
    ctx.run()
    ctx.outputs_get(outputs, 1)
    ctx.outputs_release(outputs, 1)
    (expected,) = simulator.expected_outputs([spec("x", (1, 3, 4, 4)), spec("v", (5,))], [spec("y", (1, 3, 4, 4))],
                                             [x, v])
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert ctx.perf_run_us() >= 0


def test_run_error_is_mapped(ctx: RknnContext, sim: Any) -> None:
    sim.inject_fault("rknn_run", nth=1, code=-2)
    with pytest.raises(RknnTimeoutError) as info:
        ctx.run()
    assert str(info.value).startswith("rknn_run failed: RKNN_ERR_TIMEOUT (-2)")


# --------------------------------------------------------------------------------------------- settings and memory


def test_core_mask(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    sim.set_soc("rk3588")
    with RknnContext.init(lib, model) as ctx:
        assert ctx.set_core_mask(_abi.RKNN_NPU_CORE_0_1_2) is True
    sim.set_soc("rk3566")
    with RknnContext.init(lib, model) as ctx:
        assert ctx.set_core_mask(_abi.RKNN_NPU_CORE_AUTO, tolerate_single_core=True) is False
        assert ctx.set_core_mask(_abi.RKNN_NPU_CORE_0, tolerate_single_core=True) is False
        with pytest.raises(RknnPlatformMismatchError):
            ctx.set_core_mask(_abi.RKNN_NPU_CORE_AUTO)
        with pytest.raises(RknnPlatformMismatchError):
            ctx.set_core_mask(_abi.RKNN_NPU_CORE_1, tolerate_single_core=True)


def test_memory_is_destroyed_before_its_context(lib: RuntimeLibrary, model: pathlib.Path, sim: Any) -> None:
    mems = sim.counter("live_mems")
    ctx = RknnContext.init(lib, model)
    kept = ctx.create_mem(1024)
    freed = ctx.create_mem2(256, _abi.RKNN_FLAG_MEMORY_CACHEABLE)
    assert kept.contents.size >= 1024
    ctx.mem_sync(freed, _abi.RKNN_MEMORY_SYNC_TO_DEVICE)
    ctx.destroy_mem(freed)
    assert sim.counter("live_mems") == mems + 1
    ctx.destroy()  # takes the forgotten one with it
    assert sim.counter("live_mems") == mems


def test_create_mem_null_is_an_error(ctx: RknnContext, sim: Any) -> None:
    sim.inject_fault("rknn_create_mem", nth=1)
    with pytest.raises(MemoryError) as info:
        ctx.create_mem(64)
    assert "rknn_create_mem" in str(info.value)


def test_zero_copy_binding(ctx: RknnContext) -> None:
    attr = ctx.native_input_attr(1)
    mem = ctx.create_mem(attr.size_with_stride or attr.size)
    try:
        ctx.set_io_mem(mem, attr)
    finally:
        ctx.destroy_mem(mem)


# --------------------------------------------------------------------------------------------- real .rknn files


@pytest.mark.skipif(not REAL_MODELS.is_dir(), reason="shared/models/rknn not present")
@pytest.mark.parametrize("name", sorted(p.name for p in REAL_MODELS.glob("*.rknn")) if REAL_MODELS.is_dir() else [])
def test_real_model_queries(lib: RuntimeLibrary, name: str) -> None:
    with RknnContext.init(lib, str(REAL_MODELS / name)) as ctx:
        n_in, n_out = ctx.query_io_num()
        assert n_in >= 1 and n_out >= 1
        for i in range(n_in):
            attr = ctx.input_attr(i)
            assert attr.index == i and attr.name and 0 < attr.n_dims <= 16
        for i in range(n_out):
            assert ctx.output_attr(i).n_elems > 0



# --------------------------------------------------------------------------------------------- custom ops


def test_custom_op_registration_keeps_callbacks_alive(
    lib: RuntimeLibrary, native_model: Callable[..., pathlib.Path], spec: Any, sim: Any
) -> None:
    import numpy as np

    destroyed: List[int] = []

    @_abi.rknn_custom_op_callback  # type: ignore[untyped-decorator]
    def compute(op_ctx: Any, ins: Any, n_in: int, outs: Any, n_out: int) -> int:
        src, dst = ins[0], outs[0]
        n_src, n_dst = src.attr.n_elems, dst.attr.n_elems
        s = (ctypes.c_float * n_src).from_address(src.mem.virt_addr + src.mem.offset)
        d = (ctypes.c_float * n_dst).from_address(dst.mem.virt_addr + dst.mem.offset)
        for i in range(n_dst):
            d[i] = s[i % n_src] * 2.0
        return 0

    @_abi.rknn_custom_op_destroy_callback  # type: ignore[untyped-decorator]
    def on_destroy(op_ctx: Any) -> int:
        destroyed.append(1)
        return 0

    path = native_model([spec("x", (1, 4))], [spec("y", (1, 4))], custom_op="cstDouble")
    ctx = RknnContext.init(lib, path)
    ops = (_abi.rknn_custom_op * 1)()
    ops[0].version = 1
    ops[0].target = _abi.RKNN_TARGET_TYPE_CPU
    ops[0].op_type = b"cstDouble"
    ops[0].compute = compute
    ops[0].destroy = on_destroy
    ctx.register_custom_ops(ops, 1)
    del ops, compute, on_destroy  # the context must keep the table and the thunks alive
    gc.collect()

    x = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    out = np.zeros_like(x)
    inputs = (_abi.rknn_input * 1)()
    inputs[0].buf, inputs[0].size = x.ctypes.data, x.nbytes
    inputs[0].type, inputs[0].fmt = _abi.RKNN_TENSOR_FLOAT32, _abi.RKNN_TENSOR_UNDEFINED
    outputs = (_abi.rknn_output * 1)()
    outputs[0].want_float, outputs[0].is_prealloc = 1, 1
    outputs[0].buf, outputs[0].size = out.ctypes.data, out.nbytes
    ctx.inputs_set(inputs, 1)
    ctx.run()
    ctx.outputs_get(outputs, 1)
    ctx.outputs_release(outputs, 1)
    np.testing.assert_allclose(out, x * 2)
    assert sim.counter("custom_op_compute_calls") >= 1
    ctx.destroy()
    assert destroyed == [1]
