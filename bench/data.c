/* bench/data: images per second decoded and resized into qat's uint8 cache (dataset: folder,
 * 2 threads), beside Pillow + NumPy decoding and resizing the same files in the same run.
 *
 *   bench/data [--n N] [--size HxW] [--input HxWxC] [--threads T] [--rounds K] [--python PY] [--keep DIR]
 *
 * Writes N JPEG and N PNG RGB photos-like images (smooth shapes and noise, default 320x240)
 * into a temporary folder, then in turns: qat_data_load_ex on the folder, resized to the input
 * (default 96x96x3, bilinear), and bench/data_pillow.py (Pillow's decode, convert and BILINEAR
 * resize, np.asarray into a preallocated array) with 1 and 2 threads. Each side's figure is the
 * best of K passes; the ratio is qat at T threads over Pillow at the same thread count, per
 * format and for the two together. Target: >= 2. The Python is --python, else $QAT_PYTHON,
 * else the repository's .venv/bin/python; without Pillow the reference is reported missing. */
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
/* jpeglib.h needs size_t and FILE declared first. */
#include <jpeglib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qat/data.h"
#include "qat/error.h"
#include "qat/rng.h"

#ifndef QAT_SOURCE_DIR
#define QAT_SOURCE_DIR "."
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int die(const char *what, const char *path) {
  fprintf(stderr, "bench/data: %s: %s\n", path, what);
  exit(1);
}

/* A smooth background, two discs and noise: JPEG and PNG sizes like a small photo's. */
static void make_image(uint8_t *px, int h, int w, qat_rng *r) {
  float cy[2], cx[2], rad[2], col[2][3], g[3];
  for (int k = 0; k < 2; k++) {
    cy[k] = qat_rng_uniform(r) * h, cx[k] = qat_rng_uniform(r) * w, rad[k] = (0.1f + 0.3f * qat_rng_uniform(r)) * h;
    for (int j = 0; j < 3; j++) col[k][j] = 255 * qat_rng_uniform(r);
  }
  for (int j = 0; j < 3; j++) g[j] = 255 * qat_rng_uniform(r);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int j = 0; j < 3; j++) {
        float v = g[j] * (0.5f + 0.5f * (float)x / w) * (0.6f + 0.4f * (float)y / h);
        for (int k = 0; k < 2; k++)
          if ((y - cy[k]) * (y - cy[k]) + (x - cx[k]) * (x - cx[k]) < rad[k] * rad[k]) v = col[k][j];
        v += (float)qat_rng_below(r, 24) - 12.0f;
        px[((size_t)y * w + x) * 3 + j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
}

static void write_png(const char *path, const uint8_t *px, int w, int h) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)w;
  img.height = (png_uint_32)h;
  img.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&img, path, 0, px, 0, NULL)) die(img.message, path);
}

static void write_jpeg(const char *path, const uint8_t *px, int w, int h) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr err;
  ci.err = jpeg_std_error(&err);
  jpeg_create_compress(&ci);
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write", path);
  jpeg_stdio_dest(&ci, f);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = 3;
  ci.in_color_space = JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, 90, TRUE);
  jpeg_start_compress(&ci, TRUE);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * w * 3);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  if (fclose(f)) die("cannot write", path);
}

/* root/<fmt>/{a,b}/NNNNN.<fmt> */
static void write_folder(const char *root, const char *fmt, int n, int h, int w, uint64_t seed) {
  char p[4200];
  uint8_t *px = malloc((size_t)h * w * 3);
  qat_rng r;
  qat_rng_seed(&r, seed);
  snprintf(p, sizeof p, "%s/%s", root, fmt);
  mkdir(p, 0755);
  for (int k = 0; k < 2; k++) {
    snprintf(p, sizeof p, "%s/%s/%c", root, fmt, 'a' + k);
    mkdir(p, 0755);
  }
  for (int i = 0; i < n; i++) {
    make_image(px, h, w, &r);
    snprintf(p, sizeof p, "%s/%s/%c/%05d.%s", root, fmt, 'a' + i % 2, i, fmt);
    if (!strcmp(fmt, "png")) write_png(p, px, w, h);
    else write_jpeg(p, px, w, h);
  }
  free(px);
}

/* Best images/s of qat over `rounds` loads of one folder. */
static double time_qat(const char *dir, const int input[3], int threads, int64_t *n_out) {
  qat_data_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.kind = QAT_DATASET_FOLDER;
  spec.path = (char *)dir;
  spec.split_seed = 1337;
  memcpy(spec.input_shape, input, sizeof spec.input_shape);
  qat_data_options opt = {.threads = threads};
  memcpy(opt.input_shape, input, sizeof opt.input_shape);
  qat_dataset train = {0};
  double t0 = now();
  if (qat_data_load_ex(&spec, &opt, &train, NULL, NULL, NULL)) die(qat_error_message(), dir);
  double s = now() - t0;
  *n_out = train.n;
  double rate = (double)train.n / s;
  qat_dataset_free(&train);
  return rate;
}

/* Pillow's images/s at 1 and 2 threads for the given folders; 0 when it cannot run. */
static void time_pillow(const char *python, const char *dirs, const int input[3], double out[2]) {
  char cmd[16384], line[4096];
  out[0] = out[1] = 0;
  int len = snprintf(cmd, sizeof cmd, "'%s' '%s/bench/data_pillow.py' --rounds 1 --size %d %d %d %s 2>&1", python, QAT_SOURCE_DIR,
           input[0], input[1], input[2], dirs);
  if (len < 0 || (size_t)len >= sizeof cmd) return;
  FILE *p = popen(cmd, "r");
  if (!p) return;
  while (fgets(line, sizeof line, p)) {
    const char *a = strstr(line, "\"1\": "), *b = strstr(line, "\"2\": ");
    if (a && b) {
      out[0] = strtod(a + 5, NULL);
      out[1] = strtod(b + 5, NULL);
    } else if (!strstr(line, "images_per_s")) {
      fprintf(stderr, "bench/data: reference: %s", line);
    }
  }
  pclose(p);
}

static double max2(double a, double b) { return a > b ? a : b; }

int main(int argc, char **argv) {
  int n = 400, h = 240, w = 320, input[3] = {96, 96, 3}, threads = 2, rounds = 3;
  const char *python = NULL, *keep = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
      if (sscanf(argv[++i], "%dx%d", &h, &w) != 2) n = -1;
    } else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
      if (sscanf(argv[++i], "%dx%dx%d", &input[0], &input[1], &input[2]) != 3) n = -1;
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--python") && i + 1 < argc) python = argv[++i];
    else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep = argv[++i];
    else {
      printf("usage: data [--n N] [--size HxW] [--input HxWxC] [--threads T] [--rounds K] [--python PY] [--keep DIR]\n");
      return strcmp(argv[i], "--help") && strcmp(argv[i], "-h") ? 2 : 0;
    }
  }
  if (n < 2 || n > 100000 || h < 1 || w < 1 || h > 4096 || w > 4096 || threads < 1 || threads > 2 || rounds < 1 ||
      rounds > 20 || (input[2] != 1 && input[2] != 3) || input[0] < 1 || input[1] < 1 || input[0] > 1024 ||
      input[1] > 1024) {
    fprintf(stderr, "bench/data: bad arguments (--n 2..100000, --threads 1..2, --input HxWx{1,3} up to 1024)\n");
    return 2;
  }
  char root[4096], venv[4200], dirs[2][4200], both[8600];
  if (keep) {
    snprintf(root, sizeof root, "%s", keep);
    mkdir(root, 0755);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/qat_bench_data.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) die("cannot create", root);
  }
  if (!python) python = getenv("QAT_PYTHON");
  if (!python || !*python) {
    snprintf(venv, sizeof venv, "%s/.venv/bin/python", QAT_SOURCE_DIR);
    python = venv;
  }
  const char *fmts[2] = {"jpg", "png"};
  printf("bench/data: %d JPEG + %d PNG RGB images of %dx%d, decoded and resized to %dx%dx%d (bilinear)\n", n, n, w, h,
         input[0], input[1], input[2]);
  fflush(stdout);
  for (int f = 0; f < 2; f++) {
    write_folder(root, fmts[f], n, h, w, 1 + (uint64_t)f);
    snprintf(dirs[f], sizeof dirs[f], "%s/%s", root, fmts[f]);
  }
  /* In turns, so that the shared machine's load falls on both sides alike; the best pass each. */
  double qat[2] = {0, 0}, pil[2][2] = {{0, 0}, {0, 0}};
  for (int r = 0; r < rounds; r++)
    for (int f = 0; f < 2; f++) {
      int64_t got;
      qat[f] = max2(qat[f], time_qat(dirs[f], input, threads, &got));
      if (got != n) die("not every image loaded", dirs[f]);
      double p[2];
      snprintf(both, sizeof both, "'%s'", dirs[f]);
      time_pillow(python, both, input, p);
      pil[f][0] = max2(pil[f][0], p[0]);
      pil[f][1] = max2(pil[f][1], p[1]);
    }
  double total_qat = 2.0 / (1.0 / qat[0] + 1.0 / qat[1]); /* images/s over both folders */
  double total_pil = pil[0][threads - 1] > 0 && pil[1][threads - 1] > 0
                         ? 2.0 / (1.0 / pil[0][threads - 1] + 1.0 / pil[1][threads - 1])
                         : 0;
  printf("%-6s %14s %18s %18s %10s\n", "format", "qat img/s", "Pillow img/s 1 thr", "Pillow img/s 2 thr", "ratio");
  for (int f = 0; f < 2; f++) {
    char ratio[32] = "n/a";
    if (pil[f][threads - 1] > 0) snprintf(ratio, sizeof ratio, "%.2fx", qat[f] / pil[f][threads - 1]);
    printf("%-6s %14.0f %18.0f %18.0f %10s\n", f ? "PNG" : "JPEG", qat[f], pil[f][0], pil[f][1], ratio);
  }
  if (total_pil > 0) {
    double ratio = total_qat / total_pil;
    printf("qat (%d threads) over Pillow + NumPy (%d threads), both formats: %.2fx: %s the target of 2x\n", threads,
           threads, ratio, ratio >= 2 ? "reaches" : "misses");
  } else {
    printf("reference missing: %s cannot run bench/data_pillow.py (Pillow and NumPy; scripts/setup.sh installs them)\n",
           python);
  }
  if (!keep) {
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) fprintf(stderr, "bench/data: could not remove %s\n", root);
  }
  return 0;
}
