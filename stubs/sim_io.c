/*
 * The exported rknn_* API of the simulated runtime, part 2: rknn_inputs_set, rknn_outputs_get/release,
 * rknn_set_io_mem (zero copy), rknn_run/rknn_wait, core masks and dynamic shapes (see sim_api.c for the
 * conventions and the CHOICE markers).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_api_priv.h"

/* ------------------------------------------------------------------------------------------------------ */
/* Input conversion: user buffer -> held form (model type, logical order)                                 */

static int is_source_type(int32_t t)
{
    return t == RKNN_TENSOR_FLOAT32 || t == RKNN_TENSOR_FLOAT16 || t == RKNN_TENSOR_UINT8 || t == RKNN_TENSOR_INT8;
}

/* Bytes a buffer of (type, form, strides) needs for tensor t with logical dims d. */
static uint64_t source_bytes(const sim_tensor *t, const uint32_t *d, int32_t type, int form, uint32_t w_stride,
                             uint32_t h_stride)
{
    uint64_t es = esize(type);
    if (t->n_dims == 4 && form == FORM_NHWC && (w_stride > d[3] || h_stride > d[2])) {
        const uint64_t f[5] = { d[0], h_stride > d[2] ? h_stride : d[2], w_stride > d[3] ? w_stride : d[3], d[1], es };
        uint64_t bytes = 1;
        for (int k = 0; k < 5; k++)
            if (__builtin_mul_overflow(bytes, f[k], &bytes))
                return UINT64_MAX; /* absurd strides: no memory is big enough */
        return bytes;
    }
    return dims_elems(t->n_dims, d) * es;
}

/* Converts one input buffer into `held` (which holds n elements of t->type). */
static int convert_in(const sim_tensor *t, const uint32_t *d, const void *src, int32_t type, int form,
                      int pass_through, uint32_t w_stride, uint32_t h_stride, void *held)
{
    uint64_t n = dims_elems(t->n_dims, d);
    uint32_t es = esize(type);
    const void *logical = src;
    void *tmp = NULL;
    if (t->n_dims == 4 && form == FORM_NHWC) {
        tmp = malloc(n > 0 ? n * es : 1);
        if (tmp == NULL)
            return SIM_ERR_MALLOC;
        sim_nhwc_to_nchw(src, tmp, d, es, w_stride, h_stride);
        logical = tmp;
    }
    if (pass_through || (type == t->type && (t->qnt_type != 2 || type == RKNN_TENSOR_INT8))) {
        /* Native data, an int8 source for an int8 model (DESIGN.md: taken as already quantised with the
         * model's parameters, the stricter reading), or an unquantised model's own type (identity).  Other
         * sources -- uint8 into a quantised uint8 model included -- are values, quantised below. */
        memcpy(held, logical, n * es);
    } else {
        sim_values_to_held(logical, type, n, t, held);
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
    /* CHOICE: non-4-D inputs take UNDEFINED (DESIGN.md), or the fmt the model itself reports for them (a
     * native model may label any rank NCHW); other labels are refused. */
    return (fmt == RKNN_TENSOR_UNDEFINED || fmt == t->fmt) ? FORM_LOGICAL : -1;
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
            /* float32/float16/uint8/int8, or the model's own type (1.5.2 guide Table 4-1: bool -> bool,
             * int64 -> int64). */
            if (!(is_source_type(in->type) || (int32_t)in->type == t->type) || source_form(t, in->fmt) < 0) {
                rc = SIM_ERR_INPUT;
                goto out;
            }
            need = source_bytes(t, d, in->type, source_form(t, in->fmt), 0, 0);
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
            rc = convert_in(t, d, in->buf, type, form, in->pass_through, 0, 0, c->in_held[in->index]);
        }
    }
    if (rc != SIM_OK)
        goto out;
    if (c->input_mode == MODE_IO_MEM)
        sim_violation("rknn_inputs_set mixed with rknn_set_io_mem inputs on one context"); /* later wins */
    if (c->flags & RKNN_FLAG_DISABLE_FLUSH_INPUT_MEM_CACHE)
        sim_violation("rknn_inputs_set on a context with RKNN_FLAG_DISABLE_FLUSH_INPUT_MEM_CACHE");
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
                       uint32_t c1, uint32_t c2, uint32_t w_stride, uint32_t h_stride)
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
        sim_held_to_values(held, t, n, type, logical);
    }
    if (tmp != NULL) {
        if (form == FORM_NHWC)
            sim_nchw_to_nhwc(tmp, dst, d, es, w_stride, h_stride);
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
        convert_out(t, d, c->out_held[o->index], buf, type, FORM_LOGICAL, 0, 0, 0, 0);
    }
    if (c->flags & RKNN_FLAG_DISABLE_FLUSH_OUTPUT_MEM_CACHE)
        sim_violation("rknn_outputs_get on a context with RKNN_FLAG_DISABLE_FLUSH_OUTPUT_MEM_CACHE");
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
            /* A bound buffer in the model's own type is native data (NATIVE_* attrs are in the model type,
             * zero-copy writers quantise themselves), whatever the type -- uint8 models included. */
            if (atype == t->type)
                b.pass_through = 1;
        }
    } else {
        /* Outputs: the model type (raw) or float32/float16 (dequantised), in the layout of attr->fmt. */
        if (!(atype == t->type || atype == RKNN_TENSOR_FLOAT32 || atype == RKNN_TENSOR_FLOAT16))
            goto out;
        if (t->n_dims == 4) {
            if (attr->fmt == RKNN_TENSOR_NC1HWC2) {
                sim_native_c1c2(t, d, &b.c1, &b.c2);
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
        } else if (attr->fmt == RKNN_TENSOR_UNDEFINED || (int32_t)attr->fmt == t->fmt) {
            b.form = FORM_LOGICAL;
        } else {
            goto out;
        }
    }
    if (t->n_dims == 4 && b.form == FORM_NHWC) {
        /* w_stride: padded row width in pixels; h_stride: padded rows per image (multi-batch inputs); 0 = dense.
         * CHOICE: a stride below the dimension is refused. */
        if ((attr->w_stride != 0 && attr->w_stride < d[3]) || (attr->h_stride != 0 && attr->h_stride < d[2]))
            goto out;
        b.w_stride = attr->w_stride;
        b.h_stride = attr->h_stride;
    }
    if (b.form == FORM_NC1HWC2)
        b.bytes = (uint64_t)d[0] * b.c1 * d[2] * d[3] * b.c2 * esize(t->type);
    else
        b.bytes = source_bytes(t, d, b.pass_through ? t->type : b.type, b.form, b.w_stride, b.h_stride);
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
    sim_ctx_mem_sizes(c, &ms);
    if (sim_mem_available(&mem->pub) < (weights ? ms.total_weight_size : ms.total_internal_size))
        return SIM_ERR_PARAM;
    if (weights)
        c->weight_mem_serial = mem->serial;
    else
        c->internal_mem_serial = mem->serial;
    return SIM_OK;
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
                            b->h_stride, c->in_held[i]);
        if (rc != SIM_OK)
            return rc;
    }
    return SIM_OK;
}

static int compute(sim_ctx *c, reg_op *op)
{
    const sim_model *m = M(c);
    int rc = SIM_OK;
    float **fin = sim_float_bufs_alloc(c, 0, m->n_inputs);
    float **fout = sim_float_bufs_alloc(c, 1, m->n_outputs);
    uint64_t *nin = calloc(m->n_inputs, sizeof(uint64_t));
    if (fin == NULL || fout == NULL || nin == NULL) {
        rc = SIM_ERR_MALLOC;
        goto done;
    }
    for (uint32_t i = 0; i < m->n_inputs; i++) {
        nin[i] = dims_elems(m->inputs[i].n_dims, in_dims(c, i));
        sim_load_reals(c->in_held[i], nin[i], &m->inputs[i], fin[i]);
    }
    if (op != NULL && !op->builtin) {
        rknn_custom_op_tensor *ti = sim_op_tensors(c, 0, fin, m->n_inputs);
        rknn_custom_op_tensor *to = sim_op_tensors(c, 1, fout, m->n_outputs);
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
        if (rc == SIM_OK)
            sim_store_reals(c->out_held[j], e, t, fout[j]);
    }
done:
    sim_float_bufs_free(fin, m->n_inputs);
    sim_float_bufs_free(fout, m->n_outputs);
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
                         (char *)b->mem->virt_addr + b->mem->offset, b->type, b->form, b->c1, b->c2, b->w_stride,
                         b->h_stride);
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
        op = sim_find_op(c, m->custom_op);
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
        sim_ctx_free_held(c);
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

