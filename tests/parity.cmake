# parity/: the parity report on in-memory exports (bit-identical layers, localized differences,
# refusals).
qat_test(test_parity SOURCES test_parity.c LIBS qat_parity qat_export qat_config qat_test_runtime_support TIMEOUT 120)

# Issue 14's acceptance: Keras-written random-weight ResNet-8 and MobileNetV2 (alpha 0.35,
# 96x96x1 and 96x96x3) imported, fine-tuned 32 steps quant-aware, exported int8, parity report
# (tests/acceptance/test_acceptance.py; the models written at test time by .venv-keras's Keras,
# skipped without it; numpy from .venv for the synthetic images).
# In the full build only, as all acceptance drivers (minutes of Python-driven training and
# conversion each; the sanitizer build reaches the same code through the unit and interop tests).
if(NOT QAT_SANITIZE)
find_program(QAT_PYTHON3_ACCEPT NAMES python3)
add_test(NAME acceptance_parity
    COMMAND ${QAT_PYTHON3_ACCEPT} ${CMAKE_CURRENT_SOURCE_DIR}/acceptance/test_acceptance.py
            --qat $<TARGET_FILE:qat> --work ${PROJECT_BINARY_DIR})
set_tests_properties(acceptance_parity PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77 LABELS acceptance
                     ENVIRONMENT "OMP_NUM_THREADS=2")

# Issue 14's promise on every example: QAT for 1 step and 1 epoch from a float checkpoint and
# from scratch, each exported int8 and held to the parity target
# (tests/acceptance/test_examples_parity.py).
add_test(NAME examples_parity
    COMMAND ${QAT_PYTHON3_ACCEPT} ${CMAKE_CURRENT_SOURCE_DIR}/acceptance/test_examples_parity.py
            --qat $<TARGET_FILE:qat> --work ${PROJECT_BINARY_DIR})
set_tests_properties(examples_parity PROPERTIES TIMEOUT 1200 LABELS acceptance ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
