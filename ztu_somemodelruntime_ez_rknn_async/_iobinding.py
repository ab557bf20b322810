"""``IOBinding``: the inputs and outputs one ``run_with_iobinding`` call uses.

A binding only collects :class:`~._ortvalue.OrtValue` objects per input and output name, after checking
each against the tensor it is bound to; the engine (:mod:`._zc_engine`) reads them when it runs, and
binds and syncs only what changed since its last run. Binding or clearing a port tells the engine to bind
that port again (:meth:`~._zc_engine.ZeroCopyEngine.forget_port`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ._ortvalue import OrtValue, engine_of, new_value
from ._zc_checks import (
    check_device_type,
    check_shape,
    check_type,
    layout_mismatch,
    native_mismatches,
    parse_element_type,
    parse_shape,
)
from ._zc_ports import Port
from .errors import InvalidArgumentError
from .options import parse_mem_flags

__all__ = ["IOBinding", "SessionIOBinding"]


class IOBinding:
    """Inputs and outputs bound to a session's zero-copy engine (``session.io_binding()``).

    Args:
        session: the ``InferenceSession`` (or its :class:`ZeroCopyEngine`).
    """

    def __init__(self, session: Any) -> None:
        self._engine = engine_of(session)
        self._inputs: Dict[str, OrtValue] = {}
        self._outputs: Dict[str, OrtValue] = {}  # insertion order = first-bind order
        self._cpu_outputs: Dict[str, bool] = {}

    def _check_too_small(self, port: Port, value: OrtValue) -> None:
        storage = value._require_storage()
        if storage.usable < port.nbytes:
            a = port.native
            raise InvalidArgumentError(
                "OrtValue buffer is too small for bound tensor: required {} bytes, got {} bytes (n_dims={}, fmt={}, "
                "size={}, size_with_stride={})".format(port.nbytes, storage.usable, a.n_dims, a.fmt, a.size,
                                                       a.size_with_stride))

    def bind_cpu_input(self, name: str, arr_on_cpu: Any) -> None:
        """Copy a CPU array into a new NPU buffer for input ``name`` (same dtype; no conversion) and bind it."""
        if not isinstance(arr_on_cpu, np.ndarray):
            raise TypeError("bind_cpu_input needs a numpy.ndarray, got {}".format(type(arr_on_cpu).__name__))
        port = self._engine.port("input", name)
        value = new_value(self._engine, port)
        value.update_inplace(arr_on_cpu)
        self._inputs[port.name] = value
        self._engine.forget_port(port)

    def bind_input(self, name: str, device_type: str, device_id: int, element_type: Any, shape: Any,
                   buffer_ptr: int) -> None:
        """Not supported: RKNN needs a dma-buf fd to import a buffer, a raw pointer is not enough."""
        raise NotImplementedError(
            "bind_input with raw buffer_ptr is not supported for RKNN device memory because RKNN zero-copy requires a "
            "dma-buf fd and a per-context rknn_create_mem_from_fd import. Use bind_cpu_input for CPU arrays, "
            "bind_ortvalue_input for RKNN OrtValue, or OrtValue.ortvalue_from_dmabuf for external dma-buf memory.")

    def bind_ortvalue_input(self, name: str, ortvalue: OrtValue) -> None:
        """Bind an RKNN value to input ``name`` after checking shape, type, native layout and size.

        The value then takes this input's native attribute, logical shape and type.

        Raises:
            InvalidArgumentError: a CPU value, an unknown name, or any mismatch (the message lists each field).
        """
        if not isinstance(ortvalue, OrtValue) or ortvalue._storage is None:
            raise InvalidArgumentError("bind_ortvalue_input requires an RKNN OrtValue")
        port = self._engine.port("input", name)
        context = "OrtValue for {}".format(port.label)
        check_shape(context, port.shape, ortvalue.shape())
        check_type(context, port.logical.type, ortvalue._elem_type)
        assert ortvalue._attr is not None
        items = native_mismatches(port.native, ortvalue._attr)
        if items:
            raise layout_mismatch(context, items)
        self._check_too_small(port, ortvalue)
        ortvalue._adopt(port)
        self._inputs[port.name] = ortvalue
        self._engine.forget_port(port)

    def bind_ortvalue_output(self, name: str, ortvalue: OrtValue) -> None:
        """Bind an RKNN value to output ``name`` (shape, type and size checked; it takes the native layout)."""
        if not isinstance(ortvalue, OrtValue) or ortvalue._storage is None:
            raise InvalidArgumentError("bind_ortvalue_output requires an RKNN OrtValue")
        port = self._engine.port("output", name)
        context = "OrtValue for {}".format(port.label)
        check_shape(context, port.shape, ortvalue.shape())
        check_type(context, port.logical.type, ortvalue._elem_type)
        self._check_too_small(port, ortvalue)
        ortvalue._adopt(port)
        self._outputs[port.name] = ortvalue
        self._engine.forget_port(port)

    def bind_output(self, name: str, device_type: str = "cpu", device_id: int = 0, element_type: Any = None,
                    shape: Any = None, buffer_ptr: Optional[int] = None, *, layout: str = "native",
                    mem_flags: Any = "cacheable") -> None:
        """Allocate an NPU buffer for output ``name`` and bind it (``device_type`` ``"cpu"`` is only recorded).

        Raises:
            InvalidArgumentError: a shape/type that does not match the output, bad mem_flags.
            NotImplementedError: ``buffer_ptr`` was given.
        """
        del device_id, layout
        rknn_type = parse_element_type(element_type) if element_type is not None else None
        dims = parse_shape(shape) if shape is not None else None
        flags = parse_mem_flags(mem_flags)
        if buffer_ptr is not None:
            raise NotImplementedError("bind_output with raw buffer_ptr is not implemented; use bind_ortvalue_output "
                                      "or let bind_output allocate an OrtValue")
        device = check_device_type(device_type)
        port = self._engine.port("output", name)
        context = "OrtValue for {}".format(port.label)
        if dims is not None:
            check_shape(context, port.shape, dims)
        if rknn_type is not None:
            check_type(context, port.logical.type, rknn_type)
        self._outputs[port.name] = new_value(self._engine, port, flags)
        self._cpu_outputs[port.name] = device == "cpu"
        self._engine.forget_port(port)

    def get_outputs(self) -> List[OrtValue]:
        """Bound output values in first-bind order."""
        return list(self._outputs.values())

    def copy_outputs_to_cpu(self) -> List[np.ndarray]:
        """``[v.numpy() for v in get_outputs()]``."""
        return [v.numpy() for v in self._outputs.values()]

    def clear_binding_inputs(self) -> None:
        """Forget every bound input (the next run binds each input again)."""
        self._inputs.clear()
        for port in self._engine.input_ports:
            self._engine.forget_port(port)

    def clear_binding_outputs(self) -> None:
        """Forget every bound output (and the first-bind order; the next run binds each output again)."""
        self._outputs.clear()
        self._cpu_outputs.clear()
        for port in self._engine.output_ports:
            self._engine.forget_port(port)

    def synchronize_inputs(self) -> None:
        """``sync_to_device()`` on each bound input."""
        for v in list(self._inputs.values()):
            v.sync_to_device()

    def synchronize_outputs(self) -> None:
        """``sync_from_device()`` on each bound output."""
        for v in list(self._outputs.values()):
            v.sync_from_device()

    def __repr__(self) -> str:
        return "<IOBinding inputs={} outputs={}>".format(list(self._inputs), list(self._outputs))


#: The peer's name for :class:`IOBinding`.
SessionIOBinding = IOBinding
