"""Raw ctypes ABI of ``librknnrt.so`` (2.3.2 level): the function table and ``bind``, re-exporting the rest.

Names are the C names, unchanged.  This module holds the ``_FUNCDEFS`` table (one entry per
prototype, rknn-abi.md §2.1) that :func:`bind` applies to a loaded ``CDLL``, and re-exports every
declaration, so ``_abi.<C name>`` reaches all of them:

* :mod:`._abi_consts`: ``rknn_context``, limits, status codes, flags and enums (§4);
* :mod:`._abi_structs`: one ``Structure`` per C typedef and the custom-op callback types (§3).

Nothing here loads a library or applies policy; the facts come from ``rknn-abi.md``, written in this
project's own words.
"""
from __future__ import annotations

import ctypes
import logging
from ctypes import POINTER, c_char_p, c_int, c_int32, c_uint32, c_uint64, c_void_p
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, NamedTuple, Optional, Sequence, Tuple

from ._abi_consts import *  # noqa: F401,F403 - every declaration stays reachable as _abi.<C name>
from ._abi_consts import _is_32bit_arm  # noqa: F401 - tests check the handle-size rule
from ._abi_consts import rknn_context
from ._abi_structs import *  # noqa: F401,F403
from ._abi_structs import (
    rknn_custom_op,
    rknn_custom_op_attr,
    rknn_custom_op_context,
    rknn_init_extend,
    rknn_input,
    rknn_output,
    rknn_output_extend,
    rknn_run_extend,
    rknn_tensor_attr,
    rknn_tensor_mem,
)
from .errors import RknnNotSupportedError

if TYPE_CHECKING:
    from ctypes import _Pointer

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Function table
# ---------------------------------------------------------------------------------------------


class _FuncDef(NamedTuple):
    name: str
    argtypes: Tuple[Any, ...]
    restype: Any
    since: Optional[str] = None
    # False: exported by every librknnrt since 1.4 (missing means a broken or foreign library).
    # True: version- or variant-dependent (newer releases, or absent from the mini runtime).
    optional: bool = False


_ctx = rknn_context
_P = POINTER

_FUNCDEFS: Tuple[_FuncDef, ...] = (
    # int rknn_init(rknn_context *out_ctx, void *model_or_path, uint32_t size /* 0: model is a path */,
    #               uint32_t flags, rknn_init_extend *extend /* may be NULL */)
    _FuncDef("rknn_init", (_P(_ctx), c_void_p, c_uint32, c_uint32, _P(rknn_init_extend)), c_int, "1.0"),
    # int rknn_dup_context(rknn_context *source, rknn_context *out_ctx)
    _FuncDef("rknn_dup_context", (_P(_ctx), _P(_ctx)), c_int, "1.2"),
    # int rknn_destroy(rknn_context ctx)
    _FuncDef("rknn_destroy", (_ctx,), c_int, "1.0"),
    # int rknn_query(rknn_context ctx, rknn_query_cmd cmd, void *info_struct, uint32_t info_size)
    _FuncDef("rknn_query", (_ctx, c_int, c_void_p, c_uint32), c_int, "1.0"),
    # int rknn_inputs_set(rknn_context ctx, uint32_t n_inputs, rknn_input *inputs /* array */)
    _FuncDef("rknn_inputs_set", (_ctx, c_uint32, _P(rknn_input)), c_int, "1.0"),
    # int rknn_set_batch_core_num(rknn_context ctx, int core_num)
    _FuncDef("rknn_set_batch_core_num", (_ctx, c_int), c_int, "1.3", optional=True),
    # int rknn_set_core_mask(rknn_context ctx, rknn_core_mask mask)
    _FuncDef("rknn_set_core_mask", (_ctx, c_int), c_int, "1.2", optional=True),
    # int rknn_run(rknn_context ctx, rknn_run_extend *extend /* must be NULL */)
    _FuncDef("rknn_run", (_ctx, _P(rknn_run_extend)), c_int, "1.0"),
    # int rknn_wait(rknn_context ctx, rknn_run_extend *extend)   -- async mode, unimplemented everywhere
    _FuncDef("rknn_wait", (_ctx, _P(rknn_run_extend)), c_int, "1.0", optional=True),
    # int rknn_outputs_get(rknn_context ctx, uint32_t n_outputs, rknn_output *outputs /* array */,
    #                      rknn_output_extend *extend /* may be NULL */)
    _FuncDef("rknn_outputs_get", (_ctx, c_uint32, _P(rknn_output), _P(rknn_output_extend)), c_int, "1.0"),
    # int rknn_outputs_release(rknn_context ctx, uint32_t n_outputs, rknn_output *outputs /* array */)
    _FuncDef("rknn_outputs_release", (_ctx, c_uint32, _P(rknn_output)), c_int, "1.0"),
    # rknn_tensor_mem *rknn_create_mem_from_phys(rknn_context ctx, uint64_t phys, void *virt, uint32_t size)
    _FuncDef("rknn_create_mem_from_phys", (_ctx, c_uint64, c_void_p, c_uint32), _P(rknn_tensor_mem), "1.0"),
    # rknn_tensor_mem *rknn_create_mem_from_fd(rknn_context ctx, int32_t fd, void *virt /* mapping start */,
    #                                          uint32_t size, int32_t offset)
    _FuncDef(
        "rknn_create_mem_from_fd", (_ctx, c_int32, c_void_p, c_uint32, c_int32), _P(rknn_tensor_mem), "1.0"
    ),
    # rknn_create_mem_from_mb_blk is declared by the header but exported by no known library: not bound.
    # rknn_tensor_mem *rknn_create_mem(rknn_context ctx, uint32_t size)
    _FuncDef("rknn_create_mem", (_ctx, c_uint32), _P(rknn_tensor_mem), "1.0"),
    # rknn_tensor_mem *rknn_create_mem2(rknn_context ctx /* 0 with ALLOC_NO_CONTEXT */, uint64_t size,
    #                                   uint64_t alloc_flags)
    _FuncDef("rknn_create_mem2", (_ctx, c_uint64, c_uint64), _P(rknn_tensor_mem), "2.0.0b0", optional=True),
    # int rknn_destroy_mem(rknn_context ctx, rknn_tensor_mem *mem)   -- rknn_destory_mem before 1.3
    _FuncDef("rknn_destroy_mem", (_ctx, _P(rknn_tensor_mem)), c_int, "1.3"),
    # int rknn_set_weight_mem(rknn_context ctx, rknn_tensor_mem *mem)
    _FuncDef("rknn_set_weight_mem", (_ctx, _P(rknn_tensor_mem)), c_int, "1.0"),
    # int rknn_set_internal_mem(rknn_context ctx, rknn_tensor_mem *mem)
    _FuncDef("rknn_set_internal_mem", (_ctx, _P(rknn_tensor_mem)), c_int, "1.0"),
    # int rknn_set_io_mem(rknn_context ctx, rknn_tensor_mem *mem, rknn_tensor_attr *attr /* which tensor + layout */)
    _FuncDef("rknn_set_io_mem", (_ctx, _P(rknn_tensor_mem), _P(rknn_tensor_attr)), c_int, "1.0"),
    # int rknn_set_input_shape(rknn_context ctx, rknn_tensor_attr *attr)   -- deprecated one-input form
    _FuncDef("rknn_set_input_shape", (_ctx, _P(rknn_tensor_attr)), c_int, "1.5.0", optional=True),
    # int rknn_set_input_shapes(rknn_context ctx, uint32_t n_inputs, rknn_tensor_attr *attrs /* array */)
    _FuncDef("rknn_set_input_shapes", (_ctx, c_uint32, _P(rknn_tensor_attr)), c_int, "1.5.2", optional=True),
    # int rknn_mem_sync(rknn_context ctx, rknn_tensor_mem *mem, rknn_mem_sync_mode mode)
    _FuncDef("rknn_mem_sync", (_ctx, _P(rknn_tensor_mem), c_int), c_int, "1.6.0", optional=True),
    # int rknn_register_custom_ops(rknn_context ctx /* by value, whatever the manual says */,
    #                              rknn_custom_op *ops /* array */, uint32_t n_ops)
    _FuncDef(
        "rknn_register_custom_ops", (_ctx, _P(rknn_custom_op), c_uint32), c_int, "1.6.0", optional=True
    ),
    # void rknn_custom_op_get_op_attr(rknn_custom_op_context *op_ctx, const char *attr_name,
    #                                 rknn_custom_op_attr *out_attr)
    _FuncDef(
        "rknn_custom_op_get_op_attr",
        (_P(rknn_custom_op_context), c_char_p, _P(rknn_custom_op_attr)),
        None,
        "1.6.0",
        optional=True,
    ),
)

FUNCDEFS_BY_NAME: Dict[str, _FuncDef] = {f.name: f for f in _FUNCDEFS}

# ---------------------------------------------------------------------------------------------
# Binding
# ---------------------------------------------------------------------------------------------

_IntFn = Callable[..., int]
_MemFn = Callable[..., "_Pointer[rknn_tensor_mem]"]


class RknnApi:
    """The function table of one loaded library; every attribute is callable.

    A symbol the library does not export is a stub that raises :class:`RknnNotSupportedError` when
    called; ``missing`` lists those names and :meth:`has` tests for one.
    """

    rknn_init: _IntFn
    rknn_dup_context: _IntFn
    rknn_destroy: _IntFn
    rknn_query: _IntFn
    rknn_inputs_set: _IntFn
    rknn_set_batch_core_num: _IntFn
    rknn_set_core_mask: _IntFn
    rknn_run: _IntFn
    rknn_wait: _IntFn
    rknn_outputs_get: _IntFn
    rknn_outputs_release: _IntFn
    rknn_create_mem_from_phys: _MemFn
    rknn_create_mem_from_fd: _MemFn
    rknn_create_mem: _MemFn
    rknn_create_mem2: _MemFn
    rknn_destroy_mem: _IntFn
    rknn_set_weight_mem: _IntFn
    rknn_set_internal_mem: _IntFn
    rknn_set_io_mem: _IntFn
    rknn_set_input_shape: _IntFn
    rknn_set_input_shapes: _IntFn
    rknn_mem_sync: _IntFn
    rknn_register_custom_ops: _IntFn
    rknn_custom_op_get_op_attr: Callable[..., None]

    def __init__(self, library_name: str, missing: FrozenSet[str]) -> None:
        self.library_name = library_name
        self.missing = missing

    def has(self, name: str) -> bool:
        """True when the loaded library exports ``name`` (and it is in the table)."""
        return name in FUNCDEFS_BY_NAME and name not in self.missing

    def __repr__(self) -> str:
        return "<RknnApi {} ({} missing: {})>".format(
            self.library_name, len(self.missing), ", ".join(sorted(self.missing)) or "none"
        )


def _missing_stub(fdef: _FuncDef, library_name: str) -> Callable[..., Any]:
    def stub(*args: object) -> Any:
        raise RknnNotSupportedError(
            "{} is not exported by the loaded runtime library {} (it appeared in librknnrt {}; "
            "older runtimes and the RV1106-family mini runtime lack some functions)".format(
                fdef.name, library_name, fdef.since or "?"
            )
        )

    stub.__name__ = fdef.name
    stub.__qualname__ = fdef.name
    return stub


def bind(cdll: ctypes.CDLL, funcdefs: Sequence[_FuncDef] = _FUNCDEFS) -> RknnApi:
    """Resolve every function of ``funcdefs`` in ``cdll`` and set its ``argtypes``/``restype``.

    Never raises for a missing symbol: it becomes a stub raising :class:`RknnNotSupportedError`
    on call, because the exported set grows by version and differs between library variants.
    """
    library_name = str(getattr(cdll, "_name", None) or cdll)
    missing = []
    table: Dict[str, Any] = {}
    for fdef in funcdefs:
        try:
            # Item access builds a private function object, so setting argtypes here cannot
            # disturb another user of the same CDLL (attribute access would return a shared one).
            fn: Any = cdll[fdef.name]
        except AttributeError:
            missing.append(fdef.name)
            table[fdef.name] = _missing_stub(fdef, library_name)
            logger.log(
                logging.DEBUG if fdef.optional else logging.WARNING,
                "%s does not export %s (librknnrt %s+); calls to it will raise RknnNotSupportedError",
                library_name,
                fdef.name,
                fdef.since,
            )
            continue
        fn.argtypes = list(fdef.argtypes)
        fn.restype = fdef.restype
        table[fdef.name] = fn
    api = RknnApi(library_name, frozenset(missing))
    for name, fn_obj in table.items():
        setattr(api, name, fn_obj)
    return api
