/*
 * The exported rknn_* API of the simulated runtime: contexts, queries, inputs/outputs, run, zero-copy
 * bindings, custom ops, weight sharing and dynamic shapes.  Memory objects live in sim_mem.c, conversions
 * and the sum rule in sim_compute.c, the model parsers in sim_native.c / rknn_format.c.
 *
 * Where the real runtime's behaviour is not documented the simulator picks the stricter reading; every such
 * choice is marked "CHOICE" below.  Error-code conventions used throughout:
 *   -5 PARAM_INVALID for bad pointers/sizes/indices of rknn_query, set_io_mem, set_input_shapes, custom ops;
 *   -8 INPUT_INVALID for anything wrong in rknn_inputs_set; -9 OUTPUT_INVALID for rknn_outputs_get;
 *   -7 CTX_INVALID for unknown or destroyed handles; -1 FAIL for calls in the wrong state.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_api_priv.h"

/* ------------------------------------------------------------------------------------------------------ */
/* Models shared between contexts (rknn_dup_context) and weight-sharing slaves.                            */

typedef struct shared_model {
    sim_model m;
    atomic_int refs;         /* contexts using it + weight-sharing slaves referring to it */
    atomic_int n_ctx;        /* contexts running this model (init + dups) */
    atomic_int weight_users; /* contexts whose weights come from this model (SHARE_WEIGHT_MEM) */
} shared_model;

static void model_unref(shared_model *sm)
{
    if (sm != NULL && atomic_fetch_sub(&sm->refs, 1) == 1) {
        sim_model_free(&sm->m);
        free(sm);
    }
}

static int model_dynamic(const sim_model *m) { return m->n_inputs > 0 && m->inputs[0].n_shapes > 0; }

/* ------------------------------------------------------------------------------------------------------ */
/* Contexts                                                                                                */

enum { MODE_NONE = 0, MODE_INPUTS_SET = 1, MODE_IO_MEM = 2 };
enum { FORM_LOGICAL = 0, FORM_NHWC = 1, FORM_NC1HWC2 = 2 };

typedef struct binding {
    rknn_tensor_mem *mem;     /* NULL = not bound */
    uint64_t serial;
    int32_t type;             /* buffer element type */
    int form;                 /* FORM_* */
    int pass_through;         /* inputs: buffer already in the model type (native) */
    uint32_t w_stride;        /* NHWC row pitch in pixels (0 = W) */
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

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static sim_ctx *ctx_list;
static uint64_t ctx_seq;

/* CHOICE: handles are opaque non-pointer values (high bits set, never reused), so a stale or forged
 * handle is always detected (-7); a real runtime would crash on them (rknn-abi.md §8). */
static rknn_context next_handle(void)
{
    uint64_t z = ++ctx_seq * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (rknn_context)((z & 0x0000ffffffffffffull) | 0x5a17000000000000ull);
}

static sim_ctx *find_locked(rknn_context h)
{
    for (sim_ctx *c = ctx_list; c != NULL; c = c->next)
        if (c->handle == h)
            return c;
    return NULL;
}

int sim_ctx_enter(rknn_context handle, sim_ctx **out)
{
    *out = NULL;
    if (handle == 0)
        return SIM_ERR_CTX;
    pthread_mutex_lock(&reg_mu);
    sim_ctx *c = find_locked(handle);
    if (c == NULL) {
        pthread_mutex_unlock(&reg_mu);
        return SIM_ERR_CTX;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&c->in_call, &expected, 1)) {
        pthread_mutex_unlock(&reg_mu);
        sim_violation("two threads inside calls on one context");
        return SIM_ERR_FAIL;
    }
    pthread_mutex_unlock(&reg_mu);
    *out = c;
    return SIM_OK;
}

void sim_ctx_leave(sim_ctx *c)
{
    if (c != NULL)
        atomic_store(&c->in_call, 0);
}

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

static const sim_model *M(const sim_ctx *c) { return &c->sm->m; }

/* Current logical dims of input i / output j. */
static const uint32_t *in_dims(const sim_ctx *c, uint32_t i)
{
    const sim_tensor *t = &M(c)->inputs[i];
    return t->n_shapes > 0 ? t->shapes[c->shape_row < t->n_shapes ? c->shape_row : 0] : t->dims;
}

static const uint32_t *out_dims(const sim_ctx *c, uint32_t j)
{
    const sim_tensor *t = &M(c)->outputs[j];
    return t->n_shapes > 0 ? t->shapes[c->shape_row < t->n_shapes ? c->shape_row : 0] : t->dims;
}

static uint64_t dims_elems(uint32_t n, const uint32_t *d)
{
    uint64_t e = 1;
    for (uint32_t i = 0; i < n; i++)
        e *= d[i];
    return e;
}

static uint32_t esize(int32_t type)
{
    uint32_t s = sim_type_size(type);
    return s ? s : 1;
}

static void free_held(sim_ctx *c)
{
    const sim_model *m = M(c);
    for (uint32_t i = 0; c->in_held && i < m->n_inputs; i++) {
        free(c->in_held[i]);
        c->in_held[i] = NULL;
    }
    for (uint32_t j = 0; c->out_held && j < m->n_outputs; j++) {
        free(c->out_held[j]);
        c->out_held[j] = NULL;
    }
    c->inputs_ready = 0;
    c->have_run = 0;
}

static sim_ctx *new_ctx(shared_model *sm, uint32_t flags)
{
    sim_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->sm = sm;
    c->flags = flags;
    c->in_held = calloc(sm->m.n_inputs, sizeof(void *));
    c->out_held = calloc(sm->m.n_outputs, sizeof(void *));
    c->in_bind = calloc(sm->m.n_inputs, sizeof(binding));
    c->out_bind = calloc(sm->m.n_outputs, sizeof(binding));
    if (!c->in_held || !c->out_held || !c->in_bind || !c->out_bind) {
        free(c->in_held);
        free(c->out_held);
        free(c->in_bind);
        free(c->out_bind);
        free(c);
        return NULL;
    }
    atomic_init(&c->in_call, 0);
    return c;
}

static rknn_context publish_ctx(sim_ctx *c)
{
    pthread_mutex_lock(&reg_mu);
    c->handle = next_handle();
    c->next = ctx_list;
    ctx_list = c;
    pthread_mutex_unlock(&reg_mu);
    sim_counter_add(SIM_CNT_LIVE_CONTEXTS, 1);
    return c->handle;
}

/* ------------------------------------------------------------------------------------------------------ */
/* rknn_init / rknn_dup_context / rknn_destroy                                                             */

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return SIM_ERR_MODEL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (buf == NULL)
        return SIM_ERR_MALLOC;
    if (err) {
        free(buf);
        return SIM_ERR_MODEL;
    }
    *data = buf;
    *len = n;
    return SIM_OK;
}

/* Whatever a parser produced, the API layer only serves models it can reason about. */
static int tensor_sane(const sim_tensor *t)
{
    if (t->n_dims > SIM_MAX_DIMS || sim_type_size(t->type) == 0 || memchr(t->name, '\0', SIM_MAX_NAME) == NULL)
        return 0;
    if (t->qnt_type == 2 && !(t->scale > 0.0f))
        return 0;
    if (t->n_shapes > SIM_MAX_SHAPES || (t->n_shapes > 0 && t->shapes == NULL))
        return 0;
    for (uint32_t r = 0; r <= t->n_shapes; r++) {
        const uint32_t *d = r < t->n_shapes ? t->shapes[r] : t->dims;
        uint64_t e = 1;
        for (uint32_t i = 0; i < t->n_dims; i++) {
            e *= d[i];
            if (e > (UINT64_C(1) << 26))
                return 0;
        }
    }
    return 1;
}

static int model_sane(const sim_model *m)
{
    if (m->n_inputs == 0 || m->n_outputs == 0 || m->n_inputs > SIM_MAX_IO || m->n_outputs > SIM_MAX_IO)
        return 0;
    if (!m->inputs || !m->outputs)
        return 0;
    for (uint32_t i = 0; i < m->n_inputs; i++)
        if (!tensor_sane(&m->inputs[i]) || m->inputs[i].n_shapes != m->inputs[0].n_shapes)
            return 0;
    for (uint32_t j = 0; j < m->n_outputs; j++)
        if (!tensor_sane(&m->outputs[j]) ||
            (m->outputs[j].n_shapes != 0 && m->outputs[j].n_shapes != m->inputs[0].n_shapes))
            return 0;
    return 1;
}

int rknn_init(rknn_context *context, void *model, uint32_t size, uint32_t flag, rknn_init_extend *extend)
{
    int rc = sim_enter("rknn_init");
    if (rc != SIM_OK)
        return rc;
    if (context == NULL || model == NULL)
        return SIM_ERR_PARAM;
    *context = 0;
    /* CHOICE: unknown flag bits (above MODEL_BUFFER_ZERO_COPY; 0x20000 is a create_mem2 flag) and the
     * undefined priority value 3 are rejected. */
    if ((flag & ~0x1ffffu) != 0 || (flag & 3u) == 3u)
        return SIM_ERR_PARAM;

    uint8_t *file = NULL;
    const uint8_t *data = model;
    size_t len = size;
    if (size == 0) {
        /* size 0: `model` is a NUL-terminated path.  CHOICE: an unreadable file is MODEL_INVALID. */
        rc = read_file((const char *)model, &file, &len);
        if (rc != SIM_OK) {
            sim_log("rknn_init: cannot read model file %s", (const char *)model);
            return rc;
        }
        data = file;
    }
    shared_model *sm = calloc(1, sizeof *sm);
    if (sm == NULL) {
        free(file);
        return SIM_ERR_MALLOC;
    }
    sim_model_init(&sm->m);
    const size_t nl = strlen(SIM_NATIVE_MAGIC), rl = strlen(SIM_RKNN_MAGIC);
    if (len >= nl && memcmp(data, SIM_NATIVE_MAGIC, nl) == 0)
        rc = sim_parse_native(data, len, &sm->m);
    else if (len >= rl && memcmp(data, SIM_RKNN_MAGIC, rl) == 0)
        rc = sim_parse_rknn(data, len, &sm->m);
    else
        rc = SIM_ERR_MODEL;
    free(file);
    if (rc != SIM_OK || !model_sane(&sm->m)) {
        sim_log("rknn_init: invalid model");
        sim_model_free(&sm->m);
        free(sm);
        return SIM_ERR_MODEL;
    }
    atomic_init(&sm->refs, 1);
    atomic_init(&sm->n_ctx, 1);
    atomic_init(&sm->weight_users, 0);

    /* Weight sharing. */
    shared_model *master = NULL;
    if (flag & RKNN_FLAG_SHARE_WEIGHT_MEM) {
        if (extend == NULL) {
            sim_log("rknn_init: rknn_init_extend is not set!");
            rc = SIM_ERR_PARAM;
            goto fail;
        }
        pthread_mutex_lock(&reg_mu);
        sim_ctx *mc = extend->ctx ? find_locked(extend->ctx) : NULL;
        if (mc != NULL) {
            master = mc->sm;
            atomic_fetch_add(&master->refs, 1);
        }
        pthread_mutex_unlock(&reg_mu);
        if (master == NULL) {
            rc = SIM_ERR_CTX;
            goto fail;
        }
        const char *want = sm->m.weights_from[0] ? sm->m.weights_from : sm->m.weights_id;
        /* CHOICE: dynamic-shape models cannot share weights (1.5.2 guide: unsupported). */
        if (strcmp(master->m.weights_id, want) != 0 || model_dynamic(&sm->m) || model_dynamic(&master->m)) {
            sim_log("rknn_init: weights of the master context do not match this model");
            rc = SIM_ERR_MODEL;
            goto fail;
        }
    } else if (sm->m.weights_from[0]) {
        sim_log("rknn_init: weight-less model needs RKNN_FLAG_SHARE_WEIGHT_MEM");
        rc = SIM_ERR_MODEL;
        goto fail;
    }

    sim_ctx *c = new_ctx(sm, flag);
    if (c == NULL) {
        rc = SIM_ERR_MALLOC;
        goto fail;
    }
    if (master != NULL) {
        atomic_fetch_add(&master->weight_users, 1);
        c->weights_src = master;
    }
    *context = publish_ctx(c);
    return SIM_OK;
fail:
    model_unref(master);
    model_unref(sm);
    return rc;
}

int rknn_dup_context(rknn_context *context_in, rknn_context *context_out)
{
    int rc = sim_enter("rknn_dup_context");
    if (rc != SIM_OK)
        return rc;
    if (context_in == NULL || context_out == NULL)
        return SIM_ERR_PARAM;
    sim_ctx *c;
    rc = sim_ctx_enter(*context_in, &c);
    if (rc != SIM_OK)
        return rc;
    /* CHOICE: the 1.5.2 guide says dup is unsupported for dynamic-shape models: refuse (-1). */
    if (model_dynamic(M(c))) {
        sim_ctx_leave(c);
        return SIM_ERR_FAIL;
    }
    sim_ctx *d = new_ctx(c->sm, c->flags);
    if (d == NULL) {
        sim_ctx_leave(c);
        return SIM_ERR_MALLOC;
    }
    atomic_fetch_add(&c->sm->refs, 1);
    atomic_fetch_add(&c->sm->n_ctx, 1);
    if (c->weights_src != NULL) {
        atomic_fetch_add(&c->weights_src->refs, 1);
        atomic_fetch_add(&c->weights_src->weight_users, 1);
        d->weights_src = c->weights_src;
    }
    /* New context: AUTO core mask, no custom ops, no inputs, no bindings. */
    *context_out = publish_ctx(d);
    sim_ctx_leave(c);
    return SIM_OK;
}

int rknn_destroy(rknn_context context)
{
    int rc = sim_enter("rknn_destroy");
    if (rc != SIM_OK)
        return rc;
    sim_ctx *c;
    rc = sim_ctx_enter(context, &c);
    if (rc != SIM_OK)
        return rc;
    pthread_mutex_lock(&reg_mu);
    sim_ctx **pp = &ctx_list;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    pthread_mutex_unlock(&reg_mu);

    for (uint32_t k = 0; k < c->n_ops; k++)
        if (c->ops[k].op.destroy != NULL)
            c->ops[k].op.destroy(&c->ops[k].octx);
    free(c->ops);
    /* CHOICE: output buffers never released are freed here, taken off unreleased_outputs, and counted as
     * one violation (the manual requires rknn_outputs_release after every rknn_outputs_get). */
    if (c->n_allocs > 0) {
        for (size_t k = 0; k < c->n_allocs; k++)
            free(c->allocs[k]);
        sim_counter_add(SIM_CNT_UNRELEASED_OUTPUTS, -(int64_t)c->n_allocs);
        sim_violation("rknn_destroy with unreleased outputs");
    }
    free(c->allocs);
    free_held(c);
    free(c->in_held);
    free(c->out_held);
    free(c->in_bind);
    free(c->out_bind);
    if (atomic_fetch_sub(&c->sm->n_ctx, 1) == 1 && atomic_load(&c->sm->weight_users) > 0)
        sim_violation("rknn_destroy of a weight-sharing master while dependent contexts live");
    model_unref(c->sm);
    if (c->weights_src != NULL) {
        atomic_fetch_sub(&c->weights_src->weight_users, 1);
        model_unref(c->weights_src);
    }
    free(c);
    sim_counter_add(SIM_CNT_LIVE_CONTEXTS, -1);
    return SIM_OK;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Attributes                                                                                              */

enum { K_NORMAL = 0, K_NATIVE = 1, K_NATIVE_NHWC = 2 };

/* C1/C2 of the NC1HWC2 native form of output j for logical dims d (4-D).  Real files carry the native
 * shape; it is used when it fits the current dims, otherwise C2 comes from the type (sim_c2_for_type). */
static void native_c1c2(const sim_tensor *t, const uint32_t *d, uint32_t *c1, uint32_t *c2)
{
    if (t->file_native_n_dims == 5 && t->file_native_dims[0] == d[0] && t->file_native_dims[2] == d[2] &&
        t->file_native_dims[3] == d[3] && t->file_native_dims[4] > 0 &&
        (uint64_t)t->file_native_dims[1] * t->file_native_dims[4] >= d[1] &&
        (uint64_t)t->file_native_dims[1] * t->file_native_dims[4] <= (uint64_t)d[1] + 2 * t->file_native_dims[4] + 16) {
        *c1 = t->file_native_dims[1];
        *c2 = t->file_native_dims[4];
        return;
    }
    *c2 = sim_c2_for_type(t->type);
    *c1 = (d[1] + *c2 - 1) / *c2;
}

static uint64_t nc1hwc2_bytes(const sim_tensor *t, const uint32_t *d)
{
    uint32_t c1, c2;
    native_c1c2(t, d, &c1, &c2);
    return (uint64_t)d[0] * c1 * d[2] * d[3] * c2 * esize(t->type);
}

static void fill_attr(const sim_ctx *c, int is_out, uint32_t idx, int kind, int current, rknn_tensor_attr *a)
{
    const sim_tensor *t = is_out ? &M(c)->outputs[idx] : &M(c)->inputs[idx];
    const uint32_t *d = current ? (is_out ? out_dims(c, idx) : in_dims(c, idx)) : t->dims;
    uint32_t es = esize(t->type);
    uint64_t n = dims_elems(t->n_dims, d);
    memset(a, 0, sizeof *a);
    a->index = idx;
    sim_copy_name(a->name, sizeof a->name, t->name, SIM_MAX_NAME);
    a->type = (rknn_tensor_type)t->type;
    a->qnt_type = (rknn_tensor_qnt_type)t->qnt_type;
    a->zp = t->zp;
    a->scale = t->scale;
    a->n_dims = t->n_dims;
    memcpy(a->dims, d, sizeof(uint32_t) * t->n_dims);
    a->fmt = (rknn_tensor_format)t->fmt;
    a->n_elems = (uint32_t)n;
    a->size = (uint32_t)(n * es);
    a->size_with_stride = a->size;
    if (t->n_dims != 4)
        return; /* other ranks: as the model reports them (UNDEFINED), dense, w_stride 0 */
    const uint32_t N = d[0], C = d[1], H = d[2], W = d[3];
    const uint32_t nhwc[4] = { N, H, W, C };
    if (!is_out) {
        /* Inputs: NHWC (rows dense, w_stride = W) for the native forms and for NHWC-reported inputs. */
        if (kind != K_NORMAL || t->fmt == RKNN_TENSOR_NHWC) {
            memcpy(a->dims, nhwc, sizeof nhwc);
            a->fmt = RKNN_TENSOR_NHWC;
        }
        a->w_stride = (a->fmt == RKNN_TENSOR_UNDEFINED) ? 0 : W;
        return;
    }
    if (kind == K_NATIVE) {
        uint32_t c1, c2;
        native_c1c2(t, d, &c1, &c2);
        const uint32_t nat[5] = { N, c1, H, W, c2 };
        a->n_dims = 5;
        memcpy(a->dims, nat, sizeof nat);
        a->fmt = RKNN_TENSOR_NC1HWC2;
        a->n_elems = (uint32_t)((uint64_t)N * c1 * H * W * c2);
        a->size = a->n_elems * es;
        a->size_with_stride = a->size;
        return;
    }
    if (kind == K_NATIVE_NHWC || t->fmt == RKNN_TENSOR_NHWC) {
        memcpy(a->dims, nhwc, sizeof nhwc);
        a->fmt = RKNN_TENSOR_NHWC;
    }
    if (kind == K_NATIVE_NHWC) {
        a->w_stride = W;
        return;
    }
    /* 4-D outputs: w_stride 0, size_with_stride = the native NC1HWC2 byte size (rknn-file-format.md §5). */
    a->w_stride = 0;
    a->size_with_stride = (uint32_t)nc1hwc2_bytes(t, d);
}

/* ------------------------------------------------------------------------------------------------------ */
/* rknn_query                                                                                              */

extern const char *rknn_sim_version(void) __attribute__((weak));

static void mem_sizes(const sim_ctx *c, rknn_mem_size *ms)
{
    const sim_model *m = M(c);
    uint64_t io = 0;
    for (uint32_t i = 0; i < m->n_inputs; i++)
        io += dims_elems(m->inputs[i].n_dims, m->inputs[i].dims) * esize(m->inputs[i].type);
    for (uint32_t j = 0; j < m->n_outputs; j++)
        io += m->outputs[j].n_dims == 4 ? nc1hwc2_bytes(&m->outputs[j], m->outputs[j].dims)
                                        : dims_elems(m->outputs[j].n_dims, m->outputs[j].dims) * esize(m->outputs[j].type);
    memset(ms, 0, sizeof *ms);
    /* Simulated sizes: a weight-less model (or a weight-sharing context) owns no weights. */
    ms->total_weight_size = (m->weights_from[0] || c->weights_src) ? 0 : 4096;
    ms->total_internal_size = 4096;
    ms->total_dma_allocated_size = ms->total_weight_size + ms->total_internal_size + io;
    ms->total_sram_size = 0;
    ms->free_sram_size = 0;
}

int rknn_query(rknn_context context, rknn_query_cmd cmd, void *info, uint32_t size)
{
    sim_ctx *c;
    ENTER("rknn_query", context, c);
    int rc = SIM_OK;
    const sim_model *m = M(c);
    int icmd = (int)cmd;
    if (info == NULL || icmd < 0 || icmd >= RKNN_QUERY_CMD_MAX) {
        rc = SIM_ERR_PARAM;
        goto out;
    }
    switch (icmd) {
    case RKNN_QUERY_IN_OUT_NUM: {
        if (size < sizeof(rknn_input_output_num)) { rc = SIM_ERR_PARAM; break; }
        rknn_input_output_num *io = info;
        io->n_input = m->n_inputs;
        io->n_output = m->n_outputs;
        break;
    }
    case RKNN_QUERY_INPUT_ATTR: case RKNN_QUERY_OUTPUT_ATTR:
    case RKNN_QUERY_NATIVE_INPUT_ATTR: case RKNN_QUERY_NATIVE_OUTPUT_ATTR:
    case RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR: case RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR:
    case RKNN_QUERY_CURRENT_INPUT_ATTR: case RKNN_QUERY_CURRENT_OUTPUT_ATTR:
    case RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR: case RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR: {
        if (size < sizeof(rknn_tensor_attr)) {
            sim_log("rknn_query: info_len(%u) < sizeof(rknn_tensor_attr)(%zu)", size, sizeof(rknn_tensor_attr));
            rc = SIM_ERR_PARAM;
            break;
        }
        rknn_tensor_attr *a = info;
        int is_out = icmd == RKNN_QUERY_OUTPUT_ATTR || icmd == RKNN_QUERY_NATIVE_OUTPUT_ATTR ||
                     icmd == RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR || icmd == RKNN_QUERY_CURRENT_OUTPUT_ATTR ||
                     icmd == RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR;
        int kind = (icmd == RKNN_QUERY_NATIVE_INPUT_ATTR || icmd == RKNN_QUERY_NATIVE_OUTPUT_ATTR ||
                    icmd == RKNN_QUERY_CURRENT_NATIVE_INPUT_ATTR || icmd == RKNN_QUERY_CURRENT_NATIVE_OUTPUT_ATTR)
                       ? K_NATIVE
                       : (icmd == RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR || icmd == RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR)
                             ? K_NATIVE_NHWC
                             : K_NORMAL;
        int current = icmd >= RKNN_QUERY_CURRENT_INPUT_ATTR;
        uint32_t idx = a->index;
        /* CHOICE: an index beyond the tensor count is PARAM_INVALID (-5). */
        if (idx >= (is_out ? m->n_outputs : m->n_inputs)) { rc = SIM_ERR_PARAM; break; }
        fill_attr(c, is_out, idx, kind, current, a);
        break;
    }
    case RKNN_QUERY_PERF_DETAIL: {
        if (size < sizeof(rknn_perf_detail)) { rc = SIM_ERR_PARAM; break; }
        if (!(c->flags & RKNN_FLAG_COLLECT_PERF_MASK)) { rc = SIM_ERR_FAIL; break; }
        snprintf(c->perf_text, sizeof c->perf_text, "simulated network: %s run %lld us\n",
                 c->have_run ? "last" : "no", (long long)c->perf_run_us);
        rknn_perf_detail *pd = info;
        pd->perf_data = c->perf_text;
        pd->data_len = strlen(c->perf_text);
        break;
    }
    case RKNN_QUERY_PERF_RUN: {
        if (size < sizeof(rknn_perf_run)) { rc = SIM_ERR_PARAM; break; }
        ((rknn_perf_run *)info)->run_duration = c->perf_run_us;
        break;
    }
    case RKNN_QUERY_SDK_VERSION: {
        if (size < sizeof(rknn_sdk_version)) { rc = SIM_ERR_PARAM; break; }
        rknn_sdk_version *v = info;
        memset(v, 0, sizeof *v);
        const char *sv = rknn_sim_version ? rknn_sim_version() : NULL;
        snprintf(v->api_version, sizeof v->api_version, "2.3.2 (sim %s)", sv ? sv : "unknown");
        snprintf(v->drv_version, sizeof v->drv_version, "0.9.8");
        break;
    }
    case RKNN_QUERY_MEM_SIZE: {
        /* The runtime insists on the pre-1.4 size (8 bytes) only; fill as much as the caller gave. */
        if (size < 8) { rc = SIM_ERR_PARAM; break; }
        rknn_mem_size ms;
        mem_sizes(c, &ms);
        memcpy(info, &ms, size < sizeof ms ? size : sizeof ms);
        break;
    }
    case RKNN_QUERY_CUSTOM_STRING: {
        if (size < sizeof(rknn_custom_string)) { rc = SIM_ERR_PARAM; break; }
        rknn_custom_string *s = info;
        memset(s, 0, sizeof *s);
        sim_copy_name(s->string, sizeof s->string, m->custom_string, SIM_CUSTOM_STRING_LEN);
        break;
    }
    case RKNN_QUERY_INPUT_DYNAMIC_RANGE: {
        if (size < sizeof(rknn_input_range)) { rc = SIM_ERR_PARAM; break; }
        rknn_input_range *r = info;
        uint32_t idx = r->index;
        if (idx >= m->n_inputs) { rc = SIM_ERR_PARAM; break; }
        /* Static model: 2.3.2 logs a warning and returns MODEL_INVALID (airockchip#448). */
        if (!model_dynamic(m)) { rc = SIM_ERR_MODEL; break; }
        const sim_tensor *t = &m->inputs[idx];
        memset(r, 0, sizeof *r);
        r->index = idx;
        r->shape_number = t->n_shapes;
        r->fmt = (rknn_tensor_format)t->fmt;
        r->n_dims = t->n_dims;
        sim_copy_name(r->name, sizeof r->name, t->name, SIM_MAX_NAME);
        for (uint32_t s = 0; s < t->n_shapes; s++) {
            const uint32_t *d = t->shapes[s];
            if (t->n_dims == 4 && t->fmt == RKNN_TENSOR_NHWC) {
                r->dyn_range[s][0] = d[0];
                r->dyn_range[s][1] = d[2];
                r->dyn_range[s][2] = d[3];
                r->dyn_range[s][3] = d[1];
            } else {
                memcpy(r->dyn_range[s], d, sizeof(uint32_t) * t->n_dims);
            }
        }
        break;
    }
    default:
        /* DEVICE_MEM_INFO: only the RV1106 family / RK2118 implement it (2.3.2 Table 4-2). */
        rc = SIM_ERR_FAIL;
        break;
    }
out:
    sim_ctx_leave(c);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Input conversion: user buffer -> held form (model type, logical order)                                 */

static int is_source_type(int32_t t)
{
    return t == RKNN_TENSOR_FLOAT32 || t == RKNN_TENSOR_FLOAT16 || t == RKNN_TENSOR_UINT8 || t == RKNN_TENSOR_INT8;
}

/* Bytes a source buffer of (type, fmt, w_stride) needs for tensor t with logical dims d. */
static uint64_t source_bytes(const sim_tensor *t, const uint32_t *d, int32_t type, int form, uint32_t w_stride)
{
    uint64_t es = esize(type);
    if (t->n_dims == 4 && form == FORM_NHWC && w_stride > d[3])
        return (uint64_t)d[0] * d[2] * w_stride * d[1] * es;
    return dims_elems(t->n_dims, d) * es;
}

/* Converts one input buffer into `held` (which holds n elements of t->type). */
static int convert_in(const sim_tensor *t, const uint32_t *d, const void *src, int32_t type, int form,
                      int pass_through, uint32_t w_stride, void *held)
{
    uint64_t n = dims_elems(t->n_dims, d);
    uint32_t es = esize(type);
    const void *logical = src;
    void *tmp = NULL;
    if (t->n_dims == 4 && form == FORM_NHWC) {
        tmp = malloc(n > 0 ? n * es : 1);
        if (tmp == NULL)
            return SIM_ERR_MALLOC;
        sim_nhwc_to_nchw(src, tmp, d, es, w_stride);
        logical = tmp;
    }
    if (pass_through || (type == t->type && (t->qnt_type != 2 || type == RKNN_TENSOR_INT8))) {
        /* Native data, an int8 source for an int8 model (DESIGN.md: taken as already quantised with the
         * model's parameters, the stricter reading), or an unquantised model's own type (identity).  Other
         * sources -- uint8 into a quantised uint8 model included -- are values, quantised below. */
        memcpy(held, logical, n * es);
    } else {
        for (uint64_t i = 0; i < n; i++)
            sim_store_real(held, i, t, sim_load_value(logical, i, type));
    }
    free(tmp);
    return SIM_OK;
}

/* Source form of a (fmt) for tensor t, or -1 when the fmt is not accepted. */
static int source_form(const sim_tensor *t, int32_t fmt)
{
    if (t->n_dims == 4) {
        if (fmt == RKNN_TENSOR_NCHW)
            return FORM_LOGICAL;
        if (fmt == RKNN_TENSOR_NHWC)
            return FORM_NHWC;
        /* CHOICE: UNDEFINED (= original model order) only for 4-D inputs the model itself reports as
         * UNDEFINED; NC1HWC2 and others are refused. */
        if (fmt == RKNN_TENSOR_UNDEFINED && t->fmt == RKNN_TENSOR_UNDEFINED)
            return FORM_LOGICAL;
        return -1;
    }
    /* CHOICE: non-4-D inputs take UNDEFINED only (DESIGN.md), NCHW/NHWC labels are refused. */
    return fmt == RKNN_TENSOR_UNDEFINED ? FORM_LOGICAL : -1;
}

static int ensure_held(void **slot, uint64_t bytes)
{
    void *p = realloc(*slot, bytes ? bytes : 1);
    if (p == NULL)
        return SIM_ERR_MALLOC;
    *slot = p;
    return SIM_OK;
}

int rknn_inputs_set(rknn_context context, uint32_t n_inputs, rknn_input inputs[])
{
    sim_ctx *c;
    ENTER("rknn_inputs_set", context, c);
    const sim_model *m = M(c);
    int rc = SIM_OK;
    uint8_t seen[SIM_MAX_IO];
    memset(seen, 0, sizeof seen);
    /* CHOICE: the count must equal the model's input count ("param input num != model input num"), -8. */
    if (inputs == NULL || n_inputs != m->n_inputs) {
        sim_log("rknn_inputs_set: param input num(%u) != model input num(%u)", n_inputs, m->n_inputs);
        rc = inputs == NULL ? SIM_ERR_PARAM : SIM_ERR_INPUT;
        goto out;
    }
    for (uint32_t k = 0; k < n_inputs; k++) {
        const rknn_input *in = &inputs[k];
        if (in->index >= m->n_inputs || seen[in->index] || in->buf == NULL) {
            rc = SIM_ERR_INPUT;
            goto out;
        }
        seen[in->index] = 1;
        const sim_tensor *t = &m->inputs[in->index];
        const uint32_t *d = in_dims(c, in->index);
        uint64_t need;
        if (in->pass_through) {
            need = dims_elems(t->n_dims, d) * esize(t->type);
        } else {
            if (!is_source_type(in->type) || source_form(t, in->fmt) < 0) {
                rc = SIM_ERR_INPUT;
                goto out;
            }
            need = source_bytes(t, d, in->type, source_form(t, in->fmt), 0);
        }
        if (in->size < need) {
            sim_log("rknn_inputs_set: param input size(%u) < model input size(%llu)", in->size,
                    (unsigned long long)need);
            rc = SIM_ERR_INPUT;
            goto out;
        }
    }
    for (uint32_t k = 0; k < n_inputs && rc == SIM_OK; k++) {
        const rknn_input *in = &inputs[k];
        const sim_tensor *t = &m->inputs[in->index];
        const uint32_t *d = in_dims(c, in->index);
        rc = ensure_held(&c->in_held[in->index], dims_elems(t->n_dims, d) * esize(t->type));
        if (rc == SIM_OK) {
            /* pass_through 1: the native form (NATIVE_INPUT_ATTR): NHWC in the model type for 4-D. */
            int form = in->pass_through ? (t->n_dims == 4 ? FORM_NHWC : FORM_LOGICAL) : source_form(t, in->fmt);
            int32_t type = in->pass_through ? t->type : (int32_t)in->type;
            rc = convert_in(t, d, in->buf, type, form, in->pass_through, 0, c->in_held[in->index]);
        }
    }
    if (rc != SIM_OK)
        goto out;
    if (c->input_mode == MODE_IO_MEM)
        sim_violation("rknn_inputs_set mixed with rknn_set_io_mem inputs on one context"); /* later wins */
    c->input_mode = MODE_INPUTS_SET;
    c->inputs_ready = 1;
out:
    /* CHOICE: a failed rknn_inputs_set leaves no inputs behind, so a following run cannot silently use
     * stale data. */
    if (rc != SIM_OK)
        c->inputs_ready = 0;
    sim_ctx_leave(c);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Output conversion: held form -> destination buffer                                                     */

static int convert_out(const sim_tensor *t, const uint32_t *d, const void *held, void *dst, int32_t type, int form,
                       uint32_t c1, uint32_t c2, uint32_t w_stride)
{
    uint64_t n = dims_elems(t->n_dims, d);
    uint32_t es = esize(type);
    void *tmp = NULL;
    void *logical = dst;
    if (t->n_dims == 4 && form != FORM_LOGICAL) {
        tmp = malloc(n > 0 ? n * es : 1);
        if (tmp == NULL)
            return SIM_ERR_MALLOC;
        logical = tmp;
    }
    if (type == t->type) {
        memcpy(logical, held, n * es);
    } else {
        for (uint64_t i = 0; i < n; i++)
            sim_store_value(logical, i, type, sim_load_real(held, i, t));
    }
    if (tmp != NULL) {
        if (form == FORM_NHWC)
            sim_nchw_to_nhwc(tmp, dst, d, es, w_stride);
        else
            sim_nchw_to_nc1hwc2(tmp, dst, d, c1, c2, es);
        free(tmp);
    }
    return SIM_OK;
}

static int track_alloc(sim_ctx *c, void *p)
{
    if (c->n_allocs == c->cap_allocs) {
        size_t cap = c->cap_allocs ? c->cap_allocs * 2 : 8;
        void **a = realloc(c->allocs, cap * sizeof(void *));
        if (a == NULL)
            return SIM_ERR_MALLOC;
        c->allocs = a;
        c->cap_allocs = cap;
    }
    c->allocs[c->n_allocs++] = p;
    return SIM_OK;
}

static int untrack_alloc(sim_ctx *c, void *p)
{
    for (size_t k = 0; k < c->n_allocs; k++)
        if (c->allocs[k] == p) {
            c->allocs[k] = c->allocs[--c->n_allocs];
            return 1;
        }
    return 0;
}

int rknn_outputs_get(rknn_context context, uint32_t n_outputs, rknn_output outputs[], rknn_output_extend *extend)
{
    sim_ctx *c;
    ENTER("rknn_outputs_get", context, c);
    const sim_model *m = M(c);
    int rc = SIM_OK;
    uint8_t seen[SIM_MAX_IO];
    memset(seen, 0, sizeof seen);
    if (outputs == NULL) {
        rc = SIM_ERR_PARAM;
        goto out;
    }
    if (n_outputs != m->n_outputs) {
        rc = SIM_ERR_OUTPUT;
        goto out;
    }
    if (!c->have_run) {
        rc = SIM_ERR_FAIL;
        goto out;
    }
    for (uint32_t k = 0; k < n_outputs; k++) {
        rknn_output *o = &outputs[k];
        if (o->index >= m->n_outputs || seen[o->index]) {
            rc = SIM_ERR_OUTPUT;
            goto out;
        }
        seen[o->index] = 1;
        const sim_tensor *t = &m->outputs[o->index];
        uint64_t need = dims_elems(t->n_dims, out_dims(c, o->index)) * (o->want_float ? 4 : esize(t->type));
        if (o->is_prealloc && (o->buf == NULL || o->size < need)) {
            rc = SIM_ERR_OUTPUT;
            goto out;
        }
    }
    for (uint32_t k = 0; k < n_outputs; k++) {
        rknn_output *o = &outputs[k];
        const sim_tensor *t = &m->outputs[o->index];
        const uint32_t *d = out_dims(c, o->index);
        int32_t type = o->want_float ? RKNN_TENSOR_FLOAT32 : t->type;
        uint64_t need = dims_elems(t->n_dims, d) * esize(type);
        void *buf = o->buf;
        if (!o->is_prealloc) {
            buf = malloc(need ? need : 1);
            if (buf == NULL || track_alloc(c, buf) != SIM_OK) {
                free(buf);
                /* undo this call's allocations */
                for (uint32_t b = 0; b < k; b++)
                    if (!outputs[b].is_prealloc && untrack_alloc(c, outputs[b].buf)) {
                        free(outputs[b].buf);
                        outputs[b].buf = NULL;
                        sim_counter_add(SIM_CNT_UNRELEASED_OUTPUTS, -1);
                    }
                rc = SIM_ERR_MALLOC;
                goto out;
            }
            sim_counter_add(SIM_CNT_UNRELEASED_OUTPUTS, 1);
            o->buf = buf;
            o->size = (uint32_t)need;
        }
        convert_out(t, d, c->out_held[o->index], buf, type, FORM_LOGICAL, 0, 0, 0);
    }
    if (extend != NULL)
        extend->frame_id = 0;
out:
    sim_ctx_leave(c);
    return rc;
}

int rknn_outputs_release(rknn_context context, uint32_t n_outputs, rknn_output outputs[])
{
    sim_ctx *c;
    ENTER("rknn_outputs_release", context, c);
    int rc = SIM_OK;
    if (n_outputs > 0 && outputs == NULL) {
        rc = SIM_ERR_PARAM;
    } else if (n_outputs > M(c)->n_outputs) {
        rc = SIM_ERR_PARAM;
    } else {
        for (uint32_t k = 0; k < n_outputs; k++) {
            rknn_output *o = &outputs[k];
            if (o->is_prealloc || o->buf == NULL)
                continue; /* caller-owned buffer, or never filled (release after a failed get): no-op */
            if (untrack_alloc(c, o->buf)) {
                free(o->buf);
                sim_counter_add(SIM_CNT_UNRELEASED_OUTPUTS, -1);
            } else {
                /* Not a buffer this context handed out (or released twice): misuse, not a crash. */
                sim_violation("rknn_outputs_release of a buffer the runtime did not allocate");
            }
        }
    }
    sim_ctx_leave(c);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* rknn_set_io_mem                                                                                         */

int rknn_set_io_mem(rknn_context ctx, rknn_tensor_mem *mem, rknn_tensor_attr *attr)
{
    sim_ctx *c;
    ENTER("rknn_set_io_mem", ctx, c);
    const sim_model *m = M(c);
    int rc = SIM_ERR_PARAM;
    if (mem == NULL || attr == NULL)
        goto out;
    sim_mem_lock();
    sim_mem *sm = sim_mem_find_locked(mem, 0);
    uint64_t serial = sm ? sm->serial : 0;
    uint64_t avail = sm ? sim_mem_available(mem) : 0;
    sim_mem_unlock();
    if (sm == NULL) {
        sim_violation("rknn_set_io_mem with unknown memory");
        goto out;
    }
    /* CHOICE: the tensor is chosen by attr->name (unique in a model), inputs first, and attr->index must
     * equal that tensor's index.  An empty or unknown name is refused. */
    if (memchr(attr->name, '\0', sizeof attr->name) == NULL || attr->name[0] == '\0')
        goto out;
    int is_out = -1;
    uint32_t idx = 0;
    for (uint32_t i = 0; i < m->n_inputs && is_out < 0; i++)
        if (strcmp(m->inputs[i].name, attr->name) == 0) {
            is_out = 0;
            idx = i;
        }
    for (uint32_t j = 0; j < m->n_outputs && is_out < 0; j++)
        if (strcmp(m->outputs[j].name, attr->name) == 0) {
            is_out = 1;
            idx = j;
        }
    if (is_out < 0 || attr->index != idx)
        goto out;
    const sim_tensor *t = is_out ? &m->outputs[idx] : &m->inputs[idx];
    const uint32_t *d = is_out ? out_dims(c, idx) : in_dims(c, idx);
    const int32_t atype = (int32_t)attr->type;
    binding b;
    memset(&b, 0, sizeof b);
    b.mem = mem;
    b.serial = serial;
    b.type = attr->type;
    if (!is_out) {
        b.pass_through = attr->pass_through ? 1 : 0;
        if (b.pass_through) {
            /* native form: model type; NHWC (with row pitch w_stride) for 4-D, model order otherwise */
            if (atype != t->type || (t->n_dims == 4 && attr->fmt != RKNN_TENSOR_NHWC))
                goto out;
            b.form = t->n_dims == 4 ? FORM_NHWC : FORM_LOGICAL;
        } else {
            int form = source_form(t, attr->fmt);
            if (form < 0 || !(is_source_type(atype) || atype == t->type))
                goto out;
            b.form = form;
        }
    } else {
        /* Outputs: the model type (raw) or float32/float16 (dequantised), in the layout of attr->fmt. */
        if (!(atype == t->type || atype == RKNN_TENSOR_FLOAT32 || atype == RKNN_TENSOR_FLOAT16))
            goto out;
        if (t->n_dims == 4) {
            if (attr->fmt == RKNN_TENSOR_NC1HWC2) {
                native_c1c2(t, d, &b.c1, &b.c2);
                if (atype != t->type)
                    goto out;
                b.form = FORM_NC1HWC2;
            } else if (attr->fmt == RKNN_TENSOR_NHWC) {
                b.form = FORM_NHWC;
            } else if (attr->fmt == RKNN_TENSOR_NCHW ||
                       (attr->fmt == RKNN_TENSOR_UNDEFINED && t->fmt == RKNN_TENSOR_UNDEFINED)) {
                b.form = FORM_LOGICAL;
            } else {
                goto out;
            }
        } else if (attr->fmt == RKNN_TENSOR_UNDEFINED) {
            b.form = FORM_LOGICAL;
        } else {
            goto out;
        }
    }
    if (t->n_dims == 4 && b.form == FORM_NHWC) {
        /* w_stride: padded row width in pixels (0 = W); h_stride (multi-batch padding) is not simulated. */
        if (attr->w_stride != 0 && attr->w_stride < d[3])
            goto out;
        if (attr->h_stride != 0 && attr->h_stride != d[2])
            goto out;
        b.w_stride = attr->w_stride;
    }
    if (b.form == FORM_NC1HWC2)
        b.bytes = (uint64_t)d[0] * b.c1 * d[2] * d[3] * b.c2 * esize(t->type);
    else
        b.bytes = source_bytes(t, d, b.pass_through ? t->type : b.type, b.form, b.w_stride);
    if (avail < b.bytes) {
        sim_log("rknn_set_io_mem: memory size(%llu) < model tensor size(%llu)", (unsigned long long)avail,
                (unsigned long long)b.bytes);
        goto out;
    }
    if (is_out) {
        c->out_bind[idx] = b;
    } else {
        c->in_bind[idx] = b;
        if (c->input_mode == MODE_INPUTS_SET)
            sim_violation("rknn_set_io_mem input mixed with rknn_inputs_set on one context"); /* later wins */
        c->input_mode = MODE_IO_MEM;
    }
    rc = SIM_OK;
out:
    sim_ctx_leave(c);
    return rc;
}

int sim_ctx_set_model_mem(sim_ctx *c, sim_mem *mem, int weights)
{
    /* Weight/internal memory needs MEM_ALLOC_OUTSIDE (internal also INTERNAL_ALLOC_OUTSIDE) at init. */
    uint32_t need_flags = weights ? RKNN_FLAG_MEM_ALLOC_OUTSIDE
                                  : (RKNN_FLAG_MEM_ALLOC_OUTSIDE | RKNN_FLAG_INTERNAL_ALLOC_OUTSIDE);
    if (!(c->flags & need_flags))
        return SIM_ERR_FAIL;
    rknn_mem_size ms;
    mem_sizes(c, &ms);
    if (sim_mem_available(&mem->pub) < (weights ? ms.total_weight_size : ms.total_internal_size))
        return SIM_ERR_PARAM;
    if (weights)
        c->weight_mem_serial = mem->serial;
    else
        c->internal_mem_serial = mem->serial;
    return SIM_OK;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Custom ops                                                                                              */

static reg_op *find_op(sim_ctx *c, const char *op_type)
{
    for (uint32_t k = 0; k < c->n_ops; k++)
        if (strcmp(c->ops[k].op.op_type, op_type) == 0)
            return &c->ops[k];
    return NULL;
}

/* Float32 logical tensors for a custom op call (attrs as the compute callback sees them). */
static rknn_custom_op_tensor *op_tensors(const sim_ctx *c, int is_out, float **bufs, uint32_t n)
{
    rknn_custom_op_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    if (ts == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        const sim_tensor *t = is_out ? &M(c)->outputs[i] : &M(c)->inputs[i];
        const uint32_t *d = is_out ? out_dims(c, i) : in_dims(c, i);
        rknn_tensor_attr *a = &ts[i].attr;
        uint64_t e = dims_elems(t->n_dims, d);
        a->index = i;
        a->n_dims = t->n_dims;
        memcpy(a->dims, d, sizeof(uint32_t) * t->n_dims);
        sim_copy_name(a->name, sizeof a->name, t->name, SIM_MAX_NAME);
        a->n_elems = (uint32_t)e;
        a->size = (uint32_t)(e * 4);
        a->size_with_stride = a->size;
        a->fmt = t->n_dims == 4 ? RKNN_TENSOR_NCHW : RKNN_TENSOR_UNDEFINED;
        a->type = RKNN_TENSOR_FLOAT32;
        a->qnt_type = RKNN_TENSOR_QNT_NONE;
        a->scale = 1.0f;
        ts[i].mem.virt_addr = bufs ? bufs[i] : NULL;
        ts[i].mem.fd = -1;
        ts[i].mem.size = a->size;
        ts[i].mem.flags = RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE;
    }
    return ts;
}

static float **alloc_float_bufs(const sim_ctx *c, int is_out, uint32_t n)
{
    float **b = calloc(n ? n : 1, sizeof(float *));
    if (b == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        const sim_tensor *t = is_out ? &M(c)->outputs[i] : &M(c)->inputs[i];
        uint64_t e = dims_elems(t->n_dims, is_out ? out_dims(c, i) : in_dims(c, i));
        b[i] = calloc(e ? e : 1, sizeof(float));
        if (b[i] == NULL) {
            for (uint32_t k = 0; k < i; k++)
                free(b[k]);
            free(b);
            return NULL;
        }
    }
    return b;
}

static void free_float_bufs(float **b, uint32_t n)
{
    if (b == NULL)
        return;
    for (uint32_t i = 0; i < n; i++)
        free(b[i]);
    free(b);
}

int rknn_register_custom_ops(rknn_context ctx, rknn_custom_op *op, uint32_t custom_op_num)
{
    sim_ctx *c;
    ENTER("rknn_register_custom_ops", ctx, c);
    int rc = SIM_ERR_PARAM;
    if (op == NULL || custom_op_num == 0 || custom_op_num > 1024)
        goto out;
    for (uint32_t k = 0; k < custom_op_num; k++) {
        const rknn_custom_op *o = &op[k];
        if (memchr(o->op_type, '\0', sizeof o->op_type) == NULL || o->op_type[0] == '\0')
            goto out;
        /* CHOICE: compute is required (compute_native is "not supported yet" in the header). */
        if (o->compute == NULL)
            goto out;
        if (o->target != RKNN_TARGET_TYPE_CPU && o->target != RKNN_TARGET_TYPE_GPU)
            goto out;
        if (o->target == RKNN_TARGET_TYPE_GPU && o->cl_kernel_source == NULL)
            goto out;
        if (find_op(c, o->op_type) != NULL)
            goto out;
        for (uint32_t j = 0; j < k; j++)
            if (strcmp(op[j].op_type, o->op_type) == 0)
                goto out;
    }
    reg_op *ops = realloc(c->ops, sizeof(reg_op) * (c->n_ops + custom_op_num));
    if (ops == NULL) {
        rc = SIM_ERR_MALLOC;
        goto out;
    }
    c->ops = ops;
    uint32_t base = c->n_ops;
    const sim_model *m = M(c);
    for (uint32_t k = 0; k < custom_op_num; k++) {
        reg_op *r = &c->ops[base + k];
        memset(r, 0, sizeof *r);
        r->op = op[k];
        r->octx.target = op[k].target;
        r->octx.internal_ctx = c->handle;
        if (r->op.init != NULL) {
            /* init runs once, at registration, with the op's tensors (model tensors when the model uses
             * this op type, none otherwise); buffers are zeroed float32 logical tensors. */
            int uses = strcmp(m->custom_op, r->op.op_type) == 0;
            uint32_t ni = uses ? m->n_inputs : 0, no = uses ? m->n_outputs : 0;
            float **bi = alloc_float_bufs(c, 0, ni), **bo = alloc_float_bufs(c, 1, no);
            rknn_custom_op_tensor *ti = bi ? op_tensors(c, 0, bi, ni) : NULL;
            rknn_custom_op_tensor *to = bo ? op_tensors(c, 1, bo, no) : NULL;
            int irc = (ti && to) ? r->op.init(&r->octx, ti, ni, to, no) : SIM_ERR_MALLOC;
            free(ti);
            free(to);
            free_float_bufs(bi, ni);
            free_float_bufs(bo, no);
            if (irc == RKNN_WARNING_SKIP_CUSTOM_OP_COMPUTE) {
                r->builtin = 1; /* asks for the built-in implementation: the simulator's sum rule */
            } else if (irc != 0) {
                sim_log("rknn_register_custom_ops: init of %s failed (%d)", r->op.op_type, irc);
                for (uint32_t j = 0; j < k; j++)
                    if (c->ops[base + j].op.destroy != NULL)
                        c->ops[base + j].op.destroy(&c->ops[base + j].octx);
                rc = SIM_ERR_FAIL;
                goto out;
            }
        }
    }
    c->n_ops = base + custom_op_num;
    rc = SIM_OK;
out:
    sim_ctx_leave(c);
    return rc;
}

void rknn_custom_op_get_op_attr(rknn_custom_op_context *op_ctx, const char *attr_name, rknn_custom_op_attr *op_attr)
{
    if (sim_enter("rknn_custom_op_get_op_attr") != SIM_OK)
        return;
    if (op_attr == NULL)
        return;
    memset(op_attr, 0, sizeof *op_attr);
    if (attr_name != NULL)
        sim_copy_name(op_attr->name, sizeof op_attr->name, attr_name, strlen(attr_name));
    if (op_ctx == NULL || attr_name == NULL)
        return;
    /* Called from inside a custom-op callback, i.e. while the context is in rknn_run on this thread, so
     * the "in call" flag is not taken; the model is pinned by a reference instead. */
    shared_model *sm = NULL;
    pthread_mutex_lock(&reg_mu);
    sim_ctx *c = find_locked(op_ctx->internal_ctx);
    if (c != NULL) {
        sm = c->sm;
        atomic_fetch_add(&sm->refs, 1);
    }
    pthread_mutex_unlock(&reg_mu);
    if (sm == NULL)
        return;
    for (uint32_t k = 0; k < sm->m.n_op_attrs; k++) {
        const sim_op_attr *a = &sm->m.op_attrs[k];
        if (strcmp(a->name, attr_name) == 0) {
            op_attr->dtype = (rknn_tensor_type)a->type;
            op_attr->n_elems = a->n_elems;
            op_attr->data = a->data; /* owned by the model, valid while a context uses it */
            break;
        }
    }
    if (op_attr->n_elems == 0)
        sim_log("op_attr %s not found", attr_name);
    model_unref(sm);
}

/* ------------------------------------------------------------------------------------------------------ */
/* rknn_run                                                                                                */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads every bound input memory into the held form (memory lock held by the caller). */
static int read_bound_inputs(sim_ctx *c)
{
    const sim_model *m = M(c);
    for (uint32_t i = 0; i < m->n_inputs; i++) {
        binding *b = &c->in_bind[i];
        if (b->mem == NULL || sim_mem_find_locked(b->mem, b->serial) == NULL) {
            if (b->mem != NULL)
                sim_violation("rknn_run with a bound memory that was destroyed");
            return SIM_ERR_FAIL;
        }
        const sim_tensor *t = &m->inputs[i];
        const uint32_t *d = in_dims(c, i);
        if (sim_mem_available(b->mem) < b->bytes)
            return SIM_ERR_FAIL;
        int rc = ensure_held(&c->in_held[i], dims_elems(t->n_dims, d) * esize(t->type));
        if (rc == SIM_OK)
            rc = convert_in(t, d, (const char *)b->mem->virt_addr + b->mem->offset,
                            b->pass_through ? t->type : b->type, b->form, b->pass_through, b->w_stride,
                            c->in_held[i]);
        if (rc != SIM_OK)
            return rc;
    }
    return SIM_OK;
}

static int compute(sim_ctx *c, reg_op *op)
{
    const sim_model *m = M(c);
    int rc = SIM_OK;
    float **fin = alloc_float_bufs(c, 0, m->n_inputs);
    float **fout = alloc_float_bufs(c, 1, m->n_outputs);
    uint64_t *nin = calloc(m->n_inputs, sizeof(uint64_t));
    if (fin == NULL || fout == NULL || nin == NULL) {
        rc = SIM_ERR_MALLOC;
        goto done;
    }
    for (uint32_t i = 0; i < m->n_inputs; i++) {
        nin[i] = dims_elems(m->inputs[i].n_dims, in_dims(c, i));
        for (uint64_t e = 0; e < nin[i]; e++)
            fin[i][e] = sim_load_real(c->in_held[i], e, &m->inputs[i]);
    }
    if (op != NULL && !op->builtin) {
        rknn_custom_op_tensor *ti = op_tensors(c, 0, fin, m->n_inputs);
        rknn_custom_op_tensor *to = op_tensors(c, 1, fout, m->n_outputs);
        if (ti == NULL || to == NULL) {
            rc = SIM_ERR_MALLOC;
        } else {
            if (op->op.prepare != NULL && op->op.prepare(&op->octx, ti, m->n_inputs, to, m->n_outputs) != 0)
                rc = SIM_ERR_FAIL;
            if (rc == SIM_OK) {
                sim_counter_add(SIM_CNT_CUSTOM_OP_COMPUTE_CALLS, 1);
                if (op->op.compute(&op->octx, ti, m->n_inputs, to, m->n_outputs) != 0)
                    rc = SIM_ERR_FAIL;
            }
        }
        free(ti);
        free(to);
    } else {
        for (uint32_t j = 0; j < m->n_outputs; j++)
            sim_sum_rule((const float *const *)fin, nin, m->n_inputs, fout[j],
                         dims_elems(m->outputs[j].n_dims, out_dims(c, j)), j);
    }
    for (uint32_t j = 0; j < m->n_outputs && rc == SIM_OK; j++) {
        const sim_tensor *t = &m->outputs[j];
        uint64_t e = dims_elems(t->n_dims, out_dims(c, j));
        rc = ensure_held(&c->out_held[j], e * esize(t->type));
        for (uint64_t k = 0; k < e && rc == SIM_OK; k++)
            sim_store_real(c->out_held[j], k, t, fout[j][k]);
    }
done:
    free_float_bufs(fin, m->n_inputs);
    free_float_bufs(fout, m->n_outputs);
    free(nin);
    return rc;
}

static int write_bound_outputs(sim_ctx *c)
{
    const sim_model *m = M(c);
    int rc = SIM_OK;
    sim_mem_lock();
    for (uint32_t j = 0; j < m->n_outputs && rc == SIM_OK; j++) {
        binding *b = &c->out_bind[j];
        if (b->mem == NULL)
            continue;
        if (sim_mem_find_locked(b->mem, b->serial) == NULL || sim_mem_available(b->mem) < b->bytes) {
            sim_violation("rknn_run with a bound output memory that was destroyed");
            rc = SIM_ERR_FAIL;
            break;
        }
        rc = convert_out(&m->outputs[j], out_dims(c, j), c->out_held[j],
                         (char *)b->mem->virt_addr + b->mem->offset, b->type, b->form, b->c1, b->c2, b->w_stride);
    }
    sim_mem_unlock();
    return rc;
}

int rknn_run(rknn_context context, rknn_run_extend *extend)
{
    sim_ctx *c;
    ENTER("rknn_run", context, c);
    const sim_model *m = M(c);
    int rc = SIM_OK;
    reg_op *op = NULL;
    if (c->flags & RKNN_FLAG_COLLECT_MODEL_INFO_ONLY) {
        sim_log("rknn_run: context was initialised with RKNN_FLAG_COLLECT_MODEL_INFO_ONLY");
        rc = SIM_ERR_FAIL;
        goto out;
    }
    /* CHOICE: the run extension is unimplemented on every SoC; a NULL or blocking extend is accepted,
     * a non-blocking request fails. */
    if (extend != NULL && extend->non_block != 0) {
        rc = SIM_ERR_FAIL;
        goto out;
    }
    if ((c->flags & RKNN_FLAG_MEM_ALLOC_OUTSIDE) && (c->weight_mem_serial == 0 || c->internal_mem_serial == 0)) {
        rc = SIM_ERR_FAIL;
        goto out;
    }
    if ((c->flags & RKNN_FLAG_INTERNAL_ALLOC_OUTSIDE) && c->internal_mem_serial == 0) {
        rc = SIM_ERR_FAIL;
        goto out;
    }
    if (m->custom_op[0] != '\0') {
        op = find_op(c, m->custom_op);
        if (op == NULL) {
            sim_log("Unsupport CPU op: %s in this librknnrt.so, please try to register custom op by calling "
                    "rknn_register_custom_ops",
                    m->custom_op);
            rc = SIM_ERR_FAIL;
            goto out;
        }
    }
    if (c->input_mode == MODE_IO_MEM) {
        sim_mem_lock();
        rc = read_bound_inputs(c);
        sim_mem_unlock();
    } else if (c->input_mode != MODE_INPUTS_SET || !c->inputs_ready) {
        rc = SIM_ERR_FAIL; /* no inputs set */
    }
    if (rc != SIM_OK)
        goto out;
    c->have_run = 0;
    rc = compute(c, op);
    if (rc != SIM_OK)
        goto out;
    int64_t t0 = now_us();
    /* sim_occupy_cores (sim_control.c) counts the run (runs, per-core runs/busy, concurrency). */
    rc = sim_occupy_cores(c->core_mask, sim_run_latency_us(m->latency_us));
    c->perf_run_us = now_us() - t0;
    if (rc != SIM_OK)
        goto out;
    rc = write_bound_outputs(c);
    if (rc == SIM_OK)
        c->have_run = 1;
out:
    sim_ctx_leave(c);
    return rc;
}

int rknn_wait(rknn_context context, rknn_run_extend *extend)
{
    (void)extend;
    sim_ctx *c;
    ENTER("rknn_wait", context, c);
    sim_ctx_leave(c);
    return SIM_ERR_FAIL; /* asynchronous mode: unimplemented on every SoC (2.3.2 Table 4-1) */
}

/* ------------------------------------------------------------------------------------------------------ */
/* Core masks, dynamic shapes                                                                              */

int rknn_set_core_mask(rknn_context context, rknn_core_mask core_mask)
{
    sim_ctx *c;
    ENTER("rknn_set_core_mask", context, c);
    int rc = sim_check_core_mask((int32_t)core_mask);
    if (rc == SIM_OK)
        c->core_mask = (int32_t)core_mask;
    sim_ctx_leave(c);
    return rc;
}

int rknn_set_batch_core_num(rknn_context context, int core_num)
{
    sim_ctx *c;
    ENTER("rknn_set_batch_core_num", context, c);
    int cores = sim_soc_core_count();
    int rc = SIM_OK;
    if (cores <= 1)
        rc = SIM_ERR_FAIL; /* RK3588/RK3576 only */
    else if (core_num < 1 || core_num > cores)
        rc = SIM_ERR_PARAM;
    else
        c->batch_core_num = core_num;
    sim_ctx_leave(c);
    return rc;
}

int rknn_set_input_shape(rknn_context ctx, rknn_tensor_attr *attr)
{
    (void)attr;
    sim_ctx *c;
    ENTER("rknn_set_input_shape", ctx, c);
    sim_ctx_leave(c);
    /* Deprecated 1.5.0 form, "unavailable in current versions" (2.3.2 manual). */
    return SIM_ERR_FAIL;
}

int rknn_set_input_shapes(rknn_context ctx, uint32_t n_inputs, rknn_tensor_attr attr[])
{
    sim_ctx *c;
    ENTER("rknn_set_input_shapes", ctx, c);
    const sim_model *m = M(c);
    int rc = SIM_ERR_PARAM;
    uint32_t(*want)[SIM_MAX_DIMS] = NULL;
    if (!model_dynamic(m)) {
        rc = SIM_ERR_FAIL;
        goto out;
    }
    if (attr == NULL || n_inputs != m->n_inputs)
        goto out;
    want = calloc(n_inputs, sizeof *want);
    uint8_t seen[SIM_MAX_IO];
    memset(seen, 0, sizeof seen);
    if (want == NULL) {
        rc = SIM_ERR_MALLOC;
        goto out;
    }
    for (uint32_t k = 0; k < n_inputs; k++) {
        const rknn_tensor_attr *a = &attr[k];
        if (a->index >= n_inputs || seen[a->index])
            goto out;
        seen[a->index] = 1;
        const sim_tensor *t = &m->inputs[a->index];
        if (a->n_dims != t->n_dims)
            goto out;
        /* Only NHWC or UNDEFINED are accepted (runtime rule); NHWC dims are [N,H,W,C]. */
        if (a->fmt == RKNN_TENSOR_NHWC && a->n_dims == 4) {
            want[a->index][0] = a->dims[0];
            want[a->index][1] = a->dims[3];
            want[a->index][2] = a->dims[1];
            want[a->index][3] = a->dims[2];
        } else if (a->fmt == RKNN_TENSOR_UNDEFINED) {
            memcpy(want[a->index], a->dims, sizeof(uint32_t) * a->n_dims);
        } else {
            goto out;
        }
    }
    /* The shapes must all be row s of the dynamic range (the same s for every input). */
    uint32_t rows = m->inputs[0].n_shapes, row = rows;
    for (uint32_t s = 0; s < rows && row == rows; s++) {
        int ok = 1;
        for (uint32_t i = 0; i < n_inputs && ok; i++)
            ok = memcmp(m->inputs[i].shapes[s], want[i], sizeof(uint32_t) * m->inputs[i].n_dims) == 0;
        if (ok)
            row = s;
    }
    if (row == rows)
        goto out;
    if (row != c->shape_row) {
        /* New shapes: inputs must be set again and zero-copy memories re-bound (rknn-abi.md §7.8). */
        free_held(c);
        memset(c->in_bind, 0, sizeof(binding) * m->n_inputs);
        memset(c->out_bind, 0, sizeof(binding) * m->n_outputs);
    }
    c->shape_row = row;
    rc = SIM_OK;
out:
    free(want);
    sim_ctx_leave(c);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* rknn_sim_struct_layout (control API, DESIGN.md)                                                         */

typedef struct layout_row {
    const char *type;
    const char *field; /* NULL: the struct itself */
    uint32_t offset, size;
} layout_row;

#define LS(T) { #T, NULL, 0, (uint32_t)sizeof(T) }
#define LF(T, F) { #T, #F, (uint32_t)offsetof(T, F), (uint32_t)sizeof(((T *)0)->F) }

static const layout_row layout_rows[] = {
    LS(rknn_input_output_num), LF(rknn_input_output_num, n_input), LF(rknn_input_output_num, n_output),
    LS(rknn_tensor_attr), LF(rknn_tensor_attr, index), LF(rknn_tensor_attr, n_dims), LF(rknn_tensor_attr, dims),
    LF(rknn_tensor_attr, name), LF(rknn_tensor_attr, n_elems), LF(rknn_tensor_attr, size),
    LF(rknn_tensor_attr, fmt), LF(rknn_tensor_attr, type), LF(rknn_tensor_attr, qnt_type),
    LF(rknn_tensor_attr, fl), LF(rknn_tensor_attr, zp), LF(rknn_tensor_attr, scale),
    LF(rknn_tensor_attr, w_stride), LF(rknn_tensor_attr, size_with_stride), LF(rknn_tensor_attr, pass_through),
    LF(rknn_tensor_attr, h_stride),
    LS(rknn_input_range), LF(rknn_input_range, index), LF(rknn_input_range, shape_number),
    LF(rknn_input_range, fmt), LF(rknn_input_range, name), LF(rknn_input_range, dyn_range),
    LF(rknn_input_range, n_dims),
    LS(rknn_perf_detail), LF(rknn_perf_detail, perf_data), LF(rknn_perf_detail, data_len),
    LS(rknn_perf_run), LF(rknn_perf_run, run_duration),
    LS(rknn_sdk_version), LF(rknn_sdk_version, api_version), LF(rknn_sdk_version, drv_version),
    LS(rknn_mem_size), LF(rknn_mem_size, total_weight_size), LF(rknn_mem_size, total_internal_size),
    LF(rknn_mem_size, total_dma_allocated_size), LF(rknn_mem_size, total_sram_size),
    LF(rknn_mem_size, free_sram_size), LF(rknn_mem_size, reserved),
    LS(rknn_custom_string), LF(rknn_custom_string, string),
    LS(rknn_tensor_mem), LF(rknn_tensor_mem, virt_addr), LF(rknn_tensor_mem, phys_addr), LF(rknn_tensor_mem, fd),
    LF(rknn_tensor_mem, offset), LF(rknn_tensor_mem, size), LF(rknn_tensor_mem, flags),
    LF(rknn_tensor_mem, priv_data),
    LS(rknn_input), LF(rknn_input, index), LF(rknn_input, buf), LF(rknn_input, size),
    LF(rknn_input, pass_through), LF(rknn_input, type), LF(rknn_input, fmt),
    LS(rknn_output), LF(rknn_output, want_float), LF(rknn_output, is_prealloc), LF(rknn_output, index),
    LF(rknn_output, buf), LF(rknn_output, size),
    LS(rknn_init_extend), LF(rknn_init_extend, ctx), LF(rknn_init_extend, real_model_offset),
    LF(rknn_init_extend, real_model_size), LF(rknn_init_extend, model_buffer_fd),
    LF(rknn_init_extend, model_buffer_flags), LF(rknn_init_extend, reserved),
    LS(rknn_run_extend), LF(rknn_run_extend, frame_id), LF(rknn_run_extend, non_block),
    LF(rknn_run_extend, timeout_ms), LF(rknn_run_extend, fence_fd),
    LS(rknn_output_extend), LF(rknn_output_extend, frame_id),
    LS(rknn_gpu_op_context), LF(rknn_gpu_op_context, cl_context), LF(rknn_gpu_op_context, cl_command_queue),
    LF(rknn_gpu_op_context, cl_kernel),
    LS(rknn_custom_op_context), LF(rknn_custom_op_context, target), LF(rknn_custom_op_context, internal_ctx),
    LF(rknn_custom_op_context, gpu_ctx), LF(rknn_custom_op_context, priv_data),
    LS(rknn_custom_op_tensor), LF(rknn_custom_op_tensor, attr), LF(rknn_custom_op_tensor, mem),
    LS(rknn_custom_op_attr), LF(rknn_custom_op_attr, name), LF(rknn_custom_op_attr, dtype),
    LF(rknn_custom_op_attr, n_elems), LF(rknn_custom_op_attr, data),
    LS(rknn_custom_op), LF(rknn_custom_op, version), LF(rknn_custom_op, target), LF(rknn_custom_op, op_type),
    LF(rknn_custom_op, cl_kernel_name), LF(rknn_custom_op, cl_kernel_source), LF(rknn_custom_op, cl_source_size),
    LF(rknn_custom_op, cl_build_options), LF(rknn_custom_op, init), LF(rknn_custom_op, prepare),
    LF(rknn_custom_op, compute), LF(rknn_custom_op, compute_native), LF(rknn_custom_op, destroy),
};

int rknn_sim_struct_layout(const char *type, const char *field, uint32_t *offset, uint32_t *size)
{
    if (type == NULL)
        return SIM_ERR_PARAM;
    for (size_t k = 0; k < sizeof layout_rows / sizeof layout_rows[0]; k++) {
        const layout_row *r = &layout_rows[k];
        if (strcmp(r->type, type) != 0)
            continue;
        if ((field == NULL) != (r->field == NULL))
            continue;
        if (field != NULL && strcmp(r->field, field) != 0)
            continue;
        if (offset != NULL)
            *offset = r->offset;
        if (size != NULL)
            *size = r->size;
        return SIM_OK;
    }
    return SIM_ERR_PARAM;
}
