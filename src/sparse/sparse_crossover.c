/* sparse_crossover.c: the global dispatch mode, the table of calibrated
 * dense/sparse crossover densities (per shape, batch and thread count) and
 * its cache file. sparse_dispatch.c asks it per layer and call. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lotto/blas.h"
#include "lotto/io.h"
#include "lotto/sparse.h"
#include "sparse/sparse_dispatch.h" /* lt_sparse_crossover_generation */
#include "sparse/sparse_impl.h"     /* LT_SPARSE_BUILD_* */

/* ---- modes ------------------------------------------------------------------ */

static atomic_int global_mode = LT_SPARSE_AUTO;

void lt_sparse_set_mode(lt_sparse_mode mode) { atomic_store(&global_mode, (int)mode); }
lt_sparse_mode lt_sparse_get_mode(void) { return (lt_sparse_mode)atomic_load(&global_mode); }

static const char *const mode_names[] = {"auto", "dense", "sparse", "nm"};
const char *lt_sparse_mode_name(lt_sparse_mode mode) {
  return mode >= LT_SPARSE_AUTO && mode <= LT_SPARSE_NM ? mode_names[mode] : "?";
}
int lt_sparse_mode_parse(const char *s) {
  for (int i = 0; s && i < 4; i++)
    if (!strcmp(s, mode_names[i])) return i;
  return -1;
}

/* ---- the crossover table -------------------------------------------------- */

#define XMAX 512
#define MMAX 32
typedef struct { int rows, cols, n, threads; double d; } xentry;
/* a machine's rates for one BLAS kernel and thread count (lt_sparse_calibrate_machine) */
typedef struct { char kernel[64]; int threads; double dense_ns, scale; } mentry;
static struct {
  pthread_mutex_t mu;
  xentry e[XMAX];
  int count;
  mentry m[MMAX];
  int mcount;
  int autocal;          /* 1 on, 0 off, -1 not yet read from LOTTO_CALIBRATE */
  int tried;            /* the default cache was read (or clear() said not to) */
  atomic_uint gen;      /* bumps on every change, so layers can cache lookups */
} xt = {.mu = PTHREAD_MUTEX_INITIALIZER, .autocal = -1};
/* one calibration at a time (not under xt.mu: it runs kernels for a while) */
static pthread_mutex_t calib_mu = PTHREAD_MUTEX_INITIALIZER;

unsigned lt_sparse_crossover_generation(void) { return atomic_load(&xt.gen); }

static lt_status set_locked(int rows, int cols, int n, int threads, double d) {
  for (int i = 0; i < xt.count; i++) {
    xentry *e = &xt.e[i];
    if (e->rows == rows && e->cols == cols && e->n == n && e->threads == threads) {
      e->d = d;
      return LT_OK;
    }
  }
  if (xt.count == XMAX) return lt_error(LT_ERANGE, "sparse crossover table is full (%d entries)", XMAX);
  xt.e[xt.count++] = (xentry){rows, cols, n, threads, d};
  return LT_OK;
}

static int valid_entry(int rows, int cols, int n, int threads, double d) {
  return rows >= 1 && cols >= 1 && n >= 1 && threads >= 1 && d >= 0 && d <= 1;
}

lt_status lt_sparse_crossover_set(int rows, int cols, int n, int threads, double density) {
  if (!valid_entry(rows, cols, n, threads, density))
    return lt_error(LT_EINVAL, "sparse crossover: need rows, cols, n, threads >= 1 and a density in [0, 1] "
                    "(got %d, %d, %d, %d, %g)", rows, cols, n, threads, density);
  pthread_mutex_lock(&xt.mu);
  lt_status st = set_locked(rows, cols, n, threads, density);
  atomic_fetch_add(&xt.gen, 1);
  pthread_mutex_unlock(&xt.mu);
  return st;
}

void lt_sparse_crossover_clear(void) {
  pthread_mutex_lock(&xt.mu);
  xt.count = 0;
  xt.mcount = 0;
  xt.tried = 1;
  atomic_fetch_add(&xt.gen, 1);
  pthread_mutex_unlock(&xt.mu);
}

int lt_sparse_crossover_count(void) {
  pthread_mutex_lock(&xt.mu);
  int n = xt.count;
  pthread_mutex_unlock(&xt.mu);
  return n;
}

lt_status lt_sparse_crossover_entry(int i, int *rows, int *cols, int *n, int *threads, double *density) {
  pthread_mutex_lock(&xt.mu);
  lt_status st = LT_OK;
  if (i < 0 || i >= xt.count) st = lt_error(LT_ERANGE, "sparse crossover entry %d of %d", i, xt.count);
  else *rows = xt.e[i].rows, *cols = xt.e[i].cols, *n = xt.e[i].n, *threads = xt.e[i].threads, *density = xt.e[i].d;
  pthread_mutex_unlock(&xt.mu);
  return st;
}

/* ---- a machine's rates -------------------------------------------------- */

static int valid_machine(const char *kernel, int threads, double dense_ns, double scale) {
  return kernel && strlen(kernel) < 64 && threads >= 1 && dense_ns > 0 && dense_ns < 1e3 && scale > 0 && scale < 1e3;
}

static lt_status machine_set_locked(const char *kernel, int threads, double dense_ns, double scale) {
  for (int i = 0; i < xt.mcount; i++) {
    mentry *e = &xt.m[i];
    if (e->threads == threads && !strcmp(e->kernel, kernel)) {
      e->dense_ns = dense_ns, e->scale = scale;
      return LT_OK;
    }
  }
  if (xt.mcount == MMAX) return lt_error(LT_ERANGE, "sparse crossover: machine table is full (%d entries)", MMAX);
  mentry *e = &xt.m[xt.mcount++];
  snprintf(e->kernel, sizeof e->kernel, "%s", kernel);
  e->threads = threads, e->dense_ns = dense_ns, e->scale = scale;
  return LT_OK;
}

lt_status lt_sparse_machine_set(const char *kernel, int threads, double dense_mac_ns, double sparse_scale) {
  if (!valid_machine(kernel, threads, dense_mac_ns, sparse_scale))
    return lt_error(LT_EINVAL, "sparse machine rates: need a kernel name (< 64 characters), threads >= 1 and "
                    "rates in (0, 1000) (got %s, %d, %g, %g)", kernel ? kernel : "NULL", threads, dense_mac_ns,
                    sparse_scale);
  pthread_mutex_lock(&xt.mu);
  lt_status st = machine_set_locked(kernel, threads, dense_mac_ns, sparse_scale);
  atomic_fetch_add(&xt.gen, 1);
  pthread_mutex_unlock(&xt.mu);
  return st;
}

int lt_sparse_machine_count(void) {
  pthread_mutex_lock(&xt.mu);
  int n = xt.mcount;
  pthread_mutex_unlock(&xt.mu);
  return n;
}

lt_status lt_sparse_machine_entry(int i, const char **kernel, int *threads, double *dense_mac_ns, double *sparse_scale) {
  pthread_mutex_lock(&xt.mu);
  lt_status st = LT_OK;
  if (i < 0 || i >= xt.mcount) st = lt_error(LT_ERANGE, "sparse machine entry %d of %d", i, xt.mcount);
  else *kernel = xt.m[i].kernel, *threads = xt.m[i].threads, *dense_mac_ns = xt.m[i].dense_ns, *sparse_scale = xt.m[i].scale;
  pthread_mutex_unlock(&xt.mu);
  return st;
}

int lt_sparse_set_autocalibrate(int on) {
  pthread_mutex_lock(&xt.mu);
  if (xt.autocal < 0) {
    const char *e = getenv("LOTTO_CALIBRATE");
    xt.autocal = !(e && !strcmp(e, "0"));
  }
  int was = xt.autocal;
  xt.autocal = on != 0;
  pthread_mutex_unlock(&xt.mu);
  return was;
}

/* The key of this machine's rates: OpenBLAS's core name ("generic" when it names
 * none), plus the build when its own kernels are slower than an optimised AVX2
 * build's (LT_SPARSE_BUILD_ISA, LT_SPARSE_BUILD_OPT). An ASan build measures a
 * sparse scale in the hundreds; in a cache shared with the release build under
 * the same key, it would run every sparse layer dense there. */
static char machine_key[96];
static void machine_key_fill(void) {
  const char *k = lt_blas_corename();
  snprintf(machine_key, sizeof machine_key, "%.60s%s%s", k && *k ? k : "generic", LT_SPARSE_BUILD_ISA,
           LT_SPARSE_BUILD_OPT);
}
const char *lt_sparse_machine_key(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, machine_key_fill);
  return machine_key;
}


/* set when a measurement was refused as implausible: the process keeps the default
 * model instead of measuring again at every decision (under calib_mu) */
static int calib_refused;

/* The rates for (kernel, threads): found (1), or measured now and cached (1) when
 * auto calibration is on, else 0. */
static int machine_rates(int threads, double *dense_ns, double *scale) {
  const char *kernel = lt_sparse_machine_key();
  for (int pass = 0; pass < 2; pass++) {
    int autocal;
    pthread_mutex_lock(&xt.mu);
    for (int i = 0; i < xt.mcount; i++)
      if (xt.m[i].threads == threads && !strcmp(xt.m[i].kernel, kernel)) {
        *dense_ns = xt.m[i].dense_ns, *scale = xt.m[i].scale;
        pthread_mutex_unlock(&xt.mu);
        return 1;
      }
    if (xt.autocal < 0) {
      const char *e = getenv("LOTTO_CALIBRATE");
      xt.autocal = !(e && !strcmp(e, "0"));
    }
    autocal = xt.autocal;
    pthread_mutex_unlock(&xt.mu);
    if (!autocal || pass) return 0;
    pthread_mutex_lock(&calib_mu); /* another thread may have measured meanwhile: look again after */
    int have = 0;
    pthread_mutex_lock(&xt.mu);
    for (int i = 0; i < xt.mcount; i++) have |= xt.m[i].threads == threads && !strcmp(xt.m[i].kernel, kernel);
    pthread_mutex_unlock(&xt.mu);
    double d, sc;
    lt_status st = have || calib_refused ? LT_OK : lt_sparse_calibrate_machine(&d, &sc);
    if (st == LT_ERANGE) {
      calib_refused = 1;
      fprintf(stderr, "lotto: %s; this process uses the default crossover model\n", lt_errmsg());
    }
    if (!have && !calib_refused && st == LT_OK && lt_sparse_machine_set(kernel, threads, d, sc) == LT_OK)
      (void)lt_sparse_cache_save(NULL); /* best effort: an unwritable cache means measuring again next time */
    pthread_mutex_unlock(&calib_mu);
  }
  return 0;
}

double lt_sparse_crossover_get(int rows, int cols, int n, int *measured) {
  int tried;
  pthread_mutex_lock(&xt.mu);
  tried = xt.tried;
  xt.tried = 1;
  pthread_mutex_unlock(&xt.mu);
  if (!tried && lt_sparse_cache_load(NULL) == LT_EFORMAT) /* a missing cache is the usual first run */
    fprintf(stderr, "lotto: %s; measuring the sparse crossover again (the file will be replaced)\n", lt_errmsg());
  int threads = lt_get_threads();
  double best = INFINITY, d = -1;
  pthread_mutex_lock(&xt.mu);
  for (int i = 0; i < xt.count; i++) {
    const xentry *e = &xt.e[i];
    if (e->rows != rows || e->cols != cols) continue;
    /* nearest batch on a log scale; another thread count only when nothing else */
    double dist = fabs(log((double)n / e->n)) + (e->threads != threads ? 100.0 : 0.0);
    if (dist < best) best = dist, d = e->d;
  }
  pthread_mutex_unlock(&xt.mu);
  if (d >= 0) {
    if (measured) *measured = 1;
    return d;
  }
  double dense_ns, scale;
  if (machine_rates(threads, &dense_ns, &scale)) {
    if (measured) *measured = 2;
    return lt_sparse_crossover_model(rows, cols, n, dense_ns, scale);
  }
  if (measured) *measured = 0;
  return lt_sparse_crossover(rows, cols, n);
}

/* ---- the cache file ------------------------------------------------------- */

lt_status lt_sparse_cache_path(char *buf, size_t n) {
  const char *dir = getenv("LOTTO_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int w;
  if (dir && *dir) w = snprintf(buf, n, "%s/crossover.json", dir);
  else if (xdg && *xdg) w = snprintf(buf, n, "%s/lotto/crossover.json", xdg);
  else if (home && *home) w = snprintf(buf, n, "%s/.cache/lotto/crossover.json", home);
  else return lt_error(LT_EINVAL, "sparse cache: set LOTTO_CACHE (no HOME or XDG_CACHE_HOME)");
  if (w < 0 || (size_t)w >= n) return lt_error(LT_EINVAL, "sparse cache: the path is too long");
  return LT_OK;
}

static int json_int(const cJSON *o, const char *k, int *v) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || fabs(j->valuedouble) > 1e9) return 0;
  *v = (int)j->valuedouble;
  return 1;
}

lt_status lt_sparse_cache_load(const char *path) {
  char def[4096];
  lt_status st;
  int machine_cache = path == NULL; /* the machine's own cache, not a run's pinned file */
  if (!path) {
    if ((st = lt_sparse_cache_path(def, sizeof def))) return st;
    path = def;
  }
  char *buf;
  size_t len;
  if ((st = lt_io_read_file(path, &buf, &len))) return st;
  cJSON *root = cJSON_ParseWithLength(buf, len);
  free(buf);
  const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "entries");
  if (!cJSON_IsArray(es)) {
    cJSON_Delete(root);
    return lt_error(LT_EFORMAT, "%s: not a lotto crossover cache (no \"entries\" array)", path);
  }
  /* the machines' rates (optional: files written before them have none) */
  mentry mt[MMAX];
  int mk = 0;
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "machines"), *me;
  if (ms && !cJSON_IsArray(ms)) {
    cJSON_Delete(root);
    return lt_error(LT_EFORMAT, "%s: \"machines\" is not an array", path);
  }
  cJSON_ArrayForEach(me, ms) {
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(me, "blas"), *dn = cJSON_GetObjectItemCaseSensitive(me, "dense_ns_per_mac"),
                *sc = cJSON_GetObjectItemCaseSensitive(me, "sparse_scale");
    mentry x;
    if (mk == MMAX || !cJSON_IsString(kn) || !json_int(me, "threads", &x.threads) || !cJSON_IsNumber(dn) ||
        !cJSON_IsNumber(sc) || !valid_machine(kn->valuestring, x.threads, dn->valuedouble, sc->valuedouble)) {
      cJSON_Delete(root);
      return lt_error(LT_EFORMAT, "%s: machine %d is not {blas, threads >= 1, dense_ns_per_mac, sparse_scale in (0, 1000)}",
                      path, mk + 1);
    }
    snprintf(x.kernel, sizeof x.kernel, "%s", kn->valuestring);
    x.dense_ns = dn->valuedouble, x.scale = sc->valuedouble;
    /* in the machine's cache, a scale no CPU gives to the entry's build was measured
     * on a busy machine by an older lotto (which recorded up to 50): left out, so it is
     * measured again and replaced. Judged by the entry's own key: a release build must
     * not drop a sanitizer build's entries from a cache they share. A run's pinned
     * file is obeyed as written, so that it resumes alike. */
    if (machine_cache && x.scale > lt_sparse_scale_max_for(x.kernel)) continue;
    mt[mk++] = x;
  }
  xentry tmp[XMAX];
  int k = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, es) {
    xentry x;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "crossover");
    if (k == XMAX || !json_int(e, "rows", &x.rows) || !json_int(e, "cols", &x.cols) || !json_int(e, "n", &x.n) ||
        !json_int(e, "threads", &x.threads) || !cJSON_IsNumber(d) ||
        !valid_entry(x.rows, x.cols, x.n, x.threads, x.d = d->valuedouble)) {
      cJSON_Delete(root);
      return lt_error(LT_EFORMAT, "%s: entry %d is not {rows, cols, n, threads >= 1, crossover in [0, 1]}", path, k + 1);
    }
    tmp[k++] = x;
  }
  cJSON_Delete(root);
  pthread_mutex_lock(&xt.mu);
  st = LT_OK;
  for (int i = 0; i < k && !st; i++) st = set_locked(tmp[i].rows, tmp[i].cols, tmp[i].n, tmp[i].threads, tmp[i].d);
  for (int i = 0; i < mk && !st; i++) st = machine_set_locked(mt[i].kernel, mt[i].threads, mt[i].dense_ns, mt[i].scale);
  xt.tried = 1;
  atomic_fetch_add(&xt.gen, 1);
  pthread_mutex_unlock(&xt.mu);
  return st;
}

/* mkdir -p of path's parent directory */
static lt_status make_parent(const char *path) {
  char dir[4096];
  size_t n = strlen(path);
  if (n >= sizeof dir) return lt_error(LT_EINVAL, "sparse cache: the path is too long");
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return LT_OK;
  *slash = '\0';
  return lt_io_mkdirs(dir);
}

lt_status lt_sparse_cache_save(const char *path) {
  char def[4096];
  lt_status st;
  if (!path) {
    if ((st = lt_sparse_cache_path(def, sizeof def))) return st;
    path = def;
  }
  if ((st = make_parent(path))) return st;
  cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "entries"),
        *marr = cJSON_AddArrayToObject(root, "machines");
  int ok = root && arr && marr && cJSON_AddStringToObject(root, "format", "lotto.crossover") != NULL;
  pthread_mutex_lock(&xt.mu);
  for (int i = 0; ok && i < xt.count; i++) {
    const xentry *e = &xt.e[i];
    cJSON *o = cJSON_CreateObject();
    ok = o && cJSON_AddItemToArray(arr, o) && cJSON_AddNumberToObject(o, "rows", e->rows) &&
         cJSON_AddNumberToObject(o, "cols", e->cols) && cJSON_AddNumberToObject(o, "n", e->n) &&
         cJSON_AddNumberToObject(o, "threads", e->threads) && cJSON_AddItemToObject(o, "crossover", lt_io_json_number(e->d));
  }
  for (int i = 0; ok && i < xt.mcount; i++) {
    const mentry *e = &xt.m[i];
    cJSON *o = cJSON_CreateObject();
    ok = o && cJSON_AddItemToArray(marr, o) && cJSON_AddStringToObject(o, "blas", e->kernel) &&
         cJSON_AddNumberToObject(o, "threads", e->threads) && cJSON_AddItemToObject(o, "dense_ns_per_mac", lt_io_json_number(e->dense_ns)) &&
         cJSON_AddItemToObject(o, "sparse_scale", lt_io_json_number(e->scale));
  }
  pthread_mutex_unlock(&xt.mu);
  char *text = ok ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!text) return lt_error(LT_ENOMEM, "sparse cache: out of memory");
  st = lt_io_write_atomic(path, text, strlen(text));
  free(text);
  return st;
}

