# Data-parallel training over MPI (tests/dist/dist_test.sh): only in a build with MPI and a
# launcher; skipped (exit 77) without Debian's Fashion-MNIST. The sanitizer build runs the
# 10-step check only (the full test would take ten times as long there); LeakSanitizer is
# told to ignore what Open MPI's own libraries hold until exit (tests/dist/lsan.supp); for
# its stacks to name them, Open MPI keeps its plugins loaded and ASan unwinds malloc stacks
# fully (the fast unwinder stops at Open MPI's frames, which have no frame pointers).
# dist_compare: checkpoint against checkpoint (bit-identical, or within a relative tolerance)
add_executable(dist_compare dist/dist_compare.c)
target_link_libraries(dist_compare PRIVATE qat_train qat_config)
if(QAT_MPI AND QAT_MPIEXEC AND NOT QAT_SANITIZE)
  add_test(NAME mpi COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/dist/dist_test.sh $<TARGET_FILE:qat>
           $<TARGET_FILE:dist_compare> ${QAT_MPIEXEC} ${PROJECT_BINARY_DIR})
  set_tests_properties(mpi PROPERTIES TIMEOUT 1200 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=1")
elseif(QAT_MPI AND QAT_MPIEXEC)
  add_test(NAME mpi COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/dist/dist_test.sh $<TARGET_FILE:qat>
           $<TARGET_FILE:dist_compare> ${QAT_MPIEXEC} ${PROJECT_BINARY_DIR})
  set_tests_properties(mpi PROPERTIES TIMEOUT 1200 SKIP_RETURN_CODE 77 ENVIRONMENT
      "OMP_NUM_THREADS=1;DIST_QUICK=1;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/dist/lsan.supp;ASAN_OPTIONS=fast_unwind_on_malloc=0;OMPI_MCA_mca_base_component_disable_dlclose=1")
endif()
