# Issue 18: hostile inputs, killed processes, full disks (see fuzz/README.md).
qat_test(test_reliability SOURCES test_reliability.c LIBS qat_util TIMEOUT 60)
