/* What the parts of the HDF5 tensor store share (h5common.c: errors, types, names and the
 * link walk; h5write.c: the writer; h5probe.c: parsing hostile files in a child process first;
 * h5read.c: the reader). Private to checkpoint/. */
#ifndef QAT_CHECKPOINT_H5_INTERNAL_H
#define QAT_CHECKPOINT_H5_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "qat/error.h"
#include "qat/file.h"
#include "qat/h5store.h"
#include "qat/limits.h"

#define WHY_LEN 320
#define SHAPE_LEN 256

typedef struct h5_name {
  char path[QAT_H5_MAX_NAME + 2];  /* normalised: "/" or "/a/b", for messages */
  char comps[QAT_H5_MAX_NAME + 2]; /* the components, NUL-separated */
  const char *comp[QAT_H5_MAX_DEPTH];
  int end[QAT_H5_MAX_DEPTH]; /* path[0..end[i]) is the prefix ending with component i */
  int depth;
} h5_name;

enum { WALK_FOUND = 1, WALK_MISSING = 0, WALK_BAD = -1, WALK_H5ERR = -2 };

extern int qat_h5_isolate;
extern int qat_h5_probe_fault_signal;
extern unsigned qat_h5_probe_seconds;

uint32_t h5i_crc_bytes(const void *p, size_t n);
void h5i_describe_type(hid_t ftype, char *buf, size_t len);
bool h5i_dtype_valid(int type);
bool h5i_fix_image_superblock(unsigned char *img, size_t size);
void h5i_fmt_shape(char *buf, size_t len, int rank, const int64_t *dims);
void h5_quiet(void);
const char *h5_why(char *buf, size_t len);
const char *h5i_parse_name(const char *name, h5_name *n);
hid_t h5i_read_access_plist(void);
bool h5i_shape_size(int rank, const int64_t *dims, size_t elem, size_t *nelem, size_t *nbytes);
bool h5i_type_is(hid_t ftype, qat_h5_dtype t);
hid_t h5i_type_le(qat_h5_dtype t);
hid_t h5i_type_mem(qat_h5_dtype t);
int h5i_type_of(hid_t ftype);
int h5i_walk(hid_t file, const h5_name *n, int upto, bool create, bool last_group, hid_t *out,
                char *why, size_t wl);
int h5i_check_storage(qat_h5_reader *r, const h5_name *n, hid_t dset, size_t elem);
int h5i_reader_finish_open(qat_h5_reader *r, const char *path, hid_t file);
/* libhdf5 calls that can crash on crafted metadata are made first in a forked child, under
 * the probe's limits (CPU, wall clock, address space outside sanitizer builds). The child is
 * an exact copy of this process (libhdf5's caches, the heap), so the same call on the same
 * state takes the same path: a crash, a hang or an abort there becomes an error naming
 * `name`, and this process makes the call only after the child survived it.
 * h5i_child_start returns in both processes (c->pid == 0 in the child, whose c->fd is the
 * write end of a pipe); h5i_child_end collects what the child wrote (at most max_out bytes,
 * into *out: malloc'd, NUL-terminated, or NULL) and its exit code. */
typedef struct h5i_child {
  pid_t pid;
  int fd;
  unsigned limit_s;
} h5i_child;
extern int h5i_rehearsing; /* 1 in a child: no nested children */
int h5i_child_start(h5i_child *c, const char *name, size_t len_hint);
int h5i_child_end(h5i_child *c, const char *name, size_t max_out, char **out, size_t *out_len,
                  int *code);
int h5i_rehearsal_end(h5i_child *c, const char *name); /* exit 0 or an error */
/* Makes `call` (an expression) in a child first; returns the child's failure from the
 * enclosing function. */
#define H5I_REHEARSE(path, call)                                                              \
  do {                                                                                        \
    if (qat_h5_isolate && !h5i_rehearsing) {                                                  \
      h5i_child ch_;                                                                          \
      int rc_ = h5i_child_start(&ch_, (path), 0);                                             \
      if (rc_) return rc_;                                                                    \
      if (ch_.pid == 0) {                                                                     \
        h5i_rehearsing = 1;                                                                   \
        (void)(call);                                                                         \
        _exit(0);                                                                             \
      }                                                                                       \
      if ((rc_ = h5i_rehearsal_end(&ch_, (path)))) return rc_;                                \
    }                                                                                         \
  } while (0)
bool h5i_write_all(int fd, const void *p, size_t n);
bool h5i_image_has_signature(const void *data, size_t len);
int h5i_open_image_checked(qat_h5_reader *r, const char *name, void *data, size_t len,
                              bool owned);

#endif
