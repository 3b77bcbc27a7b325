/* lio.c: Lua binding of file I/O, module `lotto.io`: safetensors save/load/info and
 * atomic whole-file writes. Writers and open files live in userdata boxes with __gc,
 * so an error raised half-way through leaks nothing. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "lotto/io.h"

#define WRITER_BOX "lotto.io.writer"
#define FILE_BOX "lotto.io.file"

static int writer_gc(lua_State *L) {
  lt_st_writer **p = luaL_checkudata(L, 1, WRITER_BOX);
  lt_st_writer_free(*p);
  *p = NULL;
  return 0;
}

static int file_gc(lua_State *L) {
  lt_st_file **p = luaL_checkudata(L, 1, FILE_BOX);
  lt_st_close(*p);
  *p = NULL;
  return 0;
}

/* Pushes an empty box with metatable `name` (and __gc gc). */
static void **newbox(lua_State *L, const char *name, lua_CFunction gc) {
  void **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = NULL;
  if (lt_newmeta(L, name, NULL, NULL)) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The dtype requested for name in the dtypes table at index t (0 = none): default F32. */
static lt_dtype dtype_for(lua_State *L, int t, const char *name) {
  if (!t) return LT_DT_F32;
  lt_rawfield(L, t, name);
  lt_dtype dt = LT_DT_F32;
  if (!lua_isnil(L, -1)) {
    const char *s = lua_tostring(L, -1);
    if (!s || lt_dtype_parse(s, &dt) != 0)
      luaL_error(L, "save: dtype of \"%s\" must be 'F32', 'U8', 'I32' or 'BOOL' (got %s)", name,
                 s ? s : luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return dt;
}

/* io.save(path, {name = tensor, ...}[, {dtypes = {name = 'U8'}, metadata = {k = 'v'}}]) -> true.
 * Tensors are stored in name order, so equal inputs give identical files. */
static int io_save(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int dtypes = 0, meta = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lt_rawfield(L, 3, "dtypes") != LUA_TNIL) {
      luaL_argcheck(L, lua_istable(L, -1), 3, "dtypes must be a table");
      dtypes = lua_gettop(L);
    } else {
      lua_pop(L, 1);
    }
    if (lt_rawfield(L, 3, "metadata") != LUA_TNIL) {
      luaL_argcheck(L, lua_istable(L, -1), 3, "metadata must be a table");
      meta = lua_gettop(L);
    } else {
      lua_pop(L, 1);
    }
  }
  size_t n = 0;
  for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) return luaL_argerror(L, 2, "tensor names must be strings");
    if (!lt_totensor(L, -1))
      return luaL_argerror(L, 2, lua_pushfstring(L, "\"%s\" is a %s, not a tensor", lua_tostring(L, -2), luaL_typename(L, -1)));
    n++;
  }
  const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0); /* GC-owned */
  size_t k = 0;
  for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) names[k++] = lua_tostring(L, -2); /* anchored as keys */
  qsort(names, n, sizeof *names, cmp_str);
  lt_st_writer **w = (lt_st_writer **)newbox(L, WRITER_BOX, writer_gc);
  *w = lt_st_writer_new();
  if (!*w) return luaL_error(L, "save: out of memory");
  for (k = 0; k < n; k++) {
    lt_dtype dt = dtype_for(L, dtypes, names[k]); /* before the tensor pointer is taken */
    lt_rawfield(L, 2, names[k]);
    lt_tensor *t = lt_checktensor(L, -1);
    if (lt_st_writer_add_tensor(*w, names[k], t, dt)) return lt_raise(L, "save");
    lua_pop(L, 1);
  }
  if (meta)
    for (lua_pushnil(L); lua_next(L, meta); lua_pop(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        return luaL_argerror(L, 3, "metadata must map strings to strings");
      lua_pushvalue(L, -1); /* tostring on a copy: lua_next needs the original */
      const char *v = lua_tostring(L, -1);
      lt_status s = lt_st_writer_meta(*w, lua_tostring(L, -3), v);
      lua_pop(L, 1);
      if (s) return lt_raise(L, "save");
    }
  if (lt_st_writer_commit(*w, path)) return lt_pushfail(L); /* the file system said no: nil, message */
  lua_pushboolean(L, 1);
  return 1;
}

/* Opens path in a box on the stack; returns NULL (with nil, message pushed) on failure. */
static lt_st_file *open_boxed(lua_State *L, const char *path) {
  lt_st_file **f = (lt_st_file **)newbox(L, FILE_BOX, file_gc);
  if (lt_st_open(f, path)) {
    lt_pushfail(L);
    return NULL;
  }
  return *f;
}

static void push_metadata(lua_State *L, const lt_st_file *f) {
  lua_createtable(L, 0, (int)lt_st_meta_count(f));
  const char *key, *value;
  for (size_t i = 0; lt_st_meta_at(f, i, &key, &value) == 0; i++) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
  }
}

static void push_shape(lua_State *L, const lt_st_entry *e) {
  lua_createtable(L, e->ndim, 0);
  for (int d = 0; d < e->ndim; d++) {
    lua_pushinteger(L, e->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
}

/* The index of the first byte of a U8/BOOL entry that is neither 0 nor 1, or -1. */
static long long first_non01(const lt_st_entry *e) {
  if (e->dtype != LT_DT_U8 && e->dtype != LT_DT_BOOL) return -1;
  for (size_t j = 0; j < e->numel; j++)
    if (e->data[j] > 1) return (long long)j;
  return -1;
}

/* io.load(path[, {i32 = 'tensor'|'table', u8 = 'mask'|'strict'}]) -> {name = tensor}, metadata;
 * or nil, message. I32 entries load as float tensors (exact up to 2^24) unless i32 =
 * 'table': a flat row-major list of integers. U8/BOOL entries load as 0/1 float tensors
 * (any nonzero byte is 1); with u8 = 'strict' a byte other than 0 and 1 makes the file
 * damaged (nil, message), as a run's own masks must be. */
static int io_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int i32_table = 0, strict = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lt_rawfield(L, 2, "i32");
    static const char *const modes[] = {"tensor", "table", NULL};
    i32_table = luaL_checkoption(L, -1, "tensor", modes) == 1;
    lua_pop(L, 1);
    lt_rawfield(L, 2, "u8");
    static const char *const u8modes[] = {"mask", "strict", NULL};
    strict = luaL_checkoption(L, -1, "mask", u8modes) == 1;
    lua_pop(L, 1);
  }
  lt_st_file *f = open_boxed(L, path);
  if (!f) return 2;
  lua_createtable(L, 0, (int)lt_st_count(f));
  for (size_t i = 0; i < lt_st_count(f); i++) {
    const lt_st_entry *e = lt_st_entry_at(f, i);
    long long bad = strict ? first_non01(e) : -1;
    if (bad >= 0) {
      lua_pushnil(L);
      lua_pushfstring(L, "%s: mask \"%s\" holds %d at index %d (a mask is 0 or 1)", path, e->name, (int)e->data[bad],
                      (int)bad);
      return 2;
    }
    if (i32_table && e->dtype == LT_DT_I32) {
      int32_t *v = lua_newuserdatauv(L, (e->numel ? e->numel : 1) * sizeof *v, 0);
      lt_st_entry_read(e, v);
      lua_createtable(L, (int)e->numel, 0);
      for (size_t j = 0; j < e->numel; j++) {
        lua_pushinteger(L, v[j]);
        lua_rawseti(L, -2, (lua_Integer)j + 1);
      }
      lua_remove(L, -2);
    } else {
      lt_tensor *t;
      if (lt_st_entry_tensor(&t, e)) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, lt_errmsg());
        return 2;
      }
      lt_pushtensor(L, t);
    }
    lua_setfield(L, -2, e->name);
  }
  push_metadata(L, f);
  return 2;
}

/* io.info(path) -> {name = {dtype =, shape = {...}}}, metadata; or nil, message. */
static int io_info(lua_State *L) {
  lt_st_file *f = open_boxed(L, luaL_checkstring(L, 1));
  if (!f) return 2;
  lua_createtable(L, 0, (int)lt_st_count(f));
  for (size_t i = 0; i < lt_st_count(f); i++) {
    const lt_st_entry *e = lt_st_entry_at(f, i);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, lt_dtype_name(e->dtype));
    lua_setfield(L, -2, "dtype");
    push_shape(L, e);
    lua_setfield(L, -2, "shape");
    lua_setfield(L, -2, e->name);
  }
  push_metadata(L, f);
  return 2;
}

/* io.write_atomic(path, string) -> true, or nil, message (as lotto.fs.write_atomic). */
static int io_write_atomic(lua_State *L) {
  size_t n;
  const char *path = luaL_checkstring(L, 1), *s = luaL_checklstring(L, 2, &n);
  if (lt_io_write_atomic(path, s, n)) return lt_pushfail(L);
  lua_pushboolean(L, 1);
  return 1;
}

/* io.read_file(path) -> string, or nil, message. */
static int io_read_file(lua_State *L) {
  char *buf;
  size_t n;
  if (lt_io_read_file(luaL_checkstring(L, 1), &buf, &n)) return lt_pushfail(L);
  lua_pushlstring(L, buf, n);
  free(buf);
  return 1;
}

static const luaL_Reg funcs[] = {{"save", io_save},          {"load", io_load},           {"info", io_info},
                                 {"write_atomic", io_write_atomic}, {"read_file", io_read_file}, {NULL, NULL}};

static const lt_help_entry help[] = {
    {"save", "save(path, {name = tensor}[, {dtypes = {name = 'U8'|'I32'}, metadata = {k = 'v'}}]) -> true: "
             "a safetensors file, written atomically; U8 stores nonzero as 1; nil, message if it cannot be written"},
    {"load", "load(path[, {i32 = 'table', u8 = 'strict'}]) -> {name = tensor}, metadata, or nil, message; U8 masks "
             "load as 0/1 (strict: a byte other than 0/1 is an error)"},
    {"info", "info(path) -> {name = {dtype =, shape =}}, metadata, or nil, message (converts no tensors)"},
    {"write_atomic", "write_atomic(path, string) -> true | nil, message: temp file, fsync, rename"},
    {"read_file", "read_file(path) -> string, or nil, message"},
    {NULL, NULL}};

int luaopen_lotto_io(lua_State *L) {
  luaL_newlib(L, funcs);
  lt_help_register(L, lua_gettop(L), "lotto.io", help);
  return 1;
}
