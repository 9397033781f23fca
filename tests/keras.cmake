# keras/: Keras .h5 / .keras import. Float forward of each imported fixture against Keras's own
# outputs (tests/fixtures/keras), the third-party files of ../shared/fixtures/keras, and bad
# files written by the test with the HDF5 and libzip APIs.
qat_test(test_keras SOURCES test_keras.c LIBS qat_keras qat_train qat_config PkgConfig::LIBZIP TIMEOUT 300)
