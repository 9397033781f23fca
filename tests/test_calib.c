/* Tests of post-training calibration (calib/):
 *   - the range choosers on histograms whose answers are computed by hand (percentile tails,
 *     the MSE clip on a 1-bit grid), their argument errors;
 *   - qat_calibrate on a tiny model with hand-set weights: min/max gives exactly the input and
 *     Dense output ranges computed by hand from the samples; percentile clips an outlier
 *     away, MSE keeps it where the int8 grid is fine enough;
 *   - qat_calib_load_model on a float checkpoint (no /quant group): quantization switched on,
 *     then calibrated and exported int8 through the QAT path (qat_export_int8_prepare);
 *   - qat_calib_load_samples: shape mismatches and an unreadable file name the file. */
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

#include "qat/calib.h"
#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/model.h"
#include "qat/tflite.h"
#include "qat/train.h"

static void test_percentile_hand(void **state) {
  (void)state;
  int64_t ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  float lo, hi;
  /* 10 values, 90 %: one value may fall outside each end. On [0, 10] the lower end stays at 0
   * (widened to 0 anyway); the upper end is the top of bin 8 = 9. */
  assert_int_equal(qat_calib_percentile_range(ones, 10, 0.0f, 10.0f, 90.0, &lo, &hi), 0);
  assert_true(lo == 0.0f && hi == 9.0f);
  /* On [-5, 5]: the bottom of bin 1 and the top of bin 8. */
  assert_int_equal(qat_calib_percentile_range(ones, 10, -5.0f, 5.0f, 90.0, &lo, &hi), 0);
  assert_true(lo == -4.0f && hi == 4.0f);
  /* 100 %: the whole range. */
  assert_int_equal(qat_calib_percentile_range(ones, 10, -5.0f, 5.0f, 100.0, &lo, &hi), 0);
  assert_true(lo == -5.0f && hi == 5.0f);
  /* A heavy bin decides: 97 of 100 values in bin 2 of [1, 11]: 95 % clips to [2, 4] widened to
   * [0, 4]. */
  int64_t heavy[10] = {1, 0, 97, 0, 0, 0, 0, 0, 0, 2};
  assert_int_equal(qat_calib_percentile_range(heavy, 10, 1.0f, 11.0f, 95.0, &lo, &hi), 0);
  assert_true(lo == 0.0f && hi == 4.0f);
  /* Empty: the widened histogram range. */
  int64_t none[4] = {0};
  assert_int_equal(qat_calib_percentile_range(none, 4, 1.0f, 2.0f, 99.0, &lo, &hi), 0);
  assert_true(lo == 0.0f && hi == 2.0f);
  assert_int_equal(qat_calib_percentile_range(ones, 10, 0.0f, 1.0f, 50.0, &lo, &hi), QAT_ERR_USAGE);
  assert_int_equal(qat_calib_percentile_range(ones, 10, 1.0f, 0.0f, 99.0, &lo, &hi), QAT_ERR_USAGE);
  assert_int_equal(qat_calib_percentile_range(ones, 0, 0.0f, 1.0f, 99.0, &lo, &hi), QAT_ERR_USAGE);
  assert_int_equal(qat_calib_percentile_range(ones, 10, 0.0f, INFINITY, 99.0, &lo, &hi), QAT_ERR_USAGE);
}

static void test_mse_hand(void **state) {
  (void)state;
  float lo, hi;
  /* Bins of [0, 4]: 1000 values at centre 0.5, one at 3.5; a 1-bit grid {0, s} (qmin 0,
   * qmax 1) with s = 4k/8. k = 1 (s = 0.5): 0.5 exact, 3.5 -> 0.5: error 9. k = 2 (s = 1):
   * 0.5 rounds half away to 1: 1000 * 0.25 + 2.5^2 = 256.25. k = 8 (s = 4): 0.5 -> 0:
   * 250 + 0.25. Every other k is worse than 9: the clip is [0, 0.5]. */
  int64_t h[4] = {1000, 0, 0, 1};
  assert_int_equal(qat_calib_mse_range(h, 4, 0.0f, 4.0f, 8, 0, 1, &lo, &hi), 0);
  assert_true(lo == 0.0f && hi == 0.5f);
  /* Reversed weights (one value at 0.5, 1000 at 3.5): k = 7 (s = 3.5) puts 3.5 on the grid
   * and 0.5 -> 0: error 0.25; k = 8 (s = 4): 3.5 -> 4: 1000 * 0.25; smaller k clip 3.5. */
  int64_t r[4] = {1, 0, 0, 1000};
  assert_int_equal(qat_calib_mse_range(r, 4, 0.0f, 4.0f, 8, 0, 1, &lo, &hi), 0);
  assert_true(lo == 0.0f && hi == 3.5f);
  assert_int_equal(qat_calib_mse_range(h, 4, 0.0f, 4.0f, 0, 0, 1, &lo, &hi), QAT_ERR_USAGE);
  assert_int_equal(qat_calib_mse_range(h, 4, 0.0f, 4.0f, 8, 1, 1, &lo, &hi), QAT_ERR_USAGE);
}

/* input [1, 1, 2] -> Flatten -> Dense(1, no bias): out = 2*a - b with pixels a, b / 255. One
 * output value: a regressor's (mse), as a class loss needs two classes. */
static const char *tiny_yaml =
    "model:\n"
    "  input: [1, 1, 2]\n"
    "  layers:\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: d, units: 1, use_bias: false}\n"
    "data: {dataset: fashion-mnist}\n"
    "train: {epochs: 1, batch_size: 4, seed: 1, loss: mse}\n";

static int build_tiny(qat_config *cfg, qat_model **m, int max_batch) {
  int rc = qat_config_parse(tiny_yaml, strlen(tiny_yaml), "tiny", cfg);
  if (rc) return rc;
  cfg->model.quantize.enabled = 1;
  cfg->model.quantize.observer = QAT_OBSERVER_MINMAX;
  if ((rc = qat_model_create(m, &cfg->model, max_batch, 1))) return rc;
  const qat_param *k = qat_model_find_param(*m, "d/kernel");
  if (!k) return QAT_ERR_INTERNAL;
  k->tensor->data[0] = 2.0f;
  k->tensor->data[1] = -1.0f;
  return QAT_OK;
}

static void make_set(qat_dataset *ds, const uint8_t *px, int n) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->h = 1, ds->w = 1, ds->c = 2;
  ds->images = malloc((size_t)n * 2);
  ds->labels = calloc((size_t)n, 1);
  memcpy(ds->images, px, (size_t)n * 2);
  ds->num_classes = 10;
  ds->owns = 1;
}

static void test_calibrate_minmax_hand(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = NULL;
  assert_int_equal(build_tiny(&cfg, &m, 2), 0);
  /* Samples (a, b): (255, 0) -> 2, (0, 255) -> -1, (51, 102) -> 0 (exactly: 2*0.2 - 0.4),
   * (255, 255) -> 1; 5 samples in batches of 2 (the last one partial). */
  const uint8_t px[10] = {255, 0, 0, 255, 51, 102, 255, 255, 0, 0};
  qat_dataset ds;
  make_set(&ds, px, 5);
  qat_calib_options o = {.method = QAT_CALIB_MINMAX, .batch_size = 2};
  assert_int_equal(qat_calibrate(m, &ds, &o), 0);
  assert_true(m->input_fq->observer.initialized);
  assert_true(m->input_fq->observer.min == 0.0f && m->input_fq->observer.max == 1.0f);
  const qat_fq *out = m->layer_fq[1];
  assert_non_null(out);
  assert_true(out->observer.min == -1.0f && out->observer.max == 2.0f);
  /* The export path QAT checkpoints take now works on the calibrated float model. */
  assert_int_equal(qat_export_int8_prepare(m), 0);
  qat_tflite_model t;
  assert_int_equal(qat_export_int8(m, QAT_EXPORT_IO_INT8, &t), 0);
  qat_tflite_model_free(&t);
  /* With an outlier, percentile and MSE clip it: 99 samples of (0, 0) and (26, 0) (0.2039)
   * and one (255, 0) (2.0). */
  qat_dataset_free(&ds);
  uint8_t many[200];
  for (int i = 0; i < 100; i++) many[2 * i] = i % 2 ? 26 : 0, many[2 * i + 1] = 0;
  many[198] = 255;
  make_set(&ds, many, 100);
  o.method = QAT_CALIB_MINMAX;
  assert_int_equal(qat_calibrate(m, &ds, &o), 0);
  assert_true(out->observer.max == 2.0f);
  o.method = QAT_CALIB_PERCENTILE;
  o.percentile = 98.0;
  assert_int_equal(qat_calibrate(m, &ds, &o), 0);
  assert_true(out->observer.max < 0.25f && out->observer.max >= 26.0f / 255.0f * 2.0f);
  /* MSE keeps it: on the int8 grid, clipping 2.0 costs more than the finer steps save
   * (49 values at 0.2039 lose at most (1/255)^2 each). */
  o.method = QAT_CALIB_MSE;
  assert_int_equal(qat_calibrate(m, &ds, &o), 0);
  assert_true(out->observer.max == 2.0f && out->observer.min == 0.0f);
  o.method = (qat_calib_method)7;
  assert_int_equal(qat_calibrate(m, &ds, &o), QAT_ERR_USAGE);
  qat_dataset_free(&ds);
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* The byte grid: which preprocessings put every stored byte on its own int8 step (hand-worked
 * k = offset / scale), and the pinned input quantizer that follows from it. */
static void test_byte_grid(void **state) {
  (void)state;
  static const struct {
    float rescale, offset, mean, std;
    int grid;
    float lo, hi;
  } cases[] = {
      {1.0f / 255.0f, 0.0f, 0.0f, 1.0f, 1, 0.0f, 1.0f},              /* k = 0 */
      {1.0f / 128.0f, -1.0f, 0.0f, 1.0f, 1, -1.0f, 127.0f / 128.0f}, /* k = -128 */
      {1.0f, 0.0f, 0.0f, 1.0f, 1, 0.0f, 255.0f},                     /* raw bytes */
      {1.0f, -255.0f, 0.0f, 1.0f, 1, -255.0f, 0.0f},                 /* k = -255 */
      {1.0f / 127.5f, -1.0f, 0.0f, 1.0f, 0, 0, 0},                   /* k = -127.5: between steps */
      {1.0f, 0.0f, 0.5f, 0.25f, 0, 0, 0},                            /* 4v - 2: a tie on every byte */
      {1.0f / 255.0f, 0.0f, 0.5f, 0.5f, 0, 0, 0},                    /* k = -127.5 */
      {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 0},                             /* k = 1: 0 outside the range */
      {-1.0f / 255.0f, 0.0f, 0.0f, 1.0f, 0, 0, 0},                   /* a negative scale */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    qat_dataset ds = {.c = 2, .pre = {.custom = 1, .rescale = cases[i].rescale, .offset = cases[i].offset}};
    if (cases[i].mean != 0.0f || cases[i].std != 1.0f) {
      ds.pre.n_norm = 2;
      ds.pre.mean[0] = ds.pre.mean[1] = cases[i].mean;
      ds.pre.std[0] = ds.pre.std[1] = cases[i].std;
    }
    float lo = 0, hi = 0;
    int grid = qat_calib_byte_grid(&ds, &lo, &hi);
    if (grid != cases[i].grid) fail_msg("case %zu: byte grid %d, expected %d", i, grid, cases[i].grid);
    if (grid && (lo != cases[i].lo || hi != cases[i].hi)) fail_msg("case %zu: [%g, %g]", i, lo, hi);
  }
  /* per-channel means that differ: no one grid; float samples: none */
  qat_dataset ds = {.c = 2, .pre = {.custom = 1, .rescale = 1.0f, .n_norm = 2, .mean = {0.0f, 1.0f}, .std = {1.0f, 1.0f}}};
  float lo, hi;
  assert_false(qat_calib_byte_grid(&ds, &lo, &hi));
  float one = 0;
  qat_dataset fl = {.c = 2, .fimages = &one};
  assert_false(qat_calib_byte_grid(&fl, &lo, &hi));
  /* Calibration on bytes 10..200 only: the observer alone would narrow the input to them; the
   * pinned input keeps one step per byte (scale 1/255, zero point -128), fixed. */
  qat_config cfg;
  qat_model *m = NULL;
  assert_int_equal(build_tiny(&cfg, &m, 2), 0);
  const uint8_t px[6] = {10, 200, 100, 50, 200, 10};
  qat_dataset set;
  make_set(&set, px, 3);
  qat_calib_options o = {.method = QAT_CALIB_MINMAX, .batch_size = 2};
  assert_int_equal(qat_calibrate(m, &set, &o), 0);
  const qat_fq *in = m->input_fq;
  assert_true(in->fixed && in->valid);
  assert_int_equal(in->zero_point[0], -128);
  assert_true(fabsf(in->scale[0] * 255.0f - 1.0f) < 1e-6f);
  assert_true(in->observer.min == 0.0f && in->observer.max == 1.0f);
  for (int v = 0; v < 256; v++) assert_int_equal(qat_quantize_value((float)v / 255.0f, in->scale[0], in->zero_point[0], -128, 127), v - 128);
  qat_dataset_free(&set);
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* Observers start from data (quantize.calibrate): the seeding pass sets every range from the
 * training samples through qat_calibrate's min/max, then hands the observer back to the
 * configured EMA (which continues from the calibrated range), and leaves ranges a checkpoint
 * gave alone. */
static void test_seed_observers(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = NULL;
  assert_int_equal(build_tiny(&cfg, &m, 2), 0);
  for (int i = 0; i < m->n_fq; i++)
    if (m->fq[i]->role == QAT_FQ_ACTIVATION)
      assert_int_equal(qat_observer_init(&m->fq[i]->observer, QAT_OBSERVER_EMA, 0.9f), 0);
  m->spec.quantize.observer = QAT_OBSERVER_EMA;
  m->spec.quantize.decay = 0.9f;
  const uint8_t px[10] = {255, 0, 0, 255, 51, 102, 255, 255, 0, 0};
  qat_dataset ds;
  make_set(&ds, px, 5);
  assert_int_equal(qat_calib_seed_observers(m, &ds, 0, 1), 0); /* 0 batches: nothing */
  assert_false(m->input_fq->observer.initialized);
  assert_int_equal(qat_calib_seed_observers(m, &ds, 3, 1), 0); /* 3 x 2 >= 5: every sample */
  const qat_fq *out = m->layer_fq[1];
  assert_true(out->observer.initialized && out->observer.min == -1.0f && out->observer.max == 2.0f);
  assert_int_equal(out->observer.kind, QAT_OBSERVER_EMA);
  assert_true(out->observer.decay == 0.9f);
  /* the EMA continues from there, its warm-up counting the 3 calibration batches: one batch
   * with range [0, 3] moves the max with decay min(0.9, 4/13); one inside it shrinks it with 0.9 */
  assert_int_equal(out->observer.warmup, 1);
  assert_int_equal(out->observer.updates, 3);
  float batch[2] = {0.0f, 3.0f};
  assert_int_equal(qat_observer_update(&m->layer_fq[1]->observer, batch, 2), 0);
  const float grown = 2.0f - (2.0f - 3.0f) * (1.0f - (float)(4.0 / 13.0));
  assert_true(out->observer.max == grown);
  batch[1] = 1.0f;
  assert_int_equal(qat_observer_update(&m->layer_fq[1]->observer, batch, 2), 0);
  assert_true(out->observer.max == grown - (grown - 1.0f) * (1.0f - 0.9f));
  /* initialized ranges are kept: a second seeding changes nothing */
  float keep = out->observer.max;
  assert_int_equal(qat_calib_seed_observers(m, &ds, 3, 1), 0);
  assert_true(out->observer.max == keep);
  qat_dataset_free(&ds);
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* The logits' range fits the final weights: after the kernel doubles (as training grows
 * logits), the pass through the fake-quant model widens the output observer from the seeded
 * [-1, 2] to what the doubled weights give, [-2, 4] (-1 quantized on the weight grid of
 * max|w| = 4 is -64/127*4 = -2.0157...), and a second pass changes nothing: it never narrows. */
static void test_fit_logits(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = NULL;
  assert_int_equal(build_tiny(&cfg, &m, 2), 0);
  const uint8_t px[10] = {255, 0, 0, 255, 51, 102, 255, 255, 0, 0};
  qat_dataset ds;
  make_set(&ds, px, 5);
  assert_int_equal(qat_calib_seed_observers(m, &ds, 3, 1), 0);
  qat_fq *out = m->layer_fq[1];
  assert_true(out->observer.min == -1.0f && out->observer.max == 2.0f);
  float before[2], after[2];
  assert_int_equal(qat_calib_fit_logits(m, &ds, 0, 1, before, after), 0); /* 0 batches: nothing */
  assert_true(out->observer.min == -1.0f && out->observer.max == 2.0f);
  const qat_param *k = qat_model_find_param(m, "d/kernel");
  k->tensor->data[0] = 4.0f;
  k->tensor->data[1] = -2.0f;
  assert_int_equal(qat_calib_fit_logits(m, &ds, 3, 1, before, after), 0);
  assert_true(before[0] == -1.0f && before[1] == 2.0f);
  assert_true(fabsf(after[1] - 4.0f) < 1e-5f);
  assert_true(fabsf(after[0] - (-64.0f / 127.0f * 4.0f)) < 1e-5f);
  assert_true(out->observer.min == after[0] && out->observer.max == after[1]);
  assert_int_equal(qat_calib_fit_logits(m, &ds, 3, 1, before, after), 0);
  assert_true(before[0] == after[0] && before[1] == after[1]);
  /* smaller weights again: the range stays (the EMA, not this pass, narrows it) */
  k->tensor->data[0] = 1.0f;
  assert_int_equal(qat_calib_fit_logits(m, &ds, 3, 1, before, after), 0);
  assert_true(out->observer.min == before[0] && out->observer.max == before[1]);
  qat_dataset_free(&ds);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_float_checkpoint(void **state) {
  (void)state;
  char dir[] = "/tmp/qat_calib_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char ckpt[256];
  snprintf(ckpt, sizeof ckpt, "%s/float.h5", dir);
  qat_config cfg;
  assert_int_equal(qat_config_parse(tiny_yaml, strlen(tiny_yaml), "tiny", &cfg), 0);
  qat_model *fm = NULL;
  assert_int_equal(qat_model_create(&fm, &cfg.model, 1, 1), 0);
  qat_checkpoint_meta meta = {0, 0, 1};
  assert_int_equal(qat_checkpoint_save(ckpt, fm, NULL, tiny_yaml, &meta), 0);
  qat_model_free(fm);
  qat_config_free(&cfg);

  qat_model *m = NULL;
  int was_qat = -1;
  assert_int_equal(qat_calib_load_model(ckpt, 4, &cfg, &m, &was_qat), 0);
  assert_int_equal(was_qat, 0);
  assert_true(m->spec.quantize.enabled && m->input_fq && !m->input_fq->observer.initialized);
  /* Without calibration the export still refuses and points to it. */
  assert_int_equal(qat_export_int8_prepare(m), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "calibrat"));
  qat_dataset ds;
  /* The config's data is Fashion-MNIST (28x28x1): the model takes 1x1x2. */
  int rc = qat_calib_load_samples(&cfg, NULL, 10, 1, 1, 1, 2, &ds);
  assert_true(rc != 0);
  char bad[300];
  snprintf(bad, sizeof bad, "%s/missing.idx", dir);
  assert_int_not_equal(qat_calib_load_samples(&cfg, bad, 10, 1, 1, 1, 2, &ds), 0);
  assert_non_null(strstr(qat_error_message(), "missing.idx"));
  const uint8_t px[4] = {10, 20, 30, 40};
  make_set(&ds, px, 2);
  qat_calib_options o = {.method = QAT_CALIB_MINMAX};
  assert_int_equal(qat_calibrate(m, &ds, &o), 0);
  assert_int_equal(qat_export_int8_prepare(m), 0);
  qat_dataset_free(&ds);
  qat_model_free(m);
  qat_config_free(&cfg);
  unlink(ckpt);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_percentile_hand),
      cmocka_unit_test(test_mse_hand),
      cmocka_unit_test(test_calibrate_minmax_hand),
      cmocka_unit_test(test_byte_grid),
      cmocka_unit_test(test_seed_observers),
      cmocka_unit_test(test_fit_logits),
      cmocka_unit_test(test_float_checkpoint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
