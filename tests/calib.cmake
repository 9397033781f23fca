# calib/: the range choosers on hand-computed histograms, calibration of a tiny model with
# hand-set weights, a float checkpoint calibrated and prepared for int8 export.
qat_test(test_calib SOURCES test_calib.c LIBS qat_calib qat_export qat_train qat_config TIMEOUT 120)

# Post-training exports against the official interpreter (tests/interop/test_ptq_export.py):
# float32 / float16 / dynamic / calibrated int8 files of float checkpoints (a small CNN,
# examples/mobilenet_tiny.yaml's and examples/cifar10_cnn.yaml's networks) loaded by
# ai-edge-litert's reference kernels, their structure, outputs equal to `qat run` (bit for bit
# for int8 and dynamic, 1e-6 relative for float), the CIFAR architecture's sizes against the TF
# converter's, qat export's PTQ refusals, and `qat compare` on examples/fashion_mnist_cnn.yaml's
# network trained 100 steps (skipped in sanitizer builds). Needs the project's .venv.
set(QAT_INTEROP_PTQ_ENV "OMP_NUM_THREADS=2")
if(QAT_SANITIZE)
  list(APPEND QAT_INTEROP_PTQ_ENV "QAT_SANITIZE_BUILD=1")
endif()
add_test(NAME interop_ptq COMMAND bash -c [=[
py=$1/.venv/bin/python; shift
[ -x "$py" ] || { echo "FAIL: no Python venv at $py: run scripts/setup.sh"; exit 1; }
exec "$py" "$@"]=] interop_ptq ${PROJECT_SOURCE_DIR}
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_ptq_export.py --qat $<TARGET_FILE:qat> --work ${PROJECT_BINARY_DIR})
set_tests_properties(interop_ptq PROPERTIES TIMEOUT 900 ENVIRONMENT "${QAT_INTEROP_PTQ_ENV}")
