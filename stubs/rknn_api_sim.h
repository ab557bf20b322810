/*
 * The project's own declarations of the librknnrt C ABI, as used by the simulator.
 *
 * Written from the facts listed in shared/reference/rknn-abi.md (names, numeric values, field order,
 * sizes and offsets, 2.3.2 ABI, LP64).  No vendor header text is reproduced here.  Every struct size
 * and every field offset of rknn-abi.md section 3 is checked by a _Static_assert at the end of this file,
 * so a layout mistake breaks the build instead of a caller.
 */
#ifndef ZTU_RKNN_API_SIM_H
#define ZTU_RKNN_API_SIM_H

#include <stddef.h>
#include <stdint.h>

/* ---- basic types and limits (section 1) ---- */
#if defined(__arm__)
typedef uint32_t rknn_context;
typedef uint32_t rknn_custom_op_interal_context; /* (sic) "interal" is the ABI's spelling */
#else
typedef uint64_t rknn_context;
typedef uint64_t rknn_custom_op_interal_context;
#endif

#define RKNN_MAX_DIMS 16
#define RKNN_MAX_NUM_CHANNEL 15
#define RKNN_MAX_NAME_LEN 256
#define RKNN_MAX_DYNAMIC_SHAPE_NUM 512
#define RKNN_CUSTOM_OP_MAX_STR_LEN 64
#define RKNN_CUSTOM_OP_MAX_VALUE_LEN 32

/* ---- error codes (section 5) ---- */
#define RKNN_SUCC 0
#define RKNN_ERR_FAIL (-1)
#define RKNN_ERR_TIMEOUT (-2)
#define RKNN_ERR_DEVICE_UNAVAILABLE (-3)
#define RKNN_ERR_MALLOC_FAIL (-4)
#define RKNN_ERR_PARAM_INVALID (-5)
#define RKNN_ERR_MODEL_INVALID (-6)
#define RKNN_ERR_CTX_INVALID (-7)
#define RKNN_ERR_INPUT_INVALID (-8)
#define RKNN_ERR_OUTPUT_INVALID (-9)
#define RKNN_ERR_DEVICE_UNMATCH (-10)
#define RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL (-11)
#define RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION (-12)
#define RKNN_ERR_TARGET_PLATFORM_UNMATCH (-13)
#define RKNN_WARNING_SKIP_CUSTOM_OP_COMPUTE (-14)

/* ---- rknn_init flags (section 4.1) ---- */
#define RKNN_FLAG_PRIOR_HIGH 0x00000000u
#define RKNN_FLAG_PRIOR_MEDIUM 0x00000001u
#define RKNN_FLAG_PRIOR_LOW 0x00000002u
#define RKNN_FLAG_ASYNC_MASK 0x00000004u
#define RKNN_FLAG_COLLECT_PERF_MASK 0x00000008u
#define RKNN_FLAG_MEM_ALLOC_OUTSIDE 0x00000010u
#define RKNN_FLAG_SHARE_WEIGHT_MEM 0x00000020u
#define RKNN_FLAG_FENCE_IN_OUTSIDE 0x00000040u
#define RKNN_FLAG_FENCE_OUT_OUTSIDE 0x00000080u
#define RKNN_FLAG_COLLECT_MODEL_INFO_ONLY 0x00000100u
#define RKNN_FLAG_INTERNAL_ALLOC_OUTSIDE 0x00000200u
#define RKNN_FLAG_EXECUTE_FALLBACK_PRIOR_DEVICE_GPU 0x00000400u
#define RKNN_FLAG_ENABLE_SRAM 0x00000800u
#define RKNN_FLAG_SHARE_SRAM 0x00001000u
#define RKNN_FLAG_DISABLE_PROC_HIGH_PRIORITY 0x00002000u
#define RKNN_FLAG_DISABLE_FLUSH_INPUT_MEM_CACHE 0x00004000u
#define RKNN_FLAG_DISABLE_FLUSH_OUTPUT_MEM_CACHE 0x00008000u
#define RKNN_FLAG_MODEL_BUFFER_ZERO_COPY 0x00010000u
#define RKNN_MEM_FLAG_ALLOC_NO_CONTEXT 0x00020000u /* an alloc flag of rknn_create_mem2 */

/* ---- enums (section 4) ---- */
typedef enum _rknn_query_cmd {
    RKNN_QUERY_IN_OUT_NUM = 0,
    RKNN_QUERY_INPUT_ATTR = 1,
    RKNN_QUERY_OUTPUT_ATTR = 2,
    RKNN_QUERY_PERF_DETAIL = 3,
    RKNN_QUERY_PERF_RUN = 4,
    RKNN_QUERY_SDK_VERSION = 5,
    RKNN_QUERY_MEM_SIZE = 6,
    RKNN_QUERY_CUSTOM_STRING = 7,
    RKNN_QUERY_NATIVE_INPUT_ATTR = 8,
    RKNN_QUERY_NATIVE_OUTPUT_ATTR = 9,
    RKNN_QUERY_NATIVE_NC1HWC2_INPUT_ATTR = 8,
    RKNN_QUERY_NATIVE_NC1HWC2_OUTPUT_ATTR = 9,
    RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR = 10,
    RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR = 11,
    RKNN_QUERY_DEVICE_MEM_INFO = 12,
    RKNN_QUERY_INPUT_DYNAMIC_RANGE = 13,
    RKNN_QUERY_CURRENT_INPUT_ATTR = 14,
    RKNN_QUERY_CURRENT_OUTPUT_ATTR = 15,
    RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR = 16,
    RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR = 17,
    RKNN_QUERY_CMD_MAX
} rknn_query_cmd;

typedef enum _rknn_tensor_type {
    RKNN_TENSOR_FLOAT32 = 0,
    RKNN_TENSOR_FLOAT16 = 1,
    RKNN_TENSOR_INT8 = 2,
    RKNN_TENSOR_UINT8 = 3,
    RKNN_TENSOR_INT16 = 4,
    RKNN_TENSOR_UINT16 = 5,
    RKNN_TENSOR_INT32 = 6,
    RKNN_TENSOR_UINT32 = 7,
    RKNN_TENSOR_INT64 = 8,
    RKNN_TENSOR_BOOL = 9,
    RKNN_TENSOR_INT4 = 10,
    RKNN_TENSOR_BFLOAT16 = 11,
    RKNN_TENSOR_TYPE_MAX
} rknn_tensor_type;

typedef enum _rknn_tensor_qnt_type {
    RKNN_TENSOR_QNT_NONE = 0,
    RKNN_TENSOR_QNT_DFP = 1,
    RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC = 2,
    RKNN_TENSOR_QNT_MAX
} rknn_tensor_qnt_type;

typedef enum _rknn_tensor_format {
    RKNN_TENSOR_NCHW = 0,
    RKNN_TENSOR_NHWC = 1,
    RKNN_TENSOR_NC1HWC2 = 2,
    RKNN_TENSOR_UNDEFINED = 3,
    RKNN_TENSOR_FORMAT_MAX
} rknn_tensor_format;

typedef enum _rknn_core_mask {
    RKNN_NPU_CORE_AUTO = 0,
    RKNN_NPU_CORE_0 = 1,
    RKNN_NPU_CORE_1 = 2,
    RKNN_NPU_CORE_2 = 4,
    RKNN_NPU_CORE_0_1 = 3,
    RKNN_NPU_CORE_0_1_2 = 7,
    RKNN_NPU_CORE_ALL = 0xffff,
    RKNN_NPU_CORE_UNDEFINED
} rknn_core_mask;

typedef enum _rknn_tensor_mem_flags {
    RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE = 1,
    RKNN_TENSOR_MEMORY_FLAGS_FROM_FD = 2,
    RKNN_TENSOR_MEMORY_FLAGS_FROM_PHYS = 3,
    RKNN_TENSOR_MEMORY_FLAGS_UNKNOWN
} rknn_tensor_mem_flags;

typedef enum _rknn_mem_alloc_flags {
    RKNN_FLAG_MEMORY_FLAGS_DEFAULT = 0,
    RKNN_FLAG_MEMORY_CACHEABLE = 1,
    RKNN_FLAG_MEMORY_NON_CACHEABLE = 2,
    RKNN_FLAG_MEMORY_TRY_ALLOC_SRAM = 4
} rknn_mem_alloc_flags;

typedef enum _rknn_mem_sync_mode {
    RKNN_MEMORY_SYNC_TO_DEVICE = 1,
    RKNN_MEMORY_SYNC_FROM_DEVICE = 2,
    RKNN_MEMORY_SYNC_BIDIRECTIONAL = 3
} rknn_mem_sync_mode;

typedef enum _rknn_target_type {
    RKNN_TARGET_TYPE_CPU = 1,
    RKNN_TARGET_TYPE_GPU = 2,
    RKNN_TARGET_TYPE_MAX
} rknn_target_type;

/* ---- structs (section 3, LP64) ---- */
typedef struct _rknn_input_output_num {
    uint32_t n_input;
    uint32_t n_output;
} rknn_input_output_num;

typedef struct _rknn_tensor_attr {
    uint32_t index;
    uint32_t n_dims;
    uint32_t dims[RKNN_MAX_DIMS];
    char name[RKNN_MAX_NAME_LEN];
    uint32_t n_elems;
    uint32_t size;
    rknn_tensor_format fmt;
    rknn_tensor_type type;
    rknn_tensor_qnt_type qnt_type;
    int8_t fl;
    int32_t zp;
    float scale;
    uint32_t w_stride;
    uint32_t size_with_stride;
    uint8_t pass_through;
    uint32_t h_stride;
} rknn_tensor_attr;

typedef struct _rknn_input_range {
    uint32_t index;
    uint32_t shape_number;
    rknn_tensor_format fmt;
    char name[RKNN_MAX_NAME_LEN];
    uint32_t dyn_range[RKNN_MAX_DYNAMIC_SHAPE_NUM][RKNN_MAX_DIMS];
    uint32_t n_dims;
} rknn_input_range;

typedef struct _rknn_perf_detail {
    char *perf_data;
    uint64_t data_len;
} rknn_perf_detail;

typedef struct _rknn_perf_run {
    int64_t run_duration;
} rknn_perf_run;

typedef struct _rknn_sdk_version {
    char api_version[256];
    char drv_version[256];
} rknn_sdk_version;

typedef struct _rknn_mem_size {
    uint32_t total_weight_size;
    uint32_t total_internal_size;
    uint64_t total_dma_allocated_size;
    uint32_t total_sram_size;
    uint32_t free_sram_size;
    uint32_t reserved[10];
} rknn_mem_size;

typedef struct _rknn_custom_string {
    char string[1024];
} rknn_custom_string;

typedef struct _rknn_tensor_memory {
    void *virt_addr;
    uint64_t phys_addr;
    int32_t fd;
    int32_t offset;
    uint32_t size;
    uint32_t flags;
    void *priv_data;
} rknn_tensor_mem;

typedef struct _rknn_input {
    uint32_t index;
    void *buf;
    uint32_t size;
    uint8_t pass_through;
    rknn_tensor_type type;
    rknn_tensor_format fmt;
} rknn_input;

typedef struct _rknn_output {
    uint8_t want_float;
    uint8_t is_prealloc;
    uint32_t index;
    void *buf;
    uint32_t size;
} rknn_output;

typedef struct _rknn_init_extend {
    rknn_context ctx;
    int32_t real_model_offset;
    uint32_t real_model_size;
    int32_t model_buffer_fd;
    uint32_t model_buffer_flags;
    uint8_t reserved[112];
} rknn_init_extend;

typedef struct _rknn_run_extend {
    uint64_t frame_id;
    int32_t non_block;
    int32_t timeout_ms;
    int32_t fence_fd;
} rknn_run_extend;

typedef struct _rknn_output_extend {
    uint64_t frame_id;
} rknn_output_extend;

/* ---- custom-op structs ---- */
typedef struct _rknn_gpu_op_context {
    void *cl_context;
    void *cl_command_queue;
    void *cl_kernel;
} rknn_gpu_op_context;

typedef struct _rknn_custom_op_context {
    rknn_target_type target;
    rknn_custom_op_interal_context internal_ctx;
    rknn_gpu_op_context gpu_ctx;
    void *priv_data;
} rknn_custom_op_context;

typedef struct _rknn_custom_op_tensor {
    rknn_tensor_attr attr;
    rknn_tensor_mem mem;
} rknn_custom_op_tensor;

typedef struct _rknn_custom_op_attr {
    char name[RKNN_MAX_NAME_LEN];
    rknn_tensor_type dtype;
    uint32_t n_elems;
    void *data;
} rknn_custom_op_attr;

typedef int (*rknn_custom_op_callback)(rknn_custom_op_context *op_ctx, rknn_custom_op_tensor *inputs,
                                       uint32_t n_inputs, rknn_custom_op_tensor *outputs, uint32_t n_outputs);
typedef int (*rknn_custom_op_destroy_callback)(rknn_custom_op_context *op_ctx);

typedef struct _rknn_custom_op {
    uint32_t version;
    rknn_target_type target;
    char op_type[RKNN_MAX_NAME_LEN];
    char cl_kernel_name[RKNN_MAX_NAME_LEN];
    char *cl_kernel_source;
    uint64_t cl_source_size;
    char cl_build_options[RKNN_MAX_NAME_LEN];
    rknn_custom_op_callback init;
    rknn_custom_op_callback prepare;
    rknn_custom_op_callback compute;
    rknn_custom_op_callback compute_native;
    rknn_custom_op_destroy_callback destroy;
} rknn_custom_op;

typedef rknn_custom_op *(*get_custom_op_func)(void);

/* ---- exported functions (section 2.1; rknn_create_mem_from_mb_blk deliberately absent) ---- */
int rknn_init(rknn_context *context, void *model, uint32_t size, uint32_t flag, rknn_init_extend *extend);
int rknn_dup_context(rknn_context *context_in, rknn_context *context_out);
int rknn_destroy(rknn_context context);
int rknn_query(rknn_context context, rknn_query_cmd cmd, void *info, uint32_t size);
int rknn_inputs_set(rknn_context context, uint32_t n_inputs, rknn_input inputs[]);
int rknn_set_batch_core_num(rknn_context context, int core_num);
int rknn_set_core_mask(rknn_context context, rknn_core_mask core_mask);
int rknn_run(rknn_context context, rknn_run_extend *extend);
int rknn_wait(rknn_context context, rknn_run_extend *extend);
int rknn_outputs_get(rknn_context context, uint32_t n_outputs, rknn_output outputs[], rknn_output_extend *extend);
int rknn_outputs_release(rknn_context context, uint32_t n_outputs, rknn_output outputs[]);
rknn_tensor_mem *rknn_create_mem_from_phys(rknn_context ctx, uint64_t phys_addr, void *virt_addr, uint32_t size);
rknn_tensor_mem *rknn_create_mem_from_fd(rknn_context ctx, int32_t fd, void *virt_addr, uint32_t size, int32_t offset);
rknn_tensor_mem *rknn_create_mem(rknn_context ctx, uint32_t size);
rknn_tensor_mem *rknn_create_mem2(rknn_context ctx, uint64_t size, uint64_t alloc_flags);
int rknn_destroy_mem(rknn_context ctx, rknn_tensor_mem *mem);
int rknn_set_weight_mem(rknn_context ctx, rknn_tensor_mem *mem);
int rknn_set_internal_mem(rknn_context ctx, rknn_tensor_mem *mem);
int rknn_set_io_mem(rknn_context ctx, rknn_tensor_mem *mem, rknn_tensor_attr *attr);
int rknn_set_input_shape(rknn_context ctx, rknn_tensor_attr *attr);
int rknn_set_input_shapes(rknn_context ctx, uint32_t n_inputs, rknn_tensor_attr attr[]);
int rknn_mem_sync(rknn_context context, rknn_tensor_mem *mem, rknn_mem_sync_mode mode);
int rknn_register_custom_ops(rknn_context ctx, rknn_custom_op *op, uint32_t custom_op_num);
void rknn_custom_op_get_op_attr(rknn_custom_op_context *op_ctx, const char *attr_name, rknn_custom_op_attr *op_attr);

/* ---- layout checks against rknn-abi.md section 3 (LP64 targets) ---- */
#if !defined(__arm__)
#define RKNN_SIM_LAYOUT(type, field, off, sz)                                                               \
    _Static_assert(offsetof(type, field) == (off), #type "." #field " offset");                            \
    _Static_assert(sizeof(((type *)0)->field) == (sz), #type "." #field " size")

_Static_assert(sizeof(rknn_context) == 8, "rknn_context");
_Static_assert(sizeof(rknn_input_output_num) == 8, "rknn_input_output_num size");
RKNN_SIM_LAYOUT(rknn_input_output_num, n_input, 0, 4);
RKNN_SIM_LAYOUT(rknn_input_output_num, n_output, 4, 4);

_Static_assert(sizeof(rknn_tensor_attr) == 376, "rknn_tensor_attr size");
_Static_assert(_Alignof(rknn_tensor_attr) == 4, "rknn_tensor_attr align");
RKNN_SIM_LAYOUT(rknn_tensor_attr, index, 0, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, n_dims, 4, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, dims, 8, 64);
RKNN_SIM_LAYOUT(rknn_tensor_attr, name, 72, 256);
RKNN_SIM_LAYOUT(rknn_tensor_attr, n_elems, 328, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, size, 332, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, fmt, 336, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, type, 340, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, qnt_type, 344, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, fl, 348, 1);
RKNN_SIM_LAYOUT(rknn_tensor_attr, zp, 352, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, scale, 356, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, w_stride, 360, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, size_with_stride, 364, 4);
RKNN_SIM_LAYOUT(rknn_tensor_attr, pass_through, 368, 1);
RKNN_SIM_LAYOUT(rknn_tensor_attr, h_stride, 372, 4);

_Static_assert(sizeof(rknn_input_range) == 33040, "rknn_input_range size");
RKNN_SIM_LAYOUT(rknn_input_range, index, 0, 4);
RKNN_SIM_LAYOUT(rknn_input_range, shape_number, 4, 4);
RKNN_SIM_LAYOUT(rknn_input_range, fmt, 8, 4);
RKNN_SIM_LAYOUT(rknn_input_range, name, 12, 256);
RKNN_SIM_LAYOUT(rknn_input_range, dyn_range, 268, 32768);
RKNN_SIM_LAYOUT(rknn_input_range, n_dims, 33036, 4);

_Static_assert(sizeof(rknn_perf_detail) == 16, "rknn_perf_detail size");
RKNN_SIM_LAYOUT(rknn_perf_detail, perf_data, 0, 8);
RKNN_SIM_LAYOUT(rknn_perf_detail, data_len, 8, 8);

_Static_assert(sizeof(rknn_perf_run) == 8, "rknn_perf_run size");
RKNN_SIM_LAYOUT(rknn_perf_run, run_duration, 0, 8);

_Static_assert(sizeof(rknn_sdk_version) == 512, "rknn_sdk_version size");
RKNN_SIM_LAYOUT(rknn_sdk_version, api_version, 0, 256);
RKNN_SIM_LAYOUT(rknn_sdk_version, drv_version, 256, 256);

_Static_assert(sizeof(rknn_mem_size) == 64, "rknn_mem_size size");
RKNN_SIM_LAYOUT(rknn_mem_size, total_weight_size, 0, 4);
RKNN_SIM_LAYOUT(rknn_mem_size, total_internal_size, 4, 4);
RKNN_SIM_LAYOUT(rknn_mem_size, total_dma_allocated_size, 8, 8);
RKNN_SIM_LAYOUT(rknn_mem_size, total_sram_size, 16, 4);
RKNN_SIM_LAYOUT(rknn_mem_size, free_sram_size, 20, 4);
RKNN_SIM_LAYOUT(rknn_mem_size, reserved, 24, 40);

_Static_assert(sizeof(rknn_custom_string) == 1024, "rknn_custom_string size");
RKNN_SIM_LAYOUT(rknn_custom_string, string, 0, 1024);

_Static_assert(sizeof(rknn_tensor_mem) == 40, "rknn_tensor_mem size");
RKNN_SIM_LAYOUT(rknn_tensor_mem, virt_addr, 0, 8);
RKNN_SIM_LAYOUT(rknn_tensor_mem, phys_addr, 8, 8);
RKNN_SIM_LAYOUT(rknn_tensor_mem, fd, 16, 4);
RKNN_SIM_LAYOUT(rknn_tensor_mem, offset, 20, 4);
RKNN_SIM_LAYOUT(rknn_tensor_mem, size, 24, 4);
RKNN_SIM_LAYOUT(rknn_tensor_mem, flags, 28, 4);
RKNN_SIM_LAYOUT(rknn_tensor_mem, priv_data, 32, 8);

_Static_assert(sizeof(rknn_input) == 32, "rknn_input size");
RKNN_SIM_LAYOUT(rknn_input, index, 0, 4);
RKNN_SIM_LAYOUT(rknn_input, buf, 8, 8);
RKNN_SIM_LAYOUT(rknn_input, size, 16, 4);
RKNN_SIM_LAYOUT(rknn_input, pass_through, 20, 1);
RKNN_SIM_LAYOUT(rknn_input, type, 24, 4);
RKNN_SIM_LAYOUT(rknn_input, fmt, 28, 4);

_Static_assert(sizeof(rknn_output) == 24, "rknn_output size");
RKNN_SIM_LAYOUT(rknn_output, want_float, 0, 1);
RKNN_SIM_LAYOUT(rknn_output, is_prealloc, 1, 1);
RKNN_SIM_LAYOUT(rknn_output, index, 4, 4);
RKNN_SIM_LAYOUT(rknn_output, buf, 8, 8);
RKNN_SIM_LAYOUT(rknn_output, size, 16, 4);

_Static_assert(sizeof(rknn_init_extend) == 136, "rknn_init_extend size");
RKNN_SIM_LAYOUT(rknn_init_extend, ctx, 0, 8);
RKNN_SIM_LAYOUT(rknn_init_extend, real_model_offset, 8, 4);
RKNN_SIM_LAYOUT(rknn_init_extend, real_model_size, 12, 4);
RKNN_SIM_LAYOUT(rknn_init_extend, model_buffer_fd, 16, 4);
RKNN_SIM_LAYOUT(rknn_init_extend, model_buffer_flags, 20, 4);
RKNN_SIM_LAYOUT(rknn_init_extend, reserved, 24, 112);

_Static_assert(sizeof(rknn_run_extend) == 24, "rknn_run_extend size");
RKNN_SIM_LAYOUT(rknn_run_extend, frame_id, 0, 8);
RKNN_SIM_LAYOUT(rknn_run_extend, non_block, 8, 4);
RKNN_SIM_LAYOUT(rknn_run_extend, timeout_ms, 12, 4);
RKNN_SIM_LAYOUT(rknn_run_extend, fence_fd, 16, 4);

_Static_assert(sizeof(rknn_output_extend) == 8, "rknn_output_extend size");
RKNN_SIM_LAYOUT(rknn_output_extend, frame_id, 0, 8);

_Static_assert(sizeof(rknn_gpu_op_context) == 24, "rknn_gpu_op_context size");
RKNN_SIM_LAYOUT(rknn_gpu_op_context, cl_context, 0, 8);
RKNN_SIM_LAYOUT(rknn_gpu_op_context, cl_command_queue, 8, 8);
RKNN_SIM_LAYOUT(rknn_gpu_op_context, cl_kernel, 16, 8);

_Static_assert(sizeof(rknn_custom_op_context) == 48, "rknn_custom_op_context size");
RKNN_SIM_LAYOUT(rknn_custom_op_context, target, 0, 4);
RKNN_SIM_LAYOUT(rknn_custom_op_context, internal_ctx, 8, 8);
RKNN_SIM_LAYOUT(rknn_custom_op_context, gpu_ctx, 16, 24);
RKNN_SIM_LAYOUT(rknn_custom_op_context, priv_data, 40, 8);

_Static_assert(sizeof(rknn_custom_op_tensor) == 416, "rknn_custom_op_tensor size");
RKNN_SIM_LAYOUT(rknn_custom_op_tensor, attr, 0, 376);
RKNN_SIM_LAYOUT(rknn_custom_op_tensor, mem, 376, 40);

_Static_assert(sizeof(rknn_custom_op_attr) == 272, "rknn_custom_op_attr size");
RKNN_SIM_LAYOUT(rknn_custom_op_attr, name, 0, 256);
RKNN_SIM_LAYOUT(rknn_custom_op_attr, dtype, 256, 4);
RKNN_SIM_LAYOUT(rknn_custom_op_attr, n_elems, 260, 4);
RKNN_SIM_LAYOUT(rknn_custom_op_attr, data, 264, 8);

_Static_assert(sizeof(rknn_custom_op) == 832, "rknn_custom_op size");
RKNN_SIM_LAYOUT(rknn_custom_op, version, 0, 4);
RKNN_SIM_LAYOUT(rknn_custom_op, target, 4, 4);
RKNN_SIM_LAYOUT(rknn_custom_op, op_type, 8, 256);
RKNN_SIM_LAYOUT(rknn_custom_op, cl_kernel_name, 264, 256);
RKNN_SIM_LAYOUT(rknn_custom_op, cl_kernel_source, 520, 8);
RKNN_SIM_LAYOUT(rknn_custom_op, cl_source_size, 528, 8);
RKNN_SIM_LAYOUT(rknn_custom_op, cl_build_options, 536, 256);
RKNN_SIM_LAYOUT(rknn_custom_op, init, 792, 8);
RKNN_SIM_LAYOUT(rknn_custom_op, prepare, 800, 8);
RKNN_SIM_LAYOUT(rknn_custom_op, compute, 808, 8);
RKNN_SIM_LAYOUT(rknn_custom_op, compute_native, 816, 8);
RKNN_SIM_LAYOUT(rknn_custom_op, destroy, 824, 8);
#endif /* !__arm__ */

#endif /* ZTU_RKNN_API_SIM_H */
