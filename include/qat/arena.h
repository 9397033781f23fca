/* Bump allocator that holds a graph's activations, gradients and workspaces: everything is
 * allocated while the graph is built and freed with it, so a training step allocates
 * nothing. Blocks grow geometrically; nothing is freed one by one. */
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
  qat_arena_block *head; /* current block; older full blocks follow */
  size_t reserved;       /* bytes of every block together */
  size_t limit;          /* 0: none; else no block is taken past it (set after init) */
  int refused;           /* an allocation failed on the limit, not on malloc */
} qat_arena;

void qat_arena_init(qat_arena *a, size_t initial_bytes);
/* Zero-filled, 64-byte aligned; NULL with an error message when memory runs out or the limit
 * would be passed (then `refused` is set). */
void *qat_arena_alloc(qat_arena *a, size_t bytes);
void qat_arena_free(qat_arena *a);

#endif
