# Training curves: steps.csv, TensorBoard events read by TensorBoard's own reader, qat plot.
add_test(NAME curves COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/curves/test_curves.sh $<TARGET_FILE:qat>
         ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(curves PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
qat_test(test_curves SOURCES test_curves.c LIBS qat_curves)
