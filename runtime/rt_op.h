/* runtime/ internals: how a TFLite builtin operator plugs into the interpreter, and what the
 * operators' Prepare functions share (op_util.c).
 *
 * One file per operator in ops/ defines one rt_op_reg: its builtin code, the highest version
 * TFLite's builtin op resolver registers, its options table and parser, and Prepare. Prepare
 * checks the op against TFLite's Prepare (types, shapes, output shape, quantization), computes
 * the per-op data once (multipliers, clamps, tables, scratch), and picks the eval function for
 * the tensor types. The interpreter and the reader only look ops up in RT_OPS. */
#ifndef QAT_RT_OP_H
#define QAT_RT_OP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qat/error.h"
#include "qat/flatbuf_read.h"
#include "qat/tflite_schema.h"
#include "runtime/rt_internal.h"

/* One field of an options table and where it goes in rt_options: kind ENUM (a byte enum,
 * signed), INT (int32), BOOL (a byte, nonzero is true) or FLOAT (float32); def is the schema's
 * default, taken when the field (or the whole table) is absent. */
enum { RT_OPT_ENUM, RT_OPT_INT, RT_OPT_BOOL, RT_OPT_FLOAT };
typedef struct rt_opt_field {
  int field, kind;
  size_t offset;
  float def;
} rt_opt_field;
#define RT_OPT(table, field, kind, member, def) \
  {QAT_TFLITE_##table##_##field, RT_OPT_##kind, offsetof(rt_options, member), def}
#define RT_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct rt_op_reg {
  int code;
  int max_version;  /* versions 1..max_version are accepted */
  int options_type; /* BuiltinOptions union id of its options table, 0: none */
  const rt_opt_field *fields; /* the options it reads */
  int n_fields;
  /* Options beyond scalar fields (RESHAPE's new_shape), from the table t (absent: empty). */
  int (*parse)(qat_rt_model *m, int k, rt_op *op, const qat_fb_table *t);
  int (*prepare)(qat_rt_model *m, int k, rt_op *op);
} rt_op_reg;

/* An operator's registration, the last line of its file: builtin NAME, the highest version,
 * its BuiltinOptions table (NONE: none), the option fields it reads, a parser for the rest
 * (or NULL) and Prepare. */
#define RT_REGISTER_OP(name, max_version, options, fields, n_fields, parse, prepare)  \
  const rt_op_reg rt_op_##name = {QAT_TFLITE_BUILTIN_##name, max_version,            \
                                  QAT_TFLITE_OPTIONS_##options, fields, n_fields, parse, prepare}

/* An eval function whose kernel cannot fail: the kernel call, then QAT_OK. */
#define RT_EVAL(fn, ...)                                 \
  static int fn(qat_rt_model *m, int k, rt_op *op) {     \
    (void)k;                                               \
    __VA_ARGS__;                                           \
    return QAT_OK;                                         \
  }

/* The operators the runtime runs: one line each, one file each (ops/<name>.c defines
 * rt_op_<NAME>). */
#define RT_OPS(X)                                                                              \
  X(ADD) X(AVERAGE_POOL_2D) X(CONV_2D) X(DEPTHWISE_CONV_2D) X(DEQUANTIZE) X(FULLY_CONNECTED)    \
  X(LOGISTIC) X(MAX_POOL_2D) X(RESHAPE) X(SOFTMAX) X(MEAN) X(REDUCE_MAX) X(QUANTIZE)        \
  X(SHAPE) X(STRIDED_SLICE) X(PACK) X(MUL) X(SUB) X(HARD_SWISH) X(CONCATENATION) X(PAD)       \
  X(PADV2) X(SQUEEZE) X(EXPAND_DIMS) X(LEAKY_RELU) X(PRELU) X(MAXIMUM) X(MINIMUM) X(TANH) \
  X(RESIZE_BILINEAR) X(RESIZE_NEAREST_NEIGHBOR) X(TRANSPOSE_CONV) X(SPACE_TO_BATCH_ND) X(RELU)     \
  X(BATCH_TO_SPACE_ND) X(GATHER) X(REDUCE_PROD) X(TILE) X(LESS) X(SELECT_V2)

#define RT_OP_DECLARE_(name) extern const rt_op_reg rt_op_##name;
RT_OPS(RT_OP_DECLARE_)
#undef RT_OP_DECLARE_

/* The registration of a builtin code, NULL when the runtime does not run it. */
const rt_op_reg *rt_op_find(int code);

/* ---- tensors of an op ----------------------------------------------------------------------- */

/* Input i of op (NULL when absent or -1), output i. */
static inline rt_tensor *rt_in(qat_rt_model *m, const rt_op *op, int i) {
  return i < op->n_in && op->in[i] >= 0 ? &m->tensors[op->in[i]] : NULL;
}
static inline rt_tensor *rt_out(qat_rt_model *m, const rt_op *op, int i) {
  return &m->tensors[op->out[i]];
}
/* A tensor's bytes: its constant data or its place in the arena. */
static inline void *rt_tensor_bytes(qat_rt_model *m, int i) {
  rt_tensor *t = &m->tensors[i];
  if (t->const_data) return (void *)t->const_data;
  return t->in_arena ? m->arena + t->arena_offset : NULL;
}
/* The data of input i (NULL when absent) and of output 0, for eval functions. */
static inline const void *rt_in_data(qat_rt_model *m, const rt_op *op, int i) {
  return i < op->n_in && op->in[i] >= 0 ? rt_tensor_bytes(m, op->in[i]) : NULL;
}
static inline void *rt_out_data(qat_rt_model *m, const rt_op *op) {
  return rt_tensor_bytes(m, op->out[0]);
}
/* n bytes: memcpy from 64 on, 8- and 4-byte moves below. A library call per run of a few
 * bytes cost more than the copy: CONCATENATION's per-pixel runs (12, 4 and 8 bytes in the
 * segmenter's skip connection: 4.8 us for 256 pixels), TILE's rows. */
static inline void rt_copy_run(uint8_t *restrict d, const uint8_t *restrict s, size_t n) {
  if (n >= 64) {
    memcpy(d, s, n);
    return;
  }
  for (; n >= 8; n -= 8, d += 8, s += 8) memcpy(d, s, 8);
  if (n >= 4) {
    memcpy(d, s, 4);
    n -= 4, d += 4, s += 4;
  }
  for (; n; n--) *d++ = *s++;
}

static inline int rt_is_f32(const rt_tensor *t) { return t && t->type == QAT_RT_FLOAT32; }
static inline int rt_is_i8(const rt_tensor *t) { return t && t->type == QAT_RT_INT8; }
static inline int rt_is_i16(const rt_tensor *t) { return t && t->type == QAT_RT_INT16; }

/* ---- messages ------------------------------------------------------------------------------- */

/* QAT_ERR_UNSUPPORTED "unsupported operator NAME version N at node K: why" (a valid model the
 * runtime cannot run) and QAT_ERR_FORMAT "op K (NAME): why" (an invalid one). */
int rt_op_fail(const qat_rt_model *m, int k, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define rt_unsup(m, k, ...) rt_op_fail(m, k, QAT_ERR_UNSUPPORTED, __VA_ARGS__)
#define rt_bad(m, k, ...) rt_op_fail(m, k, QAT_ERR_FORMAT, __VA_ARGS__)

/* ---- checks ---------------------------------------------------------------------------------- */

int rt_check_io_count(qat_rt_model *m, int k, int min_in, int max_in, int n_out);
/* The stored output shape must be the computed one, unless an input was resized at Prepare:
 * then the output takes the computed shape (rt_resize_out), as TFLite's ResizeTensor does. */
int rt_check_out_shape(qat_rt_model *m, int k, const rt_tensor *o, const int64_t *dims, int rank);
/* Gives op k's output the computed shape (marked resized); QAT_ERR_FORMAT, with no message and
 * nothing changed, for a graph output, a constant or another rank. */
int rt_resize_out(qat_rt_model *m, int k, const int64_t *dims, int rank);
int rt_same_shape(const rt_tensor *a, const rt_tensor *b);
/* One input and one output of the input's shape (the element-wise ops). */
int rt_check_unary(qat_rt_model *m, int k, rt_op *op);
/* One scale and zero point (TFLite reads params.scale / zero_point). */
int rt_need_per_tensor(qat_rt_model *m, int k, const rt_tensor *t, const char *what);
/* 16x8: per tensor, zero point 0. */
int rt_need_int16_symmetric(qat_rt_model *m, int k, const rt_tensor *t, const char *what);
/* An int32 constant vector (axes, shape). */
int rt_const_i32(qat_rt_model *m, int k, const rt_tensor *t, const char *what);
/* Input and output with the same quantization (the kernels do not rescale): per tensor, and
 * for int16 symmetric. */
int rt_need_same_quant(qat_rt_model *m, int k, const rt_tensor *in, const rt_tensor *o,
                       const char *kernels);

/* ---- fused activations ----------------------------------------------------------------------- */

/* CalculateActivationRange<float> / CalculateActivationRangeQuantized for the output o. */
int rt_act_range_f32(qat_rt_model *m, int k, int act, float *lo, float *hi);
int rt_act_range_q(qat_rt_model *m, int k, int act, const rt_tensor *o, int qmin, int qmax,
                   int32_t *amin, int32_t *amax);

/* ---- windows (conv, depthwise, pools) --------------------------------------------------------- */

int rt_check_window_params(qat_rt_model *m, int k, const rt_options *o, int with_dilation);
/* Output spatial size and padding (padding.h); the result must be >= 1. */
int rt_window_geometry(qat_rt_model *m, int k, int padding, int64_t in_h, int64_t in_w,
                       int64_t f_h, int64_t f_w, int64_t s_h, int64_t s_w, int64_t d_h,
                       int64_t d_w, int *out_h, int *out_w, int *pad_h, int *pad_w);

/* An op's eval functions per tensor type (NULL: the type is not supported). */
typedef struct rt_evals {
  rt_eval_fn f32, i8, i16, hybrid;
} rt_evals;
/* op->eval for an input and output of one type, float32, int8 or int16, that ev has; else
 * QAT_ERR_UNSUPPORTED "input T, output T". */
int rt_pick_eval(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in, const rt_tensor *o,
                 const rt_evals *ev);
/* CONV_2D (depthwise 0) and DEPTHWISE_CONV_2D (1) Prepare (ops/window.c). */
int rt_prepare_conv(qat_rt_model *m, int k, rt_op *op, int depthwise, const rt_evals *ev);

/* RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR Prepare (ops/resize.c): geometry in op->conv. */
int rt_prepare_resize(qat_rt_model *m, int k, rt_op *op, const rt_evals *ev);

/* The pools' Prepare and options (Pool2DOptions), ops/window.c. */
int rt_prepare_pool(qat_rt_model *m, int k, rt_op *op, const rt_evals *ev);
extern const rt_opt_field rt_pool_options[6];

/* ---- weights, bias, requantization ---------------------------------------------------------- */

/* int8 symmetric weights: scales per tensor or n_out of them along axis. */
int rt_check_weights_q(qat_rt_model *m, int k, const rt_tensor *w, int axis, int64_t n_out);
/* Bias of the input's kernels' type (INT32 for int8, INT64 for int16), zero point 0, scale
 * s_in * s_w[c]. */
int rt_check_bias_q(qat_rt_model *m, int k, const rt_tensor *b, const rt_tensor *in,
                    const rt_tensor *w, int64_t n_out);
/* Hybrid (dynamic-range) ops: qbuf holds the input quantized per batch (n_in bytes), then
 * (8-byte aligned) hy_scales and hy_offsets, one per batch row. */
int rt_hybrid_buffers(qat_rt_model *m, rt_op *op, int64_t n_in, int64_t batches);
/* Per-channel multipliers (PopulateConvolutionQuantizationParams) into op->rq, and the fused
 * activation's clamp. */
int rt_prepare_requant(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in,
                       const rt_tensor *w, const rt_tensor *b, const rt_tensor *o, int64_t n_out);
/* 16x8: refuse a model whose int64 accumulators could pass 2^47 or whose shifts exceed 7. */
int rt_check_acc64(qat_rt_model *m, int k, rt_op *op, int64_t taps, const rt_tensor *b,
                   int64_t n_out);
/* QuantizeMultiplierSmallerThanOneExp, refusing what TFLite would abort on. */
int rt_multiplier_below_one(qat_rt_model *m, int k, double real, const char *what,
                            int32_t *mult, int *shift);
/* A QuantizeMultiplier failure as the op's message. */
int rt_multiplier_failed(qat_rt_model *m, int k, int rc);

/* ---- broadcasting and reductions ------------------------------------------------------------ */

/* Numpy broadcasting of a and b into bc; the output shape in od / orank. */
int rt_broadcast(qat_rt_model *m, int k, const rt_tensor *a, const rt_tensor *b, rt_bcast *bc,
                 int64_t *od, int *orank);
/* The binary element-wise ops (ADD, SUB, MUL, MAXIMUM, MINIMUM): two inputs and one output of
 * one type, numpy broadcasting into op->bc, and the stored output shape checked against it. */
int rt_prepare_binary(qat_rt_model *m, int k, rt_op *op);
/* ADD, SUB and MUL: rt_prepare_binary, then inputs and output of one type: float32 (its
 * activation range in f_min/f_max; *kind 0), int8 per tensor (1) or int16 symmetric (2, and
 * for ADD and SUB, named by `name`, not LiteRT's shift-only pot_scale_int16 path; NULL for MUL,
 * which has no such option), with op->add's offsets and
 * activation bounds set. */
int rt_prepare_arith(qat_rt_model *m, int k, rt_op *op, const char *name, int *kind);
/* ADD and SUB's integer rescaling (add.cc / sub.cc general path): left_shift 20 (int8) or 15
 * (int16), inputs scaled by s_i / (2 max s), the result by 2 max s / (2^left_shift s_out). The
 * float max and the products by powers of two are exact, so double gives TFLite's values. */
int rt_prepare_add_rescale(qat_rt_model *m, int k, rt_op *op, int i16);
/* MEAN / REDUCE_MAX: (input, axes) -> op->red and the output shape check (keep_dims). */
int rt_prepare_reduce(qat_rt_model *m, int k, rt_op *op);
/* PAD and PADV2 (ops/pad.c); MAXIMUM and MINIMUM (ops/maximum.c). */
int rt_prepare_pad(qat_rt_model *m, int k, rt_op *op);
int rt_prepare_max_min(qat_rt_model *m, int k, rt_op *op);
/* SPACE_TO_BATCH_ND (to_batch 1) and BATCH_TO_SPACE_ND (0): ops/space_to_batch_nd.c */
int rt_prepare_space_batch(qat_rt_model *m, int k, rt_op *op, int to_batch);
/* TANH (max_pot_shift 1) and LOGISTIC (0) int16 Prepare: op->s_mult / s_shift (ops/tanh.c). */
int rt_prepare_sigmoid_i16(qat_rt_model *m, int k, rt_op *op, int max_pot_shift);
/* Every input present is a constant. */
int rt_all_inputs_const(qat_rt_model *m, const rt_op *op);
/* Runs the op's eval once at Prepare and makes its output a constant (not for graph
 * outputs); op->eval is then NULL. */
int rt_fold_constant(qat_rt_model *m, int k, rt_op *op);
extern const rt_opt_field rt_reducer_options[1];

#endif
