qat_test(test_qat SOURCES test_qat.c LIBS qat_train qat_config)
