/* The HDF5 tensor store's reader (see include/qat/h5store.h): every object, shape, storage
 * layout and checksum checked before use. */
#include "checkpoint/h5_internal.h"

/* ---- reader ---------------------------------------------------------------------------- */

/* Records "<file>:<obj>: <what>". */
__attribute__((format(printf, 4, 5))) static int rfail(const qat_h5_reader *r, int status,
                                                       const char *obj, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return qat_fail(status, "%s:%s: %s", r->path ? r->path : "?", obj, msg);
}

static int reader_check(const qat_h5_reader *r) {
  if (!r || r->file < 0) return qat_fail(QAT_ERR_USAGE, "h5store: reader is not open");
  return QAT_OK;
}

/* Parses name and opens the object through hard links. WALK_MISSING and WALK_BAD come back as
 * QAT_ERR_FORMAT with the message set (the file lacks what the caller needs). */
static int reader_open_obj(qat_h5_reader *r, const char *name, h5_name *n, hid_t *out) {
  char why[WHY_LEN];
  int rc = reader_check(r);
  if (rc) return rc;
  const char *bad = h5i_parse_name(name, n);
  if (bad)
    return qat_fail(QAT_ERR_USAGE, "%s: invalid object name '%s': %s", r->path, name ? name : "",
                    bad);
  if (h5i_walk(r->file, n, n->depth, false, false, out, why, sizeof why) != WALK_FOUND)
    return rfail(r, QAT_ERR_FORMAT, n->path, "%s", why);
  return QAT_OK;
}

static int read_attr_int64(qat_h5_reader *r, const char *obj, const char *name, int64_t *out);

/* The HDF5 signature may sit at 0, 512, 1024, 2048, ... (after a user block). */
static bool has_hdf5_signature(int fd, off_t size) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (off_t off = 0; off + 8 <= size; off = off ? off * 2 : 512) {
    unsigned char buf[8];
    if (pread(fd, buf, 8, off) != 8) return false;
    if (memcmp(buf, sig, 8) == 0) return true;
  }
  return false;
}

int qat_h5_reader_open(qat_h5_reader *r, const char *path) {
  char why[WHY_LEN];
  r->file = -1;
  r->path = NULL;
  r->image = NULL;
  r->qat_store = 0;
  h5_quiet();
  if (qat_h5_isolate) {
    /* The whole file in memory (size capped first): the child checks these bytes and this
     * process opens the same bytes. */
    void *img;
    size_t len;
    int rc = qat_file_read_all(path, NULL, QAT_H5_MAX_FILE_BYTES, &img, &len);
    if (rc) return rc;
    if (!h5i_image_has_signature(img, len)) {
      free(img);
      return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated)", path);
    }
    return h5i_open_image_checked(r, path, img, len, true); /* r owns img from here */
  }
  /* O_NONBLOCK: opening a FIFO must not hang waiting for a writer. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return qat_fail(QAT_ERR_IO, "%s: cannot open: not a regular file (%s)", path,
                    qat_file_kind((unsigned)st.st_mode));
  }
  bool sig = has_hdf5_signature(fd, st.st_size);
  close(fd);
  if (!sig) return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated)", path);

  hid_t fapl = h5i_read_access_plist();
  if (fapl < 0) return qat_fail(QAT_ERR_INTERNAL, "%s: %s", path, h5_why(why, sizeof why));
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (file < 0) h5_why(why, sizeof why);
  H5Pclose(fapl);
  /* A truncated file still has its signature; HDF5 notices that the end-of-file address in
   * the superblock lies beyond the file's size ("truncated file: eof = ..."). */
  if (file < 0) return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated): %s", path, why);
  return h5i_reader_finish_open(r, path, file);
}

int qat_h5_reader_open_image(qat_h5_reader *r, const char *name, const void *data, size_t len) {
  r->file = -1;
  r->path = NULL;
  r->image = NULL;
  r->qat_store = 0;
  h5_quiet();
  if (!h5i_image_has_signature(data, len))
    return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated)", name);
  return h5i_open_image_checked(r, name, (void *)data, len, false);
}

int h5i_reader_finish_open(qat_h5_reader *r, const char *path, hid_t file) {
  char why[WHY_LEN];
  r->file = file;
  r->path = strdup(path);
  if (!r->path) {
    qat_h5_reader_close(r);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  }
  htri_t ex = H5Aexists(file, QAT_H5_VERSION_ATTR);
  if (ex < 0) {
    int rc = qat_fail(QAT_ERR_FORMAT, "%s: %s", path, h5_why(why, sizeof why));
    qat_h5_reader_close(r);
    return rc;
  }
  if (ex > 0) {
    int64_t version;
    int rc = read_attr_int64(r, "/", QAT_H5_VERSION_ATTR, &version);
    if (rc == QAT_OK && version != QAT_H5_STORE_VERSION)
      rc = version > QAT_H5_STORE_VERSION
               ? qat_fail(QAT_ERR_UNSUPPORTED,
                          "%s: written by a newer qat (store version %" PRId64
                          ", this build reads %d)",
                          path, version, QAT_H5_STORE_VERSION)
               : qat_fail(QAT_ERR_FORMAT, "%s: bad store version %" PRId64, path, version);
    if (rc) {
      qat_h5_reader_close(r);
      return rc;
    }
    r->qat_store = 1;
  }
  return QAT_OK;
}

void qat_h5_reader_close(qat_h5_reader *r) {
  if (!r) return;
  h5_quiet();
  if (r->file >= 0) H5Fclose(r->file);
  r->file = -1;
  free(r->image); /* after H5Fclose: HDF5 read it in place */
  r->image = NULL;
  free(r->path);
  r->path = NULL;
  r->qat_store = 0;
}

static int has_impl(qat_h5_reader *r, const char *name) {
  char why[WHY_LEN];
  h5_name n;
  hid_t o;
  h5_quiet();
  int rc = reader_check(r);
  if (rc) return rc;
  const char *bad = h5i_parse_name(name, &n);
  if (bad)
    return qat_fail(QAT_ERR_USAGE, "%s: invalid object name '%s': %s", r->path, name ? name : "",
                    bad);
  switch (h5i_walk(r->file, &n, n.depth, false, false, &o, why, sizeof why)) {
  case WALK_FOUND: H5Oclose(o); return 1;
  case WALK_H5ERR: return rfail(r, QAT_ERR_FORMAT, n.path, "%s", why);
  default: return 0;
  }
}

/* Opens name as a dataset. */
static int open_dataset(qat_h5_reader *r, const char *name, h5_name *n, hid_t *dset) {
  hid_t o;
  int rc = reader_open_obj(r, name, n, &o);
  if (rc) return rc;
  H5I_type_t t = H5Iget_type(o);
  if (t != H5I_DATASET) {
    H5Oclose(o);
    return rfail(r, QAT_ERR_FORMAT, n->path, "is a %s, expected a dataset",
                 t == H5I_GROUP ? "group" : "named datatype");
  }
  *dset = o;
  return QAT_OK;
}

static int dataset_shape(qat_h5_reader *r, const h5_name *n, hid_t dset, int *rank,
                         int64_t dims[QAT_H5_MAX_RANK]) {
  char why[WHY_LEN];
  int rc = QAT_OK;
  hid_t space = H5Dget_space(dset);
  if (space < 0) return rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
  switch (H5Sget_simple_extent_type(space)) {
  case H5S_SCALAR: *rank = 0; break;
  case H5S_SIMPLE: {
    int nd = H5Sget_simple_extent_ndims(space);
    if (nd < 0) {
      rc = rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
      break;
    }
    if (nd > QAT_H5_MAX_RANK) {
      rc = rfail(r, QAT_ERR_FORMAT, n->path, "rank %d exceeds the maximum of %d", nd,
                 QAT_H5_MAX_RANK);
      break;
    }
    hsize_t hd[QAT_H5_MAX_RANK];
    if (H5Sget_simple_extent_dims(space, hd, NULL) < 0) {
      rc = rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
      break;
    }
    for (int i = 0; i < nd && rc == QAT_OK; i++) {
      if (hd[i] > (hsize_t)INT64_MAX)
        rc = rfail(r, QAT_ERR_FORMAT, n->path, "dimension %d is absurd (%llu)", i,
                   (unsigned long long)hd[i]);
      dims[i] = (int64_t)hd[i];
    }
    *rank = nd;
    break;
  }
  case H5S_NULL: rc = rfail(r, QAT_ERR_FORMAT, n->path, "has a null dataspace (no data)"); break;
  default: rc = rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why)); break;
  }
  H5Sclose(space);
  return rc;
}

/* Refuses storage that would make H5Dread open other files, run unknown (or slow, lossy)
 * filters, or allocate a huge chunk: the file decides all of these, not the caller. */
int h5i_check_storage(qat_h5_reader *r, const h5_name *n, hid_t dset, size_t elem) {
  char why[WHY_LEN];
  int rc = QAT_OK;
  hid_t dcpl = H5Dget_create_plist(dset);
  if (dcpl < 0) return rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
  int ext = H5Pget_external_count(dcpl);
  if (ext != 0) {
    rc = ext < 0 ? rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why))
                 : rfail(r, QAT_ERR_FORMAT, n->path,
                         "stores its data in an external file (not followed)");
    goto close_dcpl;
  }
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT) goto close_dcpl;
  if (layout != H5D_CHUNKED) {
    rc = layout == H5D_VIRTUAL
             ? rfail(r, QAT_ERR_FORMAT, n->path, "is a virtual dataset (not supported)")
             : rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
    goto close_dcpl;
  }
  hsize_t cd[H5S_MAX_RANK];
  int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
  if (nd < 0) {
    rc = rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
    goto close_dcpl;
  }
  uint64_t chunk = elem;
  for (int i = 0; i < nd && chunk <= QAT_H5_MAX_CHUNK_BYTES; i++)
    chunk = cd[i] > QAT_H5_MAX_CHUNK_BYTES ? (uint64_t)QAT_H5_MAX_CHUNK_BYTES + 1 : chunk * cd[i];
  if (chunk > QAT_H5_MAX_CHUNK_BYTES) {
    rc = rfail(r, QAT_ERR_FORMAT, n->path, "chunks larger than %u bytes (not supported)",
               QAT_H5_MAX_CHUNK_BYTES);
    goto close_dcpl;
  }
  int nf = H5Pget_nfilters(dcpl);
  if (nf < 0) {
    rc = rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
    goto close_dcpl;
  }
  for (int i = 0; i < nf; i++) {
    unsigned flags, cd_values[8], config;
    size_t cd_n = 8;
    char fname[64] = "";
    H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &cd_n, cd_values, sizeof fname,
                                    fname, &config);
    if (f < 0) {
      rc = rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
      goto close_dcpl;
    }
    /* Lossless, built in, and cheap to run on hostile input. */
    if (f != H5Z_FILTER_DEFLATE && f != H5Z_FILTER_SHUFFLE && f != H5Z_FILTER_FLETCHER32) {
      fname[sizeof fname - 1] = '\0';
      rc = rfail(r, QAT_ERR_FORMAT, n->path,
                 "uses HDF5 filter %d (%s); only deflate, shuffle and fletcher32 are allowed",
                 (int)f, fname[0] ? fname : "unknown");
      goto close_dcpl;
    }
  }
close_dcpl:
  H5Pclose(dcpl);
  return rc;
}

static int verify_checksum(qat_h5_reader *r, const h5_name *n, hid_t dset, const void *buf,
                           size_t nbytes, unsigned flags) {
  char why[WHY_LEN];
  int rc = QAT_OK;
  htri_t ex = H5Aexists(dset, QAT_H5_CRC_ATTR);
  if (ex < 0) return rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
  if (ex == 0) {
    if (r->qat_store || (flags & QAT_H5_REQUIRE_CHECKSUM))
      return rfail(r, QAT_ERR_FORMAT, n->path, "no checksum (attribute '%s' missing)",
                   QAT_H5_CRC_ATTR);
    return QAT_OK;
  }
  hid_t attr = H5Aopen(dset, QAT_H5_CRC_ATTR, H5P_DEFAULT);
  if (attr < 0) return rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
  hid_t type = H5Aget_type(attr);
  hid_t space = H5Aget_space(attr);
  uint32_t stored = 0;
  if (type < 0 || space < 0 || H5Sget_simple_extent_npoints(space) != 1 ||
      !(H5Tequal(type, H5T_STD_U32LE) > 0 || H5Tequal(type, H5T_STD_U32BE) > 0)) {
    rc = rfail(r, QAT_ERR_FORMAT, n->path, "bad checksum attribute '%s'", QAT_H5_CRC_ATTR);
    goto close_all;
  }
  if (H5Aread(attr, H5T_NATIVE_UINT32, &stored) < 0) {
    rc = rfail(r, QAT_ERR_FORMAT, n->path, "%s", h5_why(why, sizeof why));
    goto close_all;
  }
  uint32_t got = h5i_crc_bytes(buf, nbytes);
  if (got != stored)
    rc = rfail(r, QAT_ERR_FORMAT, n->path, "checksum mismatch (expected 0x%08" PRIx32
               ", got 0x%08" PRIx32 ")", stored, got);
close_all:
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  H5Aclose(attr);
  return rc;
}

static int check_finite(qat_h5_reader *r, const h5_name *n, qat_h5_dtype type, const void *buf,
                        size_t nelem) {
  size_t bad = 0, first = 0;
  if (type == QAT_H5_F32) {
    const float *f = buf;
    for (size_t i = 0; i < nelem; i++)
      if (!isfinite(f[i]) && bad++ == 0) first = i;
  } else if (type == QAT_H5_F64) {
    const double *d = buf;
    for (size_t i = 0; i < nelem; i++)
      if (!isfinite(d[i]) && bad++ == 0) first = i;
  }
  if (bad)
    return rfail(r, QAT_ERR_FORMAT, n->path,
                 "contains %zu non-finite value%s (first at flat index %zu)", bad,
                 bad == 1 ? "" : "s", first);
  return QAT_OK;
}

/* The common path of the two array readers: want_rank < 0 takes any shape and allocates. */
static int read_common(qat_h5_reader *r, const char *name, qat_h5_dtype type, int want_rank,
                       const int64_t *want_dims, void *out, void **alloc_out, size_t max_bytes,
                       int *rank_out, int64_t *dims_out, unsigned flags) {
  char why[WHY_LEN], found[SHAPE_LEN], want[SHAPE_LEN];
  h5_name n;
  hid_t dset = -1, ftype = -1;
  int rank;
  int64_t dims[QAT_H5_MAX_RANK];
  void *buf = out;
  size_t nelem, nbytes, elem = qat_h5_dtype_size(type);
  h5_quiet();
  if (!h5i_dtype_valid((int)type)) return qat_fail(QAT_ERR_USAGE, "h5store: invalid dtype %d", (int)type);
  int rc = open_dataset(r, name, &n, &dset);
  if (rc) return rc;
  rc = dataset_shape(r, &n, dset, &rank, dims);
  if (rc) goto close_dset;
  ftype = H5Dget_type(dset);
  if (ftype < 0) {
    rc = rfail(r, QAT_ERR_FORMAT, n.path, "%s", h5_why(why, sizeof why));
    goto close_dset;
  }
  if (!h5i_type_is(ftype, type)) {
    char desc[96];
    h5i_describe_type(ftype, desc, sizeof desc);
    rc = rfail(r, QAT_ERR_FORMAT, n.path, "dtype %s, expected %s", desc, qat_h5_dtype_name(type));
    goto close_type;
  }
  if (want_rank >= 0) {
    bool same = rank == want_rank;
    for (int i = 0; same && i < rank; i++) same = dims[i] == want_dims[i];
    if (!same) {
      h5i_fmt_shape(found, sizeof found, rank, dims);
      h5i_fmt_shape(want, sizeof want, want_rank, want_dims);
      rc = rfail(r, QAT_ERR_FORMAT, n.path, "shape %s, expected %s", found, want);
      goto close_type;
    }
  }
  if (!h5i_shape_size(rank, dims, elem, &nelem, &nbytes)) {
    h5i_fmt_shape(found, sizeof found, rank, dims);
    rc = rfail(r, QAT_ERR_FORMAT, n.path, "shape %s is too large", found);
    goto close_type;
  }
  rc = h5i_check_storage(r, &n, dset, elem);
  if (rc) goto close_type;
  if (alloc_out) {
    if (nbytes > max_bytes) {
      h5i_fmt_shape(found, sizeof found, rank, dims);
      rc = rfail(r, QAT_ERR_FORMAT, n.path, "shape %s needs %zu bytes, over the limit of %zu",
                 found, nbytes, max_bytes);
      goto close_type;
    }
    buf = malloc(nbytes ? nbytes : 1);
    if (!buf) {
      rc = rfail(r, QAT_ERR_NOMEM, n.path, "out of memory for %zu bytes", nbytes);
      goto close_type;
    }
  }
  if (nelem > 0 && H5Dread(dset, h5i_type_mem(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    rc = rfail(r, QAT_ERR_FORMAT, n.path, "cannot read: %s", h5_why(why, sizeof why));
    goto free_buf;
  }
  rc = verify_checksum(r, &n, dset, buf, nbytes, flags);
  if (rc) goto free_buf;
  if (flags & QAT_H5_FINITE) {
    rc = check_finite(r, &n, type, buf, nelem);
    if (rc) goto free_buf;
  }
  if (alloc_out) {
    *alloc_out = buf;
    buf = NULL;
    *rank_out = rank;
    for (int i = 0; i < rank; i++) dims_out[i] = dims[i];
  }
free_buf:
  if (alloc_out) free(buf);
close_type:
  H5Tclose(ftype);
close_dset:
  H5Dclose(dset);
  return rc;
}

static int read_array_impl(qat_h5_reader *r, const char *name, qat_h5_dtype type, int rank,
                           const int64_t *dims, void *out, unsigned flags) {
  size_t nelem, nbytes;
  if (rank < 0 || rank > QAT_H5_MAX_RANK || (rank > 0 && !dims) ||
      !h5i_shape_size(rank, dims, 1, &nelem, &nbytes) || (!out && nelem > 0))
    return qat_fail(QAT_ERR_USAGE, "h5store: read of '%s': invalid expected rank/shape/buffer",
                    name ? name : "");
  return read_common(r, name, type, rank, dims, out, NULL, 0, NULL, NULL, flags);
}

static int read_array_alloc_impl(qat_h5_reader *r, const char *name, qat_h5_dtype type, int *rank,
                                 int64_t dims[QAT_H5_MAX_RANK], void **out, size_t max_bytes,
                                 unsigned flags) {
  *out = NULL;
  return read_common(r, name, type, -1, NULL, NULL, out, max_bytes, rank, dims, flags);
}

static int array_info_impl(qat_h5_reader *r, const char *name, int *type, int *rank,
                           int64_t dims[QAT_H5_MAX_RANK]) {
  char why[WHY_LEN];
  h5_name n;
  hid_t dset = -1;
  h5_quiet();
  int rc = open_dataset(r, name, &n, &dset);
  if (rc) return rc;
  rc = dataset_shape(r, &n, dset, rank, dims);
  if (rc == QAT_OK) {
    hid_t ftype = H5Dget_type(dset);
    if (ftype < 0) {
      rc = rfail(r, QAT_ERR_FORMAT, n.path, "%s", h5_why(why, sizeof why));
    } else {
      *type = h5i_type_of(ftype);
      H5Tclose(ftype);
    }
  }
  H5Dclose(dset);
  return rc;
}

/* ---- attributes ------------------------------------------------------------------------ */

static int has_attr_impl(qat_h5_reader *r, const char *obj, const char *name) {
  char why[WHY_LEN];
  h5_name n;
  hid_t o;
  h5_quiet();
  int rc = reader_check(r);
  if (rc) return rc;
  const char *bad = h5i_parse_name(obj, &n);
  if (bad || !name || !name[0])
    return qat_fail(QAT_ERR_USAGE, "%s: invalid object or attribute name", r->path);
  int walked = h5i_walk(r->file, &n, n.depth, false, false, &o, why, sizeof why);
  if (walked == WALK_H5ERR) return rfail(r, QAT_ERR_FORMAT, n.path, "%s", why);
  if (walked != WALK_FOUND) return 0;
  htri_t ex = H5Aexists(o, name);
  if (ex < 0) h5_why(why, sizeof why);
  H5Oclose(o);
  if (ex < 0) return rfail(r, QAT_ERR_FORMAT, n.path, "%s", why);
  return ex > 0;
}

/* Opens attribute name of obj, with its type and element count (<= max_count). */
typedef struct attr_ref {
  h5_name n;
  hid_t obj, attr, type, space;
  size_t count;
} attr_ref;

static void attr_close(attr_ref *a) {
  if (a->space >= 0) H5Sclose(a->space);
  if (a->type >= 0) H5Tclose(a->type);
  if (a->attr >= 0) H5Aclose(a->attr);
  if (a->obj >= 0) H5Oclose(a->obj);
}

static int attr_open(qat_h5_reader *r, const char *obj, const char *name, size_t max_count,
                     attr_ref *a) {
  char why[WHY_LEN];
  a->obj = a->attr = a->type = a->space = -1;
  if (!name || !name[0]) return qat_fail(QAT_ERR_USAGE, "h5store: empty attribute name");
  int rc = reader_open_obj(r, obj, &a->n, &a->obj);
  if (rc) return rc;
  htri_t ex = H5Aexists(a->obj, name);
  if (ex <= 0) {
    rc = ex < 0 ? rfail(r, QAT_ERR_FORMAT, a->n.path, "%s", h5_why(why, sizeof why))
                : rfail(r, QAT_ERR_FORMAT, a->n.path, "attribute '%s' not found", name);
    goto fail;
  }
  a->attr = H5Aopen(a->obj, name, H5P_DEFAULT);
  if (a->attr < 0) goto h5_error;
  a->type = H5Aget_type(a->attr);
  if (a->type < 0) goto h5_error;
  a->space = H5Aget_space(a->attr);
  if (a->space < 0) goto h5_error;
  hssize_t np = H5Sget_simple_extent_npoints(a->space);
  if (np < 0) goto h5_error;
  if ((uint64_t)np > max_count || np == 0) {
    rc = rfail(r, QAT_ERR_FORMAT, a->n.path, "attribute '%s' has %lld elements, expected %s",
               name, (long long)np, max_count == 1 ? "one" : "at most " "1048576");
    goto fail;
  }
  a->count = (size_t)np;
  return QAT_OK;
h5_error:
  rc = rfail(r, QAT_ERR_FORMAT, a->n.path, "attribute '%s': %s", name, h5_why(why, sizeof why));
fail:
  attr_close(a);
  return rc;
}
_Static_assert(QAT_H5_MAX_STRINGS == 1048576, "update the message in attr_open");

void qat_h5_strings_free(char **list, size_t count) {
  if (!list) return;
  for (size_t i = 0; i < count; i++) free(list[i]);
  free(list);
}

static int read_strings(qat_h5_reader *r, const char *obj, const char *name, size_t max_count,
                        char ***out, size_t *count) {
  char why[WHY_LEN];
  attr_ref a;
  *out = NULL;
  *count = 0;
  int rc = reader_check(r);
  if (rc) return rc;
  rc = attr_open(r, obj, name, max_count, &a);
  if (rc) return rc;
  hid_t mem = -1;
  char **list = NULL, **raw = NULL, *fixed = NULL;
  if (H5Tget_class(a.type) != H5T_STRING) {
    char desc[96];
    h5i_describe_type(a.type, desc, sizeof desc);
    rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s' is %s, expected a string", name, desc);
    goto close_attr;
  }
  list = calloc(a.count, sizeof *list);
  if (!list) {
    rc = rfail(r, QAT_ERR_NOMEM, a.n.path, "out of memory");
    goto close_attr;
  }
  htri_t vlen = H5Tis_variable_str(a.type);
  if (vlen < 0) goto h5_error;
  if (vlen) {
    /* HDF5 mallocs each string; converting between character sets is not supported, so the
     * memory type takes the file's. */
    mem = H5Tcopy(H5T_C_S1);
    if (mem < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 ||
        H5Tset_cset(mem, H5Tget_cset(a.type)) < 0)
      goto h5_error;
    raw = calloc(a.count, sizeof *raw);
    if (!raw) {
      rc = rfail(r, QAT_ERR_NOMEM, a.n.path, "out of memory");
      goto close_mem;
    }
    if (H5Aread(a.attr, mem, raw) < 0) goto h5_error;
    for (size_t i = 0; i < a.count && rc == QAT_OK; i++) {
      const char *s = raw[i] ? raw[i] : "";
      size_t len = strnlen(s, (size_t)QAT_H5_MAX_STRING + 1);
      if (len > QAT_H5_MAX_STRING)
        rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s': string too long", name);
      else if (!(list[i] = strndup(s, len)))
        rc = rfail(r, QAT_ERR_NOMEM, a.n.path, "out of memory");
    }
    H5Dvlen_reclaim(mem, a.space, H5P_DEFAULT, raw);
    if (rc) goto close_mem;
  } else {
    /* Fixed-length: read the raw bytes with the file's own type (no conversion), then cut
     * each element at its first NUL (NULLTERM/NULLPAD) or strip trailing spaces (SPACEPAD). */
    size_t size = H5Tget_size(a.type);
    if (size == 0 || size > QAT_H5_MAX_STRING || a.count > QAT_H5_MAX_STRING / size) {
      rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s' is larger than %u bytes", name,
                 QAT_H5_MAX_STRING);
      goto close_mem;
    }
    mem = H5Tcopy(a.type);
    if (mem < 0) goto h5_error;
    fixed = malloc(a.count * size);
    if (!fixed) {
      rc = rfail(r, QAT_ERR_NOMEM, a.n.path, "out of memory");
      goto close_mem;
    }
    if (H5Aread(a.attr, mem, fixed) < 0) goto h5_error;
    bool spacepad = H5Tget_strpad(a.type) == H5T_STR_SPACEPAD;
    for (size_t i = 0; i < a.count; i++) {
      const char *s = fixed + i * size;
      size_t len = strnlen(s, size);
      if (spacepad)
        while (len > 0 && s[len - 1] == ' ') len--;
      if (!(list[i] = strndup(s, len))) {
        rc = rfail(r, QAT_ERR_NOMEM, a.n.path, "out of memory");
        goto close_mem;
      }
    }
  }
  *out = list;
  *count = a.count;
  list = NULL;
  goto close_mem;
h5_error:
  rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s': %s", name, h5_why(why, sizeof why));
close_mem:
  if (mem >= 0) H5Tclose(mem);
  free(fixed);
  free(raw);
  qat_h5_strings_free(list, a.count);
close_attr:
  attr_close(&a);
  return rc;
}

static int read_attr_strings_impl(qat_h5_reader *r, const char *obj, const char *name, char ***out,
                                  size_t *count) {
  h5_quiet();
  return read_strings(r, obj, name, QAT_H5_MAX_STRINGS, out, count);
}

static int read_attr_string_impl(qat_h5_reader *r, const char *obj, const char *name, char **out) {
  char **list;
  size_t count;
  *out = NULL;
  h5_quiet();
  int rc = read_strings(r, obj, name, 1, &list, &count);
  if (rc) return rc;
  *out = list[0];
  free(list);
  return QAT_OK;
}

static int read_attr_int64(qat_h5_reader *r, const char *obj, const char *name, int64_t *out) {
  char why[WHY_LEN];
  attr_ref a;
  int rc = reader_check(r);
  if (rc) return rc;
  rc = attr_open(r, obj, name, 1, &a);
  if (rc) return rc;
  if (H5Tget_class(a.type) != H5T_INTEGER || H5Tget_size(a.type) > 8) {
    char desc[96];
    h5i_describe_type(a.type, desc, sizeof desc);
    rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s' is %s, expected an integer", name,
               desc);
    goto close_attr;
  }
  /* HDF5 clamps out-of-range conversions silently: read a uint64 as such and range-check. */
  if (H5Tget_sign(a.type) == H5T_SGN_NONE && H5Tget_size(a.type) == 8) {
    uint64_t u;
    if (H5Aread(a.attr, H5T_NATIVE_UINT64, &u) < 0) goto h5_error;
    if (u > (uint64_t)INT64_MAX) {
      rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s' = %" PRIu64 " does not fit int64",
                 name, u);
      goto close_attr;
    }
    *out = (int64_t)u;
  } else {
    if (H5Aread(a.attr, H5T_NATIVE_INT64, out) < 0) goto h5_error;
  }
  goto close_attr;
h5_error:
  rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s': %s", name, h5_why(why, sizeof why));
close_attr:
  attr_close(&a);
  return rc;
}

static int read_attr_int64_impl(qat_h5_reader *r, const char *obj, const char *name, int64_t *out) {
  h5_quiet();
  return read_attr_int64(r, obj, name, out);
}

static int read_attr_double_impl(qat_h5_reader *r, const char *obj, const char *name, double *out) {
  char why[WHY_LEN];
  attr_ref a;
  h5_quiet();
  int rc = reader_check(r);
  if (rc) return rc;
  rc = attr_open(r, obj, name, 1, &a);
  if (rc) return rc;
  if (H5Tget_class(a.type) != H5T_FLOAT) {
    char desc[96];
    h5i_describe_type(a.type, desc, sizeof desc);
    rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s' is %s, expected a float", name, desc);
  } else if (H5Aread(a.attr, H5T_NATIVE_DOUBLE, out) < 0) {
    rc = rfail(r, QAT_ERR_FORMAT, a.n.path, "attribute '%s': %s", name, h5_why(why, sizeof why));
  }
  attr_close(&a);
  return rc;
}

/* ---- listing --------------------------------------------------------------------------- */

typedef struct list_ctx {
  qat_h5_list_fn fn;
  void *ctx;
  int user_rc; /* what fn returned last */
} list_ctx;

static herr_t list_cb(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  list_ctx *c = data;
  qat_h5_kind kind = QAT_H5_OTHER;
  if (info->type == H5L_TYPE_HARD) {
    hid_t o = H5Oopen(group, name, H5P_DEFAULT);
    if (o < 0) return -1;
    H5I_type_t t = H5Iget_type(o);
    H5Oclose(o);
    kind = t == H5I_GROUP ? QAT_H5_GROUP : t == H5I_DATASET ? QAT_H5_DATASET : QAT_H5_OTHER;
  }
  c->user_rc = c->fn(name, kind, c->ctx);
  return c->user_rc > 0 ? 1 : c->user_rc < 0 ? -1 : 0;
}

static int list_impl(qat_h5_reader *r, const char *group, qat_h5_list_fn fn, void *ctx) {
  char why[WHY_LEN];
  h5_name n;
  hid_t g;
  h5_quiet();
  int rc = reader_open_obj(r, group, &n, &g);
  if (rc) return rc;
  if (H5Iget_type(g) != H5I_GROUP) {
    H5Oclose(g);
    return rfail(r, QAT_ERR_FORMAT, n.path, "is not a group");
  }
  list_ctx c = {fn, ctx, 0};
  hsize_t idx = 0;
  herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c);
  if (e < 0 && c.user_rc >= 0) rc = rfail(r, QAT_ERR_FORMAT, n.path, "%s", h5_why(why, sizeof why));
  else if (e < 0) rc = c.user_rc;
  else rc = e > 0 ? c.user_rc : QAT_OK;
  H5Oclose(g);
  return rc;
}

/* ---- the public reads: each made in a child first (see h5i_child_start) ------------------ */

int qat_h5_has(qat_h5_reader *r, const char *name) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", has_impl(r, name));
  return has_impl(r, name);
}

int qat_h5_read_array(qat_h5_reader *r, const char *name, qat_h5_dtype type, int rank,
                      const int64_t *dims, void *out, unsigned flags) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", read_array_impl(r, name, type, rank, dims, out, flags));
  return read_array_impl(r, name, type, rank, dims, out, flags);
}

int qat_h5_read_array_alloc(qat_h5_reader *r, const char *name, qat_h5_dtype type, int *rank,
                            int64_t dims[QAT_H5_MAX_RANK], void **out, size_t max_bytes,
                            unsigned flags) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", read_array_alloc_impl(r, name, type, rank, dims, out, max_bytes, flags));
  return read_array_alloc_impl(r, name, type, rank, dims, out, max_bytes, flags);
}

int qat_h5_array_info(qat_h5_reader *r, const char *name, int *type, int *rank,
                      int64_t dims[QAT_H5_MAX_RANK]) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", array_info_impl(r, name, type, rank, dims));
  return array_info_impl(r, name, type, rank, dims);
}

int qat_h5_has_attr(qat_h5_reader *r, const char *obj, const char *name) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", has_attr_impl(r, obj, name));
  return has_attr_impl(r, obj, name);
}

int qat_h5_read_attr_strings(qat_h5_reader *r, const char *obj, const char *name, char ***out,
                             size_t *count) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", read_attr_strings_impl(r, obj, name, out, count));
  return read_attr_strings_impl(r, obj, name, out, count);
}

int qat_h5_read_attr_string(qat_h5_reader *r, const char *obj, const char *name, char **out) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", read_attr_string_impl(r, obj, name, out));
  return read_attr_string_impl(r, obj, name, out);
}

int qat_h5_read_attr_int64(qat_h5_reader *r, const char *obj, const char *name, int64_t *out) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", read_attr_int64_impl(r, obj, name, out));
  return read_attr_int64_impl(r, obj, name, out);
}

int qat_h5_read_attr_double(qat_h5_reader *r, const char *obj, const char *name, double *out) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", read_attr_double_impl(r, obj, name, out));
  return read_attr_double_impl(r, obj, name, out);
}

int qat_h5_list(qat_h5_reader *r, const char *group, qat_h5_list_fn fn, void *ctx) {
  H5I_REHEARSE(r && r->path ? r->path : "h5store", list_impl(r, group, fn, ctx));
  return list_impl(r, group, fn, ctx);
}
