"""``OrtValue``: one tensor of the zero-copy API, on the CPU or in NPU memory.

An RKNN value pairs a :class:`~._zc_memory.Storage` (the bytes) with the attribute and
:class:`~._layouts.BufferLayout` of the tensor it is laid out for, and converts between that layout and
the caller's numpy arrays. Also here: the helpers the value factories share with ``IOBinding``
(:mod:`._iobinding`): which engine a ``session`` argument means, and a new zeroed value for a port. The
behaviour this implements, and where it departs from the peer, is described in :mod:`.zero_copy`.
"""
from __future__ import annotations

import weakref
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ._context import TensorAttr
from ._layouts import BufferLayout, layout_for, quantize, read_logical, write_logical
from ._zc_checks import (
    check_device_type,
    check_dmabuf_args,
    check_shape,
    check_type,
    needs_all,
    parse_element_type,
    parse_shape,
)
from ._zc_engine import MEM_SYNC_FROM_DEVICE, MEM_SYNC_TO_DEVICE, ZeroCopyEngine
from ._zc_memory import ContextOwner, Storage
from ._zc_ports import Port, generic_attr
from .errors import InvalidArgumentError, RknnError, SessionClosedError
from .options import parse_mem_flags
from .tensors import format_shape, numpy_dtype_for_rknn, ort_type_string, rknn_type_for_dtype, type_name

__all__ = ["OrtValue", "engine_of", "new_value"]


def engine_of(session: object) -> ZeroCopyEngine:
    """The zero-copy engine of an ``InferenceSession`` (or an engine / binding given directly)."""
    if isinstance(session, ZeroCopyEngine):
        return session
    # Imported here: _iobinding imports this module (IOBinding holds OrtValues).
    from ._iobinding import IOBinding

    if isinstance(session, IOBinding):
        return session._engine
    getter = getattr(session, "_zero_copy_engine", None)
    if getter is None or not callable(getter):
        raise TypeError("session must be an InferenceSession, got {}".format(type(session).__name__))
    engine = getter()
    if not isinstance(engine, ZeroCopyEngine):
        raise InvalidArgumentError("session did not provide a zero-copy engine")
    return engine


def _convert_source(arr: np.ndarray, port: Port) -> np.ndarray:
    """``arr`` in ``port``'s logical dtype: quantised for quantised tensors, else a value-preserving cast.

    Raises:
        InvalidArgumentError: the cast could change values (e.g. float → int32 for a non-quantised tensor).
    """
    target = numpy_dtype_for_rknn(port.logical.type)
    if target is None:
        raise InvalidArgumentError("Unsupported RKNN tensor type: {}".format(type_name(port.logical.type)))
    if arr.dtype == target:
        return arr
    attr = port.native
    q = quantize(arr, target, attr.qnt_type, attr.scale, attr.zp, attr.fl)
    if q is not None:
        return q
    if arr.dtype.kind in "biuf" and np.can_cast(arr.dtype, target, casting="same_kind"):
        return arr.astype(target)
    raise InvalidArgumentError(
        "OrtValue for {}: cannot convert {} to {} without changing values (the tensor is not quantised); pass a {} "
        "array".format(port.label, arr.dtype, target, target))


def new_value(engine: ZeroCopyEngine, port: Port, mem_flags: int = 0) -> OrtValue:
    """A zeroed RKNN value laid out for ``port``, in ``engine``'s context."""
    storage = engine.new_storage(port, mem_flags)
    return OrtValue._rknn(storage, port.native, port.layout, port.logical.type, port.name, port.io_kind)


class OrtValue:
    """A tensor on the CPU (wrapping a numpy array) or in NPU memory (``"rknpu2"``).

    Create with the static factories; RKNN values created for a session input/output are laid out the way
    that tensor is bound (its native attribute), so binding them copies nothing.
    """

    __slots__ = ("_array", "_storage", "_attr", "_layout", "_elem_type", "_name", "_io_kind", "_last_writer",
                 "_finalizer", "__weakref__")

    def __init__(self) -> None:
        """Not for direct use: call a factory."""
        self._array: Optional[np.ndarray] = None
        self._storage: Optional[Storage] = None
        self._attr: Optional[TensorAttr] = None
        self._layout: Optional[BufferLayout] = None
        self._elem_type = -1
        self._name: Optional[str] = None
        self._io_kind: Optional[str] = None
        self._last_writer: Optional[ContextOwner] = None
        self._finalizer: Optional[weakref.finalize[[], OrtValue]] = None

    @classmethod
    def _cpu(cls, array: np.ndarray) -> OrtValue:
        v = cls()
        v._array = array
        return v

    @classmethod
    def _rknn(cls, storage: Storage, attr: TensorAttr, layout: BufferLayout, elem_type: int,
              name: Optional[str], io_kind: Optional[str]) -> OrtValue:
        v = cls()
        v._storage = storage
        v._attr = attr
        v._layout = layout
        v._elem_type = elem_type
        v._name = name
        v._io_kind = io_kind
        # Holds the storage, never the value: the memory is freed when the value becomes unreachable.
        v._finalizer = weakref.finalize(v, storage.release)
        return v

    # ------------------------------------------------------------------ factories

    @staticmethod
    def ortvalue_from_numpy(arr: Any, device_type: str = "cpu", device_id: int = 0, *, name: Optional[str] = None,
                            session: Any = None, io_kind: Optional[str] = None, layout: str = "onnx",
                            sync: bool = True) -> OrtValue:
        """Wrap (``"cpu"``) or copy (``"rknpu2"``) a numpy array.

        For ``"rknpu2"``, ``session``, ``name`` and ``io_kind`` are required; the array must have the
        tensor's logical shape. A float array for an affine/DFP-quantised integer tensor is quantised with
        its scale/zero point; other dtypes are converted only when no value can change kind (``same_kind``).

        Raises:
            TypeError: ``arr`` is not a numpy array, or ``device_type`` is not a str.
            InvalidArgumentError: a missing/unknown name or io_kind, a shape mismatch, an impossible dtype.
        """
        del device_id, layout, sync  # accepted for compatibility; the device is always 0 and runs sync inputs
        if not isinstance(arr, np.ndarray):
            raise TypeError("ortvalue_from_numpy needs a numpy.ndarray, got {}".format(type(arr).__name__))
        if check_device_type(device_type) == "cpu":
            return OrtValue._cpu(np.ascontiguousarray(arr))
        if not needs_all(session, name, io_kind):
            raise InvalidArgumentError("session, name, and io_kind are required for RKNN OrtValue")
        engine = engine_of(session)
        port = engine.port(io_kind, name)
        check_shape("OrtValue for {}".format(port.label), port.shape, arr.shape)
        src = _convert_source(arr, port)  # before allocating: a refused dtype costs nothing
        value = new_value(engine, port)
        value.update_inplace(src)
        return value

    @staticmethod
    def ortvalue_from_shape_and_type(shape: Any, element_type: Any, device_type: str = "cpu", device_id: int = 0,
                                     *, name: Optional[str] = None, session: Any = None,
                                     io_kind: Optional[str] = None, layout: str = "native",
                                     mem_flags: Any = "cacheable") -> OrtValue:
        """A zero-filled value. ``"rknpu2"`` with session/name/io_kind: laid out for that tensor (shape and
        type must match it); ``"rknpu2"`` without them: a generic dense dma-buf value, imported into a
        session when bound.

        ``mem_flags`` (``default``/``cacheable``, ``non_cacheable``, ``try_sram`` or an int) selects
        ``rknn_create_mem2`` flags for session values; generic values ignore it.

        Raises:
            InvalidArgumentError: a bad shape, element type, name, io_kind or mem_flags, or a mismatch.
        """
        del device_id, layout
        dims = parse_shape(shape)
        rknn_type = parse_element_type(element_type)
        if check_device_type(device_type) == "cpu":
            dtype = numpy_dtype_for_rknn(rknn_type)
            assert dtype is not None
            return OrtValue._cpu(np.zeros(dims, dtype=dtype))
        flags = parse_mem_flags(mem_flags)
        if needs_all(session, name, io_kind):
            engine = engine_of(session)
            port = engine.port(io_kind, name)
            check_shape("OrtValue for {}".format(port.label), port.shape, dims)
            check_type("OrtValue for {}".format(port.label), port.logical.type, rknn_type)
            return new_value(engine, port, flags)
        return OrtValue._generic(dims, rknn_type)

    @staticmethod
    def _generic(dims: Tuple[int, ...], rknn_type: int) -> OrtValue:
        attr = generic_attr(dims, rknn_type)
        storage = Storage.allocate_dmabuf(max(1, attr.size))
        return OrtValue._rknn(storage, attr, layout_for(dims, False, attr), rknn_type, None, None)

    @staticmethod
    def ortvalue_from_dmabuf(fd: int, shape: Any, element_type: Any, *, size: int, offset: int = 0,
                             virt_addr: Optional[int] = None, session: Any = None, name: Optional[str] = None,
                             io_kind: Optional[str] = None, layout: str = "native") -> OrtValue:
        """Wrap an existing dma-buf (``fd`` is duplicated; the caller keeps its own fd).

        The buffer must already hold (or receive) the tensor in the session tensor's native layout. It is
        imported into the session's context at once.

        Args:
            fd: the dma-buf file descriptor.
            shape: the tensor's logical shape (checked against the session tensor).
            element_type: its numpy dtype (checked).
            size: bytes of the buffer from its start (``rknn_create_mem_from_fd``'s ``size``).
            offset: where the tensor data begins; ``size - offset`` bytes must hold the tensor.
            virt_addr: an existing mapping of the buffer start (otherwise it is mapped here).
            session / name / io_kind: the tensor this buffer is for (all required).

        Raises:
            InvalidArgumentError: bad arguments, a mismatch, a buffer too small, or an fd that cannot be
                duplicated/mapped.
            RknnError: ``rknn_create_mem_from_fd`` failed.
        """
        del layout
        dims = parse_shape(shape)
        rknn_type = parse_element_type(element_type)
        if not needs_all(session, name, io_kind):
            raise InvalidArgumentError("session, name, and io_kind are required for dma-buf OrtValue")
        check_dmabuf_args(fd, size, offset, virt_addr)
        engine = engine_of(session)
        port = engine.port(io_kind, name)
        context = "OrtValue from dmabuf for {}".format(port.label)
        check_shape(context, port.shape, dims)
        check_type(context, port.logical.type, rknn_type)
        if int(size) - int(offset) < port.nbytes:
            raise InvalidArgumentError(
                "{}: the dma-buf holds {} bytes after offset {} (size {}), the tensor needs {}".format(
                    context, int(size) - int(offset), int(offset), int(size), port.nbytes))
        engine.check_open()
        storage = Storage.from_fd(int(fd), int(size), int(offset), None if virt_addr is None else int(virt_addr))
        storage.mark_escaped()  # the caller keeps the dma-buf and may write it at any time
        value = OrtValue._rknn(storage, port.native, port.layout, port.logical.type, port.name, port.io_kind)
        with engine.owner.locked():
            storage.mem_for_locked(engine.owner)
        return value

    # ------------------------------------------------------------------ helpers

    def _require_storage(self) -> Storage:
        if self._storage is None:
            raise InvalidArgumentError("this operation needs an RKNN OrtValue, not a CPU one")
        return self._storage

    def _logical_dtype(self) -> np.dtype:
        dtype = numpy_dtype_for_rknn(self._elem_type)
        if dtype is None:
            raise InvalidArgumentError("Unsupported RKNN tensor type: {}".format(type_name(self._elem_type)))
        return dtype

    # ------------------------------------------------------------------ data access

    def numpy(self) -> np.ndarray:
        """The tensor as a numpy array.

        CPU values return the wrapped array itself. RKNN values are synced FROM_DEVICE (after a run wrote
        them) and converted from the bound native layout into a new array of the logical shape and type;
        it never shares memory with the buffer (writes to it are not seen by the NPU, and it stays valid after
        the buffer is freed).
        """
        if self._array is not None:
            return self._array
        storage = self._require_storage()
        self.sync_from_device()
        assert self._layout is not None
        data = read_logical(self._layout, storage.byte_view())
        target = self._logical_dtype()
        if data.dtype != target:
            return data.astype(target)
        # An unpadded layout in the caller's axis order reads back as a view of the buffer: copy it.
        return data if data.flags.owndata else data.copy()

    def update_inplace(self, np_arr: Any) -> None:
        """Overwrite the tensor with ``np_arr`` (same shape and dtype; no conversion).

        RKNN values convert the logical array into the bound native layout (strides, NC1HWC2) and are synced
        TO_DEVICE in every context they are imported into.

        Raises:
            TypeError: not a numpy array.
            InvalidArgumentError: shape, dtype or byte size mismatch.
        """
        if not isinstance(np_arr, np.ndarray):
            raise TypeError("update_inplace needs a numpy.ndarray, got {}".format(type(np_arr).__name__))
        src = np.ascontiguousarray(np_arr)
        if self._array is not None:
            dst = self._array
            if src.shape != dst.shape:
                raise InvalidArgumentError("update_inplace source shape mismatch: expected {}, got {}".format(
                    format_shape(dst.shape), format_shape(src.shape)))
            if src.dtype != dst.dtype:
                raise InvalidArgumentError("update_inplace source element type mismatch: expected {}, got {}".format(
                    dst.dtype, src.dtype))
            if src.nbytes != dst.nbytes:
                raise InvalidArgumentError("source byte size does not match OrtValue")
            np.copyto(dst, src)
            return
        storage = self._require_storage()
        assert self._layout is not None
        layout = self._layout
        if src.shape != layout.shape:
            raise InvalidArgumentError("update_inplace source shape mismatch: expected {}, got {}".format(
                format_shape(layout.shape), format_shape(src.shape)))
        target = self._logical_dtype()
        if src.dtype != target:
            raise InvalidArgumentError("update_inplace source element type mismatch: expected {}, got {}".format(
                target, src.dtype))
        if src.dtype != layout.dtype:
            src = src.astype(layout.dtype)
        try:
            write_logical(layout, storage.byte_view(), src)
        finally:
            storage.mark_cpu_written()  # after the write (even a partial one), before the syncs
        self.sync_to_device()

    def data_ptr(self) -> int:
        """Address of the data (CPU array, or the mapped buffer including ``offset``); 0 if none.

        The caller may write an RKNN value through it: from then on the value is synced TO_DEVICE before
        every run it is an input of.
        """
        if self._array is not None:
            return int(self._array.ctypes.data)
        storage = self._storage
        if storage is None:
            return 0
        storage.mark_escaped()
        return storage.data_address

    def shape(self) -> List[int]:
        """The logical shape (a new list)."""
        if self._array is not None:
            return list(self._array.shape)
        assert self._layout is not None
        return list(self._layout.shape)

    def element_type(self) -> str:
        """ORT type string, e.g. ``"tensor(float16)"`` (CPU values report their array's type)."""
        if self._array is not None:
            t = rknn_type_for_dtype(self._array.dtype)
            return ort_type_string(t if t is not None else -1)
        return ort_type_string(self._elem_type)

    def data_type(self) -> str:
        """ORT's ``OrtValue.data_type()``: the type string, e.g. ``"tensor(float)"`` (same as :meth:`element_type`)."""
        return self.element_type()

    def device_name(self) -> str:
        """``"cpu"`` or ``"rknpu2"``."""
        return "cpu" if self._array is not None else "rknpu2"

    def device_type(self) -> str:
        """``"cpu"`` or ``"rknpu2"``."""
        return self.device_name()

    def device_id(self) -> int:
        """Always 0."""
        return 0

    def is_tensor(self) -> bool:
        """Always True."""
        return True

    def has_value(self) -> bool:
        """Whether the value holds data (RKNN: a dma-buf or a memory object)."""
        if self._array is not None:
            return True
        s = self._storage
        return s is not None and (s.dmabuf or s.import_count > 0)

    def sync_to_device(self) -> None:
        """``rknn_mem_sync(TO_DEVICE)`` in every context holding this buffer (CPU values: no-op).

        Each successful sync is recorded, so a run of that context need not sync the input again until the
        CPU writes it (see :mod:`._zc_engine`).

        Raises:
            RknnError: the sync failed (``rknn_mem_sync(TO_DEVICE) failed: ...``).
        """
        storage = self._storage
        if storage is None:
            return
        for owner, mem in storage.imports():
            self._sync(owner, mem, MEM_SYNC_TO_DEVICE, "rknn_mem_sync(TO_DEVICE)", storage)

    def sync_from_device(self) -> None:
        """``rknn_mem_sync(FROM_DEVICE)`` in the context that last wrote the value (else the first one)."""
        storage = self._storage
        if storage is None:
            return
        writer = self._last_writer
        mem = storage.mem_in(writer) if writer is not None else None
        if writer is None or mem is None:
            entries = storage.imports()
            if not entries:
                return
            writer, mem = entries[0]
        self._sync(writer, mem, MEM_SYNC_FROM_DEVICE, "rknn_mem_sync(FROM_DEVICE)")

    @staticmethod
    def _sync(owner: ContextOwner, mem: Any, mode: int, label: str, synced: Optional[Storage] = None) -> None:
        """``rknn_mem_sync`` in ``owner``'s context; a TO_DEVICE sync of ``synced`` is recorded there."""
        try:
            with owner.locked() as ctx:
                gen = synced.sync_state(owner)[1] if synced is not None else 0
                ctx.mem_sync(mem, mode)
                if synced is not None:
                    synced.note_synced(owner, gen)
        except SessionClosedError:
            pass  # the context is gone; its memory was coherent when it stopped running
        except RknnError as exc:
            raise type(exc)(exc.code, label, exc.description, exc.where) from None

    def memory_info(self) -> Dict[str, Any]:
        """Device and buffer details (peer §13.4): size, fd, offset, virt_addr, import_count, dmabuf_backed,
        attr_size, size_with_stride, w_stride, h_stride, fmt, pass_through."""
        info: Dict[str, Any] = {"device_type": self.device_type(), "device_id": 0}
        storage = self._storage
        if storage is None:
            return info
        storage.mark_escaped()  # virt_addr and fd let the caller write the buffer from now on
        attr = self._attr
        assert attr is not None
        info.update(size=storage.size, fd=storage.fd, offset=storage.offset, virt_addr=storage.base,
                    import_count=storage.import_count, dmabuf_backed=storage.dmabuf, attr_size=attr.size,
                    size_with_stride=attr.size_with_stride, w_stride=attr.w_stride, h_stride=attr.h_stride,
                    fmt=attr.fmt, pass_through=bool(attr.pass_through))
        return info

    def _bound_attr(self) -> Optional[TensorAttr]:
        """The attribute describing the buffer's current layout."""
        return self._attr

    def _mark_written(self, owner: ContextOwner, port: Port) -> None:
        """A run of ``owner``'s context wrote this value in ``port``'s layout (``sync_from_device`` syncs there)."""
        self._last_writer = owner
        self._adopt(port)

    def _adopt(self, port: Port) -> None:
        """Take the port's native attribute, layout, shape and type (the peer overwrites them on bind)."""
        self._attr = port.native
        self._layout = port.layout
        self._elem_type = port.logical.type
        self._name = port.name
        self._io_kind = port.io_kind

    def __repr__(self) -> str:
        return "<OrtValue {} {} {}>".format(self.device_type(), self.element_type(), format_shape(self.shape()))
