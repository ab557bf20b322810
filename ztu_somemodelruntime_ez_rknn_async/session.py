"""``InferenceSession``: an ONNX-Runtime-style session over librknnrt that keeps every NPU core busy.

The session composes the layers (see ``docs/DESIGN.md``): options are validated first
(:func:`~.options.parse_providers`), then the runtime is loaded and the contexts are created
(:mod:`._core`), feeds are validated by :mod:`._feeds`, outputs selected by :mod:`._outputs`, and every
inference runs on a worker slot of the :class:`~.dispatcher.Dispatcher` through a :class:`~._runner.SlotRunner`.

Execution paths:

* ``run``: on the **caller's thread**, on a borrowed idle slot (``Dispatcher.run_inline``), the GIL released
  inside every C call — many Python threads calling ``run`` use all contexts. With ``run_timeout_ms`` the
  run goes to a worker thread instead and the wait is bounded (:class:`~.errors.RunTimeoutError`).
* ``run_async``: validated and copied at submission, run on a worker thread, ``callback(results, user_data,
  err)`` on the dispatcher's callback thread (in submission order with ``sequential_callbacks``).
* ``submit`` → :class:`concurrent.futures.Future` (resolved on the callback thread); ``run_coro`` (awaitable),
  ``imap`` (ordered, bounded in-flight), ``run_pipeline`` / ``flush_pipeline``, and batch dispatch resolve
  internal futures directly on the worker threads.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import operator
import re
import warnings
import weakref
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, cast

import numpy as np

from ._attrs import TensorAttr
from ._core import ModelInput, SessionCore, build_core, read_model
from ._feeds import prepare_feed
from ._library import load_runtime
from ._outputs import OutputPlan, join_batches, resolve_output_names, select_outputs
from ._runner import SlotRunner
from ._pipeline import Pipeline, check_depth
from ._tasks import (
    Profiler,
    TimedFuture,
    error_text,
    fail_future,
    imap,
    make_job,
    run_timeout,
    submit_internal,
    wait,
)
from ._zc_engine import ZeroCopyEngine
from .errors import InvalidArgumentError, InvalidOptionError, SessionClosedError, SubmitTimeoutError
from .options import (
    PROVIDER_NAME,
    ProviderConfig,
    SessionOptions,
    parse_providers,
    parse_run_options,
    parse_session_options,
)
from .plugins import DUP_CONTEXT_WARNING, CustomOpPlugins, load_custom_op_plugins
from .tensors import ModelMetadata, NodeArg, dynamic_shape, ort_type_string
from .zero_copy import IOBinding

__all__ = ["InferenceSession", "RuntimeInfo"]

logger = logging.getLogger(__name__)

Outputs = List[np.ndarray]
Callback = Callable[[Outputs, Any, str], Any]

_MIN_SDK = (2, 4, 1)


@dataclasses.dataclass(frozen=True)
class RuntimeInfo:
    """Which runtime a session runs on (:attr:`InferenceSession.runtime`).

    Attributes:
        library_path: the ``librknnrt.so`` file that was loaded (the simulator's build for ``"simulator"``).
        is_simulator: the library is this project's simulated runtime, not Rockchip's.
        api_version: the API version from ``RKNN_QUERY_SDK_VERSION``, e.g. ``"2.3.2 (...)"``; ``""`` when the
            runtime did not answer the query.
        driver_version: the driver version from the same query; ``""`` when unknown.
    """

    library_path: str
    is_simulator: bool
    api_version: str
    driver_version: str


class InferenceSession:
    """Runs an RKNN model on the NPU with ONNX Runtime's API, using every configured core.

    Args:
        path_or_bytes: the ``.rknn`` model: a path (``str``/``os.PathLike``) or its bytes
            (``bytes``/``bytearray``/``memoryview``).
        sess_options: ``None``, a :class:`~.options.SessionOptions` or an ``onnxruntime.SessionOptions``.
        providers: ORT-style providers: ``None``, names, or ``(name, options)`` tuples;
            ``"RKNPU2ExecutionProvider"`` (alias ``"RKNNExecutionProvider"``); ``"CPUExecutionProvider"`` is
            accepted and ignored.
        provider_options: this runtime's options (a dict, or a list aligned with ``providers``), see
            :class:`~.options.RknnProviderOptions` / :func:`~.options.make_provider_options`.
        use_weight_from: another session of the same network whose weights this (weight-less) model uses.

    Raises:
        InvalidOptionError: a bad option (checked before anything is loaded).
        FileNotFoundError: the model path does not exist.
        RuntimeLibraryNotFoundError: librknnrt could not be loaded (lists every candidate).
        RknnModelInvalidError: the runtime rejected the model.
        RknnError: another runtime failure while creating the contexts (everything created is destroyed).

    Example:
        >>> import numpy as np, tempfile, os
        >>> from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator
        >>> path = os.path.join(tempfile.mkdtemp(), "m.rknn")
        >>> _ = simulator.write_model(path, [simulator.TensorSpec("x", (1, 4))],
        ...                           [simulator.TensorSpec("y", (1, 4))], latency_us=0)
        >>> with InferenceSession(path, provider_options={"runtime_library": "simulator"}) as sess:
        ...     [y] = sess.run(None, {"x": np.arange(4, dtype=np.float32).reshape(1, 4)})
        >>> y.tolist()
        [[0.0, 1.0, 2.0, 3.0]]
    """

    def __init__(
        self,
        path_or_bytes: ModelInput,
        sess_options: Any = None,
        providers: Any = None,
        provider_options: Any = None,
        *,
        use_weight_from: Optional[InferenceSession] = None,
    ) -> None:
        self._core: Optional[SessionCore] = None
        if use_weight_from is not None and not isinstance(use_weight_from, InferenceSession):
            raise InvalidArgumentError("use_weight_from must be an InferenceSession or None, got {}".format(
                type(use_weight_from).__name__))
        config = parse_providers(providers, provider_options)
        sess_config = parse_session_options(sess_options)
        master_core: Optional[SessionCore] = None
        if use_weight_from is not None:
            if config.uses_custom_ops:
                raise InvalidOptionError("use_weight_from cannot be combined with custom-op loading")
            master_core = use_weight_from._core
            if master_core is None or master_core.closed:
                raise InvalidArgumentError("use_weight_from must reference an open InferenceSession")
        lib = load_runtime(config.runtime_library)
        loaded: Optional[CustomOpPlugins] = None
        if config.uses_custom_ops:
            warnings.warn(DUP_CONTEXT_WARNING, UserWarning, stacklevel=2)
            loaded = load_custom_op_plugins(config.custom_op_paths, config.custom_op_default_path)
        data, what = read_model(path_or_bytes)
        core = build_core(lib, data, what, config, weight_master=master_core, keepalive=use_weight_from,
                          plugins=loaded)
        del data, loaded
        self._core = core
        self._config = config
        self._sess_options = sess_options if sess_options is not None else SessionOptions()
        self._pipeline = Pipeline()
        self._timeout_s = None if config.run_timeout_ms is None else config.run_timeout_ms / 1000.0
        self._submit_timeout_s = config.submit_timeout_ms / 1000.0
        self._profiler: Optional[Profiler] = (
            Profiler(sess_config.profile_file_prefix) if sess_config.enable_profiling else None)
        # The safety net: closes the core when the session is collected (or at interpreter exit). It holds
        # only the core, never the session; no __del__ logic.
        self._finalizer = weakref.finalize(self, core.close)
        _warn_old_sdk(core.sdk_version[0])

    # ------------------------------------------------------------------ lifecycle

    def _live(self) -> SessionCore:
        core = self._core
        if core is None or core.closed:
            raise SessionClosedError("this InferenceSession is closed")
        return core

    def close(self) -> None:
        """Stop accepting work and release the NPU contexts. Idempotent.

        Queued tasks are resolved once with a "session closed" error (``run_async`` callbacks get
        ``([], user_data, "session closed: ...")``, futures a :class:`~.errors.SessionClosedError`); running
        tasks finish and are delivered normally. Called from the session's own callback or worker thread it
        does not wait: the contexts are destroyed when the last thread is done with them (a later ``close()``
        from another thread waits for that).
        """
        core = self._core
        if core is not None:
            self._finalizer.detach()
            core.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._core is None or self._core.closed

    def __enter__(self) -> InferenceSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        core = self._core
        if core is None:
            return "<InferenceSession (not initialised)>"
        return "<InferenceSession {} {} slots={}{}>".format(
            core.model_what, self._config.provider_name, len(core.slots), " closed" if core.closed else "")

    # ------------------------------------------------------------------ introspection

    def get_inputs(self) -> List[NodeArg]:
        """Inputs as ``run`` takes them (NCHW shapes for NHWC-reported 4-D inputs with layout nchw)."""
        core = self._require_core()
        return [NodeArg(p.name, dynamic_shape(p.user_rows), ort_type_string(p.model_type)) for p in core.inputs]

    def get_outputs(self) -> List[NodeArg]:
        """Outputs as ``run`` returns them: ``tensor(float)`` unless ``native_outputs`` is set."""
        core = self._require_core()
        plans = core.native_outputs if self._config.native_outputs else core.float_outputs
        return [p.node_arg for p in plans]

    def get_native_inputs(self) -> List[NodeArg]:
        """Inputs in the NPU's native form (``RKNN_QUERY_NATIVE_INPUT_ATTR``: dims and type)."""
        return self._native(True)

    def get_native_outputs(self) -> List[NodeArg]:
        """Outputs in the NPU's native form (``RKNN_QUERY_NATIVE_OUTPUT_ATTR``)."""
        return self._native(False)

    def _native(self, inputs: bool) -> List[NodeArg]:
        core = self._live()
        names = [p.name for p in core.inputs] if inputs else [p.name for p in core.float_outputs]
        with core.master_lock:
            m = core.master
            attrs = [m.native_input_attr(i) if inputs else m.native_output_attr(i) for i in range(len(names))]
        return [NodeArg(n, list(a.dims), ort_type_string(a.type)) for n, a in zip(names, attrs)]

    @property
    def input_names(self) -> List[str]:
        """Input names in model order (a new list)."""
        return [p.name for p in self._require_core().inputs]

    @property
    def output_names(self) -> List[str]:
        """Output names in model order (a new list)."""
        return [p.name for p in self._require_core().float_outputs]

    def get_modelmeta(self) -> ModelMetadata:
        """ORT-style metadata; ``custom_metadata_map["rknn_custom_string"]`` holds the model's custom string."""
        core = self._require_core()
        return ModelMetadata.from_custom_string(core.custom_string)

    def get_providers(self) -> List[str]:
        """``["RKNPU2ExecutionProvider"]``: this runtime's name, also when it was selected by its alias
        ``"RKNNExecutionProvider"`` (there is no CPU fallback to report)."""
        return [PROVIDER_NAME]

    def get_provider_options(self) -> Dict[str, Dict[str, str]]:
        """ORT-style ``{"RKNPU2ExecutionProvider": {key: str(value)}}`` of the effective options."""
        options = self._config.provider_options_dict()
        return {PROVIDER_NAME: dict(next(iter(options.values()), {}))}

    def get_overridable_initializers(self) -> List[NodeArg]:
        """``[]``: compiled RKNN models expose no initializers to override (ORT API)."""
        self._require_core()
        return []

    def disable_fallback(self) -> None:
        """Accepted for ORT compatibility; there is no CPU fallback to disable."""

    def enable_fallback(self) -> None:
        """Accepted for ORT compatibility; there is no CPU fallback to enable (errors are always raised)."""

    def get_session_options(self) -> Any:
        """The ``sess_options`` given to the constructor (a default :class:`SessionOptions` when none)."""
        return self._sess_options

    @property
    def provider_config(self) -> ProviderConfig:
        """The validated provider options."""
        return self._config

    @property
    def runtime_version(self) -> str:
        """The runtime's API version string (``RKNN_QUERY_SDK_VERSION``), e.g. ``"2.3.2 (...)"``."""
        return self._require_core().sdk_version[0]

    def get_sdk_version(self) -> Dict[str, str]:
        """``{"api_version": ..., "drv_version": ...}`` from ``RKNN_QUERY_SDK_VERSION``."""
        api, drv = self._require_core().sdk_version
        return {"api_version": api, "drv_version": drv}

    @property
    def runtime(self) -> RuntimeInfo:
        """The runtime library this session loaded, and its versions (also after :meth:`close`)."""
        core = self._require_core()
        api, drv = core.sdk_version
        return RuntimeInfo(library_path=str(core.lib.path), is_simulator=bool(core.lib.is_simulator),
                           api_version=api, driver_version=drv)

    def get_input_attrs(self) -> List[TensorAttr]:
        """The runtime's attributes of every input, as ``rknn_query(RKNN_QUERY_INPUT_ATTR)`` reported them.

        Unlike :meth:`get_inputs` (names, ORT type strings and the shapes ``run`` takes), these are the raw
        values: reported ``dims`` and ``fmt`` (often NHWC), ``type``, quantisation (``qnt_type``, ``zp``,
        ``scale``, ``fl``), sizes and strides. Queried once when the session was made; also after :meth:`close`.

        Returns:
            One immutable :class:`TensorAttr` per input, in model order (a new list).
        """
        return list(self._require_core().input_attrs)

    def get_output_attrs(self) -> List[TensorAttr]:
        """The runtime's attributes of every output (``RKNN_QUERY_OUTPUT_ATTR``); see :meth:`get_input_attrs`.

        Returns:
            One immutable :class:`TensorAttr` per output, in model order (a new list).
        """
        return list(self._require_core().output_attrs)

    def get_dynamic_input_shapes(self) -> List[Optional[List[Tuple[int, ...]]]]:
        """The shapes a dynamic-shape model accepts for each input, as ``run`` takes them.

        Returns:
            Per input, in model order: ``None`` when the input has one fixed shape (always so for a static
            model; the shape is then ``get_inputs()[i].shape``); otherwise its declared shape rows
            (``RKNN_QUERY_INPUT_DYNAMIC_RANGE``) in the layout :meth:`get_inputs` shows (NCHW for an NHWC
            input with ``layout="nchw"``). Rows are aligned: row ``k`` of every listed input belongs to the
            same shape set of the model.
        """
        return [None if len(set(p.user_rows)) <= 1 else list(p.user_rows) for p in self._require_core().inputs]

    def get_stats(self) -> Dict[str, Any]:
        """Dispatcher counters (:class:`~.dispatcher.DispatcherStats` as a dict) plus ``"slots"``: per slot
        ``core``, ``index``, ``mask``, ``created_by`` (``"dup"``/``"init"``), ``runs``, ``failures``."""
        core = self._live()
        assert core.dispatcher is not None
        stats = dataclasses.asdict(core.dispatcher.stats())
        slots = []
        for s in core.slots:
            r = cast(SlotRunner, s.context)
            slots.append({"core": s.core, "index": s.index, "mask": r.mask, "created_by": r.created_by,
                          "runs": r.runs, "failures": r.failures})
        stats["slots"] = slots
        return stats

    # ------------------------------------------------------------------ profiling

    def end_profiling(self) -> str:
        """Write the recorded profile and stop profiling (ORT semantics).

        Returns:
            The Chrome-trace file ``<profile_file_prefix>_<timestamp>.json`` (open it in ``chrome://tracing`` or
            Perfetto), or ``""`` when ``SessionOptions.enable_profiling`` was not set (or already ended).
        """
        profiler, self._profiler = self._profiler, None
        if profiler is None:
            return ""
        return profiler.write()

    def get_profiling_start_time_ns(self) -> int:
        """Wall-clock start of profiling in ns (``0`` when not profiling)."""
        profiler = self._profiler
        return profiler.recorder.start_time_ns if profiler is not None else 0

    # ------------------------------------------------------------------ zero copy

    def _zero_copy_engine(self) -> ZeroCopyEngine:
        """The zero-copy engine (its own context, made on first use); used by OrtValue/IOBinding."""
        return self._live().zero_copy_engine()

    def io_binding(self) -> IOBinding:
        """A new :class:`~.zero_copy.IOBinding` for :meth:`run_with_iobinding` (ORT API)."""
        return IOBinding(self._zero_copy_engine())

    def run_with_iobinding(self, iobinding: IOBinding, run_options: Any = None) -> None:
        """Run once with the values bound in ``iobinding`` (zero copy; the GIL is released inside the run).

        ``run_options`` is validated and otherwise ignored.
        """
        if run_options is not None:
            parse_run_options(run_options)
        self._zero_copy_engine().run(iobinding)

    def _require_core(self) -> SessionCore:
        if self._core is None:
            raise SessionClosedError("this InferenceSession is not initialised")
        return self._core

    # ------------------------------------------------------------------ option helpers

    def _run_settings(self, run_options: Any) -> Tuple[bool, bool, Optional[float]]:
        """(dispatch_batch, native_outputs, run timeout in s) for this call."""
        if run_options is None:
            return False, self._config.native_outputs, self._timeout_s
        rc = parse_run_options(run_options)
        timeout_ms = rc.resolve_run_timeout_ms(self._config)
        return rc.dispatch_batch, rc.resolve_native_outputs(self._config), (
            None if timeout_ms is None else timeout_ms / 1000.0)

    @staticmethod
    def _plans(core: SessionCore, native: bool) -> List[OutputPlan]:
        return core.native_outputs if native else core.float_outputs

    # ------------------------------------------------------------------ synchronous run

    def run(self, output_names: Optional[Sequence[str]], input_feed: Any, run_options: Any = None) -> Outputs:
        """Run one inference and return the requested outputs.

        Args:
            output_names: names to return, in that order (duplicates allowed); ``None``/``[]`` = all.
            input_feed: dict name → array, list/tuple in input order, or one array for a one-input model.
            run_options: ``None``, a dict (:class:`~.options.RknnRunOptions`) or a :class:`~.options.RunOptions`;
                ``{"ztu_modelrt_dispatch_batch": True}`` splits a batch over the workers.

        Returns:
            A list of arrays (float32 unless native outputs were asked for).

        Raises:
            InvalidArgumentError: bad feed or output names (the message lists every problem).
            RunTimeoutError: ``run_timeout_ms`` expired.
            SubmitTimeoutError: no slot became free within ``submit_timeout_ms``.
            SessionClosedError: the session is closed.
            RknnError: the runtime failed.
        """
        core = self._live()
        batch, native, timeout_s = self._run_settings(run_options)
        indices = resolve_output_names(core.float_outputs, output_names)
        plans = core.native_outputs if native else core.float_outputs
        if batch:
            return self._run_batch(core, input_feed, plans, indices, timeout_s)
        feed = prepare_feed(core.inputs, input_feed)
        dispatcher = core.dispatcher
        assert dispatcher is not None
        profiler = self._profiler
        if timeout_s is not None:
            outs: Outputs = wait(submit_internal(core, feed, plans, profiler, "run"), timeout_s)
        elif profiler is None:
            outs = dispatcher.run_inline(lambda slot: cast(SlotRunner, slot.context).run(feed, plans),
                                         self._submit_timeout_s)
        else:
            trace = profiler.new("run")
            try:
                outs = dispatcher.run_inline(make_job(feed, plans, trace, profiler), self._submit_timeout_s)
            finally:
                profiler.record(trace)
        return select_outputs(outs, indices)

    def _run_batch(self, core: SessionCore, input_feed: Any, plans: List[OutputPlan],
                   indices: Optional[List[int]], timeout_s: Optional[float]) -> Outputs:
        feed = prepare_feed(core.inputs, input_feed, batch=True)
        assert feed.batch is not None
        futures: List[concurrent.futures.Future] = []  # type: ignore[type-arg]
        try:
            for b in range(feed.batch):
                futures.append(submit_internal(core, feed.sample(b), plans, self._profiler, "batch"))
            per_sample = [wait(f, timeout_s) for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return select_outputs(join_batches(per_sample), indices)

    # ------------------------------------------------------------------ asynchronous APIs

    def run_async(self, output_names: Optional[Sequence[str]], input_feed: Any, callback: Callback,
                  user_data: Any = None, run_options: Any = None) -> None:
        """Queue one inference; ``callback(results, user_data, err)`` runs on the callback thread.

        ORT's contract: ``err == ""`` and ``results`` the list of outputs on success; ``results == []`` and
        ``err`` the message on failure (including "session closed" when the session closes first). The
        inputs are validated and copied before this returns, so the caller may reuse its arrays. Exceptions
        raised by the callback go to ``sys.unraisablehook`` and do not stop later callbacks. ``run`` and
        ``run_async`` may be called from inside a callback.

        Raises:
            InvalidArgumentError: bad feed, output names, callback, or batch dispatch requested.
            SubmitTimeoutError: the queue stayed full for ``submit_timeout_ms``.
            SessionClosedError: the session is closed.
        """
        core = self._live()
        if not callable(callback):
            raise InvalidArgumentError("callback must be callable, got {}".format(type(callback).__name__))
        batch, native, _timeout = self._run_settings(run_options)
        if batch:
            raise InvalidArgumentError("run_async does not support ztu_modelrt_dispatch_batch=True; use run()")
        indices = resolve_output_names(core.float_outputs, output_names)
        plans = core.native_outputs if native else core.float_outputs
        feed = prepare_feed(core.inputs, input_feed, copy=True)
        profiler = self._profiler
        trace = profiler.new("run_async") if profiler is not None else None
        job = make_job(feed, plans, trace, profiler)

        def call(result: Optional[Outputs], exc: Optional[BaseException]) -> None:
            if exc is None and result is not None:
                callback(select_outputs(result, indices), user_data, "")
            else:
                callback([], user_data, error_text(exc) if exc is not None else "no result")

        deliver: Callable[[Optional[Outputs], Optional[BaseException]], None] = call
        if trace is not None and profiler is not None:
            def deliver(result: Optional[Outputs], exc: Optional[BaseException]) -> None:
                try:
                    with trace.phase("callback", profiler.recorder.now):
                        call(result, exc)
                finally:
                    profiler.record(trace)

        assert core.dispatcher is not None
        core.dispatcher.submit(job, deliver)

    def submit(self, output_names: Optional[Sequence[str]], input_feed: Any,
               run_options: Any = None) -> concurrent.futures.Future:  # type: ignore[type-arg]
        """Queue one inference and return a :class:`concurrent.futures.Future` of its outputs.

        The future resolves on the session's callback thread (in submission order with
        ``sequential_callbacks``), so its done-callbacks may call ``run``/``run_async``. Cancelling it
        before it starts skips the inference. ``result()`` without a timeout waits at most
        ``run_timeout_ms`` when that is set (then :class:`~.errors.RunTimeoutError`). Inputs are copied.

        Raises:
            InvalidArgumentError, SubmitTimeoutError, SessionClosedError: as for :meth:`run_async`.
        """
        core = self._live()
        batch, native, timeout_s = self._run_settings(run_options)
        if batch:
            raise InvalidArgumentError("submit does not support ztu_modelrt_dispatch_batch=True; use run()")
        indices = resolve_output_names(core.float_outputs, output_names)
        plans = core.native_outputs if native else core.float_outputs
        feed = prepare_feed(core.inputs, input_feed, copy=True)
        fut = TimedFuture(timeout_s)
        profiler = self._profiler
        trace = profiler.new("submit") if profiler is not None else None
        run = make_job(feed, plans, trace, profiler)

        def job(slot: Any) -> Optional[Outputs]:
            if not fut.set_running_or_notify_cancel():
                return None  # cancelled before it started: skip the inference
            return run(slot)

        def deliver(result: Optional[Outputs], exc: Optional[BaseException]) -> None:
            try:
                if exc is not None:
                    fail_future(fut, exc)
                elif result is not None and fut.running():
                    if trace is not None and profiler is not None:
                        with trace.phase("callback", profiler.recorder.now):
                            fut.set_result(select_outputs(result, indices))
                    else:
                        fut.set_result(select_outputs(result, indices))
            finally:
                if trace is not None and profiler is not None and (result is not None or exc is not None):
                    profiler.record(trace)

        assert core.dispatcher is not None
        core.dispatcher.submit(job, deliver)
        return fut

    async def run_coro(self, output_names: Optional[Sequence[str]], input_feed: Any,
                       run_options: Any = None) -> Outputs:
        """Awaitable form of :meth:`run` (``outputs = await sess.run_coro(None, feed)``).

        The inference runs on a worker thread. The event loop is never blocked: when the queue is full,
        the submission waits for capacity (at most ``submit_timeout_ms``) on the loop's default executor.
        """
        core = self._live()
        batch, native, timeout_s = self._run_settings(run_options)
        if batch:
            raise InvalidArgumentError("run_coro does not support ztu_modelrt_dispatch_batch=True; use run()")
        indices = resolve_output_names(core.float_outputs, output_names)
        plans = core.native_outputs if native else core.float_outputs
        feed = prepare_feed(core.inputs, input_feed, copy=True)
        try:
            fut = submit_internal(core, feed, plans, self._profiler, "run_coro", block=False)
        except SubmitTimeoutError:
            fut = await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(submit_internal, core, feed, plans, self._profiler, "run_coro"))
        try:
            if timeout_s is None:
                outs: Outputs = await asyncio.wrap_future(fut)
            else:
                outs = await asyncio.wait_for(asyncio.wrap_future(fut), timeout_s)
        except asyncio.TimeoutError:
            fut.cancel()
            assert timeout_s is not None
            raise run_timeout(timeout_s) from None
        return select_outputs(outs, indices)

    def imap(self, feeds: Iterable[Any], output_names: Optional[Sequence[str]] = None, *, run_options: Any = None,
             max_in_flight: Optional[int] = None) -> Iterator[Outputs]:
        """Run every feed of an iterable, yielding the outputs in order while keeping all slots busy.

        At most ``max_in_flight`` feeds (default: 2 × slots + ``max_queue_size``) are submitted ahead of the
        one being yielded, so memory stays bounded for endless iterables. Closing the generator early cancels
        the tasks that have not started and waits for the running ones; nothing leaks.

        Raises:
            InvalidArgumentError: bad arguments (immediately) or a bad feed (when reached).
        """
        core = self._live()
        batch, native, timeout_s = self._run_settings(run_options)
        if batch:
            raise InvalidArgumentError("imap does not support ztu_modelrt_dispatch_batch=True")
        indices = resolve_output_names(core.float_outputs, output_names)
        plans = core.native_outputs if native else core.float_outputs
        if max_in_flight is None:
            limit = 2 * len(core.slots) + self._config.max_queue_size
        else:
            try:
                limit = operator.index(max_in_flight)
            except TypeError:
                raise InvalidArgumentError("max_in_flight must be an int >= 1 or None, got {!r}".format(
                    max_in_flight)) from None
            if limit < 1:
                raise InvalidArgumentError("max_in_flight must be >= 1, got {}".format(limit))
        return imap(core, iter(feeds), plans, indices, limit, timeout_s, self._profiler)

    # ------------------------------------------------------------------ pipeline

    def run_pipeline(self, input_feed: Any, depth: int = 3, reset: bool = False) -> Optional[Outputs]:
        """Pseudo-synchronous pipelining for one thread (peer API): submit this feed, return an older result.

        Returns ``None`` until ``depth`` results are pending, then the oldest one (all outputs). ``reset=True``
        or a different ``depth`` discards the pending results (their tasks are cancelled or their results
        dropped). :meth:`flush_pipeline` returns what is still pending.

        Raises:
            InvalidArgumentError: ``depth`` < 1 or a bad feed. The error of a failed run is raised by the call
                that returns its result.
        """
        core = self._live()
        d = check_depth(depth)
        feed = prepare_feed(core.inputs, input_feed, copy=True)
        fut = submit_internal(core, feed, self._plans(core, self._config.native_outputs), self._profiler,
                              "run_pipeline")
        oldest = self._pipeline.push(fut, d, bool(reset))
        if oldest is None:
            return None
        result: Outputs = wait(oldest, self._timeout_s)
        return result

    def flush_pipeline(self) -> List[Outputs]:
        """Wait for and return every pending pipeline result, oldest first (empties the pipeline).

        Raises:
            RknnError / RunTimeoutError / SessionClosedError: of the first failed pending run (the others are
                discarded).
        """
        return self._pipeline.flush(self._timeout_s)


_warned_versions: Set[str] = set()


def _warn_old_sdk(api_version: str) -> None:
    nums = [int(x) for x in re.findall(r"\d+", api_version)[:3]]
    if nums and tuple(nums) < _MIN_SDK and api_version not in _warned_versions:
        _warned_versions.add(api_version)  # once per process and version
        logger.warning("RKNN API version %s is likely outdated; behaviour may be unstable. Recommended minimum "
                       "version is %s.", api_version, ".".join(str(x) for x in _MIN_SDK))
