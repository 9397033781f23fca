/* The fake quant of an int8 ADD or SUB as the training graph runs it, for the tests that check
 * it against the kernels over every pair of int8 inputs (test_qat: ADD; test_parity: SUB): the
 * float sum (difference) of two inputs on their grids, then the output quantizer simulating the
 * op's requantization (QAT_REQUANT_ADD). Include after <cmocka.h>. */
#ifndef QAT_TEST_FAKE_QUANT_ADD_H
#define QAT_TEST_FAKE_QUANT_ADD_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "qat/fq.h"
#include "qat/quant.h"

/* q1[i], q2[i] (int8 on (s1, zp1), (s2, zp2)) through the fake-quant ADD (subtract: SUB) with
 * output (s_out, zpo): its output integers in q_out. */
static inline void fake_quant_add(const int8_t *q1, const int8_t *q2, int n, float s1, int32_t zp1, float s2,
                                  int32_t zp2, float s_out, int32_t zpo, int subtract, int32_t *q_out) {
  float *av = malloc((size_t)n * sizeof(float)), *bv = malloc((size_t)n * sizeof(float)),
        *xv = malloc((size_t)n * sizeof(float));
  assert_true(av && bv && xv);
  for (int i = 0; i < n; i++) {
    av[i] = (float)(q1[i] - zp1) * s1;
    bv[i] = (float)(q2[i] - zp2) * s2;
    xv[i] = subtract ? av[i] - bv[i] : av[i] + bv[i]; /* the training graph's float op */
  }
  float sa[1] = {s1}, sb[1] = {s2}, so[1] = {s_out}, nmin[1], nmax[1];
  int32_t za[1] = {zp1}, zb[1] = {zp2}, zo[1] = {zpo};
  qat_fq fa = {.role = QAT_FQ_ACTIVATION, .qmin = -128, .qmax = 127, .axis = -1, .channels = 1, .scale = sa,
               .zero_point = za, .valid = 1};
  qat_fq fb = fa;
  fb.scale = sb;
  fb.zero_point = zb;
  qat_graph g;
  assert_int_equal(qat_graph_init(&g, 1), 0);
  qat_tensor *a = qat_graph_external(&g, 1, (int[]){n}, av, NULL, 0);
  qat_tensor *b = qat_graph_external(&g, 1, (int[]){n}, bv, NULL, 0);
  qat_tensor *x = qat_graph_external(&g, 1, (int[]){n}, xv, NULL, 0);
  qat_quant_nudged_range(s_out, zpo, -128, 127, &nmin[0], &nmax[0]);
  qat_fq fq = {.role = QAT_FQ_ACTIVATION, .name = "add", .qmin = -128, .qmax = 127, .axis = -1, .channels = 1,
               .scale = so, .zero_point = zo, .nudged_min = nmin, .nudged_max = nmax, .valid = 1,
               .requant = QAT_REQUANT_ADD, .negate2 = subtract, .input = &fa, .input2 = &fb, .requant_in = {a, b}};
  qat_tensor *y;
  qat_op_attrs at = {.custom = &qat_fake_quant_op, .state = &fq};
  assert_int_equal(qat_graph_add(&g, QAT_OP_CUSTOM, 1, (qat_tensor *[]){x}, &at, &y), 0);
  qat_exec ex = {.fake_quant = 1, .freeze_observers = 1};
  qat_graph_forward(&g, &ex);
  for (int i = 0; i < n; i++) q_out[i] = (int32_t)lrintf(y->data[i] / s_out) + zpo;
  qat_graph_free(&g);
  free(av), free(bv), free(xv);
}

#endif
