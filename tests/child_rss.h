/* child_rss.h: runs a load in a forked child and returns the child's peak RSS
 * growth (KiB): the memory a reader takes on an untrusted file, measured apart
 * from the test's own. Shared by the untrusted-file tests of data, io and import. */
#ifndef LOTTO_TEST_CHILD_RSS_H
#define LOTTO_TEST_CHILD_RSS_H

#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lotto/status.h"

static long child_maxrss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* fn(arg) runs the load and frees what it made; msg gets lt_errmsg() when it
 * failed, else "ok". */
static long rss_growth_in_child(lt_status (*fn)(const void *arg), const void *arg, char *msg, size_t cap) {
  int fd[2];
  assert_int_equal(pipe(fd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fd[0]);
    long before = child_maxrss_kb();
    lt_status s = fn(arg);
    char out[1100];
    int n = snprintf(out, sizeof out, "%ld %s", child_maxrss_kb() - before, s ? lt_errmsg() : "ok");
    _exit(write(fd[1], out, (size_t)n) == n ? 0 : 2);
  }
  close(fd[1]);
  char in[1100] = {0};
  size_t got = 0;
  ssize_t r;
  while (got < sizeof in - 1 && (r = read(fd[0], in + got, sizeof in - 1 - got)) > 0) got += (size_t)r;
  close(fd[0]);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  long grew = -1;
  int used = 0;
  assert_int_equal(sscanf(in, "%ld %n", &grew, &used) >= 1, 1);
  snprintf(msg, cap, "%s", in + used);
  print_message("peak RSS growth %ld KiB: %s\n", grew, msg);
  return grew;
}

#endif
