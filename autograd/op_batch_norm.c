/* BatchNormalization over the last axis (NHWC or [N, C]). Training normalizes with the batch's
 * biased variance and updates the running averages as Keras does
 * (moving = momentum * moving + (1 - momentum) * batch); inference uses the running values. */
#include <math.h>
#include <omp.h>

#include "op_common.h"

#define BN_GAMMA(n) ((n)->inputs[1])
#define BN_BETA(n) ((n)->inputs[2])
#define BN_MEAN(n) ((n)->inputs[3])
#define BN_VAR(n) ((n)->inputs[4])

typedef struct bn_work {
  float *mean, *invstd; /* the statistics this step normalized with */
  double *partial;      /* per-thread channel sums, reduced in a fixed order */
} bn_work;

static int channels(const qat_node *nd) { return OP_X(nd)->dims[OP_X(nd)->rank - 1]; }

static bn_work work(const qat_node *nd) {
  int c = channels(nd);
  bn_work w;
  w.partial = nd->scratch;
  w.mean = (float *)(w.partial + (size_t)2 * c * nd->threads);
  w.invstd = w.mean + c;
  return w;
}

static int bn_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  if (nd->n_inputs != 5) return qat_fail(QAT_ERR_INTERNAL, "batch_norm needs 5 inputs");
  if (x->rank != 2 && x->rank != 4) {
    char xs[64];
    shape_str(x, xs, sizeof xs);
    return qat_fail(QAT_ERR_USAGE, "BatchNormalization expects [batch,H,W,C] or [batch,C], got %s", xs);
  }
  int c = x->dims[x->rank - 1];
  for (int i = 1; i < 5; i++)
    if (nd->inputs[i]->rank != 1 || nd->inputs[i]->dims[0] != c)
      return qat_fail(QAT_ERR_USAGE, "BatchNormalization parameters do not match %d channels", c);
  if (!(nd->attrs.epsilon > 0.0f)) return qat_fail(QAT_ERR_USAGE, "BatchNormalization epsilon must be > 0");
  y->rank = x->rank;
  for (int i = 0; i < x->rank; i++) y->dims[i] = x->dims[i];
  *scratch = (size_t)2 * c * nd->threads * sizeof(double) + (size_t)2 * c * sizeof(float);
  return QAT_OK;
}

/* Per-channel sums are taken in float over blocks of BN_BLOCK rows (so the loops vectorize)
 * and the blocks are added in double (so long sums keep their precision). Each thread owns
 * whole blocks and the threads' totals are added in thread order: the result does not depend
 * on scheduling. */
#define BN_BLOCK 64

/* mode 0: sum x; mode 1: sum (x - mean)^2; mode 2: sum dy and sum dy * xhat (two outputs). */
static void channel_sums(const qat_node *nd, const bn_work *w, const float *x, const float *dy, int64_t rows,
                         int c, int mode, double *out) {
  int outputs = mode == 2 ? 2 : 1;
  memset(w->partial, 0, sizeof(double) * (size_t)outputs * c * nd->threads);
  int64_t blocks = (rows + BN_BLOCK - 1) / BN_BLOCK;
#pragma omp parallel num_threads(nd->threads)
  {
    double *acc = w->partial + (size_t)outputs * c * omp_get_thread_num();
    float f0[c], f1[c];
#pragma omp for schedule(static)
    for (int64_t bl = 0; bl < blocks; bl++) {
      int64_t r0 = bl * BN_BLOCK, r1 = r0 + BN_BLOCK < rows ? r0 + BN_BLOCK : rows;
      for (int k = 0; k < c; k++) f0[k] = f1[k] = 0.0f;
      for (int64_t r = r0; r < r1; r++) {
        const float *restrict row = x + r * c;
        if (mode == 0) {
          for (int k = 0; k < c; k++) f0[k] += row[k];
        } else if (mode == 1) {
          for (int k = 0; k < c; k++) {
            float d = row[k] - w->mean[k];
            f0[k] += d * d;
          }
        } else {
          const float *restrict g = dy + r * c;
          for (int k = 0; k < c; k++) {
            f0[k] += g[k];
            f1[k] += g[k] * ((row[k] - w->mean[k]) * w->invstd[k]);
          }
        }
      }
      for (int k = 0; k < c; k++) acc[k] += f0[k];
      if (mode == 2)
        for (int k = 0; k < c; k++) acc[c + k] += f1[k];
    }
  }
  for (int k = 0; k < outputs * c; k++) out[k] = 0.0;
  for (int t = 0; t < nd->threads; t++)
    for (int k = 0; k < outputs * c; k++) out[k] += w->partial[(size_t)outputs * c * t + k];
}

/* channel_sums over each half of the batch apart (qat_exec.halves), then added once in double,
 * as 2 ranks' allreduce adds them; part (NULL: not kept) gets each half's sums, outputs * c
 * apiece. Returns the halves. */
static int half_sums(const qat_node *nd, const qat_exec *ex, const bn_work *w, const float *x, const float *dy,
                     int64_t rows, int c, int mode, double *out, double *part) {
  const qat_tensor *xt = OP_X(nd);
  const int outputs = mode == 2 ? 2 : 1;
  int64_t half[3];
  const int halves = op_halves(ex, xt, half);
  const int64_t per_sample = rows / half[halves];
  double own[2 * 2 * c], *p = part ? part : own;
  for (int h = 0; h < halves; h++) {
    const int64_t r0 = half[h] * per_sample;
    channel_sums(nd, w, x + r0 * c, dy ? dy + r0 * c : NULL, (half[h + 1] - half[h]) * per_sample, c, mode,
                 p + (size_t)h * outputs * c);
  }
  for (int k = 0; k < outputs * c; k++) out[k] = halves == 2 ? p[k] + p[outputs * c + k] : p[k];
  return halves;
}

/* The rows the statistics are over: this process's, or with a collective (data-parallel
 * training) the whole global batch's, whose sums are then added over the processes. */
static double stat_rows(const qat_tensor *x, int64_t rows, const qat_exec *ex) {
  if (!ex->coll) return (double)rows;
  int64_t per_sample = x->rank == 4 ? (int64_t)x->dims[1] * x->dims[2] : 1;
  return (double)(per_sample * ex->coll->global_batch);
}

static void bn_forward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd);
  int c = channels(nd);
  int64_t rows = qat_tensor_size(x) / c;
  bn_work w = work(nd);
  const float *gamma = BN_GAMMA(nd)->data, *beta = BN_BETA(nd)->data;
  float *rmean = BN_MEAN(nd)->data, *rvar = BN_VAR(nd)->data;
  float eps = nd->attrs.epsilon;
  if (ex->training && !ex->freeze_bn) {
    double sums[c], total = stat_rows(x, rows, ex);
    half_sums(nd, ex, &w, x->data, NULL, rows, c, 0, sums, NULL);
    if (ex->coll) ex->coll->sum(ex->coll->ctx, sums, c);
    for (int k = 0; k < c; k++) w.mean[k] = (float)(sums[k] / total);
    half_sums(nd, ex, &w, x->data, NULL, rows, c, 1, sums, NULL);
    if (ex->coll) ex->coll->sum(ex->coll->ctx, sums, c);
    float m = nd->attrs.momentum;
    for (int k = 0; k < c; k++) {
      float var = (float)(sums[k] / total);
      w.invstd[k] = 1.0f / sqrtf(var + eps);
      rmean[k] = m * rmean[k] + (1.0f - m) * w.mean[k];
      rvar[k] = m * rvar[k] + (1.0f - m) * var;
    }
  } else {
    for (int k = 0; k < c; k++) {
      w.mean[k] = rmean[k];
      w.invstd[k] = 1.0f / sqrtf(rvar[k] + eps);
    }
  }
  float *y = nd->output->data;
  float scale[c], shift[c];
  for (int k = 0; k < c; k++) {
    scale[k] = gamma[k] * w.invstd[k];
    shift[k] = beta[k] - w.mean[k] * scale[k];
  }
#pragma omp parallel for schedule(static) num_threads(nd->threads)
  for (int64_t r = 0; r < rows; r++)
    for (int k = 0; k < c; k++) y[r * c + k] = x->data[r * c + k] * scale[k] + shift[k];
}

static void bn_backward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd), *gt = BN_GAMMA(nd), *bt = BN_BETA(nd);
  int c = channels(nd);
  int64_t rows = qat_tensor_size(x) / c;
  bn_work w = work(nd);
  const float *dy = nd->output->grad, *gamma = gt->data;
  double sums[2 * c], part[2 * 2 * c];
  const int halves = half_sums(nd, ex, &w, x->data, dy, rows, c, 2, sums, part);
  const double *sum_dy = sums, *sum_dy_xhat = sums + c;
  /* gamma and beta get this process's share (each half's); the gradient allreduce adds the
   * shares */
  for (int h = 0; h < halves; h++) {
    float *dgamma = op_grad_half(gt, h), *dbeta = op_grad_half(bt, h);
    const double *p = part + (size_t)h * 2 * c;
    if (dgamma)
      for (int k = 0; k < c; k++) dgamma[k] += (float)p[c + k];
    if (dbeta)
      for (int k = 0; k < c; k++) dbeta[k] += (float)p[k];
  }
  if (!x->grad) return;
  if (ex->training && !ex->freeze_bn) {
    /* dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)), M and the sums
     * over the global batch */
    if (ex->coll) ex->coll->sum(ex->coll->ctx, sums, 2 * c);
    float inv_m = 1.0f / (float)stat_rows(x, rows, ex);
    float mean_dy[c], mean_dy_xhat[c];
    for (int k = 0; k < c; k++) {
      mean_dy[k] = (float)(sum_dy[k] * inv_m);
      mean_dy_xhat[k] = (float)(sum_dy_xhat[k] * inv_m);
    }
#pragma omp parallel for schedule(static) num_threads(nd->threads)
    for (int64_t r = 0; r < rows; r++)
      for (int k = 0; k < c; k++) {
        float xhat = (x->data[r * c + k] - w.mean[k]) * w.invstd[k];
        x->grad[r * c + k] += gamma[k] * w.invstd[k] * (dy[r * c + k] - mean_dy[k] - xhat * mean_dy_xhat[k]);
      }
  } else {
#pragma omp parallel for schedule(static) num_threads(nd->threads)
    for (int64_t r = 0; r < rows; r++)
      for (int k = 0; k < c; k++) x->grad[r * c + k] += dy[r * c + k] * gamma[k] * w.invstd[k];
  }
}

/* Textbook batch norm in double, one channel at a time: the reference for the blocked,
 * threaded kernels above. */
static void bn_forward_ref(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd);
  int c = channels(nd);
  int64_t rows = qat_tensor_size(x) / c;
  bn_work w = work(nd);
  const float *gamma = BN_GAMMA(nd)->data, *beta = BN_BETA(nd)->data;
  float *rmean = BN_MEAN(nd)->data, *rvar = BN_VAR(nd)->data;
  for (int k = 0; k < c; k++) {
    double mean = rmean[k], var = rvar[k];
    if (ex->training && !ex->freeze_bn) {
      double s = 0, sq = 0;
      for (int64_t r = 0; r < rows; r++) s += x->data[r * c + k];
      mean = s / rows;
      for (int64_t r = 0; r < rows; r++) sq += (x->data[r * c + k] - mean) * (x->data[r * c + k] - mean);
      var = sq / rows;
      float m = nd->attrs.momentum;
      rmean[k] = m * rmean[k] + (1.0f - m) * (float)mean;
      rvar[k] = m * rvar[k] + (1.0f - m) * (float)var;
    }
    double invstd = 1.0 / sqrt(var + nd->attrs.epsilon);
    w.mean[k] = (float)mean;
    w.invstd[k] = (float)invstd;
    for (int64_t r = 0; r < rows; r++)
      nd->output->data[r * c + k] = (float)(gamma[k] * (x->data[r * c + k] - mean) * invstd + beta[k]);
  }
}

static void bn_backward_ref(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd), *gt = BN_GAMMA(nd), *bt = BN_BETA(nd);
  int c = channels(nd);
  int64_t rows = qat_tensor_size(x) / c;
  bn_work w = work(nd);
  const float *dy = nd->output->grad;
  for (int k = 0; k < c; k++) {
    double sd = 0, sdx = 0, invstd = w.invstd[k];
    for (int64_t r = 0; r < rows; r++) {
      double xhat = (x->data[r * c + k] - w.mean[k]) * invstd;
      sd += dy[r * c + k];
      sdx += dy[r * c + k] * xhat;
    }
    if (gt->grad) gt->grad[k] += (float)sdx;
    if (bt->grad) bt->grad[k] += (float)sd;
    if (!x->grad) continue;
    double g = gt->data[k];
    for (int64_t r = 0; r < rows; r++) {
      double xhat = (x->data[r * c + k] - w.mean[k]) * invstd;
      double d = ex->training && !ex->freeze_bn ? g * invstd * (dy[r * c + k] - sd / rows - xhat * sdx / rows) : g * invstd * dy[r * c + k];
      x->grad[r * c + k] += (float)d;
    }
  }
}

static int bn_example(qat_op_example *ex, int variant) {
  if (variant > 3) return -1;
  int c = 3;
  if (variant == 2)
    example_input(ex, 0, 2, (int[]){5, c}, 1, 1, QAT_FILL_UNIFORM);
  else
    example_input(ex, 0, 4, (int[]){2, 3, 2, c}, 1, 1, QAT_FILL_UNIFORM);
  example_input(ex, 1, 1, (int[]){c}, 0, 1, QAT_FILL_POSITIVE);
  example_input(ex, 2, 1, (int[]){c}, 0, 1, QAT_FILL_UNIFORM);
  example_input(ex, 3, 1, (int[]){c}, 0, 0, QAT_FILL_UNIFORM);
  example_input(ex, 4, 1, (int[]){c}, 0, 0, QAT_FILL_POSITIVE);
  ex->attrs.momentum = 0.99f;
  ex->attrs.epsilon = 1e-3f;
  ex->training = variant != 1;
  ex->freeze_bn = variant == 3;
  return 0;
}

const qat_op_info qat_op_info_batch_norm = {
    .name = "batch_norm", .plan = bn_plan, .forward = bn_forward, .backward = bn_backward,
    .forward_ref = bn_forward_ref, .backward_ref = bn_backward_ref, .example = bn_example,
};
