/*
 * ktaudit: monitoring an RFC 6962 Certificate Transparency log and watching
 * domains' keys (I/O: a struct kta_fetcher and the SQLite state).
 *
 * One cycle (kta_ctmon_cycle), in one state transaction:
 *   1. get-sth; its signature must verify with the log key (RFC 6962 3.5).
 *   2. Against the stored progress (state table `logs`, origin "ct:" NAME,
 *      checkpoint = the get-sth JSON of the newest verified head):
 *        smaller than the newest verified head      -> rollback alert
 *        same size, other root                      -> fork alert
 *      (both with an evidence bundle of the two signed heads when
 *      log->evidence_dir is set: ctevidence.h)
 *        larger: get-sth-consistency from the stored size, verified with
 *        the kernel (RFC 9162 2.1.4.2); failing     -> fork alert
 *   3. Replay: get-entries from the stored size (paging by what comes
 *      back), each leaf hash appended to the stored compact range; the
 *      recomputed root must equal the signed root (or, when the cycle stops
 *      early at max_entries, be consistent with it by a second consistency
 *      proof). A mismatch -> root_mismatch alert, progress not advanced. The
 *      consistency proof catches a log that rewrote history; the replay
 *      catches one whose served entries are not what it signed.
 *   4. Every certificate whose DNS names match a watch is reported to the
 *      caller's callback with issuer, validity, names, SPKI hash and
 *      whether its key is approved. An unapproved key is an alert (kind
 *      key_changed, label = the watched domain) whose id is derived from
 *      the domain and the certificate (issuer and serial), so a
 *      precertificate and its certificate, in any number of logs, alert once.
 *   5. Signed entries that do not parse: one malformed_entry alert naming the
 *      first. The new progress is stored with the alerts; commit.
 * A failing step returns its status (VERIFY after the alert is committed;
 * IO, MALFORMED etc. with nothing stored).
 *
 * Static logs (monitoring_url set; c2sp.org/static-ct-api): the same cycle
 * over the tiles API through the tiles client (tlog.h):
 *   1. <monitoring_url>/checkpoint, verified with the log's note key of type
 *      0x05 (RFC6962NoteSignature: the log key, named by the origin = the
 *      submission prefix `url` without scheme and trailing '/'); a bad
 *      signature or origin -> bad_signature alert.
 *   2. rollback / fork as above (evidence: the note bundles of evidence.h,
 *      checked with that 0x05 key); a larger checkpoint must be consistent
 *      with the stored tree by a proof computed from the authenticated hash
 *      tiles -> fork otherwise.
 *   3. data tiles tile/data/<N>[.p/<W>] (the full tile when a partial one
 *      is gone): TileLeaf entries parsed (ct.h), hashed, and authenticated
 *      against the hash tiles BEFORE any certificate is looked at (the
 *      subtrees the tile covers must have the signed tree's hashes) ->
 *      root_mismatch otherwise; then replayed into the compact range, the
 *      root compared, and watches applied as in step 4. A data tile that
 *      does not parse is KTA_ERR_MALFORMED (nothing stored).
 * The stored head (state `logs` checkpoint) is then the checkpoint note.
 *
 * Watches: "example.org" matches that name exactly; ".example.org" any
 * name below it (ct.h kta_ct_name_matches). Approved keys are SHA-256
 * hashes of SubjectPublicKeyInfos; a watch with none approves nothing.
 *
 * Ownership: everything in struct kta_ctmon_log is borrowed for the call.
 * The report callback's pointers are valid during the call only.
 */
#ifndef KTAUDIT_CTMON_H
#define KTAUDIT_CTMON_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/alert.h"
#include "ktaudit/compact.h"
#include "ktaudit/config.h"
#include "ktaudit/ct.h"
#include "ktaudit/error.h"
#include "ktaudit/fetch.h"
#include "ktaudit/hash.h"
#include "ktaudit/state.h"

/* Prefix of a CT log's row in the state `logs` table. */
#define KTA_CTMON_STATE_PREFIX "ct:"

struct kta_ctmon_watch {
	const char *domain;            /* "example.org" or ".example.org" */
	const uint8_t (*approved)[32]; /* napproved SPKI SHA-256 hashes */
	size_t napproved;
};

struct kta_ctmon_log {
	const char *name;             /* state key "ct:" NAME; alerts' "log" */
	const char *url;              /* RFC 6962 base URL (before "ct/v1/"); for a static
					 log the submission prefix, which names the checkpoint
					 origin (schema-less, no trailing '/') */
	const struct kta_ct_key *key; /* the log's key */
	const struct kta_ctmon_watch *watches;
	size_t nwatches;
	unsigned batch;       /* get-entries request size, 1..KTA_CT_MAX_BATCH */
	uint64_t max_entries; /* entries replayed per cycle; 0 = all */
	/* Where fork and rollback alerts' evidence bundles (ctevidence.h) go, as
	 * DIR/<alert id>.json; NULL = none. */
	const char *evidence_dir;
	/* c2sp.org/static-ct-api monitoring prefix; NULL = the RFC 6962 API at url.
	 * See "Static logs" above. */
	const char *monitoring_url;
};

/* One matching certificate. */
struct kta_ctmon_report {
	const char *log;
	const char *domain; /* the watch that matched */
	uint64_t leaf_index;
	enum kta_ct_entry_type type;
	const struct kta_ct_cert *cert;
	int approved; /* 1 if cert->spki_sha256 is one of the watch's approved keys */
};

struct kta_ctmon_result {
	uint64_t old_size;  /* stored progress before the cycle */
	uint64_t new_size;  /* stored progress after it */
	uint64_t sth_size;  /* the verified head's size */
	uint64_t entries;   /* entries replayed */
	uint64_t matches;   /* certificates that matched a watch */
	uint64_t malformed; /* signed entries that do not parse (malformed_entry alert) */
	uint64_t alerts;    /* alerts newly stored */
	/* On KTA_ERR_VERIFY: the log-level finding stored (bad_signature,
	 * rollback, fork or root_mismatch); else 0. */
	enum kta_alert_kind finding;
	/* 1 when an evidence bundle could not be written (the alert is stored
	 * without it); evidence_msg says why. */
	int evidence_failed;
	char evidence_msg[KTA_ERROR_MSG_MAX];
};

/* Called for each matching certificate, in log order; non-OK stops the cycle. */
typedef enum kta_status (*kta_ctmon_report_fn)(void *ctx, const struct kta_ctmon_report *rep,
					       struct kta_error *err);

/* What kta_ctmon_replay saw. */
struct kta_ctmon_replay_stats {
	uint64_t matches;                      /* certificates reported */
	uint64_t malformed;                    /* leaves (or extra_data) that do not parse */
	uint64_t first_malformed;              /* index of the first, when malformed > 0 */
	char malformed_msg[KTA_ERROR_MSG_MAX]; /* why it does not parse */
};

/*
 * Replays entries [start, end) of the log behind c without state: appends
 * each leaf hash to cr (which must hold [0, start)) and reports matching
 * certificates to fn (may be NULL). Entries are unverified until the caller
 * compares the root of cr with a signed one. A leaf that does not parse is
 * still hashed and counted in stats (the root check decides whether the log
 * signed it); a certificate that does not parse matches nothing. stats may
 * be NULL.
 */
KTA_API enum kta_status kta_ctmon_replay(struct kta_ct_client *c, struct kta_hasher *h,
					 struct kta_compact_range *cr, uint64_t start, uint64_t end,
					 const char *log, const struct kta_ctmon_watch *watches,
					 size_t nwatches, kta_ctmon_report_fn fn, void *ctx,
					 struct kta_ctmon_replay_stats *stats,
					 struct kta_error *err) KTA_WUR;

/*
 * Fills *out from a `ctlog` section of the configuration (config.h). The
 * watches are put in *watches (malloc'd; the caller free()s it; NULL when
 * there are none). *out borrows from c and *watches: both must outlive it.
 */
KTA_API enum kta_status kta_ctmon_log_from_config(const struct kta_ctlog_config *c,
						  struct kta_ctmon_log *out,
						  struct kta_ctmon_watch **watches,
						  struct kta_error *err) KTA_WUR;

/* One monitoring cycle of log (see above). res (may be NULL) is filled on KTA_OK and VERIFY. */
KTA_API enum kta_status kta_ctmon_cycle(const struct kta_ctmon_log *log, struct kta_fetcher *f,
					struct kta_state *st, int64_t now, kta_ctmon_report_fn fn,
					void *ctx, struct kta_ctmon_result *res,
					struct kta_error *err) KTA_WUR;

#endif
