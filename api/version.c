/* The one source file of libqat.so itself; the library's code comes from the module archives
 * (cmake/install.cmake). */
#include "qat/version.h"

const char qat_library_version[] = QAT_VERSION;
