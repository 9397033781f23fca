/* Every cap on what qat reads from a file, in one place. A reader checks its caps before it
 * allocates or reads what the file asks for, and its error names the cap that was hit
 * ("over the limit of N bytes", "more than N objects").
 *
 * The caps introduced with the hardening of issue 18 are defined here. The older ones are
 * still defined beside their readers (so the modules being refactored keep building); the
 * table QAT_LIMITS below names every one of them with its reader, and tests/test_reliability.c
 * expands it, so a cap cannot be renamed or dropped without this list failing to compile.
 * (Follow-up: move those definitions here once the runtime/data/keras refactors land.) */
#ifndef QAT_LIMITS_H
#define QAT_LIMITS_H

/* ---- HDF5 (checkpoints, Keras .h5, a .keras archive's model.weights.h5) ---------------- */
/* Whole file, read into memory and checked in a child process before libhdf5 parses it. */
#define QAT_H5_MAX_FILE_BYTES ((unsigned long long)4 << 30)
/* Links + attributes the child walks; a real checkpoint has a few hundred. */
#define QAT_H5_MAX_OBJECTS 1000000
/* One dataset read by the child's walk (larger ones are checked, not read there). */
#define QAT_H5_MAX_DATASET_BYTES ((unsigned long long)1 << 31)
/* The child's CPU and wall-clock budget: this many seconds, plus 1 s per 64 MiB of file. */
#define QAT_H5_PROBE_SECONDS 20u
/* Address space the child may add on top of its own and 4x the file (not under ASan). */
#define QAT_H5_PROBE_MEMORY ((unsigned long long)2 << 30)

/* ---- the table of all caps: X(reader, macro) -------------------------------------------- */
#define QAT_LIMITS(X)                                                                        \
  X("tflite", QAT_RT_DEFAULT_MAX_FILE_BYTES)  /* file bytes (runtime.h) */                    \
  X("tflite", QAT_RT_DEFAULT_MAX_ARENA_BYTES) /* activation arena (runtime.h) */             \
  X("tflite", QAT_RT_MAX_DEPTH)               /* flatbuffer table nesting */                  \
  X("tflite", QAT_RT_MAX_TABLES)              /* flatbuffer tables */                         \
  X("tflite", QAT_RT_MAX_TENSORS)             /* tensors in the graph */                      \
  X("tflite", QAT_RT_MAX_OPS)                 /* operators */                                 \
  X("tflite", QAT_RT_MAX_RANK)                /* dims of a tensor */                          \
  X("tflite", QAT_RT_MAX_ELEMENTS)            /* elements of a tensor */                      \
  X("config", QAT_CONFIG_MAX_BYTES)           /* YAML bytes (config.h) */                     \
  X("config", QAT_CONFIG_MAX_DEPTH)           /* YAML nesting */                              \
  X("model", QAT_MAX_PARAMS)                  /* parameters of a model (model.h) */          \
  X("data", QAT_DATA_MAX_BYTES)               /* decoded IDX/CIFAR bytes (data.h) */          \
  X("data", QAT_MAX_DATA_FILES)               /* files of one dataset (spec.h) */             \
  X("hdf5", QAT_H5_MAX_FILE_BYTES)            /* file bytes */                                \
  X("hdf5", QAT_H5_MAX_OBJECTS)               /* links + attributes */                        \
  X("hdf5", QAT_H5_MAX_DATASET_BYTES)         /* one dataset in the child's walk */          \
  X("hdf5", QAT_H5_MAX_RANK)                  /* dims of a dataset (h5store.h) */             \
  X("hdf5", QAT_H5_MAX_NAME)                  /* bytes of an object path */                   \
  X("hdf5", QAT_H5_MAX_DEPTH)                 /* group nesting */                             \
  X("hdf5", QAT_H5_MAX_STRING)                /* bytes of one string attribute */             \
  X("hdf5", QAT_H5_MAX_STRINGS)               /* strings in one attribute */                  \
  X("hdf5", QAT_H5_MAX_CHUNK_BYTES)           /* one chunk of a chunked dataset */            \
  X("hdf5", QAT_H5_PROBE_SECONDS)             /* child's time budget */                       \
  X("hdf5", QAT_H5_PROBE_MEMORY)              /* child's extra address space */               \
  X("keras", QAT_KERAS_MAX_JSON)              /* model_config / config.json bytes (keras.h) */\
  X("keras", QAT_KERAS_MAX_WEIGHTS)           /* a .keras archive's weights bytes */          \
  X("keras", QAT_KERAS_MAX_LAYERS)            /* layers of an imported model */

#endif
