/* Shared by the fuzz harnesses: readers that take a path get the input as an anonymous
 * in-memory file (memfd), opened through /proc/self/fd, so a fuzzing run does no disk I/O and
 * the path is a regular file as the readers require. */
#ifndef QAT_FUZZ_COMMON_H
#define QAT_FUZZ_COMMON_H


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qat/error.h"

/* Inputs larger than this are ignored: every reader caps far above what a fuzzer explores. */
#define QAT_FUZZ_MAX_INPUT (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data to a fresh memfd and puts "/proc/self/fd/N" in path; returns the fd or -1. */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t len) {
  int fd = memfd_create("qat_fuzz", MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t at = 0;
  while (at < size) {
    ssize_t n = write(fd, data + at, size - at);
    if (n <= 0) {
      close(fd);
      return -1;
    }
    at += (size_t)n;
  }
  snprintf(path, len, "/proc/self/fd/%d", fd);
  return fd;
}

/* A rejected input must leave a message: an error code without one is a bug. */
static inline void fuzz_check_message(int rc) {
  if (rc != QAT_OK && !qat_error_message()[0]) {
    fprintf(stderr, "fuzz: status %d without an error message\n", rc);
    abort();
  }
}

#endif
