/* Bounded reads and durable writes. See ktaudit/file.h. */
#include "ktaudit/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum kta_status kta_file_read(const char *path, size_t max, uint8_t **buf, size_t *len,
			      struct kta_error *err)
{
	enum kta_status r = KTA_ERR_IO;
	int fd, is_stdin = strcmp(path, "-") == 0;
	uint8_t *b = NULL;
	size_t cap = 4096, n = 0;

	*buf = NULL;
	*len = 0;
	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	if (max == SIZE_MAX)
		max--; /* room for the NUL */
	if ((b = malloc(cap)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t got;

		if (n + 1 >= cap) {
			size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
			uint8_t *nb;

			if (ncap > max + 2)
				ncap = max + 2;
			if (ncap <= cap) {
				r = kta_error_set(err, KTA_ERR_LIMIT,
						  "%s: larger than the limit of %zu bytes",
						  is_stdin ? "standard input" : path, max);
				goto out;
			}
			if ((nb = realloc(b, ncap)) == NULL) {
				r = kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", path);
				goto out;
			}
			b = nb;
			cap = ncap;
		}
		got = read(fd, b + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = kta_error_set(err, KTA_ERR_IO, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			r = kta_error_set(err, KTA_ERR_LIMIT,
					  "%s: larger than the limit of %zu bytes",
					  is_stdin ? "standard input" : path, max);
			goto out;
		}
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	b = NULL;
	r = KTA_OK;
out:
	free(b);
	if (!is_stdin)
		(void)close(fd);
	return r;
}

static enum kta_status fsync_dir_of(const char *path, struct kta_error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		size_t n = (size_t)(slash - path);

		if (n >= sizeof(dir))
			return kta_error_set(err, KTA_ERR_IO, "%s: path too long", path);
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", dir, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL) {
		int e = errno;

		(void)close(fd);
		return kta_error_set(err, KTA_ERR_IO, "fsync %s: %s", dir, strerror(e));
	}
	(void)close(fd);
	return KTA_OK;
}

int kta_file_write_all(int fd, const uint8_t *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		off += (size_t)w;
	}
	return 0;
}

enum kta_status kta_file_write_atomic(const char *path, const uint8_t *data, size_t len,
				      mode_t mode, struct kta_error *err)
{
	char tmp[PATH_MAX];
	int fd, n, e;
	unsigned attempt;

	for (attempt = 0;; attempt++) {
		n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(), attempt);
		if (n < 0 || (size_t)n >= sizeof(tmp))
			return kta_error_set(err, KTA_ERR_IO, "%s: path too long", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0)
			break;
		if (errno != EEXIST || attempt >= 100)
			return kta_error_set(err, KTA_ERR_IO, "%s: %s", tmp, strerror(errno));
	}
	e = kta_file_write_all(fd, data, len);
	if (e == 0 && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e == 0 && rename(tmp, path) != 0)
		e = errno;
	if (e != 0) {
		(void)unlink(tmp);
		return kta_error_set(err, KTA_ERR_IO, "writing %s: %s", path, strerror(e));
	}
	return fsync_dir_of(path, err);
}

enum kta_status kta_file_create_excl(const char *path, const uint8_t *data, size_t len, mode_t mode,
				     struct kta_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	int e;

	if (fd < 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	e = kta_file_write_all(fd, data, len);
	if (e == 0 && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e != 0) {
		(void)unlink(path);
		return kta_error_set(err, KTA_ERR_IO, "write %s: %s", path, strerror(e));
	}
	return fsync_dir_of(path, err);
}

enum kta_status kta_file_mkdirs(const char *path, mode_t mode, struct kta_error *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path), i;

	if (len == 0 || len >= sizeof(buf))
		return kta_error_set(err, KTA_ERR_IO, "mkdir: bad path \"%s\"", path);
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return kta_error_set(err, KTA_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
		buf[i] = (i == len) ? '\0' : '/';
	}
	return KTA_OK;
}
