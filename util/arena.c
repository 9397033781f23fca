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
  if (a->head) a->reserved = a->head->size;
}

void *qat_arena_alloc(qat_arena *a, size_t bytes) {
  size_t need = (bytes + QAT_ARENA_ALIGN - 1) / QAT_ARENA_ALIGN * QAT_ARENA_ALIGN;
  if (need < bytes) {
    qat_fail(QAT_ERR_NOMEM, "arena: request of %zu bytes overflows", bytes);
    return NULL;
  }
  if (!a->head || a->head->size - a->head->used < need) {
    /* Blocks double up to 256 MiB, then are cut to what is asked: a doubled block of a
     * gigabyte for a few megabytes more would trip a malloc limit (and the budget) needlessly. */
    const size_t cap = (size_t)256 << 20;
    size_t grow = a->head ? a->head->size * 2 : (size_t)1 << 20;
    if (grow > cap) grow = cap;
    if (grow < need) grow = need;
    if (a->limit && a->reserved + grow > a->limit) grow = need;
    if (a->limit && (need > a->limit || a->reserved > a->limit - need)) {
      a->refused = 1;
      qat_fail(QAT_ERR_NOMEM, "over the memory limit of %zu MiB (%zu MiB held, %zu MiB more asked)",
               a->limit >> 20, a->reserved >> 20, need >> 20);
      return NULL;
    }
    qat_arena_block *b = block_new(grow);
    if (!b) {
      qat_fail(QAT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
      return NULL;
    }
    b->next = a->head;
    a->head = b;
    a->reserved += b->size;
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
  a->reserved = 0;
}
