/* Parser of real .rknn containers. PLACEHOLDER: rejects everything until the real parser lands. */
#include "sim_internal.h"

int sim_parse_rknn(const uint8_t *data, size_t len, sim_model *out)
{
    (void)data;
    (void)len;
    sim_model_free(out);
    return SIM_ERR_MODEL;
}
