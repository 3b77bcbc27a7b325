/* ljson_decode.c: json.decode — JSON text to Lua values through cJSON, NUL-safe (cJSON
 * keeps C strings; see push_str) and strict where cJSON is lenient (a \u escape needs 4
 * hex digits). The cJSON tree is owned by a userdata while Lua values are built, so an
 * error half-way leaks nothing. */
#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "ljson.h"

#define ARRAY_MT LT_JSON_ARRAY_MT
#define BOX_MT "lotto.json.box"

typedef struct box { cJSON *root; } box;

static int box_gc(lua_State *L) {
  box *bx = luaL_checkudata(L, 1, BOX_MT);
  if (bx->root) cJSON_Delete(bx->root);
  bx->root = NULL;
  return 0;
}

/* cJSON keeps strings NUL-terminated, so "a\u0000b" would come back as "a" and two keys
 * "a\u0000b", "a\u0000c" as one. Lua strings hold any byte, and json.encode writes a NUL as
 * \u0000, so decode keeps it: when the text holds a NUL (escaped or raw), every string is
 * matched with its token in the text (tokens come in the order push_json visits keys and
 * values), and a token holding NULs is decoded piecewise by cJSON between them. */
typedef struct jtext { const char *s; size_t n, at; } jtext;

static int has_nul(const char *s, size_t n) {
  if (memchr(s, 0, n)) return 1;
  for (size_t i = 0; i + 6 <= n; i++)
    if (s[i] == '\\' && memcmp(s + i + 1, "u0000", 5) == 0) return 1;
  return 0;
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f'); }

/* The next string token: [*b, *e) between its quotes. Scans as cJSON does (a backslash
 * skips the next byte), so it finds the same ends in text cJSON accepted. */
static void next_token(jtext *t, const char **b, const char **e) {
  while (t->at < t->n && t->s[t->at] != '"') t->at++;
  size_t i = ++t->at;
  while (i < t->n && t->s[i] != '"') i += t->s[i] == '\\' ? 2 : 1;
  if (i > t->n) i = t->n;
  *b = t->s + t->at, *e = t->s + i;
  t->at = i + 1;
}

/* Checks the strings of text cJSON accepted: 1 if one holds a NUL (escaped or raw), 0 if
 * none does, -1 with *bad set at a \u escape with a non-hex digit (cJSON would read it as
 * a NUL; it is not JSON). */
static int scan_text(const char *s, size_t n, size_t *bad) {
  jtext t = {s, n, 0};
  int nul = 0;
  while (t.at < n) {
    const char *b, *e;
    next_token(&t, &b, &e);
    for (const char *p = b; p < e;) {
      if (*p == 0) nul = 1;
      if (*p != '\\') {
        p++;
        continue;
      }
      if (e - p >= 2 && p[1] == 'u') {
        if (e - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5])) {
          *bad = (size_t)(p - s);
          return -1;
        }
        if (memcmp(p + 2, "0000", 4) == 0) nul = 1;
        p += 6;
      } else p += 2;
    }
  }
  return nul;
}

/* Appends cJSON's decoding of the string body [b, e) (no NULs in it). */
static void add_piece(lua_State *L, luaL_Buffer *out, const char *b, const char *e) {
  size_t n = (size_t)(e - b);
  char *q = malloc(n + 2);
  cJSON *j = NULL;
  if (q) {
    q[0] = '"', memcpy(q + 1, b, n), q[n + 1] = '"';
    j = cJSON_ParseWithLength(q, n + 2);
    free(q);
  }
  if (!cJSON_IsString(j)) {
    cJSON_Delete(j);
    luaL_error(L, "json.decode: cannot decode a string holding a NUL");
  }
  luaL_addstring(out, j->valuestring);
  cJSON_Delete(j);
}

/* Pushes a decoded string: cJSON's, or for a token holding NULs, its pieces joined by NULs. */
static void push_str(lua_State *L, const char *str, jtext *t) {
  const char *b, *e;
  if (t) next_token(t, &b, &e);
  if (!t || !has_nul(b, (size_t)(e - b))) {
    lua_pushstring(L, str);
    return;
  }
  luaL_Buffer out;
  luaL_buffinit(L, &out);
  const char *piece = b;
  for (const char *p = b; p < e;) {
    size_t skip = *p == 0 ? 1 : (*p == '\\' && e - p >= 6 && memcmp(p + 1, "u0000", 5) == 0) ? 6 : 0;
    if (!skip) {
      p += *p == '\\' ? 2 : 1;
      continue;
    }
    add_piece(L, &out, piece, p);
    luaL_addchar(&out, '\0');
    p += skip;
    piece = p;
  }
  add_piece(L, &out, piece, e);
  luaL_pushresult(&out);
}

static void push_json(lua_State *L, const cJSON *j, jtext *t) {
  luaL_checkstack(L, 4, "json.decode: nesting too deep");
  if (cJSON_IsTrue(j)) lua_pushboolean(L, 1);
  else if (cJSON_IsFalse(j)) lua_pushboolean(L, 0);
  else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble; /* integral values within 2^53 come back as integers */
    if (d == floor(d) && fabs(d) <= 9007199254740992.0) lua_pushinteger(L, (lua_Integer)d);
    else lua_pushnumber(L, d);
  } else if (cJSON_IsString(j)) push_str(L, j->valuestring, t);
  else if (cJSON_IsArray(j)) {
    lua_createtable(L, cJSON_GetArraySize(j), 0);
    lua_Integer i = 1;
    for (const cJSON *c = j->child; c; c = c->next) push_json(L, c, t), lua_rawseti(L, -2, i++);
    luaL_setmetatable(L, ARRAY_MT);
  } else if (cJSON_IsObject(j)) {
    lua_createtable(L, 0, cJSON_GetArraySize(j));
    for (const cJSON *c = j->child; c; c = c->next) {
      push_str(L, c->string, t);
      push_json(L, c, t);
      lua_rawset(L, -3);
    }
  } else lua_pushlightuserdata(L, NULL); /* null */
}

int lt_json_decode_buf(lua_State *L, const char *s, size_t n) {
  const char *end = NULL;
  size_t at;
  box *bx = lua_newuserdatauv(L, sizeof *bx, 0);
  bx->root = NULL;
  luaL_setmetatable(L, BOX_MT);
  bx->root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
  int parsed = bx->root != NULL;
  if (parsed) {
    at = (size_t)(end - s);
    while (at < n && s[at] && strchr(" \t\r\n", s[at])) at++;
    size_t bad = 0;
    int nul = at == n ? scan_text(s, n, &bad) : 0;
    if (nul < 0) {
      cJSON_Delete(bx->root), bx->root = NULL;
      lua_pop(L, 1);
      int line = 1, col = 1;
      for (size_t i = 0; i < bad; i++) col = s[i] == '\n' ? (line++, 1) : col + 1;
      lua_pushfstring(L, "json: bad \\u escape (4 hex digits needed) at line %d, column %d (byte %I)", line, col,
                      (LUAI_UACINT)bad);
      return 0;
    }
    if (at == n) {
      jtext t = {s, n, 0};
      push_json(L, bx->root, nul ? &t : NULL);
      cJSON_Delete(bx->root), bx->root = NULL;
      lua_remove(L, -2);
      return 1;
    }
    cJSON_Delete(bx->root), bx->root = NULL;
  } else at = end ? (size_t)(end - s) : 0;
  lua_pop(L, 1);
  if (n == 0) return lua_pushliteral(L, "json: empty input"), 0;
  int line = 1, col = 1;
  for (size_t i = 0; i < at && i < n; i++) col = s[i] == '\n' ? (line++, 1) : col + 1;
  size_t near = n - at < 20 ? n - at : 20;
  lua_pushfstring(L, "json: %s at line %d, column %d (byte %I) near '", parsed ? "trailing characters" : "syntax error",
                  line, col, (LUAI_UACINT)at);
  lua_pushlstring(L, s + at, near);
  lua_pushliteral(L, "'");
  lua_concat(L, 3);
  return 0;
}

int lt_json_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (lt_json_decode_buf(L, s, n)) return 1;
  lua_pushnil(L), lua_insert(L, -2);
  return 2;
}

void lt_json_decode_init(lua_State *L) {
  lt_newmeta(L, BOX_MT, (const luaL_Reg[]){{"__gc", box_gc}, {NULL, NULL}}, NULL);
  lua_pop(L, 1);
}
