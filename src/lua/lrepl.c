/* lrepl.c: the read-eval-print loop. Reads lines with readline (terminal) or plain
 * reads (pipes: prompts still printed), continues incomplete statements, prints
 * results, survives every error, and keeps history in ~/.lotto_history. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "lhost.h"

#define PROMPT "lotto> "
#define PROMPT2 "    >> "
#define HISTORY_MAX 1000

enum { READ_EOF = 0, READ_LINE = 1, READ_CANCEL = -1 };

static int use_readline;
static char history_path[4096];
static volatile sig_atomic_t prompt_sigint;
static char *cb_line;
static int cb_done;

static pthread_t repl_thread;

/* The kernel gives a process-directed SIGINT to any thread that does not block it, and
 * OpenBLAS starts its threads before main with nothing blocked: one that takes the
 * signal passes it on to the REPL's thread, whose pselect (or read) must wake up. */
static void on_prompt_sigint(int sig) {
  if (!pthread_equal(pthread_self(), repl_thread)) {
    pthread_kill(repl_thread, sig);
    return;
  }
  prompt_sigint = 1;
}

/* ---- reading one line ---- */

static void on_line(char *line) {
  cb_line = line;
  cb_done = 1;
  rl_callback_handler_remove(); /* else readline would redisplay the prompt */
}

/* Readline through its callback interface, so that Ctrl-C can clear the line and
 * return to the caller without killing anything. SIGINT stays blocked except inside
 * pselect, so a Ctrl-C that comes while readline works is seen by the next pselect. */
static int read_tty(const char *prompt, char **out) {
  int rc = READ_EOF, fd = fileno(rl_instream ? rl_instream : stdin);
  sigset_t block, orig, waitmask;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &orig);
  waitmask = orig;
  sigdelset(&waitmask, SIGINT);
  cb_done = 0;
  cb_line = NULL;
  rl_callback_handler_install(prompt, on_line);
  while (!cb_done) {
    if (prompt_sigint) { /* checked before waiting too: readline may unblock SIGINT */
      prompt_sigint = 0;
      rl_callback_sigcleanup();
      rl_replace_line("", 0);
      fputs("^C", rl_outstream ? rl_outstream : stdout);
      rl_crlf();
      rl_callback_handler_remove();
      rc = READ_CANCEL;
      break;
    }
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fd, &fds);
    int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &waitmask);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rl_callback_handler_remove();
      break;
    }
    rl_callback_read_char();
  }
  sigprocmask(SIG_SETMASK, &orig, NULL);
  if (cb_done && cb_line) {
    *out = cb_line;
    rc = READ_LINE;
  }
  return rc; /* at end of input readline has already ended the line */
}

static int read_plain(const char *prompt, char **out) {
  char *buf = NULL;
  size_t cap = 0;
  fputs(prompt, stdout);
  fflush(stdout);
  errno = 0;
  ssize_t n = prompt_sigint ? -1 : getline(&buf, &cap, stdin);
  if (n < 0) {
    free(buf);
    if (prompt_sigint) {
      prompt_sigint = 0;
      clearerr(stdin);
      fputc('\n', stdout);
      return READ_CANCEL;
    }
    fputc('\n', stdout); /* end the last prompt's line */
    return READ_EOF;
  }
  if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
  if (n > 0 && buf[n - 1] == '\r') buf[--n] = '\0';
  *out = buf;
  return READ_LINE;
}

static int lines_added; /* history entries added since read_chunk began */

/* Reads a line (malloc'd, no newline); Ctrl-C clears it (the REPL's SIGINT handler is
 * on_prompt_sigint except while lt_host_docall runs code). */
static int read_line(const char *prompt, char **out) {
  prompt_sigint = 0; /* a Ctrl-C from before the prompt is stale */
  int rc = use_readline ? read_tty(prompt, out) : read_plain(prompt, out);
  if (rc == READ_LINE && use_readline && (*out)[0] != '\0') {
    add_history(*out);
    lines_added++;
    if (history_path[0] && append_history(1, history_path) != 0) history_path[0] = '\0';
  }
  return rc;
}

/* ---- history ---- */

static void history_start(void) {
  const char *home = getenv("HOME");
  using_history();
  stifle_history(HISTORY_MAX);
  history_path[0] = '\0';
  if (!home || !*home) return;
  snprintf(history_path, sizeof history_path, "%s/.lotto_history", home);
  int fd = open(history_path, O_WRONLY | O_CREAT | O_APPEND, 0600); /* append_history needs it */
  if (fd < 0) {
    history_path[0] = '\0'; /* HOME not writable: keep history in memory only */
    return;
  }
  close(fd);
  read_history(history_path);
}

static void history_stop(void) {
  if (history_path[0]) history_truncate_file(history_path, HISTORY_MAX);
  clear_history();
}

/* ---- compiling a chunk that may span lines ---- */

static int incomplete(lua_State *L, int status) {
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  return status == LUA_ERRSYNTAX && msg && len >= 5 && strcmp(msg + len - 5, "<eof>") == 0;
}

/* Compiles the chunk on top (replacing it by the function, or by the error message).
 * Returns the load status, or -1 (source left on top) when more input is needed. */
static int try_compile(lua_State *L) {
  size_t len;
  const char *src = lua_tolstring(L, -1, &len);
  const char *ret = lua_pushfstring(L, "return %s;", src); /* expressions print their value */
  int st = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
  if (st == LUA_OK) {
    lua_replace(L, -3);
    lua_pop(L, 1);
    return LUA_OK;
  }
  int more = incomplete(L, st);
  lua_pop(L, 2);
  st = luaL_loadbuffer(L, src, len, "=stdin");
  if (st == LUA_OK || !(more || incomplete(L, st))) {
    lua_remove(L, -2); /* the function or the error message replaces the source */
    return st;
  }
  lua_pop(L, 1);
  return -1;
}

/* "exit", "quit", "exit()" or "quit()", blanks around allowed. */
static int is_quit(const char *line) {
  while (*line == ' ' || *line == '\t') line++;
  size_t n = strlen(line);
  while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\n' || line[n - 1] == ';')) n--;
  static const char *const words[] = {"exit", "quit", "exit()", "quit()"};
  for (int i = 0; i < 4; i++)
    if (n == strlen(words[i]) && strncmp(line, words[i], n) == 0) return 1;
  return 0;
}

/* Reads and compiles one chunk. Returns LUA_OK (function on top), a Lua error status
 * (message on top), or READ_EOF / READ_CANCEL as negative values -100 / -101. */
#define CHUNK_EOF (-100)
#define CHUNK_CANCEL (-101)
/* The last n history entries become one (joined by newlines), so a statement typed over
 * several lines comes back whole with the up arrow. The file keeps one line each. */
static void join_history(int n) {
  if (!use_readline || n < 2 || n > history_length) return;
  size_t len = 0;
  for (int i = history_length - n; i < history_length; i++) {
    HIST_ENTRY *h = history_get(history_base + i);
    len += (h && h->line ? strlen(h->line) : 0) + 1;
  }
  char *all = malloc(len + 1);
  if (!all) return;
  all[0] = '\0';
  for (int i = history_length - n; i < history_length; i++) {
    HIST_ENTRY *h = history_get(history_base + i);
    if (i > history_length - n) strcat(all, "\n");
    if (h && h->line) strcat(all, h->line);
  }
  for (int k = 0; k < n; k++) {
    HIST_ENTRY *h = remove_history(history_length - 1);
    if (h) free_history_entry(h);
  }
  add_history(all);
  free(all);
}

static int read_chunk_lines(lua_State *L);

static int read_chunk(lua_State *L) {
  lines_added = 0;
  int st = read_chunk_lines(L);
  join_history(lines_added);
  return st;
}

static int read_chunk_lines(lua_State *L) {
  char *line = NULL;
  int rc = read_line(PROMPT, &line);
  if (rc != READ_LINE) return rc == READ_EOF ? CHUNK_EOF : CHUNK_CANCEL;
  if (is_quit(line)) { /* what python and R users type to leave */
    free(line);
    return CHUNK_EOF;
  }
  if (line[0] == '=') lua_pushfstring(L, "return %s", line + 1); /* lua 5.1 habit */
  else lua_pushstring(L, line);
  free(line);
  for (;;) {
    int st = try_compile(L);
    if (st != -1) return st;
    rc = read_line(PROMPT2, &line);
    if (rc == READ_CANCEL) {
      lua_pop(L, 1);
      return CHUNK_CANCEL;
    }
    if (rc == READ_EOF) { /* report what is missing */
      size_t len;
      const char *src = lua_tolstring(L, -1, &len);
      st = luaL_loadbuffer(L, src, len, "=stdin");
      lua_remove(L, -2);
      return st == LUA_OK ? st : LUA_ERRSYNTAX;
    }
    lua_pushliteral(L, "\n");
    lua_pushstring(L, line);
    lua_concat(L, 3);
    free(line);
  }
}

/* ---- printing ---- */

/* "error: msg" with the traceback trimmed of the REPL's own frames. */
static void print_error(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  if (msg == NULL) msg = "(error object is not a string)";
  const char *tb = strstr(msg, "\nstack traceback:");
  fflush(stdout);
  fprintf(stderr, "error: %.*s\n", (int)(tb ? tb - msg : (long)strlen(msg)), msg);
  if (tb) {
    /* keep frames inside functions the line called; drop [C] glue and the main chunk;
     * show nothing when no Lua function is left (an error straight from a builtin) */
    luaL_Buffer b;
    int kept = 0;
    const char *p = strchr(tb + 1, '\n');
    luaL_buffinit(L, &b);
    while (p && *p) {
      const char *e = strchr(p + 1, '\n');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (!memmem(p, n, "in main chunk", 13) && !memmem(p, n, "[C]: in ?", 9) &&
          !memmem(p, n, "[C]: in function 'error'", 24)) {
        luaL_addlstring(&b, p, n);
        if (!memmem(p, n, "[C]: in", 7) && !memmem(p, n, "(...tail calls...)", 18)) kept++;
      }
      p = e;
    }
    luaL_pushresult(&b);
    if (kept) fprintf(stderr, "stack traceback:%s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  fflush(stderr);
  lua_pop(L, 1);
}

static void print_results(lua_State *L, int base) {
  int n = lua_gettop(L) - base;
  if (n <= 0) return;
  lt_repl_format(L, n);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  fwrite(s, 1, len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  lua_pop(L, 1);
}

void lt_repl_run(lua_State *L) {
  use_readline = isatty(STDIN_FILENO);
  repl_thread = pthread_self();
  if (use_readline) {
    rl_readline_name = "lotto";
    rl_catch_signals = 0; /* our handler decides what Ctrl-C means */
    history_start();
    lt_repl_complete_init(L);
    printf("help() for help, Ctrl-D or exit() to quit\n");
  }
  /* installed for the whole session, so no Ctrl-C between two lines can kill it */
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_prompt_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  int base = lua_gettop(L);
  for (;;) {
    lua_settop(L, base);
    int st = read_chunk(L);
    if (st == CHUNK_EOF) break;
    if (st == CHUNK_CANCEL) continue;
    if (st == LUA_OK) st = lt_host_docall(L, 0, LUA_MULTRET);
    if (st == LUA_OK) print_results(L, base);
    else print_error(L);
  }
  lua_settop(L, base);
  sigaction(SIGINT, &old, NULL);
  if (use_readline) {
    history_stop();
    lt_repl_complete_done();
  }
  fflush(stdout);
}
