"""Shared helpers for the benchmark scripts (not part of the package; numpy + the package only).

* :func:`import_package` makes ``ztu_somemodelruntime_ez_rknn_async`` importable from a source checkout
  too (``python benchmarks/x.py`` puts ``benchmarks/`` on ``sys.path``, not the repository root);
* :func:`sim_setup` selects the simulated SoC and clears any latency override / jitter / faults left by
  the environment (``RKNN_SIM_*``), so every number is produced by the model's own ``latency_us``;
* :func:`write_model` writes a small simulator model (one input, one output) into a temp dir;
* :class:`BareLoops` is the *achievable ceiling*: one bare ctypes loop per core on its own pinned context
  (``rknn_dup_context`` + ``rknn_set_core_mask`` 1/2/4), ``inputs_set → run → outputs_get →
  outputs_release`` with prebuilt structs, one Python thread per core, no dispatcher, no package code on
  the hot path;
* :func:`rss_kb` reads ``VmRSS`` from ``/proc/self/status``;
* :class:`Report` collects rows for the text table and for ``--json``.
"""
from __future__ import annotations

import ctypes
import json
import os
import pathlib
import platform
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple


def import_package() -> Any:
    """Import the package; from a checkout without ``pip install .``, add the repository root first."""
    try:
        import ztu_somemodelruntime_ez_rknn_async as pkg
    except ImportError:
        root = pathlib.Path(__file__).resolve().parent.parent
        if (root / "ztu_somemodelruntime_ez_rknn_async").is_dir():
            sys.path.insert(0, str(root))
        import ztu_somemodelruntime_ez_rknn_async as pkg
    return pkg


pkg = import_package()
from ztu_somemodelruntime_ez_rknn_async import simulator  # noqa: E402
from ztu_somemodelruntime_ez_rknn_async._library import load_runtime  # noqa: E402

import numpy as np  # noqa: E402

CORES = 3
SIM_PROVIDER = {"runtime_library": "simulator"}


def sim_setup(soc: str = "rk3588") -> simulator.Simulator:
    """The simulator control, with SoC ``soc``, no latency override, no jitter, no faults or delays."""
    sim = simulator.control()
    sim.set_soc(soc)
    sim.set_latency_override(None)
    sim.set_jitter(0.0)
    sim.clear_faults()
    return sim


def write_model(directory: str, name: str, *, latency_us: int, shape: Sequence[int] = (1, 3, 32, 32),
                dtype: str = "int8", out_dtype: Optional[str] = None) -> str:
    """A one-input, one-output simulator model (``y = x``, same shape) with the given latency."""
    path = os.path.join(directory, name)
    simulator.write_model(path, [simulator.TensorSpec("x", tuple(shape), dtype)],
                          [simulator.TensorSpec("y", tuple(shape), out_dtype or dtype)],
                          latency_us=int(latency_us))
    return path


def feed_for(shape: Sequence[int], dtype: str = "int8", seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        return rng.integers(max(info.min, -100), min(info.max, 100), size=tuple(shape), dtype=dtype)
    return rng.standard_normal(tuple(shape)).astype(dtype)


def busy_us(sim: simulator.Simulator, cores: int = CORES) -> List[int]:
    return [sim.counter("busy_us_core{}".format(k)) for k in range(cores)]


# ---------------------------------------------------------------------------------------------------------
# The achievable ceiling: bare ctypes, one pinned context per core, no dispatcher

_RKNN_TENSOR_NCHW = 0
_RKNN_TENSOR_NHWC = 1
_INT8 = 2  # rknn_tensor_type RKNN_TENSOR_INT8
_NP_TO_RKNN = {"float32": 0, "float16": 1, "int8": 2, "uint8": 3}


class _Input(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("buf", ctypes.c_void_p), ("size", ctypes.c_uint32),
                ("pass_through", ctypes.c_uint8), ("type", ctypes.c_int), ("fmt", ctypes.c_int)]


class _Output(ctypes.Structure):
    _fields_ = [("want_float", ctypes.c_uint8), ("is_prealloc", ctypes.c_uint8), ("index", ctypes.c_uint32),
                ("buf", ctypes.c_void_p), ("size", ctypes.c_uint32)]


_CTX = ctypes.c_uint32 if platform.machine().startswith("arm") and ctypes.sizeof(ctypes.c_void_p) == 4 \
    else ctypes.c_uint64


class BareLoops:
    """One bare ctypes inference loop per core, each on its own context pinned to that core.

    The contexts are ``rknn_init`` (master) + ``rknn_dup_context`` per loop + ``rknn_set_core_mask(mask)``
    (``masks`` = 1, 2, 4: one loop per RK3588 core; ``(7,)``: one tensor-parallel loop).
    Each loop rewrites nothing per iteration: the ``rknn_input``/``rknn_output`` arrays, the input array and
    the (float32, prealloc) output array are built once. It is what any binding must at least pay: the
    ctypes calls, the C copy/convert work and the simulator's sleep overshoot — and nothing else.
    """

    def __init__(self, model_path: str, feed: np.ndarray, out_shape: Sequence[int],
                 masks: Sequence[int] = (1, 2, 4), want_float: bool = True) -> None:
        lib = load_runtime("simulator").cdll
        f = {}
        for name, argtypes in (
                ("rknn_init", [ctypes.POINTER(_CTX), ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                               ctypes.c_void_p]),
                ("rknn_dup_context", [ctypes.POINTER(_CTX), ctypes.POINTER(_CTX)]),
                ("rknn_destroy", [_CTX]),
                ("rknn_set_core_mask", [_CTX, ctypes.c_int]),
                ("rknn_inputs_set", [_CTX, ctypes.c_uint32, ctypes.POINTER(_Input)]),
                ("rknn_run", [_CTX, ctypes.c_void_p]),
                ("rknn_outputs_get", [_CTX, ctypes.c_uint32, ctypes.POINTER(_Output), ctypes.c_void_p]),
                ("rknn_outputs_release", [_CTX, ctypes.c_uint32, ctypes.POINTER(_Output)])):
            fn = lib[name]
            fn.argtypes = argtypes
            fn.restype = ctypes.c_int
            f[name] = fn
        self._f = f
        data = pathlib.Path(model_path).read_bytes()
        buf = ctypes.create_string_buffer(data, len(data))
        self._master = _CTX()
        self._check(f["rknn_init"](ctypes.byref(self._master), buf, len(data), 0, None), "rknn_init")
        self._ctxs: List[Any] = []
        self.feed = np.ascontiguousarray(feed)
        self._loops = []
        for mask in masks:
            ctx = _CTX()
            self._check(f["rknn_dup_context"](ctypes.byref(self._master), ctypes.byref(ctx)), "rknn_dup_context")
            self._ctxs.append(ctx)
            self._check(f["rknn_set_core_mask"](ctx, mask), "rknn_set_core_mask")
            ins = (_Input * 1)()
            ins[0].index = 0
            ins[0].buf = self.feed.ctypes.data
            ins[0].size = self.feed.nbytes
            ins[0].pass_through = 0
            ins[0].type = _NP_TO_RKNN[str(self.feed.dtype)]
            ins[0].fmt = _RKNN_TENSOR_NCHW if self.feed.ndim == 4 else 3
            out_arr = np.empty(tuple(out_shape), np.float32)
            outs = (_Output * 1)()
            outs[0].index = 0
            outs[0].want_float = 1 if want_float else 0
            outs[0].is_prealloc = 1
            outs[0].buf = out_arr.ctypes.data
            outs[0].size = out_arr.nbytes
            self._loops.append((ctx, ins, outs, out_arr))

    @staticmethod
    def _check(ret: int, what: str) -> None:
        if ret != 0:
            raise RuntimeError("{} failed: {}".format(what, ret))

    def _loop(self, k: int, deadline: float, count: Optional[int], out: List[Tuple[int, float]]) -> None:
        ctx, ins, outs, _arr = self._loops[k]
        inputs_set = self._f["rknn_inputs_set"]
        run = self._f["rknn_run"]
        get = self._f["rknn_outputs_get"]
        release = self._f["rknn_outputs_release"]
        clock = time.perf_counter
        n = 0
        if count is None:
            while clock() < deadline:
                inputs_set(ctx, 1, ins)
                run(ctx, None)
                get(ctx, 1, outs, None)
                release(ctx, 1, outs)
                n += 1
        else:
            for _ in range(count):
                inputs_set(ctx, 1, ins)
                run(ctx, None)
                get(ctx, 1, outs, None)
                release(ctx, 1, outs)
            n = count
        out[k] = (n, clock())

    def measure(self, seconds: Optional[float] = None, count_per_core: Optional[int] = None,
                cores: Optional[int] = None) -> Tuple[int, float]:
        """Run every loop for ``seconds`` (or ``count_per_core`` iterations); (runs, elapsed s).

        Elapsed is from the start to the end of the last loop (each loop finishes the run in progress at
        the deadline), so runs / elapsed is the sustained rate.
        """
        n_loops = len(self._loops) if cores is None else cores
        results: List[Tuple[int, float]] = [(0, 0.0)] * n_loops
        start = time.perf_counter()
        deadline = start + (seconds or 0.0)
        threads = [threading.Thread(target=self._loop, args=(k, deadline, count_per_core, results))
                   for k in range(n_loops)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        runs = sum(r[0] for r in results)
        end = max(r[1] for r in results)
        return runs, end - start

    def close(self) -> None:
        for ctx in self._ctxs:
            self._f["rknn_destroy"](ctx)
        self._ctxs = []
        if self._master.value:
            self._f["rknn_destroy"](self._master)
            self._master = _CTX()

    def __enter__(self) -> BareLoops:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BareZeroCopy:
    """The C-side floor of a zero-copy run: one context whose input and output are bound ONCE with
    ``rknn_create_mem`` + ``rknn_set_io_mem`` (the attributes a zero-copy binding uses: the native NHWC
    input attribute for 4-D inputs, else the native one; the native output attribute), then a bare
    ``rknn_run`` loop. The input memory holds arbitrary bytes (timing only)."""

    def __init__(self, model_path: str, mask: int = 1) -> None:
        from ztu_somemodelruntime_ez_rknn_async import _abi

        lib = load_runtime("simulator").cdll
        self._abi = _abi
        ctx_t = _abi.rknn_context
        self._f: Dict[str, Any] = {}
        for name, argtypes, restype in (
                ("rknn_init", [ctypes.POINTER(ctx_t), ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                               ctypes.c_void_p], ctypes.c_int),
                ("rknn_destroy", [ctx_t], ctypes.c_int),
                ("rknn_set_core_mask", [ctx_t, ctypes.c_int], ctypes.c_int),
                ("rknn_query", [ctx_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32], ctypes.c_int),
                ("rknn_create_mem", [ctx_t, ctypes.c_uint32], ctypes.POINTER(_abi.rknn_tensor_mem)),
                ("rknn_destroy_mem", [ctx_t, ctypes.POINTER(_abi.rknn_tensor_mem)], ctypes.c_int),
                ("rknn_set_io_mem", [ctx_t, ctypes.POINTER(_abi.rknn_tensor_mem),
                                     ctypes.POINTER(_abi.rknn_tensor_attr)], ctypes.c_int),
                ("rknn_run", [ctx_t, ctypes.c_void_p], ctypes.c_int)):
            fn = lib[name]
            fn.argtypes = argtypes
            fn.restype = restype
            self._f[name] = fn
        f = self._f
        data = pathlib.Path(model_path).read_bytes()
        buf = ctypes.create_string_buffer(data, len(data))
        self.ctx = ctx_t()
        BareLoops._check(f["rknn_init"](ctypes.byref(self.ctx), buf, len(data), 0, None), "rknn_init")
        BareLoops._check(f["rknn_set_core_mask"](self.ctx, mask), "rknn_set_core_mask")
        self._mems: List[Any] = []
        q = _abi.rknn_query_cmd
        for cmds in ((q.RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR, q.RKNN_QUERY_NATIVE_INPUT_ATTR),
                     (q.RKNN_QUERY_NATIVE_OUTPUT_ATTR,)):
            attr = _abi.rknn_tensor_attr()
            for cmd in cmds:
                attr.index = 0
                if f["rknn_query"](self.ctx, int(cmd), ctypes.byref(attr), ctypes.sizeof(attr)) == 0 \
                        and attr.n_dims > 0:
                    break
            size = max(int(attr.size_with_stride), int(attr.size))
            mem = f["rknn_create_mem"](self.ctx, size)
            if not mem:
                raise RuntimeError("rknn_create_mem failed")
            self._mems.append(mem)
            BareLoops._check(f["rknn_set_io_mem"](self.ctx, mem, ctypes.byref(attr)), "rknn_set_io_mem")

    def measure(self, seconds: float) -> Tuple[int, float]:
        run = self._f["rknn_run"]
        ctx = self.ctx
        clock = time.perf_counter
        start = clock()
        deadline = start + seconds
        n = 0
        while clock() < deadline:
            run(ctx, None)
            n += 1
        return n, clock() - start

    def close(self) -> None:
        for mem in self._mems:
            self._f["rknn_destroy_mem"](self.ctx, mem)
        self._mems = []
        if self.ctx.value:
            self._f["rknn_destroy"](self.ctx)
            self.ctx = self._abi.rknn_context()


# ---------------------------------------------------------------------------------------------------------
# Misc


def rss_kb() -> int:
    """Resident set size of this process in kB (``VmRSS``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS not found in /proc/self/status")


def malloc_trim() -> Optional[Any]:
    """glibc's ``malloc_trim`` (returns free heap pages to the OS), or None on other C libraries."""
    try:
        libc = ctypes.CDLL(None)
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def environment() -> Dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "package": getattr(pkg, "__version__", "?"),
        "simulator": simulator.control().version(),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(load[0], 2),
        "argv": " ".join(sys.argv),
    }


def emit_json(payload: Dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False, default=str))
