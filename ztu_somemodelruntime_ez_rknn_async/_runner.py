"""The per-slot hot path: one inference on one context through the copying API.

A :class:`SlotRunner` belongs to exactly one worker slot, hence to one context, and is only ever used by
the thread holding that slot. It prebuilds the ``rknn_input[n]`` / ``rknn_output[m]`` arrays once; a run
only rewrites ``buf``/``size``/``type`` (and ``want_float``), then calls

    [rknn_set_input_shapes] → rknn_inputs_set → rknn_run → [query CURRENT_OUTPUT_ATTR]
    → rknn_outputs_get(is_prealloc=1) → rknn_outputs_release (always, also after a failed get)

Every call goes through ctypes, which releases the GIL for its duration. The numpy arrays whose
addresses are in the C structs are referenced by the caller's ``PreparedFeed`` and by the local
``arrays`` list until ``rknn_outputs_get`` has returned.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from . import _abi, _wakeups
from ._context import RknnContext
from ._feeds import InputPlan, PreparedFeed
from ._outputs import OutputBuffers, OutputPlan
from .profiling import TaskTrace

__all__ = ["SlotRunner"]


class SlotRunner:
    """Runs inferences on one context (not thread-safe: one slot, one thread at a time).

    Args:
        context: the slot's :class:`~._context.RknnContext`.
        inputs: the session's input plans.
        n_outputs: number of model outputs.
        dynamic: the model has dynamic input shapes.
        mask: the core mask set on the context (for statistics).
        created_by: ``"dup"`` or ``"init"`` (for statistics).
    """

    __slots__ = ("context", "_plans", "_n_in", "_n_out", "_ins", "_outs", "_out_plans", "_dynamic", "_row",
                 "_current_dims", "mask", "created_by", "runs", "failures")

    def __init__(self, context: RknnContext, inputs: Sequence[InputPlan], n_outputs: int, *, dynamic: bool,
                 mask: int = 0, created_by: str = "init") -> None:
        self.context = context
        self._plans = list(inputs)
        self._n_in = len(self._plans)
        self._n_out = n_outputs
        self._ins = (_abi.rknn_input * max(self._n_in, 1))()
        for i, plan in enumerate(self._plans):
            inp = self._ins[i]
            inp.index = i
            inp.pass_through = 0
            inp.fmt = plan.pass_fmt
        self._outs = (_abi.rknn_output * max(n_outputs, 1))()
        for j in range(n_outputs):
            out = self._outs[j]
            out.index = j
            out.is_prealloc = 1
        # The plans whose want_float is in self._outs (float32 and native runs may alternate).
        self._out_plans: Optional[Sequence[OutputPlan]] = None
        self._dynamic = dynamic
        self._row = -1
        self._current_dims: Optional[List[Tuple[int, ...]]] = None
        self.mask = mask
        self.created_by = created_by
        self.runs = 0
        self.failures = 0

    def _set_shapes(self, row: int) -> None:
        attrs = []
        for i, plan in enumerate(self._plans):
            dims = plan.reported_rows[row]
            a = _abi.rknn_tensor_attr()
            a.index = i
            a.name = plan.name.encode("utf-8")[:255]
            a.n_dims = len(dims)
            for k, d in enumerate(dims):
                a.dims[k] = d
            # Dims in the reported format (NHWC dims for NHWC inputs), as the runtime requires
            # (peer bug §21.1-3 fixed: the peer passed NCHW dims with fmt NHWC).
            a.fmt = plan.reported_fmt
            a.type = plan.model_type
            attrs.append(a)
        self._row = -1  # if the call fails, the next run sets the shapes again
        self._current_dims = None
        self.context.set_input_shapes(attrs)
        self._row = row

    def output_dims(self, plans: Sequence[OutputPlan]) -> List[Tuple[int, ...]]:
        """Shapes of the outputs for the current input shapes (CURRENT_OUTPUT_ATTR for dynamic models)."""
        if not self._dynamic:
            return [p.rows[0] for p in plans]
        if self._current_dims is None:
            ctx = self.context
            self._current_dims = [tuple(ctx.current_output_attr(p.index).dims) for p in plans]
        return self._current_dims

    def run(self, feed: PreparedFeed, plans: Sequence[OutputPlan], trace: Optional[TaskTrace] = None,
            clock: Optional[Callable[[], float]] = None, buffers: Optional[OutputBuffers] = None) -> List[np.ndarray]:
        """One inference: returns all outputs (in model order) as arrays of ``plans[j].dtype``.

        Args:
            feed: the prepared inputs.
            plans: the output plans (float32 or native).
            trace: when profiling, receives the ``inputs_set``/``run``/``outputs_get`` phases.
            clock: the profiling clock (``TraceRecorder.now``); required with ``trace``.
            buffers: arrays allocated ahead for ``plans`` (:func:`~._outputs.preallocate`), used and
                returned instead of fresh ones.

        Raises:
            RknnError: a runtime call failed (the message names the function).
        """
        try:
            if trace is None:
                return self._run(feed, plans, buffers)
            assert clock is not None
            return self._run_traced(feed, plans, trace, clock, buffers)
        except BaseException:
            self.failures += 1
            raise

    def _set_inputs(self, feed: PreparedFeed) -> None:
        if self._dynamic and feed.row != self._row:
            self._set_shapes(feed.row)
        ins = self._ins
        addresses = feed.addresses
        sizes = feed.sizes
        types = feed.types
        for i in range(self._n_in):
            inp = ins[i]
            inp.buf = addresses[i]
            inp.size = sizes[i]
            inp.type = types[i]
        self.context.inputs_set(ins, self._n_in)

    def _get_outputs(self, plans: Sequence[OutputPlan], buffers: Optional[OutputBuffers]) -> List[np.ndarray]:
        outs = self._outs
        if plans is not self._out_plans:
            for j in range(self._n_out):
                outs[j].want_float = plans[j].want_float
            self._out_plans = plans
        if buffers is None or buffers.plans is not plans:
            buffers = OutputBuffers(plans, self.output_dims(plans))
        addresses = buffers.addresses
        sizes = buffers.sizes
        for j in range(self._n_out):
            out = outs[j]
            out.buf = addresses[j]
            out.size = sizes[j]
        results = buffers.arrays
        ctx = self.context
        try:
            ctx.outputs_get(outs, self._n_out)
        except BaseException:
            # Release after every get, also a failed one; the get's error is the one reported.
            try:
                ctx.outputs_release(outs, self._n_out)
            except Exception:  # noqa: BLE001
                pass
            raise
        ctx.outputs_release(outs, self._n_out)
        self.runs += 1
        return results

    def _run(self, feed: PreparedFeed, plans: Sequence[OutputPlan],
             buffers: Optional[OutputBuffers]) -> List[np.ndarray]:
        # `feed` keeps every buffer whose address is in the rknn_input array alive until we return.
        self._set_inputs(feed)
        # After inputs_set, not before: woken earlier, a thread takes the GIL during that short call and
        # the worker waits for it (measured: mean gap between two runs 36 us here vs 47 us before).
        _wakeups.issue()  # the wake-ups our worker deferred run while the NPU works (see _wakeups)
        self.context.run()
        return self._get_outputs(plans, buffers)

    def _run_traced(self, feed: PreparedFeed, plans: Sequence[OutputPlan], trace: TaskTrace,
                    clock: Callable[[], float], buffers: Optional[OutputBuffers]) -> List[np.ndarray]:
        try:
            with trace.phase("inputs_set", clock):
                self._set_inputs(feed)
            _wakeups.issue()
            with trace.phase("run", clock):
                self.context.run()
            with trace.phase("outputs_get", clock):
                return self._get_outputs(plans, buffers)
        except BaseException as exc:
            trace.fail(exc)
            raise
