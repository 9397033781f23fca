/* `qat import MODEL -o DIR`: a Keras model (.h5, .keras, or a weights-only file with its
 * architecture) becomes DIR/model.yaml (qat's config, Keras layer names, model.init pointing at
 * the checkpoint) and DIR/checkpoint.h5 (written by the checkpoint writer, so train/eval/export
 * take it as they take their own). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qat/atomic_file.h"
#include "qat/config.h"
#include "qat/error.h"
#include "qat/keras.h"
#include "qat/layer.h"
#include "qat/model.h"
#include "qat/train.h"

static const char usage_import[] =
    "usage: qat import MODEL -o DIR [--arch MODEL.json | --config CONFIG.yaml] [--input-shape H,W,C|T,C|F]\n"
    "                  [--json]\n"
    "\n"
    "Reads a Keras model without TensorFlow and writes DIR/model.yaml (qat's config, Keras\n"
    "layer names, model.init: DIR/checkpoint.h5) and DIR/checkpoint.h5 (the weights, with\n"
    "conv kernels in qat's OHWI layout). Then e.g. add 'quantize: {mode: qat}' to the config,\n"
    "'qat train DIR/model.yaml' fine-tunes quantization-aware, and 'qat export' writes int8.\n"
    "\n"
    "MODEL: a full Keras model (legacy .h5 from model.save, or a Keras 3 .keras archive), or a\n"
    "weights-only file (legacy .h5 from save_weights, Keras 3 .weights.h5) with either\n"
    "  --arch F     its architecture as JSON (model.to_json(), or a .keras config.json)\n"
    "  --config F   a qat YAML config whose layer names are the Keras layer names\n"
    "\n"
    "Supported layers: InputLayer and %s (Sequential or Functional);\n"
    "ZeroPadding2D, Rescaling and Normalization folded into the layer after them where exact,\n"
    "else a layer of their own (noted in model.yaml); Keras 3's hard_sigmoid written as tensor\n"
    "operations. Every unsupported layer of a file is named in one message.\n"
    "(A config may also name the file directly: model: {keras: MODEL.keras}.)\n"
    "\n"
    "  -o DIR     output folder (created with its parents if missing)\n"
    "  --input-shape H,W,C  the input size of a model saved with unknown (None) dimensions\n"
    "                       (T,C for a sequence model, F for a vector)\n"
    "  --json     print one JSON summary on stdout\n"
    "  -h, --help this help\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat import --help')\n");
  return 2;
}

static int report(int status) {
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  return qat_exit_code(status);
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  char buf[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf) return qat_fail(QAT_ERR_USAGE, "-o: bad folder name '%s'", dir);
  memcpy(buf, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return qat_fail(QAT_ERR_IO, "%s: cannot create the folder: %s", buf, strerror(errno));
    buf[i] = c;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return qat_fail(QAT_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(ENOTDIR));
  return QAT_OK;
}

int qat_cmd_import(int argc, char **argv) {
  const char *model = NULL, *dir = NULL, *arch = NULL, *config = NULL;
  int json = 0, shape[3] = {0, 0, 0}, has_shape = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      printf(usage_import, qat_layer_class_list());
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--arch") || !strcmp(a, "--config") || !strcmp(a, "--input-shape")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "-o")) dir = v;
      else if (!strcmp(a, "--arch")) arch = v;
      else if (!strcmp(a, "--config")) config = v;
      else {
        /* H,W,C for an image, T,C for a sequence, F for a vector: the sizes after the batch */
        int n = 0, used = 0;
        const char *p = v;
        while (n < 3 && sscanf(p, n ? ",%d%n" : "%d%n", &shape[n], &used) == 1 && shape[n] >= 1 && shape[n] <= 65536)
          p += used, n++;
        if (!n || *p)
          return usage_error("--input-shape: '%s' is not H,W,C, T,C or F (sizes 1..65536, e.g. 224,224,3)", v);
        has_shape = 1;
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("import: unknown option '%s'", a);
    } else if (!model) {
      model = a;
    } else {
      return usage_error("import: unexpected argument '%s'", a);
    }
  }
  if (!model || !dir) return usage_error("%s", "import needs MODEL and -o DIR");
  if (arch && config) return usage_error("%s", "import takes --arch or --config, not both");
  if (has_shape && config) return usage_error("%s", "--input-shape sizes a Keras architecture; with --config the config's model.input does");

  qat_keras_model k;
  qat_config user = {0};
  int rc;
  if (config) {
    if ((rc = qat_config_load(config, &user))) return report(rc);
    rc = qat_keras_load_weights(model, &user.model, &k);
    qat_config_free(&user);
  } else {
    rc = qat_keras_load_sized(model, arch, has_shape ? shape : NULL, &k);
  }
  if (rc) return report(rc);

  char yaml_path[4200], ckpt_path[4200];
  snprintf(yaml_path, sizeof yaml_path, "%s/model.yaml", dir);
  snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint.h5", dir);
  char *yaml = NULL;
  qat_config cfg = {0};
  qat_model *m = NULL;
  /* model.init as an absolute path: model.yaml works from any folder, and its text pasted into
   * a config elsewhere still finds the weights */
  char init_path[8400];
  if (dir[0] == '/') snprintf(init_path, sizeof init_path, "%s", ckpt_path);
  else {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) {
      rc = qat_fail(QAT_ERR_IO, "cannot get the working folder: %s", strerror(errno));
      goto free_keras;
    }
    snprintf(init_path, sizeof init_path, "%s/%s", cwd, ckpt_path);
  }
  if ((rc = qat_keras_config_yaml(&k, model, init_path, &yaml))) goto free_keras;
  /* The config must be one that config/ reads back, and the checkpoint the model it builds. */
  if ((rc = qat_config_parse(yaml, strlen(yaml), yaml_path, &cfg))) {
    rc = qat_fail_prefix(rc, "internal: the generated config does not parse: ");
    goto free_yaml;
  }
  if ((rc = qat_model_create(&m, &cfg.model, 1, cfg.train.seed))) goto free_cfg;
  if ((rc = qat_keras_apply(&k, m))) goto free_model;
  /* Nothing is created before the model is known to be good. */
  if ((rc = make_dirs(dir))) goto free_model;
  qat_checkpoint_meta meta = {0, 0, cfg.train.seed};
  if ((rc = qat_checkpoint_save(ckpt_path, m, NULL, yaml, &meta))) goto free_model;
  if ((rc = qat_atomic_write(yaml_path, yaml, strlen(yaml)))) goto free_model;
  if (json)
    printf("{\"config\":\"%s\",\"checkpoint\":\"%s\",\"layers\":%d,\"params\":%lld,\"state\":%lld,\"format\":\"%s\","
           "\"keras_version\":\"%s\"}\n",
           yaml_path, ckpt_path, k.spec.n_layers, (long long)m->n_params, (long long)m->n_state, k.format,
           k.keras_version);
  else
    printf("%s: %s%s%s, %d layers, %lld parameters\nwrote %s and %s\n", model, k.format,
           k.keras_version[0] ? ", Keras " : "", k.keras_version, k.spec.n_layers, (long long)m->n_params, yaml_path,
           ckpt_path);
free_model:
  qat_model_free(m);
free_cfg:
  qat_config_free(&cfg);
free_yaml:
  free(yaml);
free_keras:
  qat_keras_free(&k);
  return rc ? report(rc) : 0;
}
