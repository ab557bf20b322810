"""The zero-copy engine: its own context, the bound attributes of every tensor, and ``run``.

:class:`ZeroCopyEngine` derives, on its own context, the logical and the native attribute of every
input and output (peer-behavior.md §13.1, adapted: 4-D NHWC-reported inputs are shown NCHW exactly when
the copy path shows them so), allocates buffers laid out for a tensor, and runs with bound buffers.
The argument checks shared by the ``OrtValue``/``IOBinding`` API live here too, with the peer's message
texts. The public classes are in :mod:`.zero_copy`.

What a run calls (and why it may skip the rest)
-----------------------------------------------
``rknn_set_io_mem`` hands the runtime a memory object and an attribute for one tensor; the runtime
keeps both (rknn-abi.md §2.4, §2.5: bind once, then loop ``write → sync → run``) until the tensor is
bound again, its shapes change (``rknn_set_input_shapes``, §7.8) or the memory object is destroyed. So
a run calls ``rknn_set_io_mem`` for a port only when the engine's record for that port differs: a
record holds the :class:`Storage` object, the memory object and the attribute last bound there, and
is compared by identity (the record keeps the storage and memory object alive, so a new buffer can
never pass for an old one at a recycled address). A record is dropped (the next run binds the port
again) when

* the run brings another buffer for the port: rebound, or another ``IOBinding`` of the engine ran in
  between, or the value's memory was released and replaced or re-imported (identity test);
* an ``IOBinding`` binds the port (even to the same value) or clears the inputs/outputs
  (:meth:`ZeroCopyEngine.forget_port`), shapes are set (:meth:`ZeroCopyEngine._set_input_shapes_locked`),
  a ``rknn_set_io_mem`` or ``rknn_run`` call fails (the runtime's state is then unknown), or the engine
  closes.

``rknn_mem_sync(TO_DEVICE)`` flushes CPU writes for the NPU. An input needs it only if the CPU may have
written the buffer since the last successful sync **in this context** (:meth:`Storage.sync_state`):

* ``update_inplace`` (and the factories built on it) writes, bumps the storage's write generation and
  syncs in every context holding the buffer, which records the generation per context;
* a fresh buffer (zero-filled by the CPU), one imported into this context for the first time, or one
  whose sync failed, has no record here and is synced;
* a buffer whose address or fd was handed out (``data_ptr()``, ``memory_info()``) or that wraps a
  caller's dma-buf (``ortvalue_from_dmabuf``) is *escaped*: its owner may write through the mapping at
  any time, so it is synced before **every** run, as before;
* ``numpy()`` returns a copy, never a view of the buffer, so it cannot be written through; NPU writes
  (a run's outputs, possibly bound as inputs later) never dirty the CPU caches.

When in doubt the engine syncs and binds: both are idempotent, skipping them is only an optimisation.
Records and sync marks are read and written with the context owner's lock held (one thread per context);
only :meth:`ZeroCopyEngine.forget_port` (a new epoch, atomic) and the storage's write generation (its own
lock) change without it, and both can only make the next run do more, never less.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import numbers
import weakref
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import numpy as np

from ._context import RknnContext, TensorAttr
from ._layouts import BufferLayout, alloc_bytes, elem_size, format_is_4d_image, layout_for
from ._zc_memory import ContextOwner, Storage
from .errors import InvalidArgumentError, RknnError, SessionClosedError
from .tensors import (
    RKNN_TENSOR_FLOAT16,
    RKNN_TENSOR_FLOAT32,
    RKNN_TENSOR_INT8,
    RKNN_TENSOR_NC1HWC2,
    RKNN_TENSOR_NCHW,
    RKNN_TENSOR_NHWC,
    RKNN_TENSOR_UINT8,
    RKNN_TENSOR_UNDEFINED,
    format_shape,
    nhwc_to_nchw_dims,
    rknn_type_for_dtype,
    type_name,
)

if TYPE_CHECKING:
    from ._context import MemPointer

__all__ = ["BindingLike", "BoundValue", "Port", "ZeroCopyEngine"]

logger = logging.getLogger(__name__)

MEM_SYNC_TO_DEVICE = 1
MEM_SYNC_FROM_DEVICE = 2
#: Types the peer asks the NHWC native queries for (others keep NATIVE_*_ATTR).
_NHWC_TYPES = (RKNN_TENSOR_FLOAT32, RKNN_TENSOR_FLOAT16, RKNN_TENSOR_INT8, RKNN_TENSOR_UINT8)
DEVICE_TYPES = ("cpu", "rknpu2")
IO_KINDS = ("input", "output")


class BoundValue(Protocol):
    """What the engine needs from a bound OrtValue."""

    def _require_storage(self) -> Storage: ...

    def _bound_attr(self) -> Optional[TensorAttr]: ...

    def _mark_written(self, owner: ContextOwner, port: Port) -> None: ...


class BindingLike(Protocol):
    """What the engine needs from an IOBinding."""

    @property
    def _engine(self) -> ZeroCopyEngine: ...

    @property
    def _inputs(self) -> Mapping[str, BoundValue]: ...

    @property
    def _outputs(self) -> Mapping[str, BoundValue]: ...


@dataclasses.dataclass(frozen=True)
class Port:
    """One model input or output as zero copy binds it."""

    io_kind: str
    index: int
    name: str
    logical: TensorAttr  # RKNN_QUERY_INPUT/OUTPUT_ATTR, 4-D inputs swapped to NCHW per the session layout
    shape: Tuple[int, ...]
    logical_nhwc: bool
    native: TensorAttr  # the attribute passed to rknn_set_io_mem
    layout: BufferLayout
    nbytes: int  # alloc_bytes(native)

    @property
    def label(self) -> str:
        """``input 'x'`` / ``output 'y'``, as messages name the tensor."""
        return "{} '{}'".format(self.io_kind, self.name)


#: Port epochs: ``next()`` is atomic under the GIL, so concurrent :meth:`ZeroCopyEngine.forget_port` calls never
#: produce the value a record was made with.
_EPOCHS = itertools.count(1)


class _IoMemRecord:
    """What ``rknn_set_io_mem`` last bound to one port of the engine's context (owner lock held).

    ``epoch`` changes whenever the record must be dropped (:meth:`ZeroCopyEngine.forget_port`); the record is
    valid only while ``bound_epoch == epoch`` and ``storage``/``mem``/``attr`` are the very objects of the run.
    """

    __slots__ = ("storage", "mem", "attr", "bound_epoch", "epoch")

    def __init__(self) -> None:
        self.storage: Optional[Storage] = None
        self.mem: Optional[MemPointer] = None
        self.attr: Optional[TensorAttr] = None
        self.bound_epoch = 0
        self.epoch = next(_EPOCHS)

    def matches(self, storage: Storage, mem: MemPointer, attr: TensorAttr) -> bool:
        return (self.storage is storage and self.mem is mem and self.attr is attr
                and self.bound_epoch == self.epoch)

    def clear(self) -> None:
        self.storage = self.mem = self.attr = None
        self.bound_epoch = 0


def _try_query(fn: Callable[[int], TensorAttr], index: int) -> Optional[TensorAttr]:
    try:
        return fn(index)
    except RknnError as exc:
        logger.debug("%s(%d) failed: %s", getattr(fn, "__name__", "query"), index, exc)
        return None


def _synth_nhwc(logical: TensorAttr, native: TensorAttr) -> TensorAttr:
    """An NHWC attribute for an input whose native form is NC1HWC2 (peer §13.1)."""
    if logical.fmt == RKNN_TENSOR_NHWC:
        n, h, w, c = logical.dims
    else:
        n, c, h, w = logical.dims
    es = elem_size(native.type)
    ws = native.w_stride or w
    elems = n * h * w * c
    return dataclasses.replace(
        native, n_dims=4, dims=(n, h, w, c), fmt=RKNN_TENSOR_NHWC, n_elems=elems, size=elems * es, w_stride=ws,
        size_with_stride=n * (native.h_stride or h) * ws * c * es, pass_through=0)


class ZeroCopyEngine:
    """Zero-copy runs of one model on a context of its own.

    The session creates it lazily (first ``io_binding()``/zero-copy factory call) and closes it in
    ``close()``. Runs are serialised on the engine's lock and release the GIL inside ``rknn_run``; copy-path
    runs on the session's worker contexts proceed concurrently.

    Args:
        context_factory: returns a new, ready :class:`RknnContext` for the model (custom ops registered,
            weight sharing set up). The engine owns and destroys it.
        layout: the session's ``layout`` option; 4-D NHWC-reported inputs are seen as NCHW with
            ``"nchw"``/``"nchw_software"`` (as the copy path shows them).
        zero_copy_layout: ``"nhwc"`` (bind NHWC native forms where the runtime has them) or ``"native"``
            (bind NC1HWC2 as is).
        name: for messages (the model path).

    Raises:
        RknnError: the factory or an attribute query failed (the context is destroyed).
    """

    def __init__(self, context_factory: Callable[[], RknnContext], *, layout: str = "nchw",
                 zero_copy_layout: str = "nhwc", name: str = "model") -> None:
        if zero_copy_layout not in ("nhwc", "native"):
            raise InvalidArgumentError("Unknown zero_copy_layout: {}, expected 'nhwc' or 'native'".format(
                zero_copy_layout))
        self.name = name
        self.zero_copy_layout = zero_copy_layout
        self._closed = False
        # (io_kind, index) -> what rknn_set_io_mem bound there (see the module docstring).
        self._io_mem: Dict[Tuple[str, int], _IoMemRecord] = {}
        ctx = context_factory()
        owner = ContextOwner(ctx, name)
        try:
            with owner.locked() as c:
                n_in, n_out = c.query_io_num()
                self._fix_dynamic_shapes(c, n_in)
                self._inputs = [self._input_port(c, i, layout) for i in range(n_in)]
                self._outputs = [self._output_port(c, j) for j in range(n_out)]
        except BaseException:
            owner.close()
            raise
        self._owner = owner
        self._by_name: Dict[Tuple[str, str], Port] = {}
        for p in self._inputs + self._outputs:
            self._by_name[(p.io_kind, p.name)] = p
            self._io_mem[(p.io_kind, p.index)] = _IoMemRecord()
        # The safety net when the session forgets close(): the context still waits for its memories.
        self._finalizer = weakref.finalize(self, owner.close)

    # ------------------------------------------------------------------ attributes

    def _fix_dynamic_shapes(self, ctx: RknnContext, n_in: int) -> None:
        """Dynamic-shape models: bind the first shape row once (the runtime needs shapes before a run)."""
        if not any(ctx.input_dynamic_range(i) for i in range(n_in)):
            return
        try:
            self._set_input_shapes_locked(ctx, [ctx.input_attr(i) for i in range(n_in)])
        except RknnError as exc:
            logger.warning("zero copy of %s: rknn_set_input_shapes with the first shape row failed (%s); running "
                           "with the runtime's default shapes", self.name, exc)

    def _set_input_shapes_locked(self, ctx: RknnContext, attrs: List[TensorAttr]) -> None:
        """``rknn_set_input_shapes`` on the engine's context: every port must be bound again (rknn-abi.md §7.8).

        The only way the engine changes shapes; keep it so (the set_io_mem records rely on it).
        """
        self._forget_all_locked()
        ctx.set_input_shapes(attrs)

    def _input_port(self, ctx: RknnContext, i: int, layout: str) -> Port:
        a = ctx.input_attr(i)
        logical = a
        if a.n_dims == 4 and a.fmt == RKNN_TENSOR_NHWC and layout in ("nchw", "nchw_software"):
            logical = dataclasses.replace(a, dims=nhwc_to_nchw_dims(a.dims), fmt=RKNN_TENSOR_NCHW)
        native = _try_query(ctx.native_input_attr, i)
        if native is None or logical.n_dims != 4:
            native = logical
        elif self.zero_copy_layout == "nhwc" and logical.type in _NHWC_TYPES:
            nhwc = _try_query(ctx.native_nhwc_input_attr, i)
            if nhwc is not None and nhwc.n_dims == 4:
                native = nhwc
            if native.fmt == RKNN_TENSOR_NC1HWC2 and not native.pass_through:
                native = _synth_nhwc(logical, native)
        elif self.zero_copy_layout == "native" and native.fmt == RKNN_TENSOR_NC1HWC2:
            native = dataclasses.replace(native, pass_through=1)
        return self._port("input", i, logical, native)

    def _output_port(self, ctx: RknnContext, j: int) -> Port:
        logical = ctx.output_attr(j)
        native = _try_query(ctx.native_output_attr, j)
        if native is None or logical.n_dims != 4:
            native = logical
        elif self.zero_copy_layout == "nhwc" and logical.type in _NHWC_TYPES:
            nhwc = _try_query(ctx.native_nhwc_output_attr, j)
            if nhwc is not None and nhwc.n_dims == 4:
                native = nhwc
        return self._port("output", j, logical, native)

    @staticmethod
    def _port(io_kind: str, index: int, logical: TensorAttr, native: TensorAttr) -> Port:
        shape = tuple(logical.dims)
        nhwc = logical.n_dims == 4 and logical.fmt == RKNN_TENSOR_NHWC
        native = dataclasses.replace(native, index=index)
        try:
            layout = layout_for(shape, nhwc, native)
        except InvalidArgumentError as exc:
            # A native form this package cannot address: bind the logical form instead (the runtime converts).
            logger.info("%s '%s': native attribute not usable for zero copy (%s); binding the logical form",
                        io_kind, logical.name, exc)
            native = dataclasses.replace(logical, index=index)
            layout = layout_for(shape, nhwc, native)
        return Port(io_kind, index, logical.name, logical, shape, nhwc, native, layout, alloc_bytes(native))

    # ------------------------------------------------------------------ introspection

    @property
    def owner(self) -> ContextOwner:
        """The context owner (memory accounting; tests and the session's diagnostics)."""
        return self._owner

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def port(self, io_kind: object, name: object) -> Port:
        """The input/output called ``name``.

        Raises:
            InvalidArgumentError: ``io_kind`` is not ``"input"``/``"output"``, or the name is unknown.
        """
        if isinstance(io_kind, bytes):
            io_kind = io_kind.decode("utf-8", "replace")
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if io_kind not in IO_KINDS:
            raise InvalidArgumentError("io_kind must be 'input' or 'output'")
        if not isinstance(name, str):
            raise InvalidArgumentError("name must be a str, got {}".format(type(name).__name__))
        port = self._by_name.get((str(io_kind), name))
        if port is None:
            known = [p.name for p in (self._inputs if io_kind == "input" else self._outputs)]
            raise InvalidArgumentError("Unknown {} name: {} (the model has {})".format(io_kind, name, known))
        return port

    @property
    def input_ports(self) -> List[Port]:
        """Inputs in model order."""
        return list(self._inputs)

    @property
    def output_ports(self) -> List[Port]:
        """Outputs in model order."""
        return list(self._outputs)

    # ------------------------------------------------------------------ values

    def new_storage(self, port: Port, mem_flags: int = 0) -> Storage:
        """A zeroed buffer for ``port`` in the engine's context (runtime memory, importable elsewhere).

        Raises:
            SessionClosedError: the engine is closed.
            RknnMallocError: the runtime refused the allocation.
        """
        self.check_open()
        storage = Storage.allocate(self._owner, port.nbytes, mem_flags)
        storage.byte_view()[:port.nbytes] = 0
        return storage

    def check_open(self) -> None:
        """Raise :class:`SessionClosedError` once :meth:`close` was called."""
        if self._closed:
            raise SessionClosedError("the session of {} is closed".format(self.name))

    def forget_port(self, port: Port) -> None:
        """The next run calls ``rknn_set_io_mem`` for ``port`` whatever was bound there (IOBinding bind/clear).

        Lock-free: a run that is binding right now may keep its record only if it read the epoch after this.
        """
        record = self._io_mem.get((port.io_kind, port.index))
        if record is not None:
            record.epoch = next(_EPOCHS)

    def _forget_all_locked(self) -> None:
        for record in self._io_mem.values():
            record.clear()
            record.epoch = next(_EPOCHS)

    # ------------------------------------------------------------------ run

    def run(self, binding: BindingLike) -> None:
        """Run once with the values bound in ``binding`` (``run_with_iobinding``).

        Order: every input is checked, imported into this context if needed, synced TO_DEVICE if the CPU may
        have written it since its last sync here, and bound with ``rknn_set_io_mem`` unless this very buffer
        and attribute are bound there already; every output is checked and bound the same way; ``rknn_run``;
        outputs are marked written by this context (``numpy()`` syncs FROM_DEVICE). See the module docstring.

        Raises:
            InvalidArgumentError: the binding belongs to another session, or not everything is bound, or a
                bound value is too small / not importable.
            SessionClosedError: the engine is closed.
            RknnError: a runtime call failed (the message names the call and the tensor index).
        """
        if getattr(binding, "_engine", None) is not self:
            raise InvalidArgumentError("IOBinding belongs to a different session")
        self.check_open()
        inputs = dict(binding._inputs)
        outputs = dict(binding._outputs)
        missing_in = [p.name for p in self._inputs if p.name not in inputs]
        if missing_in:
            raise InvalidArgumentError("All model inputs must be bound before run_with_iobinding (missing: {})".format(
                ", ".join(missing_in)))
        missing_out = [p.name for p in self._outputs if p.name not in outputs]
        if missing_out:
            raise InvalidArgumentError(
                "All model outputs must be bound before run_with_iobinding (missing: {})".format(", ".join(missing_out)))
        # Every check that needs no runtime call, before any runtime call.
        storages_in = [self._checked_storage(p, inputs[p.name], "Bound input OrtValue is too small for input")
                       for p in self._inputs]
        storages_out = [self._checked_storage(p, outputs[p.name], "Bound output OrtValue is too small for output")
                        for p in self._outputs]
        owner = self._owner
        with owner.locked() as ctx:
            for port, storage in zip(self._inputs, storages_in):
                self._bind_locked(ctx, port, storage)
            for port, storage in zip(self._outputs, storages_out):
                self._bind_locked(ctx, port, storage)
            try:
                ctx.run()
            except BaseException:
                self._forget_all_locked()  # whatever the runtime holds now, bind everything again
                raise
            for port in self._outputs:
                outputs[port.name]._mark_written(owner, port)

    @staticmethod
    def _checked_storage(port: Port, value: BoundValue, too_small: str) -> Storage:
        storage = value._require_storage()
        if port.io_kind == "input":
            # Checked again here: the value may have been bound elsewhere since, in another layout.
            attr = value._bound_attr()
            if attr is not port.native:  # the same object: bound here last, nothing to compare
                items = native_mismatches(port.native, attr) if attr is not None else ["no native attribute"]
                if items:
                    raise layout_mismatch("OrtValue for {}".format(port.label), items)
        if storage.usable < port.nbytes:
            raise InvalidArgumentError("{}: {} (required {} bytes, got {})".format(
                too_small, port.name, port.nbytes, storage.usable))
        return storage

    def _bind_locked(self, ctx: RknnContext, port: Port, storage: Storage) -> None:
        owner = self._owner
        mem = storage.mem_for_locked(owner)
        if port.io_kind == "input":
            dirty, gen = storage.sync_state(owner)
            if dirty:
                try:
                    ctx.mem_sync(mem, MEM_SYNC_TO_DEVICE)
                except RknnError as exc:
                    raise type(exc)(exc.code, "rknn_mem_sync(TO_DEVICE)", exc.description,
                                    "{} index {}".format(port.io_kind, port.index)) from None
                storage.note_synced(owner, gen)
        record = self._io_mem[(port.io_kind, port.index)]
        attr = port.native
        if record.matches(storage, mem, attr):
            return
        epoch = record.epoch  # read before the call: a forget_port() racing it leaves the record stale
        record.clear()
        try:
            ctx.set_io_mem(mem, attr)
        except RknnError as exc:
            raise type(exc)(exc.code, "rknn_set_io_mem", exc.description,
                            "{} index {}".format(port.io_kind, port.index)) from None
        record.storage, record.mem, record.attr, record.bound_epoch = storage, mem, attr, epoch

    def close(self) -> None:
        """Refuse new work; the context is destroyed once no value uses its memory. Idempotent."""
        self._closed = True
        self._finalizer()
        for record in self._io_mem.values():
            record.clear()  # drop the storage references (the context may outlive the engine)

    def __repr__(self) -> str:
        return "<ZeroCopyEngine {} inputs={} outputs={}{}>".format(
            self.name, [p.name for p in self._inputs], [p.name for p in self._outputs],
            " closed" if self._closed else "")


# ---------------------------------------------------------------------------------------------------------
# Argument checks shared by OrtValue and IOBinding (the peer's message texts)
# ---------------------------------------------------------------------------------------------------------



def check_device_type(device_type: object) -> str:
    if isinstance(device_type, bytes):
        device_type = device_type.decode("utf-8", "replace")
    if not isinstance(device_type, str):
        raise TypeError("device_type must be a str, got {}".format(type(device_type).__name__))
    if device_type not in DEVICE_TYPES:
        raise InvalidArgumentError("device_type must be 'cpu' or 'rknpu2'")
    return device_type


def parse_shape(shape: object) -> Tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray)):
        raise InvalidArgumentError("shape must be a sequence of integers")
    dims: List[int] = []
    for d in shape:
        if isinstance(d, (bool, np.bool_)):
            raise InvalidArgumentError("shape dim must be an integer")
        try:
            v = int(d) if isinstance(d, (numbers.Integral, str, bytes)) else None
        except ValueError:
            v = None
        if v is None:
            raise InvalidArgumentError("shape dim must be an integer")
        if v < 0:
            raise InvalidArgumentError("shape dims must be >= 0")
        dims.append(v)
    return tuple(dims)


def parse_element_type(element_type: object) -> int:
    try:
        dtype = np.dtype(element_type)  # type: ignore[call-overload]
    except TypeError:
        dtype = None
    rknn = rknn_type_for_dtype(dtype) if dtype is not None and element_type is not None else None
    if rknn is None:
        raise InvalidArgumentError("Unsupported numpy dtype for RKNN input: {!r}".format(element_type))
    return rknn


def check_shape(context: str, expected: Sequence[int], got: Sequence[int]) -> None:
    if tuple(expected) != tuple(got):
        raise InvalidArgumentError("{} shape mismatch: expected {}, got {}".format(
            context, format_shape(expected), format_shape(got)))


def check_type(context: str, expected: int, got: int) -> None:
    if expected != got:
        raise InvalidArgumentError("{} element type mismatch: expected {}, got {}".format(
            context, type_name(expected), type_name(got)))


def generic_attr(shape: Tuple[int, ...], rknn_type: int) -> TensorAttr:
    n = 1
    for d in shape:
        n *= d
    size = n * elem_size(rknn_type)
    return TensorAttr(index=0, name="", n_dims=len(shape), dims=shape, n_elems=n, size=size,
                      fmt=RKNN_TENSOR_NCHW if len(shape) == 4 else RKNN_TENSOR_UNDEFINED, type=rknn_type,
                      qnt_type=0, fl=0, zp=0, scale=1.0, w_stride=0, size_with_stride=size, pass_through=0,
                      h_stride=0)


def needs_all(session: object, name: object, io_kind: object) -> bool:
    return session is not None and name is not None and io_kind is not None


NATIVE_FIELDS = ("type", "n_dims", "dims", "fmt", "n_elems", "size", "size_with_stride", "qnt_type", "fl", "zp",
                  "scale")


def native_mismatches(expected: TensorAttr, got: TensorAttr) -> List[str]:
    items: List[str] = []
    for f in NATIVE_FIELDS:
        e, g = getattr(expected, f), getattr(got, f)
        if f == "dims":
            e, g = list(e), list(g)
        if e != g:
            items.append("{} expected {}, got {}".format(f, e, g))
    if format_is_4d_image(expected) or format_is_4d_image(got):
        # 0 means "no padding": compare the implied pitch.
        def pitch(a: TensorAttr, field: str) -> int:
            v = int(getattr(a, field))
            if v or a.n_dims != 4:
                return v
            axis = {"w_stride": 2 if a.fmt == RKNN_TENSOR_NHWC else 3,
                    "h_stride": 1 if a.fmt == RKNN_TENSOR_NHWC else 2}[field]
            return int(a.dims[axis])
        for f in ("w_stride", "h_stride"):
            if pitch(expected, f) != pitch(got, f):
                items.append("{} expected {}, got {}".format(f, pitch(expected, f), pitch(got, f)))
    return items


def layout_mismatch(context: str, items: Sequence[str]) -> InvalidArgumentError:
    """The peer's "native zero-copy layout mismatch" error listing each differing field."""
    return InvalidArgumentError(
        "{} native zero-copy layout mismatch: {}. The OrtValue buffer was written using a different RKNN native "
        "layout than this model input expects. Create the OrtValue with this consumer session/name/io_kind, or use "
        "a copy/transpose path instead of binding the dmabuf directly.".format(context, "; ".join(items)))
