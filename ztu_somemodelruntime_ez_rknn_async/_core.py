"""What an InferenceSession owns: the model description, the contexts, the worker slots, the dispatcher.

:func:`build_core` composes the lower layers in a fixed order and undoes everything on failure:

1. (by the session, before the model is read) ``load_runtime(config.runtime_library)`` and the custom-op
   plugins;
2. the master context (``rknn_init``; weight-sharing slaves pass the master session's master context),
   custom ops registered;
3. the queries on the master context (in/out counts, attributes, dynamic ranges, custom string, SDK
   version) → input/output plans;
4. one worker context per slot: ``rknn_dup_context`` of the master, or ``rknn_init`` when dup is disabled,
   when custom ops or weight sharing need it, or when the runtime refuses dup (logged); then
   ``rknn_set_core_mask`` (``-13`` tolerated for AUTO/CORE_0 on single-core SoCs);
5. the :class:`~.dispatcher.Dispatcher` whose ``on_closed`` hook destroys the contexts.

The master context serves only queries (under :attr:`SessionCore.master_lock`); every run uses a worker
context, which the dispatcher gives to exactly one thread at a time; zero copy gets a context of its own
(:meth:`SessionCore.new_context`). Nothing here references the
``InferenceSession`` object, so the session can be collected while tasks are in flight.
"""
from __future__ import annotations

import collections
import errno
import logging
import os
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ._context import RknnContext, TensorAttr
from ._feeds import InputPlan, build_input_plans
from ._library import RuntimeLibrary
from ._outputs import OutputPlan, build_output_plans
from ._runner import SlotRunner
from ._zc_engine import ZeroCopyEngine
from .dispatcher import Dispatcher, WorkerSlot
from .errors import InvalidArgumentError, RknnError, SessionClosedError
from .options import ProviderConfig
from .plugins import CustomOpPlugins
from .tensors import RKNN_TENSOR_NHWC, nchw_to_nhwc_dims

__all__ = ["ModelInput", "SessionCore", "build_core", "read_model"]

logger = logging.getLogger(__name__)

ModelInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

#: Rows of a dynamic model probed at construction to describe which output axes vary.
_MAX_PROBED_ROWS = 64


def read_model(path_or_bytes: object) -> Tuple[bytes, str]:
    """Return the model bytes and a short description (the path, or ``"<N bytes>"``).

    Raises:
        TypeError: not a path or bytes-like object.
        FileNotFoundError / IsADirectoryError / PermissionError: the path cannot be read (message names it).
        InvalidArgumentError: an empty model.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)  # a private copy: the caller may reuse its buffer
        what = "<{} bytes>".format(len(data))
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        raw = os.fspath(path_or_bytes)
        path = os.fsdecode(raw)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "model file not found", path) from None
        except IsADirectoryError:
            raise IsADirectoryError(errno.EISDIR, "model path is a directory, not an .rknn file", path) from None
        what = path
    else:
        raise TypeError(
            "path_or_bytes must be a str, os.PathLike, bytes, bytearray or memoryview, got {}".format(
                type(path_or_bytes).__name__))
    if not data:
        raise InvalidArgumentError("the model {} is empty (0 bytes)".format(what))
    return data, what


class _Resources:
    """The contexts to destroy, and the objects kept alive until then (no reference to the session)."""

    def __init__(self) -> None:
        self.workers: List[RknnContext] = []
        self.master: Optional[RknnContext] = None
        self.keepalive: List[object] = []  # e.g. the weight-sharing master session
        self._lock = threading.Lock()
        self._done = False

    def destroy(self) -> None:
        """Destroy workers (dups first), then the master; release kept objects. Idempotent, never raises."""
        with self._lock:
            if self._done:
                return
            self._done = True
            contexts = list(reversed(self.workers))
            if self.master is not None:
                contexts.append(self.master)
            self.workers = []
            self.master = None
        for ctx in contexts:
            try:
                ctx.destroy()
            except Exception:  # noqa: BLE001 - teardown continues; the error is logged
                logger.warning("destroying %r failed", ctx, exc_info=True)
        # The weight-sharing master is released only after our contexts are gone.
        self.keepalive.clear()


class SessionCore:
    """The session's resources and model description (see the module docstring).

    Attributes:
        lib: the runtime library.
        config: the validated provider options.
        model_what: the model path or ``"<N bytes>"``.
        inputs / float_outputs / native_outputs: plans for the copy path.
        input_attrs / output_attrs: ``RKNN_QUERY_INPUT_ATTR`` / ``OUTPUT_ATTR`` of the master context.
        dynamic: the model has dynamic input shapes.
        custom_string / sdk_version: queried once.
        slots: the worker slots (``slot.context`` is a :class:`SlotRunner`).
        dispatcher: the dispatcher.
        master: the master context (queries only; hold ``master_lock``).
    """

    def __init__(self) -> None:
        self.lib: RuntimeLibrary
        self.config: ProviderConfig
        self.model_what = ""
        self.inputs: List[InputPlan] = []
        self.float_outputs: List[OutputPlan] = []
        self.native_outputs: List[OutputPlan] = []
        self.input_attrs: List[TensorAttr] = []
        self.output_attrs: List[TensorAttr] = []
        self.dynamic = False
        self.custom_string = ""
        self.sdk_version: Tuple[str, str] = ("", "")
        self.slots: List[WorkerSlot] = []
        self.dispatcher: Optional[Dispatcher] = None
        self.master_lock = threading.Lock()
        self.resources = _Resources()
        self.plugins: Optional[CustomOpPlugins] = None
        self.use_init = False
        self.model_bytes: Optional[bytes] = None
        self.weight_master: Optional[SessionCore] = None
        self.closed = False
        self._close_lock = threading.Lock()
        self._zero_copy: Optional[ZeroCopyEngine] = None

    def new_context(self) -> RknnContext:
        """A new ready context for the model (zero copy): a dup of the master, or ``rknn_init`` when the workers
        needed it; custom ops registered, weight sharing set up. The caller owns it."""
        if self.closed:
            raise SessionClosedError("the session is closed")
        with self.master_lock:
            master = self.master
            if self.use_init and self.model_bytes is not None:
                share = self.weight_master.master if self.weight_master is not None else None
                ctx = RknnContext.init(self.lib, self.model_bytes, share_weights_with=share)
            else:
                ctx = master.dup()
        try:
            if self.plugins is not None:
                self.plugins.register(ctx)
        except BaseException:
            ctx.destroy()
            raise
        return ctx

    def zero_copy_engine(self) -> ZeroCopyEngine:
        """The zero-copy engine (its own context), created on first use and closed with the session."""
        with self._close_lock:
            if self.closed:
                raise SessionClosedError("the session is closed")
            if self._zero_copy is None:
                self._zero_copy = ZeroCopyEngine(self.new_context, layout=self.config.layout,
                                                 zero_copy_layout=self.config.zero_copy_layout,
                                                 name=self.model_what)
            return self._zero_copy

    @property
    def master(self) -> RknnContext:
        """The master context (raises SessionClosedError once destroyed)."""
        m = self.resources.master
        if m is None:
            raise SessionClosedError("the session is closed")
        return m

    def close(self) -> None:
        """Stop accepting work, resolve pending work, destroy contexts once no thread uses them.

        Safe from any thread, including the session's own callback/worker threads (it then only signals;
        the last thread out destroys the contexts). Idempotent; never raises. A repeated call from an outside
        thread waits like the first one (e.g. after a close() made inside a callback).
        """
        with self._close_lock:
            first = not self.closed
            self.closed = True
            zero_copy, self._zero_copy = self._zero_copy, None
        if zero_copy is not None:
            try:
                zero_copy.close()  # its context is destroyed once no OrtValue uses its memory
            except Exception:  # noqa: BLE001
                logger.warning("closing the zero-copy engine failed", exc_info=True)
        dispatcher = self.dispatcher
        if dispatcher is None:
            if first:
                self.resources.destroy()
            return
        try:
            dispatcher.close(wait=True)  # idempotent; waits unless called from one of its own threads
        except Exception:  # noqa: BLE001
            logger.warning("closing the dispatcher failed", exc_info=True)


def _names(attrs: Sequence[TensorAttr], prefix: str) -> List[str]:
    return [a.name or "{}_{}".format(prefix, i) for i, a in enumerate(attrs)]


def _input_rows(master: RknnContext, attrs: Sequence[TensorAttr]) -> Tuple[List[List[Tuple[int, ...]]], bool]:
    rows: List[List[Tuple[int, ...]]] = []
    dynamic = False
    for i, a in enumerate(attrs):
        r = master.input_dynamic_range(i)
        if r:
            dynamic = True
            # The ranges come in logical (NCHW) order for NHWC-reported inputs on some runtimes; keep
            # every row in the reported order, recognised by row 0 == the reported dims.
            if a.fmt == RKNN_TENSOR_NHWC and len(a.dims) == 4 and tuple(r[0]) != tuple(a.dims) \
                    and nchw_to_nhwc_dims(r[0]) == tuple(a.dims):
                r = [nchw_to_nhwc_dims(x) for x in r]
            rows.append([tuple(x) for x in r])
        else:
            rows.append([tuple(a.dims)])
    if dynamic:
        n = max(len(r) for r in rows)
        rows = [r if len(r) == n else [r[0]] * n for r in rows]
    return rows, dynamic


def _output_rows(master: RknnContext, inputs: Sequence[InputPlan], outputs: Sequence[TensorAttr],
                 dynamic: bool) -> List[List[Tuple[int, ...]]]:
    static = [[tuple(a.dims)] for a in outputs]
    if not dynamic:
        return static
    n_rows = len(inputs[0].reported_rows) if inputs else 0
    if n_rows > _MAX_PROBED_ROWS:
        return static
    rows: List[List[Tuple[int, ...]]] = [[] for _ in outputs]
    try:
        for r in range(n_rows):
            attrs = [TensorAttr(index=p.index, name=p.name, n_dims=len(p.reported_rows[r]),
                                dims=tuple(p.reported_rows[r]), n_elems=0, size=0, fmt=p.reported_fmt,
                                type=p.model_type, qnt_type=0, fl=0, zp=0, scale=1.0, w_stride=0,
                                size_with_stride=0, pass_through=0, h_stride=0) for p in inputs]
            master.set_input_shapes(attrs)
            for j in range(len(outputs)):
                rows[j].append(tuple(master.current_output_attr(j).dims))
    except RknnError as exc:
        logger.info("could not probe the output shapes of the dynamic model (%s); showing the default ones", exc)
        return static
    return rows


def _slot_layout(config: ProviderConfig) -> Tuple[List[Tuple[int, int]], Dict[int, int]]:
    """[(core key, core mask)] per slot, and the dispatcher's schedule weights."""
    tpc = config.threads_per_core
    if config.schedule is not None:
        weights = dict(collections.Counter(config.schedule))
        cores = sorted(weights)
        return [(core, 1 << core) for core in cores for _ in range(tpc)], weights
    return [(0, config.core_mask)] * tpc, {0: 1}


def build_core(lib: RuntimeLibrary, model: bytes, model_what: str, config: ProviderConfig, *,
               weight_master: Optional[SessionCore] = None, keepalive: Optional[object] = None,
               plugins: Optional[CustomOpPlugins] = None) -> SessionCore:
    """Create every resource of a session; on failure destroy what was created and re-raise.

    Args:
        lib: the runtime (``load_runtime(config.runtime_library)``, loaded before the model is read).
        model: the model bytes.
        model_what: the path or ``"<N bytes>"`` (for messages).
        config: validated provider options.
        weight_master: the core of the ``use_weight_from`` session (its master context owns the weights).
        keepalive: an object kept alive until this core's contexts are destroyed (the master session).
        plugins: custom ops to register on every context (all contexts are then made with ``rknn_init``).
    """
    core = SessionCore()
    core.config = config
    core.model_what = model_what
    core.lib = lib
    core.plugins = plugins if plugins else None
    res = core.resources
    if keepalive is not None:
        res.keepalive.append(keepalive)
    if core.plugins is not None:
        # The runtime keeps pointers into the plugin libraries: released only after the contexts.
        res.keepalive.append(core.plugins)
    share_from: Optional[RknnContext] = None
    if weight_master is not None:
        share_from = weight_master.master
        core.weight_master = weight_master
    try:
        try:
            res.master = RknnContext.init(lib, model, share_weights_with=share_from)
        except RknnError as exc:
            raise type(exc)(exc.code, exc.function, exc.description, "model {}".format(model_what)) from None
        master = res.master
        if core.plugins is not None:
            core.plugins.register(master)
        n_in, n_out = master.query_io_num()
        core.input_attrs = [master.input_attr(i) for i in range(n_in)]
        core.output_attrs = [master.output_attr(j) for j in range(n_out)]
        rows, core.dynamic = _input_rows(master, core.input_attrs)
        in_names = _names(core.input_attrs, "input")
        core.inputs = build_input_plans(in_names, [a.type for a in core.input_attrs],
                                        [a.fmt for a in core.input_attrs], rows, config.layout)
        out_rows = _output_rows(master, core.inputs, core.output_attrs, core.dynamic)
        out_names = _names(core.output_attrs, "output")
        out_types = [a.type for a in core.output_attrs]
        core.float_outputs = build_output_plans(out_names, out_types, out_rows, native=False)
        core.native_outputs = build_output_plans(out_names, out_types, out_rows, native=True)
        try:
            core.custom_string = master.custom_string()
        except RknnError as exc:
            logger.debug("RKNN_QUERY_CUSTOM_STRING failed: %s", exc)
        try:
            core.sdk_version = master.sdk_version()
        except RknnError as exc:
            logger.debug("RKNN_QUERY_SDK_VERSION failed: %s", exc)
        _create_slots(core, model, share_from)
        if core.use_init:
            core.model_bytes = model  # for more contexts made with rknn_init (zero copy)
        core.dispatcher = Dispatcher(
            core.slots,
            schedule_weights=_slot_layout(config)[1],
            max_queue_size=config.max_queue_size,
            submit_timeout_s=config.submit_timeout_ms / 1000.0,
            sequential=config.sequential_callbacks,
            pacing=config.enable_pacing,
            backlog_limit=config.callback_backlog,
            name="ez-rknn",
            on_closed=res.destroy,
            defer_wakeups=True,  # every session job issues before rknn_run (_runner.SlotRunner)
        )
    except BaseException:
        res.destroy()
        raise
    return core


def _create_slots(core: SessionCore, model: bytes, share_from: Optional[RknnContext]) -> None:
    config = core.config
    master = core.master
    lib = core.lib
    use_init = config.disable_dup_context or share_from is not None or core.plugins is not None
    reason = ("disable_dup_context" if config.disable_dup_context else
              "custom ops" if core.plugins is not None else "weight sharing")
    layout, _weights = _slot_layout(config)
    per_core: Dict[int, int] = collections.defaultdict(int)
    for n, (core_key, mask) in enumerate(layout):
        ctx: Optional[RknnContext] = None
        how = "init"
        if not use_init:
            try:
                ctx = master.dup()
                how = "dup"
            except RknnError as exc:
                use_init = True
                reason = "rknn_dup_context refused ({})".format(exc)
                logger.info("worker contexts are created with rknn_init: %s", reason)
        if ctx is None:
            if n == 0:
                logger.debug("worker contexts are created with rknn_init (%s)", reason)
            ctx = RknnContext.init(lib, model, share_weights_with=share_from)
        core.resources.workers.append(ctx)
        if core.plugins is not None:
            core.plugins.register(ctx)
        try:
            ctx.set_core_mask(mask, tolerate_single_core=True)
        except RknnError as exc:
            raise type(exc)(
                exc.code, "rknn_set_core_mask", "{} Maybe you specified a configuration that is not supported by "
                "the current platform (core mask {:#x} for worker {}).".format(exc.description, mask, n)) from None
        runner = SlotRunner(ctx, core.inputs, len(core.float_outputs), dynamic=core.dynamic, mask=mask,
                            created_by=how)
        core.slots.append(WorkerSlot(core=core_key, index=per_core[core_key], context=runner))
        per_core[core_key] += 1
    core.use_init = use_init
