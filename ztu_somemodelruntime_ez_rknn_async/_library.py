"""Finding and loading ``librknnrt.so`` (or the simulator), lazily and once per library.

Importing the package opens nothing; the first :func:`load_runtime` does. Resolution order:

1. the explicit ``spec`` argument (provider option ``runtime_library``): an absolute path, or the
   word ``"simulator"``;
2. else the environment variable ``ZTU_RKNPU2_RUNTIME_LIBRARY`` (same two forms);
3. else the dynamic linker's search for the soname ``librknnrt.so`` (``LD_LIBRARY_PATH``,
   ld.so.cache, system directories), then the absolute board locations of rknn-abi.md §6. When
   ``LD_LIBRARY_PATH`` has an empty or relative entry (which the linker resolves against the current
   directory: a stray ``:`` is enough), the soname route is refused and only its absolute entries are tried.

An explicit choice (1 or 2) is never followed by a fallback, and the default search never accepts
the simulator: running on simulated hardware must always be asked for.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
from typing import Dict, List, Optional, Tuple, Union

from . import _abi
from .errors import InvalidOptionError, RuntimeLibraryNotFoundError

__all__ = [
    "ENV_VAR",
    "SIMULATOR",
    "SONAME",
    "STANDARD_LOCATIONS",
    "RuntimeLibrary",
    "clear_cache",
    "load_runtime",
]

logger = logging.getLogger(__name__)

ENV_VAR = "ZTU_RKNPU2_RUNTIME_LIBRARY"
SIMULATOR = "simulator"
SONAME = "librknnrt.so"
# Absolute paths only: a relative path would resolve against whatever the current directory is.
STANDARD_LOCATIONS: Tuple[str, ...] = (
    "/usr/lib/librknnrt.so",
    "/usr/lib64/librknnrt.so",
    "/usr/lib/aarch64-linux-gnu/librknnrt.so",
    "/usr/local/lib/librknnrt.so",
    "/vendor/lib64/librknnrt.so",
    "/vendor/lib/librknnrt.so",
)
# Without these a library cannot create or query a context, whatever its name says.
_ESSENTIAL_SYMBOLS = ("rknn_init", "rknn_destroy", "rknn_query")
_SIMULATOR_REFUSED = (
    "is the simulator (rknn_sim_version is exported), which the default search never uses; ask for it with "
    "'simulator'"
)
_HOW_TO_POINT = (
    "Point at the runtime with the provider option runtime_library='/absolute/path/librknnrt.so' or the "
    "environment variable {env}=/absolute/path/librknnrt.so; to run without an NPU use the simulator: "
    "runtime_library='simulator' (or {env}=simulator)."
).format(env=ENV_VAR)

SpecLike = Union[str, "os.PathLike[str]"]


class RuntimeLibrary:
    """One loaded runtime library and its bound function table.

    Attributes:
        path: the file that was loaded (resolved through the dynamic linker when loaded by soname).
        cdll: the ``ctypes.CDLL``; calls through it release the GIL.
        api: the :class:`~._abi.RknnApi` table bound to ``cdll``.
        is_simulator: the library exports ``rknn_sim_version`` (the project's simulated runtime).
    """

    __slots__ = ("path", "cdll", "api", "is_simulator")

    def __init__(self, cdll: ctypes.CDLL, path: Optional[str] = None) -> None:
        self.cdll = cdll
        self.path = path if path is not None else _loaded_path(cdll)
        self.api = _abi.bind(cdll)
        self.is_simulator = _exports(cdll, "rknn_sim_version")

    @classmethod
    def from_cdll(cls, cdll: ctypes.CDLL, path: Optional[str] = None) -> RuntimeLibrary:
        """Wrap an already loaded library (tests, embedding); bypasses resolution and the cache."""
        return cls(cdll, path)

    def __repr__(self) -> str:
        return "<RuntimeLibrary {}{}>".format(self.path, " (simulator)" if self.is_simulator else "")


_lock = threading.Lock()
# Keyed by the canonical path of the loaded file, plus "soname:librknnrt.so" for the linker search,
# so that every route to one file yields one RuntimeLibrary (one bound table, one simulator state).
_cache: Dict[str, RuntimeLibrary] = {}
# Whole-resolution results, so repeat calls skip the search (and the simulator's staleness check).
_DEFAULT_KEY = "<default search>"
_SIMULATOR_KEY = "<simulator>"


def clear_cache() -> None:
    """Forget loaded libraries (they stay mapped: ctypes never unloads). For tests."""
    with _lock:
        _cache.clear()


def _exports(cdll: ctypes.CDLL, name: str) -> bool:
    try:
        cdll[name]
    except AttributeError:
        return False
    return True


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _loaded_path(cdll: ctypes.CDLL) -> str:
    """The file behind ``cdll``: dladdr on one of its symbols, else the name it was opened with."""
    name = str(getattr(cdll, "_name", None) or SONAME)
    try:
        libc = ctypes.CDLL(None)
        dladdr = libc["dladdr"]
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        dladdr.restype = ctypes.c_int
        for sym in _ESSENTIAL_SYMBOLS:
            try:
                addr = ctypes.cast(cdll[sym], ctypes.c_void_p).value
            except AttributeError:
                continue
            info = _DlInfo()
            if dladdr(addr, ctypes.byref(info)) and info.dli_fname:
                return os.fsdecode(info.dli_fname)
    except (AttributeError, OSError):
        pass  # no dladdr (non-glibc/musl oddities): the open name is still informative
    return name


def _canonical(path: str) -> str:
    return os.path.realpath(path)


def _check_absolute(path: str, source: str) -> str:
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        raise InvalidOptionError(
            "{} = {!r} is a relative path; the runtime library must be given as an absolute path (relative paths "
            "would depend on the current directory). Leave it unset to use the dynamic linker search for {} and "
            "the standard board locations, or use 'simulator'.".format(source, path, SONAME)
        )
    return expanded


def _simulator_path() -> str:
    try:
        from . import simulator
    except ImportError as exc:  # pragma: no cover - the module ships with the package
        raise RuntimeLibraryNotFoundError(
            "the simulator was requested but ztu_somemodelruntime_ez_rknn_async.simulator cannot be imported: "
            "{}".format(exc),
            [(SIMULATOR, "import failed: {}".format(exc))],
        ) from exc
    try:
        return str(simulator.library_path())
    except Exception as exc:
        # Building needs a C compiler; say so instead of surfacing a bare subprocess error.
        raise RuntimeLibraryNotFoundError(
            "the simulator was requested but could not be built or located: {}".format(exc),
            [(SIMULATOR, "simulator.library_path() failed: {}".format(exc))],
        ) from exc


def _try_path(path: str, tried: List[Tuple[str, str]], *, allow_simulator: bool) -> Optional[RuntimeLibrary]:
    key = _canonical(path)
    cached = _cache.get(key)
    if cached is not None:
        if cached.is_simulator and not allow_simulator:
            tried.append((path, _SIMULATOR_REFUSED))
            return None
        return cached
    if not os.path.exists(path):
        tried.append((path, "not found"))
        return None
    try:
        cdll = ctypes.CDLL(path)
    except OSError as exc:
        tried.append((path, "dlopen failed: {}".format(exc)))
        return None
    return _accept(cdll, path, key, tried, allow_simulator=allow_simulator)


def _cwd_relative_search_entries() -> List[str]:
    """``LD_LIBRARY_PATH`` entries the dynamic linker resolves against the current directory.

    glibc reads an empty entry (``"a::b"``, a leading or trailing ``:``) as the current directory, and a
    relative one relative to it; ``$ORIGIN`` expands to the executable's (absolute) directory.
    """
    value = os.environ.get("LD_LIBRARY_PATH", "")
    if not value:
        return []  # unset, or set to "": the linker ignores it
    return [e for e in value.replace(";", ":").split(":")
            if not (e.startswith("/") or e.startswith("$ORIGIN") or e.startswith("${ORIGIN}"))]


def _try_soname(tried: List[Tuple[str, str]]) -> Optional[RuntimeLibrary]:
    label = "{} (dynamic linker search: LD_LIBRARY_PATH, ld.so.cache, system directories)".format(SONAME)
    cached = _cache.get("soname:" + SONAME)
    if cached is not None:
        return cached
    unsafe = _cwd_relative_search_entries()
    if unsafe:
        # dlopen by soname would search the current directory: refuse that route and look in the absolute
        # LD_LIBRARY_PATH entries ourselves (the standard locations follow).
        tried.append((label, "refused: LD_LIBRARY_PATH has entries the dynamic linker resolves against the current "
                             "directory ({}); only its absolute entries are searched".format(
                                 ", ".join(repr(e) for e in unsafe))))
        for entry in os.environ.get("LD_LIBRARY_PATH", "").replace(";", ":").split(":"):
            if entry.startswith("/"):
                lib = _try_path(os.path.join(entry, SONAME), tried, allow_simulator=False)
                if lib is not None:
                    return lib
        return None
    try:
        cdll = ctypes.CDLL(SONAME)
    except OSError as exc:
        tried.append((label, "dlopen failed: {}".format(exc)))
        return None
    lib = _accept(cdll, None, None, tried, allow_simulator=False, label=label)
    if lib is not None:
        _cache["soname:" + SONAME] = lib
    return lib


def _accept(
    cdll: ctypes.CDLL,
    path: Optional[str],
    key: Optional[str],
    tried: List[Tuple[str, str]],
    *,
    allow_simulator: bool,
    label: Optional[str] = None,
) -> Optional[RuntimeLibrary]:
    shown = label or path or SONAME
    missing = [s for s in _ESSENTIAL_SYMBOLS if not _exports(cdll, s)]
    if missing:
        tried.append((shown, "not an RKNN runtime: does not export {}".format(", ".join(missing))))
        return None
    if not allow_simulator and _exports(cdll, "rknn_sim_version"):
        # dlopen by soname also matches an already loaded library whose SONAME is librknnrt.so,
        # which the simulator's is: without this check a process that once loaded the simulator
        # would silently keep using it.
        tried.append((shown, _SIMULATOR_REFUSED))
        return None
    resolved = path if path is not None else _loaded_path(cdll)
    key = key if key is not None else _canonical(resolved)
    existing = _cache.get(key)
    if existing is not None:
        return existing
    lib = RuntimeLibrary(cdll, resolved)
    _cache[key] = lib
    logger.debug("loaded %r", lib)
    return lib


def _not_found(summary: str, tried: List[Tuple[str, str]]) -> RuntimeLibraryNotFoundError:
    lines = [summary, "Tried:"]
    lines.extend("  - {}: {}".format(c, r) for c, r in tried)
    lines.append(_HOW_TO_POINT)
    return RuntimeLibraryNotFoundError("\n".join(lines), tried)


def _load_explicit(value: str, source: str) -> RuntimeLibrary:
    tried: List[Tuple[str, str]] = []
    if value.strip().lower() == SIMULATOR:
        path = _simulator_path()
        lib = _try_path(path, tried, allow_simulator=True)
        if lib is None:
            raise _not_found("The simulated runtime ({} = 'simulator') could not be loaded.".format(source), tried)
        return lib
    path = _check_absolute(value, source)
    lib = _try_path(path, tried, allow_simulator=True)
    if lib is None:
        raise _not_found(
            "The RKNN runtime library given by {} could not be loaded (no fallback is tried after an explicit "
            "choice).".format(source),
            tried,
        )
    return lib


def _load_default() -> RuntimeLibrary:
    tried: List[Tuple[str, str]] = []
    lib = _try_soname(tried)
    if lib is not None:
        return lib
    for path in STANDARD_LOCATIONS:
        lib = _try_path(path, tried, allow_simulator=False)
        if lib is not None:
            return lib
    raise _not_found("No RKNN runtime library ({}) could be loaded.".format(SONAME), tried)


def _fast_lookup(spec: Optional[str]) -> Optional[RuntimeLibrary]:
    # Lock-free read of the cache for the common repeat call; dict reads are atomic under the GIL.
    if spec is None:
        return _cache.get(_DEFAULT_KEY)
    if spec.strip().lower() == SIMULATOR:
        return _cache.get(_SIMULATOR_KEY)
    expanded = os.path.expanduser(spec)
    if not os.path.isabs(expanded):
        return None
    return _cache.get(_canonical(expanded))


def load_runtime(spec: Optional[SpecLike] = None) -> RuntimeLibrary:
    """Load (once) and return the runtime library.

    Args:
        spec: an absolute path to a ``librknnrt.so``, ``"simulator"``, or None for the environment
            variable ``ZTU_RKNPU2_RUNTIME_LIBRARY`` and then the default search.

    Raises:
        InvalidOptionError: ``spec`` (or the environment variable) is a relative path.
        RuntimeLibraryNotFoundError: nothing could be loaded; the message lists every candidate tried.
    """
    if spec is not None:
        value: Optional[str] = os.fspath(spec)
        source = "runtime_library"
    else:
        env = os.environ.get(ENV_VAR, "")
        value = env if env.strip() else None
        source = "environment variable {}".format(ENV_VAR)
    if value is not None and not value.strip():
        raise InvalidOptionError("runtime_library is empty; give an absolute path, 'simulator', or None")
    found = _fast_lookup(value)
    if found is not None:
        return found
    with _lock:
        found = _fast_lookup(value)
        if found is not None:
            return found
        if value is None:
            lib = _load_default()
            _cache[_DEFAULT_KEY] = lib
        else:
            lib = _load_explicit(value, source)
            if value.strip().lower() == SIMULATOR:
                _cache[_SIMULATOR_KEY] = lib
        return lib
