/*
 * Unit tests for lookup answers (lookup.h): a small key directory is built in
 * memory (keydir/v1 entries, RFC 9162 tree, signed and cosigned checkpoint),
 * answers are assembled with jansson, and every forgery and bad encoding must
 * be rejected with the right status.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/evidence.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/lookup.h"
#include "ktaudit/merkle.h"
#include "ktaudit/note.h"

#define ORIGIN "keys.example.org/log"
#define NLEAVES 6
#define NOW 1764143000

/* The directory: entries, tree, keys and a signed checkpoint. */
struct dir {
	char entries[NLEAVES][512];
	uint8_t leaves[NLEAVES][32];
	uint8_t root[32];
	struct kta_skey *sk, *wsk;
	struct kta_vkey *vk, *wvk;
	uint8_t *note; /* signed (and cosigned) checkpoint */
	size_t note_len;
	struct kta_hasher *h;
};

static void make_entry(char *out, size_t cap, const char *label, int version, int key)
{
	uint8_t pub[32];
	char b64[KTA_B64_ENCODED_LEN(32) + 1];

	memset(pub, key, sizeof(pub));
	kta_b64_encode(pub, 32, b64);
	(void)snprintf(out, cap, "keydir/v1\nlabel %s\nversion %d\ntime %d\nkey ed25519 %s phone\n",
		       label, version, 1764000000 + version, b64);
}

static uint8_t *sign_checkpoint(struct dir *d, const struct kta_skey *k, const char *origin,
				uint64_t size, const uint8_t root[32], size_t *len)
{
	char text[256], b64[KTA_B64_ENCODED_LEN(32) + 1];
	uint8_t *note = NULL;
	struct kta_error err;

	(void)d;
	kta_b64_encode(root, 32, b64);
	(void)snprintf(text, sizeof(text), "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
	assert_int_equal(kta_note_sign((const uint8_t *)text, strlen(text), k, &note, len, &err),
			 KTA_OK);
	return note;
}

static struct dir *dir_new(void)
{
	struct dir *d = calloc(1, sizeof(*d));
	struct kta_error err;
	uint8_t seed[32];
	uint8_t *cosigned;
	size_t i, n;

	assert_non_null(d);
	make_entry(d->entries[0], 512, "alice@example.org", 1, 1);
	make_entry(d->entries[1], 512, "bob@example.org", 1, 2);
	make_entry(d->entries[2], 512, "alice@example.org", 2, 3);
	make_entry(d->entries[3], 512, "carol@example.org", 1, 4);
	/* An included leaf that is not a keydir/v1 entry. */
	(void)snprintf(d->entries[4], 512, "hello, world\n");
	make_entry(d->entries[5], 512, "\xc3\xa9ve@example.org", 1, 5);
	assert_int_equal(kta_hasher_new(&d->h, &err), KTA_OK);
	for (i = 0; i < NLEAVES; i++)
		kta_hash_leaf(d->h, (const uint8_t *)d->entries[i], strlen(d->entries[i]),
			      d->leaves[i]);
	assert_int_equal(
	    kta_merkle_root(d->h, (const uint8_t(*)[32])d->leaves, NLEAVES, d->root, &err), KTA_OK);
	memset(seed, 0x42, sizeof(seed));
	assert_int_equal(kta_skey_from_seed(ORIGIN, KTA_KEY_ED25519, seed, &d->sk, &err), KTA_OK);
	assert_int_equal(kta_skey_vkey(d->sk, &d->vk, &err), KTA_OK);
	assert_int_equal(
	    kta_skey_generate("witness.example.org", KTA_KEY_COSIGNATURE_V1, &d->wsk, &err),
	    KTA_OK);
	assert_int_equal(kta_skey_vkey(d->wsk, &d->wvk, &err), KTA_OK);
	d->note = sign_checkpoint(d, d->sk, ORIGIN, NLEAVES, d->root, &n);
	assert_int_equal(
	    kta_checkpoint_cosign(d->note, n, d->wsk, NOW - 60, &cosigned, &d->note_len, &err),
	    KTA_OK);
	free(d->note);
	d->note = cosigned;
	return d;
}

static void dir_free(struct dir *d)
{
	kta_skey_free(d->sk);
	kta_skey_free(d->wsk);
	kta_vkey_free(d->vk);
	kta_vkey_free(d->wvk);
	kta_hasher_free(d->h);
	free(d->note);
	free(d);
}

/* Builds the answer for leaf `index` as a jansson object (caller decrefs). */
static json_t *answer(struct dir *d, uint64_t index)
{
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32];
	char b64[KTA_B64_ENCODED_LEN(512) + 1];
	json_t *o = json_object(), *path = json_array();
	size_t n, i;
	struct kta_error err;

	assert_int_equal(kta_merkle_inclusion_proof(d->h, (const uint8_t(*)[32])d->leaves, NLEAVES,
						    index, proof, KTA_MERKLE_MAX_PROOF, &n, &err),
			 KTA_OK);
	for (i = 0; i < n; i++) {
		kta_b64_encode(proof[i], 32, b64);
		json_array_append_new(path, json_string(b64));
	}
	kta_b64_encode((const uint8_t *)d->entries[index], strlen(d->entries[index]), b64);
	json_object_set_new(o, "checkpoint", json_stringn((const char *)d->note, d->note_len));
	json_object_set_new(o, "leaf_index", json_integer((json_int_t)index));
	json_object_set_new(o, "entry", json_string(b64));
	json_object_set_new(o, "audit_path", path);
	return o;
}

static char *dump(const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_non_null(s);
	return s;
}

static void policy(struct dir *d, struct kta_checkpoint_policy *p, const struct kta_vkey **wit)
{
	memset(p, 0, sizeof(*p));
	p->log_key = d->vk;
	p->now = NOW;
	p->max_skew = 300;
	wit[0] = d->wvk;
	p->witnesses = (const struct kta_vkey *const *)wit;
	p->nwitnesses = 1;
	p->quorum = 1;
}

/* Parses and verifies the text s; returns the status, result freed. */
static enum kta_status check(struct dir *d, const char *s, size_t len, const char *label,
			     struct kta_error *err)
{
	struct kta_checkpoint_policy p;
	const struct kta_vkey *wit[1];
	struct kta_lookup *l = NULL;
	struct kta_lookup_result res;
	enum kta_status r;

	policy(d, &p, wit);
	r = kta_lookup_parse((const uint8_t *)s, len, &l, err);
	if (r != KTA_OK) {
		assert_null(l);
		return r;
	}
	r = kta_lookup_verify(l, &p, label, label ? strlen(label) : 0, &res, err);
	if (r != KTA_OK)
		assert_null(res.entry);
	kta_lookup_result_free(&res);
	kta_lookup_free(l);
	return r;
}

static void expect(struct dir *d, const json_t *o, const char *label, enum kta_status want,
		   const char *needle)
{
	struct kta_error err;
	char *s = dump(o);
	enum kta_status r = check(d, s, strlen(s), label, &err);

	if (r != want)
		fail_msg("status %s, want %s: %s\n%s", kta_status_str(r), kta_status_str(want),
			 err.msg, s);
	if (needle != NULL && strstr(err.msg, needle) == NULL)
		fail_msg("message lacks \"%s\": %s", needle, err.msg);
	free(s);
}

static void valid_answers(void **state)
{
	struct dir *d = dir_new();
	struct kta_checkpoint_policy p;
	const struct kta_vkey *wit[1];
	struct kta_lookup *l = NULL;
	struct kta_lookup_result res;
	struct kta_error err;
	json_t *o = answer(d, 2);
	char *s = dump(o);

	(void)state;
	policy(d, &p, wit);
	assert_int_equal(kta_lookup_parse((const uint8_t *)s, strlen(s), &l, &err), KTA_OK);
	assert_true(l->leaf_index == 2);
	assert_int_equal(l->path_len, 3);
	if (kta_lookup_verify(l, &p, "alice@example.org", 17, &res, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	assert_string_equal(res.entry->label, "alice@example.org");
	assert_true(res.entry->version == 2);
	assert_int_equal(res.entry->nkeys, 1);
	assert_true(res.leaf_index == 2);
	assert_true(res.cp.cp->size == NLEAVES);
	assert_memory_equal(res.cp.cp->root, d->root, 32);
	assert_string_equal(res.cp.cp->origin, ORIGIN);
	assert_int_equal(res.cp.cosigned, 1);
	assert_int_equal(res.raw_len, strlen(d->entries[2]));
	assert_memory_equal(res.raw, d->entries[2], res.raw_len);
	kta_lookup_result_free(&res);
	kta_lookup_result_free(&res); /* idempotent */
	kta_lookup_result_free(NULL);
	/* The label need not be NUL-terminated; NULL accepts any label. */
	assert_int_equal(kta_lookup_verify(l, &p, "alice@example.orgXYZ", 17, &res, &err), KTA_OK);
	kta_lookup_result_free(&res);
	assert_int_equal(kta_lookup_verify(l, &p, NULL, 0, &res, &err), KTA_OK);
	kta_lookup_result_free(&res);
	/* No policy. */
	assert_int_equal(kta_lookup_verify(l, NULL, NULL, 0, &res, &err), KTA_ERR_USAGE);
	kta_lookup_free(l);
	kta_lookup_free(NULL);
	free(s);
	json_decref(o);
	/* Every keydir leaf, first and last included; a non-ASCII label. */
	o = answer(d, 0);
	expect(d, o, "alice@example.org", KTA_OK, NULL);
	json_decref(o);
	o = answer(d, 5);
	expect(d, o, "\xc3\xa9ve@example.org", KTA_OK, NULL);
	json_decref(o);
	/* Member order does not matter: this one fails on the empty entry. */
	{
		const char *t =
		    "{\"audit_path\":[],\"entry\":\"\",\"leaf_index\":0,\"checkpoint\":\"\"}";

		assert_int_equal(check(d, t, strlen(t), NULL, &err), KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "\"entry\" is empty"));
	}
	dir_free(d);
}

static void wrong_label(void **state)
{
	struct dir *d = dir_new();
	json_t *o = answer(d, 2);

	(void)state;
	expect(d, o, "bob@example.org", KTA_ERR_VERIFY, "for label \"alice@example.org\"");
	expect(d, o, "alice@example.or", KTA_ERR_VERIFY, "not \"alice@example.or\"");
	expect(d, o, "alice@example.org.", KTA_ERR_VERIFY, NULL);
	expect(d, o, "Alice@example.org", KTA_ERR_VERIFY, NULL);
	expect(d, o, "", KTA_ERR_VERIFY, NULL);
	json_decref(o);
	dir_free(d);
}

static void forged_answers(void **state)
{
	struct dir *d = dir_new();
	json_t *o, *path;
	char b64[KTA_B64_ENCODED_LEN(512) + 1];
	uint8_t h[32];
	size_t n;
	struct kta_skey *other = NULL;
	uint8_t *note;

	(void)state;
	/* Another (valid) entry under leaf 2's proof. */
	o = answer(d, 2);
	kta_b64_encode((const uint8_t *)d->entries[3], strlen(d->entries[3]), b64);
	json_object_set_new(o, "entry", json_string(b64));
	expect(d, o, NULL, KTA_ERR_VERIFY, "is not leaf 2");
	json_decref(o);
	/* The entry of leaf 2 with one byte changed (still keydir/v1: version 3). */
	{
		char e[512];

		memcpy(e, d->entries[2], sizeof(e));
		strstr(e, "version 2")[8] = '3';
		o = answer(d, 2);
		kta_b64_encode((const uint8_t *)e, strlen(e), b64);
		json_object_set_new(o, "entry", json_string(b64));
		expect(d, o, "alice@example.org", KTA_ERR_VERIFY, "not leaf 2");
		json_decref(o);
	}
	/* Path: one bit flipped, one hash dropped, one added. */
	o = answer(d, 2);
	path = json_object_get(o, "audit_path");
	assert_int_equal(kta_b64_decode(json_string_value(json_array_get(path, 0)), 44, h, 32, &n),
			 KTA_OK);
	h[31] ^= 1;
	kta_b64_encode(h, 32, b64);
	json_array_set_new(path, 0, json_string(b64));
	expect(d, o, NULL, KTA_ERR_VERIFY, NULL);
	json_decref(o);
	o = answer(d, 2);
	json_array_remove(json_object_get(o, "audit_path"), 2);
	expect(d, o, NULL, KTA_ERR_VERIFY, NULL);
	json_array_append_new(json_object_get(o, "audit_path"), json_string(b64));
	json_array_append_new(json_object_get(o, "audit_path"), json_string(b64));
	expect(d, o, NULL, KTA_ERR_VERIFY, NULL);
	json_decref(o);
	/* Wrong leaf index: another index, and one beyond the tree. */
	o = answer(d, 2);
	json_object_set_new(o, "leaf_index", json_integer(3));
	expect(d, o, NULL, KTA_ERR_VERIFY, "leaf 3");
	json_object_set_new(o, "leaf_index", json_integer(NLEAVES));
	expect(d, o, NULL, KTA_ERR_VERIFY, NULL);
	json_object_set_new(o, "leaf_index", json_integer(INT64_MAX));
	expect(d, o, NULL, KTA_ERR_VERIFY, NULL);
	json_decref(o);
	/* A checkpoint signed by another key with the log's name. */
	assert_int_equal(kta_skey_generate(ORIGIN, KTA_KEY_ED25519, &other, NULL), KTA_OK);
	note = sign_checkpoint(d, other, ORIGIN, NLEAVES, d->root, &n);
	o = answer(d, 2);
	json_object_set_new(o, "checkpoint", json_stringn((const char *)note, n));
	expect(d, o, NULL, KTA_ERR_VERIFY, "\"checkpoint\"");
	json_decref(o);
	free(note);
	/* Signed by the log but not cosigned: the witness quorum is not met. */
	note = sign_checkpoint(d, d->sk, ORIGIN, NLEAVES, d->root, &n);
	o = answer(d, 2);
	json_object_set_new(o, "checkpoint", json_stringn((const char *)note, n));
	expect(d, o, NULL, KTA_ERR_VERIFY, "quorum");
	json_decref(o);
	free(note);
	/* Another origin, validly signed. */
	note = sign_checkpoint(d, d->sk, "keys.example.org/other", NLEAVES, d->root, &n);
	o = answer(d, 2);
	json_object_set_new(o, "checkpoint", json_stringn((const char *)note, n));
	expect(d, o, NULL, KTA_ERR_VERIFY, "\"checkpoint\"");
	json_decref(o);
	free(note);
	/* A checkpoint for a smaller tree (the proof is for 6 leaves). */
	{
		uint8_t r5[32];

		assert_int_equal(
		    kta_merkle_root(d->h, (const uint8_t(*)[32])d->leaves, 5, r5, NULL), KTA_OK);
		note = sign_checkpoint(d, d->sk, ORIGIN, 5, r5, &n);
		o = answer(d, 2);
		json_object_set_new(o, "checkpoint", json_stringn((const char *)note, n));
		expect(d, o, NULL, KTA_ERR_VERIFY, NULL);
		json_decref(o);
		free(note);
	}
	/* The signed note's text altered after signing. */
	{
		char *t = malloc(d->note_len + 1);

		assert_non_null(t);
		memcpy(t, d->note, d->note_len);
		t[d->note_len] = '\0';
		t[strlen(ORIGIN) + 1] = '7'; /* size 6 -> 7 */
		o = answer(d, 2);
		json_object_set_new(o, "checkpoint", json_stringn(t, d->note_len));
		expect(d, o, NULL, KTA_ERR_VERIFY, NULL);
		json_decref(o);
		free(t);
	}
	kta_skey_free(other);
	dir_free(d);
}

/* An included, signed leaf that is not keydir/v1 is malformed. */
static void not_keydir(void **state)
{
	struct dir *d = dir_new();
	json_t *o = answer(d, 4);

	(void)state;
	expect(d, o, NULL, KTA_ERR_MALFORMED, "\"entry\"");
	json_decref(o);
	dir_free(d);
}

static void strict_json(void **state)
{
	struct dir *d = dir_new();
	json_t *o;
	char *s, *big;
	struct kta_error err;
	size_t i;

	(void)state;
	/* Unknown, missing and duplicate members. */
	o = answer(d, 2);
	json_object_set_new(o, "extra", json_true());
	expect(d, o, NULL, KTA_ERR_MALFORMED, "unknown member \"extra\"");
	json_decref(o);
	{
		static const char *const members[] = {"checkpoint", "leaf_index", "entry",
						      "audit_path"};

		for (i = 0; i < 4; i++) {
			o = answer(d, 2);
			json_object_del(o, members[i]);
			expect(d, o, NULL, KTA_ERR_MALFORMED, members[i]);
			json_decref(o);
		}
	}
	o = answer(d, 2);
	s = dump(o);
	{
		size_t len = strlen(s);
		char *dup = malloc(len + 32);

		assert_non_null(dup);
		memcpy(dup, s, len - 1);
		memcpy(dup + len - 1, ",\"leaf_index\":2}", 17);
		assert_int_equal(check(d, dup, strlen(dup), NULL, &err), KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "duplicate"));
		free(dup);
	}
	free(s);
	json_decref(o);
	/* Member types and values. */
	o = answer(d, 2);
	json_object_set_new(o, "leaf_index", json_integer(-1));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "leaf_index");
	json_object_set_new(o, "leaf_index", json_real(2.0));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "leaf_index");
	json_object_set_new(o, "leaf_index", json_string("2"));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "leaf_index");
	json_object_set_new(o, "leaf_index", json_integer(2));
	json_object_set_new(o, "checkpoint", json_integer(1));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "checkpoint");
	json_object_set_new(o, "checkpoint", json_string("not a note"));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "checkpoint");
	json_decref(o);
	o = answer(d, 2);
	json_object_set_new(o, "entry", json_string(""));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "\"entry\" is empty");
	json_object_set_new(o, "entry", json_string("a2V5ZGlyL3Yx\n"));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "entry");
	json_object_set_new(o, "entry", json_string("Zm9=")); /* non-zero pad bits */
	expect(d, o, NULL, KTA_ERR_MALFORMED, "canonical");
	json_object_set_new(o, "entry", json_string("Zm9v_g=="));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "entry");
	json_object_set_new(o, "entry", json_array());
	expect(d, o, NULL, KTA_ERR_MALFORMED, "entry");
	json_decref(o);
	o = answer(d, 2);
	json_array_set_new(json_object_get(o, "audit_path"), 0, json_string("AAAA"));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "audit_path");
	json_array_set_new(json_object_get(o, "audit_path"), 0,
			   json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")); /* 33 */
	expect(d, o, NULL, KTA_ERR_MALFORMED, "audit_path");
	json_array_set_new(json_object_get(o, "audit_path"), 0,
			   json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")); /* 31 */
	expect(d, o, NULL, KTA_ERR_MALFORMED, "audit_path");
	json_array_set_new(json_object_get(o, "audit_path"), 0, json_integer(0));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "audit_path");
	json_object_set_new(o, "audit_path", json_string(""));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "audit_path");
	json_object_set_new(o, "audit_path", json_array());
	for (i = 0; i <= KTA_LOOKUP_MAX_PATH; i++)
		json_array_append_new(json_object_get(o, "audit_path"),
				      json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
	expect(d, o, NULL, KTA_ERR_MALFORMED, "audit_path");
	json_decref(o);
	/* Not an object, not JSON, a NUL, trailing data, out-of-range numbers. */
	{
		static const char *const bad[] = {
		    "[]",
		    "{\"checkpoint\":",
		    "{} {}",
		    "{\"leaf_index\":9223372036854775808}",
		    "{\"leaf_index\":1e3}",
		    "{\"checkpoint\":\"a\\u0000b\"}",
		    "",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(check(d, bad[i], strlen(bad[i]), NULL, &err),
					 KTA_ERR_MALFORMED);
		assert_int_equal(check(d, "{}\0", 3, NULL, &err), KTA_ERR_MALFORMED);
	}
	/* Size limits: the whole answer, the checkpoint, the entry. */
	big = malloc(KTA_LOOKUP_MAX_SIZE + 2);
	assert_non_null(big);
	memset(big, ' ', KTA_LOOKUP_MAX_SIZE + 1);
	big[0] = '{';
	big[KTA_LOOKUP_MAX_SIZE] = '}';
	big[KTA_LOOKUP_MAX_SIZE + 1] = '\0';
	assert_int_equal(check(d, big, KTA_LOOKUP_MAX_SIZE + 1, NULL, &err), KTA_ERR_LIMIT);
	memset(big, 'a', KTA_LOOKUP_CHECKPOINT_MAX + 1);
	big[KTA_LOOKUP_CHECKPOINT_MAX + 1] = '\0';
	o = answer(d, 2);
	json_object_set_new(o, "checkpoint", json_string(big));
	expect(d, o, NULL, KTA_ERR_LIMIT, "checkpoint");
	json_decref(o);
	memset(big, 'A', 87384); /* 65538 bytes */
	big[87384] = '\0';
	o = answer(d, 2);
	json_object_set_new(o, "entry", json_string(big));
	expect(d, o, NULL, KTA_ERR_LIMIT, "entry");
	json_decref(o);
	free(big);
	dir_free(d);
}

/* Every single-bit flip and every truncation of a valid answer fails cleanly. */
static void mutations(void **state)
{
	struct dir *d = dir_new();
	json_t *o = answer(d, 2);
	char *s = dump(o), *m;
	size_t len = strlen(s), i;
	unsigned bit;
	struct kta_error err;

	(void)state;
	m = malloc(len + 1);
	assert_non_null(m);
	assert_int_equal(check(d, s, len, "alice@example.org", &err), KTA_OK);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			enum kta_status r;

			memcpy(m, s, len + 1);
			m[i] = (char)(m[i] ^ (1 << bit));
			r = check(d, m, len, "alice@example.org", &err);
			if (r == KTA_OK)
				fail_msg("flip of bit %u at %zu accepted:\n%s", bit, i, m);
			assert_true(r == KTA_ERR_MALFORMED || r == KTA_ERR_VERIFY ||
				    r == KTA_ERR_LIMIT);
		}
	}
	for (i = 0; i < len; i++) {
		memcpy(m, s, len + 1);
		assert_int_not_equal(check(d, m, i, "alice@example.org", &err), KTA_OK);
	}
	free(m);
	free(s);
	json_decref(o);
	dir_free(d);
}

/* Verifies the answer for leaf index into *res (the caller frees it). */
static void verified(struct dir *d, uint64_t index, struct kta_lookup_result *res)
{
	struct kta_checkpoint_policy p;
	const struct kta_vkey *wit[1];
	struct kta_lookup *l = NULL;
	struct kta_error err;
	json_t *o = answer(d, index);
	char *s = dump(o);

	policy(d, &p, wit);
	assert_int_equal(kta_lookup_parse((const uint8_t *)s, strlen(s), &l, &err), KTA_OK);
	if (kta_lookup_verify(l, &p, NULL, 0, res, &err) != KTA_OK)
		fail_msg("answer for leaf %llu: %s", (unsigned long long)index, err.msg);
	kta_lookup_free(l);
	free(s);
	json_decref(o);
}

/* The audit's view of alice (leaves 0 and 2 of the fixture), with a later
 * version at leaf `v3_leaf` (0: none). */
static size_t alice_seen(struct dir *d, struct kta_lookup_seen *seen, uint64_t v3_leaf)
{
	size_t n = 0;

	seen[n++] =
	    (struct kta_lookup_seen){1, 0, (const uint8_t *)d->entries[0], strlen(d->entries[0])};
	seen[n++] =
	    (struct kta_lookup_seen){2, 2, (const uint8_t *)d->entries[2], strlen(d->entries[2])};
	if (v3_leaf != 0)
		seen[n++] = (struct kta_lookup_seen){3, v3_leaf, (const uint8_t *)"other", 5};
	return n;
}

/* A6, stale answers: an answer must be its label's latest entry at its tree
 * size in the audited log, with the audited bytes at its leaf. */
static void latest_against_audit(void **state)
{
	struct dir *d = dir_new();
	struct kta_lookup_result v1, v2;
	struct kta_lookup_seen seen[4], bad[2];
	struct kta_error err;
	size_t n;

	(void)state;
	verified(d, 0, &v1);
	verified(d, 2, &v2);
	n = alice_seen(d, seen, 0);
	/* version 2 is the latest below size 6 */
	assert_int_equal(kta_lookup_check_latest(&v2, seen, n, NLEAVES, &err), KTA_OK);
	/* a later version past the answer's size: outdated once audited */
	n = alice_seen(d, seen, NLEAVES + 3);
	assert_int_equal(kta_lookup_check_latest(&v2, seen, n, NLEAVES + 3, &err), KTA_OK);
	assert_int_equal(kta_lookup_check_latest(&v2, seen, n, NLEAVES + 4, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "outdated answer: version 2 at leaf 2 (tree size 6), but "
					"the audited log (size 10) holds a later entry of the "
					"label (version 3) at leaf 9"));
	/* version 1, under the same checkpoint, is stale: version 2 precedes
	 * its tree size (named, though version 3 is later still) */
	assert_int_equal(kta_lookup_check_latest(&v1, seen, n, NLEAVES + 4, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "stale answer: version 1 at leaf 0, but the audited log "
					"holds a later entry of the label (version 2) at leaf 2"));
	/* the audit has not reached the answer's size: it cannot tell */
	assert_int_equal(kta_lookup_check_latest(&v2, seen, n, NLEAVES - 1, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "cannot tell yet"));
	/* other bytes at the answer's leaf: another tree */
	n = alice_seen(d, seen, 0);
	seen[1].entry = (const uint8_t *)d->entries[3];
	seen[1].entry_len = strlen(d->entries[3]);
	assert_int_equal(kta_lookup_check_latest(&v2, seen, n, NLEAVES, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "not the audited log's entry at that leaf"));
	/* no audited entry at the answer's leaf at all */
	assert_int_equal(kta_lookup_check_latest(&v2, seen, 1, NLEAVES, &err), KTA_ERR_VERIFY);
	assert_int_equal(kta_lookup_check_latest(&v2, NULL, 0, NLEAVES, &err), KTA_ERR_VERIFY);
	/* a later entry at exactly the answer's tree size: outdated, not stale */
	n = alice_seen(d, seen, NLEAVES);
	assert_int_equal(kta_lookup_check_latest(&v2, seen, n, NLEAVES + 1, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "outdated answer"));
	/* the audited bytes with more after them are other bytes */
	n = alice_seen(d, seen, 0);
	seen[1].entry_len++;
	assert_int_equal(kta_lookup_check_latest(&v2, seen, n, NLEAVES, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "not the audited log's entry at that leaf"));
	/* a history out of leaf order, or with a leaf twice, is the caller's error */
	n = alice_seen(d, seen, 0);
	bad[0] = seen[1];
	bad[1] = seen[0];
	assert_int_equal(kta_lookup_check_latest(&v2, bad, 2, NLEAVES, &err), KTA_ERR_USAGE);
	bad[0] = seen[1];
	bad[1] = seen[1];
	assert_int_equal(kta_lookup_check_latest(&v2, bad, 2, NLEAVES, &err), KTA_ERR_USAGE);
	/* no verified answer, or a count without a history */
	assert_int_equal(kta_lookup_check_latest(NULL, seen, n, NLEAVES, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_lookup_check_latest(&v2, NULL, 1, NLEAVES, &err), KTA_ERR_USAGE);
	kta_lookup_result_free(&v1);
	kta_lookup_result_free(&v2);
	dir_free(d);
}

/* A tree of up to TREE_MAX keydir entries, one label each. */
#define TREE_MAX 16
struct tree {
	char entries[TREE_MAX][512];
	uint8_t leaves[TREE_MAX][32];
};

/* The honest tree; with fork_leaf < TREE_MAX that leaf has another key. */
static void tree_make(struct dir *d, struct tree *t, size_t fork_leaf)
{
	size_t i;
	char label[32];

	memset(t, 0, sizeof(*t));
	for (i = 0; i < TREE_MAX; i++) {
		(void)snprintf(label, sizeof(label), "user-%zu@example.org", i);
		make_entry(t->entries[i], 512, label, 1, i == fork_leaf ? 200 : (int)i + 1);
		kta_hash_leaf(d->h, (const uint8_t *)t->entries[i], strlen(t->entries[i]),
			      t->leaves[i]);
	}
}

/*
 * The answer for entry at leaf index under note, with path[0..n): parsed
 * (*l) and verified without witnesses (*res); the caller frees both.
 */
static void answer_parse(struct dir *d, const char *entry, uint64_t index, const uint8_t *note,
			 size_t note_len, const uint8_t (*path)[32], size_t n,
			 struct kta_lookup **l, struct kta_lookup_result *res)
{
	char b64[KTA_B64_ENCODED_LEN(512) + 1];
	struct kta_checkpoint_policy p;
	json_t *o = json_object(), *arr = json_array();
	struct kta_error err;
	size_t i;
	char *s;

	for (i = 0; i < n; i++) {
		kta_b64_encode(path[i], 32, b64);
		json_array_append_new(arr, json_string(b64));
	}
	kta_b64_encode((const uint8_t *)entry, strlen(entry), b64);
	json_object_set_new(o, "checkpoint", json_stringn((const char *)note, note_len));
	json_object_set_new(o, "leaf_index", json_integer((json_int_t)index));
	json_object_set_new(o, "entry", json_string(b64));
	json_object_set_new(o, "audit_path", arr);
	s = dump(o);
	memset(&p, 0, sizeof(p));
	p.log_key = d->vk;
	p.now = NOW;
	p.max_skew = 300;
	assert_int_equal(kta_lookup_parse((const uint8_t *)s, strlen(s), l, &err), KTA_OK);
	if (kta_lookup_verify(*l, &p, NULL, 0, res, &err) != KTA_OK)
		fail_msg("answer for leaf %llu: %s", (unsigned long long)index, err.msg);
	free(s);
	json_decref(o);
}

/* The first m leaves of t: its signed, cosigned checkpoint (*note) and, for leaf
 * index, the answer parsed (*l) and verified (*res); the caller frees all. */
static void tree_answer(struct dir *d, const struct tree *t, uint64_t m, uint64_t index,
			uint8_t **note, size_t *note_len, struct kta_lookup **l,
			struct kta_lookup_result *res)
{
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32], root[32];
	struct kta_error err;
	size_t n;

	assert_int_equal(kta_merkle_root(d->h, (const uint8_t(*)[32])t->leaves, m, root, &err),
			 KTA_OK);
	*note = sign_checkpoint(d, d->sk, ORIGIN, m, root, note_len);
	/* cosigned, as a publisher serves it: evidence carries notes as served */
	{
		uint8_t *cosigned = NULL;

		assert_int_equal(kta_checkpoint_cosign(*note, *note_len, d->wsk, NOW - 60,
						       &cosigned, note_len, &err),
				 KTA_OK);
		free(*note);
		*note = cosigned;
	}
	assert_int_equal(kta_merkle_inclusion_proof(d->h, (const uint8_t(*)[32])t->leaves, m, index,
						    proof, KTA_MERKLE_MAX_PROOF, &n, &err),
			 KTA_OK);
	answer_parse(d, t->entries[index], index, *note, *note_len, (const uint8_t(*)[32])proof, n,
		     l, res);
}

/* The audit: the honest tree's first `size` leaves, as a compact range
 * (*range) and a signed checkpoint (*note). */
static void tree_audit(struct dir *d, const struct tree *t, uint64_t size,
		       struct kta_compact_range **range, uint8_t root[32], uint8_t **note,
		       size_t *note_len)
{
	struct kta_error err;
	uint64_t i;

	assert_int_equal(kta_compact_range_new(range, &err), KTA_OK);
	for (i = 0; i < size; i++)
		assert_int_equal(kta_compact_range_append(*range, d->h, t->leaves[i], &err),
				 KTA_OK);
	assert_int_equal(kta_compact_range_root(*range, d->h, root, &err), KTA_OK);
	*note = sign_checkpoint(d, d->sk, ORIGIN, size, root, note_len);
}

/*
 * Builds the evidence bundle of fork f, which answer l (tree note bnote)
 * shows against the audit (note anote, compact range range), and requires
 * it to hold (kta_evidence_verify): a fork, proven by itself.
 */
static void fork_evidence_holds(struct dir *d, const uint8_t *anote, size_t alen,
				const struct kta_compact_range *range, const struct kta_lookup *l,
				const uint8_t *bnote, size_t blen, const struct kta_lookup_fork *f)
{
	uint8_t path[KTA_LOOKUP_MAX_PATH + 1][32];
	struct kta_evidence_result er;
	size_t nr = 0, evlen = 0, plen = kta_lookup_fork_path(l, f, path);
	const uint8_t(*hs)[32] = kta_compact_range_hashes(range, &nr);
	struct kta_error e;
	char *ev = NULL;

	if (f->same_size)
		assert_int_equal(
		    kta_evidence_fork_same_size(ORIGIN, anote, alen, bnote, blen, &ev, &evlen, &e),
		    KTA_OK);
	else
		assert_int_equal(kta_evidence_fork_prefix(
				     ORIGIN, anote, alen, bnote, blen, hs, nr, f->range_index,
				     f->hash, (const uint8_t(*)[32])path, plen, &ev, &evlen, &e),
				 KTA_OK);
	if (kta_evidence_verify((const uint8_t *)ev, evlen, d->vk, ORIGIN, NOW, &er, &e) != KTA_OK)
		fail_msg("evidence (leaf %llu): %s", (unsigned long long)l->leaf_index, e.msg);
	assert_int_equal(er.type, KTA_EVIDENCE_FORK);
	assert_int_equal(er.strong, 1);
	free(ev);
}

/*
 * The answer for leaf `index` of tree t cut at m, checked against the audit
 * (size 6 of the honest tree: subtrees [0, 4) and [4, 6)). Returns the
 * check's status; on KTA_ERR_VERIFY the evidence bundle built from *fork
 * must hold (kta_evidence_verify), with the audit as A.
 */
static enum kta_status tree_check(struct dir *d, const struct tree *t, uint64_t m, uint64_t index,
				  struct kta_lookup_fork *fork, struct kta_error *err)
{
	struct tree honest;
	struct kta_compact_range *range = NULL;
	struct kta_lookup *l = NULL;
	struct kta_lookup_result res;
	uint8_t root[32], *anote = NULL, *bnote = NULL;
	size_t alen = 0, blen = 0;
	enum kta_status r;

	tree_make(d, &honest, TREE_MAX);
	tree_audit(d, &honest, 6, &range, root, &anote, &alen);
	tree_answer(d, t, m, index, &bnote, &blen, &l, &res);
	r = kta_lookup_check_tree(l, &res, 6, root, range, fork, err);
	if (r == KTA_ERR_VERIFY)
		fork_evidence_holds(d, anote, alen, range, l, bnote, blen, fork);
	free(anote);
	free(bnote);
	kta_compact_range_free(range);
	kta_lookup_result_free(&res);
	kta_lookup_free(l);
	return r;
}

/* Split views through answers (A3, A4): an answer's tree against the
 * audited one, at the same size, larger and smaller. */
static void tree_against_audit(void **state)
{
	struct dir *d = dir_new();
	struct tree t;
	struct kta_lookup_fork f;
	struct kta_compact_range *range = NULL;
	struct kta_lookup *l = NULL;
	struct kta_lookup_result res;
	struct kta_error err;
	uint8_t root[32], *note = NULL;
	size_t len = 0;
	uint64_t m, i;

	(void)state;
	/* the honest log, at every size and leaf: nothing to report */
	tree_make(d, &t, TREE_MAX);
	for (m = 1; m <= TREE_MAX; m++)
		for (i = 0; i < m; i++)
			if (tree_check(d, &t, m, i, &f, &err) != KTA_OK)
				fail_msg("honest size %llu leaf %llu: %s", (unsigned long long)m,
					 (unsigned long long)i, err.msg);
	/* one size, another root: whatever the leaf */
	tree_make(d, &t, 5);
	assert_int_equal(tree_check(d, &t, 6, 1, &f, &err), KTA_ERR_VERIFY);
	assert_int_equal(f.same_size, 1);
	assert_non_null(strstr(err.msg, "both have tree size 6 and different roots"));
	/* a larger answer tree: the leaf's audited subtree [0, 4) differs */
	tree_make(d, &t, 2);
	assert_int_equal(tree_check(d, &t, 9, 1, &f, &err), KTA_ERR_VERIFY);
	assert_int_equal(f.same_size, 0);
	assert_int_equal(f.range_index, 0);
	assert_int_equal(f.path_offset, 2);
	assert_non_null(
	    strstr(err.msg, "(size 9) and the audited tree (size 6) hash leaves [0, 4)"));
	/* ... and the subtree [4, 6) */
	tree_make(d, &t, 4);
	assert_int_equal(tree_check(d, &t, 9, 5, &f, &err), KTA_ERR_VERIFY);
	assert_int_equal(f.range_index, 1);
	assert_int_equal(f.path_offset, 1);
	/* a smaller answer tree that holds all of [0, 4): the audit is A */
	tree_make(d, &t, 3);
	assert_int_equal(tree_check(d, &t, 5, 0, &f, &err), KTA_ERR_VERIFY);
	assert_int_equal(f.range_index, 0);
	assert_int_equal(tree_check(d, &t, 4, 3, &f, &err), KTA_ERR_VERIFY);
	/* the audited subtree [0, 4) as a hash of the path, not an ancestor:
	 * for leaf 4, and for leaf 7 (past the audit) */
	assert_int_equal(tree_check(d, &t, 9, 4, &f, &err), KTA_ERR_VERIFY);
	assert_int_equal(f.has_first, 1);
	assert_int_equal(f.range_index, 0);
	assert_int_equal(tree_check(d, &t, 9, 7, &f, &err), KTA_ERR_VERIFY);
	assert_int_equal(f.has_first, 1);
	/* what an answer does not show: [0, 4) past its size 3; a tree of
	 * size 12 whose path for leaf 9 holds no audited subtree */
	assert_int_equal(tree_check(d, &t, 3, 0, &f, &err), KTA_OK);
	assert_int_equal(tree_check(d, &t, 12, 9, &f, &err), KTA_OK);
	/* the caller's errors: a range of another size, no answer */
	tree_make(d, &t, TREE_MAX);
	tree_audit(d, &t, 6, &range, root, &note, &len);
	free(note);
	tree_answer(d, &t, 6, 1, &note, &len, &l, &res);
	assert_int_equal(kta_lookup_check_tree(l, &res, 7, root, range, &f, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_lookup_check_tree(NULL, &res, 6, root, range, &f, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_lookup_check_tree(l, &res, 6, root, NULL, &f, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_lookup_check_tree(l, &res, 6, root, range, &f, &err), KTA_OK);
	/* the parsed answer of another leaf with this verified one */
	{
		struct kta_lookup *l2 = NULL;
		struct kta_lookup_result res2;
		uint8_t *note2 = NULL;
		size_t len2 = 0;

		tree_answer(d, &t, 9, 2, &note2, &len2, &l2, &res2);
		assert_int_equal(kta_lookup_check_tree(l2, &res, 6, root, range, &f, &err),
				 KTA_ERR_USAGE);
		assert_non_null(strstr(err.msg, "differ"));
		free(note2);
		kta_lookup_result_free(&res2);
		kta_lookup_free(l2);
	}
	free(note);
	kta_compact_range_free(range);
	kta_lookup_result_free(&res);
	kta_lookup_free(l);
	dir_free(d);
}

/* [lo, hi) is one of the perfect subtrees of a tree of size n (its
 * compact range), counted from the left. */
static int compact_node(uint64_t n, uint64_t lo, uint64_t hi)
{
	uint64_t b = 0, sz;

	for (sz = (uint64_t)1 << 63; sz > 0; sz >>= 1)
		if ((n & sz) != 0) {
			if (b == lo && b + sz == hi)
				return 1;
			b += sz;
		}
	return 0;
}

/*
 * RFC 9162 2.1.3.1 PATH(m, D[lo:hi]), recursively: whether a node whose
 * hash the inclusion proof of leaf m gives (an ancestor of m, or a sibling
 * on its path) is a subtree of the compact range of size n holding leaf k.
 */
static int shows(uint64_t lo, uint64_t hi, uint64_t m, uint64_t n, uint64_t k)
{
	uint64_t split = 1;

	if (compact_node(n, lo, hi) && k >= lo && k < hi)
		return 1;
	if (hi - lo == 1)
		return 0;
	while (split * 2 < hi - lo)
		split *= 2;
	if (m < lo + split)
		return (compact_node(n, lo + split, hi) && k >= lo + split && k < hi) ||
		       shows(lo, lo + split, m, n, k);
	return (compact_node(n, lo, lo + split) && k >= lo && k < lo + split) ||
	       shows(lo + split, hi, m, n, k);
}

/*
 * Every audited size n, fork leaf k, answer size s and leaf i up to
 * EXHAUSTIVE_MAX: the check reports a fork exactly when the answer shows
 * one (one size and k inside it, or a node the proof gives is an audited
 * subtree holding k), and every fork's evidence holds.
 */
#define EXHAUSTIVE_MAX 10
static void tree_exhaustive(void **state)
{
	struct dir *d = dir_new();
	struct tree honest, t;
	struct kta_compact_range *ranges[EXHAUSTIVE_MAX + 1] = {NULL};
	uint8_t roots[EXHAUSTIVE_MAX + 1][32], *notes[EXHAUSTIVE_MAX + 1] = {NULL};
	size_t nlens[EXHAUSTIVE_MAX + 1] = {0};
	struct kta_lookup_fork f;
	struct kta_error err;
	uint64_t n, k, s, i;
	unsigned forks = 0, quiet = 0;

	(void)state;
	tree_make(d, &honest, TREE_MAX);
	for (n = 1; n <= EXHAUSTIVE_MAX; n++)
		tree_audit(d, &honest, n, &ranges[n], roots[n], &notes[n], &nlens[n]);
	for (k = 0; k < EXHAUSTIVE_MAX; k++) {
		tree_make(d, &t, k);
		for (s = 1; s <= EXHAUSTIVE_MAX; s++)
			for (i = 0; i < s; i++) {
				struct kta_lookup *l = NULL;
				struct kta_lookup_result res;
				uint8_t *note = NULL;
				size_t len = 0;

				tree_answer(d, &t, s, i, &note, &len, &l, &res);
				for (n = 1; n <= EXHAUSTIVE_MAX; n++) {
					int want = s == n ? k < n : shows(0, s, i, n, k);
					enum kta_status r;

					r = kta_lookup_check_tree(l, &res, n, roots[n], ranges[n],
								  &f, &err);
					if (r != (want ? KTA_ERR_VERIFY : KTA_OK))
						fail_msg(
						    "audit %llu, fork leaf %llu, answer size %llu "
						    "leaf %llu: %s, want %s",
						    (unsigned long long)n, (unsigned long long)k,
						    (unsigned long long)s, (unsigned long long)i,
						    kta_status_str(r), want ? "a fork" : "none");
					if (want) {
						fork_evidence_holds(d, notes[n], nlens[n],
								    ranges[n], l, note, len, &f);
						forks++;
					} else
						quiet++;
				}
				free(note);
				kta_lookup_result_free(&res);
				kta_lookup_free(l);
			}
	}
	print_message("exhaustive: %u forks, %u without one\n", forks, quiet);
	assert_int_equal(forks + quiet, EXHAUSTIVE_MAX * 55 * EXHAUSTIVE_MAX);
	assert_true(forks > 1000 && quiet > 1000);
	for (n = 1; n <= EXHAUSTIVE_MAX; n++) {
		kta_compact_range_free(ranges[n]);
		free(notes[n]);
	}
	dir_free(d);
}

/*
 * Tree sizes at the top of the range: an answer for leaf 5 of a tree of
 * 2^64 - 1 leaves (64 path hashes, made up; the signed root folds them,
 * RFC 9162 2.1.3.2 written apart here) against an audit of 2^63 + 2^62
 * leaves whose subtree [0, 2^63) is another hash: a fork, and its
 * evidence holds; with that subtree's hash as the answer gives it, none.
 */
static void tree_huge_sizes(void **state)
{
	const uint64_t s = UINT64_MAX, n = ((uint64_t)1 << 63) + ((uint64_t)1 << 62);
	uint8_t path[KTA_LOOKUP_MAX_PATH][32], r[32], sub[32], range_h[2][32], nroot[32];
	struct kta_compact_range *range = NULL;
	struct kta_lookup *l = NULL;
	struct kta_lookup_result res;
	struct kta_lookup_fork f;
	struct kta_error err;
	struct dir *d = dir_new();
	struct tree t;
	uint64_t fn = 5, sn = s - 1;
	uint8_t *note = NULL, *anote = NULL;
	size_t len = 0, alen = 0, i;

	(void)state;
	tree_make(d, &t, TREE_MAX);
	for (i = 0; i < KTA_LOOKUP_MAX_PATH; i++)
		memset(path[i], (int)(i + 1), 32);
	kta_hash_leaf(d->h, (const uint8_t *)t.entries[5], strlen(t.entries[5]), r);
	for (i = 0; i < KTA_LOOKUP_MAX_PATH; i++) {
		assert_true(sn != 0);
		if ((fn & 1) != 0 || fn == sn) {
			kta_hash_node(d->h, path[i], r, r);
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			kta_hash_node(d->h, r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
		if (i == 62)
			memcpy(sub, r, 32); /* leaves [0, 2^63): 63 levels up */
	}
	assert_true(sn == 0);
	note = sign_checkpoint(d, d->sk, ORIGIN, s, r, &len);
	answer_parse(d, t.entries[5], 5, note, len, (const uint8_t(*)[32])path, KTA_LOOKUP_MAX_PATH,
		     &l, &res);
	/* the audit: [0, 2^63) other than the answer's, [2^63, 2^63 + 2^62) */
	memset(range_h[0], 0xaa, 32);
	memset(range_h[1], 0xbb, 32);
	assert_int_equal(
	    kta_compact_range_restore(n, (const uint8_t(*)[32])range_h, 2, &range, &err), KTA_OK);
	assert_int_equal(kta_compact_range_root(range, d->h, nroot, &err), KTA_OK);
	anote = sign_checkpoint(d, d->sk, ORIGIN, n, nroot, &alen);
	assert_int_equal(kta_lookup_check_tree(l, &res, n, nroot, range, &f, &err), KTA_ERR_VERIFY);
	assert_int_equal(f.range_index, 0);
	assert_memory_equal(f.hash, sub, 32);
	assert_non_null(strstr(err.msg, "hash leaves [0, 9223372036854775808) differently"));
	fork_evidence_holds(d, anote, alen, range, l, note, len, &f);
	kta_compact_range_free(range);
	/* the same audit with the answer's [0, 2^63): nothing to report */
	memcpy(range_h[0], sub, 32);
	assert_int_equal(
	    kta_compact_range_restore(n, (const uint8_t(*)[32])range_h, 2, &range, &err), KTA_OK);
	assert_int_equal(kta_compact_range_root(range, d->h, nroot, &err), KTA_OK);
	assert_int_equal(kta_lookup_check_tree(l, &res, n, nroot, range, &f, &err), KTA_OK);
	kta_compact_range_free(range);
	free(note);
	free(anote);
	kta_lookup_result_free(&res);
	kta_lookup_free(l);
	dir_free(d);
}

/*
 * The answer of the keydir/v1 fixtures (testdata/entry/SOURCES.md), written by
 * an independent Python implementation, verifies; tampered copies do not.
 */
static void fixture_answer(void **state)
{
	struct kta_checkpoint_policy p;
	struct kta_lookup *l = NULL;
	struct kta_lookup_result res;
	struct kta_vkey *vk = NULL;
	struct kta_error err;
	size_t len, klen;
	uint8_t *buf = tu_read_testdata("entry/example_log/lookup/alice%40example.org", &len);
	uint8_t *key = tu_read_testdata("entry/example_log/log.vkey", &klen);

	(void)state;
	assert_int_equal(kta_vkey_parse((const char *)key, klen, &vk, &err), KTA_OK);
	memset(&p, 0, sizeof(p));
	p.log_key = vk;
	p.now = NOW;
	assert_int_equal(kta_lookup_parse(buf, len, &l, &err), KTA_OK);
	if (kta_lookup_verify(l, &p, "alice@example.org", 17, &res, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	assert_true(res.entry->version == 2);
	assert_int_equal(res.entry->nkeys, 4);
	assert_true(res.leaf_index == 1);
	assert_true(res.cp.cp->size == 2);
	kta_lookup_result_free(&res);
	/* Leaf 0 under leaf 1's proof, and a bit flipped in the entry. */
	l->leaf_index = 0;
	assert_int_equal(kta_lookup_verify(l, &p, NULL, 0, &res, &err), KTA_ERR_VERIFY);
	l->leaf_index = 1;
	l->entry[l->entry_len - 2] ^= 1;
	assert_int_not_equal(kta_lookup_verify(l, &p, NULL, 0, &res, &err), KTA_OK);
	kta_lookup_free(l);
	kta_vkey_free(vk);
	free(buf);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(valid_answers),      cmocka_unit_test(wrong_label),
	    cmocka_unit_test(forged_answers),     cmocka_unit_test(not_keydir),
	    cmocka_unit_test(strict_json),        cmocka_unit_test(mutations),
	    cmocka_unit_test(fixture_answer),     cmocka_unit_test(latest_against_audit),
	    cmocka_unit_test(tree_against_audit), cmocka_unit_test(tree_exhaustive),
	    cmocka_unit_test(tree_huge_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
