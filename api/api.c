/* The public API of include/qat/qat.h: training from a config, checkpoints as networks, the
 * parity report as JSON. Thin wrappers over the modules; nothing here prints. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/atomic_file.h"
#include "qat/config.h"
#include "qat/curves.h"
#include "qat/data.h"
#include "qat/error.h"
#include "qat/model.h"
#include "qat/parity.h"
#include "qat/qat.h"
#include "qat/train.h"

const char *qat_version(void) { return QAT_VERSION; }

void qat_free(void *p) { free(p); }

/* ---- training ---- */
typedef struct train_ctx {
  qat_curves *curves;
} train_ctx;

static int on_progress(const qat_progress *p, void *user) {
  train_ctx *t = user;
  /* a curve that cannot be written does not stop the run; the close reports it */
  if (t->curves) (void)qat_curves_progress(t->curves, p);
  return 0;
}

static void default_out_dir(const char *config, char *buf, size_t len) {
  const char *base = strrchr(config, '/');
  base = base ? base + 1 : config;
  size_t n = strcspn(base, ".");
  snprintf(buf, len, "runs/%.*s", (int)(n ? n : strlen(base)), base);
}

int qat_train_config(const qat_train_request *req, qat_train_summary *out) {
  memset(out, 0, sizeof *out);
  if (!req || !req->config) return qat_fail(QAT_ERR_USAGE, "qat_train_config: no config path");
  if (req->epochs < 0 || req->batch_size < 0 || req->threads < 0 || req->log_every < 0)
    return qat_fail(QAT_ERR_USAGE, "qat_train_config: negative epochs, batch size, threads or log interval");
  qat_config cfg;
  int rc = qat_config_load(req->config, &cfg);
  if (rc) return rc;
  if (req->epochs) cfg.train.epochs = req->epochs;
  if (req->batch_size) cfg.train.batch_size = req->batch_size;
  if (req->threads) cfg.train.threads = req->threads;
  char out_dir[4096];
  if (req->out_dir) snprintf(out_dir, sizeof out_dir, "%s", req->out_dir);
  else default_out_dir(req->config, out_dir, sizeof out_dir);
  train_ctx ctx = {0};
  qat_train_options o = {out_dir, NULL, on_progress, &ctx};
  qat_train_result res;
  rc = qat_curves_open(out_dir, req->log_every ? req->log_every : QAT_CURVES_DEFAULT_EVERY, &ctx.curves);
  if (!rc) rc = qat_train(&cfg, &o, &res);
  int crc = qat_curves_close(ctx.curves);
  if (!rc) rc = crc;
  qat_config_free(&cfg);
  if (rc) return rc;
  out->epochs = res.epochs;
  out->steps = res.steps;
  out->train_loss = res.train_loss;
  out->train_accuracy = res.train_accuracy;
  out->has_test = res.has_test;
  out->test_loss = res.test_loss;
  out->test_accuracy = res.test_accuracy;
  out->has_float = res.has_float;
  out->float_test_accuracy = res.float_test_accuracy;
  snprintf(out->checkpoint, sizeof out->checkpoint, "%s", res.checkpoint);
  return 0;
}

/* ---- export ---- */
int qat_export_file(const char *ckpt, const qat_export_request *req, const char *out_path) {
  if (!ckpt || !req || !req->mode || !out_path)
    return qat_fail(QAT_ERR_USAGE, "qat_export_file: needs a checkpoint, a mode and an output path");
  qat_tflite_model t;
  int rc = qat_export_checkpoint(ckpt, req, &t);
  char note[1024];
  int labels;
  if (!rc) rc = qat_export_save(ckpt, &t, out_path, note, sizeof note, NULL, &labels);
  qat_tflite_model_free(&t);
  return rc;
}

/* ---- networks ---- */
struct qat_net {
  qat_model *m;
  qat_config cfg;
};

int qat_net_load(const char *ckpt, int max_batch, qat_net **out) {
  *out = NULL;
  if (max_batch < 1 || max_batch > 65536)
    return qat_fail(QAT_ERR_USAGE, "qat_net_load: max_batch %d is not in [1, 65536]", max_batch);
  qat_net *n = calloc(1, sizeof *n);
  if (!n) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  int rc = qat_model_from_checkpoint(ckpt, max_batch, &n->cfg, &n->m);
  if (rc) {
    free(n);
    return rc;
  }
  *out = n;
  return 0;
}

void qat_net_free(qat_net *n) {
  if (!n) return;
  qat_model_free(n->m);
  qat_config_free(&n->cfg);
  free(n);
}

/* Values per sample of every output together (a label map's all, several outputs' side by side). */
static int64_t output_values(const qat_model *m) {
  int64_t total = 0;
  for (int h = 0; h < m->n_heads; h++) total += qat_tensor_size(m->heads[h].out) / m->heads[h].out->dims[0];
  return total;
}

void qat_net_info(const qat_net *n, int *h, int *w, int *c, int *classes, int *quantized) {
  const qat_model_spec *s = &n->m->spec;
  if (h) *h = s->input_shape[0];
  if (w) *w = s->input_shape[1];
  if (c) *c = s->input_shape[2];
  if (classes) *classes = (int)output_values(n->m);
  if (quantized) *quantized = s->quantize.enabled;
}

int qat_net_forward(qat_net *n, const float *x, int64_t count, int fake_quant, float *logits) {
  if (!n || (!x && count) || (!logits && count) || count < 0)
    return qat_fail(QAT_ERR_USAGE, "qat_net_forward: bad arguments");
  if (fake_quant && !n->m->spec.quantize.enabled)
    return qat_fail(QAT_ERR_USAGE, "qat_net_forward: fake quant asked of a model without a quantize: section");
  const qat_model_spec *s = &n->m->spec;
  int64_t per = (int64_t)s->input_shape[0] * s->input_shape[1] * s->input_shape[2];
  const int64_t classes = output_values(n->m);
  qat_exec ex = {.training = 0, .fake_quant = fake_quant ? 1 : 0, .freeze_observers = 1, .freeze_bn = 1};
  for (int64_t i = 0; i < count; i += n->m->max_batch) {
    int b = (int)(count - i < n->m->max_batch ? count - i : n->m->max_batch);
    qat_model_forward(n->m, x + i * per, b, &ex);
    for (int64_t off = 0, h = 0; h < n->m->n_heads; h++) { /* each sample's outputs in order */
      const qat_tensor *o = n->m->heads[h].out;
      const int64_t len = qat_tensor_size(o) / o->dims[0];
      for (int s = 0; s < b; s++)
        memcpy(logits + (i + s) * classes + off, o->data + s * len, (size_t)len * sizeof(float));
      off += len;
    }
  }
  return 0;
}

/* ---- parity as JSON ---- */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if (b->p && b->n + (size_t)k < b->cap) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
}

static void sb_string(sbuf *b, const char *s) {
  sb_printf(b, "\"");
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') sb_printf(b, "\\%c", ch);
    else if (ch < 0x20) sb_printf(b, "\\u%04x", ch);
    else sb_printf(b, "%c", ch);
  }
  sb_printf(b, "\"");
}

static void sb_stats(sbuf *b, const qat_parity_stats *s) {
  double sqnr = qat_parity_sqnr_db(s);
  sb_printf(b, "\"values\":%lld,\"identical\":%.6f,\"max_lsb\":%lld,\"mean_lsb\":%.6f,", (long long)s->values,
            qat_parity_share(s->identical, s->values), (long long)s->max_lsb, s->values ? s->sum_lsb / (double)s->values : 0.0);
  if (isinf(sqnr) || isnan(sqnr)) sb_printf(b, "\"sqnr_db\":null,");
  else sb_printf(b, "\"sqnr_db\":%.3f,", sqnr);
  sb_printf(b, "\"clipped\":%.6f,\"saturated\":%.6f,\"own_identical\":%.6f,\"own_max_lsb\":%lld",
            qat_parity_share(s->clipped, s->values), qat_parity_share(s->saturated, s->values), qat_parity_share(s->local_identical, s->values),
            (long long)s->local_max_lsb);
}

int qat_parity_json(const char *ckpt, const char *tflite, const float *x, const int32_t *labels, int64_t count,
                    int64_t limit, char **json) {
  *json = NULL;
  if (!ckpt || !tflite) return qat_fail(QAT_ERR_USAGE, "qat_parity_json: needs a checkpoint and a .tflite file");
  if (x && (count < 1 || !labels)) return qat_fail(QAT_ERR_USAGE, "qat_parity_json: arrays need count >= 1 and labels");
  qat_config cfg;
  qat_model *m = NULL;
  int rc = qat_model_from_checkpoint(ckpt, 64, &cfg, &m);
  if (rc) return rc;
  qat_rt_options opt = {.preserve_all_tensors = 1};
  qat_rt_model *rt = NULL;
  qat_dataset test = {0};
  uint8_t *lab = NULL;
  qat_parity_report r = {0};
  sbuf b = {0};
  if ((rc = qat_rt_model_load_file(tflite, &opt, &rt))) goto done;
  if (x) {
    lab = malloc((size_t)count);
    if (!lab) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
      goto done;
    }
    for (int64_t i = 0; i < count; i++) {
      if (labels[i] < 0 || labels[i] >= m->num_classes) {
        rc = qat_fail(QAT_ERR_USAGE, "qat_parity_json: label %d of sample %lld is not in [0, %d)", (int)labels[i],
                      (long long)i, m->num_classes);
        goto done;
      }
      lab[i] = (uint8_t)labels[i];
    }
    test.n = count;
    test.h = m->spec.input_shape[0];
    test.w = m->spec.input_shape[1];
    test.c = m->spec.input_shape[2];
    test.fimages = (float *)x;
    test.labels = lab;
    test.num_classes = m->num_classes;
    test.owns = 0;
  } else {
    if (limit > 0) cfg.data.limit_test = (int)(limit > 2147483647 ? 2147483647 : limit);
    if ((rc = qat_data_load_heldout(&cfg.data, ckpt, &test, NULL))) goto done;
  }
  if ((rc = qat_parity_run(m, rt, &test, &r))) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", qat_error_message());
    rc = qat_fail(rc, "%s vs %s: %s", ckpt, tflite, msg);
    goto done;
  }
  sb_printf(&b, "{\"checkpoint\":");
  sb_string(&b, ckpt);
  sb_printf(&b, ",\"model\":");
  sb_string(&b, tflite);
  sb_printf(&b,
            ",\"samples\":%lld,\"float_accuracy\":%.6f,\"fakequant_accuracy\":%.6f,\"int8_accuracy\":%.6f,"
            "\"top1_agreement\":%.6f,\"layers\":[",
            (long long)r.samples, qat_parity_share(r.float_correct, r.samples), qat_parity_share(r.fakequant_correct, r.samples),
            qat_parity_share(r.int8_correct, r.samples), qat_parity_share(r.top1_agree, r.samples));
  for (int i = 0; i < r.n_layers; i++) {
    const qat_parity_layer *L = &r.layers[i];
    sb_printf(&b, "%s{\"tensor\":%d,\"name\":", i ? "," : "", L->tensor);
    sb_string(&b, L->name);
    sb_printf(&b, ",\"op\":");
    sb_string(&b, L->op);
    sb_printf(&b, ",\"scale\":%.9g,\"zero_point\":%d,\"output\":%s,", (double)L->scale, (int)L->zero_point,
              i == r.output ? "true" : "false");
    sb_stats(&b, &L->s);
    sb_printf(&b, "}");
  }
  sb_printf(&b, "]}");
  if (b.oom) {
    free(b.p);
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto done;
  }
  *json = b.p;
done:
  qat_parity_free(&r);
  if (x) memset(&test, 0, sizeof test);
  else qat_dataset_free(&test);
  free(lab);
  qat_rt_model_free(rt);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc;
}
