/* Tests of the 16x8 lowering (export/lower_int16.c, through lower_int8.c's graph):
 *   - activation parameters: int16, zero point 0, scale max(|min|, |max|) / 32767 of the range
 *     each activation quantizer observed (a hand-set observer gives a hand-computed scale), or
 *     of the int8 grid's range for a quantizer without an observer; INT64 biases at s_in *
 *     s_w[c]; SOFTMAX (1/32768, 0); ADD pot_scale_int16 false; op versions;
 *   - qat's integer runtime on the exported file, with the weights of unfolded layers put on
 *     their int8 grid: the int16x8 model is much closer to the float model than the int8 export
 *     of the same QAT model (mean |output error| at most a quarter of int8's and below 1 % of
 *     the mean |output|), and float32 edges give the int16 edges' results;
 *   - errors: I/O types of other modes, a model without ranges, and the validator's rules. */
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
#include "qat/error.h"
#include "qat/export.h"
#include "qat/model.h"
#include "qat/quant.h"
#include "qat/rng.h"
#include "qat/runtime.h"
#include "qat/tflite.h"
#include "qat/train.h"

#define BATCH 8

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
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: d1, units: 12, activation: relu}\n"
    "    - Dense: {name: out, units: 7, activation: softmax}\n"
    "data: {dataset: fashion-mnist}\n"
    "quantize: {mode: qat}\n"
    "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: sgd, learning_rate: 0.01}}\n";

static qat_model *model_from(const char *yaml, uint64_t seed, qat_config *cfg) {
  if (qat_config_parse(yaml, strlen(yaml), "test.yaml", cfg)) fail_msg("config: %s", qat_error_message());
  qat_model *m = NULL;
  if (qat_model_create(&m, &cfg->model, BATCH, seed)) fail_msg("model: %s", qat_error_message());
  return m;
}

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

static void observe(qat_model *m, int steps, uint64_t seed) {
  qat_rng r;
  qat_rng_seed(&r, seed);
  int64_t per = sample_size(m);
  float *x = malloc((size_t)(per * BATCH) * sizeof *x);
  assert_non_null(x);
  qat_exec ex = {.training = 1, .seed = seed, .fake_quant = 1};
  for (int s = 0; s < steps; s++) {
    for (int64_t i = 0; i < per * BATCH; i++) x[i] = qat_rng_uniform(&r);
    ex.step = (uint64_t)s;
    qat_model_forward(m, x, BATCH, &ex);
  }
  free(x);
}

static qat_model *ready_model(const char *yaml, uint64_t seed, qat_config *cfg) {
  qat_model *m = model_from(yaml, seed, cfg);
  randomize_stats(m, seed + 1);
  observe(m, 5, seed + 2);
  if (qat_export_int8_prepare(m)) fail_msg("prepare: %s", qat_error_message());
  return m;
}

static qat_tflite_tensor *find_tensor(const qat_tflite_model *t, const char *name) {
  for (int i = 0; i < t->n_tensors; i++)
    if (!strcmp(t->tensors[i].name, name)) return &t->tensors[i];
  fail_msg("no tensor %s", name);
  return NULL;
}

static int layer_index(const qat_model *m, const char *name) {
  for (int i = 0; i < m->spec.n_layers; i++)
    if (!strcmp(m->spec.layers[i].name, name)) return i;
  fail_msg("no layer %s", name);
  return -1;
}

/* ---- parameters and graph ------------------------------------------------------------ */

static void test_params(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = ready_model(yaml_residual, 3, &cfg);
  /* hand-set ranges: input [-0.5, 2.0] -> 2/32767; add [-3, 1.25] -> 3/32767 */
  m->input_fq->observer.min = -0.5f, m->input_fq->observer.max = 2.0f;
  qat_fq *add_fq = m->layer_fq[layer_index(m, "add")];
  add_fq->observer.min = -3.0f, add_fq->observer.max = 1.25f;
  /* a quantizer without an observed range: its int8 grid, scale 0.02, zp -28 ->
   * [-100 * 0.02, 155 * 0.02] = [-2, 3.1] -> 3.1 / 32767 */
  qat_fq *gap_fq = m->layer_fq[layer_index(m, "gap")];
  gap_fq->observer.initialized = 0;
  gap_fq->scale[0] = 0.02f, gap_fq->zero_point[0] = -28;
  qat_tflite_model t;
  if (qat_export_int16x8(m, QAT_EXPORT_IO_INT16, &t)) fail_msg("export: %s", qat_error_message());
  assert_true(find_tensor(&t, "input")->quant.scale[0] == (float)(2.0 / 32767.0));
  assert_true(find_tensor(&t, "add")->quant.scale[0] == (float)(3.0 / 32767.0));
  assert_true(find_tensor(&t, "gap")->quant.scale[0] == (float)((double)(155 * 0.02f) / 32767.0));
  int convs = 0, dws = 0, adds = 0, means = 0, fcs = 0;
  for (int k = 0; k < t.n_ops; k++) {
    const qat_tflite_operator *op = &t.ops[k];
    const qat_tflite_tensor *in = &t.tensors[op->inputs[0]], *out = &t.tensors[op->outputs[0]];
    assert_int_equal(in->type, QAT_TFLITE_INT16);
    assert_int_equal(out->type, QAT_TFLITE_INT16);
    assert_int_equal(out->quant.n, 1);
    assert_int_equal(out->quant.zero_point[0], 0);
    switch (op->op) {
    case QAT_TFLITE_OP_CONV_2D:
    case QAT_TFLITE_OP_DEPTHWISE_CONV_2D:
    case QAT_TFLITE_OP_FULLY_CONNECTED: {
      convs += op->op == QAT_TFLITE_OP_CONV_2D, dws += op->op == QAT_TFLITE_OP_DEPTHWISE_CONV_2D;
      fcs += op->op == QAT_TFLITE_OP_FULLY_CONNECTED;
      const qat_tflite_tensor *w = &t.tensors[op->inputs[1]], *b = &t.tensors[op->inputs[2]];
      assert_int_equal(w->type, QAT_TFLITE_INT8);
      assert_int_equal(b->type, QAT_TFLITE_INT64);
      assert_int_equal(b->data_bytes, (size_t)b->dims[0] * 8);
      for (int c = 0; c < b->quant.n; c++) {
        assert_true(b->quant.scale[c] == in->quant.scale[0] * w->quant.scale[c]);
        assert_int_equal(b->quant.zero_point[c], 0);
      }
      /* CONV_2D / FULLY_CONNECTED int16 with int8 weights and no quantized_bias_type: version 1
       * (op_version.cc's int16 branches test int16 weights); depthwise likewise */
      assert_int_equal(qat_tflite_op_version(&t, op), 1);
      break;
    }
    case QAT_TFLITE_OP_ADD:
      adds++;
      assert_int_equal(op->opt.pot_scale_int16, 0);
      assert_int_equal(qat_tflite_op_version(&t, op), 3);
      break;
    case QAT_TFLITE_OP_MEAN:
      means++;
      assert_int_equal(qat_tflite_op_version(&t, op), 3);
      break;
    default: break;
    }
  }
  assert_int_equal(convs, 2);
  assert_int_equal(dws, 2);
  assert_int_equal(adds, 1);
  assert_int_equal(means, 1);
  assert_int_equal(fcs, 1);
  qat_tflite_model_free(&t);
  /* the folded bias, dequantized, is the float folded bias to half a step: recompute it for
   * the stem from the batch-norm statistics (no conv bias: beta - gamma * mean / sigma) */
  assert_int_equal(qat_export_int16x8(m, QAT_EXPORT_IO_INT16, &t), 0);
  const qat_tflite_tensor *b = find_tensor(&t, "stem/bias_folded");
  const float *gamma = qat_model_find_param(m, "stem_bn/gamma")->tensor->data;
  const float *beta = qat_model_find_param(m, "stem_bn/beta")->tensor->data;
  const float *mean = qat_model_find_param(m, "stem_bn/moving_mean")->tensor->data;
  const float *var = qat_model_find_param(m, "stem_bn/moving_variance")->tensor->data;
  const float eps = m->spec.layers[layer_index(m, "stem_bn")].epsilon;
  for (int c = 0; c < b->dims[0]; c++) {
    const double want = beta[c] - gamma[c] * mean[c] / sqrt((double)var[c] + eps);
    const double got = (double)((const int64_t *)b->data)[c] * b->quant.scale[c];
    assert_true(fabs(got - want) <= 0.5 * b->quant.scale[c] + 1e-6 * fabs(want));
  }
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* ---- through qat's runtime ----------------------------------------------------------- */

/* Mean |output - float model output| of the exported file over random inputs, in the output's
 * float units; also the mean |float output|. */
static double runtime_error(qat_model *m, const qat_tflite_model *t, int samples, uint64_t seed, double *scale_out) {
  uint8_t *bytes = NULL;
  size_t size = 0;
  if (qat_tflite_serialize(t, &bytes, &size)) fail_msg("serialize: %s", qat_error_message());
  qat_rt_model *rt = NULL;
  if (qat_rt_model_load_buffer(bytes, size, "x.tflite", NULL, &rt)) fail_msg("load: %s", qat_error_message());
  const int in = qat_rt_input(rt, 0), out = qat_rt_output(rt, 0);
  qat_rt_tensor_info ii, oi;
  assert_int_equal(qat_rt_tensor(rt, in, &ii), 0);
  assert_int_equal(qat_rt_tensor(rt, out, &oi), 0);
  const int64_t per = sample_size(m), k = oi.n_elems;
  float *x = malloc((size_t)per * sizeof *x);
  assert_non_null(x);
  qat_rng r;
  qat_rng_seed(&r, seed);
  qat_exec ex = {.fake_quant = 0};
  double err = 0, mag = 0;
  const qat_tensor *y = m->layer_out[m->spec.n_layers - 1];
  const int softmax = m->spec.layers[m->spec.n_layers - 1].activation == QAT_ACTIVATION_SOFTMAX;
  for (int s = 0; s < samples; s++) {
    for (int64_t i = 0; i < per; i++) x[i] = qat_rng_uniform(&r);
    qat_model_forward(m, x, 1, &ex);
    /* a Dense with softmax keeps its logits as the layer's output: the file ends in SOFTMAX */
    float want[64];
    assert_true(k <= 64);
    memcpy(want, y->data, (size_t)k * sizeof *want);
    if (softmax) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < k; j++) mx = want[j] > mx ? want[j] : mx;
      for (int64_t j = 0; j < k; j++) sum += exp(want[j] - mx);
      for (int64_t j = 0; j < k; j++) want[j] = (float)(exp(want[j] - mx) / sum);
    }
    if (ii.type == QAT_RT_INT16)
      qat_quantize_int16(x, qat_rt_tensor_data(rt, in), per, ii.scales[0], 0, -32768, 32767);
    else if (ii.type == QAT_RT_INT8)
      qat_quantize_int8(x, qat_rt_tensor_data(rt, in), per, ii.scales[0], (int32_t)ii.zero_points[0], -128, 127);
    else
      memcpy(qat_rt_tensor_data(rt, in), x, (size_t)per * sizeof *x);
    if (qat_rt_invoke(rt)) fail_msg("invoke: %s", qat_error_message());
    const void *o = qat_rt_tensor_data(rt, out);
    for (int64_t j = 0; j < k; j++) {
      float v = oi.type == QAT_RT_INT16  ? qat_dequantize_value(((const int16_t *)o)[j], oi.scales[0], 0)
                : oi.type == QAT_RT_INT8 ? qat_dequantize_value(((const int8_t *)o)[j], oi.scales[0],
                                                                 (int32_t)oi.zero_points[0])
                                         : ((const float *)o)[j];
      err += fabs((double)v - want[j]);
      mag += fabs((double)want[j]);
    }
  }
  free(x);
  free(bytes);
  qat_rt_model_free(rt);
  *scale_out = mag / (double)(samples * k);
  return err / (double)(samples * k);
}

/* Puts the weights of the layers without a folded batch norm on their int8 grid (the fake
 * quant's values), so that only activations are rounded differently by the two modes there. */
static void snap_weights(qat_model *m) {
  for (int li = 0; li < m->spec.n_layers; li++) {
    const qat_layer_spec *l = &m->spec.layers[li];
    if (m->fold_bn[li] >= 0 || (l->type != QAT_LAYER_CONV2D && l->type != QAT_LAYER_DENSE &&
                                l->type != QAT_LAYER_DEPTHWISE_CONV2D))
      continue;
    char name[2 * QAT_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s/%s", l->name, l->type == QAT_LAYER_DEPTHWISE_CONV2D ? "depthwise_kernel" : "kernel");
    const qat_param *k = qat_model_find_param(m, name);
    const qat_fq *fq = qat_model_find_fq(m, name);
    assert_non_null(k);
    assert_non_null(fq);
    int64_t shape[QAT_MAX_RANK], outer, ch, inner;
    for (int d = 0; d < k->rank; d++) shape[d] = k->dims[d];
    assert_int_equal(qat_quant_axis_split(shape, k->rank, fq->channels > 1 ? fq->axis : -1, &outer, &ch, &inner), 0);
    qat_fake_quant_forward_per_channel(k->tensor->data, k->tensor->data, outer, ch, inner, fq->scale, NULL, -127, 127);
  }
  if (qat_export_int8_prepare(m)) fail_msg("prepare: %s", qat_error_message());
}

static void check_closer_than_int8(const char *yaml, uint64_t seed) {
  qat_config cfg;
  qat_model *m = ready_model(yaml, seed, &cfg);
  snap_weights(m);
  qat_tflite_model t16, t8, tf;
  if (qat_export_int16x8(m, QAT_EXPORT_IO_INT16, &t16)) fail_msg("export: %s", qat_error_message());
  if (qat_export_int16x8(m, QAT_EXPORT_IO_FLOAT32, &tf)) fail_msg("export: %s", qat_error_message());
  if (qat_export_int8(m, QAT_EXPORT_IO_INT8, &t8)) fail_msg("export: %s", qat_error_message());
  double mag16, mag8, magf;
  const double e16 = runtime_error(m, &t16, 40, seed + 7, &mag16);
  const double ef = runtime_error(m, &tf, 40, seed + 7, &magf);
  const double e8 = runtime_error(m, &t8, 40, seed + 7, &mag8);
  printf("# mean |output - float model|: int16x8 %.3g, int16x8 float I/O %.3g, int8 %.3g (mean |output| %.3g)\n",
         e16, ef, e8, mag16);
  /* What remains in both is the int8 rounding of the folded weights (and its amplification by
   * random layers); int16 activations remove most of the rest. */
  assert_true(e16 <= 0.25 * e8);
  assert_true(e16 <= 0.01 * mag16);
  /* float edges: the same int16 computation, dequantized (same output scale) */
  assert_true(fabs(ef - e16) <= 1e-9 + 1e-6 * e16);
  qat_tflite_model_free(&t16);
  qat_tflite_model_free(&tf);
  qat_tflite_model_free(&t8);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_residual_runtime(void **state) {
  (void)state;
  check_closer_than_int8(yaml_residual, 11);
}

/* yaml_plain without its batch norm, so that every weight is on its grid */
static const char *yaml_plain_nobn =
    "model:\n"
    "  input: [12, 12, 2]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 6, kernel_size: 3, activation: relu}\n"
    "    - MaxPooling2D: {name: p1, pool_size: 2}\n"
    "    - Conv2D: {name: c2, filters: 5, kernel_size: 3, padding: same, activation: relu6}\n"
    "    - AveragePooling2D: {name: p2, pool_size: 2}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: d1, units: 12, activation: relu}\n"
    "    - Dense: {name: out, units: 7, activation: softmax}\n"
    "data: {dataset: fashion-mnist}\n"
    "quantize: {mode: qat}\n"
    "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: sgd, learning_rate: 0.01}}\n";

static void test_plain_runtime(void **state) {
  (void)state;
  check_closer_than_int8(yaml_plain_nobn, 21);
}

/* ---- errors -------------------------------------------------------------------------- */

static void expect_invalid(qat_tflite_model *t, const char *rule, const char *layer) {
  int rc = qat_export_validate_int16x8(t);
  assert_int_equal(rc, QAT_ERR_UNSUPPORTED);
  const char *msg = qat_error_message();
  if (!strstr(msg, rule) || !strstr(msg, layer)) fail_msg("message lacks '%s' / '%s': %s", rule, layer, msg);
  printf("# refused: %s\n", msg);
}

static void test_validator(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = ready_model(yaml_residual, 5, &cfg);
  qat_tflite_model t;
  assert_int_equal(qat_export_int16x8(m, QAT_EXPORT_IO_INT16, &t), 0);
  assert_int_equal(qat_export_validate_int16x8(&t), 0);
  /* the int8 validator refuses a 16x8 graph, and the 16x8 one an int8 graph */
  assert_int_equal(qat_export_validate_int8(&t), QAT_ERR_UNSUPPORTED);

  qat_tflite_tensor *add = find_tensor(&t, "add");
  add->quant.zero_point[0] = 3;
  expect_invalid(&t, "int16 symmetric activations", "'add'");
  add->quant.zero_point[0] = 0;

  for (int k = 0; k < t.n_ops; k++)
    if (t.ops[k].op == QAT_TFLITE_OP_ADD) t.ops[k].opt.pot_scale_int16 = 1;
  expect_invalid(&t, "general int16 ADD", "'add'");
  for (int k = 0; k < t.n_ops; k++)
    if (t.ops[k].op == QAT_TFLITE_OP_ADD) t.ops[k].opt.pot_scale_int16 = 0;

  qat_tflite_tensor *b = find_tensor(&t, "logits/bias");
  b->type = QAT_TFLITE_INT32;
  b->data_bytes /= 2;
  expect_invalid(&t, "int64 bias", "'logits'");
  b->type = QAT_TFLITE_INT64;
  b->data_bytes *= 2;

  int64_t keep = ((int64_t *)b->data)[1];
  ((int64_t *)b->data)[1] = (int64_t)1 << 46;
  expect_invalid(&t, "64-bit accumulator below 2^47", "'logits'");
  ((int64_t *)b->data)[1] = keep;

  qat_tflite_tensor *w = find_tensor(&t, "dw2/depthwise_kernel");
  int8_t keepw = ((int8_t *)w->data)[0];
  ((int8_t *)w->data)[0] = -128;
  expect_invalid(&t, "narrow-range weights", "'dw2'");
  ((int8_t *)w->data)[0] = keepw;

  /* a narrow output range: s_in * s_w / s_out >= 64 */
  qat_tflite_tensor *gap = find_tensor(&t, "gap"), *logits = find_tensor(&t, "logits");
  float keep_s = logits->quant.scale[0];
  logits->quant.scale[0] = gap->quant.scale[0] * 1e-6f;
  expect_invalid(&t, "output multiplier below 64", "'logits'");
  logits->quant.scale[0] = keep_s;

  /* an op TFLite has no 16x8 lowering of here: RELU turned from the MEAN */
  for (int k = 0; k < t.n_ops; k++)
    if (t.ops[k].op == QAT_TFLITE_OP_MEAN) {
      t.ops[k].op = QAT_TFLITE_OP_RELU;
      expect_invalid(&t, "16x8 ops", "'gap'");
      t.ops[k].op = QAT_TFLITE_OP_MEAN;
    }
  assert_int_equal(qat_export_validate_int16x8(&t), 0);
  qat_tflite_model_free(&t);

  /* SOFTMAX's fixed output range */
  qat_model_free(m);
  qat_config_free(&cfg);
  m = ready_model(yaml_plain, 6, &cfg);
  assert_int_equal(qat_export_int16x8(m, QAT_EXPORT_IO_FLOAT32, &t), 0);
  qat_tflite_tensor *sm = find_tensor(&t, "out/int16");
  assert_true(sm->quant.scale[0] == 1.0f / 32768.0f);
  sm->quant.scale[0] = 1.0f / 256.0f;
  expect_invalid(&t, "softmax fixed range", "'out/int16'");
  sm->quant.scale[0] = 1.0f / 32768.0f;
  /* pools keep the input's scale */
  qat_tflite_tensor *p1 = find_tensor(&t, "p1");
  p1->quant.scale[0] *= 2;
  expect_invalid(&t, "shared range", "'p1'");
  p1->quant.scale[0] /= 2;
  assert_int_equal(qat_export_validate_int16x8(&t), 0);
  qat_tflite_model_free(&t);

  /* I/O types of the other modes */
  assert_int_equal(qat_export_int16x8(m, QAT_EXPORT_IO_UINT8, &t), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "int16 or float32"));
  assert_int_equal(qat_export_int16x8(m, QAT_EXPORT_IO_INT8, &t), QAT_ERR_USAGE);
  assert_int_equal(qat_export_int8(m, QAT_EXPORT_IO_INT16, &t), QAT_ERR_USAGE);
  assert_int_equal(t.n_tensors, 0);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_no_ranges(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = model_from(yaml_plain, 1, &cfg); /* QAT, but no training-mode pass */
  assert_int_equal(qat_export_int8_prepare(m), QAT_ERR_USAGE);
  qat_tflite_model t;
  m->input_fq->valid = 0;
  assert_int_equal(qat_export_int16x8(m, QAT_EXPORT_IO_INT16, &t), QAT_ERR_USAGE);
  assert_int_equal(t.n_tensors, 0);
  qat_model_free(m);
  qat_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_params),
      cmocka_unit_test(test_residual_runtime),
      cmocka_unit_test(test_plain_runtime),
      cmocka_unit_test(test_validator),
      cmocka_unit_test(test_no_ranges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
