/*
 * ktaudit: evidence bundles for an RFC 6962 Certificate Transparency log's
 * inconsistent signed tree heads (pure, no I/O). The key-directory bundles
 * (evidence.h) carry signed notes; a CT log signs get-sth bodies with its
 * TLS DigitallySigned key instead (ct.h), so its bundles are a type of their
 * own, checked with the log's CT key:
 *
 *   {"type": "ct_fork" | "ct_rollback",
 *    "log": "<the monitor's name for the log>",   informational, not trusted
 *    "log_id": "<base64 SHA-256 of the log's DER SubjectPublicKeyInfo>",
 *    "sths": ["<get-sth body as served>", "<get-sth body as served>"],
 *    "explanation": "<text for humans; never trusted by the verifier>"}
 *
 *   type        | sths            | what verification establishes
 *   ------------+-----------------+------------------------------------------
 *   ct_fork     | [A, B]          | A and B are get-sth bodies whose tree head
 *               |                 | signatures verify (RFC 6962 3.5), of one
 *               |                 | tree_size with different roots: no
 *               |                 | append-only log has both (strong)
 *   ct_rollback | [first, later]  | both verify and first is larger. Strong
 *               |                 | when the log's own signed timestamps put
 *               |                 | the smaller head later (the log signed
 *               |                 | that its tree shrank); otherwise the order
 *               |                 | is the monitor's observation (weak)
 *
 * "log_id" must equal the key's log ID (RFC 6962 3.2) before any signature
 * is checked. Each get-sth body is parsed strictly (kta_ct_sth_parse), at
 * most KTA_CT_STH_MAX bytes; the bundle is at most KTA_CTEVIDENCE_MAX_SIZE
 * bytes, the explanation at most KTA_EVIDENCE_EXPLANATION_MAX. Unknown
 * members are rejected (one spelling).
 *
 * Ownership: kta_ctevidence_build returns a malloc'd NUL-terminated JSON
 * text in *out (caller free()s), *out_len without the NUL.
 */
#ifndef KTAUDIT_CTEVIDENCE_H
#define KTAUDIT_CTEVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/ct.h"
#include "ktaudit/error.h"
#include "ktaudit/evidence.h"

/* Largest CT evidence bundle: two get-sth bodies, escaped, and the text. */
#define KTA_CTEVIDENCE_MAX_SIZE (4u * KTA_CT_STH_MAX + 2u * KTA_EVIDENCE_EXPLANATION_MAX)
/* Longest "log" member. */
#define KTA_CTEVIDENCE_LOG_MAX 256

/*
 * 1 when (buf, len) is a JSON object whose "type" is a CT bundle type
 * ("ct_" prefix), else 0 (including when it does not parse): lets a caller
 * choose between this verifier and kta_evidence_verify.
 */
KTA_API int kta_ctevidence_is_ct(const uint8_t *buf, size_t len);

/*
 * Builds a bundle of `type` (KTA_EVIDENCE_FORK -> "ct_fork",
 * KTA_EVIDENCE_ROLLBACK -> "ct_rollback") for the log `log` with key k from
 * two get-sth bodies as served (for a rollback, a = the first and larger).
 * Checks shapes only (bodies parse, sizes as the type demands); call
 * kta_ctevidence_verify before publishing. KTA_ERR_USAGE for another type
 * or sizes that do not fit it, KTA_ERR_MALFORMED, KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_ctevidence_build(enum kta_evidence_type type, const char *log,
					     const struct kta_ct_key *k, const uint8_t *sth_a,
					     size_t len_a, const uint8_t *sth_b, size_t len_b,
					     char **out, size_t *out_len,
					     struct kta_error *err) KTA_WUR;

/*
 * Verifies bundle (buf, len) with the log's key k. On KTA_OK the evidence
 * holds and *res (type fork or rollback, strong, statement) says what it
 * proves. KTA_ERR_VERIFY: it does not hold (log ID, a signature or the
 * claim fails; the message says which). KTA_ERR_MALFORMED / KTA_ERR_LIMIT:
 * not a well-formed bundle. KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_ctevidence_verify(const uint8_t *buf, size_t len,
					      const struct kta_ct_key *k,
					      struct kta_evidence_result *res,
					      struct kta_error *err) KTA_WUR;

#endif
