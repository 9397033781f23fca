qat_test(test_quant SOURCES test_quant.c LIBS qat_fakequant)
# The test's reference arithmetic must round every operation, like the library.
target_compile_options(test_quant PRIVATE -ffp-contract=off)
