/* `qat export CKPT --mode MODE -o OUT.tflite [--json]`: rebuilds the model from the config text
 * stored in the checkpoint, loads its weights (and calibrates its activation ranges with
 * --calibrate), lowers it onto the TFLite IR in the mode asked for and writes the file
 * atomically. `qat compare` exports through the same qat_export_checkpoint. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "qat/atomic_file.h"
#include "qat/calib.h"
#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/model.h"
#include "qat/tflite.h"
#include "qat/train.h"

static const char usage_export[] =
    "usage: qat export CKPT --mode MODE [--io TYPE] [--calibrate N [--calibration-method M]\n"
    "                  [--calibration-data FILE]] -o OUT.tflite [--json]\n"
    "\n"
    "Writes the model of checkpoint CKPT (its architecture comes from the config stored in it)\n"
    "as a TensorFlow Lite flatbuffer that the official interpreter runs.\n"
    "\n"
    "options:\n"
    "  --mode MODE   float32: float weights and activations, batch norm folded, ReLUs fused\n"
    "                float16: float16 weights and biases behind DEQUANTIZE ops, float compute\n"
    "                dynamic: dynamic range: int8 weights (conv per channel, dense per tensor;\n"
    "                tensors under 1024 values stay float), float activations, hybrid ops\n"
    "                int8: full-integer int8 (per-channel int8 weights, int32 biases, int8\n"
    "                activations) from the QAT ranges of a quantization-aware checkpoint, or\n"
    "                from --calibrate\n"
    "                int16x8: int16 activations (symmetric, zero point 0), int8 weights,\n"
    "                int64 biases (TFLite's 16x8 mode; needs ranges, as int8)\n"
    "  --io TYPE     int8 mode: the graph input/output type, int8 (default), uint8 or\n"
    "                float32 (QUANTIZE / DEQUANTIZE at the edges); int16x8 mode: int16\n"
    "                (default) or float32\n"
    "  --calibrate N post-training calibration (int8, int16x8): run N representative samples\n"
    "                (seeded by the config's train.seed) through the float model and take the\n"
    "                activation ranges from them. On a quantization-aware checkpoint the\n"
    "                calibrated ranges replace the trained ones.\n"
    "  --calibration-method M  minmax (default, the TF converter's), percentile (clip each tail\n"
    "                at --percentile P, default 99.99) or mse (the clip with the smallest\n"
    "                squared quantization error)\n"
    "  --calibration-data FILE the representative samples: a folder of class subfolders (its\n"
    "                training split, resized to the model's input), a .npz (Keras's x_train),\n"
    "                an IDX image file (gzip or plain) or a CIFAR-10 binary batch, preprocessed\n"
    "                as the config's data (default: the config's training data)\n"
    "  -o OUT        the .tflite file to write (atomically: an old file stays intact on error)\n"
    "  --json        print one JSON summary on stdout: path, size in bytes, operator counts\n"
    "                by type, tensor count\n"
    "  -h, --help    this help\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat export --help')\n");
  return 2;
}

static int report(int status) {
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  return qat_exit_code(status);
}

/* Operator counts by type, in order of first appearance (stable, like the file's opcodes). */
typedef struct op_count {
  qat_tflite_op op;
  int n;
} op_count;

static int count_ops(const qat_tflite_model *t, op_count *counts, int cap) {
  int n = 0;
  for (int k = 0; k < t->n_ops; k++) {
    int c = 0;
    while (c < n && counts[c].op != t->ops[k].op) c++;
    if (c == n) {
      if (n == cap) continue;
      counts[n].op = t->ops[k].op;
      counts[n++].n = 0;
    }
    counts[c].n++;
  }
  return n;
}

static void print_summary(const char *path, const char *mode, size_t size, const qat_tflite_model *t, int json,
                          const char *input_note) {
  op_count counts[32];
  int n = count_ops(t, counts, 32);
  if (json) {
    printf("{\"path\":");
    qat_cli_json_string(stdout, path);
    printf(",\"mode\":\"%s\",\"size_bytes\":%zu,\"tensors\":%d,\"operators\":%d,\"ops\":{", mode, size, t->n_tensors,
           t->n_ops);
    for (int c = 0; c < n; c++)
      printf("%s\"%s\":%d", c ? "," : "", qat_tflite_op_name(counts[c].op), counts[c].n);
    printf("}");
    if (input_note[0]) {
      printf(",\"input\":");
      qat_cli_json_string(stdout, input_note);
    }
    printf("}\n");
    return;
  }
  printf("%s: %s, %zu bytes, %d tensors, %d operators (", path, mode, size, t->n_tensors, t->n_ops);
  for (int c = 0; c < n; c++) printf("%s%s %d", c ? ", " : "", qat_tflite_op_name(counts[c].op), counts[c].n);
  printf(")\n");
}

/* A sample count for --calibrate; prints the usage error itself. */
static int parse_count(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno == ERANGE || n < 1 || n > 100000000)
    return usage_error("--calibrate expects a sample count in [1, 100000000], got '%s'", v);
  *out = n;
  return 0;
}

int qat_cmd_export(int argc, char **argv) {
  const char *ckpt = NULL, *out = NULL;
  qat_export_request req = {0};
  int json = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_export, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--mode") || !strcmp(a, "--io") || !strcmp(a, "--calibrate") ||
               !strcmp(a, "--calibration-method") || !strcmp(a, "--calibration-data") ||
               !strcmp(a, "--percentile")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "-o")) out = v;
      else if (!strcmp(a, "--io")) req.io = v;
      else if (!strcmp(a, "--mode")) req.mode = v;
      else if (!strcmp(a, "--calibration-method")) req.method = v;
      else if (!strcmp(a, "--calibration-data")) req.calibration_data = v;
      else if (!strcmp(a, "--calibrate")) {
        if (parse_count(v, &req.calibrate)) return 2;
      } else {
        char *end;
        errno = 0;
        req.percentile = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || errno == ERANGE || !(req.percentile > 50.0 && req.percentile <= 100.0))
          return usage_error("--percentile expects a number in (50, 100], got '%s'", v);
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("export: unknown option '%s'", a);
    } else if (!ckpt) {
      ckpt = a;
    } else {
      return usage_error("export: unexpected argument '%s'", a);
    }
  }
  if (!ckpt) return usage_error("%s", "export needs a checkpoint (CKPT)");
  if (!req.mode) return usage_error("%s", "export needs --mode (float32, float16, dynamic, int8 or int16x8)");
  if (!out) return usage_error("%s", "export needs -o OUT.tflite");
  if (!qat_export_mode_known(req.mode))
    return usage_error("--mode '%s' is unknown (expected float32, float16, dynamic, int8 or int16x8)", req.mode);
  if ((req.method || req.calibration_data || req.percentile > 0) && req.calibrate <= 0)
    return usage_error("%s", "--calibration-method, --calibration-data and --percentile need --calibrate N");
  if (req.percentile > 0 && (!req.method || strcmp(req.method, "percentile")))
    return usage_error("%s", "--percentile goes with --calibration-method percentile");
  if (req.method && strcmp(req.method, "minmax") && strcmp(req.method, "percentile") && strcmp(req.method, "mse"))
    return usage_error("--calibration-method '%s' is unknown (expected minmax, percentile or mse)", req.method);

  qat_tflite_model t;
  size_t size = 0;
  int rc = qat_export_checkpoint(ckpt, &req, &t);
  if (rc == QAT_ERR_USAGE && (req.io || req.calibrate)) {
    /* option combinations are usage errors (exit 2), like the ones above */
    fprintf(stderr, "qat: error: %s\n(see 'qat export --help')\n", qat_error_message());
    qat_tflite_model_free(&t);
    return 2;
  }
  /* the class names travel with the model, as TFLite's labels files do */
  int labels = 0;
  char input_note[1024] = "";
  if (!rc) rc = qat_export_save(ckpt, &t, out, input_note, sizeof input_note, &size, &labels);
  if (!rc) print_summary(out, req.mode, size, &t, json, input_note);
  if (!rc && input_note[0] && !json) printf("  %s\n", input_note);
  if (!rc && labels && !json) printf("  labels.txt packed into it and beside it\n");
  qat_tflite_model_free(&t);
  return rc ? report(rc) : 0;
}
