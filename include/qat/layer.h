/* A layer type is one unit: one file under layers/ defines its descriptor, and one line of
 * QAT_LAYER_TYPES (include/qat/spec.h) registers it. The config parser, the model builder,
 * the exporter, the Keras importer and the YAML writer walk the descriptors and hold no
 * per-layer switch.
 *
 * A descriptor says, for its Keras class:
 *   - names: the Keras class, other spellings Keras accepts, the default-name stem;
 *   - config: which arguments it takes (the QAT_ARG_* set of config/), which it needs, its
 *     defaults beyond the common ones and what follows from the parsed arguments;
 *   - training: the autograd ops it adds to the graph (build);
 *   - quantization: how its int8 output is quantized (range), whether it heads an int8 op that
 *     folds a batch norm and fuses an activation, the activation it applies when it is one,
 *     and the requantization the fake quant must reproduce (link_requant);
 *   - TFLite: its lowering, one function for float32 and the integer modes (the lowering
 *     context says which), or a refusal naming the layer and the mode;
 *   - Keras: how its config JSON reads (through qat_kcfg, so layers/ links no JSON library)
 *     and how its kernel is laid out in Keras;
 *   - YAML: the arguments qat import writes for it. */
#ifndef QAT_LAYER_H
#define QAT_LAYER_H

#include <stdint.h>

#include "qat/spec.h"

struct qat_builder;  /* layers/build.h */
struct qat_lowering; /* layers/lower_kit.h */
struct qat_model;
struct qat_fq;
struct qat_tensor;

/* Config arguments, Keras names. Adding one: a line here, its parser in config/model.c, its
 * Keras reader in the layers that take it. */
#define QAT_LAYER_ARGS(X)                 \
  X(FILTERS, "filters")                   \
  X(KERNEL_SIZE, "kernel_size")           \
  X(STRIDES, "strides")                   \
  X(PADDING, "padding")                   \
  X(ACTIVATION, "activation")             \
  X(USE_BIAS, "use_bias")                 \
  X(DEPTH_MULTIPLIER, "depth_multiplier") \
  X(UNITS, "units")                       \
  X(POOL_SIZE, "pool_size")               \
  X(RATE, "rate")                         \
  X(MOMENTUM, "momentum")                 \
  X(EPSILON, "epsilon")                   \
  X(MAX_VALUE, "max_value")               \
  X(TARGET_SHAPE, "target_shape")         \
  X(NEGATIVE_SLOPE, "negative_slope")     \
  X(THRESHOLD, "threshold")               \
  X(KEEPDIMS, "keepdims")                 \
  X(AXIS, "axis")                         \
  X(SIZE, "size")                         \
  X(INTERPOLATION, "interpolation")       \
  X(NOISE_SHAPE, "noise_shape")           \
  X(CROPPING, "cropping")                 \
  X(DILATION_RATE, "dilation_rate")       \
  X(SHARED_AXES, "shared_axes")           \
  X(NAME, "name")                         \
  X(INPUTS, "inputs")

enum {
#define QAT_ARG_ENUM(e, s) QAT_ARG_##e,
  QAT_LAYER_ARGS(QAT_ARG_ENUM)
#undef QAT_ARG_ENUM
      QAT_ARG_COUNT
};
#define QAT_ARG(x) (1u << QAT_ARG_##x)
_Static_assert(QAT_ARG_COUNT <= 32, "argument masks are 32 bits");

/* How a layer's int8 output is quantized. */
typedef enum qat_layer_range {
  QAT_RANGE_OWN = 0,  /* requantizes: a fake quant after it (or after the chain it heads) */
  QAT_RANGE_KEEP,     /* the input's scale and zero point (TFLite requires it: pools, RESHAPE) */
  QAT_RANGE_IDENTITY, /* vanishes at inference (Dropout, a linear Activation): the input's tensor */
  QAT_RANGE_FIXED,    /* the op fixes it (SOFTMAX: 1/256, -128); no fake quant, a model output */
} qat_layer_range;

/* Roles in the fusions the TF converter makes (and the QAT graph simulates). */
enum {
  QAT_LAYER_HEAD = 1u << 0,        /* a following ReLU/ReLU6 fuses into its op (conv, dense, add) */
  QAT_LAYER_FOLDS_BN = 1u << 1,    /* a following BatchNormalization folds into its weights */
  QAT_LAYER_FOLDS_BN_FLOAT = 1u << 2, /* ... in the float32 export only (Dense) */
  QAT_LAYER_IS_BN = 1u << 3,       /* it is a BatchNormalization (folds into a FOLDS_BN head) */
  /* its int8 inputs and output have one scale and zero point (CONCATENATION): an input that
   * nothing else reads is quantized by this layer's output quantizer, as the converter does */
  QAT_LAYER_SHARES_RANGE = 1u << 4,
  /* a 1-D layer (Conv1D, MaxPooling1D, ...): its 2-D twin on the [N, 1, T, C] view of a sequence,
   * its sizes on the width axis; Keras writes its sizes as one number and its kernels without
   * the height axis */
  QAT_LAYER_ONE_D = 1u << 5,
};

/* Keras kernel layouts, transposed once on import into qat's (TFLite's) layout. */
typedef enum qat_kernel_layout {
  QAT_KERNEL_NONE = 0,
  QAT_KERNEL_HWIO, /* Conv2D [H,W,I,O] -> OHWI */
  QAT_KERNEL_HWCM, /* DepthwiseConv2D [H,W,C,M] -> [1,H,W,C*M] (the same bytes) */
  QAT_KERNEL_IO,   /* Dense [in,out] -> [out,in] */
  QAT_KERNEL_HWOI, /* Conv2DTranspose [H,W,O,I] -> [O,H,W,I] (TRANSPOSE_CONV's filter) */
} qat_kernel_layout;

/* A Keras layer config being read (keras/json_model.c implements it). Absent or null keys give
 * the default where one is passed; every failure has left a message naming the layer. */
typedef struct qat_kcfg qat_kcfg;
typedef struct qat_kcfg_ops {
  int (*is_set)(const qat_kcfg *k, const char *key); /* present and not null */
  int (*integer)(const qat_kcfg *k, const char *key, int lo, int hi, int *out);     /* required */
  int (*number)(const qat_kcfg *k, const char *key, double lo, double hi, float *out); /* required */
  int (*boolean)(const qat_kcfg *k, const char *key, int dflt, int *out);
  int (*int_pair)(const qat_kcfg *k, const char *key, const int *dflt, int out[2]); /* dflt NULL: required */
  /* ZeroPadding2D / Cropping2D amounts: n, [h, w] or [[top, bottom], [left, right]] (required) */
  int (*side_amounts)(const qat_kcfg *k, const char *key, int out[4]);
  /* a number or a list of at most max; with lo 0 a null entry (None) reads as 0 */
  int (*int_list)(const qat_kcfg *k, const char *key, int max, int lo, int hi, int *out, int *n);
  int (*padding)(const qat_kcfg *k, qat_padding *out);
  int (*activation)(const qat_kcfg *k, const char *key, qat_activation *out);
  int (*channels_last)(const qat_kcfg *k);
  /* a string among names[0..n) as its index; absent or null: dflt */
  int (*choice)(const qat_kcfg *k, const char *key, const char *const *names, int n, int dflt, int *out);
  int (*fail)(const qat_kcfg *k, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
} qat_kcfg_ops;
struct qat_kcfg {
  const qat_kcfg_ops *ops;
};

/* An append-only text buffer for the YAML writer (keras/yaml_out.c implements it). */
typedef struct qat_yaml_out qat_yaml_out;
typedef struct qat_yaml_ops {
  void (*put)(qat_yaml_out *y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  void (*put_float)(qat_yaml_out *y, float v); /* shortest text that reads back the same float */
} qat_yaml_ops;
struct qat_yaml_out {
  const qat_yaml_ops *ops;
};

typedef struct qat_layer_desc {
  const char *keras_class;
  const char *stem;                  /* Keras default names: stem, stem_1, ... */
  const char *const *aliases;        /* NULL-terminated other spellings, or NULL */
  uint32_t args, required_args;      /* QAT_ARG_* masks (name and inputs are always taken) */
  int min_inputs, max_inputs;        /* 1, 1 for most; Add 2..QAT_MAX_LAYER_INPUTS */
  /* After the common defaults (layers/registry.c qat_layer_defaults), before parsing. */
  void (*defaults)(qat_layer_spec *l);
  /* After parsing: what follows from the arguments given (seen: QAT_ARG_* mask of them). */
  void (*finish)(qat_layer_spec *l, uint32_t seen);

  /* Training graph: the ops this layer adds; `in` holds its input tensors. Errors leave a
   * message without the layer prefix (the builder adds it). */
  int (*build)(struct qat_builder *b, int li, struct qat_tensor **in, struct qat_tensor **out);

  unsigned roles;                                  /* QAT_LAYER_* */
  qat_layer_type two_d;                            /* QAT_LAYER_ONE_D: the 2-D layer it runs as */
  qat_layer_range (*range)(const qat_layer_spec *l); /* NULL: QAT_RANGE_OWN */
  /* The activation a standalone activation layer applies (ReLU, Activation), else NULL. */
  qat_activation (*applies)(const qat_layer_spec *l);
  /* Gives the output quantizer of a chain this layer heads the int8 op's requantization
   * (qat_fq.requant); NULL when the plain fake quant already rounds as the op does. A layer
   * that keeps its input's range (QAT_RANGE_KEEP) but rounds on its own (AVERAGE_POOL_2D) gets
   * a rounding node of role QAT_FQ_SHARED, linked right after its build. */
  int (*link_requant)(struct qat_model *m, int head, struct qat_fq *out);

  /* TFLite: lowers layer li (and whatever it fuses) in the context's mode. NULL: no lowering. */
  int (*lower)(struct qat_lowering *L, int li);
  /* integer modes, when this layer ends the op that layer `head` starts (fused into it): what it
   * adds after that op (a capped ReLU's MINIMUM where the grid reaches past the cap); NULL: none */
  int (*lower_fused)(struct qat_lowering *L, int head, int end);

  const char *kernel;          /* its kernel parameter's suffix ("kernel"), or NULL */
  int kernel_channel_axis;     /* the output-channel axis of that kernel in qat's layout */
  qat_kernel_layout keras_kernel;
  int (*keras)(const qat_kcfg *k, qat_layer_spec *l); /* the Keras config; NULL: nothing to read */
  void (*yaml)(qat_yaml_out *y, const qat_layer_spec *l); /* its arguments, ", key: value" each */
} qat_layer_desc;

const qat_layer_desc *qat_layer_desc_of(qat_layer_type t);
/* The type whose class or alias is `name`; 0 if none. */
int qat_layer_find(const char *name, qat_layer_type *out);
/* Every type's class name, joined with ", " (for messages). */
const char *qat_layer_class_list(void);
/* The defaults every layer starts from, then the type's own. */
void qat_layer_defaults(qat_layer_spec *l, qat_layer_type t);

/* Keras's name of an activation: "linear", "relu", "relu6", "softmax", "sigmoid", ... */
const char *qat_activation_name(qat_activation a);
/* The alpha an activation applies: leaky_relu's slope (Keras's default 0.2), elu's scale
 * (1.0); `alpha` is the layer's, 0 for the default. */
float qat_activation_alpha(qat_activation a, float alpha);
/* The same for a layer's activation: a ReLU's max_value for RELU_MAX, else its alpha. */
float qat_layer_activation_alpha(const qat_layer_spec *l, qat_activation a);
/* The activation Keras calls `name` (also "swish", "hard_swish"); 0 if none. */
int qat_activation_find(const char *name, qat_activation *out);
/* Every accepted name (for the config's enum and messages): the canonical ones in enum order,
 * then the aliases. */
const char *const *qat_activation_names(int *n);

/* The type whose ops a layer runs: a 1-D layer's 2-D twin, else its own. */
qat_layer_type qat_layer_op_type(const qat_layer_spec *l);
/* Writes ", key: [a, b]", or a 1-D layer's ", key: b" (its sizes on the width axis). */
void qat_layer_yaml_pair(qat_yaml_out *y, const qat_layer_spec *l, const char *key, const int v[2]);

/* The dimensions Keras gives layer li's output after the batch (li -1: the model input's): a
 * sequence [T, C] is 2 where qat holds [1, T, C]. */
int qat_layer_keras_rank(const qat_model_spec *s, int li);

/* Derived facts every walker uses. */
qat_layer_range qat_layer_range_of(const qat_layer_spec *l);
/* RELU or RELU6 when the layer is a standalone ReLU/ReLU6 that can fuse, else LINEAR. */
qat_activation qat_layer_fusable_activation(const qat_layer_spec *l);

#endif
