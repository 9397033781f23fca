/* The PNG fast path (data/image.c's png_decode_direct: ISA-L inflate, qat's own unfiltering)
 * against libpng: PNGs written with libpng's own writer in every 8-bit colour type, with each of
 * the five row filters forced (and libpng's adaptive choice, and Adam7 interlacing, which takes
 * the libpng path), at sizes whose rows are not a multiple of any vector width (and above 32 KiB
 * of image data: smaller ones get a narrowed zlib window, also left to libpng), decode through
 * qat_image_load to exactly the pixels libpng's simplified API reads from the same file (gray +
 * alpha to gray drops the alpha, as qat's conversion does). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h> /* cmocka.h needs it */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>

#include "data/image.h"
#include "qat/error.h"
#include "qat/rng.h"

static void write_png(const char *path, int w, int h, int color_type, int channels, int filter, int interlace,
                      uint64_t seed) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  assert_non_null(png);
  assert_non_null(info);
  /* no setjmp: a libpng error aborts the test (it only writes a small file to /tmp), and the
   * Debug build's -Wclobbered finds nothing to warn about */
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, color_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_filter(png, 0, filter);
  png_write_info(png, info);
  uint8_t *row = malloc((size_t)w * (size_t)channels);
  assert_non_null(row);
  qat_rng rng;
  qat_rng_seed(&rng, seed);
  const int passes = interlace ? png_set_interlace_handling(png) : 1;
  for (int pass = 0; pass < passes; pass++) {
    qat_rng_seed(&rng, seed);
    for (int y = 0; y < h; y++) {
      /* smooth ramps plus noise: every filter has something to predict and something to miss */
      for (int k = 0; k < w * channels; k++)
        row[k] = (uint8_t)(3 * y + 5 * (k / channels) + 40 * (k % channels) + (int)qat_rng_below(&rng, 24));
      png_write_row(png, row);
    }
  }
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(row);
  fclose(f);
}

/* libpng's simplified API, the file's own channels at 8 bits */
static uint8_t *libpng_pixels(const char *path, int *channels) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  assert_true(png_image_begin_read_from_file(&img, path));
  img.format &= PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA;
  *channels = (int)PNG_IMAGE_PIXEL_CHANNELS(img.format);
  uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
  assert_non_null(px);
  assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
  return px;
}

static void test_fast_path_equals_libpng(void **state) {
  (void)state;
  static const struct { int type, channels, target; } kinds[] = {
      {PNG_COLOR_TYPE_GRAY, 1, 1}, {PNG_COLOR_TYPE_GRAY_ALPHA, 2, 1}, {PNG_COLOR_TYPE_RGB, 3, 3},
      {PNG_COLOR_TYPE_RGB_ALPHA, 4, 4}};
  static const int filters[] = {PNG_FILTER_NONE, PNG_FILTER_SUB,   PNG_FILTER_UP,
                                PNG_FILTER_AVG,  PNG_FILTER_PAETH, PNG_ALL_FILTERS};
  /* libpng's writer narrows the zlib window below 32 KiB for small images, which the fast path
   * leaves to libpng: the large sizes (over 32 KiB of rows) are the fast path's */
  static const int sizes[][2] = {{1, 1}, {33, 17}, {181, 190}, {257, 131}};
  char path[] = "/tmp/qat_test_png_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  int files = 0;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++)
      for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int interlace = 0; interlace < 2; interlace++) {
          const int w = sizes[s][0], h = sizes[s][1];
          write_png(path, w, h, kinds[k].type, kinds[k].channels, filters[f], interlace,
                    1000 * k + 100 * f + 10 * s + (uint64_t)interlace);
          int channels;
          uint8_t *want = libpng_pixels(path, &channels);
          assert_int_equal(channels, kinds[k].channels);
          const int c = kinds[k].target;
          uint8_t *got = malloc((size_t)w * (size_t)h * (size_t)c);
          assert_non_null(got);
          qat_image_kind kind;
          if (qat_image_load(path, h, w, c, QAT_INTERP_BILINEAR, 0, got, &kind, NULL))
            fail_msg("%s", qat_error_message());
          assert_int_equal(kind, QAT_IMAGE_PNG);
          for (int p = 0; p < w * h; p++)
            for (int ch = 0; ch < c; ch++)
              if (got[p * c + ch] != want[p * channels + ch])
                fail_msg("colour type %d, filter %d, %dx%d, interlace %d: pixel %d channel %d is %d, libpng reads %d",
                         kinds[k].type, filters[f], w, h, interlace, p, ch, got[p * c + ch],
                         want[p * channels + ch]);
          free(got);
          free(want);
          files++;
        }
  unlink(path);
  printf("# %d PNG files decoded as libpng decodes them\n", files);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fast_path_equals_libpng)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
