# The Python binding (python/): pip install into a fresh venv, pytest, the example script.
add_test(NAME python COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/python/test_python.sh ${PROJECT_SOURCE_DIR}
         ${PROJECT_BINARY_DIR})
set_tests_properties(python PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=1")
if(QAT_SANITIZE)
  # programs compiled here against the sanitized libqat need the sanitizer runtimes first
  set_property(TEST python APPEND PROPERTY ENVIRONMENT
    "QAT_SAN_CFLAGS=-fsanitize=address,undefined" "ASAN_OPTIONS=detect_leaks=0" "QAT_SANITIZE_BUILD=1")
endif()
