/*
 * Tests for ctevidence.h: CT signed tree head pairs (fork, rollback) built
 * from get-sth bodies signed here with a P-256 log key (RFC 6962 3.5), then
 * verified, with forgeries, mutations and truncations rejected.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/ct.h"
#include "ktaudit/ctevidence.h"
#include "ktaudit/encoding.h"
#include "testutil.h"

struct fx {
	EVP_PKEY *pk;
	struct kta_ct_key *key, *other;
};

static struct kta_ct_key *pubkey(EVP_PKEY *pk)
{
	unsigned char *der = NULL;
	struct kta_ct_key *k = NULL;
	int dl = i2d_PUBKEY(pk, &der);

	assert_true(dl > 0);
	assert_int_equal(kta_ct_key_parse(der, (size_t)dl, 1, &k, NULL), KTA_OK);
	OPENSSL_free(der);
	return k;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	EVP_PKEY *o = EVP_EC_gen("P-256");

	assert_non_null(x);
	assert_non_null(o);
	x->pk = EVP_EC_gen("P-256");
	assert_non_null(x->pk);
	x->key = pubkey(x->pk);
	x->other = pubkey(o);
	EVP_PKEY_free(o);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	kta_ct_key_free(x->key);
	kta_ct_key_free(x->other);
	EVP_PKEY_free(x->pk);
	free(x);
	return 0;
}

static void be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

/* A get-sth body for (size, ts, root byte fill) signed with pk (malloc'd text). */
static char *sth(EVP_PKEY *pk, uint64_t size, uint64_t ts, uint8_t fill)
{
	uint8_t msg[50], root[32], ds[4 + 128];
	unsigned char sig[128];
	size_t sl = sizeof(sig);
	char r64[64], s64[256], *out = malloc(1024);
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	assert_non_null(out);
	assert_non_null(c);
	memset(root, fill, sizeof(root));
	msg[0] = 0;
	msg[1] = 1;
	be64(msg + 2, ts);
	be64(msg + 10, size);
	memcpy(msg + 18, root, 32);
	assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, pk), 1);
	assert_int_equal(EVP_DigestSign(c, sig, &sl, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(c);
	ds[0] = 4;
	ds[1] = 3;
	ds[2] = (uint8_t)(sl >> 8);
	ds[3] = (uint8_t)sl;
	memcpy(ds + 4, sig, sl);
	kta_b64_encode(root, 32, r64);
	kta_b64_encode(ds, 4 + sl, s64);
	snprintf(out, 1024,
		 "{\"tree_size\": %llu, \"timestamp\": %llu, \"sha256_root_hash\": \"%s\", "
		 "\"tree_head_signature\": \"%s\"}",
		 (unsigned long long)size, (unsigned long long)ts, r64, s64);
	return out;
}

/* Builds into the caller's *ev. (Returning it from a local whose address
 * went to kta_ctevidence_build made gcc -O3 warn -Wdangling-pointer at the
 * callers: it could not rule out the local holding its own address.) */
static void build(struct fx *x, enum kta_evidence_type t, const char *a, const char *b, char **ev,
		  size_t *len)
{
	struct kta_error err;

	*ev = NULL;
	assert_int_equal(kta_ctevidence_build(t, "test-log", x->key, (const uint8_t *)a, strlen(a),
					      (const uint8_t *)b, strlen(b), ev, len, &err),
			 KTA_OK);
}

static void fork_same_size(void **state)
{
	struct fx *x = *state;
	char *a = sth(x->pk, 15, 1000, 0x11), *b = sth(x->pk, 15, 2000, 0x22), *ev;
	struct kta_evidence_result res;
	struct kta_error err;
	size_t len;

	build(x, KTA_EVIDENCE_FORK, a, b, &ev, &len);
	assert_true(kta_ctevidence_is_ct((const uint8_t *)ev, len));
	assert_int_equal(kta_ctevidence_verify((const uint8_t *)ev, len, x->key, &res, &err),
			 KTA_OK);
	assert_int_equal(res.type, KTA_EVIDENCE_FORK);
	assert_int_equal(res.strong, 1);
	assert_non_null(strstr(res.statement, "size 15"));
	/* Another log's key: the log ID is checked first. */
	assert_int_equal(kta_ctevidence_verify((const uint8_t *)ev, len, x->other, &res, &err),
			 KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "log_id"));
	assert_int_equal(kta_ctevidence_verify((const uint8_t *)ev, len, NULL, &res, &err),
			 KTA_ERR_USAGE);
	free(ev);
	free(a);
	free(b);
}

static void rollback(void **state)
{
	struct fx *x = *state;
	char *big = sth(x->pk, 20, 1000, 0x11), *later = sth(x->pk, 12, 2000, 0x22),
	     *older = sth(x->pk, 12, 500, 0x22), *ev;
	struct kta_evidence_result res;
	struct kta_error err;
	size_t len;

	build(x, KTA_EVIDENCE_ROLLBACK, big, later, &ev, &len);
	assert_int_equal(kta_ctevidence_verify((const uint8_t *)ev, len, x->key, &res, &err),
			 KTA_OK);
	assert_int_equal(res.type, KTA_EVIDENCE_ROLLBACK);
	assert_int_equal(res.strong, 1);
	assert_non_null(strstr(res.statement, "shrank"));
	free(ev);
	build(x, KTA_EVIDENCE_ROLLBACK, big, older, &ev, &len);
	assert_int_equal(kta_ctevidence_verify((const uint8_t *)ev, len, x->key, &res, &err),
			 KTA_OK);
	assert_int_equal(res.strong, 0);
	assert_non_null(strstr(res.statement, "observation"));
	free(ev);
	free(big);
	free(later);
	free(older);
}

static void build_rejects(void **state)
{
	struct fx *x = *state;
	char *a = sth(x->pk, 15, 1000, 0x11), *b = sth(x->pk, 16, 2000, 0x22), *ev = NULL;
	struct kta_error err;
	size_t len = 0;

	/* A fork needs one size; a rollback a larger first head; other types do not exist. */
	assert_int_equal(kta_ctevidence_build(KTA_EVIDENCE_FORK, "l", x->key, (const uint8_t *)a,
					      strlen(a), (const uint8_t *)b, strlen(b), &ev, &len,
					      &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_ctevidence_build(KTA_EVIDENCE_FORK, "l", x->key, (const uint8_t *)a,
					      strlen(a), (const uint8_t *)a, strlen(a), &ev, &len,
					      &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_ctevidence_build(KTA_EVIDENCE_ROLLBACK, "l", x->key,
					      (const uint8_t *)a, strlen(a), (const uint8_t *)b,
					      strlen(b), &ev, &len, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_ctevidence_build(KTA_EVIDENCE_ROOT_MISMATCH, "l", x->key,
					      (const uint8_t *)b, strlen(b), (const uint8_t *)a,
					      strlen(a), &ev, &len, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_ctevidence_build(KTA_EVIDENCE_ROLLBACK, "l", x->key,
					      (const uint8_t *)b, strlen(b) - 1, (const uint8_t *)a,
					      strlen(a), &ev, &len, &err),
			 KTA_ERR_MALFORMED);
	assert_null(ev);
	free(a);
	free(b);
}

/* Verifies the bundle text s (NUL-terminated) with x->key. */
static enum kta_status verify_text(struct fx *x, const char *s, struct kta_error *err)
{
	struct kta_evidence_result res;

	return kta_ctevidence_verify((const uint8_t *)s, strlen(s), x->key, &res, err);
}

static void forgeries(void **state)
{
	struct fx *x = *state;
	char *a = sth(x->pk, 15, 1000, 0x11), *b = sth(x->pk, 15, 2000, 0x22),
	     *c = sth(x->pk, 14, 3000, 0x33), *ev, *s;
	json_t *j, *arr;
	struct kta_error err;
	uint8_t id[32];
	char id64[64];
	size_t len;

	build(x, KTA_EVIDENCE_FORK, a, b, &ev, &len);
	j = json_loads(ev, 0, NULL);
	assert_non_null(j);
	kta_ct_key_log_id(x->key, id);
	kta_b64_encode(id, 32, id64);

	/* The same head twice is no fork; two sizes are no ct_fork. */
	arr = json_pack("[ss]", a, a);
	json_object_set_new(j, "sths", arr);
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_VERIFY);
	free(s);
	json_object_set_new(j, "sths", json_pack("[ss]", a, c));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_VERIFY);
	free(s);
	/* ct_rollback with the smaller head first. */
	json_object_set_new(j, "type", json_string("ct_rollback"));
	json_object_set_new(j, "sths", json_pack("[ss]", c, a));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_VERIFY);
	free(s);
	json_object_set_new(j, "sths", json_pack("[ss]", a, c));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_OK);
	free(s);
	/* Shapes: one head, three, not strings, unknown type, unknown member, bad log_id. */
	json_object_set_new(j, "sths", json_pack("[s]", a));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_MALFORMED);
	free(s);
	json_object_set_new(j, "sths", json_pack("[sss]", a, c, c));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_MALFORMED);
	free(s);
	json_object_set_new(j, "sths", json_pack("[is]", 1, c));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_MALFORMED);
	free(s);
	json_object_set_new(j, "sths", json_pack("[ss]", a, c));
	json_object_set_new(j, "type", json_string("ct_root_mismatch"));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "unknown type"));
	free(s);
	json_object_set_new(j, "type", json_string("ct_rollback"));
	json_object_set_new(j, "extra", json_true());
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_MALFORMED);
	free(s);
	json_object_del(j, "extra");
	json_object_set_new(j, "log_id", json_string("AAAA"));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_MALFORMED);
	free(s);
	json_object_set_new(j, "log_id", json_string(id64));
	json_object_set_new(j, "log", json_string(""));
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_ERR_MALFORMED);
	free(s);
	json_object_set_new(j, "log", json_string("l"));
	json_object_del(j, "explanation");
	s = json_dumps(j, 0);
	assert_int_equal(verify_text(x, s, &err), KTA_OK); /* explanation is optional */
	free(s);
	json_decref(j);
	assert_int_equal(verify_text(x, "[]", &err), KTA_ERR_MALFORMED);
	assert_false(kta_ctevidence_is_ct((const uint8_t *)"{\"type\":\"fork\"}", 15));
	assert_false(kta_ctevidence_is_ct((const uint8_t *)"{\"type\":\"ct_", 12));
	free(ev);
	free(a);
	free(b);
	free(c);
}

/* Every truncation and every bit flip outside the untrusted text fails cleanly. */
static void mutations(void **state)
{
	struct fx *x = *state;
	char *a = sth(x->pk, 15, 1000, 0x11), *b = sth(x->pk, 15, 2000, 0x22), *ev;
	const char *ex, *lg;
	struct kta_evidence_result res;
	struct kta_error err;
	size_t len, i, exb, exe, lgb, lge;
	int bit;

	build(x, KTA_EVIDENCE_FORK, a, b, &ev, &len);
	for (i = 0; i < len; i++)
		assert_int_not_equal(
		    kta_ctevidence_verify((const uint8_t *)ev, i, x->key, &res, &err), KTA_OK);
	/* The explanation and log name are for humans: flips there may still verify. */
	ex = strstr(ev, "\"explanation\": \"");
	lg = strstr(ev, "\"log\": \"");
	assert_non_null(ex);
	assert_non_null(lg);
	exb = (size_t)(ex - ev) + 16;
	exe = (size_t)(strchr(ev + exb, '"') - ev);
	lgb = (size_t)(lg - ev) + 8;
	lge = (size_t)(strchr(ev + lgb, '"') - ev);
	for (i = 0; i < len; i++) {
		if ((i >= exb && i < exe) || (i >= lgb && i < lge))
			continue;
		for (bit = 0; bit < 8; bit++) {
			enum kta_status r;

			ev[i] = (char)(ev[i] ^ (1 << bit));
			r = kta_ctevidence_verify((const uint8_t *)ev, len, x->key, &res, &err);
			ev[i] = (char)(ev[i] ^ (1 << bit));
			/* Whitespace between tokens may turn into other whitespace. */
			if (r == KTA_OK && (ev[i] == ' ' || ev[i] == '\n'))
				continue;
			if (r == KTA_OK)
				fail_msg("flip of bit %d at %zu (%c) still verifies", bit, i,
					 ev[i]);
		}
	}
	assert_int_equal(kta_ctevidence_verify((const uint8_t *)ev, len, x->key, &res, &err),
			 KTA_OK);
	free(ev);
	free(a);
	free(b);
}

static void limits(void **state)
{
	struct fx *x = *state;
	size_t n = KTA_CTEVIDENCE_MAX_SIZE + 1;
	char *big = malloc(n);
	struct kta_evidence_result res;
	struct kta_error err;

	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	assert_int_equal(kta_ctevidence_verify((const uint8_t *)big, n, x->key, &res, &err),
			 KTA_ERR_LIMIT);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(fork_same_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(rollback, setup, teardown),
	    cmocka_unit_test_setup_teardown(build_rejects, setup, teardown),
	    cmocka_unit_test_setup_teardown(forgeries, setup, teardown),
	    cmocka_unit_test_setup_teardown(mutations, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
