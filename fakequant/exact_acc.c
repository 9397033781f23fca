/* The 16x8 parity report's exact accumulators (qat_fq.wide). The int8 requantization recovers
 * the conv's int32 accumulator from its float output as round(y / (s_in * s_w)), which is exact
 * while the sums stay below 2^24. With int16 inputs they do not: a 3x3x64 conv sums products
 * up to 2^22, float32 drops their low bits, and the 16x8 kernels' int64 accumulator is missed
 * by a few units on a fraction of the outputs, which compounds layer after layer (ResNet-8:
 * 44 % of its logits bit-identical).
 *
 * Here the head op itself computes the accumulator exactly, in float: its input and weights are
 * replaced by their integers (q - zp, q_w), and the input is cut into signed digits of b bits,
 * x = sum_j d_j 2^(b j), |d_j| < 2^b. The op is linear in its input, and with b chosen so that
 * (2^b - 1) * max_c sum |q_w| < 2^24 every product and every partial sum of each pass is an
 * integer that float32 holds exactly, whatever order the GEMM sums in; the passes are combined
 * in double (exact below 2^53). The op's own forward runs each pass, so its geometry (strides,
 * padding, dilation, pointwise or im2col) is the one the model uses. Zero padding stays zero:
 * the integer kernels pad with the zero point, which is 0 once centered. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/op_common.h"
#include "fakequant/requant.h"
#include "qat/fq.h"

static inline double centered(float v, float s) { return round((double)v / (double)s); }

int qat_fq_exact_accumulators(const qat_fq *fq, qat_node *head, const qat_exec *ex, double *acc) {
  const qat_fq *in = fq->input, *wq = fq->weight;
  const qat_op_info *op = qat_op_get(head->op);
  if (!op || !op->forward || head->n_inputs < 2 || !in->valid || !wq->valid) return -1;
  qat_tensor *x = head->inputs[0], *w = head->inputs[1], *y = head->output;
  const int64_t nx = qat_tensor_size(x), nw = qat_tensor_size(w), ny = qat_tensor_size(y);
  const int channels = fq->requant_channels;
  if (ny % channels) return -1;

  /* the weights' integers, and the largest L1 norm of one output channel's */
  int64_t shape[QAT_MAX_RANK], outer, wch, inner;
  for (int i = 0; i < w->rank; i++) shape[i] = w->dims[i];
  qat_quant_axis_split(shape, w->rank, wq->axis, &outer, &wch, &inner);
  if (wch != wq->channels) return -1;
  float *wi = malloc((size_t)nw * sizeof *wi);
  double *l1 = calloc((size_t)wch, sizeof *l1);
  float *xd = malloc((size_t)nx * sizeof *xd), *part = malloc((size_t)ny * sizeof *part);
  int32_t *xi = malloc((size_t)nx * sizeof *xi);
  int rc = -1;
  if (!wi || !l1 || !xd || !part || !xi) goto done;
  for (int64_t k = 0; k < nw; k++) {
    const int64_t c = (k / inner) % wch;
    wi[k] = (float)centered(w->data[k], wq->scale[c]);
    l1[c] += fabsf(wi[k]);
  }
  double l1_max = 0.0;
  for (int64_t c = 0; c < wch; c++) l1_max = l1[c] > l1_max ? l1[c] : l1_max;

  int32_t x_max = 0;
  for (int64_t k = 0; k < nx; k++) {
    const double r = centered(x->data[k], in->scale[0]);
    if (!(fabs(r) <= 1048576.0)) goto done; /* not on a 16-bit grid */
    xi[k] = (int32_t)r;
    x_max = abs(xi[k]) > x_max ? abs(xi[k]) : x_max;
  }
  int bits = 16;
  while (bits > 1 && ((double)(1 << bits) - 1.0) * l1_max >= 16777216.0) bits--;
  if (((double)(1 << bits) - 1.0) * l1_max >= 16777216.0) goto done;
  int top = 0;
  while (top < 31 && (x_max >> top) != 0) top++;
  const int passes = top ? (top + bits - 1) / bits : 1;

  float *saved_x = x->data, *saved_w = w->data, *saved_y = y->data;
  const int saved_n = head->n_inputs;
  head->n_inputs = 2; /* the bias is added below, as an integer */
  w->data = wi;
  x->data = xd;
  y->data = part;
  const int32_t mask = (1 << bits) - 1;
  memset(acc, 0, (size_t)ny * sizeof *acc);
  for (int p = 0; p < passes; p++) {
    for (int64_t k = 0; k < nx; k++) {
      const int32_t d = (abs(xi[k]) >> (p * bits)) & mask;
      xd[k] = (float)(xi[k] < 0 ? -d : d);
    }
    op->forward(head, ex);
    const double weight = ldexp(1.0, p * bits);
    for (int64_t k = 0; k < ny; k++) acc[k] += (double)part[k] * weight;
  }
  head->n_inputs = saved_n;
  x->data = saved_x;
  w->data = saved_w;
  y->data = saved_y;
  if (saved_n > 2) { /* the bias, on its grid s_in * s_w[c] */
    const float *b = head->inputs[2]->data;
    for (int64_t k = 0; k < ny; k++) {
      const int c = (int)(k % channels);
      acc[k] += round((double)b[c] / (double)(in->scale[0] * wq->scale[wq->channels == 1 ? 0 : c]));
    }
  }
  rc = 0;
done:
  free(wi);
  free(l1);
  free(xd);
  free(part);
  free(xi);
  return rc;
}
