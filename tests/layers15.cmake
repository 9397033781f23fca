# Issue 15's layers: activation values at hand-computed points, and qat's float forward of
# Keras-written fixtures (tests/fixtures/layers15) against Keras's outputs.
qat_test(test_layers15 SOURCES test_layers15.c LIBS qat_keras qat_train qat_config TIMEOUT 300)
