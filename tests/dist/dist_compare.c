/* dist_compare A.h5 B.h5 [--tol REL]: compares two checkpoints of the same model, parameter
 * tensor by parameter tensor (and batch-norm statistics, and the quantizers' ranges): prints
 * whether they are bit-identical and the largest relative difference ||a - b|| / ||a|| of a
 * tensor (max|a - b| / max|a| is printed too). Exit 0 when every tensor is within REL (default 0: bit-identical), 1 when not, 2 on
 * bad input. The MPI tests use it to hold a data-parallel run against a single-process one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/model.h"
#include "qat/train.h"

/* ||a - b|| / ||a|| (2-norms, in double); max|a - b| / max|a| goes to *elem. */
static double rel_diff(const float *a, const float *b, int64_t n, int *identical, double *elem) {
  double d2 = 0, a2 = 0, dmax = 0, amax = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - (double)b[i];
    if (d != d) d = INFINITY;
    d2 += d * d;
    a2 += (double)a[i] * a[i];
    if (fabs(d) > dmax) dmax = fabs(d);
    if (fabs((double)a[i]) > amax) amax = fabs((double)a[i]);
  }
  if (memcmp(a, b, (size_t)n * sizeof(float))) *identical = 0;
  *elem = dmax == 0 ? 0.0 : amax > 0 ? dmax / amax : INFINITY;
  return d2 == 0 ? 0.0 : a2 > 0 ? sqrt(d2 / a2) : INFINITY;
}

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "--tol"))) {
    fprintf(stderr, "usage: dist_compare A.h5 B.h5 [--tol REL]\n");
    return 2;
  }
  double tol = argc == 5 ? atof(argv[4]) : 0.0;
  int verbose = getenv("DIST_COMPARE_VERBOSE") != NULL;
  qat_config ca, cb;
  qat_model *a, *b;
  if (qat_model_from_checkpoint(argv[1], 1, &ca, &a) || qat_model_from_checkpoint(argv[2], 1, &cb, &b)) {
    fprintf(stderr, "dist_compare: %s\n", qat_error_message());
    return 2;
  }
  if (a->n_params != b->n_params || a->n_state != b->n_state || a->n_fq != b->n_fq) {
    fprintf(stderr, "dist_compare: the checkpoints hold different models\n");
    return 2;
  }
  int identical = 1;
  double worst = 0, worst_elem = 0, elem;
  const char *worst_name = "-";
  for (int i = 0; i < a->n_param_list; i++) {
    const qat_param *p = &a->param_list[i];
    const float *x = (p->trainable ? a->params : a->state) + p->offset;
    const float *y = (p->trainable ? b->params : b->state) + p->offset;
    double r = rel_diff(x, y, p->size, &identical, &elem);
    if (r > worst) worst = r, worst_name = p->name;
    if (elem > worst_elem) worst_elem = elem;
    if (verbose) printf("  %-28s %.3g  (elementwise %.3g)\n", p->name, r, elem);
  }
  for (int i = 0; i < a->n_fq; i++) {
    const qat_fq *fa = a->fq[i], *fb = b->fq[i];
    float ra[2] = {fa->observer.min, fa->observer.max}, rb[2] = {fb->observer.min, fb->observer.max};
    double r = rel_diff(ra, rb, 2, &identical, &elem);
    if (r > worst) worst = r, worst_name = fa->name;
    if (elem > worst_elem) worst_elem = elem;
  }
  printf("%s: relative difference %.3g (||a-b||/||a||, worst tensor %s; max|a-b|/max|a| %.3g), %lld parameters, "
         "%d quantizers\n",
         identical ? "bit-identical" : "different", worst, worst_name, worst_elem, (long long)a->n_params, a->n_fq);
  qat_model_free(a);
  qat_model_free(b);
  qat_config_free(&ca);
  qat_config_free(&cb);
  return worst <= tol ? 0 : 1;
}
