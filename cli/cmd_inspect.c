/* qat inspect MODEL.tflite: what a .tflite file holds and what running it costs: operators
 * with versions and MACs, tensors with type, shape and quantization, bytes per buffer and by
 * type, the file size, and the peak activation memory of the runtime's greedy arena plan (what
 * a microcontroller must reserve). The model is loaded (verified, checked, planned) by qat's
 * runtime first, so everything shown is what qat_rt would run. Exit codes: 0, 2 usage, 3 a
 * malformed or unsupported model, 4 I/O. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "qat/error.h"
#include "qat/file.h"
#include "qat/runtime.h"

int qat_cmd_inspect(int argc, char **argv);

static const char usage_inspect[] =
    "usage: qat inspect MODEL.tflite [--json]\n"
    "\n"
    "Loads MODEL in qat's runtime (every offset verified) and prints its operators (version,\n"
    "inputs, outputs, multiply-accumulates), tensors (type, shape, scale/zero point or the\n"
    "per-channel count, bytes, buffer, arena offset), buffers (bytes, metadata names), bytes\n"
    "by type, the file size, total MACs and the peak activation memory of the greedy arena\n"
    "plan (what a microcontroller must reserve for activations).\n"
    "\n"
    "options:\n"
    "  --json       one JSON object\n"
    "  -h, --help   this help\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: inspect: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat inspect --help')\n");
  return 2;
}

/* ---- a bounds-checked read of Model.buffers and Model.metadata ----
 * The runtime has verified the whole structure already; these reads check bounds again so
 * that this file depends on nothing but the format. */
typedef struct fb {
  const uint8_t *p;
  size_t n;
} fb;

static int fb_u32(const fb *b, size_t pos, uint32_t *v) {
  if (pos > b->n || b->n - pos < 4) return -1;
  *v = (uint32_t)b->p[pos] | (uint32_t)b->p[pos + 1] << 8 | (uint32_t)b->p[pos + 2] << 16 |
       (uint32_t)b->p[pos + 3] << 24;
  return 0;
}

static int fb_u16(const fb *b, size_t pos, uint16_t *v) {
  if (pos > b->n || b->n - pos < 2) return -1;
  *v = (uint16_t)(b->p[pos] | b->p[pos + 1] << 8);
  return 0;
}

static int fb_u64(const fb *b, size_t pos, uint64_t *v) {
  uint32_t lo, hi;
  if (fb_u32(b, pos, &lo) || fb_u32(b, pos + 4, &hi)) return -1;
  *v = (uint64_t)hi << 32 | lo;
  return 0;
}

/* Position of field `id` of the table at `table`, 0 when absent or out of bounds. */
static size_t fb_field(const fb *b, size_t table, int id) {
  uint32_t so;
  if (fb_u32(b, table, &so)) return 0;
  int64_t vt = (int64_t)table - (int32_t)so;
  if (vt < 0 || (uint64_t)vt >= b->n) return 0;
  uint16_t vsize, fo;
  if (fb_u16(b, (size_t)vt, &vsize)) return 0;
  if (4u + 2u * (unsigned)id + 2u > vsize) return 0;
  if (fb_u16(b, (size_t)vt + 4 + 2 * (size_t)id, &fo) || fo == 0) return 0;
  return table + fo < b->n ? table + fo : 0;
}

/* Follows the uoffset at pos; 0 on failure. */
static size_t fb_deref(const fb *b, size_t pos) {
  uint32_t off;
  if (!pos || fb_u32(b, pos, &off) || off == 0 || off >= b->n - pos) return 0;
  return pos + off;
}

/* A vector field: position of its first element and its length. */
static int fb_vector(const fb *b, size_t table, int id, size_t *elems, uint32_t *len) {
  size_t v = fb_deref(b, fb_field(b, table, id));
  if (!v || fb_u32(b, v, len)) return -1;
  *elems = v + 4;
  if (*len > b->n - *elems) return -1;
  return 0;
}

typedef struct buffer_row {
  uint64_t bytes;
  int external; /* offset/size outside the flatbuffer */
  const char *meta; /* a metadata entry's name pointing at it, or NULL */
  size_t meta_len;
} buffer_row;

/* Fills rows (allocated, *n_rows entries) and the schema version; -1 when the walk fails. */
static int read_buffers(const fb *b, buffer_row **rows, uint32_t *n_rows, uint32_t *version) {
  *rows = NULL;
  *n_rows = 0;
  *version = 0;
  uint32_t root_off;
  if (fb_u32(b, 0, &root_off) || root_off == 0 || root_off >= b->n) return -1;
  size_t root = root_off;
  size_t vf = fb_field(b, root, 0);
  if (vf && fb_u32(b, vf, version)) return -1;
  size_t el;
  uint32_t n;
  if (fb_vector(b, root, 4, &el, &n)) return 0; /* no buffers */
  if (n > (b->n - el) / 4) return -1;
  buffer_row *r = calloc(n ? n : 1, sizeof *r);
  if (!r) return -1;
  for (uint32_t i = 0; i < n; i++) {
    size_t t = fb_deref(b, el + 4 * (size_t)i);
    if (!t) continue;
    size_t del;
    uint32_t dlen;
    if (!fb_vector(b, t, 0, &del, &dlen)) r[i].bytes = dlen;
    size_t sf = fb_field(b, t, 2), of = fb_field(b, t, 1);
    uint64_t off = 0, size = 0;
    if (of && sf && !fb_u64(b, of, &off) && !fb_u64(b, sf, &size) && off > 1) {
      r[i].bytes = size;
      r[i].external = 1;
    }
  }
  size_t mel;
  uint32_t mn;
  if (!fb_vector(b, root, 6, &mel, &mn) && mn <= (b->n - mel) / 4) {
    for (uint32_t i = 0; i < mn; i++) {
      size_t t = fb_deref(b, mel + 4 * (size_t)i);
      if (!t) continue;
      size_t bf = fb_field(b, t, 1), sp;
      uint32_t bi, slen;
      if (!bf || fb_u32(b, bf, &bi) || bi >= n) continue;
      if (fb_vector(b, t, 0, &sp, &slen)) continue;
      r[bi].meta = (const char *)b->p + sp;
      r[bi].meta_len = slen;
    }
  }
  *rows = r;
  *n_rows = n;
  return 0;
}

/* ---- output ---- */
static void shape_text(char *buf, size_t len, const qat_rt_tensor_info *t) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < t->rank && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", t->dims[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

static void quant_text(char *buf, size_t len, const qat_rt_tensor_info *t) {
  if (t->n_scales == 0) snprintf(buf, len, "-");
  else if (t->n_scales == 1)
    snprintf(buf, len, "scale %.9g zp %lld", (double)t->scales[0], (long long)t->zero_points[0]);
  else snprintf(buf, len, "per-channel x%d (axis %d)", t->n_scales, t->quantized_dimension);
}

static void idx_list(char *buf, size_t len, const int32_t *v, int n) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < n && k < len; i++) k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", v[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

static void json_ints(FILE *f, const int32_t *v, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) fprintf(f, i ? ",%d" : "%d", v[i]);
  fputc(']', f);
}

#define N_TYPES 32

int qat_cmd_inspect(int argc, char **argv) {
  const char *path = NULL;
  int json = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_inspect, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option '%s'", a);
    } else if (!path) {
      path = a;
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
  }
  if (!path) return usage_error("%s", "needs MODEL.tflite");

  qat_rt_model *m = NULL;
  uint8_t *file = NULL;
  buffer_row *bufs = NULL;
  uint32_t n_bufs = 0, schema_version = 0;
  int rc = qat_cli_load_model(path, NULL, &m);
  if (rc) goto report;
  /* The runtime has read and verified the file; read it again for the buffer table. */
  size_t file_bytes = 0;
  {
    void *again = NULL;
    if (qat_file_read_all(path, "model", QAT_RT_DEFAULT_MAX_FILE_BYTES, &again, &file_bytes)) {
      rc = qat_fail_prefix(QAT_ERR_IO, "cannot read it again (changed while reading?): ");
      goto report;
    }
    file = again;
  }
  fb b = {file, file_bytes};
  if (read_buffers(&b, &bufs, &n_bufs, &schema_version)) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: cannot read Model.buffers", path);
    goto report;
  }

  const int nt = qat_rt_num_tensors(m), no = qat_rt_num_ops(m);
  int64_t total_macs = 0;
  uint64_t const_by_type[N_TYPES] = {0}, act_by_type[N_TYPES] = {0};
  int const_n[N_TYPES] = {0}, act_n[N_TYPES] = {0};
  uint64_t const_total = 0;
  for (int i = 0; i < nt; i++) {
    qat_rt_tensor_info t;
    if ((rc = qat_rt_tensor(m, i, &t))) goto report;
    int ty = t.type >= 0 && t.type < N_TYPES ? t.type : N_TYPES - 1;
    if (t.is_const) const_by_type[ty] += t.bytes, const_n[ty]++, const_total += t.bytes;
    else act_by_type[ty] += t.bytes, act_n[ty]++;
  }
  for (int k = 0; k < no; k++) {
    qat_rt_op_info o;
    if ((rc = qat_rt_op(m, k, &o))) goto report;
    total_macs += o.macs;
  }
  uint64_t buf_total = 0;
  for (uint32_t i = 0; i < n_bufs; i++) buf_total += bufs[i].bytes;
  const size_t peak = qat_rt_arena_bytes(m), all_act = qat_rt_activation_bytes(m);

  if (json) {
    printf("{\"model\":");
    qat_cli_json_string(stdout, path);
    printf(",\"file_bytes\":%zu,\"schema_version\":%u,\"operators\":[", file_bytes, schema_version);
    for (int k = 0; k < no; k++) {
      qat_rt_op_info o;
      qat_rt_op(m, k, &o);
      printf(k ? ",{" : "{");
      printf("\"index\":%d,\"op\":", k);
      qat_cli_json_string(stdout, o.name);
      printf(",\"code\":%d,\"version\":%d,\"inputs\":", o.code, o.version);
      json_ints(stdout, o.inputs, o.n_inputs);
      printf(",\"outputs\":");
      json_ints(stdout, o.outputs, o.n_outputs);
      printf(",\"macs\":%lld}", (long long)o.macs);
    }
    printf("],\"total_macs\":%lld,\"tensors\":[", (long long)total_macs);
    for (int i = 0; i < nt; i++) {
      qat_rt_tensor_info t;
      qat_rt_tensor(m, i, &t);
      printf(i ? ",{" : "{");
      printf("\"index\":%d,\"name\":", i);
      qat_cli_json_string(stdout, t.name);
      printf(",\"type\":\"%s\",\"shape\":", qat_rt_type_name(t.type));
      json_ints(stdout, t.dims, t.rank);
      printf(",\"bytes\":%zu,\"buffer\":%d,\"const\":%s", t.bytes, t.buffer, t.is_const ? "true" : "false");
      if (t.is_input) printf(",\"input\":true");
      if (t.is_output) printf(",\"output\":true");
      if (t.in_arena) printf(",\"arena_offset\":%zu", t.arena_offset);
      if (t.n_scales == 1)
        printf(",\"scale\":%.9g,\"zero_point\":%lld", (double)t.scales[0], (long long)t.zero_points[0]);
      else if (t.n_scales > 1)
        printf(",\"per_channel\":%d,\"quantized_dimension\":%d", t.n_scales, t.quantized_dimension);
      printf("}");
    }
    printf("],\"buffers\":[");
    for (uint32_t i = 0; i < n_bufs; i++) {
      printf(i ? ",{" : "{");
      printf("\"index\":%u,\"bytes\":%llu", i, (unsigned long long)bufs[i].bytes);
      if (bufs[i].external) printf(",\"external\":true");
      if (bufs[i].meta) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(bufs[i].meta_len < 255 ? bufs[i].meta_len : 255), bufs[i].meta);
        printf(",\"metadata\":");
        qat_cli_json_string(stdout, name);
      }
      printf("}");
    }
    printf("],\"buffer_bytes\":%llu,\"const_bytes_by_type\":{", (unsigned long long)buf_total);
    int first = 1;
    for (int ty = 0; ty < N_TYPES; ty++)
      if (const_n[ty]) {
        printf("%s\"%s\":%llu", first ? "" : ",", qat_rt_type_name(ty), (unsigned long long)const_by_type[ty]);
        first = 0;
      }
    printf("},\"activation_bytes_by_type\":{");
    first = 1;
    for (int ty = 0; ty < N_TYPES; ty++)
      if (act_n[ty]) {
        printf("%s\"%s\":%llu", first ? "" : ",", qat_rt_type_name(ty), (unsigned long long)act_by_type[ty]);
        first = 0;
      }
    printf("},\"const_bytes\":%llu,\"peak_activation_bytes\":%zu,\"activation_bytes\":%zu}\n",
           (unsigned long long)const_total, peak, all_act);
  } else {
    printf("%s: %zu bytes, schema version %u, %d operators, %d tensors, %u buffers\n", path, file_bytes,
           schema_version, no, nt, n_bufs);
    printf("\noperators:\n  %4s  %-24s %3s  %-18s %-10s %14s\n", "#", "op", "ver", "inputs", "outputs", "MACs");
    for (int k = 0; k < no; k++) {
      qat_rt_op_info o;
      qat_rt_op(m, k, &o);
      char ins[160], outs[80];
      idx_list(ins, sizeof ins, o.inputs, o.n_inputs);
      idx_list(outs, sizeof outs, o.outputs, o.n_outputs);
      printf("  %4d  %-24s v%-2d  %-18s %-10s %14lld\n", k, o.name, o.version, ins, outs, (long long)o.macs);
    }
    printf("  total MACs: %lld\n", (long long)total_macs);
    printf("\ntensors:\n  %4s  %-7s %-16s %10s %5s  %-8s  %-34s %s\n", "#", "type", "shape", "bytes", "buf",
           "where", "quantization", "name");
    for (int i = 0; i < nt; i++) {
      qat_rt_tensor_info t;
      qat_rt_tensor(m, i, &t);
      char shape[120], q[96], where[32];
      shape_text(shape, sizeof shape, &t);
      quant_text(q, sizeof q, &t);
      if (t.is_const) snprintf(where, sizeof where, "const");
      else if (t.in_arena) snprintf(where, sizeof where, "@%zu", t.arena_offset);
      else snprintf(where, sizeof where, "-");
      printf("  %4d  %-7s %-16s %10zu %5d  %-8s  %-34s %s%s%s\n", i, qat_rt_type_name(t.type), shape, t.bytes,
             t.buffer, where, q, t.name, t.is_input ? " (input)" : "", t.is_output ? " (output)" : "");
    }
    printf("\nbuffers:\n");
    for (uint32_t i = 0; i < n_bufs; i++) {
      if (!bufs[i].bytes && !bufs[i].meta) continue;
      printf("  %4u  %10llu bytes%s", i, (unsigned long long)bufs[i].bytes, bufs[i].external ? " (external)" : "");
      if (bufs[i].meta) printf("  metadata '%.*s'", (int)(bufs[i].meta_len < 255 ? bufs[i].meta_len : 255),
                               bufs[i].meta);
      printf("\n");
    }
    printf("  (%u buffers, %llu bytes of data; empty ones not listed)\n", n_bufs, (unsigned long long)buf_total);
    printf("\nbytes by type:\n");
    for (int ty = 0; ty < N_TYPES; ty++) {
      if (!const_n[ty] && !act_n[ty]) continue;
      printf("  %-8s constants %10llu (%d tensor%s)   activations %10llu (%d tensor%s)\n", qat_rt_type_name(ty),
             (unsigned long long)const_by_type[ty], const_n[ty], const_n[ty] == 1 ? "" : "s",
             (unsigned long long)act_by_type[ty], act_n[ty], act_n[ty] == 1 ? "" : "s");
    }
    printf("\nfile: %zu bytes (constants %llu, other %llu)\n", file_bytes, (unsigned long long)const_total,
           (unsigned long long)(file_bytes > const_total ? file_bytes - const_total : 0));
    printf("MACs per inference: %lld\n", (long long)total_macs);
    printf("peak activation memory (greedy arena plan): %zu bytes (%zu without sharing)\n", peak, all_act);
  }
  free(bufs);
  free(file);
  qat_rt_model_free(m);
  return 0;
report:
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  free(bufs);
  free(file);
  qat_rt_model_free(m);
  return rc == QAT_ERR_UNSUPPORTED ? 3 : qat_exit_code(rc);
}
