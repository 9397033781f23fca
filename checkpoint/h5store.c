/* HDF5 tensor store: see include/qat/h5store.h for the file layout and the guarantees.
 *
 * Every public function starts with h5_quiet(): Debian's libhdf5 is built thread-safe, where
 * the automatic error printing is a per-thread setting, so switching it off once at startup
 * would not cover a reader used from another thread. Failures are turned into one-line
 * messages, with the most specific entry of HDF5's error stack as the reason. */
#include "qat/h5store.h"

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
#include "qat/limits.h"

_Static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is kept as int64_t in the public structs");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "h5store: checksums are defined over little-endian bytes; this host is big-endian"
#endif

/* 1: qat_h5_reader_open parses files in a child process first (see below); the fuzz
 * harnesses set 0 so that a crash in the parser is seen, not contained. */
int qat_h5_isolate = 1;
/* Testing hook: a signal the child raises after opening the file (0: none), to check that a
 * crash inside the child becomes a clean error (tests/test_reliability.c). */
int qat_h5_probe_fault_signal = 0;

#define WHY_LEN 320
#define SHAPE_LEN 256

static void h5_quiet(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  /* A crafted file can name any filter id; never dlopen a plugin to decode it. */
  H5PLset_loading_state(0);
}

/* ---- HDF5 error stack -> one line ------------------------------------------------------ */

typedef struct why_ctx {
  char *buf;
  size_t len;
} why_ctx;

static herr_t why_cb(unsigned n, const H5E_error2_t *e, void *data) {
  why_ctx *w = data;
  if (n != 0 || !e || !e->desc) return 0;
  /* System call failures carry "errno = 28, error message = 'No space left on device'":
   * the strerror text is what a user needs, the rest (fd, offsets, temp name) is noise. */
  static const char key[] = "error message = '";
  const char *m = strstr(e->desc, key);
  if (m) {
    m += sizeof key - 1;
    const char *q = strchr(m, '\'');
    int l = q ? (int)(q - m) : (int)strlen(m);
    snprintf(w->buf, w->len, "%.*s", l, m);
  } else {
    snprintf(w->buf, w->len, "HDF5: %s", e->desc);
  }
  return 0;
}

/* The innermost (most specific) error of the failed call; must run before any other HDF5
 * call, which would clear the stack. */
static const char *h5_why(char *buf, size_t len) {
  buf[0] = '\0';
  why_ctx c = {buf, len};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, why_cb, &c);
  if (!buf[0]) snprintf(buf, len, "HDF5 library error");
  return buf;
}

/* ---- types ----------------------------------------------------------------------------- */

size_t qat_h5_dtype_size(qat_h5_dtype type) {
  switch (type) {
  case QAT_H5_F32: return 4;
  case QAT_H5_F64: return 8;
  case QAT_H5_I8: return 1;
  case QAT_H5_U8: return 1;
  case QAT_H5_I32: return 4;
  case QAT_H5_I64: return 8;
  case QAT_H5_U64: return 8;
  }
  return 0;
}

const char *qat_h5_dtype_name(qat_h5_dtype type) {
  switch (type) {
  case QAT_H5_F32: return "float32";
  case QAT_H5_F64: return "float64";
  case QAT_H5_I8: return "int8";
  case QAT_H5_U8: return "uint8";
  case QAT_H5_I32: return "int32";
  case QAT_H5_I64: return "int64";
  case QAT_H5_U64: return "uint64";
  }
  return "invalid";
}

static bool dtype_valid(int type) { return type >= 0 && type < QAT_H5_DTYPE_COUNT; }

/* The H5T_* names are macros that call H5open(), so they cannot sit in a static table. */
static hid_t type_le(qat_h5_dtype t) {
  switch (t) {
  case QAT_H5_F32: return H5T_IEEE_F32LE;
  case QAT_H5_F64: return H5T_IEEE_F64LE;
  case QAT_H5_I8: return H5T_STD_I8LE;
  case QAT_H5_U8: return H5T_STD_U8LE;
  case QAT_H5_I32: return H5T_STD_I32LE;
  case QAT_H5_I64: return H5T_STD_I64LE;
  case QAT_H5_U64: return H5T_STD_U64LE;
  }
  return -1;
}

static hid_t type_be(qat_h5_dtype t) {
  switch (t) {
  case QAT_H5_F32: return H5T_IEEE_F32BE;
  case QAT_H5_F64: return H5T_IEEE_F64BE;
  case QAT_H5_I8: return H5T_STD_I8BE;
  case QAT_H5_U8: return H5T_STD_U8BE;
  case QAT_H5_I32: return H5T_STD_I32BE;
  case QAT_H5_I64: return H5T_STD_I64BE;
  case QAT_H5_U64: return H5T_STD_U64BE;
  }
  return -1;
}

static hid_t type_mem(qat_h5_dtype t) {
  switch (t) {
  case QAT_H5_F32: return H5T_NATIVE_FLOAT;
  case QAT_H5_F64: return H5T_NATIVE_DOUBLE;
  case QAT_H5_I8: return H5T_NATIVE_INT8;
  case QAT_H5_U8: return H5T_NATIVE_UINT8;
  case QAT_H5_I32: return H5T_NATIVE_INT32;
  case QAT_H5_I64: return H5T_NATIVE_INT64;
  case QAT_H5_U64: return H5T_NATIVE_UINT64;
  }
  return -1;
}

/* Exactly one of our types in either byte order: HDF5 then only swaps bytes on read, so the
 * values (and the checksum over them) are the file's. Odd precisions or bit layouts are
 * refused rather than silently converted. */
static bool type_is(hid_t ftype, qat_h5_dtype t) {
  return H5Tequal(ftype, type_le(t)) > 0 || H5Tequal(ftype, type_be(t)) > 0;
}

static int type_of(hid_t ftype) {
  for (int t = 0; t < QAT_H5_DTYPE_COUNT; t++)
    if (type_is(ftype, (qat_h5_dtype)t)) return t;
  return -1;
}

static void describe_type(hid_t ftype, char *buf, size_t len) {
  int t = type_of(ftype);
  if (t >= 0) {
    snprintf(buf, len, "%s", qat_h5_dtype_name((qat_h5_dtype)t));
    return;
  }
  size_t bits = H5Tget_size(ftype) * 8;
  switch (H5Tget_class(ftype)) {
  case H5T_INTEGER:
    snprintf(buf, len, "%s%zu (nonstandard layout)",
             H5Tget_sign(ftype) == H5T_SGN_NONE ? "uint" : "int", bits);
    break;
  case H5T_FLOAT: snprintf(buf, len, "float%zu", bits); break;
  case H5T_STRING: snprintf(buf, len, "string"); break;
  case H5T_COMPOUND: snprintf(buf, len, "compound"); break;
  case H5T_ENUM: snprintf(buf, len, "enum"); break;
  case H5T_ARRAY: snprintf(buf, len, "array"); break;
  case H5T_VLEN: snprintf(buf, len, "vlen"); break;
  case H5T_OPAQUE: snprintf(buf, len, "opaque"); break;
  case H5T_BITFIELD: snprintf(buf, len, "bitfield"); break;
  case H5T_REFERENCE: snprintf(buf, len, "reference"); break;
  default: snprintf(buf, len, "unknown type"); break;
  }
  if (H5Tget_class(ftype) == H5T_FLOAT && (bits == 32 || bits == 64))
    snprintf(buf + strlen(buf), len - strlen(buf), " (nonstandard layout)");
}

static void fmt_shape(char *buf, size_t len, int rank, const int64_t *dims) {
  size_t at = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < rank && at < len; i++)
    at += (size_t)snprintf(buf + at, len - at, "%s%" PRId64, i ? "," : "", dims[i]);
  if (at < len) snprintf(buf + at, len - at, "]");
}

/* Checked element count and byte size; false on overflow of size_t. */
static bool shape_size(int rank, const int64_t *dims, size_t elem, size_t *nelem, size_t *nbytes) {
  size_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) return false;
    if (dims[i] != 0 && n > SIZE_MAX / (uint64_t)dims[i]) return false;
    n *= (size_t)dims[i];
  }
  if (elem && n > SIZE_MAX / elem) return false;
  *nelem = n;
  *nbytes = n * elem;
  return true;
}

static uint32_t crc_bytes(const void *p, size_t n) {
  uLong c = crc32_z(0L, Z_NULL, 0);
  if (n) c = crc32_z(c, (const Bytef *)p, (z_size_t)n);
  return (uint32_t)c;
}

/* ---- superblock checksum (for H5Fget_file_image) --------------------------------------- */

/* Bob Jenkins' lookup3 hashlittle(), which HDF5 uses for all metadata checksums
 * (H5_checksum_metadata). Public domain algorithm; see fix_image_superblock for why. */
#define LOOKUP3_ROT(x, k) (((x) << (k)) ^ ((x) >> (32 - (k))))
static uint32_t lookup3(const unsigned char *k, size_t length) {
  uint32_t a, b, c;
  a = b = c = 0xdeadbeefu + (uint32_t)length;
  while (length > 12) {
    a += k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
    b += k[4] | (uint32_t)k[5] << 8 | (uint32_t)k[6] << 16 | (uint32_t)k[7] << 24;
    c += k[8] | (uint32_t)k[9] << 8 | (uint32_t)k[10] << 16 | (uint32_t)k[11] << 24;
    a -= c; a ^= LOOKUP3_ROT(c, 4);  c += b;
    b -= a; b ^= LOOKUP3_ROT(a, 6);  a += c;
    c -= b; c ^= LOOKUP3_ROT(b, 8);  b += a;
    a -= c; a ^= LOOKUP3_ROT(c, 16); c += b;
    b -= a; b ^= LOOKUP3_ROT(a, 19); a += c;
    c -= b; c ^= LOOKUP3_ROT(b, 4);  b += a;
    length -= 12;
    k += 12;
  }
  if (length == 0) return c;
  unsigned char tail[12] = {0};
  memcpy(tail, k, length);
  a += tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
  b += tail[4] | (uint32_t)tail[5] << 8 | (uint32_t)tail[6] << 16 | (uint32_t)tail[7] << 24;
  c += tail[8] | (uint32_t)tail[9] << 8 | (uint32_t)tail[10] << 16 | (uint32_t)tail[11] << 24;
  c ^= b; c -= LOOKUP3_ROT(b, 14);
  a ^= c; a -= LOOKUP3_ROT(c, 11);
  b ^= a; b -= LOOKUP3_ROT(a, 25);
  c ^= b; c -= LOOKUP3_ROT(b, 16);
  a ^= c; a -= LOOKUP3_ROT(c, 4);
  b ^= a; b -= LOOKUP3_ROT(a, 14);
  c ^= b; c -= LOOKUP3_ROT(b, 24);
  return c;
}

static uint32_t le32(const unsigned char *p) {
  return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* libhdf5 1.10.8's H5Fget_file_image() zeroes the superblock's status-flags byte (set to
 * "open for writing" while the file is open) in the copy it returns, but keeps the checksum
 * computed with the flag set, so the image fails to open ("incorrect metadata checksum").
 * This recomputes the checksum, after checking that the stored one is explained exactly by a
 * cleared flags byte; an image that is already consistent (a fixed libhdf5) is left alone.
 * Superblock v2/v3: signature[8] version sizeof_offsets sizeof_lengths flags, then four
 * addresses, then the checksum. Returns false when the image is not what we expect. */
static bool fix_image_superblock(unsigned char *img, size_t size) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (size < 12 || memcmp(img, sig, 8) != 0) return false;
  if (img[8] < 2) return true; /* superblock v0/v1 carry no checksum */
  size_t n = 12 + 4 * (size_t)img[9];
  if (img[9] == 0 || n + 4 > size) return false;
  uint32_t stored = le32(img + n);
  if (lookup3(img, n) == stored) return true;
  unsigned char flags = img[11];
  bool explained = false;
  for (unsigned f = 1; f < 256 && !explained; f++) {
    img[11] = (unsigned char)f;
    explained = lookup3(img, n) == stored;
  }
  img[11] = flags;
  if (!explained) return false;
  uint32_t sum = lookup3(img, n);
  for (int i = 0; i < 4; i++) img[n + (size_t)i] = (unsigned char)(sum >> (8 * i));
  return true;
}

/* ---- object names ---------------------------------------------------------------------- */

typedef struct h5_name {
  char path[QAT_H5_MAX_NAME + 2];  /* normalised: "/" or "/a/b", for messages */
  char comps[QAT_H5_MAX_NAME + 2]; /* the components, NUL-separated */
  const char *comp[QAT_H5_MAX_DEPTH];
  int end[QAT_H5_MAX_DEPTH]; /* path[0..end[i]) is the prefix ending with component i */
  int depth;
} h5_name;

/* Accepts "a/b", "/a/b", "" or "/" (the root). Rejects empty, "." and ".." components (HDF5
 * gives "." a meaning) and over-long or over-deep names. Returns NULL or the reason. */
static const char *parse_name(const char *name, h5_name *n) {
  if (!name) return "no name given";
  if (strlen(name) > QAT_H5_MAX_NAME) return "name too long";
  const char *p = name[0] == '/' ? name + 1 : name;
  size_t pl = 1, cl = 0;
  n->depth = 0;
  n->path[0] = '/';
  n->path[1] = '\0';
  if (!*p) return NULL;
  for (;;) {
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t l = (size_t)(p - s);
    if (l == 0) return "empty path component";
    if ((l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
      return "'.' and '..' are not allowed";
    if (n->depth == QAT_H5_MAX_DEPTH) return "more than " "32" " path components";
    if (n->depth > 0) n->path[pl++] = '/';
    memcpy(n->path + pl, s, l);
    pl += l;
    n->end[n->depth] = (int)pl;
    memcpy(n->comps + cl, s, l);
    n->comps[cl + l] = '\0';
    n->comp[n->depth] = n->comps + cl;
    cl += l + 1;
    n->depth++;
    if (!*p) break;
    p++;
  }
  n->path[pl] = '\0';
  return NULL;
}
_Static_assert(QAT_H5_MAX_DEPTH == 32, "update the message in parse_name");

enum { WALK_FOUND = 1, WALK_MISSING = 0, WALK_BAD = -1, WALK_H5ERR = -2 };

/* Follows the first `upto` components of n from the root, through hard links only (a soft
 * link can point anywhere, an external link opens another file). With create, missing
 * components become groups. Every component but the last must be a group, and the last too
 * with last_group. Returns WALK_FOUND with *out open, or another WALK_* with why set. */
static int walk(hid_t file, const h5_name *n, int upto, bool create, bool last_group, hid_t *out,
                char *why, size_t wl) {
  hid_t cur = H5Gopen2(file, "/", H5P_DEFAULT);
  if (cur < 0) {
    h5_why(why, wl);
    return WALK_H5ERR;
  }
  for (int i = 0; i < upto; i++) {
    const char *c = n->comp[i];
    hid_t next;
    htri_t ex = H5Lexists(cur, c, H5P_DEFAULT);
    if (ex < 0) goto h5_error;
    if (ex == 0) {
      if (!create) {
        if (i == n->depth - 1)
          snprintf(why, wl, "not found");
        else
          snprintf(why, wl, "not found ('%.*s' does not exist)", n->end[i], n->path);
        H5Oclose(cur);
        return WALK_MISSING;
      }
      next = H5Gcreate2(cur, c, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (next < 0) goto h5_error;
    } else {
      H5L_info_t li;
      if (H5Lget_info(cur, c, &li, H5P_DEFAULT) < 0) goto h5_error;
      if (li.type != H5L_TYPE_HARD) {
        snprintf(why, wl, "'%.*s' is %s link (not followed)", n->end[i], n->path,
                 li.type == H5L_TYPE_SOFT       ? "a soft"
                 : li.type == H5L_TYPE_EXTERNAL ? "an external"
                                                : "a user-defined");
        H5Oclose(cur);
        return WALK_BAD;
      }
      next = H5Oopen(cur, c, H5P_DEFAULT);
      if (next < 0) goto h5_error;
      if ((i < upto - 1 || last_group) && H5Iget_type(next) != H5I_GROUP) {
        snprintf(why, wl, "'%.*s' is not a group", n->end[i], n->path);
        H5Oclose(next);
        H5Oclose(cur);
        return WALK_BAD;
      }
    }
    H5Oclose(cur);
    cur = next;
  }
  *out = cur;
  return WALK_FOUND;
h5_error:
  h5_why(why, wl);
  H5Oclose(cur);
  return WALK_H5ERR;
}

/* File access for reading: sec2 explicitly, so a superblock cannot switch us to the
 * family/multi drivers (which open further files). STRONG close: H5Fclose really closes the
 * file even if an object id leaked. No flock(): our files are immutable once renamed, and
 * locking fails outright on some network filesystems. One metadata read attempt: HDF5 1.10
 * otherwise re-reads a superblock that fails its checksum, with nanosleeps in between (meant
 * for SWMR readers racing a writer); a corrupt file gains nothing from that, and rejecting
 * one took about twice as long (0.3 ms instead of 0.16 ms here). */
static hid_t read_access_plist(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return -1;
  if (H5Pset_fapl_sec2(fapl) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
      H5Pset_file_locking(fapl, 0, 1) < 0 || H5Pset_metadata_read_attempts(fapl, 1) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

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
  const char *bad = parse_name(name, &n);
  if (bad) return wfail(w, QAT_ERR_USAGE, NULL, "dataset name '%s': %s", name ? name : "", bad);
  if (n.depth == 0) return wfail(w, QAT_ERR_USAGE, NULL, "a dataset needs a name, not '/'");
  if (!dtype_valid((int)type)) return wfail(w, QAT_ERR_USAGE, n.path, "invalid dtype %d", (int)type);
  if (rank < 0 || rank > QAT_H5_MAX_RANK || (rank > 0 && !dims))
    return wfail(w, QAT_ERR_USAGE, n.path, "invalid rank %d", rank);
  size_t nelem, nbytes;
  if (!shape_size(rank, dims, qat_h5_dtype_size(type), &nelem, &nbytes)) {
    char shape[SHAPE_LEN];
    fmt_shape(shape, sizeof shape, rank, dims);
    return wfail(w, QAT_ERR_USAGE, n.path, "invalid shape %s", shape);
  }
  if (nelem > 0 && !data) return wfail(w, QAT_ERR_USAGE, n.path, "no data");

  hsize_t hd[QAT_H5_MAX_RANK];
  for (int i = 0; i < rank; i++) hd[i] = (hsize_t)dims[i];
  const char *leaf = n.comp[n.depth - 1];
  hid_t parent = -1, space = -1, dcpl = -1, dset = -1;
  int walked = walk(w->file, &n, n.depth - 1, true, true, &parent, why, sizeof why);
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
  dset = H5Dcreate2(parent, leaf, type_le(type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dset < 0) goto h5_error;
  if (nelem > 0 && H5Dwrite(dset, type_mem(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    goto h5_error;
  uint32_t crc = crc_bytes(data, nbytes);
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
  const char *bad = parse_name(obj, n);
  if (bad) return wfail(w, QAT_ERR_USAGE, NULL, "object name '%s': %s", obj ? obj : "", bad);
  if (!name || !name[0] || strlen(name) > QAT_H5_MAX_NAME)
    return wfail(w, QAT_ERR_USAGE, n->path, "invalid attribute name");
  if (strncmp(name, "qat_", 4) == 0)
    return wfail(w, QAT_ERR_USAGE, n->path, "attribute name '%s' is reserved", name);
  int walked = walk(w->file, n, n->depth, true, false, out, why, sizeof why);
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
  if (!fix_image_superblock(image, (size_t)size)) {
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
  const char *bad = parse_name(name, n);
  if (bad)
    return qat_fail(QAT_ERR_USAGE, "%s: invalid object name '%s': %s", r->path, name ? name : "",
                    bad);
  if (walk(r->file, n, n->depth, false, false, out, why, sizeof why) != WALK_FOUND)
    return rfail(r, QAT_ERR_FORMAT, n->path, "%s", why);
  return QAT_OK;
}

static int read_attr_int64(qat_h5_reader *r, const char *obj, const char *name, int64_t *out);
static int reader_finish_open(qat_h5_reader *r, const char *path, hid_t file);

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

/* ---- parsing hostile files in a child process ------------------------------------------
 *
 * libhdf5 1.10.8 (Debian 12) has unfixed bugs that crafted files reach: invalid frees, heap
 * overflows and SEGVs in the global heap (variable-length strings), endless loops, and
 * allocations of gigabytes from a few bytes. qat's own checks cannot prevent them all, since
 * they happen while the library decodes metadata. So before a file is opened in this process,
 * a forked child opens the same bytes (the image already in memory: nothing can change between
 * the check and the use) and walks everything in it: every link, group, dataset (storage
 * checked, data read) and attribute (read, variable-length strings included), with a CPU-time
 * limit, a wall-clock limit and (outside sanitizer builds) an address-space limit. A child
 * that crashes, hangs or runs out of memory becomes a one-line error naming the file; one that
 * finds groups nested deeper than QAT_H5_MAX_DEPTH or more than QAT_H5_MAX_OBJECTS objects
 * sends that message back through a pipe. The child never follows soft, external or
 * user-defined links and never reads datasets with external or virtual storage or filters
 * other than deflate/shuffle/fletcher32; the reader refuses those when they are used
 * (walk, check_storage). Only then does this process open the image. The cost is one extra parse (measured in fuzz/README.md). */

typedef struct probe {
  hid_t file;
  int objects;
  char msg[512];
} probe;

static herr_t probe_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  probe *p = data;
  if (++p->objects > QAT_H5_MAX_OBJECTS) return 1;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return 0;
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  if (t >= 0 && n > 0 && (uint64_t)n <= QAT_H5_MAX_STRINGS) {
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
      char **raw = calloc((size_t)n, sizeof *raw);
      hid_t mem = H5Tcopy(H5T_C_S1);
      if (raw && mem >= 0 && H5Tset_size(mem, H5T_VARIABLE) >= 0 &&
          H5Tset_cset(mem, H5Tget_cset(t)) >= 0 && H5Aread(a, mem, raw) >= 0)
        H5Dvlen_reclaim(mem, sp, H5P_DEFAULT, raw);
      if (mem >= 0) H5Tclose(mem);
      free(raw);
    } else if (H5Tget_class(t) != H5T_VLEN && H5Tget_class(t) != H5T_REFERENCE &&
               H5Tdetect_class(t, H5T_VLEN) <= 0 && H5Tdetect_class(t, H5T_STRING) <= 0) {
      size_t sz = H5Tget_size(t);
      if (sz > 0 && sz <= QAT_H5_MAX_STRING && (uint64_t)n <= QAT_H5_MAX_STRING / sz) {
        void *buf = malloc((size_t)n * sz);
        if (buf) H5Aread(a, t, buf);
        free(buf);
      }
    } else if (H5Tget_class(t) == H5T_STRING) {
      size_t sz = H5Tget_size(t);
      if (sz > 0 && sz <= QAT_H5_MAX_STRING && (uint64_t)n <= QAT_H5_MAX_STRING / sz) {
        void *buf = malloc((size_t)n * sz);
        if (buf) H5Aread(a, t, buf);
        free(buf);
      }
    }
  }
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  return 0;
}

/* Reads the data of a dataset whose storage the reader would accept; one that the reader
 * refuses at use (external or virtual storage, filters other than deflate/shuffle/fletcher32:
 * see check_storage) is not read here either, so nothing opens other files or plugins. */
static void probe_dataset(hid_t d) {
  hid_t dcpl = H5Dget_create_plist(d);
  if (dcpl < 0) return;
  bool readable = H5Pget_external_count(dcpl) == 0 && H5Pget_layout(dcpl) != H5D_VIRTUAL;
  int nf = readable ? H5Pget_nfilters(dcpl) : 0;
  for (int i = 0; i < nf && readable; i++) {
    unsigned flags, cdv[8], config;
    size_t cdn = 8;
    char fname[64] = "";
    H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &cdn, cdv, sizeof fname, fname,
                                    &config);
    readable = f == H5Z_FILTER_DEFLATE || f == H5Z_FILTER_SHUFFLE || f == H5Z_FILTER_FLETCHER32;
  }
  /* Contiguous and compact data is a plain copy out of the image (offset and size already
   * checked against it); chunked data goes through the chunk index and the filters, where
   * decoding bugs live: only that is read here. */
  if (readable && H5Pget_layout(dcpl) != H5D_CHUNKED) readable = false;
  H5Pclose(dcpl);
  if (!readable) return;
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  size_t sz = t >= 0 ? H5Tget_size(t) : 0;
  if (n > 0 && sz > 0 && H5Tget_class(t) != H5T_VLEN && H5Tdetect_class(t, H5T_VLEN) <= 0 &&
      H5Tis_variable_str(t) <= 0 && H5Tget_class(t) != H5T_REFERENCE &&
      (uint64_t)n <= QAT_H5_MAX_DATASET_BYTES / sz) {
    void *buf = malloc((size_t)n * sz);
    if (buf) H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    free(buf);
  }
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
}

/* Depth-first over hard links; returns 1 with p->msg set to refuse the file. */
static int probe_group(probe *p, hid_t g, const char *where, int depth) {
  H5G_info_t gi;
  if (H5Gget_info(g, &gi) < 0) return 0;
  hsize_t n = gi.nlinks;
  if (n > QAT_H5_MAX_OBJECTS) n = QAT_H5_MAX_OBJECTS;
  hsize_t idx = 0;
  H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, probe_attr, p);
  for (hsize_t i = 0; i < n; i++) {
    if (++p->objects > QAT_H5_MAX_OBJECTS) {
      snprintf(p->msg, sizeof p->msg, "/: more than %d objects (refused)", QAT_H5_MAX_OBJECTS);
      return 1;
    }
    char name[256];
    ssize_t nl = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_NATIVE, i, name, sizeof name,
                                    H5P_DEFAULT);
    if (nl < 0) continue;
    char sub[QAT_H5_MAX_NAME + 2];
    snprintf(sub, sizeof sub, "%s/%s", depth ? where : "", name);
    H5L_info_t li;
    if (H5Lget_info_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_NATIVE, i, &li, H5P_DEFAULT) < 0)
      continue;
    /* soft, external and user-defined links are never followed (the reader refuses them
     * when a name leads through one) */
    if (li.type != H5L_TYPE_HARD || nl >= (ssize_t)sizeof name) continue;
    hid_t o = H5Oopen_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_NATIVE, i, H5P_DEFAULT);
    if (o < 0) continue;
    int rc = 0;
    H5I_type_t type = H5Iget_type(o);
    if (type == H5I_GROUP) {
      if (depth + 1 >= QAT_H5_MAX_DEPTH) {
        snprintf(p->msg, sizeof p->msg, "%.300s: groups nested deeper than %d levels (refused)", sub,
                 QAT_H5_MAX_DEPTH);
        rc = 1;
      } else {
        rc = probe_group(p, o, sub, depth + 1);
      }
    } else {
      hsize_t aidx = 0;
      H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, &aidx, probe_attr, p);
      if (type == H5I_DATASET) probe_dataset(o);
    }
    H5Oclose(o);
    if (rc) return rc;
  }
  return 0;
}

/* The name HDF5 knows an image by. The core driver refuses an image whose name is an
 * existing file ("file already exists"), and compares names to find files already open: a
 * name that is never a path, unique per open. Messages use the caller's name. */
static void image_name(char *buf, size_t len, const char *name) {
  static _Atomic unsigned long counter;
  snprintf(buf, len, "qat-image:%lu:%.900s", (unsigned long)++counter, name);
}

/* Opens an image in place: HDF5 reads the caller's buffer, which must outlive the file id
 * (no copy: a 126 MB checkpoint would otherwise be copied, and first-touched, twice more).
 * File image callbacks that hand HDF5 the caller's buffer for every operation and never free
 * it; the udata is the buffer itself, so nothing is allocated (H5LTopen_file_image does the
 * same but leaks 72 bytes per open in 1.10.8). Read-only: no realloc. */
static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)size, (void)op;
  return udata;
}
static void *img_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                        void *udata) {
  (void)op, (void)udata;
  if (dest != src) memcpy(dest, src, size);
  return dest;
}
static void *img_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)ptr, (void)size, (void)op, (void)udata;
  return NULL;
}
static herr_t img_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
  (void)ptr, (void)op, (void)udata;
  return 0;
}
static void *img_udata_copy(void *udata) { return udata; }
static herr_t img_udata_free(void *udata) {
  (void)udata;
  return 0;
}

static hid_t open_image_nocopy(const void *data, size_t len) {
  char iname[64];
  static _Atomic unsigned long counter;
  snprintf(iname, sizeof iname, "qat-image-inplace:%lu", (unsigned long)++counter);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return -1;
  H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
                                    img_udata_copy, img_udata_free, (void *)data};
  hid_t file = -1;
  if (H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 &&
      H5Pset_file_image_callbacks(fapl, &cb) >= 0 && H5Pset_file_image(fapl, (void *)data, len) >= 0)
    file = H5Fopen(iname, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  return file;
}

static hid_t open_image_fapl(const void *data, size_t len) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return -1;
  if (H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
      H5Pset_file_image(fapl, (void *)data, len) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

/* In the child: exit 0 (walked it), 3 (refused: message on fd), 4 (HDF5 could not open it:
 * the parent's own open reports why). */
static _Noreturn void probe_child(const char *name, const void *data, size_t len, int fd) {
  (void)name;
  /* A crash must end the child, where the parent sees the signal: never a handler inherited
   * from the parent (a test framework's, a crash reporter's). */
  static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGXCPU};
  for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
  h5_quiet();
  hid_t file = open_image_nocopy(data, len);
  if (file < 0) _exit(4);
  if (qat_h5_probe_fault_signal) raise(qat_h5_probe_fault_signal);
  probe p = {file, 0, ""};
  hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
  int refused = root >= 0 ? probe_group(&p, root, "/", 0) : 0;
  if (refused) {
    size_t n = strlen(p.msg), at = 0;
    while (at < n) {
      ssize_t w = write(fd, p.msg + at, n - at);
      if (w <= 0) break;
      at += (size_t)w;
    }
    _exit(3);
  }
  _exit(0); /* no HDF5 cleanup: the parent owns the library's state */
}

#if defined(__SANITIZE_ADDRESS__)
#define QAT_H5_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QAT_H5_UNDER_ASAN 1
#endif
#endif

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int probe_image(const char *name, const void *data, size_t len) {
  int pfd[2];
  if (pipe(pfd) != 0)
    return qat_fail(QAT_ERR_IO, "%s: cannot check the file: pipe: %s", name, strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(pfd[0]);
    close(pfd[1]);
    return qat_fail(QAT_ERR_IO, "%s: cannot check the file: fork: %s", name, strerror(e));
  }
  /* Time for one parse: generous for the file's size, short for a hang. */
  const unsigned limit_s = QAT_H5_PROBE_SECONDS + (unsigned)(len >> 26);
  if (pid == 0) {
    close(pfd[0]);
    struct rlimit cpu = {limit_s, limit_s + 1};
    setrlimit(RLIMIT_CPU, &cpu);
#ifndef QAT_H5_UNDER_ASAN
    /* What the library may allocate on top of the image it holds (sanitizers reserve terabytes
     * of address space, so no limit there). */
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0) {
      rlim_t want = (rlim_t)QAT_H5_PROBE_MEMORY + (rlim_t)len * 4;
      if (as.rlim_cur == RLIM_INFINITY || as.rlim_cur > want) {
        /* on top of what this process has mapped already */
        FILE *st = fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        if (st) {
          if (fscanf(st, "%lu", &pages) != 1) pages = 0;
          fclose(st);
        }
        as.rlim_cur = want + (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
        setrlimit(RLIMIT_AS, &as);
      }
    }
#endif
    probe_child(name, data, len, pfd[1]);
  }
  close(pfd[1]);
  char msg[512];
  size_t got = 0;
  int timed_out = 0;
  const double deadline = now_s() + limit_s + 2;
  for (;;) {
    struct pollfd pf = {pfd[0], POLLIN, 0};
    double left = deadline - now_s();
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    int pr = poll(&pf, 1, (int)(left * 1000) + 1);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    ssize_t n = read(pfd[0], msg + got, sizeof msg - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* EOF: the child exited (or closed the pipe) */
    got += (size_t)n;
    if (got == sizeof msg - 1) break;
  }
  close(pfd[0]);
  msg[got] = '\0';
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (timed_out || (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU ||
                                            WTERMSIG(status) == SIGKILL)))
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: libhdf5 did not finish reading it within %u s (damaged or crafted HDF5 "
                    "file; refused)", name, limit_s);
  if (WIFSIGNALED(status))
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: libhdf5 crashed reading it (signal %d, %s; damaged or crafted HDF5 "
                    "file; refused)", name, WTERMSIG(status), strsignal(WTERMSIG(status)));
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  if (code == 0 || code == 4) return QAT_OK; /* 4: the parent's open says why */
  if (code == 3) return qat_fail(QAT_ERR_FORMAT, "%s:%s", name, msg);
  /* ASan/UBSan reports and aborts inside libhdf5 also end up here */
  return qat_fail(QAT_ERR_FORMAT,
                  "%s: libhdf5 failed reading it (exit %d; out of memory? damaged or crafted "
                  "HDF5 file; refused)", name, code);
}

/* owned: the reader keeps data (malloc'd) and frees it on close; else HDF5 copies it. */
static int open_image_checked(qat_h5_reader *r, const char *name, void *data, size_t len,
                              bool owned) {
  char why[WHY_LEN];
  if (qat_h5_isolate) {
    int rc = probe_image(name, data, len);
    if (rc) {
      if (owned) free(data);
      return rc;
    }
  }
  hid_t file;
  if (owned) {
    file = open_image_nocopy(data, len);
  } else {
    hid_t fapl = open_image_fapl(data, len);
    if (fapl < 0) return qat_fail(QAT_ERR_INTERNAL, "%s: %s", name, h5_why(why, sizeof why));
    char iname[1024];
    image_name(iname, sizeof iname, name);
    file = H5Fopen(iname, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
  }
  if (file < 0) {
    h5_why(why, sizeof why);
    if (owned) free(data);
    return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated): %s", name, why);
  }
  if (owned) r->image = data;
  return reader_finish_open(r, name, file);
}

static bool image_has_signature(const void *data, size_t len) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (size_t off = 0; off + 8 <= len; off = off ? off * 2 : 512)
    if (memcmp((const unsigned char *)data + off, sig, 8) == 0) return true;
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
    if (!image_has_signature(img, len)) {
      free(img);
      return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated)", path);
    }
    return open_image_checked(r, path, img, len, true); /* r owns img from here */
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

  hid_t fapl = read_access_plist();
  if (fapl < 0) return qat_fail(QAT_ERR_INTERNAL, "%s: %s", path, h5_why(why, sizeof why));
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (file < 0) h5_why(why, sizeof why);
  H5Pclose(fapl);
  /* A truncated file still has its signature; HDF5 notices that the end-of-file address in
   * the superblock lies beyond the file's size ("truncated file: eof = ..."). */
  if (file < 0) return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated): %s", path, why);
  return reader_finish_open(r, path, file);
}

int qat_h5_reader_open_image(qat_h5_reader *r, const char *name, const void *data, size_t len) {
  r->file = -1;
  r->path = NULL;
  r->image = NULL;
  r->qat_store = 0;
  h5_quiet();
  if (!image_has_signature(data, len))
    return qat_fail(QAT_ERR_FORMAT, "%s: not an HDF5 file (or truncated)", name);
  return open_image_checked(r, name, (void *)data, len, false);
}

static int reader_finish_open(qat_h5_reader *r, const char *path, hid_t file) {
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

int qat_h5_has(qat_h5_reader *r, const char *name) {
  char why[WHY_LEN];
  h5_name n;
  hid_t o;
  h5_quiet();
  int rc = reader_check(r);
  if (rc) return rc;
  const char *bad = parse_name(name, &n);
  if (bad)
    return qat_fail(QAT_ERR_USAGE, "%s: invalid object name '%s': %s", r->path, name ? name : "",
                    bad);
  switch (walk(r->file, &n, n.depth, false, false, &o, why, sizeof why)) {
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
static int check_storage(qat_h5_reader *r, const h5_name *n, hid_t dset, size_t elem) {
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
  uint32_t got = crc_bytes(buf, nbytes);
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
  if (!dtype_valid((int)type)) return qat_fail(QAT_ERR_USAGE, "h5store: invalid dtype %d", (int)type);
  int rc = open_dataset(r, name, &n, &dset);
  if (rc) return rc;
  rc = dataset_shape(r, &n, dset, &rank, dims);
  if (rc) goto close_dset;
  ftype = H5Dget_type(dset);
  if (ftype < 0) {
    rc = rfail(r, QAT_ERR_FORMAT, n.path, "%s", h5_why(why, sizeof why));
    goto close_dset;
  }
  if (!type_is(ftype, type)) {
    char desc[96];
    describe_type(ftype, desc, sizeof desc);
    rc = rfail(r, QAT_ERR_FORMAT, n.path, "dtype %s, expected %s", desc, qat_h5_dtype_name(type));
    goto close_type;
  }
  if (want_rank >= 0) {
    bool same = rank == want_rank;
    for (int i = 0; same && i < rank; i++) same = dims[i] == want_dims[i];
    if (!same) {
      fmt_shape(found, sizeof found, rank, dims);
      fmt_shape(want, sizeof want, want_rank, want_dims);
      rc = rfail(r, QAT_ERR_FORMAT, n.path, "shape %s, expected %s", found, want);
      goto close_type;
    }
  }
  if (!shape_size(rank, dims, elem, &nelem, &nbytes)) {
    fmt_shape(found, sizeof found, rank, dims);
    rc = rfail(r, QAT_ERR_FORMAT, n.path, "shape %s is too large", found);
    goto close_type;
  }
  rc = check_storage(r, &n, dset, elem);
  if (rc) goto close_type;
  if (alloc_out) {
    if (nbytes > max_bytes) {
      fmt_shape(found, sizeof found, rank, dims);
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
  if (nelem > 0 && H5Dread(dset, type_mem(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
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

int qat_h5_read_array(qat_h5_reader *r, const char *name, qat_h5_dtype type, int rank,
                      const int64_t *dims, void *out, unsigned flags) {
  size_t nelem, nbytes;
  if (rank < 0 || rank > QAT_H5_MAX_RANK || (rank > 0 && !dims) ||
      !shape_size(rank, dims, 1, &nelem, &nbytes) || (!out && nelem > 0))
    return qat_fail(QAT_ERR_USAGE, "h5store: read of '%s': invalid expected rank/shape/buffer",
                    name ? name : "");
  return read_common(r, name, type, rank, dims, out, NULL, 0, NULL, NULL, flags);
}

int qat_h5_read_array_alloc(qat_h5_reader *r, const char *name, qat_h5_dtype type, int *rank,
                            int64_t dims[QAT_H5_MAX_RANK], void **out, size_t max_bytes,
                            unsigned flags) {
  *out = NULL;
  return read_common(r, name, type, -1, NULL, NULL, out, max_bytes, rank, dims, flags);
}

int qat_h5_array_info(qat_h5_reader *r, const char *name, int *type, int *rank,
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
      *type = type_of(ftype);
      H5Tclose(ftype);
    }
  }
  H5Dclose(dset);
  return rc;
}

/* ---- attributes ------------------------------------------------------------------------ */

int qat_h5_has_attr(qat_h5_reader *r, const char *obj, const char *name) {
  char why[WHY_LEN];
  h5_name n;
  hid_t o;
  h5_quiet();
  int rc = reader_check(r);
  if (rc) return rc;
  const char *bad = parse_name(obj, &n);
  if (bad || !name || !name[0])
    return qat_fail(QAT_ERR_USAGE, "%s: invalid object or attribute name", r->path);
  int walked = walk(r->file, &n, n.depth, false, false, &o, why, sizeof why);
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
    describe_type(a.type, desc, sizeof desc);
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

int qat_h5_read_attr_strings(qat_h5_reader *r, const char *obj, const char *name, char ***out,
                             size_t *count) {
  h5_quiet();
  return read_strings(r, obj, name, QAT_H5_MAX_STRINGS, out, count);
}

int qat_h5_read_attr_string(qat_h5_reader *r, const char *obj, const char *name, char **out) {
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
    describe_type(a.type, desc, sizeof desc);
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

int qat_h5_read_attr_int64(qat_h5_reader *r, const char *obj, const char *name, int64_t *out) {
  h5_quiet();
  return read_attr_int64(r, obj, name, out);
}

int qat_h5_read_attr_double(qat_h5_reader *r, const char *obj, const char *name, double *out) {
  char why[WHY_LEN];
  attr_ref a;
  h5_quiet();
  int rc = reader_check(r);
  if (rc) return rc;
  rc = attr_open(r, obj, name, 1, &a);
  if (rc) return rc;
  if (H5Tget_class(a.type) != H5T_FLOAT) {
    char desc[96];
    describe_type(a.type, desc, sizeof desc);
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

int qat_h5_list(qat_h5_reader *r, const char *group, qat_h5_list_fn fn, void *ctx) {
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
