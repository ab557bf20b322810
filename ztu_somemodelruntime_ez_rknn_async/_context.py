"""The safe wrapper around one ``rknn_context``: lifetime, queries, and checked raw calls.

One :class:`RknnContext` owns one handle. It has no threads and no policy: callers (the session and
its dispatcher) decide which thread uses which context and when. What it does guarantee:

* every C call goes through :func:`errors.check` with the C function name;
* ``rknn_destroy`` runs exactly once per handle, and a context made from another one (``dup`` or weight
  sharing) keeps its parent alive, whose ``rknn_destroy`` waits for every child handle
  (:mod:`._handle`);
* two threads inside one context at the same time get a clear ``RuntimeError`` instead of the
  silent interleaving the runtime would produce (the runtime requires one thread per context);
* query results come back as immutable copies checked for values no valid runtime produces
  (:mod:`._attrs`).

The ctypes calls release the GIL (``CDLL``, never ``PyDLL``), so contexts on several threads run
concurrently.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import weakref
from ctypes import byref, sizeof
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple, Union

from . import _abi, _attrs
from ._abi import rknn_custom_op, rknn_input, rknn_output, rknn_query_cmd, rknn_tensor_attr, rknn_tensor_mem
from ._attrs import UINT32_MAX, MemSize, TensorAttr
from ._handle import HandleState
from .errors import (
    InvalidArgumentError,
    RknnNotSupportedError,
    SessionClosedError,
    check,
    error_for,
)

if TYPE_CHECKING:
    from ctypes import Array, _Pointer

    from ._library import RuntimeLibrary

    MemPointer = _Pointer[rknn_tensor_mem]

__all__ = ["MemSize", "RknnContext", "TensorAttr"]

logger = logging.getLogger(__name__)


def _query_label(cmd: rknn_query_cmd) -> str:
    return "rknn_query({})".format(cmd.name)


def _check_index(index: object, what: str) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= UINT32_MAX:
        raise InvalidArgumentError("{} must be an int in [0, 2**32), got {!r}".format(what, index))
    return index


ModelSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


class RknnContext:
    """One ``rknn_context`` handle with checked calls. Create with :meth:`init` or :meth:`dup`."""

    __slots__ = (
        "lib",
        "_state",
        "_parent",
        "_c_handle",
        "_handle",
        "_guard",
        "_closed",
        "_finalizer",
        "_f_query",
        "_f_inputs_set",
        "_f_run",
        "_f_outputs_get",
        "_f_outputs_release",
        "__weakref__",
    )

    lib: RuntimeLibrary
    _state: HandleState
    _parent: Optional[RknnContext]
    _c_handle: Any
    _handle: int
    _guard: threading.Lock
    _closed: bool
    _finalizer: weakref.finalize[[], RknnContext]
    _f_query: Callable[..., int]
    _f_inputs_set: Callable[..., int]
    _f_run: Callable[..., int]
    _f_outputs_get: Callable[..., int]
    _f_outputs_release: Callable[..., int]

    def __init__(self, lib: RuntimeLibrary, handle: int, parent: Optional[RknnContext] = None) -> None:
        """Take ownership of ``handle`` (already created in ``lib``). Prefer :meth:`init`/:meth:`dup`."""
        api = lib.api
        self.lib = lib
        # The strong reference keeps the parent object (and so its finalizer) alive while we exist.
        self._parent = parent
        parent_state = parent._state if parent is not None else None
        self._state = HandleState(handle, api.rknn_destroy, api.rknn_destroy_mem, parent_state)
        if parent_state is not None:
            parent_state.add_child()
        self._handle = handle
        # A prebuilt argument object: ctypes passes an instance of the declared type without converting.
        self._c_handle = _abi.rknn_context(handle)
        self._guard = threading.Lock()
        self._closed = False
        # Bound C functions cached for the hot path (no attribute chains per call).
        self._f_query = api.rknn_query
        self._f_inputs_set = api.rknn_inputs_set
        self._f_run = api.rknn_run
        self._f_outputs_get = api.rknn_outputs_get
        self._f_outputs_release = api.rknn_outputs_release
        self._finalizer = weakref.finalize(self, self._state.finalize)

    # ------------------------------------------------------------------ creation

    @classmethod
    def init(
        cls,
        lib: RuntimeLibrary,
        model: ModelSource,
        *,
        flags: int = 0,
        share_weights_with: Optional[RknnContext] = None,
    ) -> RknnContext:
        """``rknn_init``: load a model from bytes or from a file path.

        Args:
            lib: the loaded runtime.
            model: the model bytes (copied by the runtime), or a path the runtime reads itself.
            flags: ``RKNN_FLAG_*`` bits.
            share_weights_with: an initialised context of the full model; ``model`` is then its
                weight-less variant and ``RKNN_FLAG_SHARE_WEIGHT_MEM`` is added. The new context keeps
                the master alive.

        Raises:
            InvalidArgumentError: empty/oversized bytes, a path with NUL, a missing file, a bad flag combination.
            RknnError: ``rknn_init`` failed.
        """
        if isinstance(flags, bool) or not isinstance(flags, int) or not 0 <= flags <= UINT32_MAX:
            raise InvalidArgumentError("flags must be an int in [0, 2**32), got {!r}".format(flags))
        keep: Any
        if isinstance(model, (bytes, bytearray, memoryview)):
            view = memoryview(model).cast("B")
            size = view.nbytes
            if size == 0:
                # size 0 means "model is a path" to the runtime: an empty buffer must not reach it.
                raise InvalidArgumentError("the model buffer is empty")
            if size > UINT32_MAX:
                raise InvalidArgumentError("the model buffer is {} bytes; rknn_init takes at most 4 GiB".format(size))
            if isinstance(model, bytes):
                keep = model
                pointer: Any = model
            else:
                keep = (ctypes.c_char * size).from_buffer_copy(view)
                pointer = keep
        elif isinstance(model, (str, os.PathLike)):
            path = os.fsencode(model)
            if b"\0" in path:
                raise InvalidArgumentError("the model path contains a NUL byte: {!r}".format(model))
            if not os.path.isfile(path):
                raise InvalidArgumentError("model file not found: {!r}".format(os.fsdecode(path)))
            keep = ctypes.create_string_buffer(path)
            pointer = keep
            size = 0
        else:
            raise InvalidArgumentError(
                "model must be bytes or a path, got {}".format(type(model).__name__)
            )
        if flags & _abi.RKNN_FLAG_SHARE_WEIGHT_MEM and share_weights_with is None:
            raise InvalidArgumentError("RKNN_FLAG_SHARE_WEIGHT_MEM needs share_weights_with=<master context>")
        extend: Optional[_abi.rknn_init_extend] = None
        if share_weights_with is not None:
            if not isinstance(share_weights_with, RknnContext):
                raise InvalidArgumentError("share_weights_with must be an RknnContext")
            if share_weights_with.lib is not lib:
                raise InvalidArgumentError("share_weights_with belongs to another runtime library")
            flags |= _abi.RKNN_FLAG_SHARE_WEIGHT_MEM
            extend = _abi.rknn_init_extend()  # zero-filled, as the runtime expects
        out = _abi.rknn_context(0)
        init_fn = lib.api.rknn_init
        if share_weights_with is not None and extend is not None:
            master = share_weights_with
            master._enter()
            try:
                extend.ctx = master._handle
                ret = init_fn(byref(out), pointer, size, flags, byref(extend))
            finally:
                master._guard.release()
        else:
            ret = init_fn(byref(out), pointer, size, flags, None)
        del keep  # the runtime copied the model (MODEL_BUFFER_ZERO_COPY is not offered here)
        check(ret, "rknn_init")
        handle = int(out.value)
        if handle == 0:
            raise error_for(_abi.RKNN_ERR_CTX_INVALID, "rknn_init", description="returned success but no context")
        return cls(lib, handle, parent=share_weights_with)

    def dup(self) -> RknnContext:
        """``rknn_dup_context``: a new context sharing this one's model. It keeps this one alive.

        Per-context settings (core mask, custom ops) are not copied by the runtime.
        """
        out = _abi.rknn_context(0)
        source = _abi.rknn_context(self._handle)
        self._enter()
        try:
            ret = self.lib.api.rknn_dup_context(byref(source), byref(out))
        finally:
            self._guard.release()
        check(ret, "rknn_dup_context")
        handle = int(out.value)
        if handle == 0:
            raise error_for(
                _abi.RKNN_ERR_CTX_INVALID, "rknn_dup_context", description="returned success but no context"
            )
        return type(self)(self.lib, handle, parent=self)

    # ------------------------------------------------------------------ lifetime

    @property
    def handle(self) -> int:
        """The raw handle value. Raises SessionClosedError after destroy()."""
        if self._closed:
            self._raise_closed()
        return self._handle

    @property
    def destroyed(self) -> bool:
        """True once destroy() was called (the C handle may outlive this while children exist)."""
        return self._closed

    @property
    def parent(self) -> Optional[RknnContext]:
        """The context this one was duplicated from or shares weights with."""
        return self._parent

    def destroy(self) -> None:
        """Destroy the handle; idempotent and thread-safe.

        Waits for a call in flight on another thread to return first. If contexts made from this one
        are still alive, the C handle is destroyed when the last of them is. Memories created through
        this context and not yet destroyed are destroyed first. Must not be called from inside a call
        on this same context (e.g. from a custom-op callback), which would wait forever.
        """
        if not self._finalizer.alive:
            return
        # Refuse new calls first, then wait for the one in flight (if any) to leave.
        self._closed = True
        with self._guard:
            pass
        if self._finalizer.detach() is None:
            return  # another thread's destroy() got here first
        self._state.release(raise_errors=True)

    def __enter__(self) -> RknnContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return "<RknnContext 0x{:x}{}{}>".format(
            self._handle,
            " (child of 0x{:x})".format(self._parent._handle) if self._parent is not None else "",
            " destroyed" if self._closed else "",
        )

    # ------------------------------------------------------------------ call plumbing

    def _raise_closed(self) -> None:
        raise SessionClosedError("RknnContext 0x{:x} has been destroyed".format(self._handle))

    def _raise_busy(self) -> None:
        if self._closed:
            self._raise_closed()
        raise RuntimeError(
            "RknnContext 0x{:x} is already in use by another thread; the RKNN runtime requires each context to be "
            "used by one thread at a time (use dup() to get one context per thread)".format(self._handle)
        )

    def _enter(self) -> None:
        if not self._guard.acquire(False):
            self._raise_busy()
        if self._closed:
            self._guard.release()
            self._raise_closed()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self._guard.acquire(False):
            self._raise_busy()
        try:
            if self._closed:
                self._raise_closed()
            return fn(self._c_handle, *args)
        finally:
            self._guard.release()

    # ------------------------------------------------------------------ queries

    def _query(self, cmd: rknn_query_cmd, info: ctypes.Structure, where: Optional[str] = None) -> None:
        ret = self._call(self._f_query, int(cmd), byref(info), sizeof(info))
        check(ret, _query_label(cmd), where=where)

    def query_io_num(self) -> Tuple[int, int]:
        """``RKNN_QUERY_IN_OUT_NUM`` → ``(n_input, n_output)``."""
        info = _abi.rknn_input_output_num()
        self._query(rknn_query_cmd.RKNN_QUERY_IN_OUT_NUM, info)
        return int(info.n_input), int(info.n_output)

    def _attr(self, cmd: rknn_query_cmd, index: int, kind: str) -> TensorAttr:
        i = _check_index(index, "index")
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
        i = _check_index(index, "index")
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

    # ------------------------------------------------------------------ settings

    def set_core_mask(self, mask: int, *, tolerate_single_core: bool = False) -> bool:
        """``rknn_set_core_mask``. Returns True when applied.

        With ``tolerate_single_core``, AUTO and CORE_0 are accepted on SoCs that cannot set a mask at
        all (they return -13, or lack the symbol), returning False: those masks describe the only
        behaviour such a SoC has anyway.
        """
        if isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask <= 0x7FFFFFFF:
            raise InvalidArgumentError("core mask must be a non-negative int, got {!r}".format(mask))
        harmless = mask in (_abi.RKNN_NPU_CORE_AUTO, _abi.RKNN_NPU_CORE_0)
        try:
            ret = self._call(self.lib.api.rknn_set_core_mask, mask)
        except RknnNotSupportedError:
            if tolerate_single_core and harmless:
                logger.debug("runtime has no rknn_set_core_mask; mask %d needs none", mask)
                return False
            raise
        if ret == _abi.RKNN_ERR_TARGET_PLATFORM_UNMATCH and tolerate_single_core and harmless:
            logger.debug("rknn_set_core_mask(%d) returned -13 (single-core SoC); ignored", mask)
            return False
        check(ret, "rknn_set_core_mask")
        return True

    def set_batch_core_num(self, core_num: int) -> None:
        """``rknn_set_batch_core_num`` (multi-batch models on RK3588/RK3576)."""
        check(self._call(self.lib.api.rknn_set_batch_core_num, int(core_num)), "rknn_set_batch_core_num")

    def set_input_shapes(self, attrs: Sequence[Union[TensorAttr, rknn_tensor_attr]]) -> None:
        """``rknn_set_input_shapes`` with one attribute per input (index, name, n_dims, dims, fmt)."""
        n = len(attrs)
        array = (rknn_tensor_attr * max(n, 1))()
        for i, attr in enumerate(attrs):
            array[i] = attr.to_c() if isinstance(attr, TensorAttr) else attr
        check(self._call(self.lib.api.rknn_set_input_shapes, n, array), "rknn_set_input_shapes")

    def register_custom_ops(self, ops: Array[rknn_custom_op], n: int) -> None:
        """``rknn_register_custom_ops``. ``ops`` (and the callbacks in it) stay referenced until destroy."""
        if not 0 <= n <= len(ops):
            raise InvalidArgumentError("n={} is outside the {}-element custom op array".format(n, len(ops)))
        # Pinned before the call: the runtime may call init callbacks and keeps the pointers.
        self._state.keepalive.append(ops)
        check(self._call(self.lib.api.rknn_register_custom_ops, ops, n), "rknn_register_custom_ops")

    # ------------------------------------------------------------------ copy-path hot calls

    def inputs_set(self, inputs: Array[rknn_input], n: int) -> None:
        """``rknn_inputs_set`` on a prebuilt array; the buffers must stay alive until run() returns."""
        guard = self._guard
        if not guard.acquire(False):
            self._raise_busy()
        try:
            if self._closed:
                self._raise_closed()
            ret = self._f_inputs_set(self._c_handle, n, inputs)
        finally:
            guard.release()
        check(ret, "rknn_inputs_set")

    def run(self) -> None:
        """``rknn_run`` (blocking; the GIL is released meanwhile)."""
        guard = self._guard
        if not guard.acquire(False):
            self._raise_busy()
        try:
            if self._closed:
                self._raise_closed()
            ret = self._f_run(self._c_handle, None)
        finally:
            guard.release()
        check(ret, "rknn_run")

    def outputs_get(self, outputs: Array[rknn_output], n: int) -> None:
        """``rknn_outputs_get`` into a prebuilt array; always pair with outputs_release()."""
        guard = self._guard
        if not guard.acquire(False):
            self._raise_busy()
        try:
            if self._closed:
                self._raise_closed()
            ret = self._f_outputs_get(self._c_handle, n, outputs, None)
        finally:
            guard.release()
        check(ret, "rknn_outputs_get")

    def outputs_release(self, outputs: Array[rknn_output], n: int) -> None:
        """``rknn_outputs_release``."""
        guard = self._guard
        if not guard.acquire(False):
            self._raise_busy()
        try:
            if self._closed:
                self._raise_closed()
            ret = self._f_outputs_release(self._c_handle, n, outputs)
        finally:
            guard.release()
        check(ret, "rknn_outputs_release")

    # ------------------------------------------------------------------ memory (zero-copy)

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
        return self._create_mem(self.lib.api.rknn_create_mem, "rknn_create_mem", True, _check_index(size, "size"))

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
            _check_index(size, "size"), offset,
        )

    def create_mem_from_phys(self, phys_addr: int, virt_addr: Optional[int], size: int) -> MemPointer:
        """``rknn_create_mem_from_phys``: wrap physically contiguous memory the caller owns."""
        return self._create_mem(
            self.lib.api.rknn_create_mem_from_phys, "rknn_create_mem_from_phys", True, phys_addr, virt_addr,
            _check_index(size, "size"),
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

