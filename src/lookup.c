/* Key-directory lookup answers: strict parsing and verification. See ktaudit/lookup.h. */
#include "ktaudit/lookup.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "ktaudit/encoding.h"
#include "ktaudit/evidence.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"

#define WHAT "lookup answer"

void kta_lookup_free(struct kta_lookup *l)
{
	if (l == NULL)
		return;
	free(l->checkpoint);
	free(l->entry);
	free(l->path);
	free(l);
}

enum kta_status kta_lookup_parse(const uint8_t *buf, size_t len, struct kta_lookup **out,
				 struct kta_error *err)
{
	static const char *const members[] = {"checkpoint", "leaf_index", "entry", "audit_path",
					      NULL};
	struct kta_lookup *l = NULL;
	json_t *j = NULL, *cp;
	size_t cplen;
	enum kta_status r = KTA_ERR_INTERNAL;

	*out = NULL;
	if ((r = kta_json_load_object(buf, len, KTA_LOOKUP_MAX_SIZE, WHAT, &j, err)) != KTA_OK)
		return r;
	if ((r = kta_json_only_keys(j, members, WHAT, err)) != KTA_OK)
		goto out;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, WHAT ": out of memory");
		goto out;
	}
	cp = json_object_get(j, "checkpoint");
	if (cp == NULL) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, WHAT ": missing \"checkpoint\"");
		goto out;
	}
	if (!json_is_string(cp)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, WHAT ": \"checkpoint\" is not a string");
		goto out;
	}
	cplen = json_string_length(cp);
	if (cplen > KTA_LOOKUP_CHECKPOINT_MAX) {
		r = kta_error_set(err, KTA_ERR_LIMIT,
				  WHAT ": \"checkpoint\" is %zu bytes, over the limit of %d", cplen,
				  KTA_LOOKUP_CHECKPOINT_MAX);
		goto out;
	}
	if ((l->checkpoint = malloc(cplen + 1)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, WHAT ": out of memory");
		goto out;
	}
	memcpy(l->checkpoint, json_string_value(cp), cplen);
	l->checkpoint[cplen] = '\0';
	l->checkpoint_len = cplen;
	/* jansson holds integers as int64: leaf_index < 2^63 by construction. */
	if ((r = kta_json_get_u64(j, "leaf_index", WHAT, &l->leaf_index, err)) != KTA_OK)
		goto out;
	if ((r = kta_json_get_b64(j, "entry", WHAT, KTA_ENTRY_MAX_SIZE, &l->entry, &l->entry_len,
				  err)) != KTA_OK)
		goto out;
	if (l->entry_len == 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, WHAT ": \"entry\" is empty");
		goto out;
	}
	if ((r = kta_json_get_hashes(j, "audit_path", WHAT, KTA_LOOKUP_MAX_PATH, &l->path,
				     &l->path_len, err)) != KTA_OK)
		goto out;
	*out = l;
	l = NULL;
	r = KTA_OK;
out:
	kta_lookup_free(l);
	json_decref(j);
	return r;
}

void kta_lookup_result_free(struct kta_lookup_result *res)
{
	if (res == NULL)
		return;
	kta_checkpoint_result_free(&res->cp);
	kta_entry_free(res->entry);
	free(res->raw);
	memset(res, 0, sizeof(*res));
	res->cp.newest_cosig_time = -1;
}

enum kta_status kta_lookup_verify(const struct kta_lookup *l, const struct kta_checkpoint_policy *p,
				  const char *label, size_t label_len,
				  struct kta_lookup_result *res, struct kta_error *err)
{
	struct kta_lookup_result out;
	struct kta_hasher *h = NULL;
	uint8_t leaf[32];
	enum kta_status r = KTA_ERR_INTERNAL;

	memset(res, 0, sizeof(*res));
	res->cp.newest_cosig_time = -1;
	memset(&out, 0, sizeof(out));
	out.cp.newest_cosig_time = -1;
	if (l == NULL || p == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, WHAT ": no answer or no policy");
	if ((r = kta_entry_parse(l->entry, l->entry_len, &out.entry, err)) != KTA_OK) {
		(void)kta_error_prefix(err, WHAT ": \"entry\"");
		goto out;
	}
	if ((r = kta_checkpoint_verify(l->checkpoint, l->checkpoint_len, p, &out.cp, err)) !=
	    KTA_OK) {
		(void)kta_error_prefix(err, WHAT ": \"checkpoint\"");
		goto out;
	}
	if ((r = kta_hasher_new(&h, err)) != KTA_OK)
		goto out;
	/* RFC 9162 2.1.3.2 against the verified root. */
	kta_hash_leaf(h, l->entry, l->entry_len, leaf);
	r = kta_merkle_verify_inclusion(h, l->leaf_index, out.cp.cp->size, leaf,
					(const uint8_t(*)[32])l->path, l->path_len, out.cp.cp->root,
					err);
	if (r != KTA_OK) {
		(void)kta_error_prefix(
		    err, WHAT ": the entry is not leaf %" PRIu64 " of the tree of size %" PRIu64,
		    l->leaf_index, out.cp.cp->size);
		goto out;
	}
	if (label != NULL && (strlen(out.entry->label) != label_len ||
			      memcmp(out.entry->label, label, label_len) != 0)) {
		char q1[4 * 80 + 4], q2[4 * 80 + 4];

		r = kta_error_set(
		    err, KTA_ERR_VERIFY, WHAT ": the entry is for label \"%s\", not \"%s\"",
		    kta_quote((const uint8_t *)out.entry->label, strlen(out.entry->label), 80, q1),
		    kta_quote((const uint8_t *)label, label_len, 80, q2));
		goto out;
	}
	if ((out.raw = malloc(l->entry_len)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, WHAT ": out of memory");
		goto out;
	}
	memcpy(out.raw, l->entry, l->entry_len);
	out.raw_len = l->entry_len;
	out.leaf_index = l->leaf_index;
	*res = out;
	memset(&out, 0, sizeof(out));
	r = KTA_OK;
out:
	kta_hasher_free(h);
	kta_lookup_result_free(&out);
	return r;
}

enum kta_status kta_lookup_check_latest(const struct kta_lookup_result *res,
					const struct kta_lookup_seen *seen, size_t n,
					uint64_t audited, struct kta_error *err)
{
	uint64_t size, leaf;
	/* the label's last entries after the answer's: before its tree size,
	 * and from there to the audited size */
	const struct kta_lookup_seen *at = NULL, *stale = NULL, *later = NULL;
	size_t i;

	if (res == NULL || res->cp.cp == NULL || res->entry == NULL || (n > 0 && seen == NULL))
		return kta_error_set(err, KTA_ERR_USAGE, "lookup freshness: no verified answer");
	size = res->cp.cp->size;
	leaf = res->leaf_index;
	if (audited < size)
		return kta_error_set(err, KTA_ERR_IO,
				     "the audit has verified the log up to size %" PRIu64
				     ", below the answer's tree size %" PRIu64
				     ": it cannot tell yet whether the answer is the latest "
				     "(run the monitor, then ask again)",
				     audited, size);
	for (i = 0; i < n; i++) {
		if (i > 0 && seen[i].leaf_index <= seen[i - 1].leaf_index)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "lookup freshness: the history is not by leaf index");
		if (seen[i].leaf_index == leaf)
			at = &seen[i];
		else if (seen[i].leaf_index > leaf && seen[i].leaf_index < size)
			stale = &seen[i];
		else if (seen[i].leaf_index > leaf && seen[i].leaf_index < audited)
			later = &seen[i];
	}
	/* The same leaf must hold the same bytes: inclusion proved them under
	 * the answer's checkpoint, and the audit replayed the audited tree. */
	if (at == NULL || at->entry_len != res->raw_len ||
	    memcmp(at->entry, res->raw, res->raw_len) != 0)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "the answer's entry (version %" PRIu64 " at leaf %" PRIu64
				     ") is not the audited log's entry at that leaf: the answer "
				     "comes from another tree",
				     res->entry->version, leaf);
	if (stale != NULL)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "stale answer: version %" PRIu64 " at leaf %" PRIu64
				     ", but the audited log holds a later entry of the label "
				     "(version %" PRIu64 ") at leaf %" PRIu64
				     ", before the answer's tree size %" PRIu64,
				     res->entry->version, leaf, stale->version, stale->leaf_index,
				     size);
	/* Current when its checkpoint was made, but not now: an answer served
	 * before the change, or an old one replayed to hide the change. */
	if (later != NULL)
		return kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "outdated answer: version %" PRIu64 " at leaf %" PRIu64 " (tree size %" PRIu64
		    "), but the audited log (size %" PRIu64
		    ") holds a later entry of the label (version %" PRIu64 ") at leaf %" PRIu64
		    ": fetch the answer again; a provider that keeps serving this "
		    "one hides the change",
		    res->entry->version, leaf, size, audited, later->version, later->leaf_index);
	return KTA_OK;
}

/* One node whose hash the answer's inclusion proof gives (see below). */
struct tnode {
	uint64_t lo, n;       /* its leaves [lo, lo + n) */
	const uint8_t *h;     /* its hash */
	size_t offset;        /* its audit path: path[offset..) ... */
	const uint8_t *first; /* ... after this hash, if not NULL */
};

enum kta_status kta_lookup_check_tree(const struct kta_lookup *l,
				      const struct kta_lookup_result *res, uint64_t size,
				      const uint8_t root[static 32],
				      const struct kta_compact_range *range,
				      struct kta_lookup_fork *fork, struct kta_error *err)
{
	/* anc[j]: the hash of the leaf's ancestor above j path hashes */
	uint8_t anc[KTA_LOOKUP_MAX_PATH + 1][32];
	struct kta_merkle_leaf_range sib[KTA_LOOKUP_MAX_PATH];
	struct tnode nodes[2 * KTA_LOOKUP_MAX_PATH + 1];
	const uint8_t(*hs)[32];
	struct kta_hasher *h = NULL;
	uint64_t s, leaf, lo, hi;
	size_t len = 0, j, nn = 0, nr = 0, i, ix;
	enum kta_status r;

	memset(fork, 0, sizeof(*fork));
	if (l == NULL || res == NULL || res->cp.cp == NULL || res->raw == NULL || range == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "lookup tree check: no verified answer");
	s = res->cp.cp->size;
	leaf = res->leaf_index;
	/* The ranges of the path's hashes (RFC 9162 2.1.3.1), leaf upwards. */
	if (l->leaf_index != leaf || l->entry_len != res->raw_len ||
	    memcmp(l->entry, res->raw, res->raw_len) != 0 ||
	    kta_merkle_inclusion_proof_ranges(leaf, s, sib, KTA_LOOKUP_MAX_PATH, &len, NULL) !=
		KTA_OK ||
	    len != l->path_len)
		return kta_error_set(
		    err, KTA_ERR_USAGE,
		    "lookup tree check: the parsed and the verified answer differ");
	if (kta_compact_range_size(range) != size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "lookup tree check: the compact range is not of size %" PRIu64,
				     size);
	if (s == size) {
		if (kta_ct_equal(res->cp.cp->root, root, 32))
			return KTA_OK;
		fork->same_size = 1;
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "split view: the answer's checkpoint and the audited one "
				     "both have tree size %" PRIu64
				     " and different roots, and both are signed by the log: "
				     "the log forked",
				     size);
	}
	/* Bottom up: every node the proof gives, the leaf's ancestors
	 * (computed) and their siblings (the path's hashes), with the audit
	 * path of each in the answer's tree. */
	if ((r = kta_hasher_new(&h, err)) != KTA_OK)
		return r;
	kta_hash_leaf(h, res->raw, res->raw_len, anc[0]);
	lo = leaf;
	hi = leaf + 1;
	for (j = 0; j < len; j++) {
		nodes[nn++] = (struct tnode){lo, hi - lo, anc[j], j, NULL};
		nodes[nn++] = (struct tnode){sib[j].begin, sib[j].end - sib[j].begin, l->path[j],
					     j + 1, anc[j]};
		if (sib[j].begin >= hi) {
			kta_hash_node(h, anc[j], l->path[j], anc[j + 1]);
			hi = sib[j].end;
		} else {
			kta_hash_node(h, l->path[j], anc[j], anc[j + 1]);
			lo = sib[j].begin;
		}
	}
	nodes[nn++] = (struct tnode){lo, hi - lo, anc[len], len, NULL};
	r = kta_hasher_failed(h) ? kta_error_set(err, KTA_ERR_INTERNAL, "SHA-256 failed") : KTA_OK;
	kta_hasher_free(h);
	if (r != KTA_OK)
		return r;
	if (lo != 0 || hi != s || !kta_ct_equal(anc[len], res->cp.cp->root, 32))
		return kta_error_set(
		    err, KTA_ERR_USAGE,
		    "lookup tree check: the answer's path does not lead to its root");
	/* Each audited subtree (compact.h order) that is one of them must hash
	 * the same in both trees; the proof's ranges are distinct. */
	hs = kta_compact_range_hashes(range, &nr);
	for (ix = 0; ix < nr; ix++) {
		uint64_t begin = 0;
		unsigned level = 0;

		if ((r = kta_evidence_subtree(size, ix, &begin, &level, err)) != KTA_OK)
			return r;
		for (i = 0; i < nn; i++) {
			const struct tnode *t = &nodes[i];

			if (t->lo != begin || t->n != (uint64_t)1 << level ||
			    kta_ct_equal(t->h, hs[ix], 32))
				continue;
			fork->range_index = ix;
			memcpy(fork->hash, t->h, 32);
			fork->path_offset = t->offset;
			fork->has_first = t->first != NULL;
			if (t->first != NULL)
				memcpy(fork->first, t->first, 32);
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "split view: the answer's tree (size %" PRIu64
					     ") and the audited tree (size %" PRIu64
					     ") hash leaves [%" PRIu64 ", %" PRIu64
					     ") differently, and both are signed by the log: "
					     "the log forked",
					     s, size, begin, t->lo + t->n);
		}
	}
	return KTA_OK;
}

size_t kta_lookup_fork_path(const struct kta_lookup *l, const struct kta_lookup_fork *fork,
			    uint8_t (*out)[32])
{
	size_t n = 0, i;

	if (fork->same_size || fork->path_offset > l->path_len)
		return 0;
	if (fork->has_first)
		memcpy(out[n++], fork->first, 32);
	for (i = fork->path_offset; i < l->path_len; i++)
		memcpy(out[n++], l->path[i], 32);
	return n;
}
