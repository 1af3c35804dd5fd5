/* Label shards (shard.h). */
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/shard.h"

uint32_t kta_shard_from_hash(const uint8_t h[static 32], uint32_t n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return n <= 1 ? 0 : (uint32_t)(v % n);
}

uint32_t kta_shard_label(struct kta_hasher *h, const uint8_t *label, size_t len, uint32_t n)
{
	uint8_t d[32];

	kta_sha256(h, label, len, d);
	return kta_shard_from_hash(d, n);
}

enum kta_status kta_shard_of(const char *label, size_t len, uint32_t n, uint32_t *out,
			     struct kta_error *err)
{
	struct kta_hasher *hs = NULL;
	enum kta_status r;
	uint32_t k;

	if (n < 1 || n > KTA_SHARD_MAX)
		return kta_error_set(err, KTA_ERR_USAGE, "shard: %u shards (1..%u)", n,
				     KTA_SHARD_MAX);
	if ((r = kta_hasher_new(&hs, err)) != KTA_OK)
		return r;
	k = kta_shard_label(hs, (const uint8_t *)label, len, n);
	r = kta_hasher_failed(hs) ? kta_error_set(err, KTA_ERR_INTERNAL, "shard: SHA-256 failed")
				  : KTA_OK;
	kta_hasher_free(hs);
	if (r == KTA_OK)
		*out = k;
	return r;
}

enum kta_status kta_shard_parse(const char *s, size_t len, uint32_t *k, uint32_t *n,
				struct kta_error *err)
{
	char q[4 * KTA_SHARD_TEXT_MAX + 4];
	const char *slash = len > 0 ? memchr(s, '/', len) : NULL;
	uint64_t kv = 0, nv = 0;
	size_t kl;

	kta_quote((const uint8_t *)s, len, KTA_SHARD_TEXT_MAX, q);
	if (slash == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "\"%s\": not K/N", q);
	kl = (size_t)(slash - s);
	if (kta_parse_u64(slash + 1, len - kl - 1, &nv, NULL) != KTA_OK || nv < 2 ||
	    nv > KTA_SHARD_MAX)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "\"%s\": N must be a decimal from 2 to %u", q, KTA_SHARD_MAX);
	if (kta_parse_u64(s, kl, &kv, NULL) != KTA_OK || kv >= nv)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "\"%s\": K must be a decimal from 0 to %llu", q,
				     (unsigned long long)(nv - 1));
	*k = (uint32_t)kv;
	*n = (uint32_t)nv;
	return KTA_OK;
}
