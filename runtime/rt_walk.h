/* Index walkers shared by the int8, int16 and float kernels of element-wise and reduction
 * ops (kernels_int8.c, kernels_int16.c): the same visiting order everywhere, which is the
 * reference kernels' order (reduce.h Reduce, BroadcastAdd6DSlow). Private to runtime/. */
#ifndef QAT_RT_WALK_H
#define QAT_RT_WALK_H

#include "runtime/rt_internal.h"

/* Output strides of a reduction (0 along reduced axes), so that walking the input in row-major
 * order adds each element into its output slot, as reduce.h's Reduce does. */
static inline void rt_reduce_strides(const rt_reduce_geom *g, int64_t *ostride) {
  int64_t s = 1;
  for (int d = g->rank - 1; d >= 0; d--) {
    if (g->axis_mask & (1u << d)) {
      ostride[d] = 0;
    } else {
      ostride[d] = s;
      s *= g->dims[d];
    }
  }
}

#define FOR_EACH_REDUCED(g, ostride, i, o, BODY)                    \
  do {                                                              \
    int64_t idx_[QAT_RT_MAX_RANK] = {0};                            \
    int64_t total_ = 1;                                             \
    for (int d_ = 0; d_ < (g)->rank; d_++) total_ *= (g)->dims[d_]; \
    int64_t o = 0;                                                  \
    for (int64_t i = 0; i < total_; i++) {                          \
      BODY;                                                         \
      for (int d_ = (g)->rank - 1; d_ >= 0; d_--) {                 \
        o += (ostride)[d_];                                         \
        if (++idx_[d_] < (g)->dims[d_]) break;                      \
        o -= (ostride)[d_] * (g)->dims[d_];                         \
        idx_[d_] = 0;                                               \
      }                                                             \
    }                                                               \
  } while (0)

/* Walks the broadcast output in row-major order with both inputs' strides. */
#define FOR_EACH_BCAST(b, i1, i2, o, BODY)                                                 \
  do {                                                                                     \
    int64_t o = 0;                                                                         \
    for (int64_t a0 = 0; a0 < (b)->dims[0]; a0++)                                          \
      for (int64_t a1 = 0; a1 < (b)->dims[1]; a1++)                                        \
        for (int64_t a2 = 0; a2 < (b)->dims[2]; a2++)                                      \
          for (int64_t a3 = 0; a3 < (b)->dims[3]; a3++)                                    \
            for (int64_t a4 = 0; a4 < (b)->dims[4]; a4++) {                                \
              const int64_t base1_ = a0 * (b)->s1[0] + a1 * (b)->s1[1] + a2 * (b)->s1[2] + \
                                     a3 * (b)->s1[3] + a4 * (b)->s1[4];                    \
              const int64_t base2_ = a0 * (b)->s2[0] + a1 * (b)->s2[1] + a2 * (b)->s2[2] + \
                                     a3 * (b)->s2[3] + a4 * (b)->s2[4];                    \
              for (int64_t a5 = 0; a5 < (b)->dims[5]; a5++, o++) {                         \
                const int64_t i1 = base1_ + a5 * (b)->s1[5];                               \
                const int64_t i2 = base2_ + a5 * (b)->s2[5];                               \
                BODY;                                                                      \
              }                                                                            \
            }                                                                              \
  } while (0)

#endif
