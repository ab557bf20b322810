"""The RKNPU2 C ABI's structures and custom-op callback types (rknn-abi.md §3), C names unchanged.

One ``Structure`` per C typedef, with the LP64 size in a comment and ``TYPE_CHECKING`` annotations for
the fields.  Structures use natural alignment (never ``_pack_``): on x86-64 and aarch64 that reproduces
the C layouts, and on 32-bit ARM ctypes applies the EABI rules the same way the compiler does.
Re-exported by :mod:`._abi`.
"""
from __future__ import annotations

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
from typing import TYPE_CHECKING, Any, Optional, Tuple, Type

from ._abi_consts import (
    RKNN_MAX_DIMS,
    RKNN_MAX_DYNAMIC_SHAPE_NUM,
    RKNN_MAX_NAME_LEN,
    rknn_context,
    rknn_custom_op_interal_context,
)

if TYPE_CHECKING:
    from ctypes import Array

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
