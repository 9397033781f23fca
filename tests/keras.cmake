# keras/: Keras .h5 / .keras import. Float forward of each imported fixture against Keras's own
# outputs (tests/fixtures/keras), the third-party files of ../shared/fixtures/keras, and bad
# files written by the test with the HDF5 and libzip APIs.
qat_test(test_keras SOURCES test_keras.c LIBS qat_keras qat_train qat_config PkgConfig::LIBZIP TIMEOUT 300)

# End to end: qat import of the Keras-trained Fashion-MNIST CNN, its float accuracy equal to
# Keras's, CLI bad inputs, and the acceptance (1 epoch QAT fine-tune, int8 export, official
# interpreter over the test set within 0.3 pp of Keras's float accuracy; skipped under sanitizers).
find_program(QAT_PYTHON3 NAMES python3)
if(NOT QAT_PYTHON3)
  set(QAT_PYTHON3 python3)
endif()
set(QAT_INTEROP_KERAS_ENV "OMP_NUM_THREADS=2")
if(QAT_SANITIZE)
  list(APPEND QAT_INTEROP_KERAS_ENV "QAT_SANITIZE_BUILD=1")
endif()
add_test(NAME interop_keras
    COMMAND ${QAT_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_keras_import.py
            --qat $<TARGET_FILE:qat> --work ${PROJECT_BINARY_DIR})
set_tests_properties(interop_keras PROPERTIES TIMEOUT 900 ENVIRONMENT "${QAT_INTEROP_KERAS_ENV}")
