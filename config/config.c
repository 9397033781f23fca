/* qat_config_load / qat_config_parse / qat_config_free: file checks and the top level. */
/* realpath is XSI. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/internal.h"
#include "qat/error.h"
#include "qat/keras.h"

/* A file the config names (model.keras, model.init), relative to the config's folder: the
 * joined path when a file is there, else the path as written when it names a file from the
 * working folder (configs written before paths were the config's own), else the joined one
 * (its error names where it was looked for). */
static int beside_config(const char *base_dir, char **path) {
  if (!base_dir || !*path || (*path)[0] == '/') return QAT_OK;
  size_t n = strlen(base_dir) + strlen(*path) + 2;
  char *joined = malloc(n);
  if (!joined) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  snprintf(joined, n, "%s/%s", base_dir, *path);
  struct stat st;
  if (stat(joined, &st) != 0 && stat(*path, &st) == 0) {
    free(joined);
    return QAT_OK;
  }
  free(*path);
  *path = joined;
  return QAT_OK;
}

int qat_config_resolve(qat_config *cfg, const char *base_dir) {
  int rc = beside_config(base_dir, &cfg->model.init);
  if (!rc) rc = beside_config(base_dir, &cfg->model.keras);
  if (rc || !cfg->model.keras || cfg->keras_model) return rc;
  qat_keras_model *k = calloc(1, sizeof *k);
  if (!k) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  free(cfg->model.layers);
  cfg->model.layers = NULL;
  cfg->model.n_layers = 0;
  rc = qat_keras_resolve_spec(&cfg->model, k);
  if (rc) {
    qat_keras_free(k);
    free(k);
    return cfg->path ? qat_fail_prefix(rc, "%s: ", cfg->path) : rc;
  }
  /* the config owns the layers now; the weights stay in k */
  cfg->model.layers = malloc((size_t)(cfg->model.n_layers ? cfg->model.n_layers : 1) * sizeof *cfg->model.layers);
  if (!cfg->model.layers) {
    cfg->model.n_layers = 0;
    qat_keras_free(k);
    free(k);
    return qat_fail(QAT_ERR_NOMEM, "out of memory");
  }
  memcpy(cfg->model.layers, k->spec.layers, (size_t)cfg->model.n_layers * sizeof *cfg->model.layers);
  cfg->keras_model = k;
  return QAT_OK;
}

void qat_config_free(qat_config *cfg) {
  if (cfg->keras_model) {
    qat_keras_free(cfg->keras_model);
    free(cfg->keras_model);
  }
  if (!cfg) return;
  free(cfg->path);
  free(cfg->text);
  free(cfg->model.layers);
  free(cfg->model.init);
  free(cfg->model.keras);
  qat_cfg_data_free(&cfg->data);
  memset(cfg, 0, sizeof *cfg);
}

static int top_level(const cfg_ctx *c, const cfg_node *root, qat_config *cfg) {
  static const char *const keys[] = {"model", "data", "train", "quantize"};
  const cfg_node *v[4];
  int rc;
  if (!root)
    return qat_cfg_error(c, NULL, "(top level)",
                         "no YAML document, only comments or blank lines (expected a mapping with "
                         "model, data, train)");
  if (root->kind != CFG_MAP || qat_cfg_is_null(root))
    return qat_cfg_want(c, root, "(top level)", "a mapping with keys model, data, train");
  /* Planned sections get their own message rather than a did-you-mean. */
  for (size_t p = 0; p < root->n / 2; p++) {
    const cfg_node *k = root->kids[2 * p];
    if (k->kind == CFG_SCALAR && !strcmp(k->str, "export"))
      return qat_cfg_error(c, k, k->str,
                           "section not supported yet (expected model, data, train, quantize)");
  }
  if ((rc = qat_cfg_map(c, root, "", keys, 4, v))) return rc;
  if (!v[0])
    return qat_cfg_error(c, root, "model",
                         "missing section (expected a model with input and layers)");
  if ((rc = qat_cfg_model(c, v[0], &cfg->model))) return rc;
  if ((rc = qat_cfg_data(c, v[1], cfg->model.input_shape, &cfg->data))) return rc;
  /* a .npz of a model with several outputs holds y_train_<output> for each */
  cfg->data.n_outputs = cfg->model.n_outputs;
  for (int k = 0; k < cfg->model.n_outputs; k++)
    snprintf(cfg->data.output_names[k], QAT_NAME_MAX, "%s", cfg->model.layers[cfg->model.outputs[k]].name);
  if ((rc = qat_cfg_quantize(c, v[3], &cfg->model.quantize))) return rc;
  return qat_cfg_train(c, v[2], &cfg->model, &cfg->train);
}

int qat_config_parse(const char *text, size_t len, const char *source_name, qat_config *out) {
  qat_config cfg;
  cfg_ctx c = {source_name ? source_name : "<config>"};
  cfg_node *root = NULL;
  const char *nul;
  int rc;

  memset(out, 0, sizeof *out);
  memset(&cfg, 0, sizeof cfg);
  if (len > QAT_CONFIG_MAX_BYTES)
    return qat_fail(QAT_ERR_USAGE, "%s: file is %zu bytes (expected a config of at most %u bytes)",
                    c.src, len, QAT_CONFIG_MAX_BYTES);
  if (len == 0 || !text)
    return qat_fail(QAT_ERR_USAGE, "%s: empty file (expected a YAML config)", c.src);
  if ((nul = memchr(text, '\0', len))) {
    int line, col;
    qat_cfg_offset_pos(text, len, (size_t)(nul - text), &line, &col);
    return qat_fail(
        QAT_ERR_USAGE,
        "%s:%d:%d: NUL byte at offset %zu (expected UTF-8 text; is it UTF-16 or binary?)", c.src,
        line, col, (size_t)(nul - text));
  }
  cfg.text = malloc(len + 1);
  if (!cfg.text) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", c.src);
  memcpy(cfg.text, text, len);
  cfg.text[len] = '\0';
  if (source_name && (rc = qat_cfg_strdup(source_name, &cfg.path))) goto free_cfg;

  if ((rc = qat_cfg_tree_build(&c, cfg.text, len, &root))) goto free_cfg;
  if ((rc = top_level(&c, root, &cfg))) goto free_tree;
  cfg.model.source = cfg.path;
  qat_cfg_tree_free(root);
  *out = cfg;
  return 0;

free_tree:
  qat_cfg_tree_free(root);
free_cfg:
  qat_config_free(&cfg);
  return rc;
}

int qat_config_load(const char *path, qat_config *out) {
  struct stat st;
  char *buf = NULL;
  size_t len = 0;
  int fd, rc;

  memset(out, 0, sizeof *out);
  if (!path || !*path) return qat_fail(QAT_ERR_USAGE, "config: empty path (expected a YAML file)");
  /* O_NONBLOCK so that a FIFO is refused below instead of hanging open(). */
  fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return qat_fail(QAT_ERR_IO, "%s: cannot open config: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0) {
    rc = qat_fail(QAT_ERR_IO, "%s: cannot stat config: %s", path, strerror(errno));
    goto close_fd;
  }
  if (S_ISDIR(st.st_mode)) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: %s (expected a YAML file)", path, strerror(EISDIR));
    goto close_fd;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: not a regular file (expected a YAML file)", path);
    goto close_fd;
  }
  /* st_size is only a hint (procfs files report 0): read to EOF, but never past the cap. */
  buf = malloc(QAT_CONFIG_MAX_BYTES + 1);
  if (!buf) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
    goto close_fd;
  }
  while (len <= QAT_CONFIG_MAX_BYTES) {
    ssize_t r = read(fd, buf + len, QAT_CONFIG_MAX_BYTES + 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = qat_fail(QAT_ERR_IO, "%s: cannot read config: %s", path, strerror(errno));
      goto free_buf;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  if (len > QAT_CONFIG_MAX_BYTES) {
    rc = qat_fail(QAT_ERR_USAGE,
                  "%s: file is larger than %u bytes (expected a config of at most %u bytes)", path,
                  QAT_CONFIG_MAX_BYTES, QAT_CONFIG_MAX_BYTES);
    goto free_buf;
  }
  rc = qat_config_parse(buf, len, path, out);
  /* Data paths in the file are relative to the file, wherever qat runs from. */
  if (!rc) {
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash == dir && dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else if (dir) strcpy(dir, ".");
    char *abs = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!abs) {
      rc = qat_fail(QAT_ERR_IO, "%s: cannot resolve the config's folder: %s", path, strerror(errno));
      qat_config_free(out);
    } else {
      out->data.base_dir = abs;
      if ((rc = qat_config_resolve(out, abs))) qat_config_free(out);
    }
  }

free_buf:
  free(buf);
close_fd:
  close(fd);
  return rc;
}
