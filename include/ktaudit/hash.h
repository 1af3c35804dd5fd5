/*
 * ktaudit: SHA-256 and the RFC 9162 section 2.1 Merkle hashes (pure, no I/O).
 *
 *   hash                   | bytes hashed
 *   -----------------------+-------------------------------
 *   kta_sha256(d)          | d
 *   kta_hash_leaf(d)       | 0x00 || d          (RFC 9162 2.1.1)
 *   kta_hash_node(l, r)    | 0x01 || l || r     (l, r: 32 bytes each)
 *   kta_hash_empty()       | "" (the root of the empty tree, MTH({}))
 *
 * Ownership: kta_hasher_new allocates a hasher that the caller frees with
 * kta_hasher_free (NULL is fine). No hash allocates. Where the CPU has the
 * x86 SHA extensions the hasher compresses with them (and two messages at a
 * time in the batch calls); elsewhere with OpenSSL's SHA-256. The results
 * are the same (tests/unit/test_hash.c compares both with OpenSSL).
 *
 * A hasher is not thread-safe: use one per thread.
 *
 * Failure model: the hashing calls return void because they are the hot path.
 * If an OpenSSL call fails, the hasher sets a sticky failure flag and writes
 * 32 zero bytes. Every function that produces a result from hashes checks
 * kta_hasher_failed() before reporting success and returns KTA_ERR_INTERNAL
 * instead (a failed hash must never make a proof verify or a root appear).
 */
#ifndef KTAUDIT_HASH_H
#define KTAUDIT_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

#define KTA_HASH_SIZE 32

struct kta_hasher; /* opaque */

/*
 * Allocates a hasher into *out (set only on success). KTA_ERR_NOMEM or
 * KTA_ERR_INTERNAL (SHA-256 unavailable from OpenSSL) on failure.
 */
KTA_API enum kta_status kta_hasher_new(struct kta_hasher **out, struct kta_error *err);

/* Frees h; NULL does nothing. */
KTA_API void kta_hasher_free(struct kta_hasher *h);

/* out = SHA-256(data[0..len)). data may be NULL when len is 0. */
KTA_API void kta_sha256(struct kta_hasher *h, const uint8_t *data, size_t len,
			uint8_t out[static 32]);

/* out = SHA-256(0x00 || data): the leaf hash (RFC 9162 2.1.1). */
KTA_API void kta_hash_leaf(struct kta_hasher *h, const uint8_t *data, size_t len,
			   uint8_t out[static 32]);

/* out = SHA-256(0x01 || left || right): an interior node. out may alias left or right. */
KTA_API void kta_hash_node(struct kta_hasher *h, const uint8_t left[static 32],
			   const uint8_t right[static 32], uint8_t out[static 32]);

/*
 * Batches (what a bundle of leaves and the levels above it need):
 * out[i] = kta_hash_leaf(data[i], len[i]) for i < n; out must not overlap
 * any data[i].
 */
KTA_API void kta_hash_leaves(struct kta_hasher *h, const uint8_t *const *data, const size_t *len,
			     size_t n, uint8_t (*out)[32]);

/* out[i] = kta_hash_node(in[2i], in[2i + 1]) for i < n: one level of a tree
 * of 2n hashes. out may be in (the level folded in place), no other overlap. */
KTA_API void kta_hash_nodes(struct kta_hasher *h, const uint8_t (*in)[32], size_t n,
			    uint8_t (*out)[32]);

/* out = SHA-256("") = e3b0c442...b855: the root of the empty tree (a constant). */
KTA_API void kta_hash_empty(uint8_t out[static 32]);

/* 1 if any OpenSSL call made by h has ever failed (sticky), else 0. */
KTA_API int kta_hasher_failed(const struct kta_hasher *h);

#endif
