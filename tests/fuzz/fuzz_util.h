/* fuzz_util.h: what the libFuzzer harnesses share: input bytes as a real file (a memfd
 * reached through /proc/self/fd, so the readers open, stat and seek it as they would a
 * file on disk), and a check that aborts with a message, which libFuzzer reports as a
 * crash with its reproducer. Harnesses define _GNU_SOURCE first (memfd_create). */
#ifndef LOTTO_FUZZ_UTIL_H
#define LOTTO_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Slot k (0..3) holds data[0..n) as a file; returns its path (valid until the next call). */
static inline const char *fuzz_file(int k, const void *data, size_t n) {
  static int fds[4] = {-1, -1, -1, -1};
  static char paths[4][64];
  if (fds[k] < 0) {
    fds[k] = memfd_create("lotto-fuzz", 0);
    if (fds[k] < 0) {
      perror("memfd_create");
      abort();
    }
    snprintf(paths[k], sizeof paths[k], "/proc/self/fd/%d", fds[k]);
  }
  if (ftruncate(fds[k], 0) != 0 || (n && pwrite(fds[k], data, n, 0) != (ssize_t)n)) {
    perror("memfd write");
    abort();
  }
  return paths[k];
}

#define FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "fuzz check failed: %s: ", #cond);                        \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
      abort();                                                                  \
    }                                                                           \
  } while (0)

#endif
