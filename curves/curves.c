/* steps.csv and TensorBoard event files from qat_train's progress callback (qat/curves.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "qat/atomic_file.h"
#include "qat/curves.h"
#include "qat/error.h"

const char *const qat_curves_columns[QAT_CURVES_NCOLS] = {
    "step", "epoch", "wall_time", "loss", "accuracy", "lr", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
    "float_test_accuracy"};

enum { C_STEP, C_EPOCH, C_WALL, C_LOSS, C_ACC, C_LR, C_VLOSS, C_VACC, C_TLOSS, C_TACC, C_FACC };

/* TensorBoard tags of the columns after wall_time (the QAT test accuracy is the fake-quant one). */
static const char *const tags[QAT_CURVES_NCOLS] = {
    NULL, NULL, NULL, "train/loss", "train/accuracy", "train/learning_rate", "validation/loss",
    "validation/accuracy", "test/loss", "test/accuracy", "test/float_accuracy"};

uint32_t qat_crc32c(const void *data, size_t n) {
  static uint32_t table[256];
  static int ready;
  if (!ready) { /* idempotent: racing threads compute the same table */
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      table[i] = c;
    }
    ready = 1;
  }
  const uint8_t *p = data;
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t qat_crc32c_masked(const void *data, size_t n) {
  uint32_t c = qat_crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static int put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    uint8_t *q = realloc(b->p, cap);
    if (!q) return qat_fail(QAT_ERR_NOMEM, "out of memory");
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  return 0;
}

static size_t varint(uint8_t *out, uint64_t v) {
  size_t k = 0;
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    out[k++] = byte | (v ? 0x80 : 0);
  } while (v);
  return k;
}

static void le64(uint8_t *o, uint64_t v) {
  for (int i = 0; i < 8; i++) o[i] = (uint8_t)(v >> (8 * i));
}
static void le32(uint8_t *o, uint32_t v) {
  for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (8 * i));
}

/* One TFRecord around an Event message. */
static int record(buf *b, const uint8_t *msg, size_t n) {
  uint8_t h[12], t[4];
  le64(h, n);
  le32(h + 8, qat_crc32c_masked(h, 8));
  le32(t, qat_crc32c_masked(msg, n));
  int rc = put(b, h, 12);
  if (!rc) rc = put(b, msg, n);
  if (!rc) rc = put(b, t, 4);
  return rc;
}

/* An Event's wall_time (field 1) and step (field 2) into m; the bytes written. */
static size_t event_wall_step(uint8_t *m, double wall, int64_t step) {
  size_t k = 0;
  uint64_t bits;
  memcpy(&bits, &wall, 8);
  m[k++] = 0x09;
  le64(m + k, bits);
  k += 8;
  m[k++] = 0x10;
  k += varint(m + k, (uint64_t)step);
  return k;
}

/* Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 * Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; } */
static int event_header(buf *b, double wall) {
  uint8_t m[64];
  size_t k = 0;
  uint64_t bits;
  memcpy(&bits, &wall, 8);
  m[k++] = 0x09;
  le64(m + k, bits);
  k += 8;
  static const char ver[] = "brain.Event:2";
  m[k++] = 0x1a;
  m[k++] = (uint8_t)(sizeof ver - 1);
  memcpy(m + k, ver, sizeof ver - 1);
  k += sizeof ver - 1;
  return record(b, m, k);
}

static int event_scalar(buf *b, double wall, int64_t step, const char *tag, float value) {
  size_t tl = strlen(tag);
  if (tl > 100) tl = 100;
  uint8_t val[128], sum[160], m[200];
  size_t v = 0, s = 0, k = 0;
  val[v++] = 0x0a;
  v += varint(val + v, tl);
  memcpy(val + v, tag, tl);
  v += tl;
  uint32_t fb;
  memcpy(&fb, &value, 4);
  val[v++] = 0x15;
  le32(val + v, fb);
  v += 4;
  sum[s++] = 0x0a;
  s += varint(sum + s, v);
  memcpy(sum + s, val, v);
  s += v;
  k += event_wall_step(m + k, wall, step);
  m[k++] = 0x2a;
  k += varint(m + k, s);
  memcpy(m + k, sum, s);
  k += s;
  return record(b, m, k);
}

struct qat_curves {
  char dir[4100], csv_path[4200], events_path[4300];
  int rows;
  int started;                /* the first epoch has begun (a resumed run's curves were adopted) */
  double wall_offset;         /* a resumed run: the wall_time its previous rows reached */
  int every;
  double start_wall;
  buf events;
  buf csv;
  int64_t last_step_in_epoch; /* step (within the epoch) of the last row */
  double last_loss_sum, last_acc_sum;
  int status;                 /* first write failure */
};

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mkdir_p(const char *dir) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0777) && errno != EEXIST) return qat_fail(QAT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
      *p = '/';
    }
  if (mkdir(tmp, 0777) && errno != EEXIST) return qat_fail(QAT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
  return 0;
}

int qat_curves_open(const char *dir, int every, qat_curves **out) {
  *out = NULL;
  if (!dir || every < 1) return qat_fail(QAT_ERR_USAGE, "curves: needs a folder and an interval >= 1");
  /* nothing is created until there is something to write: a run that fails before its first
   * epoch ends leaves no folder behind */
  int rc;
  qat_curves *c = calloc(1, sizeof *c);
  if (!c) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  c->every = every;
  c->start_wall = wall_now();
  snprintf(c->dir, sizeof c->dir, "%s", dir);
  snprintf(c->csv_path, sizeof c->csv_path, "%s/steps.csv", dir);
  snprintf(c->events_path, sizeof c->events_path, "%s/events.out.tfevents.%lld.qat", dir, (long long)c->start_wall);
  /* a run resumed within the second the last one started: a name of its own that sorts after
   * that one's (TensorBoard reads the files in name order), not the same file overwritten */
  struct stat st;
  for (int n = 1; stat(c->events_path, &st) == 0 && n < 1000; n++)
    snprintf(c->events_path, sizeof c->events_path, "%s/events.out.tfevents.%lld.qat.%03d", dir,
             (long long)c->start_wall, n);
  char head[512];
  size_t k = 0;
  for (int i = 0; i < QAT_CURVES_NCOLS; i++)
    k += (size_t)snprintf(head + k, sizeof head - k, "%s%s", i ? "," : "", qat_curves_columns[i]);
  head[k++] = '\n';
  if ((rc = put(&c->csv, head, k)) || (rc = event_header(&c->events, c->start_wall))) {
    qat_curves_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* Event { ...; SessionLog session_log = 7; } SessionLog { SessionStatus status = 1; } with
 * status START: TensorBoard drops what earlier files logged at this step and after (its
 * "orphaned" data of a run that was killed after its last checkpoint and resumed). */
static int event_session_start(buf *b, double wall, int64_t step) {
  uint8_t m[32];
  size_t k = event_wall_step(m, wall, step);
  m[k++] = 0x3a;
  m[k++] = 2;
  m[k++] = 0x08;
  m[k++] = 1;
  return record(b, m, k);
}

/* A run resumed at global step `step` in the same folder: the rows its earlier runs wrote up to
 * that step stay in steps.csv (later ones, logged after the checkpoint it resumes from, are
 * dropped: they are computed again), its wall_time continues from theirs, and the new events
 * file starts with a session START at step + 1. A steps.csv of another layout is left to be
 * replaced, as before. */
static int adopt_previous(qat_curves *c, int64_t step) {
  int rc = event_session_start(&c->events, c->start_wall, step + 1);
  FILE *f = rc ? NULL : fopen(c->csv_path, "r");
  if (!f) return rc;
  char line[2048];
  if (!fgets(line, sizeof line, f) || strncmp(line, (const char *)c->csv.p, c->csv.n) != 0) {
    fclose(f);
    return rc;
  }
  while (!rc && fgets(line, sizeof line, f)) {
    char *end;
    long long row_step = strtoll(line, &end, 10);
    if (end == line || *end != ',' || row_step > step) continue;
    size_t n = strlen(line);
    if (n && line[n - 1] != '\n') continue; /* a torn last line */
    double wall = 0;
    char *w = strchr(end + 1, ',');
    if (w && sscanf(w + 1, "%lf", &wall) == 1 && wall > c->wall_offset) c->wall_offset = wall;
    rc = put(&c->csv, line, n);
    c->rows++;
  }
  fclose(f);
  return rc;
}

static int add_row(qat_curves *c, const double *v) {
  char line[1024];
  size_t k = 0;
  for (int i = 0; i < QAT_CURVES_NCOLS; i++) {
    if (i) line[k++] = ',';
    if (isnan(v[i])) continue;
    if (i == C_STEP || i == C_EPOCH) k += (size_t)snprintf(line + k, sizeof line - k, "%.0f", v[i]);
    else if (i == C_WALL) k += (size_t)snprintf(line + k, sizeof line - k, "%.3f", v[i]);
    else k += (size_t)snprintf(line + k, sizeof line - k, "%.9g", v[i]);
  }
  line[k++] = '\n';
  int rc = put(&c->csv, line, k);
  c->rows++;
  for (int i = C_LOSS; !rc && i < QAT_CURVES_NCOLS; i++)
    if (!isnan(v[i])) rc = event_scalar(&c->events, c->start_wall + v[C_WALL] - c->wall_offset, (int64_t)v[C_STEP], tags[i], (float)v[i]);
  return rc;
}

static int flush_files(qat_curves *c) {
  int rc = mkdir_p(c->dir);
  if (!rc) rc = qat_atomic_write(c->csv_path, c->csv.p, c->csv.n);
  if (!rc) rc = qat_atomic_write(c->events_path, c->events.p, c->events.n);
  return rc;
}

int qat_curves_progress(qat_curves *c, const qat_progress *p) {
  if (!c) return 0;
  if (p->kind == QAT_PROGRESS_EPOCH_BEGIN) {
    c->last_step_in_epoch = 0;
    c->last_loss_sum = c->last_acc_sum = 0;
    if (!c->started) {
      c->started = 1;
      int rc = p->global_step > 0 ? adopt_previous(c, p->global_step) : 0;
      if (rc && !c->status) c->status = rc;
      return rc;
    }
    return 0;
  }
  if (p->kind != QAT_PROGRESS_STEP && p->kind != QAT_PROGRESS_EPOCH_END) return 0;
  int end = p->kind == QAT_PROGRESS_EPOCH_END;
  if (!end && p->global_step % c->every && p->step != p->steps_per_epoch) return 0;
  double v[QAT_CURVES_NCOLS];
  for (int i = 0; i < QAT_CURVES_NCOLS; i++) v[i] = NAN;
  v[C_STEP] = (double)p->global_step;
  v[C_EPOCH] = p->epoch;
  v[C_WALL] = c->wall_offset + (wall_now() - c->start_wall);
  v[C_LR] = p->lr;
  if (p->step > c->last_step_in_epoch) {
    /* the running means of the epoch, turned into the mean of the steps since the last row */
    double loss_sum = p->loss * (double)p->step, acc_sum = p->accuracy * (double)p->step;
    double k = (double)(p->step - c->last_step_in_epoch);
    v[C_LOSS] = (loss_sum - c->last_loss_sum) / k;
    v[C_ACC] = (acc_sum - c->last_acc_sum) / k;
    c->last_step_in_epoch = p->step;
    c->last_loss_sum = loss_sum;
    c->last_acc_sum = acc_sum;
  } else if (!end) {
    return 0;
  }
  if (end) {
    if (p->has_val) v[C_VLOSS] = p->val_loss, v[C_VACC] = p->val_accuracy;
    if (p->has_test) v[C_TLOSS] = p->test_loss, v[C_TACC] = p->test_accuracy;
    if (p->has_float) v[C_FACC] = p->float_test_accuracy;
  }
  int rc = add_row(c, v);
  if (!rc && end) rc = flush_files(c);
  if (rc && !c->status) c->status = rc;
  return rc;
}

int qat_curves_close(qat_curves *c) {
  if (!c) return 0;
  int rc = c->status;
  if (!rc && c->rows) rc = flush_files(c);
  free(c->csv.p);
  free(c->events.p);
  free(c);
  return rc;
}

/* ---- reading steps.csv back ---- */
void qat_curves_table_free(qat_curves_table *t) {
  for (int i = 0; i < QAT_CURVES_NCOLS; i++) free(t->col[i]);
  memset(t, 0, sizeof *t);
}

int qat_curves_read_csv(const char *path, qat_curves_table *t) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(path, "r");
  if (!f) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  char line[2048];
  int rc = 0, cap = 0, lineno = 0;
  int map[QAT_CURVES_NCOLS];
  int ncols = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    if (lineno == 1) {
      char *save = NULL;
      for (char *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (ncols == QAT_CURVES_NCOLS) {
          rc = qat_fail(QAT_ERR_FORMAT, "%s:1: more than %d columns", path, QAT_CURVES_NCOLS);
          goto done;
        }
        int j = -1;
        for (int i = 0; i < QAT_CURVES_NCOLS; i++)
          if (!strcmp(tok, qat_curves_columns[i])) j = i;
        map[ncols++] = j;
      }
      if (ncols == 0 || map[0] != C_STEP) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s:1: not a qat steps.csv (the first column must be 'step')", path);
        goto done;
      }
      continue;
    }
    if (!line[0]) continue;
    if (t->n == cap) {
      cap = cap ? cap * 2 : 256;
      for (int i = 0; i < QAT_CURVES_NCOLS; i++) {
        double *q = realloc(t->col[i], (size_t)cap * sizeof(double));
        if (!q) {
          rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
          goto done;
        }
        t->col[i] = q;
      }
    }
    for (int i = 0; i < QAT_CURVES_NCOLS; i++) t->col[i][t->n] = NAN;
    char *p = line;
    for (int k = 0; k < ncols; k++) {
      char *comma = strchr(p, ',');
      if (comma) *comma = 0;
      if (*p) {
        char *end;
        double x = strtod(p, &end);
        if (*end) {
          rc = qat_fail(QAT_ERR_FORMAT, "%s:%d: column %d: '%s' is not a number", path, lineno, k + 1, p);
          goto done;
        }
        if (map[k] >= 0) t->col[map[k]][t->n] = x;
      }
      if (!comma) break;
      p = comma + 1;
    }
    t->n++;
  }
  if (ferror(f)) rc = qat_fail(QAT_ERR_IO, "%s: read error", path);
  else if (lineno == 0) rc = qat_fail(QAT_ERR_FORMAT, "%s: empty file (no header)", path);
done:
  fclose(f);
  if (rc) qat_curves_table_free(t);
  return rc;
}
