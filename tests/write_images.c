/* Test helper: writes image folders for the data acceptance tests.
 *
 *   write_images fashion DIR NTRAIN NTEST   Fashion-MNIST's first NTRAIN training and NTEST test
 *       images as DIR/{train,test}/cK/NNNNN.png, and the same images, in the folder's order
 *       (class, then name), as IDX files DIR/{train,test}-{images,labels}.idx
 *   write_images blobs DIR N SIZE           a 2-class SIZE x SIZE grayscale JPEG folder (a bright
 *       disc or a bright bar on noise) as DIR/{train,test}/{bar,disc}/NNNNN.jpg, 80% / 20%
 *   write_images bad DIR                    one file per bad input of issue 13, item 8 */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
/* jpeglib.h needs size_t and FILE declared first. */
#include <jpeglib.h>
#include <string.h>
#include <sys/stat.h>

#include "qat/data.h"
#include "qat/error.h"
#include "qat/rng.h"

static void die(const char *what) {
  fprintf(stderr, "write_images: %s\n", what);
  exit(1);
}

static void mkdirs(const char *a, const char *b, const char *c) {
  char p[4096];
  snprintf(p, sizeof p, "%s", a);
  mkdir(p, 0755);
  if (b) {
    snprintf(p, sizeof p, "%.2000s/%.1000s", a, b);
    mkdir(p, 0755);
  }
  if (c) {
    snprintf(p, sizeof p, "%.2000s/%.1000s/%.1000s", a, b, c);
    mkdir(p, 0755);
  }
}

static void write_png(const char *path, const uint8_t *px, int w, int h, int c, int bits) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)w;
  img.height = (png_uint_32)h;
  img.format = (c == 1 ? PNG_FORMAT_GRAY : c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA) |
               (bits == 16 ? PNG_FORMAT_FLAG_LINEAR : 0);
  if (bits == 16) {
    uint16_t *wide = malloc((size_t)w * h * c * 2);
    for (int i = 0; i < w * h * c; i++) wide[i] = (uint16_t)(px[i] * 257);
    if (!png_image_write_to_file(&img, path, 0, wide, 0, NULL)) die(img.message);
    free(wide);
    return;
  }
  if (!png_image_write_to_file(&img, path, 0, px, 0, NULL)) die(img.message);
}

static void write_jpeg(const char *path, const uint8_t *px, int w, int h, int c, int progressive, int cmyk) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr err;
  ci.err = jpeg_std_error(&err);
  jpeg_create_compress(&ci);
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write a JPEG");
  jpeg_stdio_dest(&ci, f);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = cmyk ? 4 : c;
  ci.in_color_space = cmyk ? JCS_CMYK : c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, 95, TRUE);
  if (progressive) jpeg_simple_progression(&ci);
  jpeg_start_compress(&ci, TRUE);
  int cc = cmyk ? 4 : c;
  uint8_t *row = malloc((size_t)w * cc);
  while (ci.next_scanline < ci.image_height) {
    for (int x = 0; x < w; x++)
      for (int k = 0; k < cc; k++) row[x * cc + k] = px[((size_t)ci.next_scanline * w + x) * c + (k < c ? k : 0)];
    JSAMPROW r = row;
    jpeg_write_scanlines(&ci, &r, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  fclose(f);
  free(row);
}

static void write_be32(FILE *f, uint32_t v) {
  unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
  fwrite(b, 1, 4, f);
}

/* The images of ds in folder order (label, then index: the file names sort by index). */
static void fashion_split(const qat_dataset *ds, int64_t n, const char *dir, const char *split) {
  char p[4096];
  int64_t per = (int64_t)ds->h * ds->w;
  snprintf(p, sizeof p, "%s/%s-images.idx", dir, split);
  FILE *fi = fopen(p, "wb");
  snprintf(p, sizeof p, "%s/%s-labels.idx", dir, split);
  FILE *fl = fopen(p, "wb");
  if (!fi || !fl) die("cannot write IDX");
  write_be32(fi, 0x803);
  write_be32(fi, (uint32_t)n);
  write_be32(fi, (uint32_t)ds->h);
  write_be32(fi, (uint32_t)ds->w);
  write_be32(fl, 0x801);
  write_be32(fl, (uint32_t)n);
  for (int k = 0; k < 10; k++) {
    char cls[16];
    snprintf(cls, sizeof cls, "c%d", k);
    mkdirs(dir, split, cls);
    for (int64_t i = 0; i < n; i++) {
      if (ds->labels[i] != k) continue;
      snprintf(p, sizeof p, "%s/%s/%s/%05lld.png", dir, split, cls, (long long)i);
      write_png(p, ds->images + i * per, ds->w, ds->h, 1, 8);
      fwrite(ds->images + i * per, 1, (size_t)per, fi);
      fputc(k, fl);
    }
  }
  fclose(fi);
  fclose(fl);
}

static void fashion(const char *dir, int64_t ntrain, int64_t ntest) {
  qat_data_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.kind = QAT_DATASET_FASHION_MNIST;
  spec.limit_train = (int)ntrain;
  spec.limit_test = (int)ntest;
  qat_dataset train, test;
  if (qat_data_load(&spec, &train, NULL, &test)) die(qat_error_message());
  mkdirs(dir, NULL, NULL);
  fashion_split(&train, train.n, dir, "train");
  fashion_split(&test, test.n, dir, "test");
  qat_dataset_free(&train);
  qat_dataset_free(&test);
}

/* A disc (class "disc") or a horizontal bar (class "bar") at a random place, on noise. */
static void blob(qat_rng *rng, int size, int cls, uint8_t *px) {
  int cx = size / 4 + (int)qat_rng_below(rng, (uint32_t)(size / 2)), cy = size / 4 + (int)qat_rng_below(rng, (uint32_t)(size / 2));
  int r = size / 8 + (int)qat_rng_below(rng, (uint32_t)(size / 8));
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      int v = 40 + (int)qat_rng_below(rng, 60);
      int in = cls ? (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r : abs(y - cy) < r / 3 && abs(x - cx) < 2 * r;
      px[y * size + x] = (uint8_t)(in ? v + 140 : v);
    }
}

static void blobs(const char *dir, int n, int size) {
  static const char *const names[2] = {"bar", "disc"};
  uint8_t *px = malloc((size_t)size * size);
  qat_rng rng;
  qat_rng_seed(&rng, 42);
  char p[4096];
  for (int i = 0; i < n; i++) {
    int cls = i & 1;
    const char *split = i < n * 4 / 5 ? "train" : "test";
    mkdirs(dir, split, names[cls]);
    blob(&rng, size, cls, px);
    snprintf(p, sizeof p, "%s/%s/%s/%05d.jpg", dir, split, names[cls], i);
    write_jpeg(p, px, size, size, 1, i % 7 == 3, 0);
  }
  free(px);
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write");
  fwrite(data, 1, n, f);
  fclose(f);
}

/* One folder per bad input: DIR/<case>/{a,b}/... each a complete dataset with one bad file. */
static void bad(const char *dir) {
  uint8_t px[16 * 16 * 3];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
  char p[4096];
  static const char *const cases[] = {"truncated_png", "truncated_jpeg", "not_image", "png16", "cmyk", "ok"};
  mkdirs(dir, NULL, NULL);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    snprintf(p, sizeof p, "%s/%s", dir, cases[k]);
    mkdirs(p, "a", NULL);
    mkdirs(p, "b", NULL);
    for (int i = 0; i < 2; i++) {
      snprintf(p, sizeof p, "%s/%s/%s/good.png", dir, cases[k], i ? "b" : "a");
      write_png(p, px, 16, 16, 1, 8);
    }
  }
  /* progressive JPEG and an RGB image of another size: valid (decoded and resized) */
  snprintf(p, sizeof p, "%s/ok/a/progressive.jpg", dir);
  write_jpeg(p, px, 16, 16, 3, 1, 0);
  snprintf(p, sizeof p, "%s/ok/b/rgba_big.png", dir);
  uint8_t big[24 * 20 * 4];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 3);
  write_png(p, big, 24, 20, 4, 8);
  snprintf(p, sizeof p, "%s/ok/b/README.txt", dir);
  write_bytes(p, "ignored\n", 8);

  snprintf(p, sizeof p, "%s/truncated_png/a/cut.png", dir);
  write_png(p, px, 16, 16, 3, 8);
  FILE *f = fopen(p, "rb");
  uint8_t buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  write_bytes(p, buf, n / 2);
  snprintf(p, sizeof p, "%s/truncated_jpeg/a/cut.jpg", dir);
  write_jpeg(p, px, 16, 16, 3, 0, 0);
  f = fopen(p, "rb");
  n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  write_bytes(p, buf, n / 2);
  snprintf(p, sizeof p, "%s/not_image/a/text.png", dir);
  write_bytes(p, "this is not a picture\n", 22);
  snprintf(p, sizeof p, "%s/png16/a/deep.png", dir);
  write_png(p, px, 16, 16, 1, 16);
  snprintf(p, sizeof p, "%s/cmyk/a/cmyk.jpg", dir);
  write_jpeg(p, px, 16, 16, 1, 0, 1);
  /* an empty class folder, a single class */
  snprintf(p, sizeof p, "%s/empty_class", dir);
  mkdirs(p, "a", NULL);
  mkdirs(p, "b", NULL);
  snprintf(p, sizeof p, "%s/empty_class/a/good.png", dir);
  write_png(p, px, 16, 16, 1, 8);
  snprintf(p, sizeof p, "%s/single_class", dir);
  mkdirs(p, "only", NULL);
  snprintf(p, sizeof p, "%s/single_class/only/good.png", dir);
  write_png(p, px, 16, 16, 1, 8);
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "fashion")) fashion(argv[2], atoll(argv[3]), atoll(argv[4]));
  else if (argc == 5 && !strcmp(argv[1], "blobs")) blobs(argv[2], atoi(argv[3]), atoi(argv[4]));
  else if (argc == 3 && !strcmp(argv[1], "bad")) bad(argv[2]);
  else die("usage: write_images fashion DIR NTRAIN NTEST | blobs DIR N SIZE | bad DIR");
  return 0;
}
