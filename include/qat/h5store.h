/* A small generic HDF5 "tensor store": named n-d arrays and scalar/string attributes, written
 * atomically and read back with every property checked before a byte is trusted.
 *
 * File layout (what h5dump shows):
 *   - datasets at slash-separated paths ("params/conv2d/kernel"); intermediate groups are
 *     created by the writer. Little-endian file types (F32LE, I32LE, ...), contiguous layout,
 *     no compression, so a dataset is one run of raw bytes in the file.
 *   - each dataset carries a uint32 attribute "qat_crc32": zlib's CRC-32 of the dataset's
 *     elements in little-endian byte order (row-major, exactly the bytes of the file).
 *   - the root group carries an int64 attribute "qat_store_version" (= 1). A file with it is
 *     "a qat store": its datasets must carry a checksum. Files without it (Keras weights) are
 *     read with the checksum verified only where present, unless QAT_H5_REQUIRE_CHECKSUM.
 *   - files are written with HDF5 1.8+ object formats (superblock v2, object header v2), which
 *     checksum all metadata: a damaged header, link or attribute fails inside HDF5 with a
 *     clean error, and damaged dataset bytes fail our CRC. Readable by HDF5 >= 1.8, h5py, h5dump.
 *   - string attributes are fixed-length, NUL-terminated, UTF-8 (h5dump prints them as text;
 *     reading them back allocates nothing inside HDF5). The reader accepts fixed- and
 *     variable-length strings.
 *
 * Errors: functions return 0 or a negative qat_status with qat_error_message() set:
 * QAT_ERR_FORMAT for anything wrong with a file's content, QAT_ERR_IO when the system refused,
 * QAT_ERR_USAGE for a bad name/rank passed by the caller, QAT_ERR_NOMEM. Messages name the file
 * and the object: "ckpt.h5:/params/dense/kernel: shape [784,64], expected [784,128]".
 * HDF5's own error-stack printing is switched off on every call (it is per thread in Debian's
 * thread-safe libhdf5), so nothing is ever printed.
 *
 * Hostile files: names are resolved only through hard links (soft and external links are
 * refused, never followed); datasets with external storage, virtual layout or filters other
 * than deflate/shuffle/fletcher32 are refused before H5Dread; HDF5 filter plugins are never
 * loaded; sizes are computed with overflow checks and capped before allocating. Crashes inside
 * libhdf5 itself on crafted files are contained: every file is parsed by a child process first
 * (qat_h5_reader_open, qat_h5_reader_open_image).
 *
 * Threads: libhdf5 serialises all calls behind one global lock; do not call into a store from
 * inside an OpenMP parallel region. Host byte order must be little-endian (checked at build). */
#ifndef QAT_H5STORE_H
#define QAT_H5STORE_H

#include <stddef.h>
#include <stdint.h>

#include "qat/atomic_file.h"

#define QAT_H5_MAX_RANK 8
#define QAT_H5_MAX_NAME 1024                /* bytes in an object path */
#define QAT_H5_MAX_DEPTH 32                 /* components in an object path */
#define QAT_H5_MAX_STRING (64u << 20)       /* bytes in one string attribute */
#define QAT_H5_MAX_STRINGS (1u << 20)       /* elements in a string-array attribute */
#define QAT_H5_MAX_CHUNK_BYTES (256u << 20) /* one chunk of a chunked (foreign) dataset */
#define QAT_H5_CRC_ATTR "qat_crc32"
#define QAT_H5_VERSION_ATTR "qat_store_version"
#define QAT_H5_STORE_VERSION 1

typedef enum qat_h5_dtype {
  QAT_H5_F32,
  QAT_H5_F64,
  QAT_H5_I8,
  QAT_H5_U8,
  QAT_H5_I32,
  QAT_H5_I64,
  QAT_H5_U64,
} qat_h5_dtype;
#define QAT_H5_DTYPE_COUNT 7

size_t qat_h5_dtype_size(qat_h5_dtype type);
const char *qat_h5_dtype_name(qat_h5_dtype type); /* "float32", "int64", ... */

/* Flags for the read functions. */
enum {
  QAT_H5_FINITE = 1u << 0,           /* float data: fail on NaN/Inf, reporting the count */
  QAT_H5_REQUIRE_CHECKSUM = 1u << 1, /* fail when the dataset has no qat_crc32 attribute */
};

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct qat_h5_writer {
  qat_atomic_file af;
  int64_t file; /* hid_t, or -1 */
  int active;   /* 1 between a successful open and commit/abort/failure */
} qat_h5_writer;

/* Starts writing path: creates "<path>.tmp.XXXXXX" beside it (refusing a target that exists
 * and is not a regular file) and an HDF5 file in memory, which commit writes to the temp file
 * (HDF5 itself does no file I/O for the writer; see h5store.c for why). Memory: the whole
 * file, plus a second copy of it during commit. The target is untouched until commit.
 *
 * Every writer function below, on failure, has already aborted the writer (temp file removed,
 * target untouched); later calls fail and qat_h5_writer_abort stays safe to call. */
int qat_h5_writer_open(qat_h5_writer *w, const char *path);

/* Writes a dataset of rank 0..QAT_H5_MAX_RANK (rank 0 = scalar; dims may be NULL then) with
 * dims >= 0 (0 gives an empty dataset), creating missing intermediate groups, and its
 * checksum attribute. A name that already exists is an error. */
int qat_h5_write_array(qat_h5_writer *w, const char *name, qat_h5_dtype type, int rank,
                       const int64_t *dims, const void *data);

/* Scalar attributes on the object at obj ("/" for the root). A missing obj is created as a
 * group (with its parents). Attribute names starting with "qat_" are reserved. */
int qat_h5_write_attr_string(qat_h5_writer *w, const char *obj, const char *name,
                             const char *text);
int qat_h5_write_attr_int64(qat_h5_writer *w, const char *obj, const char *name, int64_t v);
int qat_h5_write_attr_double(qat_h5_writer *w, const char *obj, const char *name, double v);

/* Closes the HDF5 file (flushing it), fsyncs it, renames it over the target and fsyncs the
 * directory. On failure the temp file is removed and the target is untouched. Either way the
 * writer is finished. */
int qat_h5_writer_commit(qat_h5_writer *w);

/* Discards the temp file; the target is untouched. Safe on a finished or failed writer. */
void qat_h5_writer_abort(qat_h5_writer *w);

/* ---- reader ---------------------------------------------------------------------------- */

typedef struct qat_h5_reader {
  int64_t file; /* hid_t, or -1 */
  char *path;
  int qat_store; /* the root has qat_store_version: checksums are required */
  void *image;   /* the file's bytes, which HDF5 reads in place (qat_h5_reader_open), or NULL */
} qat_h5_reader;

/* Opens path read-only after checking that it is a readable regular file with the HDF5
 * signature ("<path>: not an HDF5 file (or truncated)" otherwise). A qat store written by a
 * newer version is refused. The file is read into memory (at most QAT_H5_MAX_FILE_BYTES) and
 * first parsed by a forked child (see h5store.c): a crash, hang or memory blow-up inside
 * libhdf5 on a crafted file becomes "<path>: libhdf5 crashed reading it (...)". */
int qat_h5_reader_open(qat_h5_reader *r, const char *path);
/* Runs fn(arg), a whole read of the file at path (for instance a Keras import: hundreds of
 * attribute and dataset reads), first in a forked child and then in this process. Every
 * reader call is otherwise made in a child of its own first (libhdf5 crashes on crafted
 * metadata; see checkpoint/h5probe.c): one child for the whole read costs one fork instead of
 * hundreds. fn must only read (the child's writes are lost) and must not depend on time or
 * on the process id; its return value is this process's. A crash or hang in the child is an
 * error naming path. */
int qat_h5_rehearsed(const char *path, int (*fn)(void *), void *arg);
/* The same for an HDF5 file image in memory (a .keras archive's model.weights.h5): name is
 * used in messages. HDF5 copies the bytes, so data may be freed once this returns. */
int qat_h5_reader_open_image(qat_h5_reader *r, const char *name, const void *data, size_t len);
/* Safe to call twice, and after a failed open. */
void qat_h5_reader_close(qat_h5_reader *r);

/* 1 if name resolves through hard links to an object, 0 if not, negative on an HDF5 error. */
int qat_h5_has(qat_h5_reader *r, const char *name);

/* Type and shape of a dataset. *type is set to -1 when the dataset's type is none of ours. */
int qat_h5_array_info(qat_h5_reader *r, const char *name, int *type, int *rank,
                      int64_t dims[QAT_H5_MAX_RANK]);

/* Reads a dataset of exactly this type and shape into out (the caller's buffer of
 * product(dims) elements). Existence, type, rank, each dim and the storage layout are checked
 * before reading; then the checksum (see QAT_H5_REQUIRE_CHECKSUM) and, with QAT_H5_FINITE,
 * finiteness. After a failure out may have been partly written: read into scratch memory
 * where all-or-nothing matters. */
int qat_h5_read_array(qat_h5_reader *r, const char *name, qat_h5_dtype type, int rank,
                      const int64_t *dims, void *out, unsigned flags);

/* Reads a dataset of this type and any shape into *out (malloc'd, never NULL on success even
 * when empty; the caller frees it). Fails before allocating when the data exceeds max_bytes. */
int qat_h5_read_array_alloc(qat_h5_reader *r, const char *name, qat_h5_dtype type, int *rank,
                            int64_t dims[QAT_H5_MAX_RANK], void **out, size_t max_bytes,
                            unsigned flags);

/* 1 if the object at obj has the attribute, 0 if not (or obj is missing), negative on error. */
int qat_h5_has_attr(qat_h5_reader *r, const char *obj, const char *name);
/* A scalar (or one-element) string attribute, fixed- or variable-length; *out is malloc'd. */
int qat_h5_read_attr_string(qat_h5_reader *r, const char *obj, const char *name, char **out);
/* A string attribute of any element count (Keras "layer_names"); free with
 * qat_h5_strings_free. */
int qat_h5_read_attr_strings(qat_h5_reader *r, const char *obj, const char *name, char ***out,
                             size_t *count);
void qat_h5_strings_free(char **list, size_t count);
/* Scalar integer attribute of any integer type that fits in int64. */
int qat_h5_read_attr_int64(qat_h5_reader *r, const char *obj, const char *name, int64_t *out);
/* Scalar floating-point attribute. */
int qat_h5_read_attr_double(qat_h5_reader *r, const char *obj, const char *name, double *out);

typedef enum qat_h5_kind { QAT_H5_GROUP, QAT_H5_DATASET, QAT_H5_OTHER } qat_h5_kind;
/* Return 0 to go on, > 0 to stop (qat_h5_list returns that value), < 0 to fail (the callback
 * sets the message; qat_h5_list returns that value). Soft and external links are reported as
 * QAT_H5_OTHER and never followed. */
typedef int (*qat_h5_list_fn)(const char *name, qat_h5_kind kind, void *ctx);
/* Calls fn for each link in the group, in name order (one level, not recursive). */
int qat_h5_list(qat_h5_reader *r, const char *group, qat_h5_list_fn fn, void *ctx);

#endif
