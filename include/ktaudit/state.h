/*
 * ktaudit: the monitor's durable state (SQLite).
 *
 * One database file DIR/state.db; DIR is created mode 0700 and the database
 * and its -wal/-shm (or -journal) files mode 0600 whatever the umask. WAL
 * journal (a rollback journal in exclusive mode, below), synchronous=FULL,
 * a busy timeout, foreign keys off (no cascades needed).
 * The schema version is PRAGMA user_version (KTA_STATE_SCHEMA_VERSION); a
 * database from a newer ktaudit is refused with a message saying so.
 *
 *   table         | columns (key first)                   | holds
 *   --------------+---------------------------------------+------------------------------
 *   logs          | origin PK, checkpoint, size, root,    | the last verified checkpoint
 *                 | range, first_seen, updated            | (signed note text), its
 *                 |                                       | compact range (concatenated
 *                 |                                       | 32-byte hashes, largest first)
 *   labels        | (origin, bucket) UNIQUE, data         | the replay index: each
 *                 |                                       | label's latest state, in
 *                 |                                       | buckets (below)
 *   label_history | (origin, chunk) UNIQUE, data          | every entry replayed, for
 *                 |                                       | `ktaudit history`, in chunks
 *                 |                                       | of ~16 KB (below)
 *   watches       | (origin, label) PK, mode, keys,       | watched labels; keys: the
 *                 | approved_version, added_at            | approved set (NULL: tofu with
 *                 |                                       | no set yet); approved_version 0
 *                 |                                       | for a pin
 *   alerts        | id PK, seq UNIQUE, json, severity,    | the outbox (alert JSON text);
 *                 | created                               | seq orders them
 *   sinks         | name PK, after_seq, added_at          | registered sinks; a sink gets
 *                 |                                       | alerts with seq > after_seq
 *   deliveries    | (alert_id, sink) PK, delivered_at,    | one row per delivery attempt
 *                 | attempts, next_attempt, last_error    | history of an (alert, sink)
 *   pending       | origin PK, checkpoint, size, root,    | a catch-up being committed
 *                 | done, range, started, updated         | in chunks (below)
 *   cosigned      | origin PK, checkpoint, size, root,    | the last checkpoint this
 *                 | updated                               | auditor cosigned (witness.h)
 *   shards        | origin PK, k, n                       | the log is audited as shard
 *                 |                                       | k of n (shard.h); no row:
 *                 |                                       | every label
 *
 * Key-set blob (in label records, watches.keys), for each key in canonical
 * order: 1 byte alg (enum kta_entry_alg) | 32 bytes pub | 1 byte device
 * length (1..255) | device bytes. An empty set is a zero-length blob.
 *
 * Label index (schema 2 and later). Labels are spread over buckets by linear hashing
 * of SipHash-2-4(key, label) (the key is random per origin, so a log cannot
 * aim its labels at one bucket); a bucket splits when the average passes 32
 * labels. varint: unsigned LEB128, shortest form.
 *   labels row bucket -1 (meta): 16 bytes SipHash key | nbuckets (8 bytes
 *     little-endian, >= 1) | nlabels (8 bytes LE)
 *   labels row bucket b >= 0 (schema 5): byte 0x00 | records, each: varint
 *     label length | label | varint version | varint leaf_index | varint
 *     key-set blob length | key-set blob (no bucket row: an empty bucket).
 *     The leaf hash of a label's latest entry is not kept: it is rebuilt
 *     from that entry's history record when a replay needs it (replay.h
 *     entry_hash). Schema 4 wrote rows without the 0x00 byte (a record
 *     never starts with it: labels are not empty) and with a 32-byte entry
 *     hash after the leaf index; they are still read.
 *   label_history row chunk c: consecutive history records in leaf order,
 *     c the first one's leaf (a chunk is closed at ~16 KB), each: varint
 *     leaf - c | 1 byte: enum kta_auth_result, plus 0x80 when the entry is
 *     packed | varint version | varint (previous leaf of the label + 1, 0
 *     for its first entry) | varint length | the entry: its bytes, or,
 *     packed, the first 4 bytes of its leaf hash then kta_entry_pack's form
 *     (entry.h; the text is rebuilt from it and the version, and refused
 *     unless its leaf hash starts with those 4 bytes). The replay's entries
 *     are packed (~60% of their text), an entry given without its parse is
 *     kept as bytes.
 * A label's history is the chain of records from its latest leaf (in its
 * label record) back through the previous-leaf links. Leaves are appended in
 * increasing order per origin: a put at or below the last leaf in the
 * history is refused (KTA_ERR_IO, a leaf replayed twice).
 * Schema 1 (one row per label and per history entry) is converted to these
 * rows when opened.
 *
 * Delivery semantics (docs/alerts.md): every alert is stored once (its id is
 * the primary key; re-adding a known id changes nothing). A sink must be
 * registered (kta_state_sink_register, idempotent) and then receives every
 * alert stored AFTER its registration, until it accepts it; a sink added to
 * the configuration later does not receive the old alerts. Delivery rows are
 * created on the first attempt. A failed attempt schedules the next one at
 * the caller's next_attempt (the delivery loop owns the backoff policy).
 *
 * Transactions: kta_state_begin / _commit / _rollback bracket one cycle step
 * (checkpoint, compact range, index, history, alerts). Calls that change
 * state outside a transaction run in their own implicit one. Nested begin is
 * KTA_ERR_USAGE.
 *
 * Errors: SQLite failures are KTA_ERR_IO ("state.db: <sqlite message>"), a
 * database whose content does not decode is KTA_ERR_MALFORMED, NOMEM as usual.
 *
 * Ownership: kta_state_open allocates the handle (kta_state_close frees it).
 * Every _get/_list/_history output is malloc'd and freed with the matching
 * _free function. Index and watch adapters borrow the state handle, which
 * must outlive them. A handle is not thread-safe; several processes may open
 * one database (SQLite locking; busy timeout KTA_STATE_BUSY_TIMEOUT_MS).
 */
#ifndef KTAUDIT_STATE_H
#define KTAUDIT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/alert.h"
#include "ktaudit/compact.h"
#include "ktaudit/entry.h"
#include "ktaudit/error.h"
#include "ktaudit/replay.h"

/* Schema versions (PRAGMA user_version): 2, the label index in buckets and
 * history chunks; 3, the same holding one shard's labels (table "shards");
 * 4, history records may hold packed entries (below); 5, label bucket rows
 * may be in the form without leaf hashes (below). This ktaudit creates 5
 * and raises 1 (migrated), 2, 3 and 4 to 5 when it opens them, in the
 * transaction that checks the schema (older bucket rows are read as they
 * are and rewritten in the new form when their bucket changes): an older
 * ktaudit then refuses the database ("written by a newer ktaudit") instead
 * of misreading a packed record, a bucket row without hashes, or one
 * shard's index as a whole log's. */
#define KTA_STATE_SCHEMA_VERSION 5 /* the newest this ktaudit reads, and writes */
#define KTA_STATE_DB_NAME "state.db"
#define KTA_STATE_BUSY_TIMEOUT_MS 10000
/* Largest stored checkpoint note text (matches the note parser's limit). */
#define KTA_STATE_NOTE_MAX (1024 * 1024)
/* Longest sink name. */
#define KTA_STATE_SINK_NAME_MAX 256
/* Longest stored delivery error text (longer ones are cut). */
#define KTA_STATE_ERROR_TEXT_MAX 1024

struct kta_state; /* opaque */

/*
 * Opens (creating if needed) dir/state.db. dir is created 0700 if missing
 * (an existing dir is left as is, but must be a directory); the database file
 * is forced to 0600. Errors: KTA_ERR_IO (cannot create/open, SQLite error),
 * KTA_ERR_MALFORMED (not a ktaudit database, or schema newer than
 * KTA_STATE_SCHEMA_VERSION: "written by a newer ktaudit"), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_state_open(const char *dir, struct kta_state **out,
				       struct kta_error *err) KTA_WUR;
/* Closes st (rolls back an open transaction); NULL does nothing. */
KTA_API void kta_state_close(struct kta_state *st);

/*
 * Exclusive mode, for a first sync with nothing else using the database:
 * st takes SQLite's lock and keeps it until kta_state_set_shared or
 * kta_state_close, and the journal is a rollback journal instead of the
 * WAL. Pages new to the file are then written once, straight into the
 * database, instead of into the WAL and again by its checkpoint (SQLite's
 * own advice for transactions of more than ~100 MB); pages already in the
 * file are still written twice (into the journal first), as with the WAL.
 * Commits stay durable: the journal is synced, then the database, then the
 * journal's cleared header. While st holds the lock every other open or
 * command on the database waits up to its busy timeout, then fails with
 * "database is locked". After a crash the next kta_state_open rolls back
 * what was not committed and switches the journal back to WAL. Errors:
 * KTA_ERR_USAGE inside a transaction; KTA_ERR_IO when another handle or
 * process still has the database open after KTA_STATE_BUSY_TIMEOUT_MS (a
 * switch out of WAL needs it alone), st left as it was.
 */
KTA_API enum kta_status kta_state_set_exclusive(struct kta_state *st,
						struct kta_error *err) KTA_WUR;
/* Ends exclusive mode: back to WAL and normal locking, the lock released
 * (nothing to do when st is not exclusive). KTA_ERR_USAGE inside a
 * transaction; on KTA_ERR_IO st may still hold the lock, until close. */
KTA_API enum kta_status kta_state_set_shared(struct kta_state *st, struct kta_error *err) KTA_WUR;

KTA_API enum kta_status kta_state_begin(struct kta_state *st, struct kta_error *err) KTA_WUR;
KTA_API enum kta_status kta_state_commit(struct kta_state *st, struct kta_error *err) KTA_WUR;
/* Rolls back the open transaction; does nothing without one. */
KTA_API enum kta_status kta_state_rollback(struct kta_state *st, struct kta_error *err);
/* 1 while a transaction is open. */
KTA_API int kta_state_in_transaction(const struct kta_state *st);

/* Default, smallest and largest cache of a handle, MiB (kta_state_set_cache). */
#define KTA_STATE_CACHE_DEFAULT_MIB 192
#define KTA_STATE_CACHE_MIN_MIB 8
#define KTA_STATE_CACHE_MAX_MIB 1048576

/*
 * Bounds the memory a handle caches to mib MiB (the `index_cache` directive;
 * KTA_STATE_CACHE_DEFAULT_MIB from kta_state_open): an eighth, at most
 * 16 MiB, is SQLite's page cache, the rest the label indexes' write-back caches (buckets kept
 * in memory and written at commit; least recently used ones are written
 * and dropped when over budget, so an index of any size works within it).
 * KTA_ERR_USAGE outside KTA_STATE_CACHE_MIN_MIB..KTA_STATE_CACHE_MAX_MIB.
 */
KTA_API enum kta_status kta_state_set_cache(struct kta_state *st, uint64_t mib,
					    struct kta_error *err) KTA_WUR;
/* What the label indexes of a handle hold in memory (kta_state_cache_stats). */
struct kta_state_cache_stats {
	size_t used;      /* bytes held now: buckets, their records, the bucket directory */
	size_t budget;    /* the label part of the cache (kta_state_set_cache) */
	uint64_t evicted; /* buckets dropped to stay within it (written first if changed) */
	uint64_t cleaned; /* chunks of records cleaned (dead bytes given back, buckets kept) */
};
/*
 * Fills *out; the counters count from kta_state_open. Each index keeps its
 * own memory within what the others leave of the budget: after an index
 * call returns, used is within budget unless the other indexes of st hold
 * more, or one bucket alone is larger.
 */
KTA_API void kta_state_cache_stats(const struct kta_state *st, struct kta_state_cache_stats *out);

/* --- logs: the last verified checkpoint per origin ----------------------- */

struct kta_state_log {
	char *origin;                    /* NUL-terminated */
	char *checkpoint;                /* signed note text, NUL-terminated */
	size_t checkpoint_len;           /* bytes, without the NUL */
	uint64_t size;                   /* tree size of the checkpoint */
	uint8_t root[32];                /* its root hash */
	struct kta_compact_range *range; /* compact range over [0, size) */
	int64_t first_seen;              /* when the origin was first stored */
	int64_t updated;                 /* when this checkpoint was stored */
};

/*
 * Gets the stored checkpoint of origin: *found = 0 (and *out = NULL) when
 * there is none yet, else *out (free with kta_state_log_free). A stored range
 * whose size differs from the checkpoint size is KTA_ERR_MALFORMED.
 */
KTA_API enum kta_status kta_state_log_get(struct kta_state *st, const char *origin, int *found,
					  struct kta_state_log **out,
					  struct kta_error *err) KTA_WUR;
KTA_API void kta_state_log_free(struct kta_state_log *l);

/*
 * Stores the verified checkpoint (note, note_len) of origin with its size,
 * root and compact range (kta_compact_range_size(range) must equal size:
 * KTA_ERR_USAGE otherwise). first_seen is set on the first put.
 */
KTA_API enum kta_status kta_state_log_put(struct kta_state *st, const char *origin,
					  const char *note, size_t note_len, uint64_t size,
					  const uint8_t root[static 32],
					  const struct kta_compact_range *range, int64_t now,
					  struct kta_error *err) KTA_WUR;

/* --- pending: a catch-up committed in chunks (the monitor's commit_every) -- */

/*
 * A step that replays more entries than one transaction should hold is
 * committed in chunks. Until its last chunk commits, the verified checkpoint
 * (kta_state_log) stays where it was, and this row says where the step goes
 * and how far it got: the label index, history and alerts hold the leaves
 * [0, done), and range is their compact range. The last chunk stores the
 * target as the verified checkpoint and clears the row in one transaction.
 */
struct kta_state_pending {
	char *checkpoint;                /* the target's signed note, NUL-terminated */
	size_t checkpoint_len;           /* bytes, without the NUL */
	uint64_t size;                   /* the target's tree size */
	uint8_t root[32];                /* ... and root hash */
	uint64_t done;                   /* leaves replayed and committed, < size */
	struct kta_compact_range *range; /* compact range over [0, done) */
	int64_t started;                 /* when the first chunk was committed */
};

/*
 * Gets origin's pending catch-up: *found = 0 (and *out = NULL) when none,
 * else *out (free with kta_state_pending_free). A row whose range does not
 * cover exactly `done` leaves, or whose done is not below size, is
 * KTA_ERR_MALFORMED.
 */
KTA_API enum kta_status kta_state_pending_get(struct kta_state *st, const char *origin, int *found,
					      struct kta_state_pending **out,
					      struct kta_error *err) KTA_WUR;
KTA_API void kta_state_pending_free(struct kta_state_pending *p);

/*
 * Stores (replaces) origin's pending catch-up: the target (note, size, root)
 * and the compact range of the leaves committed so far, which must number
 * fewer than size (KTA_ERR_USAGE otherwise). started is kept from the first
 * put for the same target.
 */
KTA_API enum kta_status kta_state_pending_put(struct kta_state *st, const char *origin,
					      const char *note, size_t note_len, uint64_t size,
					      const uint8_t root[static 32],
					      const struct kta_compact_range *range, int64_t now,
					      struct kta_error *err) KTA_WUR;

/* Removes origin's pending catch-up (none: KTA_OK). */
KTA_API enum kta_status kta_state_pending_clear(struct kta_state *st, const char *origin,
						struct kta_error *err) KTA_WUR;

/* --- shards: which of a log's labels this database holds (shard.h) ------- */

/*
 * Binds origin's state to shard k of n (n 0: every label), or checks that it
 * is bound so. A database with no shard recorded may become shard k of n
 * provided it holds nothing of the log's other labels: no verified
 * checkpoint, pending catch-up or label index (audited as a whole log), and
 * no watch of a label of another shard. With record set, the first such
 * call records the shard; without, it only checks. Later calls must name
 * the same shard. So a database is never read as another shard's (its
 * index would lack labels and raise false alerts)
 * or as a whole log's. A mismatch is KTA_ERR_USAGE naming the database,
 * the log, the stored and the asked shard (or the watch); a damaged row
 * KTA_ERR_MALFORMED. *stored (may be NULL) = 1 when this call wrote the row.
 */
KTA_API enum kta_status kta_state_shard_claim(struct kta_state *st, const char *origin, uint32_t k,
					      uint32_t n, int record, int *stored,
					      struct kta_error *err) KTA_WUR;

/* --- cosigned: the last checkpoint this auditor cosigned (witness.h) ----- */

struct kta_state_cosigned {
	char *checkpoint;      /* the cosigned note as published, NUL-terminated */
	size_t checkpoint_len; /* bytes, without the NUL */
	uint64_t size;         /* its tree size */
	uint8_t root[32];      /* its root hash */
	int64_t updated;       /* when it was stored */
};

/*
 * Gets the last cosigned checkpoint of origin: *found = 0 (and *out = NULL)
 * when none, else *out (free with kta_state_cosigned_free). Kept across
 * restarts so that the auditor never cosigns a fork of what it cosigned.
 */
KTA_API enum kta_status kta_state_cosigned_get(struct kta_state *st, const char *origin, int *found,
					       struct kta_state_cosigned **out,
					       struct kta_error *err) KTA_WUR;
KTA_API void kta_state_cosigned_free(struct kta_state_cosigned *c);

/* Stores (replaces) the last cosigned checkpoint of origin. */
KTA_API enum kta_status kta_state_cosigned_put(struct kta_state *st, const char *origin,
					       const char *note, size_t note_len, uint64_t size,
					       const uint8_t root[static 32], int64_t now,
					       struct kta_error *err) KTA_WUR;

/* --- the replay index over the labels and label_history tables ----------- */

struct kta_state_index; /* opaque: prepared statements and a key buffer */

/*
 * An index for origin backed by the labels table; put() also appends the
 * entry to label_history (so the caller must pass the replay's states with
 * entry bytes: the replay always does). A leaf at or below the last one in
 * the origin's history is KTA_ERR_IO (a leaf replayed twice is a bug, never
 * silently overwritten). Use inside a transaction: changes are cached in
 * the index and written at kta_state_commit (or when the cache is full, in
 * the same transaction); a rollback drops them. Freeing an index inside a
 * transaction writes what it holds (a failure then fails the commit). The
 * operations include prefetch() (replay.h): it only starts loading, into
 * the CPU caches, the cached bucket a later get() will read, and keeps the
 * label's hash for that get; it reads nothing from SQLite and changes
 * nothing else.
 */
KTA_API enum kta_status kta_state_index_new(struct kta_state *st, const char *origin,
					    struct kta_state_index **out,
					    struct kta_error *err) KTA_WUR;
KTA_API void kta_state_index_free(struct kta_state_index *ix);
KTA_API struct kta_replay_index kta_state_index_ops(struct kta_state_index *ix);

/* Number of labels of origin in the index. */
KTA_API enum kta_status kta_state_label_count(struct kta_state *st, const char *origin,
					      uint64_t *out, struct kta_error *err) KTA_WUR;

/* --- watches ------------------------------------------------------------ */

struct kta_state_watch {
	char *origin;
	char *label;
	enum kta_watch_mode mode;
	int has_approved;           /* 0: tofu, nothing seen yet */
	uint64_t approved_version;  /* 0: the set is a pin (or none yet) */
	struct kta_entry_key *keys; /* approved set, canonical order; NULL when nkeys == 0 */
	size_t nkeys;
	int64_t added_at;
};

/*
 * Watches label of origin, replacing an existing watch of it. PINNED: keys
 * is the pinned set (canonical: kta_replay_keys_canonicalize; KTA_ERR_USAGE
 * otherwise; may be empty = "must have no keys"). TOFU: keys must be NULL/0;
 * when the label is already in the index, its current key set and version
 * become the approved set at once (no rescan); otherwise the first key set
 * replayed does. The label must be valid (kta_entry_label_check).
 */
KTA_API enum kta_status kta_state_watch_add(struct kta_state *st, const char *origin,
					    const char *label, enum kta_watch_mode mode,
					    const struct kta_entry_key *keys, size_t nkeys,
					    int64_t now, struct kta_error *err) KTA_WUR;

/*
 * The owner confirms version `version` of a watched label: that version's
 * key set (from label_history) becomes the approved set. KTA_ERR_USAGE when
 * the label is not watched or that version was never replayed (with several
 * entries of that version, equivocation, the latest one is taken).
 */
KTA_API enum kta_status kta_state_watch_approve(struct kta_state *st, const char *origin,
						const char *label, uint64_t version,
						struct kta_error *err) KTA_WUR;

/* Stops watching; KTA_ERR_USAGE when the label is not watched. */
KTA_API enum kta_status kta_state_watch_remove(struct kta_state *st, const char *origin,
					       const char *label, struct kta_error *err) KTA_WUR;

/* One watch: *found = 0 and *out = NULL when not watched. */
KTA_API enum kta_status kta_state_watch_get(struct kta_state *st, const char *origin,
					    const char *label, int *found,
					    struct kta_state_watch **out,
					    struct kta_error *err) KTA_WUR;
KTA_API void kta_state_watch_free(struct kta_state_watch *w);

/* Every watch of origin (every origin when origin is NULL), by origin and label. */
KTA_API enum kta_status kta_state_watch_list(struct kta_state *st, const char *origin,
					     struct kta_state_watch **out, size_t *n,
					     struct kta_error *err) KTA_WUR;
KTA_API void kta_state_watch_list_free(struct kta_state_watch *w, size_t n);

struct kta_state_watches; /* opaque: origin's watches loaded into memory */

/*
 * The replay watch interface for origin: loads the watches once (call at the
 * start of each cycle step so changes made by `watch add` apply without a
 * restart); tofu() updates the watches table in the current transaction.
 */
KTA_API enum kta_status kta_state_watches_new(struct kta_state *st, const char *origin,
					      struct kta_state_watches **out,
					      struct kta_error *err) KTA_WUR;
KTA_API void kta_state_watches_free(struct kta_state_watches *w);
KTA_API struct kta_replay_watches kta_state_watches_ops(struct kta_state_watches *w);

/* --- history ------------------------------------------------------------ */

struct kta_state_history_item {
	uint64_t version;
	uint64_t leaf_index;
	uint8_t *entry; /* raw entry bytes (parse with kta_entry_parse for the keys) */
	size_t entry_len;
	enum kta_auth_result auth; /* authorization result at replay */
};

/* Every replayed entry of label in origin, by leaf index (*n = 0 if none). */
KTA_API enum kta_status kta_state_history(struct kta_state *st, const char *origin,
					  const char *label, struct kta_state_history_item **out,
					  size_t *n, struct kta_error *err) KTA_WUR;
KTA_API void kta_state_history_free(struct kta_state_history_item *h, size_t n);

/* --- alerts outbox ------------------------------------------------------- */

/*
 * Stores alert a (its id must be set: kta_alert_set_id) in the outbox, in the
 * current transaction. An id already stored is left alone: *added (may be
 * NULL) is 1 when stored now, 0 when it was already there.
 */
KTA_API enum kta_status kta_state_alert_add(struct kta_state *st, const struct kta_alert *a,
					    int *added, struct kta_error *err) KTA_WUR;

/*
 * Registers sink `name` (idempotent): it will receive alerts stored from
 * now on. *added (may be NULL) is 1 when newly registered.
 */
KTA_API enum kta_status kta_state_sink_register(struct kta_state *st, const char *name, int64_t now,
						int *added, struct kta_error *err) KTA_WUR;

struct kta_state_outbox_item {
	char id[33]; /* alert id */
	char *json;  /* alert JSON text (kta_alert_to_json, compact) */
	enum kta_severity severity;
	int64_t created;   /* when stored */
	uint32_t attempts; /* failed attempts so far for this sink */
};

/*
 * Up to `limit` alerts not yet delivered to registered sink `name` whose next
 * attempt is due (next_attempt <= now, or never tried), oldest first.
 * KTA_ERR_USAGE when the sink is not registered. Free with
 * kta_state_outbox_free.
 */
KTA_API enum kta_status kta_state_outbox_next(struct kta_state *st, const char *name, int64_t now,
					      size_t limit, struct kta_state_outbox_item **out,
					      size_t *n, struct kta_error *err) KTA_WUR;
KTA_API void kta_state_outbox_free(struct kta_state_outbox_item *items, size_t n);

/*
 * Records an attempt to deliver alert id to sink name: ok = 1 marks it
 * delivered (it is never returned again for that sink); ok = 0 adds a failed
 * attempt, stores error_text (may be NULL; cut at KTA_STATE_ERROR_TEXT_MAX)
 * and schedules the next attempt at next_attempt. KTA_ERR_USAGE for an
 * unknown alert or sink.
 */
KTA_API enum kta_status kta_state_outbox_mark(struct kta_state *st, const char *alert_id,
					      const char *name, int ok, int64_t next_attempt,
					      const char *error_text, int64_t now,
					      struct kta_error *err) KTA_WUR;

/*
 * Alerts not yet delivered to at least one of the sinks names[0..nnames)
 * (each counted once; unregistered names count as registered now).
 */
KTA_API enum kta_status kta_state_alerts_pending_count(struct kta_state *st,
						       const char *const *names, size_t nnames,
						       uint64_t *out,
						       struct kta_error *err) KTA_WUR;

/* Total number of stored alerts. */
KTA_API enum kta_status kta_state_alert_count(struct kta_state *st, uint64_t *out,
					      struct kta_error *err) KTA_WUR;

#endif
