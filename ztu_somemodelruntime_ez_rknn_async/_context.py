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

The class is assembled from three modules so each reads on its own: this one holds creation
(init/dup), lifetime, the guard and the copy-path hot calls; the ``rknn_query`` methods live in
:mod:`._context_queries` and the memory (zero-copy) calls in :mod:`._context_mem`, as state-less base
classes. Import ``RknnContext`` (and ``MemPointer``, ``TensorAttr``, ``MemSize``) from here only. The
hot calls stay in this module, written out in full, so they never pay for a helper call.

The ctypes calls release the GIL (``CDLL``, never ``PyDLL``), so contexts on several threads run
concurrently.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import weakref
from ctypes import byref
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from . import _abi
from ._abi import rknn_custom_op, rknn_input, rknn_output, rknn_tensor_attr
from ._attrs import UINT32_MAX, MemSize, TensorAttr
from ._context_mem import ContextMemory
from ._context_queries import ContextQueries
from ._handle import HandleState
from .errors import (
    InvalidArgumentError,
    RknnNotSupportedError,
    SessionClosedError,
    check,
    error_for,
)

if TYPE_CHECKING:
    from ctypes import Array

    # Re-exported: the zero-copy modules import MemPointer from here.
    from ._context_mem import MemPointer as MemPointer
    from ._library import RuntimeLibrary

__all__ = ["MemSize", "RknnContext", "TensorAttr"]

logger = logging.getLogger(__name__)


ModelSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


class RknnContext(ContextQueries, ContextMemory):
    """One ``rknn_context`` handle with checked calls. Create with :meth:`init` or :meth:`dup`.

    The queries (:class:`~._context_queries.ContextQueries`) and memory calls
    (:class:`~._context_mem.ContextMemory`) are inherited; those bases hold no state, every attribute
    is one of the slots below.
    """

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

    # Through _call like every other call: measured, the shared guard costs < 0.1 us per call more than a
    # copy of it inlined in each of these four, against ~1 us for the call itself.

    def inputs_set(self, inputs: Array[rknn_input], n: int) -> None:
        """``rknn_inputs_set`` on a prebuilt array; the buffers must stay alive until run() returns."""
        check(self._call(self._f_inputs_set, n, inputs), "rknn_inputs_set")

    def run(self) -> None:
        """``rknn_run`` (blocking; the GIL is released meanwhile)."""
        check(self._call(self._f_run, None), "rknn_run")

    def outputs_get(self, outputs: Array[rknn_output], n: int) -> None:
        """``rknn_outputs_get`` into a prebuilt array; always pair with outputs_release()."""
        check(self._call(self._f_outputs_get, n, outputs, None), "rknn_outputs_get")

    def outputs_release(self, outputs: Array[rknn_output], n: int) -> None:
        """``rknn_outputs_release``."""
        check(self._call(self._f_outputs_release, n, outputs), "rknn_outputs_release")
