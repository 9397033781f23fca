add_test(NAME cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_test.sh $<TARGET_FILE:qat> ${PROJECT_BINARY_DIR})
set_tests_properties(cli PROPERTIES TIMEOUT 300)
