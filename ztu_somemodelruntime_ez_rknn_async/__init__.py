"""ONNX-Runtime-style sessions for Rockchip RKNPU2 models, in pure Python over librknnrt via ctypes."""
from __future__ import annotations

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
