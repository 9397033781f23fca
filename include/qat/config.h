/* YAML run configuration -> qat_config (spec.h). The YAML uses Keras class and argument
 * names so that a Keras model config maps onto it one to one:
 *
 *   model:
 *     input: [28, 28, 1]
 *     layers:
 *       - Conv2D: {filters: 32, kernel_size: 3, activation: relu}
 *       - MaxPooling2D: {pool_size: 2}
 *       - Flatten: {}
 *       - Dense: {units: 10, activation: softmax}
 *   data: {dataset: fashion-mnist}
 *   train: {epochs: 1, batch_size: 64, optimizer: {name: adam, learning_rate: 0.001}}
 *
 * Everything not in the file takes the default documented in spec.h; an absent `data` section
 * means fashion-mnist, an absent optimizer means Adam with Keras defaults, an absent schedule
 * means constant. Shapes are not checked here (the layers module does that, using the
 * line/column stored in each qat_layer_spec).
 *
 * Strict by design: unknown or repeated keys, YAML aliases, explicit tags and a second
 * document are errors, as are numbers written in quotes.
 *
 * Every error is one line, recorded with qat_fail():
 *   <file>:<line>:<column>: <key path>: <problem> (expected <what>)
 * (whole-file problems have no line; YAML syntax errors put "invalid YAML" in the path slot).
 * Status: QAT_ERR_USAGE for anything wrong with the config's content (including an empty,
 * oversized, binary or non-regular file), QAT_ERR_IO when the system refuses to open or read
 * it (with strerror), QAT_ERR_NOMEM when memory runs out. */
#ifndef QAT_CONFIG_H
#define QAT_CONFIG_H

#include <stddef.h>

#include "qat/spec.h"

/* Larger files are rejected before parsing: a real config is a few KiB. */
#define QAT_CONFIG_MAX_BYTES (1u << 20)
/* Deeper YAML nesting is rejected (the schema itself needs 5 levels). */
#define QAT_CONFIG_MAX_DEPTH 64

/* Reads and parses the file at path and resolves it (qat_config_resolve); out->path is a copy
 * of path, out->text the whole file (NUL-terminated). On failure *out is left zeroed, so
 * qat_config_free(out) is optional. */
int qat_config_load(const char *path, qat_config *out);

/* Parses len bytes of text (need not be NUL-terminated). source_name is used in messages and
 * copied into out->path (NULL: "<config>" in messages, out->path NULL); the text is copied
 * into out->text. On failure *out is left zeroed. */
int qat_config_parse(const char *text, size_t len, const char *source_name, qat_config *out);

/* Reads the files a parsed config names for its model: model.keras (its input, layers and
 * weights, kept in cfg->keras_model; a relative path is taken from base_dir when given). Done
 * once, when a config is loaded, so no later stage opens the Keras file again. */
int qat_config_resolve(qat_config *cfg, const char *base_dir);

/* Frees everything owned by cfg and zeroes it; safe on a zeroed or already-freed config. */
void qat_config_free(qat_config *cfg);

#endif
