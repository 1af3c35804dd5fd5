/*
 * ktaudit: bounded file reads and durable file writes (I/O).
 */
#ifndef KTAUDIT_FILE_H
#define KTAUDIT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ktaudit/error.h"

/*
 * Reads all of `path` ("-" means standard input) into a new buffer of at
 * most `max` bytes. On success *buf is malloc'd (caller frees with free();
 * one extra NUL byte follows the data, not counted in *len). Errors:
 * KTA_ERR_IO (cannot open/read), KTA_ERR_LIMIT (larger than max).
 */
KTA_API enum kta_status kta_file_read(const char *path, size_t max, uint8_t **buf, size_t *len,
				      struct kta_error *err) KTA_WUR;

/*
 * Writes (data, len) to `path` durably and atomically: a temporary file in the
 * same directory opened O_CREAT|O_EXCL|O_NOFOLLOW with `mode`, a full write
 * loop, fsync, rename over path, fsync of the directory. On failure the old
 * file (if any) is untouched and the temporary file is removed.
 */
KTA_API enum kta_status kta_file_write_atomic(const char *path, const uint8_t *data, size_t len,
					      mode_t mode, struct kta_error *err) KTA_WUR;

/*
 * Creates `path`, which must not exist (O_CREAT|O_EXCL|O_NOFOLLOW, `mode`),
 * writes (data, len) and fsyncs it. For secrets such as private keys: never
 * overwrites, never follows a planted symlink. On a failed write the partial
 * file is removed.
 */
KTA_API enum kta_status kta_file_create_excl(const char *path, const uint8_t *data, size_t len,
					     mode_t mode, struct kta_error *err) KTA_WUR;

/*
 * Writes all of (data, len) to fd, retrying short writes and EINTR.
 * Returns 0, or the errno value of the failed write.
 */
KTA_API int kta_file_write_all(int fd, const uint8_t *data, size_t len);

/* Creates directory `path` and its parents with `mode` (like mkdir -p). */
KTA_API enum kta_status kta_file_mkdirs(const char *path, mode_t mode,
					struct kta_error *err) KTA_WUR;

#endif
