/*
 * libFuzzer, differential: proofs computed from hash tiles (src/tlog.c,
 * kta_tlog_inclusion_proof / kta_tlog_consistency_proof /
 * kta_tlog_compact_range) against proofs computed from the leaf list
 * (kta_merkle_inclusion_proof / kta_merkle_consistency_proof /
 * kta_merkle_root). They must be byte-identical and verify (RFC 9162
 * 2.1.3, 2.1.4).
 *
 * The log: NLEAVES leaves, leaf i = SHA-256(0x00 || be64(i)), served as
 * tlog-tiles from a file:// directory written once per process (levels 0-2;
 * full tiles, every partial tile of the last index of each level, and every
 * partial width of the level-1 and level-2 tiles; the level-0 partial tiles
 * of earlier indices are missing, so the client falls back to the full tile
 * as tlog-tiles "Partial Tiles" allows). The input picks a tree size (any
 * prefix of the log), a leaf, an old size and a compact-range size, and may
 * damage one tile that tree uses (flip a byte, truncate, delete); the tile
 * files are restored after each input.
 *
 * Input: [mode 1][size 3][index 3][old 3][cut 3][level 1][tile 2][pos 3][kind 1]
 *   mode & 3: size class: 0 1..600, 1 1..16384, 3 1..4096, 2 65536..NLEAVES
 *   (level-2 tiles) when mode & 0x30 is 0, else 1..600; mode & 4: damage;
 *   mode & 8: pass err = NULL. The list side costs O(size) per input, so the
 *   large trees are one mode byte in sixteen.
 *
 * Invariants: undamaged, every call succeeds and matches the list; damaged,
 * a call either fails (VERIFY, MALFORMED, IO, whether err is NULL or not) or
 * returns exactly the list's answer: a tiles client never returns a wrong
 * proof.
 */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktaudit/compact.h"
#include "ktaudit/fetch.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/tile.h"
#include "ktaudit/tlog.h"

#include "fuzz_util.h"

/* Level 2 has one hash; level 0 ends in a partial tile of 77. */
#define NLEAVES (65536u + 3u * 256u + 77u)
#define NLEVELS 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t lv0[NLEAVES][32];
static uint8_t lv1[NLEAVES / 256][32];
static uint8_t lv2[NLEAVES / 65536][32];
static const uint8_t (*const levels[NLEVELS])[32] = {
    (const uint8_t (*)[32])lv0, (const uint8_t (*)[32])lv1, (const uint8_t (*)[32])lv2};
static const uint64_t counts[NLEVELS] = {NLEAVES, NLEAVES / 256, NLEAVES / 65536};

static char dir[64];
static char url[96];
static struct kta_fetcher *fetcher;
static struct kta_hasher *hasher;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	if (dir[0] != '\0')
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	kta_fetcher_free(fetcher);
	kta_hasher_free(hasher);
}

/* dir/rel as a file name; creates the parent directories. */
static void file_name(const char *rel, char *out, size_t cap)
{
	char *p;

	FUZZ_CHECK((size_t)snprintf(out, cap, "%s/%s", dir, rel) < cap);
	for (p = out + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(out, 0700) != 0)
			FUZZ_CHECK(access(out, F_OK) == 0);
		*p = '/';
	}
}

static void write_file(const char *name, const uint8_t *b, size_t n)
{
	FILE *fp = fopen(name, "wb");

	FUZZ_CHECK(fp != NULL);
	FUZZ_CHECK(n == 0 || fwrite(b, 1, n, fp) == n);
	FUZZ_CHECK(fclose(fp) == 0);
}

/* Writes tile (level, index) with `width` hashes (256 = full). */
static void write_tile(int level, uint64_t index, unsigned width)
{
	char rel[128], name[256];

	FUZZ_CHECK(kta_tile_path(level, index, width, rel, sizeof(rel), NULL) == KTA_OK);
	file_name(rel, name, sizeof(name));
	write_file(name, levels[level][index * 256], (size_t)width * 32);
}

static void init(void)
{
	struct kta_fetch_opts o;
	uint64_t i;
	int l;
	unsigned w;

	FUZZ_CHECK(kta_hasher_new(&hasher, NULL) == KTA_OK);
	for (i = 0; i < NLEAVES; i++) {
		uint8_t in[8];
		int b;

		for (b = 0; b < 8; b++)
			in[b] = (uint8_t)(i >> (56 - 8 * b));
		kta_hash_leaf(hasher, in, sizeof(in), lv0[i]);
	}
	/* Hash i of level L+1 is the root of the 256 hashes below it. */
	for (i = 0; i < counts[1]; i++)
		FUZZ_CHECK(kta_merkle_root(hasher, (const uint8_t(*)[32])lv0[i * 256], 256, lv1[i],
					   NULL) == KTA_OK);
	for (i = 0; i < counts[2]; i++)
		FUZZ_CHECK(kta_merkle_root(hasher, (const uint8_t(*)[32])lv1[i * 256], 256, lv2[i],
					   NULL) == KTA_OK);
	FUZZ_CHECK(!kta_hasher_failed(hasher));

	strcpy(dir, "/tmp/kta-fuzz-tiles-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	for (l = 0; l < NLEVELS; l++) {
		uint64_t full = counts[l] / 256;

		for (i = 0; i < full; i++)
			write_tile(l, i, 256);
		for (w = 1; w <= counts[l] % 256; w++)
			write_tile(l, full, w);
		if (l > 0)
			for (i = 0; i < full; i++)
				for (w = 1; w < 256; w++)
					write_tile(l, i, w);
	}
	FUZZ_CHECK((size_t)snprintf(url, sizeof(url), "file://%s/", dir) < sizeof(url));
	kta_fetch_opts_init(&o);
	o.schemes = "file";
	o.max_retries = 0;
	FUZZ_CHECK(kta_fetcher_new(&o, &fetcher, NULL) == KTA_OK);
}

/* A damaged tile file and what it held, to put back after the input. */
struct damage {
	char name[256];
	uint8_t orig[256 * 32];
	size_t len;
	int active;
};

/*
 * Damages the tile (level, tile) of the tree of n leaves as the log serves
 * it (the full tile when its partial file is not there): kind 0 flips byte
 * pos, 1 truncates to pos bytes, 2 deletes it, 3 appends a byte.
 */
static void damage(struct damage *d, uint64_t n, int level, uint64_t tile, uint64_t pos,
		   unsigned kind)
{
	char rel[128];
	uint64_t ntiles = (n >> (8 * level)) / 256 + ((n >> (8 * level)) % 256 != 0);
	unsigned width;
	uint8_t buf[256 * 32 + 1];
	FILE *fp;

	d->active = 0;
	if (ntiles == 0)
		return;
	tile %= ntiles;
	FUZZ_CHECK(kta_tile_width(level, tile, n, &width, NULL) == KTA_OK);
	FUZZ_CHECK(kta_tile_path(level, tile, width, rel, sizeof(rel), NULL) == KTA_OK);
	file_name(rel, d->name, sizeof(d->name));
	if (access(d->name, F_OK) != 0) {
		width = 256;
		FUZZ_CHECK(kta_tile_path(level, tile, width, rel, sizeof(rel), NULL) == KTA_OK);
		file_name(rel, d->name, sizeof(d->name));
	}
	d->len = (size_t)width * 32;
	memcpy(d->orig, levels[level][tile * 256], d->len);
	memcpy(buf, d->orig, d->len);
	d->active = 1;
	switch (kind % 4) {
	case 0:
		buf[pos % d->len] ^= (uint8_t)(1u << (pos % 8));
		write_file(d->name, buf, d->len);
		break;
	case 1:
		write_file(d->name, buf, (size_t)(pos % d->len));
		break;
	case 2:
		FUZZ_CHECK(remove(d->name) == 0);
		break;
	default:
		buf[d->len] = (uint8_t)pos;
		fp = fopen(d->name, "ab");
		FUZZ_CHECK(fp != NULL && fputc(buf[d->len], fp) != EOF && fclose(fp) == 0);
		break;
	}
}

static void restore(const struct damage *d)
{
	if (d->active)
		write_file(d->name, d->orig, d->len);
}

/* A tiles call under damage may fail, but only as a failure to verify or read. */
static void check_status(enum kta_status r, const struct kta_error *e, int damaged)
{
	if (r != KTA_OK &&
	    (!damaged || (r != KTA_ERR_VERIFY && r != KTA_ERR_MALFORMED && r != KTA_ERR_IO))) {
		fprintf(stderr, "status %d: %s\n", (int)r, e != NULL ? e->msg : "(err NULL)");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode = (unsigned)fuzz_take(&data, &size, 1);
	uint64_t v = fuzz_take(&data, &size, 3), n, index, old, cut;
	int level;
	uint64_t tile, pos;
	unsigned kind;
	uint8_t root[32], oldroot[32], r2[32];
	uint8_t tp[KTA_MERKLE_MAX_PROOF][32], lp[KTA_MERKLE_MAX_PROOF][32];
	size_t tl = 0, ll = 0;
	struct kta_tlog *c = NULL;
	struct kta_compact_range *cr = NULL;
	struct damage d;
	struct kta_error e;
	enum kta_status r;
	int damaged = (mode & 4) != 0;
	/* err may be NULL (error.h): the status must not depend on it. */
	struct kta_error *ep = (mode & 8) != 0 ? NULL : &e;

	if (fetcher == NULL)
		init();
	switch (mode & 3) {
	case 0:
		n = v % 600 + 1;
		break;
	case 1:
		n = v % 16384 + 1;
		break;
	case 2:
		if ((mode & 0x30) == 0)
			n = NLEAVES - v % (NLEAVES - 65536 + 1);
		else
			n = v % 600 + 1;
		break;
	default:
		n = v % 4096 + 1;
		break;
	}
	index = fuzz_take(&data, &size, 3) % n;
	old = fuzz_take(&data, &size, 3) % (n + 1);
	cut = fuzz_take(&data, &size, 3) % (n + 1);
	level = (int)(fuzz_take(&data, &size, 1) % NLEVELS);
	tile = fuzz_take(&data, &size, 2);
	pos = fuzz_take(&data, &size, 3);
	kind = (unsigned)fuzz_take(&data, &size, 1);

	FUZZ_CHECK(kta_merkle_root(hasher, (const uint8_t(*)[32])lv0, n, root, NULL) == KTA_OK);
	FUZZ_CHECK(kta_merkle_root(hasher, (const uint8_t(*)[32])lv0, old, oldroot, NULL) ==
		   KTA_OK);
	FUZZ_CHECK(kta_tlog_new(fetcher, url, NULL, &c, NULL) == KTA_OK);
	kta_tlog_set_tree(c, n, root);
	d.active = 0;
	if (damaged)
		damage(&d, n, level, tile, pos, kind);
	damaged = d.active;

	/* Inclusion (RFC 9162 2.1.3). */
	FUZZ_CHECK(kta_merkle_inclusion_proof(hasher, (const uint8_t(*)[32])lv0, n, index, lp,
					      KTA_MERKLE_MAX_PROOF, &ll, NULL) == KTA_OK);
	FUZZ_CHECK(ll == kta_merkle_inclusion_proof_len(index, n));
	FUZZ_CHECK(kta_merkle_verify_inclusion(hasher, index, n, lv0[index],
					       (const uint8_t(*)[32])lp, ll, root, NULL) == KTA_OK);
	r = kta_tlog_inclusion_proof(c, index, tp, KTA_MERKLE_MAX_PROOF, &tl, ep);
	check_status(r, ep, damaged);
	if (r == KTA_OK)
		FUZZ_CHECK(tl == ll && memcmp(tp, lp, ll * 32) == 0);

	/* Consistency (RFC 9162 2.1.4). */
	FUZZ_CHECK(kta_merkle_consistency_proof(hasher, (const uint8_t(*)[32])lv0, n, old, lp,
						KTA_MERKLE_MAX_PROOF, &ll, NULL) == KTA_OK);
	FUZZ_CHECK(ll == kta_merkle_consistency_proof_len(old, n));
	if (old > 0)
		FUZZ_CHECK(kta_merkle_verify_consistency(hasher, old, n, oldroot, root,
							 (const uint8_t(*)[32])lp, ll,
							 NULL) == KTA_OK);
	r = kta_tlog_consistency_proof(c, old, tp, KTA_MERKLE_MAX_PROOF, &tl, ep);
	check_status(r, ep, damaged);
	if (r == KTA_OK)
		FUZZ_CHECK(tl == ll && memcmp(tp, lp, ll * 32) == 0);

	/* The compact range of a prefix, from tiles: its root is the prefix's root. */
	r = kta_tlog_compact_range(c, cut, &cr, ep);
	check_status(r, ep, damaged);
	if (r == KTA_OK) {
		FUZZ_CHECK(kta_compact_range_size(cr) == cut);
		FUZZ_CHECK(kta_compact_range_root(cr, hasher, r2, NULL) == KTA_OK);
		FUZZ_CHECK(kta_merkle_root(hasher, (const uint8_t(*)[32])lv0, cut, oldroot, NULL) ==
			   KTA_OK);
		FUZZ_CHECK(memcmp(r2, oldroot, 32) == 0);
	}
	kta_compact_range_free(cr);
	kta_tlog_free(c);
	restore(&d);
	FUZZ_CHECK(!kta_hasher_failed(hasher));
	return 0;
}
