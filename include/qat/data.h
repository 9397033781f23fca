/* Datasets: IDX (MNIST, Fashion-MNIST; gzip or plain) and CIFAR-10 binary readers, the
 * train/validation/test split of a run's data spec, and a seeded batcher whose batches can be
 * produced in any order, so that a resumed run picks up mid-epoch with the same samples.
 *
 * Data files are untrusted input: every reader checks the header, the size arithmetic, the
 * exact length and every label before it hands out a dataset, and its errors name the file,
 * the problem and the expected vs found value. */
#ifndef QAT_DATA_H
#define QAT_DATA_H

#include <stdint.h>

#include "qat/spec.h"

/* The largest payload (image bytes) a reader accepts: a header that claims more is rejected
 * before anything is allocated. Fashion-MNIST needs 47 MB, all of CIFAR-10 180 MB. */
#define QAT_DATA_MAX_BYTES ((int64_t)1 << 31)

/* Debian's dataset-fashion-mnist; the environment variable overrides the directory. */
#define QAT_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define QAT_FASHION_MNIST_DIR_ENV "QAT_FASHION_MNIST_DIR"

/* How stored values become the model's floats (spec.h's data keys, resolved). custom = 0 is
 * the historical default: uint8 v -> v / 255.0f, float v -> v, bit for bit. */
typedef struct qat_preproc {
  int custom;
  float rescale, offset;
  int n_norm; /* 0, or c: per-channel (x - mean) / std after the rescale */
  float mean[QAT_MAX_CHANNELS], std[QAT_MAX_CHANNELS];
} qat_preproc;

typedef struct qat_dataset {
  int64_t n;        /* samples */
  int h, w, c;      /* every sample is h x w x c ([T, C] arrays are T x C x 1, [F] F x 1 x 1) */
  uint8_t *images;  /* n * h * w * c bytes, NHWC; NULL when the samples are floats */
  uint8_t *labels;  /* n bytes, each < num_classes */
  int num_classes;  /* from the data or the spec (<= QAT_MAX_CLASSES) */
  int owns;         /* 0 for a view (qat_dataset_view): free() leaves the memory alone */
  float *fimages;   /* n * h * w * c floats (int8 / float16 / float32 arrays), or NULL */
  float *targets;   /* n * target_len per-sample targets that are not one class label (.npy y: a
                       label map, multi-hot rows, values), or NULL; labels then hold zeros */
  int64_t target_len;
  int target_ints;  /* targets came from an integer array: usable as per-position classes */
  qat_preproc pre;
} qat_dataset;

/* Sample `index` as the model's floats (h * w * c), preprocessed as the batcher does it. */
void qat_dataset_get_floats(const qat_dataset *ds, int64_t index, float *out);
/* Converts count stored values starting at element `start` of sample storage (a multiple of c
 * from a pixel's first channel) with ds->pre. */
void qat_preproc_apply(const qat_dataset *ds, const void *src, int64_t count, float *out);
/* As qat_preproc_apply for values already converted to float (augmented samples), in place:
 * v / 255 for uint8 data by default, exactly as qat_preproc_apply computes it. */
void qat_preproc_floats(const qat_dataset *ds, float *v, int64_t count);

/* data.augment on one sample: the transform is drawn from an RNG seeded with key only; in holds
 * the sample's stored values (uint8 or float), out gets h * w * c model floats (augmented, then
 * preprocessed). */
void qat_augment_sample(const qat_dataset *ds, const qat_augment_spec *a, const void *in, uint64_t key, float *out);
/* Whether a spec moves pixels (a flip, crop, translation, rotation or zoom). */
int qat_augment_geometric(const qat_augment_spec *a);
/* Checks a spec against the samples it will augment (RandomCrop within the size). */
int qat_augment_check(const qat_augment_spec *a, const qat_dataset *ds);

/* The preprocessing a spec asks for, checked against c channels (mean/std of 1 or c entries). */
int qat_preproc_from_spec(const qat_data_spec *spec, int c, int is_float, qat_preproc *out);

/* IDX pair (magic 0x00000803 images N x H x W, 0x00000801 labels N; unsigned bytes), gzip
 * compressed or plain, recognized by content, not by name. Labels must be < num_classes
 * (1..256). The result has c = 1. On error *out is left empty. */
int qat_idx_load(const char *images_path, const char *labels_path, int num_classes,
                 qat_dataset *out);

/* An IDX image file alone (no labels: all 0, num_classes 1), e.g. a representative set for
 * calibration; the same checks as qat_idx_load. */
int qat_idx_load_images(const char *images_path, qat_dataset *out);

/* CIFAR-10 binary batches (records of 1 label byte + 3072 bytes of 32x32 R, G, B planes),
 * concatenated in the order given; converted to 32x32x3 NHWC. On error *out is left empty. */
int qat_cifar10_load(const char *const *paths, int n_paths, qat_dataset *out);

/* Frees an owning dataset (a view is only cleared); safe on a zeroed or freed one. */
void qat_dataset_free(qat_dataset *ds);

/* A non-owning view of samples [start, start + count) of ds; valid while ds is. */
int qat_dataset_view(const qat_dataset *ds, int64_t start, int64_t count, qat_dataset *out);

/* An owning copy of `count` distinct samples drawn with `seed` (kept in dataset order), e.g.
 * the representative set for calibration. count >= ds->n copies everything. */
int qat_dataset_sample(const qat_dataset *ds, int64_t count, uint64_t seed, qat_dataset *out);

/* Loads what a data spec names:
 *   FASHION_MNIST: $QAT_FASHION_MNIST_DIR (default QAT_FASHION_MNIST_DIR)/
 *                  {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or without .gz);
 *   IDX:           spec->train_images/train_labels and test_images/test_labels;
 *   CIFAR10:       spec->train_files[0..n_train_files) and spec->test_file.
 * Applies limit_train and limit_test (keep the first N), then holds out the last
 * validation_split of the (limited) training set as in Keras: the training set keeps
 * floor(n * (1 - split)) samples. The held-out samples never appear in *train, whether or
 * not val is requested. val and test may be NULL (not loaded). A test set the spec does not
 * name (IDX or CIFAR10 without test paths) comes back empty (n = 0) with the training shape.
 * All three results own their memory. On error all three are left empty. */
int qat_data_load(const qat_data_spec *spec, qat_dataset *train, qat_dataset *val,
                  qat_dataset *test);

/* The data a trained model is judged on: the spec's test set, or, when it names none, the
 * validation data it holds out (validation_split, a folder's validation/), limited by
 * limit_test alike; *which is "test" or "validation". When there is neither: QAT_ERR_USAGE
 * naming `owner` (the checkpoint), or, with owner NULL, an empty *out. Used by qat eval,
 * compare, parity (and the report after qat train) and deploy. */
int qat_data_load_heldout(const qat_data_spec *spec, const char *owner, qat_dataset *out, const char **which);

/* What qat_data_load_ex needs to know beyond the spec. */
typedef struct qat_data_options {
  int input_shape[3];   /* the model input (H, W, C): image folders are resized to it; 0s: unknown */
  int threads;          /* decoding threads (0: OpenMP's default) */
  /* Called from the loading thread while a folder decodes (done of total files); may be NULL. */
  void (*progress)(int64_t done, int64_t total, void *user);
  void *user;
} qat_data_options;

/* What was loaded, for `qat train`'s summary line, checkpoints and labels.txt. */
typedef struct qat_data_info {
  int num_classes;
  int n_class_names;    /* 0 when the data names no classes (IDX, CIFAR-10, NPY without class_names) */
  char **class_names;   /* owned */
  int64_t skipped;      /* files skipped with skip_invalid */
  int64_t ignored;      /* files in a folder without an image extension */
  char source[512];     /* "folder /x/y (PNG 1800, JPEG 200)", "npy x.npy [2000,49,10] float32" */
} qat_data_info;
void qat_data_info_free(qat_data_info *info);

/* As qat_data_load, for every kind (NPY and FOLDER included), with the model's input shape and
 * the class names; opt and info may be NULL. Preprocessing from the spec is attached to every
 * returned dataset. */
int qat_data_load_ex(const qat_data_spec *spec, const qat_data_options *opt, qat_dataset *train, qat_dataset *val,
                     qat_dataset *test, qat_data_info *info);

/* A path of the spec as the loader opens it: relative ones against spec->base_dir. */
int qat_data_path(const qat_data_spec *spec, const char *p, char *buf, size_t size);

/* Batches of one dataset. The order of an epoch is a function of (seed, epoch) only, and each
 * sample's augmentation of (seed, epoch, position in the epoch) only, so any batch can be
 * produced at any time, in any order, from any thread (get is read-only on the batcher). */
typedef struct qat_batcher {
  const qat_dataset *ds;
  int batch_size;
  int shuffle;          /* permute each epoch */
  int random_crop;      /* pad by this many zero pixels and crop back at a random offset */
  int horizontal_flip;  /* mirror left-right with probability 1/2 */
  qat_augment_spec augment; /* data.augment (Keras preprocessing layers); enabled = 0: off */
  uint64_t seed;
  int epoch;
  int64_t *order;       /* order[i] = sample at position i of the epoch; NULL if !shuffle */
} qat_batcher;

/* ds must outlive the batcher. batch_size >= 1; random_crop in [0, min(h, w)]. Starts as
 * qat_batcher_set_epoch(b, 0, 0). */
int qat_batcher_init(qat_batcher *b, const qat_dataset *ds, int batch_size, int shuffle,
                     int random_crop, int horizontal_flip);
void qat_batcher_set_epoch(qat_batcher *b, uint64_t seed, int epoch);
/* Turns on data.augment for this batcher's samples (a copy of *a is kept); refuses a spec the
 * samples cannot take (a RandomCrop larger than they are) and one combined with the older
 * random_crop / horizontal_flip. */
int qat_batcher_set_augment(qat_batcher *b, const qat_augment_spec *a);
/* ceil(n / batch_size): the last, partial batch is included. */
int64_t qat_batcher_num_batches(const qat_batcher *b);
/* Fills x (batch_size * h * w * c floats, NHWC, preprocessed as ds->pre says: pixel / 255 by default) and y (batch_size labels) for
 * batch batch_index of the current epoch; returns the number of samples filled (batch_size,
 * or fewer for the last batch) or a negative status. Allocates nothing. */
int qat_batcher_get(const qat_batcher *b, int64_t batch_index, float *x, int32_t *y);
/* The same batch's targets (batch_size * target_len floats) of a dataset that has them. */
void qat_batcher_get_targets(const qat_batcher *b, int64_t batch_index, float *t);
void qat_batcher_free(qat_batcher *b);

#endif
