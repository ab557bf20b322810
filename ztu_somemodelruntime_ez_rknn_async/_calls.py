"""What one ``run``-family call of an ``InferenceSession`` asks for, and batch dispatch.

:func:`plan_call` resolves a call's ``run_options`` against the session's provider options (batch dispatch,
native outputs, run timeout) and its ``output_names`` against the model, in the order every API checks them:
run options first, then the batch refusal of the APIs that do not dispatch batches, then the output names.
:func:`run_batch` is ``run(..., {"ztu_modelrt_dispatch_batch": True})``: the feed split along axis 0, one
internal task per sample over the workers, the outputs joined back.
"""
from __future__ import annotations

import concurrent.futures
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ._core import SessionCore
from ._feeds import prepare_feed
from ._outputs import OutputPlan, join_batches, resolve_output_names, select_outputs
from ._tasks import Profiler, submit_internal, wait
from .errors import InvalidArgumentError
from .options import ProviderConfig, parse_run_options

__all__ = ["CallPlan", "output_plans", "plan_call", "run_batch", "run_settings"]

Outputs = List[np.ndarray]


class CallPlan(NamedTuple):
    """One call's resolved settings."""

    batch: bool  #: ``ztu_modelrt_dispatch_batch``
    plans: List[OutputPlan]  #: every output, float32 or native
    indices: Optional[List[int]]  #: the outputs to return (``None`` = all, in model order)
    timeout_s: Optional[float]  #: the run timeout in s (``None`` = unbounded)
    tag: Optional[str] = None  #: the run's ``tag`` (or ``logid``), written into profiles


def run_settings(config: ProviderConfig, default_timeout_s: Optional[float],
                 run_options: Any) -> Tuple[bool, bool, Optional[float], Optional[str]]:
    """(dispatch_batch, native_outputs, run timeout in s, tag) for this call."""
    if run_options is None:
        return False, config.native_outputs, default_timeout_s, None
    rc = parse_run_options(run_options)
    timeout_ms = rc.resolve_run_timeout_ms(config)
    return rc.dispatch_batch, rc.resolve_native_outputs(config), (
        None if timeout_ms is None else timeout_ms / 1000.0), rc.tag


def output_plans(core: SessionCore, native: bool) -> List[OutputPlan]:
    """The plans of every output: native dtypes or float32."""
    return core.native_outputs if native else core.float_outputs


def plan_call(core: SessionCore, config: ProviderConfig, default_timeout_s: Optional[float], run_options: Any,
              output_names: Optional[Sequence[str]], batch_error: Optional[str] = None) -> CallPlan:
    """Resolve one call's options and output names.

    Raises:
        InvalidOptionError: bad ``run_options``.
        InvalidArgumentError: ``batch_error`` (when given) if batch dispatch was requested; bad output names.
    """
    batch, native, timeout_s, tag = run_settings(config, default_timeout_s, run_options)
    if batch and batch_error is not None:
        raise InvalidArgumentError(batch_error)
    indices = resolve_output_names(core.float_outputs, output_names)
    return CallPlan(batch, output_plans(core, native), indices, timeout_s, tag)


def run_batch(core: SessionCore, input_feed: Any, call: CallPlan, profiler: Optional[Profiler]) -> Outputs:
    """Split the feed along axis 0, run every sample as its own task, join the outputs (the caller waits)."""
    feed = prepare_feed(core.inputs, input_feed, batch=True)
    assert feed.batch is not None
    futures: List[concurrent.futures.Future] = []  # type: ignore[type-arg]
    try:
        for b in range(feed.batch):
            futures.append(submit_internal(core, feed.sample(b), call.plans, profiler, "batch", tag=call.tag))
        per_sample = [wait(f, call.timeout_s) for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    return select_outputs(join_batches(per_sample), call.indices)
