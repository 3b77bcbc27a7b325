/* lfs.c: lotto.fs — the few file-system calls the run store, the plots and the scripts
 * need: exists, isdir, mkdir_p, listdir, remove, remove_tree, read, write_atomic, and
 * lock (an exclusive flock on a file holding the owner's pid: one writer per run).
 * Writes and mkdir -p are the engine's (lt_io_write_atomic, lt_io_mkdirs, io/io.c).
 * Misuse (a non-string path, refusing to delete "/") raises; a failure of the file
 * system returns nil, "cannot <do> <path>: <reason>". lotto.json.fs is this table. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbind.h"
#include "lotto/io.h"

#define ARRAY_MT "lotto.json.array" /* so that an empty listing encodes as [] */
#define LOCK_MT "lotto.fs.lock"

static int push_errno(lua_State *L, const char *what, const char *path, int err) {
  lua_pushnil(L);
  lua_pushfstring(L, "cannot %s %s: %s", what, path, strerror(err));
  return 2;
}

static int push_true(lua_State *L) {
  lua_pushboolean(L, 1);
  return 1;
}

static int fs_exists(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0);
  return 1;
}

static int fs_isdir(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
  return 1;
}

static int fs_mkdir_p(lua_State *L) {
  size_t n;
  const char *path = luaL_checklstring(L, 1, &n);
  luaL_argcheck(L, n > 0 && n < 4096, 1, "path is empty or too long");
  if (lt_io_mkdirs(path)) return lt_pushfail(L);
  return push_true(L);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted array of the entries of a directory (without . and ..), or nil, message. */
static int fs_listdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_newtable(L);
  int t = lua_gettop(L);
  DIR *d = opendir(path);
  if (!d) return push_errno(L, "list", path, errno);
  lua_Integer n = 0;
  for (struct dirent *de; (de = readdir(d));)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) lua_pushstring(L, de->d_name), lua_rawseti(L, t, ++n);
  closedir(d);
  const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
  for (lua_Integer i = 1; i <= n; i++) lua_rawgeti(L, t, i), names[i - 1] = lua_tostring(L, -1), lua_pop(L, 1);
  qsort(names, n, sizeof *names, name_cmp);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) lua_pushstring(L, names[i - 1]), lua_rawseti(L, -2, i);
  luaL_setmetatable(L, ARRAY_MT);
  return 1;
}

static int fs_remove(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (remove(path)) return push_errno(L, "remove", path, errno);
  return push_true(L);
}

static int rmtree(const char *path) {
  struct stat st;
  if (lstat(path, &st)) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlink(path);
  DIR *d = opendir(path);
  if (!d) return -1;
  size_t pl = strlen(path);
  int rc = 0, err = 0;
  for (struct dirent *de; rc == 0 && (de = readdir(d));) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    size_t nl = strlen(de->d_name);
    char *child = malloc(pl + nl + 2);
    if (!child) {
      rc = -1, err = ENOMEM;
      break;
    }
    memcpy(child, path, pl), child[pl] = '/', memcpy(child + pl + 1, de->d_name, nl + 1);
    if ((rc = rmtree(child))) err = errno;
    free(child);
  }
  closedir(d);
  if (rc) return errno = err, -1;
  return rmdir(path);
}

/* Deletes a file or a whole directory tree (symlinks are removed, not followed).
 * A missing path is not an error. Refuses "", "/", "." and "..". */
static int fs_remove_tree(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  luaL_argcheck(L, *path && strcmp(path, "/") && strcmp(base, ".") && strcmp(base, ".."), 1,
                "refusing to remove this path");
  if (rmtree(path)) return push_errno(L, "remove", path, errno);
  return push_true(L);
}

static int fs_read(lua_State *L) {
  char *buf;
  size_t n;
  if (lt_io_read_file(luaL_checkstring(L, 1), &buf, &n)) return lt_pushfail(L);
  lua_pushlstring(L, buf, n);
  free(buf);
  return 1;
}

static int fs_write_atomic(lua_State *L) {
  size_t n;
  const char *path = luaL_checkstring(L, 1), *s = luaL_checklstring(L, 2, &n);
  if (lt_io_write_atomic(path, s, n)) return lt_pushfail(L);
  return push_true(L);
}


/* ---- locks ------------------------------------------------------------------------ */

/* A lock is an open descriptor holding flock(LOCK_EX) on its file; closing the handle
 * (close, __close, __gc) or the death of the process releases it. The file keeps the
 * holder's pid so that a refused process can say who holds it. */
typedef struct { int fd; } fs_lock;

static fs_lock *checklock(lua_State *L, int i) { return luaL_checkudata(L, i, LOCK_MT); }

static int lock_close(lua_State *L) {
  fs_lock *k = checklock(L, 1);
  if (k->fd >= 0) close(k->fd); /* closing drops the flock */
  k->fd = -1;
  return 0;
}

static int lock_held(lua_State *L) {
  lua_pushboolean(L, checklock(L, 1)->fd >= 0);
  return 1;
}

static int lock_tostring(lua_State *L) {
  lua_pushstring(L, checklock(L, 1)->fd >= 0 ? "lotto.fs.lock (held)" : "lotto.fs.lock (released)");
  return 1;
}

/* The pid written in a lock file, or 0 when it holds none (yet). */
static long lock_holder(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *end;
  long pid = strtol(buf, &end, 10);
  return pid > 0 && (*end == '\n' || *end == '\0') ? pid : 0;
}

/* fs.lock(path) -> handle | nil, msg: creates path if needed and takes an exclusive
 * flock without waiting; when another process holds it, the message names its pid. */
static int fs_lock_(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  fs_lock *k = lua_newuserdatauv(L, sizeof *k, 0); /* before the descriptor: no leak on error */
  k->fd = -1;
  luaL_setmetatable(L, LOCK_MT);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return push_errno(L, "open the lock", path, errno);
  while (flock(fd, LOCK_EX | LOCK_NB)) {
    if (errno == EINTR) continue;
    int err = errno;
    long pid = err == EWOULDBLOCK ? lock_holder(fd) : 0;
    close(fd);
    lua_pushnil(L);
    if (err != EWOULDBLOCK) lua_pushfstring(L, "cannot lock %s: %s", path, strerror(err));
    else if (pid) lua_pushfstring(L, "%s is locked by process %d (another lotto is using this run)", path, (int)pid);
    else lua_pushfstring(L, "%s is locked by another process (another lotto is using this run)", path);
    return 2;
  }
  k->fd = fd;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n) {
    int err = errno;
    lock_close(L); /* the handle is at the top */
    return push_errno(L, "write the lock", path, err);
  }
  return 1;
}

static const luaL_Reg lock_meta[] = {{"__gc", lock_close}, {"__close", lock_close}, {"__tostring", lock_tostring},
                                     {NULL, NULL}};
static const luaL_Reg lock_methods[] = {{"close", lock_close}, {"held", lock_held}, {NULL, NULL}};

static const luaL_Reg fs_funcs[] = {
    {"exists", fs_exists}, {"isdir", fs_isdir},           {"mkdir_p", fs_mkdir_p}, {"listdir", fs_listdir},
    {"remove", fs_remove}, {"remove_tree", fs_remove_tree}, {"read", fs_read},     {"write_atomic", fs_write_atomic},
    {"lock", fs_lock_},    {NULL, NULL}};

static const lt_help_entry fs_help[] = {
    {"exists", "exists(path) -> boolean"},
    {"isdir", "isdir(path) -> boolean"},
    {"mkdir_p", "mkdir_p(path) -> true | nil, msg: creates missing parents; an existing directory is fine"},
    {"listdir", "listdir(dir) -> sorted names (no . and ..) | nil, msg"},
    {"remove", "remove(path) -> true | nil, msg: a file or an empty directory"},
    {"remove_tree", "remove_tree(path) -> true | nil, msg: recursive, symlinks not followed, missing is ok"},
    {"read", "read(path) -> string | nil, msg: the whole file"},
    {"write_atomic", "write_atomic(path, string) -> true | nil, msg: temp file, fsync, rename"},
    {"lock", "lock(path) -> handle | nil, msg: exclusive flock, the holder's pid in the file; "
             "released by handle:close(), <close>, gc, or the process's death"},
    {NULL, NULL}};

int luaopen_lotto_fs(lua_State *L) {
  luaL_newmetatable(L, ARRAY_MT); /* shared with lotto.json, whichever loads first */
  lua_pop(L, 1);
  lt_newmeta(L, LOCK_MT, lock_meta, lock_methods);
  lua_pop(L, 1);
  luaL_newlib(L, fs_funcs);
  lt_help_register(L, -1, NULL, fs_help);
  lt_help_set(L, -1, "lotto.fs: file-system helpers (exists, mkdir_p, listdir, remove_tree, read, write_atomic, lock)");
  return 1;
}
