"""The RKNPU2 C ABI's basic types, limits, status codes, flags and enums (rknn-abi.md §4), C names unchanged.

The enums are ``IntEnum`` classes named like the C typedefs, and every enumerator is also available
under its flat C name (``RKNN_QUERY_IN_OUT_NUM``, ...).  Re-exported by :mod:`._abi`.
"""
from __future__ import annotations

import ctypes
import enum
import platform
from ctypes import c_uint32, c_uint64, c_void_p
from typing import Dict, Type

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
