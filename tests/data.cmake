qat_test(test_data SOURCES test_data.c LIBS qat_data)
