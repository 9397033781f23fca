# The Python binding (python/): pip install into a fresh venv, pytest, the example script.
add_test(NAME python COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/python/test_python.sh ${PROJECT_SOURCE_DIR}
         ${PROJECT_BINARY_DIR})
set_tests_properties(python PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=1")
