/* nn_export.c: writes a pruned model as a compact safetensors file (the
 * lotto.sparse format described in lotto/nn.h): kept values plus their
 * positions (delta8 gap bytes or a bitmap, whichever is smaller), the dense
 * rest, and the layer tree from each layer's config op. Also the index codecs
 * (export_impl.h), which nn_import.c reads with. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/io.h"
#include "nn/export_impl.h"
#include "nn/nn_impl.h"

/* ---- index codecs ---- */

size_t lt_delta8_encode(uint8_t *out, const float *mask, size_t n) {
  size_t len = 0;
  int64_t prev = -1;
  for (size_t i = 0; i < n; i++) {
    if (mask[i] == 0.0f) continue;
    int64_t gap = (int64_t)i - prev - 1;
    for (; gap >= 255; gap -= 255) {
      if (out) out[len] = 255;
      len++;
    }
    if (out) out[len] = (uint8_t)gap;
    len++;
    prev = (int64_t)i;
  }
  return len;
}

int64_t lt_delta8_decode(float *mask, size_t n, const uint8_t *gaps, size_t len) {
  if (mask) memset(mask, 0, n * sizeof *mask);
  int64_t pos = -1, kept = 0;
  for (size_t j = 0; j < len; j++) {
    if (gaps[j] == 255) { // a long gap: advance, mark nothing
      pos += 255;
      continue;
    }
    pos += gaps[j] + 1;
    if (pos >= (int64_t)n) return -1;
    if (mask) mask[pos] = 1.0f;
    kept++;
  }
  return kept;
}

void lt_bitmap_encode(uint8_t *out, const float *mask, size_t n) {
  memset(out, 0, (n + 7) / 8);
  for (size_t j = 0; j < n; j++)
    if (mask[j] != 0.0f) out[j >> 3] |= (uint8_t)(1u << (j & 7));
}

int64_t lt_bitmap_decode(float *mask, size_t n, const uint8_t *bits) {
  int64_t kept = 0;
  for (size_t j = 0; j < n; j++) {
    int on = bits[j >> 3] >> (j & 7) & 1;
    kept += on;
    if (mask) mask[j] = on ? 1.0f : 0.0f;
  }
  return kept;
}

const char *lt_export_layout(size_t nnz, size_t ndelta, size_t numel) {
  return nnz == 0 ? "empty" : ndelta <= (numel + 7) / 8 ? "delta8" : "bitmap";
}

/* ---- the layer tree as JSON ---- */

// {"kind", "name" (user names only), the config, "children" (containers)}; NULL + lt_errmsg() on error.
static cJSON *arch_json(const lt_layer *l) {
  if (!l->ops->from_config) {
    lt_error(LT_EINVAL, "layer %s of kind '%s' cannot be exported: its kind cannot be rebuilt from a config",
             l->name, l->ops->kind);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "kind", l->ops->kind)) goto oom;
  if (l->user_named && !cJSON_AddStringToObject(o, "name", l->given)) goto oom;
  lt_layer_config c;
  lt_layer_config_get(l, &c);
  for (int i = 0; i < c.n; i++) {
    const lt_config_entry *e = &c.e[i];
    // JSON numbers are doubles: integers past 2^53 (only a huge dropout seed) are rounded
    cJSON *v = e->type == LT_CONFIG_BOOL ? cJSON_CreateBool(e->i != 0)
               : e->type == LT_CONFIG_INT ? cJSON_CreateNumber((double)e->i)
                                          : lt_io_json_number(e->num);
    if (!v) goto oom;
    cJSON_AddItemToObject(o, e->key, v);
  }
  if (l->ops->is_container) {
    cJSON *kids = cJSON_AddArrayToObject(o, "children");
    if (!kids) goto oom;
    for (int i = 0, n = lt_layer_nchildren(l); i < n; i++) {
      cJSON *k = arch_json(lt_layer_child(l, i));
      if (!k) {
        cJSON_Delete(o);
        return NULL;
      }
      cJSON_AddItemToArray(kids, k);
    }
  }
  return o;
oom:
  cJSON_Delete(o);
  lt_error(LT_ENOMEM, "out of memory describing layer %s", l->name);
  return NULL;
}

// The layer tree and the input shape as metadata.
static lt_status write_arch(lt_st_writer *w, const lt_model *m) {
  cJSON *arch = arch_json(lt_model_root((lt_model *)m)), *in = cJSON_CreateArray();
  char *sa = arch ? cJSON_PrintUnformatted(arch) : NULL, *si = NULL;
  lt_status st = arch ? LT_OK : LT_EINVAL;
  if (!st && in) {
    int64_t shape[LT_MAXDIM];
    int nd = lt_model_input_shape(m, shape);
    for (int i = 0; i < nd; i++) cJSON_AddItemToArray(in, cJSON_CreateNumber((double)shape[i]));
    si = cJSON_PrintUnformatted(in);
  }
  if (!st && (!sa || !si)) st = lt_error(LT_ENOMEM, "out of memory writing the model's architecture");
  if (!st && !(st = lt_st_writer_meta(w, "lotto.arch", sa))) st = lt_st_writer_meta(w, "lotto.input", si);
  if (!st) st = lt_st_writer_meta(w, "format", LT_EXPORT_FORMAT);
  cJSON_free(sa);
  cJSON_free(si);
  cJSON_Delete(arch);
  cJSON_Delete(in);
  return st;
}

/* ---- weights ---- */

// A prunable weight: layout and nnz metadata, then "<name>.values" and its index tensor.
static lt_status write_sparse(lt_st_writer *w, const lt_param *p, void **buf, size_t *cap) {
  const float *v = lt_tensor_data(p->value), *mk = lt_tensor_data(p->mask);
  char key[LT_NAME_MAX + 16], num[32];
  size_t nnz = (size_t)lt_count_nonzero(mk, p->numel);
  size_t nd = lt_delta8_encode(NULL, mk, p->numel), nb = (p->numel + 7) / 8;
  const char *layout = lt_export_layout(nnz, nd, p->numel);
  lt_status st;
  snprintf(key, sizeof key, "%s.layout", p->name);
  if ((st = lt_st_writer_meta(w, key, layout))) return st;
  snprintf(key, sizeof key, "%s.nnz", p->name);
  snprintf(num, sizeof num, "%zu", nnz);
  if ((st = lt_st_writer_meta(w, key, num)) || nnz == 0) return st;
  size_t need = nnz * sizeof(float) > (nd > nb ? nd : nb) ? nnz * sizeof(float) : (nd > nb ? nd : nb);
  if (need > *cap) {
    void *nbuf = realloc(*buf, need);
    if (!nbuf) return lt_error(LT_ENOMEM, "out of memory exporting %s", p->name);
    *buf = nbuf, *cap = need;
  }
  float *vals = *buf;
  for (size_t j = 0, k = 0; j < p->numel; j++)
    if (mk[j] != 0.0f) vals[k++] = v[j];
  snprintf(key, sizeof key, "%s.values", p->name);
  int64_t shape[1] = {(int64_t)nnz};
  if ((st = lt_st_writer_add(w, key, LT_DT_F32, 1, shape, vals))) return st;
  uint8_t *idx = *buf;
  if (!strcmp(layout, "delta8")) {
    lt_delta8_encode(idx, mk, p->numel);
    shape[0] = (int64_t)nd;
    snprintf(key, sizeof key, "%s.delta", p->name);
  } else {
    lt_bitmap_encode(idx, mk, p->numel);
    shape[0] = (int64_t)nb;
    snprintf(key, sizeof key, "%s.bitmap", p->name);
  }
  return lt_st_writer_add(w, key, LT_DT_U8, 1, shape, idx);
}

lt_status lt_model_export(const lt_model *m, const char *path, const char *const *meta) {
  if (!m || !path) return lt_error(LT_EINVAL, "lt_model_export: model and path are required");
  lt_st_writer *w = lt_st_writer_new();
  if (!w) return lt_error(LT_ENOMEM, "out of memory exporting to %s", path);
  void *buf = NULL;
  size_t cap = 0;
  lt_status st = LT_OK;
  for (int i = 0; meta && meta[i] && !st; i += 2) {
    if (!meta[i + 1]) st = lt_error(LT_EINVAL, "lt_model_export: metadata key '%s' has no value", meta[i]);
    else st = lt_st_writer_meta(w, meta[i], meta[i + 1]);
  }
  if (!st) st = write_arch(w, m);
  for (int i = 0; i < lt_model_nparams(m) && !st; i++) {
    const lt_param *p = lt_model_param(m, i);
    st = p->prunable ? write_sparse(w, p, &buf, &cap)
                     : lt_st_writer_add(w, p->name, LT_DT_F32, p->ndim, p->shape, lt_tensor_data(p->value));
  }
  for (int i = 0; i < lt_model_nbuffers(m) && !st; i++) {
    const lt_param *p = lt_model_buffer(m, i);
    st = lt_st_writer_add(w, p->name, LT_DT_F32, p->ndim, p->shape, lt_tensor_data(p->value));
  }
  if (!st) st = lt_st_writer_commit(w, path);
  free(buf);
  lt_st_writer_free(w);
  return st;
}
