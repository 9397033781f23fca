qat_test(test_data SOURCES test_data.c LIBS qat_data)
qat_test(test_png SOURCES test_png.c LIBS qat_data)
# Image folders for the acceptance test, written with libpng / libjpeg-turbo (test-only).
add_executable(write_images write_images.c)
target_link_libraries(write_images PRIVATE qat_data)
add_test(NAME data_accept COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/data_test.sh $<TARGET_FILE:qat>
         $<TARGET_FILE:write_images> ${PROJECT_BINARY_DIR})
set_tests_properties(data_accept PROPERTIES TIMEOUT 1200)
# The Python-driven checks of third-party readers, in the full build only (the sanitizer build
# reaches the same writers through the unit tests).
if(NOT QAT_SANITIZE)
# TFLite Support's metadata reader and Task Library on qat's exports (tests/metadata_test.sh).
add_test(NAME tflite_metadata COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metadata_test.sh $<TARGET_FILE:qat>
         ${PROJECT_BINARY_DIR})
set_tests_properties(tflite_metadata PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")
# Issue 19: every export mode opens in Netron, rendered by headless Chromium (tests/netron/).
add_test(NAME netron COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/netron/netron_test.sh $<TARGET_FILE:qat>
         $<TARGET_FILE:write_images> ${PROJECT_BINARY_DIR})
set_tests_properties(netron PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
# .npy targets beyond class labels (regression, autoencoder, label maps, multi-hot) and their
# losses, through QAT, int8 export and the official interpreter (tests/targets_test.sh).
if(NOT QAT_SANITIZE)
add_test(NAME data_targets COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/targets_test.sh $<TARGET_FILE:qat> ${PROJECT_BINARY_DIR})
set_tests_properties(data_targets PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
