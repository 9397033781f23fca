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
bool h5i_image_has_signature(const void *data, size_t len);
int h5i_open_image_checked(qat_h5_reader *r, const char *name, void *data, size_t len,
                              bool owned);

#endif
