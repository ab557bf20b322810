/*
 * The exported rknn_* API of the simulated runtime, part 1: contexts (init, dup, destroy, weight sharing),
 * rknn_query and the attributes it reports, and rknn_sim_struct_layout.  Inputs/outputs, zero-copy
 * bindings, run and dynamic shapes are in sim_io.c, custom ops in sim_custom_op.c, memory objects in
 * sim_mem.c, conversions and the sum rule in sim_compute.c, the model parsers in sim_native.c and
 * rknn_format.c.
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
/* Models shared between contexts                                                                          */

void sim_model_unref(shared_model *sm)
{
    if (sm != NULL && atomic_fetch_sub(&sm->refs, 1) == 1) {
        sim_model_free(&sm->m);
        free(sm);
    }
}

/* ------------------------------------------------------------------------------------------------------ */
/* Context registry                                                                                        */

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

shared_model *sim_model_ref_by_handle(rknn_context h)
{
    shared_model *sm = NULL;
    pthread_mutex_lock(&reg_mu);
    sim_ctx *c = find_locked(h);
    if (c != NULL) {
        sm = c->sm;
        atomic_fetch_add(&sm->refs, 1);
    }
    pthread_mutex_unlock(&reg_mu);
    return sm;
}


void sim_ctx_free_held(sim_ctx *c)
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
    /* rknn_init_extend.real_model_offset/real_model_size (1.4.0+): the model sits inside a bigger buffer or
     * file.  CHOICE: a window outside the data is PARAM_INVALID; size 0 means "to the end". */
    if (extend != NULL && (extend->real_model_offset != 0 || extend->real_model_size != 0)) {
        uint64_t off = (uint64_t)(int64_t)extend->real_model_offset;
        if (extend->real_model_offset < 0 || off > len ||
            (extend->real_model_size != 0 && extend->real_model_size > len - off)) {
            free(file);
            return SIM_ERR_PARAM;
        }
        data += off;
        len = extend->real_model_size != 0 ? extend->real_model_size : len - off;
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
    sim_model_unref(master);
    sim_model_unref(sm);
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
    sim_ctx_free_held(c);
    free(c->in_held);
    free(c->out_held);
    free(c->in_bind);
    free(c->out_bind);
    if (atomic_fetch_sub(&c->sm->n_ctx, 1) == 1 && atomic_load(&c->sm->weight_users) > 0)
        sim_violation("rknn_destroy of a weight-sharing master while dependent contexts live");
    sim_model_unref(c->sm);
    if (c->weights_src != NULL) {
        atomic_fetch_sub(&c->weights_src->weight_users, 1);
        sim_model_unref(c->weights_src);
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
void sim_native_c1c2(const sim_tensor *t, const uint32_t *d, uint32_t *c1, uint32_t *c2)
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

uint64_t sim_nc1hwc2_bytes(const sim_tensor *t, const uint32_t *d)
{
    uint32_t c1, c2;
    sim_native_c1c2(t, d, &c1, &c2);
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
        sim_native_c1c2(t, d, &c1, &c2);
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
    a->size_with_stride = (uint32_t)sim_nc1hwc2_bytes(t, d);
}

/* ------------------------------------------------------------------------------------------------------ */
/* rknn_query                                                                                              */

extern const char *rknn_sim_version(void) __attribute__((weak));

void sim_ctx_mem_sizes(const sim_ctx *c, rknn_mem_size *ms)
{
    const sim_model *m = M(c);
    uint64_t io = 0;
    for (uint32_t i = 0; i < m->n_inputs; i++)
        io += dims_elems(m->inputs[i].n_dims, m->inputs[i].dims) * esize(m->inputs[i].type);
    for (uint32_t j = 0; j < m->n_outputs; j++)
        io += m->outputs[j].n_dims == 4 ? sim_nc1hwc2_bytes(&m->outputs[j], m->outputs[j].dims)
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
        sim_ctx_mem_sizes(c, &ms);
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
