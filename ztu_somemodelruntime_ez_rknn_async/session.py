"""``InferenceSession``: an ONNX-Runtime-style session over librknnrt that keeps every NPU core busy.

The session composes the layers (see ``docs/DESIGN.md``): options are validated first
(:func:`~.options.parse_providers`), then the runtime is loaded and the contexts are created
(:mod:`._core`), feeds are validated by :mod:`._feeds`, outputs selected by :mod:`._outputs`, and every
inference runs on a worker slot of the :class:`~.dispatcher.Dispatcher` through a :class:`~._runner.SlotRunner`.
This module is the facade: construction, the run APIs, the pipeline, zero copy, profiling and ``close``. The
introspection API (``get_inputs`` ... ``get_stats``, ``runtime``) is the base class
:class:`~._introspection.SessionIntrospection`; a call's run options, output selection and batch dispatch are
resolved by :mod:`._calls`; jobs and internal futures come from :mod:`._tasks`.

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
import functools
import logging
import operator
import re
import warnings
import weakref
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Set, cast

import numpy as np

from ._calls import output_plans, plan_call, run_batch
from ._core import ModelInput, SessionCore, build_core, read_model
from ._feeds import prepare_feed
from ._introspection import RuntimeInfo, SessionIntrospection
from ._library import load_runtime
from ._outputs import select_outputs
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
from .errors import InvalidArgumentError, InvalidOptionError, SubmitTimeoutError
from .options import SessionOptions, parse_providers, parse_run_options, parse_session_options
from .plugins import DUP_CONTEXT_WARNING, CustomOpPlugins, load_custom_op_plugins
from .zero_copy import IOBinding

__all__ = ["InferenceSession", "RuntimeInfo"]

logger = logging.getLogger(__name__)

Outputs = List[np.ndarray]
Callback = Callable[[Outputs, Any, str], Any]

_MIN_SDK = (2, 4, 1)


class InferenceSession(SessionIntrospection):
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
        call = plan_call(core, self._config, self._timeout_s, run_options, output_names)
        if call.batch:
            return run_batch(core, input_feed, call, self._profiler)
        feed = prepare_feed(core.inputs, input_feed)
        plans = call.plans
        dispatcher = core.dispatcher
        assert dispatcher is not None
        profiler = self._profiler
        if call.timeout_s is not None:
            outs: Outputs = wait(submit_internal(core, feed, plans, profiler, "run", tag=call.tag), call.timeout_s)
        elif profiler is None:
            outs = dispatcher.run_inline(lambda slot: cast(SlotRunner, slot.context).run(feed, plans),
                                         self._submit_timeout_s)
        else:
            trace = profiler.new("run", call.tag)
            try:
                outs = dispatcher.run_inline(make_job(feed, plans, trace, profiler), self._submit_timeout_s)
            finally:
                profiler.record(trace)
        return select_outputs(outs, call.indices)

    # ------------------------------------------------------------------ asynchronous APIs

    def run_async(self, output_names: Optional[Sequence[str]], input_feed: Any, callback: Callback,
                  user_data: Any = None, run_options: Any = None) -> None:
        """Queue one inference; ``callback(results, user_data, err)`` runs on the callback thread.

        ORT's contract: ``err == ""`` and ``results`` the list of outputs on success; ``results == []`` and
        ``err`` the message on failure (including "session closed" when the session closes first). With
        ``run_timeout_ms`` (provider or run option) a run that has not finished in time is reported then, once,
        in its place in the callback order (``err`` names ``run_timeout_ms``; its late result is dropped). The
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
        _batch, plans, indices, timeout_s, tag = plan_call(
            core, self._config, self._timeout_s, run_options, output_names,
            "run_async does not support ztu_modelrt_dispatch_batch=True; use run()")
        feed = prepare_feed(core.inputs, input_feed, copy=True)
        profiler = self._profiler
        trace = profiler.new("run_async", tag) if profiler is not None else None
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
        if timeout_s is None:
            core.dispatcher.submit(job, deliver)
        else:
            core.dispatcher.submit(job, deliver, expire_after_s=timeout_s,
                                   expired_error=functools.partial(run_timeout, timeout_s))

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
        call = plan_call(core, self._config, self._timeout_s, run_options, output_names,
                         "submit does not support ztu_modelrt_dispatch_batch=True; use run()")
        indices = call.indices
        feed = prepare_feed(core.inputs, input_feed, copy=True)
        fut = TimedFuture(call.timeout_s)
        profiler = self._profiler
        trace = profiler.new("submit", call.tag) if profiler is not None else None
        run = make_job(feed, call.plans, trace, profiler)

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
        call = plan_call(core, self._config, self._timeout_s, run_options, output_names,
                         "run_coro does not support ztu_modelrt_dispatch_batch=True; use run()")
        plans, timeout_s = call.plans, call.timeout_s
        feed = prepare_feed(core.inputs, input_feed, copy=True)
        try:
            fut = submit_internal(core, feed, plans, self._profiler, "run_coro", block=False, tag=call.tag)
        except SubmitTimeoutError:
            fut = await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(submit_internal, core, feed, plans, self._profiler, "run_coro",
                                        tag=call.tag))
        waiter = asyncio.wrap_future(fut)
        if timeout_s is None:
            outs: Outputs = await waiter
        else:
            # Not wait_for + except asyncio.TimeoutError: since Python 3.11 that is the builtin TimeoutError, which
            # the runtime's RknnTimeoutError (raised by the task) subclasses.
            try:
                done, _ = await asyncio.wait((waiter,), timeout=timeout_s)
            except BaseException:  # this coroutine was cancelled: so is the task, as with a plain await
                waiter.cancel()
                raise
            if not done:
                fut.cancel()
                waiter.cancel()
                raise run_timeout(timeout_s)
            outs = waiter.result()
        return select_outputs(outs, call.indices)

    def imap(self, feeds: Iterable[Any], output_names: Optional[Sequence[str]] = None, *, run_options: Any = None,
             max_in_flight: Optional[int] = None) -> Iterator[Outputs]:
        """Run every feed of an iterable, yielding the outputs in order while keeping all slots busy.

        At most ``max_in_flight`` feeds (default: 2 × slots + ``max_queue_size``) are submitted ahead of the
        one being yielded, so memory stays bounded for endless iterables. Closing the generator early cancels
        the tasks that have not started and drops the results of the running ones (it does not wait for them);
        nothing leaks.

        Raises:
            InvalidArgumentError: bad arguments (immediately) or a bad feed (when reached).
        """
        core = self._live()
        call = plan_call(core, self._config, self._timeout_s, run_options, output_names,
                         "imap does not support ztu_modelrt_dispatch_batch=True")
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
        return imap(core, iter(feeds), call.plans, call.indices, limit, call.timeout_s, self._profiler, call.tag)

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
        fut = submit_internal(core, feed, output_plans(core, self._config.native_outputs), self._profiler,
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
