/* dataset: folder. One subfolder per class, as Keras's image_dataset_from_directory reads
 * them (class names sorted, or data.class_names; files of a class in name order, subfolders of
 * a class included), optionally under train/, validation/ and test/. Every image is decoded
 * once, in parallel, into a uint8 cache of the model input's shape. */
#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/image.h"
#include "data/internal.h"
#include "qat/error.h"

/* Deeper nesting inside a class folder is refused: it is a symlink loop in practice. */
#define MAX_DEPTH 16

typedef struct entry {
  char *path;
  int label;
} entry;

typedef struct list {
  entry *e;
  int64_t n, cap;
  int64_t ignored;
} list;

static void list_free(list *l) {
  for (int64_t i = 0; i < l->n; i++) free(l->e[i].path);
  free(l->e);
  memset(l, 0, sizeof *l);
}

static int list_add(list *l, const char *path, int label) {
  if (l->n == l->cap) {
    int64_t cap = l->cap ? l->cap * 2 : 256;
    entry *e = realloc(l->e, (size_t)cap * sizeof *e);
    if (!e) return qat_fail(QAT_ERR_NOMEM, "out of memory listing images");
    l->e = e;
    l->cap = cap;
  }
  if (!(l->e[l->n].path = strdup(path))) return qat_fail(QAT_ERR_NOMEM, "out of memory listing images");
  l->e[l->n++].label = label;
  return QAT_OK;
}

static int join(char *buf, size_t size, const char *dir, const char *name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size) return qat_fail(QAT_ERR_USAGE, "%s/%s: path too long", dir, name);
  return QAT_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir (no dot entries). */
static int read_names(const char *dir, char ***names, int64_t *n) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return qat_fail(QAT_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
  int64_t cap = 0;
  int rc = QAT_OK;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue; /* ".", ".." and hidden files, as os.walk users expect */
    if (*n == cap) {
      cap = cap ? cap * 2 : 64;
      char **p = realloc(*names, (size_t)cap * sizeof *p);
      if (!p) {
        rc = qat_fail(QAT_ERR_NOMEM, "out of memory listing %s", dir);
        break;
      }
      *names = p;
    }
    if (!((*names)[*n] = strdup(de->d_name))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory listing %s", dir);
      break;
    }
    (*n)++;
  }
  if (!rc && errno) rc = qat_fail(QAT_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
  closedir(d);
  if (!rc && *n > 1) qsort(*names, (size_t)*n, sizeof **names, cmp_str); /* qsort(NULL, 0) is undefined */
  return rc;
}

static void free_names(char **names, int64_t n) {
  for (int64_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

static int is_dir(const char *path, int *yes) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) {
      *yes = 0;
      return QAT_OK;
    }
    return qat_fail(QAT_ERR_IO, "%s: %s", path, strerror(errno));
  }
  *yes = S_ISDIR(st.st_mode);
  return QAT_OK;
}

static int walk(const char *dir, int label, int depth, list *l) {
  if (depth > MAX_DEPTH)
    return qat_fail(QAT_ERR_FORMAT, "%s: folders nested more than %d deep (a symlink loop?)", dir, MAX_DEPTH);
  char **names;
  int64_t n;
  int rc = read_names(dir, &names, &n);
  if (rc) return rc;
  char path[4096];
  for (int64_t i = 0; i < n && !rc; i++) {
    if ((rc = join(path, sizeof path, dir, names[i]))) break;
    struct stat st;
    if (stat(path, &st) != 0) {
      rc = qat_fail(QAT_ERR_IO, "%s: %s", path, strerror(errno));
      break;
    }
    if (S_ISDIR(st.st_mode)) rc = walk(path, label, depth + 1, l);
    else if (S_ISREG(st.st_mode) && qat_image_name_ok(names[i])) rc = list_add(l, path, label);
    else l->ignored++;
  }
  free_names(names, n);
  return rc;
}

/* The class folders of dir: the given names (each must exist) or its sorted subfolders. */
static int find_classes(const qat_data_spec *spec, const char *dir, char ***classes, int *n_classes) {
  int rc;
  *classes = NULL;
  *n_classes = 0;
  if (spec->n_class_names) {
    char **c = calloc((size_t)spec->n_class_names, sizeof *c);
    if (!c) return qat_fail(QAT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < spec->n_class_names; i++)
      if (!(c[i] = strdup(spec->class_names[i]))) {
        free_names(c, i);
        return qat_fail(QAT_ERR_NOMEM, "out of memory");
      }
    *classes = c;
    *n_classes = spec->n_class_names;
    return QAT_OK;
  }
  char **names;
  int64_t n;
  if ((rc = read_names(dir, &names, &n))) return rc;
  int64_t k = 0;
  char path[4096];
  for (int64_t i = 0; i < n; i++) {
    int d = 0;
    if ((rc = join(path, sizeof path, dir, names[i])) || (rc = is_dir(path, &d))) {
      free_names(names, n);
      return rc;
    }
    if (d) names[k++] = names[i];
    else free(names[i]);
  }
  if (k > QAT_MAX_CLASSES) {
    free_names(names, k);
    return qat_fail(QAT_ERR_FORMAT, "%s: %lld class folders; qat handles at most %d classes", dir, (long long)k,
                    QAT_MAX_CLASSES);
  }
  *classes = names;
  *n_classes = (int)k;
  return QAT_OK;
}

/* Every image of split folder dir, labelled by class. A class folder missing from a
 * validation or test folder holds no images there; from the training folder it is an error. */
static int list_split(const char *dir, char **classes, int n_classes, int training, list *l) {
  char path[4096];
  int rc;
  for (int k = 0; k < n_classes; k++) {
    int d = 0;
    if ((rc = join(path, sizeof path, dir, classes[k])) || (rc = is_dir(path, &d))) return rc;
    if (!d) {
      if (!training) continue;
      return qat_fail(QAT_ERR_FORMAT, "%s: no such class folder (data.class_names names '%s')", path, classes[k]);
    }
    int64_t before = l->n;
    if ((rc = walk(path, k, 0, l))) return rc;
    if (training && l->n == before)
      return qat_fail(QAT_ERR_FORMAT, "%s: empty class folder (no .png, .jpg or .jpeg files)", path);
  }
  return QAT_OK;
}

/* MemAvailable from /proc/meminfo; QAT_DATA_MEMORY_LIMIT (bytes) overrides it (for tests). */
static int64_t memory_available(void) {
  const char *env = getenv("QAT_DATA_MEMORY_LIMIT");
  if (env && *env) return strtoll(env, NULL, 10);
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return INT64_MAX;
  char line[256];
  int64_t kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lld kB", (long long *)&kb) == 1) break;
  fclose(f);
  return kb < 0 ? INT64_MAX : kb * 1024;
}

typedef struct decode_stats {
  int64_t png, jpeg, skipped;
} decode_stats;

/* Decodes l into an owning dataset; with skip_invalid, failing files are left out and counted. */
static int decode_all(const qat_data_spec *spec, const qat_data_options *opt, const list *l, int n_classes,
                      qat_dataset *ds, decode_stats *st, int64_t done_before, int64_t total) {
  const int h = opt->input_shape[0], w = opt->input_shape[1], c = opt->input_shape[2];
  const int64_t per = (int64_t)h * w * c;
  memset(ds, 0, sizeof *ds);
  ds->owns = 1;
  ds->h = h;
  ds->w = w;
  ds->c = c;
  ds->num_classes = n_classes;
  if (l->n == 0) return QAT_OK;
  ds->images = malloc((size_t)(l->n * per));
  ds->labels = malloc((size_t)l->n);
  int *status = calloc((size_t)l->n, sizeof *status);
  char **msg = calloc((size_t)l->n, sizeof *msg);
  uint8_t *kind = calloc((size_t)l->n, 1);
  int rc = QAT_OK;
  if (!ds->images || !ds->labels || !status || !msg || !kind) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory for %lld decoded images", (long long)l->n);
    goto done;
  }
  int64_t done_count = 0, first_bad = -1;
  int threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    qat_image_scratch scratch = {0}; /* this thread's buffers, reused from file to file */
#pragma omp for schedule(dynamic, 8)
    for (int64_t i = 0; i < l->n; i++) {
      qat_image_kind k = 0;
      int r = qat_image_load(l->e[i].path, h, w, c, spec->interpolation, spec->crop_to_aspect_ratio,
                             ds->images + i * per, &k, &scratch);
      kind[i] = (uint8_t)k;
      if (r) {
        status[i] = r;
        msg[i] = strdup(qat_error_message());
      }
      int64_t now;
#pragma omp atomic capture
      now = ++done_count;
      if (opt->progress && omp_get_thread_num() == 0 && now < l->n) opt->progress(done_before + now, total, opt->user);
    }
    qat_image_scratch_free(&scratch);
  }
  if (opt->progress) opt->progress(done_before + l->n, total, opt->user);
  /* The first failure in file order, whichever thread met it first: the message is the same
   * on every run. */
  int64_t kept = 0;
  for (int64_t i = 0; i < l->n; i++) {
    if (status[i]) {
      if (first_bad < 0) first_bad = i;
      st->skipped++;
      continue;
    }
    if (kind[i] == QAT_IMAGE_PNG) st->png++;
    else st->jpeg++;
    if (kept != i) memmove(ds->images + kept * per, ds->images + i * per, (size_t)per);
    ds->labels[kept++] = (uint8_t)l->e[i].label;
  }
  if (first_bad >= 0 && !spec->skip_invalid) {
    rc = qat_fail(status[first_bad], "%s (data.skip_invalid: true skips such files)",
                  msg[first_bad] ? msg[first_bad] : l->e[first_bad].path);
    goto done;
  }
  ds->n = kept;
done:
  if (msg)
    for (int64_t i = 0; i < l->n; i++) free(msg[i]);
  free(msg);
  free(status);
  free(kind);
  if (rc) qat_dataset_free(ds);
  return rc;
}

int qat_folder_load(const qat_data_spec *spec, const qat_data_options *opt, int want_test, qat_dataset *train,
                    qat_dataset *val, qat_dataset *test, qat_data_info *info) {
  char root[4096], sub[3][4096];
  char **classes = NULL;
  int n_classes = 0, rc;
  list lists[3] = {{0}};
  qat_dataset *sets[3] = {train, val, test};
  for (int s = 0; s < 3; s++) memset(sets[s], 0, sizeof *sets[s]);
  if (!opt || opt->input_shape[0] < 1 || opt->input_shape[1] < 1)
    return qat_fail(QAT_ERR_INTERNAL, "image folders need the model's input shape");
  int c = opt->input_shape[2];
  if (c != 1 && c != 3 && c != 4)
    return qat_fail(QAT_ERR_USAGE, "image folders need a model input of 1, 3 or 4 channels, model.input has %d", c);
  if ((rc = qat_data_path(spec, spec->path, root, sizeof root))) return rc;
  int d = 0;
  if ((rc = is_dir(root, &d))) return rc;
  if (!d) return qat_fail(QAT_ERR_IO, "%s: no such folder (data.path)", root);
  /* train/ beside validation/ or test/: the splits are given. */
  static const char *const split_names[3] = {"train", "validation", "test"};
  int has[3] = {0};
  for (int s = 0; s < 3; s++) {
    if ((rc = join(sub[s], sizeof sub[s], root, split_names[s])) || (rc = is_dir(sub[s], &has[s]))) return rc;
  }
  int split_folders = has[0] && (has[1] || has[2]);
  const char *train_dir = split_folders ? sub[0] : root;
  if ((rc = find_classes(spec, train_dir, &classes, &n_classes))) return rc;
  if (n_classes == 0) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: no class subfolders (expected one folder of images per class)", train_dir);
    goto done;
  }
  if (n_classes == 1) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: a single class folder '%s'; training needs at least 2 classes", train_dir,
                  classes[0]);
    goto done;
  }
  if ((rc = list_split(train_dir, classes, n_classes, 1, &lists[0]))) goto done;
  if (split_folders && has[1] && (rc = list_split(sub[1], classes, n_classes, 0, &lists[1]))) goto done;
  if (split_folders && has[2] && want_test && (rc = list_split(sub[2], classes, n_classes, 0, &lists[2]))) goto done;
  int64_t total = lists[0].n + lists[1].n + lists[2].n;
  int64_t need = total * opt->input_shape[0] * opt->input_shape[1] * c, avail = memory_available();
  if (need > avail - avail / 5) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: %lld images of %dx%dx%d need %.1f MiB of memory decoded, %.1f MiB are "
                  "available (use a smaller model.input or fewer images)", root, (long long)total,
                  opt->input_shape[0], opt->input_shape[1], c, (double)need / 1048576.0, (double)avail / 1048576.0);
    goto done;
  }
  decode_stats st = {0};
  int64_t done_before = 0;
  for (int s = 0; s < 3; s++) {
    if ((rc = decode_all(spec, opt, &lists[s], n_classes, sets[s], &st, done_before, total))) goto done;
    done_before += lists[s].n;
  }
  if (info) {
    info->num_classes = n_classes;
    info->class_names = classes;
    info->n_class_names = n_classes;
    classes = NULL;
    info->skipped = st.skipped;
    info->ignored = lists[0].ignored + lists[1].ignored + lists[2].ignored;
    snprintf(info->source, sizeof info->source, "folder %.400s (%lld PNG, %lld JPEG%s)", root, (long long)st.png,
             (long long)st.jpeg, split_folders ? "; train/validation/test subfolders" : "");
  }
done:
  if (classes) free_names(classes, n_classes);
  for (int s = 0; s < 3; s++) list_free(&lists[s]);
  if (rc)
    for (int s = 0; s < 3; s++) qat_dataset_free(sets[s]);
  return rc;
}
