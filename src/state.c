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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/shard.h"
#include "siphash.h"

/* 'ktau': marks the file as a ktaudit state database (PRAGMA application_id). */
#define APP_ID 0x6b746175
/* Page size of a new database: label buckets and history chunks are blobs
 * of a few KiB to ~40 KiB, which then fit one page (no overflow chains), and
 * a bulk write is a few large WAL frames (docs/performance.md). */
#define KTA_STATE_PAGE_SIZE 65536
/* The WAL file is cut back to this size (64 MiB) after a checkpoint. */
#define KTA_STATE_WAL_KEEP 67108864
#define KTA_STR2(x) #x
#define KTA_STR(x) KTA_STR2(x)
/* Most sinks in one pending count. */
#define MAX_SINK_NAMES 256

/* Cached statements, prepared on first use. */
enum stmt_id {
	S_LOG_GET,
	S_LOG_PUT,
	S_ROW_GET_LABELS,
	S_ROW_PUT_LABELS,
	S_ROW_GET_HIST,
	S_ROW_PUT_HIST,
	S_HIST_LAST,
	S_ALERT_ADD,
	S_ALERT_SEQ,
	S_SINK_GET,
	S_WATCH_NEW,
	S_WATCH_KEEP,
	S_NSTMT,
};

static const char *const stmt_sql[S_NSTMT] = {
    [S_LOG_GET] = "SELECT checkpoint, size, root, range, first_seen, updated FROM logs "
		  "WHERE origin = ?1",
    [S_LOG_PUT] = "INSERT INTO logs(origin, checkpoint, size, root, range, first_seen, updated) "
		  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT(origin) DO UPDATE SET "
		  "checkpoint = excluded.checkpoint, size = excluded.size, root = excluded.root, "
		  "range = excluded.range, updated = excluded.updated",
    [S_ROW_GET_LABELS] = "SELECT data FROM labels WHERE origin = ?1 AND bucket = ?2",
    [S_ROW_PUT_LABELS] = "INSERT INTO labels(origin, bucket, data) VALUES(?1, ?2, ?3) "
			 "ON CONFLICT(origin, bucket) DO UPDATE SET data = excluded.data",
    [S_ROW_GET_HIST] = "SELECT chunk, data FROM label_history WHERE origin = ?1 AND chunk <= ?2 "
		       "ORDER BY chunk DESC LIMIT 1",
    [S_ROW_PUT_HIST] = "INSERT INTO label_history(origin, chunk, data) VALUES(?1, ?2, ?3) "
		       "ON CONFLICT(origin, chunk) DO UPDATE SET data = excluded.data",
    [S_HIST_LAST] = "SELECT chunk, data FROM label_history WHERE origin = ?1 "
		    "ORDER BY chunk DESC LIMIT 1",
    [S_ALERT_ADD] = "INSERT OR IGNORE INTO alerts(id, json, severity, created) "
		    "VALUES(?1, ?2, ?3, ?4)",
    [S_ALERT_SEQ] = "SELECT COALESCE(MAX(seq), 0) FROM alerts",
    [S_SINK_GET] = "SELECT after_seq FROM sinks WHERE name = ?1",
    /* a replay's tofu writes one per watched label it first sees */
    [S_WATCH_NEW] = "INSERT INTO watches(origin, label, mode, keys, approved_version, added_at) "
		    "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(origin, label) DO UPDATE SET "
		    "mode = excluded.mode, keys = excluded.keys, approved_version = "
		    "excluded.approved_version, added_at = excluded.added_at",
    [S_WATCH_KEEP] = "UPDATE watches SET mode = ?3, keys = ?4, approved_version = ?5 "
		     "WHERE origin = ?1 AND label = ?2",
};

/*
 * Rowid tables with a unique key, not WITHOUT ROWID: new buckets and chunks
 * come in key order, so their rows are appended (SQLite's append path for
 * rowid tables), and a row of up to a page stays in its page.
 */
#define LABEL_TABLES_SQL                                                                           \
	"CREATE TABLE labels(origin TEXT NOT NULL, bucket INTEGER NOT NULL, data BLOB NOT NULL,"   \
	" UNIQUE(origin, bucket));"                                                                \
	"CREATE TABLE label_history(origin TEXT NOT NULL, chunk INTEGER NOT NULL,"                 \
	" data BLOB NOT NULL, UNIQUE(origin, chunk));"

static const char schema_sql[] =
    "CREATE TABLE logs("
    " origin TEXT PRIMARY KEY NOT NULL,"
    " checkpoint TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " root BLOB NOT NULL,"
    " range BLOB NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " updated INTEGER NOT NULL);" LABEL_TABLES_SQL "CREATE TABLE watches("
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

/* A catch-up being committed in chunks (state.h "pending"). */
static const char pending_sql[] = "CREATE TABLE IF NOT EXISTS pending("
				  " origin TEXT PRIMARY KEY NOT NULL,"
				  " checkpoint TEXT NOT NULL,"
				  " size INTEGER NOT NULL,"
				  " root BLOB NOT NULL,"
				  " done INTEGER NOT NULL,"
				  " range BLOB NOT NULL,"
				  " started INTEGER NOT NULL,"
				  " updated INTEGER NOT NULL)";

/* Which shard of a log's labels this database holds (state.h "shards"). */
static const char shards_sql[] = "CREATE TABLE IF NOT EXISTS shards("
				 " origin TEXT PRIMARY KEY NOT NULL,"
				 " k INTEGER NOT NULL,"
				 " n INTEGER NOT NULL)";

struct kta_state_index;

struct kta_state {
	sqlite3 *db;
	char *path; /* dir/state.db, for messages */
	int in_tx;
	enum kta_status last_status; /* of the last failed prepare (stmt, prep) */
	sqlite3_stmt *stmts[S_NSTMT];
	struct kta_state_index *ixs;           /* live indexes (their write-back caches) */
	enum kta_status wb_status;             /* a cache that could not be written: commit fails */
	struct kta_error wb_err;               /* ... with this message */
	uint64_t tx_id;                        /* counts kta_state_begin calls */
	uint64_t wgen;                         /* counts index writes to SQLite */
	struct kta_state_index *last_ix;       /* the index used last */
	size_t cache_used;                     /* bytes held by the indexes' caches */
	size_t cache_budget;                   /* ... and their limit (kta_state_set_cache) */
	uint64_t cache_evicted, cache_cleaned; /* kta_state_cache_stats */
	int exclusive;                         /* kta_state_set_exclusive */
	int busy_ms;                           /* the busy timeout */
};

static enum kta_status wb_flush_all(struct kta_state *st, struct kta_error *err);
static void wb_discard_all(struct kta_state *st);
static void wb_detach_all(struct kta_state *st);
static enum kta_status migrate_v1(struct kta_state *st, struct kta_error *err);

/* Maps the last SQLite error of db to a status with "state.db: what: msg". */
static enum kta_status db_fail(struct kta_state *st, const char *what, struct kta_error *err)
{
	int code = sqlite3_extended_errcode(st->db) & 0xff;
	int se = sqlite3_system_errno(st->db); /* "disk I/O error" alone hides ENOSPC, EROFS */
	enum kta_status s = KTA_ERR_IO;
	const char *hint = "";

	if (code == SQLITE_NOMEM)
		s = KTA_ERR_NOMEM;
	else if (code == SQLITE_NOTADB)
		s = KTA_ERR_MALFORMED;
	else if (code == SQLITE_BUSY)
		hint = " (another process holds it, e.g. a monitor run in exclusive mode, until it "
		       "ends)";
	return kta_error_set(err, s, "%s: %s: %s%s%s%s%s", st->path, what, sqlite3_errmsg(st->db),
			     se != 0 ? " (" : "", se != 0 ? strerror(se) : "", se != 0 ? ")" : "",
			     hint);
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

/* Steps s to its one row: KTA_OK and *row 1 (a row) or 0 (none), or the
 * failure of `what` (db_fail). */
static enum kta_status step_one(struct kta_state *st, sqlite3_stmt *s, const char *what, int *row,
				struct kta_error *err)
{
	int rc = sqlite3_step(s);

	*row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return KTA_OK;
	return db_fail(st, what, err);
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
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): buf grown above */
	p = (char *)*buf + count * sizeof(struct kta_entry_key);
	for (off = 0, i = 0; i < count; i++) {
		size_t d = b[off + 33];

		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): buf grown above */
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

/* Creates the schema in an empty database, or checks an existing one and
 * raises it to KTA_STATE_SCHEMA_VERSION (state.h). */
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
	} else if (ver < KTA_STATE_SCHEMA_VERSION) {
		char sql[64];

		/* 1: rows per label and entry; 2, 3 and 4 read as 5 (state.h) */
		if (ver == 1 && (r = migrate_v1(st, err)) != KTA_OK)
			goto out;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", KTA_STATE_SCHEMA_VERSION);
		if ((r = db_exec(st, sql, err)) != KTA_OK)
			goto out;
	}
	/* Added after schema version 1 without a version bump: an extra table
	 * is invisible to older readers, so it is created where missing. */
	if ((r = db_exec(st, cosigned_sql, err)) != KTA_OK ||
	    (r = db_exec(st, pending_sql, err)) != KTA_OK ||
	    (r = db_exec(st, shards_sql, err)) != KTA_OK)
		goto out;
	r = db_exec(st, "COMMIT", err);
out:
	if (r != KTA_OK)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/*
 * Switches the journal to `mode` and checks that SQLite reports `want`: a
 * switch out of WAL needs the database alone, and SQLite may answer with
 * the old mode instead of an error. *busy (busy may be NULL): whether it
 * failed on a lock.
 */
static enum kta_status journal_mode(struct kta_state *st, const char *mode, const char *want,
				    int *busy, struct kta_error *err)
{
	char sql[48];
	sqlite3_stmt *s;
	const unsigned char *got;
	enum kta_status r = KTA_OK;
	int rc;

	if (busy != NULL)
		*busy = 0;
	(void)snprintf(sql, sizeof(sql), "PRAGMA journal_mode = %s", mode);
	if ((s = prep(st, sql, err)) == NULL)
		return st->last_status;
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		r = db_fail(st, "journal_mode", err);
	else if ((got = sqlite3_column_text(s, 0)) == NULL || strcmp((const char *)got, want) != 0)
		r = kta_error_set(err, KTA_ERR_IO, "%s: cannot switch the journal to %s mode",
				  st->path, mode);
	if (busy != NULL)
		*busy = r != KTA_OK && (rc & 0xff) == SQLITE_BUSY;
	sqlite3_finalize(s);
	return r;
}

enum kta_status kta_state_open(const char *dir, struct kta_state **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_NOMEM;
	struct kta_state *st = NULL;
	sqlite3_int64 dummy;
	size_t dl;

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
	st->busy_ms = KTA_STATE_BUSY_TIMEOUT_MS;
	sqlite3_busy_timeout(st->db, st->busy_ms);
	/* Fails with SQLITE_NOTADB on a file that is not a database. */
	if ((r = pragma_int(st, "PRAGMA schema_version", &dummy, err)) != KTA_OK)
		goto out;
	/* Takes effect only on a new, empty file (before WAL mode writes page 1). */
	if ((r = db_exec(st, "PRAGMA page_size = " KTA_STR(KTA_STATE_PAGE_SIZE), err)) != KTA_OK)
		goto out;
	if ((r = journal_mode(st, "WAL", "wal", NULL, err)) != KTA_OK)
		goto out;
	if ((r = db_exec(st,
			 "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; "
			 "PRAGMA journal_size_limit = " KTA_STR(KTA_STATE_WAL_KEEP),
			 err)) != KTA_OK ||
	    (r = kta_state_set_cache(st, KTA_STATE_CACHE_DEFAULT_MIB, err)) != KTA_OK)
		goto out;
	if ((r = check_schema(st, err)) != KTA_OK)
		goto out;
	*out = st;
	st = NULL;
	r = KTA_OK;
out:
	kta_state_close(st);
	return r;
}

void kta_state_close(struct kta_state *st)
{
	size_t i;

	if (st == NULL)
		return;
	wb_detach_all(st);
	for (i = 0; i < S_NSTMT; i++) {
		sqlite3_finalize(st->stmts[i]);
		st->stmts[i] = NULL;
	}
	if (st->db != NULL) {
		enum kta_status shared;

		if (st->in_tx) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			st->in_tx = 0;
		}
		/* Back to WAL for the shared opens that follow. Best effort
		 * (the result is not needed): each open switches too, and the
		 * lock goes with the connection. */
		shared = kta_state_set_shared(st, NULL);
		(void)shared;
		sqlite3_close_v2(st->db);
	}
	free(st->path);
	free(st);
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A cached statement left on its row holds a read transaction, which no
 * journal switch survives. */
static void stmts_reset(struct kta_state *st)
{
	size_t i;

	for (i = 0; i < S_NSTMT; i++)
		if (st->stmts[i] != NULL)
			sqlite3_reset(st->stmts[i]);
}

enum kta_status kta_state_set_exclusive(struct kta_state *st, struct kta_error *err)
{
	const struct timespec nap = {0, 20 * 1000000};
	enum kta_status r;
	int64_t t0 = mono_ms();
	int busy;

	if (st->in_tx)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "state: exclusive mode inside a transaction");
	if (st->exclusive)
		return KTA_OK;
	stmts_reset(st);
	/* The lock first: between a switch and a lock taken after it, another
	 * open could switch the database back to WAL. */
	if ((r = db_exec(st, "PRAGMA locking_mode = EXCLUSIVE", err)) != KTA_OK)
		return r;
	/* Leaving WAL mode does not wait for other connections (SQLite's busy
	 * handler is not called): wait here, as any other access would. */
	while ((r = journal_mode(st, "DELETE", "delete", &busy, err)) != KTA_OK && busy &&
	       mono_ms() - t0 < st->busy_ms)
		(void)nanosleep(&nap, NULL);
	if (r != KTA_OK) {
		if (busy)
			r = kta_error_set(
			    err, KTA_ERR_IO,
			    "%s: exclusive mode needs the state database alone: "
			    "another process has it open (a running monitor or command)",
			    st->path);
		else
			kta_error_prefix(err, "exclusive mode");
		(void)sqlite3_exec(st->db, "PRAGMA locking_mode = NORMAL", NULL, NULL, NULL);
		return r;
	}
	st->exclusive = 1;
	return KTA_OK;
}

enum kta_status kta_state_set_shared(struct kta_state *st, struct kta_error *err)
{
	enum kta_status r;
	sqlite3_int64 dummy;

	if (st->in_tx)
		return kta_error_set(err, KTA_ERR_USAGE, "state: shared mode inside a transaction");
	if (!st->exclusive)
		return KTA_OK;
	stmts_reset(st);
	/* Normal locking first: in exclusive locking, WAL mode would keep its
	 * index in this process's memory, out of other processes' reach. The
	 * lock held is released at the next access (the read below). */
	if ((r = db_exec(st, "PRAGMA locking_mode = NORMAL", err)) != KTA_OK ||
	    (r = journal_mode(st, "WAL", "wal", NULL, err)) != KTA_OK ||
	    (r = pragma_int(st, "PRAGMA schema_version", &dummy, err)) != KTA_OK)
		return r;
	st->exclusive = 0;
	return KTA_OK;
}

/* Test seam: the busy timeout of st (tests of lock conflicts, which would
 * otherwise wait KTA_STATE_BUSY_TIMEOUT_MS). */
void kta_state_test_busy_timeout(struct kta_state *st, int ms);

void kta_state_test_busy_timeout(struct kta_state *st, int ms)
{
	st->busy_ms = ms;
	sqlite3_busy_timeout(st->db, ms);
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
	st->tx_id++;
	return KTA_OK;
}

enum kta_status kta_state_commit(struct kta_state *st, struct kta_error *err)
{
	enum kta_status r;

	if (!st->in_tx)
		return kta_error_set(err, KTA_ERR_USAGE, "state: no transaction to commit");
	/* The indexes' dirty buckets and history belong to this transaction. */
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
	st->in_tx = 0; /* the caches stay, clean (see "The replay index") */
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

enum kta_status kta_state_set_cache(struct kta_state *st, uint64_t mib, struct kta_error *err)
{
	char sql[64];
	uint64_t kib;

	if (mib < KTA_STATE_CACHE_MIN_MIB || mib > KTA_STATE_CACHE_MAX_MIB)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "state: cache of %" PRIu64 " MiB out of range %d..%d", mib,
				     KTA_STATE_CACHE_MIN_MIB, KTA_STATE_CACHE_MAX_MIB);
	/* An eighth, at most 16 MiB, for SQLite's page cache: it holds B-tree
	 * interior pages and the pages being written (the buckets are cached
	 * by the indexes); the rest for the label buckets. */
	kib = mib * 1024 / 8;
	if (kib > 16 * 1024)
		kib = 16 * 1024;
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%" PRIu64, kib);
	if (db_exec(st, sql, err) != KTA_OK)
		return KTA_ERR_IO;
	if ((mib - kib / 1024) > SIZE_MAX / (1024 * 1024))
		st->cache_budget = SIZE_MAX;
	else
		st->cache_budget = (size_t)(mib * 1024 - kib) * 1024;
	return KTA_OK;
}

void kta_state_cache_stats(const struct kta_state *st, struct kta_state_cache_stats *out)
{
	out->used = st->cache_used;
	out->budget = st->cache_budget;
	out->evicted = st->cache_evicted;
	out->cleaned = st->cache_cleaned;
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

/*
 * Decodes a checkpoint row's columns 0-3 (checkpoint note, size, root,
 * compact range) of s: the range covers `covered` leaves. *note is
 * allocated (the caller frees it, also on failure); `what` names the row in
 * messages.
 */
static enum kta_status ckpt_cols(struct kta_state *st, sqlite3_stmt *s, const char *origin,
				 const char *what, uint64_t covered, char **note, size_t *note_len,
				 uint64_t *size, uint8_t root[static 32],
				 struct kta_compact_range **range, struct kta_error *err)
{
	const void *rt, *rg;
	int rlen, glen;
	enum kta_status r;

	if ((*note = col_strdup(s, 0)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	*note_len = strlen(*note);
	rt = sqlite3_column_blob(s, 2);
	rlen = sqlite3_column_bytes(s, 2);
	rg = sqlite3_column_blob(s, 3);
	glen = sqlite3_column_bytes(s, 3);
	if (col_u64(s, 1, size) != 0 || rt == NULL || rlen != 32 || glen < 0 || glen % 32 != 0 ||
	    (glen > 0 && rg == NULL))
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: log %s: bad stored %s row",
				     st->path, origin, what);
	memcpy(root, rt, 32);
	r = kta_compact_range_restore(covered == UINT64_MAX ? *size : covered,
				      (const uint8_t(*)[32])rg, (size_t)glen / 32, range, err);
	if (r != KTA_OK) {
		r = kta_error_prefix(err, "%s: log %s: stored %s compact range", st->path, origin,
				     what);
		if (r != KTA_ERR_NOMEM)
			r = KTA_ERR_MALFORMED;
	}
	return r;
}

enum kta_status kta_state_log_get(struct kta_state *st, const char *origin, int *found,
				  struct kta_state_log **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_IO;
	sqlite3_stmt *s;
	struct kta_state_log *l = NULL;
	int row = 0;
	sqlite3_int64 fs, up;

	*out = NULL;
	*found = 0;
	if ((s = stmt(st, S_LOG_GET, err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	/* r is KTA_OK when there is no row */
	if ((r = step_one(st, s, "read log", &row, err)) != KTA_OK || !row)
		goto out;
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->origin = strdup(origin)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	if ((r = ckpt_cols(st, s, origin, "checkpoint", UINT64_MAX, &l->checkpoint,
			   &l->checkpoint_len, &l->size, l->root, &l->range, err)) != KTA_OK)
		goto out;
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

/* The checks of a checkpoint before it is stored: its note text (a
 * NUL-free, non-empty signed note) and a size SQLite can hold. */
static enum kta_status ckpt_check(const char *note, size_t note_len, uint64_t size,
				  struct kta_error *err)
{
	if (note == NULL || note_len == 0 || note_len > KTA_STATE_NOTE_MAX ||
	    memchr(note, '\0', note_len) != NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "state: bad checkpoint note text");
	if (size > (uint64_t)INT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: tree size too large to store");
	return KTA_OK;
}

/* Binds ?1..?4 of a checkpoint row: origin, note, size, root (borrowed). */
static int ckpt_bind(sqlite3_stmt *s, const char *origin, const char *note, size_t note_len,
		     uint64_t size, const uint8_t root[static 32])
{
	int rc;

	if ((rc = bind_text(s, 1, origin)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, note, (int)note_len, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = bind_u64(s, 3, size)) != SQLITE_OK)
		return rc;
	return sqlite3_bind_blob(s, 4, root, 32, SQLITE_STATIC);
}

/* Binds ?i to a compact range's hashes, concatenated (range borrowed). */
static int bind_range(sqlite3_stmt *s, int i, const struct kta_compact_range *range)
{
	size_t n = 0;
	const uint8_t(*hashes)[32] = kta_compact_range_hashes(range, &n);

	return sqlite3_bind_blob(s, i, n > 0 ? (const void *)hashes : "", (int)(n * 32),
				 SQLITE_STATIC);
}

enum kta_status kta_state_log_put(struct kta_state *st, const char *origin, const char *note,
				  size_t note_len, uint64_t size, const uint8_t root[static 32],
				  const struct kta_compact_range *range, int64_t now,
				  struct kta_error *err)
{
	enum kta_status r;
	sqlite3_stmt *s;
	int own;

	if (range == NULL || kta_compact_range_size(range) != size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "state: compact range size differs from checkpoint size %llu",
				     (unsigned long long)size);
	if ((r = ckpt_check(note, note_len, size, err)) != KTA_OK)
		return r;
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((s = stmt(st, S_LOG_PUT, err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (ckpt_bind(s, origin, note, note_len, size, root) != SQLITE_OK ||
	    bind_range(s, 5, range) != SQLITE_OK || sqlite3_bind_int64(s, 6, now) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "store log checkpoint", err);
		sqlite3_reset(s);
		goto out;
	}
	sqlite3_reset(s);
	r = KTA_OK;
out:
	return tx_leave(st, own, r, err);
}

void kta_state_pending_free(struct kta_state_pending *p)
{
	if (p == NULL)
		return;
	free(p->checkpoint);
	kta_compact_range_free(p->range);
	free(p);
}

enum kta_status kta_state_pending_get(struct kta_state *st, const char *origin, int *found,
				      struct kta_state_pending **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_IO;
	sqlite3_stmt *s;
	struct kta_state_pending *p = NULL;
	int row = 0;

	*out = NULL;
	*found = 0;
	if ((s = prep(st,
		      "SELECT checkpoint, size, root, range, done, started FROM pending "
		      "WHERE origin = ?1",
		      err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	/* r is KTA_OK when there is no row */
	if ((r = step_one(st, s, "read pending catch-up", &row, err)) != KTA_OK || !row)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		goto out;
	}
	/* done first: it sizes the range */
	if (col_u64(s, 4, &p->done) != 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: log %s: bad stored pending row",
				  st->path, origin);
		goto out;
	}
	if ((r = ckpt_cols(st, s, origin, "pending", p->done, &p->checkpoint, &p->checkpoint_len,
			   &p->size, p->root, &p->range, err)) != KTA_OK)
		goto out;
	if (p->done >= p->size) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "%s: log %s: stored pending catch-up has %" PRIu64 " of %" PRIu64
				  " entries done",
				  st->path, origin, p->done, p->size);
		goto out;
	}
	p->started = sqlite3_column_int64(s, 5);
	*out = p;
	p = NULL;
	*found = 1;
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	kta_state_pending_free(p);
	return r;
}

enum kta_status kta_state_pending_put(struct kta_state *st, const char *origin, const char *note,
				      size_t note_len, uint64_t size, const uint8_t root[static 32],
				      const struct kta_compact_range *range, int64_t now,
				      struct kta_error *err)
{
	enum kta_status r;
	sqlite3_stmt *s = NULL;
	uint64_t done;
	int own;

	if (range == NULL || (done = kta_compact_range_size(range)) >= size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "state: a pending catch-up must have fewer leaves done than "
				     "its size %" PRIu64,
				     size);
	if ((r = ckpt_check(note, note_len, size, err)) != KTA_OK)
		return r;
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	/* started is kept while the target is the same tree */
	if ((s = prep(st,
		      "INSERT INTO pending(origin, checkpoint, size, root, done, range, started, "
		      "updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT(origin) DO "
		      "UPDATE SET checkpoint = excluded.checkpoint, done = excluded.done, "
		      "range = excluded.range, updated = excluded.updated, started = CASE WHEN "
		      "size = excluded.size AND root = excluded.root THEN started ELSE "
		      "excluded.started END, size = excluded.size, root = excluded.root",
		      err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (ckpt_bind(s, origin, note, note_len, size, root) != SQLITE_OK ||
	    bind_u64(s, 5, done) != SQLITE_OK || bind_range(s, 6, range) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, now) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "store pending catch-up", err);
		goto out;
	}
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	return tx_leave(st, own, r, err);
}

enum kta_status kta_state_pending_clear(struct kta_state *st, const char *origin,
					struct kta_error *err)
{
	enum kta_status r;
	sqlite3_stmt *s = NULL;
	int own;

	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((s = prep(st, "DELETE FROM pending WHERE origin = ?1", err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (bind_text(s, 1, origin) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "clear pending catch-up", err);
		goto out;
	}
	r = KTA_OK;
out:
	sqlite3_finalize(s);
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
	int row = 0;

	*out = NULL;
	*found = 0;
	if (sqlite3_prepare_v2(
		st->db, "SELECT checkpoint, size, root, updated FROM cosigned WHERE origin = ?1",
		-1, &s, NULL) != SQLITE_OK)
		return db_fail(st, "read cosigned", err);
	bind_text(s, 1, origin);
	/* r is KTA_OK when there is no row */
	if ((r = step_one(st, s, "read cosigned", &row, err)) != KTA_OK || !row)
		goto out;
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

	if ((r = ckpt_check(note, note_len, size, err)) != KTA_OK)
		return r;
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO cosigned(origin, checkpoint, size, root, updated) "
			       "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(origin) DO UPDATE SET "
			       "checkpoint = excluded.checkpoint, size = excluded.size, "
			       "root = excluded.root, updated = excluded.updated",
			       -1, &s, NULL) != SQLITE_OK ||
	    ckpt_bind(s, origin, note, note_len, size, root) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, now) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "store cosigned checkpoint", err);
		goto out;
	}
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	return tx_leave(st, own, r, err);
}

/* "K/N", or "every label" for n 0. */
static void shard_text(uint32_t k, uint32_t n, char out[static 32])
{
	if (n == 0)
		(void)snprintf(out, 32, "every label");
	else
		(void)snprintf(out, 32, "shard %u/%u", k, n);
}

/* *any = 1 when the database holds a checkpoint, catch-up or index of origin. */
static enum kta_status origin_used(struct kta_state *st, const char *origin, int *any,
				   struct kta_error *err)
{
	sqlite3_stmt *s;
	enum kta_status r;

	if ((s = prep(st,
		      "SELECT 1 WHERE EXISTS(SELECT 1 FROM logs WHERE origin = ?1) OR "
		      "EXISTS(SELECT 1 FROM pending WHERE origin = ?1) OR "
		      "EXISTS(SELECT 1 FROM labels WHERE origin = ?1)",
		      err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	r = step_one(st, s, "read log rows", any, err);
	sqlite3_finalize(s);
	return r;
}

/* Reads origin's shard row: *row = 0 when none. */
static enum kta_status shard_read(struct kta_state *st, const char *origin, int *row, uint32_t *k,
				  uint32_t *n, struct kta_error *err)
{
	enum kta_status r;
	sqlite3_stmt *s;
	uint64_t sk = 0, sn = 0;

	if ((s = prep(st, "SELECT k, n FROM shards WHERE origin = ?1", err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	if ((r = step_one(st, s, "read shard", row, err)) == KTA_OK && *row &&
	    (col_u64(s, 0, &sk) != 0 || col_u64(s, 1, &sn) != 0 || sn < 2 || sn > KTA_SHARD_MAX ||
	     sk >= sn))
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: log %s: bad stored shard row",
				  st->path, origin);
	sqlite3_finalize(s);
	*k = (uint32_t)sk;
	*n = (uint32_t)sn;
	return r;
}

/* A watch of origin on a label outside shard k of n: *bad = 1, its label
 * quoted in out (4 * 64 + 4 bytes), its shard in *its. */
static enum kta_status foreign_watch(struct kta_state *st, const char *origin, uint32_t k,
				     uint32_t n, int *bad, char out[static 4 * 64 + 4],
				     uint32_t *its, struct kta_error *err)
{
	sqlite3_stmt *s;
	enum kta_status r = KTA_OK;
	int rc = SQLITE_DONE;

	*bad = 0;
	if ((s = prep(st, "SELECT label FROM watches WHERE origin = ?1", err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	while (!*bad && r == KTA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *l = (const char *)sqlite3_column_text(s, 0);
		size_t ll = (size_t)sqlite3_column_bytes(s, 0);

		if ((r = kta_shard_of(l, ll, n, its, err)) == KTA_OK && *its != k) {
			kta_quote((const uint8_t *)l, ll, 64, out);
			*bad = 1;
		}
	}
	if (r == KTA_OK && !*bad && rc != SQLITE_DONE)
		r = db_fail(st, "read watches", err);
	sqlite3_finalize(s);
	return r;
}

/* The stored shard (row) against the asked one (k, n). */
static enum kta_status shard_match(struct kta_state *st, const char *origin, int row, uint32_t sk,
				   uint32_t sn, uint32_t k, uint32_t n, struct kta_error *err)
{
	char have[32], want[32];

	if (row ? sk == k && sn == n : n == 0)
		return KTA_OK;
	shard_text(sk, row ? sn : 0, have);
	shard_text(k, n, want);
	return kta_error_set(err, KTA_ERR_USAGE,
			     "%s: log %s was audited as %s, the configuration asks for %s: a "
			     "state database holds the labels of one shard; give each shard its "
			     "own state_dir",
			     st->path, origin, have, want);
}

enum kta_status kta_state_shard_claim(struct kta_state *st, const char *origin, uint32_t k,
				      uint32_t n, int record, int *stored, struct kta_error *err)
{
	enum kta_status r;
	sqlite3_stmt *s = NULL;
	uint32_t sk = 0, sn = 0, wk = 0;
	int own = 0, row = 0, any = 0, bad = 0, dummy = 0;
	char wl[4 * 64 + 4];

	if (stored == NULL)
		stored = &dummy;
	*stored = 0;
	if (n == 1 || n > KTA_SHARD_MAX || (n > 1 && k >= n))
		return kta_error_set(err, KTA_ERR_USAGE, "state: shard %u/%u", k, n);
	/* Read first: only a first claim writes (and takes the write lock). */
	if ((r = shard_read(st, origin, &row, &sk, &sn, err)) != KTA_OK)
		return r;
	if (row || n == 0)
		return shard_match(st, origin, row, sk, sn, k, n, err);
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((r = shard_read(st, origin, &row, &sk, &sn, err)) != KTA_OK)
		goto out;
	if (row) {
		r = shard_match(st, origin, row, sk, sn, k, n, err);
		goto out;
	}
	if ((r = origin_used(st, origin, &any, err)) != KTA_OK)
		goto out;
	if (any) {
		/* audited before without shards */
		r = shard_match(st, origin, 0, 0, 0, k, n, err);
		goto out;
	}
	if ((r = foreign_watch(st, origin, k, n, &bad, wl, &wk, err)) != KTA_OK)
		goto out;
	if (bad) {
		/* this shard would never check it */
		r = kta_error_set(err, KTA_ERR_USAGE,
				  "%s: log %s has a watch of \"%s\", a label of shard %u/%u, and "
				  "the configuration asks for shard %u/%u: give each shard its own "
				  "state_dir",
				  st->path, origin, wl, wk, n, k, n);
		goto out;
	}
	if (!record)
		goto out; /* r is KTA_OK: only a check */
	if ((s = prep(st, "INSERT INTO shards(origin, k, n) VALUES(?1, ?2, ?3)", err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	if (bind_text(s, 1, origin) != SQLITE_OK || sqlite3_bind_int64(s, 2, k) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, n) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		r = db_fail(st, "store shard", err);
		goto out;
	}
	*stored = 1;
	r = KTA_OK;
out:
	sqlite3_finalize(s);
	r = tx_leave(st, own, r, err);
	if (r != KTA_OK)
		*stored = 0;
	return r;
}

/* ------------------------------------------------------------------------ */
/* The replay index over labels + label_history (state.h "Label index"). */

/*
 * In memory, an index keeps a write-back cache of label buckets and the
 * history chunk being appended:
 *
 *   - buckets are loaded on first use, changed in memory (dirty) and written
 *     at commit in bucket order, or earlier when the cache is over its
 *     budget (least recently used first; SQLite takes them in the open
 *     transaction, so nothing is committed early). A get costs one SipHash,
 *     a directory step to the bucket, one scan of ~LOAD 4-byte tags and the
 *     one record they point at (each a likely cache miss in a large index);
 *     the put of the label just read reuses the get's hash, bucket and
 *     record (no second hash, no second scan) and copies; no SQLite
 *     statement;
 *   - history records are appended to the chunk of their leaf, written when
 *     the chunk is full (~16 KB) or at commit, in key order.
 *
 * The cache outlives a commit only while nothing else wrote the index:
 * another connection's commit (PRAGMA data_version, checked at the first use
 * in each transaction) or another index object of this handle (st->wgen)
 * drops it; a rollback drops every index's cache. Outside a transaction
 * nothing is cached.
 */

/* Average labels per bucket before a split (linear hashing). */
#define LAB_LOAD 32
/* Bucket id of the per-origin meta row in labels. */
#define LAB_META_BUCKET (-1)
/* Meta row: 16-byte SipHash key | nbuckets (8 bytes LE) | nlabels (8 bytes LE). */
#define LAB_META_LEN 32
/* First byte of a bucket row written by schema 5: its records hold no leaf
 * hash. No schema 4 row starts with it (a record starts with its label's
 * length, never 0), so rows of both forms are read, and each is rewritten
 * in this form when its bucket next changes: no migration pass. */
#define LAB_ROW_TAG 0x00
/* 2^30 buckets hold ~3.4e10 labels: far beyond one index (docs/scale.md
 * shards before that); a meta row claiming more is damaged. */
#define LAB_MAX_BUCKETS ((uint64_t)1 << 30)
_Static_assert(LAB_MAX_BUCKETS <= (uint64_t)1 << 31,
	       "lab_addr and a split read only the hash's low half (LOW)");
/* A history chunk is closed when the next record would take it past this
 * size: four chunks fill a 64 KiB page. */
#define HIST_CHUNK_BYTES 16000
/* Accounted malloc overhead per allocation. */
#define ALLOC_OVERHEAD 16
/* In a history record's auth byte: its entry is packed (state.h). */
#define HIST_PACKED 0x80u
/* Bytes of the leaf hash before a packed entry (its check when unpacked). */
#define HIST_CHECK_LEN 4u

static void store64le(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * One label's latest state in a cached bucket. Records live in the index's
 * record heap: chunks of CHUNK_BYTES, each aligned to its size (a record's
 * chunk is its address rounded down), records appended at the end of the
 * newest chunk. A bucket only points at its records, so a split moves
 * pointers and tags, never records, and a bucket has no arena to grow; a
 * record that dies (its bucket evicted, or outgrown by a longer key set)
 * leaves dead bytes behind, which the cleaner (chunk_clean) reclaims by
 * moving a chunk's live records to the newest chunk. A record carries the
 * low half of its hash: its bucket is lab_addr(lo, nbuckets), which is how
 * the cleaner finds the one pointer to it.
 */
struct lrec {
	uint64_t version, leaf;       /* no leaf hash: ix_entry_hash reads it from the history */
	uint32_t lo;                  /* LOW of the label's SipHash (all lab_addr reads) */
	uint32_t cap;                 /* bytes of data it may use */
	uint16_t label_len, keys_len; /* labels and key sets are under 64 KiB (entry.h) */
	uint8_t data[];               /* label bytes, then the key-set blob */
};

/*
 * A cached bucket, one allocation: a header, then cap tags (the high half
 * of each record's hash), cap lows (the low half: the bits lab_addr uses,
 * the same low bits for every record of a bucket; a split reads them and
 * no record) and cap record pointers. A lookup reads the header and
 * ~LAB_LOAD 4-byte tags as one run of cache lines, then the one record
 * whose tag matches. Growing it may move the header (bkt_reserve relinks
 * it).
 */
struct bkt {
	uint64_t id;
	struct bkt *prev, *next; /* CLOCK list: loaded at the head, evicted at the tail */
	int ref;                 /* used since it last passed the tail (second chance) */
	int dirty;
	uint32_t n, cap; /* records, room (a multiple of 8) */
	uint32_t tags[]; /* tags[i]: record i's; then cap lows, then cap pointers */
};
/* Allocated bytes of a bucket with room for cap records. */
#define BKT_BYTES(cap)                                                                             \
	(sizeof(struct bkt) + (size_t)(cap) * (2 * sizeof(uint32_t) + sizeof(struct lrec *)))
#define BKT_LOWS(b) ((b)->tags + (b)->cap)
#define BKT_RECS(b) ((struct lrec **)(void *)((b)->tags + 2 * (size_t)(b)->cap))
#define REC(b, i) (BKT_RECS(b)[i])
#define TAG(h) ((uint32_t)((h) >> 32))
#define LOW(h) ((uint32_t)(h))
/* Bytes of a record before its data. */
#define REC_HEAD offsetof(struct lrec, data)
/* Heap bytes of a record with `data` bytes (8-byte aligned). */
#define REC_SIZE(data) ((REC_HEAD + (data) + 7) & ~(size_t)7)

/* A chunk of the record heap: this header, then records. */
struct chunk {
	uint32_t used; /* bytes used, this header included */
	uint32_t live; /* bytes of live records */
	size_t idx;    /* its place in ix->chunks */
};
#define CHUNK_BYTES ((size_t)1 << 17)
/* Empty chunks an index keeps (within its budget) rather than returning
 * them to the system: where buckets are evicted and loaded all the time,
 * chunks are emptied and needed again at the same pace, and a chunk given
 * back is paged in again (32 page faults) when the next one is made. */
#define CHUNK_SPARES 4
#define CHUNK_HEAD ((sizeof(struct chunk) + 63) & ~(size_t)63)
#define CHUNK_OF(r) ((struct chunk *)(void *)((uintptr_t)(r) & ~(uintptr_t)(CHUNK_BYTES - 1)))
_Static_assert(offsetof(struct bkt, tags) % 8 == 0, "the record pointers after the tags aligned");
_Static_assert(REC_HEAD + KTA_LABEL_ENCODED_MAX + UINT16_MAX + 7 <= CHUNK_BYTES - CHUNK_HEAD,
	       "the largest record fits in a chunk");

/* Prefetch stages, in labels announced since the label's own announcement
 * (ix_prefetch): its directory entry at 0, bucket header at PF_HEAD, tags
 * at PF_TAGS, the matching tag's record pointer at PF_REF, the record at
 * PF_REC; a replay's get follows at KTA_REPLAY_LOOKAHEAD. */
#define PF_HEAD 2u
#define PF_TAGS 4u
#define PF_REF 6u
#define PF_REC 7u
#define PF_RING 16u
_Static_assert(PF_REC < KTA_REPLAY_LOOKAHEAD && KTA_REPLAY_LOOKAHEAD < PF_RING,
	       "prefetch stages, then the get, while the label is in the ring");
/* Labels up to this length are kept with their hash (longer: hashed again). */
#define PF_LABEL_MAX 62u

/* A label announced by ix_prefetch. */
struct pf_label {
	uint64_t h;    /* its SipHash (its bucket: lab_addr, as the index is now) */
	uint64_t head; /* its first 8 bytes (pf_head): most labels differ there */
	uint16_t ll;   /* its length, 0: not kept */
	char label[PF_LABEL_MAX];
};
/* Cached buckets are found through a two-level directory by bucket id
 * (ids are dense, 0..nbuckets-1): pages of DIR_PAGE pointers, allocated
 * while one of their buckets is cached. */
#define DIR_SHIFT 9
#define DIR_PAGE ((size_t)1 << DIR_SHIFT)
#define DIR_PAGE_BYTES (DIR_PAGE * sizeof(struct bkt *) + ALLOC_OVERHEAD)

struct kta_state_index {
	struct kta_state *st;
	struct kta_state_index *next; /* in st->ixs */
	char *origin;
	char *label; /* the last label read (its state borrows this) */
	size_t label_cap;
	void *keybuf; /* decoded keys of the last get */
	size_t keybuf_cap;
	uint8_t *blob; /* key-set encoding buffer for put */
	size_t blob_cap;
	uint8_t *enc; /* bucket encoding buffer */
	size_t enc_cap;
	/* the last get's label (in label), its hash and, while the bucket's
	 * records stay where they are, its bucket and record (-1: absent), for
	 * the put that follows (no second hash, no second scan) */
	int hint_valid, hint_pos;
	size_t hint_ll;
	uint64_t hint_h;
	struct bkt *hint_b;
	long hint_i;
	/* validity of the cache (see above) */
	uint64_t tx_seen;   /* st->tx_id of the transaction last checked */
	int64_t dv;         /* PRAGMA data_version at that check */
	uint64_t wgen_seen; /* st->wgen after this index's last use */
	/* meta: loaded = 0 until read in this cache's life */
	int meta_loaded, meta_exists, meta_dirty;
	uint64_t k0, k1, nbuckets, nlabels;
	/* bucket cache: dir[id >> DIR_SHIFT][id & (DIR_PAGE - 1)], dir_n[p]
	 * buckets cached in page p */
	struct bkt ***dir;
	uint32_t *dir_n;
	size_t ndir, nbkt;
	struct bkt *lru_head, *lru_tail;
	size_t ndirty;
	/* the record heap: chunks[i]->idx == i; records are appended to cur */
	struct chunk **chunks;
	size_t nchunks, chunks_cap, clean_hand;
	struct chunk *cur;
	struct chunk *cleaning;            /* the chunk chunk_clean empties (not freed under it) */
	size_t heap_live;                  /* bytes of live records in all chunks */
	size_t heap_used;                  /* bytes of records, live or dead, in all chunks */
	struct chunk *spare[CHUNK_SPARES]; /* empty chunks kept for reuse (counted) */
	size_t nspare;
	/* history: the chunk being appended */
	int hist_loaded; /* h_last/h_any and the chunk are known */
	int h_any;       /* the origin has history; h_last its last leaf */
	uint64_t h_last;
	int hc_valid, hc_dirty; /* hc holds chunk hc_id */
	uint64_t hc_id;
	uint8_t *hc;
	size_t hc_len, hc_cap;
	/* history: a chunk hist_read loaded (never the one appended to) */
	int rc_valid;
	uint64_t rc_id;
	uint8_t *rc;
	size_t rc_len, rc_cap;
	uint8_t *pack;             /* an entry packed for the chunk, KTA_ENTRY_MAX_SIZE bytes */
	uint8_t *unpacked;         /* the last entry hist_read unpacked (its result borrows it) */
	struct kta_hasher *hasher; /* hist_read's check of what it unpacked */
	/* prefetch pipeline: the last PF_RING labels announced (pf_n counts
	 * them), for the later stages and so that their get need not hash again */
	struct pf_label pf[PF_RING];
	uint64_t pf_n;
};

/* Linear hashing: the bucket of hash h among n >= 1 buckets. */
static uint64_t lab_addr(uint64_t h, uint64_t n)
{
	uint64_t lvl = 1;

	while (lvl * 2 <= n)
		lvl *= 2;
	/* lvl = 2^floor(log2 n); buckets below n - lvl are already split */
	if ((h & (2 * lvl - 1)) < n)
		return h & (2 * lvl - 1);
	return h & (lvl - 1);
}

static uint64_t lab_hash(const struct kta_state_index *ix, const char *label, size_t ll)
{
	return kta_siphash24(ix->k0, ix->k1, (const uint8_t *)label, ll);
}

/* A label's first 8 bytes, zero-padded: the ring's cheap first compare. */
static uint64_t pf_head(const char *label, size_t ll)
{
	uint64_t v = 0;

	memcpy(&v, label, ll < sizeof(v) ? ll : sizeof(v));
	return v;
}

/* lab_hash, taken from the prefetch ring when the label was announced
 * (ix_prefetch) since the cache was last dropped. */
static uint64_t lab_hash_memo(const struct kta_state_index *ix, const char *label, size_t ll)
{
	uint64_t head, i, n = ix->pf_n < PF_RING ? ix->pf_n : PF_RING;

	if (ll == 0 || ll > PF_LABEL_MAX)
		return lab_hash(ix, label, ll);
	head = pf_head(label, ll);
	/* Only the last n announcements (since the cache was dropped) count:
	 * older slots may hold hashes under a discarded key. Newest first: a
	 * mismatch costs two integer compares. */
	for (i = 0; i < n; i++) {
		const struct pf_label *q = &ix->pf[(ix->pf_n - 1 - i) % PF_RING];

		if (q->ll == ll && q->head == head && memcmp(q->label, label, ll) == 0)
			return q->h;
	}
	return lab_hash(ix, label, ll);
}

static void lru_unlink(struct kta_state_index *ix, struct bkt *b)
{
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		ix->lru_head = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	else
		ix->lru_tail = b->prev;
	b->prev = b->next = NULL;
}

static void lru_front(struct kta_state_index *ix, struct bkt *b)
{
	if (ix->lru_head == b)
		return;
	if (b->prev != NULL || b->next != NULL || ix->lru_tail == b)
		lru_unlink(ix, b);
	b->next = ix->lru_head;
	if (ix->lru_head != NULL)
		ix->lru_head->prev = b;
	ix->lru_head = b;
	if (ix->lru_tail == NULL)
		ix->lru_tail = b;
}

static void cache_less(struct kta_state *st, size_t bytes)
{
	if (st != NULL)
		st->cache_used -= bytes < st->cache_used ? bytes : st->cache_used;
}

/* ---- the record heap ---- */

/* Chunk c holds no live record: kept as a spare, or freed. */
static void chunk_free(struct kta_state_index *ix, struct chunk *c)
{
	struct chunk *last = ix->chunks[--ix->nchunks];

	ix->chunks[c->idx] = last;
	last->idx = c->idx;
	ix->heap_used -= c->used - CHUNK_HEAD;
	if (ix->cur == c)
		ix->cur = NULL;
	/* spares take at most a 32nd of the budget */
	if (ix->nspare < CHUNK_SPARES &&
	    (ix->nspare + 1) * CHUNK_BYTES <= ix->st->cache_budget / 32) {
		ix->spare[ix->nspare++] = c;
		return;
	}
	free(c);
	cache_less(ix->st, CHUNK_BYTES + ALLOC_OVERHEAD);
}

/* Frees one spare chunk; 0 when there is none. */
static int spare_release(struct kta_state_index *ix)
{
	if (ix->nspare == 0)
		return 0;
	free(ix->spare[--ix->nspare]);
	cache_less(ix->st, CHUNK_BYTES + ALLOC_OVERHEAD);
	return 1;
}

/* Frees every chunk (the records of every bucket with them). */
static void heap_free_all(struct kta_state_index *ix)
{
	while (ix->nchunks > 0)
		chunk_free(ix, ix->chunks[ix->nchunks - 1]);
	while (spare_release(ix))
		;
	ix->heap_live = ix->heap_used = 0;
	ix->clean_hand = 0;
}

/* A new empty chunk *out, made the one records are appended to. */
static enum kta_status chunk_new(struct kta_state_index *ix, struct chunk **out,
				 struct kta_error *err)
{
	struct chunk *c, *old = ix->cur;

	if (ix->nchunks == ix->chunks_cap) {
		size_t nc = ix->chunks_cap < 16 ? 16 : ix->chunks_cap * 2;
		struct chunk **na;

		/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
		if (nc > SIZE_MAX / sizeof(*na))
			return kta_error_set(err, KTA_ERR_LIMIT, "state: too many label chunks");
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
		if ((na = realloc(ix->chunks, nc * sizeof(*na))) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->chunks = na;
		ix->chunks_cap = nc;
	}
	if (ix->nspare > 0) {
		c = ix->spare[--ix->nspare];
	} else {
		if ((c = aligned_alloc(CHUNK_BYTES, CHUNK_BYTES)) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->st->cache_used += CHUNK_BYTES + ALLOC_OVERHEAD;
	}
	c->used = (uint32_t)CHUNK_HEAD;
	c->live = 0;
	c->idx = ix->nchunks;
	ix->chunks[ix->nchunks++] = c;
	ix->cur = c;
	/* the chunk it replaces may hold no live record already */
	if (old != NULL && old->live == 0 && old != ix->cleaning)
		chunk_free(ix, old);
	*out = c;
	return KTA_OK;
}

/* size bytes (a REC_SIZE) for a new live record: *out. */
static enum kta_status rec_alloc(struct kta_state_index *ix, size_t size, struct lrec **out,
				 struct kta_error *err)
{
	struct chunk *c = ix->cur;
	enum kta_status r;

	if (size > CHUNK_BYTES - CHUNK_HEAD)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: label record too large");
	if ((c == NULL || size > CHUNK_BYTES - c->used) && (r = chunk_new(ix, &c, err)) != KTA_OK)
		return r;
	*out = (struct lrec *)(void *)((uint8_t *)c + c->used);
	c->used += (uint32_t)size;
	c->live += (uint32_t)size;
	ix->heap_live += size;
	ix->heap_used += size;
	return KTA_OK;
}

/* Record r is dead; its chunk is freed once it holds no live record. */
static void rec_free(struct kta_state_index *ix, const struct lrec *r)
{
	struct chunk *c = CHUNK_OF(r);
	size_t sz = REC_SIZE(r->cap);

	c->live -= (uint32_t)sz;
	ix->heap_live -= sz;
	if (c->live == 0 && c != ix->cur && c != ix->cleaning)
		chunk_free(ix, c);
}

static struct bkt *bkt_find(const struct kta_state_index *ix, uint64_t id)
{
	uint64_t p = id >> DIR_SHIFT;

	if (p >= ix->ndir || ix->dir[p] == NULL)
		return NULL;
	return ix->dir[p][(size_t)id & (DIR_PAGE - 1)];
}

/*
 * A chunk worth cleaning, or NULL. Dead bytes are what records left behind
 * (not the end of a chunk that the next record did not fit in). When an
 * eighth of a chunk per full chunk is dead, one of them has at least that
 * much dead, and cleaning it removes that much: the dead bytes only go
 * down, so cleaning ends, and they never hold more than about an eighth of
 * the budget. The hand goes round the chunks.
 */
static struct chunk *clean_victim(struct kta_state_index *ix)
{
	const size_t room = CHUNK_BYTES - CHUNK_HEAD;
	const struct chunk *cur = ix->cur;
	size_t full = ix->nchunks - (cur != NULL), used, live, i;

	if (full == 0)
		return NULL;
	used = ix->heap_used - (cur != NULL ? cur->used - CHUNK_HEAD : 0);
	live = ix->heap_live - (cur != NULL ? cur->live : 0);
	if (used - live < full * (room / 8))
		return NULL;
	for (i = 0; i < ix->nchunks; i++) {
		struct chunk *c = ix->chunks[(ix->clean_hand + i) % ix->nchunks];

		if (c != cur && c->used - CHUNK_HEAD - c->live >= room / 8) {
			ix->clean_hand = (c->idx + 1) % ix->nchunks;
			return c;
		}
	}
	return NULL;
}

/*
 * Moves the live records of chunk c to the newest chunk and frees c. A
 * record is live when its bucket (cached: an evicted bucket's records died
 * with it) points at it.
 */
static enum kta_status chunk_clean(struct kta_state_index *ix, struct chunk *c,
				   struct kta_error *err)
{
	size_t off = CHUNK_HEAD;
	enum kta_status r = KTA_OK;

	ix->cleaning = c;
	while (off < c->used && c->live > 0) {
		struct lrec *o = (struct lrec *)(void *)((uint8_t *)c + off), *nr;
		size_t sz = REC_SIZE(o->cap);
		const struct bkt *b = bkt_find(ix, lab_addr(o->lo, ix->nbuckets));
		uint32_t i;

		off += sz;
		if (b == NULL)
			continue;
		for (i = 0; i < b->n && REC(b, i) != o; i++)
			;
		if (i == b->n)
			continue;
		if ((r = rec_alloc(ix, sz, &nr, err)) != KTA_OK)
			break;
		memcpy(nr, o, sz);
		REC(b, i) = nr;
		rec_free(ix, o);
	}
	ix->cleaning = NULL;
	if (r == KTA_OK && c->live != 0)
		r = kta_error_set(err, KTA_ERR_INTERNAL,
				  "state: a live label record not found in its bucket");
	if (r == KTA_OK)
		chunk_free(ix, c);
	return r;
}

/* ---- buckets ---- */

static void bkt_free(struct kta_state_index *ix, struct bkt *b, int recs)
{
	uint32_t i;

	for (i = 0; recs && i < b->n; i++)
		rec_free(ix, REC(b, i));
	cache_less(ix->st, BKT_BYTES(b->cap) + ALLOC_OVERHEAD);
	free(b);
}

/* Unlinks bucket b from the directory and the LRU list and frees it (its
 * records too when recs). */
static void bkt_drop(struct kta_state_index *ix, struct bkt *b, int recs)
{
	size_t p = (size_t)(b->id >> DIR_SHIFT);

	ix->dir[p][(size_t)b->id & (DIR_PAGE - 1)] = NULL;
	if (--ix->dir_n[p] == 0) {
		free(ix->dir[p]);
		ix->dir[p] = NULL;
		cache_less(ix->st, DIR_PAGE_BYTES);
	}
	lru_unlink(ix, b);
	if (b->dirty)
		ix->ndirty--;
	ix->nbkt--;
	if (ix->hint_b == b)
		ix->hint_pos = 0;
	bkt_free(ix, b, recs);
}

/* Forgets everything cached, dirty data included (rollback, or stale). */
static void ix_drop_cache(struct kta_state_index *ix)
{
	heap_free_all(ix);
	while (ix->lru_head != NULL)
		bkt_drop(ix, ix->lru_head, 0);
	ix->meta_loaded = ix->meta_exists = ix->meta_dirty = 0;
	ix->hist_loaded = ix->h_any = 0;
	ix->hc_valid = ix->hc_dirty = 0;
	ix->hc_len = 0;
	ix->rc_valid = 0;
	ix->tx_seen = 0;
	ix->hint_valid = ix->hint_pos = 0;
	/* the SipHash key is reloaded with the meta row, or made anew when the
	 * transaction that created it was rolled back: forget every hash */
	ix->pf_n = 0;
	memset(ix->pf, 0, sizeof(ix->pf));
}

/* Grows *bp to room for at least want records (the header may move: the
 * directory, the CLOCK list and the hint follow it). */
static enum kta_status bkt_reserve(struct kta_state_index *ix, struct bkt **bp, size_t want,
				   struct kta_error *err)
{
	struct bkt *b = *bp, *nb;
	size_t nc = b->cap < 8 ? 8 : b->cap, oc = b->cap;
	int hinted = ix->hint_b == b;

	if (want <= b->cap)
		return KTA_OK;
	while (nc < want)
		nc *= 2;
	if (nc > UINT32_MAX / 2 || (nb = realloc(b, BKT_BYTES(nc))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	ix->st->cache_used += BKT_BYTES(nc) - BKT_BYTES(oc);
	/* the lows and pointers follow the tags: move them to their new
	 * places, the pointers first (the lows' new place may overlap theirs) */
	memmove(nb->tags + 2 * nc, nb->tags + 2 * oc, (size_t)nb->n * sizeof(struct lrec *));
	memmove(nb->tags + nc, nb->tags + oc, (size_t)nb->n * sizeof(uint32_t));
	nb->cap = (uint32_t)nc;
	if (nb != b) {
		ix->dir[(size_t)(nb->id >> DIR_SHIFT)][(size_t)nb->id & (DIR_PAGE - 1)] = nb;
		if (nb->prev != NULL)
			nb->prev->next = nb;
		else
			ix->lru_head = nb;
		if (nb->next != NULL)
			nb->next->prev = nb;
		else
			ix->lru_tail = nb;
		if (hinted)
			ix->hint_b = nb;
		*bp = nb;
	}
	return KTA_OK;
}

/* A new empty bucket id in the cache (clean), with room for cap records. */
static enum kta_status bkt_new(struct kta_state_index *ix, uint64_t id, size_t cap,
			       struct bkt **out, struct kta_error *err)
{
	struct bkt *b;
	uint64_t p = id >> DIR_SHIFT;

	if (p >= ix->ndir) {
		size_t nd = ix->ndir < 8 ? 8 : ix->ndir, i;
		struct bkt ***d;
		uint32_t *dn;

		while (nd <= p) {
			if (nd > SIZE_MAX / 2 / sizeof(*d))
				return kta_error_set(err, KTA_ERR_LIMIT,
						     "state: too many label buckets");
			nd *= 2;
		}
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
		if ((d = realloc(ix->dir, nd * sizeof(*d))) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->dir = d;
		if ((dn = realloc(ix->dir_n, nd * sizeof(*dn))) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->dir_n = dn;
		for (i = ix->ndir; i < nd; i++) {
			d[i] = NULL;
			dn[i] = 0;
		}
		ix->ndir = nd;
	}
	if (ix->dir[p] == NULL) {
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
		if ((ix->dir[p] = calloc(DIR_PAGE, sizeof(struct bkt *))) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->st->cache_used += DIR_PAGE_BYTES;
	}
	cap = (cap + 7) & ~(size_t)7; /* a multiple of 8, at least 8 */
	if (cap == 0)
		cap = 8;
	if (cap > UINT32_MAX / 2 || (b = calloc(1, BKT_BYTES(cap))) == NULL) {
		if (ix->dir_n[p] == 0) {
			free(ix->dir[p]);
			ix->dir[p] = NULL;
			cache_less(ix->st, DIR_PAGE_BYTES);
		}
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	}
	b->id = id;
	b->cap = (uint32_t)cap;
	ix->dir[p][(size_t)id & (DIR_PAGE - 1)] = b;
	ix->dir_n[p]++;
	ix->nbkt++;
	ix->st->cache_used += BKT_BYTES(cap) + ALLOC_OVERHEAD;
	lru_front(ix, b);
	*out = b;
	return KTA_OK;
}

/* Appends a record to *bp (hash h; the header may move); label and keys
 * are copied. */
static enum kta_status bkt_add(struct kta_state_index *ix, struct bkt **bp, uint64_t h,
			       const char *label, size_t ll, uint64_t version, uint64_t leaf,
			       const uint8_t *keys, size_t kl, struct kta_error *err)
{
	struct lrec *r = NULL;
	struct bkt *b;
	enum kta_status s;

	if (ll > UINT16_MAX || kl > UINT16_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: label record too large");
	if ((s = bkt_reserve(ix, bp, (size_t)(*bp)->n + 1, err)) != KTA_OK ||
	    (s = rec_alloc(ix, REC_SIZE(ll + kl), &r, err)) != KTA_OK)
		return s;
	b = *bp;
	r->version = version;
	r->leaf = leaf;
	r->lo = LOW(h);
	r->label_len = (uint16_t)ll;
	r->keys_len = (uint16_t)kl;
	r->cap = (uint32_t)(ll + kl);
	memcpy(r->data, label, ll);
	if (kl > 0)
		memcpy(r->data + ll, keys, kl);
	b->tags[b->n] = TAG(h);
	BKT_LOWS(b)[b->n] = LOW(h);
	REC(b, b->n) = r;
	b->n++;
	return KTA_OK;
}

/* Index of label in b, or -1. */
static long bkt_lookup(const struct bkt *b, uint64_t h, const char *label, size_t ll)
{
	uint32_t i, n = b->n, tag = TAG(h);

	for (i = 0; i < n; i++) {
		if (b->tags[i] == tag) {
			const struct lrec *r = REC(b, i);

			if (r->lo == LOW(h) && r->label_len == ll &&
			    memcmp(r->data, label, ll) == 0)
				return (long)i;
		}
	}
	return -1;
}

/* Encodes b (state.h "labels row") into ix->enc; *len its size. */
static enum kta_status bkt_encode(struct kta_state_index *ix, const struct bkt *b, size_t *len,
				  struct kta_error *err)
{
	size_t need = 1, off = 0;
	uint32_t i;

	for (i = 0; i < b->n; i++)
		need +=
		    4 * KTA_VARINT_MAX + (size_t)REC(b, i)->label_len + (size_t)REC(b, i)->keys_len;
	if (need + 1 > ix->enc_cap) {
		uint8_t *ne = realloc(ix->enc, need + 1);

		if (ne == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->enc = ne;
		ix->enc_cap = need + 1;
	}
	ix->enc[off++] = LAB_ROW_TAG;
	for (i = 0; i < b->n; i++) {
		const struct lrec *r = REC(b, i);

		off += kta_varint_put(ix->enc + off, r->label_len);
		memcpy(ix->enc + off, r->data, r->label_len);
		off += r->label_len;
		off += kta_varint_put(ix->enc + off, r->version);
		off += kta_varint_put(ix->enc + off, r->leaf);
		off += kta_varint_put(ix->enc + off, r->keys_len);
		memcpy(ix->enc + off, r->data + r->label_len, r->keys_len);
		off += r->keys_len;
	}
	if (off > INT_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: label bucket too large");
	*len = off;
	return KTA_OK;
}

/* Marks the transaction's write: other indexes' caches become stale. */
static void ix_wrote(struct kta_state_index *ix)
{
	ix->st->wgen++;
	ix->wgen_seen = ix->st->wgen;
}

static enum kta_status row_put(struct kta_state_index *ix, enum stmt_id id, int64_t key,
			       const uint8_t *data, size_t len, const char *what,
			       struct kta_error *err)
{
	struct kta_state *st = ix->st;
	sqlite3_stmt *s;
	enum kta_status r = KTA_OK;

	if (len > INT_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: %s too large", what);
	if ((s = stmt(st, id, err)) == NULL)
		return st->last_status;
	if (bind_text(s, 1, ix->origin) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, key) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 3, len > 0 ? (const void *)data : "", (int)len, SQLITE_STATIC) !=
		SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE)
		r = db_fail(st, what, err);
	sqlite3_reset(s);
	ix_wrote(ix);
	return r;
}

static enum kta_status bkt_write(struct kta_state_index *ix, struct bkt *b, struct kta_error *err)
{
	enum kta_status r;
	size_t len = 0;

	if (b->id > (uint64_t)INT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: too many label buckets");
	if ((r = bkt_encode(ix, b, &len, err)) != KTA_OK ||
	    (r = row_put(ix, S_ROW_PUT_LABELS, (int64_t)b->id, ix->enc, len, "store labels",
			 err)) != KTA_OK)
		return r;
	b->dirty = 0;
	ix->ndirty--;
	return KTA_OK;
}

static void bkt_dirty(struct kta_state_index *ix, struct bkt *b)
{
	if (!b->dirty) {
		b->dirty = 1;
		ix->ndirty++;
	}
}

static enum kta_status meta_write(struct kta_state_index *ix, struct kta_error *err)
{
	uint8_t m[LAB_META_LEN];
	enum kta_status r;

	store64le(m, ix->k0);
	store64le(m + 8, ix->k1);
	store64le(m + 16, ix->nbuckets);
	store64le(m + 24, ix->nlabels);
	if ((r = row_put(ix, S_ROW_PUT_LABELS, LAB_META_BUCKET, m, sizeof(m), "store label meta",
			 err)) != KTA_OK)
		return r;
	ix->meta_dirty = 0;
	return KTA_OK;
}

static enum kta_status hist_write(struct kta_state_index *ix, struct kta_error *err)
{
	enum kta_status r;

	if (!ix->hc_dirty)
		return KTA_OK;
	if (ix->hc_id > (uint64_t)INT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: leaf index too large");
	if ((r = row_put(ix, S_ROW_PUT_HIST, (int64_t)ix->hc_id, ix->hc, ix->hc_len,
			 "store label history", err)) != KTA_OK)
		return r;
	ix->hc_dirty = 0;
	return KTA_OK;
}

static int bkt_id_cmp(const void *pa, const void *pb)
{
	const struct bkt *a = *(const struct bkt *const *)pa;
	const struct bkt *b = *(const struct bkt *const *)pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

/*
 * Writes everything dirty (meta, buckets in id order, the history chunk) in
 * the open transaction; the cache stays, clean. On failure the caller's
 * transaction must be rolled back.
 */
static enum kta_status wb_flush(struct kta_state_index *ix, struct kta_error *err)
{
	enum kta_status r = KTA_OK;
	struct bkt **list = NULL, *b;
	size_t n = 0;

	if (ix->st == NULL)
		return KTA_OK;
	if ((r = hist_write(ix, err)) != KTA_OK)
		return r;
	if (ix->meta_dirty && (r = meta_write(ix, err)) != KTA_OK)
		return r;
	if (ix->ndirty == 0)
		return KTA_OK;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	if ((list = malloc(ix->ndirty * sizeof(*list))) == NULL) {
		/* Out of memory for the sort: write them unsorted. */
		for (b = ix->lru_head; b != NULL && r == KTA_OK; b = b->next)
			if (b->dirty)
				r = bkt_write(ix, b, err);
		return r;
	}
	for (b = ix->lru_head; b != NULL; b = b->next)
		if (b->dirty)
			list[n++] = b;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	qsort(list, n, sizeof(*list), bkt_id_cmp);
	for (size_t i = 0; i < n && r == KTA_OK; i++)
		r = bkt_write(ix, list[i], err);
	free(list);
	return r;
}

/* Evicts least recently used buckets (writing dirty ones) until the cache
 * is within its budget; never `keep`. */
static enum kta_status ix_evict(struct kta_state_index *ix, const struct bkt *keep,
				struct kta_error *err)
{
	struct kta_state *st = ix->st;
	enum kta_status r;

	while (st->cache_used > st->cache_budget) {
		struct bkt *b = ix->lru_tail;
		struct chunk *c;

		/* Dead bytes first: cleaning keeps every bucket (and ends:
		 * clean_victim). */
		if ((c = clean_victim(ix)) != NULL) {
			if ((r = chunk_clean(ix, c, err)) != KTA_OK)
				return r;
			st->cache_cleaned++;
			continue;
		}
		if (b == NULL || b == keep) {
			/* nothing left to evict: empty chunks go back */
			if (ix->cur != NULL && ix->cur->live == 0) {
				chunk_free(ix, ix->cur);
				continue;
			}
			if (spare_release(ix))
				continue;
			break;
		}
		/* bkt_drop unlinks b before freeing it, so lru_tail is then its
		 * predecessor; the analyzer does not follow the list invariant (the
		 * tail's next is NULL). */
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): see above */
		if (b->ref) {
			b->ref = 0;
			lru_front(ix, b);
			continue;
		}
		if (b->dirty && (r = bkt_write(ix, b, err)) != KTA_OK)
			return r;
		bkt_drop(ix, b, 1);
		st->cache_evicted++;
	}
	return KTA_OK;
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

/* Rollback: every index forgets what it cached. */
static void wb_discard_all(struct kta_state *st)
{
	struct kta_state_index *ix;

	for (ix = st->ixs; ix != NULL; ix = ix->next)
		ix_drop_cache(ix);
}

/* kta_state_close: indexes still open lose their handle and cache (the
 * open transaction is rolled back anyway). */
static void wb_detach_all(struct kta_state *st)
{
	while (st->ixs != NULL) {
		struct kta_state_index *ix = st->ixs;

		st->ixs = ix->next;
		ix_drop_cache(ix);
		ix->st = NULL;
	}
}

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
	ix->wgen_seen = st->wgen;
	ix->next = st->ixs;
	st->ixs = ix;
	*out = ix;
	return KTA_OK;
}

void kta_state_index_free(struct kta_state_index *ix)
{
	struct kta_state_index **p;

	if (ix == NULL)
		return;
	/* Rows still buffered belong to the open transaction: write them now,
	 * and if that fails make its commit fail (never lose them silently). */
	if (ix->st != NULL && ix->st->in_tx && ix->st->wb_status == KTA_OK &&
	    (ix->ndirty > 0 || ix->meta_dirty || ix->hc_dirty)) {
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
	ix_drop_cache(ix);
	if (ix->st != NULL && ix->st->last_ix == ix)
		ix->st->last_ix = NULL;
	free(ix->dir);
	free(ix->dir_n);
	free(ix->chunks);
	free(ix->hc);
	free(ix->rc);
	free(ix->pack);
	free(ix->unpacked);
	kta_hasher_free(ix->hasher);
	free(ix->enc);
	free(ix->origin);
	free(ix->label);
	free(ix->keybuf);
	free(ix->blob);
	free(ix);
}

/* Reads one row's blob of table id (S_ROW_GET_*): *found, and a pointer
 * valid until s is reset (the caller resets it). */
static enum kta_status row_get(struct kta_state_index *ix, enum stmt_id id, int64_t key,
			       sqlite3_stmt **sp, const uint8_t **data, size_t *len, int *found,
			       struct kta_error *err)
{
	struct kta_state *st = ix->st;
	sqlite3_stmt *s;
	int rc, n;

	*found = 0;
	if ((*sp = s = stmt(st, id, err)) == NULL)
		return st->last_status;
	bind_text(s, 1, ix->origin);
	sqlite3_bind_int64(s, 2, key);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return KTA_OK;
	if (rc != SQLITE_ROW)
		return db_fail(st, "read label index", err);
	n = sqlite3_column_bytes(s, 0);
	*data = sqlite3_column_blob(s, 0);
	if (n < 0 || (n > 0 && *data == NULL))
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	*len = (size_t)n;
	*found = 1;
	return KTA_OK;
}

/*
 * Before every use of ix: drops a cache another writer made stale, writes
 * the other indexes' dirty data (so that this one's reads see it), and
 * loads the meta row. Creates the meta (a new SipHash key) when `create`.
 */
static enum kta_status ix_prepare(struct kta_state_index *ix, int create, struct kta_error *err)
{
	struct kta_state *st = ix->st;
	enum kta_status r;

	if (st == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "state index: the state is closed");
	if (!st->in_tx) {
		ix_drop_cache(ix); /* nothing is cached across implicit transactions */
	} else if (ix->tx_seen != st->tx_id) {
		sqlite3_int64 dv = 0;

		if ((r = pragma_int(st, "PRAGMA data_version", &dv, err)) != KTA_OK)
			return r;
		if (dv != ix->dv)
			ix_drop_cache(ix);
		ix->dv = dv;
		ix->tx_seen = st->tx_id;
	}
	if (st->last_ix != ix) {
		struct kta_state_index *o;

		for (o = st->ixs; o != NULL; o = o->next)
			if (o != ix && (r = wb_flush(o, err)) != KTA_OK)
				return r;
		if (st->wgen != ix->wgen_seen)
			ix_drop_cache(ix);
		st->last_ix = ix;
		ix->wgen_seen = st->wgen;
		if (st->in_tx)
			ix->tx_seen = st->tx_id;
	}
	if (!ix->meta_loaded) {
		sqlite3_stmt *s = NULL;
		const uint8_t *d = NULL;
		size_t len = 0;
		int found = 0;

		r = row_get(ix, S_ROW_GET_LABELS, LAB_META_BUCKET, &s, &d, &len, &found, err);
		if (r == KTA_OK && found) {
			uint64_t nb = len == LAB_META_LEN ? kta_load64le(d + 16) : 0;
			uint64_t nl = len == LAB_META_LEN ? kta_load64le(d + 24) : 0;

			/* Linear hashing keeps nlabels <= nbuckets * LAB_LOAD and
			 * (nbuckets - 1) * LAB_LOAD < nlabels; checked with room to
			 * spare, so that a damaged row cannot make the bucket table
			 * (sized by nbuckets) or the split loop (run while nlabels is
			 * over) huge. */
			if (len != LAB_META_LEN || nb == 0 || nb > LAB_MAX_BUCKETS ||
			    nl / 2 > nb * LAB_LOAD || (nb - 1) / 2 > nl / LAB_LOAD + 1) {
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "%s: labels of %s: bad meta row", st->path,
						  ix->origin);
			} else {
				ix->k0 = kta_load64le(d);
				ix->k1 = kta_load64le(d + 8);
				ix->nbuckets = kta_load64le(d + 16);
				ix->nlabels = kta_load64le(d + 24);
			}
		}
		if (s != NULL)
			sqlite3_reset(s);
		if (r != KTA_OK)
			return r;
		ix->meta_exists = found;
		ix->meta_loaded = 1;
	}
	if (create && !ix->meta_exists) {
		uint8_t k[16];

		sqlite3_randomness(sizeof(k), k);
		ix->k0 = kta_load64le(k);
		ix->k1 = kta_load64le(k + 8);
		ix->nbuckets = 1;
		ix->nlabels = 0;
		ix->meta_exists = 1;
		ix->meta_dirty = 1;
	}
	return KTA_OK;
}

/* Decodes a labels row into the new cached bucket *bp (it may move): a
 * first pass checks the framing and sizes the bucket once, the second adds
 * (its records next to each other in the record heap). */
static enum kta_status bkt_decode(struct kta_state_index *ix, struct bkt **bp, const uint8_t *d,
				  size_t len, struct kta_error *err)
{
	size_t off = 0, nrec = 0, start = 0, hl = 32;
	enum kta_status r;
	int pass;

	/* this code's rows start with LAB_ROW_TAG and hold no leaf hashes;
	 * schema 4's start with a record and hold them (state.h) */
	if (len > 0 && d[0] == LAB_ROW_TAG) {
		start = 1;
		hl = 0;
	}
	for (pass = 0; pass < 2; pass++) {
		off = start;
		while (off < len) {
			uint64_t ll, ver, leaf, kl, h;
			const char *label;
			const uint8_t *keys;

			if (kta_varint_get(d, len, &off, &ll) != 0 || ll == 0 ||
			    ll > KTA_LABEL_ENCODED_MAX || len - off < ll)
				goto bad;
			label = (const char *)d + off;
			off += (size_t)ll;
			if (kta_varint_get(d, len, &off, &ver) != 0 ||
			    kta_varint_get(d, len, &off, &leaf) != 0 || len - off < hl)
				goto bad;
			off += hl;
			if (kta_varint_get(d, len, &off, &kl) != 0 || len - off < kl)
				goto bad;
			keys = d + off;
			off += (size_t)kl;
			if (pass == 0) {
				nrec++;
				continue;
			}
			h = lab_hash(ix, label, (size_t)ll);
			if (lab_addr(h, ix->nbuckets) != (*bp)->id)
				goto bad; /* in the wrong bucket: not what this code wrote */
			if ((r = bkt_add(ix, bp, h, label, (size_t)ll, ver, leaf, keys, (size_t)kl,
					 err)) != KTA_OK)
				return r;
		}
		if (pass == 0 && (r = bkt_reserve(ix, bp, nrec, err)) != KTA_OK)
			return r;
	}
	return KTA_OK;
bad:
	return kta_error_set(err, KTA_ERR_MALFORMED,
			     "%s: labels of %s: bucket %" PRIu64 " bad at byte %zu", ix->st->path,
			     ix->origin, (*bp)->id, off);
}

/* The cached bucket id, loaded from SQLite if needed; most recently used. */
static enum kta_status bkt_get(struct kta_state_index *ix, uint64_t id, struct bkt **out,
			       struct kta_error *err)
{
	struct bkt *b = bkt_find(ix, id);
	sqlite3_stmt *s = NULL;
	const uint8_t *d = NULL;
	size_t len = 0;
	int found = 0;
	enum kta_status r;

	if (b != NULL) {
		b->ref = 1; /* no list relinking on a hit (CLOCK) */
		*out = b;
		return KTA_OK;
	}
	if (id > (uint64_t)INT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state: too many label buckets");
	if ((r = bkt_new(ix, id, 0, &b, err)) != KTA_OK)
		return r;
	r = row_get(ix, S_ROW_GET_LABELS, (int64_t)id, &s, &d, &len, &found, err);
	if (r == KTA_OK && found)
		r = bkt_decode(ix, &b, d, len, err);
	if (s != NULL)
		sqlite3_reset(s);
	if (r != KTA_OK) {
		bkt_drop(ix, b, 1);
		return r;
	}
	*out = b;
	return KTA_OK;
}

/* Finds label: *b its bucket, *idx its record or -1. */
static enum kta_status lab_find(struct kta_state_index *ix, const char *label, size_t ll,
				uint64_t *h, struct bkt **b, long *idx, struct kta_error *err)
{
	enum kta_status r;

	if (ix->hint_valid && ix->hint_ll == ll && memcmp(ix->label, label, ll) == 0) {
		/* the put after a get of the same label */
		*h = ix->hint_h;
		if (ix->hint_pos) {
			*b = ix->hint_b;
			*idx = ix->hint_i;
			return KTA_OK;
		}
	} else {
		*h = lab_hash_memo(ix, label, ll);
	}
	if ((r = bkt_get(ix, lab_addr(*h, ix->nbuckets), b, err)) != KTA_OK)
		return r;
	*idx = bkt_lookup(*b, *h, label, ll);
	return KTA_OK;
}

/* One linear-hashing split: bucket nbuckets - 2^floor(log2 nbuckets) into
 * itself and the new bucket nbuckets. */
static enum kta_status lab_split(struct kta_state_index *ix, struct kta_error *err)
{
	uint64_t n = ix->nbuckets, lvl = 1;
	struct bkt *from, *to;
	uint32_t i, j, moving = 0, bit;
	enum kta_status r;

	/* beyond, buckets only grow (a split tests a bit of the low half) */
	if (n >= LAB_MAX_BUCKETS)
		return KTA_OK;
	while (lvl * 2 <= n)
		lvl *= 2;
	if ((r = bkt_get(ix, n - lvl, &from, err)) != KTA_OK)
		return r;
	/* bucket n has never been written (buckets only grow) */
	if (bkt_find(ix, n) != NULL)
		return kta_error_set(err, KTA_ERR_INTERNAL,
				     "state: label bucket %" PRIu64 " already cached", n);
	/* the records whose hash has bit lvl set move (lab_addr); sized first,
	 * so that nothing can fail once they move */
	bit = (uint32_t)lvl;
	for (i = 0; i < from->n; i++)
		moving += (BKT_LOWS(from)[i] & bit) != 0;
	if ((r = bkt_new(ix, n, moving, &to, err)) != KTA_OK)
		return r;
	ix->hint_pos = 0; /* records of `from` move */
	for (i = 0, j = 0; i < from->n; i++) {
		if ((BKT_LOWS(from)[i] & bit) != 0) {
			to->tags[to->n] = from->tags[i];
			BKT_LOWS(to)[to->n] = BKT_LOWS(from)[i];
			REC(to, to->n) = REC(from, i);
			to->n++;
		} else {
			from->tags[j] = from->tags[i];
			BKT_LOWS(from)[j] = BKT_LOWS(from)[i];
			REC(from, j) = REC(from, i);
			j++;
		}
	}
	from->n = j;
	bkt_dirty(ix, from);
	bkt_dirty(ix, to);
	ix->nbuckets = n + 1;
	ix->meta_dirty = 1;
	return KTA_OK;
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
	memcpy(ix->label, label, ll);
	ix->label[ll] = '\0';
	return KTA_OK;
}

static enum kta_status ix_get(void *ctx, const char *label, int *found, struct kta_label_state *out,
			      struct kta_error *err)
{
	struct kta_state_index *ix = ctx;
	enum kta_status r;
	size_t ll = strlen(label), nkeys = 0;
	struct kta_entry_key *keys = NULL;
	const struct lrec *rec;
	struct bkt *b;
	uint64_t h;
	long i;

	*found = 0;
	if ((r = ix_prepare(ix, 0, err)) != KTA_OK)
		return r;
	if (!ix->meta_exists || ll == 0)
		return KTA_OK;
	if ((r = lab_find(ix, label, ll, &h, &b, &i, err)) != KTA_OK)
		return r;
	if (ix->label != label) {
		ix->hint_valid = ix->hint_pos = 0;
		if ((r = keep_label(ix, label, ll, err)) != KTA_OK)
			return r;
	}
	ix->hint_valid = ix->hint_pos = 1;
	ix->hint_ll = ll;
	ix->hint_h = h;
	ix->hint_b = b;
	ix->hint_i = i;
	if (i >= 0) {
		rec = REC(b, i);
		if ((r = keys_decode(rec->data + rec->label_len, rec->keys_len, &ix->keybuf,
				     &ix->keybuf_cap, &keys, &nkeys, err)) != KTA_OK)
			return r;
		out->version = rec->version;
		out->leaf_index = rec->leaf;
		memset(out->entry_hash, 0, 32); /* not kept: ix_entry_hash */
		out->label = ix->label;
		out->keys = keys;
		out->nkeys = nkeys;
		out->entry = NULL;
		out->entry_len = 0;
		out->parsed = NULL;
		*found = 1;
	}
	return ix_evict(ix, NULL, err);
}

/* Loads, once per cache life, the origin's last history chunk (appends to
 * it continue it) and its last leaf. */
static enum kta_status hist_load(struct kta_state_index *ix, struct kta_error *err)
{
	struct kta_state *st = ix->st;
	sqlite3_stmt *s;
	enum kta_status r = KTA_OK;
	int rc;

	if (ix->hist_loaded)
		return KTA_OK;
	ix->hc_valid = ix->hc_dirty = 0;
	ix->hc_len = 0;
	ix->h_any = 0;
	if ((s = stmt(st, S_HIST_LAST, err)) == NULL)
		return st->last_status;
	bind_text(s, 1, ix->origin);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 c = sqlite3_column_int64(s, 0);
		const uint8_t *d = sqlite3_column_blob(s, 1);
		int n = sqlite3_column_bytes(s, 1);
		size_t off = 0, last = 0;

		if (c < 0 || n <= 0 || d == NULL) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: bad label_history row",
					  st->path);
			goto out;
		}
		/* find its last record */
		while (off < (size_t)n) {
			uint64_t ver, prev, el, delta;

			if (kta_varint_get(d, (size_t)n, &off, &delta) != 0 ||
			    (size_t)n - off < 1 || delta > (uint64_t)INT64_MAX - (uint64_t)c)
				goto bad_chunk;
			last = (size_t)delta;
			off += 1;
			if (kta_varint_get(d, (size_t)n, &off, &ver) != 0 ||
			    kta_varint_get(d, (size_t)n, &off, &prev) != 0 ||
			    kta_varint_get(d, (size_t)n, &off, &el) != 0 || (size_t)n - off < el) {
			bad_chunk:
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "%s: label_history chunk %lld bad at byte %zu",
						  st->path, (long long)c, off);
				goto out;
			}
			off += (size_t)el;
		}
		if ((size_t)n > ix->hc_cap) {
			uint8_t *nb = realloc(ix->hc, (size_t)n);

			if (nb == NULL) {
				r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
				goto out;
			}
			ix->hc = nb;
			ix->hc_cap = (size_t)n;
		}
		memcpy(ix->hc, d, (size_t)n);
		ix->hc_len = (size_t)n;
		ix->hc_id = (uint64_t)c;
		ix->hc_valid = 1;
		ix->h_any = 1;
		ix->h_last = (uint64_t)c + last;
	} else if (rc != SQLITE_DONE) {
		r = db_fail(st, "read label history", err);
		goto out;
	}
	ix->hist_loaded = 1;
out:
	sqlite3_reset(s);
	return r;
}

/* Leaves are appended in increasing order: a leaf at or below the last one
 * in the history would be a leaf replayed twice (a bug, never overwritten). */
static enum kta_status hist_check(const struct kta_state_index *ix, const char *label,
				  uint64_t leaf, struct kta_error *err)
{
	if (ix->h_any && leaf <= ix->h_last)
		return kta_error_set(err, KTA_ERR_IO,
				     "%s: label %s leaf %" PRIu64 ": not after leaf %" PRIu64
				     " already in the history (a leaf replayed twice?)",
				     ix->st->path, label, leaf, ix->h_last);
	return KTA_OK;
}

/*
 * Packs parsed, the parse of (entry, elen), into ix->pack behind the first
 * HIST_CHECK_LEN bytes of its leaf hash: *plen, or 0 to keep the raw bytes
 * (no parse, or one that visibly is not theirs: another version or length).
 * A parse of other bytes of the same length breaks the caller's contract
 * (replay.h); hist_unpack then refuses the record, it is never shown as the
 * entry. (A full comparison, spelling the parse again, costs ~1,090
 * instructions per entry, more than half of what packing saves.)
 */
static enum kta_status hist_pack(struct kta_state_index *ix, const struct kta_entry *parsed,
				 uint64_t version, size_t elen, const uint8_t entry_hash[32],
				 size_t *plen, struct kta_error *err)
{
	size_t n = 0;

	*plen = 0;
	if (parsed == NULL || elen <= HIST_CHECK_LEN || parsed->version != version ||
	    kta_entry_spelled_len(parsed) != elen)
		return KTA_OK;
	if (ix->pack == NULL && (ix->pack = malloc(KTA_ENTRY_MAX_SIZE)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
	memcpy(ix->pack, entry_hash, HIST_CHECK_LEN);
	/* with the check bytes, no longer than the text (else kept as text) */
	if (kta_entry_pack(parsed, ix->pack + HIST_CHECK_LEN, elen - HIST_CHECK_LEN, &n, NULL) ==
	    KTA_OK)
		*plen = HIST_CHECK_LEN + n;
	return KTA_OK;
}

/* Appends one history record (state.h "label_history row") for leaf: the
 * entry packed when hist_pack takes it, else its bytes. */
static enum kta_status hist_append(struct kta_state_index *ix, const char *label, uint64_t leaf,
				   uint64_t version, enum kta_auth_result auth, int has_prev,
				   uint64_t prev, const uint8_t *entry, size_t elen,
				   const struct kta_entry *parsed, const uint8_t entry_hash[32],
				   struct kta_error *err)
{
	size_t need, plen = 0;
	enum kta_status r;

	if ((r = hist_check(ix, label, leaf, err)) != KTA_OK ||
	    (r = hist_pack(ix, parsed, version, elen, entry_hash, &plen, err)) != KTA_OK)
		return r;
	if (plen > 0) {
		entry = ix->pack;
		elen = plen;
	}
	need = 1 + 4 * KTA_VARINT_MAX + elen;
	if (ix->hc_valid && ix->hc_len > 0 && ix->hc_len + need > HIST_CHUNK_BYTES) {
		/* close the chunk; the next one is keyed by its first leaf */
		if ((r = hist_write(ix, err)) != KTA_OK)
			return r;
		ix->hc_valid = 0;
	}
	if (!ix->hc_valid) {
		ix->hc_id = leaf;
		ix->hc_len = 0;
		ix->hc_valid = 1;
	}
	need += ix->hc_len;
	if (need > ix->hc_cap) {
		size_t nc = ix->hc_cap < 4096 ? 4096 : ix->hc_cap;
		uint8_t *nb;

		while (nc < need)
			nc *= 2;
		if ((nb = realloc(ix->hc, nc)) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
		ix->hc = nb;
		ix->hc_cap = nc;
	}
	ix->hc_len += kta_varint_put(ix->hc + ix->hc_len, leaf - ix->hc_id);
	ix->hc[ix->hc_len++] = (uint8_t)((unsigned)auth | (plen > 0 ? HIST_PACKED : 0u));
	ix->hc_len += kta_varint_put(ix->hc + ix->hc_len, version);
	ix->hc_len += kta_varint_put(ix->hc + ix->hc_len, has_prev ? prev + 1 : 0);
	ix->hc_len += kta_varint_put(ix->hc + ix->hc_len, elen);
	memcpy(ix->hc + ix->hc_len, entry, elen);
	ix->hc_len += elen;
	ix->hc_dirty = 1;
	ix->h_any = 1;
	ix->h_last = leaf;
	return KTA_OK;
}

/*
 * Sets label's state in the cache (no history): updates its record or adds
 * it (and splits while the average bucket is over LAB_LOAD). *had_prev and
 * *prev: the label's previous leaf.
 */
static enum kta_status lab_set(struct kta_state_index *ix, const char *label, size_t ll,
			       uint64_t version, uint64_t leaf, const uint8_t *keys, size_t kl,
			       int *had_prev, uint64_t *prev, struct kta_error *err)
{
	struct bkt *b;
	struct lrec *rec;
	uint64_t h;
	long i;
	enum kta_status r;

	*had_prev = 0;
	if ((r = lab_find(ix, label, ll, &h, &b, &i, err)) != KTA_OK)
		return r;
	ix->hint_pos = 0; /* the label's record changes or appears */
	if (i >= 0) {
		if (kl > UINT16_MAX)
			return kta_error_set(err, KTA_ERR_LIMIT, "state: label record too large");
		rec = REC(b, i);
		*had_prev = 1;
		*prev = rec->leaf;
		if (ll + kl > rec->cap) {
			/* outgrown: a new copy in the record heap, the old one dead */
			struct lrec *nr = NULL;

			if ((r = rec_alloc(ix, REC_SIZE(ll + kl), &nr, err)) != KTA_OK)
				return r;
			memcpy(nr, rec, REC_HEAD + ll);
			nr->cap = (uint32_t)(ll + kl);
			REC(b, i) = nr;
			rec_free(ix, rec);
			rec = nr;
		}
		rec->version = version;
		rec->leaf = leaf;
		rec->keys_len = (uint16_t)kl;
		if (kl > 0)
			memcpy(rec->data + ll, keys, kl);
		bkt_dirty(ix, b);
	} else {
		if ((r = bkt_add(ix, &b, h, label, ll, version, leaf, keys, kl, err)) != KTA_OK)
			return r;
		bkt_dirty(ix, b);
		ix->nlabels++;
		ix->meta_dirty = 1;
		while (ix->nlabels > ix->nbuckets * LAB_LOAD && ix->nbuckets < LAB_MAX_BUCKETS)
			if ((r = lab_split(ix, err)) != KTA_OK)
				return r;
	}
	return KTA_OK;
}

static enum kta_status ix_put(void *ctx, const struct kta_label_state *ls,
			      enum kta_auth_result auth, struct kta_error *err)
{
	struct kta_state_index *ix = ctx;
	struct kta_state *st = ix->st;
	size_t need = 0, i, off = 0, ll;
	uint64_t prev = 0;
	int own = 0, had_prev = 0;
	enum kta_status r;

	if (st == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "state index: the state is closed");
	if (ls->entry == NULL || ls->entry_len == 0 || ls->entry_len > KTA_ENTRY_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_USAGE, "state index: put without entry bytes");
	if (ls->label == NULL || (ll = strlen(ls->label)) == 0 || ll > KTA_LABEL_ENCODED_MAX)
		return kta_error_set(err, KTA_ERR_USAGE, "state index: bad label");
	if (ls->version > (uint64_t)INT64_MAX || ls->leaf_index > (uint64_t)INT64_MAX - 1)
		return kta_error_set(err, KTA_ERR_LIMIT, "state index: version or leaf too large");
	/* Encode the keys into the reusable buffer (no allocation once warm). */
	for (i = 0; i < ls->nkeys; i++) {
		size_t d = strlen(ls->keys[i].device);

		if (d == 0 || d > KTA_DEVICE_MAX_LEN)
			return kta_error_set(err, KTA_ERR_USAGE, "state index: bad device name");
		need += 34 + d;
	}
	if (need > INT_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "state index: key set too large");
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
	if ((r = tx_enter(st, &own, err)) != KTA_OK)
		return r;
	if ((r = ix_prepare(ix, 1, err)) != KTA_OK || (r = hist_load(ix, err)) != KTA_OK)
		goto out;
	/* refused before anything changes */
	if ((r = hist_check(ix, ls->label, ls->leaf_index, err)) != KTA_OK)
		goto out;
	if ((r = lab_set(ix, ls->label, ll, ls->version, ls->leaf_index, ix->blob, need, &had_prev,
			 &prev, err)) != KTA_OK ||
	    (r = hist_append(ix, ls->label, ls->leaf_index, ls->version, auth, had_prev, prev,
			     ls->entry, ls->entry_len, ls->parsed, ls->entry_hash, err)) !=
		KTA_OK ||
	    (r = ix_evict(ix, NULL, err)) != KTA_OK)
		goto out;
out:
	return tx_leave(st, own, r, err);
}

/* The cached bucket of the label announced `back` calls ago (its bucket
 * now: splits may have moved it since), or NULL. */
static const struct bkt *pf_back(const struct kta_state_index *ix, uint64_t back)
{
	if (ix->pf_n <= back)
		return NULL;
	return bkt_find(ix, lab_addr(ix->pf[(ix->pf_n - 1 - back) % PF_RING].h, ix->nbuckets));
}

#define PF_LINE 64u

/* Prefetches the lines of bytes [from, to) of an allocation p of cap bytes. */
static void pf_span(const uint8_t *p, size_t from, size_t to, size_t cap)
{
	if (to > cap)
		to = cap;
	for (; from < to; from += PF_LINE)
		__builtin_prefetch(p + from);
}

/* The index of tag in b's tags, or b->n. */
static uint32_t pf_tag(const struct bkt *b, uint32_t tag)
{
	uint32_t i;

	for (i = 0; i < b->n && b->tags[i] != tag; i++)
		;
	return i;
}

/*
 * The replay's prefetch (replay.h): a get misses the CPU caches a few times
 * in a row (directory entry, bucket header, tags, record pointer, record:
 * each address read from the one before). Each call starts the first step for this
 * label and the next step for the labels announced before it, so the
 * misses of several labels overlap and the get finds its lines cached.
 * Reads only the cache's memory (a bucket is found again by id at each
 * step: it may have moved or been evicted since); no SQLite, no change.
 */
static void ix_prefetch(void *ctx, const char *label)
{
	struct kta_state_index *ix = ctx;
	struct pf_label *pl;
	const struct bkt *b;
	uint64_t id, p;
	size_t ll;

	if (ix->st == NULL || !ix->meta_loaded || !ix->meta_exists || ix->nbkt == 0)
		return;
	ll = strlen(label);
	pl = &ix->pf[ix->pf_n++ % PF_RING];
	pl->h = lab_hash(ix, label, ll);
	pl->ll = 0;
	if (ll > 0 && ll <= PF_LABEL_MAX) {
		memcpy(pl->label, label, ll);
		pl->ll = (uint16_t)ll;
		pl->head = pf_head(label, ll);
	}
	id = lab_addr(pl->h, ix->nbuckets);
	p = id >> DIR_SHIFT;
	if (p < ix->ndir && ix->dir[p] != NULL)
		__builtin_prefetch(&ix->dir[p][(size_t)id & (DIR_PAGE - 1)]);
	/* (new records go to the end of the newest chunk: always cached) */
	if ((b = pf_back(ix, PF_HEAD)) != NULL) {
		/* the header (written: the CLOCK bit, the count) and first tags:
		 * every bucket has room for 8 */
		__builtin_prefetch(b, 1);
		pf_span((const uint8_t *)b, PF_LINE, sizeof(*b) + 8 * sizeof(uint32_t),
			BKT_BYTES(8));
	}
	if ((b = pf_back(ix, PF_TAGS)) != NULL) {
		pf_span((const uint8_t *)b, sizeof(*b) + 8 * sizeof(uint32_t),
			sizeof(*b) + (size_t)b->n * sizeof(uint32_t), BKT_BYTES(b->cap));
		/* where a new label's tag and pointer would go */
		if (b->n < b->cap) {
			__builtin_prefetch(&b->tags[b->n], 1);
			__builtin_prefetch(&BKT_LOWS(b)[b->n], 1);
			__builtin_prefetch(&REC(b, b->n), 1);
		}
	}
	if ((b = pf_back(ix, PF_REF)) != NULL) {
		uint32_t i = pf_tag(b, TAG(ix->pf[(ix->pf_n - 1 - PF_REF) % PF_RING].h));

		if (i < b->n)
			__builtin_prefetch(&REC(b, i));
	}
	if ((b = pf_back(ix, PF_REC)) != NULL) {
		uint32_t i = pf_tag(b, TAG(ix->pf[(ix->pf_n - 1 - PF_REC) % PF_RING].h));

		if (i < b->n) {
			const uint8_t *r = (const uint8_t *)REC(b, i);

			/* its head, label and first key: not past its chunk */
			pf_span(r, 0, 3 * PF_LINE,
				CHUNK_BYTES - ((uintptr_t)r & (uintptr_t)(CHUNK_BYTES - 1)));
		}
	}
}

enum kta_status kta_state_label_count(struct kta_state *st, const char *origin, uint64_t *out,
				      struct kta_error *err)
{
	sqlite3_stmt *s;
	enum kta_status r = KTA_ERR_IO;
	int rc;

	*out = 0;
	/* Buffered index rows first. */
	if ((r = wb_flush_all(st, err)) != KTA_OK)
		return r;
	if ((s = prep(st, "SELECT data FROM labels WHERE origin = ?1 AND bucket = -1", err)) ==
	    NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const uint8_t *d = sqlite3_column_blob(s, 0);

		if (d == NULL || sqlite3_column_bytes(s, 0) != LAB_META_LEN)
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: labels of %s: bad meta row",
					  st->path, origin);
		else
			*out = kta_load64le(d + 24);
		r = r == KTA_ERR_IO ? KTA_OK : r;
	} else if (rc == SQLITE_DONE) {
		r = KTA_OK;
	} else {
		r = db_fail(st, "count labels", err);
	}
	sqlite3_finalize(s);
	return r;
}

/* One history record found by hist_read (entry borrowed from ix->hc or
 * ix->rc, or from ix->unpacked when it was packed). */
struct hrec {
	uint64_t version;
	enum kta_auth_result auth;
	int packed; /* entry is in the packed form (hist_read unpacks it) */
	int hashed; /* hash holds the entry's leaf hash (hist_unpack checked it) */
	uint8_t hash[32];
	int has_prev;
	uint64_t prev;
	const uint8_t *entry;
	size_t entry_len;
};

/*
 * Rebuilds the text of the packed entry out->entry (state.h: the first
 * HIST_CHECK_LEN bytes of its leaf hash, then kta_entry_pack's form) into
 * ix->unpacked, which out then borrows; a text whose leaf hash does not
 * start with those bytes is refused (a damaged record, or a packing that
 * does not round-trip: never shown as the entry).
 */
static enum kta_status hist_unpack(struct kta_state_index *ix, uint64_t leaf, struct hrec *out,
				   struct kta_error *err)
{
	struct kta_error ue;
	uint8_t *text = NULL;
	size_t tlen = 0;
	enum kta_status r;

	kta_error_clear(&ue);
	if (ix->hasher == NULL && (r = kta_hasher_new(&ix->hasher, err)) != KTA_OK)
		return r;
	if ((r = kta_entry_unpack(out->entry + HIST_CHECK_LEN, out->entry_len - HIST_CHECK_LEN,
				  out->version, &text, &tlen, &ue)) != KTA_OK)
		return kta_error_set(err, r, "%s: label_history of %s: leaf %" PRIu64 ": %s",
				     ix->st->path, ix->origin, leaf, ue.msg);
	kta_hash_leaf(ix->hasher, text, tlen, out->hash);
	if (kta_hasher_failed(ix->hasher)) {
		free(text);
		return kta_error_set(err, KTA_ERR_INTERNAL, "state: SHA-256 failed");
	}
	if (memcmp(out->hash, out->entry, HIST_CHECK_LEN) != 0) {
		free(text);
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "%s: label_history of %s: leaf %" PRIu64
				     ": the packed entry does not rebuild the entry logged",
				     ix->st->path, ix->origin, leaf);
	}
	free(ix->unpacked);
	ix->unpacked = text;
	out->entry = text;
	out->entry_len = tlen;
	out->hashed = 1;
	return KTA_OK;
}

/* Finds leaf's record in chunk c (its first leaf id, len bytes) into *out:
 * 1, 0 when c has none, -1 when c is damaged. */
static int hist_scan(const uint8_t *c, size_t len, uint64_t id, uint64_t leaf, struct hrec *out)
{
	size_t off = 0;

	while (off < len) {
		uint64_t delta, p1, el;
		uint8_t a;

		if (kta_varint_get(c, len, &off, &delta) != 0 || len - off < 1)
			return -1;
		a = c[off++];
		if (kta_varint_get(c, len, &off, &out->version) != 0 ||
		    kta_varint_get(c, len, &off, &p1) != 0 ||
		    kta_varint_get(c, len, &off, &el) != 0 || len - off < el || el == 0 ||
		    (a & ~HIST_PACKED) > KTA_AUTH_PREV_UNKNOWN || p1 > leaf ||
		    ((a & HIST_PACKED) != 0 && el <= HIST_CHECK_LEN))
			return -1;
		if (delta == leaf - id) {
			out->auth = (enum kta_auth_result)(a & ~HIST_PACKED);
			out->has_prev = p1 != 0;
			out->prev = p1 != 0 ? p1 - 1 : 0;
			out->packed = (a & HIST_PACKED) != 0;
			out->hashed = 0;
			out->entry = c + off;
			out->entry_len = (size_t)el;
			return 1;
		}
		if (delta > leaf - id)
			return 0;
		off += (size_t)el;
	}
	return 0;
}

/*
 * Reads the history record of leaf into *out. The chunk being appended to
 * (ix->hc, the origin's newest, maybe not yet written) is read in place;
 * an older one is loaded into ix->rc, so a replay may read its history
 * while it appends (ix_entry_hash).
 */
static enum kta_status hist_read(struct kta_state_index *ix, uint64_t leaf, struct hrec *out,
				 struct kta_error *err)
{
	struct kta_state *st = ix->st;
	int found = 0, loaded = 0;

	if (leaf > (uint64_t)INT64_MAX)
		goto bad;
	if (ix->hc_valid && ix->hc_id <= leaf) {
		found = hist_scan(ix->hc, ix->hc_len, ix->hc_id, leaf, out);
		goto done;
	}
again:
	if (!ix->rc_valid || ix->rc_id > leaf) {
		sqlite3_stmt *s;
		const uint8_t *d;
		int rc, n;
		sqlite3_int64 c;
		enum kta_status r = KTA_OK;

		loaded = 1;
		ix->rc_valid = 0;
		if ((s = stmt(st, S_ROW_GET_HIST, err)) == NULL)
			return st->last_status;
		bind_text(s, 1, ix->origin);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)leaf);
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			r = rc == SQLITE_DONE ? KTA_OK : db_fail(st, "read label history", err);
			sqlite3_reset(s);
			if (r != KTA_OK)
				return r;
			goto bad;
		}
		c = sqlite3_column_int64(s, 0);
		d = sqlite3_column_blob(s, 1);
		n = sqlite3_column_bytes(s, 1);
		if (c < 0 || n <= 0 || d == NULL) {
			sqlite3_reset(s);
			goto bad;
		}
		if ((size_t)n > ix->rc_cap) {
			uint8_t *nb = realloc(ix->rc, (size_t)n);

			if (nb == NULL)
				r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
			else {
				ix->rc = nb;
				ix->rc_cap = (size_t)n;
			}
		}
		if (r == KTA_OK)
			memcpy(ix->rc, d, (size_t)n);
		sqlite3_reset(s);
		if (r != KTA_OK)
			return r;
		ix->rc_len = (size_t)n;
		ix->rc_id = (uint64_t)c;
		ix->rc_valid = 1;
	}
	found = hist_scan(ix->rc, ix->rc_len, ix->rc_id, leaf, out);
	if (found == 0 && !loaded) {
		/* the cached chunk ends before leaf: read the right one */
		ix->rc_valid = 0;
		goto again;
	}
done:
	if (found == 1)
		return out->packed ? hist_unpack(ix, leaf, out, err) : KTA_OK;
bad:
	return kta_error_set(err, KTA_ERR_MALFORMED,
			     "%s: label_history of %s: no valid record for leaf %" PRIu64, st->path,
			     ix->origin, leaf);
}

/*
 * The leaf hash of label's entry at leaf, the one its get returned. Label
 * records keep none (32 bytes a label, in memory and on disk): a replay asks
 * only when an entry repeats its label's version, so it is rebuilt from the
 * history record, which must be that label's entry, version and leaf.
 */
static enum kta_status ix_entry_hash(void *ctx, const char *label, uint64_t version, uint64_t leaf,
				     uint8_t out[32], struct kta_error *err)
{
	struct kta_state_index *ix = ctx;
	struct kta_entry *e = NULL;
	struct kta_error perr;
	struct hrec hr;
	enum kta_status r;

	if (ix->st == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "state index: the state is closed");
	if ((r = ix_prepare(ix, 0, err)) != KTA_OK || (r = hist_read(ix, leaf, &hr, err)) != KTA_OK)
		return r;
	kta_error_clear(&perr);
	if (kta_entry_parse(hr.entry, hr.entry_len, &e, &perr) != KTA_OK ||
	    strcmp(e->label, label) != 0 || e->version != version || hr.version != version) {
		kta_entry_free(e);
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "%s: label_history of %s: leaf %" PRIu64
				     " is not version %" PRIu64 " of %s%s%s",
				     ix->st->path, ix->origin, leaf, version, label,
				     perr.msg[0] ? ": " : "", perr.msg);
	}
	kta_entry_free(e);
	/* a packed record's hash was computed by its unpacking check */
	if (hr.hashed) {
		memcpy(out, hr.hash, 32);
		return KTA_OK;
	}
	if (ix->hasher == NULL && (r = kta_hasher_new(&ix->hasher, err)) != KTA_OK)
		return r;
	kta_hash_leaf(ix->hasher, hr.entry, hr.entry_len, out);
	if (kta_hasher_failed(ix->hasher))
		return kta_error_set(err, KTA_ERR_INTERNAL, "state: SHA-256 failed");
	return KTA_OK;
}

struct kta_replay_index kta_state_index_ops(struct kta_state_index *ix)
{
	/* members not named are zero (NULL) */
	return (struct kta_replay_index){.ctx = ix,
					 .get = ix_get,
					 .put = ix_put,
					 .prefetch = ix_prefetch,
					 .entry_hash = ix_entry_hash};
}

/*
 * Schema 1 -> 2, inside check_schema's transaction: the row-per-label and
 * row-per-entry tables are rewritten as buckets and chunks (the chain of a
 * label's history records is its entries in leaf order, LAG()).
 */
static enum kta_status migrate_v1(struct kta_state *st, struct kta_error *err)
{
	static const char rename_sql[] =
	    "ALTER TABLE labels RENAME TO labels_v1;"
	    "ALTER TABLE label_history RENAME TO label_history_v1;" LABEL_TABLES_SQL;
	sqlite3_stmt *so = NULL, *sh = NULL, *sl = NULL;
	struct kta_state_index *ix = NULL;
	enum kta_status r;
	int rc;

	if ((r = db_exec(st, rename_sql, err)) != KTA_OK)
		return r;
	st->in_tx = 1; /* the caller's BEGIN IMMEDIATE: lets the indexes cache */
	st->tx_id++;
	if ((so = prep(st,
		       "SELECT origin FROM labels_v1 UNION SELECT origin FROM label_history_v1 "
		       "ORDER BY 1",
		       err)) == NULL ||
	    (sh = prep(st,
		       "SELECT leaf_index, label, version, entry, auth, LAG(leaf_index) OVER "
		       "(PARTITION BY label ORDER BY leaf_index) FROM label_history_v1 "
		       "WHERE origin = ?1 ORDER BY leaf_index",
		       err)) == NULL ||
	    (sl = prep(st,
		       "SELECT label, version, leaf_index, entry_hash, keys FROM labels_v1 "
		       "WHERE origin = ?1",
		       err)) == NULL) {
		r = st->last_status;
		goto out;
	}
	while ((rc = sqlite3_step(so)) == SQLITE_ROW) {
		const char *origin = (const char *)sqlite3_column_text(so, 0);

		if (origin == NULL) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: schema 1: bad origin",
					  st->path);
			goto out;
		}
		if ((r = kta_state_index_new(st, origin, &ix, err)) != KTA_OK ||
		    (r = ix_prepare(ix, 1, err)) != KTA_OK || (r = hist_load(ix, err)) != KTA_OK)
			goto out;
		sqlite3_reset(sh);
		bind_text(sh, 1, origin);
		while ((rc = sqlite3_step(sh)) == SQLITE_ROW) {
			uint64_t leaf, ver, prev = 0;
			const char *label = (const char *)sqlite3_column_text(sh, 1);
			const uint8_t *entry = sqlite3_column_blob(sh, 3);
			int el = sqlite3_column_bytes(sh, 3);
			const char *an = (const char *)sqlite3_column_text(sh, 4);
			enum kta_auth_result auth;
			int has_prev = sqlite3_column_type(sh, 5) != SQLITE_NULL;

			if (col_u64(sh, 0, &leaf) != 0 || col_u64(sh, 2, &ver) != 0 ||
			    label == NULL || entry == NULL || el <= 0 || an == NULL ||
			    kta_replay_auth_parse(an, &auth) != KTA_OK ||
			    (has_prev && col_u64(sh, 5, &prev) != 0)) {
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "%s: schema 1: bad label_history row", st->path);
				goto out;
			}
			if ((r = hist_append(ix, label, leaf, ver, auth, has_prev, prev, entry,
					     (size_t)el, NULL, NULL, err)) != KTA_OK)
				goto out;
		}
		if (rc != SQLITE_DONE) {
			r = db_fail(st, "schema 1: read label_history", err);
			goto out;
		}
		sqlite3_reset(sl);
		bind_text(sl, 1, origin);
		while ((rc = sqlite3_step(sl)) == SQLITE_ROW) {
			uint64_t leaf, ver, prev = 0;
			const char *label = (const char *)sqlite3_column_text(sl, 0);
			const uint8_t *eh = sqlite3_column_blob(sl, 3);
			const uint8_t *keys = sqlite3_column_blob(sl, 4);
			int kl = sqlite3_column_bytes(sl, 4), had = 0;
			uint8_t lh[32];

			if (label == NULL || *label == '\0' || col_u64(sl, 1, &ver) != 0 ||
			    col_u64(sl, 2, &leaf) != 0 || eh == NULL ||
			    sqlite3_column_bytes(sl, 3) != 32 || kl < 0) {
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "%s: schema 1: bad labels row", st->path);
				goto out;
			}
			/* the record keeps no entry hash now: the history must
			 * rebuild the one schema 1 kept */
			if ((r = lab_set(ix, label, strlen(label), ver, leaf, keys, (size_t)kl,
					 &had, &prev, err)) != KTA_OK ||
			    (r = ix_entry_hash(ix, label, ver, leaf, lh, err)) != KTA_OK ||
			    (r = ix_evict(ix, NULL, err)) != KTA_OK)
				goto out;
			if (!kta_ct_equal(lh, eh, 32)) {
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "%s: schema 1: %s: the history's entry at leaf "
						  "%" PRIu64 " is not the one its label row names",
						  st->path, label, leaf);
				goto out;
			}
		}
		if (rc != SQLITE_DONE) {
			r = db_fail(st, "schema 1: read labels", err);
			goto out;
		}
		if ((r = wb_flush(ix, err)) != KTA_OK)
			goto out;
		kta_state_index_free(ix);
		ix = NULL;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(st, "schema 1: read origins", err);
		goto out;
	}
	sqlite3_finalize(so);
	sqlite3_finalize(sh);
	sqlite3_finalize(sl);
	so = sh = sl = NULL;
	r = db_exec(st, "DROP TABLE labels_v1; DROP TABLE label_history_v1", err);
out:
	sqlite3_finalize(so);
	sqlite3_finalize(sh);
	sqlite3_finalize(sl);
	kta_state_index_free(ix);
	wb_discard_all(st);
	st->in_tx = 0;
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
	sqlite3_stmt *s;
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
	if ((s = stmt(st, keep_added ? S_WATCH_KEEP : S_WATCH_NEW, err)) == NULL) {
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
	/* Every use binds all parameters again (stmt); cleared anyway, so
	 * that none points at the freed blob meanwhile. */
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
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
		return kta_error_wrap(err, r, "watch: label");
	if (mode == KTA_WATCH_PINNED) {
		if ((r = keys_canonical(keys, nkeys, err)) != KTA_OK)
			return kta_error_wrap(err, r, "watch: pinned keys");
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
	int row = 0;

	*found = 0;
	*out = NULL;
	snprintf(sql, sizeof(sql), "%s WHERE origin = ?1 AND label = ?2", watch_cols);
	if ((s = prep(st, sql, err)) == NULL)
		return st->last_status;
	bind_text(s, 1, origin);
	bind_text(s, 2, label);
	/* r is KTA_OK when there is no row */
	if ((r = step_one(st, s, "read watch", &row, err)) != KTA_OK || !row)
		goto out;
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
	struct kta_state_watch *w = NULL;
	struct kta_state_history_item *h = NULL;
	struct kta_entry *e = NULL;
	enum kta_status r;
	size_t nh = 0, i;
	int found = 0, own = 0;
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
	if (version > (uint64_t)INT64_MAX) {
		r = kta_error_set(err, KTA_ERR_USAGE, "watch approve: version out of range");
		goto out;
	}
	if ((r = kta_state_history(st, origin, label, &h, &nh, err)) != KTA_OK)
		goto out;
	/* with several entries of that version (equivocation), the latest one */
	for (i = nh; i > 0 && h[i - 1].version != version; i--)
		;
	if (i == 0) {
		r = kta_error_set(err, KTA_ERR_USAGE,
				  "watch approve: %s has no version %llu in the replayed log",
				  label, (unsigned long long)version);
		goto out;
	}
	if (kta_entry_parse(h[i - 1].entry, h[i - 1].entry_len, &e, &perr) != KTA_OK) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: stored entry of %s v%llu: %s",
				  st->path, label, (unsigned long long)version, perr.msg);
		goto out;
	}
	r = watch_write(st, origin, label, w->mode, 1, e->keys, e->nkeys, version, 0, 1, err);
out:
	kta_entry_free(e);
	kta_state_history_free(h, nh);
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
	struct kta_state_index *ix = NULL;
	struct kta_state_history_item *arr = NULL;
	size_t cnt = 0, cap = 0, ll = strlen(label), i;
	enum kta_status r;
	struct bkt *b;
	struct hrec hr = {0};
	uint64_t h, leaf;
	long idx;
	int own_read = 0;

	*out = NULL;
	*n = 0;
	if ((r = wb_flush_all(st, err)) != KTA_OK)
		return r;
	/* Several reads: one snapshot (a read transaction, no write lock). */
	if (!st->in_tx) {
		if ((r = db_exec(st, "BEGIN", err)) != KTA_OK)
			return r;
		own_read = 1;
	}
	if ((r = kta_state_index_new(st, origin, &ix, err)) != KTA_OK ||
	    (r = ix_prepare(ix, 0, err)) != KTA_OK)
		goto out;
	if (!ix->meta_exists || ll == 0)
		goto done;
	if ((r = lab_find(ix, label, ll, &h, &b, &idx, err)) != KTA_OK)
		goto out;
	if (idx < 0)
		goto done;
	/* Walk the label's chain of records back from its latest leaf. */
	for (leaf = REC(b, idx)->leaf;;) {
		struct kta_state_history_item *it;

		if ((r = hist_read(ix, leaf, &hr, err)) != KTA_OK)
			goto out;
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
		/* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): never empty */
		if ((it->entry = malloc(hr.entry_len)) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "state: out of memory");
			goto out;
		}
		memcpy(it->entry, hr.entry, hr.entry_len);
		it->entry_len = hr.entry_len;
		it->version = hr.version;
		it->leaf_index = leaf;
		it->auth = hr.auth;
		cnt++;
		if (!hr.has_prev)
			break;
		if (hr.prev >= leaf) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "%s: label_history of %s: leaf %" PRIu64 " links forward",
					  st->path, origin, leaf);
			goto out;
		}
		leaf = hr.prev;
	}
	for (i = 0; i < cnt / 2; i++) {
		struct kta_state_history_item t = arr[i];

		arr[i] = arr[cnt - 1 - i];
		arr[cnt - 1 - i] = t;
	}
done:
	*out = arr;
	*n = cnt;
	arr = NULL;
	cnt = 0;
	r = KTA_OK;
out:
	kta_state_index_free(ix);
	if (own_read)
		sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	kta_state_history_free(arr, cnt);
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
