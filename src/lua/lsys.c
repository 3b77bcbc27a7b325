/* lsys.c: lotto.sys — what a script or the training loop asks of the host: a monotonic
 * wall clock (os.clock is CPU time, wrong with BLAS threads) and whether a file
 * descriptor is a terminal (progress bars draw only there), the process id, and whether
 * Ctrl-C was pressed (code that catches errors must let an interrupt through). */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <lua.h>
#include <time.h>
#include <unistd.h>

#include "lbind.h"
#include "lotto/status.h"

/* sys.now() -> monotonic wall-clock seconds. */
static int sys_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
  return 1;
}

/* sys.isatty([fd = 1]) -> boolean. */
static int sys_isatty(lua_State *L) {
  lua_Integer fd = luaL_optinteger(L, 1, 1);
  luaL_argcheck(L, fd >= 0 && fd <= 1 << 20, 1, "not a file descriptor");
  lua_pushboolean(L, isatty((int)fd));
  return 1;
}

/* sys.pid() -> the process id. */
static int sys_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* sys.interrupted() -> true once Ctrl-C was pressed during the current script or REPL line. */
static int sys_interrupted(lua_State *L) {
  lua_pushboolean(L, lt_interrupted());
  return 1;
}

static const luaL_Reg sys_funcs[] = {
    {"now", sys_now}, {"isatty", sys_isatty}, {"pid", sys_pid}, {"interrupted", sys_interrupted}, {NULL, NULL}};

static const lt_help_entry sys_help[] = {
    {"now", "now() -> monotonic wall-clock seconds (for timing; os.clock is CPU time)"},
    {"isatty", "isatty([fd = 1]) -> whether the file descriptor is a terminal"},
    {"pid", "pid() -> this process's id"},
    {"interrupted", "interrupted() -> true once Ctrl-C was pressed (a pcall must then re-raise)"},
    {NULL, NULL}};

int luaopen_lotto_sys(lua_State *L) {
  luaL_newlib(L, sys_funcs);
  lt_help_register(L, -1, NULL, sys_help);
  lt_help_set(L, -1, "lotto.sys: the host's clock, terminal test, pid and interrupt flag");
  return 1;
}
