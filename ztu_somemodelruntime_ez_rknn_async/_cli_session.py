"""How the ``ez-rknn`` commands open and describe a session, and make random inputs for it.

:class:`SessionConfig` maps the command-line options to provider options; :func:`open_session` makes the
``InferenceSession`` (imported lazily: ``ez-rknn sim path`` needs none). :func:`random_feed` builds an
input of the right dtype and shape for every model input, using the first declared row of a dynamic input.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ._cli_format import CliError, as_dict

if TYPE_CHECKING:
    from .session import InferenceSession

__all__ = [
    "SessionConfig", "check_model_path", "close_session", "concrete_shape", "dtype_from_ort_type",
    "open_session", "random_array", "random_feed", "runtime_description", "session_sdk_version",
]


def check_model_path(path: str) -> str:
    if not os.path.exists(path):
        raise CliError(f"no such model file: {path}")
    if os.path.isdir(path):
        raise CliError(f"model path is a directory, not a file: {path}")
    if not os.access(path, os.R_OK):
        raise CliError(f"model file is not readable: {path}")
    return path


@dataclass
class SessionConfig:
    runtime_library: Optional[str] = None
    schedule: Optional[Tuple[int, ...]] = None
    tp_mode: Optional[str] = None
    threads_per_core: Optional[int] = None
    max_queue_size: Optional[int] = None
    profile_prefix: Optional[str] = None

    def provider_options(self) -> Dict[str, Any]:
        opts: Dict[str, Any] = {}
        if self.runtime_library is not None:
            lib = self.runtime_library
            # The library accepts only absolute paths (or "simulator"); a CLI user types relative ones.
            if lib.strip().lower() != "simulator" and not os.path.isabs(lib):
                lib = os.path.abspath(lib)
            opts["runtime_library"] = lib
        if self.schedule is not None:
            opts["schedule"] = ",".join(str(c) for c in self.schedule)
        if self.tp_mode is not None:
            opts["tp_mode"] = self.tp_mode
        if self.threads_per_core is not None:
            opts["threads_per_core"] = self.threads_per_core
        if self.max_queue_size is not None:
            opts["max_queue_size"] = self.max_queue_size
        return opts


def open_session(model: Union[str, bytes], config: SessionConfig) -> "InferenceSession":
    """An ``InferenceSession`` for ``model`` with ``config`` (imported lazily: ``sim path`` needs none)."""
    from .options import PROVIDER_NAME, SessionOptions
    from .session import InferenceSession

    so: Optional[SessionOptions] = None
    if config.profile_prefix is not None:
        so = SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = config.profile_prefix
    return InferenceSession(model, so, providers=[PROVIDER_NAME], provider_options=[config.provider_options()])


def runtime_description(session: "InferenceSession") -> Dict[str, Any]:
    """``{"path": ..., "is_simulator": ...}`` of the runtime library the session loaded."""
    runtime = session.runtime
    return {"path": runtime.library_path, "is_simulator": runtime.is_simulator}


def session_sdk_version(session: Any) -> Dict[str, Any]:
    for name in ("get_sdk_version", "sdk_version"):
        value = getattr(session, name, None)
        if callable(value):
            value = value()
        if value is None:
            continue
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
        if isinstance(value, str):
            return {"api_version": value}
        d = as_dict(value)
        if d:
            return d
    return {}


_ORT_DTYPES: Mapping[str, str] = {
    "float": "float32", "float32": "float32", "float16": "float16", "double": "float64",
    "int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16", "int32": "int32",
    "uint32": "uint32", "int64": "int64", "uint64": "uint64", "bool": "bool",
}


def dtype_from_ort_type(type_string: str) -> np.dtype:
    """``'tensor(float)'`` → ``float32`` etc.; unknown → float32."""
    inner = type_string
    if inner.startswith("tensor(") and inner.endswith(")"):
        inner = inner[len("tensor("):-1]
    return np.dtype(_ORT_DTYPES.get(inner, "float32"))


def concrete_shape(shape: Sequence[object]) -> Tuple[int, ...]:
    """Symbolic or unknown dims (``str``/``None``/negative) become 1."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) and int(d) >= 0 else 1 for d in shape)


def random_feed(session: Any, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """A random input of the right dtype and shape for every model input (from ``get_inputs()``)."""
    feed: Dict[str, np.ndarray] = {}
    for arg, rows in zip(session.get_inputs(), session.get_dynamic_input_shapes()):
        dtype = dtype_from_ort_type(str(arg.type))
        # A dynamic input: its first declared shape row (row 0 of every input is one valid shape set).
        shape = concrete_shape(arg.shape) if rows is None else tuple(rows[0])
        feed[arg.name] = random_array(shape, dtype, rng)
    return feed


def random_array(shape: Tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        lo, hi = max(int(info.min), -128), min(int(info.max), 127)
        return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


def close_session(session: Any) -> None:
    """``session.close()`` when it has one."""
    close = getattr(session, "close", None)
    if callable(close):
        close()
