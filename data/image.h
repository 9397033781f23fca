/* Internal: PNG / JPEG decoding into 8-bit pixels, channel conversion and resizing, shared by
 * image folders and `qat predict`. */
#ifndef QAT_DATA_IMAGE_H
#define QAT_DATA_IMAGE_H

#include <stdint.h>

#include "qat/spec.h"

/* Refuses files larger than this before reading them. */
#define QAT_IMAGE_MAX_FILE ((int64_t)256 << 20)
/* ... and decoded images larger than this. */
#define QAT_IMAGE_MAX_PIXELS ((int64_t)64 << 20)

typedef enum { QAT_IMAGE_PNG = 1, QAT_IMAGE_JPEG = 2 } qat_image_kind;

/* Decodes the file at path (PNG or JPEG, recognized by content) into h x w x c bytes in the
 * target's c (1 gray, 3 RGB, 4 RGBA), resized to h x w as interp says (crop first to the
 * target aspect ratio when crop is set). out holds h * w * c bytes. *kind says what it was. */
int qat_image_load(const char *path, int h, int w, int c, qat_interpolation interp, int crop, uint8_t *out,
                   qat_image_kind *kind);

/* Whether the name ends in an image extension Keras's image_dataset_from_directory takes
 * (.png, .jpg, .jpeg; any case). */
int qat_image_name_ok(const char *name);

#endif
