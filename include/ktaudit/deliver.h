/*
 * ktaudit: the alert delivery loop: from the state outbox to every sink,
 * with per-(alert, sink) retries and exponential backoff (I/O: the state
 * database and the sinks).
 *
 * One call of kta_deliver_pending does bounded work: for each configured
 * sink, in configuration order, it takes up to KTA_DELIVER_BATCH of that
 * sink's due alerts (kta_state_outbox_next: oldest first) and hands them to
 * the sink (sink.h) in that order:
 *
 *   outcome           | recorded with kta_state_outbox_mark            | then
 *   ------------------+------------------------------------------------+------------------
 *   accepted          | ok = 1: delivered, never offered to it again   | next alert
 *   not accepted      | ok = 0, the sink's error text, next attempt at | next sink: a failing
 *                     | now + kta_deliver_backoff(id, sink, attempts)  | sink costs one
 *                     |                                                | attempt per call
 *   stored JSON bad   | ok = 0 (as above: it is retried and visible)   | next alert
 *
 * So a failing sink never stops the other sinks, and never makes the call
 * fail: the call returns KTA_OK and the failures are in *stats. Only a state
 * database failure ends the call early (its status is returned; what was
 * marked stays marked). The time a call can take is bounded by the number
 * of sinks times KTA_DELIVER_BATCH deliveries, each bounded by the sink's
 * timeout (sink.h); run it in its own process or thread if the caller must
 * never wait.
 *
 * Backoff after the n-th failed attempt of an alert at a sink (n >= 1):
 *   d = min(KTA_DELIVER_BACKOFF_BASE * 2^(n-1), KTA_DELIVER_BACKOFF_MAX)
 *   wait = d - j, j in [0, d/4] from a hash (FNV-1a) of the alert id, the
 *   sink name and n: deterministic (no random state, reproducible in tests)
 *   yet different per alert and sink, so retries do not come in lockstep.
 * That is 10 s, 20 s, 40 s, ... up to 1 h, each up to a quarter earlier.
 *
 * Sinks must be registered in the state (kta_state_sink_register;
 * kta_monitor_open does it). An unregistered sink counts as a failing sink
 * for the call (stats), not as an error.
 *
 * Delivery is at least once (sink.h): an alert accepted by a sink just
 * before a crash, and not yet marked, is delivered again with the same id.
 *
 * Ownership: every argument is borrowed; nothing is retained.
 */
#ifndef KTAUDIT_DELIVER_H
#define KTAUDIT_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/config.h"
#include "ktaudit/error.h"
#include "ktaudit/state.h"

/* Most alerts offered to one sink in one call. */
#define KTA_DELIVER_BATCH 32
/* Backoff: first wait and cap, seconds. */
#define KTA_DELIVER_BACKOFF_BASE 10
#define KTA_DELIVER_BACKOFF_MAX 3600

struct kta_deliver_stats {
	uint64_t attempted;    /* deliveries tried */
	uint64_t delivered;    /* accepted and marked */
	uint64_t failed;       /* not accepted (retry scheduled) */
	size_t sinks_failing;  /* sinks that failed an attempt (or could not be read) */
	int64_t next_due;      /* earliest retry scheduled by this call; 0 when none */
	struct kta_error last; /* the last sink failure's message (status KTA_OK if none) */
};

/*
 * Seconds to wait after the `attempts`-th failed attempt (>= 1; 0 is treated
 * as 1) to deliver alert `alert_id` to sink `sink_name` (formula above).
 * Always in [1, KTA_DELIVER_BACKOFF_MAX].
 */
KTA_API uint64_t kta_deliver_backoff(const char *alert_id, const char *sink_name,
				     uint32_t attempts);

/*
 * Delivers due alerts from the outbox of st to sinks[0..nsinks) at time
 * `now` (Unix seconds), as above. *stats (may be NULL) is filled in every
 * case. Returns KTA_OK when every sink was served (whatever the sinks
 * answered); KTA_ERR_IO/NOMEM/MALFORMED when the state database failed.
 */
KTA_API enum kta_status kta_deliver_pending(struct kta_state *st,
					    const struct kta_sink_config *sinks, size_t nsinks,
					    int64_t now, struct kta_deliver_stats *stats,
					    struct kta_error *err) KTA_WUR;

#endif
