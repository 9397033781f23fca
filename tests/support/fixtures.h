/* The converter-written .tflite fixtures the runtime tests read (../shared/fixtures/tflite). */
#ifndef QAT_TEST_FIXTURES_H
#define QAT_TEST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#define FIXTURES QAT_SOURCE_DIR "/../shared/fixtures/tflite"

/* A whole file (malloc'd, one spare byte), NULL when it cannot be read. */
uint8_t *tb_read_file(const char *path, size_t *len);
/* Whether the fixture folder exists; says "skipped: ..." when not. */
int tb_have_fixtures(void);

#endif
