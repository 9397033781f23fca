qat_test(test_train SOURCES test_train.c LIBS qat_train qat_config)
# dist_compare: checkpoint against checkpoint, for the MPI tests (tests/dist.cmake)
add_executable(dist_compare dist_compare.c)
target_link_libraries(dist_compare PRIVATE qat_train qat_config)
