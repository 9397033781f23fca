/* Training runs: the loop over a config's data, per-epoch checkpoints, the CSV log, resume,
 * and divergence detection. The library reports progress through a callback and never prints;
 * the CLI decides how to show it. */
#ifndef QAT_TRAIN_H
#define QAT_TRAIN_H

#include <stdint.h>

#include "qat/config.h"
#include "qat/model.h"
#include "qat/optim.h"
#include "qat/spec.h"

#include "qat/version.h"
#define QAT_CHECKPOINT_FORMAT "qat-checkpoint"
#define QAT_CHECKPOINT_VERSION 1

/* ---- checkpoints (HDF5, readable with h5dump) ----
 *   /                 attrs: format, format_version, created_by, config (the YAML text),
 *                     epoch (completed), step (optimizer updates), seed
 *   /params/<layer>/<weight>   float32, the layer's shape (OHWI conv, [out,in] dense)
 *   /state/<layer>/<weight>    batch-norm moving statistics
 *   /optimizer/m, /optimizer/v float32 [n_params] (v only for Adam/AdamW); attr step
 * All of qat's randomness is a pure function of (seed, epoch, step), so seed and step are the
 * whole RNG state. */
typedef struct qat_checkpoint_meta {
  int64_t epoch;  /* completed epochs */
  int64_t step;   /* optimizer updates so far */
  uint64_t seed;
} qat_checkpoint_meta;

int qat_checkpoint_save(const char *path, const qat_model *m, const qat_optimizer *opt, const char *config_text,
                        const qat_checkpoint_meta *meta);
/* What a checkpoint records about its data beyond the config text, written only where there is
 * something to record (so Fashion-MNIST checkpoints stay byte-identical):
 *   /  attrs: data_dir (the config's folder, for its relative data paths),
 *             class_names (one name per line, in label order) */
typedef struct qat_checkpoint_data {
  const char *data_dir;
  int n_class_names;
  char *const *class_names;
} qat_checkpoint_data;
int qat_checkpoint_save_ex(const char *path, const qat_model *m, const qat_optimizer *opt, const char *config_text,
                           const qat_checkpoint_meta *meta, const qat_checkpoint_data *data);
/* The class names a checkpoint holds (NULL, 0 when none); free with qat_h5_strings_free-like
 * loop (each and the array). */
int qat_checkpoint_read_class_names(const char *path, char ***names, int *n);
/* Loads parameters and state into a model built from the same architecture (every shape is
 * checked), and the optimizer state when opt is given. */
int qat_checkpoint_load(const char *path, qat_model *m, qat_optimizer *opt, qat_checkpoint_meta *meta);
/* The config text stored in a checkpoint (malloc'd). */
int qat_checkpoint_read_config(const char *path, char **config_text);
/* That config, parsed and resolved (qat_config_resolve), with the data settings the
 * checkpoint recorded (class names, the data folder). On failure *cfg is zeroed. */
int qat_checkpoint_config(const char *path, qat_config *cfg);

/* ---- training ---- */
typedef enum qat_progress_kind {
  QAT_PROGRESS_EPOCH_BEGIN,
  QAT_PROGRESS_STEP,
  QAT_PROGRESS_EPOCH_END,
  QAT_PROGRESS_DECODE, /* an image folder decoding: step of steps_per_epoch files done */
  QAT_PROGRESS_DATA,   /* the data is loaded: message says what it is */
} qat_progress_kind;

typedef struct qat_progress {
  qat_progress_kind kind;
  int epoch, epochs;               /* 1-based */
  int64_t step, steps_per_epoch;   /* step within the epoch, 1-based */
  int64_t global_step;
  double epoch_seconds, ms_per_step;
  double loss, accuracy;           /* running means over the epoch so far; "accuracy" is the
                                      model's metric (metric names it; NULL: accuracy) */
  const char *metric;              /* STEP, EPOCH_END: qat_model_metric_name */
  double lr;
  int has_val, has_test;           /* EPOCH_END; with QAT these are the fake-quant figures */
  double val_loss, val_accuracy, test_loss, test_accuracy;
  int has_float;                   /* QAT: the same weights evaluated without fake quant */
  double float_test_accuracy;
  const char *checkpoint;          /* EPOCH_END: the file just written */
  const char *message;             /* DATA: source, counts per split, classes, input shape */
} qat_progress;

/* Returns nonzero to stop the run after this step (Ctrl-C): qat_train then returns
 * QAT_ERR_INTERRUPTED and the last epoch checkpoint stays the newest. */
typedef int (*qat_progress_fn)(const qat_progress *p, void *user);

typedef struct qat_train_options {
  const char *out_dir;   /* created if missing */
  const char *resume;    /* checkpoint to continue from, or NULL */
  qat_progress_fn progress;
  void *user;
} qat_train_options;

typedef struct qat_train_result {
  int epochs;            /* completed, counting resumed ones */
  int64_t steps;
  double ms_per_step;    /* mean over this run's training steps */
  double train_loss, train_accuracy; /* "accuracy": the model's metric, named by metric */
  char metric[16];       /* qat_model_metric_name: accuracy, or mae for regression */
  int has_test;
  double test_loss, test_accuracy; /* with QAT: of the fake-quant model (what int8 delivers) */
  int has_float;
  double float_test_accuracy;      /* QAT: the same weights without fake quant */
  char checkpoint[4200]; /* the latest checkpoint written */
  int64_t n_params;
  int ranks;             /* processes that trained (1 without MPI) */
  double allreduce_ms_per_step; /* data-parallel: time in the gradient allreduce */
} qat_train_result;

int qat_train(const qat_config *cfg, const qat_train_options *opt, qat_train_result *res);
struct qat_dist;

/* qat_train_dist: data-parallel training (dist != NULL with size > 1): every rank loads the same global batch
 * of train.batch_size samples (the seeded order and augmentation of one process) and trains
 * on its contiguous share, samples [n*r/N, n*(r+1)/N) of a batch of n for rank r of N, so the
 * shares' union is the single-process batch. Gradients are summed over the ranks (the loss is
 * the global batch's mean), batch norm and the activation observers see the global batch,
 * and every rank applies the same optimizer step: all ranks hold the same model, bit for bit
 * (checked after every epoch). Rank 0 alone writes the output folder; progress is called on
 * every rank (only rank 0's should print) and a stop asked on any rank stops all. Every batch
 * must hold at least N samples. Test and validation batches are split round-robin.
 * rank_checkpoints: every rank also writes its model to out_dir/rank_NNN.h5 after each epoch
 * (to check that the ranks agree; rank 0 writes everything else). qat_train is
 * qat_train_dist(cfg, opt, NULL, 0, res). */
int qat_train_dist(const qat_config *cfg, const qat_train_options *opt, const struct qat_dist *dist,
                   int rank_checkpoints, qat_train_result *res);
/* The gradient sum of qat_train_dist's step for model m (dist.h's qat_grad_sync), attached to
 * coll: a parameter of 64 K floats (256 KB) or more is its own bucket, sent as soon as
 * backward is done with it where the sum overlaps backward. bench/scale times the same. */
struct qat_grad_sync;
struct qat_collective;
int qat_train_grad_sync(struct qat_grad_sync **out, const struct qat_dist *d, qat_model *m,
                        struct qat_collective *coll);
/* Mean loss and accuracy over a dataset in inference mode (dropout off, BN moving statistics),
 * with fake quant on or off. */
struct qat_dataset;
int qat_evaluate(qat_model *m, const struct qat_dataset *ds, int batch_size, int fake_quant, double *loss,
                 double *accuracy);
/* Rebuilds the model a checkpoint was trained with (its stored config) and loads its weights,
 * moving statistics and quantization ranges. cfg receives the parsed config. */
int qat_model_from_checkpoint(const char *path, int max_batch, qat_config *cfg, qat_model **m);

#endif
