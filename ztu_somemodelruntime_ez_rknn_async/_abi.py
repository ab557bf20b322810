"""Raw ctypes declarations of the RKNPU2 runtime C ABI (``librknnrt.so``, 2.3.2 level).

Names are the C names, unchanged: constants and enums, ``rknn_context``, one ``Structure`` per C
typedef, the custom-op callback types, and the ``_FUNCDEFS`` table that :func:`bind` applies to a
loaded ``CDLL``. Nothing here loads a library or applies policy; the facts come from
``rknn-abi.md`` (§2.1 prototypes, §3 layouts, §4 enums), written in this project's own words.

Structures use natural alignment (never ``_pack_``): on x86-64 and aarch64 that reproduces the
C layouts, and on 32-bit ARM ctypes applies the EABI rules the same way the compiler does.
"""
from __future__ import annotations

import ctypes
import enum
import logging
import platform
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_float,
    c_int,
    c_int8,
    c_int32,
    c_int64,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, NamedTuple, Optional, Sequence, Tuple, Type

from .errors import RknnNotSupportedError

if TYPE_CHECKING:
    from ctypes import Array, _Pointer

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Basic types and limits
# ---------------------------------------------------------------------------------------------


def _is_32bit_arm() -> bool:
    # The header switches rknn_context to uint32_t only under __arm__ (32-bit ARM); an aarch64
    # kernel running a 32-bit userland reports "aarch64" from uname, so the pointer size decides.
    machine = platform.machine().lower()
    return ctypes.sizeof(c_void_p) == 4 and (machine.startswith("arm") or machine.startswith("aarch64"))


# The handle type; also rknn_custom_op_interal_context (sic), which follows the same rule.
rknn_context: Type[c_uint64] | Type[c_uint32] = c_uint32 if _is_32bit_arm() else c_uint64
rknn_custom_op_interal_context = rknn_context

RKNN_MAX_DIMS = 16
RKNN_MAX_NUM_CHANNEL = 15
RKNN_MAX_NAME_LEN = 256
RKNN_MAX_DYNAMIC_SHAPE_NUM = 512
RKNN_CUSTOM_OP_MAX_STR_LEN = 64
RKNN_CUSTOM_OP_MAX_VALUE_LEN = 32

# ---------------------------------------------------------------------------------------------
# Status codes (#defines in C)
# ---------------------------------------------------------------------------------------------

RKNN_SUCC = 0
RKNN_ERR_FAIL = -1
RKNN_ERR_TIMEOUT = -2
RKNN_ERR_DEVICE_UNAVAILABLE = -3
RKNN_ERR_MALLOC_FAIL = -4
RKNN_ERR_PARAM_INVALID = -5
RKNN_ERR_MODEL_INVALID = -6
RKNN_ERR_CTX_INVALID = -7
RKNN_ERR_INPUT_INVALID = -8
RKNN_ERR_OUTPUT_INVALID = -9
RKNN_ERR_DEVICE_UNMATCH = -10
RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL = -11
RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION = -12
RKNN_ERR_TARGET_PLATFORM_UNMATCH = -13
# Not an API error: a custom op's init callback returns it to ask for the built-in implementation.
RKNN_WARNING_SKIP_CUSTOM_OP_COMPUTE = -14

# ---------------------------------------------------------------------------------------------
# rknn_init flags (uint32_t); PRIOR_* form a 2-bit value field, the rest are bits
# ---------------------------------------------------------------------------------------------

RKNN_FLAG_PRIOR_HIGH = 0x0
RKNN_FLAG_PRIOR_MEDIUM = 0x1
RKNN_FLAG_PRIOR_LOW = 0x2
RKNN_FLAG_ASYNC_MASK = 0x4
RKNN_FLAG_COLLECT_PERF_MASK = 0x8
RKNN_FLAG_MEM_ALLOC_OUTSIDE = 0x10
RKNN_FLAG_SHARE_WEIGHT_MEM = 0x20
RKNN_FLAG_FENCE_IN_OUTSIDE = 0x40
RKNN_FLAG_FENCE_OUT_OUTSIDE = 0x80
RKNN_FLAG_COLLECT_MODEL_INFO_ONLY = 0x100
RKNN_FLAG_INTERNAL_ALLOC_OUTSIDE = 0x200
RKNN_FLAG_EXECUTE_FALLBACK_PRIOR_DEVICE_GPU = 0x400
RKNN_FLAG_ENABLE_SRAM = 0x800
RKNN_FLAG_SHARE_SRAM = 0x1000
RKNN_FLAG_DISABLE_PROC_HIGH_PRIORITY = 0x2000
RKNN_FLAG_DISABLE_FLUSH_INPUT_MEM_CACHE = 0x4000
RKNN_FLAG_DISABLE_FLUSH_OUTPUT_MEM_CACHE = 0x8000
RKNN_FLAG_MODEL_BUFFER_ZERO_COPY = 0x10000
# Defined among the init flags in C, but it is an allocation flag for rknn_create_mem2.
RKNN_MEM_FLAG_ALLOC_NO_CONTEXT = 0x20000

# ---------------------------------------------------------------------------------------------
# Enums (4-byte C enums; passed as c_int)
# ---------------------------------------------------------------------------------------------


class rknn_query_cmd(enum.IntEnum):
    RKNN_QUERY_IN_OUT_NUM = 0
    RKNN_QUERY_INPUT_ATTR = 1
    RKNN_QUERY_OUTPUT_ATTR = 2
    RKNN_QUERY_PERF_DETAIL = 3
    RKNN_QUERY_PERF_RUN = 4
    RKNN_QUERY_SDK_VERSION = 5
    RKNN_QUERY_MEM_SIZE = 6
    RKNN_QUERY_CUSTOM_STRING = 7
    RKNN_QUERY_NATIVE_INPUT_ATTR = 8
    RKNN_QUERY_NATIVE_OUTPUT_ATTR = 9
    # Aliases: the same commands under their older, layout-specific names.
    RKNN_QUERY_NATIVE_NC1HWC2_INPUT_ATTR = 8
    RKNN_QUERY_NATIVE_NC1HWC2_OUTPUT_ATTR = 9
    RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR = 10
    RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR = 11
    RKNN_QUERY_DEVICE_MEM_INFO = 12
    RKNN_QUERY_INPUT_DYNAMIC_RANGE = 13
    RKNN_QUERY_CURRENT_INPUT_ATTR = 14
    RKNN_QUERY_CURRENT_OUTPUT_ATTR = 15
    RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR = 16
    RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR = 17
    # *_MAX values move between releases; never persist them or use them as sentinels.
    RKNN_QUERY_CMD_MAX = 18


class rknn_tensor_type(enum.IntEnum):
    RKNN_TENSOR_FLOAT32 = 0
    RKNN_TENSOR_FLOAT16 = 1
    RKNN_TENSOR_INT8 = 2
    RKNN_TENSOR_UINT8 = 3
    RKNN_TENSOR_INT16 = 4
    RKNN_TENSOR_UINT16 = 5
    RKNN_TENSOR_INT32 = 6
    RKNN_TENSOR_UINT32 = 7
    RKNN_TENSOR_INT64 = 8
    RKNN_TENSOR_BOOL = 9
    RKNN_TENSOR_INT4 = 10
    RKNN_TENSOR_BFLOAT16 = 11
    RKNN_TENSOR_TYPE_MAX = 12


class rknn_tensor_qnt_type(enum.IntEnum):
    RKNN_TENSOR_QNT_NONE = 0
    RKNN_TENSOR_QNT_DFP = 1
    RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC = 2
    RKNN_TENSOR_QNT_MAX = 3


class rknn_tensor_format(enum.IntEnum):
    RKNN_TENSOR_NCHW = 0
    RKNN_TENSOR_NHWC = 1
    RKNN_TENSOR_NC1HWC2 = 2
    RKNN_TENSOR_UNDEFINED = 3
    RKNN_TENSOR_FORMAT_MAX = 4


class rknn_core_mask(enum.IntEnum):
    RKNN_NPU_CORE_AUTO = 0
    RKNN_NPU_CORE_0 = 1
    RKNN_NPU_CORE_1 = 2
    RKNN_NPU_CORE_2 = 4
    RKNN_NPU_CORE_0_1 = 3
    RKNN_NPU_CORE_0_1_2 = 7
    RKNN_NPU_CORE_ALL = 0xFFFF
    # 8 before 2.0.0b0, when CORE_ALL was inserted before it.
    RKNN_NPU_CORE_UNDEFINED = 0x10000


class rknn_tensor_mem_flags(enum.IntEnum):
    """Values, not bits; informational only."""

    RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE = 1
    RKNN_TENSOR_MEMORY_FLAGS_FROM_FD = 2
    RKNN_TENSOR_MEMORY_FLAGS_FROM_PHYS = 3
    RKNN_TENSOR_MEMORY_FLAGS_UNKNOWN = 4


class rknn_mem_alloc_flags(enum.IntEnum):
    """For rknn_create_mem2; may be OR-ed with RKNN_MEM_FLAG_ALLOC_NO_CONTEXT."""

    RKNN_FLAG_MEMORY_FLAGS_DEFAULT = 0
    RKNN_FLAG_MEMORY_CACHEABLE = 1
    RKNN_FLAG_MEMORY_NON_CACHEABLE = 2
    RKNN_FLAG_MEMORY_TRY_ALLOC_SRAM = 4


class rknn_mem_sync_mode(enum.IntEnum):
    RKNN_MEMORY_SYNC_TO_DEVICE = 0x1
    RKNN_MEMORY_SYNC_FROM_DEVICE = 0x2
    RKNN_MEMORY_SYNC_BIDIRECTIONAL = 0x3


class rknn_target_type(enum.IntEnum):
    RKNN_TARGET_TYPE_CPU = 1
    RKNN_TARGET_TYPE_GPU = 2
    RKNN_TARGET_TYPE_MAX = 3


# Flat C-style names for every enumerator (aliases included), as the header spells them.
def _export_enumerators(*enums: Type[enum.IntEnum]) -> Dict[str, enum.IntEnum]:
    out: Dict[str, enum.IntEnum] = {}
    for e in enums:
        for name, member in e.__members__.items():
            out[name] = member
    return out


_ENUMERATORS = _export_enumerators(
    rknn_query_cmd,
    rknn_tensor_type,
    rknn_tensor_qnt_type,
    rknn_tensor_format,
    rknn_core_mask,
    rknn_tensor_mem_flags,
    rknn_mem_alloc_flags,
    rknn_mem_sync_mode,
    rknn_target_type,
)

RKNN_QUERY_IN_OUT_NUM = rknn_query_cmd.RKNN_QUERY_IN_OUT_NUM
RKNN_QUERY_INPUT_ATTR = rknn_query_cmd.RKNN_QUERY_INPUT_ATTR
RKNN_QUERY_OUTPUT_ATTR = rknn_query_cmd.RKNN_QUERY_OUTPUT_ATTR
RKNN_QUERY_PERF_DETAIL = rknn_query_cmd.RKNN_QUERY_PERF_DETAIL
RKNN_QUERY_PERF_RUN = rknn_query_cmd.RKNN_QUERY_PERF_RUN
RKNN_QUERY_SDK_VERSION = rknn_query_cmd.RKNN_QUERY_SDK_VERSION
RKNN_QUERY_MEM_SIZE = rknn_query_cmd.RKNN_QUERY_MEM_SIZE
RKNN_QUERY_CUSTOM_STRING = rknn_query_cmd.RKNN_QUERY_CUSTOM_STRING
RKNN_QUERY_NATIVE_INPUT_ATTR = rknn_query_cmd.RKNN_QUERY_NATIVE_INPUT_ATTR
RKNN_QUERY_NATIVE_OUTPUT_ATTR = rknn_query_cmd.RKNN_QUERY_NATIVE_OUTPUT_ATTR
RKNN_QUERY_NATIVE_NC1HWC2_INPUT_ATTR = rknn_query_cmd.RKNN_QUERY_NATIVE_NC1HWC2_INPUT_ATTR
RKNN_QUERY_NATIVE_NC1HWC2_OUTPUT_ATTR = rknn_query_cmd.RKNN_QUERY_NATIVE_NC1HWC2_OUTPUT_ATTR
RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR = rknn_query_cmd.RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR
RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR = rknn_query_cmd.RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR
RKNN_QUERY_DEVICE_MEM_INFO = rknn_query_cmd.RKNN_QUERY_DEVICE_MEM_INFO
RKNN_QUERY_INPUT_DYNAMIC_RANGE = rknn_query_cmd.RKNN_QUERY_INPUT_DYNAMIC_RANGE
RKNN_QUERY_CURRENT_INPUT_ATTR = rknn_query_cmd.RKNN_QUERY_CURRENT_INPUT_ATTR
RKNN_QUERY_CURRENT_OUTPUT_ATTR = rknn_query_cmd.RKNN_QUERY_CURRENT_OUTPUT_ATTR
RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR = rknn_query_cmd.RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR
RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR = rknn_query_cmd.RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR
RKNN_QUERY_CMD_MAX = rknn_query_cmd.RKNN_QUERY_CMD_MAX

RKNN_TENSOR_FLOAT32 = rknn_tensor_type.RKNN_TENSOR_FLOAT32
RKNN_TENSOR_FLOAT16 = rknn_tensor_type.RKNN_TENSOR_FLOAT16
RKNN_TENSOR_INT8 = rknn_tensor_type.RKNN_TENSOR_INT8
RKNN_TENSOR_UINT8 = rknn_tensor_type.RKNN_TENSOR_UINT8
RKNN_TENSOR_INT16 = rknn_tensor_type.RKNN_TENSOR_INT16
RKNN_TENSOR_UINT16 = rknn_tensor_type.RKNN_TENSOR_UINT16
RKNN_TENSOR_INT32 = rknn_tensor_type.RKNN_TENSOR_INT32
RKNN_TENSOR_UINT32 = rknn_tensor_type.RKNN_TENSOR_UINT32
RKNN_TENSOR_INT64 = rknn_tensor_type.RKNN_TENSOR_INT64
RKNN_TENSOR_BOOL = rknn_tensor_type.RKNN_TENSOR_BOOL
RKNN_TENSOR_INT4 = rknn_tensor_type.RKNN_TENSOR_INT4
RKNN_TENSOR_BFLOAT16 = rknn_tensor_type.RKNN_TENSOR_BFLOAT16
RKNN_TENSOR_TYPE_MAX = rknn_tensor_type.RKNN_TENSOR_TYPE_MAX

RKNN_TENSOR_QNT_NONE = rknn_tensor_qnt_type.RKNN_TENSOR_QNT_NONE
RKNN_TENSOR_QNT_DFP = rknn_tensor_qnt_type.RKNN_TENSOR_QNT_DFP
RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC = rknn_tensor_qnt_type.RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC
RKNN_TENSOR_QNT_MAX = rknn_tensor_qnt_type.RKNN_TENSOR_QNT_MAX

RKNN_TENSOR_NCHW = rknn_tensor_format.RKNN_TENSOR_NCHW
RKNN_TENSOR_NHWC = rknn_tensor_format.RKNN_TENSOR_NHWC
RKNN_TENSOR_NC1HWC2 = rknn_tensor_format.RKNN_TENSOR_NC1HWC2
RKNN_TENSOR_UNDEFINED = rknn_tensor_format.RKNN_TENSOR_UNDEFINED
RKNN_TENSOR_FORMAT_MAX = rknn_tensor_format.RKNN_TENSOR_FORMAT_MAX

RKNN_NPU_CORE_AUTO = rknn_core_mask.RKNN_NPU_CORE_AUTO
RKNN_NPU_CORE_0 = rknn_core_mask.RKNN_NPU_CORE_0
RKNN_NPU_CORE_1 = rknn_core_mask.RKNN_NPU_CORE_1
RKNN_NPU_CORE_2 = rknn_core_mask.RKNN_NPU_CORE_2
RKNN_NPU_CORE_0_1 = rknn_core_mask.RKNN_NPU_CORE_0_1
RKNN_NPU_CORE_0_1_2 = rknn_core_mask.RKNN_NPU_CORE_0_1_2
RKNN_NPU_CORE_ALL = rknn_core_mask.RKNN_NPU_CORE_ALL
RKNN_NPU_CORE_UNDEFINED = rknn_core_mask.RKNN_NPU_CORE_UNDEFINED

RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE = rknn_tensor_mem_flags.RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE
RKNN_TENSOR_MEMORY_FLAGS_FROM_FD = rknn_tensor_mem_flags.RKNN_TENSOR_MEMORY_FLAGS_FROM_FD
RKNN_TENSOR_MEMORY_FLAGS_FROM_PHYS = rknn_tensor_mem_flags.RKNN_TENSOR_MEMORY_FLAGS_FROM_PHYS
RKNN_TENSOR_MEMORY_FLAGS_UNKNOWN = rknn_tensor_mem_flags.RKNN_TENSOR_MEMORY_FLAGS_UNKNOWN

RKNN_FLAG_MEMORY_FLAGS_DEFAULT = rknn_mem_alloc_flags.RKNN_FLAG_MEMORY_FLAGS_DEFAULT
RKNN_FLAG_MEMORY_CACHEABLE = rknn_mem_alloc_flags.RKNN_FLAG_MEMORY_CACHEABLE
RKNN_FLAG_MEMORY_NON_CACHEABLE = rknn_mem_alloc_flags.RKNN_FLAG_MEMORY_NON_CACHEABLE
RKNN_FLAG_MEMORY_TRY_ALLOC_SRAM = rknn_mem_alloc_flags.RKNN_FLAG_MEMORY_TRY_ALLOC_SRAM

RKNN_MEMORY_SYNC_TO_DEVICE = rknn_mem_sync_mode.RKNN_MEMORY_SYNC_TO_DEVICE
RKNN_MEMORY_SYNC_FROM_DEVICE = rknn_mem_sync_mode.RKNN_MEMORY_SYNC_FROM_DEVICE
RKNN_MEMORY_SYNC_BIDIRECTIONAL = rknn_mem_sync_mode.RKNN_MEMORY_SYNC_BIDIRECTIONAL

RKNN_TARGET_TYPE_CPU = rknn_target_type.RKNN_TARGET_TYPE_CPU
RKNN_TARGET_TYPE_GPU = rknn_target_type.RKNN_TARGET_TYPE_GPU
RKNN_TARGET_TYPE_MAX = rknn_target_type.RKNN_TARGET_TYPE_MAX

# Bytes per element; INT4 is packed two per byte with an undocumented packing, so rely on `size`.
RKNN_TENSOR_TYPE_ELEMENT_SIZE: Dict[int, float] = {
    RKNN_TENSOR_FLOAT32: 4,
    RKNN_TENSOR_FLOAT16: 2,
    RKNN_TENSOR_INT8: 1,
    RKNN_TENSOR_UINT8: 1,
    RKNN_TENSOR_INT16: 2,
    RKNN_TENSOR_UINT16: 2,
    RKNN_TENSOR_INT32: 4,
    RKNN_TENSOR_UINT32: 4,
    RKNN_TENSOR_INT64: 8,
    RKNN_TENSOR_BOOL: 1,
    RKNN_TENSOR_INT4: 0.5,
    RKNN_TENSOR_BFLOAT16: 2,
}

# ---------------------------------------------------------------------------------------------
# Structures (rknn-abi.md §3; LP64 sizes in the comments)
# ---------------------------------------------------------------------------------------------


class rknn_input_output_num(Structure):  # 8 bytes
    _fields_ = [
        ("n_input", c_uint32),
        ("n_output", c_uint32),
    ]
    if TYPE_CHECKING:
        n_input: int
        n_output: int


class rknn_tensor_attr(Structure):  # 376 bytes; 372 with pre-1.3 headers (no h_stride)
    _fields_ = [
        ("index", c_uint32),
        ("n_dims", c_uint32),
        ("dims", c_uint32 * RKNN_MAX_DIMS),
        ("name", c_char * RKNN_MAX_NAME_LEN),
        ("n_elems", c_uint32),
        ("size", c_uint32),
        ("fmt", c_int),
        ("type", c_int),
        ("qnt_type", c_int),
        ("fl", c_int8),
        ("zp", c_int32),
        ("scale", c_float),
        ("w_stride", c_uint32),
        ("size_with_stride", c_uint32),
        ("pass_through", c_uint8),
        ("h_stride", c_uint32),
    ]
    if TYPE_CHECKING:
        index: int
        n_dims: int
        dims: Array[c_uint32]
        name: bytes  # ctypes reads a char[] field up to its first NUL
        n_elems: int
        size: int
        fmt: int
        type: int
        qnt_type: int
        fl: int
        zp: int
        scale: float
        w_stride: int
        size_with_stride: int
        pass_through: int
        h_stride: int


class rknn_input_range(Structure):  # 33040 bytes
    _fields_ = [
        ("index", c_uint32),
        ("shape_number", c_uint32),
        ("fmt", c_int),
        ("name", c_char * RKNN_MAX_NAME_LEN),
        ("dyn_range", (c_uint32 * RKNN_MAX_DIMS) * RKNN_MAX_DYNAMIC_SHAPE_NUM),
        ("n_dims", c_uint32),
    ]
    if TYPE_CHECKING:
        index: int
        shape_number: int
        fmt: int
        name: bytes
        dyn_range: Array[Array[c_uint32]]
        n_dims: int


class rknn_perf_detail(Structure):  # 16 bytes; perf_data is owned by the runtime
    _fields_ = [
        ("perf_data", c_void_p),
        ("data_len", c_uint64),
    ]
    if TYPE_CHECKING:
        perf_data: Optional[int]
        data_len: int


class rknn_perf_run(Structure):  # 8 bytes
    _fields_ = [
        ("run_duration", c_int64),
    ]
    if TYPE_CHECKING:
        run_duration: int


class rknn_sdk_version(Structure):  # 512 bytes
    _fields_ = [
        ("api_version", c_char * 256),
        ("drv_version", c_char * 256),
    ]
    if TYPE_CHECKING:
        api_version: bytes
        drv_version: bytes


class rknn_mem_size(Structure):  # 64 bytes (8 before 1.4.0)
    _fields_ = [
        ("total_weight_size", c_uint32),
        ("total_internal_size", c_uint32),
        ("total_dma_allocated_size", c_uint64),
        ("total_sram_size", c_uint32),
        ("free_sram_size", c_uint32),
        ("reserved", c_uint32 * 10),
    ]
    if TYPE_CHECKING:
        total_weight_size: int
        total_internal_size: int
        total_dma_allocated_size: int
        total_sram_size: int
        free_sram_size: int
        reserved: Array[c_uint32]


class rknn_custom_string(Structure):  # 1024 bytes
    _fields_ = [
        ("string", c_char * 1024),
    ]
    if TYPE_CHECKING:
        string: bytes


class rknn_tensor_mem(Structure):  # 40 bytes; C struct tag _rknn_tensor_memory
    _fields_ = [
        ("virt_addr", c_void_p),
        ("phys_addr", c_uint64),
        ("fd", c_int32),
        ("offset", c_int32),
        ("size", c_uint32),
        ("flags", c_uint32),
        ("priv_data", c_void_p),
    ]
    if TYPE_CHECKING:
        virt_addr: Optional[int]
        phys_addr: int
        fd: int
        offset: int
        size: int
        flags: int
        priv_data: Optional[int]


class rknn_input(Structure):  # 32 bytes
    _fields_ = [
        ("index", c_uint32),
        ("buf", c_void_p),
        ("size", c_uint32),
        ("pass_through", c_uint8),
        ("type", c_int),
        ("fmt", c_int),
    ]
    if TYPE_CHECKING:
        index: int
        buf: Optional[int]
        size: int
        pass_through: int
        type: int
        fmt: int


class rknn_output(Structure):  # 24 bytes
    _fields_ = [
        ("want_float", c_uint8),
        ("is_prealloc", c_uint8),
        ("index", c_uint32),
        ("buf", c_void_p),
        ("size", c_uint32),
    ]
    if TYPE_CHECKING:
        want_float: int
        is_prealloc: int
        index: int
        buf: Optional[int]
        size: int


class rknn_init_extend(Structure):  # 136 bytes since 1.2.0; new fields were carved out of reserved
    _fields_ = [
        ("ctx", rknn_context),
        ("real_model_offset", c_int32),
        ("real_model_size", c_uint32),
        ("model_buffer_fd", c_int32),
        ("model_buffer_flags", c_uint32),
        ("reserved", c_uint8 * 112),
    ]
    if TYPE_CHECKING:
        ctx: int
        real_model_offset: int
        real_model_size: int
        model_buffer_fd: int
        model_buffer_flags: int
        reserved: Array[c_uint8]


class rknn_run_extend(Structure):  # 24 bytes; the async fields are unimplemented by Rockchip
    _fields_ = [
        ("frame_id", c_uint64),
        ("non_block", c_int32),
        ("timeout_ms", c_int32),
        ("fence_fd", c_int32),
    ]
    if TYPE_CHECKING:
        frame_id: int
        non_block: int
        timeout_ms: int
        fence_fd: int


class rknn_output_extend(Structure):  # 8 bytes
    _fields_ = [
        ("frame_id", c_uint64),
    ]
    if TYPE_CHECKING:
        frame_id: int


# --- custom-op header (1.6.0+) ---


class rknn_gpu_op_context(Structure):  # 24 bytes; OpenCL handles as opaque pointers
    _fields_ = [
        ("cl_context", c_void_p),
        ("cl_command_queue", c_void_p),
        ("cl_kernel", c_void_p),
    ]
    if TYPE_CHECKING:
        cl_context: Optional[int]
        cl_command_queue: Optional[int]
        cl_kernel: Optional[int]


class rknn_custom_op_context(Structure):  # 48 bytes
    _fields_ = [
        ("target", c_int),
        ("internal_ctx", rknn_custom_op_interal_context),
        ("gpu_ctx", rknn_gpu_op_context),
        ("priv_data", c_void_p),
    ]
    if TYPE_CHECKING:
        target: int
        internal_ctx: int
        gpu_ctx: rknn_gpu_op_context
        priv_data: Optional[int]


class rknn_custom_op_tensor(Structure):  # 416 bytes
    _fields_ = [
        ("attr", rknn_tensor_attr),
        ("mem", rknn_tensor_mem),
    ]
    if TYPE_CHECKING:
        attr: rknn_tensor_attr
        mem: rknn_tensor_mem


class rknn_custom_op_attr(Structure):  # 272 bytes; data is owned by the runtime
    _fields_ = [
        ("name", c_char * RKNN_MAX_NAME_LEN),
        ("dtype", c_int),
        ("n_elems", c_uint32),
        ("data", c_void_p),
    ]
    if TYPE_CHECKING:
        name: bytes
        dtype: int
        n_elems: int
        data: Optional[int]


# int (*)(rknn_custom_op_context *op_ctx, rknn_custom_op_tensor *inputs, uint32_t n_inputs,
#         rknn_custom_op_tensor *outputs, uint32_t n_outputs)   -- init / prepare / compute / compute_native
rknn_custom_op_callback = CFUNCTYPE(
    c_int, POINTER(rknn_custom_op_context), POINTER(rknn_custom_op_tensor), c_uint32,
    POINTER(rknn_custom_op_tensor), c_uint32,
)
# int (*)(rknn_custom_op_context *op_ctx)   -- destroy
rknn_custom_op_destroy_callback = CFUNCTYPE(c_int, POINTER(rknn_custom_op_context))


class rknn_custom_op(Structure):  # 832 bytes; callback objects must outlive every context using them
    _fields_ = [
        ("version", c_uint32),
        ("target", c_int),
        ("op_type", c_char * RKNN_MAX_NAME_LEN),
        ("cl_kernel_name", c_char * RKNN_MAX_NAME_LEN),
        ("cl_kernel_source", c_char_p),
        ("cl_source_size", c_uint64),
        ("cl_build_options", c_char * RKNN_MAX_NAME_LEN),
        ("init", rknn_custom_op_callback),
        ("prepare", rknn_custom_op_callback),
        ("compute", rknn_custom_op_callback),
        ("compute_native", rknn_custom_op_callback),
        ("destroy", rknn_custom_op_destroy_callback),
    ]
    if TYPE_CHECKING:
        version: int
        target: int
        op_type: bytes
        cl_kernel_name: bytes
        cl_kernel_source: Optional[bytes]
        cl_source_size: int
        cl_build_options: bytes
        init: Any
        prepare: Any
        compute: Any
        compute_native: Any
        destroy: Any


# rknn_custom_op *get_rknn_custom_op(void)   -- exported by plugin libraries (librkcst_*.so), not librknnrt
get_custom_op_func = CFUNCTYPE(POINTER(rknn_custom_op))

STRUCTS: Tuple[Type[Structure], ...] = (
    rknn_input_output_num,
    rknn_tensor_attr,
    rknn_input_range,
    rknn_perf_detail,
    rknn_perf_run,
    rknn_sdk_version,
    rknn_mem_size,
    rknn_custom_string,
    rknn_tensor_mem,
    rknn_input,
    rknn_output,
    rknn_init_extend,
    rknn_run_extend,
    rknn_output_extend,
    rknn_gpu_op_context,
    rknn_custom_op_context,
    rknn_custom_op_tensor,
    rknn_custom_op_attr,
    rknn_custom_op,
)

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
