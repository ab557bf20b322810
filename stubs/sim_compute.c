/* Conversions (float16, affine quantisation with saturation, NCHW/NHWC/NC1HWC2) and the sum rule. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sim_compute.h"

/* The build command is fixed at -O2; these loops are the simulator's hot path, so let GCC vectorise them.
 * Neither option changes a result: no fast-math, the same IEEE operations per element; no-trapping-math
 * only lets comparisons be if-converted (nobody reads the FP exception flags). */
#if defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((optimize("O3", "no-trapping-math")))
#else
#define HOT
#endif

/* rknn_tensor_type values (kept numeric here so this file needs only sim_internal.h). */
enum { T_F32 = 0, T_F16 = 1, T_I8 = 2, T_U8 = 3, T_I16 = 4, T_U16 = 5, T_I32 = 6, T_U32 = 7, T_I64 = 8,
       T_BOOL = 9, T_BF16 = 11 };

float sim_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400u) == 0);
            man &= 0x3ffu;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t sim_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) /* inf or nan (keep nan quiet) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return sign; /* underflows to zero even after rounding */
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half_man = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (half_man & 1u)))
            half_man++;
        return (uint16_t)(sign | half_man);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        half++; /* may carry into the exponent, up to infinity: correct */
    return (uint16_t)(sign | half);
}

static float bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu))
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float sim_load_value(const void *buf, size_t i, int32_t type)
{
    const unsigned char *p = buf;
    switch (type) {
    case T_F32: { float v; memcpy(&v, p + i * 4, 4); return v; }
    case T_F16: { uint16_t v; memcpy(&v, p + i * 2, 2); return sim_half_to_float(v); }
    case T_BF16: { uint16_t v; memcpy(&v, p + i * 2, 2); return bf16_to_float(v); }
    case T_I8: return (float)((const int8_t *)buf)[i];
    case T_U8: return (float)p[i];
    case T_BOOL: return p[i] ? 1.0f : 0.0f;
    case T_I16: { int16_t v; memcpy(&v, p + i * 2, 2); return (float)v; }
    case T_U16: { uint16_t v; memcpy(&v, p + i * 2, 2); return (float)v; }
    case T_I32: { int32_t v; memcpy(&v, p + i * 4, 4); return (float)v; }
    case T_U32: { uint32_t v; memcpy(&v, p + i * 4, 4); return (float)v; }
    case T_I64: { int64_t v; memcpy(&v, p + i * 8, 8); return (float)v; }
    default: return 0.0f;
    }
}

/* Round half to even and clamp into [lo, hi]; NaN becomes 0. */
static double round_clamp(float v, double lo, double hi)
{
    if (v != v)
        return 0.0;
    double r = nearbyint((double)v);
    if (r < lo)
        return lo;
    if (r > hi)
        return hi;
    return r;
}

void sim_store_value(void *buf, size_t i, int32_t type, float v)
{
    unsigned char *p = buf;
    switch (type) {
    case T_F32: memcpy(p + i * 4, &v, 4); break;
    case T_F16: { uint16_t h = sim_float_to_half(v); memcpy(p + i * 2, &h, 2); break; }
    case T_BF16: { uint16_t h = float_to_bf16(v); memcpy(p + i * 2, &h, 2); break; }
    case T_I8: ((int8_t *)buf)[i] = (int8_t)round_clamp(v, -128.0, 127.0); break;
    case T_U8: p[i] = (uint8_t)round_clamp(v, 0.0, 255.0); break;
    case T_BOOL: p[i] = (v != 0.0f && v == v) ? 1 : 0; break;
    case T_I16: { int16_t x = (int16_t)round_clamp(v, -32768.0, 32767.0); memcpy(p + i * 2, &x, 2); break; }
    case T_U16: { uint16_t x = (uint16_t)round_clamp(v, 0.0, 65535.0); memcpy(p + i * 2, &x, 2); break; }
    case T_I32: { int32_t x = (int32_t)round_clamp(v, -2147483648.0, 2147483647.0); memcpy(p + i * 4, &x, 4); break; }
    case T_U32: { uint32_t x = (uint32_t)round_clamp(v, 0.0, 4294967295.0); memcpy(p + i * 4, &x, 4); break; }
    case T_I64: {
        double r = round_clamp(v, -9223372036854775808.0, 9223372036854775807.0);
        int64_t x;
        if (r >= 9223372036854775807.0)
            x = INT64_MAX;
        else
            x = (int64_t)r;
        memcpy(p + i * 8, &x, 8);
        break;
    }
    default: break;
    }
}

float sim_load_real(const void *buf, size_t i, const sim_tensor *t)
{
    float raw = sim_load_value(buf, i, t->type);
    if (t->qnt_type == 2)
        return (raw - (float)t->zp) * t->scale;
    return raw;
}

void sim_store_real(void *buf, size_t i, const sim_tensor *t, float x)
{
    if (t->qnt_type == 2) {
        float q = x / t->scale;
        if (q == q)
            q = nearbyintf(q) + (float)t->zp;
        sim_store_value(buf, i, t->type, q); /* rounding is a no-op now; saturation applies */
        return;
    }
    sim_store_value(buf, i, t->type, x);
}

uint32_t sim_c2_for_type(int32_t type)
{
    uint32_t es = sim_type_size(type);
    if (es == 0)
        return 16;
    return 16u / es;
}

/* Element copy of `es` bytes, with fixed-size moves for the common widths (memcpy of a constant size is
 * inlined by the compiler). */
#define COPY_ELEM(dst, src, es)                                                                                 \
    do {                                                                                                        \
        switch (es) {                                                                                           \
        case 1: *(unsigned char *)(dst) = *(const unsigned char *)(src); break;                                 \
        case 2: memcpy((dst), (src), 2); break;                                                                 \
        case 4: memcpy((dst), (src), 4); break;                                                                 \
        case 8: memcpy((dst), (src), 8); break;                                                                 \
        default: memcpy((dst), (src), (es)); break;                                                             \
        }                                                                                                       \
    } while (0)

void sim_nhwc_to_nchw(const void *src, void *dst, const uint32_t d[4], size_t es, uint32_t w_stride,
                      uint32_t h_stride)
{
    const unsigned char *s = src;
    unsigned char *o = dst;
    size_t N = d[0], C = d[1], H = d[2], W = d[3];
    size_t WS = (w_stride > W) ? w_stride : W;
    size_t HS = (h_stride > H) ? h_stride : H;
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t h = 0; h < H; h++) {
                unsigned char *orow = o + ((n * C + c) * H + h) * W * es;
                const unsigned char *srow = s + ((n * HS + h) * WS * C + c) * es;
                for (size_t w = 0; w < W; w++)
                    COPY_ELEM(orow + w * es, srow + w * C * es, es);
            }
}

void sim_nchw_to_nhwc(const void *src, void *dst, const uint32_t d[4], size_t es, uint32_t w_stride,
                      uint32_t h_stride)
{
    const unsigned char *s = src;
    unsigned char *o = dst;
    size_t N = d[0], C = d[1], H = d[2], W = d[3];
    size_t WS = (w_stride > W) ? w_stride : W;
    size_t HS = (h_stride > H) ? h_stride : H;
    if (WS > W || HS > H)
        memset(o, 0, N * HS * WS * C * es);
    for (size_t n = 0; n < N; n++)
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++) {
                unsigned char *opix = o + ((n * HS + h) * WS + w) * C * es;
                const unsigned char *spix = s + ((n * C * H + h) * W + w) * es;
                for (size_t c = 0; c < C; c++)
                    COPY_ELEM(opix + c * es, spix + c * H * W * es, es);
            }
}

void sim_nchw_to_nc1hwc2(const void *src, void *dst, const uint32_t d[4], uint32_t c1, uint32_t c2, size_t es)
{
    const unsigned char *s = src;
    unsigned char *o = dst;
    size_t N = d[0], C = d[1], H = d[2], W = d[3];
    memset(o, 0, N * (size_t)c1 * H * W * c2 * es);
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C && c < (size_t)c1 * c2; c++) {
            size_t g = c / c2, r = c % c2;
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++)
                    COPY_ELEM(o + ((((n * c1 + g) * H + h) * W + w) * c2 + r) * es,
                              s + (((n * C + c) * H + h) * W + w) * es, es);
        }
}

void sim_nc1hwc2_to_nchw(const void *src, void *dst, const uint32_t d[4], uint32_t c1, uint32_t c2, size_t es)
{
    const unsigned char *s = src;
    unsigned char *o = dst;
    size_t N = d[0], C = d[1], H = d[2], W = d[3];
    memset(o, 0, N * C * H * W * es);
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C && c < (size_t)c1 * c2; c++) {
            size_t g = c / c2, r = c % c2;
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++)
                    COPY_ELEM(o + (((n * C + c) * H + h) * W + w) * es,
                              s + ((((n * c1 + g) * H + h) * W + w) * c2 + r) * es, es);
        }
}

HOT void sim_sum_rule(const float *const *ins, const uint64_t *in_elems, uint32_t n_in, float *out, uint64_t out_elems,
                  uint32_t j)
{
    /* Same float operations per element as "acc = 0; acc += x_k[i mod n_k] for k in order; acc + j", with the
     * loops swapped so that the modulo becomes a wrapping index. */
    for (uint64_t i = 0; i < out_elems; i++)
        out[i] = 0.0f;
    for (uint32_t k = 0; k < n_in; k++) {
        uint64_t nk = in_elems[k];
        if (nk == 0)
            continue;
        const float *x = ins[k];
        if (nk >= out_elems) { /* i mod n_k == i */
            for (uint64_t i = 0; i < out_elems; i++)
                out[i] += x[i];
            continue;
        }
        uint64_t idx = 0;
        for (uint64_t i = 0; i < out_elems; i++) {
            out[i] += x[idx];
            if (++idx == nk)
                idx = 0;
        }
    }
    const float fj = (float)j;
    for (uint64_t i = 0; i < out_elems; i++)
        out[i] += fj;
}

/* ---- bulk conversions (the per-element rules above, with the type dispatch hoisted out of the loops) ---- */


/* Round half to even without a libm call: exact for |v| < 2^23 in round-to-nearest mode (FLT_EVAL_METHOD 0),
 * and larger floats are integers already.  NaN and inf pass through. */
static inline float rne(float v)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    float a = fabsf(v);
    float r = copysignf((a + 8388608.0f) - 8388608.0f, v);
    return a < 8388608.0f ? r : v;
#else
    return nearbyintf(v);
#endif
}

HOT void sim_load_values(const void *buf, size_t n, int32_t type, float *out)
{
    const unsigned char *p = buf;
    switch (type) {
    case T_F32: memcpy(out, buf, n * 4); break;
    case T_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + i * 2, 2);
            out[i] = sim_half_to_float(h);
        }
        break;
    case T_I8:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)((const int8_t *)buf)[i];
        break;
    case T_U8:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)p[i];
        break;
    default:
        for (size_t i = 0; i < n; i++)
            out[i] = sim_load_value(buf, i, type);
        break;
    }
}

HOT void sim_load_reals(const void *buf, size_t n, const sim_tensor *t, float *out)
{
    sim_load_values(buf, n, t->type, out);
    if (t->qnt_type == 2) {
        const float zp = (float)t->zp, scale = t->scale;
        for (size_t i = 0; i < n; i++)
            out[i] = (out[i] - zp) * scale;
    }
}

HOT void sim_store_values(void *buf, size_t n, int32_t type, const float *in)
{
    unsigned char *p = buf;
    switch (type) {
    case T_F32: memcpy(buf, in, n * 4); break;
    case T_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = sim_float_to_half(in[i]);
            memcpy(p + i * 2, &h, 2);
        }
        break;
    case T_I8:
        for (size_t i = 0; i < n; i++) {
            float v = rne(in[i]);
            v = v != v ? 0.0f : v; /* NaN -> 0 */
            ((int8_t *)buf)[i] = (int8_t)(int)(v <= -128.0f ? -128.0f : v >= 127.0f ? 127.0f : v);
        }
        break;
    case T_U8:
        for (size_t i = 0; i < n; i++) {
            float v = rne(in[i]);
            v = v != v ? 0.0f : v;
            p[i] = (uint8_t)(int)(v <= 0.0f ? 0.0f : v >= 255.0f ? 255.0f : v);
        }
        break;
    default:
        for (size_t i = 0; i < n; i++)
            sim_store_value(buf, i, type, in[i]);
        break;
    }
}

HOT void sim_store_reals(void *buf, size_t n, const sim_tensor *t, const float *in)
{
    if (t->qnt_type != 2) {
        sim_store_values(buf, n, t->type, in);
        return;
    }
    const float scale = t->scale, zp = (float)t->zp;
    unsigned char *p = buf;
    switch (t->type) {
    case T_I8:
        for (size_t i = 0; i < n; i++) {
            float q = rne(in[i] / scale) + zp;
            q = q != q ? 0.0f : q; /* NaN -> 0 */
            ((int8_t *)buf)[i] = (int8_t)(int)(q <= -128.0f ? -128.0f : q >= 127.0f ? 127.0f : q);
        }
        break;
    case T_U8:
        for (size_t i = 0; i < n; i++) {
            float q = rne(in[i] / scale) + zp;
            q = q != q ? 0.0f : q;
            p[i] = (uint8_t)(int)(q <= 0.0f ? 0.0f : q >= 255.0f ? 255.0f : q);
        }
        break;
    default:
        for (size_t i = 0; i < n; i++)
            sim_store_real(buf, i, t, in[i]);
        break;
    }
}

#define CHUNK 2048

void sim_values_to_held(const void *src, int32_t stype, size_t n, const sim_tensor *t, void *held)
{
    float buf[CHUNK];
    size_t ses = sim_type_size(stype), des = sim_type_size(t->type);
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        sim_load_values((const unsigned char *)src + off * ses, m, stype, buf);
        sim_store_reals((unsigned char *)held + off * des, m, t, buf);
    }
}

void sim_held_to_values(const void *held, const sim_tensor *t, size_t n, int32_t dtype, void *dst)
{
    float buf[CHUNK];
    size_t ses = sim_type_size(t->type), des = sim_type_size(dtype);
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        sim_load_reals((const unsigned char *)held + off * ses, m, t, buf);
        sim_store_values((unsigned char *)dst + off * des, m, dtype, buf);
    }
}
