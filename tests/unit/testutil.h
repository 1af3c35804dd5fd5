/* Shared helpers for the cmocka unit tests. */
#ifndef KTA_TESTUTIL_H
#define KTA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Reads KTA_TESTDATA "/" rel into a malloc'd NUL-terminated buffer; fails the test on error. */
uint8_t *tu_read_testdata(const char *rel, size_t *len);

/* Reads an absolute path into a malloc'd NUL-terminated buffer; fails the test on error. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Deterministic xorshift PRNG for property tests (state is the caller's). */
uint64_t tu_rand(uint64_t *state);

/* Removes dir and everything under it, without a shell (symlinks are
 * removed, not followed). 0 on success, -1 with errno set. */
int tu_rm_tree(const char *dir);

#endif
