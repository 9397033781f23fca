/* The parity report (include/qat/parity.h): a quantization-aware model against its int8 file,
 * layer by layer. The model runs a batch twice (float, then fake quant); the file runs each
 * sample of the batch on its own (batch 1), with every intermediate tensor kept readable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/parity.h"
#include "qat/quant.h"

typedef enum map_kind {
  MAP_INPUT,   /* the model input, quantized */
  MAP_LAYER,   /* a layer's (fake-quantized) output */
  MAP_SOFTMAX, /* the final softmax the loss folds in, applied to the logits */
} map_kind;

typedef struct mapped {
  map_kind kind;
  int8_t *want;    /* the fake-quant model's values of one sample, quantized */
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

static void accumulate(qat_parity_stats *s, const int8_t *q, const int8_t *want, const float *f, int64_t n,
                       float scale, int32_t zp) {
  const float lo = (float)(-128 - zp) * scale, hi = (float)(127 - zp) * scale;
  for (int64_t k = 0; k < n; k++) {
    int d = abs((int)q[k] - (int)want[k]);
    s->identical += d == 0;
    s->sum_lsb += d;
    if (d > s->max_lsb) s->max_lsb = d;
    double err = (double)f[k] - (double)(q[k] - zp) * scale;
    s->signal += (double)f[k] * f[k];
    s->noise += err * err;
    s->clipped += f[k] < lo || f[k] > hi;
    s->saturated += (q[k] == 127 && zp != 127) || (q[k] == -128 && zp != -128);
  }
  s->values += n;
}

static void accumulate_local(qat_parity_stats *s, const int8_t *q, const int8_t *want, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    int d = abs((int)q[k] - (int)want[k]);
    s->local_identical += d == 0;
    if (d > s->local_max_lsb) s->local_max_lsb = d;
  }
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
static int map_tensors(qat_model *m, qat_rt_model *rt, qat_parity_report *r, mapped *map, int cap) {
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
      if (qat_rt_tensor(rt, ti, &t) || t.type != QAT_RT_INT8 || t.is_const || t.n_scales != 1) continue;
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
  r->output = -1;
  for (int i = 0; i < n; i++)
    if (r->layers[i].layer == m->spec.n_layers - 1 && map[i].kind != MAP_LAYER) r->output = i;
  if (r->output < 0)
    for (int i = 0; i < n; i++)
      if (r->layers[i].layer == m->spec.n_layers - 1) r->output = i;
  if (r->output < 0)
    return qat_fail(QAT_ERR_USAGE, "no int8 tensor of the file is the model's output layer '%s'",
                    m->spec.layers[m->spec.n_layers - 1].name);
  return 0;
}

static void fill_input(const qat_rt_tensor_info *in, const float *x, int64_t n, void *dst) {
  if (in->type == QAT_RT_FLOAT32) {
    memcpy(dst, x, (size_t)n * sizeof *x);
  } else if (in->type == QAT_RT_INT8) {
    for (int64_t k = 0; k < n; k++)
      ((int8_t *)dst)[k] = (int8_t)qat_quantize_value(x[k], in->scales[0], (int32_t)in->zero_points[0], -128, 127);
  } else {
    for (int64_t k = 0; k < n; k++)
      ((uint8_t *)dst)[k] = (uint8_t)qat_quantize_value(x[k], in->scales[0], (int32_t)in->zero_points[0], 0, 255);
  }
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
  if (in.type != QAT_RT_FLOAT32 && !((in.type == QAT_RT_INT8 || in.type == QAT_RT_UINT8) && in.n_scales == 1))
    return qat_fail(QAT_ERR_USAGE, "the file's input is %s without one scale (expected float32, int8 or uint8)",
                    qat_rt_type_name(in.type));
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
  if ((rc = map_tensors(m, rt, r, map, cap))) goto done;
  if (!(entry_of = malloc((size_t)cap * sizeof *entry_of))) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory for the parity report");
    goto done;
  }
  for (int t = 0; t < cap; t++) entry_of[t] = -1;
  for (int i = 0; i < r->n_layers; i++) entry_of[r->layers[i].tensor] = i;
  const int classes = (int)per_sample(m->logits);
  for (int i = 0; i < r->n_layers; i++) {
    map[i].floats = malloc((size_t)batch * (size_t)map[i].per * sizeof(float));
    map[i].softmax = map[i].kind == MAP_SOFTMAX ? malloc((size_t)classes * sizeof(float)) : NULL;
    map[i].want = malloc((size_t)map[i].per);
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
    for (int s = 0; s < n; s++) float_pred[s] = qat_rt_argmax(QAT_RT_FLOAT32, m->logits->data + (int64_t)s * classes, classes);
    for (int i = 0; i < r->n_layers; i++) {
      int64_t per = map[i].per;
      const int li = r->layers[i].layer;
      if (map[i].kind == MAP_INPUT) memcpy(map[i].floats, x, (size_t)(n * per) * sizeof(float));
      else if (map[i].kind == MAP_LAYER) memcpy(map[i].floats, m->layer_out[li]->data, (size_t)(n * per) * sizeof(float));
      else
        for (int s = 0; s < n; s++) softmax_row(m->logits->data + (int64_t)s * per, (int)per, map[i].floats + s * per);
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
          softmax_row(m->logits->data + (int64_t)s * per, (int)per, map[i].softmax);
          ref = map[i].softmax;
        }
        for (int64_t k = 0; k < per; k++)
          map[i].want[k] = (int8_t)qat_quantize_value(ref[k], L->scale, L->zero_point, -128, 127);
      }
      if ((rc = qat_rt_invoke(rt))) goto done;
      for (int i = 0; i < r->n_layers; i++) {
        accumulate(&r->layers[i].s, qat_rt_tensor_data(rt, r->layers[i].tensor), map[i].want,
                   map[i].floats + s * map[i].per, map[i].per, r->layers[i].scale, r->layers[i].zero_point);
        if (!map[i].produced) r->layers[i].s.local_identical = r->layers[i].s.identical;
      }
      int int8_pred = qat_rt_argmax(out.type, rt_out, out.n_elems);
      /* each op alone, on the fake-quant model's values of its inputs */
      for (int k = 0; k < n_ops; k++) {
        qat_rt_op_info op;
        qat_rt_op(rt, k, &op);
        for (int j = 0; j < op.n_inputs; j++)
          if (op.inputs[j] >= 0 && entry_of[op.inputs[j]] >= 0)
            memcpy(qat_rt_tensor_data(rt, op.inputs[j]), map[entry_of[op.inputs[j]]].want,
                   (size_t)map[entry_of[op.inputs[j]]].per);
        if ((rc = qat_rt_invoke_ops(rt, k, k + 1))) goto done;
        for (int j = 0; j < op.n_outputs; j++) {
          int e = entry_of[op.outputs[j]];
          if (e >= 0) accumulate_local(&r->layers[e].s, qat_rt_tensor_data(rt, op.outputs[j]), map[e].want, map[e].per);
        }
      }
      int fq_pred = qat_rt_argmax(QAT_RT_FLOAT32, m->logits->data + (int64_t)s * classes, classes);
      r->float_correct += float_pred[s] == y[s];
      r->fakequant_correct += fq_pred == y[s];
      r->int8_correct += int8_pred == y[s];
      r->top1_agree += fq_pred == int8_pred;
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
