/* SoC profiles, simulated cores, counters and fault injection. PLACEHOLDER until the real module lands. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <time.h>

#include "sim_internal.h"

static _Atomic int64_t counters[SIM_CNT__COUNT];

void sim_counter_add(sim_counter_id id, int64_t delta) { atomic_fetch_add(&counters[id], delta); }
int64_t sim_counter_get(sim_counter_id id) { return atomic_load(&counters[id]); }
void sim_violation(const char *what) { (void)what; sim_counter_add(SIM_CNT_VIOLATIONS, 1); }
int sim_enter(const char *func) { (void)func; return SIM_OK; }
int sim_soc_core_count(void) { return 3; }
const char *sim_soc_name(void) { return "rk3588"; }
int sim_check_core_mask(int32_t mask) { return (mask == 0 || mask == 1 || mask == 2 || mask == 4 || mask == 3 || mask == 7 || mask == 0xffff) ? SIM_OK : SIM_ERR_PARAM; }
int64_t sim_run_latency_us(int64_t model_latency_us) { return model_latency_us < 0 ? 1000 : model_latency_us; }
int sim_occupy_cores(int32_t mask, int64_t latency_us)
{
    (void)mask;
    struct timespec ts = { (time_t)(latency_us / 1000000), (long)(latency_us % 1000000) * 1000L };
    nanosleep(&ts, NULL);
    sim_counter_add(SIM_CNT_RUNS, 1);
    return SIM_OK;
}
