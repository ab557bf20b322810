"""The simulated NPU runtime: building it, writing models for it, and driving its control API.

No development machine has an NPU, so the project tests against a simulator: a C library in ``stubs/``
(shipped inside the wheel as ``_sim_src``) that exports the exact ``librknnrt.so`` ABI plus a few
``rknn_sim_*`` control functions (counters, fault injection, SoC profiles, timing).

Typical use::

    from ztu_somemodelruntime_ez_rknn_async import simulator

    path = simulator.library_path()                       # compiled once per user, cached
    simulator.write_model("m.rknn", [simulator.TensorSpec("x", (1, 4))],
                          [simulator.TensorSpec("y", (1, 4))])
    sim = simulator.control()                             # the same library instance as the binding's
    sim.inject_fault("rknn_run", nth=2, code=-1)

The model file format, the compute rule and the control API are specified in ``docs/DESIGN.md``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import hashlib
import logging
import math
import os
import pathlib
import shlex
import shutil
import subprocess
import tempfile
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__all__ = [
    "SimulatorBuildError",
    "TensorSpec",
    "Simulator",
    "source_dir",
    "library_path",
    "build",
    "write_model",
    "expected_outputs",
    "control",
    "SOCS",
    "FUNCTIONS",
    "percent_encode",
]

logger = logging.getLogger(__name__)

#: SoC profiles known to the simulator, with their NPU core counts.
SOCS: Mapping[str, int] = {"rk3588": 3, "rk3576": 2, "rk3566": 1, "rk3568": 1, "rk3562": 1}

#: The rknn_* functions the simulator counts (``calls:<name>``) and can inject faults into.
FUNCTIONS: Tuple[str, ...] = (
    "rknn_init",
    "rknn_dup_context",
    "rknn_destroy",
    "rknn_query",
    "rknn_inputs_set",
    "rknn_set_batch_core_num",
    "rknn_set_core_mask",
    "rknn_run",
    "rknn_wait",
    "rknn_outputs_get",
    "rknn_outputs_release",
    "rknn_create_mem_from_phys",
    "rknn_create_mem_from_fd",
    "rknn_create_mem_from_mb_blk",
    "rknn_create_mem",
    "rknn_create_mem2",
    "rknn_destroy_mem",
    "rknn_set_weight_mem",
    "rknn_set_internal_mem",
    "rknn_set_io_mem",
    "rknn_set_input_shape",
    "rknn_set_input_shapes",
    "rknn_mem_sync",
    "rknn_register_custom_ops",
    "rknn_custom_op_get_op_attr",
)

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_CACHE_APP = "ztu_somemodelruntime_ez_rknn_async"
_LIB_NAME = "librknnrt.so"
_CACHE_KEY_VERSION = b"ztu-sim-cache 1\0"
_BASE_FLAGS: Tuple[str, ...] = (
    "-std=c11",
    "-O2",
    "-shared",
    "-fPIC",
    "-pthread",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,-soname,librknnrt.so",
)
_SANITIZE_FLAGS: Tuple[str, ...] = ("-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g")
_LINK_LIBS: Tuple[str, ...] = ("-lm",)


class SimulatorBuildError(RuntimeError):
    """The simulated runtime could not be compiled (no compiler, or the compiler failed)."""


# --------------------------------------------------------------------------------------------------
# Building


def source_dir() -> pathlib.Path:
    """The directory holding the simulator's C sources.

    ``<package>/_sim_src`` in a non-editable install (copied there from ``stubs/`` by the wheel build),
    else ``<repository>/stubs`` in a checkout or an editable install.
    """
    candidates = (_PACKAGE_DIR / "_sim_src", _PACKAGE_DIR.parent / "stubs")
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.c")):
            return candidate
    raise SimulatorBuildError(
        "the simulator's C sources were not found; looked in " + ", ".join(str(c) for c in candidates)
    )


def _sources(src: pathlib.Path) -> List[pathlib.Path]:
    return sorted(src.glob("*.c"))


def _compiler() -> List[str]:
    """The compiler command: ``$CC`` (may carry arguments, e.g. ``ccache gcc``), else cc, gcc or clang."""
    env_cc = os.environ.get("CC", "").strip()
    if env_cc:
        argv = shlex.split(env_cc)
        found = shutil.which(argv[0])
        if found is None:
            raise SimulatorBuildError(f"the C compiler named by $CC ({env_cc!r}) was not found on PATH")
        return [found] + argv[1:]
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found is not None:
            return [found]
    raise SimulatorBuildError(
        "no C compiler found to build the simulated runtime: install cc/gcc (e.g. `apt-get install gcc`) "
        "or point $CC at one"
    )


def _build_flags(sanitize: bool, cflags: Sequence[str]) -> List[str]:
    flags = list(_BASE_FLAGS)
    if sanitize:
        flags = [f for f in flags if f != "-O2"] + list(_SANITIZE_FLAGS)
    return flags + [str(f) for f in cflags]


def _cache_root() -> pathlib.Path:
    explicit = os.environ.get("ZTU_RKNN_SIM_CACHE")
    if explicit:
        return pathlib.Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg).expanduser() if xdg else pathlib.Path.home() / ".cache"
    return base / _CACHE_APP


def _cache_key(src: pathlib.Path, compiler: Sequence[str], flags: Sequence[str]) -> str:
    digest = hashlib.sha256(_CACHE_KEY_VERSION)

    def feed(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    files = sorted(list(src.glob("*.c")) + list(src.glob("*.h")))
    for path in files:
        feed(path.name.encode())
        feed(path.read_bytes())
    for arg in compiler:
        feed(arg.encode())
    try:
        st = os.stat(compiler[0])
        feed(f"{st.st_size}:{st.st_mtime_ns}".encode())  # a compiler upgrade in place changes the key
    except OSError:
        pass
    for flag in list(flags) + list(_LINK_LIBS):
        feed(flag.encode())
    return digest.hexdigest()[:16]


def _compile(output: pathlib.Path, sanitize: bool, cflags: Sequence[str], compiler: Sequence[str]) -> None:
    """Compiles every ``*.c`` of source_dir() into `output`, atomically (temp file + os.replace)."""
    src = source_dir()
    sources = _sources(src)
    flags = _build_flags(sanitize, cflags)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".librknnrt-", suffix=".so.tmp", dir=str(output.parent))
    os.close(fd)
    argv = list(compiler) + flags + ["-o", tmp_name] + [str(s) for s in sources] + list(_LINK_LIBS)
    logger.info("building the simulated runtime: %s", " ".join(shlex.quote(a) for a in argv))
    try:
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        except OSError as exc:
            raise SimulatorBuildError(f"could not run the C compiler {compiler[0]!r}: {exc}") from exc
        if proc.returncode != 0:
            text = proc.stdout.decode("utf-8", errors="replace").strip()
            raise SimulatorBuildError(
                f"compiling the simulated runtime failed (exit code {proc.returncode}).\n"
                f"command: {' '.join(shlex.quote(a) for a in argv)}\n{text}"
            )
        os.chmod(tmp_name, 0o755)
        os.replace(tmp_name, str(output))
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


# First result of library_path() per (sources, cache root, compiler): every later call in this process returns
# the same file, so all loaders share one library instance even while the sources are being edited.
_path_lock = threading.Lock()
_path_memo: Dict[Tuple[str, str, Tuple[str, ...]], str] = {}


def library_path(*, rebuild: bool = False) -> str:
    """The absolute path of the compiled simulator, building it first when needed.

    The library lives in a per-user cache,
    ``${ZTU_RKNN_SIM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/ztu_somemodelruntime_ez_rknn_async}/sim-<key>/``,
    where ``<key>`` hashes the sources, the compiler and the flags, so editing a source file builds a new
    library.  Concurrent builds (threads or processes) are serialised with a lock file and each build
    lands atomically, so a reader never sees a half-written library.

    Within one process the first path returned is reused by later calls (for the same source directory,
    cache root and compiler), so every loader shares one library instance -- and one set of counters --
    even when the sources change on disk meanwhile.  ``rebuild=True`` recompiles from the current sources
    and makes the new path the one later calls return.

    Raises:
        SimulatorBuildError: no compiler, missing sources, or a compile error (with the compiler output).
    """
    compiler = _compiler()
    src = source_dir()
    memo_key = (str(src), str(_cache_root()), tuple(compiler))
    with _path_lock:
        known = _path_memo.get(memo_key)
        if known is not None and not rebuild and os.path.isfile(known):
            return known
        flags = _build_flags(False, ())
        key = _cache_key(src, compiler, flags)
        directory = _cache_root() / f"sim-{key}"
        output = directory / _LIB_NAME
        if rebuild or not output.is_file():
            directory.mkdir(parents=True, exist_ok=True)
            with open(directory / ".lock", "a+b") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    if rebuild or not output.is_file():  # another process may have built it while we waited
                        _compile(output, False, (), compiler)
                    else:
                        logger.debug("simulated runtime built concurrently by another process: %s", output)
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        path = str(output.resolve())
        _path_memo[memo_key] = path
        return path


def build(
    output_dir: Union[str, "os.PathLike[str]"],
    *,
    sanitize: bool = False,
    cflags: Sequence[str] = (),
) -> pathlib.Path:
    """Builds the simulator into ``<output_dir>/librknnrt.so`` (not the cache) and returns that path.

    Args:
        output_dir: directory to build into (created when missing).
        sanitize: build with ``-fsanitize=address,undefined -fno-omit-frame-pointer -O1 -g``.
        cflags: extra compiler flags, appended last.
    """
    if isinstance(cflags, (str, bytes)):
        raise TypeError("cflags must be a sequence of strings, not a single string")
    output = pathlib.Path(output_dir).resolve() / _LIB_NAME
    _compile(output, sanitize, cflags, _compiler())
    return output


# --------------------------------------------------------------------------------------------------
# Model files

# Model types of the native format, with the rknn_tensor_type value each maps to.
_TYPE_CODES: Mapping[str, int] = {
    "float32": 0,
    "float16": 1,
    "int8": 2,
    "uint8": 3,
    "int16": 4,
    "uint16": 5,
    "int32": 6,
    "uint32": 7,
    "int64": 8,
    "bool": 9,
}
_QUANTISABLE = ("int8", "uint8", "int16")
_LAYOUTS = ("nchw", "nhwc", "undefined")
_MAX_DIMS = 16
_MAX_IO = 256
_MAX_SHAPES = 512
_MAX_NAME_BYTES = 255
_MAX_CUSTOM_STRING_BYTES = 1023
_MAX_OP_ATTRS = 64
_UINT32_MAX = 2**32 - 1
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")

DTypeLike = Union[str, "np.dtype[Any]", type]


def _canonical_dtype(dtype: object, what: str) -> str:
    if isinstance(dtype, str) and dtype in _TYPE_CODES:
        return dtype
    try:
        name = str(np.dtype(dtype).name)  # type: ignore[call-overload]
    except TypeError as exc:
        raise ValueError(f"{what}: {dtype!r} is not a dtype") from exc
    if name not in _TYPE_CODES:
        raise ValueError(f"{what}: dtype {name!r} is not supported; use one of {', '.join(_TYPE_CODES)}")
    return name


def _check_dims(value: object, what: str) -> Tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        else:
            raise ValueError(f"{what} must be a sequence of non-negative integers, got {value!r}")
    assert isinstance(value, Sequence)
    dims: List[int] = []
    for d in value:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ValueError(f"{what} must hold integers, got {d!r} in {value!r}")
        if not 0 <= int(d) <= _UINT32_MAX:
            raise ValueError(f"{what}: dimension {d} is out of range 0..{_UINT32_MAX}")
        dims.append(int(d))
    if len(dims) > _MAX_DIMS:
        raise ValueError(f"{what} has {len(dims)} dimensions; at most {_MAX_DIMS} are allowed")
    return tuple(dims)


def _check_text(value: object, what: str, max_bytes: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters: {value!r}")
    size = len(value.encode("utf-8"))
    if size == 0 and not allow_empty:
        raise ValueError(f"{what} must not be empty")
    if size > max_bytes:
        raise ValueError(f"{what} is {size} bytes in UTF-8; at most {max_bytes} are allowed")
    return value


def _type_range(dtype: str) -> Tuple[int, int]:
    info = np.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output of a simulator-native model.

    After construction ``shape`` is a tuple of ints, ``dtype`` the canonical type name (``"float32"``,
    ``"int8"``, ...), ``layout`` ``None`` or lower case, and ``shapes`` ``None`` or a tuple of tuples.

    Attributes:
        name: tensor name (non-empty, at most 255 UTF-8 bytes, no NUL).
        shape: logical (ONNX-order) dims; for dynamic tensors row 0 of ``shapes``.
        dtype: the type the model holds: float32 float16 int8 uint8 int16 uint16 int32 uint32 int64 bool
            (a numpy dtype or type works too).
        scale: affine quantisation scale (int8/uint8/int16 only); ``None`` = not quantised.
        zero_point: affine zero point (needs ``scale``).
        layout: ``"nchw"``, ``"nhwc"`` (4-D only) or ``"undefined"``; ``None`` = the format's default
            (4-D inputs NHWC, 4-D outputs NCHW, other ranks UNDEFINED).
        shapes: the rows of a dynamic-shape tensor (row 0 must equal ``shape``), or ``None``.
    """

    name: str
    shape: Sequence[int]
    dtype: DTypeLike = "float32"
    scale: Optional[float] = None
    zero_point: int = 0
    layout: Optional[str] = None
    shapes: Optional[Sequence[Sequence[int]]] = None

    def __post_init__(self) -> None:
        _check_text(self.name, "TensorSpec.name", _MAX_NAME_BYTES)
        what = f"TensorSpec {self.name!r}"
        shape = _check_dims(self.shape, f"{what}: shape")
        dtype = _canonical_dtype(self.dtype, f"{what}: dtype")
        scale = self.scale
        if scale is not None:
            if dtype not in _QUANTISABLE:
                raise ValueError(f"{what}: scale is only valid for {'/'.join(_QUANTISABLE)} tensors, not {dtype}")
            if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)):
                raise ValueError(f"{what}: scale must be a number, got {scale!r}")
            scale32 = float(np.float32(scale))
            if not math.isfinite(scale32) or scale32 <= 0.0:
                raise ValueError(f"{what}: scale must be finite and > 0 (as float32), got {scale!r}")
            scale = scale32
        zp = self.zero_point
        if isinstance(zp, bool) or not isinstance(zp, (int, np.integer)):
            raise ValueError(f"{what}: zero_point must be an int, got {zp!r}")
        zp = int(zp)
        if scale is None and zp != 0:
            raise ValueError(f"{what}: zero_point needs scale (only affine-quantised tensors have one)")
        if scale is not None:
            lo, hi = _type_range(dtype)
            if not lo <= zp <= hi:
                raise ValueError(f"{what}: zero_point {zp} is outside the {dtype} range {lo}..{hi}")
        layout = self.layout
        if layout is not None:
            if not isinstance(layout, str) or layout.lower() not in _LAYOUTS:
                raise ValueError(f"{what}: layout must be one of {', '.join(_LAYOUTS)} or None, got {layout!r}")
            layout = layout.lower()
            if layout == "nhwc" and len(shape) != 4:
                raise ValueError(f"{what}: layout 'nhwc' needs a 4-D shape, got {shape}")
        shapes: Optional[Tuple[Tuple[int, ...], ...]] = None
        if self.shapes is not None:
            if isinstance(self.shapes, (str, bytes)) or not isinstance(self.shapes, Sequence):
                raise ValueError(f"{what}: shapes must be a sequence of shapes, got {self.shapes!r}")
            rows = tuple(_check_dims(r, f"{what}: shapes[{i}]") for i, r in enumerate(self.shapes))
            if not rows:
                raise ValueError(f"{what}: shapes must have at least one row (or be None for a static tensor)")
            if len(rows) > _MAX_SHAPES:
                raise ValueError(f"{what}: {len(rows)} shape rows; at most {_MAX_SHAPES} are allowed")
            if not shape:
                raise ValueError(f"{what}: a scalar tensor cannot have dynamic shapes")
            for i, row in enumerate(rows):
                if len(row) != len(shape):
                    raise ValueError(f"{what}: shapes[{i}] {row} has {len(row)} dims, shape has {len(shape)}")
            if rows[0] != shape:
                raise ValueError(f"{what}: shapes[0] {rows[0]} must equal shape {shape}")
            shapes = rows
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "shapes", shapes)

    @property
    def type_name(self) -> str:
        """The canonical type name (``dtype`` as a ``str``)."""
        return str(self.dtype)

    @property
    def dims(self) -> Tuple[int, ...]:
        """``shape`` as a tuple."""
        return tuple(self.shape)

    @property
    def rows(self) -> Optional[Tuple[Tuple[int, ...], ...]]:
        """``shapes`` as a tuple of tuples (``None`` for a static tensor)."""
        return None if self.shapes is None else tuple(tuple(r) for r in self.shapes)


TensorLike = Union[TensorSpec, Mapping[str, Any]]


def _as_spec(obj: TensorLike, what: str) -> TensorSpec:
    if isinstance(obj, TensorSpec):
        return obj
    if isinstance(obj, Mapping):
        known = {f.name for f in dataclasses.fields(TensorSpec)}
        unknown = sorted(str(k) for k in obj if k not in known)
        if unknown:
            raise ValueError(f"{what}: unknown keys {unknown}; TensorSpec takes {sorted(known)}")
        missing = [k for k in ("name", "shape") if k not in obj]
        if missing:
            raise ValueError(f"{what}: missing keys {missing}")
        return TensorSpec(**{str(k): v for k, v in obj.items()})
    raise ValueError(f"{what} must be a TensorSpec or a mapping, got {type(obj).__name__}")


def _as_specs(objs: Sequence[TensorLike], what: str) -> List[TensorSpec]:
    if isinstance(objs, (str, bytes, Mapping, TensorSpec)) or not isinstance(objs, Sequence):
        raise ValueError(f"{what} must be a sequence of TensorSpec or mappings, got {type(objs).__name__}")
    return [_as_spec(o, f"{what}[{i}]") for i, o in enumerate(objs)]


def percent_encode(text: str) -> str:
    """Percent-encodes `text` as the native format wants: bytes outside ``[A-Za-z0-9._~-]`` → ``%XX``."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def _dims_token(dims: Sequence[int]) -> str:
    return ",".join(str(d) for d in dims) if dims else "scalar"


def _float_token(value: float) -> str:
    return repr(float(value))  # shortest text that strtod/strtof read back to the same value


def _tensor_line(kind: str, spec: TensorSpec) -> str:
    parts = [kind, percent_encode(spec.name), spec.type_name, _dims_token(spec.dims)]
    if spec.layout is not None:
        parts.append(f"fmt={spec.layout}")
    if spec.scale is not None:
        parts.append(f"scale={_float_token(spec.scale)}")
        parts.append(f"zp={spec.zero_point}")
    rows = spec.rows
    if rows is not None:
        parts.append("shapes=" + ";".join(_dims_token(r) for r in rows))
    return " ".join(parts)


OpAttrValue = Union[
    "npt.NDArray[Any]", int, float, Sequence[Union[int, float]], Tuple[DTypeLike, Sequence[Union[int, float]]]
]


def _op_attr_line(name: object, value: object) -> str:
    what = f"op_attrs[{name!r}]"
    _check_text(name, f"{what}: name", _MAX_NAME_BYTES)
    assert isinstance(name, str)
    dtype: str
    values: List[Union[int, float]]
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (str, np.dtype, type)):
        dtype = _canonical_dtype(value[0], what)
        arr = np.asarray(value[1]).reshape(-1)
        values = arr.tolist()
    elif isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value).reshape(-1)
        dtype = _canonical_dtype(arr.dtype, what)
        values = arr.tolist()
    else:
        seq: Sequence[object] = value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in seq):
            raise ValueError(f"{what}: values must be numbers, got {value!r}")
        is_float = any(isinstance(v, (float, np.floating)) for v in seq)
        dtype = "float32" if is_float else "int64"
        values = [float(v) if is_float else int(v) for v in seq]  # type: ignore[arg-type,call-overload]
    if not values:
        raise ValueError(f"{what}: needs at least one value")
    tokens: List[str] = []
    for v in values:
        if dtype in ("float32", "float16"):
            f = float(v)
            if not math.isfinite(f):
                raise ValueError(f"{what}: values must be finite, got {v!r}")
            tokens.append(_float_token(float(np.dtype(dtype).type(f))))
        elif dtype == "bool":
            tokens.append("1" if v else "0")
        else:
            if isinstance(v, float) and not v.is_integer():
                raise ValueError(f"{what}: {dtype} values must be integers, got {v!r}")
            iv = int(v)
            lo, hi = _type_range(dtype)
            if not lo <= iv <= hi:
                raise ValueError(f"{what}: {iv} is outside the {dtype} range {lo}..{hi}")
            tokens.append(str(iv))
    return f"op_attr {percent_encode(name)} {dtype} {','.join(tokens)}"


def write_model(
    path: Union[str, "os.PathLike[str]"],
    inputs: Sequence[TensorLike],
    outputs: Sequence[TensorLike],
    *,
    latency_us: int = 1000,
    custom_string: str = "",
    custom_op: Optional[str] = None,
    op_attrs: Optional[Mapping[str, OpAttrValue]] = None,
    weights_id: Optional[str] = None,
    weights_from: Optional[str] = None,
) -> pathlib.Path:
    """Writes a simulator-native model (``RKNN-SIM 1`` text format, see docs/DESIGN.md) to `path`.

    Args:
        path: file to write (overwritten).
        inputs: the model inputs, as TensorSpec or mappings with the same keys (1..256).
        outputs: the model outputs, likewise (1..256).
        latency_us: time one run takes on one core (>= 0).
        custom_string: what ``RKNN_QUERY_CUSTOM_STRING`` returns (at most 1023 UTF-8 bytes).
        custom_op: op_type of a custom op that computes the outputs instead of the default sum.
        op_attrs: constant attributes of the custom op, name → numpy array / scalar / list of numbers /
            ``(dtype, values)``; plain ints become int64 and floats float32.
        weights_id: id of the weights this model carries (for weight sharing).
        weights_from: id of the weights this weight-less model takes from another context.

    Returns:
        The path written, as a ``pathlib.Path``.

    Raises:
        ValueError: any argument the format cannot represent, with the reason.
    """
    ins = _as_specs(inputs, "inputs")
    outs = _as_specs(outputs, "outputs")
    for what, specs in (("inputs", ins), ("outputs", outs)):
        if not specs:
            raise ValueError(f"a model needs at least one of its {what}")
        if len(specs) > _MAX_IO:
            raise ValueError(f"{len(specs)} {what}; at most {_MAX_IO} are allowed")
        names = [s.name for s in specs]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"duplicate {what[:-1]} names: {dups}")
    dynamic_rows = {len(s.rows or ()) for s in ins}
    if dynamic_rows != {0}:
        if 0 in dynamic_rows or len(dynamic_rows) != 1:
            raise ValueError("in a dynamic-shape model every input needs `shapes`, all with the same number of rows")
        n_rows = dynamic_rows.pop()
        for s in outs:
            if s.rows is not None and len(s.rows) != n_rows:
                raise ValueError(f"output {s.name!r} has {len(s.rows)} shape rows; the inputs have {n_rows}")
    elif any(s.rows is not None for s in outs):
        raise ValueError("outputs may only have `shapes` when the inputs have them (dynamic-shape model)")
    if isinstance(latency_us, bool) or not isinstance(latency_us, (int, np.integer)) or latency_us < 0:
        raise ValueError(f"latency_us must be an int >= 0, got {latency_us!r}")
    _check_text(custom_string, "custom_string", _MAX_CUSTOM_STRING_BYTES, allow_empty=True)
    if custom_op is not None:
        _check_text(custom_op, "custom_op", _MAX_NAME_BYTES)
    if op_attrs is not None and not isinstance(op_attrs, Mapping):
        raise ValueError(f"op_attrs must be a mapping of name to values, got {type(op_attrs).__name__}")
    if op_attrs and custom_op is None:
        raise ValueError("op_attrs are only valid together with custom_op")
    if op_attrs is not None and len(op_attrs) > _MAX_OP_ATTRS:
        raise ValueError(f"{len(op_attrs)} op_attrs; at most {_MAX_OP_ATTRS} are allowed")
    if weights_id is not None:
        _check_text(weights_id, "weights_id", _MAX_NAME_BYTES)
    if weights_from is not None:
        _check_text(weights_from, "weights_from", _MAX_NAME_BYTES)
    if weights_id is not None and weights_from is not None:
        raise ValueError("a model either carries weights (weights_id) or takes them (weights_from), not both")

    lines = ["RKNN-SIM 1", f"latency_us {int(latency_us)}"]
    if custom_string:
        lines.append(f"custom_string {percent_encode(custom_string)}")
    if custom_op is not None:
        lines.append(f"op custom {percent_encode(custom_op)}")
        for name, value in (op_attrs or {}).items():
            lines.append(_op_attr_line(name, value))
    if weights_id is not None:
        lines.append(f"weights {percent_encode(weights_id)}")
    if weights_from is not None:
        lines.append(f"weights_from {percent_encode(weights_from)}")
    lines.extend(_tensor_line("input", s) for s in ins)
    lines.extend(_tensor_line("output", s) for s in outs)
    lines.append("end")
    target = pathlib.Path(path)
    target.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return target


# --------------------------------------------------------------------------------------------------
# The compute rule in numpy


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
            lo, hi = _type_range(dtype)
            scale = np.float32(spec.scale)
            q = np.rint(values / scale) + np.float32(spec.zero_point)
            q = np.clip(np.nan_to_num(q, nan=0.0), lo, hi)
            result = ((q - np.float32(spec.zero_point)) * scale).astype(np.float32)
        else:
            lo, hi = _type_range(dtype)
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
    ins = _as_specs(inputs, "inputs")
    outs = _as_specs(outputs, "outputs")
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


# --------------------------------------------------------------------------------------------------
# The control API


class Simulator:
    """The ``rknn_sim_*`` control functions of a loaded simulator library.

    Get the process-wide instance with :func:`control`; it wraps the same library instance the binding
    loads from :func:`library_path`, so counters and faults apply to the binding's calls.  Every method
    raises ``ValueError`` when the simulator refuses an argument.
    """

    _LIST_BUFFER = 16384

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library
        # Item access gives private function objects, so the argtypes set here cannot clash with
        # another user of the same CDLL.
        try:
            self._get_counter = library["rknn_sim_get_counter"]
            self._list_counters = library["rknn_sim_list_counters"]
            self._reset_counters = library["rknn_sim_reset_counters"]
            self._inject_fault = library["rknn_sim_inject_fault"]
            self._set_delay = library["rknn_sim_set_delay"]
            self._hang_next_run = library["rknn_sim_hang_next_run"]
            self._clear_faults = library["rknn_sim_clear_faults"]
            self._set_soc = library["rknn_sim_set_soc"]
            self._set_latency_override = library["rknn_sim_set_latency_override"]
            self._set_jitter = library["rknn_sim_set_jitter"]
            self._version = library["rknn_sim_version"]
        except AttributeError as exc:
            raise RuntimeError(f"{library._name} is not the simulated runtime (no rknn_sim_* control API)") from exc
        self._get_counter.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)]
        self._get_counter.restype = ctypes.c_int
        self._list_counters.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
        self._list_counters.restype = ctypes.c_int
        self._reset_counters.argtypes = []
        self._reset_counters.restype = None
        self._inject_fault.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_int64]
        self._inject_fault.restype = ctypes.c_int
        self._set_delay.argtypes = [ctypes.c_char_p, ctypes.c_int64]
        self._set_delay.restype = ctypes.c_int
        self._hang_next_run.argtypes = [ctypes.c_int64]
        self._hang_next_run.restype = ctypes.c_int
        self._clear_faults.argtypes = []
        self._clear_faults.restype = None
        self._set_soc.argtypes = [ctypes.c_char_p]
        self._set_soc.restype = ctypes.c_int
        self._set_latency_override.argtypes = [ctypes.c_int64]
        self._set_latency_override.restype = ctypes.c_int
        self._set_jitter.argtypes = [ctypes.c_double]
        self._set_jitter.restype = ctypes.c_int
        self._version.argtypes = []
        self._version.restype = ctypes.c_char_p

    @staticmethod
    def _check_function(func: str) -> bytes:
        if not isinstance(func, str) or func not in FUNCTIONS:
            raise ValueError(f"unknown rknn function {func!r}; known: {', '.join(FUNCTIONS)}")
        return func.encode()

    @staticmethod
    def _check_int(value: object, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{what} must be an int, got {value!r}")
        return int(value)

    def counter(self, name: str) -> int:
        """The value of counter `name` (see docs/DESIGN.md for the names)."""
        value = ctypes.c_int64()
        if not isinstance(name, str) or self._get_counter(name.encode(), ctypes.byref(value)) != 0:
            raise ValueError(f"unknown simulator counter {name!r}")
        return int(value.value)

    def counter_names(self) -> List[str]:
        """Every counter name, in the simulator's order."""
        size = self._LIST_BUFFER
        while True:
            buf = ctypes.create_string_buffer(size)
            if self._list_counters(buf, size) == 0:
                text = buf.value.decode()
                return [n for n in text.split("\n") if n]
            size *= 4
            if size > 1 << 24:
                raise RuntimeError("rknn_sim_list_counters keeps failing")

    def counters(self) -> Dict[str, int]:
        """Every counter and its value."""
        return {name: self.counter(name) for name in self.counter_names()}

    def reset_counters(self) -> None:
        """Zeroes the cumulative counters (not live_contexts, live_mems, unreleased_outputs)."""
        self._reset_counters()

    def inject_fault(self, func: str, nth: int = 1, code: int = -1, count: int = 1) -> None:
        """Makes calls `nth` .. `nth`+`count`-1 of `func`, counted from now, return `code`.

        `count` 0 fails every call from `nth` on.  ``rknn_create_mem*`` return NULL instead.
        """
        name = self._check_function(func)
        nth = self._check_int(nth, "nth")
        code = self._check_int(code, "code")
        count = self._check_int(count, "count")
        if nth < 1:
            raise ValueError(f"nth must be >= 1, got {nth}")
        if count < 0:
            raise ValueError(f"count must be >= 0 (0 = forever), got {count}")
        if code == 0 or not -(2**31) <= code < 2**31:
            raise ValueError(f"code must be a non-zero int32 error code, got {code}")
        rc = self._inject_fault(name, nth, code, count)
        if rc != 0:
            raise ValueError(f"rknn_sim_inject_fault({func!r}, {nth}, {code}, {count}) failed with {rc}"
                             + (" (fault table full)" if rc == -4 else ""))

    def set_delay(self, func: str, us: int) -> None:
        """Adds `us` microseconds to every call of `func` (0 clears)."""
        name = self._check_function(func)
        us = self._check_int(us, "us")
        if us < 0 or self._set_delay(name, us) != 0:
            raise ValueError(f"invalid delay for {func}: {us} us (must be >= 0)")

    def hang_next_run(self, us: int) -> None:
        """Makes the next rknn_run take `us` microseconds longer (0 clears a pending hang)."""
        us = self._check_int(us, "us")
        if us < 0 or self._hang_next_run(us) != 0:
            raise ValueError(f"invalid hang: {us} us (must be >= 0)")

    def clear_faults(self) -> None:
        """Removes every injected fault, delay and pending hang."""
        self._clear_faults()

    def set_soc(self, name: str) -> None:
        """Selects the simulated SoC: rk3588 (3 cores), rk3576 (2), rk3566/rk3568/rk3562 (1)."""
        if not isinstance(name, str) or self._set_soc(name.encode()) != 0:
            raise ValueError(f"unknown SoC {name!r}; known: {', '.join(SOCS)}")

    def set_latency_override(self, us: Optional[int]) -> None:
        """Makes every run take `us` microseconds (before core speed-up), whatever the model says;
        ``None`` restores the models' own latencies."""
        value = -1 if us is None else self._check_int(us, "us")
        if us is not None and value < 0:
            raise ValueError(f"latency override must be >= 0 or None, got {us}")
        if self._set_latency_override(value) != 0:
            raise ValueError(f"invalid latency override {us!r}")

    def set_jitter(self, fraction: float) -> None:
        """Spreads every run's latency uniformly by +-`fraction` (0 <= fraction < 1)."""
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating, np.integer)):
            raise ValueError(f"jitter must be a number, got {fraction!r}")
        if self._set_jitter(float(fraction)) != 0:
            raise ValueError(f"jitter must satisfy 0 <= fraction < 1, got {fraction!r}")

    def version(self) -> str:
        """The simulator's version string, e.g. ``"ztu-sim 1"``."""
        raw = self._version()
        return raw.decode() if isinstance(raw, bytes) else ""


_control_lock = threading.Lock()
_control: Optional[Simulator] = None


def control() -> Simulator:
    """The process-wide :class:`Simulator` over ``library_path()`` (built and loaded on first use)."""
    global _control
    with _control_lock:
        if _control is None:
            _control = Simulator(ctypes.CDLL(library_path()))
        return _control

