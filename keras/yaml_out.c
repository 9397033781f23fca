/* The imported model as qat's YAML config (config/ reads it back: qat import checks that). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/keras.h"
#include "qat/layer.h"

typedef struct sbuf {
  qat_yaml_out y; /* first: the layer descriptors write through it */
  char *s;
  size_t len, cap;
  int oom;
} sbuf;

__attribute__((format(printf, 2, 3))) static void put(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

/* The shortest decimal that reads back as the same float. */
static void put_float(sbuf *b, float v) {
  char tmp[32];
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
    if (strtof(tmp, NULL) == v) break;
  }
  /* YAML 1.1 floats need a dot or an exponent to not be integers; config/ accepts both. */
  put(b, "%s", tmp);
}

__attribute__((format(printf, 2, 3))) static void y_put(qat_yaml_out *y, const char *fmt, ...) {
  sbuf *b = (sbuf *)y;
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->oom = 1;
    return;
  }
  put(b, "%s", tmp);
}
static void y_put_float(qat_yaml_out *y, float v) { put_float((sbuf *)y, v); }
static const qat_yaml_ops yaml_ops = {y_put, y_put_float};

int qat_keras_config_yaml(const qat_keras_model *k, const char *source, const char *init_ckpt, char **out) {
  const qat_model_spec *s = &k->spec;
  sbuf b = {{&yaml_ops}, NULL, 0, 0, 0};
  *out = NULL;
  put(&b, "# Imported by 'qat import' from %s (%s%s%s).\n", source ? source : "a Keras model",
      k->format ? k->format : "Keras", k->keras_version[0] ? ", Keras " : "", k->keras_version);
  put(&b, "# Layer names are Keras's. Edit freely; 'qat train' on this file fine-tunes the imported\n"
          "# weights (model.init), e.g. with the commented quantize/train sections below.\n");
  for (const char *n = k->notes; *n;) {
    size_t len = strcspn(n, "\n");
    put(&b, "# note: %.*s\n", (int)len, n);
    n += len + (n[len] == '\n');
  }
  put(&b, "model:\n");
  if (init_ckpt) put(&b, "  init: \"%s\"\n", init_ckpt);
  int dims[3];
  qat_spec_input_dims(s, dims);
  put(&b, "  input: [");
  for (int i = 0; i < qat_spec_input_rank(s); i++) put(&b, "%s%d", i ? ", " : "", dims[i]);
  put(&b, "]\n");
  if (s->n_outputs) {
    put(&b, "  outputs: [");
    for (int k = 0; k < s->n_outputs; k++) put(&b, "%s\"%s\"", k ? ", " : "", s->layers[s->outputs[k]].name);
    put(&b, "]\n");
  }
  put(&b, "  layers:\n");
  for (int i = 0; i < s->n_layers; i++) {
    const qat_layer_spec *L = &s->layers[i];
    put(&b, "    - %s: {name: \"%s\"", qat_layer_type_name(L->type), L->name);
    const qat_layer_desc *d = qat_layer_desc_of(L->type);
    int n = L->n_inputs > 0 ? L->n_inputs : 1;
    int default_input = n == 1 && (L->n_inputs == 0 || L->inputs[0] == i - 1);
    if (!default_input || d->max_inputs > 1) {
      put(&b, ", inputs: [");
      for (int j = 0; j < n; j++) {
        int src = L->inputs[j];
        put(&b, "%s\"%s\"", j ? ", " : "", src < 0 ? "input" : s->layers[src].name);
      }
      put(&b, "]");
    }
    if (d->yaml) d->yaml(&b.y, L);
    put(&b, "}\n");
  }
  put(&b, "# data: {dataset: fashion-mnist}\n"
          "# quantize: {mode: qat}\n");
  if (k->loss_known && s->n_outputs > 1) { /* one loss and weight per output */
    put(&b, "train: {loss: [");
    for (int o = 0; o < s->n_outputs; o++) put(&b, "%s%s", o ? ", " : "", qat_loss_name(s->output_loss[o]));
    put(&b, "], loss_weights: [");
    for (int o = 0; o < s->n_outputs; o++) {
      if (o) put(&b, ", ");
      b.y.ops->put_float(&b.y, s->loss_weight[o]);
    }
    put(&b, "]%s}  # the Keras file's compiled losses; add epochs, batch_size, optimizer, freeze\n",
        s->from_logits ? ", from_logits: true" : "");
  } else if (k->loss_known) { /* the loss is part of the model: the checkpoint's config must build it */
    put(&b, "train: {loss: %s%s}  # the Keras file's compiled loss; add epochs, batch_size, optimizer, freeze\n",
        qat_loss_name(s->loss), s->from_logits ? ", from_logits: true" : "");
  } else {
    put(&b, "# train: {epochs: 1, batch_size: 32, optimizer: {name: adam, learning_rate: 0.0001}, freeze: []}\n");
  }
  if (b.oom) {
    free(b.s);
    return qat_fail(QAT_ERR_NOMEM, "out of memory writing the config");
  }
  *out = b.s;
  return QAT_OK;
}
