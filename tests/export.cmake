# The TFLite writer, batch-norm folding and the float32 lowering (no tools needed).
qat_test(test_tflite SOURCES test_tflite.c LIBS qat_export qat_runtime qat_config TIMEOUT 120)

# Interop with the official interpreter: qat init -> qat export -> ai-edge-litert (BUILTIN_REF
# kernels) against qat's own float forward (tflite_forward), plus a flatc decode of every file.
# The interpreter lives in .venv, which scripts/setup.sh creates: a missing venv fails the test.
add_executable(tflite_forward tflite_forward.c)
target_link_libraries(tflite_forward PRIVATE qat_train qat_config)
find_program(QAT_PYTHON3 NAMES python3)
if(NOT QAT_PYTHON3)
  set(QAT_PYTHON3 python3)
endif()
add_test(NAME interop_float32
    COMMAND ${QAT_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_float32_export.py
            --qat $<TARGET_FILE:qat> --forward $<TARGET_FILE:tflite_forward>
            --work ${PROJECT_BINARY_DIR} --flatc "${QAT_FLATC}")
set_tests_properties(interop_float32 PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=2")

# The int8 lowering: tiny QAT models exported int8 and run by qat's own integer runtime against
# the fake-quant model, the graph's quantization, the validator's rules (no tools needed).
qat_test(test_export_int8 SOURCES test_export_int8.c LIBS qat_export qat_runtime qat_train qat_config TIMEOUT 300)

# Int8 interop: generated QAT configs (a small CNN, examples/mobilenet_tiny_qat.yaml's network,
# examples/cifar10_cnn.yaml's on generated CIFAR-10 batches) trained briefly, exported int8 with
# int8/uint8/float32 I/O, run by ai-edge-litert's reference kernels: quantization as written,
# outputs bit-identical to `qat run`, refusals without ranges, the CIFAR architecture's file sizes
# against the TF converter's; and examples/fashion_mnist_cnn.yaml's network trained briefly, QAT
# fine-tuned and run by the official interpreter over the whole Fashion-MNIST test set against
# the fake-quant model (test_export_int8 predict). A sanitizer build skips that last part.
set(QAT_INTEROP_INT8_ENV "OMP_NUM_THREADS=2")
if(QAT_SANITIZE)
  list(APPEND QAT_INTEROP_INT8_ENV "QAT_SANITIZE_BUILD=1")
endif()
add_test(NAME interop_int8
    COMMAND ${QAT_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_int8_export.py
            --qat $<TARGET_FILE:qat> --work ${PROJECT_BINARY_DIR} --flatc "${QAT_FLATC}"
            --predictor $<TARGET_FILE:test_export_int8>)
set_tests_properties(interop_int8 PROPERTIES TIMEOUT 900 ENVIRONMENT "${QAT_INTEROP_INT8_ENV}")

# The 16x8 lowering: activation parameters from the observed ranges, INT64 biases, op versions,
# qat's runtime on the files against the float model (closer than int8), the validator's rules.
qat_test(test_export_int16x8 SOURCES test_export_int16x8.c LIBS qat_export qat_runtime qat_train qat_config
         TIMEOUT 300)

# 16x8 interop: the small CNN and examples/mobilenet_tiny_qat.yaml's network trained briefly,
# exported int16x8 with int16 and float32 I/O, run by ai-edge-litert's reference kernels:
# int16 symmetric activations, int8 per-channel weights, INT64 biases, outputs bit-identical to
# `qat run`; clear refusals; and examples/fashion_mnist_cnn.yaml's network (100 float + 100 QAT
# steps) over the whole Fashion-MNIST test set within 0.3 pp of float (skipped by sanitizer
# builds and without the dataset).
add_test(NAME interop_int16x8
    COMMAND ${QAT_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_int16x8_export.py
            --qat $<TARGET_FILE:qat> --work ${PROJECT_BINARY_DIR})
set_tests_properties(interop_int16x8 PROPERTIES TIMEOUT 900 ENVIRONMENT "${QAT_INTEROP_INT8_ENV}")

# The float16 and dynamic-range lowerings on hand-built graphs, and float -> half.
qat_test(test_ptq_lower SOURCES test_ptq_lower.c LIBS qat_export qat_runtime qat_config TIMEOUT 120)
