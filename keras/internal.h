/* Shared between the Keras readers: the JSON architecture parser and the archive reader. */
#ifndef QAT_KERAS_INTERNAL_H
#define QAT_KERAS_INTERNAL_H

#include <stddef.h>

#include "qat/keras.h"

/* Parses a Keras model config (model_config attribute, model.to_json(), or a .keras
 * config.json) into spec (layers malloc'd). source names the JSON in messages. */
int qat_keras_parse_json(const char *text, size_t len, const char *source, qat_model_spec *spec,
                         char keras_version[32]);

/* Reads entry `name` of the zip archive at path into *out (malloc'd, NUL-terminated, *len
 * bytes without the NUL), refusing entries whose declared size exceeds max. missing_ok: a
 * missing entry returns 1 with *out NULL. */
int qat_keras_zip_entry(const char *path, const char *name, size_t max, int missing_ok, char **out,
                        size_t *len);

/* The first bytes decide the format, not the name. */
typedef enum { KERAS_FILE_HDF5, KERAS_FILE_ZIP, KERAS_FILE_OTHER } keras_file_kind;
int qat_keras_sniff(const char *path, keras_file_kind *kind);

#endif
