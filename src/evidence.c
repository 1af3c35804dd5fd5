/*
 * Evidence bundles: building and offline verification. See
 * ktaudit/evidence.h and docs/alerts.md for the format and what each type
 * proves.
 */
#include "ktaudit/evidence.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"

#define B64H (KTA_B64_ENCODED_LEN(32) + 1)

static const struct {
	enum kta_evidence_type t;
	const char *name;
} type_names[] = {
    {KTA_EVIDENCE_FORK, "fork"},
    {KTA_EVIDENCE_ROLLBACK, "rollback"},
    {KTA_EVIDENCE_ROOT_MISMATCH, "root_mismatch"},
    {KTA_EVIDENCE_VERSION_EQUIVOCATION, "version_equivocation"},
};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *kta_evidence_type_name(enum kta_evidence_type t)
{
	size_t i;

	for (i = 0; i < NTYPES; i++)
		if (type_names[i].t == t)
			return type_names[i].name;
	return "unknown";
}

static unsigned popcount64(uint64_t v)
{
	unsigned n = 0;

	while (v != 0) {
		v &= v - 1;
		n++;
	}
	return n;
}

enum kta_status kta_evidence_subtree(uint64_t m, size_t i, uint64_t *begin, unsigned *level,
				     struct kta_error *err)
{
	uint64_t b = 0;
	size_t seen = 0;
	int bit;

	/* Subtrees are the set bits of m from high to low (compact.h). */
	for (bit = 63; bit >= 0; bit--) {
		uint64_t sz = (uint64_t)1 << bit;

		if ((m & sz) == 0)
			continue;
		if (seen == i) {
			*begin = b;
			*level = (unsigned)bit;
			return KTA_OK;
		}
		b += sz;
		seen++;
	}
	return kta_error_set(err, KTA_ERR_USAGE,
			     "subtree %zu of a tree of size %llu does not exist", i,
			     (unsigned long long)m);
}

/* RFC 9162 2.1.3.2, started at `level` for an aligned perfect subtree. */
static enum kta_status subtree_root(struct kta_hasher *h, uint64_t begin, unsigned level,
				    uint64_t size, const uint8_t node[32],
				    const uint8_t (*path)[32], size_t path_len, uint8_t out[32],
				    struct kta_error *err)
{
	uint64_t fn, sn, span;
	uint8_t r[32];
	size_t i;

	if (level > 63)
		return kta_error_set(err, KTA_ERR_VERIFY, "subtree level %u too large", level);
	span = (uint64_t)1 << level;
	if ((begin & (span - 1)) != 0)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "subtree at leaf %llu is not aligned to its size 2^%u",
				     (unsigned long long)begin, level);
	if (size == 0 || begin > size || size - begin < span)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "subtree [%llu, +2^%u) is not inside the tree of size %llu",
				     (unsigned long long)begin, level, (unsigned long long)size);
	if (path_len > KTA_MERKLE_MAX_PROOF)
		return kta_error_set(err, KTA_ERR_VERIFY, "audit path too long");
	fn = begin >> level;
	sn = (size - 1) >> level;
	memcpy(r, node, 32);
	for (i = 0; i < path_len; i++) {
		if (sn == 0)
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "audit path has %zu hashes, too many", path_len);
		if ((fn & 1) != 0 || fn == sn) {
			kta_hash_node(h, path[i], r, r);
			if ((fn & 1) == 0)
				while ((fn & 1) == 0 && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			kta_hash_node(h, r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return kta_error_set(err, KTA_ERR_VERIFY, "audit path has %zu hashes, too few",
				     path_len);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "SHA-256 failed");
	memcpy(out, r, 32);
	return KTA_OK;
}

enum kta_status kta_evidence_verify_subtree(uint64_t begin, unsigned level, uint64_t size,
					    const uint8_t node_hash[static 32],
					    const uint8_t (*path)[32], size_t path_len,
					    const uint8_t root[static 32], struct kta_error *err)
{
	struct kta_hasher *h = NULL;
	uint8_t got[32];
	enum kta_status r;

	if ((r = kta_hasher_new(&h, err)) != KTA_OK)
		return r;
	r = subtree_root(h, begin, level, size, node_hash, path, path_len, got, err);
	kta_hasher_free(h);
	if (r != KTA_OK)
		return r;
	if (!kta_ct_equal(got, root, 32))
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "audit path does not lead to the signed root");
	return KTA_OK;
}

/* ------------------------------------------------------------------------ */
/* Building */

static json_t *hash_json(const uint8_t h[32])
{
	char b[B64H];

	kta_b64_encode(h, 32, b);
	return json_string(b);
}

static json_t *hashes_json(const uint8_t (*p)[32], size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, hash_json(p[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Starts a bundle {"type", "log", "checkpoints": [notes...]}. */
static enum kta_status bundle_start(const char *type, const char *origin, const uint8_t *n1,
				    size_t l1, const uint8_t *n2, size_t l2, json_t **out,
				    struct kta_error *err)
{
	json_t *o = NULL, *cps = NULL, *s;

	*out = NULL;
	if (origin == NULL || n1 == NULL || l1 == 0 || (n2 == NULL) != (l2 == 0))
		return kta_error_set(err, KTA_ERR_USAGE, "evidence: missing origin or checkpoint");
	if (l1 > KTA_NOTE_MAX_SIZE || l2 > KTA_NOTE_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "evidence: checkpoint too large");
	if ((o = json_object()) == NULL || (cps = json_array()) == NULL)
		goto nomem;
	if ((s = json_stringn((const char *)n1, l1)) == NULL || json_array_append_new(cps, s)) {
		json_decref(o);
		json_decref(cps);
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "evidence: checkpoint is not UTF-8 text");
	}
	if (n2 != NULL &&
	    ((s = json_stringn((const char *)n2, l2)) == NULL || json_array_append_new(cps, s))) {
		json_decref(o);
		json_decref(cps);
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "evidence: checkpoint is not UTF-8 text");
	}
	if (json_object_set_new(o, "type", json_string(type)) ||
	    json_object_set_new(o, "log", json_string(origin)) ||
	    json_object_set_new(o, "checkpoints", cps)) {
		cps = NULL;
		goto nomem;
	}
	*out = o;
	return KTA_OK;
nomem:
	json_decref(o);
	json_decref(cps);
	return kta_error_set(err, KTA_ERR_NOMEM, "evidence: out of memory");
}

/* Adds the explanation, serialises (stable member order) and frees o. */
static enum kta_status bundle_finish(json_t *o, const char *explanation, char **out,
				     size_t *out_len, struct kta_error *err)
{
	char *s = NULL;

	*out = NULL;
	if (json_object_set_new(o, "explanation", json_string(explanation)) != 0 ||
	    (s = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL) {
		json_decref(o);
		return kta_error_set(err, KTA_ERR_NOMEM, "evidence: out of memory");
	}
	json_decref(o);
	*out = s;
	*out_len = strlen(s);
	return KTA_OK;
}

static json_t *entry_json(const struct kta_evidence_entry *e, const uint8_t *leaf_hash)
{
	json_t *o = json_object();
	char *b64 = NULL;

	if (o == NULL)
		return NULL;
	if ((b64 = malloc(KTA_B64_ENCODED_LEN(e->entry_len) + 1)) == NULL)
		goto fail;
	kta_b64_encode(e->entry, e->entry_len, b64);
	if (json_object_set_new(o, "leaf_index", json_integer((json_int_t)e->leaf_index)) ||
	    json_object_set_new(o, "entry", json_string(b64)) ||
	    json_object_set_new(o, "audit_path", hashes_json(e->path, e->path_len)) ||
	    (leaf_hash != NULL && json_object_set_new(o, "leaf_hash", hash_json(leaf_hash))))
		goto fail;
	free(b64);
	return o;
fail:
	free(b64);
	json_decref(o);
	return NULL;
}

static enum kta_status check_entry_arg(const struct kta_evidence_entry *e, struct kta_error *err)
{
	if (e == NULL || e->entry == NULL || e->entry_len == 0 ||
	    (e->path_len > 0 && e->path == NULL))
		return kta_error_set(err, KTA_ERR_USAGE, "evidence: missing entry or path");
	if (e->entry_len > KTA_ENTRY_MAX_SIZE || e->path_len > KTA_MERKLE_MAX_PROOF ||
	    e->leaf_index > (uint64_t)INT64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "evidence: entry or path too large");
	return KTA_OK;
}

enum kta_status kta_evidence_fork_same_size(const char *origin, const uint8_t *note_a, size_t len_a,
					    const uint8_t *note_b, size_t len_b, char **out,
					    size_t *out_len, struct kta_error *err)
{
	json_t *o;
	enum kta_status r;

	*out = NULL;
	if ((r = bundle_start("fork", origin, note_a, len_a, note_b, len_b, &o, err)) != KTA_OK)
		return r;
	return bundle_finish(o,
			     "The log signed two checkpoints with the same tree size and different "
			     "root hashes. An append-only log has exactly one tree of each size, "
			     "so the log has shown different histories (a fork).",
			     out, out_len, err);
}

enum kta_status kta_evidence_fork_prefix(const char *origin, const uint8_t *note_a, size_t len_a,
					 const uint8_t *note_b, size_t len_b,
					 const uint8_t (*old_range)[32], size_t nrange,
					 size_t range_index, const uint8_t new_hash[static 32],
					 const uint8_t (*path)[32], size_t path_len, char **out,
					 size_t *out_len, struct kta_error *err)
{
	json_t *o = NULL, *p = NULL;
	enum kta_status r;

	*out = NULL;
	if (old_range == NULL || nrange == 0 || nrange > 64 || range_index >= nrange ||
	    (path_len > 0 && path == NULL) || path_len > KTA_MERKLE_MAX_PROOF)
		return kta_error_set(err, KTA_ERR_USAGE, "evidence: bad compact range or path");
	if ((r = bundle_start("fork", origin, note_a, len_a, note_b, len_b, &o, err)) != KTA_OK)
		return r;
	p = json_pack("{s:o,s:I,s:o,s:o}", "old_range", hashes_json(old_range, nrange),
		      "range_index", (json_int_t)range_index, "new_hash", hash_json(new_hash),
		      "audit_path", hashes_json(path, path_len));
	if (p == NULL || json_object_set_new(o, "proofs", p)) {
		json_decref(o);
		return kta_error_set(err, KTA_ERR_NOMEM, "evidence: out of memory");
	}
	return bundle_finish(
	    o,
	    "The log signed checkpoint A and checkpoint B, of different tree sizes. old_range "
	    "holds the roots of the perfect subtrees of A; they hash to A's signed root. "
	    "audit_path proves that in B the same leaves hash to new_hash, which differs from "
	    "A's subtree old_range[range_index]. In an append-only log those leaves never "
	    "change once both trees hold them: the log forked.",
	    out, out_len, err);
}

enum kta_status kta_evidence_fork_consistency(const char *origin, const uint8_t *note_a,
					      size_t len_a, const uint8_t *note_b, size_t len_b,
					      const uint8_t (*vec)[32], size_t vec_len, char **out,
					      size_t *out_len, struct kta_error *err)
{
	json_t *o = NULL, *p = NULL;
	enum kta_status r;

	*out = NULL;
	if (vec == NULL || vec_len == 0 || vec_len > KTA_MERKLE_MAX_PROOF + 1)
		return kta_error_set(err, KTA_ERR_USAGE, "evidence: bad consistency vector");
	if ((r = bundle_start("fork", origin, note_a, len_a, note_b, len_b, &o, err)) != KTA_OK)
		return r;
	p = json_pack("{s:o}", "consistency", hashes_json(vec, vec_len));
	if (p == NULL || json_object_set_new(o, "proofs", p)) {
		json_decref(o);
		return kta_error_set(err, KTA_ERR_NOMEM, "evidence: out of memory");
	}
	return bundle_finish(
	    o,
	    "The log signed checkpoint A (the smaller tree, size m) and checkpoint B (size n). "
	    "consistency is the RFC 9162 consistency proof from m to n computed from B's tiles "
	    "(with the subtree [0, m) first when m is a power of two). Run through RFC 9162 "
	    "2.1.4.2 it yields B's signed root, so its hashes are B's; the root of the first m "
	    "leaves it yields differs from A's signed root. So B does not extend A: the log "
	    "forked.",
	    out, out_len, err);
}

enum kta_status kta_evidence_rollback(const char *origin, const uint8_t *first, size_t len_first,
				      const uint8_t *later, size_t len_later, char **out,
				      size_t *out_len, struct kta_error *err)
{
	json_t *o;
	enum kta_status r;

	*out = NULL;
	if ((r = bundle_start("rollback", origin, first, len_first, later, len_later, &o, err)) !=
	    KTA_OK)
		return r;
	return bundle_finish(o,
			     "The monitor verified the first checkpoint and was later served the "
			     "second, smaller one. Both are signed by the log; that the smaller "
			     "one came later is the monitor's observation (log signatures carry no "
			     "time).",
			     out, out_len, err);
}

enum kta_status kta_evidence_root_mismatch(const char *origin, const uint8_t *note, size_t note_len,
					   const struct kta_evidence_entry *e,
					   const uint8_t leaf_hash[static 32], char **out,
					   size_t *out_len, struct kta_error *err)
{
	json_t *o = NULL, *arr = NULL, *ej;
	enum kta_status r;

	*out = NULL;
	if ((r = check_entry_arg(e, err)) != KTA_OK)
		return r;
	if ((r = bundle_start("root_mismatch", origin, note, note_len, NULL, 0, &o, err)) != KTA_OK)
		return r;
	if ((arr = json_array()) == NULL || (ej = entry_json(e, leaf_hash)) == NULL ||
	    json_array_append_new(arr, ej) || json_object_set(o, "entries", arr)) {
		json_decref(arr);
		json_decref(o);
		return kta_error_set(err, KTA_ERR_NOMEM, "evidence: out of memory");
	}
	json_decref(arr);
	return bundle_finish(o,
			     "audit_path proves that leaf leaf_index of the log's signed tree has "
			     "the hash leaf_hash. The entry the log served for that leaf hashes to "
			     "a different value, so it is not the entry the log committed to.",
			     out, out_len, err);
}

enum kta_status kta_evidence_version_equivocation(const char *origin, const uint8_t *note,
						  size_t note_len,
						  const struct kta_evidence_entry *a,
						  const struct kta_evidence_entry *b, char **out,
						  size_t *out_len, struct kta_error *err)
{
	json_t *o = NULL, *arr = NULL, *ja = NULL, *jb = NULL;
	enum kta_status r;

	*out = NULL;
	if ((r = check_entry_arg(a, err)) != KTA_OK || (r = check_entry_arg(b, err)) != KTA_OK)
		return r;
	if ((r = bundle_start("version_equivocation", origin, note, note_len, NULL, 0, &o, err)) !=
	    KTA_OK)
		return r;
	if ((arr = json_array()) == NULL || (ja = entry_json(a, NULL)) == NULL ||
	    json_array_append_new(arr, ja) || (jb = entry_json(b, NULL)) == NULL ||
	    json_array_append_new(arr, jb) || json_object_set(o, "entries", arr)) {
		json_decref(arr);
		json_decref(o);
		return kta_error_set(err, KTA_ERR_NOMEM, "evidence: out of memory");
	}
	json_decref(arr);
	return bundle_finish(
	    o,
	    "Both entries are in the log's signed tree (audit paths) and claim the "
	    "same version of the same label with different contents: the log "
	    "shows different clients different keys for that version.",
	    out, out_len, err);
}

/* ------------------------------------------------------------------------ */
/* Verification */

struct vcp {
	uint8_t *note; /* borrowed from the JSON */
	size_t len;
	struct kta_checkpoint_result res;
};

/* One parsed bundle entry. */
struct ventry {
	uint64_t leaf_index;
	uint8_t *entry;
	size_t entry_len;
	int has_leaf_hash;
	uint8_t leaf_hash[32];
	uint8_t (*path)[32];
	size_t path_len;
};

static void ventry_clear(struct ventry *e)
{
	free(e->entry);
	free(e->path);
	memset(e, 0, sizeof(*e));
}

static enum kta_status parse_entry(const json_t *j, size_t i, int want_leaf_hash, struct ventry *e,
				   struct kta_error *err)
{
	static const char *const keys_plain[] = {"leaf_index", "entry", "audit_path", NULL};
	static const char *const keys_lh[] = {"leaf_index", "entry", "leaf_hash", "audit_path",
					      NULL};
	char what[64];
	json_t *v;
	enum kta_status r;

	memset(e, 0, sizeof(*e));
	snprintf(what, sizeof(what), "evidence: entries[%zu]", i);
	if (!json_is_object(j))
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s is not an object", what);
	if ((r = kta_json_only_keys(j, want_leaf_hash ? keys_lh : keys_plain, what, err)) !=
		KTA_OK ||
	    (r = kta_json_get_u64(j, "leaf_index", what, &e->leaf_index, err)) != KTA_OK ||
	    (r = kta_json_get_b64(j, "entry", what, KTA_ENTRY_MAX_SIZE, &e->entry, &e->entry_len,
				  err)) != KTA_OK ||
	    (r = kta_json_get_hashes(j, "audit_path", what, KTA_MERKLE_MAX_PROOF, &e->path,
				     &e->path_len, err)) != KTA_OK)
		goto fail;
	if (want_leaf_hash) {
		v = json_object_get(j, "leaf_hash");
		if (v == NULL || !json_is_string(v)) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: \"leaf_hash\" missing",
					  what);
			goto fail;
		}
		if (kta_parse_hash(json_string_value(v), json_string_length(v), e->leaf_hash,
				   "leaf_hash", err) != KTA_OK ||
		    json_string_length(v) != KTA_B64_ENCODED_LEN(32)) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "%s: \"leaf_hash\" is not base64 of 32 bytes", what);
			goto fail;
		}
		e->has_leaf_hash = 1;
	}
	if (e->entry_len == 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: empty entry", what);
		goto fail;
	}
	return KTA_OK;
fail:
	ventry_clear(e);
	return r;
}

/* Checks entry e's inclusion (leaf hash lh) under checkpoint c. */
static enum kta_status entry_included(struct kta_hasher *h, const struct ventry *e,
				      const uint8_t lh[32], const struct kta_checkpoint *c,
				      size_t i, struct kta_error *err)
{
	enum kta_status r;

	r = kta_merkle_verify_inclusion(h, e->leaf_index, c->size, lh,
					(const uint8_t(*)[32])e->path, e->path_len, c->root, err);
	if (r != KTA_OK)
		return kta_error_wrap(err, r, "entries[%zu] (leaf %llu) is not in the signed tree",
				      i, (unsigned long long)e->leaf_index);
	return KTA_OK;
}

static void b64h(const uint8_t h[32], char out[B64H])
{
	kta_b64_encode(h, 32, out);
}

/*
 * fork, two sizes, from the larger tree's consistency proof: the vector
 * must fold to B's signed root (so its hashes are B's nodes, by collision
 * resistance) and the prefix root it yields must differ from A's signed root.
 */
static enum kta_status verify_fork_consistency(struct kta_hasher *h, const json_t *proofs,
					       const struct kta_checkpoint *a,
					       const struct kta_checkpoint *b,
					       struct kta_evidence_result *res,
					       struct kta_error *err)
{
	static const char *const ckeys[] = {"consistency", NULL};
	uint8_t(*vec)[32] = NULL, fr[32], sr[32];
	size_t nvec = 0;
	char ra[B64H], rb[B64H];
	enum kta_status r;

	if ((r = kta_json_only_keys(proofs, ckeys, "evidence: proofs", err)) != KTA_OK ||
	    (r = kta_json_get_hashes(proofs, "consistency", "evidence: proofs",
				     KTA_MERKLE_MAX_PROOF + 1, &vec, &nvec, err)) != KTA_OK)
		goto out;
	if (a->size > b->size) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "the first checkpoint (size %llu) must be the smaller tree, not "
				  "the second (size %llu)",
				  (unsigned long long)a->size, (unsigned long long)b->size);
		goto out;
	}
	if (a->size == 0) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "the empty tree is a prefix of every tree: no fork");
		goto out;
	}
	if ((r = kta_merkle_consistency_roots(h, a->size, b->size, (const uint8_t(*)[32])vec, nvec,
					      fr, sr, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "proofs.consistency");
		goto out;
	}
	if (!kta_ct_equal(sr, b->root, 32)) {
		r = kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "proofs.consistency does not lead to the second checkpoint's root");
		goto out;
	}
	if (kta_ct_equal(fr, a->root, 32)) {
		r = kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "proofs.consistency shows the first checkpoint is a prefix of the "
		    "second: no fork");
		goto out;
	}
	b64h(a->root, ra);
	b64h(fr, rb);
	snprintf(res->statement, sizeof(res->statement),
		 "the log %s signed a tree of size %llu (root %s) and a tree of size %llu whose "
		 "first %llu leaves hash to %s (RFC 9162 consistency proof): the second does not "
		 "extend the first; the log forked",
		 a->origin, (unsigned long long)a->size, ra, (unsigned long long)b->size,
		 (unsigned long long)a->size, rb);
	res->strong = 1;
	r = KTA_OK;
out:
	free(vec);
	return r;
}

static enum kta_status verify_fork(struct kta_hasher *h, const json_t *bundle, struct vcp *cp,
				   struct kta_evidence_result *res, struct kta_error *err)
{
	static const char *const pkeys[] = {"old_range", "range_index", "new_hash", "audit_path",
					    NULL};
	const struct kta_checkpoint *a = cp[0].res.cp, *b = cp[1].res.cp;
	const json_t *proofs = json_object_get(bundle, "proofs");
	uint8_t(*range)[32] = NULL, (*path)[32] = NULL, fold[32], newh[32];
	size_t nrange = 0, npath = 0, k;
	uint64_t ri, begin = 0, end;
	unsigned level = 0;
	char ra[B64H], rb[B64H];
	enum kta_status r = KTA_ERR_MALFORMED;
	json_t *v;

	if (a->size == b->size) {
		if (proofs != NULL) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "evidence: a same-size fork has no \"proofs\"");
			goto out;
		}
		if (kta_ct_equal(a->root, b->root, 32)) {
			r = kta_error_set(err, KTA_ERR_VERIFY,
					  "both checkpoints have the same root: no fork");
			goto out;
		}
		b64h(a->root, ra);
		b64h(b->root, rb);
		snprintf(res->statement, sizeof(res->statement),
			 "the log %s signed two different trees of size %llu (roots %s and %s); "
			 "an append-only log has one tree per size: the log forked",
			 a->origin, (unsigned long long)a->size, ra, rb);
		res->strong = 1;
		r = KTA_OK;
		goto out;
	}
	if (proofs == NULL || !json_is_object(proofs)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "evidence: a fork between two sizes needs \"proofs\"");
		goto out;
	}
	if (json_object_get(proofs, "consistency") != NULL) {
		r = verify_fork_consistency(h, proofs, a, b, res, err);
		goto out;
	}
	if ((r = kta_json_only_keys(proofs, pkeys, "evidence: proofs", err)) != KTA_OK ||
	    (r = kta_json_get_hashes(proofs, "old_range", "evidence: proofs", 64, &range, &nrange,
				     err)) != KTA_OK ||
	    (r = kta_json_get_u64(proofs, "range_index", "evidence: proofs", &ri, err)) != KTA_OK ||
	    (r = kta_json_get_hashes(proofs, "audit_path", "evidence: proofs", KTA_MERKLE_MAX_PROOF,
				     &path, &npath, err)) != KTA_OK)
		goto out;
	v = json_object_get(proofs, "new_hash");
	if (v == NULL || !json_is_string(v) || json_string_length(v) != KTA_B64_ENCODED_LEN(32) ||
	    kta_parse_hash(json_string_value(v), json_string_length(v), newh, "new_hash", err) !=
		KTA_OK) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "evidence: proofs: \"new_hash\" is not base64 of 32 bytes");
		goto out;
	}
	/* A may be the larger tree (an auditor's against a smaller head it was
	 * shown): subtree_root below then requires the subtree to lie in B. */
	if (a->size == 0) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "the empty tree is a prefix of every tree: no fork");
		goto out;
	}
	/* A's subtrees must fold to A's signed root (RFC 9162 2.1.1): then they
	 * are A's subtrees. */
	if (nrange != popcount64(a->size)) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "old_range has %zu hashes; a tree of size %llu has %u subtrees",
				  nrange, (unsigned long long)a->size, popcount64(a->size));
		goto out;
	}
	memcpy(fold, range[nrange - 1], 32);
	for (k = nrange - 1; k > 0; k--)
		kta_hash_node(h, range[k - 1], fold, fold);
	if (kta_hasher_failed(h)) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "SHA-256 failed");
		goto out;
	}
	if (!kta_ct_equal(fold, a->root, 32)) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "old_range does not hash to the first checkpoint's root");
		goto out;
	}
	if (ri >= nrange) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "range_index %llu out of range (%zu subtrees)",
				  (unsigned long long)ri, nrange);
		goto out;
	}
	if ((r = kta_evidence_subtree(a->size, (size_t)ri, &begin, &level, err)) != KTA_OK) {
		r = KTA_ERR_VERIFY;
		goto out;
	}
	if (kta_ct_equal(newh, range[ri], 32)) {
		r = kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "new_hash equals the old subtree hash: the claim does not follow");
		goto out;
	}
	if ((r = subtree_root(h, begin, level, b->size, newh, (const uint8_t(*)[32])path, npath,
			      fold, err)) != KTA_OK) {
		kta_error_prefix(err, "proofs.audit_path");
		goto out;
	}
	if (!kta_ct_equal(fold, b->root, 32)) {
		r = kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "proofs.audit_path does not lead to the second checkpoint's root");
		goto out;
	}
	end = begin + ((uint64_t)1 << level); /* <= both sizes: the subtree is in both trees */
	b64h(range[ri], ra);
	b64h(newh, rb);
	snprintf(res->statement, sizeof(res->statement),
		 "the log %s signed a tree of size %llu and a tree of size %llu that cannot both "
		 "be in one append-only log: leaves [%llu, %llu) hash to %s in the first and to "
		 "%s in the second; the log forked",
		 a->origin, (unsigned long long)a->size, (unsigned long long)b->size,
		 (unsigned long long)begin, (unsigned long long)end, ra, rb);
	res->strong = 1;
	r = KTA_OK;
out:
	free(range);
	free(path);
	return r;
}

static enum kta_status verify_rollback(struct vcp *cp, struct kta_evidence_result *res,
				       struct kta_error *err)
{
	const struct kta_checkpoint *a = cp[0].res.cp, *b = cp[1].res.cp;

	if (b->size >= a->size)
		return kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "the later checkpoint (size %llu) is not smaller than the first "
		    "(size %llu): no rollback",
		    (unsigned long long)b->size, (unsigned long long)a->size);
	snprintf(res->statement, sizeof(res->statement),
		 "the log %s signed a tree of size %llu and a tree of size %llu; that the smaller "
		 "one was served after the larger is the monitor's observation (rollback as "
		 "observed; signatures carry no time)",
		 a->origin, (unsigned long long)a->size, (unsigned long long)b->size);
	res->strong = 0;
	return KTA_OK;
}

static enum kta_status verify_root_mismatch(struct kta_hasher *h, struct ventry *e, struct vcp *cp,
					    struct kta_evidence_result *res, struct kta_error *err)
{
	const struct kta_checkpoint *c = cp[0].res.cp;
	uint8_t got[32];
	char a[B64H], b[B64H];
	enum kta_status r;

	if ((r = entry_included(h, e, e->leaf_hash, c, 0, err)) != KTA_OK)
		return r;
	kta_hash_leaf(h, e->entry, e->entry_len, got);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "SHA-256 failed");
	if (kta_ct_equal(got, e->leaf_hash, 32))
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "the entry hashes to the logged leaf hash: no mismatch");
	b64h(e->leaf_hash, a);
	b64h(got, b);
	snprintf(res->statement, sizeof(res->statement),
		 "leaf %llu of the log %s's signed tree of size %llu has hash %s; the entry in the "
		 "bundle (as served to the monitor) hashes to %s: it is not the logged entry",
		 (unsigned long long)e->leaf_index, c->origin, (unsigned long long)c->size, a, b);
	res->strong = 1;
	return KTA_OK;
}

static enum kta_status verify_equivocation(struct kta_hasher *h, struct ventry *e, struct vcp *cp,
					   struct kta_evidence_result *res, struct kta_error *err)
{
	const struct kta_checkpoint *c = cp[0].res.cp;
	struct kta_entry *pe[2] = {NULL, NULL};
	struct kta_error perr;
	uint8_t lh[32];
	enum kta_status r = KTA_ERR_VERIFY;
	size_t i;

	for (i = 0; i < 2; i++) {
		kta_hash_leaf(h, e[i].entry, e[i].entry_len, lh);
		if (kta_hasher_failed(h)) {
			r = kta_error_set(err, KTA_ERR_INTERNAL, "SHA-256 failed");
			goto out;
		}
		if ((r = entry_included(h, &e[i], lh, c, i, err)) != KTA_OK)
			goto out;
		r = kta_entry_parse(e[i].entry, e[i].entry_len, &pe[i], &perr);
		if (r == KTA_ERR_NOMEM) {
			kta_error_set(err, r, "%s", perr.msg);
			goto out;
		}
		if (r != KTA_OK) {
			r = kta_error_set(err, KTA_ERR_VERIFY,
					  "entries[%zu] is not a keydir/v1 entry (%s): no version "
					  "equivocation",
					  i, perr.msg);
			goto out;
		}
	}
	if (e[0].leaf_index == e[1].leaf_index ||
	    (e[0].entry_len == e[1].entry_len &&
	     memcmp(e[0].entry, e[1].entry, e[0].entry_len) == 0)) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "the two entries are the same: no version equivocation");
		goto out;
	}
	if (strcmp(pe[0]->label, pe[1]->label) != 0 || pe[0]->version != pe[1]->version) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "the entries are for different labels or versions: no version "
				  "equivocation");
		goto out;
	}
	snprintf(res->statement, sizeof(res->statement),
		 "the log %s's signed tree of size %llu contains two different entries for "
		 "version %llu of label %s, at leaves %llu and %llu",
		 c->origin, (unsigned long long)c->size, (unsigned long long)pe[0]->version,
		 pe[0]->label, (unsigned long long)e[0].leaf_index,
		 (unsigned long long)e[1].leaf_index);
	res->strong = 1;
	r = KTA_OK;
out:
	kta_entry_free(pe[0]);
	kta_entry_free(pe[1]);
	return r;
}

enum kta_status kta_evidence_verify(const uint8_t *buf, size_t len, const struct kta_vkey *log_key,
				    const char *origin, int64_t now,
				    struct kta_evidence_result *res, struct kta_error *err)
{
	static const char *const keys_all[] = {"type",    "log",         "checkpoints", "proofs",
					       "entries", "explanation", NULL};
	json_t *j = NULL, *v, *cps, *ents;
	struct vcp cp[2];
	struct ventry e[2];
	struct kta_checkpoint_policy pol;
	struct kta_hasher *h = NULL;
	struct kta_evidence_result out;
	enum kta_evidence_type type = KTA_EVIDENCE_FORK;
	const char *tname, *want_origin;
	size_t ncp = 0, nent = 0, i, want_cp = 0, want_ent = 0;
	enum kta_status r = KTA_ERR_MALFORMED;
	int found = 0;

	memset(cp, 0, sizeof(cp));
	memset(e, 0, sizeof(e));
	memset(&out, 0, sizeof(out));
	if (log_key == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE, "evidence: no log key");
		goto out;
	}
	if ((r = kta_json_load_object(buf, len, KTA_EVIDENCE_MAX_SIZE, "evidence", &j, err)) !=
	    KTA_OK)
		goto out;
	if ((r = kta_json_only_keys(j, keys_all, "evidence", err)) != KTA_OK)
		goto out;
	r = KTA_ERR_MALFORMED;
	v = json_object_get(j, "type");
	if (v == NULL || !json_is_string(v)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "evidence: missing \"type\"");
		goto out;
	}
	tname = json_string_value(v);
	for (i = 0; i < NTYPES; i++)
		if (strcmp(tname, type_names[i].name) == 0) {
			type = type_names[i].t;
			found = 1;
		}
	if (!found) {
		char q[4 * 40 + 4];

		r = kta_error_set(err, KTA_ERR_MALFORMED, "evidence: unknown type \"%s\"",
				  kta_quote((const uint8_t *)tname, strlen(tname), 40, q));
		goto out;
	}
	switch (type) {
	case KTA_EVIDENCE_FORK:
	case KTA_EVIDENCE_ROLLBACK:
		want_cp = 2;
		want_ent = 0;
		break;
	case KTA_EVIDENCE_ROOT_MISMATCH:
		want_cp = 1;
		want_ent = 1;
		break;
	case KTA_EVIDENCE_VERSION_EQUIVOCATION:
		want_cp = 1;
		want_ent = 2;
		break;
	}
	v = json_object_get(j, "explanation");
	if (v == NULL || !json_is_string(v) ||
	    json_string_length(v) > KTA_EVIDENCE_EXPLANATION_MAX) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "evidence: \"explanation\" missing, not a string or too long");
		goto out;
	}
	v = json_object_get(j, "log");
	if (v == NULL || !json_is_string(v)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "evidence: missing \"log\"");
		goto out;
	}
	if (type != KTA_EVIDENCE_FORK && json_object_get(j, "proofs") != NULL) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "evidence: %s has no \"proofs\"", tname);
		goto out;
	}
	ents = json_object_get(j, "entries");
	if (want_ent == 0 && ents != NULL) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "evidence: %s has no \"entries\"", tname);
		goto out;
	}
	if (want_ent > 0 &&
	    (ents == NULL || !json_is_array(ents) || (nent = json_array_size(ents)) != want_ent)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "evidence: %s needs \"entries\" with %zu entr%s", tname, want_ent,
				  want_ent == 1 ? "y" : "ies");
		goto out;
	}
	cps = json_object_get(j, "checkpoints");
	if (cps == NULL || !json_is_array(cps) || (ncp = json_array_size(cps)) != want_cp) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "evidence: %s needs \"checkpoints\" with %zu signed note%s",
				  tname, want_cp, want_cp == 1 ? "" : "s");
		goto out;
	}
	for (i = 0; i < nent; i++)
		if ((r = parse_entry(json_array_get(ents, i), i, type == KTA_EVIDENCE_ROOT_MISMATCH,
				     &e[i], err)) != KTA_OK)
			goto out;

	/* Every checkpoint must be signed by the log key with the expected origin. */
	want_origin = origin != NULL ? origin : log_key->name;
	memset(&pol, 0, sizeof(pol));
	pol.log_key = log_key;
	pol.origin = want_origin;
	pol.now = now < 0 ? 0 : now;
	for (i = 0; i < ncp; i++) {
		v = json_array_get(cps, i);
		if (!json_is_string(v)) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "evidence: checkpoints[%zu] is not a string", i);
			goto out;
		}
		cp[i].note = (uint8_t *)(uintptr_t)json_string_value(v);
		cp[i].len = json_string_length(v);
		r = kta_checkpoint_verify(cp[i].note, cp[i].len, &pol, &cp[i].res, err);
		if (r != KTA_OK) {
			kta_error_prefix(err, "evidence: checkpoints[%zu]", i);
			goto out;
		}
	}
	if (strcmp(json_string_value(json_object_get(j, "log")), want_origin) != 0) {
		r = kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "evidence: \"log\" does not name the log whose key was given (%s)",
		    want_origin);
		goto out;
	}
	if ((r = kta_hasher_new(&h, err)) != KTA_OK)
		goto out;
	out.type = type;
	switch (type) {
	case KTA_EVIDENCE_FORK:
		r = verify_fork(h, j, cp, &out, err);
		break;
	case KTA_EVIDENCE_ROLLBACK:
		r = verify_rollback(cp, &out, err);
		break;
	case KTA_EVIDENCE_ROOT_MISMATCH:
		r = verify_root_mismatch(h, &e[0], cp, &out, err);
		break;
	case KTA_EVIDENCE_VERSION_EQUIVOCATION:
		r = verify_equivocation(h, e, cp, &out, err);
		break;
	}
	if (r == KTA_OK)
		*res = out;
out:
	for (i = 0; i < 2; i++) {
		kta_checkpoint_result_free(&cp[i].res);
		ventry_clear(&e[i]);
	}
	kta_hasher_free(h);
	json_decref(j);
	return r;
}
