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
#include <unistd.h>

#include "cli/cli.h"
#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/file.h"
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
    "  --batch N    run N times: each --input file holds N tensors back to back, each\n"
    "               --output file receives N (for test vectors and bit-exactness sweeps)\n"
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

/* Reads exactly count * t->bytes from path into dst. */
static int read_input(const char *path, int i, const qat_rt_tensor_info *t, long count, void *dst) {
  char shape[160];
  shape_str(shape, sizeof shape, t);
  int fd;
  uint64_t fsize;
  int rc = qat_file_open_regular(path, "input", 0, &fd, &fsize);
  if (rc) return rc;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  }
  struct stat st;
  st.st_size = (off_t)fsize;
  const size_t want = (size_t)count * t->bytes;
  if ((uint64_t)st.st_size != (uint64_t)want) {
    if (count == 1)
      rc = qat_fail(QAT_ERR_FORMAT, "%s: %lld bytes, but input %d '%s' (%s) takes %zu", path,
                    (long long)st.st_size, i, t->name, shape, t->bytes);
    else
      rc = qat_fail(QAT_ERR_FORMAT, "%s: %lld bytes, but --batch %ld of input %d '%s' (%s) takes %zu", path,
                    (long long)st.st_size, count, i, t->name, shape, want);
    goto done;
  }
  if (want && fread(dst, 1, want, f) != want)
    rc = qat_fail(QAT_ERR_IO, "%s: read error: %s", path,
                  ferror(f) ? strerror(errno) : "file shrank while reading");
done:
  fclose(f);
  return rc;
}

int qat_cmd_run(int argc, char **argv) {
  const char *model_path = NULL, *inputs[MAX_FILES], *outputs[MAX_FILES];
  int n_in = 0, n_out = 0;
  long batch = 1;
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
    } else if (!strcmp(a, "--batch")) {
      if (i + 1 >= argc) return usage_error("%s needs a count", a);
      char *end;
      errno = 0;
      batch = strtol(argv[++i], &end, 10);
      if (errno || *end || end == argv[i] || batch < 1 || batch > 1000000)
        return usage_error("--batch '%s' is not a count in [1, 1000000]", argv[i]);
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
  int rc = qat_cli_load_model(model_path, &opt, &m);
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
  /* Whole batches in memory: --batch is for test vectors, not for data sets. */
  unsigned char *in_data[MAX_FILES] = {0}, *out_data[MAX_FILES] = {0};
  qat_rt_tensor_info in_t[MAX_FILES], out_t[MAX_FILES];
  for (int i = 0; i < n_in; i++) {
    if ((rc = qat_rt_tensor(m, qat_rt_input(m, i), &in_t[i]))) goto release;
    if (in_t[i].bytes > ((size_t)1 << 31) / (size_t)batch) {
      rc = qat_fail(QAT_ERR_USAGE, "--batch %ld of input %d takes more than 2 GiB", batch, i);
      goto release;
    }
    if (!(in_data[i] = malloc((size_t)batch * in_t[i].bytes + 1))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory for --batch %ld", batch);
      goto release;
    }
    if ((rc = read_input(inputs[i], i, &in_t[i], batch, in_data[i]))) goto release;
  }
  for (int i = 0; i < n_out; i++) {
    if ((rc = qat_rt_tensor(m, qat_rt_output(m, i), &out_t[i]))) goto release;
    if (out_t[i].bytes > ((size_t)1 << 31) / (size_t)batch ||
        !(out_data[i] = malloc((size_t)batch * out_t[i].bytes + 1))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory for --batch %ld", batch);
      goto release;
    }
  }
  for (long b = 0; b < batch && !rc; b++) {
    for (int i = 0; i < n_in; i++)
      memcpy(qat_rt_tensor_data(m, qat_rt_input(m, i)), in_data[i] + (size_t)b * in_t[i].bytes, in_t[i].bytes);
    if ((rc = qat_rt_invoke(m))) break;
    for (int i = 0; i < n_out; i++)
      memcpy(out_data[i] + (size_t)b * out_t[i].bytes, qat_rt_tensor_data(m, qat_rt_output(m, i)), out_t[i].bytes);
  }
  for (int i = 0; i < n_out && !rc; i++) rc = qat_atomic_write(outputs[i], out_data[i], (size_t)batch * out_t[i].bytes);
release:
  for (int i = 0; i < MAX_FILES; i++) {
    free(in_data[i]);
    free(out_data[i]);
  }
  if (rc) goto report;
  qat_rt_model_free(m);
  return 0;
report:
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  qat_rt_model_free(m);
  /* A model the runtime cannot run is a model-file problem for the caller: exit 3. */
  return rc == QAT_ERR_UNSUPPORTED ? 3 : qat_exit_code(rc);
}
