/* blas.c: what the machine offers and what the linked BLAS runs: CPU features by
 * cpuid/xgetbv, OpenBLAS's kernel name, version and threads, and the start-up
 * self-check of sgemm against a naive loop (run once per process, remembered). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/blas.h"
#include "lotto/tensor.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

void lt_cpu_detect(lt_cpu *c) {
  unsigned a = 0, b = 0, cx = 0, d = 0, max = 0;
  memset(c, 0, sizeof *c);
  if (!__get_cpuid(0, &max, &b, &cx, &d)) return;
  memcpy(c->vendor, &b, 4);
  memcpy(c->vendor + 4, &d, 4);
  memcpy(c->vendor + 8, &cx, 4);
  __get_cpuid(1, &a, &b, &cx, &d);
  int fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
  c->family = fam == 0xf ? fam + ((a >> 20) & 0xff) : fam;
  c->model = fam == 0x6 || fam == 0xf ? mod | (((a >> 16) & 0xf) << 4) : mod;
  c->fma = (cx >> 12) & 1;
  c->avx = (cx >> 28) & 1;
  if ((cx >> 27) & 1) { /* OSXSAVE: XCR0 says which register states the OS saves */
    unsigned long long xcr0 = xgetbv0();
    c->os_ymm = (xcr0 & 0x6) == 0x6;
    c->os_zmm = (xcr0 & 0xe6) == 0xe6;
  }
  if (max >= 7) {
    __cpuid_count(7, 0, a, b, cx, d);
    c->avx2 = (b >> 5) & 1;
    c->avx512f = (b >> 16) & 1;
    c->avx512dq = (b >> 17) & 1;
    c->avx512cd = (b >> 28) & 1;
    c->avx512bw = (b >> 30) & 1;
    c->avx512vl = (b >> 31) & 1;
    if (a >= 1) {
      __cpuid_count(7, 1, a, b, cx, d);
      c->avx512bf16 = (a >> 5) & 1;
    }
  }
  unsigned ext = __get_cpuid_max(0x80000000, NULL);
  if (ext >= 0x80000004) {
    unsigned r[12];
    for (unsigned i = 0; i < 3; i++)
      __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
    memcpy(c->brand, r, 48);
    c->brand[48] = '\0';
    char *s = c->brand; /* trim the padding some CPUs put on either side */
    while (*s == ' ') s++;
    memmove(c->brand, s, strlen(s) + 1);
    for (size_t n = strlen(c->brand); n > 0 && c->brand[n - 1] == ' '; n--) c->brand[n - 1] = '\0';
  }
}
#else
void lt_cpu_detect(lt_cpu *c) { memset(c, 0, sizeof *c); }
#endif

/* ---- the linked library ---- */

const char *lt_blas_corename(void) {
  const char *s = openblas_get_corename();
  return s ? s : "";
}

const char *lt_blas_config(void) {
  const char *s = openblas_get_config();
  return s ? s : "";
}

int lt_blas_is_dynamic(void) { return strstr(lt_blas_config(), "DYNAMIC_ARCH") != NULL; }

/* ---- self-check ---- */

/* Small integers: every product and partial sum is exact in float, so any correct
 * kernel gives exactly the naive result, whatever its summation order. */
static void fill(float *x, int n, unsigned seed) {
  for (int i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    x[i] = (float)((int)((seed >> 16) % 9) - 4);
  }
}

/* C (m x n, ldc = n) = A B + beta C, with A given as (m x k) or its transpose and B as
 * (k x n) or its transpose; compares gemm's result with the loop. Returns wrong entries. */
static int check_one(lt_gemm_fn gemm, int ta, int tb, int m, int n, int k, float beta, float *A, float *B,
                     float *C, float *R, char *msg, size_t msgn) {
  fill(A, m * k, 1u + m);
  fill(B, k * n, 2u + n);
  fill(C, m * n, 3u + k);
  memcpy(R, C, sizeof(float) * m * n);
  int lda = ta ? m : k, ldb = tb ? k : n;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      float s = 0;
      for (int p = 0; p < k; p++) s += (ta ? A[p * m + i] : A[i * k + p]) * (tb ? B[j * k + p] : B[p * n + j]);
      R[i * n + j] = s + beta * R[i * n + j];
    }
  gemm(ta, tb, m, n, k, 1.0f, A, lda, B, ldb, beta, C, n);
  int bad = 0, first = -1;
  for (int i = 0; i < m * n; i++)
    if (C[i] != R[i]) {
      if (first < 0) first = i;
      bad++;
    }
  if (bad && msg)
    snprintf(msg, msgn, "sgemm %c%c %dx%dx%d beta %g: %d of %d entries wrong (C[%d,%d] = %g, expected %g)",
             ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, beta, bad, m * n, first / n, first % n, C[first], R[first]);
  return bad;
}

int lt_blas_selfcheck(lt_gemm_fn gemm, char *msg, size_t msgn) {
  /* odd sizes exercise the kernels' edges; 72x72x64 passes OpenBLAS's threading
   * threshold (m n k > 262144), checked with beta 1 only to keep start-up quick */
  static const int sizes[][3] = {{7, 5, 3}, {37, 29, 67}, {72, 72, 64}};
  const int big = 72 * 72;
  float *buf = malloc(sizeof(float) * 4 * big);
  if (buf == NULL) {
    if (msg) snprintf(msg, msgn, "no memory for the self-check");
    return 0; /* not a verdict on the kernel */
  }
  int bad = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0] && !bad; s++)
    for (int t = s == 2 ? 4 : 0; t < 8 && !bad; t++)
      bad = check_one(gemm, t & 1, (t >> 1) & 1, sizes[s][0], sizes[s][1], sizes[s][2], (t >> 2) ? 1.0f : 0.0f, buf,
                      buf + big, buf + 2 * big, buf + 3 * big, msg, msgn);
  free(buf);
  if (!bad && msg) snprintf(msg, msgn, "ok");
  return bad;
}

static int check_done, check_bad;
static char check_msg[160];

int lt_blas_check(char *msg, size_t n) {
  if (!check_done) {
    lt_cpu cpu;
    lt_cpu_detect(&cpu);
    int needs = lt_blas_kernel_isa(lt_blas_corename()), have = lt_cpu_isa(&cpu);
    if (needs > have) { /* running it would stop the process on an illegal instruction */
      check_bad = -1;
      snprintf(check_msg, sizeof check_msg, "not run: kernel %s needs %s, which this CPU (or OS) lacks",
               lt_blas_corename(), lt_isa_name(needs));
    } else {
      check_bad = lt_blas_selfcheck(lt_gemm, check_msg, sizeof check_msg);
    }
    check_done = 1;
  }
  if (msg) snprintf(msg, n, "%s", check_msg);
  return check_bad;
}

/* ---- info ---- */

void lt_blas_info_get(lt_blas_info *info) {
  memset(info, 0, sizeof *info);
  const char *cfg = lt_blas_config();
  snprintf(info->config, sizeof info->config, "%s", cfg);
  /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": the first two words */
  if (sscanf(cfg, "%31s %31s", info->library, info->version) < 1)
    snprintf(info->library, sizeof info->library, "OpenBLAS");
  snprintf(info->kernel, sizeof info->kernel, "%s", lt_blas_corename());
  info->threads = openblas_get_num_threads();
  lt_cpu cpu;
  lt_cpu_detect(&cpu);
  snprintf(info->cpu, sizeof info->cpu, "%s (%s family %d model %d)", cpu.brand[0] ? cpu.brand : "unknown CPU",
           cpu.vendor[0] ? cpu.vendor : "?", cpu.family, cpu.model);
  info->cpu_isa = lt_isa_name(lt_cpu_isa(&cpu));
  lt_blas_env env = {getenv("OPENBLAS_CORETYPE"), getenv(LT_BLAS_GUARD), getenv("LOTTO_BLAS")};
  info->forced = lt_blas_forced(&env);
  lt_blas_check(info->check, sizeof info->check);
}
