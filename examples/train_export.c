/* Trains a config with quantization-aware training, exports it as an int8 TFLite model and
 * checks the file in qat's runtime, all through the public API of libqat:
 *
 *   cc train_export.c $(pkg-config --cflags --libs qat) -o train_export
 *   ./train_export CONFIG OUT_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qat/qat.h>

static int fail(const char *what) {
  fprintf(stderr, "train_export: %s: %s\n", what, qat_error_message());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CONFIG OUT_DIR\n", argv[0]);
    return 2;
  }
  printf("libqat %s\n", qat_version());

  qat_train_request req = {.config = argv[1], .out_dir = argv[2], .log_every = 10};
  qat_train_summary sum;
  if (qat_train_config(&req, &sum)) return fail("train");
  printf("trained %d epochs (%lld steps): test accuracy %.4f (float %.4f)\n", sum.epochs, (long long)sum.steps,
         sum.test_accuracy, sum.has_float ? sum.float_test_accuracy : sum.test_accuracy);

  char path[4300];
  snprintf(path, sizeof path, "%s/model_int8.tflite", argv[2]);
  qat_export_request ex = {.mode = "int8"};
  if (qat_export_file(sum.checkpoint, &ex, path)) return fail("export");

  qat_rt_model *rt = NULL;
  if (qat_rt_model_load_file(path, NULL, &rt)) return fail("load");
  qat_rt_tensor_info in, out;
  qat_rt_tensor(rt, qat_rt_input(rt, 0), &in);
  qat_rt_tensor(rt, qat_rt_output(rt, 0), &out);
  memset(qat_rt_tensor_data(rt, qat_rt_input(rt, 0)), 0, in.bytes);
  if (qat_rt_invoke(rt)) return fail("invoke");
  printf("%s: %s input %lld values, %s output %lld values, arena %zu bytes\n", path, qat_rt_type_name(in.type),
         (long long)in.n_elems, qat_rt_type_name(out.type), (long long)out.n_elems, qat_rt_arena_bytes(rt));
  qat_rt_model_free(rt);

  char *json = NULL;
  if (qat_parity_json(sum.checkpoint, path, NULL, NULL, 0, 200, &json)) return fail("parity");
  printf("parity: %.200s...\n", json);
  qat_free(json);
  return 0;
}
