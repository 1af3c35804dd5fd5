/*
 * Unit tests for evidence bundles (include/ktaudit/evidence.h): each type
 * verifies when built from real misbehaviour, and tampered, swapped or
 * unproven bundles are rejected.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/evidence.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/merkle.h"
#include "ktaudit/note.h"

#define ORIGIN "example.com/log"
#define NOW 1764143000

static struct kta_skey *skey, *other_skey;
static struct kta_vkey *vkey, *other_vkey;
static struct kta_hasher *hasher;

static int setup(void **state)
{
	(void)state;
	if (kta_skey_generate(ORIGIN, KTA_KEY_ED25519, &skey, NULL) != KTA_OK ||
	    kta_skey_vkey(skey, &vkey, NULL) != KTA_OK ||
	    kta_skey_generate(ORIGIN, KTA_KEY_ED25519, &other_skey, NULL) != KTA_OK ||
	    kta_skey_vkey(other_skey, &other_vkey, NULL) != KTA_OK ||
	    kta_hasher_new(&hasher, NULL) != KTA_OK)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kta_skey_free(skey);
	kta_skey_free(other_skey);
	kta_vkey_free(vkey);
	kta_vkey_free(other_vkey);
	kta_hasher_free(hasher);
	return 0;
}

/* A signed checkpoint note for (size, root) by k. */
static uint8_t *sign_cp(const struct kta_skey *k, const char *origin, uint64_t size,
			const uint8_t root[32], size_t *len)
{
	char text[256], b64[45];
	uint8_t *out = NULL;

	kta_b64_encode(root, 32, b64);
	snprintf(text, sizeof(text), "%s\n%llu\n%s\n", origin, (unsigned long long)size, b64);
	assert_int_equal(kta_note_sign((const uint8_t *)text, strlen(text), k, &out, len, NULL),
			 KTA_OK);
	return out;
}

/* leaves[i] = leaf hash of the 8-byte value seed * 1000 + i. */
static void mk_leaves(uint8_t (*leaves)[32], uint64_t n, uint64_t seed)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		uint64_t v = seed * 1000 + i;

		kta_hash_leaf(hasher, (const uint8_t *)&v, sizeof(v), leaves[i]);
	}
}

static uint8_t *cp_of(const uint8_t (*leaves)[32], uint64_t n, size_t *len)
{
	uint8_t root[32];

	assert_int_equal(kta_merkle_root(hasher, leaves, n, root, NULL), KTA_OK);
	return sign_cp(skey, ORIGIN, n, root, len);
}

static enum kta_status verify(const char *json, struct kta_evidence_result *res,
			      struct kta_error *err)
{
	return kta_evidence_verify((const uint8_t *)json, strlen(json), vkey, NULL, NOW, res, err);
}

static void expect_holds(const char *json, enum kta_evidence_type t)
{
	struct kta_evidence_result res;
	struct kta_error err;

	kta_error_clear(&err);
	if (verify(json, &res, &err) != KTA_OK)
		fail_msg("evidence does not hold: %s\n%s", err.msg, json);
	assert_int_equal(res.type, t);
}

static void expect_status(const char *json, enum kta_status want, const char *msg)
{
	struct kta_evidence_result res;
	struct kta_error err;
	enum kta_status r;

	kta_error_clear(&err);
	r = verify(json, &res, &err);
	if (r != want)
		fail_msg("want status %d, got %d (%s)\n%s", want, r, err.msg, json);
	if (msg != NULL && strstr(err.msg, msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
}

/* Re-serialises a bundle after editing it with fn. */
static char *edit(const char *json, void (*fn)(json_t *))
{
	json_t *j = json_loads(json, 0, NULL);
	char *s;

	assert_non_null(j);
	fn(j);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(s);
	return s;
}

/*
 * Flips one bit in every byte of json outside [skip_a, skip_b) and outside
 * the explanation text (the only member the verifier does not trust): no
 * mutant may verify.
 */
static void flip_all(const char *json, const char *skip_member)
{
	size_t len = strlen(json), i, ea = 0, eb = 0, sa = 0, sb = 0;
	char *m = malloc(len + 1);
	const char *p = strstr(json, "\"explanation\": \"");

	assert_non_null(m);
	assert_non_null(p);
	ea = (size_t)(p - json);
	eb = (size_t)(strchr(p + 16, '"') - json) + 1;
	if (skip_member != NULL) {
		char key[64];

		snprintf(key, sizeof(key), "\"%s\": \"", skip_member);
		p = strstr(json, key);
		assert_non_null(p);
		sa = (size_t)(p - json);
		sb = (size_t)(strchr(p + strlen(key), '"') - json) + 1;
	}
	for (i = 0; i < len; i++) {
		struct kta_evidence_result res;

		if ((i >= ea && i < eb) || (i >= sa && i < sb))
			continue;
		memcpy(m, json, len + 1);
		m[i] = (char)(m[i] ^ 0x01);
		if (kta_evidence_verify((const uint8_t *)m, len, vkey, NULL, NOW, &res, NULL) ==
		    KTA_OK)
			fail_msg("mutant at byte %zu verifies:\n%s", i, m);
	}
	free(m);
}

/* ---- fork, same size -------------------------------------------------------- */

static char *fork_same_bundle(void)
{
	uint8_t a[8][32], b[8][32], *na, *nb;
	size_t la, lb, ol;
	char *out = NULL;

	mk_leaves(a, 8, 1);
	memcpy(b, a, sizeof(a));
	mk_leaves(b + 3, 1, 2);
	na = cp_of((const uint8_t(*)[32])a, 8, &la);
	nb = cp_of((const uint8_t(*)[32])b, 8, &lb);
	assert_int_equal(kta_evidence_fork_same_size(ORIGIN, na, la, nb, lb, &out, &ol, NULL),
			 KTA_OK);
	assert_int_equal(ol, strlen(out));
	free(na);
	free(nb);
	return out;
}

static void swap_checkpoints(json_t *j)
{
	json_t *c = json_object_get(j, "checkpoints"), *x = json_incref(json_array_get(c, 0));

	json_array_remove(c, 0);
	json_array_append_new(c, x);
}

static void dup_first_checkpoint(json_t *j)
{
	json_t *c = json_object_get(j, "checkpoints");

	json_array_set(c, 1, json_array_get(c, 0));
}

static void add_member(json_t *j)
{
	json_object_set_new(j, "extra", json_true());
}

static void wrong_log(json_t *j)
{
	json_object_set_new(j, "log", json_string("other.example/log"));
}

static void drop_explanation(json_t *j)
{
	json_object_del(j, "explanation");
}

static void add_empty_proofs(json_t *j)
{
	json_object_set_new(j, "proofs", json_object());
}

static void fork_same_size(void **state)
{
	char *b = fork_same_bundle(), *m;
	struct kta_evidence_result res;
	struct kta_error err;

	(void)state;
	expect_holds(b, KTA_EVIDENCE_FORK);
	assert_int_equal(verify(b, &res, NULL), KTA_OK);
	assert_true(res.strong);
	assert_non_null(strstr(res.statement, "two different trees of size 8"));
	/* swapped order still proves the same thing */
	m = edit(b, swap_checkpoints);
	expect_holds(m, KTA_EVIDENCE_FORK);
	free(m);
	/* the same checkpoint twice: no fork */
	m = edit(b, dup_first_checkpoint);
	expect_status(m, KTA_ERR_VERIFY, "same root");
	free(m);
	m = edit(b, add_member);
	expect_status(m, KTA_ERR_MALFORMED, "unknown member");
	free(m);
	m = edit(b, wrong_log);
	expect_status(m, KTA_ERR_VERIFY, "\"log\"");
	free(m);
	m = edit(b, drop_explanation);
	expect_status(m, KTA_ERR_MALFORMED, "explanation");
	free(m);
	m = edit(b, add_empty_proofs);
	expect_status(m, KTA_ERR_MALFORMED, "proofs");
	free(m);
	/* wrong key; expected origin other than the checkpoints' */
	assert_int_equal(
	    kta_evidence_verify((const uint8_t *)b, strlen(b), other_vkey, NULL, NOW, &res, &err),
	    KTA_ERR_VERIFY);
	assert_int_equal(
	    kta_evidence_verify((const uint8_t *)b, strlen(b), vkey, "other", NOW, &res, &err),
	    KTA_ERR_VERIFY);
	assert_int_equal(
	    kta_evidence_verify((const uint8_t *)b, strlen(b), NULL, NULL, NOW, &res, &err),
	    KTA_ERR_USAGE);
	flip_all(b, NULL);
	free(b);
}

/* A checkpoint signed by another key with the same name is not the log's. */
static void fork_other_signer(void **state)
{
	uint8_t a[4][32], root[32], *na, *nb;
	size_t la, lb, ol;
	char *out = NULL;

	(void)state;
	mk_leaves(a, 4, 1);
	na = cp_of((const uint8_t(*)[32])a, 4, &la);
	memset(root, 7, 32);
	nb = sign_cp(other_skey, ORIGIN, 4, root, &lb);
	assert_int_equal(kta_evidence_fork_same_size(ORIGIN, na, la, nb, lb, &out, &ol, NULL),
			 KTA_OK);
	expect_status(out, KTA_ERR_VERIFY, "checkpoints[1]");
	free(out);
	free(na);
	free(nb);
}

/* ---- fork, two sizes --------------------------------------------------------- */

/*
 * Builds the two-size fork bundle for trees A = a[0..m) and B = b[0..n):
 * finds the first subtree of A whose hash differs in B. Returns NULL when
 * none differs (B extends A); then *idx is SIZE_MAX. With force_index, uses
 * that subtree whatever its hashes.
 */
static char *fork_prefix_bundle(const uint8_t (*a)[32], uint64_t m, const uint8_t (*b)[32],
				uint64_t n, size_t force_index)
{
	uint8_t range[64][32], nh[32], path[KTA_MERKLE_MAX_PROOF][32], *na, *nb;
	size_t nr = 0, i, pl, la, lb, ol, use = SIZE_MAX;
	uint64_t begin;
	unsigned level;
	char *out = NULL;

	for (i = 0; kta_evidence_subtree(m, i, &begin, &level, NULL) == KTA_OK; i++) {
		uint64_t span = (uint64_t)1 << level;

		assert_int_equal(kta_merkle_root(hasher, a + begin, span, range[i], NULL), KTA_OK);
		/* a subtree of A counts only if B has all its leaves (A may be larger) */
		if (begin + span <= n) {
			assert_int_equal(kta_merkle_root(hasher, b + begin, span, nh, NULL),
					 KTA_OK);
			if (use == SIZE_MAX && memcmp(nh, range[i], 32) != 0)
				use = i;
		}
		nr++;
	}
	if (force_index != SIZE_MAX)
		use = force_index;
	if (use == SIZE_MAX)
		return NULL;
	assert_int_equal(kta_evidence_subtree(m, use, &begin, &level, NULL), KTA_OK);
	/* a forced subtree beyond B: its leaves as far as B has them (the claim fails) */
	assert_int_equal(
	    kta_merkle_root(hasher, b + begin,
			    begin + ((uint64_t)1 << level) <= n ? (uint64_t)1 << level : n - begin,
			    nh, NULL),
	    KTA_OK);
	assert_int_equal(
	    kta_merkle_inclusion_proof(hasher, b, n, begin, path, KTA_MERKLE_MAX_PROOF, &pl, NULL),
	    KTA_OK);
	assert_true(pl >= level);
	na = cp_of(a, m, &la);
	nb = cp_of(b, n, &lb);
	assert_int_equal(kta_evidence_fork_prefix(
			     ORIGIN, na, la, nb, lb, (const uint8_t(*)[32])range, nr, use, nh,
			     (const uint8_t(*)[32])(path + level), pl - level, &out, &ol, NULL),
			 KTA_OK);
	free(na);
	free(nb);
	return out;
}

static void corrupt_new_hash(json_t *j)
{
	json_t *p = json_object_get(j, "proofs");
	char s[45];

	tu_copy_str(s, sizeof(s), json_string_value(json_object_get(p, "new_hash")));
	s[0] = s[0] == 'A' ? 'B' : 'A';
	json_object_set_new(p, "new_hash", json_string(s));
}

static void corrupt_old_range(json_t *j)
{
	json_t *r = json_object_get(json_object_get(j, "proofs"), "old_range");
	char s[45];

	tu_copy_str(s, sizeof(s), json_string_value(json_array_get(r, 0)));
	s[5] = s[5] == 'A' ? 'B' : 'A';
	json_array_set_new(r, 0, json_string(s));
}

static void drop_path_hash(json_t *j)
{
	json_t *p = json_object_get(json_object_get(j, "proofs"), "audit_path");

	json_array_remove(p, json_array_size(p) - 1);
}

static void bump_range_index(json_t *j)
{
	json_t *p = json_object_get(j, "proofs");

	json_object_set_new(
	    p, "range_index",
	    json_integer(json_integer_value(json_object_get(p, "range_index")) + 1));
}

static void drop_proofs(json_t *j)
{
	json_object_del(j, "proofs");
}

static void fork_two_sizes(void **state)
{
	uint8_t a[64][32], b[64][32];
	uint64_t m, n, rng = 7;
	char *bundle, *x;
	int checked = 0, skipped = 0;

	(void)state;
	/* every pair m < n up to 20 with one leaf < m changed: the evidence holds */
	for (n = 2; n <= 20; n++)
		for (m = 1; m < n; m++) {
			uint64_t d = tu_rand(&rng) % m;

			mk_leaves(a, n, 1);
			memcpy(b, a, sizeof(a));
			mk_leaves(b + d, 1, 2);
			bundle = fork_prefix_bundle((const uint8_t(*)[32])a, m,
						    (const uint8_t(*)[32])b, n, SIZE_MAX);
			assert_non_null(bundle);
			expect_holds(bundle, KTA_EVIDENCE_FORK);
			free(bundle);
			/* an honest extension gives no differing subtree, and a bundle
			 * that claims one anyway is rejected */
			assert_null(fork_prefix_bundle((const uint8_t(*)[32])a, m,
						       (const uint8_t(*)[32])a, n, SIZE_MAX));
			bundle = fork_prefix_bundle((const uint8_t(*)[32])a, m,
						    (const uint8_t(*)[32])a, n, 0);
			expect_status(bundle, KTA_ERR_VERIFY, "claim does not follow");
			free(bundle);
			checked++;
		}
	assert_int_equal(checked, 190);

	/* A the larger tree (an auditor's, against a smaller head it was shown):
	 * the evidence holds when a subtree of A that B has entirely differs */
	checked = 0;
	for (m = 2; m <= 20; m++)
		for (n = 1; n < m; n++) {
			uint64_t d = (m * 7 + n) % n, begin = 0;
			size_t i, fits = SIZE_MAX;
			unsigned level = 0;

			mk_leaves(a, m, 1);
			memcpy(b, a, sizeof(a));
			mk_leaves(b + d, 1, 2);
			for (i = 0; kta_evidence_subtree(m, i, &begin, &level, NULL) == KTA_OK; i++)
				if (d >= begin && d - begin < ((uint64_t)1 << level) &&
				    begin + ((uint64_t)1 << level) <= n)
					fits = i;
			bundle = fork_prefix_bundle((const uint8_t(*)[32])a, m,
						    (const uint8_t(*)[32])b, n, SIZE_MAX);
			if (fits == SIZE_MAX) {
				/* the changed leaf's subtree of A reaches past B: no claim */
				assert_null(bundle);
				skipped++;
				continue;
			}
			assert_non_null(bundle);
			expect_holds(bundle, KTA_EVIDENCE_FORK);
			free(bundle);
			checked++;
		}
	print_message("larger A: %d held, %d without a claim\n", checked, skipped);
	assert_int_equal(checked + skipped, 190);
	/* counted apart: the subtree of m holding d ends at or before n */
	assert_int_equal(checked, 41);
	/* a subtree of A that B does not have entirely proves nothing: m = 7
	 * (subtrees [0,4) [4,6) [6,7)), n = 5, the subtree [4,6) */
	mk_leaves(a, 7, 1);
	memcpy(b, a, sizeof(a));
	mk_leaves(b + 4, 1, 2);
	bundle = fork_prefix_bundle((const uint8_t(*)[32])a, 7, (const uint8_t(*)[32])b, 5, 1);
	expect_status(bundle, KTA_ERR_VERIFY, "not inside the tree of size 5");
	free(bundle);

	/* tampering, with m = 13 < n = 40 */
	mk_leaves(a, 40, 1);
	memcpy(b, a, sizeof(a));
	mk_leaves(b + 12, 1, 3);
	bundle =
	    fork_prefix_bundle((const uint8_t(*)[32])a, 13, (const uint8_t(*)[32])b, 40, SIZE_MAX);
	expect_holds(bundle, KTA_EVIDENCE_FORK);
	{
		struct kta_evidence_result res;

		assert_int_equal(verify(bundle, &res, NULL), KTA_OK);
		assert_non_null(strstr(res.statement, "leaves [12, 13)"));
	}
	x = edit(bundle, corrupt_new_hash);
	expect_status(x, KTA_ERR_VERIFY, NULL);
	free(x);
	x = edit(bundle, corrupt_old_range);
	expect_status(x, KTA_ERR_VERIFY, "old_range");
	free(x);
	x = edit(bundle, drop_path_hash);
	expect_status(x, KTA_ERR_VERIFY, "audit_path");
	free(x);
	x = edit(bundle, bump_range_index);
	expect_status(x, KTA_ERR_VERIFY, NULL);
	free(x);
	x = edit(bundle, swap_checkpoints);
	expect_status(x, KTA_ERR_VERIFY, "old_range has 3 hashes; a tree of size 40 has 2");
	free(x);
	x = edit(bundle, drop_proofs);
	expect_status(x, KTA_ERR_MALFORMED, "proofs");
	free(x);
	flip_all(bundle, NULL);
	free(bundle);
}

/* ---- fork, two sizes, consistency form -------------------------------------- */

/*
 * The consistency-form bundle for A = a[0, m) and B = b[0, n): PROOF(m,
 * D[n]) of b, seeded with b's subtree [0, m) when m is a power of two.
 */
static char *fork_consistency_bundle(const uint8_t (*a)[32], uint64_t m, const uint8_t (*b)[32],
				     uint64_t n)
{
	uint8_t vec[KTA_MERKLE_MAX_PROOF + 1][32], *na, *nb;
	size_t seed = (m & (m - 1)) == 0 ? 1 : 0, pl = 0, la, lb, ol;
	char *out = NULL;

	assert_int_equal(kta_merkle_consistency_proof(hasher, b, n, m, vec + seed,
						      KTA_MERKLE_MAX_PROOF, &pl, NULL),
			 KTA_OK);
	if (seed)
		assert_int_equal(kta_merkle_root(hasher, b, m, vec[0], NULL), KTA_OK);
	na = cp_of(a, m, &la);
	nb = cp_of(b, n, &lb);
	assert_int_equal(kta_evidence_fork_consistency(ORIGIN, na, la, nb, lb,
						       (const uint8_t(*)[32])vec, pl + seed, &out,
						       &ol, NULL),
			 KTA_OK);
	assert_int_equal(ol, strlen(out));
	free(na);
	free(nb);
	return out;
}

static void corrupt_consistency(json_t *j)
{
	json_t *r = json_object_get(json_object_get(j, "proofs"), "consistency");
	char s[45];

	tu_copy_str(s, sizeof(s), json_string_value(json_array_get(r, 0)));
	s[5] = s[5] == 'A' ? 'B' : 'A';
	json_array_set_new(r, 0, json_string(s));
}

static void drop_consistency_hash(json_t *j)
{
	json_t *p = json_object_get(json_object_get(j, "proofs"), "consistency");

	json_array_remove(p, json_array_size(p) - 1);
}

static void add_consistency_hash(json_t *j)
{
	json_t *p = json_object_get(json_object_get(j, "proofs"), "consistency");

	json_array_append_new(p, json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
}

static void mix_proof_forms(json_t *j)
{
	json_object_set_new(json_object_get(j, "proofs"), "range_index", json_integer(0));
}

static void fork_consistency(void **state)
{
	uint8_t a[64][32], b[64][32];
	uint64_t m, n, rng = 11;
	char *bundle, *x;
	int checked = 0;

	(void)state;
	/* every pair m < n up to 20 (powers of two included) with one leaf < m
	 * changed: the evidence holds; for an honest extension it does not */
	for (n = 2; n <= 20; n++)
		for (m = 1; m < n; m++) {
			uint64_t d = tu_rand(&rng) % m;

			mk_leaves(a, n, 1);
			memcpy(b, a, sizeof(a));
			mk_leaves(b + d, 1, 2);
			bundle = fork_consistency_bundle((const uint8_t(*)[32])a, m,
							 (const uint8_t(*)[32])b, n);
			expect_holds(bundle, KTA_EVIDENCE_FORK);
			free(bundle);
			bundle = fork_consistency_bundle((const uint8_t(*)[32])a, m,
							 (const uint8_t(*)[32])a, n);
			expect_status(bundle, KTA_ERR_VERIFY, "no fork");
			free(bundle);
			checked++;
		}
	assert_int_equal(checked, 190);

	/* tampering, with m = 13 < n = 40 and m = 8 < n = 21 (seeded) */
	for (m = 8; m <= 13; m += 5) {
		n = m == 8 ? 21 : 40;
		mk_leaves(a, n, 1);
		memcpy(b, a, sizeof(a));
		mk_leaves(b + m - 1, 1, 3);
		bundle =
		    fork_consistency_bundle((const uint8_t(*)[32])a, m, (const uint8_t(*)[32])b, n);
		expect_holds(bundle, KTA_EVIDENCE_FORK);
		{
			struct kta_evidence_result res;

			assert_int_equal(verify(bundle, &res, NULL), KTA_OK);
			assert_int_equal(res.strong, 1);
			assert_non_null(strstr(res.statement, "consistency proof"));
		}
		x = edit(bundle, corrupt_consistency);
		expect_status(x, KTA_ERR_VERIFY, "second checkpoint's root");
		free(x);
		x = edit(bundle, drop_consistency_hash);
		expect_status(x, KTA_ERR_VERIFY, "proofs.consistency");
		free(x);
		x = edit(bundle, add_consistency_hash);
		expect_status(x, KTA_ERR_VERIFY, "proofs.consistency");
		free(x);
		x = edit(bundle, swap_checkpoints);
		expect_status(x, KTA_ERR_VERIFY, "smaller tree");
		free(x);
		x = edit(bundle, mix_proof_forms);
		expect_status(x, KTA_ERR_MALFORMED, "range_index");
		free(x);
		x = edit(bundle, dup_first_checkpoint);
		expect_status(x, KTA_ERR_MALFORMED, "same-size");
		free(x);
		flip_all(bundle, NULL);
		free(bundle);
	}
	/* builder usage */
	{
		char *out = (char *)1;
		size_t ol = 0;

		assert_int_equal(kta_evidence_fork_consistency(ORIGIN, (const uint8_t *)"a", 1,
							       (const uint8_t *)"b", 1, NULL, 0,
							       &out, &ol, NULL),
				 KTA_ERR_USAGE);
		assert_null(out);
	}
}

/* ---- rollback ------------------------------------------------------------- */

static void rollback(void **state)
{
	uint8_t a[10][32], *n1, *n2;
	size_t l1, l2, ol;
	char *out = NULL, *x;
	struct kta_evidence_result res;

	(void)state;
	mk_leaves(a, 10, 1);
	n1 = cp_of((const uint8_t(*)[32])a, 10, &l1);
	n2 = cp_of((const uint8_t(*)[32])a, 5, &l2);
	assert_int_equal(kta_evidence_rollback(ORIGIN, n1, l1, n2, l2, &out, &ol, NULL), KTA_OK);
	expect_holds(out, KTA_EVIDENCE_ROLLBACK);
	assert_int_equal(verify(out, &res, NULL), KTA_OK);
	assert_false(res.strong);
	assert_non_null(strstr(res.statement, "rollback as observed"));
	x = edit(out, swap_checkpoints);
	expect_status(x, KTA_ERR_VERIFY, "no rollback");
	free(x);
	x = edit(out, dup_first_checkpoint);
	expect_status(x, KTA_ERR_VERIFY, "no rollback");
	free(x);
	x = edit(out, add_empty_proofs);
	expect_status(x, KTA_ERR_MALFORMED, "proofs");
	free(x);
	flip_all(out, NULL);
	free(out);
	free(n1);
	free(n2);
}

/* ---- entries: root_mismatch and version_equivocation ------------------------ */

/* A keydir entry for label/version with one key of bytes fill. */
static uint8_t *mk_entry(const char *label, uint64_t version, int fill, size_t *len)
{
	struct kta_entry e;
	struct kta_entry_key k;
	uint8_t *out = NULL;

	memset(&e, 0, sizeof(e));
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	memset(k.pub, fill, 32);
	k.device = (char *)"phone";
	e.label = (char *)(uintptr_t)label;
	e.version = version;
	e.time = 5;
	e.keys = &k;
	e.nkeys = 1;
	assert_int_equal(kta_entry_serialize(&e, &out, len, NULL), KTA_OK);
	return out;
}

struct etree {
	uint8_t *ent[12];
	size_t len[12];
	uint8_t leaves[12][32];
	uint8_t *note;
	size_t note_len;
};

/* 12 entries: alice v1 at leaf 2 and again (other keys) at leaf 7; others distinct. */
static void etree_make(struct etree *t)
{
	size_t i;

	for (i = 0; i < 12; i++) {
		char label[16];

		snprintf(label, sizeof(label), "user%zu", i);
		if (i == 2 || i == 7)
			t->ent[i] = mk_entry("alice", 1, (int)i, &t->len[i]);
		else if (i == 9)
			t->ent[i] = mk_entry("alice", 2, 1, &t->len[i]);
		else
			t->ent[i] = mk_entry(label, 1, 1, &t->len[i]);
		kta_hash_leaf(hasher, t->ent[i], t->len[i], t->leaves[i]);
	}
	t->note = cp_of((const uint8_t(*)[32])t->leaves, 12, &t->note_len);
}

static void etree_free(struct etree *t)
{
	size_t i;

	for (i = 0; i < 12; i++)
		free(t->ent[i]);
	free(t->note);
}

static uint8_t proofs[12][KTA_MERKLE_MAX_PROOF][32];

static struct kta_evidence_entry ev_entry(struct etree *t, uint64_t i)
{
	struct kta_evidence_entry e;

	e.leaf_index = i;
	e.entry = t->ent[i];
	e.entry_len = t->len[i];
	assert_int_equal(kta_merkle_inclusion_proof(hasher, (const uint8_t(*)[32])t->leaves, 12, i,
						    proofs[i], KTA_MERKLE_MAX_PROOF, &e.path_len,
						    NULL),
			 KTA_OK);
	e.path = (const uint8_t(*)[32])proofs[i];
	return e;
}

static void drop_leaf_hash(json_t *j)
{
	json_object_del(json_array_get(json_object_get(j, "entries"), 0), "leaf_hash");
}

static void bump_leaf_index(json_t *j)
{
	json_t *e = json_array_get(json_object_get(j, "entries"), 0);

	json_object_set_new(e, "leaf_index",
			    json_integer(json_integer_value(json_object_get(e, "leaf_index")) + 1));
}

static void drop_second_entry(json_t *j)
{
	json_array_remove(json_object_get(j, "entries"), 1);
}

static void copy_first_entry(json_t *j)
{
	json_t *e = json_object_get(j, "entries");

	json_array_set(e, 1, json_array_get(e, 0));
}

static void root_mismatch(void **state)
{
	struct etree t;
	struct kta_evidence_entry e;
	uint8_t *served;
	size_t sl, ol;
	char *out = NULL, *x;
	struct kta_evidence_result res;

	(void)state;
	etree_make(&t);
	e = ev_entry(&t, 4);
	/* the log served other bytes for leaf 4 */
	served = mk_entry("user4", 1, 9, &sl);
	e.entry = served;
	e.entry_len = sl;
	assert_int_equal(kta_evidence_root_mismatch(ORIGIN, t.note, t.note_len, &e, t.leaves[4],
						    &out, &ol, NULL),
			 KTA_OK);
	expect_holds(out, KTA_EVIDENCE_ROOT_MISMATCH);
	assert_int_equal(verify(out, &res, NULL), KTA_OK);
	assert_non_null(strstr(res.statement, "leaf 4 of the log"));
	x = edit(out, drop_leaf_hash);
	expect_status(x, KTA_ERR_MALFORMED, "leaf_hash");
	free(x);
	x = edit(out, bump_leaf_index);
	expect_status(x, KTA_ERR_VERIFY, "not in the signed tree");
	free(x);
	/* the served entry is what is served; everything else is protected */
	flip_all(out, "entry");
	free(out);
	/* the entry that IS logged proves nothing */
	e = ev_entry(&t, 4);
	assert_int_equal(kta_evidence_root_mismatch(ORIGIN, t.note, t.note_len, &e, t.leaves[4],
						    &out, &ol, NULL),
			 KTA_OK);
	expect_status(out, KTA_ERR_VERIFY, "no mismatch");
	free(out);
	/* a leaf hash that is not in the tree */
	e.entry = served;
	e.entry_len = sl;
	assert_int_equal(kta_evidence_root_mismatch(ORIGIN, t.note, t.note_len, &e, t.leaves[5],
						    &out, &ol, NULL),
			 KTA_OK);
	expect_status(out, KTA_ERR_VERIFY, "not in the signed tree");
	free(out);
	free(served);
	etree_free(&t);
}

static void version_equivocation(void **state)
{
	struct etree t;
	struct kta_evidence_entry a, b;
	size_t ol;
	char *out = NULL, *x;
	struct kta_evidence_result res;

	(void)state;
	etree_make(&t);
	a = ev_entry(&t, 2);
	b = ev_entry(&t, 7);
	assert_int_equal(
	    kta_evidence_version_equivocation(ORIGIN, t.note, t.note_len, &a, &b, &out, &ol, NULL),
	    KTA_OK);
	expect_holds(out, KTA_EVIDENCE_VERSION_EQUIVOCATION);
	assert_int_equal(verify(out, &res, NULL), KTA_OK);
	assert_true(res.strong);
	assert_non_null(strstr(res.statement, "version 1 of label alice, at leaves 2 and 7"));
	x = edit(out, drop_second_entry);
	expect_status(x, KTA_ERR_MALFORMED, "entries");
	free(x);
	x = edit(out, copy_first_entry);
	expect_status(x, KTA_ERR_VERIFY, "the same");
	free(x);
	x = edit(out, bump_leaf_index);
	expect_status(x, KTA_ERR_VERIFY, "not in the signed tree");
	free(x);
	flip_all(out, NULL);
	free(out);
	/* different versions of one label: no equivocation */
	b = ev_entry(&t, 9);
	assert_int_equal(
	    kta_evidence_version_equivocation(ORIGIN, t.note, t.note_len, &a, &b, &out, &ol, NULL),
	    KTA_OK);
	expect_status(out, KTA_ERR_VERIFY, "different labels or versions");
	free(out);
	/* different labels */
	b = ev_entry(&t, 3);
	assert_int_equal(
	    kta_evidence_version_equivocation(ORIGIN, t.note, t.note_len, &a, &b, &out, &ol, NULL),
	    KTA_OK);
	expect_status(out, KTA_ERR_VERIFY, "different labels or versions");
	free(out);
	etree_free(&t);
}

/* Entries that are in the tree but are not keydir entries prove no equivocation. */
static void equivocation_needs_entries(void **state)
{
	uint8_t leaves[2][32], path[2][KTA_MERKLE_MAX_PROOF][32], *note;
	const char *raw[2] = {"not an entry", "not one either"};
	struct kta_evidence_entry e[2];
	size_t nl, ol, i;
	char *out = NULL;

	(void)state;
	for (i = 0; i < 2; i++)
		kta_hash_leaf(hasher, (const uint8_t *)raw[i], strlen(raw[i]), leaves[i]);
	note = cp_of((const uint8_t(*)[32])leaves, 2, &nl);
	for (i = 0; i < 2; i++) {
		e[i].leaf_index = i;
		e[i].entry = (const uint8_t *)raw[i];
		e[i].entry_len = strlen(raw[i]);
		assert_int_equal(kta_merkle_inclusion_proof(hasher, (const uint8_t(*)[32])leaves, 2,
							    i, path[i], KTA_MERKLE_MAX_PROOF,
							    &e[i].path_len, NULL),
				 KTA_OK);
		e[i].path = (const uint8_t(*)[32])path[i];
	}
	assert_int_equal(
	    kta_evidence_version_equivocation(ORIGIN, note, nl, &e[0], &e[1], &out, &ol, NULL),
	    KTA_OK);
	expect_status(out, KTA_ERR_VERIFY, "not a keydir/v1 entry");
	free(out);
	free(note);
}

/* ---- malformed bundles ------------------------------------------------------ */

static void malformed(void **state)
{
	struct kta_evidence_result res;
	struct kta_error err;
	char *big;
	size_t n = KTA_EVIDENCE_MAX_SIZE + 1;

	(void)state;
	expect_status("", KTA_ERR_MALFORMED, NULL);
	expect_status("[]", KTA_ERR_MALFORMED, "not a JSON object");
	expect_status("{\"type\":\"fork\",\"type\":\"fork\"}", KTA_ERR_MALFORMED, NULL);
	expect_status("{\"type\":\"spoon\"}", KTA_ERR_MALFORMED, "unknown type");
	expect_status("{\"type\":3}", KTA_ERR_MALFORMED, "type");
	expect_status("{\"type\":\"rollback\",\"log\":\"" ORIGIN
		      "\",\"checkpoints\":[\"a\"],\"explanation\":\"\"}",
		      KTA_ERR_MALFORMED, "checkpoints");
	expect_status("{\"type\":\"rollback\",\"log\":\"" ORIGIN
		      "\",\"checkpoints\":[1,2],\"explanation\":\"\"}",
		      KTA_ERR_MALFORMED, "not a string");
	expect_status("{\"type\":\"rollback\",\"log\":\"" ORIGIN
		      "\",\"checkpoints\":[\"x\",\"y\"],\"explanation\":\"\"}",
		      KTA_ERR_MALFORMED, "checkpoints[0]");
	expect_status("{\"type\":\"rollback\",\"checkpoints\":[\"x\",\"y\"],\"explanation\":\"\"}",
		      KTA_ERR_MALFORMED, "log");
	expect_status("{\"type\":\"root_mismatch\",\"log\":\"" ORIGIN
		      "\",\"checkpoints\":[\"x\"],\"entries\":[{\"leaf_index\":0}],"
		      "\"explanation\":\"\"}",
		      KTA_ERR_MALFORMED, "entries[0]");
	expect_status("{\"type\":\"rollback\",\"log\":\"" ORIGIN
		      "\",\"checkpoints\":[\"x\",\"y\"],\"entries\":[],\"explanation\":\"\"}",
		      KTA_ERR_MALFORMED, "entries");
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	assert_int_equal(kta_evidence_verify((const uint8_t *)big, n, vkey, NULL, NOW, &res, &err),
			 KTA_ERR_LIMIT);
	free(big);
}

/* ---- subtree helpers ---------------------------------------------------------- */

static void subtree_math(void **state)
{
	uint8_t leaves[40][32], node[32], root[32], path[KTA_MERKLE_MAX_PROOF][32];
	uint64_t n, b, begin;
	unsigned k, level;
	size_t pl;
	int checked = 0;

	(void)state;
	assert_int_equal(kta_evidence_subtree(13, 0, &begin, &level, NULL), KTA_OK);
	assert_int_equal(begin, 0);
	assert_int_equal(level, 3);
	assert_int_equal(kta_evidence_subtree(13, 1, &begin, &level, NULL), KTA_OK);
	assert_int_equal(begin, 8);
	assert_int_equal(level, 2);
	assert_int_equal(kta_evidence_subtree(13, 2, &begin, &level, NULL), KTA_OK);
	assert_int_equal(begin, 12);
	assert_int_equal(level, 0);
	assert_int_equal(kta_evidence_subtree(13, 3, &begin, &level, NULL), KTA_ERR_USAGE);
	assert_int_equal(kta_evidence_subtree(0, 0, &begin, &level, NULL), KTA_ERR_USAGE);

	/* every aligned perfect subtree of every tree up to 40 leaves */
	mk_leaves(leaves, 40, 5);
	for (n = 1; n <= 40; n++) {
		assert_int_equal(
		    kta_merkle_root(hasher, (const uint8_t(*)[32])leaves, n, root, NULL), KTA_OK);
		for (k = 0; ((uint64_t)1 << k) <= n; k++)
			for (b = 0; b + ((uint64_t)1 << k) <= n; b += (uint64_t)1 << k) {
				assert_int_equal(kta_merkle_root(hasher,
								 (const uint8_t(*)[32])leaves + b,
								 (uint64_t)1 << k, node, NULL),
						 KTA_OK);
				assert_int_equal(kta_merkle_inclusion_proof(
						     hasher, (const uint8_t(*)[32])leaves, n, b,
						     path, KTA_MERKLE_MAX_PROOF, &pl, NULL),
						 KTA_OK);
				assert_int_equal(
				    kta_evidence_verify_subtree(b, k, n, node,
								(const uint8_t(*)[32])(path + k),
								pl - k, root, NULL),
				    KTA_OK);
				/* the wrong position, a wrong hash, a short path */
				if (n > ((uint64_t)1 << k))
					assert_int_not_equal(kta_evidence_verify_subtree(
								 b == 0 ? (uint64_t)1 << k : 0, k,
								 n, node,
								 (const uint8_t(*)[32])(path + k),
								 pl - k, root, NULL),
							     KTA_OK);
				node[0] ^= 1;
				assert_int_equal(
				    kta_evidence_verify_subtree(b, k, n, node,
								(const uint8_t(*)[32])(path + k),
								pl - k, root, NULL),
				    KTA_ERR_VERIFY);
				node[0] ^= 1;
				if (pl > k)
					assert_int_equal(kta_evidence_verify_subtree(
							     b, k, n, node,
							     (const uint8_t(*)[32])(path + k),
							     pl - k - 1, root, NULL),
							 KTA_ERR_VERIFY);
				checked++;
			}
	}
	assert_true(checked > 500);
	/* misaligned, outside */
	assert_int_equal(kta_evidence_verify_subtree(1, 1, 8, node, NULL, 0, root, NULL),
			 KTA_ERR_VERIFY);
	assert_int_equal(kta_evidence_verify_subtree(8, 3, 8, node, NULL, 0, root, NULL),
			 KTA_ERR_VERIFY);
	assert_int_equal(kta_evidence_verify_subtree(0, 64, 8, node, NULL, 0, root, NULL),
			 KTA_ERR_VERIFY);
	assert_string_equal(kta_evidence_type_name(KTA_EVIDENCE_ROOT_MISMATCH), "root_mismatch");
	assert_string_equal(kta_evidence_type_name((enum kta_evidence_type)0), "unknown");
}

static void builder_usage(void **state)
{
	char *out = NULL;
	size_t ol;
	uint8_t h[32] = {0};
	struct kta_evidence_entry e;

	(void)state;
	assert_int_equal(kta_evidence_rollback(NULL, (const uint8_t *)"a", 1, (const uint8_t *)"b",
					       1, &out, &ol, NULL),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_evidence_rollback(ORIGIN, (const uint8_t *)"\xff", 1,
					       (const uint8_t *)"b", 1, &out, &ol, NULL),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_evidence_fork_prefix(ORIGIN, (const uint8_t *)"a", 1,
						  (const uint8_t *)"b", 1, NULL, 0, 0, h, NULL, 0,
						  &out, &ol, NULL),
			 KTA_ERR_USAGE);
	memset(&e, 0, sizeof(e));
	assert_int_equal(
	    kta_evidence_root_mismatch(ORIGIN, (const uint8_t *)"a", 1, &e, h, &out, &ol, NULL),
	    KTA_ERR_USAGE);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fork_same_size),
	    cmocka_unit_test(fork_other_signer),
	    cmocka_unit_test(fork_two_sizes),
	    cmocka_unit_test(fork_consistency),
	    cmocka_unit_test(rollback),
	    cmocka_unit_test(root_mismatch),
	    cmocka_unit_test(version_equivocation),
	    cmocka_unit_test(equivocation_needs_entries),
	    cmocka_unit_test(malformed),
	    cmocka_unit_test(subtree_math),
	    cmocka_unit_test(builder_usage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
