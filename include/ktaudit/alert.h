/*
 * ktaudit: alerts, the auditor's output (pure, no I/O).
 *
 * An alert is created by detection code (replay, checkpoint checks), stored
 * in the state database in the same transaction as the state change that
 * caused it (the outbox), then delivered to every configured sink until each
 * accepts it. Its JSON form is a stable, documented schema (docs/alerts.md):
 *
 *   {"id": "<32 hex>",            deterministic: the same finding always has
 *                                 the same id (used as the webhook
 *                                 Idempotency-Key and to deduplicate)
 *    "time": 1764143000,          when it was detected (Unix seconds)
 *    "severity": "critical" | "alert" | "warning",
 *    "kind": "key_changed" | ...  (enum kta_alert_kind, kta_alert_kind_name)
 *    "log": "<origin>",
 *    "label": "<label>",          only for label findings
 *    "version": 4,                only for label findings
 *    "leaf_index": 123,           only where an entry is involved
 *    "size": 1000,                the checkpoint size the finding was made at
 *    "message": "<one line for humans>",
 *    "details": {...},            kind-specific (added/removed keys, roots...)
 *    "evidence": "<path>"}        only for provable misbehaviour
 *
 * Severities (issue 4): critical = provable log misbehaviour; alert = a
 * watched label changed or an update no previous key authorized; warning =
 * the log could not be audited (unreachable, too old, quorum not met).
 *
 * Ownership: struct kta_alert owns all its strings (malloc'd); free with
 * kta_alert_free. kta_alert_to_json returns a new jansson reference.
 */
#ifndef KTAUDIT_ALERT_H
#define KTAUDIT_ALERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

enum kta_severity {
	KTA_SEV_WARNING = 1,
	KTA_SEV_ALERT = 2,
	KTA_SEV_CRITICAL = 3,
};

enum kta_alert_kind {
	/* critical: provable misbehaviour of the log (evidence bundle attached) */
	KTA_ALERT_FORK = 1,             /* A3/A4: two signed heads not in one append-only log */
	KTA_ALERT_ROLLBACK,             /* A5: a signed head smaller than one verified before */
	KTA_ALERT_ROOT_MISMATCH,        /* A7: served entries do not hash to the signed root */
	KTA_ALERT_VERSION_EQUIVOCATION, /* A8: two entries claim one version of a label */
	KTA_ALERT_VERSION_SKIP,         /* A8: a label's version went back or skipped */
	KTA_ALERT_BAD_SIGNATURE,        /* A10: a checkpoint with an invalid log signature */
	KTA_ALERT_MALFORMED_ENTRY,      /* an entry in the signed log does not parse */
	/* alert: a key change someone should look at */
	KTA_ALERT_KEY_CHANGED,         /* A1/A2: a watched label's key set differs from its pin */
	KTA_ALERT_UNAUTHORIZED_UPDATE, /* A11: no key of the previous version signed it */
	KTA_ALERT_BAD_AUTH_SIGNATURE,  /* an auth line whose signature does not verify */
	/* warning: could not audit */
	KTA_ALERT_UNREACHABLE, /* fetch failed (network, HTTP status, limits) */
	KTA_ALERT_STALE,       /* A9: checkpoint older than max-age / not advancing */
	KTA_ALERT_QUORUM,      /* A10: witness quorum not met */
	KTA_ALERT_CLOCK,       /* the local clock looks wrong */
};

struct kta_alert {
	char id[33];  /* 32 lowercase hex + NUL; see kta_alert_set_id */
	int64_t time; /* detection time, Unix seconds */
	enum kta_severity severity;
	enum kta_alert_kind kind;
	char *log;        /* log origin; never NULL */
	char *label;      /* NULL unless a label finding */
	uint64_t version; /* valid when label != NULL */
	int has_leaf_index;
	uint64_t leaf_index;
	uint64_t size;  /* checkpoint size at detection */
	char *message;  /* one line, never NULL */
	char *details;  /* compact JSON object text, or NULL */
	char *evidence; /* evidence bundle path, or NULL */
};

/* The default severity of a kind (the table above). */
KTA_API enum kta_severity kta_alert_kind_severity(enum kta_alert_kind kind);
/* "fork", "rollback", "root_mismatch", ... ("unknown" for bad values). */
KTA_API const char *kta_alert_kind_name(enum kta_alert_kind kind);
/* Parses a kind name; KTA_ERR_MALFORMED if unknown. */
KTA_API enum kta_status kta_alert_kind_parse(const char *s, enum kta_alert_kind *out) KTA_WUR;
/* "warning", "alert", "critical". */
KTA_API const char *kta_severity_name(enum kta_severity s);

/*
 * Allocates an alert with kind, its default severity, log and message
 * (copied). Other fields are zero/NULL; set them with the setters below or
 * directly (malloc'd strings owned by the alert).
 */
KTA_API enum kta_status kta_alert_new(enum kta_alert_kind kind, const char *log, int64_t time,
				      const char *message, struct kta_alert **out,
				      struct kta_error *err) KTA_WUR;
KTA_API void kta_alert_free(struct kta_alert *a);
/* Sets a->label (copied) and a->version. */
KTA_API enum kta_status kta_alert_set_label(struct kta_alert *a, const char *label,
					    uint64_t version, struct kta_error *err) KTA_WUR;
/* Sets a->details from a JSON object (serialised compactly; obj is not stolen). */
KTA_API enum kta_status kta_alert_set_details(struct kta_alert *a, const json_t *obj,
					      struct kta_error *err) KTA_WUR;

/*
 * Computes the deterministic id: the first 16 bytes, hex, of SHA-256 over
 * kind name, log, label, version, leaf index, size and details, each
 * length-prefixed. Call after every field is set. The same finding made
 * again (after a crash and restart) gets the same id.
 */
KTA_API enum kta_status kta_alert_set_id(struct kta_alert *a, struct kta_error *err) KTA_WUR;

/* The alert as a JSON object (schema above); NULL if out of memory. */
KTA_API json_t *kta_alert_to_json(const struct kta_alert *a);
/* Parses the JSON form back (strict: known members only). */
KTA_API enum kta_status kta_alert_from_json(const json_t *j, struct kta_alert **out,
					    struct kta_error *err) KTA_WUR;

#endif
