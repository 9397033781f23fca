# Issue 15's layers: activation values at hand-computed points, and qat's float forward of
# Keras-written fixtures (tests/fixtures/layers15) against Keras's outputs.
qat_test(test_layers15 SOURCES test_layers15.c LIBS qat_keras qat_train qat_config TIMEOUT 300)

# The same layers through qat import / train / export against the official interpreter
# (tests/interop/test_layers15.py; .venv's ai_edge_litert, skipped with 77 without it).
add_test(NAME interop_layers15
    COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_layers15.py --qat $<TARGET_FILE:qat>
            --work ${PROJECT_BINARY_DIR})
set_tests_properties(interop_layers15 PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")
