/* Internal to data/: the loaders of the newer sources behind qat_data_load_ex. */
#ifndef QAT_DATA_INTERNAL_H
#define QAT_DATA_INTERNAL_H

#include "qat/data.h"

/* dataset: npy. train and test own their memory; test may come back empty (n = 0). Labels are
 * checked against spec->num_classes (or made < largest + 1), and info gets the class count. */
int qat_arrays_load(const qat_data_spec *spec, int want_test, qat_dataset *train, qat_dataset *test,
                    qat_data_info *info);

/* dataset: folder, decoded and resized to opt->input_shape. val is filled only from a
 * validation/ subfolder (a validation_split is applied by the caller). */
int qat_folder_load(const qat_data_spec *spec, const qat_data_options *opt, int want_test, qat_dataset *train,
                    qat_dataset *val, qat_dataset *test, qat_data_info *info);

#endif
