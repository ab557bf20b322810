/*
 * An independent consumer of the librknnrt ABI, playing the role of a program built against the vendor
 * header: it uses ONLY the local declarations below (written from shared/reference/rknn-abi.md, not from
 * stubs/), dlopens the library given on the command line, and for each model file:
 *   - rknn_init from the path (size 0), RKNN_QUERY_IN_OUT_NUM, INPUT_ATTR and OUTPUT_ATTR (printed);
 *   - for core masks 1, 2 and 4: rknn_set_core_mask, rknn_inputs_set (float32, NCHW for 4-D inputs),
 *     rknn_run, rknn_outputs_get (want_float) and a check of every output against the simulator's sum rule
 *     (out_j[i] = sum_k x_k[i mod n_k] + j, inputs as the model holds them), then rknn_outputs_release;
 *   - rknn_destroy.
 * Usage: abi_consumer <librknnrt.so> <model>...   Exit: 0 all OK, 1 a failure, 2 rknn_init returned -6.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- local ABI declarations (LP64) ---- */
typedef uint64_t ctx_t;

typedef struct {
    uint32_t n_input, n_output;
} io_num_t; /* 8 bytes */

typedef struct {
    uint32_t index, n_dims, dims[16];
    char name[256];
    uint32_t n_elems, size;
    int32_t fmt, type, qnt_type;
    int8_t fl;
    int32_t zp;
    float scale;
    uint32_t w_stride, size_with_stride;
    uint8_t pass_through;
    uint32_t h_stride;
} attr_t; /* 376 bytes */

typedef struct {
    uint32_t index;
    void *buf;
    uint32_t size;
    uint8_t pass_through;
    int32_t type, fmt;
} input_t; /* 32 bytes */

typedef struct {
    uint8_t want_float, is_prealloc;
    uint32_t index;
    void *buf;
    uint32_t size;
} output_t; /* 24 bytes */

_Static_assert(sizeof(io_num_t) == 8, "io_num");
_Static_assert(sizeof(attr_t) == 376, "tensor_attr");
_Static_assert(sizeof(input_t) == 32, "input");
_Static_assert(sizeof(output_t) == 24, "output");

enum { Q_IN_OUT_NUM = 0, Q_INPUT_ATTR = 1, Q_OUTPUT_ATTR = 2 };
enum { T_F32 = 0, T_F16 = 1, T_I8 = 2, T_U8 = 3, T_I16 = 4, T_U16 = 5, T_I32 = 6, T_U32 = 7, T_I64 = 8, T_BOOL = 9 };
enum { F_NCHW = 0, F_NHWC = 1, F_UNDEFINED = 3 };

typedef int (*init_fn)(ctx_t *, void *, uint32_t, uint32_t, void *);
typedef int (*destroy_fn)(ctx_t);
typedef int (*query_fn)(ctx_t, int, void *, uint32_t);
typedef int (*inputs_set_fn)(ctx_t, uint32_t, input_t *);
typedef int (*mask_fn)(ctx_t, int);
typedef int (*run_fn)(ctx_t, void *);
typedef int (*outputs_get_fn)(ctx_t, uint32_t, output_t *, void *);
typedef int (*outputs_release_fn)(ctx_t, uint32_t, output_t *);

static init_fn p_init;
static destroy_fn p_destroy;
static query_fn p_query;
static inputs_set_fn p_inputs_set;
static mask_fn p_set_core_mask;
static run_fn p_run;
static outputs_get_fn p_outputs_get;
static outputs_release_fn p_outputs_release;

/* ---- the held-value model: how the runtime stores a real value in a tensor type ---- */
static float half_round_trip(float f)
{
    /* float -> binary16 (round to nearest even) -> float, written independently of the simulator */
    if (f != f || isinf(f))
        return f;
    float a = fabsf(f);
    if (a >= 65520.0f)
        return copysignf(INFINITY, f);
    int e;
    frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int exp = e - 1;
    if (exp < -14)
        exp = -14; /* subnormal spacing */
    float quantum = ldexpf(1.0f, exp - 10);
    float r = nearbyintf(a / quantum) * quantum;
    return copysignf(r, f);
}

static float held(float x, int32_t type, int32_t qnt, int32_t zp, float scale)
{
    double lo = 0, hi = 0;
    switch (type) {
    case T_F32: return x;
    case T_F16: return half_round_trip(x);
    case T_I8: lo = -128; hi = 127; break;
    case T_U8: lo = 0; hi = 255; break;
    case T_I16: lo = -32768; hi = 32767; break;
    case T_U16: lo = 0; hi = 65535; break;
    case T_I32: lo = -2147483648.0; hi = 2147483647.0; break;
    case T_BOOL: return (x != 0.0f && x == x) ? 1.0f : 0.0f;
    default: lo = -1e30; hi = 1e30; break;
    }
    if (qnt == 2) {
        float q = nearbyintf(x / scale) + (float)zp;
        if (q < lo) q = (float)lo;
        if (q > hi) q = (float)hi;
        return (q - (float)zp) * scale;
    }
    double r = nearbyint((double)x);
    return (float)(r < lo ? lo : r > hi ? hi : r);
}

static void logical_dims(const attr_t *a, uint32_t *d)
{
    memcpy(d, a->dims, sizeof(uint32_t) * a->n_dims);
    if (a->n_dims == 4 && a->fmt == F_NHWC) { /* [N,H,W,C] -> [N,C,H,W] */
        d[1] = a->dims[3];
        d[2] = a->dims[1];
        d[3] = a->dims[2];
    }
}

static void print_attr(const char *kind, const attr_t *a)
{
    printf("  %s[%u] name=%s n_dims=%u dims=[", kind, a->index, a->name, a->n_dims);
    for (uint32_t i = 0; i < a->n_dims; i++)
        printf(i ? ",%u" : "%u", a->dims[i]);
    printf("] n_elems=%u size=%u fmt=%d type=%d qnt_type=%d zp=%d scale=%g w_stride=%u size_with_stride=%u\n",
           a->n_elems, a->size, a->fmt, a->type, a->qnt_type, a->zp, (double)a->scale, a->w_stride,
           a->size_with_stride);
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* 0 ok, 1 failure, 2 rknn_init -6 */
static int check_model(const char *path)
{
    ctx_t ctx = 0;
    int rc = p_init(&ctx, (void *)path, 0, 0, NULL);
    if (rc != 0) {
        printf("FAIL %s: rknn_init failed: %d\n", base(path), rc);
        return rc == -6 ? 2 : 1;
    }
    int result = 1;
    io_num_t io;
    attr_t *ia = NULL, *oa = NULL;
    float **x = NULL, **xh = NULL;
    uint32_t *nx = NULL;
    input_t *in = NULL;
    if (p_query(ctx, Q_IN_OUT_NUM, &io, sizeof io) != 0)
        goto done;
    printf("%s: %u inputs, %u outputs\n", base(path), io.n_input, io.n_output);
    ia = calloc(io.n_input, sizeof *ia);
    oa = calloc(io.n_output, sizeof *oa);
    x = calloc(io.n_input, sizeof *x);
    xh = calloc(io.n_input, sizeof *xh);
    nx = calloc(io.n_input, sizeof *nx);
    in = calloc(io.n_input, sizeof *in);
    if (!ia || !oa || !x || !xh || !nx || !in)
        goto done;
    for (uint32_t i = 0; i < io.n_input; i++) {
        ia[i].index = i;
        if (p_query(ctx, Q_INPUT_ATTR, &ia[i], sizeof(attr_t)) != 0)
            goto done;
        print_attr("input", &ia[i]);
        nx[i] = ia[i].n_elems;
        x[i] = malloc(sizeof(float) * (nx[i] ? nx[i] : 1));
        xh[i] = malloc(sizeof(float) * (nx[i] ? nx[i] : 1));
        if (!x[i] || !xh[i])
            goto done;
        for (uint32_t e = 0; e < nx[i]; e++) {
            x[i][e] = (float)sin(0.37 * e + 1.3 * i); /* logical (NCHW) order */
            xh[i][e] = held(x[i][e], ia[i].type, ia[i].qnt_type, ia[i].zp, ia[i].scale);
        }
        in[i].index = i;
        in[i].buf = x[i];
        in[i].size = (uint32_t)(sizeof(float) * nx[i]);
        in[i].type = T_F32;
        in[i].fmt = ia[i].n_dims == 4 ? F_NCHW : F_UNDEFINED;
    }
    for (uint32_t j = 0; j < io.n_output; j++) {
        oa[j].index = j;
        if (p_query(ctx, Q_OUTPUT_ATTR, &oa[j], sizeof(attr_t)) != 0)
            goto done;
        print_attr("output", &oa[j]);
    }
    static const int masks[] = { 1, 2, 4 };
    for (size_t mi = 0; mi < sizeof masks / sizeof masks[0]; mi++) {
        rc = p_set_core_mask(ctx, masks[mi]);
        if (rc == -13 || (rc == -5 && masks[mi] != 1))
            continue; /* single-core SoC profile, or a core the profile lacks */
        if (rc != 0) {
            printf("FAIL %s: rknn_set_core_mask(%d) = %d\n", base(path), masks[mi], rc);
            goto done;
        }
        if ((rc = p_inputs_set(ctx, io.n_input, in)) != 0 || (rc = p_run(ctx, NULL)) != 0) {
            printf("FAIL %s: inputs_set/run = %d\n", base(path), rc);
            goto done;
        }
        output_t *out = calloc(io.n_output, sizeof *out);
        if (out == NULL)
            goto done;
        for (uint32_t j = 0; j < io.n_output; j++) {
            out[j].index = j;
            out[j].want_float = 1;
        }
        if ((rc = p_outputs_get(ctx, io.n_output, out, NULL)) != 0) {
            printf("FAIL %s: outputs_get = %d\n", base(path), rc);
            free(out);
            goto done;
        }
        int bad = 0;
        for (uint32_t j = 0; j < io.n_output && !bad; j++) {
            const attr_t *a = &oa[j];
            uint32_t d[16];
            logical_dims(a, d);
            (void)d;
            if (out[j].size != a->n_elems * 4) {
                printf("FAIL %s: output %u size %u, expected %u\n", base(path), j, out[j].size, a->n_elems * 4);
                bad = 1;
                break;
            }
            const float *got = out[j].buf;
            for (uint32_t e = 0; e < a->n_elems; e++) {
                float acc = 0.0f;
                for (uint32_t k = 0; k < io.n_input; k++)
                    if (nx[k])
                        acc += xh[k][e % nx[k]];
                acc += (float)j;
                float want = held(acc, a->type, a->qnt_type, a->zp, a->scale);
                float tol = a->qnt_type == 2 ? a->scale * 1.001f
                            : a->type == T_F16 ? fabsf(want) * 1e-3f + 1e-6f
                                               : fabsf(want) * 1e-6f + 1e-7f;
                if (!(fabsf(got[e] - want) <= tol)) {
                    printf("FAIL %s: mask %d output %u[%u] = %g, sum rule gives %g\n", base(path), masks[mi], j, e,
                           (double)got[e], (double)want);
                    bad = 1;
                    break;
                }
            }
        }
        rc = p_outputs_release(ctx, io.n_output, out);
        free(out);
        if (bad || rc != 0)
            goto done;
        printf("  core mask %d: outputs match the sum rule\n", masks[mi]);
    }
    result = 0;
done:
    for (uint32_t i = 0; x && xh && i < io.n_input; i++) {
        free(x[i]);
        free(xh[i]);
    }
    free(x);
    free(xh);
    free(nx);
    free(in);
    free(ia);
    free(oa);
    if (p_destroy(ctx) != 0) {
        printf("FAIL %s: rknn_destroy\n", base(path));
        result = 1;
    }
    if (result == 0)
        printf("OK %s\n", base(path));
    return result;
}

#define LOAD(var, type, name)                                                                                   \
    do {                                                                                                        \
        *(void **)(&var) = dlsym(lib, name);                                                                    \
        if (var == NULL) {                                                                                      \
            printf("missing symbol %s\n", name);                                                                \
            return 1;                                                                                           \
        }                                                                                                       \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <librknnrt.so> <model>...\n", argv[0]);
        return 1;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    LOAD(p_init, init_fn, "rknn_init");
    LOAD(p_destroy, destroy_fn, "rknn_destroy");
    LOAD(p_query, query_fn, "rknn_query");
    LOAD(p_inputs_set, inputs_set_fn, "rknn_inputs_set");
    LOAD(p_set_core_mask, mask_fn, "rknn_set_core_mask");
    LOAD(p_run, run_fn, "rknn_run");
    LOAD(p_outputs_get, outputs_get_fn, "rknn_outputs_get");
    LOAD(p_outputs_release, outputs_release_fn, "rknn_outputs_release");
    if (dlsym(lib, "rknn_create_mem_from_mb_blk") != NULL)
        printf("note: rknn_create_mem_from_mb_blk is exported (real librknnrt builds do not export it)\n");
    int worst = 0;
    for (int i = 2; i < argc; i++) {
        int r = check_model(argv[i]);
        if (r == 1 || (r == 2 && worst == 0))
            worst = r;
    }
    fflush(stdout);
    return worst;
}
