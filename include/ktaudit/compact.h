/*
 * ktaudit: compact Merkle range (the "frontier") over leaves [0, size).
 *
 * Holds the roots of the perfect subtrees that make up the tree of `size`
 * leaves: one per set bit of size, from the largest (leftmost) subtree to the
 * smallest. That is enough to append leaves and compute MTH (RFC 9162 2.1.1)
 * without keeping the leaves, so replay uses O(log size) memory.
 *
 *   saved state  | meaning
 *   -------------+----------------------------------------------------
 *   size         | number of leaves appended (uint64_t)
 *   hashes[i]    | root of the i-th perfect subtree, largest first;
 *                | count = popcount(size), the subtree sizes being the set
 *                | bits of size from high to low
 *
 * Ownership: _new and _restore allocate a range that the caller frees with
 * kta_compact_range_free (NULL is fine). kta_compact_range_hashes returns a
 * pointer borrowed from the range, valid until the next append or free.
 * A range is not thread-safe.
 */
#ifndef KTAUDIT_COMPACT_H
#define KTAUDIT_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/hash.h"

struct kta_compact_range; /* opaque */

/* Allocates an empty range (size 0) into *out. KTA_ERR_NOMEM on failure. */
KTA_API enum kta_status kta_compact_range_new(struct kta_compact_range **out,
					      struct kta_error *err);

/*
 * Allocates a range from saved state (see the table above). n must equal
 * popcount(size); otherwise KTA_ERR_MALFORMED. The hashes are copied.
 */
KTA_API enum kta_status kta_compact_range_restore(uint64_t size, const uint8_t (*hashes)[32],
						  size_t n, struct kta_compact_range **out,
						  struct kta_error *err);

/* Frees cr; NULL does nothing. */
KTA_API void kta_compact_range_free(struct kta_compact_range *cr);

/* The number of leaves in the range. */
KTA_API uint64_t kta_compact_range_size(const struct kta_compact_range *cr);

/*
 * Appends one leaf hash: amortised O(1) hashes, no allocation.
 * KTA_ERR_LIMIT when size is already UINT64_MAX; KTA_ERR_INTERNAL if the
 * hasher failed (the range is then left unchanged).
 */
KTA_API enum kta_status kta_compact_range_append(struct kta_compact_range *cr, struct kta_hasher *h,
						 const uint8_t leaf_hash[static 32],
						 struct kta_error *err);

/*
 * root = MTH of the leaves appended so far (SHA-256("") when empty).
 * KTA_ERR_INTERNAL if the hasher failed.
 */
KTA_API enum kta_status kta_compact_range_root(const struct kta_compact_range *cr,
					       struct kta_hasher *h, uint8_t root[static 32],
					       struct kta_error *err);

/*
 * The saved state: sets *n = popcount(size) and returns the hashes, largest
 * subtree first (borrowed; valid until the next append or free). May return
 * NULL when *n is 0.
 */
KTA_API const uint8_t (*kta_compact_range_hashes(const struct kta_compact_range *cr,
						 size_t *n))[32];

#endif
