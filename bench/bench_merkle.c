/*
 * Benchmark: node-hash rate and proof verification rate at tree sizes 2^20
 * and 2^40, against the SHA-256 bounds measured in the same run:
 *   - raw compression: SHA256_Transform on one 64-byte block (the ceiling);
 *   - EVP: a 65-byte node hash through a once-fetched, reused EVP context
 *     (the "straightforward" path the design brief quotes).
 * Prints figures and ratios; a timed test would be noise on these machines.
 * Usage: bench_merkle [seconds-per-figure]   (default 1.0)
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"

#include "common.h"

struct node_ctx {
	struct kta_hasher *h;
	uint8_t l[32], r[32];
};

static void kta_node(void *arg)
{
	struct node_ctx *c = arg;

	kta_hash_node(c->h, c->l, c->r, c->l);
}

struct proof_ctx {
	struct kta_hasher *h;
	uint64_t size, index, size1;
	uint8_t leaf[32], root[32], root1[32];
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32];
	size_t len;
	unsigned long nh; /* node hashes done by the baseline (counted once) */
};

static void verify_incl(void *arg)
{
	struct proof_ctx *p = arg;

	if (kta_merkle_verify_inclusion(p->h, p->index, p->size, p->leaf,
					(const uint8_t(*)[32])p->proof, p->len, p->root,
					NULL) != KTA_OK)
		abort();
}

static void verify_cons(void *arg)
{
	struct proof_ctx *p = arg;

	if (kta_merkle_verify_consistency(p->h, p->size1, p->size, p->root1, p->root,
					  (const uint8_t(*)[32])p->proof, p->len, NULL) != KTA_OK)
		abort();
}

/*
 * Baseline: the straightforward implementation of RFC 9162 2.1.3.2 and
 * 2.1.4.2, one EVP_Digest call per hash (no reused context).
 */
static void evp_digest_node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t buf[65];

	buf[0] = 1;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	if (EVP_Digest(buf, sizeof(buf), out, NULL, EVP_sha256(), NULL) != 1)
		abort();
}

static void base_incl(void *arg)
{
	struct proof_ctx *p = arg;
	uint64_t fn = p->index, sn = p->size - 1;
	uint8_t r[32];
	size_t i;

	memcpy(r, p->leaf, 32);
	for (i = 0; i < p->len; i++) {
		if (sn == 0)
			abort();
		if ((fn & 1) == 1 || fn == sn) {
			evp_digest_node(p->proof[i], r, r);
			if ((fn & 1) == 0)
				while ((fn & 1) == 0 && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			evp_digest_node(r, p->proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || memcmp(r, p->root, 32) != 0)
		abort();
}

static void base_cons(void *arg)
{
	struct proof_ctx *p = arg;
	const uint8_t(*path)[32] = (const uint8_t(*)[32])p->proof;
	size_t n = p->len, i = 0;
	uint64_t fn = p->size1 - 1, sn = p->size - 1;
	uint8_t fr[32], sr[32];

	if ((p->size1 & (p->size1 - 1)) == 0) { /* a power of two: prepend first_hash */
		memcpy(fr, p->root1, 32);
		memcpy(sr, p->root1, 32);
	} else {
		memcpy(fr, path[0], 32);
		memcpy(sr, path[0], 32);
		i = 1;
	}
	while ((fn & 1) == 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			abort();
		if ((fn & 1) == 1 || fn == sn) {
			evp_digest_node(path[i], fr, fr);
			evp_digest_node(path[i], sr, sr);
			p->nh += 2;
			if ((fn & 1) == 0)
				while ((fn & 1) == 0 && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			evp_digest_node(sr, path[i], sr);
			p->nh++;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || memcmp(fr, p->root1, 32) != 0 || memcmp(sr, p->root, 32) != 0)
		abort();
}

/* Random proof hashes; the roots are then computed from them, so the proofs verify. */
static void make_inclusion(struct proof_ctx *p, uint64_t size)
{
	size_t i;

	p->size = size;
	p->index = size / 3 + 12345 % size;
	p->len = kta_merkle_inclusion_proof_len(p->index, size);
	for (i = 0; i < p->len; i++)
		memset(p->proof[i], (int)(i * 7 + 1), 32);
	memset(p->leaf, 0x42, 32);
	if (kta_merkle_root_from_inclusion(p->h, p->index, size, p->leaf,
					   (const uint8_t(*)[32])p->proof, p->len, p->root,
					   NULL) != KTA_OK)
		abort();
}

/*
 * Consistency proofs at 2^40 cannot come from a real list of leaves, so the
 * benchmark uses a tree whose leaves all have the same hash: then the root of
 * any subtree depends only on its number of leaves, every proof element is
 * the root of the leaf range kta_merkle_consistency_proof_ranges names, and
 * the resulting proof is a genuine, verifying one.
 */
static void hash_pow2_root(struct kta_hasher *h, int k, uint8_t out[32])
{
	int i;

	memset(out, 0x42, 32); /* leaf hash of every leaf */
	for (i = 0; i < k; i++)
		kta_hash_node(h, out, out, out);
}

/* Root of a tree of `size` leaves that all have leaf hash 0x42.. (MTH recursion on sizes). */
static void uniform_root(struct kta_hasher *h, uint64_t size, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k = 1;
	int bits = 0;

	if ((size & (size - 1)) == 0) {
		while (((uint64_t)1 << bits) < size)
			bits++;
		hash_pow2_root(h, bits, out);
		return;
	}
	while (k * 2 < size) {
		k *= 2;
		bits++;
	}
	hash_pow2_root(h, bits, l);
	uniform_root(h, size - k, r);
	kta_hash_node(h, l, r, out);
}

static void make_consistency(struct proof_ctx *p, uint64_t size1, uint64_t size)
{
	struct kta_merkle_leaf_range ranges[KTA_MERKLE_MAX_PROOF];
	size_t i, n;

	p->size1 = size1;
	p->size = size;
	if (kta_merkle_consistency_proof_ranges(size1, size, ranges, KTA_MERKLE_MAX_PROOF, &n,
						NULL) != KTA_OK)
		abort();
	p->len = n;
	for (i = 0; i < n; i++)
		uniform_root(p->h, ranges[i].end - ranges[i].begin, p->proof[i]);
	uniform_root(p->h, size1, p->root1);
	uniform_root(p->h, size, p->root);
}

int main(int argc, char **argv)
{
	double secs = 1.0;
	SHA256_CTX c;
	struct bench_evp e;
	struct node_ctx nc;
	struct proof_ctx p;
	double raw, evp, node;
	int k;

	if (argc > 1) {
		char *end = NULL;

		errno = 0;
		secs = strtod(argv[1], &end);
		if (end == argv[1] || *end != '\0' || errno != 0 || !(secs > 0)) {
			fprintf(stderr, "usage: bench_merkle [seconds-per-figure > 0]\n");
			return 2;
		}
	}
	SHA256_Init(&c);
	raw = bench_rate(bench_raw_block, &c, secs);
	memset(&e, 0, sizeof(e));
	e.md = EVP_MD_fetch(NULL, "SHA256", NULL);
	e.ctx = EVP_MD_CTX_new();
	evp = bench_rate(bench_evp_node, &e, secs);
	memset(&nc, 0, sizeof(nc));
	if (kta_hasher_new(&nc.h, NULL) != KTA_OK)
		return 3;
	node = bench_rate(kta_node, &nc, secs);
	printf("SHA-256 bounds, this run, one core (all rates per CPU-second):\n");
	printf(
	    "  raw compression          %10.0f blocks/s  (= %.0f node hashes/s at 2 blocks each)\n",
	    raw, raw / 2);
	printf("  EVP node hash (reused)   %10.0f /s\n", evp);
	printf("kta_hash_node              %10.0f /s   %.2fx EVP, %.0f%% of the 2-block bound\n",
	       node, node / evp, 100.0 * node / (raw / 2));
	{
		struct bench_level *l = calloc(1, sizeof(*l));

		if (l == NULL || kta_hasher_new(&l->h, NULL) != KTA_OK)
			return 3;
		if (kta_hasher_test_ni(l->h, 1)) {
			double lv = 128 * bench_rate(bench_level_nodes, l, secs);

			printf(
			    "kta_hash_nodes (batch)     %10.0f /s   %.2fx kta_hash_node, %.2fx the "
			    "2-block raw bound (two messages interleaved on SHA-NI)\n",
			    lv, lv / node, lv / (raw / 2));
		} else {
			printf("kta_hash_nodes (batch)     no SHA-NI on this CPU: the same path as "
			       "kta_hash_node\n");
		}
		kta_hasher_free(l->h);
		free(l);
	}
	memset(&p, 0, sizeof(p));
	p.h = nc.h;
	for (k = 20; k <= 40; k += 20) {
		double ri, rc;
		uint64_t size = ((uint64_t)1 << k) - 12345;

		double bi, bc, cn;

		make_inclusion(&p, size);
		ri = bench_rate(verify_incl, &p, secs);
		bi = bench_rate(base_incl, &p, secs);
		printf(
		    "inclusion   at ~2^%d (%2zu hashes) %9.0f verifications/s  (%.0f%% of the raw "
		    "bound, %.0f%% of the EVP-node bound); baseline %.0f/s, %.2fx\n",
		    k, p.len, ri, 100.0 * ri * (double)p.len * 2 / raw,
		    100.0 * ri * (double)p.len / evp, bi, ri / bi);
		make_consistency(&p, size / 3 + 7, size);
		rc = bench_rate(verify_cons, &p, secs);
		bc = bench_rate(base_cons, &p, secs);
		/* node hashes of one verification (RFC 9162 2.1.4.2 keeps two roots) */
		p.nh = 0;
		base_cons(&p);
		cn = (double)p.nh;
		printf(
		    "consistency at ~2^%d (%2zu hashes) %9.0f verifications/s  (%.0f%% of the raw "
		    "bound at %.0f node hashes, %.0f%% of the EVP-node bound); baseline %.0f/s, "
		    "%.2fx\n",
		    k, p.len, rc, 100.0 * rc * cn * 2 / raw, cn, 100.0 * rc * cn / evp, bc,
		    rc / bc);
	}
	kta_hasher_free(nc.h);
	EVP_MD_CTX_free(e.ctx);
	EVP_MD_free(e.md);
	return 0;
}
