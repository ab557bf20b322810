/*
 * A short end-to-end scenario for the simulator built with -fsanitize=address,undefined.
 *
 * Compiled together with every C file of stubs/ into one executable (so no LD_PRELOAD of the sanitizer runtime
 * is needed) by tests/test_sim_sanitizers.py.  Usage: sanitizer_scenario <native model path>; the model
 * must have inputs x: int8 (1,3,4,4) and b: float32 (5,), and two outputs.  Exit code 0 = every check
 * passed; the sanitizers report (and fail the run) on any memory error, leak or undefined behaviour.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rknn_api_sim.h"

int rknn_sim_get_counter(const char *name, int64_t *value);
int rknn_sim_inject_fault(const char *func, int64_t nth, int32_t code, int64_t count);
int rknn_sim_set_latency_override(int64_t us);
int rknn_sim_set_soc(const char *name);
int rknn_sim_set_delay(const char *func, int64_t delay_us);
void rknn_sim_clear_faults(void);
void rknn_sim_reset_counters(void);
int rknn_sim_list_counters(char *buf, uint32_t size);

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

#define N_IN 2
#define N_OUT 2
#define X_ELEMS (1 * 3 * 4 * 4)
#define B_ELEMS 5

static void general_round(rknn_context ctx, int prealloc)
{
    float x[X_ELEMS];
    float b[B_ELEMS];
    for (int i = 0; i < X_ELEMS; i++)
        x[i] = (float)i * 0.1f - 2.0f;
    for (int i = 0; i < B_ELEMS; i++)
        b[i] = (float)i;
    rknn_input in[N_IN];
    memset(in, 0, sizeof(in));
    in[0].index = 0;
    in[0].buf = x;
    in[0].size = sizeof(x);
    in[0].type = RKNN_TENSOR_FLOAT32;
    in[0].fmt = RKNN_TENSOR_NCHW;
    in[1].index = 1;
    in[1].buf = b;
    in[1].size = sizeof(b);
    in[1].type = RKNN_TENSOR_FLOAT32;
    in[1].fmt = RKNN_TENSOR_UNDEFINED;
    CHECK(rknn_inputs_set(ctx, N_IN, in) == 0);
    CHECK(rknn_run(ctx, NULL) == 0);

    rknn_output out[N_OUT];
    memset(out, 0, sizeof(out));
    float *bufs[N_OUT] = { NULL, NULL };
    for (uint32_t j = 0; j < N_OUT; j++) {
        out[j].index = j;
        out[j].want_float = 1;
        if (prealloc) {
            rknn_tensor_attr a;
            memset(&a, 0, sizeof(a));
            a.index = j;
            CHECK(rknn_query(ctx, RKNN_QUERY_OUTPUT_ATTR, &a, sizeof(a)) == 0);
            bufs[j] = calloc(a.n_elems, sizeof(float));
            out[j].is_prealloc = 1;
            out[j].buf = bufs[j];
            out[j].size = a.n_elems * (uint32_t)sizeof(float);
        }
    }
    CHECK(rknn_outputs_get(ctx, N_OUT, out, NULL) == 0);
    for (uint32_t j = 0; j < N_OUT; j++) {
        CHECK(out[j].buf != NULL);
        if (out[j].buf != NULL && out[j].size >= sizeof(float)) {
            volatile float first = ((const float *)out[j].buf)[0]; /* touch the data */
            (void)first;
        }
    }
    CHECK(rknn_outputs_release(ctx, N_OUT, out) == 0);
    for (int j = 0; j < N_OUT; j++)
        free(bufs[j]);
}

static void *worker(void *arg)
{
    rknn_context ctx = *(rknn_context *)arg;
    for (int r = 0; r < 6; r++)
        general_round(ctx, r % 3 == 2);
    return NULL;
}

static void queries(rknn_context ctx)
{
    rknn_input_output_num num;
    CHECK(rknn_query(ctx, RKNN_QUERY_IN_OUT_NUM, &num, sizeof(num)) == 0);
    CHECK(num.n_input == N_IN && num.n_output == N_OUT);
    CHECK(rknn_query(ctx, RKNN_QUERY_IN_OUT_NUM, &num, sizeof(num) - 1) == RKNN_ERR_PARAM_INVALID);
    for (uint32_t i = 0; i < N_IN; i++) {
        rknn_tensor_attr a;
        memset(&a, 0, sizeof(a));
        a.index = i;
        CHECK(rknn_query(ctx, RKNN_QUERY_INPUT_ATTR, &a, sizeof(a)) == 0);
        memset(&a, 0, sizeof(a));
        a.index = i;
        CHECK(rknn_query(ctx, RKNN_QUERY_NATIVE_INPUT_ATTR, &a, sizeof(a)) == 0);
    }
    rknn_tensor_attr a;
    memset(&a, 0, sizeof(a));
    a.index = N_IN; /* out of range */
    CHECK(rknn_query(ctx, RKNN_QUERY_INPUT_ATTR, &a, sizeof(a)) != 0);
    rknn_sdk_version v;
    CHECK(rknn_query(ctx, RKNN_QUERY_SDK_VERSION, &v, sizeof(v)) == 0);
    rknn_custom_string cs;
    CHECK(rknn_query(ctx, RKNN_QUERY_CUSTOM_STRING, &cs, sizeof(cs)) == 0);
    CHECK(strcmp(cs.string, "sanitizer run") == 0);
    rknn_mem_size ms;
    CHECK(rknn_query(ctx, RKNN_QUERY_MEM_SIZE, &ms, sizeof(ms)) == 0);
}

/* Zero-copy on its own context: memories for every input and output, bound with set_io_mem. */
static void zero_copy(rknn_context ctx)
{
    rknn_tensor_mem *mems[N_IN + N_OUT] = { NULL };
    for (uint32_t i = 0; i < N_IN; i++) {
        rknn_tensor_attr a;
        memset(&a, 0, sizeof(a));
        a.index = i;
        CHECK(rknn_query(ctx, RKNN_QUERY_NATIVE_INPUT_ATTR, &a, sizeof(a)) == 0);
        mems[i] = rknn_create_mem(ctx, a.size_with_stride > a.size ? a.size_with_stride : a.size);
        CHECK(mems[i] != NULL);
        if (mems[i] == NULL)
            continue;
        memset(mems[i]->virt_addr, 1, mems[i]->size);
        CHECK(rknn_set_io_mem(ctx, mems[i], &a) == 0);
        CHECK(rknn_mem_sync(ctx, mems[i], RKNN_MEMORY_SYNC_TO_DEVICE) == 0);
    }
    for (uint32_t j = 0; j < N_OUT; j++) {
        rknn_tensor_attr a;
        memset(&a, 0, sizeof(a));
        a.index = j;
        CHECK(rknn_query(ctx, RKNN_QUERY_NATIVE_OUTPUT_ATTR, &a, sizeof(a)) == 0);
        mems[N_IN + j] = rknn_create_mem(ctx, a.size_with_stride > a.size ? a.size_with_stride : a.size);
        CHECK(mems[N_IN + j] != NULL);
        if (mems[N_IN + j] != NULL)
            CHECK(rknn_set_io_mem(ctx, mems[N_IN + j], &a) == 0);
    }
    CHECK(rknn_run(ctx, NULL) == 0);
    for (int k = 0; k < N_IN + N_OUT; k++)
        if (mems[k] != NULL)
            CHECK(rknn_destroy_mem(ctx, mems[k]) == 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <native model>\n", argv[0]);
        return 2;
    }
    char names[4096];
    CHECK(rknn_sim_list_counters(names, sizeof(names)) == 0);
    CHECK(rknn_sim_list_counters(names, 8) == RKNN_ERR_PARAM_INVALID);
    CHECK(rknn_sim_set_soc("rk3588") == 0);
    CHECK(rknn_sim_set_latency_override(2000) == 0);

    /* init from a path and from a buffer */
    rknn_context ctx0 = 0;
    CHECK(rknn_init(&ctx0, argv[1], 0, 0, NULL) == 0);
    FILE *fh = fopen(argv[1], "rb");
    CHECK(fh != NULL);
    char *data = calloc(1, 1 << 16);
    size_t len = fh != NULL ? fread(data, 1, (1 << 16) - 1, fh) : 0;
    if (fh != NULL)
        fclose(fh);
    rknn_context ctx_buf = 0;
    CHECK(rknn_init(&ctx_buf, data, (uint32_t)len, 0, NULL) == 0);
    free(data); /* the runtime copies the model */
    rknn_context bad = 0;
    CHECK(rknn_init(&bad, "RKNN-SIM 1\nbogus\n", 17, 0, NULL) == RKNN_ERR_MODEL_INVALID);

    queries(ctx0);

    /* three contexts on three cores, each driven by its own thread */
    rknn_context ctxs[3] = { ctx0, 0, 0 };
    CHECK(rknn_dup_context(&ctx0, &ctxs[1]) == 0);
    CHECK(rknn_dup_context(&ctx0, &ctxs[2]) == 0);
    const int masks[3] = { RKNN_NPU_CORE_0, RKNN_NPU_CORE_1, RKNN_NPU_CORE_2 };
    for (int i = 0; i < 3; i++)
        CHECK(rknn_set_core_mask(ctxs[i], (rknn_core_mask)masks[i]) == 0);
    CHECK(rknn_set_core_mask(ctx_buf, RKNN_NPU_CORE_0_1_2) == 0);
    rknn_sim_reset_counters();
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&th[i], NULL, worker, &ctxs[i]) == 0);
    general_round(ctx_buf, 0); /* a multi-core run competing with them */
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK(counter("runs") == 19);
    CHECK(counter("runs_core0") == 7 && counter("runs_core1") == 7 && counter("runs_core2") == 7);
    CHECK(counter("unreleased_outputs") == 0);

    /* faults and delays */
    CHECK(rknn_sim_inject_fault("rknn_run", 1, RKNN_ERR_TIMEOUT, 1) == 0);
    CHECK(rknn_run(ctx0, NULL) == RKNN_ERR_TIMEOUT);
    CHECK(rknn_sim_inject_fault("rknn_create_mem", 1, RKNN_ERR_MALLOC_FAIL, 0) == 0);
    CHECK(rknn_create_mem(ctx0, 64) == NULL);
    CHECK(rknn_sim_set_delay("rknn_query", 100) == 0);
    rknn_sim_clear_faults();

    /* zero-copy memory on a context of its own, and context-less memory */
    rknn_context zc = 0;
    CHECK(rknn_init(&zc, argv[1], 0, 0, NULL) == 0);
    zero_copy(zc);
    rknn_tensor_mem *free_mem = rknn_create_mem2(0, 256, RKNN_MEM_FLAG_ALLOC_NO_CONTEXT);
    CHECK(free_mem != NULL);
    if (free_mem != NULL)
        CHECK(rknn_destroy_mem(zc, free_mem) == 0);
    CHECK(counter("live_mems") == 0);

    /* teardown: duplicates first */
    CHECK(rknn_destroy(zc) == 0);
    CHECK(rknn_destroy(ctxs[2]) == 0);
    CHECK(rknn_destroy(ctxs[1]) == 0);
    CHECK(rknn_destroy(ctx0) == 0);
    CHECK(rknn_destroy(ctx_buf) == 0);
    CHECK(rknn_destroy(ctx0) == RKNN_ERR_CTX_INVALID); /* stale handle */
    CHECK(counter("live_contexts") == 0);
    CHECK(counter("violations") == 0);

    if (g_failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", g_failures);
        return 1;
    }
    printf("sanitizer scenario: ok\n");
    return 0;
}
