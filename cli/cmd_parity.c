/* `qat eval --compare CKPT MODEL.tflite`: the parity report (include/qat/parity.h) over the
 * checkpoint config's test set. Exit codes as the rest of the CLI: 0 (whether or not the
 * target is met: the report is the product), 2 usage, 3 a bad model or data file, 4 I/O. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/parity.h"
#include "qat/tflite.h"
#include "qat/train.h"

int qat_cmd_parity(int argc, char **argv);

static const char usage_parity[] =
    "usage: qat eval --compare CKPT MODEL.tflite [--limit N] [--json]\n"
    "\n"
    "The parity report: runs the test set of CKPT's config through the float model, the\n"
    "fake-quant model and MODEL (its int8 export, in qat's runtime, bit-exact with TensorFlow\n"
    "Lite's reference kernels) and prints the three accuracies, the top-1 agreement of\n"
    "fake-quant vs int8, and for the final output and every int8 tensor that names a layer:\n"
    "the difference from the fake-quant model in output LSBs (share bit-identical, max, mean),\n"
    "the SQNR of the dequantized int8 values against the float model, and the share of float\n"
    "values clipped by the tensor's range, and the share of int8 values at a rail (saturated: what\n"
    "the deployed model clips itself). Target for qat's own QAT exports: >= 99 % of final outputs\n"
    "bit-identical, max 1 LSB (and, checked at the end of qat train: top-1 agreement >= 99.9 %,\n"
    "logits saturated < 1 %).\n"
    "\n"
    "options:\n"
    "  --limit N   the first N test samples only\n"
    "  --json      print one JSON object\n"
    "  -h, --help  this help\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: eval --compare: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat eval --help')\n");
  return 2;
}

static int report_error(int status) {
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  return qat_exit_code(status);
}

static void json_stats(const qat_parity_stats *s) {
  double sqnr = qat_parity_sqnr_db(s);
  printf("\"values\":%lld,\"identical\":%.6f,\"max_lsb\":%lld,\"mean_lsb\":%.6f,", (long long)s->values,
         qat_parity_share(s->identical, s->values), (long long)s->max_lsb, s->values ? s->sum_lsb / (double)s->values : 0.0);
  if (isinf(sqnr)) printf("\"sqnr_db\":null,");
  else printf("\"sqnr_db\":%.3f,", sqnr);
  printf("\"clipped\":%.6f,\"saturated\":%.6f,\"own_identical\":%.6f,\"own_max_lsb\":%lld",
         qat_parity_share(s->clipped, s->values), qat_parity_share(s->saturated, s->values), qat_parity_share(s->local_identical, s->values),
         (long long)s->local_max_lsb);
}

/* Ops whose int8 (or int16) arithmetic the fake-quant model does not reproduce bit for bit,
 * with the rounding step it misses: marked in the table, "simulated": false in JSON. */
static const char *inexact_op(const char *op, int int16) {
  static const char *const ops[][2] = {
      {"SOFTMAX", "TFLite's fixed-point exp (int8) or exp table (int16) against a double softmax"},
      {"QUANTIZE", "an int8 -> int8 requantization (Concatenate branches), one float rounding"},
  };
  /* on the int16 grid the int8 simulations of these are replaced by one rounding */
  static const char *const ops16[][2] = {
      {"MUL", "the int16 kernel's product requantization, one float rounding"},
      {"LEAKY_RELU", "the int16 kernel's two multipliers, one float rounding"},
      {"HARD_SWISH", "the int16 kernel's fixed point, one float rounding"},
      {"LOGISTIC", "the int16 kernel's lookup table, one float rounding"},
      {"TANH", "the int16 kernel's lookup table, one float rounding"},
  };
  for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(op, ops[i][0])) return ops[i][1];
  for (size_t i = 0; op && int16 && i < sizeof ops16 / sizeof ops16[0]; i++)
    if (!strcmp(op, ops16[i][0])) return ops16[i][1];
  return NULL;
}

static int meets_target(const qat_parity_stats *s) {
  return qat_parity_share(s->identical, s->values) >= QAT_PARITY_TARGET_IDENTICAL && s->max_lsb <= QAT_PARITY_TARGET_MAX_LSB;
}

static void print_json(const char *ckpt, const char *model, const qat_parity_report *r) {
  const qat_parity_layer *o = &r->layers[r->output];
  printf("{\"checkpoint\":");
  qat_cli_json_string(stdout, ckpt);
  printf(",\"model\":");
  qat_cli_json_string(stdout, model);
  printf(",\"samples\":%lld,", (long long)r->samples);
  if (r->classifier)
    printf("\"float_accuracy\":%.6f,\"fakequant_accuracy\":%.6f,\"int8_accuracy\":%.6f,", qat_parity_share(r->float_correct, r->samples),
           qat_parity_share(r->fakequant_correct, r->samples), qat_parity_share(r->int8_correct, r->samples));
  else /* a segmenter or a regressor: the labels are not one class per sample */
    printf("\"float_accuracy\":null,\"fakequant_accuracy\":null,\"int8_accuracy\":null,");
  printf("\"top1_agreement\":%.6f,\"output\":{\"name\":", qat_parity_share(r->top1_agree, r->samples));
  qat_cli_json_string(stdout, o->name);
  printf(",");
  json_stats(&o->s);
  const qat_parity_stats *lg = &r->layers[r->logits].s;
  printf("},\"logits_saturated\":%.6f,\"logits_clipped\":%.6f", qat_parity_share(lg->saturated, lg->values),
         qat_parity_share(lg->clipped, lg->values));
  printf(",\"target_met\":%s,\"layers\":[", meets_target(&o->s) ? "true" : "false");
  for (int i = 0; i < r->n_layers; i++) {
    const qat_parity_layer *L = &r->layers[i];
    printf(i ? ",{\"name\":" : "{\"name\":");
    qat_cli_json_string(stdout, L->name);
    printf(",\"op\":");
    qat_cli_json_string(stdout, L->op);
    printf(",\"simulated\":%s,\"tensor\":%d,\"scale\":%.9g,\"zero_point\":%d,", inexact_op(L->op, r->int16) ? "false" : "true",
           L->tensor, (double)L->scale, (int)L->zero_point);
    json_stats(&L->s);
    printf("}");
  }
  printf("]}\n");
}

static void print_text(const char *ckpt, const char *model, const char *which, const qat_parity_report *r) {
  const qat_parity_layer *o = &r->layers[r->output];
  printf("parity: %s vs %s, %lld %s samples\n", ckpt, model, (long long)r->samples, which);
  if (r->classifier)
    printf("  accuracy: float %.4f, fake-quant %.4f, int8 %.4f\n", qat_parity_share(r->float_correct, r->samples),
           qat_parity_share(r->fakequant_correct, r->samples), qat_parity_share(r->int8_correct, r->samples));
  printf("  top-1 agreement fake-quant vs int8: %.2f %%%s\n", 100 * qat_parity_share(r->top1_agree, r->samples),
         r->classifier ? "" : " (of samples whose every position agrees)");
  printf("  final output '%s': %.2f %% bit-identical to fake quant, max %lld LSB, mean %.4f LSB\n", o->name,
         100 * qat_parity_share(o->s.identical, o->s.values), (long long)o->s.max_lsb,
         o->s.values ? o->s.sum_lsb / (double)o->s.values : 0.0);
  printf("  target (>= %.0f %% bit-identical, max %d LSB): %s\n", 100 * QAT_PARITY_TARGET_IDENTICAL,
         QAT_PARITY_TARGET_MAX_LSB, meets_target(&o->s) ? "met" : "NOT met");
  /* the bounds qat train adds at the end of a run, so the two reports can be read side by side */
  char missed[512];
  const int n_missed = qat_parity_target_missed(r, missed, sizeof missed);
  printf("  with qat train's bounds (top-1 >= %.1f %%, logits saturated < %.0f %%): %s%s\n\n",
         100 * QAT_PARITY_TARGET_TOP1, 100 * QAT_PARITY_TARGET_SATURATED, n_missed ? "missed: " : "met", missed);
  printf("  %-24s %-16s %10s %10s %7s %9s %10s %8s %8s %9s\n", "tensor (vs fake quant)", "op", "values/smp",
         "identical", "max LSB", "mean LSB", "own diff", "SQNR dB", "clipped", "saturated");
  for (int i = 0; i < r->n_layers; i++) {
    const qat_parity_layer *L = &r->layers[i];
    double sqnr = qat_parity_sqnr_db(&L->s);
    char sq[16];
    if (isinf(sqnr)) snprintf(sq, sizeof sq, "inf");
    else snprintf(sq, sizeof sq, "%.1f", sqnr);
    char own[16];
    snprintf(own, sizeof own, "%.3f%%", 100 * (1 - qat_parity_share(L->s.local_identical, L->s.values)));
    char opname[24];
    snprintf(opname, sizeof opname, "%s%s", L->op, inexact_op(L->op, r->int16) ? " *" : "");
    printf("  %-24.24s %-16.16s %10lld %9.2f%% %7lld %9.4f %10s %8s %7.3f%% %8.3f%%\n", L->name, opname,
           (long long)(r->samples ? L->s.values / r->samples : 0), 100 * qat_parity_share(L->s.identical, L->s.values),
           (long long)L->s.max_lsb, L->s.values ? L->s.sum_lsb / (double)L->s.values : 0.0, own, sq,
           100 * qat_parity_share(L->s.clipped, L->s.values), 100 * qat_parity_share(L->s.saturated, L->s.values));
  }
  printf("\n  own diff: share of values that differ when the op alone is fed the fake-quant model's\n"
         "  inputs (its own rounding, not inherited); SQNR: dequantized int8 vs the float model\n"
         "  (errors of earlier layers included); clipped: float values outside the tensor's range;\n"
         "  saturated: int8 values at a rail that is not an exact 0 (clipped by the deployed model).\n");
  for (int i = 0; i < r->n_layers; i++) {
    const char *why = inexact_op(r->layers[i].op, r->int16);
    int first = 1;
    for (int k = 0; k < i; k++) first &= strcmp(r->layers[k].op, r->layers[i].op) != 0;
    if (why && first)
      printf("  * %s: not simulated bit for bit by the fake-quant model (%s)\n", r->layers[i].op, why);
  }
}

int qat_cmd_parity(int argc, char **argv) {
  const char *ckpt = NULL, *model = NULL;
  int json = 0;
  long limit = 0;
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage_parity, stdout);
      return 0;
    }
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--compare")) {
      if (i + 2 >= argc) return usage_error("%s needs CKPT and MODEL.tflite", a);
      ckpt = argv[++i];
      model = argv[++i];
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--limit")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      char *end;
      errno = 0;
      limit = strtol(argv[++i], &end, 10);
      if (errno || *end || end == argv[i] || limit < 1 || limit > INT_MAX)
        return usage_error("--limit '%s' is not a count in [1, 2147483647]", argv[i]);
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
  }
  if (!ckpt) return usage_error("%s", "needs --compare CKPT MODEL.tflite");
  qat_config cfg;
  qat_model *m = NULL;
  int rc = qat_model_from_checkpoint(ckpt, 64, &cfg, &m);
  if (rc) return report_error(rc);
  if (limit) cfg.data.limit_test = (int)limit;
  qat_rt_options opt = {.preserve_all_tensors = 1};
  qat_rt_model *rt = NULL;
  qat_dataset test = {0};
  const char *which = "test";
  qat_parity_report r = {0};
  if ((rc = qat_cli_load_model(model, &opt, &rt))) goto done;
  if ((rc = qat_data_load_heldout(&cfg.data, ckpt, &test, &which))) goto done;
  if ((rc = qat_parity_run(m, rt, &test, &r))) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", qat_error_message());
    rc = qat_fail(rc, "%s vs %s: %s", ckpt, model, msg);
    goto done;
  }
  if (json) print_json(ckpt, model, &r);
  else print_text(ckpt, model, which, &r);
done:
  qat_parity_free(&r);
  qat_dataset_free(&test);
  qat_rt_model_free(rt);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc ? report_error(rc) : 0;
}

/* The guarantee where the user sees it (qat train): CKPT exported to int8 in memory, run in
 * qat's runtime beside the fake-quant model over the first `limit` test samples, and one line
 * on f: top-1 agreement, the final output's bit-identical share and max LSB, its clipping; a
 * warning line when the parity target is not met (on the validation data when there is no test
 * set). A model without quantization, or data with neither, prints nothing. Errors are returned (with their message), not printed. */
int qat_cli_parity_check(const char *ckpt, int limit, const char *what, FILE *f) {
  qat_config cfg;
  qat_model *m = NULL;
  int rc = qat_model_from_checkpoint(ckpt, 64, &cfg, &m);
  if (rc) return rc;
  qat_tflite_model t;
  int have_t = 0;
  uint8_t *bytes = NULL;
  size_t size = 0;
  qat_rt_options opt = {.preserve_all_tensors = 1};
  qat_rt_model *rt = NULL;
  qat_dataset test = {0};
  const char *which = "test";
  qat_parity_report r = {0};
  if (!m->spec.quantize.enabled || m->spec.quantize.activations_lsq) goto done;
  if (limit > 0) cfg.data.limit_test = limit;
  if ((rc = qat_data_load_heldout(&cfg.data, NULL, &test, &which)) || test.n == 0) goto done;
  if ((rc = qat_export_int8_prepare(m)) || (rc = qat_export_int8(m, QAT_EXPORT_IO_INT8, &t))) goto done;
  have_t = 1;
  if ((rc = qat_tflite_serialize(&t, &bytes, &size)) ||
      (rc = qat_rt_model_load_buffer(bytes, size, "int8 export", &opt, &rt)) || (rc = qat_parity_run(m, rt, &test, &r)))
    goto done;
  const qat_parity_layer *o = &r.layers[r.output], *lg = &r.layers[r.logits];
  const double top1 = qat_parity_share(r.top1_agree, r.samples), same = qat_parity_share(o->s.identical, o->s.values),
               clipped = qat_parity_share(lg->s.clipped, lg->s.values), saturated = qat_parity_share(lg->s.saturated, lg->s.values);
  fprintf(f, "  parity %s (int8 export in memory, %lld %s samples): top-1 agreement %.2f %%, output '%s' %.2f %% "
          "bit-identical, max %lld LSB; logits '%s' saturated %.2f %% (float model's values outside the range: "
          "%.2f %%)\n",
          what, (long long)r.samples, which, 100 * top1, o->name, 100 * same, (long long)o->s.max_lsb, lg->name,
          100 * saturated, 100 * clipped);
  /* each criterion missed, with its figure: a confident model can miss the saturation bound alone
   * while every output is bit-identical, and the user must see which one failed */
  char missed[512];
  if (qat_parity_target_missed(&r, missed, sizeof missed))
    fprintf(f, "qat: warning: the int8 model misses the parity target: %s; see qat eval --compare %s MODEL.tflite\n",
            missed, ckpt);
done:
  qat_parity_free(&r);
  qat_dataset_free(&test);
  qat_rt_model_free(rt);
  free(bytes);
  if (have_t) qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc;
}
