/* safetensors.c: validating safetensors headers, the lookups, and the dtype table.
 * A header is checked whole (JSON, dtypes, shapes against offsets, offsets tiling the
 * data section, names unique) before any entry is exposed: a corrupt or hostile file
 * yields LT_EFORMAT, never a read past the buffer. Names and metadata keys are kept
 * sorted, so duplicate checks and lookups cost n log n, not n^2. Reading files in
 * stages (sizes before allocation) is safetensors_open.c. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors_impl.h"

static const struct { const char *name; size_t size; } dtypes[] = {
    [LT_DT_F32] = {"F32", 4}, [LT_DT_U8] = {"U8", 1}, [LT_DT_I32] = {"I32", 4}, [LT_DT_BOOL] = {"BOOL", 1}};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

size_t lt_dtype_size(lt_dtype dt) { return (unsigned)dt < NDTYPES ? dtypes[dt].size : 0; }
const char *lt_dtype_name(lt_dtype dt) { return (unsigned)dt < NDTYPES ? dtypes[dt].name : "?"; }
int lt_dtype_parse(const char *name, lt_dtype *dt) {
  for (unsigned i = 0; i < NDTYPES; i++)
    if (strcmp(name, dtypes[i].name) == 0) {
      *dt = (lt_dtype)i;
      return 0;
    }
  return -1;
}

void lt_st_close(lt_st_file *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) free((char *)f->e[i].name);
  for (size_t i = 0; i < f->nmeta; i++) {
    free(f->mkey[i]);
    free(f->mval[i]);
  }
  free(f->mkey);
  free(f->mval);
  free(f->mbykey);
  free(f->byname);
  free(f->off);
  free(f->e);
  free(f->buf);
  free(f);
}

/* A JSON number that is a non-negative integer exactly representable as a double. */
static int get_size(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return -1;
  double d = j->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return -1;
  *out = (uint64_t)d;
  return 0;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* An index sorted by string (ties by position): equal strings end up adjacent, and
 * lookups are binary searches. */
static int cmp_named(const void *a, const void *b) {
  const lt_st_named *x = a, *y = b;
  int c = strcmp(x->s, y->s);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Sorts n (string, position) pairs and returns the first repeated string, or NULL. */
static const char *sort_named(lt_st_named *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_named);
  for (size_t k = 1; k < n; k++)
    if (strcmp(v[k - 1].s, v[k].s) == 0) return v[k].s;
  return NULL;
}

static const lt_st_named *find_named(const lt_st_named *v, size_t n, const char *s) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid].s, s);
    if (c == 0) return &v[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

static lt_status parse_meta(lt_st_file *f, const cJSON *m, const char *name) {
  if (!cJSON_IsObject(m)) return lt_error(LT_EFORMAT, "%s: __metadata__ is not an object", name);
  size_t n = (size_t)cJSON_GetArraySize(m);
  f->mkey = calloc(n ? n : 1, sizeof *f->mkey);
  f->mval = calloc(n ? n : 1, sizeof *f->mval);
  f->mbykey = calloc(n ? n : 1, sizeof *f->mbykey);
  if (!f->mkey || !f->mval || !f->mbykey) return lt_error(LT_ENOMEM, "%s: out of memory", name);
  for (const cJSON *c = m->child; c; c = c->next) {
    if (!cJSON_IsString(c)) return lt_error(LT_EFORMAT, "%s: metadata \"%s\" is not a string", name, c->string);
    f->mkey[f->nmeta] = dupstr(c->string);
    f->mval[f->nmeta] = dupstr(c->valuestring);
    f->nmeta++;
    if (!f->mkey[f->nmeta - 1] || !f->mval[f->nmeta - 1]) return lt_error(LT_ENOMEM, "%s: out of memory", name);
  }
  for (size_t i = 0; i < f->nmeta; i++) f->mbykey[i] = (lt_st_named){f->mkey[i], i};
  const char *dup = sort_named(f->mbykey, f->nmeta);
  if (dup) return lt_error(LT_EFORMAT, "%s: metadata key \"%s\" appears twice", name, dup);
  return LT_OK;
}

/* Parses one tensor description; offsets are stored in data/nbytes as (begin, span) for now. */
static lt_status parse_entry(lt_st_entry *e, uint64_t *begin, const cJSON *j, uint64_t dlen, const char *name) {
  const char *t = j->string;
  if (!cJSON_IsObject(j)) return lt_error(LT_EFORMAT, "%s: tensor \"%s\" is not an object", name, t);
  const cJSON *dt = NULL, *shape = NULL, *off = NULL;
  for (const cJSON *c = j->child; c; c = c->next) {
    const cJSON **slot = strcmp(c->string, "dtype") == 0          ? &dt
                         : strcmp(c->string, "shape") == 0        ? &shape
                         : strcmp(c->string, "data_offsets") == 0 ? &off
                                                                  : NULL;
    if (!slot) return lt_error(LT_EFORMAT, "%s: tensor \"%s\" has an unknown field \"%s\"", name, t, c->string);
    if (*slot) return lt_error(LT_EFORMAT, "%s: tensor \"%s\" repeats field \"%s\"", name, t, c->string);
    *slot = c;
  }
  if (!dt || !shape || !off)
    return lt_error(LT_EFORMAT, "%s: tensor \"%s\" lacks %s", name, t, !dt ? "dtype" : !shape ? "shape" : "data_offsets");
  if (!cJSON_IsString(dt)) return lt_error(LT_EFORMAT, "%s: tensor \"%s\": dtype is not a string", name, t);
  if (lt_dtype_parse(dt->valuestring, &e->dtype) != 0)
    return lt_error(LT_EFORMAT, "%s: tensor \"%s\": unsupported dtype \"%s\" (lotto reads F32, U8, I32, BOOL)",
                    name, t, dt->valuestring);
  if (!cJSON_IsArray(shape)) return lt_error(LT_EFORMAT, "%s: tensor \"%s\": shape is not an array", name, t);
  int nd = cJSON_GetArraySize(shape);
  if (nd > LT_ST_MAXDIM) return lt_error(LT_EFORMAT, "%s: tensor \"%s\" has %d dims (at most %d)", name, t, nd, LT_ST_MAXDIM);
  e->ndim = nd;
  uint64_t numel = 1;
  int k = 0;
  for (const cJSON *c = shape->child; c; c = c->next, k++) {
    uint64_t d;
    if (get_size(c, &d) != 0 || d > (uint64_t)INT64_MAX)
      return lt_error(LT_EFORMAT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", name, t, k);
    e->shape[k] = (int64_t)d;
    if (d && numel > UINT64_MAX / 8 / d) return lt_error(LT_EFORMAT, "%s: tensor \"%s\": shape overflows", name, t);
    numel *= d;
  }
  uint64_t b, end;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || get_size(off->child, &b) != 0 ||
      get_size(off->child->next, &end) != 0 || end < b)
    return lt_error(LT_EFORMAT, "%s: tensor \"%s\": data_offsets is not [begin, end] with begin <= end", name, t);
  uint64_t nbytes = numel * lt_dtype_size(e->dtype);
  if (end - b != nbytes)
    return lt_error(LT_EFORMAT, "%s: tensor \"%s\": %s shape needs %llu bytes but data_offsets span %llu", name, t,
                    dt->valuestring, (unsigned long long)nbytes, (unsigned long long)(end - b));
  if (end > dlen) /* known before the data section is read: nothing allocated for a lie */
    return lt_error(LT_EFORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] beyond the %llu-byte data section", name,
                    t, (unsigned long long)b, (unsigned long long)end, (unsigned long long)dlen);
  e->numel = (size_t)numel;
  e->nbytes = (size_t)nbytes;
  *begin = b;
  e->name = dupstr(t);
  return e->name ? LT_OK : lt_error(LT_ENOMEM, "%s: out of memory", name);
}

typedef struct { uint64_t begin; size_t i; } span;
static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : x->i < y->i ? -1 : x->i > y->i;
}

/* Entries must tile the data section exactly: sorted by offset, each starts where the last
 * ended. Sorts f->e by offset into f->off; data pointers are set later (lt_st_attach). */
static lt_status place_entries(lt_st_file *f, const uint64_t *begins, uint64_t dlen, const char *name) {
  span *s = malloc((f->n ? f->n : 1) * sizeof *s);
  lt_st_entry *sorted = malloc((f->n ? f->n : 1) * sizeof *sorted);
  f->off = malloc((f->n ? f->n : 1) * sizeof *f->off);
  lt_status st = s && sorted && f->off ? LT_OK : lt_error(LT_ENOMEM, "%s: out of memory", name);
  if (!st) {
    for (size_t i = 0; i < f->n; i++) s[i] = (span){begins[i], i};
    qsort(s, f->n, sizeof *s, cmp_span);
  }
  uint64_t at = 0;
  for (size_t k = 0; k < f->n && !st; k++) {
    lt_st_entry *e = &f->e[s[k].i];
    uint64_t b = s[k].begin;
    if (b + e->nbytes > dlen)
      st = lt_error(LT_EFORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] beyond the %llu-byte data section", name,
                    e->name, (unsigned long long)b, (unsigned long long)(b + e->nbytes), (unsigned long long)dlen);
    else if (b < at)
      st = lt_error(LT_EFORMAT, "%s: tensor \"%s\" overlaps the previous tensor", name, e->name);
    else if (b > at)
      st = lt_error(LT_EFORMAT, "%s: %llu unused bytes before tensor \"%s\"", name, (unsigned long long)(b - at), e->name);
    at = b + e->nbytes;
    sorted[k] = *e;
    f->off[k] = b;
  }
  if (!st && at != dlen)
    st = lt_error(LT_EFORMAT, "%s: %llu trailing bytes after the last tensor", name, (unsigned long long)(dlen - at));
  if (!st) memcpy(f->e, sorted, f->n * sizeof *sorted);
  if (!st && !(f->byname = malloc((f->n ? f->n : 1) * sizeof *f->byname)))
    st = lt_error(LT_ENOMEM, "%s: out of memory", name);
  if (!st) {
    for (size_t i = 0; i < f->n; i++) f->byname[i] = (lt_st_named){f->e[i].name, i};
    const char *dup = sort_named(f->byname, f->n);
    if (dup) st = lt_error(LT_EFORMAT, "%s: tensor \"%s\" appears twice", name, dup);
  }
  free(s);
  free(sorted);
  return st;
}

uint64_t lt_st_data_needed(const lt_st_file *f, const uint64_t *begins) {
  uint64_t end = 0;
  for (size_t i = 0; i < f->n; i++)
    if (begins[i] + f->e[i].nbytes > end) end = begins[i] + f->e[i].nbytes;
  return end;
}

lt_status lt_st_parse_header(lt_st_file *f, const char *h, uint64_t hlen, uint64_t dlen, uint64_t **begins_out,
                             const char *name) {
  *begins_out = NULL;
  if (hlen > LT_ST_MAX_HEADER)
    return lt_error(LT_EFORMAT, "%s: header length %llu exceeds 100 MB", name, (unsigned long long)hlen);
  if (hlen == 0 || h[0] != '{') return lt_error(LT_EFORMAT, "%s: header is not a JSON object", name);
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return lt_error(LT_EFORMAT, "%s: header is not valid JSON", name);
  }
  for (; end < h + hlen; end++) /* the format pads the header with spaces */
    if (*end != ' ') {
      cJSON_Delete(root);
      return lt_error(LT_EFORMAT, "%s: unexpected bytes after the JSON header", name);
    }
  size_t n = (size_t)cJSON_GetArraySize(root);
  f->e = calloc(n ? n : 1, sizeof *f->e);
  uint64_t *begins = calloc(n ? n : 1, sizeof *begins);
  lt_status st = (f->e && begins) ? LT_OK : lt_error(LT_ENOMEM, "%s: out of memory", name);
  int seen_meta = 0;
  for (const cJSON *c = root->child; c && !st; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0) {
      st = seen_meta++ ? lt_error(LT_EFORMAT, "%s: __metadata__ appears twice", name) : parse_meta(f, c, name);
    } else {
      st = parse_entry(&f->e[f->n], &begins[f->n], c, dlen, name);
      if (f->e[f->n].name) f->n++; /* so that close frees it even on error */
    }
  }
  cJSON_Delete(root);
  if (st) {
    free(begins);
    return st;
  }
  *begins_out = begins;
  return LT_OK;
}

lt_status lt_st_place(lt_st_file *f, const uint64_t *begins, uint64_t dlen, const char *name) {
  return place_entries(f, begins, dlen, name);
}

void lt_st_attach(lt_st_file *f, const unsigned char *data) {
  for (size_t k = 0; k < f->n; k++) f->e[k].data = data + f->off[k];
}

lt_status lt_st_parse(lt_st_file **out, const void *buf, size_t n, const char *name) {
  *out = NULL;
  lt_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->buf = malloc(n ? n : 1))) {
    free(f);
    return lt_error(LT_ENOMEM, "%s: out of memory", name);
  }
  memcpy(f->buf, buf, n);
  lt_status s = LT_OK;
  uint64_t hlen = 0, *begins = NULL;
  if (n < 8) s = lt_error(LT_EFORMAT, "%s: %zu bytes is too short for a safetensors file", name, n);
  for (int i = 7; i >= 0 && !s; i--) hlen = hlen << 8 | f->buf[i];
  if (!s && hlen > n - 8)
    s = lt_error(LT_EFORMAT, "%s: header length %llu exceeds the file size (%zu bytes)", name, (unsigned long long)hlen, n);
  if (!s) s = lt_st_parse_header(f, (const char *)f->buf + 8, hlen, n - 8 - hlen, &begins, name);
  if (!s) s = lt_st_place(f, begins, n - 8 - hlen, name);
  free(begins);
  if (s) {
    lt_st_close(f);
    return s;
  }
  lt_st_attach(f, f->buf + 8 + hlen);
  *out = f;
  return LT_OK;
}

size_t lt_st_count(const lt_st_file *f) { return f->n; }
const lt_st_entry *lt_st_entry_at(const lt_st_file *f, size_t i) { return i < f->n ? &f->e[i] : NULL; }
const lt_st_entry *lt_st_find(const lt_st_file *f, const char *name) {
  const lt_st_named *v = find_named(f->byname, f->n, name);
  return v ? &f->e[v->i] : NULL;
}
size_t lt_st_meta_count(const lt_st_file *f) { return f->nmeta; }
int lt_st_meta_at(const lt_st_file *f, size_t i, const char **key, const char **value) {
  if (i >= f->nmeta) return -1;
  *key = f->mkey[i];
  *value = f->mval[i];
  return 0;
}
const char *lt_st_meta_get(const lt_st_file *f, const char *key) {
  const lt_st_named *v = find_named(f->mbykey, f->nmeta, key);
  return v ? f->mval[v->i] : NULL;
}

void lt_st_entry_read(const lt_st_entry *e, void *dst) {
  size_t w = lt_dtype_size(e->dtype);
  const uint16_t probe = 1;
  if (w == 1 || *(const unsigned char *)&probe == 1) { /* little-endian host: bytes as stored */
    memcpy(dst, e->data, e->nbytes);
    return;
  }
  unsigned char *d = dst;
  for (size_t i = 0; i < e->nbytes; i += w)
    for (size_t k = 0; k < w; k++) d[i + k] = e->data[i + w - 1 - k];
}
