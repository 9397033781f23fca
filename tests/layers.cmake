qat_test(test_layers SOURCES test_layers.c LIBS qat_layers qat_optim)
# Count allocations made by qat's own (statically linked) code during training steps.
target_link_options(test_layers PRIVATE
  -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc)
