/*
 * The Ed25519 verifier's start-up self-test (src/ed25519.c direct_setup):
 * a provider whose ED25519 answers otherwise than RFC 8032 is never called
 * directly. This process loads only a test provider (so OpenSSL's default
 * provider, which fetches fall back to, is never loaded) whose ED25519 key
 * management and signature are complete enough for EVP to fetch, and whose
 * verification always answers the same: "verified" (a liar that accepts
 * the self-test's tampered signature) or "not verified" (one that refuses
 * the genuine one). A third mode answers like RFC 8032 on the self-test's
 * two signatures only, and must be taken: the test can fail both ways.
 */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ed25519.h"
#include "testutil.h"

enum mode { SAYS_YES, SAYS_NO, KNOWS_TEST1 };

struct pctx {
	enum mode mode;
};

struct pkey {
	uint8_t pub[32];
	int has_pub;
};

struct sctx {
	struct pctx *p;
	struct pkey *k;
};

/* RFC 8032 7.1 TEST 1's signature, the one the self-test checks. */
static const uint8_t test1_sig0 = 0xe5;

static void *km_new(void *provctx)
{
	(void)provctx;
	return calloc(1, sizeof(struct pkey));
}

static void km_free(void *key)
{
	free(key);
}

static int km_has(const void *key, int selection)
{
	(void)selection;
	return key != NULL && ((const struct pkey *)key)->has_pub;
}

static int km_import(void *key, int selection, const OSSL_PARAM params[])
{
	struct pkey *k = key;
	const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
	void *buf = k->pub;
	size_t len = 0;

	(void)selection;
	if (p == NULL || !OSSL_PARAM_get_octet_string(p, &buf, sizeof(k->pub), &len) || len != 32)
		return 0;
	k->has_pub = 1;
	return 1;
}

static const OSSL_PARAM *km_import_types(int selection)
{
	static const OSSL_PARAM types[] = {
	    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0), OSSL_PARAM_END};

	(void)selection;
	return types;
}

static void *sig_newctx(void *provctx, const char *propq)
{
	struct sctx *c = calloc(1, sizeof(*c));

	(void)propq;
	if (c != NULL)
		c->p = provctx;
	return c;
}

static void sig_freectx(void *ctx)
{
	free(ctx);
}

static int sig_dv_init(void *ctx, const char *mdname, void *key, const OSSL_PARAM params[])
{
	(void)mdname;
	(void)params;
	((struct sctx *)ctx)->k = key;
	return 1;
}

static int sig_dv(void *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
		  size_t tbslen)
{
	const struct sctx *c = ctx;

	(void)tbs;
	(void)tbslen;
	switch (c->p->mode) {
	case SAYS_YES:
		return 1;
	case SAYS_NO:
		return 0;
	default:
		/* right about the self-test's genuine and tampered TEST 1 only */
		return siglen == 64 && sig[0] == test1_sig0;
	}
}

static const OSSL_DISPATCH km_fns[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_import_types},
    {0, NULL}};

static const OSSL_DISPATCH sig_fns[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))sig_dv_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))sig_dv},
    {0, NULL}};

static const OSSL_ALGORITHM km_algs[] = {
    {"ED25519", "provider=kta-test", km_fns, "test Ed25519 keys"}, {NULL, NULL, NULL, NULL}};
static const OSSL_ALGORITHM sig_algs[] = {
    {"ED25519", "provider=kta-test", sig_fns, "test Ed25519 verification"},
    {NULL, NULL, NULL, NULL}};

static const OSSL_ALGORITHM *prov_query(void *provctx, int op, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	if (op == OSSL_OP_KEYMGMT)
		return km_algs;
	if (op == OSSL_OP_SIGNATURE)
		return sig_algs;
	return NULL;
}

static void prov_teardown(void *provctx)
{
	free(provctx);
}

static const OSSL_DISPATCH prov_fns[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query},
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown},
    {0, NULL}};

static int prov_init(enum mode mode, const OSSL_DISPATCH **out, void **provctx)
{
	struct pctx *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return 0;
	p->mode = mode;
	*out = prov_fns;
	*provctx = p;
	return 1;
}

static int init_yes(const OSSL_CORE_HANDLE *h, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
		    void **provctx)
{
	(void)h;
	(void)in;
	return prov_init(SAYS_YES, out, provctx);
}

static int init_no(const OSSL_CORE_HANDLE *h, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
		   void **provctx)
{
	(void)h;
	(void)in;
	return prov_init(SAYS_NO, out, provctx);
}

static int init_test1(const OSSL_CORE_HANDLE *h, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
		      void **provctx)
{
	(void)h;
	(void)in;
	return prov_init(KNOWS_TEST1, out, provctx);
}

/* With only provider `name` loaded, is the verifier's direct path used? */
static int direct_with(const char *name, OSSL_provider_init_fn *init)
{
	OSSL_PROVIDER *p;
	struct kta_ed25519_verifier *v = NULL;
	int direct;

	assert_int_equal(OSSL_PROVIDER_add_builtin(NULL, name, init), 1);
	assert_non_null(p = OSSL_PROVIDER_load(NULL, name));
	assert_int_equal(kta_ed25519_verifier_new(&v, NULL), KTA_OK);
	direct = kta_ed25519_verifier_is_direct(v);
	kta_ed25519_verifier_free(v);
	assert_int_equal(OSSL_PROVIDER_unload(p), 1);
	return direct;
}

static void liars_are_not_used(void **state)
{
	(void)state;
	/* the control: a provider right on the self-test is taken, so the
	 * fetches below do reach the test provider */
	assert_int_equal(direct_with("kta-test1", init_test1), 1);
	/* accepts the tampered signature */
	assert_int_equal(direct_with("kta-yes", init_yes), 0);
	/* refuses the genuine one */
	assert_int_equal(direct_with("kta-no", init_no), 0);
	assert_int_equal(direct_with("kta-test1b", init_test1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(liars_are_not_used)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
