qat_test(test_autograd SOURCES test_autograd.c LIBS qat_autograd qat_fakequant)
qat_test(test_blas_core SOURCES test_blas_core.c LIBS qat_autograd)
