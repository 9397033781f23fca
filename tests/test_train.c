/* Training runs end to end on a small generated IDX dataset: the loss falls, an interrupted
 * run resumed from its epoch checkpoint ends bit-identical to an uninterrupted one, a
 * diverging run stops without touching the last good checkpoint, and checkpoints refuse
 * mismatched models. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/h5store.h"
#include "qat/model.h"
#include "qat/rng.h"
#include "qat/train.h"

static char dir[512];

static void put_be32(FILE *f, uint32_t v) {
  unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
  fwrite(b, 1, 4, f);
}

/* 10 classes of 8x8 images: class c lights a 2x2 block at a class-specific place, plus noise. */
static void write_idx(const char *stem, int n, uint64_t seed) {
  char path[600];
  qat_rng r;
  qat_rng_seed(&r, seed);
  uint8_t *labels = malloc((size_t)n);
  snprintf(path, sizeof path, "%s/%s-images", dir, stem);
  FILE *f = fopen(path, "wb");
  put_be32(f, 0x803);
  put_be32(f, (uint32_t)n);
  put_be32(f, 8);
  put_be32(f, 8);
  for (int s = 0; s < n; s++) {
    int c = (int)qat_rng_below(&r, 10);
    labels[s] = (uint8_t)c;
    int by = (c / 4) * 3, bx = (c % 4) * 2;
    for (int y = 0; y < 8; y++)
      for (int x = 0; x < 8; x++) {
        int on = y >= by && y < by + 2 && x >= bx && x < bx + 2;
        fputc((int)(qat_rng_below(&r, 60) + (on ? 180 : 0)), f);
      }
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/%s-labels", dir, stem);
  f = fopen(path, "wb");
  put_be32(f, 0x801);
  put_be32(f, (uint32_t)n);
  fwrite(labels, 1, (size_t)n, f);
  fclose(f);
  free(labels);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s/test_train_XXXXXX", QAT_BINARY_DIR);
  if (!mkdtemp(dir)) return -1;
  write_idx("train", 320, 1);
  write_idx("test", 100, 2);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

/* Extra data: keys (", augment: [...]") for the next configs; "" by default. */
static const char *data_extra = "";

static void load_config_q(qat_config *cfg, const char *optimizer, int epochs, const char *quantize) {
  char text[4096];
  /* with quantize, the BN folds into a linear conv and a ReLU follows */
  snprintf(text, sizeof text,
           "model:\n"
           "  input: [8, 8, 1]\n"
           "  layers:\n"
           "    - Conv2D: {filters: 6, kernel_size: 3, padding: same%s}\n"
           "    - BatchNormalization: {}\n%s"
           "    - MaxPooling2D: {pool_size: 2}\n"
           "    - Dropout: {rate: 0.2}\n"
           "    - Flatten: {}\n"
           "    - Dense: {units: 10}\n"
           "data: {dataset: idx, train_images: %s/train-images, train_labels: %s/train-labels,\n"
           "       test_images: %s/test-images, test_labels: %s/test-labels%s}\n"
           "train: {epochs: %d, batch_size: 32, seed: 5, optimizer: %s}\n%s",
           quantize ? "" : ", activation: relu", quantize ? "    - ReLU: {}\n" : "", dir, dir, dir, dir, data_extra,
           epochs, optimizer, quantize ? quantize : "");
  if (qat_config_parse(text, strlen(text), "gen.yaml", cfg)) fail_msg("%s", qat_error_message());
}

static void load_config(qat_config *cfg, const char *optimizer, int epochs) {
  load_config_q(cfg, optimizer, epochs, NULL);
}

typedef struct recorder {
  double first_loss, last_loss;
  int stop_epoch, stop_step; /* request a stop here (0: never) */
} recorder;

static int record(const qat_progress *p, void *user) {
  recorder *r = user;
  if (p->kind == QAT_PROGRESS_STEP) {
    if (p->global_step == 1) r->first_loss = p->loss;
    r->last_loss = p->loss;
    if (p->epoch == r->stop_epoch && p->step == r->stop_step) return 1;
  }
  return 0;
}

static float *read_params(const char *ckpt, const char *name, int64_t n) {
  qat_h5_reader rd;
  float *v = calloc((size_t)n, sizeof(float));
  assert_int_equal(qat_h5_reader_open(&rd, ckpt), 0);
  int64_t dims[1] = {n};
  if (qat_h5_read_array(&rd, name, QAT_H5_F32, 1, dims, v, 0)) fail_msg("%s", qat_error_message());
  qat_h5_reader_close(&rd);
  return v;
}

static void test_loss_falls_and_accuracy_rises(void **state) {
  (void)state;
  qat_config cfg;
  load_config(&cfg, "{name: adam, learning_rate: 0.01}", 4);
  char out[600];
  snprintf(out, sizeof out, "%s/learn", dir);
  recorder rec = {0};
  qat_train_options o = {out, NULL, record, &rec};
  qat_train_result res;
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());
  if (!(rec.last_loss < 0.5 * rec.first_loss)) fail_msg("loss %g -> %g", rec.first_loss, rec.last_loss);
  assert_true(res.has_test);
  if (!(res.test_accuracy > 0.8)) fail_msg("test accuracy %g", res.test_accuracy);
  assert_int_equal(res.epochs, 4);
  assert_int_equal(res.steps, 40); /* 320 / 32 per epoch */
  /* one CSV row per epoch under the header */
  char path[700], line[512];
  snprintf(path, sizeof path, "%s/log.csv", out);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  int rows = 0;
  while (fgets(line, sizeof line, f)) rows++;
  fclose(f);
  assert_int_equal(rows, 5);
  qat_config_free(&cfg);
}

/* train.steps_per_epoch: each epoch stops after that many batches (10 per pass here); more
 * than one pass is capped at the pass. */
static void test_steps_per_epoch(void **state) {
  (void)state;
  qat_config cfg;
  load_config(&cfg, "{name: adam, learning_rate: 0.01}", 2);
  char out[600];
  snprintf(out, sizeof out, "%s/short_epochs", dir);
  qat_train_options o = {out, NULL, NULL, NULL};
  qat_train_result res;
  cfg.train.steps_per_epoch = 3;
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());
  assert_int_equal(res.epochs, 2);
  assert_int_equal(res.steps, 6);
  snprintf(out, sizeof out, "%s/capped_epochs", dir);
  cfg.train.steps_per_epoch = 1000;
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());
  assert_int_equal(res.steps, 20);
  qat_config_free(&cfg);
}

static void copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  assert_true(a && b);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
  fclose(a);
  fclose(b);
}

static float *read_any(const char *ckpt, const char *name, size_t *bytes) {
  qat_h5_reader rd;
  assert_int_equal(qat_h5_reader_open(&rd, ckpt), 0);
  int rank;
  int64_t dims[QAT_H5_MAX_RANK];
  void *v = NULL;
  if (qat_h5_read_array_alloc(&rd, name, QAT_H5_F32, &rank, dims, &v, 1u << 24, 0)) fail_msg("%s", qat_error_message());
  qat_h5_reader_close(&rd);
  *bytes = sizeof(float);
  for (int d = 0; d < rank; d++) *bytes *= (size_t)dims[d];
  return v;
}

/* Killed between writing epoch_003.h5 and checkpoint.h5 (which still holds epoch 2), then
 * resumed from epoch_003.h5, the last: no epoch is left to run, and checkpoint.h5 must become
 * epoch 3 (kill_resume found it left at epoch 2). */
static void test_resume_from_the_last_epoch(void **state) {
  (void)state;
  qat_config cfg;
  load_config(&cfg, "{name: adam, learning_rate: 0.01}", 3);
  char out[600], cut[600], from[700], to[700];
  snprintf(out, sizeof out, "%s/last_epoch", dir);
  qat_train_options o = {out, NULL, NULL, NULL};
  qat_train_result res;
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());
  snprintf(cut, sizeof cut, "%s/last_epoch_cut", dir);
  assert_int_equal(mkdir(cut, 0755), 0);
  snprintf(from, sizeof from, "%s/epoch_002.h5", out);
  snprintf(to, sizeof to, "%s/checkpoint.h5", cut);
  copy_file(from, to);
  snprintf(from, sizeof from, "%s/epoch_003.h5", out);
  snprintf(to, sizeof to, "%s/epoch_003.h5", cut);
  copy_file(from, to);
  qat_train_options oc = {cut, to, NULL, NULL};
  if (qat_train(&cfg, &oc, &res)) fail_msg("%s", qat_error_message());
  assert_int_equal(res.epochs, 3);
  snprintf(to, sizeof to, "%s/checkpoint.h5", cut);
  size_t na, nb;
  float *a = read_any(from, "params/dense/kernel", &na), *b = read_any(to, "params/dense/kernel", &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
  qat_config_free(&cfg);
}

static void resume_check(const char *tag, const char *quantize) {
  qat_config cfg;
  load_config_q(&cfg, "{name: sgd, learning_rate: 0.05, momentum: 0.9, nesterov: true}", 3, quantize);
  char straight[600], broken[600], ckpt_a[700], ckpt_b[700], resume_from[700];
  snprintf(straight, sizeof straight, "%s/%s_straight", dir, tag);
  snprintf(broken, sizeof broken, "%s/%s_broken", dir, tag);
  qat_train_result res;
  qat_train_options o = {straight, NULL, NULL, NULL};
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());

  /* stopped half-way through epoch 2, as a kill would leave it: only epoch_001.h5 is done */
  recorder rec = {.stop_epoch = 2, .stop_step = 4};
  qat_train_options ob = {broken, NULL, record, &rec};
  assert_int_equal(qat_train(&cfg, &ob, &res), QAT_ERR_INTERRUPTED);
  assert_non_null(strstr(qat_error_message(), "broken/checkpoint.h5 (epoch 1)"));
  snprintf(resume_from, sizeof resume_from, "%s/epoch_001.h5", broken);
  qat_train_options oc = {broken, resume_from, NULL, NULL};
  if (qat_train(&cfg, &oc, &res)) fail_msg("%s", qat_error_message());
  assert_int_equal(res.epochs, 3);

  snprintf(ckpt_a, sizeof ckpt_a, "%s/checkpoint.h5", straight);
  snprintf(ckpt_b, sizeof ckpt_b, "%s/checkpoint.h5", broken);
  const char *names[] = {"params/dense/kernel", "params/conv2d/kernel", "state/batch_normalization/moving_mean",
                         "optimizer/m", "quant/dense"};
  int64_t sizes[] = {960, 54, 6, 0, 3};
  for (int i = 0; i < (quantize ? 5 : 4); i++) {
    int64_t n = sizes[i];
    if (!n) n = 54 + 6 + 6 + 6 + 960 + 10; /* all trainable parameters */
    qat_h5_reader rd;
    assert_int_equal(qat_h5_reader_open(&rd, ckpt_a), 0);
    int type, rank;
    int64_t dims[8];
    assert_int_equal(qat_h5_array_info(&rd, names[i], &type, &rank, dims), 0);
    qat_h5_reader_close(&rd);
    int64_t total = 1;
    for (int d = 0; d < rank; d++) total *= dims[d];
    assert_int_equal(total, n);
    /* read flat: the store checks the shape, so re-read with the real rank */
    qat_h5_reader ra, rb;
    float *a = calloc((size_t)n, sizeof(float)), *b = calloc((size_t)n, sizeof(float));
    assert_int_equal(qat_h5_reader_open(&ra, ckpt_a), 0);
    assert_int_equal(qat_h5_reader_open(&rb, ckpt_b), 0);
    assert_int_equal(qat_h5_read_array(&ra, names[i], QAT_H5_F32, rank, dims, a, 0), 0);
    assert_int_equal(qat_h5_read_array(&rb, names[i], QAT_H5_F32, rank, dims, b, 0), 0);
    qat_h5_reader_close(&ra);
    qat_h5_reader_close(&rb);
    if (memcmp(a, b, (size_t)n * sizeof(float))) fail_msg("%s differs after resume", names[i]);
    free(a);
    free(b);
  }
  /* the log reads as one run: 3 epochs, no duplicate rows */
  char path[700], line[512];
  snprintf(path, sizeof path, "%s/log.csv", broken);
  FILE *f = fopen(path, "r");
  int rows = 0;
  while (fgets(line, sizeof line, f)) rows++;
  fclose(f);
  assert_int_equal(rows, 4);
  qat_config_free(&cfg);
}

static void test_interrupted_run_resumes_bit_identically(void **state) {
  (void)state;
  resume_check("float", NULL);
}

/* The same mid-QAT: 10 steps per epoch, interrupted at step 14, BN freezing at 15 and the
 * observers at 25: the schedule and the ranges must carry across the checkpoint. */
static void test_interrupted_qat_run_resumes_bit_identically(void **state) {
  (void)state;
  resume_check("qat", "quantize: {mode: qat, delay: 3, freeze_bn_after: 15, freeze_observers_after: 25}\n");
}

/* With every Keras augmentation layer on: each sample's transform is a function of (seed,
 * epoch, position), so the resumed run still matches. */
static void test_interrupted_augmented_run_resumes_bit_identically(void **state) {
  (void)state;
  data_extra = ",\n       augment: [RandomFlip: {mode: horizontal}, RandomCrop: {height: 7, width: 7},\n"
               "                 RandomTranslation: {height_factor: 0.1, width_factor: 0.1}, RandomRotation: {factor: 0.05},\n"
               "                 RandomZoom: {height_factor: 0.1}, RandomContrast: {factor: 0.2}, RandomBrightness: {factor: 0.1}]";
  resume_check("augment", NULL);
  data_extra = "";
  /* and the augmentation did something: the same run without it (the float test's) differs */
  float a[960], b[960];
  const char *runs[2] = {"float_straight", "augment_straight"};
  float *dst[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    char path[700];
    qat_h5_reader rd;
    int64_t dims[2] = {10, 96};
    snprintf(path, sizeof path, "%s/%s/checkpoint.h5", dir, runs[i]);
    assert_int_equal(qat_h5_reader_open(&rd, path), 0);
    if (qat_h5_read_array(&rd, "params/dense/kernel", QAT_H5_F32, 2, dims, dst[i], 0)) fail_msg("%s", qat_error_message());
    qat_h5_reader_close(&rd);
  }
  assert_memory_not_equal(a, b, sizeof a);
}

static void test_divergence_stops_and_keeps_the_last_good_checkpoint(void **state) {
  (void)state;
  qat_config cfg;
  load_config(&cfg, "{name: sgd, learning_rate: 0.05}", 1);
  char out[600], ckpt[700];
  snprintf(out, sizeof out, "%s/diverge", dir);
  qat_train_options o = {out, NULL, NULL, NULL};
  qat_train_result res;
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", out);
  struct stat before, after;
  assert_int_equal(stat(ckpt, &before), 0);
  float *good = read_params(ckpt, "params/dense/bias", 10);
  qat_config_free(&cfg);

  load_config(&cfg, "{name: sgd, learning_rate: 1e30}", 3);
  qat_train_options o2 = {out, ckpt, NULL, NULL};
  assert_int_equal(qat_train(&cfg, &o2, &res), QAT_ERR_DIVERGED);
  const char *msg = qat_error_message();
  assert_non_null(strstr(msg, "training diverged: "));
  assert_non_null(strstr(msg, "at epoch 2 step "));
  assert_non_null(strstr(msg, "last good checkpoint: "));
  assert_int_equal(qat_exit_code(QAT_ERR_DIVERGED), 5);
  assert_int_equal(stat(ckpt, &after), 0);
  assert_true(before.st_ino == after.st_ino && before.st_mtime == after.st_mtime);
  float *still = read_params(ckpt, "params/dense/bias", 10);
  assert_memory_equal(good, still, 10 * sizeof(float));
  char next[700];
  snprintf(next, sizeof next, "%s/epoch_002.h5", out);
  assert_int_not_equal(access(next, F_OK), 0); /* nothing non-finite was written */
  free(good);
  free(still);
  qat_config_free(&cfg);
}

static void test_checkpoint_refuses_another_model_and_bad_targets(void **state) {
  (void)state;
  qat_config cfg;
  load_config(&cfg, "{name: adam}", 1);
  char out[600], ckpt[700];
  snprintf(out, sizeof out, "%s/learn/checkpoint.h5", dir); /* from the first test */
  qat_model *m;
  /* same layers, a wider Dense: the shapes must be named */
  cfg.model.layers[5].units = 12;
  assert_int_equal(qat_model_create(&m, &cfg.model, 4, 1), 0);
  assert_int_equal(qat_checkpoint_load(out, m, NULL, NULL), QAT_ERR_FORMAT);
  assert_non_null(strstr(qat_error_message(), "params/dense/kernel: shape [10,96], expected [12,96]"));
  qat_model_free(m);
  /* a folder where the checkpoint should go is refused, and left alone */
  snprintf(ckpt, sizeof ckpt, "%s/blocked", dir);
  mkdir(ckpt, 0755);
  snprintf(out, sizeof out, "%s/blocked/checkpoint.h5", dir);
  mkdir(out, 0755);
  cfg.model.layers[5].units = 10;
  qat_train_options o = {ckpt, NULL, NULL, NULL};
  qat_train_result res;
  assert_int_equal(qat_train(&cfg, &o, &res), QAT_ERR_IO);
  assert_non_null(strstr(qat_error_message(), "not a regular file"));
  struct stat st;
  assert_int_equal(stat(out, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  /* a file that is not a checkpoint */
  snprintf(out, sizeof out, "%s/train-images", dir);
  assert_int_equal(qat_model_create(&m, &cfg.model, 4, 1), 0);
  assert_int_equal(qat_checkpoint_load(out, m, NULL, NULL), QAT_ERR_FORMAT);
  assert_non_null(strstr(qat_error_message(), "not an HDF5 file"));
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void no_collective(void *ctx, double *values, int n) { (void)ctx, (void)values, (void)n; }
static void no_min_max(void *ctx, float *min, float *max) { (void)ctx, (void)min, (void)max; }

/* qat_exec.halves: one process's gradients of a batch are, bit for bit, the float sum of the
 * gradients 2 processes compute on its halves (what the allreduce of a 2-rank run adds), for
 * every layer whose weights sum over the batch: a Conv2D (8 slices per half), batch norm's
 * gamma and beta (frozen statistics, so no collective is needed here) with the conv's folded
 * weights and their fake quant on the weights' side of the graph, a depthwise conv, a PReLU's
 * alpha, a transposed conv and a Dense layer. */
static void test_halves_sum_as_two_processes(void **state) {
  (void)state;
  static const char text[] =
      "model:\n  input: [6, 6, 2]\n  layers:\n"
      "    - Conv2D: {filters: 4, kernel_size: 3, padding: same, use_bias: false}\n"
      "    - BatchNormalization: {}\n"
      "    - ReLU: {}\n"
      "    - DepthwiseConv2D: {kernel_size: 3}\n"
      "    - PReLU: {shared_axes: [1, 2]}\n"
      "    - Conv2DTranspose: {filters: 2, kernel_size: 2, strides: 2}\n"
      "    - Flatten: {}\n"
      "    - Dense: {units: 3}\n"
      "quantize: {mode: qat}\n";
  enum { N = 9 };
  qat_config cfg;
  if (qat_config_parse(text, sizeof text - 1, "halves.yaml", &cfg)) fail_msg("%s", qat_error_message());
  qat_model *m = NULL;
  if (qat_model_create(&m, &cfg.model, N, 5)) fail_msg("%s", qat_error_message());
  float x[N * 72];
  int32_t y[N];
  for (int i = 0; i < N * 72; i++) x[i] = (float)((i * 53) % 31) / 31.0f - 0.45f;
  for (int s = 0; s < N; s++) y[s] = (s * 2) % 3;
  const int64_t P = m->n_params;
  float *whole = malloc((size_t)P * sizeof *whole), *first = malloc((size_t)P * sizeof *first);
  assert_non_null(whole);
  assert_non_null(first);
  qat_exec ex = {.training = 1, .seed = 3, .freeze_observers = 1, .freeze_bn = 1, .halves = 1};
  qat_model_step(m, x, y, N, &ex, 1, NULL, NULL);
  memcpy(whole, m->grads, (size_t)P * sizeof *whole);
  qat_collective coll = {.global_batch = N, .sum = no_collective, .min_max = no_min_max};
  qat_exec part = {.coll = &coll, .training = 1, .seed = 3, .freeze_observers = 1, .freeze_bn = 1};
  qat_model_step(m, x, y, N / 2, &part, 1, NULL, NULL);
  memcpy(first, m->grads, (size_t)P * sizeof *first);
  coll.batch_offset = N / 2;
  qat_model_step(m, x + (N / 2) * 72, y + N / 2, N - N / 2, &part, 1, NULL, NULL);
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    if (!p->trainable) continue;
    double norm = 0;
    for (int64_t k = 0; k < p->size; k++) {
      const float sum = first[p->offset + k] + m->grads[p->offset + k];
      norm += fabs(sum);
      if (memcmp(&sum, &whole[p->offset + k], sizeof sum))
        fail_msg("%s[%lld]: %.9g in one process, %.9g as the halves' sum", p->name, (long long)k,
                 whole[p->offset + k], sum);
    }
    if (!(norm > 0)) fail_msg("%s: no gradient reached it", p->name);
  }
  free(whole);
  free(first);
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* model.outputs: a softmax class output and a regression output read from one row of targets
 * per sample (labels first, then values), each loss weighted, the model's loss their sum:
 * checked against the cross-entropy and the mean squared error computed here from the outputs. */
static void test_two_outputs_sum_their_weighted_losses(void **state) {
  (void)state;
  static const char text[] =
      "model:\n  input: [4, 4, 2]\n  outputs: [cls, box]\n  layers:\n"
      "    - Flatten: {name: flat}\n"
      "    - Dense: {name: cls, units: 3, activation: softmax}\n"
      "    - Dense: {name: box, units: 2, inputs: [flat]}\n"
      "    - Dense: {name: unused_tail, units: 2}\n"
      "train: {loss: [sparse_categorical_crossentropy, mse], loss_weights: [0.5, 2]}\n";
  qat_config cfg;
  if (qat_config_parse(text, sizeof text - 1, "two.yaml", &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.model.n_outputs, 2);
  qat_model *m = NULL;
  if (qat_model_create(&m, &cfg.model, 3, 7)) fail_msg("%s", qat_error_message());
  assert_int_equal(m->n_heads, 2);
  assert_int_equal(qat_model_head_target_len(m, 0), 1);
  assert_int_equal(qat_model_head_target_len(m, 1), 2);
  float x[3 * 32], rows[3 * 3] = {2, 0.5f, -1, 0, 1.5f, 0.25f, 1, -0.75f, 2};
  for (int i = 0; i < 3 * 32; i++) x[i] = (float)((i * 37) % 19) / 19.0f - 0.4f;
  qat_model_set_row_targets(m, rows, 3);
  float loss;
  qat_exec ex = {0};
  qat_model_step(m, x, NULL, 3, &ex, 1, &loss, NULL);
  double ce = 0, se = 0;
  for (int s = 0; s < 3; s++) {
    const float *z = m->heads[0].out->data + s * 3, *y = m->heads[1].out->data + s * 2;
    double mx = fmax(z[0], fmax(z[1], z[2])), sum = 0;
    for (int j = 0; j < 3; j++) sum += exp(z[j] - mx);
    ce -= z[(int)rows[s * 3]] - mx - log(sum);
    for (int j = 0; j < 2; j++) se += (y[j] - rows[s * 3 + 1 + j]) * (y[j] - rows[s * 3 + 1 + j]);
  }
  const double want = 0.5 * ce / 3 + 2.0 * se / 6;
  if (fabs(loss - want) > 1e-5 * fmax(1.0, want)) fail_msg("loss %.7g, want 0.5 CE + 2 MSE = %.7g", loss, want);
  assert_true(fabs(m->heads[0].loss_out->data[0] - 0.5 * ce / 3) < 1e-5);
  /* both heads sent gradients back into the shared input of their Dense layers */
  const qat_param *k0 = qat_model_find_param(m, "cls/kernel"), *k1 = qat_model_find_param(m, "box/kernel");
  double g0 = 0, g1 = 0;
  for (int64_t i = 0; i < k0->size; i++) g0 += fabs(m->grads[k0->offset + i]);
  for (int64_t i = 0; i < k1->size; i++) g1 += fabs(m->grads[k1->offset + i]);
  assert_true(g0 > 0 && g1 > 0);
  qat_model_free(m);
  qat_config_free(&cfg);
  /* a softmax on a layer that is no output, and loss lists that do not match the outputs */
  static const char *const bad[3][2] = {
      {"model:\n  input: [4]\n  outputs: [b]\n  layers:\n    - Dense: {name: a, units: 3, activation: softmax}\n"
       "    - Dense: {name: b, units: 2}\n", "which is not a model output"},
      {"model:\n  input: [4]\n  outputs: [a, b]\n  layers:\n    - Dense: {name: a, units: 3}\n"
       "    - Dense: {name: b, units: 2}\ntrain: {loss: [mse]}\n", "1 losses for 2 model outputs"},
      {"model:\n  input: [4]\n  outputs: [a, zz]\n  layers:\n    - Dense: {name: a, units: 3}\n", "no layer named 'zz'"}};
  for (int i = 0; i < 3; i++) {
    assert_int_not_equal(qat_config_parse(bad[i][0], strlen(bad[i][0]), "bad.yaml", &cfg), 0);
    if (!strstr(qat_error_message(), bad[i][1])) fail_msg("case %d: %s", i, qat_error_message());
  }
}

/* Data-parallel overlap (qat_model_grad_segments): a parameter's gradient declared final after
 * node i must never change in the rest of backward, or the ranks would sum a partial one.
 * Every example network, float and quantization-aware (batch norm folded into fake-quant
 * weights, observers, LSQ-free): each segment is copied when backward reports its node and
 * compared with the finished gradients. */
typedef struct seg_watch {
  const qat_grad_segment *seg;
  int n_seg;
  const float *grads;
  float *copy;
  int reported;
} seg_watch;

static void seg_ready(void *ctx, int node) {
  seg_watch *w = ctx;
  for (int i = 0; i < w->n_seg; i++)
    if (w->seg[i].ready_after == node) {
      memcpy(w->copy + w->seg[i].offset, w->grads + w->seg[i].offset, (size_t)w->seg[i].size * sizeof(float));
      w->reported++;
    }
}

static void coll_sum_none(void *ctx, double *v, int n) {
  (void)ctx;
  (void)v;
  (void)n;
}

static void coll_min_max_none(void *ctx, float *min, float *max) {
  (void)ctx;
  (void)min;
  (void)max;
}

static void test_gradient_segments_are_final_when_reported(void **state) {
  (void)state;
  static const char *const examples[] = {"fashion_mnist_cnn.yaml", "cifar10_cnn.yaml", "mobilenet_tiny.yaml"};
  for (int e = 0; e < 3; e++)
    for (int quantized = 0; quantized < 2; quantized++) {
      char path[700];
      snprintf(path, sizeof path, "%s/examples/%s", QAT_SOURCE_DIR, examples[e]);
      qat_config cfg;
      if (qat_config_load(path, &cfg)) fail_msg("%s", qat_error_message());
      cfg.model.quantize.enabled = quantized;
      qat_model *m = NULL;
      const int batch = 4;
      if (qat_model_create(&m, &cfg.model, batch, 3)) fail_msg("%s: %s", examples[e], qat_error_message());
      qat_grad_segment *seg = malloc((size_t)m->n_param_list * sizeof *seg);
      seg_watch w = {.seg = seg, .n_seg = qat_model_grad_segments(m, seg), .grads = m->grads,
                     .copy = calloc((size_t)m->n_params, sizeof(float))};
      int64_t covered = 0, spread = 0;
      for (int i = 0; i < w.n_seg; i++) {
        covered += seg[i].size;
        spread += seg[i].ready_after != seg[0].ready_after;
      }
      assert_int_equal(covered, m->n_params);
      assert_true(spread > 0); /* the segments do not all finish at one node */
      const int per = cfg.model.input_shape[0] * cfg.model.input_shape[1] * cfg.model.input_shape[2];
      float *x = malloc((size_t)batch * per * sizeof *x);
      int32_t labels[4] = {1, 7, 3, 0};
      for (int i = 0; i < batch * per; i++) x[i] = (float)((i * 37) % 23) / 23.0f;
      qat_collective coll = {.global_batch = batch, .sum = coll_sum_none, .min_max = coll_min_max_none,
                             .grads_ready = seg_ready, .grads_ctx = &w};
      /* twice: the second step has calibrated observers and quantizes */
      for (int step = 0; step < 2; step++) {
        w.reported = 0;
        qat_exec ex = {.coll = &coll, .training = 1, .seed = 1, .step = (uint64_t)step, .fake_quant = quantized};
        float loss;
        qat_model_step(m, x, labels, batch, &ex, 1, &loss, NULL);
        assert_int_equal(w.reported, w.n_seg);
        for (int i = 0; i < w.n_seg; i++)
          if (memcmp(w.copy + seg[i].offset, m->grads + seg[i].offset, (size_t)seg[i].size * sizeof(float)))
            fail_msg("%s%s: parameter at %lld changed after node %d reported it final", examples[e],
                     quantized ? " (QAT)" : "", (long long)seg[i].offset, seg[i].ready_after);
      }
      free(x);
      free(w.copy);
      free(seg);
      qat_model_free(m);
      qat_config_free(&cfg);
    }
}

static void test_data_that_does_not_fit_the_model(void **state) {
  (void)state;
  qat_config cfg;
  load_config(&cfg, "{name: adam}", 1);
  cfg.model.input_shape[0] = cfg.model.input_shape[1] = 10;
  char out[600];
  snprintf(out, sizeof out, "%s/misfit", dir);
  qat_train_options o = {out, NULL, NULL, NULL};
  qat_train_result res;
  assert_int_equal(qat_train(&cfg, &o, &res), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "gen.yaml: the data's samples are 8x8x1, model.input expects 10x10x1"));
  qat_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_steps_per_epoch),
      cmocka_unit_test(test_resume_from_the_last_epoch),
      cmocka_unit_test(test_loss_falls_and_accuracy_rises),
      cmocka_unit_test(test_interrupted_run_resumes_bit_identically),
      cmocka_unit_test(test_interrupted_qat_run_resumes_bit_identically),
      cmocka_unit_test(test_interrupted_augmented_run_resumes_bit_identically),
      cmocka_unit_test(test_divergence_stops_and_keeps_the_last_good_checkpoint),
      cmocka_unit_test(test_checkpoint_refuses_another_model_and_bad_targets),
      cmocka_unit_test(test_data_that_does_not_fit_the_model),
      cmocka_unit_test(test_two_outputs_sum_their_weighted_losses),
      cmocka_unit_test(test_halves_sum_as_two_processes),
      cmocka_unit_test(test_gradient_segments_are_final_when_reported),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
