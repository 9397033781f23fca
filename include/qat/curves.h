/* Training curves: a per-step CSV (steps.csv) and a TensorBoard event file
 * (events.out.tfevents.<time>.qat) in a run's folder, fed from qat_train's progress callback;
 * and charts (line plots, labelled scatter plots) rendered to SVG and PNG.
 *
 * The event file is TensorFlow's TFRecord format written by hand: each record is
 *   uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
 * with masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8, c = CRC-32C (Castagnoli) of x;
 * data is a serialized tensorflow.Event protobuf: the first record carries file_version
 * "brain.Event:2", the others one Summary.Value {tag, simple_value} each, with wall_time and
 * step. TensorBoard's own reader (tensorboard.backend.event_processing) loads it. */
#ifndef QAT_CURVES_H
#define QAT_CURVES_H

#include <stddef.h>
#include <stdint.h>

#include "qat/train.h"

#define QAT_CURVES_DEFAULT_EVERY 50

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) and TFRecord's mask of it. */
uint32_t qat_crc32c(const void *data, size_t n);
uint32_t qat_crc32c_masked(const void *data, size_t n);

typedef struct qat_curves qat_curves;
/* Logs into dir every `every` optimizer steps (and at each epoch end). The files are rewritten
 * atomically at each epoch end and at close, so a reader never sees half a file. */
int qat_curves_open(const char *dir, int every, qat_curves **out);
/* Consumes QAT_PROGRESS_STEP and QAT_PROGRESS_EPOCH_END; other kinds are ignored. The loss
 * and accuracy logged are the means over the steps since the previous row (derived from the
 * epoch's running means). */
int qat_curves_progress(qat_curves *c, const qat_progress *p);
/* Writes the files a last time and frees c (NULL is fine). */
int qat_curves_close(qat_curves *c);

/* The columns of steps.csv, in order. */
#define QAT_CURVES_NCOLS 11
extern const char *const qat_curves_columns[QAT_CURVES_NCOLS];

/* ---- charts ---- */
#define QAT_CHART_MAX_SERIES 8
typedef struct qat_chart_series {
  const char *name;
  const double *x, *y; /* n points; NaN y values are gaps */
  int n;
  int markers;         /* 1: draw a marker at each point (sparse series such as per-epoch values) */
  const char *const *labels; /* scatter: a text label per point (NULL: none) */
  int no_line;         /* 1: points only */
} qat_chart_series;

typedef struct qat_chart {
  const char *title, *x_label, *y_label;
  int width, height;   /* pixels (0: 900 x 540) */
  qat_chart_series series[QAT_CHART_MAX_SERIES];
  int n_series;
  int y_from_zero;     /* 1: the y axis starts at 0; else at a rounded value below the data */
  int x_log;           /* 1: logarithmic x axis (sizes) */
} qat_chart;

/* Renders the chart as an SVG file and as a PNG file (either path may be NULL), atomically.
 * The PNG needs a TrueType font: DejaVu Sans (fonts-dejavu-core), or $QAT_FONT. */
int qat_chart_write(const qat_chart *ch, const char *svg_path, const char *png_path);

/* Several charts stacked vertically into one file each (a panel per chart). */
int qat_chart_write_panels(const qat_chart *charts, int n, const char *svg_path, const char *png_path);

/* qat plot's input: steps.csv read back (columns as qat_curves_columns; NaN for blanks). */
typedef struct qat_curves_table {
  int n;
  double *col[QAT_CURVES_NCOLS];
} qat_curves_table;
int qat_curves_read_csv(const char *path, qat_curves_table *t);
void qat_curves_table_free(qat_curves_table *t);

#endif
