/* libyaml events -> cfg_node tree. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/internal.h"
#include "qat/error.h"

void qat_cfg_tree_free(cfg_node *n) {
  if (!n) return;
  /* Recursion is bounded by QAT_CONFIG_MAX_DEPTH, enforced while building. */
  for (size_t i = 0; i < n->n; i++)
    qat_cfg_tree_free(n->kids[i]);
  free(n->kids);
  free(n->str);
  free(n);
}

/* Reader errors (bad UTF-8) carry only a byte offset; turn it into the line:column that
 * scanner errors carry, counting columns in characters as libyaml does. */
void qat_cfg_offset_pos(const char *text, size_t len, size_t off, int *line, int *col) {
  int l = 1, k = 1;
  if (off > len) off = len;
  for (size_t i = 0; i < off; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch == '\n') {
      l++;
      k = 1;
    } else if ((ch & 0xC0) != 0x80) {
      k++;
    }
  }
  *line = l;
  *col = k;
}

static int syntax_error(const cfg_ctx *c, const yaml_parser_t *p, const char *text, size_t len) {
  int line, col;
  const char *problem = p->problem ? p->problem : "unknown problem";
  if (p->error == YAML_MEMORY_ERROR)
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory while parsing YAML", c->src);
  if (p->error == YAML_READER_ERROR) {
    qat_cfg_offset_pos(text, len, p->problem_offset, &line, &col);
    if (p->problem_value >= 0)
      return qat_fail(QAT_ERR_USAGE,
                      "%s:%d:%d: invalid YAML: %s (byte 0x%02x; expected UTF-8 text)", c->src, line,
                      col, problem, (unsigned)p->problem_value & 0xFFu);
    return qat_fail(QAT_ERR_USAGE, "%s:%d:%d: invalid YAML: %s (expected UTF-8 text)", c->src, line,
                    col, problem);
  }
  line = (int)p->problem_mark.line + 1;
  col = (int)p->problem_mark.column + 1;
  if (p->context)
    return qat_fail(QAT_ERR_USAGE, "%s:%d:%d: invalid YAML: %s (%s at %d:%d)", c->src, line, col,
                    problem, p->context, (int)p->context_mark.line + 1,
                    (int)p->context_mark.column + 1);
  return qat_fail(QAT_ERR_USAGE, "%s:%d:%d: invalid YAML: %s", c->src, line, col, problem);
}

static int append(cfg_node *parent, cfg_node *kid) {
  if (parent->n == parent->cap) {
    size_t cap = parent->cap ? parent->cap * 2 : 4;
    cfg_node **k = realloc(parent->kids, cap * sizeof *k);
    if (!k) return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
    parent->kids = k;
    parent->cap = cap;
  }
  parent->kids[parent->n++] = kid;
  return 0;
}

static int event_error(const cfg_ctx *c, const yaml_event_t *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int event_error(const cfg_ctx *c, const yaml_event_t *ev, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return qat_fail(QAT_ERR_USAGE, "%s:%d:%d: invalid config: %s", c->src,
                  (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, msg);
}

/* Makes the node for a scalar or collection-start event, or records why not. */
static int new_node(const cfg_ctx *c, const yaml_event_t *ev, cfg_node **out) {
  const yaml_char_t *tag = NULL;
  cfg_node *n;
  *out = NULL;
  if (ev->type == YAML_SCALAR_EVENT)
    tag = ev->data.scalar.tag;
  else if (ev->type == YAML_SEQUENCE_START_EVENT)
    tag = ev->data.sequence_start.tag;
  else
    tag = ev->data.mapping_start.tag;
  /* A tag would override how a scalar reads (!!str 32); the schema decides types instead. */
  if (tag)
    return event_error(c, ev, "explicit YAML tags (%s) are not supported",
                       qat_cfg_quote((const char *)tag, strlen((const char *)tag)).s);
  n = calloc(1, sizeof *n);
  if (!n) return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
  n->line = (int)ev->start_mark.line + 1;
  n->col = (int)ev->start_mark.column + 1;
  if (ev->type == YAML_SCALAR_EVENT) {
    n->kind = CFG_SCALAR;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->len = ev->data.scalar.length;
    n->str = malloc(n->len + 1);
    if (!n->str) {
      free(n);
      return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
    }
    memcpy(n->str, ev->data.scalar.value, n->len);
    n->str[n->len] = '\0';
  } else {
    n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? CFG_SEQ : CFG_MAP;
  }
  *out = n;
  return 0;
}

int qat_cfg_tree_build(const cfg_ctx *c, const char *text, size_t len, cfg_node **root) {
  yaml_parser_t parser;
  yaml_event_t ev;
  cfg_node *stack[QAT_CONFIG_MAX_DEPTH];
  cfg_node *top = NULL;
  int depth = 0, ndocs = 0, done = 0, rc = 0;

  *root = NULL;
  if (!yaml_parser_initialize(&parser)) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", c->src);
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  /* UTF-16 autodetection would accept files the NUL check was meant to reject. */
  yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

  while (!done) {
    cfg_node *n = NULL;
    if (!yaml_parser_parse(&parser, &ev)) {
      rc = syntax_error(c, &parser, text, len);
      goto free_tree;
    }
    switch (ev.type) {
    case YAML_DOCUMENT_START_EVENT:
      if (ndocs++)
        rc = event_error(c, &ev, "a second YAML document (expected one document per file)");
      break;
    case YAML_ALIAS_EVENT:
      rc = event_error(c, &ev, "YAML aliases (*%s) are not supported (expected plain values)",
                       qat_cfg_quote((const char *)ev.data.alias.anchor,
                                     strlen((const char *)ev.data.alias.anchor))
                           .s);
      break;
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      if (ev.type != YAML_SCALAR_EVENT && depth == QAT_CONFIG_MAX_DEPTH) {
        rc = event_error(c, &ev, "nesting deeper than %d levels", QAT_CONFIG_MAX_DEPTH);
        break;
      }
      if ((rc = new_node(c, &ev, &n))) break;
      if (depth == 0) {
        top = n;
      } else if ((rc = append(stack[depth - 1], n))) {
        qat_cfg_tree_free(n);
        break;
      }
      if (n->kind != CFG_SCALAR) stack[depth++] = n;
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: depth--; break;
    case YAML_STREAM_END_EVENT: done = 1; break;
    default: break;
    }
    yaml_event_delete(&ev);
    if (rc) goto free_tree;
  }
  yaml_parser_delete(&parser);
  *root = top;
  return 0;

free_tree:
  qat_cfg_tree_free(top);
  yaml_parser_delete(&parser);
  return rc;
}
