/* lotto/blas.h: which BLAS kernel lotto runs on, and whether it is the right one.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's is) picks its kernels once, when the
 * library loads, from the CPU models it knows. On a CPU newer than the library it
 * falls back to an older or generic kernel, silently: 0.3.21 on a current Xeon runs
 * sgemm at a quarter of its speed. lotto compares the library's choice with what the
 * CPU offers (cpuid), and when the library fell short the `lotto` host re-executes
 * itself once with OPENBLAS_CORETYPE set (src/lua/main.c). A small GEMM checked
 * against a naive loop guards against a kernel that computes wrong results.
 *
 * The decision is a pure function of (CPU features, library's kernel name,
 * environment, self-check result), so it is tested on any machine:
 *
 *   lt_cpu cpu;
 *   lt_cpu_detect(&cpu);
 *   lt_blas_env env = { getenv("OPENBLAS_CORETYPE"), getenv(LT_BLAS_GUARD), getenv("LOTTO_BLAS") };
 *   lt_blas_decision d;
 *   lt_blas_decide(&d, &cpu, lt_blas_corename(), lt_blas_is_dynamic(), &env, lt_blas_check(NULL, 0) <= 0);
 *   if (d.warning[0]) fprintf(stderr, "lotto: %s\n", d.warning);
 *   if (d.action == LT_BLAS_REEXEC) ... set OPENBLAS_CORETYPE = d.coretype ("" = unset),
 *                                       LT_BLAS_GUARD = d.guard, and execv the program
 *
 * Environment: OPENBLAS_CORETYPE set by the user is respected (with a warning when
 * it does not fit the CPU); LOTTO_BLAS=library keeps whatever OpenBLAS picks;
 * LOTTO_BLAS=override lets lotto replace a user's OPENBLAS_CORETYPE too. */
#ifndef LOTTO_BLAS_H
#define LOTTO_BLAS_H

#include <stddef.h>

/* Set by the host when it re-executes: "<kernel>" (lotto forced that kernel) or
 * "fallback:<kernel>" (that kernel failed the self-check). Its presence stops any
 * further re-execution, so there is at most one (two with a fallback). */
#define LT_BLAS_GUARD "LOTTO_BLAS_REEXEC"

/* Instruction-set tiers of CPUs and of OpenBLAS kernels, in increasing order. */
enum { LT_ISA_UNKNOWN = -1, LT_ISA_SSE = 0, LT_ISA_AVX = 1, LT_ISA_AVX2 = 2, LT_ISA_AVX512 = 3 };

typedef struct lt_cpu {
  char vendor[13];  /* "GenuineIntel", "AuthenticAMD", "" off x86 */
  char brand[49];   /* "Intel(R) Xeon(R) ...", trimmed */
  int family, model; /* as /proc/cpuinfo shows them (extended fields folded in) */
  int avx, fma, avx2, avx512f, avx512dq, avx512cd, avx512bw, avx512vl, avx512bf16; /* cpuid bits */
  int os_ymm, os_zmm; /* the OS saves the YMM / ZMM and opmask state (XCR0) */
} lt_cpu;

/* Fills *cpu from cpuid and xgetbv (all zero off x86). */
void lt_cpu_detect(lt_cpu *cpu);
/* The best tier the CPU and the OS support together (LT_ISA_SSE .. LT_ISA_AVX512). */
int lt_cpu_isa(const lt_cpu *cpu);
/* "AVX-512", "AVX2+FMA", "AVX", "SSE" for a tier; "?" otherwise. */
const char *lt_isa_name(int isa);

/* The tier an OpenBLAS kernel name needs (case-insensitive: "SkylakeX" -> AVX-512,
 * "Haswell"/"Zen" -> AVX2, "Prescott" -> SSE), LT_ISA_UNKNOWN for names not in the table. */
int lt_blas_kernel_isa(const char *corename);
/* The kernel lotto asks for on a CPU of that tier ("SkylakeX", "Haswell",
 * "Sandybridge"), NULL below AVX. */
const char *lt_blas_kernel_for(int isa);

typedef struct lt_blas_env {
  const char *coretype; /* OPENBLAS_CORETYPE, NULL when unset */
  const char *guard;    /* LT_BLAS_GUARD, NULL when unset */
  const char *mode;     /* LOTTO_BLAS: NULL/"auto", "library", "override" */
} lt_blas_env;

typedef enum { LT_BLAS_KEEP = 0, LT_BLAS_REEXEC = 1 } lt_blas_action;

typedef struct lt_blas_decision {
  lt_blas_action action;
  char coretype[32];  /* REEXEC: the value for OPENBLAS_CORETYPE; "" = unset it */
  char guard[48];     /* REEXEC: the value for LT_BLAS_GUARD */
  char warning[320];  /* non-empty: a message for the user (either action) */
} lt_blas_decision;

/* Decides from the CPU, the kernel the library runs (openblas_get_corename), whether
 * it is a DYNAMIC_ARCH build, the environment and the self-check of the running
 * kernel (check_ok != 0: passed). Pure: reads nothing else. */
void lt_blas_decide(lt_blas_decision *d, const lt_cpu *cpu, const char *corename, int dynamic,
                    const lt_blas_env *env, int check_ok);

/* Who chose the running kernel, from the environment: "lotto" (lotto forced it),
 * "fallback" (lotto's choice failed the self-check), "user" (OPENBLAS_CORETYPE),
 * NULL (the library on its own). */
const char *lt_blas_forced(const lt_blas_env *env);

/* ---- the linked library ---- */
const char *lt_blas_corename(void); /* openblas_get_corename(), "" if none */
const char *lt_blas_config(void);   /* openblas_get_config() */
int lt_blas_is_dynamic(void);       /* the config names DYNAMIC_ARCH */

/* A GEMM with lt_gemm's signature (row-major; ta/tb transpose A/B). */
typedef void (*lt_gemm_fn)(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc);
/* Multiplies small integer-valued matrices (exact in float) with gemm in the four
 * transpose combinations, with beta 0 and 1, at sizes below and above OpenBLAS's
 * threading threshold, and compares with a naive loop. Returns the number of wrong
 * entries (0: passed); msg (may be NULL) gets a one-line description. */
int lt_blas_selfcheck(lt_gemm_fn gemm, char *msg, size_t n);
/* lt_blas_selfcheck(lt_gemm) run once per process; later calls return the same.
 * -1 (not run) when the running kernel needs instructions the CPU lacks. */
int lt_blas_check(char *msg, size_t n);

typedef struct lt_blas_info {
  char library[32];  /* "OpenBLAS" */
  char version[32];  /* "0.3.21" */
  char kernel[32];   /* "SkylakeX" */
  char config[160];  /* openblas_get_config() */
  int threads;       /* openblas_get_num_threads() now */
  char cpu[128];     /* "AMD EPYC (AuthenticAMD family 25 model 1)" */
  const char *cpu_isa; /* lt_isa_name(lt_cpu_isa()) */
  const char *forced;  /* lt_blas_forced() of the process environment, NULL: not forced */
  char check[160];   /* "ok" or what failed (runs the self-check once) */
} lt_blas_info;

/* Fills *info from the library, the CPU and the process environment. */
void lt_blas_info_get(lt_blas_info *info);

#endif
