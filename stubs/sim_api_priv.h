/*
 * Private state shared by sim_api.c (contexts, queries), sim_io.c (inputs, outputs, zero copy, run, shapes),
 * sim_custom_op.c (custom ops) and sim_mem.c (memory objects).
 * Nothing here is exported from librknnrt.so (every cross-file function is hidden).
 */
#ifndef ZTU_SIM_API_PRIV_H
#define ZTU_SIM_API_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "rknn_api_sim.h"
#include "sim_compute.h"
#include "sim_internal.h"

/* A memory object handed out by rknn_create_mem*.  `pub` is first so the public pointer is the object. */
typedef struct sim_mem {
    rknn_tensor_mem pub;
    uint64_t serial;          /* never reused: detects a stale binding to a freed-and-reallocated struct */
    int inside;               /* buffer allocated by the simulator (freed by rknn_destroy_mem) */
    int no_context;           /* rknn_create_mem2 with RKNN_MEM_FLAG_ALLOC_NO_CONTEXT */
    void *map_base;           /* mapping to munmap (inside memfd or a mapping made for an fd import) */
    size_t map_len;
    void *heap;               /* calloc fallback when memfd is not available */
    int own_fd;               /* fd to close at destroy (the memfd of inside memory), else -1 */
    struct sim_mem *next;
} sim_mem;

/* Global registry of live memory objects (sim_mem.c). */
SIM_HIDDEN void sim_mem_lock(void);
SIM_HIDDEN void sim_mem_unlock(void);
/* With the lock held: the live object for `pub` (and `serial`, unless serial is 0), or NULL. */
SIM_HIDDEN sim_mem *sim_mem_find_locked(const rknn_tensor_mem *pub, uint64_t serial);
/* Bytes usable from virt_addr + offset (size - offset, 0 when offset is out of range). */
SIM_HIDDEN uint64_t sim_mem_available(const rknn_tensor_mem *pub);

/* Context access.  sim_ctx_enter marks the context "in a call" (a second thread entering any call on the
 * same context gets RKNN_ERR_FAIL and a violation); sim_ctx_leave clears it. */
struct sim_ctx;
SIM_HIDDEN int sim_ctx_enter(rknn_context handle, struct sim_ctx **out);
SIM_HIDDEN void sim_ctx_leave(struct sim_ctx *c);
/* rknn_set_weight_mem / rknn_set_internal_mem bookkeeping (ctx entered; sim_io.c). */
SIM_HIDDEN int sim_ctx_set_model_mem(struct sim_ctx *c, sim_mem *m, int weights);

/* Logging of plain errors when RKNN_SIM_LOG is set (misuse goes through sim_violation). */
SIM_HIDDEN void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));


/* ------------------------------------------------------------------------------------------------------ */
/* Contexts (sim_api.c), shared with sim_io.c and sim_custom_op.c                                          */

/* A model shared between contexts (rknn_dup_context) and weight-sharing slaves. */
typedef struct shared_model {
    sim_model m;
    atomic_int refs;         /* contexts using it + weight-sharing slaves referring to it */
    atomic_int n_ctx;        /* contexts running this model (init + dups) */
    atomic_int weight_users; /* contexts whose weights come from this model (SHARE_WEIGHT_MEM) */
} shared_model;

enum { MODE_NONE = 0, MODE_INPUTS_SET = 1, MODE_IO_MEM = 2 }; /* how a context's inputs were given */
enum { FORM_LOGICAL = 0, FORM_NHWC = 1, FORM_NC1HWC2 = 2 };   /* buffer layouts */

typedef struct binding {
    rknn_tensor_mem *mem;     /* NULL = not bound */
    uint64_t serial;
    int32_t type;             /* buffer element type */
    int form;                 /* FORM_* */
    int pass_through;         /* inputs: buffer already in the model type (native) */
    uint32_t w_stride;        /* NHWC row pitch in pixels (0 = W) */
    uint32_t h_stride;        /* NHWC rows per image (0 = H), multi-batch padding */
    uint32_t c1, c2;          /* NC1HWC2 */
    uint64_t bytes;           /* bytes the buffer must hold */
} binding;

typedef struct reg_op {
    rknn_custom_op op;
    rknn_custom_op_context octx;
    int builtin;              /* init returned RKNN_WARNING_SKIP_CUSTOM_OP_COMPUTE: sum rule instead */
} reg_op;

typedef struct sim_ctx {
    rknn_context handle;
    atomic_int in_call;
    shared_model *sm;
    shared_model *weights_src;    /* master's model for SHARE_WEIGHT_MEM contexts */
    uint32_t flags;
    int32_t core_mask;
    int batch_core_num;
    uint32_t shape_row;           /* current row of a dynamic-shape model */
    int input_mode;               /* MODE_* of the last input call */
    int inputs_ready;             /* rknn_inputs_set succeeded for the current shapes */
    void **in_held;               /* per input: model type, logical order, current shape */
    void **out_held;              /* per output, after a run */
    int have_run;
    binding *in_bind, *out_bind;
    reg_op *ops;
    uint32_t n_ops;
    void **allocs;                /* output buffers malloc'ed by rknn_outputs_get, not yet released */
    size_t n_allocs, cap_allocs;
    int64_t perf_run_us;
    char perf_text[256];
    uint64_t weight_mem_serial, internal_mem_serial;
    struct sim_ctx *next;
} sim_ctx;

/* Enters `h` for the exported function `func`; evaluates to the error to return. */
#define ENTER(func, h, cvar)                                                                                    \
    do {                                                                                                        \
        int enter_rc_ = sim_enter(func);                                                                        \
        if (enter_rc_ != SIM_OK)                                                                                \
            return enter_rc_;                                                                                   \
        enter_rc_ = sim_ctx_enter((h), &(cvar));                                                                \
        if (enter_rc_ != SIM_OK)                                                                                \
            return enter_rc_;                                                                                   \
    } while (0)

static inline int model_dynamic(const sim_model *m) { return m->n_inputs > 0 && m->inputs[0].n_shapes > 0; }
static inline const sim_model *M(const sim_ctx *c) { return &c->sm->m; }

/* Current logical dims of input i / output j. */
static inline const uint32_t *in_dims(const sim_ctx *c, uint32_t i)
{
    const sim_tensor *t = &M(c)->inputs[i];
    return t->n_shapes > 0 ? t->shapes[c->shape_row < t->n_shapes ? c->shape_row : 0] : t->dims;
}

static inline const uint32_t *out_dims(const sim_ctx *c, uint32_t j)
{
    const sim_tensor *t = &M(c)->outputs[j];
    return t->n_shapes > 0 ? t->shapes[c->shape_row < t->n_shapes ? c->shape_row : 0] : t->dims;
}

static inline uint64_t dims_elems(uint32_t n, const uint32_t *d)
{
    uint64_t e = 1;
    for (uint32_t i = 0; i < n; i++)
        e *= d[i];
    return e;
}

static inline uint32_t esize(int32_t type)
{
    uint32_t s = sim_type_size(type);
    return s ? s : 1;
}

SIM_HIDDEN void sim_model_unref(shared_model *sm);
/* The model of the live context `h` with a reference taken (release with sim_model_unref), or NULL. */
SIM_HIDDEN shared_model *sim_model_ref_by_handle(rknn_context h);
SIM_HIDDEN void sim_ctx_free_held(sim_ctx *c);
SIM_HIDDEN void sim_native_c1c2(const sim_tensor *t, const uint32_t *d, uint32_t *c1, uint32_t *c2);
SIM_HIDDEN uint64_t sim_nc1hwc2_bytes(const sim_tensor *t, const uint32_t *d);
SIM_HIDDEN void sim_ctx_mem_sizes(const sim_ctx *c, rknn_mem_size *ms);

/* Custom ops (sim_custom_op.c). */
SIM_HIDDEN reg_op *sim_find_op(sim_ctx *c, const char *op_type);
SIM_HIDDEN float **sim_float_bufs_alloc(const sim_ctx *c, int is_out, uint32_t n);
SIM_HIDDEN void sim_float_bufs_free(float **b, uint32_t n);
SIM_HIDDEN rknn_custom_op_tensor *sim_op_tensors(const sim_ctx *c, int is_out, float **bufs, uint32_t n);

#endif /* ZTU_SIM_API_PRIV_H */
