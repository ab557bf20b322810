"""The zero-copy engine: its own context, what is bound to each tensor of it, and ``run``.

:class:`ZeroCopyEngine` owns a context of its own, holds the :class:`~._zc_ports.Port` of every input and
output (their attributes are chosen in :mod:`._zc_ports`), allocates buffers laid out for a tensor, and
runs with bound buffers. The argument checks it shares with ``OrtValue``/``IOBinding`` are in
:mod:`._zc_checks`; the public classes are in :mod:`.zero_copy`.

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

import itertools
import logging
import weakref
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Protocol, Tuple

from ._context import RknnContext, TensorAttr
from ._zc_checks import IO_KINDS, layout_mismatch, native_mismatches
from ._zc_memory import ContextOwner, Storage
from ._zc_ports import Port, input_port, output_port
from .errors import InvalidArgumentError, RknnError, SessionClosedError

if TYPE_CHECKING:
    from ._context import MemPointer

__all__ = ["BindingLike", "BoundValue", "Port", "ZeroCopyEngine"]

logger = logging.getLogger(__name__)

MEM_SYNC_TO_DEVICE = 1
MEM_SYNC_FROM_DEVICE = 2


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
                self._inputs = [input_port(c, i, layout, zero_copy_layout) for i in range(n_in)]
                self._outputs = [output_port(c, j, zero_copy_layout) for j in range(n_out)]
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

    # ------------------------------------------------------------------ shapes

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
