/*
 * Benchmark: the full audit's label index (issue 9, figure 4 without auth
 * lines), through the real state store.
 *
 *   bench_audit kta URL STATEDIR [MIB]  the monitor's path: kta_tlog_entries
 *                                       (authenticated) + kta_replay +
 *                                       kta_state index and watches (1000 tofu),
 *                                       one transaction, the checkpoint stored,
 *                                       the handle closed (WAL checkpoint
 *                                       included); MIB: kta_state_set_cache;
 *                                       KTA_BENCH_EXCLUSIVE=1: in exclusive
 *                                       mode (a rollback journal, state.h)
 *   bench_audit mem URL                 the same replay with the in-memory
 *                                       index and watch set (no durability; a
 *                                       malloc per label, freed at the end)
 *   bench_audit null URL                the same replay with an index that
 *                                       keeps nothing (every label is new):
 *                                       the replay's own cost, the floor any
 *                                       index adds to
 *   bench_audit write SRC STATEDIR      the store's SQLite writes alone: the
 *                                       label and history rows a `kta` run
 *                                       left in SRC written into a fresh
 *                                       state database with the store's
 *                                       statements, one transaction, closed
 *                                       (the floor of the store's writes);
 *                                       flat: the history chunks appended
 *                                       to a flat file instead, synced
 *                                       before the commit (an alternative
 *                                       design's floor)
 *   bench_audit base URL STATEDIR       the same replay with a straightforward
 *                                       SQLite index: one SELECT per get, one
 *                                       upsert into labels and one insert into
 *                                       a history table per put, a commit
 *                                       every 100,000 entries
 *
 * The replay runs with the monitor's default, one thread per CPU (no auth
 * lines: the pool only pipelines entries, and the state index prefetches
 * KTA_REPLAY_LOOKAHEAD entries ahead); KTA_BENCH_THREADS=0 runs it
 * sequentially (no lookahead) for comparison. KTA_BENCH_SHARD=K/N replays
 * only the labels of shard K of N (shard.h), as `shard K/N` in ktaudit.conf:
 * run the N shards as N processes at once to measure a sharded audit.
 *
 * URL is a directory written by `bench_replay gen` (file:// or http://).
 * Each prints entries per CPU-second (user + system of this process: the
 * cores are shared), the user/system split, the wall rate and the peak RSS.
 * No SHA-256 bound is measured here (bench_replay prints them), so that a
 * profile of this program is the audit's alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/fetch.h"
#include "ktaudit/replay.h"
#include "ktaudit/shard.h"
#include "ktaudit/state.h"
#include "ktaudit/tlog.h"

#define NWATCH 1000u
#define BASE_TX 100000u

struct run {
	struct kta_fetcher *f;
	struct kta_tlog *c;
	uint64_t size, entries, findings;
	uint8_t root[32];
	struct kta_replay *rp;
};

/* Replay threads: the monitor's default (one per CPU: the replay pipelines
 * entries and its index prefetches), or KTA_BENCH_THREADS (0: sequential). */
static unsigned bench_threads(void)
{
	const char *t = getenv("KTA_BENCH_THREADS");
	unsigned long v;

	if (t == NULL)
		return KTA_REPLAY_THREADS_AUTO;
	if (bench_parse_ulong(t, 0, KTA_REPLAY_THREADS_MAX, &v) != 0) {
		fprintf(stderr, "bench_audit: KTA_BENCH_THREADS \"%s\": not a number of threads\n",
			t);
		exit(2);
	}
	return (unsigned)v;
}

/* KTA_BENCH_SHARD=K/N: *k, *n (n 0 when unset). */
static void bench_shard(uint32_t *k, uint32_t *n)
{
	const char *t = getenv("KTA_BENCH_SHARD");
	struct kta_error e;

	*k = *n = 0;
	if (t != NULL && kta_shard_parse(t, strlen(t), k, n, &e) != KTA_OK) {
		fprintf(stderr, "bench_audit: KTA_BENCH_SHARD: %s\n", e.msg);
		exit(2);
	}
}

/* Start of the timed part (after the set-up: open, watches). */
static double t0, u0, s0;

static void times(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void clock_start(void)
{
	t0 = bench_now();
	times(&u0, &s0);
}

static void die(const char *what, const struct kta_error *e)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, e != NULL ? e->msg : "");
	exit(3);
}

/* The label names of bench_replay gen (for the watches). */
static void label_name(uint64_t li, char out[64])
{
	uint64_t x = (li ^ 0x5555u) + 0x9e3779b97f4a7c15ull;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	snprintf(out, 64, "u%016" PRIx64 "@example.org", x ^ (x >> 31));
}

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
	kta_fetch_opts_init(&fo);
	fo.schemes = "http,file";
	if (kta_fetcher_new(&fo, &r->f, &e) != KTA_OK)
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
		die("bench-tree", NULL);
	free(body);
	kta_tlog_set_tree(r->c, r->size, r->root);
}

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
	r->entries++;
	return KTA_OK;
}

/* Replays every entry with index ix and watches ws (authenticated); *crp
 * (may be NULL) gets the compact range. */
static void replay_all(struct run *r, struct kta_replay_index ix, struct kta_replay_watches ws,
		       struct kta_compact_range **crp)
{
	struct kta_replay_config cfg;
	struct kta_compact_range *cr = NULL;
	struct kta_error e;

	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "bench";
	cfg.index = ix;
	cfg.watches = ws;
	cfg.emit = count_alert;
	cfg.emit_ctx = r;
	cfg.threads = bench_threads();
	bench_shard(&cfg.shard_k, &cfg.shard_n);
	if (kta_compact_range_new(&cr, &e) != KTA_OK ||
	    kta_replay_new(&cfg, &r->rp, &e) != KTA_OK ||
	    kta_tlog_entries(r->c, 0, r->size, cr, 0, replay_one, r, &e) != KTA_OK ||
	    kta_replay_flush(r->rp, &e) != KTA_OK) /* a threaded replay holds the last ones */
		die("replay", &e);
	kta_replay_free(r->rp);
	r->rp = NULL;
	if (crp != NULL)
		*crp = cr;
	else
		kta_compact_range_free(cr);
}

static void audit_kta(struct run *r, const char *statedir, uint64_t mib)
{
	const char *exclusive = getenv("KTA_BENCH_EXCLUSIVE");
	struct kta_state *st = NULL;
	struct kta_state_index *ix = NULL;
	struct kta_state_watches *ws = NULL;
	struct kta_compact_range *cr = NULL;
	struct kta_error e;
	uint64_t i;
	char label[64];

	if (kta_state_open(statedir, &st, &e) != KTA_OK ||
	    (mib != 0 && kta_state_set_cache(st, mib, &e) != KTA_OK) ||
	    /* KTA_BENCH_EXCLUSIVE=1: `monitor --once --exclusive` (state.h) */
	    (exclusive != NULL && strcmp(exclusive, "1") == 0 &&
	     kta_state_set_exclusive(st, &e) != KTA_OK))
		die("state", &e);
	for (i = 0; i < NWATCH; i++) {
		label_name(i * 37, label);
		if (kta_state_watch_add(st, "bench", label, KTA_WATCH_TOFU, NULL, 0, 0, &e) !=
		    KTA_OK)
			die("watch", &e);
	}
	clock_start();
	if (kta_state_begin(st, &e) != KTA_OK ||
	    kta_state_index_new(st, "bench", &ix, &e) != KTA_OK ||
	    kta_state_watches_new(st, "bench", &ws, &e) != KTA_OK)
		die("state", &e);
	replay_all(r, kta_state_index_ops(ix), kta_state_watches_ops(ws), &cr);
	if (kta_state_log_put(st, "bench", "note", 4, r->size, r->root, cr, 0, &e) != KTA_OK ||
	    kta_state_commit(st, &e) != KTA_OK)
		die("commit", &e);
	kta_state_index_free(ix);
	kta_state_watches_free(ws);
	kta_compact_range_free(cr);
	kta_state_close(st);
}

static void audit_mem(struct run *r)
{
	struct kta_replay_memindex *mi = NULL;
	struct kta_replay_watchset *ws = NULL;
	struct kta_error e;
	uint64_t i;
	char label[64];

	if (kta_replay_memindex_new(0, &mi, &e) != KTA_OK ||
	    kta_replay_watchset_new(&ws, &e) != KTA_OK)
		die("memindex", &e);
	for (i = 0; i < NWATCH; i++) {
		label_name(i * 37, label);
		if (kta_replay_watchset_tofu(ws, label, &e) != KTA_OK)
			die("watch", &e);
	}
	clock_start();
	replay_all(r, kta_replay_memindex_ops(mi), kta_replay_watchset_ops(ws), NULL);
	kta_replay_watchset_free(ws);
	kta_replay_memindex_free(mi);
}

static enum kta_status null_get(void *ctx, const char *label, int *found,
				struct kta_label_state *out, struct kta_error *err)
{
	(void)ctx;
	(void)label;
	(void)out;
	(void)err;
	*found = 0;
	return KTA_OK;
}

static enum kta_status null_put(void *ctx, const struct kta_label_state *st,
				enum kta_auth_result auth, struct kta_error *err)
{
	uint64_t *n = ctx;

	(void)st;
	(void)auth;
	(void)err;
	(*n)++;
	return KTA_OK;
}

static void audit_null(struct run *r)
{
	struct kta_replay_watchset *ws = NULL;
	struct kta_replay_index ix;
	struct kta_error e;
	uint64_t i, puts = 0;
	char label[64];

	if (kta_replay_watchset_new(&ws, &e) != KTA_OK)
		die("watchset", &e);
	for (i = 0; i < NWATCH; i++) {
		label_name(i * 37, label);
		if (kta_replay_watchset_tofu(ws, label, &e) != KTA_OK)
			die("watch", &e);
	}
	memset(&ix, 0, sizeof(ix));
	ix.ctx = &puts;
	ix.get = null_get;
	ix.put = null_put;
	clock_start();
	replay_all(r, ix, kta_replay_watchset_ops(ws), NULL);
	kta_replay_watchset_free(ws);
	if (puts != r->entries)
		die("null index: puts and entries differ", NULL);
}

/* --- the straightforward SQLite index ------------------------------------- */

struct base {
	sqlite3 *db;
	sqlite3_stmt *get, *put, *hist;
	uint64_t in_tx;
	char label[2048];
	struct kta_entry_key keys[64];
	char dev[64][256];
	uint8_t kb[64 * 290];
};

static void base_sql(struct base *b, const char *s)
{
	char *msg = NULL;

	if (sqlite3_exec(b->db, s, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench_audit: sqlite: %s: %s\n", s, msg);
		exit(3);
	}
}

static enum kta_status base_get(void *ctx, const char *label, int *found,
				struct kta_label_state *out, struct kta_error *err)
{
	struct base *b = ctx;
	const uint8_t *k;
	int kl, off = 0;
	size_t n = 0;

	(void)err;
	*found = 0;
	sqlite3_bind_text(b->get, 1, label, -1, SQLITE_STATIC);
	if (sqlite3_step(b->get) == SQLITE_ROW) {
		snprintf(b->label, sizeof(b->label), "%s", label);
		out->label = b->label;
		out->version = (uint64_t)sqlite3_column_int64(b->get, 0);
		out->leaf_index = (uint64_t)sqlite3_column_int64(b->get, 1);
		memcpy(out->entry_hash, sqlite3_column_blob(b->get, 2), 32);
		k = sqlite3_column_blob(b->get, 3);
		kl = sqlite3_column_bytes(b->get, 3);
		while (off + 34 <= kl && n < 64) {
			size_t d = k[off + 33];

			b->keys[n].alg = (enum kta_entry_alg)k[off];
			memcpy(b->keys[n].pub, k + off + 1, 32);
			memcpy(b->dev[n], k + off + 34, d);
			b->dev[n][d] = '\0';
			b->keys[n].device = b->dev[n];
			off += 34 + (int)d;
			n++;
		}
		out->keys = n > 0 ? b->keys : NULL;
		out->nkeys = n;
		out->entry = NULL;
		out->entry_len = 0;
		out->parsed = NULL;
		*found = 1;
	}
	sqlite3_reset(b->get);
	return KTA_OK;
}

static enum kta_status base_put(void *ctx, const struct kta_label_state *ls,
				enum kta_auth_result auth, struct kta_error *err)
{
	struct base *b = ctx;
	size_t i, off = 0;

	(void)err;
	for (i = 0; i < ls->nkeys && i < 64; i++) {
		size_t d = strlen(ls->keys[i].device);

		b->kb[off++] = (uint8_t)ls->keys[i].alg;
		memcpy(b->kb + off, ls->keys[i].pub, 32);
		off += 32;
		b->kb[off++] = (uint8_t)d;
		memcpy(b->kb + off, ls->keys[i].device, d);
		off += d;
	}
	sqlite3_bind_text(b->put, 1, ls->label, -1, SQLITE_STATIC);
	sqlite3_bind_int64(b->put, 2, (sqlite3_int64)ls->version);
	sqlite3_bind_int64(b->put, 3, (sqlite3_int64)ls->leaf_index);
	sqlite3_bind_blob(b->put, 4, ls->entry_hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(b->put, 5, b->kb, (int)off, SQLITE_STATIC);
	if (sqlite3_step(b->put) != SQLITE_DONE)
		die("upsert", NULL);
	sqlite3_reset(b->put);
	sqlite3_bind_text(b->hist, 1, ls->label, -1, SQLITE_STATIC);
	sqlite3_bind_int64(b->hist, 2, (sqlite3_int64)ls->leaf_index);
	sqlite3_bind_int64(b->hist, 3, (sqlite3_int64)ls->version);
	sqlite3_bind_blob(b->hist, 4, ls->entry, (int)ls->entry_len, SQLITE_STATIC);
	sqlite3_bind_int(b->hist, 5, (int)auth);
	if (sqlite3_step(b->hist) != SQLITE_DONE)
		die("history", NULL);
	sqlite3_reset(b->hist);
	if (++b->in_tx == BASE_TX) {
		base_sql(b, "COMMIT; BEGIN");
		b->in_tx = 0;
	}
	return KTA_OK;
}

static void audit_base(struct run *r, const char *statedir)
{
	static struct base b;
	struct kta_replay_index ix;
	struct kta_replay_watches ws;
	char path[4096];

	if (mkdir(statedir, 0700) != 0 && errno != EEXIST)
		die(statedir, NULL);
	snprintf(path, sizeof(path), "%s/base.db", statedir);
	if (sqlite3_open(path, &b.db) != SQLITE_OK)
		die("sqlite open", NULL);
	base_sql(&b, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		     "CREATE TABLE labels(label TEXT PRIMARY KEY, version INTEGER, leaf INTEGER,"
		     " entry_hash BLOB, keys BLOB) WITHOUT ROWID;"
		     "CREATE TABLE history(label TEXT, leaf INTEGER, version INTEGER, entry BLOB,"
		     " auth INTEGER, PRIMARY KEY(label, leaf)) WITHOUT ROWID; BEGIN");
	if (sqlite3_prepare_v2(
		b.db, "SELECT version, leaf, entry_hash, keys FROM labels WHERE label = ?1", -1,
		&b.get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(b.db,
			       "INSERT INTO labels VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(label) "
			       "DO UPDATE SET version = excluded.version, leaf = excluded.leaf, "
			       "entry_hash = excluded.entry_hash, keys = excluded.keys",
			       -1, &b.put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(b.db, "INSERT INTO history VALUES(?1, ?2, ?3, ?4, ?5)", -1, &b.hist,
			       NULL) != SQLITE_OK)
		die("prepare", NULL);
	memset(&ix, 0, sizeof(ix));
	ix.ctx = &b;
	ix.get = base_get;
	ix.put = base_put;
	memset(&ws, 0, sizeof(ws));
	replay_all(r, ix, ws, NULL);
	base_sql(&b, "COMMIT");
	sqlite3_finalize(b.get);
	sqlite3_finalize(b.put);
	sqlite3_finalize(b.hist);
	sqlite3_close(b.db);
}

/* One table's rows (bucket or chunk key, blob) read from a state.db. */
struct rows {
	int64_t *key;
	uint8_t **data;
	int *len;
	size_t n;
	uint64_t bytes;
};

static void rows_load(sqlite3 *db, const char *sql, struct rows *o)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;

	memset(o, 0, sizeof(*o));
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		die("write: prepare", NULL);
	while (sqlite3_step(s) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(s, 1);

		if (o->n == cap) {
			cap = cap ? 2 * cap : 1024;
			o->key = realloc(o->key, cap * sizeof(*o->key));
			o->data = realloc(o->data, cap * sizeof(*o->data));
			o->len = realloc(o->len, cap * sizeof(*o->len));
			if (o->key == NULL || o->data == NULL || o->len == NULL)
				die("write: out of memory", NULL);
		}
		o->key[o->n] = sqlite3_column_int64(s, 0);
		o->len[o->n] = n;
		if ((o->data[o->n] = malloc(n > 0 ? (size_t)n : 1)) == NULL)
			die("write: out of memory", NULL);
		if (n > 0)
			memcpy(o->data[o->n], sqlite3_column_blob(s, 1), (size_t)n);
		o->bytes += (uint64_t)n;
		o->n++;
	}
	sqlite3_finalize(s);
}

static void rows_free(struct rows *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->data[i]);
	free(o->key);
	free(o->data);
	free(o->len);
}

static void rows_put(sqlite3 *db, const char *sql, const struct rows *o)
{
	sqlite3_stmt *s = NULL;
	size_t i;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		die("write: prepare", NULL);
	for (i = 0; i < o->n; i++) {
		sqlite3_reset(s);
		if (sqlite3_bind_text(s, 1, "bench", -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 2, o->key[i]) != SQLITE_OK ||
		    sqlite3_bind_blob(s, 3, o->data[i], o->len[i], SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(s) != SQLITE_DONE)
			die("write: insert", NULL);
	}
	sqlite3_finalize(s);
}

/*
 * The floor of the store's SQLite writes: the label and history rows that a
 * `kta` run left in SRC/state.db, written into a fresh state database
 * (kta_state_open: same schema, page size and pragmas) with the store's
 * statements, history first then the buckets in order (as a first sync
 * does), one transaction, then closed (the WAL checkpoint). Entries: the
 * size of SRC's "bench" log.
 */
static void write_floor(const char *src, const char *dst, int flat)
{
	struct kta_state *st = NULL;
	struct kta_error e;
	struct rows lab, hist;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char path[4096];
	double t1, u1, s1, cpu;
	uint64_t entries = 0;

	snprintf(path, sizeof(path), "%s/state.db", src);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("write: open SRC/state.db", NULL);
	if (sqlite3_prepare_v2(db, "SELECT size FROM logs WHERE origin = 'bench'", -1, &s, NULL) !=
		SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		die("write: SRC has no bench log (run bench_audit kta first)", NULL);
	entries = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	rows_load(db, "SELECT bucket, data FROM labels WHERE origin = 'bench' ORDER BY bucket",
		  &lab);
	rows_load(db, "SELECT chunk, data FROM label_history WHERE origin = 'bench' ORDER BY chunk",
		  &hist);
	sqlite3_close(db);
	db = NULL;
	if (kta_state_open(dst, &st, &e) != KTA_OK)
		die("write: state", &e);
	kta_state_close(st);
	snprintf(path, sizeof(path), "%s/state.db", dst);
	clock_start();
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("write: open DST/state.db", NULL);
	if (sqlite3_exec(db,
			 "PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 67108864;"
			 "PRAGMA cache_size = -16384; BEGIN",
			 NULL, NULL, NULL) != SQLITE_OK)
		die("write: begin", NULL);
	if (flat) {
		/* the alternative measured: history chunks appended to a flat
		 * file, synced before the commit (no WAL, no second copy) */
		size_t i;
		int fd;

		snprintf(path, sizeof(path), "%s/history.dat", dst);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
			die("write: history.dat", NULL);
		for (i = 0; i < hist.n; i++)
			if (write(fd, hist.data[i], (size_t)hist.len[i]) != (ssize_t)hist.len[i])
				die("write: history.dat", NULL);
		if (fdatasync(fd) != 0 || close(fd) != 0)
			die("write: history.dat", NULL);
	} else {
		rows_put(db,
			 "INSERT INTO label_history(origin, chunk, data) VALUES(?1, ?2, ?3) "
			 "ON CONFLICT(origin, chunk) DO UPDATE SET data = excluded.data",
			 &hist);
	}
	rows_put(db,
		 "INSERT INTO labels(origin, bucket, data) VALUES(?1, ?2, ?3) "
		 "ON CONFLICT(origin, bucket) DO UPDATE SET data = excluded.data",
		 &lab);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		die("write: commit", NULL);
	sqlite3_close(db);
	t1 = bench_now();
	times(&u1, &s1);
	cpu = (u1 - u0) + (s1 - s0);
	printf("store writes [%s] %10.0f entries per CPU-second  (%" PRIu64
	       " entries: %zu label rows, %" PRIu64 " bytes; %zu history rows, %" PRIu64
	       " bytes; %.2f CPU-s: user %.2f, system %.2f)\n",
	       flat ? "write flat" : "write", (double)entries / cpu, entries, lab.n, lab.bytes,
	       hist.n, hist.bytes, cpu, u1 - u0, s1 - s0);
	printf("  wall: %.2f s, %.0f entries/s; %.2f us per entry\n", t1 - t0,
	       (double)entries / (t1 - t0), cpu * 1e6 / (double)(entries ? entries : 1));
	rows_free(&lab);
	rows_free(&hist);
}

int main(int argc, char **argv)
{
	struct run r;
	double t1, u1, s1, cpu;
	uint64_t mib = 0;

	if ((argc == 4 || (argc == 5 && strcmp(argv[4], "flat") == 0)) &&
	    strcmp(argv[1], "write") == 0) {
		write_floor(argv[2], argv[3], argc == 5);
		return 0;
	}

	if (argc < 3 || (strcmp(argv[1], "mem") != 0 && strcmp(argv[1], "null") != 0 && argc < 4)) {
		fprintf(stderr, "usage: bench_audit kta URL STATEDIR [MIB] | mem URL | null URL |"
				" base URL STATEDIR | write SRCSTATEDIR STATEDIR [flat]\n");
		return 2;
	}
	if (argc == 5 && kta_parse_u64(argv[4], strlen(argv[4]), &mib, NULL) != KTA_OK)
		die("MIB", NULL);
	run_open(&r, argv[2]);
	clock_start();
	if (strcmp(argv[1], "kta") == 0)
		audit_kta(&r, argv[3], mib);
	else if (strcmp(argv[1], "mem") == 0)
		audit_mem(&r);
	else if (strcmp(argv[1], "null") == 0)
		audit_null(&r);
	else if (strcmp(argv[1], "base") == 0)
		audit_base(&r, argv[3]);
	else
		die("mode: kta, mem, null or base", NULL);
	t1 = bench_now();
	times(&u1, &s1);
	cpu = (u1 - u0) + (s1 - s0);
	printf("full audit [%s]%s %10.0f entries per CPU-second  (%" PRIu64
	       " entries, %.2f CPU-s: user %.2f, system %.2f)\n",
	       argv[1], strcmp(argv[1], "kta") == 0 && mib != 0 ? " (cache set)" : "",
	       (double)r.entries / cpu, r.entries, cpu, u1 - u0, s1 - s0);
	printf("  wall: %.2f s, %.0f entries/s; findings %" PRIu64 "; peak RSS %.1f MiB\n", t1 - t0,
	       (double)r.entries / (t1 - t0), r.findings, bench_peak_rss_mib());
	kta_tlog_free(r.c);
	kta_fetcher_free(r.f);
	return 0;
}
