/* main.c: the lotto host: checks the BLAS kernel (re-executing once to select a better
 * one), parses the command line like lua (script, -e, -l, -i, -), sets up the Lua
 * state (libraries, paths, the `lotto` global, help) and runs scripts, the `plot`
 * and `sweep` subcommands or the REPL. */
#define _GNU_SOURCE
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbind.h"
#include "lhost.h"
#include "lotto/blas.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: " LT_PROGNAME " [options] [script [args...]]\n"
          "       " LT_PROGNAME " plot <rundir> [options]           (lotto plot --help)\n"
          "       " LT_PROGNAME " run <config.lua|config.json> [options]  (lotto run --help)\n"
          "       " LT_PROGNAME " sweep <script.lua> | status | collect | unit ... (" LT_PROGNAME " sweep --help)\n"
          "Options:\n"
          "  -e stat        execute string 'stat' (repeatable)\n"
          "  -l mod         require library 'mod' into global 'mod' (-l g=mod: into g)\n"
          "  -i             enter the interactive REPL after running the script\n"
          "  -v, --version  show version information (and a traceback with every error)\n"
          "  -h, --help     show this help\n"
          "  --             stop handling options\n"
          "  -              run stdin as a script and stop handling options\n"
          "With no arguments: the REPL when stdin is a terminal, else stdin as a script.\n"
          "Every example and subcommand answers --help (lotto examples/lenet_imp.lua --help).\n"
          "Errors print their message; LOTTO_TRACEBACK=1 (or -v) adds the traceback.\n"
          "Environment: LOTTO_LUA_PATH = directory holding lotto/*.lua (overrides the default).\n"
          "  OPENBLAS_CORETYPE = the BLAS kernel (default: OpenBLAS's choice, or lotto's when\n"
          "  OpenBLAS falls short of the CPU); LOTTO_BLAS=library keeps OpenBLAS's choice,\n"
          "  LOTTO_BLAS=override lets lotto replace OPENBLAS_CORETYPE. --version shows the kernel.\n");
}

enum { HAS_E = 1, HAS_I = 2, HAS_V = 4, HAS_H = 8 };

/* Scans options; returns flags, or -1 on a bad option. *script = index of the script
 * (argc if none). */
static int collect_args(int argc, char **argv, int *script) {
  int flags = 0, i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-i") == 0) flags |= HAS_I;
    else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) flags |= HAS_V;
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) flags |= HAS_H;
    else if ((a[1] == 'e' || a[1] == 'l')) {
      if (a[1] == 'e') flags |= HAS_E;
      if (a[2] == '\0' && (++i >= argc || argv[i][0] == '-')) {
        fprintf(stderr, "%s: '%s' needs an argument\n", LT_PROGNAME, a);
        return -1;
      }
    } else {
      fprintf(stderr, "%s: unrecognized option '%s'\n", LT_PROGNAME, a);
      return -1;
    }
  }
  *script = i;
  return flags;
}

/* arg = {[-n..-1] = interpreter and options, [0] = script, [1..] = script args}. */
static void create_argtable(lua_State *L, int argc, char **argv, int script) {
  if (script == argc) script = 0; /* no script: arg[0] is the interpreter */
  lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = lt_host_docall(L, 0, 0);
  return lt_host_report(L, status);
}

/* Runs -e and -l options in order. */
static int run_options(lua_State *L, char **argv, int script) {
  for (int i = 1; i < script; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l')) continue;
    const char *v = a[2] ? a + 2 : argv[++i];
    int st;
    if (a[1] == 'e') {
      st = dochunk(L, luaL_loadbuffer(L, v, strlen(v), "=(command line)"));
    } else {
      const char *eq = strchr(v, '='); /* -l g=mod: global g = require 'mod' */
      lua_getglobal(L, "require");
      lua_pushstring(L, eq ? eq + 1 : v);
      st = lt_host_docall(L, 1, 1);
      if (st == LUA_OK) {
        char g[256];
        snprintf(g, sizeof g, "%.*s", eq ? (int)(eq - v) : (int)strlen(v), v);
        lua_setglobal(L, g);
      }
      lt_host_report(L, st);
    }
    if (st != LUA_OK) return 0;
  }
  return 1;
}

static int run_script(lua_State *L, int argc, char **argv, int script) {
  const char *fname = argv[script];
  if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL; /* stdin */
  int st = luaL_loadfile(L, fname);
  if (st == LUA_OK) {
    int n = argc - script - 1; /* script arguments, also passed as ... */
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    st = lt_host_docall(L, n, 0);
  }
  return lt_host_report(L, st) == LUA_OK;
}

/* lotto plot <rundir> [...]: require('lotto.plot').run(rundir, ...);
 * lotto run <config> [...]: require('lotto.run').main(config, ...). */
static int run_plot(lua_State *L, int argc, char **argv) {
  int is_run = strcmp(argv[1], "run") == 0;
  if (argc < 3) {
    fprintf(stderr, "usage: %s %s\n", LT_PROGNAME,
            is_run ? "run <config.lua | config.json> [options] (--help)" : "plot <rundir> [options] (--help)");
    return 0;
  }
  lua_getglobal(L, "require");
  lua_pushstring(L, is_run ? "lotto.run" : "lotto.plot");
  int st = lt_host_docall(L, 1, 1);
  if (st == LUA_OK) {
    lua_getfield(L, -1, is_run ? "main" : "run");
    if (!lua_isfunction(L, -1)) {
      fprintf(stderr, "%s %s: the module has no entry function\n", LT_PROGNAME, argv[1]);
      return 0;
    }
    for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    st = lt_host_docall(L, argc - 2, 2);
  }
  if (st != LUA_OK) return lt_host_report(L, st), 0; /* "lotto: plot: ...", a traceback only for bugs */
  if (!lua_toboolean(L, -2) && lua_isstring(L, -1)) { /* nil, message */
    fprintf(stderr, "%s %s: %s\n", LT_PROGNAME, argv[1], lua_tostring(L, -1));
    return 0;
  }
  return 1;
}

/* lotto sweep ...: require('lotto.sweep.cli').main(args...) returns the exit status
 * (0 done, 1 failed, 75 interrupted: resumable, as a Slurm requeue expects). */
static int run_sweep(lua_State *L, int argc, char **argv) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lotto.sweep.cli");
  int st = lt_host_docall(L, 1, 1);
  if (st == LUA_OK) {
    lua_getfield(L, -1, "main");
    for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    st = lt_host_docall(L, argc - 2, 1);
  }
  if (st != LUA_OK) {
    fprintf(stderr, "%s sweep: %s\n", LT_PROGNAME, lua_tostring(L, -1));
    return EXIT_FAILURE;
  }
  return lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : (lua_toboolean(L, -1) ? 0 : EXIT_FAILURE);
}

/* Libraries, paths, `lotto` global and help; failures to load lotto only warn. */
static void setup_state(lua_State *L) {
  luaL_openlibs(L);
  lt_openlibs(L);
  lt_host_setpaths(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, lt_help_open);
  lua_setfield(L, -2, "lotto.help");
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lotto.help");
  lua_call(L, 1, 1); /* also defines the global help */
  int helpt = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lotto");
  if (lt_host_docall(L, 1, 1) != LUA_OK) {
    fprintf(stderr, "%s: warning: the lotto library did not load: %s\n", LT_PROGNAME,
            lua_tostring(L, -1));
    lua_settop(L, helpt - 1);
    return;
  }
  if (lua_istable(L, -1)) {
    lua_getfield(L, helpt, "register");
    lua_setfield(L, -2, "_help_register"); /* lotto._help_register(tbl, {name = text}) */
  }
  lua_setglobal(L, "lotto");
  lua_settop(L, helpt - 1);
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script, ok = 1;
  setup_state(L);
  lt_host_set_command(argc, argv);
  if (argc >= 2 && (strcmp(argv[1], "plot") == 0 || strcmp(argv[1], "run") == 0)) {
    create_argtable(L, argc, argv, 1);
    lua_pushboolean(L, run_plot(L, argc, argv));
    return 1;
  }
  if (argc >= 2 && strcmp(argv[1], "sweep") == 0) { /* an integer result: the exit status */
    lua_pushinteger(L, run_sweep(L, argc, argv));
    return 1;
  }
  int flags = collect_args(argc, argv, &script);
  if (flags < 0) {
    usage(stderr);
    return 0;
  }
  if (flags & HAS_H) {
    usage(stdout);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (flags & (HAS_V | HAS_I)) printf("%s\n", lt_host_version());
  if (flags & HAS_V) {
    lt_host_print_blas(stdout);
    lua_pushboolean(L, 1); /* -v: tracebacks for user errors too */
    lua_setfield(L, LUA_REGISTRYINDEX, "lotto.traceback");
  }
  create_argtable(L, argc, argv, script);
  ok = run_options(L, argv, script);
  if (ok && script < argc) ok = run_script(L, argc, argv, script);
  if (ok && (flags & HAS_I)) {
    lt_repl_run(L);
  } else if (ok && script == argc && !(flags & (HAS_E | HAS_V))) {
    if (isatty(STDIN_FILENO)) {
      printf("%s\n", lt_host_version());
      lt_repl_run(L);
    } else {
      ok = dochunk(L, luaL_loadfile(L, NULL)) == LUA_OK;
    }
  }
  lua_pushboolean(L, ok);
  return 1;
}

/* OpenBLAS chose its kernel when it loaded, from OPENBLAS_CORETYPE or the CPU models
 * it knows; another kernel needs a fresh process with OPENBLAS_CORETYPE set. So when
 * lotto/blas.h decides the library fell short of this CPU, lotto re-executes itself
 * once, before any state exists, with the guard variable set so that it never loops
 * (a kernel that fails the self-check gets one more re-execution, back to the library's
 * own choice). On failure to re-execute it runs on as it is, and says so. */
static void blas_startup(char **argv) {
  lt_cpu cpu;
  lt_cpu_detect(&cpu);
  const char *old_core = getenv("OPENBLAS_CORETYPE"), *old_guard = getenv(LT_BLAS_GUARD);
  lt_blas_env env = {old_core, old_guard, getenv("LOTTO_BLAS")};
  char check[160];
  int bad = lt_blas_check(check, sizeof check);
  lt_blas_decision d;
  lt_blas_decide(&d, &cpu, lt_blas_corename(), lt_blas_is_dynamic(), &env, bad <= 0);
  if (d.warning[0]) fprintf(stderr, "%s: warning: %s\n", LT_PROGNAME, d.warning);
  if (bad > 0) fprintf(stderr, "%s: BLAS self-check: %s\n", LT_PROGNAME, check);
  if (d.action != LT_BLAS_REEXEC) return;
  char saved_core[64] = "", saved_guard[64] = "";
  if (old_core) snprintf(saved_core, sizeof saved_core, "%s", old_core);
  if (old_guard) snprintf(saved_guard, sizeof saved_guard, "%s", old_guard);
  if (d.coretype[0]) setenv("OPENBLAS_CORETYPE", d.coretype, 1);
  else unsetenv("OPENBLAS_CORETYPE");
  setenv(LT_BLAS_GUARD, d.guard, 1);
  fflush(stdout);
  fflush(stderr);
  execv("/proc/self/exe", argv);
  fprintf(stderr, "%s: warning: could not re-execute to select BLAS kernel %s (%s); running on %s\n", LT_PROGNAME,
          d.coretype[0] ? d.coretype : "(OpenBLAS's own)", strerror(errno), lt_blas_corename());
  if (old_core) setenv("OPENBLAS_CORETYPE", saved_core, 1); /* the environment tells the truth again */
  else unsetenv("OPENBLAS_CORETYPE");
  if (old_guard) setenv(LT_BLAS_GUARD, saved_guard, 1);
  else unsetenv(LT_BLAS_GUARD);
}

int main(int argc, char **argv) {
  blas_startup(argv);
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", LT_PROGNAME);
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int code = status == LUA_OK && lua_toboolean(L, -1) ? EXIT_SUCCESS : EXIT_FAILURE;
  if (status == LUA_OK && lua_isinteger(L, -1)) code = (int)lua_tointeger(L, -1);
  if (status != LUA_OK) lt_host_report(L, status);
  fflush(stdout);
  lua_close(L);
  return code;
}
