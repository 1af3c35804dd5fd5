/*
 * ktaudit: the reference key-directory publisher (I/O: files and SQLite).
 *
 * A provider runs it to publish a key directory as a C2SP tlog-tiles log of
 * keydir/v1 entries (entry.h); the test suite and the demo use it to build
 * directories. docs/publisher.md describes the layout, the commands, crash
 * safety and how to serve a directory.
 *
 * Directory layout (DIR is the log prefix served as static files):
 *
 *   path                         | content
 *   -----------------------------+------------------------------------------
 *   checkpoint                   | signed note: origin, size, root (tlog-checkpoint),
 *                                | log signature, cosignature/v1 lines
 *   tile/<L>/<N>[.p/<W>]         | hash tiles (tile.h)
 *   tile/entries/<N>[.p/<W>]     | entry bundles of keydir/v1 entries (tile.h)
 *   lookup/<encoded label>       | lookup answer of the label's latest entry (below)
 *   .ktaudit/  (mode 0700)       | PRIVATE, never serve: state.db (0600, SQLite
 *                                | WAL), lock, tmp/ (staged files of a publish)
 *
 * The signing key is never copied into DIR: state.db records the absolute
 * path of the key file given to kta_publish_init and reads it at each publish.
 *
 * Lookup answer (DESIGN.md "Lookup answer"), one JSON object and "\n":
 *
 *   {"checkpoint": "<the signed note of the publish that wrote the file>",
 *    "leaf_index": N, "entry": "<base64 entry>", "audit_path": ["<b64>", ...]}
 *
 * where audit_path is the RFC 9162 inclusion proof of leaf N at that
 * checkpoint's size. A publish rewrites only the lookups of labels it
 * appended an entry for; the others keep their older checkpoint, against
 * which their proof stays valid.
 *
 * State (state.db): the configuration (origin, key path), the published size
 * and root, every entry by leaf index (published ones below the size, the
 * queue from the size on), and per label its latest version (queued or
 * published), that version's leaf index and its ed25519 keys. Versions are
 * assigned when an update is queued: previous version + 1, counting queued
 * ones; so is the leaf index.
 *
 * Crash safety: kta_publish_run stages every tile, bundle and lookup file in
 * .ktaudit/tmp, makes them durable, renames them into place, makes the
 * renames durable, then replaces `checkpoint` atomically, and only then
 * records the new size in state.db. Until `checkpoint` is replaced, readers
 * see the previous publication complete: full tiles are written once, and a
 * partial tile's path names its width, so no file the previous checkpoint
 * references changes content. A crash anywhere leaves the queue in place and
 * a new kta_publish_run recomputes the same entries, tiles and checkpoint
 * text (it checks that a served checkpoint newer than the state matches).
 *
 * Ownership: kta_publish_open allocates the publisher (free with
 * kta_publish_close, NULL is fine). Every pointer passed in is borrowed for
 * the duration of the call only. Nothing returned needs freeing.
 *
 * Concurrency: one kta_publish_run per directory at a time (it takes an
 * exclusive lock on .ktaudit/lock and fails otherwise); adds may run
 * concurrently with it (SQLite serializes them) and go to the next publish.
 * A publisher handle is not thread-safe.
 */
#ifndef KTAUDIT_PUBLISH_H
#define KTAUDIT_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/entry.h"
#include "ktaudit/error.h"
#include "ktaudit/key.h"

/* The private state directory inside DIR. */
#define KTA_PUBLISH_STATE_DIR ".ktaudit"
/* Longest line of a kta_publish_add_file input, "\n" excluded. */
#define KTA_PUBLISH_LINE_MAX (256 * 1024)
/* Most keys in one update (an entry's 65535 bytes hold fewer anyway). */
#define KTA_PUBLISH_MAX_KEYS 2048
/* Longest "ALG:B64:DEVICE" key specification. */
#define KTA_PUBLISH_KEY_SPEC_MAX (16 + 44 + 1 + KTA_DEVICE_MAX_LEN)

struct kta_publisher; /* opaque: an open directory */

/* One update of one label: its whole key set afterwards. */
struct kta_publish_update {
	const char *label;                /* NUL-terminated label (entry.h rules) */
	const struct kta_entry_key *keys; /* nkeys keys in any order (sorted here) */
	size_t nkeys;                     /* 0 = the label has no keys (deleted) */
	uint64_t time;                    /* entry time, Unix seconds, <= KTA_ENTRY_MAX_TIME */
	const struct kta_skey *auth_key;  /* NULL, or sign an auth line with its Ed25519 seed */
};

/* What an add queued. */
struct kta_publish_added {
	uint64_t queued;       /* updates queued */
	uint64_t unauthorized; /* of those, signed by a key not in the previous version */
	uint64_t version;      /* version assigned to the last update */
	uint64_t leaf_index;   /* leaf index the last update will get */
};

/* The state of a directory. */
struct kta_publish_info {
	const char *origin; /* borrowed from the publisher, valid until kta_publish_close */
	uint64_t size;      /* published tree size */
	uint8_t root[32];   /* published root hash */
	uint64_t queued;    /* updates waiting for the next publish */
};

struct kta_publish_opts {
	const struct kta_skey *const *witnesses; /* cosignature/v1 keys that cosign */
	size_t nwitnesses;
	uint64_t now; /* cosignature timestamp, Unix seconds */
	/* TESTING ONLY (crash simulation): fail with KTA_ERR_IO once this many
	 * files have been put in place; 0 = never. */
	uint64_t fail_after_files;
};

struct kta_publish_result {
	uint64_t old_size; /* size before */
	uint64_t size;     /* size after (= old_size when nothing was queued) */
	uint64_t entries;  /* entries appended */
	uint64_t lookups;  /* lookup files written */
	uint64_t files;    /* files put in place, checkpoint included */
	uint8_t root[32];  /* root at size */
};

/*
 * Creates a directory at `dir`, which must not exist or be empty: the state
 * area, tile/ and lookup/, and a signed checkpoint of size 0. `origin` is
 * the checkpoint origin line; `key_path` a private key file (key.h skey, an
 * Ed25519 0x01 note key) whose absolute path is recorded. Errors:
 * KTA_ERR_USAGE (dir not empty, wrong key type), KTA_ERR_MALFORMED (bad
 * origin or key file), KTA_ERR_IO, KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_publish_init(const char *dir, const char *origin, const char *key_path,
					 struct kta_error *err) KTA_WUR;

/*
 * Opens the directory created by kta_publish_init at `dir`. KTA_ERR_USAGE
 * when it is not one, KTA_ERR_IO when the state cannot be read.
 */
KTA_API enum kta_status kta_publish_open(const char *dir, struct kta_publisher **out,
					 struct kta_error *err) KTA_WUR;

/* Closes p; NULL does nothing. */
KTA_API void kta_publish_close(struct kta_publisher *p);

/*
 * Sets a callback for warnings (an update signed by a key that is not an
 * ed25519 key of the label's previous version). The message is one line
 * without "\n", valid during the call. fn may be NULL (no warnings).
 */
KTA_API void kta_publish_set_warn(struct kta_publisher *p, void (*fn)(void *ctx, const char *msg),
				  void *ctx);

/* Reads the published size and root and the queue length into *out. */
KTA_API enum kta_status kta_publish_info(struct kta_publisher *p, struct kta_publish_info *out,
					 struct kta_error *err) KTA_WUR;

/*
 * Parses a key specification "ALG:B64:DEVICE" (len bytes of s): ALG an
 * algorithm name of entry.h ("ed25519", "x25519"), B64 the 32-byte public
 * key in canonical base64, DEVICE the device name (mandatory: entry.h
 * requires one; it may contain ':'). Fills *key with key->device pointing at
 * `device` (caller's buffer). KTA_ERR_MALFORMED naming the part at fault.
 */
KTA_API enum kta_status kta_publish_parse_key(const char *s, size_t len, struct kta_entry_key *key,
					      char device[static KTA_DEVICE_MAX_LEN + 1],
					      struct kta_error *err) KTA_WUR;

/*
 * Queues n updates in one transaction (all or none). For each: version =
 * the label's latest version (queued or published) + 1, or 1; the entry is
 * serialized (and signed with u->auth_key) now. An auth key that is not an
 * ed25519 key of the previous version is allowed (it stages an unauthorized
 * update) and reported through the warning callback and res->unauthorized.
 * Errors name the update ("update 3: ..."): KTA_ERR_MALFORMED (label),
 * KTA_ERR_USAGE (keys break entry.h rules, time too large), KTA_ERR_LIMIT,
 * KTA_ERR_IO, KTA_ERR_NOMEM, KTA_ERR_INTERNAL. res is set only on success.
 */
KTA_API enum kta_status kta_publish_add(struct kta_publisher *p, const struct kta_publish_update *u,
					size_t n, struct kta_publish_added *res,
					struct kta_error *err) KTA_WUR;

/*
 * Queues the updates of a JSON-lines file (`path`, "-" = standard input) in
 * one transaction. Each line (ending in "\n"; the last may omit it) is one
 * object, no other members, no "\r", no empty lines:
 *
 *   {"label": "alice", "keys": ["ed25519:<b64>:phone", ...],
 *    "time": 1764143000, "auth_key": "PRIVATE+KEY+..."}
 *
 * "label" and "keys" are required (keys may be []); "time" defaults to
 * `now`; "auth_key" is an skey string (key.h) to sign an auth line with.
 * Errors name the file and line ("FILE line 7: ..."): KTA_ERR_MALFORMED,
 * KTA_ERR_LIMIT (a line over KTA_PUBLISH_LINE_MAX), KTA_ERR_USAGE, and the
 * errors of kta_publish_add. Nothing is queued on any error.
 */
KTA_API enum kta_status kta_publish_add_file(struct kta_publisher *p, const char *path,
					     uint64_t now, struct kta_publish_added *res,
					     struct kta_error *err) KTA_WUR;

/*
 * Publishes every queued entry: appends them in queue order, writes the new
 * entry bundles and hash tiles at every level, the lookups of the labels
 * whose latest entry was appended, and a new checkpoint signed with the log
 * key and cosigned by each of o->witnesses (cosignature/v1 keys) at o->now;
 * then records the new size, which ends the queue. With nothing queued it
 * changes nothing (it only restores a missing checkpoint) and reports
 * res->entries == 0. Errors: KTA_ERR_IO (files, database, lock
 * held by another publish, state that disagrees with the served files),
 * KTA_ERR_USAGE (a witness key of the wrong type), KTA_ERR_MALFORMED (the
 * key file), KTA_ERR_NOMEM, KTA_ERR_INTERNAL. After any error a new call
 * completes the publication (see "Crash safety").
 */
KTA_API enum kta_status kta_publish_run(struct kta_publisher *p, const struct kta_publish_opts *o,
					struct kta_publish_result *res,
					struct kta_error *err) KTA_WUR;

/* What kta_publish_merge_cosignatures did. */
struct kta_publish_merge_result {
	size_t merged;    /* cosignature lines added to the served checkpoint */
	size_t present;   /* cosignatures already there (same key name and ID) */
	size_t other;     /* notes of another tree head (not the served one), skipped */
	uint64_t lookups; /* lookup answers rewritten to embed the merged checkpoint */
};

/*
 * Merges cosignatures collected from auditors and witnesses (issue 5: an
 * auditor publishes the checkpoint it cosigned, witness.h) into the served
 * checkpoint: for each note notes[i] (lens[i] bytes) whose signed text is
 * byte for byte the served checkpoint's text, every cosignature/v1 line
 * (72-byte signature) by a key (name, ID) not yet on the served note is
 * appended. Notes of another tree head are counted in res->other and
 * skipped. The signatures are not verified here (the publisher need not
 * know the auditors' keys; clients verify those they require). When lines
 * were added, the lookup answers that embed the served checkpoint are
 * rewritten to embed the merged one (the rest of each file is unchanged),
 * then `checkpoint` is replaced atomically. Takes the publish lock. Errors:
 * KTA_ERR_MALFORMED (a note does not parse), KTA_ERR_LIMIT (too many
 * signatures, too large), KTA_ERR_IO (files, lock, the served checkpoint
 * unreadable), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_publish_merge_cosignatures(struct kta_publisher *p,
						       const uint8_t *const *notes,
						       const size_t *lens, size_t n,
						       struct kta_publish_merge_result *res,
						       struct kta_error *err) KTA_WUR;

#endif
