/* TFLite Support's model metadata: the ModelMetadata flatbuffer (tflite-support's
 * tensorflow_lite_support/metadata/metadata_schema.fbs, file identifier "M001", schema 1.0.0
 * fields only) that TFLite's Task Library, Android Studio's model binding and Netron read from a
 * model's "TFLITE_METADATA" buffer: the model's name, the input image's color space and its
 * normalization in stored pixel units, and the output's labels file (TENSOR_AXIS_LABELS), which
 * is packed into the zip archive appended to the model (qat_tflite_append_files). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/flatbuf.h"
#include "qat/flatbuf_read.h"
#include "qat/tflite.h"

/* Field ids, in the schema's declaration order (a union counts twice: its type, then its value). */
enum { AF_name, AF_description, AF_type, AF_locale, AF__COUNT };
enum { AF_TYPE_TENSOR_AXIS_LABELS = 2 };
enum { TM_name, TM_description, TM_dimension_names, TM_content, TM_process_units, TM_stats, TM_associated_files,
       TM__COUNT };
enum { CONTENT_properties_type, CONTENT_properties, CONTENT_range, CONTENT__COUNT };
enum { PROPS_FeatureProperties = 1, PROPS_ImageProperties = 2 };
enum { IMAGE_color_space, IMAGE_default_size, IMAGE__COUNT };
enum { COLOR_RGB = 1, COLOR_GRAYSCALE = 2 };
enum { PU_options_type, PU_options, PU__COUNT };
enum { PU_NormalizationOptions = 1 };
enum { NORM_mean, NORM_std, NORM__COUNT };
enum { SG_name, SG_description, SG_input_tensor_metadata, SG_output_tensor_metadata, SG__COUNT = 10 };
enum { MM_name, MM_description, MM_version, MM_subgraph_metadata, MM_author, MM_license, MM_associated_files,
       MM_min_parser_version, MM__COUNT };

static qat_fb_off empty_table(qat_fb_builder *b) {
  qat_fb_start_table(b, 0);
  return qat_fb_end_table(b);
}

static qat_fb_off input_metadata(qat_fb_builder *b, const qat_tflite_metadata *md, const char *name) {
  qat_fb_off content = 0;
  if (md->image_channels == 1 || md->image_channels == 3) {
    qat_fb_start_table(b, IMAGE__COUNT);
    qat_fb_add_scalar_i8(b, IMAGE_color_space, md->image_channels == 3 ? COLOR_RGB : COLOR_GRAYSCALE, 0);
    qat_fb_off image = qat_fb_end_table(b);
    qat_fb_start_table(b, CONTENT__COUNT);
    qat_fb_add_union(b, CONTENT_properties_type, PROPS_ImageProperties, image);
    content = qat_fb_end_table(b);
  } else {
    qat_fb_off feature = empty_table(b);
    qat_fb_start_table(b, CONTENT__COUNT);
    qat_fb_add_union(b, CONTENT_properties_type, PROPS_FeatureProperties, feature);
    content = qat_fb_end_table(b);
  }
  qat_fb_off units = 0;
  if (md->n_norm > 0) {
    qat_fb_off mean = qat_fb_create_vector(b, md->mean, (size_t)md->n_norm, 4, 0);
    qat_fb_off std = qat_fb_create_vector(b, md->std, (size_t)md->n_norm, 4, 0);
    qat_fb_start_table(b, NORM__COUNT);
    qat_fb_add_offset(b, NORM_mean, mean);
    qat_fb_add_offset(b, NORM_std, std);
    qat_fb_off norm = qat_fb_end_table(b);
    qat_fb_start_table(b, PU__COUNT);
    qat_fb_add_union(b, PU_options_type, PU_NormalizationOptions, norm);
    qat_fb_off unit = qat_fb_end_table(b);
    units = qat_fb_create_offset_vector(b, &unit, 1);
  }
  qat_fb_off name_off = qat_fb_create_string(b, name);
  qat_fb_off description = md->input_description ? qat_fb_create_string(b, md->input_description) : 0;
  qat_fb_start_table(b, TM__COUNT);
  qat_fb_add_offset(b, TM_name, name_off);
  qat_fb_add_offset(b, TM_description, description);
  qat_fb_add_offset(b, TM_content, content);
  qat_fb_add_offset(b, TM_process_units, units);
  return qat_fb_end_table(b);
}

static qat_fb_off output_metadata(qat_fb_builder *b, const qat_tflite_metadata *md, const char *name) {
  qat_fb_off feature = empty_table(b);
  qat_fb_start_table(b, CONTENT__COUNT);
  qat_fb_add_union(b, CONTENT_properties_type, PROPS_FeatureProperties, feature);
  qat_fb_off content = qat_fb_end_table(b);
  qat_fb_off files = 0;
  if (md->labels_file) {
    qat_fb_off file_name = qat_fb_create_string(b, md->labels_file);
    qat_fb_off what = qat_fb_create_string(b, "class names, one per line, in the order of the output's last axis");
    qat_fb_start_table(b, AF__COUNT);
    qat_fb_add_offset(b, AF_name, file_name);
    qat_fb_add_offset(b, AF_description, what);
    qat_fb_add_scalar_i8(b, AF_type, AF_TYPE_TENSOR_AXIS_LABELS, 0);
    qat_fb_off file = qat_fb_end_table(b);
    files = qat_fb_create_offset_vector(b, &file, 1);
  }
  qat_fb_off name_off = qat_fb_create_string(b, name);
  qat_fb_start_table(b, TM__COUNT);
  qat_fb_add_offset(b, TM_name, name_off);
  qat_fb_add_offset(b, TM_content, content);
  qat_fb_add_offset(b, TM_associated_files, files);
  return qat_fb_end_table(b);
}

int qat_tflite_metadata_build(qat_tflite_model *t, const qat_tflite_metadata *md) {
  if (t->n_inputs < 1 || t->n_outputs < 1) return qat_fail(QAT_ERR_USAGE, "tflite metadata: the model has no I/O");
  if (md->n_norm < 0 || md->n_norm > QAT_TFLITE_METADATA_MAX_CHANNELS)
    return qat_fail(QAT_ERR_USAGE, "tflite metadata: %d normalization channels", md->n_norm);
  qat_fb_builder b;
  qat_fb_builder_init(&b, 1024);
  qat_fb_off in[QAT_TFLITE_MAX_IO], out[QAT_TFLITE_MAX_IO];
  for (int i = 0; i < t->n_inputs; i++) in[i] = input_metadata(&b, md, t->inputs[i].name);
  for (int i = 0; i < t->n_outputs; i++) out[i] = output_metadata(&b, md, t->outputs[i].name);
  qat_fb_off ins = qat_fb_create_offset_vector(&b, in, (size_t)t->n_inputs);
  qat_fb_off outs = qat_fb_create_offset_vector(&b, out, (size_t)t->n_outputs);
  qat_fb_start_table(&b, SG__COUNT);
  qat_fb_add_offset(&b, SG_input_tensor_metadata, ins);
  qat_fb_add_offset(&b, SG_output_tensor_metadata, outs);
  qat_fb_off subgraph = qat_fb_end_table(&b);
  qat_fb_off subgraphs = qat_fb_create_offset_vector(&b, &subgraph, 1);
  qat_fb_off name = qat_fb_create_string(&b, md->name ? md->name : "model");
  qat_fb_off description = md->description ? qat_fb_create_string(&b, md->description) : 0;
  qat_fb_off parser = qat_fb_create_string(&b, "1.0.0");
  qat_fb_start_table(&b, MM__COUNT);
  qat_fb_add_offset(&b, MM_name, name);
  qat_fb_add_offset(&b, MM_description, description);
  qat_fb_add_offset(&b, MM_subgraph_metadata, subgraphs);
  qat_fb_add_offset(&b, MM_min_parser_version, parser);
  qat_fb_off root = qat_fb_end_table(&b);
  int rc = qat_fb_finish(&b, root, "M001");
  if (!rc) {
    size_t n;
    const uint8_t *data = qat_fb_data(&b, &n);
    uint8_t *copy = malloc(n);
    if (!copy) {
      rc = qat_fail(QAT_ERR_NOMEM, "tflite metadata: out of memory");
    } else {
      memcpy(copy, data, n);
      free(t->support_metadata);
      t->support_metadata = copy;
      t->support_metadata_bytes = n;
    }
  }
  qat_fb_builder_free(&b);
  return rc;
}

/* Model's fields (schema.fbs order), Metadata's and Buffer's */
enum { MODEL_buffers = 4, MODEL_metadata = 6 };
enum { META_name, META_buffer };
enum { BUF_data };

int qat_tflite_read_normalization(const uint8_t *bytes, size_t size, float *mean, float *std, int max) {
  if (!bytes || size < 8) return 0;
  /* Only clamped accessors: a buffer that is not what it claims gives no normalization (or a
   * wrong one), never a read outside the bytes. */
  const qat_fb_table model = qat_fb_table_open(bytes, size, qat_fb_rd32(bytes, 0));
  size_t metas, bufs;
  uint32_t n_metas, n_bufs;
  if (!qat_fb_vec(&model, MODEL_metadata, 4, &metas, &n_metas) || !qat_fb_vec(&model, MODEL_buffers, 4, &bufs, &n_bufs))
    return 0;
  for (uint32_t i = 0; i < n_metas; i++) {
    const qat_fb_table meta = qat_fb_vec_table(&model, metas, i);
    const char *name = qat_fb_str(&meta, META_name);
    const uint32_t k = qat_fb_u32(&meta, META_buffer, 0);
    if (!name || strcmp(name, "TFLITE_METADATA") || k >= n_bufs) continue;
    const qat_fb_table buf = qat_fb_vec_table(&model, bufs, k);
    size_t data;
    uint32_t len;
    if (!qat_fb_vec(&buf, BUF_data, 1, &data, &len) || len < 8 || memcmp(bytes + data + 4, "M001", 4)) return 0;
    const uint8_t *md = bytes + data;
    const qat_fb_table root = qat_fb_table_open(md, len, qat_fb_rd32(md, 0));
    size_t sgs, ins, units;
    uint32_t n_sgs, n_ins, n_units;
    if (!qat_fb_vec(&root, MM_subgraph_metadata, 4, &sgs, &n_sgs) || n_sgs < 1) return 0;
    const qat_fb_table sg = qat_fb_vec_table(&root, sgs, 0);
    if (!qat_fb_vec(&sg, SG_input_tensor_metadata, 4, &ins, &n_ins) || n_ins < 1) return 0;
    const qat_fb_table in = qat_fb_vec_table(&sg, ins, 0);
    if (!qat_fb_vec(&in, TM_process_units, 4, &units, &n_units)) return 0;
    for (uint32_t u = 0; u < n_units; u++) {
      const qat_fb_table unit = qat_fb_vec_table(&in, units, u);
      if (qat_fb_u8(&unit, PU_options_type, 0) != PU_NormalizationOptions) continue;
      const qat_fb_table norm = qat_fb_sub(&unit, PU_options);
      size_t pm, ps;
      uint32_t nm, ns;
      if (!qat_fb_vec(&norm, NORM_mean, 4, &pm, &nm) || !qat_fb_vec(&norm, NORM_std, 4, &ps, &ns) || nm != ns ||
          nm < 1 || nm > (uint32_t)max)
        return 0;
      for (uint32_t c = 0; c < nm; c++) {
        mean[c] = qat_fb_rdf32(md, pm + 4 * (size_t)c);
        std[c] = qat_fb_rdf32(md, ps + 4 * (size_t)c);
        if (!isfinite(mean[c]) || !isfinite(std[c]) || std[c] == 0.0f) return 0;
      }
      return (int)nm;
    }
    return 0;
  }
  return 0;
}
