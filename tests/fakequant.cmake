qat_test(test_quant SOURCES test_quant.c LIBS qat_fakequant)
# The test's reference arithmetic must round every operation, like the library.
target_compile_options(test_quant PRIVATE -ffp-contract=off)
qat_test(test_requant SOURCES test_requant.c LIBS qat_quant)
target_compile_options(test_requant PRIVATE -ffp-contract=off)
