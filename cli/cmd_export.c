/* `qat export CKPT --mode MODE -o OUT.tflite [--json]`: rebuilds the model from the config text
 * stored in the checkpoint, loads its weights, lowers it onto the TFLite IR and writes the file
 * atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/atomic_file.h"
#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/keras.h"
#include "qat/model.h"
#include "qat/tflite.h"
#include "qat/train.h"

static const char usage_export[] =
    "usage: qat export CKPT --mode MODE [--io TYPE] -o OUT.tflite [--json]\n"
    "\n"
    "Writes the model of checkpoint CKPT (its architecture comes from the config stored in it)\n"
    "as a TensorFlow Lite flatbuffer that the official interpreter runs.\n"
    "\n"
    "options:\n"
    "  --mode MODE   float32: float weights and activations, batch norm folded, ReLUs fused\n"
    "                int8: full-integer int8 from the QAT ranges of a quantization-aware\n"
    "                checkpoint (per-channel int8 weights, int32 biases, int8 activations)\n"
    "                int16x8: int16 activations (symmetric, from the same ranges), int8\n"
    "                weights, int64 biases (TFLite's 16x8 mode)\n"
    "                (float16 and dynamic are not implemented yet)\n"
    "  --io TYPE     int8 mode: the graph input/output type, int8 (default), uint8 or\n"
    "                float32 (QUANTIZE / DEQUANTIZE at the edges); int16x8 mode: int16\n"
    "                (default) or float32\n"
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

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
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

static void print_summary(const char *path, const char *mode, size_t size, const qat_tflite_model *t, int json) {
  op_count counts[32];
  int n = count_ops(t, counts, 32);
  if (json) {
    printf("{\"path\":");
    json_string(stdout, path);
    printf(",\"mode\":\"%s\",\"size_bytes\":%zu,\"tensors\":%d,\"operators\":%d,\"ops\":{", mode, size, t->n_tensors,
           t->n_ops);
    for (int c = 0; c < n; c++)
      printf("%s\"%s\":%d", c ? "," : "", qat_tflite_op_name(counts[c].op), counts[c].n);
    printf("}}\n");
    return;
  }
  printf("%s: %s, %zu bytes, %d tensors, %d operators (", path, mode, size, t->n_tensors, t->n_ops);
  for (int c = 0; c < n; c++) printf("%s%s %d", c ? ", " : "", qat_tflite_op_name(counts[c].op), counts[c].n);
  printf(")\n");
}

/* Builds the checkpoint's model at batch 1 with its weights loaded. */
static int load_checkpoint_model(const char *ckpt, qat_config *cfg, qat_model **m) {
  char *text = NULL;
  *m = NULL;
  int rc = qat_checkpoint_read_config(ckpt, &text);
  if (rc) return rc;
  char source[4200];
  snprintf(source, sizeof source, "%s:config", ckpt);
  rc = qat_config_parse(text, strlen(text), source, cfg);
  free(text);
  if (rc) return rc;
  if ((rc = qat_keras_resolve_config(cfg)) || (rc = qat_model_create(m, &cfg->model, 1, cfg->train.seed))) goto free_config;
  if ((rc = qat_checkpoint_load(ckpt, *m, NULL, NULL))) goto free_model;
  return QAT_OK;
free_model:
  qat_model_free(*m);
  *m = NULL;
free_config:
  qat_config_free(cfg);
  return rc;
}

int qat_cmd_export(int argc, char **argv) {
  const char *ckpt = NULL, *out = NULL, *mode = NULL, *io_name = NULL;
  int json = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_export, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--mode") || !strcmp(a, "--io")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      if (!strcmp(a, "-o")) out = argv[++i];
      else if (!strcmp(a, "--io")) io_name = argv[++i];
      else mode = argv[++i];
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("export: unknown option '%s'", a);
    } else if (!ckpt) {
      ckpt = a;
    } else {
      return usage_error("export: unexpected argument '%s'", a);
    }
  }
  if (!ckpt) return usage_error("%s", "export needs a checkpoint (CKPT)");
  if (!mode) return usage_error("%s", "export needs --mode (float32 or int8)");
  if (!out) return usage_error("%s", "export needs -o OUT.tflite");
  int int8 = !strcmp(mode, "int8"), int16x8 = !strcmp(mode, "int16x8");
  if (strcmp(mode, "float32") != 0 && !int8 && !int16x8) {
    if (!strcmp(mode, "float16") || !strcmp(mode, "dynamic")) {
      fprintf(stderr, "qat: error: --mode %s: not implemented yet (float32, int8 and int16x8 are)\n", mode);
      return 2;
    }
    return usage_error("--mode '%s' is unknown (expected float32, int8, float16, dynamic or int16x8)", mode);
  }
  qat_export_io io = int16x8 ? QAT_EXPORT_IO_INT16 : QAT_EXPORT_IO_INT8;
  if (io_name && int16x8) {
    if (!strcmp(io_name, "int16")) io = QAT_EXPORT_IO_INT16;
    else if (!strcmp(io_name, "float32")) io = QAT_EXPORT_IO_FLOAT32;
    else return usage_error("--io '%s' is unknown for --mode int16x8 (expected int16 or float32)", io_name);
  } else if (io_name) {
    if (!int8) return usage_error("--io applies to --mode int8 and int16x8 only (got --mode %s)", mode);
    if (!strcmp(io_name, "int8")) io = QAT_EXPORT_IO_INT8;
    else if (!strcmp(io_name, "uint8")) io = QAT_EXPORT_IO_UINT8;
    else if (!strcmp(io_name, "float32")) io = QAT_EXPORT_IO_FLOAT32;
    else return usage_error("--io '%s' is unknown (expected int8, uint8 or float32)", io_name);
  }

  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  qat_model *m = NULL;
  qat_tflite_model t;
  qat_tflite_model_init(&t);
  uint8_t *bytes = NULL;
  size_t size = 0;
  int rc;
  if (int8 || int16x8) {
    /* the QAT ranges (observers) come back with the weights */
    if ((rc = qat_model_from_checkpoint(ckpt, 1, &cfg, &m))) goto free_all;
    if ((rc = qat_export_int8_prepare(m)) ||
        (rc = int8 ? qat_export_int8(m, io, &t) : qat_export_int16x8(m, io, &t))) {
      qat_fail_prefix(rc, "cannot export as %s: ", mode);
      goto free_all;
    }
  } else if ((rc = load_checkpoint_model(ckpt, &cfg, &m))) {
    goto free_all;
  } else if ((rc = qat_export_float32(m, &t))) {
    /* The message already names the layer as CKPT:config:line:column. */
    qat_fail_prefix(rc, "cannot export as float32: ");
    goto free_all;
  }
  if ((rc = qat_tflite_serialize(&t, &bytes, &size))) goto free_all;
  if ((rc = qat_atomic_write(out, bytes, size))) goto free_all;
  print_summary(out, mode, size, &t, json);
free_all:
  free(bytes);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc ? report(rc) : 0;
}
