"""Zero-copy inference: ``OrtValue``, ``IOBinding`` and the engine behind ``run_with_iobinding``.

Inputs are written once into NPU-visible memory and bound with ``rknn_set_io_mem``; a run then copies
nothing (no ``rknn_inputs_set``/``rknn_outputs_get``). The API follows ONNX Runtime and the peer
(peer-behavior.md §13), with its bugs fixed deliberately:

* the engine has **its own context** (made by the session's ``context_factory``) and a lock, so
  zero-copy runs never share a context with the copy-path workers (peer hazard §21.1-6);
* ``ortvalue_from_numpy`` with a float array for an affine/DFP-quantised integer input **quantises**
  with the input's scale/zero point, like ``rknn_inputs_set`` does (peer bug §21.1-11: a plain
  ``astype``). Other dtype changes must be value-preserving (``same_kind``), else a clear error.
  Zero-copy outputs stay in the model's native type (raw int8/float16, not dequantised), as in the peer;
* ``numpy()``/``update_inplace`` convert between the caller's NCHW/NHWC array and the bound native
  layout, including ``w_stride``/``h_stride`` padding and NC1HWC2 (peer bug §21.1-12);
* ``ortvalue_from_dmabuf`` honours ``offset`` for CPU access as well (peer bug §21.1-10). ``size`` and
  ``offset`` have ``rknn_create_mem_from_fd`` semantics: ``size`` bytes from the mapping start, data at
  ``offset`` (so ``size - offset`` bytes are usable);
* memory is freed exactly once whatever the drop order (see :mod:`._zc_memory`);
* a run binds (``rknn_set_io_mem``) and syncs (``rknn_mem_sync(TO_DEVICE)``) only what changed since the
  last run of the session: a port bound to the same buffer is not bound again, and an input the CPU cannot
  have written since its last sync is not synced again (the rule is in :mod:`._zc_engine`). Writing through
  ``data_ptr()``/``memory_info()["virt_addr"]`` or a dma-buf's own mapping is allowed: handing out the
  address marks the buffer for a sync before every run.

Memory: a session value is runtime memory (``rknn_create_mem``) of the engine's context; a value
without a session is a dma-buf (``/dev/dma_heap/system`` on boards, a ``memfd`` elsewhere). Either is
imported into another session's context with ``rknn_create_mem_from_fd`` when bound there, so an output
of one session can feed another session's input.

Limitations: zero copy binds the model's default shapes (dynamic-shape models use their first shape row);
``device_id``, the ``layout`` arguments and ``sync`` are accepted and ignored as in the peer.

This module is the public face of zero copy: it holds the contract above and re-exports the classes,
which live in private modules by responsibility: :mod:`._ortvalue` (``OrtValue``), :mod:`._iobinding`
(``IOBinding``), :mod:`._zc_engine` (``ZeroCopyEngine``: the context, binding and ``run``),
:mod:`._zc_ports` (the attributes each tensor is bound with), :mod:`._zc_checks` (the argument checks)
and :mod:`._zc_memory` (buffers and their lifetime).
"""
from __future__ import annotations

from ._iobinding import IOBinding, SessionIOBinding
from ._ortvalue import OrtValue
from ._zc_engine import ZeroCopyEngine

__all__ = ["IOBinding", "OrtValue", "SessionIOBinding", "ZeroCopyEngine"]
