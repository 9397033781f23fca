/* tests/support/fixtures.h */
#include "tests/support/fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

uint8_t *tb_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    const long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
      if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
      } else {
        *len = (size_t)n;
      }
    }
  }
  fclose(f);
  return buf;
}

int tb_have_fixtures(void) {
  struct stat st;
  if (stat(FIXTURES, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
  printf("skipped: fixture folder %s is absent\n", FIXTURES);
  return 0;
}
