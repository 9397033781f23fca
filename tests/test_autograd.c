


/* Gradient checks for every op in the op table against central finite differences (the op's
 * own examples drive it, so a new op is checked without editing this file), the optimized
 * kernels against their _ref twins, and a whole graph with a residual branch. */
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
#include "qat/fq.h"
#include "qat/error.h"
#include "qat/rng.h"

typedef struct instance {
  qat_graph g;
  qat_op_example ex;
  qat_tensor *in[QAT_MAX_OP_INPUTS];
  float *owned[2 * QAT_MAX_OP_INPUTS];
  int n_owned;
  qat_node *node;
  float *upstream; /* fixed random weights w: the checked scalar is sum(w * y) */
} instance;

static float *owned(instance *it, int64_t n) {
  float *p = calloc((size_t)n, sizeof(float));
  assert_non_null(p);
  it->owned[it->n_owned++] = p;
  return p;
}

static void fill(const qat_op_example *ex, int i, float *x, int64_t n, qat_rng *rng) {
  float scale = ex->scale > 0 ? ex->scale : 1.0f;
  switch (ex->fill[i]) {
  case QAT_FILL_ZEROS: memset(x, 0, (size_t)n * sizeof(float)); break;
  case QAT_FILL_ONES: for (int64_t k = 0; k < n; k++) x[k] = 1.0f; break;
  case QAT_FILL_POSITIVE: for (int64_t k = 0; k < n; k++) x[k] = 0.5f + qat_rng_uniform(rng); break;
  case QAT_FILL_DISTINCT:
    /* a shuffled grid 0.1 apart: no ties within any finite-difference step; input i offset by
     * 0.05 i, so that two DISTINCT inputs never tie either (MAXIMUM, MINIMUM) */
    for (int64_t k = 0; k < n; k++) x[k] = 0.1f * (float)(k - n / 2) + 0.05f * (float)i;
    for (int64_t k = n - 1; k > 0; k--) {
      int64_t j = qat_rng_below(rng, (uint32_t)(k + 1));
      float t = x[k]; x[k] = x[j]; x[j] = t;
    }
    break;
  case QAT_FILL_UNIFORM:
    for (int64_t k = 0; k < n; k++) {
      int near;
      do {
        x[k] = scale * (2.0f * qat_rng_uniform(rng) - 1.0f);
        near = 0;
        for (int q = 0; q < ex->n_kinks; q++) near |= fabsf(x[k] - ex->kinks[q]) < 0.05f * scale;
      } while (near);
    }
    break;
  }
}

/* The custom ops (QAT_OP_CUSTOM) that other modules register into the engine: each brings its
 * own examples and is checked like a built-in op. */
static const qat_op_info *const custom_ops[] = {&qat_fake_quant_op, &qat_threshold_op};
#define N_CUSTOM ((int)(sizeof custom_ops / sizeof custom_ops[0]))

/* Op k of the walk: the built-in ops, then the custom ones. */
static qat_op op_code(int k) { return k < QAT_OP_COUNT ? (qat_op)k : QAT_OP_CUSTOM; }
static const qat_op_info *op_info(int k) { return k < QAT_OP_COUNT ? qat_op_get((qat_op)k) : custom_ops[k - QAT_OP_COUNT]; }

/* Builds a one-node graph for example `variant` of op k; returns 0 when there is no such variant. */
static int instance_make(instance *it, int k, int variant, uint64_t seed) {
  memset(it, 0, sizeof *it);
  const qat_op_info *info = op_info(k);
  qat_op op = op_code(k);
  if (info->example(&it->ex, variant)) return 0;
  qat_op_example *ex = &it->ex;
  int batch = 1;
  for (int i = 0; i < ex->n_inputs; i++)
    if (ex->batched[i]) batch = ex->dims[i][0];
  assert_int_equal(qat_graph_init(&it->g, batch), 0);
  qat_rng rng;
  qat_rng_seed(&rng, seed);
  for (int i = 0; i < ex->n_inputs; i++) {
    if (ex->batched[i]) {
      it->in[i] = qat_graph_input(&it->g, ex->rank[i] - 1, ex->dims[i] + 1, ex->needs_grad[i]);
    } else {
      int64_t n = 1;
      for (int d = 0; d < ex->rank[i]; d++) n *= ex->dims[i][d];
      it->in[i] = qat_graph_external(&it->g, ex->rank[i], ex->dims[i], owned(it, n),
                                     ex->needs_grad[i] ? owned(it, n) : NULL, 0);
    }
    assert_non_null(it->in[i]);
    fill(ex, i, it->in[i]->data, qat_tensor_size(it->in[i]), &rng);
  }
  qat_op_attrs attrs = ex->attrs;
  attrs.labels = ex->labels;
  qat_tensor *out = NULL;
  int rc = qat_graph_add(&it->g, op, ex->n_inputs, it->in, &attrs, &out);
  if (rc) fail_msg("%s variant %d: %s", info->name, variant, qat_error_message());
  it->node = &it->g.nodes[0];
  int64_t n = qat_tensor_size(out);
  it->upstream = owned(it, n);
  for (int64_t k = 0; k < n; k++) it->upstream[k] = 2.0f * qat_rng_uniform(&rng) - 1.0f;
  return 1;
}

static void instance_free(instance *it) {
  for (int i = 0; i < it->n_owned; i++) free(it->owned[i]);
  qat_graph_free(&it->g);
}

static qat_exec exec_of(const instance *it) {
  qat_exec ex = {.training = it->ex.training, .seed = 7, .step = 3, .fake_quant = it->ex.fake_quant,
                 .freeze_bn = it->ex.freeze_bn};
  return ex;
}

static double objective(instance *it, qat_op_forward_fn fwd) {
  qat_exec ex = exec_of(it);
  fwd(it->node, &ex);
  const qat_tensor *y = it->node->output;
  double s = 0.0;
  for (int64_t k = 0; k < qat_tensor_size(y); k++) s += (double)it->upstream[k] * y->data[k];
  return s;
}

static void zero_grads(instance *it) {
  for (int i = 0; i < it->ex.n_inputs; i++)
    if (it->in[i]->grad) memset(it->in[i]->grad, 0, (size_t)qat_tensor_size(it->in[i]) * sizeof(float));
}

static void run_backward(instance *it, qat_op_forward_fn fwd, qat_op_backward_fn bwd) {
  qat_exec ex = exec_of(it);
  fwd(it->node, &ex);
  zero_grads(it);
  qat_tensor *y = it->node->output;
  memcpy(y->grad, it->upstream, (size_t)qat_tensor_size(y) * sizeof(float));
  bwd(it->node, &ex);
}

static void gradient_check_op(int op) {
  const qat_op_info *info = op_info(op);
  int variants = 0;
  for (int v = 0;; v++) {
    instance it;
    if (!instance_make(&it, op, v, 1000 + (uint64_t)v)) break;
    variants++;
    run_backward(&it, info->forward, info->backward);
    float step = 1e-2f * (it.ex.scale > 0 ? it.ex.scale : 1.0f);
    int checked = 0;
    for (int i = 0; i < it.ex.n_inputs; i++) {
      qat_tensor *t = it.in[i];
      if (!it.ex.needs_grad[i]) continue;
      int64_t n = qat_tensor_size(t);
      float *analytic = malloc((size_t)n * sizeof(float));
      memcpy(analytic, t->grad, (size_t)n * sizeof(float));
      for (int64_t k = 0; k < n; k++) {
        float saved = t->data[k];
        t->data[k] = saved + step;
        double up = objective(&it, info->forward);
        t->data[k] = saved - step;
        double down = objective(&it, info->forward);
        t->data[k] = saved;
        double numeric = (up - down) / (2.0 * step);
        double err = fabs(numeric - analytic[k]);
        double tol = 5e-3 + 1e-2 * fmax(fabs(numeric), fabs(analytic[k]));
        if (!(err <= tol))
          fail_msg("%s variant %d input %d element %lld: analytic %.6g, numeric %.6g", info->name, v, i,
                   (long long)k, analytic[k], numeric);
        checked++;
      }
      free(analytic);
    }
    assert_true(checked > 0);
    instance_free(&it);
  }
  if (variants == 0) fail_msg("op %s has no example", info->name);
}

static void test_gradients_of_every_op(void **state) {
  (void)state;
  for (int op = 0; op < QAT_OP_COUNT + N_CUSTOM; op++)
    if (op != QAT_OP_CUSTOM) gradient_check_op(op); /* the hook's own entry computes nothing */
}

static void assert_close_arrays(const char *what, const float *a, const float *b, int64_t n, double rtol) {
  for (int64_t k = 0; k < n; k++) {
    double tol = rtol * (1.0 + fabs(b[k]));
    if (!(fabs((double)a[k] - b[k]) <= tol))
      fail_msg("%s[%lld]: optimized %.8g, reference %.8g", what, (long long)k, a[k], b[k]);
  }
}

static void test_optimized_kernels_match_ref(void **state) {
  (void)state;
  int compared = 0;
  for (int op = 0; op < QAT_OP_COUNT + N_CUSTOM; op++) {
    const qat_op_info *info = op_info(op);
    if (!info->forward_ref) continue;
    for (int v = 0;; v++) {
      instance it;
      if (!instance_make(&it, op, v, 77 + (uint64_t)v)) break;
      qat_tensor *y = it.node->output;
      int64_t ny = qat_tensor_size(y);
      float *fast = malloc((size_t)ny * sizeof(float));
      run_backward(&it, info->forward, info->backward);
      memcpy(fast, y->data, (size_t)ny * sizeof(float));
      float *fast_grads[QAT_MAX_OP_INPUTS] = {0};
      for (int i = 0; i < it.ex.n_inputs; i++)
        if (it.in[i]->grad) {
          int64_t n = qat_tensor_size(it.in[i]);
          fast_grads[i] = malloc((size_t)n * sizeof(float));
          memcpy(fast_grads[i], it.in[i]->grad, (size_t)n * sizeof(float));
        }
      run_backward(&it, info->forward_ref, info->backward_ref);
      assert_close_arrays(info->name, fast, y->data, ny, 1e-5);
      for (int i = 0; i < it.ex.n_inputs; i++)
        if (fast_grads[i]) {
          assert_close_arrays(info->name, fast_grads[i], it.in[i]->grad, qat_tensor_size(it.in[i]), 1e-5);
          free(fast_grads[i]);
        }
      free(fast);
      instance_free(&it);
      compared++;
    }
  }
  assert_true(compared >= 3); /* conv2d, depthwise, dense at least */
}

/* conv -> relu -> (add with a second conv of the same input: a residual-style fork) ->
 * max-pool -> reshape -> dense -> loss. The input tensor of the fork gets gradients from two
 * consumers, the reshape shares memory: the whole chain must still match finite differences. */
static void test_graph_with_fork_matches_finite_differences(void **state) {
  (void)state;
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 3), 0);
  qat_rng rng;
  qat_rng_seed(&rng, 5);
  float w1[4 * 3 * 3 * 2], w2[4 * 1 * 1 * 2], b1[4], wd[2 * 16], bd[2];
  float gw1[sizeof w1 / 4] = {0}, gw2[sizeof w2 / 4] = {0}, gb1[4] = {0}, gwd[32] = {0}, gbd[2] = {0};
  float *params[] = {w1, w2, b1, wd, bd};
  size_t sizes[] = {sizeof w1 / 4, sizeof w2 / 4, 4, 32, 2};
  for (int p = 0; p < 5; p++)
    for (size_t k = 0; k < sizes[p]; k++) params[p][k] = qat_rng_uniform(&rng) - 0.5f;
  qat_tensor *x = qat_graph_input(&g, 3, (int[]){4, 4, 2}, 1);
  for (int64_t k = 0; k < qat_tensor_size(x); k++) x->data[k] = qat_rng_uniform(&rng) * 2 - 1;
  qat_tensor *tw1 = qat_graph_external(&g, 4, (int[]){4, 3, 3, 2}, w1, gw1, 0);
  qat_tensor *tw2 = qat_graph_external(&g, 4, (int[]){4, 1, 1, 2}, w2, gw2, 0);
  qat_tensor *tb1 = qat_graph_external(&g, 1, (int[]){4}, b1, gb1, 0);
  qat_tensor *twd = qat_graph_external(&g, 2, (int[]){2, 16}, wd, gwd, 0);
  qat_tensor *tbd = qat_graph_external(&g, 1, (int[]){2}, bd, gbd, 0);
  int32_t labels[3] = {1, 0, 1};
  qat_op_attrs conv = {.kernel = {3, 3}, .strides = {1, 1}, .padding = QAT_PADDING_SAME};
  qat_op_attrs pw = {.kernel = {1, 1}, .strides = {1, 1}, .padding = QAT_PADDING_VALID};
  qat_op_attrs pool = {.kernel = {2, 2}, .strides = {2, 2}, .padding = QAT_PADDING_VALID};
  qat_op_attrs flat = {.target_rank = 1, .target_shape = {16}};
  qat_op_attrs loss = {.labels = labels};
  qat_tensor *c1, *r1, *c2, *sum, *p, *f, *d, *l;
  assert_int_equal(qat_graph_add(&g, QAT_OP_CONV2D, 3, (qat_tensor *[]){x, tw1, tb1}, &conv, &c1), 0);
  assert_int_equal(qat_graph_add(&g, QAT_OP_RELU, 1, (qat_tensor *[]){c1}, NULL, &r1), 0);
  assert_int_equal(qat_graph_add(&g, QAT_OP_CONV2D, 2, (qat_tensor *[]){x, tw2}, &pw, &c2), 0);
  assert_int_equal(qat_graph_add(&g, QAT_OP_ADD, 2, (qat_tensor *[]){r1, c2}, NULL, &sum), 0);
  assert_int_equal(qat_graph_add(&g, QAT_OP_MAX_POOL2D, 1, (qat_tensor *[]){sum}, &pool, &p), 0);
  assert_int_equal(qat_graph_add(&g, QAT_OP_RESHAPE, 1, (qat_tensor *[]){p}, &flat, &f), 0);
  assert_int_equal(qat_graph_add(&g, QAT_OP_DENSE, 3, (qat_tensor *[]){f, twd, tbd}, NULL, &d), 0);
  assert_int_equal(qat_graph_add(&g, QAT_OP_SOFTMAX_CROSS_ENTROPY, 1, (qat_tensor *[]){d}, &loss, &l), 0);
  assert_ptr_equal(f->data, p->data); /* reshape is a view */

  qat_exec ex = {.training = 1};
  qat_graph_forward(&g, &ex);
  qat_graph_backward(&g, &ex);
  /* check the input and the first filter, which reach the loss through both branches */
  qat_tensor *checked[] = {x, tw1, tw2};
  for (int c = 0; c < 3; c++) {
    qat_tensor *t = checked[c];
    for (int64_t k = 0; k < qat_tensor_size(t); k++) {
      /* small step: with 1e-2 one max-pool window switches winners between the two evaluations */
      float saved = t->data[k], h = 1e-3f;
      t->data[k] = saved + h;
      qat_graph_forward(&g, &ex);
      double up = l->data[0];
      t->data[k] = saved - h;
      qat_graph_forward(&g, &ex);
      double down = l->data[0];
      t->data[k] = saved;
      double numeric = (up - down) / (2 * h);
      if (fabs(numeric - t->grad[k]) > 2e-3 + 2e-2 * fabs(numeric))
        fail_msg("tensor %d element %lld: analytic %g numeric %g", c, (long long)k, t->grad[k], numeric);
    }
  }
  qat_graph_free(&g);
}

static void test_smaller_batch_reuses_the_graph(void **state) {
  (void)state;
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 4), 0);
  qat_tensor *x = qat_graph_input(&g, 1, (int[]){3}, 0);
  float w[6] = {1, 2, 3, 4, 5, 6};
  qat_tensor *tw = qat_graph_external(&g, 2, (int[]){2, 3}, w, NULL, 0);
  qat_tensor *y;
  assert_int_equal(qat_graph_add(&g, QAT_OP_DENSE, 2, (qat_tensor *[]){x, tw}, NULL, &y), 0);
  qat_graph_set_batch(&g, 1);
  assert_int_equal(y->dims[0], 1);
  x->data[0] = 1; x->data[1] = 0; x->data[2] = -1;
  y->data[2] = 99; /* beyond the batch: must be left alone */
  qat_exec ex = {0};
  qat_graph_forward(&g, &ex);
  assert_true(y->data[0] == -2.0f && y->data[1] == -2.0f && y->data[2] == 99.0f);
  qat_graph_free(&g);
}

static void test_shape_errors_are_reported(void **state) {
  (void)state;
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 2), 0);
  qat_tensor *x = qat_graph_input(&g, 3, (int[]){4, 4, 3}, 0);
  float w[5 * 5 * 3 * 2];
  qat_tensor *tw = qat_graph_external(&g, 4, (int[]){2, 5, 5, 3}, w, NULL, 0);
  qat_op_attrs a = {.kernel = {5, 5}, .strides = {1, 1}, .padding = QAT_PADDING_VALID};
  assert_int_equal(qat_graph_add(&g, QAT_OP_CONV2D, 2, (qat_tensor *[]){x, tw}, &a, NULL), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "larger than its input [2,4,4,3]"));
  float wd[10];
  qat_tensor *td = qat_graph_external(&g, 2, (int[]){2, 5}, wd, NULL, 0);
  /* Dense acts over the last axis (Keras's), so the 5 weights per unit must meet 3 channels */
  assert_int_equal(qat_graph_add(&g, QAT_OP_DENSE, 2, (qat_tensor *[]){x, td}, NULL, NULL), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "Dense weights [2,5] do not match input [2,4,4,3]"));
  qat_graph_free(&g);
}

/* A ReLU's threshold on a quantized tensor compares as TFLite's int8 LESS: scale 1/1024 makes
 * each side (q - zp) * 256 * s = q / 4 rounded half away from zero, so t = 10 steps scales to 3
 * and 11, 12, 13 (2.75, 3, 3.25 -> 3) are cut with 8..10; 14..16 (4) pass. Off the grid (fake
 * quant off) every value above t passes. */
static void test_threshold_compares_as_int8_less(void **state) {
  (void)state;
  float scale[1] = {1.0f / 1024.0f}, nmin[1], nmax[1];
  int32_t zp[1] = {0};
  qat_fq fq = {.role = QAT_FQ_ACTIVATION, .name = "x", .qmin = -128, .qmax = 127, .axis = -1, .channels = 1,
               .scale = scale, .zero_point = zp, .nudged_min = nmin, .nudged_max = nmax, .fixed = 1, .valid = 1};
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 1), 0);
  qat_tensor *x = qat_graph_input(&g, 1, (int[]){9}, 0), *y;
  qat_op_attrs a = {.custom = &qat_threshold_op, .state = &fq, .alpha = 10.0f / 1024.0f};
  assert_int_equal(qat_graph_add(&g, QAT_OP_CUSTOM, 1, (qat_tensor *[]){x}, &a, &y), 0);
  for (int i = 0; i < 9; i++) x->data[i] = (float)(8 + i) / 1024.0f;
  for (int on = 0; on < 2; on++) {
    qat_exec ex = {.training = 1, .fake_quant = on};
    qat_graph_forward(&g, &ex);
    for (int i = 0; i < 9; i++) {
      const int pass = on ? 8 + i >= 14 : 8 + i > 10;
      if (y->data[i] != (pass ? x->data[i] : 0.0f))
        fail_msg("fake quant %s, q = %d: got %g, want %g", on ? "on" : "off", 8 + i, (double)y->data[i],
                 (double)(pass ? x->data[i] : 0.0f));
    }
  }
  qat_graph_free(&g);
}

static void test_cross_entropy_is_finite_for_huge_logits(void **state) {
  (void)state;
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 2), 0);
  qat_tensor *x = qat_graph_input(&g, 1, (int[]){3}, 1);
  int32_t labels[2] = {0, 2};
  qat_op_attrs a = {.labels = labels};
  qat_tensor *l;
  assert_int_equal(qat_graph_add(&g, QAT_OP_SOFTMAX_CROSS_ENTROPY, 1, (qat_tensor *[]){x}, &a, &l), 0);
  float v[6] = {1e30f, -1e30f, 0.0f, -1e30f, 1e30f, 1e30f};
  memcpy(x->data, v, sizeof v);
  qat_exec ex = {.training = 1};
  qat_graph_forward(&g, &ex);
  /* sample 0 predicts its label with certainty (loss 0); sample 1 splits between classes 1, 2 */
  assert_true(isfinite(l->data[0]));
  assert_true(fabs(l->data[0] - 0.5 * log(2.0)) < 1e-6);
  qat_graph_backward(&g, &ex);
  for (int k = 0; k < 6; k++) assert_true(isfinite(x->grad[k]));
  assert_true(fabsf(x->grad[5] - (-0.25f)) < 1e-6f); /* (0.5 - 1) / 2 */
  qat_graph_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradients_of_every_op),
      cmocka_unit_test(test_optimized_kernels_match_ref),
      cmocka_unit_test(test_graph_with_fork_matches_finite_differences),
      cmocka_unit_test(test_smaller_batch_reuses_the_graph),
      cmocka_unit_test(test_shape_errors_are_reported),
      cmocka_unit_test(test_cross_entropy_is_finite_for_huge_logits),
      cmocka_unit_test(test_threshold_compares_as_int8_less),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
