/*
 * The monitor's durable state in SQLite. See ktaudit/state.h for the schema,
 * the delivery semantics and ownership.
 */
#include "ktaudit/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ktaudit/encoding.h"

/* 'ktau': marks the file as a ktaudit state database (PRAGMA application_id). */
#define APP_ID 0x6b746175
/* SQLite page cache per handle, KiB. */
#define KTA_STATE_CACHE_KIB 65536
#define KTA_STR2(x) #x
#define KTA_STR(x) KTA_STR2(x)
/* Most sinks in one pending count. */
#define MAX_SINK_NAMES 256

/* Cached statements, prepared on first use. */
enum stmt_id {
	S_LOG_GET,
	S_LOG_PUT,
	S_LABEL_GET,
	S_LABEL_PUT,
	S_HIST_PUT,
	S_ALERT_ADD,
	S_ALERT_SEQ,
	S_SINK_GET,
	S_NSTMT,
};

static const char *const stmt_sql[S_NSTMT] = {
    [S_LOG_GET] = "SELECT checkpoint, size, root, range, first_seen, updated FROM logs "
		  "WHERE origin = ?1",
    [S_LOG_PUT] = "INSERT INTO logs(origin, checkpoint, size, root, range, first_seen, updated) "
		  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT(origin) DO UPDATE SET "
		  "checkpoint = excluded.checkpoint, size = excluded.size, root = excluded.root, "
		  "range = excluded.range, updated = excluded.updated",
    [S_LABEL_GET] = "SELECT version, leaf_index, entry_hash, keys FROM labels "
		    "WHERE origin = ?1 AND label = ?2",
    [S_LABEL_PUT] = "INSERT INTO labels(origin, label, version, leaf_index, entry_hash, keys) "
		    "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(origin, label) DO UPDATE SET "
		    "version = excluded.version, leaf_index = excluded.leaf_index, "
		    "entry_hash = excluded.entry_hash, keys = excluded.keys",
    [S_HIST_PUT] = "INSERT INTO label_history(origin, leaf_index, label, version, entry, auth) "
		   "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_ALERT_ADD] = "INSERT OR IGNORE INTO alerts(id, json, severity, created) "
		    "VALUES(?1, ?2, ?3, ?4)",
    [S_ALERT_SEQ] = "SELECT COALESCE(MAX(seq), 0) FROM alerts",
    [S_SINK_GET] = "SELECT after_seq FROM sinks WHERE name = ?1",
};

static const char schema_sql[] = "CREATE TABLE logs("
				 " origin TEXT PRIMARY KEY NOT NULL,"
				 " checkpoint TEXT NOT NULL,"
				 " size INTEGER NOT NULL,"
				 " root BLOB NOT NULL,"
				 " range BLOB NOT NULL,"
				 " first_seen INTEGER NOT NULL,"
				 " updated INTEGER NOT NULL);"
				 "CREATE TABLE labels("
				 " origin TEXT NOT NULL,"
				 " label TEXT NOT NULL,"
				 " version INTEGER NOT NULL,"
				 " leaf_index INTEGER NOT NULL,"
				 " entry_hash BLOB NOT NULL,"
				 " keys BLOB NOT NULL,"
				 " PRIMARY KEY(origin, label)) WITHOUT ROWID;"
				 "CREATE TABLE label_history("
				 " origin TEXT NOT NULL,"
				 " leaf_index INTEGER NOT NULL,"
				 " label TEXT NOT NULL,"
				 " version INTEGER NOT NULL,"
				 " entry BLOB NOT NULL,"
				 " auth TEXT NOT NULL,"
				 " PRIMARY KEY(origin, label, leaf_index)) WITHOUT ROWID;"
				 "CREATE TABLE watches("
				 " origin TEXT NOT NULL,"
				 " label TEXT NOT NULL,"
				 " mode TEXT NOT NULL CHECK(mode IN ('pinned', 'tofu')),"
				 " keys BLOB,"
				 " approved_version INTEGER NOT NULL,"
				 " added_at INTEGER NOT NULL,"
				 " PRIMARY KEY(origin, label));"
				 "CREATE TABLE alerts("
				 " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
				 " id TEXT NOT NULL UNIQUE,"
				 " json TEXT NOT NULL,"
				 " severity TEXT NOT NULL,"
				 " created INTEGER NOT NULL);"
				 "CREATE TABLE sinks("
				 " name TEXT PRIMARY KEY NOT NULL,"
				 " after_seq INTEGER NOT NULL,"
				 " added_at INTEGER NOT NULL);"
				 "CREATE TABLE deliveries("
				 " alert_id TEXT NOT NULL,"
				 " sink TEXT NOT NULL,"
				 " delivered_at INTEGER,"
				 " attempts INTEGER NOT NULL,"
				 " next_attempt INTEGER NOT NULL,"
				 " last_error TEXT,"
				 " PRIMARY KEY(alert_id, sink));";

/* The last checkpoint this auditor cosigned per origin (witness.h). */
static const char cosigned_sql[] = "CREATE TABLE IF NOT EXISTS cosigned("
				   " origin TEXT PRIMARY KEY NOT NULL,"
				   " checkpoint TEXT NOT NULL,"
				   " size INTEGER NOT NULL,"
				   " root BLOB NOT NULL,"
				   " updated INTEGER NOT NULL)";

struct kta_state_index;

struct kta_state {
	sqlite3 *db;
	char *path; /* dir/state.db, for messages */
	int in_tx;
	enum kta_status last_status; /* of the last failed prepare (stmt, prep) */
	sqlite3_stmt *stmts[S_NSTMT];
	struct kta_state_index *ixs; /* live indexes (their write-back buffers) */
	enum kta_status wb_status;   /* a buffer that could not be written: commit fails */
	struct kta_error wb_err;     /* ... with this message */
};

static enum kta_status wb_flush_all(struct kta_state *st, struct kta_error *err);
static void wb_discard_all(struct kta_state *st);
static void wb_detach_all(struct kta_state *st);

/* Maps the last SQLite error of db to a status with "state.db: what: msg". */
static enum kta_status db_fail(struct kta_state *st, const char *what, struct kta_error *err)
{
	int code = sqlite3_extended_errcode(st->db) & 0xff;
	enum kta_status s = KTA_ERR_IO;

	if (code == SQLITE_NOMEM)
		s = KTA_ERR_NOMEM;
	else if (code == SQLITE_NOTADB)
		s = KTA_ERR_MALFORMED;
	return kta_error_set(err, s, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static enum kta_status db_exec(struct kta_state *st, const char *sql, struct kta_error *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(st, sql, err);
	return KTA_OK;
}

/* Returns the cached statement id, reset and unbound, or NULL (err set). */
static sqlite3_stmt *stmt(struct kta_state *st, enum stmt_id id, struct kta_error *err)
{
	if (st->stmts[id] == NULL) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
				       &st->stmts[id], NULL) != SQLITE_OK) {
			st->last_status = db_fail(st, "prepare", err);
			return NULL;
		}
	} else {
		/* Every user binds all parameters, so no sqlite3_clear_bindings. */
		sqlite3_reset(st->stmts[id]);
	}
	return st->stmts[id];
}

/* A one-off statement (caller finalizes). */
static sqlite3_stmt *prep(struct kta_state *st, const char *sql, struct kta_error *err)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		st->last_status = db_fail(st, "prepare", err);
		return NULL;
	}
	return s;
}

static int bind_text(sqlite3_stmt *s, int i, const char *t)
{
	return sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}

/* Binds a uint64_t that must fit SQLite's signed 64-bit integers. */
static int bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX)
		return SQLITE_RANGE;
	return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

/* Reads a non-negative integer column; -1 marks a bad value. */
static int col_u64(sqlite3_stmt *s, int i, uint64_t *out)
{
	sqlite3_int64 v;

	if (sqlite3_column_type(s, i) != SQLITE_INTEGER)
		return -1;
	v = sqlite3_column_int64(s, i);
	if (v < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* Copies a TEXT column into a new string; NULL if out of memory or not text. */
static char *col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	int n = sqlite3_column_bytes(s, i);
	char *c;

	if (t == NULL || n < 0)
		return NULL;
	if ((c = malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(c, t, (size_t)n);
	c[n] = '\0';
	return c;
}

/* ------------------------------------------------------------------------ */
/* Key-set blobs (state.h "Key-set blob"). */

/* Encodes keys into a new buffer (*out, *len; *out non-NULL even when empty). */
static enum kta_status keys_encode(const struct kta_entry_key *keys, size_t n, uint8_t **out,
				   size_t *len, struct kta_error *err)
{
	size_t total = 0, i, off = 0;
	uint8_t *b;

	*out = NULL;
	for (i = 0; i < n; i++) {
		size_t d = strlen(keys[i].device);

		if (d == 0 || d > KTA_DEVICE_MAX_LEN)
			return kta_error_set(err, KTA_ERR_USAGE, "key %zu: bad device name", i);
		if (total > SIZE_MAX / 2)
			return kta_error_set(err, KTA_ERR_LIMIT, "key set too large");
		total += 34 + d;
	}
	if ((b = malloc(total + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		size_t d = strlen(keys[i].device);

		b[off++] = (uint8_t)keys[i].alg;
		memcpy(b + off, keys[i].pub, 32);
		off += 32;
		b[off++] = (uint8_t)d;
		memcpy(b + off, keys[i].device, d);
		off += d;
	}
	*out = b;
	*len = total;
	return KTA_OK;
}

/*
 * Decodes a key-set blob into one block (keys array, then NUL-terminated
 * devices) grown as needed in *buf (capacity *cap). Sets *keys (into the block) and *n.
 */
static enum kta_status keys_decode(const uint8_t *b, size_t len, void **buf, size_t *cap,
				   struct kta_entry_key **keys, size_t *n, struct kta_error *err)
{
	size_t off = 0, count = 0, strbytes = 0, need, i;
	struct kta_entry_key *k;
	char *p;

	while (off < len) {
		size_t d;

		if (len - off < 34 || (d = b[off + 33]) == 0 || len - off - 34 < d)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "state.db: key set blob truncated at byte %zu", off);
		if (b[off] != KTA_ENTRY_ALG_ED25519 && b[off] != KTA_ENTRY_ALG_X25519)
			return kta_error_set(
			    err, KTA_ERR_MALFORMED,
			    "state.db: key set blob: unknown algorithm %u at byte %zu", b[off],
			    off);
		off += 34 + d;
		count++;
		strbytes += d + 1;
	}
	need = count * sizeof(struct kta_entry_key) + strbytes + 1;
	if (need > *cap) {
		void *nb = realloc(*buf, need);

		if (nb == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		*buf = nb;
		*cap = need;
	}
	k = *buf;
	p = (char *)*buf + count * sizeof(struct kta_entry_key);
	for (off = 0, i = 0; i < count; i++) {
		size_t d = b[off + 33];

		k[i].alg = (enum kta_entry_alg)b[off];
		memcpy(k[i].pub, b + off + 1, 32);
		memcpy(p, b + off + 34, d);
		p[d] = '\0';
		k[i].device = p;
		p += d + 1;
		off += 34 + d;
	}
	*keys = count > 0 ? k : NULL;
	*n = count;
	return KTA_OK;
}

/* Decodes a blob into a separately owned key array (kta_replay_keys_free). */
static enum kta_status keys_decode_owned(const uint8_t *b, size_t len, struct kta_entry_key **out,
					 size_t *n, struct kta_error *err)
{
	void *buf = NULL;
	size_t cap = 0, cnt = 0, i;
	struct kta_entry_key *k = NULL, *res = NULL;
	enum kta_status r;

	*out = NULL;
	*n = 0;
	if ((r = keys_decode(b, len, &buf, &cap, &k, &cnt, err)) != KTA_OK)
		goto out;
	if (cnt > 0) {
		if ((res = calloc(cnt, sizeof(*res))) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < cnt; i++) {
			res[i] = k[i];
			if ((res[i].device = strdup(k[i].device)) == NULL) {
				kta_replay_keys_free(res, i);
				res = NULL;
				r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	*out = res;
	*n = cnt;
	r = KTA_OK;
out:
	free(buf);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Open, close, transactions. */

/* Creates dir 0700 if missing; fails if it exists but is not a directory. */
static enum kta_status make_dir(const char *dir, struct kta_error *err)
{
	struct stat sb;

	if (mkdir(dir, 0700) == 0) {
		/* mkdir's mode is filtered by the umask: set it exactly. */
		if (chmod(dir, 0700) != 0)
			return kta_error_set(err, KTA_ERR_IO, "%s: chmod: %s", dir,
					     strerror(errno));
		return KTA_OK;
	}
	if (errno != EEXIST)
		return kta_error_set(err, KTA_ERR_IO, "%s: cannot create: %s", dir,
				     strerror(errno));
	if (stat(dir, &sb) != 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return kta_error_set(err, KTA_ERR_IO, "%s: not a directory", dir);
	return KTA_OK;
}

/* Creates the database file 0600 if missing (never through a symlink). */
static enum kta_status make_db_file(const char *path, struct kta_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat sb;

	if (fd < 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return kta_error_set(err, KTA_ERR_IO, "%s: not a regular file", path);
	}
	/* umask-independent: the monitor's history and alerts are private. */
	if ((sb.st_mode & 0777) != 0600 && fchmod(fd, 0600) != 0) {
		int e = errno;

		close(fd);
		return kta_error_set(err, KTA_ERR_IO, "%s: chmod: %s", path, strerror(e));
	}
	close(fd);
	return KTA_OK;
}

static enum kta_status pragma_int(struct kta_state *st, const char *sql, sqlite3_int64 *out,
				  struct kta_error *err)
{
	sqlite3_stmt *s = prep(st, sql, err);
	int rc;

	if (s == NULL)
		return st->last_status;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		enum kta_status r = db_fail(st, sql, err);

		sqlite3_finalize(s);
		return r;
	}
	*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return KTA_OK;
}

/* Creates the schema in an empty database, or checks an existing one. */
static enum kta_status check_schema(struct kta_state *st, struct kta_error *err)
{
	sqlite3_int64 ver = 0, app = 0, ntables = 0;
	enum kta_status r;

	if ((r = db_exec(st, "BEGIN IMMEDIATE", err)) != KTA_OK)
		return r;
	if ((r = pragma_int(st, "PRAGMA user_version", &ver, err)) != KTA_OK ||
	    (r = pragma_int(st, "PRAGMA application_id", &app, err)) != KTA_OK ||
	    (r = pragma_int(st, "SELECT COUNT(*) FROM sqlite_schema", &ntables, err)) != KTA_OK)
		goto out;
	if (ver == 0 && app == 0 && ntables == 0) {
		char sql[128];

		if ((r = db_exec(st, schema_sql, err)) != KTA_OK)
			goto out;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
			 KTA_STATE_SCHEMA_VERSION, APP_ID);
		if ((r = db_exec(st, sql, err)) != KTA_OK)
			goto out;
	} else if (app != APP_ID) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: not a ktaudit state database",
				  st->path);
		goto out;
	} else if (ver > KTA_STATE_SCHEMA_VERSION) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "%s: schema version %lld was written by a newer ktaudit (this "
				  "one reads up to %d)",
				  st->path, (long long)ver, KTA_STATE_SCHEMA_VERSION);
		goto out;
	} else if (ver < 1) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: bad schema version %lld", st->path,
				  (long long)ver);
		goto out;
	}
	/* Added after schema version 1 without a version bump: an extra table
	 * is invisible to older readers, so it is created where missing. */
	if ((r = db_exec(st, cosigned_sql, err)) != KTA_OK)
		goto out;
	r = db_exec(st, "COMMIT", err);
out:
	if (r != KTA_OK)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

enum kta_status kta_state_open(const char *dir, struct kta_state **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_NOMEM;
	struct kta_state *st = NULL;
	sqlite3_int64 dummy;
	size_t dl;
	char *jm = NULL;
	sqlite3_stmt *s = NULL;

	*out = NULL;
	if (dir == NULL || *dir == '\0') {
		r = kta_error_set(err, KTA_ERR_USAGE, "state: no directory");
		goto out;
	}
	dl = strlen(dir);
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = malloc(dl + sizeof("/" KTA_STATE_DB_NAME))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	memcpy(st->path, dir, dl);
	memcpy(st->path + dl, "/" KTA_STATE_DB_NAME, sizeof("/" KTA_STATE_DB_NAME));
	if ((r = make_dir(dir, err)) != KTA_OK || (r = make_db_file(st->path, err)) != KTA_OK)
		goto out;
	if (sqlite3_open_v2(st->path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		r = st->db != NULL ? db_fail(st, "open", err)
				   : kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, KTA_STATE_BUSY_TIMEOUT_MS);
	/* Fails with SQLITE_NOTADB on a file that is not a database. */
	if ((r = pragma_int(st, "PRAGMA schema_version", &dummy, err)) != KTA_OK)
		goto out;
	if ((s = prep(st, "PRAGMA journal_mode = WAL", err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (sqlite3_step(s) != SQLITE_ROW) {
		r = db_fail(st, "journal_mode", err);
		goto out;
	}
	jm = col_strdup(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (jm == NULL || strcmp(jm, "wal") != 0) {
		r = kta_error_set(err, KTA_ERR_IO, "%s: cannot switch to WAL mode", st->path);
		goto out;
	}
	/* A cycle step of a first replay is one big transaction: a page cache of
	 * KTA_STATE_CACHE_KIB keeps it from spilling into the WAL mid-way. */
	if ((r = db_exec(st,
			 "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; "
			 "PRAGMA cache_size = -" KTA_STR(KTA_STATE_CACHE_KIB),
			 err)) != KTA_OK)
		goto out;
	if ((r = check_schema(st, err)) != KTA_OK)
		goto out;
	*out = st;
	st = NULL;
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	free(jm);
	kta_state_close(st);
	return r;
}

void kta_state_close(struct kta_state *st)
{
	size_t i;

	if (st == NULL)
		return;
	wb_detach_all(st);
	for (i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(st->stmts[i]);
	if (st->db != NULL) {
		if (st->in_tx)
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close_v2(st->db);
	}
	free(st->path);
	free(st);
}

enum kta_status kta_state_begin(struct kta_state *st, struct kta_error *err)
{
	enum kta_status r;

	if (st->in_tx)
		return kta_error_set(err, KTA_ERR_USAGE, "state: transaction already open");
	/* IMMEDIATE: take the write lock now, so commit cannot fail on a lock upgrade. */
	if ((r = db_exec(st, "BEGIN IMMEDIATE", err)) != KTA_OK)
		return r;
	st->in_tx = 1;
	return KTA_OK;
}

enum kta_status kta_state_commit(struct kta_state *st, struct kta_error *err)
{
	enum kta_status r;

	if (!st->in_tx)
		return kta_error_set(err, KTA_ERR_USAGE, "state: no transaction to commit");
	/* The index's buffered rows belong to this transaction: write them first. */
	if ((r = wb_flush_all(st, err)) == KTA_OK && st->wb_status != KTA_OK)
		r = kta_error_set(err, st->wb_status, "%s", st->wb_err.msg);
	if (r != KTA_OK) {
		kta_state_rollback(st, NULL);
		return r;
	}
	if ((r = db_exec(st, "COMMIT", err)) != KTA_OK) {
		/* A failed COMMIT may leave the transaction open: end it. */
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		st->in_tx = 0;
		wb_discard_all(st);
		return r;
	}
	st->in_tx = 0;
	wb_discard_all(st); /* empty after the flush; ends the indexes' "fresh" knowledge */
	return KTA_OK;
}

enum kta_status kta_state_rollback(struct kta_state *st, struct kta_error *err)
{
	enum kta_status r = KTA_OK;

	wb_discard_all(st);
	st->wb_status = KTA_OK;
	if (!st->in_tx)
		return KTA_OK;
	st->in_tx = 0;
	if (!sqlite3_get_autocommit(st->db))
		r = db_exec(st, "ROLLBACK", err);
	return r;
}

int kta_state_in_transaction(const struct kta_state *st)
{
	return st->in_tx;
}

/*
 * Runs a writing function in a transaction of its own when none is open,
 * so that a multi-statement change is all-or-nothing either way.
 */
static enum kta_status tx_enter(struct kta_state *st, int *own, struct kta_error *err)
{
	enum kta_status r;

	*own = 0;
	if (st->in_tx)
		return KTA_OK;
	if ((r = kta_state_begin(st, err)) != KTA_OK)
		return r;
	*own = 1;
	return KTA_OK;
}

static enum kta_status tx_leave(struct kta_state *st, int own, enum kta_status r,
				struct kta_error *err)
{
	if (!own)
		return r;
	if (r == KTA_OK)
		return kta_state_commit(st, err);
	kta_state_rollback(st, NULL);
	return r;
}

/* ------------------------------------------------------------------------ */
/* logs */

void kta_state_log_free(struct kta_state_log *l)
{
	if (l == NULL)
		return;
	free(l->origin);
	free(l->checkpoint);
	kta_compact_range_free(l->range);
	free(l);
}

enum kta_status kta_state_log_get(struct kta_state *st, const char *origin, int *found,
				  struct kta_state_log **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_IO;
	sqlite3_stmt *s;
	struct kta_state_log *l = NULL;
	const void *root, *range;
	int rc, rlen, glen;
	sqlite3_int64 fs, up;

	*out = NULL;
	*found = 0;
	if ((s = stmt(st, S_LOG_GET, err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = KTA_OK;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(st, "read log", err);
		goto out;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->origin = strdup(origin)) == NULL ||
	    (l->checkpoint = col_strdup(s, 0)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	l->checkpoint_len = strlen(l->checkpoint);
	root = sqlite3_column_blob(s, 2);
	rlen = sqlite3_column_bytes(s, 2);
	range = sqlite3_column_blob(s, 3);
	glen = sqlite3_column_bytes(s, 3);
	if (col_u64(s, 1, &l->size) != 0 || root == NULL || rlen != 32 || glen < 0 ||
	    glen % 32 != 0 || (glen > 0 && range == NULL)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: log %s: bad stored checkpoint row",
				  st->path, origin);
		goto out;
	}
	memcpy(l->root, root, 32);
	r = kta_compact_range_restore(l->size, (const uint8_t(*)[32])range, (size_t)glen / 32,
				      &l->range, err);
	if (r != KTA_OK) {
		r = kta_error_prefix(err, "%s: log %s: stored compact range", st->path, origin);
		if (r != KTA_ERR_NOMEM)
			r = KTA_ERR_MALFORMED;
		goto out;
	}
	fs = sqlite3_column_int64(s, 4);
	up = sqlite3_column_int64(s, 5);
	l->first_seen = fs;
	l->updated = up;
	*out = l;
	l = NULL;
	*found = 1;
	r = KTA_OK;
out:
	sqlite3_reset(s);
	kta_state_log_free(l);
	return r;
}

enum kta_status kta_state_log_put(struct kta_state *st, const char *origin, const char *note,
				  size_t note_len, uint64_t size, const uint8_t root[static 32],
				  const struct kta_compact_range *range, int64_t now,
				  struct kta_error *err)
{
	enum kta_status r;
	sqlite3_stmt *s;
	size_t n = 0;
	const uint8_t(*hashes)[32];
	int own;

	if (range == NULL || kta_compact_range_size(range) != size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "state: compact range size differs from checkpoint size %llu",
				     (unsigned long long)size);
	if (note == NULL || note_len == 0 || note_len > KTA_STATE_NOTE_MAX ||
	    memchr(note, '\0', note_len) != NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "state: bad checkpoint note text");
	if (size > (uint64_t)INT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: tree size too large to store");
	hashes = kta_compact_range_hashes(range, &n);
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((s = stmt(st, S_LOG_PUT, err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (bind_text(s, 1, origin) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, note, (int)note_len, SQLITE_STATIC) != SQLITE_OK ||
	    bind_u64(s, 3, size) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 4, root, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 5, n > 0 ? (const void *)hashes : "", (int)(n * 32),
			      SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, now) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "store log checkpoint", err);
		sqlite3_reset(s);
		goto out;
	}
	sqlite3_reset(s);
	r = KTA_OK;
out:
	return tx_leave(st, own, r, err);
}

void kta_state_cosigned_free(struct kta_state_cosigned *c)
{
	if (c == NULL)
		return;
	free(c->checkpoint);
	free(c);
}

enum kta_status kta_state_cosigned_get(struct kta_state *st, const char *origin, int *found,
				       struct kta_state_cosigned **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_IO;
	sqlite3_stmt *s = NULL;
	struct kta_state_cosigned *c = NULL;
	const void *root;
	int rc;

	*out = NULL;
	*found = 0;
	if (sqlite3_prepare_v2(
		st->db, "SELECT checkpoint, size, root, updated FROM cosigned WHERE origin = ?1",
		-1, &s, NULL) != SQLITE_OK)
		return db_fail(st, "read cosigned", err);
	bind_text(s, 1, origin);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = KTA_OK;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(st, "read cosigned", err);
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->checkpoint = col_strdup(s, 0)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	c->checkpoint_len = strlen(c->checkpoint);
	root = sqlite3_column_blob(s, 2);
	if (col_u64(s, 1, &c->size) != 0 || root == NULL || sqlite3_column_bytes(s, 2) != 32) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: log %s: bad cosigned row", st->path,
				  origin);
		goto out;
	}
	memcpy(c->root, root, 32);
	c->updated = sqlite3_column_int64(s, 3);
	*out = c;
	c = NULL;
	*found = 1;
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	kta_state_cosigned_free(c);
	return r;
}

enum kta_status kta_state_cosigned_put(struct kta_state *st, const char *origin, const char *note,
				       size_t note_len, uint64_t size,
				       const uint8_t root[static 32], int64_t now,
				       struct kta_error *err)
{
	enum kta_status r;
	sqlite3_stmt *s = NULL;
	int own;

	if (note == NULL || note_len == 0 || note_len > KTA_STATE_NOTE_MAX ||
	    memchr(note, '\0', note_len) != NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "state: bad cosigned note text");
	if (size > (uint64_t)INT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: tree size too large to store");
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO cosigned(origin, checkpoint, size, root, updated) "
			       "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(origin) DO UPDATE SET "
			       "checkpoint = excluded.checkpoint, size = excluded.size, "
			       "root = excluded.root, updated = excluded.updated",
			       -1, &s, NULL) != SQLITE_OK ||
	    bind_text(s, 1, origin) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, note, (int)note_len, SQLITE_STATIC) != SQLITE_OK ||
	    bind_u64(s, 3, size) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 4, root, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, now) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "store cosigned checkpoint", err);
		goto out;
	}
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	return tx_leave(st, own, r, err);
}

/* ------------------------------------------------------------------------ */
/* The replay index over labels + label_history. */

/*
 * Write-back buffer. Inside a transaction, put() of a leaf at or beyond the
 * stored checkpoint size is kept in memory and written at commit (or when the
 * buffer reaches KTA_STATE_WB_BYTES), sorted by (label, leaf index): SQLite
 * then inserts in key order, touching each B-tree page once per flush instead
 * of once per entry. get() sees buffered rows first. Every check is still
 * made: a row that SQLite refuses (a leaf already in the history) fails the
 * flush, and so the commit, which rolls the whole step back. Leaves below the
 * stored size (a replay bug, or tests) are written at once as before.
 *
 * "fresh": the origin had no labels when the index was created inside the
 * transaction (which holds the write lock), so a label neither buffered nor
 * in the Bloom filter of flushed labels is absent without asking SQLite. The
 * filter has false positives only (they cost a lookup), never negatives.
 */
#define KTA_STATE_WB_BYTES ((size_t)64 << 20)
#define KTA_STATE_BLOOM_BITS ((size_t)1 << 26) /* 8 MiB */

struct wb_rec {
	uint64_t version, leaf_index;
	uint8_t entry_hash[32];
	enum kta_auth_result auth;
	char *label; /* the strings and blobs follow the struct, one allocation */
	size_t label_len;
	uint8_t *keys;
	size_t keys_len;
	uint8_t *entry;
	size_t entry_len;
};

struct kta_state_index {
	struct kta_state *st;
	struct kta_state_index *next; /* in st->ixs */
	char *origin;
	char *label; /* the last label read (its state borrows this) */
	size_t label_cap;
	void *keybuf; /* decoded keys of the last get */
	size_t keybuf_cap;
	uint8_t *blob; /* encoding buffer for put */
	size_t blob_cap;
	/* write-back buffer (see above) */
	int checked;           /* direct_below and fresh are known for this transaction */
	uint64_t direct_below; /* leaves below this are written at once */
	int fresh;             /* see above; only while the transaction lasts */
	struct wb_rec **recs;  /* buffered puts, in put order */
	size_t nrecs, recs_cap;
	size_t *slots; /* open addressing: 1 + index in recs of a label's latest put */
	size_t nslots, nused;
	size_t bytes;    /* buffered bytes, against KTA_STATE_WB_BYTES */
	uint64_t seed;   /* hash seed, so a log cannot aim collisions at us */
	uint64_t *bloom; /* labels flushed while fresh; NULL until the first flush */
};

enum kta_status kta_state_index_new(struct kta_state *st, const char *origin,
				    struct kta_state_index **out, struct kta_error *err)
{
	struct kta_state_index *ix;

	*out = NULL;
	if ((ix = calloc(1, sizeof(*ix))) == NULL || (ix->origin = strdup(origin)) == NULL) {
		free(ix);
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	}
	ix->st = st;
	ix->seed = (uint64_t)(uintptr_t)ix ^ ((uint64_t)time(NULL) << 20) ^ 0x9e3779b97f4a7c15ull;
	ix->next = st->ixs;
	st->ixs = ix;
	*out = ix;
	return KTA_OK;
}

static uint64_t wb_hash(const struct kta_state_index *ix, const char *s, size_t n)
{
	uint64_t h = ix->seed ^ 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 32; /* FNV-1a's low bits mix poorly */
	h *= 0xd6e8feb86659fd93ull;
	return h ^ (h >> 32);
}

/* The slot of label (n bytes): its entry, or the empty slot where it goes. */
static size_t wb_slot(const struct kta_state_index *ix, const char *label, size_t n, uint64_t h)
{
	size_t i = (size_t)h & (ix->nslots - 1);

	while (ix->slots[i] != 0) {
		const struct wb_rec *r = ix->recs[ix->slots[i] - 1];

		if (r->label_len == n && memcmp(r->label, label, n) == 0)
			break;
		i = (i + 1) & (ix->nslots - 1);
	}
	return i;
}

static const struct wb_rec *wb_find(const struct kta_state_index *ix, const char *label, size_t n,
				    uint64_t h)
{
	size_t i;

	if (ix->nused == 0)
		return NULL;
	i = wb_slot(ix, label, n, h);
	return ix->slots[i] != 0 ? ix->recs[ix->slots[i] - 1] : NULL;
}

static void bloom_add(uint64_t *b, uint64_t h)
{
	size_t i = (size_t)h & (KTA_STATE_BLOOM_BITS - 1);
	size_t j = (size_t)(h >> 38) & (KTA_STATE_BLOOM_BITS - 1);

	b[i / 64] |= (uint64_t)1 << (i % 64);
	b[j / 64] |= (uint64_t)1 << (j % 64);
}

static int bloom_maybe(const uint64_t *b, uint64_t h)
{
	size_t i = (size_t)h & (KTA_STATE_BLOOM_BITS - 1);
	size_t j = (size_t)(h >> 38) & (KTA_STATE_BLOOM_BITS - 1);

	return ((b[i / 64] >> (i % 64)) & 1) != 0 && ((b[j / 64] >> (j % 64)) & 1) != 0;
}

/* Drops the buffered rows (after a flush, or on rollback). */
static void wb_clear(struct kta_state_index *ix)
{
	size_t i;

	for (i = 0; i < ix->nrecs; i++)
		free(ix->recs[i]);
	ix->nrecs = 0;
	ix->bytes = 0;
	if (ix->nused > 0)
		memset(ix->slots, 0, ix->nslots * sizeof(*ix->slots));
	ix->nused = 0;
}

/* Inserts one row into label_history and, when do_label, labels (upsert), now. */
static enum kta_status sql_put(struct kta_state_index *ix, const char *label, uint64_t version,
			       uint64_t leaf_index, const uint8_t hash[32], const uint8_t *keys,
			       size_t keys_len, const uint8_t *entry, size_t entry_len,
			       enum kta_auth_result auth, int do_label, struct kta_error *err)
{
	struct kta_state *st = ix->st;
	sqlite3_stmt *s;

	if (!do_label)
		goto history;
	if ((s = stmt(st, S_LABEL_PUT, err)) == NULL)
		return st->last_status;
	if (bind_text(s, 1, ix->origin) != SQLITE_OK || bind_text(s, 2, label) != SQLITE_OK ||
	    bind_u64(s, 3, version) != SQLITE_OK || bind_u64(s, 4, leaf_index) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 5, hash, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 6, keys != NULL ? (const void *)keys : "", (int)keys_len,
			      SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE) {
		enum kta_status r = db_fail(st, "store label", err);

		sqlite3_reset(s);
		return r;
	}
	sqlite3_reset(s);
history:
	if ((s = stmt(st, S_HIST_PUT, err)) == NULL)
		return st->last_status;
	if (bind_text(s, 1, ix->origin) != SQLITE_OK || bind_u64(s, 2, leaf_index) != SQLITE_OK ||
	    bind_text(s, 3, label) != SQLITE_OK || bind_u64(s, 4, version) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 5, entry, (int)entry_len, SQLITE_STATIC) != SQLITE_OK ||
	    bind_text(s, 6, kta_replay_auth_name(auth)) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE) {
		enum kta_status r = db_fail(st, "store label history", err);

		sqlite3_reset(s);
		(void)kta_error_prefix(err, "label %s leaf %" PRIu64, label, leaf_index);
		return r;
	}
	sqlite3_reset(s);
	return KTA_OK;
}

static int rec_cmp(const void *pa, const void *pb)
{
	const struct wb_rec *a = *(const struct wb_rec *const *)pa;
	const struct wb_rec *b = *(const struct wb_rec *const *)pb;
	size_t n = a->label_len < b->label_len ? a->label_len : b->label_len;
	int c = memcmp(a->label, b->label, n);

	if (c != 0)
		return c;
	if (a->label_len != b->label_len)
		return a->label_len < b->label_len ? -1 : 1;
	return a->leaf_index < b->leaf_index ? -1 : a->leaf_index > b->leaf_index;
}

/*
 * Writes the buffer in (label, leaf index) order: every row into the
 * history, the last row of each label into labels. Clears it on success;
 * on failure the caller's transaction must be rolled back.
 */
static enum kta_status wb_flush(struct kta_state_index *ix, struct kta_error *err)
{
	enum kta_status r = KTA_OK;
	size_t i;

	if (ix->nrecs == 0)
		return KTA_OK;
	if (ix->fresh && ix->bloom == NULL &&
	    (ix->bloom = calloc(KTA_STATE_BLOOM_BITS / 64, sizeof(uint64_t))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	qsort(ix->recs, ix->nrecs, sizeof(*ix->recs), rec_cmp);
	for (i = 0; i < ix->nrecs && r == KTA_OK; i++) {
		const struct wb_rec *w = ix->recs[i];
		/* labels gets only the last (latest) row of each label */
		int last = i + 1 == ix->nrecs || ix->recs[i + 1]->label_len != w->label_len ||
			   memcmp(ix->recs[i + 1]->label, w->label, w->label_len) != 0;

		r = sql_put(ix, w->label, w->version, w->leaf_index, w->entry_hash, w->keys,
			    w->keys_len, w->entry, w->entry_len, w->auth, last, err);
		if (ix->fresh)
			bloom_add(ix->bloom, wb_hash(ix, w->label, w->label_len));
	}
	if (r == KTA_OK)
		wb_clear(ix);
	return r;
}

static enum kta_status wb_flush_all(struct kta_state *st, struct kta_error *err)
{
	struct kta_state_index *ix;
	enum kta_status r;

	for (ix = st->ixs; ix != NULL; ix = ix->next)
		if ((r = wb_flush(ix, err)) != KTA_OK)
			return r;
	return KTA_OK;
}

/* Rollback or end of transaction: drop the buffers and what "fresh" knew. */
static void wb_discard_all(struct kta_state *st)
{
	struct kta_state_index *ix;

	for (ix = st->ixs; ix != NULL; ix = ix->next) {
		wb_clear(ix);
		ix->checked = 0;
		ix->fresh = 0;
		free(ix->bloom);
		ix->bloom = NULL;
	}
}

/* kta_state_close: indexes still open lose their handle and buffered rows
 * (the open transaction is rolled back anyway). */
static void wb_detach_all(struct kta_state *st)
{
	while (st->ixs != NULL) {
		struct kta_state_index *ix = st->ixs;

		st->ixs = ix->next;
		wb_clear(ix);
		ix->st = NULL;
	}
}

void kta_state_index_free(struct kta_state_index *ix)
{
	struct kta_state_index **p;

	if (ix == NULL)
		return;
	/* Rows still buffered belong to the open transaction: write them now,
	 * and if that fails make its commit fail (never lose them silently). */
	if (ix->st != NULL && ix->nrecs > 0 && ix->st->in_tx && ix->st->wb_status == KTA_OK) {
		struct kta_error e;
		enum kta_status r = wb_flush(ix, &e);

		if (r != KTA_OK) {
			ix->st->wb_status = r;
			ix->st->wb_err = e;
		}
	}
	for (p = ix->st != NULL ? &ix->st->ixs : NULL; p != NULL && *p != NULL; p = &(*p)->next) {
		if (*p == ix) {
			*p = ix->next;
			break;
		}
	}
	wb_clear(ix);
	free(ix->recs);
	free(ix->slots);
	free(ix->bloom);
	free(ix->origin);
	free(ix->label);
	free(ix->keybuf);
	free(ix->blob);
	free(ix);
}

/* Learns, once per transaction, the stored size and whether origin has labels. */
static enum kta_status wb_check(struct kta_state_index *ix, struct kta_error *err)
{
	struct kta_state *st = ix->st;
	sqlite3_stmt *s;
	enum kta_status r = KTA_ERR_IO;
	int rc;

	if (ix->checked)
		return KTA_OK;
	if ((s = prep(st,
		      "SELECT (SELECT size FROM logs WHERE origin = ?1), "
		      "EXISTS(SELECT 1 FROM labels WHERE origin = ?1)",
		      err)) == NULL)
		return st->last_status;
	bind_text(s, 1, ix->origin);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = db_fail(st, "read log size", err);
		goto out;
	}
	ix->direct_below = 0;
	if (sqlite3_column_type(s, 0) != SQLITE_NULL && col_u64(s, 0, &ix->direct_below) != 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: bad logs row", st->path);
		goto out;
	}
	ix->fresh = sqlite3_column_int(s, 1) == 0 && ix->nrecs == 0;
	ix->checked = 1;
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	return r;
}

/* Copies label into ix->label (the borrowed label of a get's result). */
static enum kta_status keep_label(struct kta_state_index *ix, const char *label, size_t ll,
				  struct kta_error *err)
{
	if (ll + 1 > ix->label_cap) {
		char *nl = realloc(ix->label, ll + 1);

		if (nl == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->label = nl;
		ix->label_cap = ll + 1;
	}
	memcpy(ix->label, label, ll + 1);
	return KTA_OK;
}

static enum kta_status ix_get(void *ctx, const char *label, int *found, struct kta_label_state *out,
			      struct kta_error *err)
{
	struct kta_state_index *ix = ctx;
	struct kta_state *st = ix->st;
	sqlite3_stmt *s;
	enum kta_status r = KTA_ERR_IO;
	const void *h, *kb;
	int hl, kl, rc;
	size_t ll = strlen(label);
	struct kta_entry_key *keys = NULL;
	size_t nkeys = 0;
	uint64_t hv = 0;

	*found = 0;
	if (st->in_tx && !ix->checked && (r = wb_check(ix, err)) != KTA_OK)
		return r;
	if (ix->nrecs > 0 || (st->in_tx && ix->fresh)) {
		const struct wb_rec *w;

		hv = wb_hash(ix, label, ll);
		if ((w = wb_find(ix, label, ll, hv)) != NULL) {
			if ((r = keys_decode(w->keys, w->keys_len, &ix->keybuf, &ix->keybuf_cap,
					     &keys, &nkeys, err)) != KTA_OK ||
			    (r = keep_label(ix, label, ll, err)) != KTA_OK)
				return r;
			out->version = w->version;
			out->leaf_index = w->leaf_index;
			memcpy(out->entry_hash, w->entry_hash, 32);
			out->label = ix->label;
			out->keys = keys;
			out->nkeys = nkeys;
			out->entry = NULL;
			out->entry_len = 0;
			*found = 1;
			return KTA_OK;
		}
		if (st->in_tx && ix->fresh && (ix->bloom == NULL || !bloom_maybe(ix->bloom, hv)))
			return KTA_OK; /* neither buffered nor ever flushed: absent */
	}
	if (st->ixs != ix || ix->next != NULL) {
		struct kta_state_index *o;

		/* Another index's buffered rows must be visible to this read. */
		for (o = st->ixs; o != NULL; o = o->next)
			if (o != ix && (r = wb_flush(o, err)) != KTA_OK)
				return r;
	}
	if ((s = stmt(st, S_LABEL_GET, err)) == NULL)
		return st->last_status;
	bind_text(s, 1, ix->origin);
	sqlite3_bind_text(s, 2, label, (int)ll, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = KTA_OK;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(st, "read label", err);
		goto out;
	}
	h = sqlite3_column_blob(s, 2);
	hl = sqlite3_column_bytes(s, 2);
	kb = sqlite3_column_blob(s, 3);
	kl = sqlite3_column_bytes(s, 3);
	if (col_u64(s, 0, &out->version) != 0 || col_u64(s, 1, &out->leaf_index) != 0 ||
	    h == NULL || hl != 32 || kl < 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: bad labels row", st->path);
		goto out;
	}
	if ((r = keys_decode(kb, (size_t)kl, &ix->keybuf, &ix->keybuf_cap, &keys, &nkeys, err)) !=
	    KTA_OK)
		goto out;
	if ((r = keep_label(ix, label, ll, err)) != KTA_OK)
		goto out;
	memcpy(out->entry_hash, h, 32);
	out->label = ix->label;
	out->keys = keys;
	out->nkeys = nkeys;
	out->entry = NULL;
	out->entry_len = 0;
	*found = 1;
	r = KTA_OK;
out:
	sqlite3_reset(s);
	return r;
}

/* Buffers one put (see "Write-back buffer"); flushes when the buffer is full. */
static enum kta_status wb_add(struct kta_state_index *ix, const struct kta_label_state *ls,
			      size_t ll, size_t keys_len, enum kta_auth_result auth,
			      struct kta_error *err)
{
	struct wb_rec *w;
	uint64_t hv = wb_hash(ix, ls->label, ll);
	size_t i, sz = sizeof(*w) + ll + 1 + keys_len + ls->entry_len;

	if (ix->nrecs == ix->recs_cap) {
		size_t nc = ix->recs_cap == 0 ? 1024 : 2 * ix->recs_cap;
		struct wb_rec **nr = realloc(ix->recs, nc * sizeof(*nr));

		if (nr == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->recs = nr;
		ix->recs_cap = nc;
	}
	if (2 * (ix->nused + 1) > ix->nslots) {
		size_t ns = ix->nslots == 0 ? 2048 : 2 * ix->nslots, j;
		size_t *old = ix->slots, oldn = ix->nslots;

		if ((ix->slots = calloc(ns, sizeof(*ix->slots))) == NULL) {
			ix->slots = old;
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		}
		ix->nslots = ns;
		for (j = 0; j < oldn; j++) {
			if (old[j] != 0) {
				const struct wb_rec *o = ix->recs[old[j] - 1];

				ix->slots[wb_slot(ix, o->label, o->label_len,
						  wb_hash(ix, o->label, o->label_len))] = old[j];
			}
		}
		free(old);
	}
	if ((w = malloc(sz)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	w->version = ls->version;
	w->leaf_index = ls->leaf_index;
	memcpy(w->entry_hash, ls->entry_hash, 32);
	w->auth = auth;
	w->label = (char *)(w + 1);
	memcpy(w->label, ls->label, ll + 1);
	w->label_len = ll;
	w->keys = (uint8_t *)w->label + ll + 1;
	if (keys_len > 0)
		memcpy(w->keys, ix->blob, keys_len);
	w->keys_len = keys_len;
	w->entry = w->keys + keys_len;
	memcpy(w->entry, ls->entry, ls->entry_len);
	w->entry_len = ls->entry_len;
	ix->recs[ix->nrecs++] = w;
	i = wb_slot(ix, w->label, ll, hv);
	if (ix->slots[i] == 0)
		ix->nused++;
	ix->slots[i] = ix->nrecs; /* the latest put of the label */
	ix->bytes += sz + 2 * sizeof(size_t);
	if (ix->bytes >= KTA_STATE_WB_BYTES)
		return wb_flush(ix, err);
	return KTA_OK;
}

static enum kta_status ix_put(void *ctx, const struct kta_label_state *ls,
			      enum kta_auth_result auth, struct kta_error *err)
{
	struct kta_state_index *ix = ctx;
	struct kta_state *st = ix->st;
	size_t need = 0, i, off = 0;
	int own;
	enum kta_status r;

	if (ls->entry == NULL || ls->entry_len == 0 || ls->entry_len > KTA_ENTRY_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_USAGE, "state index: put without entry bytes");
	/* Encode the keys into the reusable buffer (no allocation once warm). */
	for (i = 0; i < ls->nkeys; i++) {
		size_t d = strlen(ls->keys[i].device);

		if (d == 0 || d > KTA_DEVICE_MAX_LEN)
			return kta_error_set(err, KTA_ERR_USAGE, "state index: bad device name");
		need += 34 + d;
	}
	if (need + 1 > ix->blob_cap) {
		uint8_t *nb = realloc(ix->blob, need + 1);

		if (nb == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->blob = nb;
		ix->blob_cap = need + 1;
	}
	for (i = 0; i < ls->nkeys; i++) {
		size_t d = strlen(ls->keys[i].device);

		ix->blob[off++] = (uint8_t)ls->keys[i].alg;
		memcpy(ix->blob + off, ls->keys[i].pub, 32);
		off += 32;
		ix->blob[off++] = (uint8_t)d;
		memcpy(ix->blob + off, ls->keys[i].device, d);
		off += d;
	}
	if (need > INT_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state index: key set too large");
	if (st->in_tx) {
		if ((r = wb_check(ix, err)) != KTA_OK)
			return r;
		if (ls->leaf_index >= ix->direct_below)
			return wb_add(ix, ls, strlen(ls->label), need, auth, err);
		/* Below the stored size: write at once, after what is buffered. */
		if ((r = wb_flush(ix, err)) != KTA_OK)
			return r;
	}
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	r = sql_put(ix, ls->label, ls->version, ls->leaf_index, ls->entry_hash, ix->blob, need,
		    ls->entry, ls->entry_len, auth, 1, err);
	return tx_leave(st, own, r, err);
}

struct kta_replay_index kta_state_index_ops(struct kta_state_index *ix)
{
	struct kta_replay_index o;

	o.ctx = ix;
	o.get = ix_get;
	o.put = ix_put;
	return o;
}

enum kta_status kta_state_label_count(struct kta_state *st, const char *origin, uint64_t *out,
				      struct kta_error *err)
{
	sqlite3_stmt *s;
	enum kta_status r = KTA_ERR_IO;

	/* Buffered index rows first (see "Write-back buffer"). */
	if ((r = wb_flush_all(st, err)) != KTA_OK)
		return r;
	if ((s = prep(st, "SELECT COUNT(*) FROM labels WHERE origin = ?1", err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	if (sqlite3_step(s) != SQLITE_ROW || col_u64(s, 0, out) != 0)
		r = db_fail(st, "count labels", err);
	else
		r = KTA_OK;
	sqlite3_finalize(s);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Watches */

void kta_state_watch_free(struct kta_state_watch *w)
{
	if (w == NULL)
		return;
	free(w->origin);
	free(w->label);
	kta_replay_keys_free(w->keys, w->nkeys);
	free(w);
}

void kta_state_watch_list_free(struct kta_state_watch *w, size_t n)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(w[i].origin);
		free(w[i].label);
		kta_replay_keys_free(w[i].keys, w[i].nkeys);
	}
	free(w);
}

/* Fills w from a row (origin, label, mode, keys, approved_version, added_at). */
static enum kta_status watch_from_row(struct kta_state *st, sqlite3_stmt *s,
				      struct kta_state_watch *w, struct kta_error *err)
{
	const unsigned char *mode = sqlite3_column_text(s, 2);
	enum kta_status r;

	memset(w, 0, sizeof(*w));
	if ((w->origin = col_strdup(s, 0)) == NULL || (w->label = col_strdup(s, 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	if (mode != NULL && strcmp((const char *)mode, "pinned") == 0)
		w->mode = KTA_WATCH_PINNED;
	else if (mode != NULL && strcmp((const char *)mode, "tofu") == 0)
		w->mode = KTA_WATCH_TOFU;
	else
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: watch of %s: bad mode", st->path,
				     w->label);
	if (col_u64(s, 4, &w->approved_version) != 0)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: watch of %s: bad version",
				     st->path, w->label);
	w->added_at = sqlite3_column_int64(s, 5);
	if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
		if (w->mode != KTA_WATCH_TOFU)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "%s: pinned watch of %s has no keys", st->path,
					     w->label);
		w->has_approved = 0;
		return KTA_OK;
	}
	w->has_approved = 1;
	r = keys_decode_owned(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3),
			      &w->keys, &w->nkeys, err);
	return r;
}

/* Checks that a key set is canonical as an entry's (USAGE otherwise). */
static enum kta_status keys_canonical(const struct kta_entry_key *keys, size_t n,
				      struct kta_error *err)
{
	struct kta_entry_key_change *ch = NULL;
	size_t nch = 0;
	enum kta_status r;

	/* kta_entry_keys_diff checks both sets' canonical order and devices. */
	r = kta_entry_keys_diff(keys, n, NULL, 0, &ch, &nch, err);
	free(ch);
	return r;
}

/* Stores watch row values. keys NULL with nkeys 0 and has_keys 0: no approved set. */
static enum kta_status watch_write(struct kta_state *st, const char *origin, const char *label,
				   enum kta_watch_mode mode, int has_keys,
				   const struct kta_entry_key *keys, size_t nkeys,
				   uint64_t approved_version, int64_t now, int keep_added,
				   struct kta_error *err)
{
	static const char sql_new[] =
	    "INSERT INTO watches(origin, label, mode, keys, approved_version, added_at) "
	    "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(origin, label) DO UPDATE SET "
	    "mode = excluded.mode, keys = excluded.keys, approved_version = "
	    "excluded.approved_version, added_at = excluded.added_at";
	static const char sql_keep[] = "UPDATE watches SET mode = ?3, keys = ?4, "
				       "approved_version = ?5 WHERE origin = ?1 AND label = ?2";
	sqlite3_stmt *s = NULL;
	uint8_t *blob = NULL;
	size_t blen = 0;
	enum kta_status r;
	int rc;

	if (has_keys && (r = keys_encode(keys, nkeys, &blob, &blen, err)) != KTA_OK)
		return r;
	if (blen > INT_MAX) {
		free(blob);
		return kta_error_set(err, KTA_ERR_LIMIT, "watch: key set too large");
	}
	if ((s = prep(st, keep_added ? sql_keep : sql_new, err)) == NULL) {
		free(blob);
		return st->last_status;
	}
	rc = bind_text(s, 1, origin) | bind_text(s, 2, label) |
	     bind_text(s, 3, mode == KTA_WATCH_PINNED ? "pinned" : "tofu") |
	     (has_keys ? sqlite3_bind_blob(s, 4, blob, (int)blen, SQLITE_STATIC)
		       : sqlite3_bind_null(s, 4)) |
	     bind_u64(s, 5, approved_version);
	if (!keep_added)
		rc |= sqlite3_bind_int64(s, 6, now);
	if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
		r = db_fail(st, "store watch", err);
	else
		r = KTA_OK;
	sqlite3_finalize(s);
	free(blob);
	return r;
}

enum kta_status kta_state_watch_add(struct kta_state *st, const char *origin, const char *label,
				    enum kta_watch_mode mode, const struct kta_entry_key *keys,
				    size_t nkeys, int64_t now, struct kta_error *err)
{
	enum kta_status r;
	struct kta_state_index *ix = NULL;
	struct kta_label_state cur;
	int own = 0, found = 0;

	if (origin == NULL || label == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "watch: no origin or label");
	if ((r = kta_entry_label_check(label, strlen(label), err)) != KTA_OK)
		return kta_error_prefix(err, "watch: label");
	if (mode == KTA_WATCH_PINNED) {
		if ((r = keys_canonical(keys, nkeys, err)) != KTA_OK)
			return kta_error_prefix(err, "watch: pinned keys");
	} else if (mode == KTA_WATCH_TOFU) {
		if (keys != NULL || nkeys != 0)
			return kta_error_set(err, KTA_ERR_USAGE, "watch: tofu takes no keys");
	} else {
		return kta_error_set(err, KTA_ERR_USAGE, "watch: bad mode");
	}
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if (mode == KTA_WATCH_PINNED) {
		r = watch_write(st, origin, label, mode, 1, keys, nkeys, 0, now, 0, err);
		goto out;
	}
	/* tofu: the label's current set, if it has one, is approved at once. */
	if ((r = kta_state_index_new(st, origin, &ix, err)) != KTA_OK ||
	    (r = ix_get(ix, label, &found, &cur, err)) != KTA_OK)
		goto out;
	if (found)
		r = watch_write(st, origin, label, mode, 1, cur.keys, cur.nkeys, cur.version, now,
				0, err);
	else
		r = watch_write(st, origin, label, mode, 0, NULL, 0, 0, now, 0, err);
out:
	kta_state_index_free(ix);
	return tx_leave(st, own, r, err);
}

static const char watch_cols[] =
    "SELECT origin, label, mode, keys, approved_version, added_at FROM watches";

enum kta_status kta_state_watch_get(struct kta_state *st, const char *origin, const char *label,
				    int *found, struct kta_state_watch **out, struct kta_error *err)
{
	char sql[256];
	sqlite3_stmt *s;
	struct kta_state_watch *w = NULL;
	enum kta_status r = KTA_ERR_IO;
	int rc;

	*found = 0;
	*out = NULL;
	snprintf(sql, sizeof(sql), "%s WHERE origin = ?1 AND label = ?2", watch_cols);
	if ((s = prep(st, sql, err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	bind_text(s, 2, label);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = KTA_OK;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(st, "read watch", err);
		goto out;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	if ((r = watch_from_row(st, s, w, err)) != KTA_OK)
		goto out;
	*out = w;
	w = NULL;
	*found = 1;
	r = KTA_OK;
out:
	kta_state_watch_free(w);
	sqlite3_finalize(s);
	return r;
}

/*
 * Doubles a row array's capacity (8 to start), overflow-checked. Returns the
 * new array, or NULL with arr untouched (the caller's cleanup still frees it).
 */
static void *grow_array(void *arr, size_t *cap, size_t elem)
{
	size_t nc = *cap == 0 ? 8 : *cap * 2;
	void *na;

	if (nc < *cap || nc > SIZE_MAX / elem || (na = realloc(arr, nc * elem)) == NULL)
		return NULL;
	*cap = nc;
	return na;
}

enum kta_status kta_state_watch_list(struct kta_state *st, const char *origin,
				     struct kta_state_watch **out, size_t *n, struct kta_error *err)
{
	char sql[256];
	sqlite3_stmt *s;
	struct kta_state_watch *arr = NULL;
	size_t cnt = 0, cap = 0;
	enum kta_status r = KTA_ERR_IO;
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(sql, sizeof(sql), "%s%s ORDER BY origin, label", watch_cols,
		 origin != NULL ? " WHERE origin = ?1" : "");
	if ((s = prep(st, sql, err)) == NULL)
		return st->last_status;
	if (origin != NULL)
		bind_text(s, 1, origin);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			void *na = grow_array(arr, &cap, sizeof(*arr));

			if (na == NULL) {
				r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
				goto out;
			}
			arr = na;
		}
		r = watch_from_row(st, s, &arr[cnt], err);
		cnt++; /* partially filled rows are freed too */
		if (r != KTA_OK)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(st, "list watches", err);
		goto out;
	}
	*out = arr;
	*n = cnt;
	arr = NULL;
	cnt = 0;
	r = KTA_OK;
out:
	kta_state_watch_list_free(arr, cnt);
	sqlite3_finalize(s);
	return r;
}

enum kta_status kta_state_watch_remove(struct kta_state *st, const char *origin, const char *label,
				       struct kta_error *err)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM watches WHERE origin = ?1 AND label = ?2", err);
	enum kta_status r;

	if (s == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	bind_text(s, 2, label);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_fail(st, "remove watch", err);
	else if (sqlite3_changes(st->db) == 0)
		r = kta_error_set(err, KTA_ERR_USAGE, "watch: %s is not watched in %s", label,
				  origin);
	else
		r = KTA_OK;
	sqlite3_finalize(s);
	return r;
}

enum kta_status kta_state_watch_approve(struct kta_state *st, const char *origin, const char *label,
					uint64_t version, struct kta_error *err)
{
	sqlite3_stmt *s = NULL;
	struct kta_state_watch *w = NULL;
	struct kta_entry *e = NULL;
	enum kta_status r;
	int found = 0, own = 0, rc;
	struct kta_error perr;

	if ((r = wb_flush_all(st, err)) != KTA_OK || (r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((r = kta_state_watch_get(st, origin, label, &found, &w, err)) != KTA_OK)
		goto out;
	if (!found) {
		r = kta_error_set(err, KTA_ERR_USAGE, "watch approve: %s is not watched in %s",
				  label, origin);
		goto out;
	}
	if ((s = prep(st,
		      "SELECT entry FROM label_history WHERE origin = ?1 AND label = ?2 AND "
		      "version = ?3 ORDER BY leaf_index DESC LIMIT 1",
		      err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	bind_text(s, 1, origin);
	bind_text(s, 2, label);
	if (bind_u64(s, 3, version) != SQLITE_OK) {
		r = kta_error_set(err, KTA_ERR_USAGE, "watch approve: version out of range");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = kta_error_set(err, KTA_ERR_USAGE,
				  "watch approve: %s has no version %llu in the replayed log",
				  label, (unsigned long long)version);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(st, "read history", err);
		goto out;
	}
	if (kta_entry_parse(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), &e,
			    &perr) != KTA_OK) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: stored entry of %s v%llu: %s",
				  st->path, label, (unsigned long long)version, perr.msg);
		goto out;
	}
	r = watch_write(st, origin, label, w->mode, 1, e->keys, e->nkeys, version, 0, 1, err);
out:
	sqlite3_finalize(s);
	kta_entry_free(e);
	kta_state_watch_free(w);
	return tx_leave(st, own, r, err);
}

/* The replay watch adapter: the watches of one origin in a watch set. */
struct kta_state_watches {
	struct kta_state *st;
	char *origin;
	struct kta_replay_watchset *set;
};

void kta_state_watches_free(struct kta_state_watches *w)
{
	if (w == NULL)
		return;
	kta_replay_watchset_free(w->set);
	free(w->origin);
	free(w);
}

enum kta_status kta_state_watches_new(struct kta_state *st, const char *origin,
				      struct kta_state_watches **out, struct kta_error *err)
{
	struct kta_state_watches *w = NULL;
	struct kta_state_watch *list = NULL;
	size_t n = 0, i;
	enum kta_status r = KTA_ERR_NOMEM;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->origin = strdup(origin)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	w->st = st;
	if ((r = kta_replay_watchset_new(&w->set, err)) != KTA_OK ||
	    (r = kta_state_watch_list(st, origin, &list, &n, err)) != KTA_OK)
		goto out;
	for (i = 0; i < n; i++) {
		struct kta_replay_watch wt;

		wt.watched = 1;
		wt.mode = list[i].mode;
		wt.has_approved = list[i].has_approved;
		wt.approved_version = list[i].approved_version;
		wt.keys = list[i].keys;
		wt.nkeys = list[i].nkeys;
		if ((r = kta_replay_watchset_put(w->set, list[i].label, &wt, err)) != KTA_OK) {
			kta_error_prefix(err, "%s: watch of %s", st->path, list[i].label);
			if (r == KTA_ERR_USAGE)
				r = KTA_ERR_MALFORMED; /* a stored set that is not canonical */
			goto out;
		}
	}
	*out = w;
	w = NULL;
	r = KTA_OK;
out:
	kta_state_watch_list_free(list, n);
	kta_state_watches_free(w);
	return r;
}

static enum kta_status sw_get(void *ctx, const char *label, struct kta_replay_watch *out,
			      struct kta_error *err)
{
	struct kta_state_watches *w = ctx;

	(void)err;
	kta_replay_watchset_lookup(w->set, label, out);
	return KTA_OK;
}

static enum kta_status sw_tofu(void *ctx, const char *label, uint64_t version, uint64_t leaf_index,
			       const struct kta_entry_key *keys, size_t nkeys,
			       struct kta_error *err)
{
	struct kta_state_watches *w = ctx;
	struct kta_replay_watch cur, nw;
	enum kta_status r;
	int own;

	(void)leaf_index;
	kta_replay_watchset_lookup(w->set, label, &cur);
	if (!cur.watched)
		return kta_error_set(err, KTA_ERR_USAGE, "watch: tofu for an unwatched label");
	if ((r = tx_enter(w->st, &own, err)) != KTA_OK)
		return r;
	r = watch_write(w->st, w->origin, label, cur.mode, 1, keys, nkeys, version, 0, 1, err);
	r = tx_leave(w->st, own, r, err);
	if (r != KTA_OK)
		return r;
	nw = cur;
	nw.has_approved = 1;
	nw.approved_version = version;
	nw.keys = keys;
	nw.nkeys = nkeys;
	return kta_replay_watchset_put(w->set, label, &nw, err);
}

struct kta_replay_watches kta_state_watches_ops(struct kta_state_watches *w)
{
	struct kta_replay_watches o;

	o.ctx = w;
	o.get = sw_get;
	o.tofu = sw_tofu;
	return o;
}

/* ------------------------------------------------------------------------ */
/* History */

void kta_state_history_free(struct kta_state_history_item *h, size_t n)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < n; i++)
		free(h[i].entry);
	free(h);
}

enum kta_status kta_state_history(struct kta_state *st, const char *origin, const char *label,
				  struct kta_state_history_item **out, size_t *n,
				  struct kta_error *err)
{
	sqlite3_stmt *s;
	struct kta_state_history_item *arr = NULL;
	size_t cnt = 0, cap = 0;
	enum kta_status r = KTA_ERR_IO;
	int rc;

	*out = NULL;
	*n = 0;
	if ((r = wb_flush_all(st, err)) != KTA_OK)
		return r;
	if ((s = prep(st,
		      "SELECT version, leaf_index, entry, auth FROM label_history "
		      "WHERE origin = ?1 AND label = ?2 ORDER BY leaf_index",
		      err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	bind_text(s, 2, label);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct kta_state_history_item *it;
		const void *b = sqlite3_column_blob(s, 2);
		int bl = sqlite3_column_bytes(s, 2);
		const unsigned char *auth = sqlite3_column_text(s, 3);

		if (cnt == cap) {
			void *na = grow_array(arr, &cap, sizeof(*arr));

			if (na == NULL) {
				r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
				goto out;
			}
			arr = na;
		}
		it = &arr[cnt];
		memset(it, 0, sizeof(*it));
		if (col_u64(s, 0, &it->version) != 0 || col_u64(s, 1, &it->leaf_index) != 0 ||
		    b == NULL || bl <= 0 || auth == NULL ||
		    kta_replay_auth_parse((const char *)auth, &it->auth) != KTA_OK) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: bad label_history row",
					  st->path);
			goto out;
		}
		if ((it->entry = malloc((size_t)bl)) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
			goto out;
		}
		memcpy(it->entry, b, (size_t)bl);
		it->entry_len = (size_t)bl;
		cnt++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(st, "read history", err);
		goto out;
	}
	*out = arr;
	*n = cnt;
	arr = NULL;
	cnt = 0;
	r = KTA_OK;
out:
	kta_state_history_free(arr, cnt);
	sqlite3_finalize(s);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Alerts outbox */

enum kta_status kta_state_alert_add(struct kta_state *st, const struct kta_alert *a, int *added,
				    struct kta_error *err)
{
	sqlite3_stmt *s;
	json_t *j;
	char *text = NULL;
	enum kta_status r = KTA_ERR_IO;
	int own;

	if (added != NULL)
		*added = 0;
	if (a == NULL || strlen(a->id) != 32 || strspn(a->id, "0123456789abcdef") != 32)
		return kta_error_set(err, KTA_ERR_USAGE, "alert add: the alert has no id");
	if ((j = kta_alert_to_json(a)) == NULL ||
	    (text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		json_decref(j);
		return kta_error_set(err, KTA_ERR_NOMEM, "alert add: out of memory");
	}
	json_decref(j);
	if ((r = tx_enter(st, &own, err)) != KTA_OK) {
		free(text);
		return r;
	}
	if ((s = stmt(st, S_ALERT_ADD, err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (bind_text(s, 1, a->id) != SQLITE_OK || bind_text(s, 2, text) != SQLITE_OK ||
	    bind_text(s, 3, kta_severity_name(a->severity)) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, a->time) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "store alert", err);
		sqlite3_reset(s);
		goto out;
	}
	if (added != NULL)
		*added = sqlite3_changes(st->db) > 0;
	sqlite3_reset(s);
	r = KTA_OK;
out:
	free(text);
	return tx_leave(st, own, r, err);
}

static enum kta_status check_sink_name(const char *name, struct kta_error *err)
{
	size_t n;

	if (name == NULL || (n = strlen(name)) == 0 || n > KTA_STATE_SINK_NAME_MAX ||
	    !kta_utf8_valid((const uint8_t *)name, n))
		return kta_error_set(err, KTA_ERR_USAGE, "sink: bad name");
	return KTA_OK;
}

/* Reads the sink's after_seq: *found = 0 when not registered. */
static enum kta_status sink_after(struct kta_state *st, const char *name, int *found,
				  sqlite3_int64 *after, struct kta_error *err)
{
	sqlite3_stmt *s = stmt(st, S_SINK_GET, err);
	enum kta_status r = KTA_OK;
	int rc;

	*found = 0;
	if (s == NULL)
		return st->last_status;
	bind_text(s, 1, name);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*found = 1;
		*after = sqlite3_column_int64(s, 0);
	} else if (rc != SQLITE_DONE) {
		r = db_fail(st, "read sink", err);
	}
	sqlite3_reset(s);
	return r;
}

enum kta_status kta_state_sink_register(struct kta_state *st, const char *name, int64_t now,
					int *added, struct kta_error *err)
{
	sqlite3_stmt *s = NULL;
	sqlite3_int64 after = 0;
	enum kta_status r;
	int own, found = 0;

	if (added != NULL)
		*added = 0;
	if ((r = check_sink_name(name, err)) != KTA_OK)
		return r;
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((r = sink_after(st, name, &found, &after, err)) != KTA_OK || found)
		goto out;
	if ((s = stmt(st, S_ALERT_SEQ, err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (sqlite3_step(s) != SQLITE_ROW) {
		r = db_fail(st, "read alert sequence", err);
		sqlite3_reset(s);
		goto out;
	}
	after = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if ((s = prep(st, "INSERT INTO sinks(name, after_seq, added_at) VALUES(?1, ?2, ?3)",
		      err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	bind_text(s, 1, name);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int64(s, 3, now);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_fail(st, "register sink", err);
	else if (added != NULL)
		*added = 1;
	sqlite3_finalize(s);
out:
	return tx_leave(st, own, r, err);
}

void kta_state_outbox_free(struct kta_state_outbox_item *items, size_t n)
{
	size_t i;

	if (items == NULL)
		return;
	for (i = 0; i < n; i++)
		free(items[i].json);
	free(items);
}

enum kta_status kta_state_outbox_next(struct kta_state *st, const char *name, int64_t now,
				      size_t limit, struct kta_state_outbox_item **out, size_t *n,
				      struct kta_error *err)
{
	static const char sql[] =
	    "SELECT a.id, a.json, a.severity, a.created, COALESCE(d.attempts, 0) "
	    "FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id AND d.sink = ?1 "
	    "WHERE a.seq > ?2 AND (d.alert_id IS NULL OR "
	    "(d.delivered_at IS NULL AND d.next_attempt <= ?3)) ORDER BY a.seq LIMIT ?4";
	sqlite3_stmt *s = NULL;
	struct kta_state_outbox_item *arr = NULL;
	size_t cnt = 0;
	sqlite3_int64 after = 0;
	enum kta_status r;
	int found = 0, rc;

	*out = NULL;
	*n = 0;
	if ((r = check_sink_name(name, err)) != KTA_OK)
		return r;
	if (limit == 0)
		return KTA_OK;
	if (limit > 100000)
		limit = 100000;
	if ((r = sink_after(st, name, &found, &after, err)) != KTA_OK)
		return r;
	if (!found)
		return kta_error_set(err, KTA_ERR_USAGE, "outbox: sink %s is not registered", name);
	if ((arr = calloc(limit, sizeof(*arr))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	if ((s = prep(st, sql, err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	bind_text(s, 1, name);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)limit);
	while (cnt < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct kta_state_outbox_item *it = &arr[cnt];
		const unsigned char *id = sqlite3_column_text(s, 0);
		const unsigned char *sev = sqlite3_column_text(s, 2);
		sqlite3_int64 att = sqlite3_column_int64(s, 4);

		if (id == NULL || strlen((const char *)id) != 32 || sev == NULL || att < 0) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: bad alerts row", st->path);
			goto out;
		}
		memcpy(it->id, id, 33);
		if ((it->json = col_strdup(s, 1)) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
			goto out;
		}
		cnt++;
		it->severity = strcmp((const char *)sev, "warning") == 0 ? KTA_SEV_WARNING
			       : strcmp((const char *)sev, "alert") == 0 ? KTA_SEV_ALERT
									 : KTA_SEV_CRITICAL;
		it->created = sqlite3_column_int64(s, 3);
		it->attempts = att > UINT32_MAX ? UINT32_MAX : (uint32_t)att;
	}
	if (cnt < limit && rc != SQLITE_DONE) {
		r = db_fail(st, "read outbox", err);
		goto out;
	}
	if (cnt == 0) {
		free(arr);
		arr = NULL;
	}
	*out = arr;
	*n = cnt;
	arr = NULL;
	cnt = 0;
	r = KTA_OK;
out:
	kta_state_outbox_free(arr, cnt);
	sqlite3_finalize(s);
	return r;
}

enum kta_status kta_state_outbox_mark(struct kta_state *st, const char *alert_id, const char *name,
				      int ok, int64_t next_attempt, const char *error_text,
				      int64_t now, struct kta_error *err)
{
	static const char sql_ok[] =
	    "INSERT INTO deliveries(alert_id, sink, delivered_at, attempts, next_attempt, "
	    "last_error) VALUES(?1, ?2, ?3, 1, ?3, NULL) ON CONFLICT(alert_id, sink) DO UPDATE "
	    "SET delivered_at = excluded.delivered_at, attempts = attempts + 1, last_error = NULL "
	    "WHERE delivered_at IS NULL";
	static const char sql_fail[] =
	    "INSERT INTO deliveries(alert_id, sink, delivered_at, attempts, next_attempt, "
	    "last_error) VALUES(?1, ?2, NULL, 1, ?4, ?5) ON CONFLICT(alert_id, sink) DO UPDATE "
	    "SET attempts = attempts + 1, next_attempt = excluded.next_attempt, last_error = "
	    "excluded.last_error WHERE delivered_at IS NULL";
	sqlite3_stmt *s = NULL;
	sqlite3_int64 after;
	enum kta_status r;
	int found = 0, own, rc;
	char etext[KTA_STATE_ERROR_TEXT_MAX + 1];
	size_t el;

	if ((r = check_sink_name(name, err)) != KTA_OK)
		return r;
	if (alert_id == NULL || strlen(alert_id) != 32)
		return kta_error_set(err, KTA_ERR_USAGE, "outbox: bad alert id");
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((r = sink_after(st, name, &found, &after, err)) != KTA_OK)
		goto out;
	if (!found) {
		r = kta_error_set(err, KTA_ERR_USAGE, "outbox: sink %s is not registered", name);
		goto out;
	}
	if ((s = prep(st, "SELECT 1 FROM alerts WHERE id = ?1", err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	bind_text(s, 1, alert_id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	s = NULL;
	if (rc == SQLITE_DONE) {
		r = kta_error_set(err, KTA_ERR_USAGE, "outbox: no alert %s", alert_id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(st, "read alert", err);
		goto out;
	}
	if ((s = prep(st, ok ? sql_ok : sql_fail, err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	bind_text(s, 1, alert_id);
	bind_text(s, 2, name);
	if (ok) {
		sqlite3_bind_int64(s, 3, now);
	} else {
		sqlite3_bind_int64(s, 4, next_attempt);
		if (error_text != NULL) {
			/* Cut long messages at a UTF-8 character boundary. */
			el = strlen(error_text);
			if (el > KTA_STATE_ERROR_TEXT_MAX) {
				el = KTA_STATE_ERROR_TEXT_MAX;
				while (el > 0 && ((unsigned char)error_text[el] & 0xc0) == 0x80)
					el--;
			}
			memcpy(etext, error_text, el);
			etext[el] = '\0';
			sqlite3_bind_text(s, 5, etext, -1, SQLITE_TRANSIENT);
		}
	}
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_fail(st, "record delivery", err);
	else
		r = KTA_OK;
out:
	sqlite3_finalize(s);
	return tx_leave(st, own, r, err);
}

enum kta_status kta_state_alerts_pending_count(struct kta_state *st, const char *const *names,
					       size_t nnames, uint64_t *out, struct kta_error *err)
{
	char *sql = NULL;
	size_t cap, off, i;
	sqlite3_stmt *s = NULL;
	enum kta_status r = KTA_ERR_IO;
	static const char head[] =
	    "SELECT COUNT(*) FROM alerts a WHERE EXISTS (SELECT 1 FROM sinks s WHERE "
	    "a.seq > s.after_seq AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
	    "d.alert_id = a.id AND d.sink = s.name AND d.delivered_at IS NOT NULL) "
	    "AND s.name IN (";

	*out = 0;
	if (nnames == 0)
		return KTA_OK;
	if (nnames > MAX_SINK_NAMES)
		return kta_error_set(err, KTA_ERR_USAGE, "pending count: too many sinks");
	for (i = 0; i < nnames; i++)
		if ((r = check_sink_name(names[i], err)) != KTA_OK)
			return r;
	cap = sizeof(head) + nnames * 2 + 8;
	if ((sql = malloc(cap)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	memcpy(sql, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	for (i = 0; i < nnames; i++) {
		if (i > 0)
			sql[off++] = ',';
		sql[off++] = '?';
	}
	memcpy(sql + off, "))", 3);
	if ((s = prep(st, sql, err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	for (i = 0; i < nnames; i++)
		bind_text(s, (int)i + 1, names[i]);
	if (sqlite3_step(s) != SQLITE_ROW || col_u64(s, 0, out) != 0) {
		r = db_fail(st, "count pending alerts", err);
		goto out;
	}
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	free(sql);
	return r;
}

enum kta_status kta_state_alert_count(struct kta_state *st, uint64_t *out, struct kta_error *err)
{
	sqlite3_stmt *s = prep(st, "SELECT COUNT(*) FROM alerts", err);
	enum kta_status r;

	if (s == NULL)
		return st->last_status;
	if (sqlite3_step(s) != SQLITE_ROW || col_u64(s, 0, out) != 0)
		r = db_fail(st, "count alerts", err);
	else
		r = KTA_OK;
	sqlite3_finalize(s);
	return r;
}
