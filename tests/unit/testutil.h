/* Shared helpers for the cmocka unit tests. */
#ifndef KTA_TESTUTIL_H
#define KTA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* cmocka 1.1 does not declare _fail (behind fail() and fail_msg()) noreturn,
 * though it never returns: it longjmps back to the runner, aborts under
 * CMOCKA_TEST_ABORT=1, or exits. Saying so lets the static analyzer
 * (clang-tidy, scripts/lint.sh) see `if (!invariant) fail_msg(...)`. */
__attribute__((noreturn)) void _fail(const char *const file, const int line);

/* Reads KTA_TESTDATA "/" rel into a malloc'd NUL-terminated buffer; fails the test on error. */
uint8_t *tu_read_testdata(const char *rel, size_t *len);

/* Reads an absolute path into a malloc'd NUL-terminated buffer; fails the test on error. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Deterministic xorshift PRNG for property tests (state is the caller's). */
uint64_t tu_rand(uint64_t *state);

/* Removes dir and everything under it, without a shell (symlinks are
 * removed, not followed). 0 on success, -1 with errno set. */
int tu_rm_tree(const char *dir);

/* Copies the NUL-terminated src into dst[cap]; fails the test if src is
 * NULL or does not fit (strcpy with a bound and a check). */
void tu_copy_str(char *dst, size_t cap, const char *src);

/* Parses all of s (optionally followed by whitespace, such as a line's
 * newline) as a decimal integer in [min, max]; fails the test otherwise. */
long tu_parse_long(const char *s, long min, long max);

/* Runs argv[0] (looked up in PATH) with argv, without a shell, and waits for
 * it; with quiet, its stdout and stderr go to /dev/null. Returns its exit
 * status (127 if it could not be executed), 128 + the signal number if a
 * signal ended it, or -1 if it could not be started or waited for. */
int tu_run(const char *const *argv, int quiet);

#endif
