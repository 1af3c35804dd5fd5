/*
 * Benchmark: replay of a key directory (issue 9, figures 3 to 6).
 *
 *   bench_replay gen DIR N AUTH         writes a tlog-tiles directory of N
 *                                       keydir/v1 entries (AUTH=1: N/2 labels
 *                                       x 2 versions, every entry with one auth
 *                                       line; AUTH=0: N distinct labels) and
 *                                       DIR/bench-tree ("size\nhex root\n")
 *   bench_replay verify MODE URL        verify-only replay (entry check, leaf
 *                                       hash, compact range, root check) of
 *                                       the directory at URL (file:// or http://):
 *       MODE tiles  kta_tlog_entries, every bundle authenticated by the tiles,
 *                   kta_entry_validate per entry (one pass, no allocation)
 *       MODE tiles-parse  the same with kta_entry_parse + kta_entry_free
 *                   per entry (the path before kta_entry_validate)
 *       MODE tiles-none   the same with no entry check: the floor set by
 *                   fetching, bundle parsing and hashing
 *       MODE root   kta_tlog_entries unauthenticated, root check only
 *       MODE base   straightforward: one kta_fetch_get per bundle, one
 *                   EVP_Digest per hash (leaf and compact range), root check
 *   bench_replay audit MODE URL STATEDIR [THREADS|auto]  full audit replay
 *                                       (label index, version checks, auth,
 *                                       1000 tofu watches)
 *       MODE kta    the monitor's path: kta_tlog_entries (authenticated) +
 *                   kta_replay (THREADS verification threads, default 1;
 *                   auto: one per online CPU) + kta_state index and
 *                   watches, one transaction
 *   bench_replay authpool URL THREADS|auto ROUNDS  the replay of a directory of
 *                   signed entries into the memory index with THREADS
 *                   threads, alternating with OpenSSL's Ed25519 loop on as
 *                   many threads; prints the median ratio of the rounds
 *       MODE base   straightforward: parse, EVP_Digest per hash, auth lines
 *                   verified one by one, one SELECT and one SQLite upsert per
 *                   entry, a commit every 100,000 entries
 *
 * Every figure line gives entries/s, the SHA-256 bounds measured in the same
 * process just before, the ratio to the raw bound for the hashing the mode
 * does, and the peak RSS of the process. audit also measures OpenSSL's
 * Ed25519 rate just before the replay (one core per CPU-second; all threads
 * at once per wall second) and prints the replay's auth lines per second
 * against both.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "common.h"
#include "ed25519.h"
#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/fetch.h"
#include "ktaudit/hash.h"
#include "ktaudit/replay.h"
#include "ktaudit/state.h"
#include "ktaudit/tile.h"
#include "ktaudit/tlog.h"

#define NWATCH 1000u
#define BASE_TX 100000u

static void die(const char *what, const struct kta_error *e)
{
	fprintf(stderr, "bench_replay: %s: %s\n", what, e != NULL ? e->msg : "");
	exit(3);
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill_seed(uint64_t label, uint64_t version, uint8_t seed[32])
{
	uint64_t s = splitmix(label * 1000003u + version);
	int i;

	for (i = 0; i < 4; i++) {
		uint64_t v = splitmix(s + (uint64_t)i);

		memcpy(seed + 8 * i, &v, 8);
	}
}

static void label_name(uint64_t li, char out[64])
{
	snprintf(out, 64, "u%016" PRIx64 "@example.org", splitmix(li ^ 0x5555u));
}

static void mkdirs(const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		die("path too long", NULL);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];

			buf[i] = '\0';
			if (mkdir(buf, 0755) != 0 && errno != EEXIST)
				die(buf, NULL);
			buf[i] = c;
		}
	}
}

static void write_file(const char *dir, const char *rel, const uint8_t *data, size_t len)
{
	char path[4096];
	char *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	if ((f = fopen(path, "wb")) == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die(path, NULL);
}

/* Writes the tiles of one level (full and partial) of `n` hashes. */
static void write_level(const char *dir, int level, const uint8_t (*h)[32], uint64_t n)
{
	uint64_t t;
	char rel[KTA_TILE_PATH_MAX];

	for (t = 0; t * KTA_TILE_WIDTH < n; t++) {
		uint64_t w = n - t * KTA_TILE_WIDTH;

		if (w > KTA_TILE_WIDTH)
			w = KTA_TILE_WIDTH;
		if (kta_tile_path(level, t, (unsigned)w, rel, sizeof(rel), NULL) != KTA_OK)
			die("tile path", NULL);
		write_file(dir, rel, h[t * KTA_TILE_WIDTH], (size_t)w * 32);
	}
}

static int cmd_gen(const char *dir, uint64_t n, int auth)
{
	struct kta_hasher *h;
	struct kta_compact_range *cr;
	struct kta_error e;
	uint8_t(*lv)[32], root[32], *bundle;
	uint64_t i, nlabels = auth ? (n + 1) / 2 : n, cnt;
	size_t used = 0, total = 0;
	char rel[KTA_TILE_PATH_MAX], hex[65], tree[128];
	int level;

	if (kta_hasher_new(&h, &e) != KTA_OK || kta_compact_range_new(&cr, &e) != KTA_OK)
		die("init", &e);
	if ((lv = malloc((size_t)n * 32)) == NULL || (bundle = malloc(KTA_TILE_BUNDLE_MAX)) == NULL)
		die("out of memory", NULL);
	for (i = 0; i < n; i++) {
		struct kta_entry ent;
		struct kta_entry_key key;
		uint8_t seed[32], *raw = NULL, *signed_raw = NULL;
		size_t raw_len = 0;
		uint64_t li = i % nlabels, ver = i / nlabels + 1;
		char label[64], device[32];

		label_name(li, label);
		snprintf(device, sizeof(device), "phone-%06" PRIx64, li & 0xffffffu);
		fill_seed(li, ver, seed);
		memset(&key, 0, sizeof(key));
		key.alg = KTA_ENTRY_ALG_ED25519;
		key.device = device;
		if (auth) {
			if (kta_ed25519_public(seed, key.pub, &e) != KTA_OK)
				die("public key", &e);
		} else {
			memcpy(key.pub, seed, 32); /* never verified: any 32 bytes */
		}
		memset(&ent, 0, sizeof(ent));
		ent.label = label;
		ent.version = ver;
		ent.time = 1700000000u + i;
		ent.keys = &key;
		ent.nkeys = 1;
		if (kta_entry_serialize(&ent, &raw, &raw_len, &e) != KTA_OK)
			die("serialize", &e);
		if (auth) {
			/* v1 self-signed by its own key, v2 by the v1 key (owner). */
			if (ver > 1)
				fill_seed(li, ver - 1, seed);
			if (kta_entry_sign(raw, raw_len, seed, &signed_raw, &raw_len, &e) != KTA_OK)
				die("sign", &e);
			free(raw);
			raw = signed_raw;
		}
		kta_hash_leaf(h, raw, raw_len, lv[i]);
		if (kta_compact_range_append(cr, h, lv[i], &e) != KTA_OK)
			die("append", &e);
		if (kta_tile_bundle_append(bundle, KTA_TILE_BUNDLE_MAX, &used, raw, raw_len, &e) !=
		    KTA_OK)
			die("bundle", &e);
		total += raw_len;
		free(raw);
		if ((i + 1) % KTA_TILE_WIDTH == 0 || i + 1 == n) {
			unsigned w = (unsigned)(i % KTA_TILE_WIDTH) + 1;

			if (kta_tile_entries_path(i / KTA_TILE_WIDTH, w, rel, sizeof(rel), NULL) !=
			    KTA_OK)
				die("bundle path", NULL);
			write_file(dir, rel, bundle, used);
			used = 0;
		}
	}
	/* Hash tiles: level L+1 hashes are the roots of full level-L tiles. */
	cnt = n;
	for (level = 0; cnt > 0; level++) {
		uint64_t t;

		write_level(dir, level, (const uint8_t(*)[32])lv, cnt);
		for (t = 0; t < cnt / KTA_TILE_WIDTH; t++) {
			uint8_t tmp[KTA_TILE_WIDTH][32];
			unsigned w;

			memcpy(tmp, lv[t * KTA_TILE_WIDTH], sizeof(tmp));
			for (w = KTA_TILE_WIDTH; w > 1; w /= 2) {
				unsigned j;

				for (j = 0; j < w / 2; j++)
					kta_hash_node(h, tmp[2 * j], tmp[2 * j + 1], tmp[j]);
			}
			memcpy(lv[t], tmp[0], 32);
		}
		cnt /= KTA_TILE_WIDTH;
	}
	if (kta_compact_range_root(cr, h, root, &e) != KTA_OK)
		die("root", &e);
	kta_hex_encode(root, 32, hex);
	snprintf(tree, sizeof(tree), "%" PRIu64 "\n%s\n", n, hex);
	write_file(dir, "bench-tree", (const uint8_t *)tree, strlen(tree));
	printf("gen: %" PRIu64 " entries (%s), %.1f bytes/entry on average, in %s\n", n,
	       auth ? "auth line on every entry" : "no auth lines", (double)total / (double)n, dir);
	free(lv);
	free(bundle);
	kta_compact_range_free(cr);
	kta_hasher_free(h);
	return 0;
}

/* --- common to verify and audit ------------------------------------------ */

struct run {
	struct kta_fetcher *f;
	struct kta_tlog *c;
	struct kta_hasher *h;
	uint64_t size;
	uint8_t root[32];
	const char *url;
	/* counters */
	uint64_t entries, leaf_blocks, bytes, findings, auths;
	/* audit */
	struct kta_replay *rp;
};

static void run_open(struct run *r, const char *url)
{
	struct kta_fetch_opts fo;
	struct kta_tlog_opts to;
	struct kta_error e;
	char u[2048];
	uint8_t *body = NULL;
	size_t len = 0;
	char *nl;

	memset(r, 0, sizeof(*r));
	r->url = url;
	kta_fetch_opts_init(&fo);
	fo.schemes = "http,file";
	if (kta_fetcher_new(&fo, &r->f, &e) != KTA_OK || kta_hasher_new(&r->h, &e) != KTA_OK)
		die("init", &e);
	kta_tlog_opts_init(&to);
	to.prefetch = 8; /* as the monitor */
	if (kta_tlog_new(r->f, url, &to, &r->c, &e) != KTA_OK)
		die("tlog", &e);
	snprintf(u, sizeof(u), "%sbench-tree", kta_tlog_url(r->c));
	if (kta_fetch_get(r->f, u, &body, &len, NULL, &e) != KTA_OK)
		die(u, &e);
	nl = strchr((char *)body, '\n');
	if (nl == NULL ||
	    kta_parse_u64((const char *)body, (size_t)(nl - (char *)body), &r->size, NULL) !=
		KTA_OK ||
	    kta_hex_decode(nl + 1, 64, r->root, 32) != KTA_OK)
		die("bench-tree", &e);
	free(body);
	kta_tlog_set_tree(r->c, r->size, r->root);
}

static void run_close(struct run *r)
{
	kta_tlog_free(r->c);
	kta_fetcher_free(r->f);
	kta_hasher_free(r->h);
}

/* Auth lines of a valid entry: lines that start with "auth ". */
static uint64_t count_auths(const uint8_t *d, size_t len)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i + 5 < len; i++)
		if ((i == 0 || d[i - 1] == '\n') && memcmp(d + i, "auth ", 5) == 0)
			n++;
	return n;
}

static void count_entry(struct run *r, size_t len)
{
	r->entries++;
	r->bytes += len;
	r->leaf_blocks += (1 + len + 9 + 63) / 64;
}

/*
 * Prints one figure. nodes: node hashes per entry the mode does besides the
 * leaf hash: 1 (the compact range; with tile authentication, the bundle's
 * 255 node hashes feed the compact range as one subtree, 256/256).
 */
static void report(const char *name, const struct run *r, double secs, double cpu, double nodes,
		   const struct bench_bounds *b)
{
	double rate = (double)r->entries / secs, crate = (double)r->entries / cpu;
	double blocks = (double)r->leaf_blocks / (double)r->entries + 2 * nodes;
	double bound = b->raw / blocks;

	printf("%-34s %10.0f entries per CPU-second  (%" PRIu64 " entries, %.2f CPU-s, "
	       "%.0f B/entry)\n",
	       name, crate, r->entries, cpu, (double)r->bytes / (double)r->entries);
	printf("  wall: %.2f s, %.0f entries/s (lower when waiting for I/O or the shared "
	       "cores)\n",
	       secs, rate);
	bench_bounds_print(b);
	printf("  SHA-256 work %.2f blocks/entry: raw bound %.0f entries/s, ratio %.2f;"
	       " EVP-node bound %.0f entries/s\n",
	       blocks, bound, crate / bound, b->evp / (blocks / 2));
	printf("  peak RSS %.1f MiB\n", bench_peak_rss_mib());
}

/* --- verify-only ----------------------------------------------------------- */

/* The verify-only check of one entry: kta_entry_validate (one pass, no
 * allocation); the leaf hash came from kta_tlog_entries. */
static enum kta_status validate_only(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				     const uint8_t *leaf_hash, struct kta_error *err)
{
	struct run *r = ctx;
	enum kta_status st;

	(void)index;
	(void)leaf_hash;
	if ((st = kta_entry_validate(entry, len, err)) != KTA_OK)
		return st;
	count_entry(r, len);
	return KTA_OK;
}

/* No check at all: the floor set by fetching, bundle parsing and hashing. */
static enum kta_status count_only(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				  const uint8_t *leaf_hash, struct kta_error *err)
{
	(void)index;
	(void)entry;
	(void)leaf_hash;
	(void)err;
	count_entry(ctx, len);
	return KTA_OK;
}

/* The same with the full parser (kta_entry_parse + kta_entry_free), as
 * before kta_entry_validate existed. */
static enum kta_status parse_only(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				  const uint8_t *leaf_hash, struct kta_error *err)
{
	struct run *r = ctx;
	struct kta_entry *e = NULL;
	enum kta_status st;

	(void)index;
	(void)leaf_hash;
	if ((st = kta_entry_parse(entry, len, &e, err)) != KTA_OK)
		return st;
	kta_entry_free(e);
	count_entry(r, len);
	return KTA_OK;
}

/* Baseline hashing: one EVP_Digest call per hash. */
static void evp_hash(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32])
{
	uint8_t buf[1 + 64 + KTA_ENTRY_MAX_SIZE];

	memcpy(buf, a, alen);
	memcpy(buf + alen, b, blen);
	if (EVP_Digest(buf, alen + blen, out, NULL, EVP_sha256(), NULL) != 1)
		abort();
}

/* Baseline compact range: stack of subtree roots, EVP_Digest per node. */
struct base_cr {
	uint8_t st[64][32];
	uint64_t size;
};

static void base_cr_append(struct base_cr *c, const uint8_t leaf[32])
{
	static const uint8_t one = 1;
	uint8_t cur[32], two[64];
	int n = __builtin_popcountll(c->size);
	uint64_t s = c->size;

	memcpy(cur, leaf, 32);
	while (s & 1) {
		memcpy(two, c->st[n - 1], 32);
		memcpy(two + 32, cur, 32);
		evp_hash(&one, 1, two, 64, cur);
		n--;
		s >>= 1;
	}
	memcpy(c->st[n], cur, 32);
	c->size++;
}

static void base_cr_root(const struct base_cr *c, uint8_t out[32])
{
	static const uint8_t one = 1;
	int n = __builtin_popcountll(c->size), i;
	uint8_t two[64];

	memcpy(out, c->st[n - 1], 32);
	for (i = n - 2; i >= 0; i--) {
		memcpy(two, c->st[i], 32);
		memcpy(two + 32, out, 32);
		evp_hash(&one, 1, two, 64, out);
	}
}

/*
 * Baseline iteration: bundles fetched one by one, each entry handed to fn
 * with its EVP leaf hash; the compact range and the root check done with
 * EVP_Digest.
 */
static void base_iterate(struct run *r, void (*fn)(struct run *r, uint64_t i, const uint8_t *d,
						   size_t len, const uint8_t lh[32]))
{
	static const uint8_t zero = 0;
	struct base_cr *cr = calloc(1, sizeof(*cr));
	uint64_t b, idx = 0;
	uint8_t root[32];
	struct kta_error e;

	if (cr == NULL)
		die("out of memory", NULL);
	for (b = 0; b * KTA_TILE_WIDTH < r->size; b++) {
		char rel[KTA_TILE_PATH_MAX], u[2200];
		uint64_t w = r->size - b * KTA_TILE_WIDTH;
		struct kta_tile_bundle tb;
		struct kta_tile_bundle_iter it;
		struct kta_tile_entry te;
		uint8_t *body = NULL;
		size_t len = 0;

		if (w > KTA_TILE_WIDTH)
			w = KTA_TILE_WIDTH;
		if (kta_tile_entries_path(b, (unsigned)w, rel, sizeof(rel), &e) != KTA_OK)
			die("path", &e);
		snprintf(u, sizeof(u), "%s%s", kta_tlog_url(r->c), rel);
		if (kta_fetch_get(r->f, u, &body, &len, NULL, &e) != KTA_OK ||
		    kta_tile_parse_bundle(body, len, (unsigned)w, &tb, &e) != KTA_OK)
			die(u, &e);
		kta_tile_bundle_iter_init(&it, &tb);
		while (kta_tile_bundle_next(&it, &te)) {
			uint8_t lh[32];

			evp_hash(&zero, 1, te.data, te.len, lh);
			fn(r, idx++, te.data, te.len, lh);
			base_cr_append(cr, lh);
		}
		free(body);
	}
	base_cr_root(cr, root);
	if (memcmp(root, r->root, 32) != 0)
		die("baseline: root mismatch", NULL);
	free(cr);
}

static void base_parse(struct run *r, uint64_t i, const uint8_t *d, size_t len,
		       const uint8_t lh[32])
{
	struct kta_entry *e = NULL;
	struct kta_error err;

	(void)i;
	(void)lh;
	if (kta_entry_parse(d, len, &e, &err) != KTA_OK)
		die("parse", &err);
	kta_entry_free(e);
	count_entry(r, len);
}

/* Seconds per bound measurement: KTA_BENCH_PROFILE=1 shortens them so that
 * a profile of the run is a profile of the replay. */
static double bound_secs(void)
{
	return getenv("KTA_BENCH_PROFILE") != NULL ? 0.01 : 0.3;
}

static int cmd_verify(const char *mode, const char *url)
{
	struct bench_bounds b;
	struct run r;
	struct kta_error e;
	struct kta_compact_range *cr = NULL;
	double t0, t1, c0, nodes = 1;
	char name[64];

	bench_bounds_measure(&b, bound_secs());
	run_open(&r, url);
	t0 = bench_now();
	c0 = bench_cpu_seconds();
	if (strcmp(mode, "base") == 0) {
		base_iterate(&r, base_parse);
	} else {
		unsigned flags = 0;
		enum kta_status (*fn)(void *, uint64_t, const uint8_t *, size_t, const uint8_t *,
				      struct kta_error *) = validate_only;

		if (strcmp(mode, "root") == 0)
			flags = KTA_TLOG_UNAUTHENTICATED;
		else if (strcmp(mode, "tiles-parse") == 0)
			fn = parse_only;
		else if (strcmp(mode, "tiles-none") == 0)
			fn = count_only;
		else if (strcmp(mode, "tiles") != 0)
			die("mode: tiles, tiles-parse, root or base", NULL);
		if (kta_compact_range_new(&cr, &e) != KTA_OK ||
		    kta_tlog_entries(r.c, 0, r.size, cr, flags, fn, &r, &e) != KTA_OK)
			die("verify", &e);
	}
	t1 = bench_now();
	snprintf(name, sizeof(name), "verify-only [%s] %.9s", mode, url);
	report(name, &r, t1 - t0, bench_cpu_seconds() - c0, nodes, &b);
	kta_compact_range_free(cr);
	run_close(&r);
	return 0;
}

/* --- full audit ------------------------------------------------------------ */

static enum kta_status count_alert(void *ctx, const struct kta_alert *a, struct kta_error *err)
{
	struct run *r = ctx;

	(void)a;
	(void)err;
	r->findings++;
	return KTA_OK;
}

static enum kta_status replay_one(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				  const uint8_t *leaf_hash, struct kta_error *err)
{
	struct run *r = ctx;
	enum kta_status st;

	if ((st = kta_replay_entry(r->rp, index, entry, len, leaf_hash, err)) != KTA_OK)
		return st;
	count_entry(r, len);
	r->auths += count_auths(entry, len);
	return KTA_OK;
}

/* Setup (state, 1000 tofu watches, each in its own transaction) is not timed. */
static void audit_kta(struct run *r, const char *statedir, unsigned threads, double *t0, double *c0)
{
	struct kta_state *st = NULL;
	struct kta_state_index *ix = NULL;
	struct kta_state_watches *ws = NULL;
	struct kta_replay_config cfg;
	struct kta_compact_range *cr = NULL;
	struct kta_error e;
	uint64_t i;
	char label[64];

	if (kta_state_open(statedir, &st, &e) != KTA_OK)
		die("state", &e);
	for (i = 0; i < NWATCH; i++) {
		label_name(i * 37, label);
		if (kta_state_watch_add(st, "bench", label, KTA_WATCH_TOFU, NULL, 0, 0, &e) !=
		    KTA_OK)
			die("watch", &e);
	}
	*t0 = bench_now();
	*c0 = bench_cpu_seconds();
	if (kta_state_begin(st, &e) != KTA_OK ||
	    kta_state_index_new(st, "bench", &ix, &e) != KTA_OK ||
	    kta_state_watches_new(st, "bench", &ws, &e) != KTA_OK ||
	    kta_compact_range_new(&cr, &e) != KTA_OK)
		die("state", &e);
	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "bench";
	cfg.index = kta_state_index_ops(ix);
	cfg.watches = kta_state_watches_ops(ws);
	cfg.emit = count_alert;
	cfg.emit_ctx = r;
	cfg.threads = threads;
	if (kta_replay_new(&cfg, &r->rp, &e) != KTA_OK ||
	    kta_tlog_entries(r->c, 0, r->size, cr, 0, replay_one, r, &e) != KTA_OK ||
	    kta_replay_flush(r->rp, &e) != KTA_OK ||
	    kta_state_log_put(st, "bench", "note", 4, r->size, r->root, cr, 0, &e) != KTA_OK ||
	    kta_state_commit(st, &e) != KTA_OK)
		die("audit", &e);
	kta_replay_free(r->rp);
	kta_state_index_free(ix);
	kta_state_watches_free(ws);
	kta_compact_range_free(cr);
	kta_state_close(st);
}

struct base_db {
	sqlite3 *db;
	sqlite3_stmt *get, *put;
	uint64_t in_tx;
};

static struct base_db bdb;

static void sql(const char *s)
{
	char *msg = NULL;

	if (sqlite3_exec(bdb.db, s, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench_replay: sqlite: %s: %s\n", s, msg);
		exit(3);
	}
}

/* The straightforward full audit of one entry. */
static void base_audit(struct run *r, uint64_t i, const uint8_t *d, size_t len,
		       const uint8_t lh[32])
{
	struct kta_entry *e = NULL;
	struct kta_error err;
	uint64_t cur = 0;
	size_t k;
	uint8_t keys[34 + KTA_DEVICE_MAX_LEN];
	size_t dl;

	if (kta_entry_parse(d, len, &e, &err) != KTA_OK)
		die("parse", &err);
	sqlite3_bind_text(bdb.get, 1, e->label, -1, SQLITE_STATIC);
	if (sqlite3_step(bdb.get) == SQLITE_ROW)
		cur = (uint64_t)sqlite3_column_int64(bdb.get, 0);
	sqlite3_reset(bdb.get);
	if (e->version != cur + 1)
		r->findings++;
	for (k = 0; k < e->nauths; k++)
		if (kta_entry_auth_verify(e, d, len, k, &err) != KTA_OK)
			r->findings++;
	dl = strlen(e->keys[0].device);
	keys[0] = (uint8_t)e->keys[0].alg;
	memcpy(keys + 1, e->keys[0].pub, 32);
	keys[33] = (uint8_t)dl;
	memcpy(keys + 34, e->keys[0].device, dl);
	sqlite3_bind_text(bdb.put, 1, e->label, -1, SQLITE_STATIC);
	sqlite3_bind_int64(bdb.put, 2, (sqlite3_int64)e->version);
	sqlite3_bind_int64(bdb.put, 3, (sqlite3_int64)i);
	sqlite3_bind_blob(bdb.put, 4, lh, 32, SQLITE_STATIC);
	sqlite3_bind_blob(bdb.put, 5, keys, (int)(34 + dl), SQLITE_STATIC);
	if (sqlite3_step(bdb.put) != SQLITE_DONE)
		die("upsert", NULL);
	sqlite3_reset(bdb.put);
	kta_entry_free(e);
	count_entry(r, len);
	r->auths += count_auths(d, len);
	if (++bdb.in_tx == BASE_TX) {
		sql("COMMIT; BEGIN");
		bdb.in_tx = 0;
	}
}

static void audit_base(struct run *r, const char *statedir)
{
	char path[4096];

	mkdirs(statedir);
	snprintf(path, sizeof(path), "%s/base.db", statedir);
	if (sqlite3_open(path, &bdb.db) != SQLITE_OK)
		die("sqlite open", NULL);
	sql("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    "CREATE TABLE labels(label TEXT PRIMARY KEY, version INTEGER, leaf_index INTEGER,"
	    " entry_hash BLOB, keys BLOB) WITHOUT ROWID; BEGIN");
	if (sqlite3_prepare_v2(bdb.db, "SELECT version FROM labels WHERE label = ?1", -1, &bdb.get,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(bdb.db,
			       "INSERT INTO labels VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(label) "
			       "DO UPDATE SET version = excluded.version, leaf_index = "
			       "excluded.leaf_index, entry_hash = excluded.entry_hash, keys = "
			       "excluded.keys",
			       -1, &bdb.put, NULL) != SQLITE_OK)
		die("prepare", NULL);
	base_iterate(r, base_audit);
	sql("COMMIT");
	sqlite3_finalize(bdb.get);
	sqlite3_finalize(bdb.put);
	sqlite3_close(bdb.db);
}

/* --- Ed25519 bounds (figure 4 with auth lines) ------------------------------ */

struct ed_ctx {
	uint8_t pub[32], sig[64], msg[220]; /* about the signed part of a bench entry */
	EVP_PKEY *pk;
	EVP_MD_CTX *mctx;
	struct kta_ed25519_verifier *v;
};

static void ed_init(struct ed_ctx *c)
{
	uint8_t seed[32];
	struct kta_error e;

	memset(c, 0, sizeof(*c));
	memset(c->msg, 0x5a, sizeof(c->msg));
	memset(seed, 7, sizeof(seed));
	if (kta_ed25519_public(seed, c->pub, &e) != KTA_OK ||
	    kta_ed25519_sign(seed, c->msg, sizeof(c->msg), c->sig, &e) != KTA_OK ||
	    kta_ed25519_verifier_new(&c->v, &e) != KTA_OK)
		die("ed25519", &e);
	c->pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, c->pub, 32);
	c->mctx = EVP_MD_CTX_new();
	if (c->pk == NULL || c->mctx == NULL ||
	    EVP_DigestVerifyInit(c->mctx, NULL, NULL, NULL, c->pk) != 1)
		die("ed25519: OpenSSL", NULL);
}

static void ed_free(struct ed_ctx *c)
{
	kta_ed25519_verifier_free(c->v);
	EVP_MD_CTX_free(c->mctx);
	EVP_PKEY_free(c->pk);
}

/* kta_ed25519_verify: a key and a context built per call (before issue 9). */
static void ed_verify_percall(void *arg)
{
	struct ed_ctx *c = arg;

	if (kta_ed25519_verify(c->pub, c->msg, sizeof(c->msg), c->sig) != KTA_OK)
		abort();
}

/* OpenSSL alone: key and context set up once, as `openssl speed ed25519`. */
static void ed_verify_openssl(void *arg)
{
	struct ed_ctx *c = arg;

	if (EVP_DigestVerify(c->mctx, c->sig, 64, c->msg, sizeof(c->msg)) != 1)
		abort();
}

struct ed_thread {
	pthread_t t;
	double secs;
	unsigned long n;
};

static void *ed_thread_main(void *arg)
{
	struct ed_thread *t = arg;
	struct ed_ctx c;
	double t0 = bench_now();

	ed_init(&c);
	do {
		int i;

		for (i = 0; i < 100; i++)
			ed_verify_openssl(&c);
		t->n += 100;
	} while (bench_now() - t0 < t->secs);
	ed_free(&c);
	return NULL;
}

/* OpenSSL's verifications per wall second on `threads` threads at once (the
 * in-process `openssl speed -multi`), measured for `secs`. */
static double ed25519_multi(unsigned threads, double secs)
{
	struct ed_thread t[KTA_REPLAY_THREADS_MAX];
	unsigned long n = 0;
	double t0 = bench_now();
	unsigned i;

	for (i = 0; i < threads; i++) {
		t[i].secs = secs;
		t[i].n = 0;
		if (pthread_create(&t[i].t, NULL, ed_thread_main, &t[i]) != 0)
			die("pthread_create", NULL);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i].t, NULL);
		n += t[i].n;
	}
	return (double)n / (bench_now() - t0);
}

static int cmd_audit(const char *mode, const char *url, const char *statedir, unsigned threads)
{
	struct bench_bounds b;
	struct run r;
	struct ed_ctx ec;
	double t0, t1, c0, ed_old, ed_one, ed_all, ed_after, nodes = 1, wall, cpu;
	char name[64];
	unsigned nt = threads == KTA_REPLAY_THREADS_AUTO ? kta_replay_threads_online() : threads;

	bench_bounds_measure(&b, 0.3);
	run_open(&r, url);
	if (strcmp(mode, "kta") != 0 && strcmp(mode, "base") != 0)
		die("mode: kta or base", NULL);
	/* The Ed25519 bounds, just before the replay. */
	ed_init(&ec);
	ed_old = bench_rate(ed_verify_percall, &ec, 0.3);
	ed_one = bench_rate(ed_verify_openssl, &ec, 0.3);
	ed_free(&ec);
	ed_all = ed25519_multi(nt, 1.0);
	t0 = bench_now();
	c0 = bench_cpu_seconds();
	if (strcmp(mode, "kta") == 0)
		audit_kta(&r, statedir, threads, &t0, &c0);
	else
		audit_base(&r, statedir);
	t1 = bench_now();
	wall = t1 - t0;
	cpu = bench_cpu_seconds() - c0;
	/* The shared cores' load drifts: the all-thread bound is the mean of a
	 * measurement just before and one just after the replay. */
	ed_after = ed25519_multi(nt, 1.0);
	ed_all = (ed_all + ed_after) / 2;
	if (strcmp(mode, "kta") == 0)
		snprintf(name, sizeof(name), "full audit [kta, %u thread%s]", nt,
			 nt > 1 ? "s" : "");
	else
		snprintf(name, sizeof(name), "full audit [base]");
	report(name, &r, wall, cpu, nodes, &b);
	printf("  findings %" PRIu64 "\n", r.findings);
	if (r.auths == 0) {
		run_close(&r);
		return 0;
	}
	printf("  Ed25519 bounds (this run): OpenSSL one core %.0f verifications per CPU-second"
	       " (kta_ed25519_verify, key and context per call: %.0f); OpenSSL on %u threads "
	       "at once %.0f per wall second (mean of %.0f before and %.0f after)\n",
	       ed_one, ed_old, nt, ed_all, 2 * ed_all - ed_after, ed_after);
	printf("  auth lines per wall second %.0f = %.2f of OpenSSL on %u threads; per CPU-second "
	       "%.0f = %.2f of one core\n",
	       (double)r.auths / wall, (double)r.auths / wall / ed_all, nt, (double)r.auths / cpu,
	       (double)r.auths / cpu / ed_one);
	run_close(&r);
	return 0;
}

/* --- authpool: the replay's pool against OpenSSL, alternating -------------- */

struct loaded {
	uint8_t *data; /* all entries, back to back */
	size_t *off, *len;
	uint64_t n, cap_n;
	size_t used, cap;
};

static enum kta_status load_one(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				const uint8_t *leaf_hash, struct kta_error *err)
{
	struct loaded *l = ctx;

	(void)index;
	(void)leaf_hash;
	(void)err;
	if (l->used + len > l->cap) {
		l->cap = 2 * (l->used + len);
		if ((l->data = realloc(l->data, l->cap)) == NULL)
			die("out of memory", NULL);
	}
	if (l->n == l->cap_n) {
		l->cap_n = l->cap_n ? 2 * l->cap_n : 1024;
		if ((l->off = realloc(l->off, l->cap_n * sizeof(*l->off))) == NULL ||
		    (l->len = realloc(l->len, l->cap_n * sizeof(*l->len))) == NULL)
			die("out of memory", NULL);
	}
	memcpy(l->data + l->used, entry, len);
	l->off[l->n] = l->used;
	l->len[l->n++] = len;
	l->used += len;
	return KTA_OK;
}

static enum kta_status no_alert(void *ctx, const struct kta_alert *a, struct kta_error *err)
{
	(void)a;
	(void)err;
	(*(uint64_t *)ctx)++;
	return KTA_OK;
}

/* Replays the loaded entries into a fresh memory index with `threads`;
 * returns entries per wall second. */
static double replay_loaded(const struct loaded *l, unsigned threads, uint64_t *findings)
{
	struct kta_replay_memindex *mi = NULL;
	struct kta_replay_config cfg;
	struct kta_replay *rp = NULL;
	struct kta_error e;
	double t0;
	uint64_t i;

	if (kta_replay_memindex_new(0, &mi, &e) != KTA_OK)
		die("memindex", &e);
	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "bench";
	cfg.index = kta_replay_memindex_ops(mi);
	cfg.emit = no_alert;
	cfg.emit_ctx = findings;
	cfg.threads = threads;
	t0 = bench_now();
	if (kta_replay_new(&cfg, &rp, &e) != KTA_OK)
		die("replay", &e);
	for (i = 0; i < l->n; i++)
		if (kta_replay_entry(rp, i, l->data + l->off[i], l->len[i], NULL, &e) != KTA_OK)
			die("replay", &e);
	if (kta_replay_flush(rp, &e) != KTA_OK)
		die("replay", &e);
	kta_replay_free(rp);
	t0 = bench_now() - t0;
	kta_replay_memindex_free(mi);
	return (double)l->n / t0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The replay of a directory whose entries all carry one auth line, with
 * the memory index (so that only the replay and Ed25519 are measured),
 * alternating with OpenSSL's own verification loop on the same number of
 * threads, round after round: the load of shared cores drifts slowly, so
 * the per-round ratio (replay / mean of the OpenSSL rounds around it) is
 * steadier than either rate. Prints the median ratio.
 */
static int cmd_authpool(const char *url, unsigned threads, unsigned rounds)
{
	struct run r;
	struct loaded l;
	struct kta_error e;
	double ratio[64], before, after, rate;
	uint64_t findings = 0;
	unsigned nt = threads == KTA_REPLAY_THREADS_AUTO ? kta_replay_threads_online() : threads, i;

	if (rounds == 0 || rounds > 64)
		die("ROUNDS: 1..64", NULL);
	memset(&l, 0, sizeof(l));
	run_open(&r, url);
	if (kta_tlog_entries(r.c, 0, r.size, NULL, 0, load_one, &l, &e) != KTA_OK)
		die("load", &e);
	before = ed25519_multi(nt, 1.0);
	for (i = 0; i < rounds; i++) {
		rate = replay_loaded(&l, threads, &findings);
		after = ed25519_multi(nt, 1.0);
		ratio[i] = rate / ((before + after) / 2);
		printf("  round %u: replay %.0f entries/s, OpenSSL on %u threads %.0f -> %.0f "
		       "verifications/s, ratio %.3f\n",
		       i + 1, rate, nt, before, after, ratio[i]);
		before = after;
	}
	qsort(ratio, rounds, sizeof(ratio[0]), dbl_cmp);
	printf("authpool [%u thread%s] %" PRIu64 " entries x %u rounds: median ratio to OpenSSL "
	       "on %u threads %.3f (min %.3f, max %.3f); findings per round %" PRIu64 "\n",
	       nt, nt > 1 ? "s" : "", l.n, rounds, nt, ratio[rounds / 2], ratio[0],
	       ratio[rounds - 1], findings / rounds);
	free(l.data);
	free(l.off);
	free(l.len);
	run_close(&r);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n;

	if (argc == 5 && strcmp(argv[1], "gen") == 0) {
		if (kta_parse_u64(argv[3], strlen(argv[3]), &n, NULL) != KTA_OK || n == 0)
			die("N", NULL);
		return cmd_gen(argv[2], n, strcmp(argv[4], "1") == 0);
	}
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], argv[3]);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "audit") == 0) {
		unsigned threads = 1;

		if (argc == 6) {
			if (strcmp(argv[5], "auto") == 0)
				threads = KTA_REPLAY_THREADS_AUTO;
			else if (kta_parse_u64(argv[5], strlen(argv[5]), &n, NULL) != KTA_OK ||
				 n == 0 || n > KTA_REPLAY_THREADS_MAX)
				die("THREADS: 1..64 or auto", NULL);
			else
				threads = (unsigned)n;
		}
		return cmd_audit(argv[2], argv[3], argv[4], threads);
	}
	if (argc == 5 && strcmp(argv[1], "authpool") == 0) {
		uint64_t rounds;
		unsigned threads = KTA_REPLAY_THREADS_AUTO;

		if (strcmp(argv[3], "auto") != 0) {
			if (kta_parse_u64(argv[3], strlen(argv[3]), &n, NULL) != KTA_OK || n == 0 ||
			    n > KTA_REPLAY_THREADS_MAX)
				die("THREADS: 1..64 or auto", NULL);
			threads = (unsigned)n;
		}
		if (kta_parse_u64(argv[4], strlen(argv[4]), &rounds, NULL) != KTA_OK)
			die("ROUNDS", NULL);
		return cmd_authpool(argv[2], threads, (unsigned)rounds);
	}
	fprintf(stderr, "usage: bench_replay gen DIR N AUTH | verify tiles|tiles-parse|tiles-none|"
			"root|base URL | audit kta|base URL STATEDIR [THREADS|auto] |"
			" authpool URL THREADS|auto ROUNDS\n");
	return 2;
}
