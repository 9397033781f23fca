# Issue 16's acceptance: Keras-written random-weight Inception-style and U-Net-like models
# (Concatenate, UpSampling2D) imported, fine-tuned quant-aware, exported in every mode and run by
# the official interpreter (tests/acceptance/test_acceptance16.py; Keras from
# ${QAT_KERAS_PYTHON:-.venv-keras/bin/python} and the fake-quant forward through libqat.so (the
# full build's; the sanitizer builds have none): skipped without them; the interpreter from .venv).
# In the full build only, as all acceptance drivers (and python cannot load a sanitized
# libqat.so: the ASan runtime must come first).
if(NOT QAT_SANITIZE)
add_test(NAME acceptance16 COMMAND bash -c [=[
py=$1/.venv/bin/python; shift
[ -x "$py" ] || { echo "skipped: no Python venv at $py: run scripts/setup.sh"; exit 77; }
exec "$py" "$@"]=] acceptance16 ${PROJECT_SOURCE_DIR}
    ${CMAKE_CURRENT_SOURCE_DIR}/acceptance/test_acceptance16.py --qat $<TARGET_FILE:qat>
    --lib ${PROJECT_BINARY_DIR}/lib/libqat.so --work ${PROJECT_BINARY_DIR})
set_tests_properties(acceptance16 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS acceptance
  ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
