#include "qat/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"

static qat_arena_block *block_new(size_t size) {
  qat_arena_block *b = malloc(sizeof *b);
  if (!b) return NULL;
  size = (size + QAT_ARENA_ALIGN - 1) / QAT_ARENA_ALIGN * QAT_ARENA_ALIGN;
  b->data = aligned_alloc(QAT_ARENA_ALIGN, size ? size : QAT_ARENA_ALIGN);
  if (!b->data) {
    free(b);
    return NULL;
  }
  b->size = size;
  b->used = 0;
  b->next = NULL;
  return b;
}

void qat_arena_init(qat_arena *a, size_t initial_bytes) {
  memset(a, 0, sizeof *a);
  if (initial_bytes) a->head = block_new(initial_bytes);
}

void *qat_arena_alloc(qat_arena *a, size_t bytes) {
  size_t need = (bytes + QAT_ARENA_ALIGN - 1) / QAT_ARENA_ALIGN * QAT_ARENA_ALIGN;
  if (need < bytes) {
    qat_fail(QAT_ERR_NOMEM, "arena: request of %zu bytes overflows", bytes);
    return NULL;
  }
  if (!a->head || a->head->size - a->head->used < need) {
    size_t grow = a->head ? a->head->size * 2 : (size_t)1 << 20;
    qat_arena_block *b = block_new(grow > need ? grow : need);
    if (!b) {
      qat_fail(QAT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
      return NULL;
    }
    b->next = a->head;
    a->head = b;
  }
  void *p = a->head->data + a->head->used;
  a->head->used += need;
  memset(p, 0, need);
  return p;
}

void qat_arena_free(qat_arena *a) {
  qat_arena_block *b = a->head;
  while (b) {
    qat_arena_block *next = b->next;
    free(b->data);
    free(b);
    b = next;
  }
  a->head = NULL;
}
