/* lhelp.c: help(x). One-line texts live in a registry table with weak keys, keyed by
 * the value they describe (a function, a module table, or a userdata metatable);
 * bindings fill it with lt_help_register/lt_help_set, Lua modules with lotto.help.register. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "lbind.h"
#include "lhost.h"

#define HELP_TEXTS "lotto.help.texts" /* value -> text */
#define HELP_NAMES "lotto.help.names" /* value -> name it was registered under */

static void push_weak(lua_State *L, const char *key) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, key);
}

/* Records text (and name, if not NULL) for the value at index i. */
static void set_entry(lua_State *L, int i, const char *name, const char *text) {
  i = lua_absindex(L, i);
  if (lua_isnoneornil(L, i) || (lua_type(L, i) == LUA_TNUMBER && lua_tonumber(L, i) != lua_tonumber(L, i)))
    return; /* nil and NaN cannot be table keys */
  push_weak(L, HELP_TEXTS);
  lua_pushvalue(L, i);
  lua_pushstring(L, text);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  if (name) {
    push_weak(L, HELP_NAMES);
    lua_pushvalue(L, i);
    lua_pushstring(L, name);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
}

void lt_help_set(lua_State *L, int i, const char *text) { set_entry(L, i, NULL, text); }

/* Pushes the table where the methods of the type with metatable mt live: its __index
 * when that is a table, else mt itself. */
static void push_methods(lua_State *L, int mt) {
  if (lua_getfield(L, mt, "__index") != LUA_TTABLE) {
    lua_pop(L, 1);
    if (lua_getfield(L, mt, "__methods") == LUA_TTABLE) return; /* __index is a function (tensor) */
    lua_pop(L, 1);
    lua_pushvalue(L, mt); /* classes written in Lua often keep methods in the metatable */
  }
}

static void register_one(lua_State *L, int t, int methods, const char *name, const char *text) {
  if (name[0] == ':') {
    if (methods == 0) return;
    lua_pushstring(L, name + 1);
    lua_rawget(L, methods);
  } else {
    lua_pushstring(L, name);
    lua_rawget(L, t);
  }
  set_entry(L, -1, name, text);
  lua_pop(L, 1);
}

void lt_help_register(lua_State *L, int t, const char *prefix, const lt_help_entry *h) {
  int methods = 0;
  t = lua_absindex(L, t);
  if (prefix && luaL_getmetatable(L, prefix) == LUA_TTABLE) {
    push_methods(L, lua_gettop(L));
    methods = lua_gettop(L);
  }
  for (; h && h->name; h++)
    if (h->text) register_one(L, t, methods, h->name, h->text);
  if (prefix) lua_pop(L, methods ? 2 : 1);
}

/* help.register(tbl, {name = text, ...} [, methods]): methods is a metatable name
 * (string) or a metatable/class table; names ':m' are looked up there. */
static int help_register(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  int methods = 0;
  if (lua_type(L, 3) == LUA_TSTRING) {
    if (luaL_getmetatable(L, lua_tostring(L, 3)) != LUA_TTABLE)
      return luaL_argerror(L, 3, "no such metatable name");
  } else if (lua_istable(L, 3)) lua_pushvalue(L, 3);
  else luaL_argexpected(L, lua_isnoneornil(L, 3), 3, "metatable name or table");
  if (lua_istable(L, -1) && lua_gettop(L) > 3) {
    push_methods(L, lua_gettop(L));
    methods = lua_gettop(L);
  }
  for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) continue;
    register_one(L, 1, methods, lua_tostring(L, -2), lua_tostring(L, -1));
  }
  return 0;
}

/* help.set(value, text) */
static int help_set(lua_State *L) {
  luaL_argcheck(L, !lua_isnoneornil(L, 1), 1, "a value to describe expected");
  set_entry(L, 1, NULL, luaL_checkstring(L, 2));
  return 0;
}

/* Pushes the text for the value at i (or nil); returns whether there was one. */
static int get_text(lua_State *L, int i, const char *key) {
  i = lua_absindex(L, i);
  push_weak(L, key);
  lua_pushvalue(L, i);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (lua_isstring(L, -1)) return 1;
  lua_pop(L, 1);
  lua_pushnil(L);
  return 0;
}

static int help_get(lua_State *L) {
  luaL_checkany(L, 1);
  get_text(L, 1, HELP_TEXTS);
  return 1;
}

/* Whether text already starts with a signature naming name (e.g. "zeros(shape) ..."). */
static int names_itself(const char *text, const char *name) {
  if (name[0] == ':') name++;
  size_t n = strlen(name), w = strcspn(text, " (\t");
  for (size_t i = 0; n && i + n <= w; i++)
    if (strncmp(text + i, name, n) == 0) return 1;
  return 0;
}

/* Prints the entry of the value at index i: "name  text" or just text. */
static void print_entry(lua_State *L, int i, const char *indent, const char *name, int width) {
  int top = lua_gettop(L);
  get_text(L, i, HELP_TEXTS);
  const char *text = lua_tostring(L, -1);
  /* in a listing (indent), a long text shows its first line: help(f) shows the rest */
  int n = text ? (*indent ? (int)strcspn(text, "\n") : (int)strlen(text)) : 0;
  if (name == NULL && get_text(L, i, HELP_NAMES)) name = lua_tostring(L, -1);
  if (text == NULL) printf("%s%s\n", indent, name ? name : "?");
  else if (name == NULL || names_itself(text, name)) printf("%s%.*s\n", indent, n, text);
  else printf("%s%-*s  %.*s\n", indent, width, name, n, text);
  lua_settop(L, top);
}

/* Lists the functions of table t, sorted: documented ones with their line, the others
 * on one "no help" line (only if any is documented, or always when force). Returns the
 * number documented. prefix (":" for methods) goes before each name. */
static int list_table(lua_State *L, int t, const char *prefix, int force) {
  int top = lua_gettop(L), n = 0, documented = 0, width = 4;
  lua_newtable(L);
  int keys = top + 1;
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (k && k[0] != '_' && lua_type(L, -1) == LUA_TFUNCTION) {
      lua_pushvalue(L, -2);
      lua_rawseti(L, keys, ++n);
      int len = (int)(strlen(k) + strlen(prefix));
      if (len > width && len <= 20) width = len;
    }
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, keys);
  lua_call(L, 1, 0);
  lua_newtable(L);
  int rest = lua_gettop(L), nrest = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, keys, i);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (get_text(L, -1, HELP_TEXTS)) documented++;
    lua_pop(L, 3);
  }
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, keys, i);
    const char *k = lua_tostring(L, -1);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (get_text(L, -1, HELP_TEXTS)) {
      char name[128];
      snprintf(name, sizeof name, "%s%s", prefix, k);
      print_entry(L, -2, "  ", name, width);
    } else {
      lua_pushfstring(L, "%s%s", prefix, k);
      lua_rawseti(L, rest, ++nrest);
    }
    lua_pop(L, 3);
  }
  if (nrest > 0 && (documented > 0 || force)) {
    lua_getfield(L, rest - 1, "concat");
    lua_pushvalue(L, rest);
    lua_pushliteral(L, ", ");
    lua_call(L, 2, 1);
    printf("  %s: %s\n", documented ? "no help" : "functions", lua_tostring(L, -1));
  }
  lua_settop(L, top);
  return documented;
}

static void intro(void) {
  printf("lotto: lottery-ticket experiments in Lua (" LT_PROGNAME " %s).\n"
         "  help(f)            one line about a function, e.g. help(lotto.tensor.zeros)\n"
         "  help(lotto.tensor) the documented functions of a module; help(t) a value's methods\n"
         "  lotto.<TAB>        completes modules, fields, and methods after ':'\n"
         "Example:\n"
         "  t = lotto.tensor.zeros{2, 3}\n"
         "  print(t)\n"
         "  help(t)\n",
         LOTTO_VERSION);
}

/* help("lotto.tensor.zeros"): a string naming a global, dotted. Leaves the value or nil. */
static void resolve_name(lua_State *L, const char *s) {
  lua_pushglobaltable(L);
  while (*s && !lua_isnil(L, -1)) {
    size_t n = strcspn(s, ".");
    lua_pushlstring(L, s, n);
    if (lua_istable(L, -2)) lua_gettable(L, -2);
    else lua_pushnil(L);
    lua_remove(L, -2);
    s += n + (s[n] == '.');
  }
}

/* help([x]) */
static int help_show(lua_State *L) {
  if (lua_isnone(L, 1)) {
    intro();
    return 0;
  }
  lua_settop(L, 1);
  if (lua_type(L, 1) == LUA_TSTRING && !get_text(L, 1, HELP_TEXTS)) {
    lua_pop(L, 1);
    resolve_name(L, lua_tostring(L, 1));
    if (!lua_isnil(L, -1)) lua_replace(L, 1);
  }
  lua_settop(L, 1);
  int type = lua_type(L, 1), found = 0;
  if (get_text(L, 1, HELP_TEXTS)) {
    print_entry(L, 1, "", NULL, 0);
    found = 1;
  }
  lua_pop(L, 1);
  if (type == LUA_TTABLE) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "lotto");
    if (lua_rawequal(L, -1, 1)) {
      lt_host_submodules(L);
      lua_getglobal(L, "table");
      lua_getfield(L, -1, "concat");
      lua_pushvalue(L, -3);
      lua_pushliteral(L, ", lotto.");
      lua_call(L, 2, 1);
      if (!found) printf("lotto: the library; its modules load on first use.\n");
      printf("  modules: lotto.%s\n", lua_tostring(L, -1));
      found = 1;
    }
    lua_settop(L, 1);
    if (list_table(L, 1, "", !found) > 0) found = 1;
  }
  if ((type == LUA_TTABLE || type == LUA_TUSERDATA) && lua_getmetatable(L, 1)) {
    int mt = lua_gettop(L);
    if (!found && get_text(L, mt, HELP_TEXTS)) {
      print_entry(L, mt, "", NULL, 0);
      found = 1;
    }
    push_methods(L, mt);
    if (list_table(L, lua_gettop(L), ":", found || type == LUA_TUSERDATA) > 0) found = 1;
  }
  if (!found) printf("no help for this value (a %s)\n", luaL_typename(L, 1));
  fflush(stdout);
  return 0;
}

static int help_call(lua_State *L) { /* lotto.help(x): the table is callable */
  lua_remove(L, 1);
  return help_show(L);
}

int lt_help_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"register", help_register}, {"set", help_set},
                                   {"get", help_get},           {"show", help_show},
                                   {NULL, NULL}};
  static const lt_help_entry docs[] = {
      {"register", "register(tbl, {name = text, ...} [, methods]): document tbl's fields; "
                   "names ':m' are methods of the metatable (name or table) methods"},
      {"set", "set(value, text): document one value (a function, table or metatable)"},
      {"get", "get(value): the help text of value, or nil"},
      {"show", "show([x]) or help([x]): print the help for x"},
      {NULL, NULL}};
  luaL_newlib(L, funcs);
  lt_help_register(L, -1, NULL, docs);
  lua_newtable(L);
  lua_pushcfunction(L, help_call);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  lua_pushliteral(L, "lotto.help: one-line help texts for functions, modules and types");
  lt_help_set(L, -2, lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, -1, "show");
  lua_setglobal(L, "help");
  return 1;
}
