/*
 * Internal (entry.c, replay.c): the authorization decision of
 * kta_entry_check_auth_report from signature outcomes computed elsewhere,
 * so that the replay can verify auth lines on worker threads (ktaudit/
 * replay.h "Threads") and still decide exactly as the public function does.
 */
#ifndef KTA_ENTRY_AUTH_H
#define KTA_ENTRY_AUTH_H

#include "ktaudit/entry.h"

/*
 * sig[i] is the outcome of auth line i of e over KTA_ENTRY_AUTH_CONTEXT ||
 * raw[0 : e->signed_len]: KTA_OK, KTA_ERR_VERIFY, or a failure status
 * (KTA_ERR_NOMEM, KTA_ERR_INTERNAL), which is returned ("line N: Ed25519
 * verification failed in OpenSSL") with no report. prev as in
 * kta_entry_check_auth_report (KTA_ERR_USAGE for a prev of another label or
 * a version not below e's). sig may be NULL when e->nauths == 0.
 */
enum kta_status kta_entry_auth_decide(const struct kta_entry *e, const struct kta_entry *prev,
				      const enum kta_status *sig, struct kta_entry_auth_report *rep,
				      struct kta_error *err) KTA_WUR;

#endif
