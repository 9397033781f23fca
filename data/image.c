/* PNG through libpng's simplified API (the common PNG inflated by ISA-L, see png_decode_direct),
 * JPEG through libjpeg-turbo, and the resize to the model input. Everything here is
 * thread-safe: folders are decoded from OpenMP threads. */
#include "data/image.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
/* jpeglib.h needs size_t and FILE declared first. */
#include <jpeglib.h>

#include "qat/error.h"

int qat_image_name_ok(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

enum { SCRATCH_FILE, SCRATCH_PIXELS, SCRATCH_CONVERTED, SCRATCH_ROWS, SCRATCH_INFLATE, SCRATCH_SLOTS };
_Static_assert((int)SCRATCH_SLOTS == (int)QAT_IMAGE_SCRATCH_SLOTS, "data/image.h: QAT_IMAGE_SCRATCH_SLOTS");

/* At least n bytes of slot's buffer (contents not kept), or NULL. */
static void *scratch_get(qat_image_scratch *s, int slot, size_t n) {
  if (n > s->cap[slot]) {
    free(s->buf[slot]);
    s->buf[slot] = malloc(n);
    s->cap[slot] = s->buf[slot] ? n : 0;
  }
  return s->buf[slot];
}

void qat_image_scratch_free(qat_image_scratch *s) {
  for (int i = 0; i < QAT_IMAGE_SCRATCH_SLOTS; i++) free(s->buf[i]);
  memset(s, 0, sizeof *s);
}

static int read_file(const char *path, qat_image_scratch *scratch, uint8_t **buf, int64_t *len) {
  *buf = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  int rc = QAT_OK;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = qat_fail(QAT_ERR_IO, "%s: not a regular file", path);
    goto close_fd;
  }
  if (st.st_size > QAT_IMAGE_MAX_FILE) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %lld bytes, larger than the %lld-byte limit for an image", path,
                  (long long)st.st_size, (long long)QAT_IMAGE_MAX_FILE);
    goto close_fd;
  }
  *buf = scratch_get(scratch, SCRATCH_FILE, (size_t)st.st_size + 1);
  if (!*buf) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
    goto close_fd;
  }
  int64_t got = 0;
  while (got < st.st_size) {
    ssize_t n = read(fd, *buf + got, (size_t)(st.st_size - got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = qat_fail(QAT_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
      break;
    }
    if (n == 0) break;
    got += n;
  }
  *len = got;
close_fd:
  close(fd);
  return rc;
}

/* Decoded pixels: w x h x ch (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), in a scratch buffer. */
typedef struct raw {
  int w, h, ch;
  uint8_t *px;
} raw;

/* libpng allocates a chunk's declared length before it reads the chunk: a 111-byte file that
 * declared a 1.9 GB chunk made it ask for 1.9 GB (fuzz_png). Every chunk must fit in the file
 * before libpng sees it (length, type, data, CRC). */
static int png_chunks_fit(const char *path, const uint8_t *buf, int64_t len) {
  int64_t at = 8;
  while (at + 8 <= len) {
    const uint32_t n = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 | (uint32_t)buf[at + 2] << 8 | buf[at + 3];
    if ((int64_t)n > len - at - 12) {
      char type[5];
      for (int i = 0; i < 4; i++) type[i] = buf[at + 4 + i] >= 0x20 && buf[at + 4 + i] < 0x7f ? (char)buf[at + 4 + i] : '?';
      type[4] = '\0';
      return qat_fail(QAT_ERR_FORMAT, "%s: corrupt PNG: chunk '%s' at byte %lld declares %lu bytes, the file has %lld "
                      "after it", path, type, (long long)at, (unsigned long)n, (long long)(len - at - 12 > 0 ? len - at - 12 : 0));
    }
    if (!memcmp(buf + at + 4, "IEND", 4)) break;
    at += 12 + (int64_t)n;
  }
  return QAT_OK; /* a file cut between chunks: libpng says what is missing */
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Chunks before IDAT that change no pixel of libpng's simplified read at the file's own
 * channels and 8 bits (no colour conversion, no background, no shift): a gAMA is harmless only
 * as sRGB's 1/2.2 (any other value gets a gamma correction), tRNS adds an alpha channel and
 * iCCP, sBIT, PLTE and the unknown are left to libpng. */
static int png_chunk_harmless(const uint8_t *type, const uint8_t *data, uint32_t n) {
  static const char keep[][5] = {"sRGB", "cHRM", "pHYs", "tEXt", "zTXt", "iTXt", "tIME", "bKGD"};
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
    if (!memcmp(type, keep[i], 4)) return 1;
  return !memcmp(type, "gAMA", 4) && n == 4 && be32(data) == 45455;
}

static inline uint8_t paeth(int a, int b, int c) {
  int p = b - c, q = a - c, pa = abs(p), pb = abs(q), pc = abs(p + q);
  return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* Undoes one row's PNG filter: dst[i] from src[i], the bytes already undone to its left and the
 * row above (prior). dst may lie below src in the same block (the rows are compacted in place),
 * never above it, and every loop runs forwards, so each src byte is read before it is
 * overwritten. bpp is a constant at each call, so the compiler specializes the loops, and the
 * left pixel stays in registers: read back from dst, it put a store-to-load round trip in Avg's
 * chain (Avg is most rows of a photo; that loop was a fifth of the load). */
static inline int png_unfilter_row(int filter, uint8_t *dst, const uint8_t *src, const uint8_t *prior, size_t n,
                                   int bpp) {
  /* one register per channel: GCC keeps neither an array nor a loop over the channels in them */
  unsigned l0 = 0, l1 = 0, l2 = 0, l3 = 0, u0 = 0, u1 = 0, u2 = 0, u3 = 0;
#define QAT_PNG_CHANNELS(step)                                                                                          \
  for (size_t i = 0; i < n; i += bpp) {                                                                                \
    step(0, l0, u0);                                                                                                   \
    if (bpp > 1) step(1, l1, u1);                                                                                      \
    if (bpp > 2) step(2, l2, u2);                                                                                      \
    if (bpp > 3) step(3, l3, u3);                                                                                      \
  }
#define QAT_PNG_SUB(k, l, u) dst[i + k] = (uint8_t)(l = (src[i + k] + l) & 255u)
#define QAT_PNG_AVG(k, l, u) dst[i + k] = (uint8_t)(l = (src[i + k] + ((l + prior[i + k]) >> 1)) & 255u)
#define QAT_PNG_PAETH(k, l, u)                                                                                         \
  do {                                                                                                                 \
    const unsigned up = prior[i + k];                                                                                  \
    dst[i + k] = (uint8_t)(l = (src[i + k] + paeth((int)l, (int)up, (int)u)) & 255u);                                 \
    u = up;                                                                                                            \
  } while (0)
  switch (filter) {
  case 0:
    memmove(dst, src, n);
    return 1;
  case 1:
    QAT_PNG_CHANNELS(QAT_PNG_SUB)
    return 1;
  case 2:
    for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(src[i] + prior[i]);
    return 1;
  case 3:
    QAT_PNG_CHANNELS(QAT_PNG_AVG)
    return 1;
  case 4:
    QAT_PNG_CHANNELS(QAT_PNG_PAETH)
    return 1;
  default:
    return 0;
  }
#undef QAT_PNG_CHANNELS
#undef QAT_PNG_SUB
#undef QAT_PNG_AVG
#undef QAT_PNG_PAETH
}

static int png_unfilter(uint8_t *rows, int h, size_t rowbytes, int bpp) {
  for (int y = 0; y < h; y++) {
    uint8_t *dst = rows + (size_t)y * rowbytes;
    const uint8_t *src = rows + (size_t)y * (rowbytes + 1);
    const int f = src[0];
    int ok;
    switch (bpp) {
    case 1: ok = png_unfilter_row(f, dst, src + 1, dst - rowbytes, rowbytes, 1); break;
    case 2: ok = png_unfilter_row(f, dst, src + 1, dst - rowbytes, rowbytes, 2); break;
    case 3: ok = png_unfilter_row(f, dst, src + 1, dst - rowbytes, rowbytes, 3); break;
    default: ok = png_unfilter_row(f, dst, src + 1, dst - rowbytes, rowbytes, 4); break;
    }
    if (!ok) return 0;
  }
  return 1;
}

/* The common PNG (8-bit gray, gray+alpha, RGB or RGBA, not interlaced, only harmless chunks
 * before its image data) decoded here rather than by libpng, whose zlib inflates one row per
 * call: that inflate was 60 % of a 320x240 RGB photo's load (bench/data: 1.25 ms of 2.0 ms).
 * ISA-L inflates the whole image in one call (0.57 ms), then the rows are unfiltered in place.
 * Called after png_image_begin_read_from_memory accepted the header and every chunk before
 * IDAT, with r->w, r->h and r->ch set. Returns 1 with r->px set, or 0, and libpng then decodes
 * the file as before and words any error: so every test here is at least as strict as libpng's
 * (each IDAT's CRC, the zlib header, adler32, the exact amount of image data, the filter
 * types), and what it accepts, libpng accepts with the same pixels (PNG's unfiltering is exact
 * integer arithmetic). */
static int png_decode_direct(const uint8_t *buf, int64_t len, qat_image_scratch *scratch, raw *r) {
  const uint8_t *ihdr = buf + 16; /* libpng has checked that IHDR comes first */
  static const int channels[7] = {1, 0, 3, 0, 2, 0, 4};
  if (ihdr[8] != 8 || ihdr[9] > 6 || channels[ihdr[9]] != r->ch || ihdr[12] != 0) return 0;
  int64_t at = 33;
  for (;; at += 12 + (int64_t)be32(buf + at)) {
    if (at + 12 > len || (int64_t)be32(buf + at) > len - at - 12) return 0;
    if (!memcmp(buf + at + 4, "IDAT", 4)) break;
    if (!png_chunk_harmless(buf + at + 4, buf + at + 8, be32(buf + at))) return 0;
  }
  /* The zlib header as zlib reads it: deflate, no preset dictionary, and a 32 KiB window (libpng
   * lets zlib honour a smaller one, which ISA-L would not enforce). */
  const uint8_t *z = buf + at + 8;
  if (be32(buf + at) < 2 || z[0] != 0x78 || (z[1] & 0x20) || (z[0] << 8 | z[1]) % 31) return 0;
  const size_t rowbytes = (size_t)r->w * r->ch, size = (rowbytes + 1) * r->h;
  if (size > UINT32_MAX) return 0;
  /* The rows are unfiltered into place from the top, the first against a zero row before them. */
  uint8_t *mem = scratch_get(scratch, SCRATCH_PIXELS, rowbytes + size);
  struct inflate_state *s = scratch_get(scratch, SCRATCH_INFLATE, sizeof *s);
  if (!mem || !s) return 0;
  memset(mem, 0, rowbytes);
  isal_inflate_init(s);
  s->crc_flag = ISAL_ZLIB;
  s->next_out = mem + rowbytes;
  s->avail_out = (uint32_t)size;
  for (; at + 12 <= len && !memcmp(buf + at + 4, "IDAT", 4); at += 12 + (int64_t)be32(buf + at)) {
    const uint32_t n = be32(buf + at);
    if ((int64_t)n > len - at - 12 || crc32_gzip_refl(0, buf + at + 4, (uint64_t)n + 4) != be32(buf + at + 8 + n)) return 0;
    s->next_in = (uint8_t *)(uintptr_t)(buf + at + 8); /* ISA-L's field is not const; it only reads */
    s->avail_in = n;
    /* input left over: data past the stream's end, or more image data than the rows hold */
    if (isal_inflate(s) != ISAL_DECOMP_OK || s->avail_in) return 0;
  }
  if (s->block_state != ISAL_BLOCK_FINISH || s->avail_out || !png_unfilter(mem + rowbytes, r->h, rowbytes, r->ch))
    return 0;
  r->px = mem + rowbytes;
  return 1;
}

static int decode_png(const char *path, const uint8_t *buf, int64_t len, qat_image_scratch *scratch, raw *r) {
  int rc = png_chunks_fit(path, buf, len);
  if (rc) return rc;
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, buf, (size_t)len))
    return qat_fail(QAT_ERR_FORMAT, "%s: corrupt PNG: %s", path, img.message);
  if (img.format & PNG_FORMAT_FLAG_LINEAR) {
    png_image_free(&img);
    return qat_fail(QAT_ERR_FORMAT, "%s: 16-bit PNG; qat reads 8-bit images (convert it to 8 bits)", path);
  }
  if ((int64_t)img.width * img.height > QAT_IMAGE_MAX_PIXELS) {
    png_image_free(&img);
    return qat_fail(QAT_ERR_FORMAT, "%s: %ux%u pixels, more than the %lld allowed", path, img.width, img.height,
                    (long long)QAT_IMAGE_MAX_PIXELS);
  }
  /* The file's own channels at 8 bits: no colour or gamma conversion by libpng. */
  img.format &= PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA;
  r->w = (int)img.width;
  r->h = (int)img.height;
  r->ch = (int)PNG_IMAGE_PIXEL_CHANNELS(img.format);
  if (png_decode_direct(buf, len, scratch, r)) {
    png_image_free(&img);
    return QAT_OK;
  }
  r->px = scratch_get(scratch, SCRATCH_PIXELS, PNG_IMAGE_SIZE(img));
  if (!r->px) {
    png_image_free(&img);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  }
  if (!png_image_finish_read(&img, NULL, r->px, 0, NULL) || (img.warning_or_error & PNG_IMAGE_ERROR))
    return qat_fail(QAT_ERR_FORMAT, "%s: corrupt PNG: %s", path, img.message);
  return QAT_OK;
}

typedef struct jerr {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jerr;

static void jpeg_fatal(j_common_ptr cinfo) {
  jerr *e = (jerr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jump, 1);
}

/* libjpeg only warns about damaged data ("premature end of data segment") and fills the rest
 * with grey: a truncated file must be an error, not a silently different image. */
static void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fatal(cinfo);
}

static int decode_jpeg(const char *path, const uint8_t *buf, int64_t len, int want_gray, qat_image_scratch *scratch,
                       raw *r) {
  struct jpeg_decompress_struct cinfo;
  jerr e;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&e.mgr);
  e.mgr.error_exit = jpeg_fatal;
  e.mgr.emit_message = jpeg_message;
  if (setjmp(e.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return qat_fail(QAT_ERR_FORMAT, "%s: corrupt JPEG: %s", path, e.msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return qat_fail(QAT_ERR_FORMAT, "%s: CMYK JPEG; qat reads grayscale and RGB JPEGs (convert it to RGB)",
                    path);
  }
  if ((int64_t)cinfo.image_width * cinfo.image_height > QAT_IMAGE_MAX_PIXELS) {
    jpeg_destroy_decompress(&cinfo);
    return qat_fail(QAT_ERR_FORMAT, "%s: %ux%u pixels, more than the %lld allowed", path, cinfo.image_width,
                    cinfo.image_height, (long long)QAT_IMAGE_MAX_PIXELS);
  }
  /* Grayscale output of a colour JPEG is its luma channel, as TensorFlow's decode_jpeg gives it. */
  cinfo.out_color_space = want_gray || cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  int ch = cinfo.output_components;
  size_t stride = (size_t)cinfo.output_width * (size_t)ch;
  uint8_t *px = scratch_get(scratch, SCRATCH_PIXELS, stride * cinfo.output_height);
  if (!px) {
    jpeg_destroy_decompress(&cinfo);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = px + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  r->w = (int)cinfo.output_width;
  r->h = (int)cinfo.output_height;
  r->ch = ch;
  r->px = px;
  jpeg_destroy_decompress(&cinfo);
  return QAT_OK;
}

/* To the target's channels: ITU-R 601 luma for colour to gray (integer, rounded), alpha dropped
 * (Keras decodes with channels=1 or 3 and never composites), gray replicated. */
static void convert_channels(const raw *r, int c, uint8_t *out) {
  int64_t n = (int64_t)r->w * r->h;
  const uint8_t *p = r->px;
  for (int64_t i = 0; i < n; i++, p += r->ch, out += c) {
    int gray = r->ch <= 2, alpha = r->ch == 2 || r->ch == 4;
    uint8_t R = p[0], G = gray ? p[0] : p[1], B = gray ? p[0] : p[2], A = alpha ? p[r->ch - 1] : 255;
    if (c == 1) out[0] = gray ? R : (uint8_t)((299 * R + 587 * G + 114 * B + 500) / 1000);
    else {
      out[0] = R;
      out[1] = G;
      out[2] = B;
      if (c == 4) out[3] = A;
    }
  }
}

/* Source taps of each output index along one axis: tf.image.resize's conventions
 * (half-pixel centres; bilinear as TensorFlow's compute_interpolation_weights, nearest as
 * resize_nearest_neighbor with half_pixel_centers, area as the exact box coverage). */
typedef struct taps {
  int *first, *count;
  float *w; /* count weights per output index, at w[out * max] */
  int max;
} taps;

static int make_taps(int in_off, int in_size, int out_size, qat_interpolation interp, taps *t) {
  double scale = (double)in_size / out_size;
  t->max = interp == QAT_INTERP_AREA ? (int)ceil(scale) + 2 : 2;
  t->first = malloc((size_t)out_size * sizeof *t->first);
  t->count = malloc((size_t)out_size * sizeof *t->count);
  t->w = calloc((size_t)out_size * (size_t)t->max, sizeof *t->w);
  if (!t->first || !t->count || !t->w) return QAT_ERR_NOMEM;
  for (int o = 0; o < out_size; o++) {
    float *w = t->w + (size_t)o * t->max;
    if (interp == QAT_INTERP_NEAREST) {
      int i = (int)floor((o + 0.5) * scale);
      if (i > in_size - 1) i = in_size - 1;
      t->first[o] = in_off + i;
      t->count[o] = 1;
      w[0] = 1.0f;
    } else if (interp == QAT_INTERP_BILINEAR) {
      double in = (o + 0.5) * scale - 0.5, f = floor(in);
      int lo = f < 0 ? 0 : (int)f, hi = (int)ceil(in);
      if (hi > in_size - 1) hi = in_size - 1;
      if (lo > in_size - 1) lo = in_size - 1;
      float l = (float)(in - f);
      t->first[o] = in_off + lo;
      t->count[o] = hi > lo ? 2 : 1;
      if (hi > lo) {
        w[0] = 1.0f - l;
        w[1] = l;
      } else w[0] = 1.0f;
    } else {
      double a = o * scale, b = (o + 1) * scale;
      int i0 = (int)floor(a), i1 = (int)ceil(b);
      if (i1 > in_size) i1 = in_size;
      t->first[o] = in_off + i0;
      t->count[o] = i1 - i0;
      for (int i = i0; i < i1; i++) {
        double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
        w[i - i0] = (float)((hi - lo) / scale);
      }
    }
  }
  return QAT_OK;
}

static void free_taps(taps *t) {
  free(t->first);
  free(t->count);
  free(t->w);
}

/* Rounded half up and clamped, as (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v) of v = floor(s + 0.5);
 * clamped as an int (v is a few units from [0, 255] at most), which GCC does without branches. */
static inline uint8_t to_u8(float s) {
  int v = (int)floorf(s + 0.5f);
  v = v < 0 ? 0 : v;
  return (uint8_t)(v > 255 ? 255 : v);
}

/* One output row from one row of floats with at most two taps per output (nearest, bilinear):
 * (0 + w0 a) + w1 b, with b = a and w1 = 0 where there is one tap, which adds +0 to a sum that
 * is never negative: exactly the general loop's value, without its branches (they made this
 * pass 0.11 ms of a 320x240 JPEG's 0.77 ms load). c is a constant at each call. */
static inline void columns_2taps(const float *t, const taps *tx, int x0, int w, int c, uint8_t *o) {
  for (int x = 0; x < w; x++, o += c) {
    const float *wx = tx->w + (size_t)x * 2, *a = t + (size_t)(tx->first[x] - x0) * c;
    const int two = tx->count[x] == 2;
    const float w0 = wx[0], w1 = two ? wx[1] : 0.0f, *b = two ? a + c : a;
    for (int k = 0; k < c; k++) o[k] = to_u8((0.0f + w0 * a[k]) + w1 * b[k]);
  }
}

static int resize(const char *path, const uint8_t *in, int ih, int iw, int c, int h, int w, qat_interpolation interp,
                  int crop, qat_image_scratch *scratch, uint8_t *out) {
  int y0 = 0, x0 = 0, ch = ih, cw = iw;
  if (crop) { /* Keras's crop_to_aspect_ratio: the largest centred window of the target's shape */
    int64_t want_h = (int64_t)iw * h / w, want_w = (int64_t)ih * w / h;
    if (want_h < ch) ch = (int)want_h;
    if (want_w < cw) cw = (int)want_w;
    if (ch < 1) ch = 1;
    if (cw < 1) cw = 1;
    y0 = (ih - ch) / 2;
    x0 = (iw - cw) / 2;
  }
  if (ch == h && cw == w) { /* no resampling: the pixels as stored */
    for (int y = 0; y < h; y++) memcpy(out + (size_t)y * w * c, in + ((size_t)(y + y0) * iw + x0) * c, (size_t)w * c);
    return QAT_OK;
  }
  taps ty = {0}, tx = {0};
  float *tmp = scratch_get(scratch, SCRATCH_ROWS, (size_t)h * cw * c * sizeof *tmp);
  int rc = QAT_OK;
  if (!tmp || make_taps(y0, ch, h, interp, &ty) || make_taps(x0, cw, w, interp, &tx)) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory resizing", path);
    goto done;
  }
  /* The one- and two-tap loops (nearest, bilinear) compute exactly what the general loop does
   * (0 + w0 a, then + w1 b, in that order: no contraction under ISO C) but vectorize. */
  const size_t row = (size_t)cw * c;
  for (int y = 0; y < h; y++) { /* rows first, into floats */
    const float *wy = ty.w + (size_t)y * ty.max;
    float *t = tmp + (size_t)y * row;
    const uint8_t *r0 = in + ((size_t)ty.first[y] * iw + x0) * c;
    if (ty.count[y] == 1) {
      const float w0 = wy[0];
      for (size_t k = 0; k < row; k++) t[k] = 0.0f + w0 * r0[k];
    } else if (ty.count[y] == 2) {
      const float w0 = wy[0], w1 = wy[1];
      const uint8_t *r1 = r0 + (size_t)iw * c;
      for (size_t k = 0; k < row; k++) t[k] = (0.0f + w0 * r0[k]) + w1 * r1[k];
    } else {
      for (size_t k = 0; k < row; k++) {
        float s = 0;
        for (int j = 0; j < ty.count[y]; j++) s += wy[j] * in[((size_t)(ty.first[y] + j) * iw + x0) * c + k];
        t[k] = s;
      }
    }
  }
  for (int y = 0; y < h; y++) {
    const float *t = tmp + (size_t)y * row;
    uint8_t *o = out + (size_t)y * w * c;
    if (tx.max == 2) {
      switch (c) {
      case 1: columns_2taps(t, &tx, x0, w, 1, o); break;
      case 3: columns_2taps(t, &tx, x0, w, 3, o); break;
      case 4: columns_2taps(t, &tx, x0, w, 4, o); break;
      default: columns_2taps(t, &tx, x0, w, c, o); break;
      }
      continue;
    }
    for (int x = 0; x < w; x++, o += c) {
      const float *wx = tx.w + (size_t)x * tx.max;
      const float *p = t + (size_t)(tx.first[x] - x0) * c;
      for (int k = 0; k < c; k++) {
        float s = 0;
        for (int j = 0; j < tx.count[x]; j++) s += wx[j] * p[(size_t)j * c + k];
        o[k] = to_u8(s);
      }
    }
  }
done:
  free_taps(&ty);
  free_taps(&tx);
  return rc;
}

static int load(const char *path, int h, int w, int c, qat_interpolation interp, int crop, uint8_t *out,
                qat_image_kind *kind, qat_image_scratch *scratch) {
  uint8_t *buf;
  int64_t len = 0;
  int rc = read_file(path, scratch, &buf, &len);
  if (rc) return rc;
  raw r = {0};
  static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (len >= 8 && !memcmp(buf, png_magic, 8)) {
    *kind = QAT_IMAGE_PNG;
    rc = decode_png(path, buf, len, scratch, &r);
  } else if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) {
    *kind = QAT_IMAGE_JPEG;
    rc = decode_jpeg(path, buf, len, c == 1, scratch, &r);
  } else if (len == 0) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: empty file (expected a PNG or JPEG image)", path);
  } else {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: not a PNG or JPEG image (by its first bytes)", path);
  }
  if (rc) return rc;
  uint8_t *conv = r.px; /* the decoder's own channels already are the target's */
  if (r.ch != c) {
    if (!(conv = scratch_get(scratch, SCRATCH_CONVERTED, (size_t)r.w * r.h * c)))
      return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
    convert_channels(&r, c, conv);
  }
  return resize(path, conv, r.h, r.w, c, h, w, interp, crop, scratch, out);
}

int qat_image_load(const char *path, int h, int w, int c, qat_interpolation interp, int crop, uint8_t *out,
                   qat_image_kind *kind, qat_image_scratch *scratch) {
  if (scratch) return load(path, h, w, c, interp, crop, out, kind, scratch);
  qat_image_scratch own = {0};
  int rc = load(path, h, w, c, interp, crop, out, kind, &own);
  qat_image_scratch_free(&own);
  return rc;
}
