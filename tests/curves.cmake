# Training curves: steps.csv, TensorBoard events read by TensorBoard's own reader, qat plot.
add_test(NAME curves COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/curves/test_curves.sh $<TARGET_FILE:qat>
         ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(curves PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
qat_test(test_curves SOURCES test_curves.c LIBS qat_curves)
if(QAT_SANITIZE)
  # programs compiled here against the sanitized libqat need the sanitizer runtimes first
  set_property(TEST curves APPEND PROPERTY ENVIRONMENT
    "QAT_SAN_CFLAGS=-fsanitize=address,undefined" "ASAN_OPTIONS=detect_leaks=0" "QAT_SANITIZE_BUILD=1")
endif()
