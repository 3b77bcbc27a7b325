/* lotto/io.h: atomic file writes and safetensors files (weights, masks, indices).
 * A safetensors file is an 8-byte little-endian header length, a JSON header
 * {"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}} and
 * the raw little-endian data; it opens in Python with the `safetensors` package.
 *
 *   lt_st_writer *w = lt_st_writer_new();
 *   lt_st_writer_add_tensor(w, "fc1.weight", W, LT_DT_F32);
 *   lt_st_writer_add_tensor(w, "fc1.mask", M, LT_DT_U8);     // stores 0/1 bytes
 *   lt_st_writer_add(w, "idx", LT_DT_I32, 1, &n, indices);   // raw int32 buffer
 *   lt_st_writer_meta(w, "round", "3");
 *   lt_status s = lt_st_writer_commit(w, "mask.safetensors"); // atomic
 *   lt_st_writer_free(w);
 *
 *   lt_st_file *f; if (lt_st_open(&f, path) == LT_OK) {
 *     const lt_st_entry *e = lt_st_find(f, "fc1.weight");
 *     lt_tensor *t; lt_st_entry_tensor(&t, e);  // float tensor (U8 -> 0/1, I32 -> values)
 *     lt_st_close(f); }
 *
 * Reading validates everything (sizes, JSON, dtypes, shapes against offsets,
 * offsets covering the data section without holes or overlap) and fails with
 * LT_EFORMAT naming the file and the problem; a missing file is LT_EIO. */
#ifndef LOTTO_IO_H
#define LOTTO_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lotto/status.h"
#include "lotto/tensor.h"

/* ---- whole files ---- */
/* Reads path into a malloc'd buffer (NUL-terminated, *n excludes the NUL). Caller frees *buf.
 * LT_EIO naming the path when it cannot be opened or read. */
lt_status lt_io_read_file(const char *path, char **buf, size_t *n);
/* Writes data[0..n) to path atomically: path.tmp.<pid>, fflush, fsync, rename. */
lt_status lt_io_write_atomic(const char *path, const void *data, size_t n);
/* mkdir -p: creates path and its missing parents (mode 0755); an existing directory is fine.
 * LT_EINVAL for an empty or over-long path; LT_EIO naming the part that could not be made. */
lt_status lt_io_mkdirs(const char *path);

/* A file being written atomically: it appears at path only on commit. */
typedef struct lt_afile {
  FILE *f;
  char *path, *tmp;
  int failed; /* a write failed: commit refuses */
} lt_afile;
lt_status lt_afile_open(lt_afile *a, const char *path);
lt_status lt_afile_write(lt_afile *a, const void *p, size_t n);
/* Flushes, fsyncs, closes and renames; on any failure removes the temporary. Frees a's fields. */
lt_status lt_afile_commit(lt_afile *a);
/* Closes and removes the temporary without touching path. Safe on a zeroed or committed lt_afile. */
void lt_afile_abort(lt_afile *a);

/* ---- JSON numbers ---- */
/* A cJSON number that reads back as exactly v: the shortest of %.15g/%.16g/%.17g that does
 * (cJSON_CreateNumber prints 15 digits whenever they come within DBL_EPSILON, losing the last
 * bits of measured rates and config values). NULL when out of memory. Infinities and NaN
 * become null, as in cJSON. */
struct cJSON;
struct cJSON *lt_io_json_number(double v);

/* ---- safetensors dtypes ---- */
typedef enum { LT_DT_F32 = 0, LT_DT_U8 = 1, LT_DT_I32 = 2, LT_DT_BOOL = 3 } lt_dtype;
size_t lt_dtype_size(lt_dtype dt);
const char *lt_dtype_name(lt_dtype dt); /* "F32", "U8", "I32", "BOOL" */
/* Parses a dtype name; returns 0 and sets *dt, or -1 for an unknown name. */
int lt_dtype_parse(const char *name, lt_dtype *dt);

#define LT_ST_MAXDIM 8

/* ---- writing ---- */
typedef struct lt_st_writer lt_st_writer;
lt_st_writer *lt_st_writer_new(void); /* NULL on ENOMEM; caller frees with lt_st_writer_free */
/* Adds a tensor from a raw buffer of prod(shape) elements of dt in native byte order.
 * The bytes are copied: data may be freed after the call. ndim may be 0 (a scalar).
 * LT_EINVAL on an empty, duplicate or reserved ("__metadata__") name or a bad shape. */
lt_status lt_st_writer_add(lt_st_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                           const void *data);
/* Adds a float tensor converted to dt: F32 as is; U8/BOOL store 1 for nonzero, 0 for zero;
 * I32 requires integral values in int32 range (else LT_EINVAL). */
lt_status lt_st_writer_add_tensor(lt_st_writer *w, const char *name, const lt_tensor *t, lt_dtype dt);
/* Adds or replaces a "__metadata__" string pair. */
lt_status lt_st_writer_meta(lt_st_writer *w, const char *key, const char *value);
/* Writes the file atomically. The writer stays valid (and must still be freed). */
lt_status lt_st_writer_commit(lt_st_writer *w, const char *path);
void lt_st_writer_free(lt_st_writer *w); /* NULL is fine */

/* ---- reading ---- */
typedef struct lt_st_entry {
  const char *name;
  lt_dtype dtype;
  int ndim;                      /* 0..LT_ST_MAXDIM */
  int64_t shape[LT_ST_MAXDIM];
  size_t numel;
  const unsigned char *data;     /* raw little-endian bytes, possibly unaligned */
  size_t nbytes;
} lt_st_entry;

typedef struct lt_st_file lt_st_file;
/* Reads and validates path. *out is freed with lt_st_close. Entries are in file (offset) order. */
lt_status lt_st_open(lt_st_file **out, const char *path);
/* Same, from a buffer holding a whole file (copied); name is used in messages. */
lt_status lt_st_parse(lt_st_file **out, const void *buf, size_t n, const char *name);
void lt_st_close(lt_st_file *f); /* NULL is fine */
size_t lt_st_count(const lt_st_file *f);
const lt_st_entry *lt_st_entry_at(const lt_st_file *f, size_t i); /* NULL if out of range */
const lt_st_entry *lt_st_find(const lt_st_file *f, const char *name); /* NULL if absent */
size_t lt_st_meta_count(const lt_st_file *f);
/* The i-th metadata pair; 0 on success, -1 if out of range. Strings live as long as f. */
int lt_st_meta_at(const lt_st_file *f, size_t i, const char **key, const char **value);
const char *lt_st_meta_get(const lt_st_file *f, const char *key); /* NULL if absent */

/* Copies e's elements into dst (numel elements of e->dtype, native byte order, aligned). */
void lt_st_entry_read(const lt_st_entry *e, void *dst);
/* A new float tensor holding e's values (F32 as is, U8/BOOL/I32 converted); a 0-d entry
 * becomes shape (1). LT_EINVAL if e has more than LT_MAXDIM dims or a zero dim. Caller releases. */
lt_status lt_st_entry_tensor(lt_tensor **out, const lt_st_entry *e);

#endif
