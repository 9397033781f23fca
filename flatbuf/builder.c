/* FlatBuffers builder: see include/qat/flatbuf.h for the model. The layout decisions follow
 * the official C++ FlatBufferBuilder (padding, vtable layout and sharing, finish alignment),
 * so that a buffer built here with the same calls in the same order is byte-identical to the
 * official builder's (checked once against Debian's libflatbuffers 2.0.8 for every layout in
 * tests/test_flatbuf.c, which pins the bytes). Two deliberate differences: float fields are
 * compared with their default by bits (the official builder drops -0.0 against a 0.0 default),
 * and a byte vector made from 8-byte scalars is 8-aligned. */
#include "qat/flatbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"

#define DEFAULT_CAPACITY 1024

/* ---- errors ---- */

/* Records the first error in the builder (making it sticky) and in qat's message. */
__attribute__((format(printf, 3, 4))) static int fail(qat_fb_builder *b, int status,
                                                      const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  b->status = status;
  return qat_fail(status, "flatbuffer builder: %s", msg);
}

/* Every public entry point starts here: a builder in error does nothing more. */
static int usable(qat_fb_builder *b, const char *op) {
  QAT_ASSERT(b != NULL);
  if (b->status) return b->status;
  if (b->finished)
    return fail(b, QAT_ERR_INTERNAL, "%s after qat_fb_finish (reset the builder first)", op);
  return 0;
}

/* Strings, vectors and tables cannot be written while a table is open: its fields must stay
 * contiguous (the vtable describes one block of at most 64 KiB). */
static int not_nested(qat_fb_builder *b, const char *op) {
  int rc = usable(b, op);
  if (rc) return rc;
  if (b->in_table)
    return fail(b, QAT_ERR_INTERNAL,
                "%s inside a table: create children before starting the table that refers to them",
                op);
  return 0;
}

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* ---- the downward buffer ---- */

static uint8_t *front(qat_fb_builder *b) { return b->buf + b->cap - b->size; }
static uint8_t *at(qat_fb_builder *b, uint32_t pos) { return b->buf + b->cap - pos; }

/* Makes room for n more bytes in front of the data and returns them (uninitialised), or NULL
 * after recording an error. Growing copies the data to the end of a larger block, because
 * positions are counted from the end. */
static uint8_t *grow_front(qat_fb_builder *b, size_t n) {
  /* (size may exceed a limit lowered after it was written: test that first.) */
  if (b->size > b->max_size || n > b->max_size - b->size) {
    fail(b, QAT_ERR_UNSUPPORTED,
         "buffer would reach %zu + %zu bytes, over the limit of %zu (flatbuffers address at "
         "most 2 GiB)",
         b->size, n, b->max_size);
    return NULL;
  }
  if (b->cap - b->size < n) {
    size_t need = b->size + n; /* <= max_size < 2^31 */
    size_t cap = b->cap ? b->cap : (b->initial_cap ? b->initial_cap : DEFAULT_CAPACITY);
    /* Double, but never past 2^31 (which holds any legal buffer), so that cap cannot
     * overflow a 32-bit size_t. */
    while (cap < need) cap = cap > QAT_FB_MAX_SIZE / 2 ? QAT_FB_MAX_SIZE + 1 : cap * 2;
    /* A multiple of the allocation alignment, so that the end (and therefore every position
     * aligned relative to the end) is aligned in memory too. */
    cap = (cap + QAT_FB_MAX_ALIGN - 1) / QAT_FB_MAX_ALIGN * QAT_FB_MAX_ALIGN;
    uint8_t *buf = aligned_alloc(QAT_FB_MAX_ALIGN, cap);
    if (!buf) {
      fail(b, QAT_ERR_NOMEM, "out of memory growing the buffer to %zu bytes", cap);
      return NULL;
    }
    if (b->size) memcpy(buf + cap - b->size, b->buf + b->cap - b->size, b->size);
    free(b->buf);
    b->buf = buf;
    b->cap = cap;
  }
  b->size += n;
  return front(b);
}

static int pad(qat_fb_builder *b, size_t n) {
  if (!n) return 0;
  uint8_t *p = grow_front(b, n);
  if (!p) return b->status;
  memset(p, 0, n);
  return 0;
}

static void track_align(qat_fb_builder *b, size_t a) {
  if (a > b->min_align) b->min_align = a;
}

/* Pads so that the next object of size a starts a-aligned (relative to the end, which finish()
 * makes aligned in absolute terms too). */
static int align(qat_fb_builder *b, size_t a) {
  track_align(b, a);
  return pad(b, (a - b->size % a) % a);
}

/* Pads so that after `len` more bytes the position is a-aligned: the start of a len-byte block
 * written next will be a-aligned, with a uint32 length prefix fitting right before it. */
static int prealign(qat_fb_builder *b, size_t len, size_t a) {
  if (!len) return 0; /* as the official builder: nothing to align */
  track_align(b, a);
  /* len <= max_size was checked by the caller, so size + len cannot overflow. */
  return pad(b, (a - (b->size + len) % a) % a);
}

static void store_le(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* One naturally aligned little-endian scalar of n bytes. */
static int push_scalar(qat_fb_builder *b, uint64_t v, size_t n) {
  int rc = align(b, n);
  if (rc) return rc;
  uint8_t *p = grow_front(b, n);
  if (!p) return b->status;
  store_le(p, v, n);
  return 0;
}

/* Writes a uoffset that points at the object at position `target` (written earlier). The
 * stored value is the distance from the uoffset itself to the target, which lies at a higher
 * address. */
static int push_ref(qat_fb_builder *b, qat_fb_off target) {
  int rc = align(b, 4);
  if (rc) return rc;
  QAT_ASSERT(target != 0 && target <= b->size); /* callers checked */
  return push_scalar(b, (uint64_t)(b->size + 4 - target), 4);
}

/* Host scalars of elem_size bytes -> little-endian bytes. Loads go through memcpy (data may
 * be unaligned) and stores byte by byte, so the result is the same on any host; compilers turn
 * the loops into plain copies on little-endian machines. */
static void copy_le(uint8_t *dst, const void *src, size_t count, size_t elem_size) {
  const uint8_t *s = src;
  switch (elem_size) {
  case 1:
    memcpy(dst, s, count);
    break;
  case 2:
    for (size_t i = 0; i < count; i++) {
      uint16_t v;
      memcpy(&v, s + 2 * i, 2);
      qat_fb_store_u16(dst + 2 * i, v);
    }
    break;
  case 4:
    for (size_t i = 0; i < count; i++) {
      uint32_t v;
      memcpy(&v, s + 4 * i, 4);
      qat_fb_store_u32(dst + 4 * i, v);
    }
    break;
  case 8:
    for (size_t i = 0; i < count; i++) {
      uint64_t v;
      memcpy(&v, s + 8 * i, 8);
      qat_fb_store_u64(dst + 8 * i, v);
    }
    break;
  default:
    QAT_ASSERT(0 && "element size checked by the caller");
  }
}

/* ---- lifecycle ---- */

void qat_fb_builder_init(qat_fb_builder *b, size_t initial_capacity) {
  QAT_ASSERT(b != NULL);
  memset(b, 0, sizeof *b);
  b->initial_cap = initial_capacity > QAT_FB_MAX_SIZE ? QAT_FB_MAX_SIZE : initial_capacity;
  b->max_size = QAT_FB_MAX_SIZE;
  b->min_align = 1;
}

void qat_fb_builder_free(qat_fb_builder *b) {
  if (!b) return;
  free(b->buf);
  free(b->field_pos);
  free(b->vtables);
  size_t max_size = b->max_size;
  memset(b, 0, sizeof *b);
  /* Usable again after free, as after init. */
  b->max_size = max_size ? max_size : QAT_FB_MAX_SIZE;
  b->min_align = 1;
}

void qat_fb_builder_reset(qat_fb_builder *b) {
  QAT_ASSERT(b != NULL);
  b->size = 0;
  b->min_align = 1;
  b->status = 0;
  b->finished = false;
  b->in_table = false;
  b->n_vt_entries = 0;
  b->n_vtables = 0;
}

void qat_fb_builder_set_max_size(qat_fb_builder *b, size_t max_bytes) {
  QAT_ASSERT(b != NULL);
  b->max_size = max_bytes < QAT_FB_MAX_SIZE ? max_bytes : QAT_FB_MAX_SIZE;
}

void qat_fb_builder_set_force_defaults(qat_fb_builder *b, bool force) {
  QAT_ASSERT(b != NULL);
  b->force_defaults = force;
}

int qat_fb_builder_status(const qat_fb_builder *b) { return b->status; }

size_t qat_fb_size(const qat_fb_builder *b) { return b->size; }

/* ---- strings and vectors ---- */

qat_fb_off qat_fb_create_string_len(qat_fb_builder *b, const char *s, size_t len) {
  if (not_nested(b, "create_string")) return 0;
  if (!s && len) return fail(b, QAT_ERR_INTERNAL, "create_string: NULL with length %zu", len), 0;
  if (len >= b->max_size)
    return fail(b, QAT_ERR_UNSUPPORTED, "string of %zu bytes is too long", len), 0;
  /* Layout: uint32 length, bytes, NUL; the length is 4-aligned and directly precedes them. */
  if (prealign(b, len + 1, 4)) return 0;
  uint8_t *p = grow_front(b, len + 1);
  if (!p) return 0;
  if (len) memcpy(p, s, len);
  p[len] = 0;
  if (push_scalar(b, len, 4)) return 0;
  return (qat_fb_off)b->size;
}

qat_fb_off qat_fb_create_string(qat_fb_builder *b, const char *s) {
  if (!s) {
    if (!usable(b, "create_string")) fail(b, QAT_ERR_INTERNAL, "create_string: NULL string");
    return 0;
  }
  return qat_fb_create_string_len(b, s, strlen(s));
}

/* Checks count * elem_size for overflow and the size limit; stores the byte count. */
static int vector_bytes(qat_fb_builder *b, const char *op, size_t count, size_t elem_size,
                        size_t *bytes) {
  if (count > UINT32_MAX || (elem_size && count > b->max_size / elem_size))
    return fail(b, QAT_ERR_UNSUPPORTED, "%s: %zu elements of %zu bytes exceed the size limit",
                op, count, elem_size);
  *bytes = count * elem_size;
  return 0;
}

static int check_alignment(qat_fb_builder *b, const char *op, size_t alignment) {
  if (alignment && (!is_pow2(alignment) || alignment > QAT_FB_MAX_ALIGN))
    return fail(b, QAT_ERR_INTERNAL, "%s: alignment %zu is not a power of two <= %d", op,
                alignment, QAT_FB_MAX_ALIGN);
  return 0;
}

/* Shared by the scalar and byte vectors; length_is_bytes picks what the prefix counts. */
static qat_fb_off scalar_vector(qat_fb_builder *b, const char *op, const void *data, size_t count,
                                size_t elem_size, size_t alignment, bool length_is_bytes) {
  size_t bytes = 0;
  if (not_nested(b, op)) return 0;
  if (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8)
    return fail(b, QAT_ERR_INTERNAL, "%s: element size %zu is not 1, 2, 4 or 8", op, elem_size),
           0;
  if (check_alignment(b, op, alignment)) return 0;
  if (!data && count) return fail(b, QAT_ERR_INTERNAL, "%s: NULL data", op), 0;
  if (vector_bytes(b, op, count, elem_size, &bytes)) return 0;
  if (length_is_bytes && bytes > UINT32_MAX)
    return fail(b, QAT_ERR_UNSUPPORTED, "%s: %zu bytes", op, bytes), 0;
  /* The official builder pads for the length prefix (4), the element size and any forced
   * alignment in turn; with powers of two, one pad to the largest gives the same bytes. */
  size_t a = 4;
  if (elem_size > a) a = elem_size;
  if (alignment > a) a = alignment;
  if (prealign(b, bytes, a)) return 0;
  if (bytes) {
    uint8_t *p = grow_front(b, bytes);
    if (!p) return 0;
    copy_le(p, data, count, elem_size);
  }
  if (push_scalar(b, length_is_bytes ? bytes : count, 4)) return 0;
  return (qat_fb_off)b->size;
}

qat_fb_off qat_fb_create_vector(qat_fb_builder *b, const void *data, size_t count,
                                size_t elem_size, size_t alignment) {
  return scalar_vector(b, "create_vector", data, count, elem_size, alignment, false);
}

qat_fb_off qat_fb_create_byte_vector(qat_fb_builder *b, const void *data, size_t count,
                                     size_t elem_size, size_t alignment) {
  return scalar_vector(b, "create_byte_vector", data, count, elem_size, alignment, true);
}

qat_fb_off qat_fb_create_offset_vector(qat_fb_builder *b, const qat_fb_off *offs, size_t count) {
  static const char op[] = "create_offset_vector";
  size_t bytes = 0;
  if (not_nested(b, op)) return 0;
  if (!offs && count) return fail(b, QAT_ERR_INTERNAL, "%s: NULL offsets", op), 0;
  if (vector_bytes(b, op, count, 4, &bytes)) return 0;
  for (size_t i = 0; i < count; i++)
    if (offs[i] == 0 || offs[i] > b->size)
      return fail(b, QAT_ERR_INTERNAL, "%s: element %zu is not a written object (offset %u)", op,
                  i, (unsigned)offs[i]),
             0;
  if (prealign(b, bytes, 4)) return 0;
  /* Last element first: the buffer grows towards the front. */
  for (size_t i = count; i-- > 0;)
    if (push_ref(b, offs[i])) return 0;
  if (push_scalar(b, count, 4)) return 0;
  return (qat_fb_off)b->size;
}

/* Structs are stored inline; their size is a multiple of their alignment (schema rule). */
static int check_struct(qat_fb_builder *b, const char *op, size_t size, size_t align) {
  if (check_alignment(b, op, align)) return b->status;
  if (!align || !size || size % align)
    return fail(b, QAT_ERR_INTERNAL, "%s: struct size %zu is not a multiple of its alignment %zu",
                op, size, align);
  return 0;
}

qat_fb_off qat_fb_create_struct_vector(qat_fb_builder *b, const void *structs, size_t count,
                                       size_t struct_size, size_t struct_align) {
  static const char op[] = "create_struct_vector";
  size_t bytes = 0;
  if (not_nested(b, op)) return 0;
  if (check_struct(b, op, struct_size, struct_align)) return 0;
  if (!structs && count) return fail(b, QAT_ERR_INTERNAL, "%s: NULL data", op), 0;
  if (vector_bytes(b, op, count, struct_size, &bytes)) return 0;
  if (prealign(b, bytes, struct_align > 4 ? struct_align : 4)) return 0;
  if (bytes) {
    uint8_t *p = grow_front(b, bytes);
    if (!p) return 0;
    memcpy(p, structs, bytes); /* already wire images */
  }
  if (push_scalar(b, count, 4)) return 0;
  return (qat_fb_off)b->size;
}

/* ---- tables ---- */

int qat_fb_start_table(qat_fb_builder *b, unsigned n_fields) {
  int rc = not_nested(b, "start_table");
  if (rc) return rc;
  if (n_fields > QAT_FB_MAX_FIELDS)
    return fail(b, QAT_ERR_INTERNAL, "start_table: %u fields, more than a vtable holds (%d)",
                n_fields, QAT_FB_MAX_FIELDS);
  if (n_fields > b->field_pos_cap) {
    uint32_t *p = realloc(b->field_pos, n_fields * sizeof *p);
    if (!p) return fail(b, QAT_ERR_NOMEM, "out of memory for a table of %u fields", n_fields);
    b->field_pos = p;
    b->field_pos_cap = n_fields;
  }
  if (n_fields) memset(b->field_pos, 0, n_fields * sizeof *b->field_pos);
  b->n_fields = n_fields;
  b->n_vt_entries = 0;
  b->table_start = (uint32_t)b->size;
  b->in_table = true;
  return 0;
}

static int check_field(qat_fb_builder *b, const char *op, unsigned field) {
  int rc = usable(b, op);
  if (rc) return rc;
  if (!b->in_table) return fail(b, QAT_ERR_INTERNAL, "%s outside a table", op);
  if (field >= b->n_fields)
    return fail(b, QAT_ERR_INTERNAL, "%s: field %u out of range (the table has %u)", op, field,
                b->n_fields);
  if (b->field_pos[field])
    return fail(b, QAT_ERR_INTERNAL, "%s: field %u set twice", op, field);
  return 0;
}

/* Remembers where field's value ends up (the current front) for end_table. */
static void track_field(qat_fb_builder *b, unsigned field) {
  b->field_pos[field] = (uint32_t)b->size;
  if (field + 1 > b->n_vt_entries) b->n_vt_entries = field + 1;
}

static int add_scalar(qat_fb_builder *b, const char *op, unsigned field, uint64_t bits, size_t n,
                      bool is_default) {
  int rc = check_field(b, op, field);
  if (rc) return rc;
  /* Omitted fields read back as the schema default: smaller files, as the official builder. */
  if (is_default && !b->force_defaults) return 0;
  rc = push_scalar(b, bits, n);
  if (rc) return rc;
  track_field(b, field);
  return 0;
}

#define QAT_FB_ADD_INT(name, type, utype)                                                     \
  int qat_fb_add_scalar_##name(qat_fb_builder *b, unsigned field, type value,                 \
                               type default_value) {                                          \
    return add_scalar(b, "add_scalar_" #name, field, (uint64_t)(utype)value, sizeof(type),    \
                      value == default_value);                                                \
  }
QAT_FB_ADD_INT(u8, uint8_t, uint8_t)
QAT_FB_ADD_INT(i8, int8_t, uint8_t)
QAT_FB_ADD_INT(u16, uint16_t, uint16_t)
QAT_FB_ADD_INT(i16, int16_t, uint16_t)
QAT_FB_ADD_INT(u32, uint32_t, uint32_t)
QAT_FB_ADD_INT(i32, int32_t, uint32_t)
QAT_FB_ADD_INT(u64, uint64_t, uint64_t)
QAT_FB_ADD_INT(i64, int64_t, uint64_t)
#undef QAT_FB_ADD_INT

int qat_fb_add_scalar_bool(qat_fb_builder *b, unsigned field, bool value, bool default_value) {
  return add_scalar(b, "add_scalar_bool", field, value ? 1 : 0, 1, value == default_value);
}

/* Floats compare by bits: -0.0 differs from a 0.0 default and NaN matches a NaN default. */
int qat_fb_add_scalar_f32(qat_fb_builder *b, unsigned field, float value, float default_value) {
  uint32_t v, d;
  memcpy(&v, &value, 4);
  memcpy(&d, &default_value, 4);
  return add_scalar(b, "add_scalar_f32", field, v, 4, v == d);
}

int qat_fb_add_scalar_f64(qat_fb_builder *b, unsigned field, double value,
                          double default_value) {
  uint64_t v, d;
  memcpy(&v, &value, 8);
  memcpy(&d, &default_value, 8);
  return add_scalar(b, "add_scalar_f64", field, v, 8, v == d);
}

int qat_fb_add_offset(qat_fb_builder *b, unsigned field, qat_fb_off off) {
  int rc = check_field(b, "add_offset", field);
  if (rc) return rc;
  if (!off) return 0;
  /* The target must precede the table: anything else is a stale or foreign offset. */
  if (off > b->table_start)
    return fail(b, QAT_ERR_INTERNAL,
                "add_offset: field %u refers to offset %u, not an object written before the "
                "table (at %u)",
                field, (unsigned)off, (unsigned)b->table_start);
  rc = push_ref(b, off);
  if (rc) return rc;
  track_field(b, field);
  return 0;
}

int qat_fb_add_struct(qat_fb_builder *b, unsigned field, const void *image, size_t size,
                      size_t align_) {
  int rc = check_field(b, "add_struct", field);
  if (rc) return rc;
  if (!image) return 0;
  rc = check_struct(b, "add_struct", size, align_);
  if (rc) return rc;
  if (size > 0xffff) return fail(b, QAT_ERR_UNSUPPORTED, "add_struct: %zu bytes inline", size);
  rc = align(b, align_);
  if (rc) return rc;
  uint8_t *p = grow_front(b, size);
  if (!p) return b->status;
  memcpy(p, image, size);
  track_field(b, field);
  return 0;
}

int qat_fb_add_union(qat_fb_builder *b, unsigned type_field, uint8_t type, qat_fb_off value) {
  int rc = usable(b, "add_union");
  if (rc) return rc;
  if (!type && !value) return 0;
  if (!type || !value)
    return fail(b, QAT_ERR_INTERNAL, "add_union: field %u has type %u but value offset %u",
                type_field, (unsigned)type, (unsigned)value);
  rc = qat_fb_add_offset(b, type_field + 1, value);
  if (rc) return rc;
  return qat_fb_add_scalar_u8(b, type_field, type, 0);
}

qat_fb_off qat_fb_end_table(qat_fb_builder *b) {
  if (usable(b, "end_table")) return 0;
  if (!b->in_table) return fail(b, QAT_ERR_INTERNAL, "end_table without start_table"), 0;
  /* The table begins with an int32 pointing at its vtable, filled in below. */
  if (push_scalar(b, 0, 4)) return 0;
  uint32_t table_pos = (uint32_t)b->size;
  size_t table_size = table_pos - b->table_start;
  if (table_size > 0xffff)
    return fail(b, QAT_ERR_UNSUPPORTED,
                "table of %zu bytes: a vtable addresses at most 64 KiB of inline fields",
                table_size),
           0;
  /* vtable: uint16 vtable size, uint16 table size, then one uint16 per field id up to the
   * highest one set: the field's offset from the table start, or 0 when absent. It sits
   * right in front of the table, with no padding (both sizes are even). */
  size_t vt_size = 4 + 2 * (size_t)b->n_vt_entries;
  uint8_t *vt = grow_front(b, vt_size);
  if (!vt) return 0;
  qat_fb_store_u16(vt, (uint16_t)vt_size);
  qat_fb_store_u16(vt + 2, (uint16_t)table_size);
  for (unsigned i = 0; i < b->n_vt_entries; i++) {
    uint32_t pos = b->field_pos[i];
    qat_fb_store_u16(vt + 4 + 2 * i, (uint16_t)(pos ? table_pos - pos : 0));
  }
  b->in_table = false;

  /* Share an identical vtable written earlier, as the official builder does: tables of one
   * type with the same fields set (every Tensor of a model, say) then cost no vtable each. */
  uint32_t vt_pos = (uint32_t)b->size;
  for (size_t i = 0; i < b->n_vtables; i++) {
    const uint8_t *old = at(b, b->vtables[i]);
    if ((size_t)(old[0] | old[1] << 8) == vt_size && !memcmp(old, vt, vt_size)) {
      vt_pos = b->vtables[i];
      b->size -= vt_size;
      break;
    }
  }
  if (vt_pos == b->size) {
    if (b->n_vtables == b->vtables_cap) {
      size_t cap = b->vtables_cap ? 2 * b->vtables_cap : 16;
      uint32_t *p = realloc(b->vtables, cap * sizeof *p);
      if (!p) return fail(b, QAT_ERR_NOMEM, "out of memory for the vtable list"), 0;
      b->vtables = p;
      b->vtables_cap = cap;
    }
    b->vtables[b->n_vtables++] = vt_pos;
  }
  /* vtable address = table address - soffset. A new vtable lies in front of the table
   * (positive); a shared older one may lie behind it (negative). */
  int64_t soff = (int64_t)vt_pos - (int64_t)table_pos;
  qat_fb_store_u32(at(b, table_pos), (uint32_t)(int32_t)soff);
  return table_pos;
}

/* ---- finishing ---- */

int qat_fb_finish(qat_fb_builder *b, qat_fb_off root, const char *file_identifier) {
  int rc = not_nested(b, "finish");
  if (rc) return rc;
  size_t id_len = file_identifier ? strlen(file_identifier) : 0;
  if (file_identifier && id_len != QAT_FB_FILE_ID_LEN)
    return fail(b, QAT_ERR_INTERNAL, "finish: file identifier \"%s\" is not %d characters",
                file_identifier, QAT_FB_FILE_ID_LEN);
  if (!root || root > b->size)
    return fail(b, QAT_ERR_INTERNAL, "finish: root offset %u is not a written table",
                (unsigned)root);
  /* Pad so that after the root offset (and identifier) the size is a multiple of the largest
   * alignment used: the buffer start, byte 0, is then aligned for every object inside. */
  rc = prealign(b, 4 + id_len, b->min_align);
  if (rc) return rc;
  if (id_len) {
    uint8_t *p = grow_front(b, id_len);
    if (!p) return b->status;
    memcpy(p, file_identifier, id_len);
  }
  rc = push_ref(b, root);
  if (rc) return rc;
  b->finished = true;
  b->n_vtables = 0; /* no more tables: nothing left to share with */
  return 0;
}

const uint8_t *qat_fb_data(const qat_fb_builder *b, size_t *size) {
  if (!b->finished || b->status) {
    if (size) *size = 0;
    return NULL;
  }
  if (size) *size = b->size;
  return b->buf + b->cap - b->size;
}
