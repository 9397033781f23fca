/* The model builder: parameter counts of the seed CNNs, residual DAGs, shape errors that name
 * the layer, Keras-style initialization, determinism, learning, and no allocation per step. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qat/error.h"
#include "qat/layer.h"
#include "qat/model.h"
#include "qat/optim.h"
#include "qat/rng.h"

/* ---- allocation counting (the test is linked with --wrap for these) ---- */
static long allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n) { allocations++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t k) { allocations++; return __real_calloc(n, k); }
void *__wrap_realloc(void *p, size_t n) { allocations++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { allocations++; return __real_aligned_alloc(a, n); }

static qat_layer_spec layer(qat_layer_type t, const char *name) {
  qat_layer_spec l;
  memset(&l, 0, sizeof l);
  l.type = t;
  snprintf(l.name, sizeof l.name, "%s", name);
  l.kernel_size[0] = l.kernel_size[1] = 3;
  l.strides[0] = l.strides[1] = 1;
  l.pool_size[0] = l.pool_size[1] = 2;
  l.use_bias = 1;
  l.depth_multiplier = 1;
  l.momentum = 0.99f;
  l.epsilon = 1e-3f;
  return l;
}

static qat_layer_spec conv(const char *name, int filters, qat_activation act) {
  qat_layer_spec l = layer(QAT_LAYER_CONV2D, name);
  l.filters = filters;
  l.activation = act;
  return l;
}

static qat_layer_spec pool(const char *name) {
  qat_layer_spec l = layer(QAT_LAYER_MAX_POOL2D, name);
  l.strides[0] = l.strides[1] = 2;
  return l;
}

static qat_layer_spec dense(const char *name, int units, qat_activation act) {
  qat_layer_spec l = layer(QAT_LAYER_DENSE, name);
  l.units = units;
  l.activation = act;
  return l;
}

static qat_layer_spec dropout(const char *name, float rate) {
  qat_layer_spec l = layer(QAT_LAYER_DROPOUT, name);
  l.rate = rate;
  return l;
}

static qat_model_spec mnist_cnn(qat_layer_spec *l) {
  int n = 0;
  l[n++] = conv("conv2d", 32, QAT_ACTIVATION_RELU);
  l[n++] = pool("max_pooling2d");
  l[n++] = dropout("dropout", 0.25f);
  l[n++] = conv("conv2d_1", 64, QAT_ACTIVATION_RELU);
  l[n++] = pool("max_pooling2d_1");
  l[n++] = dropout("dropout_1", 0.25f);
  l[n++] = layer(QAT_LAYER_FLATTEN, "flatten");
  l[n++] = dense("dense", 256, QAT_ACTIVATION_RELU);
  l[n++] = dense("dense_1", 10, QAT_ACTIVATION_LINEAR);
  qat_model_spec s = {.input_shape = {28, 28, 1}, .n_layers = n, .layers = l, .source = "mnist.yaml"};
  return s;
}

static void test_seed_cnn_parameter_counts(void **state) {
  (void)state;
  qat_layer_spec l[16];
  qat_model_spec s = mnist_cnn(l);
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &s, 8, 1), 0);
  /* 320 + 18,496 + 409,856 + 2,570 */
  assert_int_equal(m->n_params, 431242);
  assert_int_equal(m->num_classes, 10);
  const qat_param *k = qat_model_find_param(m, "conv2d_1/kernel");
  assert_non_null(k);
  assert_int_equal(k->dims[0], 64); /* OHWI */
  assert_int_equal(k->dims[3], 32);
  qat_model_free(m);

  int n = 0;
  l[n++] = conv("conv2d", 32, QAT_ACTIVATION_RELU);
  l[n++] = pool("max_pooling2d");
  l[n++] = conv("conv2d_1", 64, QAT_ACTIVATION_RELU);
  l[n++] = pool("max_pooling2d_1");
  l[n++] = conv("conv2d_2", 64, QAT_ACTIVATION_RELU);
  l[n++] = layer(QAT_LAYER_FLATTEN, "flatten");
  l[n++] = dense("dense", 64, QAT_ACTIVATION_RELU);
  l[n++] = dense("dense_1", 10, QAT_ACTIVATION_LINEAR);
  qat_model_spec c = {.input_shape = {32, 32, 3}, .n_layers = n, .layers = l, .source = "cifar.yaml"};
  assert_int_equal(qat_model_create(&m, &c, 4, 1), 0);
  assert_int_equal(m->n_params, 122570);
  qat_model_free(m);
}

static void test_residual_dag_with_batch_norm(void **state) {
  (void)state;
  qat_layer_spec l[8];
  int n = 0;
  l[n] = conv("stem", 8, QAT_ACTIVATION_LINEAR);
  l[n++].padding = QAT_PADDING_SAME;
  l[n++] = layer(QAT_LAYER_BATCH_NORM, "bn");
  l[n] = layer(QAT_LAYER_RELU, "relu6");
  l[n++].max_value = 6.0f;
  l[n] = layer(QAT_LAYER_DEPTHWISE_CONV2D, "dw");
  l[n].padding = QAT_PADDING_SAME;
  l[n].depth_multiplier = 1;
  l[n++].activation = QAT_ACTIVATION_RELU6;
  l[n] = layer(QAT_LAYER_ADD, "add");
  l[n].n_inputs = 2;
  l[n].inputs[0] = 2; /* relu6 */
  l[n++].inputs[1] = 3; /* dw */
  l[n++] = layer(QAT_LAYER_GLOBAL_AVG_POOL2D, "gap");
  l[n++] = dense("logits", 4, QAT_ACTIVATION_SOFTMAX);
  qat_model_spec s = {.input_shape = {6, 6, 2}, .n_layers = n, .layers = l, .source = "res.yaml"};
  qat_model *m;
  if (qat_model_create(&m, &s, 4, 3)) fail_msg("%s", qat_error_message());
  assert_true(m->final_softmax);
  assert_int_equal(m->n_state, 16); /* moving mean and variance of 8 channels */
  const qat_param *var = qat_model_find_param(m, "bn/moving_variance");
  assert_non_null(var);
  assert_false(var->trainable);
  assert_true(m->state[var->offset] == 1.0f);
  const qat_param *dw = qat_model_find_param(m, "dw/depthwise_kernel");
  assert_int_equal(dw->dims[0], 1);
  assert_int_equal(dw->dims[3], 8);
  /* weight decay covers exactly the kernels */
  int64_t kernels = qat_model_find_param(m, "stem/kernel")->size + dw->size + qat_model_find_param(m, "logits/kernel")->size;
  assert_int_equal(m->n_decay, kernels);
  qat_model_free(m);
}

static void test_shape_errors_name_the_layer(void **state) {
  (void)state;
  qat_layer_spec l[4];
  l[0] = layer(QAT_LAYER_FLATTEN, "f");
  l[0].line = 7;
  l[0].column = 9;
  l[1] = conv("c", 4, QAT_ACTIVATION_RELU);
  l[1].line = 8;
  l[1].column = 9;
  qat_model_spec s = {.input_shape = {5, 5, 1}, .n_layers = 2, .layers = l, .source = "bad.yaml"};
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &s, 2, 1), QAT_ERR_USAGE);
  assert_null(m);
  assert_non_null(strstr(qat_error_message(), "bad.yaml:8:9: layer 'c' (Conv2D): "));
  assert_non_null(strstr(qat_error_message(), "expects an input [batch,H,W,C], got rank 2"));

  l[0] = conv("big", 4, QAT_ACTIVATION_RELU);
  l[0].kernel_size[0] = l[0].kernel_size[1] = 7;
  l[0].line = 3;
  l[0].column = 5;
  assert_int_equal(qat_model_create(&m, &s, 2, 1), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "bad.yaml:3:5: layer 'big' (Conv2D): Conv2D kernel 7x7 is larger than its input"));

  l[0] = layer(QAT_LAYER_FLATTEN, "f");
  l[1] = dense("d", 3, QAT_ACTIVATION_LINEAR);
  l[2] = layer(QAT_LAYER_ADD, "sum");
  l[2].n_inputs = 2;
  l[2].inputs[0] = 0;
  l[2].inputs[1] = 1;
  l[2].line = 12;
  s.n_layers = 3;
  assert_int_equal(qat_model_create(&m, &s, 2, 1), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "layer 'sum' (Add): Add / Subtract inputs [2,25] and [2,3] do not broadcast"));

  s.n_layers = 1; /* Flatten alone ends in [batch, 25]: fine as logits */
  assert_int_equal(qat_model_create(&m, &s, 2, 1), 0);
  qat_model_free(m);
  /* a conv last: a segmenter's logits, one distribution per pixel */
  l[0] = conv("c", 4, QAT_ACTIVATION_RELU);
  assert_int_equal(qat_model_create(&m, &s, 2, 1), 0);
  assert_int_equal(m->num_classes, 4);
  assert_int_equal(m->positions, m->logits->dims[1] * m->logits->dims[2]);
  qat_model_free(m);
  l[0] = conv("c", 1, QAT_ACTIVATION_RELU);
  assert_int_equal(qat_model_create(&m, &s, 2, 1), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "sparse_categorical_crossentropy needs an output [batch, ..., classes] "
                                              "with 2 or more classes, got 1 values"));

  /* a 1-D layer on an image: Keras refuses it (Conv1D takes ndim 3 with the batch); here it
   * would have run as a [1, k] 2-D convolution over the rows */
  l[0] = conv("c1", 4, QAT_ACTIVATION_LINEAR);
  l[0].type = QAT_LAYER_CONV1D;
  l[0].kernel_size[0] = 1;
  l[0].line = 4;
  l[0].column = 7;
  assert_int_equal(qat_model_create(&m, &s, 2, 1), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "bad.yaml:4:7: layer 'c1' (Conv1D): a 1-D layer takes a [steps, channels] "
                                              "input, got one of rank 3"));
  /* a threshold with a cap: Keras would compute both, qat writes only one at a time */
  l[0] = conv("c2", 4, QAT_ACTIVATION_LINEAR);
  l[1] = layer(QAT_LAYER_RELU, "thr");
  l[1].threshold = 0.5f;
  l[1].max_value = 2.0f;
  l[1].line = 5;
  l[1].column = 7;
  s.n_layers = 2;
  assert_int_equal(qat_model_create(&m, &s, 2, 1), QAT_ERR_UNSUPPORTED);
  assert_non_null(strstr(qat_error_message(), "bad.yaml:5:7: layer 'thr' (ReLU): a threshold goes alone"));
  l[1].max_value = 0.0f; /* alone it builds, its output on its input's grid (no quantizer) */
  if (qat_model_create(&m, &s, 2, 1)) fail_msg("%s", qat_error_message());
  qat_model_free(m);
  s.n_layers = 1;
  l[0] = conv("c1", 4, QAT_ACTIVATION_LINEAR);
  l[0].type = QAT_LAYER_CONV1D;
  l[0].kernel_size[0] = 1;
  /* ... and on a sequence it builds */
  qat_model_spec seq = {.input_shape = {1, 5, 1}, .input_rank = 2, .n_layers = 1, .layers = l, .source = "bad.yaml"};
  if (qat_model_create(&m, &seq, 2, 1)) fail_msg("%s", qat_error_message());
  qat_model_free(m);
}

/* A network whose activations, gradients and workspaces together pass the graph's limit (by
 * default the machine's memory) is refused while it is built, naming the batch, before a step
 * can be killed by the kernel; under the limit the same network builds. */
static void test_graph_memory_limit_refuses_the_network(void **state) {
  (void)state;
  qat_layer_spec l[16];
  qat_model_spec s = mnist_cnn(l);
  qat_model *m;
  /* at batch 64: conv2d's [64,26,26,32] output and gradient alone are 11 MiB */
  qat_graph_max_bytes = (size_t)8 << 20;
  assert_int_equal(qat_model_create(&m, &s, 64, 1), QAT_ERR_NOMEM);
  assert_null(m);
  const char *msg = qat_error_message();
  assert_non_null(strstr(msg, "mnist.yaml"));
  assert_non_null(strstr(msg, "for activations, gradients and workspaces at batch 64, more than the limit of 8 MiB"));
  qat_graph_max_bytes = (size_t)64 << 20;
  if (qat_model_create(&m, &s, 64, 1)) fail_msg("%s", qat_error_message());
  qat_model_free(m);
  qat_graph_max_bytes = 0;
}

/* Concatenate and UpSampling2D: hand-computed forwards, errors that name the layer, and the
 * shared quantizer (an input read only by the concatenation has no fake quant of its own). */
static void test_concatenate_and_upsampling(void **state) {
  (void)state;
  qat_layer_spec l[6];
  qat_model *m;
  qat_exec ex;
  memset(&ex, 0, sizeof ex);
  /* [x, x] along the channels, then along the width (axis 2), flattened: per pixel x0 x0 */
  l[0] = layer(QAT_LAYER_CONCATENATE, "cat");
  l[0].n_inputs = 2, l[0].inputs[0] = -1, l[0].inputs[1] = -1, l[0].axis = -1;
  l[1] = layer(QAT_LAYER_FLATTEN, "flat");
  qat_model_spec s = {.input_shape = {1, 2, 1}, .n_layers = 2, .layers = l, .source = "cat.yaml"};
  assert_int_equal(qat_model_create(&m, &s, 1, 1), 0);
  const float x[2] = {1.5f, -2.0f};
  qat_model_forward(m, x, 1, &ex);
  const float want_c[4] = {1.5f, 1.5f, -2.0f, -2.0f};
  for (int i = 0; i < 4; i++) assert_true(m->logits->data[i] == want_c[i]);
  qat_model_free(m);
  l[0].axis = 2;
  assert_int_equal(qat_model_create(&m, &s, 1, 1), 0);
  qat_model_forward(m, x, 1, &ex);
  const float want_w[4] = {1.5f, -2.0f, 1.5f, -2.0f};
  for (int i = 0; i < 4; i++) assert_true(m->logits->data[i] == want_w[i]);
  qat_model_free(m);
  l[0].axis = 0;
  l[0].line = 4, l[0].column = 7;
  assert_int_equal(qat_model_create(&m, &s, 1, 1), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "cat.yaml:4:7: layer 'cat' (Concatenate): axis 0 is not an axis"));
  /* mismatched shapes */
  l[0] = layer(QAT_LAYER_FLATTEN, "f");
  l[1] = layer(QAT_LAYER_CONCATENATE, "cat2");
  l[1].n_inputs = 2, l[1].inputs[0] = -1, l[1].inputs[1] = 0, l[1].axis = -1;
  assert_int_equal(qat_model_create(&m, &s, 1, 1), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "layer 'cat2' (Concatenate): Concatenate inputs must agree on every axis"));

  /* UpSampling2D: nearest 1x2 -> 2x4, bilinear 1x2 -> 1x4 (columns -0.25 .. 1.25: 0, 2.5, 7.5, 10) */
  l[0] = layer(QAT_LAYER_UP_SAMPLING2D, "up");
  l[0].size[0] = 2, l[0].size[1] = 2, l[0].interpolation = QAT_INTERP_NEAREST;
  l[1] = layer(QAT_LAYER_FLATTEN, "flat");
  assert_int_equal(qat_model_create(&m, &s, 1, 1), 0);
  qat_model_forward(m, x, 1, &ex);
  const float want_n[8] = {1.5f, 1.5f, -2.0f, -2.0f, 1.5f, 1.5f, -2.0f, -2.0f};
  for (int i = 0; i < 8; i++) assert_true(m->logits->data[i] == want_n[i]);
  qat_model_free(m);
  l[0].size[0] = 1, l[0].interpolation = QAT_INTERP_BILINEAR;
  assert_int_equal(qat_model_create(&m, &s, 1, 1), 0);
  const float x2[2] = {0.0f, 10.0f};
  qat_model_forward(m, x2, 1, &ex);
  const float want_b[4] = {0.0f, 2.5f, 7.5f, 10.0f};
  for (int i = 0; i < 4; i++) assert_true(fabsf(m->logits->data[i] - want_b[i]) < 1e-6f);
  qat_model_free(m);

  /* QAT: two conv branches only the concatenation reads share its quantizer; a branch also read
   * by another layer keeps its own */
  l[0] = conv("a", 2, QAT_ACTIVATION_RELU);
  l[1] = conv("b", 3, QAT_ACTIVATION_LINEAR);
  l[1].n_inputs = 1, l[1].inputs[0] = -1;
  l[2] = conv("c", 2, QAT_ACTIVATION_LINEAR);
  l[2].n_inputs = 1, l[2].inputs[0] = -1;
  l[3] = layer(QAT_LAYER_CONCATENATE, "cat");
  l[3].n_inputs = 3, l[3].inputs[0] = 0, l[3].inputs[1] = 1, l[3].inputs[2] = 2, l[3].axis = -1;
  l[4] = layer(QAT_LAYER_ADD, "sum"); /* reads c again */
  l[4].n_inputs = 2, l[4].inputs[0] = 2, l[4].inputs[1] = 2;
  l[5] = layer(QAT_LAYER_FLATTEN, "flat");
  l[5].n_inputs = 1, l[5].inputs[0] = 3;
  qat_model_spec q = {.input_shape = {5, 5, 1}, .n_layers = 6, .layers = l, .source = "q.yaml"};
  q.quantize.enabled = 1;
  q.quantize.decay = 0.999f;
  assert_int_equal(qat_model_create(&m, &q, 2, 1), 0);
  assert_null(qat_model_find_fq(m, "a"));
  assert_null(qat_model_find_fq(m, "b"));
  assert_non_null(qat_model_find_fq(m, "c"));
  const qat_fq *cat = qat_model_find_fq(m, "cat");
  assert_non_null(cat);
  assert_ptr_equal(m->layer_fq[0], cat);
  assert_ptr_equal(m->layer_fq[1], cat);
  assert_ptr_not_equal(m->layer_fq[2], cat);
  assert_int_equal(m->shared_range[0], 3);
  assert_int_equal(m->shared_range[2], -1);
  qat_model_free(m);
}

static void test_glorot_initialization(void **state) {
  (void)state;
  qat_layer_spec l[16];
  qat_model_spec s = mnist_cnn(l);
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &s, 2, 42), 0);
  const qat_param *k = qat_model_find_param(m, "dense/kernel"); /* 1600 -> 256 */
  double limit = sqrt(6.0 / (1600 + 256)), sq = 0;
  for (int64_t i = 0; i < k->size; i++) {
    float v = k->tensor->data[i];
    assert_true(fabs(v) <= limit);
    sq += (double)v * v;
  }
  /* uniform(-a, a) has standard deviation a / sqrt(3) */
  assert_true(fabs(sqrt(sq / k->size) - limit / sqrt(3.0)) < 0.01 * limit);
  const qat_param *b = qat_model_find_param(m, "dense/bias");
  for (int64_t i = 0; i < b->size; i++) assert_true(b->tensor->data[i] == 0.0f);
  qat_model_free(m);
}

/* Two separable classes of 8x8 images: bright top half vs bright bottom half, with noise. */
static void make_batch(qat_rng *r, float *x, int32_t *y, int n) {
  for (int s = 0; s < n; s++) {
    y[s] = (int32_t)qat_rng_below(r, 2);
    for (int p = 0; p < 64; p++) {
      int top = p < 32;
      x[s * 64 + p] = 0.3f * qat_rng_uniform(r) + ((top == (y[s] == 0)) ? 0.6f : 0.0f);
    }
  }
}

static void train(uint64_t seed, int steps, float *loss_first, float *loss_last, float *params_out,
                  long *allocs_after_first) {
  qat_layer_spec l[8];
  int n = 0;
  l[n] = conv("c", 4, QAT_ACTIVATION_RELU);
  l[n++].padding = QAT_PADDING_SAME;
  l[n++] = layer(QAT_LAYER_BATCH_NORM, "bn");
  l[n++] = pool("p");
  l[n++] = dropout("drop", 0.1f);
  l[n++] = layer(QAT_LAYER_FLATTEN, "f");
  l[n++] = dense("d", 2, QAT_ACTIVATION_LINEAR);
  qat_model_spec s = {.input_shape = {8, 8, 1}, .n_layers = n, .layers = l, .source = NULL};
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &s, 16, seed), 0);
  qat_optimizer_spec os = {.kind = QAT_OPT_ADAM, .learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f};
  qat_schedule_spec sched = {.kind = QAT_SCHED_CONSTANT};
  qat_optimizer opt;
  assert_int_equal(qat_optimizer_init(&opt, &os, &sched, m->n_params, m->n_decay, steps), 0);
  qat_rng r;
  qat_rng_seed(&r, seed + 1);
  float x[16 * 64];
  int32_t y[16];
  for (int i = 0; i < steps; i++) {
    make_batch(&r, x, y, 16);
    if (i == 1) allocations = 0;
    qat_exec ex = {.training = 1, .seed = seed, .step = (uint64_t)i};
    float loss;
    qat_model_step(m, x, y, i == steps - 1 ? 11 : 16, &ex, 1, &loss, NULL); /* a short last batch */
    qat_optimizer_step(&opt, m->params, m->grads, qat_vector_norm(m->grads, m->n_params));
    if (i == 0) *loss_first = loss;
    *loss_last = loss;
  }
  if (allocs_after_first) *allocs_after_first = allocations;
  if (params_out) memcpy(params_out, m->params, (size_t)m->n_params * sizeof(float));
  qat_optimizer_free(&opt);
  qat_model_free(m);
}

static void test_training_learns_deterministically_without_allocating(void **state) {
  (void)state;
  float first, last, first2, last2;
  float p1[256], p2[256];
  long allocs;
  train(9, 60, &first, &last, p1, &allocs);
  if (!(last < 0.5f * first)) fail_msg("loss %g -> %g", first, last);
  assert_int_equal(allocs, 0);
  train(9, 60, &first2, &last2, p2, NULL);
  assert_memory_equal(p1, p2, sizeof p1 < 4 * 100 ? sizeof p1 : 4 * 100);
  assert_true(last == last2);
  train(10, 60, &first2, &last2, p2, NULL);
  assert_memory_not_equal(p1, p2, 4 * 50);
}

/* The layer table: every type's descriptor has what each walker needs, names are unique and
 * found again, and what a descriptor requires it also accepts. */
static void test_layer_table_is_complete(void **state) {
  (void)state;
  for (int t = 0; t < QAT_LAYER_TYPE_COUNT; t++) {
    const qat_layer_desc *d = qat_layer_desc_of((qat_layer_type)t);
    assert_non_null(d);
    assert_non_null(d->keras_class);
    assert_non_null(d->stem);
    if (!d->build) fail_msg("%s has no build", d->keras_class);
    if (d->min_inputs < 1 || d->max_inputs < d->min_inputs || d->max_inputs > QAT_MAX_LAYER_INPUTS)
      fail_msg("%s: inputs %d..%d", d->keras_class, d->min_inputs, d->max_inputs);
    if ((d->required_args & ~d->args) != 0) fail_msg("%s requires an argument it does not take", d->keras_class);
    if ((d->kernel != NULL) != (d->keras_kernel != QAT_KERNEL_NONE))
      fail_msg("%s: a kernel without its Keras layout, or the reverse", d->keras_class);
    /* every layer either lowers or vanishes at inference (the driver passes identities through) */
    qat_layer_spec l;
    qat_layer_defaults(&l, (qat_layer_type)t);
    assert_int_equal(l.type, t);
    if (!d->lower && qat_layer_range_of(&l) != QAT_RANGE_IDENTITY) fail_msg("%s has no lowering", d->keras_class);
    qat_layer_type found;
    assert_true(qat_layer_find(d->keras_class, &found));
    assert_int_equal(found, t);
    for (const char *const *a = d->aliases; a && *a; a++) {
      assert_true(qat_layer_find(*a, &found));
      assert_int_equal(found, t);
    }
    assert_string_equal(qat_layer_type_name((qat_layer_type)t), d->keras_class);
    for (int u = 0; u < t; u++) {
      const qat_layer_desc *e = qat_layer_desc_of((qat_layer_type)u);
      if (!strcmp(d->keras_class, e->keras_class) || !strcmp(d->stem, e->stem))
        fail_msg("%s and %s share a class or stem", d->keras_class, e->keras_class);
    }
  }
  qat_layer_type none;
  assert_false(qat_layer_find("NoSuchLayer", &none));
  assert_null(qat_layer_desc_of(QAT_LAYER_TYPE_COUNT));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layer_table_is_complete),
      cmocka_unit_test(test_seed_cnn_parameter_counts),
      cmocka_unit_test(test_residual_dag_with_batch_norm),
      cmocka_unit_test(test_shape_errors_name_the_layer),
      cmocka_unit_test(test_graph_memory_limit_refuses_the_network),
      cmocka_unit_test(test_concatenate_and_upsampling),
      cmocka_unit_test(test_glorot_initialization),
      cmocka_unit_test(test_training_learns_deterministically_without_allocating),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
