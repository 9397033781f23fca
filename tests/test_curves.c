#define _DEFAULT_SOURCE
/* CRC-32C against its published check values, and a chart written as SVG and PNG. */
#include <setjmp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qat/curves.h"

static void crc32c_check_values(void **state) {
  (void)state;
  assert_int_equal(qat_crc32c("123456789", 9), 0xe3069283u); /* the CRC catalogue's check */
  assert_int_equal(qat_crc32c("", 0), 0);
  uint8_t zeros[32] = {0};
  assert_int_equal(qat_crc32c(zeros, 32), 0x8a9136aau); /* RFC 3720 B.4 */
  uint8_t ones[32];
  memset(ones, 0xff, sizeof ones);
  assert_int_equal(qat_crc32c(ones, 32), 0x62a8ab43u);
}

static void chart_files(void **state) {
  (void)state;
  char dir[] = "/tmp/qat_chart_XXXXXX";
  assert_non_null(mkdtemp(dir));
  double x[5] = {1e3, 1e4, 2e4, 1e5, 1e6}, y[5] = {0.5, 0.9, 0.91, 0.92, 0.93};
  const char *labels[5] = {"a", "bbbb", "cc", "dddddd", "e"};
  qat_chart ch = {.title = "t", .x_label = "x", .y_label = "y", .n_series = 1, .x_log = 1};
  ch.series[0] = (qat_chart_series){.name = "s", .x = x, .y = y, .n = 5, .labels = labels, .no_line = 1};
  char svg[64], png[64];
  snprintf(svg, sizeof svg, "%s/c.svg", dir);
  snprintf(png, sizeof png, "%s/c.png", dir);
  assert_int_equal(qat_chart_write(&ch, svg, png), 0);
  FILE *f = fopen(png, "rb");
  assert_non_null(f);
  unsigned char sig[8];
  assert_int_equal(fread(sig, 1, 8, f), 8);
  fclose(f);
  assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
  ch.n_series = 0;
  assert_int_not_equal(qat_chart_write(&ch, svg, NULL), 0);
  unlink(svg);
  unlink(png);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(crc32c_check_values), cmocka_unit_test(chart_files)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
