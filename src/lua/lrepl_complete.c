/* lrepl_complete.c: readline Tab completion for the REPL: globals and keywords, fields
 * after '.', methods after ':'. Only plain dotted names are evaluated (no calls), in
 * a protected call; owns the candidate list of the current completion. */
#define _GNU_SOURCE
#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

#include "lhost.h"

static lua_State *compL;
static char **cands;
static size_t ncands, capcands;

static const char *const keywords[] = {"and",   "break",  "do",   "else", "elseif", "end",
                                       "false", "for",    "function", "goto", "if", "in",
                                       "local", "nil",    "not",  "or",   "repeat", "return",
                                       "then",  "true",   "until", "while", NULL};

static void add_cand(const char *base, size_t baselen, const char *key) {
  if (ncands == capcands) {
    size_t cap = capcands ? 2 * capcands : 64;
    char **p = realloc(cands, cap * sizeof *p);
    if (!p) return;
    cands = p;
    capcands = cap;
  }
  size_t klen = strlen(key);
  char *s = malloc(baselen + klen + 1);
  if (!s) return;
  memcpy(s, base, baselen);
  memcpy(s + baselen, key, klen + 1);
  cands[ncands++] = s;
}

static void free_cands(void) {
  for (size_t i = 0; i < ncands; i++) free(cands[i]);
  ncands = 0;
}

static int is_ident(const char *s, size_t n) {
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
  return 1;
}

/* Adds the string keys of the table at idx that start with prefix; then those of its
 * metatable's __index when that is a table (depth-limited, for class chains). */
static void add_keys(lua_State *L, int idx, const char *base, size_t baselen, const char *prefix,
                     int methods, int depth) {
  size_t plen = strlen(prefix);
  idx = lua_absindex(L, idx);
  if (lua_istable(L, idx)) {
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING) continue;
      size_t klen;
      const char *k = lua_tolstring(L, -2, &klen);
      if (!is_ident(k, klen) || strncmp(k, prefix, plen) != 0) continue;
      if (methods && !lua_isfunction(L, -1)) continue;
      add_cand(base, baselen, k);
    }
  }
  if (depth < 4 && lua_getmetatable(L, idx)) {
    if (lua_getfield(L, -1, "__index") == LUA_TTABLE) {
      add_keys(L, -1, base, baselen, prefix, methods, depth + 1);
    } else { /* an __index function keeps its methods in __methods (tensor) */
      lua_pop(L, 1);
      if (lua_getfield(L, -1, "__methods") == LUA_TTABLE) add_keys(L, -1, base, baselen, prefix, methods, depth + 1);
    }
    lua_pop(L, 2);
  }
}

/* Protected: arg 1 = the text being completed (light userdata). */
static int collect(lua_State *L) {
  const char *text = lua_touserdata(L, 1);
  const char *dot = strrchr(text, '.'), *colon = strrchr(text, ':');
  const char *sep = colon > dot ? colon : dot;
  if (sep == NULL) { /* a global name or a keyword */
    lua_pushglobaltable(L);
    add_keys(L, -1, "", 0, text, 0, 0);
    for (int i = 0; keywords[i]; i++)
      if (strncmp(keywords[i], text, strlen(text)) == 0) add_cand("", 0, keywords[i]);
    return 0;
  }
  /* resolve base: a.b.c, identifiers only; ':' may appear only as the last separator */
  lua_pushglobaltable(L);
  for (const char *p = text; p < sep;) {
    size_t n = strcspn(p, ".:");
    if (p + n > sep) n = (size_t)(sep - p);
    if (!is_ident(p, n) || (p[n] == ':' && p + n != sep) || !lua_istable(L, -1)) return 0;
    lua_pushlstring(L, p, n);
    lua_gettable(L, -2); /* may run __index (e.g. lotto's lazy modules): that is fine */
    lua_remove(L, -2);
    p += n + 1;
  }
  int t = lua_type(L, -1);
  if (t != LUA_TTABLE && t != LUA_TUSERDATA && t != LUA_TSTRING) return 0;
  size_t baselen = (size_t)(sep - text) + 1;
  add_keys(L, -1, text, baselen, sep + 1, *sep == ':', 0);
  /* lotto's submodules load on first use: offer those not loaded yet */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "lotto");
  if (*sep == '.' && lua_rawequal(L, -1, -3)) {
    lt_host_submodules(L);
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
      const char *k = lua_tostring(L, -1);
      if (strncmp(k, sep + 1, strlen(sep + 1)) == 0) add_cand(text, baselen, k);
      lua_pop(L, 1);
    }
  }
  return 0;
}

static int cmp_cands(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *generator(const char *text, int state) {
  static size_t next;
  (void)text;
  if (state == 0) next = 0;
  return next < ncands ? strdup(cands[next++]) : NULL;
}

static char **complete(const char *text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1; /* never fall back to file names */
  rl_completion_append_character = '\0';
  free_cands();
  if (!compL || !lua_checkstack(compL, 8)) return NULL;
  int top = lua_gettop(compL);
  lua_pushcfunction(compL, collect);
  lua_pushlightuserdata(compL, (void *)text);
  lua_pcall(compL, 1, 0, 0); /* an error just means no candidates */
  lua_settop(compL, top);
  if (ncands == 0) return NULL;
  qsort(cands, ncands, sizeof *cands, cmp_cands);
  size_t u = 1; /* drop duplicates (a key found in a table and in its __index) */
  for (size_t i = 1; i < ncands; i++) {
    if (strcmp(cands[i], cands[u - 1]) == 0) free(cands[i]);
    else cands[u++] = cands[i];
  }
  ncands = u;
  return rl_completion_matches(text, generator);
}

void lt_repl_complete_init(lua_State *L) {
  compL = L;
  rl_attempted_completion_function = complete;
  /* '.' and ':' are not word breaks, so "t:mat" arrives whole */
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(}[]),+-*/%^#~";
}

void lt_repl_complete_done(void) {
  free_cands();
  free(cands);
  cands = NULL;
  capcands = 0;
  compL = NULL;
}
