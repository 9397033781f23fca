# cmake --install to a temporary prefix; the example program built with pkg-config and run.
add_test(NAME install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/install_test.sh
         ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
set_tests_properties(install PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=1")
if(QAT_SANITIZE)
  # programs compiled here against the sanitized libqat need the sanitizer runtimes first
  set_property(TEST install APPEND PROPERTY ENVIRONMENT
    "QAT_SAN_CFLAGS=-fsanitize=address,undefined" "ASAN_OPTIONS=detect_leaks=0" "QAT_SANITIZE_BUILD=1")
endif()
