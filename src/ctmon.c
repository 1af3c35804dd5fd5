/*
 * Certificate Transparency monitoring: verified heads, consistency from the
 * server, replay of the entries, domain watches. See ktaudit/ctmon.h.
 */
#include "ktaudit/ctmon.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/alert.h"
#include "ktaudit/encoding.h"
#include "ktaudit/merkle.h"

struct replay_ctx {
	struct kta_hasher *h;
	struct kta_compact_range *cr;
	const char *log;
	const struct kta_ctmon_watch *watches;
	size_t nwatches;
	kta_ctmon_report_fn fn;
	void *ctx;
	struct kta_ctmon_replay_stats stats;
};

static int approved(const struct kta_ctmon_watch *w, const uint8_t spki[32])
{
	size_t i;

	for (i = 0; i < w->napproved; i++)
		if (kta_ct_equal(w->approved[i], spki, 32))
			return 1;
	return 0;
}

static enum kta_status replay_one(void *vctx, uint64_t index, const uint8_t *leaf, size_t leaf_len,
				  const uint8_t *extra, size_t extra_len, struct kta_error *err)
{
	struct replay_ctx *rc = vctx;
	struct kta_ct_leaf l;
	struct kta_ct_cert *cert = NULL;
	uint8_t lh[32];
	enum kta_status r;
	size_t w, i;

	kta_hash_leaf(rc->h, leaf, leaf_len, lh);
	if ((r = kta_compact_range_append(rc->cr, rc->h, lh, err)) != KTA_OK)
		return r;
	{
		struct kta_error perr;

		if (kta_ct_leaf_parse(leaf, leaf_len, &l, &perr) != KTA_OK ||
		    kta_ct_extra_check(l.type, extra, extra_len, &perr) != KTA_OK) {
			/* Keep hashing: the root check says whether the log signed it. */
			if (rc->stats.malformed++ == 0) {
				rc->stats.first_malformed = index;
				memcpy(rc->stats.malformed_msg, perr.msg, sizeof(perr.msg));
			}
			return KTA_OK;
		}
	}
	for (w = 0; w < rc->nwatches; w++) {
		const struct kta_ctmon_watch *wa = &rc->watches[w];
		struct kta_ctmon_report rep;
		int hit = 0;

		/* Parse only what may match: most certificates never reach OpenSSL. */
		if (!kta_ct_may_match(wa->domain, l.cert, l.cert_len))
			continue;
		if (cert == NULL) {
			r = kta_ct_cert_parse(&l, &cert, NULL);
			if (r == KTA_ERR_NOMEM)
				return kta_error_set(err, r, "entry %llu: out of memory",
						     (unsigned long long)index);
			if (r != KTA_OK)
				return KTA_OK; /* unparseable: names nothing a browser accepts */
		}
		for (i = 0; i < cert->nnames && !hit; i++)
			hit = kta_ct_name_matches(wa->domain, cert->names[i]);
		if (!hit)
			continue;
		rc->stats.matches++;
		if (rc->fn == NULL)
			continue;
		rep.log = rc->log;
		rep.domain = wa->domain;
		rep.leaf_index = index;
		rep.type = l.type;
		rep.cert = cert;
		rep.approved = approved(wa, cert->spki_sha256);
		if ((r = rc->fn(rc->ctx, &rep, err)) != KTA_OK) {
			kta_ct_cert_free(cert);
			return r;
		}
	}
	kta_ct_cert_free(cert);
	return KTA_OK;
}

enum kta_status kta_ctmon_replay(struct kta_ct_client *c, struct kta_hasher *h,
				 struct kta_compact_range *cr, uint64_t start, uint64_t end,
				 const char *log, const struct kta_ctmon_watch *watches,
				 size_t nwatches, kta_ctmon_report_fn fn, void *ctx,
				 struct kta_ctmon_replay_stats *stats, struct kta_error *err)
{
	struct replay_ctx rc;
	enum kta_status r;

	if (kta_compact_range_size(cr) != start)
		return kta_error_set(
		    err, KTA_ERR_USAGE, "CT replay: compact range holds %llu leaves, not %llu",
		    (unsigned long long)kta_compact_range_size(cr), (unsigned long long)start);
	memset(&rc, 0, sizeof(rc));
	rc.h = h;
	rc.cr = cr;
	rc.log = log;
	rc.watches = watches;
	rc.nwatches = nwatches;
	rc.fn = fn;
	rc.ctx = ctx;
	r = kta_ct_get_entries(c, start, end, replay_one, &rc, err);
	if (r == KTA_OK && kta_hasher_failed(h))
		r = kta_error_set(err, KTA_ERR_INTERNAL, "CT replay: SHA-256 failed");
	if (stats != NULL)
		*stats = rc.stats;
	return r;
}

/* --- the cycle ----------------------------------------------------------- */

struct cycle {
	const struct kta_ctmon_log *log;
	struct kta_state *st;
	int64_t now;
	uint64_t size; /* for alerts */
	kta_ctmon_report_fn fn;
	void *ctx;
	uint64_t alerts;
};

static void hex32(const uint8_t h[32], char out[65])
{
	kta_hex_encode(h, 32, out);
}

/* Stores a log-level alert (fork, rollback, root mismatch, bad signature). */
static enum kta_status log_alert(struct cycle *cy, enum kta_alert_kind kind, const char *msg,
				 json_t *details, struct kta_error *err)
{
	struct kta_alert *a = NULL;
	enum kta_status r;
	int added = 0;

	r = kta_alert_new(kind, cy->log->name, cy->now, msg, &a, err);
	if (r == KTA_OK) {
		a->size = cy->size;
		if (details != NULL)
			r = kta_alert_set_details(a, details, err);
	}
	if (r == KTA_OK && (r = kta_alert_set_id(a, err)) == KTA_OK &&
	    (r = kta_state_alert_add(cy->st, a, &added, err)) == KTA_OK)
		cy->alerts += (uint64_t)added;
	kta_alert_free(a);
	json_decref(details);
	return r;
}

static json_t *cert_json(const struct kta_ctmon_report *rep)
{
	json_t *j = json_object(), *names = json_array();
	char spki[65], id[65];
	size_t i;

	if (j == NULL || names == NULL) {
		json_decref(j);
		json_decref(names);
		return NULL;
	}
	for (i = 0; i < rep->cert->nnames; i++)
		json_array_append_new(names, json_string(rep->cert->names[i]));
	hex32(rep->cert->spki_sha256, spki);
	hex32(rep->cert->id, id);
	json_object_set_new(j, "domain", json_string(rep->domain));
	json_object_set_new(j, "names", names);
	json_object_set_new(j, "issuer", json_string(rep->cert->issuer));
	json_object_set_new(j, "subject", json_string(rep->cert->subject));
	json_object_set_new(j, "serial", json_string(rep->cert->serial));
	json_object_set_new(j, "not_before", json_integer((json_int_t)rep->cert->not_before));
	json_object_set_new(j, "not_after", json_integer((json_int_t)rep->cert->not_after));
	json_object_set_new(j, "spki_sha256", json_string(spki));
	json_object_set_new(j, "cert_id", json_string(id));
	json_object_set_new(j, "entry_type",
			    json_string(rep->type == KTA_CT_PRECERT_ENTRY ? "precert" : "x509"));
	json_object_set_new(j, "approved", json_boolean(rep->approved));
	return j;
}

/* Reports to the caller, and stores an alert for an unapproved key. */
static enum kta_status cycle_report(void *vctx, const struct kta_ctmon_report *rep,
				    struct kta_error *err)
{
	struct cycle *cy = vctx;
	struct kta_alert *a = NULL;
	json_t *d = NULL;
	char msg[512], spki[65];
	uint8_t idsrc[32 + 256], idh[32];
	size_t dl = strlen(rep->domain);
	enum kta_status r = KTA_OK;
	int added = 0;

	if (cy->fn != NULL && (r = cy->fn(cy->ctx, rep, err)) != KTA_OK)
		return r;
	if (rep->approved)
		return KTA_OK;
	hex32(rep->cert->spki_sha256, spki);
	snprintf(msg, sizeof(msg),
		 "certificate for %s with an unapproved key %s (issuer %s, serial %s, entry %llu)",
		 rep->domain, spki, rep->cert->issuer, rep->cert->serial,
		 (unsigned long long)rep->leaf_index);
	if ((d = cert_json(rep)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "CT alert: out of memory");
	if ((r = kta_alert_new(KTA_ALERT_KEY_CHANGED, cy->log->name, cy->now, msg, &a, err)) !=
		KTA_OK ||
	    (r = kta_alert_set_label(a, rep->domain, 0, err)) != KTA_OK ||
	    (r = kta_alert_set_details(a, d, err)) != KTA_OK)
		goto out;
	a->has_leaf_index = 1;
	a->leaf_index = rep->leaf_index;
	a->size = cy->size;
	/* Once per (domain, certificate): the id ignores the log and the entry type. */
	memcpy(idsrc, rep->cert->id, 32);
	if (dl > 256)
		dl = 256;
	memcpy(idsrc + 32, rep->domain, dl);
	{
		struct kta_hasher *h = NULL;

		if ((r = kta_hasher_new(&h, err)) != KTA_OK)
			goto out;
		kta_sha256(h, idsrc, 32 + dl, idh);
		r = kta_hasher_failed(h) ? KTA_ERR_INTERNAL : KTA_OK;
		kta_hasher_free(h);
		if (r != KTA_OK) {
			r = kta_error_set(err, r, "CT alert: SHA-256 failed");
			goto out;
		}
	}
	kta_hex_encode(idh, 16, a->id);
	if ((r = kta_state_alert_add(cy->st, a, &added, err)) == KTA_OK)
		cy->alerts += (uint64_t)added;
out:
	json_decref(d);
	kta_alert_free(a);
	return r;
}

/* Reads the tree size of the stored get-sth JSON (the newest verified head). */
static enum kta_status stored_sth(const struct kta_state_log *sl, struct kta_ct_sth *out,
				  struct kta_error *err)
{
	enum kta_status r =
	    kta_ct_sth_parse((const uint8_t *)sl->checkpoint, sl->checkpoint_len, out, err);

	if (r != KTA_OK)
		return kta_error_prefix(err, "state: CT log %s: stored head", sl->origin);
	return KTA_OK;
}

static json_t *heads_json(uint64_t s1, const uint8_t r1[32], uint64_t s2, const uint8_t r2[32])
{
	char a[65], b[65];

	hex32(r1, a);
	hex32(r2, b);
	return json_pack("{sIsssIss}", "old_size", (json_int_t)s1, "old_root", a, "new_size",
			 (json_int_t)s2, "new_root", b);
}

/* Consistency (size1, root1) -> the signed head, proof from the server. */
static enum kta_status check_consistency(struct kta_ct_client *c, struct kta_hasher *h,
					 uint64_t size1, const uint8_t root1[32],
					 const struct kta_ct_sth *sth, struct kta_error *err)
{
	uint8_t(*proof)[32] = NULL;
	size_t n = 0;
	enum kta_status r;

	if (size1 == 0 || size1 == sth->tree_size)
		return kta_merkle_verify_consistency(h, size1, sth->tree_size, root1, sth->root,
						     NULL, 0, err);
	if ((r = kta_ct_get_consistency(c, size1, sth->tree_size, &proof, &n, err)) != KTA_OK)
		return r;
	r = kta_merkle_verify_consistency(h, size1, sth->tree_size, root1, sth->root,
					  (const uint8_t(*)[32])proof, n, err);
	free(proof);
	return r;
}

enum kta_status kta_ctmon_cycle(const struct kta_ctmon_log *log, struct kta_fetcher *f,
				struct kta_state *st, int64_t now, kta_ctmon_report_fn fn,
				void *ctx, struct kta_ctmon_result *res, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_INTERNAL, v;
	struct kta_ct_client *c = NULL;
	struct kta_hasher *h = NULL;
	struct kta_ct_sth sth, prev;
	struct kta_state_log *sl = NULL;
	struct kta_compact_range *cr = NULL;
	struct kta_ctmon_result out;
	struct cycle cy;
	char *raw = NULL, origin[KTA_CT_URL_MAX + 8], msg[2 * KTA_CT_URL_MAX + KTA_ERROR_MSG_MAX];
	size_t raw_len = 0;
	uint8_t root[32];
	uint64_t start, target;
	struct kta_ctmon_replay_stats rs;
	int found = 0;
	struct kta_error local;

	/* The messages of inner steps go into alerts: always have a buffer. */
	if (err == NULL)
		err = &local;
	memset(&out, 0, sizeof(out));
	memset(&cy, 0, sizeof(cy));
	cy.log = log;
	cy.st = st;
	cy.now = now;
	cy.fn = fn;
	cy.ctx = ctx;
	if (log == NULL || log->name == NULL || log->key == NULL || f == NULL || st == NULL ||
	    strlen(log->name) > KTA_CT_URL_MAX)
		return kta_error_set(err, KTA_ERR_USAGE, "CT cycle: missing log, key or state");
	snprintf(origin, sizeof(origin), KTA_CTMON_STATE_PREFIX "%s", log->name);
	if ((r = kta_hasher_new(&h, err)) != KTA_OK ||
	    (r = kta_ct_client_new(f, log->url, log->batch, &c, err)) != KTA_OK)
		goto out;
	/* 1. A signed head. */
	if ((r = kta_ct_get_sth(c, &sth, &raw, &raw_len, err)) != KTA_OK)
		goto out;
	out.sth_size = sth.tree_size;
	cy.size = sth.tree_size;
	if ((r = kta_state_begin(st, err)) != KTA_OK)
		goto out;
	v = kta_ct_sth_verify(log->key, &sth, err);
	if (v != KTA_OK) {
		r = v;
		if (v == KTA_ERR_VERIFY) {
			snprintf(msg, sizeof(msg), "%s: get-sth: %s", log->name, err->msg);
			r = log_alert(&cy, KTA_ALERT_BAD_SIGNATURE, msg, NULL, err);
			if (r == KTA_OK && (r = kta_state_commit(st, err)) == KTA_OK)
				r = kta_error_set(err, KTA_ERR_VERIFY, "%s", msg);
		}
		goto out;
	}
	/* 2. Against what was verified before. */
	if ((r = kta_state_log_get(st, origin, &found, &sl, err)) != KTA_OK)
		goto out;
	if (found) {
		if ((r = stored_sth(sl, &prev, err)) != KTA_OK)
			goto out;
		out.old_size = sl->size;
		if (sth.tree_size < prev.tree_size ||
		    (sth.tree_size == prev.tree_size && !kta_ct_equal(sth.root, prev.root, 32))) {
			int rollback = sth.tree_size < prev.tree_size;

			snprintf(msg, sizeof(msg),
				 rollback ? "%s: signed head of size %llu is smaller than the "
					    "verified %llu (rollback)"
					  : "%s: two signed heads of size %llu/%llu with different "
					    "roots (fork)",
				 log->name, (unsigned long long)sth.tree_size,
				 (unsigned long long)prev.tree_size);
			r = log_alert(
			    &cy, rollback ? KTA_ALERT_ROLLBACK : KTA_ALERT_FORK, msg,
			    heads_json(prev.tree_size, prev.root, sth.tree_size, sth.root), err);
			goto verify_fail;
		}
		if ((v = check_consistency(c, h, sl->size, sl->root, &sth, err)) != KTA_OK) {
			if (v != KTA_ERR_VERIFY) {
				r = v;
				goto out;
			}
			snprintf(msg, sizeof(msg),
				 "%s: head %llu is not consistent with the verified tree %llu: %s",
				 log->name, (unsigned long long)sth.tree_size,
				 (unsigned long long)sl->size, err->msg);
			r = log_alert(&cy, KTA_ALERT_FORK, msg,
				      heads_json(sl->size, sl->root, sth.tree_size, sth.root), err);
			goto verify_fail;
		}
		cr = sl->range;
		sl->range = NULL;
	} else if ((r = kta_compact_range_new(&cr, err)) != KTA_OK) {
		goto out;
	}
	/* 3. Replay. */
	start = kta_compact_range_size(cr);
	target = sth.tree_size;
	if (log->max_entries > 0 && target - start > log->max_entries)
		target = start + log->max_entries;
	if ((r = kta_ctmon_replay(c, h, cr, start, target, log->name, log->watches, log->nwatches,
				  cycle_report, &cy, &rs, err)) != KTA_OK)
		goto out;
	if ((r = kta_compact_range_root(cr, h, root, err)) != KTA_OK)
		goto out;
	v = target == sth.tree_size
		? (kta_ct_equal(root, sth.root, 32)
		       ? KTA_OK
		       : kta_error_set(err, KTA_ERR_VERIFY, "recomputed root differs"))
		: check_consistency(c, h, target, root, &sth, err);
	if (v != KTA_OK) {
		if (v != KTA_ERR_VERIFY) {
			r = v;
			goto out;
		}
		snprintf(msg, sizeof(msg),
			 "%s: entries [%llu, %llu) served by the log do not hash to its signed "
			 "head of size %llu: %s",
			 log->name, (unsigned long long)start, (unsigned long long)target,
			 (unsigned long long)sth.tree_size, err->msg);
		/* The certificates seen are not part of the signed log: drop their alerts. */
		if ((r = kta_state_rollback(st, err)) != KTA_OK ||
		    (r = kta_state_begin(st, err)) != KTA_OK)
			goto out;
		cy.alerts = 0;
		r = log_alert(&cy, KTA_ALERT_ROOT_MISMATCH, msg,
			      heads_json(target, root, sth.tree_size, sth.root), err);
		goto verify_fail;
	}
	/* 5. Entries in the signed log that do not parse. */
	if (rs.malformed > 0) {
		snprintf(msg, sizeof(msg),
			 "%s: %llu signed entries do not parse; the first, entry %llu: %s",
			 log->name, (unsigned long long)rs.malformed,
			 (unsigned long long)rs.first_malformed, rs.malformed_msg);
		if ((r = log_alert(&cy, KTA_ALERT_MALFORMED_ENTRY, msg,
				   json_pack("{sIsI}", "first", (json_int_t)rs.first_malformed,
					     "count", (json_int_t)rs.malformed),
				   err)) != KTA_OK)
			goto out;
	}
	/* Progress and alerts together. */
	if ((r = kta_state_log_put(st, origin, raw, raw_len, target, root, cr, now, err)) !=
		KTA_OK ||
	    (r = kta_state_commit(st, err)) != KTA_OK)
		goto out;
	out.new_size = target;
	out.entries = target - start;
	out.matches = rs.matches;
	out.malformed = rs.malformed;
	out.alerts = cy.alerts;
	if (res != NULL)
		*res = out;
	r = KTA_OK;
	goto out;
verify_fail:
	if (r == KTA_OK && (r = kta_state_commit(st, err)) == KTA_OK) {
		out.new_size = out.old_size;
		out.alerts = cy.alerts;
		if (res != NULL)
			*res = out;
		r = kta_error_set(err, KTA_ERR_VERIFY, "%s", msg);
	}
out:
	if (kta_state_in_transaction(st))
		(void)kta_state_rollback(st, NULL);
	kta_compact_range_free(cr);
	kta_state_log_free(sl);
	free(raw);
	kta_ct_client_free(c);
	kta_hasher_free(h);
	return r;
}

enum kta_status kta_ctmon_log_from_config(const struct kta_ctlog_config *c,
					  struct kta_ctmon_log *out,
					  struct kta_ctmon_watch **watches, struct kta_error *err)
{
	struct kta_ctmon_watch *w = NULL;
	size_t i;

	*watches = NULL;
	if (c->nwatches > 0 && (w = calloc(c->nwatches, sizeof(*w))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "ctlog %s: out of memory", c->name);
	for (i = 0; i < c->nwatches; i++) {
		w[i].domain = c->watches[i].domain;
		w[i].approved = (const uint8_t(*)[32])c->watches[i].approved;
		w[i].napproved = c->watches[i].napproved;
	}
	memset(out, 0, sizeof(*out));
	out->name = c->name;
	out->url = c->url;
	out->key = c->key;
	out->watches = w;
	out->nwatches = c->nwatches;
	out->batch = c->batch;
	out->max_entries = c->max_entries;
	*watches = w;
	return KTA_OK;
}
