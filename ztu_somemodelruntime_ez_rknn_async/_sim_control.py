"""The ``rknn_sim_*`` control API of a loaded simulator library: counters, faults, delays, SoC, timing.

:func:`.simulator.control` returns the process-wide :class:`Simulator` over the library the binding
loads.  Re-exported by :mod:`.simulator`.
"""
from __future__ import annotations

import ctypes
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from ._abi import FUNCDEFS_BY_NAME

__all__ = ["FUNCTIONS", "SOCS", "Simulator"]

#: SoC profiles known to the simulator, with their NPU core counts.
SOCS: Mapping[str, int] = {"rk3588": 3, "rk3576": 2, "rk3566": 1, "rk3568": 1, "rk3562": 1}

#: The rknn_* functions the simulator counts (``calls:<name>``) and can inject faults into: exactly the
#: raw layer's prototype table, which is the librknnrt export set (one list, kept in ``_abi``).
FUNCTIONS: Tuple[str, ...] = tuple(FUNCDEFS_BY_NAME)


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
