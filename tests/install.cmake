# cmake --install to a temporary prefix; the example program built with pkg-config and run.
add_test(NAME install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/install_test.sh
         ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
set_tests_properties(install PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=1")
