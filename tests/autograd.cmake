qat_test(test_autograd SOURCES test_autograd.c LIBS qat_autograd qat_fakequant)
