/* lproc.c: lotto.proc, the few process operations a sweep needs that Lua lacks:
 * start a worker (its own process group, output to a log file), wait for workers
 * without blocking, signal them, sleep, and a little about this process (pid, host,
 * executable, usable cores, whether an interrupt arrived). POSIX only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lbind.h"
#include "lotto/status.h"

static int push_errno(lua_State *L, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(errno));
  return 2;
}

static const char *const SIGNAMES[] = {"TERM", "INT", "KILL", "CONT", "0", NULL};
static const int SIGNUMS[] = {SIGTERM, SIGINT, SIGKILL, SIGCONT, 0};

/* proc.spawn({exe, args...}[, {log = path, env = {NAME = value}}]) -> pid | nil, msg.
 * The child gets its own process group, so a Ctrl-C at the terminal reaches only the
 * parent, which decides what its workers get. stdout and stderr go to log (appended). */
static int proc_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2); /* what follows pushes above the arguments */
  int n = (int)luaL_len(L, 1);
  luaL_argcheck(L, n >= 1, 1, "{program, args...} expected");
  const char *log = NULL;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "log");
    log = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1); /* stays on the stack: alive */
    lua_getfield(L, 2, "env");
    if (!lua_isnil(L, -1)) luaL_argcheck(L, lua_istable(L, -1), 2, "env must be a table of strings");
  }
  /* everything the child needs, built before fork (no allocation after it) */
  char **argv = lua_newuserdatauv(L, sizeof(char *) * (n + 1), 0);
  for (int i = 1; i <= n; i++) { /* strings only: the table keeps them alive */
    if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
      return luaL_argerror(L, 1, lua_pushfstring(L, "element %d is not a string", i));
    argv[i - 1] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  argv[n] = NULL;
  /* the environment: this process's, with env's names replaced or added. Built here
   * because the child of a threaded process may only make async-signal-safe calls. */
  extern char **environ;
  int nold = 0, nnew = 0, k = 0;
  while (environ[nold]) nold++;
  int envt = 0;
  if (!lua_isnoneornil(L, 2)) {
    lua_getfield(L, 2, "env");
    if (lua_istable(L, -1)) {
      envt = lua_gettop(L);
      for (lua_pushnil(L); lua_next(L, envt); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
          return luaL_argerror(L, 2, "env must map names to strings");
        nnew++;
      }
    }
  }
  char **envp = lua_newuserdatauv(L, sizeof(char *) * (nold + nnew + 1), 0);
  luaL_checkstack(L, nnew + 4, "too many environment variables");
  for (int i = 0; i < nold; i++) {
    const char *eq = strchr(environ[i], '=');
    int replaced = 0;
    if (envt && eq) {
      lua_pushlstring(L, environ[i], (size_t)(eq - environ[i]));
      replaced = lua_rawget(L, envt) != LUA_TNIL;
      lua_pop(L, 1);
    }
    if (!replaced) envp[k++] = environ[i];
  }
  if (envt)
    for (lua_pushnil(L); lua_next(L, envt); lua_pop(L, 1)) { /* each string stays on the stack */
      envp[k++] = (char *)lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
      lua_insert(L, envt + 1);
    }
  envp[k] = NULL;
  int logfd = -1;
  if (log) {
    logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) return push_errno(L, log);
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    if (logfd >= 0) close(logfd);
    return push_errno(L, "fork");
  }
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (logfd >= 0) {
      dup2(logfd, STDOUT_FILENO);
      dup2(logfd, STDERR_FILENO);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  if (logfd >= 0) close(logfd);
  setpgid(pid, pid); /* also from the parent: no race with an early kill of the group */
  lua_pushinteger(L, pid);
  return 1;
}

/* proc.wait([pid = any child[, nohang]]) -> pid, 'exit'|'signal', code
 *   | false when nohang and nothing has ended | nil, msg ('interrupted', no children). */
static int proc_wait(lua_State *L) {
  pid_t pid = (pid_t)luaL_optinteger(L, 1, -1);
  int status, nohang = lua_toboolean(L, 2);
  pid_t r = waitpid(pid, &status, nohang ? WNOHANG : 0);
  if (r == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (r < 0) {
    lua_pushnil(L);
    lua_pushstring(L, errno == EINTR ? "interrupted" : strerror(errno));
    return 2;
  }
  lua_pushinteger(L, r);
  if (WIFSIGNALED(status)) {
    lua_pushliteral(L, "signal");
    lua_pushinteger(L, WTERMSIG(status));
  } else {
    lua_pushliteral(L, "exit");
    lua_pushinteger(L, WEXITSTATUS(status));
  }
  return 3;
}

/* proc.kill(pid, 'TERM'|'INT'|'KILL'|'CONT'|'0'[, group]) -> true | nil, msg. */
static int proc_kill(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int sig = SIGNUMS[luaL_checkoption(L, 2, NULL, SIGNAMES)]; /* no default: say which */
  luaL_argcheck(L, pid > 1, 1, "a process id above 1 expected");
  if (kill(lua_toboolean(L, 3) ? -pid : pid, sig) != 0) return push_errno(L, "kill");
  lua_pushboolean(L, 1);
  return 1;
}

/* proc.alive(pid) -> true when a process with this id exists (on this machine). */
static int proc_alive(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  lua_pushboolean(L, pid > 0 && (kill(pid, 0) == 0 || errno == EPERM));
  return 1;
}

/* proc.sleep(seconds) -> true, or false when a signal cut it short. */
static int proc_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s < 1e6, 1, "seconds must be in [0, 1e6)");
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  lua_pushboolean(L, nanosleep(&ts, NULL) == 0);
  return 1;
}

static int proc_pid(lua_State *L) {
  lua_pushinteger(L, getpid());
  return 1;
}

static int proc_hostname(lua_State *L) {
  char h[256];
  if (gethostname(h, sizeof h) != 0) return push_errno(L, "gethostname");
  h[sizeof h - 1] = '\0';
  lua_pushstring(L, h);
  return 1;
}

/* proc.exe() -> absolute path of the running lotto executable | nil, msg. */
static int proc_exe(lua_State *L) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return push_errno(L, "/proc/self/exe");
  buf[n] = '\0';
  lua_pushstring(L, buf);
  return 1;
}

/* proc.cpus() -> cores this process may run on (its affinity: a Slurm task's share). */
static int proc_cpus(lua_State *L) {
  cpu_set_t set;
  long n = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, n < 1 ? 1 : n);
  return 1;
}

/* proc.interrupted() -> true once SIGINT or SIGTERM reached the running script. */
static int proc_interrupted(lua_State *L) {
  lua_pushboolean(L, lt_interrupted());
  return 1;
}

static const luaL_Reg funcs[] = {{"spawn", proc_spawn},       {"wait", proc_wait},   {"kill", proc_kill},
                                 {"alive", proc_alive},       {"sleep", proc_sleep}, {"pid", proc_pid},
                                 {"hostname", proc_hostname}, {"exe", proc_exe},     {"cpus", proc_cpus},
                                 {"interrupted", proc_interrupted}, {NULL, NULL}};

static const lt_help_entry help[] = {
    {"spawn", "spawn({program, args...}[, {log = path, env = {NAME = value}}]) -> pid | nil, msg: own process group"},
    {"wait", "wait([pid[, nohang]]) -> pid, 'exit'|'signal', code | false (nohang, none ended) | nil, msg"},
    {"kill", "kill(pid, 'TERM'|'INT'|'KILL'|'CONT'|'0'[, group]) -> true | nil, msg"},
    {"alive", "alive(pid) -> true when the process exists on this machine"},
    {"sleep", "sleep(seconds) -> true | false when a signal cut it short"},
    {"pid", "pid() -> this process's id"},
    {"hostname", "hostname() -> this machine's name"},
    {"exe", "exe() -> absolute path of the lotto executable"},
    {"cpus", "cpus() -> cores this process may use (its CPU affinity)"},
    {"interrupted", "interrupted() -> true once SIGINT or SIGTERM reached the running script"},
    {NULL, NULL}};

int luaopen_lotto_proc(lua_State *L) {
  luaL_newlib(L, funcs);
  lt_help_register(L, lua_gettop(L), NULL, help);
  return 1;
}
