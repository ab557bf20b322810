"""The simulated NPU runtime: building and caching it, and the entry points for models and control.

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
This module builds and caches the library and hands out the control object; the model writer
(:mod:`._sim_model`), the compute rule (:mod:`._sim_rule`) and the control wrapper
(:mod:`._sim_control`) live in their own modules and are re-exported here.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import logging
import os
import pathlib
import shlex
import shutil
import subprocess
import tempfile
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ._sim_control import FUNCTIONS, SOCS, Simulator
from ._sim_model import TensorSpec, percent_encode, write_model
from ._sim_model import DTypeLike, OpAttrValue, TensorLike  # noqa: F401 - the aliases of the public signatures
from ._sim_rule import expected_outputs

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
    # Never relative: the library found there is dlopened, so a relative root would load whatever sits under
    # the current directory.
    explicit = os.environ.get("ZTU_RKNN_SIM_CACHE")
    if explicit:
        root = pathlib.Path(explicit).expanduser()
        if not root.is_absolute():
            raise SimulatorBuildError(
                f"ZTU_RKNN_SIM_CACHE={explicit!r} is a relative path; it must be absolute (a relative cache would "
                "load a library from under the current directory)"
            )
        return root
    xdg = pathlib.Path(os.environ.get("XDG_CACHE_HOME", "")).expanduser()
    # The XDG spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
    base = xdg if xdg.is_absolute() else pathlib.Path.home() / ".cache"
    if not base.is_absolute():
        raise SimulatorBuildError(f"the cache directory {str(base)!r} is relative (is HOME relative?); set "
                                  "ZTU_RKNN_SIM_CACHE to an absolute path")
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
# The process-wide control object


_control_lock = threading.Lock()
_control: Optional[Simulator] = None


def control() -> Simulator:
    """The process-wide :class:`Simulator` over ``library_path()`` (built and loaded on first use)."""
    global _control
    with _control_lock:
        if _control is None:
            _control = Simulator(ctypes.CDLL(library_path()))
        return _control
