/* Reading and verifying FlatBuffers (the reading half of qat/flatbuf.h's builder): a
 * structural verifier driven by a description of the schema's tables and fields, and accessors
 * that read fields of a verified buffer. The TFLite reader (runtime/reader.c) describes its
 * schema with qat/tflite_schema.h.
 *
 * Verification rules (matched against the official flatbuffers::Verifier, read not copied:
 * google/flatbuffers include/flatbuffers/verifier.h and the VerifyModelBuffer code that flatc
 * generates from the TFLite schema):
 *   - an offset (uoffset_t) is nonzero, below 2^31, and points inside the buffer;
 *   - a table is 4-byte aligned and inside the buffer; its vtable (table - soffset, computed in
 *     64 bits) is 2-byte aligned, its size even, >= 4 and inside the buffer; the table size it
 *     records fits in the buffer;
 *   - a scalar field is aligned to its size and inside the buffer;
 *   - a vector's length is 4-byte aligned and count * element size (checked against 2^31 before
 *     multiplying) lies inside the buffer; a string is a byte vector followed by a NUL;
 *   - a union type is within its enum; a known member is verified as its table, an unknown
 *     (valid) one as a bare table;
 *   - nesting depth and the number of tables are capped, so a shared-subtable DAG cannot make
 *     the walk exponential.
 * All positions are size_t offsets into the buffer; every sum is checked against the length
 * before it is formed, so nothing can wrap. The accessors still clamp to the buffer (cheap), so
 * a verifier bug would give a wrong value, not an out-of-bounds read. */
#ifndef QAT_FLATBUF_READ_H
#define QAT_FLATBUF_READ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

_Static_assert(sizeof(float) == 4, "IEEE float32 required");

/* ---- little-endian reads (byte by byte: no alignment or aliasing assumptions) ---------- */

static inline uint16_t qat_fb_rd16(const uint8_t *b, size_t o) { return (uint16_t)(b[o] | (b[o + 1] << 8)); }
static inline uint32_t qat_fb_rd32(const uint8_t *b, size_t o) {
  return (uint32_t)b[o] | ((uint32_t)b[o + 1] << 8) | ((uint32_t)b[o + 2] << 16) |
         ((uint32_t)b[o + 3] << 24);
}
static inline uint64_t qat_fb_rd64(const uint8_t *b, size_t o) {
  return (uint64_t)qat_fb_rd32(b, o) | ((uint64_t)qat_fb_rd32(b, o + 4) << 32);
}
static inline float qat_fb_rdf32(const uint8_t *b, size_t o) {
  uint32_t u = qat_fb_rd32(b, o);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- the schema a verifier walks ---------------------------------------------------------- */

enum fb_kind {
  QAT_FB_K_S1 = 1,
  QAT_FB_K_S2,
  QAT_FB_K_S4,
  QAT_FB_K_S8,  /* scalars of 1, 2, 4, 8 bytes */
  QAT_FB_K_STR, /* string */
  QAT_FB_K_V1,
  QAT_FB_K_V2,
  QAT_FB_K_V4,
  QAT_FB_K_V8,    /* vectors of scalars */
  QAT_FB_K_VSTR,  /* vector of strings */
  QAT_FB_K_VTAB,  /* vector of tables (arg: table) */
  QAT_FB_K_TAB,   /* table (arg: table) */
  QAT_FB_K_UTYPE, /* union type byte (arg: union) */
  QAT_FB_K_UVAL,  /* union value (arg: union; its type is the previous field) */
};

typedef struct qat_fb_field_desc {
  const char *name;
  uint8_t kind, arg;
} qat_fb_field_desc;

typedef struct qat_fb_table_desc {
  const char *name;
  int n;
  const qat_fb_field_desc *f;
} qat_fb_table_desc;

/* A schema: its tables (table ids index them), each union's highest member, which table a
 * union member is, and the walk's limits. An unknown union member maps to a table with no
 * fields (verified as a bare table). */
typedef struct qat_fb_schema {
  const qat_fb_table_desc *tables;
  const int *union_max;
  int (*union_table)(int union_id, unsigned type);
  int max_depth;
  long max_tables;
} qat_fb_schema;

/* Verifies the table at the root offset (bytes 0..4) as table root_table of the schema and
 * everything reachable from it. The caller checks the file identifier. QAT_ERR_FORMAT with
 * "NAME: invalid flatbuffer: WHAT at offset 0xN (Table.field)" on the first violation. */
int qat_fb_verify(const uint8_t *buf, size_t len, const qat_fb_schema *schema, int root_table,
                  const char *name);

/* ---- accessors over a verified buffer ----------------------------------------------------- */

/* The vtable entry of field i of the table at t (0 when absent). t was verified. */
typedef struct qat_fb_vtable {
  size_t t, vt;
  unsigned n_entries;
} qat_fb_vtable;

static inline size_t qat_fb_vt_field(const uint8_t *b, const qat_fb_vtable *x, unsigned i) {
  if (i >= x->n_entries) return 0;
  const uint16_t off = qat_fb_rd16(b, x->vt + 4 + 2 * (size_t)i);
  return off ? x->t + off : 0;
}

typedef struct qat_fb_table {
  const uint8_t *b;
  size_t len;
  qat_fb_vtable x;
} qat_fb_table;

/* Opens the table at t; 0 (and an empty table) if t is 0. */
static inline qat_fb_table qat_fb_table_open(const uint8_t *b, size_t len, size_t t) {
  qat_fb_table r = {b, len, {0, 0, 0}};
  if (!t || t > len || len - t < 4) return r;
  const int64_t vt = (int64_t)t - (int64_t)(int32_t)qat_fb_rd32(b, t);
  if (vt < 0 || (uint64_t)vt > len - 4) return r;
  const uint16_t vsize = qat_fb_rd16(b, (size_t)vt);
  if (vsize < 4 || vsize > len - (size_t)vt) return r;
  r.x.t = t;
  r.x.vt = (size_t)vt;
  r.x.n_entries = (unsigned)(vsize - 4) / 2;
  return r;
}

static inline size_t qat_fb_field_pos(const qat_fb_table *t, int field, size_t size) {
  const size_t p = qat_fb_vt_field(t->b, &t->x, (unsigned)field);
  return p && p <= t->len && size <= t->len - p ? p : 0;
}
static inline uint8_t qat_fb_u8(const qat_fb_table *t, int field, uint8_t def) {
  const size_t p = qat_fb_field_pos(t, field, 1);
  return p ? t->b[p] : def;
}
static inline int32_t qat_fb_i32(const qat_fb_table *t, int field, int32_t def) {
  const size_t p = qat_fb_field_pos(t, field, 4);
  return p ? (int32_t)qat_fb_rd32(t->b, p) : def;
}
static inline uint32_t qat_fb_u32(const qat_fb_table *t, int field, uint32_t def) {
  const size_t p = qat_fb_field_pos(t, field, 4);
  return p ? qat_fb_rd32(t->b, p) : def;
}
static inline uint64_t qat_fb_u64(const qat_fb_table *t, int field, uint64_t def) {
  const size_t p = qat_fb_field_pos(t, field, 8);
  return p ? qat_fb_rd64(t->b, p) : def;
}
static inline float qat_fb_f32(const qat_fb_table *t, int field, float def) {
  const size_t p = qat_fb_field_pos(t, field, 4);
  return p ? qat_fb_rdf32(t->b, p) : def;
}
/* Target of an offset field, 0 when absent. */
static inline size_t qat_fb_ref(const qat_fb_table *t, int field) {
  const size_t p = qat_fb_field_pos(t, field, 4);
  if (!p) return 0;
  const uint32_t o = qat_fb_rd32(t->b, p);
  return o && o < t->len - p ? p + o : 0;
}
/* A vector field: its element count and the position of element 0 (esize bytes each). */
static inline int qat_fb_vec(const qat_fb_table *t, int field, size_t esize, size_t *data, uint32_t *n) {
  *data = 0;
  *n = 0;
  const size_t v = qat_fb_ref(t, field);
  if (!v || t->len - v < 4) return 0;
  const uint32_t cnt = qat_fb_rd32(t->b, v);
  if ((uint64_t)cnt * esize > t->len - v - 4) return 0;
  *data = v + 4;
  *n = cnt;
  return 1;
}
static inline qat_fb_table qat_fb_vec_table(const qat_fb_table *t, size_t data, uint32_t k) {
  const size_t p = data + (size_t)k * 4;
  const uint32_t o = qat_fb_rd32(t->b, p);
  return qat_fb_table_open(t->b, t->len, o && o < t->len - p ? p + o : 0);
}
static inline const char *qat_fb_str(const qat_fb_table *t, int field) {
  size_t data;
  uint32_t n;
  if (!qat_fb_vec(t, field, 1, &data, &n) || n >= t->len - data || t->b[data + n] != 0) return NULL;
  return (const char *)t->b + data;
}
static inline qat_fb_table qat_fb_sub(const qat_fb_table *t, int field) { return qat_fb_table_open(t->b, t->len, qat_fb_ref(t, field)); }
static inline int qat_fb_present(const qat_fb_table *t) { return t->x.t != 0; }

#endif
