#include "testutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktaudit/file.h"

uint8_t *tu_read_file(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	struct kta_error err;

	if (kta_file_read(path, 64u << 20, &buf, len, &err) != KTA_OK)
		fail_msg("cannot read %s: %s", path, err.msg);
	return buf;
}

uint8_t *tu_read_testdata(const char *rel, size_t *len)
{
	char path[4096];

	(void)snprintf(path, sizeof(path), "%s/%s", KTA_TESTDATA, rel);
	return tu_read_file(path, len);
}

uint64_t tu_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int tu_rm_tree(const char *dir)
{
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_copy_str(char *dst, size_t cap, const char *src)
{
	int n;

	if (src == NULL)
		fail_msg("tu_copy_str: NULL source");
	n = snprintf(dst, cap, "%s", src);
	if (n < 0 || (size_t)n >= cap)
		fail_msg("tu_copy_str: \"%.40s...\" does not fit in %zu bytes", src, cap);
}

long tu_parse_long(const char *s, long min, long max)
{
	char *end = NULL;
	long v;

	if (s == NULL)
		fail_msg("tu_parse_long: NULL string");
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno != 0)
		fail_msg("tu_parse_long: \"%s\" is not a number", s);
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		fail_msg("tu_parse_long: trailing text after the number in \"%s\"", s);
	if (v < min || v > max)
		fail_msg("tu_parse_long: %ld is not in [%ld, %ld]", v, min, max);
	return v;
}

int tu_run(const char *const *argv, int quiet)
{
	pid_t pid, w;
	int st;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
				_exit(127);
			if (null > 2)
				(void)close(null);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	if (w != pid)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}
