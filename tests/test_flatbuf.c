/* Tests of the flatbuffer builder (flatbuf/builder.c).
 *
 * `test_flatbuf` (no argument): exact byte layouts, checked against bytes derived by hand from
 * the format rules (each expected array is annotated with what every byte is), plus alignment,
 * determinism and error handling.
 * `test_flatbuf flatc`: builds a buffer for tests/flatbuf/test.fbs and checks that Debian's
 * flatc decodes it to the expected JSON. `test_flatbuf tflite`: the same for a minimal TFLite
 * model against shared/fixtures/tflite/schema_debian_flatc.fbs. Both exit 77 (ctest: skipped)
 * when flatc or the schema is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qat/error.h"
#include "qat/flatbuf.h"

#ifndef QAT_FLATC
#define QAT_FLATC ""
#endif

#define TFLITE_SCHEMA QAT_SOURCE_DIR "/../shared/fixtures/tflite/schema_debian_flatc.fbs"
#define TEST_SCHEMA QAT_SOURCE_DIR "/tests/flatbuf/test.fbs"

/* ---- helpers ---- */

static void hexdump(const char *what, const uint8_t *p, size_t n) {
  fprintf(stderr, "%s (%zu bytes):", what, n);
  for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%02X", i % 16 ? " " : "\n  ", p[i]);
  fprintf(stderr, "\n");
}

/* Compares the finished buffer with the expected bytes, dumping both on a mismatch. */
static void expect_bytes(const qat_fb_builder *b, const uint8_t *want, size_t want_n) {
  size_t n = 0;
  const uint8_t *got = qat_fb_data(b, &n);
  assert_non_null(got);
  if (n != want_n || memcmp(got, want, n)) {
    hexdump("got", got, n);
    hexdump("want", want, want_n);
    fail_msg("flatbuffer bytes differ");
  }
}

/* Minimal reading, enough to follow offsets in the tests. */
static uint32_t rd_u32(const uint8_t *p, size_t pos) {
  return (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
         (uint32_t)p[pos + 3] << 24;
}
static uint16_t rd_u16(const uint8_t *p, size_t pos) {
  return (uint16_t)(p[pos] | p[pos + 1] << 8);
}
/* Absolute position of field `id` of the table at `table`, or 0 when absent. */
static size_t field_at(const uint8_t *p, size_t table, unsigned id) {
  size_t vt = (size_t)((int64_t)table - (int32_t)rd_u32(p, table));
  uint16_t vt_size = rd_u16(p, vt);
  if (4 + 2 * (size_t)id >= vt_size) return 0;
  uint16_t off = rd_u16(p, vt + 4 + 2 * id);
  return off ? table + off : 0;
}
/* Follows the uoffset stored at pos. */
static size_t deref(const uint8_t *p, size_t pos) { return pos + rd_u32(p, pos); }

/* ---- exact layouts ---- */

/* Root table {x:int} with x = 42, no file identifier. */
static void test_one_int_field(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x0C, 0x00, 0x00, 0x00,             /* 0: root table at 12 */
      0x00, 0x00,                         /* 4: padding so the buffer size is 4-aligned */
      0x06, 0x00, 0x08, 0x00, 0x04, 0x00, /* 6: vtable: 6 bytes, table 8 bytes, x at +4 */
      0x06, 0x00, 0x00, 0x00,             /* 12: table: vtable at 12 - 6 = 6 */
      0x2A, 0x00, 0x00, 0x00,             /* 16: x = 42 */
  };
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  assert_int_equal(qat_fb_start_table(&b, 1), 0);
  assert_int_equal(qat_fb_add_scalar_i32(&b, 0, 42, 0), 0);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(root, 8);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  expect_bytes(&b, want, sizeof want);
  qat_fb_builder_free(&b);
}

/* The same with the identifier "TFL3": it sits at bytes 4..7, right after the root offset. */
static void test_file_identifier(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x10, 0x00, 0x00, 0x00,             /* 0: root table at 16 */
      'T',  'F',  'L',  '3',              /* 4: file identifier */
      0x00, 0x00,                         /* 8: padding */
      0x06, 0x00, 0x08, 0x00, 0x04, 0x00, /* 10: vtable */
      0x06, 0x00, 0x00, 0x00,             /* 16: table: vtable at 10 */
      0x2A, 0x00, 0x00, 0x00,             /* 20: x = 42 */
  };
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_start_table(&b, 1);
  qat_fb_add_scalar_i32(&b, 0, 42, 0);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, "TFL3"), 0);
  expect_bytes(&b, want, sizeof want);
  qat_fb_builder_free(&b);
}

/* Table {name:string; v:[int]} with name "ab" and v [1,2,3]. */
static void test_string_and_vector(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x0C, 0x00, 0x00, 0x00,                         /* 0: root at 12 */
      0x08, 0x00, 0x0C, 0x00, 0x04, 0x00, 0x08, 0x00, /* 4: vtable: 8, 12, name +4, v +8 */
      0x08, 0x00, 0x00, 0x00,                         /* 12: table, vtable at 4 */
      0x18, 0x00, 0x00, 0x00,                         /* 16: name -> 16 + 24 = 40 */
      0x04, 0x00, 0x00, 0x00,                         /* 20: v -> 20 + 4 = 24 */
      0x03, 0x00, 0x00, 0x00,                         /* 24: v: length 3 */
      0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
      0x02, 0x00, 0x00, 0x00, 'a', 'b', 0x00, /* 40: "ab": length 2, bytes, NUL */
      0x00,                                   /* 47: padding */
  };
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_off name = qat_fb_create_string(&b, "ab");
  assert_int_equal(name, 8);
  static const int32_t v[] = {1, 2, 3};
  qat_fb_off vec = qat_fb_create_vector(&b, v, 3, sizeof v[0], 0);
  assert_int_equal(vec, 24);
  qat_fb_start_table(&b, 2);
  qat_fb_add_offset(&b, 1, vec);
  qat_fb_add_offset(&b, 0, name);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  expect_bytes(&b, want, sizeof want);
  qat_fb_builder_free(&b);
}

/* Table {a:int = 0; b:short = 5; c:ubyte = 0}, set to a = 0, b = 7, c = 0: only b is stored;
 * the vtable still has an (empty) entry for a, but none for c (trailing absent fields are
 * trimmed). With force_defaults all three are stored. */
static void test_defaults(void **state) {
  (void)state;
  static const uint8_t omitted[] = {
      0x0C, 0x00, 0x00, 0x00,                         /* 0: root at 12 */
      0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x06, 0x00, /* 4: vtable: 8, 8, a absent, b +6 */
      0x08, 0x00, 0x00, 0x00,                         /* 12: table, vtable at 4 */
      0x00, 0x00,                                     /* 16: padding (soffset alignment) */
      0x07, 0x00,                                     /* 18: b = 7 */
  };
  static const uint8_t forced[] = {
      0x10, 0x00, 0x00, 0x00, /* 0: root at 16 */
      0x00, 0x00,             /* 4: padding */
      0x0A, 0x00, 0x0C, 0x00, 0x08, 0x00, 0x06, 0x00, 0x05, 0x00, /* 6: vtable: a+8 b+6 c+5 */
      0x0A, 0x00, 0x00, 0x00, /* 16: table, vtable at 6 */
      0x00,                   /* 20: padding */
      0x00,                   /* 21: c = 0 */
      0x07, 0x00,             /* 22: b = 7 */
      0x00, 0x00, 0x00, 0x00, /* 24: a = 0 */
  };
  for (int force = 0; force <= 1; force++) {
    qat_fb_builder b;
    qat_fb_builder_init(&b, 0);
    qat_fb_builder_set_force_defaults(&b, force);
    qat_fb_start_table(&b, 3);
    assert_int_equal(qat_fb_add_scalar_i32(&b, 0, 0, 0), 0);
    assert_int_equal(qat_fb_add_scalar_i16(&b, 1, 7, 5), 0);
    assert_int_equal(qat_fb_add_scalar_u8(&b, 2, 0, 0), 0);
    qat_fb_off root = qat_fb_end_table(&b);
    assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
    if (force)
      expect_bytes(&b, forced, sizeof forced);
    else
      expect_bytes(&b, omitted, sizeof omitted);
    qat_fb_builder_free(&b);
  }
}

/* Floats compare with the default by bits: -0.0 is stored against a 0.0 default. */
static void test_float_default_bits(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_start_table(&b, 3);
  qat_fb_add_scalar_f32(&b, 0, 0.0f, 0.0f);   /* omitted */
  qat_fb_add_scalar_f32(&b, 1, -0.0f, 0.0f);  /* stored */
  qat_fb_add_scalar_f64(&b, 2, 1.5, 1.5);     /* omitted */
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  size_t n;
  const uint8_t *p = qat_fb_data(&b, &n);
  size_t t = rd_u32(p, 0);
  assert_int_equal(field_at(p, t, 0), 0);
  assert_int_equal(field_at(p, t, 2), 0);
  size_t f1 = field_at(p, t, 1);
  assert_true(f1 != 0);
  assert_int_equal(rd_u32(p, f1), 0x80000000u);
  qat_fb_builder_free(&b);
}

/* Root {items:[T]} with two T {x:int; y:int} tables that share one vtable: the second table's
 * soffset is negative, pointing forward to the first table's vtable, and no second vtable is
 * written (64 bytes instead of 72). */
static void test_vtable_dedup(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x0C, 0x00, 0x00, 0x00,             /* 0: root at 12 */
      0x00, 0x00,                         /* 4: padding */
      0x06, 0x00, 0x08, 0x00, 0x04, 0x00, /* 6: Root's vtable: items +4 */
      0x06, 0x00, 0x00, 0x00,             /* 12: Root, vtable at 6 */
      0x04, 0x00, 0x00, 0x00,             /* 16: items -> 20 */
      0x02, 0x00, 0x00, 0x00,             /* 20: 2 items */
      0x1C, 0x00, 0x00, 0x00,             /* 24: items[0] -> 24 + 28 = 52 (A) */
      0x04, 0x00, 0x00, 0x00,             /* 28: items[1] -> 28 + 4 = 32 (B) */
      0xF4, 0xFF, 0xFF, 0xFF,             /* 32: B: vtable at 32 - (-12) = 44, A's */
      0x04, 0x00, 0x00, 0x00,             /* 36: B.y = 4 */
      0x03, 0x00, 0x00, 0x00,             /* 40: B.x = 3 */
      0x08, 0x00, 0x0C, 0x00, 0x08, 0x00, 0x04, 0x00, /* 44: T's vtable: x +8, y +4 */
      0x08, 0x00, 0x00, 0x00,             /* 52: A, vtable at 44 */
      0x02, 0x00, 0x00, 0x00,             /* 56: A.y = 2 */
      0x01, 0x00, 0x00, 0x00,             /* 60: A.x = 1 */
  };
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_off items[2];
  for (int i = 0; i < 2; i++) {
    qat_fb_start_table(&b, 2);
    qat_fb_add_scalar_i32(&b, 0, 2 * i + 1, 0);
    qat_fb_add_scalar_i32(&b, 1, 2 * i + 2, 0);
    size_t before = qat_fb_size(&b);
    items[i] = qat_fb_end_table(&b);
    /* A: soffset + an 8-byte vtable; B: the soffset only. */
    assert_int_equal(qat_fb_size(&b) - before, i == 0 ? 12 : 4);
  }
  qat_fb_off vec = qat_fb_create_offset_vector(&b, items, 2);
  qat_fb_start_table(&b, 1);
  qat_fb_add_offset(&b, 0, vec);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  expect_bytes(&b, want, sizeof want);

  /* Read back: both tables' vtable positions coincide. */
  const uint8_t *p = qat_fb_data(&b, NULL);
  size_t a = deref(p, 24), bt = deref(p, 28);
  assert_int_equal(a, 52);
  assert_int_equal(bt, 32);
  assert_int_equal((int64_t)a - (int32_t)rd_u32(p, a), (int64_t)bt - (int32_t)rd_u32(p, bt));
  qat_fb_builder_free(&b);
}

/* Table {name:string; data:[ubyte]} with "x" and 5 bytes forced to 16-byte alignment, file
 * identifier "TFL3": the data start is 16-aligned, and so is the whole buffer's size. */
static void test_aligned_vector(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x10, 0x00, 0x00, 0x00,                         /* 0: root at 16 */
      'T',  'F',  'L',  '3',                          /* 4 */
      0x08, 0x00, 0x0C, 0x00, 0x04, 0x00, 0x08, 0x00, /* 8: vtable: name +4, data +8 */
      0x08, 0x00, 0x00, 0x00,                         /* 16: table, vtable at 8 */
      0x14, 0x00, 0x00, 0x00,                         /* 20: name -> 40 */
      0x04, 0x00, 0x00, 0x00,                         /* 24: data -> 28 */
      0x05, 0x00, 0x00, 0x00,                         /* 28: 5 bytes */
      0x01, 0x02, 0x03, 0x04, 0x05,                   /* 32: data, 16-aligned */
      0x00, 0x00, 0x00,                               /* 37: padding */
      0x01, 0x00, 0x00, 0x00, 'x',  0x00,             /* 40: "x" */
      0x00, 0x00,                                     /* 46: padding */
  };
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_off name = qat_fb_create_string(&b, "x");
  static const uint8_t data[] = {1, 2, 3, 4, 5};
  qat_fb_off vec = qat_fb_create_vector(&b, data, 5, 1, 16);
  qat_fb_start_table(&b, 2);
  qat_fb_add_offset(&b, 1, vec);
  qat_fb_add_offset(&b, 0, name);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, "TFL3"), 0);
  expect_bytes(&b, want, sizeof want);
  const uint8_t *p = qat_fb_data(&b, NULL);
  assert_int_equal((uintptr_t)(p + 32) % 16, 0); /* aligned in memory too */
  qat_fb_builder_free(&b);
}

/* Large alignments after many odd-sized objects: every 16- and 64-aligned data start must be
 * aligned in the finished buffer and in memory. */
static void test_alignment_sweep(void **state) {
  (void)state;
  for (size_t pre = 0; pre < 20; pre++) {
    qat_fb_builder b;
    qat_fb_builder_init(&b, 16); /* tiny first block: forces several grows */
    char s[32];
    memset(s, 'a', sizeof s);
    qat_fb_off str = qat_fb_create_string_len(&b, s, pre);
    uint8_t data[37];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    qat_fb_off v16 = qat_fb_create_byte_vector(&b, data, 9, 1, 16);
    qat_fb_off s2 = qat_fb_create_string_len(&b, s, pre / 2 + 1);
    qat_fb_off v64 = qat_fb_create_byte_vector(&b, data, sizeof data, 1, 64);
    qat_fb_start_table(&b, 4);
    qat_fb_add_offset(&b, 0, str);
    qat_fb_add_offset(&b, 1, v16);
    qat_fb_add_offset(&b, 2, s2);
    qat_fb_add_offset(&b, 3, v64);
    qat_fb_off root = qat_fb_end_table(&b);
    assert_int_equal(qat_fb_finish(&b, root, "TFL3"), 0);
    size_t n;
    const uint8_t *p = qat_fb_data(&b, &n);
    assert_int_equal(n % 64, 0);
    assert_int_equal((uintptr_t)p % 64, 0);
    size_t t = rd_u32(p, 0);
    size_t d16 = deref(p, field_at(p, t, 1)), d64 = deref(p, field_at(p, t, 3));
    assert_int_equal(rd_u32(p, d16), 9);
    assert_int_equal((d16 + 4) % 16, 0);
    assert_int_equal(rd_u32(p, d64), sizeof data);
    assert_int_equal((d64 + 4) % 64, 0);
    assert_memory_equal(p + d64 + 4, data, sizeof data);
    size_t ds = deref(p, field_at(p, t, 0));
    assert_int_equal(rd_u32(p, ds), pre);
    assert_int_equal(p[ds + 4 + pre], 0); /* NUL */
    qat_fb_builder_free(&b);
  }
}

/* Scalars in vectors are written little-endian whatever the element type. */
static void test_vector_endianness(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  static const uint16_t u16[] = {0x0102};
  static const int32_t i32[] = {0x01020304, -2};
  static const int64_t i64[] = {0x0102030405060708LL};
  static const float f32[] = {1.0f};   /* 0x3F800000 */
  static const double f64[] = {-2.0};  /* 0xC000000000000000 */
  qat_fb_off o[6];
  o[0] = qat_fb_create_vector(&b, u16, 1, 2, 0);
  o[1] = qat_fb_create_vector(&b, i32, 2, 4, 0);
  o[2] = qat_fb_create_vector(&b, i64, 1, 8, 0);
  o[3] = qat_fb_create_vector(&b, f32, 1, 4, 0);
  o[4] = qat_fb_create_vector(&b, f64, 1, 8, 0);
  o[5] = qat_fb_create_byte_vector(&b, i32, 2, 4, 16); /* int32 data as [ubyte] */
  qat_fb_start_table(&b, 6);
  for (unsigned i = 0; i < 6; i++) qat_fb_add_offset(&b, i, o[i]);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  const uint8_t *p = qat_fb_data(&b, NULL);
  size_t t = rd_u32(p, 0);
  static const uint8_t w0[] = {1, 0, 0, 0, 0x02, 0x01};
  static const uint8_t w1[] = {2, 0, 0, 0, 4, 3, 2, 1, 0xFE, 0xFF, 0xFF, 0xFF};
  static const uint8_t w2[] = {1, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  static const uint8_t w3[] = {1, 0, 0, 0, 0x00, 0x00, 0x80, 0x3F};
  static const uint8_t w4[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xC0};
  static const uint8_t w5[] = {8, 0, 0, 0, 4, 3, 2, 1, 0xFE, 0xFF, 0xFF, 0xFF};
  const uint8_t *w[] = {w0, w1, w2, w3, w4, w5};
  const size_t wn[] = {sizeof w0, sizeof w1, sizeof w2, sizeof w3, sizeof w4, sizeof w5};
  for (unsigned i = 0; i < 6; i++) {
    size_t v = deref(p, field_at(p, t, i));
    assert_memory_equal(p + v, w[i], wn[i]);
    assert_int_equal((v + 4) % (i == 5 ? 16 : i == 2 || i == 4 ? 8 : 2), 0);
  }
  qat_fb_builder_free(&b);
}

/* Root {u:U} (ids: u_type 0, u 1) holding a Leaf {value:int} = 5 as union member 1. */
static void test_union(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x0C, 0x00, 0x00, 0x00,                         /* 0: root at 12 */
      0x08, 0x00, 0x0E, 0x00, 0x07, 0x00, 0x08, 0x00, /* 4: vtable: 14-byte table, u_type +7,
                                                         u +8 */
      0x08, 0x00, 0x00, 0x00,                         /* 12: Root, vtable at 4 */
      0x00, 0x00, 0x00,                               /* 16: padding */
      0x01,                                           /* 19: u_type = 1 */
      0x0C, 0x00, 0x00, 0x00,                         /* 20: u -> 32 */
      0x00, 0x00,                                     /* 24: padding */
      0x06, 0x00, 0x08, 0x00, 0x04, 0x00,             /* 26: Leaf's vtable */
      0x06, 0x00, 0x00, 0x00,                         /* 32: Leaf, vtable at 26 */
      0x05, 0x00, 0x00, 0x00,                         /* 36: value = 5 */
  };
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_start_table(&b, 1);
  qat_fb_add_scalar_i32(&b, 0, 5, 0);
  qat_fb_off leaf = qat_fb_end_table(&b);
  qat_fb_start_table(&b, 2);
  assert_int_equal(qat_fb_add_union(&b, 0, 1, leaf), 0);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  expect_bytes(&b, want, sizeof want);
  qat_fb_builder_free(&b);
}

/* A struct inline in a table and a vector of structs, as wire images. */
static void test_structs(void **state) {
  (void)state;
  /* struct Pair { a:short; b:long; }: a at 0, 6 padding bytes, b at 8. */
  uint8_t pairs[2][16] = {{0}};
  qat_fb_store_u16(pairs[0], (uint16_t)-1);
  qat_fb_store_u64(pairs[0] + 8, 2);
  qat_fb_store_u16(pairs[1], 3);
  qat_fb_store_u64(pairs[1] + 8, (uint64_t)-4);
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_create_string(&b, "odd"); /* misalign first */
  qat_fb_off vec = qat_fb_create_struct_vector(&b, pairs, 2, 16, 8);
  qat_fb_start_table(&b, 2);
  qat_fb_add_offset(&b, 0, vec);
  qat_fb_add_struct(&b, 1, pairs[1], 16, 8);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  size_t n;
  const uint8_t *p = qat_fb_data(&b, &n);
  assert_int_equal(n % 8, 0);
  size_t t = rd_u32(p, 0);
  size_t v = deref(p, field_at(p, t, 0));
  assert_int_equal(rd_u32(p, v), 2);
  assert_int_equal((v + 4) % 8, 0);
  assert_memory_equal(p + v + 4, pairs, sizeof pairs);
  size_t s = field_at(p, t, 1);
  assert_int_equal(s % 8, 0);
  assert_memory_equal(p + s, pairs[1], 16);
  qat_fb_builder_free(&b);
}

/* Empty strings, vectors and tables are valid. */
static void test_empty_things(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_off s = qat_fb_create_string(&b, "");
  qat_fb_off v = qat_fb_create_vector(&b, NULL, 0, 4, 16);
  qat_fb_off ov = qat_fb_create_offset_vector(&b, NULL, 0);
  assert_true(s && v && ov);
  qat_fb_start_table(&b, 0);
  qat_fb_off empty = qat_fb_end_table(&b);
  qat_fb_start_table(&b, 4);
  qat_fb_add_offset(&b, 0, s);
  qat_fb_add_offset(&b, 1, v);
  qat_fb_add_offset(&b, 2, ov);
  qat_fb_add_offset(&b, 3, empty);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, NULL), 0);
  const uint8_t *p = qat_fb_data(&b, NULL);
  size_t t = rd_u32(p, 0);
  size_t ps = deref(p, field_at(p, t, 0));
  assert_int_equal(rd_u32(p, ps), 0);
  assert_int_equal(p[ps + 4], 0);
  assert_int_equal(rd_u32(p, deref(p, field_at(p, t, 1))), 0);
  assert_int_equal(rd_u32(p, deref(p, field_at(p, t, 2))), 0);
  size_t e = deref(p, field_at(p, t, 3));
  size_t evt = (size_t)((int64_t)e - (int32_t)rd_u32(p, e));
  assert_int_equal(rd_u16(p, evt), 4); /* a vtable with no field entries */
  assert_int_equal(rd_u16(p, evt + 2), 4);
  qat_fb_builder_free(&b);
}

/* Builds a buffer with a bit of everything; used for determinism. */
static void build_sample(qat_fb_builder *b) {
  qat_fb_off names[3];
  for (int i = 0; i < 3; i++) {
    char s[32];
    snprintf(s, sizeof s, "tensor_%d", i);
    names[i] = qat_fb_create_string(b, s);
  }
  qat_fb_off tensors[3];
  for (int i = 0; i < 3; i++) {
    int32_t shape[4] = {1, 8 + i, 8, 3};
    qat_fb_off sh = qat_fb_create_vector(b, shape, 4, 4, 0);
    qat_fb_start_table(b, 4);
    qat_fb_add_offset(b, 0, sh);
    qat_fb_add_scalar_u32(b, 2, (uint32_t)i, 0);
    qat_fb_add_offset(b, 3, names[i]);
    qat_fb_add_scalar_i8(b, 1, 9, 0);
    tensors[i] = qat_fb_end_table(b);
  }
  float w[100];
  for (int i = 0; i < 100; i++) w[i] = (float)i * 0.5f - 7.0f;
  qat_fb_off data = qat_fb_create_byte_vector(b, w, 100, 4, 16);
  qat_fb_off tv = qat_fb_create_offset_vector(b, tensors, 3);
  qat_fb_start_table(b, 3);
  qat_fb_add_offset(b, 0, tv);
  qat_fb_add_offset(b, 1, data);
  qat_fb_add_scalar_u32(b, 2, 3, 0);
  qat_fb_off root = qat_fb_end_table(b);
  assert_int_equal(qat_fb_finish(b, root, "TFL3"), 0);
}

/* The same calls give the same bytes: with a fresh builder, after reset, and whatever the
 * initial capacity (growing moves the data but must not change it). */
static void test_deterministic(void **state) {
  (void)state;
  qat_fb_builder a, b;
  qat_fb_builder_init(&a, 0);
  qat_fb_builder_init(&b, 8);
  build_sample(&a);
  build_sample(&b);
  size_t na, nb;
  const uint8_t *pa = qat_fb_data(&a, &na), *pb = qat_fb_data(&b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(pa, pb, na);
  uint8_t *copy = malloc(na);
  assert_non_null(copy);
  memcpy(copy, pa, na);
  qat_fb_builder_reset(&a);
  build_sample(&a);
  pa = qat_fb_data(&a, &na);
  assert_int_equal(na, nb);
  assert_memory_equal(pa, copy, na);
  free(copy);
  qat_fb_builder_free(&a);
  qat_fb_builder_free(&b);
}

/* ---- errors ---- */

static void test_error_nested_table(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  assert_int_equal(qat_fb_start_table(&b, 1), 0);
  assert_int_equal(qat_fb_start_table(&b, 1), QAT_ERR_INTERNAL);
  assert_non_null(strstr(qat_error_message(), "inside a table"));
  /* Sticky: everything after is a no-op reporting the same status. */
  assert_int_equal(qat_fb_add_scalar_i32(&b, 0, 1, 0), QAT_ERR_INTERNAL);
  assert_int_equal(qat_fb_end_table(&b), 0);
  assert_int_equal(qat_fb_create_string(&b, "x"), 0);
  assert_int_equal(qat_fb_finish(&b, 8, NULL), QAT_ERR_INTERNAL);
  assert_non_null(strstr(qat_error_message(), "inside a table")); /* first message kept */
  assert_null(qat_fb_data(&b, NULL));
  /* reset recovers */
  qat_fb_builder_reset(&b);
  assert_int_equal(qat_fb_builder_status(&b), 0);
  qat_fb_start_table(&b, 1);
  qat_fb_add_scalar_i32(&b, 0, 42, 0);
  assert_int_equal(qat_fb_finish(&b, qat_fb_end_table(&b), NULL), 0);
  assert_int_equal(qat_fb_size(&b), 20);
  qat_fb_builder_free(&b);
}

static void test_error_misuse(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);

  /* a string while a table is open */
  qat_fb_start_table(&b, 1);
  assert_int_equal(qat_fb_create_string(&b, "x"), 0);
  assert_int_equal(qat_fb_builder_status(&b), QAT_ERR_INTERNAL);
  qat_fb_builder_reset(&b);

  /* a field outside a table, out of range, twice */
  assert_int_equal(qat_fb_add_scalar_u8(&b, 0, 1, 0), QAT_ERR_INTERNAL);
  assert_non_null(strstr(qat_error_message(), "outside a table"));
  qat_fb_builder_reset(&b);
  qat_fb_start_table(&b, 2);
  assert_int_equal(qat_fb_add_scalar_u8(&b, 2, 1, 0), QAT_ERR_INTERNAL);
  assert_non_null(strstr(qat_error_message(), "out of range"));
  qat_fb_builder_reset(&b);
  qat_fb_start_table(&b, 2);
  assert_int_equal(qat_fb_add_scalar_u8(&b, 1, 1, 0), 0);
  assert_int_equal(qat_fb_add_scalar_u8(&b, 1, 2, 0), QAT_ERR_INTERNAL);
  assert_non_null(strstr(qat_error_message(), "set twice"));
  qat_fb_builder_reset(&b);

  /* end without start; a union with a type but no value */
  assert_int_equal(qat_fb_end_table(&b), 0);
  qat_fb_builder_reset(&b);
  qat_fb_start_table(&b, 2);
  assert_int_equal(qat_fb_add_union(&b, 0, 3, 0), QAT_ERR_INTERNAL);
  qat_fb_builder_reset(&b);

  /* an offset that is not an earlier object */
  qat_fb_off s = qat_fb_create_string(&b, "abc");
  qat_fb_start_table(&b, 1);
  assert_int_equal(qat_fb_add_offset(&b, 0, s + 100), QAT_ERR_INTERNAL);
  qat_fb_builder_reset(&b);
  qat_fb_off bad[1] = {1000};
  assert_int_equal(qat_fb_create_offset_vector(&b, bad, 1), 0);
  qat_fb_builder_reset(&b);

  /* bad sizes and alignments */
  int32_t x = 0;
  assert_int_equal(qat_fb_create_vector(&b, &x, 1, 3, 0), 0);
  qat_fb_builder_reset(&b);
  assert_int_equal(qat_fb_create_vector(&b, &x, 1, 4, 12), 0);
  qat_fb_builder_reset(&b);
  assert_int_equal(qat_fb_create_vector(&b, &x, 1, 4, 128), 0);
  qat_fb_builder_reset(&b);
  assert_int_equal(qat_fb_create_struct_vector(&b, &x, 1, 4, 8), 0);
  qat_fb_builder_reset(&b);

  /* identifier of the wrong length; finish twice; calls after finish */
  qat_fb_start_table(&b, 0);
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, "TFL"), QAT_ERR_INTERNAL);
  qat_fb_builder_reset(&b);
  qat_fb_start_table(&b, 0);
  root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, "TFL3"), 0);
  assert_int_equal(qat_fb_finish(&b, root, "TFL3"), QAT_ERR_INTERNAL);
  assert_non_null(strstr(qat_error_message(), "after qat_fb_finish"));
  assert_null(qat_fb_data(&b, NULL));
  qat_fb_builder_free(&b);
}

/* The 2 GiB limit, tested through a lowered limit: the call fails with a message instead of
 * writing a buffer whose offsets would overflow. */
static void test_error_size_limit(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_builder_set_max_size(&b, 64);
  uint8_t big[100] = {0};
  assert_int_equal(qat_fb_create_vector(&b, big, 40, 1, 0), 44);
  assert_int_equal(qat_fb_create_vector(&b, big, 20, 1, 0), 0);
  assert_int_equal(qat_fb_builder_status(&b), QAT_ERR_UNSUPPORTED);
  assert_non_null(strstr(qat_error_message(), "limit"));
  qat_fb_builder_reset(&b);
  /* a limit lowered below what is already written stops the next write */
  qat_fb_builder_set_max_size(&b, QAT_FB_MAX_SIZE);
  assert_true(qat_fb_create_vector(&b, big, 40, 1, 0) != 0);
  qat_fb_builder_set_max_size(&b, 16);
  assert_int_equal(qat_fb_create_string(&b, ""), 0);
  assert_int_equal(qat_fb_builder_status(&b), QAT_ERR_UNSUPPORTED);
  qat_fb_builder_reset(&b);
  /* count * elem_size overflowing size_t is caught before any arithmetic goes wrong */
  assert_int_equal(qat_fb_create_vector(&b, big, SIZE_MAX / 2, 8, 0), 0);
  assert_int_equal(qat_fb_builder_status(&b), QAT_ERR_UNSUPPORTED);
  qat_fb_builder_free(&b);
  /* the default limit is the format's */
  qat_fb_builder_init(&b, 0);
  assert_int_equal(b.max_size, QAT_FB_MAX_SIZE);
  qat_fb_builder_set_max_size(&b, SIZE_MAX);
  assert_int_equal(b.max_size, QAT_FB_MAX_SIZE);
  qat_fb_builder_free(&b);
  qat_fb_builder_free(&b); /* freeing twice is harmless */
}

/* ---- flatc decodes ---- */

static char tmpdir[4096];

static int make_tmpdir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/flatbuf_test_XXXXXX", QAT_BINARY_DIR);
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  (void)state;
  char path[4200];
  static const char *const names[] = {"test.bin", "test.json", "model.bin", "model.json"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
    unlink(path);
  }
  rmdir(tmpdir);
  return 0;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *s = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
      if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
      } else {
        s[n] = '\0';
      }
    }
  }
  fclose(f);
  return s;
}

static void strip_space(char *s) {
  char *d = s;
  for (; *s; s++)
    if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t') *d++ = *s;
  *d = '\0';
}

/* Writes the finished buffer to tmpdir/<stem>.bin, runs flatc on it and compares the JSON
 * (whitespace removed: our expected strings contain no spaces) with want. */
static void check_flatc_json(const qat_fb_builder *b, const char *schema, const char *stem,
                             const char *want) {
  char bin[4200], json[4200], cmd[16384];
  size_t n;
  const uint8_t *p = qat_fb_data(b, &n);
  assert_non_null(p);
  snprintf(bin, sizeof bin, "%s/%s.bin", tmpdir, stem);
  snprintf(json, sizeof json, "%s/%s.json", tmpdir, stem);
  FILE *f = fopen(bin, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  snprintf(cmd, sizeof cmd, "'%s' --json --strict-json --raw-binary -o '%s' '%s' -- '%s'",
           QAT_FLATC, tmpdir, schema, bin);
  int rc = system(cmd);
  if (rc != 0) {
    hexdump("buffer", p, n);
    fail_msg("flatc failed (status %d): %s", rc, cmd);
  }
  char *got = read_text(json);
  assert_non_null(got);
  strip_space(got);
  char *w = strdup(want);
  assert_non_null(w);
  strip_space(w);
  if (strcmp(got, w)) {
    fprintf(stderr, "flatc JSON:\n%s\nexpected:\n%s\n", got, w);
    free(got);
    free(w);
    fail_msg("flatc decoded different values");
  }
  free(got);
  free(w);
}

/* Leaf {name; value} */
static qat_fb_off make_leaf(qat_fb_builder *b, const char *name, int32_t value) {
  qat_fb_off s = name ? qat_fb_create_string(b, name) : 0;
  qat_fb_start_table(b, 2);
  qat_fb_add_offset(b, 0, s);
  qat_fb_add_scalar_i32(b, 1, value, 7);
  return qat_fb_end_table(b);
}

static void test_flatc_test_schema(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);

  qat_fb_off name = qat_fb_create_string(&b, "root");
  static const int32_t ints[] = {1, -2, 3};
  qat_fb_off v_ints = qat_fb_create_vector(&b, ints, 3, 4, 0);
  static const uint8_t bytes[] = {0, 255, 16};
  qat_fb_off v_bytes = qat_fb_create_vector(&b, bytes, 3, 1, 16);
  static const float floats[] = {0.5f, -1.0f};
  qat_fb_off v_floats = qat_fb_create_vector(&b, floats, 2, 4, 0);
  static const int64_t longs[] = {-1, 1099511627776LL};
  qat_fb_off v_longs = qat_fb_create_vector(&b, longs, 2, 8, 0);
  qat_fb_off strs[2] = {qat_fb_create_string(&b, "a"), qat_fb_create_string(&b, "bc")};
  qat_fb_off v_names = qat_fb_create_offset_vector(&b, strs, 2);
  qat_fb_off leaves[2] = {make_leaf(&b, "l0", 7), make_leaf(&b, "l1", 9)};
  qat_fb_off v_leaves = qat_fb_create_offset_vector(&b, leaves, 2);
  qat_fb_off child = make_leaf(&b, NULL, -1);
  /* Other {flag:bool; ratio:double} */
  qat_fb_start_table(&b, 2);
  qat_fb_add_scalar_f64(&b, 1, 0.125, 0.0);
  qat_fb_add_scalar_bool(&b, 0, true, false);
  qat_fb_off other = qat_fb_end_table(&b);
  /* struct Pair { a:short; b:long; } */
  uint8_t pairs[2][16] = {{0}};
  qat_fb_store_u16(pairs[0], (uint16_t)-1);
  qat_fb_store_u64(pairs[0] + 8, 2);
  qat_fb_store_u16(pairs[1], 3);
  qat_fb_store_u64(pairs[1] + 8, (uint64_t)-4);
  qat_fb_off v_pairs = qat_fb_create_struct_vector(&b, pairs, 2, 16, 8);
  qat_fb_off v_empty = qat_fb_create_vector(&b, NULL, 0, 4, 0);
  static const double doubles[] = {0.25, -3.0};
  qat_fb_off v_doubles = qat_fb_create_vector(&b, doubles, 2, 8, 0);
  static const int16_t shorts[] = {-32768, 32767, 5};
  qat_fb_off v_shorts = qat_fb_create_vector(&b, shorts, 3, 2, 0);

  /* Root: largest first, as flatc's generated code orders them. */
  assert_int_equal(qat_fb_start_table(&b, 29), 0);
  qat_fb_add_scalar_i64(&b, 7, -5000000000LL, 0);
  qat_fb_add_scalar_u64(&b, 8, 18000000000000000000ULL, 0);
  qat_fb_add_scalar_f64(&b, 10, -2.5, 0.0);
  /* struct Vec3 { x:float; y:float; z:float; } */
  uint8_t vec3[12];
  qat_fb_store_f32(vec3, 1.0f);
  qat_fb_store_f32(vec3 + 4, 2.0f);
  qat_fb_store_f32(vec3 + 8, 3.0f);
  qat_fb_add_struct(&b, 22, vec3, 12, 4);
  qat_fb_add_offset(&b, 12, name);
  qat_fb_add_offset(&b, 13, v_ints);
  qat_fb_add_offset(&b, 14, v_bytes);
  qat_fb_add_offset(&b, 15, v_floats);
  qat_fb_add_offset(&b, 16, v_longs);
  qat_fb_add_offset(&b, 17, v_names);
  qat_fb_add_offset(&b, 18, v_leaves);
  qat_fb_add_offset(&b, 19, child);
  qat_fb_add_offset(&b, 23, v_pairs);
  qat_fb_add_offset(&b, 26, v_empty);
  qat_fb_add_offset(&b, 27, v_doubles);
  qat_fb_add_offset(&b, 28, v_shorts);
  qat_fb_add_union(&b, 20, 2, other);
  qat_fb_add_union(&b, 24, 0, 0); /* NONE: nothing stored */
  qat_fb_add_scalar_i32(&b, 5, -70000, 0);
  qat_fb_add_scalar_u32(&b, 6, 4000000000u, 0);
  qat_fb_add_scalar_f32(&b, 9, 0.25f, 1.5f);
  qat_fb_add_scalar_i16(&b, 3, -300, 0);
  qat_fb_add_scalar_u16(&b, 4, 60000, 0);
  qat_fb_add_scalar_bool(&b, 0, true, false);
  qat_fb_add_scalar_i8(&b, 1, -5, -1);
  qat_fb_add_scalar_u8(&b, 2, 200, 0);
  qat_fb_add_scalar_i8(&b, 11, 2, 1); /* Color Blue */
  qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, "QTST"), 0);

  static const char want[] =
      "{\"b\":true,\"i8\":-5,\"u8\":200,\"i16\":-300,\"u16\":60000,\"i32\":-70000,"
      "\"u32\":4000000000,\"i64\":-5000000000,\"u64\":18000000000000000000,\"f32\":0.25,"
      "\"f64\":-2.5,\"color\":\"Blue\",\"name\":\"root\",\"ints\":[1,-2,3],"
      "\"bytes\":[0,255,16],\"floats\":[0.5,-1.0],\"longs\":[-1,1099511627776],"
      "\"names\":[\"a\",\"bc\"],"
      "\"leaves\":[{\"name\":\"l0\"},{\"name\":\"l1\",\"value\":9}],"
      "\"child\":{\"value\":-1},"
      "\"payload_type\":\"Other\",\"payload\":{\"flag\":true,\"ratio\":0.125},"
      "\"pos\":{\"x\":1.0,\"y\":2.0,\"z\":3.0},"
      "\"pairs\":[{\"a\":-1,\"b\":2},{\"a\":3,\"b\":-4}],"
      "\"empty\":[],\"doubles\":[0.25,-3.0],\"shorts\":[-32768,32767,5]}";
  check_flatc_json(&b, TEST_SCHEMA, "test", want);
  qat_fb_builder_free(&b);
}

/* A minimal TFLite model the way the exporter will write one: buffer 0 empty, one SOFTMAX
 * operator with its options union, quantized int8 tensors, and a 16-byte aligned
 * min_runtime_version metadata buffer. */
static void test_flatc_tflite_model(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);

  /* Buffer { data:[ubyte] (force_align: 16); offset:ulong; size:ulong; } */
  qat_fb_start_table(&b, 3);
  qat_fb_off buf0 = qat_fb_end_table(&b);
  char version[16] = "1.14.0"; /* zero-padded to 16 bytes, as the converter writes it */
  qat_fb_off ver_data = qat_fb_create_byte_vector(&b, version, 16, 1, 16);
  qat_fb_start_table(&b, 3);
  qat_fb_add_offset(&b, 0, ver_data);
  qat_fb_off buf1 = qat_fb_end_table(&b);
  qat_fb_off buffers = qat_fb_create_offset_vector(&b, (qat_fb_off[]){buf0, buf1}, 2);

  /* Tensors: shape:[int] 0, type 1, buffer 2, name 3, quantization 4 */
  qat_fb_off tensors[2];
  static const char *const tnames[2] = {"input", "output"};
  static const float scales[2] = {0.5f, 0.00390625f};
  for (int i = 0; i < 2; i++) {
    static const int32_t shape[] = {1, 4};
    static const int64_t zp[] = {-128};
    qat_fb_off sh = qat_fb_create_vector(&b, shape, 2, 4, 0);
    qat_fb_off nm = qat_fb_create_string(&b, tnames[i]);
    qat_fb_off sc = qat_fb_create_vector(&b, &scales[i], 1, 4, 0);
    qat_fb_off z = qat_fb_create_vector(&b, zp, 1, 8, 0);
    /* QuantizationParameters: min 0, max 1, scale 2, zero_point 3, details 4-5, qdim 6 */
    qat_fb_start_table(&b, 7);
    qat_fb_add_offset(&b, 2, sc);
    qat_fb_add_offset(&b, 3, z);
    qat_fb_add_scalar_i32(&b, 6, 0, 0);
    qat_fb_off q = qat_fb_end_table(&b);
    qat_fb_start_table(&b, 12);
    qat_fb_add_offset(&b, 0, sh);
    qat_fb_add_scalar_u32(&b, 2, 0, 0);
    qat_fb_add_offset(&b, 3, nm);
    qat_fb_add_offset(&b, 4, q);
    qat_fb_add_scalar_i8(&b, 1, 9, 0); /* INT8 */
    tensors[i] = qat_fb_end_table(&b);
  }
  qat_fb_off v_tensors = qat_fb_create_offset_vector(&b, tensors, 2);
  static const int32_t in_idx[] = {0}, out_idx[] = {1};
  qat_fb_off sg_in = qat_fb_create_vector(&b, in_idx, 1, 4, 0);
  qat_fb_off sg_out = qat_fb_create_vector(&b, out_idx, 1, 4, 0);
  qat_fb_off op_in = qat_fb_create_vector(&b, in_idx, 1, 4, 0);
  qat_fb_off op_out = qat_fb_create_vector(&b, out_idx, 1, 4, 0);
  /* SoftmaxOptions { beta:float } = BuiltinOptions type 9 */
  qat_fb_start_table(&b, 1);
  qat_fb_add_scalar_f32(&b, 0, 1.0f, 0.0f);
  qat_fb_off softmax = qat_fb_end_table(&b);
  /* Operator: opcode_index 0, inputs 1, outputs 2, builtin_options_type 3, builtin_options 4 */
  qat_fb_start_table(&b, 16);
  qat_fb_add_offset(&b, 1, op_in);
  qat_fb_add_offset(&b, 2, op_out);
  qat_fb_add_scalar_u32(&b, 0, 0, 0);
  qat_fb_add_union(&b, 3, 9, softmax);
  qat_fb_off op = qat_fb_end_table(&b);
  qat_fb_off ops = qat_fb_create_offset_vector(&b, &op, 1);
  qat_fb_off sg_name = qat_fb_create_string(&b, "main");
  /* SubGraph: tensors 0, inputs 1, outputs 2, operators 3, name 4 */
  qat_fb_start_table(&b, 6);
  qat_fb_add_offset(&b, 0, v_tensors);
  qat_fb_add_offset(&b, 1, sg_in);
  qat_fb_add_offset(&b, 2, sg_out);
  qat_fb_add_offset(&b, 3, ops);
  qat_fb_add_offset(&b, 4, sg_name);
  qat_fb_off sg = qat_fb_end_table(&b);
  qat_fb_off subgraphs = qat_fb_create_offset_vector(&b, &sg, 1);
  /* OperatorCode: deprecated_builtin_code 0, custom_code 1, version 2 (= 1), builtin_code 3 */
  qat_fb_start_table(&b, 4);
  qat_fb_add_scalar_i32(&b, 3, 25, 0);
  qat_fb_add_scalar_i32(&b, 2, 2, 1);
  qat_fb_add_scalar_i8(&b, 0, 25, 0);
  qat_fb_off opcode = qat_fb_end_table(&b);
  qat_fb_off opcodes = qat_fb_create_offset_vector(&b, &opcode, 1);
  /* Metadata { name; buffer:uint } */
  qat_fb_off md_name = qat_fb_create_string(&b, "min_runtime_version");
  qat_fb_start_table(&b, 2);
  qat_fb_add_offset(&b, 0, md_name);
  qat_fb_add_scalar_u32(&b, 1, 1, 0);
  qat_fb_off md = qat_fb_end_table(&b);
  qat_fb_off metadata = qat_fb_create_offset_vector(&b, &md, 1);
  qat_fb_off desc = qat_fb_create_string(&b, "qat flatbuf test");
  /* Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4,
   * metadata_buffer 5, metadata 6, ... (10 fields) */
  qat_fb_start_table(&b, 10);
  qat_fb_add_offset(&b, 1, opcodes);
  qat_fb_add_offset(&b, 2, subgraphs);
  qat_fb_add_offset(&b, 3, desc);
  qat_fb_add_offset(&b, 4, buffers);
  qat_fb_add_offset(&b, 6, metadata);
  qat_fb_add_scalar_u32(&b, 0, 3, 0);
  qat_fb_off model = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, model, "TFL3"), 0);

  /* The metadata buffer's bytes are 16-aligned (Buffer.data's force_align). */
  size_t n;
  const uint8_t *p = qat_fb_data(&b, &n);
  assert_memory_equal(p + 4, "TFL3", 4);
  size_t m = rd_u32(p, 0);
  size_t bufs = deref(p, field_at(p, m, 4));
  assert_int_equal(rd_u32(p, bufs), 2);
  size_t b1 = deref(p, bufs + 4 + 4);
  size_t data = deref(p, field_at(p, b1, 0));
  assert_int_equal(rd_u32(p, data), 16);
  assert_int_equal((data + 4) % 16, 0);
  assert_int_equal(n % 16, 0);

  static const char want[] =
      "{\"version\":3,"
      "\"operator_codes\":[{\"deprecated_builtin_code\":25,\"version\":2,"
      "\"builtin_code\":\"SOFTMAX\"}],"
      "\"subgraphs\":[{\"tensors\":["
      "{\"shape\":[1,4],\"type\":\"INT8\",\"name\":\"input\","
      "\"quantization\":{\"scale\":[0.5],\"zero_point\":[-128]}},"
      "{\"shape\":[1,4],\"type\":\"INT8\",\"name\":\"output\","
      "\"quantization\":{\"scale\":[0.003906],\"zero_point\":[-128]}}],"
      "\"inputs\":[0],\"outputs\":[1],"
      "\"operators\":[{\"inputs\":[0],\"outputs\":[1],"
      "\"builtin_options_type\":\"SoftmaxOptions\",\"builtin_options\":{\"beta\":1.0}}],"
      "\"name\":\"main\"}],"
      "\"description\":\"qat flatbuf test\","
      "\"buffers\":[{},{\"data\":[49,46,49,52,46,48,0,0,0,0,0,0,0,0,0,0]}],"
      "\"metadata\":[{\"name\":\"min_runtime_version\",\"buffer\":1}]}";
  check_flatc_json(&b, TFLITE_SCHEMA, "model", want);
  qat_fb_builder_free(&b);
}

static int have_flatc(void) {
  if (!QAT_FLATC[0] || access(QAT_FLATC, X_OK) != 0) {
    printf("flatc not found (Debian package flatbuffers-compiler): skipping the decode test\n");
    return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "layout";
  if (!strcmp(mode, "layout")) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_int_field),     cmocka_unit_test(test_file_identifier),
        cmocka_unit_test(test_string_and_vector), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_float_default_bits), cmocka_unit_test(test_vtable_dedup),
        cmocka_unit_test(test_aligned_vector),    cmocka_unit_test(test_alignment_sweep),
        cmocka_unit_test(test_vector_endianness), cmocka_unit_test(test_union),
        cmocka_unit_test(test_structs),           cmocka_unit_test(test_empty_things),
        cmocka_unit_test(test_deterministic),     cmocka_unit_test(test_error_nested_table),
        cmocka_unit_test(test_error_misuse),      cmocka_unit_test(test_error_size_limit),
    };
    return cmocka_run_group_tests_name("flatbuf layout", tests, NULL, NULL);
  }
  if (!strcmp(mode, "flatc")) {
    if (!have_flatc()) return 77;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_flatc_test_schema)};
    return cmocka_run_group_tests_name("flatbuf flatc", tests, make_tmpdir, remove_tmpdir);
  }
  if (!strcmp(mode, "tflite")) {
    if (!have_flatc()) return 77;
    if (access(TFLITE_SCHEMA, R_OK) != 0) {
      printf("TFLite schema %s not found: skipping the TFLite decode test\n", TFLITE_SCHEMA);
      return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_flatc_tflite_model)};
    return cmocka_run_group_tests_name("flatbuf tflite", tests, make_tmpdir, remove_tmpdir);
  }
  fprintf(stderr, "usage: %s [layout|flatc|tflite]\n", argv[0]);
  return 2;
}
