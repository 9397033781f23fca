/* qat run: one inference of a .tflite model on raw tensor files, for scripts, golden tests
 * and firmware test vectors. Files hold exactly the tensor's bytes, little-endian, in the
 * model's own dtype and order (one --input per model input, one --output per model output,
 * in the model's order). Outputs are written atomically. Exit codes: 0, 2 usage, 3 a model
 * or input file that is malformed or cannot be run, 4 I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/runtime.h"

int qat_cmd_run(int argc, char **argv);

static const char usage_run[] =
    "usage: qat run MODEL.tflite --input F [--input F ...] --output F [--output F ...]\n"
    "\n"
    "Runs MODEL once with qat's integer runtime (bit-exact with TensorFlow Lite's reference\n"
    "kernels). Each --input file holds one model input as raw little-endian bytes in the\n"
    "input's own type (int8, uint8, float32...) and exact size, in the model's input order;\n"
    "each --output file receives one model output the same way.\n"
    "\n"
    "options:\n"
    "  --input F    a raw input tensor file (repeat for each model input)\n"
    "  --output F   where to write a raw output tensor (repeat for each model output)\n"
    "  --flavor K   litert (default): as ai-edge-litert's reference kernels; tflm: as\n"
    "               TensorFlow Lite Micro's (they differ in FULLY_CONNECTED int8 rounding)\n"
    "  -h, --help   this help\n";

#define MAX_FILES 64

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: run: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat run --help')\n");
  return 2;
}

static void shape_str(char *buf, size_t len, const qat_rt_tensor_info *t) {
  size_t k = (size_t)snprintf(buf, len, "%s [", qat_rt_type_name(t->type));
  for (int i = 0; i < t->rank && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", t->dims[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

/* Reads exactly t->bytes from path into dst. */
static int read_input(const char *path, int i, const qat_rt_tensor_info *t, void *dst) {
  char shape[160];
  shape_str(shape, sizeof shape, t);
  FILE *f = fopen(path, "rb");
  if (!f) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int rc = QAT_OK;
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = qat_fail(QAT_ERR_IO, "%s: not a regular file", path);
    goto done;
  }
  if ((uint64_t)st.st_size != (uint64_t)t->bytes) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %lld bytes, but input %d '%s' (%s) takes %zu", path,
                  (long long)st.st_size, i, t->name, shape, t->bytes);
    goto done;
  }
  if (t->bytes && fread(dst, 1, t->bytes, f) != t->bytes)
    rc = qat_fail(QAT_ERR_IO, "%s: read error: %s", path,
                  ferror(f) ? strerror(errno) : "file shrank while reading");
done:
  fclose(f);
  return rc;
}

int qat_cmd_run(int argc, char **argv) {
  const char *model_path = NULL, *inputs[MAX_FILES], *outputs[MAX_FILES];
  int n_in = 0, n_out = 0;
  qat_rt_options opt = {0};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_run, stdout);
      return 0;
    } else if (!strcmp(a, "--input") || !strcmp(a, "--output")) {
      if (i + 1 >= argc) return usage_error("%s needs a file", a);
      const int is_in = a[2] == 'i';
      if ((is_in ? n_in : n_out) >= MAX_FILES) return usage_error("too many %s files", a);
      if (is_in)
        inputs[n_in++] = argv[++i];
      else
        outputs[n_out++] = argv[++i];
    } else if (!strcmp(a, "--flavor")) {
      if (i + 1 >= argc) return usage_error("%s needs litert or tflm", a);
      const char *f = argv[++i];
      if (!strcmp(f, "litert"))
        opt.flavor = QAT_RT_FLAVOR_LITERT;
      else if (!strcmp(f, "tflm"))
        opt.flavor = QAT_RT_FLAVOR_TFLM;
      else
        return usage_error("--flavor expects litert or tflm, got '%s'", f);
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option '%s'", a);
    } else if (!model_path) {
      model_path = a;
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
  }
  if (!model_path) return usage_error("%s", "needs MODEL.tflite");

  qat_rt_model *m = NULL;
  int rc = qat_rt_model_load_file(model_path, &opt, &m);
  if (rc) goto report;
  const int mi = qat_rt_num_inputs(m), mo = qat_rt_num_outputs(m);
  if (n_in != mi || n_out != mo) {
    fprintf(stderr,
            "qat: error: run: %s has %d input%s and %d output%s; got %d --input and %d "
            "--output\n(see 'qat run --help')\n",
            model_path, mi, mi == 1 ? "" : "s", mo, mo == 1 ? "" : "s", n_in, n_out);
    qat_rt_model_free(m);
    return 2;
  }
  for (int i = 0; i < n_in; i++) {
    qat_rt_tensor_info t;
    const int idx = qat_rt_input(m, i);
    if ((rc = qat_rt_tensor(m, idx, &t))) goto report;
    if ((rc = read_input(inputs[i], i, &t, qat_rt_tensor_data(m, idx)))) goto report;
  }
  if ((rc = qat_rt_invoke(m))) goto report;
  for (int i = 0; i < n_out; i++) {
    qat_rt_tensor_info t;
    const int idx = qat_rt_output(m, i);
    if ((rc = qat_rt_tensor(m, idx, &t))) goto report;
    if ((rc = qat_atomic_write(outputs[i], qat_rt_tensor_data(m, idx), t.bytes))) goto report;
  }
  qat_rt_model_free(m);
  return 0;
report:
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  qat_rt_model_free(m);
  /* A model the runtime cannot run is a model-file problem for the caller: exit 3. */
  return rc == QAT_ERR_UNSUPPORTED ? 3 : qat_exit_code(rc);
}
