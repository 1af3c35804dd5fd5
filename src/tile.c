/* C2SP tlog-tiles paths, tile math and formats. See ktaudit/tile.h. */
#include "ktaudit/tile.h"

#include <stdio.h>
#include <string.h>

#include "ktaudit/encoding.h"

/* 7 groups of 3 digits hold any uint64_t (20 digits). */
#define INDEX_GROUPS_MAX 7

/* x >> s without undefined behaviour for s >= 64. */
static uint64_t shr(uint64_t x, unsigned s)
{
	return s >= 64 ? 0 : x >> s;
}

/* The tree height of a tile level's hashes; entry bundles count as level 0. */
static unsigned level_shift(int level)
{
	return level <= 0 ? 0u : (unsigned)level * KTA_TILE_HEIGHT;
}

static int level_ok(int level)
{
	return level >= KTA_TILE_ENTRIES && level <= KTA_TILE_MAX_LEVEL;
}

static int width_ok(unsigned width)
{
	return width >= 1 && width <= KTA_TILE_WIDTH;
}

enum kta_status kta_tile_path(int level, uint64_t index, unsigned width, char *out, size_t cap,
			      struct kta_error *err)
{
	char buf[KTA_TILE_PATH_MAX];
	unsigned groups[INDEX_GROUPS_MAX];
	size_t ng = 0, n = 0, i;
	uint64_t v = index;
	int w;

	if (cap > 0)
		out[0] = '\0';
	if (!level_ok(level))
		return kta_error_set(err, KTA_ERR_USAGE, "tile level %d is outside -1..%d", level,
				     KTA_TILE_MAX_LEVEL);
	if (!width_ok(width))
		return kta_error_set(err, KTA_ERR_USAGE, "tile width %u is outside 1..%d", width,
				     KTA_TILE_WIDTH);
	do {
		groups[ng++] = (unsigned)(v % 1000);
		v /= 1000;
	} while (v > 0);
	if (level == KTA_TILE_ENTRIES)
		w = snprintf(buf, sizeof(buf), "tile/entries/");
	else
		w = snprintf(buf, sizeof(buf), "tile/%d/", level);
	n = (size_t)w;
	/* tlog-tiles "Merkle Tree": all but the last group start with 'x'. */
	for (i = ng; i > 0; i--) {
		w = snprintf(buf + n, sizeof(buf) - n, i > 1 ? "x%03u/" : "%03u", groups[i - 1]);
		n += (size_t)w;
	}
	if (width < KTA_TILE_WIDTH) {
		w = snprintf(buf + n, sizeof(buf) - n, ".p/%u", width);
		n += (size_t)w;
	}
	if (n + 1 > cap)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "tile path %s needs %zu bytes, buffer has %zu", buf, n + 1,
				     cap);
	memcpy(out, buf, n + 1);
	return KTA_OK;
}

enum kta_status kta_tile_entries_path(uint64_t index, unsigned width, char *out, size_t cap,
				      struct kta_error *err)
{
	return kta_tile_path(KTA_TILE_ENTRIES, index, width, out, cap, err);
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Parses a canonical decimal of 1..3 digits at path[*pos..len) up to the
 * next '/' or '.' or the end; returns -1 when malformed.
 */
static int small_decimal(const char *path, size_t len, size_t *pos)
{
	size_t i = *pos;
	int v = 0;

	while (i < len && is_digit(path[i]) && i - *pos < 3) {
		v = v * 10 + (path[i] - '0');
		i++;
	}
	if (i == *pos || (i < len && path[i] != '/' && path[i] != '.'))
		return -1;
	if (path[*pos] == '0' && i - *pos > 1)
		return -1; /* leading zero */
	*pos = i;
	return v;
}

enum kta_status kta_tile_path_parse(const char *path, size_t len, struct kta_tile *out,
				    struct kta_error *err)
{
	char q[4 * 80 + 4], canon[KTA_TILE_PATH_MAX];
	struct kta_tile t;
	size_t pos = 5, ngroups = 0;
	uint64_t index = 0;
	int v;

	if (len < 5 || memcmp(path, "tile/", 5) != 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "tile path \"%s\" does not start with "
				     "\"tile/\"",
				     kta_quote((const uint8_t *)path, len, 80, q));
	if (len - pos >= 8 && memcmp(path + pos, "entries/", 8) == 0) {
		t.level = KTA_TILE_ENTRIES;
		pos += 8;
	} else {
		v = small_decimal(path, len, &pos);
		if (v < 0 || v > KTA_TILE_MAX_LEVEL || pos >= len || path[pos] != '/')
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "tile path \"%s\": level is not a decimal 0..%d "
					     "without leading zeros",
					     kta_quote((const uint8_t *)path, len, 80, q),
					     KTA_TILE_MAX_LEVEL);
		t.level = v;
		pos++;
	}
	/* <N>: "xDDD/" groups, then a final "DDD". */
	for (;;) {
		int more = pos < len && path[pos] == 'x';
		unsigned g = 0;
		size_t k;

		if (more)
			pos++;
		if (len - pos < 3)
			goto bad_index;
		for (k = 0; k < 3; k++) {
			if (!is_digit(path[pos + k]))
				goto bad_index;
			g = g * 10 + (unsigned)(path[pos + k] - '0');
		}
		pos += 3;
		if (++ngroups > INDEX_GROUPS_MAX)
			goto bad_index;
		/* A leading all-zero group is a second spelling of the same index. */
		if (ngroups == 1 && more && g == 0)
			goto bad_index;
		if (index > (UINT64_MAX - g) / 1000)
			goto bad_index;
		index = index * 1000 + g;
		if (!more)
			break;
		if (pos >= len || path[pos] != '/')
			goto bad_index;
		pos++;
	}
	t.index = index;
	t.width = KTA_TILE_WIDTH;
	if (pos < len) {
		if (len - pos < 4 || memcmp(path + pos, ".p/", 3) != 0)
			goto bad_index;
		pos += 3;
		v = small_decimal(path, len, &pos);
		if (v < 1 || v >= KTA_TILE_WIDTH || pos != len)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "tile path \"%s\": partial width is not a decimal "
					     "1..255 without leading zeros",
					     kta_quote((const uint8_t *)path, len, 80, q));
		t.width = (unsigned)v;
	}
	/* Belt and braces: the canonical spelling must round-trip exactly. */
	if (kta_tile_path(t.level, t.index, t.width, canon, sizeof(canon), NULL) != KTA_OK ||
	    strlen(canon) != len || memcmp(canon, path, len) != 0)
		goto bad_index;
	*out = t;
	return KTA_OK;
bad_index:
	return kta_error_set(err, KTA_ERR_MALFORMED,
			     "tile path \"%s\": index is not canonical 3-digit groups "
			     "(\"x001/x234/067\") with an optional \".p/<W>\"",
			     kta_quote((const uint8_t *)path, len, 80, q));
}

uint64_t kta_tile_full_count(int level, uint64_t size)
{
	if (!level_ok(level))
		return 0;
	return shr(size, level_shift(level) + KTA_TILE_HEIGHT);
}

unsigned kta_tile_partial_width(int level, uint64_t size)
{
	if (!level_ok(level))
		return 0;
	/* tlog-tiles "Partial Tiles": floor(s / 256**l) mod 256. */
	return (unsigned)(shr(size, level_shift(level)) % KTA_TILE_WIDTH);
}

enum kta_status kta_tile_width(int level, uint64_t index, uint64_t size, unsigned *width,
			       struct kta_error *err)
{
	uint64_t full;
	unsigned partial;

	if (!level_ok(level))
		return kta_error_set(err, KTA_ERR_USAGE, "tile level %d is outside -1..%d", level,
				     KTA_TILE_MAX_LEVEL);
	full = kta_tile_full_count(level, size);
	partial = kta_tile_partial_width(level, size);
	if (index < full) {
		*width = KTA_TILE_WIDTH;
		return KTA_OK;
	}
	if (index == full && partial > 0) {
		*width = partial;
		return KTA_OK;
	}
	return kta_error_set(err, KTA_ERR_USAGE, "a tree of size %llu has no tile %llu at level %d",
			     (unsigned long long)size, (unsigned long long)index, level);
}

enum kta_status kta_tile_for_node(unsigned height, uint64_t node, uint64_t size,
				  struct kta_tile *tile, unsigned *first, unsigned *count,
				  struct kta_error *err)
{
	struct kta_tile t;
	unsigned sub, w;
	uint64_t base;
	enum kta_status r;

	if (height > 63)
		return kta_error_set(err, KTA_ERR_USAGE, "node height %u is over 63", height);
	/* Complete iff (node + 1) << height <= size, i.e. node < size >> height. */
	if (node >= shr(size, height))
		return kta_error_set(err, KTA_ERR_USAGE,
				     "node %llu at height %u is not a complete subtree of a tree "
				     "of size %llu",
				     (unsigned long long)node, height, (unsigned long long)size);
	t.level = (int)(height / KTA_TILE_HEIGHT);
	sub = height % KTA_TILE_HEIGHT;
	/* Index of the node's first descendant at the tile's hash height; it
	 * fits: node < 2**(64 - height), so node << sub < 2**(64 - 8*level). */
	base = node << sub;
	t.index = base / KTA_TILE_WIDTH;
	r = kta_tile_width(t.level, t.index, size, &w, err);
	if (r != KTA_OK)
		return r;
	t.width = w;
	*tile = t;
	*first = (unsigned)(base % KTA_TILE_WIDTH);
	*count = 1u << sub;
	return KTA_OK;
}

enum kta_status kta_tile_for_entry(uint64_t index, uint64_t size, struct kta_tile *tile,
				   unsigned *pos, struct kta_error *err)
{
	struct kta_tile t;
	unsigned first, count;
	enum kta_status r;

	if (index >= size)
		return kta_error_set(err, KTA_ERR_USAGE, "entry %llu is not in a tree of size %llu",
				     (unsigned long long)index, (unsigned long long)size);
	r = kta_tile_for_node(0, index, size, &t, &first, &count, err);
	if (r != KTA_OK)
		return r;
	t.level = KTA_TILE_ENTRIES;
	*tile = t;
	*pos = first;
	return KTA_OK;
}

enum kta_status kta_tile_parse_hashes(const uint8_t *data, size_t len, unsigned width,
				      const uint8_t (**hashes)[32], struct kta_error *err)
{
	size_t want;

	if (!width_ok(width))
		return kta_error_set(err, KTA_ERR_USAGE, "tile width %u is outside 1..%d", width,
				     KTA_TILE_WIDTH);
	want = (size_t)width * KTA_TILE_HASH_SIZE;
	if (len != want)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "hash tile of width %u has %zu bytes, expected %zu", width,
				     len, want);
	*hashes = (const uint8_t(*)[32])(const void *)data;
	return KTA_OK;
}

enum kta_status kta_tile_encode_hashes(const uint8_t (*hashes)[32], unsigned n, uint8_t *out,
				       size_t cap, size_t *out_len, struct kta_error *err)
{
	size_t need;

	if (!width_ok(n))
		return kta_error_set(err, KTA_ERR_USAGE, "hash tile of %u hashes: must be 1..%d", n,
				     KTA_TILE_WIDTH);
	need = (size_t)n * KTA_TILE_HASH_SIZE;
	if (need > cap)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "hash tile needs %zu bytes, buffer has %zu", need, cap);
	memcpy(out, hashes, need);
	*out_len = need;
	return KTA_OK;
}

enum kta_status kta_tile_parse_bundle(const uint8_t *data, size_t len, unsigned width,
				      struct kta_tile_bundle *out, struct kta_error *err)
{
	size_t off = 0;
	unsigned i;

	if (!width_ok(width))
		return kta_error_set(err, KTA_ERR_USAGE, "bundle width %u is outside 1..%d", width,
				     KTA_TILE_WIDTH);
	/* tlog-tiles "Log entries": big-endian uint16 length-prefixed entries. */
	for (i = 0; i < width; i++) {
		size_t n;

		if (off == len)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "entry bundle ends after %u entries at offset %zu, "
					     "expected %u",
					     i, off, width);
		if (len - off < 2)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "entry bundle: entry %u at offset %zu: length prefix "
					     "truncated (1 byte left)",
					     i, off);
		n = (size_t)data[off] << 8 | data[off + 1];
		if (len - off - 2 < n)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "entry bundle: entry %u at offset %zu declares %zu "
					     "bytes, only %zu left",
					     i, off, n, len - off - 2);
		off += 2 + n;
	}
	if (off != len)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "entry bundle: %zu trailing bytes at offset %zu after the %u "
				     "expected entries",
				     len - off, off, width);
	out->data = data;
	out->len = len;
	out->count = width;
	return KTA_OK;
}

void kta_tile_bundle_iter_init(struct kta_tile_bundle_iter *it, const struct kta_tile_bundle *b)
{
	it->pos = b->data;
	it->end = b->data + b->len;
	it->left = b->count;
}

int kta_tile_bundle_next(struct kta_tile_bundle_iter *it, struct kta_tile_entry *e)
{
	size_t avail, n;

	if (it->left == 0)
		return 0;
	avail = (size_t)(it->end - it->pos);
	if (avail < 2)
		goto stop;
	n = (size_t)it->pos[0] << 8 | it->pos[1];
	if (avail - 2 < n)
		goto stop;
	e->data = it->pos + 2;
	e->len = n;
	it->pos += 2 + n;
	it->left--;
	return 1;
stop:
	it->left = 0;
	return 0;
}

enum kta_status kta_tile_bundle_append(uint8_t *out, size_t cap, size_t *used, const uint8_t *entry,
				       size_t elen, struct kta_error *err)
{
	size_t u = *used;

	if (elen > KTA_TILE_ENTRY_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "entry of %zu bytes exceeds the bundle limit of %d bytes",
				     elen, KTA_TILE_ENTRY_MAX);
	if (u > cap || cap - u < 2 || cap - u - 2 < elen)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "entry of %zu bytes does not fit in the bundle buffer "
				     "(%zu of %zu bytes used)",
				     elen, u, cap);
	out[u] = (uint8_t)(elen >> 8);
	out[u + 1] = (uint8_t)(elen & 0xff);
	if (elen > 0)
		memcpy(out + u + 2, entry, elen);
	*used = u + 2 + elen;
	return KTA_OK;
}

enum kta_status kta_tile_encode_bundle(const struct kta_tile_entry *entries, unsigned n,
				       uint8_t *out, size_t cap, size_t *out_len,
				       struct kta_error *err)
{
	size_t used = 0;
	unsigned i;
	enum kta_status r;

	if (!width_ok(n))
		return kta_error_set(err, KTA_ERR_USAGE, "bundle of %u entries: must be 1..%d", n,
				     KTA_TILE_WIDTH);
	for (i = 0; i < n; i++) {
		r = kta_tile_bundle_append(out, cap, &used, entries[i].data, entries[i].len, err);
		if (r != KTA_OK) {
			(void)kta_error_prefix(err, "bundle entry %u", i);
			return r;
		}
	}
	*out_len = used;
	return KTA_OK;
}
