/* The int8 conv / fully-connected requantization of fake-quant training (op_fake_quant.c's
 * QAT_REQUANT_FIXED_POINT and QAT_REQUANT_DOUBLE) over a range of a [rows, channels] tensor:
 * a plain C path and an AVX2 one chosen at run time, bit-equal (test_requant holds them so). */
#ifndef QAT_FAKEQUANT_REQUANT_H
#define QAT_FAKEQUANT_REQUANT_H

#include <math.h>
#include <stdint.h>

/* A double on the int32 grid's range: saturated, NaN -> 0 (what the int8 kernels' accumulators
 * hold where a float could not say). */
static inline int32_t qat_sat_int32(double v) {
  return v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : v == v ? (int32_t)v : 0;
}

/* A value of a fake-quantized tensor back on its grid: the centered integer q - zp (the tensor
 * holds (q - zp) * s, so the division recovers it exactly), saturated. */
static inline int32_t qat_fq_centered(float v, float s) { return qat_sat_int32(round((double)v / (double)s)); }

typedef struct qat_requant_job {
  const float *x; /* the float conv / dense output before the fused activation (with acc_bias:
                     the head op's own output, before the folded batch norm) */
  const double *acc; /* wide only: the accumulators themselves (qat_fq_exact_accumulators), in
                       place of round(x / (s_in * s_w)); NULL: recovered from x */
  float *y;       /* (q - zp) * s_out */
  int64_t begin, end;
  int channels;  /* element i is channel i % channels */
  int fixed_point; /* 1: Q31 multiplier and shift (mult, shift); 0: round(acc * eff[c]) */
  int wide;        /* the 16x8 kernels: an int64 accumulator; fixed_point with
                      qat_multiply_by_quantized_multiplier_int64; the plain C path only */
  float s_in;
  const float *w_scale; /* per channel, or one value when per_tensor */
  int per_tensor;
  const int32_t *mult;
  const int *shift;
  const double *eff;
  const double *acc_bias; /* per channel, added to the accumulator (a folded batch norm's bias
                             integers, see op_fake_quant.c); NULL: none */
  int32_t zp, act_min, act_max;
  float s_out;
  const double *inv; /* per channel 1 / (s_in * s_w[c]) (qat_requant_reciprocals), for the
                        AVX-512 path; NULL leaves the job to the narrower ones */
} qat_requant_job;

/* inv[c] for the job's channels: the float product s_in * s_w[c], then the double reciprocal;
 * once per requantization, not per chunk of it */
void qat_requant_reciprocals(const qat_requant_job *j, double *inv);
void qat_requant_run_ref(const qat_requant_job *j);
/* Returns 0 when it ran, -1 when the CPU lacks AVX2 (nothing written). */
int qat_requant_run_avx2(const qat_requant_job *j);
/* Returns 0 when it ran, -1 (nothing written) when the CPU lacks AVX-512 (F, DQ, BW, VL, VNNI), or
 * for a job it leaves to the AVX2 path: the double form (fixed_point 0), wide, or no inv. */
int qat_requant_run_avx512(const qat_requant_job *j);
/* The widest path qat_simd_path allows (fakequant/simd.h: QAT_SIMD=0 the plain one, avx2 at
 * most AVX2). */
void qat_requant_run(const qat_requant_job *j);

/* One row of the int8 / int16 ADD (SUB) kernel's arithmetic over two fake-quantized inputs,
 * as op_fake_quant.c's ADD quantizer recomputes it: each input back on its grid,
 * c = round(v / s) (half away from zero, saturated, NaN -> 0), then qat_add_requantize, and
 * y = (q - zp) * s_out. Element i of the row reads a[i * a_stride] and b[i * b_stride]
 * (stride 0: a broadcast value). */
typedef struct qat_add_requant_row {
  const float *a, *b;
  int64_t a_stride, b_stride;
  float *y;
  int n;
  float s1, s2, s_out;
  const int32_t *mult; /* [3]: input 1, input 2, output (qat_add_multipliers) */
  const int *shift;    /* [3] */
  int left_shift, subtract;
  int32_t zp, act_min, act_max;
} qat_add_requant_row;

void qat_add_requant_row_ref(const qat_add_requant_row *j);
/* Returns 0 when it ran, -1 when the CPU lacks AVX2 (nothing written). */
int qat_add_requant_row_avx2(const qat_add_requant_row *j);
/* Returns 0 when it ran, -1 (nothing written) when the CPU lacks AVX-512 or for a strided input
 * (neither contiguous nor broadcast), left to the AVX2 path. */
int qat_add_requant_row_avx512(const qat_add_requant_row *j);
/* The widest path qat_simd_path allows (fakequant/simd.h). */
void qat_add_requant_row_run(const qat_add_requant_row *j);

#endif
