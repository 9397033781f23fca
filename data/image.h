/* Internal: PNG / JPEG decoding into 8-bit pixels, channel conversion and resizing, shared by
 * image folders and `qat predict`. */
#ifndef QAT_DATA_IMAGE_H
#define QAT_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "qat/spec.h"

/* Refuses files larger than this before reading them. */
#define QAT_IMAGE_MAX_FILE ((int64_t)256 << 20)
/* ... and decoded images larger than this. */
#define QAT_IMAGE_MAX_PIXELS ((int64_t)64 << 20)

typedef enum { QAT_IMAGE_PNG = 1, QAT_IMAGE_JPEG = 2 } qat_image_kind;

/* The working buffers of one image (the file, its pixels, their conversion, the resize's rows,
 * the inflate state), kept by one thread from image to image: allocated afresh, each image's
 * buffers came back from the kernel as new pages, and page faults were a sixth of a PNG's load.
 * Zero-initialize; each buffer grows to the largest image's need until qat_image_scratch_free. */
enum { QAT_IMAGE_SCRATCH_SLOTS = 5 };
typedef struct qat_image_scratch {
  void *buf[QAT_IMAGE_SCRATCH_SLOTS];
  size_t cap[QAT_IMAGE_SCRATCH_SLOTS];
} qat_image_scratch;

void qat_image_scratch_free(qat_image_scratch *s);

/* Decodes the file at path (PNG or JPEG, recognized by content) into h x w x c bytes in the
 * target's c (1 gray, 3 RGB, 4 RGBA), resized to h x w as interp says (crop first to the
 * target aspect ratio when crop is set). out holds h * w * c bytes. *kind says what it was.
 * scratch: the calling thread's buffers, or NULL for buffers of this call only. */
int qat_image_load(const char *path, int h, int w, int c, qat_interpolation interp, int crop, uint8_t *out,
                   qat_image_kind *kind, qat_image_scratch *scratch);

/* Whether the name ends in an image extension Keras's image_dataset_from_directory takes
 * (.png, .jpg, .jpeg; any case). */
int qat_image_name_ok(const char *name);

#endif
