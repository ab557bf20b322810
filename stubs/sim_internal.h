/*
 * Internal interfaces between the simulator's C modules.
 *
 * The simulator is split by responsibility:
 *   rknn_api_sim.h  - the project's own declarations of the librknnrt ABI (types, structs, enums)
 *   sim_api.c       - the exported rknn_* functions: contexts, queries, inputs/outputs, zero-copy memory,
 *                     custom ops, weight sharing, dynamic shapes
 *   sim_native.c    - parser of the simulator-native model format (written by simulator.write_model)
 *   sim_compute.c   - conversions (quantisation, float16, layouts) and the reference compute
 *   rknn_format.c   - parser of real .rknn containers (header + FlatBuffer + JSON trailer)
 *   sim_model.c     - the model representation shared by both parsers
 *   sim_control.c   - SoC profiles, the simulated NPU cores and their timing, counters, fault injection,
 *                     and the exported rknn_sim_* control functions
 *
 * Nothing in this header is exported from the shared library.
 */
#ifndef ZTU_SIM_INTERNAL_H
#define ZTU_SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Everything declared here is internal: hidden from the shared library's dynamic symbol table, so that
 * the library exports exactly the librknnrt set plus the rknn_sim_* control functions. */
#ifndef SIM_HIDDEN
#define SIM_HIDDEN __attribute__((visibility("hidden")))
#endif

#define SIM_MAX_DIMS 16
#define SIM_MAX_NAME 256
#define SIM_MAX_IO 256          /* a model declaring more inputs or outputs is rejected as invalid */
#define SIM_MAX_SHAPES 512      /* RKNN_MAX_DYNAMIC_SHAPE_NUM */
#define SIM_MAX_OP_ATTRS 64
#define SIM_CUSTOM_STRING_LEN 1024

/* Return codes used across modules (same values as the RKNN error codes). */
#define SIM_OK 0
#define SIM_ERR_FAIL (-1)
#define SIM_ERR_TIMEOUT (-2)
#define SIM_ERR_MALLOC (-4)
#define SIM_ERR_PARAM (-5)
#define SIM_ERR_MODEL (-6)
#define SIM_ERR_CTX (-7)
#define SIM_ERR_INPUT (-8)
#define SIM_ERR_OUTPUT (-9)
#define SIM_ERR_PLATFORM (-13)

enum sim_model_source { SIM_SOURCE_RKNN = 1, SIM_SOURCE_NATIVE = 2 };

/* One input or output tensor of a model.  Shapes are always kept in the model's logical order
 * (the ONNX order: NCHW for 4-D tensors); `fmt` only says how INPUT_ATTR/OUTPUT_ATTR report them. */
typedef struct sim_tensor {
    char name[SIM_MAX_NAME];          /* NUL-terminated (parsers truncate to 255 bytes) */
    uint32_t n_dims;                  /* 0..16 */
    uint32_t dims[SIM_MAX_DIMS];      /* logical order; for dynamic tensors: row 0 of `shapes` */
    int32_t type;                     /* rknn_tensor_type value the model holds (e.g. 2 = INT8) */
    int32_t fmt;                      /* reported format: 0 NCHW, 1 NHWC, 3 UNDEFINED */
    int32_t qnt_type;                 /* 0 none, 2 affine asymmetric */
    int32_t zp;
    float scale;                      /* 1.0f when not quantised */
    uint32_t n_shapes;                /* 0 = static; otherwise rows of a dynamic-shape model */
    uint32_t (*shapes)[SIM_MAX_DIMS]; /* heap, n_shapes rows, logical order, n_dims entries used */
    /* What a real .rknn file stores about the native form (0 = unknown / native model). */
    uint32_t file_native_n_dims;
    uint32_t file_native_dims[SIM_MAX_DIMS];
    uint32_t file_native_size;
} sim_tensor;

/* A constant attribute of a custom op, returned by rknn_custom_op_get_op_attr. */
typedef struct sim_op_attr {
    char name[SIM_MAX_NAME];
    int32_t type;                     /* rknn_tensor_type value */
    uint32_t n_elems;
    void *data;                       /* heap, n_elems elements of `type` */
} sim_op_attr;

typedef struct sim_model {
    int source;                       /* enum sim_model_source */
    uint32_t n_inputs;
    uint32_t n_outputs;
    sim_tensor *inputs;               /* heap */
    sim_tensor *outputs;              /* heap */
    char custom_string[SIM_CUSTOM_STRING_LEN]; /* NUL-terminated */
    int64_t latency_us;               /* < 0: use the default for the source (1000 us) */
    char custom_op[SIM_MAX_NAME];     /* "" = the default sum; else an op_type that must be registered */
    uint32_t n_op_attrs;
    sim_op_attr *op_attrs;            /* heap */
    char weights_id[SIM_MAX_NAME];    /* id of the weights this model carries ("" = anonymous) */
    char weights_from[SIM_MAX_NAME];  /* non-empty: weight-less model; needs SHARE_WEIGHT_MEM from a
                                         context whose model has weights_id equal to this */
    char target[32];                  /* e.g. "rk3588" ("" when unknown) */
    char compiler[SIM_MAX_NAME];      /* compiler string from the file ("" when unknown) */
} sim_model;

/* ---- sim_model.c ---- */
SIM_HIDDEN void sim_model_init(sim_model *m);            /* zero it and set defaults (latency -1) */
SIM_HIDDEN void sim_model_free(sim_model *m);            /* frees every heap member; leaves *m zeroed; safe twice */
SIM_HIDDEN uint64_t sim_tensor_elems(const sim_tensor *t);       /* product of dims (1 for n_dims == 0) */
SIM_HIDDEN uint32_t sim_type_size(int32_t rknn_type);            /* bytes per element, 0 for unknown types */
/* Copy `src` into the fixed buffer `dst` of `cap` bytes, truncating and always NUL-terminating. */
SIM_HIDDEN void sim_copy_name(char *dst, size_t cap, const char *src, size_t src_len);

/* ---- rknn_format.c / sim_native.c: parsers.  Both return SIM_OK or SIM_ERR_MODEL, never crash on any
 * input, and leave *out freed (sim_model_free) on failure.  `out` must be sim_model_init'ed. ---- */
SIM_HIDDEN int sim_parse_rknn(const uint8_t *data, size_t len, sim_model *out);
SIM_HIDDEN int sim_parse_native(const uint8_t *data, size_t len, sim_model *out);
/* Magic prefixes used to choose the parser. */
#define SIM_RKNN_MAGIC "RKNN"
#define SIM_NATIVE_MAGIC "RKNN-SIM 1\n"

/* ---- sim_control.c: counters ---- */
typedef enum sim_counter_id {
    SIM_CNT_LIVE_CONTEXTS = 0,
    SIM_CNT_LIVE_MEMS,
    SIM_CNT_UNRELEASED_OUTPUTS,       /* runtime-allocated output buffers not yet released */
    SIM_CNT_VIOLATIONS,               /* concurrent calls on one context, and other misuse */
    SIM_CNT_RUNS,                     /* successful rknn_run calls */
    SIM_CNT_MAX_CONCURRENT_RUNS,      /* high-water mark of runs in progress at once */
    SIM_CNT_CUSTOM_OP_COMPUTE_CALLS,  /* calls of registered custom-op compute callbacks */
    SIM_CNT__COUNT
} sim_counter_id;

SIM_HIDDEN void sim_counter_add(sim_counter_id id, int64_t delta);
SIM_HIDDEN int64_t sim_counter_get(sim_counter_id id);
/* Records a misuse: counts a violation and logs `what` to stderr when RKNN_SIM_LOG is set. */
SIM_HIDDEN void sim_violation(const char *what);

/* ---- sim_control.c: fault injection and call accounting ----
 * Every exported rknn_* function calls sim_enter("<its C name>") first.  It counts the call (counter
 * "calls:<name>"), sleeps any delay injected for that function, and returns the error code injected
 * for this particular call, or SIM_OK.  A non-zero result must be returned by the caller at once
 * (NULL for the pointer-returning rknn_create_mem* functions), with no side effects. */
SIM_HIDDEN int sim_enter(const char *func);

/* ---- sim_control.c: SoC profile and simulated cores ---- */
SIM_HIDDEN int sim_soc_core_count(void);                 /* 3 rk3588, 2 rk3576, 1 rk3566/rk3568/rk3562 */
SIM_HIDDEN const char *sim_soc_name(void);
/* Checks a core mask for rknn_set_core_mask on the current SoC: SIM_OK, SIM_ERR_PLATFORM on single-core
 * SoCs (for every mask, AUTO included, as real boards do), SIM_ERR_PARAM for masks naming absent cores
 * or values that are not an rknn_core_mask (5, 6, ...). */
SIM_HIDDEN int sim_check_core_mask(int32_t mask);
/* The latency one run of a model takes before core speed-up: the model's own latency (or 1000 us when
 * it has none), replaced by RKNN_SIM_LATENCY_US / rknn_sim_set_latency_override when set, then spread
 * by the jitter fraction (uniform +-jitter). */
SIM_HIDDEN int64_t sim_run_latency_us(int64_t model_latency_us);
/* Occupies the cores of `mask` for one run and sleeps (nanosleep, no CPU burnt) for the run's duration.
 * AUTO (0) takes any idle core, waiting for one if all are busy; a single-core mask waits for that core;
 * a multi-core mask (3, 7, 0xffff) waits for all its cores and runs faster (1.13x for two cores, 1.26x
 * for three).  A pending rknn_sim_hang_next_run adds its hang to this run.  Updates the per-core run
 * and busy counters and the concurrency high-water mark.  Returns SIM_OK. */
SIM_HIDDEN int sim_occupy_cores(int32_t mask, int64_t latency_us);

#endif /* ZTU_SIM_INTERNAL_H */
