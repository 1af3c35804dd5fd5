/*
 * `ktaudit check`: pin-file and candidate checks for CI (see ktaudit/check.h).
 * Composes the tiles client (tlog.h), lookup answers (lookup.h) and the
 * replay engine (replay.h); findings become report checks (report.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ktaudit/check.h"
#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/lookup.h"
#include "ktaudit/merkle.h"
#include "ktaudit/replay.h"
#include "ktaudit/tlog.h"

/* The three replay checks, in report order. */
enum cat { CAT_ENTRIES, CAT_VERSIONS, CAT_AUTH, NCAT };
static const char *const cat_name[NCAT] = {"entries", "versions", "authorization"};

/* What the replay learnt about one pinned label. */
struct plabel {
	int has_auth;              /* auth/auth_version are set */
	enum kta_auth_result auth; /* authorization of the label's latest entry */
	uint64_t auth_version;
	size_t nfail, nwarn; /* replay findings about the label */
	char *first;         /* the first failing (else warning) finding; malloc'd */
	int first_fails;     /* first is from a failing finding */
};

struct ctx {
	const struct kta_check_opts *o;
	struct kta_report *rep;
	struct kta_check_result *res;
	struct kta_hasher *h;
	const char *origin;
	int candidate;               /* provider mode: findings before the baseline warn */
	uint64_t baseline;           /* see check.h "Which findings fail" */
	const struct kta_pins *pins; /* NULL in provider mode */
	struct plabel *pl;           /* pins->nlabels entries */
	/* replay */
	struct kta_replay_memindex *mi;
	struct kta_replay_index mops; /* the memindex's own operations */
	struct kta_replay *rp;
	int fn_failed; /* the replay (not the tiles client) stopped the iteration */
	size_t cat_fail[NCAT], cat_warn[NCAT];
	uint64_t unknown_prev; /* new entries whose previous version was unknown */
};

void kta_check_opts_init(struct kta_check_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* A fetcher allowed to use only the scheme of url. */
static enum kta_status make_fetcher(const struct kta_check_opts *o, const char *url,
				    struct kta_fetcher **out, struct kta_error *err)
{
	struct kta_fetch_opts fo;
	char q[4 * 64 + 4];

	if (o->fetch != NULL)
		fo = *o->fetch;
	else
		kta_fetch_opts_init(&fo);
	if (has_prefix(url, "https://"))
		fo.schemes = "https";
	else if (has_prefix(url, "http://"))
		fo.schemes = "http";
	else if (has_prefix(url, "file://"))
		fo.schemes = "file";
	else
		return kta_error_set(err, KTA_ERR_USAGE,
				     "\"%s\": not an https://, http:// or file:// URL",
				     kta_quote((const uint8_t *)url, strlen(url), 64, q));
	if (o->ca_file != NULL)
		fo.ca_file = o->ca_file;
	return kta_fetcher_new(&fo, out, err);
}

/* The policy that every checkpoint of the log must meet at least. */
static void base_policy(struct kta_checkpoint_policy *p, const struct kta_vkey *log_key,
			const char *origin, int64_t now)
{
	memset(p, 0, sizeof(*p));
	p->log_key = log_key;
	p->origin = origin;
	p->now = now;
	p->max_skew = KTA_CHECK_MAX_SKEW;
}

static int fatal(enum kta_status r)
{
	return r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL || r == KTA_ERR_USAGE;
}

/*
 * Fetches and verifies <c>checkpoint under p and adds the check (group,
 * name). Fetch failures are an error check with cause `io_cause`; anything
 * that does not verify fails (the log cannot back what it serves). *ok = 1
 * and *cres filled (caller frees) when it verified.
 */
static enum kta_status check_checkpoint(struct ctx *x, struct kta_tlog *c,
					const struct kta_checkpoint_policy *p, const char *group,
					const char *name, enum kta_status io_cause,
					struct kta_checkpoint_result *cres, int *ok,
					struct kta_error *err)
{
	char b64[KTA_B64_ENCODED_LEN(32) + 1];
	struct kta_error e;
	enum kta_status r;
	json_t *d = NULL;

	*ok = 0;
	kta_error_clear(&e);
	memset(cres, 0, sizeof(*cres));
	r = kta_tlog_fetch_checkpoint(c, p, cres, NULL, NULL, &e);
	if (fatal(r))
		return kta_error_set(err, r, "%s", e.msg);
	if (r == KTA_ERR_IO)
		return kta_report_add(x->rep, group, name, KTA_REPORT_ERROR, io_cause, NULL, err,
				      "could not fetch %scheckpoint: %s", kta_tlog_url(c), e.msg);
	if (r != KTA_OK)
		return kta_report_add(x->rep, group, name, KTA_REPORT_FAIL, KTA_OK, NULL, err,
				      "%scheckpoint does not verify: %s", kta_tlog_url(c), e.msg);
	kta_b64_encode(cres->cp->root, 32, b64);
	d = json_pack("{s:s,s:I,s:s,s:I,s:I}", "url", kta_tlog_url(c), "size",
		      (json_int_t)cres->cp->size, "root", b64, "cosigned",
		      (json_int_t)cres->cosigned, "quorum", (json_int_t)p->quorum);
	if (d == NULL) {
		kta_checkpoint_result_free(cres);
		return kta_error_set(err, KTA_ERR_NOMEM, "check: out of memory");
	}
	if (p->nwitnesses > 0)
		r = kta_report_add(x->rep, group, name, KTA_REPORT_PASS, KTA_OK, d, err,
				   "size %" PRIu64 ", root %s; cosigned by %zu of %zu witnesses "
				   "(quorum %zu)",
				   cres->cp->size, b64, cres->cosigned, p->nwitnesses, p->quorum);
	else
		r = kta_report_add(x->rep, group, name, KTA_REPORT_PASS, KTA_OK, d, err,
				   "size %" PRIu64 ", root %s; signed by %s", cres->cp->size, b64,
				   p->log_key->name);
	json_decref(d);
	if (r != KTA_OK) {
		kta_checkpoint_result_free(cres);
		return r;
	}
	*ok = 1;
	return KTA_OK;
}

/* Outcomes of prove_prefix. */
enum prefix {
	PREFIX_OK,    /* (old_size, old_root) is a prefix of (size, root) */
	PREFIX_FORK,  /* provably not */
	PREFIX_TILES, /* the tiles of (size, root) do not lead to its root */
	PREFIX_FETCH, /* the tiles could not be fetched */
};

/*
 * Is the tree (old_size, old_root) a prefix of (size, root), old_size <=
 * size, whose tiles c serves? The proof PROOF(old_size, D[size]) comes
 * from c's authenticated tiles and is verified with RFC 9162 2.1.4.2. *why
 * says why not.
 */
static enum kta_status prove_prefix(struct ctx *x, struct kta_tlog *c, uint64_t old_size,
				    const uint8_t old_root[32], uint64_t size,
				    const uint8_t root[32], enum prefix *out, struct kta_error *why,
				    struct kta_error *err)
{
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32], empty[32];
	size_t plen = 0;
	enum kta_status r;

	*out = PREFIX_OK;
	kta_error_clear(why);
	if (old_size > size)
		return kta_error_set(err, KTA_ERR_USAGE, "check: prefix larger than the tree");
	if (old_size == size) {
		if (!kta_ct_equal(old_root, root, 32)) {
			*out = PREFIX_FORK;
			(void)kta_error_set(why, KTA_ERR_VERIFY,
					    "same size %" PRIu64 ", different roots", size);
		}
		return KTA_OK;
	}
	if (old_size == 0) {
		/* Nothing links the empty tree; its root is a constant (merkle.h). */
		kta_hash_empty(empty);
		if (!kta_ct_equal(old_root, empty, 32)) {
			*out = PREFIX_FORK;
			(void)kta_error_set(why, KTA_ERR_VERIFY,
					    "a tree of size 0 whose root is not the empty hash");
		}
		return KTA_OK;
	}
	kta_tlog_set_tree(c, size, root);
	r = kta_tlog_consistency_proof(c, old_size, proof, KTA_MERKLE_MAX_PROOF, &plen, why);
	if (r == KTA_ERR_IO) {
		*out = PREFIX_FETCH;
		return KTA_OK;
	}
	if (r == KTA_ERR_VERIFY || r == KTA_ERR_MALFORMED || r == KTA_ERR_LIMIT) {
		*out = PREFIX_TILES;
		return KTA_OK;
	}
	if (r != KTA_OK)
		return kta_error_set(err, r, "%s", why->msg);
	r = kta_merkle_verify_consistency(x->h, old_size, size, old_root, root,
					  (const uint8_t(*)[32])proof, plen, why);
	if (r == KTA_ERR_VERIFY)
		*out = PREFIX_FORK;
	else if (r != KTA_OK)
		return kta_error_set(err, r, "%s", why->msg);
	return KTA_OK;
}

/* ------------------------------------------------------------------------ */
/* Replay. */

static enum cat kind_cat(enum kta_alert_kind k)
{
	switch (k) {
	case KTA_ALERT_MALFORMED_ENTRY:
		return CAT_ENTRIES;
	case KTA_ALERT_VERSION_EQUIVOCATION:
	case KTA_ALERT_VERSION_SKIP:
		return CAT_VERSIONS;
	default:
		return CAT_AUTH;
	}
}

static struct plabel *pinned(struct ctx *x, const char *label)
{
	const struct kta_pins_label *l;

	if (x->pins == NULL || label == NULL || (l = kta_pins_find(x->pins, label)) == NULL)
		return NULL;
	return &x->pl[l - x->pins->labels];
}

/* Whether a finding fails or warns (check.h "Which findings fail"). */
static enum kta_report_status finding_status(const struct ctx *x, const struct kta_alert *a,
					     int is_pinned)
{
	int before = a->has_leaf_index && a->leaf_index < x->baseline;

	if (kta_alert_kind_severity(a->kind) == KTA_SEV_CRITICAL)
		return (before && x->candidate) ? KTA_REPORT_WARN : KTA_REPORT_FAIL;
	if (before)
		return KTA_REPORT_WARN;
	if (a->kind == KTA_ALERT_UNAUTHORIZED_UPDATE && x->o->allow_unauthorized && !is_pinned)
		return KTA_REPORT_WARN;
	return KTA_REPORT_FAIL;
}

static enum kta_status on_finding(void *ctx, const struct kta_alert *a, struct kta_error *err)
{
	struct ctx *x = ctx;
	struct plabel *pl = pinned(x, a->label);
	enum kta_report_status st = finding_status(x, a, pl != NULL);
	enum cat c = kind_cat(a->kind);

	if (st == KTA_REPORT_FAIL) {
		x->cat_fail[c]++;
		x->res->failed_findings++;
	} else {
		x->cat_warn[c]++;
		x->res->warned_findings++;
	}
	if (pl != NULL) {
		if (st == KTA_REPORT_FAIL)
			pl->nfail++;
		else
			pl->nwarn++;
		if (pl->first == NULL || (st == KTA_REPORT_FAIL && !pl->first_fails)) {
			char msg[KTA_ERROR_MSG_MAX];

			(void)snprintf(msg, sizeof(msg), "%s: %s", kta_alert_kind_name(a->kind),
				       a->message);
			free(pl->first);
			if ((pl->first = strdup(msg)) == NULL)
				return kta_error_set(err, KTA_ERR_NOMEM, "check: out of memory");
			pl->first_fails = st == KTA_REPORT_FAIL;
		}
	}
	return kta_report_finding(x->rep, "replay", cat_name[c], a, st, err);
}

/* The index seen by the replay: the memindex, plus a note of each entry's
 * authorization (the memindex keeps none) for the counts and the pins. */
static enum kta_status ix_get(void *ctx, const char *label, int *found, struct kta_label_state *out,
			      struct kta_error *err)
{
	struct ctx *x = ctx;

	return x->mops.get(x->mops.ctx, label, found, out, err);
}

static enum kta_status ix_put(void *ctx, const struct kta_label_state *st,
			      enum kta_auth_result auth, struct kta_error *err)
{
	struct ctx *x = ctx;
	struct plabel *pl = pinned(x, st->label);

	if (pl != NULL) {
		pl->has_auth = 1;
		pl->auth = auth;
		pl->auth_version = st->version;
	}
	if (st->leaf_index >= x->baseline) {
		x->res->new_entries++;
		switch (auth) {
		case KTA_AUTH_FIRST_VERSION:
			x->res->first_versions++;
			break;
		case KTA_AUTH_OWNER:
			x->res->owner_authorized++;
			break;
		case KTA_AUTH_UNAUTHORIZED:
			x->res->unauthorized++;
			break;
		case KTA_AUTH_BAD_SIGNATURE:
			x->res->bad_signatures++;
			break;
		case KTA_AUTH_PREV_UNKNOWN:
			x->unknown_prev++;
			break;
		}
	}
	return x->mops.put(x->mops.ctx, st, auth, err);
}

static enum kta_status on_entry(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				const uint8_t *leaf_hash, struct kta_error *err)
{
	struct ctx *x = ctx;
	enum kta_status r = kta_replay_entry(x->rp, index, entry, len, leaf_hash, err);

	if (r != KTA_OK) {
		x->fn_failed = 1;
		return kta_error_wrap(err, r, "leaf %" PRIu64, index);
	}
	x->res->entries++;
	return KTA_OK;
}

/* Adds the replay checks from `first` on as skipped. */
static enum kta_status skip_replay(struct ctx *x, enum cat first, const char *why,
				   struct kta_error *err)
{
	enum kta_status r = KTA_OK;
	size_t i;

	for (i = first; i < NCAT && r == KTA_OK; i++)
		r = kta_report_add(x->rep, "replay", cat_name[i], KTA_REPORT_SKIP, KTA_OK, NULL,
				   err, "not run: %s", why);
	return r;
}

static enum kta_report_status cat_status(const struct ctx *x, enum cat c)
{
	return x->cat_fail[c] > 0   ? KTA_REPORT_FAIL
	       : x->cat_warn[c] > 0 ? KTA_REPORT_WARN
				    : KTA_REPORT_PASS;
}

/* " (F failing, W warning findings)" or "". */
static void findings_note(const struct ctx *x, enum cat c, char *buf, size_t n)
{
	if (x->cat_fail[c] == 0 && x->cat_warn[c] == 0)
		buf[0] = '\0';
	else
		(void)snprintf(buf, n, "; %zu failing, %zu warning findings", x->cat_fail[c],
			       x->cat_warn[c]);
}

/* The replay checks' verdicts after a complete replay. */
static enum kta_status add_replay_checks(struct ctx *x, uint64_t size, struct kta_error *err)
{
	struct kta_check_result *res = x->res;
	char note[128];
	enum kta_status r;
	json_t *d;
	const char *since = x->candidate     ? "new entries (not yet published)"
			    : res->first_use ? "entries after the checkpoint trusted on first use"
					     : "entries since the pinned checkpoint";

	findings_note(x, CAT_ENTRIES, note, sizeof(note));
	if ((r = kta_report_add(x->rep, "replay", cat_name[CAT_ENTRIES], cat_status(x, CAT_ENTRIES),
				KTA_OK, NULL, err,
				"%" PRIu64 " entries replayed (the whole tree of size %" PRIu64
				"), authenticated against the signed root%s",
				res->entries, size, note)) != KTA_OK)
		return r;
	findings_note(x, CAT_VERSIONS, note, sizeof(note));
	if ((r = kta_report_add(
		 x->rep, "replay", cat_name[CAT_VERSIONS], cat_status(x, CAT_VERSIONS), KTA_OK,
		 NULL, err, "%zu labels%s", kta_replay_memindex_count(x->mi),
		 note[0] != '\0' ? note : "; versions go up by one per label")) != KTA_OK)
		return r;
	findings_note(x, CAT_AUTH, note, sizeof(note));
	d = json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "baseline", (json_int_t)x->baseline, "new_entries",
	    (json_int_t)res->new_entries, "first_versions", (json_int_t)res->first_versions,
	    "owner_authorized", (json_int_t)res->owner_authorized, "unauthorized",
	    (json_int_t)res->unauthorized, "bad_signatures", (json_int_t)res->bad_signatures,
	    "previous_version_unknown", (json_int_t)x->unknown_prev);
	if (d == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "check: out of memory");
	r = kta_report_add(
	    x->rep, "replay", cat_name[CAT_AUTH], cat_status(x, CAT_AUTH), KTA_OK, d, err,
	    "%" PRIu64 " %s (leaf %" PRIu64 " on): %" PRIu64 " owner-authorized, %" PRIu64
	    " first versions, %" PRIu64 " unauthorized, %" PRIu64 " with a bad auth signature%s",
	    res->new_entries, since, x->baseline, res->owner_authorized, res->first_versions,
	    res->unauthorized, res->bad_signatures, note);
	json_decref(d);
	return r;
}

/*
 * Replays entries [0, size) of the tree (size, root) served by c. Adds the
 * three replay checks. *complete = 1 when every entry was replayed.
 * data_cause: the cause of an error check when the entries cannot be
 * fetched.
 */
static enum kta_status run_replay(struct ctx *x, struct kta_tlog *c, uint64_t size,
				  const uint8_t root[32], enum kta_status data_cause, int *complete,
				  struct kta_error *err)
{
	struct kta_compact_range *cr = NULL;
	struct kta_replay_config rc;
	struct kta_error e;
	enum kta_status r, tr;

	*complete = 0;
	if ((r = kta_replay_memindex_new(0, &x->mi, err)) != KTA_OK ||
	    (r = kta_compact_range_new(&cr, err)) != KTA_OK)
		goto out;
	x->mops = kta_replay_memindex_ops(x->mi);
	memset(&rc, 0, sizeof(rc));
	rc.origin = x->origin;
	rc.now = x->o->now;
	rc.size = size;
	rc.index.ctx = x;
	rc.index.get = ix_get;
	rc.index.put = ix_put;
	rc.emit = on_finding;
	rc.emit_ctx = x;
	/* Auth signatures are checked on every CPU; findings stay in leaf order. */
	rc.threads = KTA_REPLAY_THREADS_AUTO;
	if ((r = kta_replay_new(&rc, &x->rp, err)) != KTA_OK)
		goto out;
	kta_tlog_set_tree(c, size, root);
	kta_error_clear(&e);
	/* Authenticated: each bundle is checked against the tiles before the
	 * replay sees it, and the compact range must end at the signed root. */
	tr = kta_tlog_entries(c, 0, size, cr, 0, on_entry, x, &e);
	/* The pool may still hold the last entries delivered (each was
	 * authenticated before delivery, even when a later bundle failed):
	 * their findings belong to this check. A failure here is the replay's. */
	if (!x->fn_failed && !fatal(tr)) {
		struct kta_error fe;
		enum kta_status fr;

		kta_error_clear(&fe);
		fr = kta_replay_flush(x->rp, &fe);

		if (fr != KTA_OK) {
			x->fn_failed = 1;
			tr = fr;
			e = fe;
		}
	}
	if (tr == KTA_OK) {
		*complete = 1;
		r = add_replay_checks(x, size, err);
	} else if (x->fn_failed || fatal(tr)) {
		r = kta_error_set(err, tr == KTA_ERR_VERIFY ? KTA_ERR_INTERNAL : tr, "%s", e.msg);
	} else if (tr == KTA_ERR_IO) {
		if ((r = kta_report_add(x->rep, "replay", cat_name[CAT_ENTRIES], KTA_REPORT_ERROR,
					data_cause, NULL, err,
					"could not fetch the entries after leaf %" PRIu64 ": %s",
					x->res->entries, e.msg)) == KTA_OK)
			r = skip_replay(x, CAT_VERSIONS, "the entries could not be fetched", err);
	} else {
		/* A7: what the log serves does not hash to what it signed. */
		if ((r = kta_report_add(
			 x->rep, "replay", cat_name[CAT_ENTRIES], KTA_REPORT_FAIL, KTA_OK, NULL,
			 err, "the entries do not match the signed tree: %s", e.msg)) == KTA_OK)
			r = skip_replay(x, CAT_VERSIONS, "the entries do not match the signed tree",
					err);
	}
out:
	kta_compact_range_free(cr);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Pinned labels. */

static enum kta_status skip_labels(struct ctx *x, const char *why, struct kta_error *err)
{
	enum kta_status r = KTA_OK;
	size_t i;

	for (i = 0; x->pins != NULL && i < x->pins->nlabels && r == KTA_OK; i++)
		r = kta_report_add(x->rep, "label", x->pins->labels[i].label, KTA_REPORT_SKIP,
				   KTA_OK, NULL, err, "not checked: %s", why);
	return r;
}

/*
 * Compares the keys of label l's latest entry (version, leaf_index, keys)
 * with its approved set and adds the label check. The key_changed finding
 * is the replay's own (kta_replay_key_alert): added, removed, replaced.
 * pl (may be NULL) holds the replay's findings about the label; `where`
 * is appended to the message.
 */
static enum kta_status label_verdict(struct ctx *x, const struct kta_pins_label *l, uint64_t size,
				     uint64_t version, uint64_t leaf_index,
				     const struct kta_entry_key *keys, size_t nkeys, int authorized,
				     const struct plabel *pl, const char *where,
				     struct kta_error *err)
{
	struct kta_replay_watch w;
	struct kta_alert *a = NULL;
	enum kta_status r;
	json_t *d;

	memset(&w, 0, sizeof(w));
	w.watched = 1;
	w.mode = KTA_WATCH_PINNED;
	w.has_approved = 1;
	w.approved_version = 0; /* a pin, not an approved version */
	w.keys = l->keys;
	w.nkeys = l->nkeys;
	if ((r = kta_replay_key_alert(x->origin, x->o->now, size, l->label, version, leaf_index,
				      keys, nkeys, &w, authorized, &a, err)) != KTA_OK)
		return r;
	d = json_pack("{s:I,s:I,s:I,s:I,s:I}", "version", (json_int_t)version, "leaf_index",
		      (json_int_t)leaf_index, "keys", (json_int_t)nkeys, "approved_keys",
		      (json_int_t)l->nkeys, "pin_line", (json_int_t)l->line);
	if (d == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "check: out of memory");
		goto out;
	}
	if (a != NULL) {
		x->res->failed_findings++;
		if ((r = kta_report_finding(x->rep, "label", l->label, a, KTA_REPORT_FAIL, err)) !=
		    KTA_OK)
			goto out;
		r = kta_report_add(x->rep, "label", l->label, KTA_REPORT_FAIL, KTA_OK, d, err,
				   "%s%s", a->message, where);
	} else if (pl != NULL && pl->nfail > 0) {
		r = kta_report_add(x->rep, "label", l->label, KTA_REPORT_FAIL, KTA_OK, d, err,
				   "version %" PRIu64 " (leaf %" PRIu64
				   "%s): keys match the approved "
				   "set, but %zu failing replay findings; first: %s",
				   version, leaf_index, where, pl->nfail, pl->first);
	} else if (pl != NULL && pl->nwarn > 0) {
		r = kta_report_add(x->rep, "label", l->label, KTA_REPORT_WARN, KTA_OK, d, err,
				   "version %" PRIu64 " (leaf %" PRIu64
				   "%s): keys match the approved "
				   "set; %zu warning findings; first: %s",
				   version, leaf_index, where, pl->nwarn, pl->first);
	} else {
		r = kta_report_add(x->rep, "label", l->label, KTA_REPORT_PASS, KTA_OK, d, err,
				   "version %" PRIu64 " (leaf %" PRIu64
				   "%s): keys match the approved set (%zu keys)",
				   version, leaf_index, where, nkeys);
	}
out:
	json_decref(d);
	kta_alert_free(a);
	return r;
}

/* A label the log does not have. */
static enum kta_status label_absent(struct ctx *x, const struct kta_pins_label *l, const char *what,
				    struct kta_error *err)
{
	if (l->nkeys == 0)
		return kta_report_add(x->rep, "label", l->label, KTA_REPORT_PASS, KTA_OK, NULL, err,
				      "%s; pinned with no keys", what);
	x->res->failed_findings++;
	return kta_report_add(x->rep, "label", l->label, KTA_REPORT_FAIL, KTA_OK, NULL, err,
			      "%s: its %zu approved keys are not published", what, l->nkeys);
}

/* After a complete replay: every pinned label's latest state against its pin. */
static enum kta_status replay_labels(struct ctx *x, uint64_t size, struct kta_error *err)
{
	enum kta_status r = KTA_OK;
	size_t i;

	for (i = 0; i < x->pins->nlabels && r == KTA_OK; i++) {
		const struct kta_pins_label *l = &x->pins->labels[i];
		const struct plabel *pl = &x->pl[i];
		struct kta_label_state st;
		int authorized;

		if (!kta_replay_memindex_lookup(x->mi, l->label, &st)) {
			r = label_absent(x, l, "not in the log", err);
			continue;
		}
		authorized =
		    pl->has_auth && pl->auth_version == st.version && pl->auth == KTA_AUTH_OWNER;
		r = label_verdict(x, l, size, st.version, st.leaf_index, st.keys, st.nkeys,
				  authorized, pl, "", err);
	}
	return r;
}

/*
 * --lookups-only: verifies label l's lookup answer and that its checkpoint
 * is consistent with the current one (cur), then compares the keys.
 */
static enum kta_status lookup_label(struct ctx *x, struct kta_fetcher *f, struct kta_tlog *c,
				    const struct kta_checkpoint *cur,
				    const struct kta_pins_label *l, struct kta_error *err)
{
	const char *base = kta_tlog_url(c);
	char enc[KTA_LABEL_ENCODED_MAX + 1], where[96];
	struct kta_lookup *lk = NULL;
	struct kta_lookup_result lres;
	struct kta_checkpoint_policy p;
	struct kta_fetch_info info;
	struct kta_error e, why;
	const struct kta_checkpoint *lcp;
	enum kta_status r;
	enum prefix pv;
	uint8_t *body = NULL;
	size_t elen = 0, blen = 0, i, k;
	char *url = NULL;

	memset(&lres, 0, sizeof(lres));
	kta_error_clear(&e);
	if ((r = kta_entry_label_encode(l->label, strlen(l->label), enc, &elen, err)) != KTA_OK) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "check: label %s: %s", l->label,
				  err != NULL ? err->msg : "");
		goto out;
	}
	/* The file is named by the encoded label; a static server decodes the
	 * URL path once, so each '%' of the name goes out as "%25" (as in
	 * `ktaudit verify lookup`). */
	if ((url = malloc(strlen(base) + sizeof("lookup/") + 3 * elen)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "check: out of memory");
		goto out;
	}
	k = strlen(base);
	memcpy(url, base, k);
	memcpy(url + k, "lookup/", 7);
	k += 7;
	for (i = 0; i < elen; i++) {
		if (enc[i] == '%') {
			memcpy(url + k, "%25", 3);
			k += 3;
		} else {
			url[k++] = enc[i];
		}
	}
	url[k] = '\0';
	memset(&info, 0, sizeof(info));
	r = kta_fetch_get(f, url, &body, &blen, &info, &e);
	if (fatal(r)) {
		r = kta_error_set(err, r, "%s", e.msg);
		goto out;
	}
	if (r == KTA_ERR_IO && info.not_found) {
		char what[64 + KTA_TLOG_URL_MAX];

		(void)snprintf(what, sizeof(what), "no lookup answer at %s", url);
		r = label_absent(x, l, what, err);
		goto out;
	}
	if (r == KTA_ERR_IO) {
		r = kta_report_add(x->rep, "label", l->label, KTA_REPORT_ERROR, KTA_ERR_IO, NULL,
				   err, "could not fetch %s: %s", url, e.msg);
		goto out;
	}
	if (r == KTA_OK)
		r = kta_lookup_parse(body, blen, &lk, &e);
	if (r == KTA_OK) {
		base_policy(&p, x->pins->log_key, x->pins->log, x->o->now);
		r = kta_lookup_verify(lk, &p, l->label, strlen(l->label), &lres, &e);
	}
	if (fatal(r)) {
		r = kta_error_set(err, r, "%s", e.msg);
		goto out;
	}
	if (r != KTA_OK) {
		x->res->failed_findings++;
		r = kta_report_add(x->rep, "label", l->label, KTA_REPORT_FAIL, KTA_OK, NULL, err,
				   "the lookup answer at %s does not verify: %s", url, e.msg);
		goto out;
	}
	lcp = lres.cp.cp;
	/* Inclusion under the lookup's checkpoint is inclusion in the current
	 * tree when one tree is a prefix of the other (check.h). */
	if (lcp->size <= cur->size)
		r = prove_prefix(x, c, lcp->size, lcp->root, cur->size, cur->root, &pv, &why, err);
	else
		r = prove_prefix(x, c, cur->size, cur->root, lcp->size, lcp->root, &pv, &why, err);
	if (r != KTA_OK)
		goto out;
	if (pv == PREFIX_FETCH) {
		r = kta_report_add(
		    x->rep, "label", l->label, KTA_REPORT_ERROR, KTA_ERR_IO, NULL, err,
		    "could not fetch the tiles to link the lookup's checkpoint: %s", why.msg);
		goto out;
	}
	if (pv != PREFIX_OK) {
		x->res->failed_findings++;
		r = kta_report_add(x->rep, "label", l->label, KTA_REPORT_FAIL, KTA_OK, NULL, err,
				   "the lookup's checkpoint (size %" PRIu64
				   ") and the current one (size %" PRIu64 ") are %s: %s",
				   lcp->size, cur->size,
				   pv == PREFIX_FORK ? "not in one append-only log"
						     : "not linked by the tiles",
				   why.msg);
		goto out;
	}
	(void)snprintf(where, sizeof(where), ", lookup checkpoint size %" PRIu64, lcp->size);
	r = label_verdict(x, l, cur->size, lres.entry->version, lres.leaf_index, lres.entry->keys,
			  lres.entry->nkeys, 0, NULL, where, err);
out:
	kta_lookup_result_free(&lres);
	kta_lookup_free(lk);
	free(body);
	free(url);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The two uses. */

static enum kta_status ctx_init(struct ctx *x, const struct kta_check_opts *o,
				struct kta_report *rep, struct kta_check_result *res,
				struct kta_error *err)
{
	memset(x, 0, sizeof(*x));
	memset(res, 0, sizeof(*res));
	x->o = o;
	x->rep = rep;
	x->res = res;
	return kta_hasher_new(&x->h, err);
}

static void ctx_free(struct ctx *x)
{
	size_t i;

	for (i = 0; x->pl != NULL && i < x->pins->nlabels; i++)
		free(x->pl[i].first);
	kta_replay_free(x->rp);
	kta_replay_memindex_free(x->mi);
	kta_hasher_free(x->h);
	free(x->pl);
}

/*
 * Creates a fetcher and a tiles client for url. A failure that is not fatal
 * becomes an error check (group, name) with its own status as the cause;
 * *c is then NULL.
 */
static enum kta_status open_log(struct ctx *x, const char *url, const char *group, const char *name,
				struct kta_fetcher **f, struct kta_tlog **c, struct kta_error *err)
{
	struct kta_error e;
	enum kta_status r;

	*f = NULL;
	*c = NULL;
	kta_error_clear(&e);
	r = make_fetcher(x->o, url, f, &e);
	if (r == KTA_OK && (r = kta_tlog_new(*f, url, NULL, c, &e)) != KTA_OK) {
		kta_fetcher_free(*f);
		*f = NULL;
	}
	if (r == KTA_OK)
		return KTA_OK;
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, r, "%s", e.msg);
	return kta_report_add(x->rep, group, name, KTA_REPORT_ERROR, r, NULL, err, "%s: %s", url,
			      e.msg);
}

static enum kta_status pins_meta(struct ctx *x, const struct kta_pins *pins, struct kta_error *err)
{
	char pinned[96];
	enum kta_status r;

	if (pins->has_checkpoint)
		(void)snprintf(pinned, sizeof(pinned), "size %" PRIu64, pins->size);
	else
		(void)snprintf(pinned, sizeof(pinned), "none (first use)");
	if ((r = kta_report_meta(x->rep, "mode", x->o->lookups_only ? "pins, lookups only" : "pins",
				 err)) != KTA_OK ||
	    (r = kta_report_meta(x->rep, "log", pins->log, err)) != KTA_OK ||
	    (r = kta_report_meta(x->rep, "url", pins->url, err)) != KTA_OK)
		return r;
	return kta_report_meta(x->rep, "pinned checkpoint", pinned, err);
}

/* The "log consistency" check; *ok = 1 when later checks may run. */
static enum kta_status pins_consistency(struct ctx *x, const struct kta_pins *pins,
					struct kta_tlog *c, const struct kta_checkpoint *cur,
					int *ok, struct kta_error *err)
{
	char b64[KTA_B64_ENCODED_LEN(32) + 1], pb64[KTA_B64_ENCODED_LEN(32) + 1];
	struct kta_error why;
	enum kta_status r;
	enum prefix pv;

	*ok = 0;
	kta_b64_encode(cur->root, 32, b64);
	if (!pins->has_checkpoint) {
		x->res->first_use = 1;
		x->baseline = cur->size;
		*ok = 1;
		return kta_report_add(x->rep, "log", "consistency", KTA_REPORT_WARN, KTA_OK, NULL,
				      err,
				      "no checkpoint pinned: trusting size %" PRIu64
				      ", root %s on first use (nothing earlier can be checked; "
				      "--update pins it)",
				      cur->size, b64);
	}
	x->baseline = pins->size;
	kta_b64_encode(pins->root, 32, pb64);
	if (pins->size > cur->size)
		return kta_report_add(x->rep, "log", "consistency", KTA_REPORT_FAIL, KTA_OK, NULL,
				      err,
				      "rollback: the directory serves size %" PRIu64
				      ", smaller than the pinned size %" PRIu64,
				      cur->size, pins->size);
	if ((r = prove_prefix(x, c, pins->size, pins->root, cur->size, cur->root, &pv, &why,
			      err)) != KTA_OK)
		return r;
	switch (pv) {
	case PREFIX_OK:
		*ok = 1;
		if (pins->size == cur->size)
			return kta_report_add(
			    x->rep, "log", "consistency", KTA_REPORT_PASS, KTA_OK, NULL, err,
			    "same tree as the pinned checkpoint (size %" PRIu64 ")", cur->size);
		return kta_report_add(x->rep, "log", "consistency", KTA_REPORT_PASS, KTA_OK, NULL,
				      err,
				      "extends the pinned checkpoint: size %" PRIu64 " -> %" PRIu64
				      " (RFC 9162 consistency proof from the tiles)",
				      pins->size, cur->size);
	case PREFIX_FORK:
		if (pins->size == cur->size)
			return kta_report_add(x->rep, "log", "consistency", KTA_REPORT_FAIL, KTA_OK,
					      NULL, err,
					      "fork: size %" PRIu64 " has root %s, the pin says %s",
					      cur->size, b64, pb64);
		return kta_report_add(x->rep, "log", "consistency", KTA_REPORT_FAIL, KTA_OK, NULL,
				      err,
				      "fork: the tree of size %" PRIu64
				      " does not extend the pinned size %" PRIu64 ": %s",
				      cur->size, pins->size, why.msg);
	case PREFIX_TILES:
		return kta_report_add(x->rep, "log", "consistency", KTA_REPORT_FAIL, KTA_OK, NULL,
				      err, "the tiles do not lead to the signed root: %s", why.msg);
	case PREFIX_FETCH:
		break;
	}
	return kta_report_add(x->rep, "log", "consistency", KTA_REPORT_ERROR, KTA_ERR_IO, NULL, err,
			      "could not fetch the tiles for the consistency proof: %s", why.msg);
}

enum kta_status kta_check_pins(const struct kta_pins *pins, const struct kta_check_opts *o,
			       struct kta_report *rep, struct kta_check_result *res,
			       struct kta_error *err)
{
	struct kta_check_result local;
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result cur;
	struct kta_fetcher *f = NULL;
	struct kta_tlog *c = NULL;
	struct ctx x;
	enum kta_status r;
	int ok = 0, complete = 0;
	size_t i;

	memset(&cur, 0, sizeof(cur));
	if (pins == NULL || o == NULL || rep == NULL || pins->log_key == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "check: missing pins, options or report");
	if ((r = ctx_init(&x, o, rep, res != NULL ? res : &local, err)) != KTA_OK)
		goto out;
	x.pins = pins;
	x.origin = pins->log;
	if (pins->nlabels > 0 && (x.pl = calloc(pins->nlabels, sizeof(*x.pl))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "check: out of memory");
		goto out;
	}
	if ((r = pins_meta(&x, pins, err)) != KTA_OK ||
	    (r = open_log(&x, pins->url, "log", "checkpoint", &f, &c, err)) != KTA_OK)
		goto out;
	if (c != NULL) {
		base_policy(&p, pins->log_key, pins->log, o->now);
		p.witnesses = (const struct kta_vkey *const *)pins->witnesses;
		p.nwitnesses = pins->nwitnesses;
		p.quorum = (size_t)pins->quorum;
		p.max_age = pins->max_age;
		if ((r = check_checkpoint(&x, c, &p, "log", "checkpoint", KTA_ERR_IO, &cur, &ok,
					  err)) != KTA_OK)
			goto out;
	}
	if (!ok) {
		if ((r = kta_report_add(rep, "log", "consistency", KTA_REPORT_SKIP, KTA_OK, NULL,
					err, "not run: no verified checkpoint")) != KTA_OK ||
		    (!o->lookups_only &&
		     (r = skip_replay(&x, CAT_ENTRIES, "no verified checkpoint", err)) != KTA_OK) ||
		    (r = skip_labels(&x, "no verified checkpoint", err)) != KTA_OK)
			goto out;
		r = KTA_OK;
		goto out;
	}
	x.res->verified = 1;
	x.res->size = cur.cp->size;
	memcpy(x.res->root, cur.cp->root, 32);
	if ((r = pins_consistency(&x, pins, c, cur.cp, &ok, err)) != KTA_OK)
		goto out;
	x.res->baseline = x.baseline;
	if (!ok) {
		if ((!o->lookups_only &&
		     (r = skip_replay(&x, CAT_ENTRIES, "the log is not consistent with the pin",
				      err)) != KTA_OK) ||
		    (r = skip_labels(&x, "the log is not consistent with the pin", err)) != KTA_OK)
			goto out;
		r = KTA_OK;
		goto out;
	}
	if (o->lookups_only) {
		for (i = 0; i < pins->nlabels; i++)
			if ((r = lookup_label(&x, f, c, cur.cp, &pins->labels[i], err)) != KTA_OK)
				goto out;
		r = KTA_OK;
		goto out;
	}
	if ((r = run_replay(&x, c, cur.cp->size, cur.cp->root, KTA_ERR_IO, &complete, err)) !=
	    KTA_OK)
		goto out;
	if (complete)
		r = replay_labels(&x, cur.cp->size, err);
	else
		r = skip_labels(&x, "the replay did not complete", err);
out:
	kta_checkpoint_result_free(&cur);
	kta_tlog_free(c);
	kta_fetcher_free(f);
	ctx_free(&x);
	return r;
}

/*
 * file:// URL of directory `dir` (absolute, every byte outside
 * [A-Za-z0-9/._~-] percent-encoded, ending in '/'). KTA_ERR_USAGE when dir
 * is not a directory.
 */
static enum kta_status file_url(const char *dir, char **out, struct kta_error *err)
{
	static const char hex[] = "0123456789ABCDEF";
	char q[4 * 64 + 4];
	struct stat sb;
	char *abs = NULL, *u = NULL;
	size_t i, n, k = 0;
	enum kta_status r;

	*out = NULL;
	if ((abs = realpath(dir, NULL)) == NULL || stat(abs, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		r = kta_error_set(err, KTA_ERR_USAGE, "candidate \"%s\": not a readable directory",
				  kta_quote((const uint8_t *)dir, strlen(dir), 64, q));
		goto out;
	}
	n = strlen(abs);
	if (n > KTA_TLOG_URL_MAX || (u = malloc(3 * n + sizeof("file:///"))) == NULL) {
		r = kta_error_set(err, n > KTA_TLOG_URL_MAX ? KTA_ERR_USAGE : KTA_ERR_NOMEM,
				  "candidate \"%s\": path too long or out of memory",
				  kta_quote((const uint8_t *)dir, strlen(dir), 64, q));
		goto out;
	}
	memcpy(u, "file://", 7);
	k = 7;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)abs[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '/' || ch == '.' || ch == '_' || ch == '~' ||
		    ch == '-') {
			u[k++] = (char)ch;
		} else {
			u[k++] = '%';
			u[k++] = hex[ch >> 4];
			u[k++] = hex[ch & 15];
		}
	}
	if (k == 7 || u[k - 1] != '/')
		u[k++] = '/';
	u[k] = '\0';
	*out = u;
	u = NULL;
	r = KTA_OK;
out:
	free(abs);
	free(u);
	return r;
}

/* The "candidate consistency" check; *ok = 1 when the replay may run. */
static enum kta_status cand_consistency(struct ctx *x, struct kta_tlog *cc,
					const struct kta_checkpoint *pub,
					const struct kta_checkpoint *cand, int *ok,
					struct kta_error *err)
{
	struct kta_error why;
	enum kta_status r;
	enum prefix pv;

	*ok = 0;
	if (cand->size < pub->size)
		return kta_report_add(x->rep, "candidate", "consistency", KTA_REPORT_FAIL, KTA_OK,
				      NULL, err,
				      "rollback: the candidate (size %" PRIu64
				      ") is smaller than the published tree (size %" PRIu64 ")",
				      cand->size, pub->size);
	if ((r = prove_prefix(x, cc, pub->size, pub->root, cand->size, cand->root, &pv, &why,
			      err)) != KTA_OK)
		return r;
	switch (pv) {
	case PREFIX_OK:
		*ok = 1;
		if (cand->size == pub->size)
			return kta_report_add(x->rep, "candidate", "consistency", KTA_REPORT_PASS,
					      KTA_OK, NULL, err,
					      "same tree as the published one (size %" PRIu64
					      "): nothing new to publish",
					      cand->size);
		return kta_report_add(x->rep, "candidate", "consistency", KTA_REPORT_PASS, KTA_OK,
				      NULL, err,
				      "extends the published tree: size %" PRIu64 " -> %" PRIu64
				      " (%" PRIu64 " new entries; consistency proof from the "
				      "candidate's tiles)",
				      pub->size, cand->size, cand->size - pub->size);
	case PREFIX_FORK:
		return kta_report_add(x->rep, "candidate", "consistency", KTA_REPORT_FAIL, KTA_OK,
				      NULL, err,
				      "the candidate rewrites history: size %" PRIu64
				      " does not extend the published size %" PRIu64 ": %s",
				      cand->size, pub->size, why.msg);
	case PREFIX_TILES:
		return kta_report_add(
		    x->rep, "candidate", "consistency", KTA_REPORT_FAIL, KTA_OK, NULL, err,
		    "the candidate's tiles do not lead to its signed root: %s", why.msg);
	case PREFIX_FETCH:
		break;
	}
	return kta_report_add(x->rep, "candidate", "consistency", KTA_REPORT_ERROR,
			      KTA_ERR_MALFORMED, NULL, err,
			      "could not read the candidate's tiles: %s", why.msg);
}

enum kta_status kta_check_candidate(const struct kta_check_candidate *cd,
				    const struct kta_check_opts *o, struct kta_report *rep,
				    struct kta_check_result *res, struct kta_error *err)
{
	struct kta_check_result local;
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result pub, cand;
	struct kta_fetcher *pf = NULL, *cf = NULL;
	struct kta_tlog *pc = NULL, *cc = NULL;
	struct kta_error e;
	struct ctx x;
	char *curl = NULL;
	enum kta_status r;
	int pub_ok = 0, cand_ok = 0, ok = 0, complete = 0;

	memset(&pub, 0, sizeof(pub));
	memset(&cand, 0, sizeof(cand));
	if (cd == NULL || o == NULL || rep == NULL || cd->dir == NULL || cd->published == NULL ||
	    cd->log_key == NULL)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "check: candidate, published URL and log key are required");
	if ((r = ctx_init(&x, o, rep, res != NULL ? res : &local, err)) != KTA_OK)
		goto out;
	x.candidate = 1;
	x.origin = cd->origin != NULL ? cd->origin : cd->log_key->name;
	if ((r = kta_report_meta(rep, "mode", "candidate", err)) != KTA_OK ||
	    (r = kta_report_meta(rep, "log", x.origin, err)) != KTA_OK ||
	    (r = kta_report_meta(rep, "candidate", cd->dir, err)) != KTA_OK ||
	    (r = kta_report_meta(rep, "published", cd->published, err)) != KTA_OK)
		goto out;
	base_policy(&p, cd->log_key, x.origin, o->now);

	if ((r = open_log(&x, cd->published, "published", "checkpoint", &pf, &pc, err)) != KTA_OK)
		goto out;
	if (pc != NULL && (r = check_checkpoint(&x, pc, &p, "published", "checkpoint", KTA_ERR_IO,
						&pub, &pub_ok, err)) != KTA_OK)
		goto out;

	kta_error_clear(&e);
	r = file_url(cd->dir, &curl, &e);
	if (r == KTA_ERR_NOMEM) {
		r = kta_error_set(err, r, "%s", e.msg);
		goto out;
	}
	if (r != KTA_OK) {
		if ((r = kta_report_add(rep, "candidate", "checkpoint", KTA_REPORT_ERROR, r, NULL,
					err, "%s", e.msg)) != KTA_OK)
			goto out;
	} else {
		if ((r = open_log(&x, curl, "candidate", "checkpoint", &cf, &cc, err)) != KTA_OK)
			goto out;
		/* A candidate that cannot be read is bad input (exit 2), not an
		 * unreachable directory. */
		if (cc != NULL &&
		    (r = check_checkpoint(&x, cc, &p, "candidate", "checkpoint", KTA_ERR_MALFORMED,
					  &cand, &cand_ok, err)) != KTA_OK)
			goto out;
	}
	if (cand_ok) {
		x.res->verified = 1;
		x.res->size = cand.cp->size;
		memcpy(x.res->root, cand.cp->root, 32);
	}
	if (!pub_ok || !cand_ok) {
		const char *why = !pub_ok ? "no verified published checkpoint"
					  : "no verified candidate checkpoint";

		if ((r = kta_report_add(rep, "candidate", "consistency", KTA_REPORT_SKIP, KTA_OK,
					NULL, err, "not run: %s", why)) != KTA_OK)
			goto out;
		r = skip_replay(&x, CAT_ENTRIES, why, err);
		goto out;
	}
	x.baseline = pub.cp->size;
	x.res->baseline = x.baseline;
	if ((r = cand_consistency(&x, cc, pub.cp, cand.cp, &ok, err)) != KTA_OK)
		goto out;
	if (!ok) {
		r = skip_replay(&x, CAT_ENTRIES, "the candidate does not extend the published tree",
				err);
		goto out;
	}
	r = run_replay(&x, cc, cand.cp->size, cand.cp->root, KTA_ERR_MALFORMED, &complete, err);
out:
	kta_checkpoint_result_free(&pub);
	kta_checkpoint_result_free(&cand);
	kta_tlog_free(pc);
	kta_tlog_free(cc);
	kta_fetcher_free(pf);
	kta_fetcher_free(cf);
	free(curl);
	ctx_free(&x);
	return r;
}
