/*
 * Unit checks of stubs/sim_control.c through its internal interface (sim_internal.h), without the rknn_*
 * functions.  Built by tests/test_sim_sanitizers.py together with stubs/sim_control.c only, under ASan+UBSan
 * and under TSan.  Exit code 0 = every check passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim_internal.h"

int rknn_sim_get_counter(const char *name, int64_t *value);
int rknn_sim_inject_fault(const char *func, int64_t nth, int32_t code, int64_t count);
int rknn_sim_set_delay(const char *func, int64_t delay_us);
int rknn_sim_hang_next_run(int64_t hang_us);
void rknn_sim_clear_faults(void);
void rknn_sim_reset_counters(void);
int rknn_sim_set_soc(const char *name);
int rknn_sim_set_latency_override(int64_t us);
int rknn_sim_set_jitter(double fraction);

static int g_failures;

#define CHECK(cond)                                                                                       \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                    \
            g_failures++;                                                                                 \
        }                                                                                                 \
    } while (0)

static int64_t counter(const char *name)
{
    int64_t v = -1;
    CHECK(rknn_sim_get_counter(name, &v) == 0);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void test_faults(void)
{
    rknn_sim_clear_faults();
    CHECK(sim_enter("rknn_query") == 0);
    CHECK(rknn_sim_inject_fault("rknn_query", 2, -9, 2) == 0);
    int got[6];
    for (int i = 0; i < 6; i++)
        got[i] = sim_enter("rknn_query");
    CHECK(got[0] == 0 && got[1] == -9 && got[2] == -9 && got[3] == 0 && got[4] == 0 && got[5] == 0);
    CHECK(rknn_sim_inject_fault("rknn_run", 3, -2, 0) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(sim_enter("rknn_run") == (i >= 2 ? -2 : 0));
    rknn_sim_clear_faults();
    CHECK(sim_enter("rknn_run") == 0);
    CHECK(sim_enter("not_a_function") == 0); /* never fails the caller */
    CHECK(rknn_sim_inject_fault("not_a_function", 1, -1, 1) == SIM_ERR_PARAM);
    rknn_sim_reset_counters();
    CHECK(sim_enter("rknn_init") == 0);
    CHECK(counter("calls:rknn_init") == 1);
}

static void test_core_masks(void)
{
    static const int32_t masks[] = { 0, 1, 2, 4, 3, 7, 0xffff, 5, 6, 8, -1, 0x10000 };
    static const int want3[] = { 0, 0, 0, 0, 0, 0, 0, -5, -5, -5, -5, -5 };
    static const int want2[] = { 0, 0, 0, -5, 0, -5, 0, -5, -5, -5, -5, -5 };
    const char *socs[] = { "rk3588", "rk3576", "rk3566", "rk3568", "rk3562" };
    const int cores[] = { 3, 2, 1, 1, 1 };
    for (int s = 0; s < 5; s++) {
        CHECK(rknn_sim_set_soc(socs[s]) == 0);
        CHECK(sim_soc_core_count() == cores[s]);
        CHECK(strcmp(sim_soc_name(), socs[s]) == 0);
        for (size_t m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
            int want = cores[s] == 3 ? want3[m] : cores[s] == 2 ? want2[m] : SIM_ERR_PLATFORM;
            CHECK(sim_check_core_mask(masks[m]) == want);
        }
    }
    CHECK(rknn_sim_set_soc("rk3588") == 0);
}

static void test_latency(void)
{
    CHECK(sim_run_latency_us(-1) == 1000);
    CHECK(sim_run_latency_us(0) == 0);
    CHECK(sim_run_latency_us(2500) == 2500);
    CHECK(rknn_sim_set_latency_override(700) == 0);
    CHECK(sim_run_latency_us(2500) == 700);
    CHECK(rknn_sim_set_latency_override(-1) == 0);
    CHECK(rknn_sim_set_jitter(0.25) == 0);
    int differs = 0;
    for (int i = 0; i < 200; i++) {
        int64_t v = sim_run_latency_us(10000);
        CHECK(v >= 7500 && v <= 12500);
        differs |= v != 10000;
    }
    CHECK(differs);
    CHECK(rknn_sim_set_jitter(0.0) == 0);
}

/* ---- cores ---- */

typedef struct job {
    int32_t mask;
    int64_t latency;
    pthread_barrier_t *barrier;
    int finished_as; /* order in which the job finished */
} job;

static atomic_int g_finish_seq;

static void *run_job(void *arg)
{
    job *j = arg;
    if (j->barrier != NULL)
        pthread_barrier_wait(j->barrier);
    CHECK(sim_occupy_cores(j->mask, j->latency) == SIM_OK);
    j->finished_as = atomic_fetch_add(&g_finish_seq, 1);
    return NULL;
}

static void run_parallel(job *jobs, int n)
{
    pthread_t th[8];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        jobs[i].barrier = &barrier;
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
}

static void test_cores(void)
{
    CHECK(rknn_sim_set_soc("rk3588") == 0);
    rknn_sim_reset_counters();
    int rounds = 0;
    do { /* the runs of one round overlap unless the host stalls a thread for 100 ms */
        job three[3] = { { 1, 100000, NULL, 0 }, { 2, 100000, NULL, 0 }, { 4, 100000, NULL, 0 } };
        run_parallel(three, 3);
        rounds++;
    } while (rounds < 5 && counter("max_concurrent_runs") < 3);
    CHECK(counter("max_concurrent_runs") == 3);
    CHECK(counter("runs") == 3 * rounds);
    CHECK(counter("runs_core0") == rounds && counter("runs_core1") == rounds && counter("runs_core2") == rounds);
    CHECK(counter("busy_us_core0") == 100000 * rounds && counter("busy_us_core2") == 100000 * rounds);

    rknn_sim_reset_counters();
    job same[3] = { { 1, 10000, NULL, 0 }, { 1, 10000, NULL, 0 }, { 1, 10000, NULL, 0 } };
    run_parallel(same, 3);
    CHECK(counter("max_concurrent_runs") == 1);
    CHECK(counter("runs_core0") == 3 && counter("busy_us_core0") == 30000);

    rknn_sim_reset_counters();
    job all[2] = { { 0xffff, 126000, NULL, 0 }, { 4, 1000, NULL, 0 } };
    run_parallel(all, 2);
    CHECK(counter("max_concurrent_runs") == 1);
    CHECK(counter("busy_us_core0") == 100000 && counter("busy_us_core1") == 100000);
    CHECK(counter("busy_us_core2") == 101000);

    /* AUTO never exceeds the cores and prefers the lowest idle one */
    rknn_sim_reset_counters();
    job autos[5] = { { 0, 20000, NULL, 0 }, { 0, 20000, NULL, 0 }, { 0, 20000, NULL, 0 }, { 0, 20000, NULL, 0 },
                     { 0, 20000, NULL, 0 } };
    run_parallel(autos, 5);
    CHECK(counter("max_concurrent_runs") <= 3);
    CHECK(counter("runs") == 5);
    rknn_sim_reset_counters();
    CHECK(sim_occupy_cores(0, 100) == 0);
    CHECK(counter("runs_core0") == 1);

    /* a waiting multi-core run reserves its cores: a later single-core run on an idle core waits */
    rknn_sim_reset_counters();
    atomic_store(&g_finish_seq, 0);
    job a = { 1, 400000, NULL, 0 }, b = { 7, 10000, NULL, 0 }, c = { 2, 10000, NULL, 0 };
    pthread_t ta, tb, tc;
    pthread_create(&ta, NULL, run_job, &a);
    sleep_ms(100); /* generous gaps so the three threads queue in this order even on a loaded host */
    pthread_create(&tb, NULL, run_job, &b);
    sleep_ms(100);
    pthread_create(&tc, NULL, run_job, &c);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_join(tc, NULL);
    CHECK(a.finished_as == 0 && b.finished_as == 1 && c.finished_as == 2);
    CHECK(counter("max_concurrent_runs") == 1);

    /* the pending hang goes to exactly one run */
    rknn_sim_reset_counters();
    CHECK(rknn_sim_hang_next_run(30000) == 0);
    CHECK(sim_occupy_cores(4, 1000) == 0);
    CHECK(sim_occupy_cores(4, 1000) == 0);
    CHECK(counter("busy_us_core2") == 32000);

    /* single-core SoC: masks naming absent cores fall back to AUTO on core 0 */
    CHECK(rknn_sim_set_soc("rk3566") == 0);
    rknn_sim_reset_counters();
    CHECK(sim_occupy_cores(4, 100) == 0);
    CHECK(sim_occupy_cores(0xffff, 100) == 0);
    CHECK(counter("runs_core0") == 2 && counter("busy_us_core0") == 200);
    CHECK(rknn_sim_set_soc("rk3588") == 0);
}

static void test_counters(void)
{
    sim_counter_add(SIM_CNT_LIVE_CONTEXTS, 2);
    sim_violation("unit test");
    sim_counter_add(SIM_CNT_CUSTOM_OP_COMPUTE_CALLS, 5);
    CHECK(counter("live_contexts") == 2 && sim_counter_get(SIM_CNT_LIVE_CONTEXTS) == 2);
    CHECK(counter("violations") == 1 && counter("custom_op_compute_calls") == 5);
    rknn_sim_reset_counters();
    CHECK(counter("live_contexts") == 2); /* live counters survive a reset */
    CHECK(counter("violations") == 0 && counter("custom_op_compute_calls") == 0);
    sim_counter_add(SIM_CNT_LIVE_CONTEXTS, -2);
}

/* Many threads hammering the fault table and counters at once (for TSan). */
static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        (void)sim_enter("rknn_query");
        if (i % 100 == 0) {
            (void)rknn_sim_inject_fault("rknn_query", 1, -1, 1);
            (void)rknn_sim_set_delay("rknn_wait", 0);
            (void)sim_run_latency_us(100);
        }
    }
    return NULL;
}

static void test_hammer(void)
{
    rknn_sim_clear_faults();
    rknn_sim_reset_counters();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(counter("calls:rknn_query") == 8000);
    rknn_sim_clear_faults();
}

int main(void)
{
    test_faults();
    test_core_masks();
    test_latency();
    test_counters();
    test_cores();
    test_hammer();
    if (g_failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", g_failures);
        return 1;
    }
    printf("sim_control unit: ok\n");
    return 0;
}
