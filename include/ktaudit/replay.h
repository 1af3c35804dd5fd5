/*
 * ktaudit: replay of key-directory entries into findings (pure, no I/O).
 *
 * The replay engine is fed the log's entries in leaf order (issue 4, "Each
 * cycle" step 3) and keeps, through an index interface, the latest state of
 * every label. It emits struct kta_alert findings through a callback:
 *
 *   kind                  | when (docs/alerts.md has the details members)
 *   ----------------------+---------------------------------------------------
 *   malformed_entry       | kta_entry_parse rejects the entry
 *   version_equivocation  | same version as the label's current one, other bytes
 *   version_skip          | first entry of a label with version != 1 ("gap");
 *                         | version > current + 1 ("gap"); version < current
 *                         | ("regression"); same version, same bytes ("repeat")
 *   unauthorized_update   | version > 1 and no auth line by an ed25519 key of
 *                         | the label's previous version (every label, A11)
 *   bad_auth_signature    | an auth line whose signature does not verify
 *   key_changed           | a watched label's key set differs from its pinned
 *                         | or last approved set (A1, A2)
 *
 * Authorization is checked against the label's current state when the new
 * version is above it (normally current + 1; on a gap, the last version
 * seen). On a regression, equivocation or repeat the real previous version is
 * not the current state, so only bad auth signatures are reported (the
 * version finding, critical, is already raised).
 *
 * After the checks the label's state becomes the new entry, findings or not:
 * the log's latest entry is what clients are served. A malformed entry
 * changes no state.
 *
 * Hot path: an honest entry costs one kta_entry_parse (one allocation), one
 * index get and put, one watch get, and the auth signature checks (through a
 * per-thread cache of Ed25519 keys and contexts); no JSON and no other
 * allocation (buffers are reused). Findings are rare and may allocate freely.
 *
 * Threads (cfg.threads > 1). Ed25519 verification bounds a replay of signed
 * entries, and a signature's validity depends on no state, so a threaded
 * replay verifies auth lines on threads - 1 worker threads (pthreads) and
 * the caller's thread, while everything else stays sequential, in leaf
 * order, on the caller's thread:
 *   - kta_replay_entry copies the entry (at most KTA_REPLAY_QUEUE entries
 *     are in flight; an entry of another shard, see shard_n, is only
 *     counted), parses it, queues its auth lines and processes every
 *     earlier entry whose signatures are done (but the last
 *     KTA_REPLAY_LOOKAHEAD when the index has a prefetch()); it returns
 *     before its own entry is processed. kta_replay_flush processes the
 *     rest: call it before committing the index (or reading the stats), and
 *     treat its failure like a failure of kta_replay_entry;
 *   - index, watch and emit callbacks run only on the caller's thread, in
 *     leaf order, and see exactly what a sequential replay shows them: the
 *     findings, their order and contents (alert "time" and "size" are those
 *     set when the entry was fed) do not depend on the number of threads;
 *   - a failure (index, watches, emit, memory) is returned by the
 *     kta_replay_entry or kta_replay_flush call that processed the entry, its
 *     message naming the leaf ("replay of leaf N: ..."); the replay is then
 *     finished: every later call returns the same failure and the entries
 *     still queued are dropped by kta_replay_free. Roll the caller's
 *     transaction back.
 * threads <= 1 (the default, 0) is the sequential replay: each entry is
 * processed before kta_replay_entry returns and kta_replay_flush does
 * nothing. The pool belongs to the replay object (no global state): workers
 * start in kta_replay_new and are joined by kta_replay_free.
 *
 * Ownership:
 *   - struct kta_label_state is a view: every pointer in it is BORROWED. A
 *     state filled by an index's get() stays valid until the next call on
 *     that index; a state passed to put() is valid only during the call (the
 *     index copies what it keeps).
 *   - struct kta_replay_watch from a watch get() is borrowed the same way.
 *   - Alerts passed to the emit callback are borrowed for the call; the
 *     replay frees them afterwards (kta_state_alert_add copies).
 *   - kta_replay_new/_memindex_new/_watchset_new allocate objects freed with
 *     the matching _free (NULL does nothing).
 *   - A replay, memindex and watchset are not thread-safe: one thread at a
 *     time calls a replay (its own worker threads touch only the entry
 *     copies they verify, see "Threads"); separate replays may run on
 *     separate threads.
 */
#ifndef KTAUDIT_REPLAY_H
#define KTAUDIT_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/alert.h"
#include "ktaudit/entry.h"
#include "ktaudit/error.h"

/* The latest version of one label, as kept by an index (all borrowed). */
struct kta_label_state {
	const char *label;                /* NUL-terminated label */
	uint64_t version;                 /* latest version seen in the log */
	uint64_t leaf_index;              /* its leaf index */
	uint8_t entry_hash[32];           /* its leaf hash, SHA-256(0x00 || entry);
					   * an index with entry_hash() may leave
					   * it zero in a get */
	const struct kta_entry_key *keys; /* its key set, canonical order; NULL when nkeys == 0 */
	size_t nkeys;                     /* 0: the label is deleted */
	const uint8_t *entry;             /* its raw bytes, or NULL when the index keeps none */
	size_t entry_len;                 /* 0 when entry is NULL */
	/* put only: the parse of exactly (entry, entry_len), or NULL (an index
	 * that keeps entries may store them packed, entry.h, and rebuild the
	 * bytes from it); a get sets it NULL */
	const struct kta_entry *parsed;
};

/*
 * The per-label index. get() looks label up: *found = 1 and *out filled
 * (borrowed, see above), or *found = 0. put() records st as the label's new
 * latest state; auth is the authorization result of that entry (for the
 * history, kta_replay_auth_name). Both return KTA_OK or a failure status
 * (KTA_ERR_IO, KTA_ERR_NOMEM, ...) that aborts kta_replay_entry.
 *
 * prefetch() is optional (NULL: none) and only a hint: a threaded replay
 * calls it with each parsed entry's label (borrowed for the call) when the
 * entry is fed, KTA_REPLAY_LOOKAHEAD fed entries of this shard (malformed
 * ones included, which are not announced; other shards' entries are never
 * queued) before the get() of that label, more while
 * earlier entries wait for their signatures, fewer for the last entries,
 * which kta_replay_flush processes; so that an index whose lookups miss the
 * CPU caches can start loading what that get() will read while earlier
 * entries are processed (docs/performance.md). It cannot fail and must not
 * change what get() and put() return, nor do I/O. A sequential replay
 * never calls it.
 *
 * entry_hash() is optional (NULL: get() fills entry_hash). An index whose
 * get() leaves entry_hash unset (the state's: it keeps no leaf hashes, to
 * keep its records small) gives here the leaf hash of label's entry
 * `version` at leaf_index, the one its get() just returned; an entry of
 * another label or version at that leaf is an error. The replay asks only
 * when an entry has its label's current version (a repeat or an
 * equivocation), between that get() and the put(), and what get()
 * returned stays valid.
 *
 * Zero the struct before filling it in, so that optional members stay
 * NULL.
 */
struct kta_replay_index {
	void *ctx;
	enum kta_status (*get)(void *ctx, const char *label, int *found,
			       struct kta_label_state *out, struct kta_error *err);
	enum kta_status (*put)(void *ctx, const struct kta_label_state *st,
			       enum kta_auth_result auth, struct kta_error *err);
	void (*prefetch)(void *ctx, const char *label);
	enum kta_status (*entry_hash)(void *ctx, const char *label, uint64_t version,
				      uint64_t leaf_index, uint8_t out[32], struct kta_error *err);
};

enum kta_watch_mode {
	KTA_WATCH_PINNED = 1, /* key set given by the user (config or watch add --key) */
	KTA_WATCH_TOFU = 2,   /* trust the first key set seen */
};

/* What the replay needs to know about one label's watch (borrowed). */
struct kta_replay_watch {
	int watched;                      /* 0: not watched; the rest is unset */
	enum kta_watch_mode mode;         /* how the watch was created */
	int has_approved;                 /* 0 only for tofu before any key set was seen */
	uint64_t approved_version;        /* version the approved set came from; 0 = a pin */
	const struct kta_entry_key *keys; /* the approved set, canonical order */
	size_t nkeys;
};

/*
 * The watch list. get() fills *out for label (out->watched = 0 when not
 * watched). tofu() is called when a tofu watch without an approved set sees
 * its first key set (version, leaf_index, keys): the watch implementation
 * records it as approved (no alert is raised). tofu may be NULL only when no
 * watch is ever in tofu mode without an approved set. A NULL get means
 * nothing is watched.
 */
struct kta_replay_watches {
	void *ctx;
	enum kta_status (*get)(void *ctx, const char *label, struct kta_replay_watch *out,
			       struct kta_error *err);
	enum kta_status (*tofu)(void *ctx, const char *label, uint64_t version, uint64_t leaf_index,
				const struct kta_entry_key *keys, size_t nkeys,
				struct kta_error *err);
};

/*
 * Receives one finding (borrowed: the replay frees it after the call).
 * A non-OK return aborts kta_replay_entry with that status.
 */
typedef enum kta_status (*kta_replay_emit_fn)(void *ctx, const struct kta_alert *a,
					      struct kta_error *err);

/* Largest cfg.threads; KTA_REPLAY_THREADS_AUTO: one per online CPU. */
#define KTA_REPLAY_THREADS_MAX 64u
#define KTA_REPLAY_THREADS_AUTO 0xffffffffu
/* Entries in flight in a threaded replay (each a copy of at most
 * KTA_ENTRY_MAX_SIZE bytes). */
#define KTA_REPLAY_QUEUE 256u
/* Entries a threaded replay keeps fed but unprocessed when its index has a
 * prefetch() (the distance between an entry's prefetch and its get). */
#define KTA_REPLAY_LOOKAHEAD 8u

struct kta_replay_config {
	const char *origin;                /* log origin for alerts (copied); required */
	int64_t now;                       /* alert "time" (kta_replay_set_time) */
	uint64_t size;                     /* alert "size": checkpoint size (kta_replay_set_size) */
	struct kta_replay_index index;     /* required (get and put) */
	struct kta_replay_watches watches; /* optional: get == NULL means none */
	kta_replay_emit_fn emit;           /* required */
	void *emit_ctx;
	unsigned threads; /* auth verification threads, the caller's included (see
			     "Threads"): 0 or 1 sequential, 2..KTA_REPLAY_THREADS_MAX,
			     or KTA_REPLAY_THREADS_AUTO */
	/* Shard K of N (shard.h; shard_n 0 or 1: every label). An entry's
	 * shard is that of the label its second line names ("label <label>",
	 * read without parsing the rest: for a valid entry, its label), or 0
	 * when the entry does not start "keydir/v1\nlabel ...\n". An entry of
	 * another shard is counted (stats.skipped) and otherwise ignored: not
	 * parsed, no index get or put, no auth signature checked, no watch,
	 * no alert. So an entry that does not parse is reported by one shard
	 * only. The Merkle checks are the caller's and cover every entry
	 * whatever the shard. */
	uint32_t shard_k, shard_n;
};

/* Counters since kta_replay_new. */
struct kta_replay_stats {
	uint64_t entries;    /* entries fed, malformed ones included */
	uint64_t findings;   /* alerts emitted */
	uint64_t new_labels; /* entries that created a label in the index */
	uint64_t skipped;    /* entries of other shards (counted in entries too) */
};

struct kta_replay; /* opaque */

/*
 * Allocates a replay engine from cfg (the index and watch structs are
 * copied; their ctx must outlive the replay) and starts its worker threads.
 * KTA_ERR_USAGE if a required member is missing or threads is out of range,
 * KTA_ERR_NOMEM, KTA_ERR_INTERNAL (no SHA-256, a thread could not start).
 */
KTA_API enum kta_status kta_replay_new(const struct kta_replay_config *cfg, struct kta_replay **out,
				       struct kta_error *err) KTA_WUR;
/* Stops and joins the worker threads, drops unprocessed entries, frees r. */
KTA_API void kta_replay_free(struct kta_replay *r);

/* The number of online CPUs (sysconf), 1..KTA_REPLAY_THREADS_MAX. */
KTA_API unsigned kta_replay_threads_online(void);

/* Sets the "time" and "size" members of the alerts of the entries fed from
 * now on (in a sequential replay: the alerts emitted from now on). */
KTA_API void kta_replay_set_time(struct kta_replay *r, int64_t now);
KTA_API void kta_replay_set_size(struct kta_replay *r, uint64_t size);

/*
 * Replays entry (bytes, len) at leaf_index. leaf_hash, when not NULL, must be
 * kta_hash_leaf(bytes) (the caller usually has it from the tree check);
 * otherwise it is computed. Leaf indices must strictly increase from one call
 * to the next (KTA_ERR_USAGE otherwise). Findings go to cfg->emit; KTA_OK
 * means the entry was processed, findings or not. Any other status (from the
 * index, the watches, emit, or KTA_ERR_NOMEM/INTERNAL) means the entry's
 * effects are incomplete: roll back the caller's transaction.
 */
KTA_API enum kta_status kta_replay_entry(struct kta_replay *r, uint64_t leaf_index,
					 const uint8_t *bytes, size_t len, const uint8_t *leaf_hash,
					 struct kta_error *err) KTA_WUR;

/*
 * Processes every entry fed and not yet processed (threaded replay; see
 * "Threads"), waiting for their signatures. KTA_OK when all were processed;
 * otherwise the failure, as kta_replay_entry. Does nothing for threads <= 1.
 */
KTA_API enum kta_status kta_replay_flush(struct kta_replay *r, struct kta_error *err) KTA_WUR;

/* Counters of the entries processed so far (threaded: call kta_replay_flush first). */
KTA_API void kta_replay_get_stats(const struct kta_replay *r, struct kta_replay_stats *out);

/*
 * Builds the key_changed alert for a label whose key set `keys` (version,
 * leaf_index) differs from the watch's approved set, exactly as the replay
 * does; for a monitor that checks a newly added watch against the label's
 * current state without a rescan. authorized: the entry was owner-authorized.
 * *out is NULL (and KTA_OK returned) when the sets do not differ. Caller
 * frees *out with kta_alert_free.
 */
KTA_API enum kta_status kta_replay_key_alert(const char *origin, int64_t now, uint64_t size,
					     const char *label, uint64_t version,
					     uint64_t leaf_index, const struct kta_entry_key *keys,
					     size_t nkeys, const struct kta_replay_watch *w,
					     int authorized, struct kta_alert **out,
					     struct kta_error *err) KTA_WUR;

/*
 * Names of authorization results as stored in the history and shown by
 * `ktaudit history`: "first_version", "owner", "unauthorized",
 * "bad_signature", "unknown" (KTA_AUTH_PREV_UNKNOWN). _parse is the inverse
 * (KTA_ERR_MALFORMED for other strings).
 */
KTA_API const char *kta_replay_auth_name(enum kta_auth_result a);
KTA_API enum kta_status kta_replay_auth_parse(const char *s, enum kta_auth_result *out) KTA_WUR;

/*
 * Parses a key spec "ALG:B64:DEVICE" (as in `watch` config lines and
 * `watch add --key`) into *out; out->device is malloc'd (free with
 * kta_replay_keys_free or free()). KTA_ERR_MALFORMED naming the part that
 * is wrong. Sort and check a set with kta_replay_keys_canonicalize.
 */
KTA_API enum kta_status kta_replay_key_parse(const char *spec, struct kta_entry_key *out,
					     struct kta_error *err) KTA_WUR;

/*
 * Sorts keys[0..n) into the canonical entry order and checks that (alg, pub)
 * and (alg, device) are unique (KTA_ERR_MALFORMED naming the duplicate).
 */
KTA_API enum kta_status kta_replay_keys_canonicalize(struct kta_entry_key *keys, size_t n,
						     struct kta_error *err) KTA_WUR;

/* Frees keys[i].device for every i and then keys; keys may be NULL. */
KTA_API void kta_replay_keys_free(struct kta_entry_key *keys, size_t n);

/* --- in-memory index (ktaudit check, tests) -------------------------------- */

struct kta_replay_memindex; /* opaque: a hash map label -> state */

/*
 * Allocates an empty in-memory index. keep_entries: also keep each label's
 * raw entry bytes (struct kta_label_state.entry); otherwise entry is NULL.
 * Bounded by memory only (KTA_ERR_NOMEM when it runs out).
 */
KTA_API enum kta_status kta_replay_memindex_new(int keep_entries, struct kta_replay_memindex **out,
						struct kta_error *err) KTA_WUR;
KTA_API void kta_replay_memindex_free(struct kta_replay_memindex *m);
/* The index interface over m (m must outlive every replay using it). */
KTA_API struct kta_replay_index kta_replay_memindex_ops(struct kta_replay_memindex *m);
/* Number of labels. */
KTA_API size_t kta_replay_memindex_count(const struct kta_replay_memindex *m);
/* Looks a label up (borrowed result, valid until m changes). */
KTA_API int kta_replay_memindex_lookup(const struct kta_replay_memindex *m, const char *label,
				       struct kta_label_state *out);
/*
 * Calls fn for every label in unspecified order (borrowed states); stops and
 * returns fn's first non-OK status. m must not change during the walk.
 */
KTA_API enum kta_status kta_replay_memindex_foreach(
    const struct kta_replay_memindex *m,
    enum kta_status (*fn)(void *ctx, const struct kta_label_state *st, struct kta_error *err),
    void *ctx, struct kta_error *err);

/* --- in-memory watch list (ktaudit check, tests) --------------------------- */

struct kta_replay_watchset; /* opaque */

KTA_API enum kta_status kta_replay_watchset_new(struct kta_replay_watchset **out,
						struct kta_error *err) KTA_WUR;
KTA_API void kta_replay_watchset_free(struct kta_replay_watchset *w);
/*
 * Watches label with the pinned set keys[0..n) (copied; must be canonical,
 * see kta_replay_keys_canonicalize: KTA_ERR_USAGE otherwise). Replaces an
 * existing watch of the label.
 */
KTA_API enum kta_status kta_replay_watchset_pin(struct kta_replay_watchset *w, const char *label,
						const struct kta_entry_key *keys, size_t n,
						struct kta_error *err) KTA_WUR;
/* Watches label in tofu mode (no approved set yet). Replaces an existing watch. */
KTA_API enum kta_status kta_replay_watchset_tofu(struct kta_replay_watchset *w, const char *label,
						 struct kta_error *err) KTA_WUR;
/*
 * Sets label's watch to *wt (wt->watched must be 1; the approved set, when
 * wt->has_approved, is copied and must be canonical: KTA_ERR_USAGE
 * otherwise). Replaces an existing watch of the label.
 */
KTA_API enum kta_status kta_replay_watchset_put(struct kta_replay_watchset *w, const char *label,
						const struct kta_replay_watch *wt,
						struct kta_error *err) KTA_WUR;
/* Number of watched labels. */
KTA_API size_t kta_replay_watchset_count(const struct kta_replay_watchset *w);
/* The watch interface over w; tofu() records the first set seen in w. */
KTA_API struct kta_replay_watches kta_replay_watchset_ops(struct kta_replay_watchset *w);
/* Looks a label's watch up (borrowed, valid until w changes). */
KTA_API void kta_replay_watchset_lookup(const struct kta_replay_watchset *w, const char *label,
					struct kta_replay_watch *out);

#endif
