/*
 * SoC profiles, the simulated NPU cores and their timing, counters, fault injection and the exported
 * rknn_sim_* control functions (all but rknn_sim_struct_layout, which lives with the rknn_* functions).
 *
 * Locking: every piece of mutable state has exactly one owner.
 *   - counters:                 atomics, no lock
 *   - fault table, delays:      g_fault_lock (never held while sleeping)
 *   - cores, waiters, hang:     g_core_lock + g_core_cv (never held while sleeping)
 *   - RNG, jitter:              g_rng_lock
 *   - SoC choice, override:     atomics
 * No function takes two of these locks at once, so there is no lock order to respect.
 *
 * Choices the contract (docs/DESIGN.md) leaves open:
 *   - sim_occupy_cores is the only place that counts SIM_CNT_RUNS (and per-core runs/busy time, which is the
 *     nominal duration: latency / speed-up + hang, in us, added to every core the run held).
 *   - Waiting runs queue in arrival order and reserve the cores they name (see "Simulated cores").
 *   - rknn_sim_inject_fault: code 0 -> -5 (it would not fail anything); more than 64 active faults -> -4.
 *     When several faults cover one call, the oldest wins.  Fault numbering survives reset_counters.
 *   - RKNN_SIM_FAULTS entries without a count fail one call (count 1), like the Python default.
 *     Malformed environment entries are reported on stderr and ignored.
 *   - rknn_sim_hang_next_run replaces a pending hang (0 cancels it).
 *   - rknn_sim_reset_counters restarts max_concurrent_runs from the runs in progress at that moment.
 *   - rknn_sim_list_counters writes "name\nname...\nname" + NUL (no trailing newline).
 *   - sim_enter with a name outside the table never fails the caller (logged with RKNN_SIM_LOG).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_internal.h"

#define SIM_HIDDEN __attribute__((visibility("hidden")))
#define SIM_EXPORT __attribute__((visibility("default")))

/* Exported control API (see docs/DESIGN.md).  Declared here because no other module calls them. */
SIM_EXPORT int rknn_sim_get_counter(const char *name, int64_t *value);
SIM_EXPORT int rknn_sim_list_counters(char *buf, uint32_t size);
SIM_EXPORT void rknn_sim_reset_counters(void);
SIM_EXPORT int rknn_sim_inject_fault(const char *func, int64_t nth, int32_t code, int64_t count);
SIM_EXPORT int rknn_sim_set_delay(const char *func, int64_t delay_us);
SIM_EXPORT int rknn_sim_hang_next_run(int64_t hang_us);
SIM_EXPORT void rknn_sim_clear_faults(void);
SIM_EXPORT int rknn_sim_set_soc(const char *name);
SIM_EXPORT int rknn_sim_set_latency_override(int64_t us);
SIM_EXPORT int rknn_sim_set_jitter(double fraction);
SIM_EXPORT const char *rknn_sim_version(void);

#define SIM_VERSION_STRING "ztu-sim 1"
#define SIM_MAX_CORES 3
#define SIM_MAX_FAULTS 64
#define SIM_DEFAULT_LATENCY_US 1000

/* ------------------------------------------------------------------------------------------------ */
/* Function names: every rknn_* function the library exports (rknn-abi.md §2.1; rknn_create_mem_from_mb_blk
 * is exported by no known librknnrt, so it is neither exported nor counted here). */

static const char *const k_func_names[] = {
    "rknn_init",
    "rknn_dup_context",
    "rknn_destroy",
    "rknn_query",
    "rknn_inputs_set",
    "rknn_set_batch_core_num",
    "rknn_set_core_mask",
    "rknn_run",
    "rknn_wait",
    "rknn_outputs_get",
    "rknn_outputs_release",
    "rknn_create_mem_from_phys",
    "rknn_create_mem_from_fd",
    "rknn_create_mem",
    "rknn_create_mem2",
    "rknn_destroy_mem",
    "rknn_set_weight_mem",
    "rknn_set_internal_mem",
    "rknn_set_io_mem",
    "rknn_set_input_shape",
    "rknn_set_input_shapes",
    "rknn_mem_sync",
    "rknn_register_custom_ops",
    "rknn_custom_op_get_op_attr",
};
#define SIM_N_FUNCS ((int)(sizeof(k_func_names) / sizeof(k_func_names[0])))

static int func_index(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < SIM_N_FUNCS; i++)
        if (strcmp(name, k_func_names[i]) == 0)
            return i;
    return -1;
}

/* Same as func_index for a name that is not NUL-terminated (environment parsing). */
static int func_index_n(const char *name, size_t len)
{
    for (int i = 0; i < SIM_N_FUNCS; i++)
        if (strlen(k_func_names[i]) == len && memcmp(name, k_func_names[i], len) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------------------------------------ */
/* Counters */

static const char *const k_counter_names[SIM_CNT__COUNT] = {
    [SIM_CNT_LIVE_CONTEXTS] = "live_contexts",
    [SIM_CNT_LIVE_MEMS] = "live_mems",
    [SIM_CNT_UNRELEASED_OUTPUTS] = "unreleased_outputs",
    [SIM_CNT_VIOLATIONS] = "violations",
    [SIM_CNT_RUNS] = "runs",
    [SIM_CNT_MAX_CONCURRENT_RUNS] = "max_concurrent_runs",
    [SIM_CNT_CUSTOM_OP_COMPUTE_CALLS] = "custom_op_compute_calls",
};

static _Atomic int64_t g_counters[SIM_CNT__COUNT];
static _Atomic int64_t g_core_runs[SIM_MAX_CORES];
static _Atomic int64_t g_core_busy_us[SIM_MAX_CORES];
static _Atomic int64_t g_calls[SIM_N_FUNCS];      /* resettable call counts ("calls:<name>") */
static _Atomic int64_t g_call_seq[SIM_N_FUNCS];   /* never reset: numbering for fault injection */

static bool g_log_enabled; /* RKNN_SIM_LOG non-empty; written once by the constructor */

SIM_HIDDEN void sim_counter_add(sim_counter_id id, int64_t delta)
{
    if ((int)id < 0 || id >= SIM_CNT__COUNT)
        return;
    atomic_fetch_add(&g_counters[id], delta);
}

SIM_HIDDEN int64_t sim_counter_get(sim_counter_id id)
{
    if ((int)id < 0 || id >= SIM_CNT__COUNT)
        return 0;
    return atomic_load(&g_counters[id]);
}

SIM_HIDDEN void sim_violation(const char *what)
{
    sim_counter_add(SIM_CNT_VIOLATIONS, 1);
    if (g_log_enabled)
        fprintf(stderr, "ztu-sim: violation: %s\n", what != NULL ? what : "(unspecified)");
}

/* ------------------------------------------------------------------------------------------------ */
/* Sleeping */

static void sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec req = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000L };
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

/* ------------------------------------------------------------------------------------------------ */
/* Fault injection and call accounting */

typedef struct sim_fault {
    bool active;
    int func;
    int64_t base;   /* g_call_seq[func] when the fault was injected */
    int64_t nth;    /* >= 1, relative to base */
    int64_t count;  /* 0 = forever from nth */
    int32_t code;
} sim_fault;

static pthread_mutex_t g_fault_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_fault g_faults[SIM_MAX_FAULTS];
static int64_t g_delays_us[SIM_N_FUNCS];

SIM_HIDDEN int sim_enter(const char *func)
{
    int fi = func_index(func);
    if (fi < 0) {
        /* A programming error in the simulator itself; never fail the caller for it. */
        if (g_log_enabled)
            fprintf(stderr, "ztu-sim: sim_enter called with unknown function %s\n",
                    func != NULL ? func : "(null)");
        return SIM_OK;
    }
    atomic_fetch_add(&g_calls[fi], 1);

    int32_t result = SIM_OK;
    int64_t delay;
    pthread_mutex_lock(&g_fault_lock);
    /* The call's number is taken under the lock, so faults see calls in one consistent order. */
    int64_t seq = atomic_fetch_add(&g_call_seq[fi], 1) + 1;
    delay = g_delays_us[fi];
    for (int i = 0; i < SIM_MAX_FAULTS; i++) {
        sim_fault *f = &g_faults[i];
        if (!f->active || f->func != fi)
            continue;
        int64_t rel = seq - f->base;
        if (rel < f->nth)
            continue;
        if (f->count != 0 && rel >= f->nth + f->count) {
            f->active = false; /* cannot happen (expired below), kept for safety */
            continue;
        }
        if (f->count != 0 && rel == f->nth + f->count - 1)
            f->active = false; /* this is the fault's last call */
        result = f->code;
        break;
    }
    pthread_mutex_unlock(&g_fault_lock);

    sleep_us(delay);
    return result;
}

/* Adds a fault; the caller holds g_fault_lock. */
static int add_fault_locked(int fi, int64_t nth, int32_t code, int64_t count)
{
    for (int i = 0; i < SIM_MAX_FAULTS; i++) {
        sim_fault *f = &g_faults[i];
        if (f->active)
            continue;
        f->active = true;
        f->func = fi;
        f->base = atomic_load(&g_call_seq[fi]);
        f->nth = nth;
        f->count = count;
        f->code = code;
        return SIM_OK;
    }
    return SIM_ERR_MALLOC;
}

int rknn_sim_inject_fault(const char *func, int64_t nth, int32_t code, int64_t count)
{
    int fi = func_index(func);
    if (fi < 0 || nth < 1 || count < 0 || code == SIM_OK)
        return SIM_ERR_PARAM;
    pthread_mutex_lock(&g_fault_lock);
    int rc = add_fault_locked(fi, nth, code, count);
    pthread_mutex_unlock(&g_fault_lock);
    return rc;
}

int rknn_sim_set_delay(const char *func, int64_t delay_us)
{
    int fi = func_index(func);
    if (fi < 0 || delay_us < 0)
        return SIM_ERR_PARAM;
    pthread_mutex_lock(&g_fault_lock);
    g_delays_us[fi] = delay_us;
    pthread_mutex_unlock(&g_fault_lock);
    return SIM_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* SoC profiles */

typedef struct sim_soc {
    const char *name;
    int cores;
} sim_soc;

static const sim_soc k_socs[] = {
    { "rk3588", 3 }, { "rk3576", 2 }, { "rk3566", 1 }, { "rk3568", 1 }, { "rk3562", 1 },
};
#define SIM_N_SOCS ((int)(sizeof(k_socs) / sizeof(k_socs[0])))

static _Atomic int g_soc = 0; /* index into k_socs; rk3588 by default */

static int soc_index(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < SIM_N_SOCS; i++)
        if (strcmp(name, k_socs[i].name) == 0)
            return i;
    return -1;
}

SIM_HIDDEN int sim_soc_core_count(void) { return k_socs[atomic_load(&g_soc)].cores; }

SIM_HIDDEN const char *sim_soc_name(void) { return k_socs[atomic_load(&g_soc)].name; }

SIM_HIDDEN int sim_check_core_mask(int32_t mask)
{
    int cores = sim_soc_core_count();
    if (cores <= 1)
        return SIM_ERR_PLATFORM; /* real single-core boards refuse every mask, AUTO included */
    switch (mask) {
    case 0x0:    /* AUTO */
    case 0x1:    /* CORE_0 */
    case 0x2:    /* CORE_1 */
    case 0x3:    /* CORE_0_1 */
    case 0xffff: /* CORE_ALL */
        return SIM_OK;
    case 0x4:    /* CORE_2 */
    case 0x7:    /* CORE_0_1_2 */
        /* On a 2-core SoC the real C behaviour is undocumented (toolkit-lite2 remaps these to CORE_0 /
         * CORE_0_1 before calling C); the simulator takes the stricter reading and refuses them. */
        return cores >= 3 ? SIM_OK : SIM_ERR_PARAM;
    default:
        return SIM_ERR_PARAM;
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Latency: override, jitter and the random source */

static _Atomic int64_t g_latency_override = -1; /* < 0: none */
static pthread_mutex_t g_rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_rng_state = 0x9e3779b97f4a7c15ULL;
static double g_jitter = 0.0;

static void rng_seed(uint64_t seed)
{
    /* splitmix64 scrambles the seed; xorshift must never start from 0. */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    g_rng_state = z != 0 ? z : 0x9e3779b97f4a7c15ULL;
}

/* Uniform in [0, 1); the caller holds g_rng_lock. */
static double rng_uniform_locked(void)
{
    uint64_t x = g_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    g_rng_state = x;
    uint64_t r = x * 0x2545f4914f6cdd1dULL;
    return (double)(r >> 11) * (1.0 / 9007199254740992.0); /* 53 random bits / 2^53 */
}

SIM_HIDDEN int64_t sim_run_latency_us(int64_t model_latency_us)
{
    int64_t base = model_latency_us < 0 ? SIM_DEFAULT_LATENCY_US : model_latency_us;
    int64_t override = atomic_load(&g_latency_override);
    if (override >= 0)
        base = override;
    pthread_mutex_lock(&g_rng_lock);
    double jitter = g_jitter;
    double u = jitter > 0.0 ? rng_uniform_locked() : 0.5;
    pthread_mutex_unlock(&g_rng_lock);
    if (jitter <= 0.0 || base == 0)
        return base;
    double v = (double)base * (1.0 + jitter * (2.0 * u - 1.0));
    if (v < 0.0)
        v = 0.0;
    return (int64_t)llround(v);
}

int rknn_sim_set_latency_override(int64_t us)
{
    atomic_store(&g_latency_override, us < 0 ? (int64_t)-1 : us);
    return SIM_OK;
}

int rknn_sim_set_jitter(double fraction)
{
    if (!(fraction >= 0.0 && fraction < 1.0)) /* also refuses NaN */
        return SIM_ERR_PARAM;
    pthread_mutex_lock(&g_rng_lock);
    g_jitter = fraction;
    pthread_mutex_unlock(&g_rng_lock);
    return SIM_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Simulated cores
 *
 * Each core runs one job at a time.  Waiting runs queue in arrival order; a waiting run reserves the
 * cores it names, so later arrivals cannot overtake it on those cores (a multi-core run is not starved
 * by a stream of single-core runs).  An AUTO run takes the lowest-index core that is neither busy nor
 * reserved by an earlier waiter. */

typedef struct sim_waiter {
    uint32_t need; /* core bits; 0 = AUTO (any one core) */
    struct sim_waiter *prev;
    struct sim_waiter *next;
} sim_waiter;

static pthread_mutex_t g_core_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_core_cv = PTHREAD_COND_INITIALIZER;
static uint32_t g_busy_cores;        /* bit k: core k runs a job */
static sim_waiter *g_wait_head;
static sim_waiter *g_wait_tail;
static int64_t g_runs_in_progress;
static int64_t g_pending_hang_us;

/* The cores `w` may take now, or 0 when it must keep waiting.  Caller holds g_core_lock. */
static uint32_t grantable_locked(const sim_waiter *w, uint32_t all_cores)
{
    uint32_t reserved = 0;
    for (const sim_waiter *e = g_wait_head; e != NULL && e != w; e = e->next)
        reserved |= e->need;
    uint32_t blocked = g_busy_cores | reserved;
    if (w->need != 0)
        return (w->need & blocked) == 0 ? w->need : 0;
    uint32_t free_cores = all_cores & ~blocked;
    if (free_cores == 0)
        return 0;
    return free_cores & (~free_cores + 1u); /* lowest set bit */
}

static double speedup_for(int n_cores)
{
    if (n_cores >= 3)
        return 1.26; /* CORE_0_1_2, measured on RK3588 boards */
    if (n_cores == 2)
        return 1.13;
    return 1.0;
}

SIM_HIDDEN int sim_occupy_cores(int32_t mask, int64_t latency_us)
{
    if (latency_us < 0)
        latency_us = 0;
    pthread_mutex_lock(&g_core_lock);
    int n_cores = sim_soc_core_count();
    uint32_t all_cores = (1u << n_cores) - 1u;
    uint32_t need;
    if (mask == 0xffff)
        need = all_cores;
    else
        need = (uint32_t)mask & all_cores; /* masks naming absent cores (SoC changed later) drop them */

    sim_waiter self = { need, g_wait_tail, NULL };
    if (g_wait_tail != NULL)
        g_wait_tail->next = &self;
    else
        g_wait_head = &self;
    g_wait_tail = &self;

    uint32_t got;
    while ((got = grantable_locked(&self, all_cores)) == 0)
        pthread_cond_wait(&g_core_cv, &g_core_lock);

    if (self.prev != NULL)
        self.prev->next = self.next;
    else
        g_wait_head = self.next;
    if (self.next != NULL)
        self.next->prev = self.prev;
    else
        g_wait_tail = self.prev;

    g_busy_cores |= got;
    g_runs_in_progress++;
    if (g_runs_in_progress > atomic_load(&g_counters[SIM_CNT_MAX_CONCURRENT_RUNS]))
        atomic_store(&g_counters[SIM_CNT_MAX_CONCURRENT_RUNS], g_runs_in_progress);
    int64_t hang = g_pending_hang_us;
    g_pending_hang_us = 0;
    /* Leaving the queue may let a later waiter through. */
    pthread_cond_broadcast(&g_core_cv);
    pthread_mutex_unlock(&g_core_lock);

    int held = __builtin_popcount(got);
    int64_t duration = (int64_t)llround((double)latency_us / speedup_for(held)) + hang;
    sleep_us(duration);

    pthread_mutex_lock(&g_core_lock);
    g_busy_cores &= ~got;
    g_runs_in_progress--;
    pthread_cond_broadcast(&g_core_cv);
    pthread_mutex_unlock(&g_core_lock);

    for (int k = 0; k < SIM_MAX_CORES; k++) {
        if (got & (1u << k)) {
            atomic_fetch_add(&g_core_runs[k], 1);
            atomic_fetch_add(&g_core_busy_us[k], duration);
        }
    }
    sim_counter_add(SIM_CNT_RUNS, 1);
    return SIM_OK;
}

int rknn_sim_hang_next_run(int64_t hang_us)
{
    if (hang_us < 0)
        return SIM_ERR_PARAM;
    pthread_mutex_lock(&g_core_lock);
    g_pending_hang_us = hang_us;
    pthread_mutex_unlock(&g_core_lock);
    return SIM_OK;
}

void rknn_sim_clear_faults(void)
{
    pthread_mutex_lock(&g_fault_lock);
    memset(g_faults, 0, sizeof(g_faults));
    memset(g_delays_us, 0, sizeof(g_delays_us));
    pthread_mutex_unlock(&g_fault_lock);
    pthread_mutex_lock(&g_core_lock);
    g_pending_hang_us = 0;
    pthread_mutex_unlock(&g_core_lock);
}

int rknn_sim_set_soc(const char *name)
{
    int idx = soc_index(name);
    if (idx < 0)
        return SIM_ERR_PARAM;
    pthread_mutex_lock(&g_core_lock);
    atomic_store(&g_soc, idx);
    pthread_cond_broadcast(&g_core_cv); /* waiters recompute with the new core set */
    pthread_mutex_unlock(&g_core_lock);
    return SIM_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Counter access */

#define SIM_CALLS_PREFIX "calls:"

int rknn_sim_get_counter(const char *name, int64_t *value)
{
    if (name == NULL || value == NULL)
        return SIM_ERR_PARAM;
    for (int i = 0; i < SIM_CNT__COUNT; i++) {
        if (strcmp(name, k_counter_names[i]) == 0) {
            *value = atomic_load(&g_counters[i]);
            return SIM_OK;
        }
    }
    for (int k = 0; k < SIM_MAX_CORES; k++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "runs_core%d", k);
        if (strcmp(name, buf) == 0) {
            *value = atomic_load(&g_core_runs[k]);
            return SIM_OK;
        }
        snprintf(buf, sizeof(buf), "busy_us_core%d", k);
        if (strcmp(name, buf) == 0) {
            *value = atomic_load(&g_core_busy_us[k]);
            return SIM_OK;
        }
    }
    size_t plen = strlen(SIM_CALLS_PREFIX);
    if (strncmp(name, SIM_CALLS_PREFIX, plen) == 0) {
        int fi = func_index(name + plen);
        if (fi >= 0) {
            *value = atomic_load(&g_calls[fi]);
            return SIM_OK;
        }
    }
    return SIM_ERR_PARAM;
}

/* Appends `text` and a '\n' separator (none before the first name). */
static bool list_append(char *buf, size_t size, size_t *pos, const char *text)
{
    size_t len = strlen(text) + (*pos > 0 ? 1 : 0);
    if (*pos + len + 1 > size)
        return false;
    if (*pos > 0)
        buf[(*pos)++] = '\n';
    memcpy(buf + *pos, text, strlen(text));
    *pos += strlen(text);
    buf[*pos] = '\0';
    return true;
}

int rknn_sim_list_counters(char *buf, uint32_t size)
{
    if (buf == NULL || size == 0)
        return SIM_ERR_PARAM;
    size_t pos = 0;
    bool ok = true;
    buf[0] = '\0';
    for (int i = 0; i < SIM_CNT__COUNT && ok; i++)
        ok = list_append(buf, size, &pos, k_counter_names[i]);
    for (int k = 0; k < SIM_MAX_CORES && ok; k++) {
        char name[32];
        snprintf(name, sizeof(name), "runs_core%d", k);
        ok = list_append(buf, size, &pos, name);
        snprintf(name, sizeof(name), "busy_us_core%d", k);
        ok = ok && list_append(buf, size, &pos, name);
    }
    for (int i = 0; i < SIM_N_FUNCS && ok; i++) {
        char name[SIM_MAX_NAME];
        snprintf(name, sizeof(name), SIM_CALLS_PREFIX "%s", k_func_names[i]);
        ok = list_append(buf, size, &pos, name);
    }
    if (!ok) {
        buf[0] = '\0';
        return SIM_ERR_PARAM;
    }
    return SIM_OK;
}

void rknn_sim_reset_counters(void)
{
    atomic_store(&g_counters[SIM_CNT_VIOLATIONS], 0);
    atomic_store(&g_counters[SIM_CNT_RUNS], 0);
    atomic_store(&g_counters[SIM_CNT_CUSTOM_OP_COMPUTE_CALLS], 0);
    for (int k = 0; k < SIM_MAX_CORES; k++) {
        atomic_store(&g_core_runs[k], 0);
        atomic_store(&g_core_busy_us[k], 0);
    }
    for (int i = 0; i < SIM_N_FUNCS; i++)
        atomic_store(&g_calls[i], 0);
    /* The high-water mark restarts from the runs in progress right now. */
    pthread_mutex_lock(&g_core_lock);
    atomic_store(&g_counters[SIM_CNT_MAX_CONCURRENT_RUNS], g_runs_in_progress);
    pthread_mutex_unlock(&g_core_lock);
}

const char *rknn_sim_version(void) { return SIM_VERSION_STRING; }

/* ------------------------------------------------------------------------------------------------ */
/* Environment, read once when the library loads */

static void env_warn(const char *var, const char *what, const char *text, size_t len)
{
    fprintf(stderr, "ztu-sim: ignoring %s entry '%.*s': %s\n", var, (int)len, text, what);
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    char tmp[32];
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || end == tmp || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

/* Splits `entry` (len bytes) at ':' into at most `max` fields; returns the number of fields. */
static int split_fields(const char *entry, size_t len, const char **start, size_t *flen, int max)
{
    int n = 0;
    size_t begin = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || entry[i] == ':') {
            if (n == max)
                return max + 1;
            start[n] = entry + begin;
            flen[n] = i - begin;
            n++;
            begin = i + 1;
        }
    }
    return n;
}

/* RKNN_SIM_FAULTS="func:nth:code[:count],..." (count defaults to 1, as in the Python API). */
static void parse_fault_entry(const char *entry, size_t len)
{
    const char *f[4];
    size_t fl[4];
    int n = split_fields(entry, len, f, fl, 4);
    int64_t nth = 0, code = 0, count = 1;
    if (n < 3 || n > 4) {
        env_warn("RKNN_SIM_FAULTS", "expected func:nth:code[:count]", entry, len);
        return;
    }
    int fi = func_index_n(f[0], fl[0]);
    if (fi < 0) {
        env_warn("RKNN_SIM_FAULTS", "unknown function", entry, len);
        return;
    }
    if (!parse_i64(f[1], fl[1], &nth) || !parse_i64(f[2], fl[2], &code) ||
        (n == 4 && !parse_i64(f[3], fl[3], &count)) || nth < 1 || count < 0 || code == 0 ||
        code < INT32_MIN || code > INT32_MAX) {
        env_warn("RKNN_SIM_FAULTS", "bad number", entry, len);
        return;
    }
    pthread_mutex_lock(&g_fault_lock);
    int rc = add_fault_locked(fi, nth, (int32_t)code, count);
    pthread_mutex_unlock(&g_fault_lock);
    if (rc != SIM_OK)
        env_warn("RKNN_SIM_FAULTS", "too many faults", entry, len);
}

/* RKNN_SIM_DELAYS="func:us,..." */
static void parse_delay_entry(const char *entry, size_t len)
{
    const char *f[2];
    size_t fl[2];
    int64_t us = 0;
    if (split_fields(entry, len, f, fl, 2) != 2) {
        env_warn("RKNN_SIM_DELAYS", "expected func:us", entry, len);
        return;
    }
    int fi = func_index_n(f[0], fl[0]);
    if (fi < 0) {
        env_warn("RKNN_SIM_DELAYS", "unknown function", entry, len);
        return;
    }
    if (!parse_i64(f[1], fl[1], &us) || us < 0) {
        env_warn("RKNN_SIM_DELAYS", "bad number", entry, len);
        return;
    }
    g_delays_us[fi] = us; /* constructor: single-threaded */
}

static void parse_list(const char *value, void (*entry)(const char *, size_t))
{
    const char *p = value;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        /* tolerate spaces around entries */
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ')
            trimmed--;
        if (trimmed > 0)
            entry(p, trimmed);
        if (comma == NULL)
            break;
        p = comma + 1;
    }
}

__attribute__((constructor)) static void sim_control_load(void)
{
    const char *v = getenv("RKNN_SIM_LOG");
    g_log_enabled = v != NULL && v[0] != '\0';

    v = getenv("RKNN_SIM_SOC");
    if (v != NULL && v[0] != '\0') {
        int idx = soc_index(v);
        if (idx >= 0)
            atomic_store(&g_soc, idx);
        else
            fprintf(stderr, "ztu-sim: ignoring RKNN_SIM_SOC=%s (known: rk3588 rk3576 rk3566 rk3568 rk3562)\n", v);
    }

    v = getenv("RKNN_SIM_LATENCY_US");
    if (v != NULL && v[0] != '\0') {
        int64_t us = 0;
        if (parse_i64(v, strlen(v), &us))
            rknn_sim_set_latency_override(us);
        else
            fprintf(stderr, "ztu-sim: ignoring RKNN_SIM_LATENCY_US=%s (not an integer)\n", v);
    }

    v = getenv("RKNN_SIM_JITTER");
    if (v != NULL && v[0] != '\0') {
        char *end = NULL;
        double j = strtod(v, &end);
        if (end == v || *end != '\0' || rknn_sim_set_jitter(j) != SIM_OK)
            fprintf(stderr, "ztu-sim: ignoring RKNN_SIM_JITTER=%s (want 0 <= fraction < 1)\n", v);
    }

    uint64_t seed;
    v = getenv("RKNN_SIM_SEED");
    int64_t s64 = 0;
    if (v != NULL && v[0] != '\0' && parse_i64(v, strlen(v), &s64)) {
        seed = (uint64_t)s64;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }
    rng_seed(seed);

    v = getenv("RKNN_SIM_FAULTS");
    if (v != NULL)
        parse_list(v, parse_fault_entry);
    v = getenv("RKNN_SIM_DELAYS");
    if (v != NULL)
        parse_list(v, parse_delay_entry);
}
