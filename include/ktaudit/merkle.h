/*
 * ktaudit: RFC 9162 section 2.1 Merkle tree hashes, inclusion and
 * consistency proofs (pure, no I/O).
 *
 * Terms (RFC 9162 2.1.1): a tree of `size` leaves; leaves are given and
 * returned as leaf HASHES (kta_hash_leaf of the entry), never as entries.
 * MTH({}) = SHA-256(""); MTH({d0}) = leaf hash; MTH(D[n]) =
 * node(MTH(D[0:k]), MTH(D[k:n])) with k the largest power of two < n.
 *
 * Proofs are arrays of 32-byte hashes, `const uint8_t (*proof)[32]` plus a
 * count, in the order of RFC 9162 (the same order as the RFC 6962 JSON
 * "audit_path" and "consistency" arrays): inclusion from the leaf upwards,
 * consistency as produced by SUBPROOF.
 *
 * Sizes: verifiers and the _len helpers accept every uint64_t size and
 * index, up to UINT64_MAX, without overflow or undefined behaviour. For any
 * uint64_t size an inclusion proof has at most 64 hashes and a consistency
 * proof at most 65; a longer proof is rejected by its length check.
 * KTA_MERKLE_MAX_PROOF is a safe capacity for any proof buffer. The
 * generators (kta_merkle_inclusion_proof, _consistency_proof, kta_merkle_root)
 * take the leaves in memory, so their n is bounded by the caller's array.
 *
 * Status codes:
 *   KTA_ERR_VERIFY   the proof does not verify: wrong root, wrong length,
 *                    index >= size, size1 > size2, equal sizes with a
 *                    non-empty proof, ... (the message says which)
 *   KTA_ERR_USAGE    caller bug: proof_cap too small, index/old_size out of
 *                    range when GENERATING a proof
 *   KTA_ERR_LIMIT    a generator's leaf count exceeds what can be addressed
 *   KTA_ERR_INTERNAL the hasher failed (kta_hasher_failed)
 *
 * Ownership: nothing here allocates; all buffers are the caller's. Verifiers
 * do no allocation and no recursion.
 */
#ifndef KTAUDIT_MERKLE_H
#define KTAUDIT_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/hash.h"

/* Longest inclusion or consistency proof accepted for any uint64_t size. */
#define KTA_MERKLE_MAX_PROOF 128

/*
 * root = MTH(leaves[0..n)) over leaf hashes (RFC 9162 2.1.1); n = 0 gives
 * SHA-256(""). Iterative, O(log n) stack; leaves must hold n hashes.
 */
KTA_API enum kta_status kta_merkle_root(struct kta_hasher *h, const uint8_t (*leaves)[32],
					uint64_t n, uint8_t root[static 32], struct kta_error *err);

/*
 * Writes the inclusion proof PATH(index, D[n]) (RFC 9162 2.1.3.1) for leaf
 * `index` of the tree leaves[0..n) into proof (capacity proof_cap hashes) and
 * its length into *proof_len. KTA_ERR_USAGE if index >= n or proof_cap <
 * kta_merkle_inclusion_proof_len(index, n).
 */
KTA_API enum kta_status kta_merkle_inclusion_proof(struct kta_hasher *h,
						   const uint8_t (*leaves)[32], uint64_t n,
						   uint64_t index, uint8_t (*proof)[32],
						   size_t proof_cap, size_t *proof_len,
						   struct kta_error *err);

/*
 * Writes the consistency proof PROOF(old_size, D[n]) (RFC 9162 2.1.4.1)
 * between the tree of old_size leaves and leaves[0..n). old_size = n gives
 * the empty proof; old_size = 0 also gives an empty proof, which
 * kta_merkle_verify_consistency rejects (see there). KTA_ERR_USAGE if
 * old_size > n or proof_cap is too small.
 */
KTA_API enum kta_status kta_merkle_consistency_proof(struct kta_hasher *h,
						     const uint8_t (*leaves)[32], uint64_t n,
						     uint64_t old_size, uint8_t (*proof)[32],
						     size_t proof_cap, size_t *proof_len,
						     struct kta_error *err);

/*
 * Computes the root implied by an inclusion proof (RFC 9162 2.1.3.2 steps
 * 1-5, without the final comparison) into root. KTA_ERR_VERIFY if index >=
 * size or proof_len is not kta_merkle_inclusion_proof_len(index, size).
 */
KTA_API enum kta_status
kta_merkle_root_from_inclusion(struct kta_hasher *h, uint64_t index, uint64_t size,
			       const uint8_t leaf_hash[static 32], const uint8_t (*proof)[32],
			       size_t proof_len, uint8_t root[static 32], struct kta_error *err);

/*
 * Verifies that leaf_hash is leaf `index` of the tree of `size` leaves with
 * root `root` (RFC 9162 2.1.3.2). KTA_OK or KTA_ERR_VERIFY with the reason.
 */
KTA_API enum kta_status kta_merkle_verify_inclusion(struct kta_hasher *h, uint64_t index,
						    uint64_t size,
						    const uint8_t leaf_hash[static 32],
						    const uint8_t (*proof)[32], size_t proof_len,
						    const uint8_t root[static 32],
						    struct kta_error *err) KTA_WUR;

/*
 * Verifies that the tree (size2, root2) extends the tree (size1, root1)
 * (RFC 9162 2.1.4.2, which defines proofs for 0 < size1 < size2). KTA_OK or
 * KTA_ERR_VERIFY with the reason. The edge cases follow the transparency-dev
 * test vectors:
 *   size1 > size2          fails ("size1 > size2")
 *   size1 = size2          the proof must be empty and root1 = root2; when
 *                          both sizes are 0 the roots must also be SHA-256("")
 *   size1 = 0 < size2      always fails: no proof links the empty tree, and a
 *                          caller with no previous head has nothing to check
 *                          (skip the call instead)
 */
KTA_API enum kta_status kta_merkle_verify_consistency(struct kta_hasher *h, uint64_t size1,
						      uint64_t size2,
						      const uint8_t root1[static 32],
						      const uint8_t root2[static 32],
						      const uint8_t (*proof)[32], size_t proof_len,
						      struct kta_error *err) KTA_WUR;

/*
 * Runs RFC 9162 2.1.4.2 (steps 3-7) on a consistency vector for 0 < size1 <
 * size2 and returns the two roots it computes, without comparing them to
 * anything: fr, the root of the first size1 leaves, and sr, the root of all
 * size2 leaves. vec is the vector AFTER step 2: when size1 is a power of two
 * its first hash is the subtree [0, size1) (a verifier that trusts root1
 * prepends it; evidence carries the larger tree's value instead), so it has
 * kta_merkle_consistency_proof_len(size1, size2) + 1 hashes; otherwise
 * exactly that many. A caller that checks sr against a signed root of size2
 * learns fr, the size1 prefix of that tree. KTA_OK, or KTA_ERR_VERIFY for bad
 * sizes or length; fr and sr are written only on success.
 */
KTA_API enum kta_status kta_merkle_consistency_roots(struct kta_hasher *h, uint64_t size1,
						     uint64_t size2, const uint8_t (*vec)[32],
						     size_t vec_len, uint8_t fr[static 32],
						     uint8_t sr[static 32],
						     struct kta_error *err) KTA_WUR;

/*
 * The number of hashes in PATH(index, D[size]) (RFC 9162 2.1.3.1), for
 * preallocation and for tiles-based clients that assemble proofs. 0 when
 * index >= size (no proof exists) and when size = 1.
 */
KTA_API size_t kta_merkle_inclusion_proof_len(uint64_t index, uint64_t size);

/*
 * The number of hashes in PROOF(size1, D[size2]) (RFC 9162 2.1.4.1). 0 when
 * size1 = 0, size1 = size2 or size1 > size2 (no proof is needed or none exists).
 */
KTA_API size_t kta_merkle_consistency_proof_len(uint64_t size1, uint64_t size2);

/* A range of leaves [begin, end) of the log: proof element i is MTH(D[begin:end]). */
struct kta_merkle_leaf_range {
	uint64_t begin; /* first leaf index */
	uint64_t end;   /* one past the last leaf index; end > begin */
};

/*
 * For a tiles-based client: which subtree each element of PATH(index,
 * D[size]) is the hash of, in proof order (from the leaf upwards). begin is
 * always a multiple of the smallest power of two >= end - begin. When
 * end - begin is a power of two the range is one stored node (level
 * log2(end - begin), index begin >> level). Otherwise it ends at size (the
 * right edge) and its hash folds the perfect subtrees that make it up, one
 * per set bit of end - begin, largest first: pass their hashes to
 * kta_compact_range_restore(end - begin, ...) and take kta_compact_range_root
 * (compact.h). (kta_merkle_root over those hashes would be wrong: it treats
 * them as leaves of one level.)
 * Writes kta_merkle_inclusion_proof_len(index, size) ranges into ranges
 * (capacity cap) and the count into *len. KTA_ERR_USAGE if index >= size or
 * cap is too small. Pure: no hashing.
 */
KTA_API enum kta_status kta_merkle_inclusion_proof_ranges(uint64_t index, uint64_t size,
							  struct kta_merkle_leaf_range *ranges,
							  size_t cap, size_t *len,
							  struct kta_error *err);

/*
 * The same for PROOF(size1, D[size2]) (RFC 9162 2.1.4.1): writes
 * kta_merkle_consistency_proof_len(size1, size2) ranges (none when size1 = 0
 * or size1 = size2). KTA_ERR_USAGE if size1 > size2 or cap is too small.
 */
KTA_API enum kta_status kta_merkle_consistency_proof_ranges(uint64_t size1, uint64_t size2,
							    struct kta_merkle_leaf_range *ranges,
							    size_t cap, size_t *len,
							    struct kta_error *err);

#endif
