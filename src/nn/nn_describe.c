/* nn_describe.c: the model's printed tree (lt_model_describe): one line a
 * layer, indented by depth, with parameter counts and, once pruned, the
 * weight density. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct { char *s; size_t n, cap; int oom; } sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    if (b->n + (size_t)w < b->cap) {
      b->n += (size_t)w;
      return;
    }
    size_t nc = (b->cap + (size_t)w) * 2;
    char *ns = realloc(b->s, nc);
    if (!ns) {
      b->oom = 1;
      return;
    }
    b->s = ns, b->cap = nc;
  }
}

// 235500 -> "235,500"
static char *grouped(char *buf, size_t n, unsigned long long v) {
  char tmp[32];
  int len = snprintf(tmp, sizeof tmp, "%llu", v), j = 0;
  for (int i = 0; i < len && j + 2 < (int)n; i++) {
    if (i && (len - i) % 3 == 0) buf[j++] = ',';
    buf[j++] = tmp[i];
  }
  buf[j] = 0;
  return buf;
}

static size_t tree_numel(const lt_layer *l, size_t *prunable, size_t *kept) {
  size_t n = 0;
  for (int i = 0; i < l->nparams; i++) {
    const lt_param *p = &l->params[i];
    n += p->numel;
    if (!p->prunable) continue;
    *prunable += p->numel;
    const float *mk = lt_tensor_data(p->mask);
    *kept += (size_t)lt_count_nonzero(mk, p->numel);
  }
  if (l->ops->nchildren)
    for (int i = 0, c = l->ops->nchildren(l); i < c; i++) n += tree_numel(l->ops->child(l, i), prunable, kept);
  return n;
}

static void param_summary(sbuf *b, const lt_layer *l) {
  size_t prunable = 0, kept = 0;
  char g[32];
  size_t n = tree_numel(l, &prunable, &kept);
  if (!n) return;
  sb_printf(b, "%s%s params", b->s[b->n - 1] == '(' ? "" : ", ", grouped(g, sizeof g, n));
  if (prunable && kept < prunable) {
    double pct = 100.0 * (double)kept / (double)prunable;
    sb_printf(b, pct >= 0.1 ? ", %.1f%% weights" : ", %.2g%% weights", pct);
  }
}

static void describe_tree(sbuf *b, const lt_layer *l, int depth, const char *role) {
  char d[160] = "";
  if (l->ops->describe) l->ops->describe(l, d, sizeof d);
  sb_printf(b, "%*s", 2 * depth, "");
  if (role) sb_printf(b, "%s: ", role);
  else if (l->name[0]) sb_printf(b, "%s: ", l->name);
  size_t len = strlen(d);
  if (len && d[len - 1] == ')') {
    sb_printf(b, "%.*s", (int)len - 1, d);
    param_summary(b, l);
    sb_printf(b, ")\n");
  } else {
    sb_printf(b, "%s", d);
    if (l->has_params) {
      sb_printf(b, " (");
      param_summary(b, l);
      sb_printf(b, ")");
    }
    sb_printf(b, "\n");
  }
  if (!l->ops->nchildren) return;
  int c = l->ops->nchildren(l);
  int residual = l->ops->is_container && !l->ops->prefix;
  for (int i = 0; i < c; i++) {
    const lt_layer *k = l->ops->child(l, i);
    if (residual) describe_tree(b, k, depth + 1, i == 0 ? "body" : "shortcut");
    else describe_tree(b, k, depth + 1, NULL);
  }
}

char *lt_model_describe(const lt_model *m) {
  sbuf b = {malloc(256), 0, 256, 0};
  if (!b.s) return NULL;
  b.s[0] = 0;
  char s1[96], s2[96], g[32];
  int64_t in[LT_MAXDIM], out[LT_MAXDIM];
  int ni = lt_model_input_shape(m, in), no = lt_model_output_shape(m, out);
  sb_printf(&b, "Model %s -> %s, %s params", lt_shape_format(ni, in, s1, sizeof s1), lt_shape_format(no, out, s2, sizeof s2),
            grouped(g, sizeof g, lt_model_numel(m, 0)));
  double dens = lt_model_density(m);
  if (dens < 1.0) sb_printf(&b, 100.0 * dens >= 0.1 ? ", %.1f%% of prunable weights left" : ", %.2g%% of prunable weights left", 100.0 * dens);
  sb_printf(&b, "\n");
  describe_tree(&b, lt_model_root((lt_model *)m), 1, NULL);
  if (b.oom) {
    free(b.s);
    lt_error(LT_ENOMEM, "out of memory describing a model");
    return NULL;
  }
  if (b.n && b.s[b.n - 1] == '\n') b.s[--b.n] = 0;
  return b.s;
}
