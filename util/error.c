#include "qat/error.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char error_message[1024];

int qat_fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error_message, sizeof error_message, fmt, ap);
  va_end(ap);
  return status;
}

int qat_fail_prefix(int status, const char *fmt, ...) {
  char prefix[512], old[sizeof error_message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, error_message, sizeof old);
  size_t n = strlen(prefix);
  if (n >= sizeof error_message) n = sizeof error_message - 1;
  memcpy(error_message, prefix, n);
  size_t rest = strlen(old);
  if (rest > sizeof error_message - 1 - n) rest = sizeof error_message - 1 - n;
  memcpy(error_message + n, old, rest);
  error_message[n + rest] = '\0';
  return status;
}

const char *qat_error_message(void) { return error_message[0] ? error_message : "unknown error"; }

void qat_error_clear(void) { error_message[0] = '\0'; }

int qat_exit_code(int status) {
  switch (status) {
  case QAT_OK: return 0;
  case QAT_ERR_USAGE: return 2;
  case QAT_ERR_FORMAT: return 3;
  case QAT_ERR_IO: return 4;
  case QAT_ERR_DIVERGED: return 5;
  case QAT_ERR_INTERRUPTED: return 130;
  default: return 1;
  }
}
