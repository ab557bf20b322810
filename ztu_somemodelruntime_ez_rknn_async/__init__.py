"""ONNX-Runtime-style sessions for Rockchip RKNPU2 models, in pure Python over librknnrt via ctypes.

Importing the package loads no native library: ``librknnrt.so`` (or the simulator) is opened by the first
:class:`InferenceSession`.

Example:
    >>> from ztu_somemodelruntime_ez_rknn_async import InferenceSession, get_available_providers
    >>> get_available_providers()
    ['RKNPU2ExecutionProvider']
"""
from __future__ import annotations

import logging
from typing import List

from ._attrs import TensorAttr
from .errors import (
    InvalidArgumentError,
    InvalidOptionError,
    RknnContextInvalidError,
    RknnError,
    RknnInputInvalidError,
    RknnMallocError,
    RknnModelInvalidError,
    RknnNotSupportedError,
    RknnPlatformMismatchError,
    RknnTimeoutError,
    RunTimeoutError,
    RuntimeLibraryNotFoundError,
    SessionClosedError,
    SubmitTimeoutError,
)
from .options import (
    PROVIDER_NAME,
    RknnProviderOptions,
    RknnRunOptions,
    RunOptions,
    SessionOptions,
    make_provider_options,
)
from .session import InferenceSession, RuntimeInfo
from .tensors import ModelMetadata, NodeArg
from .zero_copy import IOBinding, OrtValue, SessionIOBinding

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "IOBinding",
    "InferenceSession",
    "InvalidArgumentError",
    "InvalidOptionError",
    "ModelMetadata",
    "NodeArg",
    "OrtValue",
    "RknnContextInvalidError",
    "RknnError",
    "RknnInputInvalidError",
    "RknnMallocError",
    "RknnModelInvalidError",
    "RknnNotSupportedError",
    "RknnPlatformMismatchError",
    "RknnProviderOptions",
    "RknnRunOptions",
    "RknnTimeoutError",
    "RunOptions",
    "RunTimeoutError",
    "RuntimeInfo",
    "RuntimeLibraryNotFoundError",
    "SessionClosedError",
    "SessionIOBinding",
    "SessionOptions",
    "SubmitTimeoutError",
    "TensorAttr",
    "get_available_providers",
    "make_provider_options",
]


def _read_version() -> str:
    """The installed distribution's version; in a source checkout, ``pyproject.toml``'s; else ``"0+unknown"``."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        pass
    else:
        try:
            return version("ztu_somemodelruntime_ez_rknn_async")
        except PackageNotFoundError:
            pass
    import os
    import re

    pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")
    try:
        with open(pyproject, encoding="utf-8") as f:
            match = re.search(r'^version = "([^"]+)"$', f.read(), re.MULTILINE)
    except OSError:
        match = None
    return match.group(1) if match else "0+unknown"


__version__: str = _read_version()


def get_available_providers() -> List[str]:
    """The execution providers this package offers (ORT's function of the same name).

    Returns ``["RKNPU2ExecutionProvider"]`` without loading the runtime; whether ``librknnrt.so`` can be
    loaded is only known when a session is created.
    """
    return [PROVIDER_NAME]
