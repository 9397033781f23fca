qat_test(test_optim SOURCES test_optim.c LIBS qat_optim)
