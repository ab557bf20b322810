"""What an ``InferenceSession`` tells about itself: the ORT introspection API and this runtime's additions.

:class:`SessionIntrospection` is a base class of :class:`~.session.InferenceSession`: the ORT methods
(``get_inputs``/``get_outputs``, ``input_names``/``output_names``, ``get_modelmeta``, ``get_providers``,
``get_provider_options``, ``get_session_options``, ...), the native attributes (``get_native_*``,
``get_input_attrs``/``get_output_attrs``, ``get_dynamic_input_shapes``), the runtime and its versions
(``runtime`` → :class:`RuntimeInfo`, ``runtime_version``, ``get_sdk_version``) and the dispatcher counters
(``get_stats``). Everything here reads the :class:`~._core.SessionCore` and the validated options the
session's constructor stored; nothing runs an inference. Descriptions queried at construction stay
available after ``close()``; ``get_native_*`` and ``get_stats`` need an open session.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple, cast

from ._attrs import TensorAttr
from ._core import SessionCore
from ._runner import SlotRunner
from .errors import SessionClosedError
from .options import PROVIDER_NAME, ProviderConfig
from .tensors import ModelMetadata, NodeArg, dynamic_shape, ort_type_string

__all__ = ["RuntimeInfo", "SessionIntrospection"]


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


class SessionIntrospection:
    """The introspection half of :class:`~.session.InferenceSession` (see the module docstring).

    The session's constructor sets the three attributes below; this class only reads them.
    """

    _core: Optional[SessionCore]
    _config: ProviderConfig
    _sess_options: Any

    def _live(self) -> SessionCore:
        core = self._core
        if core is None or core.closed:
            raise SessionClosedError("this InferenceSession is closed")
        return core

    def _require_core(self) -> SessionCore:
        if self._core is None:
            raise SessionClosedError("this InferenceSession is not initialised")
        return self._core

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
