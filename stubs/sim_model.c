/* The model representation shared by the .rknn and native parsers. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

void sim_model_init(sim_model *m)
{
    memset(m, 0, sizeof(*m));
    m->latency_us = -1;
}

static void free_tensors(sim_tensor *tensors, uint32_t count)
{
    if (tensors == NULL)
        return;
    for (uint32_t i = 0; i < count; i++)
        free(tensors[i].shapes);
    free(tensors);
}

void sim_model_free(sim_model *m)
{
    if (m == NULL)
        return;
    free_tensors(m->inputs, m->n_inputs);
    free_tensors(m->outputs, m->n_outputs);
    if (m->op_attrs != NULL) {
        for (uint32_t i = 0; i < m->n_op_attrs; i++)
            free(m->op_attrs[i].data);
        free(m->op_attrs);
    }
    sim_model_init(m);
}

uint64_t sim_tensor_elems(const sim_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->n_dims && i < SIM_MAX_DIMS; i++)
        n *= t->dims[i];
    return n;
}

uint32_t sim_type_size(int32_t rknn_type)
{
    switch (rknn_type) {
    case 0: return 4;  /* FLOAT32 */
    case 1: return 2;  /* FLOAT16 */
    case 2: return 1;  /* INT8 */
    case 3: return 1;  /* UINT8 */
    case 4: return 2;  /* INT16 */
    case 5: return 2;  /* UINT16 */
    case 6: return 4;  /* INT32 */
    case 7: return 4;  /* UINT32 */
    case 8: return 8;  /* INT64 */
    case 9: return 1;  /* BOOL */
    case 11: return 2; /* BFLOAT16 */
    default: return 0; /* INT4 is packed and everything else is unknown */
    }
}

void sim_copy_name(char *dst, size_t cap, const char *src, size_t src_len)
{
    if (cap == 0)
        return;
    size_t n = 0;
    while (n < src_len && n + 1 < cap && src[n] != '\0')
        n++;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
