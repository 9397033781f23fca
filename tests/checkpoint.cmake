qat_test(test_h5store SOURCES test_h5store.c LIBS qat_checkpoint)
