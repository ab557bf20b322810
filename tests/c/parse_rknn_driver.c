/*
 * Test driver for stubs/rknn_format.c: parses .rknn data with sim_parse_rknn and prints the resulting
 * sim_model as one line of JSON, or INVALID.  Built by tests/test_rknn_format.py together with
 * rknn_format.c and sim_model.c (also with -fsanitize=address,undefined).
 *
 *   parse_rknn_driver FILE|-            one model (- = stdin); prints one line
 *   parse_rknn_driver --batch PATH...   files, or directories (their regular files, sorted by name);
 *                                       prints "<path>\t<result>" per file
 *   parse_rknn_driver --stream          stdin holds records: u64 little-endian length, then the data;
 *                                       prints one result line per record
 *
 * Every input is copied into a heap block of exactly its size, so a sanitizer catches any overread.
 * The driver also checks the parser's contract and prints "INSANE <why>" instead of the model when
 * it is broken: a failed parse must leave the model as sim_model_init left it, and a parsed model must
 * respect the limits of sim_internal.h.  Strings are written with bytes outside 0x20..0x7e (and " \)
 * as \u00XX, one code point per byte.  Exit status: 0, or 2 for usage / I/O errors.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim_internal.h"

static void put_str(const char *s, size_t cap)
{
    putchar('"');
    for (size_t i = 0; i < cap && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void put_dims(const uint32_t *dims, uint32_t n)
{
    putchar('[');
    for (uint32_t i = 0; i < n && i < SIM_MAX_DIMS; i++)
        printf(i ? ",%u" : "%u", dims[i]);
    putchar(']');
}

static void put_tensor(const sim_tensor *t)
{
    uint32_t bits;
    memcpy(&bits, &t->scale, sizeof(bits));
    printf("{\"name\":");
    put_str(t->name, sizeof(t->name));
    printf(",\"n_dims\":%u,\"dims\":", t->n_dims);
    put_dims(t->dims, t->n_dims);
    printf(",\"type\":%d,\"fmt\":%d,\"qnt_type\":%d,\"zp\":%d,\"scale\":%.9g,\"scale_bits\":%u,\"n_shapes\":%u,"
           "\"file_native_n_dims\":%u,\"file_native_dims\":",
           t->type, t->fmt, t->qnt_type, t->zp, (double)t->scale, bits, t->n_shapes, t->file_native_n_dims);
    put_dims(t->file_native_dims, t->file_native_n_dims);
    printf(",\"file_native_size\":%u}", t->file_native_size);
}

static const char *check_tensor(const sim_tensor *t, int is_input)
{
    if (memchr(t->name, '\0', sizeof(t->name)) == NULL)
        return "name not terminated";
    if (t->n_dims > SIM_MAX_DIMS || t->file_native_n_dims > SIM_MAX_DIMS)
        return "too many dims";
    uint32_t esize = sim_type_size(t->type);
    if (esize == 0 || t->type == 11)
        return "bad type";
    if (t->fmt != 0 && t->fmt != 1 && t->fmt != 3)
        return "bad fmt";
    if (t->n_dims != 4 && t->fmt != 3)
        return "fmt does not match rank";
    if (t->n_dims == 4 && t->fmt == 3 && !is_input)
        return "4-D output not NCHW";
    if (t->fmt == 1 && !is_input)
        return "NHWC output";
    if (t->qnt_type == 2) {
        if (!isfinite(t->scale) || !(t->scale > 0.0f))
            return "bad scale";
    } else if (t->qnt_type == 0) {
        if (t->scale != 1.0f || t->zp != 0)
            return "unquantised tensor with scale/zp";
    } else {
        return "bad qnt_type";
    }
    if (t->n_shapes != 0 || t->shapes != NULL)
        return "shapes set";
    uint64_t bytes = esize;
    for (uint32_t i = 0; i < t->n_dims; i++) {
        bytes *= t->dims[i];
        if (bytes > UINT32_MAX)
            return "size overflows uint32";
    }
    return NULL;
}

static const char *check_model(const sim_model *m)
{
    if (m->source != SIM_SOURCE_RKNN)
        return "source";
    if (m->latency_us != -1)
        return "latency_us";
    if (m->n_inputs < 1 || m->n_inputs > SIM_MAX_IO || m->n_outputs < 1 || m->n_outputs > SIM_MAX_IO)
        return "io count";
    if (m->inputs == NULL || m->outputs == NULL)
        return "io arrays";
    if (memchr(m->custom_string, '\0', sizeof(m->custom_string)) == NULL ||
        memchr(m->custom_op, '\0', sizeof(m->custom_op)) == NULL ||
        memchr(m->target, '\0', sizeof(m->target)) == NULL || memchr(m->compiler, '\0', sizeof(m->compiler)) == NULL)
        return "model string not terminated";
    if (m->n_op_attrs != 0 || m->op_attrs != NULL || m->weights_id[0] != '\0' || m->weights_from[0] != '\0')
        return "native-only fields set";
    for (uint32_t i = 0; i < m->n_inputs; i++) {
        const char *why = check_tensor(&m->inputs[i], 1);
        if (why != NULL)
            return why;
    }
    for (uint32_t i = 0; i < m->n_outputs; i++) {
        const char *why = check_tensor(&m->outputs[i], 0);
        if (why != NULL)
            return why;
    }
    return NULL;
}

static void put_model(const sim_model *m)
{
    printf("{\"source\":%d,\"latency_us\":%lld,\"custom_string\":", m->source, (long long)m->latency_us);
    put_str(m->custom_string, sizeof(m->custom_string));
    printf(",\"custom_op\":");
    put_str(m->custom_op, sizeof(m->custom_op));
    printf(",\"target\":");
    put_str(m->target, sizeof(m->target));
    printf(",\"compiler\":");
    put_str(m->compiler, sizeof(m->compiler));
    printf(",\"inputs\":[");
    for (uint32_t i = 0; i < m->n_inputs; i++) {
        if (i)
            putchar(',');
        put_tensor(&m->inputs[i]);
    }
    printf("],\"outputs\":[");
    for (uint32_t i = 0; i < m->n_outputs; i++) {
        if (i)
            putchar(',');
        put_tensor(&m->outputs[i]);
    }
    printf("]}");
}

/* Parses one buffer (copied into an exact-size heap block) and prints the result without a newline. */
static void run_one(const uint8_t *src, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        printf("INSANE out of memory in the driver");
        return;
    }
    if (len)
        memcpy(copy, src, len);
    sim_model m, pristine;
    sim_model_init(&m);
    sim_model_init(&pristine);
    int rc = sim_parse_rknn(copy, len, &m);
    free(copy);
    if (rc == SIM_ERR_MODEL) {
        if (memcmp(&m, &pristine, sizeof(m)) != 0)
            printf("INSANE model not reset after a failed parse");
        else
            printf("INVALID");
    } else if (rc != SIM_OK) {
        printf("INSANE return code %d", rc);
    } else {
        const char *why = check_model(&m);
        if (why != NULL)
            printf("INSANE %s", why);
        else
            put_model(&m);
    }
    sim_model_free(&m);
}

static uint8_t *read_stream(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int run_path(const char *path, int batch)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 2;
    }
    size_t len = 0;
    uint8_t *data = read_stream(f, &len);
    if (f != stdin)
        fclose(f);
    if (data == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    if (batch)
        printf("%s\t", path);
    run_one(data, len);
    putchar('\n');
    free(data);
    return 0;
}

static int run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "cannot list %s\n", dir);
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if (rc == 0 && snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < (int)sizeof(path) &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc = run_path(path, 1);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int run_records(FILE *f)
{
    size_t len = 0;
    uint8_t *all = read_stream(f, &len);
    if (all == NULL) {
        fprintf(stderr, "cannot read stdin\n");
        return 2;
    }
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        if (len - pos < 8) {
            fprintf(stderr, "truncated record header\n");
            rc = 2;
            break;
        }
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = (n << 8) | all[pos + (size_t)i];
        pos += 8;
        if (n > len - pos) {
            fprintf(stderr, "truncated record\n");
            rc = 2;
            break;
        }
        run_one(all + pos, (size_t)n);
        putchar('\n');
        pos += (size_t)n;
    }
    free(all);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--stream") == 0)
        return run_records(stdin);
    if (argc >= 2 && strcmp(argv[1], "--batch") == 0) {
        int rc = 0;
        for (int i = 2; i < argc && rc == 0; i++) {
            struct stat st;
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
                rc = run_dir(argv[i]);
            else
                rc = run_path(argv[i], 1);
        }
        return rc;
    }
    if (argc == 2)
        return run_path(argv[1], 0);
    fprintf(stderr, "usage: %s FILE|- | --batch PATH... | --stream\n", argv[0]);
    return 2;
}
