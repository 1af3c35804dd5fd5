/* Unit tests for C2SP tlog-tiles paths, tile math, hash tiles and entry bundles. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/tile.h"

static void path_is(int level, uint64_t index, unsigned width, const char *want)
{
	char out[KTA_TILE_PATH_MAX];
	struct kta_tile t;
	struct kta_error err;

	assert_int_equal(kta_tile_path(level, index, width, out, sizeof(out), &err), KTA_OK);
	assert_string_equal(out, want);
	/* and back */
	assert_int_equal(kta_tile_path_parse(want, strlen(want), &t, &err), KTA_OK);
	assert_int_equal(t.level, level);
	assert_true(t.index == index);
	assert_int_equal(t.width, width);
}

static void path_encoding(void **state)
{
	char out[KTA_TILE_PATH_MAX];

	(void)state;
	path_is(0, 0, 256, "tile/0/000");
	path_is(0, 1, 256, "tile/0/001");
	path_is(0, 255, 256, "tile/0/255");
	path_is(0, 256, 256, "tile/0/256");
	path_is(0, 999, 256, "tile/0/999");
	path_is(0, 1000, 256, "tile/0/x001/000");
	path_is(0, 1234067, 256, "tile/0/x001/x234/067");
	path_is(1, 1234067, 256, "tile/1/x001/x234/067");
	path_is(63, 7, 256, "tile/63/007");
	path_is(2, 1000000, 256, "tile/2/x001/x000/000");
	path_is(0, 0, 1, "tile/0/000.p/1");
	path_is(0, 0, 8, "tile/0/000.p/8");
	path_is(5, 1234067, 255, "tile/5/x001/x234/067.p/255");
	path_is(KTA_TILE_ENTRIES, 0, 256, "tile/entries/000");
	path_is(KTA_TILE_ENTRIES, 0, 15, "tile/entries/000.p/15");
	path_is(KTA_TILE_ENTRIES, 1234067, 112, "tile/entries/x001/x234/067.p/112");
	path_is(KTA_TILE_ENTRIES, UINT64_MAX, 255,
		"tile/entries/x018/x446/x744/x073/x709/x551/615.p/255");
	assert_true(strlen("tile/entries/x018/x446/x744/x073/x709/x551/615.p/255") <
		    KTA_TILE_PATH_MAX);
	assert_int_equal(kta_tile_entries_path(1234067, 256, out, sizeof(out), NULL), KTA_OK);
	assert_string_equal(out, "tile/entries/x001/x234/067");
}

static void path_encoding_rejects(void **state)
{
	char out[KTA_TILE_PATH_MAX];
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_tile_path(64, 0, 256, out, sizeof(out), &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "level 64"));
	assert_int_equal(kta_tile_path(-2, 0, 256, out, sizeof(out), &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_path(0, 0, 0, out, sizeof(out), &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_path(0, 0, 257, out, sizeof(out), &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "width 257"));
	/* "tile/0/x001/x234/067" is 20 characters: 21 bytes fit, 20 do not. */
	assert_int_equal(kta_tile_path(0, 1234067, 256, out, 21, &err), KTA_OK);
	assert_int_equal(kta_tile_path(0, 1234067, 256, out, 20, &err), KTA_ERR_LIMIT);
	assert_string_equal(out, "");
	assert_int_equal(kta_tile_path(0, 1234067, 256, out, 0, NULL), KTA_ERR_LIMIT);
}

static void path_parse_rejects(void **state)
{
	static const char *bad[] = {
	    "",
	    "tile",
	    "tile/",
	    "/tile/0/000",
	    "tiles/0/000",
	    "tile/00/000",     /* leading zero in level */
	    "tile/64/000",     /* level over 63 */
	    "tile/-1/000",     /* entries are spelled "entries" */
	    "tile/ 0/000",     /* space */
	    "tile/1a/000",     /* junk in level */
	    "tile/0/",         /* no index */
	    "tile/0/00",       /* short group */
	    "tile/0/0000",     /* long group */
	    "tile/0/1",        /* not zero-padded */
	    "tile/0/x001",     /* last group with 'x' */
	    "tile/0/x001/",    /* trailing slash */
	    "tile/0/000/",     /* trailing slash */
	    "tile/0/001/002",  /* inner group without 'x' */
	    "tile/0/X001/002", /* capital X */
	    "tile/0/x000/001", /* leading zero group: a second spelling of 1 */
	    "tile/0/x1/000",   /* short x group */
	    "tile/0/x001//000",
	    "tile/0/x018/x446/x744/x073/x709/x551/616",      /* UINT64_MAX + 1 */
	    "tile/0/x001/x000/x000/x000/x000/x000/x000/000", /* 8 groups */
	    "tile/0/000.p/0",                                /* width 0 */
	    "tile/0/000.p/256",                              /* full tiles have no .p */
	    "tile/0/000.p/08",                               /* leading zero */
	    "tile/0/000.p/",
	    "tile/0/000.p",
	    "tile/0/000.q/8",
	    "tile/0/000.p/8/",
	    "tile/0/000.p/8x",
	    "tile/0/000.p/1000",
	    "tile/0/000?x=1",
	    "tile/entries",
	    "tile/entries/",
	    "tile/entries/0000",
	    "tile/entrie/000",
	    "tile/entries/000.p/0",
	    "tile/entries/x000/000",
	    "tile/0/000\n",
	};
	struct kta_tile t = {7, 7, 7};
	struct kta_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kta_tile_path_parse(bad[i], strlen(bad[i]), &t, &err) != KTA_ERR_MALFORMED)
			fail_msg("accepted tile path \"%s\"", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	/* output untouched on failure */
	assert_int_equal(t.level, 7);
	/* a NUL inside the given length is not the end of the path */
	assert_int_equal(kta_tile_path_parse("tile/0/000\0", 11, &t, &err), KTA_ERR_MALFORMED);
	/* the error quotes the bad path */
	assert_int_equal(kta_tile_path_parse("tile/0/0000", 11, &t, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "tile/0/0000"));
}

static void path_roundtrip_random(void **state)
{
	uint64_t rng = 0x9e3779b97f4a7c15u;
	char out[KTA_TILE_PATH_MAX];
	struct kta_tile t;
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		uint64_t r = tu_rand(&rng);
		uint64_t index = tu_rand(&rng) >> (r % 64);
		int level = (int)((r >> 8) % 65) - 1;
		unsigned width = (unsigned)(r >> 16) % 256 + 1;

		assert_int_equal(kta_tile_path(level, index, width, out, sizeof(out), NULL),
				 KTA_OK);
		assert_int_equal(kta_tile_path_parse(out, strlen(out), &t, NULL), KTA_OK);
		assert_int_equal(t.level, level);
		assert_true(t.index == index);
		assert_int_equal(t.width, width);
	}
}

static void tile_counts(void **state)
{
	unsigned w = 0;
	struct kta_error err;

	(void)state;
	/* tlog-tiles "Partial Tiles": a tree of 70,000 has 273 full level-0
	 * tiles, a partial level-0 tile of width 112, one full level-1 tile, a
	 * partial level-1 tile of width 17 and a partial level-2 tile of 1. */
	assert_true(kta_tile_full_count(0, 70000) == 273);
	assert_int_equal(kta_tile_partial_width(0, 70000), 112);
	assert_true(kta_tile_full_count(1, 70000) == 1);
	assert_int_equal(kta_tile_partial_width(1, 70000), 17);
	assert_true(kta_tile_full_count(2, 70000) == 0);
	assert_int_equal(kta_tile_partial_width(2, 70000), 1);
	assert_int_equal(kta_tile_partial_width(3, 70000), 0);
	assert_true(kta_tile_full_count(KTA_TILE_ENTRIES, 70000) == 273);
	assert_int_equal(kta_tile_partial_width(KTA_TILE_ENTRIES, 70000), 112);
	/* a tree of 256: one full level-0 tile and a level-1 tile of width 1 */
	assert_true(kta_tile_full_count(0, 256) == 1);
	assert_int_equal(kta_tile_partial_width(0, 256), 0);
	assert_int_equal(kta_tile_partial_width(1, 256), 1);
	/* the empty tree has no tiles */
	assert_true(kta_tile_full_count(0, 0) == 0);
	assert_int_equal(kta_tile_partial_width(0, 0), 0);
	assert_int_equal(kta_tile_width(0, 0, 0, &w, &err), KTA_ERR_USAGE);
	/* the largest tree: level 7 has a partial tile of 255, level 8 nothing */
	assert_true(kta_tile_full_count(7, UINT64_MAX) == 0);
	assert_int_equal(kta_tile_partial_width(7, UINT64_MAX), 255);
	assert_int_equal(kta_tile_partial_width(8, UINT64_MAX), 0);
	assert_true(kta_tile_full_count(63, UINT64_MAX) == 0);
	assert_true(kta_tile_full_count(0, UINT64_MAX) == UINT64_MAX >> 8);
	/* out-of-range levels count nothing */
	assert_true(kta_tile_full_count(64, UINT64_MAX) == 0);
	assert_int_equal(kta_tile_partial_width(-2, UINT64_MAX), 0);

	assert_int_equal(kta_tile_width(0, 272, 70000, &w, &err), KTA_OK);
	assert_int_equal(w, 256);
	assert_int_equal(kta_tile_width(0, 273, 70000, &w, &err), KTA_OK);
	assert_int_equal(w, 112);
	assert_int_equal(kta_tile_width(0, 274, 70000, &w, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "no tile 274"));
	assert_int_equal(kta_tile_width(1, 1, 70000, &w, &err), KTA_OK);
	assert_int_equal(w, 17);
	assert_int_equal(kta_tile_width(2, 0, 70000, &w, &err), KTA_OK);
	assert_int_equal(w, 1);
	assert_int_equal(kta_tile_width(3, 0, 70000, &w, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_width(0, 1, 256, &w, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_width(64, 0, 256, &w, &err), KTA_ERR_USAGE);
}

static void node_lookup(void **state)
{
	struct kta_tile t;
	unsigned first = 0, count = 0, pos = 0;
	struct kta_error err;

	(void)state;
	/* leaf 1234 of 70000: level-0 tile 4, position 210 */
	assert_int_equal(kta_tile_for_node(0, 1234, 70000, &t, &first, &count, &err), KTA_OK);
	assert_int_equal(t.level, 0);
	assert_true(t.index == 4);
	assert_int_equal(t.width, 256);
	assert_int_equal(first, 210);
	assert_int_equal(count, 1);
	/* node at height 3, index 5 spans leaves 40..47: hashes 40..47 of tile 0 */
	assert_int_equal(kta_tile_for_node(3, 5, 70000, &t, &first, &count, &err), KTA_OK);
	assert_true(t.level == 0 && t.index == 0 && t.width == 256);
	assert_int_equal(first, 40);
	assert_int_equal(count, 8);
	/* a leaf in the partial level-0 tile */
	assert_int_equal(kta_tile_for_node(0, 69999, 70000, &t, &first, &count, &err), KTA_OK);
	assert_true(t.level == 0 && t.index == 273 && t.width == 112);
	assert_int_equal(first, 111);
	/* height 8 is a level-1 tile hash: node 272 is hash 16 of tile 1 (width 17) */
	assert_int_equal(kta_tile_for_node(8, 272, 70000, &t, &first, &count, &err), KTA_OK);
	assert_true(t.level == 1 && t.index == 1 && t.width == 17);
	assert_int_equal(first, 16);
	assert_int_equal(count, 1);
	/* height 16, node 0: the single hash of the level-2 tile */
	assert_int_equal(kta_tile_for_node(16, 0, 70000, &t, &first, &count, &err), KTA_OK);
	assert_true(t.level == 2 && t.index == 0 && t.width == 1);
	assert_int_equal(first, 0);
	assert_int_equal(count, 1);
	/* height 12, node 17 spans level-1 hashes 272..287, of which only 273 exist */
	assert_int_equal(kta_tile_for_node(12, 17, 70000, &t, &first, &count, &err), KTA_ERR_USAGE);
	/* node 273 at height 8 would cover leaves up to 70144 > 70000 */
	assert_int_equal(kta_tile_for_node(8, 273, 70000, &t, &first, &count, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "not a complete subtree"));
	assert_int_equal(kta_tile_for_node(64, 0, UINT64_MAX, &t, &first, &count, &err),
			 KTA_ERR_USAGE);
	/* the largest node of the largest tree, without overflow */
	assert_int_equal(kta_tile_for_node(63, 0, UINT64_MAX, &t, &first, &count, &err), KTA_OK);
	assert_true(t.level == 7 && t.index == 0 && t.width == 255);
	assert_int_equal(first, 0);
	assert_int_equal(count, 128);
	assert_int_equal(kta_tile_for_node(0, UINT64_MAX - 1, UINT64_MAX, &t, &first, &count, &err),
			 KTA_OK);
	assert_true(t.index == (UINT64_MAX - 1) / 256 && t.width == 255);
	assert_int_equal(first, 254);
	assert_int_equal(kta_tile_for_node(0, UINT64_MAX, UINT64_MAX, &t, &first, &count, &err),
			 KTA_ERR_USAGE);

	assert_int_equal(kta_tile_for_entry(69999, 70000, &t, &pos, &err), KTA_OK);
	assert_true(t.level == KTA_TILE_ENTRIES && t.index == 273 && t.width == 112);
	assert_int_equal(pos, 111);
	assert_int_equal(kta_tile_for_entry(256, 70000, &t, &pos, &err), KTA_OK);
	assert_true(t.index == 1 && t.width == 256 && pos == 0);
	assert_int_equal(kta_tile_for_entry(70000, 70000, &t, &pos, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_for_entry(0, 0, &t, &pos, &err), KTA_ERR_USAGE);
}

/* Every level-0 tile position agrees with plain arithmetic on small trees. */
static void node_lookup_exhaustive(void **state)
{
	uint64_t size, leaf;
	struct kta_tile t;
	unsigned first, count, h;

	(void)state;
	for (size = 1; size <= 1100; size += 7) {
		for (leaf = 0; leaf < size; leaf++) {
			assert_int_equal(kta_tile_for_node(0, leaf, size, &t, &first, &count, NULL),
					 KTA_OK);
			assert_true(t.index == leaf / 256 && first == leaf % 256);
			assert_true(first < t.width);
		}
		for (h = 0; h < 12; h++) {
			uint64_t node;

			for (node = 0; node < (size >> h); node++) {
				assert_int_equal(
				    kta_tile_for_node(h, node, size, &t, &first, &count, NULL),
				    KTA_OK);
				assert_true(first + count <= t.width);
			}
			assert_int_equal(
			    kta_tile_for_node(h, size >> h, size, &t, &first, &count, NULL),
			    KTA_ERR_USAGE);
		}
	}
}

struct vector {
	const char *dir;
	unsigned width;
	const char *root; /* hex or base64 */
};

/* The DERIVED tiles: see testdata/tiles/SOURCES.md and README.json. The
 * 15-leaf root is the one signed in serverless-log checkpoint.15. */
static const struct vector vectors[] = {
    {"tiles/DERIVED/rfc6962-8-leaves", 8,
     "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
    {"tiles/DERIVED/serverless-log-15-leaves", 15, "rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs="},
};

static uint8_t *read_tile(const struct vector *v, int level, size_t *len)
{
	char path[KTA_TILE_PATH_MAX], rel[256];

	assert_int_equal(kta_tile_path(level, 0, v->width, path, sizeof(path), NULL), KTA_OK);
	(void)snprintf(rel, sizeof(rel), "%s/%s", v->dir, path);
	return tu_read_testdata(rel, len);
}

static void derived_vectors(void **state)
{
	struct kta_hasher *h = NULL;
	struct kta_error err;
	size_t vi;

	(void)state;
	assert_int_equal(kta_hasher_new(&h, &err), KTA_OK);
	for (vi = 0; vi < sizeof(vectors) / sizeof(vectors[0]); vi++) {
		const struct vector *v = &vectors[vi];
		const uint8_t(*hashes)[32] = NULL;
		uint8_t *tile, *bundle, root[32], want[32], leaf[32];
		size_t tlen, blen, i = 0;
		struct kta_tile_bundle b;
		struct kta_tile_bundle_iter it;
		struct kta_tile_entry e;

		tile = read_tile(v, 0, &tlen);
		bundle = read_tile(v, KTA_TILE_ENTRIES, &blen);
		assert_int_equal(kta_tile_parse_hashes(tile, tlen, v->width, &hashes, &err),
				 KTA_OK);
		assert_ptr_equal((const void *)hashes, (const void *)tile);
		/* The MTH of the level-0 tile hashes is the tree root. */
		assert_int_equal(kta_merkle_root(h, hashes, v->width, root, &err), KTA_OK);
		assert_int_equal(kta_parse_hash(v->root, strlen(v->root), want, "root", &err),
				 KTA_OK);
		assert_memory_equal(root, want, 32);
		/* Each bundle entry re-hashes to its level-0 tile hash. */
		assert_int_equal(kta_tile_parse_bundle(bundle, blen, v->width, &b, &err), KTA_OK);
		assert_int_equal(b.count, v->width);
		kta_tile_bundle_iter_init(&it, &b);
		while (kta_tile_bundle_next(&it, &e)) {
			assert_true(e.data >= bundle && e.data + e.len <= bundle + blen);
			kta_hash_leaf(h, e.data, e.len, leaf);
			assert_memory_equal(leaf, hashes[i], 32);
			i++;
		}
		assert_int_equal(i, v->width);
		assert_int_equal(kta_tile_bundle_next(&it, &e), 0);
		/* A tampered tile no longer gives the root. */
		tile[tlen / 2] ^= 1;
		assert_int_equal(kta_merkle_root(h, hashes, v->width, root, &err), KTA_OK);
		assert_memory_not_equal(root, want, 32);
		/* The wrong width is a malformed tile. */
		assert_int_equal(kta_tile_parse_hashes(tile, tlen, v->width + 1, &hashes, &err),
				 KTA_ERR_MALFORMED);
		assert_int_equal(kta_tile_parse_hashes(tile, tlen, v->width - 1, &hashes, &err),
				 KTA_ERR_MALFORMED);
		assert_int_equal(kta_tile_parse_hashes(tile, tlen - 1, v->width, &hashes, &err),
				 KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "expected"));
		free(tile);
		free(bundle);
	}
	assert_int_equal(kta_hasher_failed(h), 0);
	kta_hasher_free(h);
}

static void bundle_vectors_first_entries(void **state)
{
	const struct vector *v = &vectors[1];
	struct kta_tile_bundle b;
	struct kta_tile_bundle_iter it;
	struct kta_tile_entry e;
	uint8_t *bundle;
	size_t blen;

	(void)state;
	bundle = read_tile(v, KTA_TILE_ENTRIES, &blen);
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 15, &b, NULL), KTA_OK);
	kta_tile_bundle_iter_init(&it, &b);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 1);
	assert_int_equal(e.len, 3);
	assert_memory_equal(e.data, "one", 3);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 1);
	assert_memory_equal(e.data, "two", 3);
	free(bundle);
	/* the RFC 6962 tree starts with the empty entry */
	bundle = read_tile(&vectors[0], KTA_TILE_ENTRIES, &blen);
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 8, &b, NULL), KTA_OK);
	kta_tile_bundle_iter_init(&it, &b);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 1);
	assert_int_equal(e.len, 0);
	assert_non_null(e.data);
	free(bundle);
}

static void bundle_rejects(void **state)
{
	const struct vector *v = &vectors[1];
	struct kta_tile_bundle b = {NULL, 0, 0};
	struct kta_error err;
	uint8_t *bundle, *longer;
	size_t blen, cut;
	unsigned k;

	(void)state;
	bundle = read_tile(v, KTA_TILE_ENTRIES, &blen);
	/* Every truncation fails: cut inside a prefix, inside an entry, or
	 * after a whole entry (too few entries). */
	for (cut = 0; cut < blen; cut++)
		assert_int_equal(kta_tile_parse_bundle(bundle, cut, 15, &b, &err),
				 KTA_ERR_MALFORMED);
	assert_null(b.data);
	/* "\0\3one\0\3two": cut after 1 byte of the second prefix */
	assert_int_equal(kta_tile_parse_bundle(bundle, 6, 15, &b, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "entry 1 at offset 5: length prefix truncated"));
	/* cut inside the second entry */
	assert_int_equal(kta_tile_parse_bundle(bundle, 8, 15, &b, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "entry 1 at offset 5 declares 3 bytes, only 1 left"));
	/* cut after two whole entries */
	assert_int_equal(kta_tile_parse_bundle(bundle, 10, 15, &b, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "ends after 2 entries at offset 10, expected 15"));
	/* wrong count both ways */
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 16, &b, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 14, &b, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "trailing bytes"));
	/* trailing bytes: any extra byte, and an extra whole entry */
	longer = malloc(blen + 6);
	assert_non_null(longer);
	memcpy(longer, bundle, blen);
	for (k = 0; k < 256; k++) {
		longer[blen] = (uint8_t)k;
		assert_int_equal(kta_tile_parse_bundle(longer, blen + 1, 15, &b, &err),
				 KTA_ERR_MALFORMED);
	}
	memcpy(longer + blen, "\0\4more", 6);
	assert_int_equal(kta_tile_parse_bundle(longer, blen + 6, 15, &b, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "6 trailing bytes"));
	assert_int_equal(kta_tile_parse_bundle(longer, blen + 6, 16, &b, &err), KTA_OK);
	free(longer);
	/* A length prefix off by one either way breaks the framing. */
	bundle[1] ^= 1; /* 3 -> 2 */
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 15, &b, &err), KTA_ERR_MALFORMED);
	bundle[1] ^= 1;
	bundle[0] = 0xff; /* 0xff03: longer than the bundle */
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 15, &b, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "declares 65283 bytes"));
	/* bad widths are caller errors */
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 0, &b, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_parse_bundle(bundle, blen, 257, &b, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_parse_bundle((const uint8_t *)"", 0, 1, &b, &err),
			 KTA_ERR_MALFORMED);
	free(bundle);
}

static void bundle_iter_misuse(void **state)
{
	/* A bundle that was never validated: the iterator must stop, not overread. */
	static const uint8_t bad[] = {0, 2, 'a', 'b', 0, 9, 'c'};
	struct kta_tile_bundle b = {bad, sizeof(bad), 5};
	struct kta_tile_bundle_iter it;
	struct kta_tile_entry e;

	(void)state;
	kta_tile_bundle_iter_init(&it, &b);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 1);
	assert_int_equal(e.len, 2);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 0);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 0);
	b.len = 1;
	kta_tile_bundle_iter_init(&it, &b);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 0);
}

static void bundle_encode(void **state)
{
	const struct vector *v = &vectors[1];
	static const char *words[15] = {"one",    "two",   "three",    "four",    "five",
					"six",    "seven", "eit",      "nain",    "ten",
					"ileven", "twelf", "threeten", "fourten", "fivten"};
	struct kta_tile_entry entries[15];
	uint8_t *bundle, *out, *big;
	size_t blen, olen = 0, used, i;
	struct kta_tile_bundle b;
	struct kta_tile_bundle_iter it;
	struct kta_tile_entry e;
	struct kta_error err;

	(void)state;
	bundle = read_tile(v, KTA_TILE_ENTRIES, &blen);
	for (i = 0; i < 15; i++) {
		entries[i].data = (const uint8_t *)words[i];
		entries[i].len = strlen(words[i]);
	}
	out = malloc(blen);
	assert_non_null(out);
	/* the encoder reproduces the vector byte for byte, in exactly blen bytes */
	assert_int_equal(kta_tile_encode_bundle(entries, 15, out, blen, &olen, &err), KTA_OK);
	assert_int_equal(olen, blen);
	assert_memory_equal(out, bundle, blen);
	assert_int_equal(kta_tile_encode_bundle(entries, 15, out, blen - 1, &olen, &err),
			 KTA_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "bundle entry 14"));
	assert_int_equal(kta_tile_encode_bundle(entries, 0, out, blen, &olen, &err), KTA_ERR_USAGE);
	free(out);
	free(bundle);

	/* append: the largest entry fits, one byte more does not */
	big = calloc(1, KTA_TILE_ENTRY_MAX + 1);
	out = malloc(KTA_TILE_ENTRY_MAX + 2);
	assert_non_null(big);
	assert_non_null(out);
	used = 0;
	assert_int_equal(kta_tile_bundle_append(out, KTA_TILE_ENTRY_MAX + 2, &used, big,
						KTA_TILE_ENTRY_MAX + 1, &err),
			 KTA_ERR_LIMIT);
	assert_int_equal(used, 0);
	assert_int_equal(kta_tile_bundle_append(out, KTA_TILE_ENTRY_MAX + 1, &used, big,
						KTA_TILE_ENTRY_MAX, &err),
			 KTA_ERR_LIMIT);
	assert_int_equal(used, 0);
	big[KTA_TILE_ENTRY_MAX - 1] = 0x5a;
	assert_int_equal(kta_tile_bundle_append(out, KTA_TILE_ENTRY_MAX + 2, &used, big,
						KTA_TILE_ENTRY_MAX, &err),
			 KTA_OK);
	assert_int_equal(used, KTA_TILE_ENTRY_MAX + 2);
	assert_int_equal(out[0], 0xff);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(kta_tile_parse_bundle(out, used, 1, &b, &err), KTA_OK);
	kta_tile_bundle_iter_init(&it, &b);
	assert_int_equal(kta_tile_bundle_next(&it, &e), 1);
	assert_int_equal(e.len, KTA_TILE_ENTRY_MAX);
	assert_int_equal(e.data[KTA_TILE_ENTRY_MAX - 1], 0x5a);
	/* nothing fits in a full buffer, and *used past cap is refused */
	assert_int_equal(kta_tile_bundle_append(out, used, &used, big, 0, &err), KTA_ERR_LIMIT);
	used = KTA_TILE_ENTRY_MAX + 3;
	assert_int_equal(kta_tile_bundle_append(out, KTA_TILE_ENTRY_MAX + 2, &used, big, 0, &err),
			 KTA_ERR_LIMIT);
	/* an empty entry */
	used = 0;
	assert_int_equal(kta_tile_bundle_append(out, 2, &used, NULL, 0, &err), KTA_OK);
	assert_int_equal(used, 2);
	assert_int_equal(kta_tile_parse_bundle(out, used, 1, &b, &err), KTA_OK);
	free(big);
	free(out);
}

static void hashes_encode(void **state)
{
	uint8_t hashes[256][32], out[KTA_TILE_HASHES_MAX];
	const uint8_t(*back)[32] = NULL;
	size_t olen = 0, i;
	struct kta_error err;

	(void)state;
	for (i = 0; i < 256; i++)
		memset(hashes[i], (int)i, 32);
	assert_int_equal(kta_tile_encode_hashes((const uint8_t(*)[32])hashes, 256, out, sizeof(out),
						&olen, &err),
			 KTA_OK);
	assert_int_equal(olen, KTA_TILE_HASHES_MAX);
	assert_int_equal(kta_tile_parse_hashes(out, olen, 256, &back, &err), KTA_OK);
	assert_memory_equal(back[255], hashes[255], 32);
	assert_int_equal(
	    kta_tile_encode_hashes((const uint8_t(*)[32])hashes, 3, out, 95, &olen, &err),
	    KTA_ERR_LIMIT);
	assert_int_equal(
	    kta_tile_encode_hashes((const uint8_t(*)[32])hashes, 0, out, sizeof(out), &olen, &err),
	    KTA_ERR_USAGE);
	assert_int_equal(kta_tile_encode_hashes((const uint8_t(*)[32])hashes, 257, out, sizeof(out),
						&olen, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_tile_parse_hashes(out, 0, 0, &back, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_tile_parse_hashes(out, olen + 32, 256, &back, &err),
			 KTA_ERR_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(path_encoding),
	    cmocka_unit_test(path_encoding_rejects),
	    cmocka_unit_test(path_parse_rejects),
	    cmocka_unit_test(path_roundtrip_random),
	    cmocka_unit_test(tile_counts),
	    cmocka_unit_test(node_lookup),
	    cmocka_unit_test(node_lookup_exhaustive),
	    cmocka_unit_test(derived_vectors),
	    cmocka_unit_test(bundle_vectors_first_entries),
	    cmocka_unit_test(bundle_rejects),
	    cmocka_unit_test(bundle_iter_misuse),
	    cmocka_unit_test(bundle_encode),
	    cmocka_unit_test(hashes_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
