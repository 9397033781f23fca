/* h5store: round trips, h5dump interop, and the hostile-file and failed-write rows of
 * shared/BAD-INPUTS.md (D1, D3, D4, D5, H3, H4, H5). Every file lives in a mkdtemp directory
 * that the group teardown removes. Library calls that must fail run with stderr redirected to
 * a file that must stay empty: "no HDF5 error-stack spam" is part of the contract. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "qat/error.h"
#include "qat/h5store.h"

extern int qat_h5_isolate; /* checkpoint/h5store.c */

static char tmpdir[512];

static void tpath(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* ---- helpers --------------------------------------------------------------------------- */

static int saved_stderr = -1;
static char stderr_file[600];

/* Redirects fd 2 into a file; quiet_end() asserts nothing was written to it. Only library
 * calls go between the two, so a failing cmocka assert never prints into the file. */
static void quiet_begin(void) {
  snprintf(stderr_file, sizeof stderr_file, "%s/stderr.txt", tmpdir);
  fflush(stderr);
  int fd = open(stderr_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  saved_stderr = dup(2);
  assert_true(saved_stderr >= 0);
  assert_true(dup2(fd, 2) >= 0);
  close(fd);
}

static void quiet_end(void) {
  fflush(stderr);
  assert_true(dup2(saved_stderr, 2) >= 0);
  close(saved_stderr);
  saved_stderr = -1;
  struct stat st;
  assert_int_equal(stat(stderr_file, &st), 0);
  if (st.st_size != 0) {
    char buf[2048] = "";
    FILE *f = fopen(stderr_file, "r");
    if (f) {
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      buf[n] = '\0';
      fclose(f);
    }
    print_message("unexpected stderr output:\n%s\n", buf);
  }
  assert_int_equal(st.st_size, 0);
}

static void assert_msg(const char *needle) {
  const char *m = qat_error_message();
  if (!strstr(m, needle)) print_message("message: %s\nexpected to contain: %s\n", m, needle);
  assert_non_null(strstr(m, needle));
}

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void spit(const char *path, const void *data, size_t len) {
  /* unlink first: on ext4, truncating a file that has unwritten data makes close() start
   * writeback (auto_da_alloc), which made the sweeps below 10x slower. */
  unlink(path);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (len) assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void assert_same_file(const char *path, const unsigned char *want, size_t want_len) {
  size_t len;
  unsigned char *got = slurp(path, &len);
  assert_int_equal(len, want_len);
  assert_memory_equal(got, want, len);
  free(got);
}

/* Temp files of the atomic writer left in the test directory. */
static int count_temps(void) {
  DIR *d = opendir(tmpdir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

static void rm_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_tree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* ---- the sample checkpoint ------------------------------------------------------------- */

#define CONFIG_TEXT "model:\n  name: mnist_cnn\n  layers: [conv2d, dense]\ntrain:\n  lr: 0.01\n"

static float conv_k[4 * 3 * 3 * 2], dense_k[10 * 8], dense_b[10];
static double f64v[5];
static int32_t i32v[6];
static uint64_t u64v[3];
static uint8_t u8v[7];
static int8_t i8v[4];
static int64_t stepv;

static void fill_sample(int variant) {
  for (size_t i = 0; i < sizeof conv_k / sizeof *conv_k; i++) conv_k[i] = (float)i * 0.25f - 3.0f + (float)variant;
  for (size_t i = 0; i < sizeof dense_k / sizeof *dense_k; i++) dense_k[i] = sinf((float)i + (float)variant);
  for (size_t i = 0; i < 10; i++) dense_b[i] = -(float)i / 7.0f + (float)variant;
  for (size_t i = 0; i < 5; i++) f64v[i] = 1.0 / (double)(i + 1) + variant;
  for (int i = 0; i < 6; i++) i32v[i] = (i - 3) * 1000003 + variant;
  u64v[0] = UINT64_MAX - (uint64_t)variant;
  u64v[1] = 0;
  u64v[2] = 12345678901234567ull;
  for (int i = 0; i < 7; i++) u8v[i] = (uint8_t)(250 + i + variant);
  i8v[0] = -128;
  i8v[1] = 127;
  i8v[2] = (int8_t)variant;
  i8v[3] = -1;
  stepv = 1000 + variant;
}

static int write_sample(const char *path, int variant) {
  qat_h5_writer w;
  fill_sample(variant);
  int rc = qat_h5_writer_open(&w, path);
  if (rc) return rc;
  const int64_t conv_d[] = {4, 3, 3, 2}, dense_d[] = {10, 8}, bias_d[] = {10}, f64_d[] = {5},
                i32_d[] = {2, 3}, u64_d[] = {3}, u8_d[] = {7}, i8_d[] = {4}, empty_d[] = {0, 5};
  if ((rc = qat_h5_write_array(&w, "params/conv2d/kernel", QAT_H5_F32, 4, conv_d, conv_k)) ||
      (rc = qat_h5_write_array(&w, "/params/dense/kernel", QAT_H5_F32, 2, dense_d, dense_k)) ||
      (rc = qat_h5_write_array(&w, "params/dense/bias", QAT_H5_F32, 1, bias_d, dense_b)) ||
      (rc = qat_h5_write_array(&w, "optimizer/step", QAT_H5_I64, 0, NULL, &stepv)) ||
      (rc = qat_h5_write_array(&w, "stats/f64", QAT_H5_F64, 1, f64_d, f64v)) ||
      (rc = qat_h5_write_array(&w, "stats/i32", QAT_H5_I32, 2, i32_d, i32v)) ||
      (rc = qat_h5_write_array(&w, "stats/u64", QAT_H5_U64, 1, u64_d, u64v)) ||
      (rc = qat_h5_write_array(&w, "stats/u8", QAT_H5_U8, 1, u8_d, u8v)) ||
      (rc = qat_h5_write_array(&w, "stats/i8", QAT_H5_I8, 1, i8_d, i8v)) ||
      (rc = qat_h5_write_array(&w, "empty", QAT_H5_F32, 2, empty_d, NULL)) ||
      (rc = qat_h5_write_attr_string(&w, "/", "config", CONFIG_TEXT)) ||
      (rc = qat_h5_write_attr_string(&w, "/", "empty_string", "")) ||
      (rc = qat_h5_write_attr_int64(&w, "/", "epoch", INT64_MIN + variant)) ||
      (rc = qat_h5_write_attr_double(&w, "/", "lr", 0.01 * (variant + 1))) ||
      (rc = qat_h5_write_attr_int64(&w, "params/dense", "units", 10)) ||
      (rc = qat_h5_write_attr_string(&w, "params/dense/kernel", "layout", "[out, in]")) ||
      (rc = qat_h5_write_attr_double(&w, "observers/conv2d", "ema_min", -1.5)))
    return rc; /* the writer has already aborted itself */
  return qat_h5_writer_commit(&w);
}

/* Reads back everything write_sample wrote. Returns 0 when all reads succeed with the
 * written values, 1 when some read reports an error, 2 when a read "succeeds" with other
 * values: the one outcome that must never happen to a damaged file. */
static int check_sample(const char *path, int variant) {
  qat_h5_reader r;
  int bad_value = 0;
  fill_sample(variant);
  if (qat_h5_reader_open(&r, path)) return 1;
  float ck[4 * 3 * 3 * 2], dk[10 * 8], db[10], empty[1];
  double f64[5], lr, ema;
  int32_t i32[6];
  uint64_t u64[3];
  uint8_t u8[7];
  int8_t i8[4];
  int64_t step, epoch, units;
  char *config = NULL, *es = NULL, *layout = NULL;
  const int64_t conv_d[] = {4, 3, 3, 2}, dense_d[] = {10, 8}, bias_d[] = {10}, f64_d[] = {5},
                i32_d[] = {2, 3}, u64_d[] = {3}, u8_d[] = {7}, i8_d[] = {4}, empty_d[] = {0, 5};
  int rc = 0;
  if (qat_h5_read_array(&r, "params/conv2d/kernel", QAT_H5_F32, 4, conv_d, ck, QAT_H5_FINITE) ||
      qat_h5_read_array(&r, "params/dense/kernel", QAT_H5_F32, 2, dense_d, dk, QAT_H5_FINITE) ||
      qat_h5_read_array(&r, "/params/dense/bias", QAT_H5_F32, 1, bias_d, db, 0) ||
      qat_h5_read_array(&r, "optimizer/step", QAT_H5_I64, 0, NULL, &step, 0) ||
      qat_h5_read_array(&r, "stats/f64", QAT_H5_F64, 1, f64_d, f64, QAT_H5_FINITE) ||
      qat_h5_read_array(&r, "stats/i32", QAT_H5_I32, 2, i32_d, i32, 0) ||
      qat_h5_read_array(&r, "stats/u64", QAT_H5_U64, 1, u64_d, u64, 0) ||
      qat_h5_read_array(&r, "stats/u8", QAT_H5_U8, 1, u8_d, u8, 0) ||
      qat_h5_read_array(&r, "stats/i8", QAT_H5_I8, 1, i8_d, i8, 0) ||
      qat_h5_read_array(&r, "empty", QAT_H5_F32, 2, empty_d, empty, 0) ||
      qat_h5_read_attr_string(&r, "/", "config", &config) ||
      qat_h5_read_attr_string(&r, "/", "empty_string", &es) ||
      qat_h5_read_attr_string(&r, "params/dense/kernel", "layout", &layout) ||
      qat_h5_read_attr_int64(&r, "/", "epoch", &epoch) ||
      qat_h5_read_attr_int64(&r, "params/dense", "units", &units) ||
      qat_h5_read_attr_double(&r, "/", "lr", &lr) ||
      qat_h5_read_attr_double(&r, "observers/conv2d", "ema_min", &ema)) {
    rc = 1;
    goto done;
  }
  /* Bitwise comparison: a checkpoint must restore exactly what was saved. */
  bad_value |= memcmp(ck, conv_k, sizeof ck) != 0;
  bad_value |= memcmp(dk, dense_k, sizeof dk) != 0;
  bad_value |= memcmp(db, dense_b, sizeof db) != 0;
  bad_value |= memcmp(f64, f64v, sizeof f64) != 0;
  bad_value |= memcmp(i32, i32v, sizeof i32) != 0;
  bad_value |= memcmp(u64, u64v, sizeof u64) != 0;
  bad_value |= memcmp(u8, u8v, sizeof u8) != 0;
  bad_value |= memcmp(i8, i8v, sizeof i8) != 0;
  bad_value |= step != stepv;
  bad_value |= strcmp(config, CONFIG_TEXT) != 0;
  bad_value |= strcmp(es, "") != 0;
  bad_value |= strcmp(layout, "[out, in]") != 0;
  bad_value |= epoch != INT64_MIN + variant;
  bad_value |= units != 10;
  bad_value |= lr != 0.01 * (variant + 1);
  bad_value |= ema != -1.5;
  rc = bad_value ? 2 : 0;
done:
  free(config);
  free(es);
  free(layout);
  qat_h5_reader_close(&r);
  return rc;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static int group_setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/qat_h5store_XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  rm_tree(tmpdir);
  return 0;
}

/* ---- round trips ----------------------------------------------------------------------- */

static void test_roundtrip(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "roundtrip.h5");
  quiet_begin();
  int rc = write_sample(path, 0);
  quiet_end();
  if (rc) print_message("%s\n", qat_error_message());
  assert_int_equal(rc, 0);
  assert_int_equal(count_temps(), 0);
  assert_int_equal(check_sample(path, 0), 0);

  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  assert_int_equal(r.qat_store, 1);
  assert_int_equal(qat_h5_has(&r, "params/dense/kernel"), 1);
  assert_int_equal(qat_h5_has(&r, "/params/dense"), 1);
  assert_int_equal(qat_h5_has(&r, "params/dense/nope"), 0);
  assert_int_equal(qat_h5_has(&r, "params/dense/kernel/deeper"), 0);
  assert_int_equal(qat_h5_has_attr(&r, "/", "config"), 1);
  assert_int_equal(qat_h5_has_attr(&r, "/", "nope"), 0);
  assert_int_equal(qat_h5_has_attr(&r, "/missing/group", "config"), 0);

  int type, rank;
  int64_t dims[QAT_H5_MAX_RANK];
  assert_int_equal(qat_h5_array_info(&r, "params/conv2d/kernel", &type, &rank, dims), 0);
  assert_int_equal(type, QAT_H5_F32);
  assert_int_equal(rank, 4);
  assert_int_equal(dims[0], 4);
  assert_int_equal(dims[3], 2);

  void *data;
  assert_int_equal(
      qat_h5_read_array_alloc(&r, "params/dense/kernel", QAT_H5_F32, &rank, dims, &data, 1 << 20, 0),
      0);
  assert_int_equal(rank, 2);
  assert_int_equal(dims[0], 10);
  assert_int_equal(dims[1], 8);
  fill_sample(0);
  assert_memory_equal(data, dense_k, sizeof dense_k);
  free(data);
  /* Empty datasets come back as a valid (freeable) pointer. */
  assert_int_equal(qat_h5_read_array_alloc(&r, "empty", QAT_H5_F32, &rank, dims, &data, 0, 0), 0);
  assert_non_null(data);
  assert_int_equal(rank, 2);
  assert_int_equal(dims[0], 0);
  free(data);
  qat_h5_reader_close(&r);
  qat_h5_reader_close(&r); /* twice is fine */
}

typedef struct listing {
  char names[16][64];
  qat_h5_kind kinds[16];
  int n;
  int stop_after;
} listing;

static int collect(const char *name, qat_h5_kind kind, void *ctx) {
  listing *l = ctx;
  if (l->n < 16) {
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->kinds[l->n] = kind;
  }
  l->n++;
  return l->stop_after && l->n == l->stop_after ? 7 : 0;
}

static void test_list(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "list.h5");
  assert_int_equal(write_sample(path, 0), 0);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  listing l = {0};
  assert_int_equal(qat_h5_list(&r, "/", collect, &l), 0);
  /* Name order: empty, observers, optimizer, params, stats. */
  assert_int_equal(l.n, 5);
  assert_string_equal(l.names[0], "empty");
  assert_int_equal(l.kinds[0], QAT_H5_DATASET);
  assert_string_equal(l.names[3], "params");
  assert_int_equal(l.kinds[3], QAT_H5_GROUP);
  memset(&l, 0, sizeof l);
  assert_int_equal(qat_h5_list(&r, "params/dense", collect, &l), 0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.names[0], "bias");
  assert_string_equal(l.names[1], "kernel");
  memset(&l, 0, sizeof l);
  l.stop_after = 2;
  assert_int_equal(qat_h5_list(&r, "stats", collect, &l), 7);
  assert_int_equal(l.n, 2);
  quiet_begin();
  int rc = qat_h5_list(&r, "params/dense/kernel", collect, &l);
  quiet_end();
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_msg("list.h5:/params/dense/kernel: is not a group");
  qat_h5_reader_close(&r);
}

static void test_large_string_attr(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "bigattr.h5");
  /* Larger than the 64 KiB object-header message limit: HDF5 must put it in dense storage,
   * which needs the 1.8 file format that the writer asks for. */
  size_t n = 200 * 1024;
  char *text = malloc(n + 1);
  assert_non_null(text);
  for (size_t i = 0; i < n; i++) text[i] = (char)('a' + i % 26);
  text[n] = '\0';
  qat_h5_writer w;
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  int rc = qat_h5_write_attr_string(&w, "/", "config", text);
  if (rc) print_message("%s\n", qat_error_message());
  assert_int_equal(rc, 0);
  assert_int_equal(qat_h5_writer_commit(&w), 0);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  char *back;
  assert_int_equal(qat_h5_read_attr_string(&r, "/", "config", &back), 0);
  assert_string_equal(back, text);
  free(back);
  qat_h5_reader_close(&r);
  free(text);
}

static void test_h5dump(void **state) {
  (void)state;
  if (system("command -v h5dump >/dev/null 2>&1") != 0) {
    print_message("skipping: h5dump is not installed (Debian: hdf5-tools)\n");
    skip();
  }
  char path[1024], out[1024], cmd[3000];
  tpath(path, sizeof path, "dump.h5");
  tpath(out, sizeof out, "dump.txt");
  assert_int_equal(write_sample(path, 0), 0);
  snprintf(cmd, sizeof cmd, "h5dump '%s' > '%s' 2>&1", path, out);
  assert_int_equal(system(cmd), 0);
  size_t len;
  char *text = (char *)slurp(out, &len);
  text[len] = '\0';
  /* The names, the checksum attribute, and the config string as readable text. */
  assert_non_null(strstr(text, "DATASET \"kernel\""));
  assert_non_null(strstr(text, "ATTRIBUTE \"qat_crc32\""));
  assert_non_null(strstr(text, "ATTRIBUTE \"config\""));
  assert_non_null(strstr(text, "mnist_cnn"));
  assert_non_null(strstr(text, "H5T_IEEE_F32LE"));
  free(text);
}

/* ---- reader: wrong content (D3) ---------------------------------------------------------- */

static void test_missing_dataset(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "ckpt.h5");
  assert_int_equal(write_sample(path, 0), 0);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  float buf[80];
  const int64_t d[] = {10, 8};
  quiet_begin();
  int rc1 = qat_h5_read_array(&r, "params/dense2/kernel", QAT_H5_F32, 2, d, buf, 0);
  char m1[1024];
  snprintf(m1, sizeof m1, "%s", qat_error_message());
  int rc2 = qat_h5_read_array(&r, "params/dense/kernel2", QAT_H5_F32, 2, d, buf, 0);
  char m2[1024];
  snprintf(m2, sizeof m2, "%s", qat_error_message());
  int rc3 = qat_h5_read_attr_int64(&r, "/", "nope", &(int64_t){0});
  char m3[1024];
  snprintf(m3, sizeof m3, "%s", qat_error_message());
  int rc4 = qat_h5_read_array(&r, "params/dense", QAT_H5_F32, 2, d, buf, 0);
  quiet_end();
  assert_int_equal(rc1, QAT_ERR_FORMAT);
  assert_non_null(strstr(m1, "ckpt.h5:/params/dense2/kernel: not found ('/params/dense2' does not exist)"));
  assert_int_equal(rc2, QAT_ERR_FORMAT);
  assert_non_null(strstr(m2, "ckpt.h5:/params/dense/kernel2: not found"));
  assert_int_equal(rc3, QAT_ERR_FORMAT);
  assert_non_null(strstr(m3, "ckpt.h5:/: attribute 'nope' not found"));
  assert_int_equal(rc4, QAT_ERR_FORMAT);
  assert_msg("ckpt.h5:/params/dense: is a group, expected a dataset");
  qat_h5_reader_close(&r);
}

static void test_wrong_shape(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "ckpt.h5");
  assert_int_equal(write_sample(path, 0), 0);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  float buf[128];
  quiet_begin();
  int rc = qat_h5_read_array(&r, "params/dense/kernel", QAT_H5_F32, 2, (int64_t[]){10, 9}, buf, 0);
  quiet_end();
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_msg("ckpt.h5:/params/dense/kernel: shape [10,8], expected [10,9]");
  /* Same element count, other rank: still refused (a transposed or flattened kernel). */
  rc = qat_h5_read_array(&r, "params/dense/kernel", QAT_H5_F32, 1, (int64_t[]){80}, buf, 0);
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_msg("shape [10,8], expected [80]");
  rc = qat_h5_read_array(&r, "params/dense/kernel", QAT_H5_F32, 2, (int64_t[]){8, 10}, buf, 0);
  assert_msg("shape [10,8], expected [8,10]");
  rc = qat_h5_read_array(&r, "optimizer/step", QAT_H5_I64, 1, (int64_t[]){1}, buf, 0);
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_msg("shape [], expected [1]");
  /* The size cap of the allocating reader applies before any allocation. */
  void *data = NULL;
  int rank;
  int64_t dims[QAT_H5_MAX_RANK];
  rc = qat_h5_read_array_alloc(&r, "params/dense/kernel", QAT_H5_F32, &rank, dims, &data, 100, 0);
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_null(data);
  assert_msg("shape [10,8] needs 320 bytes, over the limit of 100");
  qat_h5_reader_close(&r);
}

static void test_wrong_dtype(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "ckpt.h5");
  assert_int_equal(write_sample(path, 0), 0);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  double buf[80];
  quiet_begin();
  int rc = qat_h5_read_array(&r, "params/dense/kernel", QAT_H5_F64, 2, (int64_t[]){10, 8}, buf, 0);
  quiet_end();
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_msg("ckpt.h5:/params/dense/kernel: dtype float32, expected float64");
  rc = qat_h5_read_array(&r, "stats/i32", QAT_H5_I64, 2, (int64_t[]){2, 3}, buf, 0);
  assert_msg("dtype int32, expected int64");
  rc = qat_h5_read_array(&r, "stats/u8", QAT_H5_I8, 1, (int64_t[]){7}, buf, 0);
  assert_msg("dtype uint8, expected int8");
  /* Attribute type mismatches. */
  int64_t v;
  double d;
  assert_int_equal(qat_h5_read_attr_int64(&r, "/", "lr", &v), QAT_ERR_FORMAT);
  assert_msg("attribute 'lr' is float64, expected an integer");
  assert_int_equal(qat_h5_read_attr_double(&r, "/", "config", &d), QAT_ERR_FORMAT);
  assert_msg("attribute 'config' is string, expected a float");
  char *s;
  assert_int_equal(qat_h5_read_attr_string(&r, "/", "epoch", &s), QAT_ERR_FORMAT);
  assert_null(s);
  assert_msg("attribute 'epoch' is int64, expected a string");
  qat_h5_reader_close(&r);
}

static void test_non_finite(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "nan.h5");
  float v[6] = {1.0f, NAN, 2.0f, INFINITY, -INFINITY, 3.0f};
  qat_h5_writer w;
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(qat_h5_write_array(&w, "params/k", QAT_H5_F32, 2, (int64_t[]){2, 3}, v), 0);
  assert_int_equal(qat_h5_writer_commit(&w), 0);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  float back[6];
  assert_int_equal(qat_h5_read_array(&r, "params/k", QAT_H5_F32, 2, (int64_t[]){2, 3}, back, 0), 0);
  assert_memory_equal(back, v, sizeof v); /* NaN bits survive */
  assert_int_equal(
      qat_h5_read_array(&r, "params/k", QAT_H5_F32, 2, (int64_t[]){2, 3}, back, QAT_H5_FINITE),
      QAT_ERR_FORMAT);
  assert_msg("nan.h5:/params/k: contains 3 non-finite values (first at flat index 1)");
  qat_h5_reader_close(&r);
}

/* ---- reader: not HDF5, truncated (D1) ---------------------------------------------------- */

static void expect_open_fails(const char *path, int status, const char *needle) {
  qat_h5_reader r;
  quiet_begin();
  int rc = qat_h5_reader_open(&r, path);
  quiet_end();
  assert_int_equal(rc, status);
  assert_msg(needle);
  assert_int_equal(r.file, -1);
  assert_null(r.path);
  qat_h5_reader_close(&r); /* harmless after a failed open */
}

static void test_not_hdf5(void **state) {
  (void)state;
  char path[1024], want[1200];
  tpath(path, sizeof path, "text.h5");
  const char *text = "this is a text file renamed to .h5\n";
  spit(path, text, strlen(text));
  snprintf(want, sizeof want, "%s: not an HDF5 file (or truncated)", path);
  expect_open_fails(path, QAT_ERR_FORMAT, want);

  tpath(path, sizeof path, "empty.h5");
  spit(path, "", 0);
  snprintf(want, sizeof want, "%s: not an HDF5 file (or truncated)", path);
  expect_open_fails(path, QAT_ERR_FORMAT, want);

  /* Random bytes, and random bytes behind a valid signature. */
  unsigned char junk[4096];
  unsigned s = 12345;
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
  tpath(path, sizeof path, "random.h5");
  spit(path, junk, sizeof junk);
  expect_open_fails(path, QAT_ERR_FORMAT, "not an HDF5 file (or truncated)");
  memcpy(junk, "\211HDF\r\n\032\n", 8);
  spit(path, junk, sizeof junk);
  expect_open_fails(path, QAT_ERR_FORMAT, "not an HDF5 file (or truncated)");

  tpath(path, sizeof path, "does-not-exist.h5");
  expect_open_fails(path, QAT_ERR_IO, "cannot open: No such file or directory");

  tpath(path, sizeof path, "a-directory.h5");
  assert_int_equal(mkdir(path, 0755), 0);
  expect_open_fails(path, QAT_ERR_IO, "cannot open: Is a directory");

  /* A FIFO must be refused without blocking on open. */
  tpath(path, sizeof path, "fifo.h5");
  assert_int_equal(mkfifo(path, 0644), 0);
  expect_open_fails(path, QAT_ERR_IO, "not a regular file");
}

static void test_truncated(void **state) {
  (void)state;
  char path[1024], cut[1024];
  tpath(path, sizeof path, "full.h5");
  tpath(cut, sizeof cut, "cut.h5");
  assert_int_equal(write_sample(path, 0), 0);
  size_t len;
  unsigned char *bytes = slurp(path, &len);

  /* The BAD-INPUTS D1 case: cut at 50%, with the usual message. */
  spit(cut, bytes, len / 2);
  char want[1200];
  snprintf(want, sizeof want, "%s: not an HDF5 file (or truncated)", cut);
  expect_open_fails(cut, QAT_ERR_FORMAT, want);

  /* Prefix sweep: every proper prefix must be rejected (at open or at a read), never read
   * as a success, and never print. The sweeps test the reader's own checks in this process;
   * a child per open (thousands of forks, slow under ASan) would add nothing here, and the
   * child is tested in test_reliability. */
  int opened = 0;
  qat_h5_isolate = 0;
  quiet_begin();
  for (size_t n = 0; n < len; n++) {
    spit(cut, bytes, n);
    int rc = check_sample(cut, 0);
    if (rc != 1) {
      quiet_end();
      print_message("prefix of %zu/%zu bytes: check_sample = %d\n", n, len, rc);
      fail();
    }
    qat_h5_reader r;
    if (qat_h5_reader_open(&r, cut) == 0) {
      opened++;
      qat_h5_reader_close(&r);
    }
  }
  quiet_end();
  qat_h5_isolate = 1;
  print_message("prefix sweep: %zu prefixes rejected (%d passed open, failed later)\n", len,
                opened);
  spit(cut, bytes, len);
  assert_int_equal(check_sample(cut, 0), 0);
  free(bytes);
}

/* ---- integrity (H5) ---------------------------------------------------------------------- */

/* File offset of a contiguous dataset's bytes, via HDF5 (test-only use of the raw API). */
static long dataset_offset(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  assert_true(d >= 0);
  haddr_t off = H5Dget_offset(d);
  assert_true(off != HADDR_UNDEF);
  H5Dclose(d);
  H5Fclose(f);
  return (long)off;
}

static void test_flipped_byte_in_dataset(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "flip.h5");
  assert_int_equal(write_sample(path, 0), 0);
  long off = dataset_offset(path, "/params/dense/kernel");
  size_t len;
  unsigned char *bytes = slurp(path, &len);
  bytes[off + 13] ^= 0x10; /* one bit of one float: HDF5 itself cannot notice */
  spit(path, bytes, len);
  free(bytes);

  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  float k[80];
  quiet_begin();
  int rc = qat_h5_read_array(&r, "params/dense/kernel", QAT_H5_F32, 2, (int64_t[]){10, 8}, k, 0);
  quiet_end();
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_msg("flip.h5:/params/dense/kernel: checksum mismatch (expected 0x");
  assert_msg(", got 0x");
  /* The other datasets are intact and still read. */
  float b[10];
  assert_int_equal(qat_h5_read_array(&r, "params/dense/bias", QAT_H5_F32, 1, (int64_t[]){10}, b, 0), 0);
  qat_h5_reader_close(&r);
}

/* LeakSanitizer's hooks, defined only in sanitizer builds (weak references: NULL otherwise). */
void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));

/* Every single-byte corruption of the file either fails with an error or leaves all values
 * intact: HDF5 checksums the metadata (1.8 formats), our CRC covers the data.
 * libhdf5 1.10.8 leaks the in-memory object header (about 400 bytes, allocated inside
 * H5O_protect via H5C_protect) each time an object header fails its checksum, so leak
 * detection is off for the sweep's allocations only. The same read paths, on intact and on
 * truncated files, run with leak detection in the other tests. */
static void test_flip_sweep(void **state) {
  (void)state;
  char path[1024], bad[1024];
  tpath(path, sizeof path, "sweep.h5");
  tpath(bad, sizeof bad, "sweep-bad.h5");
  assert_int_equal(write_sample(path, 0), 0);
  size_t len;
  unsigned char *bytes = slurp(path, &len);
  int errors = 0, harmless = 0;
  quiet_begin();
  qat_h5_isolate = 0; /* as in the prefix sweep */
  if (__lsan_disable) __lsan_disable();
  for (size_t i = 0; i < len; i++) {
    bytes[i] ^= 0x5a;
    spit(bad, bytes, len);
    bytes[i] ^= 0x5a;
    int rc = check_sample(bad, 0);
    if (rc == 2) {
      if (__lsan_enable) __lsan_enable();
      quiet_end();
      print_message("flipping byte %zu of %zu gave wrong values without an error\n", i, len);
      fail();
    }
    if (rc == 1) errors++;
    else harmless++;
  }
  if (__lsan_enable) __lsan_enable();
  qat_h5_isolate = 1;
  quiet_end();
  print_message("flip sweep over %zu bytes: %d detected, %d harmless (unused bytes)\n", len,
                errors, harmless);
  free(bytes);
}

static int raw_set_attr_i64(hid_t obj, const char *name, int64_t v) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  hid_t s = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
  int rc = H5Awrite(a, H5T_NATIVE_INT64, &v) < 0;
  H5Aclose(a);
  H5Sclose(s);
  return rc;
}

static void test_store_checks(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "nocrc.h5");
  assert_int_equal(write_sample(path, 0), 0);
  /* A qat store whose dataset lost its checksum attribute. */
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_true(H5Adelete_by_name(f, "/params/dense/bias", QAT_H5_CRC_ATTR, H5P_DEFAULT) >= 0);
  H5Fclose(f);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  float b[10];
  assert_int_equal(qat_h5_read_array(&r, "params/dense/bias", QAT_H5_F32, 1, (int64_t[]){10}, b, 0),
                   QAT_ERR_FORMAT);
  assert_msg("nocrc.h5:/params/dense/bias: no checksum (attribute 'qat_crc32' missing)");
  qat_h5_reader_close(&r);

  /* Written by a newer qat. */
  tpath(path, sizeof path, "newer.h5");
  assert_int_equal(write_sample(path, 0), 0);
  f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_int_equal(raw_set_attr_i64(f, QAT_H5_VERSION_ATTR, 2), 0);
  H5Fclose(f);
  expect_open_fails(path, QAT_ERR_UNSUPPORTED, "written by a newer qat (store version 2");
}

/* ---- foreign and hostile files (D3, D4) -------------------------------------------------- */

/* A file as h5py/Keras would write it, plus hostile variants, built with the raw API. */
static void make_foreign(const char *path) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hsize_t d2[2] = {3, 4};
  hid_t s2 = H5Screate_simple(2, d2, NULL);
  double dv[12];
  for (int i = 0; i < 12; i++) dv[i] = i * 0.5;
  hid_t d = H5Dcreate2(f, "f64", H5T_IEEE_F64BE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, dv) >= 0);
  H5Dclose(d);

  /* Chunked + shuffle + deflate: allowed. */
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t c2[2] = {2, 2};
  H5Pset_chunk(dcpl, 2, c2);
  H5Pset_shuffle(dcpl);
  H5Pset_deflate(dcpl, 6);
  float fv[12];
  for (int i = 0; i < 12; i++) fv[i] = (float)i;
  d = H5Dcreate2(f, "deflated", H5T_IEEE_F32LE, s2, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, fv) >= 0);
  H5Dclose(d);
  H5Pclose(dcpl);

  /* Scale-offset (lossy, and on the D4 deny list). */
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, c2);
  H5Pset_scaleoffset(dcpl, H5Z_SO_FLOAT_DSCALE, 2);
  d = H5Dcreate2(f, "scaleoffset", H5T_IEEE_F32LE, s2, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, fv) >= 0);
  H5Dclose(d);
  H5Pclose(dcpl);

  /* External raw storage: reading it would read another file named by this one. */
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_external(dcpl, "/etc/passwd", 0, 48);
  d = H5Dcreate2(f, "external", H5T_IEEE_F32LE, s2, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d);
  H5Pclose(dcpl);

  /* 2^40 elements, chunked and never written: a tiny file that claims 4 TiB. */
  hsize_t big[2] = {(hsize_t)1 << 20, (hsize_t)1 << 20};
  hid_t sb = H5Screate_simple(2, big, NULL);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t cb[2] = {64, 64};
  H5Pset_chunk(dcpl, 2, cb);
  d = H5Dcreate2(f, "huge", H5T_IEEE_F32LE, sb, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sb);

  /* Rank 9 (over our limit of 8). */
  hsize_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 2};
  hid_t s9 = H5Screate_simple(9, d9, NULL);
  d = H5Dcreate2(f, "rank9", H5T_IEEE_F32LE, s9, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, fv) >= 0);
  H5Dclose(d);
  H5Sclose(s9);

  /* Links we do not follow. */
  assert_true(H5Lcreate_soft("/f64", f, "soft", H5P_DEFAULT, H5P_DEFAULT) >= 0);
  assert_true(H5Lcreate_external("other.h5", "/x", f, "ext", H5P_DEFAULT, H5P_DEFAULT) >= 0);

  /* Keras-style string attributes: variable-length scalar, fixed-length NULLPAD array. */
  hid_t vs = H5Tcopy(H5T_C_S1);
  H5Tset_size(vs, H5T_VARIABLE);
  H5Tset_cset(vs, H5T_CSET_UTF8);
  hid_t s0 = H5Screate(H5S_SCALAR);
  const char *kv = "2.13.1";
  hid_t a = H5Acreate2(f, "keras_version", vs, s0, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Awrite(a, vs, &kv) >= 0);
  H5Aclose(a);
  H5Tclose(vs);
  hid_t fs = H5Tcopy(H5T_C_S1);
  H5Tset_size(fs, 8);
  H5Tset_strpad(fs, H5T_STR_NULLPAD);
  hsize_t n3 = 3;
  hid_t s3 = H5Screate_simple(1, &n3, NULL);
  const char names[3][8] = {"conv2d", "dense_1", "flatten"}; /* "dense_1" fills all 8? no: 7 */
  a = H5Acreate2(f, "layer_names", fs, s3, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Awrite(a, fs, names) >= 0);
  H5Aclose(a);
  H5Tclose(fs);
  H5Sclose(s3);
  /* A uint64 attribute over INT64_MAX, and a bad checksum attribute type. */
  uint64_t huge = UINT64_MAX;
  a = H5Acreate2(f, "huge_u64", H5T_STD_U64LE, s0, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Awrite(a, H5T_NATIVE_UINT64, &huge) >= 0);
  H5Aclose(a);
  d = H5Dopen2(f, "deflated", H5P_DEFAULT);
  double wrongcrc = 1.0;
  a = H5Acreate2(d, QAT_H5_CRC_ATTR, H5T_IEEE_F64LE, s0, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Awrite(a, H5T_NATIVE_DOUBLE, &wrongcrc) >= 0);
  H5Aclose(a);
  H5Dclose(d);
  H5Sclose(s0);
  H5Sclose(s2);
  H5Fclose(f);
}

static void test_foreign_file(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "foreign.h5");
  make_foreign(path);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  assert_int_equal(r.qat_store, 0);

  /* Big-endian float64 without a checksum: fine unless a checksum is required. */
  double dv[12];
  assert_int_equal(qat_h5_read_array(&r, "f64", QAT_H5_F64, 2, (int64_t[]){3, 4}, dv, 0), 0);
  assert_true(dv[11] == 5.5);
  quiet_begin();
  int rc = qat_h5_read_array(&r, "f64", QAT_H5_F64, 2, (int64_t[]){3, 4}, dv, QAT_H5_REQUIRE_CHECKSUM);
  quiet_end();
  assert_int_equal(rc, QAT_ERR_FORMAT);
  assert_msg("foreign.h5:/f64: no checksum");
  int type, rank;
  int64_t dims[QAT_H5_MAX_RANK];
  assert_int_equal(qat_h5_array_info(&r, "f64", &type, &rank, dims), 0);
  assert_int_equal(type, QAT_H5_F64);

  float fv[12];
  quiet_begin();
  int rc_deflate = qat_h5_read_array(&r, "deflated", QAT_H5_F32, 2, (int64_t[]){3, 4}, fv, 0);
  char m_deflate[1024];
  snprintf(m_deflate, sizeof m_deflate, "%s", qat_error_message());
  int rc_so = qat_h5_read_array(&r, "scaleoffset", QAT_H5_F32, 2, (int64_t[]){3, 4}, fv, 0);
  char m_so[1024];
  snprintf(m_so, sizeof m_so, "%s", qat_error_message());
  int rc_ext = qat_h5_read_array(&r, "external", QAT_H5_F32, 2, (int64_t[]){3, 4}, fv, 0);
  char m_ext[1024];
  snprintf(m_ext, sizeof m_ext, "%s", qat_error_message());
  void *data = NULL;
  int rc_huge = qat_h5_read_array_alloc(&r, "huge", QAT_H5_F32, &rank, dims, &data, 1u << 30, 0);
  char m_huge[1024];
  snprintf(m_huge, sizeof m_huge, "%s", qat_error_message());
  int rc_r9 = qat_h5_read_array_alloc(&r, "rank9", QAT_H5_F32, &rank, dims, &data, 1u << 30, 0);
  char m_r9[1024];
  snprintf(m_r9, sizeof m_r9, "%s", qat_error_message());
  int rc_soft = qat_h5_read_array(&r, "soft", QAT_H5_F64, 2, (int64_t[]){3, 4}, dv, 0);
  char m_soft[1024];
  snprintf(m_soft, sizeof m_soft, "%s", qat_error_message());
  int rc_ext_link = qat_h5_has(&r, "ext/x");
  quiet_end();
  /* The deflated dataset reads its data, then trips on the bogus checksum attribute. */
  assert_int_equal(rc_deflate, QAT_ERR_FORMAT);
  assert_non_null(strstr(m_deflate, "foreign.h5:/deflated: bad checksum attribute 'qat_crc32'"));
  assert_true(fv[11] == 11.0f);
  assert_int_equal(rc_so, QAT_ERR_FORMAT);
  assert_non_null(strstr(m_so, "foreign.h5:/scaleoffset: uses HDF5 filter 6"));
  assert_int_equal(rc_ext, QAT_ERR_FORMAT);
  assert_non_null(strstr(m_ext, "foreign.h5:/external: stores its data in an external file"));
  assert_int_equal(rc_huge, QAT_ERR_FORMAT);
  assert_null(data);
  assert_non_null(strstr(m_huge, "shape [1048576,1048576] needs 4398046511104 bytes, over the limit"));
  assert_int_equal(rc_r9, QAT_ERR_FORMAT);
  assert_non_null(strstr(m_r9, "rank 9 exceeds the maximum of 8"));
  assert_int_equal(rc_soft, QAT_ERR_FORMAT);
  assert_non_null(strstr(m_soft, "foreign.h5:/soft: '/soft' is a soft link (not followed)"));
  assert_int_equal(rc_ext_link, 0);
  assert_int_equal(qat_h5_has(&r, "soft"), 0);

  char *s;
  assert_int_equal(qat_h5_read_attr_string(&r, "/", "keras_version", &s), 0);
  assert_string_equal(s, "2.13.1");
  free(s);
  char **names;
  size_t count;
  assert_int_equal(qat_h5_read_attr_strings(&r, "/", "layer_names", &names, &count), 0);
  assert_int_equal(count, 3);
  assert_string_equal(names[0], "conv2d");
  assert_string_equal(names[1], "dense_1");
  assert_string_equal(names[2], "flatten");
  qat_h5_strings_free(names, count);
  /* An array is not a single string. */
  assert_int_equal(qat_h5_read_attr_string(&r, "/", "layer_names", &s), QAT_ERR_FORMAT);
  assert_msg("attribute 'layer_names' has 3 elements, expected one");
  int64_t v;
  assert_int_equal(qat_h5_read_attr_int64(&r, "/", "huge_u64", &v), QAT_ERR_FORMAT);
  assert_msg("does not fit int64");

  listing l = {0};
  assert_int_equal(qat_h5_list(&r, "/", collect, &l), 0);
  int others = 0;
  for (int i = 0; i < l.n && i < 16; i++) others += l.kinds[i] == QAT_H5_OTHER;
  assert_int_equal(others, 2); /* soft and ext, reported but not followed */
  qat_h5_reader_close(&r);
}

/* ---- writer faults (H3, H4) -------------------------------------------------------------- */

static void test_target_not_regular(void **state) {
  (void)state;
  char path[1024];
  qat_h5_writer w;
  tpath(path, sizeof path, "target-dir");
  assert_int_equal(mkdir(path, 0755), 0);
  quiet_begin();
  int rc = qat_h5_writer_open(&w, path);
  quiet_end();
  assert_int_equal(rc, QAT_ERR_IO);
  assert_msg("not a regular file");
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  qat_h5_writer_abort(&w); /* safe after a failed open */

  tpath(path, sizeof path, "target-devnull");
  assert_int_equal(symlink("/dev/null", path), 0);
  assert_int_equal(qat_h5_writer_open(&w, path), QAT_ERR_IO);
  assert_msg("not a regular file");

  tpath(path, sizeof path, "target-fifo");
  assert_int_equal(mkfifo(path, 0644), 0);
  assert_int_equal(qat_h5_writer_open(&w, path), QAT_ERR_IO);

  tpath(path, sizeof path, "no-such-dir/ckpt.h5");
  assert_int_equal(qat_h5_writer_open(&w, path), QAT_ERR_IO);
  assert_msg("cannot create temporary file");
  assert_int_equal(count_temps(), 0);
}

static void test_abort_midway(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "keep.h5");
  assert_int_equal(write_sample(path, 0), 0);
  size_t len;
  unsigned char *before = slurp(path, &len);

  /* Explicit abort after some writes. */
  qat_h5_writer w;
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(count_temps(), 1);
  float x[4] = {1, 2, 3, 4};
  assert_int_equal(qat_h5_write_array(&w, "params/x", QAT_H5_F32, 1, (int64_t[]){4}, x), 0);
  qat_h5_writer_abort(&w);
  qat_h5_writer_abort(&w); /* idempotent */
  assert_same_file(path, before, len);
  assert_int_equal(count_temps(), 0);

  /* A failure midway (a duplicate name: a caller bug) aborts by itself; commit then fails. */
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(qat_h5_write_array(&w, "params/x", QAT_H5_F32, 1, (int64_t[]){4}, x), 0);
  quiet_begin();
  int rc = qat_h5_write_array(&w, "params/x", QAT_H5_F32, 1, (int64_t[]){4}, x);
  quiet_end();
  assert_int_equal(rc, QAT_ERR_USAGE);
  assert_msg("keep.h5': /params/x: already exists");
  assert_int_equal(count_temps(), 0);
  assert_int_equal(qat_h5_write_array(&w, "params/y", QAT_H5_F32, 1, (int64_t[]){4}, x), QAT_ERR_USAGE);
  assert_int_equal(qat_h5_writer_commit(&w), QAT_ERR_USAGE);
  qat_h5_writer_abort(&w);
  assert_same_file(path, before, len);

  /* Bad names and shapes are refused the same way. */
  const char *bad_names[] = {"a//b", "a/./b", "../x", "a/", "/", ""};
  for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
    assert_int_equal(qat_h5_writer_open(&w, path), 0);
    assert_int_equal(qat_h5_write_array(&w, bad_names[i], QAT_H5_F32, 1, (int64_t[]){4}, x),
                     QAT_ERR_USAGE);
    assert_int_equal(count_temps(), 0);
  }
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(qat_h5_write_array(&w, "x", QAT_H5_F32, 2, (int64_t[]){4, -1}, x), QAT_ERR_USAGE);
  assert_msg("invalid shape [4,-1]");
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(qat_h5_write_array(&w, "x", QAT_H5_F32, 2,
                                      (int64_t[]){INT64_MAX, INT64_MAX}, x), QAT_ERR_USAGE);
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(qat_h5_write_array(&w, "x", QAT_H5_F32, 1, (int64_t[]){4}, x), 0);
  assert_int_equal(qat_h5_write_array(&w, "x/y", QAT_H5_F32, 1, (int64_t[]){4}, x), QAT_ERR_USAGE);
  assert_msg("/x/y: '/x' is not a group");
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(qat_h5_write_attr_int64(&w, "/", "qat_crc32", 1), QAT_ERR_USAGE);
  assert_msg("reserved");
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  assert_int_equal(qat_h5_write_attr_int64(&w, "/", "a", 1), 0);
  assert_int_equal(qat_h5_write_attr_int64(&w, "/", "a", 1), QAT_ERR_USAGE);
  assert_msg("attribute 'a': already written");
  assert_same_file(path, before, len);
  assert_int_equal(count_temps(), 0);
  free(before);
}

static void test_replace_atomically(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "replace.h5");
  assert_int_equal(write_sample(path, 0), 0);
  assert_int_equal(check_sample(path, 0), 0);

  /* While the new version is being written, the old one stays complete and readable. */
  qat_h5_writer w;
  fill_sample(1);
  assert_int_equal(qat_h5_writer_open(&w, path), 0);
  const int64_t dense_d[] = {10, 8};
  assert_int_equal(qat_h5_write_array(&w, "params/dense/kernel", QAT_H5_F32, 2, dense_d, dense_k), 0);
  assert_int_equal(check_sample(path, 0), 0);
  qat_h5_writer_abort(&w);

  assert_int_equal(write_sample(path, 1), 0);
  assert_int_equal(check_sample(path, 1), 0);
  assert_int_equal(check_sample(path, 0), 2); /* really the new content */
  assert_int_equal(count_temps(), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
}

/* A write that the filesystem refuses mid-file (the ENOSPC row, made portable): RLIMIT_FSIZE
 * turns writes past the limit into EFBIG, with SIGXFSZ ignored. */
static void test_write_refused(void **state) {
  (void)state;
  char path[1024];
  tpath(path, sizeof path, "limited.h5");
  assert_int_equal(write_sample(path, 0), 0);
  size_t len;
  unsigned char *before = slurp(path, &len);

  size_t n = 1 << 18; /* 1 MiB of floats */
  float *big = calloc(n, sizeof *big);
  assert_non_null(big);
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = 64 * 1024;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

  qat_h5_writer w;
  quiet_begin();
  int rc = qat_h5_writer_open(&w, path);
  if (rc == 0) rc = qat_h5_write_array(&w, "params/big", QAT_H5_F32, 1, (int64_t[]){(int64_t)n}, big);
  if (rc == 0) rc = qat_h5_writer_commit(&w);
  quiet_end();

  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, old_handler);
  free(big);
  assert_int_equal(rc, QAT_ERR_IO);
  assert_msg("cannot write '");
  assert_msg("limited.h5': File too large");
  assert_same_file(path, before, len);
  assert_int_equal(count_temps(), 0);
  assert_int_equal(check_sample(path, 0), 0);
  free(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_large_string_attr),
      cmocka_unit_test(test_h5dump),
      cmocka_unit_test(test_missing_dataset),
      cmocka_unit_test(test_wrong_shape),
      cmocka_unit_test(test_wrong_dtype),
      cmocka_unit_test(test_non_finite),
      cmocka_unit_test(test_not_hdf5),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_flipped_byte_in_dataset),
      cmocka_unit_test(test_flip_sweep),
      cmocka_unit_test(test_store_checks),
      cmocka_unit_test(test_foreign_file),
      cmocka_unit_test(test_target_not_regular),
      cmocka_unit_test(test_abort_midway),
      cmocka_unit_test(test_replace_atomically),
      cmocka_unit_test(test_write_refused),
  };
  /* No free lists inside HDF5: memory it frees goes back to malloc at once, so a leak is
   * reported with the stack of the allocation that was really lost (see test_flip_sweep). */
  H5set_free_list_limits(0, 0, 0, 0, 0, 0);
  const char *filter = getenv("QAT_TEST_FILTER"); /* e.g. QAT_TEST_FILTER='*truncated*' */
  if (filter) cmocka_set_test_filter(filter);
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
