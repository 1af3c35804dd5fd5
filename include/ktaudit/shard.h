/*
 * ktaudit: label shards (pure, no I/O). One auditor may split a key
 * directory's labels over N processes or machines (docs/scale.md
 * "Sharding"): every shard verifies the whole log, and replays only the
 * entries whose label falls in it. A label's shard is
 *
 *   shard(label, N) = BE64(SHA-256(label)[0..8)) mod N
 *
 * (label: its UTF-8 bytes, no terminator), so every version of a label lands
 * in the same shard and anyone can compute it, e.g. in Python:
 * int.from_bytes(hashlib.sha256(label).digest()[:8], "big") % N.
 *
 * A shard is written "K/N": K the shard, N the number of shards, canonical
 * decimals, 0 <= K < N, 2 <= N <= KTA_SHARD_MAX.
 *
 * Ownership: nothing here allocates for the caller.
 */
#ifndef KTAUDIT_SHARD_H
#define KTAUDIT_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

/* Most shards of one log: far more than one directory needs (docs/scale.md:
 * 16 shards hold a 1e9-label index in memory). */
#define KTA_SHARD_MAX 4096u
/* Longest "K/N" text. */
#define KTA_SHARD_TEXT_MAX 16

/* The shard of a label whose SHA-256 is h, among n >= 1 shards. */
KTA_API uint32_t kta_shard_from_hash(const uint8_t h[static 32], uint32_t n);

/*
 * The shard of label (len bytes) among n >= 1 shards, hashed with h: for
 * many labels (the replay). A failed hash leaves h failed (hash.h): check
 * kta_hasher_failed before trusting the result.
 */
struct kta_hasher;
KTA_API uint32_t kta_shard_label(struct kta_hasher *h, const uint8_t *label, size_t len,
				 uint32_t n);

/*
 * *out = the shard of label (len bytes) among n shards, 1 <= n <=
 * KTA_SHARD_MAX. KTA_ERR_USAGE for a bad n, KTA_ERR_NOMEM or
 * KTA_ERR_INTERNAL if SHA-256 fails.
 */
KTA_API enum kta_status kta_shard_of(const char *label, size_t len, uint32_t n, uint32_t *out,
				     struct kta_error *err) KTA_WUR;

/*
 * Parses "K/N" (len bytes of s) into *k and *n. KTA_ERR_MALFORMED quoting the
 * text and saying which part is wrong.
 */
KTA_API enum kta_status kta_shard_parse(const char *s, size_t len, uint32_t *k, uint32_t *n,
					struct kta_error *err) KTA_WUR;

#endif
