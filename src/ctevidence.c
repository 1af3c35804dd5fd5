/*
 * Evidence bundles for a CT log's inconsistent signed tree heads: building
 * and offline verification. See ktaudit/ctevidence.h and docs/alerts.md.
 */
#include "ktaudit/ctevidence.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "ktaudit/encoding.h"

#define B64H (KTA_B64_ENCODED_LEN(32) + 1)

int kta_ctevidence_is_ct(const uint8_t *buf, size_t len)
{
	json_t *j = NULL, *t;
	int yes;

	if (kta_json_load_object(buf, len, KTA_EVIDENCE_MAX_SIZE, "evidence", &j, NULL) != KTA_OK)
		return 0;
	t = json_object_get(j, "type");
	yes = t != NULL && json_is_string(t) && strncmp(json_string_value(t), "ct_", 3) == 0;
	json_decref(j);
	return yes;
}

static const char *type_name(enum kta_evidence_type t)
{
	return t == KTA_EVIDENCE_FORK       ? "ct_fork"
	       : t == KTA_EVIDENCE_ROLLBACK ? "ct_rollback"
					    : NULL;
}

enum kta_status kta_ctevidence_build(enum kta_evidence_type type, const char *log,
				     const struct kta_ct_key *k, const uint8_t *sth_a, size_t len_a,
				     const uint8_t *sth_b, size_t len_b, char **out,
				     size_t *out_len, struct kta_error *err)
{
	struct kta_ct_sth a, b;
	json_t *o = NULL, *sths = NULL;
	char id64[B64H], expl[512], *s = NULL;
	uint8_t id[32];
	const char *tn = type_name(type);
	enum kta_status r = KTA_ERR_MALFORMED;

	*out = NULL;
	*out_len = 0;
	if (tn == NULL || log == NULL || k == NULL || strlen(log) > KTA_CTEVIDENCE_LOG_MAX)
		return kta_error_set(err, KTA_ERR_USAGE, "CT evidence: bad type, log name or key");
	if ((r = kta_ct_sth_parse(sth_a, len_a, &a, err)) != KTA_OK)
		return kta_error_wrap(err, r, "CT evidence: first head");
	if ((r = kta_ct_sth_parse(sth_b, len_b, &b, err)) != KTA_OK)
		return kta_error_wrap(err, r, "CT evidence: second head");
	if (type == KTA_EVIDENCE_FORK &&
	    (a.tree_size != b.tree_size || kta_ct_equal(a.root, b.root, 32)))
		return kta_error_set(err, KTA_ERR_USAGE,
				     "CT evidence: a fork needs one size and two roots");
	if (type == KTA_EVIDENCE_ROLLBACK && a.tree_size <= b.tree_size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "CT evidence: a rollback needs the first head larger");
	kta_ct_key_log_id(k, id);
	kta_b64_encode(id, 32, id64);
	if (type == KTA_EVIDENCE_FORK)
		(void)snprintf(expl, sizeof(expl),
			       "The log %s signed two tree heads of size %llu with different "
			       "roots; an append-only log has one tree of each size.",
			       log, (unsigned long long)a.tree_size);
	else
		(void)snprintf(expl, sizeof(expl),
			       "The log %s served a signed tree head of size %llu (timestamp "
			       "%llu) after one of size %llu (timestamp %llu).",
			       log, (unsigned long long)b.tree_size,
			       (unsigned long long)b.timestamp, (unsigned long long)a.tree_size,
			       (unsigned long long)a.timestamp);
	r = KTA_ERR_NOMEM;
	if ((o = json_object()) == NULL || (sths = json_array()) == NULL)
		goto nomem;
	{
		json_t *sa = json_stringn((const char *)sth_a, len_a);
		json_t *sb = json_stringn((const char *)sth_b, len_b);

		/* A body that parsed is JSON, hence UTF-8: NULL means no memory. */
		if (sa == NULL || sb == NULL || json_array_append_new(sths, sa) != 0) {
			json_decref(sa);
			json_decref(sb);
			goto nomem;
		}
		if (json_array_append_new(sths, sb) != 0)
			goto nomem;
	}
	if (json_object_set_new(o, "type", json_string(tn)) != 0 ||
	    json_object_set_new(o, "log", json_string(log)) != 0 ||
	    json_object_set_new(o, "log_id", json_string(id64)) != 0)
		goto nomem;
	if (json_object_set_new(o, "sths", sths) != 0) {
		sths = NULL;
		goto nomem;
	}
	sths = NULL;
	if (json_object_set_new(o, "explanation", json_string(expl)) != 0 ||
	    (s = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL)
		goto nomem;
	json_decref(o);
	*out = s;
	*out_len = strlen(s);
	return KTA_OK;
nomem:
	json_decref(o);
	json_decref(sths);
	return kta_error_set(err, KTA_ERR_NOMEM, "CT evidence: out of memory");
}

/* Parses and verifies sths[i]: a get-sth body signed by k. */
static enum kta_status load_sth(const json_t *sths, size_t i, const struct kta_ct_key *k,
				struct kta_ct_sth *out, struct kta_error *err)
{
	const json_t *v = json_array_get(sths, i);
	enum kta_status r;

	if (v == NULL || !json_is_string(v))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "CT evidence: sths[%zu] is not a string", i);
	if (json_string_length(v) > KTA_CT_STH_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "CT evidence: sths[%zu] is longer than %d bytes", i,
				     KTA_CT_STH_MAX);
	if ((r = kta_ct_sth_parse((const uint8_t *)json_string_value(v), json_string_length(v), out,
				  err)) != KTA_OK)
		return kta_error_wrap(err, r, "CT evidence: sths[%zu]", i);
	if ((r = kta_ct_sth_verify(k, out, err)) != KTA_OK)
		return kta_error_wrap(err, r, "CT evidence: sths[%zu] (size %llu)", i,
				      (unsigned long long)out->tree_size);
	return KTA_OK;
}

enum kta_status kta_ctevidence_verify(const uint8_t *buf, size_t len, const struct kta_ct_key *k,
				      struct kta_evidence_result *res, struct kta_error *err)
{
	static const char *const keys[] = {"type", "log", "log_id", "sths", "explanation", NULL};
	json_t *j = NULL, *v, *sths;
	struct kta_evidence_result out;
	struct kta_ct_sth s[2];
	uint8_t want[32], got[32];
	const char *tn, *log;
	char q[4 * 40 + 4];
	size_t idlen = 0;
	enum kta_status r = KTA_ERR_MALFORMED;

	memset(&out, 0, sizeof(out));
	if (k == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "CT evidence: no log key");
	if (len > KTA_CTEVIDENCE_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "CT evidence: longer than %u bytes",
				     KTA_CTEVIDENCE_MAX_SIZE);
	if ((r = kta_json_load_object(buf, len, KTA_CTEVIDENCE_MAX_SIZE, "CT evidence", &j, err)) !=
	    KTA_OK)
		goto out;
	if ((r = kta_json_only_keys(j, keys, "CT evidence", err)) != KTA_OK)
		goto out;
	r = KTA_ERR_MALFORMED;
	v = json_object_get(j, "type");
	if (v == NULL || !json_is_string(v)) {
		r = kta_error_set(err, r, "CT evidence: missing \"type\"");
		goto out;
	}
	tn = json_string_value(v);
	if (strcmp(tn, "ct_fork") == 0) {
		out.type = KTA_EVIDENCE_FORK;
	} else if (strcmp(tn, "ct_rollback") == 0) {
		out.type = KTA_EVIDENCE_ROLLBACK;
	} else {
		r = kta_error_set(err, r, "CT evidence: unknown type \"%s\"",
				  kta_quote((const uint8_t *)tn, strlen(tn), 40, q));
		goto out;
	}
	v = json_object_get(j, "log");
	if (v == NULL || !json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > KTA_CTEVIDENCE_LOG_MAX) {
		r = kta_error_set(err, r, "CT evidence: \"log\" must be a name of 1..%d bytes",
				  KTA_CTEVIDENCE_LOG_MAX);
		goto out;
	}
	log = json_string_value(v);
	v = json_object_get(j, "explanation");
	if (v != NULL &&
	    (!json_is_string(v) || json_string_length(v) > KTA_EVIDENCE_EXPLANATION_MAX)) {
		r = kta_error_set(err, r,
				  "CT evidence: \"explanation\" must be text of at most %d "
				  "bytes",
				  KTA_EVIDENCE_EXPLANATION_MAX);
		goto out;
	}
	v = json_object_get(j, "log_id");
	if (v == NULL || !json_is_string(v) ||
	    kta_b64_decode(json_string_value(v), json_string_length(v), want, sizeof(want),
			   &idlen) != KTA_OK ||
	    idlen != 32) {
		r = kta_error_set(err, r, "CT evidence: \"log_id\" must be the base64 of 32 bytes");
		goto out;
	}
	sths = json_object_get(j, "sths");
	if (sths == NULL || !json_is_array(sths) || json_array_size(sths) != 2) {
		r = kta_error_set(err, r, "CT evidence: \"sths\" must hold two get-sth bodies");
		goto out;
	}
	/* The key ID first: a bundle for another log proves nothing here (RFC 6962 3.2). */
	kta_ct_key_log_id(k, got);
	if (!kta_ct_equal(want, got, 32)) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "CT evidence: log_id is not the ID of the given key");
		goto out;
	}
	if ((r = load_sth(sths, 0, k, &s[0], err)) != KTA_OK ||
	    (r = load_sth(sths, 1, k, &s[1], err)) != KTA_OK)
		goto out;
	if (out.type == KTA_EVIDENCE_FORK) {
		if (s[0].tree_size != s[1].tree_size || kta_ct_equal(s[0].root, s[1].root, 32)) {
			r = kta_error_set(err, KTA_ERR_VERIFY,
					  "CT evidence: ct_fork needs two heads of one size with "
					  "different roots (sizes %llu and %llu)",
					  (unsigned long long)s[0].tree_size,
					  (unsigned long long)s[1].tree_size);
			goto out;
		}
		out.strong = 1;
		(void)snprintf(out.statement, sizeof(out.statement),
			       "the CT log %s signed two different trees of size %llu "
			       "(timestamps %llu and %llu); no append-only log has both",
			       log, (unsigned long long)s[0].tree_size,
			       (unsigned long long)s[0].timestamp,
			       (unsigned long long)s[1].timestamp);
	} else {
		if (s[0].tree_size <= s[1].tree_size) {
			r = kta_error_set(err, KTA_ERR_VERIFY,
					  "CT evidence: ct_rollback needs the first head larger "
					  "(sizes %llu and %llu)",
					  (unsigned long long)s[0].tree_size,
					  (unsigned long long)s[1].tree_size);
			goto out;
		}
		out.strong = s[1].timestamp > s[0].timestamp;
		(void)snprintf(
		    out.statement, sizeof(out.statement),
		    out.strong ? "the CT log %s signed a tree head of size %llu at %llu, "
				 "later than its head of size %llu at %llu: by its own "
				 "timestamps its tree shrank"
			       : "the CT log %s signed heads of size %llu (at %llu) and "
				 "%llu (at %llu); that the smaller was served later is the "
				 "monitor's observation",
		    log, (unsigned long long)s[1].tree_size, (unsigned long long)s[1].timestamp,
		    (unsigned long long)s[0].tree_size, (unsigned long long)s[0].timestamp);
	}
	if (res != NULL)
		*res = out;
	r = KTA_OK;
out:
	json_decref(j);
	return r;
}
