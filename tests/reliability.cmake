# Issue 18: hostile inputs, killed processes, full disks (see fuzz/README.md).
qat_test(test_reliability SOURCES test_reliability.c LIBS qat_checkpoint qat_util TIMEOUT 60)

# Faults at every write/fsync/rename of a checkpoint save and an export (strace; 77 = skipped
# where ptrace is refused), and SIGKILL at 10 random moments of a training run + resume.
add_test(NAME fault_injection
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/faults/inject.sh $<TARGET_FILE:qat> ${CMAKE_BINARY_DIR}/faults_inject)
# LeakSanitizer needs ptrace, which strace holds: no leak check under injection (ASan build).
set_tests_properties(fault_injection PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "OMP_NUM_THREADS=1;ASAN_OPTIONS=detect_leaks=0")
add_test(NAME kill_resume
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/faults/kill_resume.sh $<TARGET_FILE:qat> ${CMAKE_BINARY_DIR}/faults_kill 10 1)
set_tests_properties(kill_resume PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
# 80+ hostile or mistaken inputs across every reader, through the CLI (the reject contract of
# ../shared/BAD-INPUTS.md); writes the table to bad_inputs.md in the build folder.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME bad_inputs
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/faults/bad_inputs.py $<TARGET_FILE:qat>
              ${CMAKE_BINARY_DIR}/bad_inputs --table ${CMAKE_BINARY_DIR}/bad_inputs.md)
  set_tests_properties(bad_inputs PROPERTIES TIMEOUT 900)
endif()
