qat_test(test_config SOURCES test_config.c LIBS qat_config)
