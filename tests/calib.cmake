# calib/: the range choosers on hand-computed histograms, calibration of a tiny model with
# hand-set weights, a float checkpoint calibrated and prepared for int8 export.
qat_test(test_calib SOURCES test_calib.c LIBS qat_calib qat_export qat_train qat_config TIMEOUT 120)
