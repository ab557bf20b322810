"""The memory half of :class:`~._context.RknnContext`: ``rknn_create_mem*``, ``rknn_set_*_mem``, sync.

:class:`ContextMemory` is a base class of ``RknnContext`` and nothing else: it owns no state (empty
``__slots__``) and uses the context's guard, handle and :class:`~._handle.HandleState`. The one rule it
adds: a memory created through the context is recorded in ``HandleState.mems`` under the guard, so
that ``destroy()`` frees the ones still alive before the handle itself (:mod:`._handle`); memory made
with ``RKNN_MEM_FLAG_ALLOC_NO_CONTEXT`` is not tied to the context and is not recorded.

Only the zero-copy layer (:mod:`._zc_engine`, :mod:`._zc_memory`) calls these; the copy path never
does. Users of the layer import ``RknnContext`` (and the ``MemPointer`` type) from :mod:`._context`.
"""
from __future__ import annotations

import ctypes
from ctypes import byref
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _abi
from ._abi import rknn_tensor_attr, rknn_tensor_mem
from ._attrs import TensorAttr
from ._context_queries import check_uint32
from .errors import InvalidArgumentError, check, error_for

if TYPE_CHECKING:
    import threading
    from ctypes import _Pointer

    from ._handle import HandleState
    from ._library import RuntimeLibrary

    MemPointer = _Pointer[rknn_tensor_mem]

__all__ = ["ContextMemory"]


class ContextMemory:
    """Memory objects of one context. Mixed into :class:`~._context.RknnContext` only."""

    __slots__ = ()

    if TYPE_CHECKING:
        # Provided by RknnContext; declared here for the type checker only.
        lib: RuntimeLibrary
        _state: HandleState
        _c_handle: Any
        _guard: threading.Lock

        def _enter(self) -> None: ...

        def _call(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def _create_mem(self, fn: Callable[..., Any], function: str, track: bool, *args: Any) -> MemPointer:
        # Tracking happens under the guard so that a concurrent destroy() either sees the new memory
        # (and frees it first) or refuses the call; it can never miss one.
        self._enter()
        try:
            ptr = fn(self._c_handle, *args)
            if ptr and track:
                self._state.mems[ctypes.addressof(ptr.contents)] = ptr
        finally:
            self._guard.release()
        if not ptr:
            raise error_for(
                _abi.RKNN_ERR_MALLOC_FAIL, function, description="the runtime returned NULL (allocation refused)"
            )
        return ptr  # type: ignore[no-any-return]

    def create_mem(self, size: int) -> MemPointer:
        """``rknn_create_mem``: runtime-allocated DMA memory; destroy with destroy_mem()."""
        return self._create_mem(self.lib.api.rknn_create_mem, "rknn_create_mem", True, check_uint32(size, "size"))

    def create_mem2(self, size: int, alloc_flags: int = 0) -> MemPointer:
        """``rknn_create_mem2`` with ``rknn_mem_alloc_flags``.

        Memory made with ``RKNN_MEM_FLAG_ALLOC_NO_CONTEXT`` is not tied to this context and is not
        destroyed with it.
        """
        if not 0 <= size < 1 << 64 or not 0 <= alloc_flags < 1 << 64:
            raise InvalidArgumentError("size and alloc_flags must be uint64")
        track = not alloc_flags & _abi.RKNN_MEM_FLAG_ALLOC_NO_CONTEXT
        return self._create_mem(self.lib.api.rknn_create_mem2, "rknn_create_mem2", track, size, alloc_flags)

    def create_mem_from_fd(self, fd: int, virt_addr: Optional[int], size: int, offset: int = 0) -> MemPointer:
        """``rknn_create_mem_from_fd``: wrap a dma-buf the caller owns (``virt_addr`` = mapping start)."""
        return self._create_mem(
            self.lib.api.rknn_create_mem_from_fd, "rknn_create_mem_from_fd", True, fd, virt_addr,
            check_uint32(size, "size"), offset,
        )

    def create_mem_from_phys(self, phys_addr: int, virt_addr: Optional[int], size: int) -> MemPointer:
        """``rknn_create_mem_from_phys``: wrap physically contiguous memory the caller owns."""
        return self._create_mem(
            self.lib.api.rknn_create_mem_from_phys, "rknn_create_mem_from_phys", True, phys_addr, virt_addr,
            check_uint32(size, "size"),
        )

    def destroy_mem(self, mem: MemPointer) -> None:
        """``rknn_destroy_mem``; the pointer is invalid afterwards."""
        if not mem:
            raise InvalidArgumentError("destroy_mem: NULL memory")
        key = ctypes.addressof(mem.contents)
        self._enter()
        try:
            ret = self.lib.api.rknn_destroy_mem(self._c_handle, mem)
            # Forgotten even on failure: retrying a failed free at destroy time could double-free.
            self._state.mems.pop(key, None)
        finally:
            self._guard.release()
        check(ret, "rknn_destroy_mem")

    def set_io_mem(self, mem: MemPointer, attr: Union[TensorAttr, rknn_tensor_attr]) -> None:
        """``rknn_set_io_mem``: bind ``mem`` to the tensor ``attr`` describes (index, layout, type)."""
        c = attr.to_c() if isinstance(attr, TensorAttr) else attr
        check(self._call(self.lib.api.rknn_set_io_mem, mem, byref(c)), "rknn_set_io_mem")

    def set_weight_mem(self, mem: MemPointer) -> None:
        """``rknn_set_weight_mem`` (needs ``RKNN_FLAG_MEM_ALLOC_OUTSIDE``)."""
        check(self._call(self.lib.api.rknn_set_weight_mem, mem), "rknn_set_weight_mem")

    def set_internal_mem(self, mem: MemPointer) -> None:
        """``rknn_set_internal_mem``."""
        check(self._call(self.lib.api.rknn_set_internal_mem, mem), "rknn_set_internal_mem")

    def mem_sync(self, mem: MemPointer, mode: int) -> None:
        """``rknn_mem_sync`` with an ``rknn_mem_sync_mode``."""
        check(self._call(self.lib.api.rknn_mem_sync, mem, int(mode)), "rknn_mem_sync")
