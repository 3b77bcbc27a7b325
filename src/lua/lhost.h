/* lhost.h: internal interface between the parts of the lotto host
 * (main.c, lhost.c, lhelp.c, lrepl*.c). Nothing here is used by the bindings. */
#ifndef LOTTO_LHOST_H
#define LOTTO_LHOST_H

#include <lua.h>
#include <stdio.h>

#define LT_PROGNAME "lotto"

/* ---- lhost.c ---- */
/* Calls the function below narg arguments with a traceback handler; while it runs,
 * SIGINT or SIGTERM sets lt_interrupt_set() and a hook that raises "interrupted!" (a
 * second one kills, as with lua). Returns the lua_pcall status; on error the message is on top. */
int lt_host_docall(lua_State *L, int narg, int nres);
/* Prints "lotto: <message on top>" to stderr and pops it when status != LUA_OK; after
 * Ctrl-C, one line instead: what the run saved and the command that resumes it. User
 * errors (raised through lotto.util) carry no traceback unless LOTTO_TRACEBACK=1 or -v. */
int lt_host_report(lua_State *L, int status);
/* Remembers the command line (without --restart) for the resume hint of lt_host_report. */
void lt_host_set_command(int argc, char **argv);
/* Prepends the lotto Lua directories to package.path and sets the globals
 * LOTTO_VERSION and LOTTO_ROOT (the dir holding lua/ and plots/; nil if not found). */
void lt_host_setpaths(lua_State *L);
/* Pushes a sorted array of the names X of the submodules lotto.X that can be required
 * (from package.preload and the lotto/ directories on the path). */
void lt_host_submodules(lua_State *L);
/* "lotto 0.1.0 (Lua 5.4.x, OpenBLAS 0.3.21 Haswell)" in a static buffer. */
const char *lt_host_version(void);
/* Two lines for --version: "BLAS: library version, kernel (who chose it), threads,
 * self-check" and "CPU: brand (vendor family model), instruction set". */
void lt_host_print_blas(FILE *f);

/* ---- lhelp.c ---- */
/* Pushes the lotto.help table (register, set, get, show; callable) and sets global help. */
int lt_help_open(lua_State *L);

/* ---- lrepl.c ---- */
/* Runs the read-eval-print loop on stdin until end of input. Readline when stdin is a
 * terminal, plain reads (prompts still printed) otherwise. */
void lt_repl_run(lua_State *L);

/* ---- lrepl_print.c ---- */
/* Replaces the n values on top of the stack by one string: their readable form. */
void lt_repl_format(lua_State *L, int n);

/* ---- lrepl_complete.c ---- */
/* Installs the readline completion of globals, fields and methods for state L. */
void lt_repl_complete_init(lua_State *L);
void lt_repl_complete_done(void); /* frees the candidate list */

#endif
