/* Seeded random single-operator models of every operator the runtime runs (int8, int16 and
 * float32, hybrid, float16 weights) for tests/interop/test_runtime_litert.py, which runs them
 * through LiteRT's BUILTIN_REF interpreter and `qat run` and compares the outputs bit for bit
 * (`test_runtime write-models DIR N`). */
#include <math.h>
#include "tests/support/random_models.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "qat/quant.h"
#include "qat/tflite_schema.h"
#include "tests/support/tflite_builder.h"

static uint64_t gen_state = 88172645463325252ull;
static uint32_t rnd(void) {
  gen_state ^= gen_state << 13;
  gen_state ^= gen_state >> 7;
  gen_state ^= gen_state << 17;
  return (uint32_t)gen_state;
}
static int ri(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rf(float lo, float hi) { return lo + (hi - lo) * (rnd() / 4294967296.0f); }
static int8_t W8[65536];
static int32_t B32[4096];
static float WF[65536];
static const char *gen_dir;
static int gen_failed;
static void save(tb_model *m, const char *name) {
  size_t n = 0;
  uint8_t *b = tb_build(m, &n);
  char p[1024];
  snprintf(p, sizeof p, "%s/%s.tflite", gen_dir, name);
  FILE *f = b ? fopen(p, "wb") : NULL;
  if (!f || fwrite(b, 1, n, f) != n) gen_failed = 1;
  if (f && fclose(f) != 0) gen_failed = 1;
  free(b);
}
static int fl; /* float mode */
static int act(int x) { return x == 0 ? 0 : x == 1 ? 1 : 3; }
static void conv(int idx, int depthwise) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(3, 12), Wd = ri(3, 12), C = ri(1, 6), K = ri(1, 4), KW = ri(1, 4), S = ri(1, 3),
      D = ri(1, 2), pad = ri(0, 1);
  int dm = ri(1, 3), groups = 1;
  /* one input channel spread over several (an audio model's first layer): the runtime runs it
   * as CONV_2D */
  if (depthwise && idx % 4 == 3) C = 1, dm = 2 + idx % 5;
  if (!depthwise && C % 2 == 0 && ri(0, 2) == 0) groups = 2;
  int OC = depthwise ? C * dm : ri(1, 6) * groups;
  int fic = C / groups;
  int eff = (K - 1) * D + 1, effw = (KW - 1) * D + 1;
  if (pad == 1 && (eff > H || effw > Wd)) pad = 0;
  int OH = pad == 0 ? (H + S - 1) / S : (H + S - eff) / S,
      OW = pad == 0 ? (Wd + S - 1) / S : (Wd + S - effw) / S;
  int32_t din[4] = {1, H, Wd, C}, dw[4] = {depthwise ? 1 : OC, K, KW, depthwise ? OC : fic},
          db[1] = {OC}, dout[4] = {1, OH, OW, OC};
  size_t nw = (size_t)dw[0] * K * KW * dw[3];
  for (size_t i = 0; i < nw; i++) {
    W8[i] = (int8_t)ri(-127, 127);
    WF[i] = rf(-1, 1);
  }
  float sin = rf(0.01f, 0.1f), sout = rf(0.05f, 0.5f), ws[64], bs[64];
  int64_t z[64] = {0};
  for (int c = 0; c < OC; c++) {
    ws[c] = rf(0.001f, 0.02f);
    bs[c] = sin * ws[c];
    B32[c] = ri(-3000, 3000);
    WF[nw + c] = rf(-1, 1);
  }
  int x = tb_tensor_add(m, "x", fl ? F32 : I8, 4, din, NULL, 0);
  int w =
      tb_tensor_add(m, "w", fl ? F32 : I8, 4, dw, fl ? (void *)WF : (void *)W8, nw * (fl ? 4 : 1));
  int b = tb_tensor_add(m, "b", fl ? F32 : I32, 1, db, fl ? (void *)(WF + nw) : (void *)B32,
                        (size_t)OC * 4);
  int y = tb_tensor_add(m, "y", fl ? F32 : I8, 4, dout, NULL, 0);
  if (!fl) {
    tb_quant1(m, x, sin, ri(-20, 20));
    tb_quant(m, w, OC, ws, z, depthwise ? 3 : 0);
    tb_quant(m, b, OC, bs, z, 0);
    tb_quant1(m, y, sout, ri(-10, 10));
  }
  tb_op *op = tb_op_add(m, depthwise ? QAT_TFLITE_BUILTIN_DEPTHWISE_CONV_2D : QAT_TFLITE_BUILTIN_CONV_2D, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
  op->version = fl ? (D > 1 && depthwise ? 2 : 1) : (groups > 1 ? 6 : 3);
  op->padding = pad;
  op->stride_w = op->stride_h = S;
  op->dil_w = op->dil_h = D;
  op->dm = dm;
  op->act = act(ri(0, 2));
  if (fl && groups > 1) op->version = 6;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d", depthwise ? "dw" : "conv", fl ? "f32" : "i8", idx);
  save(m, name);
  free(m);
}
static void fc(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int Bt = ri(1, 3), IN = ri(1, 40), OUT = ri(1, 12), pc = !fl && ri(0, 1), nb = ri(0, 4) == 0;
  int32_t din[2] = {Bt, IN}, dw[2] = {OUT, IN}, db[1] = {OUT}, dout[2] = {Bt, OUT};
  for (int i = 0; i < OUT * IN; i++) {
    W8[i] = (int8_t)ri(-127, 127);
    WF[i] = rf(-1, 1);
  }
  float sin = rf(0.01f, 0.1f), sout = rf(0.05f, 0.5f), ws[64], bs[64];
  int64_t z[64] = {0};
  float w0 = rf(0.001f, 0.02f);
  for (int c = 0; c < OUT; c++) {
    ws[c] = pc ? rf(0.001f, 0.02f) : w0;
    bs[c] = sin * ws[c];
    B32[c] = ri(-3000, 3000);
    WF[OUT * IN + c] = rf(-1, 1);
  }
  int x = tb_tensor_add(m, "x", fl ? F32 : I8, 2, din, NULL, 0);
  int w = tb_tensor_add(m, "w", fl ? F32 : I8, 2, dw, fl ? (void *)WF : (void *)W8,
                        (size_t)OUT * IN * (fl ? 4 : 1));
  int b = tb_tensor_add(m, "b", fl ? F32 : I32, 1, db, fl ? (void *)(WF + OUT * IN) : (void *)B32,
                        (size_t)OUT * 4);
  int y = tb_tensor_add(m, "y", fl ? F32 : I8, 2, dout, NULL, 0);
  if (!fl) {
    tb_quant1(m, x, sin, ri(-20, 20));
    tb_quant(m, w, pc ? OUT : 1, ws, z, 0);
    tb_quant(m, b, pc ? OUT : 1, bs, z, 0);
    tb_quant1(m, y, sout, ri(-10, 10));
  }
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x, w, nb ? -1 : b}, 1, (int32_t[]){y});
  op->version = fl ? 1 : (nb ? 6 : 4);
  op->act = act(ri(0, 2));
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "fc%s_%s_%d", pc ? "pc" : "", fl ? "f32" : "i8", idx);
  save(m, name);
  free(m);
}
static void pool(int idx, int mx) {
  tb_model *m = calloc(1, sizeof *m);
  /* every other model wider than one register of channels (16 floats, 32 int8), with a tail */
  int H = ri(2, 12), Wd = ri(2, 12), C = idx % 2 ? ri(33, 70) : ri(1, 5), F = ri(1, 4), FW = ri(1, 4), S = ri(1, 3),
      pad = ri(0, 1);
  if (pad == 1 && (F > H || FW > Wd)) pad = 0;
  int OH = pad == 0 ? (H + S - 1) / S : (H + S - F) / S,
      OW = pad == 0 ? (Wd + S - 1) / S : (Wd + S - FW) / S;
  int32_t din[4] = {1, H, Wd, C}, dout[4] = {1, OH, OW, C};
  int x = tb_tensor_add(m, "x", fl ? F32 : I8, 4, din, NULL, 0),
      y = tb_tensor_add(m, "y", fl ? F32 : I8, 4, dout, NULL, 0);
  float sc = rf(0.01f, 0.2f);
  int zp = ri(-30, 30);
  if (!fl) {
    tb_quant1(m, x, sc, zp);
    tb_quant1(m, y, sc, zp);
  }
  tb_op *op = tb_op_add(m, mx ? QAT_TFLITE_BUILTIN_MAX_POOL_2D : QAT_TFLITE_BUILTIN_AVERAGE_POOL_2D, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  op->version = fl ? 1 : 2;
  op->padding = pad;
  op->stride_w = op->stride_h = S;
  op->filter_h = F;
  op->filter_w = FW;
  op->act = act(ri(0, 2));
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d", mx ? "maxpool" : "avgpool", fl ? "f32" : "i8", idx);
  save(m, name);
  free(m);
}
static void mean(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(1, 12), Wd = ri(1, 12), C = ri(1, 6), kd = ri(0, 1);
  static int32_t axes[2] = {1, 2};
  int32_t din[4] = {1, H, Wd, C}, dax[1] = {2}, dk[4] = {1, 1, 1, C}, dn[2] = {1, C};
  int x = tb_tensor_add(m, "x", fl ? F32 : I8, 4, din, NULL, 0);
  int a = tb_tensor_add(m, "axes", I32, 1, dax, axes, 8);
  int y = tb_tensor_add(m, "y", fl ? F32 : I8, kd ? 4 : 2, kd ? dk : dn, NULL, 0);
  if (!fl) {
    tb_quant1(m, x, rf(0.01f, 0.2f), ri(-30, 30));
    tb_quant1(m, y, rf(0.01f, 0.2f), ri(-30, 30));
  }
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_MEAN, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
  op->version = fl ? 1 : 2;
  op->keep_dims = kd;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "mean_%s_%d", fl ? "f32" : "i8", idx);
  save(m, name);
  free(m);
}
static void unary(int idx, int code) {
  tb_model *m = calloc(1, sizeof *m);
  int Bt = ri(1, 4), D = ri(1, 30);
  int32_t d[2] = {Bt, D};
  int x = tb_tensor_add(m, "x", fl ? F32 : I8, 2, d, NULL, 0),
      y = tb_tensor_add(m, "y", fl ? F32 : I8, 2, d, NULL, 0);
  if (!fl) {
    tb_quant1(m, x, rf(0.01f, 0.3f), ri(-30, 30));
    tb_quant1(m, y, 1.0f / 256, -128);
  }
  tb_op *op = tb_op_add(m, code, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  op->version = fl ? 1 : 2;
  op->beta = ri(0, 3) == 0 ? rf(0.5f, 2.0f) : 1.0f;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d", code == QAT_TFLITE_BUILTIN_SOFTMAX ? "softmax" : "logistic", fl ? "f32" : "i8",
           idx);
  save(m, name);
  free(m);
}
static void add(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(1, 6), Wd = ri(1, 6), C = ri(1, 5), bc = ri(0, 2);
  int32_t d1[4] = {1, H, Wd, C}, d2[4] = {1, bc == 1 ? 1 : H, bc == 1 ? 1 : Wd, bc == 2 ? 1 : C};
  int x = tb_tensor_add(m, "x", fl ? F32 : I8, 4, d1, NULL, 0),
      x2 = tb_tensor_add(m, "x2", fl ? F32 : I8, 4, d2, NULL, 0),
      y = tb_tensor_add(m, "y", fl ? F32 : I8, 4, d1, NULL, 0);
  if (!fl) {
    tb_quant1(m, x, rf(0.01f, 0.2f), ri(-30, 30));
    tb_quant1(m, x2, rf(0.01f, 0.2f), ri(-30, 30));
    tb_quant1(m, y, rf(0.02f, 0.4f), ri(-30, 30));
  }
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_ADD, 2, (int32_t[]){x, x2}, 1, (int32_t[]){y});
  op->version = fl ? 1 : 2;
  op->act = act(ri(0, 2));
  m->n_in = 2;
  m->in[0] = x;
  m->in[1] = x2;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "add_%s_%d", fl ? "f32" : "i8", idx);
  save(m, name);
  free(m);
}
static void qdq(int idx) {
  /* float -> QUANTIZE int8 -> QUANTIZE uint8 -> QUANTIZE int8 (rescale) -> DEQUANTIZE */
  tb_model *m = calloc(1, sizeof *m);
  int32_t d[2] = {1, ri(1, 50)};
  int x = tb_tensor_add(m, "x", F32, 2, d, NULL, 0), q = tb_tensor_add(m, "q", I8, 2, d, NULL, 0),
      u = tb_tensor_add(m, "u", U8, 2, d, NULL, 0);
  int r = tb_tensor_add(m, "r", I8, 2, d, NULL, 0), f = tb_tensor_add(m, "f", F32, 2, d, NULL, 0);
  float sc = rf(0.01f, 0.2f);
  int zp = ri(-30, 30);
  tb_quant1(m, q, sc, zp);
  tb_quant1(m, u, sc, zp + 128);
  tb_quant1(m, r, rf(0.01f, 0.3f), ri(-30, 30));
  tb_op_add(m, QAT_TFLITE_BUILTIN_QUANTIZE, 1, (int32_t[]){x}, 1, (int32_t[]){q});
  tb_op_add(m, QAT_TFLITE_BUILTIN_QUANTIZE, 1, (int32_t[]){q}, 1, (int32_t[]){u});
  tb_op_add(m, QAT_TFLITE_BUILTIN_QUANTIZE, 1, (int32_t[]){u}, 1, (int32_t[]){r});
  tb_op_add(m, QAT_TFLITE_BUILTIN_DEQUANTIZE, 1, (int32_t[]){r}, 1, (int32_t[]){f})->version = 2;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 3;
  m->out[0] = u;
  m->out[1] = r;
  m->out[2] = f;
  char name[64];
  snprintf(name, sizeof name, "qdq_%d", idx);
  save(m, name);
  free(m);
}

/* 16x8 variants: int16 activations with zero point 0, int8 weights, int64 bias, inputs over
 * the whole int16 range. */
static int64_t B64[4096];
static void conv16(int idx, int depthwise) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(3, 12), Wd = ri(3, 12), C = ri(1, 6), K = ri(1, 4), KW = ri(1, 4), S = ri(1, 3),
      D = ri(1, 2), pad = ri(0, 1);
  int dm = ri(1, 3), groups = 1;
  /* one input channel spread over several (an audio model's first layer): the runtime runs it
   * as CONV_2D */
  if (depthwise && idx % 4 == 3) C = 1, dm = 2 + idx % 5;
  if (!depthwise && C % 2 == 0 && ri(0, 2) == 0) groups = 2;
  int OC = depthwise ? C * dm : ri(1, 6) * groups;
  int fic = C / groups;
  int eff = (K - 1) * D + 1, effw = (KW - 1) * D + 1;
  if (pad == 1 && (eff > H || effw > Wd)) pad = 0;
  int OH = pad == 0 ? (H + S - 1) / S : (H + S - eff) / S,
      OW = pad == 0 ? (Wd + S - 1) / S : (Wd + S - effw) / S;
  int32_t din[4] = {1, H, Wd, C}, dw[4] = {depthwise ? 1 : OC, K, KW, depthwise ? OC : fic},
          db[1] = {OC}, dout[4] = {1, OH, OW, OC};
  size_t nw = (size_t)dw[0] * K * KW * dw[3];
  for (size_t i = 0; i < nw; i++) W8[i] = (int8_t)ri(-127, 127);
  float sin = rf(1e-4f, 1e-3f), sout = rf(2e-3f, 2e-2f), ws[64], bs[64];
  int64_t z[64] = {0};
  for (int c = 0; c < OC; c++) {
    ws[c] = rf(0.001f, 0.02f);
    bs[c] = sin * ws[c];
    B64[c] = (int64_t)ri(-3000000, 3000000) * (ri(0, 3) == 0 ? 1000 : 1);
  }
  int x = tb_tensor_add(m, "x", I16, 4, din, NULL, 0);
  int w = tb_tensor_add(m, "w", I8, 4, dw, W8, nw);
  int b = tb_tensor_add(m, "b", I64, 1, db, B64, (size_t)OC * 8);
  int y = tb_tensor_add(m, "y", I16, 4, dout, NULL, 0);
  tb_quant1(m, x, sin, 0);
  tb_quant(m, w, OC, ws, z, depthwise ? 3 : 0);
  tb_quant(m, b, OC, bs, z, 0);
  tb_quant1(m, y, sout, 0);
  tb_op *op = tb_op_add(m, depthwise ? QAT_TFLITE_BUILTIN_DEPTHWISE_CONV_2D : QAT_TFLITE_BUILTIN_CONV_2D, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
  op->version = groups > 1 ? 6 : depthwise && D > 1 ? 2 : 1;
  op->padding = pad;
  op->stride_w = op->stride_h = S;
  op->dil_w = op->dil_h = D;
  op->dm = dm;
  op->act = act(ri(0, 2));
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "%s_i16_%d", depthwise ? "dw" : "conv", idx);
  save(m, name);
  free(m);
}
static void fc16(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int Bt = ri(1, 3), IN = ri(1, 40), OUT = ri(1, 12), pc = ri(0, 1), nb = ri(0, 4) == 0;
  int32_t din[2] = {Bt, IN}, dw[2] = {OUT, IN}, db[1] = {OUT}, dout[2] = {Bt, OUT};
  for (int i = 0; i < OUT * IN; i++) W8[i] = (int8_t)ri(-127, 127);
  float sin = rf(1e-4f, 1e-3f), sout = rf(2e-3f, 2e-2f), ws[64], bs[64];
  int64_t z[64] = {0};
  float w0 = rf(0.001f, 0.02f);
  for (int c = 0; c < OUT; c++) {
    ws[c] = pc ? rf(0.001f, 0.02f) : w0;
    bs[c] = sin * ws[c];
    B64[c] = ri(-3000000, 3000000);
  }
  int x = tb_tensor_add(m, "x", I16, 2, din, NULL, 0);
  int w = tb_tensor_add(m, "w", I8, 2, dw, W8, (size_t)OUT * IN);
  int b = tb_tensor_add(m, "b", I64, 1, db, B64, (size_t)OUT * 8);
  int y = tb_tensor_add(m, "y", I16, 2, dout, NULL, 0);
  tb_quant1(m, x, sin, 0);
  tb_quant(m, w, pc ? OUT : 1, ws, z, 0);
  tb_quant(m, b, pc ? OUT : 1, bs, z, 0);
  tb_quant1(m, y, sout, 0);
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x, w, nb ? -1 : b}, 1, (int32_t[]){y});
  op->version = 1;
  op->act = act(ri(0, 2));
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "fc%s_i16_%d", pc ? "pc" : "", idx);
  save(m, name);
  free(m);
}
static void pool16(int idx, int mx) {
  tb_model *m = calloc(1, sizeof *m);
  /* every other model wider than one register of channels (16 floats, 32 int8), with a tail */
  int H = ri(2, 12), Wd = ri(2, 12), C = idx % 2 ? ri(33, 70) : ri(1, 5), F = ri(1, 4), FW = ri(1, 4), S = ri(1, 3),
      pad = ri(0, 1);
  if (pad == 1 && (F > H || FW > Wd)) pad = 0;
  int OH = pad == 0 ? (H + S - 1) / S : (H + S - F) / S,
      OW = pad == 0 ? (Wd + S - 1) / S : (Wd + S - FW) / S;
  int32_t din[4] = {1, H, Wd, C}, dout[4] = {1, OH, OW, C};
  int x = tb_tensor_add(m, "x", I16, 4, din, NULL, 0),
      y = tb_tensor_add(m, "y", I16, 4, dout, NULL, 0);
  float sc = rf(1e-4f, 1e-3f);
  tb_quant1(m, x, sc, 0);
  tb_quant1(m, y, sc, 0);
  tb_op *op = tb_op_add(m, mx ? QAT_TFLITE_BUILTIN_MAX_POOL_2D : QAT_TFLITE_BUILTIN_AVERAGE_POOL_2D, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  op->version = 3;
  op->padding = pad;
  op->stride_w = op->stride_h = S;
  op->filter_h = F;
  op->filter_w = FW;
  op->act = act(ri(0, 2));
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "%s_i16_%d", mx ? "maxpool" : "avgpool", idx);
  save(m, name);
  free(m);
}
static void mean16(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(1, 12), Wd = ri(1, 12), C = ri(1, 6), kd = ri(0, 1);
  static int32_t axes[2] = {1, 2};
  int32_t din[4] = {1, H, Wd, C}, dax[1] = {2}, dk[4] = {1, 1, 1, C}, dn[2] = {1, C};
  int x = tb_tensor_add(m, "x", I16, 4, din, NULL, 0);
  int a = tb_tensor_add(m, "axes", I32, 1, dax, axes, 8);
  int y = tb_tensor_add(m, "y", I16, kd ? 4 : 2, kd ? dk : dn, NULL, 0);
  tb_quant1(m, x, rf(1e-4f, 1e-3f), 0);
  tb_quant1(m, y, rf(1e-4f, 1e-3f), 0);
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_MEAN, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
  op->version = 3;
  op->keep_dims = kd;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "mean_i16_%d", idx);
  save(m, name);
  free(m);
}
static void softmax16(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int Bt = ri(1, 4), D = ri(1, 30);
  int32_t d[2] = {Bt, D};
  int x = tb_tensor_add(m, "x", I16, 2, d, NULL, 0), y = tb_tensor_add(m, "y", I16, 2, d, NULL, 0);
  tb_quant1(m, x, ri(0, 1) ? rf(1e-4f, 1e-3f) : rf(1e-5f, 1e-4f), 0);
  tb_quant1(m, y, 1.0f / 32768, 0);
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_SOFTMAX, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  op->version = 3;
  op->beta = ri(0, 3) == 0 ? rf(0.5f, 2.0f) : 1.0f;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "softmax_i16_%d", idx);
  save(m, name);
  free(m);
}
static void add16(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(1, 6), Wd = ri(1, 6), C = ri(1, 5), bc = ri(0, 2);
  int32_t d1[4] = {1, H, Wd, C}, d2[4] = {1, bc == 1 ? 1 : H, bc == 1 ? 1 : Wd, bc == 2 ? 1 : C};
  int x = tb_tensor_add(m, "x", I16, 4, d1, NULL, 0), x2 = tb_tensor_add(m, "x2", I16, 4, d2, NULL, 0),
      y = tb_tensor_add(m, "y", I16, 4, d1, NULL, 0);
  tb_quant1(m, x, rf(1e-4f, 1e-3f), 0);
  tb_quant1(m, x2, rf(1e-4f, 1e-3f), 0);
  tb_quant1(m, y, rf(2e-4f, 2e-3f), 0);
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_ADD, 2, (int32_t[]){x, x2}, 1, (int32_t[]){y});
  op->version = 3;
  op->pot_scale_int16_false = 1;
  op->act = act(ri(0, 2));
  m->n_in = 2;
  m->in[0] = x;
  m->in[1] = x2;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "add_i16_%d", idx);
  save(m, name);
  free(m);
}
static void qdq16(int idx) {
  /* float -> QUANTIZE int16 -> DEQUANTIZE float */
  tb_model *m = calloc(1, sizeof *m);
  int32_t d[2] = {1, ri(1, 50)};
  int x = tb_tensor_add(m, "x", F32, 2, d, NULL, 0), q = tb_tensor_add(m, "q", I16, 2, d, NULL, 0),
      f = tb_tensor_add(m, "f", F32, 2, d, NULL, 0);
  tb_quant1(m, q, rf(1e-4f, 2e-4f), 0);
  tb_op_add(m, QAT_TFLITE_BUILTIN_QUANTIZE, 1, (int32_t[]){x}, 1, (int32_t[]){q})->version = 2;
  tb_op_add(m, QAT_TFLITE_BUILTIN_DEQUANTIZE, 1, (int32_t[]){q}, 1, (int32_t[]){f})->version = 3;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 2;
  m->out[0] = q;
  m->out[1] = f;
  char name[64];
  snprintf(name, sizeof name, "qdq_i16_%d", idx);
  save(m, name);
  free(m);
}

/* Dynamic-range (hybrid) ops: float input and output, int8 weights, float bias. Conv weight
 * scales are distinct per channel (the per-channel kernel), per channel but all equal, or per
 * tensor (both the per-tensor kernel); FULLY_CONNECTED with symmetric or asymmetric input
 * quantization, per tensor or per channel. */
static void hybrid_conv(int idx, int depthwise) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(3, 12), Wd = ri(3, 12), C = ri(1, 6), K = ri(1, 4), KW = ri(1, 4), S = ri(1, 3),
      D = ri(1, 2), pad = ri(0, 1), dm = ri(1, 3), groups = 1, mode = depthwise ? 0 : ri(0, 2);
  if (!depthwise && mode != 2 && C % 2 == 0 && ri(0, 2) == 0) groups = 2;
  int OC = depthwise ? C * dm : ri(1, 6) * groups, fic = C / groups;
  int eff = (K - 1) * D + 1, effw = (KW - 1) * D + 1;
  if (pad == 1 && (eff > H || effw > Wd)) pad = 0;
  int OH = pad == 0 ? (H + S - 1) / S : (H + S - eff) / S,
      OW = pad == 0 ? (Wd + S - 1) / S : (Wd + S - effw) / S;
  int32_t din[4] = {1, H, Wd, C}, dw[4] = {depthwise ? 1 : OC, K, KW, depthwise ? OC : fic},
          db[1] = {OC}, dout[4] = {1, OH, OW, OC};
  size_t nw = (size_t)dw[0] * K * KW * dw[3];
  for (size_t i = 0; i < nw; i++) W8[i] = (int8_t)ri(-127, 127);
  float ws[64], w0 = rf(0.001f, 0.02f);
  int64_t z[64] = {0};
  for (int c = 0; c < OC; c++) {
    ws[c] = mode == 0 ? rf(0.001f, 0.02f) : w0;
    WF[c] = rf(-1, 1);
  }
  int x = tb_tensor_add(m, "x", F32, 4, din, NULL, 0);
  int w = tb_tensor_add(m, "w", I8, 4, dw, W8, nw);
  int b = tb_tensor_add(m, "b", F32, 1, db, WF, (size_t)OC * 4);
  int y = tb_tensor_add(m, "y", F32, 4, dout, NULL, 0);
  tb_quant(m, w, mode == 2 ? 1 : OC, ws, z, depthwise ? 3 : 0);
  tb_op *op = tb_op_add(m, depthwise ? QAT_TFLITE_BUILTIN_DEPTHWISE_CONV_2D : QAT_TFLITE_BUILTIN_CONV_2D, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
  op->version = depthwise ? 6 : groups > 1 ? 6 : mode == 2 ? 2 : 5;
  op->padding = pad;
  op->stride_w = op->stride_h = S;
  op->dil_w = op->dil_h = D;
  op->dm = dm;
  op->act = act(ri(0, 2));
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "%s_hybrid_%d", depthwise ? "dw" : "conv", idx);
  save(m, name);
  free(m);
}
static void hybrid_fc(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int Bt = ri(1, 3), IN = ri(1, 40), OUT = ri(1, 12), pc = ri(0, 1), asym = ri(0, 1), nb = ri(0, 4) == 0;
  int32_t din[2] = {Bt, IN}, dw[2] = {OUT, IN}, db[1] = {OUT}, dout[2] = {Bt, OUT};
  for (int i = 0; i < OUT * IN; i++) W8[i] = (int8_t)ri(-127, 127);
  float ws[64], w0 = rf(0.001f, 0.02f);
  int64_t z[64] = {0};
  for (int c = 0; c < OUT; c++) {
    ws[c] = pc ? rf(0.001f, 0.02f) : w0;
    WF[c] = rf(-1, 1);
  }
  int x = tb_tensor_add(m, "x", F32, 2, din, NULL, 0);
  int w = tb_tensor_add(m, "w", I8, 2, dw, W8, (size_t)OUT * IN);
  int b = tb_tensor_add(m, "b", F32, 1, db, WF, (size_t)OUT * 4);
  int y = tb_tensor_add(m, "y", F32, 2, dout, NULL, 0);
  tb_quant(m, w, pc ? OUT : 1, ws, z, 0);
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x, w, nb ? -1 : b}, 1, (int32_t[]){y});
  op->version = pc ? 12 : asym ? 9 : 3;
  op->asym_inputs = asym;
  op->act = act(ri(0, 2));
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "fc%s%s_hybrid_%d", pc ? "pc" : "", asym ? "asym" : "", idx);
  save(m, name);
  free(m);
}
/* float16 weights: DEQUANTIZE (v3) of a FLOAT16 constant into an ADD with the float input. */
static void f16_dequantize(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int32_t d[2] = {ri(1, 3), ri(1, 50)};
  static uint16_t h[256];
  /* finite halves only (the reader refuses non-finite constants): |v| <= 65504, the largest */
  for (int i = 0; i < d[0] * d[1]; i++) h[i] = qat_float_to_half(rf(-65504.0f, 65504.0f) / (float)(1 << ri(0, 30)));
  int x = tb_tensor_add(m, "x", F32, 2, d, NULL, 0), c = tb_tensor_add(m, "c", F16, 2, d, h, (size_t)d[0] * d[1] * 2);
  int cf = tb_tensor_add(m, "cf", F32, 2, d, NULL, 0), y = tb_tensor_add(m, "y", F32, 2, d, NULL, 0);
  tb_op_add(m, QAT_TFLITE_BUILTIN_DEQUANTIZE, 1, (int32_t[]){c}, 1, (int32_t[]){cf})->version = 3;
  tb_op_add(m, QAT_TFLITE_BUILTIN_ADD, 2, (int32_t[]){x, cf}, 1, (int32_t[]){y})->version = 1;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "dequantize_f16_%d", idx);
  save(m, name);
  free(m);
}

/* REDUCE_MAX over 1 or 2 random axes (negative and repeated ones too) of a rank 2-4 input, with
 * and without keep_dims; int types keep the input's quantization, as reduce.cc requires. */
static void reduce_max(int idx, int type) {
  tb_model *m = calloc(1, sizeof *m);
  const int rank = ri(2, 4);
  int32_t din[4], dout[4];
  for (int d = 0; d < rank; d++) din[d] = ri(1, 7);
  int32_t ax[2];
  const int n_ax = ri(1, 2);
  unsigned mask = 0;
  for (int i = 0; i < n_ax; i++) {
    const int a = ri(0, rank - 1);
    ax[i] = ri(0, 1) ? a - rank : a;
    mask |= 1u << a;
  }
  const int kd = ri(0, 1);
  int orank = 0;
  for (int d = 0; d < rank; d++)
    if (!(mask & (1u << d))) dout[orank++] = din[d];
    else if (kd) dout[orank++] = 1;
  const int32_t dax[1] = {n_ax};
  int x = tb_tensor_add(m, "x", type, rank, din, NULL, 0);
  int a = tb_tensor_add(m, "axes", I32, 1, dax, ax, (size_t)n_ax * 4);
  int y = tb_tensor_add(m, "y", type, orank, dout, NULL, 0);
  if (type != F32) {
    const float s = type == I16 ? rf(1e-4f, 1e-3f) : rf(0.01f, 0.2f);
    const int64_t zp = type == I16 ? 0 : ri(-30, 30);
    tb_quant1(m, x, s, zp);
    tb_quant1(m, y, s, zp);
  }
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_REDUCE_MAX, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
  op->version = type == I16 ? 3 : type == I8 ? 2 : 1;
  op->keep_dims = kd;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "reduce_max_%s_%d", type == F32 ? "f32" : type == I8 ? "i8" : "i16",
           idx);
  save(m, name);
  free(m);
}


/* ---- issue 15/16 operators ------------------------------------------------------------------ */

static const char *tname(int type) { return type == F32 ? "f32" : type == I8 ? "i8" : "i16"; }
static void finish(tb_model *m, int n_in, const int *in, int out, const char *name) {
  m->n_in = n_in;
  for (int i = 0; i < n_in; i++) m->in[i] = in[i];
  m->n_out = 1;
  m->out[0] = out;
  save(m, name);
  free(m);
}
static void quant_act(tb_model *m, int t, int type, float lo, float hi) {
  if (type == I8) tb_quant1(m, t, rf(lo, hi), ri(-30, 30));
  if (type == I16) tb_quant1(m, t, rf(lo, hi) / 128, 0);
}

/* MUL, SUB, MAXIMUM, MINIMUM with broadcasting (as add()); MAXIMUM / MINIMUM keep one
 * quantization for all three tensors (their kernels do not rescale). */
static void binary(int idx, int code, int type) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(1, 6), Wd = ri(1, 6), C = ri(1, 5), bc = ri(0, 3);
  int32_t d1[4] = {1, H, Wd, C}, d2[4] = {1, bc == 1 ? 1 : H, bc == 1 ? 1 : Wd, bc == 2 ? 1 : C};
  const int swap = bc == 3; /* the broadcast operand first */
  if (bc == 3) d2[1] = d2[2] = 1;
  int x = tb_tensor_add(m, "x", type, 4, swap ? d2 : d1, NULL, 0),
      x2 = tb_tensor_add(m, "x2", type, 4, swap ? d1 : d2, NULL, 0),
      y = tb_tensor_add(m, "y", type, 4, d1, NULL, 0);
  const int cmp = code == QAT_TFLITE_BUILTIN_MAXIMUM || code == QAT_TFLITE_BUILTIN_MINIMUM;
  if (type != F32) {
    quant_act(m, x, type, 0.01f, 0.2f);
    if (cmp) {
      tb_quant1(m, x2, m->t[x].scales[0], m->t[x].zps[0]);
      tb_quant1(m, y, m->t[x].scales[0], m->t[x].zps[0]);
    } else {
      quant_act(m, x2, type, 0.01f, 0.2f);
      quant_act(m, y, type, code == QAT_TFLITE_BUILTIN_MUL ? 0.002f : 0.02f,
                code == QAT_TFLITE_BUILTIN_MUL ? 0.05f : 0.4f);
    }
  }
  tb_op *op = tb_op_add(m, code, 2, (int32_t[]){x, x2}, 1, (int32_t[]){y});
  op->version = type == F32 ? 1 : 2;
  if (!cmp) op->act = act(ri(0, 2));
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d",
           code == QAT_TFLITE_BUILTIN_MUL   ? "mul"
           : code == QAT_TFLITE_BUILTIN_SUB ? "sub"
           : code == QAT_TFLITE_BUILTIN_MAXIMUM ? "maximum" : "minimum",
           tname(type), idx);
  finish(m, 2, (int[]){x, x2}, y, name);
}

/* swish as the converter lowers SiLU: MUL(x, LOGISTIC(x)), int8, x first in even variants and
 * second in odd ones, with a fused activation now and then (qat's runtime turns the MUL into a
 * table of x's byte; the reference multiplies). */
static void swish(int idx) {
  tb_model *m = calloc(1, sizeof *m);
  int32_t d[4] = {1, ri(1, 8), ri(1, 8), ri(1, 20)};
  int x = tb_tensor_add(m, "x", I8, 4, d, NULL, 0), sg = tb_tensor_add(m, "sigmoid", I8, 4, d, NULL, 0),
      y = tb_tensor_add(m, "y", I8, 4, d, NULL, 0);
  quant_act(m, x, I8, 0.01f, 0.2f);
  tb_quant1(m, sg, 1.0f / 256, -128);
  quant_act(m, y, I8, 0.005f, 0.1f);
  tb_op_add(m, QAT_TFLITE_BUILTIN_LOGISTIC, 1, (int32_t[]){x}, 1, (int32_t[]){sg})->version = 2;
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_MUL, 2, idx % 2 ? (int32_t[]){sg, x} : (int32_t[]){x, sg}, 1,
                        (int32_t[]){y});
  op->version = 2;
  op->act = act(ri(0, 2));
  char name[64];
  snprintf(name, sizeof name, "swish_i8_%d", idx);
  finish(m, 1, (int[]){x}, y, name);
}

/* HARD_SWISH, TANH, LEAKY_RELU, RELU on [B, D]: TANH int8 output (1/128, 0) as the converter writes
 * it; LEAKY_RELU with a negative alpha now and then. */
static void act_op(int idx, int code, int type) {
  tb_model *m = calloc(1, sizeof *m);
  int32_t d[2] = {ri(1, 4), ri(1, 40)};
  int x = tb_tensor_add(m, "x", type, 2, d, NULL, 0), y = tb_tensor_add(m, "y", type, 2, d, NULL, 0);
  const int tl = code == QAT_TFLITE_BUILTIN_TANH || code == QAT_TFLITE_BUILTIN_LOGISTIC;
  if (type == I8) {
    tb_quant1(m, x, rf(0.01f, 0.1f), ri(-30, 30));
    if (tl)
      tb_quant1(m, y, code == QAT_TFLITE_BUILTIN_TANH ? 1.0f / 128 : 1.0f / 256,
                code == QAT_TFLITE_BUILTIN_TANH ? 0 : -128);
    else
      tb_quant1(m, y, rf(0.01f, 0.1f), ri(-30, 30));
  } else if (type == I16 && tl) {
    /* the kernels' two paths: a power-of-two input scale (multiplier 0; TANH also with a shift
     * of 1) and any other scale, up to inputs far into saturation */
    const int pot = ri(0, 2) == 0;
    tb_quant1(m, x, pot ? ldexpf(1.0f, -12 + (code == QAT_TFLITE_BUILTIN_TANH ? ri(0, 1) : 0)) : rf(2e-5f, 2e-3f), 0);
    tb_quant1(m, y, 1.0f / 32768, 0);
  } else if (type == I16) {
    tb_quant1(m, x, rf(1e-4f, 8e-4f), 0);
    tb_quant1(m, y, rf(1e-4f, 8e-4f), 0);
  }
  tb_op *op = tb_op_add(m, code, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  op->version = code == QAT_TFLITE_BUILTIN_HARD_SWISH ? 1
                : type == F32                        ? 1
                : type == I16 && tl                  ? 3
                                                     : 2;
  op->alpha = ri(0, 3) == 0 ? rf(-0.5f, 0.0f) : rf(0.01f, 0.5f);
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d",
           code == QAT_TFLITE_BUILTIN_HARD_SWISH ? "hard_swish"
           : code == QAT_TFLITE_BUILTIN_TANH     ? "tanh"
           : code == QAT_TFLITE_BUILTIN_LOGISTIC ? "logistic"
           : code == QAT_TFLITE_BUILTIN_RELU     ? "relu"
                                                 : "leaky_relu",
           tname(type), idx);
  finish(m, 1, (int[]){x}, y, name);
}

/* PRELU: alpha a constant [C] or [1, 1, C] broadcast over [1, H, W, C] (int8 alpha for int16
 * inputs, as PreluEval reads it). */
static void prelu(int idx, int type) {
  tb_model *m = calloc(1, sizeof *m);
  int H = ri(1, 6), Wd = ri(1, 6), C = ri(1, 8);
  int32_t d[4] = {1, H, Wd, C}, da[3] = {1, 1, C};
  const int ar = ri(0, 1) ? 1 : 3;
  for (int c = 0; c < C; c++) {
    WF[c] = rf(-0.5f, 0.8f);
    W8[c] = (int8_t)ri(-128, 127);
  }
  int x = tb_tensor_add(m, "x", type, 4, d, NULL, 0),
      a = tb_tensor_add(m, "alpha", type == I16 ? I8 : type, ar, ar == 1 ? da + 2 : da,
                        type == F32 ? (void *)WF : (void *)W8, (size_t)C * (type == F32 ? 4 : 1)),
      y = tb_tensor_add(m, "y", type, 4, d, NULL, 0);
  if (type == I8) {
    tb_quant1(m, x, rf(0.01f, 0.1f), ri(-30, 30));
    tb_quant1(m, a, rf(0.002f, 0.01f), ri(-20, 20));
    tb_quant1(m, y, rf(0.01f, 0.1f), ri(-30, 30));
  } else if (type == I16) {
    tb_quant1(m, x, rf(1e-4f, 8e-4f), 0);
    tb_quant1(m, a, rf(0.002f, 0.01f), ri(-20, 20));
    tb_quant1(m, y, rf(1e-4f, 8e-4f), 0);
  }
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_PRELU, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
  op->version = 1;
  char name[64];
  snprintf(name, sizeof name, "prelu_%s_%d", tname(type), idx);
  finish(m, 1, (int[]){x}, y, name);
}

/* A ReLU's threshold as qat writes it: SELECT_V2(LESS(t, x), x, zero), t and zero constants on
 * x's grid. int8 scales below 1/256 in every other model (neighbouring steps then compare equal
 * in LESS, which scales by 256 s), above it in the others. */
static void threshold(int idx, int type) {
  tb_model *m = calloc(1, sizeof *m);
  int32_t d[4] = {1, ri(1, 6), ri(1, 6), ri(1, 5)}, d1[1] = {1};
  const float s = type == I8 ? (idx % 2 ? rf(0.0005f, 0.003f) : rf(0.004f, 0.02f)) : type == I16 ? rf(1e-4f, 8e-4f) : 1.0f;
  const int zp = type == I8 ? ri(-30, 30) : 0;
  WF[0] = rf(-0.5f, 1.0f), WF[1] = 0.0f;
  W8[0] = (int8_t)ri(-60, 60), W8[1] = (int8_t)zp;
  int16_t w16[2] = {(int16_t)ri(-2000, 2000), 0};
  const void *tv = type == F32 ? (const void *)WF : type == I8 ? (const void *)W8 : (const void *)w16;
  const void *zv = type == F32 ? (const void *)(WF + 1) : type == I8 ? (const void *)(W8 + 1) : (const void *)(w16 + 1);
  const size_t es = type == F32 ? 4 : type == I8 ? 1 : 2;
  int x = tb_tensor_add(m, "x", type, 4, d, NULL, 0), t = tb_tensor_add(m, "t", type, 1, d1, tv, es),
      z = tb_tensor_add(m, "zero", type, 1, d1, zv, es),
      c = tb_tensor_add(m, "mask", QAT_TFLITE_TYPE_BOOL, 4, d, NULL, 0), y = tb_tensor_add(m, "y", type, 4, d, NULL, 0);
  if (type != F32)
    for (int k = 0; k < 5; k++)
      if (k != c) tb_quant1(m, k, s, zp);
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_LESS, 2, (int32_t[]){t, x}, 1, (int32_t[]){c});
  op->version = type == F32 ? 1 : type == I8 ? 2 : 3;
  tb_op_add(m, QAT_TFLITE_BUILTIN_SELECT_V2, 3, (int32_t[]){c, x, z}, 1, (int32_t[]){y})->version = 1;
  char name[64];
  snprintf(name, sizeof name, "threshold_%s_%d", tname(type), idx);
  finish(m, 1, (int[]){x}, y, name);
}

/* PAD / PADV2 (constant_values a scalar, for int8 at the output's zero point as pad.cc
 * requires), paddings INT32 [4, 2]. */
static int32_t PADS[8];
static int8_t CV8;
static float CVF;
static void pad(int idx, int type, int v2) {
  tb_model *m = calloc(1, sizeof *m);
  int32_t din[4] = {1, ri(1, 5), ri(1, 5), ri(1, 4)}, dout[4], dp[2] = {4, 2}, d1[1] = {1};
  /* odd variants leave the channels unpadded (an image's padding: rows of W * C copied whole),
   * one in four leaves W unpadded too */
  const int unpadded_from = idx % 4 == 3 ? 2 : idx % 2 ? 3 : 4;
  for (int i = 0; i < 4; i++) {
    PADS[2 * i] = i == 0 || i >= unpadded_from ? 0 : ri(0, 2);
    PADS[2 * i + 1] = i == 0 || i >= unpadded_from ? 0 : ri(0, 2);
    dout[i] = din[i] + PADS[2 * i] + PADS[2 * i + 1];
  }
  const int zp = ri(-30, 30);
  CV8 = (int8_t)zp;
  CVF = rf(-2, 2);
  int x = tb_tensor_add(m, "x", type, 4, din, NULL, 0),
      p = tb_tensor_add(m, "paddings", I32, 2, dp, PADS, sizeof PADS), c = -1;
  if (v2) c = tb_tensor_add(m, "cv", type, 0, d1, type == F32 ? (void *)&CVF : (void *)&CV8, type == F32 ? 4 : 1);
  int y = tb_tensor_add(m, "y", type, 4, dout, NULL, 0);
  if (type == I8) {
    const float sc = rf(0.01f, 0.2f);
    tb_quant1(m, x, sc, zp);
    tb_quant1(m, y, sc, zp);
    if (v2) tb_quant1(m, c, sc, zp);
  }
  tb_op *op = v2 ? tb_op_add(m, QAT_TFLITE_BUILTIN_PADV2, 3, (int32_t[]){x, p, c}, 1, (int32_t[]){y})
                 : tb_op_add(m, QAT_TFLITE_BUILTIN_PAD, 2, (int32_t[]){x, p}, 1, (int32_t[]){y});
  op->version = type == F32 ? 1 : 2;
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d", v2 ? "padv2" : "pad", tname(type), idx);
  finish(m, 1, (int[]){x}, y, name);
}

/* CONCATENATION of 2 or 3 inputs along a random (possibly negative) axis; PACK of 2 or 3 along
 * a new one; int8 with one shared quantization. */
static void concat_pack(int idx, int type, int pack) {
  tb_model *m = calloc(1, sizeof *m);
  const int n = ri(2, 3), rank = ri(1, 3), axis = ri(0, pack ? rank : rank - 1);
  int32_t base[4], dout[4];
  for (int d = 0; d < rank; d++) base[d] = ri(1, 4);
  int in[3];
  const float sc = rf(0.01f, 0.2f);
  const int zp = ri(-30, 30);
  int total = 0;
  for (int j = 0; j < n; j++) {
    int32_t dj[4];
    for (int d = 0; d < rank; d++) dj[d] = base[d];
    if (!pack) dj[axis] = ri(1, 4);
    total += dj[pack ? 0 : axis];
    in[j] = tb_tensor_add(m, j == 0 ? "x0" : j == 1 ? "x1" : "x2", type, rank, dj, NULL, 0);
    if (type == I8) tb_quant1(m, in[j], sc, zp);
  }
  int orank = pack ? rank + 1 : rank;
  for (int d = 0, r = 0; d < orank; d++) {
    if (pack) dout[d] = d == axis ? n : base[r++];
    else dout[d] = d == axis ? total : base[d];
  }
  int y = tb_tensor_add(m, "y", type, orank, dout, NULL, 0);
  if (type == I8) tb_quant1(m, y, sc, zp);
  tb_op *op = tb_op_add(m, pack ? QAT_TFLITE_BUILTIN_PACK : QAT_TFLITE_BUILTIN_CONCATENATION, n,
                        (int32_t[]){in[0], in[1], in[2]}, 1, (int32_t[]){y});
  op->version = type == F32 ? 1 : 2;
  op->axis = ri(0, 1) ? axis - orank : axis;
  op->values_count = n;
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d", pack ? "pack" : "concat", tname(type), idx);
  finish(m, n, in, y, name);
}

/* STRIDED_SLICE of a rank-3 input: random begin / end (negative too), strides +-1..2, random
 * begin / end / shrink masks (shrink only where the slice keeps an element). */
static int32_t SB[3], SE[3], SS[3];
static void strided_slice(int idx, int type) {
  tb_model *m = calloc(1, sizeof *m);
  int32_t din[3] = {ri(1, 6), ri(1, 6), ri(1, 6)}, dout[3], d3[1] = {3};
  int bm = 0, em = 0, sm = 0, orank = 0;
  for (int d = 0; d < 3; d++) {
    const int n = din[d];
    for (;;) {
      SS[d] = ri(0, 3) == 0 ? -ri(1, 2) : ri(1, 2);
      SB[d] = ri(-n, n - 1);
      SE[d] = ri(-n - 1, n + 1);
      const int b1 = ri(0, 3) == 0, e1 = ri(0, 3) == 0, s1 = ri(0, 4) == 0;
      /* the element count as strided_slice.cc computes it */
      int64_t st = SB[d] < 0 ? SB[d] + n : SB[d];
      const int64_t lo = SS[d] > 0 ? 0 : -1, hi = SS[d] > 0 ? n : n - 1;
      st = st < lo ? lo : st > hi ? hi : st;
      if (b1) st = SS[d] > 0 ? 0 : n - 1;
      int64_t en = SE[d] < 0 ? SE[d] + n : SE[d];
      en = en < lo ? lo : en > hi ? hi : en;
      if (e1) en = SS[d] > 0 ? n : -1;
      if (s1) {
        if (st < 0 || st >= n || SS[d] < 0) continue;
        sm |= 1 << d;
        break;
      }
      int64_t cnt = en - st;
      if ((cnt < 0) != (SS[d] < 0) || cnt == 0) continue;
      cnt = SS[d] < 0 ? (cnt + 1) / SS[d] + 1 : (cnt - 1) / SS[d] + 1;
      bm |= b1 << d;
      em |= e1 << d;
      dout[orank++] = (int32_t)cnt;
      break;
    }
  }
  int x = tb_tensor_add(m, "x", type, 3, din, NULL, 0),
      b = tb_tensor_add(m, "begin", I32, 1, d3, SB, sizeof SB),
      e = tb_tensor_add(m, "end", I32, 1, d3, SE, sizeof SE),
      st = tb_tensor_add(m, "strides", I32, 1, d3, SS, sizeof SS),
      y = tb_tensor_add(m, "y", type, orank, dout, NULL, 0);
  if (type == I8) {
    const float sc = rf(0.01f, 0.2f);
    const int zp = ri(-30, 30);
    tb_quant1(m, x, sc, zp);
    tb_quant1(m, y, sc, zp);
  }
  tb_op *op = tb_op_add(m, QAT_TFLITE_BUILTIN_STRIDED_SLICE, 4, (int32_t[]){x, b, e, st}, 1,
                        (int32_t[]){y});
  op->version = type == F32 ? 1 : 2;
  op->begin_mask = bm;
  op->end_mask = em;
  op->shrink_axis_mask = sm;
  char name[64];
  snprintf(name, sizeof name, "strided_slice_%s_%d", tname(type), idx);
  finish(m, 1, (int[]){x}, y, name);
}

/* RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR (bilinear 1 / 0) of a random NHWC input to a random
 * size (up and down, odd ratios), with aligned corners, half-pixel centers or neither; int types
 * keep the input's quantization (the kernels do not rescale). */
static void resize(int idx, int type, int bilinear) {
  tb_model *m = calloc(1, sizeof *m);
  const int32_t din[4] = {ri(1, 2), ri(1, 6), ri(1, 6), ri(1, 5)};
  const int32_t sz[2] = {ri(1, 13), ri(1, 13)};
  const int32_t dout[4] = {din[0], sz[0], sz[1], din[3]}, two[1] = {2};
  const int mode = ri(0, 2); /* 0 neither, 1 align_corners, 2 half_pixel_centers */
  int x = tb_tensor_add(m, "x", type, 4, din, NULL, 0);
  int s = tb_tensor_add(m, "size", I32, 1, two, sz, sizeof sz);
  int y = tb_tensor_add(m, "y", type, 4, dout, NULL, 0);
  if (type != F32) {
    const float sc = type == I16 ? rf(1e-4f, 1e-3f) : rf(0.01f, 0.2f);
    const int64_t zp = type == I16 ? 0 : ri(-30, 30);
    tb_quant1(m, x, sc, zp);
    tb_quant1(m, y, sc, zp);
  }
  tb_op *op = tb_op_add(m, bilinear ? QAT_TFLITE_BUILTIN_RESIZE_BILINEAR : QAT_TFLITE_BUILTIN_RESIZE_NEAREST_NEIGHBOR, 2,
                        (int32_t[]){x, s}, 1, (int32_t[]){y});
  op->align_corners = mode == 1;
  op->half_pixel_centers = mode == 2;
  op->version = type == I16 ? 4 : mode ? 3 : type == I8 ? 2 : 1;
  if (bilinear && mode == 1) op->version = type == I16 ? 4 : type == I8 ? 2 : 1;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "%s_%s_%d", bilinear ? "resize_bilinear" : "resize_nearest",
           type == F32 ? "f32" : type == I8 ? "i8" : "i16", idx);
  save(m, name);
  free(m);
}

/* TRANSPOSE_CONV (kind 0 float32, 1 int8 per channel, 2 16x8 with int64 bias, 3 hybrid: float
 * input, int8 filter per channel or per tensor): batch 1-2, a filter [OC, K, KW, C], strides
 * 1-3, SAME (out = in * s) or VALID (out = (in - 1) * s + k), a random fused activation
 * (version 4), a bias three times in four. */
static void tconv(int idx, int kind) {
  tb_model *m = calloc(1, sizeof *m);
  const int Bt = ri(1, 2), H = ri(1, 6), Wd = ri(1, 6), C = ri(1, 6), K = ri(1, 4), KW = ri(1, 4), S = ri(1, 3),
            pad = ri(0, 1), OC = ri(1, 6), has_b = ri(0, 3) != 0, a = act(ri(0, 2));
  const int per_tensor = kind == 3 && ri(0, 2) == 0;
  const int OH = pad == 0 ? H * S : (H - 1) * S + K, OW = pad == 0 ? Wd * S : (Wd - 1) * S + KW;
  const int32_t din[4] = {Bt, H, Wd, C}, dw[4] = {OC, K, KW, C}, db[1] = {OC}, dout[4] = {Bt, OH, OW, OC},
                four[1] = {4};
  const size_t nw = (size_t)OC * K * KW * C;
  for (size_t i = 0; i < nw; i++) {
    W8[i] = (int8_t)ri(-127, 127);
    WF[i] = rf(-1, 1);
  }
  const int i16 = kind == 2, fx = kind == 0 || kind == 3; /* float activations */
  float sin = i16 ? rf(1e-4f, 1e-3f) : rf(0.01f, 0.1f), sout = i16 ? rf(2e-3f, 2e-2f) : rf(0.5f, 4.0f), ws[64],
        bs[64];
  int64_t z[64] = {0};
  for (int c = 0; c < OC; c++) {
    ws[c] = per_tensor && c ? ws[0] : rf(0.001f, 0.02f);
    bs[c] = sin * ws[c];
    B32[c] = ri(-3000, 3000);
    B64[c] = (int64_t)ri(-3000000, 3000000);
    WF[nw + c] = rf(-1, 1);
  }
  static int32_t shape[4];
  for (int d = 0; d < 4; d++) shape[d] = dout[d];
  const int act_type = kind == 0 || kind == 3 ? F32 : i16 ? I16 : I8;
  int s = tb_tensor_add(m, "output_shape", I32, 1, four, shape, sizeof shape);
  int w = tb_tensor_add(m, "w", kind == 0 ? F32 : I8, 4, dw, kind == 0 ? (void *)WF : (void *)W8,
                        nw * (kind == 0 ? 4 : 1));
  int x = tb_tensor_add(m, "x", act_type, 4, din, NULL, 0);
  int b = -1;
  if (has_b)
    b = fx ? tb_tensor_add(m, "b", F32, 1, db, WF + nw, (size_t)OC * 4)
           : tb_tensor_add(m, "b", i16 ? I64 : I32, 1, db, i16 ? (void *)B64 : (void *)B32, (size_t)OC * (i16 ? 8 : 4));
  int y = tb_tensor_add(m, "y", act_type, 4, dout, NULL, 0);
  if (kind != 0) tb_quant(m, w, per_tensor ? 1 : OC, ws, z, 0);
  if (kind == 1 || kind == 2) {
    tb_quant1(m, x, sin, i16 ? 0 : ri(-20, 20));
    if (has_b) tb_quant(m, b, OC, bs, z, 0);
    tb_quant1(m, y, sout, i16 ? 0 : ri(-10, 10));
  }
  tb_op *op =
      tb_op_add(m, QAT_TFLITE_BUILTIN_TRANSPOSE_CONV, has_b ? 4 : 3, (int32_t[]){s, w, x, b}, 1, (int32_t[]){y});
  op->version = a ? 4 : has_b || i16 ? 3 : kind ? 2 : 1;
  op->padding = pad;
  op->stride_w = op->stride_h = S;
  op->act = a;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  static const char *const kinds[4] = {"f32", "i8", "i16", "hybrid"};
  char name[64];
  snprintf(name, sizeof name, "transpose_conv_%s_%d", kinds[kind], idx);
  save(m, name);
  free(m);
}

/* QUANTIZE as a requantization (a Concatenate's input moved to the shared scale): int8 -> int8
 * and int16 -> int16 / int8 with random scales (int16 zero points 0). */
static void requantize(int idx, int in_type, int out_type) {
  tb_model *m = calloc(1, sizeof *m);
  int32_t d[2] = {1, ri(1, 60)};
  int x = tb_tensor_add(m, "x", in_type, 2, d, NULL, 0), y = tb_tensor_add(m, "y", out_type, 2, d, NULL, 0);
  tb_quant1(m, x, in_type == I16 ? rf(1e-4f, 1e-3f) : rf(0.01f, 0.2f), in_type == I16 ? 0 : ri(-30, 30));
  tb_quant1(m, y, out_type == I16 ? rf(1e-4f, 1e-3f) : rf(0.01f, 0.2f), out_type == I16 ? 0 : ri(-30, 30));
  tb_op_add(m, QAT_TFLITE_BUILTIN_QUANTIZE, 1, (int32_t[]){x}, 1, (int32_t[]){y})->version = out_type == I16 ? 2 : 1;
  m->n_in = 1;
  m->in[0] = x;
  m->n_out = 1;
  m->out[0] = y;
  char name[64];
  snprintf(name, sizeof name, "requantize_%s_%s_%d", in_type == I16 ? "i16" : "i8", out_type == I16 ? "i16" : "i8",
           idx);
  save(m, name);
  free(m);
}

int tb_write_random_models(const char *dir, int n) {
  gen_dir = dir;
  for (fl = 0; fl < 2; fl++)
    for (int i = 0; i < n; i++) {
      conv(i, 0);
      conv(i, 1);
      fc(i);
      pool(i, 0);
      pool(i, 1);
      mean(i);
      unary(i, QAT_TFLITE_BUILTIN_SOFTMAX);
      unary(i, QAT_TFLITE_BUILTIN_LOGISTIC);
      add(i);
    }
  for (int i = 0; i < n; i++) qdq(i);
  for (int i = 0; i < 3 * n; i++) {
    hybrid_conv(i, 0);
    hybrid_conv(i, 1);
    hybrid_fc(i);
    f16_dequantize(i);
  }
  for (int i = 0; i < n; i++) {
    conv16(i, 0);
    conv16(i, 1);
    fc16(i);
    pool16(i, 0);
    pool16(i, 1);
    mean16(i);
    softmax16(i);
    add16(i);
    qdq16(i);
  }
  /* Operators added since: after the others, so that their random streams stay as they were. */
  for (int i = 0; i < n; i++) {
    reduce_max(i, F32);
    reduce_max(i, I8);
    reduce_max(i, I16);
  }
  for (int i = 0; i < n; i++) {
    static const int types[3] = {F32, I8, I16};
    for (int t = 0; t < 3; t++) {
      binary(i, QAT_TFLITE_BUILTIN_MUL, types[t]);
      binary(i, QAT_TFLITE_BUILTIN_SUB, types[t]);
      binary(i, QAT_TFLITE_BUILTIN_MAXIMUM, types[t]);
      binary(i, QAT_TFLITE_BUILTIN_MINIMUM, types[t]);
      if (t < 2) act_op(i, QAT_TFLITE_BUILTIN_TANH, types[t]);
      act_op(i, QAT_TFLITE_BUILTIN_LEAKY_RELU, types[t]);
      act_op(i, QAT_TFLITE_BUILTIN_RELU, types[t]);
    }
    act_op(i, QAT_TFLITE_BUILTIN_HARD_SWISH, F32);
    act_op(i, QAT_TFLITE_BUILTIN_HARD_SWISH, I8);
    for (int t = 0; t < 2; t++) {
      prelu(i, types[t]);
      pad(i, types[t], 0);
      pad(i, types[t], 1);
      concat_pack(i, types[t], 0);
      concat_pack(i, types[t], 1);
      strided_slice(i, types[t]);
    }
  }
  for (int i = 0; i < n; i++) prelu(i, I16);
  for (int i = 0; i < 2 * n; i++)
    for (int bl = 0; bl < 2; bl++) {
      resize(i, F32, bl);
      resize(i, I8, bl);
      resize(i, I16, bl);
    }
  for (int i = 0; i < n; i++) {
    requantize(i, I8, I8);
    requantize(i, I16, I16);
    requantize(i, I16, I8);
  }
  for (int i = 0; i < n; i++)
    for (int kind = 0; kind < 4; kind++) tconv(i, kind);
  for (int i = 0; i < n; i++) {
    act_op(i, QAT_TFLITE_BUILTIN_TANH, I16);
    act_op(i, QAT_TFLITE_BUILTIN_LOGISTIC, I16);
  }
  for (int i = 0; i < 2 * n; i++) swish(i);
  for (int i = 0; i < 2 * n; i++) {
    threshold(i, F32);
    threshold(i, I8);
    threshold(i, I16);
  }
  if (gen_failed) fprintf(stderr, "test_runtime: cannot write models into %s\n", dir);
  return gen_failed ? 1 : 0;
}
