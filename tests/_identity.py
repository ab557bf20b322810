"""Helpers shared by the session tests: a feed whose output names the task that produced it.

With the simulator's rule (``out = x + 0`` for a one-input, one-output model of shape ``(1, 4)``), the
output of ``feed(i)`` is ``feed(i)`` itself, so a result handed to the wrong caller, lost or duplicated
shows up as a wrong or repeated identity.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

SIM: Dict[str, Any] = {"runtime_library": "simulator"}
#: The simulator counters of runtime resources that must be back to their start after close().
LIVE = ("live_contexts", "live_mems", "unreleased_outputs")


def opts(**kw: Any) -> Dict[str, Any]:
    """Provider options on the simulator, plus ``kw``."""
    d: Dict[str, Any] = dict(SIM)
    d.update(kw)
    return d


def feed(i: int) -> np.ndarray:
    """An input whose output identifies task ``i`` (float32-exact for i < 2**22)."""
    return (np.float32(i) + np.array([[0.0, 0.25, 0.5, 0.75]], np.float32)).astype(np.float32)


def ident_array(y: np.ndarray) -> int:
    """The task identity carried by one output array (asserts it is intact)."""
    assert y.shape == (1, 4) and y.dtype == np.float32
    i = int(y[0, 0])
    np.testing.assert_array_equal(y, feed(i))
    return i


def ident(out: Sequence[np.ndarray]) -> int:
    """The task identity carried by a run's outputs."""
    return ident_array(out[0])


def live(sim: Any) -> Dict[str, int]:
    """The simulator's live-resource counters."""
    return {k: int(sim.counter(k)) for k in LIVE}
