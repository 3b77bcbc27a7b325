/* status.c: the per-thread error message and the interrupt flag. */
#include "lotto/status.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errbuf[512];
static volatile sig_atomic_t interrupt_flag;

lt_status lt_error(lt_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return code;
}

const char *lt_errmsg(void) { return errbuf; }
void lt_error_clear(void) { errbuf[0] = '\0'; }

void lt_interrupt_set(void) { interrupt_flag = 1; }
int lt_interrupted(void) { return interrupt_flag != 0; }
void lt_interrupt_clear(void) { interrupt_flag = 0; }
