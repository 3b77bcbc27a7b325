/* safetensors_open.c: reading a safetensors file in stages, trusting no size in it before
 * it is checked: the 8-byte header length against the file size, each entry's offsets
 * against the data section the file holds, and only then the data is allocated and read.
 * A pipe (no size) is read only as far as the header's entries need, plus one byte. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors_impl.h"

/* Reads up to n bytes into *out (malloc'd). The buffer grows with what arrives unless the
 * caller knows the bytes are there (exact: a regular file measured before). */
static lt_status read_upto(FILE *fp, uint64_t n, int exact, unsigned char **out, uint64_t *got, const char *path) {
  size_t cap = exact || n < (1u << 20) ? (size_t)n : (1u << 20), at = 0;
  unsigned char *buf = malloc(cap ? cap : 1);
  if (!buf) return lt_error(LT_ENOMEM, "%s: out of memory reading %llu bytes", path, (unsigned long long)n);
  while (at < n) {
    if (at == cap) {
      size_t c2 = cap > n / 2 ? (size_t)n : 2 * cap;
      unsigned char *b2 = realloc(buf, c2);
      if (!b2) {
        free(buf);
        return lt_error(LT_ENOMEM, "%s: out of memory reading %llu bytes", path, (unsigned long long)n);
      }
      buf = b2;
      cap = c2;
    }
    size_t r = fread(buf + at, 1, cap - at, fp);
    at += r;
    if (r == 0) break;
  }
  if (ferror(fp)) {
    free(buf);
    return lt_error(LT_EIO, "cannot read %s: %s", path, strerror(errno));
  }
  *out = buf;
  *got = at;
  return LT_OK;
}

static lt_status open_stages(lt_st_file *f, FILE *fp, const char *path) {
  struct stat st;
  int regular = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode);
  uint64_t fsize = regular ? (uint64_t)st.st_size : UINT64_MAX;
  unsigned char len8[8];
  size_t r8 = fread(len8, 1, 8, fp);
  if (r8 < 8) {
    if (ferror(fp)) return lt_error(LT_EIO, "cannot read %s: %s", path, strerror(errno));
    return lt_error(LT_EFORMAT, "%s: %zu bytes is too short for a safetensors file", path, r8);
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
  if (regular && hlen > fsize - 8)
    return lt_error(LT_EFORMAT, "%s: header length %llu exceeds the file size (%llu bytes)", path,
                    (unsigned long long)hlen, (unsigned long long)fsize);
  if (hlen > LT_ST_MAX_HEADER)
    return lt_error(LT_EFORMAT, "%s: header length %llu exceeds 100 MB", path, (unsigned long long)hlen);
  unsigned char *h = NULL;
  uint64_t got = 0, *begins = NULL;
  lt_status s = read_upto(fp, hlen, regular, &h, &got, path);
  if (s) return s;
  if (got < hlen)
    s = lt_error(LT_EFORMAT, "%s: truncated: the header needs %llu bytes, the file has %llu", path,
                 (unsigned long long)hlen, (unsigned long long)got);
  uint64_t dlen = regular ? fsize - 8 - hlen : UINT64_MAX;
  if (!s) s = lt_st_parse_header(f, (const char *)h, hlen, dlen, &begins, path);
  free(h);
  if (!s && regular) s = lt_st_place(f, begins, dlen, path); /* all checked: now the data */
  if (!s) {
    uint64_t need = regular ? dlen : lt_st_data_needed(f, begins);
    s = read_upto(fp, regular ? need : need + 1, regular, &f->buf, &got, path);
    if (!s && regular && (got != need || fgetc(fp) != EOF))
      s = lt_error(LT_EFORMAT, "%s: the file changed size while being read", path);
    if (!s && !regular && got > need)
      s = lt_error(LT_EFORMAT, "%s: trailing bytes after the last tensor (%llu bytes of data expected)", path,
                   (unsigned long long)need);
    if (!s && !regular) s = lt_st_place(f, begins, got, path);
  }
  free(begins);
  if (!s) lt_st_attach(f, f->buf);
  return s;
}

lt_status lt_st_open(lt_st_file **out, const char *path) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) return lt_error(LT_EIO, "cannot open %s: %s", path, strerror(errno));
  lt_st_file *f = calloc(1, sizeof *f);
  lt_status s = f ? open_stages(f, fp, path) : lt_error(LT_ENOMEM, "%s: out of memory", path);
  fclose(fp);
  if (s) {
    lt_st_close(f);
    return s;
  }
  *out = f;
  return LT_OK;
}
