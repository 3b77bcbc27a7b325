/* ljson.c: lotto.json — deterministic JSON encoding (sorted keys, round-trip floats),
 * crash-tolerant JSON lines, atomic file writes (the engine's lt_io_write_atomic).
 * Decoding is ljson_decode.c; json.fs is lotto.fs (lfs.c), kept under this name too. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbind.h"
#include "ljson.h"
#include "lotto/io.h"

#define ARRAY_MT LT_JSON_ARRAY_MT
#define BUF_MT "lotto.json.buf"
#define MAXDEPTH 200

/* ---- a growable byte buffer owned by a userdata, so an error mid-encode leaks nothing ---- */
typedef struct sbuf { char *p; size_t n, cap; } sbuf;

static int sbuf_gc(lua_State *L) {
  sbuf *b = luaL_checkudata(L, 1, BUF_MT);
  free(b->p);
  b->p = NULL;
  return 0;
}

static sbuf *sbuf_push(lua_State *L) {
  sbuf *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->p = NULL, b->n = b->cap = 0;
  luaL_setmetatable(L, BUF_MT);
  return b;
}

static void sb_add(lua_State *L, sbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) luaL_error(L, "json: out of memory");
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}
#define sb_lit(L, b, s) sb_add(L, b, s, sizeof(s) - 1)

/* ---- encoder ---- */
typedef struct pathseg { const char *s; size_t len; lua_Integer i; } pathseg;
typedef struct enc {
  lua_State *L;
  sbuf *b;
  int indent, depth, seen; /* seen: stack index of the set of tables being encoded */
  pathseg path[MAXDEPTH + 1];
} enc;

/* Raises "json.encode: <what> at <path>", naming where in the value the problem is. */
static int enc_fail(enc *e, const char *what) {
  lua_State *L = e->L;
  luaL_Buffer pb;
  luaL_buffinit(L, &pb);
  if (e->depth == 0 || (!e->path[1].s && e->path[1].i == 0)) luaL_addstring(&pb, "(top level)");
  for (int d = 1; d <= e->depth; d++) {
    pathseg *p = &e->path[d];
    if (!p->s && p->i == 0) break; /* failing on this table's keys, before any value */
    if (!p->s) lua_pushfstring(L, "[%I]", (LUAI_UACINT)p->i), luaL_addvalue(&pb);
    else {
      if (d > 1) luaL_addchar(&pb, '.');
      luaL_addlstring(&pb, p->s, p->len);
    }
  }
  luaL_pushresult(&pb);
  return luaL_error(L, "json.encode: %s at %s", what, lua_tostring(L, -1));
}

static void enc_newline(enc *e, int depth) {
  if (!e->indent) return;
  sb_lit(e->L, e->b, "\n");
  for (int i = 0; i < depth * e->indent; i++) sb_lit(e->L, e->b, " ");
}

static void enc_string(enc *e, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0;
  sb_lit(e->L, e->b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[7];
    if (c == '"') esc = "\\\"";
    else if (c == '\\') esc = "\\\\";
    else if (c == '\n') esc = "\\n";
    else if (c == '\r') esc = "\\r";
    else if (c == '\t') esc = "\\t";
    else if (c < 0x20 || c == 0x7f) {
      memcpy(u, "\\u00", 4), u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = 0;
      esc = u;
    }
    if (!esc) continue;
    sb_add(e->L, e->b, s + run, i - run);
    sb_add(e->L, e->b, esc, strlen(esc));
    run = i + 1;
  }
  sb_add(e->L, e->b, s + run, n - run);
  sb_lit(e->L, e->b, "\"");
}

/* Shortest of %.15g/%.16g/%.17g that reads back to the same double; '.' whatever the locale. */
static void fmt_double(char *buf, size_t n, double d) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) break;
  }
  for (char *p = buf; *p; p++)
    if (*p == ',') *p = '.';
}

static void enc_value(enc *e, int idx);

/* 1 if the table at idx encodes as an array (marked, or keys exactly 1..n with n > 0). */
static int table_is_array(lua_State *L, int idx, lua_Integer *len) {
  if (lua_getmetatable(L, idx)) {
    luaL_getmetatable(L, ARRAY_MT);
    int marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (marked) return (*len = (lua_Integer)lua_rawlen(L, idx)), 1;
  }
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) return lua_pop(L, 1), 0;
    lua_Integer k = lua_tointeger(L, -1);
    if (k > max) max = k;
    count++;
  }
  *len = max;
  return count > 0 && max == count;
}

static int scalar_only(lua_State *L, int idx, lua_Integer n) {
  for (lua_Integer i = 1; i <= n; i++) {
    int t = lua_rawgeti(L, idx, i);
    lua_pop(L, 1);
    if (t == LUA_TTABLE) return 0;
  }
  return 1;
}

static void enc_array(enc *e, int idx, lua_Integer n) {
  lua_State *L = e->L;
  int inline_ = !e->indent || scalar_only(L, idx, n);
  sb_lit(L, e->b, "[");
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) sb_add(L, e->b, inline_ && e->indent ? ", " : ",", inline_ && e->indent ? 2 : 1);
    if (!inline_) enc_newline(e, e->depth);
    e->path[e->depth] = (pathseg){NULL, 0, i};
    lua_rawgeti(L, idx, i);
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  if (!inline_ && n > 0) enc_newline(e, e->depth - 1);
  sb_lit(L, e->b, "]");
}

typedef struct okey { const char *s; size_t len; lua_Integer i; int isint; } okey;

static int okey_cmp(const void *a, const void *b) {
  const okey *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Writes the members in key order; flat = on one line (", " between members when indenting). */
static void enc_members(enc *e, int idx, const okey *keys, size_t n, int flat) {
  lua_State *L = e->L;
  sb_lit(L, e->b, "{");
  for (size_t j = 0; j < n; j++) {
    if (j > 0 && okey_cmp(&keys[j - 1], &keys[j]) == 0) {
      lua_pushfstring(L, "duplicate key '%s' (integer and string)", keys[j].s);
      enc_fail(e, lua_tostring(L, -1));
    }
    if (j > 0) sb_add(L, e->b, ", ", flat && e->indent ? 2 : 1);
    if (!flat) enc_newline(e, e->depth);
    enc_string(e, keys[j].s, keys[j].len);
    sb_add(L, e->b, ": ", e->indent ? 2 : 1);
    e->path[e->depth] = (pathseg){keys[j].s, keys[j].len, 0};
    if (keys[j].isint) lua_pushinteger(L, keys[j].i);
    else lua_pushlstring(L, keys[j].s, keys[j].len);
    lua_rawget(L, idx);
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  if (!flat && n > 0) enc_newline(e, e->depth - 1);
  sb_lit(L, e->b, "}");
}

/* Objects are written with keys in byte order, so equal tables give identical text.
 * Integer keys become decimal strings; any other key type is an error. When indenting,
 * a small object of scalars (a stats record, a metrics row) stays on one line. */
static void enc_object(enc *e, int idx) {
  lua_State *L = e->L;
  size_t n = 0;
  int scalars = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) scalars &= lua_type(L, -1) != LUA_TTABLE, lua_pop(L, 1), n++;
  okey *keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0);
  lua_newtable(L); /* anchors the strings made from integer keys */
  int anchor = lua_gettop(L);
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    okey *o = &keys[k++];
    if (lua_type(L, -1) == LUA_TSTRING) {
      o->s = lua_tolstring(L, -1, &o->len), o->isint = 0;
    } else if (lua_isinteger(L, -1)) {
      o->i = lua_tointeger(L, -1), o->isint = 1;
      lua_pushfstring(L, "%I", (LUAI_UACINT)o->i);
      o->s = lua_tolstring(L, -1, &o->len);
      lua_rawseti(L, anchor, (lua_Integer)k);
    } else {
      lua_pushfstring(L, "object key of type %s (keys must be strings or integers)", luaL_typename(L, -1));
      enc_fail(e, lua_tostring(L, -1));
    }
  }
  qsort(keys, n, sizeof *keys, okey_cmp);
  size_t mark = e->b->n;
  int flat = !e->indent || (scalars && n <= 8);
  enc_members(e, idx, keys, n, flat);
  if (flat && e->indent && e->b->n - mark > 100) { /* too long for one line after all */
    e->b->n = mark;
    enc_members(e, idx, keys, n, 0);
  }
  lua_pop(L, 2);
}

static void enc_table(enc *e, int idx) {
  lua_State *L = e->L;
  if (e->depth >= MAXDEPTH) enc_fail(e, "nesting too deep");
  luaL_checkstack(L, 8, "json.encode: nesting too deep");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->seen) != LUA_TNIL) enc_fail(e, "cycle (a table contains itself)");
  lua_pop(L, 1);
  lua_pushvalue(L, idx), lua_pushboolean(L, 1), lua_rawset(L, e->seen);
  lua_Integer n;
  e->depth++;
  e->path[e->depth] = (pathseg){NULL, 0, 0};
  if (table_is_array(L, idx, &n)) enc_array(e, idx, n);
  else enc_object(e, idx);
  e->depth--;
  lua_pushvalue(L, idx), lua_pushnil(L), lua_rawset(L, e->seen);
}

static void enc_value(enc *e, int idx) {
  lua_State *L = e->L;
  char num[64];
  switch (lua_type(L, idx)) {
  case LUA_TNIL: sb_lit(L, e->b, "null"); break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx)) sb_lit(L, e->b, "true");
    else sb_lit(L, e->b, "false");
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    else if (!isfinite(lua_tonumber(L, idx))) strcpy(num, "null");
    else fmt_double(num, sizeof num, lua_tonumber(L, idx));
    sb_add(L, e->b, num, strlen(num));
    break;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    enc_string(e, s, n);
    break;
  }
  case LUA_TTABLE: enc_table(e, idx); break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) { sb_lit(L, e->b, "null"); break; }
    /* fallthrough */
  default: {
    const char *what = luaL_typename(L, idx);
    if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) what = lua_tostring(L, -1);
    lua_pushfstring(L, "cannot encode a %s", what);
    enc_fail(e, lua_tostring(L, -1));
  }
  }
}

/* Encodes the value at idx; pushes the buffer userdata and returns it (text in b->p, b->n). */
static sbuf *encode_at(lua_State *L, int idx, int indent) {
  idx = lua_absindex(L, idx);
  enc *e = lua_newuserdatauv(L, sizeof *e, 0); /* large: keep it off the C stack */
  e->L = L, e->indent = indent, e->depth = 0;
  lua_newtable(L);
  e->seen = lua_gettop(L);
  e->b = sbuf_push(L);
  enc_value(e, idx);
  sbuf *b = e->b;
  lua_replace(L, -3);
  lua_pop(L, 1);
  return b;
}

static int opt_indent(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return 0;
  luaL_checktype(L, i, LUA_TTABLE);
  int t = lua_getfield(L, i, "indent");
  int n = t == LUA_TBOOLEAN ? 2 * lua_toboolean(L, -1) : t == LUA_TNIL ? 0 : lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : -1;
  lua_pop(L, 1);
  luaL_argcheck(L, n >= 0 && n <= 16, i, "indent must be true, false or 0..16");
  return n;
}

static int json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  int indent = opt_indent(L, 2);
  sbuf *b = encode_at(L, 1, indent);
  lua_pushlstring(L, b->p, b->n);
  return 1;
}

/* ---- files ---- */
static int push_errno(lua_State *L, const char *path) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", path, strerror(errno));
  return 2;
}

/* Pushes the whole file as a string; returns 0 with errno set on failure. */
static int push_file(lua_State *L, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t r;
  do {
    char *p = luaL_prepbuffer(&b);
    r = fread(p, 1, LUAL_BUFFERSIZE, f);
    luaL_addsize(&b, r);
  } while (r == LUAL_BUFFERSIZE);
  int err = ferror(f);
  fclose(f);
  luaL_pushresult(&b);
  if (err) return lua_pop(L, 1), errno = EIO, 0;
  return 1;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w, n -= (size_t)w;
  }
  return 0;
}

static int json_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (!push_file(L, path)) return push_errno(L, path);
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  if (lt_json_decode_buf(L, s, n)) return 1;
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", path, lua_tostring(L, -2));
  return 2;
}

static int json_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  sbuf *b = encode_at(L, 2, opt_indent(L, 3));
  sb_lit(L, b, "\n");
  if (lt_io_write_atomic(path, b->p, b->n)) return lt_pushfail(L);
  lua_pushboolean(L, 1);
  return 1;
}

/* Cuts a partial last line (a run killed mid-write) so the next record starts on its own line. */
static int drop_partial_line(int fd) {
  struct stat st;
  char buf[4096];
  if (fstat(fd, &st)) return -1;
  off_t end = st.st_size;
  if (end == 0) return 0;
  if (pread(fd, buf, 1, end - 1) != 1) return -1;
  if (buf[0] == '\n') return 0;
  while (end > 0) {
    off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
    if (pread(fd, buf, (size_t)(end - start), start) != end - start) return -1;
    for (off_t i = end - start; i > 0; i--)
      if (buf[i - 1] == '\n') return ftruncate(fd, start + i);
    end = start;
  }
  return ftruncate(fd, 0);
}

static int json_append_line(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  sbuf *b = encode_at(L, 2, 0);
  sb_lit(L, b, "\n");
  int fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return push_errno(L, path);
  if (drop_partial_line(fd) || write_all(fd, b->p, b->n) || fsync(fd)) {
    int err = errno;
    close(fd), errno = err;
    return push_errno(L, path);
  }
  close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

/* Array of the records of a JSON-lines file. A last line without its newline is kept only
 * if it parses (a killed writer leaves a truncated one); a bad complete line is an error. */
static int json_read_lines(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (!push_file(L, path)) return push_errno(L, path);
  size_t n;
  const char *s = lua_tolstring(L, -1, &n), *p = s, *end = s + n;
  lua_newtable(L);
  luaL_setmetatable(L, ARRAY_MT);
  lua_Integer k = 0;
  for (int line = 1; p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end, *q = p;
    while (q < stop && strchr(" \t\r", *q)) q++;
    if (q < stop) {
      if (lt_json_decode_buf(L, p, (size_t)(stop - p))) lua_rawseti(L, -2, ++k);
      else if (!nl) lua_pop(L, 1);
      else {
        lua_pushnil(L);
        lua_pushfstring(L, "%s:%d: %s", path, line, lua_tostring(L, -2));
        return 2;
      }
    }
    p = nl ? nl + 1 : end;
  }
  return 1;
}

static int json_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else luaL_checktype(L, 1, LUA_TTABLE), lua_settop(L, 1);
  luaL_setmetatable(L, ARRAY_MT);
  return 1;
}

/* Conventions: json.null (a NULL light userdata) stands for null both ways, so arrays keep
 * their positions; numbers with integral values within 2^53 decode as Lua integers (so
 * encode(decode(s)) is stable); decoded arrays carry the json.array metatable, so an empty
 * one encodes back as []. Values JSON cannot hold are programming errors and raise; file
 * and parse failures return nil, message. */
static const luaL_Reg json_funcs[] = {
    {"encode", json_encode}, {"decode", lt_json_decode}, {"read", json_read}, {"write", json_write},
    {"append_line", json_append_line}, {"read_lines", json_read_lines}, {"array", json_array}, {NULL, NULL}};

static const lt_help_entry json_help[] = {
    {"encode", "json.encode(v [, {indent=true}]) -> string: keys sorted, floats round-trip, NaN/Inf -> null"},
    {"decode", "json.decode(s) -> value | nil, msg: null -> json.null; integral numbers -> integers; arrays marked"},
    {"read", "json.read(path) -> value | nil, msg"},
    {"write", "json.write(path, v [, opts]) -> true | nil, msg: atomic (temp file, fsync, rename)"},
    {"append_line", "json.append_line(path, v) -> true | nil, msg: one JSON-lines record, fsynced"},
    {"read_lines", "json.read_lines(path) -> {records} | nil, msg: drops a truncated last line"},
    {"array", "json.array([t]) -> t marked to encode as an array, even when empty"},
    {NULL, NULL}};

int luaopen_lotto_fs(lua_State *L);

int luaopen_lotto_json(lua_State *L) {
  lt_newmeta(L, BUF_MT, (const luaL_Reg[]){{"__gc", sbuf_gc}, {NULL, NULL}}, NULL);
  luaL_newmetatable(L, ARRAY_MT); /* a plain table metatable: scripts compare getmetatable(t) with it */
  lua_pop(L, 2);
  lt_json_decode_init(L);
  luaL_newlib(L, json_funcs);
  lua_pushlightuserdata(L, NULL), lua_setfield(L, -2, "null");
  luaL_getmetatable(L, ARRAY_MT), lua_setfield(L, -2, "array_mt");
  luaL_requiref(L, "lotto.fs", luaopen_lotto_fs, 0); /* json.fs: the same table as lotto.fs */
  lua_setfield(L, -2, "fs");
  lt_help_register(L, -1, NULL, json_help);
  return 1;
}
