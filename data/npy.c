/* The .npy format (numpy/lib/format.py): magic "\x93NUMPY", version byte pair, header length
 * (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0), then a Python dict literal with
 * exactly the keys 'descr', 'fortran_order' and 'shape', padded with spaces and ended by a
 * newline, then the raw data. Only what numpy's own writer produces is accepted. */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#ifndef QAT_NO_LIBZIP
#include <zip.h>
#endif

#include "data/source.h"
#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/npy.h"

/* numpy never writes headers this long; a larger one is not an array file. */
#define MAX_HEADER (1 << 20)

static const struct {
  const char *descr[3]; /* accepted spellings */
  qat_npy_dtype t;
  int size;
  const char *name;
} dtypes[] = {
    {{"|u1", "<u1", NULL}, QAT_NPY_U1, 1, "uint8"},
    {{"|i1", "<i1", NULL}, QAT_NPY_I1, 1, "int8"},
    {{"<f2", NULL, NULL}, QAT_NPY_F2, 2, "float16"},
    {{"<f4", NULL, NULL}, QAT_NPY_F4, 4, "float32"},
    {{"<i4", NULL, NULL}, QAT_NPY_I4, 4, "int32"},
    {{"<i8", NULL, NULL}, QAT_NPY_I8, 8, "int64"},
};

int qat_npy_dtype_size(qat_npy_dtype t) { return dtypes[t].size; }
const char *qat_npy_dtype_name(qat_npy_dtype t) { return dtypes[t].name; }

float qat_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13); /* inf, nan */
  else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);
  else if (!man) bits = sign;
  else { /* subnormal: normalize */
    int e = -1;
    do {
      man <<= 1;
      e++;
    } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

typedef struct hdr {
  const char *p, *end, *name;
} hdr;

static void skip_ws(hdr *h) {
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t')) h->p++;
}

static int bad(const hdr *h, const char *what) {
  return qat_fail(QAT_ERR_FORMAT, "%s: not a valid .npy header: %s", h->name, what);
}

static int expect(hdr *h, char c, const char *what) {
  skip_ws(h);
  if (h->p >= h->end || *h->p != c) return bad(h, what);
  h->p++;
  return QAT_OK;
}

/* A quoted Python string (no escapes: numpy's keys and descrs never need them). */
static int quoted(hdr *h, char *buf, size_t size) {
  skip_ws(h);
  if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return bad(h, "expected a quoted string");
  char q = *h->p++;
  size_t n = 0;
  while (h->p < h->end && *h->p != q) {
    if (n + 1 >= size) return bad(h, "string too long");
    buf[n++] = *h->p++;
  }
  if (h->p >= h->end) return bad(h, "unterminated string");
  h->p++;
  buf[n] = '\0';
  return QAT_OK;
}

static int parse_descr(hdr *h, qat_npy_dtype *t) {
  skip_ws(h);
  if (h->p < h->end && *h->p == '[')
    return qat_fail(QAT_ERR_FORMAT, "%s: structured array (a record dtype); qat reads plain numeric arrays",
                    h->name);
  char d[64];
  int rc = quoted(h, d, sizeof d);
  if (rc) return rc;
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    for (int k = 0; k < 3 && dtypes[i].descr[k]; k++)
      if (!strcmp(d, dtypes[i].descr[k])) {
        *t = dtypes[i].t;
        return QAT_OK;
      }
  if (d[0] == '>')
    return qat_fail(QAT_ERR_FORMAT, "%s: big-endian array (dtype '%s'); save it little-endian "
                    "(a.astype(a.dtype.newbyteorder('<')))", h->name, d);
  if (strchr(d, 'O'))
    return qat_fail(QAT_ERR_FORMAT, "%s: object array (dtype '%s'); save a numeric array", h->name, d);
  return qat_fail(QAT_ERR_FORMAT, "%s: dtype '%s' not supported (expected uint8, int8, float16, "
                  "float32, int32 or int64)", h->name, d);
}

static int parse_shape(hdr *h, qat_npy *a) {
  int rc = expect(h, '(', "shape is not a tuple");
  if (rc) return rc;
  a->rank = 0;
  for (;;) {
    skip_ws(h);
    if (h->p < h->end && *h->p == ')') {
      h->p++;
      return QAT_OK;
    }
    if (h->p >= h->end || !isdigit((unsigned char)*h->p)) return bad(h, "shape entry is not a number");
    int64_t v = 0;
    while (h->p < h->end && isdigit((unsigned char)*h->p)) {
      if (v > (INT64_MAX - 9) / 10) return bad(h, "shape entry too large");
      v = v * 10 + (*h->p++ - '0');
    }
    if (h->p < h->end && *h->p == 'L') h->p++; /* Python 2 longs */
    if (a->rank == QAT_NPY_MAX_RANK)
      return qat_fail(QAT_ERR_FORMAT, "%s: more than %d dimensions", h->name, QAT_NPY_MAX_RANK);
    a->shape[a->rank++] = v;
    skip_ws(h);
    if (h->p < h->end && *h->p == ',') h->p++;
    else if (h->p < h->end && *h->p == ')') continue;
    else return bad(h, "shape tuple not closed");
  }
}

static int parse_header(hdr *h, qat_npy *a) {
  int seen_descr = 0, seen_order = 0, seen_shape = 0, rc;
  if ((rc = expect(h, '{', "does not start with '{'"))) return rc;
  for (;;) {
    skip_ws(h);
    if (h->p < h->end && *h->p == '}') {
      h->p++;
      break;
    }
    char key[32];
    if ((rc = quoted(h, key, sizeof key))) return rc;
    if ((rc = expect(h, ':', "expected ':' after a key"))) return rc;
    if (!strcmp(key, "descr") && !seen_descr++) rc = parse_descr(h, &a->dtype);
    else if (!strcmp(key, "shape") && !seen_shape++) rc = parse_shape(h, a);
    else if (!strcmp(key, "fortran_order") && !seen_order++) {
      skip_ws(h);
      if (h->end - h->p >= 5 && !memcmp(h->p, "False", 5)) h->p += 5;
      else if (h->end - h->p >= 4 && !memcmp(h->p, "True", 4))
        return qat_fail(QAT_ERR_FORMAT, "%s: Fortran-order array; save it in C order "
                        "(np.ascontiguousarray)", h->name);
      else return bad(h, "fortran_order is neither True nor False");
    } else {
      char msg[80];
      snprintf(msg, sizeof msg, "unexpected or repeated key '%s'", key);
      return bad(h, msg);
    }
    if (rc) return rc;
    skip_ws(h);
    if (h->p < h->end && *h->p == ',') h->p++;
  }
  if (!seen_descr || !seen_order || !seen_shape) return bad(h, "missing 'descr', 'fortran_order' or 'shape'");
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\0')) h->p++;
  if (h->p != h->end - 1 || *h->p != '\n') return bad(h, "does not end with a newline");
  return QAT_OK;
}

int qat_npy_parse(const char *name, const uint8_t *buf, int64_t len, int64_t max_bytes, qat_npy *out) {
  memset(out, 0, sizeof *out);
  if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
    return qat_fail(QAT_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", name);
  int major = buf[6], minor = buf[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return qat_fail(QAT_ERR_FORMAT, "%s: .npy format version %d.%d (expected 1.0, 2.0 or 3.0)", name, major,
                    minor);
  int64_t pre = major == 1 ? 10 : 12;
  if (len < pre) return qat_fail(QAT_ERR_FORMAT, "%s: truncated .npy header (%lld bytes)", name, (long long)len);
  int64_t hlen = major == 1 ? (int64_t)buf[8] | (int64_t)buf[9] << 8
                            : (int64_t)buf[8] | (int64_t)buf[9] << 8 | (int64_t)buf[10] << 16 | (int64_t)buf[11] << 24;
  if (hlen > MAX_HEADER || hlen < 1)
    return qat_fail(QAT_ERR_FORMAT, "%s: .npy header length %lld (expected 1 to %d)", name, (long long)hlen,
                    MAX_HEADER);
  if (len < pre + hlen)
    return qat_fail(QAT_ERR_FORMAT, "%s: truncated: the header needs %lld bytes, the file has %lld", name,
                    (long long)(pre + hlen), (long long)len);
  hdr h = {(const char *)buf + pre, (const char *)buf + pre + hlen, name};
  qat_npy a = {0};
  int rc = parse_header(&h, &a);
  if (rc) return rc;
  int64_t count = 1, esize = dtypes[a.dtype].size;
  for (int d = 0; d < a.rank; d++) {
    if (a.shape[d] && count > max_bytes / esize / a.shape[d])
      return qat_fail(QAT_ERR_FORMAT, "%s: shape needs more than the %lld-byte limit", name, (long long)max_bytes);
    count *= a.shape[d];
  }
  int64_t want = count * esize, have = len - pre - hlen;
  if (have != want)
    return qat_fail(QAT_ERR_FORMAT, "%s: %s: the shape needs %lld data bytes, the file has %lld", name,
                    have < want ? "truncated" : "trailing data", (long long)want, (long long)have);
  a.count = count;
  a.data = malloc((size_t)(want ? want : 1));
  if (!a.data) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory (%lld bytes)", name, (long long)want);
  memcpy(a.data, buf + pre + hlen, (size_t)want);
  *out = a;
  return QAT_OK;
}

int qat_npy_load(const char *path, int64_t max_bytes, qat_npy *out) {
  memset(out, 0, sizeof *out);
  qat_source s;
  int rc = qat_source_open(&s, path);
  if (rc) return rc;
  uint8_t *buf;
  int64_t len;
  rc = qat_source_read_all(&s, max_bytes + MAX_HEADER + 12, &buf, &len);
  qat_source_close(&s);
  if (rc) return rc;
  rc = qat_npy_parse(path, buf, len, max_bytes, out);
  free(buf);
  return rc;
}

#ifdef QAT_NO_LIBZIP
/* The runtime-only build (QAT_RUNTIME_ONLY) links no libzip: .npz archives need the full build. */
int qat_npz_load(const char *path, const char *key, int64_t max_bytes, int missing_ok, qat_npy *out) {
  (void)key;
  (void)max_bytes;
  (void)missing_ok;
  memset(out, 0, sizeof *out);
  return qat_fail(QAT_ERR_UNSUPPORTED, "%s: .npz archives need libzip, which this runtime-only build of qat leaves out "
                                       "(use .npy files, or the full build)", path);
}
#else
int qat_npz_load(const char *path, const char *key, int64_t max_bytes, int missing_ok, qat_npy *out) {
  memset(out, 0, sizeof *out);
  char entry[256], name[4400];
  snprintf(entry, sizeof entry, "%s.npy", key);
  snprintf(name, sizeof name, "%s:%s", path, entry);
  /* libzip opens FIFOs and directories happily; the source check refuses them first. */
  qat_source s;
  int rc = qat_source_open(&s, path);
  if (rc) return rc;
  qat_source_close(&s);
  int err = 0;
  zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    rc = qat_fail(err == ZIP_ER_OPEN || err == ZIP_ER_READ ? QAT_ERR_IO : QAT_ERR_FORMAT,
                  "%s: not a readable .npz archive: %s", path, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return rc;
  }
  zip_int64_t idx = zip_name_locate(z, entry, 0);
  if (idx < 0) {
    zip_discard(z);
    if (missing_ok) return 1;
    return qat_fail(QAT_ERR_FORMAT, "%s: the archive has no array '%s'", path, key);
  }
  zip_stat_t st;
  zip_stat_init(&st);
  uint8_t *buf = NULL;
  if (zip_stat_index(z, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: cannot read its size: %s", name, zip_strerror(z));
    goto close_zip;
  }
  if (st.size > (zip_uint64_t)(max_bytes + MAX_HEADER + 12)) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %llu bytes, more than the %lld-byte limit", name,
                  (unsigned long long)st.size, (long long)max_bytes);
    goto close_zip;
  }
  buf = malloc((size_t)st.size + 1);
  if (!buf) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory (%llu bytes)", name, (unsigned long long)st.size);
    goto close_zip;
  }
  zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
  if (!f) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %s", name, zip_strerror(z));
    goto close_zip;
  }
  zip_uint64_t have = 0;
  while (have < st.size) {
    zip_int64_t n = zip_fread(f, buf + have, st.size - have);
    if (n <= 0) break;
    have += (zip_uint64_t)n;
  }
  /* libzip checks the CRC at the end of the entry: a short read or a failed check is damage. */
  char extra;
  zip_int64_t more = have == st.size ? zip_fread(f, &extra, 1) : -1;
  if (have != st.size || more != 0) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: damaged entry (read %llu of %llu bytes%s%s)", name, (unsigned long long)have,
                  (unsigned long long)st.size, more < 0 ? ": " : "",
                  more < 0 ? zip_error_strerror(zip_file_get_error(f)) : "");
    zip_fclose(f);
    goto close_zip;
  }
  zip_fclose(f);
  rc = qat_npy_parse(name, buf, (int64_t)st.size, max_bytes, out);
close_zip:
  free(buf);
  zip_discard(z);
  return rc;
}
#endif

void qat_npy_free(qat_npy *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

int qat_npy_save(const char *path, qat_npy_dtype dtype, int rank, const int64_t *shape, const void *data) {
  char dict[512];
  int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtypes[dtype].descr[0]);
  int64_t count = 1;
  for (int d = 0; d < rank; d++) {
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld,%s", (long long)shape[d], d + 1 < rank ? " " : "");
    count *= shape[d];
  }
  k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
  /* numpy pads the header with spaces so that the data starts at a multiple of 64 */
  int total = (10 + k + 1 + 63) / 64 * 64, hlen = total - 10;
  size_t bytes = (size_t)count * (size_t)dtypes[dtype].size;
  uint8_t *buf = malloc((size_t)total + bytes);
  if (!buf) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (uint8_t)(hlen & 0xff);
  buf[9] = (uint8_t)(hlen >> 8);
  memset(buf + 10, ' ', (size_t)hlen);
  memcpy(buf + 10, dict, (size_t)k);
  buf[total - 1] = '\n';
  memcpy(buf + total, data, bytes);
  int rc = qat_atomic_write(path, buf, (size_t)total + bytes);
  free(buf);
  return rc;
}
