/* Batch-1 inference latency in qat's runtime as a ratio against the official interpreter
 * (ai-edge-litert, default op resolver: optimized kernels with the XNNPACK delegate) at 1 and
 * 2 threads, measured in the same run.
 *
 *   bench/infer [--python PY] [--rounds K] [--no-ref] [--json] [--keep DIR] [MODEL.tflite ...]
 *
 * --keep DIR writes the exported example models into DIR and leaves them there (to profile or
 * inspect them); otherwise they live in a temporary folder removed at the end.
 *
 * Without models: float32 and int8 exports of the example configs
 * (examples/fashion_mnist_cnn.yaml, cifar10_cnn.yaml, mobilenet_tiny.yaml; freshly initialized
 * weights: latency does not depend on the values), the int8 fixtures of ../shared/fixtures/tflite that have one input,
 * and, where the acceptance_converter test has written them into the build directory
 * (converter_models/), the official converter's files of MobileNetV2 (alpha 0.35, 96x96), the
 * DS-CNN keyword spotter, MobileNet (0.25), MobileNetV3Small, EfficientNetB0 and ResNet50,
 * and issue 16's U-Net, segmenter and autoencoder (TRANSPOSE_CONV, RESIZE, CONCATENATION).
 *
 * Each model runs K rounds (default 5) of R invokes, R chosen so that a round of qat takes
 * about 0.2 s; the figure is the median over rounds of the mean time per invoke. LiteRT is
 * timed by bench/infer_litert.py with K rounds of at least R invokes (more where its round would
 * last under 0.2 s; perf_counter around invoke() only, so
 * its figure includes a Python call, about 1 us). qat runs with 1 and 2 OpenMP threads (its
 * convolutions split output pixels; float kernels keep the reference kernels' order of
 * summation per output, so both stay bit-exact); the ratio columns say how many times longer
 * qat takes than LiteRT at the same thread count (> 1: qat is slower). The kernel path
 * (qat_rt_kernels: AVX-512 VNNI, AVX2, plain C) is printed with the table.
 *
 * The Python is --python, else $QAT_PYTHON, else the repository's .venv/bin/python; without it
 * (or with --no-ref) only qat's figures are printed. Not a test. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <omp.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/model.h"
#include "qat/runtime.h"
#include "qat/tflite.h"

#ifndef QAT_SOURCE_DIR
#define QAT_SOURCE_DIR "."
#endif
#ifndef QAT_BINARY_DIR
#define QAT_BINARY_DIR "build"
#endif

#define MAX_MODELS 32

typedef struct bench_model {
  char name[128];
  char path[4096];
  char kind[16]; /* float32 / int8 / hybrid... from the input type */
  int64_t macs;
  size_t peak;
  double qat_ms[2], ref_ms[2]; /* at 1 and 2 threads */
  int runs;
  int ok;
  char err[256];
} bench_model;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A float32 export of an example config, written to dir/name.tflite. */
static int export_example(const char *config, const char *dir, bench_model *bm) {
  qat_config cfg;
  qat_model *m = NULL;
  qat_tflite_model t;
  qat_tflite_model_init(&t);
  int rc = qat_config_load(config, &cfg);
  if (rc) return rc;
  if (!(rc = qat_model_create(&m, &cfg.model, 1, cfg.train.seed)) && !(rc = qat_export_float32(m, &t))) {
    const char *base = strrchr(config, '/');
    base = base ? base + 1 : config;
    snprintf(bm->name, sizeof bm->name, "%.*s (float32)", (int)strcspn(base, "."), base);
    snprintf(bm->path, sizeof bm->path, "%s/%.*s.tflite", dir, (int)strcspn(base, "."), base);
    rc = qat_tflite_write(&t, bm->path);
  }
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc;
}

/* An int8 export (int8 I/O) of an example config: the model quantization-aware, its observers
 * set by four training-mode passes over uniform noise (latency does not depend on the ranges). */
static int export_example_int8(const char *config, const char *dir, bench_model *bm) {
  enum { BATCH = 4 };
  qat_config cfg;
  qat_model *m = NULL;
  qat_tflite_model t;
  qat_tflite_model_init(&t);
  int rc = qat_config_load(config, &cfg);
  if (rc) return rc;
  cfg.model.quantize.enabled = 1;
  cfg.model.quantize.delay = 0;
  float *x = NULL;
  if ((rc = qat_model_create(&m, &cfg.model, BATCH, cfg.train.seed))) goto done;
  int64_t per = (int64_t)cfg.model.input_shape[0] * cfg.model.input_shape[1] * cfg.model.input_shape[2];
  if (!(x = malloc((size_t)(BATCH * per) * sizeof *x))) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto done;
  }
  uint64_t s = 0x2545f4914f6cdd1dull;
  qat_exec ex = {.training = 1, .fake_quant = 1};
  for (int step = 0; step < 4; step++) {
    for (int64_t k = 0; k < BATCH * per; k++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      x[k] = (float)(s >> 40) / (float)(1 << 24);
    }
    ex.step = (uint64_t)step;
    qat_model_forward(m, x, BATCH, &ex);
  }
  if ((rc = qat_export_int8_prepare(m)) || (rc = qat_export_int8(m, QAT_EXPORT_IO_INT8, &t))) goto done;
  const char *base = strrchr(config, '/');
  base = base ? base + 1 : config;
  snprintf(bm->name, sizeof bm->name, "%.*s (int8)", (int)strcspn(base, "."), base);
  snprintf(bm->path, sizeof bm->path, "%s/%.*s_int8.tflite", dir, (int)strcspn(base, "."), base);
  rc = qat_tflite_write(&t, bm->path);
done:
  free(x);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc;
}

/* Deterministic input: floats in [0, 1), other types random bytes. */
static void fill_inputs(qat_rt_model *m) {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < qat_rt_num_inputs(m); i++) {
    qat_rt_tensor_info t;
    int idx = qat_rt_input(m, i);
    if (qat_rt_tensor(m, idx, &t)) continue;
    uint8_t *p = qat_rt_tensor_data(m, idx);
    for (int64_t k = 0; k < t.n_elems; k++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      if (t.type == QAT_RT_FLOAT32) ((float *)(void *)p)[k] = (float)(s >> 40) / (float)(1 << 24);
      else memset(p + (size_t)k * t.bytes / (size_t)t.n_elems, (int)(s >> 56), t.bytes / (size_t)t.n_elems);
    }
  }
}

static int time_qat(bench_model *bm, int rounds, int threads) {
  omp_set_num_threads(threads);
  qat_rt_model *m = NULL;
  int rc = qat_rt_model_load_file(bm->path, NULL, &m);
  if (rc) return rc;
  qat_rt_tensor_info t;
  qat_rt_tensor(m, qat_rt_input(m, 0), &t);
  snprintf(bm->kind, sizeof bm->kind, "%s", qat_rt_type_name(t.type));
  bm->macs = 0; /* counted again at each thread count */
  for (int k = 0; k < qat_rt_num_ops(m); k++) {
    qat_rt_op_info o;
    if (!qat_rt_op(m, k, &o)) bm->macs += o.macs;
  }
  bm->peak = qat_rt_arena_bytes(m);
  fill_inputs(m);
  /* warm-up, and R so that a round takes about 0.2 s */
  double t0 = now();
  int warm = 0;
  do {
    if ((rc = qat_rt_invoke(m))) goto done;
    warm++;
  } while (now() - t0 < 0.05 && warm < 1000);
  double one = (now() - t0) / warm;
  bm->runs = (int)(0.2 / one);
  if (bm->runs < 3) bm->runs = 3;
  if (bm->runs > 20000) bm->runs = 20000;
  double per[64];
  for (int r = 0; r < rounds; r++) {
    t0 = now();
    for (int i = 0; i < bm->runs; i++)
      if ((rc = qat_rt_invoke(m))) goto done;
    per[r] = (now() - t0) * 1e3 / bm->runs;
  }
  qsort(per, (size_t)rounds, sizeof *per, cmp_double);
  bm->qat_ms[threads - 1] = per[rounds / 2];
done:
  qat_rt_model_free(m);
  return rc;
}

/* LiteRT's median ms for one model at `threads`, or a negative value. */
static double time_ref(const char *python, const char *helper, const bench_model *bm, int threads, int rounds) {
  char cmd[12000];
  snprintf(cmd, sizeof cmd, "'%s' '%s' --threads %d --runs %d --rounds %d '%s' 2>/dev/null", python, helper,
           threads, bm->runs, rounds, bm->path);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[8192];
  double ms = -1;
  while (fgets(line, sizeof line, p)) {
    const char *k = strstr(line, "\"ms\": ");
    if (k) ms = strtod(k + 6, NULL);
  }
  pclose(p);
  return ms;
}

static void ratio_str(char *buf, size_t n, double a, double b) {
  if (a > 0 && b > 0) snprintf(buf, n, "%.2fx", a / b);
  else snprintf(buf, n, "n/a");
}

static void ms_str(char *buf, size_t n, double v) {
  if (v > 0) snprintf(buf, n, "%.4f", v);
  else snprintf(buf, n, "n/a");
}

int main(int argc, char **argv) {
  const char *python = NULL, *keep = NULL;
  int rounds = 5, no_ref = 0, json = 0, n = 0;
  static bench_model models[MAX_MODELS];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--python") && i + 1 < argc) python = argv[++i];
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = atoi(argv[++i]);
      if (rounds < 1 || rounds > 64) {
        fprintf(stderr, "infer: --rounds expects 1..64\n");
        return 2;
      }
    } else if (!strcmp(argv[i], "--no-ref")) no_ref = 1;
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep = argv[++i];
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      printf("usage: infer [--python PY] [--rounds K] [--no-ref] [--json] [--keep DIR] [MODEL.tflite ...]\n");
      return 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "infer: unknown option '%s'\n", argv[i]);
      return 2;
    } else if (n < MAX_MODELS) {
      const char *base = strrchr(argv[i], '/');
      snprintf(models[n].name, sizeof models[n].name, "%s", base ? base + 1 : argv[i]);
      snprintf(models[n].path, sizeof models[n].path, "%s", argv[i]);
      n++;
    }
  }
  char dir[4096] = "/tmp/qat_infer_XXXXXX";
  int made_dir = 0;
  if (n == 0) {
    if (keep) { /* the exported models stay there, to profile or inspect */
      snprintf(dir, sizeof dir, "%s", keep);
      if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "infer: %s: %s\n", dir, strerror(errno));
        return 4;
      }
    } else if (!mkdtemp(dir)) {
      fprintf(stderr, "infer: mkdtemp: %s\n", strerror(errno));
      return 4;
    } else {
      made_dir = 1;
    }
    static const char *const examples[] = {"fashion_mnist_cnn", "cifar10_cnn", "mobilenet_tiny"};
    for (size_t e = 0; e < sizeof examples / sizeof *examples; e++) {
      char cfg[4096];
      snprintf(cfg, sizeof cfg, "%s/examples/%s.yaml", QAT_SOURCE_DIR, examples[e]);
      for (int q = 0; q < 2; q++) {
        if ((q ? export_example_int8 : export_example)(cfg, dir, &models[n])) {
          fprintf(stderr, "infer: %s: %s (skipped)\n", examples[e], qat_error_message());
          memset(&models[n], 0, sizeof models[n]);
          continue;
        }
        n++;
      }
    }
    static const char *const fixtures[] = {"micro_speech_quantized.tflite", "hello_world_int8.tflite",
                                           "non_int8/model_ToyCar_quant.tflite"};
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
      snprintf(models[n].path, sizeof models[n].path, "%s/../shared/fixtures/tflite/%s", QAT_SOURCE_DIR,
               fixtures[f]);
      if (access(models[n].path, R_OK) != 0) continue;
      const char *base = strrchr(fixtures[f], '/');
      snprintf(models[n].name, sizeof models[n].name, "%.*s", (int)strcspn(base ? base + 1 : fixtures[f], "."),
               base ? base + 1 : fixtures[f]);
      n++;
    }
    /* the official converter's files of keras.applications and issue 16's models, where the
     * acceptance_converter test (tests/acceptance/make_converter_models.py) has written them */
    static const char *const converted[] = {"mobilenetv2_int8", "mobilenetv2_f32", "ds_cnn_int8", "ds_cnn_f32",
                                            "mobilenet_int8", "mobilenetv3small_int8", "efficientnetb0_int8",
                                            "resnet50_int8", "unet_int8", "unet_f32", "segmenter_int8",
                                            "segmenter_f32", "autoencoder_int8", "autoencoder_f32"};
    for (size_t f = 0; f < sizeof converted / sizeof *converted && n < MAX_MODELS; f++) {
      snprintf(models[n].path, sizeof models[n].path, "%s/converter_models/%s.tflite", QAT_BINARY_DIR, converted[f]);
      if (access(models[n].path, R_OK) != 0) continue;
      snprintf(models[n].name, sizeof models[n].name, "%s", converted[f]);
      n++;
    }
  }
  char venv[4096], helper[4096];
  if (!python) python = getenv("QAT_PYTHON");
  if (!python || !*python) {
    snprintf(venv, sizeof venv, "%s/.venv/bin/python", QAT_SOURCE_DIR);
    python = venv;
  }
  snprintf(helper, sizeof helper, "%s/bench/infer_litert.py", QAT_SOURCE_DIR);
  if (!no_ref && access(python, X_OK) != 0) {
    fprintf(stderr, "infer: no Python at %s (set QAT_PYTHON or run scripts/setup.sh): qat figures only\n",
            python);
    no_ref = 1;
  }

  for (int i = 0; i < n; i++) {
    bench_model *bm = &models[i];
    if (time_qat(bm, rounds, 2) || time_qat(bm, rounds, 1)) {
      snprintf(bm->err, sizeof bm->err, "%s", qat_error_message());
      continue;
    }
    bm->ok = 1;
    for (int t = 0; t < 2; t++) bm->ref_ms[t] = no_ref ? -1 : time_ref(python, helper, bm, t + 1, rounds);
    if (!json) fprintf(stderr, "  %s: done\n", bm->name);
  }

  if (json) {
    printf("[");
    for (int i = 0, first = 1; i < n; i++) {
      bench_model *bm = &models[i];
      if (!bm->ok) continue;
      printf("%s{\"model\":\"%s\",\"input\":\"%s\",\"macs\":%lld,\"peak_activation_bytes\":%zu,\"runs\":%d,"
             "\"qat_1t_ms\":%.5f,\"qat_2t_ms\":%.5f,\"litert_1t_ms\":%.5f,\"litert_2t_ms\":%.5f}",
             first ? "" : ",", bm->name, bm->kind, (long long)bm->macs, bm->peak, bm->runs, bm->qat_ms[0],
             bm->qat_ms[1], bm->ref_ms[0], bm->ref_ms[1]);
      first = 0;
    }
    printf("]\n");
  } else {
    printf("batch-1 latency, ms per inference (median of %d rounds); ratio = qat / LiteRT (XNNPACK on)\n", rounds);
    printf("qat's runtime kernels: %s (bit-exact with BUILTIN_REF on every path); convolutions split their\n"
           "work over OpenMP threads from a few microseconds of it (runtime/README.md)\n\n", qat_rt_kernels());
    printf("%-28s %-8s %12s %10s %10s %12s %12s %10s %10s\n", "model", "input", "MACs", "qat 1t", "qat 2t",
           "LiteRT 1t", "LiteRT 2t", "ratio 1t", "ratio 2t");
    for (int i = 0; i < n; i++) {
      bench_model *bm = &models[i];
      if (!bm->ok) {
        printf("%-28s error: %s\n", bm->name, bm->err);
        continue;
      }
      char q[32], q2[32], r1[32], r2[32], x1[32], x2[32];
      ms_str(q, sizeof q, bm->qat_ms[0]);
      ms_str(q2, sizeof q2, bm->qat_ms[1]);
      ms_str(r1, sizeof r1, bm->ref_ms[0]);
      ms_str(r2, sizeof r2, bm->ref_ms[1]);
      ratio_str(x1, sizeof x1, bm->qat_ms[0], bm->ref_ms[0]);
      ratio_str(x2, sizeof x2, bm->qat_ms[1], bm->ref_ms[1]);
      printf("%-28s %-8s %12lld %10s %10s %12s %12s %10s %10s\n", bm->name, bm->kind, (long long)bm->macs, q, q2, r1,
             r2, x1, x2);
    }
  }
  if (made_dir) {
    for (int i = 0; i < n; i++)
      if (!strncmp(models[i].path, dir, strlen(dir))) unlink(models[i].path);
    rmdir(dir);
  }
  return 0;
}
