/* Shared between the Keras readers: the JSON architecture parser and the archive reader. */
#ifndef QAT_KERAS_INTERNAL_H
#define QAT_KERAS_INTERNAL_H

#include <stddef.h>

#include "qat/keras.h"

/* Keras layers that qat folds into the layer they feed (no layer of their own): ZeroPadding2D
 * when it equals SAME padding, and the per-channel affine maps Rescaling and Normalization,
 * composed in order, into the next kernel and bias (or a 1x1 DepthwiseConv2D of their own where
 * that is not exact, keras.c). A chain Rescaling -> Normalization -> ZeroPadding2D -> Conv2D
 * (EfficientNet's stem) is one fold. */
enum { KERAS_MAX_AFFINE = 4, KERAS_MAX_AFFINE_CHANNELS = 64 };
typedef struct keras_affine {
  char name[QAT_NAME_MAX];
  int norm;            /* Normalization: (x - mean) / max(sqrt(variance), 1e-7) per channel */
  int k3_index;        /* its Keras 3 object name: normalization, normalization_1, ... */
  /* the values its config gives, one (for every channel) or one per channel; a Normalization's
   * 0: they are in the weights file */
  int n_values;
  float scale[KERAS_MAX_AFFINE_CHANNELS], offset[KERAS_MAX_AFFINE_CHANNELS];  /* Rescaling */
  float mean[KERAS_MAX_AFFINE_CHANNELS], variance[KERAS_MAX_AFFINE_CHANNELS]; /* Normalization */
} keras_affine;

typedef struct keras_fold {
  int has_pad;
  int pad[4]; /* top, bottom, left, right */
  char pad_name[QAT_NAME_MAX];
  int has_rescale; /* n_affine > 0, applied before the padding */
  int n_affine;
  keras_affine affine[KERAS_MAX_AFFINE];
  /* the composed map, once the weights are read: channels 0 means one scale and offset for all */
  int channels;
  float scale[KERAS_MAX_AFFINE_CHANNELS], offset[KERAS_MAX_AFFINE_CHANNELS];
} keras_fold;

/* Parses a Keras model config (model_config attribute, model.to_json(), or a .keras
 * config.json) into spec (layers malloc'd) and *folds (one entry per spec layer, malloc'd).
 * source names the JSON in messages; input_shape (or NULL) gives unknown input dimensions. */
int qat_keras_parse_json(const char *text, size_t len, const char *source, const int input_shape[3],
                         qat_model_spec *spec, char keras_version[32], keras_fold **folds);

/* The loss of a compiled model: a .keras config.json's compile_config, or a legacy .h5's
 * training_config attribute (text): its Keras name or class (with from_logits) as spec->loss
 * and spec->from_logits, *known 1. A file without one leaves them and *known 0; one qat does not
 * train (a list per output, a custom or weighted loss) gives a note ("" otherwise). */
int qat_keras_compiled_loss(const char *text, size_t len, qat_model_spec *spec, int *known, char *note,
                            size_t note_size);

/* Reads entry `name` of the zip archive at path into *out (malloc'd, NUL-terminated, *len
 * bytes without the NUL), refusing entries whose declared size exceeds max. missing_ok: a
 * missing entry returns 1 with *out NULL. */
int qat_keras_zip_entry(const char *path, const char *name, size_t max, int missing_ok, char **out,
                        size_t *len);

/* The first bytes decide the format, not the name. */
typedef enum { KERAS_FILE_HDF5, KERAS_FILE_ZIP, KERAS_FILE_OTHER } keras_file_kind;
int qat_keras_sniff(const char *path, keras_file_kind *kind);

#endif
