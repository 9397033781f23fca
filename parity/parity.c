/* The parity report (include/qat/parity.h): a quantization-aware model against its int8 (or
 * int16x8) file, layer by layer. The model runs a batch twice (float, then fake quant); the
 * file runs each sample of the batch on its own (batch 1), with every intermediate tensor kept
 * readable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/export.h"
#include "qat/fq.h"
#include "qat/layer.h"
#include "qat/parity.h"
#include "qat/quant.h"

typedef enum map_kind {
  MAP_INPUT,   /* the model input, quantized */
  MAP_LAYER,   /* a layer's (fake-quantized) output */
  MAP_SOFTMAX, /* the final softmax the loss folds in, applied to the logits */
} map_kind;

typedef struct mapped {
  map_kind kind;
  void *want;      /* the fake-quant model's values of one sample, quantized (the file's type) */
  int produced;    /* an op's output (else the graph input: no op of its own to run alone) */
  int64_t per;     /* values per sample */
  float *floats;   /* the float model's values for the current batch */
  float *softmax;  /* MAP_SOFTMAX: the fake-quant model's probabilities of one sample */
} mapped;

static int find_layer(const qat_model *m, const char *name, size_t len) {
  for (int li = 0; li < m->spec.n_layers; li++)
    if (strlen(m->spec.layers[li].name) == len && !strncmp(m->spec.layers[li].name, name, len)) return li;
  return -2;
}

static int ends_with(const char *s, size_t len, const char *suffix) {
  size_t n = strlen(suffix);
  return len >= n && !memcmp(s + len - n, suffix, n);
}

/* The layer an int8 tensor of the exporter names ("conv2d", "dense/linear", "input/int8"), or
 * -2 when it names none. */
static int tensor_layer(const qat_model *m, const char *name, map_kind *kind) {
  size_t len = strlen(name);
  if (ends_with(name, len, "/int8")) len -= 5;
  else if (ends_with(name, len, "/int16")) len -= 6;
  int linear = ends_with(name, len, "/linear");
  if (linear) len -= 7;
  if (len == 5 && !strncmp(name, "input", 5) && !linear) {
    *kind = MAP_INPUT;
    return -1;
  }
  int li = find_layer(m, name, len);
  *kind = li == m->spec.n_layers - 1 && m->final_softmax && !linear ? MAP_SOFTMAX : MAP_LAYER;
  return li;
}

static int64_t per_sample(const qat_tensor *t) {
  int64_t n = 1;
  for (int d = 1; d < t->rank; d++) n *= t->dims[d];
  return n;
}

static void softmax_row(const float *logits, int n, float *p) {
  double mx = logits[0], sum = 0;
  for (int j = 1; j < n; j++)
    if (logits[j] > mx) mx = logits[j];
  for (int j = 0; j < n; j++) sum += exp((double)logits[j] - mx);
  for (int j = 0; j < n; j++) p[j] = (float)(exp((double)logits[j] - mx) / sum);
}

/* A softmax over the last axis (k classes) at each of a sample's positions (per values). */
static void softmax_rows(const float *logits, int64_t per, int k, float *p) {
  for (int64_t r = 0; r < per; r += k) softmax_row(logits + r, k, p + r);
}

/* The file's integers: int8, or int16 in a 16x8 file. */
typedef struct grid {
  int type; /* QAT_RT_INT8 or QAT_RT_INT16 */
  int qmin, qmax;
  size_t size;
} grid;

static int get_q(const grid *g, const void *p, int64_t k) {
  return g->type == QAT_RT_INT16 ? ((const int16_t *)p)[k] : ((const int8_t *)p)[k];
}

static void set_q(const grid *g, void *p, int64_t k, int v) {
  if (g->type == QAT_RT_INT16) ((int16_t *)p)[k] = (int16_t)v;
  else ((int8_t *)p)[k] = (int8_t)v;
}

static void accumulate(qat_parity_stats *s, const grid *g, const void *qv, const void *wantv, const float *f,
                       int64_t n, float scale, int32_t zp) {
  const float lo = (float)(g->qmin - zp) * scale, hi = (float)(g->qmax - zp) * scale;
  for (int64_t k = 0; k < n; k++) {
    const int q = get_q(g, qv, k);
    int d = abs(q - get_q(g, wantv, k));
    s->identical += d == 0;
    s->sum_lsb += d;
    if (d > s->max_lsb) s->max_lsb = d;
    double err = (double)f[k] - (double)(q - zp) * scale;
    s->signal += (double)f[k] * f[k];
    s->noise += err * err;
    s->clipped += f[k] < lo || f[k] > hi;
    s->saturated += (q == g->qmax && zp != g->qmax) || (q == g->qmin && zp != g->qmin);
  }
  s->values += n;
}

static void accumulate_local(qat_parity_stats *s, const grid *g, const void *q, const void *want, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    int d = abs(get_q(g, q, k) - get_q(g, want, k));
    s->local_identical += d == 0;
    if (d > s->local_max_lsb) s->local_max_lsb = d;
  }
}

int qat_parity_target_missed(const qat_parity_report *r, char *buf, size_t n) {
  const qat_parity_stats *o = &r->layers[r->output].s, *lg = &r->layers[r->logits].s;
  const double same = qat_parity_share(o->identical, o->values), top1 = qat_parity_share(r->top1_agree, r->samples),
               saturated = qat_parity_share(lg->saturated, lg->values);
  int missed = 0;
  size_t at = 0;
  if (n) buf[0] = 0;
#define MISSED(...)                                                                          \
  do {                                                                                       \
    if (at < n) at += (size_t)snprintf(buf + at, n - at, "%s", missed ? "; " : "");           \
    if (at < n) at += (size_t)snprintf(buf + at, n - at, __VA_ARGS__);                        \
    missed++;                                                                                \
  } while (0)
  if (same < QAT_PARITY_TARGET_IDENTICAL)
    MISSED("%.2f %% of outputs bit-identical (target >= %.0f %%)", 100 * same, 100 * QAT_PARITY_TARGET_IDENTICAL);
  if (o->max_lsb > QAT_PARITY_TARGET_MAX_LSB)
    MISSED("max %lld LSB (target <= %d)", (long long)o->max_lsb, QAT_PARITY_TARGET_MAX_LSB);
  if (top1 < QAT_PARITY_TARGET_TOP1)
    MISSED("top-1 agreement %.2f %% (target >= %.1f %%)", 100 * top1, 100 * QAT_PARITY_TARGET_TOP1);
  if (saturated >= QAT_PARITY_TARGET_SATURATED)
    MISSED("logits saturated %.2f %% (target < %.0f %%: the int8 logits' range cuts what the model computes)",
           100 * saturated, 100 * QAT_PARITY_TARGET_SATURATED);
#undef MISSED
  return missed;
}

double qat_parity_sqnr_db(const qat_parity_stats *s) {
  if (s->noise == 0) return s->signal > 0 ? INFINITY : 0.0;
  return 10.0 * log10(s->signal / s->noise);
}

void qat_parity_free(qat_parity_report *r) {
  free(r->layers);
  memset(r, 0, sizeof *r);
}

/* Finds the file's int8 tensors that name the model's input or layers, in execution order. */
static int map_tensors(qat_model *m, qat_rt_model *rt, const grid *g, qat_parity_report *r, mapped *map, int cap) {
  int n = 0;
  int n_ops = qat_rt_num_ops(rt);
  for (int k = -1; k < n_ops; k++) {
    qat_rt_op_info op = {0};
    int n_out = 1;
    if (k >= 0) {
      qat_rt_op(rt, k, &op);
      n_out = op.n_outputs;
    }
    for (int o = 0; o < n_out; o++) {
      int ti = k < 0 ? qat_rt_input(rt, 0) : op.outputs[o];
      qat_rt_tensor_info t;
      if (qat_rt_tensor(rt, ti, &t) || t.type != g->type || t.is_const || t.n_scales != 1) continue;
      map_kind kind;
      int li = tensor_layer(m, t.name, &kind);
      if (li < -1) continue;
      if (n == cap) return qat_fail(QAT_ERR_USAGE, "more than %d int8 tensors", cap);
      int64_t per = li < 0 ? per_sample(m->input) : per_sample(m->layer_out[li]);
      if (per != t.n_elems)
        return qat_fail(QAT_ERR_USAGE, "tensor %d '%s' has %lld values, the model's layer %lld per sample", ti,
                        t.name, (long long)t.n_elems, (long long)per);
      qat_parity_layer *L = &r->layers[n];
      L->tensor = ti;
      L->layer = li;
      L->name = t.name;
      L->op = k < 0 ? "input" : op.name;
      L->scale = t.scales[0];
      L->zero_point = (int32_t)t.zero_points[0];
      map[n].kind = kind;
      map[n].per = per;
      map[n].produced = k >= 0;
      n++;
    }
  }
  r->n_layers = n;
  if (n == 0) return qat_fail(QAT_ERR_USAGE, "no int8 tensor of the file names a layer of the model");
  /* the output layer's tensor; a layer that vanishes at inference (a linear Activation, as
   * keras.applications' 'predictions' with classifier_activation None; Dropout) is its input's */
  int last = m->spec.n_layers - 1;
  while (last > 0 && qat_layer_range_of(&m->spec.layers[last]) == QAT_RANGE_IDENTITY &&
         qat_layer_input(&m->spec, last, 0) >= 0)
    last = qat_layer_input(&m->spec, last, 0);
  r->output = -1;
  for (int i = 0; i < n; i++)
    if (r->layers[i].layer == last && map[i].kind != MAP_LAYER) r->output = i;
  if (r->output < 0)
    for (int i = 0; i < n; i++)
      if (r->layers[i].layer == last) r->output = i;
  if (r->output < 0)
    return qat_fail(QAT_ERR_USAGE, "no int8 tensor of the file is the model's output layer '%s'",
                    m->spec.layers[last].name);
  r->logits = r->output;
  for (int i = 0; i < n; i++)
    if (i != r->output && r->layers[i].layer == last && map[i].kind == MAP_LAYER) r->logits = i;
  return 0;
}

static void fill_input(const qat_rt_tensor_info *in, const float *x, int64_t n, void *dst) {
  if (in->type == QAT_RT_FLOAT32) {
    memcpy(dst, x, (size_t)n * sizeof *x);
  } else if (in->type == QAT_RT_INT16) {
    for (int64_t k = 0; k < n; k++)
      ((int16_t *)dst)[k] =
          (int16_t)qat_quantize_value(x[k], in->scales[0], (int32_t)in->zero_points[0], -32768, 32767);
  } else if (in->type == QAT_RT_INT8) {
    for (int64_t k = 0; k < n; k++)
      ((int8_t *)dst)[k] = (int8_t)qat_quantize_value(x[k], in->scales[0], (int32_t)in->zero_points[0], -128, 127);
  } else {
    for (int64_t k = 0; k < n; k++)
      ((uint8_t *)dst)[k] = (uint8_t)qat_quantize_value(x[k], in->scales[0], (int32_t)in->zero_points[0], 0, 255);
  }
}

/* A 16x8 file: every activation quantizer of the model moves to the file's grid (int16,
 * symmetric, zero point 0, the scale the exporter derives from the same observed range:
 * qat_export_int16x8_act_params; fixed ranges to TFLite's 1/32768); conv, depthwise and dense
 * and add outputs requantized as the 16x8 kernels do (qat_fq.wide), AVERAGE_POOL_2D's rounded
 * average as it is (the same in int16), the other int8 simulations (MEAN, MUL, ...) replaced by
 * plain rounding. QAT trains on the int8 grid, so this is
 * the 16-bit fake-quant model of the same weights and ranges. */
static int simulate_int16x8(qat_model *m) {
  for (int i = 0; i < m->n_fq; i++) {
    qat_fq *fq = m->fq[i];
    if (fq->role != QAT_FQ_ACTIVATION) continue;
    if (fq->learned)
      return qat_fail(QAT_ERR_UNSUPPORTED, "a 16x8 parity report of learned (LSQ) activation ranges");
    float s = 1.0f / 32768.0f;
    int64_t zp = 0;
    int rc = fq->fixed ? QAT_OK : qat_export_int16x8_act_params(fq, &s, &zp);
    if (rc) return rc;
    fq->qmin = -32768;
    fq->qmax = 32767;
    fq->scale[0] = s;
    fq->zero_point[0] = 0;
    qat_quant_nudged_range(s, 0, fq->qmin, fq->qmax, &fq->nudged_min[0], &fq->nudged_max[0]);
    fq->observer.initialized = 0; /* the parameters stay as set (the report never trains) */
    fq->valid = 1;
    /* conv, depthwise, dense and add: the 16x8 kernels' requantization; MEAN's is the int8
     * one on the int16 bounds; the rest plain */
    const int wide = fq->requant == QAT_REQUANT_FIXED_POINT || fq->requant == QAT_REQUANT_DOUBLE ||
                     fq->requant == QAT_REQUANT_ADD;
    if (!wide && fq->requant != QAT_REQUANT_MEAN) fq->requant = QAT_REQUANT_NONE;
    fq->wide = wide;
  }
  return QAT_OK;
}

int qat_parity_run(qat_model *m, qat_rt_model *rt, const qat_dataset *ds, qat_parity_report *r) {
  memset(r, 0, sizeof *r);
  if (m->n_fq == 0)
    return qat_fail(QAT_ERR_USAGE, "the checkpoint's model has no quantizers: train it with quantize: {mode: qat}");
  if (qat_rt_num_inputs(rt) != 1 || qat_rt_num_outputs(rt) != 1)
    return qat_fail(QAT_ERR_USAGE, "the file has %d inputs and %d outputs (a classifier has 1 and 1)",
                    qat_rt_num_inputs(rt), qat_rt_num_outputs(rt));
  qat_rt_tensor_info in, out;
  int in_index = qat_rt_input(rt, 0), out_index = qat_rt_output(rt, 0);
  qat_rt_tensor(rt, in_index, &in);
  qat_rt_tensor(rt, out_index, &out);
  int64_t per_in = (int64_t)ds->h * ds->w * ds->c;
  if (in.n_elems != per_in || per_sample(m->input) != per_in)
    return qat_fail(QAT_ERR_USAGE, "the file's input takes %lld values, the model %lld, a sample has %lld",
                    (long long)in.n_elems, (long long)per_sample(m->input), (long long)per_in);
  if (in.type != QAT_RT_FLOAT32 &&
      !((in.type == QAT_RT_INT8 || in.type == QAT_RT_UINT8 || in.type == QAT_RT_INT16) && in.n_scales == 1))
    return qat_fail(QAT_ERR_USAGE,
                    "the file's input is %s without one scale (expected float32, int8, uint8 or int16)",
                    qat_rt_type_name(in.type));
  /* int16 activations anywhere (the output is one): a 16x8 file, compared on its own grid */
  grid g = {QAT_RT_INT8, -128, 127, 1};
  if (out.type == QAT_RT_INT16 || in.type == QAT_RT_INT16) {
    g = (grid){QAT_RT_INT16, -32768, 32767, 2};
    r->int16 = 1;
    int rc16 = simulate_int16x8(m);
    if (rc16) return rc16;
  }
  int cap = qat_rt_num_tensors(rt);
  r->layers = calloc((size_t)cap, sizeof *r->layers);
  mapped *map = calloc((size_t)cap, sizeof *map);
  const int batch = m->max_batch;
  float *x = malloc((size_t)batch * (size_t)per_in * sizeof *x);
  int32_t *y = malloc((size_t)batch * sizeof *y);
  int *float_pred = malloc((size_t)batch * sizeof *float_pred);
  int *entry_of = NULL; /* tensor -> index into r->layers, or -1 */
  qat_batcher b;
  int rc = qat_batcher_init(&b, ds, batch, 0, 0, 0);
  if (rc) {
    free(r->layers), free(map), free(x), free(y), free(float_pred);
    r->layers = NULL;
    return rc;
  }
  if (!r->layers || !map || !x || !y || !float_pred) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory for the parity report");
    goto done;
  }
  if ((rc = map_tensors(m, rt, &g, r, map, cap))) goto done;
  if (!(entry_of = malloc((size_t)cap * sizeof *entry_of))) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory for the parity report");
    goto done;
  }
  for (int t = 0; t < cap; t++) entry_of[t] = -1;
  for (int i = 0; i < r->n_layers; i++) entry_of[r->layers[i].tensor] = i;
  const int classes = (int)per_sample(m->logits); /* values per sample */
  r->classifier = !m->targets && m->positions == 1;
  for (int i = 0; i < r->n_layers; i++) {
    map[i].floats = malloc((size_t)batch * (size_t)map[i].per * sizeof(float));
    map[i].softmax = map[i].kind == MAP_SOFTMAX ? malloc((size_t)classes * sizeof(float)) : NULL;
    map[i].want = malloc((size_t)map[i].per * g.size);
    if (!map[i].floats || !map[i].want || (map[i].kind == MAP_SOFTMAX && !map[i].softmax)) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory for the parity report");
      goto done;
    }
  }
  const qat_exec float_ex = {.training = 0, .fake_quant = 0};
  const qat_exec fq_ex = {.training = 0, .fake_quant = 1, .freeze_observers = 1};
  void *rt_in = qat_rt_tensor_data(rt, in_index);
  const void *rt_out = qat_rt_tensor_data(rt, out_index);
  const int n_ops = qat_rt_num_ops(rt);
  for (int64_t bi = 0; bi < qat_batcher_num_batches(&b); bi++) {
    int n = qat_batcher_get(&b, bi, x, y);
    if (n < 0) {
      rc = n;
      goto done;
    }
    qat_model_forward(m, x, n, &float_ex);
    for (int s = 0; s < n; s++)
      float_pred[s] = qat_rt_argmax(QAT_RT_FLOAT32, m->logits->data + (int64_t)s * classes,
                                    m->targets ? classes : m->num_classes);
    for (int i = 0; i < r->n_layers; i++) {
      int64_t per = map[i].per;
      const int li = r->layers[i].layer;
      if (map[i].kind == MAP_INPUT) memcpy(map[i].floats, x, (size_t)(n * per) * sizeof(float));
      else if (map[i].kind == MAP_LAYER) memcpy(map[i].floats, m->layer_out[li]->data, (size_t)(n * per) * sizeof(float));
      else
        for (int s = 0; s < n; s++)
          softmax_rows(m->logits->data + (int64_t)s * per, per, m->num_classes, map[i].floats + s * per);
    }
    qat_model_forward(m, x, n, &fq_ex);
    for (int s = 0; s < n; s++) {
      const float *xs = x + (int64_t)s * per_in;
      fill_input(&in, xs, per_in, rt_in);
      for (int i = 0; i < r->n_layers; i++) {
        qat_parity_layer *L = &r->layers[i];
        int64_t per = map[i].per;
        const float *ref;
        if (map[i].kind == MAP_INPUT) {
          ref = xs;
        } else if (map[i].kind == MAP_LAYER) {
          ref = m->layer_out[L->layer]->data + s * per;
        } else {
          softmax_rows(m->logits->data + (int64_t)s * per, per, m->num_classes, map[i].softmax);
          ref = map[i].softmax;
        }
        for (int64_t k = 0; k < per; k++)
          set_q(&g, map[i].want, k, qat_quantize_value(ref[k], L->scale, L->zero_point, g.qmin, g.qmax));
      }
      if ((rc = qat_rt_invoke(rt))) goto done;
      for (int i = 0; i < r->n_layers; i++) {
        accumulate(&r->layers[i].s, &g, qat_rt_tensor_data(rt, r->layers[i].tensor), map[i].want,
                   map[i].floats + s * map[i].per, map[i].per, r->layers[i].scale, r->layers[i].zero_point);
        if (!map[i].produced) r->layers[i].s.local_identical = r->layers[i].s.identical;
      }
      /* one class per sample: its top-1; a segmenter's positions each (agreement needs all of them) */
      const int64_t k = m->targets ? out.n_elems : m->num_classes;
      const size_t es = out.n_elems ? out.bytes / (size_t)out.n_elems : 1;
      const float *fq_out = m->logits->data + (int64_t)s * classes;
      int int8_pred = qat_rt_argmax(out.type, rt_out, k), all_agree = 1;
      for (int64_t pos = k; pos < out.n_elems; pos += k)
        all_agree &= qat_rt_argmax(out.type, (const uint8_t *)rt_out + (size_t)pos * es, k) ==
                     qat_rt_argmax(QAT_RT_FLOAT32, fq_out + pos, k);
      /* each op alone, on the fake-quant model's values of its inputs */
      for (int k = 0; k < n_ops; k++) {
        qat_rt_op_info op;
        qat_rt_op(rt, k, &op);
        for (int j = 0; j < op.n_inputs; j++)
          if (op.inputs[j] >= 0 && entry_of[op.inputs[j]] >= 0)
            memcpy(qat_rt_tensor_data(rt, op.inputs[j]), map[entry_of[op.inputs[j]]].want,
                   (size_t)map[entry_of[op.inputs[j]]].per * g.size);
        if ((rc = qat_rt_invoke_ops(rt, k, k + 1))) goto done;
        for (int j = 0; j < op.n_outputs; j++) {
          int e = entry_of[op.outputs[j]];
          if (e >= 0)
            accumulate_local(&r->layers[e].s, &g, qat_rt_tensor_data(rt, op.outputs[j]), map[e].want, map[e].per);
        }
      }
      int fq_pred = qat_rt_argmax(QAT_RT_FLOAT32, fq_out, k);
      r->float_correct += float_pred[s] == y[s];
      r->fakequant_correct += fq_pred == y[s];
      r->int8_correct += int8_pred == y[s];
      r->top1_agree += fq_pred == int8_pred && all_agree;
    }
    r->samples += n;
  }
done:
  for (int i = 0; map && i < cap; i++) {
    free(map[i].floats);
    free(map[i].softmax);
    free(map[i].want);
  }
  free(entry_of);
  free(map);
  free(x);
  free(y);
  free(float_pred);
  qat_batcher_free(&b);
  return rc;
}
