/*
 * RFC 9162 section 2.1: Merkle tree hash, inclusion and consistency proofs.
 *
 * Verification follows the bit arithmetic of RFC 9162 2.1.3.2 and 2.1.4.2
 * (fn/sn): no recursion and no allocation, O(proof length) hashes. The
 * expected proof length is checked first so that a wrong-length proof is
 * reported as such (the fn/sn loop would reject it anyway).
 */
#include <inttypes.h>
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/merkle.h"

/* Number of significant bits of x (0 for 0). */
static unsigned bit_len(uint64_t x)
{
	return x == 0 ? 0u : 64u - (unsigned)__builtin_clzll((unsigned long long)x);
}

static unsigned pop_count(uint64_t x)
{
	return (unsigned)__builtin_popcountll((unsigned long long)x);
}

/* Trailing zero bits of x; x must not be 0. */
static unsigned trailing_zeros(uint64_t x)
{
	return (unsigned)__builtin_ctzll((unsigned long long)x);
}

/* The largest power of two strictly less than n; n >= 2 (RFC 9162 2.1.1 "k"). */
static uint64_t split_point(uint64_t n)
{
	/* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): n >= 2 */
	return (uint64_t)1 << (bit_len(n - 1) - 1);
}

/*
 * Length of PATH(index, D[size]) for index < size: the levels below the
 * point where the paths to index and size-1 part ("inner"), plus one hash per
 * left sibling above it ("border"). inner can be 64, and shifting a uint64_t
 * by 64 is undefined, hence the guard.
 */
static size_t incl_len(uint64_t index, uint64_t size)
{
	unsigned inner = bit_len(index ^ (size - 1));
	unsigned border = inner >= 64 ? 0u : pop_count(index >> inner);

	return (size_t)inner + border;
}

size_t kta_merkle_inclusion_proof_len(uint64_t index, uint64_t size)
{
	if (index >= size)
		return 0;
	return incl_len(index, size);
}

size_t kta_merkle_consistency_proof_len(uint64_t size1, uint64_t size2)
{
	unsigned shift;
	size_t seed;

	if (size1 == 0 || size1 >= size2)
		return 0;
	/*
	 * The proof is the inclusion proof of leaf size1-1 in size2 without its
	 * lowest `shift` levels (the old tree's rightmost perfect subtree is one
	 * node), plus that node first unless it is the whole old tree
	 * (size1 a power of two, RFC 9162 2.1.4.2 step 2). shift < inner
	 * because size1 < size2.
	 */
	shift = trailing_zeros(size1);
	seed = (size1 & (size1 - 1)) == 0 ? 0 : 1;
	return seed + incl_len(size1 - 1, size2) - shift;
}

/* Short hex prefix of a hash for error messages: buf must hold 17 bytes. */
static const char *short_hex(const uint8_t hash[static 32], char buf[static 17])
{
	kta_hex_encode(hash, 8, buf);
	return buf;
}

enum kta_status kta_merkle_root_from_inclusion(struct kta_hasher *h, uint64_t index, uint64_t size,
					       const uint8_t leaf_hash[static 32],
					       const uint8_t (*proof)[32], size_t proof_len,
					       uint8_t root[static 32], struct kta_error *err)
{
	uint8_t r[KTA_HASH_SIZE];
	uint64_t fn, sn;
	size_t want, i;

	/* RFC 9162 2.1.3.2 step 1 */
	if (index >= size)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "inclusion proof: index %" PRIu64 " >= size %" PRIu64, index,
				     size);
	want = incl_len(index, size);
	if (proof_len != want)
		return kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "inclusion proof: proof has %zu hashes, expected %zu for index "
		    "%" PRIu64 " in size %" PRIu64,
		    proof_len, want, index, size);
	/* steps 2-4 */
	fn = index;
	sn = size - 1;
	memcpy(r, leaf_hash, KTA_HASH_SIZE);
	for (i = 0; i < proof_len; i++) {
		if (sn == 0)
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "inclusion proof: too long at hash %zu", i);
		if ((fn & 1) != 0 || fn == sn) {
			kta_hash_node(h, proof[i], r, r);
			/* fn == sn != 0 here when LSB(fn) is clear, so fn != 0 */
			if ((fn & 1) == 0) {
				unsigned s = trailing_zeros(fn);

				fn >>= s;
				sn >>= s;
			}
		} else {
			kta_hash_node(h, r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* step 5: sn must have reached 0 (the root) */
	if (sn != 0)
		return kta_error_set(err, KTA_ERR_VERIFY, "inclusion proof: too short");
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "inclusion proof: SHA-256 failed");
	memcpy(root, r, KTA_HASH_SIZE);
	return KTA_OK;
}

enum kta_status kta_merkle_verify_inclusion(struct kta_hasher *h, uint64_t index, uint64_t size,
					    const uint8_t leaf_hash[static 32],
					    const uint8_t (*proof)[32], size_t proof_len,
					    const uint8_t root[static 32], struct kta_error *err)
{
	uint8_t got[KTA_HASH_SIZE];
	char a[17], b[17];
	enum kta_status r;

	r = kta_merkle_root_from_inclusion(h, index, size, leaf_hash, proof, proof_len, got, err);
	if (r != KTA_OK)
		return r;
	if (!kta_ct_equal(got, root, KTA_HASH_SIZE))
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "inclusion proof: root mismatch for index %" PRIu64
				     " in size %" PRIu64 " (computed %s..., expected %s...)",
				     index, size, short_hex(got, a), short_hex(root, b));
	return KTA_OK;
}

/*
 * RFC 9162 2.1.4.2 steps 3-7 for 0 < size1 < size2: folds the consistency
 * vector (first, then proof; first NULL = proof[0]) into the roots fr (size1)
 * and sr (size2). The vector's length must already be checked.
 */
static enum kta_status fold_consistency(struct kta_hasher *h, uint64_t size1, uint64_t size2,
					const uint8_t *first, const uint8_t (*proof)[32],
					size_t proof_len, uint8_t fr[static 32],
					uint8_t sr[static 32], struct kta_error *err)
{
	size_t seed = first != NULL ? 1 : 0, total = proof_len + seed, i;
	const uint8_t *c;
	uint64_t fn, sn;

	if (total == 0)
		return kta_error_set(err, KTA_ERR_VERIFY, "consistency proof: empty");
	/* steps 3-4 */
	fn = size1 - 1;
	sn = size2 - 1;
	while ((fn & 1) != 0) {
		fn >>= 1;
		sn >>= 1;
	}
	/* step 5 */
	c = seed ? first : proof[0];
	memcpy(fr, c, KTA_HASH_SIZE);
	memcpy(sr, c, KTA_HASH_SIZE);
	/* step 6 */
	for (i = 1; i < total; i++) {
		c = proof[i - seed];
		if (sn == 0)
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "consistency proof: too long at hash %zu", i - seed);
		if ((fn & 1) != 0 || fn == sn) {
			uint8_t pair[4][KTA_HASH_SIZE], both[2][KTA_HASH_SIZE];

			/* two independent node hashes: one batch, hashed side by side */
			memcpy(pair[0], c, KTA_HASH_SIZE);
			memcpy(pair[1], fr, KTA_HASH_SIZE);
			memcpy(pair[2], c, KTA_HASH_SIZE);
			memcpy(pair[3], sr, KTA_HASH_SIZE);
			kta_hash_nodes(h, (const uint8_t(*)[KTA_HASH_SIZE])pair, 2, both);
			memcpy(fr, both[0], KTA_HASH_SIZE);
			memcpy(sr, both[1], KTA_HASH_SIZE);
			/* fn == sn != 0 here when LSB(fn) is clear, so fn != 0 */
			if ((fn & 1) == 0) {
				unsigned z = trailing_zeros(fn);

				fn >>= z;
				sn >>= z;
			}
		} else {
			kta_hash_node(h, sr, c, sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* step 7 */
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "consistency proof: SHA-256 failed");
	if (sn != 0)
		return kta_error_set(err, KTA_ERR_VERIFY, "consistency proof: too short");
	return KTA_OK;
}

enum kta_status kta_merkle_consistency_roots(struct kta_hasher *h, uint64_t size1, uint64_t size2,
					     const uint8_t (*vec)[32], size_t vec_len,
					     uint8_t fr[static 32], uint8_t sr[static 32],
					     struct kta_error *err)
{
	uint8_t a[KTA_HASH_SIZE], b[KTA_HASH_SIZE];
	size_t want;
	enum kta_status r;

	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "consistency proof: SHA-256 failed");
	if (size1 == 0 || size1 >= size2)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "consistency proof: sizes %" PRIu64 " -> %" PRIu64
				     " are not 0 < size1 < size2",
				     size1, size2);
	/* The vector carries the seed itself when size1 is a power of two. */
	want =
	    kta_merkle_consistency_proof_len(size1, size2) + ((size1 & (size1 - 1)) == 0 ? 1 : 0);
	if (vec_len != want || (vec_len > 0 && vec == NULL))
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "consistency proof: vector has %zu hashes, expected %zu for "
				     "sizes %" PRIu64 " -> %" PRIu64,
				     vec_len, want, size1, size2);
	if ((r = fold_consistency(h, size1, size2, NULL, vec, vec_len, a, b, err)) != KTA_OK)
		return r;
	memcpy(fr, a, KTA_HASH_SIZE);
	memcpy(sr, b, KTA_HASH_SIZE);
	return KTA_OK;
}

enum kta_status kta_merkle_verify_consistency(struct kta_hasher *h, uint64_t size1, uint64_t size2,
					      const uint8_t root1[static 32],
					      const uint8_t root2[static 32],
					      const uint8_t (*proof)[32], size_t proof_len,
					      struct kta_error *err)
{
	uint8_t empty[KTA_HASH_SIZE], fr[KTA_HASH_SIZE], sr[KTA_HASH_SIZE];
	size_t want, seed;
	enum kta_status r;
	char a[17], b[17];

	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "consistency proof: SHA-256 failed");
	if (size1 > size2)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "consistency proof: size1 %" PRIu64 " > size2 %" PRIu64, size1,
				     size2);
	if (size1 == size2) {
		/* nothing to prove: the same tree must have the same root */
		if (proof_len != 0)
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "consistency proof: sizes are equal (%" PRIu64
					     ") but the proof has %zu hashes, expected 0",
					     size1, proof_len);
		kta_hash_empty(empty);
		if (size1 == 0 && (!kta_ct_equal(root1, empty, KTA_HASH_SIZE) ||
				   !kta_ct_equal(root2, empty, KTA_HASH_SIZE)))
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "consistency proof: root of the empty tree is not "
					     "SHA-256(\"\")");
		if (!kta_ct_equal(root1, root2, KTA_HASH_SIZE))
			return kta_error_set(
			    err, KTA_ERR_VERIFY,
			    "consistency proof: root mismatch at equal sizes %" PRIu64
			    " (%s... vs %s...)",
			    size1, short_hex(root1, a), short_hex(root2, b));
		return KTA_OK;
	}
	if (size1 == 0)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "consistency proof: size1 is 0: no proof links the empty tree "
				     "to size %" PRIu64,
				     size2);
	want = kta_merkle_consistency_proof_len(size1, size2);
	if (proof_len != want)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "consistency proof: proof has %zu hashes, expected %zu for "
				     "sizes %" PRIu64 " -> %" PRIu64,
				     proof_len, want, size1, size2);

	/* RFC 9162 2.1.4.2. Step 2 prepends root1 when size1 is a power of two. */
	seed = (size1 & (size1 - 1)) == 0 ? 1 : 0;
	if ((r = fold_consistency(h, size1, size2, seed ? root1 : NULL, proof, proof_len, fr, sr,
				  err)) != KTA_OK)
		return r;
	if (!kta_ct_equal(fr, root1, KTA_HASH_SIZE))
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "consistency proof: root1 mismatch for size %" PRIu64
				     " (computed %s..., expected %s...)",
				     size1, short_hex(fr, a), short_hex(root1, b));
	if (!kta_ct_equal(sr, root2, KTA_HASH_SIZE))
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "consistency proof: root2 mismatch for size %" PRIu64
				     " (computed %s..., expected %s...)",
				     size2, short_hex(sr, a), short_hex(root2, b));
	return KTA_OK;
}

enum kta_status kta_merkle_inclusion_proof_ranges(uint64_t index, uint64_t size,
						  struct kta_merkle_leaf_range *ranges, size_t cap,
						  size_t *len, struct kta_error *err)
{
	uint64_t lo = 0, n = size, m = index, k;
	size_t want, pos;

	if (index >= size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "inclusion proof: index %" PRIu64 " >= size %" PRIu64, index,
				     size);
	want = incl_len(index, size);
	if (cap < want)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "inclusion proof: room for %zu hashes, need %zu", cap, want);
	/*
	 * RFC 9162 2.1.3.1 walked top-down: PATH(m, D[n]) ends with the sibling
	 * of the top-level split, so fill the output from the back.
	 */
	pos = want;
	while (n > 1) {
		if (pos == 0)
			return kta_error_set(err, KTA_ERR_INTERNAL,
					     "inclusion proof: length mismatch");
		k = split_point(n);
		pos--;
		if (m < k) {
			ranges[pos].begin = lo + k;
			ranges[pos].end = lo + n;
			n = k;
		} else {
			ranges[pos].begin = lo;
			ranges[pos].end = lo + k;
			lo += k;
			m -= k;
			n -= k;
		}
	}
	if (pos != 0)
		return kta_error_set(err, KTA_ERR_INTERNAL, "inclusion proof: length mismatch");
	*len = want;
	return KTA_OK;
}

enum kta_status kta_merkle_consistency_proof_ranges(uint64_t size1, uint64_t size2,
						    struct kta_merkle_leaf_range *ranges,
						    size_t cap, size_t *len, struct kta_error *err)
{
	uint64_t lo = 0, n = size2, m = size1, k;
	size_t want, pos;
	int whole = 1; /* SUBPROOF's b: still on the old tree's own root path */

	if (size1 > size2)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "consistency proof: size1 %" PRIu64 " > size2 %" PRIu64, size1,
				     size2);
	want = kta_merkle_consistency_proof_len(size1, size2);
	if (cap < want)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "consistency proof: room for %zu hashes, need %zu", cap, want);
	if (want == 0) {
		*len = 0;
		return KTA_OK;
	}
	/*
	 * RFC 9162 2.1.4.1 SUBPROOF walked top-down; each level appends its
	 * element after the deeper ones, so fill the output from the back.
	 * 0 < m < n on entry, and m >= 1 stays true, so n >= 2 in the loop.
	 */
	pos = want;
	while (m != n) {
		if (pos == 0)
			return kta_error_set(err, KTA_ERR_INTERNAL,
					     "consistency proof: length mismatch");
		k = split_point(n);
		pos--;
		if (m <= k) {
			ranges[pos].begin = lo + k;
			ranges[pos].end = lo + n;
			n = k;
		} else {
			ranges[pos].begin = lo;
			ranges[pos].end = lo + k;
			lo += k;
			m -= k;
			n -= k;
			whole = 0;
		}
	}
	/* SUBPROOF(m, D[m], false) = [MTH(D[m])]: the old tree's last subtree */
	if (!whole) {
		if (pos == 0)
			return kta_error_set(err, KTA_ERR_INTERNAL,
					     "consistency proof: length mismatch");
		pos--;
		ranges[pos].begin = lo;
		ranges[pos].end = lo + n;
	}
	if (pos != 0)
		return kta_error_set(err, KTA_ERR_INTERNAL, "consistency proof: length mismatch");
	*len = want;
	return KTA_OK;
}

/*
 * MTH over leaves[0..n) (RFC 9162 2.1.1) without recursion: a stack of
 * perfect-subtree roots, as in a compact range, folded right to left.
 */
static void mth(struct kta_hasher *h, const uint8_t (*leaves)[32], uint64_t n,
		uint8_t out[static 32])
{
	uint8_t stack[64][KTA_HASH_SIZE];
	uint8_t cur[KTA_HASH_SIZE];
	unsigned top = 0, merges, j;
	uint64_t i;

	if (n == 0) {
		kta_hash_empty(out);
		return;
	}
	for (i = 0; i < n; i++) {
		memcpy(cur, leaves[i], KTA_HASH_SIZE);
		/* leaf i completes one perfect subtree per trailing 1 bit of i */
		merges = trailing_zeros(i + 1);
		for (j = 0; j < merges; j++)
			kta_hash_node(h, stack[--top], cur, cur);
		memcpy(stack[top++], cur, KTA_HASH_SIZE);
	}
	memcpy(cur, stack[--top], KTA_HASH_SIZE);
	while (top > 0)
		kta_hash_node(h, stack[--top], cur, cur);
	memcpy(out, cur, KTA_HASH_SIZE);
}

/* Leaves are in memory, so n must be addressable as n * 32 bytes. */
static enum kta_status check_leaf_count(uint64_t n, struct kta_error *err)
{
	if (n > SIZE_MAX / KTA_HASH_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "merkle: %" PRIu64 " leaves do not fit in memory", n);
	return KTA_OK;
}

enum kta_status kta_merkle_root(struct kta_hasher *h, const uint8_t (*leaves)[32], uint64_t n,
				uint8_t root[static 32], struct kta_error *err)
{
	uint8_t r[KTA_HASH_SIZE];
	enum kta_status st;

	if ((st = check_leaf_count(n, err)) != KTA_OK)
		return st;
	mth(h, leaves, n, r);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "merkle root: SHA-256 failed");
	memcpy(root, r, KTA_HASH_SIZE);
	return KTA_OK;
}

/* Fills proof[i] = MTH(D[ranges[i]]) for i < len. */
static enum kta_status fill_proof(struct kta_hasher *h, const uint8_t (*leaves)[32],
				  const struct kta_merkle_leaf_range *ranges, size_t len,
				  uint8_t (*proof)[32], const char *what, struct kta_error *err)
{
	size_t i;

	for (i = 0; i < len; i++)
		mth(h, leaves + ranges[i].begin, ranges[i].end - ranges[i].begin, proof[i]);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "%s: SHA-256 failed", what);
	return KTA_OK;
}

enum kta_status kta_merkle_inclusion_proof(struct kta_hasher *h, const uint8_t (*leaves)[32],
					   uint64_t n, uint64_t index, uint8_t (*proof)[32],
					   size_t proof_cap, size_t *proof_len,
					   struct kta_error *err)
{
	struct kta_merkle_leaf_range ranges[KTA_MERKLE_MAX_PROOF];
	size_t len = 0;
	enum kta_status r;

	if ((r = check_leaf_count(n, err)) != KTA_OK)
		return r;
	if (index < n && proof_cap < incl_len(index, n))
		return kta_error_set(err, KTA_ERR_USAGE,
				     "inclusion proof: room for %zu hashes, need %zu", proof_cap,
				     incl_len(index, n));
	r = kta_merkle_inclusion_proof_ranges(index, n, ranges, KTA_MERKLE_MAX_PROOF, &len, err);
	if (r != KTA_OK)
		return r;
	if ((r = fill_proof(h, leaves, ranges, len, proof, "inclusion proof", err)) != KTA_OK)
		return r;
	*proof_len = len;
	return KTA_OK;
}

enum kta_status kta_merkle_consistency_proof(struct kta_hasher *h, const uint8_t (*leaves)[32],
					     uint64_t n, uint64_t old_size, uint8_t (*proof)[32],
					     size_t proof_cap, size_t *proof_len,
					     struct kta_error *err)
{
	struct kta_merkle_leaf_range ranges[KTA_MERKLE_MAX_PROOF];
	size_t len = 0, want;
	enum kta_status r;

	if ((r = check_leaf_count(n, err)) != KTA_OK)
		return r;
	want = kta_merkle_consistency_proof_len(old_size, n);
	if (old_size <= n && proof_cap < want)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "consistency proof: room for %zu hashes, need %zu", proof_cap,
				     want);
	r = kta_merkle_consistency_proof_ranges(old_size, n, ranges, KTA_MERKLE_MAX_PROOF, &len,
						err);
	if (r != KTA_OK)
		return r;
	if ((r = fill_proof(h, leaves, ranges, len, proof, "consistency proof", err)) != KTA_OK)
		return r;
	*proof_len = len;
	return KTA_OK;
}
