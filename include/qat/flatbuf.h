/* A small FlatBuffers builder (binary format as in the official "FlatBuffers internals"
 * document), written because Debian packages no C flatbuffers library and qat vendors no
 * third-party source. It is used by export/ to write .tflite files.
 *
 * Like the official C++ FlatBufferBuilder, it fills a growable buffer from the end towards
 * the front: children are written before their parents, so every reference points forward
 * (to a higher address) and the root offset is written last, at byte 0. An object's position
 * while building is its distance from the end of the buffer (a qat_fb_off); that distance never
 * changes as more is written in front, which is what lets children be referenced before the
 * parent exists.
 *
 * Output is little-endian on every host: scalars are stored byte by byte, never memcpy'd.
 *
 * Usage (one table with a string and an int field, the root of a "TFL3" file):
 *
 *   qat_fb_builder b;
 *   qat_fb_builder_init(&b, 0);
 *   qat_fb_off name = qat_fb_create_string(&b, "hello");
 *   qat_fb_start_table(&b, 2);
 *   qat_fb_add_offset(&b, 0, name);
 *   qat_fb_add_scalar_i32(&b, 1, 42, 0);
 *   qat_fb_off root = qat_fb_end_table(&b);
 *   int rc = qat_fb_finish(&b, root, "TFL3");
 *   if (rc == 0) { size_t n; const uint8_t *bytes = qat_fb_data(&b, &n); ... }
 *   qat_fb_builder_free(&b);
 *
 * Errors are sticky. The first failure (out of memory, the 2 GiB limit, misuse such as starting
 * a table inside a table) records a message with qat_fail() and a status in the builder; from
 * then on every call does nothing: functions returning an offset return 0, functions returning
 * int return that status, and qat_fb_finish() returns it too. A writer may therefore check only
 * the result of qat_fb_finish() (the message of the first error is kept), or check each call.
 * qat_fb_builder_reset() clears the error and starts a new buffer.
 *
 * Field indices are the schema's field ids: fields numbered 0, 1, 2... in declaration order,
 * where a union field takes two ids (its hidden `<name>_type` byte, then the value), as flatc
 * assigns them. */
#ifndef QAT_FLATBUF_H
#define QAT_FLATBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Position of a written object, counted in bytes from the end of the buffer. 0 means "none"
 * (an absent field) or "failed" (see the sticky error above). */
typedef uint32_t qat_fb_off;

/* The format addresses everything with signed/unsigned 32-bit offsets: a buffer must stay
 * below 2 GiB (the official FLATBUFFERS_MAX_BUFFER_SIZE is the same 2^31 - 1). */
#define QAT_FB_MAX_SIZE ((size_t)0x7fffffff)
/* Largest alignment accepted for vectors and structs; the buffer memory itself is allocated
 * with this alignment so that a finished buffer's bytes are aligned in memory as well. */
#define QAT_FB_MAX_ALIGN 64
/* A vtable is a uint16 array (its size, the table's size, one entry per field). */
#define QAT_FB_MAX_FIELDS 32765
#define QAT_FB_FILE_ID_LEN 4

typedef struct qat_fb_builder {
  uint8_t *buf;       /* allocation of cap bytes; the data is its last `size` bytes */
  size_t cap, size;
  size_t initial_cap; /* first allocation's size */
  size_t max_size;    /* QAT_FB_MAX_SIZE unless lowered with qat_fb_builder_set_max_size */
  size_t min_align;   /* largest alignment used so far; finish() aligns the whole buffer to it */
  int status;         /* first error (negative qat_status), or 0 */
  bool finished;
  bool force_defaults;
  /* The table being built (in_table), with the end-relative position of each field's value
   * (0 = not set) for the vtable written by end_table. */
  bool in_table;
  uint32_t table_start;
  unsigned n_fields;
  unsigned n_vt_entries; /* 1 + the highest field id set: the vtable's entry count */
  uint32_t *field_pos;
  size_t field_pos_cap;
  /* End-relative positions of the distinct vtables written so far, for deduplication. */
  uint32_t *vtables;
  size_t n_vtables, vtables_cap;
} qat_fb_builder;

/* Never fails: memory is allocated on first use, with initial_capacity bytes (0 = default). */
void qat_fb_builder_init(qat_fb_builder *b, size_t initial_capacity);
void qat_fb_builder_free(qat_fb_builder *b);
/* Forgets everything written and the sticky error, keeping the memory and the settings (max
 * size, force_defaults) for the next buffer. */
void qat_fb_builder_reset(qat_fb_builder *b);
/* Lowers the size limit (bytes, at most QAT_FB_MAX_SIZE). For callers that want a smaller
 * cap, and for tests of the limit without allocating 2 GiB. */
void qat_fb_builder_set_max_size(qat_fb_builder *b, size_t max_bytes);
/* With force on, qat_fb_add_scalar_* store values even when they equal the default. Can be
 * switched around single calls to force one field. */
void qat_fb_builder_set_force_defaults(qat_fb_builder *b, bool force);
/* 0, or the sticky error's status. */
int qat_fb_builder_status(const qat_fb_builder *b);
/* Bytes written so far (the finished size after qat_fb_finish). */
size_t qat_fb_size(const qat_fb_builder *b);

/* ---- Strings and vectors (never inside a table: build children first). ---- */

/* A string: uint32 length, the bytes, a terminating NUL. */
qat_fb_off qat_fb_create_string(qat_fb_builder *b, const char *s);
qat_fb_off qat_fb_create_string_len(qat_fb_builder *b, const char *s, size_t len);

/* A vector of `count` scalars of elem_size bytes (1, 2, 4 or 8) in host byte order (int8,
 * uint8, int16, int32, int64, float, double...), stored little-endian. The data start is aligned
 * to max(elem_size, alignment); alignment is 0 or a power of two <= QAT_FB_MAX_ALIGN, e.g. 16 for
 * data that a runtime reads with SIMD (the official builder's ForceVectorAlignment). */
qat_fb_off qat_fb_create_vector(qat_fb_builder *b, const void *data, size_t count,
                                size_t elem_size, size_t alignment);
/* A [ubyte] (or [byte]) vector holding `count` host scalars of elem_size bytes each, stored
 * little-endian; its length prefix counts bytes (count * elem_size). This is TFLite's
 * Buffer.data: e.g. an int32 bias as bytes, with alignment 16 (the schema's force_align). */
qat_fb_off qat_fb_create_byte_vector(qat_fb_builder *b, const void *data, size_t count,
                                     size_t elem_size, size_t alignment);
/* A vector of references to tables or strings written earlier (none of them 0). */
qat_fb_off qat_fb_create_offset_vector(qat_fb_builder *b, const qat_fb_off *offs, size_t count);
/* A vector of structs: `count` struct images of struct_size bytes each, already in wire form
 * (little-endian fields with the schema's padding, see qat_fb_store_*), aligned to
 * struct_align (a power of two <= QAT_FB_MAX_ALIGN dividing struct_size). */
qat_fb_off qat_fb_create_struct_vector(qat_fb_builder *b, const void *structs, size_t count,
                                       size_t struct_size, size_t struct_align);

/* ---- Tables ---- */

/* Starts a table with n_fields field ids (the schema's count, union fields counting twice).
 * Tables do not nest: create every child before starting its parent. Field values are laid
 * out in the order they are added; adding larger scalars first packs the table tighter. */
int qat_fb_start_table(qat_fb_builder *b, unsigned n_fields);
/* Scalars: nothing is stored when value == default_value (a reader then sees the schema's
 * default) unless force_defaults is on. Floats compare by bit pattern, so -0.0 is stored when
 * the default is 0.0 and a NaN default is honoured. Each field may be set once. */
int qat_fb_add_scalar_bool(qat_fb_builder *b, unsigned field, bool value, bool default_value);
int qat_fb_add_scalar_u8(qat_fb_builder *b, unsigned field, uint8_t value, uint8_t default_value);
int qat_fb_add_scalar_i8(qat_fb_builder *b, unsigned field, int8_t value, int8_t default_value);
int qat_fb_add_scalar_u16(qat_fb_builder *b, unsigned field, uint16_t value,
                          uint16_t default_value);
int qat_fb_add_scalar_i16(qat_fb_builder *b, unsigned field, int16_t value, int16_t default_value);
int qat_fb_add_scalar_u32(qat_fb_builder *b, unsigned field, uint32_t value,
                          uint32_t default_value);
int qat_fb_add_scalar_i32(qat_fb_builder *b, unsigned field, int32_t value, int32_t default_value);
int qat_fb_add_scalar_u64(qat_fb_builder *b, unsigned field, uint64_t value,
                          uint64_t default_value);
int qat_fb_add_scalar_i64(qat_fb_builder *b, unsigned field, int64_t value, int64_t default_value);
int qat_fb_add_scalar_f32(qat_fb_builder *b, unsigned field, float value, float default_value);
int qat_fb_add_scalar_f64(qat_fb_builder *b, unsigned field, double value, double default_value);
/* A reference to a string, vector or table written before this table was started.
 * off == 0 stores nothing (an absent field). */
int qat_fb_add_offset(qat_fb_builder *b, unsigned field, qat_fb_off off);
/* A struct stored inline in the table: a wire image as for qat_fb_create_struct_vector.
 * NULL stores nothing. */
int qat_fb_add_struct(qat_fb_builder *b, unsigned field, const void *image, size_t size,
                      size_t align);
/* A union is two fields: the type byte at id type_field and the value at type_field + 1 (as
 * flatc numbers them). Type 0 (NONE) with value 0 stores nothing; a type without a value, or
 * a value without a type, is an error. The value is added first, then the type byte; a caller
 * that wants the byte elsewhere in the layout adds the two fields itself. */
int qat_fb_add_union(qat_fb_builder *b, unsigned type_field, uint8_t type, qat_fb_off value);
/* Writes the table's vtable (reusing an identical earlier one) and returns the table's
 * position, or 0 after an error. */
qat_fb_off qat_fb_end_table(qat_fb_builder *b);

/* ---- Finishing ---- */

/* Writes the root offset and the file identifier (exactly 4 characters, e.g. "TFL3", or NULL
 * for none) at bytes 0..7, padding so that the whole buffer's size is a multiple of the largest
 * alignment used. Returns 0 or the first error. The builder accepts nothing more until reset. */
int qat_fb_finish(qat_fb_builder *b, qat_fb_off root, const char *file_identifier);
/* The finished buffer (aligned in memory to the largest alignment used), valid until the
 * builder is reset or freed; NULL when not finished or after an error. */
const uint8_t *qat_fb_data(const qat_fb_builder *b, size_t *size);

/* ---- Little-endian stores, for struct images ---- */

static inline void qat_fb_store_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
/* Written out byte by byte (not as loops) so that compilers merge them into one plain store
 * on little-endian hosts: copying large weight vectors then runs at memcpy speed. */
static inline void qat_fb_store_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static inline void qat_fb_store_u64(uint8_t *p, uint64_t v) {
  qat_fb_store_u32(p, (uint32_t)v);
  qat_fb_store_u32(p + 4, (uint32_t)(v >> 32));
}
/* Floats use the integer byte order, as the format assumes (IEEE-754, same endianness). */
static inline void qat_fb_store_f32(uint8_t *p, float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  qat_fb_store_u32(p, u);
}
static inline void qat_fb_store_f64(uint8_t *p, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  qat_fb_store_u64(p, u);
}

#endif
