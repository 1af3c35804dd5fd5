/*
 * ktaudit: one-shot CI checks of a key directory (I/O: fetches through
 * libcurl; no files written). The CLI is `ktaudit check` (docs/ci.md).
 *
 * Two uses, each producing a struct kta_report (report.h) whose exit code is
 * the command's:
 *
 * kta_check_pins ("are our keys still ours?"), against a pin file
 * (pins.h). Checks, in report order (group name):
 *
 *   check                 | pass when                               | otherwise
 *   ----------------------+-----------------------------------------+------------------------
 *   log checkpoint        | <url>checkpoint verifies: log signature, | fail; error (exit 3) when
 *                         | origin = the `log` line, witness quorum,| it cannot be fetched
 *                         | max_age                                 |
 *   log consistency       | the pinned checkpoint is a prefix of the| fail: rollback (smaller),
 *                         | current one (RFC 9162 2.1.4.2, proof    | fork (same size, other
 *                         | from authenticated tiles)               | root; or no proof); warn
 *                         |                                         | on first use (no pin)
 *   replay entries        | every entry parses (keydir/v1)          | fail (malformed_entry)
 *   replay versions       | versions go up by one per label         | fail (version_skip,
 *                         |                                         | version_equivocation)
 *   replay authorization  | every update is owner-authorized        | fail or warn, below
 *   label <label>         | per pinned label: its latest keys equal | fail (key_changed: added,
 *                         | the approved set and it has no failing  | removed, replaced; or not
 *                         | finding                                 | in the log)
 *
 * Replay: every entry of the current tree, from leaf 0, through the replay
 * engine (replay.h) with an in-memory index, authenticated against the
 * tiles and the signed root (tlog.h kta_tlog_entries). The pin file keeps no
 * index, so every run replays the whole log: O(size) fetches and hashing,
 * O(labels) memory. A full replay is what makes "the latest keys of label L"
 * and "versions go up by one" decidable; replaying only the entries since
 * the pin would need each pinned label's state at the pin, which is not
 * stored.
 *
 * Which findings fail. Critical findings (malformed_entry, version_skip,
 * version_equivocation: provable misbehaviour) always fail. The others
 * (unauthorized_update, bad_auth_signature) fail when they are about an
 * entry at or after the baseline, and warn about entries before it (a
 * previous passing run accepted that prefix). The baseline is the pinned
 * size; on first use it is the current size (trust on first use covers the
 * history). With allow_unauthorized, unauthorized updates of labels that are
 * not pinned warn instead of failing (a provider's account recovery).
 *
 * With lookups_only, the replay checks are not made; instead each pinned
 * label's lookup answer (lookup.h) is fetched from <url>lookup/<name>, <name>
 * being kta_entry_label_encode's file name with each '%' sent as "%25" (a
 * static server decodes the path once), and verified:
 * the entry parses and is for the label, its checkpoint carries the log's
 * signature and origin, the entry is included in it, and that checkpoint is
 * consistent with the current verified one (either may be the larger: a
 * lookup written by an older publication is normal, and inclusion in a
 * prefix of the current tree is inclusion in the current tree). The lookup
 * checkpoint needs no witness quorum of its own: consistency ties it to the
 * current checkpoint, which met the policy. The keys are then compared as
 * above. What this cannot see: a lookup that serves an older entry of the
 * label (stale, A6) or an update nobody authorized; use the full replay for
 * those.
 *
 * kta_check_candidate ("may we publish this?"): DIR is a directory built
 * locally by the publisher (publish.h), read through file://; URL the live
 * one. Checks: "published checkpoint" and "candidate checkpoint" (both
 * signed by log_key with the same origin), "candidate consistency" (the
 * candidate extends the published tree: same size and root, or a
 * consistency proof from the candidate's tiles verified against the
 * published size and root; a smaller candidate is a rollback), then the
 * three replay checks over the whole candidate. The baseline is the
 * published size: every finding about a new entry fails (unauthorized
 * updates only warn with allow_unauthorized), findings about entries
 * already published only warn (nothing can change them now). "replay
 * authorization" reports how many new updates are owner-authorized.
 *
 * Checks that cannot run because an earlier one did not pass are reported
 * as skip. Errors that stop a check (network, a missing candidate) are
 * error checks: exit 3 for the network and the published directory, 2 for a
 * candidate directory that cannot be read.
 *
 * Ownership: everything passed in is borrowed for the call. The report must
 * be new (empty); the caller frees it.
 */
#ifndef KTAUDIT_CHECK_H
#define KTAUDIT_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/fetch.h"
#include "ktaudit/key.h"
#include "ktaudit/pins.h"
#include "ktaudit/report.h"

/* Cosignature timestamps up to this many seconds in the future are accepted. */
#define KTA_CHECK_MAX_SKEW 300u

struct kta_check_opts {
	int64_t now;            /* current POSIX time: checkpoint age, alert times */
	const char *ca_file;    /* PEM trust store for https, NULL = the system store */
	int lookups_only;       /* pins: verify lookup answers instead of replaying */
	int allow_unauthorized; /* unauthorized updates of unpinned labels warn */
	/* Base fetch options (NULL = kta_fetch_opts_init); schemes and ca_file
	 * are set from the URLs and ca_file above. For tests (retries). */
	const struct kta_fetch_opts *fetch;
};

/* What a check established (for --update and for tests). */
struct kta_check_result {
	int verified;  /* the current (pins) or candidate checkpoint verified */
	uint64_t size; /* its size and root, when verified */
	uint8_t root[32];
	int first_use;        /* pins: no checkpoint was pinned */
	uint64_t baseline;    /* pinned (or, first use, current) / published size */
	uint64_t entries;     /* entries replayed */
	uint64_t new_entries; /* of those, at or after the baseline */
	uint64_t first_versions, owner_authorized, unauthorized, bad_signatures;
	/* authorization of the new entries (replay.h results) */
	uint64_t failed_findings, warned_findings;
};

/* Fills *o with defaults: now = 0 (set it), no CA file, full replay. */
KTA_API void kta_check_opts_init(struct kta_check_opts *o);

/*
 * Runs the pin-file checks above into rep (new, empty). Returns KTA_OK
 * when the report is complete, whatever its verdict (read it with
 * kta_report_exit_code); otherwise the report is unusable: KTA_ERR_NOMEM,
 * KTA_ERR_INTERNAL, KTA_ERR_USAGE (bad arguments). res (may be NULL) is
 * filled in either case.
 */
KTA_API enum kta_status kta_check_pins(const struct kta_pins *pins, const struct kta_check_opts *o,
				       struct kta_report *rep, struct kta_check_result *res,
				       struct kta_error *err) KTA_WUR;

/* What kta_check_candidate checks. */
struct kta_check_candidate {
	const char *dir;                /* the locally built directory (a path) */
	const char *published;          /* base URL of the live directory */
	const struct kta_vkey *log_key; /* signs both checkpoints */
	const char *origin;             /* expected origin; NULL = log_key->name */
};

/* Runs the provider checks above into rep; returns as kta_check_pins. */
KTA_API enum kta_status kta_check_candidate(const struct kta_check_candidate *c,
					    const struct kta_check_opts *o, struct kta_report *rep,
					    struct kta_check_result *res,
					    struct kta_error *err) KTA_WUR;

#endif
