/* `qat compare CKPT`: the seed documents' table of post-training quantization modes, filled in
 * for the user's own model. Every mode is exported through qat_export_checkpoint (the code of
 * `qat export`) into -o DIR, evaluated over the config's test set with qat's runtime through
 * qat_eval_tflite_dataset (the code of `qat eval MODEL.tflite`, batch 1, bit-exact with
 * TFLite's reference kernels) and timed there; DIR gets compare.md, compare.json and
 * compare.svg (size against accuracy, and latency, per mode). A mode that cannot be exported
 * by this build (QAT_ERR_UNSUPPORTED) stays in the table as "not available: <why>". */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "qat/curves.h"
#include "qat/atomic_file.h"
#include "qat/config.h"
#include "qat/data.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/train.h"

static const char usage_compare[] =
    "usage: qat compare CKPT [--calibrate N] [--calibration-method M] [-o DIR] [--limit N]\n"
    "                   [--official PYTHON] [--json]\n"
    "\n"
    "Exports checkpoint CKPT in every mode (float32, float16, dynamic, int8 calibrated on N\n"
    "training samples, int8 with the checkpoint's QAT ranges when it has them, int16x8),\n"
    "evaluates each file over the config's test set in qat's runtime (bit-exact with TFLite's\n"
    "reference kernels, batch 1), times it, and writes DIR/<mode>.tflite, DIR/compare.md,\n"
    "DIR/compare.json and DIR/compare.svg (size against accuracy and latency per mode).\n"
    "\n"
    "options:\n"
    "  --calibrate N           representative samples for the calibrated modes (default 1000)\n"
    "  --calibration-method M  minmax (default), percentile or mse\n"
    "  -o DIR                  output folder (default: compare beside CKPT); created if missing\n"
    "  --limit N               evaluate the first N test samples only\n"
    "  --official PYTHON       also evaluate every file in the official interpreter\n"
    "                          (ai-edge-litert's reference kernels) with this Python, e.g.\n"
    "                          .venv/bin/python (scripts/setup.sh makes it)\n"
    "  --json                  print compare.json on stdout instead of the table\n"
    "  -h, --help              this help\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: compare: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat compare --help')\n");
  return 2;
}

/* The column's figure: accuracy, or the mean absolute error of a regressor (set from the
 * evaluation; a table holds one model, so one metric). */
static const char *metric = "accuracy";

typedef struct row {
  char name[32];      /* file stem and table label */
  const char *mode;   /* qat export --mode */
  const char *ranges; /* how the activation ranges were obtained, or "" */
  int calibrate;      /* use --calibrate */
  int ok;             /* exported and evaluated */
  char why[512];      /* otherwise: the reason */
  size_t size;
  double accuracy, ms;
  int64_t samples;
  int official;         /* the official interpreter's accuracy was measured */
  double off_accuracy, off_ms;
} row;

static int make_dir(const char *path) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return qat_fail(QAT_ERR_USAGE, "%s: path too long", path);
  for (char *p = buf + 1;; p++) {
    char c = *p;
    if (c == '/' || c == '\0') {
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return qat_fail(QAT_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
      *p = c;
      if (c == '\0') break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return qat_fail(QAT_ERR_IO, "%s: not a folder", path);
  return QAT_OK;
}

/* Text built in memory and written atomically. */
typedef struct text {
  char *buf;
  size_t len;
  FILE *f;
} text;

static int text_open(text *t) {
  t->buf = NULL;
  t->len = 0;
  t->f = open_memstream(&t->buf, &t->len);
  return t->f ? QAT_OK : qat_fail(QAT_ERR_NOMEM, "out of memory");
}

static int text_write(text *t, const char *dir, const char *name) {
  char path[PATH_MAX];
  int rc = fclose(t->f) ? qat_fail(QAT_ERR_NOMEM, "out of memory") : QAT_OK;
  t->f = NULL;
  if (!rc && snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    rc = qat_fail(QAT_ERR_USAGE, "%s: path too long", dir);
  if (!rc) rc = qat_atomic_write(path, t->buf, t->len);
  free(t->buf);
  t->buf = NULL;
  return rc;
}

static const row *find_row(const row *rows, int n, const char *name) {
  for (int k = 0; k < n; k++)
    if (!strcmp(rows[k].name, name) && rows[k].ok) return &rows[k];
  return NULL;
}

static void write_json(FILE *f, const char *ckpt, const row *rows, int n, int64_t calib, const char *method,
                       int64_t samples) {
  const row *ref = find_row(rows, n, "float32");
  fprintf(f, "{\"checkpoint\":");
  qat_cli_json_string(f, ckpt);
  fprintf(f, ",\"test_samples\":%lld,\"calibration_samples\":%lld,\"calibration_method\":", (long long)samples,
          (long long)calib);
  qat_cli_json_string(f, method);
  fprintf(f, ",\"runtime\":\"qat (TFLite reference kernels, batch 1)\",\"metric\":\"%s\",\"modes\":[", metric);
  for (int k = 0; k < n; k++) {
    const row *r = &rows[k];
    fprintf(f, "%s{\"name\":", k ? "," : "");
    qat_cli_json_string(f, r->name);
    fprintf(f, ",\"mode\":");
    qat_cli_json_string(f, r->mode);
    fprintf(f, ",\"ranges\":");
    qat_cli_json_string(f, r->ranges);
    if (r->ok) {
      fprintf(f, ",\"available\":true,\"file\":\"%s.tflite\",\"size_bytes\":%zu,\"accuracy\":%.6f,\"ms_per_sample\":%.4f",
              r->name, r->size, r->accuracy, r->ms);
      if (ref)
        fprintf(f, ",\"size_vs_float32\":%.4f,\"accuracy_delta_pp\":%.2f", (double)r->size / (double)ref->size,
                (r->accuracy - ref->accuracy) * 100.0);
      if (r->official)
        fprintf(f, ",\"official_accuracy\":%.6f,\"official_ms_per_sample\":%.4f", r->off_accuracy, r->off_ms);
    } else {
      fprintf(f, ",\"available\":false,\"reason\":");
      qat_cli_json_string(f, r->why);
    }
    fprintf(f, "}");
  }
  fprintf(f, "]}\n");
}

static void write_markdown(FILE *f, const char *ckpt, const row *rows, int n, int64_t calib, const char *method,
                           int64_t samples) {
  const row *ref = find_row(rows, n, "float32");
  fprintf(f, "# qat compare: %s\n\n", ckpt);
  fprintf(f, "Every mode evaluated over %lld test samples in qat's runtime (TFLite reference kernels, batch 1); "
             "calibrated modes use %lld training samples (%s).\n\n",
          (long long)samples, (long long)calib, method);
  int off = 0;
  for (int k = 0; k < n; k++) off |= rows[k].official;
  fprintf(f, "| mode | activation ranges | size (bytes) | size vs float32 | %s | vs float32 (pp) | ms / sample |%s\n", metric,
          off ? " official interpreter accuracy | official ms / sample |" : "");
  fprintf(f, "|---|---|---:|---:|---:|---:|---:|%s\n", off ? "---:|---:|" : "");
  for (int k = 0; k < n; k++) {
    const row *r = &rows[k];
    if (!r->ok) {
      fprintf(f, "| %s | %s | not available: %s | | | | |%s\n", r->name, r->ranges[0] ? r->ranges : "-", r->why,
              off ? " | |" : "");
      continue;
    }
    fprintf(f, "| %s | %s | %zu | %.3f | %.4f | %+.2f | %.3f |", r->name, r->ranges[0] ? r->ranges : "-", r->size,
            ref ? (double)r->size / (double)ref->size : 1.0, r->accuracy,
            ref ? (r->accuracy - ref->accuracy) * 100.0 : 0.0, r->ms);
    if (off) fprintf(f, r->official ? " %.4f | %.3f |" : " | |", r->off_accuracy, r->off_ms);
    fprintf(f, "\n");
  }
  if (off) fprintf(f, "\nOfficial interpreter: ai-edge-litert, OpResolverType.BUILTIN_REF (reference kernels).\n");
  fprintf(f, "\nCharts: compare.svg and compare.png (size against accuracy and against latency).\n");
}

static void print_table(const row *rows, int n) {
  const row *ref = find_row(rows, n, "float32");
  printf("%-14s %-18s %10s %8s %9s %8s %9s\n", "mode", "ranges", "bytes", "vs f32", metric, "pp", "ms/sample");
  for (int k = 0; k < n; k++) {
    const row *r = &rows[k];
    if (!r->ok) {
      printf("%-14s %-18s not available: %s\n", r->name, r->ranges[0] ? r->ranges : "-", r->why);
      continue;
    }
    printf("%-14s %-18s %10zu %8.3f %9.4f %+8.2f %9.3f", r->name, r->ranges[0] ? r->ranges : "-", r->size,
           ref ? (double)r->size / (double)ref->size : 1.0, r->accuracy, ref ? (r->accuracy - ref->accuracy) * 100 : 0,
           r->ms);
    if (r->official) printf("   official %.4f, %.3f ms", r->off_accuracy, r->off_ms);
    printf("\n");
  }
}

static const char *dataset_name(qat_dataset_kind k) {
  switch (k) {
  case QAT_DATASET_FASHION_MNIST: return "Fashion-MNIST";
  case QAT_DATASET_IDX: return "IDX data";
  case QAT_DATASET_CIFAR10: return "CIFAR-10";
  case QAT_DATASET_NPY: return "NumPy data";
  case QAT_DATASET_FOLDER: return "image folder";
  }
  return "data";
}

/* Two panels from the chart module (curves/chart.c), as compare.svg and compare.png: file size
 * (log scale) against accuracy, and file size against latency; every point labelled with its
 * mode, labels placed where they overprint nothing; the data set and sample count in the titles. */
static int write_charts(const char *dir, const char *ckpt, qat_dataset_kind kind, int64_t samples, const row *rows,
                        int n) {
  double size[16], acc[16], ms[16];
  const char *labels[16];
  int m = 0;
  for (int k = 0; k < n && m < 16; k++) {
    if (!rows[k].ok) continue;
    size[m] = (double)rows[k].size, acc[m] = rows[k].accuracy * 100.0, ms[m] = rows[k].ms;
    labels[m++] = rows[k].name;
  }
  if (m == 0) return 0;
  const char *base = strrchr(ckpt, '/');
  base = base ? base + 1 : ckpt;
  char t1[400], t2[400];
  snprintf(t1, sizeof t1, "%.120s: accuracy vs size (%s, %lld test samples)", base, dataset_name(kind),
           (long long)samples);
  snprintf(t2, sizeof t2, "%.120s: latency vs size (qat runtime, batch 1, %lld samples)", base, (long long)samples);
  qat_chart ch[2];
  memset(ch, 0, sizeof ch);
  ch[0].title = t1, ch[0].x_label = "file size (bytes, log scale)", ch[0].y_label = "top-1 accuracy (%)";
  ch[1].title = t2, ch[1].x_label = "file size (bytes, log scale)", ch[1].y_label = "ms per sample";
  ch[1].y_from_zero = 1;
  for (int i = 0; i < 2; i++) {
    ch[i].x_log = 1, ch[i].n_series = 1, ch[i].height = 460;
    ch[i].series[0] = (qat_chart_series){.name = "export modes", .x = size, .y = i ? ms : acc, .n = m,
                                         .labels = labels, .no_line = 1};
  }
  char svg[PATH_MAX + 16], png[PATH_MAX + 16];
  snprintf(svg, sizeof svg, "%s/compare.svg", dir);
  snprintf(png, sizeof png, "%s/compare.png", dir);
  return qat_chart_write_panels(ch, 2, svg, png);
}

/* The official interpreter's side: a short Python program run with the user's Python (one
 * with ai-edge-litert), over the test set compare wrote to DIR/testset.bin (int32 n, h, w, c
 * little-endian, then the images, then the labels). Inputs are fed as `qat eval` feeds them:
 * pixel / 255 in float32, quantized half away from zero at an int8 / uint8 / int16 input. It prints
 * "accuracy ms_per_sample". */
static const char litert_eval_py[] =
    "import sys, time, numpy as np\n"
    "from ai_edge_litert import interpreter as L\n"
    "m, d = sys.argv[1], sys.argv[2]\n"
    "raw = open(d, 'rb').read()\n"
    "n, h, w, c = np.frombuffer(raw[:16], '<i4')\n"
    "px = np.frombuffer(raw[16:16 + n*h*w*c], np.uint8).reshape(n, h, w, c)\n"
    "lab = np.frombuffer(raw[16 + n*h*w*c:], np.uint8)\n"
    "it = L.Interpreter(model_path=m, experimental_op_resolver_type=L.OpResolverType.BUILTIN_REF)\n"
    "it.allocate_tensors()\n"
    "di, do = it.get_input_details()[0], it.get_output_details()[0]\n"
    "x = px.astype(np.float32) / np.float32(255)\n"
    "if di['dtype'] != np.float32:\n"
    "    s, z = di['quantization']\n"
    "    t = x / np.float32(s)\n"
    "    r = np.sign(t) * np.floor(np.abs(t) + np.float32(0.5))\n"
    "    lo, hi = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767)}[di['dtype']]\n"
    "    x = np.clip(r + z, lo, hi).astype(di['dtype'])\n"
    "x = x.reshape(n, *di['shape'][1:])\n"
    "ok = 0\n"
    "t0 = time.perf_counter()\n"
    "for i in range(n):\n"
    "    it.set_tensor(di['index'], x[i:i + 1])\n"
    "    it.invoke()\n"
    "    ok += int(np.argmax(it.get_tensor(do['index']).reshape(-1))) == int(lab[i])\n"
    "print(ok / n, (time.perf_counter() - t0) * 1e3 / n)\n";

static int write_testset(const char *dir, const qat_dataset *ds, char *path, size_t len) {
  if (snprintf(path, len, "%s/testset.bin", dir) >= (int)len) return qat_fail(QAT_ERR_USAGE, "%s: path too long", dir);
  const size_t px = (size_t)ds->n * ds->h * ds->w * ds->c;
  uint8_t *buf = malloc(16 + px + (size_t)ds->n);
  if (!buf) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  int32_t hdr[4] = {(int32_t)ds->n, ds->h, ds->w, ds->c};
  for (int k = 0; k < 4; k++)
    for (int b = 0; b < 4; b++) buf[4 * k + b] = (uint8_t)((uint32_t)hdr[k] >> (8 * b));
  memcpy(buf + 16, ds->images, px);
  memcpy(buf + 16 + px, ds->labels, (size_t)ds->n);
  int rc = qat_atomic_write(path, buf, 16 + px + (size_t)ds->n);
  free(buf);
  return rc;
}

/* Single-quotes s for sh. */
static int shell_quote(char *out, size_t len, const char *s) {
  size_t k = 0;
  if (k + 1 >= len) return -1;
  out[k++] = '\'';
  for (; *s; s++) {
    const char *piece = *s == '\'' ? "'\\''" : NULL;
    size_t n = piece ? strlen(piece) : 1;
    if (k + n + 2 >= len) return -1;
    if (piece) memcpy(out + k, piece, n);
    else out[k] = *s;
    k += n;
  }
  out[k++] = '\'';
  out[k] = '\0';
  return 0;
}

static int run_official(const char *python, const char *model, const char *testset, double *acc, double *ms) {
  char qp[PATH_MAX * 2], qs[sizeof litert_eval_py * 2], qm[PATH_MAX * 2], qd[PATH_MAX * 2];
  if (shell_quote(qp, sizeof qp, python) || shell_quote(qs, sizeof qs, litert_eval_py) ||
      shell_quote(qm, sizeof qm, model) || shell_quote(qd, sizeof qd, testset))
    return qat_fail(QAT_ERR_USAGE, "--official: path too long");
  const size_t len = strlen(qp) + strlen(qs) + strlen(qm) + strlen(qd) + 8;
  char *cmd = malloc(len);
  if (!cmd) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  snprintf(cmd, len, "%s -c %s %s %s", qp, qs, qm, qd);
  FILE *p = popen(cmd, "r");
  free(cmd);
  if (!p) return qat_fail(QAT_ERR_IO, "--official: cannot run %s: %s", python, strerror(errno));
  int got = fscanf(p, "%lf %lf", acc, ms);
  int status = pclose(p);
  if (got != 2 || status != 0)
    return qat_fail(QAT_ERR_UNSUPPORTED, "the official interpreter (%s with ai-edge-litert) did not evaluate %s "
                    "(exit status %d)", python, model, status);
  return QAT_OK;
}

static int parse_int(const char *opt, const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno == ERANGE || n < 1 || n > 100000000) {
    fprintf(stderr, "qat: error: compare: %s expects an integer in [1, 100000000], got '%s'\n", opt, v);
    return 2;
  }
  *out = n;
  return 0;
}

int qat_cmd_compare(int argc, char **argv) {
  const char *ckpt = NULL, *dir = NULL, *method = "minmax", *python = NULL;
  int64_t calib = 1000, limit = 0;
  int json = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_compare, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--calibrate") || !strcmp(a, "--limit") ||
               !strcmp(a, "--calibration-method") || !strcmp(a, "--official")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "-o")) dir = v;
      else if (!strcmp(a, "--official")) python = v;
      else if (!strcmp(a, "--calibration-method")) method = v;
      else if (parse_int(a, v, !strcmp(a, "--limit") ? &limit : &calib)) return 2;
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option '%s'", a);
    } else if (!ckpt) {
      ckpt = a;
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
  }
  if (!ckpt) return usage_error("%s", "needs a checkpoint (CKPT)");
  if (strcmp(method, "minmax") && strcmp(method, "percentile") && strcmp(method, "mse"))
    return usage_error("--calibration-method '%s' is unknown (expected minmax, percentile or mse)", method);
  char defdir[PATH_MAX];
  if (!dir) {
    const char *slash = strrchr(ckpt, '/');
    int n = slash ? (int)(slash - ckpt) : 0;
    if (snprintf(defdir, sizeof defdir, "%.*s%scompare", n, ckpt, slash ? "/" : "") >= (int)sizeof defdir)
      return usage_error("%s: path too long", ckpt);
    dir = defdir;
  }

  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  qat_dataset test = {0};
  char *cfg_text = NULL;
  int rc = qat_checkpoint_read_config(ckpt, &cfg_text);
  if (!rc) {
    char source[PATH_MAX + 16];
    snprintf(source, sizeof source, "%s:/config", ckpt);
    rc = qat_config_parse(cfg_text, strlen(cfg_text), source, &cfg);
  }
  free(cfg_text);
  if (!rc) rc = qat_data_load_heldout(&cfg.data, ckpt, &test, NULL);
  if (!rc && limit && limit < test.n) test.n = limit;
  if (!rc) rc = make_dir(dir);
  char testset[PATH_MAX];
  if (!rc && python) rc = write_testset(dir, &test, testset, sizeof testset);
  if (rc) goto fail;

  const int qat_ckpt = cfg.model.quantize.enabled && !cfg.model.quantize.activations_lsq;
  const int qat_lsq = cfg.model.quantize.enabled && cfg.model.quantize.activations_lsq;
  char calib_label[64];
  snprintf(calib_label, sizeof calib_label, "calibrated (%s)", method);
  row rows[6];
  int n = 0;
  rows[n++] = (row){.name = "float32", .mode = "float32", .ranges = ""};
  rows[n++] = (row){.name = "float16", .mode = "float16", .ranges = ""};
  rows[n++] = (row){.name = "dynamic", .mode = "dynamic", .ranges = "at run time"};
  rows[n++] = (row){.name = "int8", .mode = "int8", .ranges = calib_label, .calibrate = 1};
  if (qat_ckpt || qat_lsq) rows[n++] = (row){.name = "int8_qat", .mode = "int8", .ranges = "QAT"};
  rows[n++] = (row){.name = "int16x8", .mode = "int16x8", .ranges = calib_label, .calibrate = 1};
  for (int k = 0; k < n; k++) {
    row *r = &rows[k];
    qat_export_request req = {.mode = r->mode, .calibrate = r->calibrate ? calib : 0,
                              .method = r->calibrate ? method : NULL};
    qat_tflite_model t;
    uint8_t *bytes = NULL;
    char path[PATH_MAX];
    int erc = qat_export_checkpoint(ckpt, &req, &t);
    if (!erc) erc = qat_tflite_serialize(&t, &bytes, &r->size);
    qat_tflite_model_free(&t);
    if (!erc && snprintf(path, sizeof path, "%s/%s.tflite", dir, r->name) >= (int)sizeof path)
      erc = qat_fail(QAT_ERR_USAGE, "%s: path too long", dir);
    if (!erc) erc = qat_atomic_write(path, bytes, r->size);
    free(bytes);
    if (erc) {
      snprintf(r->why, sizeof r->why, "%s", qat_error_message());
      if (erc != QAT_ERR_UNSUPPORTED && erc != QAT_ERR_USAGE) {
        rc = erc;
        goto fail;
      }
      fprintf(stderr, "qat: compare: %s not available: %s\n", r->name, r->why);
      continue;
    }
    qat_tflite_eval ev;
    qat_rt_options ro = {0};
    erc = qat_eval_tflite_dataset(path, &ro, &test, "the test set", (int)cfg.model.loss, cfg.model.from_logits, &ev);
    if (erc) {
      qat_tflite_eval_free(&ev);
      if (erc != QAT_ERR_UNSUPPORTED) {
        rc = erc;
        goto fail;
      }
      snprintf(r->why, sizeof r->why, "qat's runtime: %s", qat_error_message());
      continue;
    }
    r->ok = 1;
    r->accuracy = ev.accuracy;
    metric = ev.metric;
    r->ms = ev.ms_per_sample;
    r->samples = ev.samples;
    qat_tflite_eval_free(&ev);
    if (python) {
      erc = run_official(python, path, testset, &r->off_accuracy, &r->off_ms);
      if (erc) {
        rc = erc;
        goto fail;
      }
      r->official = 1;
    }
    if (!json)
      fprintf(stderr, "qat: compare: %s: %zu bytes, %s %.4f, %.3f ms/sample\n", r->name, r->size, metric, r->accuracy,
              r->ms);
  }
  text t;
  if ((rc = text_open(&t))) goto fail;
  write_json(t.f, ckpt, rows, n, calib, method, test.n);
  if ((rc = text_write(&t, dir, "compare.json"))) goto fail;
  if ((rc = text_open(&t))) goto fail;
  write_markdown(t.f, ckpt, rows, n, calib, method, test.n);
  if ((rc = text_write(&t, dir, "compare.md"))) goto fail;
  if ((rc = write_charts(dir, ckpt, cfg.data.kind, test.n, rows, n))) goto fail;
  if (json) write_json(stdout, ckpt, rows, n, calib, method, test.n);
  else {
    print_table(rows, n);
    printf("written: %s/compare.md, compare.json, compare.svg, compare.png and the .tflite files\n", dir);
  }
  qat_dataset_free(&test);
  qat_config_free(&cfg);
  return 0;
fail:
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  qat_dataset_free(&test);
  qat_config_free(&cfg);
  return qat_exit_code(rc);
}
