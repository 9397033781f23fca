/* Post-training calibration (qat/calib.h): the float model is run over the representative set
 * with fake quant off and inference-mode batch norm, and every observed activation quantizer
 * (the same nodes quantization-aware training observes: layer outputs after their fused
 * activation, and the model input) gets its range from what it saw. min/max takes one pass;
 * percentile and MSE take a second pass that fills a histogram over the min/max range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "qat/calib.h"
#include "qat/error.h"
#include "qat/file.h"
#include "qat/keras.h"
#include "qat/quant.h"
#include "qat/train.h"

int qat_calib_load_model(const char *ckpt, int max_batch, qat_config *cfg, qat_model **m, int *was_qat) {
  *m = NULL;
  int rc = qat_checkpoint_config(ckpt, cfg);
  if (rc) return rc;
  qat_quantize_spec *q = &cfg->model.quantize;
  *was_qat = q->enabled;
  if (q->enabled && q->activations_lsq) {
    qat_config_free(cfg);
    return qat_fail(QAT_ERR_USAGE,
                    "%s: its activations learn their step size (LSQ); calibration sets observed ranges, and "
                    "this checkpoint has none to set (export it with --mode int8 without --calibrate)",
                    ckpt);
  }
  if (!q->enabled) {
    /* As if the config said `quantize: {mode: qat}` with the converter's observer. */
    memset(q, 0, sizeof *q);
    q->enabled = 1;
    q->observer = QAT_OBSERVER_MINMAX;
    q->decay = QAT_OBSERVER_DEFAULT_DECAY;
  }
  if ((rc = qat_model_create(m, &cfg->model, max_batch, cfg->train.seed))) goto fail;
  /* A float checkpoint has no /quant group: the loader leaves the observers empty. */
  if ((rc = qat_checkpoint_load(ckpt, *m, NULL, NULL))) goto fail;
  if (!*was_qat) qat_model_absorb_folded_bias(*m);
  return QAT_OK;
fail:
  qat_model_free(*m);
  *m = NULL;
  qat_config_free(cfg);
  return rc;
}

/* IDX (plain magic 0x00000803, or gzip) or else a CIFAR-10 binary batch. */
/* A folder of class subfolders (its training split, resized to h x w x c), a .npz (Keras's
 * x_train), IDX images or a CIFAR-10 batch. */
static int load_file(const char *file, int h, int w, int c, qat_dataset *ds) {
  struct stat st;
  const int dir = stat(file, &st) == 0 && S_ISDIR(st.st_mode);
  if (dir || qat_path_has_suffix(file, ".npz")) {
    qat_data_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.kind = dir ? QAT_DATASET_FOLDER : QAT_DATASET_NPY;
    spec.path = (char *)file;
    spec.input_shape[0] = h, spec.input_shape[1] = w, spec.input_shape[2] = c;
    return qat_data_load(&spec, ds, NULL, NULL);
  }
  int fd;
  uint64_t size;
  int rc = qat_file_open_regular(file, "calibration data", 0, &fd, &size);
  if (rc) return rc;
  unsigned char magic[4] = {0};
  ssize_t got = pread(fd, magic, 4, 0);
  close(fd);
  int idx = (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) ||
            (got == 4 && magic[0] == 0 && magic[1] == 0 && magic[2] == 0x08 && magic[3] == 0x03);
  if (idx) return qat_idx_load_images(file, ds);
  const char *paths[1] = {file};
  rc = qat_cifar10_load(paths, 1, ds);
  if (rc) qat_fail_prefix(rc, "calibration data is neither IDX images nor a CIFAR-10 batch: ");
  return rc;
}

int qat_calib_load_samples(const qat_config *cfg, const char *file, int64_t count, uint64_t seed, int h, int w, int c,
                           qat_dataset *out) {
  memset(out, 0, sizeof *out);
  if (count < 1) return qat_fail(QAT_ERR_USAGE, "calibration needs at least 1 sample (got %lld)", (long long)count);
  qat_dataset all;
  int rc = file ? load_file(file, h, w, c, &all) : qat_data_load(&cfg->data, &all, NULL, NULL);
  if (rc) return rc;
  /* a file of raw samples gets the config's preprocessing, as its own data would */
  if (file && (rc = qat_preproc_from_spec(&cfg->data, all.c, all.fimages != NULL, &all.pre))) {
    qat_dataset_free(&all);
    return qat_fail_prefix(rc, "%s: ", file);
  }
  const char *what = file ? file : "the config's training data";
  if (all.n == 0) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: no samples to calibrate with", what);
  } else if (all.h != h || all.w != w || all.c != c) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: images are %dx%dx%d, the model takes %dx%dx%d", what, all.h, all.w, all.c, h,
                  w, c);
  } else {
    rc = qat_dataset_sample(&all, count, seed, out);
  }
  qat_dataset_free(&all);
  return rc;
}

