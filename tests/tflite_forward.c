/* Test helper for the TFLite interop tests (tests/interop/): qat's own float forward, the
 * reference the official interpreter's outputs are compared with.
 *
 *   tflite_forward perturb IN.h5 OUT.h5 SEED
 *       Copies a checkpoint with every bias and batch-norm parameter redrawn from SEED (gamma in
 *       [0.5, 1.5], beta and moving mean in [-0.5, 0.5], moving variance in [0.25, 2], biases in
 *       [-0.2, 0.2]): a freshly initialized checkpoint has identity batch norms and zero biases,
 *       which would let a wrong fold or a dropped bias go unnoticed.
 *   tflite_forward run CKPT INPUT.f32 N OUTPUT.f32
 *       Reads N samples (float32 NHWC, the model's input shape) and writes the model's outputs
 *       in inference mode (float32 [N, classes]); a final softmax is applied as the exported
 *       SOFTMAX op applies it (the training graph folds it into the loss).
 * Exit status 0, or 1 with a message on stderr. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/model.h"
#include "qat/rng.h"
#include "qat/train.h"

static int load(const char *ckpt, int batch, qat_config *cfg, qat_model **m, char **text) {
  int rc = qat_checkpoint_read_config(ckpt, text);
  if (rc) return rc;
  if ((rc = qat_config_parse(*text, strlen(*text), ckpt, cfg))) return rc;
  if ((rc = qat_model_create(m, &cfg->model, batch, cfg->train.seed))) return rc;
  return qat_checkpoint_load(ckpt, *m, NULL, NULL);
}

static float uniform(qat_rng *r, float lo, float hi) { return lo + (hi - lo) * qat_rng_uniform(r); }

static int perturb(const char *in, const char *out, uint64_t seed) {
  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  qat_model *m = NULL;
  char *text = NULL;
  int rc = load(in, 1, &cfg, &m, &text);
  if (rc) goto free_model;
  qat_rng rng;
  qat_rng_seed(&rng, seed);
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    const char *suffix = strrchr(p->name, '/') + 1;
    float lo, hi;
    if (!strcmp(suffix, "bias")) lo = -0.2f, hi = 0.2f;
    else if (!strcmp(suffix, "gamma")) lo = 0.5f, hi = 1.5f;
    else if (!strcmp(suffix, "beta") || !strcmp(suffix, "moving_mean")) lo = -0.5f, hi = 0.5f;
    else if (!strcmp(suffix, "moving_variance")) lo = 0.25f, hi = 2.0f;
    else continue;
    for (int64_t k = 0; k < p->size; k++) p->tensor->data[k] = uniform(&rng, lo, hi);
  }
  qat_checkpoint_meta meta = {0, 0, cfg.train.seed};
  rc = qat_checkpoint_save(out, m, NULL, text, &meta);
free_model:
  qat_model_free(m);
  qat_config_free(&cfg);
  free(text);
  return rc;
}

static int run(const char *ckpt, const char *input, int n, const char *output) {
  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  qat_model *m = NULL;
  char *text = NULL;
  float *x = NULL;
  FILE *f = NULL;
  int rc = load(ckpt, n, &cfg, &m, &text);
  if (rc) goto free_model;
  size_t per = (size_t)cfg.model.input_shape[0] * cfg.model.input_shape[1] * cfg.model.input_shape[2];
  x = malloc(per * (size_t)n * sizeof *x);
  if (!x) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto free_model;
  }
  if (!(f = fopen(input, "rb")) || fread(x, sizeof *x, per * (size_t)n, f) != per * (size_t)n) {
    rc = qat_fail(QAT_ERR_IO, "%s: cannot read %zu floats: %s", input, per * (size_t)n, strerror(errno));
    goto free_model;
  }
  fclose(f);
  f = NULL;
  qat_exec ex;
  memset(&ex, 0, sizeof ex); /* inference: dropout off, batch norm on moving statistics */
  qat_model_forward(m, x, n, &ex);
  int k = m->num_classes;
  float *y = m->logits->data;
  if (m->final_softmax)
    for (int s = 0; s < n; s++) {
      float *row = y + (size_t)s * k, max = row[0];
      for (int j = 1; j < k; j++) max = row[j] > max ? row[j] : max;
      double sum = 0;
      for (int j = 0; j < k; j++) sum += exp((double)row[j] - max);
      for (int j = 0; j < k; j++) row[j] = (float)(exp((double)row[j] - max) / sum);
    }
  if (!(f = fopen(output, "wb")) || fwrite(y, sizeof *y, (size_t)n * k, f) != (size_t)n * k || fclose(f) != 0) {
    f = NULL;
    rc = qat_fail(QAT_ERR_IO, "%s: cannot write: %s", output, strerror(errno));
    goto free_model;
  }
  f = NULL;
free_model:
  if (f) fclose(f);
  free(x);
  qat_model_free(m);
  qat_config_free(&cfg);
  free(text);
  return rc;
}

int main(int argc, char **argv) {
  int rc;
  if (argc == 5 && !strcmp(argv[1], "perturb")) {
    rc = perturb(argv[2], argv[3], strtoull(argv[4], NULL, 10));
  } else if (argc == 6 && !strcmp(argv[1], "run")) {
    int n = atoi(argv[4]);
    if (n < 1 || n > 4096) {
      fprintf(stderr, "tflite_forward: N must be in [1, 4096]\n");
      return 1;
    }
    rc = run(argv[2], argv[3], n, argv[5]);
  } else {
    fprintf(stderr, "usage: %s perturb IN.h5 OUT.h5 SEED | run CKPT INPUT.f32 N OUTPUT.f32\n", argv[0]);
    return 1;
  }
  if (rc) fprintf(stderr, "tflite_forward: %s\n", qat_error_message());
  return rc ? 1 : 0;
}
