/* The reference key-directory publisher. See ktaudit/publish.h and docs/publisher.md. */
#include "ktaudit/publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "json_util.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/note.h"
#include "ktaudit/tile.h"

/* Version of the state database layout (meta 'format'). */
#define STATE_FORMAT 1
/* Files staged before one syncfs and their renames (bounds memory and the
 * number of syncfs calls: 1M lookups take 245 rounds). */
#define STAGE_CHUNK 4096
/* Longest lookup file name: NAME_MAX of common file systems. Longer encoded
 * labels are refused when queued, since their lookup could not be written. */
#define LOOKUP_NAME_MAX 255
/* Tree levels of tiles: 256**8 = 2**64 leaves. */
#define LEVELS 8
/* Nodes of one tile with its interior: 256 + 128 + ... + 2 (heights 0..7 in the tile). */
#define TILE_NODES 511
/* Bytes of a key file read (an skey string and a newline). */
#define KEY_FILE_MAX (KTA_KEY_STRING_MAX + 2)

struct kta_publisher {
	char *dir;      /* DIR as given, without trailing '/' */
	sqlite3 *db;    /* DIR/.ktaudit/state.db */
	char *origin;   /* checkpoint origin */
	char *key_path; /* absolute path of the log's private key file */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

/* ---- small helpers ---- */

/* out = dir "/" rel; KTA_ERR_IO when it does not fit PATH_MAX. */
static enum kta_status join(char out[PATH_MAX], const char *dir, const char *rel,
			    struct kta_error *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, rel);

	if (n < 0 || n >= PATH_MAX)
		return kta_error_set(err, KTA_ERR_IO, "%s/%s: path too long", dir, rel);
	return KTA_OK;
}

/* Writes all of (data, len) to fd; returns 0 or an errno value. */
static int write_all(int fd, const uint8_t *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		off += (size_t)w;
	}
	return 0;
}

static enum kta_status db_fail(sqlite3 *db, const char *what, struct kta_error *err)
{
	return kta_error_set(err, sqlite3_errcode(db) == SQLITE_NOMEM ? KTA_ERR_NOMEM : KTA_ERR_IO,
			     "state database: %s: %s", what, sqlite3_errmsg(db));
}

static enum kta_status db_exec(sqlite3 *db, const char *sql, struct kta_error *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, sql, err);
	return KTA_OK;
}

static enum kta_status db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
				  struct kta_error *err)
{
	*st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(db, sql, err);
	return KTA_OK;
}

/* Reads meta value k as an integer in [0, INT64_MAX]. */
static enum kta_status meta_get_u64(sqlite3 *db, const char *k, uint64_t *out,
				    struct kta_error *err)
{
	sqlite3_stmt *st = NULL;
	enum kta_status r;
	sqlite3_int64 v;

	if ((r = db_prepare(db, "SELECT v FROM meta WHERE k = ?1", &st, err)) != KTA_OK)
		return r;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_fail(db, k, err);
		goto out;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || (v = sqlite3_column_int64(st, 0)) < 0) {
		r = kta_error_set(err, KTA_ERR_IO, "state database: meta %s is not a count", k);
		goto out;
	}
	*out = (uint64_t)v;
	r = KTA_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* Reads meta value k as a malloc'd NUL-terminated string (text) or as exactly
 * `want` bytes into buf (blob) when buf is given. */
static enum kta_status meta_get(sqlite3 *db, const char *k, char **str, uint8_t *buf, size_t want,
				struct kta_error *err)
{
	sqlite3_stmt *st = NULL;
	enum kta_status r;

	if ((r = db_prepare(db, "SELECT v FROM meta WHERE k = ?1", &st, err)) != KTA_OK)
		return r;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_fail(db, k, err);
		goto out;
	}
	if (buf != NULL) {
		if (sqlite3_column_type(st, 0) != SQLITE_BLOB ||
		    (size_t)sqlite3_column_bytes(st, 0) != want) {
			r = kta_error_set(err, KTA_ERR_IO, "state database: meta %s is damaged", k);
			goto out;
		}
		memcpy(buf, sqlite3_column_blob(st, 0), want);
	} else {
		const unsigned char *t = sqlite3_column_text(st, 0);

		if (sqlite3_column_type(st, 0) != SQLITE_TEXT || t == NULL) {
			r = kta_error_set(err, KTA_ERR_IO, "state database: meta %s is damaged", k);
			goto out;
		}
		if ((*str = strdup((const char *)t)) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	r = KTA_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* Opens the state database with the connection settings every use needs. */
static enum kta_status db_open(const char *path, int create, sqlite3 **out, struct kta_error *err)
{
	sqlite3 *db = NULL;
	enum kta_status r = KTA_ERR_IO;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	*out = NULL;
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		r = kta_error_set(err, KTA_ERR_IO, "%s: %s", path,
				  db ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	/* WAL with synchronous=FULL: a commit is durable when it returns (STYLE.md). */
	/* A 64 MiB page cache (allocated as used): the label index of a million
	 * labels is updated in random order. */
	if ((r = db_exec(db, "PRAGMA journal_mode=WAL", err)) != KTA_OK ||
	    (r = db_exec(db, "PRAGMA synchronous=FULL", err)) != KTA_OK ||
	    (r = db_exec(db, "PRAGMA cache_size=-65536", err)) != KTA_OK)
		goto out;
	*out = db;
	db = NULL;
	r = KTA_OK;
out:
	sqlite3_close(db);
	return r;
}

/* Reads a private key file; the key must be of `type`. `what` names the option. */
static enum kta_status load_skey(const char *path, enum kta_key_type type, const char *what,
				 struct kta_skey **out, struct kta_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct kta_skey *k = NULL;
	enum kta_status r;

	*out = NULL;
	if ((r = kta_file_read(path, KEY_FILE_MAX, &buf, &len, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "%s", what);
		goto out;
	}
	if ((r = kta_skey_parse((const char *)buf, len, &k, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "%s %s", what, path);
		goto out;
	}
	if (k->type != type) {
		r = kta_error_set(err, KTA_ERR_USAGE, "%s %s: key \"%s\" is %s, not %s", what, path,
				  k->name,
				  k->type == KTA_KEY_ED25519 ? "a log (Ed25519 note) key"
							     : "a witness (cosignature/v1) key",
				  type == KTA_KEY_ED25519 ? "a log key (keygen without --witness)"
							  : "a witness key (keygen --witness)");
		goto out;
	}
	*out = k;
	k = NULL;
	r = KTA_OK;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	kta_skey_free(k);
	return r;
}

/*
 * Signs the checkpoint (origin, size, root) with `log` and cosigns it with
 * each witness at `now`. *out is malloc'd (caller frees).
 */
static enum kta_status sign_checkpoint(const char *origin, uint64_t size, const uint8_t root[32],
				       const struct kta_skey *log,
				       const struct kta_skey *const *wit, size_t nwit, uint64_t now,
				       uint8_t **out, size_t *out_len, struct kta_error *err)
{
	struct kta_checkpoint cp;
	char *body = NULL;
	uint8_t *note = NULL, *next = NULL;
	size_t len = 0, nlen = 0, i;
	enum kta_status r;

	*out = NULL;
	memset(&cp, 0, sizeof(cp));
	cp.origin = (char *)origin;
	cp.size = size;
	memcpy(cp.root, root, 32);
	if ((body = kta_checkpoint_format(&cp)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = kta_note_sign((const uint8_t *)body, strlen(body), log, &note, &len, err)) !=
	    KTA_OK)
		goto out;
	for (i = 0; i < nwit; i++) {
		if ((r = kta_checkpoint_cosign(note, len, wit[i], now, &next, &nlen, err)) !=
		    KTA_OK) {
			(void)kta_error_prefix(err, "cosign with witness \"%s\"", wit[i]->name);
			goto out;
		}
		free(note);
		note = next;
		len = nlen;
		next = NULL;
	}
	*out = note;
	*out_len = len;
	note = NULL;
	r = KTA_OK;
out:
	free(body);
	free(note);
	return r;
}

/* ---- init, open, close ---- */

/* Checks that origin is a valid checkpoint origin line (by round trip). */
static enum kta_status check_origin(const char *origin, struct kta_error *err)
{
	struct kta_checkpoint cp, *back = NULL;
	char *body = NULL;
	enum kta_status r;

	memset(&cp, 0, sizeof(cp));
	cp.origin = (char *)origin;
	kta_hash_empty(cp.root);
	if (origin[0] == '\0' || strchr(origin, '\n') != NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "--origin: must be one non-empty line");
	if ((body = kta_checkpoint_format(&cp)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	r = kta_checkpoint_parse((const uint8_t *)body, strlen(body), &back, err);
	if (r == KTA_OK && strcmp(back->origin, origin) != 0)
		r = kta_error_set(err, KTA_ERR_MALFORMED, "origin does not survive a round trip");
	if (r == KTA_OK && !kta_utf8_valid((const uint8_t *)origin, strlen(origin)))
		r = kta_error_set(err, KTA_ERR_MALFORMED, "not valid UTF-8");
	if (r != KTA_OK)
		(void)kta_error_prefix(err, "--origin");
	kta_checkpoint_free(back);
	free(body);
	return r;
}

/* Fails unless `dir` does not exist (then creates it) or is an empty directory. */
static enum kta_status make_empty_dir(const char *dir, struct kta_error *err)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;

	if (stat(dir, &sb) != 0) {
		if (errno != ENOENT)
			return kta_error_set(err, KTA_ERR_IO, "%s: %s", dir, strerror(errno));
		return kta_file_mkdirs(dir, 0755, err);
	}
	if (!S_ISDIR(sb.st_mode))
		return kta_error_set(err, KTA_ERR_USAGE, "%s: exists and is not a directory", dir);
	if ((d = opendir(dir)) == NULL)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		(void)closedir(d);
		return kta_error_set(err, KTA_ERR_USAGE,
				     "%s: directory is not empty (init needs a new or empty "
				     "directory)",
				     dir);
	}
	(void)closedir(d);
	return KTA_OK;
}

static enum kta_status mkdir_mode(const char *dir, const char *rel, mode_t mode,
				  struct kta_error *err)
{
	char path[PATH_MAX];
	enum kta_status r;

	if ((r = join(path, dir, rel, err)) != KTA_OK)
		return r;
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return kta_error_set(err, KTA_ERR_IO, "mkdir %s: %s", path, strerror(errno));
	return KTA_OK;
}

static const char *const schema_sql =
    "BEGIN;"
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    /* Entries waiting for publish, each with the leaf index it will get. */
    "CREATE TABLE queue(leaf INTEGER PRIMARY KEY, label TEXT NOT NULL,"
    " version INTEGER NOT NULL, entry BLOB NOT NULL);"
    /* Per label: the latest version (queued or published), its leaf index and
     * its ed25519 public keys (32 bytes each) for the auth-key warning. */
    "CREATE TABLE labels(label TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    " leaf INTEGER NOT NULL, edkeys BLOB NOT NULL) WITHOUT ROWID;";

enum kta_status kta_publish_init(const char *dir, const char *origin, const char *key_path,
				 struct kta_error *err)
{
	char path[PATH_MAX], abs_key[PATH_MAX];
	struct kta_skey *sk = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint8_t root[32], *note = NULL;
	size_t note_len = 0;
	enum kta_status r;
	int fd;

	if (dir == NULL || origin == NULL || key_path == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "init needs a directory, origin and key");
	if ((r = check_origin(origin, err)) != KTA_OK)
		goto out;
	if ((r = load_skey(key_path, KTA_KEY_ED25519, "--key", &sk, err)) != KTA_OK)
		goto out;
	if (realpath(key_path, abs_key) == NULL) {
		r = kta_error_set(err, KTA_ERR_IO, "--key %s: %s", key_path, strerror(errno));
		goto out;
	}
	if ((r = make_empty_dir(dir, err)) != KTA_OK)
		goto out;
	/* The private area first: 0700 so that a web server running as another
	 * user cannot read it even if told to serve DIR as a whole. */
	if ((r = mkdir_mode(dir, KTA_PUBLISH_STATE_DIR, 0700, err)) != KTA_OK ||
	    (r = mkdir_mode(dir, KTA_PUBLISH_STATE_DIR "/tmp", 0700, err)) != KTA_OK)
		goto out;
	if ((r = join(path, dir, KTA_PUBLISH_STATE_DIR "/state.db", err)) != KTA_OK)
		goto out;
	/* Create the database file 0600 ourselves; SQLite would use 0644. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	(void)close(fd);
	if ((r = db_open(path, 0, &db, err)) != KTA_OK)
		goto out;
	if ((r = db_exec(db, schema_sql, err)) != KTA_OK)
		goto out;
	if ((r = db_prepare(db,
			    "INSERT INTO meta(k, v) VALUES('format', ?1), ('origin', ?2),"
			    " ('key_path', ?3), ('size', 0), ('root', ?4)",
			    &st, err)) != KTA_OK)
		goto out;
	kta_hash_empty(root);
	sqlite3_bind_int(st, 1, STATE_FORMAT);
	sqlite3_bind_text(st, 2, origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, abs_key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, root, 32, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_fail(db, "writing the configuration", err);
		goto out;
	}
	if ((r = db_exec(db, "COMMIT", err)) != KTA_OK)
		goto out;
	if ((r = mkdir_mode(dir, "tile", 0755, err)) != KTA_OK ||
	    (r = mkdir_mode(dir, "lookup", 0755, err)) != KTA_OK)
		goto out;
	/* The empty log's checkpoint, so that clients can start from size 0. */
	if ((r = sign_checkpoint(origin, 0, root, sk, NULL, 0, 0, &note, &note_len, err)) != KTA_OK)
		goto out;
	if ((r = join(path, dir, "checkpoint", err)) != KTA_OK)
		goto out;
	r = kta_file_write_atomic(path, note, note_len, 0644, err);
out:
	free(note);
	sqlite3_finalize(st);
	sqlite3_close(db);
	kta_skey_free(sk);
	return r;
}

enum kta_status kta_publish_open(const char *dir, struct kta_publisher **out, struct kta_error *err)
{
	struct kta_publisher *p = NULL;
	char path[PATH_MAX];
	struct stat sb;
	uint64_t format = 0;
	enum kta_status r;
	size_t dl;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return kta_error_set(err, KTA_ERR_USAGE, "no directory given");
	if ((r = join(path, dir, KTA_PUBLISH_STATE_DIR "/state.db", err)) != KTA_OK)
		return r;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "%s: not a key directory (no %s/state.db; create "
					     "it with `ktaudit dir init`)",
					     dir, KTA_PUBLISH_STATE_DIR);
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->dir = strdup(dir)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	dl = strlen(p->dir);
	while (dl > 1 && p->dir[dl - 1] == '/')
		p->dir[--dl] = '\0';
	if ((r = db_open(path, 0, &p->db, err)) != KTA_OK)
		goto out;
	if ((r = meta_get_u64(p->db, "format", &format, err)) != KTA_OK)
		goto out;
	if (format != STATE_FORMAT) {
		r = kta_error_set(err, KTA_ERR_IO, "%s: state format %llu, this ktaudit knows %d",
				  path, (unsigned long long)format, STATE_FORMAT);
		goto out;
	}
	if ((r = meta_get(p->db, "origin", &p->origin, NULL, 0, err)) != KTA_OK ||
	    (r = meta_get(p->db, "key_path", &p->key_path, NULL, 0, err)) != KTA_OK)
		goto out;
	*out = p;
	p = NULL;
	r = KTA_OK;
out:
	kta_publish_close(p);
	return r;
}

void kta_publish_close(struct kta_publisher *p)
{
	if (p == NULL)
		return;
	sqlite3_close(p->db);
	free(p->dir);
	free(p->origin);
	free(p->key_path);
	free(p);
}

void kta_publish_set_warn(struct kta_publisher *p, void (*fn)(void *ctx, const char *msg),
			  void *ctx)
{
	p->warn = fn;
	p->warn_ctx = ctx;
}

enum kta_status kta_publish_info(struct kta_publisher *p, struct kta_publish_info *out,
				 struct kta_error *err)
{
	struct kta_publish_info info;
	sqlite3_stmt *st = NULL;
	enum kta_status r;

	memset(&info, 0, sizeof(info));
	info.origin = p->origin;
	if ((r = db_exec(p->db, "BEGIN", err)) != KTA_OK)
		return r;
	if ((r = meta_get_u64(p->db, "size", &info.size, err)) != KTA_OK ||
	    (r = meta_get(p->db, "root", NULL, info.root, 32, err)) != KTA_OK)
		goto out;
	if ((r = db_prepare(p->db, "SELECT COUNT(*) FROM queue", &st, err)) != KTA_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_fail(p->db, "counting the queue", err);
		goto out;
	}
	info.queued = (uint64_t)sqlite3_column_int64(st, 0);
	*out = info;
	r = KTA_OK;
out:
	sqlite3_finalize(st);
	(void)sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
	return r;
}

/* ---- key specifications ---- */

/*
 * Parses "ALG:B64:DEVICE" into key (device not set) and the offset of DEVICE
 * in s. The device runs to the end of s.
 */
static enum kta_status parse_key_spec(const char *s, size_t len, struct kta_entry_key *key,
				      size_t *dev_off, struct kta_error *err)
{
	const char *c1, *c2, *name;
	char q[4 * 48 + 4];
	size_t alen, blen, dlen, got = 0;
	int a, alg = 0;
	struct kta_error sub;

	c1 = memchr(s, ':', len);
	if (c1 == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key \"%s\": expected ALG:BASE64:DEVICE",
				     kta_quote((const uint8_t *)s, len, 48, q));
	alen = (size_t)(c1 - s);
	for (a = 1; a < 64; a++) {
		name = kta_entry_alg_name((enum kta_entry_alg)a);
		if (name != NULL && strlen(name) == alen && memcmp(name, s, alen) == 0) {
			alg = a;
			break;
		}
	}
	if (alg == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key \"%s\": unknown algorithm \"%s\" (keydir/v1 has %s, %s)",
				     kta_quote((const uint8_t *)s, len, 48, q),
				     kta_quote((const uint8_t *)s, alen, 20, q + 2 * 48 + 2),
				     kta_entry_alg_name(KTA_ENTRY_ALG_ED25519),
				     kta_entry_alg_name(KTA_ENTRY_ALG_X25519));
	c2 = memchr(c1 + 1, ':', len - alen - 1);
	if (c2 == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key \"%s\": no device name (ALG:BASE64:DEVICE; keydir/v1 "
				     "requires one)",
				     kta_quote((const uint8_t *)s, len, 48, q));
	blen = (size_t)(c2 - c1 - 1);
	if (kta_b64_decode(c1 + 1, blen, key->pub, sizeof(key->pub), &got) != KTA_OK || got != 32)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key \"%s\": the public key is not 32 bytes in canonical "
				     "base64",
				     kta_quote((const uint8_t *)s, len, 48, q));
	*dev_off = (size_t)(c2 + 1 - s);
	dlen = len - *dev_off;
	if (dlen == 0 || dlen > KTA_DEVICE_MAX_LEN)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key \"%s\": device name must have 1..%d bytes",
				     kta_quote((const uint8_t *)s, len, 48, q), KTA_DEVICE_MAX_LEN);
	/* Device names follow the label rules (entry.h "Names"). */
	kta_error_clear(&sub);
	if (kta_entry_label_check(c2 + 1, dlen, &sub) != KTA_OK)
		return kta_error_set(err, KTA_ERR_MALFORMED, "key \"%s\": device name: %s",
				     kta_quote((const uint8_t *)s, len, 48, q), sub.msg);
	key->alg = (enum kta_entry_alg)alg;
	key->device = NULL;
	return KTA_OK;
}

enum kta_status kta_publish_parse_key(const char *s, size_t len, struct kta_entry_key *key,
				      char device[static KTA_DEVICE_MAX_LEN + 1],
				      struct kta_error *err)
{
	struct kta_entry_key k;
	size_t off = 0;
	enum kta_status r;

	memset(&k, 0, sizeof(k));
	if ((r = parse_key_spec(s, len, &k, &off, err)) != KTA_OK)
		return r;
	memcpy(device, s + off, len - off);
	device[len - off] = '\0';
	k.device = device;
	*key = k;
	return KTA_OK;
}

/* ---- add ---- */

struct adder {
	struct kta_publisher *p;
	sqlite3_stmt *sel, *put, *ins;
	uint64_t next_leaf; /* leaf index of the next queued entry */
	struct kta_publish_added res;
	struct kta_entry_key *keys; /* scratch: the update's keys, sorted */
	uint8_t *edkeys;            /* scratch: their ed25519 public keys */
	size_t cap;                 /* capacity of both, in keys */
};

static int key_cmp(const void *a, const void *b)
{
	const struct kta_entry_key *x = a, *y = b;
	const char *nx = kta_entry_alg_name(x->alg), *ny = kta_entry_alg_name(y->alg);
	int c = strcmp(nx ? nx : "", ny ? ny : "");

	return c != 0 ? c : memcmp(x->pub, y->pub, 32);
}

static enum kta_status add_begin(struct adder *a, struct kta_publisher *p, struct kta_error *err)
{
	sqlite3_stmt *st = NULL;
	enum kta_status r;

	memset(a, 0, sizeof(*a));
	a->p = p;
	/* IMMEDIATE: the write lock from the start, so next_leaf cannot race. */
	if ((r = db_exec(p->db, "BEGIN IMMEDIATE", err)) != KTA_OK)
		return r;
	if ((r = db_prepare(p->db, "SELECT version, edkeys FROM labels WHERE label = ?1", &a->sel,
			    err)) != KTA_OK ||
	    (r = db_prepare(p->db,
			    "INSERT OR REPLACE INTO labels(label, version, leaf, edkeys)"
			    " VALUES(?1, ?2, ?3, ?4)",
			    &a->put, err)) != KTA_OK ||
	    (r = db_prepare(p->db,
			    "INSERT INTO queue(leaf, label, version, entry) VALUES(?1, ?2, ?3, ?4)",
			    &a->ins, err)) != KTA_OK)
		return r;
	if ((r = db_prepare(p->db, "SELECT MAX(leaf) FROM queue", &st, err)) != KTA_OK)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_fail(p->db, "reading the queue", err);
		sqlite3_finalize(st);
		return r;
	}
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		r = meta_get_u64(p->db, "size", &a->next_leaf, err);
	} else {
		a->next_leaf = (uint64_t)sqlite3_column_int64(st, 0) + 1;
		r = KTA_OK;
	}
	sqlite3_finalize(st);
	return r;
}

/* Commits (r == KTA_OK) or rolls back, and frees the adder. Returns r or the commit error. */
static enum kta_status add_end(struct adder *a, enum kta_status r, struct kta_error *err)
{
	sqlite3_finalize(a->sel);
	sqlite3_finalize(a->put);
	sqlite3_finalize(a->ins);
	free(a->keys);
	free(a->edkeys);
	if (r == KTA_OK)
		r = db_exec(a->p->db, "COMMIT", err);
	if (r != KTA_OK)
		(void)sqlite3_exec(a->p->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Names an update in warnings: "update N" or "FILE line N". */
struct where {
	const char *file; /* NULL for kta_publish_add */
	uint64_t n;
};

static void where_format(const struct where *w, char *out, size_t cap)
{
	if (w->file != NULL)
		(void)snprintf(out, cap, "%s line %llu", w->file, (unsigned long long)w->n);
	else
		(void)snprintf(out, cap, "update %llu", (unsigned long long)w->n);
}

/* Queues one update. `wh` names it in warnings. */
static enum kta_status add_one(struct adder *a, const struct kta_publish_update *u,
			       const struct where *wh, struct kta_error *err)
{
	struct kta_entry e;
	uint8_t *raw = NULL, *sgd = NULL;
	size_t raw_len = 0, sgd_len = 0, llen, i, ned = 0, nprev = 0;
	char enc[KTA_LABEL_ENCODED_MAX + 1], q[4 * 64 + 4];
	const uint8_t *prev_ed = NULL;
	uint64_t prev = 0, version;
	enum kta_status r;
	int rc;

	if (u->label == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE, "no label");
		goto out;
	}
	llen = strlen(u->label);
	if ((r = kta_entry_label_encode(u->label, llen, enc, &i, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "label \"%s\"",
				       kta_quote((const uint8_t *)u->label, llen, 64, q));
		goto out;
	}
	if (i > LOOKUP_NAME_MAX) {
		r = kta_error_set(err, KTA_ERR_LIMIT,
				  "label \"%s\": its lookup file name would have %zu bytes, more "
				  "than the %d a file name can have",
				  kta_quote((const uint8_t *)u->label, llen, 64, q), i,
				  LOOKUP_NAME_MAX);
		goto out;
	}
	if (u->nkeys > KTA_PUBLISH_MAX_KEYS) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "%zu keys, more than the %d allowed",
				  u->nkeys, KTA_PUBLISH_MAX_KEYS);
		goto out;
	}
	if (u->time > KTA_ENTRY_MAX_TIME) {
		r = kta_error_set(err, KTA_ERR_USAGE, "time %llu is over 2^63-1",
				  (unsigned long long)u->time);
		goto out;
	}
	if (u->nkeys > a->cap) {
		size_t ncap = u->nkeys < 16 ? 16 : u->nkeys;
		struct kta_entry_key *nk = realloc(a->keys, ncap * sizeof(*nk));
		uint8_t *ne;

		if (nk == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
			goto out;
		}
		a->keys = nk;
		if ((ne = realloc(a->edkeys, ncap * 32)) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
			goto out;
		}
		a->edkeys = ne;
		a->cap = ncap;
	}
	for (i = 0; i < u->nkeys; i++)
		a->keys[i] = u->keys[i];
	if (u->nkeys > 1)
		qsort(a->keys, u->nkeys, sizeof(*a->keys), key_cmp);
	for (i = 0; i < u->nkeys; i++)
		if (a->keys[i].alg == KTA_ENTRY_ALG_ED25519)
			memcpy(a->edkeys + 32 * ned++, a->keys[i].pub, 32);

	sqlite3_reset(a->sel);
	sqlite3_bind_text(a->sel, 1, u->label, (int)llen, SQLITE_STATIC);
	rc = sqlite3_step(a->sel);
	if (rc == SQLITE_ROW) {
		prev = (uint64_t)sqlite3_column_int64(a->sel, 0);
		prev_ed = sqlite3_column_blob(a->sel, 1);
		nprev = (size_t)sqlite3_column_bytes(a->sel, 1) / 32;
	} else if (rc != SQLITE_DONE) {
		r = db_fail(a->p->db, "reading the label index", err);
		goto out;
	}
	if (prev >= KTA_ENTRY_MAX_VERSION) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "label \"%s\" is at the largest version",
				  kta_quote((const uint8_t *)u->label, llen, 64, q));
		goto out;
	}
	version = prev + 1;
	if (a->next_leaf >= (uint64_t)INT64_MAX) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "the log is full");
		goto out;
	}

	memset(&e, 0, sizeof(e));
	e.label = (char *)u->label;
	e.version = version;
	e.time = u->time;
	e.keys = u->nkeys ? a->keys : NULL;
	e.nkeys = u->nkeys;
	if ((r = kta_entry_serialize(&e, &raw, &raw_len, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "label \"%s\" version %llu",
				       kta_quote((const uint8_t *)u->label, llen, 64, q),
				       (unsigned long long)version);
		goto out;
	}
	if (u->auth_key != NULL) {
		int found = 0;

		if ((r = kta_entry_sign(raw, raw_len, u->auth_key->seed, &sgd, &sgd_len, err)) !=
		    KTA_OK) {
			(void)kta_error_prefix(err, "signing the auth line");
			goto out;
		}
		free(raw);
		raw = sgd;
		raw_len = sgd_len;
		sgd = NULL;
		for (i = 0; i < nprev && prev_ed != NULL; i++)
			if (memcmp(prev_ed + 32 * i, u->auth_key->pub, 32) == 0)
				found = 1;
		if (prev > 0 && !found) {
			a->res.unauthorized++;
			if (a->p->warn != NULL) {
				char msg[KTA_ERROR_MSG_MAX + 128], pub[KTA_B64_ENCODED_LEN(32) + 1];
				char where[PATH_MAX + 48];

				kta_b64_encode(u->auth_key->pub, 32, pub);
				where_format(wh, where, sizeof(where));
				(void)kta_quote((const uint8_t *)u->label, llen, 64, q);
				(void)snprintf(msg, sizeof(msg),
					       "%s: label \"%s\" version %llu: auth key %s is not "
					       "an ed25519 key of version %llu; the update is "
					       "unauthorized",
					       where, q, (unsigned long long)version, pub,
					       (unsigned long long)prev);
				a->p->warn(a->p->warn_ctx, msg);
			}
		}
	}
	/* prev_ed is invalid from here on: the statement is reset. */
	sqlite3_reset(a->sel);

	sqlite3_reset(a->put);
	sqlite3_bind_text(a->put, 1, u->label, (int)llen, SQLITE_STATIC);
	sqlite3_bind_int64(a->put, 2, (sqlite3_int64)version);
	sqlite3_bind_int64(a->put, 3, (sqlite3_int64)a->next_leaf);
	sqlite3_bind_blob(a->put, 4, ned ? (const void *)a->edkeys : (const void *)"",
			  (int)(32 * ned), SQLITE_STATIC);
	if (sqlite3_step(a->put) != SQLITE_DONE) {
		r = db_fail(a->p->db, "updating the label index", err);
		goto out;
	}
	sqlite3_reset(a->ins);
	sqlite3_bind_int64(a->ins, 1, (sqlite3_int64)a->next_leaf);
	sqlite3_bind_text(a->ins, 2, u->label, (int)llen, SQLITE_STATIC);
	sqlite3_bind_int64(a->ins, 3, (sqlite3_int64)version);
	sqlite3_bind_blob(a->ins, 4, raw, (int)raw_len, SQLITE_STATIC);
	if (sqlite3_step(a->ins) != SQLITE_DONE) {
		r = db_fail(a->p->db, "queueing the entry", err);
		goto out;
	}
	a->res.queued++;
	a->res.version = version;
	a->res.leaf_index = a->next_leaf;
	a->next_leaf++;
	r = KTA_OK;
out:
	sqlite3_reset(a->sel);
	sqlite3_reset(a->put);
	sqlite3_reset(a->ins);
	free(raw);
	free(sgd);
	return r;
}

enum kta_status kta_publish_add(struct kta_publisher *p, const struct kta_publish_update *u,
				size_t n, struct kta_publish_added *res, struct kta_error *err)
{
	struct adder a;
	enum kta_status r;
	size_t i;

	if ((r = add_begin(&a, p, err)) != KTA_OK)
		return add_end(&a, r, err);
	for (i = 0; i < n; i++) {
		struct where wh = {NULL, (uint64_t)i + 1};

		if ((r = add_one(&a, &u[i], &wh, err)) != KTA_OK) {
			if (n > 1)
				(void)kta_error_prefix(err, "update %zu", i + 1);
			return add_end(&a, r, err);
		}
	}
	r = add_end(&a, KTA_OK, err);
	if (r == KTA_OK)
		*res = a.res;
	return r;
}

/* A bounded line reader over a file descriptor. */
struct line_reader {
	int fd;
	uint8_t *buf;
	size_t cap, pos, end, scan;
	int eof;
};

/*
 * Sets (*line, *len) to the next line without its "\n" (borrowed, valid until
 * the next call) and *got = 1, or *got = 0 at the end of input.
 */
static enum kta_status lr_next(struct line_reader *lr, const uint8_t **line, size_t *len, int *got,
			       struct kta_error *err)
{
	for (;;) {
		uint8_t *nl = memchr(lr->buf + lr->scan, '\n', lr->end - lr->scan);
		ssize_t n;

		if (nl != NULL) {
			*line = lr->buf + lr->pos;
			*len = (size_t)(nl - (lr->buf + lr->pos));
			lr->pos = lr->scan = (size_t)(nl - lr->buf) + 1;
			break;
		}
		lr->scan = lr->end;
		if (lr->end - lr->pos > KTA_PUBLISH_LINE_MAX)
			return kta_error_set(err, KTA_ERR_LIMIT, "longer than %d bytes",
					     KTA_PUBLISH_LINE_MAX);
		if (lr->eof) {
			*got = lr->pos < lr->end;
			*line = lr->buf + lr->pos;
			*len = lr->end - lr->pos;
			lr->pos = lr->scan = lr->end;
			return KTA_OK;
		}
		if (lr->pos > 0) {
			memmove(lr->buf, lr->buf + lr->pos, lr->end - lr->pos);
			lr->end -= lr->pos;
			lr->scan -= lr->pos;
			lr->pos = 0;
		}
		n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kta_error_set(err, KTA_ERR_IO, "read: %s", strerror(errno));
		if (n == 0)
			lr->eof = 1;
		lr->end += (size_t)n;
	}
	if (*len > KTA_PUBLISH_LINE_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "longer than %d bytes",
				     KTA_PUBLISH_LINE_MAX);
	*got = 1;
	return KTA_OK;
}

/* Per-file state of kta_publish_add_file. */
struct line_ctx {
	struct kta_entry_key *keys; /* scratch for one line */
	size_t cap;
	char *auth_str; /* the last auth_key string, and its parsed key */
	size_t auth_len;
	struct kta_skey *auth;
};

/* Parses one JSON line into an update and queues it. */
static enum kta_status add_line(struct adder *a, struct line_ctx *c, const uint8_t *line,
				size_t len, uint64_t now, const struct where *wh,
				struct kta_error *err)
{
	static const char *const members[] = {"label", "keys", "time", "auth_key", NULL};
	struct kta_publish_update u;
	json_t *o = NULL, *v, *k;
	enum kta_status r;
	size_t i, n;

	memset(&u, 0, sizeof(u));
	if (len == 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "empty line");
		goto out;
	}
	if (memchr(line, '\r', len) != NULL) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "carriage return (lines end in \\n only)");
		goto out;
	}
	if ((r = kta_json_load_object(line, len, KTA_PUBLISH_LINE_MAX, "JSON", &o, err)) !=
		KTA_OK ||
	    (r = kta_json_only_keys(o, members, "JSON", err)) != KTA_OK)
		goto out;
	v = json_object_get(o, "label");
	if (!json_is_string(v)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "\"label\" is %s",
				  v ? "not a string" : "missing");
		goto out;
	}
	u.label = json_string_value(v);
	if (strlen(u.label) != json_string_length(v)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "\"label\" contains a NUL character");
		goto out;
	}
	v = json_object_get(o, "keys");
	if (!json_is_array(v)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "\"keys\" is %s",
				  v ? "not an array" : "missing");
		goto out;
	}
	n = json_array_size(v);
	if (n > KTA_PUBLISH_MAX_KEYS) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "\"keys\" has %zu keys, more than %d", n,
				  KTA_PUBLISH_MAX_KEYS);
		goto out;
	}
	if (n > c->cap) {
		struct kta_entry_key *nk = realloc(c->keys, n * sizeof(*nk));

		if (nk == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
			goto out;
		}
		c->keys = nk;
		c->cap = n;
	}
	json_array_foreach(v, i, k)
	{
		size_t off = 0;

		if (!json_is_string(k)) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "\"keys\"[%zu] is not a string",
					  i);
			goto out;
		}
		if ((r = parse_key_spec(json_string_value(k), json_string_length(k), &c->keys[i],
					&off, err)) != KTA_OK) {
			(void)kta_error_prefix(err, "\"keys\"[%zu]", i);
			goto out;
		}
		/* The device is the rest of the JSON string, which jansson ends with
		 * a NUL; parse_key_spec rejected any NUL inside it. */
		c->keys[i].device = (char *)json_string_value(k) + off;
	}
	u.keys = c->keys;
	u.nkeys = n;
	u.time = now;
	if ((v = json_object_get(o, "time")) != NULL &&
	    (r = kta_json_get_u64(o, "time", "JSON", &u.time, err)) != KTA_OK)
		goto out;
	if ((v = json_object_get(o, "auth_key")) != NULL) {
		const char *s;
		size_t sl;

		if (!json_is_string(v)) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "\"auth_key\" is not a string");
			goto out;
		}
		s = json_string_value(v);
		sl = json_string_length(v);
		if (c->auth == NULL || c->auth_len != sl || memcmp(c->auth_str, s, sl) != 0) {
			kta_skey_free(c->auth);
			c->auth = NULL;
			if (c->auth_str != NULL) {
				OPENSSL_cleanse(c->auth_str, c->auth_len);
				free(c->auth_str);
				c->auth_str = NULL;
			}
			if ((r = kta_skey_parse(s, sl, &c->auth, err)) != KTA_OK) {
				(void)kta_error_prefix(err, "\"auth_key\"");
				goto out;
			}
			if ((c->auth_str = malloc(sl + 1)) == NULL) {
				r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
				goto out;
			}
			memcpy(c->auth_str, s, sl);
			c->auth_len = sl;
		}
		u.auth_key = c->auth;
	}
	r = add_one(a, &u, wh, err);
out:
	json_decref(o);
	return r;
}

enum kta_status kta_publish_add_file(struct kta_publisher *p, const char *path, uint64_t now,
				     struct kta_publish_added *res, struct kta_error *err)
{
	struct line_reader lr;
	struct line_ctx c;
	struct adder a;
	const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
	uint64_t lineno = 0;
	enum kta_status r;
	int opened = 0;

	memset(&lr, 0, sizeof(lr));
	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	if (strcmp(path, "-") == 0) {
		lr.fd = STDIN_FILENO;
	} else if ((lr.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	} else {
		opened = 1;
	}
	lr.cap = KTA_PUBLISH_LINE_MAX + 1 + 65536;
	if ((lr.buf = malloc(lr.cap)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((r = add_begin(&a, p, err)) != KTA_OK) {
		r = add_end(&a, r, err);
		goto done;
	}
	for (;;) {
		const uint8_t *line = NULL;
		size_t len = 0;
		int got = 0;
		struct where wh = {name, ++lineno};

		r = lr_next(&lr, &line, &len, &got, err);
		if (r == KTA_OK && got)
			r = add_line(&a, &c, line, len, now, &wh, err);
		if (r != KTA_OK) {
			(void)kta_error_prefix(err, "%s line %llu", name,
					       (unsigned long long)lineno);
			break;
		}
		if (!got)
			break;
	}
	r = add_end(&a, r, err);
	if (r == KTA_OK)
		*res = a.res;
done:
	free(lr.buf);
	free(c.keys);
	kta_skey_free(c.auth);
	if (c.auth_str != NULL) {
		OPENSSL_cleanse(c.auth_str, c.auth_len);
		free(c.auth_str);
	}
	if (opened)
		(void)close(lr.fd);
	return r;
}

/* ---- staging files: write many, sync once, rename into place ---- */

/*
 * Files are written to DIR/.ktaudit/tmp/<n> without a per-file fsync, made
 * durable together with one syncfs(2) per STAGE_CHUNK files, and only then
 * renamed to their place in DIR. So every file a reader can see is complete
 * and durable, and a crash leaves at most unreferenced files in tmp/, which
 * the next publish removes. One fsync per file would cost about 1 ms each:
 * over 15 minutes for the lookups of a million labels.
 */
struct stager {
	const char *dir; /* DIR */
	int dirfd;       /* DIR */
	int tmpfd;       /* DIR/.ktaudit/tmp */
	uint64_t seq;    /* next temporary name */
	uint64_t *tmp;   /* STAGE_CHUNK pending temporary names ... */
	char **dest;     /* ... and their destinations relative to DIR */
	size_t n;        /* pending files */
	uint64_t placed; /* files renamed into place */
	uint64_t fail_after;
};

static enum kta_status stage_open(struct stager *st, const char *dir, uint64_t fail_after,
				  struct kta_error *err)
{
	char path[PATH_MAX];
	enum kta_status r;
	struct dirent *de;
	DIR *d;

	memset(st, 0, sizeof(*st));
	st->dir = dir;
	st->dirfd = st->tmpfd = -1;
	st->fail_after = fail_after;
	if ((st->tmp = calloc(STAGE_CHUNK, sizeof(*st->tmp))) == NULL ||
	    (st->dest = calloc(STAGE_CHUNK, sizeof(*st->dest))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	if ((st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", dir, strerror(errno));
	if ((r = mkdir_mode(dir, KTA_PUBLISH_STATE_DIR "/tmp", 0700, err)) != KTA_OK ||
	    (r = join(path, dir, KTA_PUBLISH_STATE_DIR "/tmp", err)) != KTA_OK)
		return r;
	if ((st->tmpfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	/* Leftovers of a crashed publish: never referenced, never served. */
	if ((d = fdopendir(dup(st->tmpfd))) == NULL)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(st->tmpfd, de->d_name, 0) != 0 && errno != ENOENT) {
			int e = errno;

			(void)closedir(d);
			return kta_error_set(err, KTA_ERR_IO, "%s/%s: %s", path, de->d_name,
					     strerror(e));
		}
	}
	(void)closedir(d);
	return KTA_OK;
}

static void stage_close(struct stager *st)
{
	size_t i;

	for (i = 0; i < st->n; i++) {
		char name[24];

		(void)snprintf(name, sizeof(name), "%llu", (unsigned long long)st->tmp[i]);
		(void)unlinkat(st->tmpfd, name, 0);
		free(st->dest[i]);
	}
	st->n = 0;
	free(st->tmp);
	free(st->dest);
	if (st->dirfd >= 0)
		(void)close(st->dirfd);
	if (st->tmpfd >= 0)
		(void)close(st->tmpfd);
}

/* The test seam: fails once fail_after files are in place. */
static enum kta_status stage_check_fail(const struct stager *st, struct kta_error *err)
{
	if (st->fail_after != 0 && st->placed >= st->fail_after)
		return kta_error_set(err, KTA_ERR_IO, "injected failure after %llu files",
				     (unsigned long long)st->placed);
	return KTA_OK;
}

/* Makes the pending files durable and renames them into place. */
static enum kta_status stage_flush(struct stager *st, struct kta_error *err)
{
	enum kta_status r = KTA_OK;
	size_t i, done = 0;

	if (st->n == 0)
		return KTA_OK;
	if (syncfs(st->tmpfd) != 0)
		return kta_error_set(err, KTA_ERR_IO, "syncfs %s: %s", st->dir, strerror(errno));
	for (i = 0; i < st->n; i++) {
		char name[24];
		int rc;

		if ((r = stage_check_fail(st, err)) != KTA_OK)
			break;
		(void)snprintf(name, sizeof(name), "%llu", (unsigned long long)st->tmp[i]);
		rc = renameat(st->tmpfd, name, st->dirfd, st->dest[i]);
		if (rc != 0 && errno == ENOENT) {
			/* A new tile directory: create it and retry. */
			char parent[PATH_MAX], *slash;

			if ((r = join(parent, st->dir, st->dest[i], err)) != KTA_OK)
				break;
			if ((slash = strrchr(parent, '/')) != NULL)
				*slash = '\0';
			if ((r = kta_file_mkdirs(parent, 0755, err)) != KTA_OK)
				break;
			rc = renameat(st->tmpfd, name, st->dirfd, st->dest[i]);
		}
		if (rc != 0) {
			r = kta_error_set(err, KTA_ERR_IO, "rename into %s/%s: %s", st->dir,
					  st->dest[i], strerror(errno));
			break;
		}
		free(st->dest[i]);
		st->dest[i] = NULL;
		st->placed++;
		done++;
	}
	/* Keep the ones not placed (stage_close removes them). */
	if (done > 0) {
		memmove(st->tmp, st->tmp + done, (st->n - done) * sizeof(*st->tmp));
		memmove(st->dest, st->dest + done, (st->n - done) * sizeof(*st->dest));
		st->n -= done;
	}
	return r;
}

/* Stages (data, len) for DIR/rel. */
static enum kta_status stage(struct stager *st, const char *rel, const uint8_t *data, size_t len,
			     struct kta_error *err)
{
	char name[24];
	int fd, e;

	if (st->n == STAGE_CHUNK) {
		enum kta_status r = stage_flush(st, err);

		if (r != KTA_OK)
			return r;
	}
	(void)snprintf(name, sizeof(name), "%llu", (unsigned long long)st->seq);
	fd = openat(st->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return kta_error_set(err, KTA_ERR_IO, "staging %s: %s", rel, strerror(errno));
	e = write_all(fd, data, len);
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e == 0 && (st->dest[st->n] = strdup(rel)) == NULL)
		e = ENOMEM;
	if (e != 0) {
		(void)unlinkat(st->tmpfd, name, 0);
		return kta_error_set(err, e == ENOMEM ? KTA_ERR_NOMEM : KTA_ERR_IO,
				     "staging %s: %s", rel, strerror(e));
	}
	st->tmp[st->n++] = st->seq++;
	return KTA_OK;
}

/* Places every pending file and makes the renames durable. */
static enum kta_status stage_finish(struct stager *st, struct kta_error *err)
{
	enum kta_status r = stage_flush(st, err);

	if (r != KTA_OK)
		return r;
	if (syncfs(st->dirfd) != 0)
		return kta_error_set(err, KTA_ERR_IO, "syncfs %s: %s", st->dir, strerror(errno));
	return KTA_OK;
}

/* ---- publish ---- */

/* One cached tile with its interior nodes (pass 2). */
struct tile_slot {
	int valid;
	uint64_t index;
	unsigned width;
	uint8_t nodes[TILE_NODES][32]; /* heights 0..7 within the tile, see slot_off */
};

struct run {
	struct kta_publisher *p;
	struct kta_hasher *h;
	struct stager st;
	uint64_t S, N;                       /* sizes before and after */
	uint8_t (*edge)[KTA_TILE_WIDTH][32]; /* [LEVELS]: the rightmost, unfilled tile per level */
	unsigned edge_n[LEVELS];             /* hashes in it */
	uint64_t full[LEVELS];               /* its index */
	uint8_t *bundle;                     /* the unfilled entry bundle */
	size_t bundle_used;
	unsigned bundle_n;
	struct kta_compact_range *cr;
	struct tile_slot *slots; /* [LEVELS] */
	uint64_t rbegin[64];     /* right-edge ranges [rbegin[j], N) ... */
	uint8_t rhash[64][32];   /* ... and their hashes */
	size_t nright;
};

/* Offset of the first node at height j (0..7) within a tile's nodes. */
static size_t slot_off(unsigned j)
{
	return (size_t)(512 - (512u >> j));
}

/* Reads the file of tile (level, index, width) into a new buffer. */
static enum kta_status read_tile_file(struct run *r, int level, uint64_t index, unsigned width,
				      size_t max, uint8_t **buf, size_t *len, struct kta_error *err)
{
	char rel[KTA_TILE_PATH_MAX], path[PATH_MAX];
	enum kta_status s;

	if ((s = kta_tile_path(level, index, width, rel, sizeof(rel), err)) != KTA_OK ||
	    (s = join(path, r->p->dir, rel, err)) != KTA_OK)
		return s;
	return kta_file_read(path, max, buf, len, err);
}

/* Reads hash tile (level, index, width) into out (width hashes). */
static enum kta_status read_hash_tile(struct run *r, int level, uint64_t index, unsigned width,
				      uint8_t (*out)[32], struct kta_error *err)
{
	const uint8_t(*hashes)[32] = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct kta_error sub;
	enum kta_status s;

	kta_error_clear(&sub);
	if ((s = read_tile_file(r, level, index, width, KTA_TILE_HASHES_MAX, &buf, &len, &sub)) ==
	    KTA_OK)
		s = kta_tile_parse_hashes(buf, len, width, &hashes, &sub);
	if (s == KTA_OK)
		memcpy(out, hashes, (size_t)width * 32);
	free(buf);
	/* A missing or damaged tile is a state problem (exit 3), not bad input. */
	if (s != KTA_OK)
		return kta_error_set(err, s == KTA_ERR_NOMEM ? s : KTA_ERR_IO,
				     "hash tile %d/%llu width %u: %s", level,
				     (unsigned long long)index, width, sub.msg);
	return KTA_OK;
}

/* Writes hash tile (level, index, n hashes) of edge[level]. */
static enum kta_status put_hash_tile(struct run *r, unsigned level, unsigned n,
				     struct kta_error *err)
{
	char rel[KTA_TILE_PATH_MAX];
	enum kta_status s;

	if ((s = kta_tile_path((int)level, r->full[level], n, rel, sizeof(rel), err)) != KTA_OK)
		return s;
	return stage(&r->st, rel, (const uint8_t *)r->edge[level], (size_t)n * 32, err);
}

static enum kta_status put_bundle(struct run *r, struct kta_error *err)
{
	char rel[KTA_TILE_PATH_MAX];
	enum kta_status s;

	if ((s = kta_tile_entries_path(r->full[0], r->bundle_n, rel, sizeof(rel), err)) != KTA_OK)
		return s;
	return stage(&r->st, rel, r->bundle, r->bundle_used, err);
}

/* Appends a hash at tile level `level`; a filled tile is written and its root
 * carried to the next level (tlog-tiles "Merkle Tree"). */
static enum kta_status edge_push(struct run *r, unsigned level, const uint8_t h[32],
				 struct kta_error *err)
{
	enum kta_status s;
	uint8_t root[32];

	for (;;) {
		memcpy(r->edge[level][r->edge_n[level]++], h, 32);
		if (r->edge_n[level] < KTA_TILE_WIDTH)
			return KTA_OK;
		if ((s = put_hash_tile(r, level, KTA_TILE_WIDTH, err)) != KTA_OK)
			return s;
		if ((s = kta_merkle_root(r->h, (const uint8_t(*)[32])r->edge[level], KTA_TILE_WIDTH,
					 root, err)) != KTA_OK)
			return s;
		r->edge_n[level] = 0;
		r->full[level]++;
		if (level + 1 >= LEVELS)
			return kta_error_set(err, KTA_ERR_LIMIT, "the log is full");
		level++;
		h = root;
	}
}

/*
 * The compact range of the tree of S leaves from the partial tiles at S:
 * per level, largest first, the perfect subtrees of its edge hashes.
 */
static enum kta_status restore_range(struct run *r, struct kta_error *err)
{
	uint8_t fr[64][32];
	size_t k = 0;
	int L, b;

	for (L = LEVELS - 1; L >= 0; L--) {
		unsigned c = r->edge_n[L], off = 0;

		for (b = 7; b >= 0; b--) {
			enum kta_status s;

			if ((c & (1u << b)) == 0)
				continue;
			s = kta_merkle_root(r->h, (const uint8_t(*)[32])r->edge[L] + off, 1u << b,
					    fr[k++], err);
			if (s != KTA_OK)
				return s;
			off += 1u << b;
		}
	}
	return kta_compact_range_restore(r->S, (const uint8_t(*)[32])fr, k, &r->cr, err);
}

/* Loads the rightmost tiles and entry bundle at size S and checks them against root. */
static enum kta_status load_edge(struct run *r, const uint8_t root[32], struct kta_error *err)
{
	uint8_t got[32], lh[32];
	uint8_t *buf = NULL;
	size_t len = 0;
	struct kta_tile_bundle b;
	struct kta_tile_bundle_iter it;
	struct kta_tile_entry e;
	struct kta_error sub;
	enum kta_status s;
	unsigned L, i;

	for (L = 0; L < LEVELS; L++) {
		r->full[L] = kta_tile_full_count((int)L, r->S);
		r->edge_n[L] = kta_tile_partial_width((int)L, r->S);
		if (r->edge_n[L] > 0 && (s = read_hash_tile(r, (int)L, r->full[L], r->edge_n[L],
							    r->edge[L], err)) != KTA_OK)
			return s;
	}
	r->bundle_n = r->edge_n[0];
	if (r->bundle_n > 0) {
		kta_error_clear(&sub);
		s = read_tile_file(r, KTA_TILE_ENTRIES, r->full[0], r->bundle_n,
				   KTA_TILE_BUNDLE_MAX, &buf, &len, &sub);
		if (s == KTA_OK)
			s = kta_tile_parse_bundle(buf, len, r->bundle_n, &b, &sub);
		if (s != KTA_OK) {
			free(buf);
			return kta_error_set(err, s == KTA_ERR_NOMEM ? s : KTA_ERR_IO,
					     "entry bundle %llu width %u: %s",
					     (unsigned long long)r->full[0], r->bundle_n, sub.msg);
		}
		kta_tile_bundle_iter_init(&it, &b);
		for (i = 0; kta_tile_bundle_next(&it, &e); i++) {
			kta_hash_leaf(r->h, e.data, e.len, lh);
			if (i >= r->bundle_n || memcmp(lh, r->edge[0][i], 32) != 0) {
				free(buf);
				return kta_error_set(err, KTA_ERR_IO,
						     "entry bundle %llu width %u does not match "
						     "hash tile 0/%llu",
						     (unsigned long long)r->full[0], r->bundle_n,
						     (unsigned long long)r->full[0]);
			}
		}
		memcpy(r->bundle, buf, len);
		r->bundle_used = len;
		free(buf);
	}
	if ((s = restore_range(r, err)) != KTA_OK)
		return s;
	if ((s = kta_compact_range_root(r->cr, r->h, got, err)) != KTA_OK)
		return s;
	if (memcmp(got, root, 32) != 0)
		return kta_error_set(err, KTA_ERR_IO,
				     "the tiles at size %llu do not hash to the recorded root: "
				     "refusing to publish (restore the directory)",
				     (unsigned long long)r->S);
	return KTA_OK;
}

/*
 * When a crashed publish already served a checkpoint of size C > S, checks
 * that the first C - S queued entries give its root, so that the new
 * checkpoint extends it (never fork a served head).
 */
static enum kta_status check_served(struct run *r, uint64_t C, const uint8_t root[32],
				    struct kta_error *err)
{
	struct kta_compact_range *cr = NULL;
	const uint8_t(*fr)[32];
	sqlite3_stmt *st = NULL;
	uint8_t lh[32], got[32];
	enum kta_status s;
	size_t k = 0;
	int rc;

	fr = kta_compact_range_hashes(r->cr, &k);
	if ((s = kta_compact_range_restore(r->S, fr, k, &cr, err)) != KTA_OK)
		return s;
	if ((s = db_prepare(r->p->db,
			    "SELECT entry FROM queue WHERE leaf >= ?1 AND leaf < ?2 ORDER BY leaf",
			    &st, err)) != KTA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->S);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)C);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		kta_hash_leaf(r->h, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
			      lh);
		if ((s = kta_compact_range_append(cr, r->h, lh, err)) != KTA_OK)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		s = db_fail(r->p->db, "reading the queue", err);
		goto out;
	}
	if ((s = kta_compact_range_root(cr, r->h, got, err)) != KTA_OK)
		goto out;
	if (kta_compact_range_size(cr) != C || memcmp(got, root, 32) != 0) {
		s = kta_error_set(err, KTA_ERR_IO,
				  "the served checkpoint (size %llu) is not the state (size %llu) "
				  "plus the queue: refusing to publish a fork",
				  (unsigned long long)C, (unsigned long long)r->S);
		goto out;
	}
	s = KTA_OK;
out:
	sqlite3_finalize(st);
	kta_compact_range_free(cr);
	return s;
}

/* Pass 1: appends the queued entries [S, N), writing bundles and tiles. */
static enum kta_status append_entries(struct run *r, struct kta_error *err)
{
	sqlite3_stmt *st = NULL;
	uint64_t want = r->S;
	uint8_t lh[32];
	enum kta_status s;
	unsigned L;
	int rc;

	if ((s = db_prepare(r->p->db,
			    "SELECT leaf, entry FROM queue WHERE leaf >= ?1 AND leaf < ?2"
			    " ORDER BY leaf",
			    &st, err)) != KTA_OK)
		return s;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->S);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->N);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *e = sqlite3_column_blob(st, 1);
		size_t elen = (size_t)sqlite3_column_bytes(st, 1);

		if ((uint64_t)sqlite3_column_int64(st, 0) != want || e == NULL || elen == 0) {
			s = kta_error_set(err, KTA_ERR_IO,
					  "state database: queue entry %llu is "
					  "missing or empty",
					  (unsigned long long)want);
			goto out;
		}
		kta_hash_leaf(r->h, e, elen, lh);
		if ((s = kta_compact_range_append(r->cr, r->h, lh, err)) != KTA_OK)
			goto out;
		if ((s = kta_tile_bundle_append(r->bundle, KTA_TILE_BUNDLE_MAX, &r->bundle_used, e,
						elen, err)) != KTA_OK)
			goto out;
		if (++r->bundle_n == KTA_TILE_WIDTH) {
			/* full[0] still names this bundle's tile: edge_push moves it on. */
			if ((s = put_bundle(r, err)) != KTA_OK)
				goto out;
			r->bundle_n = 0;
			r->bundle_used = 0;
		}
		if ((s = edge_push(r, 0, lh, err)) != KTA_OK)
			goto out;
		want++;
	}
	if (rc != SQLITE_DONE) {
		s = db_fail(r->p->db, "reading the queue", err);
		goto out;
	}
	if (want != r->N) {
		s = kta_error_set(err, KTA_ERR_IO, "state database: queue ended at %llu, not %llu",
				  (unsigned long long)want, (unsigned long long)r->N);
		goto out;
	}
	/* The partial tiles at N; a level whose count did not change keeps its file. */
	if (r->bundle_n > 0 && (s = put_bundle(r, err)) != KTA_OK)
		goto out;
	for (L = 0; L < LEVELS; L++) {
		if (r->edge_n[L] == 0 || (r->N >> (8 * L)) == (r->S >> (8 * L)))
			continue;
		if ((s = put_hash_tile(r, L, r->edge_n[L], err)) != KTA_OK)
			goto out;
	}
	s = KTA_OK;
out:
	sqlite3_finalize(st);
	return s;
}

/* The right-edge ranges [p_j, N) of the tree of N leaves and their hashes. */
static void right_edge(struct run *r)
{
	const uint8_t(*fr)[32];
	size_t k = 0, j;
	uint64_t begin = 0;
	int b;

	fr = kta_compact_range_hashes(r->cr, &k);
	for (j = 0, b = 63; b >= 0; b--)
		if (r->N & ((uint64_t)1 << b)) {
			r->rbegin[j++] = begin;
			begin += (uint64_t)1 << b;
		}
	r->nright = k;
	if (k == 0)
		return;
	memcpy(r->rhash[k - 1], fr[k - 1], 32);
	for (j = k - 1; j-- > 0;)
		kta_hash_node(r->h, fr[j], r->rhash[j + 1], r->rhash[j]);
}

/* The hash of the complete subtree (height, node) of the tree of N leaves. */
static enum kta_status get_node(struct run *r, unsigned height, uint64_t node, uint8_t out[32],
				struct kta_error *err)
{
	struct kta_tile t;
	struct tile_slot *sl;
	unsigned first = 0, count = 0, j;
	enum kta_status s;

	if ((s = kta_tile_for_node(height, node, r->N, &t, &first, &count, err)) != KTA_OK)
		return s;
	if (t.level < 0 || t.level >= LEVELS)
		return kta_error_set(err, KTA_ERR_INTERNAL, "tile level %d", t.level);
	sl = &r->slots[t.level];
	if (!sl->valid || sl->index != t.index || sl->width != t.width) {
		sl->valid = 0;
		if ((s = read_hash_tile(r, t.level, t.index, t.width, sl->nodes, err)) != KTA_OK)
			return s;
		for (j = 1; j < KTA_TILE_HEIGHT; j++) {
			size_t prev = slot_off(j - 1), cur = slot_off(j), i;

			for (i = 0; i < (t.width >> j); i++)
				kta_hash_node(r->h, sl->nodes[prev + 2 * i],
					      sl->nodes[prev + 2 * i + 1], sl->nodes[cur + i]);
		}
		sl->valid = 1;
		sl->index = t.index;
		sl->width = t.width;
	}
	j = height % KTA_TILE_HEIGHT;
	memcpy(out, sl->nodes[slot_off(j) + (first >> j)], 32);
	return KTA_OK;
}

/* The inclusion proof of leaf i in the tree of N leaves (RFC 9162 2.1.3.1). */
static enum kta_status prove(struct run *r, uint64_t i, uint8_t (*proof)[32], size_t *n,
			     struct kta_error *err)
{
	struct kta_merkle_leaf_range rg[KTA_MERKLE_MAX_PROOF];
	size_t len = 0, k, j;
	enum kta_status s;

	if ((s = kta_merkle_inclusion_proof_ranges(i, r->N, rg, KTA_MERKLE_MAX_PROOF, &len, err)) !=
	    KTA_OK)
		return s;
	for (k = 0; k < len; k++) {
		uint64_t w = rg[k].end - rg[k].begin;

		if ((w & (w - 1)) == 0 && rg[k].begin % w == 0) {
			unsigned height = 0;

			while (((uint64_t)1 << height) != w)
				height++;
			if ((s = get_node(r, height, rg[k].begin >> height, proof[k], err)) !=
			    KTA_OK)
				return s;
			continue;
		}
		/* Not a stored node: a range on the right edge (merkle.h). */
		for (j = 0; j < r->nright; j++)
			if (r->rbegin[j] == rg[k].begin && rg[k].end == r->N)
				break;
		if (j == r->nright)
			return kta_error_set(err, KTA_ERR_INTERNAL, "proof range [%llu, %llu)",
					     (unsigned long long)rg[k].begin,
					     (unsigned long long)rg[k].end);
		memcpy(proof[k], r->rhash[j], 32);
	}
	*n = len;
	return KTA_OK;
}

/* Pass 2: the lookup file of every label whose latest entry is in [S, N). */
static enum kta_status write_lookups(struct run *r, const char *cp_json, uint64_t *count,
				     struct kta_error *err)
{
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32];
	sqlite3_stmt *st = NULL;
	size_t cj = strlen(cp_json), cap, plen = 0, k;
	char *buf = NULL, rel[8 + KTA_LABEL_ENCODED_MAX + 1];
	enum kta_status s;
	int rc;

	cap = cj + KTA_B64_ENCODED_LEN(KTA_ENTRY_MAX_SIZE) +
	      KTA_MERKLE_MAX_PROOF * (KTA_B64_ENCODED_LEN(32) + 3) + 128;
	if ((buf = malloc(cap)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	memcpy(rel, "lookup/", 7);
	if ((s = db_prepare(r->p->db,
			    "SELECT q.leaf, q.label, q.entry FROM queue q JOIN labels l"
			    " ON l.label = q.label AND l.leaf = q.leaf"
			    " WHERE q.leaf >= ?1 AND q.leaf < ?2 ORDER BY q.leaf",
			    &st, err)) != KTA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->S);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->N);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t leaf = (uint64_t)sqlite3_column_int64(st, 0);
		const char *label = (const char *)sqlite3_column_text(st, 1);
		const uint8_t *e = sqlite3_column_blob(st, 2);
		size_t elen = (size_t)sqlite3_column_bytes(st, 2), pos, enclen = 0;
		int n;

		if (label == NULL || e == NULL || elen > KTA_ENTRY_MAX_SIZE) {
			s = kta_error_set(err, KTA_ERR_IO,
					  "state database: queue entry %llu is "
					  "damaged",
					  (unsigned long long)leaf);
			goto out;
		}
		if ((s = kta_entry_label_encode(label, (size_t)sqlite3_column_bytes(st, 1), rel + 7,
						&enclen, err)) != KTA_OK)
			goto out;
		if ((s = prove(r, leaf, proof, &plen, err)) != KTA_OK)
			goto out;
		n = snprintf(buf, cap, "{\"checkpoint\":%s,\"leaf_index\":%llu,\"entry\":\"",
			     cp_json, (unsigned long long)leaf);
		if (n < 0 || (size_t)n >= cap) {
			s = kta_error_set(err, KTA_ERR_INTERNAL, "lookup buffer");
			goto out;
		}
		pos = (size_t)n;
		pos += kta_b64_encode(e, elen, buf + pos);
		memcpy(buf + pos, "\",\"audit_path\":[", 16);
		pos += 16;
		for (k = 0; k < plen; k++) {
			if (k > 0)
				buf[pos++] = ',';
			buf[pos++] = '"';
			pos += kta_b64_encode(proof[k], 32, buf + pos);
			buf[pos++] = '"';
		}
		memcpy(buf + pos, "]}\n", 3);
		pos += 3;
		if ((s = stage(&r->st, rel, (const uint8_t *)buf, pos, err)) != KTA_OK)
			goto out;
		(*count)++;
	}
	if (rc != SQLITE_DONE) {
		s = db_fail(r->p->db, "reading the queue", err);
		goto out;
	}
	s = KTA_OK;
out:
	sqlite3_finalize(st);
	free(buf);
	return s;
}

/* Reads the served checkpoint, if any, and verifies it with the log key. */
static enum kta_status read_served(struct run *r, const struct kta_skey *log, int64_t now,
				   int *have, uint64_t *size, uint8_t root[32],
				   struct kta_error *err)
{
	struct kta_checkpoint_policy pol;
	struct kta_checkpoint_result res;
	struct kta_vkey *vk = NULL;
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat sb;
	struct kta_error sub;
	enum kta_status s;

	*have = 0;
	kta_error_clear(&sub);
	if ((s = join(path, r->p->dir, "checkpoint", err)) != KTA_OK)
		return s;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			return KTA_OK;
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	}
	memset(&res, 0, sizeof(res));
	memset(&pol, 0, sizeof(pol));
	if ((s = kta_skey_vkey(log, &vk, err)) != KTA_OK)
		goto out;
	if ((s = kta_file_read(path, KTA_NOTE_MAX_SIZE, &buf, &len, err)) != KTA_OK)
		goto out;
	pol.log_key = vk;
	pol.origin = r->p->origin;
	pol.now = now;
	s = kta_checkpoint_verify(buf, len, &pol, &res, &sub);
	if (s != KTA_OK) {
		/* Our own file does not verify: the state is not what we wrote. */
		s = kta_error_set(err, s == KTA_ERR_NOMEM ? s : KTA_ERR_IO,
				  "%s: %s (is the key file still the log's key?)", path, sub.msg);
		goto out;
	}
	*have = 1;
	*size = res.cp->size;
	memcpy(root, res.cp->root, 32);
out:
	kta_checkpoint_result_free(&res);
	kta_vkey_free(vk);
	free(buf);
	return s;
}

/* Locks the directory against a concurrent publish. Sets *fd. */
static enum kta_status lock_dir(const char *dir, int *fd, struct kta_error *err)
{
	char path[PATH_MAX];
	enum kta_status s;

	*fd = -1;
	if ((s = join(path, dir, KTA_PUBLISH_STATE_DIR "/lock", err)) != KTA_OK)
		return s;
	if ((*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return kta_error_set(err, KTA_ERR_IO, "%s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		(void)close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return kta_error_set(err, KTA_ERR_IO, "%s: another publish is running",
					     dir);
		return kta_error_set(err, KTA_ERR_IO, "lock %s: %s", path, strerror(e));
	}
	return KTA_OK;
}

/* Reads the queue's extent: count and smallest leaf. */
static enum kta_status queue_extent(sqlite3 *db, uint64_t *count, uint64_t *min, uint64_t *max,
				    struct kta_error *err)
{
	sqlite3_stmt *st = NULL;
	enum kta_status s;

	if ((s = db_prepare(db, "SELECT COUNT(*), MIN(leaf), MAX(leaf) FROM queue", &st, err)) !=
	    KTA_OK)
		return s;
	if (sqlite3_step(st) != SQLITE_ROW) {
		s = db_fail(db, "reading the queue", err);
	} else {
		*count = (uint64_t)sqlite3_column_int64(st, 0);
		*min = (uint64_t)sqlite3_column_int64(st, 1);
		*max = (uint64_t)sqlite3_column_int64(st, 2);
		s = KTA_OK;
	}
	sqlite3_finalize(st);
	return s;
}

/* Records size N with root: the publication is complete. */
static enum kta_status commit_state(struct run *r, const uint8_t root[32], struct kta_error *err)
{
	sqlite3_stmt *st = NULL;
	enum kta_status s;

	if ((s = db_exec(r->p->db, "BEGIN IMMEDIATE", err)) != KTA_OK)
		return s;
	if ((s = db_prepare(r->p->db,
			    "UPDATE meta SET v = CASE k WHEN 'size' THEN ?1 ELSE ?2 END"
			    " WHERE k IN ('size', 'root')",
			    &st, err)) != KTA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->N);
	sqlite3_bind_blob(st, 2, root, 32, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		s = db_fail(r->p->db, "recording the size", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((s = db_prepare(r->p->db, "DELETE FROM queue WHERE leaf < ?1", &st, err)) != KTA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->N);
	if (sqlite3_step(st) != SQLITE_DONE) {
		s = db_fail(r->p->db, "clearing the queue", err);
		goto out;
	}
	s = db_exec(r->p->db, "COMMIT", err);
out:
	sqlite3_finalize(st);
	if (s != KTA_OK)
		(void)sqlite3_exec(r->p->db, "ROLLBACK", NULL, NULL, NULL);
	return s;
}

enum kta_status kta_publish_run(struct kta_publisher *p, const struct kta_publish_opts *o,
				struct kta_publish_result *res, struct kta_error *err)
{
	struct kta_publish_result out;
	struct kta_skey *log = NULL;
	struct run r;
	uint8_t root_S[32], served_root[32], root[32], *note = NULL;
	size_t note_len = 0, i;
	uint64_t served = 0, count = 0, qmin = 0, qmax = 0;
	char path[PATH_MAX], *cp_json = NULL;
	int have_served = 0, lockfd = -1, in_txn = 0;
	json_t *js = NULL;
	enum kta_status s;

	memset(&r, 0, sizeof(r));
	memset(&out, 0, sizeof(out));
	r.p = p;
	r.st.dirfd = r.st.tmpfd = -1;
	/* Everything that can be refused is checked before any file is written. */
	for (i = 0; i < o->nwitnesses; i++)
		if (o->witnesses[i]->type != KTA_KEY_COSIGNATURE_V1) {
			s = kta_error_set(err, KTA_ERR_USAGE,
					  "--cosign: key \"%s\" is not a witness key (keygen "
					  "--witness)",
					  o->witnesses[i]->name);
			goto out;
		}
	if (o->now > KTA_COSIG_TIME_MAX) {
		s = kta_error_set(err, KTA_ERR_USAGE, "cosignature time is over 2^63-1");
		goto out;
	}
	if ((s = lock_dir(p->dir, &lockfd, err)) != KTA_OK)
		goto out;
	if ((s = load_skey(p->key_path, KTA_KEY_ED25519, "log key", &log, err)) != KTA_OK)
		goto out;
	if ((s = kta_hasher_new(&r.h, err)) != KTA_OK)
		goto out;
	if ((r.edge = calloc(LEVELS, sizeof(*r.edge))) == NULL ||
	    (r.slots = calloc(LEVELS, sizeof(*r.slots))) == NULL ||
	    (r.bundle = malloc(KTA_TILE_BUNDLE_MAX)) == NULL) {
		s = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((s = stage_open(&r.st, p->dir, o->fail_after_files, err)) != KTA_OK)
		goto out;
	/* One read snapshot for the state, the queue and both passes. */
	if ((s = db_exec(p->db, "BEGIN", err)) != KTA_OK)
		goto out;
	in_txn = 1;
	if ((s = meta_get_u64(p->db, "size", &r.S, err)) != KTA_OK ||
	    (s = meta_get(p->db, "root", NULL, root_S, 32, err)) != KTA_OK)
		goto out;
	if ((s = queue_extent(p->db, &count, &qmin, &qmax, err)) != KTA_OK)
		goto out;
	if (count > 0 && (qmin != r.S || qmax - qmin + 1 != count)) {
		s = kta_error_set(err, KTA_ERR_IO,
				  "state database: the queue holds leaves %llu..%llu, not a "
				  "continuation of size %llu",
				  (unsigned long long)qmin, (unsigned long long)qmax,
				  (unsigned long long)r.S);
		goto out;
	}
	r.N = r.S + count;
	if ((s = load_edge(&r, root_S, err)) != KTA_OK)
		goto out;
	if ((s = read_served(&r, log, (int64_t)o->now, &have_served, &served, served_root, err)) !=
	    KTA_OK)
		goto out;
	if (have_served && (served < r.S || served > r.N ||
			    (served == r.S && memcmp(served_root, root_S, 32) != 0))) {
		s = kta_error_set(err, KTA_ERR_IO,
				  "the served checkpoint (size %llu) does not match the state "
				  "(size %llu, %llu queued): refusing to publish",
				  (unsigned long long)served, (unsigned long long)r.S,
				  (unsigned long long)count);
		goto out;
	}
	if (have_served && served > r.S &&
	    (s = check_served(&r, served, served_root, err)) != KTA_OK)
		goto out;
	out.old_size = r.S;
	if (count == 0) {
		/* Nothing queued: a no-op, except to restore a missing checkpoint. */
		memcpy(root, root_S, 32);
		if (!have_served) {
			if ((s = sign_checkpoint(p->origin, r.S, root, log, o->witnesses,
						 o->nwitnesses, o->now, &note, &note_len, err)) !=
				KTA_OK ||
			    (s = join(path, p->dir, "checkpoint", err)) != KTA_OK ||
			    (s = kta_file_write_atomic(path, note, note_len, 0644, err)) != KTA_OK)
				goto out;
			out.files = 1;
		}
		out.size = r.S;
		memcpy(out.root, root, 32);
		s = KTA_OK;
		goto out;
	}

	/* Pass 1: entries, bundles, tiles; then the new head. */
	if ((s = append_entries(&r, err)) != KTA_OK)
		goto out;
	if ((s = kta_compact_range_root(r.cr, r.h, root, err)) != KTA_OK)
		goto out;
	if (kta_hasher_failed(r.h)) {
		s = kta_error_set(err, KTA_ERR_INTERNAL, "SHA-256 failed");
		goto out;
	}
	if ((s = stage_flush(&r.st, err)) != KTA_OK)
		goto out;
	if ((s = sign_checkpoint(p->origin, r.N, root, log, o->witnesses, o->nwitnesses, o->now,
				 &note, &note_len, err)) != KTA_OK)
		goto out;
	if ((js = json_stringn((const char *)note, note_len)) == NULL ||
	    (cp_json = json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL) {
		s = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Pass 2: lookups, with proofs from the tiles now in place. */
	right_edge(&r);
	if ((s = write_lookups(&r, cp_json, &out.lookups, err)) != KTA_OK)
		goto out;
	if (kta_hasher_failed(r.h)) {
		s = kta_error_set(err, KTA_ERR_INTERNAL, "SHA-256 failed");
		goto out;
	}
	in_txn = 0;
	if ((s = db_exec(p->db, "COMMIT", err)) != KTA_OK)
		goto out;
	if ((s = stage_finish(&r.st, err)) != KTA_OK)
		goto out;
	/* The checkpoint last: it makes the publication visible. */
	if ((s = stage_check_fail(&r.st, err)) != KTA_OK)
		goto out;
	if ((s = join(path, p->dir, "checkpoint", err)) != KTA_OK ||
	    (s = kta_file_write_atomic(path, note, note_len, 0644, err)) != KTA_OK)
		goto out;
	if ((s = commit_state(&r, root, err)) != KTA_OK)
		goto out;
	out.size = r.N;
	out.entries = count;
	out.files = r.st.placed + 1;
	memcpy(out.root, root, 32);
	s = KTA_OK;
out:
	if (in_txn)
		(void)sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
	if (s == KTA_OK)
		*res = out;
	stage_close(&r.st);
	if (lockfd >= 0)
		(void)close(lockfd);
	json_decref(js);
	free(cp_json);
	free(note);
	free(r.edge);
	free(r.slots);
	free(r.bundle);
	kta_compact_range_free(r.cr);
	kta_hasher_free(r.h);
	kta_skey_free(log);
	return s;
}
