/* pool.c: a tiny persistent worker pool for every parallel loop of the engine,
 * per-thread scratch and the aligned float allocator. Parts are claimed from
 * one atomic ticket, so whoever is free runs the next part; results never
 * depend on who ran it. */
#define _GNU_SOURCE /* SCHED_BATCH */
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "lotto/tensor.h"
#include <cblas.h>

#include "core/pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* A worker spins this long for the next job before sleeping: a training loop
 * calls the kernels back to back, and a condition-variable wake-up costs more
 * than a small kernel. Not longer: on a machine shared with other work a
 * spinning worker takes the core from someone who needs it. */
#define SPIN_NS 20000

/* ticket = gen << 16 | nparts << 8 | next part to claim */
static struct {
  pthread_mutex_t submit, m;
  pthread_cond_t cv;
  _Atomic uint64_t ticket;
  atomic_int finished;
  int sleepers, nworkers;
  void (*fn)(void *, int);
  void *arg;
} pool = {.submit = PTHREAD_MUTEX_INITIALIZER, .m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The engine's thread count is OpenBLAS's: one setting for the dense GEMMs
 * and for the pool's parts. */
void lt_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int lt_get_threads(void) { return openblas_get_num_threads(); }

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs parts of job gen until none is left; returns how many it ran. */
static int drain(uint64_t gen) {
  uint64_t w = atomic_load_explicit(&pool.ticket, memory_order_acquire);
  for (int ran = 0;;) {
    if ((w >> 16) != gen) return ran;
    int np = (int)((w >> 8) & 0xff), next = (int)(w & 0xff);
    if (next >= np) return ran;
    if (atomic_compare_exchange_weak_explicit(&pool.ticket, &w, w + 1, memory_order_acq_rel,
                                              memory_order_acquire)) {
      pool.fn(pool.arg, next);
      ran++;
      atomic_fetch_add_explicit(&pool.finished, 1, memory_order_release);
      w = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    }
  }
}

/* Back-off when the machine is oversubscribed: a call is "late" when the
 * split saved less than 15% of the time the caller alone would have taken
 * (its own time per part times the parts), counting the hand-off itself: no
 * worker helped, the caller waited for one, or it was held up posting the
 * job (a woken worker sharing its core). After LATE_LIMIT late calls in a
 * row, the next `backoff` calls run on the caller (doubling up to BACKOFF_MAX
 * while it keeps happening). The parts are the same either way, so this only
 * changes speed. */
#define LATE_LIMIT 4
#define BACKOFF_MIN 256
#define BACKOFF_MAX 16384
static atomic_int late_run, backoff_left, backoff_len = BACKOFF_MIN;

static void note_call(int late) {
  if (!late) {
    atomic_store_explicit(&late_run, 0, memory_order_relaxed);
    atomic_store_explicit(&backoff_len, BACKOFF_MIN, memory_order_relaxed);
    return;
  }
  if (atomic_fetch_add_explicit(&late_run, 1, memory_order_relaxed) + 1 < LATE_LIMIT) return;
  int len = atomic_load_explicit(&backoff_len, memory_order_relaxed);
  atomic_store_explicit(&late_run, 0, memory_order_relaxed);
  atomic_store_explicit(&backoff_left, len, memory_order_relaxed);
  atomic_store_explicit(&backoff_len, len < BACKOFF_MAX ? 2 * len : len, memory_order_relaxed);
}

static void *worker(void *unused) {
  /* no wake-up preemption: a worker woken on the caller's core (the other
   * one busy) waits its turn instead of stalling the caller mid-hand-off */
  struct sched_param sp = {0};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  /* A new thread inherits its creator's floating-point environment, and the
   * pool may first start inside a step that flushes subnormals (optim):
   * workers start from the default, so a part computes the same bits on a
   * worker as on the caller; a part that wants other modes sets them. */
  fesetenv(FE_DFL_ENV);
  uint64_t seen = atomic_load(&pool.ticket) >> 16;
  for (;;) {
    uint64_t gen = atomic_load_explicit(&pool.ticket, memory_order_acquire) >> 16;
    if (gen == seen) {
      int64_t until = now_ns() + SPIN_NS;
      for (int i = 1; gen == seen; i++) {
        cpu_relax();
        gen = atomic_load_explicit(&pool.ticket, memory_order_acquire) >> 16;
        if ((i & 255) == 0 && now_ns() > until) break;
      }
    }
    if (gen == seen) {
      pthread_mutex_lock(&pool.m);
      pool.sleepers++;
      while ((gen = atomic_load(&pool.ticket) >> 16) == seen) pthread_cond_wait(&pool.cv, &pool.m);
      pool.sleepers--;
      pthread_mutex_unlock(&pool.m);
    }
    seen = gen;
    drain(gen);
  }
  return NULL;
}

void lt_pool_run(int nparts, void (*fn)(void *arg, int part), void *arg) {
  if (nparts > LT_POOL_MAXPARTS) nparts = LT_POOL_MAXPARTS;
  if (nparts <= 1) {
    fn(arg, 0);
    return;
  }
  /* backing off (see note_call): the same parts, all on the caller */
  if (atomic_load_explicit(&backoff_left, memory_order_relaxed) > 0) {
    atomic_fetch_sub_explicit(&backoff_left, 1, memory_order_relaxed);
    for (int p = 0; p < nparts; p++) fn(arg, p);
    return;
  }
  int64_t ts = now_ns();
  pthread_mutex_lock(&pool.submit);
  while (pool.nworkers < nparts - 1) {
    pthread_t t;
    pthread_attr_t at;
    sigset_t all, old;
    sigfillset(&all); /* workers inherit a mask that blocks every signal: Ctrl-C and
                         SIGTERM go to the thread that runs Lua, which acts on them */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, worker, NULL);
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) break; /* fewer workers: the caller runs the rest */
    pool.nworkers++;
  }
  pool.fn = fn;
  pool.arg = arg;
  atomic_store_explicit(&pool.finished, 0, memory_order_relaxed);
  uint64_t gen = (atomic_load(&pool.ticket) >> 16) + 1;
  atomic_store_explicit(&pool.ticket, gen << 16 | (uint64_t)nparts << 8, memory_order_release);
  pthread_mutex_lock(&pool.m);
  if (pool.sleepers) pthread_cond_broadcast(&pool.cv);
  pthread_mutex_unlock(&pool.m);
  int64_t t0 = now_ns();
  int ran = drain(gen);
  int64_t t1 = now_ns();
  /* A part still running is a worker's: spin briefly, then yield in case
   * that worker waits for this very core. */
  for (int i = 1; atomic_load_explicit(&pool.finished, memory_order_acquire) < nparts; i++) {
    if (i < 512) cpu_relax();
    else sched_yield();
  }
  int64_t te = now_ns();
  note_call(ran == 0 || ran == nparts || (double)(te - ts) > 0.85 * (double)(t1 - t0) / ran * nparts);
  pthread_mutex_unlock(&pool.submit);
}

int lt_pool_nparts(double work, int rows) {
  int t = lt_get_threads();
  if (t <= 1 || work < LT_POOL_MIN_WORK || rows < 2) return 1;
  if (atomic_load_explicit(&backoff_left, memory_order_relaxed) > 0) {
    atomic_fetch_sub_explicit(&backoff_left, 1, memory_order_relaxed);
    return 1;
  }
  if (t > LT_POOL_MAXPARTS) t = LT_POOL_MAXPARTS;
  return t < rows ? t : rows;
}

float *lt_floats_alloc(size_t n) {
  size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
  return aligned_alloc(64, bytes);
}

float *lt_scratch_reserve(lt_scratch *s, size_t n, size_t slack) {
  if (n == 0) n = 1;
  if (s->cap < n) {
    float *q = lt_floats_alloc(n + slack);
    if (!q) return NULL;
    free(s->p);
    s->p = q;
    s->cap = n + slack;
  }
  return s->p;
}

void lt_scratch_release(lt_scratch *s) {
  free(s->p);
  s->p = NULL;
  s->cap = 0;
}

static _Thread_local lt_scratch slots[LT_NSLOTS];

float *lt_pool_scratch(int slot, size_t nfloats) { return lt_scratch_reserve(&slots[slot], nfloats, nfloats / 4); }

void lt_pool_scratch_free(void) {
  for (int i = 0; i < LT_NSLOTS; i++) lt_scratch_release(&slots[i]);
}
