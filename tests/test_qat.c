/* Quantization-aware models: where fake quant goes for each example config, batch-norm
 * folding against conv-then-BN, the delay schedule, values on the int8 grid, and quantizer
 * state through a checkpoint. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/rng.h"
#include "qat/train.h"
#include "tests/support/fake_quant_add.h"

static qat_model *build_example(const char *name, qat_config *cfg, int quant) {
  char path[1024];
  snprintf(path, sizeof path, "%s/examples/%s", QAT_SOURCE_DIR, name);
  if (qat_config_load(path, cfg)) fail_msg("%s", qat_error_message());
  cfg->model.quantize.enabled = quant;
  cfg->model.quantize.decay = 0.999f;
  qat_model *m;
  if (qat_model_create(&m, &cfg->model, 4, 1)) fail_msg("%s", qat_error_message());
  return m;
}

static int layer_index(const qat_model *m, const char *name) {
  for (int i = 0; i < m->spec.n_layers; i++)
    if (!strcmp(m->spec.layers[i].name, name)) return i;
  fail_msg("no layer %s", name);
  return -1;
}

static void expect_fqs(const qat_model *m, const char *const *names, int n) {
  if (m->n_fq != n) {
    for (int i = 0; i < m->n_fq; i++) fprintf(stderr, "  fq %d: %s\n", i, m->fq[i]->name);
    fail_msg("%d fake-quant nodes, expected %d", m->n_fq, n);
  }
  for (int i = 0; i < n; i++)
    if (strcmp(m->fq[i]->name, names[i])) fail_msg("fake quant %d is '%s', expected '%s'", i, m->fq[i]->name, names[i]);
}

/* No fake quant may sit between a conv and the ReLU fused into it. */
static void expect_no_fq_before_relu(const qat_model *m) {
  const qat_graph *g = &m->graph;
  for (int i = 1; i < g->n_nodes; i++) {
    qat_op op = g->nodes[i].op;
    if (op != QAT_OP_RELU && op != QAT_OP_RELU6) continue;
    for (int j = 0; j < i; j++)
      if (g->nodes[j].output == g->nodes[i].inputs[0] && qat_node_fq(&g->nodes[j]))
        fail_msg("fake quant feeds a ReLU at node %d", i);
  }
}

static void test_placement_seed_cnn(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = build_example("fashion_mnist_cnn.yaml", &cfg, 1);
  static const char *const want[] = {"input", "conv2d/kernel", "conv2d/bias", "conv2d", "conv2d_1/kernel",
                                     "conv2d_1/bias", "conv2d_1", "dense/kernel", "dense/bias", "dense",
                                     "dense_1/kernel", "dense_1/bias", "dense_1"};
  expect_fqs(m, want, 13);
  expect_no_fq_before_relu(m);
  /* pools, dropout and flatten share the conv's quantizer */
  const qat_fq *conv = qat_model_find_fq(m, "conv2d");
  assert_ptr_equal(m->layer_fq[layer_index(m, "max_pooling2d")], conv);
  assert_ptr_equal(m->layer_fq[layer_index(m, "dropout")], conv);
  assert_ptr_equal(m->layer_fq[layer_index(m, "flatten")], qat_model_find_fq(m, "conv2d_1"));
  /* weights per channel on the output axis; the bias grid follows the right input */
  const qat_fq *k = qat_model_find_fq(m, "conv2d_1/kernel"), *b = qat_model_find_fq(m, "conv2d_1/bias");
  assert_int_equal(k->axis, 0);
  assert_int_equal(k->channels, 64);
  assert_int_equal(k->qmin, -127);
  assert_ptr_equal(b->input, conv);
  assert_ptr_equal(b->weight, k);
  assert_ptr_equal(qat_model_find_fq(m, "dense/bias")->input, qat_model_find_fq(m, "conv2d_1"));
  qat_model_free(m);
  qat_config_free(&cfg);
  /* without quantize: no fake quant at all */
  m = build_example("fashion_mnist_cnn.yaml", &cfg, 0);
  assert_int_equal(m->n_fq, 0);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_placement_residual_net(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = build_example("mobilenet_tiny.yaml", &cfg, 1);
  /* conv + BN (+ ReLU6) units are one op each: one quantizer at the end, none inside; the
   * folded convs have no bias quantizer (their bias lives in the BN) */
  static const char *const want[] = {
      "input",         "stem/kernel",       "stem_relu",         "b1_dw/depthwise_kernel", "b1_dw_relu",
      "b1_project/kernel", "b1_project_bn", "b1_add",            "b2_expand/kernel",       "b2_expand_relu",
      "b2_dw/depthwise_kernel", "b2_dw_relu", "b2_project/kernel", "b2_project_bn",         "b3_expand/kernel",
      "b3_expand_relu", "b3_dw/depthwise_kernel", "b3_dw_relu",  "b3_project/kernel",      "b3_project_bn",
      "b3_add",        "pool",              "logits/kernel",     "logits/bias",            "logits"};
  expect_fqs(m, want, (int)(sizeof want / sizeof want[0]));
  expect_no_fq_before_relu(m);
  assert_int_equal(m->fold_bn[layer_index(m, "stem")], layer_index(m, "stem_bn"));
  assert_int_equal(m->fold_bn[layer_index(m, "b2_dw")], layer_index(m, "b2_dw_bn"));
  assert_int_equal(m->fused_into[layer_index(m, "b2_dw_relu")], layer_index(m, "b2_dw"));
  assert_int_equal(qat_model_find_fq(m, "b2_dw/depthwise_kernel")->axis, 3);
  assert_int_equal(qat_model_find_fq(m, "b2_dw/depthwise_kernel")->channels, 48);
  assert_null(m->layer_fq[layer_index(m, "stem")]); /* inside a fused chain */
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_unfoldable_batch_norm_is_refused(void **state) {
  (void)state;
  const char *text =
      "model:\n  input: [6, 6, 1]\n  layers:\n"
      "    - Conv2D: {filters: 2, kernel_size: 3, activation: relu}\n"
      "    - BatchNormalization: {name: late_bn}\n"
      "    - Flatten: {}\n    - Dense: {units: 2}\n"
      "quantize: {mode: qat}\n";
  qat_config cfg;
  assert_int_equal(qat_config_parse(text, strlen(text), "bn.yaml", &cfg), 0);
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &cfg.model, 2, 1), QAT_ERR_UNSUPPORTED);
  assert_non_null(strstr(qat_error_message(), "bn.yaml:5:7: layer 'late_bn' (BatchNormalization): for int8 it must directly follow a linear Conv2D"));
  qat_config_free(&cfg);
}

static void randomize(qat_model *m, uint64_t seed) {
  qat_rng r;
  qat_rng_seed(&r, seed);
  for (int64_t i = 0; i < m->n_params; i++) m->params[i] = qat_rng_uniform(&r) - 0.5f;
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    if (p->trainable) continue;
    int var = strstr(p->name, "variance") != NULL;
    for (int64_t k = 0; k < p->size; k++) p->tensor->data[k] = var ? 0.5f + qat_rng_uniform(&r) : qat_rng_uniform(&r) - 0.5f;
  }
  for (int i = 0; i < m->n_param_list; i++) /* gamma away from 0 */
    if (strstr(m->param_list[i].name, "gamma"))
      for (int64_t k = 0; k < m->param_list[i].size; k++) m->param_list[i].tensor->data[k] += 1.0f;
}

/* The folded unit in inference (moving statistics, no fake quant) computes what conv + bias +
 * BN computes: including after its conv bias moved into the BN's moving mean. */
static void test_folded_conv_bn_equals_conv_then_bn(void **state) {
  (void)state;
  const char *text =
      "model:\n  input: [7, 7, 3]\n  layers:\n"
      "    - Conv2D: {filters: 4, kernel_size: 3, padding: same}\n"
      "    - BatchNormalization: {}\n    - ReLU: {max_value: 6}\n"
      "    - DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 2}\n"
      "    - BatchNormalization: {}\n"
      "    - GlobalAveragePooling2D: {}\n    - Dense: {units: 3}\n";
  qat_config cfg;
  assert_int_equal(qat_config_parse(text, strlen(text), "fold.yaml", &cfg), 0);
  qat_model *fl, *q;
  assert_int_equal(qat_model_create(&fl, &cfg.model, 2, 1), 0);
  cfg.model.quantize.enabled = 1;
  cfg.model.quantize.decay = 0.999f;
  assert_int_equal(qat_model_create(&q, &cfg.model, 2, 1), 0);
  assert_int_equal(fl->n_params, q->n_params);
  randomize(fl, 3);
  memcpy(q->params, fl->params, (size_t)fl->n_params * sizeof(float));
  memcpy(q->state, fl->state, (size_t)fl->n_state * sizeof(float));
  qat_model_absorb_folded_bias(q);
  assert_true(qat_model_find_param(q, "conv2d/bias")->tensor->data[0] == 0.0f);
  float x[2 * 7 * 7 * 3];
  qat_rng r;
  qat_rng_seed(&r, 4);
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = qat_rng_uniform(&r);
  qat_exec ex = {.training = 0};
  qat_model_forward(fl, x, 2, &ex);
  qat_model_forward(q, x, 2, &ex);
  for (int i = 0; i < 6; i++)
    if (fabsf(fl->logits->data[i] - q->logits->data[i]) > 1e-5f * (1.0f + fabsf(fl->logits->data[i])))
      fail_msg("logit %d: conv then BN %.7g, folded %.7g", i, fl->logits->data[i], q->logits->data[i]);
  qat_model_free(fl);
  qat_model_free(q);
  qat_config_free(&cfg);
}

static const char small_net[] =
    "model:\n  input: [6, 6, 1]\n  layers:\n"
    "    - Conv2D: {filters: 3, kernel_size: 3, activation: relu}\n"
    "    - MaxPooling2D: {pool_size: 2}\n    - Flatten: {}\n    - Dense: {units: 4}\n"
    "quantize: {mode: qat, delay: 5}\n";

static void test_delay_then_values_on_the_int8_grid(void **state) {
  (void)state;
  qat_config cfg;
  assert_int_equal(qat_config_parse(small_net, strlen(small_net), "small.yaml", &cfg), 0);
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &cfg.model, 3, 2), 0);
  float x[3 * 36];
  int32_t y[3] = {0, 1, 2};
  qat_rng r;
  qat_rng_seed(&r, 5);
  for (int i = 0; i < 3 * 36; i++) x[i] = qat_rng_uniform(&r);
  /* before the delay: every fake quant passes values through untouched */
  qat_exec ex = {.training = 1};
  qat_model_schedule(m, 4, &ex);
  assert_false(ex.fake_quant);
  qat_model_step(m, x, y, 3, &ex, 0, NULL, NULL);
  const qat_fq *in = qat_model_find_fq(m, "input");
  assert_false(in->observer.initialized);
  float first_logits[12];
  memcpy(first_logits, m->logits->data, sizeof first_logits);
  /* after it: the conv's output lies on its int8 grid */
  qat_model_schedule(m, 5, &ex);
  assert_true(ex.fake_quant);
  qat_model_step(m, x, y, 3, &ex, 1, NULL, NULL);
  const qat_fq *conv = qat_model_find_fq(m, "conv2d");
  assert_true(conv->valid && in->valid);
  assert_true(in->nudged_min[0] <= 0.0f && in->nudged_max[0] >= 0.99f);
  const qat_tensor *t = m->layer_out[0];
  int off_grid = 0;
  for (int64_t i = 0; i < qat_tensor_size(t); i++) {
    float q = t->data[i] / conv->scale[0] + (float)conv->zero_point[0];
    if (fabsf(q - roundf(q)) > 1e-3f || q < -128.5f || q > 127.5f) off_grid++;
  }
  assert_int_equal(off_grid, 0);
  assert_memory_not_equal(first_logits, m->logits->data, sizeof first_logits);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_quantizer_ranges_survive_a_checkpoint(void **state) {
  (void)state;
  qat_config cfg;
  assert_int_equal(qat_config_parse(small_net, strlen(small_net), "small.yaml", &cfg), 0);
  cfg.model.quantize.delay = 0;
  qat_model *a, *b;
  assert_int_equal(qat_model_create(&a, &cfg.model, 3, 2), 0);
  assert_int_equal(qat_model_create(&b, &cfg.model, 3, 9), 0);
  float x[3 * 36];
  int32_t y[3] = {3, 1, 2};
  for (int i = 0; i < 3 * 36; i++) x[i] = (float)(i % 7) * 0.3f - 0.5f;
  qat_exec ex = {.training = 1};
  qat_model_schedule(a, 0, &ex);
  for (int s = 0; s < 3; s++) qat_model_step(a, x, y, 3, &ex, 0, NULL, NULL);
  char path[1024];
  snprintf(path, sizeof path, "%s/test_qat_ckpt_XXXXXX", QAT_BINARY_DIR);
  int fd = mkstemp(path);
  close(fd);
  qat_checkpoint_meta meta = {1, 3, 2};
  assert_int_equal(qat_checkpoint_save(path, a, NULL, cfg.text, &meta), 0);
  assert_int_equal(qat_checkpoint_load(path, b, NULL, NULL), 0);
  for (int i = 0; i < a->n_fq; i++) {
    if (a->fq[i]->role != QAT_FQ_ACTIVATION) continue;
    assert_true(a->fq[i]->observer.min == b->fq[i]->observer.min);
    assert_true(a->fq[i]->observer.max == b->fq[i]->observer.max);
    assert_true(b->fq[i]->valid);
    assert_true(a->fq[i]->scale[0] == b->fq[i]->scale[0]);
  }
  /* the reloaded model evaluates exactly as the original */
  qat_exec ev = {.training = 0, .fake_quant = 1};
  qat_model_forward(a, x, 3, &ev);
  qat_model_forward(b, x, 3, &ev);
  assert_memory_equal(a->logits->data, b->logits->data, 12 * sizeof(float));
  unlink(path);
  qat_model_free(a);
  qat_model_free(b);
  qat_config_free(&cfg);
}

/* LSQ's step-size gradient is a definition (rounding treated as identity), not a derivative
 * finite differences could check, so it is checked against numbers worked by hand:
 * s = 0.5 on the signed grid [-128, 127], x = (0.3, -0.7, 100, -70), dy = 1:
 *   x/s = (0.6, -1.4, 200, -140): round - x/s = 0.4, 0.4; above: Qp = 127; below: Qn = -128
 *   ds = (0.4 + 0.4 + 127 - 128) / sqrt(N * Qp) = -0.2 / sqrt(4 * 127) = -0.0088735651
 *   y = (0.5, -0.5, 63.5, -64), dx = (1, 1, 0, 0) */
static void test_lsq_step_size_gradient_by_hand(void **state) {
  (void)state;
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 1), 0);
  float xv[4] = {0.3f, -0.7f, 100.0f, -70.0f}, xg[4] = {0}, sv[1] = {0.5f}, sg[1] = {0};
  float scale[1], nmin[1], nmax[1];
  int32_t zp[1] = {0};
  qat_fq fq = {.role = QAT_FQ_ACTIVATION, .name = "lsq", .qmin = -128, .qmax = 127, .axis = -1, .channels = 1,
               .scale = scale, .zero_point = zp, .nudged_min = nmin, .nudged_max = nmax, .learned = 1};
  qat_tensor *x = qat_graph_external(&g, 1, (int[]){4}, xv, xg, 0);
  qat_tensor *st = qat_graph_external(&g, 1, (int[]){1}, sv, sg, 0);
  qat_tensor *y;
  qat_op_attrs a = {.custom = &qat_fake_quant_op, .state = &fq};
  assert_int_equal(qat_graph_add(&g, QAT_OP_CUSTOM, 2, (qat_tensor *[]){x, st}, &a, &y), 0);
  qat_exec ex = {.training = 1, .fake_quant = 1};
  qat_graph_forward(&g, &ex);
  const float want_y[4] = {0.5f, -0.5f, 63.5f, -64.0f};
  assert_memory_equal(y->data, want_y, sizeof want_y);
  for (int i = 0; i < 4; i++) y->grad[i] = 1.0f;
  qat_node_info(&g.nodes[0])->backward(&g.nodes[0], &ex);
  if (fabsf(sg[0] - (-0.0088735651f)) > 1e-7f) fail_msg("step-size gradient %.9g", sg[0]);
  const float want_dx[4] = {1, 1, 0, 0};
  assert_memory_equal(xg, want_dx, sizeof want_dx);
  assert_true(fq.scale[0] == 0.5f && fq.valid);
  qat_graph_free(&g);
}

/* ADD's fake quant computes TFLite's int8 ADD (inputs rescaled with left shift 20 and Q31
 * multipliers, summed, requantized: qat_add_requantize), not round((s1 c1 + s2 c2) / s_out):
 * over every pair of int8 inputs at these scales, the plain rounding of the float sum
 * differs from the kernel on some pairs (near ties), the fake-quant ADD on none. */
static void test_add_fake_quant_is_the_int8_add(void **state) {
  (void)state;
  const float s1 = 0.1f, s2 = 0.1f, s_out = 0.2f; /* (c1 + c2) / 2: a tie for every odd sum */
  const int32_t zp = 3;
  enum { N = 256 * 256 };
  int8_t *q1 = malloc(N), *q2 = malloc(N);
  int32_t *got = malloc(N * sizeof(int32_t));
  assert_true(q1 && q2 && got);
  for (int i = 0; i < N; i++) q1[i] = (int8_t)(i / 256 - 128), q2[i] = (int8_t)(i % 256 - 128);
  fake_quant_add(q1, q2, N, s1, 0, s2, 0, s_out, zp, 0, got);
  int32_t mult[3];
  int shift[3];
  assert_int_equal(qat_add_multipliers(s1, s2, s_out, 20, mult, shift), 0);
  int plain_differs = 0, fq_differs = 0;
  for (int i = 0; i < N; i++) {
    const int32_t want = qat_add_requantize(q1[i], q2[i], 0, mult, shift, 20, zp, -128, 127);
    /* the float add of the training graph, rounded once */
    const int32_t plain = qat_quantize_value((float)q1[i] * s1 + (float)q2[i] * s2, s_out, zp, -128, 127);
    plain_differs += plain != want;
    fq_differs += got[i] != want;
  }
  printf("# ADD over %d int8 pairs: plain rounding differs from the kernel on %d, fake quant on %d\n", N,
         plain_differs, fq_differs);
  assert_true(plain_differs > 0);
  assert_int_equal(fq_differs, 0);
  free(q1), free(q2), free(got);
}

/* With LSQ the step sizes are parameters: named for their tensor, outside weight decay, and
 * started from the first batch (2 mean|x| / sqrt(Qp)). */
static void test_lsq_model(void **state) {
  (void)state;
  qat_config cfg;
  char text[1024];
  snprintf(text, sizeof text, "%s", small_net);
  char *q = strstr(text, "quantize:");
  snprintf(q, sizeof text - (size_t)(q - text),
           "quantize: {mode: qat, activations: {observer: lsq}, weights: {observer: lsq}}\n");
  assert_int_equal(qat_config_parse(text, strlen(text), "lsq.yaml", &cfg), 0);
  assert_true(cfg.model.quantize.activations_lsq && cfg.model.quantize.weights_lsq);
  qat_model *m;
  if (qat_model_create(&m, &cfg.model, 3, 2)) fail_msg("%s", qat_error_message());
  const qat_param *in = qat_model_find_param(m, "input/lsq_output_scale");
  const qat_param *w = qat_model_find_param(m, "conv2d/lsq_weight_scale");
  assert_non_null(in);
  assert_non_null(w);
  assert_int_equal(w->size, 3); /* per output channel */
  assert_true(in->offset >= m->n_decay && w->offset >= m->n_decay);
  assert_true(in->tensor->data[0] == 0.0f);
  float x[3 * 36];
  int32_t y[3] = {0, 1, 2};
  for (int i = 0; i < 3 * 36; i++) x[i] = (float)(i % 4) / 3.0f;
  qat_exec ex = {.training = 1, .fake_quant = 1};
  qat_model_step(m, x, y, 3, &ex, 1, NULL, NULL);
  /* mean|x| = 0.5 (0, 1/3, 2/3, 1 equally often in 108 values): s = 2 * 0.5 / sqrt(255) */
  if (fabsf(in->tensor->data[0] - 1.0f / sqrtf(255.0f)) > 1e-6f) fail_msg("input step %g", in->tensor->data[0]);
  assert_int_equal(qat_model_find_fq(m, "input")->zero_point[0], -128);
  assert_int_equal(qat_model_find_fq(m, "dense")->zero_point[0], 0);
  /* a filter whose outputs the ReLU zeroes everywhere gets no gradient: look at all three */
  float wg = fabsf(m->grads[w->offset]) + fabsf(m->grads[w->offset + 1]) + fabsf(m->grads[w->offset + 2]);
  if (!(m->grads[in->offset] != 0.0f && wg > 0.0f))
    fail_msg("step-size gradients: input %g, conv weights %g", m->grads[in->offset], wg);
  qat_model_free(m);
  qat_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_placement_seed_cnn),
      cmocka_unit_test(test_placement_residual_net),
      cmocka_unit_test(test_unfoldable_batch_norm_is_refused),
      cmocka_unit_test(test_folded_conv_bn_equals_conv_then_bn),
      cmocka_unit_test(test_delay_then_values_on_the_int8_grid),
      cmocka_unit_test(test_quantizer_ranges_survive_a_checkpoint),
      cmocka_unit_test(test_lsq_step_size_gradient_by_hand),
      cmocka_unit_test(test_add_fake_quant_is_the_int8_add),
      cmocka_unit_test(test_lsq_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
