/* The schema-driven FlatBuffers verifier (rules in qat/flatbuf_read.h). */
#include <stdio.h>

#include "qat/error.h"
#include "qat/flatbuf.h"
#include "qat/flatbuf_read.h"

typedef struct fbv {
  const uint8_t *b;
  size_t len;
  const char *name;
  int depth;
  long tables;
  const qat_fb_schema *s;
} fbv;

static int fb_error(const fbv *v, const char *what, size_t at, int tid, const char *field) {
  if (field)
    return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %s at offset 0x%zx (%s.%s)", v->name,
                    what, at, v->s->tables[tid].name, field);
  return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %s at offset 0x%zx (%s)", v->name, what,
                  at, v->s->tables[tid].name);
}

/* n bytes at pos lie inside the buffer (no sum is formed before the comparison). */
static int in_range(const fbv *v, size_t pos, size_t n) {
  return pos <= v->len && n <= v->len - pos;
}

/* The uoffset_t at pos (already range-checked by the caller): its target, or 0 when invalid. */
static size_t follow(const fbv *v, size_t pos) {
  const uint32_t o = qat_fb_rd32(v->b, pos);
  if (o == 0 || o > 0x7fffffffu) return 0;
  if (!in_range(v, pos, (size_t)o + 1)) return 0;
  return pos + o;
}

static int verify_table(fbv *v, size_t t, int tid);

static int verify_vector(fbv *v, size_t pos, size_t esize, uint32_t *count, int tid,
                         const char *field) {
  if (pos % 4) return fb_error(v, "misaligned vector", pos, tid, field);
  if (!in_range(v, pos, 4)) return fb_error(v, "vector out of range", pos, tid, field);
  const uint32_t n = qat_fb_rd32(v->b, pos);
  if ((uint64_t)n >= (QAT_FB_MAX_SIZE - 4) / esize)
    return fb_error(v, "vector length too large", pos, tid, field);
  if (!in_range(v, pos + 4, (size_t)n * esize))
    return fb_error(v, "vector out of range", pos, tid, field);
  *count = n;
  return QAT_OK;
}

static int verify_string(fbv *v, size_t pos, int tid, const char *field) {
  uint32_t n = 0;
  int rc = verify_vector(v, pos, 1, &n, tid, field);
  if (rc) return rc;
  if (!in_range(v, pos + 4 + n, 1)) return fb_error(v, "string out of range", pos, tid, field);
  if (v->b[pos + 4 + n] != 0) return fb_error(v, "string not NUL-terminated", pos, tid, field);
  return QAT_OK;
}

/* An offset field at pos: aligned, inside, and its target. */
static int verify_offset_field(fbv *v, size_t pos, size_t *target, int tid, const char *field) {
  if (pos % 4) return fb_error(v, "misaligned offset", pos, tid, field);
  if (!in_range(v, pos, 4)) return fb_error(v, "offset field out of range", pos, tid, field);
  *target = follow(v, pos);
  if (!*target) return fb_error(v, "offset out of range", pos, tid, field);
  return QAT_OK;
}


static int verify_table_start(fbv *v, size_t t, int tid, qat_fb_vtable *x) {
  char what[64];
  if (++v->depth > v->s->max_depth) {
    snprintf(what, sizeof what, "tables nested deeper than %d", v->s->max_depth);
    return fb_error(v, what, t, tid, NULL);
  }
  if (++v->tables > v->s->max_tables) {
    snprintf(what, sizeof what, "more than %ld tables", v->s->max_tables);
    return fb_error(v, what, t, tid, NULL);
  }
  if (t % 4) return fb_error(v, "misaligned table", t, tid, NULL);
  if (!in_range(v, t, 4)) return fb_error(v, "table out of range", t, tid, NULL);
  const int64_t vt = (int64_t)t - (int64_t)(int32_t)qat_fb_rd32(v->b, t);
  if (vt < 0 || (uint64_t)vt > v->len || !in_range(v, (size_t)vt, 4))
    return fb_error(v, "vtable out of range", t, tid, NULL);
  if (vt % 2) return fb_error(v, "misaligned vtable", (size_t)vt, tid, NULL);
  const uint16_t vsize = qat_fb_rd16(v->b, (size_t)vt);
  const uint16_t tsize = qat_fb_rd16(v->b, (size_t)vt + 2);
  if (vsize < 4 || (vsize & 1) || !in_range(v, (size_t)vt, vsize))
    return fb_error(v, "bad vtable size", (size_t)vt, tid, NULL);
  if (tsize < 4 || !in_range(v, t, tsize))
    return fb_error(v, "table size out of range", t, tid, NULL);
  x->t = t;
  x->vt = (size_t)vt;
  x->n_entries = (unsigned)(vsize - 4) / 2;
  return QAT_OK;
}

static int verify_table(fbv *v, size_t t, int tid) {
  qat_fb_vtable x = {0, 0, 0};
  int rc = verify_table_start(v, t, tid, &x);
  if (rc) return rc;
  const qat_fb_table_desc *d = &v->s->tables[tid];
  for (int i = 0; i < d->n; i++) {
    const qat_fb_field_desc *f = &d->f[i];
    const size_t pos = qat_fb_vt_field(v->b, &x, (unsigned)i);
    if (!pos) continue;
    size_t target = 0;
    uint32_t n = 0;
    switch (f->kind) {
      case QAT_FB_K_S1:
      case QAT_FB_K_UTYPE:
        if (!in_range(v, pos, 1)) return fb_error(v, "field out of range", pos, tid, f->name);
        if (f->kind == QAT_FB_K_UTYPE && v->b[pos] > v->s->union_max[f->arg])
          return fb_error(v, "union type out of range", pos, tid, f->name);
        break;
      case QAT_FB_K_S2:
      case QAT_FB_K_S4:
      case QAT_FB_K_S8: {
        const size_t sz = f->kind == QAT_FB_K_S2 ? 2 : f->kind == QAT_FB_K_S4 ? 4 : 8;
        if (pos % sz) return fb_error(v, "misaligned field", pos, tid, f->name);
        if (!in_range(v, pos, sz)) return fb_error(v, "field out of range", pos, tid, f->name);
        break;
      }
      default:
        if ((rc = verify_offset_field(v, pos, &target, tid, f->name))) return rc;
        break;
    }
    switch (f->kind) {
      case QAT_FB_K_STR:
        if ((rc = verify_string(v, target, tid, f->name))) return rc;
        break;
      case QAT_FB_K_V1:
      case QAT_FB_K_V2:
      case QAT_FB_K_V4:
      case QAT_FB_K_V8: {
        const size_t es = f->kind == QAT_FB_K_V1 ? 1 : f->kind == QAT_FB_K_V2 ? 2 : f->kind == QAT_FB_K_V4 ? 4 : 8;
        if ((rc = verify_vector(v, target, es, &n, tid, f->name))) return rc;
        break;
      }
      case QAT_FB_K_VSTR:
      case QAT_FB_K_VTAB:
        if ((rc = verify_vector(v, target, 4, &n, tid, f->name))) return rc;
        for (uint32_t k = 0; k < n; k++) {
          const size_t epos = target + 4 + (size_t)k * 4;
          const size_t et = follow(v, epos);
          if (!et) return fb_error(v, "vector element offset out of range", epos, tid, f->name);
          rc = f->kind == QAT_FB_K_VSTR ? verify_string(v, et, tid, f->name) : verify_table(v, et, f->arg);
          if (rc) return rc;
        }
        break;
      case QAT_FB_K_TAB:
        if ((rc = verify_table(v, target, f->arg))) return rc;
        break;
      case QAT_FB_K_UVAL: {
        /* The type is the field declared just before the value. */
        const size_t tpos = i > 0 ? qat_fb_vt_field(v->b, &x, (unsigned)i - 1) : 0;
        const unsigned type = tpos && in_range(v, tpos, 1) ? v->b[tpos] : 0;
        if (type > (unsigned)v->s->union_max[f->arg])
          return fb_error(v, "union type out of range", tpos, tid, f->name);
        if (type != 0 && (rc = verify_table(v, target, v->s->union_table(f->arg, type)))) return rc;
        break;
      }
      default: break;
    }
  }
  v->depth--;
  return QAT_OK;
}

int qat_fb_verify(const uint8_t *buf, size_t len, const qat_fb_schema *schema, int root_table,
                  const char *name) {
  fbv v = {buf, len, name, 0, 0, schema};
  if (len > QAT_FB_MAX_SIZE)
    return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %zu bytes, more than 2^31 - 1", name,
                    len);
  if (len < 4) return fb_error(&v, "root offset out of range", 0, root_table, NULL);
  const size_t root = follow(&v, 0);
  if (!root) return fb_error(&v, "root offset out of range", 0, root_table, NULL);
  return verify_table(&v, root, root_table);
}
