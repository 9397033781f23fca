# Issue 15's layers: activation values at hand-computed points, and qat's float forward of
# Keras-written fixtures (tests/fixtures/layers15) against Keras's outputs.
qat_test(test_layers15 SOURCES test_layers15.c LIBS qat_keras qat_train qat_config TIMEOUT 300)

# The same layers through qat import / train / export against the official interpreter
# (tests/interop/test_layers15.py; .venv's ai_edge_litert, skipped with 77 without it).
add_test(NAME interop_layers15
    COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_layers15.py --qat $<TARGET_FILE:qat>
            --work ${PROJECT_BINARY_DIR})
set_tests_properties(interop_layers15 PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")

# Issue 15's acceptance over its model list (keras.applications MobileNet v1/v2/v3, EfficientNetB0,
# ResNet50), written by a real Keras at test time: import in both formats against Keras's logits,
# calibrated and QAT exports in every mode against the official interpreter, parity, sizes
# (tests/acceptance/test_acceptance15.py; Keras from .venv-keras, the interpreter from .venv, the
# fake-quant forward through libqat.so: skipped with 77 without them). In the full build only, as
# the other acceptance drivers. It took 790 s alone on 2 cores and ran past 900 s beside the other
# acceptance tests (ctest -j2): hence 40 minutes.
if(NOT QAT_SANITIZE)
add_test(NAME acceptance15 COMMAND bash -c [=[
py=$1/.venv/bin/python; shift
[ -x "$py" ] || { echo "skipped: no Python venv at $py: run scripts/setup.sh"; exit 77; }
exec "$py" "$@"]=] acceptance15 ${PROJECT_SOURCE_DIR}
    ${CMAKE_CURRENT_SOURCE_DIR}/acceptance/test_acceptance15.py --qat $<TARGET_FILE:qat>
    --lib ${PROJECT_BINARY_DIR}/lib/libqat.so --work ${PROJECT_BINARY_DIR})
set_tests_properties(acceptance15 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 2400 LABELS acceptance
  ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
