/* The HDF5 tensor store's writer (see include/qat/h5store.h): one atomic file per save. */
#include "checkpoint/h5_internal.h"

/* ---- writer ---------------------------------------------------------------------------- */

/* Records "cannot write '<path>': <obj>: <what>" and aborts the writer (temp removed). */
__attribute__((format(printf, 4, 5))) static int wfail(qat_h5_writer *w, int status,
                                                       const char *obj, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *path = w->af.path ? w->af.path : "?";
  if (obj)
    qat_fail(status, "cannot write '%s': %s: %s", path, obj, msg);
  else
    qat_fail(status, "cannot write '%s': %s", path, msg);
  qat_h5_writer_abort(w);
  return status;
}

static int writer_check(const qat_h5_writer *w) {
  if (!w || !w->active)
    return qat_fail(QAT_ERR_USAGE, "h5store: writer is not open (already committed, aborted, "
                                   "or failed earlier)");
  return QAT_OK;
}

/* Creates a scalar attribute; a second one of the same name is a caller bug. Returns 0, or
 * a status with why set; the caller closes its ids and then calls wfail.
 * HDF5 failures in the writer are QAT_ERR_INTERNAL: it works in memory, so they mean a bug or
 * no memory; real I/O errors (QAT_ERR_IO) come from writing the image and renaming it. */
static int put_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *buf,
                    char *why, size_t wl) {
  int rc = QAT_OK;
  htri_t ex = H5Aexists(obj, name);
  if (ex != 0) {
    if (ex < 0) h5_why(why, wl);
    else snprintf(why, wl, "already written");
    return ex < 0 ? QAT_ERR_INTERNAL : QAT_ERR_USAGE;
  }
  hid_t space = H5Screate(H5S_SCALAR);
  if (space < 0) {
    h5_why(why, wl);
    return QAT_ERR_INTERNAL;
  }
  hid_t attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0) {
    h5_why(why, wl);
    rc = QAT_ERR_INTERNAL;
    goto close_space;
  }
  if (H5Awrite(attr, mtype, buf) < 0) {
    h5_why(why, wl);
    rc = QAT_ERR_INTERNAL;
  }
  if (H5Aclose(attr) < 0 && rc == QAT_OK) {
    h5_why(why, wl);
    rc = QAT_ERR_INTERNAL;
  }
close_space:
  H5Sclose(space);
  return rc;
}

/* The writer builds the whole file in memory (the core driver without a backing store) and
 * writes the finished image to the temp file itself, instead of letting HDF5 write tmp_path:
 *  - libhdf5 1.10.8 cannot recover from a failed write: when H5Fclose fails (disk full, EFBIG)
 *    the file id stays registered and H5_term_library crashes at exit (seen in
 *    test_write_refused). In memory, HDF5 never does I/O, so nothing of it can fail that way;
 *  - the I/O errors come from our own write(2) calls, with their errno ("No space left on
 *    device"), not from a line of HDF5's error stack;
 *  - HDF5 never reopens tmp_path by name (no window for swapping it), and a kill -9 leaves
 *    only a temp file that the next start can remove.
 * The cost: the file exists in memory (twice, briefly, during commit) before it is written. */
int qat_h5_writer_open(qat_h5_writer *w, const char *path) {
  char why[WHY_LEN];
  memset(w, 0, sizeof *w);
  w->file = -1;
  h5_quiet();
  int rc = qat_atomic_begin(&w->af, path);
  if (rc) return rc;
  w->active = 1; /* from here on, wfail() removes the temp file */
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return wfail(w, QAT_ERR_INTERNAL, NULL, "%s", h5_why(why, sizeof why));
  /* Grow the image 1 MiB at a time; backing_store 0: nothing is written by HDF5. Objects in
   * the 1.8 formats, whose metadata HDF5 checksums (see the header). */
  if (H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 ||
      H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0) {
    h5_why(why, sizeof why);
    H5Pclose(fapl);
    return wfail(w, QAT_ERR_INTERNAL, NULL, "%s", why);
  }
  /* The name only identifies the in-memory file (HDF5 refuses two open files of one name);
   * the temp path is unique. */
  w->file = H5Fcreate(w->af.tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (w->file < 0) h5_why(why, sizeof why);
  H5Pclose(fapl);
  if (w->file < 0) return wfail(w, QAT_ERR_INTERNAL, NULL, "%s", why);
  hid_t root = H5Gopen2(w->file, "/", H5P_DEFAULT);
  if (root < 0) return wfail(w, QAT_ERR_INTERNAL, "/", "%s", h5_why(why, sizeof why));
  int64_t version = QAT_H5_STORE_VERSION;
  rc = put_attr(root, QAT_H5_VERSION_ATTR, H5T_STD_I64LE, H5T_NATIVE_INT64, &version, why,
                sizeof why);
  H5Gclose(root);
  if (rc) return wfail(w, rc, "/", "attribute '%s': %s", QAT_H5_VERSION_ATTR, why);
  return QAT_OK;
}

int qat_h5_write_array(qat_h5_writer *w, const char *name, qat_h5_dtype type, int rank,
                       const int64_t *dims, const void *data) {
  char why[WHY_LEN];
  h5_name n;
  h5_quiet();
  int rc = writer_check(w);
  if (rc) return rc;
  const char *bad = h5i_parse_name(name, &n);
  if (bad) return wfail(w, QAT_ERR_USAGE, NULL, "dataset name '%s': %s", name ? name : "", bad);
  if (n.depth == 0) return wfail(w, QAT_ERR_USAGE, NULL, "a dataset needs a name, not '/'");
  if (!h5i_dtype_valid((int)type)) return wfail(w, QAT_ERR_USAGE, n.path, "invalid dtype %d", (int)type);
  if (rank < 0 || rank > QAT_H5_MAX_RANK || (rank > 0 && !dims))
    return wfail(w, QAT_ERR_USAGE, n.path, "invalid rank %d", rank);
  size_t nelem, nbytes;
  if (!h5i_shape_size(rank, dims, qat_h5_dtype_size(type), &nelem, &nbytes)) {
    char shape[SHAPE_LEN];
    h5i_fmt_shape(shape, sizeof shape, rank, dims);
    return wfail(w, QAT_ERR_USAGE, n.path, "invalid shape %s", shape);
  }
  if (nelem > 0 && !data) return wfail(w, QAT_ERR_USAGE, n.path, "no data");

  hsize_t hd[QAT_H5_MAX_RANK];
  for (int i = 0; i < rank; i++) hd[i] = (hsize_t)dims[i];
  const char *leaf = n.comp[n.depth - 1];
  hid_t parent = -1, space = -1, dcpl = -1, dset = -1;
  int walked = h5i_walk(w->file, &n, n.depth - 1, true, true, &parent, why, sizeof why);
  if (walked != WALK_FOUND)
    return wfail(w, walked == WALK_H5ERR ? QAT_ERR_INTERNAL : QAT_ERR_USAGE, n.path, "%s", why);
  htri_t ex = H5Lexists(parent, leaf, H5P_DEFAULT);
  if (ex != 0) {
    if (ex < 0) h5_why(why, sizeof why);
    else snprintf(why, sizeof why, "already exists");
    rc = ex < 0 ? QAT_ERR_INTERNAL : QAT_ERR_USAGE;
    goto close_parent;
  }
  rc = QAT_ERR_INTERNAL; /* until everything below has succeeded */
  space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, hd, NULL);
  if (space < 0) goto h5_error;
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (dcpl < 0) goto h5_error;
  /* Contiguous (the default layout): one run of bytes, no chunk index to corrupt. The whole
   * dataset is written at once, so writing fill values first would be wasted I/O. */
  if (H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) goto h5_error;
  dset = H5Dcreate2(parent, leaf, h5i_type_le(type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dset < 0) goto h5_error;
  if (nelem > 0 && H5Dwrite(dset, h5i_type_mem(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    goto h5_error;
  uint32_t crc = h5i_crc_bytes(data, nbytes);
  rc = put_attr(dset, QAT_H5_CRC_ATTR, H5T_STD_U32LE, H5T_NATIVE_UINT32, &crc, why, sizeof why);
  goto close_all;
h5_error:
  h5_why(why, sizeof why);
close_all:
  if (dset >= 0) H5Dclose(dset);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
close_parent:
  H5Oclose(parent);
  if (rc) return wfail(w, rc, n.path, "%s", why);
  return QAT_OK;
}

/* Opens obj (creating missing groups) for an attribute write. */
static int writer_attr_target(qat_h5_writer *w, const char *obj, const char *name, h5_name *n,
                              hid_t *out) {
  char why[WHY_LEN];
  int rc = writer_check(w);
  if (rc) return rc;
  const char *bad = h5i_parse_name(obj, n);
  if (bad) return wfail(w, QAT_ERR_USAGE, NULL, "object name '%s': %s", obj ? obj : "", bad);
  if (!name || !name[0] || strlen(name) > QAT_H5_MAX_NAME)
    return wfail(w, QAT_ERR_USAGE, n->path, "invalid attribute name");
  if (strncmp(name, "qat_", 4) == 0)
    return wfail(w, QAT_ERR_USAGE, n->path, "attribute name '%s' is reserved", name);
  int walked = h5i_walk(w->file, n, n->depth, true, false, out, why, sizeof why);
  if (walked != WALK_FOUND)
    return wfail(w, walked == WALK_H5ERR ? QAT_ERR_INTERNAL : QAT_ERR_USAGE, n->path, "%s", why);
  return QAT_OK;
}

/* Writes one scalar attribute on obj with the given file and memory types. */
static int write_attr(qat_h5_writer *w, const char *obj, const char *name, hid_t ftype,
                      hid_t mtype, const void *buf) {
  char why[WHY_LEN];
  h5_name n;
  hid_t o;
  int rc = writer_attr_target(w, obj, name, &n, &o);
  if (rc) return rc;
  rc = put_attr(o, name, ftype, mtype, buf, why, sizeof why);
  H5Oclose(o);
  if (rc) return wfail(w, rc, n.path, "attribute '%s': %s", name, why);
  return QAT_OK;
}

int qat_h5_write_attr_string(qat_h5_writer *w, const char *obj, const char *name,
                             const char *text) {
  char why[WHY_LEN];
  h5_quiet();
  int rc = writer_check(w);
  if (rc) return rc;
  size_t len = text ? strlen(text) : 0;
  if (!text || len > QAT_H5_MAX_STRING)
    return wfail(w, QAT_ERR_USAGE, obj ? obj : "?", "attribute '%s': %s", name ? name : "",
                 text ? "string too long" : "no string");
  /* Fixed-length, NUL-terminated: h5dump prints it as text, and reading it back needs no
   * HDF5-allocated memory (variable-length strings do, and must be reclaimed). */
  hid_t st = H5Tcopy(H5T_C_S1);
  if (st < 0 || H5Tset_size(st, len + 1) < 0 || H5Tset_strpad(st, H5T_STR_NULLTERM) < 0 ||
      H5Tset_cset(st, H5T_CSET_UTF8) < 0) {
    h5_why(why, sizeof why);
    if (st >= 0) H5Tclose(st);
    return wfail(w, QAT_ERR_INTERNAL, obj ? obj : "?", "attribute '%s': %s", name ? name : "", why);
  }
  rc = write_attr(w, obj, name, st, st, text);
  H5Tclose(st);
  return rc;
}

int qat_h5_write_attr_int64(qat_h5_writer *w, const char *obj, const char *name, int64_t v) {
  h5_quiet();
  return write_attr(w, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int qat_h5_write_attr_double(qat_h5_writer *w, const char *obj, const char *name, double v) {
  h5_quiet();
  return write_attr(w, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int qat_h5_writer_commit(qat_h5_writer *w) {
  char why[WHY_LEN];
  h5_quiet();
  int rc = writer_check(w);
  if (rc) return rc;
  /* Flush, then copy out the image: what the file would be on disk after H5Fclose. */
  ssize_t size = -1;
  if (H5Fflush(w->file, H5F_SCOPE_LOCAL) >= 0) size = H5Fget_file_image(w->file, NULL, 0);
  if (size <= 0) return wfail(w, QAT_ERR_INTERNAL, NULL, "%s", h5_why(why, sizeof why));
  void *image = malloc((size_t)size);
  if (!image) return wfail(w, QAT_ERR_NOMEM, NULL, "out of memory for %zd bytes", size);
  if (H5Fget_file_image(w->file, image, (size_t)size) != size) {
    h5_why(why, sizeof why);
    free(image);
    return wfail(w, QAT_ERR_INTERNAL, NULL, "%s", why);
  }
  if (!h5i_fix_image_superblock(image, (size_t)size)) {
    free(image);
    return wfail(w, QAT_ERR_INTERNAL, NULL,
                 "HDF5 returned a file image with an unexpected superblock");
  }
  herr_t closed = H5Fclose(w->file);
  w->file = -1;
  if (closed < 0) {
    h5_why(why, sizeof why);
    free(image);
    return wfail(w, QAT_ERR_INTERNAL, NULL, "%s", why);
  }
  /* errno is read right after the call that failed: fclose in qat_atomic_commit would only
   * see the stream's error flag. */
  int e = 0;
  errno = 0;
  if (fwrite(image, 1, (size_t)size, w->af.fp) != (size_t)size)
    e = errno ? errno : EIO;
  else if (fflush(w->af.fp) != 0)
    e = errno ? errno : EIO;
  free(image);
  if (e) return wfail(w, QAT_ERR_IO, NULL, "%s", strerror(e));
  w->active = 0;
  return qat_atomic_commit(&w->af); /* fsync, rename, fsync dir; removes the temp on failure */
}

void qat_h5_writer_abort(qat_h5_writer *w) {
  if (!w) return;
  h5_quiet();
  if (w->file >= 0) H5Fclose(w->file); /* in memory: nothing to flush, nothing can fail */
  w->file = -1;
  if (w->active) qat_atomic_abort(&w->af);
  w->active = 0;
}
