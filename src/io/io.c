/* io.c: whole-file reads, atomic writes (temp file, fsync, rename) and mkdir -p.
 * Every file lotto writes that a later run reads (masks, weights, results)
 * goes through lt_afile so that a killed run never leaves a half-written file. */
#define _POSIX_C_SOURCE 200809L
#include "lotto/io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

lt_status lt_io_read_file(const char *path, char **buf, size_t *n) {
  *buf = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return lt_error(LT_EIO, "cannot open %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) cap = (size_t)st.st_size + 1;
  char *p = malloc(cap);
  if (!p) {
    fclose(f);
    return lt_error(LT_ENOMEM, "out of memory reading %s (%zu bytes)", path, cap);
  }
  for (;;) {
    if (len + 1 >= cap) { /* the file grew, or is not a regular file */
      char *q = cap > SIZE_MAX / 2 ? NULL : realloc(p, cap * 2);
      if (!q) {
        free(p);
        fclose(f);
        return lt_error(LT_ENOMEM, "out of memory reading %s", path);
      }
      p = q;
      cap *= 2;
    }
    size_t got = fread(p + len, 1, cap - 1 - len, f);
    len += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(p);
    return lt_error(LT_EIO, "cannot read %s", path);
  }
  p[len] = '\0';
  *buf = p;
  *n = len;
  return LT_OK;
}

lt_status lt_afile_open(lt_afile *a, const char *path) {
  memset(a, 0, sizeof *a);
  size_t n = strlen(path);
  a->path = malloc(n + 1);
  a->tmp = malloc(n + 32);
  if (!a->path || !a->tmp) {
    lt_afile_abort(a);
    return lt_error(LT_ENOMEM, "out of memory opening %s", path);
  }
  memcpy(a->path, path, n + 1);
  snprintf(a->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
  a->f = fopen(a->tmp, "wb");
  if (!a->f) {
    lt_status s = lt_error(LT_EIO, "cannot create %s: %s", a->tmp, strerror(errno));
    lt_afile_abort(a);
    return s;
  }
  return LT_OK;
}

lt_status lt_afile_write(lt_afile *a, const void *p, size_t n) {
  if (!a->f || a->failed) return lt_error(LT_EIO, "write to %s after a failure", a->path ? a->path : "?");
  if (n && fwrite(p, 1, n, a->f) != n) {
    a->failed = 1;
    return lt_error(LT_EIO, "cannot write %s: %s", a->tmp, strerror(errno));
  }
  return LT_OK;
}

/* fsync of the directory makes the rename itself durable; best effort. */
static void sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) {
    strcpy(dir, ".");
  } else {
    size_t n = (size_t)(slash - path);
    if (n == 0) n = 1;
    if (n >= sizeof dir) return;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

lt_status lt_afile_commit(lt_afile *a) {
  if (!a->f) {
    lt_afile_abort(a);
    return lt_error(LT_EIO, "commit of a file that is not open");
  }
  lt_status s = LT_OK;
  if (a->failed) s = lt_error(LT_EIO, "cannot write %s: an earlier write failed", a->path);
  if (!s && fflush(a->f) != 0) s = lt_error(LT_EIO, "cannot write %s: %s", a->tmp, strerror(errno));
  if (!s && fsync(fileno(a->f)) != 0) s = lt_error(LT_EIO, "cannot sync %s: %s", a->tmp, strerror(errno));
  int rc = fclose(a->f);
  a->f = NULL;
  if (!s && rc != 0) s = lt_error(LT_EIO, "cannot close %s: %s", a->tmp, strerror(errno));
  if (!s && rename(a->tmp, a->path) != 0)
    s = lt_error(LT_EIO, "cannot rename %s to %s: %s", a->tmp, a->path, strerror(errno));
  if (!s) {
    sync_dir(a->path);
    free(a->tmp);
    a->tmp = NULL;
  }
  lt_afile_abort(a); /* removes the temporary if it is still there, frees names */
  return s;
}

void lt_afile_abort(lt_afile *a) {
  if (a->f) fclose(a->f);
  a->f = NULL;
  if (a->tmp) remove(a->tmp);
  free(a->tmp);
  free(a->path);
  a->tmp = a->path = NULL;
}

lt_status lt_io_write_atomic(const char *path, const void *data, size_t n) {
  lt_afile a;
  lt_status s = lt_afile_open(&a, path);
  if (s) return s;
  s = lt_afile_write(&a, data, n);
  if (s) {
    lt_afile_abort(&a);
    return s;
  }
  return lt_afile_commit(&a);
}

lt_status lt_io_mkdirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return lt_error(LT_EINVAL, "mkdirs: the path is empty or too long");
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    struct stat st;
    if (mkdir(buf, 0755) != 0) {
      int err = errno;
      if (err != EEXIST) return lt_error(LT_EIO, "cannot create %s: %s", buf, strerror(err));
      if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return lt_error(LT_EIO, "cannot create %s: %s", buf, strerror(ENOTDIR));
    }
    buf[i] = c;
  }
  return LT_OK;
}

struct cJSON *lt_io_json_number(double v) {
  if (!isfinite(v)) return cJSON_CreateNull();
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  // %g follows LC_NUMERIC; JSON wants '.'
  for (char *c = buf; *c; c++)
    if (*c == ',') *c = '.';
  return cJSON_CreateRaw(buf);
}
