/*
 * ktaudit: C2SP tlog-tiles paths, tile math, hash tiles and entry bundles
 * (pure, no I/O).
 *
 * Spec: https://c2sp.org/tlog-tiles ("Merkle Tree", "Partial Tiles", "Log
 * entries"). A tile holds 256 consecutive Merkle tree hashes at tree height
 * 8*L (L = the tile level): tile n at level L is, for i in 0..255,
 *
 *     MTH(D[(n*256 + i) * 256**L : (n*256 + i + 1) * 256**L])
 *
 * The rightmost tile of a level may be partial: for a tree of size s the
 * partial tile of level L has floor(s / 256**L) mod 256 hashes (none when
 * that is 0). An entry bundle holds the entries whose leaf hashes make the
 * level-0 tile of the same index and width.
 *
 * Paths (relative to the log prefix, no leading '/'):
 *
 *   object          | path
 *   ----------------+-------------------------------------------
 *   hash tile       | tile/<L>/<N>            (full, 256 hashes)
 *                   | tile/<L>/<N>.p/<W>      (partial, W hashes)
 *   entry bundle    | tile/entries/<N>[.p/<W>]
 *
 *   <L>  decimal 0..63, no leading zeros
 *   <N>  the index in zero-padded 3-digit groups, all but the last prefixed
 *        with 'x', no all-zero leading group: 0 -> "000", 1234067 ->
 *        "x001/x234/067"
 *   <W>  decimal 1..255, no leading zeros; a full tile has no ".p/<W>"
 *
 * In this API a width of 256 (KTA_TILE_WIDTH) means "full", 1..255 partial,
 * and the level KTA_TILE_ENTRIES (-1) names the entry bundle.
 *
 * Byte formats:
 *
 *   hash tile     | width * 32 bytes: the hashes, in order, nothing else
 *   entry bundle  | width times: uint16 big-endian length n || n bytes
 *                 | nothing after the last entry
 *
 * Entries may be empty (length 0): the spec does not forbid it and RFC 6962
 * trees may contain an empty leaf. Higher layers (the keydir entry parser)
 * reject empty entries where their format requires content.
 *
 * Ownership: nothing here allocates. Parsers return pointers that BORROW
 * from the caller's buffer, which must outlive them; encoders write to the
 * caller's buffer.
 */
#ifndef KTAUDIT_TILE_H
#define KTAUDIT_TILE_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

#define KTA_TILE_HEIGHT 8        /* tree levels spanned by one tile */
#define KTA_TILE_WIDTH 256       /* hashes in a full tile, entries in a full bundle */
#define KTA_TILE_MAX_LEVEL 63    /* largest <L> the spec allows */
#define KTA_TILE_ENTRIES (-1)    /* level value naming an entry bundle */
#define KTA_TILE_HASH_SIZE 32    /* SHA-256 */
#define KTA_TILE_ENTRY_MAX 65535 /* uint16 length prefix */
/* Largest full hash tile and largest possible entry bundle, in bytes. */
#define KTA_TILE_HASHES_MAX (KTA_TILE_WIDTH * KTA_TILE_HASH_SIZE)
#define KTA_TILE_BUNDLE_MAX ((size_t)KTA_TILE_WIDTH * (2 + KTA_TILE_ENTRY_MAX))
/* Buffer size that holds any tile path with its NUL ("tile/entries/" + 7
 * index groups + ".p/255" is 52 characters). */
#define KTA_TILE_PATH_MAX 64

/* One tile or entry bundle. */
struct kta_tile {
	int level;      /* 0..KTA_TILE_MAX_LEVEL, or KTA_TILE_ENTRIES */
	uint64_t index; /* <N> */
	unsigned width; /* 1..255 partial, KTA_TILE_WIDTH = full */
};

/* One entry of a bundle: borrowed from the bundle's buffer. */
struct kta_tile_entry {
	const uint8_t *data; /* never NULL, even when len is 0 */
	size_t len;          /* 0..KTA_TILE_ENTRY_MAX */
};

/* A validated entry bundle; see kta_tile_parse_bundle. Borrowed. */
struct kta_tile_bundle {
	const uint8_t *data; /* the whole bundle */
	size_t len;
	unsigned count; /* number of entries (= the expected width) */
};

/* Walks a validated bundle; see kta_tile_bundle_iter_init. */
struct kta_tile_bundle_iter {
	const uint8_t *pos; /* next length prefix */
	const uint8_t *end; /* one past the bundle */
	unsigned left;      /* entries not yet returned */
};

/* ---- paths ---- */

/*
 * Writes the path of tile (level, index, width) into out (capacity cap,
 * NUL-terminated; KTA_TILE_PATH_MAX always suffices). level
 * KTA_TILE_ENTRIES gives "tile/entries/...". KTA_ERR_USAGE for a level
 * outside -1..63 or a width outside 1..256, KTA_ERR_LIMIT when cap is too
 * small (out is then "").
 */
KTA_API enum kta_status kta_tile_path(int level, uint64_t index, unsigned width, char *out,
				      size_t cap, struct kta_error *err);

/* kta_tile_path(KTA_TILE_ENTRIES, index, width, ...). */
KTA_API enum kta_status kta_tile_entries_path(uint64_t index, unsigned width, char *out, size_t cap,
					      struct kta_error *err);

/*
 * Parses a path of the form above (exactly; no prefix, no leading or
 * trailing '/', no query) into *out. Only the canonical spelling is
 * accepted: the one kta_tile_path writes. KTA_ERR_MALFORMED otherwise, with
 * the offending component quoted.
 */
KTA_API enum kta_status kta_tile_path_parse(const char *path, size_t len, struct kta_tile *out,
					    struct kta_error *err) KTA_WUR;

/* ---- tile math (levels 0..63; KTA_TILE_ENTRIES counts as level 0) ---- */

/* Number of full tiles at `level` in a tree of `size` leaves. */
KTA_API uint64_t kta_tile_full_count(int level, uint64_t size);

/* Width of the partial tile at `level` for `size` leaves: 1..255, or 0 when
 * that level has no partial tile. */
KTA_API unsigned kta_tile_partial_width(int level, uint64_t size);

/*
 * The width of tile (level, index) as the log serves it for a checkpoint of
 * `size` leaves: KTA_TILE_WIDTH for a full tile, 1..255 for the partial
 * one. KTA_ERR_USAGE when the tree has no such tile.
 */
KTA_API enum kta_status kta_tile_width(int level, uint64_t index, uint64_t size, unsigned *width,
				       struct kta_error *err);

/*
 * Locates the Merkle tree node at `height` (0 = leaf hashes) and `node`
 * index (it spans leaves [node << height, (node + 1) << height)), which must
 * be a complete subtree of the tree of `size` leaves. Sets *tile to the hash
 * tile (level height / 8, width as served for `size`) and [*first, *first +
 * *count) to the hashes of that tile whose MTH is the node; *count is
 * 2**(height mod 8), 1 when the node is itself a tile hash. KTA_ERR_USAGE
 * when height > 63 or the node is not complete in `size`.
 */
KTA_API enum kta_status kta_tile_for_node(unsigned height, uint64_t node, uint64_t size,
					  struct kta_tile *tile, unsigned *first, unsigned *count,
					  struct kta_error *err);

/*
 * The entry bundle holding entry `index` of a tree of `size` leaves (level
 * KTA_TILE_ENTRIES, width as served for `size`) and the entry's position in
 * it. KTA_ERR_USAGE when index >= size.
 */
KTA_API enum kta_status kta_tile_for_entry(uint64_t index, uint64_t size, struct kta_tile *tile,
					   unsigned *pos, struct kta_error *err);

/* ---- hash tiles ---- */

/*
 * Checks that (data, len) is a hash tile of `width` hashes (exactly width *
 * 32 bytes) and sets *hashes to data viewed as an array of 32-byte hashes
 * (borrowed). KTA_ERR_MALFORMED on a wrong length, KTA_ERR_USAGE on a bad
 * width.
 */
KTA_API enum kta_status kta_tile_parse_hashes(const uint8_t *data, size_t len, unsigned width,
					      const uint8_t (**hashes)[32],
					      struct kta_error *err) KTA_WUR;

/*
 * Writes n hashes (1..256) as a hash tile into out (capacity cap) and sets
 * *out_len = n * 32. KTA_ERR_USAGE for a bad n, KTA_ERR_LIMIT if cap is
 * too small.
 */
KTA_API enum kta_status kta_tile_encode_hashes(const uint8_t (*hashes)[32], unsigned n,
					       uint8_t *out, size_t cap, size_t *out_len,
					       struct kta_error *err);

/* ---- entry bundles ---- */

/*
 * Validates (data, len) as an entry bundle of exactly `width` entries
 * (1..256) and fills *out (borrowing data). Rejects, with
 * KTA_ERR_MALFORMED and the entry number and byte offset: a truncated
 * length prefix, an entry running past the end, fewer entries than width,
 * and any byte after entry number width (trailing data or extra entries).
 * KTA_ERR_USAGE on a bad width.
 */
KTA_API enum kta_status kta_tile_parse_bundle(const uint8_t *data, size_t len, unsigned width,
					      struct kta_tile_bundle *out,
					      struct kta_error *err) KTA_WUR;

/* Starts a walk over a bundle that kta_tile_parse_bundle accepted. */
KTA_API void kta_tile_bundle_iter_init(struct kta_tile_bundle_iter *it,
				       const struct kta_tile_bundle *b);

/*
 * Sets *e to the next entry (borrowed) and returns 1, or returns 0 after
 * the last one. Bounds are re-checked, so a misused iterator stops rather
 * than reading out of bounds.
 */
KTA_API int kta_tile_bundle_next(struct kta_tile_bundle_iter *it, struct kta_tile_entry *e);

/*
 * Appends one length-prefixed entry to the bundle being built in
 * out[0..cap), whose first *used bytes are taken; advances *used.
 * KTA_ERR_LIMIT when elen > KTA_TILE_ENTRY_MAX or the entry does not fit
 * (out and *used are then unchanged).
 */
KTA_API enum kta_status kta_tile_bundle_append(uint8_t *out, size_t cap, size_t *used,
					       const uint8_t *entry, size_t elen,
					       struct kta_error *err);

/*
 * Encodes n entries (1..256) as a bundle into out (capacity cap) and sets
 * *out_len. KTA_ERR_USAGE for a bad n, KTA_ERR_LIMIT for an entry over
 * KTA_TILE_ENTRY_MAX or a too small cap.
 */
KTA_API enum kta_status kta_tile_encode_bundle(const struct kta_tile_entry *entries, unsigned n,
					       uint8_t *out, size_t cap, size_t *out_len,
					       struct kta_error *err);

#endif
