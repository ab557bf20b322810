"""The ``rknn_query`` half of :class:`~._context.RknnContext`: model facts as checked, immutable copies.

:class:`ContextQueries` is a base class of ``RknnContext`` and nothing else: it owns no state (empty
``__slots__``) and goes through the context's own one-thread guard (``_call``) and cached
``rknn_query`` (``_f_query``), so a query is guarded and error-checked exactly like any other call on
the context. Results are decoded by :mod:`._attrs`, which rejects values no valid runtime produces.

Kept apart from ``_context.py`` so that the lifetime and hot-call code reads on its own; users of the
layer import ``RknnContext`` from :mod:`._context` only.
"""
from __future__ import annotations

import ctypes
from ctypes import byref, sizeof
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from . import _abi, _attrs
from ._abi import rknn_query_cmd, rknn_tensor_attr
from ._attrs import UINT32_MAX, MemSize, TensorAttr
from .errors import InvalidArgumentError, check

__all__ = ["ContextQueries", "check_uint32"]


def _query_label(cmd: rknn_query_cmd) -> str:
    return "rknn_query({})".format(cmd.name)


def check_uint32(index: object, what: str) -> int:
    """``index`` as an int the C side takes as ``uint32_t`` (indices, sizes); InvalidArgumentError else."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= UINT32_MAX:
        raise InvalidArgumentError("{} must be an int in [0, 2**32), got {!r}".format(what, index))
    return index


class ContextQueries:
    """``RKNN_QUERY_*`` commands of one context. Mixed into :class:`~._context.RknnContext` only."""

    __slots__ = ()

    if TYPE_CHECKING:
        # Provided by RknnContext; declared here for the type checker only.
        _f_query: Callable[..., int]

        def _call(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def _query(self, cmd: rknn_query_cmd, info: ctypes.Structure, where: Optional[str] = None) -> None:
        ret = self._call(self._f_query, int(cmd), byref(info), sizeof(info))
        check(ret, _query_label(cmd), where=where)

    def query_io_num(self) -> Tuple[int, int]:
        """``RKNN_QUERY_IN_OUT_NUM`` → ``(n_input, n_output)``."""
        info = _abi.rknn_input_output_num()
        self._query(rknn_query_cmd.RKNN_QUERY_IN_OUT_NUM, info)
        return int(info.n_input), int(info.n_output)

    def _attr(self, cmd: rknn_query_cmd, index: int, kind: str) -> TensorAttr:
        i = check_uint32(index, "index")
        c = rknn_tensor_attr()
        c.index = i
        self._query(cmd, c, where="{} index {}".format(kind, i))
        return TensorAttr.from_c(c, function=_query_label(cmd))

    def input_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_INPUT_ATTR``."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_INPUT_ATTR, index, "input attr")

    def output_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_OUTPUT_ATTR``."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_OUTPUT_ATTR, index, "output attr")

    def native_input_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_NATIVE_INPUT_ATTR`` (the NPU's own layout, for zero-copy)."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_NATIVE_INPUT_ATTR, index, "native input attr")

    def native_output_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_NATIVE_OUTPUT_ATTR``."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_NATIVE_OUTPUT_ATTR, index, "native output attr")

    def native_nhwc_input_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR``."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR, index, "native nhwc input attr")

    def native_nhwc_output_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR``."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR, index, "native nhwc output attr")

    def current_input_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_CURRENT_INPUT_ATTR`` (dynamic-shape models, after set_input_shapes)."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_CURRENT_INPUT_ATTR, index, "current input attr")

    def current_output_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_CURRENT_OUTPUT_ATTR``."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_CURRENT_OUTPUT_ATTR, index, "current output attr")

    def current_native_input_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR``."""
        return self._attr(rknn_query_cmd.RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR, index, "current native input attr")

    def current_native_output_attr(self, index: int) -> TensorAttr:
        """``RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR``."""
        return self._attr(
            rknn_query_cmd.RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR, index, "current native output attr"
        )

    def input_dynamic_range(self, index: int) -> Optional[List[Tuple[int, ...]]]:
        """``RKNN_QUERY_INPUT_DYNAMIC_RANGE`` → the allowed shapes of input ``index``, or None if static.

        A failing query means "static" (2.3.2 returns -6 for static models; older runtimes lack the
        command), except an invalid context, which is raised.
        """
        i = check_uint32(index, "index")
        info = _abi.rknn_input_range()
        info.index = i
        cmd = rknn_query_cmd.RKNN_QUERY_INPUT_DYNAMIC_RANGE
        ret = self._call(self._f_query, int(cmd), byref(info), sizeof(info))
        if ret == _abi.RKNN_ERR_CTX_INVALID:
            check(ret, _query_label(cmd), where="input index {}".format(i))
        if ret < 0 or info.shape_number == 0:
            return None
        return _attrs.dynamic_range(info, _query_label(cmd), "input index {}".format(i))

    def sdk_version(self) -> Tuple[str, str]:
        """``RKNN_QUERY_SDK_VERSION`` → ``(api_version, drv_version)``."""
        info = _abi.rknn_sdk_version()
        self._query(rknn_query_cmd.RKNN_QUERY_SDK_VERSION, info)
        return _attrs.sdk_version(info)

    def custom_string(self) -> str:
        """``RKNN_QUERY_CUSTOM_STRING``: the user string embedded at conversion."""
        info = _abi.rknn_custom_string()
        self._query(rknn_query_cmd.RKNN_QUERY_CUSTOM_STRING, info)
        return _attrs.custom_string(info)

    def mem_size(self) -> MemSize:
        """``RKNN_QUERY_MEM_SIZE``."""
        info = _abi.rknn_mem_size()
        self._query(rknn_query_cmd.RKNN_QUERY_MEM_SIZE, info)
        return MemSize.from_c(info)

    def perf_run_us(self) -> int:
        """``RKNN_QUERY_PERF_RUN``: microseconds of the last run."""
        info = _abi.rknn_perf_run()
        self._query(rknn_query_cmd.RKNN_QUERY_PERF_RUN, info)
        return int(info.run_duration)

    def perf_detail(self) -> str:
        """``RKNN_QUERY_PERF_DETAIL`` (needs ``RKNN_FLAG_COLLECT_PERF_MASK``); the text is copied."""
        info = _abi.rknn_perf_detail()
        self._query(rknn_query_cmd.RKNN_QUERY_PERF_DETAIL, info)
        return _attrs.perf_detail(info)
