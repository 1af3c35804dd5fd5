/*
 * SHA-256 and the RFC 9162 2.1.1 leaf and node hashes through one reused
 * OpenSSL EVP context (see hash.h for the failure model).
 *
 * Cost note: this file never allocates per hash. OpenSSL 3.0.x itself frees
 * and re-creates the provider context inside every EVP_DigestInit_ex2 (one
 * malloc/free per hash); 3.1 and later reuse it when the digest is unchanged
 * (openssl/openssl PR 18105), which roughly doubles node-hash throughput.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ktaudit/hash.h"

struct kta_hasher {
	EVP_MD *md;       /* SHA-256, fetched once */
	EVP_MD_CTX *ctx;  /* reused for every hash: no allocation per hash */
	int failed;       /* sticky: an EVP call failed */
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
	if ((h->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "hasher: OpenSSL has no SHA256");
		goto out;
	}
	if ((h->ctx = EVP_MD_CTX_new()) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "hasher: EVP_MD_CTX_new failed");
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
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
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

/* Hashes up to three pieces; on any EVP failure, marks h and writes zeros. */
static void digest3(struct kta_hasher *h, const uint8_t *a, size_t alen, const uint8_t *b,
		    size_t blen, const uint8_t *c, size_t clen, uint8_t out[static 32])
{
	unsigned int olen = 0;

	if (h->fail_in != 0 && --h->fail_in == 0)
		goto fail;
	if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1)
		goto fail;
	if (alen != 0 && EVP_DigestUpdate(h->ctx, a, alen) != 1)
		goto fail;
	if (blen != 0 && EVP_DigestUpdate(h->ctx, b, blen) != 1)
		goto fail;
	if (clen != 0 && EVP_DigestUpdate(h->ctx, c, clen) != 1)
		goto fail;
	if (EVP_DigestFinal_ex(h->ctx, out, &olen) != 1 || olen != KTA_HASH_SIZE)
		goto fail;
	return;
fail:
	h->failed = 1;
	memset(out, 0, KTA_HASH_SIZE);
}

void kta_sha256(struct kta_hasher *h, const uint8_t *data, size_t len, uint8_t out[static 32])
{
	digest3(h, data, len, NULL, 0, NULL, 0, out);
}

void kta_hash_leaf(struct kta_hasher *h, const uint8_t *data, size_t len, uint8_t out[static 32])
{
	static const uint8_t prefix = 0x00; /* RFC 9162 2.1.1 leaf prefix */

	digest3(h, &prefix, 1, data, len, NULL, 0, out);
}

void kta_hash_node(struct kta_hasher *h, const uint8_t left[static 32],
		   const uint8_t right[static 32], uint8_t out[static 32])
{
	/*
	 * One 65-byte update is cheaper than three small ones, and copying
	 * first makes out aliasing left or right harmless.
	 */
	uint8_t buf[1 + 2 * KTA_HASH_SIZE];

	buf[0] = 0x01; /* RFC 9162 2.1.1 node prefix */
	memcpy(buf + 1, left, KTA_HASH_SIZE);
	memcpy(buf + 1 + KTA_HASH_SIZE, right, KTA_HASH_SIZE);
	digest3(h, buf, sizeof(buf), NULL, 0, NULL, 0, out);
}

void kta_hash_empty(uint8_t out[static 32])
{
	memcpy(out, empty_root, KTA_HASH_SIZE);
}
