# qat deploy: the generated host C test built and run against libqat; TFLM's own interpreter
# (tflite-micro from PyPI) against qat run --flavor tflm on every example's int8 / 16x8 export.
add_test(NAME deploy COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/deploy/test_deploy.sh $<TARGET_FILE:qat>
         ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
add_test(NAME deploy_tflm_interop COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/deploy/test_tflm_interop.py
         --qat $<TARGET_FILE:qat> --work ${PROJECT_BINARY_DIR})
set_tests_properties(deploy_tflm_interop PROPERTIES TIMEOUT 1200 ENVIRONMENT "OMP_NUM_THREADS=2")
if(QAT_SANITIZE)
  # programs compiled here against the sanitized libqat need the sanitizer runtimes first
  set_property(TEST deploy deploy_tflm_interop APPEND PROPERTY ENVIRONMENT
    "QAT_SAN_CFLAGS=-fsanitize=address,undefined" "ASAN_OPTIONS=detect_leaks=0" "QAT_SANITIZE_BUILD=1")
endif()
