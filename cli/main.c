/* The qat command line: a thin layer over the library. It parses arguments, renders progress
 * and prints `qat: error: <what>` with the library's message and a status-specific exit code. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "qat/config.h"
#include "qat/curves.h"
#include "qat/data.h"
#include "qat/dist.h"
#include "qat/error.h"
#include "qat/runtime.h"
#include "qat/file.h"
#include "qat/keras.h"
#include "qat/model.h"
#include "qat/train.h"

int qat_cmd_export(int argc, char **argv); /* cli/cmd_export.c */
int qat_cmd_run(int argc, char **argv);    /* cli/cmd_run.c */
int qat_cmd_eval_tflite(int argc, char **argv); /* cli/cmd_eval_tflite.c */
int qat_cmd_inspect(int argc, char **argv);     /* cli/cmd_inspect.c */
int qat_cmd_parity(int argc, char **argv);      /* cli/cmd_parity.c */
int qat_cmd_import(int argc, char **argv);      /* cli/cmd_import.c */
int qat_cmd_compare(int argc, char **argv);     /* cli/cmd_compare.c */
int qat_cmd_plot(int argc, char **argv);        /* cli/cmd_plot.c */
int qat_cmd_deploy(int argc, char **argv);      /* cli/cmd_deploy.c */

static const char usage_main[] =
    "usage: qat <command> [options]\n"
    "\n"
    "Quantization-aware training of convolutional networks, exported as int8 TensorFlow Lite.\n"
    "\n"
    "commands:\n"
    "  train CONFIG     train a model from a YAML config (Keras-style layers)\n"
    "  init CONFIG      write a freshly initialized checkpoint without touching data\n"
    "  summary CONFIG   print the model's layers, output shapes and parameter counts\n"
    "  eval CKPT        test accuracy of a checkpoint, float and fake-quant\n"
    "  eval MODEL.tflite  test accuracy of a .tflite model in qat's runtime\n"
    "  eval --compare CKPT MODEL.tflite  parity report: float, fake-quant and int8, per layer\n"
    "  export CKPT      write a checkpoint as a TensorFlow Lite model (--mode float32, float16,\n"
    "                   dynamic, int8; --calibrate N for post-training int8)\n"
    "  compare CKPT     every export mode's size, accuracy and latency, as a table and chart\n"
    "  run MODEL        run a .tflite model once on raw tensor files (--input/--output)\n"
    "  inspect MODEL    operators, tensors, sizes, MACs and peak memory of a .tflite model\n"
    "  import MODEL     a Keras .h5 / .keras model as a qat config + checkpoint (-o DIR)\n"
    "  predict MODEL FILE...  class names and probabilities for images or .npy arrays\n"
    "  plot RUN         training curves of a run folder (steps.csv) as SVG and PNG\n"
    "  deploy MODEL     TensorFlow Lite Micro files: C array, op resolver, arena size, golden test\n"
    "\n"
    "  qat <command> --help   options of one command\n"
    "  qat --version          print the version\n"
    "\n"
    "exit codes: 0 ok, 2 bad usage or config, 3 bad data or model file, 4 I/O error,\n"
    "            5 training diverged, 1 anything else\n";

static const char usage_train[] =
    "usage: qat train CONFIG [options]\n"
    "\n"
    "Trains the model of CONFIG on its data, evaluates on the test set after every epoch,\n"
    "and writes into the output folder: epoch_NNN.h5 and checkpoint.h5 (the latest; HDF5,\n"
    "readable with h5dump) and log.csv (one row per epoch).\n"
    "\n"
    "options:\n"
    "  --epochs N        override train.epochs\n"
    "  --batch-size N    override train.batch_size\n"
    "  --threads N       OpenMP/OpenBLAS threads (default: QAT_THREADS, else all cores)\n"
    "  --seed N          override train.seed\n"
    "  --resume CKPT     continue from a checkpoint of an earlier run of the same config;\n"
    "                    the result is bit-identical to an uninterrupted run\n"
    "  --out DIR         output folder (default: runs/<config name>)\n"
    "  --json            print one JSON summary on stdout (progress goes to stderr)\n"
    "  --rank-checkpoints  under MPI, every rank also writes its model to DIR/rank_NNN.h5\n"
    "                    after each epoch (to compare the ranks; they must be identical)\n"
    "  --parity-each-epoch  the int8 parity check after every epoch, not only at the end\n"
    "  --profile         at the end, each op kind's forward / backward time and share of\n"
    "                    the training step (stderr)\n"
    "  --log-every N     steps between rows of steps.csv and the TensorBoard events file\n"
    "                    (events.out.tfevents.*) in the output folder (default 50)\n"
    "  -h, --help        this help\n"
    "\n"
    "A quantization-aware run ends with the parity check: the final checkpoint exported to int8\n"
    "in memory and run in qat's runtime beside the fake-quant model on up to 256 test samples\n"
    "(top-1 agreement, share of bit-identical outputs, max LSB, clipping at the output), with a\n"
    "warning when the target (>= 99 % bit-identical, max 1 LSB, top-1 >= 99.9 %, clipping\n"
    "< 1 %) is not met.\n"
    "\n"
    "Data-parallel (a build with MPI): mpirun -np N qat train CONFIG (or srun): each rank\n"
    "trains its contiguous share of every batch of batch_size samples, gradients are summed\n"
    "over the ranks, and rank 0 writes the output folder. --threads is per rank (default:\n"
    "the machine's cores over the ranks on it). See the README.\n";

static const char usage_init[] =
    "usage: qat init CONFIG -o CKPT\n"
    "\n"
    "Builds the model of CONFIG, initializes it from train.seed (Glorot-uniform kernels, zero\n"
    "biases) and writes the checkpoint CKPT. Reads no data: for architectures whose data is\n"
    "not at hand.\n";

static const char usage_eval[] =
    "usage: qat eval CKPT [--data fashion-mnist] [--limit N] [--json] [--dump-test PREFIX]\n"
    "       qat eval MODEL.tflite [--data fashion-mnist | --images F --labels F] [--limit N]\n"
    "                [--confusion] [--json]   (see 'qat eval MODEL.tflite --help')\n"
    "       qat eval --compare CKPT MODEL.tflite [--limit N] [--json]   the parity report\n"
    "                (see 'qat eval --compare --help')\n"
    "\n"
    "Rebuilds the model of a checkpoint (from the config stored in it), loads its weights,\n"
    "batch-norm statistics and quantization ranges, and evaluates it on the test set of its\n"
    "config: float_accuracy without fake quant and, for a quantization-aware checkpoint,\n"
    "fakequant_accuracy, the accuracy the int8 model is trained to deliver.\n"
    "\n"
    "  --data fashion-mnist  Debian's Fashion-MNIST test set instead of the config's data (a\n"
    "              config without a data: section, e.g. from qat import)\n"
    "  --limit N   evaluate the first N test samples only\n"
    "  --dump-test PREFIX  also write the preprocessed test inputs and labels as PREFIX.x.npy\n"
    "              (float32) and PREFIX.y.npy (int64), e.g. for another interpreter\n"
    "  --json      print one JSON object\n";

static const char usage_summary[] =
    "usage: qat summary CONFIG\n"
    "\n"
    "Prints each layer's name, type, output shape and parameter count.\n";

/* Under MPI, ranks other than 0 keep quiet: rank 0 reports what all ranks agreed on. */
static int quiet;

static int fail_usage(const char *fmt, const char *arg) {
  if (quiet) return 2;
  fprintf(stderr, "qat: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat --help')\n");
  return 2;
}

static int report(int status) {
  if (!quiet) fprintf(stderr, "qat: error: %s\n", qat_error_message());
  return qat_exit_code(status);
}

/* Strict positive integer: the whole argument, no sign, no overflow. */
static int parse_count(const char *opt, const char *s, long max, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno == ERANGE || v < 1 || v > max) {
    if (!quiet) fprintf(stderr, "qat: error: %s expects an integer in [1, %ld], got '%s'\n", opt, max, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse_seed(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *s == '-' || *end != '\0' || errno == ERANGE) {
    if (!quiet) fprintf(stderr, "qat: error: --seed expects a non-negative integer, got '%s'\n", s);
    return -1;
  }
  *out = (uint64_t)v;
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress ---- */
typedef struct progress_view {
  FILE *out;
  int tty;
  double last_draw;
  int parity_each_epoch; /* --parity-each-epoch: the int8 parity check after every epoch */
  qat_curves *curves; /* steps.csv and the TensorBoard events file */
} progress_view;

/* Test samples the parity check of qat train runs (the int8 export in memory, qat's runtime). */
#define TRAIN_PARITY_SAMPLES 256

static void train_parity(const char *ckpt, const char *what, FILE *f) {
  int rc = qat_cli_parity_check(ckpt, TRAIN_PARITY_SAMPLES, what, f);
  if (rc) fprintf(f, "qat: warning: parity check %s skipped: %s\n", what, qat_error_message());
}

static void draw_bar(FILE *f, int64_t step, int64_t total) {
  const int width = 30;
  int filled = total ? (int)(width * step / total) : width;
  int digits = snprintf(NULL, 0, "%lld", (long long)total);
  fprintf(f, "%*lld/%lld [", digits, (long long)step, (long long)total);
  for (int i = 0; i < width; i++) fputc(i < filled ? '=' : (i == filled ? '>' : '.'), f);
  fputc(']', f);
}

static volatile sig_atomic_t stop_requested;

static void on_sigint(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* Ranks other than 0: no output, but a Ctrl-C they receive stops every rank. */
static int on_progress_quiet(const qat_progress *p, void *user) {
  (void)p;
  (void)user;
  return stop_requested;
}

/* The newest checkpoint, for the message of a rank that the MPI launcher terminates. */
static char last_checkpoint[4200];
static int dist_rank, dist_size;

static void put_str(const char *s) {
  ssize_t r = write(STDERR_FILENO, s, strlen(s));
  (void)r;
}

static void put_int(int v) {
  char b[16];
  int n = 0;
  do b[sizeof b - 1 - n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < 15);
  ssize_t r = write(STDERR_FILENO, b + sizeof b - n, (size_t)n);
  (void)r;
}

/* SIGTERM under MPI: the launcher ends the job because a rank failed or was killed (its own
 * message names that rank). Only async-signal-safe calls here. */
static void on_sigterm(int sig) {
  (void)sig;
  put_str("qat: error: rank ");
  put_int(dist_rank);
  put_str(" of ");
  put_int(dist_size);
  put_str(": terminated by the MPI launcher (another rank failed or was killed; the launcher's message names it); ");
  if (last_checkpoint[0]) {
    put_str("the newest checkpoint is intact: ");
    put_str(last_checkpoint);
  } else {
    put_str("no checkpoint was written yet");
  }
  put_str("\n");
  _exit(143);
}

static int on_progress(const qat_progress *p, void *user) {
  progress_view *v = user;
  if (p->kind == QAT_PROGRESS_EPOCH_END && p->checkpoint)
    snprintf(last_checkpoint, sizeof last_checkpoint, "%s", p->checkpoint);
  FILE *f = v->out;
  const char *metric = p->metric ? p->metric : "accuracy";
  if (v->curves && qat_curves_progress(v->curves, p))
    fprintf(f, "qat: warning: training curves: %s\n", qat_error_message());
  switch (p->kind) {
  case QAT_PROGRESS_DATA:
    fprintf(f, "Data: %s\n", p->message);
    break;
  case QAT_PROGRESS_DECODE:
    if (v->tty) {
      double t = now();
      if (p->step != p->steps_per_epoch && t - v->last_draw < 0.1) return stop_requested;
      v->last_draw = t;
      fprintf(f, "\rDecoding images: %lld/%lld\033[K%s", (long long)p->step, (long long)p->steps_per_epoch,
              p->step == p->steps_per_epoch ? "\n" : "");
    } else if (p->step == p->steps_per_epoch) {
      fprintf(f, "Decoded %lld images\n", (long long)p->steps_per_epoch);
    }
    break;
  case QAT_PROGRESS_EPOCH_BEGIN:
    fprintf(f, "Epoch %d/%d\n", p->epoch, p->epochs);
    v->last_draw = 0;
    break;
  case QAT_PROGRESS_STEP:
    if (v->tty) {
      double t = now();
      if (p->step != p->steps_per_epoch && t - v->last_draw < 0.1) return stop_requested; /* ~10 redraws/s */
      v->last_draw = t;
      double eta = p->ms_per_step * 1e-3 * (double)(p->steps_per_epoch - p->step);
      fputc('\r', f);
      draw_bar(f, p->step, p->steps_per_epoch);
      fprintf(f, " - ETA: %.0fs - %.0fms/step - loss: %.4f - %s: %.4f\033[K", eta, p->ms_per_step, p->loss, metric,
              p->accuracy);
    } else {
      int64_t every = p->steps_per_epoch / 10 > 0 ? p->steps_per_epoch / 10 : 1;
      if (p->step % every && p->step != p->steps_per_epoch) return stop_requested;
      fprintf(f, "  step %lld/%lld - %.0fs - %.0fms/step - loss: %.4f - %s: %.4f\n", (long long)p->step,
              (long long)p->steps_per_epoch, p->epoch_seconds, p->ms_per_step, p->loss, metric, p->accuracy);
    }
    break;
  case QAT_PROGRESS_EPOCH_END:
    if (v->tty) {
      fputc('\r', f);
      draw_bar(f, p->steps_per_epoch, p->steps_per_epoch);
      fprintf(f, " - %.0fs %.0fms/step", p->epoch_seconds, p->ms_per_step);
    } else {
      fprintf(f, "  epoch %d done - %.0fs %.0fms/step", p->epoch, p->epoch_seconds, p->ms_per_step);
    }
    fprintf(f, " - loss: %.4f - %s: %.4f", p->loss, metric, p->accuracy);
    if (p->has_val) fprintf(f, " - val_loss: %.4f - val_%s: %.4f", p->val_loss, metric, p->val_accuracy);
    if (p->has_test) fprintf(f, " - test_loss: %.4f - test_%s: %.4f", p->test_loss, metric, p->test_accuracy);
    if (p->has_float) fprintf(f, " (fake-quant; float: %.4f)", p->float_test_accuracy);
    fprintf(f, "%s\n", v->tty ? "\033[K" : "");
    if (v->parity_each_epoch && p->checkpoint) {
      char what[32];
      snprintf(what, sizeof what, "after epoch %d", p->epoch);
      train_parity(p->checkpoint, what, f);
    }
    break;
  }
  if (stop_requested && v->tty) fputc('\n', f);
  fflush(f);
  return stop_requested;
}

static void default_out_dir(const char *config, char *buf, size_t len) {
  const char *base = strrchr(config, '/');
  base = base ? base + 1 : config;
  size_t n = strcspn(base, ".");
  snprintf(buf, len, "runs/%.*s", (int)(n ? n : strlen(base)), base);
}

static int env_threads(void) {
  const char *s = getenv("QAT_THREADS");
  int n = 0;
  if (s && *s && parse_count("QAT_THREADS", s, 1024, &n)) return -1;
  return n;
}

static int train_main(int argc, char **argv, const qat_dist *d) {
  const char *config = NULL, *resume = NULL, *out = NULL;
  int epochs = 0, batch = 0, threads = 0, json = 0, have_seed = 0, rank_checkpoints = 0, parity_each = 0,
      log_every = QAT_CURVES_DEFAULT_EVERY, profile = 0;
  uint64_t seed = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_train, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--rank-checkpoints")) {
      rank_checkpoints = 1;
    } else if (!strcmp(a, "--parity-each-epoch")) {
      parity_each = 1;
    } else if (!strcmp(a, "--profile")) {
      profile = 1;
    } else if (!strcmp(a, "--epochs") || !strcmp(a, "--batch-size") || !strcmp(a, "--threads") ||
               !strcmp(a, "--seed") || !strcmp(a, "--resume") || !strcmp(a, "--out") || !strcmp(a, "--log-every")) {
      if (!has_value) return fail_usage("%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "--epochs") && parse_count(a, v, 1000000, &epochs)) return 2;
      if (!strcmp(a, "--batch-size") && parse_count(a, v, 65536, &batch)) return 2;
      if (!strcmp(a, "--threads") && parse_count(a, v, 1024, &threads)) return 2;
      if (!strcmp(a, "--log-every") && parse_count(a, v, 1000000000, &log_every)) return 2;
      if (!strcmp(a, "--seed")) {
        if (parse_seed(v, &seed)) return 2;
        have_seed = 1;
      }
      if (!strcmp(a, "--resume")) resume = v;
      if (!strcmp(a, "--out")) out = v;
    } else if (a[0] == '-' && a[1] != '\0') {
      return fail_usage("train: unknown option '%s'", a);
    } else if (!config) {
      config = a;
    } else {
      return fail_usage("train: unexpected argument '%s'", a);
    }
  }
  if (!config) return fail_usage("%s", "train needs a CONFIG file");
  if (!threads && (threads = env_threads()) < 0) return 2;
  if (!threads && d->size > 1) { /* the cores of this machine, shared by its ranks */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cores > d->local_size ? (int)(cores / d->local_size) : 1;
  }

  qat_config cfg;
  int rc = qat_config_load(config, &cfg);
  if (rc) return report(rc);
  if (epochs) cfg.train.epochs = epochs;
  if (batch) cfg.train.batch_size = batch;
  if (threads) cfg.train.threads = threads;
  cfg.train.profile = profile;
  if (have_seed) cfg.train.seed = seed;
  char out_dir[4096];
  if (out) snprintf(out_dir, sizeof out_dir, "%s", out);
  else default_out_dir(config, out_dir, sizeof out_dir);

  FILE *progress_out = json ? stderr : stdout;
  progress_view view = {progress_out, isatty(fileno(progress_out)), 0, parity_each, NULL};
  const int qat_run = cfg.model.quantize.enabled;
  if (d->rank == 0 && (rc = qat_curves_open(out_dir, log_every, &view.curves))) {
    qat_config_free(&cfg);
    return report(rc);
  }
  qat_train_options o = {out_dir, resume, d->rank == 0 ? on_progress : on_progress_quiet, &view};
  qat_train_result res;
  /* Ctrl-C stops after the current step; the last epoch checkpoint stays intact. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);
  if (d->size > 1) {
    dist_rank = d->rank;
    dist_size = d->size;
    if (resume) snprintf(last_checkpoint, sizeof last_checkpoint, "%s", resume);
    sa.sa_handler = on_sigterm;
    sigaction(SIGTERM, &sa, NULL);
  }
  double t0 = now();
  rc = qat_train_dist(&cfg, &o, d, rank_checkpoints, &res);
  qat_config_free(&cfg);
  int crc = qat_curves_close(view.curves);
  if (!rc && crc) fprintf(progress_out, "qat: warning: training curves: %s\n", qat_error_message());
  if (rc) return report(rc);
  if (d->rank != 0) return 0;
  /* the int8 promise checked where the user sees it: the final model against its int8 export */
  if (qat_run && !parity_each && res.checkpoint[0]) train_parity(res.checkpoint, "of the final model", progress_out);
  double seconds = now() - t0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double peak_mb = (double)ru.ru_maxrss / 1024.0;
  if (json) {
    printf("{\"metric\":\"%s\",\"test_accuracy\":%.6f,\"test_loss\":%.6f,\"train_accuracy\":%.6f,\"train_loss\":%.6f,"
           "\"epochs\":%d,\"steps\":%lld,\"ms_per_step\":%.3f,\"params\":%lld,\"seconds\":%.2f,"
           "\"peak_rss_mb\":%.1f,",
           res.metric[0] ? res.metric : "accuracy", res.has_test ? res.test_accuracy : 0.0,
           res.has_test ? res.test_loss : 0.0, res.train_accuracy,
           res.train_loss, res.epochs, (long long)res.steps, res.ms_per_step, (long long)res.n_params, seconds,
           peak_mb);
    if (res.ranks > 1) printf("\"ranks\":%d,\"allreduce_ms_per_step\":%.3f,", res.ranks, res.allreduce_ms_per_step);
    if (res.has_float)
      printf("\"float_test_accuracy\":%.6f,\"fakequant_test_accuracy\":%.6f,", res.float_test_accuracy,
             res.test_accuracy);
    printf("\"checkpoint\":");
    qat_cli_json_string(stdout, res.checkpoint);
    printf("}\n");
  } else {
    if (res.has_test)
      printf("test_loss: %.4f - test_%s: %.4f\n", res.test_loss, res.metric[0] ? res.metric : "accuracy",
             res.test_accuracy);
    printf("checkpoint: %s (%.0fs, %.1f ms/step, peak RSS %.0f MiB)\n", res.checkpoint, seconds, res.ms_per_step,
           peak_mb);
  }
  return 0;
}

/* Under an MPI launcher, every rank runs this; MPI is set up and torn down around the run. */
static int cmd_train(int argc, char **argv) {
  qat_dist d;
  int rc = qat_dist_init(&d, NULL, NULL);
  if (rc) return report(rc);
  quiet = d.rank != 0;
  rc = train_main(argc, argv, &d);
  qat_dist_finalize(&d);
  quiet = 0;
  return rc;
}

static int load_model(const char *config, qat_config *cfg, qat_model **m) {
  int rc = qat_config_load(config, cfg);
  if (rc) return rc;
  rc = qat_model_create(m, &cfg->model, 1, cfg->train.seed);
  if (rc) qat_config_free(cfg);
  return rc;
}

static int cmd_init(int argc, char **argv) {
  const char *config = NULL, *out = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage_init, stdout);
      return 0;
    } else if (!strcmp(argv[i], "-o")) {
      if (i + 1 >= argc) return fail_usage("%s needs a value", "-o");
      out = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return fail_usage("init: unknown option '%s'", argv[i]);
    } else if (!config) {
      config = argv[i];
    } else {
      return fail_usage("init: unexpected argument '%s'", argv[i]);
    }
  }
  if (!config || !out) return fail_usage("%s", "init needs CONFIG and -o CKPT");
  qat_config cfg;
  qat_model *m;
  int rc = load_model(config, &cfg, &m);
  if (rc) return report(rc);
  qat_checkpoint_meta meta = {0, 0, cfg.train.seed};
  rc = qat_checkpoint_save(out, m, NULL, cfg.text, &meta);
  if (!rc) printf("%s: %lld parameters, seed %llu\n", out, (long long)m->n_params, (unsigned long long)cfg.train.seed);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc ? report(rc) : 0;
}

static int cmd_summary(int argc, char **argv) {
  if (argc == 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
    fputs(usage_summary, stdout);
    return 0;
  }
  if (argc != 1 || argv[0][0] == '-') return fail_usage("%s", "summary needs exactly one CONFIG");
  qat_config cfg;
  qat_model *m;
  int rc = load_model(argv[0], &cfg, &m);
  if (rc) return report(rc);
  qat_model_summary(m, stdout);
  qat_model_free(m);
  qat_config_free(&cfg);
  return 0;
}

static int cmd_eval(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--compare")) return qat_cmd_parity(argc, argv);
  /* A .tflite model (the first operand, option values skipped) runs in qat's runtime. */
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--limit") || !strcmp(a, "--images") || !strcmp(a, "--labels") || !strcmp(a, "--data") ||
        !strcmp(a, "--flavor")) {
      i++;
    } else if (a[0] != '-' || a[1] == '\0') {
      size_t n = strlen(a);
      if (n > 7 && !strcmp(a + n - 7, ".tflite")) return qat_cmd_eval_tflite(argc, argv);
      break;
    }
  }
  const char *ckpt = NULL, *dump = NULL;
  int json = 0, limit = 0, fashion = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage_eval, stdout);
      return 0;
    } else if (!strcmp(argv[i], "--data")) {
      if (i + 1 >= argc) return fail_usage("%s needs a value", "--data");
      if (strcmp(argv[++i], "fashion-mnist"))
        return fail_usage("eval: --data '%s' (expected fashion-mnist; other data goes in the config's data: section)",
                          argv[i]);
      fashion = 1;
    } else if (!strcmp(argv[i], "--dump-test")) {
      if (i + 1 >= argc) return fail_usage("%s needs a value", "--dump-test");
      dump = argv[++i];
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "--limit")) {
      if (i + 1 >= argc) return fail_usage("%s needs a value", "--limit");
      if (parse_count("--limit", argv[++i], INT_MAX, &limit)) return 2;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return fail_usage("eval: unknown option '%s'", argv[i]);
    } else if (!ckpt) {
      ckpt = argv[i];
    } else {
      return fail_usage("eval: unexpected argument '%s'", argv[i]);
    }
  }
  if (!ckpt) return fail_usage("%s", "eval needs a checkpoint");
  int threads = env_threads();
  if (threads < 0) return 2;
  if (threads) qat_set_threads(threads);
  qat_config cfg;
  qat_model *m;
  const int batch = 256;
  int rc = qat_model_from_checkpoint(ckpt, batch, &cfg, &m);
  if (rc) return report(rc);
  if (fashion) {
    /* the test set of Debian's dataset-fashion-mnist instead of the config's data */
    cfg.data.kind = QAT_DATASET_FASHION_MNIST;
    cfg.data.absent = 0;
  }
  if (limit) cfg.data.limit_test = limit;
  qat_dataset test = {0};
  const char *which = "test";
  double loss, float_acc = 0, fq_acc = 0;
  double t0 = now();
  if ((rc = qat_data_load_heldout(&cfg.data, ckpt, &test, &which))) goto done;
  if (dump && (rc = qat_dump_testset(dump, &test))) goto done;
  if ((rc = qat_evaluate(m, &test, batch, 0, &loss, &float_acc))) goto done;
  int quantized = m->n_fq > 0;
  if (quantized && (rc = qat_evaluate(m, &test, batch, 1, &loss, &fq_acc))) goto done;
  double ms = (now() - t0) * 1e3 / (double)test.n / (quantized ? 2 : 1);
  int64_t *per_n = NULL, *per_ok = NULL;
  int names = cfg.data.n_class_names == m->num_classes && !m->targets && m->positions == 1;
  const char *metric = qat_model_metric_name(m);
  if (names && (rc = qat_per_class(m, &test, batch, quantized, &per_n, &per_ok))) goto done;
  double miou = -1; /* a label map's mean IoU (Keras's MeanIoU), fake-quant when quantized */
  int iou_classes = 0;
  if ((rc = qat_model_mean_iou(m, &test, batch, quantized, &miou, &iou_classes))) goto done;
  if (json) {
    /* the keys keep their names; "metric" says what they hold (accuracy, or mae for regression) */
    printf("{\"samples\":%lld,\"set\":\"%s\",\"metric\":\"%s\",\"float_accuracy\":%.6f", (long long)test.n, which,
           metric, float_acc);
    if (quantized) printf(",\"fakequant_accuracy\":%.6f", fq_acc);
    printf(",\"ms_per_sample\":%.4f", ms);
    if (miou >= 0) printf(",\"mean_iou\":%.6f", miou);
    if (names) {
      printf(",\"per_class\":[");
      for (int k = 0; k < m->num_classes; k++) {
        printf("%s{\"class\":", k ? "," : "");
        qat_cli_json_string(stdout, cfg.data.class_names[k]);
        printf(",\"samples\":%lld,\"accuracy\":%.6f}", (long long)per_n[k],
               per_n[k] ? (double)per_ok[k] / (double)per_n[k] : 0.0);
      }
      printf("]");
    }
    printf("}\n");
  } else {
    printf("%s: %lld %s samples\n  float %s:%*s%.4f\n", ckpt, (long long)test.n, which, metric,
           (int)(14 - strlen(metric)), "", float_acc);
    if (quantized) printf("  fake-quant %s:%*s%.4f\n", metric, (int)(9 - strlen(metric)), "", fq_acc);
    if (miou >= 0)
      printf("  %s mean IoU:%*s%.4f (%d classes)\n", quantized ? "fake-quant" : "float", quantized ? 5 : 10, "", miou,
             iou_classes);
    if (names) {
      printf("  per class (%s):\n", quantized ? "fake-quant" : "float");
      for (int k = 0; k < m->num_classes; k++)
        printf("    %-20s %6lld samples  %.4f\n", cfg.data.class_names[k], (long long)per_n[k],
               per_n[k] ? (double)per_ok[k] / (double)per_n[k] : 0.0);
    }
  }
  free(per_n);
  free(per_ok);
done:
  qat_dataset_free(&test);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc ? report(rc) : 0;
}

static int dispatch(int argc, char **argv);

/* Whatever a command printed must have reached stdout: `qat ... --json > /dev/full` or a
 * closed pipe is a failure (exit 4), not a silent success. A failed write to stderr cannot be
 * reported, but still makes the exit code non-zero. */
int main(int argc, char **argv) {
  int code = dispatch(argc, argv);
  if (qat_stdout_check() != QAT_OK) {
    fprintf(stderr, "qat: error: %s\n", qat_error_message());
    if (code == 0) code = qat_exit_code(QAT_ERR_IO);
  }
  if (fflush(stderr) != 0 || ferror(stderr)) {
    if (code == 0) code = qat_exit_code(QAT_ERR_IO);
  }
  return code;
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("qat %s\n", QAT_VERSION);
    printf("BLAS: %s\n", qat_blas_describe());
    printf("runtime kernels: %s\n", qat_rt_kernels());
    return 0;
  }
  if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
  if (!strcmp(cmd, "init")) return cmd_init(argc - 2, argv + 2);
  if (!strcmp(cmd, "summary")) return cmd_summary(argc - 2, argv + 2);
  if (!strcmp(cmd, "eval")) return cmd_eval(argc - 2, argv + 2);
  if (!strcmp(cmd, "export")) return qat_cmd_export(argc - 2, argv + 2);
  if (!strcmp(cmd, "compare")) return qat_cmd_compare(argc - 2, argv + 2);
  if (!strcmp(cmd, "run")) return qat_cmd_run(argc - 2, argv + 2);
  if (!strcmp(cmd, "inspect")) return qat_cmd_inspect(argc - 2, argv + 2);
  if (!strcmp(cmd, "import")) return qat_cmd_import(argc - 2, argv + 2);
  if (!strcmp(cmd, "predict")) return qat_cmd_predict(argc - 2, argv + 2);
  if (!strcmp(cmd, "plot")) return qat_cmd_plot(argc - 2, argv + 2);
  if (!strcmp(cmd, "deploy")) return qat_cmd_deploy(argc - 2, argv + 2);
  return fail_usage("unknown command '%s'", cmd);
}
