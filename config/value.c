/* Messages, suggestions and the strict scalar converters of the config parser. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "qat/error.h"

cfg_quoted qat_cfg_quote(const char *s, size_t len) {
  cfg_quoted q;
  size_t o = 0, limit = 60; /* enough to recognize, short enough for one line */
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (o >= limit) {
      memcpy(q.s + o, "...", 3);
      o += 3;
      break;
    }
    if (ch == '\n') {
      q.s[o++] = '\\';
      q.s[o++] = 'n';
    } else if (ch < 0x20 || ch == 0x7f) {
      q.s[o++] = '?';
    } else {
      q.s[o++] = (char)ch;
    }
  }
  q.s[o] = '\0';
  return q;
}

int qat_cfg_error(const cfg_ctx *c, const cfg_node *at, const char *path, const char *fmt, ...) {
  char msg[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!path || !*path) path = "(top level)";
  if (at) return qat_fail(QAT_ERR_USAGE, "%s:%d:%d: %s: %s", c->src, at->line, at->col, path, msg);
  return qat_fail(QAT_ERR_USAGE, "%s: %s: %s", c->src, path, msg);
}

void qat_cfg_path(char *dst, const char *parent, const char *key, size_t keylen) {
  snprintf(dst, CFG_PATH_MAX, "%s%s%s", parent, *parent ? "." : "", qat_cfg_quote(key, keylen).s);
}

void qat_cfg_path_index(char *dst, const char *parent, size_t index) {
  snprintf(dst, CFG_PATH_MAX, "%s[%zu]", parent, index);
}

/* Optimal string alignment distance, so a swapped pair of letters counts as one typo. */
static size_t typo_distance(const char *a, size_t la, const char *b, size_t lb) {
  enum { MAXL = 48 };
  size_t d[MAXL + 1][MAXL + 1];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
      size_t v = d[i - 1][j - 1] + !same;
      if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
          tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
          d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[la][lb];
}

static int prefix_ci(const char *shorter, size_t ls, const char *longer) {
  for (size_t i = 0; i < ls; i++)
    if (tolower((unsigned char)shorter[i]) != tolower((unsigned char)longer[i])) return 0;
  return 1;
}

const char *qat_cfg_suggest(const char *key, const char *const *cands, size_t n) {
  /* Names from other tools that no edit distance would connect to ours. */
  static const char *const aliases[][2] = {
      {"lr", "learning_rate"}, {"input_shape", "input"}, {"activation_fn", "activation"},
      {"beta1", "beta_1"},     {"beta2", "beta_2"},      {"nesterov_momentum", "nesterov"},
  };
  size_t lk = strlen(key), best_d = (size_t)-1;
  const char *best = NULL;
  for (size_t a = 0; a < sizeof aliases / sizeof aliases[0]; a++) {
    if (strcmp(key, aliases[a][0])) continue;
    for (size_t i = 0; i < n; i++)
      if (!strcmp(cands[i], aliases[a][1])) return cands[i];
  }
  if (lk == 0 || lk > 48) return NULL;
  for (size_t i = 0; i < n; i++) {
    size_t lc = strlen(cands[i]);
    if (lc > 48) continue;
    size_t d = typo_distance(key, lk, cands[i], lc);
    size_t longest = lk > lc ? lk : lc, limit = longest / 3 ? longest / 3 : 1;
    /* "batch" for "batch_size", "kernel" for "kernel_size": a clipped name, not a typo. */
    if (lk >= 4 && lk < lc && prefix_ci(key, lk, cands[i])) d = 1;
    if (d <= limit && d < best_d) {
      best_d = d;
      best = cands[i];
    }
  }
  return best;
}

void qat_cfg_join(char *dst, size_t cap, const char *const *items, size_t n) {
  size_t o = 0;
  dst[0] = '\0';
  for (size_t i = 0; i < n && o < cap; i++) {
    int w = snprintf(dst + o, cap - o, "%s%s", i ? ", " : "", items[i]);
    if (w < 0) break;
    o += (size_t)w;
  }
}

int qat_cfg_is_null(const cfg_node *n) {
  if (!n || n->kind != CFG_SCALAR || !n->plain) return 0;
  return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
         !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

cfg_quoted qat_cfg_describe(const cfg_node *n) {
  cfg_quoted q;
  if (n->kind == CFG_SEQ) {
    snprintf(q.s, sizeof q.s, "a list");
  } else if (n->kind == CFG_MAP) {
    snprintf(q.s, sizeof q.s, "a mapping");
  } else if (qat_cfg_is_null(n)) {
    snprintf(q.s, sizeof q.s, "an empty value");
  } else {
    cfg_quoted v = qat_cfg_quote(n->str, n->len);
    snprintf(q.s, sizeof q.s, "%s'%.64s'", n->plain ? "" : "the quoted string ", v.s);
  }
  return q;
}

int qat_cfg_want(const cfg_ctx *c, const cfg_node *n, const char *path, const char *what) {
  return qat_cfg_error(c, n, path, "wrong type: got %s (expected %s)", qat_cfg_describe(n).s, what);
}

int qat_cfg_key(const cfg_ctx *c, const cfg_node *map, size_t pair, const char *path,
                const char **key) {
  const cfg_node *k = map->kids[2 * pair];
  if (k->kind != CFG_SCALAR || strlen(k->str) != k->len || k->len == 0)
    return qat_cfg_error(c, k, path, "bad key: got %s (expected a key name)",
                         qat_cfg_describe(k).s);
  *key = k->str;
  return 0;
}

int qat_cfg_dup(const cfg_ctx *c, const cfg_node *map, size_t pair, const char *path) {
  const cfg_node *k = map->kids[2 * pair];
  char p[CFG_PATH_MAX];
  qat_cfg_path(p, path, k->str, k->len);
  for (size_t i = 0; i < pair; i++) {
    const cfg_node *first = map->kids[2 * i];
    if (first->kind == CFG_SCALAR && !strcmp(first->str, k->str))
      return qat_cfg_error(c, k, p, "duplicate key (first given at %d:%d; expected each key once)",
                           first->line, first->col);
  }
  return qat_cfg_error(c, k, p, "duplicate key (expected each key once)");
}

int qat_cfg_unknown(const cfg_ctx *c, const cfg_node *key, const char *path,
                    const char *const *cands, size_t n) {
  char p[CFG_PATH_MAX], list[512];
  const char *s = qat_cfg_suggest(key->str, cands, n);
  qat_cfg_path(p, path, key->str, key->len);
  if (s) return qat_cfg_error(c, key, p, "unknown key (did you mean '%s'?)", s);
  qat_cfg_join(list, sizeof list, cands, n);
  return qat_cfg_error(c, key, p, "unknown key (expected one of: %s)", list);
}

int qat_cfg_map(const cfg_ctx *c, const cfg_node *map, const char *path, const char *const *keys,
                size_t nkeys, const cfg_node **vals) {
  int rc;
  for (size_t i = 0; i < nkeys; i++)
    vals[i] = NULL;
  /* "train:" with nothing after it means "all defaults", as an empty mapping would. */
  if (qat_cfg_is_null(map)) return 0;
  if (map->kind != CFG_MAP) return qat_cfg_want(c, map, path, "a mapping");
  for (size_t p = 0; p < map->n / 2; p++) {
    const char *key = NULL;
    size_t i;
    if ((rc = qat_cfg_key(c, map, p, path, &key))) return rc;
    for (i = 0; i < nkeys && strcmp(key, keys[i]); i++) {
    }
    /* Unknown keys are checked first: it bounds the duplicate search by nkeys. */
    if (i == nkeys) return qat_cfg_unknown(c, map->kids[2 * p], path, keys, nkeys);
    if (vals[i]) return qat_cfg_dup(c, map, p, path);
    vals[i] = map->kids[2 * p + 1];
  }
  return 0;
}

/* The text of a scalar that must be written plain (numbers, booleans). */
static int plain_text(const cfg_ctx *c, const cfg_node *n, const char *path, const char *expect) {
  if (n->kind != CFG_SCALAR || !n->plain) return qat_cfg_want(c, n, path, expect);
  if (qat_cfg_is_null(n)) return qat_cfg_error(c, n, path, "missing value (expected %s)", expect);
  return 0;
}

/* strtod would accept these (and YAML spells them .nan, .inf), but no field wants them. */
static int non_finite_word(const char *s) {
  static const char *const words[] = {"nan", "inf", "infinity"};
  if (*s == '+' || *s == '-') s++;
  if (*s == '.') s++;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    size_t n = strlen(words[i]);
    if (strlen(s) == n && prefix_ci(words[i], n, s)) return 1;
  }
  return 0;
}

static void int_expect(char *dst, size_t cap, long lo, long hi) {
  if (hi >= INT_MAX)
    snprintf(dst, cap, "an integer >= %ld", lo);
  else
    snprintf(dst, cap, "an integer in [%ld, %ld]", lo, hi);
}

/* Decimal digits with an optional sign; a leading zero is refused because YAML 1.1 readers
 * (PyYAML, so Keras tooling) take 010 as octal 8. */
static int decimal_syntax(const char *s, int allow_sign) {
  if (allow_sign && (*s == '-' || *s == '+')) s++;
  if (!isdigit((unsigned char)*s)) return 0;
  if (s[0] == '0' && s[1]) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

int qat_cfg_int(const cfg_ctx *c, const cfg_node *n, const char *path, long lo, long hi, int *out) {
  char expect[80];
  long v;
  char *end;
  int rc;
  if (hi > INT_MAX) hi = INT_MAX;
  int_expect(expect, sizeof expect, lo, hi);
  if ((rc = plain_text(c, n, path, expect))) return rc;
  if (!decimal_syntax(n->str, 1))
    return qat_cfg_error(c, n, path, "'%s' is not a decimal integer (expected %s)",
                         qat_cfg_quote(n->str, n->len).s, expect);
  errno = 0;
  v = strtol(n->str, &end, 10);
  if (errno == ERANGE || *end || v < lo || v > hi)
    return qat_cfg_error(c, n, path, "%s is out of range (expected %s)",
                         qat_cfg_quote(n->str, n->len).s, expect);
  *out = (int)v;
  return 0;
}

int qat_cfg_u64(const cfg_ctx *c, const cfg_node *n, const char *path, uint64_t *out) {
  static const char expect[] = "an integer in [0, 18446744073709551615]";
  unsigned long long v;
  char *end;
  int rc;
  if ((rc = plain_text(c, n, path, expect))) return rc;
  /* No sign allowed: strtoull would silently wrap "-1" to 2^64-1. */
  if (!decimal_syntax(n->str, 0))
    return qat_cfg_error(c, n, path, "'%s' is not a non-negative decimal integer (expected %s)",
                         qat_cfg_quote(n->str, n->len).s, expect);
  errno = 0;
  v = strtoull(n->str, &end, 10);
  if (errno == ERANGE || *end)
    return qat_cfg_error(c, n, path, "%s is out of range (expected %s)",
                         qat_cfg_quote(n->str, n->len).s, expect);
  *out = (uint64_t)v;
  return 0;
}

static void float_expect(char *dst, size_t cap, double lo, int lo_open, double hi, int hi_open) {
  if (isinf(lo) && isinf(hi))
    snprintf(dst, cap, "a finite number");
  else if (isinf(hi))
    snprintf(dst, cap, "a number %s %g", lo_open ? ">" : ">=", lo);
  else if (isinf(lo))
    snprintf(dst, cap, "a number %s %g", hi_open ? "<" : "<=", hi);
  else
    snprintf(dst, cap, "a number in %c%g, %g%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
}

int qat_cfg_float(const cfg_ctx *c, const cfg_node *n, const char *path, double lo, int lo_open,
                  double hi, int hi_open, float *out) {
  char expect[80];
  const char *s;
  char *end;
  double v;
  int rc;
  float_expect(expect, sizeof expect, lo, lo_open, hi, hi_open);
  if ((rc = plain_text(c, n, path, expect))) return rc;
  s = n->str;
  if (non_finite_word(s))
    return qat_cfg_error(c, n, path, "%s is not finite (expected %s)", qat_cfg_quote(s, n->len).s,
                         expect);
  /* strtod also takes hex floats and leading blanks; YAML numbers are plain decimals. */
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p) && !strchr("+-.eE", *p))
      return qat_cfg_error(c, n, path, "'%s' is not a number (expected %s)",
                           qat_cfg_quote(s, n->len).s, expect);
  errno = 0;
  v = strtod(s, &end);
  if (end == s || *end)
    return qat_cfg_error(c, n, path, "'%s' is not a number (expected %s)",
                         qat_cfg_quote(s, n->len).s, expect);
  if (errno == ERANGE || fabs(v) > FLT_MAX)
    return qat_cfg_error(c, n, path, "%s is %s for a 32-bit float (expected %s)",
                         qat_cfg_quote(s, n->len).s,
                         fabs(v) > 1 ? "too large" : "too close to zero", expect);
  /* A subnormal float loses precision and makes later divisions blow up. */
  if (v != 0 && fabs(v) < FLT_MIN)
    return qat_cfg_error(c, n, path, "%s is too close to zero for a 32-bit float (expected %s)",
                         qat_cfg_quote(s, n->len).s, expect);
  if (v < lo || (lo_open && v == lo) || v > hi || (hi_open && v == hi))
    return qat_cfg_error(c, n, path, "%s is out of range (expected %s)", qat_cfg_quote(s, n->len).s,
                         expect);
  *out = (float)v;
  return 0;
}

int qat_cfg_bool(const cfg_ctx *c, const cfg_node *n, const char *path, int *out) {
  static const char expect[] = "true or false";
  static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False",
                                                                            "FALSE"};
  int rc;
  if ((rc = plain_text(c, n, path, expect))) return rc;
  for (int i = 0; i < 3; i++) {
    if (!strcmp(n->str, yes[i])) {
      *out = 1;
      return 0;
    }
    if (!strcmp(n->str, no[i])) {
      *out = 0;
      return 0;
    }
  }
  /* yes/no/on/off are booleans only in YAML 1.1; refuse rather than guess. */
  return qat_cfg_error(c, n, path, "'%s' is not a boolean (expected %s)",
                       qat_cfg_quote(n->str, n->len).s, expect);
}

int qat_cfg_str(const cfg_ctx *c, const cfg_node *n, const char *path, const char **out) {
  if (n->kind != CFG_SCALAR) return qat_cfg_want(c, n, path, "a string");
  if (qat_cfg_is_null(n) || n->len == 0)
    return qat_cfg_error(c, n, path, "missing value (expected a non-empty string)");
  if (strlen(n->str) != n->len)
    return qat_cfg_error(c, n, path,
                         "string contains a NUL character (expected a non-empty string)");
  *out = n->str;
  return 0;
}

int qat_cfg_enum(const cfg_ctx *c, const cfg_node *n, const char *path, const char *const *names,
                 size_t nnames, int *out) {
  char expect[256], list[200];
  const char *s, *hint;
  int rc;
  qat_cfg_join(list, sizeof list, names, nnames);
  snprintf(expect, sizeof expect, "one of: %s", list);
  if (n->kind != CFG_SCALAR) return qat_cfg_want(c, n, path, expect);
  if (qat_cfg_is_null(n)) return qat_cfg_error(c, n, path, "missing value (expected %s)", expect);
  if ((rc = qat_cfg_str(c, n, path, &s))) return rc;
  for (size_t i = 0; i < nnames; i++) {
    if (!strcmp(s, names[i])) {
      *out = (int)i;
      return 0;
    }
  }
  hint = qat_cfg_suggest(s, names, nnames);
  if (hint)
    return qat_cfg_error(c, n, path, "unknown value '%s' (did you mean '%s'? expected %s)",
                         qat_cfg_quote(n->str, n->len).s, hint, expect);
  return qat_cfg_error(c, n, path, "unknown value '%s' (expected %s)",
                       qat_cfg_quote(n->str, n->len).s, expect);
}

int qat_cfg_strdup(const char *s, char **out) {
  size_t n = strlen(s) + 1;
  *out = malloc(n);
  if (!*out) return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
  memcpy(*out, s, n);
  return 0;
}
