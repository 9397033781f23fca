/* Crash-safe file replacement: write a temp file beside the target, fsync it, rename it over
 * the target, fsync the directory. An interrupted save leaves the previous file intact. */
#ifndef QAT_ATOMIC_FILE_H
#define QAT_ATOMIC_FILE_H

#include <stdio.h>

typedef struct qat_atomic_file {
  char *path;     /* the target */
  char *tmp_path; /* created exclusively in the target's directory */
  FILE *fp;       /* open for writing on tmp_path; callers that write through another
                     library (HDF5) may close it with qat_atomic_close_stream first */
  int orphans_removed; /* temp files of dead writers that begin removed from the folder */
} qat_atomic_file;

/* Temp files are "<target>.tmp.<pid>.XXXXXX", flock()ed by their writer while it writes.
 * A kill -9 leaves one behind; qat_atomic_begin removes such orphans from the target's folder
 * (writer process gone and no lock held) before creating its own. */
int qat_atomic_cleanup_dir(const char *dir);

/* Refuses a target that exists and is not a regular file (a directory, a device, a FIFO). */
int qat_atomic_begin(qat_atomic_file *f, const char *path);
/* Closes the stdio stream (if still open), e.g. before another library opens tmp_path. */
int qat_atomic_close_stream(qat_atomic_file *f);
/* Flushes, fsyncs, renames into place and fsyncs the directory; on failure removes the temp
 * file and leaves the target untouched. Frees f's memory either way. */
int qat_atomic_commit(qat_atomic_file *f);
/* Removes the temp file; the target is untouched. */
void qat_atomic_abort(qat_atomic_file *f);

/* Convenience: atomically replace path with len bytes. */
int qat_atomic_write(const char *path, const void *data, size_t len);

#endif
