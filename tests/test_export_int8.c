/* Tests of the int8 lowering (export/lower_int8.c):
 *   - tiny quantization-aware models (generated configs: conv + ReLU, folded batch norm with
 *     ReLU6, depthwise, residual Add, pools, flatten, global average pool, dense, softmax) get
 *     their ranges from a few training-mode forward passes, are exported int8 and run by qat's
 *     own integer runtime (bit-exact with TFLite's reference kernels): its int8 outputs must
 *     match the fake-quant model's outputs quantized with the output parameters (max 1 LSB,
 *     >= 99 % identical over random inputs);
 *   - uint8 and float32 I/O give the same results through their QUANTIZE / DEQUANTIZE edges;
 *   - the graph: weights' per-channel quantization, bias scales, shared pool ranges, softmax
 *     range, determinism of the serialized bytes;
 *   - errors: a model without QAT (points to calibration), and the validator's rules. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qat/config.h"
#include "qat/data.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/model.h"
#include "qat/quant.h"
#include "qat/rng.h"
#include "qat/runtime.h"
#include "qat/tflite.h"
#include "qat/train.h"

#define BATCH 8

/* One compared tensor: the runtime tensor `tensor` against the output of layer `layer` in the
 * fake-quant model, quantized with the tensor's parameters. strict: bit-identical (the output
 * fake quants requantize as the int8 ops do, qat_fq.requant); otherwise at most `loose` LSB. */
typedef struct compared {
  const char *layer, *tensor;
  int strict, loose;
} compared;

static const char *yaml_plain =
    "model:\n"
    "  input: [12, 12, 2]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 6, kernel_size: 3, activation: relu}\n"
    "    - MaxPooling2D: {name: p1, pool_size: 2}\n"
    "    - Conv2D: {name: c2, filters: 5, kernel_size: 3, padding: same, use_bias: false}\n"
    "    - BatchNormalization: {name: bn2}\n"
    "    - ReLU: {name: r2, max_value: 6}\n"
    "    - AveragePooling2D: {name: p2, pool_size: 2}\n"
    "    - Dropout: {rate: 0.25}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: d1, units: 12, activation: relu}\n"
    "    - Dense: {name: out, units: 7, activation: softmax}\n"
    "data: {dataset: fashion-mnist}\n"
    "quantize: {mode: qat}\n"
    "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: sgd, learning_rate: 0.01}}\n";

static const char *yaml_residual =
    "model:\n"
    "  input: [10, 10, 3]\n"
    "  layers:\n"
    "    - Conv2D: {name: stem, filters: 8, kernel_size: 3, strides: 2, padding: same, use_bias: false}\n"
    "    - BatchNormalization: {name: stem_bn}\n"
    "    - ReLU: {name: stem_relu, max_value: 6}\n"
    "    - DepthwiseConv2D: {name: dw, kernel_size: 3, padding: same, use_bias: false}\n"
    "    - BatchNormalization: {name: dw_bn}\n"
    "    - ReLU: {name: dw_relu}\n"
    "    - Conv2D: {name: proj, filters: 8, kernel_size: 1, use_bias: false}\n"
    "    - BatchNormalization: {name: proj_bn}\n"
    "    - Add: {name: add, inputs: [stem_relu, proj_bn]}\n"
    "    - DepthwiseConv2D: {name: dw2, kernel_size: 3, depth_multiplier: 2, activation: relu6}\n"
    "    - GlobalAveragePooling2D: {name: gap}\n"
    "    - Dense: {name: logits, units: 5}\n"
    "data: {dataset: fashion-mnist}\n"
    "quantize: {mode: qat}\n"
    "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: sgd, learning_rate: 0.01}}\n";

/* Every op simulated exactly by the fake-quant model: the brief's bound end to end. */
static const char *yaml_exact =
    "model:\n"
    "  input: [12, 12, 2]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 8, kernel_size: 3, padding: same, activation: relu}\n"
    "    - MaxPooling2D: {name: p1, pool_size: 2}\n"
    "    - Conv2D: {name: c2, filters: 8, kernel_size: 1, use_bias: false}\n"
    "    - BatchNormalization: {name: bn2}\n"
    "    - ReLU: {name: r2, max_value: 6}\n"
    "    - DepthwiseConv2D: {name: dw, kernel_size: 3, padding: same, use_bias: false}\n"
    "    - BatchNormalization: {name: dw_bn}\n"
    "    - ReLU: {name: dw_relu}\n"
    "    - Conv2D: {name: proj, filters: 8, kernel_size: 1, use_bias: false}\n"
    "    - BatchNormalization: {name: proj_bn}\n"
    "    - Add: {name: add, inputs: [r2, proj_bn]}\n"
    "    - MaxPooling2D: {name: p2, pool_size: 2}\n"
    "    - Dropout: {rate: 0.25}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: d1, units: 16, activation: relu}\n"
    "    - Dense: {name: out, units: 7, activation: softmax}\n"
    "data: {dataset: fashion-mnist}\n"
    "quantize: {mode: qat}\n"
    "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: sgd, learning_rate: 0.01}}\n";

/* AVERAGE_POOL_2D rounds its raw integer sum (half away from zero), which the float average
 * of grid values does not: the fake-quant model's rounding node on the input's grid
 * (QAT_REQUANT_AVG_POOL) does, so every tensor is bit-identical, through the pool and after it.
 * (With the float average the pool differed by 1 LSB and the logits by up to 4.) */
static const compared cmp_plain[] = {
    {"c1", "c1", 1, 0}, {"p1", "p1", 1, 0}, {"r2", "r2", 1, 0}, {"p2", "p2", 1, 0}, {"d1", "d1", 1, 0},
    {"out", "out/linear", 1, 0},
};
/* Conv with folded BN, depthwise, ADD, dense: every op bit-identical, deep in the network. */
static const compared cmp_exact[] = {
    {"c1", "c1", 1, 0},   {"r2", "r2", 1, 0}, {"dw_relu", "dw_relu", 1, 0}, {"proj_bn", "proj_bn", 1, 0},
    {"add", "add", 1, 0}, {"d1", "d1", 1, 0}, {"out", "out/linear", 1, 0},
};
static const compared cmp_tiny[] = {{"r1", "r1", 1, 0}, {"p1", "p1", 1, 0}, {"d", "d/linear", 1, 0}};
/* MEAN too: its centered sum and folded multiplier (QAT_REQUANT_MEAN). */
static const compared cmp_residual[] = {
    {"stem_relu", "stem_relu", 1, 0}, {"add", "add", 1, 0}, {"dw2", "dw2", 1, 0}, {"gap", "gap", 1, 0},
    {"logits", "logits", 1, 0},
};
/* The brief's model: conv with folded batch norm and ReLU6, max pool, flatten, dense, softmax. */
static const char *yaml_tiny =
    "model:\n"
    "  input: [10, 10, 1]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 6, kernel_size: 3, use_bias: false}\n"
    "    - BatchNormalization: {name: bn1}\n"
    "    - ReLU: {name: r1, max_value: 6}\n"
    "    - MaxPooling2D: {name: p1, pool_size: 2}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: d, units: 10, activation: softmax}\n"
    "data: {dataset: fashion-mnist}\n"
    "quantize: {mode: qat}\n"
    "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: sgd, learning_rate: 0.01}}\n";
#define CMP_TINY cmp_tiny, (int)(sizeof cmp_tiny / sizeof *cmp_tiny)
#define CMP_PLAIN cmp_plain, (int)(sizeof cmp_plain / sizeof *cmp_plain)
#define CMP_EXACT cmp_exact, (int)(sizeof cmp_exact / sizeof *cmp_exact)
#define CMP_RESIDUAL cmp_residual, (int)(sizeof cmp_residual / sizeof *cmp_residual)

static qat_model *model_from(const char *yaml, uint64_t seed, qat_config *cfg) {
  if (qat_config_parse(yaml, strlen(yaml), "test.yaml", cfg)) fail_msg("config: %s", qat_error_message());
  qat_model *m = NULL;
  if (qat_model_create(&m, &cfg->model, BATCH, seed)) fail_msg("model: %s", qat_error_message());
  return m;
}

/* Biases and batch-norm parameters away from their trivial initial values. */
static void randomize_stats(qat_model *m, uint64_t seed) {
  qat_rng r;
  qat_rng_seed(&r, seed);
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    const char *s = strrchr(p->name, '/') + 1;
    float lo = -0.3f, hi = 0.3f;
    if (!strcmp(s, "gamma")) lo = 0.4f, hi = 1.6f;
    else if (!strcmp(s, "moving_variance")) lo = 0.2f, hi = 3.0f;
    else if (strcmp(s, "bias") && strcmp(s, "beta") && strcmp(s, "moving_mean")) continue;
    for (int64_t k = 0; k < p->size; k++) p->tensor->data[k] = lo + (hi - lo) * qat_rng_uniform(&r);
  }
}

static int64_t sample_size(const qat_model *m) {
  return (int64_t)m->spec.input_shape[0] * m->spec.input_shape[1] * m->spec.input_shape[2];
}

static void fill_input(float *x, int64_t n, qat_rng *r) {
  for (int64_t i = 0; i < n; i++) x[i] = qat_rng_uniform(r);
}

/* A few training-mode forward passes with fake quant on: observers and BN statistics move. */
static void observe(qat_model *m, int steps, uint64_t seed) {
  qat_rng r;
  qat_rng_seed(&r, seed);
  int64_t per = sample_size(m);
  float *x = malloc((size_t)(per * BATCH) * sizeof *x);
  assert_non_null(x);
  qat_exec ex = {.training = 1, .seed = seed, .fake_quant = 1};
  for (int s = 0; s < steps; s++) {
    fill_input(x, per * BATCH, &r);
    ex.step = (uint64_t)s;
    qat_model_forward(m, x, BATCH, &ex);
  }
  free(x);
}

static void export_bytes(qat_model *m, qat_export_io io, qat_tflite_model *t, uint8_t **bytes, size_t *size) {
  if (qat_export_int8(m, io, t)) fail_msg("export: %s", qat_error_message());
  if (qat_tflite_serialize(t, bytes, size)) fail_msg("serialize: %s", qat_error_message());
}

static const qat_tflite_tensor *find_tensor(const qat_tflite_model *t, const char *name) {
  for (int i = 0; i < t->n_tensors; i++)
    if (!strcmp(t->tensors[i].name, name)) return &t->tensors[i];
  fail_msg("no tensor %s", name);
  return NULL;
}

/* The runtime tensor named `name`. */
static int rt_find(const qat_rt_model *rt, const char *name) {
  for (int i = 0; i < qat_rt_num_tensors(rt); i++) {
    qat_rt_tensor_info info;
    if (!qat_rt_tensor(rt, i, &info) && !strcmp(info.name, name)) return i;
  }
  fail_msg("runtime has no tensor %s", name);
  return -1;
}


static int layer_index(const qat_model *m, const char *name) {
  for (int li = 0; li < m->spec.n_layers; li++)
    if (!strcmp(m->spec.layers[li].name, name)) return li;
  fail_msg("no layer %s", name);
  return -1;
}

/* Runs `samples` random inputs through the fake-quant model and the int8 runtime (every
 * intermediate tensor kept) and compares the listed tensors; with a final softmax, the softmax
 * op's output against the float softmax of its own int8 input too (at most 1 LSB). */
static void compare_runtime(qat_model *m, const uint8_t *bytes, size_t size, const compared *cmp, int n_cmp,
                            int softmax, int samples, uint64_t seed) {
  qat_rt_options opt = {.preserve_all_tensors = 1};
  qat_rt_model *rt = NULL;
  if (qat_rt_model_load_buffer(bytes, size, "int8.tflite", &opt, &rt)) fail_msg("load: %s", qat_error_message());
  int in = qat_rt_input(rt, 0), out = qat_rt_output(rt, 0);
  qat_rt_tensor_info ii;
  assert_int_equal(qat_rt_tensor(rt, in, &ii), 0);
  assert_int_equal(ii.type, QAT_RT_INT8);
  int64_t per = sample_size(m), k = m->num_classes;
  float *x = malloc((size_t)per * sizeof *x);
  assert_non_null(x);
  int64_t total[8] = {0}, same[8] = {0}, soft_max_diff = 0;
  int max_diff[8] = {0}, ti[8], li[8];
  assert_true(n_cmp <= 8);
  for (int c = 0; c < n_cmp; c++) {
    ti[c] = rt_find(rt, cmp[c].tensor);
    li[c] = layer_index(m, cmp[c].layer);
  }
  qat_rng r;
  qat_rng_seed(&r, seed);
  qat_exec ex = {.fake_quant = 1};
  for (int s = 0; s < samples; s++) {
    fill_input(x, per, &r);
    qat_model_forward(m, x, 1, &ex);
    qat_quantize_int8(x, qat_rt_tensor_data(rt, in), per, ii.scales[0], (int32_t)ii.zero_points[0], -128, 127);
    if (qat_rt_invoke(rt)) fail_msg("invoke: %s", qat_error_message());
    for (int c = 0; c < n_cmp; c++) {
      qat_rt_tensor_info ci;
      assert_int_equal(qat_rt_tensor(rt, ti[c], &ci), 0);
      assert_int_equal(ci.n_scales, 1);
      assert_int_equal(ci.n_elems, qat_tensor_size(m->layer_out[li[c]]));
      const int8_t *got = qat_rt_tensor_data(rt, ti[c]);
      for (int64_t j = 0; j < ci.n_elems; j++) {
        int32_t want = qat_quantize_value(m->layer_out[li[c]]->data[j], ci.scales[0], (int32_t)ci.zero_points[0],
                                          -128, 127);
        int d = abs(want - got[j]);
        max_diff[c] = d > max_diff[c] ? d : max_diff[c];
        same[c] += d == 0;
        total[c]++;
      }
    }
    if (softmax) {
      /* the SOFTMAX op alone: its int8 output against the float softmax of its int8 input */
      qat_rt_op_info oi;
      qat_rt_tensor_info li8;
      assert_int_equal(qat_rt_op(rt, qat_rt_num_ops(rt) - 1, &oi), 0);
      assert_int_equal(qat_rt_tensor(rt, oi.inputs[0], &li8), 0);
      const int8_t *lq = qat_rt_tensor_data(rt, oi.inputs[0]);
      double mx = -INFINITY, sum = 0, logit[64];
      assert_true(k <= 64);
      for (int64_t j = 0; j < k; j++) logit[j] = qat_dequantize_value(lq[j], li8.scales[0], (int32_t)li8.zero_points[0]);
      for (int64_t j = 0; j < k; j++) mx = logit[j] > mx ? logit[j] : mx;
      const int8_t *sm = qat_rt_tensor_data(rt, out);
      for (int64_t j = 0; j < k; j++) sum += exp(logit[j] - mx);
      for (int64_t j = 0; j < k; j++) {
        int32_t want = qat_quantize_value((float)(exp(logit[j] - mx) / sum), 1.0f / 256.0f, -128, -128, 127);
        int64_t d = llabs((long long)(want - sm[j]));
        soft_max_diff = d > soft_max_diff ? d : soft_max_diff;
      }
    }
  }
  for (int c = 0; c < n_cmp; c++) {
    double frac = (double)same[c] / (double)total[c];
    printf("# %-12s %d samples, %6lld values: max |diff| %d LSB, %6.2f%% bit-identical (%s)\n", cmp[c].tensor,
           samples, (long long)total[c], max_diff[c], 100.0 * frac, cmp[c].strict ? "strict" : "loose");
    if (cmp[c].strict) {
      assert_int_equal(max_diff[c], 0);
    } else {
      assert_true(max_diff[c] <= cmp[c].loose);
    }
  }
  if (softmax) {
    printf("# softmax output vs float softmax of its int8 input: max %lld LSB\n", (long long)soft_max_diff);
    assert_true(soft_max_diff <= 1);
  }
  free(x);
  qat_rt_model_free(rt);
}

/* The same int8 computation through uint8 / float32 edges. */
static void compare_io(const uint8_t *b8, size_t n8, const uint8_t *bu, size_t nu, const uint8_t *bf, size_t nf,
                       uint64_t seed) {
  qat_rt_model *r8 = NULL, *ru = NULL, *rf = NULL;
  assert_int_equal(qat_rt_model_load_buffer(b8, n8, "i8", NULL, &r8), 0);
  assert_int_equal(qat_rt_model_load_buffer(bu, nu, "u8", NULL, &ru), 0);
  assert_int_equal(qat_rt_model_load_buffer(bf, nf, "f32", NULL, &rf), 0);
  qat_rt_tensor_info i8, o8, iu, ou, ifl, ofl;
  qat_rt_tensor(r8, qat_rt_input(r8, 0), &i8);
  qat_rt_tensor(r8, qat_rt_output(r8, 0), &o8);
  qat_rt_tensor(ru, qat_rt_input(ru, 0), &iu);
  qat_rt_tensor(ru, qat_rt_output(ru, 0), &ou);
  qat_rt_tensor(rf, qat_rt_input(rf, 0), &ifl);
  qat_rt_tensor(rf, qat_rt_output(rf, 0), &ofl);
  assert_int_equal(iu.type, QAT_RT_UINT8);
  assert_int_equal(ou.type, QAT_RT_UINT8);
  assert_int_equal(ifl.type, QAT_RT_FLOAT32);
  assert_int_equal(ofl.type, QAT_RT_FLOAT32);
  assert_true(iu.scales[0] == i8.scales[0] && iu.zero_points[0] == i8.zero_points[0] + 128);
  assert_true(ou.scales[0] == o8.scales[0] && ou.zero_points[0] == o8.zero_points[0] + 128);
  qat_rng r;
  qat_rng_seed(&r, seed);
  for (int s = 0; s < 8; s++) {
    int8_t *x8 = qat_rt_tensor_data(r8, qat_rt_input(r8, 0));
    uint8_t *xu = qat_rt_tensor_data(ru, qat_rt_input(ru, 0));
    float *xf = qat_rt_tensor_data(rf, qat_rt_input(rf, 0));
    for (int64_t i = 0; i < i8.n_elems; i++) {
      float v = qat_rng_uniform(&r);
      int32_t q = qat_quantize_value(v, i8.scales[0], (int32_t)i8.zero_points[0], -128, 127);
      x8[i] = (int8_t)q;
      xu[i] = (uint8_t)(q + 128);
      xf[i] = qat_dequantize_value(q, i8.scales[0], (int32_t)i8.zero_points[0]);
    }
    assert_int_equal(qat_rt_invoke(r8), 0);
    assert_int_equal(qat_rt_invoke(ru), 0);
    assert_int_equal(qat_rt_invoke(rf), 0);
    const int8_t *y8 = qat_rt_tensor_data(r8, qat_rt_output(r8, 0));
    const uint8_t *yu = qat_rt_tensor_data(ru, qat_rt_output(ru, 0));
    const float *yf = qat_rt_tensor_data(rf, qat_rt_output(rf, 0));
    for (int64_t j = 0; j < o8.n_elems; j++) {
      assert_int_equal(yu[j], y8[j] + 128);
      assert_true(yf[j] == qat_dequantize_value(y8[j], o8.scales[0], (int32_t)o8.zero_points[0]));
    }
  }
  qat_rt_model_free(r8);
  qat_rt_model_free(ru);
  qat_rt_model_free(rf);
}

static void check_model(const char *yaml, const compared *cmp, int n_cmp, int softmax, uint64_t seed,
                        qat_model **keep, qat_config *cfg) {
  qat_model *m = model_from(yaml, seed, cfg);
  randomize_stats(m, seed + 1);
  observe(m, 6, seed + 2);
  assert_int_equal(qat_export_int8_prepare(m), 0);
  qat_tflite_model t, tu, tf, t2;
  uint8_t *b8, *bu, *bf, *b2;
  size_t n8, nu, nf, n2;
  export_bytes(m, QAT_EXPORT_IO_INT8, &t, &b8, &n8);
  export_bytes(m, QAT_EXPORT_IO_UINT8, &tu, &bu, &nu);
  export_bytes(m, QAT_EXPORT_IO_FLOAT32, &tf, &bf, &nf);
  export_bytes(m, QAT_EXPORT_IO_INT8, &t2, &b2, &n2);
  assert_int_equal(n8, n2);
  assert_memory_equal(b8, b2, n8); /* deterministic */
  compare_runtime(m, b8, n8, cmp, n_cmp, softmax, 200, seed + 3);
  compare_io(b8, n8, bu, nu, bf, nf, seed + 4);
  free(b8);
  free(bu);
  free(bf);
  free(b2);
  qat_tflite_model_free(&t);
  qat_tflite_model_free(&tu);
  qat_tflite_model_free(&tf);
  qat_tflite_model_free(&t2);
  if (keep) *keep = m;
  else {
    qat_model_free(m);
    qat_config_free(cfg);
  }
}

static void test_plain_matches_runtime(void **state) {
  (void)state;
  qat_config cfg;
  check_model(yaml_plain, CMP_PLAIN, 1, 5, NULL, &cfg);
}

static void test_tiny_matches_runtime(void **state) {
  (void)state;
  qat_config cfg;
  check_model(yaml_tiny, CMP_TINY, 1, 3, NULL, &cfg);
}

static void test_exact_matches_runtime(void **state) {
  (void)state;
  qat_config cfg;
  check_model(yaml_exact, CMP_EXACT, 1, 7, NULL, &cfg);
}

static void test_residual_matches_runtime(void **state) {
  (void)state;
  qat_config cfg;
  check_model(yaml_residual, CMP_RESIDUAL, 0, 9, NULL, &cfg);
}

/* What the graph holds: the folded weights quantized with the weight fake quant's scales,
 * per-channel dimensions, bias scales, shared ranges, the softmax range. */
static void test_graph(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = NULL;
  check_model(yaml_plain, CMP_PLAIN, 1, 5, &m, &cfg);
  qat_tflite_model t;
  assert_int_equal(qat_export_int8(m, QAT_EXPORT_IO_INT8, &t), 0);
  const qat_tflite_tensor *w = find_tensor(&t, "c2/kernel_folded"), *b = find_tensor(&t, "c2/bias_folded");
  const qat_fq *wfq = qat_model_find_fq(m, "c2/kernel");
  assert_non_null(wfq);
  assert_int_equal(w->type, QAT_TFLITE_INT8);
  assert_int_equal(w->quant.n, 5);
  assert_int_equal(w->quant.quantized_dimension, 0);
  assert_int_equal(b->type, QAT_TFLITE_INT32);
  assert_int_equal(b->quant.n, 5);
  const qat_tflite_tensor *pin = find_tensor(&t, "c1"), *pout = find_tensor(&t, "p1");
  assert_true(pin->quant.scale[0] == pout->quant.scale[0] && pin->quant.zero_point[0] == pout->quant.zero_point[0]);
  assert_true(pin->quant.scale[0] == m->layer_fq[0]->scale[0]);
  const qat_tflite_tensor *r2 = find_tensor(&t, "r2");
  for (int c = 0; c < 5; c++) {
    assert_true(w->quant.scale[c] == wfq->scale[c]);
    assert_true(b->quant.scale[c] == pout->quant.scale[0] * w->quant.scale[c]);
  }
  assert_true(r2->quant.scale[0] == m->layer_fq[4]->scale[0]);
  /* the weights are the fake-quant node's output divided by the scale */
  const qat_fq *fq = NULL;
  for (int i = 0; i < m->graph.n_nodes; i++) {
    const qat_node *nd = &m->graph.nodes[i];
    if (qat_node_fq(nd) == wfq) {
      fq = wfq;
      const int8_t *q = w->data;
      int64_t per = (int64_t)(w->data_bytes / 5);
      for (int64_t e = 0; e < (int64_t)w->data_bytes; e++)
        assert_true(nd->output->data[e] == (float)q[e] * wfq->scale[e / per]);
    }
  }
  assert_non_null(fq);
  const qat_tflite_tensor *sm = find_tensor(&t, "out");
  assert_true(sm->quant.scale[0] == 1.0f / 256.0f && sm->quant.zero_point[0] == -128);
  /* the depthwise one: quantized_dimension 3 */
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);

  check_model(yaml_residual, CMP_RESIDUAL, 0, 9, &m, &cfg);
  assert_int_equal(qat_export_int8(m, QAT_EXPORT_IO_INT8, &t), 0);
  w = find_tensor(&t, "dw/depthwise_kernel_folded");
  assert_int_equal(w->quant.n, 8);
  assert_int_equal(w->quant.quantized_dimension, 3);
  w = find_tensor(&t, "dw2/depthwise_kernel");
  assert_int_equal(w->quant.n, 16);
  assert_int_equal(w->quant.quantized_dimension, 3);
  int adds = 0, means = 0;
  for (int k = 0; k < t.n_ops; k++) {
    adds += t.ops[k].op == QAT_TFLITE_OP_ADD;
    means += t.ops[k].op == QAT_TFLITE_OP_MEAN;
  }
  assert_int_equal(adds, 1);
  assert_int_equal(means, 1);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void expect_invalid(qat_tflite_model *t, const char *rule, const char *layer) {
  int rc = qat_export_validate_int8(t);
  assert_int_equal(rc, QAT_ERR_UNSUPPORTED);
  const char *msg = qat_error_message();
  if (!strstr(msg, rule) || !strstr(msg, layer)) fail_msg("message lacks '%s' / '%s': %s", rule, layer, msg);
}

static void test_validator(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = NULL;
  check_model(yaml_plain, CMP_PLAIN, 1, 5, &m, &cfg);
  qat_tflite_model t;
  assert_int_equal(qat_export_int8(m, QAT_EXPORT_IO_INT8, &t), 0);
  assert_int_equal(qat_export_validate_int8(&t), 0);
  qat_tflite_tensor *b = (qat_tflite_tensor *)find_tensor(&t, "c2/bias_folded");
  float keep = b->quant.scale[2];
  b->quant.scale[2] *= 1.00001f;
  expect_invalid(&t, "bias scale = s_in * s_w", "'r2'");
  b->quant.scale[2] = keep;
  qat_tflite_tensor *p = (qat_tflite_tensor *)find_tensor(&t, "p1");
  p->quant.zero_point[0] += 1;
  expect_invalid(&t, "shared range", "'p1'");
  p->quant.zero_point[0] -= 1;
  qat_tflite_tensor *sm = (qat_tflite_tensor *)find_tensor(&t, "out");
  sm->quant.zero_point[0] = 0;
  expect_invalid(&t, "softmax fixed range", "'out'");
  sm->quant.zero_point[0] = -128;
  qat_tflite_tensor *r2 = (qat_tflite_tensor *)find_tensor(&t, "r2");
  int64_t zp = r2->quant.zero_point[0];
  r2->quant.zero_point[0] = 200;
  expect_invalid(&t, "zero point in range", "'r2'");
  r2->quant.zero_point[0] = zp;
  qat_tflite_tensor *w = (qat_tflite_tensor *)find_tensor(&t, "c1/kernel");
  w->quant.quantized_dimension = 3;
  expect_invalid(&t, "per-channel count", "c1/kernel");
  w->quant.quantized_dimension = 0;
  assert_int_equal(qat_export_validate_int8(&t), 0);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* A float model has no ranges: the error points to calibration. Ranges never observed too. */
static void test_no_ranges(void **state) {
  (void)state;
  char *yaml = strdup(yaml_plain);
  assert_non_null(yaml);
  char *q = strstr(yaml, "quantize: {mode: qat}\n");
  assert_non_null(q);
  memset(q, ' ', strlen("quantize: {mode: qat}"));
  qat_config cfg;
  qat_model *m = model_from(yaml, 1, &cfg);
  assert_int_equal(qat_export_int8_prepare(m), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "calibrat"));
  qat_tflite_model t;
  assert_int_equal(qat_export_int8(m, QAT_EXPORT_IO_INT8, &t), QAT_ERR_USAGE);
  assert_int_equal(t.n_tensors, 0);
  qat_model_free(m);
  qat_config_free(&cfg);
  free(yaml);

  m = model_from(yaml_plain, 1, &cfg); /* QAT, but no training-mode pass: no ranges yet */
  assert_int_equal(qat_export_int8_prepare(m), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "calibrat"));
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* `test_export_int8 predict CKPT OUT`: the fake-quant model's top-1 prediction (int32) for
 * every Fashion-MNIST test image, in order, for the acceptance measurement in
 * tests/interop/test_int8_export.py --accuracy (top-1 agreement with the official
 * interpreter). */
static int predict(const char *ckpt, const char *out_path) {
  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  qat_model *m = NULL;
  enum { B = 100 };
  if (qat_model_from_checkpoint(ckpt, B, &cfg, &m)) {
    fprintf(stderr, "%s\n", qat_error_message());
    return 1;
  }
  const char *dir = getenv(QAT_FASHION_MNIST_DIR_ENV);
  if (!dir || !*dir) dir = QAT_FASHION_MNIST_DIR;
  char ip[4096], lp[4096];
  snprintf(ip, sizeof ip, "%s/t10k-images-idx3-ubyte.gz", dir);
  snprintf(lp, sizeof lp, "%s/t10k-labels-idx1-ubyte.gz", dir);
  qat_dataset ds;
  if (qat_idx_load(ip, lp, 10, &ds)) {
    fprintf(stderr, "%s\n", qat_error_message());
    return 1;
  }
  qat_batcher b;
  if (qat_batcher_init(&b, &ds, B, 0, 0, 0)) {
    fprintf(stderr, "%s\n", qat_error_message());
    return 1;
  }
  size_t per = (size_t)ds.h * ds.w * ds.c;
  float *x = malloc(B * per * sizeof *x);
  int32_t *y = malloc(B * sizeof *y), *pred = malloc((size_t)ds.n * sizeof *pred);
  if (!x || !y || !pred) return 1;
  qat_exec ex = {.fake_quant = 1};
  int64_t k = 0;
  for (int64_t i = 0; i < qat_batcher_num_batches(&b); i++) {
    int n = qat_batcher_get(&b, i, x, y);
    qat_model_forward(m, x, n, &ex);
    for (int s = 0; s < n; s++) {
      const float *row = m->logits->data + (size_t)s * m->num_classes;
      int best = 0;
      for (int j = 1; j < m->num_classes; j++)
        if (row[j] > row[best]) best = j;
      pred[k++] = best;
    }
  }
  FILE *f = fopen(out_path, "wb");
  int rc = !f || fwrite(pred, sizeof *pred, (size_t)k, f) != (size_t)k;
  if (f) rc |= fclose(f) != 0;
  free(x);
  free(y);
  free(pred);
  qat_batcher_free(&b);
  qat_dataset_free(&ds);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc;
}

/* `test_export_int8 size CONFIG`: the int8 file size of CONFIG's architecture (a quantize
 * section is added when it has none; weights from the seed, ranges from a few training-mode
 * passes over random inputs): the size depends on the architecture only. */
static int size_of(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 1;
  char *text = calloc(1, 1 << 20);
  size_t n = text ? fread(text, 1, (1 << 20) - 64, f) : 0;
  fclose(f);
  if (!text) return 1;
  if (!strstr(text, "\nquantize:")) strcat(text, "\nquantize: {mode: qat}\n");
  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (qat_config_parse(text, strlen(text), path, &cfg)) {
    fprintf(stderr, "%s\n", qat_error_message());
    return 1;
  }
  (void)n;
  qat_model *m = NULL;
  if (qat_model_create(&m, &cfg.model, BATCH, 1)) {
    fprintf(stderr, "%s\n", qat_error_message());
    return 1;
  }
  observe(m, 2, 1);
  qat_tflite_model t;
  qat_tflite_model_init(&t);
  uint8_t *bytes = NULL;
  size_t size = 0;
  int rc = qat_export_int8_prepare(m) || qat_export_int8(m, QAT_EXPORT_IO_INT8, &t) ||
           qat_tflite_serialize(&t, &bytes, &size);
  if (rc) fprintf(stderr, "%s\n", qat_error_message());
  else printf("%s: %lld parameters, int8 %zu bytes\n", path, (long long)m->n_params + (long long)m->n_state, size);
  free(bytes);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
  free(text);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "predict")) return predict(argv[2], argv[3]);
  if (argc == 3 && !strcmp(argv[1], "size")) return size_of(argv[2]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny_matches_runtime),
      cmocka_unit_test(test_exact_matches_runtime),
      cmocka_unit_test(test_plain_matches_runtime),
      cmocka_unit_test(test_residual_matches_runtime),
      cmocka_unit_test(test_graph),
      cmocka_unit_test(test_validator),
      cmocka_unit_test(test_no_ranges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
