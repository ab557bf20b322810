/*
 * Parser of real .rknn containers (RKNPU2): a 64-byte header, a FlatBuffer, an optional JSON trailer.
 * Layout and field slots: shared/reference/rknn-file-format.md (§2 header, §4 tables, §5 query rules).
 *
 * Safety rules (the input is untrusted):
 *   - every read goes through a bounds-checked helper (rd_*), all offsets are size_t and every sum is
 *     checked against the remaining length before it is formed, so nothing can wrap;
 *   - the walk has a fixed shape (Model -> Graph[0] -> Tensor / Node), so offsets cannot form cycles;
 *     the only loops are over vectors whose byte size was checked against the buffer, and over the
 *     JSON text, which always advance;
 *   - allocations are bounded by SIM_MAX_IO tensors per direction;
 *   - any inconsistency frees *out and returns SIM_ERR_MODEL.
 *
 * What a parsed model holds (sim_internal.h):
 *   source SIM_SOURCE_RKNN, latency_us -1, custom_string (Model 11), target (8), compiler (7),
 *   custom_op = the first Graph node op type starting with "cst" ("" otherwise);
 *   inputs/outputs in Graph fields 2/3 order, 1..SIM_MAX_IO each.  Per tensor: name (Tensor 5, cut at
 *   an embedded NUL and at 255 bytes), dims = logical shape (Tensor 4, NCHW for 4-D, <= 16 dims, each
 *   >= 0, n_elems * element size <= UINT32_MAX), type from the dtype in Model.input_json/output_json
 *   (12/13; when a whole JSON field is absent, from the internal code in Tensor 0), fmt per §5.4
 *   (4-D input: NHWC unless its JSON layout is NCHW or UNDEFINED; 4-D output: NCHW; other ranks:
 *   UNDEFINED), qnt_type 2 with the first scale (Tensor 10, finite and > 0) and zero point (Tensor 11,
 *   0 when absent), else qnt_type 0 / scale 1 / zp 0; file_native_dims/_n_dims (Tensor 3, 0 when
 *   absent) and file_native_size (Tensor 12: not always the product of the native shape).
 *   n_shapes 0, no op attributes, no weights ids.
 *   Header versions accepted: (v >> 8) in {0, 0x10} and (v & 0xff) >= 2 (every file seen has 6).  The
 *   JSON trailer is optional, but bytes after the FlatBuffer must frame one (u64 length that fits).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define RKNN_HEADER_LEN 64u
/* input_json/output_json are scanned once per tensor; capping them bounds the work to
 * 2 * SIM_MAX_IO * 4 MiB even for hostile files (real ones hold about 50 bytes per tensor). */
#define RKNN_MAX_IO_JSON ((size_t)4 << 20)

/* ---- bounds-checked little-endian reads ---- */

typedef struct fb_buf {
    const uint8_t *p;
    size_t n;
} fb_buf;

static int rd_u16(const fb_buf *b, size_t off, uint16_t *v)
{
    if (off > b->n || b->n - off < 2)
        return -1;
    *v = (uint16_t)(b->p[off] | (b->p[off + 1] << 8));
    return 0;
}

static int rd_u32(const fb_buf *b, size_t off, uint32_t *v)
{
    if (off > b->n || b->n - off < 4)
        return -1;
    *v = (uint32_t)b->p[off] | ((uint32_t)b->p[off + 1] << 8) | ((uint32_t)b->p[off + 2] << 16) |
         ((uint32_t)b->p[off + 3] << 24);
    return 0;
}

static uint64_t le_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- FlatBuffer tables ---- */

typedef struct fb_table {
    size_t pos;        /* start of the table (its soffset to the vtable) */
    size_t vt;         /* start of the vtable */
    uint16_t n_fields; /* slots in the vtable */
    uint16_t size;     /* inline size of the table, soffset included */
} fb_table;

static int fb_table_at(const fb_buf *b, size_t pos, fb_table *t)
{
    uint32_t raw;
    if (rd_u32(b, pos, &raw) != 0)
        return -1;
    int64_t soff = (int64_t)(int32_t)raw;
    int64_t vt = (int64_t)pos - soff; /* |pos|, |soff| < 2^32: no overflow in int64 */
    if (vt < 0 || (uint64_t)vt > b->n)
        return -1;
    uint16_t vsize, tsize;
    if (rd_u16(b, (size_t)vt, &vsize) != 0 || rd_u16(b, (size_t)vt + 2, &tsize) != 0)
        return -1;
    if (vsize < 4 || (vsize & 1) != 0 || (size_t)vsize > b->n - (size_t)vt)
        return -1;
    if (tsize < 4 || (size_t)tsize > b->n - pos)
        return -1;
    t->pos = pos;
    t->vt = (size_t)vt;
    t->n_fields = (uint16_t)((vsize - 4) / 2);
    t->size = tsize;
    return 0;
}

/* Offset of field k inside the table (0 = absent).  -1 when the slot points outside the table's
 * inline area or does not leave `width` bytes. */
static int fb_field(const fb_buf *b, const fb_table *t, unsigned k, size_t width, size_t *fo)
{
    *fo = 0;
    if (k >= t->n_fields)
        return 0;
    uint16_t off;
    if (rd_u16(b, t->vt + 4 + 2 * (size_t)k, &off) != 0)
        return -1;
    if (off == 0)
        return 0;
    if (off < 4 || off > t->size || (size_t)(t->size - off) < width)
        return -1;
    *fo = off;
    return 0;
}

static int fb_i32(const fb_buf *b, const fb_table *t, unsigned k, int32_t dflt, int32_t *v)
{
    size_t fo;
    uint32_t raw;
    if (fb_field(b, t, k, 4, &fo) != 0)
        return -1;
    if (fo == 0) {
        *v = dflt;
        return 0;
    }
    if (rd_u32(b, t->pos + fo, &raw) != 0)
        return -1;
    *v = (int32_t)raw;
    return 0;
}

static int fb_i8(const fb_buf *b, const fb_table *t, unsigned k, int8_t dflt, int8_t *v)
{
    size_t fo;
    if (fb_field(b, t, k, 1, &fo) != 0)
        return -1;
    *v = fo == 0 ? dflt : (int8_t)b->p[t->pos + fo];
    return 0;
}

/* Follows the uoffset in field k.  *present = 0 when the field is absent. */
static int fb_ref(const fb_buf *b, const fb_table *t, unsigned k, size_t *target, int *present)
{
    size_t fo;
    uint32_t rel;
    *present = 0;
    if (fb_field(b, t, k, 4, &fo) != 0)
        return -1;
    if (fo == 0)
        return 0;
    size_t at = t->pos + fo;
    if (rd_u32(b, at, &rel) != 0 || (size_t)rel > b->n - at)
        return -1;
    *target = at + rel;
    *present = 1;
    return 0;
}

/* A vector of `elem`-byte items at `pos`: its length word and data checked against the buffer. */
static int fb_vector_at(const fb_buf *b, size_t pos, size_t elem, size_t *data, uint32_t *count)
{
    uint32_t n;
    if (rd_u32(b, pos, &n) != 0)
        return -1;
    size_t room = b->n - pos - 4;
    if ((size_t)n > room / elem)
        return -1;
    *data = pos + 4;
    *count = n;
    return 0;
}

static int fb_vector(const fb_buf *b, const fb_table *t, unsigned k, size_t elem, size_t *data,
                     uint32_t *count, int *present)
{
    size_t pos = 0; /* set by fb_ref when present; initialised for compilers that cannot see that */
    *count = 0;
    *data = 0;
    if (fb_ref(b, t, k, &pos, present) != 0)
        return -1;
    if (!*present)
        return 0;
    return fb_vector_at(b, pos, elem, data, count);
}

/* A string: bytes [*s, *s + *len).  The terminating NUL that FlatBuffers writes is not required. */
static int fb_string(const fb_buf *b, const fb_table *t, unsigned k, const char **s, size_t *len,
                     int *present)
{
    size_t data;
    uint32_t n;
    *s = "";
    *len = 0;
    if (fb_vector(b, t, k, 1, &data, &n, present) != 0)
        return -1;
    if (*present) {
        *s = (const char *)b->p + data;
        *len = n;
    }
    return 0;
}

/* Element i of a vector of tables starting at `data`. */
static int fb_vector_table(const fb_buf *b, size_t data, uint32_t i, fb_table *t)
{
    size_t at = data + 4 * (size_t)i; /* caller checked i < count, so `at` + 4 is in bounds */
    uint32_t rel;
    if (rd_u32(b, at, &rel) != 0 || (size_t)rel > b->n - at)
        return -1;
    return fb_table_at(b, at + rel, t);
}

/* ---- the small JSON scanner for Model.input_json / output_json ----
 * Shape: {"<name>": {"dtype": "<type>", "layout": "<layout>", ...}, ...}.  Values of other keys are
 * skipped whatever they are (nesting limited to JSON_MAX_DEPTH).  Escapes \" \\ \/ \b \f \n \r \t and
 * \uXXXX (surrogate pairs included) are decoded to UTF-8 before names are compared. */

#define JSON_MAX_DEPTH 32

typedef struct json_in {
    const char *s;
    size_t n;
    size_t i;
} json_in;

/* Where a decoded string goes: compared with `want`, and/or copied into `buf`. */
typedef struct json_sink {
    const char *want; /* NULL: no comparison */
    size_t want_len;
    size_t pos;
    int equal;
    char *buf; /* NULL: no copy */
    size_t cap;
    size_t len;
    int overflow;
} json_sink;

static void sink_byte(json_sink *k, unsigned char c)
{
    if (k->want != NULL) {
        if (k->pos >= k->want_len || (unsigned char)k->want[k->pos] != c)
            k->equal = 0;
        k->pos++;
    }
    if (k->buf != NULL) {
        if (k->len + 1 < k->cap)
            k->buf[k->len++] = (char)c;
        else
            k->overflow = 1;
    }
}

static void sink_utf8(json_sink *k, uint32_t cp)
{
    if (cp < 0x80) {
        sink_byte(k, (unsigned char)cp);
    } else if (cp < 0x800) {
        sink_byte(k, (unsigned char)(0xC0 | (cp >> 6)));
        sink_byte(k, (unsigned char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sink_byte(k, (unsigned char)(0xE0 | (cp >> 12)));
        sink_byte(k, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
        sink_byte(k, (unsigned char)(0x80 | (cp & 0x3F)));
    } else {
        sink_byte(k, (unsigned char)(0xF0 | (cp >> 18)));
        sink_byte(k, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
        sink_byte(k, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
        sink_byte(k, (unsigned char)(0x80 | (cp & 0x3F)));
    }
}

static void json_ws(json_in *j)
{
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

static int json_hex4(json_in *j, uint32_t *v)
{
    if (j->n - j->i < 4)
        return -1;
    uint32_t r = 0;
    for (int d = 0; d < 4; d++) {
        char c = j->s[j->i++];
        r <<= 4;
        if (c >= '0' && c <= '9')
            r |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            r |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            r |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *v = r;
    return 0;
}

/* Parses a string starting at the opening quote; `k` may be NULL (skip). */
static int json_string(json_in *j, json_sink *k)
{
    json_sink dummy;
    if (k == NULL) {
        memset(&dummy, 0, sizeof(dummy));
        k = &dummy;
    }
    k->equal = 1;
    if (j->i >= j->n || j->s[j->i] != '"')
        return -1;
    j->i++;
    for (;;) {
        if (j->i >= j->n)
            return -1;
        unsigned char c = (unsigned char)j->s[j->i++];
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            sink_byte(k, c);
            continue;
        }
        if (j->i >= j->n)
            return -1;
        char e = j->s[j->i++];
        switch (e) {
        case '"': sink_byte(k, '"'); break;
        case '\\': sink_byte(k, '\\'); break;
        case '/': sink_byte(k, '/'); break;
        case 'b': sink_byte(k, '\b'); break;
        case 'f': sink_byte(k, '\f'); break;
        case 'n': sink_byte(k, '\n'); break;
        case 'r': sink_byte(k, '\r'); break;
        case 't': sink_byte(k, '\t'); break;
        case 'u': {
            uint32_t cp;
            if (json_hex4(j, &cp) != 0)
                return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (j->n - j->i < 2 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u')
                    return -1;
                j->i += 2;
                if (json_hex4(j, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            sink_utf8(k, cp);
            break;
        }
        default:
            return -1;
        }
    }
    if (k->want != NULL && k->pos != k->want_len)
        k->equal = 0;
    if (k->buf != NULL && k->cap > 0)
        k->buf[k->len] = '\0';
    return 0;
}

static int json_skip_value(json_in *j, int depth);

static int json_skip_container(json_in *j, int depth, char close, int is_object)
{
    if (depth >= JSON_MAX_DEPTH)
        return -1;
    j->i++; /* the opening bracket */
    json_ws(j);
    if (j->i < j->n && j->s[j->i] == close) {
        j->i++;
        return 0;
    }
    for (;;) {
        json_ws(j);
        if (is_object) {
            if (json_string(j, NULL) != 0)
                return -1;
            json_ws(j);
            if (j->i >= j->n || j->s[j->i] != ':')
                return -1;
            j->i++;
        }
        if (json_skip_value(j, depth + 1) != 0)
            return -1;
        json_ws(j);
        if (j->i >= j->n)
            return -1;
        char c = j->s[j->i++];
        if (c == close)
            return 0;
        if (c != ',')
            return -1;
    }
}

static int json_skip_value(json_in *j, int depth)
{
    json_ws(j);
    if (j->i >= j->n)
        return -1;
    char c = j->s[j->i];
    if (c == '"')
        return json_string(j, NULL);
    if (c == '{')
        return json_skip_container(j, depth, '}', 1);
    if (c == '[')
        return json_skip_container(j, depth, ']', 0);
    /* a number or a literal: a run of characters that can appear in them */
    size_t start = j->i;
    while (j->i < j->n) {
        c = j->s[j->i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
            c == '+' || c == '.')
            j->i++;
        else
            break;
    }
    return j->i > start ? 0 : -1;
}

typedef struct json_io_info {
    int found;
    char dtype[16];
    int has_dtype;
    char layout[16];
    int has_layout;
} json_io_info;

/* Reads {"dtype": "...", "layout": "...", ...} into *info (first occurrence of each key wins). */
static int json_io_object(json_in *j, json_io_info *info)
{
    json_ws(j);
    if (j->i >= j->n || j->s[j->i] != '{')
        return -1;
    j->i++;
    json_ws(j);
    if (j->i < j->n && j->s[j->i] == '}') {
        j->i++;
        return 0;
    }
    for (;;) {
        char key[16];
        json_sink ks;
        memset(&ks, 0, sizeof(ks));
        ks.buf = key;
        ks.cap = sizeof(key);
        json_ws(j);
        if (json_string(j, &ks) != 0)
            return -1;
        json_ws(j);
        if (j->i >= j->n || j->s[j->i] != ':')
            return -1;
        j->i++;
        json_ws(j);
        char *dst = NULL;
        int *flag = NULL;
        if (!ks.overflow && strcmp(key, "dtype") == 0 && !info->has_dtype) {
            dst = info->dtype;
            flag = &info->has_dtype;
        } else if (!ks.overflow && strcmp(key, "layout") == 0 && !info->has_layout) {
            dst = info->layout;
            flag = &info->has_layout;
        }
        if (dst != NULL && j->i < j->n && j->s[j->i] == '"') {
            json_sink vs;
            memset(&vs, 0, sizeof(vs));
            vs.buf = dst;
            vs.cap = sizeof(info->dtype);
            if (json_string(j, &vs) != 0)
                return -1;
            if (vs.overflow)
                dst[0] = '\0'; /* too long to be a known value: reads as unknown */
            *flag = 1;
        } else if (json_skip_value(j, 1) != 0) {
            return -1;
        }
        json_ws(j);
        if (j->i >= j->n)
            return -1;
        char c = j->s[j->i++];
        if (c == '}')
            return 0;
        if (c != ',')
            return -1;
    }
}

/* Looks `name` up in the top-level object `text`.  Returns -1 for malformed JSON. */
static int json_lookup_io(const char *text, size_t len, const char *name, size_t name_len, json_io_info *info)
{
    json_in j = {text, len, 0};
    memset(info, 0, sizeof(*info));
    json_ws(&j);
    if (j.i >= j.n || j.s[j.i] != '{')
        return -1;
    j.i++;
    json_ws(&j);
    if (j.i < j.n && j.s[j.i] == '}') {
        j.i++;
    } else {
        for (;;) {
            json_sink ks;
            memset(&ks, 0, sizeof(ks));
            ks.want = name;
            ks.want_len = name_len;
            json_ws(&j);
            if (json_string(&j, &ks) != 0)
                return -1;
            json_ws(&j);
            if (j.i >= j.n || j.s[j.i] != ':')
                return -1;
            j.i++;
            if (ks.equal && !info->found) {
                info->found = 1;
                if (json_io_object(&j, info) != 0)
                    return -1;
            } else if (json_skip_value(&j, 1) != 0) {
                return -1;
            }
            json_ws(&j);
            if (j.i >= j.n)
                return -1;
            char c = j.s[j.i++];
            if (c == '}')
                break;
            if (c != ',')
                return -1;
        }
    }
    json_ws(&j);
    /* Tolerate a trailing NUL (some writers count it in the string length); nothing else may follow. */
    while (j.i < j.n && j.s[j.i] == '\0')
        j.i++;
    return j.i == j.n ? 0 : -1;
}

/* ---- mapping file values to rknn enums ---- */

static int ascii_ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = (*a >= 'a' && *a <= 'z') ? (char)(*a - 32) : *a;
        char y = (*b >= 'a' && *b <= 'z') ? (char)(*b - 32) : *b;
        if (x != y)
            return 0;
        if (x == '\0')
            return 1;
    }
}

static int dtype_from_string(const char *s)
{
    static const struct { const char *name; int type; } table[] = {
        {"float32", 0}, {"float16", 1}, {"int8", 2},   {"uint8", 3},  {"int16", 4},
        {"uint16", 5},  {"int32", 6},   {"uint32", 7}, {"int64", 8},  {"bool", 9},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(s, table[i].name) == 0)
            return table[i].type;
    return -1;
}

/* Fallback when the model has no input_json/output_json at all: the internal dtype code of Tensor
 * field 0 (§4: 3 int8, 10 float16, 6 int32, 7 int64). */
static int dtype_from_internal_code(int8_t code)
{
    switch (code) {
    case 3: return 2;
    case 10: return 1;
    case 6: return 6;
    case 7: return 8;
    default: return -1;
    }
}

/* ---- tensors ---- */

typedef struct io_ctx {
    const fb_buf *fb;
    const char *json; /* input_json or output_json; NULL when the model has none */
    size_t json_len;
    int is_input;
} io_ctx;

static int read_dims(const fb_buf *b, const fb_table *t, unsigned k, uint32_t *dims, uint32_t *n_dims,
                     int *present)
{
    size_t data;
    uint32_t count;
    if (fb_vector(b, t, k, 4, &data, &count, present) != 0)
        return -1;
    *n_dims = 0;
    if (!*present)
        return 0;
    if (count > SIM_MAX_DIMS)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t v;
        if (rd_u32(b, data + 4 * (size_t)i, &v) != 0 || (int32_t)v < 0)
            return -1;
        dims[i] = v;
    }
    *n_dims = count;
    return 0;
}

static int parse_io_tensor(const io_ctx *c, const fb_table *t, sim_tensor *out)
{
    const fb_buf *b = c->fb;
    int present;
    const char *name;
    size_t name_len;

    if (fb_string(b, t, 5, &name, &name_len, &present) != 0 || !present)
        return -1;
    const char *nul = memchr(name, '\0', name_len);
    if (nul != NULL)
        name_len = (size_t)(nul - name); /* the name ends at an embedded NUL, as C readers see it */
    sim_copy_name(out->name, sizeof(out->name), name, name_len);

    if (read_dims(b, t, 4, out->dims, &out->n_dims, &present) != 0 || !present)
        return -1;
    if (read_dims(b, t, 3, out->file_native_dims, &out->file_native_n_dims, &present) != 0)
        return -1;
    int32_t native_size;
    if (fb_i32(b, t, 12, 0, &native_size) != 0 || native_size < 0)
        return -1;
    out->file_native_size = (uint32_t)native_size;

    /* dtype and layout */
    int type;
    const char *layout = NULL;
    json_io_info info;
    if (c->json != NULL) {
        if (json_lookup_io(c->json, c->json_len, name, name_len, &info) != 0 || !info.found || !info.has_dtype)
            return -1;
        type = dtype_from_string(info.dtype);
        if (info.has_layout)
            layout = info.layout;
    } else {
        int8_t code;
        if (fb_i8(b, t, 0, -1, &code) != 0)
            return -1;
        type = dtype_from_internal_code(code);
    }
    if (type < 0)
        return -1;
    out->type = type;

    /* the size must be reportable in rknn_tensor_attr (uint32 n_elems and size) */
    uint64_t bytes = sim_type_size(type);
    for (uint32_t i = 0; i < out->n_dims; i++) {
        bytes *= out->dims[i];
        if (bytes > UINT32_MAX)
            return -1;
    }

    /* reported format, rknn-file-format.md §5.4 */
    if (out->n_dims != 4)
        out->fmt = 3;
    else if (!c->is_input)
        out->fmt = 0;
    else if (layout != NULL && ascii_ieq(layout, "NCHW"))
        out->fmt = 0;
    else if (layout != NULL && ascii_ieq(layout, "UNDEFINED"))
        out->fmt = 3; /* not covered by §5.4 (no file seen): reported as the file says */
    else
        out->fmt = 1; /* NHWC, also the toolkit default when the layout is missing or unknown */

    /* quantisation: the first scale and zero point */
    size_t sdata, zdata;
    uint32_t scount, zcount;
    int zpresent;
    if (fb_vector(b, t, 10, 4, &sdata, &scount, &present) != 0 ||
        fb_vector(b, t, 11, 4, &zdata, &zcount, &zpresent) != 0)
        return -1;
    if (scount > 0) {
        uint32_t raw;
        float scale;
        if (rd_u32(b, sdata, &raw) != 0)
            return -1;
        memcpy(&scale, &raw, sizeof(scale));
        if (!isfinite(scale) || !(scale > 0.0f))
            return -1;
        out->qnt_type = 2;
        out->scale = scale;
        out->zp = 0;
        if (zcount > 0) {
            if (rd_u32(b, zdata, &raw) != 0)
                return -1;
            out->zp = (int32_t)raw;
        }
    } else {
        out->qnt_type = 0;
        out->scale = 1.0f;
        out->zp = 0;
    }
    out->n_shapes = 0;
    out->shapes = NULL;
    return 0;
}

static int parse_io_list(const fb_buf *b, const fb_table *graph, unsigned field, size_t tensors,
                         uint32_t n_tensors, const io_ctx *c, sim_tensor **out, uint32_t *n_out)
{
    size_t data;
    uint32_t count;
    int present;
    if (fb_vector(b, graph, field, 4, &data, &count, &present) != 0 || !present)
        return -1;
    if (count == 0 || count > SIM_MAX_IO)
        return -1;
    *out = calloc(count, sizeof(sim_tensor));
    if (*out == NULL)
        return -1;
    *n_out = count; /* from here on sim_model_free owns the array */
    for (uint32_t i = 0; i < count; i++) {
        uint32_t idx;
        fb_table t;
        if (rd_u32(b, data + 4 * (size_t)i, &idx) != 0 || idx >= n_tensors)
            return -1;
        if (fb_vector_table(b, tensors, idx, &t) != 0)
            return -1;
        if (parse_io_tensor(c, &t, &(*out)[i]) != 0)
            return -1;
    }
    return 0;
}

/* The first node whose op type starts with "cst" names the model's custom op. */
static int find_custom_op(const fb_buf *b, const fb_table *graph, sim_model *m)
{
    size_t data;
    uint32_t count;
    int present;
    if (fb_vector(b, graph, 1, 4, &data, &count, &present) != 0)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        fb_table node;
        const char *op;
        size_t op_len;
        if (fb_vector_table(b, data, i, &node) != 0)
            return -1;
        if (fb_string(b, &node, 1, &op, &op_len, &present) != 0)
            return -1;
        if (m->custom_op[0] == '\0' && op_len > 3 && memcmp(op, "cst", 3) == 0 && op[3] != '\0')
            sim_copy_name(m->custom_op, sizeof(m->custom_op), op, op_len);
    }
    return 0;
}

static int copy_model_string(const fb_buf *b, const fb_table *root, unsigned k, char *dst, size_t cap)
{
    const char *s;
    size_t len;
    int present;
    if (fb_string(b, root, k, &s, &len, &present) != 0)
        return -1;
    sim_copy_name(dst, cap, s, len);
    return 0;
}

static int parse_flatbuffer(const fb_buf *b, sim_model *m)
{
    uint32_t root_off;
    fb_table root, graph;
    int present;

    if (b->n < 8 || rd_u32(b, 0, &root_off) != 0 || memcmp(b->p + 4, "RKNN", 4) != 0)
        return -1;
    if (root_off < 8 || fb_table_at(b, root_off, &root) != 0)
        return -1;

    if (copy_model_string(b, &root, 11, m->custom_string, sizeof(m->custom_string)) != 0 ||
        copy_model_string(b, &root, 8, m->target, sizeof(m->target)) != 0 ||
        copy_model_string(b, &root, 7, m->compiler, sizeof(m->compiler)) != 0)
        return -1;

    io_ctx in_ctx = {b, NULL, 0, 1};
    io_ctx out_ctx = {b, NULL, 0, 0};
    const char *s;
    size_t len;
    if (fb_string(b, &root, 12, &s, &len, &present) != 0)
        return -1;
    if (present && len > RKNN_MAX_IO_JSON)
        return -1;
    if (present) {
        in_ctx.json = s;
        in_ctx.json_len = len;
    }
    if (fb_string(b, &root, 13, &s, &len, &present) != 0)
        return -1;
    if (present && len > RKNN_MAX_IO_JSON)
        return -1;
    if (present) {
        out_ctx.json = s;
        out_ctx.json_len = len;
    }

    size_t graphs, tensors;
    uint32_t n_graphs, n_tensors;
    if (fb_vector(b, &root, 2, 4, &graphs, &n_graphs, &present) != 0 || n_graphs == 0)
        return -1;
    if (fb_vector_table(b, graphs, 0, &graph) != 0)
        return -1;
    if (fb_vector(b, &graph, 0, 4, &tensors, &n_tensors, &present) != 0 || !present)
        return -1;

    if (parse_io_list(b, &graph, 2, tensors, n_tensors, &in_ctx, &m->inputs, &m->n_inputs) != 0 ||
        parse_io_list(b, &graph, 3, tensors, n_tensors, &out_ctx, &m->outputs, &m->n_outputs) != 0)
        return -1;
    return find_custom_op(b, &graph, m);
}

static int parse_container(const uint8_t *data, size_t len, sim_model *out)
{
    if (data == NULL || len < RKNN_HEADER_LEN || memcmp(data, SIM_RKNN_MAGIC, 4) != 0)
        return -1;
    uint64_t version = le_u64(data + 8);
    /* rknncli's rule: (v >> 8) in {0, 0x10}; (v & 0xff) <= 1 is the old 24-byte rknn-v1 header,
     * which is not supported. Every file seen has 6. */
    if (((version >> 8) != 0 && (version >> 8) != 0x10) || (version & 0xff) <= 1)
        return -1;
    uint64_t fb_len = le_u64(data + 16);
    size_t room = len - RKNN_HEADER_LEN;
    if (fb_len < 8 || fb_len > room)
        return -1;
    /* The JSON trailer is optional, but when bytes follow the FlatBuffer they must frame it. */
    size_t rest = room - (size_t)fb_len;
    if (rest != 0) {
        if (rest < 8)
            return -1;
        uint64_t json_len = le_u64(data + RKNN_HEADER_LEN + fb_len);
        if (json_len > rest - 8)
            return -1;
    }
    fb_buf b = {data + RKNN_HEADER_LEN, (size_t)fb_len};
    out->source = SIM_SOURCE_RKNN;
    out->latency_us = -1;
    return parse_flatbuffer(&b, out);
}

int sim_parse_rknn(const uint8_t *data, size_t len, sim_model *out)
{
    if (out == NULL)
        return SIM_ERR_MODEL;
    sim_model_free(out);
    if (parse_container(data, len, out) != 0) {
        sim_model_free(out);
        return SIM_ERR_MODEL;
    }
    return SIM_OK;
}
