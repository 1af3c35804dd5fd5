/*
 * SHA-256 and the RFC 9162 2.1.1 leaf and node hashes (see hash.h for the
 * failure model).
 *
 * Why OpenSSL's low-level SHA-256 and not EVP: hashing is the hot path of
 * every proof check and of replay. OpenSSL 3.0.x frees and re-creates the
 * provider context inside every EVP_DigestInit_ex2 (one malloc/free per hash;
 * 3.1+ fixed it, openssl/openssl PR 18105), which halves node-hash throughput.
 * The SHA256_* functions run the same (SHA-NI) block function with a context
 * on our stack: no allocation, no provider dispatch. A node hash is exactly
 * two compression-function calls on a pre-padded 128-byte buffer.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Transform: see above */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "ktaudit/hash.h"

struct kta_hasher {
	int failed;       /* sticky: an OpenSSL call failed */
	uint64_t fail_in; /* test seam: the fail_in-th next hash fails; 0 = never */
};

/* SHA-256(""), RFC 9162 2.1.1: MTH({}) */
static const uint8_t empty_root[KTA_HASH_SIZE] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

enum kta_status kta_hasher_new(struct kta_hasher **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_INTERNAL;
	struct kta_hasher *h = NULL;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "hasher: out of memory");
		goto out;
	}
	*out = h;
	h = NULL;
	r = KTA_OK;
out:
	kta_hasher_free(h);
	return r;
}

void kta_hasher_free(struct kta_hasher *h)
{
	if (h == NULL)
		return;
	free(h);
}

int kta_hasher_failed(const struct kta_hasher *h)
{
	return h->failed;
}

/*
 * Test seams, not exported (no KTA_API) and declared here rather than in
 * hash.h to keep them out of the public API: unit tests use them to check
 * that nothing reports success after a hash failure, whether the hasher had
 * already failed (kta_hasher_test_fail) or fails part-way through a
 * computation (kta_hasher_test_fail_in: hash number n from now fails, n >= 1).
 */
void kta_hasher_test_fail(struct kta_hasher *h);
void kta_hasher_test_fail_in(struct kta_hasher *h, uint64_t n);

void kta_hasher_test_fail(struct kta_hasher *h)
{
	h->failed = 1;
}

void kta_hasher_test_fail_in(struct kta_hasher *h, uint64_t n)
{
	h->fail_in = n;
}

/* Returns 1 (and marks h, zeroing out) when the test seam says this hash fails. */
static int seam_fails(struct kta_hasher *h, uint8_t out[static 32])
{
	if (h->fail_in != 0 && --h->fail_in == 0) {
		h->failed = 1;
		memset(out, 0, KTA_HASH_SIZE);
		return 1;
	}
	return 0;
}

/* Hashes up to two pieces; on any OpenSSL failure, marks h and writes zeros. */
static void digest2(struct kta_hasher *h, const uint8_t *a, size_t alen, const uint8_t *b,
		    size_t blen, uint8_t out[static 32])
{
	SHA256_CTX c;

	if (seam_fails(h, out))
		return;
	if (SHA256_Init(&c) != 1 || (alen != 0 && SHA256_Update(&c, a, alen) != 1) ||
	    (blen != 0 && SHA256_Update(&c, b, blen) != 1) || SHA256_Final(out, &c) != 1) {
		h->failed = 1;
		memset(out, 0, KTA_HASH_SIZE);
	}
}

void kta_sha256(struct kta_hasher *h, const uint8_t *data, size_t len, uint8_t out[static 32])
{
	digest2(h, data, len, NULL, 0, out);
}

void kta_hash_leaf(struct kta_hasher *h, const uint8_t *data, size_t len, uint8_t out[static 32])
{
	static const uint8_t prefix = 0x00; /* RFC 9162 2.1.1 leaf prefix */

	digest2(h, &prefix, 1, data, len, out);
}

void kta_hash_node(struct kta_hasher *h, const uint8_t left[static 32],
		   const uint8_t right[static 32], uint8_t out[static 32])
{
	/*
	 * 0x01 || left || right is 65 bytes; SHA-256 padding makes it exactly
	 * two blocks: 0x80 after the data and the bit length 520 (0x0208) at the
	 * end. Two compression calls, no buffering logic. Copying first makes
	 * out aliasing left or right harmless.
	 */
	uint8_t buf[128];
	SHA256_CTX c;
	int i;

	if (seam_fails(h, out))
		return;
	buf[0] = 0x01; /* RFC 9162 2.1.1 node prefix */
	memcpy(buf + 1, left, KTA_HASH_SIZE);
	memcpy(buf + 1 + KTA_HASH_SIZE, right, KTA_HASH_SIZE);
	buf[65] = 0x80;
	memset(buf + 66, 0, 128 - 66 - 2);
	buf[126] = 0x02;
	buf[127] = 0x08;
	if (SHA256_Init(&c) != 1) {
		h->failed = 1;
		memset(out, 0, KTA_HASH_SIZE);
		return;
	}
	SHA256_Transform(&c, buf);
	SHA256_Transform(&c, buf + 64);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c.h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c.h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c.h[i];
	}
}

void kta_hash_empty(uint8_t out[static 32])
{
	memcpy(out, empty_root, KTA_HASH_SIZE);
}
