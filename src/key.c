/*
 * Signed-note verifier and signing keys (see include/ktaudit/key.h).
 */
#include "ktaudit/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>

#include "ed25519.h"
#include "ktaudit/ct.h"
#include "ktaudit/encoding.h"

#define SKEY_PREFIX "PRIVATE+KEY+"
#define SKEY_PREFIX_LEN (sizeof(SKEY_PREFIX) - 1)
#define KEY_ID_HEX_LEN 8

/* Decodes one UTF-8 sequence at s[*i] (already known valid) and advances *i. */
static uint32_t utf8_next(const uint8_t *s, size_t len, size_t *i)
{
	uint8_t c = s[*i];
	uint32_t cp;
	size_t n, k;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xf0) {
		cp = c & 0x07u;
		n = 3;
	} else if (c >= 0xe0) {
		cp = c & 0x0fu;
		n = 2;
	} else {
		cp = c & 0x1fu;
		n = 1;
	}
	for (k = 1; k <= n && *i + k < len; k++)
		cp = (cp << 6) | (s[*i + k] & 0x3fu);
	*i += k;
	return cp;
}

/* Unicode White_Space (Go's unicode.IsSpace), which key names must not contain. */
static int is_unicode_space(uint32_t cp)
{
	switch (cp) {
	case 0x20:
	case 0x85:
	case 0xa0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202f:
	case 0x205f:
	case 0x3000:
		return 1;
	default:
		return cp >= 0x2000 && cp <= 0x200a;
	}
}

int kta_key_name_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	/* signed-note "Format": non-empty, no Unicode spaces, no '+'. */
	if (s == NULL || len == 0 || len > KTA_KEY_NAME_MAX || !kta_utf8_valid(s, len))
		return 0;
	while (i < len) {
		uint32_t cp = utf8_next(s, len, &i);

		if (cp < 0x20 || cp == '+' || is_unicode_space(cp))
			return 0;
	}
	return 1;
}

enum kta_status kta_key_id(const char *name, size_t name_len, enum kta_key_type type,
			   const uint8_t *key, size_t key_len, uint32_t *id, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_INTERNAL;
	EVP_MD_CTX *ctx = NULL;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint8_t pre[2];
	int ok;

	uint8_t log_id[32];
	unsigned int idlen = 0;

	if (type != KTA_KEY_ED25519 && type != KTA_KEY_ECDSA && type != KTA_KEY_COSIGNATURE_V1 &&
	    type != KTA_KEY_RFC6962)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "key ID: unsupported signature type 0x%02x", (unsigned)type);
	if (type == KTA_KEY_RFC6962) {
		/* static-ct-api "Checkpoints": the ID hashes the RFC 6962 LogID, SHA-256(SPKI). */
		if (EVP_Digest(key, key_len, log_id, &idlen, EVP_sha256(), NULL) != 1 ||
		    idlen != 32)
			return kta_error_set(err, KTA_ERR_INTERNAL, "key ID: SHA-256 failed");
		key = log_id;
		key_len = 32;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "key ID: out of memory");
		goto out;
	}
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	if (type == KTA_KEY_ECDSA) {
		/* signed-note "Signature types" 0x02: the hash of the SPKI only. */
		ok = ok && EVP_DigestUpdate(ctx, key, key_len) == 1;
	} else {
		/* key ID = SHA-256(key name || 0x0A || signature type || public key)[:4] */
		pre[0] = '\n';
		pre[1] = (uint8_t)type;
		ok = ok && EVP_DigestUpdate(ctx, name, name_len) == 1 &&
		     EVP_DigestUpdate(ctx, pre, 2) == 1 && EVP_DigestUpdate(ctx, key, key_len) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
	if (!ok) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "key ID: SHA-256 failed");
		goto out;
	}
	*id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	r = KTA_OK;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* Parses exactly 8 lowercase hex digits (the only spelling the formats use). */
static int parse_key_id_hex(const char *s, size_t len, uint32_t *id)
{
	uint32_t v = 0;
	size_t i;

	if (len != KEY_ID_HEX_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else
			return 0;
	}
	*id = v;
	return 1;
}

/*
 * Splits "name+hexid+base64" (s, len) into its three parts. The name is
 * everything before the first '+', the ID is the next field; the base64
 * (which may itself contain '+') is the rest. `what` names the string.
 */
static enum kta_status split_key(const char *s, size_t len, const char *what, size_t *name_len,
				 uint32_t *id, const char **b64, size_t *b64_len,
				 struct kta_error *err)
{
	const char *p1, *p2;
	char q[4 * 64 + 4];

	p1 = memchr(s, '+', len);
	if (p1 == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: missing '+' after the key name",
				     what);
	*name_len = (size_t)(p1 - s);
	if (!kta_key_name_valid((const uint8_t *)s, *name_len))
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: invalid key name \"%s\"", what,
				     kta_quote((const uint8_t *)s, *name_len, 64, q));
	p1++;
	p2 = memchr(p1, '+', len - (size_t)(p1 - s));
	if (p2 == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: missing '+' after the key ID",
				     what);
	if (!parse_key_id_hex(p1, (size_t)(p2 - p1), id))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "%s: key ID \"%s\" is not 8 lowercase hex digits", what,
				     kta_quote((const uint8_t *)p1, (size_t)(p2 - p1), 16, q));
	p2++;
	*b64 = p2;
	*b64_len = len - (size_t)(p2 - s);
	return KTA_OK;
}

/* Checks that (der, len) is a canonical SPKI of an ECDSA key on P-256, P-384 or P-521. */
static enum kta_status check_ecdsa_spki(const uint8_t *der, size_t len, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	const unsigned char *p = der;
	EVP_PKEY *pkey = NULL;
	unsigned char *re = NULL;
	char group[64];
	size_t glen = 0;
	int relen;

	pkey = d2i_PUBKEY(NULL, &p, (long)len);
	if (pkey == NULL || p != der + len) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "vkey: ECDSA key is not a valid SPKI");
		goto out;
	}
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &glen) != 1) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "vkey: type 0x02 key is not an EC key");
		goto out;
	}
	/* signed-note 0x02: the curve MUST be NIST P-256, P-384 or P-521. */
	if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0 &&
	    strcmp(group, "secp521r1") != 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "vkey: unsupported ECDSA curve %s",
				  group);
		goto out;
	}
	/* One spelling only: the DER must re-encode to itself (the key ID hashes it). */
	relen = i2d_PUBKEY(pkey, &re);
	if (relen < 0 || (size_t)relen != len || memcmp(re, der, len) != 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "vkey: ECDSA SPKI is not canonical DER");
		goto out;
	}
	r = KTA_OK;
out:
	if (r != KTA_OK)
		ERR_clear_error();
	OPENSSL_free(re);
	EVP_PKEY_free(pkey);
	return r;
}

static const char *type_name(unsigned t)
{
	switch (t) {
	case 0x03:
		return " (reserved)";
	case 0x05:
		return " (RFC 6962 tree head signature)";
	case 0x06:
		return " (ML-DSA-44 cosignature)";
	default:
		return "";
	}
}

/* Drops one trailing "\n" (keys read from files). */
static size_t trim_newline(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n')
		return len - 1;
	return len;
}

static char *dup_name(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

enum kta_status kta_vkey_parse(const char *s, size_t len, struct kta_vkey **out,
			       struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	struct kta_vkey *k = NULL;
	uint8_t *raw = NULL;
	const char *b64;
	size_t name_len, b64_len, raw_len = 0, key_len;
	uint32_t id, want;
	unsigned type;

	*out = NULL;
	if (s == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "vkey: no key given");
	if (len > KTA_KEY_STRING_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "vkey: longer than %d bytes",
				     KTA_KEY_STRING_MAX);
	len = trim_newline(s, len);
	r = split_key(s, len, "vkey", &name_len, &id, &b64, &b64_len, err);
	if (r != KTA_OK)
		goto out;
	if ((raw = malloc(b64_len / 4 * 3 + 1)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "vkey: out of memory");
		goto out;
	}
	if (kta_b64_decode(b64, b64_len, raw, b64_len / 4 * 3 + 1, &raw_len) != KTA_OK ||
	    raw_len < 2) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "vkey: key material is not canonical base64 of type || key");
		goto out;
	}
	type = raw[0];
	key_len = raw_len - 1;
	switch (type) {
	case KTA_KEY_ED25519:
	case KTA_KEY_COSIGNATURE_V1:
		if (key_len != KTA_ED25519_PUB_LEN) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "vkey: type 0x%02x key is %zu bytes, want 32", type,
					  key_len);
			goto out;
		}
		break;
	case KTA_KEY_ECDSA:
		if (key_len > KTA_KEY_MATERIAL_MAX) {
			r = kta_error_set(err, KTA_ERR_LIMIT,
					  "vkey: ECDSA key longer than %d bytes",
					  KTA_KEY_MATERIAL_MAX);
			goto out;
		}
		if ((r = check_ecdsa_spki(raw + 1, key_len, err)) != KTA_OK)
			goto out;
		break;
	case KTA_KEY_RFC6962: {
		struct kta_ct_key *ck = NULL;

		if (key_len > KTA_KEY_MATERIAL_MAX) {
			r = kta_error_set(err, KTA_ERR_LIMIT,
					  "vkey: RFC 6962 key longer than %d bytes",
					  KTA_KEY_MATERIAL_MAX);
			goto out;
		}
		/* An ECDSA P-256 or RSA SPKI in canonical DER (RFC 6962 2.1.4). */
		r = kta_ct_key_parse(raw + 1, key_len, 1, &ck, err);
		kta_ct_key_free(ck);
		if (r != KTA_OK) {
			if (r != KTA_ERR_NOMEM)
				r = KTA_ERR_MALFORMED;
			kta_error_prefix(err, "vkey");
			goto out;
		}
		break;
	}
	default:
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "vkey: unsupported signature type 0x%02x%s", type,
				  type_name(type));
		goto out;
	}
	r = kta_key_id(s, name_len, (enum kta_key_type)type, raw + 1, key_len, &want, err);
	if (r != KTA_OK)
		goto out;
	if (want != id) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "vkey: key ID %08x does not match the key (computed %08x)",
				  (unsigned)id, (unsigned)want);
		goto out;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL || (k->name = dup_name(s, name_len)) == NULL ||
	    (k->key = malloc(key_len)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "vkey: out of memory");
		goto out;
	}
	memcpy(k->key, raw + 1, key_len);
	k->key_len = key_len;
	k->key_id = id;
	k->type = (enum kta_key_type)type;
	*out = k;
	k = NULL;
	r = KTA_OK;
out:
	free(raw);
	kta_vkey_free(k);
	return r;
}

void kta_vkey_free(struct kta_vkey *k)
{
	if (k == NULL)
		return;
	free(k->name);
	free(k->key);
	free(k);
}

int kta_vkey_equal(const struct kta_vkey *a, const struct kta_vkey *b)
{
	return a->key_id == b->key_id && a->type == b->type && a->key_len == b->key_len &&
	       strcmp(a->name, b->name) == 0 && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Formats "prefix name+hexid+base64(type || material)"; malloc'd. */
static char *format_key(const char *prefix, const char *name, uint32_t id, unsigned type,
			const uint8_t *material, size_t material_len)
{
	uint8_t *raw = NULL;
	char *b64 = NULL, *s = NULL;
	size_t n;

	if (material_len > KTA_KEY_STRING_MAX)
		return NULL;
	if ((raw = malloc(material_len + 1)) == NULL ||
	    (b64 = malloc(KTA_B64_ENCODED_LEN(material_len + 1) + 1)) == NULL)
		goto out;
	raw[0] = (uint8_t)type;
	memcpy(raw + 1, material, material_len);
	kta_b64_encode(raw, material_len + 1, b64);
	n = strlen(prefix) + strlen(name) + 1 + KEY_ID_HEX_LEN + 1 + strlen(b64) + 1;
	if ((s = malloc(n)) == NULL)
		goto out;
	snprintf(s, n, "%s%s+%08x+%s", prefix, name, (unsigned)id, b64);
out:
	if (raw != NULL)
		OPENSSL_cleanse(raw, material_len + 1);
	if (b64 != NULL)
		OPENSSL_cleanse(b64, KTA_B64_ENCODED_LEN(material_len + 1) + 1);
	free(raw);
	free(b64);
	return s;
}

char *kta_vkey_format(const struct kta_vkey *k)
{
	if (k == NULL || k->name == NULL)
		return NULL;
	return format_key("", k->name, k->key_id, (unsigned)k->type, k->key, k->key_len);
}

/* Builds an skey from name and seed: derives the public key and the key ID. */
static enum kta_status skey_build(const char *name, size_t name_len, enum kta_key_type type,
				  const uint8_t seed[static 32], struct kta_skey **out,
				  struct kta_error *err)
{
	enum kta_status r = KTA_ERR_NOMEM;
	struct kta_skey *k = NULL;

	if ((k = calloc(1, sizeof(*k))) == NULL || (k->name = dup_name(name, name_len)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "skey: out of memory");
		goto out;
	}
	memcpy(k->seed, seed, KTA_ED25519_SEED_LEN);
	k->type = type;
	if ((r = kta_ed25519_public(k->seed, k->pub, err)) != KTA_OK)
		goto out;
	if ((r = kta_key_id(name, name_len, type, k->pub, sizeof(k->pub), &k->key_id, err)) !=
	    KTA_OK)
		goto out;
	*out = k;
	k = NULL;
	r = KTA_OK;
out:
	kta_skey_free(k);
	return r;
}

enum kta_status kta_skey_from_seed(const char *name, enum kta_key_type type,
				   const uint8_t seed[static 32], struct kta_skey **out,
				   struct kta_error *err)
{
	size_t name_len;

	*out = NULL;
	if (name == NULL || !kta_key_name_valid((const uint8_t *)name, name_len = strlen(name)))
		return kta_error_set(err, KTA_ERR_USAGE, "skey: invalid key name");
	if (type != KTA_KEY_ED25519 && type != KTA_KEY_COSIGNATURE_V1)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "skey: signing keys must be type 0x01 or 0x04, not 0x%02x",
				     (unsigned)type);
	return skey_build(name, name_len, type, seed, out, err);
}

enum kta_status kta_skey_generate(const char *name, enum kta_key_type type, struct kta_skey **out,
				  struct kta_error *err)
{
	enum kta_status r;
	uint8_t seed[KTA_ED25519_SEED_LEN], pub[KTA_ED25519_PUB_LEN];

	*out = NULL;
	r = kta_ed25519_generate(seed, pub, err);
	if (r == KTA_OK)
		r = kta_skey_from_seed(name, type, seed, out, err);
	OPENSSL_cleanse(seed, sizeof(seed));
	return r;
}

enum kta_status kta_skey_parse(const char *s, size_t len, struct kta_skey **out,
			       struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	uint8_t raw[1 + KTA_ED25519_SEED_LEN + 3];
	struct kta_skey *k = NULL;
	const char *b64;
	size_t name_len, b64_len, raw_len = 0;
	uint32_t id;

	*out = NULL;
	if (s == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "skey: no key given");
	if (len > KTA_KEY_STRING_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "skey: longer than %d bytes",
				     KTA_KEY_STRING_MAX);
	len = trim_newline(s, len);
	if (len < SKEY_PREFIX_LEN || memcmp(s, SKEY_PREFIX, SKEY_PREFIX_LEN) != 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "skey: does not start with \"" SKEY_PREFIX "\"");
	s += SKEY_PREFIX_LEN;
	len -= SKEY_PREFIX_LEN;
	r = split_key(s, len, "skey", &name_len, &id, &b64, &b64_len, err);
	if (r != KTA_OK)
		goto out;
	/* Never quote the secret part in messages. */
	if (kta_b64_decode(b64, b64_len, raw, sizeof(raw), &raw_len) != KTA_OK ||
	    raw_len != 1 + KTA_ED25519_SEED_LEN) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "skey: key material is not base64 of type || 32-byte seed");
		goto out;
	}
	if (raw[0] != KTA_KEY_ED25519 && raw[0] != KTA_KEY_COSIGNATURE_V1) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "skey: unsupported signature type 0x%02x",
				  (unsigned)raw[0]);
		goto out;
	}
	r = skey_build(s, name_len, (enum kta_key_type)raw[0], raw + 1, &k, err);
	if (r != KTA_OK)
		goto out;
	if (k->key_id != id) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "skey: key ID %08x does not match the key (computed %08x)",
				  (unsigned)id, (unsigned)k->key_id);
		goto out;
	}
	*out = k;
	k = NULL;
	r = KTA_OK;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	kta_skey_free(k);
	return r;
}

char *kta_skey_format(const struct kta_skey *k)
{
	if (k == NULL || k->name == NULL)
		return NULL;
	return format_key(SKEY_PREFIX, k->name, k->key_id, (unsigned)k->type, k->seed,
			  sizeof(k->seed));
}

enum kta_status kta_skey_vkey(const struct kta_skey *k, struct kta_vkey **out,
			      struct kta_error *err)
{
	enum kta_status r = KTA_ERR_NOMEM;
	struct kta_vkey *v = NULL;

	*out = NULL;
	if (k == NULL || k->name == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "skey: no key given");
	if ((v = calloc(1, sizeof(*v))) == NULL ||
	    (v->name = dup_name(k->name, strlen(k->name))) == NULL ||
	    (v->key = malloc(sizeof(k->pub))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "skey: out of memory");
		goto out;
	}
	memcpy(v->key, k->pub, sizeof(k->pub));
	v->key_len = sizeof(k->pub);
	v->key_id = k->key_id;
	v->type = k->type;
	*out = v;
	v = NULL;
	r = KTA_OK;
out:
	kta_vkey_free(v);
	return r;
}

void kta_skey_free(struct kta_skey *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k->seed, sizeof(k->seed));
	free(k->name);
	free(k);
}
