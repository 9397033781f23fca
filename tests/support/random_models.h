/* Random single-operator models for the interop sweep (tests/support/random_models.c). */
#ifndef QAT_TEST_RANDOM_MODELS_H
#define QAT_TEST_RANDOM_MODELS_H

/* Writes n seeded variants of every operator into dir (the same files for the same n);
 * nonzero when a file cannot be written. */
int tb_write_random_models(const char *dir, int n);

#endif
