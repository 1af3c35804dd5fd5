/*
 * libFuzzer, differential: RFC 9162 proofs against roots recomputed from
 * the leaves. Input: [n 2][index 2][old 2][mask...]; leaf i is
 * SHA-256(0x00 || i || n) for i < n (n in 1..4096). For a proof generated
 * with kta_merkle_inclusion_proof (2.1.3.1): it verifies (2.1.3.2) against
 * kta_merkle_root, root_from_inclusion gives that root, and the proof XORed
 * with the input's mask verifies if and only if the mask is all zero. The
 * same for consistency proofs (2.1.4) between old and n.
 */
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"

#include "fuzz_util.h"

#define MAXN 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t leaves[MAXN][32];

/* XORs the mask (mask, mlen) into proof; returns 1 if anything changed. */
static int apply(uint8_t (*proof)[32], size_t len, const uint8_t *mask, size_t mlen)
{
	size_t i, tot = len * 32;
	int changed = 0;

	for (i = 0; i < mlen && i < tot; i++) {
		proof[i / 32][i % 32] ^= mask[i];
		changed |= mask[i] != 0;
	}
	return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t n = fuzz_take(&data, &size, 2) % MAXN + 1;
	uint64_t index = fuzz_take(&data, &size, 2) % n;
	uint64_t old = fuzz_take(&data, &size, 2) % n + 1;
	uint8_t root[32], oldroot[32], got[32], proof[KTA_MERKLE_MAX_PROOF][32];
	size_t plen = 0;
	struct kta_hasher *h = NULL;
	uint64_t i;
	int changed;

	FUZZ_CHECK(kta_hasher_new(&h, NULL) == KTA_OK);
	for (i = 0; i < n; i++) {
		uint8_t in[16];
		int b;

		for (b = 0; b < 8; b++) {
			in[b] = (uint8_t)(i >> (56 - 8 * b));
			in[8 + b] = (uint8_t)(n >> (56 - 8 * b));
		}
		kta_hash_leaf(h, in, sizeof(in), leaves[i]);
	}
	FUZZ_CHECK(!kta_hasher_failed(h));
	FUZZ_CHECK(kta_merkle_root(h, (const uint8_t(*)[32])leaves, n, root, NULL) == KTA_OK);

	/* Inclusion. */
	FUZZ_CHECK(kta_merkle_inclusion_proof(h, (const uint8_t(*)[32])leaves, n, index, proof,
					      KTA_MERKLE_MAX_PROOF, &plen, NULL) == KTA_OK);
	FUZZ_CHECK(plen == kta_merkle_inclusion_proof_len(index, n));
	FUZZ_CHECK(kta_merkle_verify_inclusion(h, index, n, leaves[index],
					       (const uint8_t(*)[32])proof, plen, root,
					       NULL) == KTA_OK);
	FUZZ_CHECK(kta_merkle_root_from_inclusion(h, index, n, leaves[index],
						  (const uint8_t(*)[32])proof, plen, got,
						  NULL) == KTA_OK);
	FUZZ_CHECK(memcmp(got, root, 32) == 0);
	if (n > 1) /* the right proof for another leaf's hash */
		FUZZ_CHECK(kta_merkle_verify_inclusion(h, index, n, leaves[(index + 1) % n],
						       (const uint8_t(*)[32])proof, plen, root,
						       NULL) == KTA_ERR_VERIFY);
	changed = apply(proof, plen, data, size);
	FUZZ_CHECK(
	    (kta_merkle_verify_inclusion(h, index, n, leaves[index], (const uint8_t(*)[32])proof,
					 plen, root, NULL) == KTA_OK) == !changed);

	/* Consistency between old and n. */
	FUZZ_CHECK(kta_merkle_root(h, (const uint8_t(*)[32])leaves, old, oldroot, NULL) == KTA_OK);
	FUZZ_CHECK(kta_merkle_consistency_proof(h, (const uint8_t(*)[32])leaves, n, old, proof,
						KTA_MERKLE_MAX_PROOF, &plen, NULL) == KTA_OK);
	FUZZ_CHECK(plen == kta_merkle_consistency_proof_len(old, n));
	FUZZ_CHECK(kta_merkle_verify_consistency(h, old, n, oldroot, root,
						 (const uint8_t(*)[32])proof, plen,
						 NULL) == KTA_OK);
	changed = apply(proof, plen, data, size);
	FUZZ_CHECK(
	    (kta_merkle_verify_consistency(h, old, n, oldroot, root, (const uint8_t(*)[32])proof,
					   plen, NULL) == KTA_OK) == !changed);
	kta_hasher_free(h);
	return 0;
}
