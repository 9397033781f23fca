/* runtime/ internals shared by the reader, the interpreter and the kernels (not installed; the
 * tests include it to call kernels directly on hand-computed cases). */
#ifndef QAT_RT_INTERNAL_H
#define QAT_RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "qat/runtime.h"

/* ---- the loaded model ------------------------------------------------------------------ */

typedef struct rt_tensor {
  const char *name; /* into the model's file copy (verified NUL-terminated) or "" */
  int type;
  int rank;
  int32_t dims[QAT_RT_MAX_RANK];
  int64_t n_elems;
  size_t bytes;
  int buffer;
  int is_variable;
  const uint8_t *const_data; /* constants: the file copy or `owned` (aligned) */
  uint8_t *owned;
  int is_input, is_output;
  /* its shape was computed at Prepare, not read from the file: the converter stores a batch of 1
   * for SPACE_TO_BATCH_ND's output and what follows it up to BATCH_TO_SPACE_ND, which TFLite
   * resizes; ops reading it compute their outputs' shapes (rt_check_out_shape) */
  int resized;
  /* a constant whose values were computed at Prepare (rt_fold_constant: shape arithmetic), not
   * stored: a shape taken from it is TFLite's to resize to, as one computed from a resized tensor */
  int computed;
  int producer;            /* op index, -1 for constants and graph inputs */
  int first_use, last_use; /* op index range in which an activation is live */
  int in_arena;
  size_t arena_offset;
  /* quantization (n_q == 0: none) */
  int n_q;
  float *scales;
  int64_t *zero_points;
  int qdim;
} rt_tensor;

/* Fused activations (ActivationFunctionType). */
enum { RT_ACT_NONE = 0, RT_ACT_RELU = 1, RT_ACT_RELU_N1_TO_1 = 2, RT_ACT_RELU6 = 3 };
enum { RT_PAD_SAME = 0, RT_PAD_VALID = 1 };

/* Builtin options as read from the file (defaults per schema when absent). */
typedef struct rt_options {
  int padding, stride_w, stride_h, dilation_w, dilation_h, filter_w, filter_h;
  int activation, depth_multiplier;
  int keep_num_dims, asymmetric_quantize_inputs, weights_format, keep_dims;
  int pot_scale_int16;
  int align_corners, half_pixel_centers; /* RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR */
  float beta;
  int n_new_shape; /* -1: ReshapeOptions.new_shape absent */
  int32_t new_shape[QAT_RT_MAX_RANK];
  int axis, values_count; /* CONCATENATION, PACK; GATHER's axis */
  int batch_dims;         /* GATHER */
  int begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask, offset;
  int out_type;  /* SHAPE */
  float alpha;   /* LEAKY_RELU */
  int n_squeeze; /* SqueezeOptions.squeeze_dims (0: every dimension of size 1) */
  int32_t squeeze_dims[QAT_RT_MAX_RANK];
} rt_options;

/* Geometry of convolution-like ops (NHWC). */
typedef struct rt_conv_geom {
  int batches, in_h, in_w, in_c;
  int out_h, out_w, out_c;
  int k_h, k_w;
  int filter_in_c;      /* CONV_2D: input channels per group (in_c / groups) */
  int depth_multiplier; /* DEPTHWISE_CONV_2D */
  int stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
} rt_conv_geom;

/* Requantization of an int8 output: per output channel multiplier and shift (a per-tensor one
 * is broadcast), offsets, and the fused activation's clamp. */
typedef struct rt_requant {
  int32_t in_offset; /* -input zero point */
  int32_t out_zp;
  int32_t act_min, act_max;
  const int32_t *mult;
  const int *shift;
  /* FULLY_CONNECTED, LiteRT flavour: per output channel (double)s_in * s_w[c] / s_out, used as
   * (int32)round(acc * eff[c]) instead of mult/shift. NULL: the fixed-point path. */
  const double *eff;
  /* AVX-512 only: each block of 16 channels' multipliers in rt_rq16's prepared form (the
   * micro-kernels would otherwise prepare a block for every tile of 4 rows), and for at most 8
   * channels a second block with them in both halves; NULL: prepared where used */
  const void *rq16;
} rt_requant;

typedef struct rt_pool_geom {
  int batches, in_h, in_w, c, out_h, out_w, f_h, f_w, stride_h, stride_w, pad_h, pad_w;
} rt_pool_geom;

/* Broadcasting element-wise binary op over (up to) 6 dims: strides are 0 along broadcast
 * dimensions. */
typedef struct rt_bcast {
  int64_t dims[QAT_RT_MAX_RANK];
  int64_t s1[QAT_RT_MAX_RANK], s2[QAT_RT_MAX_RANK];
} rt_bcast;

/* Reduction over a set of axes of a row-major shape. */
typedef struct rt_reduce_geom {
  int rank;
  int64_t dims[QAT_RT_MAX_RANK];
  unsigned axis_mask; /* bit a set: axis a is reduced */
  int64_t n_out, n_reduce;
} rt_reduce_geom;

typedef struct rt_add_params {
  int32_t in1_offset, in2_offset, out_zp;
  int left_shift;
  int32_t m1, m2, mo;
  int s1, s2, so;
  int32_t act_min, act_max;
} rt_add_params;

/* HARD_SWISH int8 (activations.cc HardSwishParams): Q15 multipliers and exponents. */
typedef struct rt_hard_swish_params {
  int32_t in_zp, out_zp;
  int16_t out_mult16, reluish_mult16;
  int out_exp, reluish_exp;
} rt_hard_swish_params;

/* int8 CONV_2D / FULLY_CONNECTED weights packed for a SIMD GEMM (igemm.c). path PLAIN: not
 * packed, the plain kernels run. */
enum { RT_IGEMM_PLAIN = 0, RT_IGEMM_AVX2 = 1, RT_IGEMM_VNNI = 2 };
#define RT_IGEMM_KMAX 8192 /* deepest patch the tile buffers hold */
typedef struct rt_igemm_b {
  int path;
  int n, k, kp, np; /* output channels, depth; padded to the layout's block and group */
  void *w;          /* packed weights, 64-byte aligned */
  int32_t *bias;    /* per channel: bias plus the path's offset correction */
  void *a;          /* FULLY_CONNECTED: its input rows in the path's form */
  int32_t *wsum;    /* per channel: the sum of its weights (wrapped) */
  int direct_gpr;   /* CONV_2D read in place (rt_igemm_pack_conv): groups of 4 bytes per window
                       row; a then holds the converted input image */
} rt_igemm_b;

/* float32 CONV_2D / FULLY_CONNECTED weights packed for a SIMD GEMM (sgemm.c): [n / block][k]
 * [block], block 16 (AVX-512) or 8 (AVX2); path as the int8 one's (PLAIN: not packed). */
#define RT_SGEMM_KMAX 8192
typedef struct rt_sgemm_b {
  int path;
  int n, k, np;
  float *w; /* 64-byte aligned */
  int direct_row; /* CONV_2D read in place (rt_sgemm_pack_conv): floats per window row; img holds
                     the input copied inside its border */
  float *img;
} rt_sgemm_b;

struct rt_op;
/* An operator's kernel for the tensor types its Prepare found (runtime/rt_op.h). */
typedef int (*rt_eval_fn)(struct qat_rt_model *m, int k, struct rt_op *op);

typedef struct rt_op {
  int code, version, opcode_index;
  const char *name;
  int n_in, n_out;
  int32_t *in, *out;
  int options_type;
  rt_options opt;
  int64_t macs;
  /* prepared */
  rt_eval_fn eval; /* chosen by Prepare; NULL: nothing to do at Invoke */
  rt_conv_geom conv;
  rt_pool_geom pool;
  rt_requant rq;
  int32_t *mult; /* owned per-channel multipliers for rq */
  int *shift;
  void *rq16;  /* owned, for rq */
  double *eff; /* owned, FULLY_CONNECTED LiteRT flavour */
  float f_min, f_max;
  int batches, accum_depth, out_depth; /* FULLY_CONNECTED; SOFTMAX outer/depth */
  int64_t outer, depth;
  int32_t s_mult;
  int s_shift, s_diff_min; /* SOFTMAX; MEAN and requantize multipliers reuse these */
  int32_t in_zp, out_zp;
  float in_scale, out_scale;
  rt_add_params add; /* ADD, SUB; MUL uses the offsets, mo / so and the clamp */
  rt_hard_swish_params hs;
  int32_t s_mult2; /* LEAKY_RELU / PRELU: a second multiplier (alpha) */
  int s_shift2;
  uint8_t pad_value[8]; /* PAD / PADV2: the padding element's bytes */
  int64_t pads[QAT_RT_MAX_RANK][2]; /* SPACE_TO_BATCH_ND's paddings, BATCH_TO_SPACE_ND's crops too */
  int64_t block[2];                 /* SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND: block height, width */
  rt_bcast bc;
  int64_t s3[QAT_RT_MAX_RANK]; /* SELECT_V2: y's broadcast strides (bc.s1, s2: the condition's, x's) */
  rt_reduce_geom red;
  int32_t *scratch; /* MEAN int8: n_out int32 sums */
  int8_t *qbuf;     /* hybrid ops: the input quantized per batch (owned) */
  int hy_per_channel;  /* hybrid CONV_2D: the asymmetric per-channel kernel */
  float *hy_scales;    /* hybrid ops (rt_hybrid_buffers): per-batch input scale, inside qbuf */
  int32_t *hy_offsets; /* and per-batch input offset, inside qbuf */
  int8_t lut[256];  /* LOGISTIC int8; MUL of x by LOGISTIC(x) (swish) */
  int swish_x;      /* MUL with the swish table: the input that is x */
  int16_t *lut16;   /* owned: SOFTMAX int16 exp and 1/(1+x) tables (2 x 513) */
  rt_igemm_b pk;    /* int8 CONV_2D / FULLY_CONNECTED: packed weights (owned) */
  rt_sgemm_b fpk;   /* float32 CONV_2D / FULLY_CONNECTED: packed weights (owned) */
} rt_op;

struct qat_rt_model {
  char *name;
  uint8_t *file; /* owned, 16-byte aligned copy */
  size_t file_len;
  qat_rt_options options;
  int n_tensors, n_ops, n_inputs, n_outputs, n_buffers;
  rt_tensor *tensors;
  rt_op *ops;
  int32_t *inputs, *outputs;
  uint8_t *arena;
  size_t arena_bytes, activation_bytes;
};

/* reader.c: verify and parse the file copy into m (tensors, ops, graph checks). */
int rt_read_model(qat_rt_model *m);
void rt_free_parsed(qat_rt_model *m);
int rt_verify_flatbuffer(const uint8_t *buf, size_t len, const char *name);

/* interpreter.c */
int rt_prepare_ops(qat_rt_model *m);
int rt_plan_arena(qat_rt_model *m);

/* ---- kernels (kernels_*.c) ------------------------------------------------------------------ */

void rt_conv2d_i8(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                  const int32_t *bias, int8_t *out);
void rt_dwconv2d_i8(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                    const int32_t *bias, int8_t *out);
/* TRANSPOSE_CONV: geometry as a conv's with in_* the op's input and out_* its output, filter
 * [out_c, k_h, k_w, in_c] (the three types). */
void rt_tconv_i8(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                 const int32_t *bias, int8_t *out);
void rt_fc_i8(int batches, int accum_depth, int out_depth, const rt_requant *q, const int8_t *in,
              const int8_t *w, const int32_t *bias, int8_t *out);
/* igemm.c: the widest int8 GEMM path of this CPU (QAT_SIMD=0: plain, QAT_SIMD=avx2: no wider
 * than AVX2), its name; packing of [n][k] weights (batches_a > 0: FULLY_CONNECTED, with room for
 * that many input rows) for a path (a depth past RT_IGEMM_KMAX or path PLAIN packs nothing, path
 * stays PLAIN); the kernels; a row of int32 accumulators requantized (channels c0..c0+n). */
int rt_igemm_path(void);
const char *rt_igemm_path_name(int path);
int rt_igemm_pack(rt_igemm_b *b, int path, int n, int k, int batches_a, const int8_t *w,
                  const int32_t *bias, int32_t in_offset);
void rt_igemm_free(rt_igemm_b *b);
/* An ungrouped int8 CONV_2D's OHWI filter packed for rt_conv2d_i8_gemm: with allow_direct, a
 * window whose rows are at most 256 contiguous bytes (a stem, an audio window, a 3x3 window
 * over up to 85 channels) is read in place from a converted copy of the input (AVX-512 VNNI)
 * instead of im2col patches. */
int rt_igemm_pack_conv(rt_igemm_b *b, int path, const rt_conv_geom *g, const int8_t *w, const int32_t *bias,
                       int32_t in_offset, int allow_direct);
void rt_conv2d_i8_gemm(const rt_conv_geom *g, const rt_requant *q, const rt_igemm_b *b,
                       const int8_t *in, int8_t *out);
void rt_fc_i8_gemm(int batches, const rt_requant *q, const rt_igemm_b *b, const int8_t *in, int8_t *out);
void rt_requant_row_i8(const rt_requant *q, const int32_t *acc, int c0, int n, int8_t *out);
/* dots[r][c] = sum_k (in[r][k] + in_offset) w[c][k] (wrapping int32), for weights packed with
 * this in_offset and no bias, and rows <= the batches_a of the packing */
void rt_igemm_dots(const rt_igemm_b *b, int rows, int32_t in_offset, const int8_t *in, int32_t *dots);
/* int8 TRANSPOSE_CONV on a GEMM: b packs the filter as kh * kw * out_c rows of in_c (tap-major,
 * with the input offset, no bias: rt_igemm_dots), scratch holds batches * in_h * in_w * b->n int32 dots and
 * then the output's int32 sums, scattered as the reference scatters (integer sums: any order),
 * plus the bias, then requantized. */
void rt_tconv_i8_gemm(const rt_conv_geom *g, const rt_requant *q, const rt_igemm_b *b, const int8_t *in,
                      const int32_t *bias, int8_t *out, int32_t *scratch);
/* sgemm.c: float32 weights [n][k] packed for a path (PLAIN or a depth past RT_SGEMM_KMAX:
 * nothing packed), and the kernels, bit-exact with the reference loops. */
int rt_sgemm_pack(rt_sgemm_b *b, int path, int n, int k, const float *w);
void rt_sgemm_free(rt_sgemm_b *b);
void rt_conv2d_f32_gemm(const rt_conv_geom *g, float act_min, float act_max, const rt_sgemm_b *b,
                        const float *in, const float *bias, float *out);
/* A float32 CONV_2D's OHWI filter packed for rt_conv2d_f32_gemm; with allow_direct, window rows
 * of at most 256 contiguous floats are read in place from a bordered copy of the input. */
int rt_sgemm_pack_conv(rt_sgemm_b *b, int path, const rt_conv_geom *g, const float *w, int allow_direct);
void rt_fc_f32_gemm(int batches, float act_min, float act_max, const rt_sgemm_b *b, const float *in,
                    const float *bias, float *out);
/* TRANSPOSE_CONV float32 with the filter [out_c][kh][kw][in_c] packed as CONV_2D's, bit-exact
 * with rt_tconv_f32 */
void rt_tconv_f32_gemm(const rt_conv_geom *g, float act_min, float act_max, const rt_sgemm_b *b, const float *in,
                       const float *bias, float *out);
/* kernels_avx512.c: DEPTHWISE_CONV_2D (int8, float32), int8 ADD and MUL for CPUs with AVX-512
 * (rt_simd.h says which), called by the plain kernels and MUL's eval; they return -1 (nothing
 * written) for what they do not take: ADD and MUL a broadcast, the depthwise kernels a window
 * past the weights they keep in registers (128 int8 tap pairs, 128 float taps: 15x15 and 11x11
 * windows fit) or, int8, wider than its 512-column buffer. */
int rt_dwconv2d_i8_avx512(const rt_conv_geom *g, const rt_requant *q, const int8_t *in,
                          const int8_t *w, const int32_t *bias, int8_t *out);
/* An int8 ADD input's rescale MultiplyByQuantizedMultiplier(x << ls, m, shift) of n values
 * (|x| <= 255) as the AVX-512 ADD computes it in 32-bit lanes; -1 (nothing written) where that
 * form does not apply (a shift past 11 for ls 20, m <= 2^(30-ls)) or without AVX-512 */
int rt_add_rescale_avx512(int32_t m, int shift, int ls, const int32_t *x, int64_t n, int32_t *out);
/* the same form on 8 lanes (kernels_avx2.c); -1 without AVX2 or where it does not apply */
int rt_add_rescale_avx2(int32_t m, int shift, int ls, const int32_t *x, int64_t n, int32_t *out);
/* acc[c] += the int8 values of channel c over hw pixels of C channels (MEAN's spatial sums);
 * -1 (nothing done) without AVX-512 */
int rt_sum_pixels_i8_avx512(const int8_t *in, int64_t hw, int64_t C, uint32_t *acc);
/* int8 MEAN's n outputs from their sums: MultiplyByQuantizedMultiplier(sum - zp_n) + out_zp,
 * clamped; -1 (nothing written) without AVX-512 */
int rt_mean_out_i8_avx512(const uint32_t *sums, int64_t n, uint32_t zp_n, int32_t mult, int shift, int32_t out_zp,
                          int8_t *out);
/* rt_requant's rq16 for n channels (rt_simd.h's rt_rq16, 64-byte aligned, free()d), NULL without
 * AVX-512 or memory; out_zp the output's zero point, acc_bound a bound on |accumulator| (0: none
 * known, the exact forms only) */
void *rt_rq16_blocks(const int32_t *mult, const int *shift, int64_t n, int32_t out_zp, int64_t acc_bound);
int rt_dwconv2d_f32_avx512(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                           const float *w, const float *bias, float *out);
void rt_resize_bilinear_row_i8_avx512(int c, int out_w, const int8_t *row0, const int8_t *row1, int32_t fy,
                                      const int32_t *cols, int8_t *y);
int rt_symmetric_quantize_avx512(const float *x, int64_t n, int8_t *q, float *scale);
void rt_lut_i8_vbmi(int64_t n, const int8_t lut[256], const int8_t *in, int8_t *out);
/* int8 MAX_POOL_2D's act_min and act_max lie in [-128, 127] */
void rt_maxpool_i8_avx512(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int8_t *in, int8_t *out);
void rt_maxpool_f32_avx512(const rt_pool_geom *g, float act_min, float act_max, const float *in, float *out);
int rt_add_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out);
/* An int8 ADD input's rescale MultiplyByQuantizedMultiplier((x << ls), m, -e) for |x| <= 255 in
 * 32-bit lanes, exactly: x mh + ((x ml + k - [x < 0] neg) >> s) (kernels_quant.c derives it).
 * rt_add_rescale_params returns -1 where that form does not hold. */
typedef struct rt_rescale {
  int32_t mh, ml, k, neg;
  int s;
} rt_rescale;
int rt_add_rescale_params(int32_t m, int shift, int ls, rt_rescale *r);

/* Rows of n outputs of an int8 ADD or MUL: row r reads in1 + r * r1 at stride s1 and in2 +
 * r * r2 at stride s2 (each 0 or 1), and writes out + r * n. A row function takes all the rows
 * of a broadcast in one call: a squeeze-excite MUL's 2304 rows of 32 channels cost 15 times its
 * arithmetic when each row prepared its multipliers. */
typedef struct rt_rows {
  const int8_t *in1, *in2;
  int8_t *out;
  int64_t s1, s2, n, rows, r1, r2;
} rt_rows;
typedef void (*rt_row_fn)(const rt_add_params *p, const rt_rows *w);
/* The broadcast's rows through fn (kernels_quant.c); -1 (nothing written) when the innermost
 * strides are not 0 or 1. */
int rt_bcast_rows(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out,
                  rt_row_fn fn);
/* kernels_avx2.c: the AVX2 rows of int8 ADD, MUL and DEPTHWISE_CONV_2D (depth multiplier 1),
 * for CPUs without AVX-512 */
void rt_dwconv2d_i8_row_avx2(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                             const int32_t *bias, int8_t *out, int64_t row);
void rt_add_row_i8_avx2(const rt_add_params *p, const rt_rows *w);
void rt_mul_row_i8_avx2(const rt_add_params *p, const rt_rows *w);
int rt_mul_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out);
/* Returns -1 when a row's sum of exponentials leaves the range of the reference kernel's
 * TFLITE_CHECK (where TFLite aborts); rows before it are written. */
/* SOFTMAX int8's exponentials, a function of the difference d = x - (the row's max) alone:
 * exps[-d] (Q0.31) for d in [-255, 0], 0 where d < diff_min (the reference skips those; a 0
 * adds nothing to the sum and gives -128 as a skipped one does), and at 256 + -d the same
 * rescaled to the sum's Q12.19. Built at Prepare. */
void rt_softmax_i8_exps(int32_t mult, int left_shift, int diff_min, int32_t exps[512]);
int rt_softmax_i8(int64_t outer, int64_t depth, const int32_t exps[512], const int8_t *in, int8_t *out);
void rt_lut_build_logistic_i8(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp,
                              int8_t lut[256]);
void rt_lut_apply_i8(int64_t n, const int8_t lut[256], const int8_t *in, int8_t *out);
/* The 256 int8 values at their unsigned byte's index: run through an elementwise int8 kernel,
 * they give that kernel's table for rt_lut_apply_i8, its own arithmetic on every input. */
void rt_lut_inputs_i8(int8_t every[256]);
/* QUANTIZE float -> int8/uint8/int16 (AffineQuantize) and int8/uint8 -> int8/uint8
 * (Requantize); DEQUANTIZE int8/uint8/int16/float16 -> float. */
void rt_quantize_f32(int64_t n, const float *in, int out_type, float scale, int32_t zp, void *out);
void rt_requantize(int64_t n, int in_type, const void *in, int32_t in_zp, int32_t mult, int shift,
                   int32_t out_zp, int out_type, void *out);
void rt_dequantize(int64_t n, int in_type, const void *in, float scale, int32_t zp, float *out);
float rt_half_to_float(uint16_t h);

/* kernels_quant.c: the kernels whose int8 and int16 versions are one loop, for SUF i8 / T
 * int8_t and i16 / int16_t. AVERAGE_POOL_2D returns -1 (nothing written past the failing
 * window) when a window has no valid tap, as TFLite's AveragePool returns false. */
#define RT_INT_KERNELS(SUF, T)                                                                  \
  int rt_avgpool_##SUF(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const T *in,    \
                       T *out);                                                                 \
  void rt_maxpool_##SUF(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const T *in,   \
                        T *out);                                                                \
  void rt_mean_##SUF(const rt_reduce_geom *g, int32_t in_zp, int32_t out_zp, int32_t mult,      \
                     int shift, const T *in, T *out, int32_t *scratch);                         \
  void rt_add_##SUF(const rt_bcast *b, const rt_add_params *p, const T *in1, const T *in2, T *out);
RT_INT_KERNELS(i8, int8_t)
RT_INT_KERNELS(i16, int16_t)
#undef RT_INT_KERNELS

/* gemmlowp fixed-point pieces used by SOFTMAX (exposed for tests). */
int32_t rt_fp_exp_on_negative_values(int32_t a, int integer_bits);
int32_t rt_fp_one_over_one_plus_x(int32_t a);
/* the same on 16 lanes with AVX-512 (kernels_avx512.c), bit for bit; -1 (nothing written)
 * without AVX-512 or where a lane is negative */
int rt_fp_one_over_one_plus_x_x16(const int32_t a[16], int32_t out[16]);
/* GetReciprocal's normalization: the argument of rt_fp_one_over_one_plus_x, whose result is
 * GetReciprocal's */
int32_t rt_fp_reciprocal_arg(int32_t x, int x_integer_digits, int *num_bits_over_unit);

/* ---- int16 kernels (kernels_int16.c): 16x8, int16 activations with zero point 0, int8
 * weights, int64 bias ---------------------------------------------------------------------- */
void rt_conv2d_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in, const int8_t *w,
                   const int64_t *bias, int16_t *out);
void rt_dwconv2d_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in,
                     const int8_t *w, const int64_t *bias, int16_t *out);
void rt_tconv_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in, const int8_t *w,
                  const int64_t *bias, int16_t *out);
void rt_fc_i16(int batches, int accum_depth, int out_depth, const rt_requant *q,
               const int16_t *in, const int8_t *w, const int64_t *bias, int16_t *out);
/* SOFTMAX int16: the two 513-entry tables (built once at load), LUTLookup, and the kernel
 * (lut: exp table then 1/(1+x) table). */
void rt_softmax_i16_luts(int16_t exp_lut[513], int16_t recip_lut[513]);
int16_t rt_lut_lookup_i16(int16_t value, const int16_t *lut);
void rt_softmax_i16(int64_t outer, int64_t depth, int32_t mult, int shift, const int16_t *lut,
                    const int16_t *in, int16_t *out);

/* Hybrid (dynamic-range) FULLY_CONNECTED: float input quantized symmetrically per batch row,
 * int8 weights (w_scales: 1 per tensor, or one per unit), float bias and output. */
void rt_fc_hybrid(int batches, int accum_depth, int out_depth, int activation, const float *in,
                  const int8_t *w, const float *w_scales, int per_channel, int asymmetric,
                  const float *bias, float *out, int8_t *qbuf, float *scales, int32_t *offsets,
                  const rt_igemm_b *pk, int32_t *dots);
/* kernels_hybrid.c: AsymmetricQuantizeFloats, and hybrid CONV_2D (per_channel: the
 * asymmetric per-channel kernel; else the symmetric per-tensor one) and DEPTHWISE_CONV_2D.
 * qbuf holds the quantized input, scales/offsets one entry per batch. */
/* SymmetricQuantizeFloats (kernels_float.c): scale = max|x| / 127 returned,
 * q = round(x * (127 / max|x|)) in [-127, 127]; all zeros give scale 1. */
float rt_symmetric_quantize(const float *x, int64_t n, int8_t *q);
void rt_asymmetric_quantize(const float *x, int64_t n, int8_t *q, float *scale, int32_t *offset);
void rt_conv2d_hybrid(const rt_conv_geom *g, int per_channel, float act_min, float act_max, const float *in,
                      const int8_t *w, const float *w_scales, const float *bias, float *out, int8_t *qbuf,
                      float *scales, int32_t *offsets);
/* Hybrid TRANSPOSE_CONV: the input quantized asymmetrically per batch (transpose_conv.cc
 * EvalHybrid); per_channel 0: one weight scale for every channel. */
void rt_tconv_hybrid(const rt_conv_geom *g, int per_channel, float act_min, float act_max, const float *in,
                     const int8_t *w, const float *w_scales, const float *bias, float *out, int8_t *qbuf,
                     float *scales, int32_t *offsets);
void rt_dwconv2d_hybrid(const rt_conv_geom *g, float act_min, float act_max, const float *in, const int8_t *w,
                        const float *w_scales, const float *bias, float *out, int8_t *qbuf, float *scales,
                        int32_t *offsets);

void rt_conv2d_f32(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                   const float *w, const float *bias, float *out);
void rt_dwconv2d_f32(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                     const float *w, const float *bias, float *out);
void rt_tconv_f32(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                  const float *w, const float *bias, float *out);
void rt_fc_f32(int batches, int accum_depth, int out_depth, float act_min, float act_max,
               const float *in, const float *w, const float *bias, float *out);
int rt_avgpool_f32(const rt_pool_geom *g, float act_min, float act_max, const float *in,
                   float *out);
void rt_maxpool_f32(const rt_pool_geom *g, float act_min, float act_max, const float *in,
                    float *out);
void rt_mean_f32(const rt_reduce_geom *g, const float *in, float *out);
void rt_softmax_f32(int64_t outer, int64_t depth, float beta, const float *in, float *out);
void rt_add_f32(const rt_bcast *b, float act_min, float act_max, const float *in1, const float *in2,
                float *out);
void rt_logistic_f32(int64_t n, const float *in, float *out);
/* int16 TANH / LOGISTIC (ops/tanh.c): mult and shift from rt_prepare_sigmoid_i16; the table
 * they interpolate, built once. */
void rt_tanh_i16(int64_t n, int32_t mult, int shift, const int16_t *in, int16_t *out);
void rt_logistic_i16(int64_t n, int32_t mult, int shift, const int16_t *in, int16_t *out);
const uint16_t *rt_sigmoid_table_u16(void);

/* ---- kernels defined beside their op (ops/<name>.c) ------------------------------------------ */
void rt_mul_f32(const rt_bcast *b, float lo, float hi, const float *in1, const float *in2,
                float *out);
void rt_mul_i8(const rt_bcast *b, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
               int8_t *out);
void rt_mul_i16(const rt_bcast *b, const rt_add_params *p, const int16_t *in1,
                const int16_t *in2, int16_t *out);
void rt_sub_f32(const rt_bcast *b, float lo, float hi, const float *in1, const float *in2,
                float *out);
void rt_sub_i8(const rt_bcast *b, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
               int8_t *out);
void rt_sub_i16(const rt_bcast *b, const rt_add_params *p, const int16_t *in1,
                const int16_t *in2, int16_t *out);
void rt_hard_swish_f32(int64_t n, const float *in, float *out);
void rt_hard_swish_i8(int64_t n, const rt_hard_swish_params *p, const int8_t *in, int8_t *out);
void rt_tanh_f32(int64_t n, const float *in, float *out);
void rt_lut_build_tanh_i8(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp,
                          int8_t lut[256]);
void rt_leaky_relu_f32(int64_t n, float alpha, const float *in, float *out);
void rt_leaky_relu_i8(int64_t n, int32_t in_zp, int32_t out_zp, int32_t mult, int shift,
                      int32_t mult2, int shift2, int neg, const int8_t *in, int8_t *out);
void rt_leaky_relu_i16(int64_t n, int32_t in_zp, int32_t out_zp, int32_t mult, int shift,
                       int32_t mult2, int shift2, int neg, const int16_t *in, int16_t *out);
void rt_prelu_f32(const rt_bcast *b, const float *in, const float *alpha, float *out);
void rt_prelu_i8(const rt_bcast *b, const rt_add_params *p, const int8_t *in,
                 const int8_t *alpha, int8_t *out);
void rt_prelu_i16(const rt_bcast *b, const rt_add_params *p, const int16_t *in,
                  const int8_t *alpha, int16_t *out);

#endif
