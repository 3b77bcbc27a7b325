/* nn_config.c: layer settings as key/value entries (lt_layer_config): the
 * appenders a layer's config op uses, the checked readers its from_config
 * uses, and the accessors export and the bindings see. Knows no layer kind. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/nn_impl.h"

static lt_status add(lt_layer_config *c, const char *key, lt_config_type t, int64_t i, double num) {
  if (c->n >= LT_CONFIG_MAX) return lt_error(LT_EINVAL, "layer config: more than %d settings (at '%s')", LT_CONFIG_MAX, key);
  lt_config_entry *e = &c->e[c->n++];
  e->key = key, e->type = t, e->i = i, e->num = num;
  return LT_OK;
}
lt_status lt_config_add_int(lt_layer_config *c, const char *key, int64_t v) { return add(c, key, LT_CONFIG_INT, v, (double)v); }
lt_status lt_config_add_num(lt_layer_config *c, const char *key, double v) { return add(c, key, LT_CONFIG_NUM, 0, v); }
lt_status lt_config_add_bool(lt_layer_config *c, const char *key, int v) { return add(c, key, LT_CONFIG_BOOL, v != 0, v != 0); }

void lt_layer_config_get(const lt_layer *l, lt_layer_config *c) {
  c->n = 0;
  if (l->ops->config) l->ops->config(l, c);
}

const char *lt_layer_given_name(const lt_layer *l) { return l->user_named ? l->given : NULL; }
int lt_layer_prunable(const lt_layer *l) { return l->ops->prunable; }
lt_rng *lt_layer_rng(lt_layer *l) { return l && l->ops->rng ? l->ops->rng(l) : NULL; }
int lt_layer_is_container(const lt_layer *l) { return l->ops->is_container; }

static const lt_config_entry *find(const lt_layer_config *c, const char *key) {
  for (int i = 0; c && i < c->n; i++)
    if (c->e[i].key && !strcmp(c->e[i].key, key)) return &c->e[i];
  return NULL;
}

lt_status lt_config_keys(const lt_layer_config *c, const char *kind, const char *const *keys) {
  if (c && (c->n < 0 || c->n > LT_CONFIG_MAX)) return lt_error(LT_EINVAL, "%s: a config of %d settings", kind, c->n);
  for (int i = 0; c && i < c->n; i++) {
    const char *k = c->e[i].key;
    if (!k) return lt_error(LT_EINVAL, "%s: a setting without a key", kind);
    int known = 0;
    for (int j = 0; keys[j] && !known; j++) known = !strcmp(keys[j], k);
    if (!known) {
      char list[128] = "";
      for (int j = 0, w = 0; keys[j] && w < (int)sizeof list; j++)
        w += snprintf(list + w, sizeof list - w, "%s%s", j ? ", " : "", keys[j]);
      return keys[0] ? lt_error(LT_EINVAL, "%s: unknown setting '%s' (it takes %s)", kind, k, list)
                     : lt_error(LT_EINVAL, "%s: unknown setting '%s' (it takes none)", kind, k);
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(c->e[j].key, k)) return lt_error(LT_EINVAL, "%s: setting '%s' given twice", kind, k);
  }
  return LT_OK;
}

lt_status lt_config_int(const lt_layer_config *c, const char *kind, const char *key, int64_t lo, int64_t hi,
                        int64_t def, int64_t *v) {
  const lt_config_entry *e = find(c, key);
  if (!e) {
    if (def == LT_CONFIG_REQUIRED) return lt_error(LT_EINVAL, "%s: setting '%s' is missing", kind, key);
    *v = def;
    return LT_OK;
  }
  int64_t x = e->i;
  if (e->type == LT_CONFIG_NUM) { // 3.0 from JSON or Lua (JSON holds doubles: 2^53 and up are rounded)
    if (!(e->num == floor(e->num) && e->num >= -0x1p63 && e->num <= 0x1p63))
      return lt_error(LT_EINVAL, "%s: setting '%s' must be an integer, got %g", kind, key, e->num);
    x = e->num >= 0x1p63 ? INT64_MAX : (int64_t)e->num; // 2^63 is INT64_MAX rounded up
  } else if (e->type != LT_CONFIG_INT) {
    return lt_error(LT_EINVAL, "%s: setting '%s' must be an integer, got a boolean", kind, key);
  }
  if (x < lo || x > hi)
    return lt_error(LT_EINVAL, "%s: setting '%s' must be in [%lld, %lld], got %lld", kind, key, (long long)lo,
                    (long long)hi, (long long)x);
  *v = x;
  return LT_OK;
}

lt_status lt_config_num(const lt_layer_config *c, const char *kind, const char *key, double lo, double hi, double def,
                        double *v) {
  const lt_config_entry *e = find(c, key);
  if (!e) {
    if (isnan(def)) return lt_error(LT_EINVAL, "%s: setting '%s' is missing", kind, key);
    *v = def;
    return LT_OK;
  }
  if (e->type == LT_CONFIG_BOOL) return lt_error(LT_EINVAL, "%s: setting '%s' must be a number, got a boolean", kind, key);
  double x = e->type == LT_CONFIG_INT ? (double)e->i : e->num;
  if (!(x >= lo && x < hi)) return lt_error(LT_EINVAL, "%s: setting '%s' must be in [%g, %g), got %g", kind, key, lo, hi, x);
  *v = x;
  return LT_OK;
}

lt_status lt_config_bool(const lt_layer_config *c, const char *kind, const char *key, int def, int *v) {
  const lt_config_entry *e = find(c, key);
  if (!e) {
    if (def < 0) return lt_error(LT_EINVAL, "%s: setting '%s' is missing", kind, key);
    *v = def;
    return LT_OK;
  }
  if (e->type != LT_CONFIG_BOOL) return lt_error(LT_EINVAL, "%s: setting '%s' must be a boolean", kind, key);
  *v = e->i != 0;
  return LT_OK;
}
