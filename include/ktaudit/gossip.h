/*
 * ktaudit: gossip between auditors (issue 5, "Gossip between auditors";
 * pure: no I/O).
 *
 * A peer is another auditor of the same log, known by the URL of its
 * publish directory for the log (witness.h) and its cosignature/v1 key. Each
 * cycle the monitor fetches the peer's `checkpoint` and hands it to
 * kta_gossip_verify, which accepts it only when BOTH hold:
 *
 *   1. the log's signature and origin verify (checkpoint.h): only a
 *      log-signed head can prove anything about the log;
 *   2. the peer's cosignature verifies: the peer vouches that it replayed
 *      the log up to this head (and a stranger cannot feed us heads in its
 *      name).
 *
 * The monitor then compares the peer's head P with its own verified head V
 * (monitor.h): P smaller -> P must be a prefix of V (consistency proof from
 * V's tiles); equal -> same root; larger -> V must be a prefix of P, proven
 * from P's tiles fetched from the log's url at once (if the log does not
 * serve them to us, the check waits until our view catches up). Two
 * log-signed heads that cannot be in one append-only log are a critical
 * `fork` with an evidence bundle (evidence.h). kta_gossip_relation names the
 * case.
 *
 * Ownership: kta_gossip_verify allocates *out (free with
 * kta_checkpoint_free). Keys are borrowed.
 */
#ifndef KTAUDIT_GOSSIP_H
#define KTAUDIT_GOSSIP_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/error.h"
#include "ktaudit/key.h"

/* Largest peer checkpoint accepted, in bytes (a checkpoint with many cosignatures). */
#define KTA_GOSSIP_CHECKPOINT_MAX 65536

enum kta_gossip_relation {
	KTA_GOSSIP_SMALLER = 1, /* the peer's head is smaller than ours */
	KTA_GOSSIP_EQUAL = 2,   /* same size: the roots must be equal */
	KTA_GOSSIP_LARGER = 3,  /* the peer's head is larger than ours */
};

/*
 * Verifies a peer's cosigned checkpoint (note, len): the log's signature by
 * log_key with origin `origin` (NULL = the key's name), and a cosignature by
 * peer_key (a KTA_KEY_COSIGNATURE_V1 key, else KTA_ERR_USAGE) whose time is
 * at most now + max_skew. On success *out is the parsed checkpoint.
 * KTA_ERR_VERIFY names which signature failed ("log signature: ...",
 * "peer cosignature: ..."); KTA_ERR_MALFORMED / KTA_ERR_LIMIT for bad input;
 * KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_gossip_verify(const uint8_t *note, size_t len,
					  const struct kta_vkey *log_key, const char *origin,
					  const struct kta_vkey *peer_key, int64_t now,
					  uint64_t max_skew, struct kta_checkpoint **out,
					  struct kta_error *err) KTA_WUR;

/* The case of a peer head of size peer_size against our head of size ours. */
KTA_API enum kta_gossip_relation kta_gossip_relation(uint64_t ours, uint64_t peer_size);

/* "smaller", "equal", "larger" ("unknown" for bad values). */
KTA_API const char *kta_gossip_relation_name(enum kta_gossip_relation r);

#endif
