/*
 * Memory objects of the simulated runtime: rknn_create_mem, rknn_create_mem2, rknn_create_mem_from_fd,
 * rknn_create_mem_from_phys, rknn_destroy_mem, rknn_mem_sync, rknn_set_weight_mem, rknn_set_internal_mem.
 *
 * Choices (the real behaviour is undocumented unless noted):
 *   - Inside allocations are backed by a memfd of exactly `size` bytes, mmapped MAP_SHARED, so `fd` can be
 *     imported into another context with rknn_create_mem_from_fd like a dma-buf (flags ALLOC_INSIDE).  When
 *     memfd_create is unavailable the buffer comes from calloc and fd is -1.  Buffers start zeroed.
 *   - rknn_create_mem_from_fd: data lives at virt_addr + offset and `size - offset` bytes are usable; a NULL
 *     virt_addr makes the simulator mmap `size` bytes of the fd (unmapped again at destroy; the fd itself
 *     stays the caller's).  Negative fd, size 0, offset < 0 or offset >= size, or (NULL virt_addr) a
 *     file/memfd shorter than `size`: NULL.
 *   - rknn_create_mem_from_phys: there is no physical memory in a simulator; the call wraps `virt_addr`
 *     (NULL virt_addr: NULL) and records phys_addr.  The buffer is the caller's.
 *   - rknn_destroy_mem of an unknown or already destroyed object: RKNN_ERR_PARAM_INVALID and a violation,
 *     never a crash.  ctx 0 is accepted only for objects made with RKNN_MEM_FLAG_ALLOC_NO_CONTEXT (the 2.3.2
 *     manual lets any context destroy them).
 *   - Memory calls on a context take the context's "in call" flag like every other call (rknn-abi.md §7.4:
 *     concurrent memory calls on one shared context crashed real boards).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_api_priv.h"

static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static sim_mem *mem_list;
static uint64_t mem_serial;

void sim_mem_lock(void) { pthread_mutex_lock(&mem_mu); }
void sim_mem_unlock(void) { pthread_mutex_unlock(&mem_mu); }

sim_mem *sim_mem_find_locked(const rknn_tensor_mem *pub, uint64_t serial)
{
    if (pub == NULL)
        return NULL;
    for (sim_mem *m = mem_list; m != NULL; m = m->next)
        if (&m->pub == pub && (serial == 0 || m->serial == serial))
            return m;
    return NULL;
}

uint64_t sim_mem_available(const rknn_tensor_mem *pub)
{
    if (pub->offset < 0 || (uint64_t)pub->offset >= pub->size)
        return 0;
    return (uint64_t)pub->size - (uint64_t)pub->offset;
}

void sim_log(const char *fmt, ...)
{
    const char *env = getenv("RKNN_SIM_LOG");
    if (env == NULL || env[0] == '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("rknn-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static rknn_tensor_mem *publish(sim_mem *m)
{
    sim_mem_lock();
    m->serial = ++mem_serial;
    m->next = mem_list;
    mem_list = m;
    sim_mem_unlock();
    sim_counter_add(SIM_CNT_LIVE_MEMS, 1);
    return &m->pub;
}

static sim_mem *new_mem(void)
{
    sim_mem *m = calloc(1, sizeof *m);
    if (m != NULL) {
        m->own_fd = -1;
        m->pub.fd = -1;
    }
    return m;
}

static rknn_tensor_mem *alloc_inside(uint64_t size, int no_context)
{
    if (size == 0 || size > UINT32_MAX)
        return NULL;
    sim_mem *m = new_mem();
    if (m == NULL)
        return NULL;
    int fd = memfd_create("rknn_sim_mem", MFD_CLOEXEC);
    if (fd >= 0) {
        void *p = MAP_FAILED;
        if (ftruncate(fd, (off_t)size) == 0)
            p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            free(m);
            return NULL;
        }
        m->map_base = p;
        m->map_len = (size_t)size;
        m->own_fd = fd;
        m->pub.virt_addr = p;
        m->pub.fd = fd;
    } else {
        m->heap = calloc(1, (size_t)size);
        if (m->heap == NULL) {
            free(m);
            return NULL;
        }
        m->pub.virt_addr = m->heap;
    }
    m->inside = 1;
    m->no_context = no_context;
    m->pub.size = (uint32_t)size;
    m->pub.offset = 0;
    m->pub.flags = RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE;
    return publish(m);
}

static void free_mem(sim_mem *m)
{
    if (m->map_base != NULL)
        munmap(m->map_base, m->map_len);
    if (m->own_fd >= 0)
        close(m->own_fd);
    free(m->heap);
    free(m);
}

rknn_tensor_mem *rknn_create_mem(rknn_context ctx, uint32_t size)
{
    if (sim_enter("rknn_create_mem") != SIM_OK)
        return NULL;
    struct sim_ctx *c;
    if (sim_ctx_enter(ctx, &c) != SIM_OK)
        return NULL;
    rknn_tensor_mem *r = alloc_inside(size, 0);
    if (r == NULL)
        sim_log("rknn_create_mem: invalid size %u", size);
    sim_ctx_leave(c);
    return r;
}

rknn_tensor_mem *rknn_create_mem2(rknn_context ctx, uint64_t size, uint64_t alloc_flags)
{
    if (sim_enter("rknn_create_mem2") != SIM_OK)
        return NULL;
    const uint64_t known = RKNN_FLAG_MEMORY_CACHEABLE | RKNN_FLAG_MEMORY_NON_CACHEABLE |
                           RKNN_FLAG_MEMORY_TRY_ALLOC_SRAM | RKNN_MEM_FLAG_ALLOC_NO_CONTEXT;
    if ((alloc_flags & ~known) != 0 ||
        (alloc_flags & (RKNN_FLAG_MEMORY_CACHEABLE | RKNN_FLAG_MEMORY_NON_CACHEABLE)) ==
            (RKNN_FLAG_MEMORY_CACHEABLE | RKNN_FLAG_MEMORY_NON_CACHEABLE))
        return NULL; /* unknown bits, or cacheable and non-cacheable at once */
    int no_ctx = (alloc_flags & RKNN_MEM_FLAG_ALLOC_NO_CONTEXT) != 0;
    struct sim_ctx *c = NULL;
    if (!(no_ctx && ctx == 0) && sim_ctx_enter(ctx, &c) != SIM_OK)
        return NULL;
    rknn_tensor_mem *r = alloc_inside(size, no_ctx);
    if (c != NULL)
        sim_ctx_leave(c);
    return r;
}

rknn_tensor_mem *rknn_create_mem_from_fd(rknn_context ctx, int32_t fd, void *virt_addr, uint32_t size, int32_t offset)
{
    if (sim_enter("rknn_create_mem_from_fd") != SIM_OK)
        return NULL;
    struct sim_ctx *c;
    if (sim_ctx_enter(ctx, &c) != SIM_OK)
        return NULL;
    rknn_tensor_mem *r = NULL;
    sim_mem *m = NULL;
    if (fd < 0 || size == 0 || offset < 0 || (uint32_t)offset >= size)
        goto out;
    m = new_mem();
    if (m == NULL)
        goto out;
    if (virt_addr == NULL) {
        /* A mapping beyond the end of a file/memfd would SIGBUS on first touch: refuse it up front. */
        struct stat st;
        if (fstat(fd, &st) != 0 || (S_ISREG(st.st_mode) && (uint64_t)st.st_size < size)) {
            free(m);
            goto out;
        }
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            free(m);
            goto out;
        }
        m->map_base = p;
        m->map_len = size;
        virt_addr = p;
    }
    m->pub.virt_addr = virt_addr;
    m->pub.fd = fd;
    m->pub.size = size;
    m->pub.offset = offset;
    m->pub.flags = RKNN_TENSOR_MEMORY_FLAGS_FROM_FD;
    r = publish(m);
out:
    sim_ctx_leave(c);
    return r;
}

rknn_tensor_mem *rknn_create_mem_from_phys(rknn_context ctx, uint64_t phys_addr, void *virt_addr, uint32_t size)
{
    if (sim_enter("rknn_create_mem_from_phys") != SIM_OK)
        return NULL;
    struct sim_ctx *c;
    if (sim_ctx_enter(ctx, &c) != SIM_OK)
        return NULL;
    rknn_tensor_mem *r = NULL;
    if (virt_addr != NULL && size != 0) {
        sim_mem *m = new_mem();
        if (m != NULL) {
            m->pub.virt_addr = virt_addr;
            m->pub.phys_addr = phys_addr;
            m->pub.size = size;
            m->pub.flags = RKNN_TENSOR_MEMORY_FLAGS_FROM_PHYS;
            r = publish(m);
        }
    }
    sim_ctx_leave(c);
    return r;
}

int rknn_destroy_mem(rknn_context ctx, rknn_tensor_mem *mem)
{
    int rc = sim_enter("rknn_destroy_mem");
    if (rc != SIM_OK)
        return rc;
    struct sim_ctx *c = NULL;
    if (ctx != 0) {
        rc = sim_ctx_enter(ctx, &c);
        if (rc != SIM_OK)
            return rc;
    }
    sim_mem_lock();
    sim_mem *m = sim_mem_find_locked(mem, 0);
    if (m == NULL) {
        sim_mem_unlock();
        sim_violation("rknn_destroy_mem: unknown or already destroyed memory");
        rc = SIM_ERR_PARAM;
    } else if (ctx == 0 && !m->no_context) {
        sim_mem_unlock();
        rc = SIM_ERR_CTX;
    } else {
        sim_mem **pp = &mem_list;
        while (*pp != m)
            pp = &(*pp)->next;
        *pp = m->next;
        sim_mem_unlock();
        free_mem(m);
        sim_counter_add(SIM_CNT_LIVE_MEMS, -1);
        rc = SIM_OK;
    }
    if (c != NULL)
        sim_ctx_leave(c);
    return rc;
}

int rknn_mem_sync(rknn_context context, rknn_tensor_mem *mem, rknn_mem_sync_mode mode)
{
    int rc = sim_enter("rknn_mem_sync");
    if (rc != SIM_OK)
        return rc;
    struct sim_ctx *c;
    rc = sim_ctx_enter(context, &c);
    if (rc != SIM_OK)
        return rc;
    sim_mem_lock();
    int known = sim_mem_find_locked(mem, 0) != NULL;
    sim_mem_unlock();
    if (!known) {
        sim_log("rknn_mem_sync: invalid mem");
        rc = SIM_ERR_PARAM;
    } else if ((int)mode < RKNN_MEMORY_SYNC_TO_DEVICE || (int)mode > RKNN_MEMORY_SYNC_BIDIRECTIONAL) {
        rc = SIM_ERR_PARAM;
    }
    /* Memory is coherent in a simulator: syncing is a validated no-op. */
    sim_ctx_leave(c);
    return rc;
}

static int set_model_mem(const char *func, rknn_context ctx, rknn_tensor_mem *mem, int weights)
{
    int rc = sim_enter(func);
    if (rc != SIM_OK)
        return rc;
    struct sim_ctx *c;
    rc = sim_ctx_enter(ctx, &c);
    if (rc != SIM_OK)
        return rc;
    sim_mem_lock();
    sim_mem *m = sim_mem_find_locked(mem, 0);
    sim_mem_unlock();
    if (m == NULL)
        rc = SIM_ERR_PARAM;
    else
        rc = sim_ctx_set_model_mem(c, m, weights);
    sim_ctx_leave(c);
    return rc;
}

int rknn_set_weight_mem(rknn_context ctx, rknn_tensor_mem *mem)
{
    return set_model_mem("rknn_set_weight_mem", ctx, mem, 1);
}

int rknn_set_internal_mem(rknn_context ctx, rknn_tensor_mem *mem)
{
    return set_model_mem("rknn_set_internal_mem", ctx, mem, 0);
}
