/* Config parser: a table of broken configs (each must fail with one line naming the place and
 * the problem), the full sample config with every default, and the file checks. */
#include <errno.h>
#include <limits.h>
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

#include "qat/config.h"
#include "qat/error.h"
#include "qat/layer.h"

#define SRC "cfg.yaml"

/* Lines 1-5; layers[0] is at 4:7, layers[1] at 5:7. Cases append from line 6. */
#define MODEL              \
  "model:\n"               \
  "  input: [28, 28, 1]\n" \
  "  layers:\n"            \
  "    - Flatten: {}\n"    \
  "    - Dense: {units: 10}\n"

#define LAYERS(body) "model:\n  input: [28, 28, 1]\n  layers:\n" body

static int is_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static int parse(const char *text, qat_config *cfg) {
  return qat_config_parse(text, strlen(text), SRC, cfg);
}

static void assert_feq(double got, double want) {
  if (got != want) fail_msg("got %.9g, want %.9g", got, want);
}

typedef struct bad_case {
  const char *what;
  const char *text;
  const char *expect; /* substring of the message */
} bad_case;

static const bad_case bad_cases[] = {
    /* Typos and unknown keys, with suggestions. */
    {"optimizer typo", MODEL "train:\n  optimiser: adam\n",
     "cfg.yaml:7:3: train.optimiser: unknown key (did you mean 'optimizer'?)"},
    {"top-level typo", "modle:\n  input: [1, 1, 1]\n",
     "cfg.yaml:1:1: modle: unknown key (did you mean 'model'?)"},
    {"unknown key, no close match", MODEL "train:\n  zzzzzz: 1\n",
     "cfg.yaml:7:3: train.zzzzzz: unknown key (expected one of: epochs, batch_size, seed, threads, "
     "optimizer, schedule, freeze, steps_per_epoch, loss, from_logits, loss_weights)"},
    {"steps_per_epoch zero", MODEL "train:\n  steps_per_epoch: 0\n",
     "cfg.yaml:7:20: train.steps_per_epoch"},
    {"lr alias", MODEL "train:\n  optimizer: {name: sgd, lr: 0.1}\n",
     "cfg.yaml:7:26: train.optimizer.lr: unknown key (did you mean 'learning_rate'?)"},
    {"clipped key", MODEL "train:\n  batch: 3\n",
     "train.batch: unknown key (did you mean 'batch_size'?)"},
    {"layer arg typo", LAYERS("    - Conv2D: {filter: 32, kernel_size: 3}\n"),
     "cfg.yaml:4:16: model.layers[0].Conv2D.filter: unknown key (did you mean 'filters'?)"},
    {"unknown layer type",
     LAYERS("    - Flatten: {}\n    - Conv2d: {filters: 3, kernel_size: 3}\n"),
     "cfg.yaml:5:7: model.layers[1]: unknown layer type 'Conv2d' (did you mean 'Conv2D'?)"},
    {"unknown layer type, no match", LAYERS("    - LSTM: {units: 3}\n"),
     "model.layers[0]: unknown layer type 'LSTM' (expected one of: Conv2D, DepthwiseConv2D"},
    {"Softmax layer argument", LAYERS("    - Flatten: {}\n    - Softmax: {units: 3}\n"),
     "cfg.yaml:5:17: model.layers[1].Softmax.units: 'units' is not an argument of Softmax"},
    {"quantize without mode", MODEL "quantize: {delay: 100}\n",
     "cfg.yaml:6:11: quantize: missing key 'mode' (expected qat or none)"},
    {"quantize bad mode", MODEL "quantize: {mode: qta}\n", "cfg.yaml:6:18: quantize.mode: unknown value 'qta' (did you mean 'qat'?"},
    {"quantize negative delay", MODEL "quantize: {mode: qat, delay: -5}\n", "quantize.delay:"},
    {"quantize observer typo", MODEL "quantize: {mode: qat, activations: {observer: emma}}\n",
     "quantize.activations.observer:"},
    {"quantize decay for minmax", MODEL "quantize: {mode: qat, activations: {observer: minmax, decay: 0.9}}\n",
     "only the ema observer has a decay"},
    {"quantize decay of 1", MODEL "quantize: {mode: qat, activations: {decay: 1}}\n",
     "quantize.activations.decay:"},
    {"quantize warmup for minmax", MODEL "quantize: {mode: qat, activations: {observer: minmax, warmup: false}}\n",
     "only the ema observer has a warm-up"},
    {"quantize warmup not a bool", MODEL "quantize: {mode: qat, activations: {warmup: 3}}\n",
     "quantize.activations.warmup"},
    {"quantize granularity", MODEL "quantize: {mode: qat, weights: {granularity: per_row}}\n",
     "quantize.weights.granularity:"},
    {"quantize unknown key", MODEL "quantize: {mode: qat, freeze_observer_after: 10}\n",
     "did you mean 'freeze_observers_after'"},
    {"export section", MODEL "export: {mode: int8}\n",
     "cfg.yaml:6:1: export: section not supported yet (expected model, data, train, quantize)"},

    /* Arguments on the wrong layer, missing, repeated. */
    {"arg on wrong layer", LAYERS("    - MaxPooling2D: {units: 3}\n"),
     "cfg.yaml:4:22: model.layers[0].MaxPooling2D.units: 'units' is not an argument of "
     "MaxPooling2D (expected "
     "one of: strides, padding, pool_size, name, inputs)"},
    {"activation on pool", LAYERS("    - AveragePooling2D: {activation: relu}\n"),
     "'activation' is not an argument of AveragePooling2D"},
    {"missing kernel_size", LAYERS("    - Conv2D: {filters: 32}\n"),
     "cfg.yaml:4:7: model.layers[0].Conv2D: missing required argument 'kernel_size' (expected "
     "Conv2D to have: "
     "filters, kernel_size)"},
    {"missing units", LAYERS("    - Flatten: {}\n    - Dense: {activation: relu}\n"),
     "cfg.yaml:5:7: model.layers[1].Dense: missing required argument 'units'"},
    {"missing rate", LAYERS("    - Dropout:\n"),
     "cfg.yaml:4:7: model.layers[0].Dropout: missing required argument 'rate'"},
    {"missing target_shape", LAYERS("    - Reshape\n"),
     "model.layers[0].Reshape: missing required argument 'target_shape'"},
    {"Activation without activation", LAYERS("    - Activation: {}\n"),
     "missing required argument 'activation'"},
    {"duplicate layer arg", LAYERS("    - Flatten: {}\n    - Dense: {units: 10, units: 5}\n"),
     "cfg.yaml:5:26: model.layers[1].Dense.units: duplicate key (first given at 5:15"},

    /* Numbers. */
    {"integer not a number", MODEL "train:\n  batch_size: abc\n",
     "cfg.yaml:7:15: train.batch_size: 'abc' is not a decimal integer (expected an integer >= 1)"},
    {"integer with fraction", LAYERS("    - Conv2D: {filters: 3.5, kernel_size: 3}\n"),
     "model.layers[0].Conv2D.filters: '3.5' is not a decimal integer (expected an integer >= 1)"},
    {"quoted integer", LAYERS("    - Conv2D: {filters: \"32\", kernel_size: 3}\n"),
     "model.layers[0].Conv2D.filters: wrong type: got the quoted string '32' (expected an integer "
     ">= 1)"},
    {"octal-looking integer", MODEL "train:\n  epochs: 010\n",
     "train.epochs: '010' is not a decimal integer"},
    {"nan", MODEL "train:\n  optimizer: {name: adam, learning_rate: nan}\n",
     "cfg.yaml:7:42: train.optimizer.learning_rate: nan is not finite (expected a number > 0)"},
    {"yaml .inf", MODEL "train:\n  optimizer: {name: adam, learning_rate: .inf}\n",
     ".inf is not finite"},
    {"double overflow", MODEL "train:\n  optimizer: {name: adam, learning_rate: 1e400}\n",
     "train.optimizer.learning_rate: 1e400 is too large for a 32-bit float (expected a number > "
     "0)"},
    {"float overflow", MODEL "train:\n  optimizer: {name: adam, learning_rate: 1e39}\n",
     "1e39 is too large for a 32-bit float"},
    {"float underflow", MODEL "train:\n  optimizer: {name: adam, epsilon: 1e-50}\n",
     "train.optimizer.epsilon: 1e-50 is too close to zero for a 32-bit float"},
    {"negative learning rate", MODEL "train:\n  optimizer: {name: sgd, learning_rate: -1}\n",
     "train.optimizer.learning_rate: -1 is out of range (expected a number > 0)"},
    {"hex float", MODEL "train:\n  optimizer: {name: sgd, learning_rate: 0x1p-3}\n",
     "'0x1p-3' is not a number"},
    {"int overflow", MODEL "train:\n  batch_size: 99999999999999999999\n",
     "cfg.yaml:7:15: train.batch_size: 99999999999999999999 is out of range (expected an integer "
     ">= 1)"},
    {"int above INT_MAX", MODEL "train:\n  epochs: 2147483648\n",
     "train.epochs: 2147483648 is out of range"},
    {"batch 0", MODEL "train:\n  batch_size: 0\n",
     "train.batch_size: 0 is out of range (expected an integer >= 1)"},
    {"negative batch", MODEL "train:\n  batch_size: -8\n", "train.batch_size: -8 is out of range"},
    {"negative epochs", MODEL "train:\n  epochs: -1\n",
     "train.epochs: -1 is out of range (expected an integer >= 1)"},
    {"negative seed", MODEL "train:\n  seed: -1\n",
     "train.seed: '-1' is not a non-negative decimal integer"},
    {"seed overflow", MODEL "train:\n  seed: 18446744073709551616\n",
     "train.seed: 18446744073709551616 is out of range"},
    {"dropout rate 1", LAYERS("    - Dropout: {rate: 1}\n"),
     "model.layers[0].Dropout.rate: 1 is out of range (expected a number in [0, 1))"},
    {"BN momentum 1.5", LAYERS("    - BatchNormalization: {momentum: 1.5}\n"),
     "BatchNormalization.momentum: 1.5 is out of range (expected a number in [0, 1])"},
    {"BN epsilon 0", LAYERS("    - BatchNormalization: {epsilon: 0}\n"),
     "epsilon: 0 is out of range (expected a number > 0)"},
    {"validation_split 1", MODEL "data: {dataset: fashion-mnist, validation_split: 1}\n",
     "cfg.yaml:6:50: data.validation_split: 1 is out of range (expected a number in [0, 1))"},
    {"missing value", MODEL "train:\n  epochs:\n",
     "train.epochs: missing value (expected an integer >= 1)"},
    {"boolean", LAYERS("    - Conv2D: {filters: 3, kernel_size: 3, use_bias: yes}\n"),
     "use_bias: 'yes' is not a boolean (expected true or false)"},
    {"threads too many", MODEL "train:\n  threads: 100000\n",
     "train.threads: 100000 is out of range (expected an integer in [0, 1024])"},

    /* Duplicates. */
    {"duplicate key", MODEL "train:\n  epochs: 1\n  epochs: 2\n",
     "cfg.yaml:8:3: train.epochs: duplicate key (first given at 7:3; expected each key once)"},
    {"duplicate section", MODEL "train: {}\ntrain: {}\n",
     "cfg.yaml:7:1: train: duplicate key (first given at 6:1"},
    {"duplicate layer name",
     LAYERS("    - Conv2D: {name: a, filters: 3, kernel_size: 3}\n    - Conv2D: {name: a, filters: "
            "3, kernel_size: 3}\n"),
     "cfg.yaml:5:22: model.layers[1].Conv2D.name: duplicate layer name 'a' (layers[0] at 4:7 has "
     "it too"},
    {"name taken by a default", LAYERS("    - Flatten\n    - Dense: {units: 3, name: flatten}\n"),
     "duplicate layer name 'flatten' (layers[0] at 4:7 has it as its default name"},

    /* Graph references. */
    {"unknown input name",
     LAYERS("    - Conv2D: {name: conv_a, filters: 3, kernel_size: 3}\n    - Add: {inputs: "
            "[conv_a, conv_b]}\n"),
     "cfg.yaml:5:30: model.layers[1].Add.inputs[1]: no layer named 'conv_b' (did you mean "
     "'conv_a'?)"},
    {"unknown input, no match", LAYERS("    - Flatten: {inputs: [zzzzzzzz]}\n"),
     "model.layers[0].Flatten.inputs[0]: no layer named 'zzzzzzzz' (expected 'input' or the name "
     "of an earlier layer)"},
    {"forward reference",
     LAYERS("    - Add: {inputs: [input, later]}\n    - Conv2D: {name: later, filters: 1, "
            "kernel_size: 1}\n"),
     "cfg.yaml:4:29: model.layers[0].Add.inputs[1]: 'later' is layers[1], declared after this "
     "layer at 5:7"},
    {"self reference", LAYERS("    - Flatten: {name: me, inputs: me}\n"),
     "model.layers[0].Flatten.inputs: 'me' is this layer itself"},
    {"Add with one input", LAYERS("    - Flatten\n    - Add: {inputs: [flatten]}\n"),
     "cfg.yaml:5:21: model.layers[1].Add.inputs: Add has 1 input (expected 2 to 8 layer names)"},
    {"Add without inputs", LAYERS("    - Add: {}\n"),
     "model.layers[0].Add: missing required argument 'inputs'"},
    {"two inputs to Dense",
     LAYERS("    - Flatten\n    - Dense: {units: 2, inputs: [input, flatten]}\n"),
     "model.layers[1].Dense.inputs: Dense takes one input, got 2"},
    {"reserved name", LAYERS("    - Flatten: {name: input}\n"),
     "'input' is reserved for the model input"},
    {"name with slash", LAYERS("    - Flatten: {name: a/b}\n"), "name 'a/b' has the byte 0x2f (expected ASCII letters, digits"},

    /* Activation rules. */
    {"softmax not last",
     LAYERS(
         "    - Flatten\n    - Dense: {units: 10, activation: softmax}\n    - Dense: {units: 2}\n"),
     "cfg.yaml:5:38: model.layers[1].Dense.activation: softmax on layers[1] 'dense', which is not "
     "a model output"},
    {"relu max_value 0", LAYERS("    - ReLU: {max_value: 0}\n"),
     "cfg.yaml:4:25: model.layers[0].ReLU.max_value: 0 is out of range (expected a number > 0)"},
    {"causal on a 2-D conv", LAYERS("    - Conv2D: {filters: 2, kernel_size: 3, padding: causal}\n"),
     "cfg.yaml:4:53: model.layers[0].Conv2D.padding: padding 'causal' is Conv1D's only (as in Keras)"},
    {"relu threshold negative", LAYERS("    - ReLU: {threshold: -0.5}\n"),
     "cfg.yaml:4:25: model.layers[0].ReLU.threshold: -0.5 is out of range (expected a number >= 0)"},
    {"unknown activation", LAYERS("    - Flatten\n    - Dense: {units: 2, activation: mish}\n"),
     "activation: unknown value 'mish' (expected one of: linear, relu, relu6, softmax, sigmoid, tanh, silu, "
     "hard_sigmoid, hard_silu, leaky_relu, elu, swish, hard_swish)"},
    {"activation case", LAYERS("    - Flatten\n    - Dense: {units: 2, activation: Relu}\n"),
     "unknown value 'Relu' (did you mean 'relu'?"},
    {"padding typo", LAYERS("    - Conv2D: {filters: 1, kernel_size: 1, padding: Same}\n"),
     "padding: unknown value 'Same' (did you mean 'same'?"},

    /* Wrong node types and shapes of values. */
    {"model is a list", "model: [1, 2]\n",
     "cfg.yaml:1:8: model: wrong type: got a list (expected a mapping)"},
    {"layers is a mapping", "model:\n  input: [1, 1, 1]\n  layers: {Dense: {units: 1}}\n",
     "cfg.yaml:3:11: model.layers: wrong type: got a mapping (expected a list of layers)"},
    {"input is a scalar", "model:\n  input: 28\n  layers: [Flatten]\n",
     "model.input: wrong type: got '28' (expected [height, width, channels], a sequence [steps, channels] or a vector [features])"},
    {"input of rank 4", "model:\n  input: [1, 28, 28, 1]\n  layers: [Flatten]\n",
     "cfg.yaml:2:10: model.input: got a list of 4 (expected [height, width, channels], a sequence [steps, "
     "channels] or a vector [features])"},
    {"kernel_size mapping", LAYERS("    - Conv2D: {filters: 1, kernel_size: {a: 1}}\n"),
     "kernel_size: wrong type: got a mapping (expected an integer >= 1 or a list of 2 integers)"},
    {"kernel_size of 3", LAYERS("    - Conv2D: {filters: 1, kernel_size: [3, 3, 3]}\n"),
     "kernel_size: got a list of 3 (expected an integer >= 1 or a list of 2 integers)"},
    {"layer item with two keys", LAYERS("    - {Flatten: {}, Dense: {units: 1}}\n"),
     "model.layers[0]: got a mapping with 2 keys (expected a one-key mapping"},
    {"layer item is a list", LAYERS("    - [Flatten]\n"),
     "model.layers[0]: wrong type: got a list (expected a one-key"},
    {"layer args a list", LAYERS("    - Dense: [10]\n"),
     "model.layers[0].Dense: wrong type: got a list (expected a mapping of layer arguments)"},
    {"top level is a list", "- model\n",
     "cfg.yaml:1:1: (top level): wrong type: got a list (expected a mapping"},
    {"top level is a scalar", "hello\n", "(top level): wrong type: got 'hello'"},
    {"empty layer list", "model:\n  input: [1, 1, 1]\n  layers: []\n",
     "model.layers: empty list (expected at least one layer)"},
    {"two -1 in target_shape", LAYERS("    - Reshape: {target_shape: [-1, -1]}\n"),
     "target_shape[1]: a second -1 (expected at most one inferred dimension)"},
    {"missing model", "train: {epochs: 1}\n", "cfg.yaml:1:1: model: missing section"},
    {"missing layers", "model:\n  input: [1, 1, 1]\n", "cfg.yaml:2:3: model: missing key 'layers'"},
    {"non-scalar key", MODEL "train:\n  [a]: 1\n",
     "cfg.yaml:7:3: train: bad key: got a list (expected a key name)"},

    /* Optimizer, schedule, data kinds. */
    {"momentum for adam", MODEL "train:\n  optimizer: {name: adam, momentum: 0.9}\n",
     "train.optimizer.momentum: 'momentum' does not apply to optimizer adam (expected one of: "
     "name, learning_rate, "
     "beta_1, beta_2, epsilon, weight_decay, clipnorm)"},
    {"optimizer without name", MODEL "train:\n  optimizer: {learning_rate: 0.1}\n",
     "cfg.yaml:7:14: train.optimizer: missing key 'name' (expected one of: sgd, adam, adamw)"},
    {"unknown optimizer", MODEL "train:\n  optimizer: rmsprop\n",
     "train.optimizer: unknown value 'rmsprop' (expected one of: sgd, adam, adamw)"},
    {"step without step_size", MODEL "train:\n  schedule: {name: step}\n",
     "train.schedule: missing key 'step_size' (expected it for schedule step)"},
    {"alpha for step", MODEL "train:\n  schedule: {name: step, step_size: 10, alpha: 0.1}\n",
     "'alpha' does not apply to schedule step"},
    {"dataset typo", MODEL "data: {dataset: fashion_mnist}\n",
     "cfg.yaml:6:17: data.dataset: unknown value 'fashion_mnist' (did you mean 'fashion-mnist'?"},
    {"idx missing path",
     MODEL "data: {dataset: idx, train_images: a, train_labels: b, test_images: c}\n",
     "cfg.yaml:6:7: data: missing key 'test_labels' (expected it for dataset idx)"},
    {"cifar with idx path", MODEL "data: {dataset: cifar10, train_images: a}\n",
     "data.train_images: 'train_images' does not apply to dataset cifar10"},
    {"cifar files not a list",
     MODEL "data: {dataset: cifar10, train_files: a.bin, test_file: t.bin}\n",
     "data.train_files: wrong type: got 'a.bin' (expected a list of CIFAR-10 batch files)"},
    {"cifar too many files",
     MODEL "data: {dataset: cifar10, test_file: t, train_files: [a, b, c, d, e, f, g, h, i]}\n",
     "data.train_files: got a list of 9 (expected 1 to 8 batch files)"},
    {"empty path",
     MODEL
     "data: {dataset: idx, train_images: '', train_labels: b, test_images: c, test_labels: d}\n",
     "data.train_images: missing value (expected a non-empty string)"},
    {"data without dataset", MODEL "data: {limit_train: 10}\n", "data: missing key 'dataset'"},

    /* Malformed YAML and file-level problems. */
    {"unclosed flow list", "model:\n  input: [1, 1\n",
     "cfg.yaml:3:1: invalid YAML: did not find expected ',' or ']'"},
    {"bad indentation", "model:\n  input: [1, 1, 1]\n layers: []\n", "cfg.yaml:3:2: invalid YAML:"},
    {"tab indentation", "model:\n\tinput: [1, 1, 1]\n",
     "cfg.yaml:2:1: invalid YAML: found character that cannot start any token"},
    {"invalid UTF-8", "model:\n  input: [1, 1, 1]\n  layers: [Fla\xff]\n",
     "cfg.yaml:3:15: invalid YAML: invalid leading UTF-8 octet (byte 0xff; expected UTF-8 text)"},
    {"alias", "a: &x {b: 1}\nmodel: *x\n",
     "cfg.yaml:2:8: invalid config: YAML aliases (*x) are not supported"},
    {"tag", "model: !!str x\n",
     "cfg.yaml:1:8: invalid config: explicit YAML tags (tag:yaml.org,2002:str) are not supported"},
    /* data.augment: Keras preprocessing layers */
    {"augment layer typo", MODEL "data:\n  dataset: fashion-mnist\n  augment:\n    - RandomFlipp: {}\n",
     "cfg.yaml:9:7: data.augment[0]: unknown value 'RandomFlipp' (did you mean 'RandomFlip'?"},
    {"augment missing factor", MODEL "data:\n  dataset: fashion-mnist\n  augment:\n    - RandomRotation: {}\n",
     "data.augment[0].RandomRotation: missing key 'factor'"},
    {"augment argument of another layer", MODEL "data:\n  dataset: fashion-mnist\n  augment: [RandomFlip: {factor: 0.1}]\n",
     "data.augment[0].RandomFlip.factor: 'factor' does not apply to RandomFlip (expected one of: mode)"},
    {"augment twice", MODEL "data:\n  dataset: fashion-mnist\n  augment: [RandomFlip, RandomFlip]\n",
     "data.augment[1].RandomFlip: appears twice"},
    {"augment fill modes disagree", MODEL "data:\n  dataset: fashion-mnist\n  augment:\n"
     "    - RandomRotation: {factor: 0.1, fill_mode: constant}\n    - RandomZoom: {height_factor: 0.1, fill_mode: wrap}\n",
     "cfg.yaml:10:51: data.augment[1].RandomZoom.fill_mode: 'wrap', but line 9 says 'constant'"},
    {"augment with the older keys", MODEL "data:\n  dataset: fashion-mnist\n  horizontal_flip: true\n  augment: [RandomFlip]\n",
     "data.augment: give either augment or the older random_crop / horizontal_flip keys"},
    {"augment crop larger than the input", MODEL "data:\n  dataset: fashion-mnist\n  augment: [RandomCrop: {height: 29, width: 20}]\n",
     "data.augment: RandomCrop 29x20 is larger than the 28x28 input"},
    {"augment factor out of range", MODEL "data:\n  dataset: fashion-mnist\n  augment: [RandomContrast: {factor: 1.5}]\n",
     "data.augment[0].RandomContrast.factor: 1.5 is out of range"},
    {"augment reversed range", MODEL "data:\n  dataset: fashion-mnist\n  augment: [RandomTranslation: {height_factor: [0.2, -0.1], width_factor: 0}]\n",
     "data.augment[0].RandomTranslation.height_factor: lower 0.2 is above upper -0.1"},
    {"augment not a list", MODEL "data:\n  dataset: fashion-mnist\n  augment: {RandomFlip: {}}\n",
     "cfg.yaml:8:12: data.augment: wrong type: got a mapping (expected a list of Keras preprocessing layers"},
    {"two documents", MODEL "---\nmodel: {}\n",
     "cfg.yaml:6:1: invalid config: a second YAML document"},
    {"empty text", "", "cfg.yaml: empty file (expected a YAML config)"},
    {"comments only", "# nothing here\n\n",
     "cfg.yaml: (top level): no YAML document, only comments or blank lines"},
};

/* Reports every failing row, not just the first, so one run shows the whole picture. */
static void test_bad_configs(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *b = &bad_cases[i];
    qat_config cfg;
    qat_error_clear();
    int rc = parse(b->text, &cfg);
    const char *msg = qat_error_message();
    if (rc != QAT_ERR_USAGE) {
      print_error("case '%s': rc %d (expected QAT_ERR_USAGE), message: %s\n", b->what, rc, msg);
      failures++;
    } else if (!strstr(msg, b->expect)) {
      print_error("case '%s':\n  message: %s\n  expected to contain: %s\n", b->what, msg,
                  b->expect);
      failures++;
    } else if (strchr(msg, '\n')) {
      print_error("case '%s': message is not one line: %s\n", b->what, msg);
      failures++;
    }
    if (!is_zero(&cfg, sizeof cfg)) {
      print_error("case '%s': config not zeroed after failure\n", b->what);
      failures++;
    }
    qat_config_free(&cfg); /* must be harmless */
  }
  assert_int_equal(failures, 0);
}

static void expect_parse_error(const char *text, size_t len, const char *expect) {
  qat_config cfg;
  int rc = qat_config_parse(text, len, SRC, &cfg);
  assert_int_equal(rc, QAT_ERR_USAGE);
  if (!strstr(qat_error_message(), expect))
    fail_msg("message: %s\nexpected: %s", qat_error_message(), expect);
  assert_true(is_zero(&cfg, sizeof cfg));
}

/* Cases the table cannot hold: embedded NULs, sizes, depth. */
static void test_bad_bytes(void **state) {
  (void)state;
  static const char nul[] = "model:\n  in\0put: [1, 1, 1]\n";
  expect_parse_error(nul, sizeof nul - 1,
                     "cfg.yaml:2:5: NUL byte at offset 11 (expected UTF-8 text");
  /* UTF-16 is refused by the same check rather than decoded. */
  static const char utf16[] = "\xff\xfem\0o\0d\0";
  expect_parse_error(utf16, sizeof utf16 - 1, "NUL byte");

  size_t big = QAT_CONFIG_MAX_BYTES + 1;
  char *text = malloc(big);
  assert_non_null(text);
  memset(text, '#', big);
  expect_parse_error(
      text, big, "cfg.yaml: file is 1048577 bytes (expected a config of at most 1048576 bytes)");

  /* Deep nesting stops at the cap instead of exhausting the stack. */
  size_t depth = 100000, n = 0;
  char *deep = malloc(2 * depth + 16);
  assert_non_null(deep);
  n += (size_t)sprintf(deep, "model: ");
  for (size_t i = 0; i < depth; i++)
    deep[n++] = '[';
  for (size_t i = 0; i < depth; i++)
    deep[n++] = ']';
  deep[n] = '\0';
  expect_parse_error(deep, n, "invalid config: nesting deeper than 64 levels");
  free(deep);

  /* One very long line is fine as long as the file fits. */
  n = 0;
  n += (size_t)sprintf(text, "model:\n  input: [1, 1, 1]\n  layers:\n    - Flatten: {name: ");
  memset(text + n, 'x', 200000);
  n += 200000;
  n += (size_t)sprintf(text + n, "}\n");
  expect_parse_error(
      text, n,
      "model.layers[0].Flatten.name: name is 200000 characters long (expected at most 63)");
  free(text);

  /* Escapes in a quoted scalar can put a NUL inside a string value. */
  static const char esc[] = LAYERS("    - Flatten: {name: \"a\\0b\"}\n");
  expect_parse_error(esc, sizeof esc - 1, "string contains a NUL character");
  /* And newlines into a message, which must stay one line. */
  static const char nl[] = LAYERS("    - \"Fla\\ntten\"\n");
  expect_parse_error(nl, sizeof nl - 1, "unknown layer type 'Fla\\ntten'");
  assert_null(strchr(qat_error_message(), '\n'));
}

static const char sample[] = "model:\n"
                             "  input: [28, 28, 1]\n"
                             "  layers:\n"
                             "    - Conv2D: {filters: 32, kernel_size: 3, activation: relu}\n"
                             "    - MaxPooling2D: {pool_size: 2}\n"
                             "    - Dropout: {rate: 0.25}\n"
                             "    - Flatten: {}\n"
                             "    - Dense: {units: 10}\n"
                             "data: {dataset: fashion-mnist}     # or idx, cifar10\n"
                             "train: {epochs: 1, batch_size: 64, seed: 1, threads: 0,\n"
                             "        optimizer: {name: adam, learning_rate: 0.001, beta_1: 0.9, "
                             "beta_2: 0.999, epsilon: 1e-7, weight_decay: 0, "
                             "clipnorm: 0},\n"
                             "        schedule: {name: cosine, warmup_steps: 100, alpha: 0.0}}\n";

/* Every field not named in the layer's arguments keeps the spec.h default. */
static void assert_layer_defaults_except(const qat_layer_spec *L, const char *given) {
#define GIVEN(s) (strstr(given, s) != NULL)
  if (!GIVEN("filters")) assert_int_equal(L->filters, 0);
  if (!GIVEN("units")) assert_int_equal(L->units, 0);
  if (!GIVEN("depth_multiplier")) assert_int_equal(L->depth_multiplier, 1);
  if (!GIVEN("kernel_size")) {
    assert_int_equal(L->kernel_size[0], 0);
    assert_int_equal(L->kernel_size[1], 0);
  }
  if (!GIVEN("strides") && L->type != QAT_LAYER_MAX_POOL2D && L->type != QAT_LAYER_AVG_POOL2D) {
    assert_int_equal(L->strides[0], 1);
    assert_int_equal(L->strides[1], 1);
  }
  if (!GIVEN("pool_size")) {
    assert_int_equal(L->pool_size[0], 2);
    assert_int_equal(L->pool_size[1], 2);
  }
  if (!GIVEN("padding")) assert_int_equal(L->padding, QAT_PADDING_VALID);
  if (!GIVEN("activation")) assert_int_equal(L->activation, QAT_ACTIVATION_LINEAR);
  if (!GIVEN("use_bias")) assert_int_equal(L->use_bias, 1);
  if (!GIVEN("rate")) assert_feq(L->rate, 0);
  if (!GIVEN("momentum")) assert_feq(L->momentum, 0.99f);
  if (!GIVEN("epsilon")) assert_feq(L->epsilon, 1e-3f);
  if (!GIVEN("max_value")) assert_feq(L->max_value, 0);
  if (!GIVEN("target_shape")) {
    assert_int_equal(L->target_rank, 0);
    assert_true(is_zero(L->target_shape, sizeof L->target_shape));
  }
#undef GIVEN
}

static void assert_layer(const qat_layer_spec *L, qat_layer_type type, const char *name, int input,
                         int line, int column) {
  assert_int_equal(L->type, type);
  assert_string_equal(L->name, name);
  assert_int_equal(L->n_inputs, 1);
  assert_int_equal(L->inputs[0], input);
  assert_int_equal(L->line, line);
  assert_int_equal(L->column, column);
}

static void test_sample(void **state) {
  (void)state;
  qat_config cfg;
  int rc = parse(sample, &cfg);
  if (rc) fail_msg("%s", qat_error_message());
  assert_string_equal(cfg.path, SRC);
  assert_ptr_equal(cfg.model.source, cfg.path);
  assert_string_equal(cfg.text, sample);

  const qat_model_spec *m = &cfg.model;
  assert_int_equal(m->input_shape[0], 28);
  assert_int_equal(m->input_shape[1], 28);
  assert_int_equal(m->input_shape[2], 1);
  assert_int_equal(m->n_layers, 5);
  const qat_layer_spec *L = m->layers;

  assert_layer(&L[0], QAT_LAYER_CONV2D, "conv2d", -1, 4, 7);
  assert_int_equal(L[0].filters, 32);
  assert_int_equal(L[0].kernel_size[0], 3);
  assert_int_equal(L[0].kernel_size[1], 3);
  assert_int_equal(L[0].activation, QAT_ACTIVATION_RELU);
  assert_layer_defaults_except(&L[0], "filters kernel_size activation");

  assert_layer(&L[1], QAT_LAYER_MAX_POOL2D, "max_pooling2d", 0, 5, 7);
  assert_int_equal(L[1].pool_size[0], 2);
  assert_int_equal(L[1].strides[0], 2); /* defaults to pool_size */
  assert_int_equal(L[1].strides[1], 2);
  assert_layer_defaults_except(&L[1], "pool_size");

  assert_layer(&L[2], QAT_LAYER_DROPOUT, "dropout", 1, 6, 7);
  assert_feq(L[2].rate, 0.25f);
  assert_layer_defaults_except(&L[2], "rate");

  assert_layer(&L[3], QAT_LAYER_FLATTEN, "flatten", 2, 7, 7);
  assert_layer_defaults_except(&L[3], "");

  assert_layer(&L[4], QAT_LAYER_DENSE, "dense", 3, 8, 7);
  assert_int_equal(L[4].units, 10);
  assert_layer_defaults_except(&L[4], "units");

  const qat_data_spec *d = &cfg.data;
  assert_int_equal(d->kind, QAT_DATASET_FASHION_MNIST);
  assert_null(d->train_images);
  assert_null(d->train_labels);
  assert_null(d->test_images);
  assert_null(d->test_labels);
  assert_int_equal(d->n_train_files, 0);
  assert_null(d->test_file);
  assert_feq(d->validation_split, 0);
  assert_int_equal(d->random_crop, 0);
  assert_int_equal(d->horizontal_flip, 0);
  assert_int_equal(d->limit_train, 0);
  assert_int_equal(d->limit_test, 0);

  const qat_train_spec *t = &cfg.train;
  assert_int_equal(t->epochs, 1);
  assert_int_equal(t->batch_size, 64);
  assert_true(t->seed == 1);
  assert_int_equal(t->threads, 0);
  assert_int_equal(t->optimizer.kind, QAT_OPT_ADAM);
  assert_feq(t->optimizer.learning_rate, 0.001f);
  assert_feq(t->optimizer.beta_1, 0.9f);
  assert_feq(t->optimizer.beta_2, 0.999f);
  assert_feq(t->optimizer.epsilon, 1e-7f);
  assert_feq(t->optimizer.weight_decay, 0);
  assert_feq(t->optimizer.clipnorm, 0);
  assert_feq(t->optimizer.momentum, 0);
  assert_int_equal(t->optimizer.nesterov, 0);
  assert_int_equal(t->schedule.kind, QAT_SCHED_COSINE);
  assert_int_equal(t->schedule.warmup_steps, 100);
  assert_feq(t->schedule.alpha, 0);
  assert_feq(t->schedule.gamma, 0.1f);
  assert_int_equal(t->schedule.step_size, 0);

  qat_config_free(&cfg);
  assert_true(is_zero(&cfg, sizeof cfg));
  qat_config_free(&cfg);
}

/* Only a model: data and train take every default. */
static void test_minimal_defaults(void **state) {
  (void)state;
  qat_config cfg;
  if (qat_config_parse(MODEL, strlen(MODEL), NULL, &cfg)) fail_msg("%s", qat_error_message());
  assert_null(cfg.path);
  assert_null(cfg.model.source);
  assert_int_equal(cfg.data.kind, QAT_DATASET_FASHION_MNIST);
  assert_int_equal(cfg.train.epochs, 1);
  assert_int_equal(cfg.train.batch_size, 32);
  assert_true(cfg.train.seed == 1);
  assert_int_equal(cfg.train.threads, 0);
  assert_int_equal(cfg.train.optimizer.kind, QAT_OPT_ADAM);
  assert_feq(cfg.train.optimizer.learning_rate, 0.001f);
  assert_feq(cfg.train.optimizer.epsilon, 1e-7f);
  assert_int_equal(cfg.train.schedule.kind, QAT_SCHED_CONSTANT);
  assert_int_equal(cfg.train.schedule.warmup_steps, 0);
  qat_config_free(&cfg);

  /* quantize: ranges seeded by 8 batches, batch norm "auto" (frozen from the start for weights
   * from a file); both overridable */
  const char *q = MODEL "quantize: {mode: qat}\n";
  if (qat_config_parse(q, strlen(q), NULL, &cfg)) fail_msg("%s", qat_error_message());
  assert_true(cfg.model.quantize.calibrate == QAT_CALIBRATE_DEFAULT_BATCHES);
  assert_true(cfg.model.quantize.freeze_bn_after == QAT_FREEZE_BN_AUTO);
  assert_true(cfg.model.quantize.ema_warmup == 1); /* the EMA's warm-up, on by default */
  qat_config_free(&cfg);
  q = MODEL "quantize: {mode: qat, activations: {decay: 0.99, warmup: false}}\n";
  if (qat_config_parse(q, strlen(q), NULL, &cfg)) fail_msg("%s", qat_error_message());
  assert_true(cfg.model.quantize.ema_warmup == 0);
  qat_config_free(&cfg);
  q = MODEL "quantize: {mode: qat, calibrate: 0, freeze_bn_after: start}\n";
  if (qat_config_parse(q, strlen(q), NULL, &cfg)) fail_msg("%s", qat_error_message());
  assert_true(cfg.model.quantize.calibrate == 0);
  assert_true(cfg.model.quantize.freeze_bn_after == QAT_FREEZE_BN_START);
  qat_config_free(&cfg);
  q = MODEL "quantize: {mode: qat, calibrate: 3, freeze_bn_after: 0}\n";
  if (qat_config_parse(q, strlen(q), NULL, &cfg)) fail_msg("%s", qat_error_message());
  assert_true(cfg.model.quantize.calibrate == 3 && cfg.model.quantize.freeze_bn_after == 0);
  qat_config_free(&cfg);
  q = MODEL "quantize: {mode: qat, freeze_bn_after: later}\n";
  assert_int_equal(qat_config_parse(q, strlen(q), NULL, &cfg), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "quantize.freeze_bn_after"));

  /* Without a source name, messages still say where. */
  assert_int_equal(qat_config_parse("model: 1\n", 9, NULL, &cfg), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "<config>:1:8: model: wrong type"));
}

static void test_kernel_size_forms(void **state) {
  (void)state;
  static const char text[] = LAYERS(
      "    - Conv2D: {filters: 8, kernel_size: 5, strides: [2, 1], padding: same}\n"
      "    - Conv2D: {filters: 8, kernel_size: [3, 1], strides: 2, use_bias: false}\n"
      "    - DepthwiseConv2D: {kernel_size: [1, 3], depth_multiplier: 2, activation: relu6}\n"
      "    - AveragePooling2D: {pool_size: [3, 2], strides: 1, padding: same}\n"
      "    - MaxPool2D: {pool_size: 3}\n");
  qat_config cfg;
  if (parse(text, &cfg)) fail_msg("%s", qat_error_message());
  const qat_layer_spec *L = cfg.model.layers;
  assert_int_equal(cfg.model.n_layers, 5);
  assert_int_equal(L[0].kernel_size[0], 5);
  assert_int_equal(L[0].kernel_size[1], 5);
  assert_int_equal(L[0].strides[0], 2);
  assert_int_equal(L[0].strides[1], 1);
  assert_int_equal(L[0].padding, QAT_PADDING_SAME);
  assert_int_equal(L[1].kernel_size[0], 3);
  assert_int_equal(L[1].kernel_size[1], 1);
  assert_int_equal(L[1].strides[0], 2);
  assert_int_equal(L[1].strides[1], 2);
  assert_int_equal(L[1].use_bias, 0);
  assert_string_equal(L[1].name, "conv2d_1");
  assert_int_equal(L[2].type, QAT_LAYER_DEPTHWISE_CONV2D);
  assert_int_equal(L[2].kernel_size[0], 1);
  assert_int_equal(L[2].kernel_size[1], 3);
  assert_int_equal(L[2].depth_multiplier, 2);
  assert_int_equal(L[2].activation, QAT_ACTIVATION_RELU6);
  assert_string_equal(L[2].name, "depthwise_conv2d");
  assert_int_equal(L[3].pool_size[0], 3);
  assert_int_equal(L[3].pool_size[1], 2);
  assert_int_equal(L[3].strides[0], 1);
  assert_int_equal(L[3].strides[1], 1);
  assert_int_equal(L[3].padding, QAT_PADDING_SAME);
  /* Keras' alias maps onto the same class and default name. */
  assert_int_equal(L[4].type, QAT_LAYER_MAX_POOL2D);
  assert_string_equal(L[4].name, "max_pooling2d");
  assert_int_equal(L[4].strides[0], 3);
  assert_int_equal(L[4].strides[1], 3);
  qat_config_free(&cfg);
}

/* A sequence model: input [steps, channels] held as [1, T, C]; a 1-D layer's sizes are one number
 * or a list of one, on the width axis; its pool strides default to its pool size. */
static void test_sequence_layers(void **state) {
  (void)state;
  static const char text[] = "model:\n  input: [49, 10]\n  layers:\n"
                             "    - Conv1D: {filters: 8, kernel_size: 5, strides: [2], dilation_rate: 1, padding: causal}\n"
                             "    - DepthwiseConv1D: {kernel_size: [3], padding: same}\n"
                             "    - SeparableConv1D: {filters: 4, kernel_size: 3, dilation_rate: 2}\n"
                             "    - MaxPooling1D: {}\n"
                             "    - AveragePooling1D: {pool_size: 3, strides: 1}\n"
                             "    - GlobalAveragePooling1D: {keepdims: true}\n"
                             "    - Dense: {units: 3}\n"
                             "    - UpSampling1D: {size: [3]}\n"
                             "    - UpSampling1D\n";
  qat_config cfg;
  if (parse(text, &cfg)) fail_msg("%s", qat_error_message());
  const qat_layer_spec *L = cfg.model.layers;
  assert_int_equal(qat_spec_input_rank(&cfg.model), 2);
  assert_memory_equal(cfg.model.input_shape, ((int[]){1, 49, 10}), 3 * sizeof(int));
  assert_int_equal(L[0].type, QAT_LAYER_CONV1D);
  assert_string_equal(L[0].name, "conv1d");
  assert_memory_equal(L[0].kernel_size, ((int[]){1, 5}), 2 * sizeof(int));
  assert_memory_equal(L[0].strides, ((int[]){1, 2}), 2 * sizeof(int));
  assert_int_equal(L[0].padding, QAT_PADDING_CAUSAL);
  assert_memory_equal(L[1].kernel_size, ((int[]){1, 3}), 2 * sizeof(int));
  assert_memory_equal(L[2].dilation_rate, ((int[]){1, 2}), 2 * sizeof(int));
  assert_memory_equal(L[3].pool_size, ((int[]){1, 2}), 2 * sizeof(int));
  assert_memory_equal(L[3].strides, ((int[]){1, 2}), 2 * sizeof(int));
  assert_memory_equal(L[4].pool_size, ((int[]){1, 3}), 2 * sizeof(int));
  assert_memory_equal(L[4].strides, ((int[]){1, 1}), 2 * sizeof(int));
  assert_int_equal(qat_layer_op_type(&L[5]), QAT_LAYER_GLOBAL_AVG_POOL2D);
  assert_int_equal(qat_layer_keras_rank(&cfg.model, 5), 2); /* keepdims: [1, C] */
  assert_int_equal(qat_layer_keras_rank(&cfg.model, 6), 2);
  assert_int_equal(qat_layer_op_type(&L[7]), QAT_LAYER_UP_SAMPLING2D);
  assert_memory_equal(L[7].size, ((int[]){1, 3}), 2 * sizeof(int));
  assert_memory_equal(L[8].size, ((int[]){1, 2}), 2 * sizeof(int)); /* Keras's default 2 */
  qat_config_free(&cfg);
  /* a vector input; a 2-D size on a 1-D layer is refused */
  if (parse("model:\n  input: [20]\n  layers:\n    - Dense: {units: 2}\n", &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(qat_spec_input_rank(&cfg.model), 1);
  assert_memory_equal(cfg.model.input_shape, ((int[]){1, 1, 20}), 3 * sizeof(int));
  qat_config_free(&cfg);
  assert_int_equal(parse("model:\n  input: [9, 2]\n  layers:\n    - Conv1D: {filters: 2, kernel_size: [3, 3]}\n", &cfg),
                   QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "expected an integer >= 1 or a list of 1 integer (a 1-D layer)"));
}

static void test_add_and_other_layers(void **state) {
  (void)state;
  static const char text[] =
      LAYERS("    - Conv2D: {name: conv_a, filters: 4, kernel_size: 3, padding: same}\n"
             "    - Conv2D: {name: conv_b, filters: 4, kernel_size: 1, inputs: [input]}\n"
             "    - Add: {name: sum, inputs: [conv_a, conv_b]}\n"
             "    - BatchNormalization: {momentum: 0.9, epsilon: 0.001}\n"
             "    - ReLU: {max_value: 6}\n"
             "    - ReLU: {max_value: 2.5}\n"
             "    - Add: {inputs: [sum, re_lu_1, input]}\n"
             "    - GlobalAveragePooling2D\n"
             "    - Reshape: {target_shape: [2, -1]}\n"
             "    - Flatten: {inputs: reshape}\n"
             "    - Dense: {units: 10, activation: None}\n"
             "    - Activation: {activation: softmax}\n");
  qat_config cfg;
  if (parse(text, &cfg)) fail_msg("%s", qat_error_message());
  const qat_layer_spec *L = cfg.model.layers;
  assert_int_equal(cfg.model.n_layers, 12);
  assert_string_equal(L[0].name, "conv_a");
  assert_int_equal(L[0].inputs[0], -1);
  assert_int_equal(L[1].inputs[0], -1);
  assert_int_equal(L[2].type, QAT_LAYER_ADD);
  assert_string_equal(L[2].name, "sum");
  assert_int_equal(L[2].n_inputs, 2);
  assert_int_equal(L[2].inputs[0], 0);
  assert_int_equal(L[2].inputs[1], 1);
  assert_int_equal(L[2].line, 6);
  assert_int_equal(L[2].column, 7);
  assert_string_equal(L[3].name, "batch_normalization");
  assert_feq(L[3].momentum, 0.9f);
  assert_feq(L[3].epsilon, 0.001f);
  assert_int_equal(L[3].inputs[0], 2);
  assert_string_equal(L[4].name, "re_lu");
  assert_feq(L[4].max_value, 6);
  assert_string_equal(L[5].name, "re_lu_1");
  assert_feq(L[5].max_value, 2.5f);
  assert_string_equal(L[6].name, "add");
  assert_int_equal(L[6].n_inputs, 3);
  assert_int_equal(L[6].inputs[0], 2);
  assert_int_equal(L[6].inputs[1], 5);
  assert_int_equal(L[6].inputs[2], -1);
  assert_string_equal(L[7].name, "global_average_pooling2d");
  assert_int_equal(L[8].target_rank, 2);
  assert_int_equal(L[8].target_shape[0], 2);
  assert_int_equal(L[8].target_shape[1], -1);
  assert_int_equal(L[8].target_shape[2], 0);
  assert_int_equal(L[9].n_inputs, 1);
  assert_int_equal(L[9].inputs[0], 8);
  assert_int_equal(L[10].activation, QAT_ACTIVATION_LINEAR);
  assert_int_equal(L[11].type, QAT_LAYER_ACTIVATION);
  assert_int_equal(L[11].activation, QAT_ACTIVATION_SOFTMAX);
  assert_string_equal(L[11].name, "activation");
  qat_config_free(&cfg);
}

static void test_default_names(void **state) {
  (void)state;
  /* Counters run per stem; a name already taken by an earlier layer is skipped. */
  static const char text[] = LAYERS("    - Conv2D: {filters: 1, kernel_size: 1, name: conv2d_1}\n"
                                    "    - Conv2D: {filters: 1, kernel_size: 1}\n"
                                    "    - Conv2D: {filters: 1, kernel_size: 1}\n"
                                    "    - Dense: {units: 3}\n"
                                    "    - Conv2D: {filters: 1, kernel_size: 1}\n"
                                    "    - Dense: {units: 3}\n"
                                    "    - Dropout: {rate: 0}\n"
                                    "    - Dense: {units: 3, name: my.dense-1}\n");
  static const char *const want[] = {"conv2d_1", "conv2d",  "conv2d_2", "dense",
                                     "conv2d_3", "dense_1", "dropout",  "my.dense-1"};
  qat_config cfg;
  if (parse(text, &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.model.n_layers, 8);
  for (int i = 0; i < 8; i++) {
    assert_string_equal(cfg.model.layers[i].name, want[i]);
    assert_int_equal(cfg.model.layers[i].inputs[0], i - 1);
    assert_int_equal(cfg.model.layers[i].line, 4 + i);
  }
  qat_config_free(&cfg);
}

static void test_data_sections(void **state) {
  (void)state;
  static const char idx[] = MODEL "data:\n"
                                  "  dataset: idx\n"
                                  "  train_images: /d/train-images-idx3-ubyte.gz\n"
                                  "  train_labels: /d/train-labels-idx1-ubyte.gz\n"
                                  "  test_images: 't10k images'\n"
                                  "  test_labels: \"t10k-labels\"\n"
                                  "  validation_split: 0.1\n"
                                  "  limit_train: 1000\n"
                                  "  limit_test: 0\n";
  qat_config cfg;
  if (parse(idx, &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.data.kind, QAT_DATASET_IDX);
  assert_string_equal(cfg.data.train_images, "/d/train-images-idx3-ubyte.gz");
  assert_string_equal(cfg.data.train_labels, "/d/train-labels-idx1-ubyte.gz");
  assert_string_equal(cfg.data.test_images, "t10k images");
  assert_string_equal(cfg.data.test_labels, "t10k-labels");
  assert_feq(cfg.data.validation_split, 0.1f);
  assert_int_equal(cfg.data.limit_train, 1000);
  assert_int_equal(cfg.data.n_train_files, 0);
  qat_config_free(&cfg);

  static const char cifar[] = MODEL "data:\n"
                                    "  dataset: cifar10\n"
                                    "  train_files: [b1.bin, b2.bin, b3.bin, b4.bin, b5.bin]\n"
                                    "  test_file: test_batch.bin\n"
                                    "  random_crop: 4\n"
                                    "  horizontal_flip: true\n";
  if (parse(cifar, &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.data.kind, QAT_DATASET_CIFAR10);
  assert_int_equal(cfg.data.n_train_files, 5);
  assert_string_equal(cfg.data.train_files[0], "b1.bin");
  assert_string_equal(cfg.data.train_files[4], "b5.bin");
  assert_null(cfg.data.train_files[5]);
  assert_string_equal(cfg.data.test_file, "test_batch.bin");
  assert_int_equal(cfg.data.random_crop, 4);
  assert_int_equal(cfg.data.horizontal_flip, 1);
  assert_null(cfg.data.train_images);
  qat_config_free(&cfg);

  static const char aug[] = MODEL "data:\n"
                                  "  dataset: fashion-mnist\n"
                                  "  augment:\n"
                                  "    - RandomZoom: {height_factor: [-0.2, 0.3], fill_mode: constant, fill_value: 9}\n"
                                  "    - RandomFlip: {mode: horizontal}\n"
                                  "    - RandomCrop: {height: 24, width: 20}\n"
                                  "    - RandomTranslation: {height_factor: 0.1, width_factor: [0, 0.2]}\n"
                                  "    - RandomRotation: {factor: 0.05, interpolation: nearest}\n"
                                  "    - RandomContrast: {factor: [0.1, 0.4]}\n"
                                  "    - RandomBrightness: {factor: 0.2, value_range: [0, 1]}\n";
  if (parse(aug, &cfg)) fail_msg("%s", qat_error_message());
  const qat_augment_spec *a = &cfg.data.augment;
  assert_int_equal(a->enabled, 1);
  assert_int_equal(a->flip_horizontal, 1);
  assert_int_equal(a->flip_vertical, 0);
  assert_int_equal(a->crop_h, 24);
  assert_int_equal(a->crop_w, 20);
  assert_feq(a->translate_h[0], -0.1f);
  assert_feq(a->translate_h[1], 0.1f);
  assert_feq(a->translate_w[0], 0);
  assert_feq(a->translate_w[1], 0.2f);
  assert_feq(a->rotation[0], -0.05f);
  assert_feq(a->zoom_h[0], -0.2f);
  assert_feq(a->zoom_h[1], 0.3f);
  assert_int_equal(a->zoom_w_given, 0);
  assert_feq(a->contrast_f[0], 0.1f);
  assert_feq(a->contrast_f[1], 0.4f);
  assert_feq(a->contrast_range[1], 255);
  assert_feq(a->brightness_f[0], -0.2f);
  assert_feq(a->brightness_range[1], 1);
  assert_int_equal(a->fill_mode, QAT_FILL_CONSTANT);
  assert_feq(a->fill_value, 9);
  assert_int_equal(a->interp_nearest, 1);
  qat_config_free(&cfg);
  /* RandomFlip alone takes Keras's default mode, both axes. */
  static const char flip[] = MODEL "data: {dataset: fashion-mnist, augment: [RandomFlip]}\n";
  if (parse(flip, &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.data.augment.flip_horizontal, 1);
  assert_int_equal(cfg.data.augment.flip_vertical, 1);
  assert_int_equal(cfg.data.augment.fill_mode, QAT_FILL_REFLECT);
  qat_config_free(&cfg);

  /* A failure after some paths were copied must free them (ASan checks). */
  static const char late[] =
      MODEL "data: {dataset: cifar10, train_files: [a, b], test_file: t, limit_test: -1}\n";
  expect_parse_error(late, sizeof late - 1,
                     "data.limit_test: -1 is out of range (expected an integer >= 0)");
}

static void test_optimizers_and_schedules(void **state) {
  (void)state;
  qat_config cfg;
  static const char sgd[] =
      MODEL "train:\n"
            "  optimizer: {name: sgd, momentum: 0.9, nesterov: true, weight_decay: 5e-4, "
            "clipnorm: 1}\n"
            "  schedule: {name: step, step_size: 1000, gamma: 0.5, warmup_steps: 10}\n";
  if (parse(sgd, &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.train.optimizer.kind, QAT_OPT_SGD);
  assert_feq(cfg.train.optimizer.learning_rate, 0.01f); /* Keras SGD default */
  assert_feq(cfg.train.optimizer.momentum, 0.9f);
  assert_int_equal(cfg.train.optimizer.nesterov, 1);
  assert_feq(cfg.train.optimizer.weight_decay, 5e-4f);
  assert_feq(cfg.train.optimizer.clipnorm, 1);
  assert_int_equal(cfg.train.schedule.kind, QAT_SCHED_STEP);
  assert_int_equal(cfg.train.schedule.step_size, 1000);
  assert_feq(cfg.train.schedule.gamma, 0.5f);
  assert_int_equal(cfg.train.schedule.warmup_steps, 10);
  qat_config_free(&cfg);

  static const char adamw[] =
      MODEL "train:\n  optimizer: adamw\n  schedule: cosine\n  seed: 18446744073709551615\n";
  if (parse(adamw, &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.train.optimizer.kind, QAT_OPT_ADAMW);
  assert_feq(cfg.train.optimizer.learning_rate, 0.001f);
  assert_feq(cfg.train.optimizer.weight_decay, 0.004f);
  assert_feq(cfg.train.optimizer.beta_1, 0.9f);
  assert_feq(cfg.train.optimizer.beta_2, 0.999f);
  assert_feq(cfg.train.optimizer.epsilon, 1e-7f);
  assert_int_equal(cfg.train.schedule.kind, QAT_SCHED_COSINE);
  assert_feq(cfg.train.schedule.alpha, 0);
  assert_true(cfg.train.seed == UINT64_MAX);
  qat_config_free(&cfg);

  static const char sgd_plain[] =
      MODEL "train: {optimizer: sgd, schedule: {name: constant, warmup_steps: 5}}\n";
  if (parse(sgd_plain, &cfg)) fail_msg("%s", qat_error_message());
  assert_int_equal(cfg.train.optimizer.kind, QAT_OPT_SGD);
  assert_feq(cfg.train.optimizer.learning_rate, 0.01f);
  assert_feq(cfg.train.optimizer.momentum, 0);
  assert_int_equal(cfg.train.schedule.kind, QAT_SCHED_CONSTANT);
  assert_int_equal(cfg.train.schedule.warmup_steps, 5);
  qat_config_free(&cfg);
}

static void test_layer_type_names(void **state) {
  (void)state;
  assert_string_equal(qat_layer_type_name(QAT_LAYER_CONV2D), "Conv2D");
  assert_string_equal(qat_layer_type_name(QAT_LAYER_GLOBAL_AVG_POOL2D), "GlobalAveragePooling2D");
  assert_string_equal(qat_layer_type_name(QAT_LAYER_ADD), "Add");
  assert_string_equal(qat_layer_type_name(QAT_LAYER_TYPE_COUNT), "unknown");
  /* Every class name parses back to its own type. */
  for (int t = 0; t < QAT_LAYER_TYPE_COUNT; t++) {
    char text[256];
    qat_config cfg;
    snprintf(text, sizeof text, LAYERS("    - Flatten\n    - %s\n"),
             qat_layer_type_name((qat_layer_type)t));
    int rc = parse(text, &cfg);
    if (rc == 0) {
      assert_int_equal(cfg.model.layers[1].type, t);
    } else {
      /* Types with required arguments say so, which also proves the name was recognized. */
      assert_non_null(strstr(qat_error_message(), "missing required argument"));
    }
    qat_config_free(&cfg);
  }
}

static char tmpdir[64];

static int make_tmpdir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/qat_test_config_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  (void)state;
  char p[128];
  static const char *const files[] = {"ok.yaml", "empty.yaml", "big.yaml", "noperm.yaml"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
    unlink(p);
  }
  return rmdir(tmpdir);
}

static void write_file(const char *name, const char *data, size_t len, char *path_out) {
  snprintf(path_out, 128, "%s/%s", tmpdir, name);
  FILE *f = fopen(path_out, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void test_load_files(void **state) {
  (void)state;
  char p[128];
  qat_config cfg;

  snprintf(p, sizeof p, "%s/missing.yaml", tmpdir);
  assert_int_equal(qat_config_load(p, &cfg), QAT_ERR_IO);
  assert_non_null(
      strstr(qat_error_message(), "missing.yaml: cannot open config: No such file or directory"));
  assert_true(is_zero(&cfg, sizeof cfg));

  assert_int_equal(qat_config_load(tmpdir, &cfg), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), ": Is a directory (expected a YAML file)"));
  assert_true(is_zero(&cfg, sizeof cfg));

  assert_int_equal(qat_config_load("/dev/null", &cfg), QAT_ERR_USAGE);
  assert_string_equal(qat_error_message(), "/dev/null: not a regular file (expected a YAML file)");

  assert_int_equal(qat_config_load("", &cfg), QAT_ERR_USAGE);

  write_file("empty.yaml", "", 0, p);
  assert_int_equal(qat_config_load(p, &cfg), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "empty.yaml: empty file"));

  size_t big = QAT_CONFIG_MAX_BYTES + 10;
  char *text = malloc(big);
  assert_non_null(text);
  memset(text, '\n', big);
  write_file("big.yaml", text, big, p);
  free(text);
  assert_int_equal(qat_config_load(p, &cfg), QAT_ERR_USAGE);
  assert_non_null(strstr(qat_error_message(), "big.yaml: file is larger than 1048576 bytes"));

  write_file("ok.yaml", sample, strlen(sample), p);
  if (qat_config_load(p, &cfg)) fail_msg("%s", qat_error_message());
  assert_string_equal(cfg.path, p);
  assert_string_equal(cfg.text, sample);
  assert_int_equal(cfg.model.n_layers, 5);
  qat_config_free(&cfg);

  /* Errors from a loaded file carry its path. */
  write_file("ok.yaml", MODEL "train: {epochs: 0}\n", strlen(MODEL) + 19, p);
  assert_int_equal(qat_config_load(p, &cfg), QAT_ERR_USAGE);
  char want[200];
  snprintf(want, sizeof want, "%s:6:17: train.epochs: 0 is out of range", p);
  if (!strstr(qat_error_message(), want))
    fail_msg("message: %s\nexpected: %s", qat_error_message(), want);

  /* Root reads anything, so an unreadable file can only be tested as a normal user. */
  if (geteuid() != 0) {
    write_file("noperm.yaml", sample, strlen(sample), p);
    assert_int_equal(chmod(p, 0), 0);
    assert_int_equal(qat_config_load(p, &cfg), QAT_ERR_IO);
    assert_non_null(
        strstr(qat_error_message(), "noperm.yaml: cannot open config: Permission denied"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_configs),
      cmocka_unit_test(test_bad_bytes),
      cmocka_unit_test(test_sample),
      cmocka_unit_test(test_minimal_defaults),
      cmocka_unit_test(test_kernel_size_forms),
      cmocka_unit_test(test_sequence_layers),
      cmocka_unit_test(test_add_and_other_layers),
      cmocka_unit_test(test_default_names),
      cmocka_unit_test(test_data_sections),
      cmocka_unit_test(test_optimizers_and_schedules),
      cmocka_unit_test(test_layer_type_names),
      cmocka_unit_test_setup_teardown(test_load_files, make_tmpdir, remove_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
