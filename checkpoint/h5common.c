/* HDF5 tensor store: see include/qat/h5store.h for the file layout and the guarantees.
 *
 * Every public function starts with h5_quiet(): Debian's libhdf5 is built thread-safe, where
 * the automatic error printing is a per-thread setting, so switching it off once at startup
 * would not cover a reader used from another thread. Failures are turned into one-line
 * messages, with the most specific entry of HDF5's error stack as the reason. */
#include "checkpoint/h5_internal.h"

_Static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is kept as int64_t in the public structs");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "h5store: checksums are defined over little-endian bytes; this host is big-endian"
#endif

/* 1: qat_h5_reader_open parses files in a child process first, and variable-length strings
 * are read there too (h5probe.c); 0 (tests only) calls libhdf5 in this process. The fuzz
 * harnesses keep 1: libhdf5's own crashes are known and contained, qat's code is the target. */
int qat_h5_isolate = 1;
/* Testing hook: a signal the child raises after opening the file (0: none), to check that a
 * crash inside the child becomes a clean error (tests/test_reliability.c). */
int qat_h5_probe_fault_signal = 0;
/* The child's CPU and wall-clock budget; the fuzz harnesses shorten it below libFuzzer's
 * per-input timeout, so that a hang inside libhdf5 is the refusal it is in production. */
unsigned qat_h5_probe_seconds = QAT_H5_PROBE_SECONDS;
int h5i_rehearsing = 0;


void h5_quiet(void) {
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
const char *h5_why(char *buf, size_t len) {
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

bool h5i_dtype_valid(int type) { return type >= 0 && type < QAT_H5_DTYPE_COUNT; }

/* The H5T_* names are macros that call H5open(), so they cannot sit in a static table. */
hid_t h5i_type_le(qat_h5_dtype t) {
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

hid_t h5i_type_mem(qat_h5_dtype t) {
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
bool h5i_type_is(hid_t ftype, qat_h5_dtype t) {
  return H5Tequal(ftype, h5i_type_le(t)) > 0 || H5Tequal(ftype, type_be(t)) > 0;
}

int h5i_type_of(hid_t ftype) {
  for (int t = 0; t < QAT_H5_DTYPE_COUNT; t++)
    if (h5i_type_is(ftype, (qat_h5_dtype)t)) return t;
  return -1;
}

void h5i_describe_type(hid_t ftype, char *buf, size_t len) {
  int t = h5i_type_of(ftype);
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

void h5i_fmt_shape(char *buf, size_t len, int rank, const int64_t *dims) {
  size_t at = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < rank && at < len; i++)
    at += (size_t)snprintf(buf + at, len - at, "%s%" PRId64, i ? "," : "", dims[i]);
  if (at < len) snprintf(buf + at, len - at, "]");
}

/* Checked element count and byte size; false on overflow of size_t. */
bool h5i_shape_size(int rank, const int64_t *dims, size_t elem, size_t *nelem, size_t *nbytes) {
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

uint32_t h5i_crc_bytes(const void *p, size_t n) {
  uLong c = crc32_z(0L, Z_NULL, 0);
  if (n) c = crc32_z(c, (const Bytef *)p, (z_size_t)n);
  return (uint32_t)c;
}

/* ---- superblock checksum (for H5Fget_file_image) --------------------------------------- */

/* Bob Jenkins' lookup3 hashlittle(), which HDF5 uses for all metadata checksums
 * (H5_checksum_metadata). Public domain algorithm; see h5i_fix_image_superblock for why. */
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
bool h5i_fix_image_superblock(unsigned char *img, size_t size) {
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


/* Accepts "a/b", "/a/b", "" or "/" (the root). Rejects empty, "." and ".." components (HDF5
 * gives "." a meaning) and over-long or over-deep names. Returns NULL or the reason. */
const char *h5i_parse_name(const char *name, h5_name *n) {
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
_Static_assert(QAT_H5_MAX_DEPTH == 32, "update the message in h5i_parse_name");


/* Follows the first `upto` components of n from the root, through hard links only (a soft
 * link can point anywhere, an external link opens another file). With create, missing
 * components become groups. Every component but the last must be a group, and the last too
 * with last_group. Returns WALK_FOUND with *out open, or another WALK_* with why set. */
int h5i_walk(hid_t file, const h5_name *n, int upto, bool create, bool last_group, hid_t *out,
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
hid_t h5i_read_access_plist(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return -1;
  if (H5Pset_fapl_sec2(fapl) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
      H5Pset_file_locking(fapl, 0, 1) < 0 || H5Pset_metadata_read_attempts(fapl, 1) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}
