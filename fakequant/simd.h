/* The vector path of this CPU for the quantization arithmetic the fake quant and the int8
 * runtime share, chosen once from its features (never from a table of models):
 *   QAT_SIMD_AVX512  AVX-512 F, BW, DQ, VL and VNNI (what QAT_AVX512 lets the compiler use)
 *   QAT_SIMD_AVX2    AVX2 with FMA
 *   QAT_SIMD_PLAIN   anything else
 * QAT_SIMD=0 in the environment narrows it to plain C, QAT_SIMD=avx2 to at most AVX2. */
#ifndef QAT_FAKEQUANT_SIMD_H
#define QAT_FAKEQUANT_SIMD_H

enum { QAT_SIMD_PLAIN = 0, QAT_SIMD_AVX2 = 1, QAT_SIMD_AVX512 = 2 };

/* What the CPU has, whatever QAT_SIMD says (for tests that run one path on purpose). */
int qat_simd_cpu(void);
/* What runs: the CPU's path narrowed by QAT_SIMD. */
int qat_simd_path(void);
/* The AVX-512 path runs and the CPU also has AVX-512 VBMI (byte permutes: 256-entry tables). */
int qat_simd_vbmi(void);

#endif
