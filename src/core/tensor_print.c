/* tensor_print.c: the bounded readable summary of a tensor (lt_tensor_tostring),
 * in the manner of Torch7: a header, at most 3 values either side of "..." per
 * axis, at most 3 matrices of a 3-D/4-D tensor, then min/max/mean when elided. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/tensor.h"

#define EDGE 3    /* values shown at each end of an elided axis */
#define MAXMATS 3 /* matrices shown of a 3-D/4-D tensor */

typedef struct sbuf {
  char *s;
  size_t len, cap;
  int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->failed = 1;
      return;
    }
    if ((size_t)k < b->cap - b->len) {
      b->len += (size_t)k;
      return;
    }
    size_t cap = b->cap * 2 + (size_t)k;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->failed = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

/* The indices of one axis that are shown, -1 marking the "..." slot. Returns count. */
static int shown(int64_t n, int edge, int64_t *idx) {
  int k = 0;
  if (n <= 2 * edge) {
    for (int64_t i = 0; i < n; i++) idx[k++] = i;
  } else {
    for (int i = 0; i < edge; i++) idx[k++] = i;
    idx[k++] = -1;
    for (int i = edge; i > 0; i--) idx[k++] = n - i;
  }
  return k;
}

typedef struct fmt {
  char spec[16];
  int width;
} fmt;

static void fmt_value(char *buf, size_t n, const fmt *f, float v) {
  if (isnan(v)) snprintf(buf, n, "nan");
  else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
  else snprintf(buf, n, f->spec, (double)v);
}

/* One format for every value shown: integers as integers, else fixed or scientific. */
static void fmt_choose(fmt *f, const lt_tensor *t, int64_t lead[][2], int nlead, const int64_t *ri, int nr,
                       const int64_t *ci, int nc) {
  int all_int = 1;
  double amax = 0, amin = INFINITY;
  int64_t idx[LT_MAXDIM];
  for (int l = 0; l < nlead; l++)
    for (int r = 0; r < nr; r++)
      for (int c = 0; c < nc; c++) {
        if ((t->ndim >= 2 && ri[r] < 0) || ci[c] < 0) continue;
        int d = 0;
        for (int j = 0; j < t->ndim - 2; j++) idx[d++] = lead[l][j];
        if (t->ndim >= 2) idx[d++] = ri[r];
        idx[d] = ci[c];
        float v = lt_tensor_get(t, idx);
        if (!isfinite(v)) continue;
        double a = fabs(v);
        if (v != floorf(v)) all_int = 0;
        if (a > amax) amax = a;
        if (a > 0 && a < amin) amin = a;
      }
  if (all_int && amax < 1e7) strcpy(f->spec, "%.0f");
  else if (amax < 1e5 && (amin >= 1e-3 || amin == INFINITY)) strcpy(f->spec, "%.4f");
  else strcpy(f->spec, "%.4e");
  f->width = 0;
  char buf[64];
  for (int l = 0; l < nlead; l++)
    for (int r = 0; r < nr; r++)
      for (int c = 0; c < nc; c++) {
        if ((t->ndim >= 2 && ri[r] < 0) || ci[c] < 0) continue;
        int d = 0;
        for (int j = 0; j < t->ndim - 2; j++) idx[d++] = lead[l][j];
        if (t->ndim >= 2) idx[d++] = ri[r];
        idx[d] = ci[c];
        fmt_value(buf, sizeof buf, f, lt_tensor_get(t, idx));
        int w = (int)strlen(buf);
        if (w > f->width) f->width = w;
      }
}

/* One printed row: the values at prefix idx[0..d) and the shown columns ci. */
static void print_row(sbuf *b, const lt_tensor *t, int64_t *idx, int d, const int64_t *ci, int nc, const fmt *f) {
  char buf[64];
  for (int c = 0; c < nc; c++) {
    if (ci[c] < 0) {
      sb_printf(b, " %*s", f->width, "...");
      continue;
    }
    idx[d] = ci[c];
    fmt_value(buf, sizeof buf, f, lt_tensor_get(t, idx));
    sb_printf(b, " %*s", f->width, buf);
  }
  sb_printf(b, "\n");
}

char *lt_tensor_tostring(const lt_tensor *t) {
  sbuf b = {malloc(256), 0, 256, 0};
  if (!b.s) return NULL;
  char sh[96];
  sb_printf(&b, "tensor %s float32%s\n", lt_tensor_shape_str(t, sh, sizeof sh),
            lt_tensor_is_contiguous(t) ? "" : " (non-contiguous view)");
  size_t n = lt_tensor_numel(t);
  if (n == 0) {
    sb_printf(&b, " [empty]\n");
  } else {
    int nd = t->ndim;
    int64_t ci[2 * EDGE + 1], ri[2 * EDGE + 1];
    int nc = shown(t->shape[nd - 1], EDGE, ci);
    int nr = nd >= 2 ? shown(t->shape[nd - 2], EDGE, ri) : 1;
    if (nd < 2) ri[0] = 0;
    /* leading index tuples of the matrices shown (3-D/4-D), -1 for "..." */
    int64_t lead[MAXMATS + 1][2] = {{0, 0}};
    int nlead = 1;
    if (nd >= 3) {
      int64_t nm = 1;
      for (int d = 0; d < nd - 2; d++) nm *= t->shape[d];
      int64_t pick[MAXMATS + 1];
      nlead = 0;
      if (nm <= MAXMATS) {
        for (int64_t i = 0; i < nm; i++) pick[nlead++] = i;
      } else {
        for (int i = 0; i < MAXMATS - 1; i++) pick[nlead++] = i;
        pick[nlead++] = -1;
        pick[nlead++] = nm - 1;
      }
      for (int l = 0; l < nlead; l++) {
        int64_t q = pick[l];
        lead[l][0] = lead[l][1] = -1;
        if (q < 0) continue;
        if (nd == 3) lead[l][0] = q;
        else lead[l][0] = q / t->shape[1], lead[l][1] = q % t->shape[1];
      }
    }
    fmt f;
    int64_t real[MAXMATS + 1][2];
    int nreal = 0;
    for (int l = 0; l < nlead; l++)
      if (lead[l][0] >= 0) memcpy(real[nreal++], lead[l], sizeof lead[l]);
    fmt_choose(&f, t, real, nreal, ri, nr, ci, nc);
    int64_t idx[LT_MAXDIM] = {0};
    for (int l = 0; l < nlead; l++) {
      if (nd >= 3) {
        if (lead[l][0] < 0) {
          sb_printf(&b, "...\n");
          continue;
        }
        if (nd == 3) sb_printf(&b, "(%lld,.,.) =\n", (long long)lead[l][0] + 1);
        else sb_printf(&b, "(%lld,%lld,.,.) =\n", (long long)lead[l][0] + 1, (long long)lead[l][1] + 1);
        idx[0] = lead[l][0];
        idx[1] = lead[l][1];
      }
      for (int r = 0; r < nr; r++) {
        if (nd >= 2 && ri[r] < 0) {
          sb_printf(&b, " %*s\n", f.width, "...");
          continue;
        }
        if (nd >= 2) idx[nd - 2] = ri[r];
        print_row(&b, t, idx, nd - 1, ci, nc, &f);
      }
    }
    if (n > 36)
      sb_printf(&b, "min %g  max %g  mean %g\n", (double)lt_tensor_min(t), (double)lt_tensor_max(t),
                lt_tensor_mean(t));
  }
  if (b.failed) {
    free(b.s);
    return NULL;
  }
  if (b.len && b.s[b.len - 1] == '\n') b.s[--b.len] = '\0';
  return b.s;
}
