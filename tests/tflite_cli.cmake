# qat eval MODEL.tflite and qat inspect (cli/cmd_eval_tflite.c, cli/cmd_inspect.c): float32
# export accuracy equal to the checkpoint's, int8-input eval against the official interpreter
# (with the project's .venv; that part is skipped without it), inspect on the fixtures
# (skipped without ../shared/fixtures/tflite), usage/model/data/I-O errors.
add_test(NAME tflite_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tflite_cli_test.sh $<TARGET_FILE:qat>
         ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/../shared/fixtures/tflite
         ${PROJECT_SOURCE_DIR}/.venv/bin/python)
set_tests_properties(tflite_cli PROPERTIES TIMEOUT 300)
