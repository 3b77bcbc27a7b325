/* lsys.c: lotto.sys — what a script or the training loop asks of the host: a monotonic
 * wall clock (os.clock is CPU time, wrong with BLAS threads) and whether a file
 * descriptor is a terminal (progress bars draw only there), the process id, whether
 * Ctrl-C was pressed (code that catches errors must let an interrupt through), and what
 * the engine runs on (sys.info: BLAS library, kernel, threads, CPU features). */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <lua.h>
#include <time.h>
#include <unistd.h>

#include "lbind.h"
#include "lotto/blas.h"
#include "lotto/nn.h"     // lt_conv2d_winograd
#include "lotto/status.h"
#include "lotto/tensor.h" // lt_get_threads

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

/* Pushes {library, version, kernel, threads, cpu, cpu_isa, forced, check, config, summary}
 * (tensor.blas_info and sys.info's blas): forced is 'lotto', 'user', 'fallback' or false. */
void lt_pushblasinfo(lua_State *L) {
  lt_blas_info b;
  lt_blas_info_get(&b);
  lua_createtable(L, 0, 10);
  const char *str[][2] = {{"library", b.library}, {"version", b.version}, {"kernel", b.kernel}, {"cpu", b.cpu},
                          {"cpu_isa", b.cpu_isa}, {"check", b.check}, {"config", b.config}};
  for (size_t i = 0; i < sizeof str / sizeof str[0]; i++) {
    lua_pushstring(L, str[i][1]);
    lua_setfield(L, -2, str[i][0]);
  }
  lua_pushinteger(L, b.threads);
  lua_setfield(L, -2, "threads");
  if (b.forced) lua_pushstring(L, b.forced);
  else lua_pushboolean(L, 0);
  lua_setfield(L, -2, "forced");
  lua_pushfstring(L, "%s %s, kernel %s%s%s, %d thread%s; CPU %s, %s", b.library, b.version, b.kernel,
                  b.forced ? " forced by " : "", b.forced ? b.forced : "", b.threads, b.threads == 1 ? "" : "s", b.cpu,
                  b.cpu_isa);
  lua_setfield(L, -2, "summary");
}

/* sys.info() -> {lotto, blas = tensor.blas_info(), cpu = {vendor, brand, family, model, isa,
 * features = {'avx2', ...}, cores}, threads, winograd, winograd_tile, summary}. */
static int sys_info(lua_State *L) {
  lt_cpu c;
  lt_cpu_detect(&c);
#ifdef LOTTO_VERSION
  const char *version = LOTTO_VERSION;
#else
  const char *version = "unknown";
#endif
  lua_createtable(L, 0, 6);
  lua_pushstring(L, version);
  lua_setfield(L, -2, "lotto");
  lt_pushblasinfo(L);
  lua_getfield(L, -1, "summary");
  lua_insert(L, -2);
  lua_setfield(L, -3, "blas");
  int blas_summary = lua_gettop(L);

  lua_createtable(L, 0, 7);
  lua_pushstring(L, c.vendor);
  lua_setfield(L, -2, "vendor");
  lua_pushstring(L, c.brand);
  lua_setfield(L, -2, "brand");
  lua_pushinteger(L, c.family);
  lua_setfield(L, -2, "family");
  lua_pushinteger(L, c.model);
  lua_setfield(L, -2, "model");
  lua_pushstring(L, lt_isa_name(lt_cpu_isa(&c)));
  lua_setfield(L, -2, "isa");
  // cpuid bits the engine's kernels care about; AVX and AVX-512 only where the OS saves their state
  const struct { const char *name; int on; } f[] = {
      {"avx", c.avx && c.os_ymm},           {"fma", c.fma && c.os_ymm},           {"avx2", c.avx2 && c.os_ymm},
      {"avx512f", c.avx512f && c.os_zmm},   {"avx512dq", c.avx512dq && c.os_zmm}, {"avx512cd", c.avx512cd && c.os_zmm},
      {"avx512bw", c.avx512bw && c.os_zmm}, {"avx512vl", c.avx512vl && c.os_zmm}, {"avx512bf16", c.avx512bf16 && c.os_zmm},
  };
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (f[i].on) {
      lua_pushstring(L, f[i].name);
      lua_rawseti(L, -2, ++n);
    }
  lua_setfield(L, -2, "features");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, cores > 0 ? cores : 1);
  lua_setfield(L, -2, "cores");
  lua_setfield(L, -3, "cpu");

  lua_pushinteger(L, lt_get_threads());
  lua_setfield(L, -3, "threads");
  lua_pushboolean(L, lt_conv2d_winograd(-1));
  lua_setfield(L, -3, "winograd");
  int tile = lt_conv2d_winograd_tile(0);
  lua_pushinteger(L, tile);
  lua_setfield(L, -3, "winograd_tile");
  lua_pushfstring(L, "lotto %s; %s; engine threads %d of %d cores; Winograd %s", version, lua_tostring(L, blas_summary), lt_get_threads(), (int)(cores > 0 ? cores : 1),
                  !lt_conv2d_winograd(-1) ? "off" : tile == 4 ? "on, F(4x4) where it fits" : "on");
  lua_setfield(L, -3, "summary");
  lua_pop(L, 1); // the blas summary
  return 1;
}

static const luaL_Reg sys_funcs[] = {{"now", sys_now},   {"isatty", sys_isatty}, {"pid", sys_pid},
                                     {"interrupted", sys_interrupted}, {"info", sys_info}, {NULL, NULL}};

static const lt_help_entry sys_help[] = {
    {"now", "now() -> monotonic wall-clock seconds (for timing; os.clock is CPU time)"},
    {"isatty", "isatty([fd = 1]) -> whether the file descriptor is a terminal"},
    {"pid", "pid() -> this process's id"},
    {"interrupted", "interrupted() -> true once Ctrl-C was pressed (a pcall must then re-raise)"},
    {"info", "info() -> {lotto, blas = {library, version, kernel, threads, forced, check, ...}, cpu = {vendor, brand, "
             "family, model, isa, features, cores}, threads, winograd, winograd_tile, summary}: what the engine runs on"},
    {NULL, NULL}};

int luaopen_lotto_sys(lua_State *L) {
  luaL_newlib(L, sys_funcs);
  lt_help_register(L, -1, NULL, sys_help);
  lt_help_set(L, -1, "lotto.sys: the host's clock, terminal test, pid, interrupt flag and info()");
  return 1;
}
