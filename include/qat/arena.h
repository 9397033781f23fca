/* Bump allocator for per-step memory. The first step may grow it; reset() then folds every
 * block into one of the peak size, so later steps allocate nothing from the system. */
#ifndef QAT_ARENA_H
#define QAT_ARENA_H

#include <stddef.h>

#define QAT_ARENA_ALIGN 64

typedef struct qat_arena_block {
  struct qat_arena_block *next;
  size_t size, used;
  unsigned char *data;
} qat_arena_block;

typedef struct qat_arena {
  qat_arena_block *head;  /* current block; older overflow blocks follow */
  size_t used_total;      /* bytes handed out since the last reset */
  size_t peak;            /* largest used_total seen */
  size_t system_allocs;   /* blocks obtained from malloc, for tests of "no malloc per step" */
} qat_arena;

void qat_arena_init(qat_arena *a, size_t initial_bytes);
/* Zero-filled, 64-byte aligned; NULL with an error message when memory runs out. */
void *qat_arena_alloc(qat_arena *a, size_t bytes);
void qat_arena_reset(qat_arena *a);
void qat_arena_free(qat_arena *a);

#endif
