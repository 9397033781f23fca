/* The interpreter: each operator's Prepare through the op table (runtime/rt_op.h, one file per
 * operator in runtime/ops/), the arena plan, Invoke, and the public API of qat/runtime.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

int rt_prepare_ops(qat_rt_model *m) {
  for (int k = 0; k < m->n_ops; k++) {
    rt_op *op = &m->ops[k];
    const rt_op_reg *reg = rt_op_find(op->code);
    if (!reg) return rt_unsup(m, k, "not implemented by the qat runtime");
    if (op->version < 1 || op->version > reg->max_version)
      return rt_unsup(m, k, "versions 1 to %d are known", reg->max_version);
    const int rc = reg->prepare(m, k, op);
    if (rc) return rc;
  }
  /* Graph inputs and outputs are read and written by the caller: fixed-size types only. */
  for (int i = 0; i < m->n_inputs; i++) {
    const rt_tensor *t = &m->tensors[m->inputs[i]];
    if (qat_rt_type_size(t->type) == 0)
      return qat_fail(QAT_ERR_UNSUPPORTED, "%s: graph input '%s' has type %s", m->name, t->name,
                      qat_rt_type_name(t->type));
  }
  return QAT_OK;
}

/* ---- arena planning ----------------------------------------------------------------------- */

#define RT_ALIGN 16

typedef struct plan_item {
  int tensor;
  size_t size;
} plan_item;

static int cmp_size_desc(const void *pa, const void *pb) {
  const plan_item *a = pa, *b = pb;
  if (a->size != b->size) return a->size < b->size ? 1 : -1;
  return a->tensor - b->tensor;
}

typedef struct placed {
  size_t off, end;
} placed;
static int cmp_off(const void *pa, const void *pb) {
  const placed *a = pa, *b = pb;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* Greedy by size (as TFLite Micro's GreedyMemoryPlanner): largest first, each at the lowest
 * offset where it overlaps no already placed tensor whose lifetime [first_use, last_use]
 * intersects its own. An op's inputs and outputs are live at the op, so they never alias. */
int rt_plan_arena(qat_rt_model *m) {
  int n = 0, rc = QAT_OK;
  plan_item *items = calloc((size_t)m->n_tensors + 1, sizeof *items);
  placed *busy = calloc((size_t)m->n_tensors + 1, sizeof *busy);
  if (!items || !busy) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    goto cleanup;
  }
  const int keep = m->options.preserve_all_tensors;
  size_t total = 0;
  const size_t cap = m->options.max_arena_bytes;
  for (int i = 0; i < m->n_tensors; i++) {
    rt_tensor *t = &m->tensors[i];
    if (t->const_data || !(t->is_input || t->producer >= 0)) continue;
    if (keep) t->first_use = 0, t->last_use = m->n_ops;
    const size_t sz = (t->bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
    if (sz > cap || sz > cap - total) {
      rc = qat_fail(QAT_ERR_UNSUPPORTED, "%s: activations need more than %zu bytes", m->name,
                    cap);
      goto cleanup;
    }
    total += sz;
    items[n].tensor = i;
    items[n].size = sz;
    n++;
  }
  m->activation_bytes = total;
  qsort(items, (size_t)n, sizeof *items, cmp_size_desc);
  size_t peak = 0;
  for (int j = 0; j < n; j++) {
    rt_tensor *t = &m->tensors[items[j].tensor];
    int nb = 0;
    for (int q = 0; q < j; q++) {
      const rt_tensor *u = &m->tensors[items[q].tensor];
      if (u->first_use <= t->last_use && t->first_use <= u->last_use) {
        busy[nb].off = u->arena_offset;
        busy[nb].end = u->arena_offset + items[q].size;
        nb++;
      }
    }
    qsort(busy, (size_t)nb, sizeof *busy, cmp_off);
    size_t off = 0;
    for (int q = 0; q < nb; q++) {
      if (busy[q].off >= off + items[j].size) break;
      if (busy[q].end > off) off = busy[q].end;
    }
    t->arena_offset = off;
    t->in_arena = 1;
    if (off + items[j].size > peak) peak = off + items[j].size;
  }
  m->arena_bytes = peak;
  m->arena = calloc(peak ? peak : RT_ALIGN, 1); /* malloc alignment (16) suffices: RT_ALIGN */
  if (!m->arena)
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory for a %zu-byte arena", m->name, peak);
cleanup:
  free(items);
  free(busy);
  return rc;
}

/* ---- public API ----------------------------------------------------------------------------- */

int qat_rt_model_load_buffer(const void *data, size_t size, const char *name,
                             const qat_rt_options *opt, qat_rt_model **out) {
  *out = NULL;
  if (!data && size) return qat_fail(QAT_ERR_USAGE, "qat_rt_model_load_buffer: no data");
  if (!name) name = "model";
  qat_rt_options o = opt ? *opt : (qat_rt_options){0};
  if (o.max_file_bytes == 0) o.max_file_bytes = QAT_RT_DEFAULT_MAX_FILE_BYTES;
  if (o.max_arena_bytes == 0) o.max_arena_bytes = QAT_RT_DEFAULT_MAX_ARENA_BYTES;
  if (o.max_file_bytes > 0x7fffffff) o.max_file_bytes = 0x7fffffff;
  if (o.flavor != QAT_RT_FLAVOR_LITERT && o.flavor != QAT_RT_FLAVOR_TFLM)
    return qat_fail(QAT_ERR_USAGE, "%s: unknown runtime flavor %d", name, (int)o.flavor);
  if (size > o.max_file_bytes)
    return qat_fail(QAT_ERR_FORMAT, "%s: %zu bytes, more than the %zu-byte limit for models", name,
                    size, o.max_file_bytes);
  qat_rt_model *m = calloc(1, sizeof *m);
  if (!m) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", name);
  int rc;
  m->options = o;
  m->name = strdup(name);
  /* 16-byte aligned copy (Buffer.data is force_align 16), so constants are used in place. */
  m->file = aligned_alloc(16, (size + 15) / 16 * 16 + 16);
  if (!m->name || !m->file) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory for %zu bytes", name, size);
    goto fail;
  }
  if (size) memcpy(m->file, data, size);
  m->file_len = size;
  if ((rc = rt_read_model(m))) goto fail;
  if ((rc = rt_prepare_ops(m))) goto fail;
  if ((rc = rt_plan_arena(m))) goto fail;
  *out = m;
  return QAT_OK;
fail:
  qat_rt_model_free(m);
  return rc;
}

int qat_rt_model_load_file(const char *path, const qat_rt_options *opt, qat_rt_model **out) {
  *out = NULL;
  const size_t cap =
      opt && opt->max_file_bytes ? opt->max_file_bytes : QAT_RT_DEFAULT_MAX_FILE_BYTES;
  FILE *f = fopen(path, "rb");
  if (!f) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int rc = QAT_OK;
  uint8_t *buf = NULL;
  size_t len = 0, cap_alloc = 0;
  for (;;) {
    if (len == cap_alloc) {
      if (len > cap) break; /* read one byte past the cap to detect an oversized file */
      size_t nc = cap_alloc ? cap_alloc * 2 : 65536;
      if (nc > cap + 1) nc = cap + 1;
      uint8_t *nb = realloc(buf, nc);
      if (!nb) {
        rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory reading the file", path);
        goto done;
      }
      buf = nb;
      cap_alloc = nc;
    }
    const size_t got = fread(buf + len, 1, cap_alloc - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    rc = qat_fail(QAT_ERR_IO, "%s: read error: %s", path, strerror(errno));
    goto done;
  }
  rc = qat_rt_model_load_buffer(buf, len, path, opt, out);
done:
  free(buf);
  fclose(f);
  return rc;
}

void qat_rt_model_free(qat_rt_model *m) {
  if (!m) return;
  rt_free_parsed(m);
  free(m->arena);
  free(m->file);
  free(m->name);
  free(m);
}

int qat_rt_num_tensors(const qat_rt_model *m) { return m->n_tensors; }
int qat_rt_num_ops(const qat_rt_model *m) { return m->n_ops; }
int qat_rt_num_inputs(const qat_rt_model *m) { return m->n_inputs; }
int qat_rt_num_outputs(const qat_rt_model *m) { return m->n_outputs; }
int qat_rt_input(const qat_rt_model *m, int i) {
  return i >= 0 && i < m->n_inputs ? m->inputs[i] : -1;
}
int qat_rt_output(const qat_rt_model *m, int i) {
  return i >= 0 && i < m->n_outputs ? m->outputs[i] : -1;
}
size_t qat_rt_arena_bytes(const qat_rt_model *m) { return m->arena_bytes; }
size_t qat_rt_activation_bytes(const qat_rt_model *m) { return m->activation_bytes; }

/* index in [0, n), or QAT_ERR_USAGE naming what it counts. */
static int check_index(const qat_rt_model *m, const char *what, int index, int n) {
  if (index >= 0 && index < n) return QAT_OK;
  return qat_fail(QAT_ERR_USAGE, "%s: %s index %d out of range (%d %ss)", m->name, what, index, n,
                  what);
}

int qat_rt_tensor(const qat_rt_model *m, int index, qat_rt_tensor_info *info) {
  const int rc = check_index(m, "tensor", index, m->n_tensors);
  if (rc) return rc;
  const rt_tensor *t = &m->tensors[index];
  *info = (qat_rt_tensor_info){.name = t->name,
                               .type = t->type,
                               .rank = t->rank,
                               .dims = t->dims,
                               .n_elems = t->n_elems,
                               .bytes = t->bytes,
                               .buffer = t->buffer,
                               .is_const = t->const_data != NULL,
                               .is_input = t->is_input,
                               .is_output = t->is_output,
                               .n_scales = t->n_q,
                               .scales = t->scales,
                               .zero_points = t->zero_points,
                               .quantized_dimension = t->qdim,
                               .in_arena = t->in_arena,
                               .arena_offset = t->arena_offset};
  return QAT_OK;
}

int qat_rt_op(const qat_rt_model *m, int index, qat_rt_op_info *info) {
  const int rc = check_index(m, "op", index, m->n_ops);
  if (rc) return rc;
  const rt_op *op = &m->ops[index];
  *info = (qat_rt_op_info){.code = op->code,
                           .name = op->name,
                           .version = op->version,
                           .n_inputs = op->n_in,
                           .n_outputs = op->n_out,
                           .inputs = op->in,
                           .outputs = op->out,
                           .macs = op->macs};
  return QAT_OK;
}

void *qat_rt_tensor_data(qat_rt_model *m, int index) {
  return index >= 0 && index < m->n_tensors ? rt_tensor_bytes(m, index) : NULL;
}

int qat_rt_invoke_ops(qat_rt_model *m, int first, int end) {
  if (first < 0 || end > m->n_ops || first > end)
    return qat_fail(QAT_ERR_USAGE, "%s: operators [%d, %d) are not a range of its %d", m->name, first, end,
                    m->n_ops);
  for (int k = first; k < end; k++) {
    rt_op *op = &m->ops[k];
    if (!op->eval) continue; /* done at Prepare (a constant's DEQUANTIZE) */
    const int rc = op->eval(m, k, op);
    if (rc) return rc;
  }
  return QAT_OK;
}

int qat_rt_invoke(qat_rt_model *m) { return qat_rt_invoke_ops(m, 0, m->n_ops); }

float qat_rt_dequantized(const qat_rt_tensor_info *t, const void *data, int64_t k) {
  const float s = t->n_scales ? t->scales[0] : 1.0f, zp = t->n_scales ? (float)t->zero_points[0] : 0.0f;
  switch (t->type) {
  case QAT_RT_INT8: return ((float)((const int8_t *)data)[k] - zp) * s;
  case QAT_RT_UINT8: return ((float)((const uint8_t *)data)[k] - zp) * s;
  case QAT_RT_INT16: return ((float)((const int16_t *)data)[k] - zp) * s;
  case QAT_RT_INT32: return (float)((const int32_t *)data)[k];
  default: return ((const float *)data)[k];
  }
}

int qat_rt_argmax(int type, const void *p, int64_t n) {
  int best = 0;
  if (type == QAT_RT_FLOAT32) {
    const float *v = p;
    float bv = v[0];
    for (int64_t k = 1; k < n; k++)
      if (v[k] > bv || (isnan(bv) && !isnan(v[k]))) bv = v[k], best = (int)k;
  } else if (type == QAT_RT_INT8) {
    const int8_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  } else if (type == QAT_RT_INT16) {
    const int16_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  } else if (type == QAT_RT_UINT8) {
    const uint8_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  } else if (type == QAT_RT_INT32) {
    const int32_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  }
  return best;
}
