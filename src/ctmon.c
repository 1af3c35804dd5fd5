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
#include "ktaudit/ctevidence.h"
#include "ktaudit/encoding.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/evidence.h"
#include "ktaudit/file.h"
#include "ktaudit/key.h"
#include "ktaudit/merkle.h"
#include "ktaudit/tile.h"
#include "ktaudit/tlog.h"

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

/*
 * Reports the certificate of leaf l (entry `index`, parsed) to every watch
 * it matches. Certificates that do not parse match nothing.
 */
static enum kta_status watch_leaf(struct replay_ctx *rc, uint64_t index,
				  const struct kta_ct_leaf *l, struct kta_error *err)
{
	struct kta_ct_cert *cert = NULL;
	enum kta_status r;
	size_t w, i;

	for (w = 0; w < rc->nwatches; w++) {
		const struct kta_ctmon_watch *wa = &rc->watches[w];
		struct kta_ctmon_report rep;
		int hit = 0;

		/* Parse only what may match: most certificates never reach OpenSSL. */
		if (!kta_ct_may_match(wa->domain, l->cert, l->cert_len))
			continue;
		if (cert == NULL) {
			r = kta_ct_cert_parse(l, &cert, NULL);
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
		rep.type = l->type;
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

static enum kta_status replay_one(void *vctx, uint64_t index, const uint8_t *leaf, size_t leaf_len,
				  const uint8_t *extra, size_t extra_len, struct kta_error *err)
{
	struct replay_ctx *rc = vctx;
	struct kta_ct_leaf l;
	uint8_t lh[32];
	enum kta_status r;

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
	return watch_leaf(rc, index, &l, err);
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
	enum kta_alert_kind kind; /* the last log-level alert stored */
	/* static-ct-api: the note key and origin that note evidence verifies with */
	const struct kta_vkey *vkey;
	const char *note_origin;
	int evidence_failed;
	char evidence_msg[KTA_ERROR_MSG_MAX];
};

static void hex32(const uint8_t h[32], char out[65])
{
	kta_hex_encode(h, 32, out);
}

/* Notes that an evidence bundle was left out (the alert is stored without it). */
static void evidence_failed(struct cycle *cy, const char *what, const char *why)
{
	cy->evidence_failed = 1;
	/* Truncated to fit: the reason is for a log line. */
	(void)snprintf(cy->evidence_msg, sizeof(cy->evidence_msg), "%.40s: %.400s", what, why);
}

/*
 * Writes bundle (ev, evlen) of alert a (id set) to evidence_dir/<id>.json
 * after checking that it verifies, and sets a->evidence. The name follows
 * the id, so a step redone rewrites the same file. Only running out of
 * memory fails: a bundle that cannot be written must not lose the alert.
 */
static enum kta_status attach_evidence(struct cycle *cy, struct kta_alert *a, const char *ev,
				       size_t evlen, struct kta_error *err)
{
	const char *dir = cy->log->evidence_dir;
	struct kta_error e;
	enum kta_status r;
	char *path;
	size_t plen = strlen(dir) + 1 + sizeof(a->id) + 5;

	kta_error_clear(&e);
	if (cy->vkey != NULL) {
		struct kta_evidence_result er;

		r = kta_evidence_verify((const uint8_t *)ev, evlen, cy->vkey, cy->note_origin,
					cy->now, &er, &e);
	} else {
		r = kta_ctevidence_verify((const uint8_t *)ev, evlen, cy->log->key, NULL, &e);
	}
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK) {
		evidence_failed(cy, "the evidence does not verify", e.msg);
		return KTA_OK;
	}
	if ((path = malloc(plen)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "CT alert: out of memory");
	(void)snprintf(path, plen, "%s/%s.json", dir, a->id);
	if (kta_file_mkdirs(dir, 0700, &e) != KTA_OK ||
	    kta_file_write_atomic(path, (const uint8_t *)ev, evlen, 0644, &e) != KTA_OK) {
		evidence_failed(cy, "cannot write the evidence", e.msg);
		free(path);
		return KTA_OK;
	}
	free(a->evidence);
	a->evidence = path;
	return KTA_OK;
}

/*
 * Stores a log-level alert (fork, rollback, root mismatch, bad signature,
 * malformed entry) with its evidence bundle (ev may be NULL; freed here).
 */
static enum kta_status log_alert(struct cycle *cy, enum kta_alert_kind kind, const char *msg,
				 json_t *details, char *ev, size_t evlen, struct kta_error *err)
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
	if (r == KTA_OK && (r = kta_alert_set_id(a, err)) == KTA_OK && ev != NULL &&
	    cy->log->evidence_dir != NULL)
		r = attach_evidence(cy, a, ev, evlen, err);
	if (r == KTA_OK && (r = kta_state_alert_add(cy->st, a, &added, err)) == KTA_OK) {
		cy->alerts += (uint64_t)added;
		cy->kind = kind;
	}
	kta_alert_free(a);
	json_decref(details);
	free(ev);
	return r;
}

/*
 * The evidence bundle of a fork (same size) or rollback between the stored
 * head and the one just verified; NULL (with evidence_failed set) when it
 * cannot be built, or when no evidence is wanted.
 */
static char *heads_evidence(struct cycle *cy, int rollback, const struct kta_state_log *sl,
			    const char *raw, size_t raw_len, size_t *evlen)
{
	struct kta_error e;
	char *ev = NULL;

	*evlen = 0;
	if (cy->log->evidence_dir == NULL)
		return NULL;
	kta_error_clear(&e);
	if (kta_ctevidence_build(rollback ? KTA_EVIDENCE_ROLLBACK : KTA_EVIDENCE_FORK,
				 cy->log->name, cy->log->key, (const uint8_t *)sl->checkpoint,
				 sl->checkpoint_len, (const uint8_t *)raw, raw_len, &ev, evlen,
				 &e) != KTA_OK) {
		evidence_failed(cy, "cannot build the evidence", e.msg);
		return NULL;
	}
	return ev;
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
		return kta_error_wrap(err, r, "state: CT log %s: stored head", sl->origin);
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

/* --- static-ct-api logs (c2sp.org/static-ct-api) -------------------------- */

/*
 * The checkpoint origin: the submission prefix as a schema-less URL with no
 * trailing slashes (static-ct-api "Checkpoints"). *out is malloc'd.
 */
static enum kta_status static_origin(const char *url, char **out, struct kta_error *err)
{
	const char *p = strstr(url, "://");
	size_t n;

	*out = NULL;
	p = p != NULL ? p + 3 : url;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n == 0 || !kta_key_name_valid((const uint8_t *)p, n))
		return kta_error_set(err, KTA_ERR_USAGE,
				     "static CT log: no checkpoint origin in the submission URL");
	if ((*out = malloc(n + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "static CT log: out of memory");
	memcpy(*out, p, n);
	(*out)[n] = '\0';
	return KTA_OK;
}

/* The log's note key: type 0x05 (RFC6962NoteSignature) over its SPKI, named origin. */
static enum kta_status static_vkey(const char *origin, const struct kta_ct_key *k,
				   struct kta_vkey **out, struct kta_error *err)
{
	size_t sl, n;
	const uint8_t *spki = kta_ct_key_spki(k, &sl);
	uint8_t *raw = NULL;
	char *s = NULL;
	uint32_t id;
	enum kta_status r;

	*out = NULL;
	if ((r = kta_key_id(origin, strlen(origin), KTA_KEY_RFC6962, spki, sl, &id, err)) != KTA_OK)
		return r;
	n = strlen(origin) + 10 + KTA_B64_ENCODED_LEN(1 + sl) + 1;
	if ((raw = malloc(1 + sl)) == NULL || (s = malloc(n)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "static CT log: out of memory");
		goto out;
	}
	raw[0] = KTA_KEY_RFC6962;
	memcpy(raw + 1, spki, sl);
	{
		int m = snprintf(s, n, "%s+%08lx+", origin, (unsigned long)id);

		kta_b64_encode(raw, 1 + sl, s + m);
	}
	r = kta_vkey_parse(s, strlen(s), out, err);
out:
	free(raw);
	free(s);
	return r;
}

/*
 * Fetches data tile n of width w from the monitoring prefix base (ending in
 * '/'); when the partial tile is gone, the full one (static-ct-api "Partial
 * Tiles": its first w entries are the same). *body is malloc'd.
 */
static enum kta_status fetch_data_tile(struct kta_fetcher *f, const char *base, uint64_t n,
				       unsigned w, uint8_t **body, size_t *len, int *full,
				       struct kta_error *err)
{
	char p[KTA_TILE_PATH_MAX], *url = NULL;
	struct kta_fetch_info info;
	enum kta_status r;
	size_t ul;
	int pass;

	ul = strlen(base) + KTA_TILE_PATH_MAX + 8;
	if ((url = malloc(ul)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "static CT log: out of memory");
	for (pass = 0; pass < 2; pass++) {
		/* tile/0/<N>[.p/<W>] names the level-0 tile; data tiles share its <N>[.p/<W>]. */
		if ((r = kta_tile_path(0, n, pass == 0 ? w : KTA_TILE_WIDTH, p, sizeof(p), err)) !=
		    KTA_OK)
			break;
		(void)snprintf(url, ul, "%stile/data/%s", base, p + strlen("tile/0/"));
		memset(&info, 0, sizeof(info));
		*full = pass == 1 || w == KTA_TILE_WIDTH;
		r = kta_fetch_get(f, url, body, len, &info, err);
		if (r == KTA_OK || w == KTA_TILE_WIDTH || !info.not_found)
			break;
	}
	free(url);
	return r;
}

/* A static log's data tile, parsed, hashed and authenticated. */
struct data_tile {
	uint8_t *body;
	size_t len;
	unsigned w;
	struct kta_ct_leaf leaves[KTA_TILE_WIDTH];
	uint8_t hashes[KTA_TILE_WIDTH][32];
};

/*
 * Fetches data tile n (width w) of the selected tree of c, parses its first
 * w TileLeaf entries, hashes them and checks them against the tree's
 * authenticated hash tiles: the subtrees the tile covers (one per set bit of
 * w, largest first) must have the hashes the signed tree has. KTA_ERR_VERIFY
 * when they do not; KTA_ERR_MALFORMED when the tile does not parse.
 */
static enum kta_status load_data_tile(struct kta_tlog *c, struct kta_fetcher *f, const char *base,
				      struct kta_hasher *h, uint64_t n, unsigned w,
				      struct data_tile *t, struct kta_error *err)
{
	struct kta_tlog_node nodes[9];
	uint8_t want[9][32], got[32];
	size_t off = 0, nn = 0, i;
	unsigned o = 0;
	int k, full = 0;
	enum kta_status r;

	t->w = w;
	if ((r = fetch_data_tile(f, base, n, w, &t->body, &t->len, &full, err)) != KTA_OK)
		return r;
	for (i = 0; i < w; i++) {
		if ((r = kta_ct_tile_leaf_parse(t->body, t->len, &off, &t->leaves[i], err)) !=
		    KTA_OK)
			return kta_error_wrap(
			    err, r, "data tile %llu, entry %llu", (unsigned long long)n,
			    (unsigned long long)n * KTA_TILE_WIDTH + (unsigned long long)i);
		if ((r = kta_ct_tile_leaf_hash(h, t->body, &t->leaves[i], t->hashes[i], err)) !=
		    KTA_OK)
			return r;
	}
	/* A tile holds exactly its entries, unless it is the full tile fetched
	 * for a partial one that is gone: then only the first w are used. */
	if (off != t->len && (w == KTA_TILE_WIDTH || !full))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "data tile %llu: %zu bytes after its %u entries",
				     (unsigned long long)n, t->len - off, w);
	for (k = 8; k >= 0; k--) {
		if ((w & (1u << k)) == 0)
			continue;
		nodes[nn].height = (unsigned)k;
		nodes[nn].index = (n * KTA_TILE_WIDTH + o) >> k;
		nn++;
		o += 1u << k;
	}
	if ((r = kta_tlog_read_hashes(c, nodes, nn, want, err)) != KTA_OK)
		return r;
	for (i = 0, o = 0; i < nn; i++) {
		uint64_t cnt = (uint64_t)1 << nodes[i].height;

		if ((r = kta_merkle_root(h, (const uint8_t(*)[32])t->hashes + o, cnt, got, err)) !=
		    KTA_OK)
			return r;
		if (!kta_ct_equal(got, want[i], 32))
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "data tile %llu: entries [%llu, %llu) do not hash to "
					     "the signed tree's hash tiles",
					     (unsigned long long)n,
					     (unsigned long long)(n * KTA_TILE_WIDTH + o),
					     (unsigned long long)(n * KTA_TILE_WIDTH + o + cnt));
		o += (unsigned)cnt;
	}
	return KTA_OK;
}

/* The size and root of a stored (verified) checkpoint note. */
static enum kta_status stored_note(const struct kta_state_log *sl,
				   const struct kta_checkpoint_policy *pol, uint64_t *size,
				   uint8_t root[32], struct kta_error *err)
{
	struct kta_checkpoint_result cr;
	enum kta_status r;

	memset(&cr, 0, sizeof(cr));
	r = kta_checkpoint_verify((const uint8_t *)sl->checkpoint, sl->checkpoint_len, pol, &cr,
				  err);
	if (r != KTA_OK)
		return kta_error_wrap(err, r, "state: CT log %s: stored checkpoint", sl->origin);
	*size = cr.cp->size;
	memcpy(root, cr.cp->root, 32);
	kta_checkpoint_result_free(&cr);
	return KTA_OK;
}

/* Consistency (size1, root1) -> the selected tree of c, proof from its tiles. */
static enum kta_status tiles_consistency(struct kta_tlog *c, struct kta_hasher *h, uint64_t size1,
					 const uint8_t root1[32], uint64_t size2,
					 const uint8_t root2[32], struct kta_error *err)
{
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32];
	size_t n = 0;
	enum kta_status r;

	if ((r = kta_tlog_consistency_proof(c, size1, proof, KTA_MERKLE_MAX_PROOF, &n, err)) !=
	    KTA_OK)
		return r;
	return kta_merkle_verify_consistency(h, size1, size2, root1, root2,
					     (const uint8_t(*)[32])proof, n, err);
}

/*
 * kta_ctmon_cycle for a static-ct-api log: the checkpoint (verified with the
 * 0x05 note key derived from the log key and origin), consistency from the
 * stored head by the tiles, then data tiles, each authenticated against the
 * hash tiles before its certificates are looked at, replayed into the
 * compact range, and the root compared. Same alerts as the RFC 6962 cycle.
 */
static enum kta_status static_cycle(struct cycle *cy, struct kta_fetcher *f,
				    struct kta_ctmon_result *res, struct kta_error *err)
{
	const struct kta_ctmon_log *log = cy->log;
	enum kta_status r = KTA_ERR_INTERNAL, v;
	struct kta_hasher *h = NULL;
	struct kta_vkey *vk = NULL;
	struct kta_tlog *c = NULL;
	struct kta_tlog_opts to;
	struct kta_checkpoint_policy pol;
	struct kta_checkpoint_result cpr;
	struct kta_state_log *sl = NULL;
	struct kta_compact_range *cr = NULL;
	struct kta_ctmon_result out;
	struct replay_ctx rc;
	struct data_tile *t = NULL;
	char *origin = NULL, *sorigin = NULL, *base = NULL,
	     msg[2 * KTA_CT_URL_MAX + KTA_ERROR_MSG_MAX];
	uint8_t *note = NULL, root[32], proot[32];
	size_t note_len = 0, bl;
	uint64_t size = 0, psize = 0, start, target, i;
	int found = 0;

	memset(&out, 0, sizeof(out));
	memset(&cpr, 0, sizeof(cpr));
	memset(&rc, 0, sizeof(rc));
	if ((r = static_origin(log->url, &origin, err)) != KTA_OK ||
	    (r = static_vkey(origin, log->key, &vk, err)) != KTA_OK ||
	    (r = kta_hasher_new(&h, err)) != KTA_OK)
		goto out;
	cy->vkey = vk;
	cy->note_origin = origin;
	bl = strlen(log->monitoring_url);
	if ((base = malloc(bl + 2)) == NULL || (sorigin = malloc(strlen(log->name) + 4)) == NULL ||
	    (t = malloc(sizeof(*t))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "static CT log: out of memory");
		goto out;
	}
	t->body = NULL;
	(void)snprintf(base, bl + 2, "%s%s", log->monitoring_url,
		       bl > 0 && log->monitoring_url[bl - 1] == '/' ? "" : "/");
	(void)snprintf(sorigin, strlen(log->name) + 4, KTA_CTMON_STATE_PREFIX "%s", log->name);
	kta_tlog_opts_init(&to);
	if ((r = kta_tlog_new(f, base, &to, &c, err)) != KTA_OK)
		goto out;
	memset(&pol, 0, sizeof(pol));
	pol.log_key = vk;
	pol.origin = origin;
	pol.now = cy->now;
	/* 1. A signed checkpoint. */
	v = kta_tlog_fetch_checkpoint(c, &pol, &cpr, &note, &note_len, err);
	if ((r = kta_state_begin(cy->st, err)) != KTA_OK)
		goto out;
	if (v == KTA_ERR_VERIFY) {
		snprintf(msg, sizeof(msg), "%s: checkpoint: %s", log->name, err->msg);
		r = log_alert(cy, KTA_ALERT_BAD_SIGNATURE, msg, NULL, NULL, 0, err);
		goto verify_fail;
	}
	if ((r = v) != KTA_OK)
		goto out;
	size = cpr.cp->size;
	memcpy(root, cpr.cp->root, 32);
	out.sth_size = size;
	cy->size = size;
	kta_tlog_set_tree(c, size, root);
	/* 2. Against what was verified before. */
	if ((r = kta_state_log_get(cy->st, sorigin, &found, &sl, err)) != KTA_OK)
		goto out;
	if (found) {
		if ((r = stored_note(sl, &pol, &psize, proot, err)) != KTA_OK)
			goto out;
		out.old_size = sl->size;
		if (size < psize || (size == psize && !kta_ct_equal(root, proot, 32))) {
			int rollback = size < psize;
			struct kta_error e;
			char *ev = NULL;
			size_t evlen = 0;

			snprintf(msg, sizeof(msg),
				 rollback ? "%s: checkpoint of size %llu is smaller than the "
					    "verified %llu (rollback)"
					  : "%s: two checkpoints of size %llu/%llu with different "
					    "roots (fork)",
				 log->name, (unsigned long long)size, (unsigned long long)psize);
			kta_error_clear(&e);
			if (log->evidence_dir != NULL &&
			    (rollback
				 ? kta_evidence_rollback(origin, (const uint8_t *)sl->checkpoint,
							 sl->checkpoint_len, note, note_len, &ev,
							 &evlen, &e)
				 : kta_evidence_fork_same_size(
				       origin, (const uint8_t *)sl->checkpoint, sl->checkpoint_len,
				       note, note_len, &ev, &evlen, &e)) != KTA_OK)
				evidence_failed(cy, "cannot build the evidence", e.msg);
			r = log_alert(cy, rollback ? KTA_ALERT_ROLLBACK : KTA_ALERT_FORK, msg,
				      heads_json(psize, proot, size, root), ev, evlen, err);
			goto verify_fail;
		}
		if ((v = tiles_consistency(c, h, sl->size, sl->root, size, root, err)) != KTA_OK) {
			if (v != KTA_ERR_VERIFY) {
				r = v;
				goto out;
			}
			/* The tiles either do not lead to the signed root or do not extend ours. */
			snprintf(msg, sizeof(msg),
				 "%s: checkpoint %llu is not consistent with the verified tree "
				 "%llu: %s",
				 log->name, (unsigned long long)size, (unsigned long long)sl->size,
				 err->msg);
			r = log_alert(cy, KTA_ALERT_FORK, msg,
				      heads_json(sl->size, sl->root, size, root), NULL, 0, err);
			goto verify_fail;
		}
		cr = sl->range;
		sl->range = NULL;
	} else if ((r = kta_compact_range_new(&cr, err)) != KTA_OK) {
		goto out;
	}
	/* 3. Data tiles, each authenticated before its certificates are looked at. */
	start = kta_compact_range_size(cr);
	target = size;
	if (log->max_entries > 0 && target - start > log->max_entries)
		target = start + log->max_entries;
	rc.h = h;
	rc.cr = cr;
	rc.log = log->name;
	rc.watches = log->watches;
	rc.nwatches = log->nwatches;
	rc.fn = cycle_report;
	rc.ctx = cy;
	for (i = start; i < target;) {
		uint64_t n = i / KTA_TILE_WIDTH, first = n * KTA_TILE_WIDTH, j, end;
		unsigned w =
		    n == size / KTA_TILE_WIDTH ? (unsigned)(size % KTA_TILE_WIDTH) : KTA_TILE_WIDTH;

		free(t->body);
		t->body = NULL;
		v = load_data_tile(c, f, base, h, n, w, t, err);
		if (v == KTA_ERR_VERIFY) {
			snprintf(msg, sizeof(msg),
				 "%s: entries served by the log do not hash to its signed "
				 "checkpoint of size %llu: %s",
				 log->name, (unsigned long long)size, err->msg);
			/* Certificates seen are not part of the signed log: drop their alerts. */
			if ((r = kta_state_rollback(cy->st, err)) != KTA_OK ||
			    (r = kta_state_begin(cy->st, err)) != KTA_OK)
				goto out;
			cy->alerts = 0;
			r = log_alert(cy, KTA_ALERT_ROOT_MISMATCH, msg,
				      heads_json(i, root, size, root), NULL, 0, err);
			goto verify_fail;
		}
		if ((r = v) != KTA_OK)
			goto out;
		end = first + w < target ? first + w : target;
		for (j = i; j < end; j++) {
			if ((r = kta_compact_range_append(cr, h, t->hashes[j - first], err)) !=
				KTA_OK ||
			    (r = watch_leaf(&rc, j, &t->leaves[j - first], err)) != KTA_OK)
				goto out;
		}
		i = end;
	}
	if ((r = kta_compact_range_root(cr, h, proot, err)) != KTA_OK)
		goto out;
	v = target == size ? (kta_ct_equal(proot, root, 32)
				  ? KTA_OK
				  : kta_error_set(err, KTA_ERR_VERIFY, "recomputed root differs"))
			   : tiles_consistency(c, h, target, proot, size, root, err);
	if (v != KTA_OK) {
		if (v != KTA_ERR_VERIFY) {
			r = v;
			goto out;
		}
		snprintf(msg, sizeof(msg),
			 "%s: entries [%llu, %llu) do not hash to the signed checkpoint of size "
			 "%llu: %s",
			 log->name, (unsigned long long)start, (unsigned long long)target,
			 (unsigned long long)size, err->msg);
		if ((r = kta_state_rollback(cy->st, err)) != KTA_OK ||
		    (r = kta_state_begin(cy->st, err)) != KTA_OK)
			goto out;
		cy->alerts = 0;
		r = log_alert(cy, KTA_ALERT_ROOT_MISMATCH, msg,
			      heads_json(target, proot, size, root), NULL, 0, err);
		goto verify_fail;
	}
	if ((r = kta_state_log_put(cy->st, sorigin, (const char *)note, note_len, target, proot, cr,
				   cy->now, err)) != KTA_OK ||
	    (r = kta_state_commit(cy->st, err)) != KTA_OK)
		goto out;
	out.new_size = target;
	out.entries = target - start;
	out.matches = rc.stats.matches;
	out.alerts = cy->alerts;
	if (res != NULL)
		*res = out;
	r = KTA_OK;
	goto out;
verify_fail:
	if (r == KTA_OK && (r = kta_state_commit(cy->st, err)) == KTA_OK) {
		out.new_size = out.old_size;
		out.alerts = cy->alerts;
		out.finding = cy->kind;
		out.evidence_failed = cy->evidence_failed;
		memcpy(out.evidence_msg, cy->evidence_msg, sizeof(out.evidence_msg));
		if (res != NULL)
			*res = out;
		r = kta_error_set(err, KTA_ERR_VERIFY, "%s", msg);
	}
out:
	if (kta_state_in_transaction(cy->st))
		(void)kta_state_rollback(cy->st, NULL);
	cy->vkey = NULL;
	cy->note_origin = NULL;
	if (t != NULL)
		free(t->body);
	free(t);
	kta_compact_range_free(cr);
	kta_state_log_free(sl);
	kta_checkpoint_result_free(&cpr);
	free(note);
	kta_tlog_free(c);
	kta_vkey_free(vk);
	kta_hasher_free(h);
	free(base);
	free(sorigin);
	free(origin);
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
	json_t *d = NULL;
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
	if (log->monitoring_url != NULL)
		return static_cycle(&cy, f, res, err);
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
			r = log_alert(&cy, KTA_ALERT_BAD_SIGNATURE, msg, NULL, NULL, 0, err);
			if (r == KTA_OK && (r = kta_state_commit(st, err)) == KTA_OK) {
				out.alerts = cy.alerts;
				out.finding = KTA_ALERT_BAD_SIGNATURE;
				if (res != NULL)
					*res = out;
				r = kta_error_set(err, KTA_ERR_VERIFY, "%s", msg);
			}
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
			size_t evlen = 0;
			char *ev = heads_evidence(&cy, rollback, sl, raw, raw_len, &evlen);

			snprintf(msg, sizeof(msg),
				 rollback ? "%s: signed head of size %llu is smaller than the "
					    "verified %llu (rollback)"
					  : "%s: two signed heads of size %llu/%llu with different "
					    "roots (fork)",
				 log->name, (unsigned long long)sth.tree_size,
				 (unsigned long long)prev.tree_size);
			/* The timestamps make each signed head pair its own alert (and bundle). */
			d = heads_json(prev.tree_size, prev.root, sth.tree_size, sth.root);
			if (d != NULL &&
			    (json_object_set_new(d, "old_timestamp",
						 json_integer((json_int_t)prev.timestamp)) != 0 ||
			     json_object_set_new(d, "new_timestamp",
						 json_integer((json_int_t)sth.timestamp)) != 0)) {
				json_decref(d);
				free(ev);
				r = kta_error_set(err, KTA_ERR_NOMEM, "CT alert: out of memory");
				goto out;
			}
			r = log_alert(&cy, rollback ? KTA_ALERT_ROLLBACK : KTA_ALERT_FORK, msg, d,
				      ev, evlen, err);
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
				      heads_json(sl->size, sl->root, sth.tree_size, sth.root), NULL,
				      0, err);
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
			      heads_json(target, root, sth.tree_size, sth.root), NULL, 0, err);
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
				   NULL, 0, err)) != KTA_OK)
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
		out.finding = cy.kind;
		out.evidence_failed = cy.evidence_failed;
		memcpy(out.evidence_msg, cy.evidence_msg, sizeof(out.evidence_msg));
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
	out->monitoring_url = c->monitoring_url;
	out->key = c->key;
	out->watches = w;
	out->nwatches = c->nwatches;
	out->batch = c->batch;
	out->max_entries = c->max_entries;
	*watches = w;
	return KTA_OK;
}
