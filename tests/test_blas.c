/* test_blas.c: CMocka tests of the BLAS kernel check: the decision against a table
 * of (CPU features, kernel the library reports, environment, self-check) -> action,
 * so every branch runs on any machine; the kernel-name tiers; the self-check against
 * deliberately wrong GEMMs; and the facts of the machine the tests run on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/blas.h"
#include "lotto/tensor.h"

enum { SSE, AVX, AVX2, AVX512, AVX512_NO_OS, AVX512_PARTIAL };

static lt_cpu cpu_of(int kind) {
  lt_cpu c;
  memset(&c, 0, sizeof c);
  if (kind == SSE) return c;
  c.avx = c.os_ymm = 1;
  if (kind == AVX) return c;
  c.avx2 = c.fma = 1;
  if (kind == AVX2) return c;
  c.avx512f = c.avx512dq = c.avx512cd = c.avx512bw = c.avx512vl = 1;
  c.os_zmm = kind != AVX512_NO_OS;
  if (kind == AVX512_PARTIAL) c.avx512bw = c.avx512vl = 0; /* Knights Landing: F and CD only */
  return c;
}

static const struct row {
  const char *what;
  int cpu;
  const char *core; /* what openblas_get_corename() reports */
  int dynamic;
  const char *coretype, *guard, *mode; /* environment */
  int check_ok;
  lt_blas_action action;
  const char *want_coretype, *want_guard; /* for REEXEC */
  const char *warning;                    /* substring, NULL = no warning */
} rows[] = {
    /* the library fell short: lotto re-executes with the CPU's kernel */
    {"new Xeon on a generic kernel", AVX512, "Prescott", 1, NULL, NULL, NULL, 1, LT_BLAS_REEXEC, "SkylakeX", "SkylakeX", NULL},
    {"AVX-512 CPU on Haswell kernels", AVX512, "Haswell", 1, NULL, NULL, NULL, 1, LT_BLAS_REEXEC, "SkylakeX", "SkylakeX", NULL},
    {"Zen 4 on Zen kernels", AVX512, "Zen", 1, NULL, NULL, "auto", 1, LT_BLAS_REEXEC, "SkylakeX", "SkylakeX", NULL},
    {"AVX2 CPU on a generic kernel", AVX2, "Prescott", 1, NULL, NULL, NULL, 1, LT_BLAS_REEXEC, "Haswell", "Haswell", NULL},
    {"AVX2 CPU on Nehalem", AVX2, "nehalem", 1, NULL, NULL, NULL, 1, LT_BLAS_REEXEC, "Haswell", "Haswell", NULL},
    {"AVX CPU on a generic kernel", AVX, "Prescott", 1, NULL, NULL, NULL, 1, LT_BLAS_REEXEC, "Sandybridge", "Sandybridge", NULL},
    {"no name reported", AVX2, "", 1, NULL, NULL, NULL, 1, LT_BLAS_REEXEC, "Haswell", "Haswell", NULL},
    /* the library's choice fits: nothing to do */
    {"Zen 3 on Zen kernels", AVX2, "Zen", 1, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"Skylake-X on SkylakeX", AVX512, "SkylakeX", 1, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"Sapphire Rapids on Cooperlake", AVX512, "Cooperlake", 1, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"old CPU on Prescott", SSE, "Prescott", 1, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"AVX-512 the OS does not save", AVX512_NO_OS, "Haswell", 1, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"AVX-512F without BW/VL", AVX512_PARTIAL, "Haswell", 1, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"a kernel name lotto does not know", AVX512, "Zen5", 1, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"library kernel fails the check", AVX2, "Zen", 1, NULL, NULL, NULL, 0, LT_BLAS_KEEP, NULL, NULL, "self-check"},
    /* a build without runtime dispatch cannot be switched: say so */
    {"static build for an old CPU", AVX512, "Haswell", 0, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, "DYNAMIC_ARCH"},
    {"static build for a bigger CPU", AVX2, "SkylakeX", 0, NULL, NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, "cannot change"},
    {"static build for a bigger CPU, after lotto", AVX2, "SkylakeX", 0, "Haswell", "Haswell", NULL, 1, LT_BLAS_KEEP, NULL, NULL, "cannot change"},
    {"static build, user's kernel beyond", AVX2, "SkylakeX", 0, "SkylakeX", NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, "cannot change"},
    /* the user's OPENBLAS_CORETYPE is respected */
    {"user's kernel fits", AVX512, "SkylakeX", 1, "skylakex", NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"user's slower kernel", AVX512, "Haswell", 1, "Haswell", NULL, NULL, 1, LT_BLAS_KEEP, NULL, NULL, "slower"},
    {"user's kernel beyond the CPU", AVX2, "SkylakeX", 1, "SkylakeX", NULL, NULL, 1, LT_BLAS_REEXEC, "Haswell", "Haswell", "lacks"},
    {"user's AVX kernel on an SSE CPU", SSE, "Sandybridge", 1, "Sandybridge", NULL, NULL, 1, LT_BLAS_REEXEC, "", "fallback:none", "lacks"},
    {"user's kernel fails the check", AVX2, "Haswell", 1, "Haswell", NULL, NULL, 0, LT_BLAS_KEEP, NULL, NULL, "self-check"},
    {"LOTTO_BLAS=library", AVX512, "Prescott", 1, NULL, NULL, "library", 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"LOTTO_BLAS=override", AVX512, "Prescott", 1, "Prescott", NULL, "override", 1, LT_BLAS_REEXEC, "SkylakeX", "SkylakeX", NULL},
    {"override, user's kernel fits", AVX2, "Haswell", 1, "Haswell", NULL, "override", 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"LOTTO_BLAS misspelt", AVX2, "Prescott", 1, NULL, NULL, "librery", 1, LT_BLAS_REEXEC, "Haswell", "Haswell", "librery"},
    /* after lotto's re-execution: never a second one, except one fallback */
    {"forced kernel took", AVX512, "SkylakeX", 1, "SkylakeX", "SkylakeX", NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"forced kernel not taken", AVX512, "Prescott", 1, "SkylakeX", "SkylakeX", NULL, 1, LT_BLAS_KEEP, NULL, NULL, "did not take"},
    {"forced kernel fails the check", AVX512, "SkylakeX", 1, "SkylakeX", "SkylakeX", NULL, 0, LT_BLAS_REEXEC, "", "fallback:SkylakeX", "falling back"},
    {"after the fallback", AVX512, "Prescott", 1, NULL, "fallback:SkylakeX", NULL, 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"after the fallback, check fails", AVX512, "Prescott", 1, NULL, "fallback:SkylakeX", NULL, 0, LT_BLAS_KEEP, NULL, NULL, "too"},
    {"inherited from an AVX2 machine", AVX512, "Haswell", 1, "Haswell", "Haswell", NULL, 1, LT_BLAS_REEXEC, "SkylakeX", "SkylakeX", NULL},
    {"inherited from an AVX-512 machine", AVX2, "SkylakeX", 1, "SkylakeX", "SkylakeX", NULL, 1, LT_BLAS_REEXEC, "Haswell", "Haswell", "lacks"},
    {"inherited, LOTTO_BLAS=library", AVX512, "Haswell", 1, "Haswell", "Haswell", "library", 1, LT_BLAS_KEEP, NULL, NULL, NULL},
    {"guard left over, env changed", AVX512, "Prescott", 1, NULL, "SkylakeX", NULL, 1, LT_BLAS_KEEP, NULL, NULL, LT_BLAS_GUARD},
    {"guard left over, user's kernel", AVX512, "Prescott", 1, "Prescott", "SkylakeX", "override", 1, LT_BLAS_KEEP, NULL, NULL, NULL},
};

static void decision_should_follow_the_table(void **state) {
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const struct row *r = &rows[i];
    lt_cpu c = cpu_of(r->cpu);
    lt_blas_env env = {r->coretype, r->guard, r->mode};
    lt_blas_decision d;
    lt_blas_decide(&d, &c, r->core, r->dynamic, &env, r->check_ok);
    if (d.action != r->action) fail_msg("%s: action %d, expected %d (%s)", r->what, d.action, r->action, d.warning);
    if (r->action == LT_BLAS_REEXEC) {
      if (strcmp(d.coretype, r->want_coretype) != 0) fail_msg("%s: coretype '%s'", r->what, d.coretype);
      if (strcmp(d.guard, r->want_guard) != 0) fail_msg("%s: guard '%s'", r->what, d.guard);
    }
    if (r->warning == NULL && d.warning[0]) fail_msg("%s: unexpected warning '%s'", r->what, d.warning);
    if (r->warning && !strstr(d.warning, r->warning))
      fail_msg("%s: warning '%s' lacks '%s'", r->what, d.warning, r->warning);
  }
}

/* Following the decisions like the host does, from any starting environment (none, a
 * user's kernel, one inherited from lotto on another machine, a fallback), on any CPU,
 * whether the library takes OPENBLAS_CORETYPE or not and whether forced kernels pass
 * the self-check: at most three re-executions, and a kernel the CPU can run at the end. */
static void reexecution_should_stop(void **state) {
  const char *lib_choice[] = {"Prescott", "Sandybridge", "Haswell", "Zen", "SkylakeX"};
  const char *start[][2] = {{"", ""},         {"Prescott", ""},       {"SkylakeX", ""},         {"Haswell", "Haswell"},
                            {"SkylakeX", "SkylakeX"}, {"Sandybridge", "Sandybridge"}, {"", "fallback:SkylakeX"}};
  int cpus[] = {SSE, AVX, AVX2, AVX512}, runs = 0;
  for (int ci = 0; ci < 4; ci++)
    for (int lib = 0; lib < 5; lib++)
      for (int st = 0; st < 7; st++)
        for (int check = 0; check < 2; check++)
          for (int takes = 0; takes < 3; takes++) { /* takes OPENBLAS_CORETYPE, ignores it, static build */
            lt_cpu c = cpu_of(cpus[ci]);
            if (lt_blas_kernel_isa(lib_choice[lib]) > lt_cpu_isa(&c)) continue; /* its own choice fits */
            char coretype[32], guard[48];
            snprintf(coretype, sizeof coretype, "%s", start[st][0]);
            snprintf(guard, sizeof guard, "%s", start[st][1]);
            int execs = 0;
            for (;;) {
              /* a library that ignores names takes the user's (st 1, 2) but not lotto's */
              int given = takes < 2 && coretype[0] && (takes || (execs == 0 && !guard[0]));
              const char *core = given ? coretype : lib_choice[lib];
              int fits = lt_blas_kernel_isa(core) <= lt_cpu_isa(&c);
              lt_blas_env env = {coretype[0] ? coretype : NULL, guard[0] ? guard : NULL, NULL};
              lt_blas_decision d;
              lt_blas_decide(&d, &c, core, takes < 2, &env, !fits || check || !given); /* unsafe: not run */
              if (d.action == LT_BLAS_KEEP) {
                if (!fits) fail_msg("cpu %d lib %s start %d: ends on %s, beyond the CPU", ci, lib_choice[lib], st, core);
                break;
              }
              snprintf(coretype, sizeof coretype, "%s", d.coretype);
              snprintf(guard, sizeof guard, "%s", d.guard);
              if (++execs > 3) fail_msg("cpu %d lib %s start %d: re-executes %d times", ci, lib_choice[lib], st, execs);
            }
            runs++;
          }
  assert_true(runs > 100);
}

static void forced_should_name_who_chose(void **state) {
  lt_blas_env none = {NULL, NULL, NULL}, user = {"Haswell", NULL, NULL}, ours = {"SkylakeX", "SkylakeX", NULL},
              fb = {NULL, "fallback:SkylakeX", NULL}, other = {"Haswell", "SkylakeX", NULL};
  assert_null(lt_blas_forced(&none));
  assert_string_equal(lt_blas_forced(&user), "user");
  assert_string_equal(lt_blas_forced(&ours), "lotto");
  assert_string_equal(lt_blas_forced(&fb), "fallback");
  assert_string_equal(lt_blas_forced(&other), "user");
}

static void kernel_names_should_map_to_tiers(void **state) {
  assert_int_equal(lt_blas_kernel_isa("SkylakeX"), LT_ISA_AVX512);
  assert_int_equal(lt_blas_kernel_isa("COOPERLAKE"), LT_ISA_AVX512);
  assert_int_equal(lt_blas_kernel_isa("Zen"), LT_ISA_AVX2);
  assert_int_equal(lt_blas_kernel_isa("Haswell"), LT_ISA_AVX2);
  assert_int_equal(lt_blas_kernel_isa("Sandybridge"), LT_ISA_AVX);
  assert_int_equal(lt_blas_kernel_isa("Prescott"), LT_ISA_SSE);
  assert_int_equal(lt_blas_kernel_isa("Zen5"), LT_ISA_UNKNOWN);
  assert_int_equal(lt_blas_kernel_isa(NULL), LT_ISA_UNKNOWN);
  for (int isa = LT_ISA_AVX; isa <= LT_ISA_AVX512; isa++)
    assert_int_equal(lt_blas_kernel_isa(lt_blas_kernel_for(isa)), isa);
  assert_null(lt_blas_kernel_for(LT_ISA_SSE));
}

/* ---- self-check ---- */

static int broken_mode;
static void broken_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc) {
  lt_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  if (broken_mode == 1 && m * n * k > 200000) C[(m - 1) * ldc + n - 1] += 1.0f; /* one wrong corner, big sizes only */
  if (broken_mode == 2 && ta) C[0] = -C[0] + 1.0f;                             /* transposed A mishandled */
  if (broken_mode == 3 && beta != 0.0f) C[ldc] *= 0.5f;                       /* beta path wrong */
}

static void selfcheck_should_pass_the_real_gemm(void **state) {
  char msg[160];
  assert_int_equal(lt_blas_selfcheck(lt_gemm, msg, sizeof msg), 0);
  assert_string_equal(msg, "ok");
  assert_int_equal(lt_blas_check(msg, sizeof msg), 0);
  assert_string_equal(msg, "ok");
}

static void selfcheck_should_catch_wrong_gemms(void **state) {
  char msg[160];
  for (broken_mode = 1; broken_mode <= 3; broken_mode++) {
    assert_true(lt_blas_selfcheck(broken_gemm, msg, sizeof msg) > 0);
    assert_non_null(strstr(msg, "entries wrong"));
  }
  broken_mode = 1;
  lt_blas_selfcheck(broken_gemm, msg, sizeof msg);
  assert_non_null(strstr(msg, "72x72x64"));
  broken_mode = 0;
}

/* ---- this machine ---- */

static void library_and_cpu_should_be_described(void **state) {
  lt_blas_info info;
  lt_blas_info_get(&info);
  assert_string_equal(info.library, "OpenBLAS");
  assert_true(info.version[0] >= '0' && info.version[0] <= '9');
  assert_true(info.kernel[0] != '\0');
  assert_true(info.threads >= 1);
  assert_string_equal(info.check, "ok");
  print_message("# %s %s, kernel %s, %d threads; CPU %s, %s; forced %s\n", info.library, info.version, info.kernel,
                info.threads, info.cpu, info.cpu_isa, info.forced ? info.forced : "no");
  lt_cpu c;
  lt_cpu_detect(&c);
#if defined(__x86_64__)
  assert_true(c.vendor[0] != '\0');
  assert_true(lt_cpu_isa(&c) >= LT_ISA_SSE);
#if defined(__AVX2__) && defined(__FMA__)
  assert_true(lt_cpu_isa(&c) >= LT_ISA_AVX2); /* built with -march=native on a CPU with AVX2 */
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  assert_int_equal(lt_cpu_isa(&c), LT_ISA_AVX512);
#endif
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(decision_should_follow_the_table),
      cmocka_unit_test(reexecution_should_stop),
      cmocka_unit_test(forced_should_name_who_chose),
      cmocka_unit_test(kernel_names_should_map_to_tiers),
      cmocka_unit_test(selfcheck_should_pass_the_real_gemm),
      cmocka_unit_test(selfcheck_should_catch_wrong_gemms),
      cmocka_unit_test(library_and_cpu_should_be_described),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
