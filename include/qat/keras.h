/* Keras model files -> qat's model spec (qat/spec.h) plus parameters in qat's layout, read with
 * libhdf5 (no TensorFlow). Accepted files:
 *   - legacy full model .h5 (model.save("x.h5"), Keras 2 and 3): the root attribute
 *     model_config (JSON) and the weights under /model_weights/<layer>/ (attr weight_names);
 *   - legacy weights-only .h5 (model.save_weights, attrs layer_names/weight_names at the root),
 *     with the architecture from a JSON file (model.to_json()) or from a qat YAML config whose
 *     layer names are Keras's (qat_keras_load_weights);
 *   - Keras 3 .keras archives (zip: config.json + model.weights.h5, read in memory) and
 *     .weights.h5 files (/layers/<layer>/vars/<i>), the latter with a JSON or YAML architecture.
 *
 * Supported layers: InputLayer, Conv2D, DepthwiseConv2D, Dense, MaxPooling2D,
 * AveragePooling2D, GlobalAveragePooling2D, BatchNormalization, ReLU, Activation (relu, relu6,
 * softmax, linear), Dropout, Flatten, Reshape, Add; in Sequential and Functional models with one
 * image input (channels_last). Two more are folded into the Conv2D / DepthwiseConv2D (Dense for
 * Rescaling) that follows them, exactly: ZeroPadding2D when padded-then-VALID equals SAME on
 * that input (e.g. ((0,1),(0,1)) before a stride-2 3x3 conv on an even size, as Keras's
 * MobileNets do), and Rescaling(scale, offset) into kernel * scale and bias + offset * sum(kernel)
 * (offset only before a VALID conv or a Dense with bias). Anything else is refused, naming the
 * layer and its class.
 *
 * Layouts are converted once, here: Conv2D kernels HWIO -> OHWI, Dense [in,out] -> [out,in],
 * DepthwiseConv2D [H,W,C,M] -> [1,H,W,C*M]; batch-norm gamma, beta and moving statistics are
 * carried over as they are.
 *
 * Files may be hostile: every dataset's type and shape is checked against what the
 * architecture implies before it is read, sizes are capped, NaN/Inf weights are refused, zip
 * entries are read only up to their capped declared size. Errors are one line naming the file
 * and the layer or dataset (QAT_ERR_FORMAT for a bad file, QAT_ERR_UNSUPPORTED for a valid
 * model qat cannot build, QAT_ERR_IO, QAT_ERR_NOMEM). */
#ifndef QAT_KERAS_H
#define QAT_KERAS_H

#include "qat/h5store.h"
#include "qat/model.h"
#include "qat/spec.h"

#define QAT_KERAS_MAX_JSON (16u << 20)     /* bytes of model_config / config.json */
#define QAT_KERAS_MAX_WEIGHTS (512u << 20) /* bytes of a .keras archive's model.weights.h5 */
#define QAT_KERAS_MAX_LAYERS 4096

typedef struct qat_keras_weight {
  char name[2 * QAT_NAME_MAX + 16]; /* qat's parameter name: "conv2d/kernel" */
  int rank;
  int dims[QAT_MAX_RANK];           /* qat's layout */
  int64_t size;
  float *data;
} qat_keras_weight;

typedef struct qat_keras_model {
  qat_model_spec spec;     /* layers malloc'd; quantize off, init NULL */
  char keras_version[32];  /* as the file states it, "" if it does not */
  const char *format;      /* "legacy .h5", "Keras 3 .keras", ... */
  int n_weights;
  qat_keras_weight *weights;
  char notes[1024];        /* Keras layers folded into others, one per line ("" if none) */
  /* The loss the model was compiled with (spec.loss, spec.from_logits), when the file records
   * one qat trains: model.yaml's train.loss; 0 leaves the config's default */
  int loss_known;
} qat_keras_model;

/* A full model (.h5 with model_config, or .keras), or a weights-only file (.h5 or .weights.h5)
 * with arch_json naming the architecture (model.to_json() output or a .keras config.json).
 * arch_json may be NULL for full models. On failure *out is zeroed. */
int qat_keras_load(const char *path, const char *arch_json, qat_keras_model *out);
/* The same for a model saved with unknown (None) input dimensions: input_shape ([H, W, C], or
 * NULL) gives them; a dimension the file fixes must agree with it. */
int qat_keras_load_sized(const char *path, const char *arch_json, const int input_shape[3], qat_keras_model *out);

/* A weights-only file matched by layer name to spec (e.g. from a qat YAML config). */
int qat_keras_load_weights(const char *path, const qat_model_spec *spec, qat_keras_model *out);

void qat_keras_free(qat_keras_model *k);

/* Copies every weight into the model's parameters and state by name (the model must have been
 * built from an equivalent spec; every parameter must be found with its shape). All or
 * nothing: on failure the model is unchanged. */
int qat_keras_apply(const qat_keras_model *k, qat_model *m);

/* Opens the HDF5 weights of a Keras file: the file itself, or a .keras archive's
 * model.weights.h5 (in memory). */
int qat_keras_open_weights(const char *path, qat_h5_reader *r);

/* model: {keras: PATH} in a config: loads the file into *k and points spec's input shape and
 * layers at k's (borrowed: valid until qat_keras_free(k)). No-op (k zeroed) without model.keras.
 * qat_config_resolve (config/) calls it when a config is loaded. */
int qat_keras_resolve_spec(qat_model_spec *spec, qat_keras_model *k);

/* qat's YAML config for the imported model (Keras layer names, so the user can edit it):
 * a model section with init: init_ckpt (may be NULL) and commented data/quantize/train
 * sections. *out is malloc'd. */
int qat_keras_config_yaml(const qat_keras_model *k, const char *source, const char *init_ckpt, char **out);

#endif
