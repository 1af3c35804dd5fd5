/*
 * Unit tests for the tlog-tiles client (tlog.h): logs of many sizes are
 * written to a temporary directory (tiles, bundles, signed checkpoint) and
 * read back over file://. Proofs from tiles must equal the ones computed from
 * the leaf list, replay and audit must recompute the signed root, and every
 * tampered, truncated or missing tile must be rejected with the right status
 * and a message naming the tile.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/fetch.h"
#include "ktaudit/file.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/merkle.h"
#include "ktaudit/note.h"
#include "ktaudit/tile.h"
#include "ktaudit/tlog.h"

#define ORIGIN "example.com/tlog-test"

/* A log written to disk. */
struct tlog_fixture {
	char dir[64];  /* temporary directory, no trailing '/' */
	char url[96];  /* file://<dir>/ */
	uint64_t size; /* the signed size */
	uint8_t (*leaves)[32];
	uint8_t root[32];
	struct kta_skey *sk;
	struct kta_vkey *vk;
	struct kta_hasher *h;
	struct kta_fetcher *f;
};

/* The entry at index i: short, so that 65537 entries stay cheap. */
static size_t entry_bytes(uint64_t i, char *out, size_t cap)
{
	int n = snprintf(out, cap, "entry %" PRIu64 "\n", i);

	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static void write_rel(const struct tlog_fixture *t, const char *rel, const uint8_t *data,
		      size_t len)
{
	char path[256], dir[256];
	struct kta_error err;
	char *slash;
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	memcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_int_equal(kta_file_mkdirs(dir, 0700, &err), KTA_OK);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void path_of(char *out, int level, uint64_t index, unsigned width)
{
	assert_int_equal(kta_tile_path(level, index, width, out, KTA_TILE_PATH_MAX, NULL), KTA_OK);
}

/* Writes every hash tile and bundle of the tree of the first n leaves. */
static void write_tiles(struct tlog_fixture *t, uint64_t n)
{
	uint8_t(*hs)[32], (*up)[32];
	uint64_t cnt = n, i;
	uint8_t *bundle = malloc(KTA_TILE_BUNDLE_MAX);
	char path[KTA_TILE_PATH_MAX];
	int level;

	assert_non_null(bundle);
	hs = calloc(n + 1, 32);
	assert_non_null(hs);
	if (n > 0)
		memcpy(hs, t->leaves, (size_t)n * 32);
	for (level = 0; cnt > 0; level++) {
		uint64_t full = cnt / KTA_TILE_WIDTH;
		unsigned w = (unsigned)(cnt % KTA_TILE_WIDTH);

		for (i = 0; i <= full; i++) {
			unsigned width = i < full ? KTA_TILE_WIDTH : w;
			size_t len;

			if (width == 0)
				continue;
			assert_int_equal(
			    kta_tile_encode_hashes((const uint8_t(*)[32])hs + i * KTA_TILE_WIDTH,
						   width, bundle, KTA_TILE_BUNDLE_MAX, &len, NULL),
			    KTA_OK);
			path_of(path, level, i, width);
			write_rel(t, path, bundle, len);
		}
		up = calloc(full + 1, 32);
		assert_non_null(up);
		for (i = 0; i < full; i++)
			assert_int_equal(
			    kta_merkle_root(t->h, (const uint8_t(*)[32])hs + i * KTA_TILE_WIDTH,
					    KTA_TILE_WIDTH, up[i], NULL),
			    KTA_OK);
		free(hs);
		hs = up;
		cnt = full;
	}
	free(hs);
	for (i = 0; i * KTA_TILE_WIDTH < n; i++) {
		uint64_t left = n - i * KTA_TILE_WIDTH, j;
		unsigned width = left >= KTA_TILE_WIDTH ? KTA_TILE_WIDTH : (unsigned)left;
		size_t used = 0;

		for (j = 0; j < width; j++) {
			char e[32];
			size_t elen = entry_bytes(i * KTA_TILE_WIDTH + j, e, sizeof(e));

			assert_int_equal(kta_tile_bundle_append(bundle, KTA_TILE_BUNDLE_MAX, &used,
								(const uint8_t *)e, elen, NULL),
					 KTA_OK);
		}
		path_of(path, KTA_TILE_ENTRIES, i, width);
		write_rel(t, path, bundle, used);
	}
	free(bundle);
}

/* Signs and writes a checkpoint for (size, root) with key k. */
static void write_checkpoint(struct tlog_fixture *t, const struct kta_skey *k, uint64_t size,
			     const uint8_t root[32])
{
	char text[256], b64[KTA_B64_ENCODED_LEN(32) + 1];
	uint8_t *note = NULL;
	size_t len;
	struct kta_error err;

	kta_b64_encode(root, 32, b64);
	(void)snprintf(text, sizeof(text), "%s\n%" PRIu64 "\n%s\n", ORIGIN, size, b64);
	assert_int_equal(kta_note_sign((const uint8_t *)text, strlen(text), k, &note, &len, &err),
			 KTA_OK);
	write_rel(t, "checkpoint", note, len);
	free(note);
}

/* Creates leaves for `leaves` entries (>= size), writes the tree of `size`. */
static struct tlog_fixture *fixture_new(uint64_t size, uint64_t leaves)
{
	struct tlog_fixture *t = calloc(1, sizeof(*t));
	struct kta_fetch_opts fo;
	struct kta_error err;
	uint8_t seed[32];
	uint64_t i;

	assert_non_null(t);
	assert_true(leaves >= size);
	/* tmpfs when there is one: the fixtures write thousands of small files. */
	(void)snprintf(t->dir, sizeof(t->dir), "%s/kta_tlog_XXXXXX",
		       access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	assert_non_null(mkdtemp(t->dir));
	(void)snprintf(t->url, sizeof(t->url), "file://%s/", t->dir);
	assert_int_equal(kta_hasher_new(&t->h, &err), KTA_OK);
	memset(seed, 7, sizeof(seed));
	assert_int_equal(kta_skey_from_seed(ORIGIN, KTA_KEY_ED25519, seed, &t->sk, &err), KTA_OK);
	assert_int_equal(kta_skey_vkey(t->sk, &t->vk, &err), KTA_OK);
	t->leaves = calloc(leaves + 1, 32);
	assert_non_null(t->leaves);
	for (i = 0; i < leaves; i++) {
		char e[32];
		size_t n = entry_bytes(i, e, sizeof(e));

		kta_hash_leaf(t->h, (const uint8_t *)e, n, t->leaves[i]);
	}
	t->size = size;
	assert_int_equal(
	    kta_merkle_root(t->h, (const uint8_t(*)[32])t->leaves, size, t->root, &err), KTA_OK);
	write_tiles(t, size);
	write_checkpoint(t, t->sk, size, t->root);
	kta_fetch_opts_init(&fo);
	fo.schemes = "file";
	fo.max_retries = 0;
	fo.max_size = KTA_TILE_BUNDLE_MAX;
	assert_int_equal(kta_fetcher_new(&fo, &t->f, &err), KTA_OK);
	return t;
}

static void fixture_free(struct tlog_fixture *t)
{
	if (t == NULL)
		return;
	(void)tu_rm_tree(t->dir);
	kta_fetcher_free(t->f);
	kta_hasher_free(t->h);
	kta_skey_free(t->sk);
	kta_vkey_free(t->vk);
	free(t->leaves);
	free(t);
}

/* A client with the fixture's checkpoint fetched, verified and selected. */
static struct kta_tlog *client(struct tlog_fixture *t, const struct kta_tlog_opts *o)
{
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	struct kta_tlog *c = NULL;
	struct kta_error err;
	uint8_t *note = NULL;
	size_t len = 0;

	assert_int_equal(kta_tlog_new(t->f, t->url, o, &c, &err), KTA_OK);
	memset(&p, 0, sizeof(p));
	p.log_key = t->vk;
	p.now = 1700000000;
	if (kta_tlog_fetch_checkpoint(c, &p, &res, &note, &len, &err) != KTA_OK)
		fail_msg("checkpoint: %s", err.msg);
	assert_non_null(note);
	assert_true(len > 0);
	assert_true(res.cp->size == t->size);
	assert_memory_equal(res.cp->root, t->root, 32);
	kta_tlog_set_tree(c, res.cp->size, res.cp->root);
	kta_checkpoint_result_free(&res);
	free(note);
	return c;
}

/* Tampers with one file of the fixture. */
static void flip_byte(struct tlog_fixture *t, const char *rel, size_t off)
{
	char path[256];
	uint8_t *buf;
	size_t len;
	struct kta_error err;

	(void)snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	assert_int_equal(kta_file_read(path, 1u << 24, &buf, &len, &err), KTA_OK);
	assert_true(off < len);
	buf[off] ^= 0x01;
	write_rel(t, rel, buf, len);
	free(buf);
}

static void truncate_file(struct tlog_fixture *t, const char *rel, size_t cut)
{
	char path[256];
	uint8_t *buf;
	size_t len;
	struct kta_error err;

	(void)snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	assert_int_equal(kta_file_read(path, 1u << 24, &buf, &len, &err), KTA_OK);
	assert_true(cut <= len);
	write_rel(t, rel, buf, len - cut);
	free(buf);
}

static void remove_rel(struct tlog_fixture *t, const char *rel)
{
	char path[256];

	(void)snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	assert_int_equal(unlink(path), 0);
}

static void expect_err(enum kta_status got, enum kta_status want, const struct kta_error *err,
		       const char *needle)
{
	if (got != want)
		fail_msg("status %s, want %s: %s", kta_status_str(got), kta_status_str(want),
			 err->msg);
	if (needle != NULL && strstr(err->msg, needle) == NULL)
		fail_msg("message lacks \"%s\": %s", needle, err->msg);
}

/* Inclusion and consistency proofs from tiles equal the ones from the list. */
static void check_proofs(struct tlog_fixture *t, struct kta_tlog *c)
{
	const uint64_t probes[] = {0,   1,   2,   3,   127,  254,   255,   256,   257,  300,
				   510, 511, 512, 513, 1000, 65279, 65280, 65535, 65536};
	uint8_t got[KTA_MERKLE_MAX_PROOF][32], want[KTA_MERKLE_MAX_PROOF][32], old_root[32];
	const size_t np = sizeof(probes) / sizeof(probes[0]);
	/* The reference proofs cost O(size) each: probe large trees sparsely. */
	const int big = t->size > 4096;
	size_t gl, wl, i;
	struct kta_error err;
	uint64_t idx;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]) + 2; i++) {
		if (i < sizeof(probes) / sizeof(probes[0]))
			idx = probes[i];
		else
			idx = i == sizeof(probes) / sizeof(probes[0]) ? t->size - 1 : t->size / 2;
		if (t->size == 0 || idx >= t->size || (big && i % 4 != 0 && i < np))
			continue;
		if (kta_tlog_inclusion_proof(c, idx, got, KTA_MERKLE_MAX_PROOF, &gl, &err) !=
		    KTA_OK)
			fail_msg("size %" PRIu64 " index %" PRIu64 ": %s", t->size, idx, err.msg);
		assert_int_equal(kta_merkle_inclusion_proof(t->h, (const uint8_t(*)[32])t->leaves,
							    t->size, idx, want,
							    KTA_MERKLE_MAX_PROOF, &wl, &err),
				 KTA_OK);
		assert_int_equal(gl, wl);
		if (gl > 0)
			assert_memory_equal(got, want, gl * 32);
		assert_int_equal(kta_merkle_verify_inclusion(t->h, idx, t->size, t->leaves[idx],
							     (const uint8_t(*)[32])got, gl, t->root,
							     &err),
				 KTA_OK);
	}
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]) + 2; i++) {
		if (i < sizeof(probes) / sizeof(probes[0]))
			idx = probes[i];
		else
			idx = i == sizeof(probes) / sizeof(probes[0]) ? t->size : t->size / 3;
		if (idx > t->size || (big && i % 4 != 0 && i < np))
			continue;
		if (kta_tlog_consistency_proof(c, idx, got, KTA_MERKLE_MAX_PROOF, &gl, &err) !=
		    KTA_OK)
			fail_msg("size %" PRIu64 " old %" PRIu64 ": %s", t->size, idx, err.msg);
		assert_int_equal(kta_merkle_consistency_proof(t->h, (const uint8_t(*)[32])t->leaves,
							      t->size, idx, want,
							      KTA_MERKLE_MAX_PROOF, &wl, &err),
				 KTA_OK);
		assert_int_equal(gl, wl);
		if (gl > 0)
			assert_memory_equal(got, want, gl * 32);
		if (idx == 0)
			continue;
		assert_int_equal(
		    kta_merkle_root(t->h, (const uint8_t(*)[32])t->leaves, idx, old_root, &err),
		    KTA_OK);
		assert_int_equal(kta_merkle_verify_consistency(t->h, idx, t->size, old_root,
							       t->root, (const uint8_t(*)[32])got,
							       gl, &err),
				 KTA_OK);
	}
}

/* Replay callback: checks order and content, counts. */
struct replay {
	uint64_t next;
	uint64_t count;
	uint64_t stop_at; /* return VERIFY at this index (UINT64_MAX: never) */
};

static enum kta_status on_entry(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				const uint8_t *leaf_hash, struct kta_error *err)
{
	struct replay *rp = ctx;
	char e[32];
	size_t n = entry_bytes(index, e, sizeof(e));
	struct kta_hasher *h = NULL;
	uint8_t want[32];

	/* the client hands over the entry's true leaf hash */
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	kta_hash_leaf(h, entry, len, want);
	kta_hasher_free(h);
	assert_memory_equal(leaf_hash, want, 32);

	if (index == rp->stop_at)
		return kta_error_set(err, KTA_ERR_VERIFY, "stopped at %" PRIu64, index);
	assert_true(index == rp->next);
	assert_int_equal(len, n);
	assert_memory_equal(entry, e, n);
	rp->next++;
	rp->count++;
	return KTA_OK;
}

/* Counts entries without looking at them (for tampered logs). */
static enum kta_status on_count(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				const uint8_t *leaf_hash, struct kta_error *err)
{
	struct replay *rp = ctx;

	(void)index;
	(void)entry;
	(void)len;
	(void)leaf_hash;
	(void)err;
	rp->count++;
	return KTA_OK;
}

static void check_replay(struct tlog_fixture *t, struct kta_tlog *c, unsigned flags)
{
	struct kta_compact_range *cr = NULL;
	struct replay rp = {0, 0, UINT64_MAX};
	struct kta_error err;
	uint8_t root[32];

	assert_int_equal(kta_compact_range_new(&cr, &err), KTA_OK);
	if (kta_tlog_entries(c, 0, t->size, cr, flags, on_entry, &rp, &err) != KTA_OK)
		fail_msg("replay of size %" PRIu64 ": %s", t->size, err.msg);
	assert_true(rp.count == t->size);
	assert_true(kta_compact_range_size(cr) == t->size);
	assert_int_equal(kta_compact_range_root(cr, t->h, root, &err), KTA_OK);
	assert_memory_equal(root, t->root, 32);
	kta_compact_range_free(cr);
}

static void check_audit(struct tlog_fixture *t, struct kta_tlog *c)
{
	struct kta_tlog_audit st;
	struct replay rp = {0, 0, UINT64_MAX};
	struct kta_error err;
	uint64_t tiles = 0, n = t->size;

	if (kta_tlog_audit(c, on_entry, &rp, &st, &err) != KTA_OK)
		fail_msg("audit of size %" PRIu64 ": %s", t->size, err.msg);
	assert_true(st.entries == t->size);
	assert_true(rp.count == t->size);
	assert_true(st.bundles == (t->size + 255) / 256);
	for (; n > 0; n /= 256)
		tiles += (n + 255) / 256;
	assert_true(st.tiles == tiles);
}

static void one_size(uint64_t size)
{
	struct tlog_fixture *t = fixture_new(size, size);
	struct kta_tlog *c = client(t, NULL);

	check_proofs(t, c);
	check_replay(t, c, 0);
	check_replay(t, c, KTA_TLOG_UNAUTHENTICATED);
	check_audit(t, c);
	kta_tlog_free(c);
	fixture_free(t);
}

static void sizes_small(void **state)
{
	const uint64_t sizes[] = {0, 1, 2, 3, 7, 255, 256, 257, 511, 512, 513, 600};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		one_size(sizes[i]);
}

static void sizes_large(void **state)
{
	(void)state;
	one_size(65536);
	one_size(65537);
}

/* A tiny cache and one bundle per round still work (eviction, many rounds). */
static void tiny_cache(void **state)
{
	struct tlog_fixture *t = fixture_new(65537, 65537);
	struct kta_tlog_opts o;
	struct kta_tlog *c;

	(void)state;
	kta_tlog_opts_init(&o);
	o.cache_tiles = 1;
	o.prefetch = 1;
	c = client(t, &o);
	check_proofs(t, c);
	check_replay(t, c, 0);
	kta_tlog_free(c);
	fixture_free(t);
}

/* Node hashes, compact ranges and partial replays. */
static void hash_reader(void **state)
{
	struct tlog_fixture *t = fixture_new(70000, 70000);
	struct kta_tlog *c = client(t, NULL);
	struct kta_tlog_node nodes[] = {{0, 0},   {0, 69999}, {3, 8},    {8, 0},   {8, 272},
					{10, 67}, {16, 0},    {4, 4370}, {5, 2184}};
	uint8_t got[sizeof(nodes) / sizeof(nodes[0])][32], want[32];
	struct kta_compact_range *cr = NULL, *ref = NULL;
	struct replay rp = {1000, 0, UINT64_MAX};
	struct kta_error err;
	size_t i, n, m;
	uint8_t root[32];

	(void)state;
	if (kta_tlog_read_hashes(c, nodes, sizeof(nodes) / sizeof(nodes[0]), got, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		uint64_t span = (uint64_t)1 << nodes[i].height;

		assert_int_equal(
		    kta_merkle_root(t->h, (const uint8_t(*)[32])t->leaves + nodes[i].index * span,
				    span, want, &err),
		    KTA_OK);
		assert_memory_equal(got[i], want, 32);
	}
	/* Incomplete nodes and the empty call. */
	nodes[0].height = 4;
	nodes[0].index = 4375; /* [70000, 70016) is not in the tree */
	expect_err(kta_tlog_read_hashes(c, nodes, 1, got, &err), KTA_ERR_USAGE, &err, "complete");
	nodes[0].height = 64;
	nodes[0].index = 0;
	expect_err(kta_tlog_read_hashes(c, nodes, 1, got, &err), KTA_ERR_USAGE, &err, NULL);
	assert_int_equal(kta_tlog_read_hashes(c, nodes, 0, got, &err), KTA_OK);
	/* The compact range at 1000 from tiles, then a replay of 1000..70000. */
	assert_int_equal(kta_tlog_compact_range(c, 1000, &cr, &err), KTA_OK);
	assert_int_equal(kta_compact_range_new(&ref, &err), KTA_OK);
	for (i = 0; i < 1000; i++)
		assert_int_equal(kta_compact_range_append(ref, t->h, t->leaves[i], &err), KTA_OK);
	{
		const uint8_t(*a)[32] = kta_compact_range_hashes(cr, &n);
		const uint8_t(*b)[32] = kta_compact_range_hashes(ref, &m);

		assert_int_equal(n, m);
		assert_memory_equal(a, b, n * 32);
	}
	if (kta_tlog_entries(c, 1000, 70000, cr, 0, on_entry, &rp, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	assert_true(rp.count == 69000);
	kta_compact_range_free(cr);
	cr = NULL;
	/* A middle range without a compact range: no root check. */
	rp.next = 300;
	rp.count = 0;
	assert_int_equal(kta_tlog_entries(c, 300, 301, NULL, 0, on_entry, &rp, &err), KTA_OK);
	assert_true(rp.count == 1);
	/* A middle range with one: the caller compares with a smaller tree. */
	assert_int_equal(kta_tlog_compact_range(c, 255, &cr, &err), KTA_OK);
	rp.next = 255;
	rp.count = 0;
	assert_int_equal(kta_tlog_entries(c, 255, 513, cr, 0, on_entry, &rp, &err), KTA_OK);
	assert_int_equal(kta_compact_range_root(cr, t->h, root, &err), KTA_OK);
	assert_int_equal(kta_merkle_root(t->h, (const uint8_t(*)[32])t->leaves, 513, want, &err),
			 KTA_OK);
	assert_memory_equal(root, want, 32);
	/* Empty range at the end checks the root of the compact range. */
	kta_compact_range_free(cr);
	assert_int_equal(kta_tlog_compact_range(c, 70000, &cr, &err), KTA_OK);
	assert_int_equal(kta_tlog_entries(c, 70000, 70000, cr, 0, on_entry, &rp, &err), KTA_OK);
	kta_compact_range_free(cr);
	cr = NULL;
	/* Usage errors. */
	assert_int_equal(kta_tlog_compact_range(c, 70001, &cr, &err), KTA_ERR_USAGE);
	expect_err(kta_tlog_entries(c, 10, 9, NULL, 0, on_entry, &rp, &err), KTA_ERR_USAGE, &err,
		   NULL);
	expect_err(kta_tlog_entries(c, 0, 70001, NULL, 0, on_entry, &rp, &err), KTA_ERR_USAGE, &err,
		   NULL);
	expect_err(kta_tlog_entries(c, 0, 10, ref, 0, on_entry, &rp, &err), KTA_ERR_USAGE, &err,
		   "compact range");
	expect_err(kta_tlog_entries(c, 0, 10, NULL, KTA_TLOG_UNAUTHENTICATED, on_entry, &rp, &err),
		   KTA_ERR_USAGE, &err, NULL);
	expect_err(kta_tlog_entries(c, 0, 10, NULL, 0, NULL, &rp, &err), KTA_ERR_USAGE, &err, NULL);
	expect_err(kta_tlog_inclusion_proof(c, 70000, got, 64, &n, &err), KTA_ERR_USAGE, &err,
		   NULL);
	expect_err(kta_tlog_inclusion_proof(c, 5, got, 2, &n, &err), KTA_ERR_USAGE, &err, NULL);
	expect_err(kta_tlog_consistency_proof(c, 70001, got, 64, &n, &err), KTA_ERR_USAGE, &err,
		   NULL);
	kta_compact_range_free(ref);
	kta_tlog_free(c);
	fixture_free(t);
}

/* The callback's error stops the replay; the compact range holds what was delivered. */
static void callback_stops(void **state)
{
	struct tlog_fixture *t = fixture_new(600, 600);
	struct kta_tlog *c = client(t, NULL);
	struct kta_compact_range *cr = NULL;
	struct replay rp = {0, 0, 300};
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_compact_range_new(&cr, &err), KTA_OK);
	expect_err(kta_tlog_entries(c, 0, 600, cr, 0, on_entry, &rp, &err), KTA_ERR_VERIFY, &err,
		   "stopped at 300");
	assert_true(kta_compact_range_size(cr) == 300);
	rp.next = 0;
	rp.count = 0;
	rp.stop_at = 599;
	expect_err(kta_tlog_audit(c, on_entry, &rp, NULL, &err), KTA_ERR_VERIFY, &err,
		   "stopped at 599");
	kta_compact_range_free(cr);
	kta_tlog_free(c);
	fixture_free(t);
}

static void bad_urls_and_state(void **state)
{
	const char *bad[] = {
	    "ftp://example.com/", "example.com/log", "https://a/b?c=d",    "https://a/b#x",
	    "https://a b/",       "https://a/\x01",  "https://a/\xc3\xa9", ""};
	struct tlog_fixture *t = fixture_new(3, 3);
	struct kta_tlog *c = NULL;
	struct kta_tlog_opts o;
	struct kta_error err;
	uint8_t got[4][32];
	size_t i, n;
	char *longurl;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_err(kta_tlog_new(t->f, bad[i], NULL, &c, &err), KTA_ERR_USAGE, &err, NULL);
		assert_null(c);
	}
	longurl = malloc(KTA_TLOG_URL_MAX + 16);
	assert_non_null(longurl);
	memcpy(longurl, "https://", 8);
	memset(longurl + 8, 'a', KTA_TLOG_URL_MAX);
	longurl[KTA_TLOG_URL_MAX + 8] = '\0';
	expect_err(kta_tlog_new(t->f, longurl, NULL, &c, &err), KTA_ERR_USAGE, &err, "limit");
	free(longurl);
	kta_tlog_opts_init(&o);
	o.prefetch = 0;
	expect_err(kta_tlog_new(t->f, t->url, &o, &c, &err), KTA_ERR_USAGE, &err, NULL);
	kta_tlog_opts_init(&o);
	o.cache_tiles = KTA_TLOG_MAX_CACHE + 1;
	expect_err(kta_tlog_new(t->f, t->url, &o, &c, &err), KTA_ERR_USAGE, &err, NULL);
	/* Without a trailing '/', one is added. */
	t->url[strlen(t->url) - 1] = '\0';
	assert_int_equal(kta_tlog_new(t->f, t->url, NULL, &c, &err), KTA_OK);
	assert_int_equal(kta_tlog_url(c)[strlen(kta_tlog_url(c)) - 1], '/');
	/* No tree selected yet. */
	expect_err(kta_tlog_inclusion_proof(c, 0, got, 4, &n, &err), KTA_ERR_USAGE, &err,
		   "no tree");
	expect_err(kta_tlog_audit(c, NULL, NULL, NULL, &err), KTA_ERR_USAGE, &err, "no tree");
	kta_tlog_free(c);
	kta_tlog_free(NULL);
	fixture_free(t);
}

/* Checkpoint fetching: wrong key, forged root, missing, too large. */
static void checkpoint_policy(void **state)
{
	struct tlog_fixture *t = fixture_new(300, 300);
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	struct kta_skey *other = NULL;
	struct kta_vkey *other_vk = NULL;
	struct kta_tlog *c = NULL;
	struct kta_error err;
	uint8_t got[KTA_MERKLE_MAX_PROOF][32], bad_root[32], *big;
	size_t n;

	(void)state;
	assert_int_equal(kta_tlog_new(t->f, t->url, NULL, &c, &err), KTA_OK);
	assert_int_equal(kta_skey_generate(ORIGIN, KTA_KEY_ED25519, &other, &err), KTA_OK);
	assert_int_equal(kta_skey_vkey(other, &other_vk, &err), KTA_OK);
	memset(&p, 0, sizeof(p));
	p.log_key = other_vk;
	p.now = 1700000000;
	/* Same name, other key: the key ID differs. */
	expect_err(kta_tlog_fetch_checkpoint(c, &p, &res, NULL, NULL, &err), KTA_ERR_VERIFY, &err,
		   "checkpoint");
	assert_null(res.cp);
	/* A checkpoint signed by another key is rejected under the log's key. */
	write_checkpoint(t, other, t->size, t->root);
	p.log_key = t->vk;
	expect_err(kta_tlog_fetch_checkpoint(c, &p, &res, NULL, NULL, &err), KTA_ERR_VERIFY, &err,
		   NULL);
	/* Wrong origin. */
	write_checkpoint(t, t->sk, t->size, t->root);
	p.origin = "example.com/other";
	expect_err(kta_tlog_fetch_checkpoint(c, &p, &res, NULL, NULL, &err), KTA_ERR_VERIFY, &err,
		   NULL);
	p.origin = NULL;
	/* A properly signed head whose root the tiles do not give: the edge tiles are blamed. */
	memcpy(bad_root, t->root, 32);
	bad_root[0] ^= 1;
	write_checkpoint(t, t->sk, t->size, bad_root);
	assert_int_equal(kta_tlog_fetch_checkpoint(c, &p, &res, NULL, NULL, &err), KTA_OK);
	kta_tlog_set_tree(c, res.cp->size, res.cp->root);
	kta_checkpoint_result_free(&res);
	expect_err(kta_tlog_inclusion_proof(c, 3, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err, "tile/1/000.p/1");
	expect_err(kta_tlog_inclusion_proof(c, 3, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err, "tile/0/001.p/44");
	expect_err(kta_tlog_audit(c, NULL, NULL, NULL, &err), KTA_ERR_VERIFY, &err,
		   "do not hash to the signed root");
	/* Selecting the right tree again works (tiles were dropped). */
	kta_tlog_set_tree(c, t->size, t->root);
	assert_int_equal(kta_tlog_inclusion_proof(c, 3, got, KTA_MERKLE_MAX_PROOF, &n, &err),
			 KTA_OK);
	/* Too large, then missing. */
	big = malloc(KTA_TLOG_CHECKPOINT_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', KTA_TLOG_CHECKPOINT_MAX + 1);
	write_rel(t, "checkpoint", big, KTA_TLOG_CHECKPOINT_MAX + 1);
	free(big);
	expect_err(kta_tlog_fetch_checkpoint(c, &p, &res, NULL, NULL, &err), KTA_ERR_LIMIT, &err,
		   "limit");
	remove_rel(t, "checkpoint");
	expect_err(kta_tlog_fetch_checkpoint(c, &p, &res, NULL, NULL, &err), KTA_ERR_IO, &err,
		   "checkpoint");
	kta_skey_free(other);
	kta_vkey_free(other_vk);
	kta_tlog_free(c);
	fixture_free(t);
}

/* One byte flipped in a full level-0 tile, a level-1 tile and an edge tile. */
static void tampered_hash_tiles(void **state)
{
	struct tlog_fixture *t = fixture_new(65537, 65537);
	struct kta_tlog *c;
	struct kta_error err;
	uint8_t got[KTA_MERKLE_MAX_PROOF][32];
	size_t n;

	(void)state;
	/* Leaf 5's proof needs tile/0/000, authenticated by tile/1/000. */
	flip_byte(t, "tile/0/000", 200);
	c = client(t, NULL);
	expect_err(kta_tlog_inclusion_proof(c, 5, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err, "tile/0/000 does not match hash 0 of its parent tile");
	assert_true(strstr(err.msg, t->url) != NULL); /* the full URL */
	/* Other tiles still work; the bad one is not cached. */
	assert_int_equal(kta_tlog_inclusion_proof(c, 70 * 256, got, KTA_MERKLE_MAX_PROOF, &n, &err),
			 KTA_OK);
	expect_err(kta_tlog_inclusion_proof(c, 6, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err, "tile/0/000");
	expect_err(kta_tlog_audit(c, NULL, NULL, NULL, &err), KTA_ERR_VERIFY, &err,
		   "a served hash tile is wrong: entry 6 has leaf hash");
	assert_non_null(strstr(err.msg, "hash 6 of"));
	assert_non_null(strstr(err.msg, "tile/0/000 is"));
	{
		/* The replay authenticates bundle 0 against tile/1/000 only. */
		struct replay rp = {0, 0, UINT64_MAX};

		assert_int_equal(kta_tlog_entries(c, 0, 10, NULL, 0, on_entry, &rp, &err), KTA_OK);
	}
	flip_byte(t, "tile/0/000", 200);
	kta_tlog_free(c);
	/* tile/1/000 is authenticated by the edge tile tile/2/000.p/1. */
	flip_byte(t, "tile/1/000", 31);
	c = client(t, NULL);
	expect_err(kta_tlog_inclusion_proof(c, 5, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err,
		   "tile/1/000 does not match hash 0 of its parent tile "
		   "tile/2/000.p/1");
	expect_err(kta_tlog_audit(c, NULL, NULL, NULL, &err), KTA_ERR_VERIFY, &err, "hash 0 of");
	flip_byte(t, "tile/1/000", 31);
	kta_tlog_free(c);
	/* The edge tiles must give the signed root. */
	flip_byte(t, "tile/0/256.p/1", 0);
	c = client(t, NULL);
	expect_err(kta_tlog_inclusion_proof(c, 5, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err, "tile/0/256.p/1");
	assert_non_null(strstr(err.msg, "signed root"));
	expect_err(kta_tlog_consistency_proof(c, 17, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err, "tile/2/000.p/1");
	kta_tlog_free(c);
	fixture_free(t);
}

/* A changed entry: replay names the bundle and its range; audit blames the entries. */
static void tampered_bundle(void **state)
{
	struct tlog_fixture *t = fixture_new(600, 600);
	struct kta_compact_range *cr = NULL;
	struct replay rp = {0, 0, UINT64_MAX};
	struct kta_tlog_opts o;
	struct kta_tlog *c;
	struct kta_error err;

	(void)state;
	/* Entry 256 ("entry 256\n") starts bundle 1: make it "entry 257\n". */
	flip_byte(t, "tile/entries/001", 2 + 8);
	c = client(t, NULL);
	expect_err(kta_tlog_entries(c, 0, 600, NULL, 0, on_entry, &rp, &err), KTA_ERR_VERIFY, &err,
		   "tile/entries/001 (entries 256..511) does not match the signed tree");
	/* The round (bundles 0..2) is authenticated before any entry is delivered. */
	assert_true(rp.count == 0);
	kta_tlog_free(c);
	kta_tlog_opts_init(&o);
	o.prefetch = 1;
	c = client(t, &o);
	expect_err(kta_tlog_entries(c, 0, 600, NULL, 0, on_entry, &rp, &err), KTA_ERR_VERIFY, &err,
		   "tile/entries/001 (entries 256..511)");
	/* One bundle per round: bundle 0 was delivered, nothing of bundle 1. */
	assert_true(rp.count == 256);
	rp.count = 0;
	assert_int_equal(kta_compact_range_new(&cr, &err), KTA_OK);
	expect_err(kta_tlog_entries(c, 0, 600, cr, KTA_TLOG_UNAUTHENTICATED, on_count, &rp, &err),
		   KTA_ERR_VERIFY, &err, "do not hash to the signed root");
	kta_compact_range_free(cr);
	expect_err(kta_tlog_audit(c, NULL, NULL, NULL, &err), KTA_ERR_VERIFY, &err,
		   "first difference: entry 256 has leaf hash");
	assert_non_null(strstr(err.msg, "tile/0/001"));
	kta_tlog_free(c);
	fixture_free(t);
}

/* A changed partial bundle is caught against the edge tile. */
static void tampered_partial_bundle(void **state)
{
	struct tlog_fixture *t = fixture_new(513, 513);
	struct replay rp = {0, 0, UINT64_MAX};
	struct kta_tlog *c;
	struct kta_error err;

	(void)state;
	flip_byte(t, "tile/entries/002.p/1", 4);
	c = client(t, NULL);
	rp.next = 500;
	expect_err(kta_tlog_entries(c, 500, 513, NULL, 0, on_entry, &rp, &err), KTA_ERR_VERIFY,
		   &err, "tile/entries/002.p/1 (entries 512..512)");
	assert_true(rp.count == 0);
	kta_tlog_free(c);
	fixture_free(t);
}

/* Truncated or extended tiles and bundles are malformed, naming the file. */
static void truncated_objects(void **state)
{
	struct tlog_fixture *t = fixture_new(600, 600);
	struct replay rp = {0, 0, UINT64_MAX};
	struct kta_tlog *c = client(t, NULL);
	struct kta_error err;
	uint8_t got[KTA_MERKLE_MAX_PROOF][32];
	size_t n;

	(void)state;
	truncate_file(t, "tile/0/001", 1);
	expect_err(kta_tlog_inclusion_proof(c, 300, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_MALFORMED, &err, "tile/0/001");
	expect_err(kta_tlog_audit(c, NULL, NULL, NULL, &err), KTA_ERR_MALFORMED, &err,
		   "tile/0/001");
	truncate_file(t, "tile/0/002.p/88", 32);
	expect_err(kta_tlog_inclusion_proof(c, 3, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_MALFORMED, &err, "tile/0/002.p/88");
	kta_tlog_free(c);
	fixture_free(t);

	t = fixture_new(600, 600);
	c = client(t, NULL);
	truncate_file(t, "tile/entries/001", 3);
	expect_err(kta_tlog_entries(c, 0, 600, NULL, 0, on_entry, &rp, &err), KTA_ERR_MALFORMED,
		   &err, "tile/entries/001");
	expect_err(kta_tlog_audit(c, NULL, NULL, NULL, &err), KTA_ERR_MALFORMED, &err,
		   "tile/entries/001");
	{
		/* Trailing bytes after the last entry. */
		uint8_t extra[3] = {0, 1, 'x'};
		char path[256];
		FILE *fp;

		(void)snprintf(path, sizeof(path), "%s/tile/entries/002.p/88", t->dir);
		fp = fopen(path, "ab");
		assert_non_null(fp);
		assert_int_equal(fwrite(extra, 1, 3, fp), 3);
		assert_int_equal(fclose(fp), 0);
	}
	rp.next = 512;
	rp.count = 0;
	expect_err(kta_tlog_entries(c, 512, 600, NULL, 0, on_entry, &rp, &err), KTA_ERR_MALFORMED,
		   &err, "tile/entries/002.p/88");
	kta_tlog_free(c);
	fixture_free(t);
}

/* Missing tiles and bundles are I/O errors naming what is missing. */
static void missing_objects(void **state)
{
	struct tlog_fixture *t = fixture_new(600, 600);
	struct replay rp = {0, 0, UINT64_MAX};
	struct kta_tlog *c = client(t, NULL);
	struct kta_error err;
	uint8_t got[KTA_MERKLE_MAX_PROOF][32];
	size_t n;

	(void)state;
	remove_rel(t, "tile/0/001");
	expect_err(kta_tlog_inclusion_proof(c, 300, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_IO, &err, "tile/0/001");
	remove_rel(t, "tile/entries/000");
	expect_err(kta_tlog_entries(c, 0, 600, NULL, 0, on_entry, &rp, &err), KTA_ERR_IO, &err,
		   "tile/entries/000");
	/* A missing partial tile with no full tile either: both are named. */
	remove_rel(t, "tile/1/000.p/2");
	kta_tlog_set_tree(c, 0, t->root); /* drop the cached edge tiles */
	kta_tlog_set_tree(c, t->size, t->root);
	expect_err(kta_tlog_inclusion_proof(c, 3, got, KTA_MERKLE_MAX_PROOF, &n, &err), KTA_ERR_IO,
		   &err, "tile/1/000.p/2");
	assert_non_null(strstr(err.msg, "full tile"));
	assert_non_null(strstr(err.msg, "tile/1/000\""));
	kta_tlog_free(c);
	fixture_free(t);
}

/*
 * The log grew from 600 to 768 and deleted the partial tiles of 600 at level
 * 0 (tlog-tiles "Partial Tiles"): a client of the 600 checkpoint uses the
 * first hashes and entries of the full tiles.
 */
static void partial_replaced_by_full(void **state)
{
	struct tlog_fixture *t = fixture_new(600, 768);
	struct kta_tlog *c;
	struct kta_error err;
	uint8_t root768[32], got[KTA_MERKLE_MAX_PROOF][32];
	size_t n;

	(void)state;
	write_tiles(t, 768); /* adds tile/0/002, tile/entries/002, tile/1/000.p/3 */
	remove_rel(t, "tile/0/002.p/88");
	remove_rel(t, "tile/entries/002.p/88");
	c = client(t, NULL);
	check_proofs(t, c);
	check_replay(t, c, 0);
	check_audit(t, c);
	kta_tlog_free(c);
	/* When the level-1 partial tile is gone too, there is no full
	 * level-1 tile to fall back to (768 < 65536): both are named. */
	remove_rel(t, "tile/1/000.p/2");
	c = client(t, NULL);
	expect_err(kta_tlog_inclusion_proof(c, 599, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_IO, &err, "tile/1/000.p/2");
	assert_non_null(strstr(err.msg, "full tile"));
	kta_tlog_free(c);
	/* The full tile is used for the 768 checkpoint as it is. */
	assert_int_equal(kta_merkle_root(t->h, (const uint8_t(*)[32])t->leaves, 768, root768, &err),
			 KTA_OK);
	t->size = 768;
	memcpy(t->root, root768, 32);
	write_checkpoint(t, t->sk, 768, root768);
	c = client(t, NULL);
	check_proofs(t, c);
	check_audit(t, c);
	kta_tlog_free(c);
	fixture_free(t);
}

/* A full tile that replaces a partial one must still be well-formed and authentic. */
static void bad_full_fallback(void **state)
{
	struct tlog_fixture *t = fixture_new(600, 768);
	struct kta_tlog *c;
	struct kta_error err;
	uint8_t got[KTA_MERKLE_MAX_PROOF][32];
	size_t n;

	(void)state;
	write_tiles(t, 768);
	remove_rel(t, "tile/0/002.p/88");
	remove_rel(t, "tile/entries/002.p/88");
	truncate_file(t, "tile/0/002", 32);
	c = client(t, NULL);
	expect_err(kta_tlog_inclusion_proof(c, 3, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_MALFORMED, &err, "tile/0/002");
	kta_tlog_free(c);
	write_tiles(t, 768);
	flip_byte(t, "tile/0/002", 5); /* in the first 88 hashes: changes the root */
	c = client(t, NULL);
	expect_err(kta_tlog_inclusion_proof(c, 3, got, KTA_MERKLE_MAX_PROOF, &n, &err),
		   KTA_ERR_VERIFY, &err, "tile/0/002");
	kta_tlog_free(c);
	fixture_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sizes_small),
	    cmocka_unit_test(sizes_large),
	    cmocka_unit_test(tiny_cache),
	    cmocka_unit_test(hash_reader),
	    cmocka_unit_test(callback_stops),
	    cmocka_unit_test(bad_urls_and_state),
	    cmocka_unit_test(checkpoint_policy),
	    cmocka_unit_test(tampered_hash_tiles),
	    cmocka_unit_test(tampered_bundle),
	    cmocka_unit_test(tampered_partial_bundle),
	    cmocka_unit_test(truncated_objects),
	    cmocka_unit_test(missing_objects),
	    cmocka_unit_test(partial_replaced_by_full),
	    cmocka_unit_test(bad_full_fallback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
