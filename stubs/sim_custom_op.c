/*
 * Custom ops of the simulated runtime: rknn_register_custom_ops, rknn_custom_op_get_op_attr, and the float32
 * logical tensors the callbacks see (used by rknn_run in sim_io.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_api_priv.h"

/* ------------------------------------------------------------------------------------------------------ */
/* Custom ops                                                                                              */

reg_op *sim_find_op(sim_ctx *c, const char *op_type)
{
    for (uint32_t k = 0; k < c->n_ops; k++)
        if (strcmp(c->ops[k].op.op_type, op_type) == 0)
            return &c->ops[k];
    return NULL;
}

/* Float32 logical tensors for a custom op call (attrs as the compute callback sees them). */
rknn_custom_op_tensor *sim_op_tensors(const sim_ctx *c, int is_out, float **bufs, uint32_t n)
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

float **sim_float_bufs_alloc(const sim_ctx *c, int is_out, uint32_t n)
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

void sim_float_bufs_free(float **b, uint32_t n)
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
        if (sim_find_op(c, o->op_type) != NULL)
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
            float **bi = sim_float_bufs_alloc(c, 0, ni), **bo = sim_float_bufs_alloc(c, 1, no);
            rknn_custom_op_tensor *ti = bi ? sim_op_tensors(c, 0, bi, ni) : NULL;
            rknn_custom_op_tensor *to = bo ? sim_op_tensors(c, 1, bo, no) : NULL;
            int irc = (ti && to) ? r->op.init(&r->octx, ti, ni, to, no) : SIM_ERR_MALLOC;
            free(ti);
            free(to);
            sim_float_bufs_free(bi, ni);
            sim_float_bufs_free(bo, no);
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
    shared_model *sm = sim_model_ref_by_handle(op_ctx->internal_ctx);
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
    sim_model_unref(sm);
}

