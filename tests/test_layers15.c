/* Issue 15's layers: the activation op's values at hand-computed points (its gradients are
 * checked by the op-table walk of test_autograd), and qat's float forward of the Keras models of
 * tests/fixtures/layers15 (written by a real Keras, make_fixtures.py there) against Keras's own
 * outputs within 1e-4, imported from .h5 and from .keras. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qat/autograd.h"
#include "qat/config.h"
#include "qat/error.h"
#include "qat/keras.h"
#include "qat/layer.h"
#include "qat/model.h"
#include "qat/npy.h"

#define FIX QAT_SOURCE_DIR "/tests/fixtures/layers15/"

/* y = f(x) for each x, through a one-node graph. */
static void eval_act(qat_activation act, float alpha, const float *x, float *y, int n) {
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 1), 0);
  qat_tensor *in = qat_graph_input(&g, 1, &n, 0), *out = NULL;
  assert_non_null(in);
  qat_op_attrs a = {.act = act, .alpha = alpha};
  assert_int_equal(qat_graph_add(&g, QAT_OP_ACTIVATION, 1, &in, &a, &out), 0);
  qat_graph_set_batch(&g, 1);
  memcpy(in->data, x, (size_t)n * sizeof *x);
  qat_exec ex = {0};
  qat_graph_forward(&g, &ex);
  memcpy(y, out->data, (size_t)n * sizeof *y);
  qat_graph_free(&g);
}

static void test_activation_values(void **state) {
  (void)state;
  const float x[6] = {-4.0f, -1.0f, 0.0f, 0.5f, 1.5f, 4.0f};
  float y[6];
  const double e = exp(1.0);
  struct {
    qat_activation act;
    float alpha;
    double want[6];
  } cases[] = {
      /* 1 / (1 + e^-x) */
      {QAT_ACTIVATION_SIGMOID, 0, {1 / (1 + pow(e, 4)), 1 / (1 + e), 0.5, 1 / (1 + pow(e, -0.5)), 1 / (1 + pow(e, -1.5)), 1 / (1 + pow(e, -4))}},
      {QAT_ACTIVATION_TANH, 0, {-(pow(e, 8) - 1) / (pow(e, 8) + 1), -(e * e - 1) / (e * e + 1), 0, (e - 1) / (e + 1), (pow(e, 3) - 1) / (pow(e, 3) + 1), (pow(e, 8) - 1) / (pow(e, 8) + 1)}},
      {QAT_ACTIVATION_SILU, 0, {-4 / (1 + pow(e, 4)), -1 / (1 + e), 0, 0.5 / (1 + pow(e, -0.5)), 1.5 / (1 + pow(e, -1.5)), 4 / (1 + pow(e, -4))}},
      /* relu6(x + 3) / 6 */
      {QAT_ACTIVATION_HARD_SIGMOID, 0, {0, 2.0 / 6, 0.5, 3.5 / 6, 0.75, 1}},
      {QAT_ACTIVATION_HARD_SILU, 0, {0, -2.0 / 6, 0, 0.5 * 3.5 / 6, 1.5 * 0.75, 4}},
      {QAT_ACTIVATION_LEAKY_RELU, 0.1f, {-0.4, -0.1, 0, 0.5, 1.5, 4}},
      {QAT_ACTIVATION_ELU, 1.0f, {1 / pow(e, 4) - 1, 1 / e - 1, 0, 0.5, 1.5, 4}},
      {QAT_ACTIVATION_ELU, 0.5f, {0.5 * (1 / pow(e, 4) - 1), 0.5 * (1 / e - 1), 0, 0.5, 1.5, 4}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    eval_act(cases[c].act, cases[c].alpha, x, y, 6);
    for (int i = 0; i < 6; i++)
      if (fabs(y[i] - cases[c].want[i]) > 1e-6)
        fail_msg("%s(%g) = %.9g, want %.9g", qat_activation_name(cases[c].act), (double)x[i], (double)y[i],
                 cases[c].want[i]);
  }
}

/* The alphas layers take: Keras's activation defaults unless the layer gives one. */
static void test_activation_names(void **state) {
  (void)state;
  qat_activation a;
  assert_true(qat_activation_find("swish", &a) && a == QAT_ACTIVATION_SILU);
  assert_true(qat_activation_find("silu", &a) && a == QAT_ACTIVATION_SILU);
  assert_true(qat_activation_find("hard_swish", &a) && a == QAT_ACTIVATION_HARD_SILU);
  assert_true(qat_activation_find("hard_silu", &a) && a == QAT_ACTIVATION_HARD_SILU);
  assert_false(qat_activation_find("gelu", &a));
  assert_true(qat_activation_alpha(QAT_ACTIVATION_LEAKY_RELU, 0) == 0.2f);
  assert_true(qat_activation_alpha(QAT_ACTIVATION_ELU, 0) == 1.0f);
  assert_true(qat_activation_alpha(QAT_ACTIVATION_LEAKY_RELU, 0.3f) == 0.3f);
}

static void load_npy(const char *path, qat_npy *a) {
  if (qat_npy_load(path, 1 << 26, a)) fail_msg("%s: %s", path, qat_error_message());
  assert_int_equal(a->dtype, QAT_NPY_F4);
}

/* Imports `file`, runs qat's float forward on NAME.x.npy, compares with NAME.y.npy. */
static void check_fixture(const char *file, const char *name) {
  char path[512];
  qat_keras_model k;
  if (qat_keras_load(file, NULL, &k)) fail_msg("%s: %s", file, qat_error_message());
  qat_npy x, y;
  snprintf(path, sizeof path, FIX "%s.x.npy", name);
  load_npy(path, &x);
  snprintf(path, sizeof path, FIX "%s.y.npy", name);
  load_npy(path, &y);
  int n = (int)x.shape[0], classes = (int)y.shape[1];
  qat_model *m = NULL;
  if (qat_model_create(&m, &k.spec, n, 1)) fail_msg("%s: %s", file, qat_error_message());
  assert_int_equal(qat_keras_apply(&k, m), 0);
  qat_exec ex = {0};
  qat_model_forward(m, x.data, n, &ex);
  assert_int_equal(m->logits->dims[1], classes);
  double worst = 0;
  for (int s = 0; s < n; s++) {
    const float *z = m->logits->data + (size_t)s * classes;
    double mx = z[0], sum = 0;
    for (int j = 1; j < classes; j++) mx = z[j] > mx ? z[j] : mx;
    for (int j = 0; j < classes; j++) sum += exp(z[j] - mx);
    for (int j = 0; j < classes; j++) {
      /* a final softmax is folded into the loss: Keras's outputs include it */
      double v = m->final_softmax ? exp(z[j] - mx) / sum : z[j];
      double d = fabs(v - (double)((const float *)y.data)[(size_t)s * classes + j]);
      worst = d > worst ? d : worst;
    }
  }
  printf("  %s: %d samples, max |qat - keras| = %.3g\n", file, n, worst);
  assert_true(worst <= 1e-4);
  qat_model_free(m);
  qat_npy_free(&x);
  qat_npy_free(&y);
  qat_keras_free(&k);
}

static void test_fixture_activations(void **state) {
  (void)state;
  check_fixture(FIX "activations.h5", "activations");
  check_fixture(FIX "activations.keras", "activations");
  check_fixture(FIX "act_int8.h5", "act_int8");
  check_fixture(FIX "act_int8.keras", "act_int8");
}

static void test_fixture_se_block(void **state) {
  (void)state;
  check_fixture(FIX "se_block.h5", "se_block");
  check_fixture(FIX "se_block.keras", "se_block");
  check_fixture(FIX "se_keepdims.h5", "se_keepdims");
  check_fixture(FIX "se_keepdims.keras", "se_keepdims");
}

static void test_fixture_sub_block(void **state) {
  (void)state;
  check_fixture(FIX "sub_block.h5", "sub_block");
  check_fixture(FIX "sub_block.keras", "sub_block");
}

/* MobileNetV3's input Rescaling(1/127.5, -1) before a SAME conv: a 1x1 depthwise layer of its own */
static void test_fixture_rescale_same(void **state) {
  (void)state;
  check_fixture(FIX "rescale_same.h5", "rescale_same");
  check_fixture(FIX "rescale_same.keras", "rescale_same");
}

/* EfficientNet's stem: Rescaling and an adapted Normalization composed before a padded conv
 * (a 1x1 depthwise layer of their own: the mean's offset cannot fold), a stochastic-depth
 * Dropout; and a config-given Normalization before a max pool */
static void test_fixture_normalization(void **state) {
  (void)state;
  check_fixture(FIX "norm_stem.h5", "norm_stem");
  check_fixture(FIX "norm_stem.keras", "norm_stem");
  check_fixture(FIX "norm_pool.h5", "norm_pool");
  check_fixture(FIX "norm_pool.keras", "norm_pool");
}

/* Keras 3's hard_sigmoid written as tensor operations, relu6(x + 3.0) * (1.0 / 6.0), read as one
 * Activation (MobileNetV3's squeeze-and-excite) */
static void test_fixture_hard_sigmoid_ops(void **state) {
  (void)state;
  check_fixture(FIX "hard_se.h5", "hard_se");
  check_fixture(FIX "hard_se.keras", "hard_se");
}

/* Conv2D and DepthwiseConv2D with dilation_rate, SAME and VALID */
static void test_fixture_dilated(void **state) {
  (void)state;
  check_fixture(FIX "dilated.h5", "dilated");
  check_fixture(FIX "dilated.keras", "dilated");
}

/* Add and Subtract broadcasting [N,1,1,C] against [N,H,W,C] */
static void test_fixture_max_min(void **state) {
  (void)state;
  check_fixture(FIX "max_min.h5", "max_min");
  check_fixture(FIX "max_min.keras", "max_min");
}

/* PReLU: alpha per channel (shared_axes [1, 2]) and over the whole [H, W, C]; on sequences
 * alpha [1, C] and [T, C] */
static void test_fixture_prelu(void **state) {
  (void)state;
  check_fixture(FIX "prelu.h5", "prelu");
  check_fixture(FIX "prelu.keras", "prelu");
  check_fixture(FIX "prelu_seq.h5", "prelu_seq");
  check_fixture(FIX "prelu_seq.keras", "prelu_seq");
}

/* ReLU with max_value 0.5, 0.3, 1 and 0.25: after convs, into a Concatenate, after an Add and a
 * Dense (the cap is Keras's clip to [0, max_value]) */
static void test_fixture_relu_cap(void **state) {
  (void)state;
  check_fixture(FIX "relu_cap.h5", "relu_cap");
  check_fixture(FIX "relu_cap.keras", "relu_cap");
}

/* UpSampling1D between two Conv1D on a sequence */
static void test_fixture_upsample_seq(void **state) {
  (void)state;
  check_fixture(FIX "upsample_seq.h5", "upsample_seq");
  check_fixture(FIX "upsample_seq.keras", "upsample_seq");
}

/* Conv1D with padding causal (dilated, then strided) */
static void test_fixture_causal_seq(void **state) {
  (void)state;
  check_fixture(FIX "causal_seq.h5", "causal_seq");
  check_fixture(FIX "causal_seq.keras", "causal_seq");
}

/* ReLU with thresholds 0.2, 0.05 and 0.1 (x > t ? x : 0) after convs and a Dense */
static void test_fixture_relu_threshold(void **state) {
  (void)state;
  check_fixture(FIX "relu_threshold.h5", "relu_threshold");
  check_fixture(FIX "relu_threshold.keras", "relu_threshold");
}

/* PReLU in YAML: shared_axes as an axis or a list (a mask of Keras axes), alpha shaped by them
 * (zeros, Keras's default), an axis beyond the input refused when the model is built. */
static void test_prelu_config(void **state) {
  (void)state;
  static const char *const texts[3] = {
      "model:\n  input: [6, 5, 3]\n  layers:\n    - PReLU: {shared_axes: [1, 2]}\n    - Flatten\n"
      "    - Dense: {units: 2}\n",
      "model:\n  input: [6, 5, 3]\n  layers:\n    - PReLU: {shared_axes: 2}\n    - Flatten\n"
      "    - Dense: {units: 2}\n",
      "model:\n  input: [7, 3]\n  layers:\n    - PReLU: {shared_axes: 3}\n    - Flatten\n"
      "    - Dense: {units: 2}\n"};
  static const int masks[3] = {3, 2, 4}, alpha[2][3] = {{1, 1, 3}, {6, 1, 3}};
  for (int i = 0; i < 3; i++) {
    qat_config cfg;
    if (qat_config_parse(texts[i], strlen(texts[i]), "prelu.yaml", &cfg)) fail_msg("%s", qat_error_message());
    assert_int_equal(cfg.model.layers[0].shared_axes, masks[i]);
    qat_model *m = NULL;
    int rc = qat_model_create(&m, &cfg.model, 2, 1);
    if (i < 2) {
      if (rc) fail_msg("%s", qat_error_message());
      const qat_param *p = qat_model_find_param(m, "p_re_lu/alpha");
      assert_non_null(p);
      assert_int_equal(p->rank, 3);
      assert_memory_equal(p->dims, alpha[i], 3 * sizeof(int));
      for (int64_t k = 0; k < p->size; k++) assert_true(p->tensor->data[k] == 0.0f);
    } else {
      assert_int_equal(rc, QAT_ERR_USAGE);
      assert_non_null(strstr(qat_error_message(), "shared_axes names axis 3, but the input has 2 dimensions"));
    }
    qat_model_free(m);
    qat_config_free(&cfg);
  }
  qat_config cfg;
  static const char bad[] = "model:\n  input: [6, 5, 3]\n  layers:\n    - PReLU: {shared_axes: [0]}\n";
  assert_int_equal(qat_config_parse(bad, strlen(bad), "prelu.yaml", &cfg), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "shared_axes"));
}

static void test_fixture_add_bcast(void **state) {
  (void)state;
  check_fixture(FIX "add_bcast.h5", "add_bcast");
  check_fixture(FIX "add_bcast.keras", "add_bcast");
}

/* Cropping2D, asymmetric and as one number */
static void test_fixture_crop(void **state) {
  (void)state;
  check_fixture(FIX "crop.h5", "crop");
  check_fixture(FIX "crop.keras", "crop");
}

static void test_fixture_pad_pool(void **state) {
  (void)state;
  check_fixture(FIX "pad_pool.h5", "pad_pool");
  check_fixture(FIX "pad_pool.keras", "pad_pool");
}

/* ReLU(negative_slope) and the Softmax layer: the stored outputs are Keras's probabilities. */
static void test_fixture_softmax_slope(void **state) {
  (void)state;
  check_fixture(FIX "softmax_slope.h5", "softmax_slope");
  check_fixture(FIX "softmax_slope.keras", "softmax_slope");
}

/* Every unsupported layer of a file in one message, counted by class, tensor operations apart. */
static void test_unsupported_all_at_once(void **state) {
  (void)state;
  qat_keras_model k;
  assert_int_equal(qat_keras_load(FIX "unsupported.keras", NULL, &k), QAT_ERR_UNSUPPORTED);
  const char *msg = qat_error_message();
  printf("  %s\n", msg);
  assert_non_null(strstr(msg, "unsupported.keras"));
  assert_non_null(strstr(msg, "layer 'norm_a' (LayerNormalization): class 'LayerNormalization' is not supported"));
  assert_non_null(strstr(msg, "the file has 4 unsupported layers: LayerNormalization x2, ops.Add x1, ops.Multiply x1"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activation_values),
      cmocka_unit_test(test_activation_names),
      cmocka_unit_test(test_fixture_activations),
      cmocka_unit_test(test_fixture_se_block),
      cmocka_unit_test(test_fixture_softmax_slope),
      cmocka_unit_test(test_fixture_sub_block),
      cmocka_unit_test(test_fixture_pad_pool),
      cmocka_unit_test(test_fixture_rescale_same),
      cmocka_unit_test(test_fixture_normalization),
      cmocka_unit_test(test_fixture_hard_sigmoid_ops),
      cmocka_unit_test(test_fixture_crop),
      cmocka_unit_test(test_fixture_dilated),
      cmocka_unit_test(test_fixture_add_bcast),
      cmocka_unit_test(test_fixture_max_min),
      cmocka_unit_test(test_fixture_prelu),
      cmocka_unit_test(test_fixture_relu_cap),
      cmocka_unit_test(test_fixture_relu_threshold),
      cmocka_unit_test(test_fixture_upsample_seq),
      cmocka_unit_test(test_fixture_causal_seq),
      cmocka_unit_test(test_prelu_config),
      cmocka_unit_test(test_unsupported_all_at_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
