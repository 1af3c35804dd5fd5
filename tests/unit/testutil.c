#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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
