/*
 * The auditor as a witness: its key and its publish directory (witness.h).
 */
#include "ktaudit/witness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/file.h"

enum kta_status kta_witness_load_key(const char *path, struct kta_skey **out, struct kta_error *err)
{
	struct kta_skey *k = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	enum kta_status r;

	*out = NULL;
	if ((r = kta_file_read(path, KTA_WITNESS_KEY_FILE_MAX, &buf, &len, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "witness_key");
		return r;
	}
	r = kta_skey_parse((const char *)buf, len, &k, err);
	if (r != KTA_OK) {
		(void)kta_error_prefix(err, "witness_key %s", path);
		goto out;
	}
	if (k->type != KTA_KEY_COSIGNATURE_V1) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "witness_key %s: not a cosignature/v1 key (make one with "
				  "`ktaudit keygen --witness`)",
				  path);
		goto out;
	}
	*out = k;
	k = NULL;
	r = KTA_OK;
out:
	kta_skey_free(k);
	if (buf != NULL) {
		memset(buf, 0, len);
		free(buf);
	}
	return r;
}

enum kta_status kta_witness_log_dir(const char *name, char *out, size_t cap, struct kta_error *err)
{
	size_t n, i;
	int dots = 1;

	n = name != NULL ? strlen(name) : 0;
	if (n == 0)
		return kta_error_set(err, KTA_ERR_USAGE, "witness: empty log name");
	if (n > KTA_WITNESS_LOG_DIR_MAX || n >= cap)
		return kta_error_set(err, KTA_ERR_LIMIT, "witness: log name longer than %zu bytes",
				     cap > 0 && cap - 1 < KTA_WITNESS_LOG_DIR_MAX
					 ? cap - 1
					 : (size_t)KTA_WITNESS_LOG_DIR_MAX);
	for (i = 0; i < n; i++) {
		char c = name[i];

		dots &= c == '.';
		out[i] = (char)(((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				 (c >= '0' && c <= '9') || c == '.' || c == '-')
				    ? c
				    : '_');
	}
	/* never "." or ".." (or any all-dot name that a path could misread) */
	if (dots)
		memset(out, '_', n);
	out[n] = '\0';
	return KTA_OK;
}

enum kta_status kta_witness_publish(const char *dir, const uint8_t *note, size_t len,
				    struct kta_error *err)
{
	char *path = NULL;
	size_t plen;
	enum kta_status r;

	plen = strlen(dir) + sizeof("/checkpoint");
	if (plen > 8192)
		return kta_error_set(err, KTA_ERR_LIMIT, "witness: publish path too long");
	if ((path = malloc(plen)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "witness: out of memory");
	(void)snprintf(path, plen, "%s/checkpoint", dir);
	if ((r = kta_file_mkdirs(dir, 0755, err)) == KTA_OK)
		r = kta_file_write_atomic(path, note, len, 0644, err);
	if (r != KTA_OK)
		(void)kta_error_prefix(err, "witness: publish %s", path);
	free(path);
	return r;
}
