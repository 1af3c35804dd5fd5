/*
 * ktaudit: the monitor, one audit cycle per log (I/O: fetching, SQLite
 * state, evidence files; issue 4 "Each cycle, per log").
 *
 * A struct kta_monitor is built from a parsed configuration (config.h). It
 * opens the state database in cfg->state_dir, registers the configured
 * sinks, applies the configuration's `watch` lines, and keeps one fetcher
 * and one tlog-tiles client per configured URL. kta_monitor_cycle audits one
 * log:
 *
 *   1. fetch `checkpoint` from the url and every mirror (each through its
 *      own `proxy=`, if configured: a separate fetcher); verify each:
 *        does not parse / no valid log signature / wrong origin
 *                                     -> bad_signature (critical, no evidence:
 *                                        an unsigned text proves nothing)
 *        fewer than quorum witnesses  -> quorum (warning; not adopted)
 *        max_age exceeded, or no timestamped cosignature to tell the age
 *                                     -> stale (warning; not adopted)
 *        fetch failure                -> unreachable (warning)
 *   2. every checkpoint with a valid log signature (adopted or not) is
 *      checked against the last verified checkpoint V and the other URLs'
 *      checkpoints, because a log-signed head proves misbehaviour whatever
 *      the witnesses say:
 *        url's size < V.size          -> rollback (critical, evidence)
 *        a mirror's size < V.size     -> consistency proof to V from the
 *                                        url's tiles (a lagging mirror is not
 *                                        a rollback; an inconsistent one is a fork)
 *        same size, other root        -> fork (critical, evidence)
 *        larger, consistency proof from the tiles fails
 *                                     -> fork (critical, evidence)
 *        tiles that do not lead to the signed root
 *                                     -> root_mismatch (critical)
 *      With no V (first run) the first checkpoint is trusted and a log line
 *      says so.
 *   3. the largest adopted checkpoint T (policy met, consistent) is replayed:
 *      entries [V.size, T.size) from the entry bundles, each bundle
 *      authenticated against T's tiles before replay.h sees it, the compact
 *      range continued from V's and its root required to equal T's root
 *      (root_mismatch, critical, evidence otherwise). Findings of replay.h
 *      (equivocation, skips, unauthorized updates, key changes...) go to the
 *      outbox.
 *   4. T, its compact range, the label index and history changes and every
 *      alert of the step are committed in ONE SQLite transaction. A crash
 *      before the commit leaves V in place: the next cycle redoes the same
 *      step and, since alert ids are deterministic (alert.h) and the outbox
 *      keeps each id once, stores exactly the same alerts. A step longer
 *      than cfg->commit_every entries is committed in chunks of that many:
 *      each chunk's transaction holds its index, history and alerts and the
 *      pending row (state.h "pending": T and how far the replay got), and V
 *      moves to T only with the last chunk. A crash loses at most the open
 *      chunk; the next cycle resumes after the last committed one. Step 2
 *      then checks every head against the interrupted T instead of V (V is
 *      a prefix of T); T is finished first, read from the source of the
 *      newer head the cycle goes on to, else from url (its note verified
 *      again, not its age or quorum; that stored note is not cosigned),
 *      and a newer head follows in a second step of the same cycle, so
 *      every replay alert carries the size an uninterrupted run gives it.
 *      The watch list is read again for each chunk.
 *
 *   5. with a witness key and a publish directory (config.h witness_key,
 *      publish_dir), T is cosigned (cosignature/v1) and written atomically to
 *      the log's publish directory (witness.h), unless the cycle made a
 *      critical finding or T is not provably consistent with the last
 *      checkpoint this auditor cosigned (state.h "cosigned", kept across
 *      restarts; an inconsistent one is a fork). A checkpoint that already
 *      carries a cosignature by the auditor's key name (merged by the
 *      publisher) gets a fresh one in its place.
 *   6. gossip (gossip.h), every cycle with a verified checkpoint V: each
 *      `peer`'s published checkpoint P must carry the log's signature and
 *      the peer's cosignature (else an unreachable warning, class
 *      peer_checkpoint or the fetch error's); P smaller than V must be a
 *      prefix of V (proof from V's tiles), equal must have V's root, larger
 *      must contain V (proof from P's tiles at the url; if the log does not
 *      serve them, logged only). Otherwise: fork (critical, evidence when
 *      the bundle can be built from the tiles we are served).
 *
 * Alerts that repeat every cycle while a condition lasts get ids that repeat
 * too, so the outbox (and the sinks) see each once: unreachable carries the
 * URL, an error class (http_404, not_found, network, limit, ...) and the UTC
 * day in its details, so a lasting outage gives one warning per URL, class
 * and day; stale, quorum, rollback and fork carry the checkpoint(s) involved.
 *
 * The library never prints: log lines and replay progress go to the
 * callbacks in struct kta_monitor_opts.
 *
 * Ownership: kta_monitor_open allocates the monitor; kta_monitor_close frees
 * it. The configuration is BORROWED and must outlive the monitor. Result
 * structs are the caller's. A monitor is not thread-safe.
 */
#ifndef KTAUDIT_MONITOR_H
#define KTAUDIT_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/alert.h"
#include "ktaudit/config.h"
#include "ktaudit/entry.h"
#include "ktaudit/error.h"
#include "ktaudit/replay.h"

/* Entries between two progress callbacks during a replay (one bundle). */
#define KTA_MONITOR_PROGRESS_STEP 256u
/* Cosignature times this far in the future are accepted (clock skew). */
#define KTA_MONITOR_MAX_SKEW 300u
/* Longest error class in an unreachable alert and in metrics. */
#define KTA_MONITOR_ERROR_CLASS_MAX 32

enum kta_monitor_level {
	KTA_MONITOR_INFO = 1,  /* progress of the audit, first-run trust */
	KTA_MONITOR_WARN = 2,  /* a source or step failed; the cycle goes on or ends */
	KTA_MONITOR_ALERT = 3, /* a finding was made (its JSON goes to the sinks) */
};

struct kta_monitor_opts {
	/* A log line (one line, no "\n"; valid during the call). log_name is
	 * the log's section name or NULL for monitor-wide lines. NULL = none. */
	void (*log)(void *ctx, enum kta_monitor_level level, const char *log_name, const char *msg);
	/* Replay progress: `done` of `total` entries of this catch-up (called
	 * every KTA_MONITOR_PROGRESS_STEP entries and at the end). NULL = none. */
	void (*progress)(void *ctx, const char *log_name, uint64_t done, uint64_t total);
	/* Nonzero asks the cycle to stop: transfers are cut and an open
	 * transaction is rolled back (never half-committed). NULL = never. */
	int (*cancel)(void *ctx);
	/* The wall clock (Unix seconds) for checkpoint ages and alert times.
	 * NULL = time(NULL). */
	int64_t (*now)(void *ctx);
	void *ctx;
	/* Fetch retries per object (fetch.h max_retries); the CLI keeps the
	 * default, tests lower it. */
	unsigned fetch_retries;
	/* Open without fetchers (watch/history commands): cycles fail with
	 * KTA_ERR_USAGE. Sinks are still registered and configuration watches
	 * still applied. */
	int offline;
	/* Hold the state database alone until kta_monitor_share_state or
	 * kta_monitor_close, with a rollback journal (kta_state_set_exclusive):
	 * a first sync writes the pages new to the database once instead of
	 * twice; every other command on the state waits, then fails, meanwhile.
	 * Opening fails when another process keeps the database open. */
	int exclusive;
};

/* What one cycle of one log did. */
struct kta_monitor_result {
	int audited;        /* 1: the log was audited up to a checkpoint meeting its policy */
	int first_run;      /* 1: there was no stored checkpoint; the first was trusted */
	uint64_t old_size;  /* verified size before the cycle (0 on a first run) */
	uint64_t size;      /* verified size after the cycle */
	uint64_t entries;   /* entries replayed and committed */
	size_t findings[4]; /* findings made, by enum kta_severity (new or already stored) */
	size_t new_alerts;  /* alerts added to the outbox (ids not stored before) */
	/* "" when audited with no warning; else why not fully: the first of
	 * unreachable, bad_signature, quorum, stale, rollback, fork,
	 * root_mismatch, no_checkpoint, cancelled, error, incomplete */
	char error_class[KTA_MONITOR_ERROR_CLASS_MAX];
};

/* Per-log numbers for metrics (kta_monitor_metrics). */
struct kta_monitor_log_status {
	const char *name;        /* borrowed from the configuration */
	int has_checkpoint;      /* 0 until a checkpoint was verified */
	uint64_t size;           /* verified size */
	int64_t checkpoint_time; /* newest cosignature time, else when first verified; -1 if none */
	uint64_t entries_replayed; /* entries replayed by this process */
	int64_t last_success;      /* Unix time of the last fully audited cycle, 0 if none */
	char last_error[KTA_MONITOR_ERROR_CLASS_MAX]; /* the last cycle's error_class */
};

struct kta_monitor; /* opaque */

/* Fills *o with the defaults (no callbacks, default retries). */
KTA_API void kta_monitor_opts_init(struct kta_monitor_opts *o);

/*
 * Opens the monitor for cfg (borrowed): opens/creates the state database in
 * cfg->state_dir, registers every configured sink (a sink receives alerts
 * stored from its registration on), applies the configuration's watches
 * (below) and, unless opts->offline, creates the fetchers and clients.
 * opts may be NULL (defaults). Errors: those of kta_state_open, KTA_ERR_IO,
 * KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 *
 * Configuration watches: a label not watched in the state gets the
 * configured watch; a configured pin replaces a different stored watch of
 * the label (the file is authoritative for the pins it lists); a configured
 * `tofu` leaves an existing stored watch alone (it may already have
 * approved a set). Watches added with kta_monitor_watch_add are kept. When a
 * new or changed pin differs from the label's current key set, a
 * key_changed alert is stored at once (no rescan).
 */
KTA_API enum kta_status kta_monitor_open(const struct kta_config *cfg,
					 const struct kta_monitor_opts *opts,
					 struct kta_monitor **out, struct kta_error *err) KTA_WUR;

/* Closes m (rolls back an open transaction); NULL does nothing. */
KTA_API void kta_monitor_close(struct kta_monitor *m);
/* Ends the exclusive hold of opts.exclusive (kta_state_set_shared): the
 * state back in WAL mode and open to other commands, e.g. once the cycles
 * are done and only the delivery is left. KTA_OK when m was not exclusive. */
KTA_API enum kta_status kta_monitor_share_state(struct kta_monitor *m, struct kta_error *err);

/*
 * Runs one cycle of log number `log`, steps above. Log numbers 0..nlogs-1
 * are cfg->logs; nlogs..nlogs+nctlogs-1 are cfg->ctlogs (Certificate
 * Transparency), whose cycle is kta_ctmon_cycle (ctmon.h) on the same state
 * database and outbox, with the CT log's name as the alerts' "log" and
 * evidence bundles (ctevidence.h) in cfg->evidence_dir; a fetch failure there
 * is an unreachable warning, a certificate for a watched domain with an
 * approved key an info log line, with an unapproved key a key_changed alert.
 * kta_monitor_log_status and kta_monitor_metrics number logs the same way;
 * kta_monitor_find_log and the watch functions know key-directory logs only.
 * Findings are not errors: KTA_OK means the cycle ran to its end (res says
 * whether the log was audited and what was found). KTA_ERR_IO/NOMEM/
 * INTERNAL mean the state database failed or the cycle was cancelled; the
 * state is then unchanged by the failed step (of a step in chunks, by the
 * failed chunk), and KTA_ERR_MALFORMED that a stored pending catch-up is
 * damaged or its checkpoint no longer verifies. res is filled in all cases.
 */
KTA_API enum kta_status kta_monitor_cycle(struct kta_monitor *m, size_t log,
					  struct kta_monitor_result *res,
					  struct kta_error *err) KTA_WUR;

/*
 * Delivers pending alerts to every configured sink (deliver.h): each sink
 * gets the alerts it has not accepted, with retries and backoff; a failing
 * sink does not stop the others. One call delivers at most
 * KTA_DELIVER_BATCH alerts per sink. *pending (may be NULL) is set to the
 * alerts still undelivered to some sink, *next_due (may be NULL) to the Unix
 * time of the earliest scheduled retry (0 when none), *delivered (may be
 * NULL) to the deliveries this call made (to any sink).
 */
KTA_API enum kta_status kta_monitor_deliver(struct kta_monitor *m, uint64_t *pending,
					    int64_t *next_due, uint64_t *delivered,
					    struct kta_error *err) KTA_WUR;

/* Fills *out with log number `log`'s numbers (borrowing from m). */
KTA_API void kta_monitor_log_status(const struct kta_monitor *m, size_t log,
				    struct kta_monitor_log_status *out);

/*
 * Formats the Prometheus text exposition (version 0.0.4) of every log's
 * status and the pending alert count, for node_exporter's textfile
 * collector:
 *
 *   ktaudit_checkpoint_size{log="NAME"}            gauge, verified tree size
 *   ktaudit_checkpoint_age_seconds{log="NAME"}     gauge, now - checkpoint_time
 *   ktaudit_entries_replayed_total{log="NAME"}     counter, this process
 *   ktaudit_last_success_timestamp{log="NAME"}     gauge, Unix seconds
 *   ktaudit_last_error{log="NAME",error="CLASS"}   gauge, 1 while the last
 *                                                  cycle failed with CLASS
 *   ktaudit_alerts_pending                         gauge
 *
 * Label values are escaped (\\, \", \n). *out is malloc'd, NUL-terminated
 * (caller frees).
 */
KTA_API enum kta_status kta_monitor_metrics(struct kta_monitor *m, uint64_t pending, char **out,
					    struct kta_error *err) KTA_WUR;

/*
 * Finds a log by section name (name may be NULL when the configuration has
 * exactly one log). KTA_ERR_USAGE naming the choices otherwise.
 */
KTA_API enum kta_status kta_monitor_find_log(const struct kta_monitor *m, const char *name,
					     size_t *out, struct kta_error *err) KTA_WUR;

/*
 * Watches `label` of log number `log` (PINNED with keys[0..n), in any order:
 * sorted in place into the canonical order, duplicates are
 * KTA_ERR_MALFORMED; or TOFU with keys NULL/0). Replaces an existing watch
 * of the label. Takes effect at the next cycle without a restart or rescan;
 * when the label is already in the index and its key set differs from the
 * approved set, a key_changed alert is stored now (in the same transaction
 * as the watch). *alerted (may be NULL) is 1 when an alert was stored.
 */
KTA_API enum kta_status kta_monitor_watch_add(struct kta_monitor *m, size_t log, const char *label,
					      enum kta_watch_mode mode, struct kta_entry_key *keys,
					      size_t n, int *alerted,
					      struct kta_error *err) KTA_WUR;

/*
 * The owner approves version `version` of a watched label: its key set
 * becomes the approved set (kta_state_watch_approve). KTA_ERR_USAGE when the
 * label is not watched or that version was not replayed.
 */
KTA_API enum kta_status kta_monitor_watch_approve(struct kta_monitor *m, size_t log,
						  const char *label, uint64_t version,
						  struct kta_error *err) KTA_WUR;

/*
 * KTA_OK when `label` is audited by this configuration's log number `log`:
 * always, unless the log is sharded (ktaudit.conf(5) `shard K/N`) and the
 * label is in another shard; then KTA_ERR_USAGE naming the label's shard
 * (so `ktaudit history` and `watch` commands point at the right
 * configuration). kta_monitor_watch_add and _approve check it themselves.
 */
KTA_API enum kta_status kta_monitor_label_check(const struct kta_monitor *m, size_t log,
						const char *label, struct kta_error *err) KTA_WUR;

/* The state handle (borrowed), for listing watches and history. */
KTA_API struct kta_state *kta_monitor_state(struct kta_monitor *m);

#endif
