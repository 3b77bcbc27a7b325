/* nn_import.c: reads the lotto.sparse export format (lotto/nn.h): rebuilds the
 * layer tree from "lotto.arch" through lt_layer_from_config (no layer kind is
 * named here), then fills values, masks and buffers. Every parameter the arch
 * declares is checked against the file's tensors as it is declared, before the
 * model allocates anything, and every field before anything is written; errors
 * name the path. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/io.h"
#include "nn/export_impl.h"
#include "nn/nn_impl.h"

#define ARCH_MAX_DEPTH 64 /* deeper nesting is a corrupt file, not a model */
/* A pruned weight's dense size is not in its data: an "empty" layout holds nothing and
 * delta8 leaves trailing zeros unencoded (elsewhere each byte covers at most 255
 * positions). The rebuilt model's pruned weights may hold at most this many positions
 * per byte of tensor data (plus one KiB), so a small file cannot make a huge model. */
#define IMPORT_POSITIONS_PER_BYTE 1024

// Prefixes the current message with the path (and what), keeping the code.
static lt_status fail_at(lt_status st, const char *path, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", lt_errmsg());
  return lt_error(st, "%s: %s%s", path, what, msg);
}

/* ---- the layer tree ---- */

static lt_layer *arch_layer(const cJSON *j, int depth);

// The children array of j (possibly absent) as layers; *n their count. On failure frees what it built.
static lt_layer **arch_children(const cJSON *j, int depth, int *n) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "children");
  *n = 0;
  if (!a) return calloc(1, sizeof(lt_layer *));
  if (!cJSON_IsArray(a)) {
    lt_error(LT_EFORMAT, "\"children\" is not an array");
    return NULL;
  }
  int cnt = cJSON_GetArraySize(a);
  lt_layer **kids = calloc(cnt > 0 ? cnt : 1, sizeof *kids);
  if (!kids) {
    lt_error(LT_ENOMEM, "out of memory rebuilding the model");
    return NULL;
  }
  const cJSON *c;
  cJSON_ArrayForEach(c, a) {
    if (!(kids[*n] = arch_layer(c, depth + 1))) {
      for (int i = 0; i < *n; i++) lt_layer_free(kids[i]);
      free(kids);
      return NULL;
    }
    (*n)++;
  }
  return kids;
}

// One node {"kind", "name"?, settings..., "children"?}: its settings become the config.
static lt_layer *arch_layer(const cJSON *j, int depth) {
  if (depth > ARCH_MAX_DEPTH) return lt_error(LT_EFORMAT, "layers nest deeper than %d", ARCH_MAX_DEPTH), NULL;
  if (!cJSON_IsObject(j)) return lt_error(LT_EFORMAT, "a layer is not a JSON object"), NULL;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
  if (!cJSON_IsString(kind)) return lt_error(LT_EFORMAT, "a layer has no \"kind\" string"), NULL;
  if (name && !cJSON_IsString(name))
    return lt_error(LT_EFORMAT, "the \"name\" of a %s layer is not a string", kind->valuestring), NULL;
  lt_layer_config c = {0};
  const cJSON *e;
  cJSON_ArrayForEach(e, j) {
    if (!strcmp(e->string, "kind") || !strcmp(e->string, "name") || !strcmp(e->string, "children")) continue;
    if (c.n == LT_CONFIG_MAX)
      return lt_error(LT_EFORMAT, "a %s layer has more than %d settings", kind->valuestring, LT_CONFIG_MAX), NULL;
    if (cJSON_IsBool(e)) lt_config_add_bool(&c, e->string, cJSON_IsTrue(e));
    else if (cJSON_IsNumber(e)) lt_config_add_num(&c, e->string, e->valuedouble); // integers: lt_config_int converts
    else
      return lt_error(LT_EFORMAT, "setting '%s' of a %s layer is not a number or a boolean", e->string,
                      kind->valuestring), NULL;
  }
  int n;
  lt_layer **kids = arch_children(j, depth, &n);
  if (!kids) return NULL;
  lt_layer *l = lt_layer_from_config(kind->valuestring, &c, n, kids); // takes the children
  free(kids);
  if (l && name && lt_layer_set_name(l, name->valuestring)) {
    lt_layer_free(l);
    return NULL;
  }
  return l;
}

// The per-sample input shape: a JSON array of 1 to 3 positive integers.
static int input_shape(const char *s, int64_t shape[LT_MAXDIM]) {
  cJSON *j = cJSON_Parse(s);
  int nd = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
  if (nd < 1 || nd > LT_MAXDIM - 1) nd = -1;
  for (int i = 0; i < nd; i++) {
    const cJSON *d = cJSON_GetArrayItem(j, i);
    double v = cJSON_IsNumber(d) ? d->valuedouble : -1;
    if (!(v >= 1 && v <= (1 << 24) && v == floor(v))) nd = -1;
    else shape[i] = (int64_t)v;
  }
  cJSON_Delete(j);
  return nd;
}

/* ---- values ---- */

// An F32 entry of exactly n elements, or NULL.
static const lt_st_entry *f32_entry(const lt_st_file *f, const char *name, size_t n) {
  const lt_st_entry *e = lt_st_find(f, name);
  return e && e->dtype == LT_DT_F32 && e->numel == n ? e : NULL;
}

// A prunable weight: checks (write 0) or fills values and mask (write 1).
static lt_status fill_sparse(const lt_st_file *f, const char *path, const lt_param *p, int write) {
  char key[LT_NAME_MAX + 16];
  snprintf(key, sizeof key, "%s.layout", p->name);
  const char *layout = lt_st_meta_get(f, key);
  snprintf(key, sizeof key, "%s.nnz", p->name);
  const char *nnzs = lt_st_meta_get(f, key);
  char *end = NULL;
  long long nnz = nnzs ? strtoll(nnzs, &end, 10) : -1;
  if (!layout || !nnzs || end == nnzs || *end || nnz < 0 || (unsigned long long)nnz > p->numel)
    return lt_error(LT_EFORMAT, "%s: no sparse layout for \"%s\" (is it a lotto.sparse file?)", path, p->name);
  if (!strcmp(layout, "empty")) {
    if (nnz) return lt_error(LT_EFORMAT, "%s: \"%s\": an empty layout with entries", path, p->name);
    if (write) {
      memset(lt_tensor_data(p->value), 0, p->numel * sizeof(float));
      memset(lt_tensor_data(p->mask), 0, p->numel * sizeof(float));
    }
    return LT_OK;
  }
  snprintf(key, sizeof key, "%s.values", p->name);
  const lt_st_entry *ev = f32_entry(f, key, (size_t)nnz);
  if (!ev) return lt_error(LT_EFORMAT, "%s: \"%s.values\" is missing or has the wrong size", path, p->name);
  int bitmap = !strcmp(layout, "bitmap");
  if (!bitmap && strcmp(layout, "delta8")) return lt_error(LT_EFORMAT, "%s: \"%s\": unknown layout", path, p->name);
  snprintf(key, sizeof key, bitmap ? "%s.bitmap" : "%s.delta", p->name);
  const lt_st_entry *ei = lt_st_find(f, key);
  if (!ei || ei->dtype != LT_DT_U8 || (bitmap && ei->numel != (p->numel + 7) / 8))
    return lt_error(LT_EFORMAT, "%s: the index tensor of \"%s\" is missing or has the wrong size", path, p->name);
  float *mk = write ? lt_tensor_data(p->mask) : NULL, *v = write ? lt_tensor_data(p->value) : NULL;
  float *m = mk;
  int64_t kept = bitmap ? lt_bitmap_decode(m, p->numel, ei->data) : lt_delta8_decode(m, p->numel, ei->data, ei->numel);
  if (kept < 0) return lt_error(LT_EFORMAT, "%s: \"%s\": a position is out of range", path, p->name);
  if (kept != nnz) return lt_error(LT_EFORMAT, "%s: \"%s\": the index and the values disagree", path, p->name);
  if (!write) return LT_OK;
  float *vals = malloc((size_t)nnz * sizeof *vals);
  if (!vals) return lt_error(LT_ENOMEM, "%s: out of memory reading \"%s\"", path, p->name);
  lt_st_entry_read(ev, vals);
  for (size_t j = 0, k = 0; j < p->numel; j++) v[j] = mk[j] != 0.0f ? vals[k++] : 0.0f;
  free(vals);
  return LT_OK;
}

// Checks one parameter (trainable) or buffer against the file without writing it.
static lt_status check_one(const lt_st_file *f, const char *path, const lt_param *p, int trainable) {
  if (trainable && p->prunable) return fill_sparse(f, path, p, 0);
  if (!f32_entry(f, p->name, p->numel))
    return lt_error(LT_EFORMAT, "%s: no F32 tensor \"%s\" of the model's size", path, p->name);
  return LT_OK;
}

// The build's check (lt_model_new_checked): every parameter the arch declares must be
// in the file with its size before the model allocates anything for it.
typedef struct { const lt_st_file *f; const char *path; size_t budget; } import_ctx;
static lt_status check_declared(void *ctx, const lt_param *p, int trainable) {
  import_ctx *c = ctx;
  if (trainable && p->prunable) {
    if (p->numel > c->budget)
      return lt_error(LT_EFORMAT, "%s: \"%s\" claims more positions (%zu) than the file's data can describe", c->path,
                      p->name, p->numel);
    c->budget -= p->numel;
  }
  return check_one(c->f, c->path, p, trainable);
}

// Checks every tensor (write 0), then fills (write 1): a bad file leaves the model as it was.
static lt_status fill(lt_model *m, const lt_st_file *f, const char *path) {
  for (int write = 0; write < 2; write++) {
    for (int i = 0; i < lt_model_nparams(m); i++) {
      const lt_param *p = lt_model_param(m, i);
      lt_status st;
      if (p->prunable) {
        if ((st = fill_sparse(f, path, p, write))) return st;
        continue;
      }
      const lt_st_entry *e = f32_entry(f, p->name, p->numel);
      if (!e) return lt_error(LT_EFORMAT, "%s: no F32 tensor \"%s\" of the model's size", path, p->name);
      if (write) lt_st_entry_read(e, lt_tensor_data(p->value));
    }
    for (int i = 0; i < lt_model_nbuffers(m); i++) {
      const lt_param *p = lt_model_buffer(m, i);
      const lt_st_entry *e = f32_entry(f, p->name, p->numel);
      if (!e) return lt_error(LT_EFORMAT, "%s: no F32 tensor \"%s\" of the model's size", path, p->name);
      if (write) lt_st_entry_read(e, lt_tensor_data(p->value));
    }
  }
  lt_model_apply_mask(m);
  return LT_OK;
}

lt_status lt_model_import_values(lt_model *m, const char *path) {
  if (!m || !path) return lt_error(LT_EINVAL, "lt_model_import_values: model and path are required");
  lt_st_file *f;
  lt_status st = lt_st_open(&f, path);
  if (st) return st;
  st = fill(m, f, path);
  lt_st_close(f);
  return st;
}

lt_status lt_model_import(lt_model **out, const char *path) {
  if (!out || !path) return lt_error(LT_EINVAL, "lt_model_import: out and path are required");
  *out = NULL;
  lt_st_file *f;
  lt_status st = lt_st_open(&f, path);
  if (st) return st;
  const char *fmt = lt_st_meta_get(f, "format"), *arch = lt_st_meta_get(f, "lotto.arch");
  const char *input = lt_st_meta_get(f, "lotto.input");
  int64_t shape[LT_MAXDIM];
  int nd = 0;
  if (!fmt || strcmp(fmt, LT_EXPORT_FORMAT)) {
    st = lt_error(LT_EFORMAT, "%s: not a lotto.sparse export (format %s)", path, fmt ? fmt : "nil");
  } else if (!arch || !input) {
    st = lt_error(LT_EFORMAT, "%s: not a lotto.sparse export: no lotto.arch or lotto.input metadata", path);
  } else if ((nd = input_shape(input, shape)) < 0) {
    st = lt_error(LT_EFORMAT, "%s: bad architecture metadata: lotto.input is not 1 to 3 sizes", path);
  } else {
    cJSON *j = cJSON_Parse(arch);
    lt_layer *root = j ? arch_layer(j, 0) : NULL;
    if (!j) st = lt_error(LT_EFORMAT, "%s: bad architecture metadata: lotto.arch is not JSON", path);
    else if (!root) st = fail_at(LT_EFORMAT, path, "cannot rebuild the model: ");
    cJSON_Delete(j);
    import_ctx ctx = {f, path, 1024};
    for (size_t i = 0; i < lt_st_count(f); i++) ctx.budget += lt_st_entry_at(f, i)->nbytes;
    ctx.budget *= IMPORT_POSITIONS_PER_BYTE;
    lt_model *m = root ? lt_model_new_checked(root, nd, shape, check_declared, &ctx) : NULL; // takes root
    if (root && !m) st = strncmp(lt_errmsg(), path, strlen(path)) == 0
                             ? LT_EFORMAT /* a parameter the file lacks: check_one's message names the path */
                             : fail_at(LT_EFORMAT, path, "cannot rebuild the model: ");
    if (m && (st = fill(m, f, path))) lt_model_free(m);
    else *out = m;
  }
  lt_st_close(f);
  return st;
}
