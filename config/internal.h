/* Shared by the config module's files only: the YAML node tree, error formatting and the
 * strict scalar converters. Not installed; names use the qat_cfg_ prefix. */
#ifndef QAT_CONFIG_INTERNAL_H
#define QAT_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "qat/config.h"

/* Our own tree rather than libyaml's document API: building it from events lets us refuse
 * aliases (which can make cyclic graphs) and cap the depth as the events arrive. */
typedef enum cfg_kind { CFG_SCALAR, CFG_SEQ, CFG_MAP } cfg_kind;

typedef struct cfg_node {
  cfg_kind kind;
  int line, col; /* 1-based */
  int plain;     /* scalar written without quotes: only plain scalars can be numbers/null */
  char *str;     /* scalar text, NUL-terminated (it may also contain NULs: see len) */
  size_t len;
  struct cfg_node **kids; /* sequence: items; mapping: key, value, key, value, ... */
  size_t n, cap;
} cfg_node;

/* Long enough for any path the schema can produce plus a clipped user key. */
#define CFG_PATH_MAX 160

typedef struct cfg_ctx {
  const char *src; /* file name in messages */
} cfg_ctx;

/* A clipped, escaped copy of a user string for messages (no quotes added), so one line stays
 * one line. A struct so it can be returned and used inside a printf argument list: C11
 * 6.2.4p8 keeps the temporary alive to the end of the full expression. */
typedef struct cfg_quoted {
  char s[100];
} cfg_quoted;

cfg_quoted qat_cfg_quote(const char *s, size_t len);

int qat_cfg_tree_build(const cfg_ctx *c, const char *text, size_t len, cfg_node **root);
void qat_cfg_tree_free(cfg_node *n);
/* 1-based line and column (in characters) of byte offset off. */
void qat_cfg_offset_pos(const char *text, size_t len, size_t off, int *line, int *col);

/* Records "<src>:<line>:<col>: <path>: <message>" (no location when at is NULL) and returns
 * QAT_ERR_USAGE. */
int qat_cfg_error(const cfg_ctx *c, const cfg_node *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "model.layers" + "input" -> "model.layers.input"; the key is escaped and clipped. */
void qat_cfg_path(char *dst, const char *parent, const char *key, size_t keylen);
/* "model.layers" + 3 -> "model.layers[3]" */
void qat_cfg_path_index(char *dst, const char *parent, size_t index);

/* The candidate closest to key by edit distance (case-insensitive), or NULL when none is
 * close enough to be a plausible typo. */
const char *qat_cfg_suggest(const char *key, const char *const *cands, size_t n);
/* "a, b, c" */
void qat_cfg_join(char *dst, size_t cap, const char *const *items, size_t n);

/* "a list", "a mapping", "an empty value", "'abc'" */
cfg_quoted qat_cfg_describe(const cfg_node *n);
int qat_cfg_is_null(const cfg_node *n);

/* Checks that map is a mapping whose keys are all in keys[] and appear once; vals[i] gets the
 * value for keys[i] or NULL. An unknown key is reported with a did-you-mean suggestion. */
int qat_cfg_map(const cfg_ctx *c, const cfg_node *map, const char *path, const char *const *keys,
                size_t nkeys, const cfg_node **vals);
/* Reports a wrong node type: "<path>: got a list (expected <what>)". */
int qat_cfg_want(const cfg_ctx *c, const cfg_node *n, const char *path, const char *what);
/* The key of pair `pair` of a mapping, which must be a string. */
int qat_cfg_key(const cfg_ctx *c, const cfg_node *map, size_t pair, const char *path,
                const char **key);
/* Reports pair `pair` as repeating an earlier key (path is the mapping's). */
int qat_cfg_dup(const cfg_ctx *c, const cfg_node *map, size_t pair, const char *path);
/* Reports an unknown key (path is the mapping's) with a suggestion among cands. */
int qat_cfg_unknown(const cfg_ctx *c, const cfg_node *key, const char *path,
                    const char *const *cands, size_t n);

/* Strict conversions: plain scalars only, whole text consumed, range checked; the message
 * states the accepted range. */
int qat_cfg_int(const cfg_ctx *c, const cfg_node *n, const char *path, long lo, long hi, int *out);
int qat_cfg_u64(const cfg_ctx *c, const cfg_node *n, const char *path, uint64_t *out);
/* lo/hi may be -INFINITY/INFINITY; *_open makes that bound exclusive. */
int qat_cfg_float(const cfg_ctx *c, const cfg_node *n, const char *path, double lo, int lo_open,
                  double hi, int hi_open, float *out);
int qat_cfg_bool(const cfg_ctx *c, const cfg_node *n, const char *path, int *out);
/* A non-empty string without NUL characters; *out points into the node. */
int qat_cfg_str(const cfg_ctx *c, const cfg_node *n, const char *path, const char **out);
/* Like qat_cfg_str, then matches one of names[] exactly (suggesting the closest otherwise). */
int qat_cfg_enum(const cfg_ctx *c, const cfg_node *n, const char *path, const char *const *names,
                 size_t nnames, int *out);
/* strdup that records QAT_ERR_NOMEM. */
int qat_cfg_strdup(const char *s, char **out);

int qat_cfg_model(const cfg_ctx *c, const cfg_node *model, qat_model_spec *out);
/* The index of the model layer named s (node e, at path), or an error naming the closest name. */
int qat_cfg_layer_index(const cfg_ctx *c, const cfg_node *e, const char *path, const qat_model_spec *model,
                        const char *s, int *li);
/* input_shape: the model's (H, W, C), zeros when not known yet (a Keras model). */
int qat_cfg_data(const cfg_ctx *c, const cfg_node *data, const int input_shape[3], qat_data_spec *out);
/* model: the parsed model section, against which train.freeze names are checked. */
int qat_cfg_train(const cfg_ctx *c, const cfg_node *train, qat_model_spec *model, qat_train_spec *out);
int qat_cfg_quantize(const cfg_ctx *c, const cfg_node *q, qat_quantize_spec *out);
void qat_cfg_data_free(qat_data_spec *d);

#endif
