/* PNG and JPEG decoding (image folders, qat predict): the input is the file; its last byte picks
 * the target (1, 3 or 4 channels; 7x5, 1x1 or 33x64; bilinear, nearest or area; crop to the
 * aspect ratio or not), so every channel conversion and resize path sees hostile pixels. The
 * same harness runs as `png` and `jpeg`, with each format's seeds and dictionary. */
#include "data/image.h"
#include "fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT || size < 1) return 0;
  static const int channels[3] = {1, 3, 4}, sizes[3][2] = {{7, 5}, {1, 1}, {33, 64}};
  static const qat_interpolation interps[3] = {QAT_INTERP_BILINEAR, QAT_INTERP_NEAREST, QAT_INTERP_AREA};
  const uint8_t pick = data[size - 1];
  const int c = channels[pick % 3], h = sizes[(pick / 3) % 3][0], w = sizes[(pick / 3) % 3][1];
  const qat_interpolation interp = interps[(pick / 9) % 3];
  const int crop = (pick / 27) & 1;
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  uint8_t *out = malloc((size_t)h * w * c);
  if (out) {
    qat_error_clear();
    qat_image_kind kind;
    /* one set of buffers for every input, as a folder's thread reuses them: what an image
     * leaves there must never reach the next one's pixels */
    static qat_image_scratch scratch;
    int rc = qat_image_load(path, h, w, c, interp, crop, out, &kind, &scratch);
    fuzz_check_message(rc);
    free(out);
  }
  close(fd);
  return 0;
}
