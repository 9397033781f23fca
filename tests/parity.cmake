# parity/: the parity report on in-memory exports (bit-identical layers, localized differences,
# refusals).
qat_test(test_parity SOURCES test_parity.c LIBS qat_parity qat_export qat_config TIMEOUT 120)
