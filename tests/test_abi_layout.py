"""The ctypes declarations in ``_abi`` against the ABI facts (rknn-abi.md §2.1, §3, §4) and the C side.

The expected numbers below are transcribed by hand from the reference, not computed from ``_abi``, so a
slip in either place shows up as a mismatch. The C cross-check asks the simulator, compiled by the C
compiler from its own declarations, for ``sizeof``/``offsetof`` of every struct and field.
"""
from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int, c_int32, c_uint32, c_uint64, c_void_p
from typing import Any, Dict, List, Optional, Tuple

import pytest

from ztu_somemodelruntime_ez_rknn_async import _abi

LP64 = ctypes.sizeof(c_void_p) == 8
needs_lp64 = pytest.mark.skipif(not LP64, reason="the transcribed layouts are the LP64 (x86-64/aarch64) ones")

# struct -> (sizeof, [(field, offset, size), ...]) from rknn-abi.md §3 (LP64).
LAYOUTS: Dict[str, Tuple[int, List[Tuple[str, int, int]]]] = {
    "rknn_input_output_num": (8, [("n_input", 0, 4), ("n_output", 4, 4)]),
    "rknn_tensor_attr": (376, [
        ("index", 0, 4), ("n_dims", 4, 4), ("dims", 8, 64), ("name", 72, 256), ("n_elems", 328, 4),
        ("size", 332, 4), ("fmt", 336, 4), ("type", 340, 4), ("qnt_type", 344, 4), ("fl", 348, 1),
        ("zp", 352, 4), ("scale", 356, 4), ("w_stride", 360, 4), ("size_with_stride", 364, 4),
        ("pass_through", 368, 1), ("h_stride", 372, 4),
    ]),
    "rknn_input_range": (33040, [
        ("index", 0, 4), ("shape_number", 4, 4), ("fmt", 8, 4), ("name", 12, 256), ("dyn_range", 268, 32768),
        ("n_dims", 33036, 4),
    ]),
    "rknn_perf_detail": (16, [("perf_data", 0, 8), ("data_len", 8, 8)]),
    "rknn_perf_run": (8, [("run_duration", 0, 8)]),
    "rknn_sdk_version": (512, [("api_version", 0, 256), ("drv_version", 256, 256)]),
    "rknn_mem_size": (64, [
        ("total_weight_size", 0, 4), ("total_internal_size", 4, 4), ("total_dma_allocated_size", 8, 8),
        ("total_sram_size", 16, 4), ("free_sram_size", 20, 4), ("reserved", 24, 40),
    ]),
    "rknn_custom_string": (1024, [("string", 0, 1024)]),
    "rknn_tensor_mem": (40, [
        ("virt_addr", 0, 8), ("phys_addr", 8, 8), ("fd", 16, 4), ("offset", 20, 4), ("size", 24, 4),
        ("flags", 28, 4), ("priv_data", 32, 8),
    ]),
    "rknn_input": (32, [
        ("index", 0, 4), ("buf", 8, 8), ("size", 16, 4), ("pass_through", 20, 1), ("type", 24, 4), ("fmt", 28, 4),
    ]),
    "rknn_output": (24, [
        ("want_float", 0, 1), ("is_prealloc", 1, 1), ("index", 4, 4), ("buf", 8, 8), ("size", 16, 4),
    ]),
    "rknn_init_extend": (136, [
        ("ctx", 0, 8), ("real_model_offset", 8, 4), ("real_model_size", 12, 4), ("model_buffer_fd", 16, 4),
        ("model_buffer_flags", 20, 4), ("reserved", 24, 112),
    ]),
    "rknn_run_extend": (24, [("frame_id", 0, 8), ("non_block", 8, 4), ("timeout_ms", 12, 4), ("fence_fd", 16, 4)]),
    "rknn_output_extend": (8, [("frame_id", 0, 8)]),
    "rknn_gpu_op_context": (24, [("cl_context", 0, 8), ("cl_command_queue", 8, 8), ("cl_kernel", 16, 8)]),
    "rknn_custom_op_context": (48, [("target", 0, 4), ("internal_ctx", 8, 8), ("gpu_ctx", 16, 24),
                                    ("priv_data", 40, 8)]),
    "rknn_custom_op_tensor": (416, [("attr", 0, 376), ("mem", 376, 40)]),
    "rknn_custom_op_attr": (272, [("name", 0, 256), ("dtype", 256, 4), ("n_elems", 260, 4), ("data", 264, 8)]),
    "rknn_custom_op": (832, [
        ("version", 0, 4), ("target", 4, 4), ("op_type", 8, 256), ("cl_kernel_name", 264, 256),
        ("cl_kernel_source", 520, 8), ("cl_source_size", 528, 8), ("cl_build_options", 536, 256),
        ("init", 792, 8), ("prepare", 800, 8), ("compute", 808, 8), ("compute_native", 816, 8), ("destroy", 824, 8),
    ]),
}

# Alignments (rknn-abi.md §3 headings); arrays of these structs are passed to C, so stride matters.
ALIGNMENTS = {
    "rknn_input_output_num": 4, "rknn_tensor_attr": 4, "rknn_input_range": 4, "rknn_perf_detail": 8,
    "rknn_perf_run": 8, "rknn_sdk_version": 1, "rknn_mem_size": 8, "rknn_custom_string": 1, "rknn_tensor_mem": 8,
    "rknn_input": 8, "rknn_output": 8, "rknn_init_extend": 8, "rknn_run_extend": 8, "rknn_output_extend": 8,
    "rknn_gpu_op_context": 8, "rknn_custom_op_context": 8, "rknn_custom_op_tensor": 8, "rknn_custom_op_attr": 8,
    "rknn_custom_op": 8,
}


def _struct(name: str) -> Any:
    return getattr(_abi, name)


def test_every_struct_is_covered() -> None:
    assert {s.__name__ for s in _abi.STRUCTS} == set(LAYOUTS)
    for s in _abi.STRUCTS:
        assert not getattr(s, "_pack_", 0), "{} must use natural alignment".format(s.__name__)


@needs_lp64
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_struct_layout_matches_reference(name: str) -> None:
    size, fields = LAYOUTS[name]
    struct = _struct(name)
    assert ctypes.sizeof(struct) == size
    assert ctypes.alignment(struct) == ALIGNMENTS[name]
    declared = [f[0] for f in struct._fields_]
    assert declared == [f for f, _, _ in fields], "field order differs"
    for field, offset, fsize in fields:
        descriptor = getattr(struct, field)
        assert (descriptor.offset, descriptor.size) == (offset, fsize), field


@needs_lp64
@pytest.mark.parametrize("name,stride", [("rknn_tensor_attr", 376), ("rknn_input", 32), ("rknn_output", 24)])
def test_array_strides(name: str, stride: int) -> None:
    array = (_struct(name) * 3)()
    assert ctypes.addressof(array[1]) - ctypes.addressof(array[0]) == stride


def test_handle_type() -> None:
    machine_is_arm32 = ctypes.sizeof(c_void_p) == 4 and _abi._is_32bit_arm()
    assert _abi.rknn_context is (c_uint32 if machine_is_arm32 else c_uint64)
    assert _abi.rknn_custom_op_interal_context is _abi.rknn_context


def test_32bit_arm_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "armv7l")
    assert _abi._is_32bit_arm() == (ctypes.sizeof(c_void_p) == 4)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert not _abi._is_32bit_arm()


# --------------------------------------------------------------------------------------------- C cross-check


@pytest.fixture(scope="module")
def struct_layout(sim_library: str) -> Any:
    cdll = ctypes.CDLL(sim_library)
    try:
        fn = cdll["rknn_sim_struct_layout"]
    except AttributeError:
        pytest.skip("the simulator does not export rknn_sim_struct_layout yet")
    fn.argtypes = [c_char_p, c_char_p, POINTER(c_uint32), POINTER(c_uint32)]
    fn.restype = c_int

    def query(type_name: str, field: Optional[str]) -> Tuple[int, int]:
        offset, size = c_uint32(0), c_uint32(0)
        ret = fn(type_name.encode(), field.encode() if field is not None else None, ctypes.byref(offset),
                 ctypes.byref(size))
        assert ret == 0, "simulator does not know {}.{} (ret {})".format(type_name, field, ret)
        return offset.value, size.value

    return query


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_struct_layout_matches_c(name: str, struct_layout: Any) -> None:
    struct = _struct(name)
    assert struct_layout(name, None)[1] == ctypes.sizeof(struct)
    for field, _ctype in [(f[0], f[1]) for f in struct._fields_]:
        descriptor = getattr(struct, field)
        assert struct_layout(name, field) == (descriptor.offset, descriptor.size), field


# --------------------------------------------------------------------------------------------- enums (§4)

ENUMS: Dict[str, Dict[str, int]] = {
    "rknn_query_cmd": {
        "RKNN_QUERY_IN_OUT_NUM": 0, "RKNN_QUERY_INPUT_ATTR": 1, "RKNN_QUERY_OUTPUT_ATTR": 2,
        "RKNN_QUERY_PERF_DETAIL": 3, "RKNN_QUERY_PERF_RUN": 4, "RKNN_QUERY_SDK_VERSION": 5,
        "RKNN_QUERY_MEM_SIZE": 6, "RKNN_QUERY_CUSTOM_STRING": 7, "RKNN_QUERY_NATIVE_INPUT_ATTR": 8,
        "RKNN_QUERY_NATIVE_NC1HWC2_INPUT_ATTR": 8, "RKNN_QUERY_NATIVE_OUTPUT_ATTR": 9,
        "RKNN_QUERY_NATIVE_NC1HWC2_OUTPUT_ATTR": 9, "RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR": 10,
        "RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR": 11, "RKNN_QUERY_DEVICE_MEM_INFO": 12,
        "RKNN_QUERY_INPUT_DYNAMIC_RANGE": 13, "RKNN_QUERY_CURRENT_INPUT_ATTR": 14,
        "RKNN_QUERY_CURRENT_OUTPUT_ATTR": 15, "RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR": 16,
        "RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR": 17, "RKNN_QUERY_CMD_MAX": 18,
    },
    "rknn_tensor_type": {
        "RKNN_TENSOR_FLOAT32": 0, "RKNN_TENSOR_FLOAT16": 1, "RKNN_TENSOR_INT8": 2, "RKNN_TENSOR_UINT8": 3,
        "RKNN_TENSOR_INT16": 4, "RKNN_TENSOR_UINT16": 5, "RKNN_TENSOR_INT32": 6, "RKNN_TENSOR_UINT32": 7,
        "RKNN_TENSOR_INT64": 8, "RKNN_TENSOR_BOOL": 9, "RKNN_TENSOR_INT4": 10, "RKNN_TENSOR_BFLOAT16": 11,
        "RKNN_TENSOR_TYPE_MAX": 12,
    },
    "rknn_tensor_qnt_type": {
        "RKNN_TENSOR_QNT_NONE": 0, "RKNN_TENSOR_QNT_DFP": 1, "RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC": 2,
        "RKNN_TENSOR_QNT_MAX": 3,
    },
    "rknn_tensor_format": {
        "RKNN_TENSOR_NCHW": 0, "RKNN_TENSOR_NHWC": 1, "RKNN_TENSOR_NC1HWC2": 2, "RKNN_TENSOR_UNDEFINED": 3,
        "RKNN_TENSOR_FORMAT_MAX": 4,
    },
    "rknn_core_mask": {
        "RKNN_NPU_CORE_AUTO": 0, "RKNN_NPU_CORE_0": 1, "RKNN_NPU_CORE_1": 2, "RKNN_NPU_CORE_2": 4,
        "RKNN_NPU_CORE_0_1": 3, "RKNN_NPU_CORE_0_1_2": 7, "RKNN_NPU_CORE_ALL": 0xFFFF,
        "RKNN_NPU_CORE_UNDEFINED": 0x10000,
    },
    "rknn_tensor_mem_flags": {
        "RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE": 1, "RKNN_TENSOR_MEMORY_FLAGS_FROM_FD": 2,
        "RKNN_TENSOR_MEMORY_FLAGS_FROM_PHYS": 3, "RKNN_TENSOR_MEMORY_FLAGS_UNKNOWN": 4,
    },
    "rknn_mem_alloc_flags": {
        "RKNN_FLAG_MEMORY_FLAGS_DEFAULT": 0, "RKNN_FLAG_MEMORY_CACHEABLE": 1, "RKNN_FLAG_MEMORY_NON_CACHEABLE": 2,
        "RKNN_FLAG_MEMORY_TRY_ALLOC_SRAM": 4,
    },
    "rknn_mem_sync_mode": {
        "RKNN_MEMORY_SYNC_TO_DEVICE": 1, "RKNN_MEMORY_SYNC_FROM_DEVICE": 2, "RKNN_MEMORY_SYNC_BIDIRECTIONAL": 3,
    },
    "rknn_target_type": {"RKNN_TARGET_TYPE_CPU": 1, "RKNN_TARGET_TYPE_GPU": 2, "RKNN_TARGET_TYPE_MAX": 3},
}

CONSTANTS: Dict[str, int] = {
    "RKNN_MAX_DIMS": 16, "RKNN_MAX_NUM_CHANNEL": 15, "RKNN_MAX_NAME_LEN": 256, "RKNN_MAX_DYNAMIC_SHAPE_NUM": 512,
    "RKNN_CUSTOM_OP_MAX_STR_LEN": 64, "RKNN_CUSTOM_OP_MAX_VALUE_LEN": 32,
    "RKNN_FLAG_PRIOR_HIGH": 0x0, "RKNN_FLAG_PRIOR_MEDIUM": 0x1, "RKNN_FLAG_PRIOR_LOW": 0x2,
    "RKNN_FLAG_ASYNC_MASK": 0x4, "RKNN_FLAG_COLLECT_PERF_MASK": 0x8, "RKNN_FLAG_MEM_ALLOC_OUTSIDE": 0x10,
    "RKNN_FLAG_SHARE_WEIGHT_MEM": 0x20, "RKNN_FLAG_FENCE_IN_OUTSIDE": 0x40, "RKNN_FLAG_FENCE_OUT_OUTSIDE": 0x80,
    "RKNN_FLAG_COLLECT_MODEL_INFO_ONLY": 0x100, "RKNN_FLAG_INTERNAL_ALLOC_OUTSIDE": 0x200,
    "RKNN_FLAG_EXECUTE_FALLBACK_PRIOR_DEVICE_GPU": 0x400, "RKNN_FLAG_ENABLE_SRAM": 0x800,
    "RKNN_FLAG_SHARE_SRAM": 0x1000, "RKNN_FLAG_DISABLE_PROC_HIGH_PRIORITY": 0x2000,
    "RKNN_FLAG_DISABLE_FLUSH_INPUT_MEM_CACHE": 0x4000, "RKNN_FLAG_DISABLE_FLUSH_OUTPUT_MEM_CACHE": 0x8000,
    "RKNN_FLAG_MODEL_BUFFER_ZERO_COPY": 0x10000, "RKNN_MEM_FLAG_ALLOC_NO_CONTEXT": 0x20000,
    "RKNN_SUCC": 0, "RKNN_ERR_FAIL": -1, "RKNN_ERR_TIMEOUT": -2, "RKNN_ERR_DEVICE_UNAVAILABLE": -3,
    "RKNN_ERR_MALLOC_FAIL": -4, "RKNN_ERR_PARAM_INVALID": -5, "RKNN_ERR_MODEL_INVALID": -6,
    "RKNN_ERR_CTX_INVALID": -7, "RKNN_ERR_INPUT_INVALID": -8, "RKNN_ERR_OUTPUT_INVALID": -9,
    "RKNN_ERR_DEVICE_UNMATCH": -10, "RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL": -11,
    "RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION": -12, "RKNN_ERR_TARGET_PLATFORM_UNMATCH": -13,
    "RKNN_WARNING_SKIP_CUSTOM_OP_COMPUTE": -14,
}


@pytest.mark.parametrize("enum_name", sorted(ENUMS))
def test_enum_values(enum_name: str) -> None:
    enum_cls = getattr(_abi, enum_name)
    expected = ENUMS[enum_name]
    assert {name: int(member) for name, member in enum_cls.__members__.items()} == expected
    for name, value in expected.items():
        assert getattr(_abi, name) == value, name  # flat C-style name too


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_constants(name: str) -> None:
    assert getattr(_abi, name) == CONSTANTS[name]


def test_errors_module_agrees_with_abi_codes() -> None:
    from ztu_somemodelruntime_ez_rknn_async.errors import RKNN_ERROR_NAMES

    for code, name in RKNN_ERROR_NAMES.items():
        assert getattr(_abi, name) == code


# --------------------------------------------------------------------------------------------- functions (§2.1)

CTX = _abi.rknn_context
P = POINTER
# name -> (argtypes, restype, since), transcribed from rknn-abi.md §2.1.
FUNCTIONS: Dict[str, Tuple[Tuple[Any, ...], Any, str]] = {
    "rknn_init": ((P(CTX), c_void_p, c_uint32, c_uint32, P(_abi.rknn_init_extend)), c_int, "1.0"),
    "rknn_dup_context": ((P(CTX), P(CTX)), c_int, "1.2"),
    "rknn_destroy": ((CTX,), c_int, "1.0"),
    "rknn_query": ((CTX, c_int, c_void_p, c_uint32), c_int, "1.0"),
    "rknn_inputs_set": ((CTX, c_uint32, P(_abi.rknn_input)), c_int, "1.0"),
    "rknn_set_batch_core_num": ((CTX, c_int), c_int, "1.3"),
    "rknn_set_core_mask": ((CTX, c_int), c_int, "1.2"),
    "rknn_run": ((CTX, P(_abi.rknn_run_extend)), c_int, "1.0"),
    "rknn_wait": ((CTX, P(_abi.rknn_run_extend)), c_int, "1.0"),
    "rknn_outputs_get": ((CTX, c_uint32, P(_abi.rknn_output), P(_abi.rknn_output_extend)), c_int, "1.0"),
    "rknn_outputs_release": ((CTX, c_uint32, P(_abi.rknn_output)), c_int, "1.0"),
    "rknn_create_mem_from_phys": ((CTX, c_uint64, c_void_p, c_uint32), P(_abi.rknn_tensor_mem), "1.0"),
    "rknn_create_mem_from_fd": ((CTX, c_int32, c_void_p, c_uint32, c_int32), P(_abi.rknn_tensor_mem), "1.0"),
    "rknn_create_mem": ((CTX, c_uint32), P(_abi.rknn_tensor_mem), "1.0"),
    "rknn_create_mem2": ((CTX, c_uint64, c_uint64), P(_abi.rknn_tensor_mem), "2.0.0b0"),
    "rknn_destroy_mem": ((CTX, P(_abi.rknn_tensor_mem)), c_int, "1.3"),
    "rknn_set_weight_mem": ((CTX, P(_abi.rknn_tensor_mem)), c_int, "1.0"),
    "rknn_set_internal_mem": ((CTX, P(_abi.rknn_tensor_mem)), c_int, "1.0"),
    "rknn_set_io_mem": ((CTX, P(_abi.rknn_tensor_mem), P(_abi.rknn_tensor_attr)), c_int, "1.0"),
    "rknn_set_input_shape": ((CTX, P(_abi.rknn_tensor_attr)), c_int, "1.5.0"),
    "rknn_set_input_shapes": ((CTX, c_uint32, P(_abi.rknn_tensor_attr)), c_int, "1.5.2"),
    "rknn_mem_sync": ((CTX, P(_abi.rknn_tensor_mem), c_int), c_int, "1.6.0"),
    "rknn_register_custom_ops": ((CTX, P(_abi.rknn_custom_op), c_uint32), c_int, "1.6.0"),
    "rknn_custom_op_get_op_attr": (
        (P(_abi.rknn_custom_op_context), c_char_p, P(_abi.rknn_custom_op_attr)), None, "1.6.0"),
}


def test_function_table_is_complete() -> None:
    assert [f.name for f in _abi._FUNCDEFS] == list(FUNCTIONS)
    # Declared by the header but exported by no known library (rknn-abi.md §2.2).
    assert "rknn_create_mem_from_mb_blk" not in _abi.FUNCDEFS_BY_NAME


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_function_signature(name: str) -> None:
    argtypes, restype, since = FUNCTIONS[name]
    fdef = _abi.FUNCDEFS_BY_NAME[name]
    assert fdef.argtypes == argtypes
    assert fdef.restype is restype if restype is None else fdef.restype == restype
    assert fdef.since == since


def test_custom_op_callback_types() -> None:
    cb = _abi.rknn_custom_op_callback
    assert cb._restype_ is c_int
    assert tuple(cb._argtypes_) == (P(_abi.rknn_custom_op_context), P(_abi.rknn_custom_op_tensor), c_uint32,
                             P(_abi.rknn_custom_op_tensor), c_uint32)
    assert tuple(_abi.rknn_custom_op_destroy_callback._argtypes_) == (P(_abi.rknn_custom_op_context),)
    assert _abi.get_custom_op_func._restype_ == P(_abi.rknn_custom_op)
    assert tuple(_abi.get_custom_op_func._argtypes_) == ()


def test_bind_sets_argtypes_on_the_simulator(sim_library: str) -> None:
    cdll = ctypes.CDLL(sim_library)
    api = _abi.bind(cdll)
    for name, (argtypes, restype, _since) in FUNCTIONS.items():
        fn = getattr(api, name)
        if name in api.missing:
            continue
        assert tuple(fn.argtypes) == argtypes, name
        assert fn.restype == restype, name
    # The simulator exports the whole §2.1 set.
    assert api.missing == frozenset()
    # Binding must not disturb other users of the same CDLL object.
    assert cdll.rknn_init.argtypes is None
