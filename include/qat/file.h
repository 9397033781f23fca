/* Opening untrusted input files: only regular files, never blocking, never reading more than
 * a cap. A FIFO, a character device (/dev/zero, a tty), a socket or a directory given as an
 * input is refused by name instead of blocking in open()/read() or reading without end. */
#ifndef QAT_FILE_H
#define QAT_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Opens path read-only (O_NONBLOCK, so a FIFO without a writer cannot block the open, then
 * back to blocking), checks that it is a regular file of at most max_bytes (0: no cap) and
 * returns the descriptor in *fd and the size in *size. what ("model", "input") names the role
 * in messages: "<path>: cannot open the model: not a regular file (a FIFO)". */
int qat_file_open_regular(const char *path, const char *what, uint64_t max_bytes, int *fd,
                          uint64_t *size);

/* Reads the whole regular file into *out (malloc'd, NUL-terminated for convenience, never
 * NULL on success), *len its size. Fails before allocating when it is larger than max_bytes. */
int qat_file_read_all(const char *path, const char *what, uint64_t max_bytes, void **out,
                      size_t *len);

/* "a FIFO", "a directory", "a character device", ... for a st_mode. */
const char *qat_file_kind(unsigned mode);

/* Checks what a CLI wrote to stdout: flushes it and reports a failed write (a full disk,
 * /dev/full, a closed pipe) as "cannot write to standard output: <why>". Returns 0 or
 * QAT_ERR_IO. */
int qat_stdout_check(void);

/* Whether path ends with suffix (".npz", ".yaml"). */
int qat_path_has_suffix(const char *path, const char *suffix);

/* The file `name` in path's folder ("out/m.tflite", "labels.txt" -> "out/labels.txt"). */
void qat_path_beside(const char *path, const char *name, char *buf, size_t size);

#endif
