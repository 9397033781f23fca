/* NumPy arrays: a strict reader of the .npy format (versions 1.0, 2.0 and 3.0) and of .npz
 * archives (zip, stored or deflated, through libzip).
 *
 * Accepted: little-endian (or byte-sized) u1, i1, f2, f4, i4, i8 in C order, any rank up to
 * QAT_NPY_MAX_RANK. Everything else is refused with a one-line message naming the file and
 * the problem: big-endian data, object or structured arrays, Fortran order, a header that is
 * not the dictionary numpy writes, a payload shorter or longer than the shape says. The file
 * is untrusted: the shape's product is checked before anything is allocated. */
#ifndef QAT_NPY_H
#define QAT_NPY_H

#include <stdint.h>

#define QAT_NPY_MAX_RANK 8

typedef enum qat_npy_dtype {
  QAT_NPY_U1 = 0,
  QAT_NPY_I1,
  QAT_NPY_F2,
  QAT_NPY_F4,
  QAT_NPY_I4,
  QAT_NPY_I8,
} qat_npy_dtype;

typedef struct qat_npy {
  qat_npy_dtype dtype;
  int rank;                        /* 0 for a scalar */
  int64_t shape[QAT_NPY_MAX_RANK];
  int64_t count;                   /* product of the shape */
  void *data;                      /* count elements of dtype, native (little-endian) order */
} qat_npy;

/* Element size in bytes and numpy's name ("uint8", "float16", ...). */
int qat_npy_dtype_size(qat_npy_dtype t);
const char *qat_npy_dtype_name(qat_npy_dtype t);

/* Parses a whole .npy image in memory; name is used in messages. The data is copied. */
int qat_npy_parse(const char *name, const uint8_t *buf, int64_t len, int64_t max_bytes, qat_npy *out);
/* Reads a .npy file (at most max_bytes of data). */
int qat_npy_load(const char *path, int64_t max_bytes, qat_npy *out);
/* Reads array `key` (the entry key + ".npy") of a .npz file. Returns 1 (no message) when
 * missing_ok and the archive has no such array. */
int qat_npz_load(const char *path, const char *key, int64_t max_bytes, int missing_ok, qat_npy *out);
void qat_npy_free(qat_npy *a);
/* Writes a .npy file (version 1.0) atomically. */
int qat_npy_save(const char *path, qat_npy_dtype dtype, int rank, const int64_t *shape, const void *data);

/* IEEE half to float, exactly (subnormals, infinities and NaN included). */
float qat_half_to_float(uint16_t h);

#endif
