/* lotto/status.h: error codes and the per-thread error message.
 * Engine functions return lt_status (0 ok, negative error) and set a message
 * with lt_error(); callers read it with lt_errmsg(). Nothing in src/ exits. */
#ifndef LOTTO_STATUS_H
#define LOTTO_STATUS_H

typedef int lt_status;

enum {
  LT_OK = 0,
  LT_EINVAL = -1,  /* bad argument */
  LT_ENOMEM = -2,  /* allocation failed */
  LT_EIO = -3,     /* file could not be read or written */
  LT_EFORMAT = -4, /* corrupt or truncated file */
  LT_ESHAPE = -5,  /* shape mismatch */
  LT_ERANGE = -6,  /* index out of range */
  LT_ENAN = -7,    /* NaN or Inf appeared */
  LT_EINTR = -8,   /* interrupted by the user */
};

/* Sets the calling thread's message (printf-style) and returns code. */
lt_status lt_error(lt_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The last message set on this thread ("" if none). Valid until the next lt_error. */
const char *lt_errmsg(void);
/* Clears the message. */
void lt_error_clear(void);

/* Cooperative interrupt flag: the REPL's SIGINT handler sets it, long loops poll it
 * through lt_interrupted() and return LT_EINTR. lt_interrupt_clear() resets it. */
void lt_interrupt_set(void);
int lt_interrupted(void);
void lt_interrupt_clear(void);

#endif
