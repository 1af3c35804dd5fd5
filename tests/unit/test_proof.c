/* Unit tests for RFC 6962 JSON proof files. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/proof.h"

static enum kta_status incl(const char *s, struct kta_inclusion_proof **p, struct kta_error *err)
{
	return kta_proof_parse_inclusion((const uint8_t *)s, strlen(s), p, err);
}

static enum kta_status cons(const char *s, struct kta_consistency_proof **p, struct kta_error *err)
{
	return kta_proof_parse_consistency((const uint8_t *)s, strlen(s), p, err);
}

static void ct_saved_responses(void **state)
{
	struct kta_inclusion_proof *ip;
	struct kta_consistency_proof *cp;
	struct kta_error err;
	uint8_t *buf, want[32];
	size_t len, n;

	(void)state;
	buf = tu_read_testdata("proof/ct_get-proof-by-hash.json", &len);
	assert_int_equal(kta_proof_parse_inclusion(buf, len, &ip, &err), KTA_OK);
	assert_true(ip->has_index);
	assert_true(ip->leaf_index == 3);
	assert_int_equal(ip->path_len, 3);
	assert_int_equal(
	    kta_b64_decode("7VelXijfmGFSl62BWIsG8LRmxJGBq9XP8FxmszuT2Cg=", 44, want, 32, &n),
	    KTA_OK);
	assert_memory_equal(ip->path[2], want, 32);
	kta_inclusion_proof_free(ip);
	free(buf);

	/* The escaped "\/" must be unescaped before base64 decoding. */
	buf = tu_read_testdata("proof/ct_get-sth-consistency.json", &len);
	assert_non_null(memchr(buf, '\\', len));
	assert_int_equal(kta_proof_parse_consistency(buf, len, &cp, &err), KTA_OK);
	assert_int_equal(cp->len, 2);
	assert_int_equal(
	    kta_b64_decode("ytf6K2GnSRZ3Au+YkivCb7N1DygfKyZmE4aEs9OXl/8=", 44, want, 32, &n),
	    KTA_OK);
	assert_memory_equal(cp->hashes[1], want, 32);
	kta_consistency_proof_free(cp);
	free(buf);
}

static void inclusion_without_index_and_empty(void **state)
{
	struct kta_inclusion_proof *p;
	struct kta_error err;

	(void)state;
	assert_int_equal(incl("{\"audit_path\":[]}", &p, &err), KTA_OK);
	assert_false(p->has_index);
	assert_int_equal(p->path_len, 0);
	assert_null(p->path);
	kta_inclusion_proof_free(p);
	assert_int_equal(incl("{\"leaf_index\":9223372036854775807,\"audit_path\":[]}", &p, &err),
			 KTA_OK);
	assert_true(p->leaf_index == 9223372036854775807ULL);
	kta_inclusion_proof_free(p);
}

static void inclusion_rejects(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} bad[] = {
	    {"", "invalid JSON"},
	    {"[]", "not a JSON object"},
	    {"{\"leaf_index\":1}", "missing \"audit_path\""},
	    {"{\"leaf_index\":-1,\"audit_path\":[]}", "negative"},
	    {"{\"leaf_index\":1.0,\"audit_path\":[]}", "not an integer"},
	    {"{\"leaf_index\":\"1\",\"audit_path\":[]}", "not an integer"},
	    {"{\"leaf_index\":9223372036854775808,\"audit_path\":[]}", "invalid JSON"},
	    {"{\"leaf_index\":1,\"leaf_index\":2,\"audit_path\":[]}", "invalid JSON"},
	    {"{\"leaf_index\":1,\"audit_path\":[],\"x\":1}", "unknown member \"x\""},
	    {"{\"audit_path\":{}}", "not an array"},
	    {"{\"audit_path\":[1]}", "[0] is not a string"},
	    {"{\"audit_path\":[\"AAAA\"]}", "[0] \"AAAA\" is not a 32-byte hash"},
	    {"{\"audit_path\":[\"bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB1=\"]}",
	     "not a 32-byte hash"},
	    {"{\"audit_path\":[\"bjQLnP-zepicpUTmu3gKLHiQHT-zNzh2hRGjBhevoB0=\"]}",
	     "not a 32-byte hash"},
	    {"{\"audit_path\":[]} x", "invalid JSON"},
	};
	struct kta_inclusion_proof *p;
	struct kta_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum kta_status r = incl(bad[i].json, &p, &err);

		assert_int_equal(r, KTA_ERR_MALFORMED);
		assert_null(p);
		if (strstr(err.msg, bad[i].msg) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, bad[i].msg);
	}
}

static void too_many_hashes_and_too_big(void **state)
{
	struct kta_consistency_proof *p;
	struct kta_error err;
	size_t i, n = KTA_PROOF_MAX_HASHES + 1, cap = 64 + n * 48;
	char *s = malloc(cap), *big;
	size_t o = 0;

	(void)state;
	o += (size_t)snprintf(s + o, cap - o, "{\"consistency\":[");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, "%s\"%s\"", i ? "," : "",
				      "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=");
	(void)snprintf(s + o, cap - o, "]}");
	assert_int_equal(cons(s, &p, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "129 hashes"));
	free(s);

	big = malloc(KTA_PROOF_MAX_SIZE + 2);
	memset(big, ' ', KTA_PROOF_MAX_SIZE + 1);
	big[KTA_PROOF_MAX_SIZE + 1] = '\0';
	assert_int_equal(cons(big, &p, &err), KTA_ERR_LIMIT);
	free(big);
	assert_int_equal(cons("{\"consistency\":[],\"leaf_index\":1}", &p, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(cons("{\"consistency\":[]}", &p, &err), KTA_OK);
	kta_consistency_proof_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ct_saved_responses),
	    cmocka_unit_test(inclusion_without_index_and_empty),
	    cmocka_unit_test(inclusion_rejects),
	    cmocka_unit_test(too_many_hashes_and_too_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
