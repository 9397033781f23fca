/* Keras import: qat's float forward of each imported model against Keras's own outputs
 * (tests/fixtures/keras, made by tests/interop/make_keras_fixtures.py with TF 2.21 / Keras 3.15)
 * within 1e-4; the third-party files of ../shared/fixtures/keras against the values their
 * README states; the generated YAML read back by config/; and the bad-input rows of
 * shared/BAD-INPUTS.md D1-D5 on files written here with the HDF5 and libzip APIs. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>
#include <zip.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/h5store.h"
#include "qat/keras.h"
#include "qat/model.h"
#include "qat/train.h"
#include "keras/internal.h"

#define FIX QAT_SOURCE_DIR "/tests/fixtures/keras/"
#define SHARED QAT_SOURCE_DIR "/../shared/fixtures/keras/"

static char tmpdir[64];

static void tpath(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", tmpdir, name); }

static int have_shared(void) {
  struct stat st;
  if (stat(SHARED, &st) == 0) return 1;
  printf("skipped: %s is absent\n", SHARED);
  return 0;
}

/* Builds the imported model (with a Flatten appended when it ends in a feature map, as a
 * single conv does), applies its weights, and runs the float forward over n samples; a final
 * softmax is applied, as Keras's outputs include it. out: n * classes floats. */
static void forward(const qat_keras_model *k, const float *x, int n, float *out, int *classes) {
  qat_model_spec spec = k->spec;
  qat_layer_spec *layers = calloc((size_t)spec.n_layers + 1, sizeof *layers);
  assert_non_null(layers);
  memcpy(layers, spec.layers, (size_t)spec.n_layers * sizeof *layers);
  spec.layers = layers;
  qat_model *m = NULL;
  if (qat_model_create(&m, &spec, n, 1) != 0) {
    qat_layer_spec *f = &layers[spec.n_layers];
    f->type = QAT_LAYER_FLATTEN;
    snprintf(f->name, sizeof f->name, "flat_out");
    f->n_inputs = 1;
    f->inputs[0] = spec.n_layers - 1;
    spec.n_layers++;
    assert_int_equal(qat_model_create(&m, &spec, n, 1), 0);
  }
  assert_int_equal(qat_keras_apply(k, m), 0);
  qat_exec ex = {0};
  qat_model_forward(m, x, n, &ex);
  int c = m->logits->dims[1];
  *classes = c;
  for (int i = 0; i < n; i++) {
    const float *z = m->logits->data + (size_t)i * c;
    float *o = out + (size_t)i * c;
    if (m->final_softmax) {
      double mx = z[0], s = 0;
      for (int j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
      for (int j = 0; j < c; j++) s += exp(z[j] - mx);
      for (int j = 0; j < c; j++) o[j] = (float)(exp(z[j] - mx) / s);
    } else {
      memcpy(o, z, (size_t)c * sizeof *o);
    }
  }
  qat_model_free(m);
  free(layers);
}

/* Loads NAME.io.h5 (x: inputs, y: Keras's outputs) and compares the forward of k with y. */
static void check_against_keras(const qat_keras_model *k, const char *io_name) {
  char path[512];
  snprintf(path, sizeof path, FIX "%s", io_name);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, path), 0);
  int rank;
  int64_t xd[QAT_H5_MAX_RANK], yd[QAT_H5_MAX_RANK];
  void *x, *y;
  assert_int_equal(qat_h5_read_array_alloc(&r, "x", QAT_H5_F32, &rank, xd, &x, 1 << 26, QAT_H5_FINITE), 0);
  assert_int_equal(rank, 4);
  assert_int_equal(qat_h5_read_array_alloc(&r, "y", QAT_H5_F32, &rank, yd, &y, 1 << 26, QAT_H5_FINITE), 0);
  assert_int_equal(rank, 2);
  qat_h5_reader_close(&r);
  int n = (int)xd[0], classes;
  float *out = calloc((size_t)(n * yd[1]), sizeof *out);
  forward(k, x, n, out, &classes);
  assert_int_equal(classes, (int)yd[1]);
  double worst = 0;
  for (int64_t i = 0; i < n * yd[1]; i++) {
    double d = fabs((double)out[i] - (double)((float *)y)[i]);
    worst = d > worst ? d : worst;
  }
  printf("  %s: %d samples, max |qat - keras| = %.3g\n", io_name, n, worst);
  assert_true(worst <= 1e-4);
  free(out);
  free(x);
  free(y);
}

static void load_ok(const char *path, const char *arch, qat_keras_model *k) {
  int rc = qat_keras_load(path, arch, k);
  if (rc) fail_msg("%s: %s", path, qat_error_message());
}

static void test_fixture_fmnist_cnn(void **state) {
  (void)state;
  qat_keras_model k;
  load_ok(FIX "fmnist_cnn.h5", NULL, &k);
  assert_string_equal(k.keras_version, "3.15.1");
  assert_int_equal(k.spec.n_layers, 7);
  assert_int_equal(k.spec.input_shape[0], 28);
  check_against_keras(&k, "fmnist_cnn.io.h5");
  qat_keras_free(&k);
  load_ok(FIX "fmnist_cnn.keras", NULL, &k);
  check_against_keras(&k, "fmnist_cnn.io.h5");
  qat_keras_free(&k);
}

static void test_fixture_bn_dw_add(void **state) {
  (void)state;
  qat_keras_model k;
  load_ok(FIX "bn_dw_add.keras", NULL, &k);
  /* Functional: the Add reads the two ReLUs, not the layer before it */
  int add = -1;
  for (int i = 0; i < k.spec.n_layers; i++)
    if (k.spec.layers[i].type == QAT_LAYER_ADD) add = i;
  assert_true(add > 0);
  assert_int_equal(k.spec.layers[add].n_inputs, 2);
  assert_int_equal(k.spec.layers[add].inputs[0], add - 4);
  assert_int_equal(k.spec.layers[add].inputs[1], add - 1);
  check_against_keras(&k, "bn_dw_add.io.h5");
  qat_keras_free(&k);
  load_ok(FIX "bn_dw_add.h5", NULL, &k);
  check_against_keras(&k, "bn_dw_add.io.h5");
  qat_keras_free(&k);
}

static void test_fixture_mlp(void **state) {
  (void)state;
  qat_keras_model k, w;
  load_ok(FIX "mlp.keras", NULL, &k);
  check_against_keras(&k, "mlp.io.h5");
  /* the Keras 3 weights-only file, matched to the architecture of the .keras file */
  int rc = qat_keras_load_weights(FIX "mlp.weights.h5", &k.spec, &w);
  if (rc) fail_msg("%s", qat_error_message());
  assert_string_equal(w.format, "Keras 3 .weights.h5");
  check_against_keras(&w, "mlp.io.h5");
  qat_keras_free(&w);
  /* ... and with its JSON architecture taken from the archive */
  qat_keras_free(&k);
}

static void expect_fail(const char *path, const char *arch, int status, const char *a, const char *b);

/* ZeroPadding2D folded into SAME convs, Rescaling(2, -1) into the first conv's weights. */
static void test_fixture_pad_rescale(void **state) {
  (void)state;
  const char *files[] = {FIX "pad_rescale.keras", FIX "pad_rescale.h5"};
  for (int f = 0; f < 2; f++) {
    qat_keras_model k;
    load_ok(files[f], NULL, &k);
    assert_int_equal(k.spec.n_layers, 5);
    assert_int_equal(k.spec.layers[0].padding, QAT_PADDING_VALID);
    assert_int_equal(k.spec.layers[1].padding, QAT_PADDING_SAME);
    assert_int_equal(k.spec.layers[1].strides[0], 2);
    assert_int_equal(k.spec.layers[2].type, QAT_LAYER_DEPTHWISE_CONV2D);
    assert_int_equal(k.spec.layers[2].padding, QAT_PADDING_SAME);
    assert_non_null(strstr(k.notes, "(Rescaling scale 2, offset -1) is folded into the weights of"));
    assert_non_null(strstr(k.notes, "(ZeroPadding2D ((0, 1), (0, 1))) is padding: same of"));
    check_against_keras(&k, "pad_rescale.io.h5");
    char *yaml;
    assert_int_equal(qat_keras_config_yaml(&k, files[f], NULL, &yaml), 0);
    assert_non_null(strstr(yaml, "(ZeroPadding2D ((1, 1), (1, 1))) is padding: same of"));
    assert_non_null(strstr(yaml, "# note: layer '"));
    free(yaml);
    qat_keras_free(&k);
  }
  /* wider than SAME: a PAD of its own before the VALID conv, which keeps its padding */
  qat_keras_model k2;
  if (qat_keras_load(FIX "pad_not_same.keras", NULL, &k2)) fail_msg("pad_not_same: %s", qat_error_message());
  assert_int_equal(k2.spec.layers[0].type, QAT_LAYER_ZERO_PADDING2D);
  for (int j = 0; j < 4; j++) assert_int_equal(k2.spec.layers[0].zero_pad[j], 2);
  assert_int_equal(k2.spec.layers[1].type, QAT_LAYER_CONV2D);
  assert_int_equal(k2.spec.layers[1].inputs[0], 0);
  assert_int_equal(k2.spec.layers[1].padding, QAT_PADDING_VALID);
  qat_keras_free(&k2);
}

static void test_yaml_round_trip(void **state) {
  (void)state;
  const char *files[] = {FIX "bn_dw_add.keras", FIX "fmnist_cnn.h5", FIX "mlp.keras", FIX "pad_rescale.keras"};
  for (size_t f = 0; f < 4; f++) {
    qat_keras_model k;
    load_ok(files[f], NULL, &k);
    char *yaml;
    assert_int_equal(qat_keras_config_yaml(&k, files[f], "ckpt.h5", &yaml), 0);
    qat_config cfg;
    int rc = qat_config_parse(yaml, strlen(yaml), "model.yaml", &cfg);
    if (rc) fail_msg("%s\n%s", qat_error_message(), yaml);
    assert_string_equal(cfg.model.init, "ckpt.h5");
    assert_int_equal(cfg.model.n_layers, k.spec.n_layers);
    assert_memory_equal(cfg.model.input_shape, k.spec.input_shape, sizeof k.spec.input_shape);
    for (int i = 0; i < k.spec.n_layers; i++) {
      const qat_layer_spec *a = &k.spec.layers[i], *b = &cfg.model.layers[i];
      assert_int_equal(a->type, b->type);
      assert_string_equal(a->name, b->name);
      assert_int_equal(qat_layer_n_inputs(&k.spec, i), qat_layer_n_inputs(&cfg.model, i));
      for (int j = 0; j < qat_layer_n_inputs(&k.spec, i); j++)
        assert_int_equal(qat_layer_input(&k.spec, i, j), qat_layer_input(&cfg.model, i, j));
      assert_int_equal(a->filters, b->filters);
      assert_int_equal(a->units, b->units);
      assert_int_equal(a->depth_multiplier, b->depth_multiplier);
      assert_memory_equal(a->kernel_size, b->kernel_size, sizeof a->kernel_size);
      assert_memory_equal(a->strides, b->strides, sizeof a->strides);
      assert_int_equal(a->padding, b->padding);
      assert_int_equal(a->activation, b->activation);
      assert_int_equal(a->use_bias, b->use_bias);
      assert_true(a->rate == b->rate && a->momentum == b->momentum && a->epsilon == b->epsilon);
      assert_true(a->max_value == b->max_value);
      assert_int_equal(a->target_rank, b->target_rank);
    }
    qat_config_free(&cfg);
    free(yaml);
    qat_keras_free(&k);
  }
}

/* ---- the third-party files of ../shared/fixtures/keras ---- */

static const float conv1_expected[9] = {4.322033f, 5.0049214f, 5.6878095f, 7.736475f, 8.419364f,
                                        9.102253f, 11.150916f, 11.833805f, 12.516695f};

static void check_conv1(const qat_keras_model *k) {
  assert_int_equal(k->n_weights, 2);
  /* kernel (ky, kx) from the README; qat layout OHWI = [1,3,3,1] */
  assert_string_equal(k->weights[0].name, "conv2d/kernel");
  assert_true(fabsf(k->weights[0].data[0] - 0.8755364f) < 1e-6f);
  assert_true(fabsf(k->weights[0].data[1] - -0.8359631f) < 1e-6f);
  assert_true(fabsf(k->weights[0].data[3] - -0.49807304f) < 1e-6f);
  float x[25], y[9];
  for (int i = 0; i < 25; i++) x[i] = (float)(i + 1);
  int classes;
  forward(k, x, 1, y, &classes);
  assert_int_equal(classes, 9);
  for (int i = 0; i < 9; i++) assert_true(fabsf(y[i] - conv1_expected[i]) < 1e-4f);
}

static void test_shared_conv2d_1layer(void **state) {
  (void)state;
  if (!have_shared()) return;
  qat_keras_model k;
  load_ok(SHARED "conv2d_1layer.h5", NULL, &k);
  assert_string_equal(k.keras_version, "2.13.1");
  check_conv1(&k);
  qat_keras_free(&k);
  load_ok(SHARED "conv2d_1layer_weights.h5", SHARED "conv2d_1layer.json", &k);
  assert_string_equal(k.format, "legacy Keras weights .h5");
  check_conv1(&k);
  qat_keras_free(&k);
  /* weights-only without an architecture: told what to give */
  assert_int_equal(qat_keras_load(SHARED "conv2d_1layer_weights.h5", NULL, &k), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "weights-only"));
}

static void test_shared_keras2(void **state) {
  (void)state;
  if (!have_shared()) return;
  qat_keras_model k;
  /* Keras 2.0: "config" is the layer list; names fixed-length NULLPAD strings */
  load_ok(SHARED "KERAS_conv2d_model_weights.h5", SHARED "KERAS_conv2d_model.json", &k);
  assert_int_equal(k.spec.n_layers, 4);
  assert_int_equal(k.spec.layers[0].padding, QAT_PADDING_SAME);
  assert_int_equal(k.spec.layers[3].activation, QAT_ACTIVATION_SOFTMAX);
  /* Dense [in, out] -> [out, in], element by element against the file */
  const qat_keras_weight *dk = NULL;
  for (int i = 0; i < k.n_weights; i++)
    if (!strcmp(k.weights[i].name, "dense_1/kernel")) dk = &k.weights[i];
  assert_non_null(dk);
  assert_int_equal(dk->dims[0], 10);
  assert_int_equal(dk->dims[1], 128);
  qat_h5_reader r;
  assert_int_equal(qat_h5_reader_open(&r, SHARED "KERAS_conv2d_model_weights.h5"), 0);
  float raw[128 * 10];
  int64_t d[2] = {128, 10};
  assert_int_equal(qat_h5_read_array(&r, "dense_1/dense_1/kernel:0", QAT_H5_F32, 2, d, raw, 0), 0);
  float craw[3 * 3 * 1 * 2];
  int64_t cd[4] = {3, 3, 1, 2};
  assert_int_equal(qat_h5_read_array(&r, "conv2d_1/conv2d_1/kernel:0", QAT_H5_F32, 4, cd, craw, 0), 0);
  qat_h5_reader_close(&r);
  for (int o = 0; o < 10; o++)
    for (int i = 0; i < 128; i++) assert_true(dk->data[o * 128 + i] == raw[i * 10 + o]);
  /* Conv2D HWIO -> OHWI */
  assert_string_equal(k.weights[0].name, "conv2d_1/kernel");
  for (int o = 0; o < 2; o++)
    for (int h = 0; h < 3; h++)
      for (int w = 0; w < 3; w++) assert_true(k.weights[0].data[(o * 3 + h) * 3 + w] == craw[(h * 3 + w) * 2 + o]);
  qat_keras_free(&k);
}

static void test_shared_nested_container(void **state) {
  (void)state;
  if (!have_shared()) return;
  const char *path = SHARED "pre_pr22362_nested_container.keras";
  qat_keras_model k;
  assert_int_equal(qat_keras_load(path, NULL, &k), QAT_ERR_UNSUPPORTED);
  assert_non_null(strstr(qat_error_message(), "model class 'NestedDenseModel'"));
  assert_non_null(strstr(qat_error_message(), "not supported"));
  /* its weights are readable all the same */
  qat_h5_reader r;
  assert_int_equal(qat_keras_open_weights(path, &r), 0);
  float v[8];
  int64_t d[2] = {4, 2};
  assert_int_equal(qat_h5_read_array(&r, "layers/dense_3/vars/0", QAT_H5_F32, 2, d, v, QAT_H5_FINITE), 0);
  for (int i = 0; i < 8; i++) assert_true(v[i] == 0.5f);
  qat_h5_reader_close(&r);
  /* ... and match a qat spec of the same chain: ones(4) -> [0.768, 0.768] */
  qat_layer_spec layers[5] = {0};
  qat_model_spec spec = {.input_shape = {1, 1, 4}, .n_layers = 5, .layers = layers};
  layers[0].type = QAT_LAYER_FLATTEN;
  snprintf(layers[0].name, sizeof layers[0].name, "flatten");
  for (int i = 1; i < 5; i++) {
    layers[i].type = QAT_LAYER_DENSE;
    layers[i].units = i < 4 ? 4 : 2;
    layers[i].use_bias = i == 4;
    snprintf(layers[i].name, sizeof layers[i].name, "d%d", i);
  }
  for (int i = 0; i < 5; i++) layers[i].n_inputs = 1, layers[i].inputs[0] = i - 1;
  int rc = qat_keras_load_weights(path, &spec, &k);
  if (rc) fail_msg("%s", qat_error_message());
  float x[4] = {1, 1, 1, 1}, y[2];
  int classes;
  forward(&k, x, 1, y, &classes);
  assert_int_equal(classes, 2);
  assert_true(fabsf(y[0] - 0.768f) < 1e-5f && fabsf(y[1] - 0.768f) < 1e-5f);
  qat_keras_free(&k);
}

/* ---- bad inputs ---- */

static void expect_fail(const char *path, const char *arch, int status, const char *a, const char *b) {
  qat_keras_model k;
  int rc = qat_keras_load(path, arch, &k);
  if (rc == 0) fail_msg("%s: loaded, expected an error containing '%s'", path, a);
  const char *msg = qat_error_message();
  printf("  %s\n", msg);
  if (status) assert_int_equal(rc, status);
  if (!strstr(msg, a) || (b && !strstr(msg, b))) fail_msg("message '%s' lacks '%s' / '%s'", msg, a, b ? b : "");
  assert_null(k.spec.layers);
  assert_int_equal(k.n_weights, 0);
}

static void put_vlen_string_attr(hid_t obj, const char *name, const char *s) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0);
  assert_true(H5Awrite(a, t, &s) >= 0);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

static void put_names_attr(hid_t obj, const char *name, const char **list, int n) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  hsize_t d = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &d, NULL);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0);
  assert_true(H5Awrite(a, t, list) >= 0);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

typedef struct fake_weight {
  const char *name;  /* under /model_weights/conv/ */
  int rank;
  hsize_t dims[4];
  hid_t type;        /* file type; 0: float32 */
  int nan;           /* write a NaN at element 0 */
  int skip;          /* listed in weight_names, not written */
} fake_weight;

#define CONV_JSON                                                                                          \
  "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": " \
  "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"Conv2D\", \"config\": "         \
  "{\"name\": \"conv\", \"filters\": 4, \"kernel_size\": 3, \"activation\": \"relu\"}}, {\"class_name\": "   \
  "\"Flatten\", \"config\": {\"name\": \"flat\"}}, {\"class_name\": \"Dense\", \"config\": {\"name\": "     \
  "\"dense\", \"units\": 3}}]}}"

/* A legacy full-model file: model_config = json, /model_weights/conv/<w> as given, and a good
 * dense layer. */
static void make_h5(const char *path, const char *json, const fake_weight *w, int nw) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  put_vlen_string_attr(f, "model_config", json);
  put_vlen_string_attr(f, "keras_version", "2.13.1");
  hid_t mw = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const char *layer_names[] = {"conv", "flat", "dense"};
  put_names_attr(mw, "layer_names", layer_names, 3);
  hid_t g = H5Gcreate2(mw, "conv", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const char *names[8];
  for (int i = 0; i < nw; i++) names[i] = w[i].name;
  put_names_attr(g, "weight_names", names, nw);
  for (int i = 0; i < nw; i++) {
    if (w[i].skip) continue;
    hid_t sp = H5Screate_simple(w[i].rank, w[i].dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t t = w[i].type ? w[i].type : H5T_IEEE_F32LE;
    hid_t d = H5Dcreate2(g, w[i].name, t, sp, lcpl, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    hsize_t n = 1;
    for (int r = 0; r < w[i].rank; r++) n *= w[i].dims[r];
    if (n < 100000) {
      double *v = calloc(n, sizeof *v);
      for (hsize_t j = 0; j < n; j++) v[j] = 0.01 * (double)j;
      if (w[i].nan) v[0] = NAN;
      assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
      free(v);
    }
    H5Dclose(d);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
  }
  H5Gclose(g);
  hid_t fl = H5Gcreate2(mw, "flat", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(fl);
  g = H5Gcreate2(mw, "dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const char *dn[] = {"dense/kernel:0", "dense/bias:0"};
  put_names_attr(g, "weight_names", dn, 2);
  hsize_t kd[2] = {64, 3}, bd[1] = {3};
  float kv[64 * 3] = {0}, bv[3] = {0};
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t sp = H5Screate_simple(2, kd, NULL);
  hid_t d = H5Dcreate2(g, dn[0], H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, kv);
  H5Dclose(d);
  H5Sclose(sp);
  sp = H5Screate_simple(1, bd, NULL);
  d = H5Dcreate2(g, dn[1], H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, bv);
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(lcpl);
  H5Gclose(g);
  H5Gclose(mw);
  H5Fclose(f);
}

static void test_bad_h5(void **state) {
  (void)state;
  char p[512];
  tpath(p, sizeof p, "bad.h5");
  fake_weight good[2] = {{"conv/kernel:0", 4, {3, 3, 1, 4}, 0, 0, 0}, {"conv/bias:0", 1, {4}, 0, 0, 0}};
  /* the good file loads: the rows below differ from it in one thing each */
  make_h5(p, CONV_JSON, good, 2);
  qat_keras_model k;
  if (qat_keras_load(p, NULL, &k)) fail_msg("%s", qat_error_message());
  assert_int_equal(k.n_weights, 4);
  qat_keras_free(&k);

  fake_weight w[2];
  memcpy(w, good, sizeof w);
  w[0].type = H5T_IEEE_F64LE;
  make_h5(p, CONV_JSON, w, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "conv/conv/kernel:0", "float64");

  memcpy(w, good, sizeof w);
  w[0].dims[3] = 8;
  make_h5(p, CONV_JSON, w, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "[3,3,1,8]", "[3,3,1,4]");

  memcpy(w, good, sizeof w);
  w[0].rank = 2, w[0].dims[0] = 9, w[0].dims[1] = 4;
  make_h5(p, CONV_JSON, w, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "kernel", "[3,3,1,4]");

  memcpy(w, good, sizeof w);
  w[0].dims[3] = (hsize_t)1 << 40; /* 2^40 elements, never allocated */
  make_h5(p, CONV_JSON, w, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "kernel", "expected [3,3,1,4]");

  memcpy(w, good, sizeof w);
  w[1].skip = 1;
  make_h5(p, CONV_JSON, w, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "missing weights", "conv");

  make_h5(p, CONV_JSON, good, 1); /* weight_names lacks the bias */
  expect_fail(p, NULL, QAT_ERR_FORMAT, "layer 'conv' (Conv2D) has 1 weights in the file, qat expects 2", NULL);

  memcpy(w, good, sizeof w);
  w[0].nan = 1;
  make_h5(p, CONV_JSON, w, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "non-finite", "kernel");

  make_h5(p, "[1, 2]", good, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "is a JSON array, expected an object", "model_config");
  make_h5(p, "{\"class_name\": \"Sequential\"", good, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "invalid JSON", NULL);
  make_h5(p, "{\"class_name\": \"Sequential\"}", good, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "no layer list", NULL);
  make_h5(p, "{\"config\": {\"layers\": []}}", good, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "no class_name", NULL);
  make_h5(p,
          "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
          "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"LSTM\", \"config\": {\"name\": "
          "\"lstm\"}}]}}",
          good, 2);
  expect_fail(p, NULL, QAT_ERR_UNSUPPORTED, "layer 'lstm' (LSTM): class 'LSTM' is not supported", "Conv2D");
  make_h5(p,
          "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
          "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"Conv2DTranspose\", \"config\": "
          "{\"name\": \"conv\", \"filters\": 4, \"kernel_size\": 3, \"dilation_rate\": 2}}]}}",
          good, 2);
  /* Conv2D and DepthwiseConv2D take a dilation (tests/fixtures/layers15/dilated); a transposed one not */
  expect_fail(p, NULL, QAT_ERR_UNSUPPORTED, "layer 'conv' (Conv2DTranspose): dilation_rate [2, 2]", NULL);
  /* Conv2DTranspose: output sizes from the strides and padding alone, no dilation */
  make_h5(p,
          "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
          "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"Conv2DTranspose\", \"config\": "
          "{\"name\": \"up\", \"filters\": 4, \"kernel_size\": 3, \"strides\": 2, \"output_padding\": [1, 1]}}]}}",
          good, 2);
  expect_fail(p, NULL, QAT_ERR_UNSUPPORTED, "layer 'up' (Conv2DTranspose): output_padding is not supported", NULL);
  make_h5(p,
          "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
          "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"Conv2DTranspose\", \"config\": "
          "{\"name\": \"up\", \"filters\": 4, \"kernel_size\": 3, \"output_padding\": null, "
          "\"dilation_rate\": [2, 2]}}]}}",
          good, 2);
  expect_fail(p, NULL, QAT_ERR_UNSUPPORTED, "layer 'up' (Conv2DTranspose): dilation_rate [2, 2]", NULL);
  make_h5(p,
          "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
          "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"Conv2D\", \"config\": "
          "{\"name\": \"conv\", \"filters\": \"four\", \"kernel_size\": 3}}]}}",
          good, 2);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "layer 'conv' (Conv2D): 'filters' is string, expected an integer", NULL);
  /* Keras 2's Functional form: inbound_nodes [[[name, 0, 0, {}]]], output_layers [[name, 0, 0]] */
  make_h5(p,
          "{\"class_name\": \"Functional\", \"config\": {\"name\": \"f\", \"layers\": ["
          "{\"class_name\": \"InputLayer\", \"name\": \"in\", \"config\": {\"name\": \"in\", "
          "\"batch_input_shape\": [null, 6, 6, 1]}, \"inbound_nodes\": []}, "
          "{\"class_name\": \"Conv2D\", \"name\": \"conv\", \"config\": {\"name\": \"conv\", \"filters\": 4, "
          "\"kernel_size\": [3, 3]}, \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]}, "
          "{\"class_name\": \"Flatten\", \"name\": \"flat\", \"config\": {\"name\": \"flat\"}, "
          "\"inbound_nodes\": [[[\"conv\", 0, 0, {}]]]}, "
          "{\"class_name\": \"Dense\", \"name\": \"dense\", \"config\": {\"name\": \"dense\", \"units\": 3}, "
          "\"inbound_nodes\": [[[\"flat\", 0, 0, {}]]]}], "
          "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"dense\", 0, 0]]}, \"keras_version\": \"2.4.0\"}",
          good, 2);
  if (qat_keras_load(p, NULL, &k)) fail_msg("Keras 2 Functional: %s", qat_error_message());
  assert_int_equal(k.spec.n_layers, 3);
  assert_int_equal(k.spec.layers[0].inputs[0], -1);
  assert_int_equal(k.spec.layers[2].inputs[0], 1);
  assert_int_equal(k.n_weights, 4);
  qat_keras_free(&k);

  make_h5(p,
          "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
          "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"ZeroPadding2D\", \"config\": "
          "{\"name\": \"zp\", \"padding\": 1}}, {\"class_name\": \"MaxPooling2D\", \"config\": {\"name\": \"pool\", "
          "\"pool_size\": 3, \"strides\": 1}}, {\"class_name\": \"Conv2D\", \"config\": {\"name\": \"conv\", "
          "\"filters\": 4, \"kernel_size\": 3, \"activation\": \"relu\"}}, {\"class_name\": \"Flatten\", \"config\": "
          "{\"name\": \"flat\"}}, {\"class_name\": \"Dense\", \"config\": {\"name\": \"dense\", \"units\": 3}}]}}",
          good, 2);
  /* a ZeroPadding2D before a pool is a PAD of its own (ResNet50's stem) */
  if (qat_keras_load(p, NULL, &k)) fail_msg("ZeroPadding2D before a pool: %s", qat_error_message());
  assert_int_equal(k.spec.n_layers, 5);
  assert_int_equal(k.spec.layers[0].type, QAT_LAYER_ZERO_PADDING2D);
  assert_string_equal(k.spec.layers[0].name, "zp");
  for (int j = 0; j < 4; j++) assert_int_equal(k.spec.layers[0].zero_pad[j], 1);
  assert_int_equal(k.spec.layers[1].type, QAT_LAYER_MAX_POOL2D);
  assert_int_equal(k.spec.layers[1].inputs[0], 0);
  qat_keras_free(&k);
  make_h5(p,
          "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
          "{\"name\": \"in\", \"batch_shape\": [null, 6, 6, 1]}}, {\"class_name\": \"Conv2D\", \"config\": "
          "{\"name\": \"conv\", \"filters\": 4, \"kernel_size\": 3}}, {\"class_name\": \"Rescaling\", \"config\": "
          "{\"name\": \"rs\", \"scale\": 0.5}}]}}",
          good, 2);
  expect_fail(p, NULL, QAT_ERR_UNSUPPORTED, "layer 'rs' (Rescaling) feeds no layer", NULL);
}

static void test_bad_files(void **state) {
  (void)state;
  char p[512], q[512];
  tpath(p, sizeof p, "text.h5");
  FILE *f = fopen(p, "w");
  fputs("this is not a Keras model, just text long enough to look like something................"
        "..................................................................................\n",
        f);
  fclose(f);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "not an HDF5 file", p);
  expect_fail(tmpdir, NULL, QAT_ERR_IO, "cannot open", NULL);
  tpath(q, sizeof q, "missing.h5");
  expect_fail(q, NULL, QAT_ERR_IO, "cannot open", NULL);

  /* truncated copies of real files: every cut is refused */
  const char *src[] = {FIX "fmnist_cnn.h5", FIX "fmnist_cnn.keras"};
  for (int s = 0; s < 2; s++) {
    FILE *in = fopen(src[s], "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    rewind(in);
    char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, in), (size_t)n);
    fclose(in);
    const double cuts[] = {0.1, 0.5, 0.9, 0.999};
    for (int c = 0; c < 4; c++) {
      tpath(p, sizeof p, s ? "cut.keras" : "cut.h5");
      f = fopen(p, "wb");
      fwrite(buf, 1, (size_t)(n * cuts[c]), f);
      fclose(f);
      qat_keras_model k;
      int rc = qat_keras_load(p, NULL, &k);
      printf("  cut at %.1f%%: %s\n", 100 * cuts[c], rc ? qat_error_message() : "(loaded)");
      assert_true(rc < 0);
      assert_null(strstr(qat_error_message(), "internal"));
    }
    free(buf);
  }
}

static void add_zip_entry(zip_t *z, const char *name, const void *data, size_t len) {
  zip_source_t *s = zip_source_buffer(z, data, len, 0);
  assert_non_null(s);
  assert_true(zip_file_add(z, name, s, ZIP_FL_OVERWRITE) >= 0);
}

static void test_bad_archives(void **state) {
  (void)state;
  char p[512];
  int err;
  tpath(p, sizeof p, "noconfig.keras");
  zip_t *z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);
  assert_non_null(z);
  add_zip_entry(z, "metadata.json", "{}", 2);
  assert_int_equal(zip_close(z), 0);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "has no 'config.json'", NULL);

  /* 17 MiB of JSON whitespace compresses to a few KiB: refused by its declared size */
  size_t big = (17u << 20);
  char *spaces = malloc(big);
  memset(spaces, ' ', big);
  spaces[0] = '{';
  spaces[big - 1] = '}';
  tpath(p, sizeof p, "bomb.keras");
  z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);
  add_zip_entry(z, "config.json", spaces, big);
  assert_int_equal(zip_close(z), 0);
  free(spaces);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_true(st.st_size < (1 << 20));
  expect_fail(p, NULL, QAT_ERR_FORMAT, "config.json: 17825792 bytes uncompressed, more than", NULL);

  /* a good config.json, but the weights entry is not HDF5 */
  char *cfg = NULL;
  size_t len = 0;
  {
    zip_t *src = zip_open(FIX "mlp.keras", ZIP_RDONLY, &err);
    assert_non_null(src);
    zip_stat_t zs;
    assert_int_equal(zip_stat(src, "config.json", 0, &zs), 0);
    len = (size_t)zs.size;
    cfg = malloc(len);
    zip_file_t *zf = zip_fopen(src, "config.json", 0);
    assert_int_equal(zip_fread(zf, cfg, len), (zip_int64_t)len);
    zip_fclose(zf);
    zip_discard(src);
  }
  tpath(p, sizeof p, "badweights.keras");
  z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);
  add_zip_entry(z, "config.json", cfg, len);
  add_zip_entry(z, "model.weights.h5", "not hdf5 at all", 15);
  assert_int_equal(zip_close(z), 0);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "model.weights.h5: not an HDF5 file", NULL);
  tpath(p, sizeof p, "noweights.keras");
  z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);
  add_zip_entry(z, "config.json", cfg, len);
  assert_int_equal(zip_close(z), 0);
  expect_fail(p, NULL, QAT_ERR_FORMAT, "has no 'model.weights.h5'", NULL);
  free(cfg);
}

/* A model whose weights do not fit is left untouched by qat_keras_apply. */
static void test_apply_all_or_nothing(void **state) {
  (void)state;
  qat_keras_model k;
  load_ok(FIX "fmnist_cnn.h5", NULL, &k);
  qat_model_spec spec = k.spec;
  qat_layer_spec layers[16];
  memcpy(layers, spec.layers, (size_t)spec.n_layers * sizeof *layers);
  spec.layers = layers;
  layers[spec.n_layers - 1].units = 7; /* the last Dense differs */
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &spec, 1, 3), 0);
  float *before = malloc((size_t)m->n_params * sizeof *before);
  memcpy(before, m->params, (size_t)m->n_params * sizeof *before);
  assert_int_equal(qat_keras_apply(&k, m), QAT_ERR_FORMAT);
  char want[128];
  snprintf(want, sizeof want, "weight '%s/kernel'", layers[spec.n_layers - 1].name);
  assert_non_null(strstr(qat_error_message(), want));
  assert_memory_equal(before, m->params, (size_t)m->n_params * sizeof *before);
  free(before);
  qat_model_free(m);
  qat_keras_free(&k);
}

/* train.freeze on an imported model: a QAT fine-tune leaves the frozen layers' weights bit
 * for bit as Keras wrote them while the others move. */
static void test_freeze_fine_tune(void **state) {
  (void)state;
  struct stat st;
  if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &st) != 0) {
    printf("skipped: Fashion-MNIST (dataset-fashion-mnist) is not installed\n");
    return;
  }
  qat_keras_model k;
  load_ok(FIX "fmnist_cnn.h5", NULL, &k);
  char ckpt[512], yaml_path[512], out[512];
  tpath(ckpt, sizeof ckpt, "imported.h5");
  tpath(yaml_path, sizeof yaml_path, "ft.yaml");
  tpath(out, sizeof out, "run");
  char *yaml;
  assert_int_equal(qat_keras_config_yaml(&k, "fmnist_cnn.h5", ckpt, &yaml), 0);
  qat_config cfg;
  assert_int_equal(qat_config_parse(yaml, strlen(yaml), "model.yaml", &cfg), 0);
  qat_model *m;
  assert_int_equal(qat_model_create(&m, &cfg.model, 1, 1), 0);
  assert_int_equal(qat_keras_apply(&k, m), 0);
  qat_checkpoint_meta meta = {0, 0, 1};
  assert_int_equal(qat_checkpoint_save(ckpt, m, NULL, yaml, &meta), 0);
  qat_model_free(m);
  qat_config_free(&cfg);

  /* an unknown name is a config error at its line (the convs are layers 0 and 2) */
  const char *c0 = k.spec.layers[0].name, *c1 = k.spec.layers[2].name;
  assert_int_equal(k.spec.layers[2].type, QAT_LAYER_CONV2D);
  size_t n = strlen(yaml) + 512;
  char *text = malloc(n);
  snprintf(text, n, "%strain: {freeze: [%s, conv2d_77]}\n", yaml, c0);
  assert_int_equal(qat_config_parse(text, strlen(text), "ft.yaml", &cfg), QAT_ERR_USAGE);
  printf("  %s\n", qat_error_message());
  assert_non_null(strstr(qat_error_message(), "train.freeze[1]: no layer named 'conv2d_77'"));

  snprintf(text, n,
           "%sdata: {dataset: fashion-mnist, limit_train: 128, limit_test: 64}\nquantize: {mode: qat}\n"
           "train: {epochs: 1, batch_size: 32, freeze: [%s, %s], optimizer: {name: adamw, "
           "learning_rate: 0.01}}\n",
           yaml, c0, c1);
  if (qat_config_parse(text, strlen(text), "ft.yaml", &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.train.n_freeze, 2);
  qat_train_options o = {out, NULL, NULL, NULL};
  qat_train_result res;
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());
  qat_config_free(&cfg);
  qat_config c2;
  assert_int_equal(qat_model_from_checkpoint(res.checkpoint, 1, &c2, &m), 0);
  int frozen = 0, moved = 0;
  for (int i = 0; i < k.n_weights; i++) {
    const qat_param *p = qat_model_find_param(m, k.weights[i].name);
    assert_non_null(p);
    int same = !memcmp(p->tensor->data, k.weights[i].data, (size_t)p->size * sizeof(float));
    if (!strncmp(k.weights[i].name, c0, strlen(c0)) || !strncmp(k.weights[i].name, c1, strlen(c1))) {
      assert_true(same);
      frozen++;
    } else {
      assert_false(same);
      moved++;
    }
  }
  assert_int_equal(frozen, 4);
  assert_int_equal(moved, 2);
  qat_model_free(m);
  qat_config_free(&c2);
  free(text);
  free(yaml);
  qat_keras_free(&k);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
  assert_int_equal(system(cmd), 0);
}

/* model: {keras: PATH}: the Keras file gives the layers and the initial weights of a run, and
 * the checkpoints of that run rebuild from it. */
/* The loss a Keras file was compiled with: Keras 3's compile_config, a legacy training_config,
 * names, aliases and classes (from_logits); what qat does not train becomes a note. */
static void test_compiled_loss(void **state) {
  (void)state;
  static const struct {
    const char *json;
    int known;
    qat_loss loss;
    int from_logits;
    const char *note;
  } cases[] = {
      {"{\"compile_config\": {\"loss\": \"mse\", \"optimizer\": \"adam\"}}", 1, QAT_LOSS_MEAN_SQUARED_ERROR, 0, ""},
      {"{\"loss\": {\"class_name\": \"BinaryCrossentropy\", \"config\": {\"from_logits\": true}}}", 1,
       QAT_LOSS_BINARY_CROSSENTROPY, 1, ""},
      {"{\"loss\": \"sparse_categorical_crossentropy\"}", 1, QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 0, ""},
      {"{\"compile_config\": {\"loss\": {\"class_name\": \"Huber\", \"config\": {\"delta\": 1.0}}}}", 1,
       QAT_LOSS_HUBER, 0, ""},
      {"{\"compile_config\": {\"loss\": {\"class_name\": \"Huber\", \"config\": {\"delta\": 2.5}}}}", 0, 0, 0,
       "(Huber with delta other than 1)"},
      {"{\"loss\": [\"mse\", \"mae\"]}", 0, 0, 0, "(a list or mapping of losses)"},
      {"{\"loss\": \"kl_divergence\"}", 0, 0, 0, "(kl_divergence); set train.loss"},
      {"{\"compile_config\": null, \"class_name\": \"Functional\"}", 0, 0, 0, ""},
      {"not json", 0, 0, 0, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    qat_model_spec spec = {.loss = QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY};
    int known = -1;
    char note[256];
    assert_int_equal(qat_keras_compiled_loss(cases[i].json, strlen(cases[i].json), &spec, &known, note, sizeof note), 0);
    if (known != cases[i].known) fail_msg("case %zu: known %d", i, known);
    if (known) {
      assert_int_equal(spec.loss, cases[i].loss);
      assert_int_equal(spec.from_logits, cases[i].from_logits);
    }
    if (cases[i].note[0] ? !strstr(note, cases[i].note) : note[0] != 0) fail_msg("case %zu: note '%s'", i, note);
  }
}

static void test_config_model_keras(void **state) {
  (void)state;
  qat_config cfg;
  const char *both = "model: {keras: m.keras, layers: []}\n";
  assert_int_equal(qat_config_parse(both, strlen(both), "c.yaml", &cfg), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "'layers' together with 'keras'"));
  const char *missing = "model: {keras: " QAT_SOURCE_DIR "/tests/fixtures/keras/nowhere.keras}\n";
  assert_int_equal(qat_config_parse(missing, strlen(missing), "c.yaml", &cfg), 0);
  assert_int_equal(cfg.model.n_layers, 0);
  assert_int_equal(qat_config_resolve(&cfg, NULL), QAT_ERR_IO);
  assert_non_null(strstr(qat_error_message(), "model.keras: "));
  assert_non_null(strstr(qat_error_message(), "nowhere.keras: cannot open"));
  qat_config_free(&cfg);

  struct stat st;
  if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &st) != 0) {
    printf("skipped: Fashion-MNIST (dataset-fashion-mnist) is not installed\n");
    return;
  }
  qat_keras_model k;
  load_ok(FIX "pad_rescale.keras", NULL, &k);
  char text[1024], out[512];
  tpath(out, sizeof out, "run_keras");
  /* every weight layer frozen: the run's checkpoint must hold Keras's weights exactly */
  snprintf(text, sizeof text,
           "model: {keras: %s}\ndata: {dataset: fashion-mnist, limit_train: 64, limit_test: 32}\n"
           "quantize: {mode: qat}\ntrain: {epochs: 1, batch_size: 32, freeze: [%s, %s, %s, %s]}\n",
           FIX "pad_rescale.keras", k.spec.layers[0].name, k.spec.layers[1].name, k.spec.layers[2].name,
           k.spec.layers[4].name);
  if (qat_config_parse(text, strlen(text), "k.yaml", &cfg) || qat_config_resolve(&cfg, NULL))
    fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.train.n_freeze, 4); /* the names are checked once the Keras file is read */
  qat_train_options o = {out, NULL, NULL, NULL};
  qat_train_result res;
  if (qat_train(&cfg, &o, &res)) fail_msg("%s", qat_error_message());
  qat_config_free(&cfg);
  snprintf(text, sizeof text, "model: {keras: %s}\ntrain: {freeze: [nope]}\ndata: {dataset: fashion-mnist, limit_train: 32, limit_test: 32}\n",
           FIX "pad_rescale.keras");
  assert_int_equal(qat_config_parse(text, strlen(text), "k.yaml", &cfg), 0);
  assert_int_equal(qat_config_resolve(&cfg, NULL), 0);
  qat_train_result res2;
  assert_int_equal(qat_train(&cfg, &o, &res2), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "train.freeze: the model has no layer named 'nope'"));
  qat_config_free(&cfg);
  qat_config c2;
  qat_model *m;
  if (qat_model_from_checkpoint(res.checkpoint, 1, &c2, &m)) fail_msg("%s", qat_error_message());
  assert_int_equal(m->spec.n_layers, 5);
  for (int i = 0; i < k.n_weights; i++) {
    const qat_param *p = qat_model_find_param(m, k.weights[i].name);
    assert_non_null(p);
    assert_memory_equal(p->tensor->data, k.weights[i].data, (size_t)p->size * sizeof(float));
  }
  qat_model_free(m);
  qat_config_free(&c2);
  qat_keras_free(&k);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
  assert_int_equal(system(cmd), 0);
}

static int make_tmpdir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/qat_test_keras_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  (void)state;
  DIR *d = opendir(tmpdir);
  if (!d) return 0;
  struct dirent *e;
  char p[600];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(tmpdir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_fmnist_cnn),
      cmocka_unit_test(test_fixture_bn_dw_add),
      cmocka_unit_test(test_fixture_mlp),
      cmocka_unit_test(test_fixture_pad_rescale),
      cmocka_unit_test(test_yaml_round_trip),
      cmocka_unit_test(test_shared_conv2d_1layer),
      cmocka_unit_test(test_shared_keras2),
      cmocka_unit_test(test_shared_nested_container),
      cmocka_unit_test(test_bad_h5),
      cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_bad_archives),
      cmocka_unit_test(test_apply_all_or_nothing),
      cmocka_unit_test(test_freeze_fine_tune),
      cmocka_unit_test(test_config_model_keras),
      cmocka_unit_test(test_compiled_loss),
  };
  return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
