/* lhost.c: what every run of the lotto host shares: protected calls with a traceback
 * and Ctrl-C handling, error reporting, the Lua module search path (build tree or
 * installed prefix), and the raise/fail helpers the bindings use (lbind.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbind.h"
#include "lhost.h"
#include "lotto/blas.h"
#include "lotto/status.h"

/* ---- helpers for the bindings ---- */

/* luaL_error prefixes the position of the calling Lua code (level 1), so engine
 * errors read "script.lua:12: matmul: shapes ...". */
int lt_newmeta(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  if (!luaL_newmetatable(L, name)) return 0;
  if (meta) luaL_setfuncs(L, meta, 0);
  /* getmetatable(obj) gives the type's name: a script cannot take __gc/__close or
   * replace __index of an engine object (debug.getmetatable still can) */
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__metatable");
  if (methods) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
  }
  return 1;
}

int lt_raise(lua_State *L, const char *what) {
  if (what) return luaL_error(L, "%s: %s", what, lt_errmsg());
  return luaL_error(L, "%s", lt_errmsg());
}

int lt_pushfail(lua_State *L) {
  /* An interrupted engine call (LT_EINTR, or any failure after Ctrl-C) is not an
   * expected failure: it propagates, so the script stops and exits non-zero. */
  if (lt_interrupted()) return luaL_error(L, "interrupted! (%s)", lt_errmsg());
  lua_pushnil(L);
  lua_pushstring(L, lt_errmsg());
  return 2;
}

/* ---- protected calls, Ctrl-C and SIGTERM ---- */

static lua_State *volatile interrupted_L;

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* Signal handler for SIGINT and SIGTERM (what Slurm sends at a time limit, on
 * preemption and on scancel): only async-signal-safe work (lua_sethook is designed for
 * this). The hook fires between Lua instructions, never inside a C call, so an atomic
 * write in progress completes before the script unwinds. */
static void on_sigint(int sig) {
  int mask = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  signal(sig, SIG_DFL); /* a second one kills the process, as with lua */
  lt_interrupt_set();
  if (interrupted_L) lua_sethook(interrupted_L, stop_hook, mask, 1);
}

/* Whether every error shows a traceback: LOTTO_TRACEBACK=1, or -v (lotto.util.traceback). */
static int traceback_wanted(lua_State *L) {
  const char *env = getenv("LOTTO_TRACEBACK");
  if (env && *env && strcmp(env, "0") != 0) return 1;
  int on = lua_getfield(L, LUA_REGISTRYINDEX, "lotto.traceback") == LUA_TBOOLEAN && lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}

/* A user error is one raised through lotto.util (fail/raise), which keeps its message in
 * the registry: the error message ends with it (error() may have prefixed a position). */
static int is_user_error(lua_State *L, const char *msg) {
  int yes = 0;
  if (lua_getfield(L, LUA_REGISTRYINDEX, "lotto.user_error") == LUA_TSTRING) {
    size_t lu, lm = strlen(msg);
    const char *u = lua_tolstring(L, -1, &lu);
    yes = lu > 0 && lu <= lm && memcmp(msg + lm - lu, u, lu) == 0;
  }
  lua_pop(L, 1);
  return yes;
}

/* User errors and Ctrl-C get their message only; real bugs get a traceback. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if (!traceback_wanted(L) && (lt_interrupted() || is_user_error(L, msg))) {
    lua_pushstring(L, msg);
    return 1;
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int lt_host_docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  struct sigaction sa, old, oldterm;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  lt_interrupt_clear();
  interrupted_L = L;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  sigaction(SIGTERM, &sa, &oldterm);
  int status = lua_pcall(L, narg, nres, base);
  sigaction(SIGINT, &old, NULL);
  sigaction(SIGTERM, &oldterm, NULL);
  lua_sethook(L, NULL, 0, 0); /* a signal that came too late to fire must not hit the next call */
  interrupted_L = NULL;
  lua_remove(L, base);
  return status;
}

/* ---- the command line, for the resume hint printed on Ctrl-C ---- */

static char command[2048];

/* Appends s to command, single-quoted when it holds anything a shell would read. */
static void add_word(const char *s) {
  size_t n = strlen(command);
  if (n + 8 >= sizeof command) return; /* a very long command line: the hint is cut short */
  int plain = *s != '\0';
  for (const char *p = s; *p; p++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *p)) plain = 0;
  if (n) command[n++] = ' ';
  if (plain) {
    snprintf(command + n, sizeof command - n, "%s", s);
    return;
  }
  if (n < sizeof command - 1) command[n++] = '\'';
  for (const char *p = s; *p && n < sizeof command - 5; p++) {
    if (*p == '\'') {
      memcpy(command + n, "'\\''", 4);
      n += 4;
    } else {
      command[n++] = *p;
    }
  }
  if (n < sizeof command - 1) command[n++] = '\'';
  command[n < sizeof command ? n : sizeof command - 1] = '\0';
}

void lt_host_set_command(int argc, char **argv) {
  command[0] = '\0';
  for (int i = 0; i < argc; i++)
    if (i == 0 || strcmp(argv[i], "--restart") != 0) add_word(argv[i]); /* resuming must not start over */
}

/* One line for Ctrl-C: what the run stored (lotto.util.saved) and the command that resumes. */
static void report_interrupt(lua_State *L) {
  const char *saved = NULL;
  if (lua_getfield(L, LUA_REGISTRYINDEX, "lotto.saved") == LUA_TSTRING) saved = lua_tostring(L, -1);
  if (saved && command[0])
    fprintf(stderr, "%s: interrupted; saved %s; resume with: %s\n", LT_PROGNAME, saved, command);
  else
    fprintf(stderr, "%s: interrupted\n", LT_PROGNAME);
  lua_pop(L, 1);
}

int lt_host_report(lua_State *L, int status) {
  if (status != LUA_OK && lt_interrupted() && !traceback_wanted(L)) {
    fflush(stdout);
    report_interrupt(L);
    fflush(stderr);
    lua_pop(L, 1);
  } else if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", LT_PROGNAME, msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

/* ---- version ---- */

const char *lt_host_version(void) {
  static char buf[256];
  lt_blas_info b;
  lt_blas_info_get(&b);
  snprintf(buf, sizeof buf, "%s %s (%s, %s %s %s)", LT_PROGNAME, LOTTO_VERSION, LUA_RELEASE, b.library, b.version,
           b.kernel);
  return buf;
}

/* What --version adds: the BLAS and the CPU, with who chose the kernel. */
void lt_host_print_blas(FILE *f) {
  lt_blas_info b;
  lt_blas_info_get(&b);
  const char *who = !b.forced                        ? "chosen by OpenBLAS"
                    : strcmp(b.forced, "lotto") == 0 ? "chosen by lotto"
                    : strcmp(b.forced, "user") == 0  ? "set by OPENBLAS_CORETYPE"
                                                     : "OpenBLAS's own choice, after a fallback";
  fprintf(f, "BLAS: %s %s, kernel %s (%s), %d thread%s, self-check %s\n", b.library, b.version, b.kernel, who,
          b.threads, b.threads == 1 ? "" : "s", b.check);
  fprintf(f, "CPU: %s, %s\n", b.cpu, b.cpu_isa);
}

/* ---- module search path ---- */

#define MAXDIRS 6
static char luadirs[MAXDIRS][PATH_MAX];
static int nluadirs;

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add_dir(const char *dir) {
  char real[PATH_MAX];
  if (nluadirs == MAXDIRS || !is_dir(dir) || !realpath(dir, real)) return;
  for (int i = 0; i < nluadirs; i++)
    if (strcmp(luadirs[i], real) == 0) return;
  snprintf(luadirs[nluadirs++], PATH_MAX, "%s", real);
}

void lt_host_setpaths(lua_State *L) {
  char exe[PATH_MAX], dir[PATH_MAX + 32];
  const char *env = getenv("LOTTO_LUA_PATH"), *tmpl = NULL;
  nluadirs = 0;
  if (env && *env) {
    if (strchr(env, '?')) tmpl = env; /* a ready-made template, used as given */
    else add_dir(env);
  }
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(dir, sizeof dir, "%s/../lua", exe); /* build tree: <src>/build/lotto */
    add_dir(dir);
    snprintf(dir, sizeof dir, "%s/../share/lotto/lua", exe); /* prefix/bin/lotto */
    add_dir(dir);
  }
  add_dir(LOTTO_SOURCE_DIR "/lua");
  add_dir(LOTTO_INSTALL_LUADIR);

  luaL_Buffer b;
  int root = -1;
  lua_getglobal(L, "package");
  luaL_buffinit(L, &b);
  if (tmpl) {
    luaL_addstring(&b, tmpl);
    luaL_addchar(&b, ';');
  }
  for (int i = 0; i < nluadirs; i++) {
    snprintf(dir, sizeof dir, "%.4000s/lotto/init.lua", luadirs[i]);
    if (root < 0 && access(dir, R_OK) == 0) root = i;
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", luadirs[i], luadirs[i]);
    luaL_addvalue(&b);
  }
  lua_getfield(L, -2, "path");
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);

  lua_pushstring(L, LOTTO_VERSION);
  lua_setglobal(L, "LOTTO_VERSION");
  if (root >= 0) {
    snprintf(dir, sizeof dir, "%s", luadirs[root]);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = '\0';
    lua_pushstring(L, dir);
  } else {
    lua_pushnil(L);
  }
  lua_setglobal(L, "LOTTO_ROOT");
}

/* ---- submodule names, for help(lotto) and completion ---- */

static void add_name(lua_State *L, int set, const char *name, size_t len) {
  if (len == 0 || len > 64 || memchr(name, '.', len)) return;
  lua_pushlstring(L, name, len);
  lua_pushboolean(L, 1);
  lua_rawset(L, set);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void lt_host_submodules(lua_State *L) {
  lua_newtable(L);
  int set = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  if (lua_istable(L, -1)) {
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if (strncmp(k, "lotto.", 6) == 0) add_name(L, set, k + 6, strlen(k + 6));
    }
  }
  lua_pop(L, 1);
  for (int i = 0; i < nluadirs; i++) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%.4000s/lotto", luadirs[i]);
    DIR *d = opendir(path);
    if (!d) continue;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      size_t len = strlen(e->d_name);
      if (len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0 && strcmp(e->d_name, "init.lua") != 0)
        add_name(L, set, e->d_name, len - 4);
    }
    closedir(d);
  }
  /* sort the keys into an array */
  const char *names[256];
  int n = 0;
  for (lua_pushnil(L); lua_next(L, set); lua_pop(L, 1))
    if (n < 256) names[n++] = lua_tostring(L, -2);
  qsort(names, n, sizeof *names, cmp_names);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, names[i]); /* the strings stay alive: they are keys of set */
    lua_rawseti(L, -2, i + 1);
  }
  lua_remove(L, set);
}
