# The installable library: libqat.so (every module's objects, which are built with -fPIC) and
# libqat.a (one archive combining the module archives), the public headers under include/qat/,
# qat.pc for pkg-config, and the qat command.
include(GNUInstallDirs)
get_property(QAT_ALL_MODULES GLOBAL PROPERTY QAT_MODULES)

# Shared: the whole of each module archive, so that every public symbol is exported.
add_library(qat_shared SHARED ${PROJECT_SOURCE_DIR}/api/version.c)
target_link_libraries(qat_shared PRIVATE -Wl,--whole-archive ${QAT_ALL_MODULES} -Wl,--no-whole-archive)
target_link_options(qat_shared PRIVATE -Wl,--no-undefined)
set_target_properties(qat_shared PROPERTIES OUTPUT_NAME qat VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR} LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)

# Static: an ar MRI script that merges the module archives into one.
set(QAT_MRI "CREATE ${PROJECT_BINARY_DIR}/lib/libqat.a\n")
foreach(mod ${QAT_ALL_MODULES})
  string(APPEND QAT_MRI "ADDLIB $<TARGET_FILE:${mod}>\n")
endforeach()
string(APPEND QAT_MRI "SAVE\nEND\n")
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/libqat.mri CONTENT "${QAT_MRI}")
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/lib/libqat.a
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/lib
  COMMAND ${CMAKE_COMMAND} -E remove -f ${PROJECT_BINARY_DIR}/lib/libqat.a
  COMMAND ${CMAKE_AR} -M < ${PROJECT_BINARY_DIR}/libqat.mri
  DEPENDS ${QAT_ALL_MODULES} ${PROJECT_BINARY_DIR}/libqat.mri
  COMMENT "Combining the module archives into libqat.a" VERBATIM)
add_custom_target(qat_static ALL DEPENDS ${PROJECT_BINARY_DIR}/lib/libqat.a)

# pkg-config: the shared library needs nothing more; a static link needs the dependencies.
set(QAT_PC_REQUIRES_PRIVATE "openblas yaml-0.1 zlib hdf5 libpng libisal freetype2 libzip libjpeg json-c")
if(QAT_MPI)
  # dist/ calls MPI: Debian's Open MPI describes itself to pkg-config as mpi-c.
  string(APPEND QAT_PC_REQUIRES_PRIVATE " mpi-c")
endif()
file(RELATIVE_PATH QAT_PC_UP "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${PROJECT_SOURCE_DIR}/cmake/qat.pc.in ${PROJECT_BINARY_DIR}/qat.pc @ONLY)

install(TARGETS qat RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS qat_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_BINARY_DIR}/lib/libqat.a DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/qat DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/qat.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
