qat_test(test_train SOURCES test_train.c LIBS qat_train qat_config)
