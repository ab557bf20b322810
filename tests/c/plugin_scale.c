/*
 * A custom-op plugin playing an independent vendor library: it knows nothing of the simulator and declares
 * the custom-op ABI itself (LP64 layouts of rknn-abi.md §3), so it checks that the runtime and the Python
 * loader agree with that ABI rather than with each other's headers.
 *
 * Op "cstScale" (override with -DOP_TYPE='"name"'): every output element e is SCALE * x0[e % n0] + BIAS,
 * computed on the float32 logical tensors the runtime passes to compute (data at virt_addr + offset).
 * Build variants for the loader tests:
 *   -DOP_TYPE='"..."'  another op type;   -DOP_VERSION=n  another version;
 *   -DSCALE=... -DBIAS=...                other arithmetic;
 *   -DRETURN_NULL      get_rknn_custom_op returns NULL;
 *   -DNO_SYMBOL        get_rknn_custom_op is not exported.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef OP_TYPE
#define OP_TYPE "cstScale"
#endif
#ifndef OP_VERSION
#define OP_VERSION 1
#endif
#ifndef SCALE
#define SCALE 2.0f
#endif
#ifndef BIAS
#define BIAS 1.0f
#endif

/* rknn_tensor_attr: 376 bytes */
typedef struct {
    uint32_t index;
    uint32_t n_dims;
    uint32_t dims[16];
    char name[256];
    uint32_t n_elems;
    uint32_t size;
    int32_t fmt;
    int32_t type;
    int32_t qnt_type;
    int8_t fl;
    int32_t zp;
    float scale;
    uint32_t w_stride;
    uint32_t size_with_stride;
    uint8_t pass_through;
    uint32_t h_stride;
} plug_tensor_attr;

/* rknn_tensor_mem: 40 bytes */
typedef struct {
    void *virt_addr;
    uint64_t phys_addr;
    int32_t fd;
    int32_t offset;
    uint32_t size;
    uint32_t flags;
    void *priv_data;
} plug_tensor_mem;

/* rknn_custom_op_tensor: 416 bytes */
typedef struct {
    plug_tensor_attr attr;
    plug_tensor_mem mem;
} plug_op_tensor;

/* rknn_custom_op_context: 48 bytes (gpu_ctx: three pointers) */
typedef struct {
    int32_t target;
    uint64_t internal_ctx;
    void *gpu_ctx[3];
    void *priv_data;
} plug_op_context;

typedef int (*plug_cb)(plug_op_context *, plug_op_tensor *, uint32_t, plug_op_tensor *, uint32_t);
typedef int (*plug_destroy_cb)(plug_op_context *);

/* rknn_custom_op: 832 bytes */
typedef struct {
    uint32_t version;
    int32_t target; /* 1 = CPU */
    char op_type[256];
    char cl_kernel_name[256];
    char *cl_kernel_source;
    uint64_t cl_source_size;
    char cl_build_options[256];
    plug_cb init;
    plug_cb prepare;
    plug_cb compute;
    plug_cb compute_native;
    plug_destroy_cb destroy;
} plug_custom_op;

_Static_assert(sizeof(plug_tensor_attr) == 376, "rknn_tensor_attr layout");
_Static_assert(sizeof(plug_tensor_mem) == 40, "rknn_tensor_mem layout");
_Static_assert(sizeof(plug_op_tensor) == 416, "rknn_custom_op_tensor layout");
_Static_assert(sizeof(plug_op_context) == 48, "rknn_custom_op_context layout");
_Static_assert(sizeof(plug_custom_op) == 832, "rknn_custom_op layout");
_Static_assert(offsetof(plug_custom_op, compute) == 808, "rknn_custom_op.compute offset");

static int scale_compute(plug_op_context *ctx, plug_op_tensor *inputs, uint32_t n_inputs, plug_op_tensor *outputs,
                         uint32_t n_outputs)
{
    (void)ctx;
    if (n_inputs < 1 || inputs[0].attr.type != 0 /* float32 */)
        return -1;
    const float *x = (const float *)((char *)inputs[0].mem.virt_addr + inputs[0].mem.offset);
    uint32_t n0 = inputs[0].attr.n_elems;
    if (n0 == 0)
        return -1;
    for (uint32_t j = 0; j < n_outputs; j++) {
        if (outputs[j].attr.type != 0)
            return -1;
        float *y = (float *)((char *)outputs[j].mem.virt_addr + outputs[j].mem.offset);
        for (uint32_t e = 0; e < outputs[j].attr.n_elems; e++)
            y[e] = SCALE * x[e % n0] + BIAS;
    }
    return 0;
}

static plug_custom_op the_op;

static plug_custom_op *make_op(void)
{
#ifdef RETURN_NULL
    (void)the_op;
    (void)scale_compute;
    return NULL;
#else
    memset(&the_op, 0, sizeof the_op);
    the_op.version = OP_VERSION;
    the_op.target = 1;
    strncpy(the_op.op_type, OP_TYPE, sizeof the_op.op_type - 1);
    the_op.compute = scale_compute;
    return &the_op;
#endif
}

#ifndef NO_SYMBOL
__attribute__((visibility("default"))) plug_custom_op *get_rknn_custom_op(void) { return make_op(); }
#else
/* Exported under another name: dlsym of get_rknn_custom_op must fail. */
__attribute__((visibility("default"))) plug_custom_op *get_some_other_op(void) { return make_op(); }
#endif
