/* blas_decide.c: the pure part of the BLAS kernel check: instruction-set tiers of
 * CPUs and of OpenBLAS kernel names, and the decision (keep the library's kernel,
 * or re-execute with OPENBLAS_CORETYPE) from features, kernel name and environment.
 * Nothing here reads the machine, so tests/test_blas.c drives it with a table. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lotto/blas.h"

int lt_cpu_isa(const lt_cpu *c) {
  if (c->avx512f && c->avx512dq && c->avx512cd && c->avx512bw && c->avx512vl && c->avx2 && c->fma && c->os_zmm &&
      c->os_ymm)
    return LT_ISA_AVX512;
  if (c->avx2 && c->fma && c->avx && c->os_ymm) return LT_ISA_AVX2;
  if (c->avx && c->os_ymm) return LT_ISA_AVX;
  return LT_ISA_SSE;
}

const char *lt_isa_name(int isa) {
  switch (isa) {
  case LT_ISA_AVX512: return "AVX-512";
  case LT_ISA_AVX2: return "AVX2+FMA";
  case LT_ISA_AVX: return "AVX";
  case LT_ISA_SSE: return "SSE";
  default: return "?";
  }
}

/* OpenBLAS's x86-64 core names (driver/others/dynamic.c) and the instructions their
 * sgemm kernels use. Piledriver..Excavator have AVX(2)/FMA3 but older kernels. */
static const struct {
  const char *name;
  int isa;
} kernels[] = {
    {"SapphireRapids", LT_ISA_AVX512}, {"Cooperlake", LT_ISA_AVX512}, {"SkylakeX", LT_ISA_AVX512},
    {"Haswell", LT_ISA_AVX2},          {"Zen", LT_ISA_AVX2},          {"Sandybridge", LT_ISA_AVX},
    {"Bulldozer", LT_ISA_AVX},         {"Piledriver", LT_ISA_AVX},    {"Steamroller", LT_ISA_AVX},
    {"Excavator", LT_ISA_AVX},         {"Prescott", LT_ISA_SSE},      {"Core2", LT_ISA_SSE},
    {"Penryn", LT_ISA_SSE},            {"Dunnington", LT_ISA_SSE},    {"Nehalem", LT_ISA_SSE},
    {"Atom", LT_ISA_SSE},              {"Barcelona", LT_ISA_SSE},     {"Opteron", LT_ISA_SSE},
    {"Opteron_SSE3", LT_ISA_SSE},      {"Bobcat", LT_ISA_SSE},        {"Nano", LT_ISA_SSE},
    {"Athlon", LT_ISA_SSE},            {"Katmai", LT_ISA_SSE},        {"Coppermine", LT_ISA_SSE},
    {"Northwood", LT_ISA_SSE},         {"Banias", LT_ISA_SSE},        {"Unknown", LT_ISA_SSE},
};

int lt_blas_kernel_isa(const char *corename) {
  if (corename == NULL) return LT_ISA_UNKNOWN;
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
    if (strcasecmp(corename, kernels[i].name) == 0) return kernels[i].isa;
  return LT_ISA_UNKNOWN;
}

/* The oldest name OpenBLAS knows for each tier (SkylakeX since 0.3.0): a newer name
 * such as Cooperlake adds only bf16 kernels, and an older library would not know it. */
const char *lt_blas_kernel_for(int isa) {
  switch (isa) {
  case LT_ISA_AVX512: return "SkylakeX";
  case LT_ISA_AVX2: return "Haswell";
  case LT_ISA_AVX: return "Sandybridge";
  default: return NULL;
  }
}

static int is_set(const char *s) { return s != NULL && s[0] != '\0'; }

const char *lt_blas_forced(const lt_blas_env *env) {
  if (is_set(env->guard) && strncmp(env->guard, "fallback:", 9) == 0 && !is_set(env->coretype)) return "fallback";
  if (is_set(env->guard) && is_set(env->coretype) && strcasecmp(env->guard, env->coretype) == 0) return "lotto";
  if (is_set(env->coretype)) return "user";
  return NULL;
}

#define SAY(...) snprintf(d->warning, sizeof d->warning, __VA_ARGS__)

void lt_blas_decide(lt_blas_decision *d, const lt_cpu *cpu, const char *corename, int dynamic,
                    const lt_blas_env *env, int check_ok) {
  memset(d, 0, sizeof *d);
  const char *core = is_set(corename) ? corename : "Unknown";
  int have = lt_cpu_isa(cpu), runs = lt_blas_kernel_isa(core);
  const char *mode = is_set(env->mode) ? env->mode : "auto";
  const char *who = lt_blas_forced(env);
  const char *best = lt_blas_kernel_for(have);
  int override = strcmp(mode, "override") == 0;

  if (strcmp(mode, "auto") != 0 && strcmp(mode, "library") != 0 && !override) {
    SAY("LOTTO_BLAS='%s' is not auto, library or override; ignored", mode);
    mode = "auto";
  }
  /* a kernel set in the environment (by the user, or inherited from a lotto on another
   * machine, as a Slurm job inherits its submitter's) that would stop lotto on an
   * illegal instruction at the first GEMM: not respected, since nothing could run */
  int asked = lt_blas_kernel_isa(env->coretype);
  if (dynamic && runs > have && who && (strcmp(who, "user") == 0 || (strcmp(who, "lotto") == 0 && asked > have))) {
    d->action = LT_BLAS_REEXEC;
    snprintf(d->coretype, sizeof d->coretype, "%s", best ? best : "");
    snprintf(d->guard, sizeof d->guard, "%s", best ? best : "fallback:none");
    SAY("OPENBLAS_CORETYPE=%s: kernel %s needs %s, which this CPU (or OS) lacks; using %s instead", env->coretype,
        core, lt_isa_name(runs), best ? best : "OpenBLAS's own choice");
    return;
  }
  if (runs > have) { /* a static build for a bigger CPU, or a library that did not take lotto's choice */
    SAY("BLAS kernel %s needs %s, which this CPU (or OS) lacks, and lotto cannot change it: "
        "expect a crash on an illegal instruction",
        core, lt_isa_name(runs));
    return;
  }
  if (who && strcmp(who, "lotto") == 0) { /* re-executed by lotto, here or on the machine it came from */
    if (dynamic && check_ok && runs == asked && asked < have && strcmp(mode, "library") != 0) {
      /* lotto's choice for a smaller CPU: raise it (each such step raises the tier, so it ends) */
      d->action = LT_BLAS_REEXEC;
      snprintf(d->coretype, sizeof d->coretype, "%s", best);
      snprintf(d->guard, sizeof d->guard, "%s", best);
    } else if (!check_ok) {
      d->action = LT_BLAS_REEXEC; /* back to the library's own choice, once */
      snprintf(d->guard, sizeof d->guard, "fallback:%.30s", env->coretype);
      SAY("BLAS kernel %s failed the start-up self-check (a GEMM against a naive loop); "
          "falling back to OpenBLAS's own choice",
          core);
    } else if (runs < asked) {
      SAY("OpenBLAS did not take OPENBLAS_CORETYPE=%s (it runs %s); not trying again", env->coretype, core);
    }
    return;
  }
  if (who && strcmp(who, "fallback") == 0) {
    if (!check_ok) SAY("OpenBLAS's own kernel %s failed the start-up self-check too: results may be wrong", core);
    return;
  }
  if (is_set(env->guard)) { /* re-executed once already and the environment changed since: never loop */
    if (!check_ok) SAY("BLAS kernel %s failed the start-up self-check: results may be wrong", core);
    else if (runs >= 0 && runs < have && !who)
      SAY("BLAS kernel %s is older than this CPU (%s); %s is set, so lotto does not re-execute", core,
          lt_isa_name(have), LT_BLAS_GUARD);
    return;
  }
  if (who && !override) { /* the user's OPENBLAS_CORETYPE: respected */
    if (!check_ok)
      SAY("BLAS kernel %s (OPENBLAS_CORETYPE=%s) failed the start-up self-check: results may be wrong", core,
          env->coretype);
    else if (runs >= 0 && runs < have)
      SAY("OPENBLAS_CORETYPE=%s: kernel %s is slower than this CPU allows (%s: %s); unset it to let lotto choose",
          env->coretype, core, lt_isa_name(have), best);
    else if (strcasecmp(env->coretype, core) != 0 && runs < 0)
      SAY("OPENBLAS_CORETYPE=%s: OpenBLAS runs kernel %s", env->coretype, core);
    return;
  }
  if (strcmp(mode, "library") == 0 || runs < 0 || runs >= have || best == NULL) {
    if (!check_ok) SAY("BLAS kernel %s failed the start-up self-check: results may be wrong", core);
    return;
  }
  /* the library fell short of the CPU */
  if (!dynamic) {
    SAY("BLAS kernel %s is older than this CPU (%s) and this OpenBLAS is not a DYNAMIC_ARCH build: "
        "an OpenBLAS built for this CPU would be faster",
        core, lt_isa_name(have));
    return;
  }
  d->action = LT_BLAS_REEXEC;
  snprintf(d->coretype, sizeof d->coretype, "%s", best);
  snprintf(d->guard, sizeof d->guard, "%s", best);
}
