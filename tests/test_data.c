/* Tests of the data module: the IDX and CIFAR-10 readers against generated good and bad
 * files (BAD-INPUTS.md sections B and C), the spec loader, and the batcher's determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "qat/data.h"
#include "qat/error.h"

static char tmpdir[PATH_MAX];

/* A path in the test's temp dir; a ring of buffers so that a call can use several. */
static const char *tpath(const char *name) {
  static char ring[16][PATH_MAX];
  static int next;
  char *p = ring[next++ % 16];
  int n = snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
  if (n < 0 || n >= PATH_MAX) fail_msg("path too long: %s/%s", tmpdir, name);
  return p;
}

static const char *write_file(const char *name, const void *data, size_t len) {
  const char *path = tpath(name);
  FILE *f = fopen(path, "wb");
  if (!f) fail_msg("cannot create %s", path);
  if (len && fwrite(data, 1, len, f) != len) fail_msg("cannot write %s", path);
  if (fclose(f) != 0) fail_msg("cannot close %s", path);
  return path;
}

static const char *write_gz(const char *name, const void *data, size_t len) {
  const char *path = tpath(name);
  gzFile g = gzopen(path, "wb");
  if (!g) fail_msg("cannot create %s", path);
  if (len && gzwrite(g, data, (unsigned)len) != (int)len) fail_msg("cannot write %s", path);
  if (gzclose(g) != Z_OK) fail_msg("cannot close %s", path);
  return path;
}

static uint8_t *read_whole(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint8_t pixel(uint32_t i, uint32_t k) { return (uint8_t)(i * 37 + k * 11 + 1); }

/* An IDX images file (header dims as given, payload n*h*w of pixel()); caller frees. */
static uint8_t *idx_images(uint32_t magic, uint32_t n, uint32_t h, uint32_t w, size_t *len) {
  int ndims = (int)(magic & 0xff);
  size_t payload = (size_t)n * h * w;
  if (payload > 1 << 20) payload = 0; /* absurd shapes only need their header */
  *len = 4 + 4 * (size_t)ndims + payload;
  uint8_t *buf = calloc(1, *len);
  assert_non_null(buf);
  put_be32(buf, magic);
  uint32_t dims[3] = {n, h, w};
  for (int i = 0; i < ndims && i < 3; i++) put_be32(buf + 4 + 4 * i, dims[i]);
  for (size_t k = 0; k < payload; k++)
    buf[4 + 4 * ndims + k] = pixel((uint32_t)(k / ((size_t)h * w)), (uint32_t)(k % ((size_t)h * w)));
  return buf;
}

static uint8_t *idx_labels(uint32_t n, const uint8_t *labels, size_t *len) {
  *len = 8 + n;
  uint8_t *buf = malloc(*len);
  assert_non_null(buf);
  put_be32(buf, 0x00000801);
  put_be32(buf + 4, n);
  memcpy(buf + 8, labels, n);
  return buf;
}

/* Checks the status and that each substring is in the message (QAT_TEST_VERBOSE=1 prints
 * the messages, to read them as a user would). */
static void expect_error(int rc, int want, const char *const *subs, const char *file, int line) {
  const char *msg = qat_error_message();
  if (getenv("QAT_TEST_VERBOSE")) print_message("    %s\n", msg);
  if (rc != want) fail_msg("%s:%d: status %d, expected %d; message: %s", file, line, rc, want, msg);
  for (int i = 0; subs[i]; i++)
    if (!strstr(msg, subs[i]))
      fail_msg("%s:%d: message \"%s\" lacks \"%s\"", file, line, msg, subs[i]);
}
#define assert_fails(call, status, ...)                                                    \
  do {                                                                                     \
    qat_error_clear();                                                                     \
    int rc_ = (call);                                                                      \
    const char *const subs_[] = {__VA_ARGS__, NULL};                                       \
    expect_error(rc_, status, subs_, __FILE__, __LINE__);                                  \
  } while (0)

static void assert_empty(const qat_dataset *ds) {
  assert_int_equal(ds->n, 0);
  assert_null(ds->images);
  assert_null(ds->labels);
}

/* The standard fixture: 3 images of 4x5 and labels {3, 0, 9}. */
#define FIX_N 3
#define FIX_H 4
#define FIX_W 5
static const uint8_t fix_labels[FIX_N] = {3, 0, 9};

static void check_fixture(const qat_dataset *ds) {
  assert_int_equal(ds->n, FIX_N);
  assert_int_equal(ds->h, FIX_H);
  assert_int_equal(ds->w, FIX_W);
  assert_int_equal(ds->c, 1);
  assert_int_equal(ds->num_classes, 10);
  assert_int_equal(ds->owns, 1);
  assert_memory_equal(ds->labels, fix_labels, FIX_N);
  for (uint32_t i = 0; i < FIX_N; i++)
    for (uint32_t k = 0; k < FIX_H * FIX_W; k++)
      assert_int_equal(ds->images[i * FIX_H * FIX_W + k], pixel(i, k));
}

static void write_fixture(const char *img_name, const char *lab_name, int gz,
                          const char **img_path, const char **lab_path) {
  size_t li, ll;
  uint8_t *img = idx_images(0x00000803, FIX_N, FIX_H, FIX_W, &li);
  uint8_t *lab = idx_labels(FIX_N, fix_labels, &ll);
  *img_path = gz ? write_gz(img_name, img, li) : write_file(img_name, img, li);
  *lab_path = gz ? write_gz(lab_name, lab, ll) : write_file(lab_name, lab, ll);
  free(img);
  free(lab);
}

/* ---- IDX ---- */

static void test_idx_roundtrip(void **state) {
  (void)state;
  for (int gz = 0; gz < 2; gz++) {
    /* Names that lie about the compression: detection goes by content. */
    const char *ip, *lp;
    write_fixture(gz ? "rt.idx" : "rt.idx.gz", gz ? "rtl.idx" : "rtl.idx.gz", gz, &ip, &lp);
    qat_dataset ds;
    assert_int_equal(qat_idx_load(ip, lp, 10, &ds), 0);
    check_fixture(&ds);
    qat_dataset_free(&ds);
    assert_empty(&ds);
    qat_dataset_free(&ds); /* a freed dataset frees again safely */
  }
}

static void test_idx_bad_magic(void **state) {
  (void)state;
  const char *ip, *lp;
  write_fixture("img", "lab", 0, &ip, &lp);
  qat_dataset ds;
  struct { uint32_t magic; const char *why; } cases[] = {
      {0x00000804, "4 dimensions, images have 3"},
      {0x01000803, "not an IDX file"},
      {0x00000801, "this is an IDX labels file"},
      {0x00000d03, "data type 0x0d (float32) is not supported, only 0x08 (unsigned byte)"},
      {0x00000903, "data type 0x09 (signed byte)"},
      {0x00000800, "0 dimensions, images have 3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len;
    uint8_t *buf = idx_images(cases[i].magic, FIX_N, FIX_H, FIX_W, &len);
    const char *bad = write_file("bad-images", buf, len);
    char want[128];
    snprintf(want, sizeof want, "bad-images: bad magic 0x%08x (expected 0x00000803 for images)",
             cases[i].magic);
    assert_fails(qat_idx_load(bad, lp, 10, &ds), QAT_ERR_FORMAT, want, cases[i].why);
    assert_empty(&ds);
    free(buf);
  }
  /* And the labels side. */
  size_t len;
  uint8_t *buf = idx_images(0x00000803, FIX_N, FIX_H, FIX_W, &len);
  const char *bad = write_file("bad-labels", buf, len);
  assert_fails(qat_idx_load(ip, bad, 10, &ds), QAT_ERR_FORMAT,
               "bad-labels: bad magic 0x00000803 (expected 0x00000801 for labels)",
               "IDX images file");
  free(buf);
  buf = idx_images(0x00000c01, FIX_N, 0, 0, &len);
  bad = write_file("bad-labels", buf, len);
  assert_fails(qat_idx_load(ip, bad, 10, &ds), QAT_ERR_FORMAT, "data type 0x0c (int32)");
  free(buf);
}

static void test_idx_bad_dims(void **state) {
  (void)state;
  const char *ip, *lp;
  write_fixture("img", "lab", 0, &ip, &lp);
  qat_dataset ds;
  size_t len;
  uint8_t *buf = idx_images(0x00000803, FIX_N, 0, FIX_W, &len);
  const char *bad = write_file("dim0", buf, len);
  assert_fails(qat_idx_load(bad, lp, 10, &ds), QAT_ERR_FORMAT, "dim0: dimension 2 of 3 is 0");
  free(buf);
  buf = idx_images(0x00000803, 0, FIX_H, FIX_W, &len);
  bad = write_file("n0", buf, len);
  assert_fails(qat_idx_load(bad, lp, 10, &ds), QAT_ERR_FORMAT, "n0: dimension 1 of 3 is 0");
  free(buf);
  /* 2^48 bytes fits 64 bits but not the cap; 0xffffffff^3 does not fit 64 bits. The files
   * hold only the header, so an allocation of the claimed size would be the bug. */
  buf = idx_images(0x00000803, 65536, 65536, 65536, &len);
  bad = write_file("huge", buf, len);
  assert_fails(qat_idx_load(bad, lp, 10, &ds), QAT_ERR_FORMAT,
               "huge: images of shape 65536 x 65536 x 65536 need 281474976710656 bytes, "
               "more than the 2147483648-byte limit");
  assert_empty(&ds);
  free(buf);
  buf = idx_images(0x00000803, 0xffffffffu, 0xffffffffu, 0xffffffffu, &len);
  bad = write_file("huger", buf, len);
  assert_fails(qat_idx_load(bad, lp, 10, &ds), QAT_ERR_FORMAT, "huger: images of shape",
               "need more than 2^64 bytes");
  free(buf);
  /* One image of 1 x 2^31 pixels: within the byte cap but not an int-sized image. */
  buf = idx_images(0x00000803, 1, 1u << 31, 1, &len);
  bad = write_file("wide", buf, len);
  assert_fails(qat_idx_load(bad, lp, 10, &ds), QAT_ERR_FORMAT, "too large");
  free(buf);
  uint8_t hdr[8];
  put_be32(hdr, 0x00000801);
  put_be32(hdr + 4, 0x80000001u);
  bad = write_file("many-labels", hdr, sizeof hdr);
  assert_fails(qat_idx_load(ip, bad, 10, &ds), QAT_ERR_FORMAT, "many-labels: labels of shape "
               "2147483649 need 2147483649 bytes, more than the 2147483648-byte limit");
}

/* Every prefix of a valid file is rejected as truncated, the full file loads, and one byte
 * more is rejected as trailing data: for both files of the pair, plain and gzip. */
static void test_idx_prefix_sweep(void **state) {
  (void)state;
  size_t li, ll;
  uint8_t *img = idx_images(0x00000803, FIX_N, FIX_H, FIX_W, &li);
  uint8_t *lab = idx_labels(FIX_N, fix_labels, &ll);
  qat_dataset ds;
  for (int gz = 0; gz < 2; gz++) {
    const char *ip0, *lp0;
    write_fixture("good-img", "good-lab", gz, &ip0, &lp0);
    /* tpath's ring is reused many times below. */
    char ip[PATH_MAX], lp[PATH_MAX];
    snprintf(ip, sizeof ip, "%s", ip0);
    snprintf(lp, sizeof lp, "%s", lp0);
    for (int which = 0; which < 2; which++) {
      uint8_t *data = which ? lab : img;
      size_t len = which ? ll : li;
      /* Sweep the bytes as they are on disk: for gzip, prefixes of the compressed file. */
      uint8_t *disk = data;
      size_t disk_len = len;
      if (gz) disk = read_whole(which ? lp : ip, &disk_len);
      for (size_t cut = 0; cut < disk_len; cut++) {
        const char *p = write_file("prefix", disk, cut);
        int rc = which ? qat_idx_load(ip, p, 10, &ds) : qat_idx_load(p, lp, 10, &ds);
        const char *msg = qat_error_message();
        if (rc != QAT_ERR_FORMAT || !strstr(msg, "prefix: ") || !strstr(msg, "truncated"))
          fail_msg("%s %s prefix of %zu/%zu bytes: status %d, message: %s", gz ? "gzip" : "plain",
                   which ? "labels" : "images", cut, disk_len, rc, msg);
        assert_empty(&ds);
      }
      if (!gz && data == img) {
        const char *p = write_file("prefix", disk, disk_len - 1);
        assert_fails(qat_idx_load(p, lp, 10, &ds), QAT_ERR_FORMAT,
                     "prefix: truncated: expected 76 bytes, got 75");
      }
      /* The full file loads. */
      const char *p = write_file("prefix", disk, disk_len);
      assert_int_equal(which ? qat_idx_load(ip, p, 10, &ds) : qat_idx_load(p, lp, 10, &ds), 0);
      check_fixture(&ds);
      qat_dataset_free(&ds);
      /* One byte too many (decompressed, for gzip). */
      uint8_t *longer = malloc(len + 1);
      memcpy(longer, data, len);
      longer[len] = 0;
      p = gz ? write_gz("longer", longer, len + 1) : write_file("longer", longer, len + 1);
      char want[128];
      snprintf(want, sizeof want, "longer: expected %zu bytes, got %zu", len, len + 1);
      assert_fails(which ? qat_idx_load(ip, p, 10, &ds) : qat_idx_load(p, lp, 10, &ds),
                   QAT_ERR_FORMAT, want, "trailing data");
      assert_empty(&ds);
      free(longer);
      if (gz) free(disk);
    }
  }
  free(img);
  free(lab);
}

static void test_idx_gzip_damage(void **state) {
  (void)state;
  const char *ip, *lp;
  write_fixture("gz-img", "gz-lab", 1, &ip, &lp);
  size_t len;
  uint8_t *disk = read_whole(ip, &len);
  qat_dataset ds;
  /* The gzip trailer's CRC-32 (the 8 bytes before the end hold CRC and length). */
  disk[len - 8] ^= 0xff;
  const char *p = write_file("bad-crc", disk, len);
  assert_fails(qat_idx_load(p, lp, 10, &ds), QAT_ERR_FORMAT, "bad-crc: corrupt gzip data",
               "incorrect data check");
  assert_empty(&ds);
  free(disk);
  /* A file that is only a gzip magic. */
  const uint8_t magic[2] = {0x1f, 0x8b};
  p = write_file("just-magic", magic, 2);
  assert_fails(qat_idx_load(p, lp, 10, &ds), QAT_ERR_FORMAT, "just-magic: truncated");
}

static void test_idx_count_mismatch(void **state) {
  (void)state;
  const char *ip, *lp;
  write_fixture("img", "lab", 0, &ip, &lp);
  size_t len;
  uint8_t *lab = idx_labels(FIX_N - 1, fix_labels, &len);
  const char *bad = write_file("short-labels", lab, len);
  qat_dataset ds;
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "short-labels: 2 labels, but %s has 3 images", ip);
  assert_fails(qat_idx_load(ip, bad, 10, &ds), QAT_ERR_FORMAT, want);
  assert_empty(&ds);
  free(lab);
}

static void test_idx_label_range(void **state) {
  (void)state;
  const char *ip, *lp;
  write_fixture("img", "lab", 0, &ip, &lp);
  qat_dataset ds;
  const uint8_t bad_values[2] = {10, 255};
  for (int i = 0; i < 2; i++) {
    uint8_t labels[FIX_N] = {1, 2, 3};
    labels[2] = bad_values[i];
    size_t len;
    uint8_t *lab = idx_labels(FIX_N, labels, &len);
    const char *bad = write_file("bad-label", lab, len);
    char want[128];
    snprintf(want, sizeof want, "bad-label: label %d at index 2 out of range [0,10)",
             bad_values[i]);
    assert_fails(qat_idx_load(ip, bad, 10, &ds), QAT_ERR_FORMAT, want);
    assert_empty(&ds);
    free(lab);
  }
  /* The same labels are fine with more classes. */
  assert_int_equal(qat_idx_load(ip, lp, 256, &ds), 0);
  assert_int_equal(ds.num_classes, 256);
  qat_dataset_free(&ds);
  assert_fails(qat_idx_load(ip, lp, 0, &ds), QAT_ERR_USAGE, "num_classes 0");
}

static void test_idx_io_errors(void **state) {
  (void)state;
  const char *ip, *lp;
  write_fixture("img", "lab", 0, &ip, &lp);
  qat_dataset ds;
  assert_fails(qat_idx_load(tpath("missing"), lp, 10, &ds), QAT_ERR_IO,
               "missing: cannot open: No such file or directory");
  assert_fails(qat_idx_load(ip, tmpdir, 10, &ds), QAT_ERR_IO, "Is a directory");
  const char *fifo = tpath("fifo");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_fails(qat_idx_load(fifo, lp, 10, &ds), QAT_ERR_IO, "fifo: not a regular file");
  assert_empty(&ds);
}

/* ---- CIFAR-10 ---- */

#define REC 3073

/* A CIFAR record whose pixel (y, x, ch) is distinct per (record, ch, y, x) modulo 256. */
static void cifar_record(uint8_t *rec, uint8_t label, int r) {
  rec[0] = label;
  for (int ch = 0; ch < 3; ch++)
    for (int p = 0; p < 1024; p++) rec[1 + ch * 1024 + p] = (uint8_t)(r * 101 + ch * 29 + p * 7);
}

static void check_cifar_sample(const qat_dataset *ds, int64_t i, int r) {
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 32; x++)
      for (int ch = 0; ch < 3; ch++) {
        int p = y * 32 + x;
        uint8_t want = (uint8_t)(r * 101 + ch * 29 + p * 7);
        if (ds->images[i * 3072 + p * 3 + ch] != want)
          fail_msg("sample %lld pixel (%d,%d,%d): %d, expected %d", (long long)i, y, x, ch,
                   ds->images[i * 3072 + p * 3 + ch], want);
      }
}

static void test_cifar_convert(void **state) {
  (void)state;
  uint8_t *buf = malloc(2 * REC);
  cifar_record(buf, 7, 0);
  cifar_record(buf + REC, 2, 1);
  const char *a = write_file("cifar-a.bin", buf, 2 * REC);
  cifar_record(buf, 9, 2);
  const char *b = write_file("cifar-b.bin", buf, REC);
  qat_dataset ds;
  const char *one[] = {a};
  assert_int_equal(qat_cifar10_load(one, 1, &ds), 0);
  assert_int_equal(ds.n, 2);
  assert_int_equal(ds.h, 32);
  assert_int_equal(ds.w, 32);
  assert_int_equal(ds.c, 3);
  assert_int_equal(ds.num_classes, 10);
  assert_int_equal(ds.labels[0], 7);
  assert_int_equal(ds.labels[1], 2);
  check_cifar_sample(&ds, 0, 0);
  check_cifar_sample(&ds, 1, 1);
  /* Hand-checked corner: record 1, green plane, pixel (0, 1) -> 101 + 29 + 7. */
  assert_int_equal(ds.images[3072 + 1 * 3 + 1], 137);
  qat_dataset_free(&ds);
  const char *two[] = {a, b};
  assert_int_equal(qat_cifar10_load(two, 2, &ds), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.labels[2], 9);
  check_cifar_sample(&ds, 2, 2);
  qat_dataset_free(&ds);
  /* gzip works here too. */
  cifar_record(buf, 7, 0);
  cifar_record(buf + REC, 2, 1);
  const char *g = write_gz("cifar.bin.gz", buf, 2 * REC);
  const char *gz[] = {g};
  assert_int_equal(qat_cifar10_load(gz, 1, &ds), 0);
  assert_int_equal(ds.n, 2);
  check_cifar_sample(&ds, 1, 1);
  qat_dataset_free(&ds);
  free(buf);
}

static void test_cifar_bad(void **state) {
  (void)state;
  uint8_t *buf = calloc(3, REC);
  cifar_record(buf, 1, 0);
  cifar_record(buf + REC, 10, 1);
  qat_dataset ds;
  const char *p = write_file("bad-label.bin", buf, 2 * REC);
  const char *one[] = {p};
  assert_fails(qat_cifar10_load(one, 1, &ds), QAT_ERR_FORMAT,
               "bad-label.bin: label 10 in record 1 (byte offset 3073) out of range [0,10)");
  assert_empty(&ds);
  p = write_file("empty.bin", buf, 0);
  one[0] = p;
  assert_fails(qat_cifar10_load(one, 1, &ds), QAT_ERR_FORMAT, "empty.bin: empty (0 bytes)",
               "3073-byte records");
  p = write_file("odd.bin", buf, REC + 5);
  one[0] = p;
  assert_fails(qat_cifar10_load(one, 1, &ds), QAT_ERR_FORMAT,
               "odd.bin: size 3078 bytes is not a multiple of the 3073-byte CIFAR-10 record",
               "1 whole records and 5 bytes left over");
  p = write_file("c100.bin", buf, 2 * 3074);
  one[0] = p;
  assert_fails(qat_cifar10_load(one, 1, &ds), QAT_ERR_FORMAT, "CIFAR-100");
  /* A bad second file fails the whole load and frees the first one's data. */
  const char *good = write_file("good.bin", buf, REC);
  const char *two[] = {good, p};
  assert_fails(qat_cifar10_load(two, 2, &ds), QAT_ERR_FORMAT, "c100.bin: size 6148 bytes");
  assert_empty(&ds);
  assert_fails(qat_cifar10_load(two, 0, &ds), QAT_ERR_USAGE, "no batch files");
  free(buf);
}

static void test_cifar_prefix_sweep(void **state) {
  (void)state;
  uint8_t *buf = malloc(2 * REC);
  cifar_record(buf, 3, 0);
  cifar_record(buf + REC, 4, 1);
  const char *p = write_file("sweep.bin", buf, 2 * REC);
  qat_dataset ds;
  /* Shrinking one file is much faster than writing 6147 of them. */
  for (size_t cut = 2 * REC + 1; cut-- > 0;) {
    if (truncate(p, (off_t)cut) != 0) fail_msg("cannot truncate %s", p);
    const char *one[] = {p};
    int rc = qat_cifar10_load(one, 1, &ds);
    if (cut && cut % REC == 0) { /* whole records are a valid, shorter file */
      assert_int_equal(rc, 0);
      assert_int_equal(ds.n, (int64_t)(cut / REC));
      qat_dataset_free(&ds);
      continue;
    }
    const char *msg = qat_error_message();
    if (rc != QAT_ERR_FORMAT || !strstr(msg, "sweep.bin: ") || !strstr(msg, "3073"))
      fail_msg("prefix of %zu bytes: status %d, message: %s", cut, rc, msg);
    assert_empty(&ds);
  }
  free(buf);
}

/* ---- datasets and the spec loader ---- */

/* n samples of 1x1x2 whose two bytes spell the sample's index; label = index % 10. */
static void make_indexed(qat_dataset *ds, int64_t n) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->h = ds->w = 1;
  ds->c = 2;
  ds->num_classes = 10;
  ds->owns = 1;
  ds->images = malloc((size_t)(2 * n));
  ds->labels = malloc((size_t)n);
  for (int64_t i = 0; i < n; i++) {
    ds->images[2 * i] = (uint8_t)(i & 0xff);
    ds->images[2 * i + 1] = (uint8_t)(i >> 8);
    ds->labels[i] = (uint8_t)(i % 10);
  }
}

static int64_t sample_index(const qat_dataset *ds, int64_t i) {
  return ds->images[2 * i] | (int64_t)ds->images[2 * i + 1] << 8;
}

static void test_dataset_view_sample(void **state) {
  (void)state;
  qat_dataset ds, v, s, s2;
  make_indexed(&ds, 100);
  assert_int_equal(qat_dataset_view(&ds, 90, 10, &v), 0);
  assert_int_equal(v.n, 10);
  assert_int_equal(v.owns, 0);
  assert_int_equal(sample_index(&v, 0), 90);
  qat_dataset_free(&v); /* leaves ds's memory alone */
  assert_fails(qat_dataset_view(&ds, 95, 10, &v), QAT_ERR_USAGE, "outside the 100 samples");
  assert_int_equal(qat_dataset_sample(&ds, 10, 5, &s), 0);
  assert_int_equal(qat_dataset_sample(&ds, 10, 5, &s2), 0);
  assert_int_equal(s.n, 10);
  assert_int_equal(s.owns, 1);
  assert_memory_equal(s.images, s2.images, 20);
  for (int64_t i = 1; i < s.n; i++) assert_true(sample_index(&s, i) > sample_index(&s, i - 1));
  for (int64_t i = 0; i < s.n; i++) assert_int_equal(s.labels[i], sample_index(&s, i) % 10);
  qat_dataset_free(&s2);
  assert_int_equal(qat_dataset_sample(&ds, 10, 6, &s2), 0);
  assert_memory_not_equal(s.images, s2.images, 20);
  qat_dataset_free(&s2);
  qat_dataset_free(&s);
  assert_int_equal(qat_dataset_sample(&ds, 1000, 5, &s), 0);
  assert_int_equal(s.n, 100);
  assert_memory_equal(s.images, ds.images, 200);
  qat_dataset_free(&s);
  qat_dataset_free(&ds);
}

/* IDX files of n 2x3 images whose first pixel is the index (mod 256). */
static void write_idx_set(const char *img_name, const char *lab_name, uint32_t n, uint32_t h,
                          const char **ip, const char **lp) {
  size_t li = 16 + (size_t)n * h * 3, ll = 8 + n;
  uint8_t *img = calloc(1, li), *lab = malloc(ll);
  put_be32(img, 0x00000803);
  put_be32(img + 4, n);
  put_be32(img + 8, h);
  put_be32(img + 12, 3);
  put_be32(lab, 0x00000801);
  put_be32(lab + 4, n);
  for (uint32_t i = 0; i < n; i++) {
    img[16 + i * h * 3] = (uint8_t)i;
    lab[8 + i] = (uint8_t)(i % 10);
  }
  *ip = write_gz(img_name, img, li);
  *lp = write_file(lab_name, lab, ll);
  free(img);
  free(lab);
}

static void test_data_load_split(void **state) {
  (void)state;
  qat_data_spec spec = {0};
  const char *ip, *lp, *tip, *tlp;
  write_idx_set("s-train-img", "s-train-lab", 100, 2, &ip, &lp);
  write_idx_set("s-test-img", "s-test-lab", 30, 2, &tip, &tlp);
  spec.kind = QAT_DATASET_IDX;
  spec.train_images = (char *)ip;
  spec.train_labels = (char *)lp;
  spec.test_images = (char *)tip;
  spec.test_labels = (char *)tlp;
  spec.validation_split = 0.2f;
  qat_dataset train, val, test;
  assert_int_equal(qat_data_load(&spec, &train, &val, &test), 0);
  assert_int_equal(train.n, 80);
  assert_int_equal(val.n, 20);
  assert_int_equal(test.n, 30);
  assert_int_equal(train.owns && val.owns && test.owns, 1);
  assert_int_equal(val.images[0], 80); /* the held-out samples are the last ones */
  assert_int_equal(val.images[19 * 6], 99);
  assert_int_equal(train.images[79 * 6], 79);
  qat_dataset_free(&train);
  qat_dataset_free(&val);
  qat_dataset_free(&test);
  /* Limits apply first, then the split; without val the held-out part is still excluded. */
  spec.limit_train = 50;
  spec.limit_test = 7;
  spec.validation_split = 0.25f;
  assert_int_equal(qat_data_load(&spec, &train, NULL, &test), 0);
  assert_int_equal(train.n, 37); /* floor(50 * 0.75) as Keras computes it */
  assert_int_equal(test.n, 7);
  qat_dataset_free(&train);
  qat_dataset_free(&test);
  spec.limit_train = spec.limit_test = 0;
  spec.validation_split = 0;
  assert_int_equal(qat_data_load(&spec, &train, &val, NULL), 0);
  assert_int_equal(train.n, 100);
  assert_int_equal(val.n, 0);
  qat_dataset_free(&train);
  qat_dataset_free(&val);
  /* No test files named: an empty test set of the training shape. */
  spec.test_images = spec.test_labels = NULL;
  assert_int_equal(qat_data_load(&spec, &train, NULL, &test), 0);
  assert_int_equal(test.n, 0);
  assert_int_equal(test.h, 2);
  assert_int_equal(test.w, 3);
  qat_dataset_free(&train);
  qat_dataset_free(&test);
  /* Errors. */
  spec.limit_train = 1;
  spec.validation_split = 0.5f;
  assert_fails(qat_data_load(&spec, &train, &val, &test), QAT_ERR_USAGE,
               "validation_split 0.5 of 1 training samples leaves 0 for training");
  assert_empty(&train);
  assert_empty(&val);
  spec.limit_train = 0;
  spec.validation_split = 1.0f;
  assert_fails(qat_data_load(&spec, &train, &val, &test), QAT_ERR_USAGE, "outside [0, 1)");
  spec.validation_split = NAN;
  assert_fails(qat_data_load(&spec, &train, &val, &test), QAT_ERR_USAGE, "validation_split");
  spec.validation_split = 0;
  spec.test_images = (char *)tip;
  assert_fails(qat_data_load(&spec, &train, &val, &test), QAT_ERR_USAGE,
               "test_images and test_labels go together");
  const char *oip, *olp;
  write_idx_set("o-img", "o-lab", 5, 4, &oip, &olp);
  spec.test_images = (char *)oip;
  spec.test_labels = (char *)olp;
  assert_fails(qat_data_load(&spec, &train, &val, &test), QAT_ERR_FORMAT,
               "test images are 4x3x1 but training images are 2x3x1");
  assert_empty(&train);
  assert_empty(&test);
  spec.train_labels = (char *)tpath("nope");
  assert_fails(qat_data_load(&spec, &train, &val, &test), QAT_ERR_IO, "nope: cannot open");
}

static void test_data_load_cifar(void **state) {
  (void)state;
  uint8_t *buf = malloc(4 * REC);
  for (int r = 0; r < 4; r++) cifar_record(buf + r * REC, (uint8_t)r, r);
  qat_data_spec spec = {0};
  spec.kind = QAT_DATASET_CIFAR10;
  spec.n_train_files = 2;
  spec.train_files[0] = (char *)write_file("b1.bin", buf, 2 * REC);
  spec.train_files[1] = (char *)write_file("b2.bin", buf + 2 * REC, REC);
  spec.test_file = (char *)write_file("t.bin", buf + 3 * REC, REC);
  qat_dataset train, test;
  assert_int_equal(qat_data_load(&spec, &train, NULL, &test), 0);
  assert_int_equal(train.n, 3);
  assert_int_equal(test.n, 1);
  check_cifar_sample(&train, 2, 2);
  check_cifar_sample(&test, 0, 3);
  qat_dataset_free(&train);
  qat_dataset_free(&test);
  spec.n_train_files = 0;
  assert_fails(qat_data_load(&spec, &train, NULL, &test), QAT_ERR_USAGE, "got 0");
  free(buf);
}

static void test_data_load_fashion_env(void **state) {
  (void)state;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", tpath("fmnist"));
  assert_int_equal(mkdir(dir, 0755), 0);
  const char *ip, *lp;
  write_idx_set("fmnist/train-images-idx3-ubyte.gz", "fmnist/train-labels-idx1-ubyte", 20, 2,
                &ip, &lp);
  write_idx_set("fmnist/t10k-images-idx3-ubyte.gz", "fmnist/t10k-labels-idx1-ubyte", 10, 2,
                &ip, &lp);
  /* The labels were written without .gz: a directory of unpacked files works too. */
  qat_data_spec spec = {0};
  spec.kind = QAT_DATASET_FASHION_MNIST;
  qat_dataset train, test;
  const char *orig = getenv(QAT_FASHION_MNIST_DIR_ENV);
  char saved[PATH_MAX] = "";
  if (orig) snprintf(saved, sizeof saved, "%s", orig);
  setenv(QAT_FASHION_MNIST_DIR_ENV, dir, 1);
  assert_int_equal(qat_data_load(&spec, &train, NULL, &test), 0);
  assert_int_equal(train.n, 20);
  assert_int_equal(test.n, 10);
  qat_dataset_free(&train);
  qat_dataset_free(&test);
  setenv(QAT_FASHION_MNIST_DIR_ENV, tpath("no-such-dir"), 1);
  assert_fails(qat_data_load(&spec, &train, NULL, &test), QAT_ERR_IO,
               "no-such-dir/train-images-idx3-ubyte.gz: cannot open",
               "dataset-fashion-mnist", QAT_FASHION_MNIST_DIR_ENV);
  if (orig) setenv(QAT_FASHION_MNIST_DIR_ENV, saved, 1);
  else unsetenv(QAT_FASHION_MNIST_DIR_ENV);
}

static void test_fashion_mnist_real(void **state) {
  (void)state;
  const char *dir = getenv(QAT_FASHION_MNIST_DIR_ENV);
  if (!dir || !*dir) dir = QAT_FASHION_MNIST_DIR;
  struct stat st;
  if (stat(dir, &st) != 0) {
    print_message("skipping: %s not found (install Debian's dataset-fashion-mnist or set %s)\n",
                  dir, QAT_FASHION_MNIST_DIR_ENV);
    skip();
  }
  qat_data_spec spec = {0};
  spec.kind = QAT_DATASET_FASHION_MNIST;
  qat_dataset train, test;
  assert_int_equal(qat_data_load(&spec, &train, NULL, &test), 0);
  assert_int_equal(train.n, 60000);
  assert_int_equal(test.n, 10000);
  assert_int_equal(train.h, 28);
  assert_int_equal(train.w, 28);
  assert_int_equal(train.c, 1);
  int64_t count[2][10] = {{0}};
  for (int64_t i = 0; i < train.n; i++) count[0][train.labels[i]]++;
  for (int64_t i = 0; i < test.n; i++) count[1][test.labels[i]]++;
  for (int k = 0; k < 10; k++) {
    assert_int_equal(count[0][k], 6000);
    assert_int_equal(count[1][k], 1000);
  }
  /* Pixels use the full byte range. */
  uint8_t lo = 255, hi = 0;
  for (int64_t i = 0; i < train.n * 784; i++) {
    if (train.images[i] < lo) lo = train.images[i];
    if (train.images[i] > hi) hi = train.images[i];
  }
  assert_int_equal(lo, 0);
  assert_int_equal(hi, 255);
  qat_dataset_free(&train);
  qat_dataset_free(&test);
  /* 0.2f is 0.20000000298: the split still gives Keras's 48000 / 12000. */
  spec.validation_split = 0.2f;
  qat_dataset val;
  assert_int_equal(qat_data_load(&spec, &train, &val, NULL), 0);
  assert_int_equal(train.n, 48000);
  assert_int_equal(val.n, 12000);
  qat_dataset_free(&train);
  qat_dataset_free(&val);
}

/* ---- batcher ---- */

static void test_shuffle_permutation(void **state) {
  (void)state;
  qat_dataset ds;
  make_indexed(&ds, 1000);
  qat_batcher a, b;
  assert_int_equal(qat_batcher_init(&a, &ds, 32, 1, 0, 0), 0);
  assert_int_equal(qat_batcher_init(&b, &ds, 32, 1, 0, 0), 0);
  int64_t *first = malloc(1000 * sizeof *first);
  uint8_t *seen = calloc(1000, 1);
  qat_batcher_set_epoch(&a, 42, 0);
  for (int64_t i = 0; i < 1000; i++) {
    assert_in_range(a.order[i], 0, 999);
    assert_int_equal(seen[a.order[i]]++, 0);
  }
  memcpy(first, a.order, 1000 * sizeof *first);
  int64_t fixed = 0;
  for (int64_t i = 0; i < 1000; i++) fixed += first[i] == i;
  assert_true(fixed < 20); /* about 1 expected for a random permutation */
  /* Same (seed, epoch) -> same order, whatever the batcher went through before. */
  qat_batcher_set_epoch(&b, 7, 3);
  qat_batcher_set_epoch(&b, 42, 0);
  assert_memory_equal(b.order, first, 1000 * sizeof *first);
  qat_batcher_set_epoch(&b, 42, 1);
  assert_memory_not_equal(b.order, first, 1000 * sizeof *first);
  qat_batcher_set_epoch(&b, 43, 0);
  assert_memory_not_equal(b.order, first, 1000 * sizeof *first);
  qat_batcher_free(&a);
  qat_batcher_free(&b);
  /* No shuffle: dataset order. */
  assert_int_equal(qat_batcher_init(&a, &ds, 1000, 0, 0, 0), 0);
  qat_batcher_set_epoch(&a, 42, 5);
  float *x = malloc(1000 * 2 * sizeof *x);
  int32_t *y = malloc(1000 * sizeof *y);
  assert_int_equal(qat_batcher_get(&a, 0, x, y), 1000);
  for (int i = 0; i < 1000; i++) assert_int_equal(y[i], i % 10);
  qat_batcher_free(&a);
  free(x);
  free(y);
  free(first);
  free(seen);
  qat_dataset_free(&ds);
}

static void test_batches_cover_epoch(void **state) {
  (void)state;
  qat_dataset ds;
  make_indexed(&ds, 1003);
  qat_batcher b;
  assert_int_equal(qat_batcher_init(&b, &ds, 10, 1, 0, 0), 0);
  assert_int_equal(qat_batcher_num_batches(&b), 101);
  float x[10 * 2];
  int32_t y[10];
  for (int epoch = 0; epoch < 3; epoch++) {
    qat_batcher_set_epoch(&b, 9, epoch);
    uint8_t seen[1003] = {0};
    for (int64_t k = 0; k < 101; k++) {
      int got = qat_batcher_get(&b, k, x, y);
      assert_int_equal(got, k == 100 ? 3 : 10);
      for (int j = 0; j < got; j++) {
        /* Exact: every byte value v is recovered from v / 255.0f. */
        int lo = (int)lrintf(x[2 * j] * 255.0f), hi = (int)lrintf(x[2 * j + 1] * 255.0f);
        int idx = lo | hi << 8;
        assert_in_range(idx, 0, 1002);
        assert_int_equal(seen[idx]++, 0);
        assert_int_equal(y[j], idx % 10);
      }
    }
    for (int i = 0; i < 1003; i++) assert_int_equal(seen[i], 1);
  }
  assert_fails(qat_batcher_get(&b, 101, x, y), QAT_ERR_USAGE, "batch 101 outside [0, 101)");
  assert_fails(qat_batcher_get(&b, -1, x, y), QAT_ERR_USAGE, "outside");
  qat_batcher_free(&b);
  qat_batcher bad;
  assert_fails(qat_batcher_init(&bad, &ds, 0, 1, 0, 0), QAT_ERR_USAGE, "batch size 0");
  assert_fails(qat_batcher_init(&bad, &ds, 4, 1, 2, 0), QAT_ERR_USAGE, "random_crop 2");
  qat_dataset_free(&ds);
}

static void test_scaling(void **state) {
  (void)state;
  qat_dataset ds = {.n = 1, .h = 16, .w = 16, .c = 1, .num_classes = 10, .owns = 1};
  ds.images = malloc(256);
  ds.labels = calloc(1, 1);
  for (int i = 0; i < 256; i++) ds.images[i] = (uint8_t)i;
  qat_batcher b;
  assert_int_equal(qat_batcher_init(&b, &ds, 4, 0, 0, 0), 0);
  float x[4 * 256];
  int32_t y[4];
  assert_int_equal(qat_batcher_get(&b, 0, x, y), 1);
  for (int i = 0; i < 256; i++) {
    if (x[i] != (float)i / 255.0f) fail_msg("pixel %d -> %.9g", i, (double)x[i]);
  }
  assert_true(x[0] == 0.0f && x[255] == 1.0f);
  qat_batcher_free(&b);
  qat_dataset_free(&ds);
}

/* Random n x 8x8x3 images (values 1..255 so that padding zeros stand out). */
static void make_random_images(qat_dataset *ds, int64_t n, int h, int w, int c) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->h = h;
  ds->w = w;
  ds->c = c;
  ds->num_classes = 10;
  ds->owns = 1;
  ds->images = malloc((size_t)(n * h * w * c));
  ds->labels = malloc((size_t)n);
  uint32_t s = 12345;
  for (int64_t i = 0; i < n * h * w * c; i++) {
    s = s * 1664525u + 1013904223u;
    ds->images[i] = (uint8_t)(1 + (s >> 24) % 255);
  }
  for (int64_t i = 0; i < n; i++) ds->labels[i] = (uint8_t)(i % 10);
}

static void test_batch_order_independent(void **state) {
  (void)state;
  qat_dataset ds;
  make_random_images(&ds, 50, 8, 8, 3);
  qat_batcher b;
  assert_int_equal(qat_batcher_init(&b, &ds, 8, 1, 2, 1), 0);
  qat_batcher_set_epoch(&b, 5, 2);
  int64_t nb = qat_batcher_num_batches(&b);
  size_t xs = 8 * 8 * 8 * 3;
  float *fwd = calloc((size_t)nb * xs, sizeof *fwd), *rev = calloc((size_t)nb * xs, sizeof *rev);
  int32_t *yf = calloc((size_t)nb * 8, sizeof *yf), *yr = calloc((size_t)nb * 8, sizeof *yr);
  for (int64_t k = 0; k < nb; k++) qat_batcher_get(&b, k, fwd + k * xs, yf + k * 8);
  /* A different epoch in between, then the batches backwards from a fresh batcher. */
  qat_batcher_set_epoch(&b, 5, 3);
  qat_batcher_get(&b, 1, rev, yr);
  qat_batcher_free(&b);
  assert_int_equal(qat_batcher_init(&b, &ds, 8, 1, 2, 1), 0);
  qat_batcher_set_epoch(&b, 5, 2);
  for (int64_t k = nb - 1; k >= 0; k--) qat_batcher_get(&b, k, rev + k * xs, yr + k * 8);
  assert_memory_equal(fwd, rev, (size_t)nb * xs * sizeof *fwd);
  assert_memory_equal(yf, yr, (size_t)nb * 8 * sizeof *yf);
  /* Another epoch augments differently. */
  qat_batcher_set_epoch(&b, 5, 3);
  qat_batcher_get(&b, 0, rev, yr);
  assert_memory_not_equal(fwd, rev, xs * sizeof *fwd);
  qat_batcher_free(&b);
  free(fwd);
  free(rev);
  free(yf);
  free(yr);
  qat_dataset_free(&ds);
}

/* Finds the (dy, dx, flip) that explains out as a padded crop of img; -1 if none. */
static int explain(const uint8_t *img, const float *out, int h, int w, int c, int pad,
                   int *dy_out, int *dx_out, int *flip_out) {
  for (int flip = 0; flip < 2; flip++)
    for (int dy = -pad; dy <= pad; dy++)
      for (int dx = -pad; dx <= pad; dx++) {
        int ok = 1;
        for (int y = 0; y < h && ok; y++)
          for (int x = 0; x < w && ok; x++) {
            int sy = y + dy, sx = (flip ? w - 1 - x : x) + dx;
            for (int k = 0; k < c && ok; k++) {
              float want = (sy < 0 || sy >= h || sx < 0 || sx >= w)
                               ? 0.0f
                               : (float)img[(sy * w + sx) * c + k] / 255.0f;
              ok = out[(y * w + x) * c + k] == want;
            }
          }
        if (ok) {
          *dy_out = dy;
          *dx_out = dx;
          *flip_out = flip;
          return 0;
        }
      }
  return -1;
}

static void test_crop_flip(void **state) {
  (void)state;
  qat_dataset ds;
  enum { N = 400, H = 6, W = 7, C = 2, P = 2 };
  make_random_images(&ds, N, H, W, C);
  struct { int crop, flip; } modes[] = {{P, 1}, {P, 0}, {0, 1}};
  float *x = malloc(N * H * W * C * sizeof *x);
  int32_t *y = malloc(N * sizeof *y);
  for (int m = 0; m < 3; m++) {
    qat_batcher b;
    assert_int_equal(qat_batcher_init(&b, &ds, N, 0, modes[m].crop, modes[m].flip), 0);
    qat_batcher_set_epoch(&b, 77, 0);
    assert_int_equal(qat_batcher_get(&b, 0, x, y), N);
    int flips = 0, shifted = 0, offsets[2 * P + 1][2 * P + 1];
    memset(offsets, 0, sizeof offsets);
    for (int i = 0; i < N; i++) {
      int dy = 0, dx = 0, flip = 0;
      if (explain(ds.images + i * H * W * C, x + i * H * W * C, H, W, C, modes[m].crop, &dy,
                  &dx, &flip) != 0)
        fail_msg("mode %d sample %d is not a padded crop/flip of its image", m, i);
      flips += flip;
      shifted += dy || dx;
      if (modes[m].crop) offsets[dy + P][dx + P]++;
    }
    if (modes[m].flip) assert_in_range(flips, N / 2 - 60, N / 2 + 60);
    else assert_int_equal(flips, 0);
    if (modes[m].crop) {
      assert_true(shifted > N / 2);
      for (int a = 0; a < 2 * P + 1; a++)
        for (int c = 0; c < 2 * P + 1; c++) assert_true(offsets[a][c] > 0); /* every offset */
    } else {
      assert_int_equal(shifted, 0);
    }
    qat_batcher_free(&b);
  }
  free(x);
  free(y);
  qat_dataset_free(&ds);
}

static void test_empty_dataset_batcher(void **state) {
  (void)state;
  qat_dataset ds = {.h = 2, .w = 2, .c = 1, .num_classes = 10, .owns = 1};
  qat_batcher b;
  assert_int_equal(qat_batcher_init(&b, &ds, 4, 1, 1, 1), 0);
  assert_int_equal(qat_batcher_num_batches(&b), 0);
  float x[16];
  int32_t y[4];
  assert_fails(qat_batcher_get(&b, 0, x, y), QAT_ERR_USAGE, "batch 0 outside [0, 0)");
  qat_batcher_free(&b);
}


/* ---- data.augment (Keras preprocessing layers) ---- */

static qat_augment_spec aug_base(void) {
  qat_augment_spec a;
  memset(&a, 0, sizeof a);
  a.enabled = 1;
  a.contrast_range[1] = a.brightness_range[1] = 255.0f;
  return a;
}

static void get_all(const qat_dataset *ds, const qat_augment_spec *a, uint64_t seed, int epoch, float *x, int32_t *y) {
  qat_batcher b;
  assert_int_equal(qat_batcher_init(&b, ds, (int)ds->n, 0, 0, 0), 0);
  if (qat_batcher_set_augment(&b, a)) fail_msg("%s", qat_error_message());
  qat_batcher_set_epoch(&b, seed, epoch);
  assert_int_equal(qat_batcher_get(&b, 0, x, y), ds->n);
  qat_batcher_free(&b);
}

/* Every layer at once: batches are a function of (seed, epoch, position) only, whatever was
 * asked before and in whatever batch size; another epoch or seed changes them. */
static void test_augment_pure(void **state) {
  (void)state;
  qat_dataset ds;
  enum { N = 40, H = 9, W = 8, C = 3, B = 7 };
  make_random_images(&ds, N, H, W, C);
  qat_augment_spec a = aug_base();
  a.flip_horizontal = a.flip_vertical = 1;
  a.crop_h = 7, a.crop_w = 6;
  a.translate = 1, a.translate_h[0] = -0.2f, a.translate_h[1] = 0.2f, a.translate_w[1] = 0.1f;
  a.rotate = 1, a.rotation[0] = -0.1f, a.rotation[1] = 0.1f;
  a.zoom = 1, a.zoom_h[0] = -0.3f, a.zoom_h[1] = 0.3f;
  a.contrast = 1, a.contrast_f[0] = a.contrast_f[1] = 0.3f;
  a.brightness = 1, a.brightness_f[0] = -0.2f, a.brightness_f[1] = 0.2f;
  size_t size = (size_t)H * W * C;
  float *ref = malloc(N * size * sizeof *ref), *x = malloc(N * size * sizeof *x), *other = malloc(N * size * sizeof *x);
  int32_t y[N];
  get_all(&ds, &a, 11, 3, ref, y);
  for (int i = 0; i < N * (int)size; i++) assert_true(ref[i] >= 0.0f && ref[i] <= 1.0f);
  qat_batcher b;
  assert_int_equal(qat_batcher_init(&b, &ds, B, 0, 0, 0), 0);
  assert_int_equal(qat_batcher_set_augment(&b, &a), 0);
  qat_batcher_set_epoch(&b, 11, 4); /* another epoch first: nothing carries over */
  assert_int_equal(qat_batcher_get(&b, 2, x, y), B);
  qat_batcher_set_epoch(&b, 11, 3);
  for (int64_t k = qat_batcher_num_batches(&b) - 1; k >= 0; k--) /* backwards */
    assert_true(qat_batcher_get(&b, k, x + k * B * size, y) > 0);
  assert_memory_equal(x, ref, N * size * sizeof *x);
  qat_batcher_free(&b);
  get_all(&ds, &a, 11, 4, other, y);
  assert_memory_not_equal(other, ref, N * size * sizeof *x);
  get_all(&ds, &a, 12, 3, other, y);
  assert_memory_not_equal(other, ref, N * size * sizeof *x);
  /* The same without augmentation is the plain batch. */
  qat_augment_spec off = {0};
  get_all(&ds, &off, 11, 3, other, y);
  for (size_t i = 0; i < N * size; i++) assert_true(other[i] == (float)ds.images[i] / 255.0f);
  /* Refusals: a crop larger than the samples; mixing with the older keys. */
  a.crop_h = H + 1;
  assert_int_equal(qat_batcher_init(&b, &ds, B, 0, 0, 0), 0);
  assert_fails(qat_batcher_set_augment(&b, &a), QAT_ERR_USAGE, "RandomCrop 10x6 is larger than the 9x8 samples");
  qat_batcher_free(&b);
  a.crop_h = 0;
  assert_int_equal(qat_batcher_init(&b, &ds, B, 0, 1, 0), 0);
  assert_fails(qat_batcher_set_augment(&b, &a), QAT_ERR_USAGE, "cannot be combined with random_crop");
  qat_batcher_free(&b);
  free(ref);
  free(x);
  free(other);
  qat_dataset_free(&ds);
}

/* Each layer's meaning on cases with an exact answer. */
static void test_augment_layers(void **state) {
  (void)state;
  qat_dataset ds;
  enum { N = 200, H = 8, W = 8, C = 2 };
  make_random_images(&ds, N, H, W, C);
  size_t size = (size_t)H * W * C;
  float *x = malloc(N * size * sizeof *x);
  int32_t y[N];
#define IN(i, yy, xx, k) ((float)ds.images[(size_t)(i) * size + ((size_t)(yy) * W + (xx)) * C + (k)] / 255.0f)
#define OUT(i, yy, xx, k) (x[(size_t)(i) * size + ((size_t)(yy) * W + (xx)) * C + (k)])
  /* RandomFlip horizontal: each image is itself or its mirror, exactly; about half mirrored. */
  qat_augment_spec a = aug_base();
  a.flip_horizontal = 1;
  get_all(&ds, &a, 3, 0, x, y);
  int mirrored = 0;
  for (int i = 0; i < N; i++) {
    int same = 1, mirror = 1;
    for (int yy = 0; yy < H; yy++)
      for (int xx = 0; xx < W; xx++)
        for (int k = 0; k < C; k++) {
          same &= OUT(i, yy, xx, k) == IN(i, yy, xx, k);
          mirror &= OUT(i, yy, xx, k) == IN(i, yy, W - 1 - xx, k);
        }
    assert_true(same || mirror);
    mirrored += mirror && !same;
  }
  assert_in_range(mirrored, N / 2 - 40, N / 2 + 40);
  /* RandomCrop of the whole image is the image. */
  a = aug_base();
  a.crop_h = H, a.crop_w = W;
  get_all(&ds, &a, 3, 0, x, y);
  for (size_t i = 0; i < N * size; i++) assert_true(x[i] == (float)ds.images[i] / 255.0f);
  /* RandomTranslation by exactly a quarter of the width, constant fill 7: two columns of 7. */
  a = aug_base();
  a.translate = 1, a.translate_w[0] = a.translate_w[1] = 0.25f;
  a.fill_mode = QAT_FILL_CONSTANT, a.fill_value = 7;
  get_all(&ds, &a, 3, 0, x, y);
  for (int i = 0; i < N; i++)
    for (int yy = 0; yy < H; yy++)
      for (int xx = 0; xx < W; xx++)
        for (int k = 0; k < C; k++) assert_true(OUT(i, yy, xx, k) == (xx < 2 ? 7.0f / 255.0f : IN(i, yy, xx - 2, k)));
  /* The same with reflect: column -1 is column 0, -2 is column 1 (d c b a | a b c d). */
  a.fill_mode = QAT_FILL_REFLECT;
  get_all(&ds, &a, 3, 0, x, y);
  for (int i = 0; i < N; i++)
    for (int yy = 0; yy < H; yy++) {
      assert_true(OUT(i, yy, 1, 0) == IN(i, yy, 0, 0));
      assert_true(OUT(i, yy, 0, 1) == IN(i, yy, 1, 1));
    }
  /* RandomRotation by a quarter turn, nearest: counter-clockwise, out(y, x) = in(x, W-1-y). */
  a = aug_base();
  a.rotate = 1, a.rotation[0] = a.rotation[1] = 0.25f;
  a.interp_nearest = 1;
  get_all(&ds, &a, 3, 0, x, y);
  for (int i = 0; i < N; i++)
    for (int yy = 0; yy < H; yy++)
      for (int xx = 0; xx < W; xx++)
        for (int k = 0; k < C; k++) assert_true(OUT(i, yy, xx, k) == IN(i, xx, W - 1 - yy, k));
  /* RandomZoom of 1 + 1 (out by 2), nearest, constant fill 0: the image shrinks into the centre
   * centre, out(y, x) = in(round(2 (y - 3.5) + 3.5)) (halves round up), 0 at the border. */
  a = aug_base();
  a.zoom = 1, a.zoom_h[0] = a.zoom_h[1] = 1.0f;
  a.interp_nearest = 1, a.fill_mode = QAT_FILL_CONSTANT;
  get_all(&ds, &a, 3, 0, x, y);
  for (int i = 0; i < N; i++) {
    assert_true(OUT(i, 0, 0, 0) == 0.0f && OUT(i, 7, 7, 1) == 0.0f);
    assert_true(OUT(i, 2, 2, 0) == IN(i, 1, 1, 0));   /* 0.5 -> 1 */
    assert_true(OUT(i, 4, 5, 1) == IN(i, 5, 7, 1));   /* 4.5 -> 5, 6.5 -> 7 */
  }
  /* RandomBrightness by exactly +0.1 of [0, 255]: v + 25.5, clipped at 255. */
  a = aug_base();
  a.brightness = 1, a.brightness_f[0] = a.brightness_f[1] = 0.1f;
  get_all(&ds, &a, 3, 0, x, y);
  for (size_t i = 0; i < N * size; i++) {
    float v = (float)ds.images[i] + 0.1f * 255.0f;
    assert_true(x[i] == (v > 255.0f ? 255.0f : v) / 255.0f);
  }
  /* RandomContrast by exactly 0.5: (v - mean) / 2 + mean per image and channel. */
  a = aug_base();
  a.contrast = 1, a.contrast_f[0] = 0.5f, a.contrast_f[1] = -0.5f;
  get_all(&ds, &a, 3, 0, x, y);
  for (int i = 0; i < N; i++)
    for (int k = 0; k < C; k++) {
      double mean = 0;
      for (int p = 0; p < H * W; p++) mean += ds.images[(size_t)i * size + (size_t)p * C + k];
      mean /= H * W;
      for (int p = 0; p < H * W; p++) {
        double want = ((ds.images[(size_t)i * size + (size_t)p * C + k] - mean) * 0.5 + mean) / 255.0;
        assert_true(fabs(x[(size_t)i * size + (size_t)p * C + k] - want) < 1e-5);
      }
    }
#undef IN
#undef OUT
  free(x);
  qat_dataset_free(&ds);
}

/* ---- fixture directory ---- */

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/test_data.XXXXXX", QAT_BINARY_DIR);
  if (!mkdtemp(tmpdir)) {
    fprintf(stderr, "cannot create %s\n", tmpdir);
    return -1;
  }
  return 0;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[PATH_MAX];
    int n = snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (n < 0 || n >= (int)sizeof p) continue;
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
    else unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static int teardown(void **state) {
  (void)state;
  remove_tree(tmpdir);
  return 0;
}

/* ---- NPY ---- */
#include "qat/npy.h"

/* A .npy image: header text padded to a multiple of 64 as numpy does, then data. */
static size_t npy_image(uint8_t *buf, int major, const char *dict, const void *data, size_t n) {
  size_t pre = major == 1 ? 10 : 12, k = strlen(dict);
  size_t total = (pre + k + 1 + 63) / 64 * 64, hlen = total - pre;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (uint8_t)major;
  buf[7] = 0;
  buf[8] = (uint8_t)hlen;
  buf[9] = (uint8_t)(hlen >> 8);
  if (major > 1) buf[10] = buf[11] = 0;
  memset(buf + pre, ' ', hlen);
  memcpy(buf + pre, dict, k);
  buf[total - 1] = '\n';
  memcpy(buf + total, data, n);
  return total + n;
}

static void test_npy_versions_and_types(void **state) {
  (void)state;
  uint8_t buf[512];
  float f[6] = {1, 2, 3, 4, 5, 6};
  qat_npy a;
  for (int major = 1; major <= 3; major++) {
    size_t n = npy_image(buf, major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, sizeof f);
    assert_int_equal(qat_npy_parse("t.npy", buf, (int64_t)n, 1 << 20, &a), 0);
    assert_int_equal(a.dtype, QAT_NPY_F4);
    assert_int_equal(a.rank, 2);
    assert_int_equal(a.shape[1], 3);
    assert_true(((float *)a.data)[5] == 6.0f);
    qat_npy_free(&a);
  }
  uint16_t h[3] = {0x3c00, 0x0001, 0xc000}; /* 1, the smallest subnormal, -2 */
  size_t n = npy_image(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", h, sizeof h);
  assert_int_equal(qat_npy_parse("h.npy", buf, (int64_t)n, 1 << 20, &a), 0);
  assert_true(qat_half_to_float(((uint16_t *)a.data)[0]) == 1.0f);
  assert_true(qat_half_to_float(((uint16_t *)a.data)[1]) == 5.9604644775390625e-8f);
  assert_true(qat_half_to_float(((uint16_t *)a.data)[2]) == -2.0f);
  qat_npy_free(&a);
}

static void test_npy_refusals(void **state) {
  (void)state;
  static const struct {
    const char *dict, *msg;
  } cases[] = {
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", "big-endian"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "Fortran-order"},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (6,), }", "object array"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", "structured"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", "not supported"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", "truncated"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", "trailing data"},
      {"{'descr': '<f4', 'shape': (6,), }", "missing"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'descr': '<f4'}", "repeated"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", "limit"},
  };
  uint8_t buf[512];
  float f[6] = {0};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    qat_npy a;
    size_t n = npy_image(buf, 1, cases[i].dict, f, sizeof f);
    assert_true(qat_npy_parse("bad.npy", buf, (int64_t)n, 1 << 20, &a) < 0);
    assert_non_null(strstr(qat_error_message(), "bad.npy"));
    if (!strstr(qat_error_message(), cases[i].msg)) fail_msg("case %zu: %s", i, qat_error_message());
    assert_null(a.data);
  }
  /* every prefix of a valid file is refused */
  size_t n = npy_image(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f, sizeof f);
  for (size_t len = 0; len < n; len++) {
    qat_npy a;
    assert_true(qat_npy_parse("cut.npy", buf, (int64_t)len, 1 << 20, &a) < 0);
  }
}

static void test_npy_save_roundtrip(void **state) {
  (void)state;
  char path[] = "/tmp/qat_npy_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  int64_t shape[2] = {2, 2}, v[4] = {1, -2, 3, 1LL << 40};
  assert_int_equal(qat_npy_save(path, QAT_NPY_I8, 2, shape, v), 0);
  qat_npy a;
  assert_int_equal(qat_npy_load(path, 1 << 20, &a), 0);
  assert_int_equal(a.dtype, QAT_NPY_I8);
  assert_int_equal(((int64_t *)a.data)[3], 1LL << 40);
  qat_npy_free(&a);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_npy_versions_and_types),
      cmocka_unit_test(test_npy_refusals),
      cmocka_unit_test(test_npy_save_roundtrip),
      cmocka_unit_test(test_idx_roundtrip),
      cmocka_unit_test(test_idx_bad_magic),
      cmocka_unit_test(test_idx_bad_dims),
      cmocka_unit_test(test_idx_prefix_sweep),
      cmocka_unit_test(test_idx_gzip_damage),
      cmocka_unit_test(test_idx_count_mismatch),
      cmocka_unit_test(test_idx_label_range),
      cmocka_unit_test(test_idx_io_errors),
      cmocka_unit_test(test_cifar_convert),
      cmocka_unit_test(test_cifar_bad),
      cmocka_unit_test(test_cifar_prefix_sweep),
      cmocka_unit_test(test_dataset_view_sample),
      cmocka_unit_test(test_data_load_split),
      cmocka_unit_test(test_data_load_cifar),
      cmocka_unit_test(test_data_load_fashion_env),
      cmocka_unit_test(test_fashion_mnist_real),
      cmocka_unit_test(test_shuffle_permutation),
      cmocka_unit_test(test_batches_cover_epoch),
      cmocka_unit_test(test_scaling),
      cmocka_unit_test(test_batch_order_independent),
      cmocka_unit_test(test_crop_flip),
      cmocka_unit_test(test_empty_dataset_batcher),
      cmocka_unit_test(test_augment_pure),
      cmocka_unit_test(test_augment_layers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
