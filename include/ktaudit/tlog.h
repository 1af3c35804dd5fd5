/*
 * ktaudit: a client for a C2SP tlog-tiles log (I/O through a struct
 * kta_fetcher; https://, http:// and file:// base URLs).
 *
 * Spec: https://c2sp.org/tlog-tiles. Relative to the base URL (which always
 * ends in '/'), a log serves:
 *
 *   object        | path                          | bytes
 *   --------------+-------------------------------+------------------------------
 *   checkpoint    | checkpoint                    | signed note, at most
 *                 |                               | KTA_TLOG_CHECKPOINT_MAX
 *   hash tile     | tile/<L>/<N>[.p/<W>]          | W * 32 (W = 256 when full)
 *   entry bundle  | tile/entries/<N>[.p/<W>]      | W x (uint16 BE length || entry)
 *
 * (tile.h has the path and byte formats; this module fetches and checks them.)
 *
 * Trust model. Nothing fetched is trusted until it is tied to a signed root:
 *   1. The checkpoint is verified under the caller's policy
 *      (kta_tlog_fetch_checkpoint); the caller then selects that tree with
 *      kta_tlog_set_tree. Every other call works in the selected tree.
 *   2. The hash reader authenticates every hash tile before any hash of it
 *      is used, the way golang.org/x/mod/sumdb/tlog's TileHashReader does:
 *      - the "edge" tiles (the partial tile of each level, which together
 *        hold the roots of the perfect subtrees that make up the tree, one
 *        per set bit of the size) are fetched together and the root is
 *        recomputed from them; it must equal the signed root;
 *      - a full tile at level L, index N is authenticated by its parent: the
 *        Merkle tree hash of its 256 hashes must equal hash N mod 256 of
 *        the (already authenticated) tile N / 256 at level L + 1.
 *      A tile that does not lead to the signed root is KTA_ERR_VERIFY naming
 *      the tile's URL. Authenticated full tiles are kept in a bounded LRU
 *      cache (opts.cache_tiles); the cache is dropped when the tree changes.
 *   3. Entry bundles are authenticated against the hash reader before any
 *      entry reaches the caller's callback (kta_tlog_entries), unless the
 *      caller opts out (KTA_TLOG_UNAUTHENTICATED) and checks the recomputed
 *      root itself.
 *
 * Partial tiles (tlog-tiles "Partial Tiles"): the log may delete a partial
 * tile once the full tile exists. When tile .p/W (hash tile or bundle) is
 * not found (HTTP 404/410, missing file), the full tile is fetched instead
 * and only its first W hashes or entries are used: they are the same by the
 * append-only property, and they are authenticated like any other.
 *
 * Parallelism: all tiles one call needs are fetched in one kta_fetch_many
 * round; entry iteration fetches opts.prefetch bundles per round. Memory is
 * bounded: O(prefetch bundles) + the tile cache + O(log size).
 *
 * Status codes: KTA_ERR_VERIFY (a tile, bundle or checkpoint does not match
 * the signed tree or policy; the message names the URL and entry range),
 * KTA_ERR_MALFORMED (a tile or bundle does not parse: wrong length,
 * truncated entry; names the URL), KTA_ERR_LIMIT (an object over its size
 * limit), KTA_ERR_IO (could not fetch; names the URL), KTA_ERR_USAGE (bad
 * base URL, no tree selected, index out of range), KTA_ERR_NOMEM,
 * KTA_ERR_INTERNAL.
 *
 * Ownership: kta_tlog_new allocates the client; kta_tlog_free frees it. The
 * fetcher is BORROWED and must outlive the client; the fetcher's max_size
 * should be at least KTA_TILE_BUNDLE_MAX so that any bundle can be fetched.
 * Outputs are the caller's buffers unless a function says it allocates.
 * A client is not thread-safe (neither is its fetcher).
 */
#ifndef KTAUDIT_TLOG_H
#define KTAUDIT_TLOG_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/compact.h"
#include "ktaudit/error.h"
#include "ktaudit/fetch.h"

/* Largest checkpoint accepted from a log, in bytes. */
#define KTA_TLOG_CHECKPOINT_MAX (64 * 1024)
/* Longest base URL accepted, in bytes. */
#define KTA_TLOG_URL_MAX 2048
/* Default and largest number of authenticated full tiles kept (8 KiB each). */
#define KTA_TLOG_DEFAULT_CACHE 64u
#define KTA_TLOG_MAX_CACHE 4096u
/* Default and largest number of entry bundles fetched per round. */
#define KTA_TLOG_DEFAULT_PREFETCH 4u
#define KTA_TLOG_MAX_PREFETCH 64u
/* Most node hashes one kta_tlog_read_hashes call may ask for. */
#define KTA_TLOG_MAX_NODES 8192u

/* kta_tlog_entries flag: do not authenticate bundles against the tiles. */
#define KTA_TLOG_UNAUTHENTICATED 1u

struct kta_tlog; /* opaque */

struct kta_tlog_opts {
	size_t cache_tiles; /* authenticated full tiles kept, 1..KTA_TLOG_MAX_CACHE */
	unsigned prefetch;  /* bundles fetched in parallel, 1..KTA_TLOG_MAX_PREFETCH */
};

/* A Merkle tree node: it spans leaves [index << height, (index + 1) << height). */
struct kta_tlog_node {
	unsigned height; /* 0 = a leaf hash; at most 63 */
	uint64_t index;
};

/* What kta_tlog_audit checked. */
struct kta_tlog_audit {
	uint64_t entries; /* entries read and hashed (= the tree size) */
	uint64_t bundles; /* entry bundles fetched */
	uint64_t tiles;   /* hash tiles fetched and compared */
};

/* Fills *opts with the defaults. */
KTA_API void kta_tlog_opts_init(struct kta_tlog_opts *opts);

/*
 * Creates a client for the log at base_url (https://, http:// or file://;
 * a missing trailing '/' is added; no query or fragment; at most
 * KTA_TLOG_URL_MAX bytes of printable ASCII). f is borrowed. opts may be
 * NULL (defaults). Errors: KTA_ERR_USAGE, KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_tlog_new(struct kta_fetcher *f, const char *base_url,
				     const struct kta_tlog_opts *opts, struct kta_tlog **out,
				     struct kta_error *err) KTA_WUR;

/* Frees c (not its fetcher); NULL does nothing. */
KTA_API void kta_tlog_free(struct kta_tlog *c);

/* The base URL, ending in '/' (borrowed from c). */
KTA_API const char *kta_tlog_url(const struct kta_tlog *c);

/*
 * Fetches <base>/checkpoint and verifies it under policy p
 * (kta_checkpoint_verify). On KTA_OK *res is filled (the caller frees it
 * with kta_checkpoint_result_free) and, when note is not NULL, *note is the
 * raw signed note (malloc'd, NUL-terminated beyond *note_len; caller frees),
 * e.g. for evidence. Does not select the tree: call kta_tlog_set_tree.
 */
KTA_API enum kta_status kta_tlog_fetch_checkpoint(struct kta_tlog *c,
						  const struct kta_checkpoint_policy *p,
						  struct kta_checkpoint_result *res, uint8_t **note,
						  size_t *note_len, struct kta_error *err) KTA_WUR;

/*
 * Selects the tree (size, root) that later calls read from; root must come
 * from a verified checkpoint. Selecting another tree drops every
 * authenticated tile.
 */
KTA_API void kta_tlog_set_tree(struct kta_tlog *c, uint64_t size, const uint8_t root[static 32]);

/*
 * Reads the hashes of nodes[0..n) of the selected tree into out[0..n),
 * fetching and authenticating the tiles needed (one parallel round). Every
 * node must be a complete subtree of the tree (KTA_ERR_USAGE otherwise);
 * n <= KTA_TLOG_MAX_NODES. n = 0 does nothing.
 */
KTA_API enum kta_status kta_tlog_read_hashes(struct kta_tlog *c, const struct kta_tlog_node *nodes,
					     size_t n, uint8_t (*out)[32],
					     struct kta_error *err) KTA_WUR;

/*
 * Computes PATH(index, D[size]) (RFC 9162 2.1.3.1) of the selected tree from
 * its tiles into proof (capacity cap hashes; KTA_MERKLE_MAX_PROOF always
 * suffices) and sets *len. The caller verifies it with
 * kta_merkle_verify_inclusion. KTA_ERR_USAGE if index >= size.
 */
KTA_API enum kta_status kta_tlog_inclusion_proof(struct kta_tlog *c, uint64_t index,
						 uint8_t (*proof)[32], size_t cap, size_t *len,
						 struct kta_error *err) KTA_WUR;

/*
 * Computes PROOF(old_size, D[size]) (RFC 9162 2.1.4.1) between old_size and
 * the selected tree (empty when old_size is 0 or the tree size). The caller
 * verifies it with kta_merkle_verify_consistency. KTA_ERR_USAGE if old_size
 * > size.
 */
KTA_API enum kta_status kta_tlog_consistency_proof(struct kta_tlog *c, uint64_t old_size,
						   uint8_t (*proof)[32], size_t cap, size_t *len,
						   struct kta_error *err) KTA_WUR;

/*
 * Builds the compact range of leaves [0, size) of the selected tree (size
 * <= the tree size) from authenticated tiles, e.g. to start a replay at
 * `size` without the entries before it. *out is new (kta_compact_range_free).
 */
KTA_API enum kta_status kta_tlog_compact_range(struct kta_tlog *c, uint64_t size,
					       struct kta_compact_range **out,
					       struct kta_error *err) KTA_WUR;

/*
 * Replays entries [start, end) of the selected tree (start <= end <= size):
 * fetches their bundles (opts.prefetch per round), checks that each bundle
 * parses, and hands every entry in the range to fn in index order, with its
 * RFC 9162 leaf hash (32 bytes, computed once here, so that callers never
 * hash a leaf again). `entry` and `leaf_hash` borrow from the client and are
 * valid only during the call. A status other
 * than KTA_OK from fn stops the replay and is returned (with fn's message).
 *
 * Unless flags has KTA_TLOG_UNAUTHENTICATED, each bundle is authenticated
 * before fn sees any of its entries: the Merkle tree hashes of its leaf
 * hashes must equal the authenticated tile hashes of the same subtrees
 * (KTA_ERR_VERIFY naming the bundle URL and its entry range otherwise).
 *
 * cr, when not NULL, must hold leaves [0, start) (KTA_ERR_USAGE otherwise):
 * the leaf hash of each entry is appended after fn accepted it, so on any
 * error cr holds exactly the entries delivered. When end is the tree size,
 * the root of cr must then equal the signed root (KTA_ERR_VERIFY "entries
 * ... do not hash to the signed root"). With KTA_TLOG_UNAUTHENTICATED, cr
 * and end = size are required (KTA_ERR_USAGE otherwise), so that the final
 * root check is made; fn then sees entries before they are verified and
 * must be able to roll back.
 */
KTA_API enum kta_status
kta_tlog_entries(struct kta_tlog *c, uint64_t start, uint64_t end, struct kta_compact_range *cr,
		 unsigned flags,
		 enum kta_status (*fn)(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				       const uint8_t *leaf_hash, struct kta_error *err),
		 void *ctx, struct kta_error *err) KTA_WUR;

/*
 * Audits the whole selected tree from scratch: fetches every entry bundle
 * and every hash tile the tree has (full and partial, every level),
 * recomputes all tile hashes from the entries and compares them with the
 * served tiles, and recomputes the root with a compact range.
 *   - the entries do not hash to the signed root: KTA_ERR_VERIFY, naming
 *     the first entry whose leaf hash differs from its level-0 tile, if any;
 *   - they do, but a served hash tile differs from what the entries give:
 *     KTA_ERR_VERIFY naming the first such tile, hash and entry range;
 *   - a bundle or tile does not parse: KTA_ERR_MALFORMED naming its URL.
 * fn (may be NULL) sees every entry in order BEFORE the root is checked:
 * treat them as unverified until the call returns KTA_OK. *res (may be NULL)
 * is filled on KTA_OK.
 */
KTA_API enum kta_status
kta_tlog_audit(struct kta_tlog *c,
	       enum kta_status (*fn)(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				     const uint8_t *leaf_hash, struct kta_error *err),
	       void *ctx, struct kta_tlog_audit *res, struct kta_error *err) KTA_WUR;

#endif
