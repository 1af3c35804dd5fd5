/*
 * Unit tests for the monitor's SQLite state (include/ktaudit/state.h):
 * permissions, schema checks, transactions, a kill -9 crash test, the alert
 * outbox, watches and history.
 */
#include "testutil.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/shard.h"
#include "ktaudit/state.h"

#define ORIGIN "example.com/dir"

struct tmp {
	char dir[64];
	char db[96];
};

static void tmp_make(struct tmp *t)
{
	strcpy(t->dir, "/tmp/kta-state-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/sub/state.db", t->dir);
}

/* Removes t's directory and everything in it. */
static void tmp_rm(struct tmp *t)
{
	assert_int_equal(tu_rm_tree(t->dir), 0);
}

/* The state directory of t (a subdirectory that kta_state_open creates). */
static const char *sdir(struct tmp *t)
{
	static char buf[80];

	snprintf(buf, sizeof(buf), "%s/sub", t->dir);
	return buf;
}

static struct kta_state *open_ok(struct tmp *t)
{
	struct kta_state *st = NULL;
	struct kta_error err;

	if (kta_state_open(sdir(t), &st, &err) != KTA_OK)
		fail_msg("open: %s", err.msg);
	return st;
}

/* A serialized entry of label/version with one ed25519 key of bytes `fill`. */
static uint8_t *mk_entry(const char *label, uint64_t version, int fill, size_t *len)
{
	struct kta_entry e;
	struct kta_entry_key k;
	uint8_t *out = NULL;

	memset(&e, 0, sizeof(e));
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	memset(k.pub, fill, 32);
	k.device = (char *)"phone";
	e.label = (char *)(uintptr_t)label;
	e.version = version;
	e.time = 1;
	e.keys = fill >= 0 ? &k : NULL;
	e.nkeys = fill >= 0 ? 1 : 0;
	assert_int_equal(kta_entry_serialize(&e, &out, len, NULL), KTA_OK);
	return out;
}

/* Puts mk_entry(label, version, fill) at leaf through an open index (the
 * history keeps it packed). */
static void ops_put(struct kta_replay_index ops, const char *label, uint64_t version, uint64_t leaf,
		    int fill, enum kta_auth_result auth)
{
	struct kta_label_state ls;
	struct kta_entry *e = NULL;
	struct kta_hasher *hs = NULL;
	struct kta_error err;
	size_t len;
	uint8_t *raw = mk_entry(label, version, fill, &len);

	assert_int_equal(kta_entry_parse(raw, len, &e, NULL), KTA_OK);
	memset(&ls, 0, sizeof(ls));
	ls.label = label;
	ls.version = version;
	ls.leaf_index = leaf;
	/* the history keeps a packed entry with its hash's first bytes */
	assert_int_equal(kta_hasher_new(&hs, NULL), KTA_OK);
	kta_hash_leaf(hs, raw, len, ls.entry_hash);
	kta_hasher_free(hs);
	ls.keys = e->keys;
	ls.nkeys = e->nkeys;
	ls.entry = raw;
	ls.entry_len = len;
	ls.parsed = e;
	if (ops.put(ops.ctx, &ls, auth, &err) != KTA_OK)
		fail_msg("put: %s", err.msg);
	kta_entry_free(e);
	free(raw);
}

/* Puts label's state through a new index of its own (ops_put). */
static void index_put(struct kta_state *st, const char *label, uint64_t version, uint64_t leaf,
		      int fill, enum kta_auth_result auth)
{
	struct kta_state_index *ix = NULL;

	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops_put(kta_state_index_ops(ix), label, version, leaf, fill, auth);
	kta_state_index_free(ix);
}

static struct kta_alert *mk_alert(const char *label, uint64_t version)
{
	struct kta_alert *a = NULL;

	assert_int_equal(
	    kta_alert_new(KTA_ALERT_KEY_CHANGED, ORIGIN, 1000, "keys changed", &a, NULL), KTA_OK);
	assert_int_equal(kta_alert_set_label(a, label, version, NULL), KTA_OK);
	a->has_leaf_index = 1;
	a->leaf_index = version;
	a->size = 10;
	assert_int_equal(kta_alert_set_id(a, NULL), KTA_OK);
	return a;
}

/* ---- open ------------------------------------------------------------------ */

static void open_permissions_and_twice(void **state)
{
	struct tmp t;
	struct kta_state *a, *b;
	struct stat sb;
	mode_t old = umask(0);
	char wal[128];
	uint64_t n;

	(void)state;
	tmp_make(&t);
	a = open_ok(&t);
	umask(old);
	assert_int_equal(stat(sdir(&t), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(stat(t.db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* a second handle on the same database, while the first is open */
	b = open_ok(&t);
	index_put(a, "alice", 1, 0, 1, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_state_label_count(b, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	snprintf(wal, sizeof(wal), "%s-wal", t.db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	kta_state_close(a);
	kta_state_close(b);
	/* reopen: the data is still there; a wide umask does not loosen modes */
	old = umask(0);
	assert_int_equal(chmod(t.db, 0644), 0);
	a = open_ok(&t);
	umask(old);
	assert_int_equal(stat(t.db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(kta_state_label_count(a, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	kta_state_close(a);
	kta_state_close(NULL);
	tmp_rm(&t);
}

static void open_rejects(void **state)
{
	struct tmp t;
	struct kta_state *st = NULL;
	struct kta_error err;
	sqlite3 *db;
	FILE *f;
	char path[128];

	(void)state;
	tmp_make(&t);
	/* the directory is a file */
	snprintf(path, sizeof(path), "%s/file", t.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(kta_state_open(path, &st, &err), KTA_ERR_IO);
	assert_null(st);
	assert_non_null(strstr(err.msg, "not a directory"));
	assert_int_equal(kta_state_open("", &st, &err), KTA_ERR_USAGE);
	/* not a database */
	assert_int_equal(mkdir(sdir(&t), 0700), 0);
	f = fopen(t.db, "w");
	assert_non_null(f);
	fputs("this is not an SQLite database, not even close; it is just some text.\n", f);
	fclose(f);
	assert_int_equal(kta_state_open(sdir(&t), &st, &err), KTA_ERR_MALFORMED);
	assert_null(st);
	assert_int_equal(unlink(t.db), 0);
	/* some other application's database */
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE x(y)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(kta_state_open(sdir(&t), &st, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "not a ktaudit state database"));
	assert_int_equal(unlink(t.db), 0);
	/* a newer schema */
	st = open_ok(&t);
	kta_state_close(st);
	st = NULL;
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(kta_state_open(sdir(&t), &st, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "newer ktaudit"));
	assert_null(st);
	/* a symlink in place of the database is not followed */
	assert_int_equal(unlink(t.db), 0);
	assert_int_equal(symlink(path, t.db), 0);
	assert_int_equal(kta_state_open(sdir(&t), &st, &err), KTA_ERR_IO);
	assert_null(st);
	tmp_rm(&t);
}

/* ---- transactions ---------------------------------------------------------- */

static struct kta_compact_range *mk_range(uint64_t n, uint8_t root[32])
{
	struct kta_compact_range *cr = NULL;
	struct kta_hasher *h = NULL;
	uint8_t leaf[32];
	uint64_t i;

	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	for (i = 0; i < n; i++) {
		kta_hash_leaf(h, (const uint8_t *)&i, sizeof(i), leaf);
		assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_OK);
	}
	assert_int_equal(kta_compact_range_root(cr, h, root, NULL), KTA_OK);
	kta_hasher_free(h);
	return cr;
}

static const char note[] = "example.com/dir\n13\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
			   "\xe2\x80\x94 example.com/dir AAAA\n";

static void log_roundtrip(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_log *l = NULL;
	struct kta_compact_range *cr;
	uint8_t root[32], r2[32];
	struct kta_hasher *h = NULL;
	int found = 1;
	struct kta_error err;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_log_get(st, ORIGIN, &found, &l, NULL), KTA_OK);
	assert_false(found);
	assert_null(l);
	cr = mk_range(13, root);
	assert_int_equal(kta_state_log_put(st, ORIGIN, note, strlen(note), 13, root, cr, 100, NULL),
			 KTA_OK);
	/* size must match the range */
	assert_int_equal(kta_state_log_put(st, ORIGIN, note, strlen(note), 14, root, cr, 100, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_state_log_put(st, ORIGIN, note, 0, 13, root, cr, 100, &err),
			 KTA_ERR_USAGE);
	kta_compact_range_free(cr);
	assert_int_equal(kta_state_log_get(st, ORIGIN, &found, &l, NULL), KTA_OK);
	assert_true(found);
	assert_string_equal(l->checkpoint, note);
	assert_int_equal(l->checkpoint_len, strlen(note));
	assert_int_equal(l->size, 13);
	assert_memory_equal(l->root, root, 32);
	assert_int_equal(l->first_seen, 100);
	assert_int_equal(l->updated, 100);
	assert_int_equal(kta_compact_range_size(l->range), 13);
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_root(l->range, h, r2, NULL), KTA_OK);
	assert_memory_equal(r2, root, 32);
	kta_state_log_free(l);
	/* an update keeps first_seen */
	cr = mk_range(20, root);
	assert_int_equal(kta_state_log_put(st, ORIGIN, note, strlen(note), 20, root, cr, 200, NULL),
			 KTA_OK);
	kta_compact_range_free(cr);
	assert_int_equal(kta_state_log_get(st, ORIGIN, &found, &l, NULL), KTA_OK);
	assert_int_equal(l->size, 20);
	assert_int_equal(l->first_seen, 100);
	assert_int_equal(l->updated, 200);
	kta_state_log_free(l);
	/* another origin is separate */
	assert_int_equal(kta_state_log_get(st, "other", &found, &l, NULL), KTA_OK);
	assert_false(found);
	/* size 0 (empty range) */
	cr = mk_range(0, root);
	assert_int_equal(kta_state_log_put(st, "other", note, strlen(note), 0, root, cr, 1, NULL),
			 KTA_OK);
	kta_compact_range_free(cr);
	assert_int_equal(kta_state_log_get(st, "other", &found, &l, NULL), KTA_OK);
	assert_true(found);
	assert_int_equal(l->size, 0);
	kta_state_log_free(l);
	kta_hasher_free(h);
	kta_state_close(st);
	tmp_rm(&t);
}

/* The pending catch-up row: round trip, started kept for the same target,
 * the done < size rule, clear, rollback, and damaged rows refused. */
static void pending_roundtrip(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_pending *p = NULL;
	struct kta_compact_range *cr;
	uint8_t root[32], target[32], r2[32];
	struct kta_hasher *h = NULL;
	int found = 1;
	struct kta_error err;
	sqlite3 *db;
	size_t b;
	static const char *const bad[] = {
	    "UPDATE pending SET done = 13",      /* range holds 5 leaves */
	    "UPDATE pending SET done = -1",      /* not a count */
	    "UPDATE pending SET range = x'00'",  /* not 32-byte hashes */
	    "UPDATE pending SET root = x'0011'", /* not a hash */
	    "UPDATE pending SET size = 5",       /* nothing left to do */
	};

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	assert_int_equal(kta_state_pending_get(st, ORIGIN, &found, &p, NULL), KTA_OK);
	assert_false(found);
	assert_null(p);
	assert_int_equal(kta_state_pending_clear(st, ORIGIN, NULL), KTA_OK); /* none */
	memset(target, 7, sizeof(target));
	cr = mk_range(5, root);
	assert_int_equal(
	    kta_state_pending_put(st, ORIGIN, note, strlen(note), 13, target, cr, 100, NULL),
	    KTA_OK);
	/* done must stay below the target's size */
	assert_int_equal(
	    kta_state_pending_put(st, ORIGIN, note, strlen(note), 5, target, cr, 100, &err),
	    KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "fewer leaves done"));
	assert_int_equal(kta_state_pending_put(st, ORIGIN, note, 0, 13, target, cr, 100, &err),
			 KTA_ERR_USAGE);
	kta_compact_range_free(cr);
	assert_int_equal(kta_state_pending_get(st, ORIGIN, &found, &p, NULL), KTA_OK);
	assert_true(found);
	assert_string_equal(p->checkpoint, note);
	assert_int_equal(p->checkpoint_len, strlen(note));
	assert_int_equal(p->size, 13);
	assert_memory_equal(p->root, target, 32);
	assert_int_equal(p->done, 5);
	assert_int_equal(p->started, 100);
	assert_int_equal(kta_compact_range_size(p->range), 5);
	assert_int_equal(kta_compact_range_root(p->range, h, r2, NULL), KTA_OK);
	assert_memory_equal(r2, root, 32);
	kta_state_pending_free(p);
	/* the next chunk of the same target keeps started ... */
	cr = mk_range(9, root);
	assert_int_equal(
	    kta_state_pending_put(st, ORIGIN, note, strlen(note), 13, target, cr, 200, NULL),
	    KTA_OK);
	assert_int_equal(kta_state_pending_get(st, ORIGIN, &found, &p, NULL), KTA_OK);
	assert_int_equal(p->done, 9);
	assert_int_equal(p->started, 100);
	kta_state_pending_free(p);
	/* ... another target starts again */
	target[0] ^= 1;
	assert_int_equal(
	    kta_state_pending_put(st, ORIGIN, note, strlen(note), 13, target, cr, 300, NULL),
	    KTA_OK);
	assert_int_equal(kta_state_pending_get(st, ORIGIN, &found, &p, NULL), KTA_OK);
	assert_int_equal(p->started, 300);
	kta_state_pending_free(p);
	kta_compact_range_free(cr);
	/* another origin is separate; a rolled-back clear leaves the row */
	assert_int_equal(kta_state_pending_get(st, "other", &found, &p, NULL), KTA_OK);
	assert_false(found);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_pending_clear(st, ORIGIN, NULL), KTA_OK);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_int_equal(kta_state_pending_get(st, ORIGIN, &found, &p, NULL), KTA_OK);
	assert_true(found);
	kta_state_pending_free(p);
	kta_state_close(st);
	/* damaged rows are reported, never trusted */
	for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		st = open_ok(&t);
		cr = mk_range(5, root);
		assert_int_equal(kta_state_pending_put(st, ORIGIN, note, strlen(note), 13, target,
						       cr, 100, NULL),
				 KTA_OK);
		kta_compact_range_free(cr);
		kta_state_close(st);
		assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, bad[b], NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		st = open_ok(&t);
		assert_int_equal(kta_state_pending_get(st, ORIGIN, &found, &p, &err),
				 KTA_ERR_MALFORMED);
		assert_false(found);
		assert_null(p);
		assert_non_null(strstr(err.msg, "log " ORIGIN));
		kta_state_close(st);
	}
	/* cleared: gone */
	st = open_ok(&t);
	assert_int_equal(kta_state_pending_clear(st, ORIGIN, NULL), KTA_OK);
	assert_int_equal(kta_state_pending_get(st, ORIGIN, &found, &p, NULL), KTA_OK);
	assert_false(found);
	kta_state_close(st);
	kta_hasher_free(h);
	tmp_rm(&t);
}

static int user_version(const struct tmp *t)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int v;

	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* shards (state.h): a database is bound to one shard of a log, or to the
 * whole log, and refuses to be read as anything else. */
static void shard_claim(void **state)
{
	struct tmp t, t2;
	struct kta_state *st;
	struct kta_compact_range *cr;
	uint8_t root[32];
	struct kta_error err;
	int stored = 7;
	sqlite3 *db;
	size_t b;
	static const char *const bad[] = {
	    "UPDATE shards SET n = 1",  /* one shard is no shard */
	    "UPDATE shards SET k = 4",  /* k < n */
	    "UPDATE shards SET n = -2", /* not a count */
	    "UPDATE shards SET k = 'x'",
	};

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	/* the whole log: nothing to record */
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 0, 0, 1, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 0);
	/* above 2, which a ktaudit without shards reads */
	assert_int_equal(user_version(&t), KTA_STATE_SCHEMA_VERSION);
	assert_true(KTA_STATE_SCHEMA_VERSION > 2);
	/* a check only (a command, not the monitor) records nothing */
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 2, 4, 0, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 0);
	/* a first claim binds a database that holds nothing of the log */
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 1, 4, 1, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 1);
	assert_int_equal(user_version(&t), KTA_STATE_SCHEMA_VERSION);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 2, 4, 0, &stored, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 1, 4, 1, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 0);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 1, 4, 1, NULL, NULL), KTA_OK);
	/* another shard, another count, or the whole log: refused */
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 2, 4, 1, &stored, &err), KTA_ERR_USAGE);
	assert_int_equal(stored, 0);
	assert_non_null(strstr(err.msg, "audited as shard 1/4"));
	assert_non_null(strstr(err.msg, "asks for shard 2/4"));
	assert_non_null(strstr(err.msg, "log " ORIGIN));
	assert_non_null(strstr(err.msg, t.dir));
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 1, 8, 1, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 0, 0, 1, NULL, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "asks for every label"));
	/* the caller's bad shards */
	assert_int_equal(kta_state_shard_claim(st, "x", 0, 1, 1, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_shard_claim(st, "x", 4, 4, 1, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_shard_claim(st, "x", 0, KTA_SHARD_MAX + 1, 1, NULL, &err),
			 KTA_ERR_USAGE);
	/* a log audited without shards (checkpoint, or a pending catch-up) cannot
	 * become a shard: its index holds every label */
	cr = mk_range(13, root);
	assert_int_equal(kta_state_log_put(st, "o-log", note, strlen(note), 13, root, cr, 1, NULL),
			 KTA_OK);
	kta_compact_range_free(cr);
	cr = mk_range(5, root);
	assert_int_equal(
	    kta_state_pending_put(st, "o-pend", note, strlen(note), 13, root, cr, 1, NULL), KTA_OK);
	kta_compact_range_free(cr);
	assert_int_equal(kta_state_shard_claim(st, "o-log", 0, 2, 1, &stored, &err), KTA_ERR_USAGE);
	assert_int_equal(stored, 0);
	assert_non_null(strstr(err.msg, "audited as every label"));
	assert_int_equal(kta_state_shard_claim(st, "o-pend", 1, 2, 1, NULL, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "asks for shard 1/2"));
	assert_int_equal(kta_state_shard_claim(st, "o-log", 0, 0, 1, NULL, NULL), KTA_OK);
	/* in the caller's transaction: a rollback takes the claim back */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_shard_claim(st, "o-new", 0, 2, 1, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 1);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_int_equal(kta_state_shard_claim(st, "o-new", 1, 2, 1, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 1);
	kta_state_close(st);
	/* a shard recorded while its database still said version 2 (before
	 * shards bumped it), 3 (before packed history) or 4 (before bucket
	 * rows without leaf hashes), is raised when opened, and the shard is
	 * kept */
	for (b = 2; b <= 4; b++) {
		char sql[32];

		(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", b);
		assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		st = open_ok(&t);
		assert_int_equal(user_version(&t), KTA_STATE_SCHEMA_VERSION);
		kta_state_close(st);
	}
	st = open_ok(&t);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 3, 4, 1, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 1, 4, 1, NULL, NULL), KTA_OK);
	kta_state_close(st);
	/* damaged rows are reported, never trusted */
	for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
		assert_int_equal(
		    sqlite3_exec(db, "UPDATE shards SET k = 1, n = 4", NULL, NULL, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, bad[b], NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		st = open_ok(&t);
		assert_int_equal(kta_state_shard_claim(st, ORIGIN, 1, 4, 1, NULL, &err),
				 KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "bad stored shard row"));
		kta_state_close(st);
	}
	tmp_rm(&t);

	/* a rolled-back claim leaves no shard row */
	tmp_make(&t2);
	st = open_ok(&t2);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 0, 2, 1, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 1);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 1, 2, 0, &stored, NULL), KTA_OK);
	assert_int_equal(stored, 0);
	kta_state_close(st);
	assert_int_equal(user_version(&t2), KTA_STATE_SCHEMA_VERSION);
	tmp_rm(&t2);

	/* watches: of labels of the shard, fine; of another shard's, refused
	 * (the shard would never check them) */
	tmp_make(&t2);
	st = open_ok(&t2);
	{
		uint32_t ka = 0, kb = 0;

		assert_int_equal(kta_shard_of("alice", 5, 2, &ka, NULL), KTA_OK);
		assert_int_equal(kta_shard_of("bob", 3, 2, &kb, NULL), KTA_OK);
		assert_int_not_equal(ka, kb);
		assert_int_equal(
		    kta_state_watch_add(st, ORIGIN, "alice", KTA_WATCH_TOFU, NULL, 0, 1, NULL),
		    KTA_OK);
		assert_int_equal(kta_state_shard_claim(st, ORIGIN, ka, 2, 0, NULL, NULL), KTA_OK);
		assert_int_equal(
		    kta_state_watch_add(st, ORIGIN, "bob", KTA_WATCH_TOFU, NULL, 0, 1, NULL),
		    KTA_OK);
		assert_int_equal(kta_state_shard_claim(st, ORIGIN, ka, 2, 1, &stored, &err),
				 KTA_ERR_USAGE);
		assert_int_equal(stored, 0);
		assert_non_null(strstr(err.msg, "has a watch of \"bob\", a label of shard"));
		assert_int_equal(kta_state_shard_claim(st, ORIGIN, kb, 2, 0, NULL, &err),
				 KTA_ERR_USAGE);
		assert_int_equal(kta_state_watch_remove(st, ORIGIN, "bob", NULL), KTA_OK);
		assert_int_equal(kta_state_shard_claim(st, ORIGIN, ka, 2, 1, &stored, NULL),
				 KTA_OK);
		assert_int_equal(stored, 1);
	}
	kta_state_close(st);
	tmp_rm(&t2);

	/* a label index alone also counts as audited */
	tmp_make(&t2);
	st = open_ok(&t2);
	index_put(st, "alice", 1, 0, 1, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_state_shard_claim(st, ORIGIN, 0, 2, 1, NULL, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "audited as every label"));
	kta_state_close(st);
	tmp_rm(&t2);
}

static void transaction_rollback(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_compact_range *cr;
	uint8_t root[32];
	struct kta_alert *a = mk_alert("alice", 1);
	struct kta_state_log *l = NULL;
	struct kta_state_history_item *hi = NULL;
	size_t nh;
	uint64_t n;
	int found;
	struct kta_error err;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_commit(st, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_true(kta_state_in_transaction(st));
	assert_int_equal(kta_state_begin(st, &err), KTA_ERR_USAGE);
	cr = mk_range(5, root);
	assert_int_equal(kta_state_log_put(st, ORIGIN, note, strlen(note), 5, root, cr, 1, NULL),
			 KTA_OK);
	index_put(st, "alice", 1, 0, 1, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_state_alert_add(st, a, NULL, NULL), KTA_OK);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_false(kta_state_in_transaction(st));
	assert_int_equal(kta_state_log_get(st, ORIGIN, &found, &l, NULL), KTA_OK);
	assert_false(found);
	assert_int_equal(kta_state_label_count(st, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(kta_state_alert_count(st, &n, NULL), KTA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(kta_state_history(st, ORIGIN, "alice", &hi, &nh, NULL), KTA_OK);
	assert_int_equal(nh, 0);
	/* the same step committed */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_log_put(st, ORIGIN, note, strlen(note), 5, root, cr, 1, NULL),
			 KTA_OK);
	index_put(st, "alice", 1, 0, 1, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_state_alert_add(st, a, NULL, NULL), KTA_OK);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	/* a label's leaf replayed twice is refused (a replay bug, not a silent overwrite) */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	{
		struct kta_state_index *ix = NULL;
		struct kta_replay_index ops;
		struct kta_label_state ls;
		uint8_t e[4] = "abc";

		assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
		ops = kta_state_index_ops(ix);
		memset(&ls, 0, sizeof(ls));
		ls.label = "alice";
		ls.version = 1;
		ls.leaf_index = 0;
		ls.entry = e;
		ls.entry_len = 3;
		assert_int_equal(ops.put(ops.ctx, &ls, KTA_AUTH_OWNER, &err), KTA_ERR_IO);
		ls.entry = NULL;
		ls.leaf_index = 1;
		assert_int_equal(ops.put(ops.ctx, &ls, KTA_AUTH_OWNER, &err), KTA_ERR_USAGE);
		kta_state_index_free(ix);
	}
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_int_equal(kta_state_label_count(st, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	kta_compact_range_free(cr);
	kta_alert_free(a);
	kta_state_close(st);
	tmp_rm(&t);
}

/* Closing with an open transaction rolls it back. */
static void close_rolls_back(void **state)
{
	struct tmp t;
	struct kta_state *st;
	uint64_t n;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	index_put(st, "alice", 1, 0, 1, KTA_AUTH_FIRST_VERSION);
	kta_state_close(st);
	st = open_ok(&t);
	assert_int_equal(kta_state_label_count(st, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 0);
	kta_state_close(st);
	tmp_rm(&t);
}

/* ---- crash test ------------------------------------------------------------ */

/* The text answer of one statement on t's database is want, read by a
 * connection of its own. */
static void sql_text_is(struct tmp *t, const char *sql, const char *want)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	assert_int_equal(sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), want);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* Byte 18 of t's database header, read without SQLite (which would roll
 * back a hot journal first): 2 in WAL mode, 1 with a rollback journal. */
static int header_mode(struct tmp *t)
{
	unsigned char h[20];
	FILE *f = fopen(t->db, "rb");

	assert_non_null(f);
	assert_int_equal(fread(h, 1, sizeof(h), f), sizeof(h));
	fclose(f);
	return h[18];
}

/*
 * One cycle step of the writer: the log grows by one leaf, a label, its
 * history row and an alert are added, all in one transaction. Commits one
 * after another, reporting each on fd, until killed; exclusive: in
 * exclusive mode.
 */
static void child_writer(struct tmp *t, int fd, int exclusive)
{
	struct kta_state *st = NULL;
	struct kta_state_log *l = NULL;
	struct kta_hasher *h = NULL;
	struct kta_compact_range *cr = NULL;
	uint64_t i;
	int found;

	if (kta_state_open(sdir(t), &st, NULL) != KTA_OK || kta_hasher_new(&h, NULL) != KTA_OK ||
	    (exclusive && kta_state_set_exclusive(st, NULL) != KTA_OK) ||
	    kta_state_log_get(st, ORIGIN, &found, &l, NULL) != KTA_OK)
		_exit(2);
	if (found) {
		cr = l->range;
		l->range = NULL;
	} else if (kta_compact_range_new(&cr, NULL) != KTA_OK) {
		_exit(2);
	}
	kta_state_log_free(l);
	for (i = kta_compact_range_size(cr);; i++) {
		uint8_t leaf[32], root[32];
		char label[32];
		struct kta_alert *a;
		uint64_t w = i + 1;

		snprintf(label, sizeof(label), "label-%llu", (unsigned long long)i);
		kta_hash_leaf(h, (const uint8_t *)&i, sizeof(i), leaf);
		if (kta_state_begin(st, NULL) != KTA_OK ||
		    kta_compact_range_append(cr, h, leaf, NULL) != KTA_OK ||
		    kta_compact_range_root(cr, h, root, NULL) != KTA_OK ||
		    kta_state_log_put(st, ORIGIN, note, strlen(note), i + 1, root, cr, 1, NULL) !=
			KTA_OK)
			_exit(3);
		index_put(st, label, 1, i, (int)(i % 200), KTA_AUTH_FIRST_VERSION);
		a = mk_alert(label, 1);
		if (kta_state_alert_add(st, a, NULL, NULL) != KTA_OK)
			_exit(4);
		kta_alert_free(a);
		if (kta_state_commit(st, NULL) != KTA_OK)
			_exit(5);
		if (write(fd, &w, sizeof(w)) != (ssize_t)sizeof(w))
			_exit(6);
	}
}

/* Checks the invariant: every table agrees with the committed log size. */
static uint64_t check_consistent(struct tmp *t)
{
	struct kta_state *st = open_ok(t);
	struct kta_state_log *l = NULL;
	struct kta_hasher *h = NULL;
	uint8_t root[32];
	uint64_t nlabels, nalerts, i;
	int found;

	assert_int_equal(kta_state_log_get(st, ORIGIN, &found, &l, NULL), KTA_OK);
	assert_true(found);
	assert_int_equal(kta_state_label_count(st, ORIGIN, &nlabels, NULL), KTA_OK);
	assert_int_equal(kta_state_alert_count(st, &nalerts, NULL), KTA_OK);
	assert_int_equal(nlabels, l->size);
	assert_int_equal(nalerts, l->size);
	/* the stored range is the range of exactly `size` leaves, with its root */
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_root(l->range, h, root, NULL), KTA_OK);
	{
		struct kta_compact_range *cr = NULL;
		uint8_t leaf[32], want[32];

		assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
		for (i = 0; i < l->size; i++) {
			kta_hash_leaf(h, (const uint8_t *)&i, sizeof(i), leaf);
			assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_OK);
		}
		assert_int_equal(kta_compact_range_root(cr, h, want, NULL), KTA_OK);
		assert_memory_equal(root, want, 32);
		kta_compact_range_free(cr);
	}
	i = l->size;
	kta_state_log_free(l);
	kta_hasher_free(h);
	kta_state_close(st);
	return i;
}

static void crash_kill9(void **state)
{
	struct tmp t;
	uint64_t rng = 99, committed = 0;
	int round;

	(void)state;
	tmp_make(&t);
	for (round = 0; round < 8; round++) {
		int fds[2];
		pid_t pid;
		uint64_t want = 1 + tu_rand(&rng) % 40, got = 0, v, size;
		int status;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			/* every other writer in exclusive mode: each kind killed
			 * mid-commit, each recovered by a normal open */
			child_writer(&t, fds[1], round % 2);
			_exit(0);
		}
		close(fds[1]);
		/* wait for `want` commits, then kill -9 while it is mid-way through more */
		while (got < want && read(fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
			got++;
		assert_int_equal(got, want);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		/* everything the child reported committed survived, and more may have */
		while (read(fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
			got = v;
		close(fds[0]);
		/* a writer killed in exclusive mode left a rollback journal's
		 * database, which the next open switches back */
		assert_int_equal(header_mode(&t), round % 2 ? 1 : 2);
		size = check_consistent(&t);
		assert_true(size >= committed + want);
		committed = size;
		assert_int_equal(header_mode(&t), 2);
	}
	tmp_rm(&t);
}

/*
 * A transaction killed in exclusive mode after its pages spilled into the
 * database (the smallest cache, 3000 labels rewritten, 20000 alerts): the
 * journal is hot, and the next open puts back exactly what was committed.
 */
static void exclusive_crash_rollback(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct stat sb;
	char path[128];
	char label[32];
	off_t before;
	uint64_t n, i;
	pid_t pid;
	int status, found;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (i = 0; i < 3000; i++) {
		snprintf(label, sizeof(label), "label-%llu", (unsigned long long)i);
		index_put(st, label, 1, i, (int)(i % 200), KTA_AUTH_FIRST_VERSION);
	}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	kta_state_close(st);
	assert_int_equal(stat(t.db, &sb), 0);
	before = sb.st_size;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kta_state *c = NULL;

		if (kta_state_open(sdir(&t), &c, NULL) != KTA_OK ||
		    kta_state_set_exclusive(c, NULL) != KTA_OK ||
		    kta_state_set_cache(c, KTA_STATE_CACHE_MIN_MIB, NULL) != KTA_OK ||
		    kta_state_begin(c, NULL) != KTA_OK)
			_exit(2);
		for (i = 0; i < 3000; i++) {
			snprintf(label, sizeof(label), "label-%llu", (unsigned long long)i);
			index_put(c, label, 2, 3000 + i, (int)(i % 200), KTA_AUTH_OWNER);
		}
		for (i = 0; i < 20000; i++) {
			struct kta_alert *a = mk_alert("label-0", 2 + i);

			if (kta_state_alert_add(c, a, NULL, NULL) != KTA_OK)
				_exit(3);
			kta_alert_free(a);
		}
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	/* hot: a journal with a header, and pages written over the database */
	snprintf(path, sizeof(path), "%s-journal", t.db);
	{
		FILE *f = fopen(path, "rb");
		int c0;

		assert_non_null(f);
		c0 = fgetc(f);
		fclose(f);
		assert_true(c0 > 0);
	}
	assert_int_equal(stat(t.db, &sb), 0);
	assert_true(sb.st_size > before);
	assert_int_equal(header_mode(&t), 1);
	st = open_ok(&t);
	assert_int_equal(kta_state_alert_count(st, &n, NULL), KTA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(kta_state_label_count(st, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 3000);
	for (i = 0; i < 3000; i += 7) {
		struct kta_state_index *ix = NULL;
		struct kta_replay_index ops;
		struct kta_label_state ls;

		snprintf(label, sizeof(label), "label-%llu", (unsigned long long)i);
		assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
		ops = kta_state_index_ops(ix);
		found = 0;
		assert_int_equal(ops.get(ops.ctx, label, &found, &ls, NULL), KTA_OK);
		assert_true(found);
		assert_int_equal(ls.version, 1);
		assert_int_equal(ls.leaf_index, i);
		kta_state_index_free(ix);
	}
	kta_state_close(st);
	sql_text_is(&t, "PRAGMA journal_mode", "wal");
	sql_text_is(&t, "PRAGMA integrity_check", "ok");
	tmp_rm(&t);
}

/* Test seam in src/state.c. */
void kta_state_test_busy_timeout(struct kta_state *st, int ms);

/*
 * Exclusive mode (kta_state_set_exclusive): refused inside a transaction
 * and while another handle has the database open (the handle goes on as
 * before); then it locks every other connection out, keeps its journal
 * 0600; kta_state_set_shared gives the database back (WAL, unlocked), and
 * close after another exclusive spell leaves it in WAL mode with its data.
 */
static void exclusive_mode(void **state)
{
	struct tmp t;
	struct kta_state *a, *b;
	struct kta_error err;
	struct stat sb;
	sqlite3 *db = NULL;
	char path[128];
	uint64_t n;
	mode_t old;

	(void)state;
	tmp_make(&t);
	old = umask(0);
	a = open_ok(&t);
	umask(old);
	b = open_ok(&t);
	assert_int_equal(kta_state_begin(a, NULL), KTA_OK);
	assert_int_equal(kta_state_set_exclusive(a, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_rollback(a, NULL), KTA_OK);
	kta_state_test_busy_timeout(a, 50);
	assert_int_equal(kta_state_set_exclusive(a, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "exclusive mode needs the state database alone"));
	/* both handles go on sharing the database */
	index_put(a, "alice", 1, 0, 1, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_state_label_count(b, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	kta_state_close(b);
	sql_text_is(&t, "PRAGMA journal_mode", "wal");
	assert_int_equal(kta_state_set_exclusive(a, NULL), KTA_OK);
	assert_int_equal(kta_state_set_exclusive(a, NULL), KTA_OK); /* again: nothing to do */
	index_put(a, "bob", 1, 1, 2, KTA_AUTH_FIRST_VERSION);
	/* after a commit in exclusive mode: a rollback journal, no WAL, and no
	 * other connection gets in, not even to read */
	snprintf(path, sizeof(path), "%s-journal", t.db);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s-wal", t.db);
	assert_int_not_equal(stat(path, &sb), 0);
	assert_int_equal(sqlite3_open_v2(t.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT COUNT(*) FROM labels", NULL, NULL, NULL),
			 SQLITE_BUSY);
	sqlite3_close(db);
	assert_int_equal(kta_state_label_count(a, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 2);
	/* shared again: WAL, the lock released, both handles write */
	assert_int_equal(kta_state_begin(a, NULL), KTA_OK);
	assert_int_equal(kta_state_set_shared(a, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_rollback(a, NULL), KTA_OK);
	assert_int_equal(kta_state_set_shared(a, NULL), KTA_OK);
	assert_int_equal(kta_state_set_shared(a, NULL), KTA_OK); /* again: nothing to do */
	assert_int_equal(header_mode(&t), 2);
	b = open_ok(&t);
	/* a write that finds the database locked says who may hold it */
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	kta_state_test_busy_timeout(b, 50);
	assert_int_equal(kta_state_watch_add(b, ORIGIN, "zed", KTA_WATCH_TOFU, NULL, 0, 1, &err),
			 KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "database is locked"));
	assert_non_null(strstr(err.msg, "a monitor run in exclusive mode"));
	sqlite3_close(db);
	index_put(b, "carol", 1, 2, 3, KTA_AUTH_FIRST_VERSION);
	index_put(a, "dave", 1, 3, 4, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_state_label_count(b, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 4);
	kta_state_close(b);
	/* exclusive once more, then closed: WAL again, the data there */
	assert_int_equal(kta_state_set_exclusive(a, NULL), KTA_OK);
	index_put(a, "erin", 1, 4, 5, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(header_mode(&t), 1);
	kta_state_close(a);
	sql_text_is(&t, "PRAGMA journal_mode", "wal");
	a = open_ok(&t);
	assert_int_equal(kta_state_label_count(a, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 5);
	kta_state_close(a);
	/* another process that lets go within the busy timeout: the switch
	 * waits for it and succeeds (the child is forked with no connection
	 * open: SQLite's locks do not survive a fork) */
	{
		int fds[2], status;
		char c = 0;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct kta_state *o = NULL;
			uint64_t cnt;

			close(fds[0]);
			if (kta_state_open(sdir(&t), &o, NULL) != KTA_OK ||
			    kta_state_label_count(o, ORIGIN, &cnt, NULL) != KTA_OK ||
			    write(fds[1], "o", 1) != 1)
				_exit(2);
			usleep(300 * 1000);
			kta_state_close(o);
			_exit(0);
		}
		close(fds[1]);
		assert_int_equal(read(fds[0], &c, 1), 1);
		close(fds[0]);
		a = open_ok(&t);
		assert_int_equal(kta_state_set_exclusive(a, &err), KTA_OK);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(header_mode(&t), 1);
	}
	kta_state_close(a);
	tmp_rm(&t);
}

/* ---- outbox ---------------------------------------------------------------- */

static void outbox(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_alert *a1 = mk_alert("alice", 1), *a2 = mk_alert("alice", 2);
	struct kta_state_outbox_item *it = NULL;
	size_t n;
	int added = -1;
	uint64_t cnt;
	const char *both[] = {"s0", "s1"};
	struct kta_error err;
	char longerr[3000];

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_sink_register(st, "s0", 1, &added, NULL), KTA_OK);
	assert_int_equal(added, 1);
	assert_int_equal(kta_state_sink_register(st, "s0", 2, &added, NULL), KTA_OK);
	assert_int_equal(added, 0);
	assert_int_equal(kta_state_alert_add(st, a1, &added, NULL), KTA_OK);
	assert_int_equal(added, 1);
	/* a re-detected finding is stored once */
	assert_int_equal(kta_state_alert_add(st, a1, &added, NULL), KTA_OK);
	assert_int_equal(added, 0);
	assert_int_equal(kta_state_sink_register(st, "s1", 3, NULL, NULL), KTA_OK);
	assert_int_equal(kta_state_alert_add(st, a2, &added, NULL), KTA_OK);
	assert_int_equal(added, 1);
	assert_int_equal(kta_state_alert_count(st, &cnt, NULL), KTA_OK);
	assert_int_equal(cnt, 2);

	/* s0 (registered first) gets both, oldest first; s1 only the newer one */
	assert_int_equal(kta_state_outbox_next(st, "s0", 50, 10, &it, &n, NULL), KTA_OK);
	assert_int_equal(n, 2);
	assert_string_equal(it[0].id, a1->id);
	assert_string_equal(it[1].id, a2->id);
	assert_int_equal(it[0].severity, KTA_SEV_ALERT);
	assert_int_equal(it[0].attempts, 0);
	assert_int_equal(it[0].created, 1000);
	assert_non_null(strstr(it[0].json, a1->id));
	{
		json_t *j = json_loads(it[0].json, 0, NULL);
		struct kta_alert *back = NULL;

		assert_non_null(j);
		assert_int_equal(kta_alert_from_json(j, &back, NULL), KTA_OK);
		assert_string_equal(back->id, a1->id);
		assert_string_equal(back->label, "alice");
		kta_alert_free(back);
		json_decref(j);
	}
	kta_state_outbox_free(it, n);
	assert_int_equal(kta_state_outbox_next(st, "s0", 50, 1, &it, &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	kta_state_outbox_free(it, n);
	assert_int_equal(kta_state_outbox_next(st, "s1", 50, 10, &it, &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(it[0].id, a2->id);
	kta_state_outbox_free(it, n);
	assert_int_equal(kta_state_alerts_pending_count(st, both, 2, &cnt, NULL), KTA_OK);
	assert_int_equal(cnt, 2);
	{
		const char *unreg[] = {"never-registered"};

		assert_int_equal(kta_state_alerts_pending_count(st, unreg, 1, &cnt, NULL), KTA_OK);
		assert_int_equal(cnt, 0);
	}

	/* a failed attempt waits for next_attempt; other sinks are not affected */
	memset(longerr, 'x', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	assert_int_equal(kta_state_outbox_mark(st, a1->id, "s0", 0, 100, longerr, 50, NULL),
			 KTA_OK);
	assert_int_equal(kta_state_outbox_next(st, "s0", 99, 10, &it, &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(it[0].id, a2->id);
	kta_state_outbox_free(it, n);
	assert_int_equal(kta_state_outbox_next(st, "s0", 100, 10, &it, &n, NULL), KTA_OK);
	assert_int_equal(n, 2);
	assert_string_equal(it[0].id, a1->id);
	assert_int_equal(it[0].attempts, 1);
	kta_state_outbox_free(it, n);
	/* delivered: never again for that sink */
	assert_int_equal(kta_state_outbox_mark(st, a1->id, "s0", 1, 0, NULL, 101, NULL), KTA_OK);
	assert_int_equal(kta_state_outbox_mark(st, a2->id, "s0", 1, 0, NULL, 101, NULL), KTA_OK);
	/* a late failure report does not undo a delivery */
	assert_int_equal(kta_state_outbox_mark(st, a2->id, "s0", 0, 500, "late", 102, NULL),
			 KTA_OK);
	assert_int_equal(kta_state_outbox_next(st, "s0", 1000, 10, &it, &n, NULL), KTA_OK);
	assert_int_equal(n, 0);
	assert_null(it);
	assert_int_equal(kta_state_alerts_pending_count(st, both, 2, &cnt, NULL), KTA_OK);
	assert_int_equal(cnt, 1); /* a2 still pending for s1 */
	assert_int_equal(kta_state_alerts_pending_count(st, both, 1, &cnt, NULL), KTA_OK);
	assert_int_equal(cnt, 0);
	assert_int_equal(kta_state_outbox_mark(st, a2->id, "s1", 1, 0, NULL, 103, NULL), KTA_OK);
	assert_int_equal(kta_state_alerts_pending_count(st, both, 2, &cnt, NULL), KTA_OK);
	assert_int_equal(cnt, 0);

	/* usage errors */
	assert_int_equal(kta_state_outbox_next(st, "nope", 0, 10, &it, &n, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "not registered"));
	assert_int_equal(kta_state_outbox_mark(st, "0123456789abcdef0123456789abcdef", "s0", 1, 0,
					       NULL, 0, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_state_outbox_mark(st, a1->id, "nope", 1, 0, NULL, 0, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_state_sink_register(st, "", 0, NULL, &err), KTA_ERR_USAGE);
	a2->id[0] = '\0';
	assert_int_equal(kta_state_alert_add(st, a2, NULL, &err), KTA_ERR_USAGE);
	kta_state_close(st);

	kta_alert_free(a1);
	kta_alert_free(a2);
	tmp_rm(&t);
}

static void outbox_error_text_cut(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_alert *a = mk_alert("alice", 1);
	char longerr[3000];
	sqlite3 *db;
	sqlite3_stmt *q;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_sink_register(st, "s", 0, NULL, NULL), KTA_OK);
	assert_int_equal(kta_state_alert_add(st, a, NULL, NULL), KTA_OK);
	/* a multi-byte character across the cut is not split */
	memset(longerr, 'x', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	memcpy(longerr + KTA_STATE_ERROR_TEXT_MAX - 1, "\xc3\xa9", 2);
	assert_int_equal(kta_state_outbox_mark(st, a->id, "s", 0, 5, longerr, 1, NULL), KTA_OK);
	assert_int_equal(kta_state_outbox_mark(st, a->id, "s", 0, 9, "second", 2, NULL), KTA_OK);
	kta_state_close(st);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT attempts, next_attempt, last_error FROM deliveries", -1,
			       &q, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 2);
	assert_int_equal(sqlite3_column_int(q, 1), 9);
	assert_string_equal((const char *)sqlite3_column_text(q, 2), "second");
	sqlite3_finalize(q);
	sqlite3_close(db);
	/* and the first, long one */
	st = open_ok(&t);
	assert_int_equal(kta_state_outbox_mark(st, a->id, "s", 0, 9, longerr, 2, NULL), KTA_OK);
	kta_state_close(st);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT length(CAST(last_error AS BLOB)) FROM "
					    "deliveries",
					    -1, &q, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), KTA_STATE_ERROR_TEXT_MAX - 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	kta_alert_free(a);
	tmp_rm(&t);
}

/* ---- watches and history -------------------------------------------------- */

static void watches(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_watch *w = NULL, *list = NULL;
	struct kta_entry_key k[2];
	size_t n;
	int found;
	struct kta_error err;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	memset(k, 0, sizeof(k));
	k[0].alg = KTA_ENTRY_ALG_ED25519;
	memset(k[0].pub, 1, 32);
	k[0].device = (char *)"phone";
	k[1].alg = KTA_ENTRY_ALG_X25519;
	memset(k[1].pub, 2, 32);
	k[1].device = (char *)"phone";
	assert_int_equal(kta_state_watch_add(st, ORIGIN, "alice", KTA_WATCH_PINNED, k, 2, 10, NULL),
			 KTA_OK);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "alice", &found, &w, NULL), KTA_OK);
	assert_true(found);
	assert_int_equal(w->mode, KTA_WATCH_PINNED);
	assert_true(w->has_approved);
	assert_int_equal(w->approved_version, 0);
	assert_int_equal(w->nkeys, 2);
	assert_int_equal(w->keys[1].alg, KTA_ENTRY_ALG_X25519);
	assert_string_equal(w->keys[1].device, "phone");
	assert_int_equal(w->keys[1].pub[31], 2);
	assert_int_equal(w->added_at, 10);
	kta_state_watch_free(w);
	/* not canonical, bad label, tofu with keys */
	k[1].alg = KTA_ENTRY_ALG_ED25519;
	assert_int_equal(kta_state_watch_add(st, ORIGIN, "x", KTA_WATCH_PINNED, k, 2, 10, &err),
			 KTA_ERR_USAGE);
	k[1].alg = KTA_ENTRY_ALG_X25519;
	assert_int_equal(kta_state_watch_add(st, ORIGIN, "a b", KTA_WATCH_TOFU, NULL, 0, 10, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_state_watch_add(st, ORIGIN, "x", KTA_WATCH_TOFU, k, 1, 10, &err),
			 KTA_ERR_USAGE);

	/* a pin of the empty set: the label must have no keys */
	assert_int_equal(
	    kta_state_watch_add(st, ORIGIN, "erin", KTA_WATCH_PINNED, NULL, 0, 10, NULL), KTA_OK);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "erin", &found, &w, NULL), KTA_OK);
	assert_true(w->has_approved);
	assert_int_equal(w->nkeys, 0);
	assert_null(w->keys);
	kta_state_watch_free(w);
	assert_int_equal(kta_state_watch_remove(st, ORIGIN, "erin", NULL), KTA_OK);

	/* tofu on a label not seen yet: no approved set */
	assert_int_equal(kta_state_watch_add(st, ORIGIN, "bob", KTA_WATCH_TOFU, NULL, 0, 11, NULL),
			 KTA_OK);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "bob", &found, &w, NULL), KTA_OK);
	assert_false(w->has_approved);
	assert_int_equal(w->nkeys, 0);
	kta_state_watch_free(w);
	/* tofu on a label already replayed: its current set is approved at once */
	index_put(st, "carol", 1, 0, 7, KTA_AUTH_FIRST_VERSION);
	index_put(st, "carol", 2, 1, 8, KTA_AUTH_OWNER);
	assert_int_equal(
	    kta_state_watch_add(st, ORIGIN, "carol", KTA_WATCH_TOFU, NULL, 0, 12, NULL), KTA_OK);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "carol", &found, &w, NULL), KTA_OK);
	assert_true(w->has_approved);
	assert_int_equal(w->approved_version, 2);
	assert_int_equal(w->nkeys, 1);
	assert_int_equal(w->keys[0].pub[0], 8);
	kta_state_watch_free(w);

	/* approve an older version: its keys become the approved set */
	assert_int_equal(kta_state_watch_approve(st, ORIGIN, "carol", 1, NULL), KTA_OK);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "carol", &found, &w, NULL), KTA_OK);
	assert_int_equal(w->approved_version, 1);
	assert_int_equal(w->keys[0].pub[0], 7);
	assert_int_equal(w->mode, KTA_WATCH_TOFU);
	assert_int_equal(w->added_at, 12);
	kta_state_watch_free(w);
	assert_int_equal(kta_state_watch_approve(st, ORIGIN, "carol", 3, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "no version 3"));
	assert_int_equal(kta_state_watch_approve(st, ORIGIN, "dave", 1, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "not watched"));
	/* approving a pinned watch replaces the pin */
	index_put(st, "alice", 1, 2, 9, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_state_watch_approve(st, ORIGIN, "alice", 1, NULL), KTA_OK);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "alice", &found, &w, NULL), KTA_OK);
	assert_int_equal(w->mode, KTA_WATCH_PINNED);
	assert_int_equal(w->approved_version, 1);
	assert_int_equal(w->nkeys, 1);
	kta_state_watch_free(w);

	/* list, per origin and for all */
	assert_int_equal(kta_state_watch_add(st, "other", "zed", KTA_WATCH_TOFU, NULL, 0, 1, NULL),
			 KTA_OK);
	assert_int_equal(kta_state_watch_list(st, ORIGIN, &list, &n, NULL), KTA_OK);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].label, "alice");
	assert_string_equal(list[1].label, "bob");
	assert_string_equal(list[2].label, "carol");
	kta_state_watch_list_free(list, n);
	assert_int_equal(kta_state_watch_list(st, NULL, &list, &n, NULL), KTA_OK);
	assert_int_equal(n, 4);
	assert_string_equal(list[3].origin, "other");
	kta_state_watch_list_free(list, n);

	/* remove */
	assert_int_equal(kta_state_watch_remove(st, ORIGIN, "bob", NULL), KTA_OK);
	assert_int_equal(kta_state_watch_remove(st, ORIGIN, "bob", &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "bob", &found, &w, NULL), KTA_OK);
	assert_false(found);
	assert_null(w);
	kta_state_close(st);
	tmp_rm(&t);
}

static void watches_adapter_tofu(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_watches *sw = NULL;
	struct kta_replay_watches ops;
	struct kta_replay_watch w;
	struct kta_state_watch *sw2 = NULL;
	struct kta_entry_key k;
	int found;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_watch_add(st, ORIGIN, "bob", KTA_WATCH_TOFU, NULL, 0, 1, NULL),
			 KTA_OK);
	assert_int_equal(kta_state_watches_new(st, ORIGIN, &sw, NULL), KTA_OK);
	ops = kta_state_watches_ops(sw);
	assert_int_equal(ops.get(ops.ctx, "bob", &w, NULL), KTA_OK);
	assert_true(w.watched);
	assert_false(w.has_approved);
	assert_int_equal(ops.get(ops.ctx, "alice", &w, NULL), KTA_OK);
	assert_false(w.watched);
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	memset(k.pub, 5, 32);
	k.device = (char *)"d";
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(ops.tofu(ops.ctx, "bob", 3, 9, &k, 1, NULL), KTA_OK);
	assert_int_equal(ops.get(ops.ctx, "bob", &w, NULL), KTA_OK);
	assert_true(w.has_approved);
	assert_int_equal(w.approved_version, 3);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	assert_int_equal(ops.tofu(ops.ctx, "nobody", 3, 9, &k, 1, NULL), KTA_ERR_USAGE);
	kta_state_watches_free(sw);
	assert_int_equal(kta_state_watch_get(st, ORIGIN, "bob", &found, &sw2, NULL), KTA_OK);
	assert_true(sw2->has_approved);
	assert_int_equal(sw2->approved_version, 3);
	assert_int_equal(sw2->keys[0].pub[0], 5);
	kta_state_watch_free(sw2);
	kta_state_close(st);
	tmp_rm(&t);
}

/* The index's entry_hash of label at leaf is the leaf hash of
 * mk_entry(label, version, fill): label records keep no leaf hash, it is
 * rebuilt from the history. */
static void entry_hash_is(struct kta_replay_index ops, const char *label, uint64_t leaf,
			  uint64_t version, int fill)
{
	struct kta_hasher *hs = NULL;
	struct kta_error err;
	uint8_t want[32], got[32];
	size_t len;
	uint8_t *raw = mk_entry(label, version, fill, &len);

	assert_non_null(ops.entry_hash);
	assert_int_equal(kta_hasher_new(&hs, NULL), KTA_OK);
	kta_hash_leaf(hs, raw, len, want);
	kta_hasher_free(hs);
	free(raw);
	if (ops.entry_hash(ops.ctx, label, version, leaf, got, &err) != KTA_OK)
		fail_msg("entry_hash %s %llu: %s", label, (unsigned long long)leaf, err.msg);
	assert_memory_equal(got, want, 32);
}

static void entry_hash_bad(struct kta_replay_index ops, const char *label, uint64_t version,
			   uint64_t leaf, const char *msg)
{
	struct kta_error err;
	uint8_t got[32];

	assert_int_equal(ops.entry_hash(ops.ctx, label, version, leaf, got, &err),
			 KTA_ERR_MALFORMED);
	if (strstr(err.msg, msg) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err.msg, msg);
}

static void history_and_index(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_history_item *h = NULL;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	struct kta_label_state ls;
	struct kta_entry *e = NULL;
	size_t n;
	int found;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	index_put(st, "alice", 1, 3, 1, KTA_AUTH_FIRST_VERSION);
	index_put(st, "bob", 1, 4, 1, KTA_AUTH_FIRST_VERSION);
	index_put(st, "alice", 2, 7, 2, KTA_AUTH_UNAUTHORIZED);
	index_put(st, "alice", 3, 9, -1, KTA_AUTH_OWNER); /* deleted */
	assert_int_equal(kta_state_history(st, ORIGIN, "alice", &h, &n, NULL), KTA_OK);
	assert_int_equal(n, 3);
	assert_int_equal(h[0].version, 1);
	assert_int_equal(h[0].leaf_index, 3);
	assert_int_equal(h[0].auth, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(h[1].auth, KTA_AUTH_UNAUTHORIZED);
	assert_int_equal(h[2].auth, KTA_AUTH_OWNER);
	assert_int_equal(kta_entry_parse(h[1].entry, h[1].entry_len, &e, NULL), KTA_OK);
	assert_int_equal(e->version, 2);
	assert_int_equal(e->keys[0].pub[0], 2);
	kta_entry_free(e);
	kta_state_history_free(h, n);
	assert_int_equal(kta_state_history(st, ORIGIN, "nobody", &h, &n, NULL), KTA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(kta_state_history(st, "other", "alice", &h, &n, NULL), KTA_OK);
	assert_int_equal(n, 0);
	/* the index gives the latest state */
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	assert_int_equal(ops.get(ops.ctx, "alice", &found, &ls, NULL), KTA_OK);
	assert_true(found);
	assert_string_equal(ls.label, "alice");
	assert_int_equal(ls.version, 3);
	assert_int_equal(ls.leaf_index, 9);
	assert_int_equal(ls.nkeys, 0);
	assert_null(ls.entry);
	entry_hash_is(ops, "alice", 9, 3, -1);
	/* leaf 4 is bob's entry, leaf 5 none */
	entry_hash_bad(ops, "alice", 3, 4, "leaf 4 is not version 3 of alice");
	entry_hash_bad(ops, "alice", 3, 5, "no valid record for leaf 5");
	/* alice's leaf 9 holds version 3, not 2 */
	entry_hash_bad(ops, "alice", 2, 9, "leaf 9 is not version 2 of alice");
	assert_int_equal(ops.get(ops.ctx, "bob", &found, &ls, NULL), KTA_OK);
	assert_int_equal(ls.nkeys, 1);
	assert_string_equal(ls.keys[0].device, "phone");
	assert_int_equal(ops.get(ops.ctx, "carol", &found, &ls, NULL), KTA_OK);
	assert_false(found);
	kta_state_index_free(ix);
	kta_state_close(st);
	tmp_rm(&t);
}

#define APP_LABELS 50
#define APP_LEAVES 900
/* leaf i: label u<i % APP_LABELS>, version i / APP_LABELS + 1, keys filled
 * with i % 200 + 1 */
static void app_label(size_t i, char *label, size_t n)
{
	(void)snprintf(label, n, "u%zu", i % APP_LABELS);
}

/* A replay asks for leaf hashes while it appends history (ix_entry_hash):
 * reading the chunk being appended to, or an older one, leaves the appends
 * intact. */
static void entry_hash_while_appending(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	struct kta_state_history_item *h = NULL;
	size_t i, j, n, k;
	char label[32];

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	for (i = 0; i < APP_LEAVES; i++) {
		app_label(i, label, sizeof(label));
		ops_put(ops, label, i / APP_LABELS + 1, i, (int)(i % 200) + 1, KTA_AUTH_OWNER);
		/* the leaf just put (the open chunk), and one further back */
		entry_hash_is(ops, label, i, i / APP_LABELS + 1, (int)(i % 200) + 1);
		j = (i * 7919) % (i + 1);
		app_label(j, label, sizeof(label));
		entry_hash_is(ops, label, j, j / APP_LABELS + 1, (int)(j % 200) + 1);
	}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	kta_state_index_free(ix);
	/* every label's history is whole, and every leaf's hash right */
	for (k = 0; k < APP_LABELS; k++) {
		app_label(k, label, sizeof(label));
		assert_int_equal(kta_state_history(st, ORIGIN, label, &h, &n, NULL), KTA_OK);
		assert_int_equal(n, APP_LEAVES / APP_LABELS);
		for (j = 0; j < n; j++) {
			assert_int_equal(h[j].leaf_index, k + j * APP_LABELS);
			assert_int_equal(h[j].version, j + 1);
		}
		kta_state_history_free(h, n);
	}
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	for (i = 0; i < APP_LEAVES; i++) {
		app_label(i, label, sizeof(label));
		entry_hash_is(ops, label, i, i / APP_LABELS + 1, (int)(i % 200) + 1);
	}
	kta_state_index_free(ix);
	kta_state_close(st);
	tmp_rm(&t);
}

static enum kta_status count_emit(void *ctx, const struct kta_alert *a, struct kta_error *err)
{
	(void)a;
	(void)err;
	(*(int *)ctx)++;
	return KTA_OK;
}

/* Replays (raw, len) at leaf through the state's index, in a transaction
 * committed when the replay succeeds: its status, *alerts counts alerts. */
static enum kta_status replay_at(struct kta_state *st, const uint8_t *raw, size_t len,
				 uint64_t leaf, int *alerts, struct kta_error *err)
{
	struct kta_replay_config cfg;
	struct kta_replay *r = NULL;
	struct kta_state_index *ix = NULL;
	enum kta_status rs;

	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = ORIGIN;
	cfg.now = 1;
	cfg.size = leaf + 1;
	cfg.index = kta_state_index_ops(ix);
	cfg.emit = count_emit;
	cfg.emit_ctx = alerts;
	assert_int_equal(kta_replay_new(&cfg, &r, NULL), KTA_OK);
	rs = kta_replay_entry(r, leaf, raw, len, NULL, err);
	kta_replay_free(r);
	kta_state_index_free(ix);
	if (rs == KTA_OK)
		assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	else
		assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	return rs;
}

/* A repeat is told from an equivocation by the leaf hash rebuilt from the
 * label's latest history record: with that record damaged, the replay
 * stops with the state's error instead of guessing. */
static void entry_hash_damaged_history(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_error err;
	sqlite3 *db;
	size_t len, len2;
	uint8_t *raw = mk_entry("alice", 1, 3, &len), *other = mk_entry("alice", 1, 4, &len2);
	int alerts = 0;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(replay_at(st, raw, len, 0, &alerts, NULL), KTA_OK);
	assert_int_equal(alerts, 0);
	/* the same bytes: a repeat; other bytes: an equivocation */
	assert_int_equal(replay_at(st, raw, len, 1, &alerts, NULL), KTA_OK);
	assert_int_equal(alerts, 1);
	assert_int_equal(replay_at(st, other, len2, 2, &alerts, NULL), KTA_OK);
	assert_int_equal(alerts, 2);
	kta_state_close(st);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "UPDATE label_history SET data = x'05'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = open_ok(&t);
	assert_int_equal(replay_at(st, raw, len, 3, &alerts, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "label_history"));
	assert_non_null(strstr(err.msg, "no valid record for leaf 2"));
	assert_int_equal(alerts, 2);
	kta_state_close(st);
	free(raw);
	free(other);
	tmp_rm(&t);
}

/* A history chunk read for entry_hash is kept only while the database
 * holds it: after a rollback, the same leaves hold other entries. */
static void entry_hash_after_rollback(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	size_t i, round;
	char label[32];

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	for (round = 0; round < 2; round++) {
		assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
		/* enough for leaf 5 to be in a closed chunk, read from SQLite */
		for (i = 0; i < 400; i++) {
			app_label(i, label, sizeof(label));
			ops_put(ops, label, i / APP_LABELS + 1, i, (int)((i + 7 * round) % 200) + 1,
				KTA_AUTH_OWNER);
		}
		entry_hash_is(ops, "u5", 5, 1, (int)(5 + 7 * round) + 1);
		if (round == 0)
			assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
		else
			assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	}
	kta_state_index_free(ix);
	kta_state_close(st);
	tmp_rm(&t);
}

/* Rewrites bucket row (d, len) in schema 4's form (no leading 0x00, a
 * 32-byte leaf hash after each record's leaf index) into out; its length. */
static size_t row_to_v4(const uint8_t *d, size_t len, uint8_t *out)
{
	size_t off = 1, o = 0;
	uint64_t ll, ver, leaf, kl;

	assert_true(len > 0 && d[0] == 0x00);
	while (off < len) {
		assert_int_equal(kta_varint_get(d, len, &off, &ll), 0);
		o += kta_varint_put(out + o, ll);
		memcpy(out + o, d + off, (size_t)ll);
		o += (size_t)ll;
		off += (size_t)ll;
		assert_int_equal(kta_varint_get(d, len, &off, &ver), 0);
		assert_int_equal(kta_varint_get(d, len, &off, &leaf), 0);
		o += kta_varint_put(out + o, ver);
		o += kta_varint_put(out + o, leaf);
		memset(out + o, 0xab, 32);
		o += 32;
		assert_int_equal(kta_varint_get(d, len, &off, &kl), 0);
		o += kta_varint_put(out + o, kl);
		memcpy(out + o, d + off, (size_t)kl);
		o += (size_t)kl;
		off += (size_t)kl;
	}
	return o;
}

/* First byte of labels row `bucket`. */
static int row_first_byte(sqlite3 *db, long long bucket)
{
	sqlite3_stmt *s;
	int b;

	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT data FROM labels WHERE origin = ?1 AND bucket = ?2", -1,
			       &s, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(s, 1, ORIGIN, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, bucket);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	b = ((const uint8_t *)sqlite3_column_blob(s, 0))[0];
	sqlite3_finalize(s);
	return b;
}

#define V4_LABELS 80
/* Bucket rows as schema 4 wrote them (a leaf hash in every record) are read
 * after the raise to 5, and a bucket that changes is written in the new
 * form; a damaged old row is reported. */
static void schema4_bucket_rows(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	struct kta_label_state ls;
	struct kta_error err;
	sqlite3 *db;
	sqlite3_stmt *s, *u;
	uint8_t out[65536];
	long long buckets[8], changed = -1;
	size_t i, nb = 0, old = 0, bad = 0;
	int found;
	char label[32];

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	for (i = 0; i < V4_LABELS; i++) {
		(void)snprintf(label, sizeof(label), "s%zu", i);
		index_put(st, label, 1, i, (int)i + 1, KTA_AUTH_FIRST_VERSION);
	}
	kta_state_close(st);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT bucket, data FROM labels WHERE bucket >= 0",
					    -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "UPDATE labels SET data = ?2 WHERE bucket = ?1", -1, &u, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(s, 1);
		size_t n = row_to_v4(sqlite3_column_blob(s, 1), len, out);

		assert_true(nb < 8);
		buckets[nb++] = sqlite3_column_int64(s, 0);
		sqlite3_bind_int64(u, 1, sqlite3_column_int64(s, 0));
		sqlite3_bind_blob(u, 2, out, (int)n, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(u), SQLITE_DONE);
		sqlite3_reset(u);
	}
	sqlite3_finalize(s);
	sqlite3_finalize(u);
	assert_true(nb >= 2);
	assert_int_equal(sqlite3_exec(db, "COMMIT; PRAGMA user_version = 4", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	/* raised to 5; every label read from the old rows */
	st = open_ok(&t);
	assert_int_equal(user_version(&t), KTA_STATE_SCHEMA_VERSION);
	assert_int_equal(KTA_STATE_SCHEMA_VERSION, 5);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	for (i = 0; i < V4_LABELS; i++) {
		(void)snprintf(label, sizeof(label), "s%zu", i);
		assert_int_equal(ops.get(ops.ctx, label, &found, &ls, NULL), KTA_OK);
		assert_true(found);
		assert_int_equal(ls.version, 1);
		assert_int_equal(ls.leaf_index, i);
		assert_int_equal(ls.nkeys, 1);
		assert_int_equal(ls.keys[0].pub[0], (uint8_t)(i + 1));
		entry_hash_is(ops, label, i, 1, (int)i + 1);
	}
	kta_state_index_free(ix);
	/* a changed bucket is written in the new form, the others stay */
	index_put(st, "s0", 2, 200, 7, KTA_AUTH_OWNER);
	kta_state_close(st);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	for (i = 0; i < nb; i++) {
		if (row_first_byte(db, buckets[i]) == 0x00) {
			assert_int_equal(changed, -1);
			changed = buckets[i];
		} else {
			old++;
		}
	}
	assert_true(changed >= 0);
	assert_int_equal(old, nb - 1);
	sqlite3_close(db);
	st = open_ok(&t);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	for (i = 0; i < V4_LABELS; i++) {
		(void)snprintf(label, sizeof(label), "s%zu", i);
		assert_int_equal(ops.get(ops.ctx, label, &found, &ls, NULL), KTA_OK);
		assert_true(found);
		assert_int_equal(ls.version, i == 0 ? 2 : 1);
		entry_hash_is(ops, label, i == 0 ? 200 : i, i == 0 ? 2 : 1,
			      i == 0 ? 7 : (int)i + 1);
	}
	kta_state_index_free(ix);
	kta_state_close(st);

	/* an old row cut inside a leaf hash: reported, with its bucket */
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
			 "UPDATE labels SET data = substr(data, 1, 12) WHERE bucket >= 0 "
			 "AND substr(data, 1, 1) != x'00'",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	st = open_ok(&t);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	for (i = 0; i < V4_LABELS; i++) {
		(void)snprintf(label, sizeof(label), "s%zu", i);
		if (ops.get(ops.ctx, label, &found, &ls, &err) == KTA_OK)
			continue;
		assert_non_null(strstr(err.msg, "bad at byte"));
		bad++;
	}
	assert_true(bad > 0);
	kta_state_index_free(ix);
	kta_state_close(st);
	tmp_rm(&t);
}

/* An entry of label/version: two keys, `nauth` auth lines (unverified
 * bytes: the history does not check them), time and device names long and
 * non-ASCII so that every field of the packed form is exercised. */
static uint8_t *mk_rich_entry(const char *label, uint64_t version, size_t nauth, size_t *len)
{
	struct kta_entry e;
	struct kta_entry_key k[2];
	struct kta_entry_auth a[2];
	uint8_t *out = NULL;
	size_t i;

	memset(&e, 0, sizeof(e));
	memset(k, 0, sizeof(k));
	memset(a, 0, sizeof(a));
	k[0].alg = KTA_ENTRY_ALG_ED25519;
	memset(k[0].pub, (int)version, 32);
	k[0].device = (char *)"t\xc3\xa9l\xc3\xa9phone-de-d\xc3\xa9j\xc3\xa0";
	k[1].alg = KTA_ENTRY_ALG_X25519;
	memset(k[1].pub, 0xee, 32);
	k[1].device = (char *)"laptop";
	for (i = 0; i < 2; i++) {
		memset(a[i].pub, (int)(0x10 * (i + 1)), 32);
		memset(a[i].sig, (int)(0x55 + i), 64);
	}
	e.label = (char *)(uintptr_t)label;
	e.version = version;
	e.time = (uint64_t)INT64_MAX - version;
	e.keys = k;
	e.nkeys = 2;
	e.auths = nauth > 0 ? a : NULL;
	e.nauths = nauth;
	assert_int_equal(kta_entry_serialize(&e, &out, len, NULL), KTA_OK);
	return out;
}

/* Puts (raw, len) at leaf with its real leaf hash; `parsed`: its parse is
 * given to the index (1), or none (0), or, against the contract, a parse of
 * another entry: of another length (2: it must not be packed in place of
 * raw), or of the same length (3: then packed, and refused on reading);
 * 4: its true parse, but the state put at the next version (kept raw). */
static void index_put_raw(struct kta_state *st, const uint8_t *raw, size_t len, uint64_t leaf,
			  int parsed)
{
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	struct kta_label_state ls;
	struct kta_entry *e = NULL, *other = NULL;
	struct kta_hasher *hs = NULL;
	struct kta_error err;

	assert_int_equal(kta_entry_parse(raw, len, &e, NULL), KTA_OK);
	assert_int_equal(kta_hasher_new(&hs, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	memset(&ls, 0, sizeof(ls));
	ls.label = e->label;
	ls.version = e->version;
	ls.leaf_index = leaf;
	kta_hash_leaf(hs, raw, len, ls.entry_hash);
	ls.keys = e->keys;
	ls.nkeys = e->nkeys;
	ls.entry = raw;
	ls.entry_len = len;
	if (parsed == 1 || parsed == 4) {
		ls.parsed = e;
		if (parsed == 4)
			ls.version++;
	} else if (parsed >= 2) {
		assert_int_equal(kta_entry_parse(raw, len, &other, NULL), KTA_OK);
		if (parsed == 2)
			other->time /= 10; /* one digit less */
		else
			other->keys[0].pub[5] ^= 0xff;
		ls.parsed = other;
	}
	if (ops.put(ops.ctx, &ls, KTA_AUTH_OWNER, &err) != KTA_OK)
		fail_msg("put: %s", err.msg);
	kta_state_index_free(ix);
	kta_hasher_free(hs);
	kta_entry_free(e);
	kta_entry_free(other);
}

/* Opens t's database and prepares sql with ?1 ORIGIN and ?2 chunk. */
static sqlite3_stmt *chunk_stmt(const struct tmp *t, const char *sql, uint64_t chunk, sqlite3 **db)
{
	sqlite3_stmt *q;

	assert_int_equal(sqlite3_open(t->db, db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(*db, sql, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, ORIGIN, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)chunk);
	return q;
}

/* Reads the label_history chunk `chunk` of ORIGIN. */
static uint8_t *hist_chunk(const struct tmp *t, uint64_t chunk, size_t *len)
{
	sqlite3 *db;
	sqlite3_stmt *q = chunk_stmt(
	    t, "SELECT data FROM label_history WHERE origin = ?1 AND chunk = ?2", chunk, &db);
	uint8_t *d;

	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	*len = (size_t)sqlite3_column_bytes(q, 0);
	d = malloc(*len);
	assert_non_null(d);
	memcpy(d, sqlite3_column_blob(q, 0), *len);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return d;
}

/* Replaces that chunk's data. */
static void hist_chunk_put(const struct tmp *t, uint64_t chunk, const uint8_t *d, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *q = chunk_stmt(
	    t, "UPDATE label_history SET data = ?3 WHERE origin = ?1 AND chunk = ?2", chunk, &db);

	sqlite3_bind_blob(q, 3, d, (int)len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(q), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/*
 * The history keeps the replay's entries packed (state.h) and gives back
 * their exact bytes; entries without their parse, or with a parse that
 * spells other bytes, are kept as bytes; a damaged packed record is refused,
 * naming its leaf, never shown as an entry.
 */
static void history_packed(void **state)
{
	static const char *const labels[] = {"alice", "b\303\266b", "carol@example.org"};
	struct tmp t;
	struct kta_state *st;
	struct kta_state_history_item *h = NULL;
	struct kta_error err;
	uint8_t *raw[3][4], *d;
	size_t len[3][4], n, i, v, dlen, total = 0, off;
	uint64_t leaf = 0;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	/* versions 1..4 of three labels, interleaved; auth lines 0, 1 or 2;
	 * leaves 3, 7 and 11 without their parse, leaf 5 with a parse of other
	 * bytes: those four kept as bytes. total: the chunk's exact size */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (v = 0; v < 4; v++)
		for (i = 0; i < 3; i++) {
			int how = leaf % 4 == 3 ? 0 : leaf == 5 ? 2 : 1;
			uint8_t *packed;
			size_t body = 0, plen = 0;
			struct kta_entry *e = NULL;

			raw[i][v] = mk_rich_entry(labels[i], v + 1, (i + v) % 3, &len[i][v]);
			index_put_raw(st, raw[i][v], len[i][v], leaf, how);
			body = len[i][v];
			if (how == 1) {
				assert_int_equal(kta_entry_parse(raw[i][v], len[i][v], &e, NULL),
						 KTA_OK);
				packed = malloc(len[i][v]);
				assert_non_null(packed);
				assert_int_equal(kta_entry_pack(e, packed, len[i][v], &plen, NULL),
						 KTA_OK);
				body = 4 + plen;
				free(packed);
				kta_entry_free(e);
			}
			/* leaf delta, auth, version, previous leaf + 1: 1 byte each */
			total += 4 + (body < 128 ? 1u : 2u) + body;
			leaf++;
		}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	for (i = 0; i < 3; i++) {
		assert_int_equal(kta_state_history(st, ORIGIN, labels[i], &h, &n, NULL), KTA_OK);
		assert_int_equal(n, 4);
		for (v = 0; v < 4; v++) {
			assert_int_equal(h[v].version, v + 1);
			assert_int_equal(h[v].leaf_index, v * 3 + i);
			assert_int_equal(h[v].auth, KTA_AUTH_OWNER);
			assert_int_equal(h[v].entry_len, len[i][v]);
			assert_memory_equal(h[v].entry, raw[i][v], len[i][v]);
		}
		kta_state_history_free(h, n);
	}
	kta_state_close(st);
	/* exactly the 8 packed and 4 raw records */
	d = hist_chunk(&t, 0, &dlen);
	assert_int_equal(dlen, total);
	/* the first record is alice's version 1, packed: header bytes (leaf
	 * delta 0, auth | 0x80, version 1, no previous leaf, length), then 4
	 * bytes of its leaf hash, then the packed form */
	assert_int_equal(d[0], 0);
	assert_int_equal(d[1], KTA_AUTH_OWNER | 0x80);
	off = 4 + (d[4] & 0x80 ? 2 : 1);
	assert_true(d[off + 4] == strlen(labels[0]));
	/* a damaged check, or damaged packed bytes: refused, naming the leaf */
	for (i = 0; i < 2; i++) {
		d[i == 0 ? off : off + 5] ^= 0x01;
		hist_chunk_put(&t, 0, d, dlen);
		st = open_ok(&t);
		assert_int_equal(kta_state_history(st, ORIGIN, labels[0], &h, &n, &err),
				 KTA_ERR_MALFORMED);
		assert_null(h);
		assert_non_null(strstr(err.msg, "leaf 0"));
		assert_non_null(strstr(err.msg, "does not rebuild"));
		/* another label's history is whole */
		assert_int_equal(kta_state_history(st, ORIGIN, labels[1], &h, &n, NULL), KTA_OK);
		assert_int_equal(n, 4);
		kta_state_history_free(h, n);
		kta_state_close(st);
		d[i == 0 ? off : off + 5] ^= 0x01;
	}
	/* a packed record whose bytes cannot unpack (a bad algorithm byte) */
	d[off + 4 + 1 + 5 + 1 + 1] = 9; /* label, time (9 bytes), key count, alg */
	hist_chunk_put(&t, 0, d, dlen);
	st = open_ok(&t);
	assert_int_equal(kta_state_history(st, ORIGIN, labels[0], &h, &n, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "leaf 0"));
	kta_state_close(st);
	/* a record marked packed with an authorization result there is none of */
	d[1] = 0x80 | 0x7f;
	hist_chunk_put(&t, 0, d, dlen);
	st = open_ok(&t);
	assert_int_equal(kta_state_history(st, ORIGIN, labels[0], &h, &n, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "no valid record for leaf 9"));
	kta_state_close(st);
	d[1] = KTA_AUTH_OWNER | 0x80;
	/* a record marked packed that is too short to be */
	d[4] = 3;
	hist_chunk_put(&t, 0, d, dlen);
	st = open_ok(&t);
	assert_int_equal(kta_state_history(st, ORIGIN, labels[0], &h, &n, &err), KTA_ERR_MALFORMED);
	/* (the walk from alice's latest leaf, 9, reads the chunk from its start) */
	assert_non_null(strstr(err.msg, "no valid record for leaf 9"));
	kta_state_close(st);
	free(d);
	tmp_rm(&t);

	/* a parse of other bytes of the same length (a caller breaking the
	 * contract): packed, but never shown as the entry */
	tmp_make(&t);
	st = open_ok(&t);
	index_put_raw(st, raw[0][0], len[0][0], 0, 3);
	assert_int_equal(kta_state_history(st, ORIGIN, labels[0], &h, &n, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "leaf 0: the packed entry does not rebuild"));
	/* a put whose version is not its parse's: the bytes kept as they are
	 * (packed, they would be rebuilt with the put's version) */
	index_put_raw(st, raw[1][0], len[1][0], 1, 4);
	assert_int_equal(kta_state_history(st, ORIGIN, labels[1], &h, &n, &err), KTA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].version, 2);
	assert_int_equal(h[0].entry_len, len[1][0]);
	assert_memory_equal(h[0].entry, raw[1][0], len[1][0]);
	kta_state_history_free(h, n);
	kta_state_close(st);
	tmp_rm(&t);
	for (i = 0; i < 3; i++)
		for (v = 0; v < 4; v++)
			free(raw[i][v]);
}

/* Many upserts in one transaction: correctness at volume (the speed is a benchmark's job). */
static void index_volume(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	struct kta_label_state ls;
	struct kta_entry_key k;
	uint8_t entry[150];
	char label[32];
	uint64_t i, n;
	int found;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	k.device = (char *)"phone";
	memset(entry, 'e', sizeof(entry));
	for (i = 0; i < 20000; i++) {
		memset(&ls, 0, sizeof(ls));
		snprintf(label, sizeof(label), "user%llu", (unsigned long long)(i % 5000));
		ls.label = label;
		ls.version = i / 5000 + 1;
		ls.leaf_index = i;
		k.pub[0] = (uint8_t)i;
		ls.keys = &k;
		ls.nkeys = 1;
		ls.entry = entry;
		ls.entry_len = sizeof(entry);
		assert_int_equal(ops.get(ops.ctx, label, &found, &ls, NULL), KTA_OK);
		assert_int_equal(found, i >= 5000);
		ls.label = label;
		ls.version = i / 5000 + 1;
		ls.leaf_index = i;
		ls.keys = &k;
		ls.nkeys = 1;
		ls.entry = entry;
		ls.entry_len = sizeof(entry);
		assert_int_equal(ops.put(ops.ctx, &ls, KTA_AUTH_OWNER, NULL), KTA_OK);
	}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	kta_state_index_free(ix);
	assert_int_equal(kta_state_label_count(st, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 5000);
	kta_state_close(st);
	tmp_rm(&t);
}

/* Puts (label, version, leaf) through ix with a device name of dlen bytes. */
static void ix_put_one(struct kta_state_index *ix, const char *label, uint64_t version,
		       uint64_t leaf, size_t dlen, enum kta_status want)
{
	struct kta_replay_index ops = kta_state_index_ops(ix);
	struct kta_label_state ls;
	struct kta_entry_key k;
	char dev[256];
	uint8_t entry[200];
	struct kta_error err;

	memset(dev, 'd', sizeof(dev));
	dev[dlen] = '\0';
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	k.pub[0] = (uint8_t)version;
	k.device = dev;
	memset(entry, 'e', sizeof(entry));
	snprintf((char *)entry, sizeof(entry), "%s v%llu", label, (unsigned long long)version);
	memset(&ls, 0, sizeof(ls));
	ls.label = label;
	ls.version = version;
	ls.leaf_index = leaf;
	memset(ls.entry_hash, (int)(leaf & 0xff), 32);
	ls.keys = &k;
	ls.nkeys = 1;
	ls.entry = entry;
	ls.entry_len = sizeof(entry);
	if (ops.put(ops.ctx, &ls, KTA_AUTH_OWNER, &err) != want)
		fail_msg("put %s v%llu: %s", label, (unsigned long long)version, err.msg);
}

/* Gets label through ix: its version (0 when absent) and its one key's
 * device name length in *dlen. */
static uint64_t ix_version_dev(struct kta_state_index *ix, const char *label, size_t *dlen)
{
	struct kta_replay_index ops = kta_state_index_ops(ix);
	struct kta_label_state ls;
	struct kta_error err;
	int found = 0;

	*dlen = 0;
	if (ops.get(ops.ctx, label, &found, &ls, &err) != KTA_OK)
		fail_msg("get %s: %s", label, err.msg);
	if (!found)
		return 0;
	assert_string_equal(ls.label, label);
	assert_int_equal(ls.nkeys, 1);
	assert_int_equal(ls.keys[0].pub[0], (uint8_t)ls.version);
	*dlen = strlen(ls.keys[0].device);
	return ls.version;
}

/* Gets label through ix: its version (0 when absent). */
static uint64_t ix_version(struct kta_state_index *ix, const char *label)
{
	size_t dlen;

	return ix_version_dev(ix, label, &dlen);
}

/* Labels of each rolled-back round of index_prefetch: more than the
 * prefetch ring holds (state.c PF_RING, 16) and than one bucket (LAB_LOAD,
 * 32), so that a record under a wrong hash can land in the wrong bucket. */
#define PF_ROUND_LABELS 40

/* Label i of index_prefetch: short ones, and some longer than the
 * prefetch ring keeps (hashed again at the get). */
static void pf_label_name(uint64_t i, char *out, size_t n)
{
	if (i % 11 == 0)
		snprintf(out, n, "a-long-label-that-the-prefetch-ring-does-not-keep-%060llu",
			 (unsigned long long)i);
	else
		snprintf(out, n, "p%llu", (unsigned long long)i);
}

/*
 * prefetch() is only a hint: a random run of gets and puts, each label
 * announced a few calls before its get (as the replay does), with labels
 * announced and never read, announcements before the index exists, across
 * commits, rollbacks, splits and evictions (a small cache), must read
 * exactly what a model says; an index whose state is closed ignores it.
 */
static void index_prefetch(void **state)
{
	enum { NL = 3000, OPS = 20000, AHEAD = 8 };
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	static uint64_t model[NL], committed[NL];
	uint64_t pending[AHEAD], rng = 0x5eed, leaf = 0, i, k, rollbacks = 0;
	char label[128];
	size_t np = 0;

	(void)state;
	memset(model, 0, sizeof(model));
	memset(committed, 0, sizeof(committed));
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_set_cache(st, KTA_STATE_CACHE_MIN_MIB, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	assert_non_null(ops.prefetch);
	/* before the index has a meta row, and outside a transaction */
	ops.prefetch(ops.ctx, "p1");
	/* The transaction that makes the meta row (a new SipHash key) rolled
	 * back after announcements: the next one makes another key, and the
	 * same labels announced again must not get the old key's hashes (a
	 * record under a wrong hash sits in the wrong bucket or slot). Round k
	 * announces the same 40 labels rotated by k(k+1)/2, so that the labels
	 * the last round left in the ring come back at every distance; the
	 * index itself and a second index (never announced to, reading the
	 * rows) read them back in the same transaction. */
	for (k = 0; k < 2 * PF_ROUND_LABELS; k++) {
		struct kta_state_index *ix2 = NULL;
		uint64_t rot = k * (k + 1) / 2;

		assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
		for (i = 0; i < PF_ROUND_LABELS; i++) {
			pf_label_name((i + rot) % PF_ROUND_LABELS, label, sizeof(label));
			ops.prefetch(ops.ctx, label);
			assert_int_equal(ix_version(ix, label), 0);
			ix_put_one(ix, label, 1, leaf++, 250, KTA_OK);
		}
		for (i = 0; i < PF_ROUND_LABELS; i++) {
			pf_label_name(i, label, sizeof(label));
			if (ix_version(ix, label) != 1)
				fail_msg("round %llu: %s lost", (unsigned long long)k, label);
		}
		assert_int_equal(kta_state_index_new(st, ORIGIN, &ix2, NULL), KTA_OK);
		for (i = 0; i < PF_ROUND_LABELS; i++) {
			pf_label_name(i, label, sizeof(label));
			if (ix_version(ix2, label) != 1)
				fail_msg("round %llu: %s not in its row", (unsigned long long)k,
					 label);
		}
		kta_state_index_free(ix2);
		assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
		leaf = 0;
	}
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (k = 0; k < OPS; k++) {
		uint64_t r = tu_rand(&rng) % 100, li;

		if (r < 3) {
			/* a label announced and never read */
			pf_label_name(tu_rand(&rng) % NL, label, sizeof(label));
			ops.prefetch(ops.ctx, label);
			continue;
		}
		if (r == 3 || r == 4) {
			int rb = r == 3 && tu_rand(&rng) % 3 == 0;

			if (rb) {
				assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
				memcpy(model, committed, sizeof(model));
				rollbacks++;
			} else {
				assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
				memcpy(committed, model, sizeof(model));
			}
			assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
			/* the announced labels are read after the cache changed */
			continue;
		}
		/* announce a label, then read and update the one announced AHEAD
		 * calls ago (its get finds the ring's hash, or hashes again) */
		li = tu_rand(&rng) % (k < OPS / 2 ? NL / 2 : NL);
		pf_label_name(li, label, sizeof(label));
		ops.prefetch(ops.ctx, label);
		if (np < AHEAD) {
			pending[np++] = li;
			continue;
		}
		i = pending[0];
		memmove(pending, pending + 1, (AHEAD - 1) * sizeof(pending[0]));
		pending[AHEAD - 1] = li;
		pf_label_name(i, label, sizeof(label));
		if (ix_version(ix, label) != model[i])
			fail_msg("op %llu: %s: version %llu, model %llu", (unsigned long long)k,
				 label, (unsigned long long)ix_version(ix, label),
				 (unsigned long long)model[i]);
		ix_put_one(ix, label, model[i] + 1, leaf++, 250, KTA_OK);
		model[i]++;
	}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	memcpy(committed, model, sizeof(model));
	assert_true(rollbacks > 0);
	kta_state_index_free(ix);
	/* everything read back through a fresh index that is never announced to */
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (i = 0; i < NL; i++) {
		pf_label_name(i, label, sizeof(label));
		assert_int_equal(ix_version(ix, label), committed[i]);
	}
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	kta_state_close(st); /* the index loses its handle */
	ops.prefetch(ops.ctx, "p1");
	kta_state_index_free(ix);
	tmp_rm(&t);
}

/*
 * A cache much smaller than the index: buckets are written and dropped
 * mid-transaction and read back; a rollback still undoes everything, a
 * commit keeps everything; the history chains survive chunk boundaries.
 */
static void index_cache_eviction(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_state_history_item *h = NULL;
	struct kta_error err;
	char label[32];
	uint64_t i, n, leaf = 0;
	size_t nh;
	int round;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_set_cache(st, 0, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_set_cache(st, KTA_STATE_CACHE_MAX_MIB + 1, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_state_set_cache(st, KTA_STATE_CACHE_MIN_MIB, &err), KTA_OK);
	for (round = 0; round < 2; round++) {
		/* 40,000 labels of ~300 bytes: ~12 MB against a 7 MiB label cache */
		leaf = 0;
		assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
		assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
		for (i = 0; i < 40000; i++) {
			snprintf(label, sizeof(label), "user%llu", (unsigned long long)i);
			assert_int_equal(ix_version(ix, label), 0);
			ix_put_one(ix, label, 1, leaf++, 250, KTA_OK);
		}
		/* every label read back (most from evicted buckets), then v2 of some */
		for (i = 0; i < 40000; i += 7) {
			snprintf(label, sizeof(label), "user%llu", (unsigned long long)i);
			assert_int_equal(ix_version(ix, label), 1);
			ix_put_one(ix, label, 2, leaf++, 250, KTA_OK);
		}
		assert_int_equal(ix_version(ix, "user14"), 2);
		assert_int_equal(ix_version(ix, "user15"), 1);
		if (round == 0) {
			assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
			kta_state_index_free(ix);
			assert_int_equal(kta_state_label_count(st, ORIGIN, &n, NULL), KTA_OK);
			assert_int_equal(n, 0);
			assert_int_equal(kta_state_history(st, ORIGIN, "user14", &h, &nh, NULL),
					 KTA_OK);
			assert_int_equal(nh, 0);
		} else {
			assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
			/* the same index in a new transaction: its cache is still valid */
			assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
			assert_int_equal(ix_version(ix, "user7"), 2);
			ix_put_one(ix, "user7", 3, leaf++, 250, KTA_OK);
			/* a leaf at or below the last one in the history is refused */
			ix_put_one(ix, "user8", 2, leaf - 1, 250, KTA_ERR_IO);
			assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
			kta_state_index_free(ix);
		}
	}
	assert_int_equal(kta_state_label_count(st, ORIGIN, &n, NULL), KTA_OK);
	assert_int_equal(n, 40000);
	kta_state_close(st);
	/* reopened with the default cache: the history chain crosses chunks */
	st = open_ok(&t);
	assert_int_equal(kta_state_history(st, ORIGIN, "user7", &h, &nh, NULL), KTA_OK);
	assert_int_equal(nh, 3);
	assert_int_equal(h[0].leaf_index, 7);
	assert_int_equal(h[1].leaf_index, 40001);
	assert_int_equal(h[2].leaf_index, leaf - 1);
	assert_int_equal(h[2].version, 3);
	assert_int_equal(h[2].auth, KTA_AUTH_OWNER);
	assert_int_equal(h[0].entry_len, 200);
	assert_memory_equal(h[0].entry, "user7 v1", 9);
	assert_memory_equal(h[2].entry, "user7 v3", 9);
	kta_state_history_free(h, nh);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (i = 0; i < 40000; i += 1000) {
		snprintf(label, sizeof(label), "user%llu", (unsigned long long)i);
		assert_int_equal(ix_version(ix, label), i == 7 ? 3 : i % 7 == 0 ? 2 : 1);
	}
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	kta_state_index_free(ix);
	kta_state_close(st);
	tmp_rm(&t);
}

/* A state in t with the smallest cache, a transaction open and an index
 * of ORIGIN in *ix. */
static struct kta_state *small_cache_tx(struct tmp *t, struct kta_state_index **ix)
{
	struct kta_state *st;

	tmp_make(t);
	st = open_ok(t);
	assert_int_equal(kta_state_set_cache(st, KTA_STATE_CACHE_MIN_MIB, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(st, ORIGIN, ix, NULL), KTA_OK);
	return st;
}

/* Fails unless st's indexes hold no more than their budget; *peak: the most
 * seen. */
static void within_budget(const struct kta_state *st, const char *what, uint64_t n, size_t *peak)
{
	struct kta_state_cache_stats cs;

	kta_state_cache_stats(st, &cs);
	if (cs.used > *peak)
		*peak = cs.used;
	if (cs.used > cs.budget)
		fail_msg("%s %llu: cache %zu bytes, over its budget of %zu", what,
			 (unsigned long long)n, cs.used, cs.budget);
}

/* Frees ix, closes st, and removes t's directory when rm. */
static void index_done(struct tmp *t, struct kta_state *st, struct kta_state_index *ix, int rm)
{
	kta_state_index_free(ix);
	kta_state_close(st);
	if (rm)
		tmp_rm(t);
}

/* Runs sql on ORIGIN's label meta row (?1 the origin, ?2 its bucket, -1):
 * the first column of the row it reads, or how many rows it changed. */
static int64_t meta_sql(const struct tmp *t, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q = chunk_stmt(t, sql, (uint64_t)-1, &db);
	int rc = sqlite3_step(q);
	int64_t v;

	assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
	v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : sqlite3_changes(db);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/*
 * The record heap under churn (state.c): in the smallest cache, labels
 * updated with key sets that grow and shrink (a record outgrown leaves
 * dead bytes) and buckets evicted and loaded again (their records die and
 * come back), so that chunks are cleaned; every get must read what a model
 * says, the cache must be within its budget after every call, and what was
 * committed must read back after a reopen.
 */
static void index_record_heap(void **state)
{
	enum { NL = 30000, OPS = 120000 };
	static uint64_t ver[NL];
	static uint8_t dev[NL];
	struct kta_state_cache_stats cs;
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	uint64_t rng = 0x6eab, leaf = 0, op, i;
	size_t dlen, peak = 0;
	char label[32];

	(void)state;
	memset(ver, 0, sizeof(ver));
	memset(dev, 0, sizeof(dev));
	st = small_cache_tx(&t, &ix);
	kta_state_cache_stats(st, &cs);
	assert_int_equal(cs.used, 0);
	/* an eighth of the smallest cache is SQLite's, the rest the indexes' */
	assert_int_equal(cs.budget, (size_t)KTA_STATE_CACHE_MIN_MIB * 1024 * 1024 / 8 * 7);
	for (op = 0; op < OPS; op++) {
		i = tu_rand(&rng) % NL;
		snprintf(label, sizeof(label), "heap%llu", (unsigned long long)i);
		assert_int_equal(ix_version_dev(ix, label, &dlen), ver[i]);
		assert_int_equal(dlen, dev[i]);
		ver[i]++;
		dev[i] = (uint8_t)(1 + tu_rand(&rng) % KTA_DEVICE_MAX_LEN);
		within_budget(st, "get", op, &peak);
		ix_put_one(ix, label, ver[i], leaf++, dev[i], KTA_OK);
		within_budget(st, "put", op, &peak);
	}
	/* the cache was full (the labels do not fit in it): buckets were
	 * evicted and chunks cleaned */
	kta_state_cache_stats(st, &cs);
	assert_true(peak > cs.budget / 4 * 3);
	assert_true(cs.evicted > 0);
	assert_true(cs.cleaned > 0);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	index_done(&t, st, ix, 0);
	st = open_ok(&t);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (i = 0; i < NL; i += 3) {
		snprintf(label, sizeof(label), "heap%llu", (unsigned long long)i);
		assert_int_equal(ix_version_dev(ix, label, &dlen), ver[i]);
		assert_int_equal(dlen, dev[i]);
	}
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	/* a rollback drops the cache: nothing held */
	kta_state_cache_stats(st, &cs);
	assert_int_equal(cs.used, 0);
	index_done(&t, st, ix, 1);
}

/*
 * Dead bytes are cleaned, not paid for with buckets: labels whose key sets
 * grow (each update leaves the old record dead), a random half of them at
 * each round (so that chunks die in part, not whole), fit in the cache
 * while dead bytes add up to many times it; the cleaner keeps them all
 * cached (no bucket is evicted) and within the budget.
 */
static void index_cleaning_keeps_buckets(void **state)
{
	enum { NL = 12000, ROUNDS = 32 };
	static uint64_t ver[NL];
	static uint8_t dev[NL];
	struct kta_state_cache_stats cs;
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	uint64_t leaf = 0, rng = 0xc1ea, i;
	size_t dlen, peak = 0;
	int round;
	char label[32];

	(void)state;
	memset(ver, 0, sizeof(ver));
	memset(dev, 0, sizeof(dev));
	st = small_cache_tx(&t, &ix);
	for (round = 0; round < ROUNDS; round++) {
		for (i = 0; i < NL; i++) {
			if (round > 0 && tu_rand(&rng) % 2 == 0)
				continue;
			snprintf(label, sizeof(label), "keep%llu", (unsigned long long)i);
			ver[i]++;
			dev[i] = (uint8_t)(1 + round * 8);
			ix_put_one(ix, label, ver[i], leaf++, dev[i], KTA_OK);
			within_budget(st, "put", leaf, &peak);
		}
	}
	kta_state_cache_stats(st, &cs);
	assert_true(cs.cleaned > 0);
	assert_int_equal(cs.evicted, 0);
	for (i = 0; i < NL; i += 7) {
		snprintf(label, sizeof(label), "keep%llu", (unsigned long long)i);
		assert_int_equal(ix_version_dev(ix, label, &dlen), ver[i]);
		assert_int_equal(dlen, dev[i]);
	}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	index_done(&t, st, ix, 1);
}

/*
 * Records near the largest (a key set of ~48 KiB: 170 keys with 255-byte
 * device names, two records to a chunk, the quarter left too small for a
 * third, which is not dead) through the smallest cache: buckets are
 * evicted, and every call returns, within the budget. (A cleaner that took
 * chunks by their live bytes, not their dead bytes, spun here forever on
 * chunks it could not make smaller.)
 */
static void index_large_records(void **state)
{
	enum { NL = 300, NK = 170 };
	static char devs[NK][KTA_DEVICE_MAX_LEN + 1];
	static struct kta_entry_key keys[NK];
	struct kta_state_cache_stats cs;
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	struct kta_label_state ls;
	uint8_t entry[200];
	uint64_t i;
	size_t peak = 0;
	int found;
	char label[32];

	(void)state;
	for (i = 0; i < NK; i++) {
		memset(devs[i], 'k', KTA_DEVICE_MAX_LEN);
		snprintf(devs[i], 8, "%03llu", (unsigned long long)i);
		devs[i][3] = 'k';
		devs[i][KTA_DEVICE_MAX_LEN] = '\0';
		memset(&keys[i], 0, sizeof(keys[i]));
		keys[i].alg = KTA_ENTRY_ALG_ED25519;
		keys[i].device = devs[i];
	}
	memset(entry, 'e', sizeof(entry));
	st = small_cache_tx(&t, &ix);
	ops = kta_state_index_ops(ix);
	for (i = 0; i < NL; i++) {
		snprintf(label, sizeof(label), "big%llu", (unsigned long long)i);
		keys[0].pub[0] = (uint8_t)i;
		memset(&ls, 0, sizeof(ls));
		ls.label = label;
		ls.version = 1;
		ls.leaf_index = i;
		ls.keys = keys;
		ls.nkeys = NK;
		ls.entry = entry;
		ls.entry_len = sizeof(entry);
		assert_int_equal(ops.put(ops.ctx, &ls, KTA_AUTH_OWNER, NULL), KTA_OK);
		within_budget(st, "label", i, &peak);
	}
	kta_state_cache_stats(st, &cs);
	assert_true(cs.evicted > 0);
	for (i = 0; i < NL; i += 7) {
		snprintf(label, sizeof(label), "big%llu", (unsigned long long)i);
		assert_int_equal(ops.get(ops.ctx, label, &found, &ls, NULL), KTA_OK);
		assert_int_equal(found, 1);
		within_budget(st, "get", i, &peak);
		assert_int_equal(ls.nkeys, NK);
		assert_int_equal(ls.keys[0].pub[0], (uint8_t)i);
		assert_string_equal(ls.keys[NK - 1].device, devs[NK - 1]);
	}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	index_done(&t, st, ix, 1);
}

/*
 * An index at the most buckets it splits to (LAB_MAX_BUCKETS, 2^30) and
 * with more labels than 32 a bucket (2^35, which the meta row's check lets
 * through): a new label is added, without a split (a meta row of more
 * buckets would be refused as damaged) and without looping.
 */
static void index_max_buckets(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;

	(void)state;
	st = small_cache_tx(&t, &ix);
	ix_put_one(ix, "first", 1, 0, 5, KTA_OK);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	index_done(&t, st, ix, 0);
	/* the meta row (state.c): SipHash key, then nbuckets 2^30 and nlabels
	 * 2^35, little-endian */
	assert_int_equal(meta_sql(&t, "UPDATE labels SET data = CAST(substr(data, 1, 16) || "
				      "x'00000040000000000000000008000000' AS BLOB) "
				      "WHERE origin = ?1 AND bucket = ?2"),
			 1);
	st = open_ok(&t);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ix_put_one(ix, "second", 1, 1, 5, KTA_OK);
	assert_int_equal(ix_version(ix, "second"), 1);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	kta_state_index_free(ix);
	kta_state_close(st);
	/* still 2^30 buckets, one more label; and it opens again */
	assert_int_equal(meta_sql(&t,
				  "SELECT substr(data, 17) = x'00000040000000000100000008000000' "
				  "FROM labels WHERE origin = ?1 AND bucket = ?2"),
			 1);
	st = open_ok(&t);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(ix_version(ix, "second"), 1);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	index_done(&t, st, ix, 1);
}

/*
 * A cached index never serves stale state: not after another connection
 * committed (PRAGMA data_version), nor after another index object of the
 * same handle wrote.
 */
static void index_cache_stale(void **state)
{
	struct tmp t;
	struct kta_state *a, *b;
	struct kta_state_index *ia = NULL, *ib = NULL, *ia2 = NULL;

	(void)state;
	tmp_make(&t);
	a = open_ok(&t);
	b = open_ok(&t);
	assert_int_equal(kta_state_index_new(a, ORIGIN, &ia, NULL), KTA_OK);
	assert_int_equal(kta_state_index_new(b, ORIGIN, &ib, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(a, NULL), KTA_OK);
	ix_put_one(ia, "alice", 1, 0, 5, KTA_OK);
	assert_int_equal(kta_state_commit(a, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(b, NULL), KTA_OK);
	assert_int_equal(ix_version(ib, "alice"), 1);
	ix_put_one(ib, "alice", 2, 1, 5, KTA_OK);
	assert_int_equal(kta_state_commit(b, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(a, NULL), KTA_OK);
	assert_int_equal(ix_version(ia, "alice"), 2);
	/* a's cache was dropped: its next put continues b's history */
	ix_put_one(ia, "alice", 3, 1, 5, KTA_ERR_IO);
	ix_put_one(ia, "alice", 3, 2, 5, KTA_OK);
	/* a second index of the same handle, interleaved */
	assert_int_equal(kta_state_index_new(a, ORIGIN, &ia2, NULL), KTA_OK);
	assert_int_equal(ix_version(ia2, "alice"), 3);
	ix_put_one(ia2, "alice", 4, 3, 200, KTA_OK); /* the record outgrows its place */
	ix_put_one(ia2, "bob", 1, 4, 5, KTA_OK);
	assert_int_equal(ix_version(ia, "alice"), 4);
	assert_int_equal(ix_version(ia, "bob"), 1);
	ix_put_one(ia, "bob", 2, 5, 5, KTA_OK);
	assert_int_equal(ix_version(ia2, "bob"), 2);
	assert_int_equal(kta_state_commit(a, NULL), KTA_OK);
	kta_state_index_free(ia2);
	kta_state_index_free(ia);
	kta_state_index_free(ib);
	kta_state_close(b);
	{
		struct kta_state_history_item *h = NULL;
		size_t nh;

		assert_int_equal(kta_state_history(a, ORIGIN, "alice", &h, &nh, NULL), KTA_OK);
		assert_int_equal(nh, 4);
		assert_int_equal(h[3].version, 4);
		assert_int_equal(h[3].leaf_index, 3);
		kta_state_history_free(h, nh);
	}
	kta_state_close(a);
	tmp_rm(&t);
}

/* Labels of origin in the index (after writing what the index holds). */
static uint64_t label_count(struct kta_state *st)
{
	uint64_t n = 0;
	struct kta_error err;

	if (kta_state_label_count(st, ORIGIN, &n, &err) != KTA_OK)
		fail_msg("label count: %s", err.msg);
	return n;
}

/*
 * A put right after a get of the same label reuses the get's hash, bucket
 * and record; the reuse must never outlive what it points at: a put of the
 * label itself (absent -> present), a put without a get, splits of the
 * label's bucket (records move), a rollback (the cache is freed) and a get
 * of the label the index itself returned.
 */
static void index_get_put_positions(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_replay_index ops;
	struct kta_label_state ls;
	struct kta_state_history_item *h = NULL;
	char label[32];
	uint64_t i, leaf = 0;
	size_t nh;
	int found = 0;

	(void)state;
	tmp_make(&t);
	st = open_ok(&t);
	assert_int_equal(kta_state_index_new(st, ORIGIN, &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	/* get (absent), put, then a second put without a get: one record */
	assert_int_equal(ix_version(ix, "alice"), 0);
	ix_put_one(ix, "alice", 1, leaf++, 5, KTA_OK);
	ix_put_one(ix, "alice", 2, leaf++, 5, KTA_OK);
	assert_int_equal(ix_version(ix, "alice"), 2);
	/* get then put of a present label, the record outgrowing its place */
	ix_put_one(ix, "alice", 3, leaf++, 200, KTA_OK);
	assert_int_equal(ix_version(ix, "alice"), 3);
	/* put without a get of a new label right after a get of another */
	assert_int_equal(ix_version(ix, "alice"), 3);
	ix_put_one(ix, "bob", 1, leaf++, 5, KTA_OK);
	ix_put_one(ix, "alice", 4, leaf++, 5, KTA_OK);
	assert_int_equal(ix_version(ix, "bob"), 1);
	assert_int_equal(ix_version(ix, "alice"), 4);
	/* a get of the label a get returned (the index's own copy) */
	assert_int_equal(ops.get(ops.ctx, "bob", &found, &ls, NULL), KTA_OK);
	assert_true(found);
	assert_int_equal(ops.get(ops.ctx, ls.label, &found, &ls, NULL), KTA_OK);
	assert_true(found);
	assert_string_equal(ls.label, "bob");
	assert_int_equal(ls.version, 1);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	assert_int_equal(label_count(st), 2);
	/* with the meta row there: get (absent), put, put again without a get */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(ix_version(ix, "dave"), 0);
	ix_put_one(ix, "dave", 1, leaf++, 5, KTA_OK);
	ix_put_one(ix, "dave", 2, leaf++, 5, KTA_OK);
	assert_int_equal(ix_version(ix, "dave"), 2);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	assert_int_equal(label_count(st), 3);

	/* splits between a get and the put: 30 more labels fill bucket 0;
	 * each further new label splits a bucket, moving records */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (i = 0; i < 30; i++) {
		snprintf(label, sizeof(label), "user%llu", (unsigned long long)i);
		assert_int_equal(ix_version(ix, label), 0);
		ix_put_one(ix, label, 1, leaf++, 5, KTA_OK);
	}
	for (i = 30; i < 200; i++) {
		char other[32];

		/* present label read, a new one put (a split), the first one put */
		snprintf(label, sizeof(label), "user%llu", (unsigned long long)(i % 30));
		assert_int_equal(ix_version(ix, label), 1 + i / 30 - 1);
		snprintf(other, sizeof(other), "user%llu", (unsigned long long)i);
		assert_int_equal(ix_version(ix, other), 0);
		ix_put_one(ix, other, 1, leaf++, 5, KTA_OK);
		ix_put_one(ix, label, 1 + i / 30, leaf++, 5, KTA_OK);
		/* absent label read, splits, then put */
		snprintf(other, sizeof(other), "late%llu", (unsigned long long)i);
		assert_int_equal(ix_version(ix, other), 0);
		snprintf(label, sizeof(label), "fill%llu", (unsigned long long)i);
		ix_put_one(ix, label, 1, leaf++, 5, KTA_OK);
		ix_put_one(ix, other, 1, leaf++, 5, KTA_OK);
	}
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	assert_int_equal(label_count(st), 3 + 200 + 2 * 170);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	for (i = 0; i < 200; i++) {
		snprintf(label, sizeof(label), "user%llu", (unsigned long long)i);
		assert_int_equal(ix_version(ix, label), i < 30 ? 1 + 199 / 30 - (i > 199 % 30) : 1);
	}
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);

	/* rollback after puts: a get, a rollback (the cache is freed), the put */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(ix_version(ix, "carol"), 0);
	ix_put_one(ix, "carol", 1, leaf, 5, KTA_OK);
	assert_int_equal(ix_version(ix, "alice"), 4);
	ix_put_one(ix, "alice", 5, leaf + 1, 5, KTA_OK);
	assert_int_equal(ix_version(ix, "alice"), 5);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	ix_put_one(ix, "alice", 5, leaf++, 5, KTA_OK);
	assert_int_equal(ix_version(ix, "carol"), 0);
	assert_int_equal(ix_version(ix, "alice"), 5);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	assert_int_equal(label_count(st), 3 + 200 + 2 * 170);
	kta_state_index_free(ix);
	/* the history chain of alice links every put, across the hints */
	assert_int_equal(kta_state_history(st, ORIGIN, "alice", &h, &nh, NULL), KTA_OK);
	assert_int_equal(nh, 5);
	for (i = 0; i < nh; i++)
		assert_int_equal(h[i].version, i + 1);
	assert_int_equal(h[3].leaf_index, 4);
	assert_int_equal(h[4].leaf_index, leaf - 1);
	kta_state_history_free(h, nh);
	assert_int_equal(kta_state_history(st, ORIGIN, "dave", &h, &nh, NULL), KTA_OK);
	assert_int_equal(nh, 2);
	assert_int_equal(h[1].version, 2);
	kta_state_history_free(h, nh);
	kta_state_close(st);
	tmp_rm(&t);
}

/* A schema 1 database (one row per label and per history entry) is converted. */
/* The schema 1 tables (rows: v1_row). */
static const char v1_schema[] =
    "CREATE TABLE logs(origin TEXT PRIMARY KEY NOT NULL, checkpoint TEXT NOT NULL,"
    " size INTEGER NOT NULL, root BLOB NOT NULL, range BLOB NOT NULL,"
    " first_seen INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE labels(origin TEXT NOT NULL, label TEXT NOT NULL, version INTEGER NOT "
    "NULL, leaf_index INTEGER NOT NULL, entry_hash BLOB NOT NULL, keys BLOB NOT NULL,"
    " PRIMARY KEY(origin, label)) WITHOUT ROWID;"
    "CREATE TABLE label_history(origin TEXT NOT NULL, leaf_index INTEGER NOT NULL,"
    " label TEXT NOT NULL, version INTEGER NOT NULL, entry BLOB NOT NULL, auth TEXT NOT "
    "NULL, PRIMARY KEY(origin, label, leaf_index)) WITHOUT ROWID;"
    "CREATE TABLE watches(origin TEXT NOT NULL, label TEXT NOT NULL, mode TEXT NOT NULL,"
    " keys BLOB, approved_version INTEGER NOT NULL, added_at INTEGER NOT NULL,"
    " PRIMARY KEY(origin, label));"
    "CREATE TABLE alerts(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " json TEXT NOT NULL, severity TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE sinks(name TEXT PRIMARY KEY NOT NULL, after_seq INTEGER NOT NULL,"
    " added_at INTEGER NOT NULL);"
    "CREATE TABLE deliveries(alert_id TEXT NOT NULL, sink TEXT NOT NULL, delivered_at "
    "INTEGER, attempts INTEGER NOT NULL, next_attempt INTEGER NOT NULL, last_error TEXT,"
    " PRIMARY KEY(alert_id, sink));"
    "PRAGMA user_version = 1; PRAGMA application_id = 1802789237;";

/* A schema 1 history row of mk_entry(label, version, fill) at leaf, and
 * with latest its labels row (its leaf hash and key-set blob). */
static void v1_row(sqlite3 *db, const char *origin, uint64_t leaf, const char *label,
		   uint64_t version, int fill, const char *auth, int latest)
{
	struct kta_hasher *hs = NULL;
	sqlite3_stmt *s;
	uint8_t lh[32], keys[39];
	size_t len, kl = 0;
	uint8_t *raw = mk_entry(label, version, fill, &len);

	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO label_history VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1,
			       &s, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)leaf);
	sqlite3_bind_text(s, 3, label, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)version);
	sqlite3_bind_blob(s, 5, raw, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, auth, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	if (latest) {
		assert_int_equal(kta_hasher_new(&hs, NULL), KTA_OK);
		kta_hash_leaf(hs, raw, len, lh);
		kta_hasher_free(hs);
		if (fill >= 0) {
			keys[0] = KTA_ENTRY_ALG_ED25519;
			memset(keys + 1, fill, 32);
			keys[33] = 5;
			memcpy(keys + 34, "phone", 5);
			kl = sizeof(keys);
		}
		assert_int_equal(
		    sqlite3_prepare_v2(db, "INSERT INTO labels VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1,
				       &s, NULL),
		    SQLITE_OK);
		sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, label, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)version);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)leaf);
		sqlite3_bind_blob(s, 5, lh, 32, SQLITE_STATIC);
		sqlite3_bind_blob(s, 6, keys, (int)kl, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_finalize(s);
	}
	free(raw);
}

/* Schema 1 kept each label's entry hash; converted, the history must
 * rebuild it, or the database is refused as damaged. */
static void schema_v1_hash_mismatch(void **state)
{
	struct tmp t;
	struct kta_state *st = NULL;
	struct kta_error err;
	sqlite3 *db;

	(void)state;
	tmp_make(&t);
	assert_int_equal(mkdir(sdir(&t), 0700), 0);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	v1_row(db, "o", 3, "alice", 1, 1, "first_version", 1);
	assert_int_equal(
	    sqlite3_exec(db, "UPDATE labels SET entry_hash = zeroblob(32)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(kta_state_open(sdir(&t), &st, &err), KTA_ERR_MALFORMED);
	assert_null(st);
	assert_non_null(strstr(err.msg, "schema 1: alice: the history's entry at leaf 3"));
	/* refused in the transaction that checks the schema: still version 1 */
	assert_int_equal(user_version(&t), 1);
	tmp_rm(&t);
}

static void schema_v1_migration(void **state)
{
	struct tmp t;
	struct kta_state *st;
	struct kta_state_index *ix = NULL;
	struct kta_state_history_item *h = NULL;
	struct kta_replay_index ops;
	struct kta_label_state ls;
	sqlite3 *db;
	sqlite3_stmt *s;
	size_t nh;
	uint64_t n;
	int found, ver = 0;
	struct kta_error err;
	uint8_t *a3;
	size_t a3_len;

	(void)state;
	tmp_make(&t);
	assert_int_equal(mkdir(sdir(&t), 0700), 0);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	/* alice: v1 at leaf 3, v2 at 7 (unauthorized), deleted v3 at 9; bob v1
	 * at 4; in p, alice deleted at 0 */
	v1_row(db, "o", 3, "alice", 1, 1, "first_version", 0);
	v1_row(db, "o", 4, "bob", 1, 1, "first_version", 1);
	v1_row(db, "o", 7, "alice", 2, 2, "unauthorized", 0);
	v1_row(db, "o", 9, "alice", 3, -1, "owner", 1);
	v1_row(db, "p", 0, "alice", 1, -1, "first_version", 1);
	sqlite3_close(db);
	st = open_ok(&t);
	assert_int_equal(kta_state_label_count(st, "o", &n, NULL), KTA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(kta_state_label_count(st, "p", &n, NULL), KTA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(kta_state_history(st, "o", "alice", &h, &nh, NULL), KTA_OK);
	assert_int_equal(nh, 3);
	assert_int_equal(h[0].leaf_index, 3);
	assert_int_equal(h[1].leaf_index, 7);
	assert_int_equal(h[1].auth, KTA_AUTH_UNAUTHORIZED);
	assert_int_equal(h[2].version, 3);
	a3 = mk_entry("alice", 3, -1, &a3_len);
	assert_int_equal(h[2].entry_len, a3_len);
	assert_memory_equal(h[2].entry, a3, a3_len);
	free(a3);
	kta_state_history_free(h, nh);
	assert_int_equal(kta_state_index_new(st, "o", &ix, NULL), KTA_OK);
	ops = kta_state_index_ops(ix);
	assert_int_equal(ops.get(ops.ctx, "bob", &found, &ls, &err), KTA_OK);
	assert_true(found);
	assert_int_equal(ls.leaf_index, 4);
	assert_int_equal(ls.nkeys, 1);
	assert_string_equal(ls.keys[0].device, "phone");
	/* the records keep no entry hash: the history rebuilds schema 1's */
	entry_hash_is(ops, "bob", 4, 1, 1);
	entry_hash_is(ops, "alice", 9, 3, -1);
	/* the next leaf continues the converted history */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	ix_put_one(ix, "bob", 2, 9, 5, KTA_ERR_IO);
	ix_put_one(ix, "bob", 2, 10, 5, KTA_OK);
	assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
	kta_state_index_free(ix);
	assert_int_equal(kta_state_history(st, "o", "bob", &h, &nh, NULL), KTA_OK);
	assert_int_equal(nh, 2);
	assert_int_equal(h[0].leaf_index, 4);
	assert_int_equal(h[1].leaf_index, 10);
	kta_state_history_free(h, nh);
	kta_state_close(st);
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	ver = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT COUNT(*) FROM sqlite_schema WHERE name "
					    "LIKE '%_v1'",
					    -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	assert_int_equal(ver, KTA_STATE_SCHEMA_VERSION);
	/* a meta row claiming far more buckets (or labels) than the other can
	 * hold is damaged: refused before any table is sized by it */
	{
		static const char *const bad[] = {
		    "UPDATE labels SET data = substr(data, 1, 16) || x'0000000004000000' || "
		    "substr(data, 25, 8) WHERE bucket = -1",
		    "UPDATE labels SET data = substr(data, 1, 24) || x'0000000000010000' "
		    "WHERE bucket = -1",
		};
		sqlite3_stmt *q;
		const void *orig;
		uint8_t keep[32];
		size_t b;

		assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM labels WHERE bucket = -1",
						    -1, &q, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_int_equal(sqlite3_column_bytes(q, 0), 32);
		orig = sqlite3_column_blob(q, 0);
		memcpy(keep, orig, 32);
		sqlite3_finalize(q);
		sqlite3_close(db);
		for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
			assert_int_equal(sqlite3_exec(db, bad[b], NULL, NULL, NULL), SQLITE_OK);
			sqlite3_close(db);
			st = open_ok(&t);
			assert_int_equal(kta_state_history(st, "o", "alice", &h, &nh, &err),
					 KTA_ERR_MALFORMED);
			assert_non_null(strstr(err.msg, "bad meta row"));
			kta_state_close(st);
			/* the row as it was: accepted again */
			assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
			assert_int_equal(
			    sqlite3_prepare_v2(db, "UPDATE labels SET data = ? WHERE bucket = -1",
					       -1, &q, NULL),
			    SQLITE_OK);
			assert_int_equal(sqlite3_bind_blob(q, 1, keep, 32, SQLITE_STATIC),
					 SQLITE_OK);
			assert_int_equal(sqlite3_step(q), SQLITE_DONE);
			sqlite3_finalize(q);
			sqlite3_close(db);
			st = open_ok(&t);
			assert_int_equal(kta_state_history(st, "o", "alice", &h, &nh, NULL),
					 KTA_OK);
			kta_state_history_free(h, nh);
			kta_state_close(st);
		}
	}
	/* a damaged bucket is reported, never trusted */
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE labels SET data = x'05616c69' WHERE bucket >= 0",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	st = open_ok(&t);
	assert_int_equal(kta_state_history(st, "o", "alice", &h, &nh, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "bucket"));
	kta_state_close(st);
	tmp_rm(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(open_permissions_and_twice),
	    cmocka_unit_test(open_rejects),
	    cmocka_unit_test(log_roundtrip),
	    cmocka_unit_test(pending_roundtrip),
	    cmocka_unit_test(shard_claim),
	    cmocka_unit_test(transaction_rollback),
	    cmocka_unit_test(close_rolls_back),
	    cmocka_unit_test(crash_kill9),
	    cmocka_unit_test(exclusive_mode),
	    cmocka_unit_test(exclusive_crash_rollback),
	    cmocka_unit_test(outbox),
	    cmocka_unit_test(outbox_error_text_cut),
	    cmocka_unit_test(watches),
	    cmocka_unit_test(watches_adapter_tofu),
	    cmocka_unit_test(history_and_index),
	    cmocka_unit_test(entry_hash_while_appending),
	    cmocka_unit_test(schema4_bucket_rows),
	    cmocka_unit_test(entry_hash_damaged_history),
	    cmocka_unit_test(entry_hash_after_rollback),
	    cmocka_unit_test(history_packed),
	    cmocka_unit_test(index_volume),
	    cmocka_unit_test(index_cache_eviction),
	    cmocka_unit_test(index_record_heap),
	    cmocka_unit_test(index_cleaning_keeps_buckets),
	    cmocka_unit_test(index_large_records),
	    cmocka_unit_test(index_max_buckets),
	    cmocka_unit_test(index_cache_stale),
	    cmocka_unit_test(index_get_put_positions),
	    cmocka_unit_test(index_prefetch),
	    cmocka_unit_test(schema_v1_migration),
	    cmocka_unit_test(schema_v1_hash_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
