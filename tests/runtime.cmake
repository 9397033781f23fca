# runtime/: the .tflite reader/verifier, the interpreter and its kernels.
# test_runtime: kernels on hand-computed cases, every op through the interpreter, the planner,
# and the real fixtures of ../shared/fixtures/tflite (skipped with a message when absent).
# test_runtime_malformed: the malformed-file corpus, prefix and bit-flip sweeps.
# tests/support/: the TFLite test writer, the random single-op models of the interop sweep and the
# fixtures' files; it and the runtime tests link no training engine.
add_library(qat_test_runtime_support STATIC support/tflite_builder.c support/random_models.c
            support/fixtures.c)
target_include_directories(qat_test_runtime_support PUBLIC ${PROJECT_SOURCE_DIR}/include
                           ${PROJECT_SOURCE_DIR})
target_link_libraries(qat_test_runtime_support PUBLIC qat_flatbuf qat_quant)
target_compile_definitions(qat_test_runtime_support PRIVATE
    QAT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
qat_test(test_runtime SOURCES test_runtime.c LIBS qat_runtime qat_test_runtime_support
         TIMEOUT 120)
qat_test(test_runtime_malformed SOURCES test_runtime_malformed.c
         LIBS qat_runtime qat_test_runtime_support TIMEOUT 300)
target_compile_options(test_runtime PRIVATE -ffp-contract=off)
# The operators added for the converter's files (issue 15/16), on hand-computed cases.
qat_test(test_runtime_ops SOURCES test_runtime_ops.c LIBS qat_runtime qat_test_runtime_support
         TIMEOUT 60)

# runtime/igemm.c: the packed int8 GEMM on every SIMD path the CPU has against the reference
# arithmetic, and the vectorized requantization against the scalar one.
qat_test(test_igemm SOURCES test_igemm.c LIBS qat_runtime TIMEOUT 120)
target_compile_options(test_igemm PRIVATE -ffp-contract=off) # its float references round as written
# the same with the kernels narrowed to AVX2 (the row requantization's 4-lane path)
add_test(NAME test_igemm_avx2 COMMAND test_igemm)
set_tests_properties(test_igemm_avx2 PROPERTIES TIMEOUT 120 ENVIRONMENT "QAT_SIMD=avx2;OMP_NUM_THREADS=2")

# qat run on the fixtures: exact bytes, usage and model-file errors (exit 2, 3). Skipped (77)
# when the fixture folder is absent.
add_test(NAME test_runtime_cli COMMAND bash -c [=[
set -u
F=$1; qat=$2
[ -d "$F" ] || { echo "skipped: fixture folder $F is absent"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$qat" run "$F/simple_add_model.tflite" --input "$F/add_input1_rand_int8.raw" \
  --input "$F/add_input2_rand_int8.raw" --output "$T/o.raw" || exit 1
cmp "$T/o.raw" "$F/simple_add_expected_output_int8.raw" || exit 1
"$qat" run "$F/micro_speech_quantized.tflite" --input "$F/micro_speech_no_features_int8.raw" \
  --output "$T/no.raw" || exit 1
[ "$(od -An -td1 "$T/no.raw" | tr -s ' ')" = " -128 -114 -128 114" ] || exit 1
"$qat" run "$F/simple_add_model.tflite" --input "$F/add_input1_rand_int8.raw" --output "$T/x"
[ $? = 2 ] || exit 1
"$qat" run "$F/micro_speech_quantized.tflite" --input "$F/add_input1_rand_int8.raw" \
  --output "$T/x" 2>"$T/err"
[ $? = 3 ] && grep -q "takes 1960" "$T/err" || exit 1
head -c 2560 /dev/zero >"$T/z.raw"
"$qat" run "$F/non_int8/model_ToyCar_quant.tflite" --input "$T/z.raw" --output "$T/toy.raw" || exit 1
[ "$(stat -c %s "$T/toy.raw")" = 2560 ] || exit 1
head -c 1000 "$F/hello_world_int8.tflite" >"$T/cut.tflite"
"$qat" run "$T/cut.tflite" --input "$T/z.raw" --output "$T/x" 2>"$T/err"
[ $? = 3 ] && grep -q "cut.tflite: invalid flatbuffer" "$T/err" || exit 1
[ ! -e "$T/x" ] || exit 1
echo "qat run: ok"
]=] runtime_cli ${PROJECT_SOURCE_DIR}/../shared/fixtures/tflite $<TARGET_FILE:qat>)
set_tests_properties(test_runtime_cli PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)

# Interop: bit-exact with the official interpreter's reference kernels (ai-edge-litert,
# OpResolverType.BUILTIN_REF) on random single-op models and the fixtures, with the project's
# .venv (scripts/setup.sh makes it; a missing venv fails, it is not skipped).
add_test(NAME test_runtime_litert COMMAND bash -c [=[
py=$1/.venv/bin/python; shift
[ -x "$py" ] || { echo "FAIL: no Python venv at $py: run scripts/setup.sh"; exit 1; }
exec "$py" "$@"]=] litert ${PROJECT_SOURCE_DIR}
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_runtime_litert.py --qat $<TARGET_FILE:qat>
  --gen $<TARGET_FILE:test_runtime> --fixtures ${PROJECT_SOURCE_DIR}/../shared/fixtures/tflite)
set_tests_properties(test_runtime_litert PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
# The same on the AVX2 and plain kernels where the CPU would pick AVX-512 (QAT_SIMD caps the
# path): each op's narrower path is held to BUILTIN_REF too, not only the machine's widest.
add_test(NAME test_runtime_litert_avx2 COMMAND bash -c [=[
py=$1/.venv/bin/python; shift
[ -x "$py" ] || { echo "FAIL: no Python venv at $py: run scripts/setup.sh"; exit 1; }
QAT_SIMD=avx2 "$py" "$@" && QAT_SIMD=0 QAT_INTEROP_FIXTURE_INPUTS=100 "$py" "$@"]=] litert ${PROJECT_SOURCE_DIR}
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_runtime_litert.py --qat $<TARGET_FILE:qat>
  --gen $<TARGET_FILE:test_runtime> --fixtures ${PROJECT_SOURCE_DIR}/../shared/fixtures/tflite)
set_tests_properties(test_runtime_litert_avx2 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)

# The README's runtime-only build (cmake -DQAT_RUNTIME_ONLY=ON) configures, builds (its tests
# too) and runs, in a tree of its own; it broke once unnoticed when eval took a helper from a
# command it does not have. In the full Release build only (about a minute on 2 cores).
if(NOT QAT_RUNTIME_ONLY AND NOT QAT_SANITIZE)
add_test(NAME runtime_only_build COMMAND bash -c [=[
set -u
src=$1; bin=$2; log=$2.log
rm -rf "$bin"
cmake -S "$src" -B "$bin" -DQAT_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 &&
  cmake --build "$bin" -j2 >>"$log" 2>&1 || { tail -40 "$log"; exit 1; }
"$bin/qat" --version | grep -q "^runtime kernels: " || { echo "FAIL: qat --version"; exit 1; }
"$bin/qat" train x.yaml 2>&1 | grep -q "only eval, run and inspect" || { echo "FAIL: train is not refused"; exit 1; }
echo "runtime-only build: ok"
]=] rto ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/runtime_only)
set_tests_properties(runtime_only_build PROPERTIES TIMEOUT 600)
endif()

if(NOT QAT_RUNTIME_ONLY) # needs qat train and export
# Every model exported from the example configs (float32; int8 with int8 and float32 I/O):
# `qat run --batch` bit-exact with BUILTIN_REF on 1000 random inputs each (100 under sanitizers),
# the default interpreter's (XNNPACK) differences reported, and the parity report's target on
# the QAT examples.
set(QAT_INTEROP_EXAMPLES_ENV "OMP_NUM_THREADS=2")
if(QAT_SANITIZE)
  list(APPEND QAT_INTEROP_EXAMPLES_ENV "QAT_SANITIZE_BUILD=1")
endif()
add_test(NAME interop_examples COMMAND bash -c [=[
py=$1/.venv/bin/python; shift
[ -x "$py" ] || { echo "FAIL: no Python venv at $py: run scripts/setup.sh"; exit 1; }
exec "$py" "$@"]=] examples ${PROJECT_SOURCE_DIR}
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_examples_bitexact.py --qat $<TARGET_FILE:qat>
  --work ${PROJECT_BINARY_DIR})
set_tests_properties(interop_examples PROPERTIES TIMEOUT 900 ENVIRONMENT "${QAT_INTEROP_EXAMPLES_ENV}")
endif()

# Issue 15/16 acceptance (runtime): the official TFLite converter's float32 and full-int8 (int8
# I/O and float I/O) files of keras.applications' MobileNet, MobileNetV2, MobileNetV3Small/Large,
# EfficientNetB0 and ResNet50 (random weights), written by
# tests/acceptance/make_converter_models.py with the Keras venv into the build directory (kept
# between runs; skipped, 77, without Keras), then `qat run` against BUILTIN_REF on 200 inputs
# each (int8 bit-exact, float32 1e-5 relative) and `qat inspect`. The first run converts the 21
# files (7 to 13 minutes on 2 busy cores); the comparison itself costs about 6 CPU-minutes (qat
# run and BUILTIN_REF side by side, one core each), 60% of it the float32 ResNet50, which both
# run with naive float kernels (QAT_CONVERTER_N lowers the count).
# In the full build only, as all acceptance drivers (minutes of Python-driven training and
# conversion each; the sanitizer build reaches the same code through the unit and interop tests).
if(NOT QAT_SANITIZE)
add_test(NAME acceptance_converter COMMAND bash -c [=[
py=$1/.venv/bin/python; shift
[ -x "$py" ] || { echo "FAIL: no Python venv at $py: run scripts/setup.sh"; exit 1; }
exec "$py" "$@"]=] converter ${PROJECT_SOURCE_DIR}
  ${CMAKE_CURRENT_SOURCE_DIR}/acceptance/test_converter.py $<TARGET_FILE:qat>
  ${PROJECT_BINARY_DIR}/converter_models)
set_tests_properties(acceptance_converter PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800
                     LABELS acceptance ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
