/* `qat deploy MODEL.tflite -o DIR [--tflm]`: what a TensorFlow Lite Micro project needs.
 *
 *   model_data.h/.c   the file as a 16-byte aligned const unsigned char array
 *   model_settings.h  input/output shapes, types, quantization, the tensor arena size
 *   op_resolver.h     a MicroMutableOpResolver<N> with exactly the model's operators
 *   golden_data.h/.c  inputs from real test samples and the outputs qat's runtime computes
 *   model_test.c      a host C test: the goldens through qat's runtime (libqat), bit for bit
 *   tflm_main.cc      the same check for a TFLM build (MicroInterpreter, the arena, goldens)
 *   labels.h/.c       class names (labels.txt packed into the model or beside it), when there are any
 *   README.txt        the compatibility report and how to build
 *
 * Before writing anything it checks that TFLM can run the file: every operator is one TFLM
 * registers, with tensor types its kernels implement (no hybrid/dynamic-range kernels, no
 * float16 weights), static shapes. Without --tflm problems are warnings and the goldens are
 * LiteRT's reference kernels' outputs (qat run's default); with --tflm they are errors and
 * the goldens are TFLM's (qat run --flavor tflm). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qat/atomic_file.h"
#include "qat/data.h"
#include "qat/error.h"
#include "qat/runtime.h"
#include "qat/tflite.h"
#include "qat/train.h"

int qat_cmd_deploy(int argc, char **argv);

static const char usage[] =
    "usage: qat deploy MODEL.tflite -o DIR [--tflm] [--samples N] [--data fashion-mnist |\n"
    "                  --images F --labels F | --checkpoint CKPT] [--name NAME]\n"
    "\n"
    "Writes into DIR what a TensorFlow Lite Micro project needs: model_data.h/.c (the model as\n"
    "a 16-byte aligned C array), op_resolver.h (MicroMutableOpResolver<N> with exactly the\n"
    "model's operators), model_settings.h (shapes, quantization and the tensor arena size:\n"
    "qat's arena plan plus TFLM's own overheads, stated separately), golden_data.h/.c (N real\n"
    "test samples and their outputs), model_test.c (a host test of the goldens against qat's\n"
    "runtime: cc model_test.c model_data.c golden_data.c $(pkg-config --cflags --libs qat)),\n"
    "tflm_main.cc (the same check on TFLM), labels.h/.c and README.txt.\n"
    "\n"
    "It first checks that TFLM can run the file and names every operator or type it cannot.\n"
    "\n"
    "options:\n"
    "  -o DIR            output folder (created)\n"
    "  --tflm            TFLM incompatibilities are errors (exit 3), and the golden outputs are\n"
    "                    TFLM's reference kernels' (qat run --flavor tflm); default: warnings,\n"
    "                    and LiteRT's reference kernels' outputs\n"
    "  --samples N       golden vectors (default 4, at most 100)\n"
    "  --data fashion-mnist   test samples from Fashion-MNIST's test set (default)\n"
    "  --images F --labels F  test samples from an IDX pair\n"
    "  --checkpoint CKPT test samples from the test set of the checkpoint's config (any data\n"
    "                    source, with its preprocessing)\n"
    "  --name NAME       C identifier prefix (default g_model)\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: deploy: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat deploy --help')\n");
  return 2;
}

/* ---- what TFLM implements ----
 * TFLM (tensorflow/tflite-micro, tensorflow/lite/micro/kernels/) registers one kernel per
 * builtin operator and does not dispatch on the operator version; what matters is whether
 * its Prepare/Eval accepts the tensor types. Per operator: the MicroMutableOpResolver method
 * and the activation types its reference kernel implements. */
typedef struct tflm_op {
  int code;
  const char *add;   /* MicroMutableOpResolver method */
  const char *types; /* activation types Eval handles: f float32, 8 int8, 6 int16 */
} tflm_op;

static const tflm_op tflm_ops[] = {
    {QAT_RT_OP_ADD, "AddAdd", "f86"},
    {QAT_RT_OP_AVERAGE_POOL_2D, "AddAveragePool2D", "f86"},
    {QAT_RT_OP_CONV_2D, "AddConv2D", "f86"},
    {QAT_RT_OP_DEPTHWISE_CONV_2D, "AddDepthwiseConv2D", "f86"},
    {QAT_RT_OP_DEQUANTIZE, "AddDequantize", "86u"},
    {QAT_RT_OP_FULLY_CONNECTED, "AddFullyConnected", "f86"},
    {QAT_RT_OP_LOGISTIC, "AddLogistic", "f86"},
    {QAT_RT_OP_MAX_POOL_2D, "AddMaxPool2D", "f86"},
    {QAT_RT_OP_RESHAPE, "AddReshape", "f86"},
    {QAT_RT_OP_SOFTMAX, "AddSoftmax", "f86"},
    {QAT_RT_OP_MEAN, "AddMean", "f86"},
    {QAT_RT_OP_QUANTIZE, "AddQuantize", "f86u"},
};
#define N_TFLM_OPS (int)(sizeof tflm_ops / sizeof tflm_ops[0])

static const tflm_op *find_tflm_op(int code) {
  for (int i = 0; i < N_TFLM_OPS; i++)
    if (tflm_ops[i].code == code) return &tflm_ops[i];
  return NULL;
}

static char type_letter(int t) {
  switch (t) {
  case QAT_RT_FLOAT32: return 'f';
  case QAT_RT_INT8: return '8';
  case QAT_RT_INT16: return '6';
  case QAT_RT_UINT8: return 'u';
  default: return '?';
  }
}

typedef struct report {
  char lines[64][300];
  int n;
} report;

static void note(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(report *r, const char *fmt, ...) {
  if (r->n == 64) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->lines[r->n++], sizeof r->lines[0], fmt, ap);
  va_end(ap);
}

/* Every reason TFLM cannot run the model, one line each. */
static void tflm_check(qat_rt_model *m, report *r) {
  for (int k = 0; k < qat_rt_num_ops(m); k++) {
    qat_rt_op_info op;
    qat_rt_op(m, k, &op);
    const tflm_op *t = find_tflm_op(op.code);
    if (!t) {
      note(r, "operator %d: %s (version %d) has no TFLM kernel", k, op.name, op.version);
      continue;
    }
    qat_rt_tensor_info in, w;
    qat_rt_tensor(m, op.inputs[0], &in);
    if (op.code == QAT_RT_OP_DEQUANTIZE && in.type == QAT_RT_FLOAT16) {
      note(r, "operator %d: DEQUANTIZE of FLOAT16 weights (a float16 export): TFLM's DEQUANTIZE takes int8, "
              "int16 or uint8 only",
           k);
      continue;
    }
    if (!strchr(t->types, type_letter(in.type)))
      note(r, "operator %d: %s on %s input: TFLM's kernel does not implement that type", k, op.name,
           qat_rt_type_name(in.type));
    if ((op.code == QAT_RT_OP_CONV_2D || op.code == QAT_RT_OP_DEPTHWISE_CONV_2D ||
         op.code == QAT_RT_OP_FULLY_CONNECTED) &&
        op.n_inputs > 1 && op.inputs[1] >= 0) {
      qat_rt_tensor(m, op.inputs[1], &w);
      if (in.type == QAT_RT_FLOAT32 && w.type != QAT_RT_FLOAT32)
        note(r, "operator %d: %s with float32 input and %s weights (dynamic-range / hybrid): TFLM has no "
                "hybrid kernels",
             k, op.name, qat_rt_type_name(w.type));
    }
  }
  for (int i = 0; i < qat_rt_num_tensors(m); i++) {
    qat_rt_tensor_info t;
    qat_rt_tensor(m, i, &t);
    if (t.type == QAT_RT_FLOAT16 && !t.is_const)
      note(r, "tensor %d '%s': FLOAT16 activations: TFLM kernels do not compute in float16", i, t.name);
  }
}

/* ---- TFLM's own arena overheads (on top of the activations) ----
 * From TFLM's MicroAllocator (tensorflow/lite/micro/micro_allocator.cc): a TfLiteEvalTensor
 * per tensor (12 bytes on a 32-bit MCU, 24 on a 64-bit host), a NodeAndRegistration per
 * operator (TfLiteNode + registration pointer: ~32 / 64 bytes), a TfLiteIntArray per node's
 * inputs/outputs (kept in the flatbuffer, 0), the interpreter's persistent TfLiteTensor for
 * each graph input and output (~64 / 112 bytes), per-operator OpData (conv, depthwise: two
 * int32 per output channel + ~64 bytes; fully connected, add, softmax, pools, mean: ~64-1100
 * bytes: int16 SOFTMAX keeps two 513-entry int16 lookup tables), and the allocator's own
 * structures (~256 bytes). An estimate, stated as such; qat inspect shows the plan's figure. */
typedef struct arena_estimate {
  size_t activations;  /* qat's planner */
  size_t tensors, nodes, op_data, fixed;
  size_t total32, total64;
} arena_estimate;

static void estimate_arena(qat_rt_model *m, arena_estimate *e) {
  memset(e, 0, sizeof *e);
  e->activations = qat_rt_arena_bytes(m);
  size_t nt = (size_t)qat_rt_num_tensors(m), no = (size_t)qat_rt_num_ops(m);
  size_t op32 = 0;
  for (int k = 0; k < (int)no; k++) {
    qat_rt_op_info op;
    qat_rt_op(m, k, &op);
    qat_rt_tensor_info out, in;
    qat_rt_tensor(m, op.outputs[0], &out);
    qat_rt_tensor(m, op.inputs[0], &in);
    int ch = out.rank ? out.dims[out.rank - 1] : 1;
    switch (op.code) {
    case QAT_RT_OP_CONV_2D:
    case QAT_RT_OP_DEPTHWISE_CONV_2D: op32 += 64 + 8 * (size_t)ch; break;
    case QAT_RT_OP_FULLY_CONNECTED: op32 += 64; break;
    case QAT_RT_OP_SOFTMAX: op32 += in.type == QAT_RT_INT16 ? 64 + 2 * 513 * 2 : 64; break;
    case QAT_RT_OP_RESHAPE: break;
    default: op32 += 64; break;
    }
  }
  size_t io = (size_t)(qat_rt_num_inputs(m) + qat_rt_num_outputs(m));
  /* per-structure sizes for a 32-bit MCU; the 64-bit figures were measured with the
   * tflite-micro package's RecordingMicroAllocator (24 B per TfLiteEvalTensor, 64 B per
   * NodeAndRegistration, 96 B per graph input/output TfLiteTensor with its quantization) */
  e->tensors = 12 * nt + 64 * io;
  e->nodes = 32 * no;
  e->op_data = op32;
  e->fixed = 400;
  e->total32 = e->activations + e->tensors + e->nodes + e->op_data + e->fixed;
  e->total64 = e->activations + 24 * nt + 96 * io + 64 * no + op32 + 700;
}

static size_t round_up(size_t v, size_t q) { return (v + q - 1) / q * q; }

/* ---- data ---- */
static int load_fashion_test(qat_dataset *ds) {
  const char *dir = getenv(QAT_FASHION_MNIST_DIR_ENV);
  if (!dir || !*dir) dir = QAT_FASHION_MNIST_DIR;
  static const char *const stems[2] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  char paths[2][PATH_MAX];
  for (int i = 0; i < 2; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/%s.gz", dir, stems[i]);
    if (access(paths[i], F_OK) != 0) snprintf(paths[i], sizeof paths[i], "%s/%s", dir, stems[i]);
  }
  return qat_idx_load(paths[0], paths[1], 10, ds);
}

/* The test set of the checkpoint's config (with its preprocessing): any data source. */
static int load_checkpoint_test(const char *ckpt, qat_dataset *test) {
  qat_config cfg;
  int rc = qat_checkpoint_config(ckpt, &cfg);
  if (rc) return rc;
  rc = qat_data_load_heldout(&cfg.data, ckpt, test, NULL);
  qat_config_free(&cfg);
  return rc;
}

/* TFLite's AffineQuantize of pixel / 255 (as qat eval MODEL.tflite feeds a model). */
static int32_t quantize(float x, float scale, int64_t zp, int32_t lo, int32_t hi) {
  float r = roundf(x / scale);
  double v = (double)r + (double)zp;
  return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

static int fill_input(const qat_rt_tensor_info *t, const float *xs, void *dst) {
  float s = t->n_scales ? t->scales[0] : 1.0f;
  int64_t zp = t->n_scales ? t->zero_points[0] : 0;
  for (int64_t k = 0; k < t->n_elems; k++) {
    float x = xs[k];
    switch (t->type) {
    case QAT_RT_FLOAT32: ((float *)dst)[k] = x; break;
    case QAT_RT_INT8: ((int8_t *)dst)[k] = (int8_t)quantize(x, s, zp, -128, 127); break;
    case QAT_RT_INT16: ((int16_t *)dst)[k] = (int16_t)quantize(x, s, zp, -32768, 32767); break;
    case QAT_RT_UINT8: ((uint8_t *)dst)[k] = (uint8_t)quantize(x, s, zp, 0, 255); break;
    default: return qat_fail(QAT_ERR_UNSUPPORTED, "input type %s is not an image type", qat_rt_type_name(t->type));
    }
  }
  return 0;
}

/* ---- writing C ---- */
typedef struct out_file {
  qat_atomic_file af;
  FILE *f;
  int open;
} out_file;

static int begin(out_file *o, const char *dir, const char *name) {
  char path[4300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int rc = qat_atomic_begin(&o->af, path);
  o->f = rc ? NULL : o->af.fp;
  o->open = !rc;
  return rc;
}

static int commit(out_file *o) {
  o->open = 0;
  if (ferror(o->f)) {
    qat_atomic_abort(&o->af);
    return qat_fail(QAT_ERR_IO, "write error");
  }
  return qat_atomic_commit(&o->af);
}

static const char *c_type(int t) {
  switch (t) {
  case QAT_RT_FLOAT32: return "float";
  case QAT_RT_INT8: return "int8_t";
  case QAT_RT_INT16: return "int16_t";
  case QAT_RT_UINT8: return "uint8_t";
  case QAT_RT_INT32: return "int32_t";
  default: return "uint8_t";
  }
}

static void c_values(FILE *f, int type, const void *data, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    if (k % 16 == 0) fputs("\n    ", f);
    switch (type) {
    case QAT_RT_FLOAT32: {
      float v = ((const float *)data)[k];
      if (isfinite(v)) fprintf(f, "%.9gf, ", (double)v);
      else fprintf(f, "%s, ", isnan(v) ? "NAN" : v > 0 ? "INFINITY" : "-INFINITY");
      break;
    }
    case QAT_RT_INT8: fprintf(f, "%d, ", ((const int8_t *)data)[k]); break;
    case QAT_RT_INT16: fprintf(f, "%d, ", ((const int16_t *)data)[k]); break;
    case QAT_RT_INT32: fprintf(f, "%d, ", (int)((const int32_t *)data)[k]); break;
    default: fprintf(f, "%u, ", ((const uint8_t *)data)[k]); break;
    }
  }
}

static void c_ident(char *out, size_t n, const char *s) {
  size_t k = 0;
  for (; *s && k + 1 < n; s++) out[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                                          (*s >= '0' && *s <= '9') ? *s : '_');
  out[k] = 0;
}

static void c_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\%03o", (unsigned char)*s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static int read_file(const char *path, uint8_t **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (n < 0) {
    fclose(f);
    return qat_fail(QAT_ERR_IO, "%s: cannot read its size", path);
  }
  *data = malloc((size_t)n + 1);
  if (!*data) {
    fclose(f);
    return qat_fail(QAT_ERR_NOMEM, "out of memory");
  }
  size_t got = fread(*data, 1, (size_t)n, f);
  fclose(f);
  if (got != (size_t)n) {
    free(*data);
    return qat_fail(QAT_ERR_IO, "%s: short read", path);
  }
  (*data)[n] = 0;
  *size = (size_t)n;
  return 0;
}

typedef struct deploy {
  const char *model_path, *dir, *name;
  int tflm, samples;
  qat_rt_model *m;
  uint8_t *bytes;
  size_t size;
  qat_dataset ds;
  char **labels;
  int n_labels;
  report problems;
  arena_estimate arena;
} deploy;

static void shape_list(FILE *f, const qat_rt_tensor_info *t) {
  for (int i = 0; i < t->rank; i++) fprintf(f, "%s%d", i ? ", " : "", t->dims[i]);
}

static int write_model_data(deploy *d) {
  out_file o;
  int rc = begin(&o, d->dir, "model_data.h");
  if (rc) return rc;
  fprintf(o.f,
          "/* %s as a C array (written by qat deploy). */\n#ifndef MODEL_DATA_H\n#define MODEL_DATA_H\n\n"
          "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
          "/* 16-byte aligned, as TFLM needs for flatbuffer access to its buffers. */\n"
          "extern const unsigned char %s_data[];\nextern const unsigned int %s_data_len;\n\n"
          "#ifdef __cplusplus\n}\n#endif\n\n#endif\n",
          d->model_path, d->name, d->name);
  if ((rc = commit(&o))) return rc;
  if ((rc = begin(&o, d->dir, "model_data.c"))) return rc;
  fprintf(o.f, "/* %s: %zu bytes (written by qat deploy). */\n#include \"model_data.h\"\n\n", d->model_path, d->size);
  fprintf(o.f, "_Alignas(16) const unsigned char %s_data[] = {", d->name);
  for (size_t k = 0; k < d->size; k++) {
    if (k % 16 == 0) fputs("\n    ", o.f);
    fprintf(o.f, "0x%02x,", d->bytes[k]);
  }
  fprintf(o.f, "\n};\nconst unsigned int %s_data_len = %zu;\n", d->name, d->size);
  return commit(&o);
}

static int write_settings(deploy *d) {
  out_file o;
  int rc = begin(&o, d->dir, "model_settings.h");
  if (rc) return rc;
  const arena_estimate *e = &d->arena;
  FILE *f = o.f;
  fprintf(f, "/* Settings of %s (written by qat deploy). */\n#ifndef MODEL_SETTINGS_H\n#define MODEL_SETTINGS_H\n\n",
          d->model_path);
  fprintf(f,
          "/* Tensor arena. qat's arena plan (qat inspect's peak memory) needs %zu bytes for the activations;\n"
          " * TFLM adds its own structures in the same arena, estimated for a 32-bit MCU as\n"
          " *   %zu  tensor records (TfLiteEvalTensor per tensor, TfLiteTensor per graph input/output)\n"
          " *   %zu  node records (NodeAndRegistration per operator)\n"
          " *   %zu  per-operator data (per-channel multipliers and shifts, lookup tables)\n"
          " *   %zu  allocator bookkeeping\n"
          " * = %zu bytes; on a 64-bit host (pointers twice as wide) about %zu. TFLM's own planner may pack\n"
          " * the activations differently from qat's; the recommended size adds 25%% and rounds to 1 KiB.\n"
          " * MicroInterpreter::arena_used_bytes() reports the real figure after AllocateTensors(). */\n",
          e->activations, e->tensors, e->nodes, e->op_data, e->fixed, e->total32, e->total64);
  fprintf(f, "#define %s_ARENA_ACTIVATION_BYTES %zu\n#define %s_ARENA_ESTIMATE_BYTES %zu\n", "MODEL", e->activations,
          "MODEL", e->total32);
  fprintf(f, "#define MODEL_ARENA_BYTES %zu\n\n", round_up(e->total64 + e->total64 / 4, 1024));
  for (int io = 0; io < 2; io++) {
    int n = io ? qat_rt_num_outputs(d->m) : qat_rt_num_inputs(d->m);
    for (int i = 0; i < n; i++) {
      qat_rt_tensor_info t;
      qat_rt_tensor(d->m, io ? qat_rt_output(d->m, i) : qat_rt_input(d->m, i), &t);
      const char *p = io ? "OUTPUT" : "INPUT";
      fprintf(f, "/* %s %d: '%s' %s [", io ? "output" : "input", i, t.name, qat_rt_type_name(t.type));
      shape_list(f, &t);
      fprintf(f, "] */\n#define MODEL_%s%d_ELEMENTS %lld\n#define MODEL_%s%d_BYTES %zu\n", p, i, (long long)t.n_elems, p,
              i, t.bytes);
      if (t.n_scales == 1)
        fprintf(f, "#define MODEL_%s%d_SCALE %.9gf\n#define MODEL_%s%d_ZERO_POINT %lld\n", p, i, (double)t.scales[0], p,
                i, (long long)t.zero_points[0]);
      fputc('\n', f);
    }
  }
  if (d->n_labels) fprintf(f, "#define MODEL_NUM_LABELS %d\n\n", d->n_labels);
  fputs("#endif\n", f);
  return commit(&o);
}

static int write_resolver(deploy *d, int *n_ops) {
  int codes[64], n = 0;
  for (int k = 0; k < qat_rt_num_ops(d->m); k++) {
    qat_rt_op_info op;
    qat_rt_op(d->m, k, &op);
    int seen = 0;
    for (int i = 0; i < n; i++) seen |= codes[i] == op.code;
    if (!seen && n < 64) codes[n++] = op.code;
  }
  *n_ops = n;
  out_file o;
  int rc = begin(&o, d->dir, "op_resolver.h");
  if (rc) return rc;
  FILE *f = o.f;
  fprintf(f, "/* The TFLM operators of %s, exactly (written by qat deploy). C++. */\n#ifndef MODEL_OP_RESOLVER_H\n"
             "#define MODEL_OP_RESOLVER_H\n\n#include \"tensorflow/lite/micro/micro_mutable_op_resolver.h\"\n\n",
          d->model_path);
  fprintf(f, "using ModelOpResolver = tflite::MicroMutableOpResolver<%d>;\n\n", n);
  fprintf(f, "static inline TfLiteStatus RegisterModelOps(ModelOpResolver& resolver) {\n");
  for (int i = 0; i < n; i++) {
    const tflm_op *t = find_tflm_op(codes[i]);
    if (t) fprintf(f, "  if (resolver.%s() != kTfLiteOk) return kTfLiteError;\n", t->add);
    else fprintf(f, "#error \"%s has no TFLM kernel\"\n", qat_rt_op_name(codes[i]));
  }
  fprintf(f, "  return kTfLiteOk;\n}\n\n#endif\n");
  return commit(&o);
}

static int write_goldens(deploy *d) {
  const int in_idx = qat_rt_input(d->m, 0), out_idx = qat_rt_output(d->m, 0);
  qat_rt_tensor_info ti, to;
  qat_rt_tensor(d->m, in_idx, &ti);
  qat_rt_tensor(d->m, out_idx, &to);
  if (ti.n_elems != (int64_t)d->ds.h * d->ds.w * d->ds.c)
    return qat_fail(QAT_ERR_USAGE, "%s: input '%s' takes %lld values, the test samples have %d x %d x %d",
                    d->model_path, ti.name, (long long)ti.n_elems, d->ds.h, d->ds.w, d->ds.c);
  int n = d->samples < d->ds.n ? d->samples : (int)d->ds.n;
  uint8_t *ins = malloc(ti.bytes * (size_t)n), *outs = malloc(to.bytes * (size_t)n);
  int rc = 0;
  if (!ins || !outs) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto done;
  }
  /* samples spread over the test set */
  int64_t idx[100];
  float *xs = malloc(sizeof(float) * (size_t)ti.n_elems);
  if (!xs) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int s = 0; s < n; s++) {
    idx[s] = (int64_t)s * d->ds.n / n;
    qat_dataset_get_floats(&d->ds, idx[s], xs); /* the data's preprocessing: pixel / 255 by default */
    rc = fill_input(&ti, xs, ins + ti.bytes * (size_t)s);
    if (rc) {
      free(xs);
      goto done;
    }
    memcpy(qat_rt_tensor_data(d->m, in_idx), ins + ti.bytes * (size_t)s, ti.bytes);
    if ((rc = qat_rt_invoke(d->m))) {
      free(xs);
      goto done;
    }
    memcpy(outs + to.bytes * (size_t)s, qat_rt_tensor_data(d->m, out_idx), to.bytes);
  }
  free(xs);
  out_file o;
  if ((rc = begin(&o, d->dir, "golden_data.h"))) goto done;
  FILE *f = o.f;
  fprintf(f,
          "/* Golden vectors of %s (written by qat deploy): %d test samples, inputs as the model takes them\n"
          " * (pixel / 255, quantized as TFLite's QUANTIZE does), outputs as %s's reference kernels compute them. */\n"
          "#ifndef GOLDEN_DATA_H\n#define GOLDEN_DATA_H\n\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n"
          "#endif\n\n#define GOLDEN_COUNT %d\n#define GOLDEN_INPUT_ELEMENTS %lld\n#define GOLDEN_OUTPUT_ELEMENTS %lld\n"
          "#define GOLDEN_FLAVOR_TFLM %d\n\n",
          d->model_path, n, d->tflm ? "TFLite Micro" : "TensorFlow Lite (LiteRT)", n, (long long)ti.n_elems,
          (long long)to.n_elems, d->tflm);
  fprintf(f, "typedef %s golden_input_t;\ntypedef %s golden_output_t;\n\n", c_type(ti.type), c_type(to.type));
  fprintf(f, "extern const golden_input_t golden_inputs[GOLDEN_COUNT][GOLDEN_INPUT_ELEMENTS];\n"
             "extern const golden_output_t golden_outputs[GOLDEN_COUNT][GOLDEN_OUTPUT_ELEMENTS];\n"
             "extern const int golden_labels[GOLDEN_COUNT];   /* the samples' true classes */\n"
             "extern const long golden_sample_index[GOLDEN_COUNT];\n\n"
             "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
  if ((rc = commit(&o))) goto done;
  if ((rc = begin(&o, d->dir, "golden_data.c"))) goto done;
  f = o.f;
  fprintf(f, "/* Golden vectors of %s (written by qat deploy). */\n#include <math.h>\n\n#include \"golden_data.h\"\n\n",
          d->model_path);
  fprintf(f, "const golden_input_t golden_inputs[GOLDEN_COUNT][GOLDEN_INPUT_ELEMENTS] = {\n");
  for (int s = 0; s < n; s++) {
    fprintf(f, "  { /* test sample %lld */", (long long)idx[s]);
    c_values(f, ti.type, ins + ti.bytes * (size_t)s, ti.n_elems);
    fprintf(f, "\n  },\n");
  }
  fprintf(f, "};\n\nconst golden_output_t golden_outputs[GOLDEN_COUNT][GOLDEN_OUTPUT_ELEMENTS] = {\n");
  for (int s = 0; s < n; s++) {
    fprintf(f, "  {");
    c_values(f, to.type, outs + to.bytes * (size_t)s, to.n_elems);
    fprintf(f, "\n  },\n");
  }
  fprintf(f, "};\n\nconst int golden_labels[GOLDEN_COUNT] = {");
  for (int s = 0; s < n; s++) fprintf(f, "%s%d", s ? ", " : "", d->ds.labels[idx[s]]);
  fprintf(f, "};\nconst long golden_sample_index[GOLDEN_COUNT] = {");
  for (int s = 0; s < n; s++) fprintf(f, "%s%lld", s ? ", " : "", (long long)idx[s]);
  fprintf(f, "};\n");
  rc = commit(&o);
done:
  free(ins);
  free(outs);
  return rc;
}

static const char model_test_c[] =
    "/* Host test (written by qat deploy): every golden input through qat's runtime (libqat), the\n"
    " * output compared with the golden output byte for byte.\n"
    " *   cc -std=c11 model_test.c model_data.c golden_data.c $(pkg-config --cflags --libs qat) */\n"
    "#include <stdio.h>\n#include <string.h>\n\n#include <qat/error.h>\n#include <qat/runtime.h>\n\n"
    "#include \"golden_data.h\"\n#include \"model_data.h\"\n\n"
    "int main(void) {\n"
    "  qat_rt_options opt = {0};\n"
    "  opt.flavor = GOLDEN_FLAVOR_TFLM ? QAT_RT_FLAVOR_TFLM : QAT_RT_FLAVOR_LITERT;\n"
    "  qat_rt_model *m = NULL;\n"
    "  if (qat_rt_model_load_buffer(@NAME@_data, @NAME@_data_len, \"model_data\", &opt, &m)) {\n"
    "    fprintf(stderr, \"model_test: %s\\n\", qat_error_message());\n"
    "    return 1;\n"
    "  }\n"
    "  const int in = qat_rt_input(m, 0), out = qat_rt_output(m, 0);\n"
    "  int ok = 0;\n"
    "  for (int s = 0; s < GOLDEN_COUNT; s++) {\n"
    "    memcpy(qat_rt_tensor_data(m, in), golden_inputs[s], sizeof golden_inputs[s]);\n"
    "    if (qat_rt_invoke(m)) {\n"
    "      fprintf(stderr, \"model_test: %s\\n\", qat_error_message());\n"
    "      qat_rt_model_free(m);\n"
    "      return 1;\n"
    "    }\n"
    "    if (!memcmp(qat_rt_tensor_data(m, out), golden_outputs[s], sizeof golden_outputs[s])) ok++;\n"
    "    else fprintf(stderr, \"model_test: golden vector %d (test sample %ld) differs\\n\", s, golden_sample_index[s]);\n"
    "  }\n"
    "  qat_rt_model_free(m);\n"
    "  printf(\"model_test: %d/%d golden vectors match\\n\", ok, GOLDEN_COUNT);\n"
    "  return ok == GOLDEN_COUNT ? 0 : 1;\n"
    "}\n";

static const char tflm_main_cc[] =
    "// TFLM check (written by qat deploy): the model in a MicroInterpreter with the generated op\n"
    "// resolver and arena size, every golden input, the output compared byte for byte. Build it inside\n"
    "// a TFLM project (tensorflow/lite/micro) with model_data.c and golden_data.c.\n"
    "#include <cstdio>\n#include <cstring>\n\n"
    "#include \"tensorflow/lite/micro/micro_interpreter.h\"\n#include \"tensorflow/lite/schema/schema_generated.h\"\n\n"
    "#include \"golden_data.h\"\n#include \"model_data.h\"\n#include \"model_settings.h\"\n#include \"op_resolver.h\"\n\n"
    "alignas(16) static uint8_t tensor_arena[MODEL_ARENA_BYTES];\n\n"
    "int main() {\n"
    "  const tflite::Model* model = tflite::GetModel(@NAME@_data);\n"
    "  static ModelOpResolver resolver;\n"
    "  if (RegisterModelOps(resolver) != kTfLiteOk) return 1;\n"
    "  tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, MODEL_ARENA_BYTES);\n"
    "  if (interpreter.AllocateTensors() != kTfLiteOk) return 1;\n"
    "  std::printf(\"arena used: %u of %u bytes\\n\", (unsigned)interpreter.arena_used_bytes(), (unsigned)MODEL_ARENA_BYTES);\n"
    "  int ok = 0;\n"
    "  for (int s = 0; s < GOLDEN_COUNT; s++) {\n"
    "    std::memcpy(interpreter.input(0)->data.raw, golden_inputs[s], sizeof golden_inputs[s]);\n"
    "    if (interpreter.Invoke() != kTfLiteOk) return 1;\n"
    "    ok += !std::memcmp(interpreter.output(0)->data.raw, golden_outputs[s], sizeof golden_outputs[s]);\n"
    "  }\n"
    "  std::printf(\"%d/%d golden vectors match\\n\", ok, GOLDEN_COUNT);\n"
    "  return ok == GOLDEN_COUNT ? 0 : 1;\n"
    "}\n";

static int write_template(deploy *d, const char *file, const char *tmpl) {
  out_file o;
  int rc = begin(&o, d->dir, file);
  if (rc) return rc;
  for (const char *p = tmpl; *p;) {
    const char *at = strstr(p, "@NAME@");
    if (!at) {
      fputs(p, o.f);
      break;
    }
    fwrite(p, 1, (size_t)(at - p), o.f);
    fputs(d->name, o.f);
    p = at + 6;
  }
  return commit(&o);
}

static int write_labels(deploy *d) {
  if (!d->n_labels) return 0;
  out_file o;
  int rc = begin(&o, d->dir, "labels.h");
  if (rc) return rc;
  fprintf(o.f, "/* Class names of %s, in label order (written by qat deploy). */\n#ifndef MODEL_LABELS_H\n"
               "#define MODEL_LABELS_H\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n#define MODEL_LABEL_COUNT %d\n"
               "extern const char *const model_labels[MODEL_LABEL_COUNT];\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n",
          d->model_path, d->n_labels);
  if ((rc = commit(&o))) return rc;
  if ((rc = begin(&o, d->dir, "labels.c"))) return rc;
  fprintf(o.f, "#include \"labels.h\"\n\nconst char *const model_labels[MODEL_LABEL_COUNT] = {\n");
  for (int i = 0; i < d->n_labels; i++) {
    fputs("    ", o.f);
    c_string(o.f, d->labels[i]);
    fputs(",\n", o.f);
  }
  fputs("};\n", o.f);
  return commit(&o);
}

static int write_readme(deploy *d, int n_ops) {
  out_file o;
  int rc = begin(&o, d->dir, "README.txt");
  if (rc) return rc;
  FILE *f = o.f;
  fprintf(f, "qat deploy of %s (%zu bytes, %d operators, %d distinct)\n\n", d->model_path, d->size,
          qat_rt_num_ops(d->m), n_ops);
  if (d->problems.n) {
    fprintf(f, "TensorFlow Lite Micro CANNOT run this file:\n");
    for (int i = 0; i < d->problems.n; i++) fprintf(f, "  - %s\n", d->problems.lines[i]);
  } else {
    fprintf(f, "TensorFlow Lite Micro can run this file: every operator has a TFLM kernel for its types, shapes are "
               "static.\n");
  }
  fprintf(f, "\nTensor arena: %zu bytes of activations (qat's plan) + TFLM overheads (estimate) = %zu bytes on a "
             "32-bit MCU, ~%zu on a 64-bit host; MODEL_ARENA_BYTES in model_settings.h.\n",
          d->arena.activations, d->arena.total32, d->arena.total64);
  fprintf(f, "\nGolden outputs: %s reference kernels.\n\nHost test:\n  cc -std=c11 model_test.c model_data.c "
             "golden_data.c $(pkg-config --cflags --libs qat) -o model_test && ./model_test\n"
             "\nIn a TFLM project: add model_data.c, golden_data.c and tflm_main.cc; op_resolver.h registers the ops.\n",
          d->tflm ? "TensorFlow Lite Micro's" : "TensorFlow Lite's (LiteRT)");
  return commit(&o);
}

static int mkdir_p(const char *dir) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0777) && errno != EEXIST) return qat_fail(QAT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
      *p = '/';
    }
  if (mkdir(tmp, 0777) && errno != EEXIST) return qat_fail(QAT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
  return 0;
}

int qat_cmd_deploy(int argc, char **argv) {
  deploy d;
  memset(&d, 0, sizeof d);
  d.samples = 4;
  d.name = "g_model";
  const char *images = NULL, *labels = NULL, *ckpt = NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--tflm")) {
      d.tflm = 1;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--samples") || !strcmp(a, "--data") || !strcmp(a, "--images") ||
               !strcmp(a, "--labels") || !strcmp(a, "--name") || !strcmp(a, "--checkpoint")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "-o")) d.dir = v;
      else if (!strcmp(a, "--images")) images = v;
      else if (!strcmp(a, "--labels")) labels = v;
      else if (!strcmp(a, "--checkpoint")) ckpt = v;
      else if (!strcmp(a, "--name")) {
        char id[64];
        c_ident(id, sizeof id, v);
        if (strcmp(id, v) || (v[0] >= '0' && v[0] <= '9') || !v[0])
          return usage_error("--name '%s' is not a C identifier", v);
        d.name = v;
      } else if (!strcmp(a, "--data")) {
        if (strcmp(v, "fashion-mnist")) return usage_error("--data expects fashion-mnist, got '%s'", v);
      } else {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || end == v || n < 1 || n > 100) return usage_error("--samples '%s' is not a count in [1, 100]", v);
        d.samples = (int)n;
      }
    } else if (a[0] == '-') {
      return usage_error("unknown option '%s'", a);
    } else if (!d.model_path) {
      d.model_path = a;
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
  }
  if (!d.model_path) return usage_error("%s", "needs a MODEL.tflite");
  if (!d.dir) return usage_error("%s", "needs -o DIR");
  if (!images != !labels) return usage_error("%s", "--images and --labels go together");
  if (images && ckpt) return usage_error("%s", "--checkpoint and --images/--labels exclude each other");

  int rc;
  qat_rt_options opt = {.flavor = d.tflm ? QAT_RT_FLAVOR_TFLM : QAT_RT_FLAVOR_LITERT};
  if ((rc = read_file(d.model_path, &d.bytes, &d.size))) goto fail;
  if ((rc = qat_rt_model_load_buffer(d.bytes, d.size, d.model_path, &opt, &d.m))) goto fail;
  if (qat_rt_num_inputs(d.m) != 1 || qat_rt_num_outputs(d.m) != 1) {
    rc = qat_fail(QAT_ERR_UNSUPPORTED, "%s: has %d inputs and %d outputs; deploy writes goldens for one input and "
                  "one output", d.model_path, qat_rt_num_inputs(d.m), qat_rt_num_outputs(d.m));
    goto fail;
  }
  tflm_check(d.m, &d.problems);
  for (int i = 0; i < d.problems.n; i++)
    fprintf(stderr, "qat: %s: %s: TFLM: %s\n", d.tflm ? "error" : "warning", d.model_path, d.problems.lines[i]);
  if (d.tflm && d.problems.n) {
    fprintf(stderr, "qat: error: %s: TensorFlow Lite Micro cannot run this file (%d problem%s above)\n", d.model_path,
            d.problems.n, d.problems.n > 1 ? "s" : "");
    rc = QAT_ERR_FORMAT; /* exit 3: the model file is the problem */
    goto out;
  }
  estimate_arena(d.m, &d.arena);
  if ((rc = qat_tflite_read_labels(d.model_path, d.bytes, d.size, &d.labels, &d.n_labels))) goto fail;
  if (images) rc = qat_idx_load(images, labels, 256, &d.ds);
  else if (ckpt) rc = load_checkpoint_test(ckpt, &d.ds);
  else rc = load_fashion_test(&d.ds);
  if (rc) goto fail;
  int n_ops = 0;
  if ((rc = mkdir_p(d.dir)) || (rc = write_model_data(&d)) || (rc = write_settings(&d)) ||
      (rc = write_resolver(&d, &n_ops)) || (rc = write_goldens(&d)) ||
      (rc = write_template(&d, "model_test.c", model_test_c)) || (rc = write_template(&d, "tflm_main.cc", tflm_main_cc)) ||
      (rc = write_labels(&d)) || (rc = write_readme(&d, n_ops)))
    goto fail;
  printf("%s: %s, %zu bytes, %d ops (%d kinds) -> %s/\n", d.model_path,
         d.problems.n ? "NOT runnable on TFLM (see README.txt)" : "TFLM can run it", d.size, qat_rt_num_ops(d.m), n_ops,
         d.dir);
  printf("arena: %zu bytes activations (qat plan) + %zu TFLM overheads (32-bit estimate) = %zu; MODEL_ARENA_BYTES %zu\n",
         d.arena.activations, d.arena.total32 - d.arena.activations, d.arena.total32,
         round_up(d.arena.total64 + d.arena.total64 / 4, 1024));
  printf("goldens: %d test samples (%s kernels)\n", d.samples < d.ds.n ? d.samples : (int)d.ds.n,
         d.tflm ? "TFLM" : "LiteRT reference");
  rc = 0;
  goto out;
fail:
  fprintf(stderr, "qat: error: deploy: %s\n", qat_error_message());
out:
  for (int i = 0; i < d.n_labels; i++) free(d.labels[i]);
  free(d.labels);
  qat_dataset_free(&d.ds);
  qat_rt_model_free(d.m);
  free(d.bytes);
  return rc ? qat_exit_code(rc) : 0;
}
