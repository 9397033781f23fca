/* `qat plot RUN`: the training curves of a run folder (steps.csv, written by qat train) as
 * RUN/curves.svg and RUN/curves.png: loss, accuracy (train; validation and test per epoch; for
 * QAT the fake-quant test accuracy and the float one) and the learning rate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qat/curves.h"
#include "qat/error.h"

int qat_cmd_plot(int argc, char **argv);

static const char usage[] =
    "usage: qat plot RUN [-o PREFIX]\n"
    "\n"
    "Draws the curves of a training run (RUN/steps.csv, or a steps.csv file given directly):\n"
    "loss, accuracy and learning rate against the optimizer step, as PREFIX.svg and PREFIX.png\n"
    "(default RUN/curves). The PNG's text uses DejaVu Sans (fonts-dejavu-core; QAT_FONT\n"
    "overrides).\n";

static int usage_error(const char *msg, const char *arg) {
  fprintf(stderr, "qat: error: plot: ");
  fprintf(stderr, msg, arg);
  fprintf(stderr, "\n(see 'qat plot --help')\n");
  return 2;
}

static int any(const double *v, int n) {
  for (int i = 0; i < n; i++)
    if (!isnan(v[i])) return 1;
  return 0;
}

enum { C_STEP, C_EPOCH, C_WALL, C_LOSS, C_ACC, C_LR, C_VLOSS, C_VACC, C_TLOSS, C_TACC, C_FACC };

static void add_series(qat_chart *ch, const char *name, const double *x, const double *y, int n, int markers) {
  if (!any(y, n) || ch->n_series == QAT_CHART_MAX_SERIES) return;
  qat_chart_series *s = &ch->series[ch->n_series++];
  memset(s, 0, sizeof *s);
  s->name = name, s->x = x, s->y = y, s->n = n, s->markers = markers;
}

/* A per-epoch column as its own series: only the rows that have it, joined by lines. */
typedef struct sparse {
  double *x, *y;
  int n;
} sparse;

static int make_sparse(const qat_curves_table *t, int col, sparse *s) {
  s->x = malloc(sizeof(double) * (size_t)(t->n ? t->n : 1));
  s->y = malloc(sizeof(double) * (size_t)(t->n ? t->n : 1));
  s->n = 0;
  if (!s->x || !s->y) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  for (int i = 0; i < t->n; i++)
    if (!isnan(t->col[col][i])) s->x[s->n] = t->col[C_STEP][i], s->y[s->n++] = t->col[col][i];
  return 0;
}

int qat_cmd_plot(int argc, char **argv) {
  const char *run = NULL, *prefix = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(argv[i], "-o")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
      prefix = argv[++i];
    } else if (argv[i][0] == '-') {
      return usage_error("unknown option '%s'", argv[i]);
    } else if (!run) {
      run = argv[i];
    } else {
      return usage_error("unexpected argument '%s'", argv[i]);
    }
  }
  if (!run) return usage_error("%s", "needs a RUN folder");
  char csv[4200], dir[4200], svg[4300], png[4300];
  struct stat st;
  if (stat(run, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(dir, sizeof dir, "%s", run);
    snprintf(csv, sizeof csv, "%s/steps.csv", run);
  } else {
    snprintf(csv, sizeof csv, "%s", run);
    const char *slash = strrchr(run, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - run), run);
    else snprintf(dir, sizeof dir, ".");
  }
  if (prefix) {
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    snprintf(png, sizeof png, "%s.png", prefix);
  } else {
    snprintf(svg, sizeof svg, "%s/curves.svg", dir);
    snprintf(png, sizeof png, "%s/curves.png", dir);
  }
  qat_curves_table t;
  int rc = qat_curves_read_csv(csv, &t);
  if (rc) {
    fprintf(stderr, "qat: error: %s\n", qat_error_message());
    return qat_exit_code(rc);
  }
  if (t.n == 0) {
    qat_curves_table_free(&t);
    fprintf(stderr, "qat: error: %s: no rows (was the run shorter than --log-every steps?)\n", csv);
    return 3;
  }
  sparse sp[8] = {{0}};
  const int sparse_cols[8] = {C_VLOSS, C_TLOSS, C_VACC, C_TACC, C_FACC, C_LOSS, C_ACC, C_LR};
  for (int k = 0; k < 8 && !rc; k++) rc = make_sparse(&t, sparse_cols[k], &sp[k]);
  if (!rc) {
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    int has_float = any(t.col[C_FACC], t.n);
    char title[3][300];
    snprintf(title[0], sizeof title[0], "%.200s: loss (%d logged steps)", base, t.n);
    snprintf(title[1], sizeof title[1], "%.200s: accuracy", base);
    snprintf(title[2], sizeof title[2], "%.200s: learning rate", base);
    qat_chart ch[3];
    memset(ch, 0, sizeof ch);
    for (int k = 0; k < 3; k++) ch[k].title = title[k], ch[k].x_label = "optimizer step", ch[k].height = k == 2 ? 300 : 420;
    ch[0].y_label = "cross-entropy", ch[1].y_label = "top-1 accuracy", ch[2].y_label = "learning rate";
    ch[0].y_from_zero = 1;
    ch[2].y_from_zero = 1;
    add_series(&ch[0], "train (mean since last row)", sp[5].x, sp[5].y, sp[5].n, 0);
    add_series(&ch[0], "validation", sp[0].x, sp[0].y, sp[0].n, 1);
    add_series(&ch[0], has_float ? "test (fake-quant)" : "test", sp[1].x, sp[1].y, sp[1].n, 1);
    add_series(&ch[1], "train (mean since last row)", sp[6].x, sp[6].y, sp[6].n, 0);
    add_series(&ch[1], "validation", sp[2].x, sp[2].y, sp[2].n, 1);
    add_series(&ch[1], has_float ? "test (fake-quant)" : "test", sp[3].x, sp[3].y, sp[3].n, 1);
    add_series(&ch[1], "test (float)", sp[4].x, sp[4].y, sp[4].n, 1);
    add_series(&ch[2], "learning rate", sp[7].x, sp[7].y, sp[7].n, 0);
    int n = 0;
    qat_chart panels[3];
    for (int k = 0; k < 3; k++)
      if (ch[k].n_series) panels[n++] = ch[k];
    rc = n ? qat_chart_write_panels(panels, n, svg, png) : qat_fail(QAT_ERR_FORMAT, "%s: no values to plot", csv);
  }
  for (int k = 0; k < 8; k++) free(sp[k].x), free(sp[k].y);
  qat_curves_table_free(&t);
  if (rc) {
    fprintf(stderr, "qat: error: plot: %s\n", qat_error_message());
    return qat_exit_code(rc);
  }
  printf("written: %s, %s\n", svg, png);
  return 0;
}
