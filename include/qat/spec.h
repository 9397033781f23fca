/* Plain structs describing a run: what the YAML config (or a Keras import) produces and what
 * the model builder, data loader and trainer consume. No behaviour lives here. */
#ifndef QAT_SPEC_H
#define QAT_SPEC_H

#include <stdint.h>

#include "qat/enums.h"

#define QAT_NAME_MAX 64
#define QAT_MAX_LAYER_INPUTS 8


/* The layer types: X(ENUM, file). Each is one file layers/<file>.c defining the descriptor
 * `qat_layer_<file>` (include/qat/layer.h): adding a layer is that file and this line. */
#define QAT_LAYER_TYPES(X)                            \
  X(CONV2D, conv2d)                                   \
  X(DEPTHWISE_CONV2D, depthwise_conv2d)               \
  X(DENSE, dense)                                     \
  X(MAX_POOL2D, max_pooling2d)                        \
  X(AVG_POOL2D, average_pooling2d)                    \
  X(GLOBAL_AVG_POOL2D, global_average_pooling2d)      \
  X(GLOBAL_MAX_POOL2D, global_max_pooling2d)          \
  X(BATCH_NORM, batch_normalization)                  \
  X(RELU, relu)                                       \
  X(ACTIVATION, activation)                           \
  X(DROPOUT, dropout)                                 \
  X(FLATTEN, flatten)                                 \
  X(RESHAPE, reshape)                                 \
  X(ADD, add)                                         \
  X(SUBTRACT, subtract)                               \
  X(ZERO_PADDING2D, zero_padding2d)                   \
  X(CROPPING2D, cropping2d)                           \
  X(LEAKY_RELU, leaky_relu)                           \
  X(MULTIPLY, multiply)                               \
  X(SOFTMAX, softmax) \
  X(CONCATENATE, concatenate)                         \
  X(UP_SAMPLING2D, up_sampling2d)                     \
  X(SEPARABLE_CONV2D, separable_conv2d)               \
  X(CONV2D_TRANSPOSE, conv2d_transpose)               \
  X(CONV1D, conv1d)                                   \
  X(DEPTHWISE_CONV1D, depthwise_conv1d)               \
  X(SEPARABLE_CONV1D, separable_conv1d)               \
  X(MAX_POOL1D, max_pooling1d)                        \
  X(AVG_POOL1D, average_pooling1d)                    \
  X(GLOBAL_AVG_POOL1D, global_average_pooling1d)      \
  X(GLOBAL_MAX_POOL1D, global_max_pooling1d)         \
  X(MAXIMUM, maximum)                                 \
  X(MINIMUM, minimum)                                 \
  X(PRELU, prelu)                                     \
  X(UP_SAMPLING1D, up_sampling1d)

typedef enum qat_layer_type {
#define QAT_LAYER_ENUM(e, file) QAT_LAYER_##e,
  QAT_LAYER_TYPES(QAT_LAYER_ENUM)
#undef QAT_LAYER_ENUM
  QAT_LAYER_TYPE_COUNT
} qat_layer_type;

const char *qat_layer_type_name(qat_layer_type t); /* Keras class name */

typedef struct qat_layer_spec {
  qat_layer_type type;
  char name[QAT_NAME_MAX];           /* unique; Keras-style default ("conv2d_1") if not given */
  int n_inputs;                      /* >= 1 after parsing (the previous layer by default) */
  int inputs[QAT_MAX_LAYER_INPUTS];  /* -1: the model input; else index of an earlier layer */
  /* Arguments, Keras names and Keras defaults. Unused ones stay at their defaults. */
  int filters;                       /* Conv2D */
  int units;                         /* Dense */
  int depth_multiplier;              /* DepthwiseConv2D, SeparableConv2D, default 1 */
  int kernel_size[2];                /* Conv2D, DepthwiseConv2D */
  int strides[2];
  int dilation_rate[2];              /* Conv2D, DepthwiseConv2D (default 1, 1) */                    /* convs default 1; pools default pool_size */
  int pool_size[2];                  /* pools, default 2 */
  qat_padding padding;               /* default valid */
  qat_activation activation;         /* Conv2D, DepthwiseConv2D, Dense, Activation */
  int use_bias;                      /* default 1 */
  float rate;                        /* Dropout */
  int noise_shared;                  /* Dropout's noise_shape: bit d-1 set where dimension d has size 1
                                        there (one mask value along it: stochastic depth's [N,1,1,1]) */
  float momentum;                    /* BatchNormalization, default 0.99 */
  float epsilon;                     /* BatchNormalization, default 1e-3 */
  float max_value;                   /* ReLU: 0 = none, 6 = ReLU6 */
  float threshold;                   /* ReLU: values not above it become 0 (Keras's); 0 = none */
  int keepdims;                      /* GlobalAveragePooling2D, GlobalMaxPooling2D: [N,1,1,C] */
  float alpha;                       /* leaky_relu's slope, elu's scale; 0: the activation's default */
  int target_rank;                   /* Reshape: 1..3 dims after the batch */
  int target_shape[3];               /* Reshape; one entry may be -1 */
  int axis;                          /* Concatenate: Keras's axis (batch is 0; -1 the last), default -1 */
  int size[2];                       /* UpSampling2D: factors along H and W, default 2 */
  int interpolation;                 /* UpSampling2D: a qat_interpolation, default nearest */
  int shared_axes;                   /* PReLU: bit a-1 set for Keras axis a in shared_axes (one alpha along it) */
  int zero_pad[4];                   /* ZeroPadding2D: top, bottom, left, right (default 1 each);
                                        Cropping2D: the rows and columns it cuts there */
  int line, column;                  /* where the layer is declared (1-based; 0 = unknown) */
} qat_layer_spec;

/* quantize: {mode: qat, ...}: fake-quant nodes placed where the int8 model will requantize. */
typedef struct qat_quantize_spec {
  int enabled;                    /* mode: qat */
  int64_t delay;                  /* optimizer steps of float training before fake quant starts */
  int64_t freeze_observers_after; /* activation ranges stop moving after this step (0 = never) */
  int64_t freeze_bn_after;        /* batch norm uses its moving statistics after this step (0 = never;
                                     QAT_FREEZE_BN_START: from the first step; QAT_FREEZE_BN_AUTO, the
                                     default: from the first step when the weights come from a file
                                     (model.init, model.keras), else never; resolved by qat_model_create) */
  int64_t calibrate;              /* batches of training data whose float activations seed the observers
                                     before fake quant switches on (0: none; default
                                     QAT_CALIBRATE_DEFAULT_BATCHES) */
  int observer;                   /* activations: qat_observer_kind EMA (default) or MINMAX */
  int activations_lsq;            /* activations: learned step size (LSQ) instead of an observer */
  int weights_lsq;                /* weights: learned step size instead of max|w| / 127 */
  float decay;                    /* EMA decay, default 0.999 */
  int ema_warmup;                 /* EMA: decay min(decay, (1+t)/(10+t)) after t batches (default 1) */
  int weights_per_tensor;         /* weights: 0 per channel (default), 1 per tensor */
} qat_quantize_spec;
#define QAT_FREEZE_BN_AUTO (-1)
#define QAT_FREEZE_BN_START (-2)
#define QAT_CALIBRATE_DEFAULT_BATCHES 8

/* train.loss, with Keras's names; the loss node the model's graph ends in */
typedef enum qat_loss {
  QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY = 0, /* integer labels (per sample or per position) */
  QAT_LOSS_CATEGORICAL_CROSSENTROPY,            /* one-hot rows: the same loss, labels from the rows */
  QAT_LOSS_BINARY_CROSSENTROPY,                 /* targets in [0, 1], one per output value */
  QAT_LOSS_MEAN_SQUARED_ERROR,
  QAT_LOSS_MEAN_ABSOLUTE_ERROR,
  QAT_LOSS_HUBER,                               /* delta 1, Keras's default */
} qat_loss;

/* Keras's name of a loss, for messages */
static inline const char *qat_loss_name(qat_loss l) {
  static const char *const names[] = {"sparse_categorical_crossentropy", "categorical_crossentropy",
                                      "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber"};
  return (unsigned)l < sizeof names / sizeof names[0] ? names[l] : "?";
}

/* A model's outputs (model.outputs): at most this many. */
#define QAT_MAX_OUTPUTS 8

typedef struct qat_model_spec {
  int input_shape[3]; /* H, W, C as the graph holds it: a sequence [T, C] is [1, T, C], a vector [F] [1, 1, F] */
  int input_rank;     /* the dimensions the model's input has after the batch (Keras's): 3, 2 or 1; 0 reads as 3 */
  qat_loss loss;      /* train.loss (parsed with the train section) */
  int from_logits;    /* train.from_logits: binary cross-entropy on the output as logits */
  /* model.outputs: the layers whose outputs the model gives, in order, any layer (not only the
   * last); 0: the last layer alone, with `loss`. Each has its loss (train.loss: one for all, or a
   * list) and weight in the summed loss (train.loss_weights, default 1), as Keras's compile. */
  int n_outputs;
  int outputs[QAT_MAX_OUTPUTS];
  qat_loss output_loss[QAT_MAX_OUTPUTS];
  float loss_weight[QAT_MAX_OUTPUTS];
  int n_layers;
  qat_layer_spec *layers;
  const char *source; /* file name for error messages ("examples/x.yaml"), may be NULL */
  qat_quantize_spec quantize;
  char *init;         /* model.init: checkpoint whose weights start the run (fine-tuning), or NULL */
  char *keras;        /* model.keras: a Keras model file giving input, layers and initial weights
                         (read when the config is loaded: qat_config_resolve), or NULL */
} qat_model_spec;

typedef enum qat_dataset_kind {
  QAT_DATASET_FASHION_MNIST = 0, /* Debian's dataset-fashion-mnist */
  QAT_DATASET_IDX,               /* explicit IDX paths (.gz or plain) */
  QAT_DATASET_CIFAR10,           /* CIFAR-10 binary batches */
  QAT_DATASET_NPY,               /* NumPy arrays: .npy files or one .npz */
  QAT_DATASET_FOLDER,            /* image folders, one subfolder per class (PNG, JPEG) */
} qat_dataset_kind;

#define QAT_MAX_DATA_FILES 8
/* Labels are stored as bytes. */
#define QAT_MAX_CLASSES 256
/* Per-channel mean/std entries. */
#define QAT_MAX_CHANNELS 4

/* How images are resized to the model input, as Keras's `interpolation:` names them. */
typedef enum qat_interpolation {
  QAT_INTERP_BILINEAR = 0,
  QAT_INTERP_NEAREST,
  QAT_INTERP_AREA,
} qat_interpolation;

/* How geometric augmentations fill pixels that come from outside the image, as Keras's
 * fill_mode names them: reflect (d c b a | a b c d | d c b a), wrap, constant (fill_value),
 * nearest (the edge pixel). */
typedef enum qat_fill_mode {
  QAT_FILL_REFLECT = 0,
  QAT_FILL_WRAP,
  QAT_FILL_CONSTANT,
  QAT_FILL_NEAREST,
} qat_fill_mode;

/* Keras preprocessing-layer augmentations (data.augment), applied to training batches in this
 * order whatever the order of the list: RandomFlip, RandomCrop, RandomTranslation,
 * RandomRotation, RandomZoom (composed into one resampling), then RandomContrast and
 * RandomBrightness. They work on the stored values (0..255 for images), before rescale / mean /
 * std, as Keras layers placed before a Rescaling layer do. Ranges are [lower, upper] as Keras
 * resolves a factor (a number f means [-f, f]). */
typedef struct qat_augment_spec {
  int enabled;                        /* an augment: list was given */
  int flip_horizontal, flip_vertical; /* RandomFlip: mode horizontal | vertical | horizontal_and_vertical */
  int crop_h, crop_w;                 /* RandomCrop: a random h x w window, resized back (0 = off) */
  int translate;                      /* RandomTranslation given */
  float translate_h[2], translate_w[2]; /* fractions of the height / width */
  int rotate;                         /* RandomRotation given */
  float rotation[2];                  /* fractions of a full turn; positive: counter-clockwise */
  int zoom;                           /* RandomZoom given */
  int zoom_w_given;                   /* width_factor given (else the height's zoom, aspect kept) */
  float zoom_h[2], zoom_w[2];         /* zoom = 1 + u: positive zooms out, negative in */
  int contrast;                       /* RandomContrast given */
  float contrast_f[2];                /* factor in [1 - lower, 1 + upper] */
  int brightness;                     /* RandomBrightness given */
  float brightness_f[2];              /* delta = u * (value_range[1] - value_range[0]) */
  float contrast_range[2], brightness_range[2]; /* value_range, clipped to [default 0, 255] */
  qat_fill_mode fill_mode;            /* default reflect (Keras's default) */
  int interp_nearest;                 /* interpolation: nearest (default bilinear) */
  float fill_value;                   /* fill_mode constant (default 0) */
} qat_augment_spec;

typedef struct qat_data_spec {
  qat_dataset_kind kind;
  /* IDX: images and labels; CIFAR-10: train_files and test_file hold the batch files. */
  char *train_images, *train_labels, *test_images, *test_labels;
  int n_train_files;
  char *train_files[QAT_MAX_DATA_FILES];
  char *test_file;
  float validation_split; /* fraction of the training set held out, 0 = none */
  int random_crop;        /* pad by this many pixels and crop back at random; 0 = off */
  int horizontal_flip;    /* flip half the training images left-right */
  int limit_train;        /* use only the first N training samples (0 = all) */
  int limit_test;         /* use only the first N test samples (0 = all) */
  /* Relative paths are relative to this folder (the config file's); NULL: the working one. */
  char *base_dir;
  /* NPY: x and y (.npy files), test_x and test_y; or path: one .npz with x_train, y_train,
   * x_test, y_test (Keras's convention). FOLDER: path is the folder of class subfolders. */
  char *x, *y, *test_x, *test_y, *path;
  int num_classes;        /* 0: from the data (folder count, largest label + 1) */
  int n_class_names;      /* class_names: the folder names to use, in label order */
  char **class_names;
  /* Preprocessing, as Keras's Rescaling and Normalization layers compute it:
   * x = (v * rescale + offset - mean[c]) / std[c]. Without any of these keys, uint8 values
   * become v / 255 and float values stay as stored. */
  int has_rescale;
  float rescale, offset;
  int n_mean, n_std;
  float mean[QAT_MAX_CHANNELS], std[QAT_MAX_CHANNELS];
  qat_interpolation interpolation; /* FOLDER: resizing to the model input (default bilinear) */
  int crop_to_aspect_ratio;        /* FOLDER: center-crop to the input's aspect ratio first */
  int skip_invalid;                /* FOLDER: skip (and count) files that do not decode */
  uint64_t split_seed;             /* FOLDER: shuffles the files before validation_split (Keras's seed) */
  qat_augment_spec augment;
  int absent;                      /* the config has no data: section (loading it is an error) */
  int input_shape[3];              /* the model input (set by the config reader): folders resize to it */
  int n_outputs;                   /* model.outputs (set by the config reader): a .npz then holds one */
  char output_names[QAT_MAX_OUTPUTS][QAT_NAME_MAX]; /* y_train_<name> / y_test_<name> per output */
} qat_data_spec;

typedef enum qat_optimizer_kind { QAT_OPT_SGD = 0, QAT_OPT_ADAM, QAT_OPT_ADAMW } qat_optimizer_kind;
typedef enum qat_schedule_kind { QAT_SCHED_CONSTANT = 0, QAT_SCHED_STEP, QAT_SCHED_COSINE } qat_schedule_kind;

typedef struct qat_optimizer_spec {
  qat_optimizer_kind kind; /* default adam */
  float learning_rate;  /* Keras defaults: sgd 0.01, adam/adamw 0.001 */
  float momentum;       /* sgd, default 0 */
  int nesterov;         /* sgd, default 0 */
  float beta_1, beta_2; /* adam: 0.9, 0.999 */
  float epsilon;        /* adam: 1e-7 (Keras) */
  float weight_decay;   /* sgd/adam: L2 added to the gradient; adamw: decoupled (default 0.004) */
  float clipnorm;       /* global gradient-norm clip, 0 = off */
} qat_optimizer_spec;

typedef struct qat_schedule_spec {
  qat_schedule_kind kind;
  int warmup_steps; /* linear warm-up from 0, default 0 */
  int step_size;    /* step: multiply by gamma every step_size steps */
  float gamma;      /* step: default 0.1 */
  float alpha;      /* cosine: final lr as a fraction of the initial one, default 0 */
} qat_schedule_spec;

#define QAT_MAX_FREEZE 64

typedef struct qat_train_spec {
  int epochs;          /* default 1 */
  int batch_size;      /* default 32 */
  int steps_per_epoch; /* at most this many batches per epoch (Keras's steps_per_epoch); 0: the
                          whole training set */
  uint64_t seed;       /* default 1 */
  int threads;         /* 0 = OpenMP's default */
  qat_optimizer_spec optimizer;
  qat_schedule_spec schedule;
  int n_freeze;        /* train.freeze: layers whose parameters (and BN statistics) stay fixed */
  char freeze[QAT_MAX_FREEZE][QAT_NAME_MAX];
  int profile;         /* not in the YAML: `qat train --profile` prints each op kind's share of
                          the step to stderr at the end */
} qat_train_spec;

typedef struct qat_config {
  char *path;  /* as given, for messages */
  char *text;  /* the whole file, stored in checkpoints */
  qat_model_spec model;
  qat_data_spec data;
  qat_train_spec train;
  struct qat_keras_model *keras_model; /* model.keras's weights, read by qat_config_resolve (owned) */
} qat_config;

/* The model input as Keras shapes it: a 1-D model's sequence [T, C] or vector [F] is held as the
 * image [1, T, C] or [1, 1, F], so every 2-D op runs it with a height of 1 (the converter's
 * lowering of Conv1D: an EXPAND_DIMS to height 1, then CONV_2D). */
static inline int qat_spec_input_rank(const qat_model_spec *s) { return s->input_rank ? s->input_rank : 3; }
/* Its dimensions after the batch, qat_spec_input_rank of them. */
static inline void qat_spec_input_dims(const qat_model_spec *s, int dims[3]) {
  const int r = qat_spec_input_rank(s);
  for (int i = 0; i < r; i++) dims[i] = s->input_shape[3 - r + i];
}
/* Sets the input from Keras's dimensions (rank 1 to 3). */
static inline void qat_spec_set_input(qat_model_spec *s, int rank, const int *dims) {
  s->input_rank = rank;
  for (int i = 0; i < 3; i++) s->input_shape[i] = i < 3 - rank ? 1 : dims[i - (3 - rank)];
}
/* The model's outputs: their count, output k's layer and loss (model.outputs, or the last layer). */
static inline int qat_spec_n_outputs(const qat_model_spec *s) { return s->n_outputs ? s->n_outputs : 1; }
static inline int qat_spec_output_layer(const qat_model_spec *s, int k) {
  return s->n_outputs ? s->outputs[k] : s->n_layers - 1;
}
static inline qat_loss qat_spec_output_loss(const qat_model_spec *s, int k) {
  return s->n_outputs ? s->output_loss[k] : s->loss;
}
static inline float qat_spec_loss_weight(const qat_model_spec *s, int k) { return s->n_outputs ? s->loss_weight[k] : 1.0f; }
/* Whether layer li is one of the model's outputs. */
static inline int qat_spec_is_output(const qat_model_spec *s, int li) {
  for (int k = 0; k < qat_spec_n_outputs(s); k++)
    if (qat_spec_output_layer(s, k) == li) return 1;
  return 0;
}

/* The (H, W, C) of a dataset of such inputs: arrays [N, T, C] read as (T, C, 1), [N, F] as (F, 1, 1). */
static inline void qat_spec_data_shape(const qat_model_spec *s, int hwc[3]) {
  const int r = qat_spec_input_rank(s);
  for (int i = 0; i < 3; i++) hwc[i] = i < r ? s->input_shape[3 - r + i] : 1;
}

#endif
