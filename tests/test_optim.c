/* Optimizer updates and schedules against values worked out by hand (Keras's update rules). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qat/optim.h"

#define assert_near(a, b, tol)                                                              \
  do {                                                                                      \
    double a_ = (a), b_ = (b);                                                              \
    if (!(fabs(a_ - b_) <= (tol))) fail_msg("%s = %.10g, expected %.10g", #a, a_, b_);      \
  } while (0)

static qat_optimizer make(qat_optimizer_kind kind, float lr, int64_t n, int64_t n_decay) {
  qat_optimizer_spec s = {.kind = kind, .learning_rate = lr, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f};
  qat_schedule_spec sched = {.kind = QAT_SCHED_CONSTANT};
  qat_optimizer o;
  assert_int_equal(qat_optimizer_init(&o, &s, &sched, n, n_decay, 100), 0);
  return o;
}

static void step(qat_optimizer *o, float *w, float *g) {
  qat_optimizer_step(o, w, g, qat_vector_norm(g, o->n_params));
}

static void test_sgd_plain(void **state) {
  (void)state;
  qat_optimizer o = make(QAT_OPT_SGD, 0.1f, 1, 1);
  float w[1] = {1.0f}, g[1] = {0.5f};
  step(&o, w, g);
  assert_near(w[0], 0.95, 1e-7);
  qat_optimizer_free(&o);
}

static void test_sgd_momentum_and_nesterov(void **state) {
  (void)state;
  /* g = 1 twice, lr 0.1, mu 0.9. Momentum: m1 = -0.1, w1 = 0.9; m2 = -0.19, w2 = 0.71.
   * Nesterov: w1 = 1 + 0.9*(-0.1) - 0.1 = 0.81; w2 = 0.81 + 0.9*(-0.19) - 0.1 = 0.539. */
  for (int nesterov = 0; nesterov <= 1; nesterov++) {
    qat_optimizer o = make(QAT_OPT_SGD, 0.1f, 1, 1);
    o.spec.momentum = 0.9f;
    o.spec.nesterov = nesterov;
    float w[1] = {1.0f}, g[1] = {1.0f};
    step(&o, w, g);
    assert_near(w[0], nesterov ? 0.81 : 0.9, 1e-6);
    g[0] = 1.0f;
    step(&o, w, g);
    assert_near(w[0], nesterov ? 0.539 : 0.71, 1e-6);
    qat_optimizer_free(&o);
  }
}

static void test_adam_two_steps(void **state) {
  (void)state;
  /* lr 1e-3, g = 0.5 then -0.25; bias-corrected step size lr*sqrt(1-b2^t)/(1-b1^t):
   * w1 = 0.9990000063245154, w2 = 0.9987336707920792 (worked in double precision) */
  qat_optimizer o = make(QAT_OPT_ADAM, 1e-3f, 1, 1);
  float w[1] = {1.0f}, g[1] = {0.5f};
  step(&o, w, g);
  assert_near(w[0], 0.9990000063245154, 2e-7);
  g[0] = -0.25f;
  step(&o, w, g);
  assert_near(w[0], 0.9987336707920792, 2e-7);
  assert_int_equal(o.step, 2);
  qat_optimizer_free(&o);
}

static void test_weight_decay_coupled_and_decoupled(void **state) {
  (void)state;
  /* SGD L2: g' = g + wd*w = 0 + 0.1*2 = 0.2; w = 2 - 0.1*0.2 = 1.98. The second element is
   * past n_decay (a bias) and must not move. */
  qat_optimizer o = make(QAT_OPT_SGD, 0.1f, 2, 1);
  o.spec.weight_decay = 0.1f;
  float w[2] = {2.0f, 2.0f}, g[2] = {0.0f, 0.0f};
  step(&o, w, g);
  assert_near(w[0], 1.98, 1e-6);
  assert_near(w[1], 2.0, 0);
  qat_optimizer_free(&o);
  /* AdamW: w -= lr*wd*w = 1 - 0.01*0.1 = 0.999; with g = 0 Adam's own step is 0. */
  o = make(QAT_OPT_ADAMW, 0.01f, 2, 1);
  o.spec.weight_decay = 0.1f;
  float w2[2] = {1.0f, 1.0f}, g2[2] = {0.0f, 0.0f};
  step(&o, w2, g2);
  assert_near(w2[0], 0.999, 1e-7);
  assert_near(w2[1], 1.0, 0);
  qat_optimizer_free(&o);
}

static void test_global_norm_clipping(void **state) {
  (void)state;
  qat_optimizer o = make(QAT_OPT_SGD, 1.0f, 2, 2);
  o.spec.clipnorm = 1.0f;
  float w[2] = {0.0f, 0.0f}, g[2] = {3.0f, 4.0f}; /* norm 5 -> scaled to norm 1 */
  step(&o, w, g);
  assert_near(w[0], -0.6, 1e-6);
  assert_near(w[1], -0.8, 1e-6);
  /* under the threshold: untouched */
  float w2[2] = {0.0f, 0.0f}, g2[2] = {0.3f, 0.4f};
  step(&o, w2, g2);
  assert_near(w2[0], -0.3, 1e-7);
  qat_optimizer_free(&o);
}

static void test_schedules(void **state) {
  (void)state;
  qat_schedule_spec warm = {.kind = QAT_SCHED_CONSTANT, .warmup_steps = 10};
  assert_near(qat_schedule_lr(&warm, 1.0f, 0, 100), 0.1, 1e-7);
  assert_near(qat_schedule_lr(&warm, 1.0f, 9, 100), 1.0, 1e-7);
  assert_near(qat_schedule_lr(&warm, 1.0f, 50, 100), 1.0, 0);
  qat_schedule_spec st = {.kind = QAT_SCHED_STEP, .step_size = 10, .gamma = 0.5f};
  assert_near(qat_schedule_lr(&st, 1.0f, 9, 100), 1.0, 0);
  assert_near(qat_schedule_lr(&st, 1.0f, 10, 100), 0.5, 0);
  assert_near(qat_schedule_lr(&st, 1.0f, 25, 100), 0.25, 0);
  qat_schedule_spec cos = {.kind = QAT_SCHED_COSINE, .warmup_steps = 10, .alpha = 0.1f};
  assert_near(qat_schedule_lr(&cos, 2.0f, 10, 110), 2.0, 1e-6);        /* start of decay */
  assert_near(qat_schedule_lr(&cos, 2.0f, 60, 110), 2.0 * 0.55, 1e-6); /* halfway: (1+alpha)/2 */
  assert_near(qat_schedule_lr(&cos, 2.0f, 110, 110), 0.2, 1e-6);       /* end: alpha */
}

static void test_rejects_bad_learning_rate(void **state) {
  (void)state;
  qat_optimizer_spec s = {.kind = QAT_OPT_SGD, .learning_rate = -1.0f};
  qat_schedule_spec sched = {0};
  qat_optimizer o;
  assert_int_not_equal(qat_optimizer_init(&o, &s, &sched, 4, 4, 10), 0);
  s.learning_rate = NAN;
  assert_int_not_equal(qat_optimizer_init(&o, &s, &sched, 4, 4, 10), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd_plain),
      cmocka_unit_test(test_sgd_momentum_and_nesterov),
      cmocka_unit_test(test_adam_two_steps),
      cmocka_unit_test(test_weight_decay_coupled_and_decoupled),
      cmocka_unit_test(test_global_norm_clipping),
      cmocka_unit_test(test_schedules),
      cmocka_unit_test(test_rejects_bad_learning_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
