qat_test(test_data SOURCES test_data.c LIBS qat_data)
# Image folders for the acceptance test, written with libpng / libjpeg-turbo (test-only).
add_executable(write_images write_images.c)
target_link_libraries(write_images PRIVATE qat_data)
add_test(NAME data_accept COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/data_test.sh $<TARGET_FILE:qat>
         $<TARGET_FILE:write_images> ${PROJECT_BINARY_DIR})
set_tests_properties(data_accept PROPERTIES TIMEOUT 1200)
# TFLite Support's metadata reader and Task Library on qat's exports (tests/metadata_test.sh).
add_test(NAME tflite_metadata COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metadata_test.sh $<TARGET_FILE:qat>
         ${PROJECT_BINARY_DIR})
set_tests_properties(tflite_metadata PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")
