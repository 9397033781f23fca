/* TFLite schema facts, written once: BuiltinOperator codes and names, TensorType codes, names
 * and element sizes, the BuiltinOptions union ids of the option tables qat reads or writes, and
 * the fields (in declaration order = field id; a union takes two ids) of every table the
 * reader's verifier walks. The writer (export/tflite_writer.c), the reader and verifier
 * (runtime/reader.c) and the tests expand these lists; nothing else spells a code or a field id.
 *
 * Source: tensorflow/compiler/mlir/lite/schema/schema.fbs (the copy in
 * ../shared/fixtures/tflite/schema.fbs), cross-checked against TFLM's schema_generated.h
 * (see ../shared/TFLITE-NOTES.md section 1). Adding an operator or an option table: add its
 * line here and the lists grow everywhere at once. */
#ifndef QAT_TFLITE_SCHEMA_H
#define QAT_TFLITE_SCHEMA_H

#define QAT_TFLITE_SCHEMA_VERSION 3
#define QAT_TFLITE_FILE_IDENTIFIER "TFL3"
/* OperatorCode.deprecated_builtin_code is a byte: codes from this one on go in builtin_code. */
#define QAT_TFLITE_PLACEHOLDER_FOR_GREATER_OP_CODES 127

/* enum BuiltinOperator: X(NAME, code), every member, in order (code = position). */
#define QAT_TFLITE_BUILTIN_OPS(X) \
  X(ADD, 0) X(AVERAGE_POOL_2D, 1) X(CONCATENATION, 2) X(CONV_2D, 3) X(DEPTHWISE_CONV_2D, 4) \
  X(DEPTH_TO_SPACE, 5) X(DEQUANTIZE, 6) X(EMBEDDING_LOOKUP, 7) X(FLOOR, 8) X(FULLY_CONNECTED, 9) \
  X(HASHTABLE_LOOKUP, 10) X(L2_NORMALIZATION, 11) X(L2_POOL_2D, 12) \
  X(LOCAL_RESPONSE_NORMALIZATION, 13) X(LOGISTIC, 14) X(LSH_PROJECTION, 15) X(LSTM, 16) \
  X(MAX_POOL_2D, 17) X(MUL, 18) X(RELU, 19) X(RELU_N1_TO_1, 20) X(RELU6, 21) X(RESHAPE, 22) \
  X(RESIZE_BILINEAR, 23) X(RNN, 24) X(SOFTMAX, 25) X(SPACE_TO_DEPTH, 26) X(SVDF, 27) X(TANH, 28) \
  X(CONCAT_EMBEDDINGS, 29) X(SKIP_GRAM, 30) X(CALL, 31) X(CUSTOM, 32) \
  X(EMBEDDING_LOOKUP_SPARSE, 33) X(PAD, 34) X(UNIDIRECTIONAL_SEQUENCE_RNN, 35) X(GATHER, 36) \
  X(BATCH_TO_SPACE_ND, 37) X(SPACE_TO_BATCH_ND, 38) X(TRANSPOSE, 39) X(MEAN, 40) X(SUB, 41) \
  X(DIV, 42) X(SQUEEZE, 43) X(UNIDIRECTIONAL_SEQUENCE_LSTM, 44) X(STRIDED_SLICE, 45) \
  X(BIDIRECTIONAL_SEQUENCE_RNN, 46) X(EXP, 47) X(TOPK_V2, 48) X(SPLIT, 49) X(LOG_SOFTMAX, 50) \
  X(DELEGATE, 51) X(BIDIRECTIONAL_SEQUENCE_LSTM, 52) X(CAST, 53) X(PRELU, 54) X(MAXIMUM, 55) \
  X(ARG_MAX, 56) X(MINIMUM, 57) X(LESS, 58) X(NEG, 59) X(PADV2, 60) X(GREATER, 61) \
  X(GREATER_EQUAL, 62) X(LESS_EQUAL, 63) X(SELECT, 64) X(SLICE, 65) X(SIN, 66) \
  X(TRANSPOSE_CONV, 67) X(SPARSE_TO_DENSE, 68) X(TILE, 69) X(EXPAND_DIMS, 70) X(EQUAL, 71) \
  X(NOT_EQUAL, 72) X(LOG, 73) X(SUM, 74) X(SQRT, 75) X(RSQRT, 76) X(SHAPE, 77) X(POW, 78) \
  X(ARG_MIN, 79) X(FAKE_QUANT, 80) X(REDUCE_PROD, 81) X(REDUCE_MAX, 82) X(PACK, 83) \
  X(LOGICAL_OR, 84) X(ONE_HOT, 85) X(LOGICAL_AND, 86) X(LOGICAL_NOT, 87) X(UNPACK, 88) \
  X(REDUCE_MIN, 89) X(FLOOR_DIV, 90) X(REDUCE_ANY, 91) X(SQUARE, 92) X(ZEROS_LIKE, 93) \
  X(FILL, 94) X(FLOOR_MOD, 95) X(RANGE, 96) X(RESIZE_NEAREST_NEIGHBOR, 97) X(LEAKY_RELU, 98) \
  X(SQUARED_DIFFERENCE, 99) X(MIRROR_PAD, 100) X(ABS, 101) X(SPLIT_V, 102) X(UNIQUE, 103) \
  X(CEIL, 104) X(REVERSE_V2, 105) X(ADD_N, 106) X(GATHER_ND, 107) X(COS, 108) X(WHERE, 109) \
  X(RANK, 110) X(ELU, 111) X(REVERSE_SEQUENCE, 112) X(MATRIX_DIAG, 113) X(QUANTIZE, 114) \
  X(MATRIX_SET_DIAG, 115) X(ROUND, 116) X(HARD_SWISH, 117) X(IF, 118) X(WHILE, 119) \
  X(NON_MAX_SUPPRESSION_V4, 120) X(NON_MAX_SUPPRESSION_V5, 121) X(SCATTER_ND, 122) \
  X(SELECT_V2, 123) X(DENSIFY, 124) X(SEGMENT_SUM, 125) X(BATCH_MATMUL, 126) \
  X(PLACEHOLDER_FOR_GREATER_OP_CODES, 127) X(CUMSUM, 128) X(CALL_ONCE, 129) X(BROADCAST_TO, 130) \
  X(RFFT2D, 131) X(CONV_3D, 132) X(IMAG, 133) X(REAL, 134) X(COMPLEX_ABS, 135) X(HASHTABLE, 136) \
  X(HASHTABLE_FIND, 137) X(HASHTABLE_IMPORT, 138) X(HASHTABLE_SIZE, 139) X(REDUCE_ALL, 140) \
  X(CONV_3D_TRANSPOSE, 141) X(VAR_HANDLE, 142) X(READ_VARIABLE, 143) X(ASSIGN_VARIABLE, 144) \
  X(BROADCAST_ARGS, 145) X(RANDOM_STANDARD_NORMAL, 146) X(BUCKETIZE, 147) X(RANDOM_UNIFORM, 148) \
  X(MULTINOMIAL, 149) X(GELU, 150) X(DYNAMIC_UPDATE_SLICE, 151) X(RELU_0_TO_1, 152) \
  X(UNSORTED_SEGMENT_PROD, 153) X(UNSORTED_SEGMENT_MAX, 154) X(UNSORTED_SEGMENT_SUM, 155) \
  X(ATAN2, 156) X(UNSORTED_SEGMENT_MIN, 157) X(SIGN, 158) X(BITCAST, 159) X(BITWISE_XOR, 160) \
  X(RIGHT_SHIFT, 161) X(STABLEHLO_LOGISTIC, 162) X(STABLEHLO_ADD, 163) X(STABLEHLO_DIVIDE, 164) \
  X(STABLEHLO_MULTIPLY, 165) X(STABLEHLO_MAXIMUM, 166) X(STABLEHLO_RESHAPE, 167) \
  X(STABLEHLO_CLAMP, 168) X(STABLEHLO_CONCATENATE, 169) X(STABLEHLO_BROADCAST_IN_DIM, 170) \
  X(STABLEHLO_CONVOLUTION, 171) X(STABLEHLO_SLICE, 172) X(STABLEHLO_CUSTOM_CALL, 173) \
  X(STABLEHLO_REDUCE, 174) X(STABLEHLO_ABS, 175) X(STABLEHLO_AND, 176) X(STABLEHLO_COSINE, 177) \
  X(STABLEHLO_EXPONENTIAL, 178) X(STABLEHLO_FLOOR, 179) X(STABLEHLO_LOG, 180) \
  X(STABLEHLO_MINIMUM, 181) X(STABLEHLO_NEGATE, 182) X(STABLEHLO_OR, 183) X(STABLEHLO_POWER, 184) \
  X(STABLEHLO_REMAINDER, 185) X(STABLEHLO_RSQRT, 186) X(STABLEHLO_SELECT, 187) \
  X(STABLEHLO_SUBTRACT, 188) X(STABLEHLO_TANH, 189) X(STABLEHLO_SCATTER, 190) \
  X(STABLEHLO_COMPARE, 191) X(STABLEHLO_CONVERT, 192) X(STABLEHLO_DYNAMIC_SLICE, 193) \
  X(STABLEHLO_DYNAMIC_UPDATE_SLICE, 194) X(STABLEHLO_PAD, 195) X(STABLEHLO_IOTA, 196) \
  X(STABLEHLO_DOT_GENERAL, 197) X(STABLEHLO_REDUCE_WINDOW, 198) X(STABLEHLO_SORT, 199) \
  X(STABLEHLO_WHILE, 200) X(STABLEHLO_GATHER, 201) X(STABLEHLO_TRANSPOSE, 202) X(DILATE, 203) \
  X(STABLEHLO_RNG_BIT_GENERATOR, 204) X(REDUCE_WINDOW, 205) X(STABLEHLO_COMPOSITE, 206) \
  X(STABLEHLO_SHIFT_LEFT, 207) X(STABLEHLO_CBRT, 208) X(STABLEHLO_CASE, 209)

#define QAT_TFLITE_OP_ENUM_(name, code) QAT_TFLITE_BUILTIN_##name = code,
enum { QAT_TFLITE_BUILTIN_OPS(QAT_TFLITE_OP_ENUM_) QAT_TFLITE_NUM_BUILTIN_OPS };
#undef QAT_TFLITE_OP_ENUM_

/* enum TensorType: X(NAME, code, bytes per element; 0 = no fixed size or packed sub-byte). */
#define QAT_TFLITE_TENSOR_TYPES(X) \
  X(FLOAT32, 0, 4) X(FLOAT16, 1, 2) X(INT32, 2, 4) X(UINT8, 3, 1) X(INT64, 4, 8) X(STRING, 5, 0) \
  X(BOOL, 6, 1) X(INT16, 7, 2) X(COMPLEX64, 8, 8) X(INT8, 9, 1) X(FLOAT64, 10, 8) \
  X(COMPLEX128, 11, 16) X(UINT64, 12, 8) X(RESOURCE, 13, 0) X(VARIANT, 14, 0) X(UINT32, 15, 4) \
  X(UINT16, 16, 2) X(INT4, 17, 0) X(BFLOAT16, 18, 2) X(INT2, 19, 0) X(UINT4, 20, 0) \
  X(FLOAT8_E4M3FN, 21, 1) X(FLOAT8_E5M2, 22, 1)

#define QAT_TFLITE_TYPE_ENUM_(name, code, size) QAT_TFLITE_TYPE_##name = code,
enum { QAT_TFLITE_TENSOR_TYPES(QAT_TFLITE_TYPE_ENUM_) QAT_TFLITE_NUM_TENSOR_TYPES };
#undef QAT_TFLITE_TYPE_ENUM_

/* enum ActivationFunctionType and enum Padding. */
#define QAT_TFLITE_ACTIVATIONS(X) \
  X(NONE, 0) X(RELU, 1) X(RELU_N1_TO_1, 2) X(RELU6, 3) X(TANH, 4) X(SIGN_BIT, 5)
#define QAT_TFLITE_PADDINGS(X) X(SAME, 0) X(VALID, 1)
#define QAT_TFLITE_ACT_ENUM_(name, code) QAT_TFLITE_ACT_CODE_##name = code,
#define QAT_TFLITE_PAD_ENUM_(name, code) QAT_TFLITE_PAD_CODE_##name = code,
enum { QAT_TFLITE_ACTIVATIONS(QAT_TFLITE_ACT_ENUM_) };
enum { QAT_TFLITE_PADDINGS(QAT_TFLITE_PAD_ENUM_) };
#undef QAT_TFLITE_ACT_ENUM_
#undef QAT_TFLITE_PAD_ENUM_

/* The unions the verifier walks: X(Name, highest member). BuiltinOptions is frozen at 126
 * (newer options go in BuiltinOptions2). */
#define QAT_TFLITE_UNIONS(X) \
  X(BuiltinOptions, 126) X(BuiltinOptions2, 23) X(QuantizationDetails, 3) X(SparseIndexVector, 3)
#define QAT_TFLITE_U(name) QAT_TFLITE_UNION_##name
#define QAT_TFLITE_UNION_ENUM_(name, max) QAT_TFLITE_U(name),
enum { QAT_TFLITE_UNIONS(QAT_TFLITE_UNION_ENUM_) QAT_TFLITE_NUM_UNIONS };
#undef QAT_TFLITE_UNION_ENUM_

/* union BuiltinOptions: X(table, member id) of the option tables qat reads or writes. */
#define QAT_TFLITE_BUILTIN_OPTIONS(X) \
  X(Conv2DOptions, 1) X(DepthwiseConv2DOptions, 2) X(ConcatenationOptions, 10) X(Pool2DOptions, 5) \
  X(ResizeBilinearOptions, 15) X(ResizeNearestNeighborOptions, 74) \
  X(FullyConnectedOptions, 8) X(SoftmaxOptions, 9) X(AddOptions, 11) X(ReshapeOptions, 17) \
  X(ReducerOptions, 27) X(DequantizeOptions, 38) X(QuantizeOptions, 89) \
  X(MulOptions, 21) X(PadOptions, 22) X(SubOptions, 28) \
  X(SqueezeOptions, 30) X(StridedSliceOptions, 32) X(MaximumMinimumOptions, 39) \
  X(PadV2Options, 43) X(ExpandDimsOptions, 52) X(ShapeOptions, 55) X(PackOptions, 59) \
  X(LeakyReluOptions, 75) X(HardSwishOptions, 91) X(TransposeConvOptions, 49) X(GatherOptions, 23) \
  X(LessOptions, 41) X(SelectV2Options, 98)
#define QAT_TFLITE_OPTIONS_ENUM_(table, id) QAT_TFLITE_OPTIONS_##table = id,
enum { QAT_TFLITE_OPTIONS_NONE = 0, QAT_TFLITE_BUILTIN_OPTIONS(QAT_TFLITE_OPTIONS_ENUM_) };
#undef QAT_TFLITE_OPTIONS_ENUM_

/* Tables: QAT_TFLITE_TABLES(X) lists them, X(Name); QAT_TFLITE_FIELDS_<Name>(F) lists a
 * table's fields, F(Table, field, kind, arg): kind S1/S2/S4/S8 (a scalar of that many bytes),
 * STR, V1/V2/V4/V8 (a vector of scalars), VTAB (a vector of tables; arg QAT_TFLITE_T(table)),
 * TAB (a table; arg QAT_TFLITE_T(table)), UTYPE / UVAL (a union's type byte and value; arg
 * QAT_TFLITE_U(union)). QAT_TFLITE_<Table>_<field> is the field id. */
#define QAT_TFLITE_T(name) QAT_TFLITE_TABLE_##name

#define QAT_TFLITE_TABLES(X) \
  X(Model) X(OperatorCode) X(SubGraph) X(Tensor) X(QuantizationParameters) X(CustomQuantization) \
  X(BlockwiseQuantization) X(MultiAxisQuantization) X(SparsityParameters) X(DimensionMetadata) \
  X(Int32Vector) X(Uint16Vector) X(Uint8Vector) X(VariantSubType) X(Operator) X(Buffer) \
  X(Metadata) X(SignatureDef) X(TensorMap) X(ExternalBufferGroup) X(ExternalBuffer) \
  X(Conv2DOptions) X(DepthwiseConv2DOptions) X(FullyConnectedOptions) X(Pool2DOptions) \
  X(ReshapeOptions) X(SoftmaxOptions) X(AddOptions) X(ReducerOptions) X(QuantizeOptions) \
  X(DequantizeOptions) X(ConcatenationOptions) X(MulOptions) X(PadOptions) X(SubOptions) \
  X(SqueezeOptions) X(StridedSliceOptions) X(MaximumMinimumOptions) X(PadV2Options) \
  X(ExpandDimsOptions) X(ShapeOptions) X(PackOptions) X(LeakyReluOptions) X(HardSwishOptions) \
  X(ResizeBilinearOptions) X(ResizeNearestNeighborOptions) X(TransposeConvOptions) X(GatherOptions) \
  X(LessOptions) X(SelectV2Options)
#define QAT_TFLITE_TABLE_ENUM_(name) QAT_TFLITE_T(name),
enum { QAT_TFLITE_TABLES(QAT_TFLITE_TABLE_ENUM_) QAT_TFLITE_NUM_TABLES };
#undef QAT_TFLITE_TABLE_ENUM_

#define QAT_TFLITE_FIELDS_Model(F) \
  F(Model, version, S4, 0) F(Model, operator_codes, VTAB, QAT_TFLITE_T(OperatorCode)) \
  F(Model, subgraphs, VTAB, QAT_TFLITE_T(SubGraph)) F(Model, description, STR, 0) \
  F(Model, buffers, VTAB, QAT_TFLITE_T(Buffer)) F(Model, metadata_buffer, V4, 0) \
  F(Model, metadata, VTAB, QAT_TFLITE_T(Metadata)) \
  F(Model, signature_defs, VTAB, QAT_TFLITE_T(SignatureDef)) \
  F(Model, external_buffer_groups, VTAB, QAT_TFLITE_T(ExternalBufferGroup)) \
  F(Model, external_buffers, VTAB, QAT_TFLITE_T(ExternalBuffer))
#define QAT_TFLITE_FIELDS_OperatorCode(F) \
  F(OperatorCode, deprecated_builtin_code, S1, 0) F(OperatorCode, custom_code, STR, 0) \
  F(OperatorCode, version, S4, 0) F(OperatorCode, builtin_code, S4, 0)
#define QAT_TFLITE_FIELDS_SubGraph(F) \
  F(SubGraph, tensors, VTAB, QAT_TFLITE_T(Tensor)) F(SubGraph, inputs, V4, 0) \
  F(SubGraph, outputs, V4, 0) F(SubGraph, operators, VTAB, QAT_TFLITE_T(Operator)) \
  F(SubGraph, name, STR, 0) F(SubGraph, debug_metadata_index, S4, 0)
#define QAT_TFLITE_FIELDS_Tensor(F) \
  F(Tensor, shape, V4, 0) F(Tensor, type, S1, 0) F(Tensor, buffer, S4, 0) F(Tensor, name, STR, 0) \
  F(Tensor, quantization, TAB, QAT_TFLITE_T(QuantizationParameters)) \
  F(Tensor, is_variable, S1, 0) F(Tensor, sparsity, TAB, QAT_TFLITE_T(SparsityParameters)) \
  F(Tensor, shape_signature, V4, 0) F(Tensor, has_rank, S1, 0) \
  F(Tensor, variant_tensors, VTAB, QAT_TFLITE_T(VariantSubType)) \
  F(Tensor, external_buffer, S4, 0)
#define QAT_TFLITE_FIELDS_QuantizationParameters(F) \
  F(QuantizationParameters, min, V4, 0) F(QuantizationParameters, max, V4, 0) \
  F(QuantizationParameters, scale, V4, 0) F(QuantizationParameters, zero_point, V8, 0) \
  F(QuantizationParameters, details_type, UTYPE, QAT_TFLITE_U(QuantizationDetails)) \
  F(QuantizationParameters, details, UVAL, QAT_TFLITE_U(QuantizationDetails)) \
  F(QuantizationParameters, quantized_dimension, S4, 0)
#define QAT_TFLITE_FIELDS_CustomQuantization(F) \
  F(CustomQuantization, custom, V1, 0)
#define QAT_TFLITE_FIELDS_BlockwiseQuantization(F) \
  F(BlockwiseQuantization, scales, S4, 0) F(BlockwiseQuantization, zero_points, S4, 0) \
  F(BlockwiseQuantization, block_size, S4, 0)
#define QAT_TFLITE_FIELDS_MultiAxisQuantization(F) \
  F(MultiAxisQuantization, scales, S4, 0) F(MultiAxisQuantization, zero_points, S4, 0) \
  F(MultiAxisQuantization, block_size, S4, 0) \
  F(MultiAxisQuantization, quantized_dimensions, V4, 0)
#define QAT_TFLITE_FIELDS_SparsityParameters(F) \
  F(SparsityParameters, traversal_order, V4, 0) F(SparsityParameters, block_map, V4, 0) \
  F(SparsityParameters, dim_metadata, VTAB, QAT_TFLITE_T(DimensionMetadata))
#define QAT_TFLITE_FIELDS_DimensionMetadata(F) \
  F(DimensionMetadata, format, S1, 0) F(DimensionMetadata, dense_size, S4, 0) \
  F(DimensionMetadata, array_segments_type, UTYPE, QAT_TFLITE_U(SparseIndexVector)) \
  F(DimensionMetadata, array_segments, UVAL, QAT_TFLITE_U(SparseIndexVector)) \
  F(DimensionMetadata, array_indices_type, UTYPE, QAT_TFLITE_U(SparseIndexVector)) \
  F(DimensionMetadata, array_indices, UVAL, QAT_TFLITE_U(SparseIndexVector))
#define QAT_TFLITE_FIELDS_Int32Vector(F) \
  F(Int32Vector, values, V4, 0)
#define QAT_TFLITE_FIELDS_Uint16Vector(F) \
  F(Uint16Vector, values, V2, 0)
#define QAT_TFLITE_FIELDS_Uint8Vector(F) \
  F(Uint8Vector, values, V1, 0)
#define QAT_TFLITE_FIELDS_VariantSubType(F) \
  F(VariantSubType, shape, V4, 0) F(VariantSubType, type, S1, 0) \
  F(VariantSubType, has_rank, S1, 0)
#define QAT_TFLITE_FIELDS_Operator(F) \
  F(Operator, opcode_index, S4, 0) F(Operator, inputs, V4, 0) F(Operator, outputs, V4, 0) \
  F(Operator, builtin_options_type, UTYPE, QAT_TFLITE_U(BuiltinOptions)) \
  F(Operator, builtin_options, UVAL, QAT_TFLITE_U(BuiltinOptions)) \
  F(Operator, custom_options, V1, 0) F(Operator, custom_options_format, S1, 0) \
  F(Operator, mutating_variable_inputs, V1, 0) F(Operator, intermediates, V4, 0) \
  F(Operator, large_custom_options_offset, S8, 0) F(Operator, large_custom_options_size, S8, 0) \
  F(Operator, builtin_options_2_type, UTYPE, QAT_TFLITE_U(BuiltinOptions2)) \
  F(Operator, builtin_options_2, UVAL, QAT_TFLITE_U(BuiltinOptions2)) \
  F(Operator, debug_metadata_index, S4, 0)
#define QAT_TFLITE_FIELDS_Buffer(F) \
  F(Buffer, data, V1, 0) F(Buffer, offset, S8, 0) F(Buffer, size, S8, 0)
#define QAT_TFLITE_FIELDS_Metadata(F) \
  F(Metadata, name, STR, 0) F(Metadata, buffer, S4, 0)
#define QAT_TFLITE_FIELDS_SignatureDef(F) \
  F(SignatureDef, inputs, VTAB, QAT_TFLITE_T(TensorMap)) \
  F(SignatureDef, outputs, VTAB, QAT_TFLITE_T(TensorMap)) F(SignatureDef, signature_key, STR, 0) \
  F(SignatureDef, deprecated_tag, STR, 0) F(SignatureDef, subgraph_index, S4, 0)
#define QAT_TFLITE_FIELDS_TensorMap(F) \
  F(TensorMap, name, STR, 0) F(TensorMap, tensor_index, S4, 0)
#define QAT_TFLITE_FIELDS_ExternalBufferGroup(F) \
  F(ExternalBufferGroup, name, STR, 0)
#define QAT_TFLITE_FIELDS_ExternalBuffer(F) \
  F(ExternalBuffer, id, S4, 0) F(ExternalBuffer, group, S4, 0) F(ExternalBuffer, offset, S8, 0) \
  F(ExternalBuffer, length, S8, 0) F(ExternalBuffer, packing, STR, 0)
#define QAT_TFLITE_FIELDS_Conv2DOptions(F) \
  F(Conv2DOptions, padding, S1, 0) F(Conv2DOptions, stride_w, S4, 0) \
  F(Conv2DOptions, stride_h, S4, 0) F(Conv2DOptions, fused_activation_function, S1, 0) \
  F(Conv2DOptions, dilation_w_factor, S4, 0) F(Conv2DOptions, dilation_h_factor, S4, 0) \
  F(Conv2DOptions, quantized_bias_type, S1, 0)
#define QAT_TFLITE_FIELDS_DepthwiseConv2DOptions(F) \
  F(DepthwiseConv2DOptions, padding, S1, 0) F(DepthwiseConv2DOptions, stride_w, S4, 0) \
  F(DepthwiseConv2DOptions, stride_h, S4, 0) F(DepthwiseConv2DOptions, depth_multiplier, S4, 0) \
  F(DepthwiseConv2DOptions, fused_activation_function, S1, 0) \
  F(DepthwiseConv2DOptions, dilation_w_factor, S4, 0) \
  F(DepthwiseConv2DOptions, dilation_h_factor, S4, 0)
#define QAT_TFLITE_FIELDS_FullyConnectedOptions(F) \
  F(FullyConnectedOptions, fused_activation_function, S1, 0) \
  F(FullyConnectedOptions, weights_format, S1, 0) F(FullyConnectedOptions, keep_num_dims, S1, 0) \
  F(FullyConnectedOptions, asymmetric_quantize_inputs, S1, 0) \
  F(FullyConnectedOptions, quantized_bias_type, S1, 0)
#define QAT_TFLITE_FIELDS_Pool2DOptions(F) \
  F(Pool2DOptions, padding, S1, 0) F(Pool2DOptions, stride_w, S4, 0) \
  F(Pool2DOptions, stride_h, S4, 0) F(Pool2DOptions, filter_width, S4, 0) \
  F(Pool2DOptions, filter_height, S4, 0) F(Pool2DOptions, fused_activation_function, S1, 0)
#define QAT_TFLITE_FIELDS_ReshapeOptions(F) \
  F(ReshapeOptions, new_shape, V4, 0)
#define QAT_TFLITE_FIELDS_SoftmaxOptions(F) \
  F(SoftmaxOptions, beta, S4, 0)
#define QAT_TFLITE_FIELDS_AddOptions(F) \
  F(AddOptions, fused_activation_function, S1, 0) F(AddOptions, pot_scale_int16, S1, 0)
#define QAT_TFLITE_FIELDS_GatherOptions(F) F(GatherOptions, axis, S4, 0) F(GatherOptions, batch_dims, S4, 0)
#define QAT_TFLITE_FIELDS_ReducerOptions(F) \
  F(ReducerOptions, keep_dims, S1, 0)
#define QAT_TFLITE_FIELDS_MulOptions(F) \
  F(MulOptions, fused_activation_function, S1, 0)
#define QAT_TFLITE_FIELDS_LeakyReluOptions(F) \
  F(LeakyReluOptions, alpha, S4, 0)
#define QAT_TFLITE_FIELDS_ResizeBilinearOptions(F) \
  F(ResizeBilinearOptions, new_height, S4, 0) F(ResizeBilinearOptions, new_width, S4, 0) \
  F(ResizeBilinearOptions, align_corners, S1, 0) F(ResizeBilinearOptions, half_pixel_centers, S1, 0)
#define QAT_TFLITE_FIELDS_TransposeConvOptions(F) \
  F(TransposeConvOptions, padding, S1, 0) F(TransposeConvOptions, stride_w, S4, 0) \
  F(TransposeConvOptions, stride_h, S4, 0) F(TransposeConvOptions, fused_activation_function, S1, 0) \
  F(TransposeConvOptions, quantized_bias_type, S1, 0)
#define QAT_TFLITE_FIELDS_ResizeNearestNeighborOptions(F) \
  F(ResizeNearestNeighborOptions, align_corners, S1, 0) \
  F(ResizeNearestNeighborOptions, half_pixel_centers, S1, 0)
#define QAT_TFLITE_FIELDS_QuantizeOptions(F)
#define QAT_TFLITE_FIELDS_DequantizeOptions(F)
#define QAT_TFLITE_FIELDS_ConcatenationOptions(F) \
  F(ConcatenationOptions, axis, S4, 0) F(ConcatenationOptions, fused_activation_function, S1, 0)
#define QAT_TFLITE_FIELDS_MulOptions(F) \
  F(MulOptions, fused_activation_function, S1, 0)
#define QAT_TFLITE_FIELDS_PadOptions(F)
#define QAT_TFLITE_FIELDS_SubOptions(F) \
  F(SubOptions, fused_activation_function, S1, 0) F(SubOptions, pot_scale_int16, S1, 0)
#define QAT_TFLITE_FIELDS_SqueezeOptions(F) \
  F(SqueezeOptions, squeeze_dims, V4, 0)
#define QAT_TFLITE_FIELDS_StridedSliceOptions(F) \
  F(StridedSliceOptions, begin_mask, S4, 0) F(StridedSliceOptions, end_mask, S4, 0) \
  F(StridedSliceOptions, ellipsis_mask, S4, 0) F(StridedSliceOptions, new_axis_mask, S4, 0) \
  F(StridedSliceOptions, shrink_axis_mask, S4, 0) F(StridedSliceOptions, offset, S1, 0)
#define QAT_TFLITE_FIELDS_MaximumMinimumOptions(F)
#define QAT_TFLITE_FIELDS_PadV2Options(F)
#define QAT_TFLITE_FIELDS_ExpandDimsOptions(F)
#define QAT_TFLITE_FIELDS_ShapeOptions(F) \
  F(ShapeOptions, out_type, S1, 0)
#define QAT_TFLITE_FIELDS_PackOptions(F) \
  F(PackOptions, values_count, S4, 0) F(PackOptions, axis, S4, 0)
#define QAT_TFLITE_FIELDS_LeakyReluOptions(F) \
  F(LeakyReluOptions, alpha, S4, 0)
#define QAT_TFLITE_FIELDS_HardSwishOptions(F)
#define QAT_TFLITE_FIELDS_LessOptions(F)
#define QAT_TFLITE_FIELDS_SelectV2Options(F)

#define QAT_TFLITE_FIELD_ENUM_(table, field, kind, arg) QAT_TFLITE_##table##_##field,
#define QAT_TFLITE_FIELD_IDS_(name) enum { QAT_TFLITE_FIELDS_##name(QAT_TFLITE_FIELD_ENUM_) QAT_TFLITE_##name##__COUNT };
QAT_TFLITE_TABLES(QAT_TFLITE_FIELD_IDS_)
#undef QAT_TFLITE_FIELD_IDS_
#undef QAT_TFLITE_FIELD_ENUM_

#endif
