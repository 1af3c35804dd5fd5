/* `ktaudit verify evidence`: checks an evidence bundle (ktaudit/evidence.h). */
#include "cmd_evidence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_ct.h"
#include "ktaudit/ct.h"
#include "ktaudit/ctevidence.h"
#include "ktaudit/evidence.h"
#include "ktaudit/key.h"

const struct cli_opt opts_verify_evidence[] = {
    {"log-key", CLI_ONE, "VKEY",
     "the log's verifier key (name+id+base64); for a CT bundle (ct_fork, ct_rollback) the CT "
     "log's key, base64 DER or a PEM file"},
    {"origin", CLI_ONE, "ORIGIN",
     "the log's origin line, if not the key's name; the bundle's \"log\" must match"},
    {NULL, CLI_FLAG, NULL, NULL},
};

int cmd_verify_evidence(const struct cli_args *a)
{
	struct kta_vkey *key = NULL;
	struct kta_ct_key *ctkey = NULL;
	struct kta_evidence_result res;
	struct kta_error err;
	enum kta_status r;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *ks = cli_get(a, "log-key");
	json_t *j = NULL;
	char *line = NULL;

	kta_error_clear(&err);
	memset(&res, 0, sizeof(res));
	if (ks == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "verify evidence: --log-key is required");
		goto out;
	}
	if ((r = cli_read_file("evidence", a->pos[0], KTA_EVIDENCE_MAX_SIZE, &buf, &len, &err)) !=
	    KTA_OK)
		goto out;
	if (kta_ctevidence_is_ct(buf, len)) {
		/* A CT log signs get-sth bodies with its TLS key, not notes (ctevidence.h). */
		if (cli_get(a, "origin") != NULL) {
			r = kta_error_set(
			    &err, KTA_ERR_USAGE,
			    "verify evidence: --origin does not apply to CT evidence");
			goto out;
		}
		if ((r = cli_ct_key_load(ks, &ctkey, &err)) != KTA_OK)
			goto out;
		r = kta_ctevidence_verify(buf, len, ctkey, &res, &err);
	} else {
		if ((r = kta_vkey_parse(ks, strlen(ks), &key, &err)) != KTA_OK) {
			(void)kta_error_prefix(&err, "--log-key");
			goto out;
		}
		r = kta_evidence_verify(buf, len, key, cli_get(a, "origin"), (int64_t)time(NULL),
					&res, &err);
	}
	if (r == KTA_ERR_VERIFY) {
		(void)kta_error_prefix(&err, "%s: the evidence does not hold", a->pos[0]);
		goto out;
	}
	if (r != KTA_OK) {
		(void)kta_error_prefix(&err, "%s", a->pos[0]);
		goto out;
	}
	j = json_pack("{s:s,s:b,s:s}", "type", kta_evidence_type_name(res.type), "strong",
		      res.strong, "statement", res.statement);
	if ((line = malloc(sizeof(res.statement) + 64)) == NULL) {
		r = kta_error_set(&err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	(void)snprintf(line, sizeof(res.statement) + 64, "the evidence holds: %s", res.statement);
out : {
	int code = cli_finish(a, r, &err, line, j);

	free(line);
	free(buf);
	kta_vkey_free(key);
	kta_ct_key_free(ctkey);
	return code;
}
}
