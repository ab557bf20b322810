/*
 * Parser of the simulator-native model format (docs/DESIGN.md, "Simulator-native model format").
 *
 * Strict: anything the grammar does not allow makes the file invalid (SIM_ERR_MODEL), and no input can
 * crash the parser.  Choices beyond the grammar text (all stricter):
 *   - a blank line is an empty line; lines with only spaces, '\r' or NUL bytes anywhere are invalid;
 *   - the last line may lack its '\n';
 *   - empty tokens (double spaces, trailing space) are invalid; percent escapes must be upper-case hex;
 *     a decoded NUL byte is invalid (it cannot live in a C string); names longer than 255 bytes are
 *     truncated to 255 bytes (as sim_internal.h says); empty names are invalid;
 *   - tensor names are unique across inputs and outputs (set_io_mem matches attrs by name);
 *   - `fmt=nhwc` is only valid for 4-D tensors (DESIGN.md); `fmt=nchw` is accepted for any rank and then
 *     reported as is;
 *   - `zp` without `scale` is invalid; scale must be finite and > 0; zp must fit the type;
 *   - `weights` and `weights_from` together are invalid; op_attr needs `op custom` and at least one value,
 *     attr names are unique;
 *   - a tensor (or shapes row) of more than 2^26 elements is invalid (rknn_tensor_attr sizes are
 *     uint32_t; with NC1HWC2 padding every derived buffer stays below 2^31 bytes).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_compute.h"
#include "sim_internal.h"

#define MAX_TOKENS 16

typedef struct tok {
    const char *p;
    size_t n;
} tok;

static int tok_eq(tok t, const char *s)
{
    size_t n = strlen(s);
    return t.n == n && memcmp(t.p, s, n) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '~' || c == '-';
}

/* Percent-decodes into dst (capacity cap, always NUL-terminated).  Returns the decoded length (which may
 * exceed cap-1: the caller decides whether truncation is allowed), or -1 when invalid. */
static long pct_decode(tok t, char *dst, size_t cap)
{
    size_t out = 0;
    for (size_t i = 0; i < t.n; i++) {
        unsigned char c = (unsigned char)t.p[i];
        int v;
        if (c == '%') {
            if (i + 2 >= t.n)
                return -1;
            int hi = hexval(t.p[i + 1]), lo = hexval(t.p[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            v = hi * 16 + lo;
            i += 2;
        } else if (unreserved(c)) {
            v = c;
        } else {
            return -1;
        }
        if (v == 0)
            return -1;
        if (out + 1 < cap)
            dst[out] = (char)v;
        out++;
    }
    if (cap > 0)
        dst[out + 1 < cap ? out : cap - 1] = '\0';
    return (long)out;
}

/* Name: non-empty, truncated to SIM_MAX_NAME-1 bytes. */
static int parse_name(tok t, char *dst)
{
    long n = pct_decode(t, dst, SIM_MAX_NAME);
    return n > 0 ? SIM_OK : SIM_ERR_MODEL;
}

/* Decimal integer: optional '-' (when allow_neg), digits only, within [lo, hi]. */
static int parse_int(tok t, int64_t lo, int64_t hi, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (t.n == 0)
        return SIM_ERR_MODEL;
    if (t.p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i >= t.n || t.n - i > 19)
        return SIM_ERR_MODEL;
    uint64_t v = 0;
    for (; i < t.n; i++) {
        if (t.p[i] < '0' || t.p[i] > '9')
            return SIM_ERR_MODEL;
        v = v * 10u + (uint64_t)(t.p[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return SIM_ERR_MODEL;
    int64_t s = neg ? -(int64_t)v : (int64_t)v;
    if (s < lo || s > hi)
        return SIM_ERR_MODEL;
    *out = s;
    return SIM_OK;
}

/* Decimal float (whatever strtod accepts over the whole token, no hex, finite). */
static int parse_float(tok t, double *out)
{
    char buf[64];
    if (t.n == 0 || t.n >= sizeof buf)
        return SIM_ERR_MODEL;
    for (size_t i = 0; i < t.n; i++) {
        char c = t.p[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            return SIM_ERR_MODEL;
    }
    memcpy(buf, t.p, t.n);
    buf[t.n] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + t.n || !isfinite(v))
        return SIM_ERR_MODEL;
    *out = v;
    return SIM_OK;
}

static int parse_type(tok t, int32_t *type)
{
    static const struct { const char *name; int32_t v; } types[] = {
        { "float32", 0 }, { "float16", 1 }, { "int8", 2 }, { "uint8", 3 }, { "int16", 4 },
        { "uint16", 5 }, { "int32", 6 }, { "uint32", 7 }, { "int64", 8 }, { "bool", 9 },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (tok_eq(t, types[i].name)) {
            *type = types[i].v;
            return SIM_OK;
        }
    return SIM_ERR_MODEL;
}

/* "<d>,<d>,..." or "scalar". */
static int parse_dims(tok t, uint32_t *n_dims, uint32_t dims[SIM_MAX_DIMS])
{
    if (tok_eq(t, "scalar")) {
        *n_dims = 0;
        return SIM_OK;
    }
    uint32_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= t.n; i++) {
        if (i == t.n || t.p[i] == ',') {
            if (n >= SIM_MAX_DIMS)
                return SIM_ERR_MODEL;
            int64_t v;
            tok d = { t.p + start, i - start };
            if (d.n == 0 || d.p[0] == '-' || parse_int(d, 0, UINT32_MAX, &v) != SIM_OK)
                return SIM_ERR_MODEL;
            dims[n++] = (uint32_t)v;
            start = i + 1;
        }
    }
    *n_dims = n;
    return SIM_OK;
}

static int elems_ok(uint32_t n_dims, const uint32_t *dims)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        if (dims[i] == 0) {
            n = 0;
            continue;
        }
        if (n != 0 && dims[i] > (UINT64_C(1) << 26) / n)
            return 0;
        if (n != 0)
            n *= dims[i];
    }
    /* any zero dim gives 0 elements; still check the non-zero product bound above */
    return 1;
}

static void tensor_defaults(sim_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->scale = 1.0f;
    t->fmt = 3;
}

/* input/output <pct name> <type> <dims> [fmt=..] [scale=..] [zp=..] [shapes=..] */
static int parse_tensor(const tok *tk, size_t nt, int is_input, sim_tensor *t)
{
    if (nt < 4)
        return SIM_ERR_MODEL;
    tensor_defaults(t);
    if (parse_name(tk[1], t->name) || parse_type(tk[2], &t->type) || parse_dims(tk[3], &t->n_dims, t->dims))
        return SIM_ERR_MODEL;
    if (!elems_ok(t->n_dims, t->dims))
        return SIM_ERR_MODEL;
    int have_fmt = 0, have_scale = 0, have_zp = 0, have_shapes = 0;
    int64_t zp = 0;
    double scale = 1.0;
    tok shapes = { NULL, 0 };
    for (size_t i = 4; i < nt; i++) {
        tok k = tk[i];
        const char *eq = memchr(k.p, '=', k.n);
        if (eq == NULL)
            return SIM_ERR_MODEL;
        tok key = { k.p, (size_t)(eq - k.p) };
        tok val = { eq + 1, k.n - (size_t)(eq - k.p) - 1 };
        if (tok_eq(key, "fmt")) {
            if (have_fmt++)
                return SIM_ERR_MODEL;
            if (tok_eq(val, "nhwc"))
                t->fmt = 1;
            else if (tok_eq(val, "nchw"))
                t->fmt = 0;
            else if (tok_eq(val, "undefined"))
                t->fmt = 3;
            else
                return SIM_ERR_MODEL;
            if (t->fmt == 1 && t->n_dims != 4)
                return SIM_ERR_MODEL;
        } else if (tok_eq(key, "scale")) {
            if (have_scale++ || parse_float(val, &scale) || !(scale > 0.0) || scale > 3.0e38)
                return SIM_ERR_MODEL;
            if ((float)scale <= 0.0f)
                return SIM_ERR_MODEL;
        } else if (tok_eq(key, "zp")) {
            if (have_zp++ || parse_int(val, INT32_MIN, INT32_MAX, &zp))
                return SIM_ERR_MODEL;
        } else if (tok_eq(key, "shapes")) {
            if (have_shapes++ || val.n == 0)
                return SIM_ERR_MODEL;
            shapes = val;
        } else {
            return SIM_ERR_MODEL;
        }
    }
    if (!have_fmt)
        t->fmt = (t->n_dims == 4) ? (is_input ? 1 : 0) : 3;
    if (have_zp && !have_scale)
        return SIM_ERR_MODEL;
    if (have_scale) {
        int64_t lo, hi;
        switch (t->type) {
        case 2: lo = -128; hi = 127; break;
        case 3: lo = 0; hi = 255; break;
        case 4: lo = -32768; hi = 32767; break;
        default: return SIM_ERR_MODEL;
        }
        if (zp < lo || zp > hi)
            return SIM_ERR_MODEL;
        t->qnt_type = 2;
        t->scale = (float)scale;
        t->zp = (int32_t)zp;
    }
    if (have_shapes) {
        uint32_t rows = 1;
        for (size_t i = 0; i < shapes.n; i++)
            if (shapes.p[i] == ';')
                rows++;
        if (rows > SIM_MAX_SHAPES)
            return SIM_ERR_MODEL;
        t->shapes = calloc(rows, sizeof *t->shapes);
        if (t->shapes == NULL)
            return SIM_ERR_MODEL;
        t->n_shapes = rows;
        size_t start = 0;
        uint32_t r = 0;
        for (size_t i = 0; i <= shapes.n; i++) {
            if (i == shapes.n || shapes.p[i] == ';') {
                tok row = { shapes.p + start, i - start };
                uint32_t nd = 0;
                if (row.n == 0 || parse_dims(row, &nd, t->shapes[r]) || nd != t->n_dims ||
                    !elems_ok(nd, t->shapes[r]))
                    return SIM_ERR_MODEL;
                r++;
                start = i + 1;
            }
        }
        if (memcmp(t->shapes[0], t->dims, sizeof(uint32_t) * t->n_dims) != 0)
            return SIM_ERR_MODEL;
    }
    return SIM_OK;
}

static int push_tensor(sim_tensor **arr, uint32_t *n, const sim_tensor *t)
{
    if (*n >= SIM_MAX_IO)
        return SIM_ERR_MODEL;
    sim_tensor *a = realloc(*arr, sizeof(sim_tensor) * (*n + 1));
    if (a == NULL)
        return SIM_ERR_MODEL;
    a[*n] = *t;
    *arr = a;
    (*n)++;
    return SIM_OK;
}

/* op_attr <pct name> <type> <v1,v2,...> */
static int parse_op_attr(const tok *tk, size_t nt, sim_model *m)
{
    if (nt != 4 || m->n_op_attrs >= SIM_MAX_OP_ATTRS)
        return SIM_ERR_MODEL;
    sim_op_attr a;
    memset(&a, 0, sizeof a);
    if (parse_name(tk[1], a.name) || parse_type(tk[2], &a.type))
        return SIM_ERR_MODEL;
    for (uint32_t i = 0; i < m->n_op_attrs; i++)
        if (strcmp(m->op_attrs[i].name, a.name) == 0)
            return SIM_ERR_MODEL;
    tok v = tk[3];
    uint32_t count = 1;
    for (size_t i = 0; i < v.n; i++)
        if (v.p[i] == ',')
            count++;
    uint32_t es = sim_type_size(a.type);
    a.data = calloc(count, es);
    if (a.data == NULL)
        return SIM_ERR_MODEL;
    size_t start = 0;
    uint32_t k = 0;
    int rc = SIM_OK;
    for (size_t i = 0; i <= v.n && rc == SIM_OK; i++) {
        if (i != v.n && v.p[i] != ',')
            continue;
        tok e = { v.p + start, i - start };
        start = i + 1;
        unsigned char *dst = (unsigned char *)a.data + (size_t)k * es;
        int64_t iv = 0;
        double dv = 0;
        switch (a.type) {
        case 0: { if ((rc = parse_float(e, &dv)) == SIM_OK) { float f = (float)dv; if (!isfinite(f)) rc = SIM_ERR_MODEL; memcpy(dst, &f, 4); } break; }
        case 1: { if ((rc = parse_float(e, &dv)) == SIM_OK) { uint16_t h = sim_float_to_half((float)dv); memcpy(dst, &h, 2); } break; }
        case 2: { if ((rc = parse_int(e, INT8_MIN, INT8_MAX, &iv)) == SIM_OK) { int8_t x = (int8_t)iv; memcpy(dst, &x, 1); } break; }
        case 3: { if ((rc = parse_int(e, 0, UINT8_MAX, &iv)) == SIM_OK) { uint8_t x = (uint8_t)iv; memcpy(dst, &x, 1); } break; }
        case 4: { if ((rc = parse_int(e, INT16_MIN, INT16_MAX, &iv)) == SIM_OK) { int16_t x = (int16_t)iv; memcpy(dst, &x, 2); } break; }
        case 5: { if ((rc = parse_int(e, 0, UINT16_MAX, &iv)) == SIM_OK) { uint16_t x = (uint16_t)iv; memcpy(dst, &x, 2); } break; }
        case 6: { if ((rc = parse_int(e, INT32_MIN, INT32_MAX, &iv)) == SIM_OK) { int32_t x = (int32_t)iv; memcpy(dst, &x, 4); } break; }
        case 7: { if ((rc = parse_int(e, 0, UINT32_MAX, &iv)) == SIM_OK) { uint32_t x = (uint32_t)iv; memcpy(dst, &x, 4); } break; }
        case 8: { if ((rc = parse_int(e, INT64_MIN + 1, INT64_MAX, &iv)) == SIM_OK) memcpy(dst, &iv, 8); break; }
        case 9: { if ((rc = parse_int(e, 0, 1, &iv)) == SIM_OK) dst[0] = (unsigned char)iv; break; }
        default: rc = SIM_ERR_MODEL; break;
        }
        k++;
    }
    if (rc != SIM_OK) {
        free(a.data);
        return SIM_ERR_MODEL;
    }
    a.n_elems = count;
    sim_op_attr *arr = realloc(m->op_attrs, sizeof(sim_op_attr) * (m->n_op_attrs + 1));
    if (arr == NULL) {
        free(a.data);
        return SIM_ERR_MODEL;
    }
    arr[m->n_op_attrs++] = a;
    m->op_attrs = arr;
    return SIM_OK;
}

static int parse_body(const char *data, size_t len, sim_model *m)
{
    const size_t magic_len = strlen(SIM_NATIVE_MAGIC);
    if (len < magic_len || memcmp(data, SIM_NATIVE_MAGIC, magic_len) != 0)
        return SIM_ERR_MODEL;
    if (memchr(data, '\0', len) != NULL)
        return SIM_ERR_MODEL;
    int seen_latency = 0, seen_custom = 0, seen_op = 0, seen_weights = 0, seen_from = 0, seen_end = 0;
    int custom_op = 0;
    size_t pos = magic_len;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - (data + pos)) : len - pos;
        const char *line = data + pos;
        pos += line_len + (nl ? 1 : 0);
        if (line_len == 0)
            continue;
        if (seen_end)
            return SIM_ERR_MODEL;
        if (line[0] == '#')
            continue;
        tok tk[MAX_TOKENS + 1];
        size_t nt = 0, start = 0;
        for (size_t i = 0; i <= line_len; i++) {
            if (i == line_len || line[i] == ' ') {
                if (i == start || nt > MAX_TOKENS)
                    return SIM_ERR_MODEL;
                tk[nt].p = line + start;
                tk[nt].n = i - start;
                nt++;
                start = i + 1;
            }
        }
        if (nt > MAX_TOKENS)
            return SIM_ERR_MODEL;
        tok d = tk[0];
        if (tok_eq(d, "latency_us")) {
            int64_t v;
            if (nt != 2 || seen_latency++ || parse_int(tk[1], 0, INT64_MAX, &v))
                return SIM_ERR_MODEL;
            m->latency_us = v;
        } else if (tok_eq(d, "custom_string")) {
            if (nt != 2 || seen_custom++)
                return SIM_ERR_MODEL;
            long n = pct_decode(tk[1], m->custom_string, SIM_CUSTOM_STRING_LEN);
            if (n < 0 || n > SIM_CUSTOM_STRING_LEN - 1)
                return SIM_ERR_MODEL;
        } else if (tok_eq(d, "op")) {
            if (seen_op++ || nt < 2)
                return SIM_ERR_MODEL;
            if (nt == 2 && tok_eq(tk[1], "sum")) {
                custom_op = 0;
            } else if (nt == 3 && tok_eq(tk[1], "custom")) {
                if (parse_name(tk[2], m->custom_op))
                    return SIM_ERR_MODEL;
                custom_op = 1;
            } else {
                return SIM_ERR_MODEL;
            }
        } else if (tok_eq(d, "op_attr")) {
            if (parse_op_attr(tk, nt, m))
                return SIM_ERR_MODEL;
        } else if (tok_eq(d, "weights")) {
            if (nt != 2 || seen_weights++ || parse_name(tk[1], m->weights_id))
                return SIM_ERR_MODEL;
        } else if (tok_eq(d, "weights_from")) {
            if (nt != 2 || seen_from++ || parse_name(tk[1], m->weights_from))
                return SIM_ERR_MODEL;
        } else if (tok_eq(d, "input") || tok_eq(d, "output")) {
            int is_in = tok_eq(d, "input");
            sim_tensor t;
            tensor_defaults(&t);
            if (parse_tensor(tk, nt, is_in, &t)) {
                free(t.shapes);
                return SIM_ERR_MODEL;
            }
            if (push_tensor(is_in ? &m->inputs : &m->outputs, is_in ? &m->n_inputs : &m->n_outputs, &t)) {
                free(t.shapes);
                return SIM_ERR_MODEL;
            }
        } else if (tok_eq(d, "end")) {
            if (nt != 1)
                return SIM_ERR_MODEL;
            seen_end = 1;
        } else {
            return SIM_ERR_MODEL;
        }
    }
    if (!seen_end || m->n_inputs == 0 || m->n_outputs == 0)
        return SIM_ERR_MODEL;
    if (seen_weights && seen_from)
        return SIM_ERR_MODEL;
    if (m->n_op_attrs > 0 && !custom_op)
        return SIM_ERR_MODEL;
    /* unique names across inputs and outputs */
    uint32_t total = m->n_inputs + m->n_outputs;
    for (uint32_t a = 0; a < total; a++) {
        const sim_tensor *ta = a < m->n_inputs ? &m->inputs[a] : &m->outputs[a - m->n_inputs];
        for (uint32_t b = a + 1; b < total; b++) {
            const sim_tensor *tb = b < m->n_inputs ? &m->inputs[b] : &m->outputs[b - m->n_inputs];
            if (strcmp(ta->name, tb->name) == 0)
                return SIM_ERR_MODEL;
        }
    }
    /* dynamic shapes: every input has the same number of rows; outputs either none or the same */
    uint32_t rows = m->inputs[0].n_shapes;
    for (uint32_t i = 0; i < m->n_inputs; i++)
        if (m->inputs[i].n_shapes != rows)
            return SIM_ERR_MODEL;
    for (uint32_t i = 0; i < m->n_outputs; i++)
        if (m->outputs[i].n_shapes != 0 && m->outputs[i].n_shapes != rows)
            return SIM_ERR_MODEL;
    return SIM_OK;
}

int sim_parse_native(const uint8_t *data, size_t len, sim_model *out)
{
    if (data == NULL || out == NULL) {
        if (out != NULL)
            sim_model_free(out);
        return SIM_ERR_MODEL;
    }
    sim_model_free(out);
    out->source = SIM_SOURCE_NATIVE;
    int rc = parse_body((const char *)data, len, out);
    if (rc != SIM_OK) {
        sim_model_free(out);
        return SIM_ERR_MODEL;
    }
    out->source = SIM_SOURCE_NATIVE;
    return SIM_OK;
}
