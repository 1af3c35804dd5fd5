/* Ed25519 over OpenSSL with raw keys: EVP, and for the verifier the
 * provider's own functions. See ed25519.h. */
#include "ed25519.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

enum kta_status kta_ed25519_verify(const uint8_t pub[static 32], const uint8_t *msg, size_t len,
				   const uint8_t sig[static 64])
{
	enum kta_status r = KTA_ERR_INTERNAL;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *ctx = NULL;
	int ok;

	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	if (pk == NULL)
		return KTA_ERR_VERIFY; /* not a valid point */
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) != 1)
		goto out;
	ok = EVP_DigestVerify(ctx, sig, 64, msg, len);
	r = ok == 1 ? KTA_OK : KTA_ERR_VERIFY;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

/*
 * The verifier calls the provider's own Ed25519 functions (provider(7),
 * provider-keymgmt(7), provider-signature(7)): a key object imported from
 * the 32 bytes and a signature context, both made by the provider, with no
 * EVP_PKEY, EVP_PKEY_CTX or method fetch per key. Through EVP, OpenSSL 3.0
 * spends 8-13 us per new key in EVP_PKEY_new_raw_public_key and
 * EVP_DigestVerifyInit (each walks the whole name map, in
 * EVP_PKEY_set_type_by_keymgmt and the signature fetch); this costs under
 * 0.5 us against 80-180 us for the verification, done by the very function
 * EVP_DigestVerify calls (the provider's digest_verify).
 */
struct kta_ed25519_verifier {
	EVP_KEYMGMT *km; /* keeps the provider loaded; NULL: the EVP path */
	void *provctx;
	OSSL_FUNC_keymgmt_new_fn *knew;
	OSSL_FUNC_keymgmt_import_fn *kimport;
	OSSL_FUNC_keymgmt_free_fn *kfree;
	OSSL_FUNC_signature_newctx_fn *snew;
	OSSL_FUNC_signature_digest_verify_init_fn *sinit;
	OSSL_FUNC_signature_digest_verify_fn *sverify;
	OSSL_FUNC_signature_freectx_fn *sfree;
};

/* RFC 8032 section 7.1, TEST 1 (empty message): the start-up self-test. */
static const uint8_t kat_pub[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
static const uint8_t kat_sig[64] = {
    0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80, 0x6e, 0x82, 0x8a,
    0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49, 0x01, 0x55,
    0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b,
    0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b};

/* Whether the colon-separated algorithm names include "ED25519" (ASCII,
 * any case, as OpenSSL matches names). */
static int names_ed25519(const char *names)
{
	static const char want[] = "ED25519";
	const char *p = names;
	size_t i;

	for (;;) {
		for (i = 0; i < 7 && p[i] != '\0'; i++) {
			char c = p[i];

			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			if (c != want[i])
				break;
		}
		if (i == 7 && (p[7] == ':' || p[7] == '\0'))
			return 1;
		while (*p != ':' && *p != '\0')
			p++;
		if (*p == '\0')
			return 0;
		p++;
	}
}

/* Take the functions the verifier calls from a dispatch table. */
static void take_key_functions(struct kta_ed25519_verifier *v, const OSSL_DISPATCH *d)
{
	for (; d->function_id != 0; d++) {
		if (d->function_id == OSSL_FUNC_KEYMGMT_NEW)
			v->knew = OSSL_FUNC_keymgmt_new(d);
		else if (d->function_id == OSSL_FUNC_KEYMGMT_IMPORT)
			v->kimport = OSSL_FUNC_keymgmt_import(d);
		else if (d->function_id == OSSL_FUNC_KEYMGMT_FREE)
			v->kfree = OSSL_FUNC_keymgmt_free(d);
	}
}

static void take_sig_functions(struct kta_ed25519_verifier *v, const OSSL_DISPATCH *d)
{
	for (; d->function_id != 0; d++) {
		if (d->function_id == OSSL_FUNC_SIGNATURE_NEWCTX)
			v->snew = OSSL_FUNC_signature_newctx(d);
		else if (d->function_id == OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT)
			v->sinit = OSSL_FUNC_signature_digest_verify_init(d);
		else if (d->function_id == OSSL_FUNC_SIGNATURE_DIGEST_VERIFY)
			v->sverify = OSSL_FUNC_signature_digest_verify(d);
		else if (d->function_id == OSSL_FUNC_SIGNATURE_FREECTX)
			v->sfree = OSSL_FUNC_signature_freectx(d);
	}
}

/* Takes the functions of the provider's only ED25519 implementation of op
 * (OSSL_OP_KEYMGMT or OSSL_OP_SIGNATURE) before the provider may release
 * its table; 0 if it has none, or more than one to choose between. */
static int find_impl(struct kta_ed25519_verifier *v, const OSSL_PROVIDER *prov, int op)
{
	int no_cache = 0;
	const OSSL_ALGORITHM *a = OSSL_PROVIDER_query_operation(prov, op, &no_cache), *p;
	const OSSL_DISPATCH *d = NULL;
	size_t n = 0;

	if (a == NULL)
		return 0;
	for (p = a; p->algorithm_names != NULL; p++)
		if (names_ed25519(p->algorithm_names)) {
			d = p->implementation;
			n++;
		}
	if (n == 1 && op == OSSL_OP_KEYMGMT)
		take_key_functions(v, d);
	else if (n == 1)
		take_sig_functions(v, d);
	OSSL_PROVIDER_unquery_operation(prov, op, a);
	return n == 1;
}

/* Verifies with the provider's functions: 1 verified, 0 did not, -1 the
 * provider failed to make a key or context, -2 it refused the key. */
static int direct_verify(const struct kta_ed25519_verifier *v, const uint8_t pub[static 32],
			 const uint8_t *msg, size_t len, const uint8_t sig[static 64])
{
	OSSL_PARAM p[2];
	void *key, *ctx = NULL;
	int r = -1;

	/* The import EVP_PKEY_new_raw_public_key does (EVP_PKEY_fromdata):
	 * the public key only, as an octet string. */
	p[0] =
	    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)pub, 32);
	p[1] = OSSL_PARAM_construct_end();
	if ((key = v->knew(v->provctx)) == NULL)
		return -1;
	if (v->kimport(key, EVP_PKEY_PUBLIC_KEY, p) != 1) {
		r = -2;
		goto out;
	}
	/* A fresh context per signature: each is used once, as documented. */
	if ((ctx = v->snew(v->provctx, NULL)) == NULL || v->sinit(ctx, NULL, key, NULL) != 1)
		goto out;
	r = v->sverify(ctx, sig, 64, msg, len) == 1 ? 1 : 0;
out:
	if (ctx != NULL)
		v->sfree(ctx);
	v->kfree(key);
	return r;
}

/* Sets up the direct path, or leaves v->km NULL (the EVP path). */
static void direct_setup(struct kta_ed25519_verifier *v)
{
	const OSSL_PROVIDER *prov;
	uint8_t bad[64];

	/* The key management EVP_PKEY_new_raw_public_key would fetch; EVP
	 * then takes the signature from the same provider. */
	if ((v->km = EVP_KEYMGMT_fetch(NULL, "ED25519", NULL)) == NULL ||
	    (prov = EVP_KEYMGMT_get0_provider(v->km)) == NULL ||
	    !find_impl(v, prov, OSSL_OP_KEYMGMT) || !find_impl(v, prov, OSSL_OP_SIGNATURE))
		goto fail;
	v->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
	if (v->knew == NULL || v->kimport == NULL || v->kfree == NULL || v->snew == NULL ||
	    v->sinit == NULL || v->sverify == NULL || v->sfree == NULL)
		goto fail;
	/* A provider that answers otherwise than RFC 8032 is not used. */
	memcpy(bad, kat_sig, 64);
	bad[0] ^= 1;
	if (direct_verify(v, kat_pub, bad, 0, kat_sig) != 1 ||
	    direct_verify(v, kat_pub, bad, 0, bad) != 0)
		goto fail;
	return;
fail:
	EVP_KEYMGMT_free(v->km);
	memset(v, 0, sizeof(*v));
}

enum kta_status kta_ed25519_verifier_new(struct kta_ed25519_verifier **out, struct kta_error *err)
{
	struct kta_ed25519_verifier *v = calloc(1, sizeof(*v));

	*out = NULL;
	if (v == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "Ed25519 verifier: out of memory");
	/* A failed set-up must not leave errors on this thread's queue. */
	ERR_set_mark();
	direct_setup(v);
	ERR_pop_to_mark();
	*out = v;
	return KTA_OK;
}

int kta_ed25519_verifier_is_direct(const struct kta_ed25519_verifier *v)
{
	return v->km != NULL;
}

void kta_ed25519_verifier_free(struct kta_ed25519_verifier *v)
{
	if (v == NULL)
		return;
	EVP_KEYMGMT_free(v->km);
	free(v);
}

enum kta_status kta_ed25519_verifier_verify(struct kta_ed25519_verifier *v,
					    const uint8_t pub[static 32], const uint8_t *msg,
					    size_t len, const uint8_t sig[static 64])
{
	if (v->km == NULL)
		return kta_ed25519_verify(pub, msg, len, sig);
	switch (direct_verify(v, pub, msg, len, sig)) {
	case 1:
		return KTA_OK;
	case 0:
	case -2: /* as kta_ed25519_verify: a key OpenSSL refuses */
		return KTA_ERR_VERIFY;
	default:
		return KTA_ERR_INTERNAL;
	}
}

enum kta_status kta_ed25519_sign(const uint8_t seed[static 32], const uint8_t *msg, size_t len,
				 uint8_t sig[static 64], struct kta_error *err)
{
	enum kta_status r = KTA_ERR_INTERNAL;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = 64;

	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	if (pk == NULL || (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1 || siglen != 64) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "Ed25519 signing failed in OpenSSL");
		goto out;
	}
	r = KTA_OK;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

enum kta_status kta_ed25519_public(const uint8_t seed[static 32], uint8_t pub[static 32],
				   struct kta_error *err)
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t n = 32;
	enum kta_status r = KTA_OK;

	if (pk == NULL || EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 || n != 32)
		r = kta_error_set(err, KTA_ERR_INTERNAL,
				  "Ed25519 key derivation failed in OpenSSL");
	EVP_PKEY_free(pk);
	return r;
}

enum kta_status kta_ed25519_generate(uint8_t seed[static 32], uint8_t pub[static 32],
				     struct kta_error *err)
{
	if (RAND_priv_bytes(seed, 32) != 1)
		return kta_error_set(err, KTA_ERR_INTERNAL, "no randomness from OpenSSL");
	return kta_ed25519_public(seed, pub, err);
}
