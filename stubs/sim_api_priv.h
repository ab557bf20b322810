/*
 * Private state shared by sim_api.c (contexts, queries, I/O, run) and sim_mem.c (memory objects).
 * Nothing here is exported from librknnrt.so (every cross-file function is hidden).
 */
#ifndef ZTU_SIM_API_PRIV_H
#define ZTU_SIM_API_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "rknn_api_sim.h"
#include "sim_compute.h"
#include "sim_internal.h"

/* A memory object handed out by rknn_create_mem*.  `pub` is first so the public pointer is the object. */
typedef struct sim_mem {
    rknn_tensor_mem pub;
    uint64_t serial;          /* never reused: detects a stale binding to a freed-and-reallocated struct */
    int inside;               /* buffer allocated by the simulator (freed by rknn_destroy_mem) */
    int no_context;           /* rknn_create_mem2 with RKNN_MEM_FLAG_ALLOC_NO_CONTEXT */
    void *map_base;           /* mapping to munmap (inside memfd or a mapping made for an fd import) */
    size_t map_len;
    void *heap;               /* calloc fallback when memfd is not available */
    int own_fd;               /* fd to close at destroy (the memfd of inside memory), else -1 */
    struct sim_mem *next;
} sim_mem;

/* Global registry of live memory objects (sim_mem.c). */
SIM_HIDDEN void sim_mem_lock(void);
SIM_HIDDEN void sim_mem_unlock(void);
/* With the lock held: the live object for `pub` (and `serial`, unless serial is 0), or NULL. */
SIM_HIDDEN sim_mem *sim_mem_find_locked(const rknn_tensor_mem *pub, uint64_t serial);
/* Bytes usable from virt_addr + offset (size - offset, 0 when offset is out of range). */
SIM_HIDDEN uint64_t sim_mem_available(const rknn_tensor_mem *pub);

/* Context access for sim_mem.c.  sim_ctx_enter marks the context "in a call" (a second thread entering any
 * call on the same context gets RKNN_ERR_FAIL and a violation); sim_ctx_leave clears it. */
struct sim_ctx;
SIM_HIDDEN int sim_ctx_enter(rknn_context handle, struct sim_ctx **out);
SIM_HIDDEN void sim_ctx_leave(struct sim_ctx *c);
/* rknn_set_weight_mem / rknn_set_internal_mem bookkeeping (ctx entered). */
SIM_HIDDEN int sim_ctx_set_model_mem(struct sim_ctx *c, sim_mem *m, int weights);

/* Logging of plain errors when RKNN_SIM_LOG is set (misuse goes through sim_violation). */
SIM_HIDDEN void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* ZTU_SIM_API_PRIV_H */
