# flatbuf/: the flatbuffer builder. One executable, three ctests: byte layouts (no tools needed),
# and two decodes by Debian's flatc (skipped, exit 77, when flatc or the TFLite schema is absent).
qat_test(test_flatbuf SOURCES test_flatbuf.c LIBS qat_flatbuf)
find_program(QAT_FLATC flatc)
if(NOT QAT_FLATC)
  set(QAT_FLATC "")
endif()
target_compile_definitions(test_flatbuf PRIVATE QAT_FLATC="${QAT_FLATC}")
add_test(NAME test_flatbuf_flatc COMMAND test_flatbuf flatc)
add_test(NAME test_flatbuf_tflite COMMAND test_flatbuf tflite)
set_tests_properties(test_flatbuf_flatc test_flatbuf_tflite PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 120 ENVIRONMENT "OMP_NUM_THREADS=2")
