/* pool.h: engine-internal (not installed). The worker pool every parallel
 * loop of the engine runs on (dense and sparse layers, batchnorm, pooling,
 * optimizers), per-thread scratch, and the one 64-byte aligned float
 * allocator. Implemented in core/pool.c. */
#ifndef LOTTO_CORE_POOL_H
#define LOTTO_CORE_POOL_H

#include <stddef.h>

/* At most this many parts per call (and so threads working on it). */
#define LT_POOL_MAXPARTS 16
/* Below this many multiply-adds (about 10 us on one core) a call stays on one
 * thread: a hand-off costs a microsecond or more, and a worker preempted on a
 * busy machine holds the call up. */
#define LT_POOL_MIN_WORK 262144.0

/* Runs fn(arg, p) for p in [0, nparts), part 0 on the caller. Parts not yet
 * picked up by a worker when the caller is free are run by the caller, so a
 * descheduled worker never stalls the call. Returns when all parts are done. */
void lt_pool_run(int nparts, void (*fn)(void *arg, int part), void *arg);
/* How many parts to split work (multiply-adds) over rows rows into. */
int lt_pool_nparts(double work, int rows);

/* n floats (at least one), 64-byte aligned and the size rounded up to 64
 * bytes, uninitialised; free() frees it; NULL on ENOMEM. A vector load that
 * straddles two cache lines costs about 15% in the kernels. */
float *lt_floats_alloc(size_t n);

/* A buffer that grows on demand and is kept: lt_scratch_reserve returns room
 * for at least n floats (slack extra floats are added when it grows), the old
 * contents lost when it grows; NULL on ENOMEM (the old buffer is kept). */
typedef struct lt_scratch {
  float *p;
  size_t cap;
} lt_scratch;
float *lt_scratch_reserve(lt_scratch *s, size_t n, size_t slack);
void lt_scratch_release(lt_scratch *s);

/* Per-thread scratch slots of the sparse kernels: a slot's buffer is valid
 * until the next request for the same slot on the same thread. */
enum { LT_SLOT_X, LT_SLOT_Y, LT_SLOT_OUT, LT_SLOT_G, LT_SLOT_NM, LT_NSLOTS };
float *lt_pool_scratch(int slot, size_t nfloats);
/* Frees the calling thread's slots (tests use it to leave no leak behind). */
void lt_pool_scratch_free(void);

#endif
