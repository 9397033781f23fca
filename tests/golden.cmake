# Golden outputs (tests/golden/): checkpoints and exports of the example configs, by sha256.
# Release build only: the hashes are of the optimized build's numbers, and the sanitizer
# build would take ten times as long to say the same.
if(NOT QAT_SANITIZE)
  add_test(NAME golden COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/golden/golden.sh $<TARGET_FILE:qat> ${PROJECT_BINARY_DIR})
  set_tests_properties(golden PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
