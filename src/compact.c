/*
 * Compact Merkle range over [0, size): the roots of the perfect subtrees
 * that make up the tree, one per set bit of size, largest first. Appending a
 * leaf merges the trailing equal-sized subtrees like a binary counter
 * increment; the root folds them right to left (RFC 9162 2.1.1).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/compact.h"

/* One perfect subtree per bit of a uint64_t size at most. */
#define KTA_COMPACT_MAX 64

struct kta_compact_range {
	uint64_t size;                                  /* leaves appended */
	size_t n;                                       /* popcount(size) */
	uint8_t hashes[KTA_COMPACT_MAX][KTA_HASH_SIZE]; /* largest subtree first */
};

static unsigned pop_count(uint64_t x)
{
	return (unsigned)__builtin_popcountll((unsigned long long)x);
}

enum kta_status kta_compact_range_new(struct kta_compact_range **out, struct kta_error *err)
{
	struct kta_compact_range *cr;

	*out = NULL;
	if ((cr = calloc(1, sizeof(*cr))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "compact range: out of memory");
	*out = cr;
	return KTA_OK;
}

enum kta_status kta_compact_range_restore(uint64_t size, const uint8_t (*hashes)[32], size_t n,
					  struct kta_compact_range **out, struct kta_error *err)
{
	struct kta_compact_range *cr = NULL;
	enum kta_status r;

	*out = NULL;
	if (n != pop_count(size))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "compact range: %zu hashes for size %" PRIu64 ", expected %u",
				     n, size, pop_count(size));
	if ((r = kta_compact_range_new(&cr, err)) != KTA_OK)
		return r;
	cr->size = size;
	cr->n = n;
	if (n != 0)
		memcpy(cr->hashes, hashes, n * KTA_HASH_SIZE);
	*out = cr;
	return KTA_OK;
}

void kta_compact_range_free(struct kta_compact_range *cr)
{
	free(cr);
}

uint64_t kta_compact_range_size(const struct kta_compact_range *cr)
{
	return cr->size;
}

enum kta_status kta_compact_range_append(struct kta_compact_range *cr, struct kta_hasher *h,
					 const uint8_t leaf_hash[static 32], struct kta_error *err)
{
	uint8_t carry[KTA_HASH_SIZE];
	uint64_t s;
	size_t n;

	if (cr->size == UINT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "compact range: size %" PRIu64 " cannot grow", cr->size);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "compact range: SHA-256 failed");
	/*
	 * Each trailing 1 bit of size is a perfect subtree of the new leaf's
	 * size that now has a right sibling: merge it. Work on a copy so that
	 * a hash failure leaves the range unchanged.
	 */
	memcpy(carry, leaf_hash, KTA_HASH_SIZE);
	n = cr->n;
	for (s = cr->size; (s & 1) != 0; s >>= 1)
		kta_hash_node(h, cr->hashes[--n], carry, carry);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "compact range: SHA-256 failed");
	memcpy(cr->hashes[n], carry, KTA_HASH_SIZE);
	cr->n = n + 1;
	cr->size++;
	return KTA_OK;
}

/*
 * Internal (tlog.c), not in compact.h: appends a whole perfect subtree of
 * 2^height leaves whose root is `root`, as 2^height kta_compact_range_append
 * calls of its leaves would, with at most popcount-many node hashes instead
 * of 2^height. Precondition: size is a multiple of 2^height (KTA_ERR_USAGE
 * otherwise); KTA_ERR_LIMIT when the size would overflow.
 */
enum kta_status kta_compact_range_append_subtree(struct kta_compact_range *cr, struct kta_hasher *h,
						 unsigned height, const uint8_t root[static 32],
						 struct kta_error *err);

enum kta_status kta_compact_range_append_subtree(struct kta_compact_range *cr, struct kta_hasher *h,
						 unsigned height, const uint8_t root[static 32],
						 struct kta_error *err)
{
	uint8_t carry[KTA_HASH_SIZE];
	uint64_t s, span;
	size_t n;

	if (height > 63 || (cr->size & (((uint64_t)1 << height) - 1)) != 0)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "compact range: subtree of height %u at size %" PRIu64, height,
				     cr->size);
	span = (uint64_t)1 << height;
	if (cr->size > UINT64_MAX - span)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "compact range: size %" PRIu64 " cannot grow", cr->size);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "compact range: SHA-256 failed");
	/* The same binary-counter merge as kta_compact_range_append, at bit height. */
	memcpy(carry, root, KTA_HASH_SIZE);
	n = cr->n;
	for (s = cr->size >> height; (s & 1) != 0; s >>= 1)
		kta_hash_node(h, cr->hashes[--n], carry, carry);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "compact range: SHA-256 failed");
	memcpy(cr->hashes[n], carry, KTA_HASH_SIZE);
	cr->n = n + 1;
	cr->size += span;
	return KTA_OK;
}

enum kta_status kta_compact_range_root(const struct kta_compact_range *cr, struct kta_hasher *h,
				       uint8_t root[static 32], struct kta_error *err)
{
	uint8_t r[KTA_HASH_SIZE];
	size_t i;

	if (cr->n == 0) {
		kta_hash_empty(root);
		return KTA_OK;
	}
	/* MTH(D[n]) = node(S_1, node(S_2, ... S_m)) over the subtrees, largest first */
	memcpy(r, cr->hashes[cr->n - 1], KTA_HASH_SIZE);
	for (i = cr->n - 1; i > 0; i--)
		kta_hash_node(h, cr->hashes[i - 1], r, r);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "compact range: SHA-256 failed");
	memcpy(root, r, KTA_HASH_SIZE);
	return KTA_OK;
}

const uint8_t (*kta_compact_range_hashes(const struct kta_compact_range *cr, size_t *n))[32]
{
	*n = cr->n;
	if (cr->n == 0)
		return NULL;
	return (const uint8_t(*)[32])cr->hashes;
}
