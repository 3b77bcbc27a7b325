/* safetensors_write.c: building a safetensors file from raw typed buffers.
 * The writer copies each tensor's bytes (little-endian) when added and writes
 * header + data atomically on commit; tensors are laid out in insertion order. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/io.h"

typedef struct {
  char *name;
  lt_dtype dt;
  int ndim;
  int64_t shape[LT_ST_MAXDIM];
  size_t nbytes;
  unsigned char *data; /* little-endian */
} wentry;

struct lt_st_writer {
  wentry *e;
  size_t n, cap;
  cJSON *meta; /* object of strings */
};

lt_st_writer *lt_st_writer_new(void) {
  lt_st_writer *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->meta = cJSON_CreateObject();
  if (!w->meta) {
    free(w);
    return NULL;
  }
  return w;
}

void lt_st_writer_free(lt_st_writer *w) {
  if (!w) return;
  for (size_t i = 0; i < w->n; i++) {
    free(w->e[i].name);
    free(w->e[i].data);
  }
  free(w->e);
  cJSON_Delete(w->meta);
  free(w);
}

/* Validates and reserves an entry; its data buffer (nbytes) is allocated, uninitialised. */
static lt_status reserve(wentry **out, lt_st_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape) {
  if (!name || !*name) return lt_error(LT_EINVAL, "safetensors: empty tensor name");
  if (strcmp(name, "__metadata__") == 0) return lt_error(LT_EINVAL, "safetensors: \"__metadata__\" is reserved");
  if (lt_dtype_size(dt) == 0) return lt_error(LT_EINVAL, "safetensors: unknown dtype %d for \"%s\"", (int)dt, name);
  if (ndim < 0 || ndim > LT_ST_MAXDIM)
    return lt_error(LT_EINVAL, "safetensors: \"%s\" has %d dims (0..%d allowed)", name, ndim, LT_ST_MAXDIM);
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->e[i].name, name) == 0) return lt_error(LT_EINVAL, "safetensors: tensor \"%s\" added twice", name);
  size_t numel = 1;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0) return lt_error(LT_EINVAL, "safetensors: \"%s\" has a negative dim", name);
    if (shape[k] && numel > (SIZE_MAX / 8) / (size_t)shape[k])
      return lt_error(LT_EINVAL, "safetensors: \"%s\": shape overflows", name);
    numel *= (size_t)shape[k];
  }
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 16;
    wentry *e = realloc(w->e, cap * sizeof *e);
    if (!e) return lt_error(LT_ENOMEM, "safetensors: out of memory");
    w->e = e;
    w->cap = cap;
  }
  wentry *e = &w->e[w->n];
  memset(e, 0, sizeof *e);
  e->dt = dt;
  e->ndim = ndim;
  for (int k = 0; k < ndim; k++) e->shape[k] = shape[k];
  e->nbytes = numel * lt_dtype_size(dt);
  size_t n = strlen(name) + 1;
  e->name = malloc(n);
  e->data = malloc(e->nbytes ? e->nbytes : 1);
  if (!e->name || !e->data) {
    free(e->name);
    free(e->data);
    return lt_error(LT_ENOMEM, "safetensors: out of memory for \"%s\" (%zu bytes)", name, e->nbytes);
  }
  memcpy(e->name, name, n);
  w->n++;
  *out = e;
  return LT_OK;
}

lt_status lt_st_writer_add(lt_st_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                           const void *data) {
  wentry *e;
  lt_status s = reserve(&e, w, name, dt, ndim, shape);
  if (s) return s;
  size_t width = lt_dtype_size(dt);
  const uint16_t probe = 1;
  if (width == 1 || *(const unsigned char *)&probe == 1) {
    if (e->nbytes) memcpy(e->data, data, e->nbytes);
  } else { /* big-endian host: store little-endian */
    const unsigned char *s8 = data;
    for (size_t i = 0; i < e->nbytes; i += width)
      for (size_t k = 0; k < width; k++) e->data[i + k] = s8[i + width - 1 - k];
  }
  return LT_OK;
}

/* Element i of t in row-major order, for any strides (reads fields only: no tensor.c needed). */
static float tensor_at(const lt_tensor *t, size_t i) {
  size_t off = t->offset;
  for (int k = t->ndim - 1; k >= 0; k--) {
    off += (size_t)((int64_t)(i % (size_t)t->shape[k]) * t->stride[k]);
    i /= (size_t)t->shape[k];
  }
  return t->storage->data[off];
}

lt_status lt_st_writer_add_tensor(lt_st_writer *w, const char *name, const lt_tensor *t, lt_dtype dt) {
  if (!t) return lt_error(LT_EINVAL, "safetensors: NULL tensor for \"%s\"", name ? name : "?");
  wentry *e;
  lt_status s = reserve(&e, w, name, dt, t->ndim, t->shape);
  if (s) return s;
  size_t numel = e->nbytes / lt_dtype_size(dt);
  int contiguous = 1;
  int64_t expect = 1;
  for (int k = t->ndim - 1; k >= 0; k--) {
    if (t->shape[k] != 1 && t->stride[k] != expect) contiguous = 0;
    expect *= t->shape[k];
  }
  const float *src = contiguous && numel ? t->storage->data + t->offset : NULL;
  for (size_t i = 0; i < numel; i++) {
    float v = src ? src[i] : tensor_at(t, i);
    unsigned char *p = e->data + i * lt_dtype_size(dt);
    uint32_t u;
    if (dt == LT_DT_U8 || dt == LT_DT_BOOL) {
      *p = v != 0.0f;
      continue;
    }
    if (dt == LT_DT_F32) {
      memcpy(&u, &v, 4);
    } else { /* I32: exact integers only, so that indices survive the trip */
      if (!(v >= -2147483648.0f && v < 2147483648.0f) || v != (float)(int32_t)v) {
        w->n--; /* undo the reservation */
        free(e->name);
        free(e->data);
        return lt_error(LT_EINVAL, "safetensors: \"%s\"[%zu] = %g is not an int32", name, i, (double)v);
      }
      u = (uint32_t)(int32_t)v;
    }
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(u >> (8 * k));
  }
  return LT_OK;
}

lt_status lt_st_writer_meta(lt_st_writer *w, const char *key, const char *value) {
  if (!key || !value) return lt_error(LT_EINVAL, "safetensors: metadata key and value must be strings");
  cJSON *v = cJSON_CreateString(value);
  if (!v) return lt_error(LT_ENOMEM, "safetensors: out of memory");
  if (cJSON_GetObjectItemCaseSensitive(w->meta, key)) {
    cJSON_ReplaceItemInObjectCaseSensitive(w->meta, key, v);
  } else if (!cJSON_AddItemToObject(w->meta, key, v)) {
    cJSON_Delete(v);
    return lt_error(LT_ENOMEM, "safetensors: out of memory");
  }
  return LT_OK;
}

static int cmp_key(const void *a, const void *b) {
  return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The JSON header, padded with spaces so that the data section starts 8-byte aligned. */
static char *build_header(const lt_st_writer *w, size_t *len) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return NULL;
  int ok = 1;
  int nmeta = cJSON_GetArraySize(w->meta);
  if (nmeta > 0) { /* keys sorted: the same pairs always give the same bytes */
    const cJSON **kv = malloc((size_t)nmeta * sizeof *kv);
    cJSON *m = kv ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
    ok = m != NULL;
    int k = 0;
    for (const cJSON *c = w->meta->child; c && ok; c = c->next) kv[k++] = c;
    if (ok) qsort(kv, (size_t)nmeta, sizeof *kv, cmp_key);
    for (k = 0; k < nmeta && ok; k++) ok = cJSON_AddStringToObject(m, kv[k]->string, kv[k]->valuestring) != NULL;
    free(kv);
  }
  size_t at = 0;
  for (size_t i = 0; i < w->n && ok; i++) {
    const wentry *e = &w->e[i];
    cJSON *o = cJSON_AddObjectToObject(root, e->name);
    cJSON *shape = o ? cJSON_AddArrayToObject(o, "shape") : NULL;
    ok = o && shape && cJSON_AddStringToObject(o, "dtype", lt_dtype_name(e->dt));
    for (int k = 0; k < e->ndim && ok; k++) ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[k]));
    cJSON *off = ok ? cJSON_AddArrayToObject(o, "data_offsets") : NULL;
    ok = off && cJSON_AddItemToArray(off, cJSON_CreateNumber((double)at)) &&
         cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(at + e->nbytes)));
    at += e->nbytes;
  }
  char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!json) return NULL;
  size_t n = strlen(json), padded = (n + 7) / 8 * 8; /* 8 + padded is a multiple of 8 */
  char *h = malloc(padded + 1);
  if (h) {
    memcpy(h, json, n);
    memset(h + n, ' ', padded - n);
    h[padded] = '\0';
    *len = padded;
  }
  cJSON_free(json);
  return h;
}

lt_status lt_st_writer_commit(lt_st_writer *w, const char *path) {
  size_t hlen;
  char *h = build_header(w, &hlen);
  if (!h) return lt_error(LT_ENOMEM, "%s: out of memory building the safetensors header", path);
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  lt_afile a;
  lt_status s = lt_afile_open(&a, path);
  if (!s) s = lt_afile_write(&a, len8, 8);
  if (!s) s = lt_afile_write(&a, h, hlen);
  for (size_t i = 0; i < w->n && !s; i++) s = lt_afile_write(&a, w->e[i].data, w->e[i].nbytes);
  free(h);
  if (s) {
    lt_afile_abort(&a);
    return s;
  }
  return lt_afile_commit(&a);
}
