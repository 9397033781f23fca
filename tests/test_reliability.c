/* util/file.c (regular files only, caps) and util/atomic_file.c (orphaned temp files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/file.h"
#include "qat/h5store.h"

extern int qat_h5_probe_fault_signal; /* checkpoint/h5store.c */

static char tmpdir[512];

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/test_reliability_XXXXXX", QAT_BINARY_DIR);
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  DIR *d = opendir(tmpdir);
  if (d) {
    for (struct dirent *e; (e = readdir(d));) {
      char p[1024];
      if (e->d_name[0] == '.') continue;
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
  }
  rmdir(tmpdir);
  return 0;
}

static void touch(const char *name, const char *text) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static int exists(const char *name) {
  char p[1024];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  return stat(p, &st) == 0;
}

/* A pid that belonged to a process that has exited (and been reaped). */
static long dead_pid(void) {
  pid_t c = fork();
  assert_true(c >= 0);
  if (c == 0) _exit(0);
  assert_int_equal(waitpid(c, NULL, 0), c);
  return (long)c;
}

static void test_non_regular_refused(void **state) {
  (void)state;
  char fifo[1024];
  snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  void *buf;
  size_t len;
  assert_int_equal(qat_file_read_all(fifo, "model", 0, &buf, &len), QAT_ERR_IO);
  assert_non_null(strstr(qat_error_message(), "a FIFO"));
  assert_non_null(strstr(qat_error_message(), fifo));
  assert_int_equal(qat_file_read_all("/dev/zero", "model", 0, &buf, &len), QAT_ERR_IO);
  assert_non_null(strstr(qat_error_message(), "character device"));
  assert_int_equal(qat_file_read_all(tmpdir, "model", 0, &buf, &len), QAT_ERR_IO);
  assert_non_null(strstr(qat_error_message(), "Is a directory"));
  unlink(fifo);
}

static void test_cap_before_read(void **state) {
  (void)state;
  touch("big", "0123456789");
  char p[1024];
  snprintf(p, sizeof p, "%s/big", tmpdir);
  void *buf;
  size_t len;
  assert_int_equal(qat_file_read_all(p, "model", 9, &buf, &len), QAT_ERR_FORMAT);
  assert_non_null(strstr(qat_error_message(), "over the limit of 9 bytes"));
  assert_int_equal(qat_file_read_all(p, "model", 10, &buf, &len), QAT_OK);
  assert_int_equal(len, 10);
  assert_memory_equal(buf, "0123456789", 10);
  free(buf);
}

static void test_orphans_removed(void **state) {
  (void)state;
  char name[256], live[256], locked[256], target[1024];
  long dead = dead_pid();
  snprintf(name, sizeof name, "ckpt.h5.tmp.%ld.AbC123", dead);
  touch(name, "partial");
  /* a writer that is still alive (our parent process), and one whose lock is still held */
  snprintf(live, sizeof live, "ckpt.h5.tmp.%ld.Zz9999", (long)getppid());
  touch(live, "in progress");
  snprintf(locked, sizeof locked, "other.tmp.%ld.LoCkEd", dead);
  touch(locked, "held");
  char lp[1024];
  snprintf(lp, sizeof lp, "%s/%s", tmpdir, locked);
  int lfd = open(lp, O_RDONLY);
  assert_true(lfd >= 0);
  assert_int_equal(flock(lfd, LOCK_EX), 0);
  /* names that merely look alike */
  touch("notes.tmp.txt", "keep");
  touch("a.tmp.12.short", "keep");
  snprintf(target, sizeof target, "%s/ckpt.h5", tmpdir);
  assert_int_equal(qat_atomic_write(target, "new", 3), QAT_OK);
  assert_false(exists(name));
  assert_true(exists(live));
  assert_true(exists(locked));
  assert_true(exists("notes.tmp.txt"));
  assert_true(exists("a.tmp.12.short"));
  close(lfd);
  /* the lock is gone: the next write removes it */
  assert_int_equal(qat_atomic_write(target, "newer", 5), QAT_OK);
  assert_false(exists(locked));
  unlink(lp);
  char lv[1024];
  snprintf(lv, sizeof lv, "%s/%s", tmpdir, live);
  unlink(lv);
}

/* A child that begins an atomic write of target, writes part of it and is killed with SIGKILL
 * mid-write; returns its pid, dead but not yet reaped. */
static pid_t killed_writer(const char *target, const char *partial) {
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t c = fork();
  assert_true(c >= 0);
  if (c == 0) {
    qat_atomic_file f;
    if (qat_atomic_begin(&f, target)) _exit(1);
    fputs(partial, f.fp);
    fflush(f.fp);
    if (write(pipefd[1], "x", 1) != 1) _exit(1);
    for (;;) pause();
  }
  char x;
  assert_int_equal(read(pipefd[0], &x, 1), 1);
  kill(c, SIGKILL);
  siginfo_t info;
  assert_int_equal(waitid(P_PID, (id_t)c, &info, WEXITED | WNOWAIT), 0);
  close(pipefd[0]);
  close(pipefd[1]);
  return c;
}

/* A writer killed with SIGKILL between begin and commit leaves its temp file; the next writer
 * into the folder removes it, and the target is the old one until then. */
static void test_kill9_orphan(void **state) {
  (void)state;
  char target[1024];
  snprintf(target, sizeof target, "%s/model.tflite", tmpdir);
  assert_int_equal(qat_atomic_write(target, "old", 3), QAT_OK);
  waitpid(killed_writer(target, "half a model"), NULL, 0);
  int temps = 0;
  DIR *d = opendir(tmpdir);
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, "model.tflite.tmp.")) temps++;
  closedir(d);
  assert_int_equal(temps, 1);
  void *buf;
  size_t len;
  assert_int_equal(qat_file_read_all(target, NULL, 0, &buf, &len), QAT_OK);
  assert_int_equal(len, 3);
  free(buf);
  qat_atomic_file f;
  assert_int_equal(qat_atomic_begin(&f, target), QAT_OK);
  assert_int_equal(f.orphans_removed, 1);
  qat_atomic_abort(&f);
  temps = 0;
  d = opendir(tmpdir);
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".tmp.")) temps++;
  closedir(d);
  assert_int_equal(temps, 0);
}

/* The same writer killed but not yet reaped (a zombie, as in a container whose process 1 does
 * not reap, or under `timeout -s KILL`): its temp file is an orphan all the same. */
static void test_zombie_writer_orphan(void **state) {
  (void)state;
  char target[1024];
  snprintf(target, sizeof target, "%s/steps.csv", tmpdir);
  pid_t c = killed_writer(target, "step,loss\n");
  assert_int_equal(kill(c, 0), 0); /* still a zombie */
  qat_atomic_file f;
  assert_int_equal(qat_atomic_begin(&f, target), QAT_OK);
  assert_int_equal(f.orphans_removed, 1);
  qat_atomic_abort(&f);
  waitpid(c, NULL, 0);
}

/* A crash of libhdf5 while the child parses a file becomes a one-line error naming the file;
 * the parent is unharmed and opens the next file normally. */
static void test_h5_child_crash_contained(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/ok.h5", tmpdir);
  qat_h5_writer w;
  assert_int_equal(qat_h5_writer_open(&w, path), QAT_OK);
  const int64_t dims[1] = {3};
  const float v[3] = {1, 2, 3};
  assert_int_equal(qat_h5_write_array(&w, "a/b", QAT_H5_F32, 1, dims, v), QAT_OK);
  assert_int_equal(qat_h5_writer_commit(&w), QAT_OK);
  qat_h5_reader r;
  qat_h5_probe_fault_signal = SIGSEGV;
  assert_int_equal(qat_h5_reader_open(&r, path), QAT_ERR_FORMAT);
  qat_h5_probe_fault_signal = 0;
  assert_non_null(strstr(qat_error_message(), "ok.h5: libhdf5 crashed reading it (signal 11"));
  assert_int_equal(qat_h5_reader_open(&r, path), QAT_OK);
  float got[3];
  assert_int_equal(qat_h5_read_array(&r, "a/b", QAT_H5_F32, 1, dims, got, QAT_H5_FINITE), QAT_OK);
  assert_true(got[2] == 3.0f);
  qat_h5_reader_close(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_non_regular_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cap_before_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_orphans_removed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9_orphan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zombie_writer_orphan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_h5_child_crash_contained, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
