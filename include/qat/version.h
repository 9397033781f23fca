/* The one place qat's version is written; CMake's project(VERSION) is checked against it at
 * configure time (CMakeLists.txt reads this file). */
#ifndef QAT_VERSION_H
#define QAT_VERSION_H
#define QAT_VERSION "0.1.0"
#endif
