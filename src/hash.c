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
 *
 * Where the CPU has the SHA extensions (sha256ni.c), the compression runs
 * there instead: the same function without OpenSSL's call overhead, and for
 * batches (kta_hash_leaves, kta_hash_nodes: a bundle's 256 leaves, then the
 * levels above them) two messages at a time, interleaved. Both paths are
 * compared with each other and with OpenSSL's SHA256() in test_hash.c.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Transform: see above */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "ktaudit/hash.h"
#include "sha256ni.h"

struct kta_hasher {
	int failed;       /* sticky: an OpenSSL call failed */
	int ni;           /* 1: compress with sha256ni.c (CPU has SHA-NI) */
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
	h->ni = kta_sha256ni_available();
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
int kta_hasher_test_ni(struct kta_hasher *h, int on);

/* Test and benchmark seam: on = 0 makes h use OpenSSL only; on = 1 the
 * SHA-NI path if the CPU has it. Returns whether h now uses SHA-NI. */
int kta_hasher_test_ni(struct kta_hasher *h, int on)
{
	h->ni = on && kta_sha256ni_available();
	return h->ni;
}

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

/* FIPS 180-4 5.3.3 */
static const uint32_t sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static void put_be32(const uint32_t st[8], uint8_t out[static 32])
{
	int i;

	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(st[i] >> 24);
		out[4 * i + 1] = (uint8_t)(st[i] >> 16);
		out[4 * i + 2] = (uint8_t)(st[i] >> 8);
		out[4 * i + 3] = (uint8_t)st[i];
	}
}

/*
 * One message (an optional one-byte prefix, then data) as SHA-NI blocks:
 * the blocks wholly inside the message are read in place, except block 0
 * when the prefix shifts it (copied to head); the padded end (FIPS 180-4
 * 5.1.1: 0x80, zeros, the 64-bit bit length) is built in tail.
 */
struct lane {
	uint32_t st[8];
	const uint8_t *data;
	size_t nfull;   /* blocks wholly inside the message */
	size_t nblocks; /* all blocks, tail included */
	size_t b;       /* next block to compress */
	size_t idx;     /* output slot (kta_hash_leaves) */
	unsigned plen;  /* 0 or 1 */
	uint8_t head[64];
	uint8_t tail[128];
};

static void lane_init(struct lane *l, unsigned plen, uint8_t prefix, const uint8_t *data,
		      size_t len)
{
	/* len + 1 cannot wrap: len is the size of an object in memory. */
	size_t total = len + plen, r = total % 64, ntail = r <= 55 ? 1 : 2;
	uint64_t bits = (uint64_t)total << 3; /* < 2^64: objects are < 2^61 bytes */
	size_t pad_end = ntail * 64, i;

	memcpy(l->st, sha256_iv, sizeof(l->st));
	l->data = data;
	l->plen = plen;
	l->nfull = total / 64;
	l->nblocks = l->nfull + ntail;
	l->b = 0;
	if (plen == 1 && l->nfull > 0) {
		l->head[0] = prefix;
		memcpy(l->head + 1, data, 63);
	}
	if (l->nfull == 0 && plen == 1) {
		l->tail[0] = prefix;
		if (len > 0)
			memcpy(l->tail + 1, data, len);
	} else if (r > 0) {
		memcpy(l->tail, data + (l->nfull * 64 - plen), r);
	}
	l->tail[r] = 0x80;
	memset(l->tail + r + 1, 0, pad_end - 8 - (r + 1));
	for (i = 0; i < 8; i++)
		l->tail[pad_end - 1 - i] = (uint8_t)(bits >> (8 * i));
}

/* The lane's block b. */
static const uint8_t *lane_block(const struct lane *l, size_t b)
{
	if (b >= l->nfull)
		return l->tail + 64 * (b - l->nfull);
	if (l->plen == 1)
		return b == 0 ? l->head : l->data + (64 * b - 1);
	return l->data + 64 * b;
}

/* Compresses the lane's remaining blocks, contiguous runs at once. */
static void lane_finish(struct lane *l)
{
	if (l->b == 0 && l->nfull > 0 && l->plen == 1) {
		kta_sha256ni_compress(l->st, l->head, 1);
		l->b = 1;
	}
	if (l->b < l->nfull) {
		kta_sha256ni_compress(l->st, lane_block(l, l->b), l->nfull - l->b);
		l->b = l->nfull;
	}
	kta_sha256ni_compress(l->st, lane_block(l, l->b), l->nblocks - l->b);
	l->b = l->nblocks;
}

static void ni_digest(unsigned plen, uint8_t prefix, const uint8_t *data, size_t len,
		      uint8_t out[static 32])
{
	struct lane l;

	lane_init(&l, plen, prefix, data, len);
	lane_finish(&l);
	put_be32(l.st, out);
}

void kta_sha256(struct kta_hasher *h, const uint8_t *data, size_t len, uint8_t out[static 32])
{
	if (h->ni && h->fail_in == 0)
		ni_digest(0, 0, data, len, out);
	else
		digest2(h, data, len, NULL, 0, out);
}

void kta_hash_leaf(struct kta_hasher *h, const uint8_t *data, size_t len, uint8_t out[static 32])
{
	static const uint8_t prefix = 0x00; /* RFC 9162 2.1.1 leaf prefix */

	if (h->ni && h->fail_in == 0)
		ni_digest(1, prefix, data, len, out);
	else
		digest2(h, &prefix, 1, data, len, out);
}

/*
 * 0x01 || left || right is 65 bytes; SHA-256 padding makes it exactly two
 * blocks: 0x80 after the data and the bit length 520 (0x0208) at the end.
 * Copying first makes out aliasing left or right harmless.
 */
static void node_blocks(const uint8_t left[static 32], const uint8_t right[static 32],
			uint8_t buf[static 128])
{
	buf[0] = 0x01; /* RFC 9162 2.1.1 node prefix */
	memcpy(buf + 1, left, KTA_HASH_SIZE);
	memcpy(buf + 1 + KTA_HASH_SIZE, right, KTA_HASH_SIZE);
	buf[65] = 0x80;
	memset(buf + 66, 0, 128 - 66 - 2);
	buf[126] = 0x02;
	buf[127] = 0x08;
}

void kta_hash_node(struct kta_hasher *h, const uint8_t left[static 32],
		   const uint8_t right[static 32], uint8_t out[static 32])
{
	uint8_t buf[128];
	SHA256_CTX c;

	if (seam_fails(h, out))
		return;
	node_blocks(left, right, buf);
	if (h->ni) {
		uint32_t st[8];

		memcpy(st, sha256_iv, sizeof(st));
		kta_sha256ni_compress(st, buf, 2);
		put_be32(st, out);
		return;
	}
	if (SHA256_Init(&c) != 1) {
		h->failed = 1;
		memset(out, 0, KTA_HASH_SIZE);
		return;
	}
	SHA256_Transform(&c, buf);
	SHA256_Transform(&c, buf + 64);
	put_be32(c.h, out);
}

void kta_hash_nodes(struct kta_hasher *h, const uint8_t (*in)[32], size_t n, uint8_t (*out)[32])
{
	size_t i = 0;

	if (h->ni && h->fail_in == 0) {
		for (; i + 2 <= n; i += 2) {
			uint8_t a[128], b[128];
			uint32_t sa[8], sb[8];

			/* Both pairs are copied before either output is written:
			 * out == in is safe (out[i + 1] is at most in[2i + 1]). */
			node_blocks(in[2 * i], in[2 * i + 1], a);
			node_blocks(in[2 * i + 2], in[2 * i + 3], b);
			const uint8_t *pa[2] = {a, a + 64}, *pb[2] = {b, b + 64};

			memcpy(sa, sha256_iv, sizeof(sa));
			memcpy(sb, sha256_iv, sizeof(sb));
			kta_sha256ni_compress2(sa, pa, sb, pb, 2);
			put_be32(sa, out[i]);
			put_be32(sb, out[i + 1]);
		}
	}
	for (; i < n; i++)
		kta_hash_node(h, in[2 * i], in[2 * i + 1], out[i]);
}

void kta_hash_leaves(struct kta_hasher *h, const uint8_t *const *data, const size_t *len, size_t n,
		     uint8_t (*out)[32])
{
	struct lane l[2];
	size_t next = 0, k;
	int on[2] = {0, 0};

	if (!h->ni || h->fail_in != 0) {
		for (k = 0; k < n; k++)
			kta_hash_leaf(h, data[k], len[k], out[k]);
		return;
	}
	/* Two lanes; a lane that finishes its message takes the next one. */
	for (k = 0; k < 2 && next < n; k++, next++) {
		lane_init(&l[k], 1, 0x00, data[next], len[next]);
		l[k].idx = next;
		on[k] = 1;
	}
	while (on[0] && on[1]) {
		/* as many blocks as both lanes have left, states kept in registers */
		const uint8_t *pa[4], *pb[4];
		size_t m = l[0].nblocks - l[0].b, q;

		if (l[1].nblocks - l[1].b < m)
			m = l[1].nblocks - l[1].b;
		if (m > 4)
			m = 4;
		for (q = 0; q < m; q++) {
			pa[q] = lane_block(&l[0], l[0].b + q);
			pb[q] = lane_block(&l[1], l[1].b + q);
		}
		kta_sha256ni_compress2(l[0].st, pa, l[1].st, pb, m);
		for (k = 0; k < 2; k++) {
			if ((l[k].b += m) < l[k].nblocks)
				continue;
			put_be32(l[k].st, out[l[k].idx]);
			if (next < n) {
				lane_init(&l[k], 1, 0x00, data[next], len[next]);
				l[k].idx = next++;
			} else {
				on[k] = 0;
			}
		}
	}
	for (k = 0; k < 2; k++)
		if (on[k]) {
			lane_finish(&l[k]);
			put_be32(l[k].st, out[l[k].idx]);
		}
}

void kta_hash_empty(uint8_t out[static 32])
{
	memcpy(out, empty_root, KTA_HASH_SIZE);
}
