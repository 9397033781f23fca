/* The parity report on in-memory exports: a quantization-aware model and its own int8 file
 * agree bit for bit at every layer; a change to one layer of the model after export shows up
 * as that layer's own difference, and as inherited differences after it, never before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/parity.h"
#include "qat/rng.h"
#include "qat/tflite.h"
#include "tests/support/fake_quant_add.h"
#include "tests/support/tflite_builder.h"

#define BATCH 8
#define SAMPLES 40

/* What every model below runs with: the fixture feeds its own samples. */
#define QAT_RUN                                                                              \
  "data: {dataset: fashion-mnist}\n"                                                         \
  "quantize: {mode: qat}\n"                                                                  \
  "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: sgd, learning_rate: 0.01}}\n"

static const char *yaml_cnn =
    "model:\n"
    "  input: [10, 10, 1]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 6, kernel_size: 3, use_bias: false}\n"
    "    - BatchNormalization: {name: bn1}\n"
    "    - ReLU: {name: r1, max_value: 6}\n"
    "    - MaxPooling2D: {name: p1, pool_size: 2}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: d1, units: 12, activation: relu}\n"
    "    - Dense: {name: out, units: 5, activation: softmax}\n"
    QAT_RUN;

/* Folded batch norms whose float ops add and cancel large terms (see shift_bn_means), deep sums
 * (3x3 over 32 channels, 1x1 over 64), a depthwise conv, a dense: recovering the int8
 * accumulator from the float output of conv -> unscale -> batch norm misses by one whenever
 * the folded bias's quotient lies near a half; the output fake quant must rebuild it from the
 * conv's own output and the folded bias's integers, as the exporter computes them. */
static const char *yaml_deep =
    "model:\n"
    "  input: [10, 10, 1]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 32, kernel_size: 3, padding: same, use_bias: false}\n"
    "    - BatchNormalization: {name: bn1}\n"
    "    - ReLU: {name: r1}\n"
    "    - Conv2D: {name: c2, filters: 64, kernel_size: 3, padding: same, use_bias: false}\n"
    "    - BatchNormalization: {name: bn2}\n"
    "    - ReLU: {name: r2}\n"
    "    - Conv2D: {name: c3, filters: 48, kernel_size: 1}\n"
    "    - DepthwiseConv2D: {name: dw, kernel_size: 3, use_bias: false}\n"
    "    - BatchNormalization: {name: bn3}\n"
    "    - ReLU: {name: r3, max_value: 6}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: out, units: 5}\n"
    QAT_RUN;

/* A residual Add (two branches on different scales) and a 2x2 AveragePooling2D: the int8 ADD
 * rescales both inputs with a left shift of 20 and rounds three times, the int8 average pool
 * sums the raw integers and divides rounding half away from zero (2x2 windows land on halves
 * often: rounding the float average instead misses 14 % of the pool's values here). The
 * fake quant must reproduce both. (This Add meets no near-tie that a single rounding of the
 * float sum would miss; test_qat's ADD cases cover its arithmetic.) */
static const char *yaml_residual =
    "model:\n"
    "  input: [10, 10, 1]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 8, kernel_size: 3, padding: same, activation: relu}\n"
    "    - Conv2D: {name: c2, filters: 8, kernel_size: 3, padding: same}\n"
    "    - Conv2D: {name: c3, inputs: [c1], filters: 8, kernel_size: 1}\n"
    "    - Add: {name: add, inputs: [c2, c3]}\n"
    "    - AveragePooling2D: {name: pool, pool_size: 2}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: out, units: 5}\n"
    QAT_RUN;

/* Subtract of two branches on different scales, its ReLU fused into the int8 SUB. */
static const char *yaml_subtract =
    "model:\n"
    "  input: [10, 10, 1]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 8, kernel_size: 3, padding: same, activation: relu}\n"
    "    - Conv2D: {name: c2, filters: 8, kernel_size: 3, padding: same}\n"
    "    - Conv2D: {name: c3, inputs: [c1], filters: 8, kernel_size: 1}\n"
    "    - Subtract: {name: sub, inputs: [c2, c3]}\n"
    "    - ReLU: {name: r}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: out, units: 5}\n"
    QAT_RUN;

/* Concatenate and Maximum on one shared range: c2 writes straight to the concat's range (its
 * int8 CONV_2D requantizes to it: its own rounding, with that range's parameters), c1 (read by
 * c3 too) and c3 are requantized by a QUANTIZE in front (int8 to int8, rescaled by s_in / s_out
 * in fixed point); the Maximum takes the concat and a conv on their own ranges. Rounding the
 * joined float tensor once instead missed 0.1 to 8 % of such values (an Inception block, a
 * U-Net's skip connection). */
static const char *yaml_concat =
    "model:\n"
    "  input: [10, 10, 1]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 4, kernel_size: 3, padding: same, activation: relu}\n"
    "    - Conv2D: {name: c2, inputs: [input], filters: 4, kernel_size: 3, padding: same}\n"
    "    - Conv2D: {name: c3, inputs: [c1], filters: 4, kernel_size: 1}\n"
    "    - Concatenate: {name: cat, inputs: [c1, c2, c3]}\n"
    "    - Conv2D: {name: c4, inputs: [c1], filters: 12, kernel_size: 1}\n"
    "    - Maximum: {name: mx, inputs: [cat, c4]}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: out, units: 5}\n"
    QAT_RUN;

/* ZeroPadding2D as its own PAD: before a max pool (ResNet50's stem) and asymmetric before a
 * VALID conv; the int8 PAD pads with the zero point, the fake-quant graph with 0. */
static const char *yaml_pad =
    "model:\n"
    "  input: [10, 10, 1]\n"
    "  layers:\n"
    "    - Conv2D: {name: c1, filters: 8, kernel_size: 3, activation: relu}\n"
    "    - ZeroPadding2D: {name: p1, padding: 1}\n"
    "    - MaxPooling2D: {name: mp, pool_size: 3, strides: 2}\n"
    "    - ZeroPadding2D: {name: p2, padding: [[0, 2], [1, 0]]}\n"
    "    - Conv2D: {name: c2, filters: 4, kernel_size: 3}\n"
    "    - Flatten: {name: flat}\n"
    "    - Dense: {name: out, units: 5}\n"
    QAT_RUN;

typedef struct fixture {
  qat_config cfg;
  qat_model *m;
  qat_rt_model *rt;
  qat_dataset ds;
} fixture;

/* A model whose observers have seen a few batches, its int8 file loaded with every tensor kept,
 * and SAMPLES random 10x10 images. */
static int export_int16x8; /* the fixture's file: int16x8 instead of int8 */

static void setup_fixture_with(fixture *f, const char *yaml, uint64_t seed, void (*before_export)(qat_model *)) {
  memset(f, 0, sizeof *f);
  if (qat_config_parse(yaml, strlen(yaml), "test.yaml", &f->cfg)) fail_msg("config: %s", qat_error_message());
  if (qat_model_create(&f->m, &f->cfg.model, BATCH, seed)) fail_msg("model: %s", qat_error_message());
  qat_rng r;
  qat_rng_seed(&r, seed);
  float x[BATCH * 100];
  qat_exec ex = {.training = 1, .seed = seed, .fake_quant = 1};
  for (int s = 0; s < 5; s++) {
    for (int i = 0; i < BATCH * 100; i++) x[i] = qat_rng_uniform(&r);
    ex.step = (uint64_t)s;
    qat_model_forward(f->m, x, BATCH, &ex);
  }
  if (before_export) before_export(f->m);
  assert_int_equal(qat_export_int8_prepare(f->m), 0);
  qat_tflite_model t;
  uint8_t *bytes;
  size_t size;
  if (export_int16x8 ? qat_export_int16x8(f->m, QAT_EXPORT_IO_INT16, &t) : qat_export_int8(f->m, QAT_EXPORT_IO_INT8, &t))
    fail_msg("export: %s", qat_error_message());
  assert_int_equal(qat_tflite_serialize(&t, &bytes, &size), 0);
  qat_rt_options opt = {.preserve_all_tensors = 1};
  if (qat_rt_model_load_buffer(bytes, size, "m.tflite", &opt, &f->rt)) fail_msg("load: %s", qat_error_message());
  free(bytes);
  qat_tflite_model_free(&t);
  f->ds = (qat_dataset){.n = SAMPLES, .h = 10, .w = 10, .c = 1, .num_classes = 5, .owns = 1};
  f->ds.images = malloc(SAMPLES * 100);
  f->ds.labels = malloc(SAMPLES);
  assert_non_null(f->ds.images);
  assert_non_null(f->ds.labels);
  for (int i = 0; i < SAMPLES * 100; i++) f->ds.images[i] = (uint8_t)(qat_rng_next(&r) >> 56);
  for (int i = 0; i < SAMPLES; i++) f->ds.labels[i] = (uint8_t)(qat_rng_next(&r) % 5);
}

static void setup_fixture(fixture *f, const char *yaml, uint64_t seed) { setup_fixture_with(f, yaml, seed, NULL); }

static void teardown_fixture(fixture *f) {
  qat_rt_model_free(f->rt);
  qat_model_free(f->m);
  qat_config_free(&f->cfg);
  qat_dataset_free(&f->ds);
}

static const qat_parity_layer *entry(const qat_parity_report *r, const char *name) {
  for (int i = 0; i < r->n_layers; i++)
    if (!strcmp(r->layers[i].name, name)) return &r->layers[i];
  fail_msg("no entry %s", name);
  return NULL;
}

/* Every layer bit-identical to the fake-quant model, inherited and alone. */
static void assert_every_layer_exact(const qat_parity_report *r) {
  for (int i = 0; i < r->n_layers; i++) {
    const qat_parity_stats *s = &r->layers[i].s;
    printf("# %-6s %-18s %7lld values, %lld identical, own %lld\n", r->layers[i].name, r->layers[i].op,
           (long long)s->values, (long long)s->identical, (long long)s->local_identical);
    assert_int_equal(s->local_identical, s->values);
    assert_int_equal(s->identical, s->values);
  }
}

static void test_own_export_is_bit_identical(void **state) {
  (void)state;
  fixture f;
  setup_fixture(&f, yaml_cnn, 11);
  qat_parity_report r;
  assert_int_equal(qat_parity_run(f.m, f.rt, &f.ds, &r), 0);
  assert_int_equal(r.samples, SAMPLES);
  /* input, r1, p1, flat, d1, out/linear, out (softmax) */
  assert_int_equal(r.n_layers, 7);
  assert_string_equal(r.layers[0].op, "input");
  assert_string_equal(r.layers[r.output].name, "out");
  assert_string_equal(r.layers[r.output].op, "SOFTMAX");
  /* clipping is judged on the logits, the softmax's input */
  assert_string_equal(r.layers[r.logits].name, "out/linear");
  for (int i = 0; i < r.n_layers; i++) {
    const qat_parity_stats *s = &r.layers[i].s;
    printf("# %-12s %-16s %6lld values, %lld identical, own %lld, SQNR %.1f dB\n", r.layers[i].name, r.layers[i].op,
           (long long)s->values, (long long)s->identical, (long long)s->local_identical, qat_parity_sqnr_db(s));
    /* the softmax: TFLite's fixed-point exp against a double softmax, 1 LSB at most */
    if (i == r.output) {
      assert_true(s->max_lsb <= 1);
      continue;
    }
    assert_int_equal(s->identical, s->values);
    assert_int_equal(s->local_identical, s->values);
  }
  assert_int_equal(r.top1_agree, SAMPLES);
  assert_int_equal(r.fakequant_correct, r.int8_correct);
  /* the float model differs from the int8 one: finite SQNR after the input */
  assert_true(qat_parity_sqnr_db(&entry(&r, "r1")->s) < 80.0);
  qat_parity_free(&r);
  teardown_fixture(&f);
}

/* A 16x8 file is compared on its own grid: the model's activation quantizers move to the
 * int16 scales the exporter gives the same ranges, so the input is bit-identical and every
 * layer's SQNR rises above the int8 file's (the weights stay int8; an int8-grid comparison
 * would show every value off by hundreds of LSB). Every layer up to the logits is
 * bit-identical: the 16x8 kernels' requantization is simulated (the multiplier reduced to 16
 * bits) on int64 accumulators that the head op computes exactly (qat_fq_exact_accumulators).
 * Recovered from float32 sums, as for int8, they missed: 99.9 % of the first conv identical,
 * 88 % of the logits, up to 2 LSB; this test fails on that rounding. Only the int16 softmax
 * (its exp table against a double softmax) may differ, by 1 LSB. */
static void test_int16x8_report(void **state) {
  (void)state;
  fixture f8, f16;
  setup_fixture(&f8, yaml_cnn, 11);
  export_int16x8 = 1;
  setup_fixture(&f16, yaml_cnn, 11);
  export_int16x8 = 0;
  qat_parity_report r8, r16;
  assert_int_equal(qat_parity_run(f8.m, f8.rt, &f8.ds, &r8), 0);
  if (qat_parity_run(f16.m, f16.rt, &f16.ds, &r16)) fail_msg("%s", qat_error_message());
  assert_int_equal(r16.n_layers, r8.n_layers);
  assert_string_equal(r16.layers[0].op, "input");
  assert_int_equal(r16.layers[0].s.identical, r16.layers[0].s.values);
  for (int i = 1; i < r16.n_layers; i++) {
    const qat_parity_stats *s8 = &r8.layers[i].s, *s16 = &r16.layers[i].s;
    printf("# %-12s int8 SQNR %.1f dB; int16x8 SQNR %.1f dB, %lld of %lld identical, max %lld LSB\n",
           r16.layers[i].name, qat_parity_sqnr_db(s8), qat_parity_sqnr_db(s16), (long long)s16->identical,
           (long long)s16->values, (long long)s16->max_lsb);
    if (i == r16.output) {
      assert_string_equal(r16.layers[i].op, "SOFTMAX");
      assert_true(s16->max_lsb <= 1);
    } else {
      assert_int_equal(s16->identical, s16->values);
      assert_true(qat_parity_sqnr_db(s16) > qat_parity_sqnr_db(s8) + 6.0);
    }
  }
  assert_int_equal(r16.int16, 1);
  assert_int_equal(r8.int16, 0);
  assert_int_equal(r16.top1_agree, SAMPLES);
  qat_parity_free(&r8);
  qat_parity_free(&r16);
  teardown_fixture(&f8);
  teardown_fixture(&f16);
}

/* Moves each folded batch norm's moving mean by +40 and its beta to match: the same function,
 * but the float batch-norm ops now add and cancel large terms, as a trained network's do. */
static void shift_bn_means(qat_model *m) {
  const char *bns[] = {"bn1", "bn2", "bn3"};
  for (int k = 0; k < 3; k++) {
    char name[64];
    const qat_param *p[4];
    const char *what[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int j = 0; j < 4; j++) {
      snprintf(name, sizeof name, "%s/%s", bns[k], what[j]);
      p[j] = qat_model_find_param(m, name);
      assert_non_null(p[j]);
    }
    for (int64_t c = 0; c < p[0]->size; c++) {
      const float g = p[0]->tensor->data[c] / sqrtf(p[3]->tensor->data[c] + 1e-3f);
      p[2]->tensor->data[c] += 40.0f;
      p[1]->tensor->data[c] += 40.0f * g;
    }
  }
}

static void test_folded_batch_norm_is_exact(void **state) {
  (void)state;
  fixture f;
  setup_fixture_with(&f, yaml_deep, 5, shift_bn_means);
  qat_parity_report r;
  assert_int_equal(qat_parity_run(f.m, f.rt, &f.ds, &r), 0);
  assert_every_layer_exact(&r);
  qat_parity_free(&r);
  teardown_fixture(&f);
}

/* The model of yaml exported to int8: every layer bit-identical, and the named layers lowered
 * to the ops given (name, op pairs, NULL-terminated). */
static void assert_model_exact(const char *yaml, uint64_t seed, const char *const *layer_ops) {
  fixture f;
  setup_fixture(&f, yaml, seed);
  qat_parity_report r;
  if (qat_parity_run(f.m, f.rt, &f.ds, &r)) fail_msg("parity: %s", qat_error_message());
  assert_every_layer_exact(&r);
  for (int k = 0; layer_ops[k]; k += 2) assert_string_equal(entry(&r, layer_ops[k])->op, layer_ops[k + 1]);
  qat_parity_free(&r);
  teardown_fixture(&f);
}

static void test_add_and_average_pool_are_exact(void **state) {
  (void)state;
  assert_model_exact(yaml_residual, 3, (const char *const[]){"add", "ADD", "pool", "AVERAGE_POOL_2D", NULL});
}

static void test_concatenate_is_exact(void **state) {
  (void)state;
  assert_model_exact(yaml_concat, 7, (const char *const[]){"cat", "CONCATENATION", "mx", "MAXIMUM", NULL});
}

static void test_subtract_is_exact(void **state) {
  (void)state;
  /* the ReLU fused into the SUB names its output */
  assert_model_exact(yaml_subtract, 4, (const char *const[]){"r", "SUB", NULL});
}

static void test_zero_padding_is_exact(void **state) {
  (void)state;
  assert_model_exact(yaml_pad, 6, (const char *const[]){"p1", "PAD", "p2", "PAD", NULL});
}

/* SUB over all 65,536 pairs of int8 inputs: the fake quant's rule gives what qat's runtime SUB
 * kernel (bit-exact with BUILTIN_REF) gives. The scales put the rescaling of input 2 on a tie
 * for every odd c2 (s2 / (2 s1) = (0.5 + 2^-21) / 2: its multiplier is 2^30 + 2^10), where
 * SaturatingRoundingDoublingHighMul rounds upward whatever the sign: the simulation must
 * subtract the rescaled input as sub.cc does, not rescale its negation. */
static void test_subtract_fake_quant_is_the_int8_sub(void **state) {
  (void)state;
  const float s1 = 1.0f, s2 = 0.5f + 1.0f / 2097152.0f, s_out = 1.3f;
  const int32_t zp1 = 3, zp2 = -7, zpo = 2;
  enum { N = 256 * 256 };
  int8_t *q1 = malloc(N), *q2 = malloc(N);
  int32_t *got = malloc(N * sizeof(int32_t));
  assert_true(q1 && q2 && got);
  for (int i = 0; i < N; i++) q1[i] = (int8_t)(i / 256 - 128), q2[i] = (int8_t)(i % 256 - 128);
  fake_quant_add(q1, q2, N, s1, zp1, s2, zp2, s_out, zpo, 1, got);
  /* the runtime's SUB on a one-op file from the tests' own writer */
  tb_model tm = {0};
  const int32_t dims[1] = {N};
  const int a = tb_tensor_add(&tm, "a", I8, 1, dims, NULL, 0), b = tb_tensor_add(&tm, "b", I8, 1, dims, NULL, 0),
            o = tb_tensor_add(&tm, "out", I8, 1, dims, NULL, 0);
  tb_quant1(&tm, a, s1, zp1);
  tb_quant1(&tm, b, s2, zp2);
  tb_quant1(&tm, o, s_out, zpo);
  tb_op_add(&tm, QAT_TFLITE_BUILTIN_SUB, 2, (int32_t[]){a, b}, 1, (int32_t[]){o});
  tm.n_in = 2, tm.in[0] = a, tm.in[1] = b, tm.n_out = 1, tm.out[0] = o;
  size_t size;
  uint8_t *bytes = tb_build(&tm, &size);
  assert_non_null(bytes);
  qat_rt_model *rt;
  if (qat_rt_model_load_buffer(bytes, size, "sub.tflite", NULL, &rt)) fail_msg("load: %s", qat_error_message());
  memcpy(qat_rt_tensor_data(rt, qat_rt_input(rt, 0)), q1, N);
  memcpy(qat_rt_tensor_data(rt, qat_rt_input(rt, 1)), q2, N);
  assert_int_equal(qat_rt_invoke(rt), 0);
  const int8_t *want = qat_rt_tensor_data(rt, qat_rt_output(rt, 0));
  int differs = 0;
  for (int i = 0; i < N; i++) differs += got[i] != want[i];
  printf("# SUB over %d int8 pairs: fake quant differs from the kernel on %d\n", N, differs);
  assert_int_equal(differs, 0);
  qat_rt_model_free(rt);
  free(bytes);
  free(q1), free(q2), free(got);
}

/* d1's weights change after export: c1..flat stay identical, d1 differs by its own rounding
 * (the op alone already differs), and the logits inherit differences without an own one. */
static void test_difference_is_localized(void **state) {
  (void)state;
  fixture f;
  setup_fixture(&f, yaml_cnn, 12);
  const qat_param *w = qat_model_find_param(f.m, "d1/kernel");
  assert_non_null(w);
  for (int64_t k = 0; k < w->size; k++) w->tensor->data[k] *= 1.25f;
  qat_parity_report r;
  assert_int_equal(qat_parity_run(f.m, f.rt, &f.ds, &r), 0);
  for (const char *const *n = (const char *const[]){"input", "r1", "p1", "flat", NULL}; *n; n++) {
    const qat_parity_stats *s = &entry(&r, *n)->s;
    assert_int_equal(s->identical, s->values);
  }
  const qat_parity_stats *d1 = &entry(&r, "d1")->s, *logits = &entry(&r, "out/linear")->s;
  printf("# d1: %lld of %lld identical (own %lld), max %lld LSB; logits: %lld identical, own %lld\n",
         (long long)d1->identical, (long long)d1->values, (long long)d1->local_identical, (long long)d1->max_lsb,
         (long long)logits->identical, (long long)logits->local_identical);
  assert_true(d1->identical < d1->values);
  assert_true(d1->local_identical < d1->values);
  assert_true(d1->max_lsb >= 1);
  assert_true(logits->identical < logits->values);
  assert_int_equal(logits->local_identical, logits->values);
  qat_parity_free(&r);
  teardown_fixture(&f);
}

static void test_refusals(void **state) {
  (void)state;
  fixture f;
  setup_fixture(&f, yaml_cnn, 13);
  qat_parity_report r;
  qat_dataset wrong = f.ds;
  wrong.h = 5; /* 50 values per sample */
  wrong.owns = 0;
  assert_int_equal(qat_parity_run(f.m, f.rt, &wrong, &r), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "input takes 100 values"));
  qat_parity_free(&r);
  /* a float model of the same layers has no quantizers */
  qat_config cfg;
  const char *q = strstr(yaml_cnn, "quantize:");
  char *plain = strdup(yaml_cnn);
  memcpy(plain + (q - yaml_cnn), "#", 1);
  assert_int_equal(qat_config_parse(plain, strlen(plain), "plain.yaml", &cfg), 0);
  qat_model *m = NULL;
  assert_int_equal(qat_model_create(&m, &cfg.model, BATCH, 1), 0);
  assert_int_equal(qat_parity_run(m, f.rt, &f.ds, &r), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "no quantizers"));
  qat_parity_free(&r);
  qat_model_free(m);
  qat_config_free(&cfg);
  free(plain);
  teardown_fixture(&f);
}

/* The whole target's criteria by hand: which are missed, with what figures, at the bounds. */
static void test_target_missed(void **state) {
  (void)state;
  qat_parity_layer layers[2] = {{.name = "logits"}, {.name = "softmax"}};
  qat_parity_report r = {.samples = 1000, .top1_agree = 1000, .output = 1, .logits = 0, .layers = layers, .n_layers = 2};
  layers[1].s = (qat_parity_stats){.values = 100, .identical = 100};
  layers[0].s = (qat_parity_stats){.values = 100, .saturated = 0};
  char buf[512];
  assert_int_equal(qat_parity_target_missed(&r, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
  /* at the bounds: 99 % identical, 1 LSB, 99.9 % top-1 are met; 1 % saturated is not */
  layers[1].s.identical = 99, layers[1].s.max_lsb = 1, r.top1_agree = 999, layers[0].s.saturated = 1;
  assert_int_equal(qat_parity_target_missed(&r, buf, sizeof buf), 1);
  assert_non_null(strstr(buf, "logits saturated 1.00 % (target < 1 %"));
  assert_null(strstr(buf, "bit-identical"));
  /* every criterion, in order, each with its figure */
  layers[1].s.identical = 98, layers[1].s.max_lsb = 2, r.top1_agree = 998, layers[0].s.saturated = 0;
  assert_int_equal(qat_parity_target_missed(&r, buf, sizeof buf), 3);
  assert_string_equal(buf, "98.00 % of outputs bit-identical (target >= 99 %); max 2 LSB (target <= 1); "
                           "top-1 agreement 99.80 % (target >= 99.9 %)");
  /* the saturation is the logits' (layers[0]), not the output's */
  layers[1].s.saturated = 50;
  assert_int_equal(qat_parity_target_missed(&r, buf, sizeof buf), 3);
  /* a short buffer is cut, not overrun, and the count stays whole */
  layers[0].s.saturated = 50;
  char small[12];
  memset(small, 'x', sizeof small);
  assert_int_equal(qat_parity_target_missed(&r, small, 10), 4);
  assert_int_equal(strlen(small), 9);
  assert_int_equal(small[10], 'x');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_target_missed),
      cmocka_unit_test(test_own_export_is_bit_identical),
      cmocka_unit_test(test_difference_is_localized),
      cmocka_unit_test(test_folded_batch_norm_is_exact),
      cmocka_unit_test(test_add_and_average_pool_are_exact),
      cmocka_unit_test(test_concatenate_is_exact),
      cmocka_unit_test(test_subtract_is_exact),
      cmocka_unit_test(test_zero_padding_is_exact),
      cmocka_unit_test(test_subtract_fake_quant_is_the_int8_sub),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_int16x8_report),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
